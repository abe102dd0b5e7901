/*
 * The health guard: a URL the controller itself fetches (GET, libcurl easy
 * handle, redirects not followed), before a run (a run is refused when it is
 * unhealthy) and every `every` during it in a thread of its own (the run is
 * aborted after `failures` failures in a row). Healthy means an answer with
 * a 2xx or 3xx status within `timeout`. `herd run` uses it; `herd serve`
 * will do the same.
 */
#ifndef HERD_CONTROLLER_GUARD_H
#define HERD_CONTROLLER_GUARD_H

#include <stddef.h>

#include "common/plan.h"

typedef struct guard guard;

/* Checks h->url once. Returns 1 when healthy, else 0 with the reason in why
 * (len bytes, always terminated: "HTTP 503", "timeout after 2000 ms",
 * "connection refused"). */
int guard_check_once(const plan_health *h, char *why, size_t len);

/*
 * Starts checking h->url every h->every_ms, the first check one interval
 * from now. h must outlive the guard. Returns HERD_OK and *out (stop and
 * free with guard_stop), HERD_ENOMEM or HERD_EINTERNAL (no thread).
 */
int guard_start(const plan_health *h, guard **out);

/* 1 when the last h->failures checks all failed (the guard then stops
 * checking), with the last reason in why and the failures in a row in
 * *fails; else 0. Thread-safe. */
int guard_tripped(guard *g, char *why, size_t len, int *fails);

/* Stops the thread (at once, even mid-wait; a check in flight ends within
 * its timeout) and frees g. NULL is a no-op. */
void guard_stop(guard *g);

#endif
