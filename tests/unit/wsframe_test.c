/*
 * Tests for agent/wsframe: frame boundaries found over every length form
 * (7, 16 and 64 bits), masked and unmasked, zero-length frames, control
 * frames between a message's fragments, and the same answers whatever pieces
 * the stream comes in (all at once, byte by byte, random splits).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/wsframe.h"
#include "tests/unit/check.h"

#define STREAM_MAX (200u * 1024)

static uint8_t stream[STREAM_MAX];
static size_t stream_len;
/* rest[i]: 1 when the stream's first i bytes end between frames outside a
 * fragmented message; msgs[i]: data messages complete in the first i bytes. */
static uint8_t rest[STREAM_MAX + 1];
static uint32_t msgs[STREAM_MAX + 1];
static int open_msg; /* what the frames appended so far leave open */
static uint32_t msgs_total;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static void reset(void)
{
	stream_len = 0;
	open_msg = 0;
	msgs_total = 0;
	rest[0] = 1;
	msgs[0] = 0;
}

/* Appends one frame as RFC 6455 section 5.2 lays it out, with the smallest
 * length form (or a longer one when wide is set), and records what is
 * expected at each of its bytes. */
static void frame(int fin, int opcode, size_t len, int masked, int wide)
{
	uint8_t h[14];
	size_t hl = 2;
	size_t start = stream_len;

	h[0] = (uint8_t)((fin ? 0x80 : 0) | opcode);
	if (len < 126 && !wide) {
		h[1] = (uint8_t)len;
	} else if (len < 65536 && wide < 2) {
		h[1] = 126;
		h[hl++] = (uint8_t)(len >> 8);
		h[hl++] = (uint8_t)len;
	} else {
		h[1] = 127;
		for (int i = 7; i >= 0; i--)
			h[hl++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	if (masked) {
		h[1] |= 0x80;
		for (int i = 0; i < 4; i++)
			h[hl++] = (uint8_t)rnd();
	}
	if (stream_len + hl + len > STREAM_MAX)
		abort();
	memcpy(stream + stream_len, h, hl);
	stream_len += hl;
	for (size_t i = 0; i < len; i++)
		stream[stream_len++] = (uint8_t)rnd();
	if (opcode <= 2) {
		open_msg = !fin;
		msgs_total += (uint32_t)(fin != 0);
	}
	for (size_t i = start + 1; i < stream_len; i++) {
		rest[i] = 0;
		msgs[i] = msgs[start];
	}
	rest[stream_len] = (uint8_t)!open_msg;
	msgs[stream_len] = msgs_total;
}

/* Feeds the stream in pieces (step 0: all at once; N: N bytes; -1: random)
 * and checks what the scanner says after each piece. */
static void check_feed(long step)
{
	wsframe_scan s;
	size_t off = 0;
	uint64_t done = 0;

	memset(&s, 0, sizeof(s));
	CHECK(wsframe_at_rest(&s));
	while (off < stream_len) {
		size_t n = step == 0 ? stream_len : step > 0 ? (size_t)step : 1 + (size_t)(rnd() % 300);
		if (n > stream_len - off)
			n = stream_len - off;
		done += wsframe_feed(&s, stream + off, n);
		off += n;
		if ((uint64_t)msgs[off] != done || wsframe_at_rest(&s) != rest[off]) {
			CHECK_EQ_INT(done, msgs[off]);
			CHECK_EQ_INT(wsframe_at_rest(&s), rest[off]);
			return;
		}
	}
	CHECK_EQ_INT(done, msgs_total);
	CHECK_EQ_INT(wsframe_at_rest(&s), !open_msg);
}

static void check_all_ways(void)
{
	check_feed(0);
	check_feed(1);
	check_feed(7);
	for (int i = 0; i < 20; i++)
		check_feed(-1);
}

int main(void)
{
	/* One small text frame, as a server sends it. */
	reset();
	frame(1, 1, 5, 0, 0);
	CHECK_EQ_INT(stream_len, 7);
	check_all_ways();

	/* Every length form, masked (as a client sends) and not. */
	static const size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};
	for (int masked = 0; masked < 2; masked++) {
		reset();
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
			frame(1, i % 2 ? 2 : 1, lens[i], masked, 0);
		/* Longer forms than needed are legal for a scanner to follow. */
		frame(1, 2, 3, masked, 1);
		frame(1, 2, 3, masked, 2);
		check_all_ways();
	}

	/* A fragmented message with a ping, a pong and an empty fragment
	 * between its parts: not at rest until its final frame ends. */
	reset();
	frame(1, 1, 10, 0, 0);
	frame(0, 1, 300, 0, 0);
	frame(1, 9, 4, 0, 0);
	frame(0, 0, 0, 0, 0);
	frame(1, 10, 0, 0, 0);
	frame(0, 0, 200, 0, 0);
	frame(1, 0, 1, 0, 0);
	frame(1, 2, 0, 0, 0);
	frame(1, 8, 2, 0, 0);
	check_all_ways();
	CHECK_EQ_INT(msgs_total, 3);

	/* Control frames alone complete no data message. */
	reset();
	frame(1, 9, 0, 1, 0);
	frame(1, 10, 125, 1, 0);
	frame(1, 8, 2, 1, 0);
	check_all_ways();
	CHECK_EQ_INT(msgs_total, 0);

	/* A header cut anywhere, the 64-bit length's included, is not rest. */
	reset();
	frame(1, 2, 70000, 1, 0);
	for (size_t cut = 1; cut < 14; cut++) {
		wsframe_scan s;
		memset(&s, 0, sizeof(s));
		CHECK_EQ_INT(wsframe_feed(&s, stream, cut), 0);
		CHECK(!wsframe_at_rest(&s));
	}
	return check_done();
}
