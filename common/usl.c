/*
 * Universal Scalability Law fit; see usl.h. Levenberg-Marquardt with
 * Marquardt's diagonal scaling (the parameters differ by orders of
 * magnitude: lambda in requests/s, kappa often 1e-4), bounds kept by
 * projecting each step, and two starts: a linear least-squares guess of
 * sigma and kappa given lambda from the smallest concurrency, and the same
 * with lambda 20% higher. The better fit wins.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/usl.h"

#define MAX_ITER 500

static double model(const double *p, double n)
{
	return p[0] * n / (1.0 + p[1] * (n - 1.0) + p[2] * n * (n - 1.0));
}

double usl_eval(const usl_fit *f, double n)
{
	const double p[3] = { f->lambda, f->sigma, f->kappa };
	return model(p, n);
}

/* The sum of squared relative residuals. */
static double cost(const double *p, const double *n, const double *x, size_t m)
{
	double c = 0;
	for (size_t i = 0; i < m; i++) {
		double r = (model(p, n[i]) - x[i]) / x[i];
		c += r * r;
	}
	return c;
}

static void clamp(double *p)
{
	if (!(p[0] > 1e-12))
		p[0] = 1e-12;
	if (!(p[1] >= 0))
		p[1] = 0;
	if (p[1] > 1)
		p[1] = 1;
	if (!(p[2] >= 0))
		p[2] = 0;
}

/* Solves the 3x3 system a d = b by Gaussian elimination with partial
 * pivoting; returns -1 when a is singular. */
static int solve3(double a[3][3], double *b, double *d)
{
	for (int c = 0; c < 3; c++) {
		int piv = c;
		for (int r = c + 1; r < 3; r++)
			if (fabs(a[r][c]) > fabs(a[piv][c]))
				piv = r;
		if (!(fabs(a[piv][c]) > 1e-300))
			return -1;
		if (piv != c) {
			for (int k = 0; k < 3; k++) {
				double t = a[c][k];
				a[c][k] = a[piv][k];
				a[piv][k] = t;
			}
			double t = b[c];
			b[c] = b[piv];
			b[piv] = t;
		}
		for (int r = c + 1; r < 3; r++) {
			double f = a[r][c] / a[c][c];
			for (int k = c; k < 3; k++)
				a[r][k] -= f * a[c][k];
			b[r] -= f * b[c];
		}
	}
	for (int r = 2; r >= 0; r--) {
		double s = b[r];
		for (int k = r + 1; k < 3; k++)
			s -= a[r][k] * d[k];
		d[r] = s / a[r][r];
	}
	return 0;
}

/* Levenberg-Marquardt from p; returns the final cost, p updated. */
static double lm(double *p, const double *n, const double *x, size_t m, int *iters)
{
	double mu = 1e-3, c = cost(p, n, x, m);
	int it;
	for (it = 0; it < MAX_ITER; it++) {
		double jtj[3][3] = { { 0 } }, jtr[3] = { 0 };
		for (size_t i = 0; i < m; i++) {
			double den = 1.0 + p[1] * (n[i] - 1.0) + p[2] * n[i] * (n[i] - 1.0);
			double xi = p[0] * n[i] / den;
			double j[3] = { n[i] / den / x[i], -xi * (n[i] - 1.0) / den / x[i],
				            -xi * n[i] * (n[i] - 1.0) / den / x[i] };
			double r = (xi - x[i]) / x[i];
			for (int a = 0; a < 3; a++) {
				jtr[a] += j[a] * r;
				for (int b = 0; b < 3; b++)
					jtj[a][b] += j[a] * j[b];
			}
		}
		int improved = 0;
		/* Raise the damping until a step lowers the cost (or give up). */
		for (int tries = 0; tries < 30 && !improved; tries++) {
			double a[3][3], b[3], d[3], q[3];
			for (int r = 0; r < 3; r++) {
				for (int k = 0; k < 3; k++)
					a[r][k] = jtj[r][k];
				a[r][r] += mu * (jtj[r][r] > 0 ? jtj[r][r] : 1e-12);
				b[r] = -jtr[r];
			}
			if (solve3(a, b, d) != 0) {
				mu *= 10;
				continue;
			}
			for (int k = 0; k < 3; k++)
				q[k] = p[k] + d[k];
			clamp(q);
			double cq = cost(q, n, x, m);
			if (cq < c) {
				double moved = 0;
				for (int k = 0; k < 3; k++)
					moved += fabs(q[k] - p[k]) / (fabs(p[k]) + 1e-9);
				memcpy(p, q, sizeof(q));
				improved = 1;
				mu = mu / 3 > 1e-12 ? mu / 3 : 1e-12;
				int done = c - cq < 1e-15 * (1 + c) && moved < 1e-10;
				c = cq;
				if (done)
					goto out;
			} else {
				mu *= 4;
			}
		}
		if (!improved)
			break;
	}
out:
	*iters += it;
	return c;
}

/* sigma and kappa by linear least squares given lambda: lambda n / x - 1 =
 * sigma (n - 1) + kappa n (n - 1). */
static void linear_guess(double *p, const double *n, const double *x, size_t m)
{
	double s11 = 0, s12 = 0, s22 = 0, b1 = 0, b2 = 0;
	for (size_t i = 0; i < m; i++) {
		double u = n[i] - 1.0, v = n[i] * (n[i] - 1.0), y = p[0] * n[i] / x[i] - 1.0;
		s11 += u * u;
		s12 += u * v;
		s22 += v * v;
		b1 += u * y;
		b2 += v * y;
	}
	double det = s11 * s22 - s12 * s12;
	p[1] = 0.01;
	p[2] = 1e-4;
	if (fabs(det) > 1e-300) {
		p[1] = (b1 * s22 - b2 * s12) / det;
		p[2] = (s11 * b2 - s12 * b1) / det;
	}
	clamp(p);
}

static int check_points(const double *n, const double *x, size_t count, char *err, size_t errlen)
{
	if (count < 3) {
		snprintf(err, errlen, "%zu point%s: the fit needs at least 3 levels", count, count == 1 ? "" : "s");
		return HERD_EINVAL;
	}
	size_t distinct = 0;
	int same_x = 1;
	for (size_t i = 0; i < count; i++) {
		if (!isfinite(n[i]) || !isfinite(x[i]) || n[i] <= 0 || x[i] <= 0) {
			snprintf(err, errlen, "level %zu (concurrency %g, throughput %g): both must be positive", i + 1,
			         n[i], x[i]);
			return HERD_EINVAL;
		}
		int seen = 0;
		for (size_t k = 0; k < i; k++)
			seen |= n[k] == n[i];
		distinct += !seen;
		same_x &= x[i] == x[0];
	}
	if (distinct < 3) {
		snprintf(err, errlen, "%zu distinct concurrencies: the fit needs at least 3", distinct);
		return HERD_EINVAL;
	}
	if (same_x) {
		snprintf(err, errlen, "every level has the same throughput (%g): nothing to fit", x[0]);
		return HERD_EINVAL;
	}
	return HERD_OK;
}

int usl_fit_points(const double *n, const double *x, size_t count, usl_fit *out, char *err, size_t errlen)
{
	int rv;
	if ((rv = check_points(n, x, count, err, errlen)) != HERD_OK)
		return rv;
	/* lambda from the smallest concurrency: X(1) = lambda. */
	size_t lo = 0;
	double xmean = 0;
	for (size_t i = 0; i < count; i++) {
		if (n[i] < n[lo])
			lo = i;
		xmean += x[i] / (double)count;
	}
	double best[3] = { 0 }, best_c = INFINITY;
	int iters = 0;
	const double starts[] = { 1.0, 1.2 };
	for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
		double p[3] = { starts[s] * x[lo] / n[lo], 0, 0 };
		linear_guess(p, n, x, count);
		double c = lm(p, n, x, count, &iters);
		if (c < best_c) {
			best_c = c;
			memcpy(best, p, sizeof(best));
		}
	}
	memset(out, 0, sizeof(*out));
	out->lambda = best[0];
	out->sigma = best[1];
	out->kappa = best[2];
	out->iterations = iters;
	double ss_res = 0, ss_tot = 0;
	for (size_t i = 0; i < count; i++) {
		double r = model(best, n[i]) - x[i];
		ss_res += r * r;
		ss_tot += (x[i] - xmean) * (x[i] - xmean);
	}
	out->r2 = ss_tot > 0 ? 1.0 - ss_res / ss_tot : 0;
	if (out->kappa > 0) {
		out->n_star = out->sigma < 1 ? sqrt((1.0 - out->sigma) / out->kappa) : 1.0;
		out->x_peak = usl_eval(out, out->n_star);
	} else {
		out->n_star = INFINITY;
		out->x_peak = out->sigma > 0 ? out->lambda / out->sigma : INFINITY;
	}
	return HERD_OK;
}

int usl_holdout(const double *n, const double *x, size_t count, size_t k, usl_fit *fit, double *err_rel,
                char *err, size_t errlen)
{
	if (k == 0 || k + 3 > count) {
		snprintf(err, errlen, "holding out %zu of %zu levels leaves fewer than 3 to fit", k, count);
		return HERD_EINVAL;
	}
	/* The k highest concurrencies are held out: sort indices by n. */
	size_t *idx = malloc(count * sizeof(*idx));
	double *fn = malloc(count * sizeof(*fn)), *fx = malloc(count * sizeof(*fx));
	int rv = HERD_ENOMEM;
	usl_fit f;
	if (idx == NULL || fn == NULL || fx == NULL)
		goto out;
	for (size_t i = 0; i < count; i++)
		idx[i] = i;
	for (size_t i = 1; i < count; i++)
		for (size_t j = i; j > 0 && n[idx[j - 1]] > n[idx[j]]; j--) {
			size_t t = idx[j];
			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
	size_t keep = count - k;
	for (size_t i = 0; i < keep; i++) {
		fn[i] = n[idx[i]];
		fx[i] = x[idx[i]];
	}
	if ((rv = usl_fit_points(fn, fx, keep, &f, err, errlen)) != HERD_OK)
		goto out;
	double sum = 0;
	for (size_t i = keep; i < count; i++)
		sum += fabs(usl_eval(&f, n[idx[i]]) - x[idx[i]]) / x[idx[i]];
	*err_rel = sum / (double)k;
	if (fit != NULL)
		*fit = f;
out:
	free(idx);
	free(fn);
	free(fx);
	return rv;
}
