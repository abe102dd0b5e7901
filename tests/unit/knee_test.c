/*
 * Tests for common/knee (Kneedle): the knee of curves whose knee is known
 * (a hockey stick, y = 1/(c - x) near its pole as a saturating server's
 * latency against throughput, the paper's figure 2 shape mirrored), no knee
 * on a straight line or a concave curve, and clear errors for bad input.
 */
#include <math.h>
#include <string.h>

#include "common/err.h"
#include "common/knee.h"
#include "tests/unit/check.h"

static void test_hockey_stick(void)
{
	/* Flat at 10 ms up to x = 6, then 100 ms more per step. */
	double x[10], y[10];
	size_t k = 99;
	char err[128];
	for (int i = 0; i < 10; i++) {
		x[i] = i;
		y[i] = 10 + (i > 6 ? 100.0 * (i - 6) : 0.1 * i);
	}
	CHECK_EQ_INT(knee_find(x, y, 10, 1.0, &k, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(k, 6);
}

static void test_queue(void)
{
	/* M/M/1 latency 1/(mu - x) with mu = 100 req/s, x = 10 .. 95: the
	 * difference curve of Kneedle peaks where the normalised slope is 1. */
	double x[18], y[18];
	size_t k = 99;
	char err[128];
	for (int i = 0; i < 18; i++) {
		x[i] = 10 + 5 * i;
		y[i] = 1000.0 / (100 - x[i]);
	}
	CHECK_EQ_INT(knee_find(x, y, 18, 1.0, &k, err, sizeof(err)), HERD_OK);
	/* Slope of the normalised curve: dy/dx * span_x / span_y = 1. */
	double span_y = y[17] - y[0], span_x = x[17] - x[0];
	double xk = 100 - sqrt(1000.0 * span_x / span_y);
	CHECK(fabs(x[k] - xk) <= 5.0); /* within one level of the exact knee */
}

static void test_no_knee(void)
{
	double x[8], y[8];
	size_t k;
	char err[128];
	for (int i = 0; i < 8; i++) {
		x[i] = i;
		y[i] = 3 * i + 1; /* straight */
	}
	CHECK_EQ_INT(knee_find(x, y, 8, 1.0, &k, err, sizeof(err)), HERD_ENOTFOUND);
	for (int i = 0; i < 8; i++)
		y[i] = sqrt((double)i); /* concave: above the diagonal */
	CHECK_EQ_INT(knee_find(x, y, 8, 1.0, &k, err, sizeof(err)), HERD_ENOTFOUND);
}

static void test_sensitivity(void)
{
	/* A mild bend: found at S = 0 and 1, not when S asks for a drop larger
	 * than the curve has. */
	double x[6] = { 0, 1, 2, 3, 4, 5 }, y[6] = { 0, 0.5, 1, 1.5, 2.6, 5 };
	size_t k = 99;
	char err[128];
	CHECK_EQ_INT(knee_find(x, y, 6, 0.0, &k, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(k, 3);
	CHECK_EQ_INT(knee_find(x, y, 6, 1.0, &k, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(k, 3);
	CHECK_EQ_INT(knee_find(x, y, 6, 5.0, &k, err, sizeof(err)), HERD_ENOTFOUND);
}

static void test_errors(void)
{
	double x[3] = { 0, 1, 2 }, y[3] = { 1, 1, 1 };
	size_t k;
	char err[128];
	CHECK_EQ_INT(knee_find(x, y, 2, 1.0, &k, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, "at least 3");
	CHECK_EQ_INT(knee_find(x, y, 3, 1.0, &k, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, "no shape");
	double xd[3] = { 0, 2, 2 }, y2[3] = { 1, 2, 5 };
	CHECK_EQ_INT(knee_find(xd, y2, 3, 1.0, &k, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, "does not increase");
	CHECK_EQ_INT(knee_find(x, y2, 3, -1, &k, err, sizeof(err)), HERD_EINVAL);
	double yn[3] = { 1, NAN, 3 };
	CHECK_EQ_INT(knee_find(x, yn, 3, 1.0, &k, err, sizeof(err)), HERD_EINVAL);
}

int main(void)
{
	test_hockey_stick();
	test_queue();
	test_no_knee();
	test_sensitivity();
	test_errors();
	return check_done();
}
