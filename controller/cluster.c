/*
 * Listener, registry and command delivery; see cluster.h. Each handler
 * thread loops on its own REP context: receive, decode, act, reply. Decoding
 * failures are counted, logged and answered with ERROR; they never reach the
 * rest of the controller.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "controller/cluster.h"

#define HEARTBEAT_MS 1000
#define MAX_AGENTS_HARD 4096

typedef struct slot {
	agent_info info;
	char *cmd; /* encoded command waiting for the next poll */
	size_t cmd_len;
} slot;

typedef struct handler {
	cluster *c;
	nng_ctx ctx;
	pthread_t thread;
	int started;
} handler;

struct cluster {
	nng_socket sock;
	int open;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	slot *agents;
	size_t nagents, cap;
	handler *handlers;
	int nhandlers;
	int quit;
	uint64_t malformed;
	cluster_metrics_fn on_metrics;
	void *arg;
};

const char *agent_state_name(agent_state s)
{
	static const char *const names[] = { "joined", "assigned", "ready", "done", "failed", "lost" };
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

static slot *find(cluster *c, const char *id)
{
	for (size_t i = 0; i < c->nagents; i++)
		if (strcmp(c->agents[i].info.id, id) == 0)
			return &c->agents[i];
	return NULL;
}

/* Encodes m into a new NNG message. */
static int to_msg(const wire_msg *m, nng_msg **out)
{
	char *buf;
	size_t len;
	int rv;
	if ((rv = wire_encode(m, &buf, &len)) != HERD_OK)
		return rv;
	rv = nng_msg_alloc(out, len);
	if (rv == 0)
		memcpy(nng_msg_body(*out), buf, len);
	free(buf);
	return rv == 0 ? HERD_OK : HERD_ENOMEM;
}

static nng_msg *simple_reply(wire_type t)
{
	wire_msg m = { .type = t };
	nng_msg *msg = NULL;
	to_msg(&m, &msg);
	return msg;
}

static nng_msg *error_reply(int code, const char *text)
{
	wire_msg m = { .type = WIRE_ERROR };
	nng_msg *msg = NULL;
	m.u.error.code = code;
	m.u.error.message = (char *)text;
	to_msg(&m, &msg);
	return msg;
}

static nng_msg *on_hello(cluster *c, const wire_hello *h)
{
	wire_msg w = { .type = WIRE_WELCOME };
	nng_msg *msg = NULL;
	int64_t now = clock_real_ns();

	pthread_mutex_lock(&c->mu);
	slot *s = find(c, h->agent_id);
	if (s == NULL) {
		if (c->nagents == c->cap) {
			pthread_mutex_unlock(&c->mu);
			log_warn("refused agent %s: the controller has room for %zu agents", h->agent_id, c->cap);
			return error_reply(HERD_EINVAL, "controller is full");
		}
		s = &c->agents[c->nagents++];
		memset(s, 0, sizeof(*s));
		s->info.joined_ns = now;
		s->info.state = AGENT_JOINED;
		log_info("agent %s joined (host %s, %u cores, pid %u)", h->agent_id, h->host, h->cores, h->pid);
	} else {
		log_info("agent %s said hello again", h->agent_id);
	}
	snprintf(s->info.id, sizeof(s->info.id), "%s", h->agent_id);
	snprintf(s->info.name, sizeof(s->info.name), "%s", h->name);
	snprintf(s->info.host, sizeof(s->info.host), "%s", h->host);
	snprintf(s->info.version, sizeof(s->info.version), "%s", h->version);
	s->info.cores = h->cores ? h->cores : 1;
	s->info.pid = h->pid;
	/* One-way estimate, good on one host; issue 3 brings round-trip measurement. */
	s->info.clock_offset_ns = h->clock_ns - now;
	s->info.last_seen_mono = clock_mono_ns();
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	w.u.welcome.clock_ns = now;
	w.u.welcome.heartbeat_ms = HEARTBEAT_MS;
	to_msg(&w, &msg);
	return msg;
}

/* Long poll: hand over the queued command, or wait for one up to a heartbeat. */
static nng_msg *on_poll(cluster *c, const wire_poll *p)
{
	nng_msg *msg = NULL;
	struct timespec until;
	int64_t deadline = clock_real_ns() + (int64_t)HEARTBEAT_MS * 1000000;
	until.tv_sec = deadline / 1000000000;
	until.tv_nsec = deadline % 1000000000;

	pthread_mutex_lock(&c->mu);
	slot *s = find(c, p->agent_id);
	if (s == NULL) {
		pthread_mutex_unlock(&c->mu);
		return error_reply(HERD_ENOTFOUND, "unknown agent: say HELLO first");
	}
	s->info.last_seen_mono = clock_mono_ns();
	s->info.cpu_pct = p->cpu_pct;
	s->info.rss_kb = p->rss_kb;
	if (s->info.state == AGENT_LOST) {
		log_info("agent %s is back", s->info.id);
		s->info.state = AGENT_READY;
	}
	while (!c->quit && (s = find(c, p->agent_id)) != NULL && s->cmd == NULL) {
		if (pthread_cond_timedwait(&c->cv, &c->mu, &until) != 0)
			break;
	}
	s = find(c, p->agent_id);
	if (s != NULL && s->cmd != NULL) {
		if (nng_msg_alloc(&msg, s->cmd_len) == 0) {
			memcpy(nng_msg_body(msg), s->cmd, s->cmd_len);
			free(s->cmd);
			s->cmd = NULL;
		}
	}
	if (s != NULL)
		s->info.last_seen_mono = clock_mono_ns();
	pthread_mutex_unlock(&c->mu);
	return msg != NULL ? msg : simple_reply(WIRE_NOP);
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
	case WIRE_READY: s->info.state = AGENT_READY; break;
	case WIRE_DONE:
		s->info.state = AGENT_DONE;
		s->info.last_seq = m->u.done.last_seq;
		s->info.dropped = m->u.done.dropped_batches;
		break;
	case WIRE_ERROR:
		s->info.state = AGENT_FAILED;
		snprintf(s->info.error, sizeof(s->info.error), "%s", m->u.error.message);
		log_error("agent %s: %s", id, m->u.error.message);
		break;
	default: break;
	}
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return simple_reply(WIRE_NOP);
}

static nng_msg *on_metrics(cluster *c, const wire_metrics *m)
{
	pthread_mutex_lock(&c->mu);
	slot *s = find(c, m->agent_id);
	if (s != NULL)
		s->info.last_seen_mono = clock_mono_ns();
	pthread_mutex_unlock(&c->mu);
	if (s == NULL)
		return error_reply(HERD_ENOTFOUND, "unknown agent: say HELLO first");
	int rv = c->on_metrics(c->arg, m->agent_id, m);
	if (rv != HERD_OK)
		return error_reply(rv, herd_strerror(rv));
	pthread_mutex_lock(&c->mu);
	if ((s = find(c, m->agent_id)) != NULL)
		s->info.batches++;
	pthread_mutex_unlock(&c->mu);
	wire_msg ack = { .type = WIRE_ACK };
	nng_msg *msg = NULL;
	ack.u.ack.run_id = m->run_id;
	ack.u.ack.seq = m->seq;
	to_msg(&ack, &msg);
	return msg;
}

static nng_msg *dispatch(cluster *c, nng_msg *in)
{
	wire_msg m;
	char text[160];
	int rv = wire_decode(nng_msg_body(in), nng_msg_len(in), &m);
	nng_msg *out = NULL;

	if (rv == HERD_EVERSION) {
		snprintf(text, sizeof(text), "protocol version %u is not supported: this controller speaks %d",
		         m.version, WIRE_VERSION);
		log_warn("refused a peer: %s", text);
		return error_reply(HERD_EVERSION, text);
	}
	if (rv != HERD_OK) {
		pthread_mutex_lock(&c->mu);
		c->malformed++;
		pthread_mutex_unlock(&c->mu);
		log_warn("dropped a malformed message (%zu bytes): %s", nng_msg_len(in), herd_strerror(rv));
		return error_reply(rv, "malformed message");
	}
	switch (m.type) {
	case WIRE_HELLO: out = on_hello(c, &m.u.hello); break;
	case WIRE_POLL: out = on_poll(c, &m.u.poll); break;
	case WIRE_METRICS: out = on_metrics(c, &m.u.metrics); break;
	case WIRE_READY:
	case WIRE_DONE:
	case WIRE_ERROR: out = on_agent_msg(c, &m); break;
	default: out = error_reply(HERD_EPROTO, "unexpected message type"); break;
	}
	wire_msg_fini(&m);
	return out;
}

static void *handler_main(void *arg)
{
	handler *h = arg;
	cluster *c = h->c;
	nng_aio *aio;
	if (nng_aio_alloc(&aio, NULL, NULL) != 0)
		return NULL;
	for (;;) {
		nng_ctx_recv(h->ctx, aio);
		nng_aio_wait(aio);
		int rv = nng_aio_result(aio);
		if (rv == NNG_ECLOSED)
			break;
		if (rv != 0)
			continue;
		nng_msg *in = nng_aio_get_msg(aio);
		nng_msg *out = dispatch(c, in);
		nng_msg_free(in);
		if (out == NULL)
			continue; /* out of memory: the agent will ask again */
		nng_aio_set_msg(aio, out);
		nng_ctx_send(h->ctx, aio);
		nng_aio_wait(aio);
		if (nng_aio_result(aio) != 0)
			nng_msg_free(nng_aio_get_msg(aio));
	}
	nng_aio_free(aio);
	return NULL;
}

int cluster_open(const char *url, int max_agents, cluster_metrics_fn fn, void *arg, cluster **out)
{
	cluster *c = calloc(1, sizeof(*c));
	int rv;
	if (c == NULL)
		return HERD_ENOMEM;
	if (max_agents < 1)
		max_agents = 1;
	if (max_agents > MAX_AGENTS_HARD)
		max_agents = MAX_AGENTS_HARD;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	c->on_metrics = fn;
	c->arg = arg;
	/* Room for agents that come back under a new id after a restart. */
	c->cap = (size_t)max_agents * 2 + 8;
	c->agents = calloc(c->cap, sizeof(*c->agents));
	/* Each agent holds a poll and a batch in flight at once; spare ones for stragglers. */
	c->nhandlers = max_agents * 2 + 4;
	c->handlers = calloc((size_t)c->nhandlers, sizeof(*c->handlers));
	if (c->agents == NULL || c->handlers == NULL) {
		cluster_close(c);
		return HERD_ENOMEM;
	}
	if ((rv = nng_rep0_open(&c->sock)) != 0) {
		log_error("cannot open socket: %s", nng_strerror(rv));
		cluster_close(c);
		return HERD_ENET;
	}
	c->open = 1;
	nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, WIRE_MAX_MSG);
	if ((rv = nng_listen(c->sock, url, NULL, 0)) != 0) {
		log_error("cannot listen on %s: %s", url, nng_strerror(rv));
		cluster_close(c);
		return HERD_ENET;
	}
	for (int i = 0; i < c->nhandlers; i++) {
		handler *h = &c->handlers[i];
		h->c = c;
		if (nng_ctx_open(&h->ctx, c->sock) != 0 || pthread_create(&h->thread, NULL, handler_main, h) != 0) {
			cluster_close(c);
			return HERD_ENET;
		}
		h->started = 1;
	}
	*out = c;
	return HERD_OK;
}

void cluster_close(cluster *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->quit = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (c->open)
		nng_close(c->sock);
	for (int i = 0; c->handlers != NULL && i < c->nhandlers; i++)
		if (c->handlers[i].started)
			pthread_join(c->handlers[i].thread, NULL);
	for (size_t i = 0; i < c->nagents; i++)
		free(c->agents[i].cmd);
	free(c->agents);
	free(c->handlers);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
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

int cluster_send(cluster *c, const char *id, const wire_msg *m)
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
	free(s->cmd);
	s->cmd = buf;
	s->cmd_len = len;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return HERD_OK;
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
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->nagents; i++) {
		agent_info *a = &c->agents[i].info;
		if (a->state == AGENT_LOST || a->state == AGENT_DONE || a->state == AGENT_FAILED)
			continue;
		if (now - a->last_seen_mono > loss_ms * 1000000) {
			a->state = AGENT_LOST;
			log_warn("agent %s lost: nothing heard for %lld ms", a->id,
			         (long long)((now - a->last_seen_mono) / 1000000));
			n++;
		}
	}
	pthread_mutex_unlock(&c->mu);
	return n;
}

uint64_t cluster_malformed(cluster *c)
{
	pthread_mutex_lock(&c->mu);
	uint64_t n = c->malformed;
	pthread_mutex_unlock(&c->mu);
	return n;
}
