/*
 * Checks and captures on a finished request (see journey.h).
 */
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/journey.h"
#include "common/jpath.h"
#include "common/sbuf.h"

#define NOT_JSON ((void *)-1)

void journey_resp_init(journey_resp *jr, const step_result *r, uint64_t duration_us)
{
	jr->r = r;
	jr->duration_us = duration_us;
	jr->json = NULL;
}

void journey_resp_fini(journey_resp *jr)
{
	if (jr->json != NULL && jr->json != NOT_JSON)
		json_decref(jr->json);
	jr->json = NULL;
}

static json_t *resp_json(journey_resp *jr)
{
	if (jr->json == NULL) {
		json_t *j = NULL;
		if (jr->r->body != NULL)
			j = json_loadb(jr->r->body, jr->r->body_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		jr->json = j != NULL ? (void *)j : NOT_JSON;
	}
	return jr->json == NOT_JSON ? NULL : jr->json;
}

const char *journey_header(const char *block, size_t blen, const char *name, size_t *len)
{
	size_t nlen = strlen(name);
	const char *found = NULL, *p = block, *e = block + blen;
	while (p != NULL && p < e) {
		const char *eol = memchr(p, '\n', (size_t)(e - p));
		const char *le = eol != NULL ? eol : e;
		if ((size_t)(le - p) > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
			const char *v = p + nlen + 1, *ve = le;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			found = v;
			*len = (size_t)(ve - v);
		}
		p = eol != NULL ? eol + 1 : NULL;
	}
	return found;
}

/* A JSON value as text: strings as they are, everything else as JSON writes it. */
static char *json_text(const json_t *j, size_t *len)
{
	if (json_is_string(j)) {
		*len = json_string_length(j);
		char *s = malloc(*len + 1);
		if (s != NULL) {
			memcpy(s, json_string_value(j), *len);
			s[*len] = '\0';
		}
		return s;
	}
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	*len = s != NULL ? strlen(s) : 0;
	return s;
}

static int text_matches(const char *have, size_t hlen, plan_check_op op, const char *want, size_t wlen)
{
	if (op == CHKOP_EQUALS)
		return hlen == wlen && memcmp(have, want, wlen) == 0;
	if (op == CHKOP_CONTAINS)
		return wlen == 0 || (hlen >= wlen && memmem(have, hlen, want, wlen) != NULL);
	return 1; /* CHKOP_PRESENT */
}

int journey_check(journey_resp *jr, const plan_check *ck, const tmpl_env *env)
{
	const step_result *r = jr->r;
	sbuf want = {0};
	int ok = 0;

	if (ck->op == CHKOP_EQUALS || ck->op == CHKOP_CONTAINS)
		tmpl_render(&ck->value, env, &want);
	const char *w = want.p != NULL ? want.p : "";
	switch (ck->kind) {
	case CHK_STATUS:
		for (size_t i = 0; i < ck->nstatuses; i++)
			ok |= r->status == ck->statuses[i];
		break;
	case CHK_HEADER: {
		size_t vlen = 0;
		const char *v = r->headers != NULL ? journey_header(r->headers, r->headers_len, ck->arg, &vlen) : NULL;
		ok = v != NULL && text_matches(v, vlen, ck->op, w, want.len);
		break;
	}
	case CHK_BODY:
		ok = r->body != NULL && text_matches(r->body, r->body_len, CHKOP_CONTAINS, w, want.len);
		break;
	case CHK_JSON: {
		json_t *root = resp_json(jr), *v = root != NULL ? jpath_get(root, ck->arg) : NULL;
		if (v != NULL && ck->op == CHKOP_EQUALS) {
			ok = jpath_equals(v, w);
		} else if (v != NULL && ck->op == CHKOP_CONTAINS) {
			size_t tl;
			char *t = json_text(v, &tl);
			ok = t != NULL && text_matches(t, tl, CHKOP_CONTAINS, w, want.len);
			free(t);
		} else {
			ok = v != NULL;
		}
		break;
	}
	case CHK_DURATION: {
		uint64_t d = jr->duration_us, l = (uint64_t)ck->limit_us;
		switch (ck->op) {
		case CHKOP_LT: ok = d < l; break;
		case CHKOP_LE: ok = d <= l; break;
		case CHKOP_GT: ok = d > l; break;
		case CHKOP_GE: ok = d >= l; break;
		default: ok = 0;
		}
		break;
	}
	case CHK_WS_EXPECT: break; /* judged by the WebSocket session */
	}
	free(want.p);
	return ok;
}

static int store(char **vars, size_t *lens, uint32_t i, const char *v, size_t len)
{
	char *s = malloc(len + 1);
	if (s == NULL)
		return 0;
	memcpy(s, v, len);
	s[len] = '\0';
	free(vars[i]);
	vars[i] = s;
	lens[i] = len;
	return 1;
}

int journey_capture(journey_resp *jr, const plan_capture *cp, char **vars, size_t *lens)
{
	const step_result *r = jr->r;
	switch (cp->from) {
	case CAP_JSON: {
		json_t *root = resp_json(jr), *v = root != NULL ? jpath_get(root, cp->arg) : NULL;
		if (v == NULL || json_is_null(v))
			return 0;
		size_t len;
		char *t = json_text(v, &len);
		if (t == NULL)
			return 0;
		free(vars[cp->var_index]);
		vars[cp->var_index] = t;
		lens[cp->var_index] = len;
		return 1;
	}
	case CAP_HEADER: {
		size_t len = 0;
		const char *v = r->headers != NULL ? journey_header(r->headers, r->headers_len, cp->arg, &len) : NULL;
		return v != NULL && store(vars, lens, cp->var_index, v, len);
	}
	case CAP_REGEX: {
		regmatch_t m[10];
		if (r->body == NULL || cp->re == NULL)
			return 0;
		/* The body is body_len bytes: not necessarily NUL-terminated, maybe holding NULs. */
		m[0].rm_so = 0;
		m[0].rm_eo = (regoff_t)r->body_len;
		if (regexec(cp->re, r->body, 10, m, REG_STARTEND) != 0)
			return 0;
		if (m[cp->group].rm_so < 0)
			return 0;
		return store(vars, lens, cp->var_index, r->body + m[cp->group].rm_so,
		             (size_t)(m[cp->group].rm_eo - m[cp->group].rm_so));
	}
	case CAP_COOKIE: {
		sbuf out = {0};
		int ok = r->cookie != NULL && r->cookie(r->cookie_ctx, cp->arg, &out) == 0 && !out.oom;
		ok = ok && store(vars, lens, cp->var_index, out.p != NULL ? out.p : "", out.len);
		free(out.p);
		return ok;
	}
	}
	return 0;
}
