/*
 * The plan parser's YAML helpers: errors with positions, node kinds, typed
 * values (strings, integers, durations), keys with did-you-mean suggestions.
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
#include "common/plan_int.h"
#include "common/textdist.h"
#include "common/sbuf.h"
#include "common/threshold.h"

/* ---- Errors ---- */


/* Writes "file:line:column: message" into the caller's buffer. */
int perr(pctx *c, loc l, const char *fmt, ...)
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

int poom(pctx *c)
{
	if (c->err != NULL && c->errlen > 0)
		snprintf(c->err, c->errlen, "%s: out of memory", c->file);
	return HERD_ENOMEM;
}

/*
 * Renders user text for a message: at most about 40 bytes, control bytes
 * escaped, cut on a UTF-8 character boundary. Returns buf.
 */
const char *show(const char *s, size_t len, char *buf, size_t buflen)
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
struct fy_diag *quiet_diag(void)
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
loc node_loc(struct fy_node *n, loc dflt)
{
	loc l;
	if (node_loc_depth(n, &l, 0) == 0)
		return l;
	return dflt;
}

loc at(const where *w)
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

loc vloc(const pair *pr)
{
	return at(&pr->vw);
}

/* ---- Nodes ---- */

/* Counts a node against the budget and follows it when it is an alias. */
int deref(pctx *c, struct fy_node **np, const where *w)
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


int text_is(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

int is_digit(char ch)
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
skind node_kind(struct fy_node *n)
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

const char *kind_name(skind k)
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
const char *node_text(struct fy_node *n, size_t *len)
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
int parse_int(const char *s, size_t len, int64_t *out)
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
int dup_text(pctx *c, struct fy_node *n, loc l, const char *what, char **out)
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
int dup_key(pctx *c, const pair *pr, const char *what, char **out)
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

char *xstrdup(pctx *c, const char *s)
{
	size_t len = strlen(s);
	char *d;
	c->bytes += len + 1;
	if ((d = malloc(len + 1)) != NULL)
		memcpy(d, s, len + 1);
	return d;
}

/* A pair's key as a C string, for messages. */
const char *key_str(const pair *pr, char *buf, size_t len)
{
	return show(pr->key, pr->klen, buf, len);
}

/*
 * Iterates over a mapping. Keys must be scalars (not aliases: an alias key
 * could repeat another key unseen); values have their aliases resolved.
 * Returns HERD_OK with *more = 0 at the end.
 */
int next_pair(pctx *c, struct fy_node *map, const where *mw, void **it, pair *pr, int *more)
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
int next_item(pctx *c, struct fy_node *seq, const where *sw, void **it,
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

/* The closest name to the unknown word, when it is close enough to be a typo. */
const char *suggest(const char *const *names, size_t n, const char *w, size_t wlen)
{
	const char *best = NULL;
	size_t bestd = SIZE_MAX;

	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(names[i]);
		size_t allow = len <= 3 ? 1 : len <= 6 ? 2 : 3;
		size_t d = text_edit_distance(w, wlen, names[i], len);
		if (d <= allow && d < bestd) {
			best = names[i];
			bestd = d;
		}
	}
	return best;
}

size_t key_index(const char *const *names, size_t n, const pair *pr)
{
	for (size_t i = 0; i < n; i++)
		if (text_is(pr->key, pr->klen, names[i]))
			return i;
	return n;
}

/* Reports an unknown key, with the closest known one or the whole list. */
int unknown_key(pctx *c, const pair *pr, const char *where, const char *const *names,
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

int want_kind(pctx *c, const pair *pr, skind got, const char *want)
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
int get_string(pctx *c, const pair *pr, char **out)
{
	skind k = node_kind(pr->v);
	char kb[200];

	if (k == SK_NULL || k == SK_MAP || k == SK_SEQ)
		return want_kind(c, pr, k, "a string");
	return dup_text(c, pr->v, vloc(pr), key_str(pr, kb, sizeof(kb)), out);
}

int get_int(pctx *c, const pair *pr, int64_t min, int64_t max, int64_t *out)
{
	skind k = node_kind(pr->v);
	size_t len;
	const char *s = node_text(pr->v, &len);
	char kb[200];
	int64_t v;
	env_text et;
	int rv;

	key_str(pr, kb, sizeof(kb));
	if ((rv = env_value(c, pr, "a whole number", &et)) != 0)
		return rv;
	if (et.used) {
		if (env_int_text(et.text, et.len, &v) != 0)
			return env_bad(c, pr, &et, "a whole number");
	} else if (k == SK_FLOAT) {
		return want_kind(c, pr, k, "a whole number");
	} else if (k != SK_INT) {
		return want_kind(c, pr, k, "a number");
	} else if (parse_int(s, len, &v) != 0) {
		return perr(c, vloc(pr), "'%s' is out of range", kb);
	}
	if (v < min)
		return perr(c, vloc(pr),
		            min == 0 ? "'%s' must not be negative" : "'%s' must be at least %lld", kb,
		            (long long)min);
	if (v > max)
		return perr(c, vloc(pr), "'%s' is too large (the limit is %lld)", kb, (long long)max);
	*out = v;
	return HERD_OK;
}

int get_size(pctx *c, const pair *pr, int64_t min, int64_t max, int64_t *out)
{
	static const struct { const char *unit; int64_t mult; } units[] = {
		{"B", 1}, {"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1000}, {"MB", 1000000}, {"GB", 1000000000},
	};
	skind k = node_kind(pr->v);
	size_t len, digits = 0;
	const char *s = node_text(pr->v, &len);
	char kb[200], vb[200];
	int64_t v = 0, mult = 1;

	key_str(pr, kb, sizeof(kb));
	if (k == SK_INT)
		return get_int(c, pr, min, max, out);
	if (k != SK_STR)
		return want_kind(c, pr, k, "a size such as 16MiB");
	while (digits < len && is_digit(s[digits]))
		digits++;
	size_t u = digits;
	while (u < len && s[u] == ' ')
		u++;
	int found = 0;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && digits > 0; i++)
		if (text_is(s + u, len - u, units[i].unit)) {
			mult = units[i].mult;
			found = 1;
		}
	if (!found || parse_int(s, digits, &v) != 0 || v > INT64_MAX / mult)
		return perr(c, vloc(pr), "bad size '%s' for '%s': write bytes or a number with B, KiB, MiB, GiB, KB, MB or GB, e.g. 16MiB",
		            show(s, len, vb, sizeof(vb)), kb);
	v *= mult;
	if (v < min)
		return perr(c, vloc(pr), "'%s' must be at least %lld bytes", kb, (long long)min);
	if (v > max)
		return perr(c, vloc(pr), "'%s' is too large (the limit is %lld bytes)", kb, (long long)max);
	*out = v;
	return HERD_OK;
}

/* Explains why a duration text was refused. */
int bad_duration(pctx *c, loc l, const char *what, const char *s, size_t len)
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
int text_duration(const char *s, size_t len, int64_t *ms)
{
	char buf[64];

	if (len >= sizeof(buf) || memchr(s, '\0', len) != NULL)
		return HERD_EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return plan_parse_duration(buf, ms);
}

/* A duration value: a string with units, at least min_ms, at most a year. */
int get_duration(pctx *c, const pair *pr, int64_t min_ms, int64_t *out)
{
	skind k = node_kind(pr->v);
	size_t len;
	const char *s = node_text(pr->v, &len);
	char kb[200], what[220];
	int64_t ms;
	env_text et;
	int rv;

	key_str(pr, kb, sizeof(kb));
	snprintf(what, sizeof(what), "'%s'", kb);
	if ((rv = env_value(c, pr, "a duration such as '10s'", &et)) != 0)
		return rv;
	if (et.used) {
		if (text_duration(et.text, et.len, &ms) != HERD_OK)
			return env_bad(c, pr, &et, "a duration such as '10s' (a number and a unit: ms, s, m, h)");
	} else if (k == SK_INT || k == SK_FLOAT) {
		return perr(c, vloc(pr), "%s: duration needs a unit, e.g. '10s'", what);
	} else if (k != SK_STR) {
		return want_kind(c, pr, k, "a duration such as '10s'");
	} else if (text_duration(s, len, &ms) != HERD_OK) {
		return bad_duration(c, vloc(pr), what, s, len);
	}
	if (ms > PLAN_MAX_DURATION_MS)
		return perr(c, vloc(pr), "%s is too long (the limit is 365 days)", what);
	if (ms < min_ms)
		return perr(c, vloc(pr), "%s must be longer than 0", what);
	*out = ms;
	return HERD_OK;
}

/* ---- Growing strings ---- */



/* ---- URLs ---- */

int has_scheme(const char *s)
{
	return strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0;
}

int has_ws_scheme(const char *s)
{
	return strncasecmp(s, "ws://", 5) == 0 || strncasecmp(s, "wss://", 6) == 0;
}

/* An absolute URL needs a host after the scheme. */
int url_has_host(const char *s)
{
	const char *h = strstr(s, "://");
	return h != NULL && h[3] != '\0' && h[3] != '/' && h[3] != '?' && h[3] != '#';
}

/* URLs may not hold spaces or control bytes; they would corrupt the request line. */
int has_space_or_ctl(const char *s)
{
	for (; *s != '\0'; s++) {
		if (s[0] == '{' && s[1] == '{') { /* a template's inside may hold spaces */
			const char *e = strstr(s + 2, "}}");
			if (e != NULL) {
				s = e + 1;
				continue;
			}
		}
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
			return 1;
	}
	return 0;
}


/*
 * Where byte off of a scalar's text is, for messages: the scalar's start plus
 * the offset (past an opening quote), on the scalar's first line.
 */
loc text_loc(struct fy_node *n, loc base, size_t off)
{
	loc l = base;
	enum fy_node_style st = n != NULL ? fy_node_get_style(n) : FYNS_PLAIN;
	if (l.line > 0)
		l.col += (int)off + (st == FYNS_SINGLE_QUOTED || st == FYNS_DOUBLE_QUOTED);
	return l;
}
