/*
 * Tests for the journey parts of common/plan (docs/journeys.md): flows,
 * groups, tags, captures, checks, form and file bodies, JSON and URL
 * templates, data feeders and env(), each parsed from a string through a fake
 * plan_io, and every journey error with its exact file:line:column.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/err.h"
#include "common/plan.h"
#include "common/sbuf.h"
#include "tests/unit/check.h"

/* ---- a fake plan_io: files and environment from tables ---- */

typedef struct fake_file {
	const char *name, *data;
	size_t len; /* 0: strlen(data) */
	int reads;
} fake_file;

typedef struct fake_var {
	const char *name, *value;
	int reads;
} fake_var;

static const char users_csv[] = "email,password\n"
                                "\"a\"\"b\\c\nd\",pw1\n"
                                "bob@x,pw2\n";

static fake_file files[] = {
    {"users.csv", users_csv, 0, 0},         {"items.csv", "id\n9\n10\n", 0, 0},
    {"payload.bin", "\0\001bin\377", 6, 0}, {"short.csv", "email,pw\na@x,1\nb@x\n", 0, 0},
    {"open.csv", "email\n\"abc\n", 0, 0},   {"header.csv", "email\n", 0, 0},
};

static fake_var envs[] = {
    {"API_KEY", "k-123", 0},
    {"QUOTE", "say \"hi\"", 0},
    {"RATE", " 25 ", 0},
    {"DUR", "1m30s", 0},
    {"BAD", "x1", 0},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int fake_read(void *arg, const char *name, char **data, size_t *len, char *why, size_t whylen)
{
	(void)arg;
	for (size_t i = 0; i < NELEM(files); i++) {
		fake_file *f = &files[i];
		if (strcmp(f->name, name) != 0)
			continue;
		size_t n = f->len ? f->len : strlen(f->data);
		char *d = malloc(n + 1);
		if (d == NULL)
			return -1;
		memcpy(d, f->data, n);
		d[n] = '\0';
		f->reads++;
		*data = d;
		*len = n;
		return 0;
	}
	snprintf(why, whylen, "not in the test's table");
	return -1;
}

static const char *fake_getenv(void *arg, const char *name)
{
	(void)arg;
	for (size_t i = 0; i < NELEM(envs); i++)
		if (strcmp(envs[i].name, name) == 0) {
			envs[i].reads++;
			return envs[i].value;
		}
	return NULL;
}

static const plan_io io = {fake_read, fake_getenv, NULL};

static void reset_io(void)
{
	for (size_t i = 0; i < NELEM(files); i++)
		files[i].reads = 0;
	for (size_t i = 0; i < NELEM(envs); i++)
		envs[i].reads = 0;
}

/* ---- helpers ---- */

static plan *parse_ok(int line, const char *yaml)
{
	plan *p = NULL;
	char err[512] = "";
	int rv = plan_parse_io(yaml, strlen(yaml), "t.yaml", &io, &p, err, sizeof(err));
	check_total_++;
	if (rv != HERD_OK || p == NULL) {
		check_failed_++;
		fprintf(stderr, "%s:%d: parse failed (%d): %s\n", __FILE__, line, rv, err);
		return NULL;
	}
	return p;
}
#define PARSE_OK(yaml) parse_ok(__LINE__, yaml)

/* Expects HERD_EPLAN with an error that starts with where and contains want. */
static void expect_err(int line, const char *yaml, const char *where, const char *want)
{
	plan *p = (plan *)0x1;
	char err[512] = "";
	int rv = plan_parse_io(yaml, strlen(yaml), "t.yaml", &io, &p, err, sizeof(err));
	check_total_++;
	if (rv != HERD_EPLAN || strncmp(err, where, strlen(where)) != 0 || strstr(err, want) == NULL ||
	    p != (plan *)0x1) {
		check_failed_++;
		fprintf(stderr, "%s:%d: rv %d, error \"%s\"; want \"%s...%s\"\n", __FILE__, line, rv, err,
		        where, want);
	}
}
#define EXPECT_ERR(yaml, where, want) expect_err(__LINE__, yaml, where, want)

/* Scenario s's step count is n (so steps[0..n) may be looked at). */
static int has_steps(int line, const plan *p, size_t n)
{
	check_total_++;
	if (p->nscenarios < 1 || p->scenarios[0].nsteps != n) {
		check_failed_++;
		fprintf(stderr, "%s:%d: want %zu steps, have %zu\n", __FILE__, line, n,
		        p->nscenarios ? p->scenarios[0].nsteps : 0);
		return 0;
	}
	return 1;
}
#define HAS_STEPS(p, n) has_steps(__LINE__, p, n)

/* The first scenario's step i. */
static const plan_step *step(const plan *p, size_t i)
{
	return &p->scenarios[0].steps[i];
}

/* Feeder cells come from the parsed plan: row 0 of every feeder. */
static const char *plan_cell(void *arg, uint32_t fi, uint32_t ci, size_t *len)
{
	const plan *p = arg;
	if (fi >= p->nfeeders || ci >= p->feeders[fi].table.ncols)
		return NULL;
	const csv_field *f = csv_cell(&p->feeders[fi].table, 0, ci);
	*len = f->len;
	return f->p;
}

static char *vars[8] = {"abc", "a&b=c d"};
static size_t var_lens[8] = {3, 7};
static uint64_t rng = 0x1234567887654321u;

static tmpl_env env_for(const plan *p)
{
	return (tmpl_env){.vu = 7,
	                  .iter = 3,
	                  .agent = 1,
	                  .vars = vars,
	                  .var_len = var_lens,
	                  .nvars = NELEM(vars),
	                  .column = plan_cell,
	                  .arg = (void *)p,
	                  .rng = &rng};
}

static char out[4096];

/* t rendered with e, in a static buffer. */
static const char *render(const tmpl *t, const tmpl_env *e)
{
	sbuf b = {0};
	tmpl_render(t, e, &b);
	CHECK(!b.oom);
	size_t n = b.len < sizeof(out) - 1 ? b.len : sizeof(out) - 1;
	memcpy(out, b.p != NULL ? b.p : "", n);
	out[n] = '\0';
	free(b.p);
	return out;
}

/* The text of a template with no {{ }}, "" when empty, "(dynamic)" otherwise. */
static const char *lit(const tmpl *t)
{
	size_t n;
	const char *s = tmpl_literal(t, &n);
	return s != NULL ? s : t->dynamic ? "(dynamic)" : "";
}

/* A valid scenario head: the flow starts on line 6. */
#define HEAD                                                                                                 \
	"target: http://h:1\n"                                                                               \
	"scenarios:\n"                                                                                       \
	"  s:\n"                                                                                             \
	"    executor: constant-vus\n"                                                                       \
	"    duration: 1s\n"

#define DATA                                                                                                 \
	"data:\n"                                                                                            \
	"  users: { file: users.csv }\n"                                                                     \
	"  items: { file: items.csv }\n"

/* ---- flows ---- */

static void test_flows(void)
{
	plan *p = PARSE_OK(HEAD "    flows:\n"
	                        "      read:\n"
	                        "        weight: 60\n"
	                        "        steps:\n"
	                        "          - get: /items\n"
	                        "          - get: /items/1\n"
	                        "      write: { weight: 10.5, steps: [ { post: /items, json: { n: 1 } } ] }\n"
	                        "      ai:\n"
	                        "        steps: [ { think: 1s } ]\n");
	if (p == NULL)
		return;
	const plan_scenario *s = &p->scenarios[0];
	CHECK_EQ_INT(s->nflows, 3);
	if (s->nflows == 3 && HAS_STEPS(p, 4)) {
		CHECK_EQ_STR(s->flows[0].name, "read");
		CHECK(s->flows[0].weight == 60.0);
		CHECK_EQ_INT(s->flows[0].first, 0);
		CHECK_EQ_INT(s->flows[0].nsteps, 2);
		CHECK_EQ_STR(s->flows[0].tagline, "flow=read");
		CHECK_EQ_INT(s->flows[0].line, 7);
		CHECK_EQ_INT(s->flows[0].col, 7);
		CHECK_EQ_STR(s->flows[1].name, "write");
		CHECK(s->flows[1].weight == 10.5);
		CHECK_EQ_INT(s->flows[1].first, 2);
		CHECK_EQ_INT(s->flows[1].nsteps, 1);
		CHECK_EQ_STR(s->flows[1].tagline, "flow=write");
		CHECK_EQ_STR(s->flows[2].name, "ai");
		CHECK(s->flows[2].weight == 1.0); /* the default */
		CHECK_EQ_INT(s->flows[2].first, 3);
		CHECK_EQ_INT(s->flows[2].nsteps, 1);
		CHECK(s->weight_total == 71.5);
		CHECK_EQ_INT(step(p, 0)->flow, 0);
		CHECK_EQ_INT(step(p, 1)->flow, 0);
		CHECK_EQ_STR(step(p, 1)->url, "http://h:1/items/1");
		CHECK_EQ_STR(step(p, 1)->tagline, "flow=read");
		CHECK_EQ_INT(step(p, 2)->flow, 1);
		CHECK_EQ_INT(step(p, 2)->method, HM_POST);
		CHECK_EQ_STR(step(p, 2)->tagline, "flow=write");
		CHECK_EQ_INT(step(p, 3)->flow, 2);
		CHECK_EQ_INT(step(p, 3)->kind, STEP_THINK);
		CHECK_EQ_STR(step(p, 3)->tagline, "flow=ai");
		CHECK(step(p, 0)->group == NULL);
	}
	plan_free(p);

	/* A plain `flow:` is one flow named default. */
	p = PARSE_OK(HEAD "    flow:\n"
	                  "      - get: /a\n"
	                  "      - think: 10ms\n");
	if (p == NULL)
		return;
	s = &p->scenarios[0];
	CHECK_EQ_INT(s->nflows, 1);
	if (s->nflows == 1 && HAS_STEPS(p, 2)) {
		CHECK_EQ_STR(s->flows[0].name, "default");
		CHECK(s->flows[0].weight == 1.0);
		CHECK(s->weight_total == 1.0);
		CHECK_EQ_INT(s->flows[0].first, 0);
		CHECK_EQ_INT(s->flows[0].nsteps, 2);
		CHECK_EQ_STR(s->flows[0].tagline, "flow=default");
		CHECK_EQ_INT(s->flows[0].feeders, 0);
		CHECK_EQ_STR(step(p, 0)->tagline, "flow=default");
		CHECK_EQ_INT(step(p, 0)->redirects, 10);
		CHECK_EQ_INT(step(p, 0)->compression, 0);
		CHECK_EQ_INT(step(p, 0)->dynamic, 0);
		CHECK_EQ_STR(lit(&step(p, 0)->t_url), "http://h:1/a");
	}
	CHECK_EQ_INT(p->cookies, 1);
	CHECK_EQ_INT(p->nvars, 0);
	CHECK_EQ_INT(p->nfeeders, 0);
	CHECK_EQ_INT(p->nfiles, 0);
	CHECK_EQ_INT(p->nenv, 0);
	plan_free(p);
}

/* ---- groups and tags ---- */

static void test_groups(void)
{
	plan *p = PARSE_OK(HEAD "    flow:\n"
	                        "      - get: /a\n"
	                        "      - group: outer\n"
	                        "        steps:\n"
	                        "          - get: /b\n"
	                        "          - group: inner\n"
	                        "            steps:\n"
	                        "              - get: /c\n"
	                        "                tags: { zone: eu, kind: read, alpha: x }\n"
	                        "          - get: /d\n"
	                        "      - get: /e\n"
	                        "        redirects: 0\n"
	                        "        compression: true\n"
	                        "cookies: false\n");
	if (p == NULL)
		return;
	CHECK_EQ_INT(p->cookies, 0);
	if (HAS_STEPS(p, 9)) {
		static const int kinds[] = {STEP_HTTP,      STEP_GROUP, STEP_HTTP,      STEP_GROUP, STEP_HTTP,
		                            STEP_GROUP_END, STEP_HTTP,  STEP_GROUP_END, STEP_HTTP};
		for (size_t i = 0; i < NELEM(kinds); i++)
			CHECK_EQ_INT(step(p, i)->kind, kinds[i]);
		CHECK(step(p, 0)->group == NULL);
		CHECK_EQ_STR(step(p, 0)->tagline, "flow=default");
		CHECK_EQ_STR(step(p, 1)->group, "outer");
		CHECK_EQ_INT(step(p, 1)->line, 8);
		CHECK_EQ_INT(step(p, 1)->col, 9);
		CHECK_EQ_STR(step(p, 2)->group, "outer");
		CHECK_EQ_STR(step(p, 2)->path, "/b");
		CHECK_EQ_STR(step(p, 2)->tagline, "flow=default\ngroup=outer");
		CHECK_EQ_STR(step(p, 3)->group, "outer::inner");
		CHECK_EQ_STR(step(p, 4)->group, "outer::inner");
		CHECK_EQ_STR(step(p, 4)->path, "/c");
		CHECK_EQ_INT(step(p, 4)->ntags, 3);
		CHECK_EQ_STR(step(p, 4)->tagline,
		             "alpha=x\nflow=default\ngroup=outer::inner\nkind=read\nzone=eu");
		CHECK_EQ_STR(step(p, 5)->group, "outer::inner");
		CHECK_EQ_INT(step(p, 5)->group_begin, 3);
		CHECK_EQ_STR(step(p, 5)->tagline, "flow=default\ngroup=outer::inner");
		CHECK_EQ_STR(step(p, 6)->group, "outer");
		CHECK_EQ_STR(step(p, 6)->path, "/d");
		CHECK_EQ_STR(step(p, 7)->group, "outer");
		CHECK_EQ_INT(step(p, 7)->group_begin, 1);
		CHECK_EQ_STR(step(p, 7)->tagline, "flow=default\ngroup=outer");
		CHECK(step(p, 8)->group == NULL);
		CHECK_EQ_STR(step(p, 8)->path, "/e");
		CHECK_EQ_INT(step(p, 8)->redirects, 0);
		CHECK_EQ_INT(step(p, 8)->compression, 1);
		for (size_t i = 0; i < 9; i++)
			CHECK_EQ_INT(step(p, i)->flow, 0);
		CHECK_EQ_INT(p->scenarios[0].flows[0].nsteps, 9);
	}
	plan_free(p);

	/* In a named flow, and a tag on a step outside any group. */
	p = PARSE_OK(HEAD "    flows:\n"
	                  "      a: { steps: [ { get: /x } ] }\n"
	                  "      b:\n"
	                  "        steps:\n"
	                  "          - group: pay\n"
	                  "            steps: [ { get: /y, tags: { kind: w } } ]\n"
	                  "          - get: /z\n"
	                  "            tags: { z_last: 1, a_first: '2' }\n");
	if (p == NULL)
		return;
	if (HAS_STEPS(p, 5)) {
		CHECK_EQ_STR(step(p, 0)->tagline, "flow=a");
		CHECK_EQ_INT(step(p, 1)->kind, STEP_GROUP);
		CHECK_EQ_INT(step(p, 1)->flow, 1);
		CHECK_EQ_STR(step(p, 2)->tagline, "flow=b\ngroup=pay\nkind=w");
		CHECK_EQ_INT(step(p, 3)->kind, STEP_GROUP_END);
		CHECK_EQ_INT(step(p, 3)->flow, 1);
		CHECK_EQ_INT(step(p, 3)->group_begin, 1);
		CHECK_EQ_STR(step(p, 3)->tagline, "flow=b\ngroup=pay");
		CHECK_EQ_STR(step(p, 4)->tagline, "a_first=2\nflow=b\nz_last=1");
		if (step(p, 4)->ntags == 2) {
			CHECK_EQ_STR(step(p, 4)->tags[0].name, "z_last"); /* as written */
			CHECK_EQ_STR(step(p, 4)->tags[0].value, "1");
		}
		CHECK_EQ_INT(p->scenarios[0].flows[1].first, 1);
		CHECK_EQ_INT(p->scenarios[0].flows[1].nsteps, 4);
	}
	plan_free(p);
}

/* YAML for groups nested depth deep around one step, in block style. */
static char *nested_groups(int depth)
{
	sbuf b = {0};
	char line[256];
	sbuf_str(&b, HEAD "    flow:\n");
	for (int i = 0; i < depth; i++) {
		snprintf(line, sizeof(line), "%*s- group: g%d\n%*ssteps:\n", 6 + 4 * i, "", i + 1, 8 + 4 * i,
		         "");
		sbuf_str(&b, line);
	}
	snprintf(line, sizeof(line), "%*s- get: /x\n", 6 + 4 * depth, "");
	sbuf_str(&b, line);
	CHECK(!b.oom);
	return b.p;
}

static void test_group_depth(void)
{
	char *y = nested_groups(8);
	plan *p = PARSE_OK(y);
	free(y);
	if (p != NULL && HAS_STEPS(p, 17)) {
		CHECK_EQ_STR(step(p, 8)->group, "g1::g2::g3::g4::g5::g6::g7::g8");
		CHECK_EQ_STR(step(p, 8)->tagline, "flow=default\ngroup=g1::g2::g3::g4::g5::g6::g7::g8");
		CHECK_EQ_INT(step(p, 9)->kind, STEP_GROUP_END);
		CHECK_EQ_INT(step(p, 9)->group_begin, 7);
		CHECK_EQ_INT(step(p, 16)->kind, STEP_GROUP_END);
		CHECK_EQ_INT(step(p, 16)->group_begin, 0);
		CHECK_EQ_STR(step(p, 16)->group, "g1");
	}
	plan_free(p);

	/* The ninth group (line 7 + 2 * 8, column 9 + 4 * 8) is one too many. */
	y = nested_groups(9);
	EXPECT_ERR(y, "t.yaml:23:41: ", "groups are nested too deeply (the limit is 8)");
	free(y);
}

/* ---- captures ---- */

static void test_captures(void)
{
	plan *p = PARSE_OK(HEAD "    flows:\n"
	                        "      login:\n"
	                        "        steps:\n"
	                        "          - post: /login\n"
	                        "            capture:\n"
	                        "              token: { json: $.accessToken }\n"
	                        "              next: { header: Location }\n"
	                        "              csrf: { regex: 'name=\"csrf\" value=\"([^\"]+)\"' }\n"
	                        "              sid: { cookie: session }\n"
	                        "              part: { regex: 'id=([0-9]+)-([a-z]+)', group: 2 }\n"
	                        "              all: { regex: 'id=[0-9]+', group: 0 }\n"
	                        "            onCaptureFail: continue\n"
	                        "          - get: '/items/{{ token }}?n={{ next }}'\n"
	                        "      other:\n"
	                        "        steps:\n"
	                        "          - get: /x\n"
	                        "            onCaptureFail: end-iteration\n"
	                        "            capture:\n"
	                        "              id: { json: '$.items[0].id' }\n"
	                        "              token: { json: $.t }\n"
	                        "          - get: '/y/{{ token }}/{{ id }}'\n");
	if (p == NULL)
		return;
	CHECK_EQ_INT(p->nvars, 7);
	if (p->nvars == 7) {
		static const char *const names[] = {"token", "next", "csrf", "sid", "part", "all", "id"};
		for (size_t i = 0; i < NELEM(names); i++)
			CHECK_EQ_STR(p->vars[i], names[i]);
	}
	if (!HAS_STEPS(p, 4) || step(p, 0)->ncaptures != 6 || step(p, 2)->ncaptures != 2) {
		CHECK(0);
		plan_free(p);
		return;
	}
	const plan_capture *c = step(p, 0)->captures;
	CHECK_EQ_STR(c[0].var, "token");
	CHECK_EQ_INT(c[0].var_index, 0);
	CHECK_EQ_INT(c[0].from, CAP_JSON);
	CHECK_EQ_STR(c[0].arg, "$.accessToken");
	CHECK(c[0].re == NULL);
	CHECK_EQ_INT(c[0].line, 11);
	CHECK_EQ_INT(c[0].col, 15);
	CHECK_EQ_STR(c[1].var, "next");
	CHECK_EQ_INT(c[1].var_index, 1);
	CHECK_EQ_INT(c[1].from, CAP_HEADER);
	CHECK_EQ_STR(c[1].arg, "Location");
	CHECK_EQ_INT(c[2].from, CAP_REGEX);
	CHECK_EQ_STR(c[2].arg, "name=\"csrf\" value=\"([^\"]+)\"");
	CHECK_EQ_INT(c[2].group, 1); /* the default */
	CHECK(c[2].re != NULL);
	CHECK_EQ_INT(c[3].from, CAP_COOKIE);
	CHECK_EQ_STR(c[3].arg, "session");
	CHECK_EQ_INT(c[3].var_index, 3);
	CHECK_EQ_INT(c[4].from, CAP_REGEX);
	CHECK_EQ_INT(c[4].group, 2);
	CHECK_EQ_INT(c[5].group, 0);
	CHECK(c[5].re != NULL);
	CHECK_EQ_INT(step(p, 0)->capture_continue, 1);
	CHECK_EQ_INT(step(p, 0)->dynamic, 0);

	/* The next step of the flow sees the variables. */
	const plan_step *st = step(p, 1);
	CHECK_EQ_INT(st->dynamic, 1);
	CHECK_EQ_INT(st->t_url.dynamic, 1);
	CHECK_EQ_STR(st->url, "http://h:1/items/{{ token }}?n={{ next }}");
	tmpl_env e = env_for(p);
	CHECK_EQ_STR(render(&st->t_url, &e), "http://h:1/items/abc?n=a&b=c d");

	/* The same name in another flow is the same variable. */
	c = step(p, 2)->captures;
	CHECK_EQ_STR(c[0].var, "id");
	CHECK_EQ_INT(c[0].var_index, 6);
	CHECK_EQ_STR(c[0].arg, "$.items[0].id");
	CHECK_EQ_STR(c[1].var, "token");
	CHECK_EQ_INT(c[1].var_index, 0);
	CHECK_EQ_INT(step(p, 2)->capture_continue, 0);
	CHECK_EQ_INT(step(p, 2)->flow, 1);
	vars[6] = "ID9";
	var_lens[6] = 3;
	CHECK_EQ_INT(step(p, 3)->dynamic, 1);
	CHECK_EQ_STR(render(&step(p, 3)->t_url, &e), "http://h:1/y/abc/ID9");
	vars[6] = NULL;
	var_lens[6] = 0;
	plan_free(p);
}

/* ---- checks ---- */

static void test_checks(void)
{
	plan *p = PARSE_OK(HEAD "    flow:\n"
	                        "      - get: /a\n"
	                        "        checks:\n"
	                        "          ok: { status: 200 }\n"
	                        "          any: { status: [200, 201, 204] }\n"
	                        "          ct: { header: Content-Type, equals: application/json }\n"
	                        "          ctj: { contains: json, header: content-type }\n"
	                        "          loc: { header: Location }\n"
	                        "          says: { body: ok }\n"
	                        "          has id: { json: $.id }\n"
	                        "          id is 7: { json: '$.items[0].id', equals: 7 }\n"
	                        "          name has: { json: $.name, contains: '{{ __VU }}x' }\n"
	                        "          lt: { duration: \"< 300ms\" }\n"
	                        "          le: { duration: \"<= 1s\" }\n"
	                        "          gt: { duration: \">5ms\" }\n"
	                        "          ge: { duration: \" >= 1m \" }\n"
	                        "      - get: /b\n"
	                        "        name: bee\n"
	                        "        check: { status: 200, body: x }\n"
	                        "      - get: /c\n"
	                        "        check: { status: 201 }\n"
	                        "        checks: { extra: { body: '{{ __ITER }}' } }\n");
	if (p == NULL)
		return;
	if (!HAS_STEPS(p, 3) || step(p, 0)->nchecks != 13) {
		CHECK(0);
		plan_free(p);
		return;
	}
	const plan_check *k = step(p, 0)->checks;
	CHECK_EQ_STR(k[0].name, "ok");
	CHECK_EQ_INT(k[0].kind, CHK_STATUS);
	CHECK_EQ_INT(k[0].nstatuses, 1);
	CHECK_EQ_INT(k[0].statuses[0], 200);
	CHECK_EQ_INT(k[0].line, 9);
	CHECK_EQ_INT(k[0].col, 11);
	CHECK_EQ_INT(k[1].kind, CHK_STATUS);
	CHECK_EQ_INT(k[1].nstatuses, 3);
	if (k[1].nstatuses == 3) {
		CHECK_EQ_INT(k[1].statuses[0], 200);
		CHECK_EQ_INT(k[1].statuses[1], 201);
		CHECK_EQ_INT(k[1].statuses[2], 204);
	}
	CHECK_EQ_INT(k[2].kind, CHK_HEADER);
	CHECK_EQ_INT(k[2].op, CHKOP_EQUALS);
	CHECK_EQ_STR(k[2].arg, "Content-Type");
	CHECK_EQ_STR(lit(&k[2].value), "application/json");
	CHECK_EQ_INT(k[3].kind, CHK_HEADER);
	CHECK_EQ_INT(k[3].op, CHKOP_CONTAINS);
	CHECK_EQ_STR(k[3].arg, "content-type");
	CHECK_EQ_STR(lit(&k[3].value), "json");
	CHECK_EQ_INT(k[4].kind, CHK_HEADER);
	CHECK_EQ_INT(k[4].op, CHKOP_PRESENT);
	CHECK_EQ_STR(k[4].arg, "Location");
	CHECK_EQ_INT(k[5].kind, CHK_BODY);
	CHECK_EQ_INT(k[5].op, CHKOP_CONTAINS);
	CHECK_EQ_STR(lit(&k[5].value), "ok");
	CHECK_EQ_STR(k[6].name, "has id");
	CHECK_EQ_INT(k[6].kind, CHK_JSON);
	CHECK_EQ_INT(k[6].op, CHKOP_PRESENT);
	CHECK_EQ_STR(k[6].arg, "$.id");
	CHECK_EQ_INT(k[7].kind, CHK_JSON);
	CHECK_EQ_INT(k[7].op, CHKOP_EQUALS);
	CHECK_EQ_STR(k[7].arg, "$.items[0].id");
	CHECK_EQ_STR(lit(&k[7].value), "7");
	CHECK_EQ_INT(k[8].op, CHKOP_CONTAINS);
	CHECK_EQ_INT(k[8].value.dynamic, 1);
	tmpl_env e = env_for(p);
	CHECK_EQ_STR(render(&k[8].value, &e), "7x");
	static const struct {
		plan_check_op op;
		int64_t us;
	} durs[] = {{CHKOP_LT, 300000}, {CHKOP_LE, 1000000}, {CHKOP_GT, 5000}, {CHKOP_GE, 60000000}};
	for (size_t i = 0; i < NELEM(durs); i++) {
		CHECK_EQ_INT(k[9 + i].kind, CHK_DURATION);
		CHECK_EQ_INT(k[9 + i].op, durs[i].op);
		CHECK_EQ_INT(k[9 + i].limit_us, durs[i].us);
	}
	CHECK_EQ_INT(plan_step_needs_body(step(p, 0)), 1);
	CHECK_EQ_INT(plan_step_needs_headers(step(p, 0)), 1);

	/* The older `check:` is named after the step. */
	const plan_step *st = step(p, 1);
	CHECK_EQ_INT(st->nchecks, 2);
	if (st->nchecks == 2) {
		CHECK_EQ_STR(st->checks[0].name, "bee: status is 200");
		CHECK_EQ_INT(st->checks[0].kind, CHK_STATUS);
		CHECK_EQ_STR(st->checks[1].name, "bee: body contains \"x\"");
		CHECK_EQ_INT(st->checks[1].kind, CHK_BODY);
		CHECK_EQ_INT(st->checks[1].op, CHKOP_CONTAINS);
		CHECK_EQ_STR(lit(&st->checks[1].value), "x");
	}
	CHECK_EQ_INT(plan_step_needs_headers(st), 0);
	st = step(p, 2);
	CHECK_EQ_INT(st->nchecks, 2);
	if (st->nchecks == 2) {
		CHECK_EQ_STR(st->checks[0].name, "/c: status is 201");
		CHECK_EQ_STR(st->checks[1].name, "extra");
		CHECK_EQ_STR(render(&st->checks[1].value, &e), "3");
	}
	plan_free(p);
}

/* ---- bodies ---- */

static void test_bodies(void)
{
	reset_io();
	plan *p = PARSE_OK(HEAD "    flow:\n"
	                        "      - post: /f\n"
	                        "        form: { a: 1, b: x y }\n"
	                        "      - post: /g\n"
	                        "        form: { 'e mail': '{{ __VU }} & x', n: 3 }\n"
	                        "      - put: /up\n"
	                        "        bodyFile: payload.bin\n"
	                        "      - put: /up2\n"
	                        "        bodyFile: payload.bin\n"
	                        "      - post: /p\n"
	                        "        body: 'it={{ __ITER }}'\n");
	if (p == NULL)
		return;
	if (!HAS_STEPS(p, 5)) {
		plan_free(p);
		return;
	}
	tmpl_env e = env_for(p);
	const plan_step *st = step(p, 0);
	CHECK_EQ_INT(st->body_is_form, 1);
	CHECK_EQ_INT(st->body_is_json, 0);
	CHECK_EQ_STR(st->body, "a=1&b=x%20y");
	CHECK_EQ_INT(st->body_len, 11);
	CHECK_EQ_INT(st->dynamic, 0);

	st = step(p, 1);
	CHECK_EQ_INT(st->body_is_form, 1);
	CHECK(st->body == NULL);
	CHECK_EQ_INT(st->t_body.dynamic, 1);
	CHECK_EQ_INT(st->dynamic, 1);
	CHECK_EQ_STR(render(&st->t_body, &e), "e%20mail=7%20%26%20x&n=3");

	static const char bin[] = "\0\001bin\377";
	for (size_t i = 2; i <= 3; i++) {
		st = step(p, i);
		CHECK_EQ_STR(st->body_file, "payload.bin");
		CHECK_EQ_INT(st->body_len, 6);
		CHECK(st->body != NULL && memcmp(st->body, bin, 6) == 0);
		CHECK_EQ_INT(st->dynamic, 0);
	}
	/* Read once, kept once for shipping. */
	CHECK_EQ_INT(files[2].reads, 1);
	CHECK_EQ_INT(p->nfiles, 1);
	if (p->nfiles == 1) {
		CHECK_EQ_STR(p->files[0].name, "payload.bin");
		CHECK_EQ_INT(p->files[0].len, 6);
		CHECK(memcmp(p->files[0].data, bin, 6) == 0);
	}

	st = step(p, 4);
	CHECK_EQ_STR(st->body, "it={{ __ITER }}");
	CHECK_EQ_INT(st->dynamic, 1);
	CHECK_EQ_STR(render(&st->t_body, &e), "it=3");
	plan_free(p);
}

/* A JSON body's templated values render to valid JSON whatever they hold. */
static void test_json_templates(void)
{
	plan *p = PARSE_OK(HEAD "    flow:\n"
	                        "      - post: /j\n"
	                        "        json:\n"
	                        "          email: '{{ users.email }}'\n"
	                        "          n: 1\n"
	                        "          note: 'say \"hi\" \\ {{ __ITER }}'\n"
	                        "          multi: \"a\\tb\\n{{ __VU }}\"\n"
	                        "          key: '{{ env(\"QUOTE\") }}/{{ __VU }}'\n"
	                        "          list: [ x, 'id-{{ __VU }}', { deep: '{{ users.password }}' } ]\n"
	                        "      - post: /k\n"
	                        "        json: { plain: 'no \"template\"' }\n" DATA);
	if (p == NULL)
		return;
	if (!HAS_STEPS(p, 2)) {
		plan_free(p);
		return;
	}
	const plan_step *st = step(p, 0);
	CHECK_EQ_INT(st->body_is_json, 1);
	CHECK_EQ_INT(st->t_body.dynamic, 1);
	CHECK_EQ_INT(st->dynamic, 1);
	CHECK_EQ_INT(st->feeders, 1); /* users only */
	tmpl_env e = env_for(p);
	const char *body = render(&st->t_body, &e);
	json_error_t jerr;
	json_t *j = json_loads(body, 0, &jerr);
	check_total_++;
	if (j == NULL) {
		check_failed_++;
		fprintf(stderr, "%s:%d: rendered body is not JSON (%s): %s\n", __FILE__, __LINE__, jerr.text,
		        body);
	} else {
		CHECK_EQ_STR(json_string_value(json_object_get(j, "email")), "a\"b\\c\nd");
		CHECK_EQ_INT(json_integer_value(json_object_get(j, "n")), 1);
		CHECK(json_is_integer(json_object_get(j, "n")));
		CHECK_EQ_STR(json_string_value(json_object_get(j, "note")), "say \"hi\" \\ 3");
		CHECK_EQ_STR(json_string_value(json_object_get(j, "multi")), "a\tb\n7");
		CHECK_EQ_STR(json_string_value(json_object_get(j, "key")), "say \"hi\"/7");
		json_t *list = json_object_get(j, "list");
		CHECK_EQ_INT(json_array_size(list), 3);
		CHECK_EQ_STR(json_string_value(json_array_get(list, 0)), "x");
		CHECK_EQ_STR(json_string_value(json_array_get(list, 1)), "id-7");
		CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(list, 2), "deep")), "pw1");
		json_decref(j);
	}

	/* Without templates the body is the serialized JSON, escaped by jansson. */
	st = step(p, 1);
	CHECK_EQ_STR(st->body, "{\"plain\":\"no \\\"template\\\"\"}");
	CHECK_EQ_INT(st->dynamic, 0);
	plan_free(p);
}

/* Query values and headers. */
static void test_url_and_headers(void)
{
	plan *p = PARSE_OK(HEAD "    flow:\n"
	                        "      - get: /s\n"
	                        "        query: { q: '{{ users.email }}', page: 2, 'x y': 'a b' }\n"
	                        "      - get: '/s?z=1'\n"
	                        "        query: { t: '{{ __VU }}/{{ env(\"API_KEY\") }}' }\n"
	                        "        headers:\n"
	                        "          Authorization: 'Bearer {{ env(\"API_KEY\") }}-{{ __VU }}'\n"
	                        "          X-Static: plain\n"
	                        "      - get: 'http://api:2/u/{{ __VU }}'\n"
	                        "        headers: { X-D: '{{ env(\"MISSING\", \"dflt\") }}' }\n"
	                        "      - get: '/v/{{ items.id }}'\n" DATA);
	if (p == NULL)
		return;
	if (!HAS_STEPS(p, 4)) {
		plan_free(p);
		return;
	}
	tmpl_env e = env_for(p);
	const plan_step *st = step(p, 0);
	CHECK_EQ_STR(st->url, "http://h:1/s?q={{ users.email }}&page=2&x%20y=a%20b");
	CHECK_EQ_INT(st->dynamic, 1);
	CHECK_EQ_STR(render(&st->t_url, &e), "http://h:1/s?q=a%22b%5Cc%0Ad&page=2&x%20y=a%20b");
	CHECK_EQ_INT(st->feeders, 1);
	int found = 0;
	for (size_t i = 0; i < st->t_url.nparts; i++)
		if (st->t_url.parts[i].kind == TP_COL) {
			found++;
			CHECK_EQ_INT(st->t_url.parts[i].a, 0);
			CHECK_EQ_INT(st->t_url.parts[i].b, 0);
			CHECK_EQ_INT(st->t_url.parts[i].esc, TMPL_ESC_URL);
		}
	CHECK_EQ_INT(found, 1);

	st = step(p, 1);
	CHECK_EQ_STR(render(&st->t_url, &e), "http://h:1/s?z=1&t=7%2Fk-123");
	CHECK_EQ_INT(st->nheaders, 2);
	if (st->nheaders == 2 && st->t_headers != NULL) {
		CHECK_EQ_STR(st->headers[0].name, "Authorization");
		CHECK_EQ_STR(st->headers[0].value, "Bearer {{ env(\"API_KEY\") }}-{{ __VU }}");
		CHECK_EQ_INT(st->t_headers[0].dynamic, 1);
		CHECK_EQ_STR(render(&st->t_headers[0], &e), "Bearer k-123-7");
		CHECK_EQ_INT(st->t_headers[1].dynamic, 0);
		CHECK_EQ_STR(lit(&st->t_headers[1]), "plain");
	}
	CHECK_EQ_INT(st->feeders, 0);

	/* An absolute URL may template its path; an env() default is a literal. */
	st = step(p, 2);
	CHECK_EQ_STR(render(&st->t_url, &e), "http://api:2/u/7");
	if (st->nheaders == 1 && st->t_headers != NULL) {
		CHECK_EQ_INT(st->t_headers[0].dynamic, 0);
		CHECK_EQ_STR(lit(&st->t_headers[0]), "dflt");
	}

	st = step(p, 3);
	CHECK_EQ_STR(render(&st->t_url, &e), "http://h:1/v/9");
	CHECK_EQ_INT(st->feeders, 2);
	CHECK_EQ_INT(p->scenarios[0].flows[0].feeders, 3);

	/* env("API_KEY") was read once and is kept once; an unset one is not kept. */
	CHECK_EQ_INT(p->nenv, 1);
	if (p->nenv == 1) {
		CHECK_EQ_STR(p->env[0].name, "API_KEY");
		CHECK_EQ_STR(p->env[0].data, "k-123");
		CHECK_EQ_INT(p->env[0].len, 5);
	}
	CHECK_EQ_INT(envs[0].reads, 1);
	plan_free(p);
}

/* ---- feeders ---- */

static void test_feeders(void)
{
	reset_io();
	plan *p = PARSE_OK(
	    HEAD "    flows:\n"
	         "      a: { steps: [ { get: '/a/{{ users.password }}' }, { get: /plain } ] }\n"
	         "      b: { steps: [ { get: '/b/{{ items.id }}' } ] }\n"
	         "      c: { steps: [ { get: /c } ] }\n"
	         "data:\n"
	         "  users:\n"
	         "    file: users.csv\n"
	         "    split: none\n"
	         "    order: random\n"
	         "    onExhausted: stop\n"
	         "  items: { file: items.csv, split: per-agent, order: sequential, onExhausted: recycle }\n");
	if (p == NULL)
		return;
	CHECK_EQ_INT(p->nfeeders, 2);
	if (p->nfeeders == 2) {
		const plan_feeder *f = &p->feeders[0];
		CHECK_EQ_STR(f->name, "users");
		CHECK_EQ_STR(f->file, "users.csv");
		CHECK_EQ_INT(f->split, FEED_SPLIT_NONE);
		CHECK_EQ_INT(f->order, 1);
		CHECK_EQ_INT(f->exhausted, 1);
		CHECK_EQ_INT(f->line, 11);
		CHECK_EQ_INT(f->col, 3);
		CHECK_EQ_INT(f->table.ncols, 2);
		CHECK_EQ_INT(f->table.nrows, 2);
		f = &p->feeders[1];
		CHECK_EQ_STR(f->name, "items");
		CHECK_EQ_INT(f->split, FEED_SPLIT_PER_AGENT);
		CHECK_EQ_INT(f->order, 0);
		CHECK_EQ_INT(f->exhausted, 0);
		CHECK_EQ_INT(f->table.nrows, 2);
	}
	CHECK_EQ_INT(p->nfiles, 2);
	if (p->nfiles == 2) {
		CHECK_EQ_STR(p->files[0].name, "users.csv");
		CHECK_EQ_INT(p->files[0].len, strlen(users_csv));
		CHECK_EQ_STR(p->files[1].name, "items.csv");
	}
	const plan_scenario *s = &p->scenarios[0];
	if (s->nflows == 3 && HAS_STEPS(p, 4)) {
		CHECK_EQ_INT(step(p, 0)->feeders, 1);
		CHECK_EQ_INT(step(p, 1)->feeders, 0);
		CHECK_EQ_INT(step(p, 2)->feeders, 2);
		CHECK_EQ_INT(s->flows[0].feeders, 1);
		CHECK_EQ_INT(s->flows[1].feeders, 2);
		CHECK_EQ_INT(s->flows[2].feeders, 0);
		const tmpl *t = &step(p, 0)->t_url;
		CHECK(t->nparts == 2 && t->parts[1].kind == TP_COL && t->parts[1].a == 0 &&
		      t->parts[1].b == 1);
		tmpl_env e = env_for(p);
		CHECK_EQ_STR(render(t, &e), "http://h:1/a/pw1");
	}
	plan_free(p);

	/* CSV errors carry the CSV file's own line and column. */
	EXPECT_ERR(HEAD "    flow: [ { get: /a } ]\n"
	                "data:\n"
	                "  users: { file: short.csv }\n",
	           "t.yaml:8:18: ", "short.csv:3:1: row has 1 field, the header has 2");
	EXPECT_ERR(HEAD "    flow: [ { get: /a } ]\n"
	                "data:\n"
	                "  users: { file: open.csv }\n",
	           "t.yaml:8:18: ", "open.csv:2:1: unterminated quoted field");
	EXPECT_ERR(HEAD "    flow: [ { get: /a } ]\n"
	                "data:\n"
	                "  users: { file: header.csv }\n",
	           "t.yaml:8:18: ", "feeder 'users': header.csv has a header but no rows");
	EXPECT_ERR(HEAD "    flow: [ { get: /a } ]\n"
	                "data:\n"
	                "  users: { file: missing.csv }\n",
	           "t.yaml:8:18: ", "cannot read 'missing.csv': not in the test's table");
	EXPECT_ERR(HEAD "    flow: [ { get: /a } ]\n"
	                "data:\n"
	                "  users: { file: users.csv, split: both }\n",
	           "t.yaml:8:36: ", "'split' is 'per-agent' or 'none', not 'both'");
	EXPECT_ERR(HEAD "    flow: [ { get: /a } ]\n"
	                "data:\n"
	                "  users: { split: none }\n",
	           "t.yaml:8:3: ", "feeder 'users' needs a 'file'");
}

/* ---- errors ---- */

static void test_errors(void)
{
	/* Variables: only earlier steps of the same flow capture them. */
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: '/x/{{ token }}'\n"
	                "      - get: /login\n"
	                "        capture: { token: { json: $.t } }\n",
	           "t.yaml:7:21: ", "unknown variable 'token'");
	EXPECT_ERR(HEAD "    flows:\n"
	                "      a:\n"
	                "        steps:\n"
	                "          - get: /login\n"
	                "            capture: { token: { json: $.t } }\n"
	                "      b:\n"
	                "        steps:\n"
	                "          - get: '/me/{{ token }}'\n",
	           "t.yaml:13:26: ", "unknown variable 'token'");
	/* A step's own captures are not known to its own request. */
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: '/x/{{ token }}'\n"
	                "        capture: { token: { json: $.t } }\n",
	           "t.yaml:7:21: ", "unknown variable 'token'");

	/* A header value's error points into the value, in flow or block style. */
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /a\n"
	                "        headers: { X-A: a, Authorization: 'Bearer {{ tokn }}' }\n",
	           "t.yaml:8:54: ", "unknown variable 'tokn'");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /a\n"
	                "        headers:\n"
	                "          X-A: a\n"
	                "          X-B: x{{ __VU }}{{ nope }}\n",
	           "t.yaml:10:30: ", "unknown variable 'nope'");

	/* Feeders. */
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: '/x/{{ nope.email }}'\n" DATA,
	           "t.yaml:7:21: ", "no feeder named 'nope'");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: '/x/{{ users.zip }}'\n" DATA,
	           "t.yaml:7:21: ", "feeder 'users' has no column 'zip'");

	/* Captures. */
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /login\n"
	                "        capture: { token: { json: accessToken } }\n",
	           "t.yaml:8:35: ", "bad JSON path 'accessToken'");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /login\n"
	                "        capture: { t: { regex: 'a((' } }\n",
	           "t.yaml:8:32: ", "bad regex: ");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /login\n"
	                "        capture: { t: { regex: 'id=([0-9]+)', group: 2 } }\n",
	           "t.yaml:8:20: ", "capture 't' asks for group 2, but the regex has 1");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /login\n"
	                "        capture: { t: { json: $.a, header: X } }\n",
	           "t.yaml:8:36: ", "capture 't' takes one of json, header, regex or cookie");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /login\n"
	                "        capture: { __VU: { json: $.a } }\n",
	           "t.yaml:8:20: ", "'__VU' is a built-in name");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /login\n"
	                "        onCaptureFail: retry\n",
	           "t.yaml:8:24: ", "'onCaptureFail' is 'end-iteration' or 'continue'");

	/* Checks. */
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /a\n"
	                "        checks: { c: { json: id } }\n",
	           "t.yaml:8:30: ", "bad JSON path 'id'");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /a\n"
	                "        checks: { c: { status: 200, body: ok } }\n",
	           "t.yaml:8:37: ", "check 'c' tests one thing: status, header, body, json or duration");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /a\n"
	                "        checks: { c: { stauts: 200 } }\n",
	           "t.yaml:8:24: ", "unknown key 'stauts' in a check (did you mean 'status'?)");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /a\n"
	                "        checks: { c: { duration: '300ms' } }\n",
	           "t.yaml:8:34: ", "'duration' needs a comparison such as '< 300ms'");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /a\n"
	                "        checks: { c: { body: x, equals: y } }\n",
	           "t.yaml:8:33: ", "'equals' goes with 'header' or 'json'");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /a\n"
	                "        checks: { c: { status: [200, 700] } }\n",
	           "t.yaml:8:38: ", "a status is a number from 100 to 599");

	/* Flows. */
	EXPECT_ERR(HEAD "    flows: { a: { steps: [ { get: /a } ] } }\n"
	                "    flow: [ { get: /b } ]\n",
	           "t.yaml:7:5: ", "a scenario has 'flow' or 'flows', not both");
	EXPECT_ERR(HEAD "    flow: [ { get: /b } ]\n"
	                "    flows: { a: { steps: [ { get: /a } ] } }\n",
	           "t.yaml:6:5: ", "a scenario has 'flow' or 'flows', not both");
	EXPECT_ERR(HEAD "    flows: {}\n", "t.yaml:6:12: ", "'flows' is empty");
	EXPECT_ERR(HEAD "    flows:\n"
	                "      a: { steps: [ { get: /a } ] }\n"
	                "      a: { steps: [ { get: /b } ] }\n",
	           "t.yaml:8:7: ", "duplicate key"); /* libfyaml's own check */
	EXPECT_ERR(HEAD "    flows:\n"
	                "      a: { weight: 0, steps: [ { get: /a } ] }\n",
	           "t.yaml:7:20: ", "a flow's weight must be above 0");
	EXPECT_ERR(HEAD "    flows:\n"
	                "      a: { weight: 1 }\n",
	           "t.yaml:7:7: ", "flow 'a' needs 'steps'");

	/* Groups and tags. */
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - group: g\n",
	           "t.yaml:7:9: ", "a group needs 'steps'");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - group: g\n"
	                "        steps: []\n",
	           "t.yaml:8:16: ", "'steps' is empty");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - group: 'a::b'\n"
	                "        steps: [ { get: /a } ]\n",
	           "t.yaml:7:16: ", "a group needs a name without line breaks, braces or '::'");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: /a\n"
	                "        tags: { flow: x }\n",
	           "t.yaml:8:17: ", "'flow' is a tag herd sets itself; choose another name");

	/* URLs, files, cookies, env. */
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: 'http://{{ __VU }}/x'\n",
	           "t.yaml:7:14: ", "the scheme and host cannot be templated");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - put: /a\n"
	                "        bodyFile: nope.bin\n",
	           "t.yaml:8:19: ", "cannot read 'nope.bin': not in the test's table");
	EXPECT_ERR(HEAD "    flow: [ { get: /a } ]\n"
	                "cookies: 3\n",
	           "t.yaml:7:10: ", "'cookies' must be true or false, got '3'");
	EXPECT_ERR(HEAD "    flow:\n"
	                "      - get: '/{{ env(\"NOPE\") }}'\n",
	           "t.yaml:7:19: ", "environment variable NOPE is not set");

	/* Without an io, a plan that names a file fails cleanly. */
	const char *y = HEAD "    flow:\n"
	                     "      - put: /a\n"
	                     "        bodyFile: payload.bin\n";
	plan *p = (plan *)0x1;
	char err[512] = "";
	CHECK_EQ_INT(plan_parse(y, strlen(y), "t.yaml", &p, err, sizeof(err)), HERD_EPLAN);
	CHECK_EQ_STR(err, "t.yaml:8:19: file 'payload.bin' is not available here");
	CHECK(p == (plan *)0x1);
}


/* ---- per-VU setup (issue 10, item 10) ---- */

static void test_setup(void)
{
	plan *p = PARSE_OK("target: http://h:1\n"
	                   "scenarios:\n"
	                   "  s:\n"
	                   "    executor: constant-vus\n"
	                   "    duration: 1s\n"
	                   "    flows:\n"
	                   "      a:\n"
	                   "        weight: 3\n"
	                   "        steps:\n"
	                   "          - get: '/a?t={{ token }}'\n"
	                   "      b:\n"
	                   "        steps:\n"
	                   "          - get: /b\n"
	                   "            headers: { Authorization: 'Bearer {{ token }}' }\n"
	                   "    setup:\n"
	                   "      - post: /login\n"
	                   "        name: login\n"
	                   "        capture: { token: { json: $.token } }\n"
	                   "      - group: warm\n"
	                   "        steps:\n"
	                   "          - get: /warm\n");
	if (p != NULL) {
		const plan_scenario *sc = &p->scenarios[0];
		/* The setup is parsed first wherever it is written: its steps come first. */
		CHECK_EQ_INT(sc->setup.nsteps, 4);
		CHECK_EQ_INT(sc->setup.first, 0);
		CHECK(sc->setup.setup);
		CHECK_EQ_INT(sc->nflows, 2);
		CHECK_EQ_INT(sc->flows[0].first, 4);
		CHECK_EQ_INT(sc->nsteps, 6);
		CHECK_EQ_STR(sc->steps[0].tagline, "phase=setup");
		CHECK_EQ_INT(sc->steps[0].flow, PLAN_SETUP_FLOW);
		CHECK_EQ_STR(sc->steps[2].tagline, "group=warm\nphase=setup");
		CHECK_EQ_STR(sc->steps[3].tagline, "group=warm\nphase=setup"); /* the group's end */
		CHECK_EQ_STR(sc->steps[4].tagline, "flow=a");
		/* Both flows render the setup's capture. */
		CHECK(sc->steps[4].dynamic && sc->steps[5].dynamic);
		const char **v;
		size_t n;
		CHECK_EQ_INT(plan_tag_values(p, "phase", &v, &n), HERD_OK);
		CHECK_EQ_INT(n, 2);
		if (n == 2) {
			CHECK_EQ_STR(v[0], "main");
			CHECK_EQ_STR(v[1], "setup");
		}
		free(v);
		CHECK_EQ_INT(plan_tag_values(p, "method", &v, &n), HERD_ENOTFOUND);
		plan_free(p);
	}
	/* A flow's capture stays the flow's: the setup cannot use one. */
	EXPECT_ERR(HEAD "    setup:\n"
	                "      - get: '/x/{{ later }}'\n"
	                "    flow:\n"
	                "      - get: /y\n"
	                "        capture: { later: { header: X } }\n",
	           "t.yaml:7:21: ", "unknown variable 'later'");
	EXPECT_ERR(HEAD "    setup: []\n"
	                "    flow: [ { get: / } ]\n",
	           "t.yaml:6:12: ", "'setup' is empty; add at least one step");
	EXPECT_ERR(HEAD "    setup:\n"
	                "      - get: /x\n"
	                "        tags: { phase: x }\n"
	                "    flow: [ { get: / } ]\n",
	           "t.yaml:8:17: ", "'phase' is a tag herd sets itself");
}

/* ---- env() in numbers and durations (item 11) ---- */

static void test_env_numbers(void)
{
	reset_io();
	plan *p = PARSE_OK("target: http://h:1\n"
	                   "scenarios:\n"
	                   "  s:\n"
	                   "    executor: constant-arrival-rate\n"
	                   "    rate: '{{ env(\"RATE\") }}'\n"
	                   "    duration: '{{ env(\"DUR\") }}'\n"
	                   "    preAllocatedVUs: '{{ env(\"VUS\", \"3\") }}'\n"
	                   "    timeUnit: '{{ env(\"UNIT\", \"2s\") }}'\n"
	                   "    flow: [ { get: / } ]\n");
	if (p != NULL) {
		CHECK_EQ_INT(p->scenarios[0].rate, 25);
		CHECK_EQ_INT(p->scenarios[0].duration_ms, 90000);
		CHECK_EQ_INT(p->scenarios[0].pre_allocated_vus, 3);
		CHECK_EQ_INT(p->scenarios[0].time_unit_ms, 2000);
		/* The values used travel with the plan to the agents. */
		CHECK_EQ_INT(p->nenv, 2);
		if (p->nenv == 2) {
			CHECK_EQ_STR(p->env[0].name, "RATE");
			CHECK_EQ_STR(p->env[1].name, "DUR");
		}
		plan_free(p);
	}
	EXPECT_ERR("target: http://h:1\n"
	           "scenarios:\n"
	           "  s:\n"
	           "    executor: per-vu-iterations\n"
	           "    vus: '{{ env(\"BAD\") }}'\n"
	           "    flow: [ { get: / } ]\n",
	           "t.yaml:5:10: ", "'vus' needs a whole number, but env BAD gives 'x1'");
	EXPECT_ERR("target: http://h:1\n"
	           "scenarios:\n"
	           "  s:\n"
	           "    executor: per-vu-iterations\n"
	           "    maxDuration: '{{ env(\"RATE\") }}'\n"
	           "    flow: [ { get: / } ]\n",
	           "t.yaml:5:18: ", "'maxDuration' needs a duration such as '10s' (a number and a unit: ms, "
	                            "s, m, h), but env RATE gives '25'");
	EXPECT_ERR("target: http://h:1\n"
	           "scenarios:\n"
	           "  s:\n"
	           "    executor: per-vu-iterations\n"
	           "    iterations: '{{ env(\"NOPE\") }}'\n"
	           "    flow: [ { get: / } ]\n",
	           "t.yaml:5:21: ", "environment variable NOPE is not set");
	EXPECT_ERR("target: http://h:1\n"
	           "scenarios:\n"
	           "  s:\n"
	           "    executor: per-vu-iterations\n"
	           "    iterations: '{{ __VU }}'\n"
	           "    flow: [ { get: / } ]\n",
	           "t.yaml:5:17: ", "'iterations' is read once when the plan loads: its template may use "
	                            "env() only");
	/* The range is checked on the rendered value. */
	EXPECT_ERR("target: http://h:1\n"
	           "scenarios:\n"
	           "  s:\n"
	           "    executor: per-vu-iterations\n"
	           "    vus: '{{ env(\"Z\", \"0\") }}'\n"
	           "    flow: [ { get: / } ]\n",
	           "t.yaml:5:10: ", "'vus' must be at least 1");
	/* A template with double quotes inside double quotes: YAML's error, and the fix. */
	EXPECT_ERR("target: http://h:1\n"
	           "scenarios:\n"
	           "  s:\n"
	           "    executor: constant-arrival-rate\n"
	           "    rate: \"{{ env(\"RATE\") }}\"\n",
	           "t.yaml:5:", "(a template with double quotes inside, such as env(\"NAME\"), goes in single "
	                        "quotes: '{{ env(\"NAME\") }}')");
}

/* ---- herd run --vus, --duration, --iterations (item 11) ---- */

static const char *flag_vals[3]; /* --vus, --duration, --iterations */

static const char *flag_getenv(void *arg, const char *name)
{
	static const char *const names[] = {"--vus", "--duration", "--iterations"};
	(void)arg;
	for (size_t i = 0; i < 3; i++)
		if (strcmp(name, names[i]) == 0)
			return flag_vals[i];
	return NULL;
}

static plan *parse_flags(const char *yaml, const char *vus, const char *dur, const char *iters, char *err,
                         size_t errlen)
{
	plan_io fio = {fake_read, flag_getenv, NULL};
	plan *p = NULL;
	flag_vals[0] = vus;
	flag_vals[1] = dur;
	flag_vals[2] = iters;
	err[0] = '\0';
	if (plan_parse_io(yaml, strlen(yaml), "t.yaml", &fio, &p, err, errlen) != HERD_OK)
		return NULL;
	return p;
}

static void test_cli_flags(void)
{
	char err[512];
	plan *p = parse_flags(HEAD "    vus: 5\n    flow: [ { get: / } ]\n", "7", "2m", NULL, err, sizeof(err));
	CHECK(p != NULL);
	if (p != NULL) {
		CHECK_EQ_INT(p->scenarios[0].executor, EXEC_CONSTANT_VUS);
		CHECK_EQ_INT(p->scenarios[0].vus, 7);
		CHECK_EQ_INT(p->scenarios[0].duration_ms, 120000);
		/* Shipped, so agents apply the same flags. */
		CHECK_EQ_INT(p->nenv, 2);
		if (p->nenv == 2)
			CHECK_EQ_STR(p->env[0].name, "--vus");
		plan_free(p);
	}
	/* k6: --iterations on constant-vus is shared-iterations within the duration. */
	p = parse_flags(HEAD "    flow: [ { get: / } ]\n", "2", NULL, "9", err, sizeof(err));
	CHECK(p != NULL);
	if (p != NULL) {
		CHECK_EQ_INT(p->scenarios[0].executor, EXEC_SHARED_ITERATIONS);
		CHECK_EQ_INT(p->scenarios[0].vus, 2);
		CHECK_EQ_INT(p->scenarios[0].iterations, 9);
		CHECK_EQ_INT(p->scenarios[0].max_duration_ms, 1000);
		plan_free(p);
	}
	/* --duration is the iterations executors' maxDuration. */
	p = parse_flags("target: http://h:1\nscenarios:\n  s:\n    executor: per-vu-iterations\n"
	                "    flow: [ { get: / } ]\n",
	                NULL, "45s", "3", err, sizeof(err));
	CHECK(p != NULL);
	if (p != NULL) {
		CHECK_EQ_INT(p->scenarios[0].max_duration_ms, 45000);
		CHECK_EQ_INT(p->scenarios[0].iterations, 3);
		plan_free(p);
	}
	p = parse_flags(HEAD "    flow: [ { get: / } ]\n  t:\n    executor: constant-vus\n    duration: 1s\n"
	                "    flow: [ { get: / } ]\n",
	                "2", NULL, NULL, err, sizeof(err));
	CHECK(p == NULL);
	CHECK_EQ_STR(err, "t.yaml:2:1: --vus applies to a plan with one scenario; this plan has 2 ('s', 't'): "
	                  "set the value in the scenario instead");
	p = parse_flags("target: http://h:1\nscenarios:\n  s:\n    executor: ramping-vus\n"
	                "    stages: [ { duration: 1s, target: 2 } ]\n    flow: [ { get: / } ]\n",
	                "2", NULL, NULL, err, sizeof(err));
	CHECK(p == NULL);
	CHECK_EQ_STR(err, "t.yaml:2:1: --vus does not apply to scenario 's' (executor ramping-vus): it sets "
	                  "'vus' of constant-vus, per-vu-iterations and shared-iterations");
	p = parse_flags(HEAD "    flow: [ { get: / } ]\n", NULL, "10", NULL, err, sizeof(err));
	CHECK(p == NULL);
	CHECK_EQ_STR(err, "t.yaml:2:1: --duration: expected a duration such as 30s or 1m30s, got '10'");
	p = parse_flags("target: http://h:1\nscenarios:\n  s:\n    executor: shared-iterations\n"
	                "    iterations: 4\n    flow: [ { get: / } ]\n",
	                "5", NULL, NULL, err, sizeof(err));
	CHECK(p == NULL);
	CHECK_CONTAINS(err, "'vus' (5) is more than 'iterations' (4) after the command line's flags");
}

/* ---- threshold filters name what the plan has (item 6) ---- */

#define TH_HEAD                                                                                              \
	"target: http://h:1\n"                                                                               \
	"scenarios:\n"                                                                                       \
	"  browse:\n"                                                                                        \
	"    executor: constant-vus\n"                                                                       \
	"    duration: 1s\n"                                                                                 \
	"    flows:\n"                                                                                       \
	"      reader:\n"                                                                                    \
	"        steps:\n"                                                                                   \
	"          - get: /health\n"                                                                         \
	"            name: health\n"                                                                         \
	"            tags: { kind: probe }\n"                                                                \
	"            checks: { status ok: { status: 200 } }\n"                                               \
	"          - group: checkout\n"                                                                      \
	"            steps: [ { get: /pay } ]\n"                                                             \
	"thresholds:\n"

static void test_threshold_refs(void)
{
	plan *p = PARSE_OK(TH_HEAD "  \"http_req_duration{name:health,scenario:browse}\": [\"p(95) < 500\"]\n"
	                           "  \"checks{check:status ok}\": [\"rate > 0.9\"]\n"
	                           "  \"iterations{flow:reader}\": [\"count > 0\"]\n"
	                           "  \"group_duration{group:checkout}\": [\"p(95) < 500\"]\n"
	                           "  \"http_req_duration{name:/pay}\": [\"p(95) < 500\"]\n"
	                           "  \"http_req_duration{kind:probe,method:GET,status:2xx}\": [\"p(95) < 500\"]\n"
	                           "  \"http_req_duration{phase:main}\":\n"
	                           "    - { threshold: \"p(99) < 900\", allowNoData: true }\n"
	                           "    - \"p(95) < 500\"\n");
	if (p != NULL) {
		CHECK_EQ_INT(p->nthresholds, 8);
		if (p->nthresholds == 8) {
			CHECK_EQ_STR(p->thresholds[6].expr, "p(99) < 900");
			CHECK(p->thresholds[6].allow_nodata);
			CHECK_EQ_INT(p->thresholds[6].line, 23);
			CHECK_EQ_INT(p->thresholds[6].col, 20);
			CHECK(!p->thresholds[7].allow_nodata);
		}
		plan_free(p);
	}
	EXPECT_ERR(TH_HEAD "  \"http_req_duration{name:helth}\": [\"p(95) < 500\"]\n", "t.yaml:16:3: ",
	           "threshold 'http_req_duration{name:helth}' filters on name 'helth', but no step or check is "
	           "named 'helth' (did you mean 'health'?)");
	EXPECT_ERR(TH_HEAD "  \"checks{check:status okk}\": [\"rate > 0.9\"]\n", "t.yaml:16:3: ",
	           "filters on check 'status okk', but no check is named 'status okk' (did you mean 'status ok'?)");
	EXPECT_ERR(TH_HEAD "  \"iterations{flow:raeder}\": [\"count > 0\"]\n", "t.yaml:16:3: ",
	           "filters on flow 'raeder', but no flow is named 'raeder' (did you mean 'reader'?)");
	EXPECT_ERR(TH_HEAD "  \"group_duration{group:chekout}\": [\"p(95) < 1\"]\n", "t.yaml:16:3: ",
	           "filters on group 'chekout', but no group is named 'chekout' (did you mean 'checkout'?)");
	EXPECT_ERR(TH_HEAD "  \"http_req_duration{scenario:brwse}\": [\"p(95) < 1\"]\n", "t.yaml:16:3: ",
	           "filters on scenario 'brwse', which the plan does not define (did you mean 'browse'?)");
	EXPECT_ERR(TH_HEAD "  \"http_req_duration{kind:prob}\": [\"p(95) < 1\"]\n", "t.yaml:16:3: ",
	           "filters on kind 'prob', but no step's `tags:` sets it to 'prob' (did you mean 'probe'?)");
	EXPECT_ERR(TH_HEAD "  \"http_req_duration{phase:setup}\": [\"p(95) < 1\"]\n", "t.yaml:16:3: ",
	           "filters on phase 'setup', but no part of the plan is in phase 'setup'; the plan has: 'main'");
	EXPECT_ERR(TH_HEAD "  \"http_req_duration{name:zzzzzzzz}\": [\"p(95) < 1\"]\n", "t.yaml:16:3: ",
	           "but no step or check is named 'zzzzzzzz'; the plan has: 'health', 'status ok', '/pay'");
	EXPECT_ERR(TH_HEAD "  http_req_duration: [ { threshold: \"p(95) < 1\", abortOnFail: 1 } ]\n",
	           "t.yaml:16:63: ", "'abortOnFail' must be true or false");
	EXPECT_ERR(TH_HEAD "  http_req_duration: [ { threshold: \"p(95) < 1\", window: 1500ms } ]\n",
	           "t.yaml:16:58: ", "'window' must be whole seconds");
	EXPECT_ERR(TH_HEAD "  http_req_duration: [ { threshold: \"p(95) < 1\", window: 11m } ]\n",
	           "t.yaml:16:58: ", "'window' is too long (the limit is 10m)");
	EXPECT_ERR(TH_HEAD "  http_req_duration: [ { threshold: \"p(95) < 1\", delayAbortEval: 10 } ]\n",
	           "t.yaml:16:66: ", "duration needs a unit");
	EXPECT_ERR(TH_HEAD "  http_req_duration: [ { threshold: \"p(95) < 1\", abortOnFial: true } ]\n",
	           "t.yaml:16:50: ", "unknown key 'abortOnFial' in a threshold");
	EXPECT_ERR(TH_HEAD "  http_req_duration: [ { allowNoData: true } ]\n", "t.yaml:16:24: ",
	           "a threshold mapping needs 'threshold'");
	EXPECT_ERR(TH_HEAD "  http_req_duration: [ { threshold: \"p(95) < 1\", allowNoData: 1 } ]\n",
	           "t.yaml:16:63: ", "'allowNoData' must be true or false");
}

int main(void)
{
	test_flows();
	test_groups();
	test_group_depth();
	test_captures();
	test_checks();
	test_bodies();
	test_json_templates();
	test_url_and_headers();
	test_feeders();
	test_errors();
	test_setup();
	test_env_numbers();
	test_cli_flags();
	test_threshold_refs();
	return check_done();
}
