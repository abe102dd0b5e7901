/*
 * Tests for common/usl: points made from known lambda, sigma, kappa with
 * multiplicative noise give back sigma and kappa within 20% and N* within
 * 10%; exact points give them back exactly; linear and Amdahl-like curves
 * give kappa 0 and an infinite N*; the holdout predicts the held-out levels;
 * degenerate inputs give a clear error.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/usl.h"
#include "tests/unit/check.h"

static uint64_t rng_state = 0x2545f4914f6cdd1du;

/* Uniform in [-1, 1): xorshift64*, a fixed seed so failures repeat. */
static double noise(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double)((rng_state * 0x2545f4914f6cdd1du) >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static double usl(double lambda, double sigma, double kappa, double n)
{
	return lambda * n / (1 + sigma * (n - 1) + kappa * n * (n - 1));
}

static const double levels[] = { 1, 2, 3, 4, 6, 8, 10, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64 };
#define NLEVELS (sizeof(levels) / sizeof(levels[0]))

static int within(double got, double want, double rel)
{
	return fabs(got - want) <= rel * fabs(want);
}

static void test_exact(void)
{
	double x[NLEVELS];
	char err[256];
	usl_fit f;
	for (size_t i = 0; i < NLEVELS; i++)
		x[i] = usl(100, 0.05, 0.001, levels[i]);
	CHECK_EQ_INT(usl_fit_points(levels, x, NLEVELS, &f, err, sizeof(err)), HERD_OK);
	CHECK(within(f.lambda, 100, 1e-4));
	CHECK(within(f.sigma, 0.05, 1e-3));
	CHECK(within(f.kappa, 0.001, 1e-3));
	CHECK(within(f.n_star, sqrt(0.95 / 0.001), 1e-3));
	CHECK(within(f.x_peak, usl(100, 0.05, 0.001, sqrt(0.95 / 0.001)), 1e-4));
	CHECK(f.r2 > 0.999999);
}

/* The sum of squared relative residuals of a law at the points. */
static double rel_cost(double lambda, double sigma, double kappa, const double *x)
{
	double c = 0;
	for (size_t i = 0; i < NLEVELS; i++) {
		double r = (usl(lambda, sigma, kappa, levels[i]) - x[i]) / x[i];
		c += r * r;
	}
	return c;
}

/* Several systems, each with +-2% multiplicative noise (uniform), in many
 * draws: the fit is the least-squares one (no worse than the true law) and
 * recovers the law within the bounds. */
static void test_noisy(void)
{
	const struct {
		double lambda, sigma, kappa;
	} sys[] = { { 100, 0.05, 0.001 }, { 2500, 0.1, 0.0005 }, { 40, 0.02, 0.002 }, { 800, 0.15, 0.0008 } };
	int bad = 0, runs = 0;
	for (size_t s = 0; s < sizeof(sys) / sizeof(sys[0]); s++) {
		for (int draw = 0; draw < 25; draw++) {
			double x[NLEVELS];
			char err[256];
			usl_fit f;
			for (size_t i = 0; i < NLEVELS; i++)
				x[i] = usl(sys[s].lambda, sys[s].sigma, sys[s].kappa, levels[i]) * (1 + 0.02 * noise());
			double nstar = sqrt((1 - sys[s].sigma) / sys[s].kappa);
			runs++;
			if (usl_fit_points(levels, x, NLEVELS, &f, err, sizeof(err)) != HERD_OK ||
			    rel_cost(f.lambda, f.sigma, f.kappa, x) > rel_cost(sys[s].lambda, sys[s].sigma, sys[s].kappa, x) ||
			    !within(f.sigma, sys[s].sigma, 0.2) || !within(f.kappa, sys[s].kappa, 0.2) ||
			    !within(f.n_star, nstar, 0.1)) {
				bad++;
				fprintf(stderr, "system %zu draw %d: sigma %g kappa %g N* %g (want %g %g %g)\n", s, draw,
				        f.sigma, f.kappa, f.n_star, sys[s].sigma, sys[s].kappa, nstar);
			}
		}
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(runs, 100);
}

static void test_no_coherency(void)
{
	double x[NLEVELS];
	char err[256];
	usl_fit f;
	/* Linear: lambda N. */
	for (size_t i = 0; i < NLEVELS; i++)
		x[i] = 50 * levels[i];
	CHECK_EQ_INT(usl_fit_points(levels, x, NLEVELS, &f, err, sizeof(err)), HERD_OK);
	CHECK(within(f.lambda, 50, 1e-6));
	CHECK(f.sigma < 1e-6 && f.kappa < 1e-9);
	CHECK(isinf(f.n_star) || f.n_star > 1e3);
	/* Amdahl: contention only, throughput levels off at lambda / sigma. */
	for (size_t i = 0; i < NLEVELS; i++)
		x[i] = usl(50, 0.1, 0, levels[i]);
	CHECK_EQ_INT(usl_fit_points(levels, x, NLEVELS, &f, err, sizeof(err)), HERD_OK);
	CHECK(within(f.sigma, 0.1, 1e-3));
	CHECK(f.kappa < 1e-7);
	if (f.kappa == 0) {
		CHECK(isinf(f.n_star));
		CHECK(within(f.x_peak, 500, 1e-3));
	}
}

static void test_holdout(void)
{
	double x[NLEVELS];
	char err[256];
	usl_fit f;
	double e = -1;
	for (size_t i = 0; i < NLEVELS; i++)
		x[i] = usl(100, 0.05, 0.001, levels[i]);
	/* Exact points: the held-out levels are predicted exactly. */
	CHECK_EQ_INT(usl_holdout(levels, x, NLEVELS, 2, &f, &e, err, sizeof(err)), HERD_OK);
	CHECK(e >= 0 && e < 1e-3);
	/* The top level 30% off what the law says: the holdout error shows it. */
	x[NLEVELS - 1] *= 1.3;
	CHECK_EQ_INT(usl_holdout(levels, x, NLEVELS, 1, &f, &e, err, sizeof(err)), HERD_OK);
	CHECK(within(e, 0.3 / 1.3, 0.02));
	/* Holding out too many. */
	CHECK_EQ_INT(usl_holdout(levels, x, 4, 2, &f, &e, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, "fewer than 3");
	CHECK_EQ_INT(usl_holdout(levels, x, NLEVELS, 0, &f, &e, err, sizeof(err)), HERD_EINVAL);
}

static void test_degenerate(void)
{
	char err[256];
	usl_fit f;
	const double n2[] = { 1, 2 }, x2[] = { 10, 20 };
	CHECK_EQ_INT(usl_fit_points(n2, x2, 2, &f, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, "at least 3 levels");
	CHECK_EQ_INT(usl_fit_points(n2, x2, 0, &f, err, sizeof(err)), HERD_EINVAL);
	const double n3[] = { 1, 2, 4 }, same[] = { 7, 7, 7 };
	CHECK_EQ_INT(usl_fit_points(n3, same, 3, &f, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, "same throughput");
	const double nsame[] = { 4, 4, 4, 2 }, x4[] = { 1, 2, 3, 4 };
	CHECK_EQ_INT(usl_fit_points(nsame, x4, 4, &f, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, "distinct concurrencies");
	const double xneg[] = { 1, -2, 3 }, xnan[] = { 1, NAN, 3 };
	CHECK_EQ_INT(usl_fit_points(n3, xneg, 3, &f, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, "level 2");
	CHECK_EQ_INT(usl_fit_points(n3, xnan, 3, &f, err, sizeof(err)), HERD_EINVAL);
}

int main(void)
{
	test_exact();
	test_noisy();
	test_no_coherency();
	test_holdout();
	test_degenerate();
	return check_done();
}
