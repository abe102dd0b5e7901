/*
 * A run's outcome; see outcome.h.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "controller/outcome.h"

int outcome_code(const outcome_in *in)
{
	if (in->setup_failed)
		return EXIT_SETUP;
	if (in->guard_aborted)
		return EXIT_GUARD_ABORTED;
	if (in->rule_aborted)
		return EXIT_THRESHOLDS;
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
	case EXIT_ABORTED:
	case EXIT_GUARD_ABORTED: return "aborted";
	case EXIT_GUARD_REFUSED: return "refused";
	case EXIT_LOWER_BOUND: return "lower bound";
	default: return "error";
	}
}

store_status outcome_store_status(int code)
{
	switch (code) {
	case EXIT_OK: return STORE_PASSED;
	case EXIT_THRESHOLDS:
	case EXIT_LOWER_BOUND:
	case EXIT_DEGRADED: return STORE_FAILED;
	case EXIT_INTERRUPTED: return STORE_INTERRUPTED;
	case EXIT_ABORTED:
	case EXIT_GUARD_ABORTED: return STORE_ABORTED;
	default: return STORE_ERROR;
	}
}

store_status outcome_store_status_of(const outcome_in *in, int code)
{
	if (code == EXIT_THRESHOLDS && in->rule_aborted)
		return STORE_ABORTED;
	return outcome_store_status(code);
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

/* Whether p has a ws step. */
static int has_ws_step(const plan *p)
{
	for (size_t i = 0; i < p->nscenarios; i++)
		for (size_t k = 0; k < p->scenarios[i].nsteps; k++)
			if (p->scenarios[i].steps[k].kind == STEP_WS)
				return 1;
	return 0;
}

/* Whether p has a threshold on metric, with or without tag filters. */
static int has_threshold_on(const plan *p, const char *metric)
{
	size_t n = strlen(metric);
	for (size_t i = 0; i < p->nthresholds; i++) {
		const char *m = p->thresholds[i].metric;
		if (strncmp(m, metric, n) == 0 && (m[n] == '\0' || m[n] == '{'))
			return 1;
	}
	return 0;
}

int outcome_default_thresholds(const plan *p, const results *r, verdict_set *vs)
{
	th_metric m;
	th_expr e;
	char err[128];

	if (!has_ws_step(p) || has_threshold_on(p, "ws_session_failed"))
		return HERD_OK;
	if (th_parse_metric("ws_session_failed", &m, err, sizeof(err)) != 0 ||
	    th_parse_expr("rate < 1", &e, err, sizeof(err)) != 0)
		return HERD_EINTERNAL;
	return verdict_add_parsed(vs, r, "ws_session_failed", "rate < 1 (default)", &m, &e);
}
