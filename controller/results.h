/*
 * The merged results of one run, in memory: every metric series an agent sent
 * (keyed by metric, scenario, step name, method, status class, agent and its
 * other tags: flow, group, the user's own),
 * summed over all intervals, plus the per-interval values of gauges so their
 * minimum and maximum over time are right. The controller feeds each merged
 * METRICS batch in; thresholds, the summary and the store read it back with
 * tag-filtered queries. Percentiles always come from merged histograms.
 * Not thread-safe: one owner at a time.
 */
#ifndef HERD_CONTROLLER_RESULTS_H
#define HERD_CONTROLLER_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "common/hist.h"
#include "common/metric.h"
#include "common/threshold.h"
#include "proto/wire.h"

typedef struct results results;

/* k6 metric types, which decide the aggregations a threshold may use. */
typedef enum res_type {
	RES_COUNTER = 0, /* count, rate (per second of run time) */
	RES_RATE,        /* rate: non-zero samples / all samples */
	RES_TREND,       /* avg, min, med, max, p(N); durations in ms */
	RES_GAUGE,       /* value, min, max over the run's intervals */
} res_type;

/* k6 spelling of a metric type: "counter", "rate", "trend", "gauge". */
const char *results_type_name(res_type t);

/* What a metric name means: its type and the stored series it is read from
 * ("http_reqs" is the count of the "http_req_duration" series). */
typedef struct res_metric_info {
	const char *name;   /* k6 name as shown and queried */
	res_type type;
	const char *source; /* metric name of the series agents send */
} res_metric_info;

/* The table of known k6 metrics, sorted by name; *n gets its length. */
const res_metric_info *results_known_metrics(size_t *n);

/*
 * Looks up a metric name. Known k6 names (http_reqs, http_req_failed,
 * data_received, iteration_duration, vus, ...) are answered from a fixed
 * table; any other name is looked up among r's series (r may be NULL): a
 * series with a histogram makes it a trend read from itself, without one a
 * counter. Returns HERD_OK and fills *out (strings are static or owned by r),
 * or HERD_ENOTFOUND for an unknown name with no series.
 */
/* 1 when series of `metric` feed a known metric with this source (one
 * name, or several separated by '|'). */
int results_source_is(const char *source, const char *metric);

int results_metric_info(const results *r, const char *name, res_metric_info *out);

/* The sum of all matching series of one metric. Embeds a full histogram
 * (about 15 kB), so keep it off deep recursion. */
typedef struct res_agg {
	uint64_t count;
	uint64_t errors[ERRK__N];
	uint64_t bytes_in, bytes_out;
	hist h;              /* merged histogram of every matching series, µs */
	uint32_t nseries;    /* number of series that matched */
	int has_gauge;       /* 1 when gauge points matched */
	int64_t gauge_last;  /* sum over matching series at the last interval */
	int64_t gauge_min;   /* smallest per-interval sum */
	int64_t gauge_max;   /* largest per-interval sum */
} res_agg;

/*
 * Creates an empty results object for a run whose agents report every
 * interval_len_ms milliseconds (0 means 1000). Returns HERD_OK and *out (free
 * with results_free), or HERD_ENOMEM.
 */
int results_new(uint32_t interval_len_ms, results **out);
void results_free(results *r);

/*
 * Merges one batch: n entries sent by agent_id for the interval starting at
 * interval_ms (ms since run start). An entry's tags ("key=value" lines, see
 * wire_entry) are part of its series key as sent, and are parsed once when
 * the series is first seen. Counts, errors, bytes and histograms add
 * up; for gauge metrics (vus, vus_max) the entry's gauge becomes the series'
 * value at that interval (a second value for the same series and interval
 * replaces the first). The caller keeps ownership of entries; NULL strings
 * count as "". Deduplication of batches is the caller's job. Returns HERD_OK,
 * HERD_EINVAL (NULL agent_id or entries with n > 0, negative interval_ms), or
 * HERD_ENOMEM, in which case r may hold part of the batch.
 */
int results_add_batch(results *r, const char *agent_id, int64_t interval_ms,
                      const wire_entry *entries, size_t n);

/* Run length as the results see it: the end of the latest interval merged
 * (0 before any batch). The last interval counts in full even when the run
 * ended inside it. */
int64_t results_duration_ms(const results *r);
/* Sets the run's measured duration (from the first agent's start to the last
 * agent's end), which then takes the place of the interval-based one. */
void results_set_duration_ms(results *r, int64_t ms);
uint32_t results_interval_len_ms(const results *r);

/*
 * Sums every series of metric (a k6 name, see results_metric_info) that
 * matches all ntags tag filters into *out. Tag keys: "scenario", "name" (or
 * "check", its alias for checks), "method" (case-insensitive), "status" (a
 * class: "2xx", "5xx", or "0" for no response) and "agent" match the series'
 * own fields; any other key ("flow", "group", a user's tag) matches a series
 * whose tags hold that key with exactly that value ("phase:main" also
 * matches every series without a phase tag: all but a setup's), so a key no series has
 * matches nothing (and an empty value, which thresholds cannot spell, matches
 * the series without the key). Returns HERD_OK (also when nothing matched: out->nseries
 * is then 0), HERD_ENOTFOUND for an unknown metric, HERD_EINVAL for a key
 * that is not spelled as one (see th_tag_key_valid) or a status value that
 * is not a class, HERD_ENOMEM.
 */
int results_query(const results *r, const char *metric, const th_tag *tags, size_t ntags,
                  res_agg *out);

/*
 * For a rate metric, the number of non-zero samples and of all samples in a:
 * http_req_failed counts failed requests (any error kind), ws_session_failed
 * failed WebSocket sessions (any error kind), checks counts passed checks. Returns HERD_OK, or HERD_EINVAL when metric is not a rate.
 */
int results_rate_counts(const char *metric, const res_agg *a, uint64_t *trues, uint64_t *total);

/* For a counter metric, its total in a: bytes for data_received (bytes_in)
 * and data_sent (bytes_out), the count for everything else. */
uint64_t results_counter_value(const char *metric, const res_agg *a);

/*
 * Distinct values of tag key (any key results_query takes: "scenario",
 * "flow", "group", ...) among the series of metric (a k6 name, or NULL for
 * every metric) that match the ntags filters, sorted, without ""; series
 * without the key add nothing.
 * On HERD_OK *vals is a new array of *n strings (free the array with free();
 * the strings belong to r and live until r is freed). Errors as
 * results_query.
 */
int results_tag_values(const results *r, const char *metric, const char *key, const th_tag *tags,
                       size_t ntags, const char ***vals, size_t *n);

/* A value of the status key and the count summed over the series holding it. */
typedef struct res_status_count {
	uint32_t status;
	uint64_t count;
} res_status_count;

/*
 * Sums the counts of the series of metric that match the ntags filters, by
 * their status value as sent: a class for HTTP series, the close code for
 * "ws_close_codes". Sorted by count, largest first, then by status. On
 * HERD_OK *out is a new array of *n values (free with free(); NULL when
 * *n is 0). Errors as results_query.
 */
int results_by_status(const results *r, const char *metric, const th_tag *tags, size_t ntags,
                      res_status_count **out, size_t *n);

/* Distinct stored metric names (as agents send them), sorted. Ownership as
 * results_tag_values. Returns HERD_OK or HERD_ENOMEM. */
int results_series_metrics(const results *r, const char ***vals, size_t *n);

/* One series as results_each_series shows it; strings and h belong to r. */
typedef struct res_series_view {
	const char *metric, *scenario, *name, *method, *agent;
	const char *tags;      /* "key=value" lines as sent, "" when none */
	uint32_t status_class; /* a class (2 = 2xx), or a close code for ws_close_codes */
	uint64_t count, errors[ERRK__N], bytes_in, bytes_out;
	const hist *h;         /* NULL for a series without one */
	int is_gauge;
	int64_t gauge_last;    /* a gauge's value at its latest interval */
} res_series_view;
typedef int (*res_series_fn)(void *arg, const res_series_view *v);

/* Calls fn for every series of r, in the order they were first seen. A
 * non-zero return of fn stops the walk and is returned; else HERD_OK. */
int results_each_series(const results *r, res_series_fn fn, void *arg);

/* Returns HERD_OK when results_query accepts every tag filter (keys spelled
 * as keys, status values that are classes), HERD_EINVAL otherwise. */
int results_check_tags(const th_tag *tags, size_t ntags);

/* Fills a th_tag; values too long are truncated. A small helper for callers
 * building filters. */
void res_tag_set(th_tag *t, const char *key, const char *value);

#endif
