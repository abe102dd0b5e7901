/*
 * The breaking-point search (executor breaking-point): a state machine fed
 * the live window (controller/window.h) at each tick, which says when to set
 * the scenario's load and when to end it. Levels come from plan_bp_levels;
 * each runs warmup (not judged) then hold, and is judged on the whole
 * intervals of its hold only: against the objectives (k6 threshold syntax),
 * and for the generator's health (an agent's CPU over 85% of its cores,
 * dropped iterations, achieved under 97% of offered). The climb ends after
 * failuresToStop failing levels in a row; then the search bisects between
 * the last passing and the first failing load down to `resolution`, then
 * ends. After a failing level the load is set to 0 until nothing is in
 * flight (a queue built up at the target must not spill into the next
 * level). Pure: no I/O, no clock, no printing; the caller applies the loads.
 */
#ifndef HERD_CONTROLLER_SEARCH_H
#define HERD_CONTROLLER_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "common/plan.h"
#include "common/usl.h"
#include "controller/window.h"

typedef struct search search;

/* An agent's CPU above this share of its cores makes a level generator-limited. */
#define SEARCH_CPU_LIMIT 85.0
/* Achieved under this share of offered makes a level generator-limited. */
#define SEARCH_ACHIEVED_MIN 0.97
/* The longest a cool-down after a failing level waits for the load in flight. */
#define SEARCH_COOL_MAX_MS 30000

typedef enum search_verdict {
	SEARCH_PASS = 0,
	SEARCH_FAIL,    /* an objective broke: why names it with its value */
	SEARCH_LIMITED, /* generator-limited: why says how */
	SEARCH_CUT,     /* interrupted: its hold ran after an agent was last heard, so
	                 * part of its load was never applied; not judged, why says why */
} search_verdict;

/* "pass", "fail", "generator-limited", "interrupted". */
const char *search_verdict_name(search_verdict v);

/* One level judged. */
typedef struct search_level {
	double load;            /* asked: iterations/s (arrival-rate) or VUs (vus) */
	int refine;             /* 1: a bisection level */
	int64_t from_ms, to_ms; /* the hold's intervals judged (starts, both included) */
	double offered, achieved; /* arrival-rate: iterations/s due and started; vus: VUs asked and running */
	double rps;             /* HTTP requests per second in the hold */
	double iter_rate;       /* iterations completed per second */
	double p50_ms, p95_ms, p99_ms, mean_ms; /* HTTP latency (WebSocket RTT when no HTTP) */
	double error_rate;      /* failed / requests (failed / sessions for WebSocket) */
	uint64_t dropped;
	double max_cpu;         /* the busiest agent's CPU, % of its cores */
	search_verdict verdict;
	char why[200];          /* fail: "http_req_failed: rate < 0.01 (0.2)"; limited: the reason */
} search_level;

typedef enum search_outcome {
	SEARCH_RUNNING = 0,
	SEARCH_FOUND,       /* a capacity: the highest passing load below a failing one */
	SEARCH_LOWER_BOUND, /* no failure seen: generator-limited, or max (or a cap) reached */
	SEARCH_START_FAILS, /* the first level already failed */
	SEARCH_INTERRUPTED, /* an agent was lost or stopped: no capacity is reported */
} search_outcome;

/* "running", "found", "lower bound", "start fails", "interrupted". */
const char *search_outcome_name(search_outcome o);

typedef struct search_result {
	search_outcome outcome;
	double sustainable;     /* the highest passing load (0: none) */
	double sustainable_rps; /* the requests/s measured at it */
	double first_fail;      /* the lowest failing load (0: none) */
	char broke[200];        /* the objective that broke there, with its value */
	char reason[400];       /* for a lower bound: why it is one; interrupted: which level, why */
} search_result;

/* The knee and the USL fit over the judged levels (search_fit). */
typedef struct search_fit {
	int has_knee;
	double knee_rps, knee_p95_ms; /* the knee of p95 against achieved throughput */
	int has_usl;
	usl_fit usl;
	size_t points;          /* levels fitted */
	int little;             /* 1: concurrency by Little's law (open model) */
	int has_holdout;
	size_t holdout_k;       /* the top levels left out */
	double holdout_err;     /* mean relative error predicting them */
	char note[200];         /* why a part is missing ("" when none) */
} search_fit;

typedef struct search_cfg {
	const plan_scenario *s; /* a breaking-point scenario; borrowed */
	uint32_t interval_ms;   /* the window's interval (0: 1000) */
	double cap;             /* the highest load the plan's maxRate or maxVUs allow (0: none) */
	const char *cap_what;   /* "maxRate 500/s" for the reason; borrowed */
	/* An agent's cores (its workers), for its CPU limit; NULL or 0: 1. */
	double (*cores_of)(void *arg, const char *agent);
	void *arg;
} search_cfg;

/* Sets cfg->cap to the highest load of cfg->s that max_rate (requests/s
 * across the cluster: for the arrival-rate model, divided by the requests
 * an iteration sends) or max_vus (for the vus model) allows, 0 meaning no
 * cap, and cfg->cap_what to what says so, written into what (len bytes). */
void search_cap_set(search_cfg *cfg, int64_t max_rate, int64_t max_vus, char *what, size_t len);

/*
 * Checks that each objective of s can be judged on the live window: a
 * metric it holds (http_req_duration, http_req_failed, http_reqs,
 * iterations, dropped_iterations, ws_msg_rtt, ws_sessions,
 * ws_session_failed) with an aggregation that metric has, and tags only
 * scenario (this one) or step. Returns 0, or -1 with the reason in err.
 * idx (may be NULL) gets the failing objective's index.
 */
int search_check(const plan_scenario *s, size_t *idx, char *err, size_t errlen);

/* Makes a search. Returns HERD_OK and *out (search_free), HERD_EINVAL with
 * the reason in err (not a breaking-point scenario, an objective
 * search_check refuses, no level under the cap), or HERD_ENOMEM. */
int search_new(const search_cfg *cfg, search **out, char *err, size_t errlen);
void search_free(search *s);

typedef enum search_action {
	SEARCH_WAIT = 0, /* nothing to do now */
	SEARCH_SET,      /* set the scenario's load to *load (iterations/s or VUs) now */
	SEARCH_END,      /* the search is over: end the load */
} search_action;

/*
 * One tick: t_ms is the time since the load's start, last_ms the start of
 * the last complete interval (-1: none yet), w the live window. Says what
 * to do in *act (and *load for SEARCH_SET), assuming the caller does it
 * at t_ms (well within the interval). *level (may be NULL) is set to the
 * index of a level judged at this tick, else -1. Returns HERD_OK or
 * HERD_ENOMEM.
 */
int search_step(search *s, const win *w, int64_t t_ms, int64_t last_ms, search_action *act, double *load,
                long *level);

/*
 * Ends the search because an agent was lost or stopped (why: "agent a2
 * lost: nothing heard for 3.0 s"), whatever its phase, even done: part of
 * the load was not applied, so no capacity is reported. since_ms is when
 * the agent was last heard (ms since the load's start): a level judged
 * already whose hold ran past it was judged on incomplete data and is
 * re-marked generator-limited with why "interrupted: ..."; the level in
 * flight is named in the result's reason, not judged. The levels judged
 * before keep their verdicts; the result (outcome SEARCH_INTERRUPTED,
 * sustainable and first_fail 0) says in its reason which level was
 * interrupted, at which load, and why. A search done before the agent
 * was last heard keeps its answer. A second call changes nothing.
 */
void search_interrupt(search *s, int64_t since_ms, const char *why);

/* Ends the search where it is (the run stopped early): levels judged so
 * far keep their verdicts; the result is made from them. */
void search_abandon(search *s);

/*
 * The exit code (controller/outcome.h) of a run whose other parts gave
 * code, with the search's answer: on a run that passed otherwise, a lower
 * bound (or a search that did not finish) exits 112, a first level that
 * already failed 99 (its objectives failed, as thresholds do), and an
 * interrupted search 109 (degraded: part of the load was not applied),
 * whether or not the engine saw the run as degraded. A code other than a
 * pass is stronger and kept. When the code changes, reason (len bytes)
 * says why. se NULL: code.
 */
int search_exit_code(const search *se, int code, char *reason, size_t len);

/* The levels judged so far, in the order they ran (valid until the next step). */
const search_level *search_levels(const search *s, size_t *n);
/* The result (outcome SEARCH_RUNNING until the search is over). */
const search_result *search_result_of(const search *s);
/* The scenario searched and its model. */
const plan_scenario *search_scenario(const search *s);
/* The load being run now (0 before the first and after the end). */
double search_current(const search *s);

/* The knee of p95 against achieved throughput and the USL fit over the
 * levels judged (passing and failing; generator-limited ones left out):
 * pure arithmetic on search_levels. Always fills *out (note says what is
 * missing). */
void search_fit_levels(const search *s, search_fit *out);

#endif
