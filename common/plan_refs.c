/*
 * The names a plan defines that thresholds may filter on: scenarios, step and
 * check names, flows, groups, the setup phase and the steps' own tags. A
 * threshold whose filter names none of them would match nothing and pass on
 * "no data", so the parser refuses it with a suggestion (plan_tag_values is
 * the one list; the parser and anything else that needs it ask it).
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/plan_int.h"
#include "common/threshold.h"

typedef struct namelist {
	const char **v;
	size_t n, cap;
	int oom;
} namelist;

static void nl_add(namelist *l, const char *s)
{
	if (s == NULL || l->oom)
		return;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		const char **nv = realloc(l->v, cap * sizeof(*nv));
		if (nv == NULL) {
			l->oom = 1;
			return;
		}
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = s;
}

/* The keys whose values the plan decides; others (method, status, agent) are
 * checked where the metrics are known. */
static const char *const plan_keys[] = {"scenario", "name", "check", "flow", "group", "phase"};

static void add_step_values(namelist *l, const plan_scenario *s, const plan_step *st, size_t k, const char *key)
{
	switch (k) {
	case 1: /* name: a request's or session's name, and a check's (its alias) */
		if (st->kind == STEP_HTTP || st->kind == STEP_WS)
			nl_add(l, st->name);
		/* fall through */
	case 2:
		for (size_t i = 0; i < st->nchecks; i++)
			nl_add(l, st->checks[i].name);
		break;
	case 4:
		if (st->kind == STEP_GROUP)
			nl_add(l, st->group);
		break;
	case 5:
		if (s->setup.nsteps > 0)
			nl_add(l, "setup");
		break;
	default: /* a step's own tag */
		for (size_t i = 0; i < st->ntags; i++)
			if (strcmp(st->tags[i].name, key) == 0)
				nl_add(l, st->tags[i].value);
	}
}

int plan_tag_values(const plan *p, const char *key, const char ***vals, size_t *n)
{
	namelist l = {0};
	size_t k = 0;
	int user = 1;

	*vals = NULL;
	*n = 0;
	while (k < sizeof(plan_keys) / sizeof(plan_keys[0]) && strcmp(plan_keys[k], key) != 0)
		k++;
	if (k < sizeof(plan_keys) / sizeof(plan_keys[0]))
		user = 0;
	/* A series outside the setup has no phase tag; "main" names them. */
	if (k == 5)
		nl_add(&l, "main");
	for (size_t i = 0; i < p->nscenarios; i++) {
		const plan_scenario *s = &p->scenarios[i];
		if (k == 0)
			nl_add(&l, s->name);
		for (size_t j = 0; k == 3 && j < s->nflows; j++)
			nl_add(&l, s->flows[j].name);
		for (size_t j = 0; k != 0 && k != 3 && j < s->nsteps; j++)
			add_step_values(&l, s, &s->steps[j], k, key);
	}
	if (l.oom) {
		free(l.v);
		return HERD_ENOMEM;
	}
	if (user && l.n == 0) {
		free(l.v);
		return HERD_ENOTFOUND; /* not a key the plan decides */
	}
	*vals = l.v;
	*n = l.n;
	return HERD_OK;
}

/* Up to a few names from v, for a message. */
static void name_sample(const char *const *v, size_t n, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && i < 8 && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s'%s'", i ? ", " : "", v[i]);
	if (n > 8 && o < len)
		snprintf(buf + o, len - o, ", ...");
}

static const char *what_of(const char *key)
{
	if (strcmp(key, "name") == 0)
		return "no step or check is named";
	if (strcmp(key, "check") == 0)
		return "no check is named";
	if (strcmp(key, "group") == 0)
		return "no group is named";
	if (strcmp(key, "flow") == 0)
		return "no flow is named";
	if (strcmp(key, "phase") == 0)
		return "no part of the plan is in phase";
	return "no step's `tags:` sets it to";
}

int check_threshold_refs(pctx *c, const th_metric *m, loc l, const char *shown)
{
	for (size_t i = 0; i < m->ntags; i++) {
		const th_tag *t = &m->tags[i];
		const char **vals;
		size_t n, j;
		int rv = plan_tag_values(c->p, t->key, &vals, &n);
		if (rv == HERD_ENOTFOUND)
			continue;
		if (rv != HERD_OK)
			return poom(c);
		for (j = 0; j < n && strcmp(vals[j], t->value) != 0; j++)
			;
		if (j < n) {
			free(vals);
			continue;
		}
		const char *sug = suggest(vals, n, t->value, strlen(t->value));
		char list[400];
		name_sample(vals, n, list, sizeof(list));
		if (strcmp(t->key, "scenario") == 0)
			rv = perr(c, l, "threshold '%s' filters on scenario '%s', which the plan does not define%s%s%s",
			          shown, t->value, sug ? " (did you mean '" : "", sug ? sug : "", sug ? "'?)" : "");
		else if (sug != NULL)
			rv = perr(c, l, "threshold '%s' filters on %s '%s', but %s '%s' (did you mean '%s'?)", shown,
			          t->key, t->value, what_of(t->key), t->value, sug);
		else
			rv = perr(c, l, "threshold '%s' filters on %s '%s', but %s '%s'; the plan has: %s", shown,
			          t->key, t->value, what_of(t->key), t->value, list);
		free(vals);
		return rv;
	}
	return HERD_OK;
}
