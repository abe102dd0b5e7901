/*
 * The plan parser: YAML text to the plan model of plan.h, through libfyaml's
 * document API. Every error names file:line:column, libfyaml's own
 * diagnostics are captured rather than printed, and nothing is trusted about
 * the input: it may be any bytes, with aliases, deep nesting or huge numbers.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <libfyaml.h>
#include <mbedtls/base64.h>

#include "common/err.h"
#include "common/jpath.h"
#include "common/plan.h"
#include "common/sbuf.h"
#include "common/threshold.h"

/* Limits that keep every later computation (sums, splits) far from overflow. */
#define PLAN_MAX_DURATION_MS (365LL * 24 * 3600 * 1000)
#define PLAN_MAX_COUNT 1000000000LL
/* Nesting allowed in a `json:` value; libfyaml stops the document at 64 too. */
#define PLAN_MAX_DEPTH 64
/* Work allowed once aliases are expanded: nodes visited and bytes copied. */
#define PLAN_NODE_BUDGET 1000000L
#define PLAN_BYTE_BUDGET ((size_t)64 << 20)
/* The largest file plan_load_file reads. */
#define PLAN_MAX_FILE ((long)16 << 20)

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

typedef struct loc {
	int line, col; /* 1-based; 0 when unknown */
} loc;

typedef struct pctx {
	const char *file;
	char *err;
	size_t errlen;
	long nodes;    /* nodes visited, against PLAN_NODE_BUDGET */
	size_t bytes;  /* bytes copied, against PLAN_BYTE_BUDGET */
	int json_prec; /* digits the reals of the current `json:` need */
	loc root;      /* where the document starts */
	int named;     /* the caller gave a file name */
	plan *p;
} pctx;

/*
 * A position found only when needed: finding a collection's start costs a
 * libfyaml report, so messages ask for it and the happy path does not.
 */
typedef struct where {
	struct fy_node *n;      /* the node as written (an alias stays an alias) */
	const struct where *up; /* asked when n has no position */
	loc l;                  /* used when n has no position and up is NULL */
} where;

/* One key/value pair of a mapping, with the key's text and positions. */
typedef struct pair {
	struct fy_node *v; /* aliases resolved; NULL for an empty value */
	const char *key;   /* key text, not terminated */
	size_t klen;
	loc kl;   /* where the key starts */
	where vw; /* where the value starts, else the key */
} pair;

static const char *const executor_names[] = {
	[EXEC_CONSTANT_VUS] = "constant-vus",
	[EXEC_RAMPING_VUS] = "ramping-vus",
	[EXEC_CONSTANT_ARRIVAL_RATE] = "constant-arrival-rate",
	[EXEC_PER_VU_ITERATIONS] = "per-vu-iterations",
};

static const char executor_list[] =
	"constant-vus, ramping-vus, constant-arrival-rate, per-vu-iterations";

const char *plan_executor_name(plan_executor e)
{
	if ((unsigned)e >= NELEM(executor_names))
		return "?";
	return executor_names[e];
}

/* ---- Errors ---- */

static int perr(pctx *c, loc l, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Writes "file:line:column: message" into the caller's buffer. */
static int perr(pctx *c, loc l, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (l.line <= 0 || l.col <= 0)
		l = c->root;
	if (c->err != NULL && c->errlen > 0)
		snprintf(c->err, c->errlen, "%s:%d:%d: %s", c->file, l.line, l.col, msg);
	return HERD_EPLAN;
}

static int poom(pctx *c)
{
	if (c->err != NULL && c->errlen > 0)
		snprintf(c->err, c->errlen, "%s: out of memory", c->file);
	return HERD_ENOMEM;
}

/*
 * Renders user text for a message: at most about 40 bytes, control bytes
 * escaped, cut on a UTF-8 character boundary. Returns buf.
 */
static const char *show(const char *s, size_t len, char *buf, size_t buflen)
{
	size_t o = 0, i = 0, max = 40;

	if (len > max) {
		/* Back off to the start of a UTF-8 sequence. */
		while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
			max--;
	}
	for (i = 0; i < len && i < max && o + 5 < buflen; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == 0x7f)
			o += (size_t)snprintf(buf + o, buflen - o, "\\x%02x", ch);
		else
			buf[o++] = (char)ch;
	}
	if (i < len && o + 4 < buflen) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* ---- Positions ---- */

static void swallow_diag(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
	(void)diag;
	(void)user;
	(void)buf;
	(void)len;
}

/* A diagnostic object that collects errors and never prints. */
static struct fy_diag *quiet_diag(void)
{
	struct fy_diag_cfg dc;
	struct fy_diag *diag;

	fy_diag_cfg_default(&dc);
	dc.fp = NULL;
	dc.output_fn = swallow_diag;
	dc.colorize = false;
	diag = fy_diag_create(&dc);
	if (diag != NULL)
		fy_diag_set_collect_errors(diag, true);
	return diag;
}

static int node_loc_depth(struct fy_node *n, loc *out, int depth)
{
	struct fy_token *t;

	if (n == NULL || depth > PLAN_MAX_DEPTH)
		return -1;
	if (fy_node_is_scalar(n)) {
		const struct fy_mark *m;
		if ((t = fy_node_get_scalar_token(n)) == NULL || (m = fy_token_start_mark(t)) == NULL)
			return -1;
		out->line = m->line + 1;
		out->col = m->column + 1;
		/* The token starts after an opening quote or '*'; point at that. */
		enum fy_node_style st = fy_node_get_style(n);
		if ((st == FYNS_SINGLE_QUOTED || st == FYNS_DOUBLE_QUOTED || st == FYNS_ALIAS) &&
		    out->col > 1)
			out->col--;
		return 0;
	}
	/*
	 * libfyaml 0.7.12 exports no start mark for collections, but its node
	 * diagnostics know where a collection starts: report into a private,
	 * silent diagnostic object and read the position back.
	 */
	struct fy_diag *diag = quiet_diag();
	if (diag != NULL) {
		void *it = NULL;
		struct fy_diag_error *e;
		int found = 0;
		fy_diag_node_report(diag, n, FYET_ERROR, "position");
		if ((e = fy_diag_errors_iterate(diag, &it)) != NULL && e->line > 0 && e->column > 0) {
			out->line = e->line;
			out->col = e->column;
			found = 1;
		}
		fy_diag_destroy(diag);
		if (found)
			return 0;
	}
	/* Fall back to the first child, which starts where its parent does. */
	if (fy_node_is_mapping(n)) {
		void *it = NULL;
		struct fy_node_pair *np = fy_node_mapping_iterate(n, &it);
		if (np != NULL)
			return node_loc_depth(fy_node_pair_key(np), out, depth + 1);
	} else if (fy_node_is_sequence(n)) {
		void *it = NULL;
		struct fy_node *item = fy_node_sequence_iterate(n, &it);
		if (item != NULL)
			return node_loc_depth(item, out, depth + 1);
	}
	return -1;
}

/* Where n starts, or dflt when libfyaml does not know (empty values). */
static loc node_loc(struct fy_node *n, loc dflt)
{
	loc l;
	if (node_loc_depth(n, &l, 0) == 0)
		return l;
	return dflt;
}

static loc at(const where *w)
{
	loc l;
	for (; w != NULL; w = w->up) {
		if (node_loc_depth(w->n, &l, 0) == 0)
			return l;
		if (w->up == NULL)
			return w->l;
	}
	return (loc){0, 0};
}

static loc vloc(const pair *pr)
{
	return at(&pr->vw);
}

/* ---- Nodes ---- */

/* Counts a node against the budget and follows it when it is an alias. */
static int deref(pctx *c, struct fy_node **np, const where *w)
{
	struct fy_node *n = *np;

	if (++c->nodes > PLAN_NODE_BUDGET)
		return perr(c, at(w), "plan is too large once its aliases are expanded");
	if (n != NULL && fy_node_is_alias(n)) {
		struct fy_node *r = fy_node_resolve_alias(n);
		if (r == NULL) {
			size_t len = 0;
			const char *name = fy_node_get_scalar(n, &len);
			char b[64];
			return perr(c, at(w), "alias '*%s' refers to no anchor",
			            show(name ? name : "", name ? len : 0, b, sizeof(b)));
		}
		*np = r;
	}
	return HERD_OK;
}

typedef enum skind { SK_NULL, SK_BOOL, SK_INT, SK_FLOAT, SK_STR, SK_MAP, SK_SEQ } skind;

static int text_is(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

static int is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static int is_hex(char ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* YAML 1.2 core schema integer: [-+]?[0-9]+, 0o[0-7]+ or 0x[0-9a-fA-F]+. */
static int text_is_int(const char *s, size_t len)
{
	size_t i = 0;
	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
		for (i = 2; i < len; i++)
			if (s[1] == 'x' ? !is_hex(s[i]) : !(s[i] >= '0' && s[i] <= '7'))
				return 0;
		return 1;
	}
	if (i < len && (s[i] == '-' || s[i] == '+'))
		i++;
	if (i == len)
		return 0;
	for (; i < len; i++)
		if (!is_digit(s[i]))
			return 0;
	return 1;
}

/* YAML 1.2 core schema float, including .inf and .nan. */
static int text_is_float(const char *s, size_t len)
{
	size_t i = 0, digits = 0;
	const char *r;

	if (i < len && (s[i] == '-' || s[i] == '+'))
		i++;
	r = s + i;
	if (text_is(r, len - i, ".inf") || text_is(r, len - i, ".Inf") || text_is(r, len - i, ".INF"))
		return 1;
	if (text_is(s, len, ".nan") || text_is(s, len, ".NaN") || text_is(s, len, ".NAN"))
		return 1;
	while (i < len && is_digit(s[i])) {
		i++;
		digits++;
	}
	if (i < len && s[i] == '.') {
		i++;
		while (i < len && is_digit(s[i])) {
			i++;
			digits++;
		}
	}
	if (digits == 0)
		return 0;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '-' || s[i] == '+'))
			i++;
		if (i == len)
			return 0;
		while (i < len && is_digit(s[i]))
			i++;
	}
	return i == len;
}

/*
 * What a node holds. Quoted and block scalars are strings, as is anything
 * tagged !!str or "!"; plain scalars are resolved with YAML 1.2's core schema.
 */
static skind node_kind(struct fy_node *n)
{
	const char *s, *tag;
	size_t len = 0, tlen = 0;

	if (n == NULL)
		return SK_NULL;
	if (fy_node_is_mapping(n))
		return SK_MAP;
	if (fy_node_is_sequence(n))
		return SK_SEQ;
	s = fy_node_get_scalar(n, &len);
	if (s == NULL)
		return SK_NULL;
	tag = fy_node_get_tag(n, &tlen);
	if (tag != NULL && (text_is(tag, tlen, "tag:yaml.org,2002:str") || text_is(tag, tlen, "!")))
		return SK_STR;
	if (tag == NULL && fy_node_get_style(n) != FYNS_PLAIN)
		return SK_STR;
	if (len == 0 || text_is(s, len, "~") || text_is(s, len, "null") || text_is(s, len, "Null") ||
	    text_is(s, len, "NULL"))
		return SK_NULL;
	if (text_is(s, len, "true") || text_is(s, len, "True") || text_is(s, len, "TRUE") ||
	    text_is(s, len, "false") || text_is(s, len, "False") || text_is(s, len, "FALSE"))
		return SK_BOOL;
	if (text_is_int(s, len))
		return SK_INT;
	if (text_is_float(s, len))
		return SK_FLOAT;
	return SK_STR;
}

static const char *kind_name(skind k)
{
	switch (k) {
	case SK_NULL: return "nothing";
	case SK_BOOL: return "a boolean";
	case SK_INT: return "an integer";
	case SK_FLOAT: return "a number";
	case SK_STR: return "a string";
	case SK_MAP: return "a mapping";
	case SK_SEQ: return "a list";
	}
	return "?";
}

/* A scalar's text; "" for empty and collection nodes. */
static const char *node_text(struct fy_node *n, size_t *len)
{
	const char *s = NULL;
	*len = 0;
	if (n != NULL && fy_node_is_scalar(n))
		s = fy_node_get_scalar(n, len);
	if (s == NULL) {
		*len = 0;
		return "";
	}
	return s;
}

/* Parses an integer text (text_is_int said yes). Returns -1 on overflow. */
static int parse_int(const char *s, size_t len, int64_t *out)
{
	uint64_t v = 0, limit;
	unsigned base = 10;
	size_t i = 0;
	int neg = 0;

	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
		base = s[1] == 'x' ? 16 : 8;
		i = 2;
	} else if (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-';
		i = 1;
	}
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < len; i++) {
		unsigned d;
		char ch = s[i];
		if (is_digit(ch))
			d = (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			d = (unsigned)(ch - 'a' + 10);
		else
			d = (unsigned)(ch - 'A' + 10);
		if (v > (limit - d) / base)
			return -1;
		v = v * base + d;
	}
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*out = (int64_t)v;
	return 0;
}

/* Copies a scalar's text into a new C string, refusing NUL bytes. */
static int dup_text(pctx *c, struct fy_node *n, loc l, const char *what, char **out)
{
	size_t len;
	const char *s = node_text(n, &len);
	char *d;

	if (memchr(s, '\0', len) != NULL)
		return perr(c, l, "%s contains a NUL character", what);
	c->bytes += len + 1;
	if (c->bytes > PLAN_BYTE_BUDGET)
		return perr(c, l, "plan is too large once its aliases are expanded");
	if ((d = malloc(len + 1)) == NULL)
		return poom(c);
	memcpy(d, s, len);
	d[len] = '\0';
	*out = d;
	return HERD_OK;
}

/* Copies a pair's key into a new C string, refusing NUL bytes. */
static int dup_key(pctx *c, const pair *pr, const char *what, char **out)
{
	char *d;

	if (memchr(pr->key, '\0', pr->klen) != NULL)
		return perr(c, pr->kl, "%s contains a NUL character", what);
	c->bytes += pr->klen + 1;
	if (c->bytes > PLAN_BYTE_BUDGET)
		return perr(c, pr->kl, "plan is too large once its aliases are expanded");
	if ((d = malloc(pr->klen + 1)) == NULL)
		return poom(c);
	memcpy(d, pr->key, pr->klen);
	d[pr->klen] = '\0';
	*out = d;
	return HERD_OK;
}

static char *xstrdup(pctx *c, const char *s)
{
	size_t len = strlen(s);
	char *d;
	c->bytes += len + 1;
	if ((d = malloc(len + 1)) != NULL)
		memcpy(d, s, len + 1);
	return d;
}

/* A pair's key as a C string, for messages. */
static const char *key_str(const pair *pr, char *buf, size_t len)
{
	return show(pr->key, pr->klen, buf, len);
}

/*
 * Iterates over a mapping. Keys must be scalars (not aliases: an alias key
 * could repeat another key unseen); values have their aliases resolved.
 * Returns HERD_OK with *more = 0 at the end.
 */
static int next_pair(pctx *c, struct fy_node *map, const where *mw, void **it, pair *pr, int *more)
{
	struct fy_node_pair *np = fy_node_mapping_iterate(map, it);
	struct fy_node *k;
	int rv;

	*more = 0;
	if (np == NULL)
		return HERD_OK;
	*more = 1;
	memset(pr, 0, sizeof(*pr));
	k = fy_node_pair_key(np);
	{
		where kw = {k, mw, {0, 0}};
		pr->kl = at(&kw);
		if ((rv = deref(c, &k, &kw)) != 0)
			return rv;
	}
	if (k == NULL || !fy_node_is_scalar(k))
		return perr(c, pr->kl, "keys must be plain strings, not %s",
		            k == NULL ? "empty" : kind_name(node_kind(k)));
	if (fy_node_is_alias(fy_node_pair_key(np)))
		return perr(c, pr->kl, "a key may not be an alias");
	pr->key = node_text(k, &pr->klen);
	pr->v = fy_node_pair_value(np);
	pr->vw = (where){pr->v, NULL, pr->kl};
	return deref(c, &pr->v, &pr->vw);
}

/*
 * Iterates over a sequence, resolving aliases; *iw tells where the item is
 * (it refers to sw, so sw must outlive it).
 */
static int next_item(pctx *c, struct fy_node *seq, const where *sw, void **it,
                     struct fy_node **item, where *iw, int *more)
{
	struct fy_node *n = fy_node_sequence_iterate(seq, it);

	*more = n != NULL;
	if (n == NULL)
		return HERD_OK;
	*iw = (where){n, sw, {0, 0}};
	*item = n;
	return deref(c, item, iw);
}

/* ---- Keys and suggestions ---- */

static int lower(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}

/* Levenshtein distance, ignoring case, on at most 63 bytes of each side. */
static size_t edit_distance(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b), row[64];

	if (alen > 63)
		alen = 63;
	if (blen > 63)
		blen = 63;
	for (size_t j = 0; j <= blen; j++)
		row[j] = j;
	for (size_t i = 1; i <= alen; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= blen; j++) {
			size_t up = row[j];
			size_t cost = lower((unsigned char)a[i - 1]) == lower((unsigned char)b[j - 1]) ? 0 : 1;
			size_t best = diag + cost;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[blen];
}

/* The closest name to the unknown word, when it is close enough to be a typo. */
static const char *suggest(const char *const *names, size_t n, const char *w, size_t wlen)
{
	const char *best = NULL;
	size_t bestd = SIZE_MAX;

	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(names[i]);
		size_t allow = len <= 3 ? 1 : len <= 6 ? 2 : 3;
		size_t d = edit_distance(w, wlen, names[i]);
		if (d <= allow && d < bestd) {
			best = names[i];
			bestd = d;
		}
	}
	return best;
}

static size_t key_index(const char *const *names, size_t n, const pair *pr)
{
	for (size_t i = 0; i < n; i++)
		if (text_is(pr->key, pr->klen, names[i]))
			return i;
	return n;
}

/* Reports an unknown key, with the closest known one or the whole list. */
static int unknown_key(pctx *c, const pair *pr, const char *where, const char *const *names,
                       size_t n)
{
	char kb[200], list[512];
	const char *s = suggest(names, n, pr->key, pr->klen);
	size_t o = 0;

	key_str(pr, kb, sizeof(kb));
	if (s != NULL)
		return perr(c, pr->kl, "unknown key '%s' %s (did you mean '%s'?)", kb, where, s);
	list[0] = '\0';
	for (size_t i = 0; i < n && o < sizeof(list); i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", names[i]);
	return perr(c, pr->kl, "unknown key '%s' %s; expected one of: %s", kb, where, list);
}

/* ---- Typed values ---- */

static int want_kind(pctx *c, const pair *pr, skind got, const char *want)
{
	char kb[200], vb[200];
	size_t len;
	const char *s = node_text(pr->v, &len);

	key_str(pr, kb, sizeof(kb));
	if (got == SK_NULL)
		return perr(c, vloc(pr), "'%s' needs a value (%s)", kb, want);
	if (got == SK_MAP || got == SK_SEQ)
		return perr(c, vloc(pr), "'%s' must be %s, not %s", kb, want, kind_name(got));
	return perr(c, vloc(pr), "'%s' must be %s, got '%s'", kb, want, show(s, len, vb, sizeof(vb)));
}

/* A string value: any non-empty scalar's text. */
static int get_string(pctx *c, const pair *pr, char **out)
{
	skind k = node_kind(pr->v);
	char kb[200];

	if (k == SK_NULL || k == SK_MAP || k == SK_SEQ)
		return want_kind(c, pr, k, "a string");
	return dup_text(c, pr->v, vloc(pr), key_str(pr, kb, sizeof(kb)), out);
}

static int get_int(pctx *c, const pair *pr, int64_t min, int64_t max, int64_t *out)
{
	skind k = node_kind(pr->v);
	size_t len;
	const char *s = node_text(pr->v, &len);
	char kb[200];
	int64_t v;

	key_str(pr, kb, sizeof(kb));
	if (k == SK_FLOAT)
		return want_kind(c, pr, k, "a whole number");
	if (k != SK_INT)
		return want_kind(c, pr, k, "a number");
	if (parse_int(s, len, &v) != 0)
		return perr(c, vloc(pr), "'%s' is out of range", kb);
	if (v < min)
		return perr(c, vloc(pr),
		            min == 0 ? "'%s' must not be negative" : "'%s' must be at least %lld", kb,
		            (long long)min);
	if (v > max)
		return perr(c, vloc(pr), "'%s' is too large (the limit is %lld)", kb, (long long)max);
	*out = v;
	return HERD_OK;
}

/* Explains why a duration text was refused. */
static int bad_duration(pctx *c, loc l, const char *what, const char *s, size_t len)
{
	char vb[200];

	show(s, len, vb, sizeof(vb));
	if (len > 0 && s[0] == '-')
		return perr(c, l, "%s cannot be negative, got '%s'", what, vb);
	/* A number followed by us, µs or ns: a unit we do not keep. */
	for (size_t i = 1; i + 1 < len; i++) {
		if (!is_digit(s[i - 1]))
			continue;
		if (((s[i] == 'u' || s[i] == 'n') && s[i + 1] == 's') ||
		    (i + 2 < len && memcmp(s + i, "\xc2\xb5s", 3) == 0))
			return perr(c, l, "bad duration '%s' for %s: the smallest unit is ms", vb, what);
	}
	return perr(c, l,
	            "bad duration '%s' for %s: write a number and a unit (ms, s, m, h), e.g. '1m30s'",
	            vb, what);
}

/* Parses a duration text of len bytes (not terminated) into ms. */
static int text_duration(const char *s, size_t len, int64_t *ms)
{
	char buf[64];

	if (len >= sizeof(buf) || memchr(s, '\0', len) != NULL)
		return HERD_EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return plan_parse_duration(buf, ms);
}

/* A duration value: a string with units, at least min_ms, at most a year. */
static int get_duration(pctx *c, const pair *pr, int64_t min_ms, int64_t *out)
{
	skind k = node_kind(pr->v);
	size_t len;
	const char *s = node_text(pr->v, &len);
	char kb[200], what[220];
	int64_t ms;

	key_str(pr, kb, sizeof(kb));
	snprintf(what, sizeof(what), "'%s'", kb);
	if (k == SK_INT || k == SK_FLOAT)
		return perr(c, vloc(pr), "%s: duration needs a unit, e.g. '10s'", what);
	if (k != SK_STR)
		return want_kind(c, pr, k, "a duration such as '10s'");
	if (text_duration(s, len, &ms) != HERD_OK)
		return bad_duration(c, vloc(pr), what, s, len);
	if (ms > PLAN_MAX_DURATION_MS)
		return perr(c, vloc(pr), "%s is too long (the limit is 365 days)", what);
	if (ms < min_ms)
		return perr(c, vloc(pr), "%s must be longer than 0", what);
	*out = ms;
	return HERD_OK;
}

/* ---- Growing strings ---- */


/* Percent-encodes everything but RFC 3986's unreserved characters. */
static void sb_urlenc(sbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || is_digit((char)ch) ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			sbuf_add(b, (const char *)&s[i], 1);
		} else {
			char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
			sbuf_add(b, e, 3);
		}
	}
}

/* ---- URLs ---- */

static int has_scheme(const char *s)
{
	return strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0;
}

/* An absolute URL needs a host after the scheme. */
static int url_has_host(const char *s)
{
	const char *h = strstr(s, "://");
	return h != NULL && h[3] != '\0' && h[3] != '/' && h[3] != '?' && h[3] != '#';
}

/* URLs may not hold spaces or control bytes; they would corrupt the request line. */
static int has_space_or_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
			return 1;
	return 0;
}

/* ---- JSON bodies ---- */

/*
 * The significant digits jansson should print v with: the fewest that read
 * back as the same double, and enough that %g keeps 1000.0 out of exponent
 * form ("1e3") up to the 17 digits a double can hold.
 */
static int roundtrip_digits(double v)
{
	char buf[40];
	int prec, whole = 0;

	for (double a = fabs(v); a >= 1 && whole < 17; a /= 10)
		whole++;
	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return prec > whole ? prec : whole;
}

static int yaml_to_json(pctx *c, struct fy_node *n, const where *w, int depth, json_t **out);

static int json_mapping(pctx *c, struct fy_node *n, const where *w, int depth, json_t **out)
{
	json_t *obj = json_object();
	void *it = NULL;
	pair pr;
	int more, rv;

	if (obj == NULL)
		return poom(c);
	for (;;) {
		char *key = NULL;
		json_t *val = NULL;
		if ((rv = next_pair(c, n, w, &it, &pr, &more)) != 0 || !more)
			break;
		if ((rv = dup_key(c, &pr, "a JSON key", &key)) != 0)
			break;
		if ((rv = yaml_to_json(c, pr.v, &pr.vw, depth + 1, &val)) != 0) {
			free(key);
			break;
		}
		/* json_object_set_new takes val even when it fails. */
		if (json_object_set_new(obj, key, val) != 0) {
			char kb[200];
			rv = perr(c, pr.kl, "JSON key '%s' is not valid UTF-8",
			          show(pr.key, pr.klen, kb, sizeof(kb)));
			free(key);
			break;
		}
		free(key);
	}
	if (rv != 0) {
		json_decref(obj);
		return rv;
	}
	*out = obj;
	return HERD_OK;
}

static int json_sequence(pctx *c, struct fy_node *n, const where *w, int depth, json_t **out)
{
	json_t *arr = json_array();
	void *it = NULL;
	struct fy_node *item;
	where iw;
	int more, rv;

	if (arr == NULL)
		return poom(c);
	for (;;) {
		json_t *val = NULL;
		if ((rv = next_item(c, n, w, &it, &item, &iw, &more)) != 0 || !more)
			break;
		if ((rv = yaml_to_json(c, item, &iw, depth + 1, &val)) != 0)
			break;
		if (json_array_append_new(arr, val) != 0) {
			rv = poom(c);
			break;
		}
	}
	if (rv != 0) {
		json_decref(arr);
		return rv;
	}
	*out = arr;
	return HERD_OK;
}

/*
 * Converts a YAML value n (aliases resolved; w says where it was written) to
 * jansson: plain scalars keep their YAML type (42 an integer, 1.5 a real,
 * true, null), quoted ones stay strings.
 */
static int yaml_to_json(pctx *c, struct fy_node *n, const where *w, int depth, json_t **out)
{
	size_t len;
	const char *s;
	char vb[200], buf[400];
	json_t *j = NULL;

	if (depth > PLAN_MAX_DEPTH)
		return perr(c, at(w), "'json' is nested too deeply (the limit is %d levels)",
		            PLAN_MAX_DEPTH);
	s = node_text(n, &len);
	switch (node_kind(n)) {
	case SK_MAP: return json_mapping(c, n, w, depth, out);
	case SK_SEQ: return json_sequence(c, n, w, depth, out);
	case SK_NULL: j = json_null(); break;
	case SK_BOOL: j = json_boolean(s[0] == 't' || s[0] == 'T'); break;
	case SK_INT: {
		int64_t v;
		if (parse_int(s, len, &v) != 0)
			return perr(c, at(w), "integer %s is out of range", show(s, len, vb, sizeof(vb)));
		j = json_integer((json_int_t)v);
		break;
	}
	case SK_FLOAT: {
		double v;
		if (len >= sizeof(buf))
			return perr(c, at(w), "number %s is too long", show(s, len, vb, sizeof(vb)));
		memcpy(buf, s, len);
		buf[len] = '\0';
		v = strtod(buf, NULL);
		/* strtod does not read ".inf" or ".nan": look for them by their letters. */
		if (!isfinite(v) || strpbrk(buf, "nN") != NULL)
			return perr(c, at(w), "JSON cannot hold %s", show(s, len, vb, sizeof(vb)));
		int prec = roundtrip_digits(v);
		if (prec > c->json_prec)
			c->json_prec = prec;
		j = json_real(v);
		break;
	}
	case SK_STR:
		c->bytes += len;
		if (c->bytes > PLAN_BYTE_BUDGET)
			return perr(c, at(w), "plan is too large once its aliases are expanded");
		j = json_stringn(s, len);
		if (j == NULL)
			return perr(c, at(w), "string is not valid UTF-8");
		break;
	}
	if (j == NULL)
		return poom(c);
	*out = j;
	return HERD_OK;
}

/* Serializes a step's `json:` value compactly into its body. */
static int parse_json_body(pctx *c, const pair *pr, plan_step *st)
{
	json_t *root = NULL;
	size_t flags = JSON_COMPACT | JSON_ENCODE_ANY, need;
	int rv;

	c->json_prec = 0;
	if ((rv = yaml_to_json(c, pr->v, &pr->vw, 0, &root)) != 0)
		return rv;
	if (c->json_prec > 0)
		flags |= JSON_REAL_PRECISION(c->json_prec);
	need = json_dumpb(root, NULL, 0, flags);
	if (need == 0) {
		json_decref(root);
		return perr(c, vloc(pr), "cannot serialize 'json' value");
	}
	if ((st->body = malloc(need + 1)) == NULL) {
		json_decref(root);
		return poom(c);
	}
	json_dumpb(root, st->body, need, flags);
	st->body[need] = '\0';
	st->body_len = need;
	st->body_is_json = 1;
	json_decref(root);
	return HERD_OK;
}

/* ---- Steps ---- */

enum {
	K_GET = 0, /* K_GET..K_HEAD follow http_method's order */
	K_POST,
	K_PUT,
	K_PATCH,
	K_DELETE,
	K_HEAD,
	K_THINK,
	K_HEADERS,
	K_QUERY,
	K_JSON,
	K_BODY,
	K_TIMEOUT,
	K_NAME,
	K_CHECK,
	K_WS,
	K_SUBPROTOCOLS,
	K_PING,
	K_SESSION,
	K__STEP
};

static const char *const step_keys[K__STEP] = {
	"get",     "post",  "put",  "patch", "delete",  "head", "think",
	"headers", "query", "json", "body",  "timeout", "name", "check",
	"ws",      "subprotocols", "ping", "session",
};

/* Which step keys a ws step takes. */
static int ws_key(size_t i)
{
	return i == K_WS || i == K_HEADERS || i == K_NAME || i == K_SUBPROTOCOLS || i == K_PING ||
	       i == K_SESSION;
}

/* RFC 7230 token characters, for header names. */
static int is_tchar(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || is_digit((char)ch) ||
	       (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int parse_headers(pctx *c, const pair *hp, plan_step *st)
{
	void *it = NULL;
	pair pr;
	int more, rv, n;
	char kb[200];

	if (node_kind(hp->v) != SK_MAP)
		return want_kind(c, hp, node_kind(hp->v), "a mapping of header names to values");
	n = fy_node_mapping_item_count(hp->v);
	if (n <= 0)
		return HERD_OK;
	if ((st->headers = calloc((size_t)n, sizeof(*st->headers))) == NULL)
		return poom(c);
	for (;;) {
		plan_kv *kv;
		if ((rv = next_pair(c, hp->v, &hp->vw, &it, &pr, &more)) != 0 || !more)
			return rv;
		key_str(&pr, kb, sizeof(kb));
		if (pr.klen == 0)
			return perr(c, pr.kl, "header name is empty");
		for (size_t i = 0; i < pr.klen; i++)
			if (!is_tchar((unsigned char)pr.key[i]))
				return perr(c, pr.kl, "header name '%s' has a character that is not allowed", kb);
		skind k = node_kind(pr.v);
		if (k == SK_MAP || k == SK_SEQ || k == SK_NULL)
			return want_kind(c, &pr, k, "a string");
		if (st->nheaders == (size_t)n)
			return perr(c, pr.kl, "too many headers");
		kv = &st->headers[st->nheaders++];
		if ((rv = dup_key(c, &pr, "a header name", &kv->name)) != 0)
			return rv;
		if ((rv = dup_text(c, pr.v, vloc(&pr), "a header value", &kv->value)) != 0)
			return rv;
		if (strpbrk(kv->value, "\r\n") != NULL)
			return perr(c, vloc(&pr), "header '%s' has a line break in its value", kb);
	}
}

/* Appends the query mapping, url-encoded, to the URL being built. */
static int parse_query(pctx *c, const pair *qp, const char *path, sbuf *url)
{
	void *it = NULL;
	pair pr;
	int more, rv, first = 1;

	if (node_kind(qp->v) != SK_MAP)
		return want_kind(c, qp, node_kind(qp->v), "a mapping of parameter names to values");
	for (;;) {
		size_t len;
		const char *s;
		if ((rv = next_pair(c, qp->v, &qp->vw, &it, &pr, &more)) != 0 || !more)
			return rv;
		skind k = node_kind(pr.v);
		if (k == SK_MAP || k == SK_SEQ || k == SK_NULL)
			return want_kind(c, &pr, k, "a string or a number");
		if (first)
			sbuf_str(url, strchr(path, '?') != NULL ? "&" : "?");
		else
			sbuf_str(url, "&");
		first = 0;
		sb_urlenc(url, pr.key, pr.klen);
		sbuf_str(url, "=");
		s = node_text(pr.v, &len);
		sb_urlenc(url, s, len);
		c->bytes += pr.klen + len * 3;
		if (c->bytes > PLAN_BYTE_BUDGET)
			return perr(c, vloc(&pr), "plan is too large once its aliases are expanded");
	}
}

static int parse_check(pctx *c, const pair *cp, plan_step *st)
{
	static const char *const keys[] = {"status", "body", "body_contains"};
	void *it = NULL;
	pair pr;
	int more, rv, have_body = 0;

	if (node_kind(cp->v) != SK_MAP)
		return want_kind(c, cp, node_kind(cp->v), "a mapping such as '{ status: 200 }'");
	for (;;) {
		int64_t v;
		if ((rv = next_pair(c, cp->v, &cp->vw, &it, &pr, &more)) != 0 || !more)
			return rv;
		switch (key_index(keys, NELEM(keys), &pr)) {
		case 0:
			if ((rv = get_int(c, &pr, 100, 599, &v)) != 0)
				return rv;
			st->check_status = (int)v;
			break;
		case 1:
		case 2:
			if (have_body)
				return perr(c, pr.kl, "'check' takes 'body' or 'body_contains', not both");
			have_body = 1;
			if ((rv = get_string(c, &pr, &st->check_body_contains)) != 0)
				return rv;
			if (st->check_body_contains[0] == '\0')
				return perr(c, vloc(&pr), "'%s' is empty", keys[key_index(keys, NELEM(keys), &pr)]);
			break;
		default: return unknown_key(c, &pr, "in 'check'", keys, NELEM(keys));
		}
	}
}

/* Parses "250ms" or "100ms..300ms" into a think step. */
static int parse_think(pctx *c, const pair *pr, plan_step *st)
{
	skind k = node_kind(pr->v);
	size_t len;
	const char *s = node_text(pr->v, &len), *dots = NULL;
	char vb[200];

	if (k == SK_INT || k == SK_FLOAT)
		return perr(c, vloc(pr), "'think': duration needs a unit, e.g. '500ms' or '100ms..300ms'");
	if (k != SK_STR)
		return want_kind(c, pr, k, "a duration such as '500ms' or a range such as '100ms..300ms'");
	for (size_t i = 0; i + 1 < len; i++)
		if (s[i] == '.' && s[i + 1] == '.') {
			dots = s + i;
			break;
		}
	st->kind = STEP_THINK;
	if (dots == NULL) {
		if (text_duration(s, len, &st->think_min_ms) != HERD_OK)
			return bad_duration(c, vloc(pr), "'think'", s, len);
		st->think_max_ms = st->think_min_ms;
	} else {
		const char *a = s, *ae = dots, *b = dots + 2, *be = s + len;
		while (ae > a && ae[-1] == ' ')
			ae--;
		while (b < be && *b == ' ')
			b++;
		show(s, len, vb, sizeof(vb));
		if (text_duration(a, (size_t)(ae - a), &st->think_min_ms) != HERD_OK ||
		    text_duration(b, (size_t)(be - b), &st->think_max_ms) != HERD_OK)
			return perr(c, vloc(pr),
			            "bad think range '%s': write MIN..MAX with units, e.g. '100ms..300ms'", vb);
		if (st->think_min_ms > st->think_max_ms)
			return perr(c, vloc(pr), "bad think range '%s': the minimum is above the maximum", vb);
	}
	if (st->think_max_ms > PLAN_MAX_DURATION_MS)
		return perr(c, vloc(pr), "'think' is too long (the limit is 365 days)");
	return HERD_OK;
}

/* Checks a request path and resolves it against the target into st->url. */
static int resolve_url(pctx *c, const pair *mp, plan_step *st, const pair *query, loc steploc)
{
	char vb[200];
	sbuf url = {0};
	int rv;

	show(st->path, strlen(st->path), vb, sizeof(vb));
	if (st->path[0] == '\0')
		return perr(c, vloc(mp), "'%s' needs a path such as '/' or a URL", step_keys[st->method]);
	if (has_space_or_ctl(st->path))
		return perr(c, vloc(mp), "path '%s' has a space or control character; encode it (%%20)",
		            vb);
	if (has_scheme(st->path)) {
		if (!url_has_host(st->path))
			return perr(c, vloc(mp), "URL '%s' has no host", vb);
		sbuf_str(&url, st->path);
	} else if (st->path[0] != '/') {
		return perr(c, vloc(mp),
		            "path '%s' must start with '/' or be a full http:// or https:// URL", vb);
	} else {
		if (c->p->target == NULL)
			return perr(c, c->root,
			            "plan has no 'target', but the step at %d:%d uses the relative path '%s';"
			            " add 'target: http://host:port' or use full URLs",
			            steploc.line, steploc.col, vb);
		sbuf_str(&url, c->p->target);
		sbuf_str(&url, st->path);
	}
	if (query != NULL && (rv = parse_query(c, query, st->path, &url)) != 0) {
		free(url.p);
		return rv;
	}
	if (url.oom) {
		free(url.p);
		return poom(c);
	}
	st->url = url.p;
	return HERD_OK;
}

static int parse_ws_step(pctx *c, struct fy_node *n, const where *sw, plan_step *st,
                         const pair *keys, const int *seen);

static int parse_step(pctx *c, struct fy_node *n, const where *sw, plan_step *st)
{
	pair keys[K__STEP], pr;
	int seen[K__STEP] = {0};
	int method = -1, more, rv;
	void *it = NULL;
	loc sl = at(sw);

	st->line = sl.line;
	st->col = sl.col;
	if (node_kind(n) != SK_MAP)
		return perr(c, sl,
		            "a step must be a mapping such as '{ get: /path }' or '{ think: 1s }', not %s",
		            kind_name(node_kind(n)));

	/* First pass: know the keys, and what kind of step this is. */
	for (;;) {
		size_t i;
		if ((rv = next_pair(c, n, sw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			break;
		i = key_index(step_keys, K__STEP, &pr);
		if (i == K__STEP)
			return unknown_key(c, &pr, "in a step", step_keys, K__STEP);
		if (i <= K_HEAD && method >= 0)
			return perr(c, pr.kl,
			            "a step makes one request, but this one has both '%s' (line %d) and '%s'",
			            step_keys[method], keys[method].kl.line, step_keys[i]);
		if ((i <= K_HEAD && seen[K_THINK]) || (i == K_THINK && method >= 0))
			return perr(c, pr.kl, "a step is either a request or a think, not both");
		if (i == K_WS && (method >= 0 || seen[K_THINK]))
			return perr(c, pr.kl, "a step is either a request, a ws session or a think");
		if ((i <= K_HEAD || i == K_THINK) && seen[K_WS])
			return perr(c, pr.kl, "a step is either a request, a ws session or a think");
		if (i <= K_HEAD)
			method = (int)i;
		seen[i] = 1;
		keys[i] = pr;
	}
	if (seen[K_WS])
		return parse_ws_step(c, n, sw, st, keys, seen);
	if (method < 0 && !seen[K_THINK])
		return perr(c, sl,
		            "a step needs a request (get, post, put, patch, delete or head), a 'ws' "
		            "session or a 'think'");

	/* Second pass, in the order written, so the first problem is the one reported. */
	it = NULL;
	int have_body = 0;
	for (;;) {
		size_t i;
		if ((rv = next_pair(c, n, sw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			break;
		i = key_index(step_keys, K__STEP, &pr);
		if (seen[K_THINK] && i != K_THINK)
			return perr(c, pr.kl, "'%s' is not used by a think step", step_keys[i]);
		if (i >= K_SUBPROTOCOLS)
			return perr(c, pr.kl, "'%s' is only used by a ws step", step_keys[i]);
		switch (i) {
		case K_THINK: rv = parse_think(c, &pr, st); break;
		case K_GET:
		case K_POST:
		case K_PUT:
		case K_PATCH:
		case K_DELETE:
		case K_HEAD:
			st->kind = STEP_HTTP;
			st->method = (http_method)i;
			rv = get_string(c, &pr, &st->path);
			break;
		case K_HEADERS: rv = parse_headers(c, &pr, st); break;
		case K_QUERY: break; /* applied once the URL is known */
		case K_JSON:
		case K_BODY:
			if (have_body) {
				rv = perr(c, pr.kl, "a step takes 'json' or 'body', not both");
				break;
			}
			have_body = 1;
			if (i == K_JSON)
				rv = parse_json_body(c, &pr, st);
			else if ((rv = get_string(c, &pr, &st->body)) == 0)
				st->body_len = strlen(st->body);
			break;
		case K_TIMEOUT: rv = get_duration(c, &pr, 1, &st->timeout_ms); break;
		case K_NAME:
			if ((rv = get_string(c, &pr, &st->name)) == 0 && st->name[0] == '\0')
				rv = perr(c, vloc(&pr), "'name' is empty");
			break;
		case K_CHECK: rv = parse_check(c, &pr, st); break;
		default: rv = perr(c, pr.kl, "internal error: unhandled step key");
		}
		if (rv != 0)
			return rv;
	}
	if (st->kind == STEP_THINK)
		return HERD_OK;
	if ((rv = resolve_url(c, &keys[method], st, seen[K_QUERY] ? &keys[K_QUERY] : NULL, sl)) != 0)
		return rv;
	if (st->name == NULL && (st->name = xstrdup(c, st->path)) == NULL)
		return poom(c);
	return HERD_OK;
}

/* ---- WebSocket sessions ---- */

/* Names a template may use; seq only inside a loop. */
static const char *const tmpl_names[] = {"__VU", "__ITER", "seq"};

/*
 * Where byte off of a scalar's text is, for messages: the scalar's start plus
 * the offset (past an opening quote), on the scalar's first line.
 */
static loc text_loc(struct fy_node *n, loc base, size_t off)
{
	loc l = base;
	enum fy_node_style st = n != NULL ? fy_node_get_style(n) : FYNS_PLAIN;
	if (l.line > 0)
		l.col += (int)off + (st == FYNS_SINGLE_QUOTED || st == FYNS_DOUBLE_QUOTED);
	return l;
}

/*
 * Checks the {{ name }} templates of text s: every name must be one of
 * tmpl_names (seq only when in_loop). Sets *templated when there is one.
 * n and base say where s was written.
 */
static int check_tmpl(pctx *c, const char *s, size_t len, struct fy_node *n, loc base, int in_loop,
                      int *templated)
{
	*templated = 0;
	for (size_t i = 0; i + 1 < len; i++) {
		if (s[i] != '{' || s[i + 1] != '{')
			continue;
		size_t a = i + 2, e;
		while (a < len && s[a] == ' ')
			a++;
		e = a;
		while (e < len && s[e] != ' ' && s[e] != '}')
			e++;
		size_t z = e;
		while (z < len && s[z] == ' ')
			z++;
		char nb[200];
		if (z + 1 >= len || s[z] != '}' || s[z + 1] != '}')
			return perr(c, text_loc(n, base, i), "'{{' is not closed by '}}'");
		size_t k;
		for (k = 0; k < NELEM(tmpl_names); k++)
			if (text_is(s + a, e - a, tmpl_names[k]))
				break;
		show(s + a, e - a, nb, sizeof(nb));
		if (k == NELEM(tmpl_names))
			return perr(c, text_loc(n, base, i),
			            "unknown template variable '%s'; use __VU, __ITER or seq", nb);
		if (k == 2 && !in_loop)
			return perr(c, text_loc(n, base, i), "'{{ seq }}' is only known inside a 'loop'");
		*templated = 1;
		i = z + 1;
	}
	return HERD_OK;
}

void plan_tmpl_render(const char *s, size_t len, const plan_tmpl_vars *vars, sbuf *out)
{
	out->len = 0;
	if (out->p != NULL)
		out->p[0] = '\0';
	for (size_t i = 0; i < len;) {
		const char *o = i + 1 < len ? memmem(s + i, len - i, "{{", 2) : NULL;
		if (o == NULL) {
			sbuf_add(out, s + i, len - i);
			return;
		}
		size_t at = (size_t)(o - s), a = at + 2, e, z;
		sbuf_add(out, s + i, at - i);
		while (a < len && s[a] == ' ')
			a++;
		for (e = a; e < len && s[e] != ' ' && s[e] != '}'; e++)
			;
		for (z = e; z < len && s[z] == ' '; z++)
			;
		const int64_t *v = NULL;
		if (text_is(s + a, e - a, "__VU"))
			v = &vars->vu;
		else if (text_is(s + a, e - a, "__ITER"))
			v = &vars->iter;
		else if (text_is(s + a, e - a, "seq"))
			v = &vars->seq;
		if (v == NULL || z + 1 >= len || s[z] != '}' || s[z + 1] != '}') {
			sbuf_add(out, s + at, 2);
			i = at + 2;
			continue;
		}
		char num[24];
		int n = snprintf(num, sizeof(num), "%lld", (long long)*v);
		sbuf_add(out, num, (size_t)n);
		i = z + 2;
	}
}

/* A templated string value of pr, checked. */
static int get_tmpl(pctx *c, const pair *pr, int in_loop, char **out, size_t *olen, int *templated)
{
	int rv;
	if ((rv = get_string(c, pr, out)) != 0)
		return rv;
	*olen = strlen(*out);
	return check_tmpl(c, *out, *olen, pr->v, vloc(pr), in_loop, templated);
}

static int parse_ws_send(pctx *c, const pair *pr, int in_loop, plan_ws_op *op)
{
	static const char *const keys[] = {"text", "binary"};
	void *it = NULL;
	pair kp;
	int more, rv, have = 0;

	op->kind = WSOP_SEND;
	if (node_kind(pr->v) != SK_MAP)
		return get_tmpl(c, pr, in_loop, &op->text, &op->text_len, &op->templated);
	for (;;) {
		if ((rv = next_pair(c, pr->v, &pr->vw, &it, &kp, &more)) != 0)
			return rv;
		if (!more)
			break;
		size_t i = key_index(keys, NELEM(keys), &kp);
		if (i == NELEM(keys))
			return unknown_key(c, &kp, "in 'send'", keys, NELEM(keys));
		if (have++)
			return perr(c, kp.kl, "'send' takes 'text' or 'binary', not both");
		if (i == 0) {
			if ((rv = get_tmpl(c, &kp, in_loop, &op->text, &op->text_len, &op->templated)) != 0)
				return rv;
			continue;
		}
		char *b64 = NULL;
		size_t blen, need = 0;
		if ((rv = get_string(c, &kp, &b64)) != 0)
			return rv;
		blen = strlen(b64);
		/* Decoded bytes are never longer than 3/4 of the text. */
		op->text = malloc(blen / 4 * 3 + 3);
		if (op->text == NULL) {
			free(b64);
			return poom(c);
		}
		rv = mbedtls_base64_decode((unsigned char *)op->text, blen / 4 * 3 + 3, &need,
		                           (const unsigned char *)b64, blen);
		free(b64);
		if (rv != 0)
			return perr(c, vloc(&kp), "'binary' is not valid base64");
		op->text_len = need;
		op->binary = 1;
	}
	if (!have)
		return perr(c, vloc(pr), "'send' needs 'text' or 'binary'");
	return HERD_OK;
}

static int parse_ws_json_match(pctx *c, const pair *pr, int in_loop, plan_ws_op *op)
{
	static const char *const keys[] = {"path", "equals"};
	void *it = NULL;
	pair kp;
	int more, rv, have[2] = {0, 0};

	if (node_kind(pr->v) != SK_MAP)
		return want_kind(c, pr, node_kind(pr->v), "a mapping such as '{ path: $.id, equals: x }'");
	for (;;) {
		if ((rv = next_pair(c, pr->v, &pr->vw, &it, &kp, &more)) != 0)
			return rv;
		if (!more)
			break;
		size_t i = key_index(keys, NELEM(keys), &kp);
		if (i == NELEM(keys))
			return unknown_key(c, &kp, "in 'json'", keys, NELEM(keys));
		have[i] = 1;
		if (i == 0) {
			if ((rv = get_string(c, &kp, &op->json_path)) != 0)
				return rv;
			if (!jpath_valid(op->json_path))
				return perr(c, vloc(&kp), "bad JSON path '%.100s': write '$' then '.key' or '[index]' parts, as in '$.a.b[0]'",
				            op->json_path);
		} else if ((rv = get_tmpl(c, &kp, in_loop, &op->text, &op->text_len, &op->templated)) != 0) {
			return rv;
		}
	}
	if (!have[0] || !have[1])
		return perr(c, vloc(pr), "'json' needs '%s'", have[0] ? "equals" : "path");
	return HERD_OK;
}

static int parse_ws_expect(pctx *c, const pair *pr, int in_loop, plan_ws_op *op)
{
	static const char *const keys[] = {"contains", "json", "count", "within"};
	void *it = NULL;
	pair kp;
	int more, rv;

	op->kind = WSOP_EXPECT;
	op->count = 1;
	op->within_ms = 10000;
	if (node_kind(pr->v) != SK_MAP)
		return want_kind(c, pr, node_kind(pr->v),
		                 "a mapping such as '{ contains: joined, within: 2s }'");
	for (;;) {
		if ((rv = next_pair(c, pr->v, &pr->vw, &it, &kp, &more)) != 0)
			return rv;
		if (!more)
			break;
		switch (key_index(keys, NELEM(keys), &kp)) {
		case 0:
		case 1:
			if (op->match != WSM_ANY)
				return perr(c, kp.kl, "'expect' takes 'contains' or 'json', not both");
			if (kp.key[0] == 'c') {
				op->match = WSM_CONTAINS;
				rv = get_tmpl(c, &kp, in_loop, &op->text, &op->text_len, &op->templated);
			} else {
				op->match = WSM_JSON;
				rv = parse_ws_json_match(c, &kp, in_loop, op);
			}
			break;
		case 2: rv = get_int(c, &kp, 1, PLAN_MAX_COUNT, &op->count); break;
		case 3: rv = get_duration(c, &kp, 1, &op->within_ms); break;
		default: return unknown_key(c, &kp, "in 'expect'", keys, NELEM(keys));
		}
		if (rv != 0)
			return rv;
	}
	return HERD_OK;
}

/* Close codes an endpoint may send (RFC 6455 7.4). */
static int close_code_ok(int64_t v)
{
	return (v >= 1000 && v <= 1014 && v != 1004 && v != 1005 && v != 1006) ||
	       (v >= 3000 && v <= 4999);
}

static int parse_think(pctx *c, const pair *pr, plan_step *st);
static int parse_ws_ops(pctx *c, const pair *sp, int depth, plan_ws_op **ops, size_t *nops);

enum { O_SEND = 0, O_EXPECT, O_LOOP, O_STEPS, O_THINK, O_HOLD, O_CLOSE, O__N };
static const char *const op_keys[O__N] = {"send", "expect", "loop", "steps",
                                          "think", "hold", "close"};

static int parse_ws_op(pctx *c, struct fy_node *n, const where *w, int depth, plan_ws_op *op)
{
	pair keys[O__N], pr;
	int seen[O__N] = {0}, more, rv, kind = -1;
	void *it = NULL;
	loc l = at(w);

	op->line = l.line;
	op->col = l.col;
	if (node_kind(n) != SK_MAP)
		return perr(c, l, "a session operation must be a mapping such as '{ send: hi }', not %s",
		            kind_name(node_kind(n)));
	for (;;) {
		if ((rv = next_pair(c, n, w, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			break;
		size_t i = key_index(op_keys, O__N, &pr);
		if (i == O__N)
			return unknown_key(c, &pr, "in a ws session", op_keys, O__N);
		if (i != O_STEPS) {
			if (kind >= 0)
				return perr(c, pr.kl, "a session operation does one thing, but this one has "
				            "both '%s' and '%s'", op_keys[kind], op_keys[i]);
			kind = (int)i;
		}
		seen[i] = 1;
		keys[i] = pr;
	}
	if (kind < 0)
		return perr(c, l, "a session operation needs one of send, expect, loop, think, hold, close");
	if (seen[O_STEPS] && kind != O_LOOP)
		return perr(c, keys[O_STEPS].kl, "'steps' belongs to a 'loop'");
	pr = keys[kind];
	switch (kind) {
	case O_SEND: return parse_ws_send(c, &pr, depth > 0, op);
	case O_EXPECT: return parse_ws_expect(c, &pr, depth > 0, op);
	case O_LOOP: {
		static const char *const lkeys[] = {"count"};
		void *lit = NULL;
		pair kp;
		op->kind = WSOP_LOOP;
		if (node_kind(pr.v) != SK_MAP)
			return want_kind(c, &pr, node_kind(pr.v), "a mapping such as '{ count: 20 }'");
		for (;;) {
			if ((rv = next_pair(c, pr.v, &pr.vw, &lit, &kp, &more)) != 0)
				return rv;
			if (!more)
				break;
			if (key_index(lkeys, 1, &kp) != 0)
				return unknown_key(c, &kp, "in 'loop'", lkeys, 1);
			if ((rv = get_int(c, &kp, 0, PLAN_MAX_COUNT, &op->count)) != 0)
				return rv;
		}
		if (!seen[O_STEPS])
			return perr(c, pr.kl, "'loop' needs 'steps', a list of session operations");
		if (depth + 1 >= PLAN_WS_MAX_DEPTH)
			return perr(c, pr.kl, "loops are nested too deeply (the limit is %d)",
			            PLAN_WS_MAX_DEPTH - 1);
		return parse_ws_ops(c, &keys[O_STEPS], depth + 1, &op->ops, &op->nops);
	}
	case O_THINK: {
		plan_step tmp;
		memset(&tmp, 0, sizeof(tmp));
		if ((rv = parse_think(c, &pr, &tmp)) != 0)
			return rv;
		op->kind = WSOP_THINK;
		op->min_ms = tmp.think_min_ms;
		op->max_ms = tmp.think_max_ms;
		return HERD_OK;
	}
	case O_HOLD:
		op->kind = WSOP_HOLD;
		if ((rv = get_duration(c, &pr, 0, &op->min_ms)) != 0)
			return rv;
		op->max_ms = op->min_ms;
		return HERD_OK;
	case O_CLOSE: {
		int64_t v;
		op->kind = WSOP_CLOSE;
		if ((rv = get_int(c, &pr, 1000, 4999, &v)) != 0)
			return rv;
		if (!close_code_ok(v))
			return perr(c, vloc(&pr), "close code %lld may not be sent; use 1000-1003, "
			            "1007-1014 or 3000-4999", (long long)v);
		op->close_code = (int)v;
		return HERD_OK;
	}
	}
	return perr(c, l, "internal error: unhandled session operation");
}

static int parse_ws_ops(pctx *c, const pair *sp, int depth, plan_ws_op **ops, size_t *nops)
{
	void *it = NULL;
	struct fy_node *item;
	where iw;
	int more, rv, n;

	if (node_kind(sp->v) != SK_SEQ)
		return want_kind(c, sp, node_kind(sp->v), "a list of session operations");
	n = fy_node_sequence_item_count(sp->v);
	if (n <= 0)
		return perr(c, vloc(sp), "'%s' is empty", depth > 0 ? "steps" : "session");
	if ((*ops = calloc((size_t)n, sizeof(**ops))) == NULL)
		return poom(c);
	for (;;) {
		if ((rv = next_item(c, sp->v, &sp->vw, &it, &item, &iw, &more)) != 0)
			return rv;
		if (!more)
			return HERD_OK;
		if (*nops == (size_t)n)
			return perr(c, at(&iw), "too many session operations");
		if ((rv = parse_ws_op(c, item, &iw, depth, &(*ops)[(*nops)++])) != 0)
			return rv;
	}
}

static int parse_subprotocols(pctx *c, const pair *pr, plan_ws *ws)
{
	void *it = NULL;
	struct fy_node *item;
	where iw;
	int more, rv, n;

	if (node_kind(pr->v) != SK_SEQ)
		return want_kind(c, pr, node_kind(pr->v), "a list such as '[chat.v1]'");
	n = fy_node_sequence_item_count(pr->v);
	if (n <= 0)
		return HERD_OK;
	if ((ws->subprotocols = calloc((size_t)n, sizeof(char *))) == NULL)
		return poom(c);
	for (;;) {
		if ((rv = next_item(c, pr->v, &pr->vw, &it, &item, &iw, &more)) != 0 || !more)
			return rv;
		loc l = at(&iw);
		skind k = node_kind(item);
		char **sp = &ws->subprotocols[ws->nsubprotocols];
		if (k != SK_STR || ws->nsubprotocols == (size_t)n)
			return perr(c, l, "a subprotocol must be a name such as 'chat.v1'");
		if ((rv = dup_text(c, item, l, "a subprotocol", sp)) != 0)
			return rv;
		ws->nsubprotocols++;
		if ((*sp)[0] == '\0')
			return perr(c, l, "a subprotocol name is empty");
		for (const char *q = *sp; *q != '\0'; q++)
			if (!is_tchar((unsigned char)*q))
				return perr(c, l, "subprotocol '%s' has a character that is not allowed", *sp);
	}
}

/*
 * Resolves a ws step's path against the target (http -> ws) into st->url.
 * Templates may appear in the path and query, never in the host.
 */
static int resolve_ws_url(pctx *c, const pair *wp, plan_step *st, plan_ws *ws, loc steploc)
{
	char vb[200];
	const char *p = st->path, *rest;
	sbuf url = {0};
	int rv;

	show(p, strlen(p), vb, sizeof(vb));
	if ((rv = check_tmpl(c, p, strlen(p), wp->v, vloc(wp), 0, &ws->url_templated)) != 0)
		return rv;
	/* Spaces are allowed only inside templates. */
	for (size_t i = 0; p[i] != '\0'; i++) {
		if (p[i] == '{' && p[i + 1] == '{') {
			const char *e = strstr(p + i, "}}");
			i = (size_t)(e - p) + 1;
			continue;
		}
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] == 0x7f)
			return perr(c, vloc(wp), "URL '%s' has a space or control character; encode it (%%20)",
			            vb);
	}
	if (strncasecmp(p, "http://", 7) == 0 || strncasecmp(p, "https://", 8) == 0)
		return perr(c, vloc(wp), "'ws' takes a ws:// or wss:// URL, not '%s'", vb);
	int tls = strncasecmp(p, "wss://", 6) == 0;
	if (tls || strncasecmp(p, "ws://", 5) == 0) {
		rest = p + (tls ? 6 : 5);
		size_t hl = strcspn(rest, "/?#");
		if (hl == 0)
			return perr(c, vloc(wp), "URL '%s' has no host", vb);
		if (memmem(rest, hl, "{{", 2) != NULL)
			return perr(c, vloc(wp), "URL '%s': templates may not be used in the host", vb);
		sbuf_str(&url, p);
	} else if (p[0] == '/') {
		if (c->p->target == NULL)
			return perr(c, c->root,
			            "plan has no 'target', but the ws step at %d:%d uses the relative path "
			            "'%s'; add 'target: http://host:port' or use a ws:// URL",
			            steploc.line, steploc.col, vb);
		/* http:// becomes ws://, https:// wss://. */
		tls = strncasecmp(c->p->target, "https://", 8) == 0;
		sbuf_str(&url, tls ? "wss://" : "ws://");
		sbuf_str(&url, c->p->target + (tls ? 8 : 7));
		sbuf_str(&url, p);
	} else {
		return perr(c, vloc(wp), "'ws' needs a path starting with '/' or a ws:// or wss:// URL, "
		            "got '%s'", vb);
	}
	if (url.oom) {
		free(url.p);
		return poom(c);
	}
	st->url = url.p;
	return HERD_OK;
}

static int parse_ws_step(pctx *c, struct fy_node *n, const where *sw, plan_step *st,
                         const pair *keys, const int *seen)
{
	void *it = NULL;
	pair pr;
	int more, rv;
	loc sl = at(sw);
	plan_ws *ws;

	st->kind = STEP_WS;
	if ((ws = st->ws = calloc(1, sizeof(*ws))) == NULL)
		return poom(c);
	for (;;) {
		size_t i;
		if ((rv = next_pair(c, n, sw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			break;
		i = key_index(step_keys, K__STEP, &pr);
		if (!ws_key(i))
			return perr(c, pr.kl, "'%s' is not used by a ws step", step_keys[i]);
		switch (i) {
		case K_WS: rv = get_string(c, &pr, &st->path); break;
		case K_HEADERS: rv = parse_headers(c, &pr, st); break;
		case K_NAME:
			if ((rv = get_string(c, &pr, &st->name)) == 0 && st->name[0] == '\0')
				rv = perr(c, vloc(&pr), "'name' is empty");
			break;
		case K_SUBPROTOCOLS: rv = parse_subprotocols(c, &pr, ws); break;
		case K_PING: rv = get_duration(c, &pr, 1, &ws->ping_ms); break;
		case K_SESSION: rv = parse_ws_ops(c, &pr, 0, &ws->ops, &ws->nops); break;
		default: rv = perr(c, pr.kl, "internal error: unhandled ws key");
		}
		if (rv != 0)
			return rv;
	}
	if (!seen[K_SESSION])
		return perr(c, sl, "a ws step needs a 'session', a list of operations");
	if ((rv = resolve_ws_url(c, &keys[K_WS], st, ws, sl)) != 0)
		return rv;
	if (st->name == NULL && (st->name = xstrdup(c, st->path)) == NULL)
		return poom(c);
	return HERD_OK;
}

/* ---- Scenarios ---- */

enum {
	S_EXECUTOR = 0,
	S_START_TIME,
	S_GRACEFUL_STOP,
	S_VUS,
	S_DURATION,
	S_ITERATIONS,
	S_MAX_DURATION,
	S_START_VUS,
	S_STAGES,
	S_RATE,
	S_TIME_UNIT,
	S_PRE_ALLOCATED_VUS,
	S_MAX_VUS,
	S_FLOW,
	S__N
};

static const char *const scen_keys[S__N] = {
	"executor",   "startTime",       "gracefulStop", "vus",    "duration",
	"iterations", "maxDuration",     "startVUs",     "stages", "rate",
	"timeUnit",   "preAllocatedVUs", "maxVUs",       "flow",
};

#define X_CV (1u << EXEC_CONSTANT_VUS)
#define X_RV (1u << EXEC_RAMPING_VUS)
#define X_CAR (1u << EXEC_CONSTANT_ARRIVAL_RATE)
#define X_PVI (1u << EXEC_PER_VU_ITERATIONS)
#define X_ALL (X_CV | X_RV | X_CAR | X_PVI)

/* Which executors use each scenario key. */
static const unsigned scen_key_execs[S__N] = {
	[S_EXECUTOR] = X_ALL,        [S_START_TIME] = X_ALL,
	[S_GRACEFUL_STOP] = X_ALL,   [S_VUS] = X_CV | X_PVI,
	[S_DURATION] = X_CV | X_CAR, [S_ITERATIONS] = X_PVI,
	[S_MAX_DURATION] = X_PVI,    [S_START_VUS] = X_RV,
	[S_STAGES] = X_RV,           [S_RATE] = X_CAR,
	[S_TIME_UNIT] = X_CAR,       [S_PRE_ALLOCATED_VUS] = X_CAR,
	[S_MAX_VUS] = X_CAR,         [S_FLOW] = X_ALL,
};

static int parse_executor(pctx *c, const pair *pr, plan_executor *out)
{
	char vb[200];
	size_t len;
	const char *s = node_text(pr->v, &len), *sug;
	skind k = node_kind(pr->v);

	if (k != SK_STR)
		return want_kind(c, pr, k, "an executor name");
	for (size_t i = 0; i < NELEM(executor_names); i++)
		if (text_is(s, len, executor_names[i])) {
			*out = (plan_executor)i;
			return HERD_OK;
		}
	show(s, len, vb, sizeof(vb));
	if (text_is(s, len, "ramping-arrival-rate") || text_is(s, len, "breaking-point"))
		return perr(c, vloc(pr), "executor '%s' is not supported yet; use one of: %s", vb,
		            executor_list);
	sug = suggest(executor_names, NELEM(executor_names), s, len);
	if (sug != NULL)
		return perr(c, vloc(pr), "unknown executor '%s' (did you mean '%s'?); use one of: %s", vb,
		            sug, executor_list);
	return perr(c, vloc(pr), "unknown executor '%s'; use one of: %s", vb, executor_list);
}

static int parse_stages(pctx *c, const pair *sp, plan_scenario *s)
{
	static const char *const keys[] = {"duration", "target"};
	void *it = NULL;
	struct fy_node *item;
	where iw;
	int more, rv, n;
	int64_t total = 0;

	if (node_kind(sp->v) != SK_SEQ)
		return want_kind(c, sp, node_kind(sp->v), "a list of '{ duration, target }' stages");
	n = fy_node_sequence_item_count(sp->v);
	if (n <= 0)
		return perr(c, vloc(sp), "'stages' is empty");
	if ((s->stages = calloc((size_t)n, sizeof(*s->stages))) == NULL)
		return poom(c);
	for (;;) {
		void *kit = NULL;
		pair pr;
		int kmore, have[2] = {0, 0};
		plan_stage *st;

		if ((rv = next_item(c, sp->v, &sp->vw, &it, &item, &iw, &more)) != 0)
			return rv;
		if (!more)
			break;
		if (node_kind(item) != SK_MAP)
			return perr(c, at(&iw),
			            "a stage must be a mapping such as '{ duration: 10s, target: 20 }'");
		if (s->nstages == (size_t)n)
			return perr(c, at(&iw), "too many stages");
		st = &s->stages[s->nstages++];
		for (;;) {
			size_t i;
			if ((rv = next_pair(c, item, &iw, &kit, &pr, &kmore)) != 0)
				return rv;
			if (!kmore)
				break;
			i = key_index(keys, NELEM(keys), &pr);
			if (i == 0)
				rv = get_duration(c, &pr, 0, &st->duration_ms);
			else if (i == 1)
				rv = get_int(c, &pr, 0, PLAN_MAX_COUNT, &st->target);
			else
				rv = unknown_key(c, &pr, "in a stage", keys, NELEM(keys));
			if (rv != 0)
				return rv;
			have[i] = 1;
		}
		if (!have[0] || !have[1])
			return perr(c, at(&iw), "a stage needs '%s'", have[0] ? "target" : "duration");
		total += st->duration_ms;
		if (total > PLAN_MAX_DURATION_MS)
			return perr(c, at(&iw), "the stages last too long (the limit is 365 days)");
	}
	if (total == 0)
		return perr(c, vloc(sp), "the stages last 0s; give at least one stage a duration");
	return HERD_OK;
}

static int parse_flow(pctx *c, const pair *fp, plan_scenario *s)
{
	void *it = NULL;
	struct fy_node *item;
	where iw;
	int more, rv, n;

	if (node_kind(fp->v) != SK_SEQ)
		return want_kind(c, fp, node_kind(fp->v), "a list of steps");
	n = fy_node_sequence_item_count(fp->v);
	if (n <= 0)
		return perr(c, vloc(fp), "'flow' is empty; add at least one step");
	if ((s->steps = calloc((size_t)n, sizeof(*s->steps))) == NULL)
		return poom(c);
	for (;;) {
		if ((rv = next_item(c, fp->v, &fp->vw, &it, &item, &iw, &more)) != 0)
			return rv;
		if (!more)
			return HERD_OK;
		if (s->nsteps == (size_t)n)
			return perr(c, at(&iw), "too many steps");
		if ((rv = parse_step(c, item, &iw, &s->steps[s->nsteps++])) != 0)
			return rv;
	}
}

/* Scenario names appear in tags ("{scenario:browse}"), so keep them simple. */
static int check_scenario_name(pctx *c, const pair *pr)
{
	char kb[200];

	key_str(pr, kb, sizeof(kb));
	if (pr->klen == 0)
		return perr(c, pr->kl, "scenario name is empty");
	if (pr->klen > 64)
		return perr(c, pr->kl, "scenario name '%s' is too long (the limit is 64 bytes)", kb);
	for (size_t i = 0; i < pr->klen; i++) {
		char ch = pr->key[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || is_digit(ch) || ch == '_' ||
		      ch == '-' || ch == '.'))
			return perr(c, pr->kl,
			            "scenario name '%s' may only use letters, digits, '_', '-' and '.'", kb);
	}
	return HERD_OK;
}

static int parse_scenario(pctx *c, const pair *sp, plan_scenario *s)
{
	pair keys[S__N], pr;
	int seen[S__N] = {0};
	int more, rv;
	void *it = NULL;
	char nb[200];

	s->line = sp->kl.line;
	s->col = sp->kl.col;
	s->graceful_stop_ms = 30000;
	s->time_unit_ms = 1000;
	s->vus = 1;
	s->iterations = 1;
	s->max_duration_ms = 600000;
	if ((rv = check_scenario_name(c, sp)) != 0)
		return rv;
	if ((rv = dup_key(c, sp, "a scenario name", &s->name)) != 0)
		return rv;
	show(sp->key, sp->klen, nb, sizeof(nb));
	if (node_kind(sp->v) != SK_MAP)
		return want_kind(c, sp, node_kind(sp->v), "a mapping with an executor and a flow");

	/* First pass: every key is known, and the executor decides which apply. */
	for (;;) {
		size_t i;
		char where[240];
		if ((rv = next_pair(c, sp->v, &sp->vw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			break;
		i = key_index(scen_keys, S__N, &pr);
		snprintf(where, sizeof(where), "in scenario '%s'", nb);
		if (i == S__N)
			return unknown_key(c, &pr, where, scen_keys, S__N);
		seen[i] = 1;
		keys[i] = pr;
	}
	if (!seen[S_EXECUTOR])
		return perr(c, sp->kl, "scenario '%s' has no 'executor'; use one of: %s", nb,
		            executor_list);
	if ((rv = parse_executor(c, &keys[S_EXECUTOR], &s->executor)) != 0)
		return rv;

	it = NULL;
	for (;;) {
		size_t i;
		if ((rv = next_pair(c, sp->v, &sp->vw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			break;
		i = key_index(scen_keys, S__N, &pr);
		if (!(scen_key_execs[i] & (1u << s->executor)))
			return perr(c, pr.kl, "'%s' is not used by executor %s", scen_keys[i],
			            executor_names[s->executor]);
		switch (i) {
		case S_EXECUTOR: break;
		case S_START_TIME: rv = get_duration(c, &pr, 0, &s->start_ms); break;
		case S_GRACEFUL_STOP: rv = get_duration(c, &pr, 0, &s->graceful_stop_ms); break;
		case S_VUS: rv = get_int(c, &pr, 1, PLAN_MAX_COUNT, &s->vus); break;
		case S_DURATION: rv = get_duration(c, &pr, 1, &s->duration_ms); break;
		case S_ITERATIONS: rv = get_int(c, &pr, 1, PLAN_MAX_COUNT, &s->iterations); break;
		case S_MAX_DURATION: rv = get_duration(c, &pr, 1, &s->max_duration_ms); break;
		case S_START_VUS: rv = get_int(c, &pr, 0, PLAN_MAX_COUNT, &s->start_vus); break;
		case S_STAGES: rv = parse_stages(c, &pr, s); break;
		case S_RATE: rv = get_int(c, &pr, 1, PLAN_MAX_COUNT, &s->rate); break;
		case S_TIME_UNIT: rv = get_duration(c, &pr, 1, &s->time_unit_ms); break;
		case S_PRE_ALLOCATED_VUS:
			rv = get_int(c, &pr, 0, PLAN_MAX_COUNT, &s->pre_allocated_vus);
			break;
		case S_MAX_VUS: rv = get_int(c, &pr, 1, PLAN_MAX_COUNT, &s->max_vus); break;
		case S_FLOW: rv = parse_flow(c, &pr, s); break;
		default: rv = perr(c, pr.kl, "internal error: unhandled scenario key");
		}
		if (rv != 0)
			return rv;
	}

	/* Required keys, in the order a reader would add them. */
	static const int required[][4] = {
	    [EXEC_CONSTANT_VUS] = {S_DURATION, -1},
	    [EXEC_RAMPING_VUS] = {S_STAGES, -1},
	    [EXEC_CONSTANT_ARRIVAL_RATE] = {S_RATE, S_DURATION, S_PRE_ALLOCATED_VUS, -1},
	    [EXEC_PER_VU_ITERATIONS] = {-1},
	};
	for (const int *r = required[s->executor]; *r >= 0; r++)
		if (!seen[*r])
			return perr(c, sp->kl, "scenario '%s': executor %s needs '%s'", nb,
			            executor_names[s->executor], scen_keys[*r]);
	if (!seen[S_FLOW])
		return perr(c, sp->kl, "scenario '%s' has no 'flow'; add a list of steps", nb);
	if (s->executor == EXEC_CONSTANT_ARRIVAL_RATE) {
		if (!seen[S_MAX_VUS])
			s->max_vus = s->pre_allocated_vus;
		else if (s->max_vus < s->pre_allocated_vus)
			return perr(c, vloc(&keys[S_MAX_VUS]),
			            "'maxVUs' (%lld) is below 'preAllocatedVUs' (%lld)", (long long)s->max_vus,
			            (long long)s->pre_allocated_vus);
		if (s->max_vus == 0)
			return perr(c, vloc(&keys[S_PRE_ALLOCATED_VUS]),
			            "'preAllocatedVUs' is 0 and there is no 'maxVUs'; the scenario needs a VU");
	}
	return HERD_OK;
}

static int parse_scenarios(pctx *c, const pair *sp)
{
	void *it = NULL;
	pair pr;
	int more, rv, n;
	plan *p = c->p;

	if (node_kind(sp->v) == SK_NULL)
		return perr(c, vloc(sp), "'scenarios' is empty; define at least one scenario");
	if (node_kind(sp->v) != SK_MAP)
		return want_kind(c, sp, node_kind(sp->v), "a mapping of scenario names to scenarios");
	n = fy_node_mapping_item_count(sp->v);
	if (n <= 0)
		return perr(c, vloc(sp), "'scenarios' is empty; define at least one scenario");
	if ((p->scenarios = calloc((size_t)n, sizeof(*p->scenarios))) == NULL)
		return poom(c);
	for (;;) {
		if ((rv = next_pair(c, sp->v, &sp->vw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			return HERD_OK;
		if (p->nscenarios == (size_t)n)
			return perr(c, pr.kl, "too many scenarios");
		if ((rv = parse_scenario(c, &pr, &p->scenarios[p->nscenarios++])) != 0)
			return rv;
	}
}

/* ---- Thresholds ---- */

static int add_threshold(pctx *c, const char *metric, struct fy_node *n, loc l, size_t *cap)
{
	plan *p = c->p;
	plan_threshold *t;
	th_expr x;
	char msg[256], vb[200];
	char *expr = NULL;
	size_t len;
	const char *s = node_text(n, &len);
	skind k = node_kind(n);
	int rv;

	if (k == SK_NULL || k == SK_MAP || k == SK_SEQ)
		return perr(c, l, "a threshold must be an expression such as 'p(95) < 500', not %s",
		            kind_name(k));
	if ((rv = dup_text(c, n, l, "a threshold", &expr)) != 0)
		return rv;
	if (th_parse_expr(expr, &x, msg, sizeof(msg)) != 0) {
		free(expr);
		return perr(c, l, "bad threshold '%s': %s", show(s, len, vb, sizeof(vb)), msg);
	}
	if (p->nthresholds == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		plan_threshold *np = realloc(p->thresholds, ncap * sizeof(*np));
		if (np == NULL) {
			free(expr);
			return poom(c);
		}
		p->thresholds = np;
		*cap = ncap;
	}
	t = &p->thresholds[p->nthresholds++];
	memset(t, 0, sizeof(*t));
	t->expr = expr;
	t->line = l.line;
	t->col = l.col;
	if ((t->metric = xstrdup(c, metric)) == NULL)
		return poom(c);
	return HERD_OK;
}

static int parse_thresholds(pctx *c, const pair *tp)
{
	void *it = NULL;
	pair pr;
	int more, rv;
	size_t cap = 0;

	if (node_kind(tp->v) != SK_MAP)
		return want_kind(c, tp, node_kind(tp->v), "a mapping of metrics to expressions");
	for (;;) {
		char *metric = NULL, msg[256], kb[200];
		th_metric m;

		if ((rv = next_pair(c, tp->v, &tp->vw, &it, &pr, &more)) != 0 || !more)
			return rv;
		key_str(&pr, kb, sizeof(kb));
		if ((rv = dup_key(c, &pr, "a threshold metric", &metric)) != 0)
			return rv;
		if (th_parse_metric(metric, &m, msg, sizeof(msg)) != 0) {
			free(metric);
			return perr(c, pr.kl, "bad threshold metric '%s': %s", kb, msg);
		}
		/* A filter on a scenario the plan lacks would never match anything. */
		for (size_t i = 0; i < m.ntags; i++) {
			size_t j;
			if (strcmp(m.tags[i].key, "scenario") != 0)
				continue;
			for (j = 0; j < c->p->nscenarios; j++)
				if (strcmp(c->p->scenarios[j].name, m.tags[i].value) == 0)
					break;
			if (j == c->p->nscenarios) {
				rv = perr(c, pr.kl,
				          "threshold '%s' filters on scenario '%s', which the plan does not define",
				          kb, m.tags[i].value);
				free(metric);
				return rv;
			}
		}
		if (node_kind(pr.v) == SK_SEQ) {
			void *sit = NULL;
			struct fy_node *item;
			where iw;
			int smore;
			for (;;) {
				if ((rv = next_item(c, pr.v, &pr.vw, &sit, &item, &iw, &smore)) != 0 || !smore)
					break;
				if ((rv = add_threshold(c, metric, item, at(&iw), &cap)) != 0)
					break;
			}
		} else if (node_kind(pr.v) == SK_STR) {
			rv = add_threshold(c, metric, pr.v, vloc(&pr), &cap);
		} else {
			rv = want_kind(c, &pr, node_kind(pr.v), "an expression or a list of expressions");
		}
		free(metric);
		if (rv != 0)
			return rv;
	}
}

/* ---- The plan ---- */

enum { T_NAME = 0, T_TARGET, T_SCENARIOS, T_THRESHOLDS, T_AGENTS, T_TLS, T__N };
static const char *const top_keys[T__N] = {"name", "target", "scenarios", "thresholds", "agents", "tls"};

/* tls: { insecureSkipVerify: true } or tls: { ca: test-ca.pem } (k6 spells
 * the first insecureSkipTLSVerify, at the top level). */
static int parse_tls(pctx *c, const pair *tp)
{
	static const char *const keys[] = {"insecureSkipVerify", "ca"};
	plan_tls *t = &c->p->tls;
	void *it = NULL;
	pair pr, ca_pair = {0};
	int more, rv;

	if (node_kind(tp->v) != SK_MAP)
		return want_kind(c, tp, node_kind(tp->v),
		                 "a mapping such as '{ ca: ca.pem }' or '{ insecureSkipVerify: true }'");
	for (;;) {
		size_t i;
		if ((rv = next_pair(c, tp->v, &tp->vw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			break;
		i = key_index(keys, NELEM(keys), &pr);
		if (i == 0) {
			size_t len;
			const char *v = node_text(pr.v, &len);
			if (node_kind(pr.v) != SK_BOOL)
				rv = want_kind(c, &pr, node_kind(pr.v), "true or false");
			else
				t->insecure_skip_verify = v[0] == 't' || v[0] == 'T';
		} else if (i == 1) {
			ca_pair = pr;
			rv = get_string(c, &pr, &t->ca);
		} else {
			rv = unknown_key(c, &pr, "in 'tls'", keys, NELEM(keys));
		}
		if (rv != 0)
			return rv;
	}
	if (t->ca != NULL && t->insecure_skip_verify)
		return perr(c, vloc(&ca_pair), "'ca' has no use with 'insecureSkipVerify: true' (nothing is "
		            "checked); keep one of them");
	return HERD_OK;
}

/* agents: { min: 3, wait: 60s } — how many agents the run needs, and how
 * long the controller waits for them. */
static int parse_agents(pctx *c, const pair *ap)
{
	static const char *const keys[] = {"min", "wait"};
	void *it = NULL;
	pair pr;
	int more, rv;

	if (node_kind(ap->v) != SK_MAP)
		return want_kind(c, ap, node_kind(ap->v), "a mapping such as '{ min: 3, wait: 60s }'");
	for (;;) {
		size_t i;
		if ((rv = next_pair(c, ap->v, &ap->vw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			break;
		i = key_index(keys, NELEM(keys), &pr);
		if (i == 0)
			rv = get_int(c, &pr, 1, 4096, &c->p->agents_min);
		else if (i == 1)
			rv = get_duration(c, &pr, 0, &c->p->agents_wait_ms);
		else
			rv = unknown_key(c, &pr, "in 'agents'", keys, NELEM(keys));
		if (rv != 0)
			return rv;
	}
	return HERD_OK;
}

/* The file's base name without its extension: "plans/smoke.yaml" -> "smoke". */
static char *default_name(pctx *c, const char *file)
{
	const char *b = strrchr(file, '/'), *dot;
	char *name;
	size_t len;

	b = b != NULL ? b + 1 : file;
	dot = strrchr(b, '.');
	len = dot != NULL && dot != b ? (size_t)(dot - b) : strlen(b);
	if (len == 0) {
		b = "plan";
		len = 4;
	}
	c->bytes += len + 1;
	if ((name = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(name, b, len);
	name[len] = '\0';
	return name;
}

static int parse_target(pctx *c, const pair *pr)
{
	plan *p = c->p;
	char vb[200];
	size_t len;
	int rv;

	if ((rv = get_string(c, pr, &p->target)) != 0)
		return rv;
	len = strlen(p->target);
	show(p->target, len, vb, sizeof(vb));
	if (!has_scheme(p->target))
		return perr(c, vloc(pr), "'target' must start with http:// or https://, got '%s'", vb);
	if (!url_has_host(p->target))
		return perr(c, vloc(pr), "'target' '%s' has no host", vb);
	if (has_space_or_ctl(p->target))
		return perr(c, vloc(pr), "'target' '%s' has a space or control character", vb);
	while (len > 0 && p->target[len - 1] == '/')
		p->target[--len] = '\0';
	return HERD_OK;
}

static int parse_root(pctx *c, struct fy_node *root)
{
	pair keys[T__N], pr;
	int seen[T__N] = {0};
	void *it = NULL;
	int more, rv;
	plan *p = c->p;

	where rw = {root, NULL, c->root};

	if (root == NULL || node_kind(root) == SK_NULL)
		return perr(c, c->root, "plan is empty");
	if ((rv = deref(c, &root, &rw)) != 0)
		return rv;
	if (node_kind(root) != SK_MAP)
		return perr(c, c->root, "a plan must be a mapping with 'target' and 'scenarios', not %s",
		            kind_name(node_kind(root)));
	for (;;) {
		size_t i;
		if ((rv = next_pair(c, root, &rw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			break;
		i = key_index(top_keys, T__N, &pr);
		if (i == T__N)
			return unknown_key(c, &pr, "at the top of the plan", top_keys, T__N);
		seen[i] = 1;
		keys[i] = pr;
	}
	if (seen[T_NAME]) {
		if ((rv = get_string(c, &keys[T_NAME], &p->name)) != 0)
			return rv;
	} else if ((p->name = default_name(c, c->named ? c->file : "plan")) == NULL) {
		return poom(c);
	}
	if (seen[T_TARGET] && (rv = parse_target(c, &keys[T_TARGET])) != 0)
		return rv;
	if (!seen[T_SCENARIOS])
		return perr(c, c->root, "plan has no 'scenarios'");
	if ((rv = parse_scenarios(c, &keys[T_SCENARIOS])) != 0)
		return rv;
	if (seen[T_THRESHOLDS] && (rv = parse_thresholds(c, &keys[T_THRESHOLDS])) != 0)
		return rv;
	if (seen[T_AGENTS] && (rv = parse_agents(c, &keys[T_AGENTS])) != 0)
		return rv;
	if (seen[T_TLS] && (rv = parse_tls(c, &keys[T_TLS])) != 0)
		return rv;
	return HERD_OK;
}

/* The length of the UTF-8 sequence at s (n bytes left), or 0 when it is invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07u;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	/* Overlong forms, UTF-16 surrogates and code points past U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * Finds a NUL byte or invalid UTF-8. Returns NULL when the text is clean, else
 * a message with *l set to where the problem is (columns count characters).
 */
static const char *check_bytes(const char *text, size_t len, loc *l)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;

	*l = (loc){1, 1};
	while (i < len) {
		size_t n;
		if (s[i] == '\0')
			return "the plan contains a NUL byte";
		if ((n = utf8_len(s + i, len - i)) == 0)
			return "the plan is not valid UTF-8";
		if (s[i] == '\n') {
			l->line++;
			l->col = 1;
		} else {
			l->col++;
		}
		i += n;
	}
	return NULL;
}

/* Only white space and comments: libfyaml finds no document in such text. */
static int is_blank_yaml(const char *s, size_t len)
{
	int comment = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n')
			comment = 0;
		else if (s[i] == '#')
			comment = 1;
		else if (!comment && s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	}
	return 1;
}

/* The first error libfyaml collected, as our message. */
static int syntax_error(pctx *c, struct fy_diag *diag)
{
	void *it = NULL;
	struct fy_diag_error *e;

	while ((e = fy_diag_errors_iterate(diag, &it)) != NULL) {
		if (e->type < FYET_ERROR)
			continue;
		loc l = {e->line > 0 ? e->line : 1, e->column > 0 ? e->column : 1};
		return perr(c, l, "YAML syntax error: %s", e->msg != NULL ? e->msg : "invalid YAML");
	}
	return 0;
}

int plan_parse(const char *text, size_t len, const char *file, plan **out, char *err, size_t errlen)
{
	pctx c = {0};
	struct fy_diag *diag = NULL;
	struct fy_parser *fyp = NULL;
	struct fy_document *doc = NULL, *extra = NULL;
	struct fy_parse_cfg cfg;
	const char *bad;
	loc l;
	int rv;

	c.named = file != NULL && file[0] != '\0';
	c.file = c.named ? file : "<plan>";
	c.err = err;
	c.errlen = errlen;
	c.root = (loc){1, 1};
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (text == NULL)
		len = 0;
	if (out == NULL)
		return perr(&c, c.root, "internal error: plan_parse without a place for the plan");

	/*
	 * libfyaml 0.7.12 stops quietly at a NUL byte and can loop forever on
	 * bad UTF-8 in a directive line, so check the bytes first.
	 */
	if ((bad = check_bytes(text, len, &l)) != NULL)
		return perr(&c, l, "%s", bad);
	if (len == 0 || is_blank_yaml(text, len))
		return perr(&c, c.root, "plan is empty");

	if ((diag = quiet_diag()) == NULL)
		return poom(&c);
	memset(&cfg, 0, sizeof(cfg));
	cfg.flags = FYPCF_QUIET;
	cfg.diag = diag;
	if ((fyp = fy_parser_create(&cfg)) == NULL) {
		rv = poom(&c);
		goto fail;
	}
	if (fy_parser_set_string(fyp, text, len) != 0) {
		rv = poom(&c);
		goto fail;
	}
	doc = fy_parse_load_document(fyp);
	if (doc == NULL) {
		if ((rv = syntax_error(&c, diag)) == 0)
			rv = perr(&c, c.root, "no YAML document found");
		goto fail;
	}
	/* A second document would be silently ignored; say so instead. */
	extra = fy_parse_load_document(fyp);
	if (extra != NULL) {
		loc l = node_loc(fy_document_root(extra), c.root);
		rv = perr(&c, l, "a plan is a single YAML document; remove the extra '---'");
		goto fail;
	}
	if ((rv = syntax_error(&c, diag)) != 0)
		goto fail;

	if ((c.p = calloc(1, sizeof(*c.p))) == NULL) {
		rv = poom(&c);
		goto fail;
	}
	if ((c.p->file = xstrdup(&c, c.file)) == NULL) {
		rv = poom(&c);
		goto fail;
	}
	c.root = node_loc(fy_document_root(doc), c.root);
	if ((rv = parse_root(&c, fy_document_root(doc))) != 0)
		goto fail;

	fy_parse_document_destroy(fyp, doc);
	fy_parser_destroy(fyp);
	fy_diag_destroy(diag);
	*out = c.p;
	return HERD_OK;

fail:
	plan_free(c.p);
	if (extra != NULL)
		fy_parse_document_destroy(fyp, extra);
	if (doc != NULL)
		fy_parse_document_destroy(fyp, doc);
	if (fyp != NULL)
		fy_parser_destroy(fyp);
	fy_diag_destroy(diag);
	return rv;
}

int plan_load_file(const char *path, plan **out, char *err, size_t errlen)
{
	FILE *f;
	char *buf = NULL;
	long size;
	size_t got;
	int rv;

	if ((f = fopen(path, "rb")) == NULL)
		goto ioerr;
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		goto ioerr;
	}
	if (size > PLAN_MAX_FILE) {
		fclose(f);
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: cannot read: file is larger than 16 MiB", path);
		return HERD_EPLAN;
	}
	if ((buf = malloc((size_t)size + 1)) == NULL) {
		fclose(f);
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: out of memory", path);
		return HERD_ENOMEM;
	}
	got = fread(buf, 1, (size_t)size, f);
	if (ferror(f)) {
		free(buf);
		fclose(f);
		goto ioerr;
	}
	fclose(f);
	rv = plan_parse(buf, got, path, out, err, errlen);
	free(buf);
	return rv;

ioerr:
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
	return HERD_EPLAN;
}

static void free_ws_ops(plan_ws_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(ops[i].text);
		free(ops[i].json_path);
		free_ws_ops(ops[i].ops, ops[i].nops);
	}
	free(ops);
}

static void free_ws(plan_ws *ws)
{
	if (ws == NULL)
		return;
	for (size_t i = 0; i < ws->nsubprotocols; i++)
		free(ws->subprotocols[i]);
	free(ws->subprotocols);
	free_ws_ops(ws->ops, ws->nops);
	free(ws);
}

static void free_step(plan_step *st)
{
	free_ws(st->ws);
	free(st->path);
	free(st->url);
	for (size_t i = 0; i < st->nheaders; i++) {
		free(st->headers[i].name);
		free(st->headers[i].value);
	}
	free(st->headers);
	free(st->body);
	free(st->name);
	free(st->check_body_contains);
}

void plan_free(plan *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nscenarios; i++) {
		plan_scenario *s = &p->scenarios[i];
		for (size_t j = 0; j < s->nsteps; j++)
			free_step(&s->steps[j]);
		free(s->steps);
		free(s->stages);
		free(s->name);
	}
	free(p->scenarios);
	for (size_t i = 0; i < p->nthresholds; i++) {
		free(p->thresholds[i].metric);
		free(p->thresholds[i].expr);
	}
	free(p->thresholds);
	free(p->file);
	free(p->name);
	free(p->target);
	free(p->tls.ca);
	free(p);
}

size_t plan_step_offsets(const plan *p, size_t *first)
{
	size_t n = 0;
	for (size_t i = 0; i < p->nscenarios; i++) {
		first[i] = n;
		n += p->scenarios[i].nsteps;
	}
	return n;
}

int64_t plan_scenario_length_ms(const plan_scenario *s)
{
	int64_t total = 0;

	switch (s->executor) {
	case EXEC_CONSTANT_VUS:
	case EXEC_CONSTANT_ARRIVAL_RATE: return s->duration_ms;
	case EXEC_RAMPING_VUS:
		for (size_t i = 0; i < s->nstages; i++)
			total += s->stages[i].duration_ms;
		return total;
	case EXEC_PER_VU_ITERATIONS: return s->max_duration_ms;
	}
	return 0;
}

int64_t plan_total_ms(const plan *p)
{
	int64_t best = 0;

	for (size_t i = 0; i < p->nscenarios; i++) {
		const plan_scenario *s = &p->scenarios[i];
		int64_t end = s->start_ms + plan_scenario_length_ms(s) + s->graceful_stop_ms;
		if (end > best)
			best = end;
	}
	return best;
}

/*
 * Durations are one or more number-unit groups ("1m30s", "1.5s", "250ms").
 * Arithmetic is done in integers (the fraction as a scaled integer) so that
 * "0.1s" is exactly 100 ms; fractions of a millisecond round to nearest.
 */
int plan_parse_duration(const char *s, int64_t *ms)
{
	int64_t total = 0;
	const char *p = s;

	if (s == NULL || *s == '\0')
		return HERD_EINVAL;
	while (*p != '\0') {
		int64_t whole = 0, frac = 0, fscale = 1, unit;
		int digits = 0;

		while (is_digit(*p)) {
			if (whole > (INT64_MAX - 9) / 10)
				return HERD_EINVAL;
			whole = whole * 10 + (*p++ - '0');
			digits++;
		}
		if (*p == '.') {
			p++;
			while (is_digit(*p)) {
				/* Digits past the ninth cannot change a millisecond count. */
				if (fscale < 1000000000) {
					frac = frac * 10 + (*p - '0');
					fscale *= 10;
				}
				p++;
				digits++;
			}
		}
		if (digits == 0)
			return HERD_EINVAL;
		if (p[0] == 'm' && p[1] == 's') {
			unit = 1;
			p += 2;
		} else if (p[0] == 's') {
			unit = 1000;
			p++;
		} else if (p[0] == 'm') {
			unit = 60000;
			p++;
		} else if (p[0] == 'h') {
			unit = 3600000;
			p++;
		} else {
			return HERD_EINVAL;
		}
		if (whole > INT64_MAX / unit)
			return HERD_EINVAL;
		int64_t v = whole * unit + (frac * unit + fscale / 2) / fscale;
		if (v < 0 || total > INT64_MAX - v)
			return HERD_EINVAL;
		total += v;
	}
	*ms = total;
	return HERD_OK;
}
