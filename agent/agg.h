/*
 * Per-interval aggregation inside one agent worker: a small open-addressing
 * table from integer keys (metric, scenario, step, method, status class) to
 * counters and a histogram. Integer keys keep strings and allocation off the
 * request path; names are attached only when a batch is built for the wire.
 */
#ifndef HERD_AGENT_AGG_H
#define HERD_AGENT_AGG_H

#include <stddef.h>
#include <stdint.h>

#include "common/hist.h"
#include "common/metric.h"

typedef enum agg_metric {
	AM_HTTP_REQ_DURATION = 0,
	AM_HTTP_REQ_WAITING,
	AM_HTTP_REQ_CONNECTING,
	AM_HTTP_REQ_TLS,
	AM_HTTP_REQ_SENDING,
	AM_HTTP_REQ_RECEIVING,
	AM_HTTP_REQ_BLOCKED,
	AM_CHECKS,
	AM_ITERATIONS,
	AM_DROPPED_ITERATIONS,
	AM_VUS,
	AM_VUS_MAX,
	AM_WS_SESSIONS,         /* counter; errors by kind, handshake status class, bytes */
	AM_WS_CONNECTING,       /* trend: connect to 101 */
	AM_WS_SESSION_DURATION, /* trend: connect to the end of the session */
	AM_WS_MSGS_SENT,        /* counter */
	AM_WS_MSGS_RECEIVED,    /* counter */
	AM_WS_MSG_RTT,          /* trend: a send to the message meeting the next expect */
	AM_GROUP_DURATION,      /* trend: a group's steps, keyed by its STEP_GROUP_END */
	AM_WS_CLOSE_CODES,      /* counter per close code (key.code) of the ws_closed_abnormally sessions */
	AM_WS_TLS_HANDSHAKING,  /* trend: the TLS handshake of wss://, TCP connected to its end */
	AM_WS_SESSIONS_OPEN,    /* gauge: sessions in progress (connecting or open) at the interval's end */
	AM_OFFERED_ITERATIONS,  /* counter: arrival-rate arrivals that fell due (started or dropped) */
	AM_ITERATIONS_STARTED,  /* counter per flow (key.sub): iterations begun, i.e. flow picks */
	AM_VUS_TARGET,          /* gauge: the VUs a closed-model executor asks for at that moment */
	AM_AGENT_CPU,           /* gauge: the agent's CPU use over the interval, per mille of one core */
	AM_AGENT_RSS,           /* gauge: the agent's resident memory at the interval's end, KiB */
	AM_RATE_CAPPED,         /* counter: closed-model requests held back by maxRate (each waited
	                         * for its slot); the histogram holds how long, µs */
	AM__N
} agg_metric;

/* k6 name of a metric ("http_req_duration"). */
const char *agg_metric_name(int m);
/* 1 when the metric is a gauge (merged by summing the last values). */
int agg_metric_is_gauge(int m);

#define AGG_NONE 0xffff

/* Keys are hashed and compared as bytes: every byte is a named member, so a
 * key built with a designated initializer has no stray padding. */
typedef struct agg_key {
	uint8_t metric;       /* agg_metric */
	uint8_t method;       /* http_method, or 0xff */
	uint8_t status_class; /* 0 none, 1..5 */
	uint8_t sub;          /* AM_CHECKS: which check of the step; AM_ITERATIONS(_STARTED): the flow */
	uint16_t scenario;    /* index in the plan, AGG_NONE for none */
	uint16_t step;        /* index in the scenario's flow, AGG_NONE for none */
	uint16_t code;        /* AM_WS_CLOSE_CODES: the close code; 0 otherwise */
	uint16_t zero[3];     /* always 0 */
} agg_key;

typedef struct agg_entry {
	agg_key key;
	uint8_t used;
	uint64_t count;
	uint64_t errors[ERRK__N];
	uint64_t bytes_in, bytes_out;
	int64_t gauge;
	hist *h; /* allocated on first agg_observe */
} agg_entry;

typedef struct agg {
	int64_t interval; /* interval index since run start */
	/* Unique to this table as it is: a new one, and one that grew (its
	 * entries moved), get a number no table had. A pointer to an entry
	 * stays good while epoch is what it was when the entry was found. */
	uint64_t epoch;
	size_t cap, len;
	agg_entry *slots;
} agg;

/* Allocates an empty aggregate for interval idx; NULL when out of memory. */
agg *agg_new(int64_t idx);
/* Frees a and everything it owns; NULL is fine. */
void agg_free(agg *a);

/* Returns the entry for k, creating it; NULL only when out of memory. */
agg_entry *agg_get(agg *a, agg_key k);
/* Adds one sample (count 1) with value v µs to k's histogram. */
int agg_observe(agg *a, agg_key k, uint64_t v);
/* Adds n to k's count. */
int agg_count(agg *a, agg_key k, uint64_t n);
/* Sets k's gauge. */
int agg_gauge(agg *a, agg_key k, int64_t v);

/* Adds everything in src into dst (gauges are summed: workers hold disjoint VUs). */
int agg_merge(agg *dst, const agg *src);

/* Iterates: returns the next used entry at or after *pos, advancing *pos; NULL at the end. */
agg_entry *agg_next(const agg *a, size_t *pos);

#endif
