/* Data feeders: blocks of rows per agent add up without overlap, sequential
 * order recycles or stops, random order stays in the block and stops after
 * as many rows as the block has, and threads sharing a feeder get every row
 * exactly once. */
#include <pthread.h>
#include <stdlib.h>

#include "agent/feeder.h"
#include "common/split.h"
#include "tests/unit/check.h"

/* A table of n rows with one column, parsed as a real one would be. */
static void make_table(csv *t, size_t n)
{
	char *text = malloc(16 * n + 8);
	char err[128];
	memset(t, 0, sizeof(*t));
	CHECK(text != NULL);
	if (text == NULL)
		return;
	size_t len = (size_t)sprintf(text, "id\n");
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(text + len, "%zu\n", i);
	CHECK_EQ_INT(csv_parse(text, len, "ids.csv", t, err, sizeof(err)), 0);
	CHECK_EQ_INT(t->nrows, n);
	free(text);
}

/* All agents' blocks tile [0, nrows) in agent order with split_int's sizes. */
static void check_blocks(size_t nrows, const double *w, size_t nagents)
{
	int64_t parts[128];
	size_t next = 0;
	int ok = split_int((int64_t)nrows, w, nagents, parts) == 0;
	for (size_t a = 0; a < nagents && ok; a++) {
		size_t first = 99, count = 99;
		feeder_block(nrows, w, nagents, a, &first, &count);
		ok = first == next && count == (size_t)parts[a];
		next += count;
	}
	CHECK(ok);
	CHECK_EQ_INT(next, nrows);
}

static void test_blocks(void)
{
	double eq[128], mixed[] = {2, 1, 1, 0.5, 7, 3.25};
	for (size_t i = 0; i < 128; i++)
		eq[i] = 1;
	size_t counts[] = {0, 1, 2, 3, 5, 7, 10, 99, 100, 1000, 12345};
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		for (size_t n = 1; n <= 6; n++) {
			check_blocks(counts[c], eq, n);
			check_blocks(counts[c], mixed, n);
		}
		check_blocks(counts[c], eq, 128); /* past the stack buffer */
	}

	size_t first, count;
	/* 10 rows, weights 2:1:1 -> 5, 3, 2 (2.5 and 2.5: the lower index wins the spare row). */
	double w[] = {2, 1, 1};
	feeder_block(10, w, 3, 0, &first, &count);
	CHECK_EQ_INT(first, 0);
	CHECK_EQ_INT(count, 5);
	feeder_block(10, w, 3, 1, &first, &count);
	CHECK_EQ_INT(first, 5);
	CHECK_EQ_INT(count, 3);
	feeder_block(10, w, 3, 2, &first, &count);
	CHECK_EQ_INT(first, 8);
	CHECK_EQ_INT(count, 2);

	/* More agents than rows: some agents get none. */
	size_t zero = 0, total = 0;
	for (size_t a = 0; a < 5; a++) {
		feeder_block(3, eq, 5, a, &first, &count);
		CHECK(count <= 1);
		zero += count == 0;
		total += count;
	}
	CHECK_EQ_INT(zero, 2);
	CHECK_EQ_INT(total, 3);

	/* Nothing for a bad request. */
	double bad[] = {1, 0};
	feeder_block(10, bad, 2, 0, &first, &count);
	CHECK_EQ_INT(count, 0);
	feeder_block(10, w, 3, 3, &first, &count);
	CHECK_EQ_INT(count, 0);
	CHECK_EQ_INT(first, 0);
	feeder_block(10, w, 0, 0, &first, &count);
	CHECK_EQ_INT(count, 0);
	feeder_block(10, NULL, 3, 0, &first, &count);
	CHECK_EQ_INT(count, 0);
}

static void test_sequential(const csv *t)
{
	feeder f;
	uint64_t rng = 1;
	int ok = 1;

	feeder_init(&f, t, 10, 5, FEED_SEQUENTIAL, FEED_RECYCLE);
	for (int i = 0; i < 23; i++)
		ok &= feeder_take(&f, &rng) == 10 + i % 5;
	CHECK(ok);
	CHECK_EQ_INT(atomic_load(&f.next), 23);

	feeder_init(&f, t, 10, 5, FEED_SEQUENTIAL, FEED_STOP);
	for (int i = 0; i < 5; i++)
		CHECK_EQ_INT(feeder_take(&f, &rng), 10 + i);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(feeder_take(&f, &rng), -1);

	/* No rows: always -1, whatever the mode. */
	feeder_init(&f, t, 3, 0, FEED_SEQUENTIAL, FEED_RECYCLE);
	CHECK_EQ_INT(feeder_take(&f, &rng), -1);
	feeder_init(&f, t, 3, 0, FEED_RANDOM, FEED_RECYCLE);
	CHECK_EQ_INT(feeder_take(&f, &rng), -1);
	feeder_init(&f, NULL, 0, 5, FEED_SEQUENTIAL, FEED_RECYCLE);
	CHECK_EQ_INT(f.nrows, 0);
	CHECK_EQ_INT(feeder_take(&f, &rng), -1);

	/* A block past the table's end is cut to the table. */
	feeder_init(&f, t, 18, 5, FEED_SEQUENTIAL, FEED_STOP);
	CHECK_EQ_INT(f.first, 18);
	CHECK_EQ_INT(f.nrows, 2);
	CHECK_EQ_INT(feeder_take(&f, &rng), 18);
	CHECK_EQ_INT(feeder_take(&f, &rng), 19);
	CHECK_EQ_INT(feeder_take(&f, &rng), -1);
	feeder_init(&f, t, 25, 5, FEED_SEQUENTIAL, FEED_RECYCLE);
	CHECK_EQ_INT(f.nrows, 0);
	CHECK_EQ_INT(feeder_take(&f, &rng), -1);
}

static void test_random(const csv *t)
{
	feeder f;
	uint64_t rng = 0x9E3779B97F4A7C15;
	int hits[7] = {0}, inside = 1;

	feeder_init(&f, t, 4, 7, FEED_RANDOM, FEED_RECYCLE);
	for (int i = 0; i < 70000; i++) {
		int64_t r = feeder_take(&f, &rng);
		inside &= r >= 4 && r < 11;
		if (r >= 4 && r < 11)
			hits[r - 4]++;
	}
	CHECK(inside);
	/* About 10000 each; the seed is fixed, so the bounds are loose, not flaky. */
	for (int i = 0; i < 7; i++)
		CHECK(hits[i] > 9000 && hits[i] < 11000);

	/* A zero state (xorshift's fixed point) still gives different rows. */
	uint64_t zero = 0;
	int differ = 0;
	int64_t r0 = feeder_take(&f, &zero);
	for (int i = 0; i < 50; i++)
		differ |= feeder_take(&f, &zero) != r0;
	CHECK(differ);

	/* Under FEED_STOP random order hands out exactly nrows rows. */
	feeder_init(&f, t, 2, 9, FEED_RANDOM, FEED_STOP);
	int given = 0;
	inside = 1;
	for (int i = 0; i < 30; i++) {
		int64_t r = feeder_take(&f, &rng);
		if (r >= 0) {
			given++;
			inside &= r >= 2 && r < 11 && i < 9;
		}
	}
	CHECK(inside);
	CHECK_EQ_INT(given, 9);

	/* A one-row block. */
	feeder_init(&f, t, 19, 1, FEED_RANDOM, FEED_RECYCLE);
	CHECK_EQ_INT(feeder_take(&f, &rng), 19);
	CHECK_EQ_INT(feeder_take(&f, &rng), 19);
}

#define NTHREADS 4
#define NROWS    100000

typedef struct taker {
	feeder *f;
	atomic_uchar *seen; /* times each row was taken */
	size_t taken;
	int bad;
} taker;

static void *take_all(void *arg)
{
	taker *tk = arg;
	uint64_t rng = 7;
	int64_t r;
	while ((r = feeder_take(tk->f, &rng)) >= 0) {
		if (r >= NROWS) {
			tk->bad = 1;
			break;
		}
		atomic_fetch_add(&tk->seen[r], 1);
		tk->taken++;
	}
	return NULL;
}

static void test_threads(void)
{
	csv t;
	feeder f;
	pthread_t th[NTHREADS];
	taker tk[NTHREADS];
	atomic_uchar *seen = calloc(NROWS, sizeof(*seen));

	CHECK(seen != NULL);
	if (seen == NULL)
		return;
	make_table(&t, NROWS);
	feeder_init(&f, &t, 0, NROWS, FEED_SEQUENTIAL, FEED_STOP);
	for (int i = 0; i < NTHREADS; i++) {
		tk[i] = (taker){.f = &f, .seen = seen};
		CHECK_EQ_INT(pthread_create(&th[i], NULL, take_all, &tk[i]), 0);
	}
	size_t total = 0;
	int bad = 0;
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		total += tk[i].taken;
		bad |= tk[i].bad;
	}
	CHECK(!bad);
	CHECK_EQ_INT(total, NROWS);
	size_t once = 0;
	for (size_t r = 0; r < NROWS; r++)
		once += atomic_load(&seen[r]) == 1;
	CHECK_EQ_INT(once, NROWS);
	CHECK_EQ_INT(feeder_take(&f, NULL), -1);
	free(seen);
	csv_free(&t);
}

int main(void)
{
	csv t;
	make_table(&t, 20);
	test_blocks();
	test_sequential(&t);
	test_random(&t);
	csv_free(&t);
	test_threads();
	return check_done();
}
