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
