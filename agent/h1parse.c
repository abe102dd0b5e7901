/*
 * The HTTP/1.1 response parser (see h1parse.h): a byte-driven state machine
 * that keeps only what it must (counters, a few flags, the header being
 * read), so it never buffers and never allocates. Long runs that need no
 * interpretation (reason phrases, other headers' values, bodies) are scanned
 * in tight loops; only Content-Length, Transfer-Encoding and Connection are
 * read byte by byte. It is strict: CRLF line ends, no obsolete line folding,
 * no control bytes in fields, bounded lines and header sections.
 */
#include "agent/h1parse.h"

#include <string.h>

#include "common/err.h"

enum {
	S_VERSION = 0,     /* "HTTP/1.", a digit, a space; pos counts */
	S_CODE,            /* three digits; pos counts */
	S_AFTER_CODE,      /* a space, or the CR of a status line without reason */
	S_REASON,
	S_STATUS_LF,
	S_FIELD_START,     /* a header line or the blank line that ends the section */
	S_NAME,
	S_VALUE,
	S_FIELD_LF,
	S_HEAD_END_LF,
	S_BODY_LENGTH,
	S_BODY_CLOSE,
	S_CHUNK_SIZE,      /* hex digits; pos counts */
	S_CHUNK_AFTER_SIZE, /* whitespace before an extension or the CR */
	S_CHUNK_EXT,
	S_CHUNK_SIZE_LF,
	S_CHUNK_DATA,
	S_CHUNK_DATA_CR,
	S_CHUNK_DATA_LF,
	S_TRAILER_START,
	S_TRAILER_NAME,
	S_TRAILER_VALUE,
	S_TRAILER_LF,
	S_TRAILER_END_LF,
	S_DONE,
	S_ERROR,
};

/* Headers the parser reads (p->hdr is the index + 1). Set-Cookie is only
 * noted (p->set_cookie), so a caller keeping cookies reads the header
 * section again only when it has one. */
enum { HDR_OTHER = 0, HDR_CL, HDR_TE, HDR_CONN, HDR_SET_COOKIE };
static const char *const hdr_words[] = { "content-length", "transfer-encoding", "connection", "set-cookie" };
static const uint8_t hdr_lens[] = { 14, 17, 10, 10 };
#define HDR_WORDS 15u

/* Tokens the parser recognises in Transfer-Encoding and Connection. */
enum { TOK_CHUNKED = 1, TOK_CLOSE, TOK_KEEP_ALIVE };
static const char *const tok_words[] = { "chunked", "close", "keep-alive" };
static const uint8_t tok_lens[] = { 7, 5, 10 };
#define TE_WORDS (1u << (TOK_CHUNKED - 1))
#define CONN_WORDS (1u << (TOK_CLOSE - 1) | 1u << (TOK_KEEP_ALIVE - 1))

#define BIT(c) ((uint64_t)1 << ((c) & 63))
/* RFC 9110 tchar, as bitmaps of bytes 0-63 and 64-127. */
#define TCHAR_LO (UINT64_C(0x03ff000000000000) | BIT('!') | BIT('#') | BIT('$') | BIT('%') | BIT('&') | \
                  BIT('\'') | BIT('*') | BIT('+') | BIT('-') | BIT('.'))
#define TCHAR_HI (UINT64_C(0x07fffffe07fffffe) | BIT('^') | BIT('_') | BIT('`') | BIT('|') | BIT('~'))

/* Byte classes, looked up in a table: the scanning loops pay one load a
 * byte. C_TCHAR: a tchar. C_FIELD: a byte allowed in a field value, reason
 * phrase or chunk extension: HTAB, visible ASCII, space and obs-text; never
 * NUL, CR, LF, other controls or DEL. */
#define C_TCHAR 1u
#define C_FIELD 2u
#define CLASS(c)                                                                                  \
	((((c) < 64 ? (TCHAR_LO >> ((c) & 63)) & 1 : (c) < 128 ? (TCHAR_HI >> ((c) & 63)) & 1 : 0)   \
	      ? C_TCHAR                                                                             \
	      : 0) |                                                                                \
	 ((c) == '\t' || ((c) >= 0x20 && (c) != 0x7f) ? C_FIELD : 0))
#define CLASS4(c) CLASS(c), CLASS((c) + 1), CLASS((c) + 2), CLASS((c) + 3)
#define CLASS16(c) CLASS4(c), CLASS4((c) + 4), CLASS4((c) + 8), CLASS4((c) + 12)
#define CLASS64(c) CLASS16(c), CLASS16((c) + 16), CLASS16((c) + 32), CLASS16((c) + 48)
static const uint8_t byte_class[256] = { CLASS64(0), CLASS64(64), CLASS64(128), CLASS64(192) };

static inline int is_tchar(unsigned char c)
{
	return byte_class[c] & C_TCHAR;
}

static inline int is_field(unsigned char c)
{
	return byte_class[c] & C_FIELD;
}

static inline int is_digit(unsigned c)
{
	return c - '0' <= 9u;
}

static inline int hexval(unsigned c)
{
	if (c >= '0' && c <= '9')
		return (int)(c - '0');
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return (int)(c - 'a' + 10);
	return -1;
}

/* Whether the n bytes at b are those at w, a word of lowercase letters and
 * '-', ignoring case. OR-ing 0x20 maps only A-Z onto a-z, and only CR
 * (never in a name or token) onto '-', so it compares 8 bytes at a time. */
static inline int same_lower(const unsigned char *b, const char *w, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t x, y;
		memcpy(&x, b + i, 8);
		memcpy(&y, w + i, 8);
		if ((x | UINT64_C(0x2020202020202020)) != y)
			return 0;
	}
	for (; i < n; i++)
		if ((b[i] | 0x20u) != (unsigned char)w[i])
			return 0;
	return 1;
}

/* Drops from mask the words that do not go on with the n bytes at b (from
 * byte pos), or, when the name ends there (end), are not exactly pos + n
 * long. Compares a run at a time: most names differ from every word in
 * their length. */
static inline uint8_t match_run(uint8_t mask, uint32_t pos, const unsigned char *b, size_t n, int end,
                                const char *const *words, const uint8_t *lens)
{
	for (unsigned k = 0; mask >> k; k++)
		if (((mask >> k) & 1) &&
		    ((end ? pos + n != lens[k] : pos + n > lens[k]) || !same_lower(b, words[k] + pos, n)))
			mask &= (uint8_t) ~(1u << k);
	return mask;
}

/* The word (index + 1) that matched all pos bytes, or 0. */
static inline int matched(uint8_t mask, uint32_t pos, const uint8_t *lens)
{
	for (unsigned k = 0; mask >> k; k++)
		if (((mask >> k) & 1) && lens[k] == pos)
			return (int)k + 1;
	return 0;
}

/* Sets the most the current section may hold: a trailer section, or a
 * header section within what the 1xx responses before it left of
 * H1P_HEADERS_MAX. Kept in p, since every byte of a section is checked
 * against it. */
static void section_limit(h1p *p)
{
	uint32_t left = H1P_HEADERS_MAX - p->interim;
	p->smax = p->headers_done || left > H1P_SECTION_MAX ? H1P_SECTION_MAX : left;
}

static inline uint32_t section_max(const h1p *p)
{
	return p->smax;
}

void h1p_init(h1p *p, int head)
{
	*p = (h1p){ .head = head != 0, .state = S_VERSION };
	section_limit(p);
}

void h1p_sink(h1p *p, h1p_body_cb cb, void *arg, uint64_t cap)
{
	p->sink = cb;
	p->sink_arg = arg;
	p->sink_left = cb != NULL ? cap : 0;
}

/* Resets what one header section collects (a 1xx response has its own). */
static void head_reset(h1p *p)
{
	p->have_cl = p->have_te = p->te_chunked = p->conn_close = p->conn_keep = 0;
	p->content_length = 0;
	p->section = 0;
	p->status = 0;
}

/* Bytes the current line (and section) may still grow by. */
static inline size_t room(const h1p *p, int in_section)
{
	size_t r = H1P_LINE_MAX + 2 - p->line;
	if (in_section && section_max(p) - p->section < r)
		r = section_max(p) - p->section;
	return r;
}

/* Counts n bytes of the current line (and header section): NULL, or which
 * limit they would exceed. */
static inline const char *grow(h1p *p, size_t n, int in_section)
{
	if (n > H1P_LINE_MAX + 2 - p->line)
		return "line too long";
	if (in_section && n > section_max(p) - p->section) {
		p->too_large = !p->headers_done;
		return p->interim > 0 ? "header sections too large (1xx responses included)" : "header section too large";
	}
	p->line += (uint32_t)n;
	if (in_section)
		p->section += (uint32_t)n;
	return NULL;
}

/* Scans field bytes from i, no further than the current line may grow.
 * Returns where the run ends; counts it. */
static inline size_t field_run(h1p *p, const unsigned char *b, size_t i, size_t len, int in_section)
{
	size_t lim = len - i < room(p, in_section) ? len : i + room(p, in_section);
	size_t j = i;
	while (j < lim && is_field(b[j]))
		j++;
	grow(p, j - i, in_section);
	return j;
}

/* Where the run of tchars from i ends, no further than the current line
 * (and section) may grow. Counts nothing. */
static inline size_t tchar_run(const h1p *p, const unsigned char *b, size_t i, size_t len)
{
	size_t r = room(p, 1), lim = len - i < r ? len : i + r, j = i;
	while (j < lim && is_tchar(b[j]))
		j++;
	return j;
}

static void deliver(h1p *p, const char *data, size_t n)
{
	p->body_bytes += n;
	if (p->sink_left > 0) {
		size_t m = n < p->sink_left ? n : (size_t)p->sink_left;
		p->sink(p->sink_arg, data, m);
		p->sink_left -= m;
	}
}

/* Starts reading the value of header p->hdr. */
static void value_begin(h1p *p)
{
	p->pos = 0;
	p->tok_space = 0;
	p->cl_elem = 0;
	p->cl_digits = 0;
	p->elems = 0;
	if (p->hdr == HDR_TE) {
		/* Several Transfer-Encoding lines make one list: te_chunked
		 * carries over, as the last coding of all of them counts. */
		p->mask = TE_WORDS;
		p->have_te = 1;
	} else if (p->hdr == HDR_CONN) {
		p->mask = CONN_WORDS;
	} else {
		p->mask = 0;
	}
}

/* Ends one list element of a Content-Length value; NULL or why it is bad. */
static const char *cl_element(h1p *p)
{
	if (!p->cl_digits)
		return NULL; /* an empty list element */
	if (p->have_cl && p->content_length != p->cl_elem)
		return "conflicting Content-Length values";
	p->have_cl = 1;
	p->content_length = p->cl_elem;
	p->elems++;
	p->cl_elem = 0;
	p->cl_digits = 0;
	p->tok_space = 0;
	return NULL;
}

/* Ends one list element of a Transfer-Encoding or Connection value. */
static void tok_element(h1p *p)
{
	if (p->pos > 0) {
		int k = matched(p->mask, p->pos, tok_lens);
		if (p->hdr == HDR_TE)
			p->te_chunked = k == TOK_CHUNKED; /* only the last coding counts */
		else if (k == TOK_CLOSE)
			p->conn_close = 1;
		else if (k == TOK_KEEP_ALIVE)
			p->conn_keep = 1;
	}
	p->pos = 0;
	p->tok_space = 0;
	p->mask = p->hdr == HDR_TE ? TE_WORDS : CONN_WORDS;
}

/* n bytes of the current element of a Transfer-Encoding or Connection
 * value, none of them a comma or a space. (pos stays within the line's
 * limit.) */
static void value_token(h1p *p, const unsigned char *b, size_t n)
{
	/* A space inside an element makes it no single token. */
	p->mask = p->tok_space ? 0 : match_run(p->mask, p->pos, b, n, 0, tok_words, tok_lens);
	p->pos += (uint32_t)n;
}

/* One byte (a field byte, not CR) of a value the parser reads; NULL or why it is bad. */
static const char *value_byte(h1p *p, unsigned c)
{
	if (p->hdr == HDR_CL) {
		if (c >= '0' && c <= '9') {
			unsigned d = c - '0';
			if (p->tok_space)
				return "bad Content-Length";
			if (p->cl_elem > ((uint64_t)INT64_MAX - d) / 10)
				return "Content-Length too large";
			p->cl_elem = p->cl_elem * 10 + d;
			p->cl_digits = 1;
			return NULL;
		}
		if (c == ' ' || c == '\t') {
			if (p->cl_digits)
				p->tok_space = 1;
			return NULL;
		}
		if (c == ',')
			return cl_element(p);
		return "bad Content-Length";
	}
	if (c == ',') {
		tok_element(p);
	} else if (c == ' ' || c == '\t') {
		if (p->pos > 0)
			p->tok_space = 1;
	} else {
		unsigned char byte = (unsigned char)c;
		value_token(p, &byte, 1);
	}
	return NULL;
}

/* The CR that ends a value the parser reads; NULL or why it is bad. */
static const char *value_end(h1p *p)
{
	if (p->hdr == HDR_CL) {
		const char *why = cl_element(p);
		if (why == NULL && p->elems == 0)
			why = "empty Content-Length";
		return why;
	}
	tok_element(p);
	return NULL;
}

/* The header section ended. Returns 1 when it was an interim (1xx) response. */
static int head_end(h1p *p)
{
	if (p->status >= 100 && p->status < 200 && p->status != 101) {
		p->interim += p->section; /* endless 1xx responses end at H1P_HEADERS_MAX */
		head_reset(p);
		section_limit(p);
		p->pos = 0;
		p->state = S_VERSION;
		return 1;
	}
	p->headers_done = 1;
	section_limit(p); /* for the trailer section */
	p->keep_alive = p->minor >= 1 ? !p->conn_close : (p->conn_keep && !p->conn_close);
	if (p->head || p->status < 200 || p->status == 204 || p->status == 304) {
		p->framing = H1P_NONE;
		if (p->status == 101)
			p->keep_alive = 0; /* the connection speaks another protocol now */
	} else if (p->have_te) {
		p->framing = p->te_chunked ? H1P_CHUNKED : H1P_CLOSE;
		/* Both headers hint at request smuggling: use this connection no more. */
		if (p->have_cl)
			p->keep_alive = 0;
	} else if (p->have_cl) {
		p->framing = H1P_LENGTH;
		p->left = p->content_length;
	} else {
		p->framing = H1P_CLOSE;
	}
	if (p->framing == H1P_CLOSE)
		p->keep_alive = 0;
	switch (p->framing) {
	case H1P_NONE: p->state = S_DONE; break;
	case H1P_LENGTH: p->state = p->left == 0 ? S_DONE : S_BODY_LENGTH; break;
	case H1P_CHUNKED: p->state = S_CHUNK_SIZE; p->pos = 0; p->left = 0; p->line = 0; break;
	case H1P_CLOSE: p->state = S_BODY_CLOSE; break;
	}
	p->done = p->state == S_DONE;
	return 0;
}

/* ---- the whole header section in one piece ---- */

/* The high bit of each of the 8 bytes in x that is below 0x20 or is DEL: a
 * byte no field holds bare, but HTAB. The two tests are the classic "has a
 * byte less than n" and "has a zero byte"; a borrow only starts at a byte
 * that is flagged rightly, so the lowest flag is always right (the ones
 * above it may not be, and are not used). */
static inline uint64_t ctl_bytes(uint64_t x)
{
	const uint64_t ones = UINT64_C(0x0101010101010101), high = UINT64_C(0x8080808080808080);
	uint64_t y = x ^ (ones * 0x7f);
	return (((x - ones * 0x20) & ~x) | ((y - ones) & ~y)) & high;
}

/* Where the run of field bytes from i ends, before end: 8 bytes at a time
 * (the first flagged byte of a little-endian word is its lowest), then byte
 * by byte. */
static inline size_t field_span(const unsigned char *b, size_t i, size_t end)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	while (i + 8 <= end) {
		uint64_t x, m;
		memcpy(&x, b + i, 8);
		if ((m = ctl_bytes(x)) == 0) {
			i += 8;
			continue;
		}
		i += (size_t)__builtin_ctzll(m) >> 3;
		if (b[i] != '\t')
			return i;
		i++; /* HTAB is a field byte */
	}
#endif
	while (i < end && is_field(b[i]))
		i++;
	return i;
}

/* The header a whole name of n bytes names (HDR_*); most names differ from
 * every word the parser reads in their length alone. */
static int name_word(const unsigned char *b, size_t n)
{
	for (int k = 0; k < (int)sizeof(hdr_lens); k++)
		if (n == hdr_lens[k] && same_lower(b, hdr_words[k], n))
			return k + 1;
	return HDR_OTHER;
}

/* A whole value of a header the parser reads: the n field bytes before its
 * CR, read as the state machine reads them (tokens a run at a time, other
 * bytes one by one). NULL or why the value is bad. */
static const char *value_all(h1p *p, const unsigned char *b, size_t n)
{
	const char *why;
	value_begin(p);
	for (size_t i = 0; i < n;) {
		if (p->hdr != HDR_CL && is_tchar(b[i])) {
			size_t j = i + 1;
			while (j < n && is_tchar(b[j]))
				j++;
			value_token(p, b + i, j - i);
			i = j;
		} else if ((why = value_byte(p, b[i++])) != NULL) {
			return why;
		}
	}
	return value_end(p);
}

/*
 * The common case in one pass: the bytes fed begin with a final response's
 * whole header section, well within every limit. Works on a copy of the
 * parser and keeps it only when the section parsed cleanly; anything else
 * (a piece that ends inside the section, a 1xx response, a line or section
 * at a limit, any error) leaves p as it was, and the state machine then
 * reads the same bytes and gives its exact verdict. The fuzz target checks
 * the two agree (a stream fed whole takes this path, fed in pieces mostly
 * not). Returns the section's bytes, or 0.
 */
static size_t fast_head(h1p *p, const unsigned char *b, size_t len)
{
	h1p q = *p;
	size_t lim = len < q.smax ? len : q.smax, k = 12;
	if (lim < 16 || memcmp(b, "HTTP/1.", 7) != 0 || !is_digit(b[7]) || b[8] != ' ' || b[9] == '0' ||
	    !is_digit(b[9]) || !is_digit(b[10]) || !is_digit(b[11]))
		return 0;
	q.minor = b[7] - '0';
	q.status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
	if (q.status < 200 && q.status != 101)
		return 0;
	if (b[k] == ' ')
		k = field_span(b, k + 1, lim);
	if (k + 2 >= lim || b[k] != '\r' || b[k + 1] != '\n' || k > H1P_LINE_MAX)
		return 0; /* k + 2 < lim: the next line's first byte is there */
	for (k += 2; b[k] != '\r'; k += 2) {
		size_t line = k, j = k;
		while (j + 4 <= lim && (byte_class[b[j]] & byte_class[b[j + 1]] & byte_class[b[j + 2]] &
		                        byte_class[b[j + 3]] & C_TCHAR))
			j += 4;
		while (j < lim && is_tchar(b[j]))
			j++;
		if (j == k || j >= lim || b[j] != ':')
			return 0;
		q.hdr = name_word(b + k, j - k);
		if (q.hdr == HDR_SET_COOKIE) {
			q.set_cookie = 1;
			q.hdr = HDR_OTHER; /* its value is not read here */
		}
		k = field_span(b, j + 1, lim);
		if (k + 2 >= lim || b[k] != '\r' || b[k + 1] != '\n' || k - line > H1P_LINE_MAX ||
		    (q.hdr != HDR_OTHER && value_all(&q, b + j + 1, k - j - 1) != NULL))
			return 0;
	}
	if (k + 1 >= lim || b[k + 1] != '\n')
		return 0;
	k += 2;
	q.section = (uint32_t)k;
	q.line = 0;
	q.header_bytes += k;
	head_end(&q);
	*p = q;
	return k;
}

int h1p_feed(h1p *p, const char *buf, size_t len, size_t *used)
{
	const unsigned char *b = (const unsigned char *)buf;
	size_t i = 0, seg = 0; /* seg: where the bytes not yet counted start */
	const char *why = NULL;

	if (p->state == S_ERROR) {
		*used = 0;
		return HERD_EPROTO;
	}
	if (p->state == S_VERSION && p->header_bytes == 0) {
		i = seg = fast_head(p, b, len); /* counted in header_bytes there */
		if (p->state == S_DONE) {
			p->done = 1;
			*used = i;
			return HERD_OK;
		}
	}
	while (i < len && p->state != S_DONE) {
		unsigned c = b[i];
		/* Every byte of a header section counts toward the line and section
		 * limits; tight loops below count their runs themselves. */
		int sect = p->state <= S_HEAD_END_LF || p->state >= S_TRAILER_START;
		switch (p->state) {
		case S_VERSION:
			if (p->pos < 7) {
				/* "HTTP/1." as far as this piece goes, at once. */
				size_t n = len - i < 7 - p->pos ? len - i : 7 - p->pos;
				if (memcmp(b + i, &"HTTP/1."[p->pos], n) != 0) {
					while (b[i] == (unsigned char)"HTTP/1."[p->pos]) {
						i++; /* *used points at the offending byte */
						p->pos++;
					}
					why = "not an HTTP/1.x status line";
					goto fail;
				}
				p->pos += (uint32_t)n;
				if ((why = grow(p, n, sect)) != NULL)
					goto fail;
				i += n;
				continue;
			} else if (p->pos == 7) {
				if (c < '0' || c > '9') {
					why = "bad HTTP version";
					goto fail;
				}
				p->minor = (int)(c - '0');
				p->pos++;
			} else if (c != ' ') {
				why = "no space after the HTTP version";
				goto fail;
			} else {
				p->state = S_CODE;
				p->pos = 0;
				p->status = 0;
			}
			break;
		case S_CODE:
			if (c < '0' || c > '9' || (p->pos == 0 && c == '0')) {
				why = "bad status code";
				goto fail;
			}
			p->status = p->status * 10 + (int)(c - '0');
			if (++p->pos == 3)
				p->state = S_AFTER_CODE;
			break;
		case S_AFTER_CODE:
			if (c == ' ') {
				p->state = S_REASON;
			} else if (c == '\r') {
				p->state = S_STATUS_LF;
			} else {
				why = "bad status code";
				goto fail;
			}
			break;
		case S_REASON:
		case S_CHUNK_EXT:
		case S_TRAILER_VALUE:
		case S_VALUE:
			if (p->state != S_VALUE || p->hdr == HDR_OTHER) {
				/* Bytes nobody interprets: skip the run in one go. */
				i = field_run(p, b, i, len, sect);
				if (i == len)
					continue;
				c = b[i];
			} else if (p->hdr != HDR_CL && is_tchar(c)) {
				/* A Transfer-Encoding or Connection token: matched as a
				 * run (a run cut at the line's limit ends below). */
				size_t j = tchar_run(p, b, i, len);
				if (j > i) {
					value_token(p, b + i, j - i);
					grow(p, j - i, sect);
					i = j;
					continue;
				}
			}
			if (c == '\r') {
				switch (p->state) {
				case S_REASON: p->state = S_STATUS_LF; break;
				case S_CHUNK_EXT: p->state = S_CHUNK_SIZE_LF; break;
				case S_TRAILER_VALUE: p->state = S_TRAILER_LF; break;
				default:
					if (p->hdr != HDR_OTHER && (why = value_end(p)) != NULL)
						goto fail;
					p->state = S_FIELD_LF;
					break;
				}
			} else if (!is_field(c)) {
				/* A field byte here means field_run stopped at the limit. */
				why = "control character in a line";
				goto fail;
			} else if (p->state != S_VALUE || p->hdr == HDR_OTHER) {
				why = grow(p, 1, sect); /* the run stopped at a limit */
				goto fail;
			} else if ((why = value_byte(p, c)) != NULL) {
				goto fail;
			}
			break;
		case S_STATUS_LF:
		case S_FIELD_LF:
		case S_TRAILER_LF:
			if (c != '\n') {
				why = "CR without LF";
				goto fail;
			}
			p->state = p->state == S_TRAILER_LF ? S_TRAILER_START : S_FIELD_START;
			if ((why = grow(p, 1, sect)) != NULL)
				goto fail;
			if (++i == len)
				continue;
			c = b[i];
			/* The next line starts at once. */
			/* fall through */
		case S_FIELD_START:
		case S_TRAILER_START:
			p->line = 0;
			if (c == '\r') {
				p->state = p->state == S_FIELD_START ? S_HEAD_END_LF : S_TRAILER_END_LF;
				break;
			}
			if (!is_tchar(c)) {
				why = c == ' ' || c == '\t' ? "obsolete line folding" : "bad header name";
				goto fail;
			}
			p->pos = 0;
			p->mask = p->state == S_FIELD_START ? HDR_WORDS : 0; /* trailers are not interpreted */
			p->state = p->state == S_FIELD_START ? S_NAME : S_TRAILER_NAME;
			/* The byte is read again as part of the name. */
			/* fall through */
		case S_NAME:
		case S_TRAILER_NAME: {
			size_t j = tchar_run(p, b, i, len);
			if (p->mask != 0)
				p->mask = match_run(p->mask, p->pos, b + i, j - i, j < len && b[j] == ':', hdr_words,
				                    hdr_lens);
			p->pos += (uint32_t)(j - i);
			grow(p, j - i, 1);
			i = j;
			if (i == len)
				continue;
			c = b[i];
			if (c != ':') {
				why = is_tchar(c) ? grow(p, 1, 1) : "bad header name";
				goto fail;
			}
			if (p->state == S_NAME) {
				p->hdr = matched(p->mask, p->pos, hdr_lens);
				if (p->hdr == HDR_SET_COOKIE) {
					p->set_cookie = 1;
					p->hdr = HDR_OTHER; /* its value is not read here */
				}
				value_begin(p);
				p->state = S_VALUE;
			} else {
				p->state = S_TRAILER_VALUE;
			}
			break;
		}
		case S_HEAD_END_LF:
		case S_TRAILER_END_LF:
			if (c != '\n') {
				why = "CR without LF";
				goto fail;
			}
			if ((why = grow(p, 1, 1)) != NULL)
				goto fail;
			i++;
			p->line = 0;
			if (p->state == S_TRAILER_END_LF)
				p->state = S_DONE;
			else if (!head_end(p)) {
				p->header_bytes += i - seg;
				seg = i;
			}
			continue;
		case S_BODY_LENGTH:
		case S_CHUNK_DATA: {
			size_t n = len - i;
			if (n > p->left)
				n = (size_t)p->left;
			deliver(p, buf + i, n);
			i += n;
			p->left -= n;
			if (p->left == 0)
				p->state = p->state == S_BODY_LENGTH ? S_DONE : S_CHUNK_DATA_CR;
			continue;
		}
		case S_BODY_CLOSE:
			deliver(p, buf + i, len - i);
			i = len;
			continue;
		case S_CHUNK_SIZE: {
			int h = hexval(c);
			if (h >= 0) {
				if (p->left > ((uint64_t)INT64_MAX >> 4)) {
					why = "chunk size too large";
					goto fail;
				}
				p->left = p->left << 4 | (uint64_t)h;
				p->pos = 1;
			} else if (p->pos == 0) {
				why = "bad chunk size";
				goto fail;
			} else if (c == ' ' || c == '\t') {
				p->state = S_CHUNK_AFTER_SIZE;
			} else if (c == ';') {
				p->state = S_CHUNK_EXT;
			} else if (c == '\r') {
				p->state = S_CHUNK_SIZE_LF;
			} else {
				why = "bad chunk size";
				goto fail;
			}
			break;
		}
		case S_CHUNK_AFTER_SIZE:
			if (c == ';') {
				p->state = S_CHUNK_EXT;
			} else if (c == '\r') {
				p->state = S_CHUNK_SIZE_LF;
			} else if (c != ' ' && c != '\t') {
				why = "bad chunk size";
				goto fail;
			}
			break;
		case S_CHUNK_SIZE_LF:
			if (c != '\n') {
				why = "CR without LF";
				goto fail;
			}
			if ((why = grow(p, 1, 0)) != NULL)
				goto fail;
			if (p->left == 0) {
				p->state = S_TRAILER_START;
				p->section = 0;
			} else {
				p->state = S_CHUNK_DATA;
			}
			p->line = 0;
			i++;
			continue;
		case S_CHUNK_DATA_CR:
			if (c != '\r') {
				why = "chunk data not followed by CRLF";
				goto fail;
			}
			p->state = S_CHUNK_DATA_LF;
			break;
		case S_CHUNK_DATA_LF:
			if (c != '\n') {
				why = "chunk data not followed by CRLF";
				goto fail;
			}
			p->state = S_CHUNK_SIZE;
			p->pos = 0;
			p->left = 0;
			p->line = 0;
			i++;
			continue;
		default:
			why = "parser misuse";
			goto fail;
		}
		/* The byte at i was read by a per-byte state: count it. */
		if ((why = grow(p, 1, sect)) != NULL)
			goto fail;
		i++;
	}
	if (p->state == S_DONE)
		p->done = 1;
	if (p->headers_done)
		p->body_wire_bytes += i - seg;
	else
		p->header_bytes += i - seg;
	*used = i;
	return HERD_OK;
fail:
	p->why = why;
	p->state = S_ERROR;
	if (p->headers_done)
		p->body_wire_bytes += i - seg;
	else
		p->header_bytes += i - seg;
	*used = i;
	return HERD_EPROTO;
}

int h1p_eof(h1p *p)
{
	if (p->state == S_BODY_CLOSE)
		p->state = S_DONE;
	if (p->state == S_DONE) {
		p->done = 1;
		return HERD_OK;
	}
	return HERD_ECLOSED;
}
