/*
 * The daemon loop of `herd serve` (docs/serve.md): one store, one agent
 * listener and the HTTP API opened once; each schedule's slots decided by
 * slot.c, run one at a time through the run engine (engine.h) on the same
 * cluster, stopped at the window's end, recorded (store_serve.h), judged,
 * compared with the schedule's last passed run, reported (report.c) and
 * announced by webhook (notify.c, from a thread of its own).
 *
 * Threads: the loop (the caller's thread) steps the engine and owns the
 * main store connection; the API's providers (NNG's threads) read a store
 * connection of their own and the live run through serve_daemon's lock;
 * the webhook thread has a third connection.
 */
#ifndef HERD_CONTROLLER_SERVE_DAEMON_H
#define HERD_CONTROLLER_SERVE_DAEMON_H

#include <pthread.h>
#include <stdint.h>

#include "common/auth.h"
#include "common/plan.h"
#include "common/sbuf.h"
#include "controller/api.h"
#include "controller/cluster.h"
#include "controller/engine.h"
#include "controller/serve_cfg.h"
#include "controller/store.h"

/* The test hook moving the schedule clock (never the engine's): see
 * docs/serve.md. */
#define SERVE_CLOCK_OFFSET_ENV "HERD_TEST_CLOCK_OFFSET_MS"

/* A schedule as the daemon follows it. */
typedef struct serve_sched {
	const serve_schedule *s;
	int64_t run_ms;    /* the plan's length as last loaded (-1: it did not load) */
	int64_t last_slot; /* the last slot handled, -1: none */
	int64_t next_slot; /* 0: none known */
	int manual;        /* a run was asked for now (POST /schedules/NAME/run) */
} serve_sched;

/* The webhook queue (serve_outbox.c). */
typedef struct serve_outbox serve_outbox;

typedef struct serve_daemon {
	const serve_cfg *cfg;
	store *st;      /* the loop's and the engine's */
	store *st_api;  /* the API's, under api_mu */
	pthread_mutex_t api_mu;
	cluster *cl;
	api *api;
	serve_outbox *ob;
	auth_token agent_token, api_token;
	int has_agent_token;
	auth_token *secrets; /* per notification, in cfg's order */
	serve_sched *sched;  /* per schedule, in cfg's order */
	int64_t clock_offset_ms;
	char report_dir[4096];

	/* Under mu: the live run and what the API asked of the loop. */
	pthread_mutex_t mu;
	eng *e;              /* the live run, NULL between runs */
	char run_id[64];
	const char *run_sched; /* its schedule's name */
	/* POST /runs/ID/abort: the API thread asks (abort_req, abort_seq) and
	 * waits on abort_cv for the loop, which alone steps the engine, to
	 * decide from the run's state and answer (abort_answered, abort_status:
	 * 202 stopped, 409 already ending). */
	int abort_req;
	char abort_reason[300];
	uint64_t abort_seq, abort_answered;
	int abort_status;
	pthread_cond_t abort_cv;
} serve_daemon;

/* Runs the daemon for cfg (loaded and checked) until SIGTERM or SIGINT.
 * Returns the exit code: 0 after a clean stop, 103 when it could not start. */
int serve_daemon_run(const serve_cfg *cfg);

/* The schedule clock: seconds / ms since the epoch, with the test offset. */
int64_t serve_now_ms(const serve_daemon *d);

/* The API's providers over d (serve_api.c). */
api_providers serve_api_providers(serve_daemon *d);

/* The webhook queue: one thread delivering events in order with a store
 * connection of its own (db). serve_outbox_stop waits up to wait_ms for
 * the queue to empty, or until hurry(arg) (may be NULL) says to stop at
 * once, then gives up what is left: said on stderr and recorded in rec (the
 * caller's connection, not in use by another thread; NULL: not recorded)
 * as an attempt with no status and the reason. */
int serve_outbox_start(const char *db, serve_outbox **out, char *err, size_t errlen);
void serve_outbox_stop(serve_outbox *ob, int64_t wait_ms, int (*hurry)(void *arg), void *arg, store *rec);

/* Queues event (copied: every string, the target and its secret: a
 * delivery still retrying at the stop outlives the daemon's secrets). */
struct notify_event;
struct notify_target;
void serve_outbox_post(serve_outbox *ob, const struct notify_target *t, const struct notify_event *e);

#endif
