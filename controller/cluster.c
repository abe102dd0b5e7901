/*
 * Listener, registry and command delivery; see cluster.h. No thread per
 * agent: each REP context (two per agent, each agent holds a poll and a
 * batch in flight at once) receives with an asynchronous nng_aio whose
 * callback only queues the request; a few worker threads (WORKERS) decode,
 * act and start the reply's send. A poll with nothing to deliver is parked
 * on its agent's slot (no thread waits on it); the holder thread answers it
 * when a command is queued for that agent, or with NOP at its heartbeat.
 * Agents are found by a hash of their id. Decoding failures are counted,
 * logged and answered with ERROR; they never reach the rest of the controller.
 *
 * Closing first quiets the agents, then closes the socket (cluster_close):
 * NNG 1.5.2 must have no message moving on a connection while it closes it.
 */
#include <math.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/safetext.h"
#include "common/session.h"
#include "common/split.h"
#include "controller/cluster.h"
#include "controller/gate.h"
#include "proto/seal.h"

#define HEARTBEAT_MS 1000
#define MAX_AGENTS_HARD 4096
/* How long closing waits for the agents to go quiet; they normally are
 * within a round trip. */
#define DRAIN_MS 500
/* Scenarios whose load may be set while running. */
#define CLUSTER_MAX_LOADS 16
/* Threads that handle requests: enough that one blocked in a batch merge
 * (the engine's store) does not hold up polls and handshakes. */
#define WORKERS 4

/* Closing: which of an agent's two REQ contexts has a request left with us
 * unanswered (commands and polls come on one, METRICS on the other). */
enum { PARKED_CMD = 1, PARKED_MET = 2 };

typedef struct handler handler;

typedef struct slot {
	agent_info info;
	handler *held;  /* its poll parked here, waiting for a command (NULL: none) */
	uint32_t pipe;  /* the connection the agent authenticated on (0: none yet) */
	uint32_t conn;  /* the connection its latest request came on (0: closed) */
	int parked;     /* closing: PARKED_* of its contexts waiting for a reply */
	char *cmd; /* encoded command waiting for the next poll */
	size_t cmd_len;
	session sess;   /* with a token: the agent's session (key, last numbers) */
	int owned;      /* assigned to a run that has not released it (cluster_assign) */
	int roster;     /* its index in the run's roster (cluster_set_shares); -1: none */
	uint64_t load_acked[CLUSTER_MAX_LOADS]; /* per load: the seq it acknowledged */
} slot;

/* A scenario's load set while running: the cluster-wide total, by seq. */
typedef struct load_cmd {
	char scenario[128];
	wire_load_kind kind;
	double total;
	uint64_t seq;
} load_cmd;

/* A HELLO waiting for its AUTH. */
typedef struct pending {
	wire_hello hello; /* owned copy */
	uint8_t agent_nonce[AUTH_NONCE_LEN];
	uint8_t nonce[AUTH_NONCE_LEN];
	uint32_t pipe;
	int64_t at;       /* CLOCK_MONOTONIC */
} pending;

/* A request that came sealed: its agent's session (a copy, wiped after the
 * reply), to seal the reply with the request's channel and number. */
typedef struct sealed_req {
	int sealed;
	session sess;
	char id[sizeof(((agent_info *)0)->id)];
	uint32_t ch;
	uint64_t seq;
} sealed_req;

/* Handlers waiting for a thread, in arrival order (linked by next). */
typedef struct hqueue {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	handler *head, **tail;
	int stop;
} hqueue;

/* What a context's aio is doing. */
enum { H_IDLE = 0, H_RECV, H_WORK, H_SEND, H_HELD, H_STOPPED };

/* One REP context and its aio. Its request goes through the work queue
 * (next) to a worker; a held poll waits in the held list (hprev, hnext). */
struct handler {
	cluster *c;
	nng_ctx ctx;
	nng_aio *aio;
	int opened;
	int state;         /* H_*: changed by whoever owns the context now */
	nng_msg *in;       /* the request a worker is to handle */
	wire_msg batch;    /* a METRICS waiting for the merging thread */
	uint32_t pipe;     /* the connection it came on */
	handler *next;     /* in a queue: the workers', then maybe the merging thread's */
	/* A held poll (state H_HELD, c->mu): its agent, seal and deadline. */
	slot *held_for;
	sealed_req sr;
	int64_t held_until; /* CLOCK_MONOTONIC; 0: answer it now */
	handler *hprev, *hnext;
};

struct cluster {
	nng_socket sock;
	int open;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	slot *agents;
	size_t nagents, cap;
	uint32_t *index;   /* open addressing by the id's hash: slot number + 1 (0: empty) */
	size_t index_mask; /* its size - 1, a power of two above 2 * cap */
	handler *handlers;
	int nhandlers;
	/* Requests waiting for a worker, and the workers. */
	hqueue work;
	pthread_t workers[WORKERS];
	int nworkers;
	/* Batches waiting for the merging thread, and that thread. */
	hqueue merge;
	int merger_started;
	pthread_t merger;
	/* Held polls in deadline order (c->mu), and the holder thread that
	 * answers them. */
	handler *held_head, *held_tail;
	pthread_cond_t hcv;
	pthread_t holder;
	int holder_started, holder_stop;
	int closing; /* cluster_close has begun: requests are no longer answered */
	uint64_t malformed;
	uint64_t unverified; /* sealed messages refused: bad MAC, replayed, stale session */
	cluster_cfg cfg;
	gate *gate; /* connection budgets; holds the pending handshakes */
	/* Where batches and events go (cluster_set_hooks), and how many calls
	 * of them are in progress outside the lock. */
	cluster_metrics_fn on_metrics;
	cluster_event_fn on_event;
	void *arg;
	int calls;
	/* Loads set while running (cluster_set_load) and who runs them. */
	char run_id[64];
	double *weights; /* roster weights, in roster order */
	size_t nroster;
	load_cmd loads[CLUSTER_MAX_LOADS];
	size_t nloads;
	uint64_t load_seq;
};

static void hq_init(hqueue *q)
{
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->tail = &q->head;
}

static void hq_destroy(hqueue *q)
{
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
}

static void hq_push(hqueue *q, handler *h)
{
	h->next = NULL;
	pthread_mutex_lock(&q->mu);
	*q->tail = h;
	q->tail = &h->next;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* Waits for handlers and takes the first ones, at most max, as a list (its
 * last next is NULL) of *n; NULL once stopped with nothing left. */
static handler *hq_take(hqueue *q, size_t max, size_t *n)
{
	pthread_mutex_lock(&q->mu);
	while (q->head == NULL && !q->stop)
		pthread_cond_wait(&q->cv, &q->mu);
	handler *list = q->head, *last = list;
	*n = list != NULL;
	while (last != NULL && *n < max && last->next != NULL) {
		last = last->next;
		(*n)++;
	}
	if (last != NULL) {
		q->head = last->next;
		if (q->head == NULL)
			q->tail = &q->head;
		last->next = NULL;
	}
	pthread_mutex_unlock(&q->mu);
	return list;
}

/* The threads taking from q end once it is empty. */
static void hq_stop(hqueue *q)
{
	pthread_mutex_lock(&q->mu);
	q->stop = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* Takes the hooks for one call outside the lock (c->mu held); hook_end
 * (c->mu not held) ends it. */
static void hook_begin(cluster *c, cluster_metrics_fn *m, cluster_event_fn *e, void **arg)
{
	*m = c->on_metrics;
	*e = c->on_event;
	*arg = c->arg;
	c->calls++;
}

static void hook_end(cluster *c)
{
	pthread_mutex_lock(&c->mu);
	c->calls--;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void event(cluster *c, const char *kind, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void event(cluster *c, const char *kind, const char *id, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	cluster_metrics_fn m;
	cluster_event_fn fn;
	void *arg;
	pthread_mutex_lock(&c->mu);
	hook_begin(c, &m, &fn, &arg);
	pthread_mutex_unlock(&c->mu);
	if (fn != NULL)
		fn(arg, kind, id, text);
	hook_end(c);
}

/* The gate's events (refusals) go where the cluster's go. */
static void gate_event(void *arg, const char *kind, const char *id, const char *text)
{
	event(arg, kind, id, "%s", text);
}

const char *agent_state_name(agent_state s)
{
	static const char *const names[] = { "joined", "assigned", "ready", "done", "failed", "lost" };
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

/* FNV-1a of an agent id. */
static uint32_t id_hash(const char *id)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)id; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

/* The agent's slot (c->mu held), by the index: a linear scan of the slots
 * with a strcmp each cost several per request at 1,000 agents. */
static slot *find(cluster *c, const char *id)
{
	for (size_t i = id_hash(id) & c->index_mask;; i = (i + 1) & c->index_mask) {
		uint32_t k = c->index[i];
		if (k == 0)
			return NULL;
		if (strcmp(c->agents[k - 1].info.id, id) == 0)
			return &c->agents[k - 1];
	}
}

/* Adds slot number n, whose id is set, to the index (c->mu held). The index
 * has room: it is more than twice the slots. */
static void index_add(cluster *c, size_t n)
{
	size_t i = id_hash(c->agents[n].info.id) & c->index_mask;
	while (c->index[i] != 0)
		i = (i + 1) & c->index_mask;
	c->index[i] = (uint32_t)n + 1;
}

static nng_msg *simple_reply(wire_type t)
{
	wire_msg m = { .type = t };
	nng_msg *msg = NULL;
	net_msg(&m, &msg);
	return msg;
}

static nng_msg *error_reply(int code, const char *text)
{
	wire_msg m = { .type = WIRE_ERROR };
	nng_msg *msg = NULL;
	m.u.error.code = code;
	m.u.error.message = (char *)text;
	net_msg(&m, &msg);
	return msg;
}

/* Registers (or refreshes) an agent that proved itself, in session sess
 * (NULL without a token); replies WELCOME. */
static nng_msg *welcome(cluster *c, const wire_hello *h, uint32_t pipe, const session *sess)
{
	wire_msg w = { .type = WIRE_WELCOME };
	nng_msg *msg = NULL;
	int64_t now = clock_real_ns();
	int rejoined = 0;

	pthread_mutex_lock(&c->mu);
	slot *s = find(c, h->agent_id);
	if (s == NULL) {
		if (c->nagents == c->cap) {
			char why[96];
			snprintf(why, sizeof(why), "the controller is full (room for %zu agents)", c->cap);
			pthread_mutex_unlock(&c->mu);
			gate_refused(c->gate, h->agent_id, why);
			return error_reply(HERD_EINVAL, "controller is full");
		}
		s = &c->agents[c->nagents++];
		memset(s, 0, sizeof(*s));
		s->roster = -1;
		s->info.joined_ns = now;
		s->info.state = AGENT_JOINED;
	} else {
		rejoined = 1;
	}
	/* The id was checked (hello_text_ok); the rest is shown as it is made safe. */
	snprintf(s->info.id, sizeof(s->info.id), "%s", h->agent_id);
	safetext_copy(s->info.name, sizeof(s->info.name), h->name);
	safetext_copy(s->info.host, sizeof(s->info.host), h->host);
	safetext_copy(s->info.version, sizeof(s->info.version), h->version);
	if (!rejoined)
		index_add(c, (size_t)(s - c->agents));
	if (rejoined)
		log_info("agent %s connected again", s->info.id);
	else
		log_info("agent %s joined (host %s, %u cores, pid %u)", s->info.id, s->info.host, h->cores, h->pid);
	s->info.cores = h->cores ? h->cores : 1;
	s->info.pid = h->pid;
	s->pipe = pipe;
	s->conn = pipe;
	/* A new session replaces the old one whole: its key and its numbers. */
	session_clear(&s->sess);
	if (sess != NULL)
		s->sess = *sess;
	/* The offset comes from the agent's round trips (TIME), reported with its
	 * first poll; a one-way guess from HELLO could be off by the handshake. */
	(void)h->clock_ns;
	s->info.last_seen_mono = clock_mono_ns();
	if (s->info.state == AGENT_LOST)
		s->info.state = s->owned ? AGENT_READY : AGENT_JOINED;
	char host[sizeof(s->info.host)];
	memcpy(host, s->info.host, sizeof(host));
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	gate_authed(c->gate, pipe);
	event(c, rejoined ? "agent_rejoined" : "agent_joined", h->agent_id, "host %s, %u cores", host, h->cores);
	w.u.welcome.clock_ns = now;
	w.u.welcome.heartbeat_ms = (uint32_t)c->cfg.heartbeat_ms;
	net_msg(&w, &msg);
	return msg;
}

static void pending_free(void *arg)
{
	pending *p = arg;
	wire_msg m = { .type = WIRE_HELLO };
	m.u.hello = p->hello;
	wire_msg_fini(&m);
	free(p);
}

/* Logging and recording are bounded by the gate (gate_refused). */
static nng_msg *refuse(cluster *c, const char *id, int code, const char *why)
{
	gate_refused(c->gate, id, why);
	return error_reply(code, why);
}

/* A HELLO's agent id is the agent's key from now on, printed and stored as
 * it is: it must be printable UTF-8 that fits. The other fields are only
 * shown, made safe where they are. */
static int hello_text_ok(const char *id)
{
	return id[0] != '\0' && safetext_ok(id, sizeof(((agent_info *)0)->id) - 1);
}

/* With a token: answer HELLO with CHALLENGE and remember it for the AUTH. */
static nng_msg *on_hello(cluster *c, wire_msg *m, uint32_t pipe)
{
	wire_hello *h = &m->u.hello;
	if (c->cfg.token == NULL)
		return welcome(c, h, pipe, NULL);

	pending *p = calloc(1, sizeof(*p));
	uint8_t mac[AUTH_MAC_LEN];
	char nonce_hex[2 * AUTH_NONCE_LEN + 1], proof_hex[2 * AUTH_MAC_LEN + 1];
	if (p == NULL)
		return NULL;
	if (h->nonce[0] == '\0') {
		free(p);
		return refuse(c, h->agent_id, HERD_EAUTH,
		              "authentication required: start the agent with --token-file");
	}
	if (hex_decode(h->nonce, p->agent_nonce, sizeof(p->agent_nonce)) != 0) {
		free(p);
		return refuse(c, h->agent_id, HERD_EAUTH, "malformed nonce");
	}
	if (auth_nonce(p->nonce) != HERD_OK ||
	    auth_proof(c->cfg.token, "controller", p->agent_nonce, p->nonce, h->agent_id, mac) != HERD_OK) {
		free(p);
		return error_reply(HERD_EINTERNAL, "cannot make a challenge");
	}
	p->hello = *h; /* take the strings */
	memset(h, 0, sizeof(*h));
	p->pipe = pipe;
	p->at = clock_mono_ns();
	hex_encode(p->nonce, sizeof(p->nonce), nonce_hex);
	hex_encode(mac, sizeof(mac), proof_hex);

	/* One handshake per connection: a second HELLO replaces the first; the
	 * gate frees it when the connection closes. */
	if (gate_pending_put(c->gate, pipe, p) != 0) {
		pending_free(p);
		return NULL; /* the connection is closing */
	}

	wire_msg ch = { .type = WIRE_CHALLENGE };
	nng_msg *msg = NULL;
	ch.u.challenge.nonce = nonce_hex;
	ch.u.challenge.proof = proof_hex;
	net_msg(&ch, &msg);
	return msg;
}

static nng_msg *on_auth(cluster *c, const wire_auth *a, uint32_t pipe)
{
	uint8_t mac[AUTH_MAC_LEN];
	pending *p = gate_pending_take(c->gate, pipe);
	if (p != NULL && strcmp(p->hello.agent_id, a->agent_id) != 0) {
		pending_free(p);
		p = NULL;
	}
	if (p == NULL)
		return refuse(c, a->agent_id, HERD_EAUTH, "AUTH without a HELLO on this connection");
	int ok = hex_decode(a->proof, mac, sizeof(mac)) == 0 &&
	         auth_verify(c->cfg.token, "agent", p->nonce, p->agent_nonce, a->agent_id, mac, sizeof(mac)) == HERD_OK;
	session sess;
	nng_msg *out;
	if (ok && session_start(&sess, c->cfg.token, p->agent_nonce, p->nonce, a->agent_id) == HERD_OK)
		out = welcome(c, &p->hello, pipe, &sess);
	else if (ok)
		out = error_reply(HERD_EINTERNAL, "cannot start a session");
	else
		out = refuse(c, a->agent_id, HERD_EAUTH, "authentication failed: wrong token");
	session_clear(&sess);
	pending_free(p);
	return out;
}

/* Returns NULL when the message may go on; else the ERROR to answer. With a
 * token, every message must come on the connection the agent authenticated. */
static nng_msg *check_peer(cluster *c, const char *id, uint32_t pipe)
{
	pthread_mutex_lock(&c->mu);
	slot *s = find(c, id);
	int known = s != NULL;
	int ok = known && (c->cfg.token == NULL || s->pipe == pipe);
	if (ok) {
		s->info.last_seen_mono = clock_mono_ns();
		s->conn = pipe; /* without a token an agent may come back on a new one */
	}
	pthread_mutex_unlock(&c->mu);
	if (!known)
		return error_reply(HERD_ENOTFOUND, "unknown agent: say HELLO first");
	if (!ok)
		return error_reply(HERD_EAUTH, "not authenticated on this connection: say HELLO again");
	return NULL;
}

static nng_msg *on_time(cluster *c, const wire_time *t)
{
	wire_msg r = { .type = WIRE_TIME };
	nng_msg *msg = NULL;
	(void)c;
	r.u.time.agent_id = t->agent_id;
	r.u.time.t0 = t->t0;
	r.u.time.t1 = clock_real_ns();
	net_msg(&r, &msg);
	return msg;
}

static void queue_load(cluster *c, slot *s);

/* ---- Held polls (c->mu held) ---- */

static void held_unlink(cluster *c, handler *h)
{
	if (h->hprev != NULL)
		h->hprev->hnext = h->hnext;
	else
		c->held_head = h->hnext;
	if (h->hnext != NULL)
		h->hnext->hprev = h->hprev;
	else
		c->held_tail = h->hprev;
	h->hprev = h->hnext = NULL;
}

/* Every poll is held for the same heartbeat, so appending keeps the list in
 * deadline order. */
static void held_append(cluster *c, handler *h)
{
	h->hnext = NULL;
	h->hprev = c->held_tail;
	if (c->held_tail != NULL)
		c->held_tail->hnext = h;
	else
		c->held_head = h;
	c->held_tail = h;
	if (c->held_head == h)
		pthread_cond_signal(&c->hcv);
}

/* Has the holder answer held poll h now (it goes first). */
static void held_due(cluster *c, handler *h)
{
	held_unlink(c, h);
	h->held_until = 0;
	h->hprev = NULL;
	h->hnext = c->held_head;
	if (c->held_head != NULL)
		c->held_head->hprev = h;
	else
		c->held_tail = h;
	c->held_head = h;
	pthread_cond_signal(&c->hcv);
}

/* A command was queued for s: its held poll, if any, takes it now. Only
 * that poll is woken, not every one. */
static void held_wake(cluster *c, slot *s)
{
	if (s->held != NULL)
		held_due(c, s->held);
}

/* Takes s's queued command as a reply (NULL: none, or out of memory and it
 * stays queued). */
static nng_msg *take_cmd(slot *s)
{
	nng_msg *msg = NULL;
	if (s->cmd == NULL || nng_msg_alloc(&msg, s->cmd_len) != 0)
		return NULL;
	memcpy(nng_msg_body(msg), s->cmd, s->cmd_len);
	free(s->cmd);
	s->cmd = NULL;
	return msg;
}

/* Long poll: hand over the queued command, or park the poll (h) on its
 * agent's slot up to a heartbeat: *held is then set, and h belongs to the
 * holder from the moment c->mu is released. While closing, a poll with
 * nothing to hand over is left unanswered (NULL). */
static nng_msg *on_poll(cluster *c, const wire_poll *p, handler *h, int *held)
{
	*held = 0;
	pthread_mutex_lock(&c->mu);
	slot *s = find(c, p->agent_id);
	if (s == NULL) {
		pthread_mutex_unlock(&c->mu);
		return error_reply(HERD_ENOTFOUND, "unknown agent: say HELLO first");
	}
	s->info.last_seen_mono = clock_mono_ns();
	/* The busiest the agent has been, not its last word: by the end of a
	 * run its load has stopped and the last sample says little. */
	if (p->cpu_pct > s->info.cpu_pct)
		s->info.cpu_pct = p->cpu_pct;
	if (p->rss_kb > s->info.rss_kb)
		s->info.rss_kb = p->rss_kb;
	if (p->clock_rtt_ns > 0) {
		s->info.clock_offset_ns = p->clock_offset_ns;
		s->info.clock_rtt_ns = p->clock_rtt_ns;
	}
	/* A poll after DONE (an agent that stays for the next run) carries no
	 * start: keep the one known, which the run's duration is measured from. */
	if (p->started_ns != 0)
		s->info.started_ns = p->started_ns;
	int back = 0;
	if (s->info.state == AGENT_LOST) {
		log_info("agent %s is back", s->info.id);
		/* Back in its run, or idle when its run let it go meanwhile. */
		s->info.state = s->owned ? AGENT_READY : AGENT_JOINED;
		back = 1;
	}
	/* An older poll of this agent still held: the agent gave up on it (it
	 * asked again), so it is answered NOP and this one takes its place. */
	if (s->held != NULL) {
		handler *old = s->held;
		s->held = NULL;
		held_due(c, old);
	}
	queue_load(c, s); /* a load it has not acknowledged yet */
	nng_msg *msg = take_cmd(s);
	int park = msg == NULL && c->closing;
	if (park) {
		s->parked |= PARKED_CMD;
		pthread_cond_broadcast(&c->cv);
	} else if (msg == NULL) {
		/* No news from the agent while we hold its poll: last_seen stays at its arrival. */
		h->state = H_HELD;
		h->held_for = s;
		h->held_until = clock_mono_ns() + (int64_t)c->cfg.heartbeat_ms * 1000000;
		s->held = h;
		held_append(c, h);
		*held = 1;
	}
	pthread_mutex_unlock(&c->mu);
	if (back)
		event(c, "agent_rejoined", p->agent_id, "heard from again");
	return msg;
}

/* An agent told to stop by a signal says so with ERROR HERD_ECLOSED during
 * its run, then delivers its last batches and DONE: it has not failed. */
static int stops_on_its_own(const slot *s, const wire_error *e)
{
	return e->code == HERD_ECLOSED && (s->info.state == AGENT_ASSIGNED || s->info.state == AGENT_READY);
}

static nng_msg *on_agent_msg(cluster *c, const wire_msg *m)
{
	const char *id = m->type == WIRE_ERROR ? m->u.error.agent_id
	                 : m->type == WIRE_READY ? m->u.ready.agent_id
	                                         : m->u.done.agent_id;
	pthread_mutex_lock(&c->mu);
	slot *s = find(c, id);
	if (s == NULL) {
		pthread_mutex_unlock(&c->mu);
		return error_reply(HERD_ENOTFOUND, "unknown agent: say HELLO first");
	}
	s->info.last_seen_mono = clock_mono_ns();
	switch (m->type) {
	case WIRE_READY:
		if (s->owned)
			s->info.state = AGENT_READY;
		break;
	case WIRE_DONE:
		/* An agent whose run let it go before its DONE is idle now. */
		s->info.state = s->owned ? AGENT_DONE : AGENT_JOINED;
		s->info.last_seq = m->u.done.last_seq;
		s->info.dropped = m->u.done.dropped_batches;
		if (m->u.done.started_ns != 0)
			s->info.started_ns = m->u.done.started_ns;
		s->info.ended_ns = m->u.done.ended_ns;
		break;
	case WIRE_ERROR:
		safetext_copy(s->info.error, sizeof(s->info.error), m->u.error.message);
		if (stops_on_its_own(s, &m->u.error)) {
			s->info.stopped = 1;
			log_warn("agent %s %s", id, s->info.error);
			break;
		}
		/* An ERROR from an agent in no run fails nothing. */
		if (s->owned)
			s->info.state = AGENT_FAILED;
		log_error("agent %s: %s", id, s->info.error);
		break;
	default: break;
	}
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return simple_reply(WIRE_NOP);
}

/* Hands METRICS m (taken) to the merging thread, which answers it on h. */
static void on_metrics(cluster *c, handler *h, wire_msg *m)
{
	h->batch = *m;
	memset(m, 0, sizeof(*m));
	/* The workers never wait for the merging thread: a worker waiting left
	 * polls unanswered, and agents were taken for lost when the merging fell
	 * behind. What waits is bounded by the contexts (one batch in flight
	 * per agent), as when a thread per agent waited for the engine's lock. */
	hq_push(&c->merge, h);
}

static nng_msg *answer(cluster *c, const char *id, int ctx, nng_msg *out);
static nng_msg *seal_reply(sealed_req *sr, nng_msg *out);
static void h_send(handler *h, nng_msg *out);

/* Merges the batches of list (n of them, linked by next) with one call of
 * the hook, then answers each: the ACK goes out only after the hook has
 * stored it. */
static void merge_group(cluster *c, handler *list, size_t n)
{
	cluster_batch b[CLUSTER_MERGE_MAX];
	handler *hs[CLUSTER_MERGE_MAX];
	cluster_metrics_fn fn;
	cluster_event_fn ev;
	void *arg;
	size_t i = 0;
	for (handler *h = list; h != NULL && i < n; h = h->next, i++) {
		hs[i] = h;
		b[i] = (cluster_batch){ .agent_id = h->batch.u.metrics.agent_id, .m = &h->batch.u.metrics,
			                    .rv = HERD_ECLOSED };
	}
	n = i;
	int64_t now = clock_mono_ns();
	pthread_mutex_lock(&c->mu);
	for (i = 0; i < n; i++) {
		slot *s = find(c, b[i].agent_id);
		if (s != NULL)
			s->info.last_seen_mono = now;
	}
	hook_begin(c, &fn, &ev, &arg);
	pthread_mutex_unlock(&c->mu);
	/* No run attached: nobody would keep the batches. */
	if (fn != NULL) {
		for (i = 0; i < n; i++)
			b[i].rv = HERD_OK;
		fn(arg, b, n);
	}
	hook_end(c);
	pthread_mutex_lock(&c->mu);
	for (i = 0; i < n; i++) {
		slot *s = b[i].rv == HERD_OK ? find(c, b[i].agent_id) : NULL;
		if (s != NULL)
			s->info.batches++;
	}
	pthread_mutex_unlock(&c->mu);
	for (i = 0; i < n; i++) {
		handler *h = hs[i];
		const wire_metrics *m = b[i].m;
		nng_msg *out = NULL;
		if (b[i].rv == HERD_OK) {
			wire_msg ack = { .type = WIRE_ACK };
			ack.u.ack.run_id = m->run_id;
			ack.u.ack.seq = m->seq;
			net_msg(&ack, &out);
		} else {
			out = error_reply(b[i].rv, herd_strerror(b[i].rv));
		}
		out = answer(c, m->agent_id, PARKED_MET, out);
		wire_msg_fini(&h->batch);
		out = seal_reply(&h->sr, out);
		session_clear(&h->sr.sess);
		h_send(h, out);
	}
}

static void *merger_main(void *arg)
{
	cluster *c = arg;
	handler *list;
	size_t n;
	/* Everything that came meanwhile, up to the most the hook takes. */
	while ((list = hq_take(&c->merge, CLUSTER_MERGE_MAX, &n)) != NULL)
		merge_group(c, list, n);
	return NULL;
}

static nng_msg *on_load_ack(cluster *c, const wire_load *l);

static const char *sender_id(const wire_msg *m)
{
	switch (m->type) {
	case WIRE_POLL: return m->u.poll.agent_id;
	case WIRE_METRICS: return m->u.metrics.agent_id;
	case WIRE_READY: return m->u.ready.agent_id;
	case WIRE_DONE: return m->u.done.agent_id;
	case WIRE_ERROR: return m->u.error.agent_id;
	case WIRE_TIME: return m->u.time.agent_id;
	case WIRE_LOAD: return m->u.load.agent_id;
	default: return NULL;
	}
}

/* Returns out, the reply to a request from agent id (NULL: unknown) on its
 * context ctx (PARKED_*). While closing the request stays unanswered instead:
 * out is freed, the context counted as parked and NULL returned. */
static nng_msg *answer(cluster *c, const char *id, int ctx, nng_msg *out)
{
	pthread_mutex_lock(&c->mu);
	int closing = c->closing;
	slot *s = closing && id != NULL ? find(c, id) : NULL;
	if (s != NULL) {
		s->parked |= ctx;
		pthread_cond_broadcast(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
	if (!closing)
		return out;
	if (out != NULL)
		nng_msg_free(out);
	return NULL;
}

/*
 * With a token, every message after the handshake must come sealed in the
 * session of the agent it names, on the connection that agent authenticated
 * on, numbered above everything accepted on its channel, and the message
 * inside must name the same agent. Replaces *m by the inner message and fills
 * *sr. Returns NULL when m may go on; else the plain ERROR to answer (whoever
 * sent it does not hold the session, so the agent hears it must say HELLO).
 */
static nng_msg *unseal(cluster *c, wire_msg *m, uint32_t pipe, sealed_req *sr)
{
	wire_msg inner;
	int rv;

	if (m->type != WIRE_SEALED) {
		if (c->cfg.token == NULL || m->type == WIRE_HELLO || m->type == WIRE_AUTH)
			return NULL;
		return error_reply(HERD_EAUTH, "not authenticated: after HELLO every message is sealed");
	}
	if (c->cfg.token == NULL)
		return error_reply(HERD_EPROTO, "this controller has no token: nothing is sealed");
	const wire_sealed *env = &m->u.sealed;
	pthread_mutex_lock(&c->mu);
	slot *s = find(c, env->agent_id);
	int known = s != NULL;
	if (known && s->pipe == pipe && s->sess.keyed)
		sr->sess = s->sess;
	pthread_mutex_unlock(&c->mu);
	if (!known)
		return error_reply(HERD_ENOTFOUND, "unknown agent: say HELLO first");
	rv = seal_open(&sr->sess, SESSION_TO_CONTROLLER, env, &inner);
	if (rv == HERD_OK) {
		const char *id = sender_id(&inner);
		if (id == NULL || strcmp(id, env->agent_id) != 0) {
			wire_msg_fini(&inner);
			rv = HERD_EAUTH;
		}
	}
	if (rv == HERD_OK) {
		/* The number is taken only now, from the session as it is: a request
		 * of an older session, or one seen before, is refused. */
		pthread_mutex_lock(&c->mu);
		s = find(c, env->agent_id);
		rv = s != NULL && s->pipe == pipe && memcmp(s->sess.key, sr->sess.key, SESSION_KEY_LEN) == 0
		         ? session_accept(&s->sess, env->ch, env->seq)
		         : HERD_EAUTH;
		pthread_mutex_unlock(&c->mu);
		if (rv != HERD_OK)
			wire_msg_fini(&inner);
	}
	if (rv != HERD_OK) {
		session_clear(&sr->sess);
		pthread_mutex_lock(&c->mu);
		c->unverified++;
		pthread_mutex_unlock(&c->mu);
		/* Normal after a reconnect or a timed-out request; counted, not shouted. */
		log_debug("dropped a sealed message that does not verify in its agent's session (%s)",
		          herd_strerror(rv));
		return error_reply(HERD_EAUTH, "not verified in this agent's session: say HELLO again");
	}
	sr->sealed = 1;
	sr->ch = env->ch;
	sr->seq = env->seq;
	snprintf(sr->id, sizeof(sr->id), "%s", env->agent_id);
	wire_msg_fini(m);
	*m = inner;
	return NULL;
}

/* Seals the reply out to a sealed request (takes out); others go as they are. */
static nng_msg *seal_reply(sealed_req *sr, nng_msg *out)
{
	nng_msg *msg = NULL;
	char *buf;
	size_t len;

	if (!sr->sealed || out == NULL)
		return out;
	int rv = seal_bytes(&sr->sess, SESSION_TO_AGENT, sr->id, sr->ch, sr->seq, nng_msg_body(out),
	                    nng_msg_len(out), &buf, &len);
	nng_msg_free(out);
	if (rv != HERD_OK)
		return NULL; /* the agent asks again */
	if (nng_msg_alloc(&msg, len) == 0)
		memcpy(nng_msg_body(msg), buf, len);
	free(buf);
	return msg;
}

/* Handles request in, which came on h's context. Returns the reply, sealed
 * when the request was (NULL: none); or sets *held when the request is a
 * poll parked for the holder, or a batch for the merging thread, which then
 * owns h and answers it. */
static nng_msg *dispatch(cluster *c, handler *h, nng_msg *in, int *held)
{
	uint32_t pipe = nng_pipe_id(nng_msg_get_pipe(in));
	wire_msg m;
	char text[160];
	int rv = wire_decode(nng_msg_body(in), nng_msg_len(in), &m);
	nng_msg *out = NULL;

	if (rv == HERD_EVERSION) {
		snprintf(text, sizeof(text), "protocol version %u is not supported: this controller speaks %d",
		         m.version, WIRE_VERSION);
		return answer(c, NULL, 0, refuse(c, "", HERD_EVERSION, text));
	}
	if (rv != HERD_OK) {
		pthread_mutex_lock(&c->mu);
		c->malformed++;
		pthread_mutex_unlock(&c->mu);
		snprintf(text, sizeof(text), "dropped a malformed message (%zu bytes): %s", nng_msg_len(in),
		         herd_strerror(rv));
		gate_refused(c->gate, "", text);
		return answer(c, NULL, 0, error_reply(rv, "malformed message"));
	}
	sealed_req *sr = &h->sr;
	memset(sr, 0, sizeof(*sr));
	if ((out = unseal(c, &m, pipe, sr)) != NULL) {
		wire_msg_fini(&m);
		return answer(c, NULL, 0, out);
	}
	const char *id = sender_id(&m);
	/* Who waits for the answer: also the agent of a HELLO or AUTH (copied,
	 * on_hello takes the HELLO's strings). */
	const char *from = id != NULL ? id : m.type == WIRE_HELLO ? m.u.hello.agent_id
	                                   : m.type == WIRE_AUTH  ? m.u.auth.agent_id
	                                                          : NULL;
	char who[sizeof(((slot *)0)->info.id)];
	snprintf(who, sizeof(who), "%s", from != NULL ? from : "");
	int ctx = m.type == WIRE_METRICS ? PARKED_MET : PARKED_CMD;
	if ((m.type == WIRE_HELLO || m.type == WIRE_AUTH) && !hello_text_ok(from)) {
		out = refuse(c, from, HERD_EINVAL, "the agent id must be printable UTF-8 of 1 to 191 bytes");
		wire_msg_fini(&m);
		return answer(c, NULL, 0, out);
	}
	if (id != NULL && (out = check_peer(c, id, pipe)) != NULL) {
		wire_msg_fini(&m);
		session_clear(&sr->sess);
		return answer(c, NULL, 0, out);
	}
	switch (m.type) {
	case WIRE_HELLO: out = on_hello(c, &m, pipe); break;
	case WIRE_AUTH:
		out = c->cfg.token != NULL ? on_auth(c, &m.u.auth, pipe)
		                           : error_reply(HERD_EPROTO, "this controller has no token");
		break;
	case WIRE_TIME: out = on_time(c, &m.u.time); break;
	case WIRE_LOAD: out = on_load_ack(c, &m.u.load); break;
	case WIRE_POLL: out = on_poll(c, &m.u.poll, h, held); break;
	case WIRE_METRICS:
		on_metrics(c, h, &m);
		*held = 1; /* h is the merging thread's now */
		break;
	case WIRE_READY:
	case WIRE_DONE:
	case WIRE_ERROR: out = on_agent_msg(c, &m); break;
	default: out = error_reply(HERD_EPROTO, "unexpected message type"); break;
	}
	/* A poll answers itself: a command queued before closing still goes out. */
	if (m.type != WIRE_POLL)
		out = answer(c, who[0] != '\0' ? who : NULL, ctx, out);
	wire_msg_fini(&m);
	if (*held)
		return NULL; /* h is the holder's or the merger's now: its seal goes with it */
	out = seal_reply(sr, out);
	session_clear(&sr->sess);
	return out;
}

/* Receives h's next request (its callback queues it for a worker). */
static void h_recv(handler *h)
{
	h->state = H_RECV;
	nng_aio_set_timeout(h->aio, NNG_DURATION_INFINITE);
	nng_ctx_recv(h->ctx, h->aio);
}

/* Sends out (taken) as h's reply, then receives again; NULL: no reply
 * (closing, or out of memory: the agent will ask again). */
static void h_send(handler *h, nng_msg *out)
{
	if (out == NULL) {
		h_recv(h);
		return;
	}
	/* A reply waits for its connection a bounded time: a peer that does not
	 * read would otherwise hold this context for good. */
	h->state = H_SEND;
	nng_aio_set_msg(h->aio, out);
	nng_aio_set_timeout(h->aio, gate_reply_ms(h->c->gate, h->pipe));
	nng_ctx_send(h->ctx, h->aio);
}

/* The aio's callback (an NNG thread): it only hands a request on. */
static void h_done(void *arg)
{
	handler *h = arg;
	cluster *c = h->c;
	int rv = nng_aio_result(h->aio);
	if (h->state == H_SEND && rv != 0)
		nng_msg_free(nng_aio_get_msg(h->aio));
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
		h->state = H_STOPPED;
		return;
	}
	if (h->state == H_SEND || rv != 0) {
		h_recv(h);
		return;
	}
	h->in = nng_aio_get_msg(h->aio);
	h->state = H_WORK;
	hq_push(&c->work, h);
}

static void work(cluster *c, handler *h)
{
	nng_msg *in = h->in;
	int held = 0;
	h->in = NULL;
	h->pipe = nng_pipe_id(nng_msg_get_pipe(in));
	/* A connection past its budget is being closed: drop, no reply. */
	nng_msg *out = gate_admit(c->gate, h->pipe, nng_msg_len(in)) ? dispatch(c, h, in, &held) : NULL;
	nng_msg_free(in);
	if (!held)
		h_send(h, out);
}

static void *worker_main(void *arg)
{
	cluster *c = arg;
	handler *h;
	size_t n;
	while ((h = hq_take(&c->work, 1, &n)) != NULL)
		work(c, h);
	return NULL;
}

/* Answers held polls: at their heartbeat with NOP, or at once when woken
 * (held_due) with their agent's command. While closing, one with nothing
 * to hand over is parked unanswered. */
static void *holder_main(void *arg)
{
	cluster *c = arg;
	pthread_mutex_lock(&c->mu);
	while (!c->holder_stop) {
		handler *h = c->held_head;
		int64_t now = clock_mono_ns();
		if (h == NULL || h->held_until > now) {
			int64_t wait = h == NULL ? (int64_t)c->cfg.heartbeat_ms * 1000000 : h->held_until - now;
			int64_t at = clock_real_ns() + wait;
			struct timespec until = { .tv_sec = at / 1000000000, .tv_nsec = at % 1000000000 };
			pthread_cond_timedwait(&c->hcv, &c->mu, &until);
			continue;
		}
		held_unlink(c, h);
		slot *s = h->held_for;
		int mine = s->held == h; /* else the agent polled again: NOP */
		h->held_for = NULL;
		if (mine)
			s->held = NULL;
		nng_msg *msg = mine ? take_cmd(s) : NULL;
		int drop = msg == NULL && c->closing;
		if (drop && mine) {
			s->parked |= PARKED_CMD;
			pthread_cond_broadcast(&c->cv);
		}
		pthread_mutex_unlock(&c->mu);
		if (!drop && msg == NULL)
			msg = simple_reply(WIRE_NOP);
		msg = drop ? NULL : seal_reply(&h->sr, msg);
		session_clear(&h->sr.sess);
		h_send(h, msg);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* A connection is gone: its agent can send nothing more on it. */
static void on_pipe_removed(void *arg, uint32_t id)
{
	cluster *c = arg;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->nagents; i++)
		if (c->agents[i].conn == id)
			c->agents[i].conn = 0;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

int cluster_open(const cluster_cfg *cfg, cluster **out, char *err, size_t errlen)
{
	cluster *c = calloc(1, sizeof(*c));
	nng_tls_config *tls = NULL;
	nng_listener l;
	int rv, max_agents = cfg->max_agents;
	if (c == NULL)
		return HERD_ENOMEM;
	if (max_agents < 1)
		max_agents = 1;
	if (max_agents > MAX_AGENTS_HARD)
		max_agents = MAX_AGENTS_HARD;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	pthread_cond_init(&c->hcv, NULL);
	hq_init(&c->work);
	hq_init(&c->merge);
	c->cfg = *cfg;
	c->on_metrics = cfg->on_metrics;
	c->on_event = cfg->on_event;
	c->arg = cfg->arg;
	if (c->cfg.heartbeat_ms <= 0)
		c->cfg.heartbeat_ms = HEARTBEAT_MS;
	/* Room for agents that come back under a new id after a restart. */
	c->cap = (size_t)max_agents * 2 + 8;
	c->agents = calloc(c->cap, sizeof(*c->agents));
	size_t isize = 16;
	while (isize < 2 * c->cap + 1)
		isize *= 2;
	c->index = calloc(isize, sizeof(*c->index));
	c->index_mask = isize - 1;
	/* Each agent holds a poll and a batch in flight at once; spare ones for
	 * stragglers. A context is an aio and a few words: no thread. */
	c->nhandlers = max_agents * 2 + 4;
	c->handlers = calloc((size_t)c->nhandlers, sizeof(*c->handlers));
	if (c->agents == NULL || c->index == NULL || c->handlers == NULL) {
		cluster_close(c);
		return HERD_ENOMEM;
	}
	if ((rv = nng_rep0_open(&c->sock)) != 0) {
		snprintf(err, errlen, "cannot open socket: %s", nng_strerror(rv));
		cluster_close(c);
		return HERD_ENET;
	}
	c->open = 1;
	/* One limit for every connection (NNG 1.5 has none per connection), so
	 * it is the largest message an agent sends, not the largest we do. */
	nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, WIRE_MAX_AGENT_MSG);
	gate_cfg gc = {
		.max_authed = c->cap,
		.free_pending = pending_free,
		.on_event = gate_event,
		.on_removed = on_pipe_removed,
		.arg = c,
	};
	if ((rv = gate_open(&gc, c->sock, &c->gate)) != HERD_OK) {
		snprintf(err, errlen, "cannot watch connections: %s", herd_strerror(rv));
		cluster_close(c);
		return rv;
	}
	if (net_url_is_tls(cfg->url) && (rv = net_tls_config(1, &cfg->tls, &tls, err, errlen)) != HERD_OK) {
		cluster_close(c);
		return rv;
	}
	if ((rv = nng_listener_create(&l, c->sock, cfg->url)) != 0 ||
	    (tls != NULL && (rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, tls)) != 0) ||
	    (rv = nng_listener_start(l, 0)) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", cfg->url, nng_strerror(rv));
		if (tls != NULL)
			nng_tls_config_free(tls);
		cluster_close(c);
		return HERD_ENET;
	}
	if (tls != NULL)
		nng_tls_config_free(tls); /* the listener holds its own reference */
	for (int i = 0; i < c->nhandlers; i++) {
		handler *h = &c->handlers[i];
		h->c = c;
		if (nng_aio_alloc(&h->aio, h_done, h) != 0 || nng_ctx_open(&h->ctx, c->sock) != 0) {
			snprintf(err, errlen, "cannot open the listener's contexts");
			cluster_close(c);
			return HERD_ENOMEM;
		}
		h->opened = 1;
	}
	for (; c->nworkers < WORKERS; c->nworkers++)
		if (pthread_create(&c->workers[c->nworkers], NULL, worker_main, c) != 0)
			break;
	if (c->nworkers == WORKERS && pthread_create(&c->merger, NULL, merger_main, c) == 0)
		c->merger_started = 1;
	if (c->merger_started && pthread_create(&c->holder, NULL, holder_main, c) == 0)
		c->holder_started = 1;
	if (!c->holder_started) {
		snprintf(err, errlen, "cannot start the listener's threads");
		cluster_close(c);
		return HERD_ENOMEM;
	}
	for (int i = 0; i < c->nhandlers; i++)
		h_recv(&c->handlers[i]);
	*out = c;
	return HERD_OK;
}

#define CLOSE_WAIT_MS 3000

typedef struct closer {
	nng_socket sock;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	int abandoned;
} closer;

static void *closer_main(void *arg)
{
	closer *k = arg;
	nng_close(k->sock);
	pthread_mutex_lock(&k->mu);
	k->done = 1;
	int abandoned = k->abandoned;
	pthread_cond_signal(&k->cv);
	pthread_mutex_unlock(&k->mu);
	if (abandoned) {
		pthread_mutex_destroy(&k->mu);
		pthread_cond_destroy(&k->cv);
		free(k);
	}
	return NULL;
}

/* Closes sock from a helper thread; returns 1 when that took less than ms. */
static int close_within(nng_socket sock, int ms)
{
	closer *k = calloc(1, sizeof(*k));
	pthread_t t;
	if (k == NULL) {
		nng_close(sock);
		return 1;
	}
	k->sock = sock;
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->cv, NULL);
	if (pthread_create(&t, NULL, closer_main, k) != 0) {
		nng_close(sock);
		pthread_mutex_destroy(&k->mu);
		pthread_cond_destroy(&k->cv);
		free(k);
		return 1;
	}
	pthread_detach(t);
	int64_t deadline = clock_real_ns() + (int64_t)ms * 1000000;
	struct timespec until = { .tv_sec = deadline / 1000000000, .tv_nsec = deadline % 1000000000 };
	pthread_mutex_lock(&k->mu);
	while (!k->done)
		if (pthread_cond_timedwait(&k->cv, &k->mu, &until) != 0)
			break;
	int done = k->done;
	if (!done)
		k->abandoned = 1; /* the helper frees k when nng_close returns */
	pthread_mutex_unlock(&k->mu);
	if (done) {
		pthread_mutex_destroy(&k->mu);
		pthread_cond_destroy(&k->cv);
		free(k);
	}
	return done;
}

/* Closing: every agent still connected (and not lost) has a request waiting
 * with us on each context that can send. So it got our replies (it asked
 * again since) and sends nothing before its own time limit (seconds). An
 * agent with a run in progress may send METRICS on its second context at any
 * time; one that is done cannot. */
static int quiet(const cluster *c)
{
	for (size_t i = 0; i < c->nagents; i++) {
		const slot *s = &c->agents[i];
		int running = s->info.state == AGENT_ASSIGNED || s->info.state == AGENT_READY;
		int want = running ? PARKED_CMD | PARKED_MET : PARKED_CMD;
		if (s->conn != 0 && s->info.state != AGENT_LOST && (s->parked & want) != want)
			return 0;
	}
	return 1;
}

/*
 * NNG 1.5.2 can hang closing a connection on which a message is moving: its
 * transports go on with a transfer (the body of a message after its header,
 * or a reply being written) on an aio that the close has already closed, and
 * that operation never completes. The REP pipe then waits for it forever, so
 * does NNG's reaper thread, and nng_close waits for the pipe. Seen over tcp
 * and ipc (the REP pipe's receive) and tls+tcp (its send); nanomsg/nng#616,
 * fixed for tcp's receive after 1.5.2 by nanomsg/nng#1636.
 *
 * So the agents are quieted first: from now on no request is answered (a
 * command already queued still goes out), so no reply is being written, and
 * an agent waiting for a reply sends nothing more. Polls held at this moment
 * are parked at once and a request in flight lands within a round trip; then
 * the socket closes with nothing moving.
 */
void cluster_close(cluster *c)
{
	if (c == NULL)
		return;
	int64_t deadline = clock_real_ns() + (int64_t)DRAIN_MS * 1000000;
	struct timespec until = { .tv_sec = deadline / 1000000000, .tv_nsec = deadline % 1000000000 };
	pthread_mutex_lock(&c->mu);
	c->closing = 1;
	/* Held polls are answered with their command, or parked, at once. */
	for (handler *h = c->held_head; h != NULL; h = h->hnext)
		h->held_until = 0;
	pthread_cond_signal(&c->hcv);
	pthread_cond_broadcast(&c->cv);
	while (c->open && !quiet(c))
		if (pthread_cond_timedwait(&c->cv, &c->mu, &until) != 0)
			break;
	int drained = !c->open || quiet(c);
	uint64_t unverified = c->unverified;
	pthread_mutex_unlock(&c->mu);
	if (unverified > 0)
		log_info("%llu sealed messages did not verify in their agent's session (stale or forged): refused",
		         (unsigned long long)unverified);
	if (!drained)
		log_debug("closing the listener while agents may still send (not quiet after %d ms)", DRAIN_MS);
	gate_stop(c->gate); /* its last summary, even if the close below hangs */
	if (c->open && !close_within(c->sock, CLOSE_WAIT_MS)) {
		/* The NNG bug above, when an agent still sent (one with a run in
		 * progress, or a peer that never said HELLO). The run is over and its
		 * results are safe; rather than hang, leave the socket and its threads
		 * to the process exit. */
		log_warn("the listener did not close within %d ms; leaving it to the process exit", CLOSE_WAIT_MS);
		return;
	}
	/* The socket is closed: every context's pending operation has ended or
	 * ends with NNG_ECLOSED. Stop the threads, then free the aios (which
	 * waits for their callbacks). */
	pthread_mutex_lock(&c->mu);
	c->holder_stop = 1;
	pthread_cond_signal(&c->hcv);
	pthread_mutex_unlock(&c->mu);
	if (c->holder_started)
		pthread_join(c->holder, NULL);
	hq_stop(&c->work);
	for (int i = 0; i < c->nworkers; i++)
		pthread_join(c->workers[i], NULL);
	hq_stop(&c->merge);
	if (c->merger_started)
		pthread_join(c->merger, NULL);
	for (int i = 0; c->handlers != NULL && i < c->nhandlers; i++) {
		handler *h = &c->handlers[i];
		if (h->aio != NULL)
			nng_aio_free(h->aio);
		if (h->in != NULL)
			nng_msg_free(h->in);
		session_clear(&h->sr.sess);
	}
	for (size_t i = 0; c->agents != NULL && i < c->nagents; i++) {
		free(c->agents[i].cmd);
		session_clear(&c->agents[i].sess);
	}
	gate_close(c->gate);
	free(c->agents);
	free(c->index);
	free(c->handlers);
	free(c->weights);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	pthread_cond_destroy(&c->hcv);
	hq_destroy(&c->work);
	hq_destroy(&c->merge);
	free(c);
}

int cluster_wait_joined(cluster *c, int n, int64_t timeout_ms)
{
	int64_t deadline = clock_real_ns() + timeout_ms * 1000000;
	struct timespec until = { .tv_sec = deadline / 1000000000, .tv_nsec = deadline % 1000000000 };
	pthread_mutex_lock(&c->mu);
	while ((int)c->nagents < n)
		if (pthread_cond_timedwait(&c->cv, &c->mu, &until) != 0)
			break;
	int got = (int)c->nagents;
	pthread_mutex_unlock(&c->mu);
	return got;
}

size_t cluster_agents(cluster *c, agent_info *out, size_t max)
{
	pthread_mutex_lock(&c->mu);
	size_t n = c->nagents < max ? c->nagents : max;
	for (size_t i = 0; i < n; i++)
		out[i] = c->agents[i].info;
	pthread_mutex_unlock(&c->mu);
	return n;
}


void cluster_set_state(cluster *c, const char *id, agent_state st)
{
	pthread_mutex_lock(&c->mu);
	slot *s = find(c, id);
	if (s != NULL)
		s->info.state = st;
	pthread_mutex_unlock(&c->mu);
}

int cluster_check_lost(cluster *c, int64_t loss_ms)
{
	int64_t now = clock_mono_ns();
	int n = 0;
	char (*lost)[sizeof(((agent_info *)0)->id)] = NULL;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->nagents; i++) {
		agent_info *a = &c->agents[i].info;
		if (a->state == AGENT_LOST || a->state == AGENT_DONE || a->state == AGENT_FAILED)
			continue;
		if (now - a->last_seen_mono > loss_ms * 1000000) {
			a->state = AGENT_LOST;
			log_warn("agent %s lost: nothing heard for %lld ms", a->id,
			         (long long)((now - a->last_seen_mono) / 1000000));
			if (lost == NULL)
				lost = calloc(c->nagents, sizeof(*lost));
			if (lost != NULL)
				snprintf(lost[n], sizeof(lost[n]), "%s", a->id);
			n++;
		}
	}
	pthread_mutex_unlock(&c->mu);
	/* The events go out after the lock: their hook may take locks of its own. */
	for (int i = 0; lost != NULL && i < n; i++)
		event(c, "agent_lost", lost[i], "nothing heard within the loss limit");
	free(lost);
	return n;
}

void cluster_set_hooks(cluster *c, cluster_metrics_fn on_metrics, cluster_event_fn on_event, void *arg)
{
	pthread_mutex_lock(&c->mu);
	c->on_metrics = on_metrics;
	c->on_event = on_event;
	c->arg = arg;
	while (c->calls > 0)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
}

/* Zeroes what an agent_info says about one run, keeping who the agent is. */
static void forget_run(agent_info *a)
{
	agent_info keep = *a;
	memset(a, 0, sizeof(*a));
	memcpy(a->id, keep.id, sizeof(a->id));
	memcpy(a->name, keep.name, sizeof(a->name));
	memcpy(a->host, keep.host, sizeof(a->host));
	memcpy(a->version, keep.version, sizeof(a->version));
	a->cores = keep.cores;
	a->pid = keep.pid;
	a->joined_ns = keep.joined_ns;
	a->last_seen_mono = keep.last_seen_mono;
	a->clock_offset_ns = keep.clock_offset_ns;
	a->clock_rtt_ns = keep.clock_rtt_ns;
	a->state = keep.state;
}

/* Queues m for agent id; assign: as its run's ASSIGN (cluster_assign). */
static int queue(cluster *c, const char *id, const wire_msg *m, int assign)
{
	char *buf;
	size_t len;
	int rv = wire_encode(m, &buf, &len);
	if (rv != HERD_OK)
		return rv;
	pthread_mutex_lock(&c->mu);
	slot *s = find(c, id);
	if (s == NULL) {
		pthread_mutex_unlock(&c->mu);
		free(buf);
		return HERD_ENOTFOUND;
	}
	if (assign) {
		forget_run(&s->info);
		s->info.state = AGENT_ASSIGNED;
		s->owned = 1;
	}
	free(s->cmd);
	s->cmd = buf;
	s->cmd_len = len;
	held_wake(c, s);
	pthread_mutex_unlock(&c->mu);
	return HERD_OK;
}

int cluster_send(cluster *c, const char *id, const wire_msg *m)
{
	return queue(c, id, m, 0);
}

int cluster_assign(cluster *c, const char *id, const wire_msg *m)
{
	return queue(c, id, m, 1);
}

void cluster_release(cluster *c, const char *id)
{
	pthread_mutex_lock(&c->mu);
	slot *s = find(c, id);
	if (s != NULL) {
		s->owned = 0;
		if (s->info.state == AGENT_DONE || s->info.state == AGENT_FAILED)
			s->info.state = AGENT_JOINED;
	}
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

int cluster_wait_idle(cluster *c, int n, int64_t timeout_ms)
{
	int64_t deadline = clock_real_ns() + timeout_ms * 1000000;
	struct timespec until = { .tv_sec = deadline / 1000000000, .tv_nsec = deadline % 1000000000 };
	int idle, timed_out = 0;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		idle = 0;
		for (size_t i = 0; i < c->nagents; i++)
			idle += c->agents[i].info.state == AGENT_JOINED;
		if (idle >= n || timed_out)
			break;
		timed_out = pthread_cond_timedwait(&c->cv, &c->mu, &until) != 0;
	}
	pthread_mutex_unlock(&c->mu);
	return idle;
}

uint64_t cluster_malformed(cluster *c)
{
	pthread_mutex_lock(&c->mu);
	uint64_t n = c->malformed;
	pthread_mutex_unlock(&c->mu);
	return n;
}

/* ---- Loads set while running ---- */

/* Agent s's share of load l, by the roster's weights as ASSIGN split it. */
static double load_share(const cluster *c, const slot *s, const load_cmd *l)
{
	if (l->kind == WIRE_LOAD_VUS)
		return (double)split_int_at((int64_t)l->total, c->weights, c->nroster, (size_t)s->roster);
	return split_frac(l->total, c->weights, c->nroster, (size_t)s->roster);
}

/* Queues the oldest load s has not acknowledged, when s runs the roster's
 * run, has accepted its assignment and has no other command waiting (an
 * ASSIGN or a STOP is never replaced). Called with mu held. */
static void queue_load(cluster *c, slot *s)
{
	if (s->roster < 0 || s->cmd != NULL || s->info.state != AGENT_READY || c->closing)
		return;
	for (size_t i = 0; i < c->nloads; i++) {
		const load_cmd *l = &c->loads[i];
		if (s->load_acked[i] >= l->seq)
			continue;
		wire_msg m = { .type = WIRE_LOAD };
		m.u.load = (wire_load){ .agent_id = "", .run_id = c->run_id, .scenario = (char *)l->scenario,
			                    .seq = l->seq, .kind = l->kind, .value = load_share(c, s, l) };
		if (wire_encode(&m, &s->cmd, &s->cmd_len) != HERD_OK)
			s->cmd = NULL; /* out of memory: the next poll tries again */
		held_wake(c, s);
		return;
	}
}

int cluster_set_shares(cluster *c, const char *run_id, const agent_info *ai, const double *weights, size_t n)
{
	double *w = calloc(n + 1, sizeof(*w));
	if (w == NULL)
		return HERD_ENOMEM;
	if (n > 0)
		memcpy(w, weights, n * sizeof(*w));
	pthread_mutex_lock(&c->mu);
	free(c->weights);
	c->weights = w;
	c->nroster = n;
	/* The loads set for the run before are not this run's. */
	if (strcmp(c->run_id, run_id) != 0)
		c->nloads = 0;
	snprintf(c->run_id, sizeof(c->run_id), "%s", run_id);
	for (size_t i = 0; i < c->nagents; i++) {
		slot *s = &c->agents[i];
		s->roster = -1;
		/* A new roster means new shares: everyone gets the loads again. */
		memset(s->load_acked, 0, sizeof(s->load_acked));
		for (size_t k = 0; k < n; k++)
			if (strcmp(ai[k].id, s->info.id) == 0)
				s->roster = (int)k;
		queue_load(c, s);
	}
	pthread_mutex_unlock(&c->mu);
	return HERD_OK;
}

int cluster_set_load(cluster *c, const char *scenario, wire_load_kind kind, double total)
{
	if (!isfinite(total) || total < 0 || (kind != WIRE_LOAD_RATE && kind != WIRE_LOAD_VUS) ||
	    (kind == WIRE_LOAD_VUS && (total != floor(total) || total > 2147483647.0)) || scenario == NULL ||
	    scenario[0] == '\0' || strlen(scenario) >= sizeof(((load_cmd *)0)->scenario))
		return HERD_EINVAL;
	pthread_mutex_lock(&c->mu);
	if (c->nroster == 0) {
		pthread_mutex_unlock(&c->mu);
		return HERD_EINVAL;
	}
	size_t i = 0;
	while (i < c->nloads && strcmp(c->loads[i].scenario, scenario) != 0)
		i++;
	if (i == CLUSTER_MAX_LOADS) {
		pthread_mutex_unlock(&c->mu);
		return HERD_ENOMEM;
	}
	if (i == c->nloads)
		c->nloads++;
	load_cmd *l = &c->loads[i];
	snprintf(l->scenario, sizeof(l->scenario), "%s", scenario);
	l->kind = kind;
	l->total = total;
	l->seq = ++c->load_seq;
	uint64_t seq = l->seq;
	for (size_t k = 0; k < c->nagents; k++)
		queue_load(c, &c->agents[k]);
	pthread_mutex_unlock(&c->mu);
	log_info("scenario %s: load set to %g %s (command %llu)", scenario, total,
	         kind == WIRE_LOAD_VUS ? "VUs" : "per timeUnit", (unsigned long long)seq);
	event(c, "load_set", "", "scenario %s %s %g (command %llu)", scenario, kind == WIRE_LOAD_VUS ? "vus" : "rate",
	      total, (unsigned long long)seq);
	return HERD_OK;
}

/* An agent's answer to LOAD. Applied, or refused for good (wrong run, no such
 * scenario, an executor that cannot take it): that command is settled. Not
 * yet taken by every worker: it goes again with the next poll. */
static nng_msg *on_load_ack(cluster *c, const wire_load *l)
{
	int settled = l->status != HERD_ETIMEDOUT;
	pthread_mutex_lock(&c->mu);
	slot *s = find(c, l->agent_id);
	if (s == NULL) {
		pthread_mutex_unlock(&c->mu);
		return error_reply(HERD_ENOTFOUND, "unknown agent: say HELLO first");
	}
	for (size_t i = 0; i < c->nloads && settled; i++)
		if (strcmp(c->loads[i].scenario, l->scenario) == 0 && l->seq > s->load_acked[i] &&
		    l->seq <= c->loads[i].seq && strcmp(l->run_id, c->run_id) == 0)
			s->load_acked[i] = l->seq;
	if (l->status == HERD_OK && l->seq > s->info.load_seq) {
		s->info.load_seq = l->seq;
		s->info.load_value = l->value;
	}
	pthread_mutex_unlock(&c->mu);
	if (l->status == HERD_OK)
		event(c, "load_applied", l->agent_id, "scenario %s %s %g (command %llu)", l->scenario,
		      l->kind == WIRE_LOAD_VUS ? "vus" : "rate", l->value, (unsigned long long)l->seq);
	else
		log_warn("agent %s did not take scenario %s's load (command %llu): %s", l->agent_id, l->scenario,
		         (unsigned long long)l->seq, herd_strerror(l->status));
	return simple_reply(WIRE_NOP);
}
