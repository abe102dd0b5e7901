/*
 * libFuzzer target for the template compiler and renderer: any bytes must
 * compile into a template that renders, or give an error whose offset lies
 * inside the input and whose message is not empty; never a crash or a leak.
 * The first byte chooses the scope (seq allowed, variables, feeders, env).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/sbuf.h"
#include "common/tmpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fz_var(void *arg, const char *name, size_t len)
{
	(void)arg;
	if (len == 5 && memcmp(name, "token", 5) == 0)
		return 0;
	if (len == 2 && memcmp(name, "id", 2) == 0)
		return 7; /* past the end of the render's variables */
	return -1;
}

static const char *fz_var_name(void *arg, size_t i)
{
	(void)arg;
	return i == 0 ? "token" : i == 1 ? "id" : NULL;
}

static int fz_column(void *arg, const char *feeder, size_t flen, const char *col, size_t clen,
                     uint32_t *fi, uint32_t *ci, char *msg, size_t msglen)
{
	(void)arg;
	(void)col;
	if (flen == 5 && memcmp(feeder, "users", 5) == 0) {
		*fi = 0;
		*ci = (uint32_t)clen % 3; /* column 2 renders as missing */
		return 0;
	}
	if (flen % 2 == 0)
		msg[0] = '\0'; /* sometimes no message: the compiler writes one */
	else
		strncpy(msg, "no such feeder", msglen);
	return -1;
}

static const char *fz_env(void *arg, const char *name)
{
	(void)arg;
	return name[0] == 'H' ? "value from env {{ x }}" : NULL;
}

static const char *fz_cell(void *arg, uint32_t fi, uint32_t ci, size_t *len)
{
	(void)arg;
	static const char *const cells[] = { "a@b.c", "" };
	if (fi != 0 || ci >= 2)
		return NULL;
	*len = strlen(cells[ci]);
	return cells[ci];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t sel = data[0];
	tmpl_scope sc = { 0 };
	if (sel & 1)
		sc.var = fz_var;
	if (sel & 2)
		sc.column = fz_column;
	if (sel & 4)
		sc.env = fz_env;
	if (sel & 8)
		sc.var_name = fz_var_name;
	sc.allow_seq = (sel & 16) != 0;
	const char *s = (const char *)data + 1;
	size_t len = size - 1;

	tmpl t;
	size_t off = SIZE_MAX;
	char msg[200];
	if (tmpl_compile(s, len, (sel & 32) ? NULL : &sc, &t, &off, msg, sizeof(msg)) != 0) {
		if (off > len || msg[0] == '\0' || t.parts != NULL || t.nparts != 0)
			abort();
		return 0;
	}
	size_t n = 0, total = 0;
	const char *lit = tmpl_literal(&t, &n);
	for (size_t k = 0; k < t.nparts; k++) {
		int lit_before = k > 0 && t.parts[k - 1].kind == TP_LIT;
		if (t.parts[k].kind == TP_LIT && (t.parts[k].len == 0 || lit_before))
			abort(); /* literal parts are never empty and always merged */
		total += t.parts[k].kind == TP_LIT ? t.parts[k].len : 0;
	}
	if (!t.dynamic && (t.nparts > 1 || (t.nparts == 1 && (lit == NULL || n != total || lit[n] != '\0'))))
		abort();

	static char *const vals[] = { "abc" };
	static const size_t val_len[] = { 3 };
	uint64_t rng = 0x9e3779b97f4a7c15u ^ size;
	tmpl_env e = { .vu = 1, .iter = -2, .agent = 3, .seq = 4, .vars = vals, .var_len = val_len,
		       .nvars = 1, .column = fz_cell, .rng = &rng };
	sbuf b = { 0 };
	tmpl_render(&t, &e, &b);
	/* Without templates, what renders is what was written. */
	if (!b.oom && t.nparts > 0 && !t.dynamic && memchr(s, '{', len) == NULL &&
	    (b.len != len || memcmp(b.p, s, len) != 0))
		abort();
	free(b.p);
	tmpl_free(&t);
	return 0;
}
