/*
 * End-of-run summary: see summary.h. The text follows k6's layout (metric
 * names padded with dots, trends as avg/min/med/max/p(90)/p(95)/p(99),
 * durations auto-scaled, bytes in SI units) so a k6 user reads it at once;
 * the JSON follows k6's --summary-export. Rates per second are taken over
 * the whole run (results_duration_ms), for scenarios and steps too.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hdrv.h"
#include "controller/summary.h"
#include "controller/table.h"

#define NAME_WIDTH_MIN 31

/* The series counting the close codes of abnormal ws closes: a breakdown of
 * ws_sessions' ws_closed_abnormally errors, shown with them rather than as a
 * metric of its own. */
#define WS_CLOSE_CODES "ws_close_codes"

/* Shared state of one summary: the aggregate is reused by every query
 * because it embeds a whole histogram. */
typedef struct ctx {
	const results *r;
	const summary_info *info;
	res_agg *a;
	double dur_s;
	int oom; /* JSON building ran out of memory */
} ctx;

/* A small growable list of borrowed strings. */
typedef struct strlist {
	const char **v;
	size_t n, cap;
} strlist;

static int strlist_add(strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return HERD_OK;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		const char **v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL)
			return HERD_ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = s;
	return HERD_OK;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Formatting. */

/* Prints v with dec decimals and strips trailing zeros ("12.30" -> "12.3"). */
static const char *fmt_num(double v, int dec, char *buf, size_t len)
{
	snprintf(buf, len, "%.*f", dec, v);
	if (strchr(buf, '.') != NULL) {
		char *e = buf + strlen(buf) - 1;
		while (*e == '0')
			*e-- = '\0';
		if (*e == '.')
			*e = '\0';
	}
	return buf;
}

const char *summary_fmt_duration(double us, char *buf, size_t len)
{
	char n[48];
	if (us < 0)
		us = 0;
	if (us < 1000) {
		snprintf(buf, len, "%sµs", fmt_num(us, 2, n, sizeof(n)));
	} else if (us < 1e6) {
		snprintf(buf, len, "%sms", fmt_num(us / 1e3, 2, n, sizeof(n)));
	} else if (us < 60e6) {
		snprintf(buf, len, "%ss", fmt_num(us / 1e6, 2, n, sizeof(n)));
	} else {
		double s = floor(us / 1e6);
		long long h = (long long)(s / 3600), m = (long long)(fmod(s, 3600) / 60);
		double rest = (us - (double)(h * 3600 + m * 60) * 1e6) / 1e6;
		if (h > 0)
			snprintf(buf, len, "%lldh%lldm%ss", h, m, fmt_num(rest, 1, n, sizeof(n)));
		else
			snprintf(buf, len, "%lldm%ss", m, fmt_num(rest, 1, n, sizeof(n)));
	}
	return buf;
}

static const char *fmt_ms(double ms, char *buf, size_t len)
{
	return summary_fmt_duration(ms * 1000.0, buf, len);
}

/* SI bytes as k6 prints them: "950 B", "1.2 kB", "40 kB", "3.4 MB". */
static const char *fmt_bytes(double b, char *buf, size_t len)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
	int u = 0;
	while (b >= 1000 && u < 5) {
		b /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f B", b);
	else
		snprintf(buf, len, b < 10 ? "%.1f %s" : "%.0f %s", b, units[u]);
	return buf;
}

static const char *fmt_rate(double per_s, char *buf, size_t len)
{
	return fmt_num(per_s, per_s < 1 ? 4 : 2, buf, len);
}

/* Display width of UTF-8 text: code points, as every character used here
 * (ASCII, µ, ✓, ✗, ↳) takes one column. */
static int dwidth(const char *s)
{
	int w = 0;
	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/* Writes s and pads it to width, with one space at least after it so that
 * a value wider than its column never runs into the next. */
static void pad(FILE *f, const char *s, int width)
{
	int w = dwidth(s);
	fputs(s, f);
	do
		fputc(' ', f);
	while (++w < width);
}

/* "  ✓ name.......: " with the colon at column indent + 2 + width. */
static void put_label(FILE *f, int indent, const char *mark, const char *name, int width)
{
	for (int i = 0; i < indent; i++)
		fputc(' ', f);
	fputs(mark != NULL ? mark : "  ", f);
	fputs(name, f);
	for (int w = dwidth(name); w < width; w++)
		fputc('.', f);
	fputs(": ", f);
}

/* Queries. */

static int query(ctx *c, const char *metric, const th_tag *tags, size_t ntags)
{
	int rv = results_query(c->r, metric, tags, ntags, c->a);
	if (rv == HERD_ENOTFOUND || rv == HERD_EINVAL) {
		/* Unknown names and filters were reported by the verdicts; show
		 * them as empty here. */
		memset(c->a, 0, sizeof(*c->a));
		hist_init(&c->a->h);
		return HERD_OK;
	}
	return rv;
}

static double pct_ms(const hist *h, double p)
{
	return (double)hist_percentile(h, p) / 1000.0;
}

/* Whether the aggregate holds anything to show for a metric of type t. */
static int has_data(const char *metric, res_type t, const res_agg *a)
{
	uint64_t trues, total;
	switch (t) {
	case RES_TREND: return a->h.total > 0;
	case RES_RATE: return results_rate_counts(metric, a, &trues, &total) == 0 && total > 0;
	case RES_GAUGE: return a->has_gauge;
	case RES_COUNTER: return 1;
	}
	return 0;
}

/* Writes the value part of a metric line for the aggregate in c->a. */
static void put_value(ctx *c, FILE *f, const char *metric, res_type t)
{
	const res_agg *a = c->a;
	char b1[64], b2[64];

	if (!has_data(metric, t, a)) {
		fputs("no data\n", f);
		return;
	}
	switch (t) {
	case RES_TREND: {
		static const struct {
			const char *label;
			double p; /* < 0: avg, 0: min, 100: max */
		} cols[] = {{"avg", -1}, {"min", 0},      {"med", 50},     {"max", 100},
		            {"p(90)", 90}, {"p(95)", 95}, {"p(99)", 99}};
		for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
			double us = cols[i].p < 0 ? hist_mean(&a->h)
			                          : (double)hist_percentile(&a->h, cols[i].p);
			char item[96];
			snprintf(item, sizeof(item), "%s=%s", cols[i].label,
			         summary_fmt_duration(us, b1, sizeof(b1)));
			if (i + 1 < sizeof(cols) / sizeof(cols[0]))
				pad(f, item, 15);
			else
				fputs(item, f);
		}
		break;
	}
	case RES_RATE: {
		uint64_t trues = 0, total = 0;
		results_rate_counts(metric, a, &trues, &total);
		snprintf(b1, sizeof(b1), "%.2f%%", 100.0 * (double)trues / (double)total);
		pad(f, b1, 8);
		fprintf(f, "%llu out of %llu", (unsigned long long)trues, (unsigned long long)total);
		break;
	}
	case RES_COUNTER: {
		uint64_t v = results_counter_value(metric, a);
		double rate = c->dur_s > 0 ? (double)v / c->dur_s : 0;
		int bytes = strcmp(metric, "data_received") == 0 || strcmp(metric, "data_sent") == 0;
		if (bytes) {
			pad(f, fmt_bytes((double)v, b1, sizeof(b1)), 8);
			fprintf(f, "%s/s", fmt_bytes(rate, b2, sizeof(b2)));
		} else {
			snprintf(b1, sizeof(b1), "%llu", (unsigned long long)v);
			pad(f, b1, 8);
			fprintf(f, "%s/s", fmt_rate(rate, b2, sizeof(b2)));
		}
		break;
	}
	case RES_GAUGE:
		snprintf(b1, sizeof(b1), "%lld", (long long)a->gauge_last);
		pad(f, b1, 8);
		snprintf(b1, sizeof(b1), "min=%lld", (long long)a->gauge_min);
		pad(f, b1, 11);
		fprintf(f, "max=%lld", (long long)a->gauge_max);
		break;
	}
	fputc('\n', f);
}

/* Thresholds attached to a metric line: ✓ when all hold, ✗ when any fails,
 * NULL when none. For a submetric, exact is its text as written and the
 * verdicts are matched on it; else exact is NULL and the verdicts on the
 * parsed name without tags count. */
static const char *mark_for(const verdict_set *vs, const char *name, const char *exact)
{
	int any = 0, bad = 0;
	for (size_t i = 0; vs != NULL && i < vs->n; i++) {
		const verdict *v = &vs->v[i];
		if (exact != NULL) {
			if (strcmp(v->metric, exact) != 0)
				continue;
		} else if (!v->parsed || v->m.ntags != 0 || strcmp(v->m.name, name) != 0) {
			continue;
		}
		any = 1;
		bad |= !v->ok;
	}
	if (!any)
		return NULL;
	return bad ? "✗ " : "✓ ";
}

/* A submetric: a threshold's, under the text it was written with, or one
 * the summary adds for each group, flow or check ("group_duration{group:x}"). */
typedef struct sub {
	char *text;
	th_metric m;
} sub;

typedef struct sublist {
	sub *v;
	size_t n, cap;
} sublist;

static void sublist_free(sublist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].text);
	free(l->v);
}

/* Adds a copy of text with its parsed metric, unless text is listed. */
static int sub_add(sublist *l, const char *text, const th_metric *m)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].text, text) == 0)
			return HERD_OK;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		sub *v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL)
			return HERD_ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	if ((l->v[l->n].text = strdup(text)) == NULL)
		return HERD_ENOMEM;
	l->v[l->n].m = *m;
	l->n++;
	return HERD_OK;
}

/* The submetrics named by thresholds with tags, in threshold order. */
static int subs_of_verdicts(const verdict_set *vs, sublist *l)
{
	int rv;
	for (size_t i = 0; vs != NULL && i < vs->n; i++) {
		const verdict *v = &vs->v[i];
		if (v->parsed && v->m.ntags > 0 && (rv = sub_add(l, v->metric, &v->m)) != 0)
			return rv;
	}
	return HERD_OK;
}

/* Adds "metric{key:value}" for each value of key among metric's series, in
 * sorted order. A value too long for a filter is left out, as it could not
 * be queried exactly. */
static int subs_per_tag(ctx *c, const char *metric, const char *key, sublist *l)
{
	const char **v = NULL;
	size_t n = 0;
	int rv;

	if ((rv = results_tag_values(c->r, metric, key, NULL, 0, &v, &n)) != 0)
		return rv;
	for (size_t i = 0; i < n && rv == 0; i++) {
		th_metric m;
		char *text;
		if (strlen(v[i]) >= sizeof(m.tags[0].value))
			continue;
		memset(&m, 0, sizeof(m));
		snprintf(m.name, sizeof(m.name), "%s", metric);
		res_tag_set(&m.tags[0], key, v[i]);
		m.ntags = 1;
		if (asprintf(&text, "%s{%s:%s}", metric, key, v[i]) < 0) {
			rv = HERD_ENOMEM;
			break;
		}
		rv = sub_add(l, text, &m);
		free(text);
	}
	free(v);
	return rv;
}

/* The submetrics the export adds without a threshold naming them: per group,
 * per flow and per check. The text lists only the groups' (flows have their
 * table, checks their list). */
static const struct {
	const char *metric, *key;
} auto_subs[] = {
	{"checks", "check"},
	{"group_duration", "group"},
	{"http_req_duration", "flow"},
	{"iterations", "flow"},
};

/* The metrics the summary lists, sorted: every known metric whose series
 * exist, every other stored metric, and every metric a threshold names. */
static int metric_names(ctx *c, strlist *out)
{
	const char **stored = NULL;
	size_t nstored = 0, nknown;
	const res_metric_info *known = results_known_metrics(&nknown);
	int rv;

	if ((rv = results_series_metrics(c->r, &stored, &nstored)) != 0)
		return rv;
	for (size_t k = 0; k < nknown && rv == 0; k++) {
		size_t j = 0;
		/* The agents' own usage is in the agents table, and over time in the
		 * report; close codes have their own line. */
		if (strcmp(known[k].name, WS_CLOSE_CODES) == 0 || strncmp(known[k].name, "agent_", 6) == 0)
			continue;
		while (j < nstored && !results_source_is(known[k].source, stored[j]))
			j++;
		if (j == nstored)
			continue;
		/* iterations entries may come without durations. */
		if (strcmp(known[k].name, "iteration_duration") == 0) {
			if ((rv = query(c, known[k].name, NULL, 0)) != 0)
				break;
			if (c->a->h.total == 0)
				continue;
		}
		rv = strlist_add(out, known[k].name);
	}
	for (size_t i = 0; i < nstored && rv == 0; i++) {
		res_metric_info info;
		if (results_metric_info(NULL, stored[i], &info) != 0)
			rv = strlist_add(out, stored[i]);
	}
	const verdict_set *vs = c->info->verdicts;
	for (size_t i = 0; vs != NULL && i < vs->n && rv == 0; i++) {
		res_metric_info info;
		if (vs->v[i].parsed && results_metric_info(c->r, vs->v[i].m.name, &info) == 0)
			rv = strlist_add(out, info.name);
	}
	free(stored);
	if (rv == 0 && out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), str_cmp);
	return rv;
}

/* Text sections. */

static void put_scenario_detail(FILE *f, const plan *p, const plan_scenario *s, const char *http_driver)
{
	char b1[32], b2[32];
	hdrv_mode m;
	fprintf(f, "    * %s: %s", s->name, plan_executor_name(s->executor));
	switch (s->executor) {
	case EXEC_CONSTANT_VUS:
		fprintf(f, ", %lld VUs for %s", (long long)s->vus,
		        summary_fmt_duration((double)s->duration_ms * 1000, b1, sizeof(b1)));
		break;
	case EXEC_RAMPING_VUS: {
		int64_t max = s->start_vus;
		for (size_t i = 0; i < s->nstages; i++)
			if (s->stages[i].target > max)
				max = s->stages[i].target;
		fprintf(f, ", %zu stages, up to %lld VUs", s->nstages, (long long)max);
		break;
	}
	case EXEC_CONSTANT_ARRIVAL_RATE:
		fprintf(f, ", %lld iterations per %s for %s, up to %lld VUs", (long long)s->rate,
		        summary_fmt_duration((double)s->time_unit_ms * 1000, b1, sizeof(b1)),
		        summary_fmt_duration((double)s->duration_ms * 1000, b2, sizeof(b2)),
		        (long long)(s->max_vus ? s->max_vus : s->pre_allocated_vus));
		break;
	case EXEC_PER_VU_ITERATIONS:
		fprintf(f, ", %lld VUs x %lld iterations", (long long)s->vus, (long long)s->iterations);
		break;
	case EXEC_RAMPING_ARRIVAL_RATE: {
		int64_t max = s->start_rate;
		for (size_t i = 0; i < s->nstages; i++)
			if (s->stages[i].target > max)
				max = s->stages[i].target;
		fprintf(f, ", %zu stages, up to %lld iterations per %s, up to %lld VUs", s->nstages,
		        (long long)max, summary_fmt_duration((double)s->time_unit_ms * 1000, b1, sizeof(b1)),
		        (long long)(s->max_vus ? s->max_vus : s->pre_allocated_vus));
		break;
	}
	case EXEC_SHARED_ITERATIONS:
		fprintf(f, ", %lld iterations shared by %lld VUs", (long long)s->iterations,
		        (long long)s->vus);
		break;
	case EXEC_BREAKING_POINT:
		fprintf(f, ", %s from %lld to %lld", s->bp.model == PLAN_BP_VUS ? "VUs" : "iterations/s",
		        (long long)s->bp.start, (long long)s->bp.max);
		break;
	}
	if (s->start_ms > 0)
		fprintf(f, ", starting at %s",
		        summary_fmt_duration((double)s->start_ms * 1000, b1, sizeof(b1)));
	if (http_driver != NULL && hdrv_parse(http_driver, &m) == HERD_OK && hdrv_has_http(s)) {
		char d[160];
		hdrv_describe(m, p, s, d, sizeof(d));
		fprintf(f, ", http driver %s", d);
	}
	fputc('\n', f);
}

static int put_header(ctx *c, FILE *f)
{
	const summary_info *in = c->info;
	char b[64];
	int rv;

	fputc('\n', f);
	if (in->run_id != NULL)
		fprintf(f, "  run........: %s\n", in->run_id);
	if (in->plan_name != NULL || (in->plan != NULL && in->plan->name != NULL))
		fprintf(f, "  plan.......: %s\n", in->plan_name ? in->plan_name : in->plan->name);
	if (in->status != NULL && in->reason != NULL)
		fprintf(f, "  status.....: %s (%s)\n", in->status, in->reason);
	else if (in->status != NULL)
		fprintf(f, "  status.....: %s%s\n", in->status,
		        in->degraded ? " (degraded: agents lost or batches missing)" : "");
	else if (in->degraded)
		fprintf(f, "  status.....: degraded (agents lost or batches missing)\n");
	fprintf(f, "  duration...: %s\n",
	        summary_fmt_duration((double)results_duration_ms(c->r) * 1000, b, sizeof(b)));

	if (in->plan != NULL) {
		fprintf(f, "  scenarios..: %zu\n", in->plan->nscenarios);
		for (size_t i = 0; i < in->plan->nscenarios; i++)
			put_scenario_detail(f, in->plan, &in->plan->scenarios[i], in->http_driver);
		return HERD_OK;
	}
	const char **sc;
	size_t n;
	if ((rv = results_tag_values(c->r, NULL, "scenario", NULL, 0, &sc, &n)) != 0)
		return rv;
	fprintf(f, "  scenarios..: %zu\n", n);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "    * %s\n", sc[i]);
	free(sc);
	return HERD_OK;
}

/* k6's check list: ✓ name, or ✗ name with its pass rate and counts. */
static int put_checks(ctx *c, FILE *f)
{
	const char **names;
	size_t n;
	th_tag t;
	int rv;

	if ((rv = results_tag_values(c->r, "checks", "name", NULL, 0, &names, &n)) != 0) {
		return rv == HERD_ENOTFOUND ? HERD_OK : rv;
	}
	if (n > 0)
		fputc('\n', f);
	for (size_t i = 0; i < n && rv == 0; i++) {
		uint64_t passes = 0, total = 0;
		res_tag_set(&t, "name", names[i]);
		if ((rv = query(c, "checks", &t, 1)) != 0)
			break;
		results_rate_counts("checks", c->a, &passes, &total);
		if (passes == total) {
			fprintf(f, "    ✓ %s\n", names[i]);
		} else {
			fprintf(f, "    ✗ %s\n", names[i]);
			fprintf(f, "      ↳  %.0f%% — ✓ %llu / ✗ %llu\n",
			        floor(100.0 * (double)passes / (double)total), (unsigned long long)passes,
			        (unsigned long long)(total - passes));
		}
	}
	free(names);
	return rv;
}

static int put_metrics(ctx *c, FILE *f)
{
	strlist names = {0};
	sublist subs = {0};
	const verdict_set *vs = c->info->verdicts;
	int rv, width = NAME_WIDTH_MIN;

	if ((rv = metric_names(c, &names)) != 0 || (rv = subs_of_verdicts(vs, &subs)) != 0 ||
	    (rv = subs_per_tag(c, "group_duration", "group", &subs)) != 0)
		goto out;
	for (size_t i = 0; i < names.n; i++)
		if (dwidth(names.v[i]) + 3 > width)
			width = dwidth(names.v[i]) + 3;
	for (size_t i = 0; i < subs.n; i++)
		if (dwidth(subs.v[i].text) + 5 > width)
			width = dwidth(subs.v[i].text) + 5;

	fputc('\n', f);
	for (size_t i = 0; i < names.n; i++) {
		res_metric_info info;
		if (results_metric_info(c->r, names.v[i], &info) != 0)
			continue;
		if ((rv = query(c, names.v[i], NULL, 0)) != 0)
			goto out;
		put_label(f, 2, mark_for(vs, names.v[i], NULL), names.v[i], width);
		put_value(c, f, info.name, info.type);

		for (size_t j = 0; j < subs.n; j++) {
			const sub *sb = &subs.v[j];
			if (strcmp(sb->m.name, names.v[i]) != 0)
				continue;
			if ((rv = query(c, sb->m.name, sb->m.tags, sb->m.ntags)) != 0)
				goto out;
			put_label(f, 4, mark_for(vs, names.v[i], sb->text), sb->text, width - 2);
			put_value(c, f, info.name, info.type);
		}
	}
out:
	free(names.v);
	sublist_free(&subs);
	return rv;
}

/* Errors by kind: the request errors of http_req_duration, the session
 * errors of ws_sessions and the failed checks (the only metrics whose errors
 * are not mirrors of another's). */
static int errors_by_kind(ctx *c, uint64_t *kinds)
{
	int rv;
	memset(kinds, 0, sizeof(uint64_t) * ERRK__N);
	if ((rv = query(c, "http_req_duration", NULL, 0)) != 0)
		return rv;
	for (int k = 0; k < ERRK__N; k++)
		if (k != ERRK_CHECK)
			kinds[k] += c->a->errors[k];
	if ((rv = query(c, "ws_sessions", NULL, 0)) != 0)
		return rv;
	for (int k = 0; k < ERRK__N; k++)
		if (k != ERRK_CHECK)
			kinds[k] += c->a->errors[k];
	if ((rv = query(c, "checks", NULL, 0)) != 0)
		return rv;
	kinds[ERRK_CHECK] += c->a->errors[ERRK_CHECK];
	return HERD_OK;
}

/* Writes the close codes counted for the series matching the filters, as
 * " (4000×10, 1006×2)", or nothing when there are none. */
static int put_close_codes(ctx *c, FILE *f, const th_tag *tags, size_t ntags)
{
	res_status_count *v = NULL;
	size_t n = 0;
	int rv = results_by_status(c->r, WS_CLOSE_CODES, tags, ntags, &v, &n);
	if (rv != 0)
		return rv;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%u×%llu%s", i == 0 ? " (" : ", ", v[i].status, (unsigned long long)v[i].count,
		        i + 1 == n ? ")" : "");
	free(v);
	return HERD_OK;
}

static int put_errors(ctx *c, FILE *f)
{
	uint64_t kinds[ERRK__N];
	int rv, any = 0;
	if ((rv = errors_by_kind(c, kinds)) != 0)
		return rv;
	for (int k = 0; k < ERRK__N; k++) {
		if (kinds[k] == 0)
			continue;
		if (!any)
			fprintf(f, "\n  errors by kind:\n");
		any = 1;
		put_label(f, 2, NULL, errk_name(k), 18);
		fprintf(f, "%llu", (unsigned long long)kinds[k]);
		if (k == ERRK_WS_CLOSED && (rv = put_close_codes(c, f, NULL, 0)) != 0)
			return rv;
		fputc('\n', f);
	}
	return HERD_OK;
}

/* Request statistics of one row of a table, WebSocket sessions included. */
typedef struct rowstat {
	uint64_t reqs, failed;
	uint64_t sessions, sfailed; /* WebSocket sessions and the failed ones */
	double rate, p50, p95, p99; /* req/s; ms */
} rowstat;

static int row_query(ctx *c, const th_tag *tags, size_t ntags, rowstat *rs)
{
	uint64_t total = 0;
	int rv;
	memset(rs, 0, sizeof(*rs));
	if ((rv = query(c, "ws_sessions", tags, ntags)) != 0)
		return rv;
	rs->sessions = c->a->count;
	results_rate_counts("ws_session_failed", c->a, &rs->sfailed, &total);
	if ((rv = query(c, "http_req_duration", tags, ntags)) != 0)
		return rv;
	rs->reqs = c->a->count;
	results_rate_counts("http_req_failed", c->a, &rs->failed, &total);
	rs->rate = c->dur_s > 0 ? (double)rs->reqs / c->dur_s : 0;
	rs->p50 = pct_ms(&c->a->h, 50);
	rs->p95 = pct_ms(&c->a->h, 95);
	rs->p99 = pct_ms(&c->a->h, 99);
	return HERD_OK;
}

/* The columns of row_cells, after a table's own leading columns. */
#define ROW_COLS { 10, 1 }, { 10, 1 }, { 9, 1 }, { 11, 1 }, { 11, 1 }, { 11, 1 }

static void row_head(table *t)
{
	static const char *const head[] = { "requests", "req/s", "failed", "p50", "p95", "p99" };
	for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
		table_cell(t, head[i]);
}

/* The failed column is the share of the row's requests and WebSocket
 * sessions together that failed, so a WebSocket row shows its failures. */
static void row_cells(table *t, const rowstat *rs)
{
	char b[64];
	uint64_t all = rs->reqs + rs->sessions, bad = rs->failed + rs->sfailed;
	table_cellf(t, "%llu", (unsigned long long)rs->reqs);
	table_cell(t, fmt_num(rs->rate, 2, b, sizeof(b)));
	table_cellf(t, "%.2f%%", all ? 100.0 * (double)bad / (double)all : 0);
	table_cell(t, rs->reqs ? fmt_ms(rs->p50, b, sizeof(b)) : "-");
	table_cell(t, rs->reqs ? fmt_ms(rs->p95, b, sizeof(b)) : "-");
	table_cell(t, rs->reqs ? fmt_ms(rs->p99, b, sizeof(b)) : "-");
}

/* Writes t (indented by 2) after a blank line and frees it. */
static int table_put(table *t, FILE *f)
{
	fputc('\n', f);
	int rv = table_write(t, f, 2) == 0 ? HERD_OK : HERD_ENOMEM;
	table_free(t);
	return rv;
}

/* The scenarios of the plan in plan order, else those of the results. */
static int scenario_list(ctx *c, const char ***out, size_t *n)
{
	const plan *p = c->info->plan;
	if (p == NULL)
		return results_tag_values(c->r, NULL, "scenario", NULL, 0, out, n);
	const char **v = malloc((p->nscenarios ? p->nscenarios : 1) * sizeof(*v));
	if (v == NULL)
		return HERD_ENOMEM;
	for (size_t i = 0; i < p->nscenarios; i++)
		v[i] = p->scenarios[i].name;
	*out = v;
	*n = p->nscenarios;
	return HERD_OK;
}

static int put_scenarios(ctx *c, FILE *f)
{
	static const table_col cols[] = { { 10, 0 }, ROW_COLS, { 12, 1 }, { 9, 1 } };
	const char **sc = NULL;
	size_t n = 0;
	int rv;
	th_tag t;
	table *tb = NULL;

	if ((rv = scenario_list(c, &sc, &n)) != 0)
		return rv;
	if (n == 0)
		goto out;
	if (table_new(cols, sizeof(cols) / sizeof(cols[0]), &tb) != 0) {
		rv = HERD_ENOMEM;
		goto out;
	}
	table_cell(tb, "scenario");
	row_head(tb);
	table_cell(tb, "iterations");
	table_cell(tb, "dropped");
	for (size_t i = 0; i < n; i++) {
		rowstat rs;
		res_tag_set(&t, "scenario", sc[i]);
		if ((rv = row_query(c, &t, 1, &rs)) != 0)
			goto out;
		table_cell(tb, sc[i]);
		row_cells(tb, &rs);
		if ((rv = query(c, "iterations", &t, 1)) != 0)
			goto out;
		table_cellf(tb, "%llu", (unsigned long long)c->a->count);
		if ((rv = query(c, "dropped_iterations", &t, 1)) != 0)
			goto out;
		table_cellf(tb, "%llu", (unsigned long long)c->a->count);
	}
	rv = table_put(tb, f);
	tb = NULL;
out:
	table_free(tb);
	free(sc);
	return rv;
}

/* The flows of scenario sc: the values of the flow tag among its series,
 * sorted. Ownership as results_tag_values. */
static int flows_of(ctx *c, const char *sc, const char ***v, size_t *n)
{
	th_tag t;
	res_tag_set(&t, "scenario", sc);
	return results_tag_values(c->r, NULL, "flow", &t, 1, v, n);
}

/* Whether a scenario's flows deserve a table: a plain `flow:` scenario has
 * the one flow "default", whose share says nothing. */
static int flows_worth_showing(const char *const *v, size_t n)
{
	return n > 1 || (n == 1 && strcmp(v[0], "default") != 0);
}

/* What one flow of a scenario did. */
typedef struct flowstat {
	uint64_t iters, started, reqs;
	double share; /* of the scenario's iterations started (its picks), 0..1 */
	double p95;   /* http_req_duration, ms */
} flowstat;

/* sc_started is the scenario's count of iterations started, which shares
 * are of: the flow picked is the plan's weighted mix, while how many of a
 * flow's iterations finish also depends on how long they take. Runs stored
 * before iterations_started existed have shares of finished iterations. */
static int flow_query(ctx *c, const char *sc, const char *flow, uint64_t sc_started, flowstat *fs)
{
	th_tag t[2];
	int rv;
	res_tag_set(&t[0], "scenario", sc);
	res_tag_set(&t[1], "flow", flow);
	if ((rv = query(c, "iterations", t, 2)) != 0)
		return rv;
	fs->iters = c->a->count;
	if ((rv = query(c, "iterations_started", t, 2)) != 0)
		return rv;
	fs->started = c->a->nseries > 0 ? c->a->count : fs->iters;
	fs->share = sc_started > 0 ? (double)fs->started / (double)sc_started : 0;
	if ((rv = query(c, "http_req_duration", t, 2)) != 0)
		return rv;
	fs->reqs = c->a->count;
	fs->p95 = pct_ms(&c->a->h, 95);
	return HERD_OK;
}

/* The iterations started in scenario sc (finished ones for runs stored
 * before iterations_started existed). */
static int scenario_iters(ctx *c, const char *sc, uint64_t *n)
{
	th_tag t;
	int rv;
	res_tag_set(&t, "scenario", sc);
	if ((rv = query(c, "iterations_started", &t, 1)) != 0)
		return rv;
	if (c->a->nseries > 0) {
		*n = c->a->count;
		return HERD_OK;
	}
	if ((rv = query(c, "iterations", &t, 1)) != 0)
		return rv;
	*n = c->a->count;
	return HERD_OK;
}

/* One small table per scenario with flows: iterations finished per flow,
 * its share of the iterations started ("picked": how a 60/30/10 mix is
 * checked), requests and p95. */
static int put_flows(ctx *c, FILE *f)
{
	static const table_col cols[] = { { 16, 0 }, { 12, 1 }, { 9, 1 }, { 10, 1 }, { 11, 1 } };
	const char **sc = NULL, **fl = NULL;
	size_t nsc = 0, nfl = 0;
	int rv;

	if ((rv = scenario_list(c, &sc, &nsc)) != 0)
		return rv;
	for (size_t i = 0; i < nsc && rv == 0; i++) {
		char b[64];
		uint64_t iters = 0;
		table *tb = NULL;

		if ((rv = flows_of(c, sc[i], &fl, &nfl)) != 0)
			break;
		if (!flows_worth_showing(fl, nfl) || (rv = scenario_iters(c, sc[i], &iters)) != 0)
			goto next;
		if (table_new(cols, sizeof(cols) / sizeof(cols[0]), &tb) != 0) {
			rv = HERD_ENOMEM;
			goto next;
		}
		/* Flows are indented under the head. */
		table_cellf(tb, "flows of %s", sc[i]);
		table_cell(tb, "iterations");
		table_cell(tb, "picked");
		table_cell(tb, "requests");
		table_cell(tb, "p95");
		for (size_t j = 0; j < nfl; j++) {
			flowstat fs;
			if ((rv = flow_query(c, sc[i], fl[j], iters, &fs)) != 0)
				goto next;
			table_cellf(tb, "  %s", fl[j]);
			table_cellf(tb, "%llu", (unsigned long long)fs.iters);
			table_cellf(tb, "%.1f%%", 100.0 * fs.share);
			table_cellf(tb, "%llu", (unsigned long long)fs.reqs);
			table_cell(tb, fs.reqs ? fmt_ms(fs.p95, b, sizeof(b)) : "-");
		}
		rv = table_put(tb, f);
		tb = NULL;
	next:
		table_free(tb);
		free(fl);
		fl = NULL;
	}
	free(sc);
	return rv;
}

/* Calls fn for every (scenario, step name, method) with requests, in sorted
 * order. tags holds the three filters while fn runs. */
static int for_each_step(ctx *c, int (*fn)(ctx *, const th_tag *, void *), void *arg)
{
	const char **sc = NULL, **nm = NULL, **me = NULL;
	size_t nsc = 0, nnm = 0, nme = 0;
	th_tag t[3];
	int rv;

	if ((rv = results_tag_values(c->r, "http_req_duration", "scenario", NULL, 0, &sc, &nsc)) != 0)
		return rv;
	for (size_t i = 0; i < nsc && rv == 0; i++) {
		res_tag_set(&t[0], "scenario", sc[i]);
		if ((rv = results_tag_values(c->r, "http_req_duration", "name", t, 1, &nm, &nnm)) != 0)
			break;
		for (size_t j = 0; j < nnm && rv == 0; j++) {
			res_tag_set(&t[1], "name", nm[j]);
			if ((rv = results_tag_values(c->r, "http_req_duration", "method", t, 2, &me, &nme)) !=
			    0)
				break;
			for (size_t k = 0; k < nme && rv == 0; k++) {
				res_tag_set(&t[2], "method", me[k]);
				rv = fn(c, t, arg);
			}
			free(me);
			me = NULL;
		}
		free(nm);
		nm = NULL;
	}
	free(sc);
	return rv;
}

static int step_row(ctx *c, const th_tag *t, void *arg)
{
	table *tb = arg;
	rowstat rs;
	int rv;
	if ((rv = row_query(c, t, 3, &rs)) != 0)
		return rv;
	table_cell(tb, t[0].value);
	table_cell(tb, t[1].value);
	table_cell(tb, t[2].value);
	row_cells(tb, &rs);
	return HERD_OK;
}

static int put_steps(ctx *c, FILE *f)
{
	static const table_col cols[] = { { 10, 0 }, { 6, 0 }, { 8, 0 }, ROW_COLS };
	table *tb;
	int rv;
	const char **sc;
	size_t n;

	if ((rv = results_tag_values(c->r, "http_req_duration", "scenario", NULL, 0, &sc, &n)) != 0)
		return rv;
	free(sc);
	if (n == 0)
		return HERD_OK;
	if (table_new(cols, sizeof(cols) / sizeof(cols[0]), &tb) != 0)
		return HERD_ENOMEM;
	table_cell(tb, "scenario");
	table_cell(tb, "step");
	table_cell(tb, "method");
	row_head(tb);
	if ((rv = for_each_step(c, step_row, tb)) != 0) {
		table_free(tb);
		return rv;
	}
	return table_put(tb, f);
}

/* Calls fn for every (scenario, step name) with abnormal ws closes, in
 * sorted order, with the close codes counted there. */
static int for_each_close_step(ctx *c,
                               int (*fn)(ctx *, const th_tag *, const res_status_count *, size_t, void *),
                               void *arg)
{
	const char **sc = NULL, **nm = NULL;
	size_t nsc = 0, nnm = 0;
	th_tag t[2];
	int rv;

	if ((rv = results_tag_values(c->r, WS_CLOSE_CODES, "scenario", NULL, 0, &sc, &nsc)) != 0)
		return rv;
	for (size_t i = 0; i < nsc && rv == 0; i++) {
		res_tag_set(&t[0], "scenario", sc[i]);
		if ((rv = results_tag_values(c->r, WS_CLOSE_CODES, "name", t, 1, &nm, &nnm)) != 0)
			break;
		for (size_t j = 0; j < nnm && rv == 0; j++) {
			res_status_count *v = NULL;
			size_t n = 0;
			res_tag_set(&t[1], "name", nm[j]);
			if ((rv = results_by_status(c->r, WS_CLOSE_CODES, t, 2, &v, &n)) == 0 && n > 0)
				rv = fn(c, t, v, n, arg);
			free(v);
		}
		free(nm);
		nm = NULL;
	}
	free(sc);
	return rv;
}

static int close_step_rows(ctx *c, const th_tag *t, const res_status_count *v, size_t n, void *arg)
{
	table *tb = arg;
	(void)c;
	for (size_t i = 0; i < n; i++) {
		table_cell(tb, t[0].value);
		table_cell(tb, t[1].value);
		table_cellf(tb, "%u", v[i].status);
		table_cellf(tb, "%llu", (unsigned long long)v[i].count);
	}
	return HERD_OK;
}

/* The abnormal ws closes by step and close code (1006: the connection ended
 * without a close frame). */
static int put_ws_closes(ctx *c, FILE *f)
{
	static const table_col cols[] = { { 10, 0 }, { 6, 0 }, { 6, 1 }, { 10, 1 } };
	table *tb;
	int rv;
	const char **sc;
	size_t n;

	if ((rv = results_tag_values(c->r, WS_CLOSE_CODES, "scenario", NULL, 0, &sc, &n)) != 0)
		return rv;
	free(sc);
	if (n == 0)
		return HERD_OK;
	if (table_new(cols, sizeof(cols) / sizeof(cols[0]), &tb) != 0)
		return HERD_ENOMEM;
	table_cell(tb, "scenario");
	table_cell(tb, "step");
	table_cell(tb, "code");
	table_cell(tb, "sessions");
	if ((rv = for_each_close_step(c, close_step_rows, tb)) != 0) {
		table_free(tb);
		return rv;
	}
	fprintf(f, "\n  ws sessions closed abnormally, by close code:");
	return table_put(tb, f);
}

/* WebSocket work of one agent: sessions, failed sessions, messages sent and
 * received. */
static int agent_ws(ctx *c, const char *id, uint64_t out[4])
{
	static const char *const metrics[3] = { "ws_sessions", "ws_msgs_sent", "ws_msgs_received" };
	th_tag t;
	uint64_t total;
	int rv;
	res_tag_set(&t, "agent", id);
	for (int i = 0; i < 3; i++) {
		if ((rv = query(c, metrics[i], &t, 1)) != 0)
			return rv;
		out[i == 0 ? 0 : i + 1] = c->a->count;
		if (i == 0)
			results_rate_counts("ws_session_failed", c->a, &out[1], &total);
	}
	return HERD_OK;
}

static int put_agents(ctx *c, FILE *f)
{
	static const table_col cols[] = { { 7, 0 }, { 9, 0 }, { 7, 1 }, { 9, 1 }, ROW_COLS };
	static const table_col bare[] = { { 7, 0 }, ROW_COLS };
	const char **ag = NULL;
	size_t n;
	int rv;
	th_tag t;
	table *tb = NULL;
	const summary_agent *sa = c->info->agents;

	if (sa != NULL) {
		n = c->info->nagents;
	} else if ((rv = results_tag_values(c->r, "http_req_duration", "agent", NULL, 0, &ag, &n)) != 0) {
		return rv;
	}
	rv = 0;
	if (n == 0)
		goto notes;
	if ((sa != NULL ? table_new(cols, sizeof(cols) / sizeof(cols[0]), &tb)
	                : table_new(bare, sizeof(bare) / sizeof(bare[0]), &tb)) != 0) {
		rv = HERD_ENOMEM;
		goto out;
	}
	table_cell(tb, "agent");
	if (sa != NULL) {
		table_cell(tb, "status");
		table_cell(tb, "cpu");
		table_cell(tb, "rss");
	}
	row_head(tb);
	for (size_t i = 0; i < n; i++) {
		rowstat rs;
		res_tag_set(&t, "agent", sa != NULL ? sa[i].id : ag[i]);
		if ((rv = row_query(c, &t, 1, &rs)) != 0)
			goto out;
		table_cell(tb, sa != NULL ? sa[i].name : ag[i]);
		if (sa != NULL) {
			table_cell(tb, sa[i].status);
			table_cellf(tb, "%.0f%%", sa[i].cpu_pct);
			table_cellf(tb, "%.1fMB", (double)sa[i].rss_kb / 1024.0);
		}
		row_cells(tb, &rs);
		uint64_t ws[4];
		if ((rv = agent_ws(c, sa != NULL ? sa[i].id : ag[i], ws)) != 0)
			goto out;
		if (ws[0] > 0) {
			char line[200];
			snprintf(line, sizeof(line), "  ws: %llu sessions (%llu failed), %llu messages sent, %llu received",
			         (unsigned long long)ws[0], (unsigned long long)ws[1], (unsigned long long)ws[2],
			         (unsigned long long)ws[3]);
			table_note(tb, line);
		}
	}
	rv = table_put(tb, f);
	tb = NULL;
	if (rv != 0)
		goto out;
notes:
	for (size_t i = 0; sa != NULL && i < n; i++) {
		if (strcmp(sa[i].status, "lost") == 0)
			fprintf(f, "  ! agent %s was lost: its results up to its last acknowledged batch (%llu batches) are kept;"
			           " what it measured after that is missing\n",
			        sa[i].name, (unsigned long long)sa[i].batches);
		if (sa[i].dropped > 0)
			fprintf(f, "  ! agent %s dropped %llu batches (its queue of unacknowledged batches was full)\n",
			        sa[i].name, (unsigned long long)sa[i].dropped);
		if (sa[i].cpu_pct > 90.0 * (sa[i].cores ? sa[i].cores : 1))
			fprintf(f, "  ! agent %s ran at %.0f%% CPU on %u workers: its latencies may include its own queueing\n",
			        sa[i].name, sa[i].cpu_pct, sa[i].cores);
	}
out:
	table_free(tb);
	free(ag);
	return rv;
}

/* "p(95)=12.3ms", "rate=0.50%", "count=1234", "rate=41.1/s", "max=10". */
static const char *fmt_observed(const verdict *v, char *buf, size_t len)
{
	char lbl[32], b[64];
	th_agg_label(&v->e, lbl, sizeof(lbl));
	switch (v->type) {
	case RES_TREND: snprintf(buf, len, "%s=%s", lbl, fmt_ms(v->observed, b, sizeof(b))); break;
	case RES_RATE: snprintf(buf, len, "%s=%.2f%%", lbl, v->observed * 100); break;
	case RES_COUNTER:
		if (v->e.agg == TH_COUNT)
			snprintf(buf, len, "%s=%.0f", lbl, v->observed);
		else
			snprintf(buf, len, "%s=%s/s", lbl, fmt_rate(v->observed, b, sizeof(b)));
		break;
	case RES_GAUGE: snprintf(buf, len, "%s=%.0f", lbl, v->observed); break;
	}
	return buf;
}

static int put_thresholds(ctx *c, FILE *f)
{
	const verdict_set *vs = c->info->verdicts;
	strlist groups = {0};
	int rv = HERD_OK;

	if (vs == NULL || vs->n == 0)
		return HERD_OK;
	for (size_t i = 0; i < vs->n && rv == 0; i++)
		rv = strlist_add(&groups, vs->v[i].metric);
	if (rv != 0)
		goto out;
	fprintf(f, "\n  thresholds:\n");
	for (size_t g = 0; g < groups.n; g++) {
		fprintf(f, "    %s\n", groups.v[g]);
		for (size_t i = 0; i < vs->n; i++) {
			const verdict *v = &vs->v[i];
			char b[160];
			if (strcmp(v->metric, groups.v[g]) != 0)
				continue;
			fprintf(f, "    %s '%s' ", v->ok ? "✓" : "✗", v->expr);
			if (v->error != NULL)
				fprintf(f, "error: %s\n", v->error);
			else if (v->nodata)
				fprintf(f, "%s\n", v->ok ? "no data (allowNoData)" : "no data: nothing was measured");
			else
				fprintf(f, "%s\n", fmt_observed(v, b, sizeof(b)));
		}
	}
out:
	free(groups.v);
	return rv;
}

/* The breaking-point search's answer with its evidence: the sustainable
 * load (or why there is only a lower bound), the first failing load and
 * what broke, the knee, the USL fit, and a row per level. */
static int put_capacity(ctx *c, FILE *f)
{
	const search *se = c->info->search;
	if (se == NULL)
		return HERD_OK;
	const plan_scenario *sc = search_scenario(se);
	const search_result *r = search_result_of(se);
	int vus = sc->bp.model == PLAN_BP_VUS;
	const char *unit = vus ? "VUs" : "iterations/s";
	size_t n;
	const search_level *l = search_levels(se, &n);
	search_fit fit;
	char b1[64], b2[64], b3[64];

	fprintf(f, "\n  capacity (scenario %s, breaking-point, model %s): %s\n", sc->name, vus ? "vus" : "arrival-rate",
	        search_outcome_name(r->outcome));
	if (r->outcome == SEARCH_FOUND)
		fprintf(f, "    sustainable   %g %s (%.1f req/s)\n", r->sustainable, unit, r->sustainable_rps);
	else if (r->outcome == SEARCH_LOWER_BOUND)
		fprintf(f, "    lower bound   %g %s (%.1f req/s), not the capacity: %s\n", r->sustainable, unit,
		        r->sustainable_rps, r->reason);
	else if (r->outcome == SEARCH_START_FAILS)
		fprintf(f, "    no sustainable load: %s\n", r->reason);
	else if (r->outcome == SEARCH_INTERRUPTED)
		fprintf(f, "    interrupted   %s\n", r->reason);
	else
		fprintf(f, "    the search did not finish\n");
	if (r->outcome == SEARCH_FOUND && r->reason[0] != '\0')
		fprintf(f, "    note          %s\n", r->reason);
	if (r->first_fail > 0)
		fprintf(f, "    first failing %g %s: %s\n", r->first_fail, unit, r->broke);
	search_fit_levels(se, &fit);
	if (fit.has_knee)
		fprintf(f, "    knee          %.1f req/s at p95 %s (latency against achieved throughput)\n", fit.knee_rps,
		        fmt_ms(fit.knee_p95_ms, b1, sizeof(b1)));
	if (fit.has_usl) {
		fprintf(f, "    USL           λ %.4g σ %.4g κ %.4g R² %.4f over %zu levels (concurrency %s)\n",
		        fit.usl.lambda, fit.usl.sigma, fit.usl.kappa, fit.usl.r2, fit.points,
		        fit.little ? "by Little's law" : "= VUs");
		fprintf(f, "                  peak at N* %.4g: %.1f req/s", fit.usl.n_star, fit.usl.x_peak);
		if (fit.has_holdout)
			fprintf(f, "; holdout (top %zu left out) error %.1f%%", fit.holdout_k, fit.holdout_err * 100);
		fputc('\n', f);
	} else if (fit.note[0] != '\0') {
		fprintf(f, "    USL           not fitted: %s\n", fit.note);
	}
	if (n == 0)
		return HERD_OK;
	static const table_col cols[] = { { 4, 1 }, { 8, 1 }, { 9, 1 }, { 9, 1 }, { 8, 1 }, { 9, 1 }, { 9, 1 },
		                          { 9, 1 }, { 8, 1 }, { 8, 1 }, { 6, 1 }, { 2, 0 } };
	table *t;
	if (table_new(cols, sizeof(cols) / sizeof(cols[0]), &t) != 0)
		return HERD_ENOMEM;
	table_cell(t, "#");
	table_cell(t, vus ? "VUs" : "load/s");
	table_cell(t, "offered");
	table_cell(t, "achieved");
	table_cell(t, "req/s");
	table_cell(t, "p50");
	table_cell(t, "p95");
	table_cell(t, "p99");
	table_cell(t, "errors");
	table_cell(t, "dropped");
	table_cell(t, "cpu");
	table_cell(t, " verdict");
	for (size_t i = 0; i < n; i++) {
		table_cellf(t, "%zu%s", i + 1, l[i].refine ? "r" : "");
		table_cellf(t, "%g", l[i].load);
		table_cellf(t, "%.1f", l[i].offered);
		table_cellf(t, "%.1f", l[i].achieved);
		table_cellf(t, "%.1f", l[i].rps);
		table_cell(t, fmt_ms(l[i].p50_ms, b1, sizeof(b1)));
		table_cell(t, fmt_ms(l[i].p95_ms, b2, sizeof(b2)));
		table_cell(t, fmt_ms(l[i].p99_ms, b3, sizeof(b3)));
		table_cellf(t, "%.2f%%", l[i].error_rate * 100);
		table_cellf(t, "%llu", (unsigned long long)l[i].dropped);
		table_cellf(t, "%.0f%%", l[i].max_cpu);
		if (l[i].verdict == SEARCH_PASS)
			table_cell(t, " pass");
		else
			table_cellf(t, " %s: %s", search_verdict_name(l[i].verdict), l[i].why);
	}
	return table_put(t, f);
}

static int ctx_init(ctx *c, const results *r, const summary_info *info)
{
	static const summary_info none;
	memset(c, 0, sizeof(*c));
	c->r = r;
	c->info = info != NULL ? info : &none;
	c->dur_s = (double)results_duration_ms(r) / 1000.0;
	if ((c->a = malloc(sizeof(*c->a))) == NULL)
		return HERD_ENOMEM;
	return HERD_OK;
}

int summary_write_text(FILE *out, const results *r, const summary_info *info)
{
	ctx c;
	int rv;

	if (out == NULL || r == NULL)
		return HERD_EINVAL;
	if ((rv = ctx_init(&c, r, info)) != 0)
		return rv;
	if ((rv = put_header(&c, out)) == 0 && (rv = put_checks(&c, out)) == 0 &&
	    (rv = put_metrics(&c, out)) == 0 && (rv = put_errors(&c, out)) == 0 &&
	    (rv = put_scenarios(&c, out)) == 0 && (rv = put_flows(&c, out)) == 0 &&
	    (rv = put_steps(&c, out)) == 0 && (rv = put_ws_closes(&c, out)) == 0 &&
	    (rv = put_agents(&c, out)) == 0 && (rv = put_thresholds(&c, out)) == 0 &&
	    (rv = put_capacity(&c, out)) == 0)
		fputc('\n', out);
	free(c.a);
	if (rv == 0 && ferror(out))
		rv = HERD_EIO;
	return rv;
}

int summary_text(const results *r, const summary_info *info, char **text)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rv;

	if (f == NULL)
		return HERD_ENOMEM;
	rv = summary_write_text(f, r, info);
	if (fclose(f) != 0 && rv == 0)
		rv = HERD_ENOMEM;
	if (rv != 0) {
		free(buf);
		return rv == HERD_EIO ? HERD_ENOMEM : rv;
	}
	*text = buf;
	return HERD_OK;
}

/* JSON. */

/* Length of the valid UTF-8 sequence at s, or 0 when it is not one. */
static size_t u8_seq(const unsigned char *s)
{
	size_t n;
	uint32_t cp;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/*
 * Names in the summary come from agents and plans; jansson refuses strings
 * that are not UTF-8. Returns s when it is valid, else a new copy (set in
 * *copy, to free) with each bad byte replaced by '?', or NULL when out of
 * memory.
 */
static const char *u8_clean(const char *s, char **copy)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;
	*copy = NULL;
	while (*p != 0 && (n = u8_seq(p)) != 0)
		p += n;
	if (*p == 0)
		return s;
	if ((*copy = strdup(s)) == NULL)
		return NULL;
	for (unsigned char *q = (unsigned char *)*copy; *q != 0;) {
		if ((n = u8_seq(q)) == 0) {
			*q++ = '?';
			continue;
		}
		q += n;
	}
	return *copy;
}

/* json_string that never fails on bad UTF-8 (NULL only when out of memory). */
static json_t *jstr(const char *s)
{
	char *copy;
	const char *t = u8_clean(s, &copy);
	json_t *v = t != NULL ? json_string(t) : NULL;
	free(copy);
	return v;
}

/* Sets o[key] = v, taking v; flags c->oom on failure. */
static void jset(ctx *c, json_t *o, const char *key, json_t *v)
{
	char *copy = NULL;
	const char *k = key != NULL ? u8_clean(key, &copy) : NULL;
	if (v == NULL) {
		c->oom = 1;
	} else if (o == NULL || k == NULL) {
		json_decref(v);
		c->oom = 1;
	} else if (json_object_set_new(o, k, v) != 0) {
		/* json_object_set_new has released v. */
		c->oom = 1;
	}
	free(copy);
}

static json_t *jms(double ms)
{
	return json_real(ms);
}

/* Adds "thresholds": {expr: failed} for the verdicts of metric text, as k6's
 * export does (true = failed). */
static void add_thresholds(ctx *c, json_t *m, const char *text, int by_name)
{
	const verdict_set *vs = c->info->verdicts;
	json_t *th = NULL;
	for (size_t i = 0; vs != NULL && i < vs->n; i++) {
		const verdict *v = &vs->v[i];
		int match = by_name ? (v->parsed && v->m.ntags == 0 && strcmp(v->m.name, text) == 0)
		                    : strcmp(v->metric, text) == 0;
		if (!match)
			continue;
		if (th == NULL && (th = json_object()) == NULL) {
			c->oom = 1;
			return;
		}
		jset(c, th, v->expr, json_boolean(!v->ok));
	}
	if (th != NULL)
		jset(c, m, "thresholds", th);
}

/* The metric object for the aggregate in c->a, or NULL when it has no data
 * (the caller then adds only thresholds). */
static json_t *metric_obj(ctx *c, const char *metric, res_type t)
{
	const res_agg *a = c->a;
	json_t *m = json_object();
	if (m == NULL) {
		c->oom = 1;
		return NULL;
	}
	if (!has_data(metric, t, a))
		return m;
	switch (t) {
	case RES_TREND:
		jset(c, m, "avg", jms(hist_mean(&a->h) / 1000.0));
		jset(c, m, "min", jms((double)a->h.min / 1000.0));
		jset(c, m, "med", jms(pct_ms(&a->h, 50)));
		jset(c, m, "max", jms((double)a->h.max / 1000.0));
		jset(c, m, "p(90)", jms(pct_ms(&a->h, 90)));
		jset(c, m, "p(95)", jms(pct_ms(&a->h, 95)));
		jset(c, m, "p(99)", jms(pct_ms(&a->h, 99)));
		break;
	case RES_RATE: {
		uint64_t trues = 0, total = 0;
		results_rate_counts(metric, a, &trues, &total);
		jset(c, m, "value", json_real((double)trues / (double)total));
		/* k6: passes are the non-zero samples, whatever they mean. */
		jset(c, m, "passes", json_integer((json_int_t)trues));
		jset(c, m, "fails", json_integer((json_int_t)(total - trues)));
		break;
	}
	case RES_COUNTER: {
		uint64_t v = results_counter_value(metric, a);
		jset(c, m, "count", json_integer((json_int_t)v));
		jset(c, m, "rate", json_real(c->dur_s > 0 ? (double)v / c->dur_s : 0));
		break;
	}
	case RES_GAUGE:
		jset(c, m, "value", json_integer(a->gauge_last));
		jset(c, m, "min", json_integer(a->gauge_min));
		jset(c, m, "max", json_integer(a->gauge_max));
		break;
	}
	return m;
}

static int json_metrics(ctx *c, json_t *root)
{
	strlist names = {0};
	sublist subs = {0};
	json_t *ms = json_object();
	const verdict_set *vs = c->info->verdicts;
	int rv;

	if (ms == NULL)
		return HERD_ENOMEM;
	jset(c, root, "metrics", ms);
	if ((rv = metric_names(c, &names)) != 0)
		goto out;
	for (size_t i = 0; i < names.n; i++) {
		res_metric_info info;
		if (results_metric_info(c->r, names.v[i], &info) != 0)
			continue;
		if ((rv = query(c, names.v[i], NULL, 0)) != 0)
			goto out;
		json_t *m = metric_obj(c, info.name, info.type);
		add_thresholds(c, m, names.v[i], 1);
		jset(c, ms, names.v[i], m);
	}
	/* Submetrics, under their names as written in the thresholds, then one
	 * per group, flow and check that has series. */
	if ((rv = subs_of_verdicts(vs, &subs)) != 0)
		goto out;
	for (size_t i = 0; i < sizeof(auto_subs) / sizeof(auto_subs[0]); i++)
		if ((rv = subs_per_tag(c, auto_subs[i].metric, auto_subs[i].key, &subs)) != 0)
			goto out;
	for (size_t i = 0; i < subs.n; i++) {
		const sub *sb = &subs.v[i];
		res_metric_info info;
		if (json_object_get(ms, sb->text) != NULL ||
		    results_metric_info(c->r, sb->m.name, &info) != 0)
			continue;
		if ((rv = query(c, sb->m.name, sb->m.tags, sb->m.ntags)) != 0)
			goto out;
		json_t *m = metric_obj(c, info.name, info.type);
		add_thresholds(c, m, sb->text, 0);
		jset(c, ms, sb->text, m);
	}
out:
	free(names.v);
	sublist_free(&subs);
	return rv;
}

/* A k6 group object: {name, path, groups, checks}; NULL when out of memory
 * (c->oom is then set). */
static json_t *group_new(ctx *c, const char *name, const char *path)
{
	json_t *g = json_object();
	if (g == NULL) {
		c->oom = 1;
		return NULL;
	}
	jset(c, g, "name", jstr(name));
	jset(c, g, "path", jstr(path));
	jset(c, g, "groups", json_object());
	jset(c, g, "checks", json_object());
	return g;
}

/*
 * The object of group `group` ("outer::inner", as agents tag nested groups)
 * under the root group, created with its parents when missing. As in k6,
 * groups are keyed by their own name and their path is "::outer::inner".
 * Returns NULL when out of memory.
 */
static json_t *group_at(ctx *c, json_t *root, const char *group)
{
	json_t *g = root;
	const char *p = group;

	for (;;) {
		const char *sep = strstr(p, "::");
		int len = sep != NULL ? (int)(sep - p) : (int)strlen(p);
		char *name = NULL, *path = NULL, *copy = NULL;
		json_t *groups = json_object_get(g, "groups"), *child = NULL;

		if (asprintf(&name, "%.*s", len, p) >= 0 &&
		    asprintf(&path, "::%.*s", (int)(p - group) + len, group) >= 0) {
			/* Keys are stored cleaned of bad UTF-8: look them up the same way. */
			const char *k = u8_clean(name, &copy);
			if (k != NULL && (child = json_object_get(groups, k)) == NULL &&
			    (child = group_new(c, name, path)) != NULL) {
				jset(c, groups, name, child);
				if (c->oom)
					child = NULL;
			}
		}
		free(name);
		free(path);
		free(copy);
		if (child == NULL) {
			c->oom = 1;
			return NULL;
		}
		g = child;
		if (sep == NULL)
			return g;
		p = sep + 2;
	}
}

/* Fills the "checks" of group object g with the checks whose group tag is
 * group ("" for the checks outside any group); path is g's path. */
static int group_checks(ctx *c, json_t *g, const char *group, const char *path)
{
	json_t *checks = json_object_get(g, "checks");
	const char **names = NULL;
	size_t n = 0;
	th_tag t[2];
	int rv;

	res_tag_set(&t[0], "group", group);
	if ((rv = results_tag_values(c->r, "checks", "check", t, 1, &names, &n)) != 0)
		return rv;
	for (size_t i = 0; i < n && rv == 0; i++) {
		uint64_t passes = 0, total = 0;
		char *cpath = NULL;
		res_tag_set(&t[1], "check", names[i]);
		if ((rv = query(c, "checks", t, 2)) != 0)
			break;
		results_rate_counts("checks", c->a, &passes, &total);
		if (asprintf(&cpath, "%s::%s", path, names[i]) < 0) {
			rv = HERD_ENOMEM;
			break;
		}
		json_t *ck = json_object();
		jset(c, checks, names[i], ck);
		jset(c, ck, "name", jstr(names[i]));
		jset(c, ck, "path", jstr(cpath));
		jset(c, ck, "passes", json_integer((json_int_t)passes));
		jset(c, ck, "fails", json_integer((json_int_t)(total - passes)));
		free(cpath);
	}
	free(names);
	return rv;
}

/* k6's root_group: the checks outside groups, and every group that has
 * series (group_duration, checks, requests), nested by "::", with its
 * checks. */
static int json_root_group(ctx *c, json_t *root)
{
	json_t *g = group_new(c, "", "");
	const char **groups = NULL;
	size_t n = 0;
	int rv;

	jset(c, root, "root_group", g);
	if (c->oom)
		return HERD_ENOMEM;
	if ((rv = group_checks(c, g, "", "")) != 0 ||
	    (rv = results_tag_values(c->r, NULL, "group", NULL, 0, &groups, &n)) != 0)
		return rv;
	for (size_t i = 0; i < n && rv == 0; i++) {
		char *path = NULL;
		json_t *go;
		/* A name too long for a filter could not be queried exactly. */
		if (strlen(groups[i]) >= sizeof(((th_tag *)0)->value))
			continue;
		if ((go = group_at(c, g, groups[i])) == NULL || asprintf(&path, "::%s", groups[i]) < 0) {
			rv = HERD_ENOMEM;
			break;
		}
		rv = group_checks(c, go, groups[i], path);
		free(path);
	}
	free(groups);
	return rv;
}

static json_t *row_obj(ctx *c, const rowstat *rs)
{
	json_t *o = json_object();
	jset(c, o, "requests", json_integer((json_int_t)rs->reqs));
	jset(c, o, "rate", json_real(rs->rate));
	jset(c, o, "failed", json_integer((json_int_t)rs->failed));
	if (rs->sessions > 0) {
		jset(c, o, "ws_sessions", json_integer((json_int_t)rs->sessions));
		jset(c, o, "ws_sessions_failed", json_integer((json_int_t)rs->sfailed));
	}
	if (rs->reqs > 0) {
		jset(c, o, "p(50)", jms(rs->p50));
		jset(c, o, "p(95)", jms(rs->p95));
		jset(c, o, "p(99)", jms(rs->p99));
	}
	return o;
}

static int json_step(ctx *c, const th_tag *t, void *arg)
{
	json_t *steps = arg;
	rowstat rs;
	int rv;
	if ((rv = row_query(c, t, 3, &rs)) != 0)
		return rv;
	json_t *o = row_obj(c, &rs);
	jset(c, o, "scenario", jstr(t[0].value));
	jset(c, o, "name", jstr(t[1].value));
	jset(c, o, "method", jstr(t[2].value));
	if (o == NULL || json_array_append_new(steps, o) != 0)
		c->oom = 1;
	return HERD_OK;
}

/* "flows": {name: {iterations, started, share, requests, p(95)}} in the
 * scenario object o, when the scenario has flows; share is the fraction of
 * the scenario's iterations started (picked), as k6's rates. */
static int json_flows(ctx *c, json_t *o, const char *sc)
{
	const char **fl = NULL;
	size_t n = 0;
	uint64_t iters = 0;
	json_t *fo;
	int rv;

	if ((rv = flows_of(c, sc, &fl, &n)) != 0)
		return rv;
	if (n == 0 || (rv = scenario_iters(c, sc, &iters)) != 0)
		goto out;
	fo = json_object();
	jset(c, o, "flows", fo);
	for (size_t i = 0; i < n && fo != NULL; i++) {
		flowstat fs;
		if ((rv = flow_query(c, sc, fl[i], iters, &fs)) != 0)
			break;
		json_t *x = json_object();
		jset(c, fo, fl[i], x);
		jset(c, x, "iterations", json_integer((json_int_t)fs.iters));
		jset(c, x, "started", json_integer((json_int_t)fs.started));
		jset(c, x, "share", json_real(fs.share));
		jset(c, x, "requests", json_integer((json_int_t)fs.reqs));
		if (fs.reqs > 0)
			jset(c, x, "p(95)", jms(fs.p95));
	}
out:
	free(fl);
	return rv;
}

static int json_close_step(ctx *c, const th_tag *t, const res_status_count *v, size_t n, void *arg)
{
	json_t *rows = arg;
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		jset(c, o, "scenario", jstr(t[0].value));
		jset(c, o, "name", jstr(t[1].value));
		jset(c, o, "code", json_integer((json_int_t)v[i].status));
		jset(c, o, "count", json_integer((json_int_t)v[i].count));
		if (o == NULL || json_array_append_new(rows, o) != 0)
			c->oom = 1;
	}
	return HERD_OK;
}

/* "ws_close_codes": {code: sessions} over the run and
 * "ws_close_codes_by_step": [{scenario, name, code, count}], for the
 * sessions counted as ws_closed_abnormally. */
static int json_close_codes(ctx *c, json_t *h)
{
	json_t *tot = json_object(), *steps = json_array();
	res_status_count *v = NULL;
	size_t n = 0;
	char b[16];
	int rv;

	jset(c, h, "ws_close_codes", tot);
	jset(c, h, "ws_close_codes_by_step", steps);
	if (c->oom)
		return HERD_ENOMEM;
	if ((rv = results_by_status(c->r, WS_CLOSE_CODES, NULL, 0, &v, &n)) != 0)
		return rv;
	for (size_t i = 0; i < n; i++) {
		snprintf(b, sizeof(b), "%u", v[i].status);
		jset(c, tot, b, json_integer((json_int_t)v[i].count));
	}
	free(v);
	return for_each_close_step(c, json_close_step, steps);
}

/* "http_driver": "lean" or "curl" and "http_driver_reasons": [...] (as the
 * run header says them) for a scenario that sends HTTP requests. */
static void json_http_driver(ctx *c, json_t *o, const plan *p, const plan_scenario *s)
{
	hdrv_mode m;
	if (c->info->http_driver == NULL || hdrv_parse(c->info->http_driver, &m) != HERD_OK || !hdrv_has_http(s))
		return;
	json_t *why = json_array();
	unsigned bits = hdrv_said_reasons(m, p, s);
	jset(c, o, "http_driver", jstr(hdrv_use_lean(m, p, s) ? "lean" : "curl"));
	jset(c, o, "http_driver_reasons", why);
	for (int i = 0; why != NULL && i < HDRV_WHY__N; i++)
		if ((bits & (1u << i)) != 0 && json_array_append_new(why, jstr(hdrv_reason_name(1u << i))) != 0)
			c->oom = 1;
}

/* "capacity": the search's result, fit and levels (put_capacity's data). */
static void json_capacity(ctx *c, json_t *root)
{
	const search *se = c->info->search;
	if (se == NULL)
		return;
	const plan_scenario *sc = search_scenario(se);
	const search_result *r = search_result_of(se);
	size_t n;
	const search_level *l = search_levels(se, &n);
	search_fit fit;
	json_t *o = json_object(), *lv = json_array();
	jset(c, root, "capacity", o);
	jset(c, o, "scenario", jstr(sc->name));
	jset(c, o, "model", jstr(sc->bp.model == PLAN_BP_VUS ? "vus" : "arrival-rate"));
	jset(c, o, "outcome", jstr(search_outcome_name(r->outcome)));
	jset(c, o, "sustainable", json_real(r->sustainable));
	jset(c, o, "sustainable_rps", json_real(r->sustainable_rps));
	jset(c, o, "lower_bound", json_boolean(r->outcome != SEARCH_FOUND));
	jset(c, o, "first_fail", r->first_fail > 0 ? json_real(r->first_fail) : json_null());
	jset(c, o, "broke", r->broke[0] ? jstr(r->broke) : json_null());
	jset(c, o, "reason", r->reason[0] ? jstr(r->reason) : json_null());
	search_fit_levels(se, &fit);
	if (fit.has_knee) {
		json_t *k = json_object();
		jset(c, o, "knee", k);
		jset(c, k, "rps", json_real(fit.knee_rps));
		jset(c, k, "p95_ms", json_real(fit.knee_p95_ms));
	} else {
		jset(c, o, "knee", json_null());
	}
	if (fit.has_usl) {
		json_t *u = json_object();
		jset(c, o, "usl", u);
		jset(c, u, "lambda", json_real(fit.usl.lambda));
		jset(c, u, "sigma", json_real(fit.usl.sigma));
		jset(c, u, "kappa", json_real(fit.usl.kappa));
		jset(c, u, "r2", json_real(fit.usl.r2));
		jset(c, u, "n_star", isfinite(fit.usl.n_star) ? json_real(fit.usl.n_star) : json_null());
		jset(c, u, "x_peak", isfinite(fit.usl.x_peak) ? json_real(fit.usl.x_peak) : json_null());
		jset(c, u, "points", json_integer((json_int_t)fit.points));
		jset(c, u, "little", json_boolean(fit.little));
		jset(c, u, "holdout_k", json_integer((json_int_t)fit.holdout_k));
		jset(c, u, "holdout_error", fit.has_holdout ? json_real(fit.holdout_err) : json_null());
	} else {
		jset(c, o, "usl", json_null());
	}
	jset(c, o, "levels", lv);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_object();
		json_array_append_new(lv, e);
		jset(c, e, "load", json_real(l[i].load));
		jset(c, e, "refine", json_boolean(l[i].refine));
		jset(c, e, "from_ms", json_integer(l[i].from_ms));
		jset(c, e, "to_ms", json_integer(l[i].to_ms));
		jset(c, e, "offered", json_real(l[i].offered));
		jset(c, e, "achieved", json_real(l[i].achieved));
		jset(c, e, "rps", json_real(l[i].rps));
		jset(c, e, "p50_ms", json_real(l[i].p50_ms));
		jset(c, e, "p95_ms", json_real(l[i].p95_ms));
		jset(c, e, "p99_ms", json_real(l[i].p99_ms));
		jset(c, e, "error_rate", json_real(l[i].error_rate));
		jset(c, e, "dropped", json_integer((json_int_t)l[i].dropped));
		jset(c, e, "max_cpu", json_real(l[i].max_cpu));
		jset(c, e, "verdict", jstr(search_verdict_name(l[i].verdict)));
		jset(c, e, "why", l[i].why[0] ? jstr(l[i].why) : json_null());
	}
}

static int json_herd(ctx *c, json_t *root)
{
	const summary_info *in = c->info;
	json_t *h = json_object(), *ek = json_object(), *scs = json_object(), *steps = json_array(),
	       *agents = json_object(), *ths = json_array();
	uint64_t kinds[ERRK__N];
	const char **v = NULL;
	size_t n = 0;
	th_tag t;
	int rv;

	jset(c, root, "herd", h);
	jset(c, h, "run_id", in->run_id ? jstr(in->run_id) : json_null());
	const char *pname = in->plan_name ? in->plan_name : in->plan ? in->plan->name : NULL;
	jset(c, h, "plan", pname ? jstr(pname) : json_null());
	jset(c, h, "status", in->status ? jstr(in->status) : json_null());
	jset(c, h, "degraded", json_boolean(in->degraded));
	if (in->reason != NULL)
		jset(c, h, "reason", jstr(in->reason));
	jset(c, h, "duration_ms", json_integer(results_duration_ms(c->r)));
	if (in->http_driver != NULL)
		jset(c, h, "http_driver", jstr(in->http_driver));
	jset(c, h, "errors_by_kind", ek);
	jset(c, h, "scenarios", scs);
	jset(c, h, "steps", steps);
	jset(c, h, "agents", agents);
	jset(c, h, "thresholds", ths);
	if (c->oom)
		return HERD_ENOMEM;

	if ((rv = errors_by_kind(c, kinds)) != 0)
		return rv;
	for (int k = 0; k < ERRK__N; k++)
		if (kinds[k] > 0)
			jset(c, ek, errk_name(k), json_integer((json_int_t)kinds[k]));
	if ((rv = json_close_codes(c, h)) != 0)
		return rv;

	if ((rv = scenario_list(c, &v, &n)) != 0)
		return rv;
	for (size_t i = 0; i < n && rv == 0; i++) {
		rowstat rs;
		res_tag_set(&t, "scenario", v[i]);
		if ((rv = row_query(c, &t, 1, &rs)) != 0)
			break;
		json_t *o = row_obj(c, &rs);
		jset(c, scs, v[i], o);
		if (in->plan != NULL)
			jset(c, o, "executor",
			     jstr(plan_executor_name(in->plan->scenarios[i].executor)));
		if (in->plan != NULL)
			json_http_driver(c, o, in->plan, &in->plan->scenarios[i]);
		if ((rv = query(c, "iterations", &t, 1)) != 0)
			break;
		jset(c, o, "iterations", json_integer((json_int_t)c->a->count));
		if ((rv = query(c, "dropped_iterations", &t, 1)) != 0)
			break;
		jset(c, o, "dropped_iterations", json_integer((json_int_t)c->a->count));
		rv = json_flows(c, o, v[i]);
	}
	free(v);
	v = NULL;
	if (rv != 0)
		return rv;

	if ((rv = for_each_step(c, json_step, steps)) != 0)
		return rv;

	if ((rv = results_tag_values(c->r, NULL, "agent", NULL, 0, &v, &n)) != 0)
		return rv;
	for (size_t i = 0; i < n && rv == 0; i++) {
		rowstat rs;
		res_tag_set(&t, "agent", v[i]);
		if ((rv = row_query(c, &t, 1, &rs)) == 0)
			jset(c, agents, v[i], row_obj(c, &rs));
	}
	free(v);
	if (rv != 0)
		return rv;
	/* What the controller knows of each agent, including those that sent nothing. */
	for (size_t i = 0; in->agents != NULL && i < in->nagents; i++) {
		const summary_agent *a = &in->agents[i];
		json_t *o = json_object_get(agents, a->id);
		if (o == NULL) {
			rowstat rs;
			res_tag_set(&t, "agent", a->id);
			if ((rv = row_query(c, &t, 1, &rs)) != 0)
				return rv;
			o = row_obj(c, &rs);
			jset(c, agents, a->id, o);
		}
		if (o == NULL)
			continue;
		jset(c, o, "name", jstr(a->name));
		jset(c, o, "host", jstr(a->host));
		jset(c, o, "status", jstr(a->status));
		jset(c, o, "cores", json_integer((json_int_t)a->cores));
		jset(c, o, "cpu_pct", json_real(a->cpu_pct));
		jset(c, o, "rss_kb", json_integer((json_int_t)a->rss_kb));
		jset(c, o, "batches", json_integer((json_int_t)a->batches));
		jset(c, o, "dropped_batches", json_integer((json_int_t)a->dropped));
		uint64_t ws[4];
		if ((rv = agent_ws(c, a->id, ws)) != 0)
			return rv;
		if (ws[0] > 0) {
			jset(c, o, "ws_sessions", json_integer((json_int_t)ws[0]));
			jset(c, o, "ws_sessions_failed", json_integer((json_int_t)ws[1]));
			jset(c, o, "ws_msgs_sent", json_integer((json_int_t)ws[2]));
			jset(c, o, "ws_msgs_received", json_integer((json_int_t)ws[3]));
		}
	}

	for (size_t i = 0; in->verdicts != NULL && i < in->verdicts->n; i++) {
		const verdict *vd = &in->verdicts->v[i];
		json_t *o = json_object();
		jset(c, o, "metric", jstr(vd->metric));
		jset(c, o, "expr", jstr(vd->expr));
		jset(c, o, "ok", json_boolean(vd->ok));
		jset(c, o, "nodata", json_boolean(vd->nodata));
		jset(c, o, "observed", vd->error || vd->nodata ? json_null() : json_real(vd->observed));
		jset(c, o, "error", vd->error ? jstr(vd->error) : json_null());
		if (o == NULL || json_array_append_new(ths, o) != 0)
			c->oom = 1;
	}
	return HERD_OK;
}

int summary_json(const results *r, const summary_info *info, json_t **out)
{
	ctx c;
	json_t *root;
	int rv;

	if (r == NULL || out == NULL)
		return HERD_EINVAL;
	if ((rv = ctx_init(&c, r, info)) != 0)
		return rv;
	if ((root = json_object()) == NULL) {
		free(c.a);
		return HERD_ENOMEM;
	}
	if ((rv = json_root_group(&c, root)) == 0 && (rv = json_metrics(&c, root)) == 0)
		rv = json_herd(&c, root);
	if (rv == 0)
		json_capacity(&c, root);
	free(c.a);
	if (rv == 0 && c.oom)
		rv = HERD_ENOMEM;
	if (rv != 0) {
		json_decref(root);
		return rv;
	}
	*out = root;
	return HERD_OK;
}

int summary_json_text(const results *r, const summary_info *info, char **text)
{
	json_t *j;
	int rv;
	if ((rv = summary_json(r, info, &j)) != 0)
		return rv;
	*text = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
	json_decref(j);
	return *text != NULL ? HERD_OK : HERD_ENOMEM;
}
