/*
 * Agent side of the wire; see link.h. The main thread runs the command loop
 * (HELLO, then POLL in a loop); a second thread sends METRICS batches from
 * the queue the engine fills. Each request is a synchronous NNG aio with a
 * time limit; a request that times out is simply sent again, and the
 * controller merges each (run, agent, seq) once, so repeats are harmless.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agent/engine.h"
#include "agent/link.h"
#include "agent/sysstat.h"
#include "agent/tlsconn.h"
#include "common/auth.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/plan.h"
#include "common/ratecap.h"
#include "common/session.h"
#include "net/net.h"
#include "net/tlscheck.h"
#include "proto/wire.h"

#define POLL_TIMEOUT_MS 3000  /* the controller holds a poll for at most 1 s */
/* Beyond the controller's hold and a round trip, what a poll may take. */
#define POLL_MARGIN_MS 250
#define SEND_TIMEOUT_MS 2000
#define TIME_ROUNDS 8
/* The clock rounds after WELCOME stop once another would end past this: the
 * controller counts the agent from WELCOME on and may already have sent it a
 * start instant, which it reads only after the rounds (8 round trips of a
 * slow link made it start seconds late). */
#define TIME_BUDGET_MS 1000
/* After a stop signal: requests in flight get STOP_DRAIN_MS to complete
 * (then they are abandoned), and the last batches and DONE have until
 * STOP_LEAVE_MS to reach the controller; then the agent leaves anyway. */
#define STOP_DRAIN_MS 5000
#define STOP_LEAVE_MS 10000
/* After a STOP "abort: <why>" (an abort rule, the health guard): no request
 * is sent any more, and those in flight get ABORT_DRAIN_MS to complete and
 * be counted (they reached the target: dropping them would make herd count
 * fewer requests than the target served); then they are abandoned. */
#define ABORT_DRAIN_MS 1000

/* A METRICS batch of one run. The queue owns it; the sender takes the oldest
 * out to send it and then owns it until it gives it back (not acknowledged:
 * sent again) or frees it. A batch names its run by generation, so a run
 * that ended while its batch was in flight is recognised by the sender,
 * which then frees the batch and changes nothing of the run after it. */
typedef struct qbatch {
	wire_metrics *m;
	uint64_t gen;        /* agent.gen of its run */
	char run_id[64];
	struct qbatch *next;
} qbatch;

typedef struct agent {
	const link_cfg *cfg;
	nng_socket sock;
	nng_ctx cmd_ctx, met_ctx;
	char id[192];
	char name[128];
	char host[128];

	/* Shared by the command loop (main thread), the engine's workers
	 * (on_batch) and the sender; everything here is under mu. The run fields
	 * are those of the current run (gen), reset when it ends. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t gen;        /* the current run's generation; a new one per run */
	qbatch *head, *tail; /* the current run's unacknowledged batches, oldest first */
	size_t queued;       /* batches in the queue, not counting one in flight */
	int sending;         /* the sender holds a batch of the current run */
	uint64_t dropped;
	uint64_t next_seq;
	uint64_t last_acked;
	int final_queued;    /* the engine delivered its last batch */
	int orphaned;        /* the controller disowned the current run */
	int sender_quit;

	/* The current run, main thread only (the workers read run_id only while
	 * the engine that calls them lives, and it is set before it starts). */
	char run_id[64];
	plan *plan;
	double *weights;
	engine *eng;
	int done_sent;
	int64_t drain_until;  /* an abort's drain ends (monotonic ns; 0: none) */
	int forgotten;       /* the controller forgot this agent during the current run */
	_Atomic int64_t last_heard_ns; /* any reply from the controller, either context */
	int lost;

	sysstat_cpu_meter cpu; /* CPU use reported in each POLL */
	int64_t clock_offset_ns; /* our clock minus the controller's */
	int64_t clock_rtt_ns;
	int64_t hold_ms;         /* how long the controller may hold a poll (WELCOME's heartbeat) */

	/* With a token: the session with the controller, made at WELCOME and
	 * ended when a reply fails to verify in it. Guarded by mu (both threads
	 * send in it); the rest is the command loop's. */
	session sess;
	uint32_t sess_pipe;    /* the connection it was made on */
	uint64_t sess_epoch;   /* one more for each session */
	uint64_t unverified;   /* replies dropped: not sealed in the session */
	int unverified_logged; /* the drop that ended the session was logged */
	int ever_welcomed;     /* a session existed: later failures do not end the agent */
	int quiet;             /* failures to authenticate again were logged once */

	/* tls+tcp://: the files and the name the controller's certificate must have. */
	net_tls_files tls;
	char tls_name[256];
	int cert_known;          /* herd's own check of the certificate came to a verdict */
	int64_t cert_checked_ns; /* when it last looked (CLOCK_MONOTONIC) */
} agent;

/* An error of the handshake: logged the first time, then (while the
 * controller keeps failing to authenticate) at debug level only. */
static void hs_error(agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void hs_error(agent *a, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_msg(a->quiet ? LOG_DEBUG : LOG_ERROR, "%s", text);
}

/* A reply that did not verify in the session of epoch: counted, and when
 * that session is still the current one it ends (the command loop then
 * authenticates again) and the drop is logged, once for the whole outage. */
static void drop_unverified(agent *a, uint64_t epoch, const wire_msg *reply)
{
	pthread_mutex_lock(&a->mu);
	a->unverified++;
	int current = a->sess.keyed && a->sess_epoch == epoch;
	if (current)
		session_clear(&a->sess);
	int say = current && !a->unverified_logged;
	if (say)
		a->unverified_logged = 1;
	pthread_mutex_unlock(&a->mu);
	if (say)
		log_warn("dropped a reply from the controller that is not sealed in this session (%s%s): "
		         "not obeyed; authenticating again",
		         reply->type == WIRE_SEALED || reply->type == 0 ? "" : "a plain ",
		         reply->type == 0 ? "a sealed reply of another request, session or connection"
		                          : wire_type_name(reply->type));
}

/*
 * One request on channel ch (SESSION_CH_CMD: the command context, only the
 * main thread; SESSION_CH_MET: the metrics context, only the sender). With a
 * token, everything but HELLO and AUTH goes sealed in the session, and only
 * a reply that verifies in it counts: see drop_unverified. Returns HERD_EAUTH
 * for any other reply (*reply may then hold it, never to be obeyed), and at
 * once when there is no session. Malformed replies are logged and dropped.
 */
static int request(agent *a, uint32_t ch, const wire_msg *m, wire_msg *reply, int ms)
{
	nng_ctx ctx = ch == SESSION_CH_MET ? a->met_ctx : a->cmd_ctx;
	int rv;

	if (a->cfg->token == NULL) {
		rv = net_request(ctx, m, reply, ms);
	} else {
		session s;
		pthread_mutex_lock(&a->mu);
		if (!a->sess.keyed) {
			pthread_mutex_unlock(&a->mu);
			memset(reply, 0, sizeof(*reply));
			return HERD_EAUTH;
		}
		uint64_t seq = ++a->sess.seq[ch];
		uint64_t epoch = a->sess_epoch;
		uint32_t pipe = a->sess_pipe;
		s = a->sess;
		pthread_mutex_unlock(&a->mu);
		rv = net_sealed_request(ctx, &s, a->id, ch, seq, pipe, m, reply, ms);
		session_clear(&s);
		if (rv == HERD_EAUTH)
			drop_unverified(a, epoch, reply);
	}
	if (rv == HERD_EPROTO)
		log_warn("dropped a malformed reply from the controller");
	return rv;
}

/* ---- metric queue ---- */

static void free_batch(wire_metrics *m)
{
	wire_msg w = { .type = WIRE_METRICS };
	w.u.metrics = *m;
	wire_msg_fini(&w);
	free(m);
}

static void free_qbatch(qbatch *q)
{
	free_batch(q->m);
	free(q);
}

static void on_batch(void *arg, wire_metrics *m, int last)
{
	agent *a = arg;
	qbatch *q = calloc(1, sizeof(*q));
	pthread_mutex_lock(&a->mu);
	if (q == NULL) {
		a->dropped++;
		free_batch(m);
	} else {
		m->seq = ++a->next_seq;
		q->m = m;
		q->gen = a->gen;
		snprintf(q->run_id, sizeof(q->run_id), "%s", a->run_id);
		if (a->tail != NULL)
			a->tail->next = q;
		else
			a->head = q;
		a->tail = q;
		a->queued++;
		if (a->queued > a->cfg->max_queued) {
			/* Bounded memory: the oldest batch goes, and we say so in DONE.
			 * (One in flight is the sender's, never dropped here.) */
			qbatch *old = a->head;
			a->head = old->next;
			a->queued--;
			a->dropped++;
			free_qbatch(old);
		}
	}
	if (last)
		a->final_queued = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

/* The sender takes the oldest batch out of the queue; the caller holds mu
 * and the queue is not empty. */
static qbatch *take_batch(agent *a)
{
	qbatch *q = a->head;
	a->head = q->next;
	if (a->head == NULL)
		a->tail = NULL;
	a->queued--;
	q->next = NULL;
	a->sending = 1;
	return q;
}

/* The sender gives a batch back that was not acknowledged: it stays the
 * oldest and is sent again. The caller holds mu; q is of the current run. */
static void return_batch(agent *a, qbatch *q)
{
	q->next = a->head;
	a->head = q;
	if (a->tail == NULL)
		a->tail = q;
	a->queued++;
}

/* The outcome of sending q (the caller holds mu). Only a batch of the
 * current run may change the run's state: the reply about a batch of a run
 * that ended meanwhile (a controller that never knew that run refuses it)
 * says nothing about the run now under way. Returns 1 when the batch should
 * be sent again. */
static int settle_batch(agent *a, qbatch *q, int acked, int orphan)
{
	if (q->gen != a->gen) {
		free_qbatch(q); /* its run ended: end_run already cleared sending */
		return 0;
	}
	a->sending = 0;
	if (acked || orphan) {
		if (orphan) {
			if (!a->orphaned)
				log_warn("the controller does not know run %s: dropping its batches", q->run_id);
			a->orphaned = 1;
			a->dropped++;
		}
		a->last_acked = q->m->seq;
		free_qbatch(q);
	} else {
		return_batch(a, q);
		return 1;
	}
	pthread_cond_broadcast(&a->cv);
	return 0;
}

static void *sender_main(void *arg)
{
	agent *a = arg;
	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (!a->sender_quit && a->head == NULL)
			pthread_cond_wait(&a->cv, &a->mu);
		if (a->sender_quit)
			break;
		qbatch *q = take_batch(a);
		pthread_mutex_unlock(&a->mu);
		/* q is ours now: nothing else frees it or changes it while we send. */
		wire_msg m = { .type = WIRE_METRICS };
		m.u.metrics = *q->m;
		m.u.metrics.agent_id = a->id;
		m.u.metrics.run_id = q->run_id;
		wire_msg reply = { 0 };
		int rv = request(a, SESSION_CH_MET, &m, &reply, SEND_TIMEOUT_MS);
		int acked = rv == HERD_OK && reply.type == WIRE_ACK && reply.u.ack.seq == q->m->seq;
		/* A controller that does not run this run (it was restarted) will never
		 * take these batches: drop them, counted, rather than block the agent. */
		int orphan = rv == HERD_OK && reply.type == WIRE_ERROR && reply.u.error.code == HERD_ECLOSED;
		if (rv == HERD_OK && reply.type == WIRE_ERROR && !orphan)
			log_warn("controller refused batch %llu of run %s: %s", (unsigned long long)q->m->seq,
			         q->run_id, reply.u.error.message);
		wire_msg_fini(&reply);
		if (rv == HERD_OK)
			atomic_store(&a->last_heard_ns, clock_mono_ns());
		pthread_mutex_lock(&a->mu);
		if (settle_batch(a, q, acked, orphan)) {
			pthread_mutex_unlock(&a->mu);
			clock_sleep_ms(100);
			pthread_mutex_lock(&a->mu);
		}
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* ---- runs ---- */

/* Ends the current run: stops and frees its engine, then drops its queued
 * batches and starts a new generation, so a batch of it still in the
 * sender's hands is freed by the sender and changes nothing after. */
static void end_run(agent *a)
{
	if (a->eng != NULL) {
		engine_stop(a->eng, 3);
		engine_free(a->eng);
		a->eng = NULL;
	}
	a->drain_until = 0;
	plan_free(a->plan);
	a->plan = NULL;
	free(a->weights);
	a->weights = NULL;
	pthread_mutex_lock(&a->mu);
	while (a->head != NULL) {
		qbatch *q = a->head;
		a->head = q->next;
		free_qbatch(q);
	}
	a->tail = NULL;
	a->queued = 0;
	a->sending = 0;
	a->gen++;
	a->final_queued = 0;
	a->orphaned = 0;
	a->next_seq = 0;
	a->last_acked = 0;
	a->dropped = 0;
	pthread_mutex_unlock(&a->mu);
	a->forgotten = 0;
	a->run_id[0] = '\0';
	a->done_sent = 0;
}

static int send_error(agent *a, const char *run_id, int code, const char *text)
{
	wire_msg m = { .type = WIRE_ERROR }, reply = { 0 };
	m.u.error.agent_id = a->id;
	m.u.error.run_id = (char *)run_id;
	m.u.error.code = code;
	m.u.error.message = (char *)text;
	int rv = request(a, SESSION_CH_CMD, &m, &reply, POLL_TIMEOUT_MS);
	wire_msg_fini(&reply);
	return rv;
}

/* A plan's files and environment values, as the controller shipped them. */
static int shipped_file(void *arg, const char *name, char **data, size_t *len, char *why, size_t whylen)
{
	const wire_assign *as = arg;
	for (uint32_t i = 0; i < as->files.n; i++) {
		const wire_blob *b = &as->files.v[i];
		if (strcmp(b->name, name) != 0)
			continue;
		if ((*data = malloc(b->len + 1)) == NULL) {
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		if (b->len > 0)
			memcpy(*data, b->data, b->len);
		(*data)[b->len] = '\0';
		*len = b->len;
		return 0;
	}
	snprintf(why, whylen, "the controller did not send it");
	return -1;
}

static const char *shipped_env(void *arg, const char *name)
{
	const wire_assign *as = arg;
	for (uint32_t i = 0; i < as->env.n; i++)
		if (strcmp(as->env.v[i].name, name) == 0)
			return as->env.v[i].data;
	return NULL;
}

/* The CA certificates the plan's TLS connections need must be usable on
 * this host before any load: its `tls.ca`, or the system store when it has
 * wss:// steps (libcurl loads its own for https://). Returns HERD_OK, or an
 * error with the reason in err. */
static int check_tls(const plan *p, char *err, size_t errlen)
{
	int wss = 0;
	for (size_t i = 0; i < p->nscenarios; i++)
		for (size_t j = 0; j < p->scenarios[i].nsteps; j++)
			wss |= p->scenarios[i].steps[j].kind == STEP_WS &&
			       strncasecmp(p->scenarios[i].steps[j].url, "wss://", 6) == 0;
	if (p->tls.insecure_skip_verify || (!wss && p->tls.ca == NULL))
		return HERD_OK;
	tlsconn_cfg *cfg = NULL;
	int rv = tlsconn_cfg_new(&p->tls, &cfg, err, errlen);
	tlsconn_cfg_free(cfg);
	return rv;
}

int link_poll_wait_ms(int64_t hold_ms, int64_t rtt_ns, int64_t left_ms, int lost, int short_failed,
                      int64_t *need_ms)
{
	/* Each part cut to LINK_HOLD_MAX_MS: the sum fits an int whatever came. */
	int64_t hold = hold_ms < 0 ? 0 : hold_ms < LINK_HOLD_MAX_MS ? hold_ms : LINK_HOLD_MAX_MS;
	int64_t rtt = rtt_ns <= 0 ? 0 : rtt_ns / 1000000 < LINK_HOLD_MAX_MS ? rtt_ns / 1000000 : LINK_HOLD_MAX_MS;
	int64_t need = hold + rtt + POLL_MARGIN_MS;
	int64_t wait = need > POLL_TIMEOUT_MS ? need : POLL_TIMEOUT_MS;
	if (!lost && left_ms < wait)
		wait = short_failed && left_ms < need ? need : left_ms < 100 ? 100 : left_ms;
	*need_ms = need;
	return (int)wait;
}

static void on_assign(agent *a, const wire_assign *as)
{
	char err[1024];
	int rv;

	if (a->run_id[0] != '\0' && a->forgotten) {
		/* The controller that started our run was restarted and forgot us:
		 * nobody will take that run's batches. Make room for the new one. */
		pthread_mutex_lock(&a->mu);
		size_t n = a->queued;
		pthread_mutex_unlock(&a->mu);
		log_warn("run %s: abandoned for run %s (its controller is gone; %zu batches dropped)", a->run_id,
		         as->run_id, n);
		end_run(a);
	}
	if (a->run_id[0] != '\0') {
		send_error(a, as->run_id, HERD_EINVAL, "agent is busy with another run");
		return;
	}
	plan_io io = { shipped_file, shipped_env, (void *)as };
	if ((rv = plan_parse_io(as->plan_text, strlen(as->plan_text), as->plan_file, &io, &a->plan, err,
	                        sizeof(err))) != HERD_OK) {
		log_error("assignment refused: %s", err);
		send_error(a, as->run_id, rv, err);
		return;
	}
	/* A schedule's caps tighter than the plan's (herd serve): this agent's
	 * share of closed-model requests is cut from the lower maxRate. */
	ratecap_tighten(a->plan, as->max_rate, as->max_vus);
	ratecap_clamp_vus(a->plan);
	int family = a->cfg->src != NULL ? a->cfg->src->family : AF_UNSPEC;
	if ((!a->cfg->allow_late && allow_check_plan(a->cfg->allow, a->plan, err, sizeof(err)) != HERD_OK) ||
	    allow_check_family(a->plan, family, err, sizeof(err)) != HERD_OK) {
		log_error("assignment refused: %s", err);
		plan_free(a->plan);
		a->plan = NULL;
		send_error(a, as->run_id, HERD_EINVAL, err);
		return;
	}
	if ((rv = check_tls(a->plan, err, sizeof(err))) != HERD_OK) {
		log_error("assignment refused: %s", err);
		plan_free(a->plan);
		a->plan = NULL;
		send_error(a, as->run_id, rv, err);
		return;
	}
	if (as->nweights == 0 || as->agent_index >= as->nweights) {
		plan_free(a->plan);
		a->plan = NULL;
		send_error(a, as->run_id, HERD_EPROTO, "assignment has no share for this agent");
		return;
	}
	a->weights = malloc(as->nweights * sizeof(double));
	if (a->weights == NULL) {
		plan_free(a->plan);
		a->plan = NULL;
		send_error(a, as->run_id, HERD_ENOMEM, "out of memory");
		return;
	}
	memcpy(a->weights, as->weights, as->nweights * sizeof(double));
	snprintf(a->run_id, sizeof(a->run_id), "%s", as->run_id);
	/* The start time is in our real-time clock; run on the monotonic one. */
	int64_t start_mono = clock_mono_ns() + (as->start_ns - clock_real_ns());
	engine_cfg ec = {
		.plan = a->plan,
		.weights = a->weights,
		.nagents = as->nweights,
		.agent = as->agent_index,
		.nworkers = a->cfg->workers,
		.start_mono_ns = start_mono,
		.interval_ms = as->interval_ms ? as->interval_ms : 1000,
		.batch = on_batch,
		.batch_arg = a,
		.http_driver = a->cfg->http_driver,
		.src = a->cfg->src,
		.allow = a->cfg->allow,
	};
	allow_log_rearm(); /* the first refused request of this run is logged */
	if ((rv = engine_start(&ec, &a->eng)) != HERD_OK) {
		snprintf(err, sizeof(err), "cannot start the load engine: %s", herd_strerror(rv));
		log_error("%s", err);
		send_error(a, as->run_id, rv, err);
		end_run(a);
		return;
	}
	log_info("run %s: assigned share %u of %u, %d workers, starts in %lld ms", a->run_id,
	         as->agent_index + 1, as->nweights, engine_workers(a->eng),
	         (long long)((start_mono - clock_mono_ns()) / 1000000));
	wire_msg m = { .type = WIRE_READY }, reply = { 0 };
	m.u.ready.agent_id = a->id;
	m.u.ready.run_id = a->run_id;
	request(a, SESSION_CH_CMD, &m, &reply, POLL_TIMEOUT_MS);
	wire_msg_fini(&reply);
}

/*
 * LOAD: runs the scenario's new load and acknowledges it once every worker
 * runs it (a pass of their loops, 10 ms; at most LOAD_APPLY_MS), with the
 * load now applied, or with why it was not. A LOAD for a run this agent does
 * not run is acknowledged as not found, so the controller stops sending it.
 */
#define LOAD_APPLY_MS 500

static void on_load(agent *a, const wire_load *l)
{
	wire_msg ack = { .type = WIRE_LOAD }, reply = { 0 };
	ack.u.load = *l;
	ack.u.load.agent_id = a->id;
	ack.u.load.status = HERD_OK;
	size_t s = 0;
	if (a->eng == NULL || strcmp(l->run_id, a->run_id) != 0) {
		ack.u.load.status = HERD_ENOTFOUND;
	} else {
		while (s < a->plan->nscenarios && strcmp(a->plan->scenarios[s].name, l->scenario) != 0)
			s++;
		ack.u.load.status = s < a->plan->nscenarios
		                        ? engine_set_load(a->eng, s, (int)l->kind,
		                                          l->kind == WIRE_LOAD_VUS ? ratecap_vus_load(a->plan, l->value)
		                                                                   : l->value,
		                                          l->seq)
		                        : HERD_ENOTFOUND;
	}
	if (ack.u.load.status == HERD_OK) {
		int64_t until = clock_mono_ns() + (int64_t)LOAD_APPLY_MS * 1000000;
		while (!engine_load_applied(a->eng, s, l->seq) && clock_mono_ns() < until)
			clock_sleep_ms(2);
		if (!engine_load_applied(a->eng, s, l->seq))
			ack.u.load.status = HERD_ETIMEDOUT;
		log_info("run %s: scenario %s load %g %s (command %llu)%s", a->run_id, l->scenario, l->value,
		         l->kind == WIRE_LOAD_VUS ? "VUs" : "per timeUnit", (unsigned long long)l->seq,
		         ack.u.load.status == HERD_OK ? "" : ": not yet taken by every worker");
	} else {
		log_warn("run %s: cannot set scenario %s's load: %s", l->run_id, l->scenario,
		         herd_strerror(ack.u.load.status));
	}
	request(a, SESSION_CH_CMD, &ack, &reply, POLL_TIMEOUT_MS);
	wire_msg_fini(&reply);
}

/* Sends DONE once the engine is over and every batch is acknowledged.
 * Returns 1 when DONE was acknowledged. */
static int try_done(agent *a)
{
	pthread_mutex_lock(&a->mu);
	int ready = a->final_queued && a->head == NULL && !a->sending;
	uint64_t last = a->next_seq, dropped = a->dropped;
	pthread_mutex_unlock(&a->mu);
	if (!ready)
		return 0;
	wire_msg m = { .type = WIRE_DONE }, reply = { 0 };
	m.u.done.agent_id = a->id;
	m.u.done.run_id = a->run_id;
	m.u.done.last_seq = last;
	m.u.done.dropped_batches = dropped;
	m.u.done.started_ns = engine_started_ns(a->eng);
	m.u.done.ended_ns = engine_ended_ns(a->eng);
	int rv = request(a, SESSION_CH_CMD, &m, &reply, POLL_TIMEOUT_MS);
	int ok = rv == HERD_OK && reply.type != WIRE_ERROR;
	wire_msg_fini(&reply);
	if (ok)
		log_info("run %s: done, %llu batches delivered", a->run_id, (unsigned long long)last);
	return ok;
}

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGINT: return "SIGINT";
	case SIGTERM: return "SIGTERM";
	case SIGHUP: return "SIGHUP";
	default: return "a signal";
	}
}

/* What the stop signals received so far mean now (see link.h). *since is
 * when the graceful stop began (0: not begun). Returns 1 to leave at once. */
static int on_quit(agent *a, int welcomed, int64_t *since)
{
	const char *sig = signal_name(a->cfg->quit_signal != NULL ? *a->cfg->quit_signal : 0);
	int64_t now = clock_mono_ns();
	if (*since == 0) {
		/* Nothing to hand over, or nobody to hand it to (the controller
		 * is silent: its agents stopped their load by themselves). */
		if (a->eng == NULL || a->done_sent || !welcomed || a->lost || *a->cfg->quit > 1)
			return 1;
		*since = now;
		log_warn("run %s: %s: stopping the load; its last batches go to the controller", a->run_id, sig);
		engine_stop(a->eng, 2);
		/* Said before the last batches and DONE, so that the controller
		 * reports an agent that stopped, not one it lost. */
		char text[64];
		snprintf(text, sizeof(text), "stopped: %s", sig);
		send_error(a, a->run_id, HERD_ECLOSED, text);
		return 0;
	}
	if (*a->cfg->quit > 1) {
		log_warn("run %s: %s again: leaving at once", a->run_id, sig);
		return 1;
	}
	if (now - *since > (int64_t)STOP_LEAVE_MS * 1000000) {
		log_warn("run %s: the controller did not take the last batches within %d ms of the signal: leaving",
		         a->run_id, STOP_LEAVE_MS);
		return 1;
	}
	if (now - *since > (int64_t)STOP_DRAIN_MS * 1000000)
		engine_stop(a->eng, 3);
	return 0;
}

static void fill_poll(agent *a, wire_msg *m)
{
	m->type = WIRE_POLL;
	m->u.poll.agent_id = a->id;
	m->u.poll.run_id = a->run_id;
	m->u.poll.cpu_pct = sysstat_cpu_pct(&a->cpu, sysstat_cpu_us(), clock_mono_ns());
	m->u.poll.rss_kb = sysstat_rss_kb();
	m->u.poll.clock_offset_ns = a->clock_offset_ns;
	m->u.poll.clock_rtt_ns = a->clock_rtt_ns;
	m->u.poll.started_ns = a->eng != NULL ? engine_started_ns(a->eng) : 0;
}

/* Answers the controller's CHALLENGE: checks its proof of the token, then
 * proves ours. Returns the reply to AUTH in *reply, the connection it came
 * on in *pipe, and the session the handshake made in *sess (to be used only
 * when that reply is WELCOME). */
static int authenticate(agent *a, const uint8_t *my_nonce, const wire_challenge *ch, wire_msg *reply,
                        uint32_t *pipe, session *sess)
{
	uint8_t their_nonce[AUTH_NONCE_LEN], mac[AUTH_MAC_LEN];
	char proof[2 * AUTH_MAC_LEN + 1];
	if (a->cfg->token == NULL) {
		log_error("the controller requires a token: start this agent with --token-file");
		return HERD_EAUTH;
	}
	if (hex_decode(ch->nonce, their_nonce, sizeof(their_nonce)) != 0 ||
	    hex_decode(ch->proof, mac, sizeof(mac)) != 0)
		return HERD_EPROTO;
	int trusted = auth_verify(a->cfg->token, "controller", my_nonce, their_nonce, a->id, mac, sizeof(mac)) == HERD_OK;
	/* Our proof goes out either way, so that a mismatch is logged on both sides;
	 * it reveals nothing of the token, and a controller we do not trust gets no more. */
	if (auth_proof(a->cfg->token, "agent", their_nonce, my_nonce, a->id, mac) != HERD_OK)
		return HERD_EAUTH;
	hex_encode(mac, sizeof(mac), proof);
	wire_msg m = { .type = WIRE_AUTH };
	m.u.auth.agent_id = a->id;
	m.u.auth.proof = proof;
	int rv = net_request_on(a->cmd_ctx, &m, reply, POLL_TIMEOUT_MS, pipe);
	if (!trusted) {
		hs_error(a, "authentication failed: the controller does not hold this agent's token");
		wire_msg_fini(reply);
		return HERD_EAUTH;
	}
	if (rv == HERD_OK && session_start(sess, a->cfg->token, my_nonce, their_nonce, a->id) != HERD_OK)
		rv = HERD_EINTERNAL;
	return rv;
}

/* Measures our clock against the controller's, NTP-style: the round trip
 * with the smallest delay gives the best offset estimate. */
static void sync_clock(agent *a)
{
	int64_t best_rtt = INT64_MAX, best_off = 0;
	int64_t begin = clock_mono_ns();
	for (int i = 0; i < TIME_ROUNDS; i++) {
		if (i > 0 && best_rtt != INT64_MAX &&
		    clock_mono_ns() - begin + best_rtt > (int64_t)TIME_BUDGET_MS * 1000000)
			break;
		wire_msg m = { .type = WIRE_TIME }, reply = { 0 };
		m.u.time.agent_id = a->id;
		m.u.time.t0 = clock_real_ns();
		int rv = request(a, SESSION_CH_CMD, &m, &reply, POLL_TIMEOUT_MS);
		int64_t t2 = clock_real_ns();
		if (rv == HERD_OK && reply.type == WIRE_TIME && reply.u.time.t0 == m.u.time.t0) {
			int64_t rtt = t2 - m.u.time.t0;
			if (rtt < best_rtt) {
				best_rtt = rtt;
				best_off = (m.u.time.t0 + t2) / 2 - reply.u.time.t1;
			}
		}
		wire_msg_fini(&reply);
	}
	if (best_rtt != INT64_MAX) {
		a->clock_offset_ns = best_off;
		a->clock_rtt_ns = best_rtt;
		log_info("clock offset to the controller %+.3f ms (round trip %.3f ms)", (double)best_off / 1e6,
		         (double)best_rtt / 1e6);
	}
}

/* Stops all load once nothing that verifies has come from the controller
 * for the loss limit. */
static void check_lost(agent *a, int64_t now)
{
	if (a->lost || now - atomic_load(&a->last_heard_ns) < a->cfg->lost_controller_ms * 1000000)
		return;
	a->lost = 1;
	if (a->eng != NULL) {
		log_warn("no word from the controller for %lld ms: stopping all load",
		         (long long)a->cfg->lost_controller_ms);
		engine_stop(a->eng, 2);
	}
}

static int hello(agent *a)
{
	uint8_t nonce[AUTH_NONCE_LEN];
	char nonce_hex[2 * AUTH_NONCE_LEN + 1] = "";
	wire_msg m = { .type = WIRE_HELLO }, reply = { 0 };
	session sess = { 0 };
	uint32_t pipe = 0;

	/* Whatever comes until the next WELCOME is not obeyed. */
	pthread_mutex_lock(&a->mu);
	session_clear(&a->sess);
	pthread_mutex_unlock(&a->mu);

	if (a->cfg->token != NULL) {
		if (auth_nonce(nonce) != HERD_OK)
			return HERD_EINTERNAL;
		hex_encode(nonce, sizeof(nonce), nonce_hex);
	}
	m.u.hello.agent_id = a->id;
	m.u.hello.name = a->name;
	m.u.hello.host = a->host;
	m.u.hello.version = HERD_VERSION;
	m.u.hello.caps = "http";
	m.u.hello.nonce = nonce_hex;
	m.u.hello.cores = (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
	if (a->cfg->workers > 0)
		m.u.hello.cores = (uint32_t)a->cfg->workers;
	m.u.hello.pid = (uint32_t)getpid();
	m.u.hello.clock_ns = clock_real_ns();
	int rv = net_request(a->cmd_ctx, &m, &reply, POLL_TIMEOUT_MS);
	if (rv == HERD_OK && reply.type == WIRE_CHALLENGE) {
		wire_msg ch = reply;
		memset(&reply, 0, sizeof(reply));
		rv = authenticate(a, nonce, &ch.u.challenge, &reply, &pipe, &sess);
		wire_msg_fini(&ch);
	} else if (rv == HERD_OK && reply.type == WIRE_WELCOME && a->cfg->token != NULL) {
		/* A controller without our token could be anyone: give it nothing. */
		hs_error(a, "refused the controller: it did not prove it holds the token (is it started with --token-file?)");
		rv = HERD_EAUTH;
	}
	if (rv == HERD_OK && reply.type == WIRE_ERROR) {
		hs_error(a, "controller refused this agent: %s", reply.u.error.message);
		rv = reply.u.error.code == HERD_EVERSION ? HERD_EVERSION
		     : reply.u.error.code == HERD_EAUTH  ? HERD_EAUTH
		                                         : HERD_EINVAL;
	} else if (rv == HERD_OK && reply.type != WIRE_WELCOME) {
		rv = HERD_EPROTO;
	} else if (rv == HERD_OK) {
		a->hold_ms = reply.u.welcome.heartbeat_ms < LINK_HOLD_MAX_MS ? reply.u.welcome.heartbeat_ms
		                                                             : LINK_HOLD_MAX_MS;
	} else if (rv == HERD_EVERSION) {
		hs_error(a, "controller speaks protocol %u, this agent speaks %d", reply.version, WIRE_VERSION);
	}
	wire_msg_fini(&reply);
	if (rv == HERD_OK && a->cfg->token != NULL) {
		/* From here on only what verifies in this session is obeyed. */
		pthread_mutex_lock(&a->mu);
		a->sess = sess;
		a->sess_pipe = pipe;
		a->sess_epoch++;
		a->unverified_logged = 0;
		pthread_mutex_unlock(&a->mu);
	}
	session_clear(&sess);
	if (rv == HERD_OK)
		sync_clock(a);
	return rv;
}

/* herd's own look at the controller's certificate (net/tlscheck.h), which
 * can say what NNG cannot: why it is refused. Returns HERD_EAUTH, logged,
 * when it is; otherwise what tlscheck_controller returned. */
static int check_cert(const agent *a)
{
	char err[1024];
	int rv = tlscheck_controller(a->cfg->url, &a->tls, a->tls.server_name, 2000, err, sizeof(err));
	if (rv == HERD_EAUTH)
		log_error("%s", err);
	else if (rv != HERD_OK)
		log_debug("TLS check of %s: %s", a->cfg->url, err);
	return rv;
}

/* While the controller is silent or unproven over tls+tcp://, looks at its
 * certificate with check_cert, at most once a second and until that has a
 * verdict: NNG refuses a wrong certificate on every connection but says
 * nothing. Returns HERD_EAUTH when the certificate is refused (logged). */
static int look_at_cert(agent *a)
{
	int64_t now = clock_mono_ns();
	if (!net_url_is_tls(a->cfg->url) || a->cert_known || now - a->cert_checked_ns < 1000000000LL)
		return HERD_OK;
	a->cert_checked_ns = now;
	int rv = check_cert(a);
	a->cert_known = rv == HERD_OK || rv == HERD_EAUTH;
	return rv;
}

int link_run(const link_cfg *cfg)
{
	agent a;
	pthread_t sender;
	int rv;

	memset(&a, 0, sizeof(a));
	a.cfg = cfg;
	pthread_mutex_init(&a.mu, NULL);
	pthread_cond_init(&a.cv, NULL);
	gethostname(a.host, sizeof(a.host) - 1);
	snprintf(a.name, sizeof(a.name), "%s", cfg->name ? cfg->name : a.host);
	snprintf(a.id, sizeof(a.id), "%s-%d-%04x", a.name, (int)getpid(),
	         (unsigned)(clock_real_ns() / 1000 & 0xffff));

	if ((rv = nng_req0_open(&a.sock)) != 0) {
		log_error("cannot open socket: %s", nng_strerror(rv));
		return HERD_ENET;
	}
	nng_socket_set_ms(a.sock, NNG_OPT_RECONNMINT, 100);
	nng_socket_set_ms(a.sock, NNG_OPT_RECONNMAXT, 1000);
	nng_socket_set_size(a.sock, NNG_OPT_RECVMAXSZ, WIRE_MAX_MSG);
	nng_dialer dialer;
	nng_tls_config *tls = NULL;
	char err[512];
	if (net_url_is_tls(cfg->url)) {
		char port[16];
		a.tls = cfg->tls;
		/* The controller's certificate must name the host we dial, unless
		 * --tls-server-name says which name it has. */
		if (a.tls.server_name == NULL) {
			if (net_url_split(cfg->url, a.tls_name, sizeof(a.tls_name), port, sizeof(port)) != 0) {
				log_error("%s: expected tls+tcp://HOST:PORT", cfg->url);
				nng_close(a.sock);
				return HERD_EINVAL;
			}
			a.tls.server_name = a.tls_name;
		}
		if (net_tls_config(0, &a.tls, &tls, err, sizeof(err)) != HERD_OK) {
			log_error("%s", err);
			nng_close(a.sock);
			return HERD_EINVAL;
		}
	}
	if ((rv = nng_ctx_open(&a.cmd_ctx, a.sock)) != 0 || (rv = nng_ctx_open(&a.met_ctx, a.sock)) != 0 ||
	    (rv = nng_dialer_create(&dialer, a.sock, cfg->url)) != 0 ||
	    (tls != NULL && (rv = nng_dialer_set_ptr(dialer, NNG_OPT_TLS_CONFIG, tls)) != 0) ||
	    (rv = nng_dialer_start(dialer, NNG_FLAG_NONBLOCK)) != 0) {
		log_error("cannot dial %s: %s", cfg->url, nng_strerror(rv));
		if (tls != NULL)
			nng_tls_config_free(tls);
		nng_close(a.sock);
		return HERD_ENET;
	}
	if (tls != NULL)
		nng_tls_config_free(tls); /* the dialer holds its own reference */
	/* Our own time limits decide when to send again, not REQ's resend timer. */
	nng_ctx_set_ms(a.cmd_ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_ctx_set_ms(a.met_ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if (pthread_create(&sender, NULL, sender_main, &a) != 0) {
		nng_close(a.sock);
		return HERD_EINTERNAL;
	}

	int welcomed = 0, waiting_logged = 0;
	int short_poll_failed = 0; /* the last poll, cut short by the loss limit, ran out */
	if (cfg->token == NULL && strncmp(cfg->url, "ipc://", 6) != 0)
		log_warn("no --token-file: whoever listens on %s can command this agent", cfg->url);
	int64_t stop_since = 0; /* a stop signal came during a run: when */
	rv = HERD_OK;
	a.last_heard_ns = clock_mono_ns();
	for (;;) {
		if (*cfg->quit > 0 && on_quit(&a, welcomed, &stop_since))
			break;
		wire_msg reply = { 0 };
		if (!welcomed) {
			/* A refused certificate ends an agent that never had a controller. */
			if (look_at_cert(&a) == HERD_EAUTH && !a.ever_welcomed) {
				rv = HERD_EAUTH;
				break;
			}
			rv = hello(&a);
			if (rv == HERD_OK) {
				welcomed = 1;
				waiting_logged = 0;
				a.last_heard_ns = clock_mono_ns();
				a.ever_welcomed = 1;
				a.cert_known = 0; /* look again should this session end */
				if (a.quiet)
					log_info("the controller proved the token again");
				a.quiet = 0;
				log_info("connected to %s as %s", cfg->url, a.id);
				continue;
			}
			if ((rv == HERD_EVERSION || rv == HERD_EINVAL || rv == HERD_EAUTH) && !a.ever_welcomed)
				break;
			if (rv != HERD_ETIMEDOUT && rv != HERD_ECLOSED && a.ever_welcomed && !a.quiet) {
				/* Someone else may be on the controller's address, or it came
				 * back misconfigured: obey nothing, keep asking it to prove the
				 * token (the real one may come back), and say so once. */
				log_warn("cannot authenticate the controller at %s again: nothing it says is obeyed; "
				         "trying again every second", cfg->url);
				a.quiet = 1;
			}
			check_lost(&a, clock_mono_ns());
			if (rv != HERD_ETIMEDOUT && rv != HERD_ECLOSED)
				clock_sleep_ms(a.ever_welcomed ? 1000 : 100);
			rv = HERD_OK;
			/* A one-run agent whose controller never answers has nothing to wait for. */
			if (cfg->once && clock_mono_ns() - a.last_heard_ns > (cfg->lost_controller_ms + 10000) * 1000000) {
				log_error("no controller at %s: giving up", cfg->url);
				rv = HERD_ETIMEDOUT;
				break;
			}
			if (!waiting_logged && !a.quiet && clock_mono_ns() - a.last_heard_ns > 5000000000LL) {
				/* NNG redials quietly; say once why nothing is happening. */
				log_warn("no answer from %s yet (controller not started, wrong address, firewall,%s)", cfg->url,
				         net_url_is_tls(cfg->url) ? " or a TLS certificate the other side refuses" : " or no route");
				waiting_logged = 1;
			}
			continue; /* not there yet: NNG keeps redialing */
		}
		pthread_mutex_lock(&a.mu);
		int orphaned = a.orphaned;
		pthread_mutex_unlock(&a.mu);
		if (a.eng != NULL && orphaned) {
			log_warn("run %s: abandoned (its controller is gone)", a.run_id);
			end_run(&a);
			if (cfg->once || stop_since != 0)
				break;
			continue;
		}
		if (a.eng != NULL && !a.done_sent && engine_finished(a.eng) && try_done(&a)) {
			a.done_sent = 1;
			end_run(&a);
			if (cfg->once || stop_since != 0)
				break;
			continue;
		}
		if (a.eng != NULL && a.drain_until != 0 && clock_mono_ns() >= a.drain_until)
			engine_stop(a.eng, 3); /* the abort's drain ran out */
		wire_msg m = { 0 };
		fill_poll(&a, &m);
		/* Wait no longer than the loss limit allows, so a silent controller
		 * is noticed on time even while a poll hangs. But a poll cut shorter
		 * than the controller's hold plus a round trip that ran out although
		 * the controller is not lost (batch acknowledgements came) means a
		 * slow link: the next one gets that long. Else every poll was given
		 * up on over a 1.6 s round trip, and the command the controller
		 * answered an abandoned poll with (the STOP of an abort) was lost. */
		int64_t left_ms = (atomic_load(&a.last_heard_ns) + cfg->lost_controller_ms * 1000000 - clock_mono_ns()) / 1000000;
		int64_t need_ms;
		int wait_ms = link_poll_wait_ms(a.hold_ms, a.clock_rtt_ns, left_ms, a.lost, short_poll_failed, &need_ms);
		int prv = request(&a, SESSION_CH_CMD, &m, &reply, wait_ms);
		int64_t now = clock_mono_ns();
		short_poll_failed = prv == HERD_ETIMEDOUT && wait_ms < need_ms;
		if (prv == HERD_OK) {
			if (a.lost)
				log_info("controller is back");
			a.cert_known = 0; /* look again should it fall silent */
			a.lost = 0;
			a.last_heard_ns = now;
			switch (reply.type) {
			case WIRE_ASSIGN: on_assign(&a, &reply.u.assign); break;
			case WIRE_LOAD: on_load(&a, &reply.u.load); break;
			case WIRE_STOP:
				if (a.eng != NULL && strcmp(reply.u.stop.run_id, a.run_id) == 0) {
					log_info("run %s: stop (%s)", a.run_id, reply.u.stop.reason);
					/* "abort: <why>" (an abort rule, the health guard) sends
					 * nothing more at once and counts what is in flight for
					 * ABORT_DRAIN_MS; a bare "abort" drops everything now;
					 * anything else stops gracefully. */
					if (strncmp(reply.u.stop.reason, "abort: ", 7) == 0) {
						engine_stop(a.eng, 2);
						if (a.drain_until == 0)
							a.drain_until = now + (int64_t)ABORT_DRAIN_MS * 1000000;
					} else {
						engine_stop(a.eng, strncmp(reply.u.stop.reason, "abort", 5) == 0 ? 3 : 1);
					}
				}
				break;
			case WIRE_ERROR:
				log_warn("controller: %s", reply.u.error.message);
				if (reply.u.error.code == HERD_ENOTFOUND || reply.u.error.code == HERD_EAUTH)
					welcomed = 0; /* a new connection or a restarted controller: hello again */
				if (reply.u.error.code == HERD_ENOTFOUND && a.eng != NULL)
					a.forgotten = 1;
				break;
			default: break;
			}
		} else {
			if (prv == HERD_EAUTH) {
				/* Not obeyed (see request); say HELLO again. A plain "unknown
				 * agent" is what a restarted controller says: the hint lets a
				 * verified ASSIGN from it replace the run it forgot. */
				welcomed = 0;
				if (reply.type == WIRE_ERROR && reply.u.error.code == HERD_ENOTFOUND && a.eng != NULL)
					a.forgotten = 1;
			}
			check_lost(&a, now);
			if (a.lost)
				look_at_cert(&a);
		}
		wire_msg_fini(&reply);
		if (prv != HERD_OK && cfg->once && now - a.last_heard_ns > (cfg->lost_controller_ms + 10000) * 1000000) {
			log_error("controller gone for good: exiting");
			rv = HERD_ECLOSED;
			break;
		}
		if (prv != HERD_OK)
			clock_sleep_ms(100);
	}

	if (a.eng != NULL)
		engine_stop(a.eng, 3);
	pthread_mutex_lock(&a.mu);
	a.sender_quit = 1;
	pthread_cond_broadcast(&a.cv);
	pthread_mutex_unlock(&a.mu);
	/* Closing the socket ends a request the sender may be waiting on. */
	nng_close(a.sock);
	pthread_join(sender, NULL);
	if (a.unverified > 0)
		log_info("%llu replies from the controller were dropped: not sealed in the session",
		         (unsigned long long)a.unverified);
	session_clear(&a.sess);
	end_run(&a);
	pthread_mutex_destroy(&a.mu);
	pthread_cond_destroy(&a.cv);
	return rv;
}
