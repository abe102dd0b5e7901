/*
 * Run comparison; see compare.h. Each run is read once per series metric,
 * ordered by scenario, step and interval, so one interval's rows from every
 * agent and status class are merged into one histogram before its
 * percentiles are taken (never averaged), then folded into the step's
 * whole-run histogram.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/err.h"
#include "common/hist.h"
#include "common/metric.h"
#include "common/stats.h"
#include "controller/compare.h"

enum { F_P50, F_P95, F_P99, F_RATE, F_ERR, F__N };
static const char *const figure_names[F__N] = { "p50", "p95", "p99", "req/s", "error rate" };
/* Messages, not requests, for WebSocket round trips. */
static const char *const ws_rate_name = "msgs/s";

static const char *const series_compared[] = { "http_req_duration", "ws_msg_rtt" };

/*
 * Samples a window needs before its percentile counts as one value of the
 * test: ten beyond the percentile (a p99 of 20 requests is their maximum,
 * noise rather than a figure). Intervals are merged into windows until they
 * hold that many; a last window that never fills is left out. Error rates
 * take windows of 20 requests, rates one interval each.
 */
static const uint64_t window_min[F__N] = { [F_P50] = 20, [F_P95] = 200, [F_P99] = 1000,
	                                   [F_RATE] = 1, [F_ERR] = 20 };

typedef struct profile {
	char *series, *scenario, *name;
	hist *total;
	uint64_t count, failed;
	double *v[F__N]; /* per-window values of each figure */
	size_t n[F__N], cap[F__N];
	size_t intervals;
} profile;

typedef struct run_prof {
	profile *p;
	size_t n, cap;
	double dur_s;    /* the run's measured load time */
	double ilen_s;   /* its interval length */
	/* the walk's state: the interval being merged, the windows being filled */
	profile *cur;
	int64_t cur_iv;
	hist *iv;
	uint64_t iv_count, iv_failed;
	hist *win[3]; /* p50, p95, p99 windows */
	uint64_t win_count[F__N], win_failed;
} run_prof;

const char *cmp_verdict_name(cmp_verdict v)
{
	static const char *const names[] = { "PASS", "IMPROVEMENT", "INCONCLUSIVE", "REGRESSION" };
	return (unsigned)v < 4 ? names[v] : "?";
}

static int push(profile *p, int f, double v)
{
	if (p->n[f] == p->cap[f]) {
		size_t cap = p->cap[f] ? p->cap[f] * 2 : 64;
		double *nv = realloc(p->v[f], cap * sizeof(double));
		if (nv == NULL)
			return HERD_ENOMEM;
		p->v[f] = nv;
		p->cap[f] = cap;
	}
	p->v[f][p->n[f]++] = v;
	return HERD_OK;
}

static void reset_windows(run_prof *rp)
{
	for (int k = 0; k < 3; k++)
		hist_init(rp->win[k]);
	memset(rp->win_count, 0, sizeof(rp->win_count));
	rp->win_failed = 0;
}

/* Ends the interval being merged: it joins each figure's window, and a
 * window that holds enough samples becomes one value. */
static int flush_interval(run_prof *rp)
{
	static const double q[3] = { 50, 95, 99 };
	profile *p = rp->cur;
	int rv = HERD_OK;
	if (p == NULL || rp->iv_count == 0)
		return HERD_OK;
	for (int f = 0; f < F__N && rv == 0; f++) {
		rp->win_count[f] += rp->iv_count;
		if (f <= F_P99)
			hist_merge(rp->win[f], rp->iv);
		if (f == F_ERR)
			rp->win_failed += rp->iv_failed;
		if (rp->win_count[f] < window_min[f])
			continue;
		double v;
		if (f <= F_P99) {
			v = (double)hist_percentile(rp->win[f], q[f]) / 1000.0;
			hist_init(rp->win[f]);
		} else if (f == F_RATE) {
			v = (double)rp->iv_count / rp->ilen_s;
		} else {
			v = (double)rp->win_failed / (double)rp->win_count[f];
			rp->win_failed = 0;
		}
		rp->win_count[f] = 0;
		rv = push(p, f, v);
	}
	hist_merge(p->total, rp->iv);
	p->count += rp->iv_count;
	p->failed += rp->iv_failed;
	p->intervals++;
	hist_init(rp->iv);
	rp->iv_count = rp->iv_failed = 0;
	return rv;
}

static int same(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static profile *new_profile(run_prof *rp, const wire_entry *e)
{
	if (rp->n == rp->cap) {
		size_t cap = rp->cap ? rp->cap * 2 : 16;
		profile *np = realloc(rp->p, cap * sizeof(*np));
		if (np == NULL)
			return NULL;
		rp->p = np;
		rp->cap = cap;
	}
	profile *p = &rp->p[rp->n];
	memset(p, 0, sizeof(*p));
	p->series = strdup(e->metric);
	p->scenario = strdup(e->scenario != NULL ? e->scenario : "");
	p->name = strdup(e->name != NULL ? e->name : "");
	p->total = hist_new();
	rp->n++; /* counted now so that a failure below is freed with the rest */
	if (p->series == NULL || p->scenario == NULL || p->name == NULL || p->total == NULL)
		return NULL;
	return p;
}

static int on_row(void *arg, const char *agent_id, int64_t interval_ms, const wire_entry *e)
{
	run_prof *rp = arg;
	int rv;
	(void)agent_id;
	if (rp->cur == NULL || !same(rp->cur->scenario, e->scenario) || !same(rp->cur->name, e->name) ||
	    !same(rp->cur->series, e->metric)) {
		if ((rv = flush_interval(rp)) != 0)
			return rv;
		if ((rp->cur = new_profile(rp, e)) == NULL)
			return HERD_ENOMEM;
		reset_windows(rp);
		rp->cur_iv = interval_ms;
	} else if (interval_ms != rp->cur_iv) {
		if ((rv = flush_interval(rp)) != 0)
			return rv;
		rp->cur_iv = interval_ms;
	}
	if (e->h != NULL)
		hist_merge(rp->iv, e->h);
	rp->iv_count += e->count;
	uint64_t failed = 0;
	for (int k = 0; k < ERRK__N; k++)
		if (k != ERRK_CHECK)
			failed += e->errors[k];
	rp->iv_failed += failed < e->count ? failed : e->count;
	return HERD_OK;
}

static void run_prof_fini(run_prof *rp)
{
	for (size_t i = 0; i < rp->n; i++) {
		profile *p = &rp->p[i];
		free(p->series);
		free(p->scenario);
		free(p->name);
		hist_free(p->total);
		for (int f = 0; f < F__N; f++)
			free(p->v[f]);
	}
	free(rp->p);
	hist_free(rp->iv);
	for (int k = 0; k < 3; k++)
		hist_free(rp->win[k]);
	memset(rp, 0, sizeof(*rp));
}

static int load_profile(store *st, const char *run_id, run_prof *rp, char *err, size_t errlen)
{
	store_run info;
	int rv;
	memset(rp, 0, sizeof(*rp));
	if ((rv = store_run_get(st, run_id, &info)) != 0) {
		snprintf(err, errlen, "%s", store_errmsg(st));
		return rv;
	}
	rp->ilen_s = (info.interval_ms > 0 ? info.interval_ms : 1000) / 1000.0;
	rp->dur_s = info.duration_ms > 0 ? (double)info.duration_ms / 1000.0 : 0;
	store_run_fini(&info);
	if ((rp->iv = hist_new()) == NULL || (rp->win[0] = hist_new()) == NULL ||
	    (rp->win[1] = hist_new()) == NULL || (rp->win[2] = hist_new()) == NULL)
		return HERD_ENOMEM;
	for (size_t i = 0; i < sizeof(series_compared) / sizeof(series_compared[0]); i++) {
		rp->cur = NULL;
		if ((rv = store_each_interval(st, run_id, series_compared[i], STORE_BY_STEP, on_row, rp)) != 0 ||
		    (rv = flush_interval(rp)) != 0) {
			snprintf(err, errlen, "%s", rv == HERD_ENOMEM ? "out of memory" : store_errmsg(st));
			return rv;
		}
	}
	if (rp->dur_s <= 0) { /* no measured duration: the longest step's intervals */
		for (size_t i = 0; i < rp->n; i++)
			if ((double)rp->p[i].intervals * rp->ilen_s > rp->dur_s)
				rp->dur_s = (double)rp->p[i].intervals * rp->ilen_s;
	}
	return HERD_OK;
}

static const profile *find(const run_prof *rp, const profile *like)
{
	for (size_t i = 0; i < rp->n; i++)
		if (same(rp->p[i].series, like->series) && same(rp->p[i].scenario, like->scenario) &&
		    same(rp->p[i].name, like->name))
			return &rp->p[i];
	return NULL;
}

/* The whole-run value of figure f. */
static double whole(const profile *p, int f, double dur_s)
{
	switch (f) {
	case F_P50: return (double)hist_percentile(p->total, 50) / 1000.0;
	case F_P95: return (double)hist_percentile(p->total, 95) / 1000.0;
	case F_P99: return (double)hist_percentile(p->total, 99) / 1000.0;
	case F_RATE: return dur_s > 0 ? (double)p->count / dur_s : 0;
	default: return p->count > 0 ? (double)p->failed / (double)p->count : 0;
	}
}

static cmp_verdict judge(int f, double b, double c, double p, size_t nb, size_t nc,
                         const cmp_opts *o, double *delta)
{
	int worse;
	double effect;
	if (f == F_ERR) {
		*delta = c - b;
		effect = fabs(c - b);
		if (effect < fmax(b * o->min_effect, 0.001))
			return CMP_PASS;
		worse = c > b;
	} else {
		*delta = b > 0 ? (c - b) / b : (c > 0 ? INFINITY : 0);
		effect = fabs(*delta);
		if (effect < o->min_effect)
			return CMP_PASS;
		worse = f == F_RATE ? c < b : c > b;
	}
	if (nb < o->min_intervals || nc < o->min_intervals || p >= o->alpha)
		return CMP_INCONCLUSIVE;
	return worse ? CMP_REGRESSION : CMP_IMPROVEMENT;
}

static int add_row(cmp_report *r, const profile *pb, const profile *pc, int f, double bdur,
                   double cdur)
{
	cmp_row *row = &r->rows[r->n];
	memset(row, 0, sizeof(*row));
	row->series = strdup(pb->series);
	row->scenario = strdup(pb->scenario);
	row->name = strdup(pb->name);
	r->n++;
	if (row->series == NULL || row->scenario == NULL || row->name == NULL)
		return HERD_ENOMEM;
	row->figure = f == F_RATE && strcmp(pb->series, "ws_msg_rtt") == 0 ? ws_rate_name
	                                                                     : figure_names[f];
	row->base = whole(pb, f, bdur);
	row->cand = whole(pc, f, cdur);
	row->nbase = pb->n[f];
	row->ncand = pc->n[f];
	if (stats_mann_whitney(pb->v[f], pb->n[f], pc->v[f], pc->n[f], NULL, &row->p) != 0)
		row->p = 1.0;
	row->fig = f;
	return HERD_OK;
}

static int add_unmatched(cmp_report *r, const char *side, const profile *p)
{
	char **nu = realloc(r->unmatched, (r->nunmatched + 1) * sizeof(*nu));
	if (nu == NULL)
		return HERD_ENOMEM;
	r->unmatched = nu;
	size_t len = strlen(side) + strlen(p->series) + strlen(p->scenario) + strlen(p->name) + 8;
	char *s = malloc(len);
	if (s == NULL)
		return HERD_ENOMEM;
	snprintf(s, len, "%s: %s %s/%s", side, p->series, p->scenario, p->name);
	r->unmatched[r->nunmatched++] = s;
	return HERD_OK;
}

int cmp_runs(store *st, const char *base, const char *cand, const cmp_opts *o, cmp_report **out,
             char *err, size_t errlen)
{
	run_prof rb, rc;
	cmp_report *r = NULL;
	int rv;
	memset(&rc, 0, sizeof(rc));
	if ((rv = load_profile(st, base, &rb, err, errlen)) != 0 ||
	    (rv = load_profile(st, cand, &rc, err, errlen)) != 0)
		goto done;
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->rows = calloc(rb.n * F__N + 1, sizeof(*r->rows))) == NULL) {
		rv = HERD_ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < rb.n && rv == 0; i++) {
		const profile *pb = &rb.p[i], *pc = find(&rc, pb);
		if (pc == NULL) {
			rv = add_unmatched(r, "base only", pb);
			continue;
		}
		int http = strcmp(pb->series, "http_req_duration") == 0;
		for (int f = 0; f < F__N && rv == 0; f++)
			if (f != F_ERR || http)
				rv = add_row(r, pb, pc, f, rb.dur_s, rc.dur_s);
	}
	for (size_t i = 0; i < rc.n && rv == 0; i++)
		if (find(&rb, &rc.p[i]) == NULL)
			rv = add_unmatched(r, "candidate only", &rc.p[i]);
	/* Every row is a test: with twenty of them, one would come out under
	 * 0.05 by chance alone. Bonferroni: each p times the number of rows. */
	for (size_t i = 0; i < r->n && rv == 0; i++) {
		cmp_row *row = &r->rows[i];
		row->p_adj = fmin(1.0, row->p * (double)r->n);
		row->verdict = judge(row->fig, row->base, row->cand, row->p_adj, row->nbase, row->ncand,
		                     o, &row->delta);
		r->count[row->verdict]++;
	}
	if (rv == HERD_ENOMEM)
		snprintf(err, errlen, "out of memory");
done:
	run_prof_fini(&rb);
	run_prof_fini(&rc);
	if (rv != HERD_OK) {
		cmp_report_free(r);
		return rv;
	}
	*out = r;
	return HERD_OK;
}

void cmp_report_free(cmp_report *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->rows[i].series);
		free(r->rows[i].scenario);
		free(r->rows[i].name);
	}
	for (size_t i = 0; i < r->nunmatched; i++)
		free(r->unmatched[i]);
	free(r->unmatched);
	free(r->rows);
	free(r);
}

/* A figure as shown: ms with 3 digits, rates with 1, error rates in %. */
static void fmt_value(char *buf, size_t len, const cmp_row *row, double v)
{
	if (strcmp(row->figure, "error rate") == 0)
		snprintf(buf, len, "%.2f%%", v * 100.0);
	else if (row->figure[0] == 'p')
		snprintf(buf, len, "%.3fms", v);
	else
		snprintf(buf, len, "%.1f/s", v);
}

static void fmt_delta(char *buf, size_t len, const cmp_row *row)
{
	if (strcmp(row->figure, "error rate") == 0)
		snprintf(buf, len, "%+.2fpt", row->delta * 100.0);
	else if (isinf(row->delta))
		snprintf(buf, len, "new");
	else
		snprintf(buf, len, "%+.1f%%", row->delta * 100.0);
}

static int print_json(const cmp_report *r, const char *base, const char *cand, const cmp_opts *o,
                      FILE *out)
{
	json_t *root = json_pack("{s:s, s:s, s:f, s:f, s:i}", "base", base, "candidate", cand,
	                         "min_effect", o->min_effect, "alpha", o->alpha, "min_intervals",
	                         (json_int_t)o->min_intervals);
	json_t *rows = json_array(), *un = json_array(), *counts = json_object();
	if (root == NULL || rows == NULL || un == NULL || counts == NULL) {
		json_decref(root);
		json_decref(rows);
		json_decref(un);
		json_decref(counts);
		return HERD_ENOMEM;
	}
	for (size_t i = 0; i < r->n; i++) {
		const cmp_row *row = &r->rows[i];
		json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:f, s:f, s:f, s:f, s:i, s:i, s:s}", "metric",
		                      row->series, "scenario", row->scenario, "name", row->name, "figure",
		                      row->figure, "base", row->base, "candidate", row->cand, "p",
		                      row->p, "p_adjusted", row->p_adj, "base_windows", (json_int_t)row->nbase,
		                      "candidate_windows", (json_int_t)row->ncand, "verdict",
		                      cmp_verdict_name(row->verdict));
		if (j != NULL && !isinf(row->delta))
			json_object_set_new(j, "delta", json_real(row->delta));
		json_array_append_new(rows, j);
	}
	for (size_t i = 0; i < r->nunmatched; i++)
		json_array_append_new(un, json_string(r->unmatched[i]));
	for (int v = 0; v < 4; v++)
		json_object_set_new(counts, cmp_verdict_name((cmp_verdict)v),
		                    json_integer((json_int_t)r->count[v]));
	json_object_set_new(root, "rows", rows);
	json_object_set_new(root, "unmatched", un);
	json_object_set_new(root, "verdicts", counts);
	json_object_set_new(root, "regression", json_boolean(r->count[CMP_REGRESSION] > 0));
	int rv = json_dumpf(root, out, JSON_INDENT(2)) == 0 && fputc('\n', out) != EOF ? HERD_OK
	                                                                              : HERD_EIO;
	json_decref(root);
	return rv;
}

int cmp_print(const cmp_report *r, const char *base, const char *cand, const cmp_opts *o,
              cmp_format fmt, FILE *out)
{
	if (fmt == CMP_JSON)
		return print_json(r, base, cand, o, out);
	int md = fmt == CMP_MARKDOWN;
	size_t ws = 8, wn = 4;
	for (size_t i = 0; i < r->n; i++) {
		size_t a = strlen(r->rows[i].scenario), b = strlen(r->rows[i].name);
		ws = a > ws ? a : ws;
		wn = b > wn ? b : wn;
	}
	int w = 0;
	if (md)
		w |= fprintf(out, "### herd: `%s` (candidate) against `%s` (base)\n\n"
		                  "| scenario | step | figure | base | candidate | delta | p | verdict |\n"
		                  "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |\n",
		             cand, base) < 0;
	else
		w |= fprintf(out, "candidate %s against base %s (min effect %.0f%%, alpha %.2g; P is "
		                  "Bonferroni-adjusted over the rows)\n\n"
		                  "%-*s  %-*s  %-10s %12s %12s %9s %8s  %s\n",
		             cand, base, o->min_effect * 100.0, o->alpha, (int)ws, "SCENARIO", (int)wn,
		             "STEP", "FIGURE", "BASE", "CANDIDATE", "DELTA", "P", "VERDICT") < 0;
	for (size_t i = 0; i < r->n; i++) {
		const cmp_row *row = &r->rows[i];
		char b[32], c[32], d[32];
		fmt_value(b, sizeof(b), row, row->base);
		fmt_value(c, sizeof(c), row, row->cand);
		fmt_delta(d, sizeof(d), row);
		const char *v = cmp_verdict_name(row->verdict);
		if (md)
			w |= fprintf(out, "| %s | %s | %s | %s | %s | %s | %.3g | %s%s%s |\n", row->scenario,
			             row->name, row->figure, b, c, d, row->p_adj,
			             row->verdict == CMP_REGRESSION ? "**" : "", v,
			             row->verdict == CMP_REGRESSION ? "**" : "") < 0;
		else
			w |= fprintf(out, "%-*s  %-*s  %-10s %12s %12s %9s %8.3g  %s\n", (int)ws,
			             row->scenario, (int)wn, row->name, row->figure, b, c, d, row->p_adj, v) < 0;
	}
	if (r->nunmatched > 0) {
		w |= fprintf(out, md ? "\nNot compared (in one run only):\n\n" : "\nnot compared (in one run only):\n") < 0;
		for (size_t i = 0; i < r->nunmatched; i++)
			w |= fprintf(out, md ? "- %s\n" : "  %s\n", r->unmatched[i]) < 0;
	}
	w |= fprintf(out, "\n%s%zu regression%s, %zu improvement%s, %zu inconclusive, %zu pass\n",
	             md ? "**verdict:** " : "verdict: ", r->count[CMP_REGRESSION],
	             r->count[CMP_REGRESSION] == 1 ? "" : "s", r->count[CMP_IMPROVEMENT],
	             r->count[CMP_IMPROVEMENT] == 1 ? "" : "s", r->count[CMP_INCONCLUSIVE],
	             r->count[CMP_PASS]) < 0;
	return w ? HERD_EIO : HERD_OK;
}
