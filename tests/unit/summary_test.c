/*
 * Tests of controller/summary: the k6-style text (metric lines with the
 * right numbers, submetrics, errors by kind, tables, thresholds) and the
 * --summary-export JSON layout, on a run built by hand with known values.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/err.h"
#include "controller/summary.h"
#include "tests/unit/check.h"

static wire_entry entry(const char *metric, const char *scenario, const char *name,
                        const char *method, uint32_t cls)
{
	wire_entry e;
	memset(&e, 0, sizeof(e));
	e.metric = (char *)metric;
	e.scenario = (char *)scenario;
	e.name = (char *)name;
	e.method = (char *)method;
	e.status_class = cls;
	return e;
}

/*
 * Ten seconds, two agents. browse/home GET: 800 requests, 400 of 10 ms and
 * 400 of 20 ms per the whole run; buy/cart POST: 200 requests of 100 ms, of
 * which 5 are 5xx. So 1000 requests (100/s), 5 failed (0.50%). Checks: 990
 * of 1000 pass. data_received 2 MB, data_sent 50 kB. vus 10..30.
 */
static results *make_run(void)
{
	results *r;
	if (results_new(1000, &r) != 0)
		return NULL;
	for (int i = 0; i < 10; i++) {
		for (int a = 0; a < 2; a++) {
			hist *h[5];
			wire_entry e[8];
			for (int k = 0; k < 5; k++)
				h[k] = hist_new();
			e[0] = entry("http_req_duration", "browse", "home", "GET", 2);
			e[0].count = 40;
			hist_record_n(h[0], 10000, 20);
			hist_record_n(h[0], 20000, 20);
			e[0].h = h[0];
			e[0].bytes_in = 100000;
			e[0].bytes_out = 2500;
			e[1] = entry("http_req_duration", "buy", "cart", "POST", 2);
			e[1].count = 10;
			hist_record_n(h[1], 100000, 10);
			e[1].h = h[1];
			if (i == 3 && a == 1) {
				e[1].count = 5;
				hist_init(h[1]);
				hist_record_n(h[1], 100000, 5);
			}
			e[2] = entry("http_req_duration", "buy", "cart", "POST", 5);
			e[2].count = i == 3 && a == 1 ? 5 : 0;
			e[2].errors[ERRK_HTTP5XX] = e[2].count;
			hist_record_n(h[2], 100000, (uint32_t)e[2].count);
			e[2].h = h[2];
			e[3] = entry("checks", "browse", "home status 200", "", 0);
			e[3].count = 50;
			e[3].errors[ERRK_CHECK] = i == 0 ? 5 : 0;
			e[4] = entry("iterations", "browse", "", "", 0);
			e[4].count = 20;
			hist_record_n(h[3], 50000, 20);
			e[4].h = h[3];
			e[5] = entry("http_req_waiting", "browse", "home", "GET", 2);
			e[5].count = 40;
			hist_record_n(h[4], 8000, 40);
			e[5].h = h[4];
			e[6] = entry("vus", "browse", "", "", 0);
			e[6].gauge = 5 + i; /* per agent: 5..14, sum 10..28 */
			e[7] = entry("dropped_iterations", "buy", "", "", 0);
			e[7].count = i == 9 ? 3 : 0;
			CHECK_EQ_INT(results_add_batch(r, a ? "agent-b" : "agent-a", i * 1000, e, 8), HERD_OK);
			for (int k = 0; k < 5; k++)
				hist_free(h[k]);
		}
	}
	return r;
}

static th_metric metric(const char *name, const char *tk, const char *tv)
{
	th_metric m;
	memset(&m, 0, sizeof(m));
	snprintf(m.name, sizeof(m.name), "%s", name);
	if (tk != NULL) {
		res_tag_set(&m.tags[0], tk, tv);
		m.ntags = 1;
	}
	return m;
}

static th_expr expr(th_agg agg, double pct, th_op op, double value)
{
	th_expr e;
	memset(&e, 0, sizeof(e));
	e.agg = agg;
	e.pct = pct;
	e.op = op;
	e.value = value;
	return e;
}

static verdict_set *make_verdicts(const results *r)
{
	verdict_set *vs;
	th_metric m;
	th_expr e;
	if (verdict_set_new(&vs) != 0)
		return NULL;
	m = metric("http_req_duration", NULL, NULL);
	e = expr(TH_P, 95, TH_LT, 500);
	verdict_add_parsed(vs, r, "http_req_duration", "p(95)<500", &m, &e);
	m = metric("http_req_duration", "scenario", "browse");
	e = expr(TH_P, 95, TH_LT, 15);
	verdict_add_parsed(vs, r, "http_req_duration{scenario:browse}", "p(95)<15", &m, &e);
	m = metric("http_req_failed", NULL, NULL);
	e = expr(TH_RATE, 0, TH_LT, 0.01);
	verdict_add_parsed(vs, r, "http_req_failed", "rate<0.01", &m, &e);
	m = metric("checks", NULL, NULL);
	e = expr(TH_RATE, 0, TH_GT, 0.99);
	verdict_add_parsed(vs, r, "checks", "rate>0.99", &m, &e);
	m = metric("http_reqs", NULL, NULL);
	e = expr(TH_P, 95, TH_LT, 1);
	verdict_add_parsed(vs, r, "http_reqs", "p(95)<1", &m, &e);
	return vs;
}

static void test_durations(void)
{
	char b[64];
	CHECK_EQ_STR(summary_fmt_duration(850, b, sizeof(b)), "850µs");
	CHECK_EQ_STR(summary_fmt_duration(12.345, b, sizeof(b)), "12.35µs");
	CHECK_EQ_STR(summary_fmt_duration(12340, b, sizeof(b)), "12.34ms");
	CHECK_EQ_STR(summary_fmt_duration(10000, b, sizeof(b)), "10ms");
	CHECK_EQ_STR(summary_fmt_duration(12300, b, sizeof(b)), "12.3ms");
	CHECK_EQ_STR(summary_fmt_duration(1500000, b, sizeof(b)), "1.5s");
	CHECK_EQ_STR(summary_fmt_duration(123500000, b, sizeof(b)), "2m3.5s");
	CHECK_EQ_STR(summary_fmt_duration(3723000000.0, b, sizeof(b)), "1h2m3s");
}

/* Checks the metric line of name: the mark and indent before it, dots up
 * to the common colon column, then value up to the end of the line. */
static void check_value_at(const char *file, int line, const char *t, const char *lead,
                           const char *name, const char *value)
{
	char want[256];
	snprintf(want, sizeof(want), "\n%s%s.", lead, name);
	const char *p = strstr(t, want);
	if (p == NULL) {
		snprintf(want, sizeof(want), "\n%s%s:", lead, name);
		p = strstr(t, want);
	}
	check_total_++;
	if (p == NULL) {
		check_failed_++;
		fprintf(stderr, "%s:%d: no line \"%s%s\"\n", file, line, lead, name);
		return;
	}
	p += strlen(want) - 1;
	while (*p == '.')
		p++;
	const char *eol = strchr(p, '\n');
	size_t n = eol ? (size_t)(eol - p) : strlen(p);
	check_total_++;
	if (strncmp(p, ": ", 2) != 0 || n - 2 != strlen(value) || strncmp(p + 2, value, n - 2) != 0) {
		check_failed_++;
		fprintf(stderr, "%s:%d: %s: \"%.*s\" != \": %s\"\n", file, line, name, (int)n, p,
		        value);
	}
}
#define check_value(t, lead, name, value) check_value_at(__FILE__, __LINE__, t, lead, name, value)

/* Display column of the ": " on the line where name is followed by dots. */
static int colon_col(const char *t, const char *name)
{
	char want[128];
	snprintf(want, sizeof(want), "%s..", name);
	const char *p = strstr(t, want), *l;
	if (p == NULL)
		return -1;
	for (l = p; l > t && l[-1] != '\n'; l--)
		;
	const char *c = strstr(p, ": ");
	int w = 0;
	for (; l < c; l++)
		if (((unsigned char)*l & 0xc0) != 0x80)
			w++;
	return w;
}

static void test_text(void)
{
	results *r = make_run();
	verdict_set *vs = make_verdicts(r);
	plan_scenario sc[2];
	plan p;
	char *t = NULL;

	memset(sc, 0, sizeof(sc));
	sc[0].name = "browse";
	sc[0].executor = EXEC_CONSTANT_VUS;
	sc[0].vus = 20;
	sc[0].duration_ms = 10000;
	sc[1].name = "buy";
	sc[1].executor = EXEC_CONSTANT_ARRIVAL_RATE;
	sc[1].rate = 20;
	sc[1].time_unit_ms = 1000;
	sc[1].duration_ms = 10000;
	sc[1].pre_allocated_vus = 5;
	memset(&p, 0, sizeof(p));
	p.name = "shop";
	p.scenarios = sc;
	p.nscenarios = 2;

	summary_info info = { .run_id = "20261124-011203-ab12", .plan = &p, .status = "failed", .verdicts = vs };
	CHECK_EQ_INT(summary_text(r, &info, &t), HERD_OK);
	if (t == NULL)
		return;
	if (getenv("HERD_TEST_VERBOSE") != NULL)
		fputs(t, stderr);

	CHECK_CONTAINS(t, "run........: 20261124-011203-ab12");
	CHECK_CONTAINS(t, "plan.......: shop");
	CHECK_CONTAINS(t, "duration...: 10s");
	CHECK_CONTAINS(t, "* browse: constant-vus, 20 VUs for 10s");
	CHECK_CONTAINS(t, "* buy: constant-arrival-rate");
	/* Metric lines, k6 layout. http_req_duration: 400 of 10 ms, 400 of
	 * 20 ms, 200 of 100 ms: avg 32 ms, med the 500th value (20 ms, shown as
	 * the middle of its histogram bucket), p(90) and above 100 ms. The
	 * long submetric name widens the name column for every line. */
	check_value(t, "  ✓ ", "http_req_duration",
	            "avg=32ms       min=10ms       med=20.03ms    max=100ms      p(90)=100ms    "
	            "p(95)=100ms    p(99)=100ms");
	check_value(t, "    ✗ ", "http_req_duration{scenario:browse}",
	            "avg=15ms       min=10ms       med=10.02ms    max=20ms       p(90)=20ms     "
	            "p(95)=20ms     p(99)=20ms");
	check_value(t, "  ✗ ", "http_reqs", "1000    100/s");
	check_value(t, "  ✓ ", "http_req_failed", "0.50%   5 out of 1000");
	check_value(t, "  ✗ ", "checks", "99.00%  990 out of 1000");
	check_value(t, "    ", "data_received", "2.0 MB  200 kB/s");
	check_value(t, "    ", "data_sent", "50 kB   5.0 kB/s");
	check_value(t, "    ", "iterations", "400     40/s");
	check_value(t, "    ", "iteration_duration",
	            "avg=50ms       min=50ms       med=50ms       max=50ms       p(90)=50ms     "
	            "p(95)=50ms     p(99)=50ms");
	check_value(t, "    ", "dropped_iterations", "6       0.6/s");
	check_value(t, "    ", "http_req_waiting",
	            "avg=8ms        min=8ms        med=8ms        max=8ms        p(90)=8ms      "
	            "p(95)=8ms      p(99)=8ms");
	check_value(t, "    ", "vus", "28      min=10     max=28");
	/* One colon column for every metric line, submetrics included. */
	int col = colon_col(t, "http_reqs");
	CHECK(col > 31);
	CHECK_EQ_INT(colon_col(t, "http_req_duration{scenario:browse}"), col);
	CHECK_EQ_INT(colon_col(t, "checks"), col);
	CHECK_EQ_INT(colon_col(t, "vus"), col);
	/* Sorted by name. */
	char *a = strstr(t, "checks...."), *b = strstr(t, "http_req_duration...."),
	     *c = strstr(t, "vus....");
	CHECK(a != NULL && b != NULL && c != NULL && a < b && b < c);
	/* The check list. */
	CHECK_CONTAINS(t, "✗ home status 200\n      ↳  99% — ✓ 990 / ✗ 10");
	/* Errors by kind. */
	CHECK_CONTAINS(t, "errors by kind:");
	CHECK_CONTAINS(t, "http_5xx..........: 5\n");
	CHECK_CONTAINS(t, "check_failed......: 10\n");
	/* Tables: per scenario, per step, per agent. */
	CHECK_CONTAINS(t, "  scenario    requests     req/s   failed        p50        p95        p99"
	                  "  iterations  dropped\n"
	                  "  browse           800        80    0.00%    10.02ms       20ms       20ms"
	                  "         400        0\n"
	                  "  buy              200        20    2.50%      100ms      100ms      100ms"
	                  "           0        6\n");
	CHECK_CONTAINS(t, "  browse    home  GET            800        80    0.00%    10.02ms       20ms");
	CHECK_CONTAINS(t, "  buy       cart  POST           200        20    2.50%      100ms");
	CHECK_CONTAINS(t, "  agent-b         500        50    1.00%    20.03ms      100ms      100ms\n");
	/* Thresholds, k6 style. */
	CHECK_CONTAINS(t, "thresholds:\n    http_req_duration\n    ✓ 'p(95)<500' p(95)=100ms\n");
	CHECK_CONTAINS(t, "    http_req_duration{scenario:browse}\n    ✗ 'p(95)<15' p(95)=20ms\n");
	CHECK_CONTAINS(t, "✓ 'rate<0.01' rate=0.50%");
	CHECK_CONTAINS(t, "✗ 'rate>0.99' rate=99.00%");
	CHECK_CONTAINS(t, "✗ 'p(95)<1' error: 'p(95)' does not apply to http_reqs");
	free(t);

	/* Without a plan, the scenarios come from the results. Without
	 * submetrics, names are padded to k6's 31 columns. Writing to a FILE
	 * gives the same text as the string form. */
	info.plan = NULL;
	info.plan_name = "shop";
	info.verdicts = NULL;
	CHECK_EQ_INT(summary_text(r, &info, &t), HERD_OK);
	CHECK_CONTAINS(t, "scenarios..: 2\n    * browse\n    * buy\n");
	CHECK_CONTAINS(t, "\n    http_reqs......................: 1000    100/s\n");
	CHECK_CONTAINS(t, "\n    http_req_duration..............: avg=32ms ");
	CHECK(strstr(t, "thresholds:") == NULL);
	char *mem = NULL;
	size_t memlen = 0;
	FILE *f = open_memstream(&mem, &memlen);
	CHECK_EQ_INT(summary_write_text(f, r, &info), HERD_OK);
	fclose(f);
	CHECK_EQ_STR(mem, t);
	free(mem);
	free(t);

	verdict_set_free(vs);
	results_free(r);
}

static double num(json_t *root, const char *m, const char *k)
{
	json_t *v = json_object_get(json_object_get(json_object_get(root, "metrics"), m), k);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

static void test_json(void)
{
	results *r = make_run();
	verdict_set *vs = make_verdicts(r);
	summary_info info = { .run_id = "20261124-011203-ab12", .plan_name = "shop", .status = "failed", .degraded = 1, .verdicts = vs };
	json_t *j;
	char *s;

	CHECK_EQ_INT(summary_json_text(r, &info, &s), HERD_OK);
	if (getenv("HERD_TEST_VERBOSE") != NULL)
		fprintf(stderr, "%s\n", s);
	j = json_loads(s, 0, NULL);
	free(s);
	CHECK(j != NULL);
	if (j == NULL)
		return;

	CHECK_EQ_INT(num(j, "http_reqs", "count"), 1000);
	CHECK(fabs(num(j, "http_reqs", "rate") - 100) < 1e-9);
	CHECK(fabs(num(j, "http_req_duration", "p(95)") - 100) < 1e-9);
	CHECK(fabs(num(j, "http_req_duration", "avg") - 32) < 1e-9);
	CHECK(fabs(num(j, "http_req_duration", "med") - 20) < 0.1);
	CHECK(fabs(num(j, "http_req_duration", "min") - 10) < 1e-9);
	CHECK(!isnan(num(j, "http_req_duration", "p(90)")));
	CHECK(!isnan(num(j, "http_req_duration", "p(99)")));
	/* k6's rate quirk: passes are the failed requests. */
	CHECK(fabs(num(j, "http_req_failed", "value") - 0.005) < 1e-12);
	CHECK_EQ_INT(num(j, "http_req_failed", "passes"), 5);
	CHECK_EQ_INT(num(j, "http_req_failed", "fails"), 995);
	CHECK(fabs(num(j, "checks", "value") - 0.99) < 1e-12);
	CHECK_EQ_INT(num(j, "checks", "passes"), 990);
	CHECK_EQ_INT(num(j, "checks", "fails"), 10);
	CHECK_EQ_INT(num(j, "data_received", "count"), 2000000);
	CHECK_EQ_INT(num(j, "iterations", "count"), 400);
	CHECK_EQ_INT(num(j, "vus", "min"), 10);
	CHECK_EQ_INT(num(j, "vus", "max"), 28);
	CHECK_EQ_INT(num(j, "vus", "value"), 28);
	/* The submetric, under its exact name, with its threshold: true means
	 * failed, as in k6's export. */
	CHECK(fabs(num(j, "http_req_duration{scenario:browse}", "p(95)") - 20) < 0.1);
	json_t *th = json_object_get(
	    json_object_get(json_object_get(json_object_get(j, "metrics"), "http_req_duration"),
	                    "thresholds"),
	    "p(95)<500");
	CHECK(json_is_false(th));
	th = json_object_get(json_object_get(json_object_get(json_object_get(j, "metrics"),
	                                                     "http_req_duration{scenario:browse}"),
	                                     "thresholds"),
	                     "p(95)<15");
	CHECK(json_is_true(th));
	/* root_group checks. */
	json_t *ck = json_object_get(
	    json_object_get(json_object_get(j, "root_group"), "checks"), "home status 200");
	CHECK_EQ_INT(json_integer_value(json_object_get(ck, "passes")), 990);
	CHECK_EQ_INT(json_integer_value(json_object_get(ck, "fails")), 10);
	CHECK_EQ_STR(json_string_value(json_object_get(ck, "path")), "::home status 200");
	/* herd's own section. */
	json_t *h = json_object_get(j, "herd");
	CHECK_EQ_STR(json_string_value(json_object_get(h, "run_id")), "20261124-011203-ab12");
	CHECK_EQ_STR(json_string_value(json_object_get(h, "status")), "failed");
	CHECK(json_is_true(json_object_get(h, "degraded")));
	CHECK_EQ_INT(json_integer_value(json_object_get(h, "duration_ms")), 10000);
	CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(h, "errors_by_kind"),
	                                                "http_5xx")),
	             5);
	json_t *buy = json_object_get(json_object_get(h, "scenarios"), "buy");
	CHECK_EQ_INT(json_integer_value(json_object_get(buy, "requests")), 200);
	CHECK_EQ_INT(json_integer_value(json_object_get(buy, "failed")), 5);
	CHECK_EQ_INT(json_integer_value(json_object_get(buy, "dropped_iterations")), 6);
	json_t *steps = json_object_get(h, "steps");
	CHECK_EQ_INT(json_array_size(steps), 2);
	CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(steps, 1), "method")), "POST");
	CHECK_EQ_INT(json_integer_value(json_object_get(
	                 json_object_get(json_object_get(h, "agents"), "agent-b"), "requests")),
	             500);
	json_t *ths = json_object_get(h, "thresholds");
	CHECK_EQ_INT(json_array_size(ths), 5);
	CHECK(json_is_string(json_object_get(json_array_get(ths, 4), "error")));
	CHECK(json_is_null(json_object_get(json_array_get(ths, 4), "observed")));
	json_decref(j);

	/* No verdicts and no info at all still make a valid summary. */
	CHECK_EQ_INT(summary_json(r, NULL, &j), HERD_OK);
	CHECK_EQ_INT(num(j, "http_reqs", "count"), 1000);
	json_decref(j);
	verdict_set_free(vs);
	results_free(r);
}

/*
 * A run with flows, groups and named checks, as agents send them since tags:
 * scenario "mixed" picks flow read 60 times, write 30 and ai 10 in 1 s;
 * scenario "plain" has the one flow "default".
 */
static results *make_tagged_run(void)
{
	results *r;
	hist *h[6];
	wire_entry e[16];
	size_t n = 0;

	if (results_new(1000, &r) != 0)
		return NULL;
	for (int i = 0; i < 6; i++)
		h[i] = hist_new();
	hist_record_n(h[0], 10000, 600);
	hist_record_n(h[1], 200000, 300);
	hist_record_n(h[2], 800000, 104);
	hist_record_n(h[3], 50000, 60);
	hist_record_n(h[4], 300000, 30);
	hist_record_n(h[5], 5000, 7);

	e[n] = entry("http_req_duration", "mixed", "list", "GET", 2);
	e[n].tags = "flow=read\ngroup=checkout\nkind=read";
	e[n].count = 600;
	e[n++].h = h[0];
	e[n] = entry("http_req_duration", "mixed", "create", "POST", 2);
	e[n].tags = "flow=write";
	e[n].count = 300;
	e[n++].h = h[1];
	e[n] = entry("http_req_duration", "mixed", "ask", "POST", 2);
	e[n].tags = "flow=ai";
	e[n].count = 104;
	e[n].errors[ERRK_CAPTURE] = 4;
	e[n++].h = h[2];
	e[n] = entry("iterations", "mixed", "", "", 0);
	e[n].tags = "flow=read";
	e[n++].count = 60;
	e[n] = entry("iterations", "mixed", "", "", 0);
	e[n].tags = "flow=write";
	e[n++].count = 30;
	e[n] = entry("iterations", "mixed", "", "", 0);
	e[n].tags = "flow=ai";
	e[n++].count = 10;
	e[n] = entry("group_duration", "mixed", "", "", 0);
	e[n].tags = "flow=read\ngroup=checkout";
	e[n].count = 60;
	e[n++].h = h[3];
	e[n] = entry("group_duration", "mixed", "", "", 0);
	e[n].tags = "flow=write\ngroup=outer::inner";
	e[n].count = 30;
	e[n++].h = h[4];
	e[n] = entry("checks", "mixed", "created", "", 0);
	e[n].tags = "flow=write";
	e[n].count = 1000;
	e[n++].errors[ERRK_CHECK] = 30;
	e[n] = entry("checks", "mixed", "has id", "", 0);
	e[n].tags = "flow=read\ngroup=checkout";
	e[n++].count = 600;
	e[n] = entry("checks", "mixed", "login ok", "", 0);
	e[n].tags = "flow=read";
	e[n++].count = 200;
	e[n] = entry("checks", "mixed", "deep", "", 0);
	e[n].tags = "flow=write\ngroup=outer::inner";
	e[n].count = 30;
	e[n++].errors[ERRK_CHECK] = 3;
	e[n] = entry("http_req_duration", "plain", "home", "GET", 2);
	e[n].tags = "flow=default";
	e[n].count = 7;
	e[n++].h = h[5];
	e[n] = entry("iterations", "plain", "", "", 0);
	e[n].tags = "flow=default";
	e[n++].count = 7;
	e[n] = entry("checks", "plain", "home: status is 200", "", 0);
	e[n].tags = "flow=default";
	e[n++].count = 7;
	CHECK_EQ_INT(results_add_batch(r, "a1", 0, e, n), HERD_OK);
	for (int i = 0; i < 6; i++)
		hist_free(h[i]);
	return r;
}

static verdict_set *make_tagged_verdicts(const results *r)
{
	verdict_set *vs;
	if (verdict_set_new(&vs) != 0)
		return NULL;
	verdict_add(vs, r, "checks{check:login ok}", "rate > 0.99");
	verdict_add(vs, r, "checks{check:created}", "rate > 0.99");
	verdict_add(vs, r, "group_duration{group:checkout}", "p(95) < 100");
	verdict_add(vs, r, "iterations{flow:read}", "count >= 60");
	/* Filters nobody's series match: shown, not hidden. */
	verdict_add(vs, r, "iterations{flow:nope}", "count > 0");
	verdict_add(vs, r, "http_req_duration{persona:x}", "p(95) < 1");
	return vs;
}

static void test_tagged_text(void)
{
	results *r = make_tagged_run();
	verdict_set *vs = make_tagged_verdicts(r);
	summary_info info = {.run_id = "r-tags", .status = "failed", .verdicts = vs};
	char *t = NULL;

	CHECK(r != NULL && vs != NULL);
	CHECK_EQ_INT(summary_text(r, &info, &t), HERD_OK);
	if (t == NULL)
		return;
	if (getenv("HERD_TEST_VERBOSE") != NULL)
		fputs(t, stderr);

	/* One line per check name, k6's marks and counts for the failing ones. */
	CHECK_CONTAINS(t, "\n    ✗ created\n      ↳  97% — ✓ 970 / ✗ 30\n");
	CHECK_CONTAINS(t, "\n    ✓ has id\n");
	CHECK_CONTAINS(t, "\n    ✓ login ok\n");
	CHECK_CONTAINS(t, "\n    ✓ home: status is 200\n");
	CHECK_CONTAINS(t, "\n    ✗ deep\n      ↳  90% — ✓ 27 / ✗ 3\n");
	CHECK_CONTAINS(t, "\n    ✗ created\n      ↳  97% — ✓ 970 / ✗ 30\n    ✗ deep\n");

	/* group_duration, then one line per group that exists. */
	check_value(t, "    ", "group_duration",
	            "avg=133.33ms   min=50ms       med=50.05ms    max=300ms      p(90)=300ms    "
	            "p(95)=300ms    p(99)=300ms");
	check_value(t, "    ✓ ", "group_duration{group:checkout}",
	            "avg=50ms       min=50ms       med=50ms       max=50ms       p(90)=50ms     "
	            "p(95)=50ms     p(99)=50ms");
	check_value(t, "      ", "group_duration{group:outer::inner}",
	            "avg=300ms      min=300ms      med=300ms      max=300ms      p(90)=300ms    "
	            "p(95)=300ms    p(99)=300ms");
	CHECK(strstr(t, "group_duration{group:outer}") == NULL);
	CHECK_EQ_INT(colon_col(t, "group_duration{group:outer::inner}"), colon_col(t, "checks"));
	/* Threshold submetrics. */
	check_value(t, "    ✓ ", "checks{check:login ok}", "100.00% 200 out of 200");
	check_value(t, "    ✗ ", "checks{check:created}", "97.00%  970 out of 1000");
	check_value(t, "    ✓ ", "iterations{flow:read}", "60      60/s");
	check_value(t, "    ✗ ", "iterations{flow:nope}", "0       0/s");
	check_value(t, "    ✗ ", "http_req_duration{persona:x}", "no data");
	CHECK_CONTAINS(t, "    iterations{flow:nope}\n    ✗ 'count > 0' count=0\n");
	CHECK_CONTAINS(t, "    http_req_duration{persona:x}\n    ✗ 'p(95) < 1' no data: nothing was measured\n");
	CHECK_CONTAINS(t, "    checks{check:login ok}\n    ✓ 'rate > 0.99' rate=100.00%\n");

	/* The flows of mixed, with their shares; plain's one default flow has no
	 * table. */
	CHECK_CONTAINS(t, "\n  flows of mixed    iterations   picked  requests        p95\n"
	                  "    ai                      10    10.0%       104      800ms\n"
	                  "    read                    60    60.0%       600       10ms\n"
	                  "    write                   30    30.0%       300      200ms\n");
	CHECK(strstr(t, "flows of plain") == NULL);

	/* The new error kind. */
	CHECK_CONTAINS(t, "capture_failed....: 4\n");
	free(t);
	verdict_set_free(vs);
	results_free(r);
}

static json_t *jpath2(json_t *j, const char *a, const char *b)
{
	return json_object_get(json_object_get(j, a), b);
}

static void test_tagged_json(void)
{
	results *r = make_tagged_run();
	verdict_set *vs = make_tagged_verdicts(r);
	summary_info info = {.run_id = "r-tags", .status = "failed", .verdicts = vs};
	json_t *j = NULL;
	char *s = NULL;

	CHECK_EQ_INT(summary_json_text(r, &info, &s), HERD_OK);
	if (getenv("HERD_TEST_VERBOSE") != NULL)
		fprintf(stderr, "%s\n", s);
	j = json_loads(s, 0, NULL);
	free(s);
	CHECK(j != NULL);
	if (j == NULL)
		return;

	/* Submetrics per flow, group and check under their exact names, without
	 * a threshold naming them. */
	CHECK_EQ_INT(num(j, "iterations{flow:read}", "count"), 60);
	CHECK_EQ_INT(num(j, "iterations{flow:write}", "count"), 30);
	CHECK_EQ_INT(num(j, "iterations{flow:ai}", "count"), 10);
	CHECK_EQ_INT(num(j, "iterations{flow:default}", "count"), 7);
	CHECK(fabs(num(j, "iterations{flow:ai}", "rate") - 10) < 1e-9);
	CHECK(fabs(num(j, "group_duration{group:checkout}", "p(95)") - 50) < 0.5);
	CHECK(fabs(num(j, "group_duration{group:outer::inner}", "avg") - 300) < 1e-9);
	CHECK(fabs(num(j, "group_duration", "max") - 300) < 1e-9);
	CHECK_EQ_INT(num(j, "checks{check:created}", "passes"), 970);
	CHECK_EQ_INT(num(j, "checks{check:created}", "fails"), 30);
	CHECK(fabs(num(j, "checks{check:created}", "value") - 0.97) < 1e-12);
	CHECK_EQ_INT(num(j, "checks{check:has id}", "passes"), 600);
	CHECK_EQ_INT(num(j, "checks{check:home: status is 200}", "passes"), 7);
	CHECK(fabs(num(j, "http_req_duration{flow:write}", "p(95)") - 200) < 1);
	CHECK(fabs(num(j, "http_req_duration{flow:read}", "med") - 10) < 0.1);
	json_t *ms = json_object_get(j, "metrics");
	CHECK(json_object_get(ms, "group_duration{group:outer}") == NULL);
	CHECK(json_object_get(ms, "iterations{flow:nope}") != NULL);
	/* A threshold's own submetric keeps its thresholds (true = failed). */
	CHECK(json_is_false(json_object_get(jpath2(ms, "checks{check:login ok}", "thresholds"), "rate > 0.99")));
	CHECK(json_is_true(json_object_get(jpath2(ms, "checks{check:created}", "thresholds"), "rate > 0.99")));
	CHECK(json_is_false(
	    json_object_get(jpath2(ms, "group_duration{group:checkout}", "thresholds"),
	                    "p(95) < 100")));
	CHECK(jpath2(ms, "iterations{flow:write}", "thresholds") == NULL);

	/* Flows per scenario in herd's section; shares are fractions. */
	json_t *mixed = json_object_get(jpath2(j, "herd", "scenarios"), "mixed");
	json_t *fl = json_object_get(mixed, "flows");
	CHECK_EQ_INT(json_object_size(fl), 3);
	CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(fl, "read"), "iterations")),
	             60);
	CHECK(fabs(json_number_value(json_object_get(json_object_get(fl, "read"), "share")) - 0.6) <
	      1e-12);
	CHECK(fabs(json_number_value(json_object_get(json_object_get(fl, "ai"), "share")) - 0.1) <
	      1e-12);
	CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(fl, "ai"), "requests")), 104);
	CHECK(fabs(json_number_value(json_object_get(json_object_get(fl, "write"), "p(95)")) - 200) <
	      1);
	json_t *plain = json_object_get(jpath2(j, "herd", "scenarios"), "plain");
	CHECK(fabs(json_number_value(json_object_get(jpath2(plain, "flows", "default"), "share")) -
	           1.0) < 1e-12);
	CHECK_EQ_INT(json_integer_value(json_object_get(jpath2(j, "herd", "errors_by_kind"),
	                                                "capture_failed")),
	             4);

	/* k6's root_group: checks outside groups at the root, the others in their
	 * (nested) groups, with k6's paths. */
	json_t *rg = json_object_get(j, "root_group");
	json_t *rc = json_object_get(rg, "checks");
	CHECK(json_object_get(rc, "created") != NULL);
	CHECK(json_object_get(rc, "login ok") != NULL);
	CHECK(json_object_get(rc, "has id") == NULL);
	CHECK(json_object_get(rc, "deep") == NULL);
	CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(rc, "created"), "path")),
	             "::created");
	json_t *co = json_object_get(json_object_get(rg, "groups"), "checkout");
	CHECK_EQ_STR(json_string_value(json_object_get(co, "name")), "checkout");
	CHECK_EQ_STR(json_string_value(json_object_get(co, "path")), "::checkout");
	json_t *hid = json_object_get(json_object_get(co, "checks"), "has id");
	CHECK_EQ_STR(json_string_value(json_object_get(hid, "path")), "::checkout::has id");
	CHECK_EQ_INT(json_integer_value(json_object_get(hid, "passes")), 600);
	json_t *outer = json_object_get(json_object_get(rg, "groups"), "outer");
	CHECK_EQ_STR(json_string_value(json_object_get(outer, "path")), "::outer");
	CHECK_EQ_INT(json_object_size(json_object_get(outer, "checks")), 0);
	json_t *inner = json_object_get(json_object_get(outer, "groups"), "inner");
	CHECK_EQ_STR(json_string_value(json_object_get(inner, "name")), "inner");
	CHECK_EQ_STR(json_string_value(json_object_get(inner, "path")), "::outer::inner");
	json_t *deep = json_object_get(json_object_get(inner, "checks"), "deep");
	CHECK_EQ_STR(json_string_value(json_object_get(deep, "path")), "::outer::inner::deep");
	CHECK_EQ_INT(json_integer_value(json_object_get(deep, "passes")), 27);
	CHECK_EQ_INT(json_integer_value(json_object_get(deep, "fails")), 3);
	CHECK_EQ_INT(json_object_size(json_object_get(rg, "groups")), 2);

	json_decref(j);
	verdict_set_free(vs);
	results_free(r);
}

static void test_empty(void)
{
	results *r;
	char *t;
	json_t *j;
	CHECK_EQ_INT(results_new(0, &r), HERD_OK);
	CHECK_EQ_INT(summary_text(r, NULL, &t), HERD_OK);
	CHECK_CONTAINS(t, "duration...: 0µs");
	free(t);
	CHECK_EQ_INT(summary_json(r, NULL, &j), HERD_OK);
	CHECK_EQ_INT(json_object_size(json_object_get(j, "metrics")), 0);
	json_decref(j);
	results_free(r);
}

/* Names that are not UTF-8 (from a buggy or hostile agent) do not break
 * the JSON export. */
static void test_bad_utf8(void)
{
	results *r;
	json_t *j = NULL;
	wire_entry e = entry("checks", "s\xc3", "bad \xff name", "", 0);
	e.count = 3;
	CHECK_EQ_INT(results_new(1000, &r), HERD_OK);
	CHECK_EQ_INT(results_add_batch(r, "agent\xe2\x82", 0, &e, 1), HERD_OK);
	CHECK_EQ_INT(summary_json(r, NULL, &j), HERD_OK);
	json_t *ck = json_object_get(json_object_get(json_object_get(j, "root_group"), "checks"),
	                             "bad ? name");
	CHECK_EQ_INT(json_integer_value(json_object_get(ck, "passes")), 3);
	CHECK(json_object_get(json_object_get(json_object_get(j, "herd"), "scenarios"), "s?") != NULL);
	json_decref(j);
	results_free(r);
}

/* The agents the controller knew: names, status, a lost one with no data,
 * and a busy one, in the text and the JSON. */
static void test_agents(void)
{
	results *r = make_run();
	summary_agent ag[] = {
		{ .id = "agent-a", .name = "lab-1", .host = "h1", .status = "done", .cores = 2,
		  .cpu_pct = 195, .rss_kb = 20480, .batches = 10 },
		{ .id = "agent-b", .name = "lab-2", .host = "h2", .status = "lost", .cores = 2,
		  .cpu_pct = 40, .rss_kb = 10240, .batches = 4, .dropped = 2 },
		{ .id = "agent-c", .name = "lab-3", .host = "h3", .status = "failed", .cores = 1 },
	};
	wire_entry ws[2] = { entry("ws_sessions", "chat", "/ws", "", 0), entry("ws_msgs_sent", "chat", "/ws", "", 0) };
	ws[0].count = 4;
	ws[1].count = 9;
	CHECK_EQ_INT(results_add_batch(r, "agent-a", 0, ws, 2), HERD_OK);
	summary_info info = { .run_id = "r1", .status = "passed", .degraded = 1, .agents = ag, .nagents = 3 };
	char *t = NULL, *js = NULL;
	CHECK_EQ_INT(summary_text(r, &info, &t), HERD_OK);
	CHECK_CONTAINS(t, "lab-1");
	CHECK_CONTAINS(t, "lab-3");
	CHECK_CONTAINS(t, "lost");
	CHECK_CONTAINS(t, "agent lab-2 was lost: its results up to its last acknowledged batch (4 batches) are kept");
	CHECK_CONTAINS(t, "agent lab-2 dropped 2 batches");
	CHECK_CONTAINS(t, "agent lab-1 ran at 195% CPU on 2 workers");
	CHECK(strstr(t, "agent lab-3 ran at") == NULL);
	CHECK_CONTAINS(t, "ws: 4 sessions (0 failed), 9 messages sent, 0 received");
	CHECK_EQ_INT(summary_json_text(r, &info, &js), HERD_OK);
	json_error_t je;
	json_t *j = json_loads(js, 0, &je);
	CHECK(j != NULL);
	json_t *b = json_object_get(json_object_get(json_object_get(j, "herd"), "agents"), "agent-b");
	CHECK_EQ_STR(json_string_value(json_object_get(b, "status")), "lost");
	CHECK_EQ_INT(json_integer_value(json_object_get(b, "batches")), 4);
	json_t *aa = json_object_get(json_object_get(json_object_get(j, "herd"), "agents"), "agent-a");
	CHECK_EQ_INT(json_integer_value(json_object_get(aa, "ws_sessions")), 4);
	CHECK_EQ_INT(json_integer_value(json_object_get(aa, "ws_msgs_sent")), 9);
	json_t *c = json_object_get(json_object_get(json_object_get(j, "herd"), "agents"), "agent-c");
	CHECK_EQ_STR(json_string_value(json_object_get(c, "status")), "failed");
	CHECK_EQ_INT(json_integer_value(json_object_get(c, "requests")), 0);
	json_decref(j);
	free(t);
	free(js);
	results_free(r);
}

/* Abnormal ws closes: the codes beside ws_closed_abnormally, a table by step
 * and code, the same in the JSON, and no metric line of their own. */
static void test_ws_closes(void)
{
	results *r;
	CHECK_EQ_INT(results_new(1000, &r), HERD_OK);
	wire_entry e[5] = {
		entry("ws_sessions", "chat", "c4000", "", 1),     entry("ws_sessions", "chat", "abort", "", 1),
		entry("ws_close_codes", "chat", "c4000", "", 4000), entry("ws_close_codes", "chat", "abort", "", 1006),
		entry("ws_close_codes", "chat", "abort", "", 4000),
	};
	e[0].count = 10;
	e[0].errors[ERRK_WS_CLOSED] = 9;
	e[1].count = 4;
	e[1].errors[ERRK_WS_CLOSED] = 3;
	e[2].count = 9;
	e[3].count = 2;
	e[4].count = 1;
	CHECK_EQ_INT(results_add_batch(r, "agent-a", 0, e, 5), HERD_OK);
	summary_info info = { .run_id = "r1" };
	char *t = NULL, *js = NULL;
	CHECK_EQ_INT(summary_text(r, &info, &t), HERD_OK);
	CHECK_CONTAINS(t, "ws_closed_abnormally: 12 (4000×10, 1006×2)\n");
	CHECK_CONTAINS(t, "ws sessions closed abnormally, by close code:");
	CHECK_CONTAINS(t, "  chat      abort    4000         1\n");
	CHECK_CONTAINS(t, "  chat      abort    1006         2\n");
	CHECK_CONTAINS(t, "  chat      c4000    4000         9\n");
	CHECK(strstr(t, "ws_close_codes") == NULL);
	/* abort's rows: the larger count first. */
	CHECK(strstr(t, "abort    1006") < strstr(t, "abort    4000"));
	CHECK_EQ_INT(summary_json_text(r, &info, &js), HERD_OK);
	json_error_t je;
	json_t *j = json_loads(js, 0, &je);
	CHECK(j != NULL);
	json_t *h = json_object_get(j, "herd");
	CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(h, "errors_by_kind"),
	                                                "ws_closed_abnormally")),
	             12);
	json_t *tot = json_object_get(h, "ws_close_codes");
	CHECK_EQ_INT(json_object_size(tot), 2);
	CHECK_EQ_INT(json_integer_value(json_object_get(tot, "4000")), 10);
	CHECK_EQ_INT(json_integer_value(json_object_get(tot, "1006")), 2);
	json_t *steps = json_object_get(h, "ws_close_codes_by_step");
	CHECK_EQ_INT(json_array_size(steps), 3);
	json_t *s0 = json_array_get(steps, 0);
	CHECK_EQ_STR(json_string_value(json_object_get(s0, "name")), "abort");
	CHECK_EQ_INT(json_integer_value(json_object_get(s0, "code")), 1006);
	CHECK_EQ_INT(json_integer_value(json_object_get(s0, "count")), 2);
	CHECK(json_object_get(json_object_get(j, "metrics"), "ws_close_codes") == NULL);
	CHECK(json_object_get(json_object_get(j, "metrics"), "ws_sessions") != NULL);
	json_decref(j);
	free(t);
	free(js);
	results_free(r);

	/* Without abnormal closes: no table, and empty ws_close_codes in the JSON. */
	r = make_run();
	CHECK_EQ_INT(summary_text(r, &info, &t), HERD_OK);
	CHECK(strstr(t, "closed abnormally") == NULL);
	CHECK_EQ_INT(summary_json_text(r, &info, &js), HERD_OK);
	j = json_loads(js, 0, &je);
	CHECK(j != NULL);
	CHECK_EQ_INT(json_object_size(json_object_get(json_object_get(j, "herd"), "ws_close_codes")), 0);
	CHECK_EQ_INT(json_array_size(json_object_get(json_object_get(j, "herd"), "ws_close_codes_by_step")), 0);
	json_decref(j);
	free(t);
	free(js);
	results_free(r);
}

/* Issue 9: large counts ran together ("6721113669" for 6 iterations and
 * 721,113,669 dropped; a count glued to its rate). Issue 10: WebSocket
 * sessions that all failed showed "failed 0.00%" in the tables. */
static void test_large_counts_and_ws_failures(void)
{
	results *r;
	CHECK_EQ_INT(results_new(1000, &r), HERD_OK);
	wire_entry e[4] = { entry("iterations", "s", "", "", 0), entry("dropped_iterations", "s", "", "", 0),
		                entry("http_req_duration", "s", "home", "GET", 2),
		                entry("ws_sessions", "chat", "/ws", "", 1) };
	e[0].count = 6;
	e[1].count = 721113669;
	e[2].count = 123456789012ULL;
	e[3].count = 340;
	e[3].errors[ERRK_WS_EXPECT] = 340;
	CHECK_EQ_INT(results_add_batch(r, "agent-a", 0, e, 4), HERD_OK);
	results_set_duration_ms(r, 1000);
	summary_agent ag[] = { { .id = "agent-a", .name = "a", .host = "h", .status = "done", .cores = 1 } };
	summary_info info = { .run_id = "r1", .status = "passed", .agents = ag, .nagents = 1 };
	char *t = NULL, *js = NULL;
	CHECK_EQ_INT(summary_text(r, &info, &t), HERD_OK);
	CHECK(strstr(t, "6721113669") == NULL);
	CHECK_CONTAINS(t, " 6 721113669\n");
	/* A count wider than its 8 columns keeps a space before its rate. */
	CHECK_CONTAINS(t, "dropped_iterations.............: 721113669 721113669/s");
	CHECK_CONTAINS(t, "http_reqs......................: 123456789012 123456789012/s");
	CHECK_CONTAINS(t, "ws_session_failed..............: 100.00% 340 out of 340");
	/* The chat scenario (sessions only) and the agent show the failures. */
	const char *chat = strstr(t, "\n  chat ");
	CHECK(chat != NULL && strstr(chat, "100.00%") != NULL && strstr(chat, "100.00%") < strchr(chat + 1, '\n'));
	CHECK_CONTAINS(t, "ws: 340 sessions (340 failed)");
	CHECK_EQ_INT(summary_json_text(r, &info, &js), HERD_OK);
	json_error_t je;
	json_t *j = json_loads(js, 0, &je);
	json_t *m = json_object_get(json_object_get(j, "metrics"), "ws_session_failed");
	CHECK(json_real_value(json_object_get(m, "value")) == 1.0);
	CHECK_EQ_INT(json_integer_value(json_object_get(m, "passes")), 340);
	json_t *sc = json_object_get(json_object_get(json_object_get(j, "herd"), "scenarios"), "chat");
	CHECK_EQ_INT(json_integer_value(json_object_get(sc, "ws_sessions_failed")), 340);
	json_decref(j);
	free(js);
	free(t);
	results_free(r);
}

/* A flow's share is of the iterations started (the picks of the weighted
 * mix), not of those finished: ai was picked 30 times in 100 and finished 27
 * (its iterations are slow), which is 30%, not 27.8%. */
static void test_flow_share_of_started(void)
{
	static const char *const flows[] = {"flow=read", "flow=ai", "flow=write"};
	static const uint64_t started[] = {60, 30, 10}, finished[] = {60, 27, 10};
	wire_entry e[6];
	results *r = NULL;
	char *t = NULL;

	CHECK_EQ_INT(results_new(1000, &r), HERD_OK);
	for (int i = 0; i < 3; i++) {
		e[2 * i] = entry("iterations_started", "mix", "", "", 0);
		e[2 * i].tags = (char *)flows[i];
		e[2 * i].count = started[i];
		e[2 * i + 1] = entry("iterations", "mix", "", "", 0);
		e[2 * i + 1].tags = (char *)flows[i];
		e[2 * i + 1].count = finished[i];
	}
	CHECK_EQ_INT(results_add_batch(r, "a1", 0, e, 6), HERD_OK);
	summary_info info = {.run_id = "r-share", .status = "passed"};
	CHECK_EQ_INT(summary_text(r, &info, &t), HERD_OK);
	if (t != NULL) {
		CHECK_CONTAINS(t, "    ai                      27    30.0%");
		CHECK_CONTAINS(t, "    read                    60    60.0%");
		CHECK_CONTAINS(t, "    write                   10    10.0%");
	}
	free(t);
	json_t *j = NULL;
	CHECK_EQ_INT(summary_json(r, &info, &j), HERD_OK);
	json_t *ai = json_object_get(
	    json_object_get(json_object_get(jpath2(j, "herd", "scenarios"), "mix"), "flows"), "ai");
	CHECK_EQ_INT(json_integer_value(json_object_get(ai, "started")), 30);
	CHECK_EQ_INT(json_integer_value(json_object_get(ai, "iterations")), 27);
	CHECK(fabs(json_number_value(json_object_get(ai, "share")) - 0.3) < 1e-12);
	json_decref(j);
	results_free(r);
}

int main(void)
{
	test_large_counts_and_ws_failures();
	test_flow_share_of_started();
	test_ws_closes();
	test_agents();
	test_durations();
	test_text();
	test_json();
	test_empty();
	test_bad_utf8();
	test_tagged_text();
	test_tagged_json();
	return check_done();
}
