/*
 * Executor arithmetic, free of I/O: how many VUs a worker should have running
 * at a moment, when the arrival-rate executors' next iteration is due, and
 * this worker's share of a scenario. Shares are taken in two steps, agent (by
 * the weights the controller sent) then worker (equal), each with split_int so
 * every level adds up exactly.
 */
#ifndef HERD_AGENT_SCHED_H
#define HERD_AGENT_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "common/plan.h"

/* Where this worker sits in the cluster. */
typedef struct sched_place {
	const double *weights; /* agent weights */
	size_t nagents;
	size_t agent;          /* this agent's index */
	size_t nworkers;       /* workers on this agent */
	size_t worker;         /* this worker's index */
} sched_place;

/* This worker's integer share of total (VUs, iterations, stage targets). */
int64_t sched_share_int(const sched_place *p, int64_t total);
/* This worker's integer share of total, a count this agent already got
 * (split equally between its workers, as sched_share_int's second step). */
int64_t sched_worker_int(const sched_place *p, int64_t agent_total);
/* This worker's fractional share of a rate (iterations per second). */
double sched_share_rate(const sched_place *p, double total);

/* Target VU count at t_ms since the scenario's start, for a ramping-vus
 * scenario whose start and stage targets are already this worker's share:
 * linear between stages, as k6. After the last stage: the last target. */
int64_t sched_ramp_target(int64_t start_vus, const plan_stage *stages, const int64_t *targets,
                          size_t n, int64_t t_ms);

/* This worker's share of a shared-iterations scenario's iterations: split
 * like its VUs are, but in proportion to the VUs each agent and worker got,
 * so a worker without VUs gets no iterations and the shares add up to
 * iterations exactly. vus must not exceed iterations, as the plan ensures. */
int64_t sched_share_iters(const sched_place *p, int64_t vus, int64_t iterations);

/*
 * An arrival rate that is linear within each stage, as k6's
 * ramping-arrival-rate (constant-arrival-rate is one flat stage). For every
 * stage boundary it keeps the rate and the arrivals since the start (the
 * integral of the rate), each computed from the plan's integers, so the time
 * of any arrival is found by solving one stage's quadratic, never by stepping,
 * and rounding never accumulates from one arrival to the next.
 */
typedef struct sched_rate {
	size_t n;       /* stages */
	int64_t *at_ns; /* n + 1 boundaries: 0, the end of stage 0, ... */
	double *rate;   /* n + 1 rates at the boundaries, iterations per second */
	double *cum;    /* n + 1 arrivals from the start to each boundary */
} sched_rate;

/* Builds the rate of start (per timeUnit) ramping through n stages (targets
 * per timeUnit), all scaled by share (this worker's fraction of the plan's
 * rate). Returns HERD_OK, or HERD_ENOMEM (nothing to free) or HERD_EINVAL
 * when time_unit_ms is not positive or share is negative. */
int sched_rate_init(sched_rate *r, int64_t start, const plan_stage *stages, size_t n, int64_t time_unit_ms,
                    double share);
/* The same for a scenario of either arrival-rate executor. */
int sched_rate_of(sched_rate *r, const plan_scenario *s, double share);
void sched_rate_fini(sched_rate *r);

/* Arrivals due in [0, t_ns]: the integral of the rate to t_ns (the total
 * after the last stage). */
double sched_rate_arrivals(const sched_rate *r, int64_t t_ns);
/* When arrival x is due: the moment sched_rate_arrivals passes x, which is
 * when it reaches x wherever the rate is positive (across a stretch of zero
 * rate, the stretch's end). Arrival k of a worker whose stagger is phase (in
 * [0, 1)) is due at sched_rate_due(k + phase). Returns INT64_MAX when the
 * stages end first. */
int64_t sched_rate_due(const sched_rate *r, double x);
/* The highest rate of the profile, iterations per second. */
double sched_rate_peak(const sched_rate *r);

#endif
