/*
 * Text a peer sent us, made safe to print and to store: control characters,
 * invalid UTF-8 and the bidirectional overrides that could rewrite a
 * terminal line are escaped, and the result is truncated to a bound. Every
 * string from the wire that reaches a log line, the terminal or the store
 * (agent ids, names, hosts, versions, error messages) goes through here.
 */
#ifndef HERD_COMMON_SAFETEXT_H
#define HERD_COMMON_SAFETEXT_H

#include <stddef.h>

/* Copies src (NULL reads as "") into dst (dstlen > 0 bytes, always
 * NUL-terminated): printable UTF-8 as it is, a backslash as "\\", a bad byte
 * or control byte as "\xNN", a control or bidi code point above 0x7f as
 * "\u{XXXX}". What does not fit in dstlen - 1 bytes is cut at a character
 * and replaced by "..." (dstlen of at least 4 has room for it). Returns dst,
 * so a call can be a printf argument. */
char *safetext_copy(char *dst, size_t dstlen, const char *src);

/* 1 when src is at most max bytes and safetext_copy would copy it unchanged
 * (no byte needs escaping); 0 otherwise. */
int safetext_ok(const char *src, size_t max);

#endif
