/*
 * The plan parser's journey parts (docs/journeys.md): templates resolved
 * against captured variables, feeders and the environment; captures; named
 * checks; form bodies, body files and tags; data feeders; and the files and
 * environment values a plan uses, kept so the controller can ship them.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/jpath.h"
#include "common/plan_int.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define PLAN_MAX_FEEDERS 32 /* a step keeps a bit per feeder */
#define PLAN_MAX_VARS 4096
#define PLAN_MAX_TAGS 32 /* a step's own `tags:`; with flow and group they fit the tagline */

/* ---- Templates ---- */

static int scope_var(void *arg, const char *name, size_t len)
{
	pctx *c = arg;
	for (size_t i = 0; i < c->nknown; i++) {
		const char *v = c->p->vars[c->known[i]];
		if (strlen(v) == len && memcmp(v, name, len) == 0)
			return (int)c->known[i];
	}
	return -1;
}

/* The name of the flow's i-th known variable, for suggestions. */
static const char *scope_var_name(void *arg, size_t i)
{
	pctx *c = arg;
	return i < c->nknown ? c->p->vars[c->known[i]] : NULL;
}

static int scope_column(void *arg, const char *feeder, size_t flen, const char *col, size_t clen,
                        uint32_t *fi, uint32_t *ci, char *msg, size_t msglen)
{
	pctx *c = arg;
	for (size_t i = 0; i < c->p->nfeeders; i++) {
		const plan_feeder *f = &c->p->feeders[i];
		if (strlen(f->name) != flen || memcmp(f->name, feeder, flen) != 0)
			continue;
		int k = csv_column(&f->table, col, clen);
		if (k < 0) {
			snprintf(msg, msglen, "feeder '%s' has no column '%.*s' (its columns come from %s's header)",
			         f->name, (int)(clen < 64 ? clen : 64), col, f->file);
			return -1;
		}
		*fi = (uint32_t)i;
		*ci = (uint32_t)k;
		c->step_feeders |= UINT32_C(1) << i;
		return 0;
	}
	snprintf(msg, msglen, "no feeder named '%.*s'; define it under 'data:'", (int)(flen < 64 ? flen : 64),
	         feeder);
	return -1;
}

/* Keeps an environment value the plan used, once, for shipping to agents. */
static const char *scope_env(void *arg, const char *name)
{
	return plan_getenv(arg, name);
}

const char *plan_getenv(pctx *c, const char *name)
{
	plan *p = c->p;
	for (size_t i = 0; i < p->nenv; i++)
		if (strcmp(p->env[i].name, name) == 0)
			return p->env[i].data;
	const char *v = c->io != NULL && c->io->getenv != NULL ? c->io->getenv(c->io->arg, name) : NULL;
	if (v == NULL)
		return NULL;
	plan_blob *nb = realloc(p->env, (p->nenv + 1) * sizeof(*nb));
	if (nb == NULL)
		return NULL;
	p->env = nb;
	plan_blob *b = &p->env[p->nenv];
	b->name = strdup(name);
	b->data = strdup(v);
	b->len = strlen(v);
	if (b->name == NULL || b->data == NULL) {
		free(b->name);
		free(b->data);
		return NULL;
	}
	p->nenv++;
	return b->data;
}

int compile_text(pctx *c, const char *s, size_t len, struct fy_node *n, loc base, int allow_seq, tmpl *t)
{
	tmpl_scope sc = {
		.var = scope_var, .column = scope_column, .env = scope_env, .arg = c,
		.allow_seq = allow_seq, .var_name = scope_var_name,
	};
	char msg[400];
	size_t off = 0;
	if (tmpl_compile(s, len, &sc, t, &off, msg, sizeof(msg)) != 0)
		return perr(c, text_loc(n, base, off), "%s", msg);
	return HERD_OK;
}

/* ---- Assembling a template from pieces ---- */

static void tb_grow(tbuild *b)
{
	if (b->n < b->cap)
		return;
	size_t cap = b->cap ? b->cap * 2 : 8;
	tmpl_part *np = realloc(b->parts, cap * sizeof(*np));
	if (np == NULL) {
		b->oom = 1;
		return;
	}
	b->parts = np;
	b->cap = cap;
}

/* The inside of a JSON string, as tmpl_render escapes a TMPL_ESC_JSON part. */
static void esc_json(sbuf *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			char e[2] = {'\\', (char)ch};
			sbuf_add(o, e, 2);
		} else if (ch < 0x20) {
			char e[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
			sbuf_add(o, e, 6);
		} else {
			sbuf_add(o, (const char *)&s[i], 1);
		}
	}
}

void tb_lit(tbuild *b, const char *s, size_t len, tmpl_esc esc)
{
	if (len == 0 || b->oom)
		return;
	size_t at = b->lits.len;
	if (esc == TMPL_ESC_URL)
		sbuf_urlenc(&b->lits, s, len);
	else if (esc == TMPL_ESC_JSON)
		esc_json(&b->lits, s, len); /* the text around {{ }} in a `json:` string, env() values */
	else
		sbuf_add(&b->lits, s, len);
	size_t n = b->lits.len - at;
	if (b->n > 0 && b->parts[b->n - 1].kind == TP_LIT &&
	    (size_t)(uintptr_t)b->parts[b->n - 1].lit + b->parts[b->n - 1].len == at) {
		b->parts[b->n - 1].len += n; /* adjacent literals merge */
		return;
	}
	tb_grow(b);
	if (b->oom)
		return;
	b->parts[b->n++] = (tmpl_part){.kind = TP_LIT, .lit = (const char *)(uintptr_t)at, .len = n};
}

void tb_tmpl(tbuild *b, const tmpl *src, tmpl_esc esc)
{
	for (size_t i = 0; i < src->nparts && !b->oom; i++) {
		const tmpl_part *p = &src->parts[i];
		if (p->kind == TP_LIT) {
			tb_lit(b, p->lit, p->len, esc);
			continue;
		}
		tb_grow(b);
		if (b->oom)
			return;
		b->parts[b->n] = *p;
		b->parts[b->n++].esc = (uint8_t)esc;
	}
}

int tb_finish(pctx *c, tbuild *b, tmpl *out)
{
	memset(out, 0, sizeof(*out));
	if (b->oom || b->lits.oom) {
		free(b->parts);
		free(b->lits.p);
		return poom(c);
	}
	out->store = b->lits.p; /* the literal bytes move into the template */
	out->parts = b->parts;
	out->nparts = b->n;
	for (size_t i = 0; i < b->n; i++) {
		if (b->parts[i].kind == TP_LIT)
			b->parts[i].lit = out->store + (size_t)(uintptr_t)b->parts[i].lit;
		else
			out->dynamic = 1;
	}
	memset(b, 0, sizeof(*b));
	return HERD_OK;
}

/* ---- Files ---- */

int plan_file_bytes(pctx *c, loc l, const char *name, const char **data, size_t *len)
{
	plan *p = c->p;
	char why[300] = "";
	char *d = NULL;
	size_t n = 0;

	for (size_t i = 0; i < p->nfiles; i++)
		if (strcmp(p->files[i].name, name) == 0) {
			*data = p->files[i].data;
			*len = p->files[i].len;
			return HERD_OK;
		}
	if (c->io == NULL || c->io->read_file == NULL)
		return perr(c, l, "file '%s' is not available here", name);
	if (c->io->read_file(c->io->arg, name, &d, &n, why, sizeof(why)) != 0)
		return perr(c, l, "cannot read '%s': %s", name, why[0] ? why : "unknown error");
	plan_blob *nb = realloc(p->files, (p->nfiles + 1) * sizeof(*nb));
	if (nb == NULL) {
		free(d);
		return poom(c);
	}
	p->files = nb;
	p->files[p->nfiles] = (plan_blob){xstrdup(c, name), d, n};
	if (p->files[p->nfiles].name == NULL) {
		free(d);
		return poom(c);
	}
	p->nfiles++;
	*data = d;
	*len = n;
	return HERD_OK;
}

int parse_body_file(pctx *c, const pair *pr, plan_step *st)
{
	const char *d;
	size_t n;
	int rv;
	if ((rv = get_string(c, pr, &st->body_file)) != 0)
		return rv;
	if (st->body_file[0] == '\0')
		return perr(c, vloc(pr), "'bodyFile' is empty");
	if ((rv = plan_file_bytes(c, vloc(pr), st->body_file, &d, &n)) != 0)
		return rv;
	if ((st->body = malloc(n + 1)) == NULL)
		return poom(c);
	memcpy(st->body, d, n);
	st->body[n] = '\0';
	st->body_len = n;
	return HERD_OK;
}

/* ---- Variables and captures ---- */

static int is_name(const char *s, size_t n)
{
	if (n == 0 || n > 64 || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || is_digit(s[i]) ||
		      s[i] == '_'))
			return 0;
	return 1;
}

/* The index of variable name in p->vars, adding it when new. */
static int var_index(pctx *c, const char *name, uint32_t *out)
{
	plan *p = c->p;
	for (size_t i = 0; i < p->nvars; i++)
		if (strcmp(p->vars[i], name) == 0) {
			*out = (uint32_t)i;
			return HERD_OK;
		}
	if (p->nvars >= PLAN_MAX_VARS)
		return HERD_EINVAL;
	char **nv = realloc(p->vars, (p->nvars + 1) * sizeof(*nv));
	if (nv == NULL)
		return HERD_ENOMEM;
	p->vars = nv;
	if ((p->vars[p->nvars] = strdup(name)) == NULL)
		return HERD_ENOMEM;
	*out = (uint32_t)p->nvars++;
	return HERD_OK;
}

static int parse_one_capture(pctx *c, const pair *vp, plan_capture *cp)
{
	static const char *const keys[] = {"json", "header", "regex", "cookie", "group"};
	void *it = NULL;
	pair pr;
	int more, rv, have = -1;
	char kb[200];
	int64_t g = 1;

	key_str(vp, kb, sizeof(kb));
	cp->line = vp->kl.line;
	cp->col = vp->kl.col;
	if (!is_name(vp->key, vp->klen))
		return perr(c, vp->kl,
		            "variable name '%s' must be letters, digits and '_' (not starting with a digit)", kb);
	if ((rv = dup_key(c, vp, "a variable name", &cp->var)) != 0)
		return rv;
	if (strncmp(cp->var, "__", 2) == 0 || strcmp(cp->var, "seq") == 0)
		return perr(c, vp->kl, "'%s' is a built-in name; choose another variable name", kb);
	if (node_kind(vp->v) != SK_MAP)
		return want_kind(c, vp, node_kind(vp->v),
		                 "a mapping such as '{ json: $.id }', '{ header: Location }', "
		                 "'{ regex: \"id=(\\\\d+)\" }' or '{ cookie: session }'");
	for (;;) {
		if ((rv = next_pair(c, vp->v, &vp->vw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			break;
		size_t i = key_index(keys, NELEM(keys), &pr);
		if (i == NELEM(keys))
			return unknown_key(c, &pr, "in a capture", keys, NELEM(keys));
		if (i == 4) {
			if ((rv = get_int(c, &pr, 0, 9, &g)) != 0)
				return rv;
			continue;
		}
		if (have >= 0)
			return perr(c, pr.kl, "capture '%s' takes one of json, header, regex or cookie", kb);
		have = (int)i;
		cp->from = (plan_capture_from)i;
		if ((rv = get_string(c, &pr, &cp->arg)) != 0)
			return rv;
		if (cp->arg[0] == '\0')
			return perr(c, vloc(&pr), "'%s' is empty", keys[i]);
		if (i == 0 && !jpath_valid(cp->arg))
			return perr(c, vloc(&pr), "bad JSON path '%s': write it as '$.a.b' or '$.items[0].id'",
			            cp->arg);
		if (i == 2) {
			regex_t *re = calloc(1, sizeof(*re));
			if (re == NULL)
				return poom(c);
			int e = regcomp(re, cp->arg, REG_EXTENDED);
			if (e != 0) {
				char eb[200];
				regerror(e, re, eb, sizeof(eb));
				free(re);
				return perr(c, vloc(&pr), "bad regex: %s", eb);
			}
			cp->re = re;
		}
	}
	if (have < 0)
		return perr(c, vp->kl, "capture '%s' needs json, header, regex or cookie", kb);
	cp->group = (int)g;
	if (cp->from == CAP_REGEX && (size_t)g > ((regex_t *)cp->re)->re_nsub)
		return perr(c, vp->kl, "capture '%s' asks for group %d, but the regex has %zu", kb, cp->group,
		            ((regex_t *)cp->re)->re_nsub);
	switch (var_index(c, cp->var, &cp->var_index)) {
	case HERD_OK: return HERD_OK;
	case HERD_ENOMEM: return poom(c);
	default: return perr(c, vp->kl, "too many variables (the limit is %d)", PLAN_MAX_VARS);
	}
}

int parse_capture(pctx *c, const pair *pr, plan_step *st)
{
	void *it = NULL;
	pair vp;
	int more, rv, n;

	if (node_kind(pr->v) != SK_MAP)
		return want_kind(c, pr, node_kind(pr->v), "a mapping of variable names to captures");
	n = fy_node_mapping_item_count(pr->v);
	if (n <= 0)
		return perr(c, vloc(pr), "'capture' is empty");
	if ((st->captures = calloc((size_t)n, sizeof(*st->captures))) == NULL)
		return poom(c);
	for (;;) {
		if ((rv = next_pair(c, pr->v, &pr->vw, &it, &vp, &more)) != 0 || !more)
			return rv;
		if (st->ncaptures == (size_t)n)
			return perr(c, vp.kl, "too many captures");
		if ((rv = parse_one_capture(c, &vp, &st->captures[st->ncaptures++])) != 0)
			return rv;
	}
}

/* ---- Checks ---- */

static int parse_statuses(pctx *c, const pair *pr, plan_check *ck)
{
	skind k = node_kind(pr->v);
	if (k == SK_INT) {
		int64_t v;
		int rv;
		if ((rv = get_int(c, pr, 100, 599, &v)) != 0)
			return rv;
		if ((ck->statuses = malloc(sizeof(int))) == NULL)
			return poom(c);
		ck->statuses[0] = (int)v;
		ck->nstatuses = 1;
		return HERD_OK;
	}
	if (k != SK_SEQ)
		return want_kind(c, pr, k, "a status such as 200 or a list such as [200, 201]");
	int n = fy_node_sequence_item_count(pr->v);
	if (n <= 0)
		return perr(c, vloc(pr), "'status' is an empty list");
	if ((ck->statuses = calloc((size_t)n, sizeof(int))) == NULL)
		return poom(c);
	void *it = NULL;
	struct fy_node *item;
	where iw;
	int more, rv;
	for (;;) {
		int64_t v;
		if ((rv = next_item(c, pr->v, &pr->vw, &it, &item, &iw, &more)) != 0 || !more)
			return rv;
		size_t len;
		const char *s = node_text(item, &len);
		if (node_kind(item) != SK_INT || parse_int(s, len, &v) != 0 || v < 100 || v > 599)
			return perr(c, at(&iw), "a status is a number from 100 to 599");
		if (ck->nstatuses < (size_t)n)
			ck->statuses[ck->nstatuses++] = (int)v;
	}
}

/* "< 300ms", "<= 1s", "> 5ms", ">= 2s" */
static int parse_duration_cond(pctx *c, const pair *pr, plan_check *ck)
{
	size_t len;
	const char *s = node_text(pr->v, &len), *e = s + len;
	int64_t ms;
	if (node_kind(pr->v) != SK_STR)
		return want_kind(c, pr, node_kind(pr->v), "a condition such as '< 300ms'");
	while (s < e && *s == ' ')
		s++;
	if (e - s >= 2 && s[0] == '<' && s[1] == '=') {
		ck->op = CHKOP_LE;
		s += 2;
	} else if (e - s >= 2 && s[0] == '>' && s[1] == '=') {
		ck->op = CHKOP_GE;
		s += 2;
	} else if (s < e && *s == '<') {
		ck->op = CHKOP_LT;
		s++;
	} else if (s < e && *s == '>') {
		ck->op = CHKOP_GT;
		s++;
	} else {
		return perr(c, vloc(pr), "'duration' needs a comparison such as '< 300ms' (<, <=, > or >=)");
	}
	while (s < e && *s == ' ')
		s++;
	while (e > s && e[-1] == ' ')
		e--;
	if (text_duration(s, (size_t)(e - s), &ms) != HERD_OK)
		return bad_duration(c, vloc(pr), "'duration'", s, (size_t)(e - s));
	ck->limit_us = ms * 1000;
	return HERD_OK;
}

static int check_value(pctx *c, const pair *pr, tmpl *t)
{
	size_t len;
	const char *s = node_text(pr->v, &len);
	skind k = node_kind(pr->v);
	if (k == SK_MAP || k == SK_SEQ || k == SK_NULL)
		return want_kind(c, pr, k, "a text or a number");
	return compile_text(c, s, len, pr->v, vloc(pr), 0, t);
}

static int parse_one_check(pctx *c, const pair *np, plan_check *ck)
{
	static const char *const keys[] = {"status", "header", "body", "json", "duration", "equals", "contains"};
	void *it = NULL;
	pair pr, vals[2];
	int more, rv, kind = -1, nv[2] = {0, 0};
	char kb[200];

	key_str(np, kb, sizeof(kb));
	ck->line = np->kl.line;
	ck->col = np->kl.col;
	if (np->klen == 0)
		return perr(c, np->kl, "a check needs a name");
	if ((rv = dup_key(c, np, "a check name", &ck->name)) != 0)
		return rv;
	if (strpbrk(ck->name, "\n{}") != NULL)
		return perr(c, np->kl, "check name '%s' may not hold a line break or braces", kb);
	if (node_kind(np->v) != SK_MAP)
		return want_kind(c, np, node_kind(np->v),
		                 "a mapping such as '{ status: 201 }', '{ json: $.id }' or '{ duration: \"< 300ms\" }'");
	for (;;) {
		if ((rv = next_pair(c, np->v, &np->vw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			break;
		size_t i = key_index(keys, NELEM(keys), &pr);
		if (i == NELEM(keys))
			return unknown_key(c, &pr, "in a check", keys, NELEM(keys));
		if (i >= 5) {
			if (nv[0] || nv[1])
				return perr(c, pr.kl, "check '%s' takes 'equals' or 'contains', not both", kb);
			nv[i - 5] = 1;
			vals[i - 5] = pr;
			continue;
		}
		if (kind >= 0)
			return perr(c, pr.kl, "check '%s' tests one thing: status, header, body, json or duration", kb);
		kind = (int)i;
		ck->kind = (plan_check_kind)i;
		switch (i) {
		case 0: rv = parse_statuses(c, &pr, ck); break;
		case 1:
		case 3:
			if ((rv = get_string(c, &pr, &ck->arg)) == 0 && ck->arg[0] == '\0')
				rv = perr(c, vloc(&pr), "'%s' is empty", keys[i]);
			if (rv == 0 && i == 3 && !jpath_valid(ck->arg))
				rv = perr(c, vloc(&pr), "bad JSON path '%s': write it as '$.a.b' or '$.items[0].id'",
				          ck->arg);
			break;
		case 2:
			ck->op = CHKOP_CONTAINS;
			rv = check_value(c, &pr, &ck->value);
			break;
		case 4: rv = parse_duration_cond(c, &pr, ck); break;
		}
		if (rv != 0)
			return rv;
	}
	if (kind < 0)
		return perr(c, np->kl, "check '%s' needs one of status, header, body, json or duration", kb);
	if (nv[0] || nv[1]) {
		const pair *vp = nv[0] ? &vals[0] : &vals[1];
		if (kind != CHK_HEADER && kind != CHK_JSON)
			return perr(c, vp->kl, "'%s' goes with 'header' or 'json'", nv[0] ? "equals" : "contains");
		ck->op = nv[0] ? CHKOP_EQUALS : CHKOP_CONTAINS;
		if ((rv = check_value(c, vp, &ck->value)) != 0)
			return rv;
	}
	return HERD_OK;
}

int parse_checks(pctx *c, const pair *pr, plan_step *st)
{
	void *it = NULL;
	pair np;
	int more, rv, n;

	if (node_kind(pr->v) != SK_MAP)
		return want_kind(c, pr, node_kind(pr->v), "a mapping of check names to conditions");
	n = fy_node_mapping_item_count(pr->v);
	if (n <= 0)
		return perr(c, vloc(pr), "'checks' is empty");
	plan_check *nc = realloc(st->checks, (st->nchecks + (size_t)n) * sizeof(*nc));
	if (nc == NULL)
		return poom(c);
	st->checks = nc;
	memset(st->checks + st->nchecks, 0, (size_t)n * sizeof(*nc));
	size_t limit = st->nchecks + (size_t)n;
	for (;;) {
		if ((rv = next_pair(c, pr->v, &pr->vw, &it, &np, &more)) != 0 || !more)
			return rv;
		if (st->nchecks == limit)
			return perr(c, np.kl, "too many checks");
		if ((rv = parse_one_check(c, &np, &st->checks[st->nchecks++])) != 0)
			return rv;
		if (st->nchecks > 255)
			return perr(c, np.kl, "a step has at most 255 checks");
	}
}

/* ---- Form bodies and tags ---- */

int parse_form(pctx *c, const pair *fp, plan_step *st)
{
	void *it = NULL;
	pair pr;
	int more, rv, first = 1;
	tbuild b = {0};

	if (node_kind(fp->v) != SK_MAP)
		return want_kind(c, fp, node_kind(fp->v), "a mapping of field names to values");
	for (;;) {
		size_t len;
		const char *s;
		tmpl v;
		if ((rv = next_pair(c, fp->v, &fp->vw, &it, &pr, &more)) != 0)
			goto fail;
		if (!more)
			break;
		skind k = node_kind(pr.v);
		if (k == SK_MAP || k == SK_SEQ) {
			rv = want_kind(c, &pr, k, "a text or a number");
			goto fail;
		}
		if (!first)
			tb_lit(&b, "&", 1, TMPL_ESC_NONE);
		first = 0;
		tb_lit(&b, pr.key, pr.klen, TMPL_ESC_URL);
		tb_lit(&b, "=", 1, TMPL_ESC_NONE);
		s = node_text(pr.v, &len);
		if ((rv = compile_text(c, s, len, pr.v, vloc(&pr), 0, &v)) != 0)
			goto fail;
		tb_tmpl(&b, &v, TMPL_ESC_URL);
		tmpl_free(&v);
	}
	st->body_is_form = 1;
	return tb_finish(c, &b, &st->t_body);
fail:
	free(b.parts);
	free(b.lits.p);
	return rv;
}

static const char *const reserved_tags[] = {"scenario", "name",  "method", "status", "agent", "flow",
                                            "group",    "check", "url",    "error",  "phase"};

int parse_tags(pctx *c, const pair *tp, plan_step *st)
{
	void *it = NULL;
	pair pr;
	int more, rv, n;
	char kb[200];

	if (node_kind(tp->v) != SK_MAP)
		return want_kind(c, tp, node_kind(tp->v), "a mapping of tag names to values");
	n = fy_node_mapping_item_count(tp->v);
	if (n <= 0)
		return HERD_OK;
	if (n > PLAN_MAX_TAGS)
		return perr(c, vloc(tp), "a step has at most %d tags", PLAN_MAX_TAGS);
	if ((st->tags = calloc((size_t)n, sizeof(*st->tags))) == NULL)
		return poom(c);
	for (;;) {
		if ((rv = next_pair(c, tp->v, &tp->vw, &it, &pr, &more)) != 0 || !more)
			return rv;
		key_str(&pr, kb, sizeof(kb));
		if (!is_name(pr.key, pr.klen))
			return perr(c, pr.kl, "tag name '%s' must be letters, digits and '_'", kb);
		for (size_t i = 0; i < NELEM(reserved_tags); i++)
			if (text_is(pr.key, pr.klen, reserved_tags[i]))
				return perr(c, pr.kl, "'%s' is a tag herd sets itself; choose another name", kb);
		skind k = node_kind(pr.v);
		if (k == SK_MAP || k == SK_SEQ || k == SK_NULL)
			return want_kind(c, &pr, k, "a text or a number");
		if (st->ntags == (size_t)n)
			return perr(c, pr.kl, "too many tags");
		plan_kv *kv = &st->tags[st->ntags++];
		if ((rv = dup_key(c, &pr, "a tag name", &kv->name)) != 0 ||
		    (rv = dup_text(c, pr.v, vloc(&pr), "a tag value", &kv->value)) != 0)
			return rv;
		if (strpbrk(kv->value, "\n{}") != NULL || kv->value[0] == '\0')
			return perr(c, vloc(&pr), "tag '%s' needs a value without line breaks or braces", kb);
	}
}

/* ---- Feeders ---- */

static int parse_feeder(pctx *c, const pair *fp, plan_feeder *f)
{
	static const char *const keys[] = {"file", "split", "order", "onExhausted"};
	static const char *const splits[] = {"per-agent", "none"};
	static const char *const orders[] = {"sequential", "random"};
	static const char *const ends[] = {"recycle", "stop"};
	static const char *const *const vals[] = {NULL, splits, orders, ends};
	void *it = NULL;
	pair pr, filep = {0};
	int more, rv, have_file = 0;
	char kb[200], vb[200];

	key_str(fp, kb, sizeof(kb));
	f->line = fp->kl.line;
	f->col = fp->kl.col;
	if (!is_name(fp->key, fp->klen))
		return perr(c, fp->kl, "feeder name '%s' must be letters, digits and '_'", kb);
	if ((rv = dup_key(c, fp, "a feeder name", &f->name)) != 0)
		return rv;
	if (node_kind(fp->v) != SK_MAP)
		return want_kind(c, fp, node_kind(fp->v), "a mapping such as '{ file: users.csv }'");
	for (;;) {
		if ((rv = next_pair(c, fp->v, &fp->vw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			break;
		size_t i = key_index(keys, NELEM(keys), &pr);
		if (i == NELEM(keys))
			return unknown_key(c, &pr, "in a feeder", keys, NELEM(keys));
		if (i == 0) {
			if ((rv = get_string(c, &pr, &f->file)) != 0)
				return rv;
			have_file = 1;
			filep = pr;
			continue;
		}
		size_t len;
		const char *s = node_text(pr.v, &len);
		size_t j = 0;
		while (j < 2 && !text_is(s, len, vals[i][j]))
			j++;
		if (node_kind(pr.v) != SK_STR || j == 2)
			return perr(c, vloc(&pr), "'%s' is '%s' or '%s', not '%s'", keys[i], vals[i][0], vals[i][1],
			            show(s, len, vb, sizeof(vb)));
		if (i == 1)
			f->split = (plan_feed_split)j;
		else if (i == 2)
			f->order = (int)j;
		else
			f->exhausted = (int)j;
	}
	if (!have_file)
		return perr(c, fp->kl, "feeder '%s' needs a 'file'", kb);
	const char *d;
	size_t n;
	char cerr[512];
	if ((rv = plan_file_bytes(c, vloc(&filep), f->file, &d, &n)) != 0)
		return rv;
	if (csv_parse(d, n, f->file, &f->table, cerr, sizeof(cerr)) != 0)
		return perr(c, vloc(&filep), "%s", cerr);
	if (f->table.nrows == 0)
		return perr(c, vloc(&filep), "feeder '%s': %s has a header but no rows", kb, f->file);
	return HERD_OK;
}

int parse_data(pctx *c, const pair *dp)
{
	void *it = NULL;
	pair pr;
	int more, rv, n;

	if (node_kind(dp->v) != SK_MAP)
		return want_kind(c, dp, node_kind(dp->v), "a mapping of feeder names to feeders");
	n = fy_node_mapping_item_count(dp->v);
	if (n <= 0)
		return HERD_OK;
	if (n > PLAN_MAX_FEEDERS)
		return perr(c, vloc(dp), "too many feeders (the limit is %d)", PLAN_MAX_FEEDERS);
	if ((c->p->feeders = calloc((size_t)n, sizeof(*c->p->feeders))) == NULL)
		return poom(c);
	for (;;) {
		if ((rv = next_pair(c, dp->v, &dp->vw, &it, &pr, &more)) != 0 || !more)
			return rv;
		if (c->p->nfeeders == (size_t)n)
			return perr(c, pr.kl, "too many feeders");
		if ((rv = parse_feeder(c, &pr, &c->p->feeders[c->p->nfeeders++])) != 0)
			return rv;
	}
}

/* ---- After a step ---- */

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const plan_kv *)a)->name, ((const plan_kv *)b)->name);
}

/* "flow=..\ngroup=..\nkey=value", sorted by key. */
static int build_tagline(pctx *c, plan_step *st, const plan_flow *f)
{
	plan_kv all[PLAN_MAX_TAGS + 2];
	size_t n = 0;
	sbuf b = {0};
	/* A setup step belongs to no flow: it is tagged phase=setup instead. */
	all[n++] = f->setup ? (plan_kv){"phase", "setup"} : (plan_kv){"flow", f->name};
	if (st->group != NULL)
		all[n++] = (plan_kv){"group", st->group};
	for (size_t i = 0; i < st->ntags && n < NELEM(all); i++)
		all[n++] = st->tags[i];
	qsort(all, n, sizeof(all[0]), kv_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			sbuf_add(&b, "\n", 1);
		sbuf_str(&b, all[i].name);
		sbuf_add(&b, "=", 1);
		sbuf_str(&b, all[i].value);
	}
	if (b.oom || b.p == NULL) {
		free(b.p);
		return poom(c);
	}
	st->tagline = b.p;
	return HERD_OK;
}

int finish_step(pctx *c, plan_step *st, const plan_flow *f)
{
	int rv;
	st->feeders = c->step_feeders;
	c->step_feeders = 0;
	if ((rv = build_tagline(c, st, f)) != 0)
		return rv;
	for (size_t i = 0; i < st->ncaptures; i++) {
		uint32_t vi = st->captures[i].var_index;
		size_t k = 0;
		while (k < c->nknown && c->known[k] != vi)
			k++;
		if (k < c->nknown)
			continue;
		if (c->nknown == c->capknown) {
			size_t cap = c->capknown ? c->capknown * 2 : 8;
			uint32_t *nk = realloc(c->known, cap * sizeof(*nk));
			if (nk == NULL)
				return poom(c);
			c->known = nk;
			c->capknown = cap;
		}
		c->known[c->nknown++] = vi;
	}
	return HERD_OK;
}
