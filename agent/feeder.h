/*
 * A data feeder at run time: this agent's block of a CSV table's rows, handed
 * out one per iteration to VUs on every worker of the agent (so the cursor is
 * shared and atomic). Order sequential or random; when the rows run out,
 * recycle (start over) or stop (no more rows).
 */
#ifndef HERD_AGENT_FEEDER_H
#define HERD_AGENT_FEEDER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/csv.h"

typedef enum feeder_order { FEED_SEQUENTIAL = 0, FEED_RANDOM } feeder_order;
typedef enum feeder_exhausted { FEED_RECYCLE = 0, FEED_STOP } feeder_exhausted;

typedef struct feeder {
	const csv *table;
	size_t first, nrows;       /* this agent's rows: [first, first + nrows) of the table */
	feeder_order order;
	feeder_exhausted exhausted;
	atomic_uint_fast64_t next; /* rows handed out so far */
} feeder;

/*
 * This agent's block when rows are split between agents in proportion to
 * weights (contiguous blocks, sizes by largest remainder so they add up to
 * nrows exactly): sets *first and *count for agent index agent. An agent may
 * get no rows when there are fewer rows than agents. Sets 0 and 0 when
 * weights is NULL, a weight is not positive, nagents is 0 or agent >= nagents
 * (as split_int_at gives such an agent no VUs).
 */
void feeder_block(size_t nrows, const double *weights, size_t nagents, size_t agent, size_t *first,
                  size_t *count);

/* A feeder over rows [first, first + nrows) of table, cut to the rows the
 * table has. The table must outlive the feeder; there is nothing to free. */
void feeder_init(feeder *f, const csv *table, size_t first, size_t nrows, feeder_order order,
                 feeder_exhausted exhausted);

/*
 * The next row for an iteration (a row index of the table), or -1 when the
 * feeder has no rows or, under FEED_STOP, they are used up. Sequential order
 * hands rows out in order, each exactly once per round, whichever thread
 * asks; random picks uniformly from the block with the caller's rng
 * (xorshift64* state, advanced here; a zero state is replaced by a fixed
 * seed; unused and may be NULL in sequential order), and under FEED_STOP
 * stops after nrows rows. Safe to call from several threads at once, each
 * with its own rng.
 */
int64_t feeder_take(feeder *f, uint64_t *rng);

#endif
