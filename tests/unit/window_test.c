/* The live window: keys (cluster, scenario, step), spans, percentiles from
 * merged histograms, offered vs achieved, gauges, the ring, CPU, late batches. */
#include <stdlib.h>

#include "common/err.h"
#include "controller/window.h"
#include "tests/unit/check.h"

/* An entry of metric for scenario/step with count; latencies (µs) go into a
 * histogram when given. */
static wire_entry entry(const char *metric, const char *scenario, const char *name, uint64_t count,
                        const uint64_t *lat_us, size_t nlat)
{
	wire_entry e = { 0 };
	e.metric = (char *)metric;
	e.scenario = (char *)scenario;
	e.name = (char *)name;
	e.method = (char *)"";
	e.count = count;
	if (nlat > 0) {
		e.h = hist_new();
		for (size_t i = 0; i < nlat; i++)
			hist_record(e.h, lat_us[i]);
	}
	return e;
}

static void free_entries(wire_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		hist_free(e[i].h);
}

static void test_keys_and_percentiles(void)
{
	win *w;
	CHECK(win_new(10, 1000, &w) == HERD_OK);
	/* Agent A: browse/home 100 requests at 1..100 ms, 4 of them 5xx. */
	uint64_t a_lat[100], b_lat[100];
	for (int i = 0; i < 100; i++) {
		a_lat[i] = (uint64_t)(i + 1) * 1000;
		b_lat[i] = (uint64_t)(i + 101) * 1000;
	}
	wire_entry a[3] = {
		entry("http_req_duration", "browse", "home", 100, a_lat, 100),
		entry("iterations", "browse", "", 100, NULL, 0),
		entry("vus", "browse", "", 0, NULL, 0),
	};
	a[0].errors[ERRK_HTTP5XX] = 4;
	a[2].gauge = 7;
	/* Agent B, same interval: browse/search 100 requests at 101..200 ms, 1 timeout. */
	wire_entry b[2] = {
		entry("http_req_duration", "browse", "search", 100, b_lat, 100),
		entry("vus", "browse", "", 0, NULL, 0),
	};
	b[0].errors[ERRK_TIMEOUT] = 1;
	b[1].gauge = 5;
	CHECK(win_add(w, "a1", 0, a, 3) == HERD_OK);
	CHECK(win_add(w, "a2", 0, b, 2) == HERD_OK);

	win_stats s;
	CHECK(win_get(w, NULL, NULL, 0, 0, &s) == HERD_OK);
	CHECK_EQ_INT(s.intervals, 1);
	CHECK_EQ_INT(s.reqs, 200);
	CHECK_EQ_INT(s.failed, 5);
	CHECK_EQ_INT(s.errors[ERRK_HTTP5XX], 4);
	CHECK_EQ_INT(s.errors[ERRK_TIMEOUT], 1);
	CHECK_EQ_INT(s.vus, 12); /* gauges add up over agents */
	CHECK_EQ_INT(s.iterations, 100);
	CHECK(s.rps == 200.0);
	CHECK(s.error_rate == 5.0 / 200);
	/* Merged: the 100th of 200 values is 100 ms, the 190th 190 ms (1% error). */
	CHECK(s.p50_ms > 99 && s.p50_ms < 101);
	CHECK(s.p95_ms > 188 && s.p95_ms < 192);
	CHECK(s.p99_ms > 196 && s.p99_ms < 200);

	/* The scenario sums its steps; each step is its own key. */
	CHECK(win_get(w, "browse", NULL, 0, 0, &s) == HERD_OK);
	CHECK_EQ_INT(s.reqs, 200);
	CHECK(win_get(w, "browse", "home", 0, 0, &s) == HERD_OK);
	CHECK_EQ_INT(s.reqs, 100);
	CHECK_EQ_INT(s.failed, 4);
	CHECK(s.p50_ms > 49 && s.p50_ms < 51.5); /* 50 ms: only agent A's latencies */
	CHECK(win_get(w, "browse", "search", 0, 0, &s) == HERD_OK);
	CHECK(s.p50_ms > 149 && s.p50_ms < 152);
	CHECK_EQ_INT(s.errors[ERRK_TIMEOUT], 1);
	/* Unknown keys and a step without its scenario. */
	CHECK(win_get(w, "nope", NULL, 0, 0, &s) == HERD_OK && s.intervals == 0 && s.reqs == 0);
	CHECK(win_get(w, NULL, "home", 0, 0, &s) == HERD_EINVAL);

	const char *sc, *st;
	CHECK_EQ_INT(win_nkeys(w), 4); /* cluster, browse, browse/home, browse/search */
	CHECK(win_key(w, 0, &sc, &st) && sc == NULL && st == NULL);
	CHECK(win_key(w, 1, &sc, &st) && sc != NULL && strcmp(sc, "browse") == 0 && st == NULL);
	CHECK(win_key(w, 2, &sc, &st) && st != NULL && strcmp(st, "home") == 0);
	CHECK(!win_key(w, 4, &sc, &st));
	int http, ws;
	win_seen(w, &http, &ws);
	CHECK(http == 1 && ws == 0);
	free_entries(a, 3);
	free_entries(b, 2);
	win_free(w);
}

/* Offered vs achieved over a span, dropped iterations, gauges from the latest interval. */
static void test_spans_and_offered(void)
{
	win *w;
	CHECK(win_new(10, 1000, &w) == HERD_OK);
	for (int64_t t = 0; t < 5; t++) {
		wire_entry e[4] = {
			entry("offered_iterations", "find", "", 100, NULL, 0),
			entry("iterations_started", "find", "", (uint64_t)(100 - 10 * t), NULL, 0),
			entry("dropped_iterations", "find", "", (uint64_t)(10 * t), NULL, 0),
			entry("vus", "find", "", 0, NULL, 0),
		};
		e[3].gauge = 10 + t;
		CHECK(win_add(w, "a1", t * 1000, e, 4) == HERD_OK);
	}
	win_stats s;
	/* Intervals 2..4: 300 offered, 80+70+60 started, 20+30+40 dropped. */
	CHECK(win_get(w, "find", NULL, 2000, 4000, &s) == HERD_OK);
	CHECK_EQ_INT(s.intervals, 3);
	CHECK(s.seconds == 3.0);
	CHECK_EQ_INT(s.offered, 300);
	CHECK_EQ_INT(s.started, 210);
	CHECK_EQ_INT(s.dropped, 90);
	CHECK(s.offered_rate == 100.0);
	CHECK(s.started_rate == 70.0);
	CHECK_EQ_INT(s.vus, 14); /* the latest interval's gauge, not a sum over time */
	CHECK_EQ_INT(s.latest_ms, 4000);
	CHECK_EQ_INT(win_latest_ms(w), 4000);
	/* A closed model's target beside its active VUs. */
	wire_entry c[2] = { entry("vus_target", "ramp", "", 0, NULL, 0), entry("vus", "ramp", "", 0, NULL, 0) };
	c[0].gauge = 20;
	c[1].gauge = 18;
	CHECK(win_add(w, "a1", 4000, c, 2) == HERD_OK);
	CHECK(win_get(w, "ramp", NULL, 0, 4000, &s) == HERD_OK);
	CHECK(s.has_vus_target && s.vus_target == 20 && s.vus == 18);
	CHECK(win_get(w, "find", NULL, 0, 4000, &s) == HERD_OK);
	CHECK(!s.has_vus_target);
	win_free(w);
}

/* The ring keeps the last n intervals; late batches for a slot taken by a
 * newer interval are left out, not added to it. */
static void test_ring(void)
{
	win *w;
	CHECK(win_new(3, 1000, &w) == HERD_OK);
	for (int64_t t = 0; t < 6; t++) {
		wire_entry e = entry("iterations", "s", "", (uint64_t)(t + 1), NULL, 0);
		CHECK(win_add(w, "a1", t * 1000, &e, 1) == HERD_OK);
	}
	win_stats s;
	CHECK(win_get(w, NULL, NULL, 0, 10000, &s) == HERD_OK);
	CHECK_EQ_INT(s.intervals, 3);
	CHECK_EQ_INT(s.iterations, 4 + 5 + 6);
	/* Interval 2 shares its slot with 5: too late, changes nothing. */
	wire_entry late = entry("iterations", "s", "", 1000, NULL, 0);
	CHECK(win_add(w, "a1", 2000, &late, 1) == HERD_OK);
	CHECK(win_get(w, NULL, NULL, 0, 10000, &s) == HERD_OK);
	CHECK_EQ_INT(s.iterations, 15);
	/* A late batch whose slot is still its own is merged. */
	CHECK(win_add(w, "a1", 4000, &late, 1) == HERD_OK);
	CHECK(win_get(w, NULL, NULL, 4000, 4000, &s) == HERD_OK);
	CHECK_EQ_INT(s.iterations, 1005);
	CHECK(win_add(w, "a1", -1000, &late, 1) == HERD_EINVAL);
	CHECK(win_add(w, "a1", 0, NULL, 1) == HERD_EINVAL);
	CHECK(win_get(w, NULL, NULL, 20000, 30000, &s) == HERD_OK && s.intervals == 0 && s.p95_ms == 0);
	win_free(w);
}

static void test_ws_and_cpu(void)
{
	win *w;
	CHECK(win_new(0, 0, &w) == HERD_OK);
	CHECK_EQ_INT(win_capacity(w), 60);
	CHECK_EQ_INT(win_interval_len_ms(w), 1000);
	uint64_t rtt[4] = { 1000, 2000, 3000, 40000 };
	wire_entry e[4] = {
		entry("ws_sessions", "chat", "", 10, NULL, 0),
		entry("ws_sessions_open", "chat", "", 0, NULL, 0),
		entry("ws_msgs_sent", "chat", "", 30, NULL, 0),
		entry("ws_msg_rtt", "chat", "", 4, rtt, 4),
	};
	e[0].errors[ERRK_WS_REJECTED] = 2;
	e[1].gauge = 6;
	CHECK(win_add(w, "a1", 0, e, 4) == HERD_OK);
	win_stats s;
	CHECK(win_get(w, NULL, NULL, 0, 0, &s) == HERD_OK);
	CHECK_EQ_INT(s.ws_ended, 10);
	CHECK_EQ_INT(s.ws_failed, 2);
	CHECK_EQ_INT(s.ws_msgs, 30);
	CHECK_EQ_INT(s.ws_open, 6);
	CHECK(hist_percentile(&s.rtt, 100) == 40000);
	CHECK_EQ_INT(s.reqs, 0);
	int http, ws;
	win_seen(w, &http, &ws);
	CHECK(http == 0 && ws == 1);

	CHECK(win_set_cpu(w, "a1", 0, 50) == HERD_OK);
	CHECK(win_set_cpu(w, "a2", 0, 180) == HERD_OK);
	CHECK(win_set_cpu(w, "a1", 0, 55) == HERD_OK); /* replaces */
	CHECK(win_set_cpu(w, "a1", 1000, 90) == HERD_OK);
	win_cpu c[4];
	size_t n = win_cpu_at(w, 0, c, 4);
	CHECK_EQ_INT(n, 2);
	CHECK(n == 2 && strcmp(c[0].agent, "a1") == 0 && c[0].cpu_pct == 55);
	CHECK(n == 2 && strcmp(c[1].agent, "a2") == 0 && c[1].cpu_pct == 180);
	n = win_cpu_at(w, 1000, c, 4);
	CHECK(n == 1 && c[0].cpu_pct == 90);
	CHECK_EQ_INT(win_cpu_at(w, 2000, c, 4), 0);
	CHECK(win_set_cpu(w, NULL, 0, 1) == HERD_EINVAL);
	/* From the agents' own gauge (per mille of one core) in their batches. */
	wire_entry g = entry("agent_cpu", "", "", 0, NULL, 0);
	g.gauge = 1875;
	CHECK(win_add(w, "a3", 2000, &g, 1) == HERD_OK);
	n = win_cpu_at(w, 2000, c, 4);
	CHECK(n == 1 && strcmp(c[0].agent, "a3") == 0 && c[0].cpu_pct == 187.5);
	CHECK(win_get(w, NULL, NULL, 2000, 2000, &s) == HERD_OK && s.intervals == 0); /* not a key's figure */
	CHECK(win_add(w, NULL, 0, &g, 1) == HERD_EINVAL);
	free_entries(e, 4);
	win_free(w);
}

/* Past WIN_KEYS_MAX, steps are no longer kept alone but still count in the cluster. */
static void test_key_limit(void)
{
	win *w;
	CHECK(win_new(2, 1000, &w) == HERD_OK);
	char name[32];
	for (int i = 0; i < WIN_KEYS_MAX + 10; i++) {
		snprintf(name, sizeof(name), "step%d", i);
		wire_entry e = entry("http_req_duration", "s", name, 1, NULL, 0);
		CHECK(win_add(w, "a1", 0, &e, 1) == HERD_OK);
	}
	win_stats s;
	CHECK_EQ_INT(win_nkeys(w), WIN_KEYS_MAX);
	CHECK(win_get(w, NULL, NULL, 0, 0, &s) == HERD_OK);
	CHECK_EQ_INT(s.reqs, WIN_KEYS_MAX + 10);
	CHECK(win_get(w, "s", NULL, 0, 0, &s) == HERD_OK);
	CHECK_EQ_INT(s.reqs, WIN_KEYS_MAX + 10);
	win_free(w);
}

int main(void)
{
	test_keys_and_percentiles();
	test_spans_and_offered();
	test_ring();
	test_ws_and_cpu();
	test_key_limit();
	return check_done();
}
