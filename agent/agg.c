/*
 * Open-addressing hash table of interval aggregates; see agg.h. The table
 * doubles when 70% full. Histograms are allocated once per entry per
 * interval, i.e. at most a few times per second per worker.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agg.h"

static const char *const metric_names[AM__N] = {
	"http_req_duration",  "http_req_waiting",   "http_req_connecting",
	"http_req_tls_handshaking", "http_req_sending", "http_req_receiving",
	"http_req_blocked",   "checks",             "iterations",
	"dropped_iterations", "vus",                "vus_max",
	"ws_sessions",        "ws_connecting",      "ws_session_duration",
	"ws_msgs_sent",       "ws_msgs_received",   "ws_msg_rtt",
	"group_duration",
	"ws_close_codes",     "ws_tls_handshaking", "ws_sessions_open",
	"offered_iterations", "iterations_started", "vus_target",
	"agent_cpu",          "agent_rss_kb",
	"rate_capped",
};

const char *agg_metric_name(int m)
{
	if (m < 0 || m >= AM__N)
		return "?";
	return metric_names[m];
}

int agg_metric_is_gauge(int m)
{
	return m == AM_VUS || m == AM_VUS_MAX || m == AM_WS_SESSIONS_OPEN || m == AM_VUS_TARGET ||
	       m == AM_AGENT_CPU || m == AM_AGENT_RSS;
}

_Static_assert(sizeof(agg_key) == 16, "agg_key is two words with no padding");

static int key_eq(const agg_key *a, const agg_key *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static size_t key_hash(agg_key k)
{
	uint64_t w[2];
	memcpy(w, &k, sizeof(w));
	uint64_t x = w[0] ^ (w[1] * UINT64_C(0x9e3779b97f4a7c15));
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	return (size_t)x;
}

/* Epochs for every table of the process (workers are threads): never 0, so
 * a zeroed cache matches none. */
static _Atomic uint64_t epochs;

static uint64_t new_epoch(void)
{
	return atomic_fetch_add_explicit(&epochs, 1, memory_order_relaxed) + 1;
}

agg *agg_new(int64_t idx)
{
	agg *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	a->interval = idx;
	a->epoch = new_epoch();
	a->cap = 64;
	a->slots = calloc(a->cap, sizeof(*a->slots));
	if (a->slots == NULL) {
		free(a);
		return NULL;
	}
	return a;
}

void agg_free(agg *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->cap; i++)
		hist_free(a->slots[i].h);
	free(a->slots);
	free(a);
}

static agg_entry *find_slot(agg_entry *slots, size_t cap, agg_key k)
{
	size_t i = key_hash(k) & (cap - 1);
	for (;;) {
		agg_entry *e = &slots[i];
		if (!e->used || key_eq(&e->key, &k))
			return e;
		i = (i + 1) & (cap - 1);
	}
}

static int grow(agg *a)
{
	size_t ncap = a->cap * 2;
	agg_entry *ns = calloc(ncap, sizeof(*ns));
	if (ns == NULL)
		return -1;
	for (size_t i = 0; i < a->cap; i++)
		if (a->slots[i].used)
			*find_slot(ns, ncap, a->slots[i].key) = a->slots[i];
	free(a->slots);
	a->slots = ns;
	a->cap = ncap;
	a->epoch = new_epoch();
	return 0;
}

agg_entry *agg_get(agg *a, agg_key k)
{
	agg_entry *e = find_slot(a->slots, a->cap, k);
	if (e->used)
		return e;
	if ((a->len + 1) * 10 > a->cap * 7) {
		if (grow(a) != 0)
			return NULL;
		e = find_slot(a->slots, a->cap, k);
	}
	e->used = 1;
	e->key = k;
	a->len++;
	return e;
}

int agg_observe(agg *a, agg_key k, uint64_t v)
{
	agg_entry *e = agg_get(a, k);
	if (e == NULL)
		return -1;
	if (e->h == NULL && (e->h = hist_new()) == NULL)
		return -1;
	hist_record(e->h, v);
	e->count++;
	return 0;
}

int agg_count(agg *a, agg_key k, uint64_t n)
{
	agg_entry *e = agg_get(a, k);
	if (e == NULL)
		return -1;
	e->count += n;
	return 0;
}

int agg_gauge(agg *a, agg_key k, int64_t v)
{
	agg_entry *e = agg_get(a, k);
	if (e == NULL)
		return -1;
	e->gauge = v;
	return 0;
}

int agg_merge(agg *dst, const agg *src)
{
	for (size_t i = 0; i < src->cap; i++) {
		const agg_entry *s = &src->slots[i];
		if (!s->used)
			continue;
		agg_entry *d = agg_get(dst, s->key);
		if (d == NULL)
			return -1;
		d->count += s->count;
		for (int k = 0; k < ERRK__N; k++)
			d->errors[k] += s->errors[k];
		d->bytes_in += s->bytes_in;
		d->bytes_out += s->bytes_out;
		d->gauge += s->gauge;
		if (s->h != NULL) {
			if (d->h == NULL && (d->h = hist_new()) == NULL)
				return -1;
			hist_merge(d->h, s->h);
		}
	}
	return 0;
}

agg_entry *agg_next(const agg *a, size_t *pos)
{
	while (*pos < a->cap) {
		agg_entry *e = &a->slots[(*pos)++];
		if (e->used)
			return e;
	}
	return NULL;
}
