/* Exports of a stored run; see export.h. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/err.h"
#include "common/metric.h"
#include "common/threshold.h"
#include "controller/export.h"
#include "controller/results.h"

int export_format_parse(const char *s, export_format *out)
{
	static const char *const names[] = { "json", "csv", "junit" };
	for (int i = 0; i < 3; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (export_format)i;
			return 0;
		}
	return -1;
}

/* k6's "contains" of a metric: what its values are. */
static const char *contains(const res_metric_info *m)
{
	if (m->type == RES_TREND)
		return "time";
	if (strcmp(m->name, "data_sent") == 0 || strcmp(m->name, "data_received") == 0)
		return "data";
	return "default";
}

#define MAX_AGENT_NAMES 256

typedef struct exporter {
	store *st;
	const char *run_id;
	export_format fmt;
	FILE *out;
	int64_t started_at;
	const res_metric_info *known;
	size_t nknown;
	unsigned char *announced; /* per known metric: its Metric line was written */
	res_agg *agg;             /* one row's counts, for results_counter_value & co. */
	struct {
		char id[192], name[128];
	} agents[MAX_AGENT_NAMES];
	size_t nagents;
	int io_error;
	uint64_t points;
} exporter;

static const char *agent_name(exporter *x, const char *id)
{
	for (size_t i = 0; i < x->nagents; i++)
		if (strcmp(x->agents[i].id, id) == 0)
			return x->agents[i].name;
	size_t slot = x->nagents < MAX_AGENT_NAMES ? x->nagents++ : MAX_AGENT_NAMES - 1;
	snprintf(x->agents[slot].id, sizeof(x->agents[slot].id), "%s", id);
	if (store_agent_name(x->st, x->run_id, id, x->agents[slot].name,
	                     sizeof(x->agents[slot].name)) != HERD_OK)
		snprintf(x->agents[slot].name, sizeof(x->agents[slot].name), "%s", id);
	return x->agents[slot].name;
}

static void fmt_time(char *buf, size_t len, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03dZ", (int)(ms % 1000));
}

/* The row's tags as a JSON object. */
static json_t *row_tags(exporter *x, const char *agent_id, const res_metric_info *m,
                        const wire_entry *e)
{
	static const char *const classes[] = { "0", "1xx", "2xx", "3xx", "4xx",
		                               "5xx", "6xx", "7xx", "8xx", "9xx" };
	json_t *t = json_object();
	if (t == NULL)
		return NULL;
	if (e->scenario != NULL && *e->scenario)
		json_object_set_new(t, "scenario", json_string(e->scenario));
	if (e->name != NULL && *e->name)
		json_object_set_new(t, "name", json_string(e->name));
	if (e->method != NULL && *e->method)
		json_object_set_new(t, "method", json_string(e->method));
	if (strcmp(m->name, "ws_close_codes") == 0) {
		char code[16];
		snprintf(code, sizeof(code), "%u", e->status_class);
		json_object_set_new(t, "status", json_string(code));
	} else if (e->status_class > 0 && e->status_class < 10) {
		json_object_set_new(t, "status", json_string(classes[e->status_class]));
	}
	json_object_set_new(t, "agent", json_string(agent_name(x, agent_id)));
	/* The series' own tags: "key=value" lines. */
	for (const char *p = e->tags; p != NULL && *p;) {
		const char *nl = strchr(p, '\n'), *end = nl != NULL ? nl : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(end - p));
		if (eq != NULL && eq > p) {
			char key[64], val[256];
			snprintf(key, sizeof(key), "%.*s", (int)(eq - p), p);
			snprintf(val, sizeof(val), "%.*s", (int)(end - eq - 1), eq + 1);
			json_object_set_new(t, key, json_string(val));
		}
		p = nl != NULL ? nl + 1 : end;
	}
	return t;
}

/* The point's value for metric m from row e; 0 when it has none. */
static int point_value(exporter *x, const res_metric_info *m, const wire_entry *e, double *v)
{
	res_agg *a = x->agg;
	a->count = e->count;
	memcpy(a->errors, e->errors, sizeof(a->errors));
	a->bytes_in = e->bytes_in;
	a->bytes_out = e->bytes_out;
	switch (m->type) {
	case RES_COUNTER: {
		uint64_t c = results_counter_value(m->name, a);
		*v = (double)c;
		return c > 0;
	}
	case RES_RATE: {
		uint64_t trues, total;
		if (results_rate_counts(m->name, a, &trues, &total) != HERD_OK || total == 0)
			return 0;
		*v = (double)trues / (double)total;
		return 1;
	}
	case RES_TREND:
		if (e->h == NULL || e->h->total == 0)
			return 0;
		*v = hist_mean(e->h) / 1000.0;
		return 1;
	case RES_GAUGE:
		*v = (double)e->gauge;
		return 1;
	}
	return 0;
}

static int write_metric_line(exporter *x, const res_metric_info *m)
{
	json_t *j = json_pack("{s:s, s:{s:s, s:s, s:s, s:[], s:n}, s:s}", "type", "Metric", "data",
	                      "name", m->name, "type", results_type_name(m->type), "contains",
	                      contains(m), "thresholds", "submetrics", "metric", m->name);
	if (j == NULL)
		return HERD_ENOMEM;
	if (json_dumpf(j, x->out, JSON_COMPACT) != 0 || fputc('\n', x->out) == EOF)
		x->io_error = 1;
	json_decref(j);
	return HERD_OK;
}

static void put_csv_cell(FILE *out, const char *s)
{
	if (s == NULL || strpbrk(s, ",\"\n\r") == NULL) {
		fputs(s != NULL ? s : "", out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static const char *tag_str(json_t *tags, const char *key)
{
	return json_string_value(json_object_get(tags, key));
}

static void write_csv_point(exporter *x, const res_metric_info *m, int64_t at, double v,
                            json_t *tags)
{
	FILE *o = x->out;
	/* k6's columns; extra_tags holds the rest as k=v pairs joined by '&'. */
	fprintf(o, "%s,%lld,%.6g,", m->name, (long long)(at / 1000), v);
	put_csv_cell(o, tag_str(tags, "check"));
	fputs(",,,,", o); /* error, error_code, expected_response: not recorded; */
	put_csv_cell(o, tag_str(tags, "group"));
	fputc(',', o);
	put_csv_cell(o, tag_str(tags, "method"));
	fputc(',', o);
	put_csv_cell(o, tag_str(tags, "name"));
	fputs(",,", o); /* proto */
	put_csv_cell(o, tag_str(tags, "scenario"));
	fputs(",,", o); /* service */
	put_csv_cell(o, tag_str(tags, "status"));
	fputs(",,,,", o); /* subproto, tls_version, url */
	char extra[1024];
	size_t n = 0;
	const char *k;
	json_t *val;
	extra[0] = '\0';
	json_object_foreach(tags, k, val)
	{
		static const char *const own[] = { "check", "group", "method", "name", "scenario", "status" };
		int skip = 0;
		for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
			skip |= strcmp(k, own[i]) == 0;
		if (!skip && n < sizeof(extra))
			n += (size_t)snprintf(extra + n, sizeof(extra) - n, "%s%s=%s", n ? "&" : "", k,
			                      json_string_value(val));
	}
	put_csv_cell(o, extra);
	if (fputs(",\n", o) == EOF) /* metadata */
		x->io_error = 1;
}

static int on_row(void *arg, const char *agent_id, int64_t interval_ms, const wire_entry *e)
{
	exporter *x = arg;
	int64_t at = x->started_at + interval_ms;
	char when[40];
	fmt_time(when, sizeof(when), at);
	for (size_t i = 0; i < x->nknown; i++) {
		const res_metric_info *m = &x->known[i];
		double v;
		if (!results_source_is(m->source, e->metric) || !point_value(x, m, e, &v))
			continue;
		json_t *tags = row_tags(x, agent_id, m, e);
		if (tags == NULL)
			return HERD_ENOMEM;
		x->points++;
		if (x->fmt == EXPORT_CSV) {
			write_csv_point(x, m, at, v, tags);
			json_decref(tags);
			continue;
		}
		if (!x->announced[i]) {
			x->announced[i] = 1;
			if (write_metric_line(x, m) != HERD_OK) {
				json_decref(tags);
				return HERD_ENOMEM;
			}
		}
		json_t *data = json_pack("{s:s, s:f, s:o}", "time", when, "value", v, "tags", tags);
		if (data != NULL && m->type == RES_TREND) {
			/* Beyond k6's per-sample points: the interval's own figures. */
			json_object_set_new(data, "count", json_integer((json_int_t)e->h->total));
			static const double ps[] = { 50, 90, 95, 99 };
			static const char *const pn[] = { "p50", "p90", "p95", "p99" };
			for (int k = 0; k < 4; k++)
				json_object_set_new(data, pn[k],
				                    json_real((double)hist_percentile(e->h, ps[k]) / 1000.0));
			json_object_set_new(data, "max", json_real((double)e->h->max / 1000.0));
		}
		json_t *j = data != NULL ? json_pack("{s:s, s:o, s:s}", "type", "Point", "data", data,
		                                     "metric", m->name)
		                         : NULL;
		if (j == NULL)
			return HERD_ENOMEM;
		if (json_dumpf(j, x->out, JSON_COMPACT) != 0 || fputc('\n', x->out) == EOF)
			x->io_error = 1;
		json_decref(j);
	}
	return x->io_error ? HERD_EIO : HERD_OK;
}

/* ---- JUnit ---- */

void export_xml_text(FILE *o, const char *s)
{
	for (; s != NULL && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", o); break;
		case '>': fputs("&gt;", o); break;
		case '&': fputs("&amp;", o); break;
		case '"': fputs("&quot;", o); break;
		default:
			/* Control characters are not allowed in XML 1.0. */
			if ((unsigned char)*s >= 0x20 || *s == '\n' || *s == '\t')
				fputc(*s, o);
		}
	}
}

typedef struct junit_case {
	char *suite, *name, *failure; /* failure NULL: passed */
} junit_case;

typedef struct junit {
	junit_case *c;
	size_t n, cap;
} junit;

static int junit_add(junit *j, const char *suite, const char *name, const char *failure)
{
	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 16;
		junit_case *nc = realloc(j->c, cap * sizeof(*nc));
		if (nc == NULL)
			return HERD_ENOMEM;
		j->c = nc;
		j->cap = cap;
	}
	junit_case *c = &j->c[j->n++];
	c->suite = strdup(suite);
	c->name = strdup(name);
	c->failure = failure != NULL ? strdup(failure) : NULL;
	return c->suite != NULL && c->name != NULL && (failure == NULL || c->failure != NULL)
	               ? HERD_OK
	               : HERD_ENOMEM;
}

static void junit_free(junit *j)
{
	for (size_t i = 0; i < j->n; i++) {
		free(j->c[i].suite);
		free(j->c[i].name);
		free(j->c[i].failure);
	}
	free(j->c);
}

typedef struct verdict_ctx {
	junit *j;
	const char *run_suite;
} verdict_ctx;

static int on_verdict(void *arg, const store_verdict *v)
{
	verdict_ctx *vc = arg;
	th_metric m;
	char err[128], name[512], failure[512];
	const char *suite = vc->run_suite;
	if (th_parse_metric(v->metric, &m, err, sizeof(err)) == HERD_OK)
		for (size_t i = 0; i < m.ntags; i++)
			if (strcmp(m.tags[i].key, "scenario") == 0)
				suite = m.tags[i].value;
	snprintf(name, sizeof(name), "threshold %s: %s", v->metric, v->expr);
	if (v->error != NULL)
		snprintf(failure, sizeof(failure), "%s: could not be judged: %s", v->expr, v->error);
	else if (v->nodata)
		snprintf(failure, sizeof(failure), "%s: no data", v->expr);
	else
		snprintf(failure, sizeof(failure), "%s: observed %.6g", v->expr, v->observed);
	return junit_add(vc->j, suite, name, v->ok ? NULL : failure);
}

/* Named checks per scenario, from the run's results. */
static int add_checks(junit *j, const results *r)
{
	const char **scen = NULL, **names = NULL;
	size_t ns = 0, nn = 0;
	int rv = results_tag_values(r, "checks", "scenario", NULL, 0, &scen, &ns);
	for (size_t i = 0; rv == HERD_OK && i < ns; i++) {
		th_tag f[2];
		res_tag_set(&f[0], "scenario", scen[i]);
		free(names);
		names = NULL;
		if ((rv = results_tag_values(r, "checks", "check", f, 1, &names, &nn)) != HERD_OK)
			break;
		for (size_t k = 0; rv == HERD_OK && k < nn; k++) {
			res_agg *a = malloc(sizeof(*a));
			uint64_t passed = 0, total = 0;
			if (a == NULL) {
				rv = HERD_ENOMEM;
				break;
			}
			res_tag_set(&f[1], "check", names[k]);
			if ((rv = results_query(r, "checks", f, 2, a)) == HERD_OK)
				rv = results_rate_counts("checks", a, &passed, &total);
			free(a);
			if (rv != HERD_OK)
				break;
			char name[256], failure[256];
			snprintf(name, sizeof(name), "check %s", names[k]);
			snprintf(failure, sizeof(failure), "%llu of %llu failed (%.2f%% passed)",
			         (unsigned long long)(total - passed), (unsigned long long)total,
			         total ? 100.0 * (double)passed / (double)total : 0.0);
			rv = junit_add(j, scen[i], name, passed < total ? failure : NULL);
		}
	}
	free(scen);
	free(names);
	return rv;
}

static int write_junit(store *st, const char *run_id, FILE *o, char *err, size_t errlen)
{
	store_run info;
	results *r = NULL;
	junit j = { 0 };
	int rv;
	if ((rv = store_run_get(st, run_id, &info)) != HERD_OK) {
		snprintf(err, errlen, "%s", store_errmsg(st));
		return rv;
	}
	verdict_ctx vc = { &j, info.name };
	if ((rv = store_each_verdict(st, run_id, on_verdict, &vc)) != HERD_OK ||
	    (rv = store_load_results(st, run_id, &r)) != HERD_OK) {
		snprintf(err, errlen, "%s", rv == HERD_ENOMEM ? "out of memory" : store_errmsg(st));
		goto done;
	}
	if ((rv = add_checks(&j, r)) != HERD_OK) {
		snprintf(err, errlen, "reading checks: %s", herd_strerror(rv));
		goto done;
	}
	double secs = (double)(info.duration_ms > 0 ? info.duration_ms
	                                            : (info.ended_at > info.started_at
	                                                       ? info.ended_at - info.started_at
	                                                       : 0)) /
	              1000.0;
	size_t failures = 0;
	for (size_t i = 0; i < j.n; i++)
		failures += j.c[i].failure != NULL;
	fprintf(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"");
	export_xml_text(o, info.name);
	fprintf(o, "\" tests=\"%zu\" failures=\"%zu\" time=\"%.3f\">\n", j.n, failures, secs);
	/* Suites in first-seen order; each case once. */
	for (size_t i = 0; i < j.n; i++) {
		int seen = 0;
		for (size_t k = 0; k < i && !seen; k++)
			seen = strcmp(j.c[k].suite, j.c[i].suite) == 0;
		if (seen)
			continue;
		size_t tests = 0, fails = 0;
		for (size_t k = i; k < j.n; k++)
			if (strcmp(j.c[k].suite, j.c[i].suite) == 0) {
				tests++;
				fails += j.c[k].failure != NULL;
			}
		fprintf(o, "  <testsuite name=\"");
		export_xml_text(o, j.c[i].suite);
		fprintf(o, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" time=\"%.3f\">\n", tests,
		        fails, secs);
		for (size_t k = i; k < j.n; k++) {
			if (strcmp(j.c[k].suite, j.c[i].suite) != 0)
				continue;
			fprintf(o, "    <testcase classname=\"herd.");
			export_xml_text(o, j.c[k].suite);
			fprintf(o, "\" name=\"");
			export_xml_text(o, j.c[k].name);
			fprintf(o, "\" time=\"%.3f\"", secs);
			if (j.c[k].failure == NULL) {
				fprintf(o, "/>\n");
				continue;
			}
			fprintf(o, ">\n      <failure message=\"");
			export_xml_text(o, j.c[k].failure);
			fprintf(o, "\" type=\"%s\">", strncmp(j.c[k].name, "check", 5) == 0 ? "check"
			                                                                   : "threshold");
			export_xml_text(o, j.c[k].failure);
			fprintf(o, "</failure>\n    </testcase>\n");
		}
		fprintf(o, "  </testsuite>\n");
	}
	if (fprintf(o, "</testsuites>\n") < 0 || ferror(o)) {
		snprintf(err, errlen, "writing failed");
		rv = HERD_EIO;
	}
done:
	results_free(r);
	junit_free(&j);
	store_run_fini(&info);
	return rv;
}

int export_run(store *st, const char *run_id, export_format fmt, FILE *out, char *err,
               size_t errlen)
{
	if (fmt == EXPORT_JUNIT)
		return write_junit(st, run_id, out, err, errlen);
	exporter *x = calloc(1, sizeof(*x));
	store_run info;
	int rv;
	if (x == NULL)
		return HERD_ENOMEM;
	if ((rv = store_run_get(st, run_id, &info)) != HERD_OK) {
		snprintf(err, errlen, "%s", store_errmsg(st));
		free(x);
		return rv;
	}
	x->st = st;
	x->run_id = run_id;
	x->fmt = fmt;
	x->out = out;
	x->started_at = info.started_at;
	store_run_fini(&info);
	x->known = results_known_metrics(&x->nknown);
	x->announced = calloc(x->nknown, 1);
	x->agg = calloc(1, sizeof(*x->agg));
	if (x->announced == NULL || x->agg == NULL) {
		rv = HERD_ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	if (fmt == EXPORT_CSV &&
	    fputs("metric_name,timestamp,metric_value,check,error,error_code,expected_response,group,"
	          "method,name,proto,scenario,service,status,subproto,tls_version,url,extra_tags,"
	          "metadata\n",
	          out) == EOF)
		x->io_error = 1;
	rv = store_each_interval(st, run_id, NULL, STORE_BY_ROW, on_row, x);
	if (rv == HERD_OK && (x->io_error || fflush(out) != 0))
		rv = HERD_EIO;
	if (rv != HERD_OK)
		snprintf(err, errlen, "%s", rv == HERD_EIO ? "writing failed" : store_errmsg(st));
done:
	free(x->announced);
	free(x->agg);
	free(x);
	return rv;
}
