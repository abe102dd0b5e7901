/*
 * A run's outcome: the exit code, the status the summary shows and the
 * status the store records, decided in one place from what happened (a
 * store that could not be written, an abort, an interrupt, nothing
 * measured, failed thresholds, a degraded run). A gate reads only the exit
 * code, so a run whose load was not (fully) applied or not measured must
 * never end with 0; the precedence below is documented in the README's
 * exit code table.
 */
#ifndef HERD_CONTROLLER_OUTCOME_H
#define HERD_CONTROLLER_OUTCOME_H

#include "common/plan.h"
#include "controller/results.h"
#include "controller/store.h"
#include "controller/verdict.h"

/* Exit codes, as k6 where k6 has one. */
#define EXIT_OK 0
#define EXIT_THRESHOLDS 99
#define EXIT_SETUP 103       /* agents or store could not be set up, or the store failed */
#define EXIT_INVALID 104     /* invalid plan or flags */
#define EXIT_INTERRUPTED 105 /* stopped by Ctrl-C or a signal */
#define EXIT_NO_LOAD 107     /* nothing was measured: no request, session or iteration */
#define EXIT_ABORTED 108     /* aborted: an agent was lost under --on-agent-loss abort */
#define EXIT_DEGRADED 109    /* an agent was lost or batches are missing: part of the load
                              * was not applied or not measured */
#define EXIT_GUARD_REFUSED 110 /* the health guard failed before the start: nothing was sent */
#define EXIT_GUARD_ABORTED 111 /* the health guard failed during the run: the load was stopped */
#define EXIT_LOWER_BOUND 112   /* a breaking-point search found no failing load: what it reports
                                * is a lower bound (generator-limited, or max or a cap reached) */

/* What happened in a run, as the controller saw it at its end. */
typedef struct outcome_in {
	int setup_failed;      /* an agent failed, did not accept, or the store failed */
	int aborted;           /* --on-agent-loss abort stopped it */
	int guard_aborted;     /* the health guard stopped it (controller/guard.h) */
	int rule_aborted;      /* an abortOnFail threshold stopped it (controller/abort.h) */
	int interrupted;       /* Ctrl-C or a signal */
	int nothing_measured;  /* see outcome_nothing_measured */
	int thresholds_failed; /* a threshold (or its evaluation) failed */
	int degraded;          /* an agent lost, or batches missing */
} outcome_in;

/*
 * The exit code for in, the first that applies of: 103 (setup or store
 * failure), 111 (the health guard aborted it), 99 (an abortOnFail
 * threshold aborted it, as k6), 108 (aborted), 105 (interrupted), 107 (nothing measured: the
 * thresholds would judge nothing), 99 (thresholds failed: a verdict on the
 * service, which a partial load does not make less true), 109 (degraded),
 * else 0.
 */
int outcome_code(const outcome_in *in);

/* The summary's status word for an exit code: "passed", "failed",
 * "degraded", "no load", "interrupted", "aborted" or "error". */
const char *outcome_status(int code);

/* The store's status for an exit code: passed (0), failed (99 and 109; the
 * run's degraded flag tells them apart), interrupted (105), aborted (108,
 * 111), error (103, 107, 110 and anything else). A run an abortOnFail
 * threshold stopped exits 99 and is stored aborted: see outcome_store_status_of. */
store_status outcome_store_status(int code);

/* The store's status for what happened: as outcome_store_status, but
 * aborted for a run an abort rule stopped. */
store_status outcome_store_status_of(const outcome_in *in, int code);

/*
 * Adds the thresholds herd applies without being asked: for a plan with
 * WebSocket steps and no threshold of its own on ws_session_failed,
 * "ws_session_failed: rate < 1", so a run whose every session failed is
 * not a silent pass (its expression reads "rate < 1 (default)"). Returns
 * HERD_OK or HERD_ENOMEM.
 */
int outcome_default_thresholds(const plan *p, const results *r, verdict_set *vs);

/*
 * Sets *none to 1 when r holds no HTTP request, no WebSocket session and no
 * iteration at all (gauges such as vus do not count), else 0. Returns
 * HERD_OK or HERD_ENOMEM.
 */
int outcome_nothing_measured(const results *r, int *none);

#endif
