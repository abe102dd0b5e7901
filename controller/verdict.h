/*
 * Threshold verdicts: each plan threshold (a metric with tag filters and a
 * k6 expression such as "p(95) < 500") judged against a run's merged
 * results with k6's semantics per metric type. Trends are read in
 * milliseconds from merged histograms; rates are fractions; counters give a
 * count or a count per second of run time; gauges their min or max over the
 * run's intervals.
 *
 * No data: a threshold on a trend, rate or gauge with no samples at all is
 * flagged nodata and fails (the summary shows "no data"): a filter that
 * matched nothing or a step that never ran proves nothing. A threshold
 * written `{ threshold: ..., allowNoData: true }` passes instead. Counters
 * are different: a counter that saw nothing has the real value 0, so
 * "count >= 100" on it is evaluated (and fails).
 */
#ifndef HERD_CONTROLLER_VERDICT_H
#define HERD_CONTROLLER_VERDICT_H

#include <stddef.h>

#include "common/plan.h"
#include "common/threshold.h"
#include "controller/results.h"

typedef struct verdict {
	char *metric;    /* as written: "http_req_duration{scenario:browse}" */
	char *expr;      /* as written: "p(95) < 500" */
	int parsed;      /* 1 when m and e hold the parsed threshold */
	th_metric m;
	th_expr e;
	res_type type;   /* the metric's type, when known */
	double observed; /* ms for trends, a fraction for rates, a count, a count
	                  * per second, or a gauge value; 0 when error or nodata */
	int ok;          /* 1 when the expression held (or nodata); 0 on error */
	int nodata;      /* 1 when the metric had no samples (see above) */
	int nodata_ok;   /* the threshold allows no data (allowNoData: true) */
	char *error;     /* NULL, or why it could not be evaluated */
} verdict;

typedef struct verdict_set {
	verdict *v;
	size_t n, cap;
	size_t nfailed; /* verdicts with ok == 0, errors included */
	size_t nerrors; /* verdicts with an error */
} verdict_set;

/* Returns HERD_OK and an empty set in *out (free with verdict_set_free), or
 * HERD_ENOMEM. */
int verdict_set_new(verdict_set **out);
void verdict_set_free(verdict_set *vs);

/*
 * Checks that a threshold can be evaluated at all, before a run: the metric
 * is known, its tag filter keys are spelled as keys (any key is taken: one
 * no series carries matches nothing, shown as "no data" or a count of 0),
 * status filters are classes, and the aggregation fits the metric type
 * (p(95) on http_reqs does not). Returns HERD_OK, or HERD_EINVAL
 * with a message in err (errlen bytes, always terminated).
 */
int verdict_check(const th_metric *m, const th_expr *e, char *err, size_t errlen);

/*
 * Computes the value of e's aggregation over the series of m in r, into
 * *value (see verdict.observed for units), and sets *nodata (then *value is
 * 0). Returns HERD_OK, HERD_EINVAL with a message in err when the threshold
 * cannot be evaluated (see verdict_check), or HERD_ENOMEM.
 */
int verdict_value(const results *r, const th_metric *m, const th_expr *e, double *value,
                  int *nodata, char *err, size_t errlen);

/* The value of e's aggregation over the merged series a of a metric of
 * type info, counters' rates per second of span_ms; as verdict_value, for
 * callers that merged a themselves (controller/abort.c's windows). */
void verdict_value_agg(const res_metric_info *info, const th_expr *e, const res_agg *a, int64_t span_ms,
                       double *value, int *nodata);

/*
 * Evaluates one threshold given as text (parsed with th_parse_metric and
 * th_parse_expr) and appends its verdict to vs (no data fails). A threshold that does not
 * parse or cannot be evaluated is appended with its error and ok = 0; that
 * is not an error of this call. Returns HERD_OK or HERD_ENOMEM (vs is then
 * unchanged).
 */
int verdict_add(verdict_set *vs, const results *r, const char *metric_text, const char *expr_text);

/* As verdict_add; allow_nodata 1 lets a threshold that saw no data pass. */
int verdict_add_nodata(verdict_set *vs, const results *r, const char *metric_text, const char *expr_text,
                       int allow_nodata);

/* As verdict_add, for a threshold already parsed into m and e; the texts are
 * what the summary shows. */
int verdict_add_parsed(verdict_set *vs, const results *r, const char *metric_text,
                       const char *expr_text, const th_metric *m, const th_expr *e);

/* Evaluates every threshold of p in plan order. Returns HERD_OK and a new set
 * in *out (free with verdict_set_free), or HERD_ENOMEM. */
int verdict_eval_plan(const plan *p, const results *r, verdict_set **out);

/* 1 when every verdict in vs is ok (an empty set is ok). */
int verdict_all_ok(const verdict_set *vs);

#endif
