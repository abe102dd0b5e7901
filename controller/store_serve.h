/*
 * herd serve's state in the results store (schema 4): each schedule's last
 * handled and next slot, so a restarted daemon carries on where it stopped;
 * every scheduled run's outcome (started, skipped, missed, aborted,
 * finished) with its reason and run id; every webhook delivery attempt.
 * Slots are seconds since the epoch (as common/cron.h), `at` times ms.
 * Errors as store.h: HERD_ESTORE with store_errmsg.
 */
#ifndef HERD_CONTROLLER_STORE_SERVE_H
#define HERD_CONTROLLER_STORE_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "controller/store.h"

/*
 * Records a schedule as serve.yaml defines it now (cron, zone, plan) with
 * its next slot. A schedule already stored keeps its last handled slot, so
 * the daemon knows which slots it missed while down. Returns HERD_OK,
 * HERD_EINVAL (NULL name) or HERD_ESTORE.
 */
int store_schedule_put(store *st, const char *name, const char *cron, const char *tz,
                       const char *plan_file, int64_t next_slot, int64_t now_ms);

/* Marks slots up to last_slot as handled and next_slot (0: none) as the
 * next. Returns HERD_OK, HERD_ENOTFOUND for an unknown schedule, HERD_ESTORE. */
int store_schedule_handled(store *st, const char *name, int64_t last_slot, int64_t next_slot,
                           int64_t now_ms);

/* A stored schedule; strings valid during the callback only. last_slot is
 * -1 when no slot was handled yet, next_slot 0 when none is known. */
typedef struct store_schedule {
	const char *name, *cron, *tz, *plan_file;
	int64_t last_slot, next_slot, updated_at;
} store_schedule;

/* Reads one schedule's slots: HERD_OK, HERD_ENOTFOUND or HERD_ESTORE. */
int store_schedule_get(store *st, const char *name, int64_t *last_slot, int64_t *next_slot);

/* Calls fn for each stored schedule by name; a non-zero return stops and is
 * returned. HERD_OK or HERD_ESTORE. */
typedef int (*store_schedule_fn)(void *arg, const store_schedule *s);
int store_each_schedule(store *st, store_schedule_fn fn, void *arg);

typedef enum store_sched_outcome {
	STORE_SCHED_STARTED = 0,
	STORE_SCHED_SKIPPED,
	STORE_SCHED_MISSED,
	STORE_SCHED_ABORTED,
	STORE_SCHED_FINISHED,
} store_sched_outcome;

/* "started", "skipped", "missed", "aborted", "finished". */
const char *store_sched_outcome_name(store_sched_outcome o);

/*
 * Records what happened to the slots from slot to slot_last (equal but for a
 * missed range) of schedule. run_id, verdict and reason may be NULL.
 * Returns HERD_OK and the row's id in *id (may be NULL) for later updates,
 * HERD_EINVAL or HERD_ESTORE (also for a run_id the store does not hold).
 */
int store_sched_run_add(store *st, const char *schedule, int64_t slot, int64_t slot_last,
                        store_sched_outcome outcome, const char *run_id, const char *verdict,
                        const char *reason, int64_t at_ms, int64_t *id);

/* Updates row id (a started run that finished or was aborted); NULL strings
 * keep the stored values. HERD_OK, HERD_ENOTFOUND or HERD_ESTORE. */
int store_sched_run_update(store *st, int64_t id, store_sched_outcome outcome, const char *run_id,
                           const char *verdict, const char *reason, int64_t at_ms);

/* A scheduled run's row; strings valid during the callback only (NULL when
 * not stored). */
typedef struct store_sched_run {
	int64_t id;
	const char *schedule, *outcome, *run_id, *verdict, *reason;
	int64_t slot, slot_last, at;
} store_sched_run;

/* Calls fn for the rows of schedule (NULL: all), newest slot first, at most
 * limit of them (0: all). As store_each_schedule. */
typedef int (*store_sched_run_fn)(void *arg, const store_sched_run *r);
int store_each_sched_run(store *st, const char *schedule, int64_t limit, store_sched_run_fn fn,
                         void *arg);

/* One webhook delivery attempt (attempt 1 is the first). status is the HTTP
 * status, 0 when no answer came (then error says why). */
typedef struct store_delivery {
	const char *notification, *event, *schedule, *run_id;
	int attempt, status;
	const char *error;
	int64_t at;
} store_delivery;

/* Records one attempt. schedule, run_id and error may be NULL. HERD_OK,
 * HERD_EINVAL or HERD_ESTORE. */
int store_delivery_add(store *st, const store_delivery *d);

/* Calls fn for each recorded attempt in the order they were made. As
 * store_each_schedule. */
typedef int (*store_delivery_fn)(void *arg, const store_delivery *d);
int store_each_delivery(store *st, store_delivery_fn fn, void *arg);

#endif
