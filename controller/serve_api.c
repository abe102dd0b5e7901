/*
 * The answers of herd serve's HTTP API (api.h routes and authenticates):
 * from the API's own store connection (under api_mu), the cluster's
 * registry and the live run (under the daemon's lock, never inside the
 * run's lock: eng_view takes it last).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/cron.h"
#include "common/err.h"
#include "controller/prom.h"
#include "controller/serve_daemon.h"
#include "controller/store_serve.h"

#define API_MAX_AGENTS 1024
#define API_MAX_RUNS 200

/* Appends j (taken) to out as compact JSON; returns status, or 500. */
static int put_json(sbuf *out, json_t *j, int status)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (s == NULL) {
		sbuf_str(out, "out of memory");
		return 500;
	}
	sbuf_str(out, s);
	free(s);
	return status;
}

/* "2026-12-03T01:00:00Z" of t (s). */
static json_t *iso(int64_t t)
{
	char b[32];
	if (t <= 0)
		return json_null();
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(b);
}

static json_t *str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static int add_sched_run(void *arg, const store_sched_run *r)
{
	json_t *o = json_object();
	json_object_set_new(o, "schedule", json_string(r->schedule));
	json_object_set_new(o, "slot", iso(r->slot));
	if (r->slot_last != r->slot)
		json_object_set_new(o, "slot_last", iso(r->slot_last));
	json_object_set_new(o, "outcome", json_string(r->outcome));
	json_object_set_new(o, "run_id", str_or_null(r->run_id));
	json_object_set_new(o, "verdict", str_or_null(r->verdict));
	json_object_set_new(o, "reason", str_or_null(r->reason));
	json_object_set_new(o, "at", iso(r->at / 1000));
	json_array_append_new(arg, o);
	return 0;
}

/* GET /runs: the scheduled runs and slots, newest first. */
static int p_runs(void *arg, sbuf *out)
{
	serve_daemon *d = arg;
	json_t *a = json_array();
	pthread_mutex_lock(&d->api_mu);
	int rv = store_each_sched_run(d->st_api, NULL, API_MAX_RUNS, add_sched_run, a);
	pthread_mutex_unlock(&d->api_mu);
	if (rv != HERD_OK) {
		json_decref(a);
		sbuf_str(out, "the store could not be read");
		return 500;
	}
	return put_json(out, a, 200);
}

/* GET /runs/ID: the stored run, with its summary once it has one. */
static int p_run(void *arg, const char *id, sbuf *out)
{
	serve_daemon *d = arg;
	store_run r;
	pthread_mutex_lock(&d->api_mu);
	int rv = store_run_get(d->st_api, id, &r);
	pthread_mutex_unlock(&d->api_mu);
	if (rv == HERD_ENOTFOUND) {
		sbuf_printf(out, "no run '%s'", id);
		return 404;
	}
	if (rv != HERD_OK) {
		sbuf_str(out, "the store could not be read");
		return 500;
	}
	pthread_mutex_lock(&d->mu);
	int live = d->e != NULL && strcmp(d->run_id, id) == 0;
	pthread_mutex_unlock(&d->mu);
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(r.id));
	json_object_set_new(o, "name", str_or_null(r.name));
	json_object_set_new(o, "status", str_or_null(r.status));
	json_object_set_new(o, "live", json_boolean(live));
	json_object_set_new(o, "exit_code", r.ended_at > 0 ? json_integer(r.exit_code) : json_null());
	json_object_set_new(o, "started_at", iso(r.started_at / 1000));
	json_object_set_new(o, "ended_at", iso(r.ended_at / 1000));
	json_object_set_new(o, "duration_ms", json_integer(r.duration_ms));
	json_t *sum = r.summary_json != NULL ? json_loads(r.summary_json, 0, NULL) : NULL;
	json_object_set_new(o, "summary", sum != NULL ? sum : json_null());
	store_run_fini(&r);
	return put_json(out, o, 200);
}

/* How long an abort waits for the loop's answer; the loop looks every
 * 50 ms but for the plan's health check before the start (eng_start). */
#define API_ABORT_WAIT_S 5

/* POST /runs/ID/abort: asks the loop, which alone moves the run's state, and
 * answers what it did: 202 stopped at once (or called off before the
 * start), 409 when the run is already ending (its load over, being judged:
 * it is recorded as it ends), 503 when the loop did not look in time (the
 * request is withdrawn: nothing was done). */
static int p_abort(void *arg, const char *id, const char *reason, sbuf *out)
{
	serve_daemon *d = arg;
	int status = 0;
	pthread_mutex_lock(&d->mu);
	int live = d->e != NULL && strcmp(d->run_id, id) == 0;
	if (live) {
		d->abort_req = 1;
		snprintf(d->abort_reason, sizeof(d->abort_reason), "%s", reason != NULL ? reason : "no reason given");
		uint64_t seq = ++d->abort_seq;
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += API_ABORT_WAIT_S;
		while (d->abort_answered < seq && pthread_cond_timedwait(&d->abort_cv, &d->mu, &until) != ETIMEDOUT)
			;
		if (d->abort_answered >= seq) {
			status = d->abort_status;
		} else {
			status = 503;
			if (d->abort_seq == seq)
				d->abort_req = 0;
		}
	}
	pthread_mutex_unlock(&d->mu);
	if (status == 202)
		return put_json(out, json_pack("{s:s, s:b}", "run_id", id, "aborting", 1), 202);
	if (status == 409) {
		sbuf_printf(out, "run '%s' is already ending: its load is over, nothing was stopped", id);
		return 409;
	}
	if (status == 503) {
		sbuf_printf(out, "run '%s': the daemon did not take the abort in %d s (nothing was done); try again",
		            id, API_ABORT_WAIT_S);
		return 503;
	}
	store_run r;
	pthread_mutex_lock(&d->api_mu);
	int rv = store_run_get(d->st_api, id, &r);
	pthread_mutex_unlock(&d->api_mu);
	if (rv == HERD_OK) {
		store_run_fini(&r);
		sbuf_printf(out, "run '%s' is not running", id);
		return 409;
	}
	sbuf_printf(out, "no run '%s'", id);
	return 404;
}

typedef struct last_row {
	json_t *o;
} last_row;

static int set_last(void *arg, const store_sched_run *r)
{
	last_row *l = arg;
	l->o = json_object();
	json_object_set_new(l->o, "slot", iso(r->slot));
	json_object_set_new(l->o, "outcome", json_string(r->outcome));
	json_object_set_new(l->o, "run_id", str_or_null(r->run_id));
	json_object_set_new(l->o, "verdict", str_or_null(r->verdict));
	json_object_set_new(l->o, "reason", str_or_null(r->reason));
	return 1;
}

/* GET /schedules: each schedule, its next slot (UTC and in its zone), the
 * live run and the last outcome. */
static int p_schedules(void *arg, sbuf *out)
{
	serve_daemon *d = arg;
	json_t *a = json_array();
	for (size_t i = 0; i < d->cfg->nschedules; i++) {
		const serve_schedule *s = &d->cfg->schedules[i];
		char local[64] = "";
		pthread_mutex_lock(&d->mu);
		int64_t next = d->sched[i].next_slot;
		int running = d->run_sched != NULL && strcmp(d->run_sched, s->name) == 0;
		json_t *run = running ? json_string(d->run_id) : json_null();
		pthread_mutex_unlock(&d->mu);
		if (next > 0)
			cron_format(next, s->tz, local, sizeof(local));
		last_row l = { NULL };
		pthread_mutex_lock(&d->api_mu);
		store_each_sched_run(d->st_api, s->name, 1, set_last, &l);
		pthread_mutex_unlock(&d->api_mu);
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(s->name));
		json_object_set_new(o, "plan", json_string(s->plan_path));
		json_object_set_new(o, "cron", json_string(s->cron_expr));
		json_object_set_new(o, "timezone", json_string(s->tz));
		json_object_set_new(o, "next_slot", iso(next));
		json_object_set_new(o, "next_slot_local", next > 0 ? json_string(local) : json_null());
		json_object_set_new(o, "running", run);
		json_object_set_new(o, "last", l.o != NULL ? l.o : json_null());
		json_array_append_new(a, o);
	}
	return put_json(out, a, 200);
}

/* GET /agents: the agents connected to the daemon's listener. */
static int p_agents(void *arg, sbuf *out)
{
	serve_daemon *d = arg;
	agent_info *ai = calloc(API_MAX_AGENTS, sizeof(*ai));
	if (ai == NULL) {
		sbuf_str(out, "out of memory");
		return 500;
	}
	size_t n = cluster_agents(d->cl, ai, API_MAX_AGENTS);
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:i, s:s}", "id", ai[i].id, "name",
		                                   ai[i].name, "host", ai[i].host, "version", ai[i].version,
		                                   "workers", (json_int_t)ai[i].cores, "state",
		                                   agent_state_name(ai[i].state)));
	free(ai);
	return put_json(out, a, 200);
}

typedef struct scrape {
	prom_names *nm;
	sbuf *out;
} scrape;

static int render_live(void *arg, const eng_snapshot *s)
{
	scrape *sc = arg;
	sbuf_printf(sc->out, "herd_serve_run_state{run_id=\"%s\",state=\"%s\"} 1\n", s->run_id,
	            eng_state_name(s->state));
	return prom_render(s->res, s->run_id, s->plan->name, sc->nm, sc->out);
}

/* GET /metrics: agents by state, whether a run is live, and the live run's
 * metrics as `herd run --metrics-addr` shows them. */
static int p_metrics(void *arg, sbuf *out)
{
	serve_daemon *d = arg;
	agent_info *ai = calloc(API_MAX_AGENTS, sizeof(*ai));
	const char **ids = calloc(API_MAX_AGENTS, sizeof(*ids)), **names = calloc(API_MAX_AGENTS, sizeof(*names));
	int rv = 200;
	if (ai == NULL || ids == NULL || names == NULL) {
		sbuf_str(out, "out of memory");
		rv = 500;
		goto out;
	}
	prom_names nm = { ids, names, cluster_agents(d->cl, ai, API_MAX_AGENTS) };
	size_t idle = 0;
	for (size_t i = 0; i < nm.n; i++) {
		ids[i] = ai[i].id;
		names[i] = ai[i].name;
		idle += ai[i].state == AGENT_JOINED;
	}
	sbuf_str(out, "# HELP herd_serve_agents Agents connected to herd serve.\n"
	              "# TYPE herd_serve_agents gauge\n");
	sbuf_printf(out, "herd_serve_agents %zu\n", nm.n);
	sbuf_str(out, "# HELP herd_serve_agents_idle Connected agents in no run.\n"
	              "# TYPE herd_serve_agents_idle gauge\n");
	sbuf_printf(out, "herd_serve_agents_idle %zu\n", idle);
	sbuf_str(out, "# HELP herd_serve_run_live Whether a run is under way.\n"
	              "# TYPE herd_serve_run_live gauge\n");
	/* The daemon's lock keeps the engine from being freed during the view. */
	pthread_mutex_lock(&d->mu);
	sbuf_printf(out, "herd_serve_run_live %d\n", d->e != NULL);
	if (d->e != NULL) {
		scrape sc = { &nm, out };
		sbuf_str(out, "# HELP herd_serve_run_state The live run's state.\n"
		              "# TYPE herd_serve_run_state gauge\n");
		if (eng_view(d->e, render_live, &sc) != HERD_OK)
			rv = 500;
	}
	pthread_mutex_unlock(&d->mu);
out:
	free(ai);
	free(ids);
	free(names);
	return rv;
}

/* POST /schedules/NAME/run: queued for the loop, which runs it after the
 * live run (one at a time). */
static int p_start(void *arg, const char *name, sbuf *out)
{
	serve_daemon *d = arg;
	for (size_t i = 0; i < d->cfg->nschedules; i++) {
		if (strcmp(d->cfg->schedules[i].name, name) != 0)
			continue;
		pthread_mutex_lock(&d->mu);
		d->sched[i].manual = 1;
		json_t *busy = d->e != NULL ? json_string(d->run_id) : json_null();
		pthread_mutex_unlock(&d->mu);
		return put_json(out, json_pack("{s:s, s:b, s:o}", "schedule", name, "queued", 1, "after", busy), 202);
	}
	sbuf_printf(out, "no schedule '%s'", name);
	return 404;
}

api_providers serve_api_providers(serve_daemon *d)
{
	api_providers p = { d, p_runs, p_run, p_abort, p_schedules, p_agents, p_metrics, p_start };
	return p;
}
