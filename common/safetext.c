/* Escaping and truncating peer-supplied text; see safetext.h. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/safetext.h"

/* The length of the valid UTF-8 sequence at s (n bytes left) and its code
 * point, or 0 when the bytes there are not one (overlong forms, surrogates
 * and values past U+10FFFF included). */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c, min;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2, c = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3, c = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Code points that move the cursor, change how a terminal reads what
 * follows, or reorder the line (C1 controls, line and paragraph separators,
 * bidirectional embeddings, overrides and isolates). */
static int hidden(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e || cp == 0x200f || cp == 0x061c || cp == 0xfeff;
}

/* How src's next character is written: its bytes (*raw = 1) or an escape
 * in esc. Returns the source bytes it takes. */
static size_t next_char(const unsigned char *s, size_t n, char *esc, size_t esclen, int *raw)
{
	uint32_t cp;
	size_t len = utf8_seq(s, n, &cp);
	*raw = 0;
	if (len == 0) {
		snprintf(esc, esclen, "\\x%02x", s[0]);
		return 1;
	}
	if (cp == '\\') {
		snprintf(esc, esclen, "\\\\");
	} else if (cp < 0x20 || cp == 0x7f) {
		snprintf(esc, esclen, "\\x%02x", (unsigned)cp);
	} else if (hidden(cp)) {
		snprintf(esc, esclen, "\\u{%04x}", (unsigned)cp);
	} else {
		*raw = 1;
	}
	return len;
}

/* The length of src once escaped. */
static size_t escaped_len(const unsigned char *s, size_t n)
{
	size_t total = 0;
	char esc[16];
	while (n > 0) {
		int raw;
		size_t take = next_char(s, n, esc, sizeof(esc), &raw);
		total += raw ? take : strlen(esc);
		s += take;
		n -= take;
	}
	return total;
}

char *safetext_copy(char *dst, size_t dstlen, const char *src)
{
	const unsigned char *s = (const unsigned char *)(src != NULL ? src : "");
	size_t n = strlen((const char *)s), o = 0;
	char esc[16];
	if (dstlen == 0)
		return dst;
	/* What does not fit is cut at a character, with room kept for "...". */
	size_t room = dstlen - 1;
	int cut = escaped_len(s, n) > room;
	size_t limit = cut && room >= 3 ? room - 3 : room;
	while (n > 0) {
		int raw;
		size_t take = next_char(s, n, esc, sizeof(esc), &raw);
		size_t outlen = raw ? take : strlen(esc);
		if (o + outlen > limit)
			break;
		memcpy(dst + o, raw ? (const char *)s : esc, outlen);
		o += outlen;
		s += take;
		n -= take;
	}
	if (cut && room >= 3) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}

int safetext_ok(const char *src, size_t max)
{
	const unsigned char *s = (const unsigned char *)(src != NULL ? src : "");
	size_t n = strlen((const char *)s);
	char esc[16];
	if (n > max)
		return 0;
	while (n > 0) {
		int raw;
		size_t take = next_char(s, n, esc, sizeof(esc), &raw);
		if (!raw)
			return 0;
		s += take;
		n -= take;
	}
	return 1;
}
