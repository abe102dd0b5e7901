/*
 * Tests for agent/h1parse: every body framing, keep-alive rules, interim and
 * body-less responses, pipelined responses, hostile input, and that feeding
 * a response in any pieces (one byte at a time, random splits) gives exactly
 * what feeding it at once gives.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/h1parse.h"
#include "common/err.h"
#include "tests/unit/check.h"

#define BODY_MAX (1u << 20)

/* What one parse produced, for comparing ways of feeding. */
typedef struct outcome {
	int rv, eof_rv;
	size_t used;
	int status, minor, headers_done, done, keep_alive;
	h1p_framing framing;
	uint64_t content_length, header_bytes, body_wire_bytes, body_bytes;
	const char *why;
	int too_large;
	int set_cookie;
	char *body;
	size_t body_len;
} outcome;

static void collect(void *arg, const char *data, size_t len)
{
	outcome *o = arg;
	if (o->body_len + len > BODY_MAX)
		abort();
	memcpy(o->body + o->body_len, data, len);
	o->body_len += len;
}

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

/*
 * Parses len bytes fed in pieces: step 0 is all at once, step N pieces of N
 * bytes, step -1 random pieces. Stops at the end of the response or an
 * error; then, if eof, tells the parser the connection closed.
 */
static void parse(const char *data, size_t len, int head, long step, int eof, uint64_t cap,
                  outcome *o)
{
	h1p p;
	char *body = o->body;
	memset(o, 0, sizeof(*o));
	o->body = body;
	h1p_init(&p, head);
	h1p_sink(&p, collect, o, cap);
	size_t off = 0;
	o->rv = HERD_OK;
	while (off < len && !p.done) {
		size_t n = len - off;
		if (step > 0 && (size_t)step < n)
			n = (size_t)step;
		else if (step < 0)
			n = 1 + (size_t)(rnd() % (uint64_t)n);
		size_t u = 0;
		o->rv = h1p_feed(&p, data + off, n, &u);
		off += u;
		if (o->rv != HERD_OK)
			break;
		if (u < n && !p.done) {
			o->rv = -1; /* consumed less without finishing: a bug */
			break;
		}
	}
	if (len == 0) {
		size_t u = 1;
		o->rv = h1p_feed(&p, data, 0, &u);
		if (u != 0)
			o->rv = -1;
	}
	o->eof_rv = eof && o->rv == HERD_OK ? h1p_eof(&p) : HERD_OK;
	o->used = off;
	o->status = p.status;
	o->minor = p.minor;
	o->headers_done = p.headers_done;
	o->done = p.done;
	o->keep_alive = p.keep_alive;
	o->framing = p.framing;
	o->content_length = p.content_length;
	o->header_bytes = p.header_bytes;
	o->body_wire_bytes = p.body_wire_bytes;
	o->body_bytes = p.body_bytes;
	o->why = p.why;
	o->too_large = p.too_large;
	o->set_cookie = p.set_cookie;
}

static int same(const outcome *a, const outcome *b)
{
	return a->rv == b->rv && a->eof_rv == b->eof_rv && a->used == b->used &&
	       a->status == b->status && a->minor == b->minor && a->headers_done == b->headers_done &&
	       a->done == b->done && a->keep_alive == b->keep_alive && a->framing == b->framing &&
	       a->content_length == b->content_length && a->header_bytes == b->header_bytes &&
	       a->body_wire_bytes == b->body_wire_bytes && a->body_bytes == b->body_bytes &&
	       a->why == b->why && a->set_cookie == b->set_cookie && a->body_len == b->body_len &&
	       memcmp(a->body, b->body, a->body_len) == 0;
}

static char body_a[BODY_MAX], body_b[BODY_MAX];

/* Parses s at once, byte by byte and in random pieces; checks all agree and
 * leaves the one-shot outcome in *o. */
static void parse_all_ways(const char *s, size_t len, int head, int eof, outcome *o)
{
	outcome b = { .body = body_b };
	o->body = body_a;
	parse(s, len, head, 0, eof, UINT64_MAX, o);
	parse(s, len, head, 1, eof, UINT64_MAX, &b);
	if (!same(o, &b))
		fprintf(stderr, "byte-at-a-time differs for: %.80s\n", s);
	CHECK(same(o, &b));
	for (int k = 0; k < 4; k++) {
		parse(s, len, head, -1, eof, UINT64_MAX, &b);
		CHECK(same(o, &b));
	}
}

#define RESP(o, lit, head, eof) parse_all_ways((lit), sizeof(lit) - 1, (head), (eof), (o))

static void test_content_length(void)
{
	outcome o;
	static const char r[] = "HTTP/1.1 200 OK\r\nServer: t\r\nContent-Length: 5\r\n\r\nhello";
	RESP(&o, r, 0, 0);
	CHECK_EQ_INT(o.rv, HERD_OK);
	CHECK_EQ_INT(o.status, 200);
	CHECK_EQ_INT(o.minor, 1);
	CHECK(o.done && o.headers_done && o.keep_alive);
	CHECK_EQ_INT(o.framing, H1P_LENGTH);
	CHECK_EQ_INT(o.content_length, 5);
	CHECK_EQ_INT(o.header_bytes, sizeof(r) - 1 - 5);
	CHECK_EQ_INT(o.body_wire_bytes, 5);
	CHECK_EQ_INT(o.body_bytes, 5);
	CHECK_EQ_INT(o.used, sizeof(r) - 1);
	CHECK(o.body_len == 5 && memcmp(o.body, "hello", 5) == 0);

	/* Names are case-insensitive; the value may carry whitespace; a list of
	 * equal values is one value; a duplicate equal header is fine. */
	RESP(&o, "HTTP/1.1 201 Created\r\ncontent-LENGTH: \t 3 \r\nContent-Length: 3, 3\r\n\r\nabc", 0, 0);
	CHECK(o.rv == HERD_OK && o.done && o.status == 201 && o.body_bytes == 3);

	/* Zero length: done with the headers. */
	RESP(&o, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 0);
	CHECK(o.rv == HERD_OK && o.done && o.framing == H1P_LENGTH && o.body_bytes == 0);

	/* No reason phrase, with and without its space. */
	RESP(&o, "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 0, 0);
	CHECK(o.rv == HERD_OK && o.done && o.status == 200);
	RESP(&o, "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", 0, 0);
	CHECK(o.rv == HERD_OK && o.done && o.status == 200);

	/* Header names that only start like the ones read. */
	RESP(&o, "HTTP/1.1 200 OK\r\nContent-Lengthy: x\r\nConnectio: close\r\nContent-Length: 1\r\n\r\nz", 0, 0);
	CHECK(o.rv == HERD_OK && o.done && o.keep_alive && o.body_bytes == 1);

	/* Truncated: the connection closes 2 bytes short. */
	RESP(&o, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", 0, 1);
	CHECK(o.rv == HERD_OK && !o.done && o.eof_rv == HERD_ECLOSED && o.body_bytes == 3);
	RESP(&o, "HTTP/1.1 200 OK\r\nContent-Len", 0, 1);
	CHECK(o.rv == HERD_OK && !o.headers_done && o.eof_rv == HERD_ECLOSED);
	CHECK_EQ_INT(o.header_bytes, 28);
}

static void test_chunked(void)
{
	outcome o;
	static const char r[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                        "5;ext=1;q=\"a b\"\r\nhello\r\n"
	                        "6 ; name\r\n world\r\n"
	                        "A\r\n0123456789\r\n"
	                        "0\r\nX-Trailer: yes\r\nX-Other:\r\n\r\n";
	RESP(&o, r, 0, 0);
	CHECK_EQ_INT(o.rv, HERD_OK);
	CHECK(o.done && o.keep_alive && o.framing == H1P_CHUNKED);
	CHECK_EQ_INT(o.body_bytes, 21);
	CHECK(o.body_len == 21 && memcmp(o.body, "hello world0123456789", 21) == 0);
	size_t head = strlen("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	CHECK_EQ_INT(o.header_bytes, head);
	CHECK_EQ_INT(o.body_wire_bytes, sizeof(r) - 1 - head);
	CHECK_EQ_INT(o.used, sizeof(r) - 1);

	/* Codings: chunked only counts when last; several lines make one list. */
	RESP(&o, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", 0, 0);
	CHECK(o.rv == HERD_OK && o.done && o.framing == H1P_CHUNKED && o.body_bytes == 1);
	RESP(&o, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, 0);
	CHECK(o.rv == HERD_OK && o.done && o.framing == H1P_CHUNKED);
	RESP(&o, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc", 0, 1);
	CHECK(o.rv == HERD_OK && o.framing == H1P_CLOSE && !o.keep_alive && o.eof_rv == HERD_OK && o.done);
	CHECK_EQ_INT(o.body_bytes, 3);

	/* Transfer-Encoding wins over Content-Length, and the connection is not reused. */
	RESP(&o, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n", 0, 0);
	CHECK(o.rv == HERD_OK && o.done && o.framing == H1P_CHUNKED && !o.keep_alive && o.body_bytes == 2);

	/* Upper-case hex and leading zeros. */
	RESP(&o, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0000F\r\n0123456789abcde\r\n0\r\n\r\n", 0, 0);
	CHECK(o.rv == HERD_OK && o.done && o.body_bytes == 15);

	/* Cut off inside a chunk. */
	RESP(&o, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe", 0, 1);
	CHECK(o.rv == HERD_OK && !o.done && o.eof_rv == HERD_ECLOSED);
}

static void test_until_close_and_keep_alive(void)
{
	outcome o;
	RESP(&o, "HTTP/1.1 200 OK\r\nServer: t\r\n\r\nsome body", 0, 1);
	CHECK(o.rv == HERD_OK && o.framing == H1P_CLOSE && !o.keep_alive);
	CHECK(o.eof_rv == HERD_OK && o.done && o.body_bytes == 9);
	CHECK_EQ_INT(o.body_wire_bytes, 9);

	RESP(&o, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", 0, 0);
	CHECK(o.rv == HERD_OK && o.done && !o.keep_alive);
	RESP(&o, "HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 1\r\n\r\nx", 0, 0);
	CHECK(o.rv == HERD_OK && o.done && !o.keep_alive);
	RESP(&o, "HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 1\r\n\r\nx", 0, 0);
	CHECK(o.rv == HERD_OK && o.done && o.keep_alive);
	RESP(&o, "HTTP/1.1 200 OK\r\nConnection: upgrade ,, close \r\nContent-Length: 1\r\n\r\nx", 0, 0);
	CHECK(o.rv == HERD_OK && o.done && !o.keep_alive);
	RESP(&o, "HTTP/1.1 200 OK\r\nConnection: clo se\r\nContent-Length: 1\r\n\r\nx", 0, 0);
	CHECK(o.rv == HERD_OK && o.done && o.keep_alive);

	/* HTTP/1.0: closes unless the server says keep-alive. */
	RESP(&o, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", 0, 0);
	CHECK(o.rv == HERD_OK && o.done && o.minor == 0 && !o.keep_alive);
	RESP(&o, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi", 0, 0);
	CHECK(o.rv == HERD_OK && o.done && o.keep_alive);
	RESP(&o, "HTTP/1.0 200 OK\r\n\r\nuntil close", 0, 1);
	CHECK(o.rv == HERD_OK && o.eof_rv == HERD_OK && o.done && !o.keep_alive && o.body_bytes == 11);
}

static void test_no_body(void)
{
	outcome o;
	/* HEAD: Content-Length describes the GET; nothing follows. */
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
	RESP(&o, head, 1, 0);
	CHECK(o.rv == HERD_OK && o.done && o.framing == H1P_NONE && o.keep_alive);
	CHECK_EQ_INT(o.used, sizeof(head) - 1);
	RESP(&o, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 1, 0);
	CHECK(o.rv == HERD_OK && o.done && o.framing == H1P_NONE);
	RESP(&o, "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", 0, 0);
	CHECK(o.rv == HERD_OK && o.done && o.framing == H1P_NONE && o.status == 204);
	RESP(&o, "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 0);
	CHECK(o.rv == HERD_OK && o.done && o.framing == H1P_NONE && o.keep_alive);

	/* Interim responses are skipped; their bytes count as header bytes. */
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n"
	                           "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\nContent-Length: 9\r\n\r\n"
	                           "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx";
	RESP(&o, cont, 0, 0);
	CHECK(o.rv == HERD_OK && o.done && o.status == 200 && o.minor == 0 && o.body_bytes == 1);
	CHECK_EQ_INT(o.header_bytes, sizeof(cont) - 2);
	CHECK(!o.keep_alive);
	/* 101 is final: no body, and the connection is no longer HTTP/1.1. */
	RESP(&o, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", 0, 0);
	CHECK(o.rv == HERD_OK && o.done && o.status == 101 && !o.keep_alive);
}

static void test_pipelined(void)
{
	static const char two[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
	                          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nd\r\n0\r\n\r\n"
	                          "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
	size_t len = sizeof(two) - 1, off = 0, used;
	int statuses[3] = { 0 };
	for (int k = 0; k < 3; k++) {
		h1p p;
		h1p_init(&p, 0);
		CHECK_EQ_INT(h1p_feed(&p, two + off, len - off, &used), HERD_OK);
		CHECK(p.done);
		CHECK_EQ_INT(used, k == 0 ? 41 : k == 1 ? 58 : 45);
		statuses[k] = p.status;
		CHECK_EQ_INT(p.header_bytes + p.body_wire_bytes, used);
		/* A done parser takes nothing more. */
		size_t again = 9;
		CHECK_EQ_INT(h1p_feed(&p, two + off + used, len - off - used, &again), HERD_OK);
		CHECK_EQ_INT(again, 0);
		off += used;
	}
	CHECK_EQ_INT(off, len);
	CHECK(statuses[0] == 200 && statuses[1] == 200 && statuses[2] == 404);
}

static void test_sink_cap(void)
{
	char r[256];
	int n = snprintf(r, sizeof(r), "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n%0100d", 7);
	outcome o = { .body = body_a };
	parse(r, (size_t)n, 0, 1, 0, 10, &o);
	CHECK(o.rv == HERD_OK && o.done);
	CHECK_EQ_INT(o.body_bytes, 100);
	CHECK_EQ_INT(o.body_len, 10);
	parse(r, (size_t)n, 0, 0, 0, 0, &o);
	CHECK(o.done && o.body_len == 0 && o.body_bytes == 100);
}

/* Expects s to be refused; returns the outcome's reason. */
static const char *refused(const char *s, size_t len, int head)
{
	outcome o;
	parse_all_ways(s, len, head, 0, &o);
	if (o.rv != HERD_EPROTO)
		fprintf(stderr, "accepted: %.100s\n", s);
	CHECK_EQ_INT(o.rv, HERD_EPROTO);
	CHECK(o.why != NULL);
	CHECK(!o.done);
	return o.why ? o.why : "";
}

#define REFUSED(lit) refused((lit), sizeof(lit) - 1, 0)

static void test_hostile(void)
{
	outcome o;
	/* Content-Length: too large, negative, signed, two numbers, empty, hex, conflicting. */
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n"), "too large");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n"), "too large");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n"), "too large");
	RESP(&o, "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\nabc", 0, 1);
	CHECK(o.rv == HERD_OK && o.headers_done && !o.done && o.content_length == INT64_MAX);
	CHECK_EQ_INT(o.eof_rv, HERD_ECLOSED);
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), "Content-Length");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n"), "Content-Length");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nContent-Length: 5 5\r\n\r\n"), "Content-Length");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n"), "empty");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n"), "Content-Length");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n"), "conflicting");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), "conflicting");

	/* Chunk sizes. */
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n"), "too large");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8000000000000000\r\n"), "too large");
	RESP(&o, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\nab", 0, 0);
	CHECK(o.rv == HERD_OK && !o.done && o.body_bytes == 2);
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), "chunk size");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n"), "chunk size");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n"), "chunk size");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3 4\r\n"), "chunk size");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n"), "CRLF");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n"), "CRLF");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n"), "chunk size");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;a\0b\r\nabc\r\n"), "control");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n"), "header name");

	/* Missing CRs and LFs. */
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\nContent-Length: 0\n\n"), "control");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n"), "control");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nServer: x\n\r\n"), "control");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nServer: x\rX: y\r\n\r\n"), "CR without LF");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\n\rx"), "CR without LF");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\n\n"), "header name");

	/* Status lines. */
	CHECK_CONTAINS(REFUSED("HTTP/2 200 OK\r\n\r\n"), "HTTP/1.x");
	CHECK_CONTAINS(REFUSED("ICY 200 OK\r\n\r\n"), "HTTP/1.x");
	CHECK_CONTAINS(REFUSED("HTTP/1.x 200 OK\r\n\r\n"), "version");
	CHECK_CONTAINS(REFUSED("HTTP/1.1  200 OK\r\n\r\n"), "status code");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 20 OK\r\n\r\n"), "status code");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 2000 OK\r\n\r\n"), "status code");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 099 OK\r\n\r\n"), "status code");
	CHECK_CONTAINS(REFUSED("HTTP/1.10 200 OK\r\n\r\n"), "space");
	CHECK_CONTAINS(REFUSED("\r\nHTTP/1.1 200 OK\r\n\r\n"), "HTTP/1.x");

	/* NUL bytes anywhere before the body. */
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 O\0K\r\n\r\n"), "control");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nX-A: a\0b\r\n\r\n"), "control");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nX-\0A: ab\r\n\r\n"), "header name");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nConnection: clo\0se\r\n\r\n"), "control");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nContent-Length: 1\0\r\n\r\n"), "control");
	CHECK_CONTAINS(REFUSED("\0HTTP/1.1 200 OK\r\n\r\n"), "HTTP/1.x");
	/* ... but a body may hold anything. */
	RESP(&o, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n\0\r\n", 0, 0);
	CHECK(o.rv == HERD_OK && o.done && o.body_len == 3 && o.body[0] == 0);

	/* Header syntax. */
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n"), "header name");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"), "folding");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\n: a\r\n\r\n"), "header name");
	CHECK_CONTAINS(REFUSED("HTTP/1.1 200 OK\r\nX-A: a\x7f\r\n\r\n"), "control");
	RESP(&o, "HTTP/1.1 200 OK\r\nX-A: caf\xc3\xa9\t!\r\nContent-Length: 0\r\n\r\n", 0, 0);
	CHECK(o.rv == HERD_OK && o.done);

	/* Long lines: 8 KiB of line is allowed, a byte more is not. */
	static char big[H1P_SECTION_MAX + 65536];
	size_t n;
	for (int what = 0; what < 4; what++) {
		for (int over = 0; over < 2; over++) {
			size_t fill = H1P_LINE_MAX + (size_t)over;
			const char *pre = "HTTP/1.1 200 OK\r\n";
			n = (size_t)snprintf(big, sizeof(big), "%s", pre);
			if (what == 0) { /* a long value */
				memcpy(big + n, "X: ", 3);
				memset(big + n + 3, 'v', fill - 3);
			} else if (what == 1) { /* a long name */
				memset(big + n, 'n', fill - 2);
				memcpy(big + n + fill - 2, ": ", 2);
			} else if (what == 2) { /* a long reason phrase */
				n = (size_t)snprintf(big, sizeof(big), "HTTP/1.1 200 ");
				memset(big + n, 'r', fill - 13);
				n = 0;
			} else { /* a long chunk extension */
				n = (size_t)snprintf(big, sizeof(big), "%sTransfer-Encoding: chunked\r\n\r\n1;", pre);
				memset(big + n, 'e', fill - 2);
				n -= 2;
			}
			n += fill;
			n += (size_t)snprintf(big + n, sizeof(big) - n, "%s",
			                      what == 3 ? "\r\nx\r\n0\r\n\r\n" : "\r\nContent-Length: 0\r\n\r\n");
			parse_all_ways(big, n, 0, 0, &o);
			if (over) {
				if (o.rv != HERD_EPROTO)
					fprintf(stderr, "long line %d accepted\n", what);
				CHECK_EQ_INT(o.rv, HERD_EPROTO);
				CHECK_CONTAINS(o.why, "line too long");
			} else {
				if (o.rv != HERD_OK)
					fprintf(stderr, "long line %d refused: %s\n", what, o.why);
				CHECK(o.rv == HERD_OK && o.done);
			}
		}
	}
	/* Many lines under the limit that add up to too much. */
	n = (size_t)snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\n");
	while (n < H1P_SECTION_MAX + 100) {
		memcpy(big + n, "X-Filler: 0123456789012345678901234567890123456789\r\n", 52);
		n += 52;
	}
	n += (size_t)snprintf(big + n, sizeof(big) - n, "\r\n");
	parse_all_ways(big, n, 0, 0, &o);
	CHECK_EQ_INT(o.rv, HERD_EPROTO);
	CHECK_CONTAINS(o.why, "too large");
	CHECK(o.used <= H1P_SECTION_MAX);

	/* After an error the parser refuses everything. */
	h1p p;
	size_t used = 7;
	h1p_init(&p, 0);
	CHECK_EQ_INT(h1p_feed(&p, "XTTP", 4, &used), HERD_EPROTO);
	CHECK_EQ_INT(used, 0);
	CHECK_EQ_INT(h1p_feed(&p, "HTTP/1.1 200 OK\r\n", 17, &used), HERD_EPROTO);
	CHECK_EQ_INT(used, 0);
	CHECK_EQ_INT(h1p_eof(&p), HERD_ECLOSED);
	/* Nothing fed: nothing started. */
	h1p_init(&p, 0);
	CHECK(!h1p_started(&p));
	CHECK_EQ_INT(h1p_feed(&p, "H", 1, &used), HERD_OK);
	CHECK(h1p_started(&p));
}

/* ---- random responses, split at random ---- */

static size_t put(char *b, size_t n, const char *s)
{
	size_t l = strlen(s);
	memcpy(b + n, s, l);
	return n + l;
}

/* Builds a random valid response into b; returns its length and what to expect. */
static size_t random_response(char *b, size_t cap, int *head, outcome *want)
{
	static const char *const names[] = { "Server", "Date", "X-Pad", "Cache-Control", "Vary" };
	size_t n = 0, body = 0;
	int framing = (int)(rnd() % 3); /* length, chunked, close */
	int status = (int)(rnd() % 10) == 0 ? 404 : 200;
	*head = (int)(rnd() % 8) == 0;
	memset(want, 0, sizeof(*want));
	n += (size_t)snprintf(b + n, cap - n, "HTTP/1.%d %d X\r\n", (int)(rnd() % 4 != 0), status);
	for (int h = (int)(rnd() % 5); h > 0; h--) {
		n += (size_t)snprintf(b + n, cap - n, "%s: ", names[rnd() % 5]);
		for (int k = (int)(rnd() % 40); k > 0; k--)
			b[n++] = (char)(' ' + rnd() % 94);
		n = put(b, n, "\r\n");
	}
	size_t blen = (size_t)(rnd() % 3000);
	if (rnd() % 2 == 0)
		n = put(b, n, "Connection: keep-alive\r\n");
	if (framing == 0)
		n += (size_t)snprintf(b + n, cap - n, "cOnTeNt-LeNgTh: %zu\r\n", blen);
	else if (framing == 1)
		n = put(b, n, "Transfer-Encoding: chunked\r\n");
	n = put(b, n, "\r\n");
	want->header_bytes = n;
	if (*head)
		return n;
	if (framing == 1) {
		while (body < blen) {
			size_t c = 1 + (size_t)(rnd() % 700);
			if (c > blen - body)
				c = blen - body;
			n += (size_t)snprintf(b + n, cap - n, "%zx%s\r\n", c, rnd() % 4 == 0 ? ";x=y" : "");
			for (size_t k = 0; k < c; k++)
				b[n++] = (char)('a' + (body + k) % 26);
			body += c;
			n = put(b, n, "\r\n");
		}
		n = put(b, n, rnd() % 2 ? "0\r\n\r\n" : "0\r\nT: v\r\n\r\n");
	} else {
		for (size_t k = 0; k < blen; k++)
			b[n++] = (char)('a' + k % 26);
	}
	want->body_bytes = blen;
	want->body_wire_bytes = n - want->header_bytes;
	return n;
}

static void test_random_splits(void)
{
	static char buf[16384];
	int bad = 0;
	for (int iter = 0; iter < 4000; iter++) {
		int head;
		outcome want, a = { .body = body_a }, b = { .body = body_b };
		size_t n = random_response(buf, sizeof(buf), &head, &want);
		parse(buf, n, head, 0, 1, UINT64_MAX, &a);
		long step = iter % 3 == 0 ? 1 : -1;
		parse(buf, n, head, step, 1, UINT64_MAX, &b);
		int ok = a.rv == HERD_OK && a.eof_rv == HERD_OK && a.done && a.used == n &&
		         a.header_bytes == want.header_bytes && a.body_wire_bytes == want.body_wire_bytes &&
		         a.body_bytes == want.body_bytes && a.body_len == want.body_bytes && same(&a, &b);
		for (size_t k = 0; ok && k < a.body_len; k++)
			ok = a.body[k] == (char)('a' + k % 26);
		if (!ok && bad++ < 3)
			fprintf(stderr, "random response %d misparsed: %s\n%.300s\n", iter, a.why ? a.why : "", buf);
		CHECK(ok);

		/* The same bytes with a few random changes: never a crash, and the
		 * same verdict however they arrive. */
		for (int m = (int)(rnd() % 4) + 1; m > 0; m--)
			buf[rnd() % n] = (char)rnd();
		parse(buf, n, head, 0, 1, UINT64_MAX, &a);
		parse(buf, n, head, -1, 1, UINT64_MAX, &b);
		if (!same(&a, &b) && bad++ < 3)
			fprintf(stderr, "mutated response %d: split changes the outcome (%s / %s)\n", iter,
			        a.why ? a.why : "ok", b.why ? b.why : "ok");
		CHECK(same(&a, &b));
		CHECK(a.header_bytes + a.body_wire_bytes == a.used);
	}
}

/* Endless 1xx responses end at H1P_HEADERS_MAX in all (libcurl's limit on a
 * response's header sections, its interim ones included); 1xx responses and
 * a final one under it parse. */
static void test_interim_flood(void)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	static const char fin[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	size_t clen = sizeof(cont) - 1, cap = H1P_HEADERS_MAX + 4096;
	char *buf = malloc(cap + sizeof(fin));
	outcome o = { .body = body_a };
	size_t n = 0;

	CHECK(buf != NULL);
	if (buf == NULL)
		return;
	while (n + clen <= cap) {
		memcpy(buf + n, cont, clen);
		n += clen;
	}
	parse_all_ways(buf, n, 0, 0, &o);
	CHECK_EQ_INT(o.rv, HERD_EPROTO);
	CHECK_CONTAINS(o.why, "1xx responses included");
	CHECK(o.too_large);
	CHECK(o.used <= H1P_HEADERS_MAX && o.header_bytes <= H1P_HEADERS_MAX);
	CHECK(o.used > H1P_HEADERS_MAX - clen);

	/* Just under the limit, with the final response: parsed whole. */
	n = ((H1P_HEADERS_MAX - (sizeof(fin) - 3)) / clen) * clen;
	for (size_t i = 0; i < n; i += clen)
		memcpy(buf + i, cont, clen);
	memcpy(buf + n, fin, sizeof(fin) - 1);
	n += sizeof(fin) - 1;
	parse(buf, n, 0, 0, 0, BODY_MAX, &o);
	CHECK_EQ_INT(o.rv, HERD_OK);
	CHECK(o.done && o.status == 200 && o.body_len == 2);
	/* One more 1xx response: too much. */
	memmove(buf + clen, buf, n);
	n += clen;
	parse(buf, n, 0, 0, 0, BODY_MAX, &o);
	CHECK_EQ_INT(o.rv, HERD_EPROTO);
	free(buf);
}

/* The parser notes a Set-Cookie header line (the lean driver reads the
 * header section for cookies only then), in any case, in an interim
 * response too, and no other header whose name merely looks like it. */
static void test_set_cookie(void)
{
	outcome o;
	RESP(&o, "HTTP/1.1 200 OK\r\nServer: t\r\nContent-Length: 2\r\n\r\nok", 0, 0);
	CHECK(o.done && !o.set_cookie);
	RESP(&o, "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nContent-Length: 2\r\n\r\nok", 0, 0);
	CHECK(o.done && o.set_cookie);
	RESP(&o, "HTTP/1.1 302 Found\r\nContent-Length: 0\r\nsET-cOOKIE: a=1; Path=/\r\n\r\n", 0, 0);
	CHECK(o.done && o.set_cookie && o.status == 302);
	RESP(&o, "HTTP/1.1 103 Early\r\nSet-Cookie: a=1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 0);
	CHECK(o.done && o.set_cookie && o.status == 200);
	RESP(&o, "HTTP/1.1 200 OK\r\nSet-Cookie2: a=1\r\nX-Set-Cookie: b=2\r\nSet-Cooki: c\r\n"
	         "Connection: set-cookie\r\nContent-Length: 0\r\n\r\n", 0, 0);
	CHECK(o.done && !o.set_cookie);
	/* Trailers are not the header section: a cookie there is not taken. */
	RESP(&o, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nSet-Cookie: a=1\r\n\r\n", 0, 0);
	CHECK(o.done && !o.set_cookie);
	/* The names the parser reads are still read, in any case and split
	 * anywhere (parse_all_ways): Content-Length beside Set-Cookie, Connection. */
	RESP(&o, "HTTP/1.1 200 OK\r\nSET-COOKIE: a\r\ncOnTeNt-LeNgTh: 3\r\nCONNECTION: Close\r\n\r\nabc", 0, 0);
	CHECK(o.done && o.set_cookie && o.content_length == 3 && !o.keep_alive);
	RESP(&o, "HTTP/1.0 200 OK\r\nConnection: x, KEEP-ALIVE\r\nContent-Length: 0\r\n\r\n", 0, 0);
	CHECK(o.done && o.keep_alive && !o.set_cookie);
}

/*
 * A response fed at once is read a word (8 bytes) at a time where the parser
 * can (h1parse.c's fast path), fed in pieces a byte at a time: every byte
 * value at every place of a word, in a header value and in the reason
 * phrase, after an HTAB too, must get the same verdict both ways, refused
 * exactly at a control byte or DEL.
 */
static void test_every_byte_everywhere(void)
{
	char r[128];
	outcome o;
	for (int where = 0; where < 3; where++) {
		for (unsigned c = 0; c < 256; c++) {
			for (size_t off = 0; off < 17; off++) {
				const char *pre = where == 1 ? "HTTP/1.1 200 O" : "HTTP/1.1 200 OK\r\nX-A: ";
				size_t n = (size_t)snprintf(r, sizeof(r), "%s", pre);
				memset(r + n, where == 2 && off > 0 ? '\t' : 'a', off); /* 2: HTABs before c */
				n += off;
				size_t at = n;
				r[n++] = (char)c;
				n += (size_t)snprintf(r + n, sizeof(r) - n, "bcdefghijk\r\nContent-Length: 0\r\n\r\n");
				parse_all_ways(r, n, 0, 0, &o);
				int field = c == '\t' || (c >= 0x20 && c != 0x7f);
				if (field) {
					CHECK(o.rv == HERD_OK && o.done && o.status == 200);
				} else {
					CHECK_EQ_INT(o.rv, HERD_EPROTO);
					if (c != '\r') /* a CR ends the line; the LF it lacks is the error */
						CHECK_EQ_INT(o.used, at);
				}
			}
		}
	}
}

/* A header section may be exactly H1P_SECTION_MAX bytes long, not a byte more. */
static void test_section_at_limit(void)
{
	static char big[H1P_SECTION_MAX + 256];
	outcome o;
	for (int over = 0; over < 2; over++) {
		size_t n = (size_t)snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n");
		while (n + 52 + 2 <= H1P_SECTION_MAX) {
			memcpy(big + n, "X-Filler: 0123456789012345678901234567890123456789\r\n", 52);
			n += 52;
		}
		size_t fill = H1P_SECTION_MAX - n - 2 + (size_t)over; /* one last line to the byte */
		memcpy(big + n, "X: ", 3);
		memset(big + n + 3, 'v', fill - 5);
		memcpy(big + n + fill - 2, "\r\n\r\nok", 6);
		n += fill + 4;
		parse_all_ways(big, n, 0, 0, &o);
		if (over) {
			CHECK_EQ_INT(o.rv, HERD_EPROTO);
			CHECK_CONTAINS(o.why, "too large");
		} else {
			CHECK(o.rv == HERD_OK && o.done && o.body_len == 2);
			CHECK_EQ_INT(o.header_bytes, H1P_SECTION_MAX);
		}
	}
}

int main(void)
{
	test_content_length();
	test_chunked();
	test_until_close_and_keep_alive();
	test_no_body();
	test_pipelined();
	test_sink_cap();
	test_hostile();
	test_interim_flood();
	test_random_splits();
	test_set_cookie();
	test_every_byte_everywhere();
	test_section_at_limit();
	return check_done();
}
