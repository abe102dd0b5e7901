/*
 * `herd capacity fit RUN`: the Universal Scalability Law (common/usl.h)
 * fitted to the steady levels of a stored run, with the knee of latency
 * against throughput (common/knee.h) and a holdout check. A level is a
 * ramping-vus (or ramping-arrival-rate) stage whose target is constant (the
 * same as the stage before), measured over the second half of its
 * intervals: concurrency is its VUs (for arrival rates, by Little's law:
 * throughput times mean latency), throughput its requests per second
 * (iterations per second when the scenario sends no HTTP request).
 */
#ifndef HERD_CONTROLLER_CAPACITY_H
#define HERD_CONTROLLER_CAPACITY_H

#include <stddef.h>
#include <stdint.h>

#include "common/plan.h"
#include "controller/store.h"

typedef struct capacity_level {
	int64_t from_ms, to_ms; /* the window measured, ms since the run's start */
	double vus;             /* the stage's target; for an arrival rate, the concurrency measured */
	double throughput;      /* requests (or iterations) per second in the window */
	double mean_ms, p95_ms; /* latency of those requests (or iterations) */
	uint64_t count;
	uint64_t errors;
} capacity_level;

/*
 * The levels of scenario (NULL: the plan's first ramping-vus or
 * breaking-point scenario) of stored run run_id whose plan p was parsed from
 * the stored plan text. A breaking-point scenario's levels are the holds
 * its search judged (capacity_levels rows that passed or failed; not the
 * generator-limited or interrupted ones), measured again from the stored
 * intervals, in order of load. *out (free with free()) holds *n levels in
 * stage order; what counts says which metric was counted ("http_reqs" or
 * "iterations"); *little is 1 when the concurrency is by Little's law (an
 * arrival-rate scenario or search model); *windows says in words which
 * windows the levels are. Returns HERD_OK;
 * HERD_ENOTFOUND with the reason in err when the plan has no such scenario;
 * HERD_ENOMEM, HERD_ESTORE.
 */
int capacity_levels(store *st, const char *run_id, const plan *p, uint32_t interval_ms, const char *scenario,
                    capacity_level **out, size_t *n, const char **what, int *little, const char **windows,
                    char *err, size_t errlen);

/* `herd capacity fit RUN [--db FILE] [--scenario NAME]`: argv[0] is "capacity". */
int cli_capacity(int argc, char **argv);

#endif
