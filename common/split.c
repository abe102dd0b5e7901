/* Largest-remainder splitting of integers; proportional splitting of rates. */
#include <math.h>
#include <stdlib.h>

#include "common/split.h"

int split_int(int64_t total, const double *weights, size_t n, int64_t *out)
{
	double sum = 0;
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!(weights[i] > 0))
			return -1;
		sum += weights[i];
	}
	int64_t given = 0;
	for (size_t i = 0; i < n; i++) {
		out[i] = (int64_t)floor((double)total * weights[i] / sum);
		given += out[i];
	}
	/* Hand the remaining units to the largest remainders, lower index first. */
	while (given < total) {
		size_t best = 0;
		double best_rem = -1;
		for (size_t i = 0; i < n; i++) {
			double rem = (double)total * weights[i] / sum - (double)out[i];
			if (rem > best_rem + 1e-12) {
				best_rem = rem;
				best = i;
			}
		}
		out[best]++;
		given++;
	}
	return 0;
}

double split_frac(double total, const double *weights, size_t n, size_t i)
{
	double sum = 0;
	for (size_t k = 0; k < n; k++)
		sum += weights[k];
	if (sum <= 0 || i >= n)
		return 0;
	return total * weights[i] / sum;
}

int64_t split_int_at(int64_t total, const double *weights, size_t n, size_t i)
{
	if (n == 0 || i >= n)
		return 0;
	int64_t *parts = malloc(n * sizeof(*parts));
	int64_t v = 0;
	if (parts == NULL)
		return 0;
	if (split_int(total, weights, n, parts) == 0)
		v = parts[i];
	free(parts);
	return v;
}

int64_t split_int_by_counts(int64_t total, const int64_t *counts, size_t n, size_t i)
{
	double *w;
	size_t m = 0, mine = 0;
	int64_t v;

	if (i >= n || counts[i] <= 0)
		return 0;
	if ((w = malloc(n * sizeof(*w))) == NULL)
		return 0;
	/* Only the positive counts take part; split_int wants every weight > 0. */
	for (size_t k = 0; k < n; k++) {
		if (counts[k] <= 0)
			continue;
		if (k == i)
			mine = m;
		w[m++] = (double)counts[k];
	}
	v = split_int_at(total, w, m, mine);
	free(w);
	return v;
}
