/*
 * Threshold evaluation: see verdict.h. The aggregations each metric type
 * accepts follow k6: trends take avg/min/med/max/p(N), rates take rate,
 * counters take count and rate, gauges (whose k6 "value" has no spelling in
 * th_agg) take min and max.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "controller/verdict.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return HERD_EINVAL;
}

static int agg_fits(res_type t, th_agg a)
{
	switch (t) {
	case RES_TREND: return a == TH_P || a == TH_AVG || a == TH_MED || a == TH_MIN || a == TH_MAX;
	case RES_RATE: return a == TH_RATE;
	case RES_COUNTER: return a == TH_COUNT || a == TH_RATE;
	case RES_GAUGE: return a == TH_MIN || a == TH_MAX;
	}
	return 0;
}

static const char *fits_list(res_type t)
{
	switch (t) {
	case RES_TREND: return "avg, min, med, max or p(N)";
	case RES_RATE: return "rate";
	case RES_COUNTER: return "count or rate";
	case RES_GAUGE: return "min or max";
	}
	return "?";
}

/* Shared by verdict_check and verdict_value: r may be NULL before a run. */
static int check(const results *r, const th_metric *m, const th_expr *e, res_metric_info *info,
                 char *err, size_t errlen)
{
	char lbl[32];
	if (results_metric_info(r, m->name, info) != 0)
		return fail(err, errlen, "unknown metric '%s'", m->name);
	if (m->ntags > TH_MAX_TAGS)
		return fail(err, errlen, "too many tag filters on '%s' (the limit is %d)", m->name,
		            TH_MAX_TAGS);
	for (size_t i = 0; i < m->ntags; i++) {
		const th_tag *t = &m->tags[i];
		if (results_check_tags(t, 1) == 0)
			continue;
		if (!th_tag_key_valid(t->key))
			return fail(err, errlen,
			            "tag key '%s' on '%s' is not valid: a key starts with a letter or '_' "
			            "and holds letters, digits, '_', '.' and '-'",
			            t->key, m->name);
		return fail(err, errlen,
		            "status filter '%s' on '%s' is not a status class (2xx, 4xx, 5xx, or 0 "
		            "for no response)",
		            t->value, m->name);
	}
	if (!agg_fits(info->type, e->agg))
		return fail(err, errlen, "'%s' does not apply to %s, a %s metric (use %s)",
		            th_agg_label(e, lbl, sizeof(lbl)), m->name, results_type_name(info->type),
		            fits_list(info->type));
	if (e->agg == TH_P && !(e->pct >= 0 && e->pct <= 100))
		return fail(err, errlen, "percentile %g is outside 0..100", e->pct);
	return HERD_OK;
}

int verdict_check(const th_metric *m, const th_expr *e, char *err, size_t errlen)
{
	res_metric_info info;
	return check(NULL, m, e, &info, err, errlen);
}

static double us_to_ms(uint64_t us)
{
	return (double)us / 1000.0;
}

void verdict_value_agg(const res_metric_info *info, const th_expr *e, const res_agg *a, int64_t span_ms,
                       double *value, int *nodata)
{
	*value = 0;
	*nodata = 0;
	switch (info->type) {
	case RES_TREND:
		if (a->h.total == 0) {
			*nodata = 1;
			break;
		}
		switch (e->agg) {
		case TH_P: *value = us_to_ms(hist_percentile(&a->h, e->pct)); break;
		case TH_MED: *value = us_to_ms(hist_percentile(&a->h, 50)); break;
		case TH_AVG: *value = hist_mean(&a->h) / 1000.0; break;
		case TH_MIN: *value = us_to_ms(a->h.min); break;
		default: *value = us_to_ms(a->h.max); break;
		}
		break;
	case RES_RATE: {
		uint64_t trues = 0, total = 0;
		results_rate_counts(info->name, a, &trues, &total);
		if (total == 0)
			*nodata = 1;
		else
			*value = (double)trues / (double)total;
		break;
	}
	case RES_COUNTER: {
		/* A counter that saw nothing is a real zero, not missing data. */
		double v = (double)results_counter_value(info->name, a);
		if (e->agg == TH_COUNT)
			*value = v;
		else
			*value = span_ms > 0 ? v * 1000.0 / (double)span_ms : 0;
		break;
	}
	case RES_GAUGE:
		if (!a->has_gauge)
			*nodata = 1;
		else
			*value = (double)(e->agg == TH_MIN ? a->gauge_min : a->gauge_max);
		break;
	}
}

int verdict_value(const results *r, const th_metric *m, const th_expr *e, double *value,
                  int *nodata, char *err, size_t errlen)
{
	res_metric_info info;
	res_agg *a;
	int rv;

	*value = 0;
	*nodata = 0;
	if ((rv = check(r, m, e, &info, err, errlen)) != 0)
		return rv;
	/* The aggregate embeds a whole histogram: keep it off the stack. */
	if ((a = malloc(sizeof(*a))) == NULL)
		return HERD_ENOMEM;
	if ((rv = results_query(r, m->name, m->tags, m->ntags, a)) != 0) {
		free(a);
		if (rv == HERD_ENOMEM)
			return rv;
		return fail(err, errlen, "cannot query '%s': %s", m->name, herd_strerror(rv));
	}

	verdict_value_agg(&info, e, a, results_duration_ms(r), value, nodata);
	free(a);
	return HERD_OK;
}

int verdict_set_new(verdict_set **out)
{
	verdict_set *vs = calloc(1, sizeof(*vs));
	if (vs == NULL)
		return HERD_ENOMEM;
	*out = vs;
	return HERD_OK;
}

void verdict_set_free(verdict_set *vs)
{
	if (vs == NULL)
		return;
	for (size_t i = 0; i < vs->n; i++) {
		free(vs->v[i].metric);
		free(vs->v[i].expr);
		free(vs->v[i].error);
	}
	free(vs->v);
	free(vs);
}

/* Appends a verdict that owns copies of the texts and of error (may be
 * NULL); on failure nothing changes. */
static int append(verdict_set *vs, const char *metric_text, const char *expr_text,
                  const verdict *tmpl, const char *error)
{
	if (vs->n == vs->cap) {
		size_t cap = vs->cap ? vs->cap * 2 : 8;
		verdict *v = realloc(vs->v, cap * sizeof(*v));
		if (v == NULL)
			return HERD_ENOMEM;
		vs->v = v;
		vs->cap = cap;
	}
	verdict v = *tmpl;
	v.metric = strdup(metric_text ? metric_text : "");
	v.expr = strdup(expr_text ? expr_text : "");
	v.error = error ? strdup(error) : NULL;
	if (v.metric == NULL || v.expr == NULL || (error != NULL && v.error == NULL)) {
		free(v.metric);
		free(v.expr);
		free(v.error);
		return HERD_ENOMEM;
	}
	if (v.error != NULL)
		v.ok = 0;
	vs->v[vs->n++] = v;
	if (!v.ok)
		vs->nfailed++;
	if (v.error != NULL)
		vs->nerrors++;
	return HERD_OK;
}

static int add_parsed(verdict_set *vs, const results *r, const char *metric_text, const char *expr_text,
                      const th_metric *m, const th_expr *e, int allow_nodata)
{
	verdict v;
	res_metric_info info;
	char err[256];
	int rv;

	memset(&v, 0, sizeof(v));
	v.parsed = 1;
	v.m = *m;
	v.e = *e;
	if (results_metric_info(r, m->name, &info) == 0)
		v.type = info.type;
	err[0] = '\0';
	rv = verdict_value(r, m, e, &v.observed, &v.nodata, err, sizeof(err));
	if (rv == HERD_ENOMEM)
		return rv;
	if (rv != 0)
		return append(vs, metric_text, expr_text, &v, err[0] ? err : herd_strerror(rv));
	/* Nothing measured proves nothing: a misspelt filter or a step that never
	 * ran must not pass a gate, unless the threshold says it may. */
	v.nodata_ok = allow_nodata;
	v.ok = v.nodata ? allow_nodata : th_compare(e->op, v.observed, e->value);
	return append(vs, metric_text, expr_text, &v, NULL);
}

int verdict_add_parsed(verdict_set *vs, const results *r, const char *metric_text,
                       const char *expr_text, const th_metric *m, const th_expr *e)
{
	return add_parsed(vs, r, metric_text, expr_text, m, e, 0);
}

int verdict_add(verdict_set *vs, const results *r, const char *metric_text, const char *expr_text)
{
	return verdict_add_nodata(vs, r, metric_text, expr_text, 0);
}

int verdict_add_nodata(verdict_set *vs, const results *r, const char *metric_text, const char *expr_text,
                       int allow_nodata)
{
	th_metric m;
	th_expr e;
	char err[256], msg[320];

	err[0] = '\0';
	if (th_parse_metric(metric_text, &m, err, sizeof(err)) != 0) {
		verdict v;
		memset(&v, 0, sizeof(v));
		snprintf(msg, sizeof(msg), "metric: %s", err);
		return append(vs, metric_text, expr_text, &v, msg);
	}
	if (th_parse_expr(expr_text, &e, err, sizeof(err)) != 0) {
		verdict v;
		memset(&v, 0, sizeof(v));
		v.m = m;
		snprintf(msg, sizeof(msg), "expression: %s", err);
		return append(vs, metric_text, expr_text, &v, msg);
	}
	return add_parsed(vs, r, metric_text, expr_text, &m, &e, allow_nodata);
}

int verdict_eval_plan(const plan *p, const results *r, verdict_set **out)
{
	verdict_set *vs;
	int rv;

	if ((rv = verdict_set_new(&vs)) != 0)
		return rv;
	for (size_t i = 0; i < p->nthresholds; i++) {
		const plan_threshold *t = &p->thresholds[i];
		if ((rv = verdict_add_nodata(vs, r, t->metric, t->expr, t->allow_nodata)) != 0) {
			verdict_set_free(vs);
			return rv;
		}
	}
	*out = vs;
	return HERD_OK;
}

int verdict_all_ok(const verdict_set *vs)
{
	return vs == NULL || vs->nfailed == 0;
}
