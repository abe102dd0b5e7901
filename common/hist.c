/*
 * Log-linear histogram: see hist.h. Index layout: values below 2^SUB are their
 * own bucket; a value with highest bit m >= SUB lies in [2^m, 2^(m+1)), which is
 * cut into HALF = 2^(SUB-1) buckets of width 2^(m-SUB+1).
 */
#include <pthread.h>
#include <stdatomic.h>
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

/* The freed histograms kept for hist_new (hist_reuse): a stack under a
 * mutex, held for a push or a pop only. Every bucket of a kept histogram is
 * zero. reuse_max is read without the lock so that a process that never
 * asks for reuse (the agent) never takes it. */
static pthread_mutex_t reuse_mu = PTHREAD_MUTEX_INITIALIZER;
static hist **reuse_stack;
static size_t reuse_n;
static atomic_size_t reuse_max;

void hist_reuse(size_t max)
{
	hist **drop = NULL, **stack = NULL;
	size_t ndrop = 0;
	if (max > 0 && (stack = malloc(max * sizeof(*stack))) == NULL)
		return; /* out of memory: histograms are freed as before */
	pthread_mutex_lock(&reuse_mu);
	drop = reuse_stack;
	ndrop = reuse_n;
	if (ndrop > max)
		ndrop -= max;
	else
		ndrop = 0;
	if (stack != NULL && reuse_n > ndrop)
		memcpy(stack, reuse_stack, (reuse_n - ndrop) * sizeof(*stack));
	reuse_stack = stack;
	reuse_n -= ndrop;
	atomic_store(&reuse_max, max);
	pthread_mutex_unlock(&reuse_mu);
	for (size_t i = 0; i < ndrop; i++)
		free(drop[reuse_n + i]);
	free(drop);
}

size_t hist_reuse_kept(void)
{
	pthread_mutex_lock(&reuse_mu);
	size_t n = reuse_n;
	pthread_mutex_unlock(&reuse_mu);
	return n;
}

hist *hist_new(void)
{
	hist *h = NULL;
	if (atomic_load_explicit(&reuse_max, memory_order_relaxed) > 0) {
		pthread_mutex_lock(&reuse_mu);
		if (reuse_n > 0)
			h = reuse_stack[--reuse_n];
		pthread_mutex_unlock(&reuse_mu);
		if (h != NULL) {
			/* Its buckets were emptied when it was kept. */
			h->total = h->sum = h->max = 0;
			h->min = UINT64_MAX;
			return h;
		}
	}
	h = malloc(sizeof(*h));
	if (h != NULL)
		hist_init(h);
	return h;
}

void hist_free(hist *h)
{
	if (h == NULL)
		return;
	if (atomic_load_explicit(&reuse_max, memory_order_relaxed) > 0) {
		/* Only the span can be nonzero (hist.h); a histogram whose min and
		 * max disagree with its buckets has a span of all of them. */
		uint32_t lo, hi;
		hist_span(h, &lo, &hi);
		if (hi > lo)
			memset(&h->counts[lo], 0, (hi - lo) * sizeof(h->counts[0]));
		pthread_mutex_lock(&reuse_mu);
		if (reuse_n < atomic_load_explicit(&reuse_max, memory_order_relaxed)) {
			reuse_stack[reuse_n++] = h;
			h = NULL;
		}
		pthread_mutex_unlock(&reuse_mu);
	}
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
