/*
 * An agent worker: one thread, one epoll loop, its share of every scenario.
 * Executors run on each pass of the loop (at least every 10 ms): closed-model
 * scenarios move VUs in and out of the active set toward their target (a VU
 * leaving during a ramp-down is interrupted after gracefulRampDown); the
 * arrival-rate scenarios start iterations by the clock and measure latency
 * from the scheduled start, counting dropped iterations when no VU is free.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/engine.h"
#include "agent/journey.h"
#include "agent/worker.h"
#include "common/log.h"
#include "common/clock.h"
#include "common/dheap.h"
#include "common/err.h"
#include "common/log.h"
#include "common/sbuf.h"

#define TICK_NS 10000000 /* the executors' resolution: 10 ms */
/* While every VU of an arrival-rate scenario is busy, its arrivals are
 * judged (and dropped) at this resolution rather than one wake each. */
#define STARVED_TICK_NS 1000000

typedef struct watch {
	worker_fd_cb cb;
	void *arg;
	uint32_t events;
	int used;
} watch;

/* The traffic drivers a worker can run, by index. */
enum { DRV_CURL = 0, DRV_LEAN, DRV_WS, NDRIVERS };
static const driver_ops *const drivers[NDRIVERS] = { &http_driver, &h1_driver, &ws_driver };

/* The entries one step's requests of one status class record into, kept
 * while the interval's table stays as it was (agg.epoch): a request then
 * costs no hash lookup. */
enum { REQ_METRICS = 7, STATUS_CLASSES = 6 };
typedef struct req_cache {
	uint64_t epoch;
	agg_entry *e[REQ_METRICS]; /* http_req_duration, then the six phases (req_metrics) */
} req_cache;

typedef struct scen_rt {
	const plan_scenario *s;
	uint16_t idx;
	uint8_t driver;       /* DRV_*: every VU of the scenario uses this driver */
	int64_t start_ns, end_ns, hard_end_ns;
	int64_t vus_share;    /* constant-vus, per-vu-iterations, shared-iterations */
	int64_t pool;         /* shared-iterations: iterations not started yet */
	int64_t start_vus;    /* ramping-vus, this worker's share */
	int64_t *targets;     /* ramping-vus stage targets, this worker's share */
	int64_t max_vus;      /* VUs this worker may allocate */
	vu **vus;
	size_t nvus;
	vu **idle;            /* arrival-rate: VUs free for the next arrival (a stack) */
	size_t nidle;
	int64_t active;       /* VUs counted toward the closed-model target */
	int64_t running;      /* VUs inside an iteration */
	sched_rate rate;      /* arrival-rate: this worker's share of the rate over time */
	double phase;         /* arrival k is due when the rate's integral reaches k + phase */
	int64_t arrival_k;    /* arrivals scheduled so far */
	int drops_logged;     /* the first dropped arrival was logged */
	int starved;          /* the last arrival due found no VU free (worker_run wakes less often) */
	int64_t next_arrival_ns; /* INT64_MAX when no more are due */
	int over;             /* nothing will start again */
	int exhausted;        /* a feeder with onExhausted: stop ran out */
	double *flow_credit;  /* per flow: its standing in the weighted round robin */
	req_cache *rcache;    /* per step and status class (step * STATUS_CLASSES + class) */
	/* A load set while running (worker_load) replaces the plan's from then on. */
	uint64_t load_seq;    /* the worker_load seq taken; 0: the plan's load */
	_Atomic uint64_t applied; /* load_seq, for other threads */
	int live;             /* a set load is in force */
	double live_rate;     /* arrival-rate: this worker's iterations per second */
	int64_t live_from_ns; /* arrival-rate: when that rate took over */
	int64_t live_vus;     /* closed model: this worker's target */
} scen_rt;

struct worker {
	worker_cfg cfg;
	int epfd;
	watch *watches;
	size_t nwatches;
	scen_rt *sc;
	size_t nsc;
	dheap timers;  /* VU think timers */
	dheap leaving; /* gracefulRampDown deadlines of VUs asked to leave */
	uint32_t next_vu_id;
	void *dstate[NDRIVERS]; /* each driver's state, NULL when no scenario uses it */
	agg *cur;
	int64_t interval_ns;
	int started;
};

const plan *worker_plan(const worker *w)
{
	return w->cfg.plan;
}

int worker_src_family(const worker *w)
{
	return w->cfg.src != NULL && w->cfg.src->n > 0 ? w->cfg.src->family : AF_UNSPEC;
}

const allow *worker_allow(const worker *w)
{
	return w->cfg.allow;
}

agg *worker_agg(worker *w)
{
	return w->cur;
}

/* The driver that runs step st of a VU's scenario r. */
static int step_driver(const scen_rt *r, const plan_step *st)
{
	return st->kind == STEP_WS ? DRV_WS : r->driver;
}

/* ---- timers ---- */

static int timer_set(worker *w, vu *v, int64_t at)
{
	return dheap_set(&w->timers, &v->timer, at);
}

static void timer_clear(worker *w, vu *v)
{
	dheap_remove(&w->timers, &v->timer);
}

/* ---- fd watching (driver service) ---- */

int worker_watch(worker *w, int fd, uint32_t events, worker_fd_cb cb, void *arg)
{
	if (fd < 0)
		return HERD_EINVAL;
	if ((size_t)fd >= w->nwatches) {
		size_t n = w->nwatches ? w->nwatches : 64;
		while (n <= (size_t)fd)
			n *= 2;
		watch *nw = realloc(w->watches, n * sizeof(*nw));
		if (nw == NULL)
			return HERD_ENOMEM;
		memset(nw + w->nwatches, 0, (n - w->nwatches) * sizeof(*nw));
		w->watches = nw;
		w->nwatches = n;
	}
	watch *wt = &w->watches[fd];
	struct epoll_event ev = { .events = events, .data.fd = fd };
	int op = wt->used ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(w->epfd, op, fd, &ev) != 0)
		return HERD_EIO;
	wt->cb = cb;
	wt->arg = arg;
	wt->events = events;
	wt->used = 1;
	return HERD_OK;
}

int worker_unwatch(worker *w, int fd)
{
	if (fd < 0 || (size_t)fd >= w->nwatches || !w->watches[fd].used)
		return HERD_ENOTFOUND;
	/* The fd may already be closed; epoll forgets closed fds by itself. */
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
	w->watches[fd].used = 0;
	return HERD_OK;
}

/* ---- VUs ---- */

static uint64_t vu_rand(vu *v)
{
	/* xorshift64*: cheap, per VU, no shared state */
	v->rng ^= v->rng >> 12;
	v->rng ^= v->rng << 25;
	v->rng ^= v->rng >> 27;
	return v->rng * UINT64_C(2685821657736338717);
}

static vu *vu_alloc(worker *w, scen_rt *r)
{
	if (w->next_vu_id >= ENGINE_VUS_PER_WORKER)
		return NULL; /* the worker's block of VU ids is used up */
	vu **nv = realloc(r->vus, (r->nvus + 1) * sizeof(*nv));
	if (nv == NULL)
		return NULL;
	r->vus = nv;
	vu *v = calloc(1, sizeof(*v));
	if (v == NULL)
		return NULL;
	v->id = w->cfg.vu_id_base + ++w->next_vu_id;
	v->scenario = r->idx;
	v->src = srcaddr_pick(w->cfg.src, v->id);
	dheap_node_init(&v->timer);
	dheap_node_init(&v->leave);
	v->rng = UINT64_C(0x9e3779b97f4a7c15) ^ ((uint64_t)v->id * UINT64_C(0xbf58476d1ce4e5b9));
	r->vus[r->nvus++] = v;
	return v;
}

static agg_key key_of(uint8_t metric, const vu *v, uint16_t step)
{
	agg_key k = { .metric = metric, .method = 0xff, .scenario = v->scenario, .step = step };
	return k;
}

static void run_step(worker *w, vu *v, int64_t due_ns, int64_t now);

/*
 * The flow of the next iteration, by weight: smooth weighted round robin
 * (each flow gains its weight, the richest is picked and pays the total), so
 * after n picks every flow is within one pick of n * weight / total on each
 * worker: the mix is the plan's, not a random draw near it.
 */
static uint8_t pick_flow(scen_rt *r)
{
	const plan_scenario *s = r->s;
	size_t best = 0;
	if (s->nflows <= 1 || r->flow_credit == NULL)
		return 0;
	for (size_t i = 0; i < s->nflows; i++) {
		r->flow_credit[i] += s->flows[i].weight;
		if (r->flow_credit[i] > r->flow_credit[best])
			best = i;
	}
	r->flow_credit[best] -= s->weight_total;
	return (uint8_t)best;
}

/* Takes a row of every feeder flow f uses; 0 when one ran out (onExhausted: stop). */
static int take_rows(worker *w, vu *v, const plan_flow *f)
{
	const plan *p = w->cfg.plan;
	if (f->feeders == 0)
		return 1;
	if (v->rows == NULL && (v->rows = calloc(p->nfeeders, sizeof(*v->rows))) == NULL)
		return 0;
	for (size_t i = 0; i < p->nfeeders; i++) {
		if (!(f->feeders & (UINT32_C(1) << i)))
			continue;
		int64_t row = feeder_take(&w->cfg.feeders[i], &v->rng);
		if (row < 0)
			return 0;
		v->rows[i] = row;
	}
	return 1;
}

/* The open model: iterations start by the clock, not when a VU is free. */
static int arrival_rate(const plan_scenario *s)
{
	return s->executor == EXEC_CONSTANT_ARRIVAL_RATE || s->executor == EXEC_RAMPING_ARRIVAL_RATE ||
	       (s->executor == EXEC_BREAKING_POINT && s->bp.model == PLAN_BP_ARRIVAL_RATE);
}

/* The data ran out: this scenario starts no more iterations, and v is idle. */
static void park_exhausted(scen_rt *r, vu *v)
{
	r->exhausted = 1;
	if (v->active && !v->stopping && r->active > 0)
		r->active--;
	v->active = 0;
	v->stopping = 0;
	v->state = VU_IDLE;
	if (r->idle != NULL)
		r->idle[r->nidle++] = v;
}

/* Points v at the steps of the flow its iteration picks, with that flow's
 * feeder rows; 0 when a feeder ran out. */
static int begin_flow(worker *w, scen_rt *r, vu *v)
{
	v->flow = pick_flow(r);
	const plan_flow *f = &r->s->flows[v->flow];
	if (r->exhausted || !take_rows(w, v, f))
		return 0;
	v->step = (uint16_t)f->first;
	v->step_end = (uint16_t)(f->first + f->nsteps);
	v->gdepth = 0;
	return 1;
}

/*
 * A VU's first iteration (and the next one after a setup that failed) runs
 * the scenario's `setup:` steps first; the flow is picked when they end, so
 * the weighted mix counts flows only.
 */
static void start_iteration(worker *w, scen_rt *r, vu *v, int64_t sched_ns, int64_t now)
{
	const plan_flow *su = &r->s->setup;
	int setup = su->nsteps > 0 && !v->setup_done;
	if (setup) {
		if (r->exhausted || !take_rows(w, v, su)) {
			park_exhausted(r, v);
			return;
		}
		v->step = (uint16_t)su->first;
		v->step_end = (uint16_t)(su->first + su->nsteps);
		v->gdepth = 0;
	} else if (!begin_flow(w, r, v)) {
		park_exhausted(r, v);
		return;
	}
	v->in_setup = (uint8_t)setup;
	v->setup_failed = 0;
	if (r->s->executor == EXEC_SHARED_ITERATIONS)
		r->pool--;
	agg_key sk = key_of(AM_ITERATIONS_STARTED, v, AGG_NONE);
	sk.sub = v->flow;
	agg_count(w->cur, sk, 1);
	r->running++;
	v->iter_start_ns = sched_ns;
	run_step(w, v, sched_ns, now);
}

/* Whether a closed-model VU goes on to another iteration. */
static int wants_another(const worker *w, const scen_rt *r, const vu *v, int64_t now)
{
	if (r->over || r->exhausted || !v->active || v->stopping || now >= r->end_ns || atomic_load(w->cfg.stop))
		return 0;
	if (r->s->executor == EXEC_PER_VU_ITERATIONS && v->iters >= r->s->iterations)
		return 0;
	if (r->s->executor == EXEC_SHARED_ITERATIONS && r->pool <= 0)
		return 0;
	return !arrival_rate(r->s);
}

/* Ends v's iteration; counted: it ran its flow to the end (or to a capture
 * that ended it), and goes into iterations and iteration_duration. */
static void iteration_end(worker *w, vu *v, int64_t now, int counted)
{
	scen_rt *r = &w->sc[v->scenario];
	uint64_t us = now > v->iter_start_ns ? (uint64_t)(now - v->iter_start_ns) / 1000 : 0;
	agg_key ik = key_of(AM_ITERATIONS, v, AGG_NONE);
	ik.sub = v->flow;
	if (counted)
		agg_observe(w->cur, ik, us);
	v->iters++;
	v->state = VU_IDLE;
	r->running--;
	if (v->stopping) {
		v->stopping = 0;
		v->active = 0;
	}
	if (r->idle != NULL)
		r->idle[r->nidle++] = v; /* arrival-rate: back to the pool */
	else if (wants_another(w, r, v, now))
		start_iteration(w, r, v, now, now);
}

static void iteration_done(worker *w, vu *v, int64_t now)
{
	iteration_end(w, v, now, 1);
}

/*
 * The setup steps ended. When they failed (a request without a response, a
 * capture that found nothing) the iteration ends there, not counted, and the
 * VU tries its setup again at its next iteration; else the VU keeps what
 * they captured and goes on to its flow. Returns 1 when v goes on.
 */
static int setup_finished(worker *w, vu *v, int64_t now)
{
	scen_rt *r = &w->sc[v->scenario];
	v->in_setup = 0;
	if (v->setup_failed) {
		iteration_end(w, v, now, 0);
		return 0;
	}
	v->setup_done = 1;
	if (!begin_flow(w, r, v)) {
		r->exhausted = 1;
		iteration_end(w, v, now, 0);
		return 0;
	}
	/* iteration_duration measures the flow, as for every later iteration. */
	v->iter_start_ns = now;
	return 1;
}

/*
 * maxRate for a closed-model VU about to send a request (an HTTP step or a
 * ws session's upgrade): reserves the agent's next slot, and when it is
 * ahead, counts the request as held back (rate_capped, with the wait) and
 * sleeps the VU until then on its timer; the timer moves a VU one step on,
 * so the step is taken back first and the slot marked as its own. Returns 1
 * when v waits. Open-model scenarios are not held: their rate is known and
 * was checked against the cap before the run.
 */
static int cap_wait(worker *w, vu *v, int64_t now)
{
	if (w->cfg.cap == NULL || arrival_rate(w->sc[v->scenario].s))
		return 0;
	if (v->cap_slot) {
		v->cap_slot = 0;
		return 0;
	}
	int64_t slot = ratecap_reserve(w->cfg.cap, now);
	if (slot <= now)
		return 0;
	agg_key k = { .metric = AM_RATE_CAPPED, .method = 0xff, .scenario = v->scenario, .step = AGG_NONE };
	uint64_t us = slot == INT64_MAX ? 0 : (uint64_t)(slot - now) / 1000;
	agg_observe(w->cur, k, us);
	if (slot == INT64_MAX)
		slot = w->sc[v->scenario].hard_end_ns; /* a share of 0 requests/s: nothing until the end */
	v->cap_slot = 1;
	v->step--; /* uint16_t: 0 wraps and the timer's step++ wraps back */
	v->state = VU_THINKING;
	if (timer_set(w, v, slot) == 0)
		return 1;
	v->step++;
	v->cap_slot = 0;
	return 0;
}

/*
 * Moves v on from its current step (due at due_ns) to the next request or
 * timer. now: the clock as read just before the call, or 0 to read it here;
 * a VU whose request just ended goes on with the clock read after its
 * result was recorded, so the two need not read it twice.
 */
static void run_step(worker *w, vu *v, int64_t due_ns, int64_t now)
{
	const plan_scenario *s = w->sc[v->scenario].s;
	/* Each pass after the first reads the clock again (now = 0). */
	for (;; now = 0) {
		if (now == 0)
			now = clock_mono_ns();
		if (v->step >= v->step_end && v->in_setup) {
			if (!setup_finished(w, v, now))
				return;
			due_ns = now;
			continue;
		}
		if (v->step >= v->step_end) {
			iteration_done(w, v, now);
			return;
		}
		const plan_step *st = &s->steps[v->step];
		if (st->kind == STEP_GROUP) {
			if (v->gdepth < sizeof(v->gstart) / sizeof(v->gstart[0]))
				v->gstart[v->gdepth] = now;
			v->gdepth++;
			v->step++;
			continue;
		}
		if (st->kind == STEP_GROUP_END) {
			if (v->gdepth > 0 && --v->gdepth < sizeof(v->gstart) / sizeof(v->gstart[0]))
				agg_observe(w->cur, key_of(AM_GROUP_DURATION, v, v->step),
				            (uint64_t)(now - v->gstart[v->gdepth]) / 1000);
			v->step++;
			continue;
		}
		if (st->kind == STEP_THINK) {
			int64_t ms = st->think_min_ms;
			if (st->think_max_ms > st->think_min_ms)
				ms += (int64_t)(vu_rand(v) % (uint64_t)(st->think_max_ms - st->think_min_ms + 1));
			v->state = VU_THINKING;
			if (timer_set(w, v, now + ms * 1000000) != 0)
				v->step = v->step_end; /* out of memory: end the iteration */
			else
				return;
			continue;
		}
		if (atomic_load(w->cfg.stop) >= 2) {
			/* Stopping: no new requests. The iteration ends unfinished and uncounted. */
			scen_rt *r = &w->sc[v->scenario];
			v->state = VU_IDLE;
			r->running--;
			if (v->stopping) {
				v->stopping = 0;
				v->active = 0;
			}
			return;
		}
		if (cap_wait(w, v, now))
			return;
		v->step_start_ns = due_ns;
		v->sent_ns = now;
		v->state = VU_BUSY;
		int d = step_driver(&w->sc[v->scenario], st);
		int rv = drivers[d]->start(w->dstate[d], v, st);
		if (rv == HERD_OK)
			return;
		/* Could not even start: count it as a failed request (or session) and
		 * move on later. A request the agent refused to send (its rendered
		 * URL is outside --allow-target, or not http(s)) has its own kind. */
		agg_key fk = { .metric = AM_HTTP_REQ_DURATION, .method = (uint8_t)st->method,
		               .scenario = v->scenario, .step = v->step };
		if (st->kind == STEP_WS) {
			fk.metric = AM_WS_SESSIONS;
			fk.method = 0xff;
		}
		agg_entry *e = agg_get(w->cur, fk);
		if (e != NULL) {
			e->count++;
			e->errors[rv == HERD_EREFUSED ? ERRK_NOT_ALLOWED : ERRK_OTHER]++;
		}
		/* A setup step that could not start fails the setup: the timer then
		 * moves the VU to the setup's end rather than to its next step. */
		if (v->in_setup) {
			v->setup_failed = 1;
			v->step = (uint16_t)(v->step_end - 1);
		}
		/* The timer moves the VU past this step when it fires. */
		v->state = VU_THINKING;
		if (timer_set(w, v, now + TICK_NS) == 0)
			return;
		v->step++;
	}
}

static int vars_ready(worker *w, vu *v);

static void record_check(worker *w, const vu *v, uint8_t sub, int ok)
{
	agg_key k = key_of(AM_CHECKS, v, v->step);
	k.sub = sub;
	agg_entry *e = agg_get(w->cur, k);
	if (e == NULL)
		return;
	e->count++;
	if (!ok)
		e->errors[ERRK_CHECK]++;
}

/*
 * What an open-model (arrival-rate) request's latency adds to its own time:
 * how late it went out after it was due (coordinated omission), since the
 * arrival it serves was scheduled then and a late start is the server's cost
 * too. A timed-out request is recorded as its timeout plus that delay. A VU
 * of the closed model has no schedule: the lag of its think timer is the
 * agent's, not the server's, so it adds nothing there.
 */
static uint64_t late_start_us(const plan_scenario *s, const vu *v)
{
	if (!arrival_rate(s) || v->sent_ns <= v->step_start_ns)
		return 0;
	return (uint64_t)(v->sent_ns - v->step_start_ns) / 1000;
}

/* What a request records, in req_cache's order. */
static const uint8_t req_metrics[REQ_METRICS] = { AM_HTTP_REQ_DURATION, AM_HTTP_REQ_WAITING,
	                                              AM_HTTP_REQ_CONNECTING, AM_HTTP_REQ_TLS,
	                                              AM_HTTP_REQ_SENDING, AM_HTTP_REQ_RECEIVING,
	                                              AM_HTTP_REQ_BLOCKED };

/* The entries (each with its histogram) a request of v's step with status
 * class sc records into: looked up once per interval and again after the
 * table grew, kept in the step's cache in between. NULL when out of memory. */
static agg_entry *const *request_entries(worker *w, const vu *v, const agg_key *k0)
{
	req_cache *c = &w->sc[v->scenario].rcache[(size_t)v->step * STATUS_CLASSES + k0->status_class];
	agg *a = w->cur;
	if (c->epoch == a->epoch)
		return c->e;
	uint64_t before;
	do {
		/* An entry added may grow the table and move those found before
		 * it: then all are looked up again (none is added the second time). */
		before = a->epoch;
		agg_key k = *k0;
		for (size_t i = 0; i < REQ_METRICS; i++) {
			k.metric = req_metrics[i];
			agg_entry *e = agg_get(a, k);
			if (e == NULL || (e->h == NULL && (e->h = hist_new()) == NULL))
				return NULL;
			c->e[i] = e;
		}
	} while (a->epoch != before);
	c->epoch = before;
	return c->e;
}

void worker_step_done(worker *w, vu *v, const step_result *res)
{
	const plan_scenario *s = w->sc[v->scenario].s;
	const plan_step *st = &s->steps[v->step];
	agg_key k = key_of(AM_HTTP_REQ_DURATION, v, v->step);
	k.method = (uint8_t)st->method;
	k.status_class = (uint8_t)(res->status > 0 && res->status < 600 ? res->status / 100 : 0);

	uint64_t late = late_start_us(s, v);

	const agg_key rk = k; /* the request's own entry, looked up again below */
	agg_entry *const *es = request_entries(w, v, &k);
	if (es != NULL) {
		agg_entry *e = es[0];
		hist_record(e->h, res->duration_us + late);
		e->count++;
		if (res->err >= 0 && res->err < ERRK__N)
			e->errors[res->err]++;
		e->bytes_in += res->bytes_in;
		e->bytes_out += res->bytes_out;
		const uint64_t phase_us[REQ_METRICS - 1] = { res->waiting_us, res->connecting_us, res->tls_us,
			                                         res->sending_us, res->receiving_us, res->blocked_us };
		for (size_t i = 1; i < REQ_METRICS; i++) {
			hist_record(es[i]->h, phase_us[i - 1]);
			es[i]->count++;
		}
	}
	int end = 0;
	if (st->nchecks > 0 || st->ncaptures > 0) {
		journey_resp jr;
		tmpl_env env;
		journey_resp_init(&jr, res, res->duration_us + late);
		worker_tmpl_env(w, v, &env);
		for (size_t i = 0; i < st->nchecks; i++)
			record_check(w, v, (uint8_t)i, journey_check(&jr, &st->checks[i], &env));
		if (st->ncaptures > 0 && res->status > 0 && vars_ready(w, v)) {
			int failed = 0;
			for (size_t i = 0; i < st->ncaptures; i++)
				failed += !journey_capture(&jr, &st->captures[i], v->vars, v->var_len);
			/* Not through e: the entries added since may have moved the table. */
			agg_entry *re = failed > 0 ? agg_get(w->cur, rk) : NULL;
			if (re != NULL)
				re->errors[ERRK_CAPTURE]++;
			end = failed > 0 && !st->capture_continue;
		} else if (st->ncaptures > 0) {
			/* No response to capture from: the iteration cannot go on as written. */
			end = !st->capture_continue;
		}
		journey_resp_fini(&jr);
	}
	/* A setup whose request got no response, or whose capture missed, has
	 * failed: the flow would run without what it needs. */
	if (v->in_setup && (res->status == 0 || end)) {
		v->setup_failed = 1;
		end = 1;
	}
	v->step = end ? v->step_end : (uint16_t)(v->step + 1);
	/* Read once the result is recorded: the next step is due now, and the
	 * next request (or the iteration's end) is timed from here. */
	int64_t now = clock_mono_ns();
	run_step(w, v, now, now);
}

/* ---- templates ---- */

static int vars_ready(worker *w, vu *v)
{
	size_t n = w->cfg.plan->nvars;
	if (v->vars != NULL || n == 0)
		return 1;
	v->vars = calloc(n, sizeof(*v->vars));
	v->var_len = calloc(n, sizeof(*v->var_len));
	if (v->vars == NULL || v->var_len == NULL) {
		free(v->vars);
		free(v->var_len);
		v->vars = NULL;
		v->var_len = NULL;
		return 0;
	}
	return 1;
}

static const char *column_of(void *arg, uint32_t fi, uint32_t ci, size_t *len)
{
	const vu *v = ((const void **)arg)[0];
	const plan *p = ((const void **)arg)[1];
	if (v->rows == NULL || fi >= p->nfeeders || ci >= p->feeders[fi].table.ncols)
		return NULL;
	const csv_field *f = csv_cell(&p->feeders[fi].table, (size_t)v->rows[fi], ci);
	*len = f->len;
	return f->p;
}

void worker_tmpl_env(worker *w, vu *v, tmpl_env *e)
{
	memset(e, 0, sizeof(*e));
	e->vu = v->id;
	e->iter = v->iters;
	e->agent = w->cfg.agent_index;
	e->vars = v->vars;
	e->var_len = v->var_len;
	e->nvars = v->vars != NULL ? w->cfg.plan->nvars : 0;
	e->column = column_of;
	v->tmpl_arg[0] = v;
	v->tmpl_arg[1] = w->cfg.plan;
	e->arg = v->tmpl_arg;
	e->rng = &v->rng;
}

void worker_ws_check(worker *w, vu *v, uint8_t check, int ok)
{
	record_check(w, v, check, ok);
}

void worker_ws_done(worker *w, vu *v, const ws_result *res)
{
	int64_t now = clock_mono_ns();
	agg_key k = key_of(AM_WS_SESSIONS, v, v->step);
	k.status_class = (uint8_t)(res->status > 0 && res->status < 600 ? res->status / 100 : 0);
	agg_entry *e = agg_get(w->cur, k);
	if (e != NULL) {
		e->count++;
		if (res->err >= 0 && res->err < ERRK__N)
			e->errors[res->err]++;
		e->bytes_in += res->bytes_in;
		e->bytes_out += res->bytes_out;
	}
	if (res->err == ERRK_WS_CLOSED && res->close_code > 0 && res->close_code <= UINT16_MAX) {
		agg_key ck = key_of(AM_WS_CLOSE_CODES, v, v->step);
		ck.code = (uint16_t)res->close_code;
		agg_count(w->cur, ck, 1);
	}
	if (res->tls)
		agg_observe(w->cur, key_of(AM_WS_TLS_HANDSHAKING, v, v->step), res->tls_us);
	if (res->opened) {
		agg_observe(w->cur, key_of(AM_WS_CONNECTING, v, v->step), res->connecting_us);
		agg_observe(w->cur, key_of(AM_WS_SESSION_DURATION, v, v->step), res->duration_us);
	}
	if (v->in_setup && res->err >= 0) {
		v->setup_failed = 1; /* the rest of the setup and the flow are skipped */
		v->step = v->step_end;
	} else {
		v->step++;
	}
	run_step(w, v, now, 0);
}

/* ---- executors ---- */

static int64_t closed_target(const worker *w, const scen_rt *r, int64_t now)
{
	if (now < r->start_ns || now >= r->end_ns || r->exhausted || atomic_load(w->cfg.stop))
		return 0;
	if (r->live)
		return r->live_vus;
	if (r->s->executor == EXEC_RAMPING_VUS)
		return sched_ramp_target(r->start_vus, r->s->stages, r->targets, r->s->nstages,
		                         (now - r->start_ns) / 1000000);
	if (r->s->executor == EXEC_SHARED_ITERATIONS && r->pool <= 0)
		return 0; /* the VUs still running finish their last iterations */
	return r->vus_share;
}

/*
 * Ends v's iteration where it is, uncounted: its request or session is
 * cancelled in its driver and its timers are cleared. For gracefulStop and
 * gracefulRampDown running out.
 */
static void interrupt_iteration(worker *w, scen_rt *r, vu *v)
{
	if (v->state == VU_BUSY && v->step < r->s->nsteps) {
		int d = step_driver(r, &r->s->steps[v->step]);
		drivers[d]->cancel(w->dstate[d], v);
	}
	timer_clear(w, v);
	dheap_remove(&w->leaving, &v->leave);
	if (v->state != VU_IDLE)
		r->running--;
	v->state = VU_IDLE;
	v->active = 0;
	v->stopping = 0;
}

/* A VU asked to leave during a ramp-down (not at the scenario's end, where
 * gracefulStop rules) has gracefulRampDown to finish its iteration. */
static void leave_within(worker *w, scen_rt *r, vu *v, int64_t now)
{
	if (r->s->executor != EXEC_RAMPING_VUS || now >= r->end_ns || atomic_load(w->cfg.stop))
		return;
	/* Out of memory: the VU simply finishes, as it would without a deadline. */
	(void)dheap_set(&w->leaving, &v->leave, now + r->s->graceful_ramp_down_ms * 1000000);
}

/* Interrupts the VUs whose gracefulRampDown ran out. A deadline left behind
 * by a VU that has since finished its iteration is dropped. */
static void ramp_down_deadlines(worker *w, int64_t now)
{
	dheap_node *n;
	while ((n = dheap_top(&w->leaving)) != NULL && n->at <= now) {
		vu *v = DHEAP_ENTRY(n, vu, leave);
		dheap_remove(&w->leaving, n);
		if (v->stopping && v->state != VU_IDLE)
			interrupt_iteration(w, &w->sc[v->scenario], v);
	}
}

static void adjust_closed(worker *w, scen_rt *r, int64_t now)
{
	int64_t target = closed_target(w, r, now);
	/* Bring VUs in: a VU still finishing an iteration is simply kept. */
	for (size_t i = 0; i < r->nvus && r->active < target; i++) {
		vu *v = r->vus[i];
		if (v->active && !v->stopping)
			continue;
		if (r->s->executor == EXEC_PER_VU_ITERATIONS && v->iters >= r->s->iterations)
			continue;
		if (v->active && v->stopping) {
			v->stopping = 0;
			dheap_remove(&w->leaving, &v->leave);
			r->active++;
			continue;
		}
		if (r->s->executor == EXEC_SHARED_ITERATIONS && r->pool <= 0)
			break;
		v->active = 1;
		r->active++;
		if (v->state == VU_IDLE)
			start_iteration(w, r, v, now, 0);
	}
	/* A load set while running may want more VUs than the plan had. */
	while (r->live && r->active < target) {
		vu *v = vu_alloc(w, r);
		if (v == NULL)
			break;
		v->active = 1;
		r->active++;
		start_iteration(w, r, v, now, 0);
	}
	/* Ramp down: the newest VUs leave first, after their current iteration. */
	for (size_t i = r->nvus; i-- > 0 && r->active > target;) {
		vu *v = r->vus[i];
		if (!v->active || v->stopping)
			continue;
		r->active--;
		if (v->state == VU_IDLE) {
			v->active = 0;
		} else {
			v->stopping = 1;
			leave_within(w, r, v, now);
		}
	}
}

/* When this worker's arrival k is due, INT64_MAX after the last. */
static int64_t arrival_due(const scen_rt *r, int64_t k)
{
	if (r->live) {
		/* A set rate: arrival k (counted from when it took over) is due
		 * when k + phase arrivals have accrued at that rate. */
		if (!(r->live_rate > 0))
			return INT64_MAX;
		return r->live_from_ns + (int64_t)(((double)k + r->phase) / r->live_rate * 1e9);
	}
	int64_t t = sched_rate_due(&r->rate, (double)k + r->phase);
	return t == INT64_MAX ? INT64_MAX : r->start_ns + t;
}

/* How many of the scenario's arrivals are due at or before t. */
static int64_t arrivals_due_by(const scen_rt *r, int64_t t)
{
	/* Arrival k is due when the rate's integral reaches k + phase; under a
	 * set rate, k counts from when that rate took over (arrival_due). */
	double due = r->live ? (double)(t - r->live_from_ns) / 1e9 * r->live_rate - r->phase
	                     : sched_rate_arrivals(&r->rate, t - r->start_ns) - r->phase;
	return due >= 0 ? (int64_t)floor(due) + 1 : 0;
}

/* The offered load: every arrival due, whether it starts or is dropped. */
static void offer_arrivals(worker *w, const scen_rt *r, int64_t n)
{
	agg_count(w->cur, (agg_key){ .metric = AM_OFFERED_ITERATIONS, .method = 0xff,
	                            .scenario = r->idx, .step = AGG_NONE }, (uint64_t)n);
}

/*
 * Drops the next n arrivals, which found no VU free: counted at once, in
 * time independent of the rate, so a rate far beyond what maxVUs can serve
 * costs no CPU. The first drop is logged once per worker and scenario; the
 * count is in dropped_iterations.
 */
static void drop_arrivals(worker *w, scen_rt *r, int64_t n)
{
	offer_arrivals(w, r, n);
	agg_count(w->cur, (agg_key){ .metric = AM_DROPPED_ITERATIONS, .method = 0xff,
	                            .scenario = r->idx, .step = AGG_NONE }, (uint64_t)n);
	if (!r->drops_logged) {
		r->drops_logged = 1;
		log_warn("scenario '%s': all %zu VUs of a worker are busy, arrivals are dropped (counted in"
		         " dropped_iterations); raise maxVUs or lower the rate",
		         r->s->name, r->nvus);
	}
	r->arrival_k += n;
	r->next_arrival_ns = arrival_due(r, r->arrival_k);
}

/*
 * Drops the arrivals that fell due before now (and before the scenario's
 * end) and were not started: a starved scenario's at a rate about to be
 * replaced (take_load), or those the loop never came to before the hard end
 * (tick).
 */
static void drop_owed(worker *w, scen_rt *r, int64_t now)
{
	int64_t n = arrivals_due_by(r, (now < r->end_ns ? now : r->end_ns) - 1) - r->arrival_k;
	if (n > 0)
		drop_arrivals(w, r, n);
}

static int poll_io(worker *w, int timeout_ms);

/*
 * A VU for the next arrival: an idle one, else a new one up to maxVUs, else
 * one whose response has already been received but not yet read (the
 * loop's own business must not make a VU look busy: after a stall of the
 * agent, or while it starts a burst of late arrivals, responses wait in the
 * sockets). NULL when every VU is really in flight.
 */
static vu *free_vu(worker *w, scen_rt *r)
{
	vu *v = NULL;
	if (r->nidle == 0 && (int64_t)r->nvus < r->max_vus)
		v = vu_alloc(w, r);
	if (v == NULL && r->nidle == 0)
		poll_io(w, 0);
	if (v == NULL && r->nidle > 0)
		v = r->idle[--r->nidle];
	return v;
}

/*
 * Both arrival-rate executors: iterations start when the integral of the rate
 * says so, whether a VU is free or not. An arrival is judged when the loop
 * comes to it: started (late, its latency counted from when it was due) if
 * a VU is free then, else dropped. The loop comes to each within
 * STARVED_TICK_NS while none is free, at once otherwise, and as soon as it
 * can after a stall of its own.
 */
static void arrivals(worker *w, scen_rt *r, int64_t now)
{
	if (r->exhausted || atomic_load(w->cfg.stop))
		return;
	while (r->next_arrival_ns <= now && r->next_arrival_ns < r->end_ns) {
		/* An agent far behind (more arrivals due than it can start) comes
		 * back to its loop's other work every tick, interval flushes
		 * included; the arrivals left go on at the next pass, late. */
		if (r->nidle == 0 && (int64_t)r->nvus >= r->max_vus && clock_mono_ns() - now >= TICK_NS)
			break;
		vu *v = free_vu(w, r);
		if (v == NULL) {
			int64_t n = arrivals_due_by(r, now < r->end_ns ? now : r->end_ns - 1) - r->arrival_k;
			drop_arrivals(w, r, n > 0 ? n : 1); /* it is due: one at least, rounding apart */
			r->starved = 1;
			continue;
		}
		r->starved = 0;
		offer_arrivals(w, r, 1);
		start_iteration(w, r, v, r->next_arrival_ns, 0);
		/* From the start each time, so rounding never accumulates. */
		r->arrival_k++;
		r->next_arrival_ns = arrival_due(r, r->arrival_k);
	}
}

static void cancel_all(worker *w, scen_rt *r)
{
	for (size_t i = 0; i < r->nvus; i++) {
		vu *v = r->vus[i];
		interrupt_iteration(w, r, v);
		if (r->idle != NULL)
			r->idle[i] = v;
	}
	r->active = 0;
	if (r->idle != NULL)
		r->nidle = r->nvus;
}

uint64_t worker_load_applied(worker *w, size_t s)
{
	return s < w->nsc ? atomic_load(&w->sc[s].applied) : 0;
}

/* Takes scenario r's load when one was set since the last pass (the
 * executor check in the engine made sure its kind fits the executor). */
static void take_load(worker *w, scen_rt *r, int64_t now)
{
	worker_load *l = w->cfg.loads != NULL ? &w->cfg.loads[r->idx] : NULL;
	uint64_t seq = l != NULL ? atomic_load(&l->seq) : 0;
	if (seq == r->load_seq)
		return;
	uint64_t bits = atomic_load(&l->value);
	double value;
	memcpy(&value, &bits, sizeof(value));
	const sched_place *pl = &w->cfg.place;
	r->load_seq = seq;
	r->live = 1;
	if (arrival_rate(r->s)) {
		/* The arrivals due at the old rate while no VU was free are
		 * dropped before the count starts again at the new one. */
		if (r->starved)
			drop_owed(w, r, now);
		/* Per timeUnit to per second, then this worker's equal part. */
		r->live_rate = value * 1000.0 / (double)r->s->time_unit_ms / (double)(pl->nworkers ? pl->nworkers : 1);
		r->live_from_ns = now > r->start_ns ? now : r->start_ns;
		r->arrival_k = 0;
		r->next_arrival_ns = arrival_due(r, 0);
	} else {
		r->live_vus = sched_worker_int(pl, (int64_t)value);
	}
	atomic_store(&r->applied, seq);
}

/* Runs every executor once; returns 1 while any scenario has work left. */
static int tick(worker *w, int64_t now)
{
	int busy = 0;
	int stop = atomic_load(w->cfg.stop);
	ramp_down_deadlines(w, now);
	for (size_t i = 0; i < w->nsc; i++) {
		scen_rt *r = &w->sc[i];
		if (r->over)
			continue;
		if (stop >= 3 || now >= r->hard_end_ns) {
			/* gracefulStop ran out (or a hard stop): abandon what is in flight.
			 * Arrivals due before the end that the loop never came to (it
			 * was that far behind, or the agent was stopped) were offered
			 * and not started: they are dropped, not forgotten. */
			if (arrival_rate(r->s) && now >= r->hard_end_ns && !r->exhausted)
				drop_owed(w, r, now);
			cancel_all(w, r);
			r->over = 1;
			continue;
		}
		take_load(w, r, now);
		if (arrival_rate(r->s))
			arrivals(w, r, now);
		else
			adjust_closed(w, r, now);
		int ended = stop || now >= r->end_ns || r->exhausted;
		if (r->s->executor == EXEC_PER_VU_ITERATIONS && now >= r->start_ns && r->running == 0) {
			int left = 0;
			for (size_t k = 0; k < r->nvus; k++)
				left |= r->vus[k]->iters < r->s->iterations;
			ended |= !left;
		}
		if (r->s->executor == EXEC_SHARED_ITERATIONS && now >= r->start_ns)
			ended |= r->pool <= 0;
		if (ended && r->running == 0)
			r->over = 1;
		else
			busy = 1;
	}
	return busy;
}

/* ---- intervals ---- */

/* The VU gauges at the end of an interval; a closed-model scenario's target
 * (the offered VUs) goes beside the active VUs it achieved. */
static void record_gauges(worker *w)
{
	int64_t now = clock_mono_ns();
	for (size_t i = 0; i < w->nsc; i++) {
		scen_rt *r = &w->sc[i];
		agg_key k = { .metric = AM_VUS, .method = 0xff, .scenario = r->idx, .step = AGG_NONE };
		int64_t vus = arrival_rate(r->s) ? r->running : r->active;
		agg_gauge(w->cur, k, vus);
		k.metric = AM_VUS_MAX;
		agg_gauge(w->cur, k, (int64_t)r->nvus);
		if (!arrival_rate(r->s) && !r->over) {
			k.metric = AM_VUS_TARGET;
			agg_gauge(w->cur, k, closed_target(w, r, now));
		}
	}
}

/* The WebSocket sessions in progress (connecting or open) per scenario with
 * ws steps, for the live line: its VUs busy in a ws step. */
static void record_ws_open(worker *w)
{
	for (size_t i = 0; i < w->nsc; i++) {
		scen_rt *r = &w->sc[i];
		int has_ws = 0;
		for (size_t k = 0; k < r->s->nsteps && !has_ws; k++)
			has_ws = r->s->steps[k].kind == STEP_WS;
		if (!has_ws)
			continue;
		int64_t open = 0;
		for (size_t k = 0; k < r->nvus; k++) {
			const vu *v = r->vus[k];
			open += v != NULL && v->state == VU_BUSY && v->step < r->s->nsteps &&
			        r->s->steps[v->step].kind == STEP_WS;
		}
		agg_gauge(w->cur, (agg_key){ .metric = AM_WS_SESSIONS_OPEN, .method = 0xff, .scenario = r->idx,
		                             .step = AGG_NONE }, open);
	}
}

static void flush(worker *w, int last)
{
	record_gauges(w);
	record_ws_open(w);
	agg *next = last ? NULL : agg_new(w->cur->interval + 1);
	w->cfg.flush(w->cfg.flush_arg, (int)w->cfg.place.worker, w->cur, last);
	w->cur = next;
	if (!last && next == NULL)
		log_error("out of memory for the next interval");
}

/* ---- life cycle ---- */

/* A worker numbers its VUs in a block of ENGINE_VUS_PER_WORKER: a share
 * past it is refused before any VU is made, with the numbers in the log. */
static int fits_vus(worker *w, const scen_rt *r)
{
	if (r->max_vus <= (int64_t)(ENGINE_VUS_PER_WORKER - w->next_vu_id))
		return HERD_OK;
	log_error("scenario '%s' needs %lld VUs on a worker that has %u left of the %u one worker holds;"
	          " run it on more agents or workers", r->s->name, (long long)r->max_vus,
	          ENGINE_VUS_PER_WORKER - w->next_vu_id, ENGINE_VUS_PER_WORKER);
	return HERD_EINVAL;
}

/* Either arrival-rate executor: the rate's profile for this worker, and its
 * preallocated VUs in the idle pool. */
static int setup_arrivals(worker *w, scen_rt *r)
{
	const sched_place *pl = &w->cfg.place;
	const plan_scenario *s = r->s;
	int64_t pre = sched_share_int(pl, s->pre_allocated_vus);
	int rv;

	/* The share of a rate is a fraction of it, the same at every moment. A
	 * breaking-point search starts at its first level, per second, for as
	 * long as the search may take; the controller sets each later level. */
	if (s->executor == EXEC_BREAKING_POINT) {
		plan_stage flat = { .duration_ms = plan_scenario_length_ms(s), .target = s->bp.start };
		rv = sched_rate_init(&r->rate, s->bp.start, &flat, 1, 1000, sched_share_rate(pl, 1.0));
	} else {
		rv = sched_rate_of(&r->rate, s, sched_share_rate(pl, 1.0));
	}
	if (rv != HERD_OK)
		return rv;
	r->max_vus = sched_share_int(pl, s->max_vus);
	if (sched_rate_peak(&r->rate) > 0 && r->max_vus == 0)
		r->max_vus = 1; /* a worker with arrivals needs at least one VU */
	if (pre > r->max_vus)
		pre = r->max_vus;
	/* Stagger workers so their arrivals interleave instead of colliding. */
	r->phase = (double)pl->worker / (double)(pl->nworkers ? pl->nworkers : 1);
	r->next_arrival_ns = arrival_due(r, 0);
	if (fits_vus(w, r) != HERD_OK)
		return HERD_EINVAL;
	if ((r->idle = calloc((size_t)r->max_vus + 1, sizeof(*r->idle))) == NULL)
		return HERD_ENOMEM;
	for (int64_t i = 0; i < pre; i++) {
		vu *v = vu_alloc(w, r);
		if (v == NULL)
			return HERD_ENOMEM;
		r->idle[r->nidle++] = v;
	}
	return HERD_OK;
}

static int setup_scenario(worker *w, scen_rt *r, const plan_scenario *s, uint16_t idx)
{
	const sched_place *pl = &w->cfg.place;
	int64_t start = w->cfg.start_mono_ns;

	r->s = s;
	r->idx = idx;
	if (s->nflows > 1 && (r->flow_credit = calloc(s->nflows, sizeof(*r->flow_credit))) == NULL)
		return HERD_ENOMEM;
	if (s->nsteps > 0 && (r->rcache = calloc(s->nsteps * STATUS_CLASSES, sizeof(*r->rcache))) == NULL)
		return HERD_ENOMEM;
	r->start_ns = start + s->start_ms * 1000000;
	r->end_ns = r->start_ns + plan_scenario_length_ms(s) * 1000000;
	r->hard_end_ns = r->end_ns + s->graceful_stop_ms * 1000000;
	r->next_arrival_ns = INT64_MAX;
	switch (s->executor) {
	case EXEC_CONSTANT_VUS:
	case EXEC_PER_VU_ITERATIONS:
		r->vus_share = sched_share_int(pl, s->vus);
		r->max_vus = r->vus_share;
		break;
	case EXEC_SHARED_ITERATIONS:
		r->vus_share = sched_share_int(pl, s->vus);
		r->pool = sched_share_iters(pl, s->vus, s->iterations);
		r->max_vus = r->vus_share;
		break;
	case EXEC_RAMPING_VUS:
		r->start_vus = sched_share_int(pl, s->start_vus);
		r->max_vus = r->start_vus;
		if ((r->targets = calloc(s->nstages + 1, sizeof(*r->targets))) == NULL)
			return HERD_ENOMEM;
		for (size_t i = 0; i < s->nstages; i++) {
			r->targets[i] = sched_share_int(pl, s->stages[i].target);
			if (r->targets[i] > r->max_vus)
				r->max_vus = r->targets[i];
		}
		break;
	case EXEC_CONSTANT_ARRIVAL_RATE:
	case EXEC_RAMPING_ARRIVAL_RATE:
		return setup_arrivals(w, r);
	case EXEC_BREAKING_POINT:
		/* An open-ended load whose level the controller sets (LOAD): a
		 * constant arrival rate, or constant VUs, from the first level. */
		if (s->bp.model == PLAN_BP_ARRIVAL_RATE)
			return setup_arrivals(w, r);
		r->vus_share = sched_share_int(pl, s->bp.start);
		r->max_vus = r->vus_share;
		break;
	}
	if (fits_vus(w, r) != HERD_OK)
		return HERD_EINVAL;
	for (int64_t i = 0; i < r->max_vus; i++)
		if (vu_alloc(w, r) == NULL)
			return HERD_ENOMEM;
	return HERD_OK;
}

static int has_ws(const plan_scenario *s)
{
	for (size_t i = 0; i < s->nsteps; i++)
		if (s->steps[i].kind == STEP_WS)
			return 1;
	return 0;
}

int worker_new(const worker_cfg *cfg, worker **out)
{
	worker *w = calloc(1, sizeof(*w));
	int rv = HERD_ENOMEM;
	if (w == NULL)
		return HERD_ENOMEM;
	w->cfg = *cfg;
	w->epfd = -1;
	w->interval_ns = cfg->interval_ms * 1000000;
	w->nsc = cfg->plan->nscenarios;
	if ((w->sc = calloc(w->nsc + 1, sizeof(*w->sc))) == NULL)
		goto fail;
	if ((w->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		rv = HERD_EIO;
		goto fail;
	}
	for (size_t i = 0; i < w->nsc; i++) {
		scen_rt *r = &w->sc[i];
		r->driver = hdrv_use_lean(cfg->http_driver, cfg->plan, &cfg->plan->scenarios[i]) ? DRV_LEAN : DRV_CURL;
		/* Said once per agent: a "lean" run that is not lean has its own costs. */
		if (cfg->http_driver == HDRV_LEAN && r->driver == DRV_CURL && cfg->place.worker == 0) {
			char why[160];
			hdrv_describe(cfg->http_driver, cfg->plan, &cfg->plan->scenarios[i], why, sizeof(why));
			log_info("scenario '%s' runs on %s, not the lean driver", cfg->plan->scenarios[i].name, why);
		}
		if (w->dstate[r->driver] == NULL && (rv = drivers[r->driver]->init(w, &w->dstate[r->driver])) != HERD_OK)
			goto fail;
		if (w->dstate[DRV_WS] == NULL && has_ws(&cfg->plan->scenarios[i]) &&
		    (rv = drivers[DRV_WS]->init(w, &w->dstate[DRV_WS])) != HERD_OK)
			goto fail;
		if ((rv = setup_scenario(w, r, &cfg->plan->scenarios[i], (uint16_t)i)) != HERD_OK)
			goto fail;
	}
	rv = HERD_ENOMEM;
	if ((w->cur = agg_new(0)) == NULL)
		goto fail;
	*out = w;
	return HERD_OK;
fail:
	worker_free(w);
	return rv;
}

void worker_free(worker *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->nsc; i++) {
		scen_rt *r = &w->sc[i];
		for (size_t k = 0; k < r->nvus; k++) {
			if (w->dstate[r->driver] != NULL)
				drivers[r->driver]->vu_release(w->dstate[r->driver], r->vus[k]);
			if (w->dstate[DRV_WS] != NULL)
				drivers[DRV_WS]->vu_release(w->dstate[DRV_WS], r->vus[k]);
			vu *v = r->vus[k];
			for (size_t i = 0; v->vars != NULL && i < w->cfg.plan->nvars; i++)
				free(v->vars[i]);
			free(v->vars);
			free(v->var_len);
			free(v->rows);
			free(v);
		}
		free(r->vus);
		free(r->idle);
		free(r->targets);
		free(r->flow_credit);
		free(r->rcache);
		sched_rate_fini(&r->rate);
	}
	free(w->sc);
	for (int d = 0; d < NDRIVERS; d++)
		if (w->dstate[d] != NULL)
			drivers[d]->fini(w->dstate[d]);
	if (w->epfd >= 0)
		close(w->epfd);
	free(w->watches);
	dheap_fini(&w->timers);
	dheap_fini(&w->leaving);
	agg_free(w->cur);
	free(w);
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/*
 * Waits up to timeout_ms for I/O and runs the callbacks of what is ready;
 * with 0, reads what has already arrived (arrivals() does, before it drops
 * an arrival for want of a VU), the drivers' due timers first, so a request
 * queued in a driver goes out and a response already in goes up. Returns -1
 * when epoll fails.
 */
static int poll_io(worker *w, int timeout_ms)
{
	struct epoll_event evs[256];
	if (timeout_ms == 0) {
		int64_t now = clock_mono_ns();
		for (int d = 0; d < NDRIVERS; d++)
			if (w->dstate[d] != NULL && drivers[d]->next_timer(w->dstate[d]) <= now)
				drivers[d]->on_timer(w->dstate[d]);
	}
	int n = epoll_wait(w->epfd, evs, 256, timeout_ms);
	if (n < 0 && errno != EINTR) {
		log_error("epoll_wait: %s", strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		int fd = evs[i].data.fd;
		if ((size_t)fd < w->nwatches && w->watches[fd].used)
			w->watches[fd].cb(w->watches[fd].arg, fd, evs[i].events);
	}
	return n < 0 ? 0 : n;
}

void worker_run(worker *w)
{
	int64_t start = w->cfg.start_mono_ns;

	/* Nothing to do before the start: sleep to the instant itself, finer than
	 * epoll's milliseconds, so agents start together. */
	if (start > clock_mono_ns()) {
		struct timespec ts = { .tv_sec = start / 1000000000, .tv_nsec = start % 1000000000 };
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !atomic_load(w->cfg.stop))
			;
	}

	for (;;) {
		int64_t now = clock_mono_ns();
		if (now >= start && !w->started) {
			/* The measured start, for the controller's report of start skew. */
			int64_t expect = 0;
			w->started = 1;
			atomic_compare_exchange_strong(w->cfg.started_real_ns, &expect, clock_real_ns());
		}
		if (now >= start && w->cur != NULL) {
			int64_t idx = (now - start) / w->interval_ns;
			while (w->cur != NULL && idx > w->cur->interval)
				flush(w, 0);
		}
		if (w->cur == NULL)
			break; /* out of memory: nothing more can be recorded */
		/* Think timers that are due. */
		while (dheap_top(&w->timers) != NULL && dheap_top(&w->timers)->at <= now) {
			vu *v = DHEAP_ENTRY(dheap_top(&w->timers), vu, timer);
			timer_clear(w, v);
			v->step++;
			run_step(w, v, v->timer.at, 0);
		}
		for (int d = 0; d < NDRIVERS; d++)
			if (w->dstate[d] != NULL && drivers[d]->next_timer(w->dstate[d]) <= now)
				drivers[d]->on_timer(w->dstate[d]);
		if (!tick(w, now) && now >= start)
			break;

		int64_t wake = now + TICK_NS;
		if (dheap_top(&w->timers) != NULL)
			wake = min64(wake, dheap_top(&w->timers)->at);
		if (dheap_top(&w->leaving) != NULL)
			wake = min64(wake, dheap_top(&w->leaving)->at);
		for (int d = 0; d < NDRIVERS; d++)
			if (w->dstate[d] != NULL)
				wake = min64(wake, drivers[d]->next_timer(w->dstate[d]));
		if (now >= start)
			wake = min64(wake, start + (w->cur->interval + 1) * w->interval_ns);
		else
			wake = min64(wake, start);
		/* Only arrivals that will start: one due at or after the end would
		 * make the loop spin while the last iterations finish. While no VU
		 * is free, arrivals are judged every STARVED_TICK_NS, not one wake
		 * each, so a rate far beyond maxVUs costs no CPU. */
		for (size_t i = 0; i < w->nsc; i++) {
			const scen_rt *r = &w->sc[i];
			if (r->over || r->next_arrival_ns >= r->end_ns || atomic_load(w->cfg.stop))
				continue;
			int64_t due = r->next_arrival_ns;
			if (r->starved && r->nidle == 0 && due < now + STARVED_TICK_NS)
				due = now + STARVED_TICK_NS;
			wake = min64(wake, due);
		}
		int64_t wait_ns = wake - clock_mono_ns();
		/* Round up so we never wake a hair early and spin. */
		int timeout = wait_ns <= 0 ? 0 : (int)((wait_ns + 999999) / 1000000);
		if (poll_io(w, timeout) < 0)
			break;
	}
	if (w->cur != NULL)
		flush(w, 1);
}
