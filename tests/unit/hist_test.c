/*
 * Histogram accuracy: percentiles from the histogram against exact
 * percentiles of the sorted samples, on several random distributions, plus
 * bucket arithmetic and merging.
 */
#include <math.h>
#include <stdlib.h>

#include "common/hist.h"
#include "tests/unit/check.h"

static uint64_t rng = 88172645463325252ull;

static double uniform01(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The exact percentile with the same rank rule as hist_percentile. */
static uint64_t exact(const uint64_t *sorted, size_t n, double p)
{
	double want = p / 100.0 * (double)n;
	size_t rank = (size_t)want;
	if ((double)rank < want)
		rank++;
	if (rank == 0)
		rank = 1;
	return sorted[rank - 1];
}

static double rel_err(uint64_t got, uint64_t want)
{
	if (want == 0)
		return got == 0 ? 0 : 1;
	return fabs((double)got - (double)want) / (double)want;
}

typedef uint64_t (*gen_fn)(void);

static uint64_t gen_uniform(void) { return 1 + (uint64_t)(uniform01() * 100000); }
static uint64_t gen_exp(void) { return 1 + (uint64_t)(-log(1 - uniform01()) * 20000); }
static uint64_t gen_lognormal(void)
{
	double u1 = uniform01(), u2 = uniform01();
	double z = sqrt(-2 * log(1 - u1)) * cos(2 * M_PI * u2);
	return 1 + (uint64_t)exp(9 + 1.5 * z);
}
static uint64_t gen_bimodal(void)
{
	return uniform01() < 0.9 ? 900 + (uint64_t)(uniform01() * 200) : 2000000 + (uint64_t)(uniform01() * 500000);
}
static uint64_t gen_wide(void) { return (uint64_t)exp(uniform01() * log(3.6e9)); } /* 1 µs .. 1 h */

static void check_distribution(const char *name, gen_fn gen)
{
	enum { N = 200000 };
	static uint64_t v[N];
	static const double ps[] = { 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99 };
	hist h;
	hist_init(&h);
	uint64_t sum = 0;
	for (size_t i = 0; i < N; i++) {
		v[i] = gen();
		sum += v[i];
		hist_record(&h, v[i]);
	}
	qsort(v, N, sizeof(v[0]), cmp_u64);
	CHECK_EQ_INT(h.total, N);
	CHECK_EQ_INT(h.min, v[0]);
	CHECK_EQ_INT(h.max, v[N - 1]);
	CHECK(fabs(hist_mean(&h) - (double)sum / N) < 1e-6 * (double)sum / N);
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		uint64_t got = hist_percentile(&h, ps[i]), want = exact(v, N, ps[i]);
		double e = rel_err(got, want);
		if (e > 0.01)
			fprintf(stderr, "%s p%.2f: got %llu want %llu (%.3f%%)\n", name, ps[i],
			        (unsigned long long)got, (unsigned long long)want, e * 100);
		CHECK(e <= 0.01);
	}
}

/* Every bucket of h is zero and h is empty. */
static int all_empty(const hist *h)
{
	for (uint32_t i = 0; i < HIST_NBUCKETS; i++)
		if (h->counts[i] != 0)
			return 0;
	return h->total == 0 && h->sum == 0 && h->min == UINT64_MAX && h->max == 0;
}

/* hist_reuse: freed histograms come back from hist_new empty, up to the
 * number asked for, also one whose min and max disagree with its buckets. */
static void test_reuse(void)
{
	hist_reuse(2);
	CHECK_EQ_INT(hist_reuse_kept(), 0);
	hist *a = hist_new(), *b = hist_new(), *c = hist_new();
	CHECK(a != NULL && b != NULL && c != NULL);
	hist_record(a, 3);
	hist_record(a, 900000);
	hist_record_n(b, 120, 7);
	/* Not kept as hist.h says: a bucket outside [min, max]. */
	hist_record(c, 50);
	c->min = 60;
	hist_free(a);
	hist_free(b);
	CHECK_EQ_INT(hist_reuse_kept(), 2);
	hist_free(c); /* one more than kept: freed */
	CHECK_EQ_INT(hist_reuse_kept(), 2);
	hist *x = hist_new(), *y = hist_new();
	CHECK(x == b && y == a); /* the last kept comes first */
	CHECK(all_empty(x) && all_empty(y));
	CHECK_EQ_INT(hist_reuse_kept(), 0);
	hist_free(x);
	hist_free(y);

	/* A histogram whose span is all buckets (min above max) is emptied in full. */
	hist_reuse(1);
	CHECK_EQ_INT(hist_reuse_kept(), 1);
	x = hist_new();
	hist_record(x, 50);
	hist_record(x, 70000);
	x->min = 80000;
	hist_free(x);
	y = hist_new();
	CHECK(y == x && all_empty(y));
	hist_record(y, 10);
	CHECK_EQ_INT(hist_percentile(y, 50), 10);
	hist_free(y);

	/* 0 frees what is kept and stops keeping. */
	hist_reuse(0);
	CHECK_EQ_INT(hist_reuse_kept(), 0);
	x = hist_new();
	hist_free(x);
	CHECK_EQ_INT(hist_reuse_kept(), 0);
}

int main(void)
{
	test_reuse();

	/* Buckets tile the range with no gap and no overlap, and the relative
	 * width stays under 1%. */
	uint64_t expect_low = 0;
	for (uint32_t i = 0; i < HIST_NBUCKETS; i++) {
		CHECK_EQ_INT(hist_bucket_low(i), expect_low);
		uint64_t hi = hist_bucket_high(i);
		CHECK(hi >= hist_bucket_low(i));
		CHECK_EQ_INT(hist_index(hist_bucket_low(i)), i);
		CHECK_EQ_INT(hist_index(hi), i);
		if (hist_bucket_low(i) > 0)
			CHECK((double)(hi - hist_bucket_low(i)) / 2 / (double)hist_bucket_low(i) <= 0.005);
		expect_low = hi + 1;
	}
	CHECK_EQ_INT(expect_low, HIST_MAX_US + 1);
	CHECK(HIST_MAX_US >= UINT64_C(3600000000)); /* at least one hour */

	check_distribution("uniform", gen_uniform);
	check_distribution("exponential", gen_exp);
	check_distribution("lognormal", gen_lognormal);
	check_distribution("bimodal", gen_bimodal);
	check_distribution("1us-1h", gen_wide);

	/* Merging two halves gives the same percentiles as one histogram fed all. */
	hist all, a, b;
	hist_init(&all);
	hist_init(&a);
	hist_init(&b);
	for (int i = 0; i < 100000; i++) {
		uint64_t x = gen_lognormal();
		hist_record(&all, x);
		hist_record(i % 3 ? &a : &b, x);
	}
	hist_merge(&a, &b);
	CHECK_EQ_INT(a.total, all.total);
	CHECK_EQ_INT(a.sum, all.sum);
	CHECK_EQ_INT(a.min, all.min);
	CHECK_EQ_INT(a.max, all.max);
	for (double p = 1; p < 100; p += 7.5)
		CHECK_EQ_INT(hist_percentile(&a, p), hist_percentile(&all, p));

	/* Edge cases. */
	hist e;
	hist_init(&e);
	CHECK_EQ_INT(hist_percentile(&e, 50), 0);
	CHECK(hist_mean(&e) == 0);
	hist_record(&e, UINT64_MAX);
	CHECK_EQ_INT(e.max, HIST_MAX_US);
	hist_record(&e, 0);
	CHECK_EQ_INT(hist_percentile(&e, 50), 0);
	CHECK_EQ_INT(hist_percentile(&e, 100), HIST_MAX_US);
	return check_done();
}
