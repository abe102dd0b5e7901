/*
 * The Kneedle algorithm (Satopää, Albrecht, Irwin, Raghavan, "Finding a
 * 'Kneedle' in a Haystack", ICDCS workshops 2011) for the knee of latency
 * against throughput: points increasing in x, y increasing and convex (flat,
 * then steep). Both axes are normalised to [0, 1]; the difference curve
 * x - y is the curve's distance below the diagonal; a local maximum of it is
 * the knee once the difference falls below that maximum minus S times the
 * mean spacing of x before the next local maximum. Pure arithmetic.
 */
#ifndef HERD_COMMON_KNEE_H
#define HERD_COMMON_KNEE_H

#include <stddef.h>

/*
 * Finds the first knee of the n points (x strictly increasing) with
 * sensitivity s (the paper's S; 1 is its default). Returns HERD_OK with its
 * index in *idx; HERD_ENOTFOUND when the curve has no knee (a straight or
 * concave one); HERD_EINVAL with the reason in err for fewer than 3 points,
 * x not strictly increasing, values not finite, s negative, or y all equal.
 */
int knee_find(const double *x, const double *y, size_t n, double s, size_t *idx, char *err, size_t errlen);

#endif
