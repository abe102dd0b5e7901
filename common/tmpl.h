/*
 * Templates: "{{ ... }}" inside plan strings, compiled once when the plan is
 * loaded into a list of parts, rendered per request without parsing again.
 * The syntax and the names are those of docs/journeys.md. Free of I/O.
 */
#ifndef HERD_COMMON_TMPL_H
#define HERD_COMMON_TMPL_H

#include <stddef.h>
#include <stdint.h>

struct sbuf;

typedef enum tmpl_kind {
	TP_LIT = 0,   /* literal text: lit, len */
	TP_VU,        /* __VU */
	TP_ITER,      /* __ITER */
	TP_AGENT,     /* __AGENT */
	TP_SEQ,       /* seq (a WebSocket loop's counter) */
	TP_VAR,       /* a captured variable: a = its index */
	TP_COL,       /* a feeder column: a = feeder index, b = column index */
	TP_UUID,      /* uuid() */
	TP_RANDINT,   /* randomInt(x, y): x <= y */
	TP_RANDSTR,   /* randomString(x): 1 <= x <= 4096 */
	TP_NOW,       /* now(): ms since the epoch */
} tmpl_kind;

/* How a dynamic part's value is written (literal parts are stored already
 * escaped). Set by whoever assembles a template from pieces. */
typedef enum tmpl_esc {
	TMPL_ESC_NONE = 0,
	TMPL_ESC_URL,  /* percent-encoded but for RFC 3986's unreserved characters */
	TMPL_ESC_JSON, /* the inside of a JSON string */
} tmpl_esc;

typedef struct tmpl_part {
	uint8_t kind;  /* tmpl_kind */
	uint8_t esc;   /* tmpl_esc */
	uint32_t a, b;
	int64_t x, y;
	const char *lit; /* TP_LIT: points into the template's own storage */
	size_t len;
} tmpl_part;

/* A compiled template. Literal text (env() values included) is folded into
 * TP_LIT parts; a template with no {{ }} is one TP_LIT part (or none when empty). */
typedef struct tmpl {
	tmpl_part *parts;
	size_t nparts;
	int dynamic;     /* any part other than TP_LIT */
	char *store;     /* owns the literal bytes */
} tmpl;

/* What the compiler may resolve names against. Any callback may be NULL
 * (then that kind of name is unknown; with no env callback every environment
 * variable is unset, so only env() with a default compiles). The builtin
 * names __VU, __ITER, __AGENT and seq and the function names are never
 * looked up as variables. */
typedef struct tmpl_scope {
	/* Index of variable name (len bytes), or -1 when no earlier step captures it. */
	int (*var)(void *arg, const char *name, size_t len);
	/* Feeder and column of "feeder.column": returns 0 and sets *fi, *ci,
	 * or -1 with a message in msg (msglen bytes) naming what is wrong (left
	 * empty, the compiler writes "unknown feeder column 'feeder.column'"). */
	int (*column)(void *arg, const char *feeder, size_t flen, const char *col, size_t clen,
	              uint32_t *fi, uint32_t *ci, char *msg, size_t msglen);
	/* The value of environment variable name (NUL-terminated), or NULL when unset. */
	const char *(*env)(void *arg, const char *name);
	void *arg;
	int allow_seq; /* seq is known (inside a WebSocket loop) */
	/* Optional, for "did you mean" only: the name of variable i
	 * (NUL-terminated), or NULL past the last one. */
	const char *(*var_name)(void *arg, size_t i);
} tmpl_scope;

/*
 * Compiles s (len bytes). On success returns 0 and fills *t (free with
 * tmpl_free). On error returns -1, sets *err_off to the byte offset in s
 * where the problem is, and writes a message (no position) into msg, e.g.
 * "unknown variable 'tokn' (did you mean 'token'?)" or "randomInt needs two
 * integers, as in randomInt(1, 100)". *t is then empty. The offset is that
 * of the "{{" for a template that is not closed or is empty; of the name for
 * an unknown name, a feeder column the scope rejects, a function called with
 * the wrong number or kind of arguments, and an unset environment variable;
 * of the argument for a value out of range (randomInt x > y, randomString
 * length, an integer past 64 bits); otherwise of the unexpected byte (or the
 * string's quote, the bad escape). Suggestions are among the builtin names,
 * the functions and the variables scope->var_name lists. err_off and msg
 * may be NULL.
 */
int tmpl_compile(const char *s, size_t len, const tmpl_scope *scope, tmpl *t, size_t *err_off,
                 char *msg, size_t msglen);
void tmpl_free(tmpl *t);

/* The most bytes t can render to: literal text, numbers, uuid() and
 * randomString(n) at their longest (none of them needs escaping). Captured
 * variables and feeder columns count 0 (bounded where they are kept). */
uint64_t tmpl_max_len(const tmpl *t);

/* What a render needs from the VU. */
typedef struct tmpl_env {
	int64_t vu, iter, agent, seq;
	/* Captured variables by index: vars[i], var_len[i] (NULL: empty). */
	char *const *vars;
	const size_t *var_len;
	size_t nvars;
	/* Column ci of the VU's current row of feeder fi; NULL: empty. */
	const char *(*column)(void *arg, uint32_t fi, uint32_t ci, size_t *len);
	void *arg;
	uint64_t *rng; /* the VU's random state (xorshift64*), advanced */
} tmpl_env;

/* Appends the rendered text to out (not reset; out->oom tells of a failed
 * allocation). Parses nothing and allocates only through out, so it is cheap
 * enough for every request. e->rng should hold a non-zero state. */
void tmpl_render(const tmpl *t, const tmpl_env *e, struct sbuf *out);

/* The literal text of a template that is not dynamic (NUL-terminated), or
 * NULL and 0 when it is empty or dynamic. */
const char *tmpl_literal(const tmpl *t, size_t *len);

#endif
