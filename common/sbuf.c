/* Growable string buffer; see sbuf.h. */
#include <stdlib.h>
#include <string.h>

#include "common/sbuf.h"

void sbuf_add(sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void sbuf_str(sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}
