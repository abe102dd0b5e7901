/* A run's outcome: the exit code's precedence, the statuses shown and
 * stored for each code, and what counts as "nothing measured". */
#include <stdlib.h>

#include "common/err.h"
#include "controller/outcome.h"
#include "tests/unit/check.h"

static int code_of(int setup, int aborted, int interrupted, int none, int th, int degraded)
{
	outcome_in in = { .setup_failed = setup, .aborted = aborted, .interrupted = interrupted,
		              .nothing_measured = none, .thresholds_failed = th, .degraded = degraded };
	return outcome_code(&in);
}

static void test_precedence(void)
{
	CHECK_EQ_INT(code_of(0, 0, 0, 0, 0, 0), EXIT_OK);
	/* A degraded run never passes; failed thresholds still say 99. */
	CHECK_EQ_INT(code_of(0, 0, 0, 0, 0, 1), EXIT_DEGRADED);
	CHECK_EQ_INT(code_of(0, 0, 0, 0, 1, 1), EXIT_THRESHOLDS);
	CHECK_EQ_INT(code_of(0, 0, 0, 0, 1, 0), EXIT_THRESHOLDS);
	/* Nothing measured: thresholds judged nothing, so 107 comes first,
	 * degraded (every agent lost before load) or not. */
	CHECK_EQ_INT(code_of(0, 0, 0, 1, 0, 0), EXIT_NO_LOAD);
	CHECK_EQ_INT(code_of(0, 0, 0, 1, 1, 1), EXIT_NO_LOAD);
	/* The user's stop, an abort and a store or setup failure come first. */
	CHECK_EQ_INT(code_of(0, 0, 1, 1, 1, 1), EXIT_INTERRUPTED);
	CHECK_EQ_INT(code_of(0, 1, 1, 1, 1, 1), EXIT_ABORTED);
	CHECK_EQ_INT(code_of(1, 1, 1, 1, 1, 1), EXIT_SETUP);
	CHECK_EQ_INT(EXIT_DEGRADED, 109);
	CHECK_EQ_INT(EXIT_NO_LOAD, 107);
}

static void test_statuses(void)
{
	CHECK(strcmp(outcome_status(EXIT_OK), "passed") == 0);
	CHECK(strcmp(outcome_status(EXIT_THRESHOLDS), "failed") == 0);
	CHECK(strcmp(outcome_status(EXIT_DEGRADED), "degraded") == 0);
	CHECK(strcmp(outcome_status(EXIT_NO_LOAD), "no load") == 0);
	CHECK(strcmp(outcome_status(EXIT_SETUP), "error") == 0);
	CHECK(outcome_store_status(EXIT_OK) == STORE_PASSED);
	CHECK(outcome_store_status(EXIT_DEGRADED) == STORE_FAILED);
	CHECK(outcome_store_status(EXIT_THRESHOLDS) == STORE_FAILED);
	CHECK(outcome_store_status(EXIT_NO_LOAD) == STORE_ERROR);
	CHECK(outcome_store_status(EXIT_SETUP) == STORE_ERROR);
	CHECK(outcome_store_status(EXIT_INTERRUPTED) == STORE_INTERRUPTED);
	CHECK(outcome_store_status(EXIT_ABORTED) == STORE_ABORTED);
}

/* One entry of metric with count n (a gauge value for gauges). */
static int add(results *r, const char *metric, uint64_t n)
{
	wire_entry e;
	memset(&e, 0, sizeof(e));
	e.metric = (char *)metric;
	e.scenario = (char *)"s";
	e.count = n;
	e.gauge = (int64_t)n;
	return results_add_batch(r, "a1", 0, &e, 1);
}

static void test_nothing_measured(void)
{
	static const char *const load[] = { "http_req_duration", "ws_sessions", "iterations" };
	results *r = NULL;
	int none = -1;

	CHECK(results_new(1000, &r) == HERD_OK);
	CHECK(outcome_nothing_measured(r, &none) == HERD_OK && none == 1);
	/* Gauges and series with a zero count are not load. */
	CHECK(add(r, "vus", 5) == HERD_OK && add(r, "vus_max", 5) == HERD_OK);
	CHECK(add(r, "http_req_duration", 0) == HERD_OK && add(r, "dropped_iterations", 3) == HERD_OK);
	CHECK(outcome_nothing_measured(r, &none) == HERD_OK && none == 1);
	results_free(r);
	/* Any one request, session or iteration is. */
	for (size_t i = 0; i < sizeof(load) / sizeof(load[0]); i++) {
		CHECK(results_new(1000, &r) == HERD_OK);
		CHECK(add(r, load[i], 1) == HERD_OK);
		none = -1;
		CHECK(outcome_nothing_measured(r, &none) == HERD_OK && none == 0);
		results_free(r);
	}
}

int main(void)
{
	test_precedence();
	test_statuses();
	test_nothing_measured();
	return check_done();
}
