/*
 * Splitting a plan's load between agents: integers (VUs, iterations) split so
 * the parts add up exactly (largest remainder), rates split as fractions.
 */
#ifndef HERD_COMMON_SPLIT_H
#define HERD_COMMON_SPLIT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Splits total into n parts proportional to weights (all > 0), writing out[n].
 * The parts add up to total exactly; each differs from its exact share by less
 * than 1; ties go to the lower index. Returns 0, or -1 when n == 0 or a weight
 * is not positive.
 */
int split_int(int64_t total, const double *weights, size_t n, int64_t *out);

/* Share of index i in a fractional split: total * w[i] / sum(w). */
double split_frac(double total, const double *weights, size_t n, size_t i);

/* The integer share of index i (the i-th value of split_int). */
int64_t split_int_at(int64_t total, const double *weights, size_t n, size_t i);

/* Index i's share of total split as split_int_at does, in proportion to
 * counts[0..n) (what each part already got of something else, e.g. VUs), where
 * a count of 0 gets nothing. Returns 0 when no count is positive. */
int64_t split_int_by_counts(int64_t total, const int64_t *counts, size_t n, size_t i);

#endif
