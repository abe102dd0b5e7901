/*
 * Cron schedules in an IANA time zone: the five fields of crontab(5)
 * (minute hour day-of-month month day-of-week) with lists, ranges, steps and
 * names, and the next slot after an instant. The time zone arithmetic uses
 * the system's tz database through localtime_r/mktime with TZ switched under
 * a lock (glibc has no per-call time zone), so DST is the database's own.
 *
 * Daylight saving, as Vixie cron and systemd do it for fixed times:
 * - a slot whose wall time does not exist that day (02:30 on the spring-
 *   forward day in Europe/Berlin) runs at the first instant after the gap
 *   (03:00 local), once;
 * - a slot whose wall time occurs twice (02:30 on the fall-back day) runs at
 *   its first occurrence only.
 * Day-of-month and day-of-week: when both are restricted, a day matching
 * either is a match (crontab(5)); day-of-week 0 and 7 are Sunday.
 */
#ifndef HERD_COMMON_CRON_H
#define HERD_COMMON_CRON_H

#include <stddef.h>
#include <stdint.h>

typedef struct cron {
	uint64_t minute; /* bit m: minute m matches (0-59) */
	uint32_t hour;   /* bits 0-23 */
	uint32_t dom;    /* bits 1-31 */
	uint16_t month;  /* bits 1-12 */
	uint8_t dow;     /* bits 0-6, Sunday = 0 */
	int dom_star, dow_star; /* the field was "*" (unrestricted) */
} cron;

/* Parses "M H DOM MON DOW". Returns 0, or -1 with a message naming the field
 * (and the column within expr, 1-based) in err. */
int cron_parse(const char *expr, cron *out, char *err, size_t errlen);

/* Whether tz names a zone of the system's tz database ("Europe/Berlin",
 * "UTC"): a TZif file under /usr/share/zoneinfo, not a folder ("Europe") or
 * a table ("zone.tab"); no path tricks ("..", leading '/') are accepted. */
int cron_tz_valid(const char *tz);

/*
 * The first slot strictly after `after` (seconds since the epoch) in zone tz
 * (NULL or "": UTC), into *next (seconds since the epoch). Looks ahead at
 * most about five years. Returns 0, or -1 when tz is not valid or no slot
 * exists in that time (e.g. "0 0 30 2 *").
 */
int cron_next(const cron *c, const char *tz, int64_t after, int64_t *next);

/* Formats t as local time in tz: "2026-03-29 03:00 CEST". */
void cron_format(int64_t t, const char *tz, char *buf, size_t len);

/*
 * Wall-clock arithmetic in tz: the instant at which the local time of day
 * hh:mm next occurs at or after `from` (for a window's end: "04:00"); the
 * same DST rules as slots. Returns 0, or -1 for a bad tz.
 */
int cron_next_wall(const char *tz, int hh, int mm, int64_t from, int64_t *out);

#endif
