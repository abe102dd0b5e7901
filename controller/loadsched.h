/*
 * A test hook for changing a running scenario's load before the
 * breaking-point search exists: HERD_TEST_LOAD_SCHEDULE="5s:40,10s:80" makes
 * `herd run` call cluster_set_load for the plan's first scenario at those
 * offsets from the load's start (a rate per timeUnit for the arrival-rate
 * executors, VUs for constant-vus and ramping-vus). It exists for the
 * integration tests of the LOAD message and is not a user feature.
 */
#ifndef HERD_CONTROLLER_LOADSCHED_H
#define HERD_CONTROLLER_LOADSCHED_H

#include <stddef.h>
#include <stdint.h>

#define LOADSCHED_MAX 32

typedef struct loadsched {
	size_t n, next;
	int64_t at_ms[LOADSCHED_MAX]; /* increasing */
	double value[LOADSCHED_MAX];
} loadsched;

/* Parses "OFFSET:VALUE[,OFFSET:VALUE...]" (offsets as plan durations, in
 * increasing order; values finite and >= 0) into *out. Returns HERD_OK or
 * HERD_EINVAL with the reason in err. */
int loadsched_parse(const char *spec, loadsched *out, char *err, size_t errlen);

/* The next entry due at t_ms (since the load's start) not taken yet: returns
 * 1 and its value, and moves past it; 0 when none is due. */
int loadsched_due(loadsched *ls, int64_t t_ms, double *value);

#endif
