/*
 * What `herd serve` does about a schedule's slots, as a pure function of the
 * schedule, the time now, the plan's length and the last slot it handled:
 * wait for the next slot, run a due slot (with its hard stop at the window's
 * end), skip one that would not fit in its window, or record the slots that
 * passed while the daemon was down (never run late). No clock, no I/O: the
 * daemon loop supplies `now` and records the outcome.
 *
 * Instants are seconds since the epoch (as common/cron.h); lengths are ms.
 * Time zones and DST are cron.c's: a slot in a spring-forward gap runs at
 * the gap's end, a repeated hour's slot at its first occurrence; a window's
 * end is the first occurrence of its wall time at or after the slot, so on
 * the spring-forward day a 02:30-04:00 window is one hour long (03:00 CEST
 * to 04:00 CEST) and on the fall-back day an hour longer.
 */
#ifndef HERD_CONTROLLER_SLOT_H
#define HERD_CONTROLLER_SLOT_H

#include <stddef.h>
#include <stdint.h>

#include "controller/serve_cfg.h"

/* A slot this late (s) still starts; later, it is recorded as missed. */
#define SLOT_LATE_S 60
/* At most this many missed slots are counted in one decision. */
#define SLOT_MISSED_MAX 10000

typedef enum slot_action {
	SLOT_WAIT = 0, /* nothing due: sleep until d.slot */
	SLOT_RUN,      /* start the plan now; stop it hard at d.stop_at (0: no window) */
	SLOT_SKIP,     /* d.slot is due but may not run: d.reason says why */
	SLOT_MISSED,   /* d.nmissed slots from d.slot to d.last passed while the daemon was down */
} slot_action;

typedef struct slot_decision {
	slot_action action;
	int64_t slot;    /* the slot decided about (WAIT: the next one) */
	int64_t last;    /* MISSED: the latest missed slot; else = slot */
	size_t nmissed;  /* MISSED: how many */
	int64_t stop_at; /* RUN/SKIP: the window's end, the hard stop (0: no window) */
	int64_t next;    /* the slot after this decision's (for the store), 0 when none */
	char reason[200];
} slot_decision;

/*
 * Decides about schedule s at `now`, for a plan that takes run_ms (its
 * duration plus gracefulStop: plan_total_ms) after the last slot handled
 * (last_slot; < 0 when none yet, then only slots from now - SLOT_LATE_S on
 * count). A due slot (slot <= now) at most SLOT_LATE_S late runs when the
 * plan fits before the window's end counted from now, and, with a window
 * start, when the slot lies inside the window; otherwise it is skipped with
 * the reason ("would not fit: needs 25m, the window ends in 10m"). The
 * caller records the decision, sets last_slot to d.last and asks again.
 * Returns HERD_OK, or HERD_EINVAL when the zone is unknown or the cron
 * expression has no slot in five years (d.reason says so).
 */
int slot_decide(const serve_schedule *s, int64_t now, int64_t run_ms, int64_t last_slot,
                slot_decision *d);

/* The window's end for a slot at `slot` (s), into *end; 0 without a window.
 * Returns HERD_OK or HERD_EINVAL for a bad zone. */
int slot_window_end(const serve_schedule *s, int64_t slot, int64_t *end);

/* Writes a length in ms as "25m", "1h30m", "45s", "1h0m5s". */
void slot_fmt_len(int64_t ms, char *buf, size_t len);

/* The name of an action: "wait", "run", "skip", "missed". */
const char *slot_action_name(slot_action a);

#endif
