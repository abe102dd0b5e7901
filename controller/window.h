/*
 * The live window: the last N merged intervals of a run, per key, as data.
 * A key is the whole cluster, one scenario, or one step (scenario and step
 * name); each interval of a key holds what every agent's batch for that
 * interval added: HTTP requests, failures by error kind and a latency
 * histogram, iterations (completed, started, offered by an arrival-rate
 * executor, dropped), the VU gauges (active and, for the closed model, the
 * target), the WebSocket figures, and each agent's CPU (its agent_cpu
 * gauge). Readers merge any span of the kept intervals: percentiles
 * come from merged histograms, never from averages. Pure: no I/O, no locks
 * (the engine serializes writers and readers), no clock.
 */
#ifndef HERD_CONTROLLER_WINDOW_H
#define HERD_CONTROLLER_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "common/hist.h"
#include "common/metric.h"
#include "proto/wire.h"

typedef struct win win;

/* Keys beyond this many (the cluster, scenarios and steps together) are not
 * kept on their own; their batches still count in the cluster and in their
 * scenario when those keys exist. */
#define WIN_KEYS_MAX 256
/* Agents whose CPU is kept per interval. */
#define WIN_AGENTS_MAX 4096

/* A span of intervals of one key, summed. Embeds two full histograms (about
 * 30 kB): keep it off deep recursion. */
typedef struct win_stats {
	int64_t from_ms, to_ms;  /* the span asked for (interval starts, ms since the run's start) */
	uint32_t intervals;      /* intervals in the span that hold data */
	int64_t latest_ms;       /* the latest of them (-1: none) */
	double seconds;          /* intervals * interval length */
	/* HTTP: requests ended, failed ones (any kind), by kind, latency in µs. */
	uint64_t reqs, failed;
	uint64_t errors[ERRK__N];
	hist lat;
	/* Iterations: completed, started, offered (arrivals due: arrival-rate
	 * executors only), dropped (no VU was free). */
	uint64_t iterations, started, offered, dropped;
	/* Gauges at the latest interval, summed over agents: active VUs, the
	 * closed model's target VUs (has_vus_target: some agent sent one). */
	int64_t vus, vus_target;
	int has_vus_target;
	/* WebSocket: sessions ended and failed, messages sent and received,
	 * sessions open at the latest interval, round trips in µs. */
	uint64_t ws_ended, ws_failed, ws_msgs;
	int64_t ws_open;
	hist rtt;
	/* Derived: per second of the span, and percentiles in ms (0 when empty). */
	double rps, error_rate, p50_ms, p95_ms, p99_ms;
	double offered_rate, started_rate; /* offered vs achieved, per second */
} win_stats;

/* One agent's CPU in one interval (100 = one core). */
typedef struct win_cpu {
	const char *agent; /* the agent id it was recorded under; owned by the window */
	double cpu_pct;
} win_cpu;

/*
 * Creates a window keeping the last n intervals (0: 60) of interval_len_ms
 * each (0: 1000). Returns HERD_OK and *out (free with win_free), or
 * HERD_ENOMEM.
 */
int win_new(size_t n, uint32_t interval_len_ms, win **out);
void win_free(win *w);

/*
 * Adds one merged batch: n entries of agent for the interval starting at
 * interval_ms; its agent_cpu gauge (per mille of one core) becomes the
 * agent's CPU for the interval. The caller deduplicates batches. An interval older than the
 * window already holds is too late and is left out (HERD_OK). Entries stay
 * the caller's. Returns HERD_OK, HERD_EINVAL (negative interval_ms, NULL
 * entries with n > 0) or HERD_ENOMEM (the window may then hold part of it).
 */
int win_add(win *w, const char *agent, int64_t interval_ms, const wire_entry *e, size_t n);

/* Records agent's CPU for the interval starting at interval_ms (a later
 * value for the same interval replaces it); win_add does for agent_cpu. Returns HERD_OK, HERD_EINVAL,
 * HERD_ENOMEM, or HERD_ENOTFOUND past WIN_AGENTS_MAX agents. */
int win_set_cpu(win *w, const char *agent, int64_t interval_ms, double cpu_pct);

/*
 * Sums the intervals from from_ms to to_ms (both interval starts, included)
 * of one key into *out: scenario NULL for the whole cluster, else that
 * scenario, and step NULL for all of the scenario, else that step (a step's
 * name as agents send it). A key never seen, or a span outside the window,
 * gives out->intervals 0. Returns HERD_OK, or HERD_EINVAL (step without
 * scenario).
 */
int win_get(const win *w, const char *scenario, const char *step, int64_t from_ms, int64_t to_ms,
            win_stats *out);

/* The agents' CPU in the interval starting at interval_ms: up to max into
 * out (in the order agents were first recorded); returns the count. */
size_t win_cpu_at(const win *w, int64_t interval_ms, win_cpu *out, size_t max);

/* The latest interval start any batch was added for; -1 before any. */
int64_t win_latest_ms(const win *w);
uint32_t win_interval_len_ms(const win *w);
size_t win_capacity(const win *w);
/* Whether the run has sent HTTP requests (a count above zero), and any
 * WebSocket figure, since the window was made. */
void win_seen(const win *w, int *http, int *ws);

/* The keys seen, in the order first seen: key 0 is the cluster (scenario
 * and step NULL); a scenario's key has step NULL. Returns 0 past the last. */
size_t win_nkeys(const win *w);
int win_key(const win *w, size_t i, const char **scenario, const char **step);

#endif
