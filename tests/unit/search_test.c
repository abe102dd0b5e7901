/*
 * The breaking-point search's state machine (controller/search.c) fed
 * synthetic windows, with no clock: a simulated target answers each
 * interval at the load in force (errors above its capacity, or a
 * generator that drops iterations, runs hot or falls short), and the
 * search is stepped once per interval as the engine does. Checked: the
 * levels run and their order, the refinement down to resolution, the
 * verdicts and their reasons, failuresToStop, the cool-down after a
 * failing level, caps and max, start failing, the objectives it refuses,
 * and the knee/USL over the levels; and the driver both `herd run` and
 * `herd serve` use (searchrun.c) fed synthetic engine ticks and events.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/err.h"
#include "common/plan.h"
#include "controller/outcome.h"
#include "controller/search.h"
#include "controller/searchrun.h"
#include "controller/store.h"
#include "tests/unit/check.h"
#include "tests/unit/tmpdb.h"

static plan *load_plan(const char *extra, const char *objectives)
{
	char yaml[2048], err[512];
	plan *p = NULL;
	snprintf(yaml, sizeof(yaml),
	         "target: http://h:1\n"
	         "scenarios:\n"
	         "  find:\n"
	         "    executor: breaking-point\n"
	         "    model: arrival-rate\n"
	         "    start: 100\n"
	         "    warmup: 1s\n"
	         "    hold: 3s\n"
	         "    preAllocatedVUs: 10\n"
	         "%s"
	         "    objectives:\n"
	         "%s"
	         "    flow:\n"
	         "      - get: /\n",
	         extra, objectives);
	if (plan_parse(yaml, strlen(yaml), "t.yaml", &p, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "plan: %s\n", err);
		return NULL;
	}
	return p;
}

#define FAILED_OBJ "      http_req_failed: [\"rate < 0.01\"]\n"

/* The simulated target and generator. */
typedef struct sim {
	double capacity;        /* above it, half the requests fail */
	double drop_from;       /* at or above it, 5 iterations dropped per interval (0: never) */
	double short_from;      /* at or above it, only 90% of the load starts (0: never) */
	double hot_from;        /* at or above it, the agent runs at 180% (2 cores: 90%) */
	double flaky_once;      /* the first level at this load fails once (0: none) */
	int flaky_done;
	double cap;
	int ticks, sets_to_zero;
	double lat_ms;          /* latency at low load */
	int lost_tick;          /* at this tick an agent is lost (0: never): search_interrupt */
	int64_t lost_since;     /* when it was last heard */
} sim;

static double cores_two(void *arg, const char *agent)
{
	(void)arg;
	(void)agent;
	return 2;
}

/* One interval at load L into w. */
static void feed(win *w, const sim *sm, int64_t at, double L, int flaky)
{
	wire_entry e[6];
	memset(e, 0, sizeof(e));
	uint64_t n = (uint64_t)llround(L);
	double lat = sm->lat_ms * (L > sm->capacity ? 10 : 1 + L / (sm->capacity * 2));
	for (int i = 0; i < 6; i++) {
		e[i].scenario = (char *)"find";
		e[i].name = (char *)"";
		e[i].method = (char *)"";
	}
	e[0].metric = (char *)"http_req_duration";
	e[0].count = n;
	e[0].h = hist_new();
	hist_record_n(e[0].h, (uint64_t)(lat * 1000), (uint32_t)(n > 0 ? n : 0));
	if (L > sm->capacity || flaky)
		e[0].errors[ERRK_HTTP5XX] = n / 2;
	e[1].metric = (char *)"iterations";
	e[1].count = n;
	e[2].metric = (char *)"iterations_started";
	e[2].count = sm->short_from > 0 && L >= sm->short_from ? (uint64_t)(0.9 * L) : n;
	e[3].metric = (char *)"offered_iterations";
	e[3].count = n;
	e[4].metric = (char *)"dropped_iterations";
	e[4].count = sm->drop_from > 0 && L >= sm->drop_from ? 5 : 0;
	e[5].metric = (char *)"vus";
	e[5].gauge = L > 0 ? 3 : 0;
	CHECK(win_add(w, "a1", at, e, 6) == HERD_OK);
	win_set_cpu(w, "a1", at, sm->hot_from > 0 && L >= sm->hot_from ? 180 : 40);
	hist_free(e[0].h);
}

/* Runs the search to its end; returns the search (search_free). */
static search *run_search(const plan *p, sim *sm)
{
	search *s = NULL;
	win *w = NULL;
	char err[256];
	search_cfg cfg = { .s = &p->scenarios[0], .interval_ms = 1000, .cap = sm->cap, .cap_what = "maxRate 180/s",
		           .cores_of = cores_two };
	CHECK(win_new(120, 1000, &w) == HERD_OK);
	if (search_new(&cfg, &s, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "search_new: %s\n", err);
		win_free(w);
		return NULL;
	}
	double load = p->scenarios[0].bp.start; /* the agents start at it */
	int flaky_now = 0;
	for (int k = 0; k < 2000; k++) {
		if (k > 0)
			feed(w, sm, (int64_t)(k - 1) * 1000, load, flaky_now);
		search_action act;
		double v = 0;
		long lvl;
		CHECK(search_step(s, w, (int64_t)k * 1000 + 10, (int64_t)(k - 1) * 1000, &act, &v, &lvl) == HERD_OK);
		sm->ticks = k;
		if (sm->lost_tick > 0 && k == sm->lost_tick) {
			/* As herd run does: the search ends there, and so does the load. */
			search_interrupt(s, sm->lost_since, "agent a2 lost: nothing heard for 3.0 s");
			search_interrupt(s, 0, "a second loss changes nothing");
			break;
		}
		if (act == SEARCH_END)
			break;
		if (act == SEARCH_SET) {
			load = v;
			sm->sets_to_zero += v == 0;
			flaky_now = sm->flaky_once > 0 && v == sm->flaky_once && !sm->flaky_done;
			if (flaky_now)
				sm->flaky_done = 1;
		}
	}
	win_free(w);
	return s;
}

static void test_found_by_bisection(void)
{
	plan *p = load_plan("    step: 50\n    max: 1000\n    refine: { resolution: 2% }\n", FAILED_OBJ);
	sim sm = { .capacity = 205, .lat_ms = 10 };
	search *s = run_search(p, &sm);
	size_t n;
	const search_level *l = search_levels(s, &n);
	const search_result *r = search_result_of(s);
	/* Up: 100, 150, 200 pass, 250 fails; then 225, 212, 206 fail and 203
	 * passes: 206 - 203 is within 2% of 203. */
	double want[] = { 100, 150, 200, 250, 225, 212, 206, 203 };
	CHECK_EQ_INT(n, 8);
	for (size_t i = 0; i < n && i < 8; i++) {
		CHECK(l[i].load == want[i]);
		CHECK_EQ_INT(l[i].refine, i >= 4);
		CHECK_EQ_INT(l[i].verdict, want[i] > 205 ? SEARCH_FAIL : SEARCH_PASS);
		/* The hold's 3 whole intervals, after 1 s of warmup. */
		CHECK_EQ_INT(l[i].to_ms - l[i].from_ms, 2000);
	}
	CHECK(l[0].from_ms == 1000);
	CHECK(l[3].achieved > 249 && l[3].achieved < 251);
	CHECK(strstr(l[3].why, "http_req_failed: rate < 0.01 (0.5") != NULL);
	CHECK_EQ_INT(r->outcome, SEARCH_FOUND);
	CHECK(r->sustainable == 203);
	CHECK(r->first_fail == 206);
	CHECK(strstr(r->broke, "http_req_failed") != NULL);
	CHECK(fabs(r->sustainable_rps - 203) < 1);
	/* Each failing level was followed by a cool-down at load 0. */
	CHECK_EQ_INT(sm.sets_to_zero, 4);
	CHECK(fabs(search_current(s)) == 0);

	search_fit f;
	search_fit_levels(s, &f);
	CHECK_EQ_INT(f.points, 8);
	CHECK(f.little == 1);
	CHECK(f.has_knee);
	/* The knee is where latency jumps: at the highest passing throughput. */
	CHECK(f.knee_rps >= 200 && f.knee_rps <= 206);
	search_free(s);
	plan_free(p);
}

static void test_failures_to_stop(void)
{
	/* One failing level (a flaky 150) ends the climb with failuresToStop 1... */
	plan *p = load_plan("    step: 50\n    max: 400\n", FAILED_OBJ);
	sim sm = { .capacity = 305, .lat_ms = 5, .flaky_once = 150 };
	search *s = run_search(p, &sm);
	const search_result *r = search_result_of(s);
	CHECK_EQ_INT(r->outcome, SEARCH_FOUND);
	CHECK(r->sustainable < 150);
	search_free(s);
	plan_free(p);
	/* ... not with 2: 200 passes after it and the climb goes on to 350. */
	p = load_plan("    step: 50\n    max: 400\n    failuresToStop: 2\n", FAILED_OBJ);
	sm = (sim){ .capacity = 305, .lat_ms = 5, .flaky_once = 150 };
	s = run_search(p, &sm);
	r = search_result_of(s);
	size_t n;
	const search_level *l = search_levels(s, &n);
	CHECK(n >= 6);
	CHECK(l[1].load == 150 && l[1].verdict == SEARCH_FAIL);
	CHECK(l[2].load == 200 && l[2].verdict == SEARCH_PASS);
	CHECK_EQ_INT(r->outcome, SEARCH_FOUND);
	/* 350 and 400 fail (two in a row); refined between 300 and 350 to 5%. */
	CHECK(r->sustainable >= 300 && r->sustainable <= 305);
	CHECK(r->first_fail > 305 && r->first_fail <= 350);
	search_free(s);
	plan_free(p);
}

static void test_generator_limited(void)
{
	/* Dropped iterations while the objectives hold: a lower bound. */
	plan *p = load_plan("    step: 50\n    max: 1000\n", FAILED_OBJ);
	sim sm = { .capacity = 900, .lat_ms = 5, .drop_from = 200 };
	search *s = run_search(p, &sm);
	size_t n;
	const search_level *l = search_levels(s, &n);
	const search_result *r = search_result_of(s);
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_INT(l[2].verdict, SEARCH_LIMITED);
	CHECK(strstr(l[2].why, "15 iterations dropped") != NULL);
	CHECK_EQ_INT(r->outcome, SEARCH_LOWER_BOUND);
	CHECK(r->sustainable == 150);
	CHECK(strstr(r->reason, "generator-limited at 200") != NULL);
	search_free(s);

	/* Achieved under 97% of offered. */
	sm = (sim){ .capacity = 900, .lat_ms = 5, .short_from = 250 };
	s = run_search(p, &sm);
	l = search_levels(s, &n);
	CHECK_EQ_INT(n, 4);
	CHECK_EQ_INT(l[3].verdict, SEARCH_LIMITED);
	CHECK(strstr(l[3].why, "achieved 225 of 250") != NULL);
	CHECK_EQ_INT(search_result_of(s)->outcome, SEARCH_LOWER_BOUND);
	search_free(s);

	/* A hot agent (90% of its 2 cores) even where an objective failed:
	 * its measurements say nothing of the target. */
	sm = (sim){ .capacity = 180, .lat_ms = 5, .hot_from = 200 };
	s = run_search(p, &sm);
	l = search_levels(s, &n);
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_INT(l[2].verdict, SEARCH_LIMITED);
	CHECK(fabs(l[2].max_cpu - 90) < 0.01);
	CHECK(strstr(l[2].why, "90% CPU") != NULL);
	CHECK_EQ_INT(search_result_of(s)->outcome, SEARCH_LOWER_BOUND);
	search_free(s);
	plan_free(p);
}

static void test_ends(void)
{
	/* start fails */
	plan *p = load_plan("    step: 50\n    max: 1000\n", FAILED_OBJ);
	sim sm = { .capacity = 60, .lat_ms = 5 };
	search *s = run_search(p, &sm);
	size_t n;
	search_levels(s, &n);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(search_result_of(s)->outcome, SEARCH_START_FAILS);
	CHECK(search_result_of(s)->first_fail == 100);
	char why[700];
	CHECK_EQ_INT(search_exit_code(s, EXIT_OK, why, sizeof(why)), EXIT_THRESHOLDS);
	CHECK(strstr(why, "no sustainable load: ") == why);
	search_free(s);
	plan_free(p);

	/* max reached without a failure */
	p = load_plan("    factor: 2\n    max: 300\n", FAILED_OBJ);
	sm = (sim){ .capacity = 5000, .lat_ms = 5 };
	s = run_search(p, &sm);
	const search_level *l = search_levels(s, &n);
	CHECK_EQ_INT(n, 3);
	CHECK(n == 3 && l[0].load == 100 && l[1].load == 200 && l[2].load == 300);
	CHECK_EQ_INT(search_result_of(s)->outcome, SEARCH_LOWER_BOUND);
	CHECK(strstr(search_result_of(s)->reason, "up to max (300)") != NULL);
	CHECK(search_result_of(s)->sustainable == 300);
	CHECK_EQ_INT(search_exit_code(s, EXIT_OK, why, sizeof(why)), EXIT_LOWER_BOUND);
	CHECK(strstr(why, "only a lower bound: ") == why);
	search_free(s);

	/* a cap below max: levels above it never run */
	sm = (sim){ .capacity = 5000, .lat_ms = 5, .cap = 250 };
	s = run_search(p, &sm);
	search_levels(s, &n);
	CHECK_EQ_INT(n, 2);
	CHECK(strstr(search_result_of(s)->reason, "maxRate 180/s") != NULL);
	search_free(s);
	/* a cap below start: refused */
	char err[256];
	search_cfg cfg = { .s = &p->scenarios[0], .cap = 50, .cap_what = "maxRate 50/s" };
	CHECK(search_new(&cfg, &s, err, sizeof(err)) == HERD_EINVAL);
	CHECK(strstr(err, "above maxRate 50/s") != NULL);
	plan_free(p);
}

static void test_objectives(void)
{
	/* A p95 objective on a step, judged on that step's window. */
	plan *p = load_plan("    step: 50\n    max: 400\n", "      http_req_duration: [\"p(95) < 30\"]\n");
	sim sm = { .capacity = 220, .lat_ms = 10 };
	search *s = run_search(p, &sm);
	const search_result *r = search_result_of(s);
	CHECK_EQ_INT(r->outcome, SEARCH_FOUND);
	CHECK(r->sustainable >= 209 && r->sustainable <= 220);
	CHECK(strstr(r->broke, "p(95) < 30 (100") != NULL);
	search_free(s);
	plan_free(p);

	char err[256];
	size_t idx = 99;
	p = load_plan("    step: 50\n    max: 400\n",
	              "      http_req_failed: [\"rate < 0.1\"]\n      iteration_duration: [\"p(95) < 30\"]\n");
	CHECK(p != NULL && search_check(&p->scenarios[0], &idx, err, sizeof(err)) == -1);
	CHECK_EQ_INT(idx, 1);
	CHECK(strstr(err, "'iteration_duration' is not judged per level") != NULL);
	plan_free(p);
	p = load_plan("    step: 50\n    max: 400\n", "      \"http_req_duration{status:200}\": [\"p(95) < 30\"]\n");
	CHECK(p != NULL && search_check(&p->scenarios[0], &idx, err, sizeof(err)) == -1);
	CHECK(strstr(err, "tag 'status'") != NULL);
	plan_free(p);
	p = load_plan("    step: 50\n    max: 400\n", "      http_reqs: [\"p(95) < 30\"]\n");
	CHECK(p == NULL || search_check(&p->scenarios[0], &idx, err, sizeof(err)) == -1);
	plan_free(p);
}

/* The closed model with WebSocket objectives: VUs are the levels, the
 * achieved load is the VU gauge, p95 of ws_msg_rtt and the session failure
 * rate are judged, and the table's latency is the round trip's. */
static void test_vus_model_ws(void)
{
	char yaml[1024], err[512];
	plan *p = NULL;
	snprintf(yaml, sizeof(yaml),
	         "target: http://h:1\n"
	         "scenarios:\n"
	         "  find:\n"
	         "    executor: breaking-point\n"
	         "    model: vus\n"
	         "    start: 2\n"
	         "    step: 2\n"
	         "    hold: 2s\n"
	         "    max: 12\n"
	         "    objectives:\n"
	         "      ws_msg_rtt: [\"p(95) < 50\"]\n"
	         "      ws_session_failed: [\"rate < 0.1\"]\n"
	         "    flow:\n"
	         "      - ws: ws://h:1/chat\n"
	         "        session:\n"
	         "          - send: hi\n");
	CHECK_EQ_INT(plan_parse(yaml, strlen(yaml), "t.yaml", &p, err, sizeof(err)), HERD_OK);
	if (p == NULL) {
		fprintf(stderr, "plan: %s\n", err);
		return;
	}
	search *s = NULL;
	win *w = NULL;
	search_cfg cfg = { .s = &p->scenarios[0] };
	CHECK(search_check(&p->scenarios[0], NULL, err, sizeof(err)) == 0);
	CHECK_EQ_INT(search_new(&cfg, &s, err, sizeof(err)), HERD_OK);
	CHECK(win_new(120, 1000, &w) == HERD_OK);
	double load = 2;
	for (int k = 0; k < 500 && s != NULL; k++) {
		if (k > 0) {
			/* 6 VUs are served in 10 ms; above, round trips take 80 ms. */
			wire_entry e[4];
			memset(e, 0, sizeof(e));
			for (int i = 0; i < 4; i++) {
				e[i].scenario = (char *)"find";
				e[i].name = (char *)"";
				e[i].method = (char *)"";
			}
			e[0].metric = (char *)"ws_msg_rtt";
			e[0].count = (uint64_t)load * 10;
			e[0].h = hist_new();
			hist_record_n(e[0].h, load > 6 ? 80000 : 10000, (uint32_t)load * 10);
			e[1].metric = (char *)"ws_sessions";
			e[1].count = (uint64_t)load;
			e[2].metric = (char *)"vus";
			e[2].gauge = (int64_t)load;
			e[3].metric = (char *)"iterations";
			e[3].count = (uint64_t)load;
			CHECK(win_add(w, "a1", (int64_t)(k - 1) * 1000, e, 4) == HERD_OK);
			hist_free(e[0].h);
		}
		search_action act;
		double v = 0;
		CHECK(search_step(s, w, (int64_t)k * 1000 + 10, (int64_t)(k - 1) * 1000, &act, &v, NULL) == HERD_OK);
		if (act == SEARCH_END)
			break;
		if (act == SEARCH_SET)
			load = v;
	}
	size_t n;
	const search_level *l = search_levels(s, &n);
	const search_result *r = search_result_of(s);
	/* 2, 4, 6 pass, 8 fails, 7 fails: 6 VUs within 5% of 7 is not, but no
	 * whole load lies between them. */
	CHECK_EQ_INT(n, 5);
	CHECK(n == 5 && l[3].load == 8 && l[3].verdict == SEARCH_FAIL && l[4].load == 7 && l[4].refine);
	CHECK(n == 5 && l[2].achieved == 6 && fabs(l[2].p95_ms - 10) < 0.5);
	CHECK(n == 5 && strstr(l[3].why, "ws_msg_rtt: p(95) < 50 (80") != NULL);
	CHECK_EQ_INT(r->outcome, SEARCH_FOUND);
	CHECK(r->sustainable == 6 && r->first_fail == 7);
	search_fit f;
	search_fit_levels(s, &f);
	/* Without HTTP, throughput is iterations/s: the closed model's
	 * concurrency is the VUs. */
	CHECK(f.little == 0 && f.points == 5);
	search_free(s);
	win_free(w);
	plan_free(p);
}

/* An agent lost mid-search: the levels judged before it was last heard
 * keep their verdicts, those that ran after are re-marked, the level in
 * flight is named, and no capacity is reported. */
static void test_interrupted(void)
{
	plan *p = load_plan("    step: 50\n    max: 1000\n    refine: { resolution: 2% }\n", FAILED_OBJ);
	/* Levels: 100 holds 1..3 s (judged at 5 s), 150 holds 7..9 s (at 11 s),
	 * 200 holds 13..15 s: lost at 14 s, last heard at 13.5 s. */
	sim sm = { .capacity = 205, .lat_ms = 10, .lost_tick = 14, .lost_since = 13500 };
	search *s = run_search(p, &sm);
	size_t n;
	const search_level *l = search_levels(s, &n);
	const search_result *r = search_result_of(s);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(l[0].verdict, SEARCH_PASS);
	CHECK_EQ_INT(l[1].verdict, SEARCH_PASS);
	CHECK_EQ_INT(r->outcome, SEARCH_INTERRUPTED);
	CHECK(strcmp(search_outcome_name(r->outcome), "interrupted") == 0);
	CHECK(r->sustainable == 0 && r->first_fail == 0 && r->broke[0] == '\0');
	CHECK(strstr(r->reason, "level 3 (200 iterations/s) was interrupted: agent a2 lost: nothing heard for 3.0 s; "
	                        "the levels before it are kept") != NULL);
	/* Never a pass, even when the engine did not see the run degraded;
	 * a stronger code stands. */
	char why[700] = "";
	CHECK_EQ_INT(search_exit_code(s, EXIT_OK, why, sizeof(why)), EXIT_DEGRADED);
	CHECK(strncmp(why, "degraded: level 3 (200 iterations/s) was interrupted", 52) == 0);
	why[0] = '\0';
	CHECK_EQ_INT(search_exit_code(s, EXIT_THRESHOLDS, why, sizeof(why)), EXIT_THRESHOLDS);
	CHECK_EQ_INT(search_exit_code(s, EXIT_ABORTED, why, sizeof(why)), EXIT_ABORTED);
	CHECK_EQ_INT(search_exit_code(s, EXIT_SETUP, why, sizeof(why)), EXIT_SETUP);
	CHECK(why[0] == '\0');
	CHECK_EQ_INT(search_exit_code(NULL, EXIT_OK, why, sizeof(why)), EXIT_OK);
	search_free(s);

	/* Last heard at 8.5 s: level 2's hold (7..9 s) lacks its share. */
	sm = (sim){ .capacity = 205, .lat_ms = 10, .lost_tick = 14, .lost_since = 8500 };
	s = run_search(p, &sm);
	l = search_levels(s, &n);
	r = search_result_of(s);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(l[0].verdict, SEARCH_PASS);
	CHECK_EQ_INT(l[1].verdict, SEARCH_CUT);
	CHECK(strcmp(search_verdict_name(l[1].verdict), "interrupted") == 0);
	CHECK(strcmp(l[1].why, "agent a2 lost: nothing heard for 3.0 s") == 0);
	CHECK(strstr(r->reason, "level 3 (200 iterations/s) was interrupted") != NULL);
	CHECK(strstr(r->reason, "level 2 ran after it was last heard and is not judged") != NULL);
	search_free(s);

	/* Lost after the search ended on whole data: its answer stands. */
	sm = (sim){ .capacity = 205, .lat_ms = 10 };
	s = run_search(p, &sm);
	l = search_levels(s, &n);
	search_interrupt(s, l[n - 1].to_ms + 1000, "agent a2 lost: nothing heard for 3.0 s");
	r = search_result_of(s);
	CHECK_EQ_INT(r->outcome, SEARCH_FOUND);
	CHECK(r->sustainable == 203);
	CHECK_EQ_INT(search_exit_code(s, EXIT_OK, why, sizeof(why)), EXIT_OK);
	search_free(s);
	plan_free(p);
}

/* Runs the driver as the engine would call it, with synthetic ticks and
 * events: ASSIGNED first (the agents' workers), a tick per interval, and
 * at tick ev_tick the event ev (NULL: none). Returns what the driver asked
 * after the event and one more tick; the driver is left in *out. */
static search_action drive_srun(plan *p, sim *sm, int ev_tick, eng_event *ev, int *ended, srun **out)
{
	srun *r = NULL;
	win *w = NULL;
	char err[256];
	search_action after = SEARCH_WAIT;
	agent_info ai[2];
	double wts[2] = { 1, 1 };
	memset(ai, 0, sizeof(ai));
	snprintf(ai[0].id, sizeof(ai[0].id), "a1");
	snprintf(ai[0].name, sizeof(ai[0].name), "one");
	ai[0].cores = 4;
	snprintf(ai[1].id, sizeof(ai[1].id), "a2");
	snprintf(ai[1].name, sizeof(ai[1].name), "two");
	ai[1].cores = 2;
	*ended = 0;
	CHECK(srun_new(p, &r, err, sizeof(err)) == HERD_OK && r != NULL);
	*out = r;
	if (r == NULL)
		return SEARCH_WAIT;
	CHECK(win_new(120, 1000, &w) == HERD_OK);
	eng_event as = { .type = ENG_EV_ASSIGNED, .agents = ai, .weights = wts, .n = 2, .text = "" };
	CHECK_EQ_INT(srun_event(r, &as), 0);
	double load = p->scenarios[0].bp.start;
	for (int k = 0; k < 2000; k++) {
		if (k > 0)
			feed(w, sm, (int64_t)(k - 1) * 1000, load, 0);
		eng_tick t = { .elapsed_ms = (int64_t)k * 1000 + 10, .interval_ms = (int64_t)(k - 1) * 1000, .w = w };
		CHECK(srun_tick(r, &t, NULL) == HERD_OK);
		double v = 0;
		search_action act = srun_take(r, &v);
		if (ev != NULL && k == ev_tick) {
			ev->agent = &ai[1];
			*ended = srun_event(r, ev);
			/* A second event about the same loss changes nothing. */
			CHECK_EQ_INT(srun_event(r, ev), 0);
			/* The engine ticks once more before the load is ended: the
			 * end asked is not undone. */
			feed(w, sm, (int64_t)k * 1000, load, 0);
			t.elapsed_ms += 1000;
			t.interval_ms += 1000;
			CHECK(srun_tick(r, &t, NULL) == HERD_OK);
			after = srun_take(r, &v);
			break;
		}
		if (act == SEARCH_END) {
			after = act;
			break;
		}
		if (act == SEARCH_SET)
			load = v;
	}
	/* The run drains: an interrupted search stays interrupted. */
	eng_event dr = { .type = ENG_EV_STATE, .state = ENG_DRAINING, .text = "" };
	CHECK_EQ_INT(srun_event(r, &dr), 0);
	win_free(w);
	return after;
}

/* The store keeps a level cut short as 'interrupted' (schema 6), with its
 * why, beside the level that passed. */
static void check_stored_cut(const search *se)
{
	char dir[] = "/tmp/herd-search-XXXXXX", path[64], err[256];
	store *st = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;

	if (mkdtemp(dir) == NULL) {
		CHECK(0);
		return;
	}
	snprintf(path, sizeof(path), "%s/s.db", dir);
	CHECK_EQ_INT(store_open(path, &st, err, sizeof(err)), HERD_OK);
	if (st == NULL)
		goto out;
	CHECK_EQ_INT(store_run_begin(st, "cut", "cut", NULL, NULL, 1795914723000, 1000), HERD_OK);
	CHECK_EQ_INT(store_add_capacity(st, "cut", se), HERD_OK);
	store_close(st);
	CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_EQ_INT(sqlite3_prepare_v2(db, "SELECT group_concat(verdict || ':' || coalesce(why, ''), '|') FROM"
	                                    " (SELECT verdict, why FROM capacity_levels WHERE run_id = 'cut' ORDER BY idx)",
	                                -1, &q, NULL),
	             SQLITE_OK);
	CHECK_EQ_INT(sqlite3_step(q), SQLITE_ROW);
	const char *got = (const char *)sqlite3_column_text(q, 0);
	CHECK(got != NULL && strcmp(got, "pass:|interrupted:agent two stopped: SIGTERM") == 0);
	if (got != NULL && strcmp(got, "pass:|interrupted:agent two stopped: SIGTERM") != 0)
		fprintf(stderr, "stored levels: %s\n", got);
	sqlite3_finalize(q);
	sqlite3_close(db);
out:
	tmpdb_unlink(path);
	rmdir(dir);
}

/* The shared driver: an agent lost or stopping mid-search interrupts it
 * and asks for the load's end; the agents' workers set the CPU limit; the
 * plan's maxRate caps it. */
static void test_driver(void)
{
	plan *p = load_plan("    step: 50\n    max: 1000\n    refine: { resolution: 2% }\n", FAILED_OBJ);
	/* a1 runs at 180% from 150/s: on its 4 workers that is 45%, no limit. */
	sim sm = { .capacity = 205, .lat_ms = 10, .hot_from = 150 };
	eng_event lost = { .type = ENG_EV_AGENT_LOST, .ms = 3000, .since_ms = 13500, .text = "" };
	srun *r = NULL;
	int ended = 0;
	CHECK_EQ_INT(drive_srun(p, &sm, 14, &lost, &ended, &r), SEARCH_END);
	CHECK_EQ_INT(ended, 1);
	size_t n;
	const search_level *l = search_levels(srun_search(r), &n);
	const search_result *res = search_result_of(srun_search(r));
	CHECK_EQ_INT(n, 2);
	CHECK(n == 2 && l[0].verdict == SEARCH_PASS && l[1].verdict == SEARCH_PASS);
	CHECK_EQ_INT(res->outcome, SEARCH_INTERRUPTED);
	CHECK(res->sustainable == 0);
	CHECK(strstr(res->reason, "level 3 (200 iterations/s) was interrupted: agent two lost: nothing heard for 3.0 s")
	      != NULL);
	srun_free(r);

	/* An agent stopping on its own, last heard during level 2's hold. */
	eng_event stopped = { .type = ENG_EV_AGENT_STOPPED, .since_ms = 8500, .text = "stopped: SIGTERM" };
	CHECK_EQ_INT(drive_srun(p, &sm, 14, &stopped, &ended, &r), SEARCH_END);
	CHECK_EQ_INT(ended, 1);
	l = search_levels(srun_search(r), &n);
	res = search_result_of(srun_search(r));
	CHECK(n == 2 && l[1].verdict == SEARCH_CUT);
	CHECK(n == 2 && strcmp(l[1].why, "agent two stopped: SIGTERM") == 0);
	CHECK_EQ_INT(res->outcome, SEARCH_INTERRUPTED);
	check_stored_cut(srun_search(r));
	srun_free(r);

	/* No event: the search ends by itself and finds 203. */
	CHECK_EQ_INT(drive_srun(p, &sm, 0, NULL, &ended, &r), SEARCH_END);
	res = search_result_of(srun_search(r));
	CHECK_EQ_INT(res->outcome, SEARCH_FOUND);
	CHECK(res->sustainable == 203);
	srun_free(r);

	/* The plan's maxRate caps the search (one request an iteration). */
	p->max_rate = 160;
	CHECK_EQ_INT(drive_srun(p, &sm, 0, NULL, &ended, &r), SEARCH_END);
	res = search_result_of(srun_search(r));
	CHECK_EQ_INT(res->outcome, SEARCH_LOWER_BOUND);
	CHECK(strstr(res->reason, "maxRate 160/s") != NULL);
	srun_free(r);
	plan_free(p);

	/* A plan without a breaking-point scenario has no driver. */
	char err[256];
	const char *y = "target: http://h:1\nscenarios:\n  s:\n    executor: constant-vus\n    vus: 1\n"
	                "    duration: 1s\n    flow:\n      - get: /\n";
	CHECK(plan_parse(y, strlen(y), "t.yaml", &p, err, sizeof(err)) == HERD_OK);
	CHECK(srun_new(p, &r, err, sizeof(err)) == HERD_OK && r == NULL);
	plan_free(p);
}

int main(void)
{
	test_driver();
	test_interrupted();
	test_found_by_bisection();
	test_failures_to_stop();
	test_generator_limited();
	test_ends();
	test_objectives();
	test_vus_model_ws();
	return check_done();
}
