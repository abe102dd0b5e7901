/*
 * Follows WebSocket frame boundaries (RFC 6455 section 5.2) in a byte stream
 * without keeping the payload: a pure scanner over the headers (FIN, opcode,
 * 7/16/64-bit length, mask bit and key). The WebSocket driver runs one over
 * what it writes, to count data messages as sent once their last byte is
 * out, and one over what it hands to wslay's recv callback, to know when
 * wslay holds no partial frame or fragmented message, which wslay has no API
 * to tell. wslay still parses, checks and answers the frames; this only
 * watches where they end.
 */
#ifndef HERD_AGENT_WSFRAME_H
#define HERD_AGENT_WSFRAME_H

#include <stddef.h>
#include <stdint.h>

typedef struct wsframe_scan {
	uint8_t hdr[14];    /* the header of the frame in progress */
	uint8_t hlen;       /* bytes of it seen */
	uint8_t in_payload; /* the header is complete; left bytes of payload follow */
	uint8_t ends_msg;   /* the frame in progress is the final frame of a data message */
	uint8_t in_msg;     /* a fragmented data message is open (its final frame not yet seen) */
	uint64_t left;      /* payload bytes of the frame in progress still to come */
} wsframe_scan;

/*
 * Feeds the next n bytes of the stream to s (zeroed before the first call).
 * Returns how many data messages (text, binary, or a fragmented one's final
 * continuation frame) the bytes completed. Any bytes are accepted: a
 * malformed stream is followed as its headers say, and refusing it is the
 * codec's business.
 */
uint64_t wsframe_feed(wsframe_scan *s, const uint8_t *p, size_t n);

/* Whether the stream fed so far ends exactly between two frames and not
 * inside a fragmented data message (control frames may sit between its
 * fragments). */
int wsframe_at_rest(const wsframe_scan *s);

#endif
