/*
 * A run's outcome; see outcome.h.
 */
#include <stdlib.h>

#include "common/err.h"
#include "controller/outcome.h"

int outcome_code(const outcome_in *in)
{
	if (in->setup_failed)
		return EXIT_SETUP;
	if (in->aborted)
		return EXIT_ABORTED;
	if (in->interrupted)
		return EXIT_INTERRUPTED;
	if (in->nothing_measured)
		return EXIT_NO_LOAD;
	if (in->thresholds_failed)
		return EXIT_THRESHOLDS;
	if (in->degraded)
		return EXIT_DEGRADED;
	return EXIT_OK;
}

const char *outcome_status(int code)
{
	switch (code) {
	case EXIT_OK: return "passed";
	case EXIT_THRESHOLDS: return "failed";
	case EXIT_DEGRADED: return "degraded";
	case EXIT_NO_LOAD: return "no load";
	case EXIT_INTERRUPTED: return "interrupted";
	case EXIT_ABORTED: return "aborted";
	default: return "error";
	}
}

store_status outcome_store_status(int code)
{
	switch (code) {
	case EXIT_OK: return STORE_PASSED;
	case EXIT_THRESHOLDS:
	case EXIT_DEGRADED: return STORE_FAILED;
	case EXIT_INTERRUPTED: return STORE_INTERRUPTED;
	case EXIT_ABORTED: return STORE_ABORTED;
	default: return STORE_ERROR;
	}
}

int outcome_nothing_measured(const results *r, int *none)
{
	/* The three metrics whose series count units of load a run applied. */
	static const char *const load[] = { "http_reqs", "ws_sessions", "iterations" };
	res_agg *a = malloc(sizeof(*a)); /* embeds a whole histogram */
	int rv = HERD_OK;

	if (a == NULL)
		return HERD_ENOMEM;
	*none = 1;
	for (size_t i = 0; i < sizeof(load) / sizeof(load[0]); i++) {
		rv = results_query(r, load[i], NULL, 0, a);
		if (rv == HERD_ENOTFOUND) {
			rv = HERD_OK;
			continue;
		}
		if (rv != HERD_OK)
			break;
		if (a->count > 0) {
			*none = 0;
			break;
		}
	}
	free(a);
	return rv;
}
