/*
 * One agent worker: a thread with one epoll loop, its share of every
 * scenario's VUs, the traffic drivers' per-worker state, and the aggregate of
 * the current interval. VUs are small state machines, not threads. At each
 * interval boundary the worker hands its aggregate to the engine.
 */
#ifndef HERD_AGENT_WORKER_H
#define HERD_AGENT_WORKER_H

#include <stdatomic.h>
#include <stdint.h>

#include "agent/agg.h"
#include "agent/allow.h"
#include "agent/driver.h"
#include "agent/feeder.h"
#include "agent/sched.h"
#include "common/dheap.h"
#include "common/hdrv.h"
#include "common/plan.h"
#include "common/srcaddr.h"
#include "common/ratecap.h"
#include "common/tmpl.h"

typedef enum vu_state {
	VU_IDLE = 0, /* allocated, not running an iteration */
	VU_BUSY,     /* a request is in flight */
	VU_THINKING, /* waiting on its timer */
} vu_state;

struct vu {
	uint32_t id;          /* 1-based, unique within the agent (k6's __VU) */
	uint16_t scenario;
	uint16_t step;        /* current step index */
	uint16_t step_end;    /* the end of the current flow's steps */
	uint8_t flow;         /* the flow of the current iteration */
	uint8_t gdepth;       /* groups entered */
	int64_t gstart[8];    /* when each entered group started */
	char **vars;          /* captured values by plan->vars index; NULL until a capture */
	size_t *var_len;
	int64_t *rows;        /* the current row of each feeder; NULL without feeders */
	const void *tmpl_arg[2]; /* what worker_tmpl_env's column lookup needs */
	vu_state state;
	uint8_t active;       /* counted toward the executor's target */
	uint8_t stopping;     /* finish this iteration, then go idle */
	uint8_t setup_done;   /* the scenario's `setup:` steps succeeded once */
	uint8_t in_setup;     /* the current steps are the setup's */
	uint8_t setup_failed; /* a setup step failed: the iteration ends after it */
	uint8_t cap_slot;     /* the rate cap's slot for the current step was reserved (and waited for) */
	int64_t iters;        /* iterations completed */
	int64_t iter_start_ns;  /* start of the iteration (scheduled, for arrival-rate) */
	int64_t step_start_ns;  /* when the current step was due (coordinated omission) */
	int64_t sent_ns;        /* when the current request was handed to its driver */
	dheap_node timer;       /* think timer (the worker's heap) */
	dheap_node leave;       /* gracefulRampDown deadline while stopping */
	void *conn;           /* the HTTP driver's per-VU state */
	void *ws_conn;        /* the ws driver's per-VU state */
	const srcaddr *src;   /* every connection of the VU comes from here; NULL: the kernel's choice */
	uint64_t rng;
};

/*
 * A scenario's load set while it runs (wire LOAD), shared by the agent's
 * workers: the link thread writes value, then kind, then seq; each worker
 * reads seq on every pass of its loop and, when it changed, runs that load
 * from then on (its equal share of value) and says so in applied.
 */
typedef struct worker_load {
	_Atomic uint64_t seq;   /* 0: the plan's own load */
	_Atomic uint64_t value; /* the double's bits: this agent's rate per timeUnit, or its VUs */
	_Atomic int kind;       /* a wire_load_kind */
} worker_load;

/* Callback for a watched file descriptor; events are EPOLL* bits. */
typedef void (*worker_fd_cb)(void *arg, int fd, uint32_t events);

/* Called with each finished interval aggregate; takes ownership of a. */
typedef void (*worker_flush_cb)(void *arg, int worker, agg *a, int last);

typedef struct worker_cfg {
	const plan *plan;
	sched_place place;
	int64_t start_mono_ns;   /* run start in CLOCK_MONOTONIC */
	int64_t interval_ms;
	uint32_t vu_id_base;     /* VU ids of this worker start above this */
	worker_flush_cb flush;
	void *flush_arg;
	atomic_int *stop;        /* 1: no new iterations; 2: no new requests; 3: abandon all now */
	_Atomic int64_t *started_real_ns; /* set once, by the first worker to reach the start */
	hdrv_mode http_driver;   /* --http-driver: per scenario by hdrv_use_lean */
	feeder *feeders;         /* the agent's feeders, one per plan feeder, shared by its workers */
	int64_t agent_index;     /* {{ __AGENT }} */
	const srcaddr_pool *src; /* source addresses, NULL for none; must outlive the worker */
	const allow *allow;      /* --allow-target, NULL for any target; must outlive the worker */
	ratecap_bucket *cap;     /* maxRate: the agent's reservation clock for closed-model
	                          * requests, shared by its workers; NULL: no cap */
	worker_load *loads;      /* one per scenario, shared by the agent's workers; NULL: none */
} worker_cfg;

/* Creates a worker; returns a herd_err. The plan must outlive it. */
int worker_new(const worker_cfg *cfg, worker **out);
/* Runs the loop until every scenario is over; flushes the last interval. */
void worker_run(worker *w);
void worker_free(worker *w);

/* The seq of the load (worker_load) scenario s runs on this worker now;
 * 0 while it runs the plan's. Any thread may ask. */
uint64_t worker_load_applied(worker *w, size_t s);

/* Services for drivers. */
const plan *worker_plan(const worker *w);
/* The family of the source addresses (targets are reached over it only), or
 * AF_UNSPEC when the agent has none. */
int worker_src_family(const worker *w);
/* The agent's --allow-target list, NULL when it has none (any target). */
const allow *worker_allow(const worker *w);
int worker_watch(worker *w, int fd, uint32_t events, worker_fd_cb cb, void *arg);
int worker_unwatch(worker *w, int fd);
/* Reports that v's current step finished. Called by drivers only. */
void worker_step_done(worker *w, vu *v, const step_result *r);
/* Reports that v's current ws step (a session) finished: records ws_sessions
 * (errors by kind, handshake status class, bytes), ws_connecting and
 * ws_session_duration, and moves v on. Called by the ws driver only. */
void worker_ws_done(worker *w, vu *v, const ws_result *r);
/* Records the result of an expect of v's current ws step as its check number
 * check (plan_ws_op.check): passed (ok 1) or failed. Called by the ws driver. */
void worker_ws_check(worker *w, vu *v, uint8_t check, int ok);
/* What templates of v's current iteration render with. */
void worker_tmpl_env(worker *w, vu *v, tmpl_env *e);
/* The aggregate of the current interval, for metrics a driver records as
 * they happen (ws messages); NULL once the worker has stopped recording. */
agg *worker_agg(worker *w);

#endif
