/*
 * The HTML report; see report.h. The run is read metric by metric in
 * interval order, so one interval's rows (every agent, step and status
 * class) are merged into one histogram before its percentiles are taken.
 * Per-interval figures go into growable arrays; charts are drawn as inline
 * SVG polylines, thinned to at most MAX_POINTS points each (a bucket keeps
 * its largest value, so a spike is never averaged away).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/err.h"
#include "common/hist.h"
#include "common/metric.h"
#include "common/plan.h"
#include "common/threshold.h"
#include "common/knee.h"
#include "common/usl.h"
#include "controller/capacity.h"
#include "controller/export.h"
#include "controller/report.h"

#define MAX_POINTS 1200
#define MAX_AGENTS 12
#define MAX_LIMITS 8
#define MAX_MARKERS 64

typedef struct darr {
	double *v;
	size_t n;
} darr;

/* v[t] += x, growing (zero-filled) as needed. */
static int darr_add(darr *d, size_t t, double x)
{
	if (t >= d->n) {
		size_t n = t + 1 > d->n * 2 ? t + 1 : d->n * 2;
		double *nv = realloc(d->v, n * sizeof(double));
		if (nv == NULL)
			return HERD_ENOMEM;
		memset(nv + d->n, 0, (n - d->n) * sizeof(double));
		d->v = nv;
		d->n = n;
	}
	d->v[t] += x;
	return HERD_OK;
}

/* A threshold drawn on a latency chart. */
typedef struct limit {
	char label[160];
	double pct, value; /* p(pct) against value ms */
	th_op op;
	long first_breach; /* interval index, -1: never */
	int ws;            /* on the WebSocket RTT chart */
} limit;

typedef struct marker {
	double at_s;
	char label[200];
} marker;

#define MAX_BANDS 32

/* A stage of the plan's first ramping scenario, drawn behind every chart. */
typedef struct band {
	double from_s, to_s;
	char label[48];
} band;

typedef struct rep {
	store *st;
	const char *run_id;
	store_run info;
	double ilen_s;
	size_t T; /* intervals */
	darr by_class[6]; /* requests/s by status class: no response, 1xx..5xx */
	darr p50, p95, p99, errs[ERRK__N], vus, dropped, rtt50, rtt95, ws_sessions;
	darr agent_rate[MAX_AGENTS], agent_cpu[MAX_AGENTS], agent_mem[MAX_AGENTS];
	char agent_id[MAX_AGENTS][192], agent_name[MAX_AGENTS][128];
	int nagents, more_agents;
	limit lim[MAX_LIMITS];
	int nlim;
	marker mk[MAX_MARKERS];
	int nmk;
	band bands[MAX_BANDS];
	int nbands;
	char bands_scenario[64];
	plan *plan; /* the stored plan parsed again, NULL when it could not be */
	int64_t t0; /* time zero: the load's start (ms since the epoch) */
	/* the pass being read */
	hist *h;
	long cur_t;
	int ws_pass;
	darr *lo, *mid, *hi; /* where the pass's percentiles go */
	FILE *out;
} rep;

static size_t slot(rep *r, int64_t interval_ms)
{
	size_t t = (size_t)((double)interval_ms / 1000.0 / r->ilen_s + 0.5);
	if (t + 1 > r->T)
		r->T = t + 1;
	return t;
}

static int agent_index(rep *r, const char *id)
{
	for (int i = 0; i < r->nagents; i++)
		if (strcmp(r->agent_id[i], id) == 0)
			return i;
	if (r->nagents == MAX_AGENTS) {
		r->more_agents = 1;
		return -1;
	}
	int i = r->nagents++;
	snprintf(r->agent_id[i], sizeof(r->agent_id[i]), "%s", id);
	if (store_agent_name(r->st, r->run_id, id, r->agent_name[i], sizeof(r->agent_name[i])) != 0)
		snprintf(r->agent_name[i], sizeof(r->agent_name[i]), "%s", id);
	return i;
}

/* Ends the interval whose histogram is being merged. */
static int flush_hist(rep *r)
{
	int rv = HERD_OK;
	if (r->cur_t < 0 || r->h->total == 0)
		return HERD_OK;
	size_t t = (size_t)r->cur_t;
	rv |= darr_add(r->lo, t, (double)hist_percentile(r->h, 50) / 1000.0);
	rv |= darr_add(r->mid, t, (double)hist_percentile(r->h, 95) / 1000.0);
	if (r->hi != NULL)
		rv |= darr_add(r->hi, t, (double)hist_percentile(r->h, 99) / 1000.0);
	for (int i = 0; i < r->nlim; i++) {
		limit *l = &r->lim[i];
		if (l->ws != r->ws_pass || l->first_breach >= 0)
			continue;
		double v = (double)hist_percentile(r->h, l->pct) / 1000.0;
		if (!th_compare(l->op, v, l->value))
			l->first_breach = (long)t;
	}
	hist_init(r->h);
	return rv ? HERD_ENOMEM : HERD_OK;
}

static int on_row(void *arg, const char *agent_id, int64_t interval_ms, const wire_entry *e)
{
	rep *r = arg;
	size_t t = slot(r, interval_ms);
	int rv = HERD_OK;
	const char *m = e->metric;
	if (strcmp(m, "http_req_duration") == 0 || strcmp(m, "ws_msg_rtt") == 0) {
		if ((long)t != r->cur_t) {
			if ((rv = flush_hist(r)) != 0)
				return rv;
			r->cur_t = (long)t;
		}
		if (e->h != NULL)
			hist_merge(r->h, e->h);
	}
	if (strcmp(m, "http_req_duration") == 0) {
		unsigned c = e->status_class <= 5 ? e->status_class : 0;
		rv |= darr_add(&r->by_class[c], t, (double)e->count / r->ilen_s);
		int a = agent_index(r, agent_id);
		if (a >= 0)
			rv |= darr_add(&r->agent_rate[a], t, (double)e->count / r->ilen_s);
	}
	if (strcmp(m, "http_req_duration") == 0 || strcmp(m, "ws_sessions") == 0)
		for (int k = 0; k < ERRK__N; k++)
			if (e->errors[k] > 0)
				rv |= darr_add(&r->errs[k], t, (double)e->errors[k] / r->ilen_s);
	if (strcmp(m, "ws_sessions") == 0)
		rv |= darr_add(&r->ws_sessions, t, (double)e->count / r->ilen_s);
	else if (strcmp(m, "vus") == 0)
		rv |= darr_add(&r->vus, t, (double)e->gauge);
	else if (strcmp(m, "dropped_iterations") == 0)
		rv |= darr_add(&r->dropped, t, (double)e->count / r->ilen_s);
	else if (strcmp(m, "agent_cpu") == 0 || strcmp(m, "agent_rss_kb") == 0) {
		/* One row per agent and interval: a gauge, not a sum. */
		int a = agent_index(r, agent_id);
		if (a >= 0 && m[6] == 'c')
			rv |= darr_add(&r->agent_cpu[a], t, (double)e->gauge / 10.0);
		else if (a >= 0)
			rv |= darr_add(&r->agent_mem[a], t, (double)e->gauge / 1024.0);
	}
	return rv ? HERD_ENOMEM : HERD_OK;
}

/* ---- writing ---- */

static double nice_max(double v)
{
	if (v <= 0)
		return 1;
	double p = pow(10, floor(log10(v)));
	double steps[] = { 1, 2, 2.5, 5, 10 };
	for (int i = 0; i < 5; i++)
		if (v <= steps[i] * p)
			return steps[i] * p;
	return 10 * p;
}

typedef struct line {
	const char *name;
	const char *color;
	const darr *d;
} line;

#define W 960
#define H 240
#define ML 64
#define MR 16
#define MT 12
#define MB 28

static const char *const palette[] = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
	                                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
	                                   "#393b79", "#637939" };

static int has_data(const darr *d)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i] != 0)
			return 1;
	return 0;
}

/* One chart: lines over the run's intervals, limits and markers. */
/* A chart's horizontal grid: five lines from ymax at the top down to 0,
 * each labelled with its value on the left axis. */
static void grid(FILE *o, double ymax)
{
	for (int g = 0; g <= 4; g++) {
		double y = MT + (double)(H - MT - MB) * g / 4.0;
		fprintf(o, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"grid\"/>"
		           "<text x=\"%d\" y=\"%.1f\" class=\"yl\">%g</text>",
		        ML, y, W - MR, y, ML - 6, y + 4, ymax * (4 - g) / 4.0);
	}
}

static void chart(rep *r, const char *id, const char *title, const char *unit, const line *ls,
                  int nl, int ws_limits)
{
	FILE *o = r->out;
	size_t T = r->T > 1 ? r->T : 2;
	size_t step = (T + MAX_POINTS - 1) / MAX_POINTS;
	double ymax = 0;
	int any = 0;
	for (int i = 0; i < nl; i++) {
		any |= has_data(ls[i].d);
		for (size_t t = 0; t < ls[i].d->n; t++)
			ymax = fmax(ymax, ls[i].d->v[t]);
	}
	for (int i = 0; i < r->nlim; i++)
		if (ws_limits >= 0 && r->lim[i].ws == ws_limits)
			ymax = fmax(ymax, r->lim[i].value * 1.1);
	if (!any)
		return;
	ymax = nice_max(ymax);
	double secs = (double)(T - 1) * r->ilen_s;
	fprintf(o, "<section class=\"chart\" id=\"%s\"><h3>", id);
	export_xml_text(o, title);
	fprintf(o, " <small>(%s)</small></h3><div class=\"legend\">", unit);
	for (int i = 0; i < nl; i++) {
		if (!has_data(ls[i].d))
			continue;
		fprintf(o, "<span><i style=\"background:%s\"></i>", ls[i].color);
		export_xml_text(o, ls[i].name);
		fprintf(o, "</span>");
	}
	fprintf(o, "</div><svg viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\">", W, H, W,
	        H);
	/* stages, behind everything else */
	for (int i = 0; i < r->nbands; i++) {
		const band *b = &r->bands[i];
		double span = secs > 0 ? secs : 1;
		double x0 = ML + fmin(b->from_s, secs) / span * (W - ML - MR);
		double x1 = ML + fmin(b->to_s, secs) / span * (W - ML - MR);
		if (x1 <= x0)
			continue;
		fprintf(o, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" class=\"band%d\">"
		           "<title>", x0, MT, x1 - x0, H - MT - MB, i % 2);
		export_xml_text(o, b->label);
		fprintf(o, "</title></rect><text x=\"%.1f\" y=\"%d\" class=\"bl\">", x0 + 3, MT + 10);
		export_xml_text(o, b->label);
		fprintf(o, "</text>");
	}
	/* axes and grid */
	grid(o, ymax);
	double xstep = nice_max(secs / 8.0);
	for (double x = 0; x <= secs + 1e-9; x += xstep) {
		double px = ML + (secs > 0 ? x / secs : 0) * (W - ML - MR);
		fprintf(o, "<text x=\"%.1f\" y=\"%d\" class=\"xl\">%gs</text>", px, H - 8, x);
	}
	/* limits */
	for (int i = 0; i < r->nlim; i++) {
		const limit *l = &r->lim[i];
		if (ws_limits < 0 || l->ws != ws_limits)
			continue;
		double y = MT + (1 - l->value / ymax) * (H - MT - MB);
		fprintf(o, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"limit\"><title>",
		        ML, y, W - MR, y);
		export_xml_text(o, l->label);
		fprintf(o, "</title></line><text x=\"%d\" y=\"%.1f\" class=\"ll\">", W - MR - 4, y - 4);
		export_xml_text(o, l->label);
		if (l->first_breach >= 0)
			fprintf(o, " — first breach at %gs", (double)l->first_breach * r->ilen_s);
		fprintf(o, "</text>");
		if (l->first_breach >= 0) {
			double px = ML + (double)l->first_breach * r->ilen_s / (secs > 0 ? secs : 1) *
			                         (W - ML - MR);
			fprintf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" class=\"breach\"/>", px, y);
		}
	}
	/* markers */
	for (int i = 0; i < r->nmk; i++) {
		/* Events before the load (agents joining) sit at its start, events
		 * after its last interval (an agent found lost late) at its end. */
		double px = ML + fmin(fmax(r->mk[i].at_s, 0), secs) / (secs > 0 ? secs : 1) *
		                         (W - ML - MR);
		fprintf(o, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"marker\"><title>",
		        px, MT, px, H - MB);
		export_xml_text(o, r->mk[i].label);
		fprintf(o, "</title></line>");
	}
	/* lines */
	for (int i = 0; i < nl; i++) {
		if (!has_data(ls[i].d))
			continue;
		fprintf(o, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"",
		        ls[i].color);
		for (size_t t = 0; t < T; t += step) {
			double v = 0;
			for (size_t k = t; k < t + step && k < ls[i].d->n; k++)
				v = fmax(v, ls[i].d->v[k]);
			double px = ML + (double)t * r->ilen_s / (secs > 0 ? secs : 1) * (W - ML - MR);
			double py = MT + (1 - v / ymax) * (H - MT - MB);
			fprintf(o, "%.1f,%.1f ", px, py);
		}
		fprintf(o, "\"/>");
	}
	fprintf(o, "</svg></section>\n");
}

static void fmt_utc(char *buf, size_t len, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static int on_verdict_limit(void *arg, const store_verdict *v)
{
	rep *r = arg;
	th_metric m;
	th_expr e;
	char err[128];
	if (r->nlim == MAX_LIMITS || th_parse_metric(v->metric, &m, err, sizeof(err)) != 0 ||
	    m.ntags > 0 || th_parse_expr(v->expr, &e, err, sizeof(err)) != 0)
		return HERD_OK;
	int ws = strcmp(m.name, "ws_msg_rtt") == 0;
	if ((!ws && strcmp(m.name, "http_req_duration") != 0) || (e.agg != TH_P && e.agg != TH_MED))
		return HERD_OK;
	limit *l = &r->lim[r->nlim++];
	snprintf(l->label, sizeof(l->label), "%s %s", m.name, v->expr);
	l->pct = e.agg == TH_MED ? 50 : e.pct;
	l->value = e.value;
	l->op = e.op;
	l->first_breach = -1;
	l->ws = ws;
	return HERD_OK;
}

static int on_verdict_row(void *arg, const store_verdict *v)
{
	FILE *o = ((rep *)arg)->out;
	fprintf(o, "<tr class=\"%s\"><td>%s</td><td>", v->ok ? "ok" : "bad", v->ok ? "✓" : "✗");
	export_xml_text(o, v->metric);
	fprintf(o, "</td><td>");
	export_xml_text(o, v->expr);
	fprintf(o, "</td><td>");
	if (v->error != NULL)
		export_xml_text(o, v->error);
	else if (v->nodata)
		fprintf(o, "no data");
	else
		fprintf(o, "%.6g", v->observed);
	fprintf(o, "</td></tr>\n");
	return HERD_OK;
}

static int on_agent_row(void *arg, const store_agent *a)
{
	FILE *o = ((rep *)arg)->out;
	fprintf(o, "<tr><td>");
	export_xml_text(o, a->name != NULL ? a->name : a->agent_id);
	fprintf(o, "</td><td>");
	export_xml_text(o, a->host);
	fprintf(o, "</td><td>%u</td><td>%.3f</td><td>", a->cores, a->weight);
	export_xml_text(o, a->status);
	fprintf(o, "</td><td>%.1f%%</td><td>%.1f MB</td></tr>\n", a->cpu_pct,
	        (double)a->rss_kb / 1024.0);
	return HERD_OK;
}

static int on_event(void *arg, int64_t at, const char *kind, const char *agent_id,
                    const char *message)
{
	rep *r = arg;
	FILE *o = r->out;
	if (strcmp(kind, "load_start") == 0 && o == NULL)
		r->t0 = at;
	double s = (double)(at - r->t0) / 1000.0;
	if (o == NULL) { /* the first pass: markers for the charts */
		/* Markers for what changes the picture; the bookkeeping of every run
		 * (agents joining, the start itself, labels) stays in the table. */
		static const char *const quiet[] = { "baseline", "label", "load_start", "agent_joined",
			                             "start_skew" };
		int skip = 0;
		for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++)
			skip |= strcmp(kind, quiet[i]) == 0;
		if (r->nmk < MAX_MARKERS && !skip) {
			marker *m = &r->mk[r->nmk++];
			snprintf(m->label, sizeof(m->label), "%.1fs %s%s%s", s, kind, message ? ": " : "",
			         message ? message : "");
			m->at_s = s;
		}
		return HERD_OK;
	}
	fprintf(o, "<tr><td>%.1fs</td><td>", s);
	export_xml_text(o, kind);
	fprintf(o, "</td><td>");
	export_xml_text(o, agent_id);
	fprintf(o, "</td><td>");
	export_xml_text(o, message);
	fprintf(o, "</td></tr>\n");
	return HERD_OK;
}

/* Key figures from the stored summary (the numbers `herd results show` prints). */
static void key_figures(rep *r)
{
	FILE *o = r->out;
	json_t *root = r->info.summary_json ? json_loads(r->info.summary_json, 0, NULL) : NULL;
	json_t *mets = json_object_get(root, "metrics");
	static const struct {
		const char *metric, *field, *label, *fmt;
		double scale;
	} figs[] = {
		{ "http_reqs", "count", "requests", "%.0f", 1 },
		{ "http_reqs", "rate", "requests/s", "%.1f", 1 },
		{ "http_req_duration", "med", "p50 (ms)", "%.3f", 1 },
		{ "http_req_duration", "p(95)", "p95 (ms)", "%.3f", 1 },
		{ "http_req_failed", "value", "failed", "%.2f%%", 100 },
		{ "iterations", "count", "iterations", "%.0f", 1 },
		{ "ws_sessions", "count", "WebSocket sessions", "%.0f", 1 },
		{ "ws_msg_rtt", "p(95)", "message RTT p95 (ms)", "%.3f", 1 },
		{ "dropped_iterations", "count", "dropped iterations", "%.0f", 1 },
	};
	fprintf(o, "<table class=\"figures\"><tr>");
	for (size_t i = 0; i < sizeof(figs) / sizeof(figs[0]); i++) {
		json_t *v = json_object_get(json_object_get(mets, figs[i].metric), figs[i].field);
		if (!json_is_number(v))
			continue;
		char buf[64];
		snprintf(buf, sizeof(buf), figs[i].fmt, json_number_value(v) * figs[i].scale);
		fprintf(o, "<td><b id=\"fig-%s-%s\" data-value=\"%.17g\">%s</b><span>%s</span></td>",
		        figs[i].metric, strcmp(figs[i].field, "p(95)") == 0 ? "p95" : figs[i].field,
		        json_number_value(v), buf, figs[i].label);
	}
	fprintf(o, "</tr></table>\n");
	json_decref(root);
}

static const char *const style =
        "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}"
        "h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px;border-bottom:1px "
        "solid #ddd}h3{font-size:14px;margin:12px 0 2px}small{color:#666;font-weight:normal}"
        "table{border-collapse:collapse;margin:4px 0}td,th{padding:3px 10px;border-bottom:1px "
        "solid #eee;text-align:left}th{background:#f6f6f6}"
        ".figures td{border:1px solid #ddd;text-align:center;padding:8px 14px}"
        ".figures b{display:block;font-size:18px}.figures span{color:#666;font-size:12px}"
        "tr.bad td{color:#b00}pre{background:#f8f8f8;padding:10px;overflow:auto;font-size:12px}"
        ".legend span{margin-right:14px;font-size:12px}.legend i{display:inline-block;width:10px;"
        "height:10px;margin-right:4px}svg text{font-size:11px;fill:#555}.yl{text-anchor:end}"
        ".xl{text-anchor:middle}.grid{stroke:#eee}.limit{stroke:#b00;stroke-dasharray:6 4}"
        ".ll{text-anchor:end;fill:#b00}.breach{fill:#b00}.marker{stroke:#e69500;"
        "stroke-dasharray:3 3;stroke-width:1.5}"
        ".status-passed{color:#080}.status-failed,.status-aborted,.status-error{color:#b00}"
        ".band0{fill:#f3f6fb}.band1{fill:#fbf7ef}.bl{font-size:10px;fill:#888}"
        ".level{fill:#d62728}.knee{fill:#ff7f0e;stroke:#222}";

static void capacity_section(rep *r);

static void write_page(rep *r)
{
	FILE *o = r->out;
	char started[40];
	fmt_utc(started, sizeof(started), r->info.started_at);
	fprintf(o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	           "style-src 'unsafe-inline'\"><title>herd report: ");
	export_xml_text(o, r->info.name);
	fprintf(o, " %s</title><style>%s</style></head><body>\n<h1>", r->info.id, style);
	export_xml_text(o, r->info.name);
	fprintf(o, " <small>run %s</small></h1>\n<p>status <b id=\"status\" class=\"status-%s\">%s%s</b>"
	           " · exit code %d · started %s · load %.1fs · interval %gs</p>\n",
	        r->info.id, r->info.status, r->info.status, r->info.degraded ? " (degraded)" : "",
	        r->info.exit_code, started, (double)r->info.duration_ms / 1000.0, r->ilen_s);
	key_figures(r);

	fprintf(o, "<h2>Over time</h2>\n");
	if (r->nbands > 0) {
		fprintf(o, "<p><small>Bands: the stages of scenario ");
		export_xml_text(o, r->bands_scenario);
		fprintf(o, ".</small></p>\n");
	}
	static const char *const class_names[6] = { "no response", "1xx", "2xx", "3xx", "4xx", "5xx" };
	static const char *const class_colors[6] = { "#7f7f7f", "#9467bd", "#2ca02c",
		                                     "#1f77b4", "#ff7f0e", "#d62728" };
	line ls[ERRK__N > MAX_AGENTS ? ERRK__N : MAX_AGENTS];
	int nl = 0;
	for (int c = 0; c < 6; c++)
		ls[nl++] = (line){ class_names[c], class_colors[c], &r->by_class[c] };
	chart(r, "chart-rps", "Requests per second by status class", "req/s", ls, nl, -1);
	line lat[] = { { "p50", palette[2], &r->p50 }, { "p95", palette[3], &r->p95 },
		       { "p99", palette[1], &r->p99 } };
	chart(r, "chart-latency", "Latency (http_req_duration)", "ms", lat, 3, 0);
	nl = 0;
	for (int k = 0; k < ERRK__N; k++)
		ls[nl++] = (line){ errk_name(k), palette[k % 12], &r->errs[k] };
	chart(r, "chart-errors", "Errors by kind", "per second", ls, nl, -1);
	line vus[] = { { "VUs", palette[0], &r->vus } };
	chart(r, "chart-vus", "Virtual users", "VUs", vus, 1, -1);
	line dr[] = { { "dropped iterations", palette[1], &r->dropped } };
	chart(r, "chart-dropped", "Dropped iterations", "per second", dr, 1, -1);
	line ws[] = { { "sessions started", palette[0], &r->ws_sessions } };
	chart(r, "chart-ws-sessions", "WebSocket sessions", "per second", ws, 1, -1);
	line rtt[] = { { "p50", palette[2], &r->rtt50 }, { "p95", palette[3], &r->rtt95 } };
	chart(r, "chart-ws-rtt", "WebSocket message round trip (ws_msg_rtt)", "ms", rtt, 2, 1);
	nl = 0;
	for (int a = 0; a < r->nagents; a++)
		ls[nl++] = (line){ r->agent_name[a], palette[a % 12], &r->agent_rate[a] };
	chart(r, "chart-agents", r->more_agents ? "Requests per second by agent (the first 12)"
	                                        : "Requests per second by agent",
	      "req/s", ls, nl, -1);
	for (int a = 0; a < r->nagents; a++)
		ls[a] = (line){ r->agent_name[a], palette[a % 12], &r->agent_cpu[a] };
	chart(r, "chart-agent-cpu", "CPU use by agent (100% = one core)", "%", ls, r->nagents, -1);
	for (int a = 0; a < r->nagents; a++)
		ls[a] = (line){ r->agent_name[a], palette[a % 12], &r->agent_mem[a] };
	chart(r, "chart-agent-memory", "Resident memory by agent", "MB", ls, r->nagents, -1);

	capacity_section(r);
	fprintf(o, "<h2>Thresholds</h2>\n<table id=\"thresholds\"><tr><th></th><th>metric</th>"
	           "<th>threshold</th><th>observed</th></tr>\n");
	store_each_verdict(r->st, r->run_id, on_verdict_row, r);
	fprintf(o, "</table>\n<h2>Agents</h2>\n<table id=\"agents\"><tr><th>agent</th><th>host</th>"
	           "<th>cores</th><th>weight</th><th>status</th><th>max CPU</th><th>max memory</th>"
	           "</tr>\n");
	store_each_agent(r->st, r->run_id, on_agent_row, r);
	fprintf(o, "</table>\n<h2>Events</h2>\n<table id=\"events\"><tr><th>at</th><th>kind</th>"
	           "<th>agent</th><th>message</th></tr>\n");
	store_each_event(r->st, r->run_id, on_event, r);
	/* The stored summary text, as `herd results show` prints it, and the plan. */
	fprintf(o, "</table>\n<h2>Summary</h2>\n<pre id=\"summary\">");
	export_xml_text(o, r->info.summary_text != NULL ? r->info.summary_text : "(no summary stored)");
	fprintf(o, "</pre>\n<h2>Plan</h2>\n<p>");
	export_xml_text(o, r->info.plan_file);
	fprintf(o, "</p><pre id=\"plan\">");
	export_xml_text(o, r->info.plan_text);
	fprintf(o, "</pre>\n<p><small>herd %s</small></p></body></html>\n", HERD_VERSION);
}

/* A stored plan is parsed again for its stages; the files and environment
 * values it used are not stored, so a plan that needs them shows none. */
static int no_file(void *arg, const char *name, char **data, size_t *len, char *why, size_t whylen)
{
	(void)arg;
	(void)data;
	(void)len;
	snprintf(why, whylen, "%s is not stored with the run", name);
	return -1;
}

static const char *no_env(void *arg, const char *name)
{
	(void)arg;
	(void)name;
	return NULL;
}

/* The stages of the plan's first scenario that has them, as bands. */
static void find_bands(rep *r)
{
	plan *p = NULL;
	char err[256];
	plan_io io = { no_file, no_env, NULL };
	if (r->info.plan_text == NULL ||
	    plan_parse_io(r->info.plan_text, strlen(r->info.plan_text), "plan", &io, &p, err,
	                  sizeof(err)) != HERD_OK)
		return;
	r->plan = p;
	for (size_t i = 0; i < p->nscenarios && r->nbands == 0; i++) {
		const plan_scenario *sc = &p->scenarios[i];
		double at = (double)sc->start_ms / 1000.0;
		for (size_t k = 0; k < sc->nstages && r->nbands < MAX_BANDS; k++) {
			band *b = &r->bands[r->nbands++];
			b->from_s = at;
			at += (double)sc->stages[k].duration_ms / 1000.0;
			b->to_s = at;
			if (sc->stages[k].name != NULL)
				snprintf(b->label, sizeof(b->label), "%s", sc->stages[k].name);
			else
				snprintf(b->label, sizeof(b->label), "stage %zu/%zu", k + 1, sc->nstages);
		}
		if (sc->nstages > 0)
			snprintf(r->bands_scenario, sizeof(r->bands_scenario), "%s", sc->name);
	}
}

/*
 * Capacity: the steady levels of the first ramping or breaking-point
 * scenario (controller/capacity.c: a stage whose target holds, measured
 * over its second half; or a hold the search judged),
 * their throughput against concurrency with the Universal Scalability Law
 * fitted through them, and the knee of latency against throughput. Shown
 * when there are at least three levels.
 */
static void capacity_section(rep *r)
{
	FILE *o = r->out;
	capacity_level *lv = NULL;
	size_t n = 0;
	const char *what = NULL;
	int little = 0;
	const char *windows = "";
	char err[256];
	if (r->plan == NULL || capacity_levels(r->st, r->run_id, r->plan, r->info.interval_ms, NULL,
	                                       &lv, &n, &what, &little, &windows, err, sizeof(err)) != HERD_OK ||
	    n < 3) {
		free(lv);
		return;
	}
	double *cn = malloc(n * sizeof(double)), *cx = malloc(n * sizeof(double)),
	       *lat = malloc(n * sizeof(double));
	usl_fit fit;
	int have_fit = 0;
	size_t knee = n;
	if (cn != NULL && cx != NULL && lat != NULL) {
		for (size_t i = 0; i < n; i++) {
			cn[i] = lv[i].vus;
			cx[i] = lv[i].throughput;
			lat[i] = lv[i].p95_ms;
		}
		have_fit = usl_fit_points(cn, cx, n, &fit, err, sizeof(err)) == HERD_OK;
		int increasing = 1;
		for (size_t i = 1; i < n; i++)
			increasing &= cx[i] > cx[i - 1];
		if (increasing && knee_find(cx, lat, n, 1.0, &knee, err, sizeof(err)) != HERD_OK)
			knee = n;
	}
	fprintf(o, "<h2>Capacity</h2>\n<p>Steady levels (%s), "
	           "%s per second against %s.</p>\n", windows,
	        what != NULL && strcmp(what, "iterations") == 0 ? "iterations" : "requests",
	        little ? "concurrency by Little's law" : "VUs");
	/* The chart: points and the fitted curve, concurrency on x. */
	double nmax = 0, xmax = 0;
	for (size_t i = 0; i < n; i++) {
		nmax = fmax(nmax, lv[i].vus);
		xmax = fmax(xmax, lv[i].throughput);
	}
	nmax = nice_max(nmax * 1.1);
	if (have_fit)
		for (int k = 0; k <= 60; k++)
			xmax = fmax(xmax, usl_eval(&fit, nmax * k / 60.0));
	xmax = nice_max(xmax);
	fprintf(o, "<section class=\"chart\" id=\"chart-capacity\"><svg viewBox=\"0 0 %d %d\" "
	           "width=\"%d\" height=\"%d\" role=\"img\">", W, H, W, H);
	grid(o, xmax);
	for (int g = 0; g <= 4; g++)
		fprintf(o, "<text x=\"%.1f\" y=\"%d\" class=\"xl\">%g</text>",
		        ML + (W - ML - MR) * g / 4.0, H - 8, nmax * g / 4.0);
#define PX(v) (ML + (v) / nmax * (W - ML - MR))
#define PY(v) (MT + (1 - (v) / xmax) * (H - MT - MB))
	if (have_fit) {
		fprintf(o, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" "
		           "class=\"usl\" points=\"", palette[0]);
		for (int k = 0; k <= 120; k++) {
			double cnk = nmax * k / 120.0;
			fprintf(o, "%.1f,%.1f ", PX(cnk), PY(usl_eval(&fit, cnk)));
		}
		fprintf(o, "\"/>");
	}
	for (size_t i = 0; i < n; i++)
		fprintf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%d\" class=\"level%s\">"
		           "<title>%g: %.1f/s</title></circle>",
		        PX(lv[i].vus), PY(lv[i].throughput), i == knee ? 6 : 4, i == knee ? " knee" : "",
		        lv[i].vus, lv[i].throughput);
#undef PX
#undef PY
	fprintf(o, "</svg></section>\n");
	if (have_fit)
		fprintf(o, "<p id=\"usl\">Universal Scalability Law: &lambda; = %.4g, &sigma; = %.4g, "
		           "&kappa; = %.4g, R&sup2; = %.4f; peak %.1f/s at a concurrency of %.1f.</p>\n",
		        fit.lambda, fit.sigma, fit.kappa, fit.r2, fit.x_peak, fit.n_star);
	else
		fprintf(o, "<p>No USL fit: %s</p>\n", err);
	fprintf(o, "<table id=\"levels\"><tr><th>concurrency</th><th>throughput</th>"
	           "<th>mean (ms)</th><th>p95 (ms)</th><th>errors</th><th></th></tr>\n");
	for (size_t i = 0; i < n; i++)
		fprintf(o, "<tr><td>%g</td><td>%.1f/s</td><td>%.3f</td><td>%.3f</td><td>%llu</td>"
		           "<td>%s</td></tr>\n",
		        lv[i].vus, lv[i].throughput, lv[i].mean_ms, lv[i].p95_ms,
		        (unsigned long long)lv[i].errors, i == knee ? "knee" : "");
	fprintf(o, "</table>\n");
	free(cn);
	free(cx);
	free(lat);
	free(lv);
}

int report_write(store *st, const char *run_id, FILE *out, char *err, size_t errlen)
{
	rep *r = calloc(1, sizeof(*r));
	int rv;
	if (r == NULL)
		return HERD_ENOMEM;
	r->st = st;
	r->run_id = run_id;
	r->cur_t = -1;
	if ((rv = store_run_get(st, run_id, &r->info)) != HERD_OK) {
		snprintf(err, errlen, "%s", store_errmsg(st));
		free(r);
		return rv;
	}
	r->ilen_s = (r->info.interval_ms > 0 ? r->info.interval_ms : 1000) / 1000.0;
	if ((r->h = hist_new()) == NULL) {
		rv = HERD_ENOMEM;
		goto done;
	}
	/* Limits first (their breaches are found while reading), events for markers. */
	r->t0 = r->info.started_at; /* until a load_start event says better */
	find_bands(r);
	if ((rv = store_each_verdict(st, run_id, on_verdict_limit, r)) != 0 ||
	    (rv = store_each_event(st, run_id, on_event, r)) != 0)
		goto fail_store;
	static const char *const passes[] = { "http_req_duration", "ws_msg_rtt", "ws_sessions",
		                              "vus", "dropped_iterations", "agent_cpu",
		                              "agent_rss_kb" };
	for (size_t i = 0; i < sizeof(passes) / sizeof(passes[0]); i++) {
		r->cur_t = -1;
		r->ws_pass = i == 1;
		r->lo = i == 1 ? &r->rtt50 : &r->p50;
		r->mid = i == 1 ? &r->rtt95 : &r->p95;
		r->hi = i == 1 ? NULL : &r->p99;
		hist_init(r->h);
		if ((rv = store_each_interval(st, run_id, passes[i], STORE_BY_INTERVAL, on_row, r)) != 0 ||
		    (rv = flush_hist(r)) != 0)
			goto fail_store;
	}
	r->out = out;
	write_page(r);
	if (ferror(out) || fflush(out) != 0) {
		rv = HERD_EIO;
		snprintf(err, errlen, "writing failed");
	}
	goto done;
fail_store:
	snprintf(err, errlen, "%s", rv == HERD_ENOMEM ? "out of memory" : store_errmsg(st));
done:
	for (int c = 0; c < 6; c++)
		free(r->by_class[c].v);
	for (int k = 0; k < ERRK__N; k++)
		free(r->errs[k].v);
	for (int a = 0; a < MAX_AGENTS; a++) {
		free(r->agent_rate[a].v);
		free(r->agent_cpu[a].v);
		free(r->agent_mem[a].v);
	}
	free(r->p50.v);
	free(r->p95.v);
	free(r->p99.v);
	free(r->vus.v);
	free(r->dropped.v);
	free(r->rtt50.v);
	free(r->rtt95.v);
	free(r->ws_sessions.v);
	hist_free(r->h);
	plan_free(r->plan);
	store_run_fini(&r->info);
	free(r);
	return rv;
}
