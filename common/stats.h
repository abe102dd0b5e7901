/*
 * Small statistics for comparing runs: the Mann-Whitney U test (two-sided,
 * normal approximation with continuity and tie corrections) and the median.
 * Pure functions without I/O; no Debian package offers these in C without
 * pulling in a whole numerics library (GSL has no rank tests), so they are
 * written here.
 */
#ifndef HERD_COMMON_STATS_H
#define HERD_COMMON_STATS_H

#include <stddef.h>

/* The median of n values (n > 0); v is sorted in place. */
double stats_median(double *v, size_t n);

/* Samples up to this size without ties get the exact p-value. */
#define STATS_EXACT_MAX 30

/*
 * Mann-Whitney U test of a (na values) against b (nb values): whether one
 * tends to give larger values than the other, without assuming any
 * distribution. Writes U of a into *u (NULL: not wanted) and the two-sided
 * p-value into *p: exact for samples of up to STATS_EXACT_MAX without ties,
 * else the normal approximation with continuity and tie corrections (mid-
 * ranks). Returns 0, or -1 when a side is empty or memory runs out (*p then 1).
 */
int stats_mann_whitney(const double *a, size_t na, const double *b, size_t nb, double *u,
                       double *p);

#endif
