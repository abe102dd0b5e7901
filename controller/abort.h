/*
 * Abort rules: the thresholds written `{ threshold: ..., abortOnFail: true }`
 * (k6's option, with delayAbortEval) and those with herd's `window: 30s`,
 * judged after every merged interval while the run goes on. The module keeps
 * each interval's merged batches until it is judged, and per rule a ring of
 * per-interval aggregates (histograms merged, never percentiles averaged),
 * so a window is the sum of its last N intervals. `herd run` calls it from
 * its watch loop; `herd serve` will do the same. Not thread-safe: one owner
 * at a time (the run's mutex).
 */
#ifndef HERD_CONTROLLER_ABORT_H
#define HERD_CONTROLLER_ABORT_H

#include <stddef.h>
#include <stdint.h>

#include "common/plan.h"
#include "controller/verdict.h"
#include "proto/wire.h"

typedef struct abort_rules abort_rules;

/* How long an interval may wait for a missing agent's batch before it is
 * judged without it. */
#define ABORT_GRACE_MS 1000

/* A rule that failed, as the run stores and prints it. */
typedef struct abort_breach {
	size_t threshold;   /* its index in the plan's thresholds */
	const char *metric; /* as written (owned by the plan) */
	const char *expr;
	int64_t window_ms; /* 0: judged on the whole run so far */
	double value;      /* the value that failed (verdict.observed units) */
	int64_t at_ms;     /* the end of the interval whose data failed it, from the load's start */
} abort_breach;

/*
 * Creates the rules of p (the plan must outlive them and its thresholds must
 * have passed verdict_check) for intervals of interval_ms, waiting for
 * nagents agents' batches before an interval is judged (ABORT_GRACE_MS
 * longer at most). Returns HERD_OK and *out (free with abort_free; also when
 * p has no rule: abort_count is then 0), HERD_EINVAL when a threshold does
 * not parse, or HERD_ENOMEM.
 */
int abort_new(const plan *p, uint32_t interval_ms, size_t nagents, abort_rules **out);
void abort_free(abort_rules *a);

/* The number of rules (thresholds with abortOnFail or a window). */
size_t abort_count(const abort_rules *a);

/* Takes one merged batch (the caller deduplicated it); entries stay the
 * caller's. A batch of an interval already judged is ignored (the run's
 * results still count it). Returns HERD_OK or HERD_ENOMEM. */
int abort_add_batch(abort_rules *a, const char *agent_id, int64_t interval_ms, const wire_entry *entries,
                    size_t n);

/*
 * Judges every interval that ended by now_ms (ms from the load's start) and
 * is complete (every agent's batch came, or ABORT_GRACE_MS passed). When an
 * abortOnFail rule fails (past its delayAbortEval; no data never fails) sets
 * *fired to 1 and *out to the first rule that failed, else *fired is 0.
 * Returns HERD_OK or HERD_ENOMEM.
 */
int abort_judge(abort_rules *a, int64_t now_ms, abort_breach *out, int *fired);

/* After the run (no batch will come): judges every interval not judged yet
 * that ended by end_ms, for abort_patch_verdicts; fires nothing. */
void abort_finish(abort_rules *a, int64_t end_ms);

/* "http_req_failed: rate < 0.05 failed over the last 30 s: 0.83 at 12 s"
 * into buf (len bytes, always terminated). */
void abort_describe(const abort_breach *b, char *buf, size_t len);

/*
 * Gives each windowed threshold its run's verdict in vs (as verdict_eval_plan
 * made it, in plan order): it failed when any window judged during the run
 * failed, and shows the worst window's value; its expression reads
 * "... (window 30s)". Returns HERD_OK or HERD_ENOMEM.
 */
int abort_patch_verdicts(const abort_rules *a, verdict_set *vs);

#endif
