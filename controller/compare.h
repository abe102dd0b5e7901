/*
 * Run-versus-run comparison (`herd results compare BASE CAND`): per
 * scenario, step and metric (p50, p95, p99, requests/s, error rate) the two
 * runs' figures, their difference, and a verdict from a Mann-Whitney U test
 * over per-window values (intervals merged until a window holds enough
 * samples for its percentile) together with a minimum effect, so that noise
 * is not called a regression. Reads the store; prints nothing itself
 * (cmp_print renders a report as text, markdown or JSON).
 */
#ifndef HERD_CONTROLLER_COMPARE_H
#define HERD_CONTROLLER_COMPARE_H

#include <stddef.h>
#include <stdio.h>

#include "controller/store.h"

typedef enum cmp_verdict {
	CMP_PASS = 0,     /* the difference is under the minimum effect */
	CMP_IMPROVEMENT,  /* better by at least the minimum effect, and significant */
	CMP_INCONCLUSIVE, /* at least the minimum effect, but not significant or too few intervals */
	CMP_REGRESSION,   /* worse by at least the minimum effect, and significant */
} cmp_verdict;

const char *cmp_verdict_name(cmp_verdict v);

typedef struct cmp_opts {
	double min_effect;    /* relative, 0.05 = 5% (error rates: also at least 0.1 points) */
	double alpha;         /* significance level of the two-sided test, default 0.01 */
	size_t min_intervals; /* fewer per-interval values on a side: inconclusive (default 5) */
} cmp_opts;

/* One compared figure of one step. */
typedef struct cmp_row {
	char *series;   /* the metric agents send: "http_req_duration", "ws_msg_rtt" */
	char *scenario;
	char *name;     /* the step's name */
	const char *figure; /* "p50", "p95", "p99", "req/s", "error rate" */
	double base, cand;  /* whole-run values: ms, requests/s, or a fraction */
	double delta;       /* (cand - base) / base; for error rates cand - base */
	double p;           /* two-sided p-value of the Mann-Whitney U test over the windows */
	double p_adj;       /* p times the number of rows (Bonferroni), at most 1: judged */
	int fig;            /* which figure (compare.c's F_*) */
	size_t nbase, ncand; /* per-window values on each side (see compare.c) */
	cmp_verdict verdict;
} cmp_row;

typedef struct cmp_report {
	cmp_row *rows;
	size_t n;
	char **unmatched; /* "base only: http_req_duration browse/home", ... */
	size_t nunmatched;
	size_t count[4];  /* rows per verdict */
} cmp_report;

/*
 * Compares run cand against run base (ids as stored). Returns HERD_OK and
 * *out (free with cmp_report_free), HERD_ENOTFOUND for an unknown run,
 * HERD_ENOMEM or HERD_ESTORE, with the reason in err.
 */
int cmp_runs(store *st, const char *base, const char *cand, const cmp_opts *o, cmp_report **out,
             char *err, size_t errlen);
void cmp_report_free(cmp_report *r);

typedef enum cmp_format { CMP_TEXT = 0, CMP_MARKDOWN, CMP_JSON } cmp_format;

/* Renders r. Returns HERD_OK or HERD_EIO. */
int cmp_print(const cmp_report *r, const char *base, const char *cand, const cmp_opts *o,
              cmp_format fmt, FILE *out);

#endif
