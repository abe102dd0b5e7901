/* Rank test and median; see stats.h. */
#include <math.h>
#include <stdlib.h>

#include "common/stats.h"

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

double stats_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/*
 * The exact two-sided p-value of U = u for samples of m and n without ties:
 * the number of orderings giving each U, by the recurrence
 * N(m, n, u) = N(m-1, n, u-n) + N(m, n-1, u) (Mann and Whitney 1947), as
 * fractions of all C(m+n, m) orderings, in doubles (exact enough: the counts
 * for m, n <= 30 fit in 2^60).
 */
static int exact_p(size_t m, size_t n, double u, double *p)
{
	size_t umax = m * n;
	/* cnt[j][v]: orderings of j values of a and the first k of b with U = v,
	 * for the current k; rolled over k. */
	double *cnt = calloc((m + 1) * (umax + 1), sizeof(double));
	if (cnt == NULL)
		return -1;
#define CNT(j, v) cnt[(j) * (umax + 1) + (v)]
	for (size_t j = 0; j <= m; j++)
		CNT(j, 0) = 1; /* no b values yet: U = 0 */
	for (size_t k = 1; k <= n; k++)
		/* Adding the k-th b value above all j a values... a values above it
		 * add one to U each: N(j, k, v) = N(j, k-1, v) + N(j-1, k, v-k). */
		for (size_t j = 1; j <= m; j++)
			for (size_t v = umax; v >= k; v--) {
				CNT(j, v) += CNT(j - 1, v - k);
				if (v == k)
					break;
			}
	double total = 0, lower = 0, upper = 0;
	for (size_t v = 0; v <= umax; v++) {
		double c = CNT(m, v);
		total += c;
		if ((double)v <= u)
			lower += c;
		if ((double)v >= u)
			upper += c;
	}
#undef CNT
	free(cnt);
	double two = 2.0 * (lower < upper ? lower : upper) / total;
	*p = two < 1.0 ? two : 1.0;
	return 0;
}

typedef struct ranked {
	double v;
	int from_a;
} ranked;

static int cmp_ranked(const void *x, const void *y)
{
	return cmp_double(&((const ranked *)x)->v, &((const ranked *)y)->v);
}

int stats_mann_whitney(const double *a, size_t na, const double *b, size_t nb, double *u,
                       double *p)
{
	*p = 1.0;
	if (na == 0 || nb == 0)
		return -1;
	size_t n = na + nb;
	ranked *r = malloc(n * sizeof(*r));
	if (r == NULL)
		return -1;
	for (size_t i = 0; i < na; i++)
		r[i] = (ranked){ a[i], 1 };
	for (size_t i = 0; i < nb; i++)
		r[na + i] = (ranked){ b[i], 0 };
	qsort(r, n, sizeof(*r), cmp_ranked);
	/* Mid-ranks over runs of ties; sum of t^3 - t for the variance. */
	double rank_a = 0, ties = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && r[j].v == r[i].v)
			j++;
		double mid = ((double)(i + 1) + (double)j) / 2.0, t = (double)(j - i);
		for (size_t k = i; k < j; k++)
			if (r[k].from_a)
				rank_a += mid;
		ties += t * t * t - t;
		i = j;
	}
	free(r);
	double dna = (double)na, dnb = (double)nb, dn = (double)n;
	double ua = rank_a - dna * (dna + 1) / 2.0;
	if (u != NULL)
		*u = ua;
	/* Small samples without ties: the exact distribution of U. */
	if (ties == 0 && na <= STATS_EXACT_MAX && nb <= STATS_EXACT_MAX)
		return exact_p(na, nb, ua, p);
	double mean = dna * dnb / 2.0;
	double var = dna * dnb / 12.0 * ((dn + 1) - ties / (dn * (dn - 1)));
	if (var <= 0) { /* every value equal: no evidence of a difference */
		*p = 1.0;
		return 0;
	}
	double z = (fabs(ua - mean) - 0.5) / sqrt(var);
	if (z < 0)
		z = 0;
	*p = erfc(z / sqrt(2.0));
	return 0;
}
