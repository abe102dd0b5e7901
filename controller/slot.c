/* Slot decisions of herd serve; see slot.h. */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "controller/slot.h"

const char *slot_action_name(slot_action a)
{
	switch (a) {
	case SLOT_WAIT: return "wait";
	case SLOT_RUN: return "run";
	case SLOT_SKIP: return "skip";
	case SLOT_MISSED: return "missed";
	}
	return "?";
}

void slot_fmt_len(int64_t ms, char *buf, size_t len)
{
	/* A part of a second still needs that second. */
	int64_t s = ms > 0 ? (ms + 999) / 1000 : 0;
	int64_t h = s / 3600, m = s / 60 % 60, sec = s % 60;
	if (h > 0 && sec > 0)
		snprintf(buf, len, "%lldh%lldm%llds", (long long)h, (long long)m, (long long)sec);
	else if (h > 0)
		snprintf(buf, len, "%lldh%lldm", (long long)h, (long long)m);
	else if (m > 0 && sec > 0)
		snprintf(buf, len, "%lldm%llds", (long long)m, (long long)sec);
	else if (m > 0)
		snprintf(buf, len, "%lldm", (long long)m);
	else
		snprintf(buf, len, "%llds", (long long)sec);
}

int slot_window_end(const serve_schedule *s, int64_t slot, int64_t *end)
{
	*end = 0;
	if (!s->has_window)
		return HERD_OK;
	return cron_next_wall(s->tz, s->end.hh, s->end.mm, slot, end) == 0 ? HERD_OK : HERD_EINVAL;
}

static int next_after(const serve_schedule *s, int64_t after, int64_t *next, slot_decision *d)
{
	if (cron_next(&s->cron, s->tz, after, next) != 0) {
		snprintf(d->reason, sizeof(d->reason),
		         cron_tz_valid(s->tz) ? "cron '%s' has no slot in the next five years"
		                              : "unknown time zone (cron '%s')",
		         s->cron_expr != NULL ? s->cron_expr : "");
		return HERD_EINVAL;
	}
	return HERD_OK;
}

/* Whether the slot lies inside [start, end) of its day's window: the next
 * end comes no later than the next start. */
static int in_window(const serve_schedule *s, int64_t slot, int64_t end)
{
	int64_t start;
	if (!s->has_start)
		return 1;
	if (cron_next_wall(s->tz, s->start.hh, s->start.mm, slot + 1, &start) != 0)
		return 0;
	return end <= start;
}

int slot_decide(const serve_schedule *s, int64_t now, int64_t run_ms, int64_t last_slot,
                slot_decision *d)
{
	int64_t slot, t;
	int rv;

	memset(d, 0, sizeof(*d));
	if (last_slot < 0 || last_slot < now - SLOT_LATE_S - 1) {
		/* Slots after last_slot that are now too late were missed. */
		int64_t from = last_slot < 0 ? now - SLOT_LATE_S - 1 : last_slot;
		if ((rv = next_after(s, from, &slot, d)) != 0)
			return rv;
		if (last_slot >= 0 && slot < now - SLOT_LATE_S) {
			d->action = SLOT_MISSED;
			d->slot = d->last = slot;
			d->nmissed = 1;
			while (d->nmissed < SLOT_MISSED_MAX && next_after(s, d->last, &t, d) == 0 &&
			       t < now - SLOT_LATE_S) {
				d->last = t;
				d->nmissed++;
			}
			d->reason[0] = '\0';
			snprintf(d->reason, sizeof(d->reason), "%zu slot%s passed while herd serve was not "
			         "running (never run late)", d->nmissed, d->nmissed == 1 ? "" : "s");
			if (next_after(s, d->last, &d->next, d) != 0)
				d->next = 0;
			return HERD_OK;
		}
	} else if ((rv = next_after(s, last_slot, &slot, d)) != 0) {
		return rv;
	}
	d->slot = d->last = slot;
	if (next_after(s, slot, &d->next, d) != 0)
		d->next = 0;
	d->reason[0] = '\0';
	if (slot > now) {
		d->action = SLOT_WAIT;
		d->next = slot;
		return HERD_OK;
	}
	if ((rv = slot_window_end(s, slot, &d->stop_at)) != 0) {
		snprintf(d->reason, sizeof(d->reason), "unknown time zone '%s'", s->tz);
		return rv;
	}
	if (s->has_window && !in_window(s, slot, d->stop_at)) {
		d->action = SLOT_SKIP;
		snprintf(d->reason, sizeof(d->reason),
		         "outside its window: the slot is not between %02d:%02d and %02d:%02d",
		         s->start.hh, s->start.mm, s->end.hh, s->end.mm);
		return HERD_OK;
	}
	if (s->has_window && now * 1000 + run_ms > d->stop_at * 1000) {
		char need[32], left[32];
		slot_fmt_len(run_ms, need, sizeof(need));
		slot_fmt_len((d->stop_at - now) * 1000, left, sizeof(left));
		d->action = SLOT_SKIP;
		snprintf(d->reason, sizeof(d->reason), "would not fit: needs %s, the window ends in %s",
		         need, left);
		return HERD_OK;
	}
	d->action = SLOT_RUN;
	return HERD_OK;
}
