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
	CHECK_EQ_INT(capacity_levels(st, "run-c", p, 1000, NULL, &lv, &n, &what, &little, err, sizeof(err)), HERD_OK);
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
	CHECK_EQ_INT(capacity_levels(st, "run-c", p, 1000, "other", &lv, &n, &what, &little, err, sizeof(err)),
	             HERD_ENOTFOUND);
	CHECK_CONTAINS(err, "scenario 'other' is not a ramping-vus or ramping-arrival-rate scenario");
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
	CHECK_EQ_INT(capacity_levels(st, "run-o", p, 1000, NULL, &lv, &n, &what, &little, err, sizeof(err)),
	             HERD_ENOTFOUND); /* not asked by name: the default is a ramping-vus scenario */
	CHECK_EQ_INT(capacity_levels(st, "run-o", p, 1000, "rar", &lv, &n, &what, &little, err, sizeof(err)), HERD_OK);
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
		store_close(st);
	}
	char wal[300];
	unlink(path);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	unlink(wal);
	snprintf(wal, sizeof(wal), "%s-shm", path);
	unlink(wal);
	rmdir(dir);
	return check_done();
}
