/* Kneedle on a convex increasing curve; see knee.h. No smoothing: herd's
 * points are per-level means over many requests, already smooth. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/err.h"
#include "common/knee.h"

int knee_find(const double *x, const double *y, size_t n, double s, size_t *idx, char *err, size_t errlen)
{
	if (n < 3) {
		snprintf(err, errlen, "%zu point%s: a knee needs at least 3", n, n == 1 ? "" : "s");
		return HERD_EINVAL;
	}
	if (!(s >= 0) || !isfinite(s)) {
		snprintf(err, errlen, "sensitivity %g: want a finite number >= 0", s);
		return HERD_EINVAL;
	}
	double ylo = y[0], yhi = y[0];
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(x[i]) || !isfinite(y[i])) {
			snprintf(err, errlen, "point %zu is not finite", i + 1);
			return HERD_EINVAL;
		}
		if (i > 0 && !(x[i] > x[i - 1])) {
			snprintf(err, errlen, "point %zu: x %g does not increase (previous %g)", i + 1, x[i], x[i - 1]);
			return HERD_EINVAL;
		}
		ylo = y[i] < ylo ? y[i] : ylo;
		yhi = y[i] > yhi ? y[i] : yhi;
	}
	if (!(yhi > ylo)) {
		snprintf(err, errlen, "every y is %g: the curve has no shape", ylo);
		return HERD_EINVAL;
	}
	double *d = malloc(n * sizeof(*d));
	if (d == NULL)
		return HERD_ENOMEM;
	double xspan = x[n - 1] - x[0];
	for (size_t i = 0; i < n; i++)
		d[i] = (x[i] - x[0]) / xspan - (y[i] - ylo) / (yhi - ylo);
	/* Normalised x spans 1 over n - 1 gaps: its mean spacing is 1 / (n - 1). */
	double step = 1.0 / (double)(n - 1);
	int found = 0;
	for (size_t i = 1; i + 1 < n && !found; i++) {
		if (!(d[i] > d[i - 1] && d[i] >= d[i + 1]))
			continue;
		double thr = d[i] - s * step;
		/* A knee when the difference falls below the threshold before it
		 * rises to another local maximum. */
		for (size_t j = i + 1; j < n; j++) {
			if (d[j] < thr) {
				*idx = i;
				found = 1;
				break;
			}
			if (j + 1 < n && d[j] > d[j - 1] && d[j] >= d[j + 1])
				break;
		}
	}
	free(d);
	return found ? HERD_OK : HERD_ENOTFOUND;
}
