/*
 * The plan parser's WebSocket steps: the session's operations and templates.
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

/* ---- WebSocket sessions ---- */

/* A templated string value of pr, compiled into t ({{ seq }} only in a loop). */
static int get_tmpl(pctx *c, const pair *pr, int in_loop, char **out, size_t *olen, tmpl *t,
                    int *templated)
{
	int rv;
	if ((rv = get_string(c, pr, out)) != 0)
		return rv;
	*olen = strlen(*out);
	if ((rv = compile_text(c, *out, *olen, pr->v, vloc(pr), in_loop, t)) != 0)
		return rv;
	*templated = t->dynamic;
	return HERD_OK;
}

/* A message's templates must not render past PLAN_MAX_BODY, as a body's. */
static int check_send_size(pctx *c, const pair *pr, const plan_ws_op *op)
{
	uint64_t most = op->templated ? tmpl_max_len(&op->t) : op->text_len;
	if (most <= PLAN_MAX_BODY)
		return HERD_OK;
	return perr(c, vloc(pr), "the message may render to %llu bytes, more than the limit of %zu MiB",
	            (unsigned long long)most, PLAN_MAX_BODY >> 20);
}

static int parse_ws_send(pctx *c, const pair *pr, int in_loop, plan_ws_op *op)
{
	static const char *const keys[] = {"text", "binary"};
	void *it = NULL;
	pair kp;
	int more, rv, have = 0;

	op->kind = WSOP_SEND;
	if (node_kind(pr->v) != SK_MAP) {
		if ((rv = get_tmpl(c, pr, in_loop, &op->text, &op->text_len, &op->t, &op->templated)) != 0)
			return rv;
		return check_send_size(c, pr, op);
	}
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
			if ((rv = get_tmpl(c, &kp, in_loop, &op->text, &op->text_len, &op->t, &op->templated)) != 0 ||
			    (rv = check_send_size(c, &kp, op)) != 0)
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
		} else if ((rv = get_tmpl(c, &kp, in_loop, &op->text, &op->text_len, &op->t, &op->templated)) != 0) {
			return rv;
		}
	}
	if (!have[0] || !have[1])
		return perr(c, vloc(pr), "'json' needs '%s'", have[0] ? "equals" : "path");
	return HERD_OK;
}

static int parse_ws_expect(pctx *c, const pair *pr, int in_loop, plan_ws_op *op)
{
	static const char *const keys[] = {"contains", "json", "count", "within", "name"};
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
				rv = get_tmpl(c, &kp, in_loop, &op->text, &op->text_len, &op->t, &op->templated);
			} else {
				op->match = WSM_JSON;
				rv = parse_ws_json_match(c, &kp, in_loop, op);
			}
			break;
		case 2: rv = get_int(c, &kp, 1, PLAN_MAX_COUNT, &op->count); break;
		case 3: rv = get_duration(c, &kp, 1, &op->within_ms); break;
		case 4:
			/* A check's name, spelled as those of `checks:` may be. */
			if ((rv = get_string(c, &kp, &op->name)) == 0 && op->name[0] == '\0')
				rv = perr(c, vloc(&kp), "'name' is empty");
			if (rv == 0 && strpbrk(op->name, "\n{}") != NULL)
				rv = perr(c, vloc(&kp), "expect name '%.100s' may not hold a line break or braces",
				          op->name);
			break;
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


enum { O_SEND = 0, O_EXPECT, O_LOOP, O_STEPS, O_THINK, O_HOLD, O_CLOSE, O__N };
static const char *const op_keys[O__N] = {"send", "expect", "loop", "steps",
                                          "think", "hold", "close"};

static int parse_ws_ops(pctx *c, const pair *sp, int depth, plan_ws_op **ops, size_t *nops);

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
	tmpl whole;
	if ((rv = compile_text(c, p, strlen(p), wp->v, vloc(wp), 0, &whole)) != 0)
		return rv;
	ws->url_templated = whole.dynamic;
	tmpl_free(&whole);
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
		/* http:// becomes ws://, https:// wss://; a ws:// or wss:// target is taken as it is. */
		if (has_ws_scheme(c->p->target)) {
			sbuf_str(&url, c->p->target);
		} else {
			tls = strncasecmp(c->p->target, "https://", 8) == 0;
			sbuf_str(&url, tls ? "wss://" : "ws://");
			sbuf_str(&url, c->p->target + (tls ? 8 : 7));
		}
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
	if (!ws->url_templated)
		return HERD_OK;
	/* The request target of the upgrade: the URL from the path on (names
	 * were checked, with positions, on the whole text above). */
	const char *host = strstr(st->url, "://") + 3, *path = host + strcspn(host, "/?#");
	if (*path != '/')
		path = "/";
	return compile_text(c, path, strlen(path), NULL, vloc(wp), 0, &ws->t_path);
}

/*
 * The default name of an expect's check: "STEP: expect contains "joined"",
 * "STEP: expect $.id == 7", "STEP: expect a message", "STEP: expect 3
 * messages", the value cut at 60 bytes. Braces and line breaks are left
 * out, so that a threshold's "checks{check:NAME}" can name it.
 */
static char *expect_check_name(const plan_step *st, const plan_ws_op *op)
{
	sbuf b = {0}, out = {0};
	char num[32];
	sbuf_str(&b, st->name);
	sbuf_str(&b, ": expect ");
	if (op->match != WSM_ANY) {
		size_t n = op->text_len > 60 ? 60 : op->text_len;
		if (op->match == WSM_JSON) {
			sbuf_str(&b, op->json_path);
			sbuf_str(&b, " == ");
		} else {
			sbuf_str(&b, "contains \"");
		}
		sbuf_add(&b, op->text, n);
		if (n < op->text_len)
			sbuf_str(&b, "...");
		if (op->match == WSM_CONTAINS)
			sbuf_str(&b, "\"");
		if (op->count > 1) {
			snprintf(num, sizeof(num), " x%lld", (long long)op->count);
			sbuf_str(&b, num);
		}
	} else if (op->count > 1) {
		snprintf(num, sizeof(num), "%lld messages", (long long)op->count);
		sbuf_str(&b, num);
	} else {
		sbuf_str(&b, "a message");
	}
	for (size_t i = 0; !b.oom && i < b.len; i++)
		if (b.p[i] != '{' && b.p[i] != '}' && b.p[i] != '\n' && b.p[i] != '\r')
			sbuf_add(&out, &b.p[i], 1);
	free(b.p);
	if (b.oom || out.oom) {
		free(out.p);
		return NULL;
	}
	return out.p;
}

/* Gives each expect of ops (loops included) a check of the step st, so
 * that what a session expected counts in `checks` as HTTP checks do. */
static int add_expect_checks(pctx *c, plan_step *st, plan_ws_op *ops, size_t nops)
{
	int rv;
	for (size_t i = 0; i < nops; i++) {
		plan_ws_op *op = &ops[i];
		if (op->kind == WSOP_LOOP && (rv = add_expect_checks(c, st, op->ops, op->nops)) != 0)
			return rv;
		if (op->kind != WSOP_EXPECT)
			continue;
		if (st->nchecks >= 255)
			return perr(c, (loc){ op->line, op->col }, "a ws session has at most 255 expects");
		plan_check *nc = realloc(st->checks, (st->nchecks + 1) * sizeof(*nc));
		if (nc == NULL)
			return poom(c);
		st->checks = nc;
		plan_check *ck = &st->checks[st->nchecks];
		memset(ck, 0, sizeof(*ck));
		ck->kind = CHK_WS_EXPECT;
		ck->line = op->line;
		ck->col = op->col;
		ck->name = op->name != NULL ? strdup(op->name) : expect_check_name(st, op);
		if (ck->name == NULL)
			return poom(c);
		op->check = (uint8_t)st->nchecks++;
	}
	return HERD_OK;
}

int parse_ws_step(pctx *c, struct fy_node *n, const where *sw, plan_step *st,
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
	ws->max_message = PLAN_WS_DEFAULT_MESSAGE;
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
		case K_MAX_MESSAGE_SIZE:
			rv = get_size(c, &pr, PLAN_WS_MIN_MESSAGE, PLAN_WS_MAX_MESSAGE, &ws->max_message);
			break;
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
	return add_expect_checks(c, st, ws->ops, ws->nops);
}

