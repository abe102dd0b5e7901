/*
 * Log-linear histogram: see hist.h. Index layout: values below 2^SUB are their
 * own bucket; a value with highest bit m >= SUB lies in [2^m, 2^(m+1)), which is
 * cut into HALF = 2^(SUB-1) buckets of width 2^(m-SUB+1).
 */
#include <stdlib.h>
#include <string.h>

#include "common/hist.h"

#define SUB HIST_SUB_BITS
#define HALF (1u << (SUB - 1))

void hist_init(hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

hist *hist_new(void)
{
	hist *h = malloc(sizeof(*h));
	if (h != NULL)
		hist_init(h);
	return h;
}

void hist_free(hist *h)
{
	free(h);
}

uint32_t hist_index(uint64_t v)
{
	if (v > HIST_MAX_US)
		v = HIST_MAX_US;
	if (v < (UINT64_C(1) << SUB))
		return (uint32_t)v;
	unsigned m = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = m - SUB + 1;
	uint32_t sub = (uint32_t)(v >> shift) - HALF; /* 0..HALF-1 */
	return (1u << SUB) + (m - SUB) * HALF + sub;
}

uint64_t hist_bucket_low(uint32_t idx)
{
	if (idx < (1u << SUB))
		return idx;
	uint32_t r = idx - (1u << SUB);
	unsigned m = SUB + r / HALF;
	uint64_t sub = r % HALF;
	return (HALF + sub) << (m - SUB + 1);
}

uint64_t hist_bucket_high(uint32_t idx)
{
	if (idx < (1u << SUB))
		return idx;
	uint32_t r = idx - (1u << SUB);
	unsigned m = SUB + r / HALF;
	return hist_bucket_low(idx) + (UINT64_C(1) << (m - SUB + 1)) - 1;
}

void hist_record_n(hist *h, uint64_t v, uint32_t n)
{
	if (n == 0)
		return;
	if (v > HIST_MAX_US)
		v = HIST_MAX_US;
	h->counts[hist_index(v)] += n;
	h->total += n;
	h->sum += v * n;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void hist_record(hist *h, uint64_t v)
{
	hist_record_n(h, v, 1);
}

void hist_span(const hist *h, uint32_t *lo, uint32_t *hi)
{
	*lo = *hi = 0;
	if (h->total == 0)
		return;
	*lo = h->min <= HIST_MAX_US ? hist_index(h->min) : 0;
	*hi = h->max <= HIST_MAX_US ? hist_index(h->max) + 1 : HIST_NBUCKETS;
	if (*lo >= *hi)
		*lo = 0, *hi = HIST_NBUCKETS; /* not kept as it should be: all of them */
}

void hist_merge(hist *dst, const hist *src)
{
	uint32_t lo, hi;
	if (src->total == 0)
		return;
	hist_span(src, &lo, &hi);
	for (uint32_t i = lo; i < hi; i++)
		dst->counts[i] += src->counts[i];
	dst->total += src->total;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t hist_percentile(const hist *h, double p)
{
	if (h->total == 0)
		return 0;
	if (p <= 0)
		return h->min;
	if (p >= 100)
		return h->max;
	/* rank of the value wanted, 1-based, as k6 and HdrHistogram do */
	double want = p / 100.0 * (double)h->total;
	uint64_t rank = (uint64_t)want;
	if ((double)rank < want)
		rank++;
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	uint32_t lo, hi;
	hist_span(h, &lo, &hi);
	for (uint32_t i = lo; i < hi; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			uint64_t lo = hist_bucket_low(i), hi = hist_bucket_high(i);
			uint64_t v = lo + (hi - lo) / 2;
			if (v < h->min)
				v = h->min;
			if (v > h->max)
				v = h->max;
			return v;
		}
	}
	return h->max;
}

double hist_mean(const hist *h)
{
	if (h->total == 0)
		return 0;
	return (double)h->sum / (double)h->total;
}
