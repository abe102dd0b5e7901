/*
 * One run as an object the caller steps: it waits for idle agents of an
 * already-open cluster, assigns each its share with one start instant,
 * merges their batches into the results, the store and the live window,
 * watches the agents, stops them, judges thresholds and records the run.
 * It prints nothing, installs no signal handler and never exits: it reports
 * through hooks carrying data, and `herd run` (controller/run.c), a daemon
 * or a search are its callers. The cluster and the store outlive the run.
 *
 * States, in order (any of them may go straight to ENG_DONE on a failure
 * or eng_cancel):
 *   ENG_NEW       made: the run is recorded in the store as running
 *   ENG_JOINING   eng_start: the health guard checked once (unhealthy: done,
 *                 110), then waiting for idle agents and for their clocks
 *   ENG_ASSIGNED  each agent was sent its ASSIGN; the start instant is ahead
 *                 or an agent has not accepted yet
 *   ENG_RUNNING   the load is under way (a graceful stop included); a tick
 *                 per interval; abort rules and the health guard are judged
 *   ENG_DRAINING  the load is over or stopped: the agents' DONE and last
 *                 batches are awaited a short while (5 s; 1 s after
 *                 eng_stop at once)
 *   ENG_DONE      judged and recorded; the agents are idle in the cluster
 *                 again, ready for the next run
 *
 * Threads: hooks are called only from the thread that calls eng_start,
 * eng_step, eng_stop or eng_cancel, never from the cluster's handler
 * threads (their cluster events are queued and delivered at the next
 * step). on_tick runs with the run's lock held: it may read the window and
 * results it is given, and must call no eng_* function. on_event and
 * on_done run without it. eng_view may be called from any thread.
 *
 * Ownership: the plan, its text, the store and the cluster are the
 * caller's and must outlive the engine; the engine owns its results and
 * window. Only one engine at a time may run on a cluster (it sets the
 * cluster's hooks from eng_start to its end). While it runs, the store is
 * written from the cluster's handler threads under the run's lock: the
 * caller leaves it alone until ENG_DONE (or gives the engine a connection
 * of its own).
 */
#ifndef HERD_CONTROLLER_ENGINE_H
#define HERD_CONTROLLER_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "common/plan.h"
#include "controller/cluster.h"
#include "controller/outcome.h"
#include "controller/results.h"
#include "controller/search.h"
#include "controller/store.h"
#include "controller/verdict.h"
#include "controller/window.h"

typedef struct eng eng;

typedef enum eng_state {
	ENG_NEW = 0,
	ENG_JOINING,
	ENG_ASSIGNED,
	ENG_RUNNING,
	ENG_DRAINING,
	ENG_DONE,
} eng_state;

/* "new", "joining", "assigned", "running", "draining", "done". */
const char *eng_state_name(eng_state s);

typedef enum eng_event_type {
	ENG_EV_STATE = 0,     /* the run entered state */
	ENG_EV_CLUSTER,       /* from the cluster: kind ("agent_joined", "agent_refused",
	                       * "agent_rejoined", "agent_lost"), agent_id, text */
	ENG_EV_JOIN_TIMEOUT,  /* count agents were idle of wanted within ms: the run ends (103) */
	ENG_EV_FEEDER_SHORT,  /* feeder text has count rows for wanted agents (split per agent) */
	ENG_EV_ASSIGNED,      /* the run's agents[0..n) were assigned with weights[0..n) */
	ENG_EV_SEND_FAILED,   /* agent's ASSIGN could not be queued (rv why): the run ends (103) */
	ENG_EV_AGENT_FAILED,  /* agent sent ERROR (agent->error): the load is stopped (103) */
	ENG_EV_NOT_READY,     /* agent did not accept its assignment in time (103) */
	ENG_EV_AGENT_LOST,    /* agent went silent for ms; aborting: the run is aborted (108) */
	ENG_EV_AGENT_STOPPED, /* agent stops on its own (a signal; text: its words, printable):
	                       * its last batches follow; aborting: the run is aborted (108) */
	ENG_EV_AGENT_BUSY,    /* agent runs at value % CPU (once per agent) */
	ENG_EV_START_SKEW,    /* text: how far apart the agents started (once, when all have) */
	ENG_EV_STORE_FAILED,  /* a batch could not be stored (text: why): the load is stopped (103) */
	ENG_EV_OVERTIME,      /* agents still running 30 s after the plan's end: stopped */
	ENG_EV_AGENT_DROPPED, /* agent dropped agent->dropped batches (its queue was full) */
	ENG_EV_JUDGE_FAILED,  /* thresholds could not be evaluated */
	ENG_EV_NO_MEMORY,     /* text: what could not be made (the summary) */
	ENG_EV_STORE_ERROR,   /* text: a store failure while recording the run's end (its
	                       * capacity, or its status: then it stays "running" there);
	                       * either makes the run exit 103 */
	ENG_EV_GUARD_REFUSED, /* text: the health guard is unhealthy before the start: the run
	                       * is refused (110), nothing was sent */
	ENG_EV_GUARD_FAILED,  /* the health guard could not be started: the run goes on unguarded */
	ENG_EV_RULES_FAILED,  /* the abort rules could not be made (rv): the run ends (103) */
	ENG_EV_ABORTED,       /* text: an abortOnFail threshold (99) or the health guard (111)
	                       * failed: every agent is stopped at once */
} eng_event_type;

typedef struct eng_event {
	eng_event_type type;
	eng_state state;          /* ENG_EV_STATE */
	const agent_info *agent;  /* the agent concerned, or NULL */
	const agent_info *agents; /* ENG_EV_ASSIGNED */
	const double *weights;
	size_t n;
	const char *kind;         /* ENG_EV_CLUSTER */
	const char *agent_id;     /* ENG_EV_CLUSTER ("" when none) */
	const char *text;         /* "" when none */
	int64_t count, wanted, ms;
	/* ENG_EV_AGENT_LOST, ENG_EV_AGENT_STOPPED: when the agent was last heard,
	 * in ms since the load's start instant (eng_elapsed_ms). */
	int64_t since_ms;
	double value;
	int aborting;
	int rv;                   /* a herd_err, where a type says so */
} eng_event;

/* One interval merged (on_tick): valid during the call only. */
typedef struct eng_tick {
	int64_t elapsed_ms;  /* since the load's start instant */
	int64_t total_ms;    /* the end of the plan's last scenario (gracefulStop is slack) */
	int64_t interval_ms; /* the interval reported: the last complete one, -1 before any */
	const win *w;        /* the live window */
	const results *res;  /* everything merged so far */
	int agents_up;       /* agents neither lost nor failed */
	int agents;          /* agents in the run */
	const char *stage;   /* "stopping", a ramping stage's name, "running" or "ending" */
	int stopping;        /* eng_stop was called */
} eng_tick;

/* The run's end (on_done): valid during the call only. */
typedef struct eng_done {
	const char *run_id;
	int code;            /* exit code (outcome.h) */
	const char *reason;  /* why, for a code other than a pass or failed thresholds; "" else */
	int degraded, interrupted;
	int judged;          /* 1: the load ran and was judged: the fields below are set */
	const verdict_set *verdicts;
	const char *text, *json; /* the summary (NULL when it could not be made) */
	const results *res;
	const agent_info *agents;
	size_t nagents;
} eng_done;

typedef struct eng_hooks {
	void (*on_tick)(void *arg, const eng_tick *t);   /* may be NULL */
	void (*on_event)(void *arg, const eng_event *e); /* may be NULL */
	/* Returns the exit code to record (d->code unless the caller's own part
	 * failed, e.g. an export). May be NULL. */
	int (*on_done)(void *arg, const eng_done *d);
	void *arg;
} eng_hooks;

typedef struct eng_cfg {
	const plan *plan;
	const char *plan_path;    /* as given: sent to agents for their messages */
	const char *plan_text;    /* the plan's YAML as read */
	store *st;
	int agents;               /* agents wanted (0: the plan's agents.min, else 1) */
	int64_t agents_wait_ms;   /* how long to wait for them (0: the plan's agents.wait, else 60 s) */
	int64_t start_delay_ms;   /* from the assignment to the start instant (0: 500 ms) */
	int64_t loss_ms;          /* agent declared lost after this silence (0: 3 s) */
	int on_loss_abort;        /* 1: abort the run when an agent is lost */
	const char *agent_weights; /* "NAME=W,...": weights by agent name; others: their workers */
	const char *const *labels; /* KEY=VALUE, stored with the run */
	size_t nlabels;
	size_t window;            /* intervals the live window keeps (0: 60) */
	const char *http_driver;  /* for the summary: the agents' --http-driver ("auto", ...); NULL: not said */
	/* A breaking-point search the caller drives (controller/search.h): its
	 * levels and result go into the summary and the store when the run is
	 * judged. Borrowed; NULL: none. */
	const search *search;
	/* Caps over the plan's own maxRate and maxVUs (herd serve's schedule):
	 * the run is held to the lower of each, enforced by the agents as the
	 * plan's own (sent in the ASSIGN). The caller checked the plan's peak
	 * against them. 0: the plan's only. */
	int64_t max_rate, max_vus;
	eng_hooks hooks;
} eng_cfg;

/*
 * Loads and checks a plan (cli: command-line overrides, may be NULL) and
 * reads its text, for eng_cfg; a plan whose assignment (text, files,
 * environment values) would not fit one wire message, or whose peak is
 * above its maxRate or maxVUs, is refused. On error returns HERD_EINVAL (or another
 * herd_err) with the whole message in err: file:line:column for a plan or
 * threshold error. On success *p (plan_free) and *text (free) are the
 * caller's.
 */
int eng_plan_load(const char *path, const plan_cli *cli, plan **p, char **text, char *err, size_t errlen);

/* The weight agent name gets from spec ("a1=2,a2=0.5"), or dflt when not
 * named there. Returns -1 when spec is malformed. */
double eng_agent_weight(const char *spec, const char *name, double dflt);

/*
 * Makes a run of cfg->plan and records it in the store as running (with
 * its labels). On error returns a herd_err with a message in err (nothing
 * is recorded then). *out is freed with eng_free.
 */
int eng_new(const eng_cfg *cfg, eng **out, char *err, size_t errlen);
/* Ends the run if it is not done (as eng_cancel with 103) and frees it. */
void eng_free(eng *e);

const char *eng_run_id(const eng *e);
eng_state eng_get_state(const eng *e);
/* After ENG_DONE: the exit code recorded, and whether the run's end (with
 * its summary, or at least its status) could be written to the store. A
 * run whose end or capacity could not be stored exits 103 (a store
 * failure outranks every other code); the capacity's failure is known
 * before on_done (its code and reason say it), the end's only after it. */
int eng_code(const eng *e);
int eng_stored(const eng *e);

/* Starts waiting for agents on cl (open, with no other run on it), after
 * the plan's health guard, when it has one, answered healthy (this check
 * blocks up to its timeout; unhealthy, the run is done with 110). Returns
 * HERD_OK, or HERD_EINVAL when the run is not new. */
int eng_start(eng *e, cluster *cl);

/*
 * Does what is due at now (CLOCK_MONOTONIC ns): never blocks beyond the
 * hooks and the store. Returns the state after the step; *wait_ms (may be
 * NULL) says how long the caller may sleep before the next step.
 */
eng_state eng_step(eng *e, int64_t now, int64_t *wait_ms);

/* Milliseconds since the load's start instant at now (negative before it);
 * -1 before the assignment. */
int64_t eng_elapsed_ms(const eng *e, int64_t now);

/* Sets scenario's cluster-wide load (a rate per timeUnit, or VUs) from now
 * on, split over the run's agents by their weights (cluster_set_load).
 * Returns a herd_err; HERD_EINVAL outside ENG_ASSIGNED and ENG_RUNNING. */
int eng_set_load(eng *e, const char *scenario, wire_load_kind kind, double total);

/* Ends the load before the plan's end because the caller is done with it
 * (a breaking-point search that found its answer): the agents stop
 * gracefully, as at a planned end, and the run is judged as usual (not
 * interrupted). Outside ENG_ASSIGNED and ENG_RUNNING it does nothing. */
void eng_end_load(eng *e);

/* Stops the load: gracefully (STOP "interrupt": iterations finish within
 * gracefulStop; the run is interrupted, 105) or at once (STOP "abort").
 * Before the assignment it changes nothing. */
void eng_stop(eng *e, int at_once);

/* Ends a run that has not finished with code (103 setup, 105 interrupted)
 * without judging it: stored as an error (interrupted for 105), on_done called
 * with judged 0, agents let go. Nothing when it is done already. */
void eng_cancel(eng *e, int code);

/* Steps e until it is done, sleeping between steps; returns eng_code. */
int eng_run(eng *e);

/* What eng_view shows; valid during the call. */
typedef struct eng_snapshot {
	const char *run_id;
	const plan *plan;
	eng_state state;
	const results *res;
	const win *w;
} eng_snapshot;
/* Calls fn with the run's lock held (from any thread; not from a hook) and
 * returns what fn returns. */
int eng_view(eng *e, int (*fn)(void *arg, const eng_snapshot *s), void *arg);

#endif
