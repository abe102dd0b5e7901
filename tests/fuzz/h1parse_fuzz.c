/*
 * libFuzzer target for agent/h1parse. The first input byte chooses a HEAD
 * request and a seed for splitting; the rest is a stream of responses, parsed
 * one after another as a keep-alive connection would (a response that ends
 * early leaves the rest to the next). Each stream is parsed twice, all at
 * once and in pieces chosen by the seed: both must agree on every count and
 * verdict, and counts must add up. Build and run: see tests/fuzz/README.md.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/h1parse.h"
#include "common/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct digest {
	uint64_t sum;   /* of the body bytes handed to the sink */
	uint64_t count; /* body bytes handed to the sink */
} digest;

static void sink(void *arg, const char *data, size_t len)
{
	digest *d = arg;
	for (size_t i = 0; i < len; i++)
		d->sum = d->sum * 31 + (unsigned char)data[i];
	d->count += len;
}

/* Everything one stream produced, response by response, folded into one record. */
typedef struct trace {
	uint64_t fold;
	size_t responses;
	size_t used;
	int last_rv;
} trace;

static void fold(trace *t, uint64_t v)
{
	t->fold = (t->fold ^ v) * UINT64_C(0x100000001b3);
}

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Parses the stream; seed 0 feeds each response all at once. */
static void run(const char *buf, size_t len, int head, uint64_t seed, trace *t)
{
	size_t off = 0;
	memset(t, 0, sizeof(*t));
	while (off < len && t->responses < 64) {
		h1p p;
		digest d = { 0, 0 };
		h1p_init(&p, head);
		h1p_sink(&p, sink, &d, 1000);
		int rv = HERD_OK;
		size_t start = off;
		while (off < len && !p.done) {
			size_t n = len - off, u = 0;
			if (seed != 0)
				n = 1 + (size_t)(next(&seed) % n);
			rv = h1p_feed(&p, buf + off, n, &u);
			if (u > n)
				abort();
			off += u;
			if (rv != HERD_OK)
				break;
			if (u < n && !p.done)
				abort(); /* stopped short without finishing */
		}
		int eof_rv = HERD_OK;
		if (rv == HERD_OK && !p.done && off == len)
			eof_rv = h1p_eof(&p);
		if (p.header_bytes + p.body_wire_bytes != off - start)
			abort();
		if (d.count > 1000 || d.count > p.body_bytes || p.body_bytes > p.body_wire_bytes)
			abort();
		if (p.done && !p.headers_done)
			abort();
		if (p.framing == H1P_LENGTH && p.done && p.body_bytes != p.content_length)
			abort();
		if (rv == HERD_EPROTO && p.why == NULL)
			abort();
		fold(t, (uint64_t)rv);
		fold(t, (uint64_t)eof_rv);
		fold(t, (uint64_t)p.status);
		fold(t, (uint64_t)p.minor);
		fold(t, (uint64_t)p.headers_done);
		fold(t, (uint64_t)p.done);
		fold(t, (uint64_t)p.keep_alive);
		fold(t, (uint64_t)p.framing);
		fold(t, p.content_length);
		fold(t, (uint64_t)p.too_large);
		fold(t, (uint64_t)p.set_cookie);
		fold(t, p.header_bytes);
		fold(t, p.body_wire_bytes);
		fold(t, p.body_bytes);
		fold(t, d.sum);
		fold(t, (uint64_t)(uintptr_t)p.why);
		t->responses++;
		t->last_rv = rv;
		if (rv != HERD_OK || !p.done)
			break;
	}
	t->used = off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int head = data[0] & 1;
	uint64_t seed = (uint64_t)data[0] * 0x9e3779b97f4a7c15u | 1;
	trace a, b;
	run((const char *)data + 1, size - 1, head, 0, &a);
	run((const char *)data + 1, size - 1, head, seed, &b);
	if (a.fold != b.fold || a.responses != b.responses || a.used != b.used || a.last_rv != b.last_rv)
		abort();
	return 0;
}
