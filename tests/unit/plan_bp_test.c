/*
 * Tests for the breaking-point executor's plan (common/plan_bp.c): the
 * issue's example parses into the model with its defaults and levels; each
 * of its errors (no objectives, objectives on metrics the flow cannot
 * produce, start above max, step and factor both or neither, keys of the
 * wrong model, bad refine) names its file:line:column.
 */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/plan.h"
#include "tests/unit/check.h"

#define HEAD                                                                                       \
	"target: http://h:1\n"                                                                         \
	"scenarios:\n"                                                                                 \
	"  find:\n"                                                                                    \
	"    executor: breaking-point\n"

static const char example[] = HEAD "    model: arrival-rate\n"
                                   "    start: 20\n"
                                   "    step: 20\n"
                                   "    warmup: 5s\n"
                                   "    hold: 20s\n"
                                   "    max: 5000\n"
                                   "    preAllocatedVUs: 50\n"
                                   "    maxVUs: 2000\n"
                                   "    objectives:\n"
                                   "      http_req_duration: [\"p(95) < 2000\"]\n"
                                   "      http_req_failed: [\"rate < 0.001\"]\n"
                                   "    refine: { resolution: 5% }\n"
                                   "    flow:\n"
                                   "      - get: /\n";

static plan *parse(const char *yaml, char *err, size_t errlen, int *rv)
{
	plan *p = NULL;
	*rv = plan_parse(yaml, strlen(yaml), "t.yaml", &p, err, errlen);
	return p;
}

static void expect_err(int line, const char *yaml, const char *where, const char *want)
{
	char err[512] = "";
	int rv;
	plan *p = parse(yaml, err, sizeof(err), &rv);
	check_total_++;
	if (rv != HERD_EPLAN || strncmp(err, where, strlen(where)) != 0 || strstr(err, want) == NULL) {
		check_failed_++;
		fprintf(stderr, "%s:%d: rv %d, error \"%s\"; want \"%s...%s\"\n", __FILE__, line, rv, err, where,
		        want);
	}
	plan_free(p);
}
#define EXPECT_ERR(yaml, where, want) expect_err(__LINE__, yaml, where, want)

static void test_example(void)
{
	char err[512] = "";
	int rv;
	plan *p = parse(example, err, sizeof(err), &rv);
	CHECK_EQ_INT(rv, HERD_OK);
	if (p == NULL) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	const plan_scenario *s = &p->scenarios[0];
	const plan_breaking *b = &s->bp;
	CHECK_EQ_INT(s->executor, EXEC_BREAKING_POINT);
	CHECK_EQ_STR(plan_executor_name(s->executor), "breaking-point");
	CHECK_EQ_INT(b->model, PLAN_BP_ARRIVAL_RATE);
	CHECK_EQ_INT(b->start, 20);
	CHECK_EQ_INT(b->step, 20);
	CHECK(b->factor == 0);
	CHECK_EQ_INT(b->warmup_ms, 5000);
	CHECK_EQ_INT(b->hold_ms, 20000);
	CHECK_EQ_INT(b->max, 5000);
	CHECK_EQ_INT(s->pre_allocated_vus, 50);
	CHECK_EQ_INT(s->max_vus, 2000);
	CHECK(b->resolution > 0.0499 && b->resolution < 0.0501);
	CHECK_EQ_INT(b->failures_to_stop, 1);
	CHECK_EQ_INT(b->nobjectives, 2);
	CHECK_EQ_STR(b->objectives[0].metric, "http_req_duration");
	CHECK_EQ_STR(b->objectives[0].expr, "p(95) < 2000");
	CHECK_EQ_INT(b->objectives[0].line, 14);
	CHECK_EQ_STR(b->objectives[1].expr, "rate < 0.001");
	/* Objectives are the scenario's, not the plan's thresholds. */
	CHECK_EQ_INT(p->nthresholds, 0);
	/* 20, 40, ... 5000: 250 levels of 25 s. */
	CHECK_EQ_INT(plan_bp_levels(b, NULL, 0), 250);
	int64_t lv[3];
	CHECK_EQ_INT(plan_bp_levels(b, lv, 3), 250);
	CHECK(lv[0] == 20 && lv[1] == 40 && lv[2] == 60);
	/* The longest the search can take: the 250 levels and the refinement's
	 * (a gap of 20 halved to under 5% of 20 takes 5, plus one), each 25 s
	 * and 2 s of slack. */
	CHECK_EQ_INT(plan_bp_refine_levels(b), 6);
	CHECK_EQ_INT(plan_scenario_length_ms(s), (250 + 6) * (25000 + PLAN_BP_LEVEL_SLACK_MS));
	plan_free(p);
}

static void test_factor_vus(void)
{
	char err[512] = "";
	int rv;
	plan *p = parse(HEAD "    model: vus\n"
	                     "    start: 10\n"
	                     "    factor: 1.5\n"
	                     "    hold: 10s\n"
	                     "    max: 100\n"
	                     "    failuresToStop: 2\n"
	                     "    objectives:\n"
	                     "      ws_msg_rtt: [\"p(99) < 50\"]\n"
	                     "      \"ws_sessions{step:chat}\": [\"rate < 0.01\"]\n"
	                     "    flow:\n"
	                     "      - ws: ws://h:1/chat\n"
	                     "        name: chat\n"
	                     "        session:\n"
	                     "          - send: hi\n"
	                     "          - expect: { contains: hi }\n",
	                err, sizeof(err), &rv);
	CHECK_EQ_INT(rv, HERD_OK);
	if (p == NULL) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	const plan_breaking *b = &p->scenarios[0].bp;
	CHECK_EQ_INT(b->model, PLAN_BP_VUS);
	CHECK(b->factor == 1.5 && b->step == 0);
	CHECK_EQ_INT(b->failures_to_stop, 2);
	CHECK_EQ_INT(b->warmup_ms, 0);
	CHECK(b->resolution > 0.0499 && b->resolution < 0.0501); /* the default */
	/* 10, 15, 23 (rounded up), 35, 53, 80, 100 (max). */
	int64_t lv[8];
	const int64_t want[] = { 10, 15, 23, 35, 53, 80, 100 };
	CHECK_EQ_INT(plan_bp_levels(b, lv, 8), 7);
	CHECK(memcmp(lv, want, sizeof(want)) == 0);
	plan_free(p);
}

#define ARRIVAL "    model: arrival-rate\n    preAllocatedVUs: 5\n    hold: 5s\n"
#define FLOW "    flow:\n      - get: /\n"
#define OBJ "    objectives:\n      http_req_failed: [\"rate < 0.01\"]\n"

static void test_errors(void)
{
	/* No objectives at all, and an empty mapping. */
	EXPECT_ERR(HEAD ARRIVAL "    start: 1\n    step: 1\n    max: 10\n" FLOW, "t.yaml:3:3: ",
	           "a breaking-point search needs 'objectives'");
	EXPECT_ERR(HEAD ARRIVAL "    start: 1\n    step: 1\n    max: 10\n    objectives: {}\n" FLOW, "t.yaml:11:17: ",
	           "'objectives' is empty");
	/* An objective on what the flow cannot produce: ws in an HTTP-only flow. */
	EXPECT_ERR(HEAD ARRIVAL "    start: 1\n    step: 1\n    max: 10\n"
	                        "    objectives:\n"
	                        "      http_req_failed: [\"rate < 0.01\"]\n"
	                        "      ws_msg_rtt: [\"p(95) < 100\"]\n" FLOW,
	           "t.yaml:13:20: ", "objective on 'ws_msg_rtt', which scenario 'find' cannot produce: its flow has no ws sessions");
	/* ...and HTTP in a ws-only flow. */
	EXPECT_ERR(HEAD ARRIVAL "    start: 1\n    step: 1\n    max: 10\n" OBJ
	                        "    flow:\n      - ws: ws://h:1/\n        session:\n          - send: x\n",
	           "t.yaml:12:25: ", "its flow has no HTTP requests");
	/* A tag filter on a step the scenario lacks. */
	EXPECT_ERR(HEAD ARRIVAL "    start: 1\n    step: 1\n    max: 10\n"
	                        "    objectives:\n      \"http_req_duration{name:nope}\": [\"p(95) < 1\"]\n" FLOW,
	           "t.yaml:12:40: ", "filters on name 'nope'");
	/* start above max. */
	EXPECT_ERR(HEAD ARRIVAL "    start: 50\n    step: 1\n    max: 10\n" OBJ FLOW, "t.yaml:8:12: ",
	           "'start' (50) is above 'max' (10)");
	/* step and factor: both, neither. */
	EXPECT_ERR(HEAD ARRIVAL "    start: 1\n    step: 1\n    factor: 2\n    max: 10\n" OBJ FLOW, "t.yaml:10:5: ",
	           "both 'step' and 'factor'");
	EXPECT_ERR(HEAD ARRIVAL "    start: 1\n    max: 10\n" OBJ FLOW, "t.yaml:3:3: ",
	           "needs 'step' (added each level) or 'factor'");
	EXPECT_ERR(HEAD ARRIVAL "    start: 1\n    factor: 1\n    max: 10\n" OBJ FLOW, "t.yaml:9:13: ",
	           "'factor' must be above 1");
	/* Required keys, and keys of the other model. */
	EXPECT_ERR(HEAD "    start: 1\n    step: 1\n    max: 10\n    hold: 1s\n" OBJ FLOW, "t.yaml:3:3: ",
	           "executor breaking-point needs 'model'");
	EXPECT_ERR(HEAD "    model: arrival-rate\n    start: 1\n    step: 1\n    max: 10\n" OBJ FLOW, "t.yaml:3:3: ",
	           "needs 'hold'");
	EXPECT_ERR(HEAD "    model: arrival-rate\n    hold: 1s\n    start: 1\n    step: 1\n    max: 10\n" OBJ FLOW,
	           "t.yaml:3:3: ", "needs 'preAllocatedVUs'");
	EXPECT_ERR(HEAD "    model: vus\n    hold: 1s\n    start: 1\n    step: 1\n    max: 10\n    maxVUs: 3\n" OBJ FLOW,
	           "t.yaml:10:5: ", "'maxVUs' is not used by model vus");
	EXPECT_ERR(HEAD "    model: open\n" FLOW, "t.yaml:5:12: ", "'model' is arrival-rate");
	/* refine. */
	EXPECT_ERR(HEAD ARRIVAL "    start: 1\n    step: 1\n    max: 10\n    refine: { resolution: 0.05 }\n" OBJ FLOW,
	           "t.yaml:11:27: ", "a percentage of the load");
	EXPECT_ERR(HEAD ARRIVAL "    start: 1\n    step: 1\n    max: 10\n    refine: { resolution: 100% }\n" OBJ FLOW,
	           "t.yaml:11:27: ", "below 100%");
	EXPECT_ERR(HEAD ARRIVAL "    start: 1\n    step: 1\n    max: 10\n    refine: { step: 5% }\n" OBJ FLOW,
	           "t.yaml:11:15: ", "unknown key 'step'");
	/* Keys of breaking-point elsewhere, and others' keys here. */
	EXPECT_ERR("target: http://h:1\nscenarios:\n  s:\n    executor: constant-vus\n    duration: 1s\n"
	           "    hold: 5s\n" FLOW,
	           "t.yaml:6:5: ", "'hold' is not used by executor constant-vus");
	EXPECT_ERR(HEAD ARRIVAL "    start: 1\n    step: 1\n    max: 10\n    duration: 5s\n" OBJ FLOW, "t.yaml:11:5: ",
	           "'duration' is not used by executor breaking-point");
	/* Abort rules are thresholds' business. */
	EXPECT_ERR(HEAD ARRIVAL "    start: 1\n    step: 1\n    max: 10\n"
	                        "    objectives:\n      http_req_failed: [{ threshold: \"rate < 0.1\", abortOnFail: true }]\n" FLOW,
	           "t.yaml:12:", "abortOnFail, delayAbortEval and window do not apply to objectives");
	/* A bad expression in an objective is caught like a threshold's. */
	EXPECT_ERR(HEAD ARRIVAL "    start: 1\n    step: 1\n    max: 10\n"
	                        "    objectives:\n      http_req_failed: [\"rate <<< 1\"]\n" FLOW,
	           "t.yaml:12:", "bad threshold");
}

int main(void)
{
	test_example();
	test_factor_vus();
	test_errors();
	return check_done();
}
