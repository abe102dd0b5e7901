/*
 * An incremental HTTP/1.1 response parser: a pure codec with no I/O and no
 * allocation. Bytes are fed as they arrive, in pieces of any size; the parser
 * keeps no pointer into them, so the caller may reuse its buffer at once. It
 * reports the status, whether the connection stays open, the body framing,
 * the wire and decoded sizes, and hands decoded body bytes to an optional sink.
 */
#ifndef HERD_AGENT_H1PARSE_H
#define HERD_AGENT_H1PARSE_H

#include <stddef.h>
#include <stdint.h>

#define H1P_LINE_MAX 8192u        /* longest status, header, chunk-size or trailer line (without CRLF) */
#define H1P_SECTION_MAX (256u << 10) /* longest header section, and longest trailer section */
/* Longest header sections of one response, its 1xx responses included:
 * libcurl's limit (MAX_HTTP_RESP_HEADER_SIZE). */
#define H1P_HEADERS_MAX (300u << 10)

/* How the body of a response is delimited. */
typedef enum h1p_framing {
	H1P_NONE = 0, /* no body: HEAD, 1xx, 204, 304 */
	H1P_LENGTH,   /* Content-Length */
	H1P_CHUNKED,  /* Transfer-Encoding: chunked */
	H1P_CLOSE,    /* read until the server closes the connection */
} h1p_framing;

/* Called with decoded body bytes, at most the cap given to h1p_sink in total. */
typedef void (*h1p_body_cb)(void *arg, const char *data, size_t len);

/*
 * Parser state, embedded by the caller (h1p_init, no _fini: it owns nothing).
 * The fields up to `why` are results the caller may read; the rest is private.
 */
typedef struct h1p {
	int status;           /* final status code, 0 until the status line is read */
	int minor;            /* HTTP/1.<minor> of the final response */
	int headers_done;     /* the final response's header section is complete */
	int done;             /* the response is complete */
	int keep_alive;       /* valid once headers_done: the connection may carry another request */
	h1p_framing framing;  /* valid once headers_done */
	uint64_t content_length; /* with H1P_LENGTH */
	uint64_t header_bytes;   /* status lines and header sections (1xx responses included), CRLFs included */
	uint64_t body_wire_bytes; /* everything after the header section: chunk framing and trailers included */
	uint64_t body_bytes;      /* decoded body */
	const char *why;      /* after an error: what was wrong (static text) */
	int too_large;        /* after an error: the header sections passed H1P_SECTION_MAX or H1P_HEADERS_MAX */
	int set_cookie;       /* a header section (1xx responses' included) has a Set-Cookie line */

	/* private */
	int state;
	int head;             /* the request was HEAD */
	uint32_t line;        /* bytes in the current line */
	uint32_t section;     /* bytes in the current header or trailer section */
	uint32_t interim;     /* bytes in the 1xx responses' header sections before it */
	uint32_t smax;        /* the most the current section may hold */
	uint32_t pos;         /* position within a fixed text, or a digit count */
	int hdr;              /* which header's value is being read */
	uint8_t mask;         /* candidate words still matching */
	uint8_t tok_space;    /* a space ended the current token */
	uint8_t have_cl, have_te, te_chunked, conn_close, conn_keep, cl_digits, elems;
	uint64_t cl_elem;     /* Content-Length element being read */
	uint64_t left;        /* body or chunk bytes left */
	h1p_body_cb sink;
	void *sink_arg;
	uint64_t sink_left;
} h1p;

/* Prepares p for one response. head: the request was HEAD (no body follows). */
void h1p_init(h1p *p, int head);

/* Hands decoded body bytes to cb, up to cap bytes in all; more is counted, not passed. */
void h1p_sink(h1p *p, h1p_body_cb cb, void *arg, uint64_t cap);

/*
 * Feeds len bytes. Returns HERD_OK and sets *used to the bytes consumed:
 * all of them, or fewer when the response completed (p->done) before the
 * end; what is left belongs to whatever follows the response. Returns
 * HERD_EPROTO on malformed input, with p->why set and *used at the offending
 * byte; the parser then refuses further input. Feeding a done parser
 * consumes nothing.
 */
int h1p_feed(h1p *p, const char *buf, size_t len, size_t *used);

/*
 * Tells the parser the connection closed. Returns HERD_OK when that
 * completes the response (a read-until-close body, or one already done);
 * HERD_ECLOSED when the response was cut short (p->done stays 0).
 */
int h1p_eof(h1p *p);

/* Whether any byte of the response has been consumed. */
static inline int h1p_started(const h1p *p)
{
	return p->header_bytes != 0;
}

#endif
