/*
 * Templates: the compiler turns "text {{ expr }} text" into a list of parts
 * once, resolving names, function arguments and env() then; the renderer only
 * walks the parts and appends to an sbuf. See tmpl.h and docs/journeys.md.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/sbuf.h"
#include "common/textdist.h"
#include "common/tmpl.h"

#define NELEM(a)        (sizeof(a) / sizeof((a)[0]))
#define RANDSTR_MAX     4096
#define MAX_ARGS        4
#define SHOW_MAX        64 /* bytes of a name or value quoted in a message */
#define SHOWBUF         (4 * SHOW_MAX + 8)

/* ---- compiling ---- */

/* The compiler's working state. Literal parts keep their store offset in
 * lit_off until the end, since the store moves as it grows. */
typedef struct cst {
	const char *s;
	size_t len;
	const tmpl_scope *sc;
	tmpl_part *parts;
	size_t nparts, pcap;
	size_t *lit_off; /* per part, for TP_LIT */
	char *store;
	size_t slen, scap;
	size_t *err_off;
	char *msg;
	size_t msglen;
} cst;

/* A function argument as written. */
typedef struct arg {
	int is_str;
	size_t off;  /* where it starts in s */
	int64_t v;   /* an integer's value */
	size_t slen; /* a string's length once unescaped */
} arg;

typedef struct fn {
	const char *name;
	uint8_t kind; /* TP_LIT for env(), which becomes literal text */
	const char *usage;
} fn;

static const fn fns[] = {
	{ "uuid", TP_UUID, "uuid takes no arguments: uuid()" },
	{ "randomInt", TP_RANDINT, "randomInt needs two integers, as in randomInt(1, 100)" },
	{ "randomString", TP_RANDSTR, "randomString needs one integer, as in randomString(12)" },
	{ "now", TP_NOW, "now takes no arguments: now()" },
	{ "env", TP_LIT,
	  "env needs a name and an optional default in double quotes, as in env(\"NAME\", \"default\")" },
};

static int fail(cst *c, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(cst *c, size_t off, const char *fmt, ...)
{
	if (c->err_off != NULL)
		*c->err_off = off;
	if (c->msg != NULL && c->msglen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->msg, c->msglen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int oom(cst *c)
{
	return fail(c, 0, "out of memory");
}

/* Writes n bytes of p into out (SHOWBUF bytes) as text safe to
 * quote in a message: bytes outside printable ASCII as \xNN, long text cut. */
static const char *show(const char *p, size_t n, char *out, size_t outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 8 < outlen; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (i == SHOW_MAX) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (ch >= 0x20 && ch < 0x7f) {
			out[o++] = (char)ch;
		} else {
			snprintf(out + o, outlen - o, "\\x%02x", ch);
			o += 4;
		}
	}
	out[o] = '\0';
	return out;
}

static int is_ws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static int is_name0(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_';
}

static int is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static int is_name(char ch)
{
	return is_name0(ch) || is_digit(ch);
}

static size_t skip_ws(const cst *c, size_t i)
{
	while (i < c->len && is_ws(c->s[i]))
		i++;
	return i;
}

static int text_is(const char *p, size_t n, const char *name)
{
	return strlen(name) == n && memcmp(p, name, n) == 0;
}

/* Edit distance between p (n bytes) and name up to any "(", ignoring case; a
 * large value when the lengths alone are too far apart to matter. */
static size_t distance(const char *p, size_t n, const char *name)
{
	size_t m = strcspn(name, "(");
	if (m > 63 || n > m + 2 || m > n + 2)
		return 99;
	return text_edit_distance(p, n, name, m);
}

/* Whether name is closer to p than *best so far (at most one edit for short
 * names, two for longer ones); then it becomes *best. */
static void consider(const char *p, size_t n, const char *name, const char **best, size_t *bd)
{
	size_t d = distance(p, n, name), limit = strcspn(name, "(") <= 3 ? 1 : 2;
	if (d <= limit && d < *bd) {
		*bd = d;
		*best = name;
	}
}

static int grow_parts(cst *c)
{
	if (c->nparts < c->pcap)
		return 0;
	size_t cap = c->pcap ? c->pcap * 2 : 4;
	tmpl_part *p = realloc(c->parts, cap * sizeof(*p));
	if (p == NULL)
		return -1;
	c->parts = p;
	size_t *o = realloc(c->lit_off, cap * sizeof(*o));
	if (o == NULL)
		return -1;
	c->lit_off = o;
	c->pcap = cap;
	return 0;
}

/* Room for n more bytes of literal text (and the final NUL) in the store. */
static char *store_reserve(cst *c, size_t n)
{
	if (n > SIZE_MAX / 2 - c->slen)
		return NULL;
	if (c->slen + n + 1 > c->scap) {
		size_t cap = c->scap ? c->scap : 64;
		while (cap < c->slen + n + 1)
			cap *= 2;
		char *p = realloc(c->store, cap);
		if (p == NULL)
			return NULL;
		c->store = p;
		c->scap = cap;
	}
	return c->store + c->slen;
}

/* Adds n bytes, already written at store_reserve(c, n), as literal text:
 * onto the last part when that is literal too (its bytes end the store). */
static int lit_commit(cst *c, size_t n)
{
	if (n == 0)
		return 0;
	if (c->nparts > 0 && c->parts[c->nparts - 1].kind == TP_LIT) {
		c->parts[c->nparts - 1].len += n;
	} else {
		if (grow_parts(c) != 0)
			return oom(c);
		c->parts[c->nparts] = (tmpl_part){ .kind = TP_LIT, .len = n };
		c->lit_off[c->nparts] = c->slen;
		c->nparts++;
	}
	c->slen += n;
	return 0;
}

static int add_lit(cst *c, const char *p, size_t n)
{
	if (n == 0)
		return 0;
	char *d = store_reserve(c, n);
	if (d == NULL)
		return oom(c);
	memcpy(d, p, n);
	return lit_commit(c, n);
}

static int add_part(cst *c, tmpl_part p)
{
	if (grow_parts(c) != 0)
		return oom(c);
	c->parts[c->nparts++] = p;
	return 0;
}

/*
 * Checks the string literal whose opening quote is at i: sets *end past the
 * closing quote and *n to its length once unescaped (\" and \\ only).
 */
static int scan_string(cst *c, size_t i, size_t *end, size_t *n)
{
	size_t k = 0;
	for (size_t j = i + 1; j < c->len; j++) {
		if (c->s[j] == '"') {
			*end = j + 1;
			*n = k;
			return 0;
		}
		if (c->s[j] == '\\') {
			if (j + 1 < c->len && (c->s[j + 1] == '"' || c->s[j + 1] == '\\')) {
				j++;
			} else if (j + 1 < c->len) {
				char b[SHOWBUF];
				return fail(c, j,
				            "unknown escape '\\%s' in a string; only \\\" and \\\\ are known",
				            show(c->s + j + 1, 1, b, sizeof(b)));
			}
		}
		k++;
	}
	return fail(c, i, "string is not closed by '\"'");
}

/* Writes the string literal whose opening quote is at i, already checked by
 * scan_string, unescaped into d. */
static void unescape(const cst *c, size_t i, char *d)
{
	for (size_t j = i + 1; c->s[j] != '"'; j++) {
		if (c->s[j] == '\\')
			j++;
		*d++ = c->s[j];
	}
}

/* Reads the integer at i (an optional '-', then digits): sets *end past it. */
static int scan_int(cst *c, size_t i, size_t *end, int64_t *v)
{
	size_t j = i;
	int neg = 0;
	if (j < c->len && c->s[j] == '-') {
		neg = 1;
		j++;
	}
	uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, u = 0;
	for (; j < c->len && is_digit(c->s[j]); j++) {
		unsigned d = (unsigned)(c->s[j] - '0');
		if (u > (lim - d) / 10)
			return fail(c, i, "integer out of range");
		u = u * 10 + d;
	}
	*end = j;
	*v = neg ? (int64_t)(0 - u) : (int64_t)u;
	return 0;
}

/*
 * Reads the arguments from '(' at i to the matching ')': sets *end past it.
 * Anything other than integers and strings separated by commas is f's usage
 * error at the place it goes wrong.
 */
static int scan_args(cst *c, size_t at, const fn *f, size_t i, arg *args, size_t *nargs, size_t *end)
{
	size_t na = 0;
	i = skip_ws(c, i + 1);
	if (i < c->len && c->s[i] == ')') {
		*nargs = 0;
		*end = i + 1;
		return 0;
	}
	for (;;) {
		if (i >= c->len)
			return fail(c, at, "'{{' is not closed by '}}'");
		if (na == MAX_ARGS)
			return fail(c, i, "%s", f->usage);
		arg *a = &args[na];
		*a = (arg){ .off = i };
		if (c->s[i] == '"') {
			a->is_str = 1;
			if (scan_string(c, i, &i, &a->slen) != 0)
				return -1;
		} else if (is_digit(c->s[i]) || (c->s[i] == '-' && i + 1 < c->len && is_digit(c->s[i + 1]))) {
			if (scan_int(c, i, &i, &a->v) != 0)
				return -1;
		} else {
			return fail(c, i, "%s", f->usage);
		}
		na++;
		i = skip_ws(c, i);
		if (i >= c->len)
			return fail(c, at, "'{{' is not closed by '}}'");
		if (c->s[i] == ')')
			break;
		if (c->s[i] != ',')
			return fail(c, i, "%s", f->usage);
		i = skip_ws(c, i + 1);
	}
	*nargs = na;
	*end = i + 1;
	return 0;
}

/* env("NAME") or env("NAME", "default"), at name offset off: its value
 * becomes literal text. */
static int compile_env(cst *c, size_t off, const fn *f, const arg *args, size_t na)
{
	if (na < 1 || na > 2 || !args[0].is_str || (na == 2 && !args[1].is_str))
		return fail(c, off, "%s", f->usage);
	char b[SHOWBUF];
	char *name = malloc(args[0].slen + 1);
	if (name == NULL)
		return oom(c);
	unescape(c, args[0].off, name);
	name[args[0].slen] = '\0';
	if (args[0].slen == 0 || memchr(name, '\0', args[0].slen) != NULL || strchr(name, '=') != NULL) {
		show(name, args[0].slen, b, sizeof(b));
		free(name);
		return fail(c, args[0].off, "'%s' is not a valid environment variable name", b);
	}
	const char *v = c->sc != NULL && c->sc->env != NULL ? c->sc->env(c->sc->arg, name) : NULL;
	if (v != NULL) {
		free(name);
		return add_lit(c, v, strlen(v));
	}
	if (na == 2) {
		free(name);
		char *d = store_reserve(c, args[1].slen);
		if (d == NULL)
			return oom(c);
		unescape(c, args[1].off, d);
		return lit_commit(c, args[1].slen);
	}
	show(name, args[0].slen, b, sizeof(b));
	free(name);
	return fail(c, off, "environment variable %s is not set", b);
}

/* The function call whose name (n bytes) starts at off; '(' is at i. */
static int compile_call(cst *c, size_t at, size_t off, size_t n, size_t i, size_t *end)
{
	const fn *f = NULL;
	for (size_t k = 0; k < NELEM(fns); k++)
		if (text_is(c->s + off, n, fns[k].name))
			f = &fns[k];
	char b[SHOWBUF];
	if (f == NULL) {
		static const char *const builtins[] = { "__VU", "__ITER", "__AGENT", "seq" };
		for (size_t k = 0; k < NELEM(builtins); k++)
			if (text_is(c->s + off, n, builtins[k]))
				return fail(c, off, "'%s' is a variable, not a function: write {{ %s }}",
				            builtins[k], builtins[k]);
		const char *near = NULL;
		size_t bd = 99;
		for (size_t k = 0; k < NELEM(fns); k++)
			consider(c->s + off, n, fns[k].name, &near, &bd);
		show(c->s + off, n, b, sizeof(b));
		if (near != NULL)
			return fail(c, off, "unknown function '%s' (did you mean '%s'?)", b, near);
		return fail(c, off,
		            "unknown function '%s'; known are uuid, randomInt, randomString, now and env", b);
	}
	arg args[MAX_ARGS];
	size_t na = 0;
	if (scan_args(c, at, f, i, args, &na, end) != 0)
		return -1;
	tmpl_part p = { .kind = f->kind };
	switch (f->kind) {
	case TP_UUID:
	case TP_NOW:
		if (na != 0)
			return fail(c, off, "%s", f->usage);
		break;
	case TP_RANDINT:
		if (na != 2 || args[0].is_str || args[1].is_str)
			return fail(c, off, "%s", f->usage);
		if (args[0].v > args[1].v)
			return fail(c, args[0].off, "randomInt(x, y) needs x <= y, got %lld > %lld",
			            (long long)args[0].v, (long long)args[1].v);
		p.x = args[0].v;
		p.y = args[1].v;
		break;
	case TP_RANDSTR:
		if (na != 1 || args[0].is_str)
			return fail(c, off, "%s", f->usage);
		if (args[0].v < 1 || args[0].v > RANDSTR_MAX)
			return fail(c, args[0].off, "randomString length must be from 1 to %d, got %lld",
			            RANDSTR_MAX, (long long)args[0].v);
		p.x = args[0].v;
		break;
	default:
		return compile_env(c, off, f, args, na);
	}
	return add_part(c, p);
}

/* feeder.column: the feeder's name (n bytes) at off, the '.' at dot. */
static int compile_column(cst *c, size_t off, size_t n, size_t dot, size_t *end)
{
	size_t k = dot + 1;
	while (k < c->len && (is_name(c->s[k]) || c->s[k] == '-'))
		k++;
	char b[SHOWBUF];
	show(c->s + off, n, b, sizeof(b));
	if (k == dot + 1)
		return fail(c, dot + 1, "a column name is expected after '%s.'", b);
	uint32_t fi = 0, ci = 0;
	char m[256] = "";
	const char *col = c->s + dot + 1;
	if (c->sc == NULL || c->sc->column == NULL ||
	    c->sc->column(c->sc->arg, c->s + off, n, col, k - dot - 1, &fi, &ci, m, sizeof(m)) != 0) {
		if (m[0] != '\0')
			return fail(c, off, "%s", m);
		show(c->s + off, k - off, b, sizeof(b));
		return fail(c, off, "unknown feeder column '%s'", b);
	}
	*end = k;
	return add_part(c, (tmpl_part){ .kind = TP_COL, .a = fi, .b = ci });
}

/* A name on its own: a builtin or a captured variable. */
static int compile_name(cst *c, size_t off, size_t n)
{
	const char *p = c->s + off;
	if (text_is(p, n, "__VU"))
		return add_part(c, (tmpl_part){ .kind = TP_VU });
	if (text_is(p, n, "__ITER"))
		return add_part(c, (tmpl_part){ .kind = TP_ITER });
	if (text_is(p, n, "__AGENT"))
		return add_part(c, (tmpl_part){ .kind = TP_AGENT });
	if (text_is(p, n, "seq")) {
		if (c->sc == NULL || !c->sc->allow_seq)
			return fail(c, off, "seq is only known inside a ws loop");
		return add_part(c, (tmpl_part){ .kind = TP_SEQ });
	}
	for (size_t k = 0; k < NELEM(fns); k++)
		if (text_is(p, n, fns[k].name))
			return fail(c, off, "'%s' is a function: write %s()", fns[k].name, fns[k].name);
	int v = c->sc != NULL && c->sc->var != NULL ? c->sc->var(c->sc->arg, p, n) : -1;
	if (v >= 0)
		return add_part(c, (tmpl_part){ .kind = TP_VAR, .a = (uint32_t)v });
	const char *names[] = { "__VU", "__ITER", "__AGENT",
		                c->sc != NULL && c->sc->allow_seq ? "seq" : NULL,
		                "uuid()", "randomInt()", "randomString()", "now()" };
	const char *near = NULL, *vn;
	size_t bd = 99;
	for (size_t k = 0; k < NELEM(names); k++)
		if (names[k] != NULL)
			consider(p, n, names[k], &near, &bd);
	if (c->sc != NULL && c->sc->var_name != NULL)
		for (size_t k = 0; (vn = c->sc->var_name(c->sc->arg, k)) != NULL; k++)
			consider(p, n, vn, &near, &bd);
	char b[SHOWBUF], nb[SHOWBUF];
	show(p, n, b, sizeof(b));
	if (near != NULL)
		return fail(c, off, "unknown variable '%s' (did you mean '%s'?)", b,
		            show(near, strlen(near), nb, sizeof(nb)));
	return fail(c, off, "unknown variable '%s'", b);
}

/* What is wrong at i inside the template whose "{{" is at at: the byte at i
 * is not expected there (want says what is) or, when no "}}" follows at
 * all, the template is not closed. */
static int unexpected(cst *c, size_t at, size_t i, const char *want)
{
	char b[SHOWBUF];
	if (i >= c->len || memmem(c->s + i, c->len - i, "}}", 2) == NULL)
		return fail(c, at, "'{{' is not closed by '}}'");
	return fail(c, i, "unexpected '%s' in a template; expected %s", show(&c->s[i], 1, b, sizeof(b)),
	            want);
}

/* The template whose "{{" is at at: returns 0 and sets *end past its "}}". */
static int compile_expr(cst *c, size_t at, size_t *end)
{
	size_t i = skip_ws(c, at + 2), e;
	if (i >= c->len)
		return fail(c, at, "'{{' is not closed by '}}'");
	char ch = c->s[i];
	if (ch == '}' && i + 1 < c->len && c->s[i + 1] == '}')
		return fail(c, at, "empty template '{{ }}'");
	if (ch == '"') {
		size_t n;
		if (scan_string(c, i, &e, &n) != 0)
			return -1;
		char *d = store_reserve(c, n);
		if (d == NULL)
			return oom(c);
		unescape(c, i, d);
		if (lit_commit(c, n) != 0)
			return -1;
	} else if (is_name0(ch)) {
		size_t n = 0;
		while (i + n < c->len && is_name(c->s[i + n]))
			n++;
		size_t j = skip_ws(c, i + n);
		if (j < c->len && c->s[j] == '(') {
			if (compile_call(c, at, i, n, j, &e) != 0)
				return -1;
		} else if (i + n < c->len && c->s[i + n] == '.') {
			if (compile_column(c, i, n, i + n, &e) != 0)
				return -1;
		} else if (compile_name(c, i, n) != 0) {
			return -1;
		} else {
			e = i + n;
		}
	} else {
		return unexpected(c, at, i, "a name, a function call or a string");
	}
	e = skip_ws(c, e);
	if (e + 1 >= c->len || c->s[e] != '}' || c->s[e + 1] != '}')
		return unexpected(c, at, e, "'}}'");
	*end = e + 2;
	return 0;
}

int tmpl_compile(const char *s, size_t len, const tmpl_scope *scope, tmpl *t, size_t *err_off,
                 char *msg, size_t msglen)
{
	cst c = { .s = s, .len = len, .sc = scope, .err_off = err_off, .msg = msg, .msglen = msglen };
	*t = (tmpl){ 0 };
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	size_t i = 0;
	while (i < len) {
		const char *o = len - i >= 2 ? memmem(s + i, len - i, "{{", 2) : NULL;
		size_t at = o != NULL ? (size_t)(o - s) : len;
		if (add_lit(&c, s + i, at - i) != 0)
			goto fail;
		if (o == NULL)
			break;
		if (compile_expr(&c, at, &i) != 0)
			goto fail;
	}
	for (size_t k = 0; k < c.nparts; k++) {
		if (c.parts[k].kind == TP_LIT)
			c.parts[k].lit = c.store + c.lit_off[k];
		else
			t->dynamic = 1;
	}
	if (c.store != NULL)
		c.store[c.slen] = '\0';
	free(c.lit_off);
	t->parts = c.parts;
	t->nparts = c.nparts;
	t->store = c.store;
	return 0;
fail:
	free(c.parts);
	free(c.lit_off);
	free(c.store);
	return -1;
}

void tmpl_free(tmpl *t)
{
	free(t->parts);
	free(t->store);
	*t = (tmpl){ 0 };
}

const char *tmpl_literal(const tmpl *t, size_t *len)
{
	if (t->dynamic || t->nparts == 0) {
		*len = 0;
		return NULL;
	}
	*len = t->parts[0].len;
	return t->parts[0].lit;
}

/* ---- rendering ---- */

/* xorshift64*, the same step as the VU's own random numbers in agent/worker.c. */
static inline uint64_t rng_step(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

/* Uniform in [x, y] (x <= y): the high half of a 128-bit product, with
 * Lemire's rejection of the few low halves that would bias it. */
static int64_t rand_range(uint64_t *s, int64_t x, int64_t y)
{
	uint64_t span = (uint64_t)y - (uint64_t)x;
	if (span == UINT64_MAX)
		return (int64_t)rng_step(s);
	uint64_t n = span + 1;
	__extension__ typedef unsigned __int128 u128;
	u128 m = (u128)rng_step(s) * n;
	if ((uint64_t)m < n) {
		uint64_t floor = (0 - n) % n;
		while ((uint64_t)m < floor)
			m = (u128)rng_step(s) * n;
	}
	return (int64_t)((uint64_t)x + (uint64_t)(m >> 64));
}

static void put_i64(sbuf *out, int64_t v)
{
	char buf[24], *p = buf + sizeof(buf);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	sbuf_add(out, p, (size_t)(buf + sizeof(buf) - p));
}

static void put_uuid(sbuf *out, uint64_t *s)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[16];
	uint64_t a = rng_step(s), b = rng_step(s);
	for (int k = 0; k < 8; k++) {
		r[k] = (unsigned char)(a >> (8 * k));
		r[8 + k] = (unsigned char)(b >> (8 * k));
	}
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 */
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* variant 10xx (RFC 4122) */
	char u[36], *p = u;
	for (int k = 0; k < 16; k++) {
		if (k == 4 || k == 6 || k == 8 || k == 10)
			*p++ = '-';
		*p++ = hex[r[k] >> 4];
		*p++ = hex[r[k] & 15];
	}
	sbuf_add(out, u, sizeof(u));
}

/* n characters from [A-Za-z0-9]: six random bits each, the two values past
 * 61 drawn again, so every character is equally likely. */
static void put_randstr(sbuf *out, uint64_t *s, int64_t n)
{
	static const char cs[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	char buf[256];
	size_t k = 0;
	uint64_t r = 0;
	int bits = 0;
	while (n > 0) {
		if (bits < 6) {
			r = rng_step(s);
			bits = 64;
		}
		unsigned v = (unsigned)(r & 63);
		r >>= 6;
		bits -= 6;
		if (v >= 62)
			continue;
		buf[k++] = cs[v];
		n--;
		if (k == sizeof(buf) || n == 0) {
			sbuf_add(out, buf, k);
			k = 0;
		}
	}
}

/* Rewrites out's bytes from start on with escaping esc. */
static void escape_tail(sbuf *out, size_t start, uint8_t esc)
{
	static const char hex[] = "0123456789ABCDEF";
	char local[256], *raw = local;
	size_t n = out->len - start;

	if (out->oom || n == 0)
		return;
	if (n > sizeof(local) && (raw = malloc(n)) == NULL) {
		out->oom = 1;
		return;
	}
	memcpy(raw, out->p + start, n);
	out->len = start;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)raw[i];
		if (esc == TMPL_ESC_URL) {
			sbuf_urlenc(out, &raw[i], 1);
		} else if (ch == '"' || ch == '\\') {
			char e2[2] = {'\\', (char)ch};
			sbuf_add(out, e2, 2);
		} else if (ch < 0x20) {
			char e6[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
			sbuf_add(out, e6, 6);
		} else {
			sbuf_add(out, (const char *)&raw[i], 1);
		}
	}
	if (raw != local)
		free(raw);
	if (out->p != NULL)
		out->p[out->len] = '\0';
}

uint64_t tmpl_max_len(const tmpl *t)
{
	uint64_t n = 0;
	/* What the builtins write needs no escaping: digits, '-', hex, letters. */
	for (size_t k = 0; k < t->nparts; k++) {
		const tmpl_part *p = &t->parts[k];
		switch ((tmpl_kind)p->kind) {
		case TP_LIT: n += p->len; break; /* stored escaped */
		case TP_VU:
		case TP_ITER:
		case TP_AGENT:
		case TP_SEQ:
		case TP_RANDINT:
		case TP_NOW: n += 20; break; /* an int64 in decimal */
		case TP_UUID: n += 36; break;
		case TP_RANDSTR: n += (uint64_t)p->x; break;
		case TP_VAR:
		case TP_COL: break;
		}
	}
	return n;
}

void tmpl_render(const tmpl *t, const tmpl_env *e, sbuf *out)
{
	/* A fixed state for an env without one keeps a misuse from crashing. */
	uint64_t own = UINT64_C(0x9e3779b97f4a7c15);
	uint64_t *rng = e->rng != NULL ? e->rng : &own;
	for (size_t k = 0; k < t->nparts; k++) {
		const tmpl_part *p = &t->parts[k];
		size_t start = out->len;
		switch ((tmpl_kind)p->kind) {
		case TP_LIT: sbuf_add(out, p->lit, p->len); break;
		case TP_VU: put_i64(out, e->vu); break;
		case TP_ITER: put_i64(out, e->iter); break;
		case TP_AGENT: put_i64(out, e->agent); break;
		case TP_SEQ: put_i64(out, e->seq); break;
		case TP_VAR:
			if (p->a < e->nvars && e->vars != NULL && e->vars[p->a] != NULL)
				sbuf_add(out, e->vars[p->a],
				         e->var_len != NULL ? e->var_len[p->a] : strlen(e->vars[p->a]));
			break;
		case TP_COL:
			if (e->column != NULL) {
				size_t n = 0;
				const char *v = e->column(e->arg, p->a, p->b, &n);
				if (v != NULL)
					sbuf_add(out, v, n);
			}
			break;
		case TP_UUID: put_uuid(out, rng); break;
		case TP_RANDINT: put_i64(out, rand_range(rng, p->x, p->y)); break;
		case TP_RANDSTR: put_randstr(out, rng, p->x); break;
		case TP_NOW: put_i64(out, clock_real_ns() / 1000000); break;
		}
		if (p->esc != TMPL_ESC_NONE && p->kind != TP_LIT)
			escape_tail(out, start, p->esc);
	}
}
