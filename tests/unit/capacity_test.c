/*
 * Tests for controller/capacity's levels: from a real SQLite store with
 * batches written as agents send them, the levels of a ramping-vus run are
 * the second halves of the stages that hold their target (whole intervals
 * only, other intervals and other scenarios left out), with requests per
 * second and latency from the merged histograms; a ramping-arrival-rate
 * run's concurrency comes by Little's law; a run without such a scenario
 * says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/hist.h"
#include "common/plan.h"
#include "controller/capacity.h"
#include "controller/store.h"
#include "tests/unit/check.h"
#include "tests/unit/tmpdb.h"

#include <sqlite3.h>

static char dir[] = "/tmp/herd-capacity-test-XXXXXX";

/* Stores one interval of one agent: count requests of latency lat_us for
 * scenario scen, and 7 of another scenario that must not count. */
static void put(store *st, const char *run, const char *agent, uint64_t seq, int64_t interval_ms, const char *scen,
                uint64_t count, uint64_t lat_us)
{
	wire_entry e[2];
	int dup = 0;
	memset(e, 0, sizeof(e));
	for (int i = 0; i < 2; i++) {
		e[i].metric = "http_req_duration";
		e[i].scenario = i == 0 ? (char *)scen : "other";
		e[i].name = "";
		e[i].method = "GET";
		e[i].status_class = 2;
		e[i].count = i == 0 ? count : 7;
		e[i].h = hist_new();
		hist_record_n(e[i].h, i == 0 ? lat_us : 1, (uint32_t)e[i].count);
	}
	CHECK_EQ_INT(store_add_batch(st, run, agent, seq, interval_ms, e, 2, &dup), HERD_OK);
	hist_free(e[0].h);
	hist_free(e[1].h);
}

static const char closed_plan[] = "target: http://h:1\n"
                                  "scenarios:\n"
                                  "  other:\n"
                                  "    executor: constant-vus\n"
                                  "    duration: 15s\n"
                                  "    flow: [ { get: / } ]\n"
                                  "  ramp:\n"
                                  "    executor: ramping-vus\n"
                                  "    stages:\n"
                                  "      - { duration: 1s, target: 2 }\n"
                                  "      - { duration: 4s, target: 2 }\n"
                                  "      - { duration: 1s, target: 4 }\n"
                                  "      - { duration: 4s, target: 4 }\n"
                                  "      - { duration: 1s, target: 8 }\n"
                                  "      - { duration: 3s, target: 8 }\n"
                                  "    flow: [ { get: / } ]\n";

static void test_closed(store *st)
{
	char err[256];
	plan *p = NULL;
	CHECK_EQ_INT(plan_parse(closed_plan, strlen(closed_plan), "c.yaml", &p, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(store_run_begin(st, "run-c", "c", "c.yaml", closed_plan, 1000, 1000), HERD_OK);
	/* Levels: [3 s, 5 s) at 2 VUs, [8 s, 10 s) at 4, [12.5 s, 14 s) at 8 (only
	 * the interval [13 s, 14 s) is whole inside). Two agents each send half;
	 * the intervals outside the levels carry 999 to be left out. */
	for (int64_t k = 0; k < 14; k++) {
		uint64_t per_agent = 999, lat = 5000;
		if (k == 3 || k == 4)
			per_agent = 10, lat = 100000;
		else if (k == 8 || k == 9)
			per_agent = 18, lat = 110000;
		else if (k == 13)
			per_agent = 30, lat = 130000;
		put(st, "run-c", "a1", (uint64_t)k + 1, k * 1000, "ramp", per_agent, lat);
		put(st, "run-c", "a2", (uint64_t)k + 1, k * 1000, "ramp", per_agent, lat);
	}
	capacity_level *lv = NULL;
	size_t n = 0;
	const char *what = NULL;
	int little = -1;
	const char *windows = NULL;
	CHECK_EQ_INT(capacity_levels(st, "run-c", p, 1000, NULL, &lv, &n, &what, &little, &windows, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_STR(what, "http_reqs");
	CHECK_EQ_INT(little, 0);
	if (n == 3) {
		const double vus[] = { 2, 4, 8 }, x[] = { 20, 36, 60 }, ms[] = { 100, 110, 130 };
		for (size_t i = 0; i < 3; i++) {
			CHECK(lv[i].vus == vus[i]);
			CHECK(lv[i].throughput > x[i] - 1e-9 && lv[i].throughput < x[i] + 1e-9);
			CHECK(lv[i].mean_ms > ms[i] * 0.99 && lv[i].mean_ms < ms[i] * 1.01);
			CHECK(lv[i].errors == 0);
		}
		CHECK_EQ_INT(lv[0].from_ms, 3000);
		CHECK_EQ_INT(lv[2].to_ms, 14000);
	}
	free(lv);
	/* Asked for a scenario that is not ramping: a clear error. */
	CHECK_EQ_INT(capacity_levels(st, "run-c", p, 1000, "other", &lv, &n, &what, &little, &windows, err, sizeof(err)),
	             HERD_ENOTFOUND);
	CHECK_CONTAINS(err, "scenario 'other' is not a ramping-vus, ramping-arrival-rate or breaking-point scenario");
	CHECK_EQ_STR(windows, "the second half of each stage that holds its target");
	plan_free(p);
}

static const char open_plan[] = "target: http://h:1\n"
                                "scenarios:\n"
                                "  rar:\n"
                                "    executor: ramping-arrival-rate\n"
                                "    startRate: 50\n"
                                "    preAllocatedVUs: 10\n"
                                "    stages:\n"
                                "      - { duration: 4s, target: 50 }\n"
                                "      - { duration: 1s, target: 80 }\n"
                                "      - { duration: 4s, target: 80 }\n"
                                "    flow: [ { get: / } ]\n";

static void test_open(store *st)
{
	char err[256];
	plan *p = NULL;
	CHECK_EQ_INT(plan_parse(open_plan, strlen(open_plan), "o.yaml", &p, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(store_run_begin(st, "run-o", "o", "o.yaml", open_plan, 2000, 1000), HERD_OK);
	/* 50/s at 200 ms in [2 s, 4 s): 10 in flight; 80/s at 500 ms in [7 s, 9 s): 40. */
	for (int64_t k = 0; k < 9; k++) {
		uint64_t c = k < 4 ? 50 : 80, lat = k < 4 ? 200000 : 500000;
		put(st, "run-o", "a1", (uint64_t)k + 1, k * 1000, "rar", c, lat);
	}
	capacity_level *lv = NULL;
	size_t n = 0;
	const char *what = NULL;
	int little = 0;
	const char *windows = NULL;
	CHECK_EQ_INT(capacity_levels(st, "run-o", p, 1000, NULL, &lv, &n, &what, &little, &windows, err, sizeof(err)),
	             HERD_ENOTFOUND); /* not asked by name: the default is a ramping-vus scenario */
	CHECK_EQ_INT(capacity_levels(st, "run-o", p, 1000, "rar", &lv, &n, &what, &little, &windows, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(little, 1);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK(lv[0].throughput == 50 && lv[1].throughput == 80);
		CHECK(lv[0].vus > 10 * 0.99 && lv[0].vus < 10 * 1.01);
		CHECK(lv[1].vus > 40 * 0.99 && lv[1].vus < 40 * 1.01);
	}
	free(lv);
	plan_free(p);
}

static const char bp_plan[] = "target: http://h:1\n"
                              "scenarios:\n"
                              "  find:\n"
                              "    executor: breaking-point\n"
                              "    model: %s\n"
                              "    start: 10\n"
                              "    step: 10\n"
                              "    warmup: 1s\n"
                              "    hold: 2s\n"
                              "    max: 100\n"
                              "%s"
                              "    objectives:\n"
                              "      http_req_duration: [\"p(95) < 1000\"]\n"
                              "    flow: [ { get: / } ]\n";

/* A breaking-point run: its levels are the holds the search judged (pass or
 * fail), read from capacity_levels, measured again from the intervals and
 * put in order of load; a generator-limited or interrupted hold is left
 * out. Under the arrival-rate model the concurrency is by Little's law. */
static void test_search(store *st, const char *path, const char *model, const char *run)
{
	char err[256], text[1024], sql[1024];
	plan *p = NULL;
	sqlite3 *db = NULL;
	snprintf(text, sizeof(text), bp_plan, model,
	         strcmp(model, "arrival-rate") == 0 ? "    preAllocatedVUs: 10\n" : "");
	CHECK_EQ_INT(plan_parse(text, strlen(text), "b.yaml", &p, err, sizeof(err)), HERD_OK);
	if (p == NULL) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	CHECK_EQ_INT(store_run_begin(st, run, "b", "b.yaml", text, 3000, 1000), HERD_OK);
	/* Holds (both interval starts): 10 at [2, 3] s, 20 at [6, 7], 30 at [10, 11]
	 * (generator-limited), 15 at [14, 15] (a bisection level, run last but
	 * 40 at [18, 19] was cut short). Outside the holds: 999 a second. */
	for (int64_t k = 0; k < 20; k++) {
		uint64_t c = 999, lat = 5000;
		if (k == 2 || k == 3)
			c = 40, lat = 250000;
		else if (k == 6 || k == 7)
			c = 50, lat = 400000;
		else if (k == 14 || k == 15)
			c = 45, lat = 333000;
		put(st, run, "a1", (uint64_t)k + 1, k * 1000, "find", c, lat);
	}
	CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql),
	         "INSERT INTO capacity_levels VALUES"
	         " ('%s', 0, 'find', 10, 0, 2000, 3000, 10, 10, 40, 1, 2, 3, 0, 0, 5, 'pass', NULL),"
	         " ('%s', 1, 'find', 20, 0, 6000, 7000, 20, 20, 50, 1, 2, 3, 0, 0, 5, 'fail', 'p95'),"
	         " ('%s', 2, 'find', 30, 0, 10000, 11000, 30, 20, 999, 1, 2, 3, 0, 9, 5, 'generator-limited', 'x'),"
	         " ('%s', 3, 'find', 15, 1, 14000, 15000, 15, 15, 45, 1, 2, 3, 0, 0, 5, 'pass', NULL),"
	         " ('%s', 4, 'find', 40, 0, 18000, 19000, 40, 40, 999, 1, 2, 3, 0, 0, 5, 'interrupted', 'a2 lost')",
	         run, run, run, run, run);
	CHECK_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	capacity_level *lv = NULL;
	size_t n = 0;
	const char *what = NULL, *windows = NULL;
	int little = -1;
	CHECK_EQ_INT(capacity_levels(st, run, p, 1000, NULL, &lv, &n, &what, &little, &windows, err, sizeof(err)),
	             HERD_OK);
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_STR(windows, "the holds its breaking-point search judged, pass or fail, in order of load");
	int open = strcmp(model, "arrival-rate") == 0;
	CHECK_EQ_INT(little, open);
	if (n == 3) {
		const double load[] = { 10, 15, 20 }, x[] = { 40, 45, 50 }, ms[] = { 250, 333, 400 };
		for (size_t i = 0; i < 3; i++) {
			CHECK(lv[i].throughput > x[i] - 1e-9 && lv[i].throughput < x[i] + 1e-9);
			CHECK(lv[i].mean_ms > ms[i] * 0.99 && lv[i].mean_ms < ms[i] * 1.01);
			double want = open ? x[i] * ms[i] / 1000.0 : load[i];
			CHECK(lv[i].vus > want * 0.99 && lv[i].vus < want * 1.01);
		}
		CHECK_EQ_INT(lv[1].from_ms, 14000);
		CHECK_EQ_INT(lv[1].to_ms, 16000);
	}
	free(lv);
	plan_free(p);
}

int main(void)
{
	char path[256], err[256];
	store *st = NULL;
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/herd.db", dir);
	CHECK_EQ_INT(store_open(path, &st, err, sizeof(err)), HERD_OK);
	if (st != NULL) {
		test_closed(st);
		test_open(st);
		test_search(st, path, "vus", "run-bv");
		test_search(st, path, "arrival-rate", "run-ba");
		store_close(st);
	}
	tmpdb_unlink(path);
	rmdir(dir);
	return check_done();
}
