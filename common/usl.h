/*
 * The Universal Scalability Law (Gunther): throughput at concurrency N is
 * X(N) = lambda N / (1 + sigma (N - 1) + kappa N (N - 1)), sigma the
 * contention, kappa the coherency cost. Fitted here by nonlinear least
 * squares (Levenberg-Marquardt on lambda, sigma, kappa with sigma in [0, 1]
 * and kappa >= 0) on relative residuals, since throughput noise grows with
 * throughput. Pure arithmetic: no I/O, no allocation beyond the inputs' size.
 */
#ifndef HERD_COMMON_USL_H
#define HERD_COMMON_USL_H

#include <stddef.h>

typedef struct usl_fit {
	double lambda;  /* throughput of one unit of concurrency */
	double sigma;   /* contention, in [0, 1] */
	double kappa;   /* coherency, >= 0 */
	double r2;      /* 1 - SS_res / SS_tot, on the throughputs as measured */
	double n_star;  /* the concurrency of peak throughput, sqrt((1 - sigma) / kappa);
	                 * INFINITY when kappa is 0 (throughput never falls), 1 when sigma is 1 */
	double x_peak;  /* X(n_star); lambda / sigma when kappa is 0 (INFINITY when sigma is 0 too) */
	int iterations; /* of the solver */
} usl_fit;

/*
 * Fits the USL to count points (n[i] concurrency, x[i] throughput, both > 0
 * and finite). Returns HERD_OK and *out; HERD_EINVAL with the reason in err
 * when there are fewer than 3 points, fewer than 3 distinct concurrencies,
 * every throughput is the same (nothing to fit), or a value is not positive
 * and finite; HERD_ENOMEM.
 */
int usl_fit_points(const double *n, const double *x, size_t count, usl_fit *out, char *err, size_t errlen);

/* The fitted throughput at concurrency n. */
double usl_eval(const usl_fit *f, double n);

/*
 * The holdout check: fits the points without the k of highest concurrency,
 * predicts those k, and returns in *err_rel the mean of |predicted - measured|
 * / measured over them (and the fit of the rest in *fit when not NULL). The
 * same errors as usl_fit_points for the points left, and HERD_EINVAL when k
 * is 0 or leaves fewer than 3 points.
 */
int usl_holdout(const double *n, const double *x, size_t count, size_t k, usl_fit *fit, double *err_rel,
                char *err, size_t errlen);

#endif
