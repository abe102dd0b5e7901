/*
 * The breaking-point executor's part of the plan: its keys (model, start,
 * step or factor, warmup, hold, max, objectives, refine, failuresToStop) and
 * the checks that need them all: objectives present and on metrics the
 * flow can produce, start not above max, one of step and factor. The search
 * itself runs in the controller.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/plan_int.h"
#include "common/threshold.h"

#define BP_MAX_LEVELS 10000

size_t plan_bp_levels(const plan_breaking *b, int64_t *out, size_t max)
{
	size_t n = 0;
	int64_t v = b->start;
	if (b->start <= 0 || b->max < b->start || (b->step <= 0 && !(b->factor > 1)))
		return 0;
	while (n < BP_MAX_LEVELS) {
		if (out != NULL && n < max)
			out[n] = v;
		n++;
		if (v >= b->max)
			break;
		/* A factor's level is rounded up, so every level is above the last. */
		int64_t next = b->step > 0 ? v + b->step : (int64_t)ceil((double)v * b->factor);
		if (next <= v)
			next = v + 1;
		v = next < b->max ? next : b->max;
	}
	return n;
}

size_t plan_bp_refine_levels(const plan_breaking *b)
{
	int64_t gap = 0;
	size_t n = plan_bp_levels(b, NULL, 0);
	if (n == 0)
		return 0;
	int64_t *all = malloc(n * sizeof(*all));
	if (all == NULL)
		return 64; /* the most an int64 gap can take to halve down to 1 */
	plan_bp_levels(b, all, n);
	for (size_t i = 1; i < n; i++)
		if (all[i] - all[i - 1] > gap)
			gap = all[i] - all[i - 1];
	free(all);
	/* Each refinement halves the gap; it ends below resolution of the
	 * smallest load, or at a gap of one. */
	double floor_gap = b->resolution * (double)b->start;
	size_t k = 0;
	for (double g = (double)gap; g > floor_gap && g > 1 && k < 64; g /= 2)
		k++;
	return k + 1;
}

int64_t plan_bp_length_ms(const plan_breaking *b)
{
	size_t n = plan_bp_levels(b, NULL, 0) + plan_bp_refine_levels(b);
	return (int64_t)n * (b->warmup_ms + b->hold_ms + PLAN_BP_LEVEL_SLACK_MS);
}

/* A number (integer or decimal) from a YAML scalar. */
static int get_number(pctx *c, const pair *pr, double *out)
{
	size_t len;
	const char *s = node_text(pr->v, &len);
	skind k = node_kind(pr->v);
	char buf[64], kb[200], *end;
	key_str(pr, kb, sizeof(kb));
	if ((k != SK_INT && k != SK_FLOAT) || len >= sizeof(buf))
		return want_kind(c, pr, k, "a number");
	memcpy(buf, s, len);
	buf[len] = '\0';
	*out = strtod(buf, &end);
	if (*end != '\0' || !isfinite(*out))
		return perr(c, vloc(pr), "'%s' is not a number", kb);
	return HERD_OK;
}

/* `refine: { resolution: 5% }`: the bisection stops when the gap between the
 * last passing and the first failing load is under this share of the load. */
static int parse_refine(pctx *c, const pair *pr, plan_breaking *b)
{
	static const char *const keys[] = { "resolution" };
	void *it = NULL;
	pair kp;
	int more, rv;
	if (node_kind(pr->v) != SK_MAP)
		return want_kind(c, pr, node_kind(pr->v), "a mapping such as '{ resolution: 5% }'");
	for (;;) {
		if ((rv = next_pair(c, pr->v, &pr->vw, &it, &kp, &more)) != 0)
			return rv;
		if (!more)
			return HERD_OK;
		if (key_index(keys, 1, &kp) != 0)
			return unknown_key(c, &kp, "in 'refine'", keys, 1);
		size_t len;
		const char *s = node_text(kp.v, &len);
		char buf[32], *end;
		if (node_kind(kp.v) != SK_STR || len < 2 || len >= sizeof(buf) || s[len - 1] != '%')
			return perr(c, vloc(&kp), "'resolution' wants a percentage of the load, such as 5%%");
		memcpy(buf, s, len - 1);
		buf[len - 1] = '\0';
		double pct = strtod(buf, &end);
		if (*end != '\0' || !(pct > 0) || !(pct < 100))
			return perr(c, vloc(&kp), "'resolution' wants a percentage above 0%% and below 100%%, such as 5%%");
		b->resolution = pct / 100.0;
	}
}

int bp_parse_key(pctx *c, const char *key, const pair *pr, plan_scenario *s)
{
	plan_breaking *b = &s->bp;
	if (strcmp(key, "model") == 0) {
		size_t len;
		const char *v = node_text(pr->v, &len);
		if (node_kind(pr->v) == SK_STR && text_is(v, len, "arrival-rate"))
			b->model = PLAN_BP_ARRIVAL_RATE;
		else if (node_kind(pr->v) == SK_STR && text_is(v, len, "vus"))
			b->model = PLAN_BP_VUS;
		else
			return perr(c, vloc(pr), "'model' is arrival-rate (levels of iterations/s) or vus (levels of VUs)");
		return HERD_OK;
	}
	if (strcmp(key, "start") == 0)
		return get_int(c, pr, 1, PLAN_MAX_COUNT, &b->start);
	if (strcmp(key, "step") == 0)
		return get_int(c, pr, 1, PLAN_MAX_COUNT, &b->step);
	if (strcmp(key, "max") == 0)
		return get_int(c, pr, 1, PLAN_MAX_COUNT, &b->max);
	if (strcmp(key, "warmup") == 0)
		return get_duration(c, pr, 0, &b->warmup_ms);
	if (strcmp(key, "hold") == 0)
		return get_duration(c, pr, 1, &b->hold_ms);
	if (strcmp(key, "failuresToStop") == 0)
		return get_int(c, pr, 1, 1000, &b->failures_to_stop);
	if (strcmp(key, "refine") == 0)
		return parse_refine(c, pr, b);
	if (strcmp(key, "factor") == 0) {
		int rv = get_number(c, pr, &b->factor);
		if (rv == HERD_OK && !(b->factor > 1 && b->factor <= 100))
			return perr(c, vloc(pr), "'factor' must be above 1 (each level is the last times factor), at most 100");
		return rv;
	}
	if (strcmp(key, "objectives") == 0) {
		if (node_kind(pr->v) != SK_MAP)
			return want_kind(c, pr, node_kind(pr->v), "a mapping of metrics to thresholds, as 'thresholds'");
		return parse_threshold_map(c, pr, &b->objectives, &b->nobjectives, 0);
	}
	return perr(c, pr->kl, "internal error: unhandled breaking-point key '%s'", key);
}

/* The pair of key in the scenario's mapping sp, when written. */
static int find_key(pctx *c, const pair *sp, const char *key, pair *out)
{
	void *it = NULL;
	int more;
	for (;;) {
		if (next_pair(c, sp->v, &sp->vw, &it, out, &more) != 0 || !more)
			return 0;
		if (text_is(out->key, out->klen, key))
			return 1;
	}
}

/* What a scenario's steps can produce, for its objectives. */
typedef struct produces {
	int http, ws, checks, groups;
} produces;

static produces scan_steps(const plan_scenario *s)
{
	produces p = { 0 };
	for (size_t i = 0; i < s->nsteps; i++) {
		const plan_step *st = &s->steps[i];
		p.http |= st->kind == STEP_HTTP;
		p.ws |= st->kind == STEP_WS;
		p.groups |= st->kind == STEP_GROUP;
		p.checks |= st->nchecks > 0;
	}
	return p;
}

/* Which steps a metric comes from ("" when any flow produces it). */
static const char *needs(const char *metric, produces p)
{
	if (strncmp(metric, "http_", 5) == 0 && !p.http)
		return "HTTP requests";
	if (strncmp(metric, "ws_", 3) == 0 && !p.ws)
		return "ws sessions";
	if (strcmp(metric, "checks") == 0 && !p.checks)
		return "checks";
	if (strcmp(metric, "group_duration") == 0 && !p.groups)
		return "groups";
	return "";
}

int bp_finish(pctx *c, const pair *sp, plan_scenario *s)
{
	plan_breaking *b = &s->bp;
	char nb[200];
	pair pr, st;
	show(sp->key, sp->klen, nb, sizeof(nb));
	if (b->failures_to_stop == 0)
		b->failures_to_stop = 1;
	if (b->resolution == 0)
		b->resolution = 0.05;
	int have_step = find_key(c, sp, "step", &st), have_factor = find_key(c, sp, "factor", &pr);
	if (have_step && have_factor)
		return perr(c, pr.kl, "scenario '%s' has both 'step' and 'factor': a level goes up by one or the other",
		            nb);
	if (!have_step && !have_factor)
		return perr(c, sp->kl, "scenario '%s': a breaking-point search needs 'step' (added each level) or "
		            "'factor' (each level times it)", nb);
	if (b->start > b->max && find_key(c, sp, "start", &pr))
		return perr(c, vloc(&pr), "'start' (%lld) is above 'max' (%lld)", (long long)b->start,
		            (long long)b->max);
	if (b->nobjectives == 0) {
		if (find_key(c, sp, "objectives", &pr))
			return perr(c, vloc(&pr), "'objectives' is empty: a level passes or fails by them");
		return perr(c, sp->kl, "scenario '%s': a breaking-point search needs 'objectives' (k6 thresholds "
		            "judged at each level, e.g. http_req_duration: [\"p(95) < 500\"])", nb);
	}
	produces p = scan_steps(s);
	for (size_t i = 0; i < b->nobjectives; i++) {
		const plan_threshold *t = &b->objectives[i];
		th_metric m;
		char msg[256];
		loc l = { .line = t->line, .col = t->col };
		if (th_parse_metric(t->metric, &m, msg, sizeof(msg)) != 0)
			return perr(c, l, "bad objective metric '%s': %s", t->metric, msg);
		/* Each level is judged on its own hold window, and a failing level
		 * is what the search looks for, not a reason to abort. */
		if (t->abort_on_fail || t->delay_abort_ms || t->window_ms)
			return perr(c, l, "objective '%s': abortOnFail, delayAbortEval and window do not apply to "
			            "objectives (each level is judged on its own hold window)", t->metric);
		const char *want = needs(m.name, p);
		if (want[0] != '\0')
			return perr(c, l, "objective on '%s', which scenario '%s' cannot produce: its flow has no %s", m.name,
			            nb, want);
		if (check_threshold_refs(c, &m, l, t->metric) != 0)
			return HERD_EPLAN;
	}
	return HERD_OK;
}

void bp_free(plan_breaking *b)
{
	for (size_t i = 0; i < b->nobjectives; i++) {
		free(b->objectives[i].metric);
		free(b->objectives[i].expr);
	}
	free(b->objectives);
	memset(b, 0, sizeof(*b));
}
