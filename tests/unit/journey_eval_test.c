/*
 * Tests for agent/journey: checks and captures of plans parsed from strings,
 * evaluated on step_results built by hand (status, body, header block, a fake
 * cookie jar), and journey_header on CRLF and LF header blocks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/journey.h"
#include "common/err.h"
#include "common/sbuf.h"
#include "tests/unit/check.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the plan ---- */

static int read_users(void *arg, const char *name, char **data, size_t *len, char *why, size_t whylen)
{
	static const char csv[] = "email\na@b.c\n";
	(void)arg;
	if (strcmp(name, "users.csv") != 0) {
		snprintf(why, whylen, "no such file");
		return -1;
	}
	if ((*data = malloc(sizeof(csv))) == NULL)
		return -1;
	memcpy(*data, csv, sizeof(csv));
	*len = sizeof(csv) - 1;
	return 0;
}

static const plan_io io = {read_users, NULL, NULL};

static const char plan_yaml[] = "target: http://h:1\n"
                                "scenarios:\n"
                                "  s:\n"
                                "    executor: constant-vus\n"
                                "    duration: 1s\n"
                                "    flow:\n"
                                "      - post: /login\n"
                                "        capture:\n"
                                "          token: { json: $.token }\n"
                                "      - get: /checks\n"
                                "        checks:\n"
                                "          s200: { status: 200 }\n"
                                "          s2xx: { status: [201, 200, 204] }\n"
                                "          ct present: { header: content-type }\n"
                                "          ct eq: { header: CONTENT-TYPE, equals: application/json }\n"
                                "          ct has: { header: Content-Type, contains: json }\n"
                                "          ct has xml: { header: Content-Type, contains: xml }\n"
                                "          loc eq: { header: location, equals: /x/2 }\n"
                                "          loc first: { header: Location, equals: /x/1 }\n"
                                "          missing: { header: X-None }\n"
                                "          empty eq: { header: X-Empty, equals: '' }\n"
                                "          body has: { body: '\"flag\":true' }\n"
                                "          body tmpl: { body: '\"{{ token }}\"' }\n"
                                "          id: { json: $.id }\n"
                                "          id 42: { json: $.id, equals: 42 }\n"
                                "          id 42.0: { json: $.id, equals: '42.0' }\n"
                                "          id 43: { json: $.id, equals: 43 }\n"
                                "          name: { json: $.name, equals: '{{ users.email }}' }\n"
                                "          name has: { json: $.name, contains: '@' }\n"
                                "          flag: { json: $.flag, equals: 'true' }\n"
                                "          flag false: { json: $.flag, equals: 'false' }\n"
                                "          nothing: { json: $.nothing, equals: 'null' }\n"
                                "          nothing there: { json: $.nothing }\n"
                                "          ratio: { json: $.ratio, equals: '0.50' }\n"
                                "          deep: { json: '$.items[1].id', equals: b }\n"
                                "          oob: { json: '$.items[5].id' }\n"
                                "          nul x: { json: $.nul, equals: x }\n"
                                "          obj has: { json: '$.items[0]', contains: '\"id\":\"a\"' }\n"
                                "          lt: { duration: '< 300ms' }\n"
                                "          le: { duration: '<= 300ms' }\n"
                                "          gt: { duration: '> 300ms' }\n"
                                "          ge: { duration: '>= 300ms' }\n"
                                "      - get: /captures\n"
                                "        capture:\n"
                                "          s: { json: $.name }\n"
                                "          n: { json: $.id }\n"
                                "          o: { json: '$.items[0]' }\n"
                                "          f: { json: $.flag }\n"
                                "          z: { json: $.nothing }\n"
                                "          m: { json: $.missing }\n"
                                "          nul: { json: $.nul }\n"
                                "          h: { header: LOCATION }\n"
                                "          hx: { header: X-None }\n"
                                "          r1: { regex: 'id\":\"([a-z])' }\n"
                                "          r0: { regex: '\"id\":[0-9]+', group: 0 }\n"
                                "          r2: { regex: '(i)(tems)', group: 2 }\n"
                                "          rn: { regex: 'nomatch([0-9])' }\n"
                                "          ropt: { regex: 'a@|(q)' }\n"
                                "          num: { regex: 'id=([0-9]+)' }\n"
                                "          c: { cookie: session }\n"
                                "          cn: { cookie: nope }\n"
                                "data:\n"
                                "  users: { file: users.csv }\n";

static plan *p;

static const plan_step *step_named(const char *path)
{
	const plan_scenario *s = &p->scenarios[0];
	for (size_t i = 0; i < s->nsteps; i++)
		if (s->steps[i].path != NULL && strcmp(s->steps[i].path, path) == 0)
			return &s->steps[i];
	return NULL;
}

/* ---- responses ---- */

static const char json_body[] =
    "{\"id\":42,\"name\":\"a@b.c\",\"flag\":true,\"nothing\":null,\"ratio\":0.5,"
    "\"items\":[{\"id\":\"a\"},{\"id\":\"b\"}],\"token\":\"t-1\",\"nul\":\"x\\u0000y\"}";

static const char crlf_headers[] = "HTTP/1.1 200 OK\r\n"
                                   "Content-Type: application/json\r\n"
                                   "Location: /x/1\r\n"
                                   "X-Empty:\r\n"
                                   "location: \t /x/2 \t\r\n"
                                   "\r\n";

/* A cookie jar of one cookie, counting lookups. */
static int cookie_calls;

static int fake_cookie(void *ctx, const char *name, sbuf *out)
{
	const char *const *jar = ctx;
	cookie_calls++;
	if (strcmp(name, jar[0]) != 0)
		return -1;
	sbuf_str(out, jar[1]);
	return 0;
}

static const char *const jar[] = {"session", "s-9"};

static step_result resp(int status, const char *body, const char *headers)
{
	step_result r = {0};
	r.status = status;
	r.err = -1;
	r.body = body;
	r.body_len = body != NULL ? strlen(body) : 0;
	r.headers = headers;
	r.headers_len = headers != NULL ? strlen(headers) : 0;
	r.cookie = fake_cookie;
	r.cookie_ctx = (void *)jar;
	return r;
}

/* ---- rendering ---- */

static char *vals[64];
static size_t lens[64];
static uint64_t rng = 0x9e3779b97f4a7c15u;

static const char *email_cell(void *arg, uint32_t fi, uint32_t ci, size_t *len)
{
	(void)arg;
	if (fi != 0 || ci != 0)
		return NULL;
	*len = 5;
	return "a@b.c";
}

static tmpl_env env(void)
{
	return (tmpl_env){
	    .vu = 1, .vars = vals, .var_len = lens, .nvars = p->nvars, .column = email_cell, .rng = &rng};
}

static void set_var(const char *name, const char *v)
{
	for (size_t i = 0; i < p->nvars; i++)
		if (strcmp(p->vars[i], name) == 0) {
			free(vals[i]);
			vals[i] = v != NULL ? strdup(v) : NULL;
			lens[i] = v != NULL ? strlen(v) : 0;
			return;
		}
	CHECK(!"no such variable");
}

/* The value of variable name ("(unset)" when NULL). */
static const char *var(const char *name)
{
	for (size_t i = 0; i < p->nvars; i++)
		if (strcmp(p->vars[i], name) == 0)
			return vals[i] != NULL ? vals[i] : "(unset)";
	return "(no such variable)";
}

/* ---- running checks and captures ---- */

/* Runs check name of step /checks on r; -1 when the plan has no such check. */
static int run_check_in(journey_resp *jr, const char *name)
{
	const plan_step *st = step_named("/checks");
	tmpl_env e = env();
	for (size_t i = 0; st != NULL && i < st->nchecks; i++)
		if (strcmp(st->checks[i].name, name) == 0)
			return journey_check(jr, &st->checks[i], &e);
	fprintf(stderr, "no check '%s'\n", name);
	return -1;
}

static int run_check(const step_result *r, uint64_t dur_us, const char *name)
{
	journey_resp jr;
	journey_resp_init(&jr, r, dur_us);
	int ok = run_check_in(&jr, name);
	journey_resp_fini(&jr);
	return ok;
}

/* Runs capture name of step /captures on jr. */
static int run_capture_in(journey_resp *jr, const char *name)
{
	const plan_step *st = step_named("/captures");
	for (size_t i = 0; st != NULL && i < st->ncaptures; i++)
		if (strcmp(st->captures[i].var, name) == 0)
			return journey_capture(jr, &st->captures[i], vals, lens);
	fprintf(stderr, "no capture '%s'\n", name);
	return -1;
}

static int run_capture(const step_result *r, const char *name)
{
	journey_resp jr;
	journey_resp_init(&jr, r, 1000);
	int ok = run_capture_in(&jr, name);
	journey_resp_fini(&jr);
	return ok;
}

/* ---- tests ---- */

static void test_checks(void)
{
	step_result r = resp(200, json_body, crlf_headers);
	static const struct {
		const char *name;
		int want;
	} cases[] = {
	    {"s200", 1},          {"s2xx", 1},     {"ct present", 1}, {"ct eq", 1},      {"ct has", 1},
	    {"ct has xml", 0},    {"loc eq", 1},   {"loc first", 0},  {"missing", 0},    {"empty eq", 1},
	    {"body has", 1},      {"id", 1},       {"id 42", 1},      {"id 42.0", 0},    {"id 43", 0},
	    {"name", 1},          {"name has", 1}, {"flag", 1},       {"flag false", 0}, {"nothing", 1},
	    {"nothing there", 1}, {"ratio", 1},    {"deep", 1},       {"oob", 0},        {"obj has", 1},
	    {"nul x", 0},
	};
	journey_resp jr;
	journey_resp_init(&jr, &r, 1000);
	for (size_t i = 0; i < NELEM(cases); i++) {
		int got = run_check_in(&jr, cases[i].name);
		check_total_++;
		if (got != cases[i].want) {
			check_failed_++;
			fprintf(stderr, "%s:%d: check '%s': got %d, want %d\n", __FILE__, __LINE__,
			        cases[i].name, got, cases[i].want);
		}
	}
	journey_resp_fini(&jr);
	CHECK(jr.json == NULL);

	/* Status: any of the list; 0 (no response) is none of them. */
	r.status = 204;
	CHECK_EQ_INT(run_check(&r, 0, "s200"), 0);
	CHECK_EQ_INT(run_check(&r, 0, "s2xx"), 1);
	r.status = 0;
	CHECK_EQ_INT(run_check(&r, 0, "s2xx"), 0);
	r.status = 200;

	/* Expected values are rendered: a variable and a feeder column. */
	set_var("token", "t-1");
	CHECK_EQ_INT(run_check(&r, 0, "body tmpl"), 1);
	set_var("token", "t-2");
	CHECK_EQ_INT(run_check(&r, 0, "body tmpl"), 0);
	set_var("token", NULL);
	CHECK_EQ_INT(run_check(&r, 0, "body tmpl"), 0); /* renders '""' */
	step_result other = resp(200, "{\"name\":\"x@y.z\"}", NULL);
	CHECK_EQ_INT(run_check(&other, 0, "name"), 0);
	CHECK_EQ_INT(run_check(&other, 0, "name has"), 1);

	/* Durations against 300 ms. */
	static const struct {
		uint64_t us;
		int lt, le, gt, ge;
	} durs[] = {{299999, 1, 1, 0, 0}, {300000, 0, 1, 0, 1}, {300001, 0, 0, 1, 1}, {0, 1, 1, 0, 0}};
	for (size_t i = 0; i < NELEM(durs); i++) {
		CHECK_EQ_INT(run_check(&r, durs[i].us, "lt"), durs[i].lt);
		CHECK_EQ_INT(run_check(&r, durs[i].us, "le"), durs[i].le);
		CHECK_EQ_INT(run_check(&r, durs[i].us, "gt"), durs[i].gt);
		CHECK_EQ_INT(run_check(&r, durs[i].us, "ge"), durs[i].ge);
	}

	/* No header block kept: header checks fail. */
	step_result nohdr = resp(200, json_body, NULL);
	CHECK_EQ_INT(run_check(&nohdr, 0, "ct present"), 0);
	CHECK_EQ_INT(run_check(&nohdr, 0, "empty eq"), 0);

	/* A body that is not JSON, and no body at all: JSON and body checks fail. */
	static const char *const nonjson[] = {"<html>\"flag\":true</html>", "", NULL};
	for (size_t i = 0; i < NELEM(nonjson); i++) {
		step_result bad = resp(200, nonjson[i], crlf_headers);
		journey_resp_init(&jr, &bad, 0);
		CHECK_EQ_INT(run_check_in(&jr, "id"), 0);
		CHECK_EQ_INT(run_check_in(&jr, "nothing"), 0);
		CHECK_EQ_INT(run_check_in(&jr, "obj has"), 0);
		CHECK_EQ_INT(run_check_in(&jr, "body has"), i == 0);
		CHECK_EQ_INT(run_check_in(&jr, "ct eq"), 1);
		CHECK_EQ_INT(run_capture_in(&jr, "n"), 0);
		journey_resp_fini(&jr);
	}
	/* A JSON scalar body is JSON too. */
	step_result scalar = resp(200, "42", NULL);
	CHECK_EQ_INT(run_check(&scalar, 0, "id"), 0);
}

static void test_captures(void)
{
	step_result r = resp(200, json_body, crlf_headers);
	journey_resp jr;
	journey_resp_init(&jr, &r, 1000);

	CHECK_EQ_INT(run_capture_in(&jr, "s"), 1);
	CHECK_EQ_STR(var("s"), "a@b.c");
	CHECK_EQ_INT(run_capture_in(&jr, "n"), 1);
	CHECK_EQ_STR(var("n"), "42");
	CHECK_EQ_INT(run_capture_in(&jr, "o"), 1);
	CHECK_EQ_STR(var("o"), "{\"id\":\"a\"}");
	CHECK_EQ_INT(run_capture_in(&jr, "f"), 1);
	CHECK_EQ_STR(var("f"), "true");
	CHECK_EQ_INT(run_capture_in(&jr, "nul"), 1);
	for (size_t i = 0; i < p->nvars; i++)
		if (strcmp(p->vars[i], "nul") == 0) {
			CHECK_EQ_INT(lens[i], 3);
			CHECK(vals[i] != NULL && memcmp(vals[i], "x\0y", 4) == 0);
		}

	/* The body is body_len bytes, not a C string: a regex sees those only, NULs included. */
	static const char longer[] = "id=12345";
	step_result part = resp(200, longer, NULL);
	part.body_len = 5;
	CHECK_EQ_INT(run_capture(&part, "num"), 1);
	CHECK_EQ_STR(var("num"), "12");
	static const char nul[] = "x\0id=7";
	part.body = nul;
	part.body_len = sizeof(nul) - 1;
	CHECK_EQ_INT(run_capture(&part, "num"), 1);
	CHECK_EQ_STR(var("num"), "7");

	/* A failed capture keeps the old value. */
	set_var("z", "old");
	CHECK_EQ_INT(run_capture_in(&jr, "z"), 0); /* null is nothing */
	CHECK_EQ_STR(var("z"), "old");
	set_var("m", "old-m");
	CHECK_EQ_INT(run_capture_in(&jr, "m"), 0);
	CHECK_EQ_STR(var("m"), "old-m");

	/* Headers: case-insensitive, the last one, trimmed. */
	CHECK_EQ_INT(run_capture_in(&jr, "h"), 1);
	CHECK_EQ_STR(var("h"), "/x/2");
	CHECK_EQ_INT(run_capture_in(&jr, "hx"), 0);
	CHECK_EQ_STR(var("hx"), "(unset)");

	/* Regexes: group 1 by default, group 0, group 2, no match, a group that took no part. */
	CHECK_EQ_INT(run_capture_in(&jr, "r1"), 1);
	CHECK_EQ_STR(var("r1"), "a");
	CHECK_EQ_INT(run_capture_in(&jr, "r0"), 1);
	CHECK_EQ_STR(var("r0"), "\"id\":42");
	CHECK_EQ_INT(run_capture_in(&jr, "r2"), 1);
	CHECK_EQ_STR(var("r2"), "tems");
	set_var("rn", "keep");
	CHECK_EQ_INT(run_capture_in(&jr, "rn"), 0);
	CHECK_EQ_STR(var("rn"), "keep");
	CHECK_EQ_INT(run_capture_in(&jr, "ropt"), 0);
	CHECK_EQ_STR(var("ropt"), "(unset)");

	/* Cookies from the jar. */
	cookie_calls = 0;
	CHECK_EQ_INT(run_capture_in(&jr, "c"), 1);
	CHECK_EQ_STR(var("c"), "s-9");
	CHECK_EQ_INT(run_capture_in(&jr, "cn"), 0);
	CHECK_EQ_STR(var("cn"), "(unset)");
	CHECK_EQ_INT(cookie_calls, 2);
	journey_resp_fini(&jr);

	/* A second response replaces values (the old ones are freed). */
	step_result r2 = resp(201, "{\"id\":7,\"name\":\"n2\"}", "HTTP/1.1 201 Created\nLocation: /new\n\n");
	CHECK_EQ_INT(run_capture(&r2, "n"), 1);
	CHECK_EQ_STR(var("n"), "7");
	CHECK_EQ_INT(run_capture(&r2, "s"), 1);
	CHECK_EQ_STR(var("s"), "n2");
	CHECK_EQ_INT(run_capture(&r2, "h"), 1);
	CHECK_EQ_STR(var("h"), "/new");
	CHECK_EQ_INT(run_capture(&r2, "o"), 0);
	CHECK_EQ_STR(var("o"), "{\"id\":\"a\"}");

	/* Not JSON, no body, no headers, no jar: every capture fails, nothing changes. */
	step_result bad = resp(500, "oops id=\"1\"", NULL);
	bad.cookie = NULL;
	static const char *const names[] = {"s", "n", "f", "h", "r1", "c"};
	static const char *const before[] = {"n2", "7", "true", "/new", "a", "s-9"};
	for (size_t i = 0; i < NELEM(names); i++) {
		CHECK_EQ_INT(run_capture(&bad, names[i]), 0);
		CHECK_EQ_STR(var(names[i]), before[i]);
	}
	step_result nobody = resp(200, NULL, NULL);
	CHECK_EQ_INT(run_capture(&nobody, "r0"), 0);
	CHECK_EQ_INT(run_capture(&nobody, "s"), 0);
	CHECK_EQ_STR(var("r0"), "\"id\":42");
}

static void test_header(void)
{
	size_t len = 99;
	const char *v;
	static const char lf[] = "HTTP/1.1 302 Found\n"
	                         "Set-Cookie: a=1\n"
	                         "X-A: Location: not-this\n"
	                         "Content-Length:12\n"
	                         "set-cookie:   b=2   \n"
	                         "Empty:    \n"
	                         "\n";

	v = journey_header(crlf_headers, strlen(crlf_headers), "content-type", &len);
	CHECK(v != NULL && len == 16 && memcmp(v, "application/json", 16) == 0);
	v = journey_header(crlf_headers, strlen(crlf_headers), "LOCATION", &len);
	CHECK(v != NULL && len == 4 && memcmp(v, "/x/2", 4) == 0);
	v = journey_header(crlf_headers, strlen(crlf_headers), "X-Empty", &len);
	CHECK(v != NULL && len == 0);
	CHECK(journey_header(crlf_headers, strlen(crlf_headers), "Content", &len) == NULL);
	CHECK(journey_header(crlf_headers, strlen(crlf_headers), "Content-Type-X", &len) == NULL);
	CHECK(journey_header(crlf_headers, strlen(crlf_headers), "HTTP/1.1 200 OK", &len) == NULL);

	v = journey_header(lf, strlen(lf), "Set-Cookie", &len);
	CHECK(v != NULL && len == 3 && memcmp(v, "b=2", 3) == 0);
	v = journey_header(lf, strlen(lf), "content-length", &len);
	CHECK(v != NULL && len == 2 && memcmp(v, "12", 2) == 0);
	v = journey_header(lf, strlen(lf), "Location", &len);
	CHECK(v == NULL);
	v = journey_header(lf, strlen(lf), "x-a", &len);
	CHECK(v != NULL && len == 18 && memcmp(v, "Location: not-this", 18) == 0);
	v = journey_header(lf, strlen(lf), "empty", &len);
	CHECK(v != NULL && len == 0);

	/* Only blen bytes count: the second Set-Cookie is past them. */
	const char *cut = strstr(lf, "set-cookie");
	v = journey_header(lf, (size_t)(cut - lf), "Set-Cookie", &len);
	CHECK(v != NULL && len == 3 && memcmp(v, "a=1", 3) == 0);
	/* A last line without a line end, and an empty block. */
	v = journey_header("A: 1\r\nB: 2", 10, "b", &len);
	CHECK(v != NULL && len == 1 && v[0] == '2');
	CHECK(journey_header("", 0, "b", &len) == NULL);
	CHECK(journey_header("A: 1\r\n", 6, "", &len) == NULL);
}

int main(void)
{
	char err[512] = "";
	int rv = plan_parse_io(plan_yaml, strlen(plan_yaml), "t.yaml", &io, &p, err, sizeof(err));
	CHECK_EQ_INT(rv, HERD_OK);
	if (rv != HERD_OK) {
		fprintf(stderr, "plan: %s\n", err);
		return check_done();
	}
	CHECK(p->nvars <= NELEM(vals));
	CHECK(step_named("/checks") != NULL && step_named("/captures") != NULL);
	if (p->nvars <= NELEM(vals) && step_named("/checks") != NULL && step_named("/captures") != NULL) {
		test_checks();
		test_captures();
	}
	test_header();
	for (size_t i = 0; i < NELEM(vals); i++)
		free(vals[i]);
	plan_free(p);
	return check_done();
}
