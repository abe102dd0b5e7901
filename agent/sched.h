/*
 * Executor arithmetic, free of I/O: how many VUs a worker should have running
 * at a moment, and this worker's share of a scenario. Shares are taken in two
 * steps, agent (by the weights the controller sent) then worker (equal), each
 * with split_int so every level adds up exactly.
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
/* This worker's fractional share of a rate (iterations per second). */
double sched_share_rate(const sched_place *p, double total);

/* Target VU count at t_ms since the scenario's start, for a ramping-vus
 * scenario whose start and stage targets are already this worker's share:
 * linear between stages, as k6. After the last stage: the last target. */
int64_t sched_ramp_target(int64_t start_vus, const plan_stage *stages, const int64_t *targets,
                          size_t n, int64_t t_ms);

/* Iterations per second of a constant-arrival-rate scenario, whole plan. */
double sched_arrival_rate(const plan_scenario *s);

#endif
