/* Slot decisions on the 2026 DST changes of Europe/Berlin (29 March
 * 02:00 -> 03:00, 25 October 03:00 -> 02:00) and America/New_York (8 March
 * 02:00 -> 03:00, 1 November 02:00 -> 01:00), against the system's tz
 * database: windows that shrink and grow, fit and skip, missed slots. */
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "controller/slot.h"
#include "tests/unit/check.h"

static int64_t utc(int y, int mo, int d, int h, int mi)
{
	struct tm t = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
	return (int64_t)timegm(&t);
}

static serve_schedule sched(const char *expr, const char *tz, int end_h, int end_m)
{
	serve_schedule s;
	char err[200];
	memset(&s, 0, sizeof(s));
	s.cron_expr = (char *)expr;
	s.tz = (char *)tz;
	CHECK(cron_parse(expr, &s.cron, err, sizeof(err)) == 0);
	if (end_h >= 0) {
		s.has_window = 1;
		s.end = (serve_hhmm){end_h, end_m};
	}
	return s;
}

#define MIN 60000LL

static void test_berlin_spring(void)
{
	/* 02:30 daily, window to 04:00: on 29 March the slot runs at 03:00 CEST
	 * (01:00 UTC) and the window ends at 04:00 CEST (02:00 UTC): one hour,
	 * not ninety minutes. */
	serve_schedule s = sched("30 2 * * *", "Europe/Berlin", 4, 0);
	slot_decision d;
	int64_t slot = utc(2026, 3, 29, 1, 0);
	CHECK_EQ_INT(slot_decide(&s, utc(2026, 3, 29, 0, 0), 70 * MIN, utc(2026, 3, 28, 1, 30), &d),
	             HERD_OK);
	CHECK_EQ_INT(d.action, SLOT_WAIT);
	CHECK_EQ_INT(d.slot, slot);
	/* Due at the slot: a 70-minute plan does not fit the shortened window. */
	CHECK_EQ_INT(slot_decide(&s, slot, 70 * MIN, utc(2026, 3, 28, 1, 30), &d), HERD_OK);
	CHECK_EQ_INT(d.action, SLOT_SKIP);
	CHECK_EQ_INT(d.stop_at, utc(2026, 3, 29, 2, 0));
	CHECK_EQ_STR(d.reason, "would not fit: needs 1h10m, the window ends in 1h0m");
	CHECK_EQ_INT(d.next, utc(2026, 3, 30, 0, 30));
	/* A 60-minute plan fits exactly; its hard stop is the window's end. */
	CHECK_EQ_INT(slot_decide(&s, slot, 60 * MIN, utc(2026, 3, 28, 1, 30), &d), HERD_OK);
	CHECK_EQ_INT(d.action, SLOT_RUN);
	CHECK_EQ_INT(d.stop_at, utc(2026, 3, 29, 2, 0));
	/* Ten seconds late, it no longer fits. */
	CHECK_EQ_INT(slot_decide(&s, slot + 10, 60 * MIN, utc(2026, 3, 28, 1, 30), &d), HERD_OK);
	CHECK_EQ_INT(d.action, SLOT_SKIP);
	CHECK_EQ_STR(d.reason, "would not fit: needs 1h0m, the window ends in 59m50s");
	/* The next day the window is 90 minutes again (CEST both ends). */
	CHECK_EQ_INT(slot_decide(&s, utc(2026, 3, 30, 0, 30), 70 * MIN, slot, &d), HERD_OK);
	CHECK_EQ_INT(d.action, SLOT_RUN);
	CHECK_EQ_INT(d.stop_at, utc(2026, 3, 30, 2, 0));
}

static void test_berlin_fall(void)
{
	/* 25 October: 02:30 runs once, at its first occurrence (CEST, 00:30
	 * UTC); 04:00 is CET (03:00 UTC): the window is 2h30m. */
	serve_schedule s = sched("30 2 * * *", "Europe/Berlin", 4, 0);
	slot_decision d;
	int64_t slot = utc(2026, 10, 25, 0, 30);
	CHECK_EQ_INT(slot_decide(&s, slot + 5, 150 * MIN - 5000, utc(2026, 10, 24, 0, 30), &d),
	             HERD_OK);
	CHECK_EQ_INT(d.action, SLOT_RUN);
	CHECK_EQ_INT(d.slot, slot);
	CHECK_EQ_INT(d.stop_at, utc(2026, 10, 25, 3, 0));
	/* The second 02:30 (CET, 01:30 UTC) is no slot: next is the 26th. */
	CHECK_EQ_INT(d.next, utc(2026, 10, 26, 1, 30));
	CHECK_EQ_INT(slot_decide(&s, utc(2026, 10, 25, 1, 30), MIN, slot, &d), HERD_OK);
	CHECK_EQ_INT(d.action, SLOT_WAIT);
	CHECK_EQ_INT(d.slot, utc(2026, 10, 26, 1, 30));
}

static void test_new_york(void)
{
	/* 1 November: 01:00 EDT (05:00 UTC) to 02:00 EST (07:00 UTC): two hours. */
	serve_schedule s = sched("0 1 * * *", "America/New_York", 2, 0);
	slot_decision d;
	CHECK_EQ_INT(slot_decide(&s, utc(2026, 11, 1, 5, 0), 120 * MIN, utc(2026, 10, 31, 5, 0), &d),
	             HERD_OK);
	CHECK_EQ_INT(d.action, SLOT_RUN);
	CHECK_EQ_INT(d.stop_at, utc(2026, 11, 1, 7, 0));
	/* 8 March: 01:30 EST (06:30 UTC) to 03:00 EDT (07:00 UTC): 30 minutes. */
	s = sched("30 1 * * *", "America/New_York", 3, 0);
	CHECK_EQ_INT(slot_decide(&s, utc(2026, 3, 8, 6, 30), 31 * MIN, utc(2026, 3, 7, 6, 30), &d),
	             HERD_OK);
	CHECK_EQ_INT(d.action, SLOT_SKIP);
	CHECK_EQ_INT(d.stop_at, utc(2026, 3, 8, 7, 0));
	CHECK_EQ_STR(d.reason, "would not fit: needs 31m, the window ends in 30m");
	/* A window start: 02:15 on the spring-forward day runs at 03:00 EDT,
	 * outside a 01:00-03:00 window's wall times... the window's end (03:00)
	 * is then the slot itself: nothing fits. */
	s = sched("15 2 * * *", "America/New_York", 3, 0);
	s.has_start = 1;
	s.start = (serve_hhmm){1, 0};
	CHECK_EQ_INT(slot_decide(&s, utc(2026, 3, 8, 7, 0), MIN, utc(2026, 3, 7, 7, 15), &d), HERD_OK);
	CHECK_EQ_INT(d.action, SLOT_SKIP);
	CHECK_EQ_INT(d.stop_at, utc(2026, 3, 8, 7, 0));
	CHECK_EQ_STR(d.reason, "would not fit: needs 1m, the window ends in 0s");
	/* The day after, 02:15 EDT is inside 01:00-03:00 and 45 minutes remain. */
	CHECK_EQ_INT(slot_decide(&s, utc(2026, 3, 9, 6, 15), 45 * MIN, utc(2026, 3, 8, 7, 0), &d),
	             HERD_OK);
	CHECK_EQ_INT(d.action, SLOT_RUN);
	CHECK_EQ_INT(d.stop_at, utc(2026, 3, 9, 7, 0));
}

static void test_window_start(void)
{
	/* 01:30 with a window 02:00-04:00: outside, skipped. 03:00 inside. */
	serve_schedule s = sched("30 1,3 * * *", "UTC", 4, 0);
	slot_decision d;
	s.has_start = 1;
	s.start = (serve_hhmm){2, 0};
	CHECK_EQ_INT(slot_decide(&s, utc(2026, 12, 3, 1, 30), MIN, utc(2026, 12, 2, 3, 30), &d),
	             HERD_OK);
	CHECK_EQ_INT(d.action, SLOT_SKIP);
	CHECK_EQ_STR(d.reason, "outside its window: the slot is not between 02:00 and 04:00");
	CHECK_EQ_INT(slot_decide(&s, utc(2026, 12, 3, 3, 30), MIN, utc(2026, 12, 3, 1, 30), &d),
	             HERD_OK);
	CHECK_EQ_INT(d.action, SLOT_RUN);
	/* A window across midnight: 23:00-01:00, slot 00:15. */
	s = sched("15 0 * * *", "UTC", 1, 0);
	s.has_start = 1;
	s.start = (serve_hhmm){23, 0};
	CHECK_EQ_INT(slot_decide(&s, utc(2026, 12, 3, 0, 15), 45 * MIN, utc(2026, 12, 2, 0, 15), &d),
	             HERD_OK);
	CHECK_EQ_INT(d.action, SLOT_RUN);
	CHECK_EQ_INT(d.stop_at, utc(2026, 12, 3, 1, 0));
}

static void test_missed(void)
{
	/* Weekdays at 02:00 Berlin; the daemon handled Monday 30 November and
	 * comes back on Thursday 3 December at 10:00 UTC: Tuesday, Wednesday
	 * and Thursday were missed (recorded, not run), Friday is next. */
	serve_schedule s = sched("0 2 * * 1-5", "Europe/Berlin", 4, 0);
	slot_decision d;
	CHECK_EQ_INT(slot_decide(&s, utc(2026, 12, 3, 10, 0), MIN, utc(2026, 11, 30, 1, 0), &d),
	             HERD_OK);
	CHECK_EQ_INT(d.action, SLOT_MISSED);
	CHECK_EQ_INT(d.slot, utc(2026, 12, 1, 1, 0));
	CHECK_EQ_INT(d.last, utc(2026, 12, 3, 1, 0));
	CHECK_EQ_INT(d.nmissed, 3);
	CHECK_EQ_INT(d.next, utc(2026, 12, 4, 1, 0));
	CHECK_EQ_STR(d.reason, "3 slots passed while herd serve was not running (never run late)");
	/* After recording, the next decision waits for Friday. */
	CHECK_EQ_INT(slot_decide(&s, utc(2026, 12, 3, 10, 0), MIN, d.last, &d), HERD_OK);
	CHECK_EQ_INT(d.action, SLOT_WAIT);
	CHECK_EQ_INT(d.slot, utc(2026, 12, 4, 1, 0));
	/* Up to SLOT_LATE_S late a slot still runs; one second more is missed. */
	CHECK_EQ_INT(slot_decide(&s, utc(2026, 12, 4, 1, 0) + SLOT_LATE_S, MIN,
	                         utc(2026, 12, 3, 1, 0), &d),
	             HERD_OK);
	CHECK_EQ_INT(d.action, SLOT_RUN);
	CHECK_EQ_INT(slot_decide(&s, utc(2026, 12, 4, 1, 0) + SLOT_LATE_S + 1, MIN,
	                         utc(2026, 12, 3, 1, 0), &d),
	             HERD_OK);
	CHECK_EQ_INT(d.action, SLOT_MISSED);
	CHECK_EQ_INT(d.nmissed, 1);
	/* A first start (no slot handled yet) misses nothing: it waits. */
	CHECK_EQ_INT(slot_decide(&s, utc(2026, 12, 3, 10, 0), MIN, -1, &d), HERD_OK);
	CHECK_EQ_INT(d.action, SLOT_WAIT);
	CHECK_EQ_INT(d.slot, utc(2026, 12, 4, 1, 0));
	/* Without a window nothing is skipped for its length. */
	s = sched("0 2 * * *", "UTC", -1, 0);
	CHECK_EQ_INT(slot_decide(&s, utc(2026, 12, 3, 2, 0), 1000 * MIN, utc(2026, 12, 2, 2, 0), &d),
	             HERD_OK);
	CHECK_EQ_INT(d.action, SLOT_RUN);
	CHECK_EQ_INT(d.stop_at, 0);
	/* A schedule with no slot at all, and an unknown zone. */
	s = sched("0 0 30 2 *", "UTC", -1, 0);
	CHECK_EQ_INT(slot_decide(&s, utc(2026, 12, 3, 2, 0), MIN, -1, &d), HERD_EINVAL);
	CHECK_EQ_STR(d.reason, "cron '0 0 30 2 *' has no slot in the next five years");
	s = sched("0 0 * * *", "Mars/Base", -1, 0);
	CHECK_EQ_INT(slot_decide(&s, utc(2026, 12, 3, 2, 0), MIN, -1, &d), HERD_EINVAL);
}

static void test_fmt(void)
{
	char b[32];
	slot_fmt_len(25 * MIN, b, sizeof(b));
	CHECK_EQ_STR(b, "25m");
	slot_fmt_len(90 * MIN + 5000, b, sizeof(b));
	CHECK_EQ_STR(b, "1h30m5s");
	slot_fmt_len(1500, b, sizeof(b));
	CHECK_EQ_STR(b, "2s");
	slot_fmt_len(-5, b, sizeof(b));
	CHECK_EQ_STR(b, "0s");
}

int main(void)
{
	test_berlin_spring();
	test_berlin_fall();
	test_new_york();
	test_window_start();
	test_missed();
	test_fmt();
	return check_done();
}
