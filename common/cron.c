/* Cron schedules and time zone arithmetic; see cron.h. Written here: no
 * Debian package offers a C cron parser with time zones. */
#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cron.h"

static const char *const field_names[5] = { "minute", "hour", "day of month", "month",
	                                    "day of week" };
static const int lo_of[5] = { 0, 0, 1, 1, 0 }, hi_of[5] = { 59, 23, 31, 12, 7 };
static const char *const months[12] = { "jan", "feb", "mar", "apr", "may", "jun",
	                                "jul", "aug", "sep", "oct", "nov", "dec" };
static const char *const days[7] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

/* A number or (months, days) a three-letter name. */
static int atom(const char **p, int field, int *v)
{
	const char *s = *p;
	if (isdigit((unsigned char)*s)) {
		long n = 0;
		while (isdigit((unsigned char)*s) && n < 1000)
			n = n * 10 + (*s++ - '0');
		*v = (int)n;
		*p = s;
		return 0;
	}
	const char *const *names = field == 3 ? months : field == 4 ? days : NULL;
	int n = field == 3 ? 12 : 7;
	for (int i = 0; names != NULL && i < n; i++)
		if (strncasecmp(s, names[i], 3) == 0 && !isalpha((unsigned char)s[3])) {
			*v = i + (field == 3);
			*p = s + 3;
			return 0;
		}
	return -1;
}

static int parse_field(const char *s, const char *end, int f, uint64_t *bits, int *star,
                       const char *expr, char *err, size_t errlen)
{
	const char *p = s;
	*bits = 0;
	*star = end - s == 1 && *s == '*';
	while (p < end) {
		int a = lo_of[f], b = hi_of[f], step = 1;
		const char *at = p;
		if (*p == '*') {
			p++;
		} else {
			if (atom(&p, f, &a) != 0)
				goto bad;
			b = a;
			if (*p == '-') {
				p++;
				if (atom(&p, f, &b) != 0)
					goto bad;
			}
		}
		if (*p == '/') {
			p++;
			if (!isdigit((unsigned char)*p) || atom(&p, 0, &step) != 0 || step < 1)
				goto bad;
			if (at[0] != '*' && b == a)
				b = hi_of[f]; /* "5/15": from 5 to the end, as Vixie cron */
		}
		if (a < lo_of[f] || b > hi_of[f] || a > b) {
			snprintf(err, errlen, "column %d: %s %d-%d is outside %d-%d", (int)(at - expr) + 1,
			         field_names[f], a, b, lo_of[f], hi_of[f]);
			return -1;
		}
		for (int v = a; v <= b; v += step)
			*bits |= UINT64_C(1) << (f == 4 && v == 7 ? 0 : v);
		if (p < end && *p != ',')
			goto bad;
		if (p < end)
			p++;
		continue;
	bad:
		snprintf(err, errlen, "column %d: cannot read the %s field at '%.*s' (numbers, names, "
		                      "'*', ranges a-b, steps /n, lists a,b)",
		         (int)(at - expr) + 1, field_names[f], (int)(end - at), at);
		return -1;
	}
	if (*bits == 0) {
		snprintf(err, errlen, "column %d: the %s field is empty", (int)(s - expr) + 1,
		         field_names[f]);
		return -1;
	}
	return 0;
}

int cron_parse(const char *expr, cron *out, char *err, size_t errlen)
{
	const char *p = expr;
	uint64_t bits[5];
	int star[5];
	memset(out, 0, sizeof(*out));
	for (int f = 0; f < 5; f++) {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *s = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (p == s) {
			snprintf(err, errlen, "expected 5 fields (minute hour day-of-month month "
			                      "day-of-week), found %d",
			         f);
			return -1;
		}
		if (parse_field(s, p, f, &bits[f], &star[f], expr, err, errlen) != 0)
			return -1;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p) {
		snprintf(err, errlen, "column %d: more than 5 fields ('%s')", (int)(p - expr) + 1, p);
		return -1;
	}
	out->minute = bits[0];
	out->hour = (uint32_t)bits[1];
	out->dom = (uint32_t)bits[2];
	out->month = (uint16_t)bits[3];
	out->dow = (uint8_t)bits[4];
	out->dom_star = star[2];
	out->dow_star = star[4];
	return 0;
}

int cron_tz_valid(const char *tz)
{
	char path[512], magic[4];
	struct stat sb;
	int fd, ok;
	if (tz == NULL || *tz == '\0' || *tz == '/' || strstr(tz, "..") != NULL || strlen(tz) > 200)
		return 0;
	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
	/* A zone is a TZif file: a folder ("Europe") or the database's tables
	 * ("zone.tab") would make glibc fall back to UTC without a word. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	ok = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && read(fd, magic, 4) == 4 &&
	     memcmp(magic, "TZif", 4) == 0;
	close(fd);
	return ok;
}

/* TZ is process-wide: every conversion in another zone holds this lock. */
static pthread_mutex_t tz_mu = PTHREAD_MUTEX_INITIALIZER;

typedef struct tz_saved {
	char *old;
} tz_saved;

static int tz_enter(const char *tz, tz_saved *sv)
{
	if (tz != NULL && *tz && !cron_tz_valid(tz))
		return -1;
	pthread_mutex_lock(&tz_mu);
	const char *old = getenv("TZ");
	sv->old = old != NULL ? strdup(old) : NULL;
	setenv("TZ", tz != NULL && *tz ? tz : "UTC", 1);
	tzset();
	return 0;
}

static void tz_leave(tz_saved *sv)
{
	if (sv->old != NULL)
		setenv("TZ", sv->old, 1);
	else
		unsetenv("TZ");
	tzset();
	free(sv->old);
	pthread_mutex_unlock(&tz_mu);
}

/* Minutes since midnight of a broken-down local time, with the date, for
 * ordering wall times. */
static int64_t wall_key(const struct tm *t)
{
	return (((int64_t)(t->tm_year) * 13 + t->tm_mon) * 32 + t->tm_mday) * 1440 +
	       t->tm_hour * 60 + t->tm_min;
}

/*
 * The instant of local wall time y-m-d hh:mm (TZ already set): the first
 * occurrence when it occurs twice, the end of the gap when it does not
 * occur. Returns -1 on failure.
 */
static int64_t wall_instant(int y, int mon, int d, int hh, int mm)
{
	struct tm want = { .tm_year = y, .tm_mon = mon, .tm_mday = d, .tm_hour = hh, .tm_min = mm };
	int64_t key = wall_key(&want), best = -1;
	/* Both offsets: whichever round-trips is a real occurrence. */
	for (int dst = 0; dst <= 1; dst++) {
		struct tm t = want, back;
		t.tm_isdst = dst;
		time_t u = mktime(&t);
		if (u == (time_t)-1 || localtime_r(&u, &back) == NULL)
			continue;
		if (wall_key(&back) == key && (best < 0 || (int64_t)u < best))
			best = (int64_t)u;
	}
	if (best >= 0)
		return best;
	/* In a gap: the first instant whose wall time is past it. Gaps are at
	 * most a few hours; step back from an instant known to be after it. */
	struct tm t = want, back;
	t.tm_isdst = -1;
	time_t u = mktime(&t);
	if (u == (time_t)-1)
		return -1;
	for (int i = 0; i < 24 * 60; i++) {
		time_t prev = u - 60;
		if (localtime_r(&prev, &back) == NULL || wall_key(&back) < key)
			break;
		u = prev;
	}
	return (int64_t)(u - u % 60);
}

static int day_matches(const cron *c, const struct tm *t)
{
	if (!(c->month >> (t->tm_mon + 1) & 1))
		return 0;
	int dom = c->dom >> t->tm_mday & 1, dow = c->dow >> t->tm_wday & 1;
	if (c->dom_star || c->dow_star)
		return dom && dow;
	return dom || dow;
}

int cron_next(const cron *c, const char *tz, int64_t after, int64_t *next)
{
	tz_saved sv;
	if (tz_enter(tz, &sv) != 0)
		return -1;
	int rv = -1;
	time_t a = (time_t)after;
	struct tm day;
	localtime_r(&a, &day);
	/* Day by day from the local date of `after` (the day before too: a slot
	 * moved forward out of a gap may land after midnight... never earlier). */
	day.tm_hour = 12; /* noon never falls in a DST gap */
	day.tm_min = day.tm_sec = 0;
	day.tm_isdst = -1;
	day.tm_mday -= 1;
	for (int i = 0; i < 5 * 366 + 2 && rv != 0; i++) {
		struct tm d = day;
		d.tm_mday += i;
		d.tm_isdst = -1;
		if (mktime(&d) == (time_t)-1)
			break;
		if (!day_matches(c, &d))
			continue;
		for (int h = 0; h < 24 && rv != 0; h++) {
			if (!(c->hour >> h & 1))
				continue;
			for (int m = 0; m < 60; m++) {
				if (!(c->minute >> m & 1))
					continue;
				int64_t u = wall_instant(d.tm_year, d.tm_mon, d.tm_mday, h, m);
				if (u > after) {
					*next = u;
					rv = 0;
					break;
				}
			}
		}
	}
	tz_leave(&sv);
	return rv;
}

int cron_next_wall(const char *tz, int hh, int mm, int64_t from, int64_t *out)
{
	cron c = { .minute = UINT64_C(1) << mm, .hour = 1u << hh, .dom = 0xfffffffe,
		   .month = 0x1ffe, .dow = 0x7f, .dom_star = 1, .dow_star = 1 };
	if (hh < 0 || hh > 23 || mm < 0 || mm > 59)
		return -1;
	return cron_next(&c, tz, from - 1, out);
}

void cron_format(int64_t t, const char *tz, char *buf, size_t len)
{
	tz_saved sv;
	if (tz_enter(tz, &sv) != 0) {
		snprintf(buf, len, "?");
		return;
	}
	time_t u = (time_t)t;
	struct tm lt;
	localtime_r(&u, &lt);
	strftime(buf, len, "%Y-%m-%d %H:%M %Z", &lt);
	tz_leave(&sv);
}
