/*
 * Worker threads and the batcher; see engine.h. Workers call back into the
 * batcher once per interval (the only lock they take, once a second); the
 * batcher merges aggregates of the same interval and turns each complete
 * interval into a wire batch with names attached.
 */
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/engine.h"
#include "agent/sysstat.h"
#include "agent/worker.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/split.h"

typedef struct pending {
	agg *a;
	struct pending *next;
} pending;

struct engine {
	engine_cfg cfg;
	int n;
	worker **workers;
	pthread_t *threads;
	int *started;
	int64_t *last_interval; /* per worker: last interval handed in */
	int *done;              /* per worker: finished */
	agg **final_gauges;     /* per worker that finished: its gauges at the end */
	pthread_mutex_t mu;
	pending *queue;         /* merged intervals waiting for slower workers, oldest first */
	feeder *feeders;        /* this agent's block of each plan feeder, shared by the workers */
	worker_load *loads;     /* per scenario: the load set while running (engine_set_load) */
	atomic_int stop;
	atomic_int finished;
	_Atomic int64_t started_real_ns;
	_Atomic int64_t ended_real_ns;
	sysstat_cpu_meter cpu; /* the agent's own CPU use, per interval sent */
	ratecap_bucket cap;     /* maxRate's share of this agent, for closed-model requests */
	int capped;             /* the plan has maxRate */
};

int engine_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? HERD_OK : HERD_EINTERNAL;
}

void engine_global_fini(void)
{
	curl_global_cleanup();
}

static char *dupstr(const char *s)
{
	return strdup(s != NULL ? s : "");
}

/* Builds the wire entry for an aggregate entry; takes its histogram. */
static int entry_to_wire(const plan *p, agg_entry *a, wire_entry *e)
{
	const plan_scenario *s = a->key.scenario != AGG_NONE ? &p->scenarios[a->key.scenario] : NULL;
	const plan_step *st = s != NULL && a->key.step != AGG_NONE ? &s->steps[a->key.step] : NULL;
	const char *name = st != NULL && st->name != NULL ? st->name : "";
	const char *tags = st != NULL ? st->tagline : NULL;

	if (a->key.metric == AM_CHECKS && st != NULL && a->key.sub < st->nchecks)
		name = st->checks[a->key.sub].name;
	if ((a->key.metric == AM_ITERATIONS || a->key.metric == AM_ITERATIONS_STARTED) && s != NULL &&
	    a->key.sub < s->nflows)
		tags = s->flows[a->key.sub].tagline;
	if (a->key.metric == AM_GROUP_DURATION)
		name = "";
	e->metric = dupstr(agg_metric_name(a->key.metric));
	e->scenario = dupstr(s != NULL ? s->name : "");
	e->name = dupstr(name);
	e->method = dupstr(a->key.method != 0xff ? http_method_name(a->key.method) : "");
	e->tags = dupstr(tags);
	if (e->metric == NULL || e->scenario == NULL || e->name == NULL || e->method == NULL || e->tags == NULL)
		return HERD_ENOMEM;
	/* A close-code series carries its code where others carry a status class. */
	e->status_class = a->key.metric == AM_WS_CLOSE_CODES ? a->key.code : a->key.status_class;
	e->count = a->count;
	memcpy(e->errors, a->errors, sizeof(e->errors));
	e->bytes_in = a->bytes_in;
	e->bytes_out = a->bytes_out;
	e->gauge = a->gauge;
	e->h = a->h;
	a->h = NULL;
	return HERD_OK;
}

/*
 * One batch holds at most ENGINE_BATCH_HISTS histograms and
 * ENGINE_BATCH_ENTRIES series, so that it always fits one wire message
 * (WIRE_MAX_HISTS, WIRE_MAX_MSG: a histogram encodes to 54 KB at most) and
 * an interval with more goes out in several batches. The controller merges
 * batches, not intervals, so the parts need nothing more.
 */
#define ENGINE_BATCH_HISTS 512
#define ENGINE_BATCH_ENTRIES 4096

/* Builds a batch from a's entries from *pos on, up to the limits above;
 * advances *pos and sets *more when entries are left for another batch.
 * NULL when out of memory. */
static wire_metrics *to_wire(const plan *p, agg *a, size_t *pos, int *more)
{
	wire_metrics *m = calloc(1, sizeof(*m));
	size_t cap = a->len < ENGINE_BATCH_ENTRIES ? a->len : ENGINE_BATCH_ENTRIES, hists = 0;
	agg_entry *ae;
	*more = 0;
	if (m == NULL)
		return NULL;
	m->interval_ms = -1; /* set by the caller */
	m->entries = calloc(cap + 1, sizeof(*m->entries));
	if (m->entries == NULL)
		goto fail;
	for (;;) {
		size_t at = *pos;
		if ((ae = agg_next(a, pos)) == NULL)
			break;
		if (m->nentries == cap || (ae->h != NULL && hists == ENGINE_BATCH_HISTS)) {
			*pos = at; /* the next batch starts with it */
			*more = 1;
			break;
		}
		hists += ae->h != NULL;
		if (entry_to_wire(p, ae, &m->entries[m->nentries++]) != HERD_OK)
			goto fail;
	}
	return m;
fail:
	for (uint32_t k = 0; k < m->nentries; k++)
		wire_entry_fini(&m->entries[k]);
	free(m->entries);
	free(m);
	return NULL;
}

/* Emits every interval all workers have handed in. Called with mu held. */
/*
 * Keeps the gauges of worker wi's last interval a. Workers end in different
 * intervals; the intervals after one ended hold its gauges still (its VUs
 * allocated stay allocated), so that an agent's vus_max does not fall to one
 * worker's share in its last interval.
 */
static void keep_final_gauges(engine *e, int wi, const agg *a)
{
	size_t pos = 0;
	agg_entry *ae;
	agg *g = agg_new(a->interval);
	if (g == NULL)
		return; /* out of memory: later intervals miss this worker's share */
	while ((ae = agg_next(a, &pos)) != NULL)
		if (agg_metric_is_gauge(ae->key.metric))
			agg_gauge(g, ae->key, ae->gauge);
	e->final_gauges[wi] = g;
}

/* Adds the kept gauges of the workers that ended before interval a. */
static void add_final_gauges(engine *e, agg *a)
{
	for (int w = 0; w < e->n; w++)
		if (e->final_gauges[w] != NULL && e->final_gauges[w]->interval < a->interval &&
		    agg_merge(a, e->final_gauges[w]) != 0)
			log_error("out of memory merging interval %lld", (long long)a->interval);
}

/*
 * The agent's own CPU and memory in each interval it sends, so a report can
 * draw them over time beside the load (the POLLs carry the same figures,
 * but the controller keeps only their highest). Measured when the interval
 * is sent: the CPU over the time since the last one (see sysstat.h).
 */
static void add_usage(engine *e, agg *a)
{
	agg_key k = { .metric = AM_AGENT_CPU, .method = 0xff, .scenario = AGG_NONE, .step = AGG_NONE };
	double pct = sysstat_cpu_pct(&e->cpu, sysstat_cpu_us(), clock_mono_ns());
	agg_gauge(a, k, (int64_t)(pct * 10.0 + 0.5));
	k.metric = AM_AGENT_RSS;
	agg_gauge(a, k, (int64_t)sysstat_rss_kb());
}

static void emit_ready(engine *e, int force)
{
	while (e->queue != NULL) {
		int64_t k = e->queue->a->interval;
		int ready = 1;
		for (int w = 0; w < e->n; w++)
			if (!e->done[w] && e->last_interval[w] < k)
				ready = 0;
		if (!ready && !force)
			return;
		pending *pd = e->queue;
		e->queue = pd->next;
		int all_done = 1;
		for (int w = 0; w < e->n; w++)
			all_done &= e->done[w];
		int last = all_done && e->queue == NULL;
		add_final_gauges(e, pd->a);
		add_usage(e, pd->a);
		size_t pos = 0;
		int more = 1;
		while (more) {
			wire_metrics *m = to_wire(e->cfg.plan, pd->a, &pos, &more);
			if (m == NULL) {
				log_error("out of memory: interval %lld lost", (long long)pd->a->interval);
				break;
			}
			m->interval_ms = pd->a->interval * e->cfg.interval_ms;
			e->cfg.batch(e->cfg.batch_arg, m, last && !more);
		}
		agg_free(pd->a);
		free(pd);
		if (last) {
			atomic_store(&e->ended_real_ns, clock_real_ns());
			atomic_store(&e->finished, 1);
		}
	}
}

static void on_flush(void *arg, int wi, agg *a, int last)
{
	engine *e = arg;
	pthread_mutex_lock(&e->mu);
	e->last_interval[wi] = a->interval;
	if (last) {
		e->done[wi] = 1;
		keep_final_gauges(e, wi, a);
	}
	/* Merge into the pending interval, keeping the queue sorted. */
	pending **pp = &e->queue;
	while (*pp != NULL && (*pp)->a->interval < a->interval)
		pp = &(*pp)->next;
	if (*pp != NULL && (*pp)->a->interval == a->interval) {
		if (agg_merge((*pp)->a, a) != 0)
			log_error("out of memory merging interval %lld", (long long)a->interval);
		agg_free(a);
	} else {
		pending *pd = malloc(sizeof(*pd));
		if (pd == NULL) {
			agg_free(a);
		} else {
			pd->a = a;
			pd->next = *pp;
			*pp = pd;
		}
	}
	int all_done = 1;
	for (int w = 0; w < e->n; w++)
		all_done &= e->done[w];
	emit_ready(e, 0);
	if (all_done && e->queue == NULL && !atomic_load(&e->finished)) {
		atomic_store(&e->ended_real_ns, clock_real_ns());
		atomic_store(&e->finished, 1);
	}
	pthread_mutex_unlock(&e->mu);
}

static void *thread_main(void *arg)
{
	worker_run(arg);
	return NULL;
}

int engine_start(const engine_cfg *cfg, engine **out)
{
	engine *e = calloc(1, sizeof(*e));
	int rv = HERD_ENOMEM;
	if (e == NULL)
		return HERD_ENOMEM;
	e->cfg = *cfg;
	sysstat_cpu_pct(&e->cpu, sysstat_cpu_us(), clock_mono_ns()); /* the first window starts */
	e->n = cfg->nworkers > 0 ? cfg->nworkers : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (e->n < 1)
		e->n = 1;
	if (e->n > (int)(ENGINE_VUS_PER_AGENT / ENGINE_VUS_PER_WORKER))
		e->n = (int)(ENGINE_VUS_PER_AGENT / ENGINE_VUS_PER_WORKER);
	if (cfg->agent >= UINT32_MAX / ENGINE_VUS_PER_AGENT) {
		free(e);
		return HERD_EINVAL; /* more agents than VU ids can tell apart */
	}
	pthread_mutex_init(&e->mu, NULL);
	atomic_init(&e->stop, 0);
	atomic_init(&e->finished, 0);
	atomic_init(&e->started_real_ns, 0);
	atomic_init(&e->ended_real_ns, 0);
	e->workers = calloc((size_t)e->n, sizeof(*e->workers));
	e->threads = calloc((size_t)e->n, sizeof(*e->threads));
	e->started = calloc((size_t)e->n, sizeof(*e->started));
	e->last_interval = calloc((size_t)e->n, sizeof(*e->last_interval));
	e->done = calloc((size_t)e->n, sizeof(*e->done));
	e->final_gauges = calloc((size_t)e->n, sizeof(*e->final_gauges));
	if (!e->workers || !e->threads || !e->started || !e->last_interval || !e->done ||
	    !e->final_gauges)
		goto fail;
	/* VU ids (k6's __VU) are unique across the cluster: each agent has a block
	 * of ENGINE_VUS_PER_AGENT ids, each worker a block of ENGINE_VUS_PER_WORKER
	 * within it; with one agent and one worker they are 1, 2, 3, ... */
	uint32_t id_base = (uint32_t)(cfg->agent * ENGINE_VUS_PER_AGENT);
	const plan *p = cfg->plan;
	if (p->nfeeders > 0 && (e->feeders = calloc(p->nfeeders, sizeof(*e->feeders))) == NULL)
		goto fail;
	if ((e->loads = calloc(p->nscenarios + 1, sizeof(*e->loads))) == NULL)
		goto fail;
	for (size_t i = 0; i < p->nscenarios; i++) {
		atomic_init(&e->loads[i].seq, 0);
		atomic_init(&e->loads[i].value, 0);
		atomic_init(&e->loads[i].kind, 0);
	}
	for (size_t i = 0; i < p->nfeeders; i++) {
		const plan_feeder *pf = &p->feeders[i];
		size_t first = 0, count = pf->table.nrows;
		if (pf->split == FEED_SPLIT_PER_AGENT)
			feeder_block(pf->table.nrows, cfg->weights, cfg->nagents, cfg->agent, &first, &count);
		feeder_init(&e->feeders[i], &pf->table, first, count, (feeder_order)pf->order,
		            (feeder_exhausted)pf->exhausted);
	}
	/* maxRate: what the open-model peak leaves, split between agents as
	 * whole requests per second by their weights (every agent computes the
	 * same split), one reservation clock shared by this agent's workers. */
	int64_t budget = ratecap_closed_budget(p);
	if (budget >= 0) {
		e->capped = 1;
		ratecap_bucket_init(&e->cap, split_int_at(budget, cfg->weights, cfg->nagents, cfg->agent));
	}
	for (int i = 0; i < e->n; i++) {
		e->last_interval[i] = -1;
		worker_cfg wc = {
			.plan = cfg->plan,
			.place = { .weights = cfg->weights, .nagents = cfg->nagents, .agent = cfg->agent,
			           .nworkers = (size_t)e->n, .worker = (size_t)i },
			.start_mono_ns = cfg->start_mono_ns,
			.interval_ms = cfg->interval_ms,
			.vu_id_base = id_base,
			.flush = on_flush,
			.flush_arg = e,
			.stop = &e->stop,
			.started_real_ns = &e->started_real_ns,
			.http_driver = cfg->http_driver,
			.feeders = e->feeders,
			.agent_index = (int64_t)cfg->agent,
			.src = cfg->src,
			.allow = cfg->allow,
			.cap = e->capped ? &e->cap : NULL,
			.loads = e->loads,
		};
		if ((rv = worker_new(&wc, &e->workers[i])) != HERD_OK)
			goto fail;
		id_base += ENGINE_VUS_PER_WORKER;
	}
	for (int i = 0; i < e->n; i++) {
		if (pthread_create(&e->threads[i], NULL, thread_main, e->workers[i]) != 0) {
			rv = HERD_EINTERNAL;
			engine_stop(e, 3);
			goto fail;
		}
		e->started[i] = 1;
	}
	*out = e;
	return HERD_OK;
fail:
	engine_free(e);
	return rv;
}

void engine_stop(engine *e, int level)
{
	if (atomic_load(&e->stop) < level)
		atomic_store(&e->stop, level);
}

int engine_finished(engine *e)
{
	return atomic_load(&e->finished);
}

int64_t engine_started_ns(engine *e)
{
	return atomic_load(&e->started_real_ns);
}

int64_t engine_ended_ns(engine *e)
{
	return atomic_load(&e->ended_real_ns);
}

int engine_set_load(engine *e, size_t s, int kind, double value, uint64_t seq)
{
	const plan *p = e->cfg.plan;
	if (s >= p->nscenarios)
		return HERD_ENOTFOUND;
	plan_executor x = p->scenarios[s].executor;
	int bp = x == EXEC_BREAKING_POINT, bp_rate = bp && p->scenarios[s].bp.model == PLAN_BP_ARRIVAL_RATE;
	int rate = x == EXEC_CONSTANT_ARRIVAL_RATE || x == EXEC_RAMPING_ARRIVAL_RATE || bp_rate;
	int vus = x == EXEC_CONSTANT_VUS || x == EXEC_RAMPING_VUS || (bp && !bp_rate);
	if (!isfinite(value) || value < 0 || !((kind == WIRE_LOAD_RATE && rate) || (kind == WIRE_LOAD_VUS && vus)))
		return HERD_EINVAL;
	uint64_t bits;
	memcpy(&bits, &value, sizeof(bits));
	/* Value and kind first: a worker that sees the new seq sees them too. */
	atomic_store(&e->loads[s].value, bits);
	atomic_store(&e->loads[s].kind, kind);
	atomic_store(&e->loads[s].seq, seq);
	return HERD_OK;
}

int engine_load_applied(engine *e, size_t s, uint64_t seq)
{
	if (s >= e->cfg.plan->nscenarios)
		return 0;
	if (atomic_load(&e->started_real_ns) == 0)
		return 1;
	int all = 1;
	pthread_mutex_lock(&e->mu);
	for (int i = 0; i < e->n; i++)
		if (!e->done[i] && worker_load_applied(e->workers[i], s) < seq)
			all = 0;
	pthread_mutex_unlock(&e->mu);
	return all;
}

int engine_workers(const engine *e)
{
	return e->n;
}

void engine_free(engine *e)
{
	if (e == NULL)
		return;
	for (int i = 0; e->threads != NULL && i < e->n; i++)
		if (e->started[i])
			pthread_join(e->threads[i], NULL);
	for (int i = 0; e->workers != NULL && i < e->n; i++)
		worker_free(e->workers[i]);
	while (e->queue != NULL) {
		pending *pd = e->queue;
		e->queue = pd->next;
		agg_free(pd->a);
		free(pd);
	}
	pthread_mutex_destroy(&e->mu);
	free(e->feeders);
	free(e->loads);
	free(e->workers);
	free(e->threads);
	free(e->started);
	free(e->last_interval);
	free(e->done);
	for (int w = 0; e->final_gauges != NULL && w < e->n; w++)
		agg_free(e->final_gauges[w]);
	free(e->final_gauges);
	free(e);
}
