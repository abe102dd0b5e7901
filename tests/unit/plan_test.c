/*
 * Tests for common/plan: the reference plan with every field checked,
 * defaults, durations, JSON bodies and URLs, one test per kind of error with
 * its exact file:line:column, and hostile input (aliases, nesting, huge
 * numbers, bytes that are not YAML) that must fail cleanly under ASan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/plan.h"
#include "common/sbuf.h"
#include "tests/unit/check.h"

static const char smoke_yaml[] = "name: smoke\n"
                                 "target: http://127.0.0.1:8080\n"
                                 "scenarios:\n"
                                 "  browse:\n"
                                 "    executor: constant-vus\n"
                                 "    vus: 20\n"
                                 "    duration: 10s\n"
                                 "    flow:\n"
                                 "      - get: /small\n"
                                 "        name: small\n"
                                 "        check: { status: 200 }\n"
                                 "  orders:\n"
                                 "    executor: constant-arrival-rate\n"
                                 "    rate: 200\n"
                                 "    timeUnit: 1s\n"
                                 "    duration: 10s\n"
                                 "    preAllocatedVUs: 20\n"
                                 "    maxVUs: 50\n"
                                 "    flow:\n"
                                 "      - post: /api/orders\n"
                                 "        headers: { Authorization: \"Bearer abc\" }\n"
                                 "        json: { item: 42, qty: 1 }\n"
                                 "  ramp:\n"
                                 "    executor: ramping-vus\n"
                                 "    startTime: 2s\n"
                                 "    stages:\n"
                                 "      - { duration: 5s, target: 10 }\n"
                                 "      - { duration: 5s, target: 0 }\n"
                                 "    flow:\n"
                                 "      - get: /slow\n"
                                 "        timeout: 2s\n"
                                 "      - think: 100ms..300ms\n"
                                 "thresholds:\n"
                                 "  http_req_duration: [\"p(95) < 500\"]\n"
                                 "  \"http_req_duration{scenario:browse}\": [\"p(99) < 1000\"]\n"
                                 "  http_req_failed: [\"rate < 0.01\"]\n";

static plan *parse_ok_as(const char *yaml, const char *file)
{
	plan *p = NULL;
	char err[512] = "";
	int rv = plan_parse(yaml, strlen(yaml), file, &p, err, sizeof(err));
	CHECK_EQ_INT(rv, HERD_OK);
	if (rv != HERD_OK)
		fprintf(stderr, "  unexpected error: %s\n", err);
	return p;
}

static plan *parse_ok(const char *yaml)
{
	return parse_ok_as(yaml, "t.yaml");
}

/*
 * Parses yaml as "t.yaml", expects HERD_EPLAN, an error that starts with
 * where ("t.yaml:3:5: ") and contains want.
 */
static void expect_err(int line, const char *yaml, const char *where, const char *want)
{
	plan *p = (plan *)0x1;
	char err[512] = "";
	int rv = plan_parse(yaml, strlen(yaml), "t.yaml", &p, err, sizeof(err));
	check_total_++;
	if (rv != HERD_EPLAN || strncmp(err, where, strlen(where)) != 0 || strstr(err, want) == NULL ||
	    p != (plan *)0x1) {
		check_failed_++;
		fprintf(stderr, "%s:%d: rv %d, error \"%s\"; want \"%s...%s\"\n", __FILE__, line, rv, err,
		        where, want);
	}
}
#define EXPECT_ERR(yaml, where, want) expect_err(__LINE__, yaml, where, want)

/* A valid scenario head, for error tests that only vary the flow. */
#define HEAD                                                                                       \
	"target: http://h:1\n"                                                                         \
	"scenarios:\n"                                                                                 \
	"  s:\n"                                                                                       \
	"    executor: constant-vus\n"                                                                 \
	"    duration: 1s\n"

static void test_smoke_plan(void)
{
	plan *p = parse_ok(smoke_yaml);
	const plan_scenario *s;
	const plan_step *st;

	if (p == NULL)
		return;
	CHECK_EQ_STR(p->file, "t.yaml");
	CHECK_EQ_STR(p->name, "smoke");
	CHECK_EQ_STR(p->target, "http://127.0.0.1:8080");
	CHECK_EQ_INT(p->nscenarios, 3);

	s = &p->scenarios[0];
	CHECK_EQ_STR(s->name, "browse");
	CHECK_EQ_INT(s->line, 4);
	CHECK_EQ_INT(s->col, 3);
	CHECK_EQ_INT(s->executor, EXEC_CONSTANT_VUS);
	CHECK_EQ_STR(plan_executor_name(s->executor), "constant-vus");
	CHECK_EQ_INT(s->vus, 20);
	CHECK_EQ_INT(s->duration_ms, 10000);
	CHECK_EQ_INT(s->start_ms, 0);
	CHECK_EQ_INT(s->graceful_stop_ms, 30000);
	CHECK_EQ_INT(s->nsteps, 1);
	st = &s->steps[0];
	CHECK_EQ_INT(st->kind, STEP_HTTP);
	CHECK_EQ_INT(st->line, 9);
	CHECK_EQ_INT(st->col, 9);
	CHECK_EQ_INT(st->method, HM_GET);
	CHECK_EQ_STR(st->path, "/small");
	CHECK_EQ_STR(st->url, "http://127.0.0.1:8080/small");
	CHECK_EQ_STR(st->name, "small");
	CHECK_EQ_INT(st->nchecks, 1);
	CHECK(st->nchecks == 1 && st->checks[0].kind == CHK_STATUS && st->checks[0].statuses[0] == 200);
	CHECK(st->nchecks == 1 && strcmp(st->checks[0].name, "small: status is 200") == 0);
	CHECK(st->body == NULL);
	CHECK_EQ_INT(st->nheaders, 0);
	CHECK_EQ_INT(st->timeout_ms, 0);
	CHECK_EQ_INT(plan_scenario_length_ms(s), 10000);

	s = &p->scenarios[1];
	CHECK_EQ_STR(s->name, "orders");
	CHECK_EQ_INT(s->line, 12);
	CHECK_EQ_INT(s->executor, EXEC_CONSTANT_ARRIVAL_RATE);
	CHECK_EQ_INT(s->rate, 200);
	CHECK_EQ_INT(s->time_unit_ms, 1000);
	CHECK_EQ_INT(s->duration_ms, 10000);
	CHECK_EQ_INT(s->pre_allocated_vus, 20);
	CHECK_EQ_INT(s->max_vus, 50);
	CHECK_EQ_INT(s->nsteps, 1);
	st = &s->steps[0];
	CHECK_EQ_INT(st->method, HM_POST);
	CHECK_EQ_STR(st->path, "/api/orders");
	CHECK_EQ_STR(st->url, "http://127.0.0.1:8080/api/orders");
	CHECK_EQ_STR(st->name, "/api/orders");
	CHECK_EQ_INT(st->nheaders, 1);
	if (st->nheaders == 1) {
		CHECK_EQ_STR(st->headers[0].name, "Authorization");
		CHECK_EQ_STR(st->headers[0].value, "Bearer abc");
	}
	CHECK_EQ_STR(st->body, "{\"item\":42,\"qty\":1}");
	CHECK_EQ_INT(st->body_len, strlen("{\"item\":42,\"qty\":1}"));
	CHECK_EQ_INT(st->body_is_json, 1);
	CHECK_EQ_INT(st->nchecks, 0);
	CHECK_EQ_INT(plan_scenario_length_ms(s), 10000);

	s = &p->scenarios[2];
	CHECK_EQ_STR(s->name, "ramp");
	CHECK_EQ_INT(s->executor, EXEC_RAMPING_VUS);
	CHECK_EQ_INT(s->start_ms, 2000);
	CHECK_EQ_INT(s->start_vus, 0);
	CHECK_EQ_INT(s->nstages, 2);
	if (s->nstages == 2) {
		CHECK_EQ_INT(s->stages[0].duration_ms, 5000);
		CHECK_EQ_INT(s->stages[0].target, 10);
		CHECK_EQ_INT(s->stages[1].duration_ms, 5000);
		CHECK_EQ_INT(s->stages[1].target, 0);
	}
	CHECK_EQ_INT(s->nsteps, 2);
	if (s->nsteps == 2) {
		st = &s->steps[0];
		CHECK_EQ_INT(st->kind, STEP_HTTP);
		CHECK_EQ_STR(st->url, "http://127.0.0.1:8080/slow");
		CHECK_EQ_STR(st->name, "/slow");
		CHECK_EQ_INT(st->timeout_ms, 2000);
		st = &s->steps[1];
		CHECK_EQ_INT(st->kind, STEP_THINK);
		CHECK_EQ_INT(st->line, 32);
		CHECK_EQ_INT(st->col, 9);
		CHECK_EQ_INT(st->think_min_ms, 100);
		CHECK_EQ_INT(st->think_max_ms, 300);
	}
	CHECK_EQ_INT(plan_scenario_length_ms(s), 10000);

	CHECK_EQ_INT(p->nthresholds, 3);
	if (p->nthresholds == 3) {
		CHECK_EQ_STR(p->thresholds[0].metric, "http_req_duration");
		CHECK_EQ_STR(p->thresholds[0].expr, "p(95) < 500");
		CHECK_EQ_INT(p->thresholds[0].line, 34);
		CHECK_EQ_INT(p->thresholds[0].col, 23);
		CHECK_EQ_STR(p->thresholds[1].metric, "http_req_duration{scenario:browse}");
		CHECK_EQ_STR(p->thresholds[1].expr, "p(99) < 1000");
		CHECK_EQ_INT(p->thresholds[1].line, 35);
		CHECK_EQ_STR(p->thresholds[2].metric, "http_req_failed");
		CHECK_EQ_STR(p->thresholds[2].expr, "rate < 0.01");
	}
	/* ramp ends last: 2 s start + 10 s of stages + 30 s graceful stop. */
	CHECK_EQ_INT(plan_total_ms(p), 42000);
	plan_free(p);
}

static void test_defaults(void)
{
	plan *p = parse_ok_as("target: https://example.com/\n"
	                      "scenarios:\n"
	                      "  once:\n"
	                      "    executor: per-vu-iterations\n"
	                      "    flow: [ { get: /a } ]\n"
	                      "  arrive:\n"
	                      "    executor: constant-arrival-rate\n"
	                      "    rate: 5\n"
	                      "    duration: 1m\n"
	                      "    preAllocatedVUs: 3\n"
	                      "    gracefulStop: 0s\n"
	                      "    flow: [ { think: 1s } ]\n"
	                      "  cv:\n"
	                      "    executor: constant-vus\n"
	                      "    duration: 1s\n"
	                      "    flow: [ { head: /h } ]\n",
	                      "plans/dir.v2/load-test.yaml");
	if (p == NULL)
		return;
	CHECK_EQ_STR(p->name, "load-test");
	CHECK_EQ_STR(p->target, "https://example.com");
	CHECK_EQ_INT(p->nthresholds, 0);
	CHECK_EQ_INT(p->scenarios[0].vus, 1);
	CHECK_EQ_INT(p->scenarios[0].iterations, 1);
	CHECK_EQ_INT(p->scenarios[0].max_duration_ms, 600000);
	CHECK_EQ_INT(p->scenarios[0].graceful_stop_ms, 30000);
	CHECK_EQ_INT(plan_scenario_length_ms(&p->scenarios[0]), 600000);
	CHECK_EQ_STR(p->scenarios[0].steps[0].url, "https://example.com/a");
	CHECK_EQ_INT(p->scenarios[1].time_unit_ms, 1000);
	CHECK_EQ_INT(p->scenarios[1].max_vus, 3);
	CHECK_EQ_INT(p->scenarios[1].graceful_stop_ms, 0);
	CHECK_EQ_INT(p->scenarios[1].steps[0].kind, STEP_THINK);
	CHECK_EQ_INT(p->scenarios[1].steps[0].think_min_ms, 1000);
	CHECK_EQ_INT(p->scenarios[1].steps[0].think_max_ms, 1000);
	CHECK_EQ_INT(p->scenarios[2].vus, 1);
	CHECK_EQ_INT(p->scenarios[2].steps[0].method, HM_HEAD);
	/* per-vu-iterations: 10 min maxDuration + 30 s graceful stop. */
	CHECK_EQ_INT(plan_total_ms(p), 630000);
	plan_free(p);

	/* Without a file name the plan is still named. */
	p = parse_ok_as(HEAD "    flow: [ { get: / } ]\n", NULL);
	if (p != NULL) {
		CHECK_EQ_STR(p->name, "plan");
		CHECK_EQ_STR(p->file, "<plan>");
		plan_free(p);
	}
	p = parse_ok_as(HEAD "    flow: [ { get: / } ]\n", "noext");
	if (p != NULL) {
		CHECK_EQ_STR(p->name, "noext");
		plan_free(p);
	}
}

static void duration_is(const char *s, int64_t want)
{
	int64_t ms = -1;
	int rv = plan_parse_duration(s, &ms);
	CHECK_EQ_INT(rv, HERD_OK);
	if (ms != want)
		fprintf(stderr, "  duration '%s'\n", s);
	CHECK_EQ_INT(ms, want);
}

static void duration_bad(const char *s)
{
	int64_t ms = 1234;
	int rv = plan_parse_duration(s, &ms);
	if (rv != HERD_EINVAL)
		fprintf(stderr, "  duration '%s' was accepted\n", s);
	CHECK_EQ_INT(rv, HERD_EINVAL);
	CHECK_EQ_INT(ms, 1234);
}

static void test_durations(void)
{
	duration_is("250ms", 250);
	duration_is("10s", 10000);
	duration_is("1.5s", 1500);
	duration_is("0.1s", 100);
	duration_is(".5s", 500);
	duration_is("2m", 120000);
	duration_is("1h", 3600000);
	duration_is("1m30s", 90000);
	duration_is("1h2m3s4ms", 3723004);
	duration_is("0s", 0);
	duration_is("0.0004s", 0);
	duration_is("1.0005s", 1001);
	duration_is("1.123456789123s", 1123);
	duration_bad("");
	duration_bad("0");
	duration_bad("10");
	duration_bad("10x");
	duration_bad("100us");
	duration_bad("100ns");
	duration_bad("-1s");
	duration_bad("+1s");
	duration_bad("1 s");
	duration_bad(" 1s");
	duration_bad("s");
	duration_bad(".s");
	duration_bad("1s2");
	duration_bad("1d");
	duration_bad("99999999999999999999ms");
	duration_bad("9999999999999999h");
	duration_bad("5124095576030431h1h");
	CHECK_EQ_INT(plan_parse_duration(NULL, NULL), HERD_EINVAL);
}

static void test_json_bodies(void)
{
	plan *p = parse_ok(HEAD "    flow:\n"
	                        "      - post: /a\n"
	                        "        json:\n"
	                        "          i: 42\n"
	                        "          s: \"42\"\n"
	                        "          q: '7'\n"
	                        "          f: 1.5\n"
	                        "          g: 0.1\n"
	                        "          e: 1e3\n"
	                        "          neg: -3\n"
	                        "          hex: 0x1F\n"
	                        "          t: true\n"
	                        "          n: null\n"
	                        "          tilde: ~\n"
	                        "          str: hello world\n"
	                        "          tagged: !!str 5\n"
	                        "          list: [1, two, [3], {four: 4}]\n"
	                        "          \"quoted key\": \"a\\\"b\\u00e9\"\n"
	                        "          empty: {}\n"
	                        "          lit: |\n"
	                        "            line\n"
	                        "      - put: /b\n"
	                        "        json: [1, 2]\n"
	                        "      - patch: /c\n"
	                        "        json: just text\n"
	                        "      - delete: /d\n"
	                        "        body: raw body\n"
	                        "      - post: /e\n"
	                        "        json: 9223372036854775807\n");
	if (p == NULL)
		return;
	const plan_scenario *s = &p->scenarios[0];
	CHECK_EQ_STR(s->steps[0].body,
	             "{\"i\":42,\"s\":\"42\",\"q\":\"7\",\"f\":1.5,\"g\":0.1,\"e\":1000.0,\"neg\":-3,"
	             "\"hex\":31,\"t\":true,\"n\":null,\"tilde\":null,\"str\":\"hello world\","
	             "\"tagged\":\"5\",\"list\":[1,\"two\",[3],{\"four\":4}],"
	             "\"quoted key\":\"a\\\"b\xc3\xa9\",\"empty\":{},\"lit\":\"line\\n\"}");
	CHECK_EQ_INT(s->steps[0].body_is_json, 1);
	CHECK_EQ_INT(s->steps[0].body_len, strlen(s->steps[0].body));
	CHECK_EQ_INT(s->steps[1].method, HM_PUT);
	CHECK_EQ_STR(s->steps[1].body, "[1,2]");
	CHECK_EQ_INT(s->steps[2].method, HM_PATCH);
	CHECK_EQ_STR(s->steps[2].body, "\"just text\"");
	CHECK_EQ_INT(s->steps[3].method, HM_DELETE);
	CHECK_EQ_STR(s->steps[3].body, "raw body");
	CHECK_EQ_INT(s->steps[3].body_len, 8);
	CHECK_EQ_INT(s->steps[3].body_is_json, 0);
	CHECK_EQ_STR(s->steps[4].body, "9223372036854775807");
	plan_free(p);
}

static void test_urls_and_requests(void)
{
	plan *p = parse_ok("target: http://h:8080//\n"
	                   "scenarios:\n"
	                   "  s:\n"
	                   "    executor: constant-vus\n"
	                   "    duration: 1s\n"
	                   "    flow:\n"
	                   "      - get: /search\n"
	                   "        query: { q: \"a b&c=d/é\", page: 2, exact: true }\n"
	                   "      - get: /x?fixed=1\n"
	                   "        query: { more: yes }\n"
	                   "      - get: https://other.example/abs\n"
	                   "        headers:\n"
	                   "          X-Num: 5\n"
	                   "          Accept: application/json\n"
	                   "          X-Empty: \"\"\n"
	                   "        check: { status: 404, body_contains: \"not found\" }\n"
	                   "      - get: /y\n"
	                   "        check:\n"
	                   "          body: ok\n"
	                   "      - think: 2s .. 3s\n");
	if (p == NULL)
		return;
	const plan_scenario *s = &p->scenarios[0];
	CHECK_EQ_STR(p->target, "http://h:8080");
	CHECK_EQ_STR(s->steps[0].url,
	             "http://h:8080/search?q=a%20b%26c%3Dd%2F%C3%A9&page=2&exact=true");
	CHECK_EQ_STR(s->steps[0].name, "/search");
	CHECK_EQ_STR(s->steps[1].url, "http://h:8080/x?fixed=1&more=yes");
	CHECK_EQ_STR(s->steps[2].url, "https://other.example/abs");
	CHECK_EQ_STR(s->steps[2].name, "https://other.example/abs");
	CHECK_EQ_INT(s->steps[2].nheaders, 3);
	CHECK_EQ_STR(s->steps[2].headers[0].name, "X-Num");
	CHECK_EQ_STR(s->steps[2].headers[0].value, "5");
	CHECK_EQ_STR(s->steps[2].headers[1].name, "Accept");
	CHECK_EQ_STR(s->steps[2].headers[1].value, "application/json");
	CHECK_EQ_STR(s->steps[2].headers[2].value, "");
	CHECK_EQ_INT(s->steps[2].nchecks, 2);
	CHECK(s->steps[2].nchecks == 2 && s->steps[2].checks[0].statuses[0] == 404);
	CHECK(s->steps[2].nchecks == 2 && s->steps[2].checks[1].kind == CHK_BODY &&
	      strstr(s->steps[2].checks[1].name, "body contains \"not found\"") != NULL);
	CHECK_EQ_INT(s->steps[3].nchecks, 1);
	CHECK(s->steps[3].nchecks == 1 && s->steps[3].checks[0].kind == CHK_BODY &&
	      strstr(s->steps[3].checks[0].name, "body contains \"ok\"") != NULL);
	CHECK_EQ_INT(s->steps[4].think_min_ms, 2000);
	CHECK_EQ_INT(s->steps[4].think_max_ms, 3000);
	plan_free(p);

	/* No target is fine when every step has a full URL. */
	p = parse_ok("scenarios:\n"
	             "  s:\n"
	             "    executor: per-vu-iterations\n"
	             "    flow:\n"
	             "      - get: http://a.example/x\n"
	             "      - think: 1s\n");
	if (p != NULL) {
		CHECK(p->target == NULL);
		CHECK_EQ_STR(p->scenarios[0].steps[0].url, "http://a.example/x");
		plan_free(p);
	}
}

static void test_aliases_ok(void)
{
	/* Anchors and aliases reuse parts of a plan. */
	plan *p = parse_ok("target: http://h\n"
	                   "scenarios:\n"
	                   "  a:\n"
	                   "    executor: constant-vus\n"
	                   "    duration: &d 5s\n"
	                   "    flow: &f\n"
	                   "      - post: /p\n"
	                   "        headers: &h { X-A: \"1\" }\n"
	                   "        json: &j { k: [1, 2] }\n"
	                   "  b:\n"
	                   "    executor: constant-vus\n"
	                   "    duration: *d\n"
	                   "    flow: *f\n"
	                   "  c:\n"
	                   "    executor: constant-vus\n"
	                   "    duration: 1s\n"
	                   "    flow:\n"
	                   "      - put: /q\n"
	                   "        headers: *h\n"
	                   "        json: { inner: *j }\n");
	if (p == NULL)
		return;
	CHECK_EQ_INT(p->scenarios[1].duration_ms, 5000);
	CHECK_EQ_STR(p->scenarios[1].steps[0].url, "http://h/p");
	CHECK_EQ_STR(p->scenarios[1].steps[0].body, "{\"k\":[1,2]}");
	CHECK_EQ_STR(p->scenarios[2].steps[0].headers[0].value, "1");
	CHECK_EQ_STR(p->scenarios[2].steps[0].body, "{\"inner\":{\"k\":[1,2]}}");
	plan_free(p);
}

/* ---- One test per kind of error, with its exact position ---- */

static void test_err_yaml_syntax(void)
{
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  s: [a, b\n",
	           "t.yaml:4:1: ", "YAML syntax error");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  s:\n"
	           "    executor: constant-vus\n"
	           "     duration: 1s\n",
	           "t.yaml:4:15: ", "YAML syntax error");
	EXPECT_ERR("]\n", "t.yaml:1:1: ", "YAML syntax error");
	/* libfyaml refuses duplicate keys; the second one is reported. */
	EXPECT_ERR("target: http://h\n"
	           "target: http://i\n",
	           "t.yaml:2:1: ", "duplicate key");
	/* Bytes are checked before libfyaml sees them: it loops on some bad UTF-8. */
	EXPECT_ERR("a: \"\xff\xfe\"\n", "t.yaml:1:5: ", "the plan is not valid UTF-8");
	EXPECT_ERR("%e \x9d\n---\na: 1\n", "t.yaml:1:4: ", "not valid UTF-8");
	EXPECT_ERR("name: \"\xc3\xa9\xc3\"\n", "t.yaml:1:9: ", "not valid UTF-8");
	EXPECT_ERR("name: \xed\xa0\x80\n", "t.yaml:1:7: ", "not valid UTF-8");
	EXPECT_ERR("name: \xc0\xaf\n", "t.yaml:1:7: ", "not valid UTF-8");
	EXPECT_ERR("name: \xf4\x90\x80\x80\n", "t.yaml:1:7: ", "not valid UTF-8");
}

static void test_err_unknown_key(void)
{
	EXPECT_ERR(HEAD "    vu: 5\n"
	                "    flow: [ { get: / } ]\n",
	           "t.yaml:6:5: ", "unknown key 'vu' in scenario 's' (did you mean 'vus'?)");
	EXPECT_ERR("targt: http://h\n", "t.yaml:1:1: ", "did you mean 'target'?");
	EXPECT_ERR("target: http://h\n"
	           "options: {}\n",
	           "t.yaml:2:1: ",
	           "unknown key 'options' at the top of the plan; expected one of: name, target, "
	           "scenarios, thresholds");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /\n"
	                "        hedaers: {}\n",
	           "t.yaml:8:9: ", "did you mean 'headers'?");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /\n"
	                "        check: { stauts: 200 }\n",
	           "t.yaml:8:18: ", "did you mean 'status'?");
	EXPECT_ERR(HEAD "    preallocatedvus: 3\n", "t.yaml:6:5: ", "did you mean 'preAllocatedVUs'?");
}

static void test_err_wrong_type(void)
{
	EXPECT_ERR(HEAD "    vus: abc\n", "t.yaml:6:10: ", "'vus' must be a number, got 'abc'");
	EXPECT_ERR(HEAD "    vus: 1.5\n", "t.yaml:6:10: ", "'vus' must be a whole number");
	EXPECT_ERR(HEAD "    vus: \"20\"\n", "t.yaml:6:10: ", "'vus' must be a number");
	EXPECT_ERR(HEAD "    vus: [1]\n", "t.yaml:6:10: ", "'vus' must be a number, not a list");
	EXPECT_ERR(HEAD "    flow: { get: / }\n", "t.yaml:6:11: ", "'flow' must be a list of steps");
	EXPECT_ERR(HEAD "    flow: get /\n", "t.yaml:6:11: ", "'flow' must be a list of steps");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get /x\n",
	           "t.yaml:7:9: ", "a step must be a mapping");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /\n"
	                "        headers: [a]\n",
	           "t.yaml:8:18: ", "'headers' must be a mapping");
	EXPECT_ERR("target: [http://h]\n", "t.yaml:1:9: ", "'target' must be a string");
	EXPECT_ERR("scenarios: [a]\n", "t.yaml:1:12: ", "'scenarios' must be a mapping");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  s: 5\n",
	           "t.yaml:3:6: ", "must be a mapping");
}

/* A scenario head without its duration, for duration errors. */
#define HEAD_CV                                                                                    \
	"target: http://h:1\n"                                                                         \
	"scenarios:\n"                                                                                 \
	"  s:\n"                                                                                       \
	"    executor: constant-vus\n"

static void test_err_bad_duration(void)
{
	EXPECT_ERR(HEAD_CV "    duration: 10x\n", "t.yaml:5:15: ", "bad duration '10x' for 'duration'");
	EXPECT_ERR(HEAD_CV "    duration: 10\n", "t.yaml:5:15: ", "duration needs a unit, e.g. '10s'");
	EXPECT_ERR(HEAD_CV "    duration: 1.5\n", "t.yaml:5:15: ", "duration needs a unit");
	EXPECT_ERR(HEAD_CV "    duration: 100us\n", "t.yaml:5:15: ", "the smallest unit is ms");
	EXPECT_ERR(HEAD_CV "    duration: -5s\n", "t.yaml:5:15: ", "'duration' cannot be negative");
	EXPECT_ERR(HEAD_CV "    duration: 0s\n", "t.yaml:5:15: ", "'duration' must be longer than 0");
	EXPECT_ERR(HEAD_CV "    duration: 9000h\n", "t.yaml:5:15: ", "too long");
	EXPECT_ERR(HEAD_CV "    duration: \"\"\n", "t.yaml:5:15: ", "bad duration");
	EXPECT_ERR(HEAD_CV "    duration:\n", "t.yaml:5:5: ", "'duration' needs a value");
	EXPECT_ERR(HEAD "    gracefulStop: 30\n", "t.yaml:6:19: ", "duration needs a unit");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /\n"
	                "        timeout: 5\n",
	           "t.yaml:8:18: ", "duration needs a unit");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - think: 5\n",
	           "t.yaml:7:16: ", "needs a unit");
}

static void test_err_missing_target(void)
{
	EXPECT_ERR("scenarios:\n"
	           "  s:\n"
	           "    executor: per-vu-iterations\n"
	           "    flow:\n"
	           "      - get: http://a/x\n"
	           "      - get: /small\n",
	           "t.yaml:1:1: ",
	           "plan has no 'target', but the step at 6:9 uses the relative path '/small'");
	/* With a leading comment, the document starts at its first key. */
	EXPECT_ERR("# my plan\n"
	           "scenarios:\n"
	           "  s:\n"
	           "    executor: per-vu-iterations\n"
	           "    flow: [ { get: /a } ]\n",
	           "t.yaml:2:1: ", "plan has no 'target'");
	EXPECT_ERR("target: ftp://h\n", "t.yaml:1:9: ", "must start with http://, https://, ws:// or wss://");
	EXPECT_ERR("target: http://\n", "t.yaml:1:9: ", "has no host");
	EXPECT_ERR("target: \"http://a b\"\n", "t.yaml:1:9: ", "space or control character");
	EXPECT_ERR("target: http://h\n", "t.yaml:1:1: ", "plan has no 'scenarios'");
}

static void test_err_executor(void)
{
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  s:\n"
	           "    executor: constant-users\n",
	           "t.yaml:4:15: ",
	           "unknown executor 'constant-users'; use one of: constant-vus, ramping-vus, "
	           "constant-arrival-rate, per-vu-iterations");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  s:\n"
	           "    executor: constant-vu\n",
	           "t.yaml:4:15: ", "(did you mean 'constant-vus'?)");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  s:\n"
	           "    executor: externally-controlled\n",
	           "t.yaml:4:15: ", "not supported yet");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  s:\n"
	           "    vus: 3\n",
	           "t.yaml:3:3: ", "scenario 's' has no 'executor'");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  s:\n"
	           "    executor: 5\n",
	           "t.yaml:4:15: ", "must be an executor name");
}

static void test_err_missing_required(void)
{
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  browse:\n"
	           "    executor: constant-vus\n"
	           "    vus: 2\n"
	           "    flow: [ { get: / } ]\n",
	           "t.yaml:3:3: ", "scenario 'browse': executor constant-vus needs 'duration'");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  r:\n"
	           "    executor: ramping-vus\n"
	           "    flow: [ { get: / } ]\n",
	           "t.yaml:3:3: ", "executor ramping-vus needs 'stages'");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  a:\n"
	           "    executor: constant-arrival-rate\n"
	           "    duration: 1s\n"
	           "    preAllocatedVUs: 1\n"
	           "    flow: [ { get: / } ]\n",
	           "t.yaml:3:3: ", "executor constant-arrival-rate needs 'rate'");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  a:\n"
	           "    executor: constant-arrival-rate\n"
	           "    duration: 1s\n"
	           "    rate: 1\n"
	           "    flow: [ { get: / } ]\n",
	           "t.yaml:3:3: ", "needs 'preAllocatedVUs'");
	EXPECT_ERR(HEAD, "t.yaml:3:3: ", "scenario 's' has no 'flow'");
	EXPECT_ERR(HEAD "    flow: []\n", "t.yaml:6:11: ", "'flow' is empty");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  r:\n"
	           "    executor: ramping-vus\n"
	           "    stages:\n"
	           "      - { duration: 5s }\n",
	           "t.yaml:6:9: ", "a stage needs 'target'");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  r:\n"
	           "    executor: ramping-vus\n"
	           "    stages: []\n",
	           "t.yaml:5:13: ", "'stages' is empty");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  r:\n"
	           "    executor: ramping-vus\n"
	           "    stages: [ { duration: 0s, target: 5 } ]\n",
	           "t.yaml:5:13: ", "the stages last 0s");
}

static void test_err_not_for_executor(void)
{
	EXPECT_ERR(HEAD "    stages: []\n",
	           "t.yaml:6:5: ", "'stages' is not used by executor constant-vus");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  p:\n"
	           "    executor: per-vu-iterations\n"
	           "    rate: 5\n",
	           "t.yaml:5:5: ", "'rate' is not used by executor per-vu-iterations");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  r:\n"
	           "    duration: 5s\n"
	           "    executor: ramping-vus\n",
	           "t.yaml:4:5: ", "'duration' is not used by executor ramping-vus");
}

static void test_err_range(void)
{
	EXPECT_ERR(HEAD "    vus: 0\n", "t.yaml:6:10: ", "'vus' must be at least 1");
	EXPECT_ERR(HEAD "    vus: -3\n", "t.yaml:6:10: ", "'vus' must be at least 1");
	EXPECT_ERR(HEAD "    vus: 99999999999999999999999\n", "t.yaml:6:10: ", "'vus' is out of range");
	EXPECT_ERR(HEAD "    vus: 2000000000\n", "t.yaml:6:10: ", "'vus' is too large");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  a:\n"
	           "    executor: constant-arrival-rate\n"
	           "    rate: 0\n",
	           "t.yaml:5:11: ", "'rate' must be at least 1");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  a:\n"
	           "    executor: constant-arrival-rate\n"
	           "    rate: 1\n"
	           "    duration: 1s\n"
	           "    preAllocatedVUs: 10\n"
	           "    maxVUs: 5\n"
	           "    flow: [ { get: / } ]\n",
	           "t.yaml:8:13: ", "'maxVUs' (5) is below 'preAllocatedVUs' (10)");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  a:\n"
	           "    executor: constant-arrival-rate\n"
	           "    rate: 1\n"
	           "    duration: 1s\n"
	           "    preAllocatedVUs: 0\n"
	           "    flow: [ { get: / } ]\n",
	           "t.yaml:7:22: ", "needs a VU");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  r:\n"
	           "    executor: ramping-vus\n"
	           "    startVUs: -1\n",
	           "t.yaml:5:15: ", "'startVUs' must not be negative");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  r:\n"
	           "    executor: ramping-vus\n"
	           "    stages:\n"
	           "      - { duration: 1s, target: -2 }\n",
	           "t.yaml:6:33: ", "'target' must not be negative");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /\n"
	                "        check: { status: 99 }\n",
	           "t.yaml:8:26: ", "'status' must be at least 100");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /\n"
	                "        check: { status: 600 }\n",
	           "t.yaml:8:26: ", "'status' is too large (the limit is 599)");
}

static void test_err_steps(void)
{
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - name: lonely\n",
	           "t.yaml:7:9: ",
	           "a step needs a request (get, post, put, patch, delete or head), a 'ws' session or a 'think'");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /a\n"
	                "        post: /b\n",
	           "t.yaml:8:9: ",
	           "a step makes one request, but this one has both 'get' (line 7) and 'post'");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /a\n"
	                "        think: 1s\n",
	           "t.yaml:8:9: ", "a step is either a request or a think, not both");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - think: 1s\n"
	                "        headers: { A: b }\n",
	           "t.yaml:8:9: ", "'headers' is not used by a think step");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - post: /a\n"
	                "        body: x\n"
	                "        json: { a: 1 }\n",
	           "t.yaml:9:9: ", "a step takes one of 'json', 'body', 'form' or 'bodyFile'");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: small\n",
	           "t.yaml:7:14: ", "path 'small' must start with '/'");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /a b\n",
	           "t.yaml:7:14: ", "space or control character");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /\n"
	                "        headers: { \"Bad Name\": x }\n",
	           "t.yaml:8:20: ", "header name 'Bad Name' has a character that is not allowed");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /\n"
	                "        headers: { X: \"a\\r\\nB: c\" }\n",
	           "t.yaml:8:23: ", "line break");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /\n"
	                "        query: { a: [1] }\n",
	           "t.yaml:8:21: ", "'a' must be a string or a number");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /\n"
	                "        check: { body: a, body_contains: b }\n",
	           "t.yaml:8:27: ", "not both");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /\n"
	                "        name: \"\"\n",
	           "t.yaml:8:15: ", "'name' is empty");
}

static void test_err_think(void)
{
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - think: 300ms..100ms\n",
	           "t.yaml:7:16: ", "bad think range '300ms..100ms': the minimum is above the maximum");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - think: 100ms..\n",
	           "t.yaml:7:16: ", "bad think range '100ms..'");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - think: 1..2\n",
	           "t.yaml:7:16: ", "bad think range");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - think: soon\n",
	           "t.yaml:7:16: ", "bad duration 'soon' for 'think'");
}

static void test_err_thresholds(void)
{
	EXPECT_ERR(HEAD "    flow: [ { get: / } ]\n"
	                "thresholds:\n"
	                "  http_req_duration: [\"p(95) < 500\", \"p95 < 500\"]\n",
	           "t.yaml:8:38: ",
	           "bad threshold 'p95 < 500': unknown aggregation 'p95', expected p(N), avg, med, "
	           "min, max, rate or count");
	EXPECT_ERR(HEAD "    flow: [ { get: / } ]\n"
	                "thresholds:\n"
	                "  http_req_failed: rate < 1 parsec\n",
	           "t.yaml:8:20: ", "bad threshold 'rate < 1 parsec'");
	EXPECT_ERR(HEAD "    flow: [ { get: / } ]\n"
	                "thresholds:\n"
	                "  http_req_failed:\n"
	                "    - rate < 0.1\n"
	                "    - 5\n",
	           "t.yaml:10:7: ", "bad threshold '5'");
	EXPECT_ERR(
	    HEAD "    flow: [ { get: / } ]\n"
	         "thresholds:\n"
	         "  \"http_req_duration{scenario:browse\": [\"p(95) < 1\"]\n",
	    "t.yaml:8:3: ", "bad threshold metric 'http_req_duration{scenario:browse': missing '}'");
	EXPECT_ERR(HEAD "    flow: [ { get: / } ]\n"
	                "thresholds:\n"
	                "  \"http_req_duration{scenario:nope}\": [\"p(95) < 1\"]\n",
	           "t.yaml:8:3: ", "scenario 'nope', which the plan does not define");
	EXPECT_ERR(HEAD "    flow: [ { get: / } ]\n"
	                "thresholds:\n"
	                "  checks: { rate: 1 }\n",
	           "t.yaml:8:13: ", "unknown key 'rate' in a threshold; expected one of: threshold, allowNoData");
	EXPECT_ERR(HEAD "    flow: [ { get: / } ]\n"
	                "thresholds: [a]\n",
	           "t.yaml:7:13: ", "'thresholds' must be a mapping");

	/* A single string is accepted as well as a list. */
	plan *p = parse_ok(HEAD "    flow: [ { get: / } ]\n"
	                        "thresholds:\n"
	                        "  http_req_failed: rate < 1%\n"
	                        "  checks: []\n");
	if (p != NULL) {
		CHECK_EQ_INT(p->nthresholds, 1);
		CHECK_EQ_STR(p->thresholds[0].expr, "rate < 1%");
		CHECK_EQ_INT(p->thresholds[0].line, 8);
		CHECK_EQ_INT(p->thresholds[0].col, 20);
		plan_free(p);
	}
}

static void test_err_empty_scenarios(void)
{
	EXPECT_ERR("target: http://h\n"
	           "scenarios: {}\n",
	           "t.yaml:2:12: ", "'scenarios' is empty");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n",
	           "t.yaml:2:1: ", "'scenarios' is empty");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  \"bad name\":\n"
	           "    executor: constant-vus\n",
	           "t.yaml:3:3: ", "may only use letters");
}

/* ---- Hostile input ---- */

static void expect_fail_anywhere(int line, const char *text, size_t len)
{
	plan *p = NULL;
	char err[512] = "";
	int rv = plan_parse(text, len, "f.yaml", &p, err, sizeof(err));
	check_total_++;
	if (rv != HERD_EPLAN || strncmp(err, "f.yaml:", 7) != 0 || p != NULL) {
		check_failed_++;
		fprintf(stderr, "%s:%d: rv %d, error \"%s\"\n", __FILE__, line, rv, err);
	}
}
#define EXPECT_FAIL(text) expect_fail_anywhere(__LINE__, text, strlen(text))

static void test_hostile(void)
{
	char err[256];
	plan *p = NULL;

	EXPECT_ERR("", "t.yaml:1:1: ", "plan is empty");
	EXPECT_ERR("# only a comment\n\n", "t.yaml:1:1: ", "plan is empty");
	EXPECT_ERR("---\n", "t.yaml:1:1: ", "plan is empty");
	EXPECT_ERR("just a scalar\n", "t.yaml:1:1: ", "a plan must be a mapping");
	EXPECT_ERR("- a\n- b\n", "t.yaml:1:1: ", "a plan must be a mapping");
	EXPECT_ERR("target: http://h\n"
	           "---\n"
	           "target: http://i\n",
	           "t.yaml:3:1: ", "a plan is a single YAML document");
	EXPECT_ERR("target: http://h\n\0garbage", "t.yaml:", "");
	expect_fail_anywhere(__LINE__, "target: http://h\n  \0x", 21);
	{
		char e[256] = "";
		CHECK_EQ_INT(plan_parse("ab\nc\0d", 6, "n.yaml", &p, e, sizeof(e)), HERD_EPLAN);
		CHECK_CONTAINS(e, "n.yaml:2:2: the plan contains a NUL byte");
	}
	/* A byte order mark and non-ASCII text are fine. */
	p = parse_ok("\xef\xbb\xbfname: caf\xc3\xa9 \xf0\x9f\x90\x91\n" HEAD
	             "    flow: [ { get: / } ]\n");
	if (p != NULL) {
		CHECK_EQ_STR(p->name, "caf\xc3\xa9 \xf0\x9f\x90\x91");
		plan_free(p);
		p = NULL;
	}
	/* Text need not be NUL-terminated: only len bytes are read. */
	{
		const char *full = HEAD "    flow: [ { get: / } ]\nthis is not yaml: [";
		size_t len = strlen(HEAD "    flow: [ { get: / } ]\n");
		CHECK_EQ_INT(plan_parse(full, len, "t.yaml", &p, err, sizeof(err)), HERD_OK);
		plan_free(p);
		p = NULL;
	}
	CHECK_EQ_INT(plan_parse(NULL, 0, "t.yaml", &p, err, sizeof(err)), HERD_EPLAN);
	CHECK_EQ_INT(plan_parse("x", 1, "t.yaml", &p, NULL, 0), HERD_EPLAN);

	/* Aliases that lead nowhere, to themselves, or explode. */
	EXPECT_ERR(HEAD "    flow: *nothing\n",
	           "t.yaml:6:11: ", "alias '*nothing' refers to no anchor");
	EXPECT_ERR(HEAD "    flow: &f [ *f ]\n", "t.yaml:6:16: ", "a step must be a mapping");
	EXPECT_FAIL(HEAD "    flow:\n      - post: /\n        json: &j { a: [ *j ] }\n");
	EXPECT_FAIL("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	            "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	            "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n");
	{
		/* A billion laughs inside a JSON body: stopped by the work budget. */
		const char *bomb = HEAD "    flow:\n"
		                        "      - post: /\n"
		                        "        json:\n"
		                        "          - &a [x, x, x, x, x, x, x, x, x, x]\n"
		                        "          - &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		                        "          - &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		                        "          - &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		                        "          - &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
		                        "          - &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
		                        "          - &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
		                        "          - &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n";
		char e[512] = "";
		CHECK_EQ_INT(plan_parse(bomb, strlen(bomb), "t.yaml", &p, e, sizeof(e)), HERD_EPLAN);
		CHECK_CONTAINS(e, "too large once its aliases are expanded");
	}
	EXPECT_ERR("&t target: http://h\n"
	           "*t : http://i\n",
	           "t.yaml:2:", "a key may not be an alias");

	/* Deep nesting: libfyaml's depth limit, and ours for JSON through aliases. */
	{
		char deep[4096];
		size_t o = 0;
		o += (size_t)snprintf(deep + o, sizeof(deep) - o, "%s",
		                      HEAD "    flow:\n      - post: /\n        json: ");
		for (int i = 0; i < 500; i++)
			deep[o++] = '[';
		for (int i = 0; i < 500; i++)
			deep[o++] = ']';
		deep[o++] = '\n';
		deep[o] = '\0';
		EXPECT_FAIL(deep);
	}
	{
		/* 60 levels are fine; chaining aliases pushes past 64. */
		char deep[8192];
		size_t o = 0;
		o += (size_t)snprintf(deep + o, sizeof(deep) - o, "%s",
		                      HEAD "    flow:\n      - post: /\n        json:\n          - &a ");
		for (int i = 0; i < 55; i++)
			deep[o++] = '[';
		for (int i = 0; i < 55; i++)
			deep[o++] = ']';
		o += (size_t)snprintf(deep + o, sizeof(deep) - o,
		                      "\n          - &b [[[[[[ *a ]]]]]]\n          - [[[[[[ *b ]]]]]]\n");
		char e[512] = "";
		CHECK_EQ_INT(plan_parse(deep, o, "t.yaml", &p, e, sizeof(e)), HERD_EPLAN);
		CHECK_CONTAINS(e, "nested too deeply");
	}

	/* Numbers that do not fit. */
	EXPECT_FAIL(HEAD "    flow:\n      - post: /\n        json: 99999999999999999999999\n");
	EXPECT_FAIL(HEAD "    flow:\n      - post: /\n        json: -9223372036854775809\n");
	EXPECT_FAIL(HEAD "    flow:\n      - post: /\n        json: 1e999\n");
	EXPECT_FAIL(HEAD "    flow:\n      - post: /\n        json: .inf\n");
	EXPECT_FAIL(HEAD "    flow:\n      - post: /\n        json: .nan\n");
	EXPECT_FAIL(HEAD "    vus: 0x7fffffffffffffffff\n");
	EXPECT_FAIL(HEAD "    flow:\n      - post: /\n        json: { \"a\\0b\": 1 }\n");
	EXPECT_FAIL(HEAD "    flow:\n      - get: \"/a\\0b\"\n");
	EXPECT_FAIL("\xff\xfe\xfd: x\n");
	EXPECT_FAIL("target: \"\\xff\"\n");
	EXPECT_FAIL("? [a, b]\n: c\n");
	EXPECT_FAIL("{a: 1}: x\n");
	EXPECT_FAIL("target: !!binary aGVsbG8=\nscenarios: {}\n");
	EXPECT_FAIL("%YAML 9.9\n---\na: 1\n");
	EXPECT_FAIL("a: |\n  x\n b\n");
}

/* Mutates the reference plan at random; every outcome must be clean. */
static void test_random_mutations(void)
{
	size_t base = strlen(smoke_yaml);
	char *buf = malloc(base + 64);
	unsigned seed = 12345;
	int ok = 0, failed = 0, bad = 0;

	if (buf == NULL)
		return;
	for (int iter = 0; iter < 3000; iter++) {
		size_t len = base;
		memcpy(buf, smoke_yaml, base);
		int edits = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 4;
		for (int e = 0; e < edits && len > 2; e++) {
			seed = seed * 1103515245u + 12345u;
			size_t at = (seed >> 8) % len;
			seed = seed * 1103515245u + 12345u;
			unsigned char ch = (unsigned char)(seed >> 16);
			switch ((seed >> 4) % 3) {
			case 0: buf[at] = (char)ch; break;
			case 1:
				memmove(buf + at, buf + at + 1, len - at - 1);
				len--;
				break;
			default:
				memmove(buf + at + 1, buf + at, len - at);
				buf[at] = (char)ch;
				len++;
			}
		}
		plan *p = NULL;
		char err[512] = "";
		int rv = plan_parse(buf, len, "m.yaml", &p, err, sizeof(err));
		if (rv == HERD_OK) {
			ok++;
			plan_free(p);
		} else if (rv == HERD_EPLAN && strncmp(err, "m.yaml:", 7) == 0) {
			failed++;
		} else {
			bad++;
			fprintf(stderr, "  mutation %d: rv %d, error \"%s\"\n", iter, rv, err);
		}
	}
	free(buf);
	CHECK_EQ_INT(bad, 0);
	CHECK(ok > 0);
	CHECK(failed > 0);

	/* Pure noise, too. */
	for (int iter = 0; iter < 2000; iter++) {
		char noise[128];
		size_t len = 1 + (seed = seed * 1103515245u + 12345u) % sizeof(noise);
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			noise[i] = (char)(seed >> 16);
			/* Bias towards YAML punctuation so the parser gets past byte one. */
			if ((seed >> 4) % 3 == 0)
				noise[i] = ":-[]{}\n &*!|>'\"#,?"[(seed >> 8) % 19];
		}
		plan *p = NULL;
		char err[256];
		int rv = plan_parse(noise, len, "n.yaml", &p, err, sizeof(err));
		CHECK(rv == HERD_EPLAN || rv == HERD_OK);
		if (rv == HERD_OK)
			plan_free(p);
	}
}

static void test_load_file(void)
{
	char path[] = "/tmp/herd_plan_test_XXXXXX";
	char err[512] = "";
	plan *p = NULL;
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_EQ_INT(write(fd, smoke_yaml, strlen(smoke_yaml)), (long long)strlen(smoke_yaml));
	close(fd);
	CHECK_EQ_INT(plan_load_file(path, &p, err, sizeof(err)), HERD_OK);
	if (p != NULL) {
		CHECK_EQ_STR(p->file, path);
		CHECK_EQ_STR(p->name, "smoke");
		CHECK_EQ_INT(p->nscenarios, 3);
		plan_free(p);
	}
	unlink(path);
	p = NULL;
	CHECK_EQ_INT(plan_load_file(path, &p, err, sizeof(err)), HERD_EPLAN);
	CHECK(p == NULL);
	CHECK(strncmp(err, path, strlen(path)) == 0);
	CHECK_CONTAINS(err, ": cannot read: No such file or directory");
	plan_free(NULL);
}

static void test_agents_key(void)
{
	plan *p = NULL;
	char err[512];
	const char *ok = "target: http://x\nagents: { min: 3, wait: 45s }\nscenarios:\n  s:\n"
	                 "    executor: constant-vus\n    vus: 1\n    duration: 1s\n    flow: [{get: /}]\n";
	CHECK_EQ_INT(plan_parse(ok, strlen(ok), "a.yaml", &p, err, sizeof(err)), HERD_OK);
	if (p != NULL) {
		CHECK_EQ_INT(p->agents_min, 3);
		CHECK_EQ_INT(p->agents_wait_ms, 45000);
		plan_free(p);
		p = NULL;
	}
	const char *bad = "target: http://x\nagents: { min: 0, wiat: 45s }\nscenarios:\n  s:\n"
	                  "    executor: constant-vus\n    vus: 1\n    duration: 1s\n    flow: [{get: /}]\n";
	CHECK_EQ_INT(plan_parse(bad, strlen(bad), "a.yaml", &p, err, sizeof(err)), HERD_EPLAN);
	CHECK_CONTAINS(err, "a.yaml:2:");
	const char *bad2 = "target: http://x\nagents: { wiat: 45s }\nscenarios:\n  s:\n"
	                   "    executor: constant-vus\n    vus: 1\n    duration: 1s\n    flow: [{get: /}]\n";
	CHECK_EQ_INT(plan_parse(bad2, strlen(bad2), "a.yaml", &p, err, sizeof(err)), HERD_EPLAN);
	CHECK_CONTAINS(err, "a.yaml:2:11:");
	CHECK_CONTAINS(err, "did you mean 'wait'");
}


/* wss://: an https:// target turns a ws path into wss://, an absolute wss://
 * URL is kept; the tls key and its errors. */
/* Answers every file name with "PEM:" and the name. */
static int fake_read_file(void *arg, const char *name, char **data, size_t *len, char *why, size_t whylen)
{
	(void)arg;
	(void)why;
	(void)whylen;
	size_t n = strlen(name) + 4;
	if ((*data = malloc(n + 1)) == NULL)
		return -1;
	snprintf(*data, n + 1, "PEM:%s", name);
	*len = n;
	return 0;
}

static void test_tls(void)
{
	static const char body[] = "scenarios:\n  s:\n    executor: constant-vus\n    duration: 1s\n"
	                           "    flow:\n      - ws: /chat\n        session: [ { send: a } ]\n"
	                           "      - ws: wss://[::1]:9443/x?y=1\n        session: [ { send: a } ]\n";
	char yaml[1024];
	plan *p;

	snprintf(yaml, sizeof(yaml), "target: https://example.com:8443/\n%s", body);
	p = parse_ok(yaml);
	if (p != NULL) {
		CHECK_EQ_STR(p->scenarios[0].steps[0].url, "wss://example.com:8443/chat");
		CHECK_EQ_STR(p->scenarios[0].steps[1].url, "wss://[::1]:9443/x?y=1");
		CHECK_EQ_INT(p->tls.insecure_skip_verify, 0);
		CHECK(p->tls.ca == NULL);
		plan_free(p);
	}
	snprintf(yaml, sizeof(yaml), "target: http://h\ntls: { ca: /tmp/test-ca.pem }\n%s", body);
	/* The CA file comes through the plan's io, like a feeder's, and is kept for shipping. */
	plan_io io = { fake_read_file, NULL, NULL };
	char err[512];
	p = NULL;
	CHECK_EQ_INT(plan_parse_io(yaml, strlen(yaml), "t.yaml", &io, &p, err, sizeof(err)), HERD_OK);
	if (p != NULL) {
		CHECK_EQ_STR(p->scenarios[0].steps[0].url, "ws://h/chat");
		CHECK_EQ_STR(p->tls.ca, "/tmp/test-ca.pem");
		CHECK(p->tls.ca_pem != NULL && strcmp(p->tls.ca_pem, "PEM:/tmp/test-ca.pem") == 0);
		CHECK(p->nfiles == 1 && strcmp(p->files[0].name, "/tmp/test-ca.pem") == 0);
		plan_free(p);
	}
	EXPECT_ERR(yaml, "t.yaml:2:12: ", "file '/tmp/test-ca.pem' is not available here");
	snprintf(yaml, sizeof(yaml), "target: https://h\ntls:\n  insecureSkipVerify: true\n%s", body);
	p = parse_ok(yaml);
	if (p != NULL) {
		CHECK_EQ_INT(p->tls.insecure_skip_verify, 1);
		plan_free(p);
	}
	snprintf(yaml, sizeof(yaml), "target: https://h\ntls: { insecureSkipVerify: yes }\n%s", body);
	EXPECT_ERR(yaml, "t.yaml:2:28: ", "'insecureSkipVerify' must be true or false, got 'yes'");
	snprintf(yaml, sizeof(yaml), "target: https://h\ntls: { insecureSkipVerfy: true }\n%s", body);
	EXPECT_ERR(yaml, "t.yaml:2:8: ", "unknown key 'insecureSkipVerfy' in 'tls' (did you mean 'insecureSkipVerify'?)");
	snprintf(yaml, sizeof(yaml), "target: https://h\ntls: { ca: }\n%s", body);
	EXPECT_ERR(yaml, "t.yaml:2:", "'ca' needs a value");
	snprintf(yaml, sizeof(yaml), "target: https://h\ntls: true\n%s", body);
	EXPECT_ERR(yaml, "t.yaml:2:6: ", "'tls' must be a mapping such as '{ ca: ca.pem }'");
	snprintf(yaml, sizeof(yaml), "target: https://h\ntls: { insecureSkipVerify: true, ca: x.pem }\n%s",
	         body);
	EXPECT_ERR(yaml, "t.yaml:2:38: ", "'ca' has no use with 'insecureSkipVerify: true'");
	snprintf(yaml, sizeof(yaml), "target: https://h\ntsl: {}\n%s", body);
	EXPECT_ERR(yaml, "t.yaml:2:1: ", "unknown key 'tsl' at the top of the plan; expected one of: name, target, scenarios, thresholds, agents, data, cookies, tls");
}

/* The session of issue 4, with its URL written as a path. */
static const char ws_yaml[] =
	"target: http://127.0.0.1:8080\n"
	"scenarios:\n"
	"  chat:\n"
	"    executor: ramping-vus\n"
	"    stages: [{ duration: 30s, target: 500 }, { duration: 1m, target: 500 }, { duration: 10s, target: 0 }]\n"
	"    flow:\n"
	"      - ws: /ws/chat?room={{ __VU }}\n"
	"        headers: { Authorization: \"Bearer abc\" }\n"
	"        subprotocols: [chat.v1]\n"
	"        session:\n"
	"          - send: '{\"type\":\"join\",\"user\":\"{{ __VU }}\"}'\n"
	"          - expect: { contains: \"joined\", within: 2s }\n"
	"          - loop: { count: 20 }\n"
	"            steps:\n"
	"              - send: '{\"type\":\"msg\",\"id\":\"{{ __ITER }}-{{ seq }}\",\"text\":\"hello\"}'\n"
	"              - expect: { json: { path: \"$.id\", equals: \"{{ __ITER }}-{{ seq }}\" }, within: 1s }\n"
	"              - think: 500ms\n"
	"          - hold: 10s\n"
	"          - close: 1000\n"
	"        ping: 15s\n"
	"      - ws: ws://10.0.0.1:9000/raw\n"
	"        session:\n"
	"          - send: { binary: \"AAEC/w==\" }\n"
	"          - expect: { count: 3 }\n"
	"          - think: 10ms..20ms\n";

/* Each expect is a check of its step: named by its `name:`, else after the
 * step and what it expects (braces left out), indexed in order of the
 * session (loops included). */
static void test_ws_expect_checks(void)
{
	plan *p = parse_ok(ws_yaml);
	if (p == NULL)
		return;
	const plan_step *st = &p->scenarios[0].steps[0];
	CHECK_EQ_INT(st->nchecks, 2);
	if (st->nchecks == 2) {
		CHECK_EQ_STR(st->checks[0].name, "/ws/chat?room= __VU : expect contains \"joined\"");
		CHECK_EQ_STR(st->checks[1].name, "/ws/chat?room= __VU : expect $.id ==  __ITER - seq ");
		CHECK_EQ_INT(st->checks[0].kind, CHK_WS_EXPECT);
		CHECK_EQ_INT(st->ws->ops[1].check, 0);
		CHECK_EQ_INT(st->ws->ops[2].ops[1].check, 1);
	}
	st = &p->scenarios[0].steps[1];
	CHECK(st->nchecks == 1 && strcmp(st->checks[0].name, "ws://10.0.0.1:9000/raw: expect 3 messages") == 0);
	plan_free(p);

	p = parse_ok(HEAD "    flow:\n      - ws: /c\n        name: chat\n        session:\n"
	             "          - expect: { contains: hi, name: greeted }\n"
	             "          - expect: {}\n");
	if (p != NULL) {
		st = &p->scenarios[0].steps[0];
		CHECK(st->nchecks == 2 && strcmp(st->checks[0].name, "greeted") == 0 &&
		      strcmp(st->checks[1].name, "chat: expect a message") == 0);
		plan_free(p);
	}
	EXPECT_ERR(HEAD "    flow:\n      - ws: /c\n        session:\n"
	           "          - expect: { contains: hi, name: \"a{b}\" }\n",
	           "t.yaml:9:43: ", "expect name 'a{b}' may not hold a line break or braces");
}

static void test_ws_session(void)
{
	plan *p = parse_ok(ws_yaml);
	if (p == NULL)
		return;
	const plan_scenario *s = &p->scenarios[0];
	CHECK_EQ_INT(s->nsteps, 2);
	const plan_step *st = &s->steps[0];
	CHECK_EQ_INT(st->kind, STEP_WS);
	CHECK_EQ_STR(st->url, "ws://127.0.0.1:8080/ws/chat?room={{ __VU }}");
	CHECK_EQ_STR(st->name, "/ws/chat?room={{ __VU }}");
	CHECK_EQ_INT(st->line, 7);
	CHECK_EQ_INT(st->nheaders, 1);
	CHECK_EQ_STR(st->headers[0].name, "Authorization");
	const plan_ws *ws = st->ws;
	CHECK(ws != NULL);
	if (ws == NULL)
		goto out;
	CHECK_EQ_INT(ws->url_templated, 1);
	CHECK_EQ_INT(ws->nsubprotocols, 1);
	CHECK_EQ_STR(ws->subprotocols[0], "chat.v1");
	CHECK_EQ_INT(ws->ping_ms, 15000);
	CHECK_EQ_INT(ws->nops, 5);
	CHECK_EQ_INT(ws->ops[0].kind, WSOP_SEND);
	CHECK_EQ_STR(ws->ops[0].text, "{\"type\":\"join\",\"user\":\"{{ __VU }}\"}");
	CHECK_EQ_INT(ws->ops[0].templated, 1);
	CHECK_EQ_INT(ws->ops[1].kind, WSOP_EXPECT);
	CHECK_EQ_INT(ws->ops[1].match, WSM_CONTAINS);
	CHECK_EQ_STR(ws->ops[1].text, "joined");
	CHECK_EQ_INT(ws->ops[1].templated, 0);
	CHECK_EQ_INT(ws->ops[1].within_ms, 2000);
	CHECK_EQ_INT(ws->ops[1].count, 1);
	CHECK_EQ_INT(ws->ops[2].kind, WSOP_LOOP);
	CHECK_EQ_INT(ws->ops[2].count, 20);
	CHECK_EQ_INT(ws->ops[2].nops, 3);
	CHECK_EQ_INT(ws->ops[2].line, 13);
	if (ws->ops[2].nops == 3) {
		const plan_ws_op *l = ws->ops[2].ops;
		CHECK_EQ_INT(l[0].kind, WSOP_SEND);
		CHECK_EQ_INT(l[1].kind, WSOP_EXPECT);
		CHECK_EQ_INT(l[1].match, WSM_JSON);
		CHECK_EQ_STR(l[1].json_path, "$.id");
		CHECK_EQ_STR(l[1].text, "{{ __ITER }}-{{ seq }}");
		CHECK_EQ_INT(l[1].within_ms, 1000);
		CHECK_EQ_INT(l[2].kind, WSOP_THINK);
		CHECK_EQ_INT(l[2].min_ms, 500);
		CHECK_EQ_INT(l[2].max_ms, 500);

		sbuf b = {0};
		tmpl_env v = {.vu = 7, .iter = 3, .seq = 12};
		tmpl_render(&l[0].t, &v, &b);
		CHECK_EQ_STR(b.p, "{\"type\":\"msg\",\"id\":\"3-12\",\"text\":\"hello\"}");
		b.len = 0;
		tmpl_render(&l[1].t, &v, &b);
		CHECK_EQ_STR(b.p, "3-12");
		free(b.p);
	}
	CHECK_EQ_INT(ws->ops[3].kind, WSOP_HOLD);
	CHECK_EQ_INT(ws->ops[3].min_ms, 10000);
	CHECK_EQ_INT(ws->ops[4].kind, WSOP_CLOSE);
	CHECK_EQ_INT(ws->ops[4].close_code, 1000);

	st = &s->steps[1];
	CHECK_EQ_STR(st->url, "ws://10.0.0.1:9000/raw");
	ws = st->ws;
	CHECK_EQ_INT(ws->nops, 3);
	CHECK_EQ_INT(ws->ops[0].binary, 1);
	CHECK_EQ_INT(ws->ops[0].text_len, 4);
	CHECK(memcmp(ws->ops[0].text, "\x00\x01\x02\xff", 4) == 0);
	CHECK_EQ_INT(ws->ops[1].match, WSM_ANY);
	CHECK_EQ_INT(ws->ops[1].count, 3);
	CHECK_EQ_INT(ws->ops[1].within_ms, 10000);
	CHECK_EQ_INT(ws->ops[2].min_ms, 10);
	CHECK_EQ_INT(ws->ops[2].max_ms, 20);
out:
	plan_free(p);
}

#define WS_HEAD HEAD "    flow:\n      - ws: /chat\n        session:\n"

static void test_err_ws(void)
{
	EXPECT_ERR(WS_HEAD "          - sned: hi\n",
	           "t.yaml:9:13: ", "unknown key 'sned' in a ws session (did you mean 'send'?)");
	EXPECT_ERR(WS_HEAD "          - expect: { json: { path: \"$.a..b\", equals: x } }\n",
	           "t.yaml:9:37: ", "bad JSON path '$.a..b'");
	EXPECT_ERR(WS_HEAD "          - hold: 10x\n",
	           "t.yaml:9:19: ", "bad duration '10x' for 'hold'");
	EXPECT_ERR(WS_HEAD "          - expect: { contains: a, within: soon }\n",
	           "t.yaml:9:44: ", "bad duration 'soon' for 'within'");
	EXPECT_ERR(WS_HEAD "          - send: 'id {{ user }}'\n",
	           "t.yaml:9:26: ", "unknown variable 'user'");
	EXPECT_ERR(WS_HEAD "          - send: 'n={{ seq }}'\n",
	           "t.yaml:9:25: ", "seq is only known inside a ws loop");
	EXPECT_ERR(WS_HEAD "          - loop: { count: 2 }\n"
	                   "            steps:\n"
	                   "              - expect: { contains: \"{{ seq }}-{{ __IT }}\" }\n",
	           "t.yaml:11:51: ", "unknown variable '__IT'");
	EXPECT_ERR(WS_HEAD "          - send: hi\n"
	                   "            hold: 1s\n",
	           "t.yaml:10:13: ", "both 'send' and 'hold'");
	EXPECT_ERR(WS_HEAD "          - loop: { count: 2 }\n",
	           "t.yaml:9:13: ", "'loop' needs 'steps'");
	EXPECT_ERR(WS_HEAD "          - close: 1005\n",
	           "t.yaml:9:20: ", "close code 1005 may not be sent");
	EXPECT_ERR(WS_HEAD "          - send: { binary: \"not base64!\" }\n",
	           "t.yaml:9:29: ", "'binary' is not valid base64");
	EXPECT_ERR(HEAD "    flow:\n      - ws: https://h/x\n        session: [ { send: a } ]\n",
	           "t.yaml:7:13: ", "'ws' takes a ws:// or wss:// URL, not 'https://h/x'");
	EXPECT_ERR(HEAD "    flow:\n      - ws: wss:///x\n        session: [ { send: a } ]\n",
	           "t.yaml:7:13: ", "URL 'wss:///x' has no host");
	EXPECT_ERR(HEAD "    flow:\n      - ws: chat\n        session: [ { send: a } ]\n",
	           "t.yaml:7:13: ", "'ws' needs a path starting with '/' or a ws:// or wss:// URL");
	EXPECT_ERR(HEAD "    flow:\n      - ws: /x\n",
	           "t.yaml:7:9: ", "a ws step needs a 'session'");
	EXPECT_ERR(HEAD "    flow:\n      - ws: /x\n        timeout: 1s\n        session: [ { send: a } ]\n",
	           "t.yaml:8:9: ", "'timeout' is not used by a ws step");
	EXPECT_ERR(HEAD "    flow:\n      - get: /x\n        ping: 1s\n",
	           "t.yaml:8:9: ", "'ping' is only used by a ws step");
}

/* ramping-arrival-rate, shared-iterations, gracefulRampDown and stage names. */
static void test_more_executors(void)
{
	plan *p = parse_ok("target: http://h:1\n"
	                   "scenarios:\n"
	                   "  rar:\n"
	                   "    executor: ramping-arrival-rate\n"
	                   "    startRate: 5\n"
	                   "    timeUnit: 1m\n"
	                   "    preAllocatedVUs: 4\n"
	                   "    stages:\n"
	                   "      - { name: warm-up, duration: 2s, target: 50 }\n"
	                   "      - { duration: 3s, target: 0 }\n"
	                   "      - name: \"peak \xc3\xa9t\xc3\xa9\"\n"
	                   "        duration: 1s\n"
	                   "        target: 100\n"
	                   "    flow: [ { get: /a } ]\n"
	                   "  si:\n"
	                   "    executor: shared-iterations\n"
	                   "    vus: 5\n"
	                   "    iterations: 137\n"
	                   "    flow: [ { get: /b } ]\n"
	                   "  rv:\n"
	                   "    executor: ramping-vus\n"
	                   "    gracefulRampDown: 1500ms\n"
	                   "    stages: [ { duration: 1s, target: 2, name: up } ]\n"
	                   "    flow: [ { get: /c } ]\n"
	                   "  rv2:\n"
	                   "    executor: ramping-vus\n"
	                   "    stages: [ { duration: 1s, target: 2 } ]\n"
	                   "    flow: [ { get: /c } ]\n");
	const plan_scenario *s;

	if (p == NULL)
		return;
	s = &p->scenarios[0];
	CHECK_EQ_INT(s->executor, EXEC_RAMPING_ARRIVAL_RATE);
	CHECK_EQ_STR(plan_executor_name(s->executor), "ramping-arrival-rate");
	CHECK_EQ_INT(s->start_rate, 5);
	CHECK_EQ_INT(s->time_unit_ms, 60000);
	CHECK_EQ_INT(s->pre_allocated_vus, 4);
	CHECK_EQ_INT(s->max_vus, 4); /* defaults to preAllocatedVUs */
	CHECK_EQ_INT(s->nstages, 3);
	if (s->nstages == 3) {
		CHECK_EQ_STR(s->stages[0].name, "warm-up");
		CHECK_EQ_INT(s->stages[0].target, 50);
		CHECK(s->stages[1].name == NULL);
		CHECK_EQ_INT(s->stages[1].target, 0);
		CHECK_EQ_STR(s->stages[2].name, "peak \xc3\xa9t\xc3\xa9");
	}
	CHECK_EQ_INT(plan_scenario_length_ms(s), 6000);

	s = &p->scenarios[1];
	CHECK_EQ_INT(s->executor, EXEC_SHARED_ITERATIONS);
	CHECK_EQ_STR(plan_executor_name(s->executor), "shared-iterations");
	CHECK_EQ_INT(s->vus, 5);
	CHECK_EQ_INT(s->iterations, 137);
	CHECK_EQ_INT(s->max_duration_ms, 600000);
	CHECK_EQ_INT(plan_scenario_length_ms(s), 600000);

	CHECK_EQ_INT(p->scenarios[2].graceful_ramp_down_ms, 1500);
	CHECK_EQ_STR(p->scenarios[2].stages[0].name, "up");
	CHECK_EQ_INT(p->scenarios[3].graceful_ramp_down_ms, 30000);
	/* shared-iterations ends last: 10 min maxDuration + 30 s gracefulStop. */
	CHECK_EQ_INT(plan_total_ms(p), 630000);
	plan_free(p);
}

#define HEAD_RAR                                                                                             \
	"target: http://h:1\n"                                                                               \
	"scenarios:\n"                                                                                       \
	"  a:\n"                                                                                             \
	"    executor: ramping-arrival-rate\n"

static void test_err_more_executors(void)
{
	/* Keys an executor does not use. */
	EXPECT_ERR(HEAD_RAR "    rate: 5\n",
	           "t.yaml:5:5: ", "'rate' is not used by executor ramping-arrival-rate");
	EXPECT_ERR(HEAD_RAR "    duration: 5s\n",
	           "t.yaml:5:5: ", "'duration' is not used by executor ramping-arrival-rate");
	EXPECT_ERR(HEAD_RAR "    gracefulRampDown: 5s\n",
	           "t.yaml:5:5: ", "'gracefulRampDown' is not used by executor ramping-arrival-rate");
	EXPECT_ERR(HEAD "    gracefulRampDown: 5s\n",
	           "t.yaml:6:5: ", "'gracefulRampDown' is not used by executor constant-vus");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  r:\n"
	           "    executor: ramping-vus\n"
	           "    startRate: 5\n",
	           "t.yaml:5:5: ", "'startRate' is not used by executor ramping-vus");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  s:\n"
	           "    executor: shared-iterations\n"
	           "    duration: 5s\n",
	           "t.yaml:5:5: ", "'duration' is not used by executor shared-iterations");
	EXPECT_ERR(HEAD_RAR "    startrate: 5\n", "t.yaml:5:5: ", "did you mean 'startRate'?");
	EXPECT_ERR(HEAD_RAR "    gracefulRampdown: 5s\n", "t.yaml:5:5: ", "did you mean 'gracefulRampDown'?");

	/* Negative and missing values. */
	EXPECT_ERR(HEAD_RAR "    startRate: -1\n", "t.yaml:5:16: ", "'startRate' must not be negative");
	EXPECT_ERR(HEAD_RAR "    startRate: 1.5\n", "t.yaml:5:16: ", "'startRate' must be a whole number");
	EXPECT_ERR(HEAD_RAR "    stages: [ { duration: 1s, target: -10 } ]\n",
	           "t.yaml:5:39: ", "'target' must not be negative");
	EXPECT_ERR(HEAD_RAR "    preAllocatedVUs: 1\n    flow: [ { get: / } ]\n",
	           "t.yaml:3:3: ", "scenario 'a': executor ramping-arrival-rate needs 'stages'");
	EXPECT_ERR(HEAD_RAR "    stages: [ { duration: 1s, target: 1 } ]\n    flow: [ { get: / } ]\n",
	           "t.yaml:3:3: ", "executor ramping-arrival-rate needs 'preAllocatedVUs'");
	EXPECT_ERR(HEAD_RAR "    stages: []\n", "t.yaml:5:13: ", "'stages' is empty");
	EXPECT_ERR(HEAD_RAR "    stages: [ { duration: 0s, target: 5 } ]\n",
	           "t.yaml:5:13: ", "the stages last 0s");
	EXPECT_ERR(HEAD_RAR "    timeUnit: 0s\n", "t.yaml:5:15: ", "'timeUnit' must be longer than 0");
	EXPECT_ERR(HEAD_RAR "    stages: [ { duration: 1s, target: 1 } ]\n"
	                    "    preAllocatedVUs: 3\n"
	                    "    maxVUs: 2\n"
	                    "    flow: [ { get: / } ]\n",
	           "t.yaml:7:13: ", "'maxVUs' (2) is below 'preAllocatedVUs' (3)");
	EXPECT_ERR(HEAD_RAR "    stages: [ { duration: 1s, target: 1 } ]\n"
	                    "    preAllocatedVUs: 0\n"
	                    "    flow: [ { get: / } ]\n",
	           "t.yaml:6:22: ", "needs a VU");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  r:\n"
	           "    executor: ramping-vus\n"
	           "    gracefulRampDown: -1s\n",
	           "t.yaml:5:23: ", "'gracefulRampDown' cannot be negative");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  s:\n"
	           "    executor: shared-iterations\n"
	           "    iterations: 3\n"
	           "    vus: 4\n"
	           "    flow: [ { get: / } ]\n",
	           "t.yaml:6:10: ", "'vus' (4) is more than 'iterations' (3)");
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  s:\n"
	           "    executor: shared-iterations\n"
	           "    iterations: 0\n",
	           "t.yaml:5:17: ", "'iterations' must be at least 1");

	/* Stage names. */
	EXPECT_ERR(HEAD_RAR "    stages: [ { duration: 1s, target: 1, name: \"\" } ]\n",
	           "t.yaml:5:48: ", "a stage's 'name' is empty");
	EXPECT_ERR(HEAD_RAR "    stages: [ { duration: 1s, target: 1, name: { a: b } } ]\n",
	           "t.yaml:5:48: ", "'name' must be a string, not a mapping");
	EXPECT_ERR(HEAD_RAR "    stages: [ { duration: 1s, target: 1, name: \"a\\tb\" } ]\n",
	           "t.yaml:5:48: ", "contains a control character");
	EXPECT_ERR(HEAD_RAR
	           "    stages: [ { duration: 1s, target: 1, name: abcdefghijklmnopqrstuvwxyz0123456 } ]\n",
	           "t.yaml:5:48: ", "is too long (the limit is 32 bytes)");
	EXPECT_ERR(HEAD_RAR "    stages: [ { duration: 1s, target: 1, nam: x } ]\n",
	           "t.yaml:5:42: ", "unknown key 'nam' in a stage (did you mean 'name'?)");
}

/* A WebSocket-only plan names its target ws:// or wss:// (issue 10, item 9). */
static void test_ws_target(void)
{
	plan *p = parse_ok("target: ws://h:1/\n"
	                   "scenarios:\n"
	                   "  s:\n"
	                   "    executor: per-vu-iterations\n"
	                   "    flow:\n"
	                   "      - ws: /chat\n"
	                   "        session: [ { send: a } ]\n"
	                   "      - get: http://api:2/x\n");
	if (p != NULL) {
		CHECK_EQ_STR(p->target, "ws://h:1");
		CHECK_EQ_STR(p->scenarios[0].steps[0].url, "ws://h:1/chat");
		CHECK_EQ_STR(p->scenarios[0].steps[1].url, "http://api:2/x");
		plan_free(p);
	}
	p = parse_ok("target: WSS://h:1\n"
	             "scenarios:\n"
	             "  s:\n"
	             "    executor: per-vu-iterations\n"
	             "    flow: [ { ws: /chat, session: [ { send: a } ] } ]\n");
	if (p != NULL) {
		CHECK_EQ_STR(p->scenarios[0].steps[0].url, "WSS://h:1/chat");
		plan_free(p);
	}
	EXPECT_ERR("target: ws://h:1\n"
	           "scenarios:\n"
	           "  s:\n"
	           "    executor: per-vu-iterations\n"
	           "    flow:\n"
	           "      - ws: /chat\n"
	           "        session: [ { send: a } ]\n"
	           "      - post: /login\n",
	           "t.yaml:8:15: ",
	           "the HTTP step 'POST /login' needs an http:// or https:// target, but 'target' at 1:9 is "
	           "'ws://h:1'; give the step a full http:// URL");
	EXPECT_ERR("target: wss://h:1\n"
	           "scenarios:\n"
	           "  s:\n"
	           "    executor: per-vu-iterations\n"
	           "    flow: [ { get: '{{ next }}' } ]\n",
	           "t.yaml:5:20: ", "the HTTP step 'GET {{ next }}' needs an http:// or https:// target");
}

/* Sets b to head, n times unit, then tail. */
static void repeat(sbuf *b, const char *head, const char *unit, int n, const char *tail)
{
	b->len = 0;
	sbuf_str(b, head);
	for (int i = 0; i < n; i++)
		sbuf_str(b, unit);
	sbuf_str(b, tail);
}

/* The limits of plan.h: VUs of all scenarios together, the peak arrival
 * rate per second, request steps in all flows, a body's rendered size, and
 * maxMessageSize with its units. */
static void test_limits(void)
{
	/* 600,000 + 400,001 VUs across two scenarios: the second crosses. */
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  a: { executor: constant-vus, vus: 600000, duration: 1s, flow: [ { get: / } ] }\n"
	           "  b:\n"
	           "    executor: ramping-vus\n"
	           "    stages: [ { duration: 1s, target: 10 }, { duration: 1s, target: 400001 } ]\n"
	           "    flow: [ { get: / } ]\n",
	           "t.yaml:4:3: ", "the plan runs up to 1000001 VUs at once with scenario 'b', more than the limit of 1000000");
	plan *p = parse_ok("target: http://h\n"
	                   "scenarios:\n"
	                   "  a: { executor: constant-vus, vus: 600000, duration: 1s, flow: [ { get: / } ] }\n"
	                   "  b: { executor: constant-arrival-rate, rate: 10, duration: 1s, preAllocatedVUs: 1,"
	                   " maxVUs: 400000, flow: [ { get: / } ] }\n");
	CHECK(p != NULL);
	plan_free(p);
	/* 10,000 per 1 ms is 10,000,000 per second: the limit itself passes. */
	p = parse_ok("target: http://h\n"
	             "scenarios:\n"
	             "  a: { executor: constant-arrival-rate, rate: 10000, timeUnit: 1ms, duration: 1s,"
	             " preAllocatedVUs: 1, flow: [ { get: / } ] }\n");
	CHECK(p != NULL);
	plan_free(p);
	EXPECT_ERR("target: http://h\n"
	           "scenarios:\n"
	           "  a:\n"
	           "    executor: ramping-arrival-rate\n"
	           "    timeUnit: 1ms\n"
	           "    preAllocatedVUs: 1\n"
	           "    stages: [ { duration: 1s, target: 10 }, { duration: 1s, target: 10001 } ]\n"
	           "    flow: [ { get: / } ]\n",
	           "t.yaml:3:3: ", "scenario 'a' asks for up to 10001000 iterations per second, more than the limit of 10000000");
	/* 1,000 request steps pass (thinks do not count); the 1,001st is named. */
	sbuf y = {0};
	sbuf_str(&y, "target: http://h\nscenarios:\n  s:\n    executor: per-vu-iterations\n    flow:\n");
	for (int i = 0; i < 1000; i++)
		sbuf_str(&y, "      - get: /x\n      - think: 1ms\n");
	p = parse_ok(y.p);
	CHECK(p != NULL);
	plan_free(p);
	sbuf_str(&y, "      - get: /last\n");
	EXPECT_ERR(y.p, "t.yaml:2006:9: ", "the plan has more than 1000 request and ws steps (the limit)");
	free(y.p);
	/* randomString(4096) x 4096 is exactly 16 MiB; one byte more is refused. */
	sbuf b = {0};
	repeat(&b, HEAD "    flow:\n      - post: /\n        body: \"", "{{ randomString(4096) }}", 4096, "\"\n");
	p = parse_ok(b.p);
	CHECK(p != NULL);
	plan_free(p);
	b.len -= 2;
	sbuf_str(&b, "x\"\n");
	EXPECT_ERR(b.p, "t.yaml:8:15: ", "'body' may render to 16777217 bytes, more than the limit of 16 MiB for a body");
	/* A json body counts its strings' templates too. */
	repeat(&b, HEAD "    flow:\n      - post: /\n        json: [", "\"{{ randomString(4096) }}\",", 4097, "1]\n");
	EXPECT_ERR(b.p, "t.yaml:8:15: ", "'json' may render to");
	/* A WebSocket message is bounded as a body is. */
	repeat(&b, HEAD "    flow:\n      - ws: /\n        session:\n          - send: \"", "{{ randomString(4096) }}", 4097,
	       "\"\n");
	EXPECT_ERR(b.p, "t.yaml:9:19: ", "the message may render to 16781312 bytes, more than the limit of 16 MiB");
	free(b.p);
	/* maxMessageSize */
	static const struct { const char *v; int64_t want; } sizes[] = {
		{"1024", 1024}, {"64KiB", 65536}, {"16MiB", 16 << 20}, {"1 GiB", 1 << 30}, {"2MB", 2000000},
	};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char yaml[256];
		snprintf(yaml, sizeof(yaml), HEAD "    flow:\n      - ws: /\n        maxMessageSize: %s\n"
		         "        session: [ { send: hi } ]\n", sizes[i].v);
		p = parse_ok(yaml);
		CHECK(p != NULL && p->scenarios[0].steps[0].ws->max_message == sizes[i].want);
		plan_free(p);
	}
	p = parse_ok(HEAD "    flow:\n      - ws: /\n        session: [ { send: hi } ]\n");
	CHECK(p != NULL && p->scenarios[0].steps[0].ws->max_message == 16 << 20);
	plan_free(p);
	EXPECT_ERR(HEAD "    flow:\n      - ws: /\n        maxMessageSize: 16 MiBs\n        session: [ { send: hi } ]\n",
	           "t.yaml:8:25: ", "bad size '16 MiBs' for 'maxMessageSize'");
	EXPECT_ERR(HEAD "    flow:\n      - ws: /\n        maxMessageSize: 1025GiB\n        session: [ { send: hi } ]\n",
	           "t.yaml:8:25: ", "'maxMessageSize' is too large (the limit is 1073741824 bytes)");
	EXPECT_ERR(HEAD "    flow:\n      - get: /\n        maxMessageSize: 1MiB\n",
	           "t.yaml:8:9: ", "'maxMessageSize' is only used by a ws step");
}

int main(void)
{
	test_ws_target();
	test_limits();
	test_tls();
	test_ws_session();
	test_ws_expect_checks();
	test_err_ws();
	test_agents_key();
	test_smoke_plan();
	test_defaults();
	test_durations();
	test_json_bodies();
	test_urls_and_requests();
	test_aliases_ok();
	test_err_yaml_syntax();
	test_err_unknown_key();
	test_err_wrong_type();
	test_err_bad_duration();
	test_err_missing_target();
	test_err_executor();
	test_err_missing_required();
	test_err_not_for_executor();
	test_err_range();
	test_err_steps();
	test_err_think();
	test_err_thresholds();
	test_err_empty_scenarios();
	test_hostile();
	test_random_mutations();
	test_load_file();
	test_more_executors();
	test_err_more_executors();
	return check_done();
}
