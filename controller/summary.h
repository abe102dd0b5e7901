/*
 * The end-of-run summary, in k6's style: a text report for the terminal and
 * a JSON document in the layout of k6's --summary-export (plus a "herd"
 * section with what k6 has no place for: errors by kind, per-scenario,
 * per-step and per-agent tables, thresholds). Both are computed from merged
 * results only, so a summary rebuilt from the store equals the live one.
 */
#ifndef HERD_CONTROLLER_SUMMARY_H
#define HERD_CONTROLLER_SUMMARY_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "common/plan.h"
#include "controller/results.h"
#include "controller/search.h"
#include "controller/verdict.h"

/* One agent of the run, as the controller saw it. */
typedef struct summary_agent {
	const char *id;     /* as in the results' agent tag */
	const char *name;
	const char *host;
	const char *status; /* "done", "lost", "failed", ... */
	uint32_t cores;     /* workers it ran */
	double cpu_pct;     /* last reported, 100 = one core */
	uint64_t rss_kb;
	uint64_t batches;   /* batches merged */
	uint64_t dropped;   /* batches the agent had to drop */
} summary_agent;

/* What the summary says besides the metrics. Every field may be NULL/0. */
typedef struct summary_info {
	const char *run_id;
	const char *plan_name;
	const plan *plan;            /* scenarios and executors; without it the
	                              * scenarios come from the results */
	const char *status;          /* "passed", "failed", "aborted", ... */
	const char *reason;          /* why the run ended so, shown after the status
	                              * (it replaces the degraded note); NULL: none */
	int degraded;                /* 1 when agents were lost or batches missing */
	const verdict_set *verdicts; /* thresholds, also naming the submetrics shown */
	const summary_agent *agents; /* when set, the agent table lists these (lost ones too) */
	size_t nagents;
	const char *http_driver;     /* --http-driver ("auto", ...); with plan, each scenario
	                              * says its driver (hdrv_describe); NULL: not said */
	const search *search;        /* a breaking-point search: the "capacity" section */
} summary_info;

/*
 * Writes the text summary of r to out: checks one line per name, metrics
 * with their submetrics (the thresholds' and one group_duration{group:G} per
 * group), errors by kind, per-scenario, per-flow (iterations and their share,
 * requests, p95), per-step and per-agent tables, thresholds. Returns HERD_OK, HERD_EIO when
 * writing fails, or HERD_ENOMEM.
 */
int summary_write_text(FILE *out, const results *r, const summary_info *info);

/* As summary_write_text, into a new NUL-terminated string (*text, free with
 * free()). Returns HERD_OK or HERD_ENOMEM. */
int summary_text(const results *r, const summary_info *info, char **text);

/*
 * Builds the JSON summary. Layout, as k6's --summary-export:
 *   "metrics": per metric, per submetric under its name as written in the
 *     thresholds, and per group, flow and check that has series, under
 *     "group_duration{group:G}", "iterations{flow:F}",
 *     "http_req_duration{flow:F}" and "checks{check:C}": trends {avg, min,
 *     med, max, p(90), p(95), p(99)} in ms; counters {count, rate}; rates {value, passes, fails}, where, as in
 *     k6, passes counts the non-zero samples (for http_req_failed: the failed
 *     requests); gauges {value, min, max}; and "thresholds": {expr: bool}
 *     where, as in k6's export, true means the threshold FAILED (k6 kept this
 *     inverted meaning for compatibility; see k6 issue #1498).
 *   "root_group": {name, path, groups, checks: {name: {name, path, passes,
 *     fails}}}: the checks outside groups, and each group (nested by "::",
 *     path "::outer::inner") with its own checks.
 *   "herd": {run_id, plan, status, degraded, duration_ms, errors_by_kind,
 *     ws_close_codes: {code: sessions} and ws_close_codes_by_step:
 *     [{scenario, name, code, count}] for the ws_closed_abnormally sessions
 *     (1006: no close frame), scenarios: {name: {..., flows: {flow: {iterations, share (of the
 *     scenario's iterations, 0..1), requests, p(95)}}}},
 *     steps: [{scenario, name, method, ...}],
 *     agents: {id: {...}}, thresholds: [{metric, expr, ok, nodata, observed,
 *     error}]}.
 * Returns HERD_OK and a new reference in *out (json_decref it), or
 * HERD_ENOMEM.
 */
int summary_json(const results *r, const summary_info *info, json_t **out);

/* As summary_json, serialized (indented, keys in insertion order) into a new
 * string (*text, free with free()). Returns HERD_OK or HERD_ENOMEM. */
int summary_json_text(const results *r, const summary_info *info, char **text);

/* Formats a duration given in microseconds the way k6 does: "850µs",
 * "12.34ms", "1.5s", "2m3.5s". Writes into buf (len bytes) and returns buf. */
const char *summary_fmt_duration(double us, char *buf, size_t len);

#endif
