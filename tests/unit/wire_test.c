/*
 * Tests for proto/wire: every message type survives a round trip field by
 * field, histograms come back bucket for bucket, and truncated, corrupted,
 * hand-crafted hostile and random bytes give an error, never a crash or a
 * leak (run under ASan to see the latter). Hostile messages are written with
 * msgpack-c's packer so each one differs from a valid message in one way.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "common/err.h"
#include "proto/wire.h"
#include "tests/unit/check.h"

/* ---------------------------------------------------------------------- */
/* Helpers */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

/* xorshift64*: a fixed seed, so a failure can be reproduced. */
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

static char *dup(const char *s)
{
	char *p = strdup(s);
	if (p == NULL)
		abort();
	return p;
}

static bool is_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

/* Encodes in and decodes the result into out; returns the decode's result
 * (or the encode's, when that failed). */
static int roundtrip(const wire_msg *in, wire_msg *out)
{
	char *buf = NULL;
	size_t len = 0;
	int rv = wire_encode(in, &buf, &len);
	memset(out, 0, sizeof(*out));
	if (rv != HERD_OK)
		return rv;
	rv = wire_decode(buf, len, out);
	free(buf);
	return rv;
}

/* Decodes len bytes from a heap copy of exactly that size, so that ASan sees
 * any read past the end. On error, checks that the message holds nothing
 * (but the version and type that HERD_EVERSION reports). */
static int decode_exact(const void *bytes, size_t len, wire_msg *m)
{
	char *copy = malloc(len ? len : 1);
	if (copy == NULL)
		abort();
	if (len > 0)
		memcpy(copy, bytes, len);
	int rv = wire_decode(copy, len, m);
	free(copy);
	if (rv == HERD_EVERSION) {
		wire_msg z = *m;
		z.version = 0;
		z.type = 0;
		CHECK(is_zero(&z, sizeof(z)));
	} else if (rv != HERD_OK) {
		CHECK(is_zero(m, sizeof(*m)));
	}
	return rv;
}

/* Decodes bytes and returns only the result, freeing the message. */
static int decode_rv(const void *bytes, size_t len)
{
	wire_msg m;
	int rv = decode_exact(bytes, len, &m);
	wire_msg_fini(&m);
	return rv;
}

/* A histogram with n values spread log-uniformly over 1 µs .. 1 h. */
static hist *spread_hist(unsigned n)
{
	hist *h = hist_new();
	if (h == NULL)
		abort();
	for (unsigned i = 0; i < n; i++) {
		double e = (double)(rng() % 1000000) / 1000000.0 * log(3600e6);
		hist_record(h, (uint64_t)exp(e));
	}
	hist_record(h, 1);
	hist_record(h, 3600000000u);
	return h;
}

/* ---------------------------------------------------------------------- */
/* Round trips */

static void test_type_names(void)
{
	CHECK_EQ_STR(wire_type_name(WIRE_HELLO), "HELLO");
	CHECK_EQ_STR(wire_type_name(WIRE_METRICS), "METRICS");
	CHECK_EQ_STR(wire_type_name(WIRE_ERROR), "ERROR");
	CHECK_EQ_STR(wire_type_name(0), "?");
	CHECK_EQ_STR(wire_type_name(WIRE__NTYPES), "?");
	CHECK_EQ_STR(wire_type_name(-1), "?");
}

static void test_hello(void)
{
	wire_msg in = { .type = WIRE_HELLO }, out;
	in.u.hello = (wire_hello){ .agent_id = dup("agent-7"), .name = dup("lab-3"),
		                       .host = dup("host.example"), .version = dup("0.1.0"),
		                       .caps = dup("http"), .nonce = dup("00ff"), .cores = 64,
		                       .pid = 4242, .clock_ns = -1234567890123456789 };
	CHECK_EQ_INT(roundtrip(&in, &out), HERD_OK);
	CHECK_EQ_INT(out.type, WIRE_HELLO);
	CHECK_EQ_INT(out.version, WIRE_VERSION);
	CHECK_EQ_STR(out.u.hello.agent_id, "agent-7");
	CHECK_EQ_STR(out.u.hello.name, "lab-3");
	CHECK_EQ_STR(out.u.hello.host, "host.example");
	CHECK_EQ_STR(out.u.hello.version, "0.1.0");
	CHECK_EQ_INT(out.u.hello.cores, 64);
	CHECK_EQ_INT(out.u.hello.pid, 4242);
	CHECK(out.u.hello.clock_ns == -1234567890123456789);
	CHECK_EQ_STR(out.u.hello.caps, "http");
	CHECK_EQ_STR(out.u.hello.nonce, "00ff");
	wire_msg_fini(&in);
	wire_msg_fini(&out);
	CHECK(is_zero(&out, sizeof(out)));
}

static void test_null_strings(void)
{
	wire_msg in = { .type = WIRE_HELLO }, out;
	in.u.hello.cores = UINT32_MAX;
	in.u.hello.clock_ns = INT64_MAX;
	CHECK_EQ_INT(roundtrip(&in, &out), HERD_OK);
	CHECK_EQ_STR(out.u.hello.agent_id, "");
	CHECK_EQ_STR(out.u.hello.name, "");
	CHECK_EQ_STR(out.u.hello.host, "");
	CHECK_EQ_STR(out.u.hello.version, "");
	CHECK(out.u.hello.cores == UINT32_MAX);
	CHECK(out.u.hello.clock_ns == INT64_MAX);
	wire_msg_fini(&out);
}

static void test_welcome_poll_nop_ready(void)
{
	wire_msg in = { .type = WIRE_WELCOME }, out;
	in.u.welcome = (wire_welcome){ INT64_MIN, 250 };
	CHECK_EQ_INT(roundtrip(&in, &out), HERD_OK);
	CHECK_EQ_INT(out.type, WIRE_WELCOME);
	CHECK(out.u.welcome.clock_ns == INT64_MIN);
	CHECK_EQ_INT(out.u.welcome.heartbeat_ms, 250);
	wire_msg_fini(&out);

	memset(&in, 0, sizeof(in));
	in.type = WIRE_POLL;
	in.u.poll = (wire_poll){ dup("a1"), dup("run-9"), 347.25, UINT64_MAX, -123456789, 4567, 42 };
	CHECK_EQ_INT(roundtrip(&in, &out), HERD_OK);
	CHECK_EQ_INT(out.type, WIRE_POLL);
	CHECK_EQ_STR(out.u.poll.agent_id, "a1");
	CHECK_EQ_STR(out.u.poll.run_id, "run-9");
	CHECK(out.u.poll.cpu_pct == 347.25);
	CHECK(out.u.poll.rss_kb == UINT64_MAX);
	CHECK(out.u.poll.clock_offset_ns == -123456789);
	CHECK(out.u.poll.clock_rtt_ns == 4567);
	CHECK(out.u.poll.started_ns == 42);
	wire_msg_fini(&in);
	wire_msg_fini(&out);

	/* The authentication and clock messages. */
	memset(&in, 0, sizeof(in));
	in.type = WIRE_CHALLENGE;
	in.u.challenge = (wire_challenge){ dup("abcd"), dup("ef01") };
	CHECK_EQ_INT(roundtrip(&in, &out), HERD_OK);
	CHECK_EQ_STR(out.u.challenge.nonce, "abcd");
	CHECK_EQ_STR(out.u.challenge.proof, "ef01");
	wire_msg_fini(&in);
	wire_msg_fini(&out);
	memset(&in, 0, sizeof(in));
	in.type = WIRE_AUTH;
	in.u.auth = (wire_auth){ dup("a1"), dup("99") };
	CHECK_EQ_INT(roundtrip(&in, &out), HERD_OK);
	CHECK_EQ_STR(out.u.auth.agent_id, "a1");
	CHECK_EQ_STR(out.u.auth.proof, "99");
	wire_msg_fini(&in);
	wire_msg_fini(&out);
	memset(&in, 0, sizeof(in));
	in.type = WIRE_TIME;
	in.u.time = (wire_time){ dup("a1"), 1700000000000000001, -5 };
	CHECK_EQ_INT(roundtrip(&in, &out), HERD_OK);
	CHECK(out.u.time.t0 == 1700000000000000001);
	CHECK(out.u.time.t1 == -5);
	wire_msg_fini(&in);
	wire_msg_fini(&out);

	int types[] = { WIRE_NOP, WIRE_READY };
	for (int i = 0; i < 2; i++) {
		memset(&in, 0, sizeof(in));
		in.type = types[i];
		CHECK_EQ_INT(roundtrip(&in, &out), HERD_OK);
		CHECK_EQ_INT(out.type, types[i]);
		CHECK_EQ_INT(out.version, WIRE_VERSION);
		wire_msg_fini(&out);
	}
}

static void test_assign(void)
{
	static const char plan[] = "scenarios:\n  s1:\n    vus: 10\n    url: \"http://x/\xc3\xa9\"\n";
	wire_msg in = { .type = WIRE_ASSIGN }, out;
	double w[] = { 0.5, 0.25, 0.125, 0.125 };
	static const char csvdata[] = "email,pw\nA@x,\x00\xff\n";
	wire_blob files[2] = { { "users.csv", (char *)csvdata, sizeof(csvdata) - 1 }, { "empty", NULL, 0 } };
	wire_blob env[1] = { { "TOKEN", "s3cret", 6 } };
	in.u.assign = (wire_assign){ dup("run-1"), dup("plans/a.yaml"), dup(plan), 2, 4, w,
		                         1700000000123456789, 1000, { 2, files }, { 1, env }, 250, 40 };
	CHECK_EQ_INT(roundtrip(&in, &out), HERD_OK);
	wire_assign *a = &out.u.assign;
	CHECK_EQ_INT(out.type, WIRE_ASSIGN);
	CHECK_EQ_STR(a->run_id, "run-1");
	CHECK_EQ_STR(a->plan_file, "plans/a.yaml");
	CHECK_EQ_STR(a->plan_text, plan);
	CHECK_EQ_INT(a->agent_index, 2);
	CHECK_EQ_INT(a->nweights, 4);
	CHECK(a->weights != NULL && memcmp(a->weights, w, sizeof(w)) == 0);
	CHECK(a->start_ns == 1700000000123456789);
	CHECK_EQ_INT(a->interval_ms, 1000);
	/* files keep their bytes exactly, NULs and all; env values come back as text */
	CHECK_EQ_INT(a->files.n, 2);
	CHECK_EQ_STR(a->files.v[0].name, "users.csv");
	CHECK(a->files.v[0].len == sizeof(csvdata) - 1 && memcmp(a->files.v[0].data, csvdata, sizeof(csvdata) - 1) == 0);
	CHECK_EQ_STR(a->files.v[1].name, "empty");
	CHECK(a->files.v[1].len == 0 && a->files.v[1].data != NULL && a->files.v[1].data[0] == '\0');
	CHECK_EQ_INT(a->env.n, 1);
	CHECK_EQ_STR(a->env.v[0].name, "TOKEN");
	CHECK_EQ_STR(a->env.v[0].data, "s3cret");
	/* A schedule's caps travel with the assignment. */
	CHECK(a->max_rate == 250 && a->max_vus == 40);
	wire_msg_fini(&out);
	free(in.u.assign.run_id);
	free(in.u.assign.plan_file);
	free(in.u.assign.plan_text);
}

static void test_ack_stop_done_error(void)
{
	wire_msg in = { .type = WIRE_ACK }, out;
	in.u.ack = (wire_ack){ dup("r"), 1ull << 40 };
	CHECK_EQ_INT(roundtrip(&in, &out), HERD_OK);
	CHECK_EQ_INT(out.type, WIRE_ACK);
	CHECK_EQ_STR(out.u.ack.run_id, "r");
	CHECK(out.u.ack.seq == 1ull << 40);
	wire_msg_fini(&in);
	wire_msg_fini(&out);

	in.type = WIRE_STOP;
	in.u.stop = (wire_stop){ dup("r2"), dup("threshold p99<200 failed") };
	CHECK_EQ_INT(roundtrip(&in, &out), HERD_OK);
	CHECK_EQ_INT(out.type, WIRE_STOP);
	CHECK_EQ_STR(out.u.stop.run_id, "r2");
	CHECK_EQ_STR(out.u.stop.reason, "threshold p99<200 failed");
	wire_msg_fini(&in);
	wire_msg_fini(&out);

	in.type = WIRE_DONE;
	in.u.done = (wire_done){ dup("ag"), dup("r3"), 77, 3, 1700000000000000000, 1700000010000000000 };
	CHECK_EQ_INT(roundtrip(&in, &out), HERD_OK);
	CHECK_EQ_INT(out.type, WIRE_DONE);
	CHECK_EQ_STR(out.u.done.agent_id, "ag");
	CHECK_EQ_STR(out.u.done.run_id, "r3");
	CHECK_EQ_INT(out.u.done.last_seq, 77);
	CHECK_EQ_INT(out.u.done.dropped_batches, 3);
	CHECK(out.u.done.started_ns == 1700000000000000000);
	CHECK(out.u.done.ended_ns == 1700000010000000000);
	wire_msg_fini(&in);
	wire_msg_fini(&out);

	in.type = WIRE_ERROR;
	in.u.error = (wire_error){ dup("ag2"), dup("r4"), -HERD_EPLAN, dup("bad plan: line 3") };
	CHECK_EQ_INT(roundtrip(&in, &out), HERD_OK);
	CHECK_EQ_INT(out.type, WIRE_ERROR);
	CHECK_EQ_STR(out.u.error.agent_id, "ag2");
	CHECK_EQ_STR(out.u.error.run_id, "r4");
	CHECK_EQ_INT(out.u.error.code, -HERD_EPLAN);
	CHECK_EQ_STR(out.u.error.message, "bad plan: line 3");
	wire_msg_fini(&in);
	wire_msg_fini(&out);
}

/* A METRICS batch of three entries: one with errors and a histogram of
 * nvalues spread over 1 µs .. 1 h, a gauge without histogram, and one with an
 * empty histogram. */
static void make_metrics(wire_msg *m, unsigned nvalues)
{
	memset(m, 0, sizeof(*m));
	m->type = WIRE_METRICS;
	wire_metrics *mt = &m->u.metrics;
	mt->agent_id = dup("agent-1");
	mt->run_id = dup("run-42");
	mt->seq = 17;
	mt->interval_ms = 16000;
	mt->nentries = 3;
	mt->entries = calloc(3, sizeof(wire_entry));
	if (mt->entries == NULL)
		abort();
	wire_entry *e = &mt->entries[0];
	e->metric = dup("http_req_duration");
	e->scenario = dup("browse");
	e->name = dup("GET /items/{id}");
	e->method = dup("GET");
	e->status_class = 2;
	e->count = nvalues + 2;
	e->errors[ERRK_TIMEOUT] = 5;
	e->errors[ERRK_HTTP5XX] = 7;
	e->errors[ERRK_OTHER] = 1;
	e->bytes_in = 123456789012;
	e->bytes_out = 987654;
	e->gauge = -3;
	e->h = spread_hist(nvalues);

	e = &mt->entries[1];
	e->metric = dup("vus");
	e->tags = dup("flow=read\ngroup=checkout");
	e->gauge = 250;

	e = &mt->entries[2];
	e->metric = dup("http_req_waiting");
	e->method = dup("POST");
	e->status_class = 5;
	e->h = hist_new();
	if (e->h == NULL)
		abort();
}

static void test_metrics(void)
{
	wire_msg in, out;
	make_metrics(&in, 20000);
	CHECK_EQ_INT(roundtrip(&in, &out), HERD_OK);
	CHECK_EQ_INT(out.type, WIRE_METRICS);
	wire_metrics *a = &in.u.metrics, *b = &out.u.metrics;
	CHECK_EQ_STR(b->agent_id, "agent-1");
	CHECK_EQ_STR(b->run_id, "run-42");
	CHECK_EQ_INT(b->seq, 17);
	CHECK_EQ_INT(b->interval_ms, 16000);
	CHECK_EQ_INT(b->nentries, 3);
	for (uint32_t i = 0; i < 3 && i < b->nentries; i++) {
		wire_entry *x = &a->entries[i], *y = &b->entries[i];
		CHECK_EQ_STR(y->metric, x->metric);
		CHECK_EQ_STR(y->scenario, x->scenario ? x->scenario : "");
		CHECK_EQ_STR(y->name, x->name ? x->name : "");
		CHECK_EQ_STR(y->method, x->method ? x->method : "");
		CHECK_EQ_STR(y->tags, x->tags ? x->tags : "");
		CHECK_EQ_INT(y->status_class, x->status_class);
		CHECK_EQ_INT(y->count, x->count);
		for (int k = 0; k < ERRK__N; k++)
			CHECK_EQ_INT(y->errors[k], x->errors[k]);
		CHECK_EQ_INT(y->bytes_in, x->bytes_in);
		CHECK_EQ_INT(y->bytes_out, x->bytes_out);
		CHECK_EQ_INT(y->gauge, x->gauge);
		CHECK((x->h == NULL) == (y->h == NULL));
		if (x->h == NULL || y->h == NULL)
			continue;
		CHECK(y->h->total == x->h->total);
		CHECK(y->h->sum == x->h->sum);
		CHECK(y->h->min == x->h->min);
		CHECK(y->h->max == x->h->max);
		CHECK(memcmp(y->h->counts, x->h->counts, sizeof(x->h->counts)) == 0);
		static const double ps[] = { 50, 90, 99, 99.9 };
		for (int p = 0; p < 4; p++)
			CHECK_EQ_INT(hist_percentile(y->h, ps[p]), hist_percentile(x->h, ps[p]));
	}
	/* The spread histogram really covers 1 µs .. 1 h. */
	CHECK_EQ_INT(b->entries[0].h->min, 1);
	CHECK_EQ_INT(b->entries[0].h->max, 3600000000u);
	CHECK(hist_percentile(b->entries[0].h, 50) > 1000);
	CHECK_EQ_INT(b->entries[0].h->total, 20002);
	CHECK(b->entries[1].h == NULL);
	CHECK(b->entries[2].h != NULL && b->entries[2].h->total == 0);
	wire_msg_fini(&in);
	wire_msg_fini(&out);
}

/* Enough entries that the decoder's array grows several times. */
static void test_many_entries(void)
{
	enum { N = 1000 };
	wire_msg in = { .type = WIRE_METRICS }, out;
	wire_entry *e = calloc(N, sizeof(*e));
	if (e == NULL)
		abort();
	char name[32];
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "step-%d", i);
		e[i].name = dup(name);
		e[i].count = (uint64_t)i * 3;
		if (i % 7 == 0) {
			e[i].h = hist_new();
			hist_record_n(e[i].h, (uint64_t)i * 1000, 3);
		}
	}
	in.u.metrics.entries = e;
	in.u.metrics.nentries = N;
	CHECK_EQ_INT(roundtrip(&in, &out), HERD_OK);
	CHECK_EQ_INT(out.u.metrics.nentries, N);
	int wrong = 0;
	for (uint32_t i = 0; i < out.u.metrics.nentries && i < N; i++) {
		wire_entry *y = &out.u.metrics.entries[i];
		snprintf(name, sizeof(name), "step-%u", i);
		if (strcmp(y->name, name) != 0 || y->count != (uint64_t)i * 3 ||
		    (y->h != NULL) != (i % 7 == 0) ||
		    (y->h != NULL && hist_percentile(y->h, 50) != hist_percentile(e[i].h, 50)))
			wrong++;
	}
	CHECK_EQ_INT(wrong, 0);
	wire_msg_fini(&in);
	wire_msg_fini(&out);
}

/* Encoding refuses what decoding would refuse. */
static void test_encode_invalid(void)
{
	char *buf = NULL;
	size_t len = 0;
	wire_msg m = { .type = 0 };
	CHECK_EQ_INT(wire_encode(&m, &buf, &len), HERD_EINVAL);
	m.type = WIRE__NTYPES;
	CHECK_EQ_INT(wire_encode(&m, &buf, &len), HERD_EINVAL);

	double w[] = { 1, NAN };
	m.type = WIRE_ASSIGN;
	m.u.assign.nweights = 1;
	m.u.assign.weights = w;
	m.u.assign.agent_index = 1;
	CHECK_EQ_INT(wire_encode(&m, &buf, &len), HERD_EINVAL);
	m.u.assign.agent_index = 1;
	m.u.assign.nweights = 2;
	CHECK_EQ_INT(wire_encode(&m, &buf, &len), HERD_EINVAL);
	w[1] = -0.5;
	CHECK_EQ_INT(wire_encode(&m, &buf, &len), HERD_EINVAL);
	w[1] = 0.5;
	CHECK_EQ_INT(wire_encode(&m, &buf, &len), HERD_OK);
	free(buf);

	/* A message larger than WIRE_MAX_MSG. */
	size_t big = WIRE_MAX_MSG + 1;
	char *plan = malloc(big + 1);
	if (plan == NULL)
		abort();
	memset(plan, 'x', big);
	plan[big] = '\0';
	m.u.assign.plan_text = plan;
	CHECK_EQ_INT(wire_encode(&m, &buf, &len), HERD_EINVAL);
	free(plan);

	memset(&m, 0, sizeof(m));
	m.type = WIRE_METRICS;
	m.u.metrics.nentries = 1;
	CHECK_EQ_INT(wire_encode(&m, &buf, &len), HERD_EINVAL);
	wire_entry e = { 0 };
	m.u.metrics.entries = &e;
	m.u.metrics.nentries = 1000001;
	CHECK_EQ_INT(wire_encode(&m, &buf, &len), HERD_EINVAL);

	/* Histograms whose counts do not add up, or whose min is in no bucket. */
	m.u.metrics.nentries = 1;
	e.h = hist_new();
	if (e.h == NULL)
		abort();
	hist_record(e.h, 100);
	e.h->total++;
	CHECK_EQ_INT(wire_encode(&m, &buf, &len), HERD_EINVAL);
	e.h->total--;
	e.h->min = 5000;
	CHECK_EQ_INT(wire_encode(&m, &buf, &len), HERD_EINVAL);
	e.h->min = 100;
	CHECK_EQ_INT(wire_encode(&m, &buf, &len), HERD_OK);
	free(buf);
	hist_free(e.h);
}

/* ---------------------------------------------------------------------- */
/* Hand-made messages */

static void pk_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* How a hand-made field's value is written: by a function given the packer,
 * or left out of the message when the function is NULL. */
typedef void (*put_fn)(msgpack_packer *pk);

/* Packs a HELLO with version v; the field named alt (if any) is written by
 * put, or left out when put is NULL. */
static void pack_hello(msgpack_sbuffer *sb, uint64_t v, const char *alt, put_fn put)
{
	static const char *const keys[] = { "v",     "t",    "agent", "name", "host",   "version",
		                                "caps",  "nonce", "cores", "pid", "clock" };
	msgpack_packer pk;
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	size_t n = sizeof(keys) / sizeof(keys[0]);
	bool omit = alt != NULL && put == NULL;
	msgpack_pack_map(&pk, omit ? n - 1 : n);
	for (size_t i = 0; i < n; i++) {
		if (alt != NULL && strcmp(keys[i], alt) == 0) {
			if (put != NULL) {
				pk_str(&pk, keys[i]);
				put(&pk);
			}
			continue;
		}
		pk_str(&pk, keys[i]);
		if (i == 0)
			msgpack_pack_uint64(&pk, v);
		else if (i == 1)
			pk_str(&pk, "HELLO");
		else if (i < 8)
			pk_str(&pk, "x");
		else
			msgpack_pack_uint32(&pk, 7);
	}
}

static int hello_rv(uint64_t v, const char *alt, put_fn put)
{
	msgpack_sbuffer sb;
	pack_hello(&sb, v, alt, put);
	int rv = decode_rv(sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return rv;
}

/* Histogram parts for hand-made METRICS; g_hist_raw, when set, replaces the
 * histogram value entirely. */
static uint64_t g_total, g_sum, g_min, g_max;
static const uint64_t *g_buckets;
static size_t g_nbuckets; /* elements, that is pairs * 2 */
static put_fn g_hist_raw;
/* The field of the first entry to replace (or leave out) and how. */
static const char *g_entry_alt;
static put_fn g_entry_put;
/* How many entries the entries array claims and how many are written. */
static uint32_t g_claim = 2, g_write = 2;

static void put_hist(msgpack_packer *pk)
{
	if (g_hist_raw != NULL) {
		g_hist_raw(pk);
		return;
	}
	msgpack_pack_array(pk, 5);
	msgpack_pack_uint64(pk, g_total);
	msgpack_pack_uint64(pk, g_sum);
	msgpack_pack_uint64(pk, g_min);
	msgpack_pack_uint64(pk, g_max);
	msgpack_pack_array(pk, g_nbuckets);
	for (size_t i = 0; i < g_nbuckets; i++)
		msgpack_pack_uint64(pk, g_buckets[i]);
}

static void pack_entry(msgpack_packer *pk, bool first)
{
	static const char *const keys[] = { "metric", "scen", "name", "method", "status", "count",
		                                "errs",   "in",   "out",  "gauge",  "hist" };
	size_t n = sizeof(keys) / sizeof(keys[0]);
	const char *alt = first ? g_entry_alt : NULL;
	bool omit = alt != NULL && g_entry_put == NULL;
	msgpack_pack_map(pk, omit ? n - 1 : n);
	for (size_t i = 0; i < n; i++) {
		if (alt != NULL && strcmp(keys[i], alt) == 0) {
			if (g_entry_put != NULL) {
				pk_str(pk, keys[i]);
				g_entry_put(pk);
			}
			continue;
		}
		pk_str(pk, keys[i]);
		if (i < 4) {
			pk_str(pk, "m");
		} else if (i == 6) {
			msgpack_pack_map(pk, 1);
			pk_str(pk, "timeout");
			msgpack_pack_uint32(pk, 2);
		} else if (i == 10) {
			put_hist(pk);
		} else {
			msgpack_pack_uint32(pk, 9);
		}
	}
}

/* Packs a METRICS of g_write entries (claiming g_claim), shaped by the g_*
 * settings above. */
static void pack_metrics(msgpack_sbuffer *sb)
{
	msgpack_packer pk;
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 7);
	pk_str(&pk, "v");
	msgpack_pack_uint32(&pk, WIRE_VERSION);
	pk_str(&pk, "t");
	pk_str(&pk, "METRICS");
	pk_str(&pk, "entries");
	msgpack_pack_array(&pk, g_claim);
	for (uint32_t i = 0; i < g_write; i++)
		pack_entry(&pk, i == 0);
	pk_str(&pk, "agent");
	pk_str(&pk, "a");
	pk_str(&pk, "run");
	pk_str(&pk, "r");
	pk_str(&pk, "seq");
	msgpack_pack_uint32(&pk, 1);
	pk_str(&pk, "interval");
	msgpack_pack_int32(&pk, -5);
}

/* Decodes a hand-made METRICS; on success also hands back the message. */
static int metrics_rv_msg(wire_msg *out)
{
	msgpack_sbuffer sb;
	pack_metrics(&sb);
	wire_msg m;
	int rv = decode_exact(sb.data, sb.size, &m);
	msgpack_sbuffer_destroy(&sb);
	if (out != NULL)
		*out = m;
	else
		wire_msg_fini(&m);
	return rv;
}

static int metrics_rv(void)
{
	return metrics_rv_msg(NULL);
}

/* Sets the histogram of hand-made METRICS (pairs given as delta, count). */
static void set_hist(uint64_t total, uint64_t sum, uint64_t min, uint64_t max,
                     const uint64_t *b, size_t n)
{
	g_total = total;
	g_sum = sum;
	g_min = min;
	g_max = max;
	g_buckets = b;
	g_nbuckets = n;
	g_hist_raw = NULL;
}

static void metrics_defaults(void)
{
	static const uint64_t ok[] = { 3, 1, 2, 2 }; /* buckets 3 (x1) and 5 (x2) */
	set_hist(3, 13, 3, 5, ok, 4);
	g_entry_alt = NULL;
	g_entry_put = NULL;
	g_claim = g_write = 2;
}

static void put_nil(msgpack_packer *pk) { msgpack_pack_nil(pk); }
static void put_neg(msgpack_packer *pk) { msgpack_pack_int32(pk, -1); }
static void put_big(msgpack_packer *pk) { msgpack_pack_uint64(pk, 1ull << 32); }
static void put_u64max(msgpack_packer *pk) { msgpack_pack_uint64(pk, UINT64_MAX); }
static void put_str_x(msgpack_packer *pk) { pk_str(pk, "7"); }
static void put_bin(msgpack_packer *pk) { msgpack_pack_bin_with_body(pk, "ab", 2); }
static void put_nul_str(msgpack_packer *pk) { msgpack_pack_str_with_body(pk, "a\0b", 3); }
static void put_float(msgpack_packer *pk) { msgpack_pack_double(pk, 7.0); }
static void put_true(msgpack_packer *pk) { msgpack_pack_true(pk); }
static void put_int8_7(msgpack_packer *pk) { msgpack_pack_fix_int8(pk, 7); }
static void put_arr_nested(msgpack_packer *pk)
{
	for (int i = 0; i < 5; i++)
		msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 1);
	msgpack_pack_ext_with_body(pk, "1234", 4, 5);
	msgpack_pack_float(pk, 1.5f);
}

static void test_version(void)
{
	wire_msg m;
	msgpack_sbuffer sb;
	pack_hello(&sb, WIRE_VERSION + 1, NULL, NULL);
	CHECK_EQ_INT(decode_exact(sb.data, sb.size, &m), HERD_EVERSION);
	CHECK_EQ_INT(m.version, WIRE_VERSION + 1);
	CHECK_EQ_INT(m.type, WIRE_HELLO);
	wire_msg_fini(&m);
	msgpack_sbuffer_destroy(&sb);

	/* A later version with a type this one does not know, and fields of any
	 * shape: still a version error, not a malformed message. */
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	pk_str(&pk, "t");
	pk_str(&pk, "HANDSHAKE2");
	pk_str(&pk, "cores");
	pk_str(&pk, "many");
	pk_str(&pk, "v");
	msgpack_pack_uint32(&pk, 300);
	CHECK_EQ_INT(decode_exact(sb.data, sb.size, &m), HERD_EVERSION);
	CHECK_EQ_INT(m.version, 300);
	CHECK_EQ_INT(m.type, 0);
	wire_msg_fini(&m);
	msgpack_sbuffer_destroy(&sb);

	CHECK_EQ_INT(hello_rv(0, NULL, NULL), HERD_EVERSION);
	CHECK_EQ_INT(hello_rv(WIRE_VERSION, NULL, NULL), HERD_OK);
	CHECK_EQ_INT(hello_rv(1ull << 32, NULL, NULL), HERD_EPROTO);
	CHECK_EQ_INT(hello_rv(WIRE_VERSION, "v", NULL), HERD_EPROTO);
	CHECK_EQ_INT(hello_rv(WIRE_VERSION, "v", put_str_x), HERD_EPROTO);
	CHECK_EQ_INT(hello_rv(WIRE_VERSION, "v", put_neg), HERD_EPROTO);
}

static void test_fields(void)
{
	/* Missing and mistyped fields. */
	CHECK_EQ_INT(hello_rv(WIRE_VERSION, "t", NULL), HERD_EPROTO);
	CHECK_EQ_INT(hello_rv(WIRE_VERSION, "t", put_nil), HERD_EPROTO);
	CHECK_EQ_INT(hello_rv(WIRE_VERSION, "agent", NULL), HERD_EPROTO);
	CHECK_EQ_INT(hello_rv(WIRE_VERSION, "clock", NULL), HERD_EPROTO);
	CHECK_EQ_INT(hello_rv(WIRE_VERSION, "cores", put_str_x), HERD_EPROTO);
	CHECK_EQ_INT(hello_rv(WIRE_VERSION, "cores", put_neg), HERD_EPROTO);
	CHECK_EQ_INT(hello_rv(WIRE_VERSION, "cores", put_big), HERD_EPROTO);
	CHECK_EQ_INT(hello_rv(WIRE_VERSION, "cores", put_float), HERD_EPROTO);
	CHECK_EQ_INT(hello_rv(WIRE_VERSION, "cores", put_true), HERD_EPROTO);
	CHECK_EQ_INT(hello_rv(WIRE_VERSION, "cores", put_nil), HERD_EPROTO);
	CHECK_EQ_INT(hello_rv(WIRE_VERSION, "clock", put_u64max), HERD_EPROTO);
	CHECK_EQ_INT(hello_rv(WIRE_VERSION, "host", put_nul_str), HERD_EPROTO);
	CHECK_EQ_INT(hello_rv(WIRE_VERSION, "host", put_bin), HERD_EPROTO);
	CHECK_EQ_INT(hello_rv(WIRE_VERSION, "host", put_big), HERD_EPROTO);
	/* Accepted: signed encoding of a non-negative value, negative int64. */
	CHECK_EQ_INT(hello_rv(WIRE_VERSION, "cores", put_int8_7), HERD_OK);
	CHECK_EQ_INT(hello_rv(WIRE_VERSION, "clock", put_neg), HERD_OK);

	/* Unknown extra keys are ignored, whatever their shape. */
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	pk_str(&pk, "future");
	put_arr_nested(&pk);
	pk_str(&pk, "v");
	msgpack_pack_uint32(&pk, WIRE_VERSION);
	pk_str(&pk, "t");
	pk_str(&pk, "ACK");
	pk_str(&pk, "seq");
	msgpack_pack_uint64(&pk, 99);
	pk_str(&pk, "run");
	pk_str(&pk, "r");
	wire_msg m;
	CHECK_EQ_INT(decode_exact(sb.data, sb.size, &m), HERD_OK);
	CHECK_EQ_INT(m.type, WIRE_ACK);
	CHECK_EQ_INT(m.u.ack.seq, 99);
	CHECK_EQ_STR(m.u.ack.run_id, "r");
	wire_msg_fini(&m);

	/* A float may come as a float32 or an integer. */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 9);
	pk_str(&pk, "v");
	msgpack_pack_uint32(&pk, WIRE_VERSION);
	pk_str(&pk, "t");
	pk_str(&pk, "POLL");
	pk_str(&pk, "started");
	msgpack_pack_int64(&pk, 0);
	pk_str(&pk, "offset");
	msgpack_pack_int64(&pk, -1);
	pk_str(&pk, "rtt");
	msgpack_pack_int64(&pk, 1);
	pk_str(&pk, "agent");
	pk_str(&pk, "a");
	pk_str(&pk, "run");
	pk_str(&pk, "");
	pk_str(&pk, "rss_kb");
	msgpack_pack_uint32(&pk, 1);
	pk_str(&pk, "cpu");
	size_t cpu_at = sb.size;
	msgpack_pack_float(&pk, 2.5f);
	CHECK_EQ_INT(decode_exact(sb.data, sb.size, &m), HERD_OK);
	CHECK(m.u.poll.cpu_pct == 2.5);
	wire_msg_fini(&m);
	sb.size = cpu_at;
	msgpack_pack_int8(&pk, -3);
	CHECK_EQ_INT(decode_exact(sb.data, sb.size, &m), HERD_OK);
	CHECK(m.u.poll.cpu_pct == -3.0);
	wire_msg_fini(&m);
	sb.size = cpu_at;
	pk_str(&pk, "1.5");
	CHECK_EQ_INT(decode_rv(sb.data, sb.size), HERD_EPROTO);
	msgpack_sbuffer_destroy(&sb);

	/* An unknown type, a duplicate key, a key that is not a string, and a
	 * top level that is not a map. */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	pk_str(&pk, "v");
	msgpack_pack_uint32(&pk, WIRE_VERSION);
	pk_str(&pk, "t");
	pk_str(&pk, "HELO");
	CHECK_EQ_INT(decode_rv(sb.data, sb.size), HERD_EPROTO);
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 4);
	pk_str(&pk, "v");
	msgpack_pack_uint32(&pk, WIRE_VERSION);
	pk_str(&pk, "t");
	pk_str(&pk, "STOP");
	pk_str(&pk, "run");
	pk_str(&pk, "r");
	pk_str(&pk, "run");
	pk_str(&pk, "r");
	CHECK_EQ_INT(decode_rv(sb.data, sb.size), HERD_EPROTO);
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 3);
	pk_str(&pk, "v");
	msgpack_pack_uint32(&pk, WIRE_VERSION);
	pk_str(&pk, "t");
	pk_str(&pk, "NOP");
	msgpack_pack_uint32(&pk, 5);
	msgpack_pack_uint32(&pk, 5);
	CHECK_EQ_INT(decode_rv(sb.data, sb.size), HERD_EPROTO);
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 2);
	pk_str(&pk, "v");
	msgpack_pack_uint32(&pk, WIRE_VERSION);
	pk_str(&pk, "t");
	pk_str(&pk, "NOP");
	CHECK_EQ_INT(decode_rv(sb.data, sb.size), HERD_OK);
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint32(&pk, 1);
	pk_str(&pk, "NOP");
	CHECK_EQ_INT(decode_rv(sb.data, sb.size), HERD_EPROTO);
	msgpack_sbuffer_destroy(&sb);
}

static void test_entries(void)
{
	wire_msg m;
	metrics_defaults();
	CHECK_EQ_INT(metrics_rv_msg(&m), HERD_OK);
	CHECK_EQ_INT(m.u.metrics.nentries, 2);
	CHECK_EQ_INT(m.u.metrics.interval_ms, -5);
	CHECK(m.u.metrics.nentries == 2 && m.u.metrics.entries[1].h != NULL &&
	      m.u.metrics.entries[1].h->counts[5] == 2);
	CHECK(m.u.metrics.nentries == 2 && m.u.metrics.entries[0].errors[ERRK_TIMEOUT] == 2);
	wire_msg_fini(&m);

	/* No histogram: nil or absent. */
	g_entry_alt = "hist";
	g_entry_put = put_nil;
	CHECK_EQ_INT(metrics_rv_msg(&m), HERD_OK);
	CHECK(m.u.metrics.nentries == 2 && m.u.metrics.entries[0].h == NULL);
	wire_msg_fini(&m);
	g_entry_put = NULL;
	CHECK_EQ_INT(metrics_rv_msg(&m), HERD_OK);
	CHECK(m.u.metrics.nentries == 2 && m.u.metrics.entries[0].h == NULL);
	wire_msg_fini(&m);

	/* Other fields are required and typed. */
	g_entry_alt = "count";
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	g_entry_alt = "metric";
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	g_entry_put = put_neg;
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	g_entry_alt = "gauge";
	CHECK_EQ_INT(metrics_rv(), HERD_OK);
	g_entry_put = put_str_x;
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	g_entry_alt = "errs";
	g_entry_put = put_nil;
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	metrics_defaults();
}

/* Error kinds: unknown names go to "other", a kind given twice adds up. */
static void put_errs_future(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 5);
	pk_str(pk, "timeout");
	msgpack_pack_uint32(pk, 3);
	pk_str(pk, "quic_handshake");
	msgpack_pack_uint32(pk, 4);
	pk_str(pk, "other");
	msgpack_pack_uint32(pk, 1);
	pk_str(pk, "timeout");
	msgpack_pack_uint32(pk, 10);
	pk_str(pk, "dns");
	msgpack_pack_uint32(pk, 6);
}

static void put_errs_overflow(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 2);
	pk_str(pk, "x");
	msgpack_pack_uint64(pk, UINT64_MAX);
	pk_str(pk, "y");
	msgpack_pack_uint64(pk, 1);
}

static void put_errs_intkey(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 1);
	msgpack_pack_uint32(pk, 1);
	msgpack_pack_uint32(pk, 1);
}

static void put_errs_neg(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 1);
	pk_str(pk, "tls");
	msgpack_pack_int32(pk, -4);
}

static void test_errors_map(void)
{
	wire_msg m;
	metrics_defaults();
	g_entry_alt = "errs";
	g_entry_put = put_errs_future;
	CHECK_EQ_INT(metrics_rv_msg(&m), HERD_OK);
	if (m.u.metrics.nentries == 2) {
		uint64_t *e = m.u.metrics.entries[0].errors;
		CHECK_EQ_INT(e[ERRK_TIMEOUT], 13);
		CHECK_EQ_INT(e[ERRK_OTHER], 5);
		CHECK_EQ_INT(e[ERRK_DNS], 6);
		CHECK_EQ_INT(e[ERRK_TLS], 0);
	}
	wire_msg_fini(&m);
	g_entry_put = put_errs_overflow;
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	g_entry_put = put_errs_intkey;
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	g_entry_put = put_errs_neg;
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	metrics_defaults();
}

static void put_hist_short(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 4);
	for (int i = 0; i < 4; i++)
		msgpack_pack_uint32(pk, 0);
}

static void put_hist_map(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 0);
}

static void test_hist_validation(void)
{
	metrics_defaults();
	CHECK_EQ_INT(metrics_rv(), HERD_OK);

	uint64_t b[8];
	/* An index out of range: the last bucket is fine, one past it is not. */
	b[0] = HIST_NBUCKETS - 1;
	b[1] = 1;
	set_hist(1, HIST_MAX_US, HIST_MAX_US, HIST_MAX_US, b, 2);
	CHECK_EQ_INT(metrics_rv(), HERD_OK);
	b[0] = HIST_NBUCKETS;
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	b[0] = UINT64_MAX;
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	/* Deltas that walk past the end. */
	b[0] = HIST_NBUCKETS - 1;
	b[2] = 1;
	b[3] = 1;
	set_hist(2, 0, HIST_MAX_US, HIST_MAX_US, b, 4);
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	/* A repeated bucket (delta 0 after the first). */
	b[0] = 3;
	b[1] = 1;
	b[2] = 0;
	b[3] = 1;
	set_hist(2, 6, 3, 3, b, 4);
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	/* Counts not adding up to the total, either way. */
	b[2] = 2;
	set_hist(3, 0, 3, 5, b, 4);
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	set_hist(1, 0, 3, 5, b, 4);
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	set_hist(2, 8, 3, 5, b, 4);
	CHECK_EQ_INT(metrics_rv(), HERD_OK);
	/* min > max; min or max outside the nonzero buckets. */
	set_hist(2, 8, 5, 3, b, 4);
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	set_hist(2, 8, 2, 5, b, 4);
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	set_hist(2, 8, 3, 6, b, 4);
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	/* A count that does not fit in uint32, a zero count, odd pair list. */
	b[1] = 1ull << 32;
	set_hist((1ull << 32) + 1, 0, 3, 5, b, 4);
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	b[1] = 0;
	set_hist(1, 0, 5, 5, b, 4);
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	b[1] = UINT32_MAX;
	set_hist((uint64_t)UINT32_MAX + 1, 0, 3, 5, b, 4);
	CHECK_EQ_INT(metrics_rv(), HERD_OK);
	set_hist((uint64_t)UINT32_MAX + 1, 0, 3, 5, b, 3);
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	/* An empty histogram with buckets. */
	set_hist(0, 0, UINT64_MAX, 0, b, 2);
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	set_hist(0, 0, UINT64_MAX, 0, b, 0);
	CHECK_EQ_INT(metrics_rv(), HERD_OK);
	/* Wrong shapes. */
	g_hist_raw = put_hist_short;
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	g_hist_raw = put_hist_map;
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	g_hist_raw = put_str_x;
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	metrics_defaults();
}

/* A histogram refused by the decoder is freed with its entry; when freed
 * histograms are kept (hist_reuse), it must come back empty: its buckets
 * may lie outside its span (an empty total with buckets, a bucket read
 * before a later one was refused), which is all hist_free empties. */
static void test_hist_refused_reuse(void)
{
	hist_reuse(64);
	test_hist_validation();
	size_t kept = hist_reuse_kept();
	CHECK(kept > 0);
	hist **hs = calloc(kept, sizeof(*hs));
	CHECK(hs != NULL);
	for (size_t k = 0; hs != NULL && k < kept; k++) {
		hs[k] = hist_new();
		CHECK(hs[k] != NULL && hs[k]->total == 0 && hs[k]->min == UINT64_MAX);
		for (uint32_t i = 0; hs[k] != NULL && i < HIST_NBUCKETS; i++)
			if (hs[k]->counts[i] != 0) {
				fprintf(stderr, "kept histogram %zu: bucket %u holds %u\n", k, i, hs[k]->counts[i]);
				CHECK(0);
				break;
			}
	}
	for (size_t k = 0; hs != NULL && k < kept; k++)
		hist_free(hs[k]);
	free(hs);
	hist_reuse(0);
}

static void test_entry_count(void)
{
	metrics_defaults();
	/* The array claims more entries than it holds: the keys after it are
	 * read as entries, or the message ends early. */
	g_claim = 3;
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	g_claim = 6;
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	/* Claims fewer: the second entry's map is read as a key. */
	g_claim = 1;
	CHECK_EQ_INT(metrics_rv(), HERD_EPROTO);
	g_claim = g_write = 0;
	CHECK_EQ_INT(metrics_rv(), HERD_OK);
	metrics_defaults();
}

/* Packs {v:1, t:type, key: [n x nil] } plus the type's other fields. */
static void pack_long_array(msgpack_sbuffer *sb, const char *type, const char *key, size_t n)
{
	msgpack_packer pk;
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	bool assign = strcmp(type, "ASSIGN") == 0;
	msgpack_pack_map(&pk, assign ? 9 : 7);
	pk_str(&pk, "v");
	msgpack_pack_uint32(&pk, WIRE_VERSION);
	pk_str(&pk, "t");
	pk_str(&pk, type);
	static const char *const strs[] = { "run", "plan_file", "plan", "agent" };
	for (int i = assign ? 0 : 3; i < (assign ? 3 : 4); i++) {
		pk_str(&pk, strs[i]);
		pk_str(&pk, "s");
	}
	if (assign) {
		pk_str(&pk, "index");
		msgpack_pack_uint32(&pk, 0);
		pk_str(&pk, "start");
		msgpack_pack_uint32(&pk, 0);
		pk_str(&pk, "interval_ms");
	} else {
		pk_str(&pk, "run");
		pk_str(&pk, "r");
		pk_str(&pk, "seq");
		msgpack_pack_uint32(&pk, 0);
		pk_str(&pk, "interval");
	}
	msgpack_pack_uint32(&pk, 0);
	pk_str(&pk, key);
	msgpack_pack_array(&pk, n);
	for (size_t i = 0; i < n; i++) {
		if (assign)
			msgpack_pack_fix_uint8(&pk, 1);
		else
			msgpack_pack_map(&pk, 0);
	}
}

static int long_array_rv(const char *type, const char *key, size_t n)
{
	msgpack_sbuffer sb;
	pack_long_array(&sb, type, key, n);
	int rv = decode_rv(sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return rv;
}

static void test_hostile(void)
{
	/* Containers claiming 2^32-1 elements with nothing behind them. */
	static const unsigned char arr32[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
	static const unsigned char map32[] = { 0xdf, 0xff, 0xff, 0xff, 0xff };
	static const unsigned char arr16[] = { 0xdc, 0xff, 0xff, 0xc0, 0xc0 };
	CHECK_EQ_INT(decode_rv(arr32, sizeof(arr32)), HERD_EPROTO);
	CHECK_EQ_INT(decode_rv(map32, sizeof(map32)), HERD_EPROTO);
	CHECK_EQ_INT(decode_rv(arr16, sizeof(arr16)), HERD_EPROTO);
	/* The same inside an otherwise valid message, as a known and as an
	 * unknown field. */
	static const unsigned char in_msg[] = { 0x83, 0xa1, 'v', WIRE_VERSION, 0xa1, 't', 0xa3, 'N', 'O', 'P',
		                                    0xa1, 'x', 0xdf, 0xff, 0xff, 0xff, 0xff };
	CHECK_EQ_INT(decode_rv(in_msg, sizeof(in_msg)), HERD_EPROTO);
	CHECK_EQ_INT(decode_rv(in_msg, sizeof(in_msg) - 5), HERD_EPROTO);
	static const unsigned char valid_nop[] = { 0x82, 0xa1, 'v', WIRE_VERSION, 0xa1, 't', 0xa3, 'N', 'O', 'P' };
	CHECK_EQ_INT(decode_rv(valid_nop, sizeof(valid_nop)), HERD_OK);
	static const unsigned char entries[] = { 0x85, 0xa1, 'v', WIRE_VERSION, 0xa1, 't', 0xa7, 'M', 'E', 'T',
		                                     'R', 'I', 'C', 'S', 0xa7, 'e', 'n', 't', 'r', 'i', 'e',
		                                     's', 0xdd, 0xff, 0xff, 0xff, 0xff };
	CHECK_EQ_INT(decode_rv(entries, sizeof(entries)), HERD_EPROTO);

	/* Nesting 10,000 deep, alone and as an unknown field; 20 deep is fine. */
	size_t deep = 10000;
	unsigned char *d = malloc(deep + 16);
	if (d == NULL)
		abort();
	memset(d, 0x91, deep);
	d[deep] = 0xc0;
	CHECK_EQ_INT(decode_rv(d, deep + 1), HERD_EPROTO);
	memcpy(d, valid_nop, sizeof(valid_nop));
	d[0] = 0x83;
	d[sizeof(valid_nop)] = 0xa1;
	d[sizeof(valid_nop) + 1] = 'x';
	CHECK_EQ_INT(decode_rv(d, deep + 1), HERD_EPROTO);
	memset(d + sizeof(valid_nop) + 2, 0x91, 20);
	d[sizeof(valid_nop) + 22] = 0xc0;
	CHECK_EQ_INT(decode_rv(d, sizeof(valid_nop) + 23), HERD_OK);
	free(d);

	/* A str32 and a bin32 longer than the buffer; a str32 as a field. */
	static const unsigned char str32[] = { 0xdb, 0x7f, 0xff, 0xff, 0xff, 'a', 'b' };
	static const unsigned char bin32[] = { 0xc6, 0xff, 0xff, 0xff, 0xff, 'a', 'b' };
	static const unsigned char ext32[] = { 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 'a' };
	CHECK_EQ_INT(decode_rv(str32, sizeof(str32)), HERD_EPROTO);
	CHECK_EQ_INT(decode_rv(bin32, sizeof(bin32)), HERD_EPROTO);
	CHECK_EQ_INT(decode_rv(ext32, sizeof(ext32)), HERD_EPROTO);
	static const unsigned char str_field[] = { 0x83, 0xa1, 'v', WIRE_VERSION, 0xa1, 't', 0xa4, 'S', 'T', 'O',
		                                       'P', 0xa3, 'r', 'u', 'n', 0xdb, 0x00, 0x10, 0x00, 0x00,
		                                       'r' };
	CHECK_EQ_INT(decode_rv(str_field, sizeof(str_field)), HERD_EPROTO);

	/* A huge bin: a real 1 MiB bin as an unknown field is fine; bigger
	 * than WIRE_MAX_MSG as a whole is refused before it is read. */
	size_t big = (1u << 20) + 64;
	unsigned char *b = calloc(1, big);
	if (b == NULL)
		abort();
	memcpy(b, valid_nop, sizeof(valid_nop));
	b[0] = 0x83;
	size_t o = sizeof(valid_nop);
	b[o++] = 0xa1;
	b[o++] = 'x';
	b[o++] = 0xc6;
	uint32_t bl = (uint32_t)(big - o - 4);
	b[o++] = (unsigned char)(bl >> 24);
	b[o++] = (unsigned char)(bl >> 16);
	b[o++] = (unsigned char)(bl >> 8);
	b[o++] = (unsigned char)bl;
	CHECK_EQ_INT(decode_rv(b, big), HERD_OK);
	CHECK_EQ_INT(decode_rv(b, big - 1), HERD_EPROTO);
	free(b);
	size_t huge = (size_t)WIRE_MAX_MSG + 1;
	b = calloc(1, huge);
	if (b == NULL)
		abort();
	memcpy(b, valid_nop, sizeof(valid_nop));
	wire_msg m;
	CHECK_EQ_INT(wire_decode((const char *)b, huge, &m), HERD_EPROTO);
	/* Exactly WIRE_MAX_MSG is allowed in size; this one fails only for the
	 * trailing zero bytes. */
	CHECK_EQ_INT(wire_decode((const char *)b, huge - 1, &m), HERD_EPROTO);
	free(b);

	/* Trailing bytes after a valid message; the reserved byte 0xc1. */
	unsigned char tail[sizeof(valid_nop) + 1];
	memcpy(tail, valid_nop, sizeof(valid_nop));
	tail[sizeof(valid_nop)] = 0xc0;
	CHECK_EQ_INT(decode_rv(tail, sizeof(tail)), HERD_EPROTO);
	static const unsigned char c1[] = { 0xc1 };
	CHECK_EQ_INT(decode_rv(c1, 1), HERD_EPROTO);
	CHECK_EQ_INT(decode_rv(c1, 0), HERD_EPROTO);
	CHECK_EQ_INT(wire_decode(NULL, 0, &m), HERD_EPROTO);

	/* Too many entries or weights, though every element is there, are
	 * refused before any is read; at the bound, weights are read. (No
	 * million valid entries fit in WIRE_MAX_MSG, so for entries the bound
	 * is a second line of defence and the 1,000-entry case fails on the
	 * fields the empty entries lack.) */
	CHECK_EQ_INT(long_array_rv("METRICS", "entries", 1000001), HERD_EPROTO);
	CHECK_EQ_INT(long_array_rv("METRICS", "entries", 1000), HERD_EPROTO); /* empty maps */
	CHECK_EQ_INT(long_array_rv("ASSIGN", "weights", 100001), HERD_EPROTO);
	CHECK_EQ_INT(long_array_rv("ASSIGN", "weights", 100000), HERD_OK);
	CHECK_EQ_INT(long_array_rv("ASSIGN", "weights", 0), HERD_EPROTO);
}

/* An ASSIGN whose agent_index names no weight, or whose weights are bad. */
static void test_assign_hostile(void)
{
	double w[] = { 1.0 };
	wire_msg in = { .type = WIRE_ASSIGN }, out;
	in.u.assign.nweights = 1;
	in.u.assign.weights = w;
	char *buf;
	size_t len;
	CHECK_EQ_INT(wire_encode(&in, &buf, &len), HERD_OK);
	/* The encoding ends with ... "weights" [1.0] ...; find the double and
	 * make it NaN, then infinite, then negative. */
	size_t at = 0;
	for (size_t i = 0; i + 9 <= len; i++)
		if ((unsigned char)buf[i] == 0xcb && (unsigned char)buf[i + 1] == 0x3f &&
		    (unsigned char)buf[i + 2] == 0xf0)
			at = i;
	CHECK(at > 0);
	CHECK_EQ_INT(decode_exact(buf, len, &out), HERD_OK);
	wire_msg_fini(&out);
	static const unsigned char bad[][8] = { { 0x7f, 0xf8, 0, 0, 0, 0, 0, 0 },
		                                    { 0x7f, 0xf0, 0, 0, 0, 0, 0, 0 },
		                                    { 0xbf, 0xf0, 0, 0, 0, 0, 0, 0 } };
	for (int i = 0; i < 3 && at > 0; i++) {
		memcpy(buf + at + 1, bad[i], 8);
		CHECK_EQ_INT(decode_rv(buf, len), HERD_EPROTO);
	}
	free(buf);
}

/* ---------------------------------------------------------------------- */
/* Truncated, corrupted and random bytes */

/* Decodes bytes expected to be anything; returns the result. When the
 * decode succeeds, what came out must encode again and decode to the same. */
static int decode_any(const void *bytes, size_t len, int *bad)
{
	wire_msg m;
	int rv = decode_exact(bytes, len, &m);
	if (rv != HERD_OK && rv != HERD_EPROTO && rv != HERD_EVERSION)
		(*bad)++;
	if (rv == HERD_OK) {
		wire_msg again;
		if (roundtrip(&m, &again) != HERD_OK || again.type != m.type)
			(*bad)++;
		wire_msg_fini(&again);
	}
	wire_msg_fini(&m);
	return rv;
}

static void test_truncations(void)
{
	wire_msg in;
	make_metrics(&in, 500);
	char *buf;
	size_t len;
	CHECK_EQ_INT(wire_encode(&in, &buf, &len), HERD_OK);
	wire_msg_fini(&in);
	size_t accepted = 0;
	for (size_t n = 0; n < len; n++) {
		wire_msg m;
		if (decode_exact(buf, n, &m) == HERD_OK)
			accepted++;
		wire_msg_fini(&m);
	}
	CHECK_EQ_INT(accepted, 0);
	CHECK_EQ_INT(decode_rv(buf, len), HERD_OK);
	free(buf);
}

static void test_corruptions(void)
{
	wire_msg in;
	make_metrics(&in, 500);
	char *buf;
	size_t len;
	CHECK_EQ_INT(wire_encode(&in, &buf, &len), HERD_OK);
	wire_msg_fini(&in);
	int bad = 0;
	size_t ok = 0, refused = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char orig = (unsigned char)buf[i];
		unsigned char vals[] = { orig ^ 0x01, orig ^ 0x80, orig ^ 0x10, 0x00, 0xff,
			                     0xc1,        0xdd,        0xdf,        0x7f };
		for (size_t j = 0; j < sizeof(vals); j++) {
			if (vals[j] == orig)
				continue;
			buf[i] = (char)vals[j];
			if (decode_any(buf, len, &bad) == HERD_OK)
				ok++;
			else
				refused++;
		}
		buf[i] = (char)orig;
	}
	CHECK_EQ_INT(bad, 0);
	/* Most corruptions are caught, and some land in values and pass. */
	CHECK(refused > ok);
	CHECK(ok > 0);
	free(buf);
}

static void test_random(void)
{
	static const unsigned char prefix[] = { 0x86, 0xa1, 'v', WIRE_VERSION, 0xa1, 't', 0xa7,
		                                    'M',  'E',  'T', 'R',  'I',  'C', 'S' };
	unsigned char buf[512];
	int bad = 0;
	size_t ok = 0;
	for (int i = 0; i < 100000; i++) {
		size_t len = rng() % (sizeof(buf) + 1);
		for (size_t j = 0; j < len; j++)
			buf[j] = (unsigned char)rng();
		/* Half start like a real message, to get past the first checks. */
		if (i % 2 && len >= sizeof(prefix))
			memcpy(buf, prefix, sizeof(prefix));
		if (decode_any(buf, len, &bad) == HERD_OK)
			ok++;
	}
	CHECK_EQ_INT(bad, 0);
	printf("random: %zu of 100000 decoded\n", ok);
}

static void test_fini_zeroed(void)
{
	wire_msg m;
	memset(&m, 0, sizeof(m));
	wire_msg_fini(&m);
	wire_msg_fini(NULL);
	CHECK(is_zero(&m, sizeof(m)));
	wire_entry e;
	memset(&e, 0, sizeof(e));
	e.h = hist_new();
	e.metric = dup("m");
	wire_entry_fini(&e);
	CHECK(is_zero(&e, sizeof(e)));
}


/* ---------------------------------------------------------------------- */
/* LOAD: a running scenario's new load, and the agent's ack */

static void test_load(void)
{
	wire_msg in = { .type = WIRE_LOAD }, out;
	in.u.load = (wire_load){ .agent_id = "", .run_id = "r1", .scenario = "find", .seq = 7,
		                     .kind = WIRE_LOAD_RATE, .value = 40.5, .status = 0 };
	CHECK_EQ_INT(roundtrip(&in, &out), HERD_OK);
	CHECK_EQ_INT(out.type, WIRE_LOAD);
	CHECK_EQ_STR(out.u.load.agent_id, "");
	CHECK_EQ_STR(out.u.load.run_id, "r1");
	CHECK_EQ_STR(out.u.load.scenario, "find");
	CHECK(out.u.load.seq == 7);
	CHECK_EQ_INT(out.u.load.kind, WIRE_LOAD_RATE);
	CHECK(out.u.load.value == 40.5);
	CHECK_EQ_INT(out.u.load.status, 0);
	wire_msg_fini(&out);
	CHECK_EQ_STR(wire_type_name(WIRE_LOAD), "LOAD");

	/* The ack: the agent's id, the VUs it now runs, or why it did not. */
	in.u.load = (wire_load){ .agent_id = "a-1", .run_id = "r1", .scenario = "s", .seq = UINT64_MAX,
		                     .kind = WIRE_LOAD_VUS, .value = 25, .status = HERD_EINVAL };
	CHECK_EQ_INT(roundtrip(&in, &out), HERD_OK);
	CHECK_EQ_STR(out.u.load.agent_id, "a-1");
	CHECK(out.u.load.seq == UINT64_MAX);
	CHECK_EQ_INT(out.u.load.kind, WIRE_LOAD_VUS);
	CHECK(out.u.load.value == 25);
	CHECK_EQ_INT(out.u.load.status, HERD_EINVAL);
	wire_msg_fini(&out);

	/* A rate of 0 pauses the arrivals; it is a load like any other. */
	in.u.load.kind = WIRE_LOAD_RATE;
	in.u.load.value = 0;
	CHECK_EQ_INT(roundtrip(&in, &out), HERD_OK);
	wire_msg_fini(&out);

	/* The encoder refuses what the decoder would. */
	char *buf = NULL;
	size_t len = 0;
	const double bad_values[] = { -1, NAN, INFINITY, 1e13 };
	for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
		wire_msg b = in;
		b.u.load.value = bad_values[i];
		CHECK_EQ_INT(wire_encode(&b, &buf, &len), HERD_EINVAL);
	}
	wire_msg b = in;
	b.u.load.kind = WIRE_LOAD_VUS;
	b.u.load.value = 2.5; /* half a VU */
	CHECK_EQ_INT(wire_encode(&b, &buf, &len), HERD_EINVAL);
	b.u.load.value = 3e9; /* more VUs than an int holds */
	CHECK_EQ_INT(wire_encode(&b, &buf, &len), HERD_EINVAL);
	b = in;
	b.u.load.kind = 2;
	CHECK_EQ_INT(wire_encode(&b, &buf, &len), HERD_EINVAL);
	b = in;
	b.u.load.scenario = "";
	CHECK_EQ_INT(wire_encode(&b, &buf, &len), HERD_EINVAL);
	b.u.load.scenario = NULL;
	CHECK_EQ_INT(wire_encode(&b, &buf, &len), HERD_EINVAL);
}

/* A LOAD packed by hand; value_kind: 0 a double, 1 a string, 2 left out;
 * kind and value as given. */
static void pack_load(msgpack_sbuffer *sb, uint32_t kind, double value, int value_kind, const char *scen)
{
	msgpack_packer pk;
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, value_kind == 2 ? 8 : 9);
	const char *keys[] = { "v", "t", "agent", "run", "scen", "seq", "kind", "status" };
	for (int i = 0; i < 8; i++) {
		msgpack_pack_str_with_body(&pk, keys[i], strlen(keys[i]));
		switch (i) {
		case 0: msgpack_pack_uint32(&pk, WIRE_VERSION); break;
		case 1: msgpack_pack_str_with_body(&pk, "LOAD", 4); break;
		case 4: msgpack_pack_str_with_body(&pk, scen, strlen(scen)); break;
		case 5: msgpack_pack_uint64(&pk, 3); break;
		case 6: msgpack_pack_uint32(&pk, kind); break;
		case 7: msgpack_pack_int32(&pk, 0); break;
		default: msgpack_pack_str_with_body(&pk, "x", 1); break;
		}
	}
	if (value_kind == 0) {
		msgpack_pack_str_with_body(&pk, "value", 5);
		msgpack_pack_double(&pk, value);
	} else if (value_kind == 1) {
		msgpack_pack_str_with_body(&pk, "value", 5);
		msgpack_pack_str_with_body(&pk, "40", 2);
	}
}

static void test_load_hostile(void)
{
	msgpack_sbuffer sb;
	pack_load(&sb, WIRE_LOAD_RATE, 40, 0, "s");
	CHECK_EQ_INT(decode_rv(sb.data, sb.size), HERD_OK);
	msgpack_sbuffer_destroy(&sb);
	struct {
		uint32_t kind;
		double value;
		int value_kind;
		const char *scen;
	} bad[] = {
		{ WIRE_LOAD_RATE, 40, 1, "s" },   /* the value is a string */
		{ WIRE_LOAD_RATE, 40, 2, "s" },   /* no value */
		{ WIRE_LOAD_RATE, -40, 0, "s" },  /* negative */
		{ WIRE_LOAD_RATE, NAN, 0, "s" },
		{ WIRE_LOAD_RATE, INFINITY, 0, "s" },
		{ WIRE_LOAD_VUS, 2.5, 0, "s" },   /* half a VU */
		{ WIRE_LOAD_VUS, 1e10, 0, "s" },  /* too many VUs */
		{ 9, 40, 0, "s" },                /* an unknown kind */
		{ WIRE_LOAD_RATE, 40, 0, "" },    /* no scenario */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pack_load(&sb, bad[i].kind, bad[i].value, bad[i].value_kind, bad[i].scen);
		CHECK_EQ_INT(decode_rv(sb.data, sb.size), HERD_EPROTO);
		msgpack_sbuffer_destroy(&sb);
	}

	/* Every truncation of a valid LOAD is refused. */
	wire_msg in = { .type = WIRE_LOAD }, m;
	in.u.load = (wire_load){ .agent_id = "a", .run_id = "r", .scenario = "s", .seq = 1,
		                     .kind = WIRE_LOAD_VUS, .value = 12 };
	char *buf;
	size_t len;
	CHECK_EQ_INT(wire_encode(&in, &buf, &len), HERD_OK);
	size_t accepted = 0;
	for (size_t n = 0; n < len; n++) {
		if (decode_exact(buf, n, &m) == HERD_OK)
			accepted++;
		wire_msg_fini(&m);
	}
	CHECK_EQ_INT(accepted, 0);
	free(buf);
}

int main(void)
{
	test_type_names();
	test_hello();
	test_null_strings();
	test_welcome_poll_nop_ready();
	test_assign();
	test_ack_stop_done_error();
	test_metrics();
	test_many_entries();
	test_encode_invalid();
	test_version();
	test_fields();
	test_entries();
	test_errors_map();
	test_hist_validation();
	test_hist_refused_reuse();
	test_entry_count();
	test_hostile();
	test_assign_hostile();
	test_truncations();
	test_corruptions();
	test_random();
	test_fini_zeroed();
	test_load();
	test_load_hostile();
	return check_done();
}
