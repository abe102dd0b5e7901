/* Mann-Whitney U against values worked out by hand (and matching SciPy's
 * mannwhitneyu(method="asymptotic", use_continuity=True)), ties, symmetry,
 * and the median. */
#include <math.h>

#include "common/stats.h"
#include "tests/unit/check.h"

static int close_to(double x, double want, double tol)
{
	return fabs(x - want) <= tol;
}

int main(void)
{
	double u, p;
	/* Fully separated samples of 5, no ties: exact, U = 0 is 1 of the
	 * C(10, 5) = 252 orderings, two-sided p = 2/252 (the normal
	 * approximation would say 0.0122). */
	double a[] = { 1, 2, 3, 4, 5 }, b[] = { 6, 7, 8, 9, 10 };
	CHECK(stats_mann_whitney(a, 5, b, 5, &u, &p) == 0);
	CHECK(u == 0.0);
	CHECK(close_to(p, 2.0 / 252.0, 1e-12));
	/* m = n = 3: U counts 1,1,2,3,3,3,3,2,1,1 over 20 orderings; {1,3,5}
	 * against {2,4,6} has U = 3: p = 2 * 7/20. */
	double a3[] = { 1, 3, 5 }, b3[] = { 2, 4, 6 };
	CHECK(stats_mann_whitney(a3, 3, b3, 3, &u, &p) == 0);
	CHECK(u == 3.0);
	CHECK(close_to(p, 0.7, 1e-12));
	/* 10 against 10 fully separated: 2 / C(20, 10). */
	double a10[10], b10[10];
	for (int i = 0; i < 10; i++) {
		a10[i] = i;
		b10[i] = 100 + i;
	}
	CHECK(stats_mann_whitney(b10, 10, a10, 10, &u, &p) == 0);
	CHECK(u == 100.0);
	CHECK(close_to(p, 2.0 / 184756.0, 1e-15));
	/* Symmetric: swapping the sides gives U' = na*nb - U and the same p. */
	double p2;
	CHECK(stats_mann_whitney(b, 5, a, 5, &u, &p2) == 0);
	CHECK(u == 25.0);
	CHECK(close_to(p2, 2.0 / 252.0, 1e-12));
	/* The same sample twice: no evidence at all. */
	CHECK(stats_mann_whitney(a, 5, a, 5, &u, &p) == 0);
	CHECK(u == 12.5);
	CHECK(p == 1.0);
	/* Every value equal (ties only): variance 0, p = 1, not a division by 0. */
	double c[] = { 3, 3, 3 }, d[] = { 3, 3 };
	CHECK(stats_mann_whitney(c, 3, d, 2, &u, &p) == 0);
	CHECK(p == 1.0);
	/* Ties across the sides: a = {1,2,2}, b = {2,3,3}: ranks 1, 3, 3, 3, 5.5, 5.5;
	 * R_a = 7, U_a = 1; tie term (27-3)+(8-2) = 30; var = 9/12*(7 - 30/30) = 4.5;
	 * z = (4.5 - 1 - 0.5)/sqrt(4.5) = 1.41421, p = 0.157299. */
	double e[] = { 1, 2, 2 }, f[] = { 2, 3, 3 };
	CHECK(stats_mann_whitney(e, 3, f, 3, &u, &p) == 0);
	CHECK(u == 1.0);
	CHECK(close_to(p, 0.157299, 0.00001));
	/* A shift of one sample's median among 40 noisy values is found; the same
	 * noise without the shift is not. */
	double g[40], h[40], k[40];
	for (int i = 0; i < 40; i++) {
		double noise = (double)((i * 37) % 40) / 40.0; /* a fixed permutation of 0..0.975 */
		g[i] = 20.0 + noise;
		h[i] = 20.0 + (double)((i * 13) % 40) / 40.0;
		k[i] = 23.0 + noise;
	}
	CHECK(stats_mann_whitney(g, 40, k, 40, &u, &p) == 0 && p < 1e-10);
	CHECK(stats_mann_whitney(g, 40, h, 40, &u, &p) == 0 && p > 0.5);
	/* Empty sides are refused. */
	CHECK(stats_mann_whitney(a, 0, b, 5, &u, &p) == -1 && p == 1.0);

	double m1[] = { 5, 1, 3 }, m2[] = { 4, 1, 3, 2 };
	CHECK(stats_median(m1, 3) == 3.0);
	CHECK(stats_median(m2, 4) == 2.5);
	return check_done();
}
