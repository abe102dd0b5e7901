/*
 * A growable, always NUL-terminated string buffer for building text that is
 * made once (plan URLs, pre-rendered requests). Out of memory is sticky: the
 * caller checks b->oom once at the end.
 */
#ifndef HERD_COMMON_SBUF_H
#define HERD_COMMON_SBUF_H

#include <stddef.h>

typedef struct sbuf {
	char *p;      /* the text, owned; NULL until something is added */
	size_t len, cap;
	int oom;      /* 1 once an allocation failed; later adds do nothing */
} sbuf;

/* Appends n bytes of s. */
void sbuf_add(sbuf *b, const char *s, size_t n);
/* Appends the string s. */
void sbuf_str(sbuf *b, const char *s);
/* Appends printf-formatted text. */
void sbuf_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends n bytes of s percent-encoded, but for RFC 3986's unreserved characters. */
void sbuf_urlenc(sbuf *b, const char *s, size_t n);

#endif
