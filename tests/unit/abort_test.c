/*
 * Tests for controller/abort (abort rules judged on merged per-interval
 * data: windows, delayAbortEval, waiting for every agent's batch,
 * percentiles from merged histograms, the run's verdict of a windowed
 * threshold), common/ratecap (the plan's peaks, the closed-model budget, the
 * reservation clock) and the plan keys they read (thresholds' object form,
 * maxRate, maxVUs, guards).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/plan.h"
#include "common/ratecap.h"
#include "controller/abort.h"
#include "controller/results.h"
#include "controller/verdict.h"
#include "tests/unit/check.h"

static plan *parse(const char *yaml)
{
	plan *p = NULL;
	char err[1024] = "";
	if (plan_parse(yaml, strlen(yaml), "t.yaml", &p, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "unexpected plan error: %s\n", err);
		CHECK(0);
		return NULL;
	}
	return p;
}

static void expect_err(const char *yaml, const char *want)
{
	plan *p = NULL;
	char err[1024] = "";
	CHECK_EQ_INT(plan_parse(yaml, strlen(yaml), "t.yaml", &p, err, sizeof(err)), HERD_EPLAN);
	CHECK_CONTAINS(err, want);
	plan_free(p);
}

#define HEAD                                                                                                 \
	"target: http://127.0.0.1:1\n"                                                                       \
	"scenarios:\n"                                                                                       \
	"  main:\n"                                                                                          \
	"    executor: constant-vus\n"                                                                       \
	"    duration: 30s\n"                                                                                \
	"    flow:\n"                                                                                        \
	"      - get: /x\n"

static void test_plan_keys(void)
{
	plan *p = parse(
	    HEAD "maxRate: 100\nmaxVUs: 20\n"
	         "guards:\n  health: { url: https://h/healthz }\n"
	         "thresholds:\n"
	         "  http_req_failed:\n"
	         "    - { threshold: \"rate < 0.05\", abortOnFail: true, delayAbortEval: 10s, window: 30s }\n"
	         "    - \"rate < 0.1\"\n");
	if (p != NULL) {
		CHECK_EQ_INT(p->max_rate, 100);
		CHECK_EQ_INT(p->max_vus_cap, 20);
		CHECK_EQ_INT(p->caps_line, 8);
		CHECK_EQ_INT(p->caps_col, 1);
		CHECK_EQ_STR(p->health.url, "https://h/healthz");
		CHECK_EQ_INT(p->health.every_ms, 5000);
		CHECK_EQ_INT(p->health.failures, 3);
		CHECK_EQ_INT(p->health.timeout_ms, 2000);
		CHECK_EQ_INT(p->nthresholds, 2);
		CHECK(p->thresholds[0].abort_on_fail);
		CHECK_EQ_INT(p->thresholds[0].delay_abort_ms, 10000);
		CHECK_EQ_INT(p->thresholds[0].window_ms, 30000);
		CHECK(!p->thresholds[1].abort_on_fail);
		CHECK_EQ_INT(p->thresholds[1].window_ms, 0);
		plan_free(p);
	}
	expect_err(HEAD "guards:\n  health: { url: ftp://h/x }\n",
	           "t.yaml:9:18: the health 'url' must start with http:// or https://, got 'ftp://h/x'");
	expect_err(HEAD "guards:\n  health: { url: \"ws://h/x\" }\n", "must start with http:// or https://");
	expect_err(HEAD "guards:\n  health: { every: 1s }\n", "t.yaml:9:3: 'health' needs 'url'");
	expect_err(HEAD "guards:\n  health: { url: http://h/, every: 1s, timeout: 2s }\n",
	           "the health 'timeout' (2000 ms) is longer than 'every' (1000 ms)");
	expect_err(HEAD "guards:\n  health: { url: http://h/, failures: 0 }\n",
	           "'failures' must be at least 1");
	expect_err(HEAD "guards:\n  helth: {}\n", "t.yaml:9:3: unknown key 'helth' in 'guards'");
	expect_err(HEAD "maxRate: 0\n", "t.yaml:8:10: 'maxRate' must be at least 1");
	expect_err(HEAD "maxVUs: 1.5\n", "t.yaml:8:9: ");
}

static const char open_plan[] =
    "target: http://127.0.0.1:1\n"
    "scenarios:\n"
    "  browse:\n"
    "    executor: constant-arrival-rate\n"
    "    rate: 50\n"
    "    duration: 5s\n"
    "    preAllocatedVUs: 10\n"
    "    flows:\n"
    "      a: { weight: 3, steps: [ { get: /a }, { get: /b } ] }\n"
    "      b: { weight: 1, steps: [ { get: /a }, { think: 1s }, { get: /b }, { get: /c }, { get: /d } ] }\n"
    "  later:\n"
    "    executor: ramping-arrival-rate\n"
    "    startTime: 2s\n"
    "    timeUnit: 2s\n"
    "    preAllocatedVUs: 10\n"
    "    maxVUs: 30\n"
    "    stages: [ { duration: 2s, target: 40 }, { duration: 2s, target: 0 } ]\n"
    "    flow: [ { get: /x } ]\n"
    "  closed:\n"
    "    executor: ramping-vus\n"
    "    startTime: 1s\n"
    "    stages: [ { duration: 4s, target: 8 }, { duration: 1s, target: 0 } ]\n"
    "    flow: [ { get: /y } ]\n";

static void test_peaks(void)
{
	plan *p = parse(open_plan);
	ratecap_peak pk;
	char msg[1024];
	if (p == NULL)
		return;
	/* Flows by weight: (3 * 2 + 1 * 4) / 4 = 2.5 requests per iteration. */
	CHECK(ratecap_reqs_per_iter(&p->scenarios[0]) == 2.5);
	ratecap_compute(p, &pk);
	/* browse 125/s until 5 s; later ramps to 40 per 2 s = 20/s at 4 s. */
	CHECK(pk.rate > 145 - 1e-9 && pk.rate < 145 + 1e-9);
	CHECK_EQ_INT(pk.rate_at_ms, 4000);
	/* VUs: browse maxVUs 10 (its preAllocatedVUs), later 30, closed 8 at 5 s
	 * (before 5 s later still runs: 10 + 30 + 8 at 5 s from the left). */
	CHECK_EQ_INT(pk.vus, 48);
	CHECK_EQ_INT(pk.vus_at_ms, 5000);
	CHECK(pk.closed);
	CHECK_EQ_INT(ratecap_check(p, msg, sizeof(msg)), 0); /* no caps */
	CHECK_EQ_INT(ratecap_closed_budget(p), -1);
	p->max_rate = 144;
	CHECK_EQ_INT(ratecap_check(p, msg, sizeof(msg)), -1);
	CHECK_CONTAINS(msg, "peak of 145 requests/s at 4 s exceeds maxRate 144/s");
	CHECK_CONTAINS(msg, "browse 50 iterations/s x 2.5 requests per iteration = 125/s, later 20 "
	                    "iterations/s x 1 requests per iteration = 20/s");
	/* 145 fits, but leaves nothing for the closed-model scenario. */
	p->max_rate = 145;
	CHECK_EQ_INT(ratecap_check(p, msg, sizeof(msg)), -1);
	CHECK_CONTAINS(msg, "leaves no whole request/s for the closed-model scenarios");
	p->max_rate = 160;
	CHECK_EQ_INT(ratecap_check(p, msg, sizeof(msg)), 0);
	CHECK_EQ_INT(ratecap_closed_budget(p), 15);
	p->max_vus_cap = 47;
	CHECK_EQ_INT(ratecap_check(p, msg, sizeof(msg)), -1);
	CHECK_CONTAINS(msg, "peak of 48 VUs at 5 s exceeds maxVUs 47");
	CHECK_CONTAINS(msg, "browse 10 maxVUs, later 30 maxVUs, closed 8 VUs");
	p->max_vus_cap = 48;
	CHECK_EQ_INT(ratecap_check(p, msg, sizeof(msg)), 0);
	plan_free(p);
}

/* A schedule's caps over the plan's own: the lower of each, 0 meaning none. */
static void test_tighten(void)
{
	plan *p = parse(open_plan);
	if (p == NULL)
		return;
	CHECK_EQ_INT(ratecap_lower(0, 0), 0);
	CHECK_EQ_INT(ratecap_lower(0, 7), 7);
	CHECK_EQ_INT(ratecap_lower(7, 0), 7);
	CHECK_EQ_INT(ratecap_lower(9, 7), 7);
	CHECK_EQ_INT(ratecap_lower(7, 9), 7);
	ratecap_tighten(p, 0, 0); /* no schedule caps: none */
	CHECK_EQ_INT(p->max_rate, 0);
	CHECK_EQ_INT(p->max_vus_cap, 0);
	ratecap_tighten(p, 200, 60);
	CHECK_EQ_INT(p->max_rate, 200);
	CHECK_EQ_INT(p->max_vus_cap, 60);
	CHECK_EQ_INT(ratecap_closed_budget(p), 55);
	ratecap_tighten(p, 300, 50); /* a looser rate leaves the tighter one */
	CHECK_EQ_INT(p->max_rate, 200);
	CHECK_EQ_INT(p->max_vus_cap, 50);
	ratecap_tighten(p, 150, 0);
	CHECK_EQ_INT(ratecap_closed_budget(p), 5);
	plan_free(p);
}

static void test_bucket(void)
{
	ratecap_bucket b;
	const int64_t ms = 1000000;
	ratecap_bucket_init(&b, 10);
	/* 10/s: one slot every (1000 + slack) / 10 ms, from the first request. */
	CHECK_EQ_INT(b.spacing_ns, 110 * ms);
	CHECK_EQ_INT(ratecap_reserve(&b, 1000 * ms), 1000 * ms);
	CHECK_EQ_INT(ratecap_reserve(&b, 1000 * ms), 1110 * ms);
	CHECK_EQ_INT(ratecap_reserve(&b, 1001 * ms), 1220 * ms);
	/* Idle time is not saved up: no burst after a pause. */
	CHECK_EQ_INT(ratecap_reserve(&b, 5000 * ms), 5000 * ms);
	CHECK_EQ_INT(ratecap_reserve(&b, 5000 * ms), 5110 * ms);
	/* In any 1 s + slack there are at most k slots. */
	ratecap_bucket_init(&b, 7);
	int64_t t[50];
	for (int i = 0; i < 50; i++)
		t[i] = ratecap_reserve(&b, 0);
	for (int i = 0; i + 7 < 50; i++)
		CHECK(t[i + 7] - t[i] >= (1000 + RATECAP_SLACK_MS) * ms);
	ratecap_bucket_init(&b, 0);
	CHECK_EQ_INT(ratecap_reserve(&b, 0), INT64_MAX);
}

/* One batch entry of http_req_duration: n requests of us µs each, failed
 * ones answered 5xx. */
static void entry(wire_entry *e, uint64_t n, uint64_t failed, uint64_t us)
{
	memset(e, 0, sizeof(*e));
	e->metric = "http_req_duration";
	e->scenario = "main";
	e->name = "/x";
	e->method = "GET";
	e->status_class = failed ? 5 : 2;
	e->count = n;
	e->errors[ERRK_HTTP5XX] = failed;
	e->h = hist_new();
	hist_record_n(e->h, us, (uint32_t)n);
}

/* Feeds agent's batch for interval k to a (and to whole when not NULL). */
static void batch(abort_rules *a, results *whole, const char *agent, int64_t k, uint64_t ok_n,
                  uint64_t fail_n, uint64_t us)
{
	wire_entry e[2];
	size_t n = 0;
	if (ok_n > 0)
		entry(&e[n++], ok_n, 0, us);
	if (fail_n > 0)
		entry(&e[n++], fail_n, fail_n, us);
	CHECK_EQ_INT(abort_add_batch(a, agent, k * 1000, e, n), HERD_OK);
	if (whole != NULL)
		CHECK_EQ_INT(results_add_batch(whole, agent, k * 1000, e, n), HERD_OK);
	for (size_t i = 0; i < n; i++)
		hist_free(e[i].h);
}

/* The rules of a plan with these thresholds (YAML lines under
 * `thresholds:`), waiting for nagents agents; NULL (a failed check) when
 * they cannot be made. *p gets the plan (free it with plan_free). */
static abort_rules *rules_for(const char *thresholds, size_t nagents, plan **p)
{
	char yaml[2048];
	abort_rules *a = NULL;
	snprintf(yaml, sizeof(yaml), HEAD "thresholds:\n%s", thresholds);
	*p = parse(yaml);
	if (*p == NULL || abort_new(*p, 1000, nagents, &a) != HERD_OK) {
		CHECK(0);
		return NULL;
	}
	return a;
}

static void test_window_not_diluted(void)
{
	plan *p = NULL;
	abort_rules *a = rules_for("  http_req_failed:\n"
	                           "    - { threshold: \"rate < 0.5\", abortOnFail: true }\n"
	                           "    - { threshold: \"rate < 0.5\", abortOnFail: true, window: 3s }\n",
	                           1, &p);
	abort_breach b;
	int fired = 0;
	if (a == NULL)
		goto out;
	CHECK_EQ_INT(abort_count(a), 2);
	/* 20 good seconds, then every request fails. */
	for (int64_t k = 0; k < 20; k++) {
		batch(a, NULL, "a1", k, 100, 0, 1000);
		CHECK_EQ_INT(abort_judge(a, (k + 1) * 1000, &b, &fired), HERD_OK);
		CHECK(!fired);
	}
	batch(a, NULL, "a1", 20, 0, 100, 1000);
	abort_judge(a, 21000, &b, &fired);
	CHECK(!fired); /* the window: 100 of 300 */
	batch(a, NULL, "a1", 21, 0, 100, 1000);
	abort_judge(a, 22000, &b, &fired);
	CHECK(fired); /* 200 of 300; the whole run: 200 of 2200 */
	if (fired) {
		CHECK_EQ_INT(b.threshold, 1);
		CHECK_EQ_INT(b.window_ms, 3000);
		CHECK_EQ_INT(b.at_ms, 22000);
		CHECK(b.value > 0.666 && b.value < 0.667);
		char text[256];
		abort_describe(&b, text, sizeof(text));
		CHECK_CONTAINS(
		    text,
		    "threshold 'http_req_failed: rate < 0.5' failed over the last 3 s: 0.666667 at 22 s");
	}
out:
	abort_free(a);
	plan_free(p);
}

static void test_delay(void)
{
	plan *p = NULL;
	abort_rules *a = rules_for(
	    "  http_req_failed: [ { threshold: \"rate < 0.5\", abortOnFail: true, delayAbortEval: 3s } ]\n",
	    1, &p);
	abort_breach b;
	int fired = 0;
	if (a == NULL)
		goto out;
	for (int64_t k = 0; k < 3; k++) {
		batch(a, NULL, "a1", k, 0, 50, 1000);
		abort_judge(a, (k + 1) * 1000, &b, &fired);
		CHECK_EQ_INT(fired, k == 2);
	}
	CHECK_EQ_INT(b.at_ms, 3000);
out:
	abort_free(a);
	plan_free(p);
}

static void test_waits_for_agents(void)
{
	plan *p = NULL;
	abort_rules *a = rules_for(
	    "  http_req_failed: [ { threshold: \"rate < 0.5\", abortOnFail: true, window: 1s } ]\n", 2, &p);
	abort_breach b;
	int fired = 0;
	if (a == NULL)
		goto out;
	/* Agent a1's failures alone would fail the rule; a2's batch of the same
	 * interval, late by 300 ms, is waited for and makes it pass. */
	batch(a, NULL, "a1", 0, 0, 100, 1000);
	abort_judge(a, 1100, &b, &fired);
	CHECK(!fired);
	batch(a, NULL, "a2", 0, 300, 0, 1000);
	abort_judge(a, 1300, &b, &fired);
	CHECK(!fired);
	/* Interval 1: a2 never sends it; judged without it after the grace. */
	batch(a, NULL, "a1", 1, 0, 100, 1000);
	abort_judge(a, 2000 + ABORT_GRACE_MS - 1, &b, &fired);
	CHECK(!fired);
	abort_judge(a, 2000 + ABORT_GRACE_MS, &b, &fired);
	CHECK(fired);
	CHECK_EQ_INT(b.at_ms, 2000);
	/* A late batch of an interval already judged is taken without error
	 * (the run's results count it; the rules do not). */
	batch(a, NULL, "a2", 1, 1000, 0, 1000);
out:
	abort_free(a);
	plan_free(p);
}

static void test_merged_percentiles(void)
{
	plan *p = NULL;
	abort_rules *a = rules_for(
	    "  http_req_duration: [ { threshold: \"p(95) < 300\", abortOnFail: true, window: 1s } ]\n", 2,
	    &p);
	abort_breach b;
	int fired = 0;
	if (a == NULL)
		goto out;
	/* 1000 fast requests on one agent, 40 slow on the other: 3.8% slow, p95
	 * of the merged histogram is fast (an average of the agents' p95s would be
	 * 255 ms). */
	batch(a, NULL, "a1", 0, 1000, 0, 10000);
	batch(a, NULL, "a2", 0, 40, 0, 500000);
	abort_judge(a, 1000, &b, &fired);
	CHECK(!fired);
	/* 100 slow of 1100: 9%, p95 is slow. */
	batch(a, NULL, "a1", 1, 1000, 0, 10000);
	batch(a, NULL, "a2", 1, 100, 0, 500000);
	abort_judge(a, 2000, &b, &fired);
	CHECK(fired);
	CHECK(b.value > 495 && b.value < 505);
out:
	abort_free(a);
	plan_free(p);
}

static void test_patch_verdicts(void)
{
	plan *p = parse(HEAD "thresholds:\n"
	                     "  http_req_failed: [ { threshold: \"rate < 0.5\", window: 2s } ]\n"
	                     "  http_req_duration: [ \"p(95) < 300\" ]\n");
	abort_rules *a = NULL;
	results *whole = NULL;
	verdict_set *vs = NULL;
	abort_breach b;
	int fired = 0;
	if (p == NULL || abort_new(p, 1000, 1, &a) != HERD_OK || results_new(1000, &whole) != HERD_OK)
		goto out;
	/* Two bad seconds in ten, the last two: the whole run passes (0.18), a
	 * 2 s window fails. The run ends before the watch loop judged them. */
	for (int64_t k = 0; k < 10; k++) {
		int bad = k >= 8;
		batch(a, whole, "a1", k, bad ? 10 : 100, bad ? 90 : 0, 1000);
		if (k < 8)
			abort_judge(a, (k + 1) * 1000, &b, &fired);
		CHECK(!fired); /* no abortOnFail */
	}
	abort_finish(a, 10000);
	if (verdict_eval_plan(p, whole, &vs) != HERD_OK)
		goto out;
	CHECK(vs->v[0].ok);
	CHECK_EQ_INT(vs->nfailed, 0);
	CHECK_EQ_INT(abort_patch_verdicts(a, vs), HERD_OK);
	CHECK(!vs->v[0].ok);
	CHECK(vs->v[0].observed > 0.899 && vs->v[0].observed < 0.901);
	CHECK_EQ_STR(vs->v[0].expr, "rate < 0.5 (window 2s)");
	CHECK_EQ_INT(vs->nfailed, 1);
	CHECK(vs->v[1].ok);
out:
	verdict_set_free(vs);
	results_free(whole);
	abort_free(a);
	plan_free(p);
}

int main(void)
{
	test_plan_keys();
	test_peaks();
	test_tighten();
	test_bucket();
	test_window_not_diluted();
	test_delay();
	test_waits_for_agents();
	test_merged_percentiles();
	test_patch_verdicts();
	return check_done();
}
