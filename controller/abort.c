/*
 * Abort rules judged on merged per-interval data; see abort.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/threshold.h"
#include "controller/abort.h"
#include "controller/results.h"

/* Intervals held while they wait to be judged (agents run in step, so a few
 * suffice; a batch further ahead waits in the run's results only). */
#define PENDING 16

typedef struct rule {
	size_t index; /* into p->thresholds */
	const plan_threshold *t;
	th_metric m;
	th_expr e;
	size_t nslots; /* window intervals, 0: the whole run */
	res_agg *ring; /* nslots per-interval aggregates, interval k at k % nslots */
	res_agg *sum;  /* the window (or the whole run so far) being judged */
	res_agg *cum;  /* the whole run so far, when nslots is 0 */
	int judged;    /* a window with data was judged */
	int failed;    /* some window failed */
	double worst;  /* the failing value furthest from the limit, else the last value */
} rule;

typedef struct pending {
	int64_t k; /* -1: free */
	results *res;
} pending;

typedef struct agent_seen {
	char id[64];
	int64_t last_k;
} agent_seen;

struct abort_rules {
	const plan *p;
	uint32_t interval_ms;
	size_t nagents;
	rule *rules;
	size_t nrules;
	pending pend[PENDING];
	int64_t next_k; /* the first interval not judged yet */
	agent_seen *agents;
	size_t nseen, capseen;
	res_agg *tmp;
};

size_t abort_count(const abort_rules *a)
{
	return a->nrules;
}

void abort_free(abort_rules *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->nrules; i++) {
		free(a->rules[i].ring);
		free(a->rules[i].sum);
		free(a->rules[i].cum);
	}
	for (size_t i = 0; i < PENDING; i++)
		results_free(a->pend[i].res);
	free(a->rules);
	free(a->agents);
	free(a->tmp);
	free(a);
}

int abort_new(const plan *p, uint32_t interval_ms, size_t nagents, abort_rules **out)
{
	abort_rules *a = calloc(1, sizeof(*a));
	char err[256];
	if (a == NULL)
		return HERD_ENOMEM;
	a->p = p;
	a->interval_ms = interval_ms ? interval_ms : 1000;
	a->nagents = nagents;
	for (size_t i = 0; i < PENDING; i++)
		a->pend[i].k = -1;
	if ((a->rules = calloc(p->nthresholds + 1, sizeof(*a->rules))) == NULL ||
	    (a->tmp = malloc(sizeof(*a->tmp))) == NULL)
		goto oom;
	for (size_t i = 0; i < p->nthresholds; i++) {
		const plan_threshold *t = &p->thresholds[i];
		if (!t->abort_on_fail && t->window_ms == 0)
			continue;
		rule *r = &a->rules[a->nrules++];
		r->index = i;
		r->t = t;
		if (th_parse_metric(t->metric, &r->m, err, sizeof(err)) != 0 ||
		    th_parse_expr(t->expr, &r->e, err, sizeof(err)) != 0) {
			abort_free(a);
			return HERD_EINVAL;
		}
		r->nslots = (size_t)((t->window_ms + a->interval_ms - 1) / a->interval_ms);
		if ((r->sum = calloc(1, sizeof(*r->sum))) == NULL)
			goto oom;
		if (r->nslots > 0 ? (r->ring = calloc(r->nslots, sizeof(*r->ring))) == NULL
		                  : (r->cum = calloc(1, sizeof(*r->cum))) == NULL)
			goto oom;
		for (size_t k = 0; k < r->nslots; k++)
			hist_init(&r->ring[k].h);
		if (r->cum != NULL)
			hist_init(&r->cum->h);
	}
	*out = a;
	return HERD_OK;
oom:
	abort_free(a);
	return HERD_ENOMEM;
}

/* The results object that collects interval k, NULL when none is free. */
static results *pending_for(abort_rules *a, int64_t k)
{
	pending *free_slot = NULL;
	for (size_t i = 0; i < PENDING; i++) {
		if (a->pend[i].k == k)
			return a->pend[i].res;
		if (a->pend[i].k < 0 && free_slot == NULL)
			free_slot = &a->pend[i];
	}
	if (free_slot == NULL || k >= a->next_k + PENDING)
		return NULL;
	if (free_slot->res == NULL && results_new(a->interval_ms, &free_slot->res) != HERD_OK)
		return NULL;
	free_slot->k = k;
	return free_slot->res;
}

static int note_agent(abort_rules *a, const char *id, int64_t k)
{
	for (size_t i = 0; i < a->nseen; i++) {
		if (strcmp(a->agents[i].id, id) == 0) {
			if (k > a->agents[i].last_k)
				a->agents[i].last_k = k;
			return HERD_OK;
		}
	}
	if (a->nseen == a->capseen) {
		size_t cap = a->capseen ? a->capseen * 2 : 8;
		agent_seen *n = realloc(a->agents, cap * sizeof(*n));
		if (n == NULL)
			return HERD_ENOMEM;
		a->agents = n;
		a->capseen = cap;
	}
	snprintf(a->agents[a->nseen].id, sizeof(a->agents[a->nseen].id), "%s", id);
	a->agents[a->nseen++].last_k = k;
	return HERD_OK;
}

int abort_add_batch(abort_rules *a, const char *agent_id, int64_t interval_ms, const wire_entry *entries,
                    size_t n)
{
	int64_t k = interval_ms / a->interval_ms;
	int rv;
	if (a->nrules == 0)
		return HERD_OK;
	if ((rv = note_agent(a, agent_id, k)) != HERD_OK)
		return rv;
	if (k < a->next_k)
		return HERD_OK; /* judged already */
	results *res = pending_for(a, k);
	if (res == NULL)
		return HERD_OK; /* too far ahead: judged without it */
	return results_add_batch(res, agent_id, interval_ms, entries, n);
}

/* dst += src, as results_query would have summed them in one go. */
static void agg_add(res_agg *dst, const res_agg *src)
{
	dst->count += src->count;
	for (size_t i = 0; i < ERRK__N; i++)
		dst->errors[i] += src->errors[i];
	dst->bytes_in += src->bytes_in;
	dst->bytes_out += src->bytes_out;
	hist_merge(&dst->h, &src->h);
	dst->nseries += src->nseries;
	if (src->has_gauge) {
		if (!dst->has_gauge || src->gauge_min < dst->gauge_min)
			dst->gauge_min = src->gauge_min;
		if (!dst->has_gauge || src->gauge_max > dst->gauge_max)
			dst->gauge_max = src->gauge_max;
		dst->gauge_last = src->gauge_last;
		dst->has_gauge = 1;
	}
}

static void agg_clear(res_agg *x)
{
	memset(x, 0, sizeof(*x));
	hist_init(&x->h);
}

/* Whether interval k may be judged at now_ms. */
static int complete(const abort_rules *a, int64_t k, int64_t now_ms)
{
	int64_t end = (k + 1) * (int64_t)a->interval_ms;
	if (now_ms < end)
		return 0;
	if (now_ms >= end + ABORT_GRACE_MS)
		return 1;
	if (a->nseen < a->nagents)
		return 0;
	for (size_t i = 0; i < a->nseen; i++)
		if (a->agents[i].last_k < k)
			return 0;
	return 1;
}

/* Whether value is further from the limit (on the failing side) than worst. */
static int worse(th_op op, double value, double worst)
{
	return op == TH_LT || op == TH_LE ? value > worst : op == TH_GT || op == TH_GE ? value < worst : 0;
}

/* Judges rule r on interval k, whose merged batches are in res (NULL: none). */
static void judge_rule(abort_rules *a, rule *r, const results *res, int64_t k, abort_breach *out, int *fired)
{
	res_metric_info info;
	agg_clear(a->tmp);
	if (res != NULL && results_metric_info(res, r->m.name, &info) == HERD_OK)
		results_query(res, r->m.name, r->m.tags, r->m.ntags, a->tmp);
	int64_t span;
	if (r->nslots > 0) {
		res_agg *slot = &r->ring[(size_t)k % r->nslots];
		agg_clear(slot);
		agg_add(slot, a->tmp);
		agg_clear(r->sum);
		size_t have = (size_t)(k + 1) < r->nslots ? (size_t)(k + 1) : r->nslots;
		for (size_t i = 0; i < have; i++)
			agg_add(r->sum, &r->ring[(size_t)(k - (int64_t)i) % r->nslots]);
		span = (int64_t)have * a->interval_ms;
	} else {
		agg_add(r->cum, a->tmp);
		agg_clear(r->sum);
		agg_add(r->sum, r->cum);
		span = (k + 1) * (int64_t)a->interval_ms;
	}
	/* A custom metric's type comes from a run that has its series. */
	if (results_metric_info(res, r->m.name, &info) != HERD_OK)
		return;
	double value;
	int nodata;
	verdict_value_agg(&info, &r->e, r->sum, span, &value, &nodata);
	if (nodata)
		return;
	int ok = th_compare(r->e.op, value, r->e.value);
	/* The run's verdict shows the worst failing window, or the last one. */
	if (ok ? !r->failed : !r->failed || worse(r->e.op, value, r->worst))
		r->worst = value;
	r->judged = 1;
	if (!ok)
		r->failed = 1;
	int64_t end = (k + 1) * (int64_t)a->interval_ms;
	if (!ok && r->t->abort_on_fail && end >= r->t->delay_abort_ms && !*fired) {
		*fired = 1;
		*out = (abort_breach){.threshold = r->index,
		                      .metric = r->t->metric,
		                      .expr = r->t->expr,
		                      .window_ms = r->t->window_ms,
		                      .value = value,
		                      .at_ms = end};
	}
}

/* Judges intervals from next_k on: those complete at now_ms, or (all) every
 * one that ended by now_ms. */
static void judge_while(abort_rules *a, int64_t now_ms, int all, abort_breach *out, int *fired)
{
	while (all ? (a->next_k + 1) * (int64_t)a->interval_ms <= now_ms : complete(a, a->next_k, now_ms)) {
		int64_t k = a->next_k;
		pending *pd = NULL;
		for (size_t i = 0; i < PENDING; i++)
			if (a->pend[i].k == k)
				pd = &a->pend[i];
		for (size_t i = 0; i < a->nrules; i++)
			judge_rule(a, &a->rules[i], pd != NULL ? pd->res : NULL, k, out, fired);
		if (pd != NULL) {
			/* A fresh object for the next interval: results has no reset. */
			results_free(pd->res);
			pd->res = NULL;
			pd->k = -1;
		}
		a->next_k++;
	}
}

int abort_judge(abort_rules *a, int64_t now_ms, abort_breach *out, int *fired)
{
	*fired = 0;
	if (a->nrules != 0)
		judge_while(a, now_ms, 0, out, fired);
	return HERD_OK;
}

void abort_finish(abort_rules *a, int64_t end_ms)
{
	abort_breach b;
	int fired = 0;
	judge_while(a, end_ms, 1, &b, &fired);
}

void abort_describe(const abort_breach *b, char *buf, size_t len)
{
	char over[48];
	if (b->window_ms > 0)
		snprintf(over, sizeof(over), "over the last %.0f s", (double)b->window_ms / 1000);
	else
		snprintf(over, sizeof(over), "over the run so far");
	snprintf(buf, len, "threshold '%s: %s' failed %s: %.6g at %.0f s (abortOnFail)", b->metric, b->expr,
	         over, b->value, (double)b->at_ms / 1000);
}

int abort_patch_verdicts(const abort_rules *a, verdict_set *vs)
{
	for (size_t i = 0; i < a->nrules; i++) {
		const rule *r = &a->rules[i];
		if (r->nslots == 0 || r->index >= vs->n)
			continue;
		verdict *v = &vs->v[r->index];
		if (strcmp(v->metric, r->t->metric) != 0 || v->error != NULL)
			continue;
		char *expr = NULL;
		if (asprintf(&expr, "%s (window %llds)", r->t->expr, (long long)(r->t->window_ms / 1000)) < 0)
			return HERD_ENOMEM;
		free(v->expr);
		v->expr = expr;
		if (!r->judged)
			continue; /* no window had data: the whole run's verdict stands */
		int was_ok = v->ok;
		v->nodata = 0;
		v->observed = r->worst;
		v->ok = !r->failed;
		if (was_ok && !v->ok)
			vs->nfailed++;
		else if (!was_ok && v->ok)
			vs->nfailed--;
	}
	return HERD_OK;
}
