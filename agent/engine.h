/*
 * The load engine of one agent: one worker thread per core running the
 * assignment, and the batcher that merges the workers' interval aggregates
 * into one METRICS batch per interval, in order, once every worker has
 * handed that interval in.
 */
#ifndef HERD_AGENT_ENGINE_H
#define HERD_AGENT_ENGINE_H

#include <stdint.h>

#include "agent/allow.h"
#include "common/hdrv.h"
#include "common/plan.h"
#include "common/srcaddr.h"
#include "proto/wire.h"

typedef struct engine engine;

/* VU id blocks: 100,000 VUs per worker, 100 workers per agent, and so up to
 * 429 agents before a 32-bit id would wrap. */
#define ENGINE_VUS_PER_WORKER 100000u
#define ENGINE_VUS_PER_AGENT 10000000u

/* Receives each batch (entries only: run id, agent id and seq are left for
 * the caller) and takes ownership of it. Called from worker threads, in
 * interval order, one at a time. last is 1 for the final batch. */
typedef void (*engine_batch_cb)(void *arg, wire_metrics *m, int last);

typedef struct engine_cfg {
	const plan *plan;       /* must outlive the engine */
	const double *weights;  /* agent weights, as sent in ASSIGN */
	size_t nagents;
	size_t agent;           /* this agent's index */
	int nworkers;           /* 0: one per core */
	int64_t start_mono_ns;  /* when to start, CLOCK_MONOTONIC */
	int64_t interval_ms;
	engine_batch_cb batch;
	void *batch_arg;
	hdrv_mode http_driver;  /* --http-driver */
	const srcaddr_pool *src; /* source addresses (NULL: none); must outlive the engine */
	const allow *allow;     /* --allow-target (NULL: any target); must outlive the engine */
} engine_cfg;

/* Creates the workers and starts their threads. Returns a herd_err. */
int engine_start(const engine_cfg *cfg, engine **out);
/* Asks the workers to stop: 1 = no new iterations, let those running finish
 * (up to gracefulStop); 2 = no new requests, let those in flight complete
 * (and count them); 3 = abandon everything now. */
void engine_stop(engine *e, int level);
/* 1 when every worker has finished and the last batch has been delivered. */
int engine_finished(engine *e);
/* Waits for the threads and frees everything. */
void engine_free(engine *e);
/* CLOCK_REALTIME when the first worker started the load; 0 before. */
int64_t engine_started_ns(engine *e);
/* CLOCK_REALTIME when the last worker finished; 0 before. */
int64_t engine_ended_ns(engine *e);
/*
 * Sets scenario s's load on this agent from now on: kind a wire_load_kind,
 * value this agent's share (iterations per the scenario's timeUnit, or
 * active VUs), seq the command's number. Every worker takes its equal part
 * within one pass of its loop (10 ms). Returns HERD_OK; HERD_ENOTFOUND when
 * s is out of range; HERD_EINVAL when the executor cannot take that kind
 * (a rate for an arrival-rate executor, VUs for constant-vus or ramping-vus)
 * or value is negative or not finite.
 */
int engine_set_load(engine *e, size_t s, int kind, double value, uint64_t seq);
/* 1 when every worker that is still running runs load seq (or a later one)
 * of scenario s, or when the load has not started yet (it then starts with
 * it); 0 otherwise. */
int engine_load_applied(engine *e, size_t s, uint64_t seq);

/* Number of workers the engine runs. */
int engine_workers(const engine *e);

/* One-time process setup (libcurl). Call from main before any thread. */
int engine_global_init(void);
void engine_global_fini(void);

#endif
