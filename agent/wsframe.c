/*
 * The WebSocket frame-boundary scanner (see agent/wsframe.h): headers only,
 * no payload kept, no I/O.
 */
#include "agent/wsframe.h"

/* Header length of the frame whose first two header bytes are in s->hdr. */
static size_t header_len(const wsframe_scan *s)
{
	uint8_t len7 = s->hdr[1] & 0x7f;
	return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (s->hdr[1] & 0x80 ? 4 : 0);
}

/* The header in s->hdr is complete: sets the payload to follow. */
static void header_done(wsframe_scan *s)
{
	uint8_t len7 = s->hdr[1] & 0x7f;
	uint8_t fin = (s->hdr[0] & 0x80) != 0, opcode = s->hdr[0] & 0x0f;

	s->left = len7;
	if (len7 >= 126) {
		s->left = 0;
		for (int i = 0; i < (len7 == 126 ? 2 : 8); i++)
			s->left = s->left << 8 | s->hdr[2 + i];
	}
	/* Opcodes 0 (continuation), 1 (text) and 2 (binary) carry data; control
	 * frames (8 and up) may come between a message's fragments and leave it open. */
	if (opcode <= 2) {
		s->ends_msg = fin;
		s->in_msg = !fin;
	} else {
		s->ends_msg = 0;
	}
	s->in_payload = 1;
}

uint64_t wsframe_feed(wsframe_scan *s, const uint8_t *p, size_t n)
{
	uint64_t done = 0;
	while (n > 0) {
		if (s->in_payload) {
			size_t take = s->left < n ? (size_t)s->left : n;
			s->left -= take;
			p += take;
			n -= take;
		} else {
			s->hdr[s->hlen++] = *p++;
			n--;
			if (s->hlen < 2 || s->hlen < header_len(s))
				continue;
			header_done(s);
		}
		if (s->in_payload && s->left == 0) {
			done += s->ends_msg;
			s->in_payload = 0;
			s->hlen = 0;
		}
	}
	return done;
}

int wsframe_at_rest(const wsframe_scan *s)
{
	return !s->in_payload && s->hlen == 0 && !s->in_msg;
}
