/*
 * The results store: one SQLite file (WAL mode, schema version in PRAGMA
 * user_version, migrated on open) holding runs, the agents of each run,
 * metric series keys (tags included), per-interval values with histogram
 * blobs, threshold verdicts, events and summaries. Each merged batch is one transaction, so a
 * killed controller leaves a consistent database, and a (run, agent, seq)
 * batch is merged exactly once. A run's results can be rebuilt from the
 * database alone (store_load_results).
 *
 * A store is one SQLite connection and is not thread-safe: use it from one
 * thread. Other processes may read the file at the same time (WAL).
 * Every SQLite failure is returned as HERD_ESTORE; store_errmsg tells what
 * was being done and SQLite's own message.
 */
#ifndef HERD_CONTROLLER_STORE_H
#define HERD_CONTROLLER_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/hist.h"
#include "controller/results.h"
#include "controller/search.h"
#include "controller/verdict.h"
#include "proto/wire.h"

/* The schema version this build creates and reads. Version 2 added
 * series_keys.tags, version 3 the interval_stats table (per-interval count,
 * errors and percentiles, filled at merge time) and the interval_series
 * view (docs/store.md), version 4 herd serve's schedules, scheduled_runs
 * and deliveries (controller/store_serve.h); older files are migrated when
 * opened. */
#define STORE_SCHEMA_VERSION 6

typedef struct store store;

typedef enum store_status {
	STORE_RUNNING = 0,
	STORE_PASSED,
	STORE_FAILED,      /* thresholds failed */
	STORE_ABORTED,     /* an abort rule or the user stopped it */
	STORE_INTERRUPTED, /* the controller went away before the end */
	STORE_ERROR,       /* setup or internal error */
} store_status;

/* Name stored in runs.status ("running", "passed", ...). */
const char *store_status_name(store_status s);

/* An agent taking part in a run. Strings may be NULL (stored as NULL). */
typedef struct store_agent {
	const char *agent_id;
	const char *name;
	const char *host;
	uint32_t cores;
	double weight;       /* its share of the load, 0..1 */
	int64_t joined_at;   /* ms since the Unix epoch, 0 = unknown */
	int64_t left_at;     /* ms since the Unix epoch, 0 = still there */
	const char *status;  /* "ready", "running", "lost", "done", ... */
	double cpu_pct;      /* last reported CPU use (100 = one core), 0 = unknown */
	uint64_t rss_kb;     /* last reported resident memory, 0 = unknown */
} store_agent;

/*
 * Opens (creating if needed) the store at path and migrates its schema to
 * STORE_SCHEMA_VERSION, in WAL mode with a busy timeout of 5 s and foreign
 * keys on. Returns HERD_OK and *out (close with store_close), or HERD_ESTORE
 * (cannot open, not a database, a schema newer than this build) or
 * HERD_ENOMEM, with a message in err (errlen bytes, always terminated); *out
 * is then untouched.
 */
int store_open(const char *path, store **out, char *err, size_t errlen);

/* Closes the connection and frees st. NULL is fine. */
void store_close(store *st);

/* The message of the last failed call: what herd was doing and, for SQLite
 * failures, SQLite's message. "" when none failed yet. Valid until the next
 * call on st. */
const char *store_errmsg(const store *st);

/* Schema version the open database reports (PRAGMA user_version), or -1. */
int store_schema_version(store *st);

/*
 * Writes a new run id "YYYYMMDD-HHMMSS-xxxx" (UTC time now_ms, ms since the
 * epoch, and four random hex digits) into buf (at least 21 bytes).
 */
void store_make_run_id(int64_t now_ms, char *buf, size_t len);

/*
 * Records a new run with status "running". Times are ms since the epoch;
 * interval_len_ms is the agents' reporting interval (needed to rebuild
 * results). plan_file and plan_text may be NULL. Returns HERD_OK or
 * HERD_ESTORE (for example when id already exists).
 */
int store_run_begin(store *st, const char *run_id, const char *name, const char *plan_file,
                    const char *plan_text, int64_t started_at, uint32_t interval_len_ms);

/*
 * Finishes a run: status, exit code, degraded flag (1 when agents were lost
 * or batches missing), the end time (ms since the epoch) and the summaries
 * (either may be NULL). Returns HERD_OK, HERD_ENOTFOUND for an unknown run,
 * HERD_ESTORE.
 */
int store_run_end(store *st, const char *run_id, store_status status, int exit_code, int degraded,
                  int64_t ended_at, const char *summary_json, const char *summary_text);

/*
 * Inserts or updates an agent of a run. On update, NULL strings, zero times
 * and zero cores keep the stored values. The counters (batches, last_seq)
 * are kept by store_add_batch. Returns HERD_OK or HERD_ESTORE (also for an
 * unknown run).
 */
/* Records the measured duration of the load (ms), which rates are computed
 * over; results loaded back from the store use it too. */
int store_run_duration(store *st, const char *run_id, int64_t duration_ms);

int store_agent_upsert(store *st, const char *run_id, const store_agent *a);

/*
 * Stores one METRICS batch in one transaction: its (run, agent, seq) record,
 * any new series keys, one interval row per entry, and the agent's batch
 * count and last seq. When (run, agent, seq) is already stored, nothing
 * changes and *duplicate is set to 1 (else 0). On any failure the
 * transaction is rolled back, so the batch is either wholly stored or not at
 * all, and a retry is not mistaken for a duplicate. The caller keeps
 * entries. Returns HERD_OK, HERD_EINVAL for NULL arguments, HERD_ENOMEM, or
 * HERD_ESTORE (also for an unknown run or an entry without a metric name).
 */
int store_add_batch(store *st, const char *run_id, const char *agent_id, uint64_t seq,
                    int64_t interval_ms, const wire_entry *entries, size_t n, int *duplicate);
/*
 * Several batches in one transaction (one commit, one sync, for all):
 * store_batches_begin, then store_batch_put for each (as store_add_batch,
 * *duplicate also for a batch put earlier in the same transaction), then
 * store_batches_end with commit = 1 when every put returned HERD_OK, else 0:
 * it rolls back, so no batch of the group is stored. store_batches_end
 * returns HERD_OK once committed, HERD_ESTORE when rolled back (also when the
 * commit fails).
 */
int store_batches_begin(store *st);
int store_batch_put(store *st, const char *run_id, const char *agent_id, uint64_t seq,
                    int64_t interval_ms, const wire_entry *entries, size_t n, int *duplicate);
int store_batches_end(store *st, int commit);

/* Stores a breaking-point search's levels (capacity_levels) and its answer
 * with the knee and USL fit (capacity_fit) for run_id, replacing any stored
 * before, in one transaction. Returns HERD_OK, HERD_EINVAL, or HERD_ESTORE
 * (store_errmsg). */
int store_add_capacity(store *st, const char *run_id, const search *se);

/* A stored level of a breaking-point search (capacity_levels): its hold's
 * intervals judged, from_ms to to_ms (both starts, ms since the run's
 * start); strings valid during the callback only. */
typedef struct store_cap_level {
	const char *scenario, *verdict;
	double load;
	int64_t from_ms, to_ms;
} store_cap_level;
typedef int (*store_cap_level_fn)(void *arg, const store_cap_level *l);
/* Calls fn for each stored level of run_id in the order they ran. A
 * non-zero return of fn stops and is returned. HERD_OK or HERD_ESTORE. */
int store_each_cap_level(store *st, const char *run_id, store_cap_level_fn fn, void *arg);

/* Replaces the run's stored threshold verdicts with vs, in one transaction.
 * Returns HERD_OK or HERD_ESTORE. */
int store_add_verdicts(store *st, const char *run_id, const verdict_set *vs);

/* Records an event (kind: "agent_lost", "abort", "threshold", ...) at time at
 * (ms since the epoch). agent_id may be NULL. Returns HERD_OK or HERD_ESTORE. */
int store_add_event(store *st, const char *run_id, int64_t at, const char *kind,
                    const char *agent_id, const char *message);

/*
 * Prints one line per run that passes f (NULL: every run), newest first: id, name, start (UTC), duration,
 * status, requests, req/s and p95, after a header line. The numbers come
 * from the stored summary JSON ("-" while a run has none). Returns HERD_OK,
 * HERD_EIO when writing fails, or HERD_ESTORE.
 */
typedef struct store_list_filter {
	const char *plan;   /* only runs of this plan name (NULL: all) */
	const char *status; /* only runs with this status (NULL: all) */
	int64_t limit;      /* at most this many, newest first (0: all) */
	const char *label;  /* only runs stored with this --label KEY=VALUE (NULL: all) */
} store_list_filter;
int store_list_runs(store *st, const store_list_filter *f, FILE *out);

/*
 * Prints the stored summary text of run_id (or a short note when the run has
 * no summary yet). Returns HERD_OK, HERD_ENOTFOUND ("no run 'X'" in
 * store_errmsg), HERD_EIO or HERD_ESTORE.
 */
int store_show_run(store *st, const char *run_id, FILE *out);

/*
 * Rebuilds the merged results of run_id from its stored intervals, so a
 * summary or a verdict can be computed from the database alone. Returns
 * HERD_OK and *out (free with results_free), HERD_ENOTFOUND, HERD_ENOMEM or
 * HERD_ESTORE (also for a corrupt histogram blob).
 */
int store_load_results(store *st, const char *run_id, results **out);

/*
 * Calls fn once per stored interval row of run_id (of one metric as agents
 * send it, e.g. "http_req_duration", or of all when metric is NULL), in the
 * order asked: as stored, by step (so a caller merges each step's interval
 * as it streams by), or by interval (each interval's rows together). fn
 * gets the agent's id, the interval's start (ms since the run's
 * start) and the row as an entry (its strings and histogram are valid during
 * the call only; e->h is NULL for a series without one). A non-zero return
 * of fn stops the walk and is returned. Returns HERD_OK, HERD_ENOTFOUND for
 * an unknown run, HERD_ENOMEM, HERD_ESTORE (also for a corrupt row).
 */
typedef int (*store_interval_fn)(void *arg, const char *agent_id, int64_t interval_ms,
                                 const wire_entry *e);
typedef enum store_order {
	STORE_BY_ROW = 0,  /* as stored */
	STORE_BY_STEP,     /* by scenario, step name, interval */
	STORE_BY_INTERVAL, /* by interval */
} store_order;
int store_each_interval(store *st, const char *run_id, const char *metric, store_order order,
                        store_interval_fn fn, void *arg);

/* A stored run's row. Strings are owned by the struct (store_run_fini). */
typedef struct store_run {
	char *id, *name, *plan_file, *plan_text, *status, *summary_json, *summary_text;
	int64_t started_at, ended_at; /* ms since the epoch; ended_at 0 while running */
	int64_t duration_ms;          /* measured load time, 0 when unknown */
	uint32_t interval_ms;
	int exit_code, degraded;
} store_run;

/* Reads run_id into *out. Returns HERD_OK, HERD_ENOTFOUND, HERD_ENOMEM or
 * HERD_ESTORE; *out needs store_run_fini only after HERD_OK. */
int store_run_get(store *st, const char *run_id, store_run *out);
void store_run_fini(store_run *r);

/*
 * Resolves what a user typed for a run: an exact id, "latest", "previous"
 * (the one before the latest, by start time), or an unambiguous prefix of
 * an id. Writes the id into out. Returns HERD_OK, HERD_ENOTFOUND, HERD_EINVAL
 * (a prefix of several ids) or HERD_ESTORE, with the reason in store_errmsg.
 */
int store_resolve_run(store *st, const char *ref, char *out, size_t len);

/* A stored threshold verdict; strings valid during the callback only. */
typedef struct store_verdict {
	const char *metric, *expr, *error;
	double observed;
	int has_observed, ok, nodata;
} store_verdict;
typedef int (*store_verdict_fn)(void *arg, const store_verdict *v);
/* Calls fn for each verdict of run_id in the order they were judged. A
 * non-zero return of fn stops and is returned. HERD_OK or HERD_ESTORE. */
int store_each_verdict(store *st, const char *run_id, store_verdict_fn fn, void *arg);

/* Marks run_id as the baseline of its plan (an event "baseline"; the latest
 * mark of a plan wins). HERD_OK, HERD_ENOTFOUND or HERD_ESTORE. */
int store_baseline_set(store *st, const char *run_id);

typedef enum store_baseline {
	STORE_BASELINE_MARKED = 0, /* the run marked last with store_baseline_set */
	STORE_BASELINE_LAST_PASSED, /* the latest passed run that started before cand */
} store_baseline;

/* The baseline run for cand among the runs of the same plan (same name),
 * cand itself excluded, into out. HERD_OK, HERD_ENOTFOUND (with the reason in
 * store_errmsg) or HERD_ESTORE. */
int store_find_baseline(store *st, const char *cand, store_baseline how, char *out, size_t len);

/* Calls fn for each agent of run_id (strings valid during the call only; the
 * counters of store_agent are not read). A non-zero return stops and is
 * returned. HERD_OK or HERD_ESTORE. */
typedef int (*store_agent_fn)(void *arg, const store_agent *a);
int store_each_agent(store *st, const char *run_id, store_agent_fn fn, void *arg);

/* Calls fn for each event of run_id in time order (at: ms since the epoch;
 * agent_id and message may be NULL). As store_each_agent. */
typedef int (*store_event_fn)(void *arg, int64_t at, const char *kind, const char *agent_id,
                              const char *message);
int store_each_event(store *st, const char *run_id, store_event_fn fn, void *arg);

/* The name of agent_id in run_id (its id when no name is stored) into out. */
int store_agent_name(store *st, const char *run_id, const char *agent_id, char *out, size_t len);

/*
 * Histogram blob codec (a pure function pair, used for the intervals.hist
 * column). The format is byte 1 (format version), then unsigned LEB128
 * varints: total, sum, min, max, the number of non-empty buckets, and for
 * each of those the gap from the previous bucket index (+1) and its count.
 *
 * store_hist_encode returns HERD_OK and a new buffer in *buf, *len (free with
 * free()), or HERD_ENOMEM. store_hist_decode fills *h from len bytes and
 * returns HERD_OK, or HERD_EPROTO for anything malformed, truncated or
 * inconsistent (bucket counts that do not add up to total); *h is then
 * undefined.
 */
int store_hist_encode(const hist *h, uint8_t **buf, size_t *len);
int store_hist_decode(const uint8_t *buf, size_t len, hist *h);

#endif
