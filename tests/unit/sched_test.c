/*
 * Executor arithmetic (agent/sched): shared-iterations split with the VUs,
 * and the arrival-rate profile: arrivals at a moment, the moment of an
 * arrival, checked against hand-worked values, against numeric integration
 * of the rate, across zero-rate stages and without drift over long runs.
 */
#include <math.h>
#include <stdlib.h>

#include "agent/sched.h"
#include "common/err.h"
#include "common/split.h"
#include "tests/unit/check.h"

#define MS  1000000LL
#define SEC 1000000000LL

/* |a - b| <= tol, printing both sides when not. */
#define CHECK_NEAR(a, b, tol)                                                                                \
	do {                                                                                                 \
		double a_ = (double)(a), b_ = (double)(b);                                                   \
		check_total_++;                                                                              \
		if (!(fabs(a_ - b_) <= (tol))) {                                                             \
			check_failed_++;                                                                     \
			fprintf(stderr, "%s:%d: %s ~ %s: %.9g vs %.9g\n", __FILE__, __LINE__, #a, #b, a_,    \
			        b_);                                                                         \
		}                                                                                            \
	} while (0)

static void test_split_by_counts(void)
{
	int64_t c3[] = {3, 0, 2};
	CHECK_EQ_INT(split_int_by_counts(10, c3, 3, 0), 6);
	CHECK_EQ_INT(split_int_by_counts(10, c3, 3, 1), 0);
	CHECK_EQ_INT(split_int_by_counts(10, c3, 3, 2), 4);
	int64_t c0[] = {0, 0};
	CHECK_EQ_INT(split_int_by_counts(10, c0, 2, 0), 0);
	CHECK_EQ_INT(split_int_by_counts(10, c3, 3, 7), 0);
}

/* Every worker's iterations add up to the total, each worker with VUs has at
 * least one iteration per VU, and a worker without VUs has none. */
static void check_iters(const double *weights, size_t nagents, size_t nworkers, int64_t vus, int64_t iters)
{
	int64_t sum = 0, vsum = 0;
	int ok = 1;
	for (size_t a = 0; a < nagents; a++)
		for (size_t wk = 0; wk < nworkers; wk++) {
			sched_place p = {.weights = weights,
			                 .nagents = nagents,
			                 .agent = a,
			                 .nworkers = nworkers,
			                 .worker = wk};
			int64_t v = sched_share_int(&p, vus), n = sched_share_iters(&p, vus, iters);
			ok &= v == 0 ? n == 0 : n >= v;
			sum += n;
			vsum += v;
		}
	CHECK(ok);
	CHECK_EQ_INT(vsum, vus);
	CHECK_EQ_INT(sum, iters);
}

static void test_share_iters(void)
{
	/* The integration test's case: 5 VUs x 137 iterations, 2 agents x 2 workers. */
	double two[] = {2, 2};
	int64_t got[4];
	for (size_t a = 0, i = 0; a < 2; a++)
		for (size_t wk = 0; wk < 2; wk++, i++) {
			sched_place p = {
			    .weights = two, .nagents = 2, .agent = a, .nworkers = 2, .worker = wk};
			got[i] = sched_share_iters(&p, 5, 137);
		}
	/* VUs 2,1 | 1,1: agent 0 has 3/5 of 137 = 82.2 -> 82, agent 1 55; then by VUs. */
	CHECK_EQ_INT(got[0], 55);
	CHECK_EQ_INT(got[1], 27);
	CHECK_EQ_INT(got[2], 28);
	CHECK_EQ_INT(got[3], 27);
	check_iters(two, 2, 2, 5, 137);

	/* More workers than VUs: the VU-less workers get nothing. */
	double one[] = {1};
	check_iters(one, 1, 8, 3, 10);
	sched_place p = {.weights = one, .nagents = 1, .agent = 0, .nworkers = 8, .worker = 5};
	CHECK_EQ_INT(sched_share_iters(&p, 3, 10), 0);

	double ws[][3] = {{1, 1, 1}, {4, 1, 2}, {0.5, 3, 0.25}};
	for (size_t s = 0; s < 3; s++)
		for (size_t nw = 1; nw <= 4; nw++)
			for (int64_t vus = 1; vus <= 12; vus++)
				for (int64_t it = vus; it <= vus + 40; it += 7)
					check_iters(ws[s], 3, nw, vus, it);
}

/* The integration test's profile: 0 -> 50/s over 4 s, 50/s for 4 s, 50 -> 100/s over 4 s. */
static const plan_stage ramp3[] = {{4000, 50, NULL}, {4000, 50, NULL}, {4000, 100, NULL}};

static void test_rate_hand_worked(void)
{
	sched_rate r;
	CHECK_EQ_INT(sched_rate_init(&r, 0, ramp3, 3, 1000, 1.0), HERD_OK);
	CHECK_NEAR(sched_rate_arrivals(&r, 0), 0, 0);
	CHECK_NEAR(sched_rate_arrivals(&r, 2 * SEC), 25, 1e-9); /* 6.25 t^2 */
	CHECK_NEAR(sched_rate_arrivals(&r, 4 * SEC), 100, 1e-9);
	CHECK_NEAR(sched_rate_arrivals(&r, 8 * SEC), 300, 1e-9);
	CHECK_NEAR(sched_rate_arrivals(&r, 10 * SEC), 425, 1e-9);
	CHECK_NEAR(sched_rate_arrivals(&r, 12 * SEC), 600, 1e-9);
	CHECK_NEAR(sched_rate_arrivals(&r, 99 * SEC), 600, 1e-9);
	CHECK_NEAR(sched_rate_peak(&r), 100, 0);

	CHECK_EQ_INT(sched_rate_due(&r, 0), 0);         /* a ramp from 0 starts at once */
	CHECK_NEAR(sched_rate_due(&r, 1), 400 * MS, 1); /* sqrt(1 / 6.25) s */
	CHECK_NEAR(sched_rate_due(&r, 25), 2 * SEC, 1);
	CHECK_NEAR(sched_rate_due(&r, 100), 4 * SEC, 1);
	CHECK_NEAR(sched_rate_due(&r, 125), 4500 * MS, 1);
	CHECK_NEAR(sched_rate_due(&r, 300), 8 * SEC, 1);
	CHECK_NEAR(sched_rate_due(&r, 425), 10 * SEC, 1);
	CHECK(sched_rate_due(&r, 599.999) < 12 * SEC);
	CHECK_EQ_INT(sched_rate_due(&r, 600), INT64_MAX); /* due at the end: not in the run */
	CHECK_EQ_INT(sched_rate_due(&r, 1e12), INT64_MAX);
	sched_rate_fini(&r);

	/* Per minute, a third of it: 0 -> 60/min over 6 s is 0 -> 1/3 per second for this worker. */
	plan_stage perm[] = {{6000, 60, NULL}};
	CHECK_EQ_INT(sched_rate_init(&r, 0, perm, 1, 60000, 1.0 / 3), HERD_OK);
	CHECK_NEAR(sched_rate_arrivals(&r, 6 * SEC), 1, 1e-12);
	CHECK_NEAR(sched_rate_due(&r, 0.25), 3 * SEC, 1);
	sched_rate_fini(&r);

	CHECK_EQ_INT(sched_rate_init(&r, 1, perm, 1, 0, 1.0), HERD_EINVAL);
	CHECK_EQ_INT(sched_rate_init(&r, 1, perm, 1, 1000, -1.0), HERD_EINVAL);
}

/* Zero-rate stages: nothing is due while the rate is 0, at the start or between ramps. */
static void test_rate_zero_stages(void)
{
	plan_stage st[] = {{2000, 0, NULL}, {2000, 10, NULL}, {1000, 10, NULL}, {2000, 0, NULL},
	                   {2000, 0, NULL}, {0, 50, NULL},    {1000, 50, NULL}, {1000, 0, NULL}};
	sched_rate r;
	CHECK_EQ_INT(sched_rate_init(&r, 0, st, 8, 1000, 1.0), HERD_OK);
	CHECK_NEAR(sched_rate_arrivals(&r, 2 * SEC), 0, 0);
	CHECK_EQ_INT(sched_rate_due(&r, 0), 2 * SEC);               /* not at 0: the rate is 0 there */
	CHECK_NEAR(sched_rate_due(&r, 5), 2 * SEC + 1414213562, 2); /* 2.5 t^2 = 5 */
	CHECK_NEAR(sched_rate_due(&r, 10), 4 * SEC, 1);
	CHECK_NEAR(sched_rate_due(&r, 20), 5 * SEC, 1);
	/* The ramp down, 10 -> 0 over 2 s: 20 + 10 t - 2.5 t^2 = 25 at t = 2 - sqrt(2). */
	CHECK_NEAR(sched_rate_due(&r, 25), 5 * SEC + 585786438, 2);
	CHECK(sched_rate_due(&r, 29.999) < 7 * SEC);
	/* Arrival 30 comes when arrivals pass 30: after the 2 s of rate 0, where the 0 s stage jumps to 50/s.
	 */
	CHECK_EQ_INT(sched_rate_due(&r, 30), 9 * SEC);
	CHECK_NEAR(sched_rate_due(&r, 55), 9500 * MS, 1);
	CHECK_NEAR(sched_rate_arrivals(&r, 11 * SEC), 105, 1e-9);
	CHECK_NEAR(sched_rate_peak(&r), 50, 0);
	sched_rate_fini(&r);

	/* All zero: nothing is ever due. */
	plan_stage z[] = {{5000, 0, NULL}};
	CHECK_EQ_INT(sched_rate_init(&r, 0, z, 1, 1000, 1.0), HERD_OK);
	CHECK_EQ_INT(sched_rate_due(&r, 0), INT64_MAX);
	CHECK_NEAR(sched_rate_peak(&r), 0, 0);
	sched_rate_fini(&r);
}

/* The rate as the plan says it, for the numeric check: linear within each stage. */
static double rate_at(int64_t start, const plan_stage *st, size_t n, double t_s, double per_s)
{
	double at = 0, from = (double)start;
	for (size_t i = 0; i < n; i++) {
		double d = (double)st[i].duration_ms / 1000;
		if (t_s < at + d)
			return per_s * (from + ((double)st[i].target - from) * (t_s - at) / d);
		at += d;
		from = (double)st[i].target;
	}
	return 0;
}

/* Every arrival's time from the closed form agrees with integrating the rate
 * in 1 us steps (midpoint rule) and noting when each k + phase is passed. */
static void test_rate_vs_numeric(void)
{
	plan_stage st[] = {{1500, 40, NULL}, {2500, 3, NULL},  {1000, 0, NULL},
	                   {700, 0, NULL},   {3000, 90, NULL}, {1300, 90, NULL}};
	const size_t n = 6;
	const int64_t start = 7, unit_ms = 500;
	const double share = 0.37, phase = 0.25, per_s = share * 1000.0 / (double)unit_ms;
	sched_rate r;
	CHECK_EQ_INT(sched_rate_init(&r, start, st, n, unit_ms, share), HERD_OK);

	const double dt = 1e-6, end_s = 10.0;
	double acc = 0, worst = 0;
	int64_t k = 0, prev = -1, checked = 0;
	int monotonic = 1, agree = 1;
	for (double t = 0; t < end_s; t += dt) {
		double next = acc + rate_at(start, st, n, t + dt / 2, per_s) * dt;
		while (next > (double)k + phase) {
			/* Crossed inside [t, t + dt): the closed form must be within a step or two. */
			int64_t due = sched_rate_due(&r, (double)k + phase);
			double err = fabs((double)due / 1e9 - t);
			if (err > worst)
				worst = err;
			agree &= err <= 3 * dt;
			monotonic &= due > prev;
			/* And the integral at that moment is k + phase. */
			agree &= fabs(sched_rate_arrivals(&r, due) - ((double)k + phase)) < 1e-6;
			prev = due;
			k++;
			checked++;
		}
		acc = next;
	}
	CHECK(agree);
	CHECK(monotonic);
	CHECK(checked > 100);
	CHECK_NEAR(acc, sched_rate_arrivals(&r, 10 * SEC), 1e-4);
	if (!agree)
		fprintf(stderr, "worst difference %.3g s over %lld arrivals\n", worst, (long long)checked);
	sched_rate_fini(&r);
}

/* Long runs do not drift: arrival k of a day at 1000/s is at exactly k ms. */
static void test_rate_no_drift(void)
{
	plan_stage day[] = {{86400000, 1000, NULL}};
	sched_rate r;
	CHECK_EQ_INT(sched_rate_init(&r, 1000, day, 1, 1000, 1.0), HERD_OK);
	int64_t ks[] = {1, 999, 1000, 123456, 86399999, 3600000};
	for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++)
		CHECK_NEAR(sched_rate_due(&r, (double)ks[i]), ks[i] * MS, 1);
	CHECK_EQ_INT(sched_rate_due(&r, 86400000.0), INT64_MAX);
	sched_rate_fini(&r);
}

/* constant-arrival-rate is one flat stage: two workers with halves and
 * phases 0 and 1/2 start 1000 iterations in 10 s at 100/s, interleaved. */
static void test_constant_as_profile(void)
{
	plan_scenario s = {
	    .executor = EXEC_CONSTANT_ARRIVAL_RATE, .rate = 100, .time_unit_ms = 1000, .duration_ms = 10000};
	int64_t total = 0;
	for (int wk = 0; wk < 2; wk++) {
		sched_rate r;
		double phase = wk / 2.0;
		CHECK_EQ_INT(sched_rate_of(&r, &s, 0.5), HERD_OK);
		CHECK_NEAR(sched_rate_due(&r, 0 + phase), wk * 10 * MS, 1);
		CHECK_NEAR(sched_rate_due(&r, 7 + phase), 140 * MS + wk * 10 * MS, 1);
		for (int64_t k = 0; sched_rate_due(&r, (double)k + phase) < 10 * SEC; k++)
			total++;
		sched_rate_fini(&r);
	}
	CHECK_EQ_INT(total, 1000);

	/* ramping-arrival-rate through sched_rate_of, the same two workers: arrivals
	 * per stage of ramp3 match the integral (100, 200, 300) within one per worker. */
	plan_scenario ra = {.executor = EXEC_RAMPING_ARRIVAL_RATE,
	                    .start_rate = 0,
	                    .time_unit_ms = 1000,
	                    .stages = (plan_stage *)ramp3,
	                    .nstages = 3};
	int64_t per[3] = {0, 0, 0};
	for (int wk = 0; wk < 2; wk++) {
		sched_rate r;
		CHECK_EQ_INT(sched_rate_of(&r, &ra, 0.5), HERD_OK);
		for (int64_t k = 0;; k++) {
			int64_t t = sched_rate_due(&r, (double)k + wk / 2.0);
			if (t >= 12 * SEC)
				break;
			per[t / (4 * SEC)]++;
		}
		sched_rate_fini(&r);
	}
	CHECK(llabs(per[0] - 100) <= 2);
	CHECK(llabs(per[1] - 200) <= 2);
	CHECK(llabs(per[2] - 300) <= 2);
	CHECK_EQ_INT(per[0] + per[1] + per[2], 600);
}

int main(void)
{
	test_split_by_counts();
	test_share_iters();
	test_rate_hand_worked();
	test_rate_zero_stages();
	test_rate_vs_numeric();
	test_rate_no_drift();
	test_constant_as_profile();
	return check_done();
}
