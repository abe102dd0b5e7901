/*
 * Data feeders at run time; see feeder.h. One atomic counter per feeder is
 * the only shared state: sequential order turns it into a row index, random
 * order only counts with it (for FEED_STOP) and draws the row from the
 * calling VU's own generator.
 */
#include <stdlib.h>

#include "agent/feeder.h"
#include "common/split.h"

/* Agents in a block split without a heap allocation. */
#define FEEDER_STACK_AGENTS 64

void feeder_block(size_t nrows, const double *weights, size_t nagents, size_t agent, size_t *first,
                  size_t *count)
{
	int64_t stack[FEEDER_STACK_AGENTS];
	int64_t *parts = stack;

	*first = 0;
	*count = 0;
	if (weights == NULL || nagents == 0 || agent >= nagents || nrows > INT64_MAX)
		return;
	if (nagents > FEEDER_STACK_AGENTS && (parts = malloc(nagents * sizeof(*parts))) == NULL)
		return;
	if (split_int((int64_t)nrows, weights, nagents, parts) == 0) {
		size_t before = 0;
		for (size_t i = 0; i < agent; i++)
			before += (size_t)parts[i];
		*first = before;
		*count = (size_t)parts[agent];
	}
	if (parts != stack)
		free(parts);
}

void feeder_init(feeder *f, const csv *table, size_t first, size_t nrows, feeder_order order,
                 feeder_exhausted exhausted)
{
	size_t have = table != NULL ? table->nrows : 0;

	/* Rows past the end of the table are never handed out. */
	if (first > have)
		first = have;
	if (nrows > have - first)
		nrows = have - first;
	f->table = table;
	f->first = first;
	f->nrows = nrows;
	f->order = order;
	f->exhausted = exhausted;
	atomic_init(&f->next, 0);
}

/* xorshift64*, as the workers' VU generators. */
static inline uint64_t feeder_rand(uint64_t *s)
{
	if (*s == 0)
		*s = UINT64_C(0x9E3779B97F4A7C15); /* zero is a fixed point */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

/* Uniform in [0, n), n > 0: draws below 2^64 mod n are redrawn, so every
 * residue has the same number of 64-bit values behind it. */
static uint64_t feeder_below(uint64_t *rng, uint64_t n)
{
	uint64_t limit = (0 - n) % n;
	uint64_t r;
	do
		r = feeder_rand(rng);
	while (r < limit);
	return r % n;
}

int64_t feeder_take(feeder *f, uint64_t *rng)
{
	uint64_t n = f->nrows;

	if (n == 0)
		return -1;
	/* Once used up, stay off the counter's cache line: no more writes. */
	if (f->exhausted == FEED_STOP && atomic_load_explicit(&f->next, memory_order_relaxed) >= n)
		return -1;
	uint64_t k = atomic_fetch_add_explicit(&f->next, 1, memory_order_relaxed);
	if (f->exhausted == FEED_STOP && k >= n)
		return -1;
	if (f->order == FEED_RANDOM)
		return (int64_t)(f->first + feeder_below(rng, n));
	return (int64_t)(f->first + k % n);
}
