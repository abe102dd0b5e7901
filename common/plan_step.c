/*
 * The plan parser's steps: HTTP requests (method, URL, headers, query, bodies,
 * checks) and think times.
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
#include "common/sbuf.h"
#include "common/threshold.h"

/* ---- JSON bodies ---- */

static int yaml_to_json(pctx *c, struct fy_node *n, const where *w, int depth, json_t **out);

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
		if (c->in_json && memmem(s, len, "{{", 2) != NULL) {
			/* A templated value: a placeholder now, its template after serializing. */
			tmpl t;
			char ph[32];
			int rv;
			if ((rv = compile_text(c, s, len, n, at(w), 0, &t)) != 0)
				return rv;
			tmpl *nt = realloc(c->json_tmpls, (c->njson_tmpls + 1) * sizeof(*nt));
			if (nt == NULL) {
				tmpl_free(&t);
				return poom(c);
			}
			c->json_tmpls = nt;
			c->json_tmpls[c->njson_tmpls] = t;
			snprintf(ph, sizeof(ph), "\x01%zu\x01", c->njson_tmpls++);
			j = json_string(ph);
			break;
		}
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
/*
 * The serialized body holds "\u0001N\u0001" where templated string N was:
 * the body template is the JSON text around them with each template's value
 * JSON-escaped inside its quotes.
 */
static int json_templates(pctx *c, plan_step *st)
{
	static const char mark[] = "\\u0001";
	const size_t ml = sizeof(mark) - 1;
	tbuild b = {0};
	const char *p = st->body, *e = st->body + st->body_len, *lit = p;
	size_t next = 0;
	int rv;

	if (c->njson_tmpls == 0)
		return HERD_OK;
	while (p + ml <= e) {
		const char *m = memmem(p, (size_t)(e - p), mark, ml);
		if (m == NULL)
			break;
		const char *d = m + ml, *de = d;
		while (de < e && *de >= '0' && *de <= '9')
			de++;
		if (de == d || (size_t)(e - de) < ml || memcmp(de, mark, ml) != 0 ||
		    strtoul(d, NULL, 10) != next || next >= c->njson_tmpls) {
			p = m + ml;
			continue;
		}
		tb_lit(&b, lit, (size_t)(m - lit), TMPL_ESC_NONE);
		tb_tmpl(&b, &c->json_tmpls[next++], TMPL_ESC_JSON);
		p = lit = de + ml;
	}
	tb_lit(&b, lit, (size_t)(e - lit), TMPL_ESC_NONE);
	rv = tb_finish(c, &b, &st->t_body);
	if (rv == HERD_OK && next != c->njson_tmpls)
		rv = perr(c, (loc){st->line, st->col}, "internal error: a 'json' template was lost");
	return rv;
}

static void json_templates_free(pctx *c)
{
	for (size_t i = 0; i < c->njson_tmpls; i++)
		tmpl_free(&c->json_tmpls[i]);
	free(c->json_tmpls);
	c->json_tmpls = NULL;
	c->njson_tmpls = 0;
	c->in_json = 0;
}

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
	return json_templates(c, st);
}

/* ---- Steps ---- */


const char *const step_keys[K__STEP] = {
	"get",     "post",  "put",  "patch", "delete",  "head", "think",
	"headers", "query", "json", "body",  "timeout", "name", "check",
	"checks", "capture", "onCaptureFail", "form", "bodyFile", "redirects", "compression", "tags",
	"ws",      "subprotocols", "ping", "maxMessageSize", "session",
};

/* Which step keys a ws step takes. */
int ws_key(size_t i)
{
	return i == K_WS || i == K_HEADERS || i == K_NAME || i == K_SUBPROTOCOLS || i == K_PING ||
	       i == K_MAX_MESSAGE_SIZE || i == K_SESSION;
}

/* RFC 7230 token characters, for header names. */
int is_tchar(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || is_digit((char)ch) ||
	       (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

int parse_headers(pctx *c, const pair *hp, plan_step *st)
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

/* Appends the query mapping, url-encoded, to the URL being built: as text
 * to url (templates as written) and as template parts to tb. */
static int parse_query(pctx *c, const pair *qp, const char *path, sbuf *url, tbuild *tb)
{
	void *it = NULL;
	pair pr;
	int more, rv, first = 1;

	if (node_kind(qp->v) != SK_MAP)
		return want_kind(c, qp, node_kind(qp->v), "a mapping of parameter names to values");
	for (;;) {
		size_t len;
		const char *s, *sep;
		tmpl v;
		if ((rv = next_pair(c, qp->v, &qp->vw, &it, &pr, &more)) != 0 || !more)
			return rv;
		skind k = node_kind(pr.v);
		if (k == SK_MAP || k == SK_SEQ || k == SK_NULL)
			return want_kind(c, &pr, k, "a string or a number");
		sep = first ? (strchr(path, '?') != NULL ? "&" : "?") : "&";
		first = 0;
		sbuf_str(url, sep);
		tb_lit(tb, sep, 1, TMPL_ESC_NONE);
		sbuf_urlenc(url, pr.key, pr.klen);
		tb_lit(tb, pr.key, pr.klen, TMPL_ESC_URL);
		sbuf_str(url, "=");
		tb_lit(tb, "=", 1, TMPL_ESC_NONE);
		s = node_text(pr.v, &len);
		if ((rv = compile_text(c, s, len, pr.v, vloc(&pr), 0, &v)) != 0)
			return rv;
		if (v.dynamic)
			sbuf_add(url, s, len);
		else
			sbuf_urlenc(url, s, len);
		tb_tmpl(tb, &v, TMPL_ESC_URL);
		tmpl_free(&v);
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
		plan_check *ck;
		if ((rv = next_pair(c, cp->v, &cp->vw, &it, &pr, &more)) != 0 || !more)
			return rv;
		size_t i = key_index(keys, NELEM(keys), &pr);
		if (i == NELEM(keys))
			return unknown_key(c, &pr, "in 'check'", keys, NELEM(keys));
		if (i > 0 && have_body)
			return perr(c, pr.kl, "'check' takes 'body' or 'body_contains', not both");
		/* Named once the step's name is known (finish_legacy_checks). */
		plan_check *nc = realloc(st->checks, (st->nchecks + 1) * sizeof(*nc));
		if (nc == NULL)
			return poom(c);
		st->checks = nc;
		ck = &st->checks[st->nchecks++];
		memset(ck, 0, sizeof(*ck));
		ck->line = pr.kl.line;
		ck->col = pr.kl.col;
		if (i == 0) {
			if ((rv = get_int(c, &pr, 100, 599, &v)) != 0)
				return rv;
			if ((ck->statuses = malloc(sizeof(int))) == NULL)
				return poom(c);
			ck->statuses[0] = (int)v;
			ck->nstatuses = 1;
			ck->kind = CHK_STATUS;
		} else {
			size_t len;
			const char *s;
			have_body = 1;
			skind k = node_kind(pr.v);
			if (k == SK_MAP || k == SK_SEQ || k == SK_NULL)
				return want_kind(c, &pr, k, "a text");
			s = node_text(pr.v, &len);
			if (len == 0)
				return perr(c, vloc(&pr), "'%s' is empty", keys[i]);
			ck->kind = CHK_BODY;
			ck->op = CHKOP_CONTAINS;
			if ((ck->arg = malloc(len + 1)) == NULL)
				return poom(c);
			memcpy(ck->arg, s, len);
			ck->arg[len] = '\0';
			if ((rv = compile_text(c, s, len, pr.v, vloc(&pr), 0, &ck->value)) != 0)
				return rv;
		}
	}
}

/* The older `check:` names its checks after the step: "GET /: status is 200". */
static int finish_legacy_checks(pctx *c, plan_step *st)
{
	char buf[600];
	for (size_t i = 0; i < st->nchecks; i++) {
		plan_check *ck = &st->checks[i];
		if (ck->name != NULL)
			continue;
		if (ck->kind == CHK_STATUS)
			snprintf(buf, sizeof(buf), "%s: status is %d", st->name, ck->statuses[0]);
		else
			snprintf(buf, sizeof(buf), "%s: body contains \"%s\"", st->name, ck->arg);
		if ((ck->name = xstrdup(c, buf)) == NULL)
			return poom(c);
		free(ck->arg);
		ck->arg = NULL;
	}
	return HERD_OK;
}

/* Parses "250ms" or "100ms..300ms" into a think step. */
int parse_think(pctx *c, const pair *pr, plan_step *st)
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

/* Checks a request path and resolves it against the target into st->url
 * (templates as written) and st->t_url (compiled). */
static int resolve_url(pctx *c, const pair *mp, plan_step *st, const pair *query, loc steploc)
{
	char vb[200];
	sbuf url = {0};
	tbuild tb = {0};
	tmpl path;
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
		const char *host = strstr(st->path, "://") + 3;
		const char *slash = strchr(host, '/');
		const char *brace = strstr(st->path, "{{");
		if (brace != NULL && (slash == NULL || brace < slash))
			return perr(c, vloc(mp), "URL '%s': the scheme and host cannot be templated", vb);
	} else if (st->path[0] != '/' && strncmp(st->path, "{{", 2) != 0) {
		return perr(c, vloc(mp),
		            "path '%s' must start with '/' or be a full http:// or https:// URL", vb);
	} else {
		if (c->p->target == NULL)
			return perr(c, c->root,
			            "plan has no 'target', but the step at %d:%d uses the relative path '%s';"
			            " add 'target: http://host:port' or use full URLs",
			            steploc.line, steploc.col, vb);
		if (has_ws_scheme(c->p->target))
			return perr(c, vloc(mp),
			            "the HTTP step '%s %s' needs an http:// or https:// target, but 'target' at "
			            "%d:%d is '%s'; give the step a full http:// URL",
			            http_method_name((int)st->method), vb, c->target_loc.line, c->target_loc.col,
			            c->p->target);
		sbuf_str(&url, c->p->target);
		/* A path that is all template (a captured Location, say) may render
		 * to a full URL: the driver adds the target only to a '/' path. */
		st->url_late = st->path[0] != '/';
		if (st->url_late)
			sbuf_str(&url, "/");
		else
			tb_lit(&tb, c->p->target, strlen(c->p->target), TMPL_ESC_NONE);
	}
	sbuf_str(&url, st->path);
	if ((rv = compile_text(c, st->path, strlen(st->path), mp->v, vloc(mp), 0, &path)) != 0)
		goto fail;
	tb_tmpl(&tb, &path, TMPL_ESC_NONE);
	tmpl_free(&path);
	if (query != NULL && (rv = parse_query(c, query, st->path, &url, &tb)) != 0)
		goto fail;
	if (url.oom) {
		rv = poom(c);
		goto fail;
	}
	st->url = url.p;
	return tb_finish(c, &tb, &st->t_url);
fail:
	free(url.p);
	free(tb.parts);
	free(tb.lits.p);
	return rv;
}

/* A body's templates must not render past PLAN_MAX_BODY (a file is sent as
 * it is, up to PLAN_MAX_DATA_FILE). */
static int check_body_size(pctx *c, const pair *pr, const plan_step *st)
{
	char kb[64];
	uint64_t most = st->t_body.nparts > 0 ? tmpl_max_len(&st->t_body) : st->body_len;
	if (most <= PLAN_MAX_BODY)
		return HERD_OK;
	return perr(c, vloc(pr), "'%s' may render to %llu bytes, more than the limit of %zu MiB for a body",
	            key_str(pr, kb, sizeof(kb)), (unsigned long long)most, PLAN_MAX_BODY >> 20);
}

/* Compiles the header values and a plain body. */
static int compile_request(pctx *c, plan_step *st, const pair *keys, const int *seen)
{
	int rv, more;
	void *it = NULL;
	pair pr;
	if (st->nheaders > 0 && (st->t_headers = calloc(st->nheaders, sizeof(*st->t_headers))) == NULL)
		return poom(c);
	for (size_t i = 0; i < st->nheaders; i++) {
		const char *v = st->headers[i].value;
		/* headers[i] is the mapping's i-th pair: its value node gives positions. */
		if ((rv = next_pair(c, keys[K_HEADERS].v, &keys[K_HEADERS].vw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			return perr(c, vloc(&keys[K_HEADERS]), "internal error: a header was lost");
		if ((rv = compile_text(c, v, strlen(v), pr.v, vloc(&pr), 0, &st->t_headers[i])) != 0)
			return rv;
	}
	if (seen[K_BODY] && st->body != NULL &&
	    (rv = compile_text(c, st->body, st->body_len, keys[K_BODY].v, vloc(&keys[K_BODY]), 0, &st->t_body)) != 0)
		return rv;
	static const int bodies[] = {K_BODY, K_JSON, K_FORM};
	for (size_t i = 0; i < NELEM(bodies); i++)
		if (seen[bodies[i]] && (rv = check_body_size(c, &keys[bodies[i]], st)) != 0)
			return rv;
	st->dynamic = st->t_url.dynamic || st->t_body.dynamic;
	for (size_t i = 0; i < st->nheaders; i++)
		st->dynamic |= st->t_headers[i].dynamic;
	return HERD_OK;
}

int parse_step(pctx *c, struct fy_node *n, const where *sw, plan_step *st)
{
	pair keys[K__STEP], pr;
	int seen[K__STEP] = {0};
	int method = -1, more, rv;
	void *it = NULL;
	loc sl = at(sw);

	st->line = sl.line;
	st->col = sl.col;
	st->redirects = 10;
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
		case K_FORM:
		case K_BODY_FILE:
			if (have_body) {
				rv = perr(c, pr.kl, "a step takes one of 'json', 'body', 'form' or 'bodyFile'");
				break;
			}
			have_body = 1;
			if (i == K_JSON) {
				c->in_json = 1;
				rv = parse_json_body(c, &pr, st);
				json_templates_free(c);
			} else if (i == K_FORM) {
				rv = parse_form(c, &pr, st);
				if (rv == 0 && !st->t_body.dynamic) {
					size_t n;
					const char *lit = tmpl_literal(&st->t_body, &n);
					if ((st->body = malloc(n + 1)) == NULL)
						rv = poom(c);
					else {
						if (n > 0)
							memcpy(st->body, lit, n);
						st->body[n] = '\0';
						st->body_len = n;
					}
				}
			} else if (i == K_BODY_FILE) {
				rv = parse_body_file(c, &pr, st);
			} else if ((rv = get_string(c, &pr, &st->body)) == 0) {
				st->body_len = strlen(st->body);
			}
			break;
		case K_CHECKS: rv = parse_checks(c, &pr, st); break;
		case K_CAPTURE: rv = parse_capture(c, &pr, st); break;
		case K_ON_CAPTURE_FAIL: {
			size_t len;
			const char *v = node_text(pr.v, &len);
			if (node_kind(pr.v) == SK_STR && text_is(v, len, "continue"))
				st->capture_continue = 1;
			else if (node_kind(pr.v) != SK_STR || !text_is(v, len, "end-iteration"))
				rv = perr(c, vloc(&pr), "'onCaptureFail' is 'end-iteration' or 'continue'");
			break;
		}
		case K_REDIRECTS: {
			int64_t v;
			if ((rv = get_int(c, &pr, 0, 100, &v)) == 0)
				st->redirects = (int)v;
			break;
		}
		case K_COMPRESSION: {
			size_t len;
			const char *v = node_text(pr.v, &len);
			if (node_kind(pr.v) != SK_BOOL)
				rv = want_kind(c, &pr, node_kind(pr.v), "true or false");
			else
				st->compression = v[0] == 't' || v[0] == 'T';
			break;
		}
		case K_TAGS: rv = parse_tags(c, &pr, st); break;
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
	if (seen[K_CAPTURE] && (method == K_HEAD) && st->ncaptures > 0)
		for (size_t i = 0; i < st->ncaptures; i++)
			if (st->captures[i].from == CAP_JSON || st->captures[i].from == CAP_REGEX)
				return perr(c, keys[K_CAPTURE].kl, "a head request has no body to capture from");
	if ((rv = resolve_url(c, &keys[method], st, seen[K_QUERY] ? &keys[K_QUERY] : NULL, sl)) != 0)
		return rv;
	if ((rv = compile_request(c, st, keys, seen)) != 0)
		return rv;
	if (st->name == NULL && (st->name = xstrdup(c, st->path)) == NULL)
		return poom(c);
	return finish_legacy_checks(c, st);
}

