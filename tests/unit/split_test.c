/* Split arithmetic: integer parts add up exactly, stay within 1 of the exact
 * share, and rates split as fractions; two-level agent/worker shares too. */
#include <math.h>

#include "agent/sched.h"
#include "common/split.h"
#include "tests/unit/check.h"

int main(void)
{
	int64_t out[16];
	double w3[] = { 1, 1, 1 };
	CHECK_EQ_INT(split_int(10, w3, 3, out), 0);
	CHECK_EQ_INT(out[0], 4);
	CHECK_EQ_INT(out[1], 3);
	CHECK_EQ_INT(out[2], 3);

	double wv[] = { 2, 1, 1 }; /* weighted by cores */
	CHECK_EQ_INT(split_int(7, wv, 3, out), 0);
	CHECK_EQ_INT(out[0] + out[1] + out[2], 7);
	/* exact shares 3.5, 1.75, 1.75: the larger remainders get the spare units */
	CHECK_EQ_INT(out[0], 3);
	CHECK_EQ_INT(out[1], 2);
	CHECK_EQ_INT(out[2], 2);

	CHECK_EQ_INT(split_int(1, w3, 3, out), 0);
	CHECK_EQ_INT(out[0], 1);
	CHECK_EQ_INT(out[1] + out[2], 0);

	double bad[] = { 1, 0 };
	CHECK_EQ_INT(split_int(5, bad, 2, out), -1);
	CHECK_EQ_INT(split_int(5, w3, 0, out), -1);

	/* Many totals and weight sets: parts always add up and stay near the share. */
	double ws[][5] = { { 1, 2, 3, 4, 5 }, { 0.3, 0.3, 0.4, 1, 7 }, { 8, 8, 8, 8, 8 } };
	for (size_t s = 0; s < 3; s++) {
		double sum = 0;
		for (int i = 0; i < 5; i++)
			sum += ws[s][i];
		for (int64_t total = 0; total < 500; total += 7) {
			CHECK_EQ_INT(split_int(total, ws[s], 5, out), 0);
			int64_t got = 0;
			for (int i = 0; i < 5; i++) {
				got += out[i];
				CHECK(fabs((double)out[i] - (double)total * ws[s][i] / sum) < 1.0);
			}
			CHECK_EQ_INT(got, total);
		}
	}

	/* Rates are fractions: 200/s over 3 equal agents. */
	double r = 0;
	for (size_t i = 0; i < 3; i++)
		r += split_frac(200, w3, 3, i);
	CHECK(fabs(r - 200) < 1e-9);
	CHECK(fabs(split_frac(200, w3, 3, 0) - 66.6666666667) < 1e-6);

	/* Two levels: 3 agents (weights 2,1,1) x 2 workers each, 50 VUs. */
	int64_t total = 0;
	double rate = 0;
	for (size_t a = 0; a < 3; a++)
		for (size_t wk = 0; wk < 2; wk++) {
			sched_place p = { .weights = wv, .nagents = 3, .agent = a, .nworkers = 2, .worker = wk };
			total += sched_share_int(&p, 50);
			rate += sched_share_rate(&p, 123.0);
		}
	CHECK_EQ_INT(total, 50);
	CHECK(fabs(rate - 123.0) < 1e-9);

	/* Ramping targets: linear between stages, as k6. */
	plan_stage st[] = { { 10000, 10, NULL }, { 10000, 10, NULL }, { 5000, 0, NULL } };
	int64_t tg[] = { 10, 10, 0 };
	CHECK_EQ_INT(sched_ramp_target(0, st, tg, 3, 0), 0);
	CHECK_EQ_INT(sched_ramp_target(0, st, tg, 3, 5000), 5);
	CHECK_EQ_INT(sched_ramp_target(0, st, tg, 3, 9999), 9);
	CHECK_EQ_INT(sched_ramp_target(0, st, tg, 3, 10000), 10);
	CHECK_EQ_INT(sched_ramp_target(0, st, tg, 3, 19999), 10);
	CHECK_EQ_INT(sched_ramp_target(0, st, tg, 3, 22500), 5);
	CHECK_EQ_INT(sched_ramp_target(0, st, tg, 3, 30000), 0);
	CHECK_EQ_INT(sched_ramp_target(4, st, tg, 3, 0), 4);
	return check_done();
}
