/* Cron parsing and next slots in two time zones across their 2026 DST
 * changes, against the system's tz database (Europe/Berlin: 29 March
 * 02:00 -> 03:00, 25 October 03:00 -> 02:00; America/New_York: 8 March
 * 02:00 -> 03:00, 1 November 02:00 -> 01:00). */
#include <string.h>
#include <time.h>

#include "common/cron.h"
#include "tests/unit/check.h"

static int64_t utc(int y, int mo, int d, int h, int mi)
{
	struct tm t = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi };
	return (int64_t)timegm(&t);
}

static int64_t next_of(const char *expr, const char *tz, int64_t after)
{
	cron c;
	char err[256];
	int64_t n = -1;
	if (cron_parse(expr, &c, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", expr, err);
		return -2;
	}
	if (cron_next(&c, tz, after, &n) != 0)
		return -1;
	return n;
}

static void parse_error(const char *expr, const char *words)
{
	cron c;
	char err[256] = "";
	CHECK(cron_parse(expr, &c, err, sizeof(err)) == -1);
	if (strstr(err, words) == NULL)
		fprintf(stderr, "cron_parse(%s): '%s' lacks '%s'\n", expr, err, words);
	CHECK(strstr(err, words) != NULL);
}

int main(void)
{
	const char *ber = "Europe/Berlin", *ny = "America/New_York";
	/* Spring forward in Berlin: 02:30 does not exist on 29 March; it runs
	 * at 03:00 CEST (01:00 UTC), once, then 02:30 CEST the next day. */
	int64_t t = next_of("30 2 * * *", ber, utc(2026, 3, 28, 12, 0));
	CHECK_EQ_INT(t, utc(2026, 3, 29, 1, 0));
	CHECK_EQ_INT(next_of("30 2 * * *", ber, t), utc(2026, 3, 30, 0, 30));
	/* Two slots in the gap (02:00 and 02:30) and one at 03:00 run once. */
	t = next_of("0,30 2,3 * * *", ber, utc(2026, 3, 28, 23, 0));
	CHECK_EQ_INT(t, utc(2026, 3, 29, 1, 0));
	CHECK_EQ_INT(next_of("0,30 2,3 * * *", ber, t), utc(2026, 3, 29, 1, 30)); /* 03:30 CEST */
	/* The day before the change: 02:30 CET is 01:30 UTC. */
	CHECK_EQ_INT(next_of("30 2 * * *", ber, utc(2026, 3, 27, 12, 0)), utc(2026, 3, 28, 1, 30));
	/* Fall back in Berlin: 02:30 occurs twice on 25 October; only the first
	 * (CEST, 00:30 UTC) runs; the next is 02:30 CET on the 26th. */
	t = next_of("30 2 * * *", ber, utc(2026, 10, 24, 12, 0));
	CHECK_EQ_INT(t, utc(2026, 10, 25, 0, 30));
	CHECK_EQ_INT(next_of("30 2 * * *", ber, t), utc(2026, 10, 26, 1, 30));
	/* New York: 01:30 occurs twice on 1 November (EDT 05:30 UTC, EST 06:30 UTC). */
	t = next_of("30 1 * * *", ny, utc(2026, 10, 31, 12, 0));
	CHECK_EQ_INT(t, utc(2026, 11, 1, 5, 30));
	CHECK_EQ_INT(next_of("30 1 * * *", ny, t), utc(2026, 11, 2, 6, 30));
	/* Weekdays at 02:00 in New York from Friday 6 March: Monday 9 March, EDT. */
	CHECK_EQ_INT(next_of("0 2 * * 1-5", ny, utc(2026, 3, 6, 12, 0)), utc(2026, 3, 9, 6, 0));
	CHECK_EQ_INT(next_of("0 2 * * mon-fri", ny, utc(2026, 3, 6, 12, 0)), utc(2026, 3, 9, 6, 0));
	/* The spring-forward Sunday in New York: 02:15 runs at 03:00 EDT (07:00 UTC). */
	CHECK_EQ_INT(next_of("15 2 * * sun", ny, utc(2026, 3, 7, 12, 0)), utc(2026, 3, 8, 7, 0));
	/* UTC by default; strictly after: a slot at `after` itself is not next. */
	CHECK_EQ_INT(next_of("0 2 * * *", NULL, utc(2026, 12, 3, 2, 0)), utc(2026, 12, 4, 2, 0));
	CHECK_EQ_INT(next_of("*/15 * * * *", "UTC", utc(2026, 12, 3, 9, 7)), utc(2026, 12, 3, 9, 15));
	CHECK_EQ_INT(next_of("5/20 * * * *", "UTC", utc(2026, 12, 3, 9, 30)), utc(2026, 12, 3, 9, 45));
	/* Day of month OR day of week when both are restricted: the 13th or a
	 * Friday; 2026-11-06 is a Friday, before the 13th. */
	CHECK_EQ_INT(next_of("0 12 13 * 5", "UTC", utc(2026, 11, 1, 0, 0)), utc(2026, 11, 6, 12, 0));
	CHECK_EQ_INT(next_of("0 12 13 * *", "UTC", utc(2026, 11, 1, 0, 0)), utc(2026, 11, 13, 12, 0));
	CHECK_EQ_INT(next_of("0 0 * * 7", "UTC", utc(2026, 12, 3, 0, 0)), utc(2026, 12, 6, 0, 0));
	CHECK_EQ_INT(next_of("0 0 29 feb *", "UTC", utc(2026, 3, 1, 0, 0)), utc(2028, 2, 29, 0, 0));
	/* No slot at all within five years. */
	CHECK_EQ_INT(next_of("0 0 30 2 *", "UTC", utc(2026, 1, 1, 0, 0)), -1);
	/* Zones. */
	CHECK(cron_tz_valid("Europe/Berlin"));
	CHECK(!cron_tz_valid("Mars/Olympus_Mons"));
	CHECK(!cron_tz_valid("../../etc/passwd"));
	CHECK(!cron_tz_valid("/etc/localtime"));
	/* A folder and a table of the database are no zones (glibc would
	 * silently use UTC for them). */
	CHECK(!cron_tz_valid("Europe"));
	CHECK(!cron_tz_valid("zone.tab"));
	CHECK(cron_tz_valid("UTC"));
	CHECK(cron_tz_valid("America/New_York"));
	CHECK_EQ_INT(next_of("0 2 * * *", "Mars/Olympus_Mons", 0), -1);
	/* Window ends: the next 04:00 in Berlin from 02:00 CET is 03:00 UTC. */
	int64_t w;
	CHECK(cron_next_wall(ber, 4, 0, utc(2026, 12, 3, 1, 0), &w) == 0);
	CHECK_EQ_INT(w, utc(2026, 12, 3, 3, 0));
	CHECK(cron_next_wall(ber, 4, 0, utc(2026, 12, 3, 3, 0), &w) == 0); /* at it: itself */
	CHECK_EQ_INT(w, utc(2026, 12, 3, 3, 0));
	char buf[64];
	cron_format(utc(2026, 3, 29, 1, 0), ber, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "2026-03-29 03:00 CEST");
	cron_format(utc(2026, 10, 26, 1, 30), ber, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "2026-10-26 02:30 CET");
	/* Errors name the field and the column. */
	parse_error("61 * * * *", "column 1: minute 61-61 is outside 0-59");
	parse_error("* 24 * * *", "column 3: hour");
	parse_error("* * *", "expected 5 fields");
	parse_error("* * * * * *", "more than 5 fields");
	parse_error("*/0 * * * *", "minute field");
	parse_error("0 2 * foo *", "column 7: cannot read the month field");
	parse_error("0 2 * * 1-8", "day of week 1-8 is outside 0-7");
	parse_error("5-1 * * * *", "minute 5-1");
	return check_done();
}
