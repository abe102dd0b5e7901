/* Interval aggregation: keys stay apart, the table grows without losing
 * entries, and merging adds counts, errors, bytes, gauges and histograms. */
#include "agent/agg.h"
#include "tests/unit/check.h"

static agg_key key(uint8_t metric, uint16_t scenario, uint16_t step, uint8_t status)
{
	agg_key k = { .metric = metric, .method = 0, .status_class = status, .scenario = scenario, .step = step };
	return k;
}

int main(void)
{
	agg *a = agg_new(7), *b = agg_new(7);
	CHECK(a != NULL && b != NULL);
	CHECK_EQ_INT(a->interval, 7);
	/* Every table has an epoch of its own, never 0 (the worker's zeroed
	 * caches of entry pointers must match none). */
	CHECK(a->epoch != 0 && b->epoch != 0 && a->epoch != b->epoch);

	/* 2,000 distinct keys force several doublings; each gives the table
	 * a new epoch (its entries moved), and only a doubling does. */
	uint64_t epoch = a->epoch, cap = a->cap;
	int epochs_right = 1;
	for (uint16_t s = 0; s < 20; s++)
		for (uint16_t st = 0; st < 100; st++) {
			CHECK_EQ_INT(agg_count(a, key(AM_HTTP_REQ_DURATION, s, st, 2), (uint64_t)s * 1000 + st), 0);
			epochs_right &= (a->cap != cap) == (a->epoch != epoch) && a->epoch != b->epoch;
			epoch = a->epoch;
			cap = a->cap;
		}
	CHECK(epochs_right);
	CHECK_EQ_INT(a->len, 2000);
	int wrong = 0;
	for (uint16_t s = 0; s < 20; s++)
		for (uint16_t st = 0; st < 100; st++)
			wrong += agg_get(a, key(AM_HTTP_REQ_DURATION, s, st, 2))->count != (uint64_t)s * 1000 + st;
	CHECK_EQ_INT(wrong, 0);
	CHECK_EQ_INT(a->len, 2000); /* lookups did not add entries */
	CHECK_EQ_INT(a->epoch, epoch); /* nor moved them */

	/* Keys differing only in status class or sub are different entries. */
	agg_key k2 = key(AM_CHECKS, 1, 1, 2), k5 = key(AM_CHECKS, 1, 1, 5), ks = k2;
	ks.sub = 1;
	agg_count(b, k2, 1);
	agg_count(b, k5, 2);
	agg_count(b, ks, 3);
	CHECK_EQ_INT(agg_get(b, k2)->count, 1);
	CHECK_EQ_INT(agg_get(b, k5)->count, 2);
	CHECK_EQ_INT(agg_get(b, ks)->count, 3);

	/* Close-code series of one step differ by their code only. */
	agg_key c4000 = key(AM_WS_CLOSE_CODES, 1, 1, 0), c1006 = c4000;
	c4000.code = 4000;
	c1006.code = 1006;
	size_t len = b->len;
	agg_count(b, c4000, 10);
	agg_count(b, c1006, 2);
	agg_count(b, c4000, 1);
	CHECK_EQ_INT(b->len, len + 2);
	CHECK_EQ_INT(agg_get(b, c4000)->count, 11);
	CHECK_EQ_INT(agg_get(b, c1006)->count, 2);
	CHECK_EQ_STR(agg_metric_name(AM_WS_CLOSE_CODES), "ws_close_codes");

	/* Observations, errors, bytes and gauges merge by adding. */
	agg_key d = key(AM_HTTP_REQ_DURATION, 3, 4, 2);
	agg_observe(b, d, 100);
	agg_observe(b, d, 300);
	agg_get(b, d)->errors[ERRK_TIMEOUT] = 2;
	agg_get(b, d)->bytes_in = 10;
	agg_gauge(b, key(AM_VUS, 3, AGG_NONE, 0), 5);
	agg_gauge(a, key(AM_VUS, 3, AGG_NONE, 0), 7);
	agg_observe(a, d, 200);
	agg_get(a, d)->errors[ERRK_TIMEOUT] = 1;
	uint64_t before = agg_get(a, d)->count;
	CHECK_EQ_INT(agg_merge(a, b), 0);
	agg_entry *m = agg_get(a, d);
	CHECK_EQ_INT(m->count, before + 2);
	CHECK_EQ_INT(m->errors[ERRK_TIMEOUT], 3);
	CHECK_EQ_INT(m->bytes_in, 10);
	CHECK(m->h != NULL);
	CHECK_EQ_INT(m->h->total, 3);
	CHECK_EQ_INT(m->h->min, 100);
	CHECK_EQ_INT(m->h->max, 300);
	CHECK_EQ_INT(hist_percentile(m->h, 50), 200);
	CHECK_EQ_INT(agg_get(a, key(AM_VUS, 3, AGG_NONE, 0))->gauge, 12);
	CHECK_EQ_INT(agg_get(a, ks)->count, 3);

	/* Iteration visits every entry once. */
	size_t pos = 0, n = 0;
	while (agg_next(a, &pos) != NULL)
		n++;
	CHECK_EQ_INT(n, a->len);

	CHECK_EQ_STR(agg_metric_name(AM_HTTP_REQ_TLS), "http_req_tls_handshaking");
	CHECK(agg_metric_is_gauge(AM_VUS_MAX));
	CHECK(!agg_metric_is_gauge(AM_CHECKS));
	agg_free(a);
	agg_free(b);
	return check_done();
}
