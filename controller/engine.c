/*
 * The run engine; see engine.h. Threads: the caller's thread steps the run
 * and calls the hooks; the cluster's threads call eng_batches and
 * eng_cluster_event, which store and merge under the run's mutex (mu), and
 * queue cluster events for the next step.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/ratecap.h"
#include "controller/abort.h"
#include "controller/engine.h"
#include "controller/guard.h"
#include "controller/search.h"
#include "controller/summary.h"
#include "proto/wire.h"

#define INTERVAL_MS 1000
#define READY_TIMEOUT_MS 10000
#define START_DELAY_MS 500
#define LOSS_MS 3000
#define SYNC_WAIT_MS 3000
#define OVERTIME_MS 30000
#define LINGER_MS 5000
#define LINGER_AT_ONCE_MS 1000
#define JOIN_WAIT_MS 60000

/* A cluster event waiting for the next step. */
typedef struct queued_ev {
	char kind[32], agent_id[192], text[512];
	struct queued_ev *next;
} queued_ev;

struct eng {
	eng_cfg cfg;
	eng_state state;
	cluster *cl;
	char run_id[64];
	int nwant;
	int64_t wait_ms;

	pthread_mutex_t mu; /* the fields below up to "stepping thread only" */
	results *res;
	win *w;
	uint64_t duplicates;
	int store_failed;      /* a batch could not be stored: the run stops */
	char store_error[600]; /* why, from store_errmsg */
	uint64_t unstored;     /* batches acknowledged and dropped after that */
	queued_ev *evq, **evq_tail;
	abort_rules *ab;       /* the plan's abort rules, fed by eng_batches (NULL: not yet) */

	/* Stepping thread only. */
	agent_info *ai;   /* the run's agents, refreshed from the cluster */
	double *weights;
	char *lost;       /* per agent: reported lost (until it is back) */
	char *told;       /* per agent: reported stopped on its own */
	size_t nai, acap;
	double wsum;
	int64_t join_deadline, sync_deadline;
	int selected;
	int64_t start_real, start_mono, total_ms, hard_deadline, ready_deadline, next_tick, linger_deadline;
	int code, interrupted, degraded, stopped_at_once;
	uint64_t busy_warned;
	int skew_reported;
	int stored;
	/* Abort rules and the health guard (limits_watch). */
	guard *gd;           /* NULL: no health guard, or not started */
	int limit_code;      /* 0, or EXIT_THRESHOLDS / EXIT_GUARD_ABORTED once one fired */
	int64_t limit_until; /* after it fired: how long agents get to finish (monotonic ns) */
	char limit_reason[700];
};

const char *eng_state_name(eng_state s)
{
	static const char *const names[] = { "new", "joining", "assigned", "running", "draining", "done" };
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

/* ---- hooks out ---- */

static void emit(eng *e, const eng_event *ev)
{
	if (e->cfg.hooks.on_event != NULL)
		e->cfg.hooks.on_event(e->cfg.hooks.arg, ev);
}

static void emit_agent(eng *e, eng_event_type t, const agent_info *a)
{
	eng_event ev = { .type = t, .agent = a, .text = "" };
	emit(e, &ev);
}

static void emit_text(eng *e, eng_event_type t, const char *text)
{
	eng_event ev = { .type = t, .text = text };
	emit(e, &ev);
}

static void set_state(eng *e, eng_state s)
{
	if (e->state == s)
		return;
	/* eng_view reads it from other threads. */
	pthread_mutex_lock(&e->mu);
	e->state = s;
	pthread_mutex_unlock(&e->mu);
	eng_event ev = { .type = ENG_EV_STATE, .state = s, .text = "" };
	emit(e, &ev);
}

/* A store event, under the run's lock. */
static void record_event(eng *e, int64_t at_ms, const char *kind, const char *id, const char *text)
{
	pthread_mutex_lock(&e->mu);
	if (store_add_event(e->cfg.st, e->run_id, at_ms, kind, id, text) != HERD_OK)
		log_warn("results store: %s", store_errmsg(e->cfg.st));
	pthread_mutex_unlock(&e->mu);
}

/* ---- the cluster's hooks (handler threads) ---- */

/* Merges the batches that came together in one store transaction (one
 * commit and one sync for all of them), then into the results, the live
 * window and the abort rules; each is acknowledged only once stored. */
static void eng_batches(void *arg, cluster_batch *b, size_t n)
{
	eng *e = arg;
	int dup[CLUSTER_MERGE_MAX] = { 0 };
	int rv = HERD_OK;
	size_t i;
	for (i = 0; i < n; i++)
		if (strcmp(b[i].m->run_id, e->run_id) != 0)
			b[i].rv = HERD_ECLOSED; /* a batch of a run this controller does not run: refuse, never merge */
	pthread_mutex_lock(&e->mu);
	if (e->store_failed) {
		/* The run is being stopped (store_check): a batch that cannot be kept
		 * is acknowledged and dropped, so the agents can finish at once
		 * instead of sending it again until the hard deadline. */
		for (i = 0; i < n; i++)
			e->unstored += b[i].rv == HERD_OK;
		pthread_mutex_unlock(&e->mu);
		return;
	}
	rv = store_batches_begin(e->cfg.st);
	for (i = 0; i < n && rv == HERD_OK; i++)
		if (b[i].rv == HERD_OK)
			rv = store_batch_put(e->cfg.st, e->run_id, b[i].agent_id, b[i].m->seq, b[i].m->interval_ms,
			                     b[i].m->entries, b[i].m->nentries, &dup[i]);
	if (rv == HERD_OK)
		rv = store_batches_end(e->cfg.st, 1);
	else
		store_batches_end(e->cfg.st, 0);
	if (rv != HERD_OK) {
		/* Nothing of the group was stored: none is acknowledged. */
		snprintf(e->store_error, sizeof(e->store_error), "%s", store_errmsg(e->cfg.st));
		e->store_failed = 1;
		for (i = 0; i < n; i++)
			if (b[i].rv == HERD_OK)
				b[i].rv = rv;
		pthread_mutex_unlock(&e->mu);
		return;
	}
	for (i = 0; i < n; i++) {
		const wire_metrics *m = b[i].m;
		if (b[i].rv != HERD_OK)
			continue;
		if (dup[i]) {
			e->duplicates++;
			continue;
		}
		rv = results_add_batch(e->res, b[i].agent_id, m->interval_ms, m->entries, m->nentries);
		/* The window is a view for the live line and readers of the run
		 * as it goes: a batch it cannot hold is still in the results. */
		if (rv == HERD_OK && win_add(e->w, b[i].agent_id, m->interval_ms, m->entries, m->nentries) != HERD_OK)
			log_warn("live window: out of memory");
		if (rv == HERD_OK && e->ab != NULL)
			rv = abort_add_batch(e->ab, b[i].agent_id, m->interval_ms, m->entries, m->nentries);
		b[i].rv = rv;
	}
	pthread_mutex_unlock(&e->mu);
}

/* Cluster events go to the store at once, and to on_event at the next step. */
static void eng_cluster_event(void *arg, const char *kind, const char *agent_id, const char *message)
{
	eng *e = arg;
	queued_ev *q = calloc(1, sizeof(*q));
	pthread_mutex_lock(&e->mu);
	if (store_add_event(e->cfg.st, e->run_id, clock_real_ns() / 1000000, kind, agent_id, message) != HERD_OK)
		log_warn("results store: %s", store_errmsg(e->cfg.st));
	if (q != NULL) {
		snprintf(q->kind, sizeof(q->kind), "%s", kind);
		snprintf(q->agent_id, sizeof(q->agent_id), "%s", agent_id);
		snprintf(q->text, sizeof(q->text), "%s", message);
		*e->evq_tail = q;
		e->evq_tail = &q->next;
	}
	pthread_mutex_unlock(&e->mu);
}

static void deliver_cluster_events(eng *e)
{
	pthread_mutex_lock(&e->mu);
	queued_ev *q = e->evq;
	e->evq = NULL;
	e->evq_tail = &e->evq;
	pthread_mutex_unlock(&e->mu);
	while (q != NULL) {
		queued_ev *next = q->next;
		eng_event ev = { .type = ENG_EV_CLUSTER, .kind = q->kind, .agent_id = q->agent_id, .text = q->text };
		emit(e, &ev);
		free(q);
		q = next;
	}
}

/* ---- the plan ---- */

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL) {
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
		}
	}
	fclose(f);
	return buf;
}

/*
 * Whether the plan's assignment fits one wire message (WIRE_MAX_MSG): the
 * plan's text and the files and environment values shipped with it, plus
 * room for the weights and names. When it does not, err says the sizes and
 * the limit, so the user knows what to make smaller.
 */
#define ASSIGN_OVERHEAD (1u << 20) /* weights, names, keys: far less for any agent count */
static int assign_fits(const char *path, const plan *p, size_t text_len, char *err, size_t errlen)
{
	uint64_t files = 0, env = 0;
	for (size_t i = 0; i < p->nfiles; i++)
		files += p->files[i].len + strlen(p->files[i].name);
	for (size_t i = 0; i < p->nenv; i++)
		env += p->env[i].len + strlen(p->env[i].name);
	uint64_t total = (uint64_t)text_len + files + env;
	if (total + ASSIGN_OVERHEAD <= WIRE_MAX_MSG)
		return 1;
	snprintf(err, errlen,
	         "%s: the assignment would take %llu bytes (the plan %zu, its %zu file%s %llu, environment values %llu),"
	         " more than the %u MiB one wire message holds (less %u MiB for the rest); make the data files smaller",
	         path, (unsigned long long)total, text_len, p->nfiles, p->nfiles == 1 ? "" : "s",
	         (unsigned long long)files, (unsigned long long)env, WIRE_MAX_MSG >> 20, ASSIGN_OVERHEAD >> 20);
	return 0;
}

/* Each threshold (or objective: what) can be judged: an aggregation its
 * metric has. Writes the first that cannot, at its line:column, into err;
 * returns -1 then, else 0. */
static int check_thresholds(const plan *p, const plan_threshold *t, size_t n, const char *what, char *err,
                            size_t errlen)
{
	for (size_t i = 0; i < n; i++, t++) {
		th_metric m;
		th_expr x;
		char terr[256];
		if (th_parse_metric(t->metric, &m, terr, sizeof(terr)) != 0 ||
		    th_parse_expr(t->expr, &x, terr, sizeof(terr)) != 0 || verdict_check(&m, &x, terr, sizeof(terr)) != 0) {
			snprintf(err, errlen, "%s:%d:%d: %s '%s: %s': %s", p->file, t->line, t->col, what, t->metric, t->expr,
			         terr);
			return -1;
		}
	}
	return 0;
}

/*
 * A breaking-point scenario's objectives are judged per level on the live
 * window (controller/search.h): each must be a metric and an aggregation the
 * window holds; and a plan has one such scenario at most. Writes the first
 * error, at its line:column, into err; returns -1 then, else 0.
 */
static int check_objectives(const plan *p, char *err, size_t errlen)
{
	const plan_scenario *first = NULL;
	for (size_t i = 0; i < p->nscenarios; i++) {
		const plan_scenario *s = &p->scenarios[i];
		char why[400];
		size_t k = 0;
		if (s->executor != EXEC_BREAKING_POINT)
			continue;
		/* One search steers one scenario's load. */
		if (first != NULL) {
			snprintf(err, errlen, "%s:%d:%d: scenario '%s': a plan holds one breaking-point scenario ('%s' is "
			         "one already)", p->file, s->line, s->col, s->name, first->name);
			return -1;
		}
		first = s;
		if (check_thresholds(p, s->bp.objectives, s->bp.nobjectives, "objective", err, errlen) != 0)
			return -1;
		if (search_check(s, &k, why, sizeof(why)) != 0) {
			const plan_threshold *t = &s->bp.objectives[k];
			snprintf(err, errlen, "%s:%d:%d: objective '%s: %s': %s", p->file, t->line, t->col, t->metric, t->expr,
			         why);
			return -1;
		}
	}
	return 0;
}

int eng_plan_load(const char *path, const plan_cli *cli, plan **out, char **text, char *err, size_t errlen)
{
	plan *p;
	char *t;
	int rv;
	/* Every error is reported before anything is started. */
	if ((rv = plan_load_file_cli(path, cli, &p, err, errlen)) != HERD_OK)
		return rv;
	if ((t = read_file(path)) == NULL) {
		snprintf(err, errlen, "herd: %s: cannot read: %s", path, strerror(errno));
		plan_free(p);
		return HERD_EINVAL;
	}
	char fit[1024];
	if (!assign_fits(path, p, strlen(t), fit, sizeof(fit))) {
		snprintf(err, errlen, "herd: %s", fit);
		plan_free(p);
		free(t);
		return HERD_EINVAL;
	}
	if (check_thresholds(p, p->thresholds, p->nthresholds, "threshold", err, errlen) != 0 ||
	    check_objectives(p, err, errlen) != 0) {
		plan_free(p);
		free(t);
		return HERD_EINVAL;
	}
	/* The plan's peak against its maxRate and maxVUs, before anything starts. */
	char msg[1024];
	if (ratecap_check(p, msg, sizeof(msg)) != 0) {
		snprintf(err, errlen, "%s:%d:%d: %s; nothing was sent to the target", p->file, p->caps_line, p->caps_col,
		         msg);
		plan_free(p);
		free(t);
		return HERD_EINVAL;
	}
	*out = p;
	*text = t;
	return HERD_OK;
}

double eng_agent_weight(const char *spec, const char *name, double dflt)
{
	const char *p = spec;
	if (spec == NULL)
		return dflt;
	while (*p != '\0') {
		const char *eq = strchr(p, '='), *end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		if (eq == NULL || eq > end || eq == p)
			return -1;
		char *num_end;
		double w = strtod(eq + 1, &num_end);
		if (num_end != end || !(w > 0))
			return -1;
		if ((size_t)(eq - p) == strlen(name) && strncmp(p, name, (size_t)(eq - p)) == 0)
			return w;
		p = *end == ',' ? end + 1 : end;
	}
	return dflt;
}

/* ---- life cycle ---- */

int eng_new(const eng_cfg *cfg, eng **out, char *err, size_t errlen)
{
	eng *e = calloc(1, sizeof(*e));
	int rv;
	if (e == NULL) {
		snprintf(err, errlen, "%s", herd_strerror(HERD_ENOMEM));
		return HERD_ENOMEM;
	}
	e->cfg = *cfg;
	pthread_mutex_init(&e->mu, NULL);
	e->evq_tail = &e->evq;
	e->code = EXIT_SETUP;
	const plan *p = cfg->plan;
	/* Flags first, then the plan's `agents: { min, wait }`. */
	e->nwant = cfg->agents > 0 ? cfg->agents : p->agents_min > 0 ? (int)p->agents_min : 1;
	e->wait_ms = cfg->agents_wait_ms > 0 ? cfg->agents_wait_ms
	             : p->agents_wait_ms > 0 ? p->agents_wait_ms
	                                     : JOIN_WAIT_MS;
	store_make_run_id(clock_real_ns() / 1000000, e->run_id, sizeof(e->run_id));
	if ((rv = results_new(INTERVAL_MS, &e->res)) != HERD_OK || (rv = win_new(cfg->window, INTERVAL_MS, &e->w)) != HERD_OK) {
		snprintf(err, errlen, "%s", herd_strerror(rv));
		goto fail;
	}
	e->acap = (size_t)e->nwant * 2 + 8;
	e->ai = calloc(e->acap, sizeof(*e->ai));
	e->weights = calloc(e->acap, sizeof(*e->weights));
	e->lost = calloc(e->acap, 1);
	e->told = calloc(e->acap, 1);
	if (e->ai == NULL || e->weights == NULL || e->lost == NULL || e->told == NULL) {
		rv = HERD_ENOMEM;
		snprintf(err, errlen, "%s", herd_strerror(rv));
		goto fail;
	}
	if (store_run_begin(cfg->st, e->run_id, p->name, cfg->plan_path, cfg->plan_text, clock_real_ns() / 1000000,
	                    INTERVAL_MS) != HERD_OK) {
		snprintf(err, errlen, "results store: %s", store_errmsg(cfg->st));
		rv = HERD_ESTORE;
		goto fail;
	}
	for (size_t i = 0; i < cfg->nlabels; i++)
		store_add_event(cfg->st, e->run_id, clock_real_ns() / 1000000, "label", NULL, cfg->labels[i]);
	*out = e;
	return HERD_OK;
fail:
	e->state = ENG_DONE; /* nothing recorded: eng_free records nothing */
	eng_free(e);
	return rv;
}

const char *eng_run_id(const eng *e)
{
	return e->run_id;
}

eng_state eng_get_state(const eng *e)
{
	return e->state;
}

int eng_code(const eng *e)
{
	return e->code;
}

int eng_stored(const eng *e)
{
	return e->stored;
}

int eng_start(eng *e, cluster *cl)
{
	if (e->state != ENG_NEW || cl == NULL)
		return HERD_EINVAL;
	e->cl = cl;
	cluster_set_hooks(cl, eng_batches, eng_cluster_event, e);
	set_state(e, ENG_JOINING);
	/* The health guard's check before the start, before any agent is asked
	 * to send anything. */
	char why[256], text[1024];
	const plan_health *h = &e->cfg.plan->health;
	if (h->url != NULL && !guard_check_once(h, why, sizeof(why))) {
		snprintf(text, sizeof(text), "the health guard %s is unhealthy (%s): run refused, nothing was sent to the target",
		         h->url, why);
		emit_text(e, ENG_EV_GUARD_REFUSED, text);
		record_event(e, clock_real_ns() / 1000000, "guard_refused", NULL, text);
		eng_cancel(e, EXIT_GUARD_REFUSED);
	}
	return HERD_OK;
}

/* ---- agents ---- */

/* Every agent of the cluster, in joining order: a new array of *n (free
 * it), NULL when out of memory. */
static agent_info *fetch_agents(cluster *cl, size_t *n)
{
	size_t cap = 64;
	for (;;) {
		agent_info *buf = malloc(cap * sizeof(*buf));
		if (buf == NULL)
			return NULL;
		size_t got = cluster_agents(cl, buf, cap);
		if (got < cap || cap >= 65536) {
			*n = got;
			return buf;
		}
		free(buf);
		cap *= 4;
	}
}

/* The first n idle agents, in joining order, take part in the run. */
static size_t select_agents(eng *e, size_t n)
{
	size_t got = 0, k = 0;
	agent_info *all = fetch_agents(e->cl, &got);
	for (size_t i = 0; all != NULL && i < got && k < n && k < e->acap; i++)
		if (all[i].state == AGENT_JOINED)
			e->ai[k++] = all[i];
	free(all);
	return k;
}

/* Refreshes the run's agents from the cluster. */
static void refresh_agents(eng *e)
{
	size_t got = 0;
	if (e->cl == NULL || e->nai == 0)
		return;
	agent_info *all = fetch_agents(e->cl, &got);
	/* Both lists are in joining order, so each agent is looked for from
	 * where the one before was found: one pass when nothing moved, not
	 * run x cluster string compares (a million at 1,000 agents, every
	 * step of 50 ms). */
	size_t from = 0;
	for (size_t i = 0; all != NULL && got > 0 && i < e->nai; i++)
		for (size_t j = 0; j < got; j++) {
			size_t k = (from + j) % got;
			if (strcmp(e->ai[i].id, all[k].id) == 0) {
				e->ai[i] = all[k];
				from = k + 1;
				break;
			}
		}
	free(all);
}

static int all_finished(const eng *e)
{
	for (size_t i = 0; i < e->nai; i++)
		if (e->ai[i].state != AGENT_DONE && e->ai[i].state != AGENT_FAILED && e->ai[i].state != AGENT_LOST)
			return 0;
	return 1;
}

static void stop_all(eng *e, const char *reason)
{
	wire_msg m = { .type = WIRE_STOP };
	m.u.stop.run_id = e->run_id;
	m.u.stop.reason = (char *)reason;
	for (size_t i = 0; i < e->nai; i++)
		if (e->ai[i].state == AGENT_READY || e->ai[i].state == AGENT_ASSIGNED)
			cluster_send(e->cl, e->ai[i].id, &m);
}

/* An agent's status for the store and the summary: "stopped" for one that
 * stopped on its own (a signal) and delivered its last batches. */
static const char *agent_status(const agent_info *a)
{
	return a->stopped && a->state == AGENT_DONE ? "stopped" : agent_state_name(a->state);
}

static void record_agents(eng *e)
{
	pthread_mutex_lock(&e->mu);
	for (size_t i = 0; i < e->nai; i++) {
		const agent_info *a = &e->ai[i];
		store_agent sa = {
			.agent_id = a->id,
			.name = a->name,
			.host = a->host,
			.cores = a->cores,
			.weight = e->wsum > 0 ? e->weights[i] / e->wsum : 0,
			.joined_at = a->joined_ns / 1000000,
			.left_at = a->state == AGENT_DONE || a->state == AGENT_LOST ? clock_real_ns() / 1000000 : 0,
			.status = agent_status(a),
			.cpu_pct = a->cpu_pct,
			.rss_kb = a->rss_kb,
		};
		if (store_agent_upsert(e->cfg.st, e->run_id, &sa) != HERD_OK)
			log_warn("results store: %s", store_errmsg(e->cfg.st));
	}
	pthread_mutex_unlock(&e->mu);
}

/* Stops taking batches and events, and lets the run's agents go: they are
 * idle in the cluster for the next run. */
static void detach(eng *e)
{
	if (e->cl == NULL)
		return;
	cluster_set_hooks(e->cl, NULL, NULL, NULL);
	deliver_cluster_events(e);
	/* No roster: loads set for this run go nowhere any more. */
	cluster_set_shares(e->cl, "", NULL, NULL, 0);
	for (size_t i = 0; i < e->nai; i++)
		cluster_release(e->cl, e->ai[i].id);
	e->cl = NULL;
}

/* ---- assigning ---- */

/* Sends each agent its share with one start instant. Returns HERD_OK, or an
 * error after which the run ends (code 103). */
static int assign(eng *e, int64_t now)
{
	const plan *p = e->cfg.plan;
	int rv = HERD_OK;
	e->wsum = 0;
	for (size_t i = 0; i < e->nai; i++) {
		e->weights[i] = eng_agent_weight(e->cfg.agent_weights, e->ai[i].name, e->ai[i].cores);
		e->wsum += e->weights[i];
	}
	/* The abort rules, before any batch can come; each interval waits for
	 * these agents' batches. */
	abort_rules *ab = NULL;
	if ((rv = abort_new(p, INTERVAL_MS, e->nai, &ab)) != HERD_OK) {
		eng_event ev = { .type = ENG_EV_RULES_FAILED, .rv = rv, .text = "" };
		emit(e, &ev);
		return rv;
	}
	pthread_mutex_lock(&e->mu);
	e->ab = ab;
	pthread_mutex_unlock(&e->mu);
	int64_t delay = e->cfg.start_delay_ms > 0 ? e->cfg.start_delay_ms : START_DELAY_MS;
	e->start_real = clock_real_ns() + delay * 1000000;
	/* The files and environment values the plan used travel with it, so
	 * agents need neither the controller's filesystem nor its environment. */
	wire_blob *files = calloc(p->nfiles + 1, sizeof(*files));
	wire_blob *env = calloc(p->nenv + 1, sizeof(*env));
	if (files == NULL || env == NULL) {
		free(files);
		free(env);
		emit_text(e, ENG_EV_NO_MEMORY, "the assignment");
		return HERD_ENOMEM;
	}
	for (size_t i = 0; i < p->nfiles; i++)
		files[i] = (wire_blob){ p->files[i].name, p->files[i].data, p->files[i].len };
	for (size_t i = 0; i < p->nenv; i++)
		env[i] = (wire_blob){ p->env[i].name, p->env[i].data, p->env[i].len };
	for (size_t i = 0; i < p->nfeeders; i++) {
		const plan_feeder *f = &p->feeders[i];
		if (f->split == FEED_SPLIT_PER_AGENT && f->table.nrows < e->nai) {
			eng_event ev = { .type = ENG_EV_FEEDER_SHORT, .text = f->name, .count = (int64_t)f->table.nrows,
				         .wanted = (int64_t)e->nai };
			emit(e, &ev);
		}
	}
	for (size_t i = 0; i < e->nai; i++) {
		wire_msg m = { .type = WIRE_ASSIGN };
		m.u.assign.files = (wire_blobs){ (uint32_t)p->nfiles, files };
		m.u.assign.env = (wire_blobs){ (uint32_t)p->nenv, env };
		m.u.assign.run_id = e->run_id;
		m.u.assign.plan_file = (char *)e->cfg.plan_path;
		m.u.assign.plan_text = (char *)e->cfg.plan_text;
		m.u.assign.agent_index = (uint32_t)i;
		m.u.assign.nweights = (uint32_t)e->nai;
		m.u.assign.weights = e->weights;
		/* One instant for all, in each agent's own clock. */
		m.u.assign.start_ns = e->start_real + e->ai[i].clock_offset_ns;
		m.u.assign.interval_ms = INTERVAL_MS;
		m.u.assign.max_rate = e->cfg.max_rate;
		m.u.assign.max_vus = e->cfg.max_vus;
		if ((rv = cluster_assign(e->cl, e->ai[i].id, &m)) != HERD_OK) {
			eng_event ev = { .type = ENG_EV_SEND_FAILED, .agent = &e->ai[i], .rv = rv, .text = "" };
			emit(e, &ev);
			break;
		}
	}
	free(files);
	free(env);
	if (rv != HERD_OK)
		return rv;
	refresh_agents(e);
	record_agents(e);
	/* Loads set while running are split as the ASSIGN split the plan. */
	cluster_set_shares(e->cl, e->run_id, e->ai, e->weights, e->nai);
	eng_event ev = { .type = ENG_EV_ASSIGNED, .agents = e->ai, .weights = e->weights, .n = e->nai, .text = "" };
	emit(e, &ev);

	/* The planned instant the load starts: time zero of every interval, and
	 * of the report's charts (the run row's start is earlier, before agents
	 * joined). */
	record_event(e, e->start_real / 1000000, "load_start", NULL, "the load starts on every agent");
	if (p->health.url != NULL && guard_start(&p->health, &e->gd) != HERD_OK)
		emit_text(e, ENG_EV_GUARD_FAILED, "");
	e->start_mono = now + (e->start_real - clock_real_ns());
	/* The live line counts to the end of the last scenario; gracefulStop is slack. */
	e->total_ms = 0;
	for (size_t i = 0; i < p->nscenarios; i++) {
		const plan_scenario *s = &p->scenarios[i];
		if (s->start_ms + plan_scenario_length_ms(s) > e->total_ms)
			e->total_ms = s->start_ms + plan_scenario_length_ms(s);
	}
	e->hard_deadline = e->start_mono + (plan_total_ms(p) + OVERTIME_MS) * 1000000;
	e->ready_deadline = now + (int64_t)READY_TIMEOUT_MS * 1000000;
	e->next_tick = e->start_mono + (int64_t)INTERVAL_MS * 1000000 + 200000000;
	e->code = EXIT_OK;
	set_state(e, ENG_ASSIGNED);
	return HERD_OK;
}

/* ENG_JOINING: idle agents first, then their clocks. */
static void step_joining(eng *e, int64_t now)
{
	if (e->join_deadline == 0)
		e->join_deadline = now + e->wait_ms * 1000000;
	if (!e->selected) {
		int idle = cluster_wait_idle(e->cl, e->nwant, 0);
		if (idle < e->nwant) {
			if (now >= e->join_deadline) {
				eng_event ev = { .type = ENG_EV_JOIN_TIMEOUT, .count = idle, .wanted = e->nwant,
					         .ms = e->wait_ms, .text = "" };
				emit(e, &ev);
				eng_cancel(e, EXIT_SETUP);
			}
			return;
		}
		e->nai = select_agents(e, (size_t)e->nwant);
		e->selected = 1;
		e->sync_deadline = now + (int64_t)SYNC_WAIT_MS * 1000000;
	}
	/* Each agent measures its clock offset right after joining and reports
	 * it with its first poll; the start instant needs it. */
	refresh_agents(e);
	size_t synced = 0;
	for (size_t i = 0; i < e->nai; i++)
		synced += e->ai[i].clock_rtt_ns > 0;
	if (synced < e->nai && now < e->sync_deadline)
		return;
	if (assign(e, now) != HERD_OK)
		eng_cancel(e, EXIT_SETUP);
}

/* The live line's stage: the stage of the first ramping scenario under way,
 * by its name when it has one ("peak"), else by number ("ramp 2/3"); else
 * "running", or "ending" after every scenario's end. */
static const char *stage_label(const plan *p, int64_t t_ms, char *buf, size_t len)
{
	int64_t last_end = 0;
	for (size_t i = 0; i < p->nscenarios; i++) {
		const plan_scenario *s = &p->scenarios[i];
		int64_t at = s->start_ms, end = s->start_ms + plan_scenario_length_ms(s);
		if (end > last_end)
			last_end = end;
		if (s->nstages == 0 || t_ms < at || t_ms >= end)
			continue;
		for (size_t k = 0; k < s->nstages; k++) {
			at += s->stages[k].duration_ms;
			if (t_ms >= at)
				continue;
			if (s->stages[k].name != NULL)
				snprintf(buf, len, "%s", s->stages[k].name);
			else
				snprintf(buf, len, "%.20s %zu/%zu", s->name, k + 1, s->nstages);
			return buf;
		}
	}
	return t_ms >= last_end ? "ending" : "running";
}

/* Leaves the watch: the agents' DONE and last batches are awaited a while. */
static void end_watch(eng *e, int64_t now)
{
	guard_stop(e->gd);
	e->gd = NULL;
	e->linger_deadline = now + (int64_t)(e->stopped_at_once ? LINGER_AT_ONCE_MS : LINGER_MS) * 1000000;
	set_state(e, ENG_DRAINING);
}

/*
 * Whether the store failed (a batch could not be committed: a full disk, an
 * I/O error). The first time, says why and stops the load at once: what was
 * committed is kept and nothing more can be, so running on would only load
 * the target unmeasured.
 */
static int store_check(eng *e)
{
	char why[sizeof(e->store_error)];
	pthread_mutex_lock(&e->mu);
	int failed = e->store_failed;
	snprintf(why, sizeof(why), "%s", e->store_error);
	pthread_mutex_unlock(&e->mu);
	if (!failed)
		return 0;
	emit_text(e, ENG_EV_STORE_FAILED, why);
	stop_all(e, "abort");
	return 1;
}

/* Agents newly lost (reported once each, again after coming back). Returns
 * how many. */
static int check_lost(eng *e, int64_t loss_ms)
{
	int n = 0;
	cluster_check_lost(e->cl, loss_ms);
	refresh_agents(e);
	for (size_t i = 0; i < e->nai; i++) {
		if (e->ai[i].state != AGENT_LOST) {
			e->lost[i] = 0;
			continue;
		}
		if (e->lost[i])
			continue;
		e->lost[i] = 1;
		n++;
		/* One that said it stops on its own was reported so (check_stopped). */
		if (e->ai[i].stopped)
			continue;
		eng_event ev = { .type = ENG_EV_AGENT_LOST, .agent = &e->ai[i], .ms = loss_ms,
			         .since_ms = eng_elapsed_ms(e, e->ai[i].last_seen_mono),
			         .aborting = e->cfg.on_loss_abort, .text = "" };
		emit(e, &ev);
	}
	return n;
}

/* Copies peer-supplied text for the terminal: control characters become '?'. */
static void printable(const char *in, char *out, size_t len)
{
	size_t i = 0;
	for (; in[i] != '\0' && i + 1 < len; i++)
		out[i] = (unsigned char)in[i] < 0x20 || in[i] == 0x7f ? '?' : in[i];
	out[i] = '\0';
}

/* Reports each agent that said it stops on its own (a signal: "stopped:
 * SIGTERM") once; its last batches and DONE follow. Returns how many are
 * new. */
static int check_stopped(eng *e)
{
	int k = 0;
	for (size_t i = 0; i < e->nai; i++) {
		char why[128];
		if (!e->ai[i].stopped || e->told[i])
			continue;
		e->told[i] = 1;
		k++;
		printable(e->ai[i].error, why, sizeof(why));
		record_event(e, clock_real_ns() / 1000000, "agent_stopped", e->ai[i].id, why);
		eng_event ev = { .type = ENG_EV_AGENT_STOPPED, .agent = &e->ai[i], .text = why,
			         .since_ms = eng_elapsed_ms(e, e->ai[i].last_seen_mono),
			         .aborting = e->cfg.on_loss_abort };
		emit(e, &ev);
	}
	return k;
}

static void check_skew(eng *e)
{
	if (e->skew_reported || e->nai == 0)
		return;
	/* Each agent's actual start, in the controller's clock. */
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	size_t started = 0;
	for (size_t i = 0; i < e->nai; i++) {
		if (e->ai[i].started_ns == 0)
			continue;
		int64_t t = e->ai[i].started_ns - e->ai[i].clock_offset_ns;
		lo = t < lo ? t : lo;
		hi = t > hi ? t : hi;
		started++;
	}
	if (started < e->nai)
		return;
	char text[160];
	e->skew_reported = 1;
	snprintf(text, sizeof(text), "start skew %.3f ms across %zu agent%s (%.3f ms after the planned instant)",
	         (double)(hi - lo) / 1e6, e->nai, e->nai == 1 ? "" : "s", (double)(hi - e->start_real) / 1e6);
	record_event(e, clock_real_ns() / 1000000, "start_skew", "", text);
	emit_text(e, ENG_EV_START_SKEW, text);
}

static void tick(eng *e, int64_t now)
{
	char stage[64];
	int up = 0;
	int64_t elapsed = (now - e->start_mono) / 1000000;
	int64_t want = (elapsed / INTERVAL_MS - 1) * INTERVAL_MS;
	for (size_t i = 0; i < e->nai; i++)
		up += e->ai[i].state != AGENT_LOST && e->ai[i].state != AGENT_FAILED;
	pthread_mutex_lock(&e->mu);
	eng_tick t = {
		.elapsed_ms = elapsed,
		.total_ms = e->total_ms,
		.interval_ms = want >= 0 ? want : -1,
		.w = e->w,
		.res = e->res,
		.agents_up = up,
		.agents = (int)e->nai,
		.stage = e->interrupted ? "stopping" : stage_label(e->cfg.plan, elapsed, stage, sizeof(stage)),
		.stopping = e->interrupted,
	};
	if (e->cfg.hooks.on_tick != NULL)
		e->cfg.hooks.on_tick(e->cfg.hooks.arg, &t);
	pthread_mutex_unlock(&e->mu);
}

/*
 * On every step of the watch: judges the abort rules on the intervals merged
 * so far and looks at the health guard. When one fails, STOPs every agent at
 * once with the reason, records an "abort" event (at the breach for a rule),
 * says so, and gives the agents until limit_until to finish.
 */
static void limits_watch(eng *e, int64_t now)
{
	abort_breach b;
	int fired = 0, fails = 0;
	char why[256], stop_reason[sizeof(e->limit_reason) + 8];
	int64_t at_ms = clock_real_ns() / 1000000;

	if (e->limit_code != 0)
		return;
	pthread_mutex_lock(&e->mu);
	if (e->ab != NULL && abort_judge(e->ab, (now - e->start_mono) / 1000000, &b, &fired) != HERD_OK)
		fired = 0;
	pthread_mutex_unlock(&e->mu);
	if (fired) {
		abort_describe(&b, why, sizeof(why));
		snprintf(e->limit_reason, sizeof(e->limit_reason), "%s", why);
		e->limit_code = EXIT_THRESHOLDS;
		at_ms = e->start_real / 1000000 + b.at_ms;
	} else if (e->gd != NULL && guard_tripped(e->gd, why, sizeof(why), &fails)) {
		snprintf(e->limit_reason, sizeof(e->limit_reason), "the health guard %s failed %d checks in a row (last: %s)",
		         e->cfg.plan->health.url, fails, why);
		e->limit_code = EXIT_GUARD_ABORTED;
	} else {
		return;
	}
	snprintf(stop_reason, sizeof(stop_reason), "abort: %s", e->limit_reason);
	stop_all(e, stop_reason);
	record_event(e, at_ms, "abort", NULL, e->limit_reason);
	emit_text(e, ENG_EV_ABORTED, e->limit_reason);
	e->limit_until = now + 5000000000LL;
}

/* ENG_ASSIGNED and ENG_RUNNING: watch the agents until they are done. */
static void step_watch(eng *e, int64_t now)
{
	int64_t loss_ms = e->cfg.loss_ms > 0 ? e->cfg.loss_ms : LOSS_MS;
	refresh_agents(e);
	int failed = 0;
	for (size_t i = 0; i < e->nai; i++)
		if (e->ai[i].state == AGENT_FAILED) {
			failed = 1;
			emit_agent(e, ENG_EV_AGENT_FAILED, &e->ai[i]);
		}
	if (failed) {
		stop_all(e, "abort");
		e->code = EXIT_SETUP;
		end_watch(e, now);
		return;
	}
	if (store_check(e)) {
		e->code = EXIT_SETUP;
		end_watch(e, now);
		return;
	}
	limits_watch(e, now);
	if (e->limit_code != 0 && now > e->limit_until) {
		e->degraded = 1; /* stopped agents that never said DONE: their last batches are missing */
		end_watch(e, now);
		return;
	}
	if (now > e->ready_deadline) {
		for (size_t i = 0; i < e->nai; i++)
			if (e->ai[i].state == AGENT_ASSIGNED) {
				emit_agent(e, ENG_EV_NOT_READY, &e->ai[i]);
				e->code = EXIT_SETUP;
			}
		if (e->code != EXIT_OK) {
			end_watch(e, now);
			return;
		}
	}
	/* An agent lost, or stopped on its own: the run goes on without it, or
	 * is aborted (the stopped are reported after the lost, as they come). */
	int gone = check_lost(e, loss_ms);
	if (gone == 0 || !e->cfg.on_loss_abort)
		gone += check_stopped(e);
	if (gone > 0) {
		e->degraded = 1;
		if (e->cfg.on_loss_abort) {
			stop_all(e, "abort");
			e->code = EXIT_ABORTED;
			end_watch(e, now);
			return;
		}
	}
	for (size_t i = 0; i < e->nai && i < sizeof(e->busy_warned) * 8; i++) {
		if (e->ai[i].cpu_pct > 90.0 * (e->ai[i].cores ? e->ai[i].cores : 1) && !(e->busy_warned >> i & 1)) {
			e->busy_warned |= UINT64_C(1) << i;
			eng_event ev = { .type = ENG_EV_AGENT_BUSY, .agent = &e->ai[i], .value = e->ai[i].cpu_pct,
				         .text = "" };
			emit(e, &ev);
		}
	}
	check_skew(e);
	if (all_finished(e)) {
		end_watch(e, now);
		return;
	}
	if (now > e->hard_deadline) {
		emit_text(e, ENG_EV_OVERTIME, "");
		stop_all(e, "abort");
		/* Their last batches may never come: what was measured is incomplete. */
		e->degraded = 1;
		end_watch(e, now);
		return;
	}
	if (e->state == ENG_ASSIGNED && now >= e->start_mono) {
		int accepted = 1;
		for (size_t i = 0; i < e->nai; i++)
			accepted &= e->ai[i].state != AGENT_ASSIGNED;
		if (accepted)
			set_state(e, ENG_RUNNING);
	}
	if (now >= e->next_tick) {
		e->next_tick += (int64_t)INTERVAL_MS * 1000000;
		tick(e, now);
	}
}

/* ---- the end ---- */

/*
 * Decides the exit code (see outcome.h) from the code the watch left
 * (EXIT_SETUP, EXIT_ABORTED or EXIT_OK) and what the run produced, and
 * writes why into reason ("" for a plain pass or threshold failure).
 */
static int run_outcome(eng *e, const verdict_set *vs, char *reason, size_t len)
{
	outcome_in oi = {
		.setup_failed = e->code == EXIT_SETUP || e->store_failed,
		.aborted = e->code == EXIT_ABORTED,
		.interrupted = e->interrupted,
		.thresholds_failed = vs != NULL && !verdict_all_ok(vs),
		.degraded = e->degraded,
	};
	if (outcome_nothing_measured(e->res, &oi.nothing_measured) != HERD_OK)
		oi.setup_failed = 1;
	oi.rule_aborted = e->limit_code == EXIT_THRESHOLDS;
	oi.guard_aborted = e->limit_code == EXIT_GUARD_ABORTED;
	int code = outcome_code(&oi);
	reason[0] = '\0';
	if (e->limit_code != 0 && code == e->limit_code)
		snprintf(reason, len, "%s", e->limit_reason);
	else if (e->store_failed)
		snprintf(reason, len,
		         "results store: %s; the load was stopped, what was committed is kept "
		         "(%llu later batches were dropped)",
		         e->store_error, (unsigned long long)e->unstored);
	else if (code == EXIT_NO_LOAD)
		snprintf(reason, len, "nothing was measured: no request, WebSocket session or iteration%s",
		         e->degraded ? " (agents were lost before any load)" : "");
	else if (code == EXIT_DEGRADED)
		snprintf(reason, len, "degraded: agents left before the end (lost or stopped), or batches are "
		                      "missing: part of the load was not applied or not measured");
	return code;
}

/*
 * Records the run's end. A store that cannot take the summaries may still
 * take the row's status (a full disk leaves room for a page, not for a
 * summary), so that is tried next; when neither can be written the run
 * stays "running" in the store, and the caller is told so.
 */
static int mark_run(eng *e, store_status ss, int code, const char *json, const char *text)
{
	char msg[900];
	store *st = e->cfg.st;
	int64_t now = clock_real_ns() / 1000000;
	if (store_run_end(st, e->run_id, ss, code, e->degraded, now, json, text) == HERD_OK)
		return HERD_OK;
	snprintf(msg, sizeof(msg), "results store: %s", store_errmsg(st));
	emit_text(e, ENG_EV_STORE_ERROR, msg);
	if ((json != NULL || text != NULL) &&
	    store_run_end(st, e->run_id, ss, code, e->degraded, now, NULL, NULL) == HERD_OK) {
		snprintf(msg, sizeof(msg), "run %s is marked '%s' in the store, without its summary", e->run_id,
		         store_status_name(ss));
		emit_text(e, ENG_EV_STORE_ERROR, msg);
		return HERD_OK;
	}
	snprintf(msg, sizeof(msg), "run %s could not be marked '%s' in the store (%s): it stays 'running' there",
	         e->run_id, store_status_name(ss), store_errmsg(st));
	emit_text(e, ENG_EV_STORE_ERROR, msg);
	return HERD_ESTORE;
}

/* The load is over: judge, report, record. */
static void judge(eng *e)
{
	refresh_agents(e);
	detach(e);
	record_agents(e);
	for (size_t i = 0; i < e->nai; i++) {
		if (e->ai[i].state == AGENT_LOST || e->ai[i].stopped ||
		    (e->ai[i].state != AGENT_DONE && e->ai[i].batches == 0))
			e->degraded = 1;
		if (e->ai[i].dropped > 0) {
			e->degraded = 1;
			emit_agent(e, ENG_EV_AGENT_DROPPED, &e->ai[i]);
		}
	}

	/* Rates are per second of load: from the first agent's start to the last one's end. */
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	for (size_t i = 0; i < e->nai; i++) {
		if (e->ai[i].started_ns == 0 || e->ai[i].ended_ns == 0)
			continue;
		int64_t s0 = e->ai[i].started_ns - e->ai[i].clock_offset_ns, s1 = e->ai[i].ended_ns - e->ai[i].clock_offset_ns;
		lo = s0 < lo ? s0 : lo;
		hi = s1 > hi ? s1 : hi;
	}
	if (lo != INT64_MAX && hi > lo)
		store_run_duration(e->cfg.st, e->run_id, (hi - lo) / 1000000);
	/* The search's answer is the run's product: stored before the summary
	 * is made, so that a store that cannot take it makes the run a store
	 * failure (103) that the summary, the caller and the record say. */
	char cap_err[600] = "";
	if (e->cfg.search != NULL && store_add_capacity(e->cfg.st, e->run_id, e->cfg.search) != HERD_OK) {
		snprintf(cap_err, sizeof(cap_err), "results store: the capacity could not be stored: %s",
		         store_errmsg(e->cfg.st));
		emit_text(e, ENG_EV_STORE_ERROR, cap_err);
	}

	/* No batch comes any more, but eng_view may read the results meanwhile. */
	pthread_mutex_lock(&e->mu);
	if (lo != INT64_MAX && hi > lo)
		results_set_duration_ms(e->res, (hi - lo) / 1000000);
	verdict_set *vs = NULL;
	if (e->ab != NULL) /* the last intervals, which the watch may not have judged */
		abort_finish(e->ab, (results_duration_ms(e->res) + INTERVAL_MS - 1) / INTERVAL_MS * INTERVAL_MS);
	int judged = verdict_eval_plan(e->cfg.plan, e->res, &vs) == HERD_OK &&
	             (e->ab == NULL || abort_patch_verdicts(e->ab, vs) == HERD_OK) &&
	             outcome_default_thresholds(e->cfg.plan, e->res, vs) == HERD_OK;
	char reason[700];
	int code = run_outcome(e, vs, reason, sizeof(reason));
	code = search_exit_code(e->cfg.search, code, reason, sizeof(reason));
	/* A store failure outranks every other code, as for batches (run_outcome). */
	if (cap_err[0] != '\0') {
		code = EXIT_SETUP;
		snprintf(reason, sizeof(reason), "%s", cap_err);
	}
	summary_agent *sag = calloc(e->nai + 1, sizeof(*sag));
	for (size_t i = 0; sag != NULL && i < e->nai; i++) {
		const agent_info *a = &e->ai[i];
		sag[i] = (summary_agent){ .id = a->id, .name = a->name, .host = a->host,
			                  .status = agent_status(a), .cores = a->cores,
			                  .cpu_pct = a->cpu_pct, .rss_kb = a->rss_kb,
			                  .batches = a->batches, .dropped = a->dropped };
	}
	summary_info si = {
		.http_driver = e->cfg.http_driver,
		.agents = sag,
		.nagents = sag != NULL ? e->nai : 0,
		.run_id = e->run_id,
		.plan_name = e->cfg.plan->name,
		.plan = e->cfg.plan,
		.status = e->limit_code == EXIT_THRESHOLDS && code == EXIT_THRESHOLDS ? "aborted" : outcome_status(code),
		.reason = reason[0] != '\0' ? reason : NULL,
		.degraded = e->degraded,
		.verdicts = vs,
		.search = e->cfg.search,
	};
	char *text = NULL, *json = NULL;
	int summed = summary_text(e->res, &si, &text) == HERD_OK && summary_json_text(e->res, &si, &json) == HERD_OK;
	pthread_mutex_unlock(&e->mu);
	if (!judged)
		emit_text(e, ENG_EV_JUDGE_FAILED, "");
	if (!summed)
		emit_text(e, ENG_EV_NO_MEMORY, "the summary");
	eng_done d = {
		.run_id = e->run_id,
		.code = code,
		.reason = reason,
		.degraded = e->degraded,
		.interrupted = e->interrupted,
		.judged = 1,
		.verdicts = vs,
		.text = text,
		.json = json,
		.res = e->res,
		.agents = e->ai,
		.nagents = e->nai,
	};
	if (e->cfg.hooks.on_done != NULL)
		code = e->cfg.hooks.on_done(e->cfg.hooks.arg, &d);
	if (vs != NULL)
		store_add_verdicts(e->cfg.st, e->run_id, vs);
	e->code = code;
	outcome_in sin = { .rule_aborted = e->limit_code == EXIT_THRESHOLDS };
	e->stored = mark_run(e, outcome_store_status_of(&sin, code), code, json, text) == HERD_OK;
	/* The run's end is not in the store (mark_run said why through
	 * ENG_EV_STORE_ERROR): a store failure, whatever the run's verdict. */
	if (!e->stored)
		e->code = EXIT_SETUP;
	free(text);
	free(json);
	free(sag);
	verdict_set_free(vs);
	set_state(e, ENG_DONE);
}

void eng_cancel(eng *e, int code)
{
	if (e->state == ENG_DONE)
		return;
	guard_stop(e->gd);
	e->gd = NULL;
	/* Agents already sent their share stop at once. */
	if (e->cl != NULL && e->state >= ENG_ASSIGNED) {
		refresh_agents(e);
		stop_all(e, "abort");
	}
	detach(e);
	/* A run that never got going is recorded as an error (or interrupted),
	 * not left "running". */
	e->code = code;
	if (store_run_end(e->cfg.st, e->run_id, code == EXIT_INTERRUPTED ? STORE_INTERRUPTED : STORE_ERROR, code, 0,
	                  clock_real_ns() / 1000000, NULL, NULL) != HERD_OK)
		log_warn("results store: %s", store_errmsg(e->cfg.st));
	eng_done d = { .run_id = e->run_id, .code = code, .reason = "", .interrupted = code == EXIT_INTERRUPTED,
		       .agents = e->ai, .nagents = e->nai };
	if (e->cfg.hooks.on_done != NULL)
		e->code = e->cfg.hooks.on_done(e->cfg.hooks.arg, &d);
	set_state(e, ENG_DONE);
}

int64_t eng_elapsed_ms(const eng *e, int64_t now)
{
	return e->state >= ENG_ASSIGNED ? (now - e->start_mono) / 1000000 : -1;
}

int eng_set_load(eng *e, const char *scenario, wire_load_kind kind, double total)
{
	if (e->state != ENG_ASSIGNED && e->state != ENG_RUNNING)
		return HERD_EINVAL;
	return cluster_set_load(e->cl, scenario, kind, total);
}

void eng_end_load(eng *e)
{
	if (e->state != ENG_ASSIGNED && e->state != ENG_RUNNING)
		return;
	refresh_agents(e);
	stop_all(e, "search done");
}

void eng_stop(eng *e, int at_once)
{
	if (e->state != ENG_ASSIGNED && e->state != ENG_RUNNING)
		return;
	e->interrupted = 1;
	refresh_agents(e);
	if (!at_once) {
		stop_all(e, "interrupt");
		return;
	}
	stop_all(e, "abort");
	e->stopped_at_once = 1;
	end_watch(e, clock_mono_ns());
}

eng_state eng_step(eng *e, int64_t now, int64_t *wait_ms)
{
	int64_t wait = 50;
	deliver_cluster_events(e);
	switch (e->state) {
	case ENG_JOINING:
		step_joining(e, now);
		wait = 20;
		break;
	case ENG_ASSIGNED:
	case ENG_RUNNING: step_watch(e, now); break;
	case ENG_DRAINING:
		refresh_agents(e);
		if (all_finished(e) || now >= e->linger_deadline)
			judge(e);
		else
			wait = 20;
		break;
	case ENG_NEW:
	case ENG_DONE: break;
	}
	if (wait_ms != NULL)
		*wait_ms = e->state == ENG_DONE ? 0 : wait;
	return e->state;
}

int eng_run(eng *e)
{
	while (e->state != ENG_DONE && e->state != ENG_NEW) {
		int64_t wait;
		eng_step(e, clock_mono_ns(), &wait);
		if (wait > 0)
			clock_sleep_ms((int)wait);
	}
	return e->code;
}

int eng_view(eng *e, int (*fn)(void *arg, const eng_snapshot *s), void *arg)
{
	pthread_mutex_lock(&e->mu);
	eng_snapshot s = { e->run_id, e->cfg.plan, e->state, e->res, e->w };
	int rv = fn(arg, &s);
	pthread_mutex_unlock(&e->mu);
	return rv;
}

void eng_free(eng *e)
{
	if (e == NULL)
		return;
	if (e->state != ENG_DONE)
		eng_cancel(e, EXIT_SETUP);
	while (e->evq != NULL) {
		queued_ev *q = e->evq;
		e->evq = q->next;
		free(q);
	}
	free(e->ai);
	free(e->weights);
	free(e->lost);
	free(e->told);
	abort_free(e->ab);
	win_free(e->w);
	results_free(e->res);
	pthread_mutex_destroy(&e->mu);
	free(e);
}
