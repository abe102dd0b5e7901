/*
 * Tests of controller/results (merging, tag queries, gauges over time) and
 * controller/verdict (threshold semantics per metric type), on batches built
 * by hand as agents would send them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "controller/results.h"
#include "controller/verdict.h"
#include "tests/unit/check.h"

/* A deterministic stream of values: xorshift64. */
static uint64_t rng_state = UINT64_C(0x9e3779b97f4a7c15);

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Latency-like values from 50 µs to about 3 s, skewed to the low end. */
static uint64_t latency(void)
{
	double u = (double)(rng() % 1000000) / 1000000.0;
	return 50 + (uint64_t)(exp(u * 11.0));
}

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

static void test_merge_two_agents(void)
{
	results *r;
	hist *all = hist_new(), *h[2][5];
	wire_entry e[2][5];

	CHECK_EQ_INT(results_new(1000, &r), HERD_OK);
	/* Two agents, five intervals each; every value also goes into one
	 * reference histogram. */
	for (int a = 0; a < 2; a++) {
		for (int i = 0; i < 5; i++) {
			h[a][i] = hist_new();
			e[a][i] = entry("http_req_duration", "browse", "home", "GET", 2);
			e[a][i].h = h[a][i];
			int n = 500 + 300 * a + 17 * i;
			for (int k = 0; k < n; k++) {
				uint64_t v = latency();
				hist_record(h[a][i], v);
				hist_record(all, v);
			}
			e[a][i].count = (uint64_t)n;
			e[a][i].bytes_in = (uint64_t)n * 100;
		}
	}
	/* Interleave the agents' batches, out of order for agent b. */
	for (int i = 0; i < 5; i++) {
		CHECK_EQ_INT(results_add_batch(r, "agent-a", i * 1000, &e[0][i], 1), HERD_OK);
		CHECK_EQ_INT(results_add_batch(r, "agent-b", (4 - i) * 1000, &e[1][4 - i], 1), HERD_OK);
	}

	res_agg *q = malloc(sizeof(*q));
	CHECK_EQ_INT(results_query(r, "http_req_duration", NULL, 0, q), HERD_OK);
	CHECK_EQ_INT(q->nseries, 2);
	CHECK_EQ_INT(q->h.total, all->total);
	CHECK_EQ_INT(q->count, all->total);
	CHECK_EQ_INT(q->h.min, all->min);
	CHECK_EQ_INT(q->h.max, all->max);
	CHECK_EQ_INT(q->h.sum, all->sum);
	static const double ps[] = {1, 25, 50, 75, 90, 95, 99, 99.9};
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
		CHECK_EQ_INT(hist_percentile(&q->h, ps[i]), hist_percentile(all, ps[i]));
	for (uint32_t i = 0; i < HIST_NBUCKETS; i++)
		if (q->h.counts[i] != all->counts[i]) {
			CHECK(q->h.counts[i] == all->counts[i]);
			break;
		}

	/* http_reqs and data_received read the same series. */
	CHECK_EQ_INT(results_query(r, "http_reqs", NULL, 0, q), HERD_OK);
	CHECK_EQ_INT(results_counter_value("http_reqs", q), all->total);
	CHECK_EQ_INT(results_query(r, "data_received", NULL, 0, q), HERD_OK);
	CHECK_EQ_INT(results_counter_value("data_received", q), all->total * 100);

	CHECK_EQ_INT(results_duration_ms(r), 5000);
	CHECK_EQ_INT(results_interval_len_ms(r), 1000);

	free(q);
	for (int a = 0; a < 2; a++)
		for (int i = 0; i < 5; i++)
			hist_free(h[a][i]);
	hist_free(all);
	results_free(r);
}

/* A small run: two scenarios, two steps, 2xx and 5xx, two agents, checks. */
static results *small_run(void)
{
	results *r;
	if (results_new(1000, &r) != 0)
		return NULL;
	for (int a = 0; a < 2; a++) {
		const char *agent = a == 0 ? "a1" : "a2";
		wire_entry e[6];
		e[0] = entry("http_req_duration", "browse", "home", "GET", 2);
		e[0].count = 100;
		e[0].bytes_in = 1000;
		e[0].bytes_out = 200;
		e[1] = entry("http_req_duration", "browse", "home", "GET", 5);
		e[1].count = 10;
		e[1].errors[ERRK_HTTP5XX] = 10;
		e[2] = entry("http_req_duration", "buy", "cart", "POST", 2);
		e[2].count = 40;
		e[3] = entry("http_req_duration", "buy", "cart", "POST", 0);
		e[3].count = 5;
		e[3].errors[ERRK_TIMEOUT] = 5;
		e[4] = entry("checks", "browse", "home status 200", "", 0);
		e[4].count = 110;
		e[4].errors[ERRK_CHECK] = 10;
		e[5] = entry("iterations", "browse", "", "", 0);
		e[5].count = 55;
		CHECK_EQ_INT(results_add_batch(r, agent, 0, e, 6), HERD_OK);
	}
	return r;
}

static void test_query_filters(void)
{
	results *r = small_run();
	res_agg *q = malloc(sizeof(*q));
	th_tag t[3];

	CHECK(r != NULL);
	CHECK_EQ_INT(results_query(r, "http_reqs", NULL, 0, q), HERD_OK);
	CHECK_EQ_INT(q->count, 310);
	CHECK_EQ_INT(q->nseries, 8);

	res_tag_set(&t[0], "scenario", "browse");
	CHECK_EQ_INT(results_query(r, "http_reqs", t, 1, q), HERD_OK);
	CHECK_EQ_INT(q->count, 220);

	res_tag_set(&t[1], "status", "5xx");
	CHECK_EQ_INT(results_query(r, "http_reqs", t, 2, q), HERD_OK);
	CHECK_EQ_INT(q->count, 20);
	CHECK_EQ_INT(q->errors[ERRK_HTTP5XX], 20);

	res_tag_set(&t[1], "status", "2XX");
	res_tag_set(&t[2], "agent", "a2");
	CHECK_EQ_INT(results_query(r, "http_reqs", t, 3, q), HERD_OK);
	CHECK_EQ_INT(q->count, 100);
	CHECK_EQ_INT(q->nseries, 1);

	res_tag_set(&t[0], "method", "post");
	CHECK_EQ_INT(results_query(r, "http_reqs", t, 1, q), HERD_OK);
	CHECK_EQ_INT(q->count, 90);

	res_tag_set(&t[0], "status", "0");
	CHECK_EQ_INT(results_query(r, "http_req_failed", t, 1, q), HERD_OK);
	CHECK_EQ_INT(q->errors[ERRK_TIMEOUT], 10);

	res_tag_set(&t[0], "name", "cart");
	CHECK_EQ_INT(results_query(r, "http_req_failed", t, 1, q), HERD_OK);
	uint64_t trues, total;
	CHECK_EQ_INT(results_rate_counts("http_req_failed", q, &trues, &total), HERD_OK);
	CHECK_EQ_INT(trues, 10);
	CHECK_EQ_INT(total, 90);

	/* "check" is an alias of "name" for checks. */
	res_tag_set(&t[0], "check", "home status 200");
	CHECK_EQ_INT(results_query(r, "checks", t, 1, q), HERD_OK);
	CHECK_EQ_INT(results_rate_counts("checks", q, &trues, &total), HERD_OK);
	CHECK_EQ_INT(trues, 200);
	CHECK_EQ_INT(total, 220);

	/* A filter matching nothing is an empty result, not an error. */
	res_tag_set(&t[0], "scenario", "nope");
	CHECK_EQ_INT(results_query(r, "http_reqs", t, 1, q), HERD_OK);
	CHECK_EQ_INT(q->nseries, 0);
	CHECK_EQ_INT(q->count, 0);

	/* Any key spelled as one is a filter; one that no series has matches
	 * nothing. Keys that are not spelled as keys are refused. */
	res_tag_set(&t[0], "url", "/x");
	CHECK_EQ_INT(results_query(r, "http_reqs", t, 1, q), HERD_OK);
	CHECK_EQ_INT(q->nseries, 0);
	CHECK_EQ_INT(q->count, 0);
	res_tag_set(&t[0], "1url", "/x");
	CHECK_EQ_INT(results_query(r, "http_reqs", t, 1, q), HERD_EINVAL);
	res_tag_set(&t[0], "my key", "x");
	CHECK_EQ_INT(results_query(r, "http_reqs", t, 1, q), HERD_EINVAL);
	CHECK_EQ_INT(results_check_tags(t, 1), HERD_EINVAL);
	res_tag_set(&t[0], "status", "200");
	CHECK_EQ_INT(results_query(r, "http_reqs", t, 1, q), HERD_EINVAL);
	CHECK_EQ_INT(results_query(r, "no_such_metric", NULL, 0, q), HERD_ENOTFOUND);
	CHECK_EQ_INT(results_rate_counts("http_reqs", q, &trues, &total), HERD_EINVAL);

	free(q);
	results_free(r);
}

static void test_tag_values(void)
{
	results *r = small_run();
	const char **v;
	size_t n;
	th_tag t;

	CHECK_EQ_INT(results_tag_values(r, NULL, "scenario", NULL, 0, &v, &n), HERD_OK);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_EQ_STR(v[0], "browse");
		CHECK_EQ_STR(v[1], "buy");
	}
	free(v);

	res_tag_set(&t, "scenario", "buy");
	CHECK_EQ_INT(results_tag_values(r, "http_reqs", "status", &t, 1, &v, &n), HERD_OK);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_EQ_STR(v[0], "0");
		CHECK_EQ_STR(v[1], "2xx");
	}
	free(v);

	CHECK_EQ_INT(results_tag_values(r, NULL, "agent", NULL, 0, &v, &n), HERD_OK);
	CHECK_EQ_INT(n, 2);
	free(v);

	/* Empty step names (iterations) are left out. */
	CHECK_EQ_INT(results_tag_values(r, "iterations", "name", NULL, 0, &v, &n), HERD_OK);
	CHECK_EQ_INT(n, 0);
	free(v);

	CHECK_EQ_INT(results_series_metrics(r, &v, &n), HERD_OK);
	CHECK_EQ_INT(n, 3);
	if (n == 3) {
		CHECK_EQ_STR(v[0], "checks");
		CHECK_EQ_STR(v[1], "http_req_duration");
		CHECK_EQ_STR(v[2], "iterations");
	}
	free(v);
	results_free(r);
}

/* Close codes: counts summed by code over agents and steps, filtered by
 * step, largest first. */
static void test_by_status(void)
{
	results *r;
	res_status_count *v = NULL;
	size_t n = 9;
	th_tag t;

	CHECK_EQ_INT(results_new(1000, &r), HERD_OK);
	/* Nothing yet: a known metric with no series is empty, not an error. */
	CHECK_EQ_INT(results_by_status(r, "ws_close_codes", NULL, 0, &v, &n), HERD_OK);
	CHECK_EQ_INT(n, 0);
	CHECK(v == NULL);
	wire_entry e[4] = {
		entry("ws_close_codes", "chat", "/a", "", 4000), entry("ws_close_codes", "chat", "/a", "", 1006),
		entry("ws_close_codes", "chat", "/b", "", 4000), entry("ws_sessions", "chat", "/a", "", 1),
	};
	e[0].count = 6;
	e[1].count = 2;
	e[2].count = 1;
	e[3].count = 50;
	CHECK_EQ_INT(results_add_batch(r, "agent-1", 0, e, 4), HERD_OK);
	e[0].count = 3;
	CHECK_EQ_INT(results_add_batch(r, "agent-2", 1000, e, 1), HERD_OK);

	CHECK_EQ_INT(results_by_status(r, "ws_close_codes", NULL, 0, &v, &n), HERD_OK);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_EQ_INT(v[0].status, 4000);
		CHECK_EQ_INT(v[0].count, 10);
		CHECK_EQ_INT(v[1].status, 1006);
		CHECK_EQ_INT(v[1].count, 2);
	}
	free(v);
	res_tag_set(&t, "name", "/b");
	CHECK_EQ_INT(results_by_status(r, "ws_close_codes", &t, 1, &v, &n), HERD_OK);
	CHECK_EQ_INT(n, 1);
	if (n == 1)
		CHECK_EQ_INT(v[0].count, 1);
	free(v);
	/* Equal counts are ordered by code. */
	wire_entry c[2] = { entry("ws_close_codes", "chat", "/c", "", 4001),
		                entry("ws_close_codes", "chat", "/c", "", 1011) };
	c[0].count = c[1].count = 2;
	CHECK_EQ_INT(results_add_batch(r, "agent-2", 1000, c, 2), HERD_OK);
	res_tag_set(&t, "name", "/c");
	CHECK_EQ_INT(results_by_status(r, "ws_close_codes", &t, 1, &v, &n), HERD_OK);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_EQ_INT(v[0].status, 1011);
		CHECK_EQ_INT(v[1].status, 4001);
	}
	free(v);
	CHECK_EQ_INT(results_by_status(r, "no_such_metric", NULL, 0, &v, &n), HERD_ENOTFOUND);
	/* A tag nobody sends matches nothing; a malformed key is refused. */
	res_tag_set(&t, "colour", "red");
	CHECK_EQ_INT(results_by_status(r, "ws_close_codes", &t, 1, &v, &n), HERD_OK);
	CHECK_EQ_INT(n, 0);
	free(v);
	res_tag_set(&t, "1colour", "red");
	CHECK_EQ_INT(results_by_status(r, "ws_close_codes", &t, 1, &v, &n), HERD_EINVAL);
	results_free(r);
}

static void test_gauges(void)
{
	results *r;
	res_agg *q = malloc(sizeof(*q));
	th_tag t;

	CHECK_EQ_INT(results_new(500, &r), HERD_OK);
	/* Agent a: 10, 20, 20, 5; agent b: 0, 10, 30, 5 (interval 1500 arrives
	 * first). Sums per interval: 10, 30, 50, 10. */
	static const int64_t va[] = {10, 20, 20, 5}, vb[] = {0, 10, 30, 5};
	wire_entry e = entry("vus", "s1", "", "", 0);
	e.gauge = vb[3];
	CHECK_EQ_INT(results_add_batch(r, "b", 1500, &e, 1), HERD_OK);
	for (int i = 0; i < 4; i++) {
		e.gauge = va[i];
		CHECK_EQ_INT(results_add_batch(r, "a", i * 500, &e, 1), HERD_OK);
		if (i < 3) {
			e.gauge = vb[i];
			CHECK_EQ_INT(results_add_batch(r, "b", i * 500, &e, 1), HERD_OK);
		}
	}
	CHECK_EQ_INT(results_query(r, "vus", NULL, 0, q), HERD_OK);
	CHECK(q->has_gauge);
	CHECK_EQ_INT(q->gauge_min, 10);
	CHECK_EQ_INT(q->gauge_max, 50);
	CHECK_EQ_INT(q->gauge_last, 10);

	/* A second value for the same series and interval replaces the first. */
	e.gauge = 100;
	CHECK_EQ_INT(results_add_batch(r, "a", 500, &e, 1), HERD_OK);
	CHECK_EQ_INT(results_query(r, "vus", NULL, 0, q), HERD_OK);
	CHECK_EQ_INT(q->gauge_max, 110);

	res_tag_set(&t, "agent", "b");
	CHECK_EQ_INT(results_query(r, "vus", &t, 1, q), HERD_OK);
	CHECK_EQ_INT(q->gauge_min, 0);
	CHECK_EQ_INT(q->gauge_max, 30);

	/* Counters have no gauge. */
	wire_entry it = entry("iterations", "s1", "", "", 0);
	it.count = 3;
	it.gauge = 77;
	CHECK_EQ_INT(results_add_batch(r, "a", 0, &it, 1), HERD_OK);
	CHECK_EQ_INT(results_query(r, "iterations", NULL, 0, q), HERD_OK);
	CHECK(!q->has_gauge);

	CHECK_EQ_INT(results_duration_ms(r), 2000);
	CHECK_EQ_INT(results_add_batch(r, NULL, 0, &e, 1), HERD_EINVAL);
	CHECK_EQ_INT(results_add_batch(r, "a", -1, &e, 1), HERD_EINVAL);
	free(q);
	results_free(r);
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

/* Requests with known latencies: 100 of 10 ms, 100 of 100 ms in scenario a,
 * and 20 failures; 10 s of run. */
static results *latency_run(void)
{
	results *r;
	hist *h1 = hist_new(), *h2 = hist_new();
	wire_entry e[5];

	if (results_new(1000, &r) != 0)
		return NULL;
	hist_record_n(h1, 10000, 100);
	hist_record_n(h2, 100000, 100);
	e[0] = entry("http_req_duration", "a", "fast", "GET", 2);
	e[0].count = 100;
	e[0].h = h1;
	e[1] = entry("http_req_duration", "b", "slow", "GET", 5);
	e[1].count = 100;
	e[1].errors[ERRK_HTTP5XX] = 20;
	e[1].h = h2;
	e[2] = entry("checks", "a", "ok", "", 0);
	e[2].count = 50;
	e[2].errors[ERRK_CHECK] = 1;
	e[3] = entry("iterations", "a", "", "", 0);
	e[3].count = 30;
	e[4] = entry("vus", "a", "", "", 0);
	e[4].gauge = 7;
	CHECK_EQ_INT(results_add_batch(r, "x", 0, e, 5), HERD_OK);
	CHECK_EQ_INT(results_add_batch(r, "x", 9000, NULL, 0), HERD_OK);
	hist_free(h1);
	hist_free(h2);
	return r;
}

static void test_verdicts(void)
{
	results *r = latency_run();
	verdict_set *vs;
	th_metric m;
	th_expr e;
	double v;
	int nodata;
	char err[256];

	CHECK(r != NULL);
	CHECK_EQ_INT(results_duration_ms(r), 10000);

	/* p(95) over both scenarios is the 100 ms bucket; p(50) is 10 ms. */
	m = metric("http_req_duration", NULL, NULL);
	e = expr(TH_P, 95, TH_LT, 500);
	CHECK_EQ_INT(verdict_value(r, &m, &e, &v, &nodata, err, sizeof(err)), HERD_OK);
	CHECK(fabs(v - 100.0) < 0.5);
	CHECK(!nodata);
	e = expr(TH_MED, 0, TH_LT, 500);
	CHECK_EQ_INT(verdict_value(r, &m, &e, &v, &nodata, err, sizeof(err)), HERD_OK);
	CHECK(fabs(v - 10.0) < 0.05);
	e = expr(TH_AVG, 0, TH_LT, 500);
	CHECK_EQ_INT(verdict_value(r, &m, &e, &v, &nodata, err, sizeof(err)), HERD_OK);
	CHECK(fabs(v - 55.0) < 0.001);

	CHECK_EQ_INT(verdict_set_new(&vs), HERD_OK);
	m = metric("http_req_duration", NULL, NULL);
	e = expr(TH_P, 95, TH_LT, 500);
	CHECK_EQ_INT(verdict_add_parsed(vs, r, "http_req_duration", "p(95)<500", &m, &e), HERD_OK);
	e = expr(TH_P, 95, TH_LT, 50);
	CHECK_EQ_INT(verdict_add_parsed(vs, r, "http_req_duration", "p(95)<50", &m, &e), HERD_OK);
	/* The submetric of scenario a alone passes the same bound. */
	m = metric("http_req_duration", "scenario", "a");
	CHECK_EQ_INT(verdict_add_parsed(vs, r, "http_req_duration{scenario:a}", "p(95)<50", &m, &e),
	             HERD_OK);
	/* http_req_failed: 20 of 200. */
	m = metric("http_req_failed", NULL, NULL);
	e = expr(TH_RATE, 0, TH_LT, 0.05);
	CHECK_EQ_INT(verdict_add_parsed(vs, r, "http_req_failed", "rate<0.05", &m, &e), HERD_OK);
	e = expr(TH_RATE, 0, TH_LE, 0.1);
	CHECK_EQ_INT(verdict_add_parsed(vs, r, "http_req_failed", "rate<=0.1", &m, &e), HERD_OK);
	/* checks: 49 of 50 passed. */
	m = metric("checks", NULL, NULL);
	e = expr(TH_RATE, 0, TH_GT, 0.99);
	CHECK_EQ_INT(verdict_add_parsed(vs, r, "checks", "rate>0.99", &m, &e), HERD_OK);
	e = expr(TH_RATE, 0, TH_GT, 0.95);
	CHECK_EQ_INT(verdict_add_parsed(vs, r, "checks", "rate>0.95", &m, &e), HERD_OK);
	/* Counters: 200 requests in 10 s = 20/s. */
	m = metric("http_reqs", NULL, NULL);
	e = expr(TH_COUNT, 0, TH_GE, 200);
	CHECK_EQ_INT(verdict_add_parsed(vs, r, "http_reqs", "count>=200", &m, &e), HERD_OK);
	e = expr(TH_RATE, 0, TH_GT, 25);
	CHECK_EQ_INT(verdict_add_parsed(vs, r, "http_reqs", "rate>25", &m, &e), HERD_OK);
	/* A type mismatch is an error verdict. */
	e = expr(TH_P, 95, TH_LT, 100);
	CHECK_EQ_INT(verdict_add_parsed(vs, r, "http_reqs", "p(95)<100", &m, &e), HERD_OK);
	/* A trend with no samples fails with nodata; a counter with none is 0. */
	m = metric("http_req_duration", "scenario", "never");
	e = expr(TH_P, 95, TH_LT, 1);
	CHECK_EQ_INT(verdict_add_parsed(vs, r, "http_req_duration{scenario:never}", "p(95)<1", &m, &e),
	             HERD_OK);
	m = metric("dropped_iterations", NULL, NULL);
	e = expr(TH_COUNT, 0, TH_GT, 0);
	CHECK_EQ_INT(verdict_add_parsed(vs, r, "dropped_iterations", "count>0", &m, &e), HERD_OK);
	/* Gauges: max of vus. */
	m = metric("vus", NULL, NULL);
	e = expr(TH_MAX, 0, TH_LE, 7);
	CHECK_EQ_INT(verdict_add_parsed(vs, r, "vus", "max<=7", &m, &e), HERD_OK);

	CHECK_EQ_INT(vs->n, 13);
	if (vs->n == 13) {
		static const int ok[] = {1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 0, 0, 1};
		for (size_t i = 0; i < 13; i++)
			if (vs->v[i].ok != ok[i]) {
				fprintf(stderr, "verdict %zu (%s %s): ok=%d observed=%g error=%s\n", i,
				        vs->v[i].metric, vs->v[i].expr, vs->v[i].ok, vs->v[i].observed,
				        vs->v[i].error ? vs->v[i].error : "-");
				CHECK(vs->v[i].ok == ok[i]);
			}
		CHECK(fabs(vs->v[3].observed - 0.1) < 1e-9);
		CHECK(fabs(vs->v[5].observed - 0.98) < 1e-9);
		CHECK(fabs(vs->v[7].observed - 200) < 1e-9);
		CHECK(fabs(vs->v[8].observed - 20) < 1e-9);
		CHECK(vs->v[8].error == NULL);
		CHECK(vs->v[9].error != NULL);
		CHECK_CONTAINS(vs->v[9].error, "does not apply to http_reqs");
		CHECK(vs->v[10].nodata);
		CHECK(vs->v[10].error == NULL);
		CHECK(!vs->v[11].nodata);
		CHECK_EQ_INT(vs->v[11].observed, 0);
		CHECK_EQ_INT(vs->v[12].observed, 7);
		CHECK_EQ_INT(vs->v[12].type, RES_GAUGE);
	}
	CHECK_EQ_INT(vs->nerrors, 1);
	CHECK_EQ_INT(vs->nfailed, 7);
	CHECK(!verdict_all_ok(vs));
	verdict_set_free(vs);

	/* Checks before a run, without results. */
	m = metric("http_reqs", NULL, NULL);
	e = expr(TH_AVG, 0, TH_LT, 1);
	CHECK_EQ_INT(verdict_check(&m, &e, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, "count or rate");
	m = metric("http_req_duration", "url", "/x");
	e = expr(TH_P, 99, TH_LT, 1);
	CHECK_EQ_INT(verdict_check(&m, &e, err, sizeof(err)), HERD_OK);
	m = metric("http_req_duration", "9url", "/x");
	CHECK_EQ_INT(verdict_check(&m, &e, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, "tag key '9url' on 'http_req_duration' is not valid");
	m = metric("http_req_duration", "status", "200");
	CHECK_EQ_INT(verdict_check(&m, &e, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, "status filter '200'");
	m = metric("group_duration", "group", "checkout");
	CHECK_EQ_INT(verdict_check(&m, &e, err, sizeof(err)), HERD_OK);
	m = metric("bogus_metric", NULL, NULL);
	CHECK_EQ_INT(verdict_check(&m, &e, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, "unknown metric");
	m = metric("vus", NULL, NULL);
	e = expr(TH_RATE, 0, TH_LT, 1);
	CHECK_EQ_INT(verdict_check(&m, &e, err, sizeof(err)), HERD_EINVAL);
	m = metric("checks", NULL, NULL);
	e = expr(TH_RATE, 0, TH_GT, 0.9);
	CHECK_EQ_INT(verdict_check(&m, &e, err, sizeof(err)), HERD_OK);

	/* Texts go through the threshold parser. */
	CHECK_EQ_INT(verdict_set_new(&vs), HERD_OK);
	CHECK_EQ_INT(verdict_add(vs, r, "http_req_duration{scenario:a}", "p(95) < 20"), HERD_OK);
	CHECK_EQ_INT(verdict_add(vs, r, "http_req_failed", "rate < 5%"), HERD_OK);
	CHECK_EQ_INT(verdict_add(vs, r, "http_req_duration", "p(95) <<< 1"), HERD_OK);
	CHECK_EQ_INT(vs->n, 3);
	if (vs->n == 3) {
		CHECK(vs->v[0].parsed && vs->v[0].ok);
		CHECK(!vs->v[1].ok && vs->v[1].error == NULL);
		CHECK(!vs->v[2].ok && vs->v[2].error != NULL);
		CHECK_CONTAINS(vs->v[2].error, "expression");
	}
	verdict_set_free(vs);

	/* No data fails unless the threshold allows it (allowNoData: true). */
	CHECK_EQ_INT(verdict_set_new(&vs), HERD_OK);
	CHECK_EQ_INT(verdict_add(vs, r, "http_req_duration{name:helth}", "p(95) < 500"), HERD_OK);
	CHECK_EQ_INT(verdict_add_nodata(vs, r, "http_req_duration{name:helth}", "p(95) < 500", 1), HERD_OK);
	CHECK_EQ_INT(verdict_add_nodata(vs, r, "http_req_failed{name:helth}", "rate < 0.01", 0), HERD_OK);
	CHECK_EQ_INT(vs->n, 3);
	if (vs->n == 3) {
		CHECK(vs->v[0].nodata && !vs->v[0].ok && vs->v[0].error == NULL);
		CHECK(vs->v[1].nodata && vs->v[1].ok && vs->v[1].nodata_ok);
		CHECK(vs->v[2].nodata && !vs->v[2].ok);
	}
	CHECK_EQ_INT(vs->nfailed, 2);
	CHECK(!verdict_all_ok(vs));
	verdict_set_free(vs);
	results_free(r);
}

/*
 * A run with flows, groups and user tags, as agents send them: scenario
 * "mixed" with flows read (60 iterations) and write (30) and ai (10); read's
 * requests are in group checkout and tagged kind=read; checks by their own
 * names; group_duration per group, nested groups as "outer::inner".
 */
static results *tagged_run(void)
{
	results *r;
	hist *h[4];
	wire_entry e[14];
	size_t n = 0;

	if (results_new(1000, &r) != 0)
		return NULL;
	for (int i = 0; i < 4; i++)
		h[i] = hist_new();
	hist_record_n(h[0], 10000, 100);  /* read: 10 ms */
	hist_record_n(h[1], 200000, 40);  /* write: 200 ms */
	hist_record_n(h[2], 50000, 60);   /* group checkout: 50 ms */
	hist_record_n(h[3], 300000, 5);   /* group outer::inner: 300 ms */

	e[n] = entry("http_req_duration", "mixed", "list", "GET", 2);
	e[n].tags = "flow=read\ngroup=checkout\nkind=read";
	e[n].count = 100;
	e[n++].h = h[0];
	e[n] = entry("http_req_duration", "mixed", "create", "POST", 2);
	e[n].tags = "flow=write";
	e[n].count = 40;
	e[n++].h = h[1];
	/* The same step, method and class in two flows: two series. */
	e[n] = entry("http_req_duration", "mixed", "create", "POST", 5);
	e[n].tags = "flow=write";
	e[n].count = 3;
	e[n++].errors[ERRK_HTTP5XX] = 3;
	e[n] = entry("http_req_duration", "mixed", "create", "POST", 5);
	e[n].tags = "flow=ai";
	e[n].count = 2;
	e[n++].errors[ERRK_HTTP5XX] = 2;
	e[n] = entry("iterations", "mixed", "", "", 0);
	e[n].tags = "flow=read";
	e[n++].count = 60;
	e[n] = entry("iterations", "mixed", "", "", 0);
	e[n].tags = "flow=write";
	e[n++].count = 30;
	e[n] = entry("iterations", "mixed", "", "", 0);
	e[n].tags = "flow=ai";
	e[n++].count = 10;
	/* A scenario without flows. */
	e[n] = entry("iterations", "plain", "", "", 0);
	e[n++].count = 7;
	e[n] = entry("group_duration", "mixed", "", "", 0);
	e[n].tags = "flow=read\ngroup=checkout";
	e[n].count = 60;
	e[n++].h = h[2];
	e[n] = entry("group_duration", "mixed", "", "", 0);
	e[n].tags = "flow=write\ngroup=outer::inner";
	e[n].count = 5;
	e[n++].h = h[3];
	e[n] = entry("checks", "mixed", "created", "", 0);
	e[n].tags = "flow=write";
	e[n].count = 1000;
	e[n++].errors[ERRK_CHECK] = 30;
	e[n] = entry("checks", "mixed", "login ok", "", 0);
	e[n].tags = "flow=read\ngroup=checkout";
	e[n].count = 200;
	e[n++].errors[ERRK_CHECK] = 1;
	/* A legacy check name, no tags at all (NULL). */
	e[n] = entry("checks", "plain", "home: status is 200", "", 0);
	e[n++].count = 50;
	/* Lines without '=' and empty lines do not hide the others. */
	e[n] = entry("iterations", "odd", "", "", 0);
	e[n].tags = "noval\n\nflow=x=y";
	e[n++].count = 1;
	CHECK_EQ_INT(results_add_batch(r, "a1", 0, e, n), HERD_OK);
	/* A second agent adds to the read flow's series of its own. */
	CHECK_EQ_INT(results_add_batch(r, "a2", 0, &e[0], 1), HERD_OK);
	for (int i = 0; i < 4; i++)
		hist_free(h[i]);
	return r;
}

static void test_tag_filters(void)
{
	results *r = tagged_run();
	res_agg *q = malloc(sizeof(*q));
	th_tag t[4];
	uint64_t trues, total;

	CHECK(r != NULL);
	res_tag_set(&t[0], "flow", "read");
	CHECK_EQ_INT(results_query(r, "http_reqs", t, 1, q), HERD_OK);
	CHECK_EQ_INT(q->count, 200);
	CHECK_EQ_INT(q->nseries, 2);
	CHECK_EQ_INT(q->h.total, 200);
	CHECK_EQ_INT(hist_percentile(&q->h, 95) / 1000, 10);
	res_tag_set(&t[0], "flow", "write");
	CHECK_EQ_INT(results_query(r, "http_reqs", t, 1, q), HERD_OK);
	CHECK_EQ_INT(q->count, 43);
	CHECK_EQ_INT(results_query(r, "http_req_failed", t, 1, q), HERD_OK);
	CHECK_EQ_INT(results_rate_counts("http_req_failed", q, &trues, &total), HERD_OK);
	CHECK_EQ_INT(trues, 3);
	CHECK_EQ_INT(total, 43);
	/* A user tag, and a group. */
	res_tag_set(&t[0], "kind", "read");
	CHECK_EQ_INT(results_query(r, "http_req_duration", t, 1, q), HERD_OK);
	CHECK_EQ_INT(q->count, 200);
	res_tag_set(&t[0], "group", "checkout");
	CHECK_EQ_INT(results_query(r, "http_reqs", t, 1, q), HERD_OK);
	CHECK_EQ_INT(q->count, 200);
	CHECK_EQ_INT(results_query(r, "group_duration", t, 1, q), HERD_OK);
	CHECK_EQ_INT(q->h.total, 60);
	CHECK_EQ_INT(hist_percentile(&q->h, 95) / 1000, 50);
	res_tag_set(&t[0], "group", "outer::inner");
	CHECK_EQ_INT(results_query(r, "group_duration", t, 1, q), HERD_OK);
	CHECK_EQ_INT(q->h.total, 5);
	CHECK_EQ_INT(hist_percentile(&q->h, 50) / 1000, 300);
	CHECK_EQ_INT(results_query(r, "group_duration", NULL, 0, q), HERD_OK);
	CHECK_EQ_INT(q->h.total, 65);
	/* A group is matched whole, not by a prefix. */
	res_tag_set(&t[0], "group", "outer");
	CHECK_EQ_INT(results_query(r, "group_duration", t, 1, q), HERD_OK);
	CHECK_EQ_INT(q->nseries, 0);

	/* Combined: the fields and the tags lines together. */
	res_tag_set(&t[0], "scenario", "mixed");
	res_tag_set(&t[1], "flow", "write");
	res_tag_set(&t[2], "status", "5xx");
	CHECK_EQ_INT(results_query(r, "http_reqs", t, 3, q), HERD_OK);
	CHECK_EQ_INT(q->count, 3);
	CHECK_EQ_INT(q->nseries, 1);
	res_tag_set(&t[1], "flow", "ai");
	CHECK_EQ_INT(results_query(r, "http_reqs", t, 3, q), HERD_OK);
	CHECK_EQ_INT(q->count, 2);
	res_tag_set(&t[1], "flow", "read");
	res_tag_set(&t[2], "kind", "read");
	res_tag_set(&t[3], "agent", "a2");
	CHECK_EQ_INT(results_query(r, "http_reqs", t, 4, q), HERD_OK);
	CHECK_EQ_INT(q->count, 100);
	res_tag_set(&t[2], "kind", "write");
	CHECK_EQ_INT(results_query(r, "http_reqs", t, 4, q), HERD_OK);
	CHECK_EQ_INT(q->nseries, 0);

	/* iterations per flow. */
	res_tag_set(&t[0], "flow", "write");
	CHECK_EQ_INT(results_query(r, "iterations", t, 1, q), HERD_OK);
	CHECK_EQ_INT(results_counter_value("iterations", q), 30);
	CHECK_EQ_INT(results_query(r, "iterations", NULL, 0, q), HERD_OK);
	CHECK_EQ_INT(q->count, 108);

	/* Checks per name, with a space in the name. */
	res_tag_set(&t[0], "check", "login ok");
	CHECK_EQ_INT(results_query(r, "checks", t, 1, q), HERD_OK);
	CHECK_EQ_INT(results_rate_counts("checks", q, &trues, &total), HERD_OK);
	CHECK_EQ_INT(trues, 199);
	CHECK_EQ_INT(total, 200);
	res_tag_set(&t[0], "check", "created");
	res_tag_set(&t[1], "flow", "write");
	CHECK_EQ_INT(results_query(r, "checks", t, 2, q), HERD_OK);
	CHECK_EQ_INT(results_rate_counts("checks", q, &trues, &total), HERD_OK);
	CHECK_EQ_INT(trues, 970);
	CHECK_EQ_INT(total, 1000);

	/* A key nobody sends matches nothing; an empty value matches the series
	 * without the key. */
	res_tag_set(&t[0], "persona", "admin");
	CHECK_EQ_INT(results_query(r, "checks", t, 1, q), HERD_OK);
	CHECK_EQ_INT(q->nseries, 0);
	res_tag_set(&t[0], "group", "");
	CHECK_EQ_INT(results_query(r, "checks", t, 1, q), HERD_OK);
	CHECK_EQ_INT(q->count, 1050);
	CHECK_EQ_INT(q->nseries, 2);

	/* Odd tags lines: the well-formed line still counts, cut at its first '='. */
	res_tag_set(&t[0], "flow", "x=y");
	CHECK_EQ_INT(results_query(r, "iterations", t, 1, q), HERD_OK);
	CHECK_EQ_INT(q->count, 1);
	res_tag_set(&t[0], "noval", "x");
	CHECK_EQ_INT(results_query(r, "iterations", t, 1, q), HERD_OK);
	CHECK_EQ_INT(q->count, 0);

	free(q);
	results_free(r);
}

static void test_tag_values_any_key(void)
{
	results *r = tagged_run();
	const char **v;
	size_t n;
	th_tag t[2];

	CHECK_EQ_INT(results_tag_values(r, "iterations", "flow", NULL, 0, &v, &n), HERD_OK);
	CHECK_EQ_INT(n, 4);
	if (n == 4) {
		CHECK_EQ_STR(v[0], "ai");
		CHECK_EQ_STR(v[1], "read");
		CHECK_EQ_STR(v[2], "write");
		CHECK_EQ_STR(v[3], "x=y");
	}
	free(v);
	res_tag_set(&t[0], "scenario", "mixed");
	CHECK_EQ_INT(results_tag_values(r, NULL, "flow", t, 1, &v, &n), HERD_OK);
	CHECK_EQ_INT(n, 3);
	free(v);
	res_tag_set(&t[0], "scenario", "plain");
	CHECK_EQ_INT(results_tag_values(r, NULL, "flow", t, 1, &v, &n), HERD_OK);
	CHECK_EQ_INT(n, 0);
	free(v);

	CHECK_EQ_INT(results_tag_values(r, "group_duration", "group", NULL, 0, &v, &n), HERD_OK);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_EQ_STR(v[0], "checkout");
		CHECK_EQ_STR(v[1], "outer::inner");
	}
	free(v);
	/* Filtered by a tag too: the groups of flow write. */
	res_tag_set(&t[0], "flow", "write");
	CHECK_EQ_INT(results_tag_values(r, NULL, "group", t, 1, &v, &n), HERD_OK);
	CHECK_EQ_INT(n, 1);
	if (n == 1)
		CHECK_EQ_STR(v[0], "outer::inner");
	free(v);

	CHECK_EQ_INT(results_tag_values(r, "http_req_duration", "kind", NULL, 0, &v, &n), HERD_OK);
	CHECK_EQ_INT(n, 1);
	if (n == 1)
		CHECK_EQ_STR(v[0], "read");
	free(v);

	/* Checks by their own names; "check" and "name" list the same. */
	CHECK_EQ_INT(results_tag_values(r, "checks", "check", NULL, 0, &v, &n), HERD_OK);
	CHECK_EQ_INT(n, 3);
	if (n == 3) {
		CHECK_EQ_STR(v[0], "created");
		CHECK_EQ_STR(v[1], "home: status is 200");
		CHECK_EQ_STR(v[2], "login ok");
	}
	free(v);
	/* The checks outside any group. */
	res_tag_set(&t[0], "group", "");
	CHECK_EQ_INT(results_tag_values(r, "checks", "name", t, 1, &v, &n), HERD_OK);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_EQ_STR(v[0], "created");
		CHECK_EQ_STR(v[1], "home: status is 200");
	}
	free(v);

	/* A key no series has lists nothing; a key not spelled as one is refused. */
	CHECK_EQ_INT(results_tag_values(r, NULL, "persona", NULL, 0, &v, &n), HERD_OK);
	CHECK_EQ_INT(n, 0);
	free(v);
	CHECK_EQ_INT(results_tag_values(r, NULL, "bad key", NULL, 0, &v, &n), HERD_EINVAL);
	CHECK_EQ_INT(results_tag_values(r, "no_such", "flow", NULL, 0, &v, &n), HERD_ENOTFOUND);

	res_metric_info info;
	CHECK_EQ_INT(results_metric_info(NULL, "group_duration", &info), HERD_OK);
	CHECK_EQ_INT(info.type, RES_TREND);
	CHECK_EQ_STR(info.source, "group_duration");
	results_free(r);
}

static void test_tag_verdicts(void)
{
	results *r = tagged_run();
	verdict_set *vs;

	CHECK(r != NULL);
	CHECK_EQ_INT(verdict_set_new(&vs), HERD_OK);
	/* 199 of 200: 99.5% */
	CHECK_EQ_INT(verdict_add(vs, r, "checks{check:login ok}", "rate > 0.99"), HERD_OK);
	/* 970 of 1000 */
	CHECK_EQ_INT(verdict_add(vs, r, "checks{check:created}", "rate > 0.99"), HERD_OK);
	CHECK_EQ_INT(verdict_add(vs, r, "group_duration{group:checkout}", "p(95) < 100"), HERD_OK);
	CHECK_EQ_INT(verdict_add(vs, r, "group_duration{group:outer::inner}", "p(95) < 100"),
	             HERD_OK);
	CHECK_EQ_INT(verdict_add(vs, r, "iterations{flow:write}", "count >= 30"), HERD_OK);
	CHECK_EQ_INT(verdict_add(vs, r, "http_req_duration{flow:read,kind:read}", "p(95) < 20"),
	             HERD_OK);
	CHECK_EQ_INT(verdict_add(vs, r, "http_req_duration{flow:write}", "p(95) < 20"), HERD_OK);
	/* Keys or values nobody sends: no data for a trend (which fails), 0 for a counter. */
	CHECK_EQ_INT(verdict_add(vs, r, "http_req_duration{flw:read}", "p(95) < 1"), HERD_OK);
	CHECK_EQ_INT(verdict_add(vs, r, "iterations{flow:nope}", "count > 0"), HERD_OK);
	CHECK_EQ_INT(verdict_add(vs, r, "checks{check:nope}", "rate > 0.5"), HERD_OK);
	/* A key not spelled as one is a parse error. */
	CHECK_EQ_INT(verdict_add(vs, r, "checks{check name:x}", "rate > 0.5"), HERD_OK);

	CHECK_EQ_INT(vs->n, 11);
	if (vs->n == 11) {
		static const int ok[] = {1, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0};
		static const int nodata[] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0};
		for (size_t i = 0; i < 11; i++) {
			if (vs->v[i].ok != ok[i] || vs->v[i].nodata != nodata[i]) {
				fprintf(stderr, "verdict %zu (%s %s): ok=%d nodata=%d observed=%g error=%s\n",
				        i, vs->v[i].metric, vs->v[i].expr, vs->v[i].ok, vs->v[i].nodata,
				        vs->v[i].observed, vs->v[i].error ? vs->v[i].error : "-");
			}
			CHECK_EQ_INT(vs->v[i].ok, ok[i]);
			CHECK_EQ_INT(vs->v[i].nodata, nodata[i]);
		}
		CHECK(fabs(vs->v[0].observed - 0.995) < 1e-12);
		CHECK(fabs(vs->v[1].observed - 0.97) < 1e-12);
		CHECK(fabs(vs->v[2].observed - 50) < 0.5);
		CHECK(fabs(vs->v[3].observed - 300) < 2);
		CHECK_EQ_INT(vs->v[4].observed, 30);
		CHECK(fabs(vs->v[6].observed - 200) < 1);
		CHECK_EQ_INT(vs->v[8].observed, 0);
		CHECK(vs->v[8].error == NULL);
		CHECK(vs->v[10].error != NULL);
		CHECK_CONTAINS(vs->v[10].error, "tag key 'check name' is not valid");
	}
	verdict_set_free(vs);
	results_free(r);
}

int main(void)
{
	test_tag_filters();
	test_tag_values_any_key();
	test_tag_verdicts();
	test_merge_two_agents();
	test_query_filters();
	test_tag_values();
	test_by_status();
	test_gauges();
	test_verdicts();
	return check_done();
}
