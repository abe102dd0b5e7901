/*
 * Rate caps: a plan's `maxRate` (requests per second across the cluster) and
 * `maxVUs` (VUs across the cluster). The controller refuses a plan whose
 * peak, computed here from the plan alone, exceeds them; agents hold
 * closed-model requests (whose rate nobody knows in advance) to their share
 * of what the open-model peak leaves of maxRate, with one reservation clock
 * per agent shared by its workers (ratecap_bucket). Pure logic, no I/O:
 * the controller (herd run, later herd serve) and agents share it.
 */
#ifndef HERD_COMMON_RATECAP_H
#define HERD_COMMON_RATECAP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/plan.h"

/*
 * Agents space a closed-model share of k requests per second so that any
 * 1 s + RATECAP_SLACK_MS holds at most k starts: a target then sees at most
 * the cap in any second of its own log unless the delays of two requests to
 * it differ by more than this.
 */
#define RATECAP_SLACK_MS 100

/* The plan's peaks, as computed from its scenarios' timelines. */
typedef struct ratecap_peak {
	double rate;        /* open-model requests per second at their peak */
	int64_t rate_at_ms; /* when (ms from the load's start) */
	int64_t vus;        /* VUs at their peak: closed models' VUs, open models' maxVUs */
	int64_t vus_at_ms;
	int closed; /* 1 when a closed-model scenario sends requests (its rate is unknown) */
} ratecap_peak;

/* Requests one iteration of s sends: its flows' HTTP and ws steps (a ws
 * session is one upgrade request), the mean over flows by weight (the mix of
 * flows is exact, agent/worker.c). Setup steps (once per VU) and followed
 * redirects are not counted. */
double ratecap_reqs_per_iter(const plan_scenario *s);

/* s is an open-model (arrival-rate) scenario. */
int ratecap_open(const plan_scenario *s);

/* Computes p's peaks into *out. Sums of piecewise-linear rates peak at a
 * boundary (a start, a stage's end, an end), so only those are looked at,
 * from both sides. */
void ratecap_compute(const plan *p, ratecap_peak *out);

/*
 * Checks p against its caps. Returns 0 when it fits (or has no caps), else
 * -1 with a message in msg (len bytes) that says the peak, how it was
 * computed (each scenario's part at the peak) and the cap. With maxRate and
 * closed-model scenarios, the open-model peak must leave at least 1
 * request/s for them.
 */
int ratecap_check(const plan *p, char *msg, size_t len);

/* The lower of two caps, 0 meaning no cap. */
int64_t ratecap_lower(int64_t a, int64_t b);

/* Lowers p's maxRate and maxVUs to max_rate and max_vus where those are
 * tighter (0: no cap): a schedule's caps over the plan's own (herd serve),
 * applied the same way by the controller and by every agent. */
void ratecap_tighten(plan *p, int64_t max_rate, int64_t max_vus);

/* Clamps every scenario's VU counts (vus, startVUs, a ramping-vus stage's
 * target, preAllocatedVUs and maxVUs) to p's maxVUs cap (0: none): an agent
 * never starts more VUs for a scenario than the cluster may run in all,
 * whatever its assignment says. A plan that passed ratecap_check is left
 * as it was. */
void ratecap_clamp_vus(plan *p);

/* A LOAD's VU count for one scenario, clamped to p's maxVUs cap. */
double ratecap_vus_load(const plan *p, double vus);

/* Requests per second the closed-model scenarios of the whole cluster may
 * send: maxRate minus the open-model peak, whole requests; -1 when p has no
 * maxRate. */
int64_t ratecap_closed_budget(const plan *p);

/*
 * One agent's reservation clock for closed-model requests: k requests per
 * second, each reservation RATECAP_SLACK_MS-padded 1/k s after the last.
 * Workers share it without a lock (one compare-and-swap per request).
 */
typedef struct ratecap_bucket {
	_Atomic int64_t next_ns; /* the earliest free slot, CLOCK_MONOTONIC */
	int64_t spacing_ns;      /* INT64_MAX when k is 0: nothing may start */
} ratecap_bucket;

/* k requests per second (k >= 0). */
void ratecap_bucket_init(ratecap_bucket *b, int64_t k);

/* Reserves the next slot at or after now and returns it (INT64_MAX when the
 * bucket allows nothing). A request starts at the slot it got, not before. */
int64_t ratecap_reserve(ratecap_bucket *b, int64_t now_ns);

#endif
