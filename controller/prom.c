/* Prometheus exposition of merged results; see prom.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hist.h"
#include "common/metric.h"
#include "controller/prom.h"

/* A counter family: which series feed it and what of them it counts. */
typedef enum what { W_COUNT, W_FAILED, W_BYTES_IN, W_BYTES_OUT } what;
typedef struct family {
	const char *name, *help, *source1, *source2;
	what w;
} family;

static const family counters[] = {
	{ "herd_http_reqs_total", "HTTP requests completed (k6: http_reqs)", "http_req_duration", NULL,
	  W_COUNT },
	{ "herd_http_req_failed_total", "HTTP requests that failed: no response or an error status "
	  "(k6: http_req_failed)", "http_req_duration", NULL, W_FAILED },
	{ "herd_data_received_bytes_total", "Bytes received (k6: data_received)", "http_req_duration",
	  "ws_sessions", W_BYTES_IN },
	{ "herd_data_sent_bytes_total", "Bytes sent (k6: data_sent)", "http_req_duration",
	  "ws_sessions", W_BYTES_OUT },
	{ "herd_iterations_total", "Iterations completed (k6: iterations)", "iterations", NULL,
	  W_COUNT },
	{ "herd_dropped_iterations_total", "Iterations not started: no VU was free (k6: "
	  "dropped_iterations)", "dropped_iterations", NULL, W_COUNT },
	{ "herd_ws_sessions_total", "WebSocket sessions (k6: ws_sessions)", "ws_sessions", NULL,
	  W_COUNT },
	{ "herd_ws_msgs_sent_total", "WebSocket messages sent (k6: ws_msgs_sent)", "ws_msgs_sent",
	  NULL, W_COUNT },
	{ "herd_ws_msgs_received_total", "WebSocket messages received (k6: ws_msgs_received)",
	  "ws_msgs_received", NULL, W_COUNT },
};

/* Summaries: from which series, in seconds. */
static const struct {
	const char *name, *help, *source;
} summaries[] = {
	{ "herd_http_req_duration_seconds", "HTTP request duration (k6: http_req_duration)",
	  "http_req_duration" },
	{ "herd_iteration_duration_seconds", "Iteration duration (k6: iteration_duration)",
	  "iterations" },
	{ "herd_ws_msg_rtt_seconds", "WebSocket message round trip (herd: ws_msg_rtt)", "ws_msg_rtt" },
	{ "herd_ws_connecting_seconds", "WebSocket connect and upgrade (k6: ws_connecting)",
	  "ws_connecting" },
};

static const double quantiles[] = { 0.5, 0.9, 0.95, 0.99 };

/* A label value with '\\', '"' and newlines escaped, as the format asks. */
static void label_value(sbuf *b, const char *v)
{
	for (; v != NULL && *v; v++) {
		if (*v == '\\' || *v == '"')
			sbuf_printf(b, "\\%c", *v);
		else if (*v == '\n')
			sbuf_str(b, "\\n");
		else
			sbuf_add(b, v, 1);
	}
}

/* A tag key as a label name: [a-zA-Z_][a-zA-Z0-9_]*, others replaced by '_'. */
static void label_name(sbuf *b, const char *k, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = k[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		         (i > 0 && c >= '0' && c <= '9');
		sbuf_add(b, ok ? &c : "_", 1);
	}
}

static const char *const classes[] = { "", "1xx", "2xx", "3xx", "4xx", "5xx", "6xx", "7xx", "8xx", "9xx" };

/* {scenario="...",name="...",...} of a series; with_agent adds agent;
 * extra (NULL: none) is one more label already formatted `k="v"`. */
static const char *agent_name(const prom_names *nm, const char *id)
{
	for (size_t i = 0; nm != NULL && i < nm->n; i++)
		if (strcmp(nm->ids[i], id) == 0)
			return nm->names[i];
	return id;
}

static void labels(sbuf *b, const res_series_view *v, const prom_names *nm, int with_agent,
                   const char *extra)
{
	const char *sep = "";
	/* A check's name is its `check` label, as k6's. */
	const char *name_key = strcmp(v->metric, "checks") == 0 ? "check" : "name";
	sbuf_str(b, "{");
#define LBL(k, val)                                          \
	do {                                                     \
		if ((val) != NULL && *(val)) {                       \
			sbuf_printf(b, "%s%s=\"", sep, k);               \
			label_value(b, val);                             \
			sbuf_str(b, "\"");                               \
			sep = ",";                                       \
		}                                                    \
	} while (0)
	LBL("scenario", v->scenario);
	LBL(name_key, v->name);
	LBL("method", v->method);
	if (v->status_class < 10)
		LBL("status", classes[v->status_class]);
	if (with_agent)
		LBL("agent", agent_name(nm, v->agent));
#undef LBL
	for (const char *p = v->tags; p != NULL && *p;) {
		const char *nl = strchr(p, '\n'), *end = nl != NULL ? nl : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(end - p));
		if (eq != NULL && eq > p) {
			sbuf_str(b, sep);
			label_name(b, p, (size_t)(eq - p));
			sbuf_str(b, "=\"");
			char val[256];
			snprintf(val, sizeof(val), "%.*s", (int)(end - eq - 1), eq + 1);
			label_value(b, val);
			sbuf_str(b, "\"");
			sep = ",";
		}
		p = nl != NULL ? nl + 1 : end;
	}
	if (extra != NULL)
		sbuf_printf(b, "%s%s", sep, extra);
	sbuf_str(b, "}");
}

typedef struct ctx {
	sbuf *out;
	const prom_names *nm;
	const family *f;
	const char *metric; /* summaries: the series wanted */
	const res_series_view **views;
	size_t n, cap;
	int oom;
} ctx;

static int counter_row(void *arg, const res_series_view *v)
{
	ctx *c = arg;
	const family *f = c->f;
	if (strcmp(v->metric, f->source1) != 0 && (f->source2 == NULL || strcmp(v->metric, f->source2) != 0))
		return 0;
	uint64_t x = v->count;
	if (f->w == W_FAILED) {
		uint64_t failed = 0;
		for (int k = 0; k < ERRK__N; k++)
			if (k != ERRK_CHECK)
				failed += v->errors[k];
		x = failed < v->count ? failed : v->count;
	} else if (f->w == W_BYTES_IN) {
		x = v->bytes_in;
	} else if (f->w == W_BYTES_OUT) {
		x = v->bytes_out;
	}
	sbuf_str(c->out, f->name);
	labels(c->out, v, c->nm, 1, NULL);
	sbuf_printf(c->out, " %llu\n", (unsigned long long)x);
	return 0;
}

static int checks_row(void *arg, const res_series_view *v)
{
	ctx *c = arg;
	if (strcmp(v->metric, "checks") != 0)
		return 0;
	uint64_t bad = v->errors[ERRK_CHECK] < v->count ? v->errors[ERRK_CHECK] : v->count;
	for (int pass = 1; pass >= 0; pass--) {
		sbuf_str(c->out, "herd_checks_total");
		labels(c->out, v, c->nm, 1, pass ? "result=\"pass\"" : "result=\"fail\"");
		sbuf_printf(c->out, " %llu\n", (unsigned long long)(pass ? v->count - bad : bad));
	}
	return 0;
}

static int errors_row(void *arg, const res_series_view *v)
{
	ctx *c = arg;
	char extra[64];
	for (int k = 0; k < ERRK__N; k++) {
		if (v->errors[k] == 0)
			continue;
		snprintf(extra, sizeof(extra), "kind=\"%s\"", errk_name(k));
		sbuf_str(c->out, "herd_errors_total");
		labels(c->out, v, c->nm, 1, extra);
		sbuf_printf(c->out, " %llu\n", (unsigned long long)v->errors[k]);
	}
	return 0;
}

static int gauge_row(void *arg, const res_series_view *v)
{
	ctx *c = arg;
	if (strcmp(v->metric, c->metric) != 0 || !v->is_gauge)
		return 0;
	sbuf_printf(c->out, "herd_%s", c->metric);
	labels(c->out, v, c->nm, 1, NULL);
	sbuf_printf(c->out, " %lld\n", (long long)v->gauge_last);
	return 0;
}

static int collect(void *arg, const res_series_view *v)
{
	ctx *c = arg;
	if (strcmp(v->metric, c->metric) != 0 || v->h == NULL)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		const res_series_view **nv = realloc(c->views, cap * sizeof(*nv));
		if (nv == NULL) {
			c->oom = 1;
			return HERD_ENOMEM;
		}
		c->views = nv;
		c->cap = cap;
	}
	res_series_view *copy = malloc(sizeof(*copy));
	if (copy == NULL) {
		c->oom = 1;
		return HERD_ENOMEM;
	}
	*copy = *v;
	c->views[c->n++] = copy;
	return 0;
}

static int cmpstr(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "");
}

/* Orders views by their labels without the agent, so one summary's series
 * from every agent are neighbours. */
static int cmp_view(const void *x, const void *y)
{
	const res_series_view *a = *(const res_series_view *const *)x;
	const res_series_view *b = *(const res_series_view *const *)y;
	int d;
	if ((d = cmpstr(a->scenario, b->scenario)) || (d = cmpstr(a->name, b->name)) ||
	    (d = cmpstr(a->method, b->method)) || (d = cmpstr(a->tags, b->tags)))
		return d;
	return (a->status_class > b->status_class) - (a->status_class < b->status_class);
}

static int summary_family(ctx *c, const results *r, hist *h, size_t i)
{
	c->metric = summaries[i].source;
	c->n = 0;
	if (results_each_series(r, collect, c) != 0 || c->oom)
		return HERD_ENOMEM;
	if (c->n == 0)
		return HERD_OK;
	qsort(c->views, c->n, sizeof(*c->views), cmp_view);
	sbuf_printf(c->out, "# HELP %s %s\n# TYPE %s summary\n", summaries[i].name, summaries[i].help,
	            summaries[i].name);
	for (size_t a = 0; a < c->n;) {
		size_t b = a;
		hist_init(h);
		while (b < c->n && cmp_view(&c->views[a], &c->views[b]) == 0)
			hist_merge(h, c->views[b++]->h);
		for (size_t q = 0; q < sizeof(quantiles) / sizeof(quantiles[0]); q++) {
			char extra[32];
			snprintf(extra, sizeof(extra), "quantile=\"%g\"", quantiles[q]);
			sbuf_str(c->out, summaries[i].name);
			labels(c->out, c->views[a], c->nm, 0, extra);
			sbuf_printf(c->out, " %.6f\n", (double)hist_percentile(h, quantiles[q] * 100) / 1e6);
		}
		sbuf_printf(c->out, "%s_sum", summaries[i].name);
		labels(c->out, c->views[a], c->nm, 0, NULL);
		sbuf_printf(c->out, " %.6f\n", (double)h->sum / 1e6);
		sbuf_printf(c->out, "%s_count", summaries[i].name);
		labels(c->out, c->views[a], c->nm, 0, NULL);
		sbuf_printf(c->out, " %llu\n", (unsigned long long)h->total);
		a = b;
	}
	for (size_t k = 0; k < c->n; k++)
		free((void *)c->views[k]);
	return HERD_OK;
}

int prom_render(const results *r, const char *run_id, const char *plan, const prom_names *nm,
                sbuf *out)
{
	ctx c = { .out = out, .nm = nm };
	hist *h = hist_new();
	int rv = HERD_OK;
	if (h == NULL)
		return HERD_ENOMEM;
	sbuf_str(out, "# HELP herd_run_info The run being measured.\n# TYPE herd_run_info gauge\n"
	              "herd_run_info{run_id=\"");
	label_value(out, run_id);
	sbuf_str(out, "\",plan=\"");
	label_value(out, plan);
	sbuf_str(out, "\"} 1\n");
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		c.f = &counters[i];
		sbuf_printf(out, "# HELP %s %s\n# TYPE %s counter\n", counters[i].name, counters[i].help,
		            counters[i].name);
		results_each_series(r, counter_row, &c);
	}
	sbuf_str(out, "# HELP herd_checks_total Checks by result (k6: checks)\n"
	              "# TYPE herd_checks_total counter\n");
	results_each_series(r, checks_row, &c);
	sbuf_str(out, "# HELP herd_errors_total Failures by kind\n# TYPE herd_errors_total counter\n");
	results_each_series(r, errors_row, &c);
	static const char *const gauges[] = { "vus", "vus_max" };
	for (size_t i = 0; i < 2; i++) {
		c.metric = gauges[i];
		sbuf_printf(out, "# HELP herd_%s Virtual users at the latest interval (k6: %s)\n"
		                 "# TYPE herd_%s gauge\n", gauges[i], gauges[i], gauges[i]);
		results_each_series(r, gauge_row, &c);
	}
	for (size_t i = 0; i < sizeof(summaries) / sizeof(summaries[0]) && rv == 0; i++)
		rv = summary_family(&c, r, h, i);
	for (size_t k = 0; rv != 0 && k < c.n; k++)
		free((void *)c.views[k]);
	free(c.views);
	hist_free(h);
	return rv != 0 || out->oom ? HERD_ENOMEM : HERD_OK;
}
