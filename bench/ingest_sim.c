/*
 * Controller ingest simulator (bench/ingest.sh): N simulated agents that
 * speak herd's real protocol to a real controller, each over its own NNG REQ
 * socket (one connection, as a herd-agent has):
 *
 *   ingest_sim URL TOKEN_FILE NAGENTS SERIES BATCHES [COUNT]
 *
 * Each agent says HELLO, proves the token (AUTH), and from then on sends
 * every request sealed in its session, as agent/link.c does: POLLs (held by
 * the controller up to a heartbeat) on the command context until an ASSIGN
 * comes, READY, then BATCHES METRICS batches on the metrics context, one per
 * interval from the ASSIGN's start time, each of SERIES http_req_duration
 * series (steps "s00", "s01", ...) with COUNT requests (default 10) and a
 * histogram, sent again until ACKed; then DONE once every batch is ACKed.
 * Polls go on all along, as a real agent's do.
 *
 * Two threads per agent (commands, metrics) with synchronous requests keep
 * the code that of the agent's; threads are cheap here, and what is
 * measured is the controller. At most HS_AT_ONCE handshakes are under way at
 * once: the controller keeps at most GATE_MAX_UNAUTH unauthenticated
 * connections.
 *
 * Prints "joined N" once every agent is welcomed, and at the end one line
 * "sent agents=N batches=B acked=A resent=R entries=E requests=Q polls=P
 * errors=X" where requests is the sum of the counts of the ACKed batches:
 * what the store must hold. Exits 0 when every batch was ACKed.
 */
#include <inttypes.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/hex.h"
#include "common/hist.h"
#include "common/session.h"
#include "net/net.h"
#include "proto/wire.h"

#define HS_AT_ONCE 8
#define REQ_MS 3000
#define STACK_BYTES (256u << 10)

typedef struct sim {
	const char *url;
	auth_token token;
	int nagents, series, batches;
	uint64_t count;
	sem_t hs; /* handshakes under way */
	atomic_int joined, finished;
	atomic_uint_fast64_t acked, resent, entries, requests, polls, errors;
} sim;

typedef struct sagent {
	sim *s;
	int idx;
	char id[64];
	nng_socket sock;
	nng_ctx cmd, met;
	session sess;   /* the command thread's copy: seq[CMD] is its own */
	session msess;  /* the metrics thread's copy: seq[MET] is its own */
	uint32_t pipe;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int assigned;   /* an ASSIGN came: run_id, start_ns, interval_ms set */
	int met_done;   /* every batch ACKed */
	char run_id[64];
	int64_t start_ns;
	uint32_t interval_ms;
	pthread_t tcmd, tmet;
} sagent;

/* HELLO, CHALLENGE, AUTH, WELCOME: the session of agent/link.c's hello(). */
static int handshake(sagent *a)
{
	uint8_t nonce[AUTH_NONCE_LEN], theirs[AUTH_NONCE_LEN], mac[AUTH_MAC_LEN];
	char nonce_hex[2 * AUTH_NONCE_LEN + 1], proof[2 * AUTH_MAC_LEN + 1];
	wire_msg m = { .type = WIRE_HELLO }, reply = { 0 };
	int rv;

	if (auth_nonce(nonce) != HERD_OK)
		return HERD_EINTERNAL;
	hex_encode(nonce, sizeof(nonce), nonce_hex);
	m.u.hello.agent_id = a->id;
	m.u.hello.name = a->id;
	m.u.hello.host = "ingest-sim";
	m.u.hello.version = HERD_VERSION;
	m.u.hello.caps = "http";
	m.u.hello.nonce = nonce_hex;
	m.u.hello.cores = 1;
	m.u.hello.pid = (uint32_t)getpid();
	m.u.hello.clock_ns = clock_real_ns();
	if ((rv = net_request(a->cmd, &m, &reply, REQ_MS)) != HERD_OK)
		return rv;
	if (reply.type != WIRE_CHALLENGE || hex_decode(reply.u.challenge.nonce, theirs, sizeof(theirs)) != 0 ||
	    hex_decode(reply.u.challenge.proof, mac, sizeof(mac)) != 0 ||
	    auth_verify(&a->s->token, "controller", nonce, theirs, a->id, mac, sizeof(mac)) != HERD_OK) {
		wire_msg_fini(&reply);
		return HERD_EAUTH;
	}
	wire_msg_fini(&reply);
	if (auth_proof(&a->s->token, "agent", theirs, nonce, a->id, mac) != HERD_OK)
		return HERD_EINTERNAL;
	hex_encode(mac, sizeof(mac), proof);
	m = (wire_msg){ .type = WIRE_AUTH };
	m.u.auth.agent_id = a->id;
	m.u.auth.proof = proof;
	if ((rv = net_request_on(a->cmd, &m, &reply, REQ_MS, &a->pipe)) != HERD_OK)
		return rv;
	rv = reply.type == WIRE_WELCOME ? HERD_OK : HERD_EAUTH;
	wire_msg_fini(&reply);
	if (rv == HERD_OK && (rv = session_start(&a->sess, &a->s->token, nonce, theirs, a->id)) == HERD_OK)
		a->msess = a->sess;
	return rv;
}

/* One sealed request on channel ch with the thread's own session copy. */
static int sealed(sagent *a, session *s, uint32_t ch, const wire_msg *m, wire_msg *reply)
{
	uint64_t seq = ++s->seq[ch];
	return net_sealed_request(ch == SESSION_CH_MET ? a->met : a->cmd, s, a->id, ch, seq, a->pipe, m, reply,
	                          REQ_MS);
}

/* Step names "s00" to "s99", written once in main. */
static char g_names[100][8];

static void fill_entries(sim *s, wire_entry *e, hist **h)
{
	for (int i = 0; i < s->series; i++) {
		memset(&e[i], 0, sizeof(e[i]));
		e[i].metric = "http_req_duration";
		e[i].scenario = "default";
		e[i].name = g_names[i];
		e[i].method = "GET";
		e[i].status_class = 2;
		e[i].count = s->count;
		e[i].bytes_in = 100 * s->count;
		e[i].bytes_out = 60 * s->count;
		e[i].h = h[i];
	}
}

static void *met_main(void *arg)
{
	sagent *a = arg;
	sim *s = a->s;
	wire_entry *e = calloc((size_t)s->series, sizeof(*e));
	hist **h = calloc((size_t)s->series, sizeof(*h));
	if (e == NULL || h == NULL)
		goto out;
	for (int i = 0; i < s->series; i++) {
		if ((h[i] = hist_new()) == NULL)
			goto out;
		/* A spread of latencies (µs), so the histogram has several buckets. */
		for (uint64_t k = 0; k < s->count; k++)
			hist_record(h[i], 200 + 37 * (k + (uint64_t)i) % 5000);
	}
	pthread_mutex_lock(&a->mu);
	while (!a->assigned)
		pthread_cond_wait(&a->cv, &a->mu);
	int joined = a->run_id[0] != '\0';
	pthread_mutex_unlock(&a->mu);
	if (!joined)
		goto out; /* the handshake failed: nothing to send */
	int64_t start_mono = clock_mono_ns() + (a->start_ns - clock_real_ns());
	for (int b = 0; b < s->batches; b++) {
		int64_t due = start_mono + (int64_t)(b + 1) * a->interval_ms * 1000000;
		int64_t now = clock_mono_ns();
		if (due > now)
			clock_sleep_ms((int)((due - now) / 1000000));
		wire_msg m = { .type = WIRE_METRICS };
		fill_entries(s, e, h);
		m.u.metrics.agent_id = a->id;
		m.u.metrics.run_id = a->run_id;
		m.u.metrics.seq = (uint64_t)b + 1;
		m.u.metrics.interval_ms = (int64_t)b * a->interval_ms;
		m.u.metrics.nentries = (uint32_t)s->series;
		m.u.metrics.entries = e;
		for (int tries = 0;; tries++) {
			wire_msg reply = { 0 };
			int rv = sealed(a, &a->msess, SESSION_CH_MET, &m, &reply);
			int ok = rv == HERD_OK && reply.type == WIRE_ACK && reply.u.ack.seq == m.u.metrics.seq;
			if (rv == HERD_OK && reply.type == WIRE_ERROR)
				fprintf(stderr, "%s: batch %d refused: %s\n", a->id, b + 1, reply.u.error.message);
			wire_msg_fini(&reply);
			if (ok)
				break;
			atomic_fetch_add(&s->resent, 1);
			if (tries >= 20) {
				atomic_fetch_add(&s->errors, 1);
				goto out;
			}
			clock_sleep_ms(100);
		}
		atomic_fetch_add(&s->acked, 1);
		atomic_fetch_add(&s->entries, (uint64_t)s->series);
		atomic_fetch_add(&s->requests, (uint64_t)s->series * s->count);
	}
out:
	if (h != NULL)
		for (int i = 0; i < s->series; i++)
			hist_free(h[i]);
	free(h);
	free(e);
	pthread_mutex_lock(&a->mu);
	a->met_done = 1;
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* Opens the agent's REQ socket, its two contexts and its dialer. */
static int dial(sagent *a)
{
	nng_dialer d;
	int rv;
	if ((rv = nng_req0_open(&a->sock)) != 0 || (rv = nng_ctx_open(&a->cmd, a->sock)) != 0 ||
	    (rv = nng_ctx_open(&a->met, a->sock)) != 0) {
		fprintf(stderr, "%s: %s\n", a->id, nng_strerror(rv));
		return HERD_ENET;
	}
	nng_socket_set_ms(a->sock, NNG_OPT_RECONNMINT, 100);
	nng_socket_set_ms(a->sock, NNG_OPT_RECONNMAXT, 1000);
	nng_ctx_set_ms(a->cmd, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_ctx_set_ms(a->met, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if ((rv = nng_dialer_create(&d, a->sock, a->s->url)) != 0 || (rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0) {
		fprintf(stderr, "%s: dial %s: %s\n", a->id, a->s->url, nng_strerror(rv));
		return HERD_ENET;
	}
	return HERD_OK;
}

static void *cmd_main(void *arg)
{
	sagent *a = arg;
	sim *s = a->s;
	int rv = HERD_ETIMEDOUT;

	/* Dial only now, as a herd-agent does just before its HELLO: a connection
	 * left unauthenticated would count against the controller's budget. */
	sem_wait(&s->hs);
	if ((rv = dial(a)) != HERD_OK) {
		sem_post(&s->hs);
		atomic_fetch_add(&s->errors, 1);
		goto out;
	}
	rv = HERD_ETIMEDOUT;
	for (int tries = 0; tries < 20 && rv != HERD_OK; tries++)
		if ((rv = handshake(a)) != HERD_OK)
			clock_sleep_ms(200);
	sem_post(&s->hs);
	if (rv != HERD_OK) {
		fprintf(stderr, "%s: handshake failed: %s\n", a->id, herd_strerror(rv));
		atomic_fetch_add(&s->errors, 1);
		goto out;
	}
	if (atomic_fetch_add(&s->joined, 1) + 1 == s->nagents) {
		printf("joined %d\n", s->nagents);
		fflush(stdout);
	}
	int done_sent = 0;
	while (!done_sent) {
		pthread_mutex_lock(&a->mu);
		int finished = a->met_done;
		pthread_mutex_unlock(&a->mu);
		wire_msg m = { 0 }, reply = { 0 };
		if (finished) {
			m.type = WIRE_DONE;
			m.u.done.agent_id = a->id;
			m.u.done.run_id = a->run_id;
			m.u.done.last_seq = (uint64_t)s->batches;
			m.u.done.started_ns = a->start_ns;
			m.u.done.ended_ns = clock_real_ns();
			rv = sealed(a, &a->sess, SESSION_CH_CMD, &m, &reply);
			done_sent = rv == HERD_OK && reply.type != WIRE_ERROR;
			wire_msg_fini(&reply);
			continue;
		}
		m.type = WIRE_POLL;
		m.u.poll.agent_id = a->id;
		m.u.poll.run_id = a->assigned ? a->run_id : "";
		m.u.poll.cpu_pct = 1.0;
		m.u.poll.rss_kb = 10000;
		m.u.poll.started_ns = a->assigned ? a->start_ns : 0;
		rv = sealed(a, &a->sess, SESSION_CH_CMD, &m, &reply);
		atomic_fetch_add(&s->polls, 1);
		if (rv == HERD_OK && reply.type == WIRE_ASSIGN && !a->assigned) {
			pthread_mutex_lock(&a->mu);
			snprintf(a->run_id, sizeof(a->run_id), "%s", reply.u.assign.run_id);
			a->start_ns = reply.u.assign.start_ns;
			a->interval_ms = reply.u.assign.interval_ms ? reply.u.assign.interval_ms : 1000;
			a->assigned = 1;
			pthread_cond_broadcast(&a->cv);
			pthread_mutex_unlock(&a->mu);
			wire_msg r = { .type = WIRE_READY }, rr = { 0 };
			r.u.ready.agent_id = a->id;
			r.u.ready.run_id = a->run_id;
			sealed(a, &a->sess, SESSION_CH_CMD, &r, &rr);
			wire_msg_fini(&rr);
		} else if (rv != HERD_OK) {
			clock_sleep_ms(100);
		}
		wire_msg_fini(&reply);
	}
out:
	/* The metrics thread waits for an ASSIGN that will not come. */
	pthread_mutex_lock(&a->mu);
	if (!a->assigned) {
		a->assigned = 1;
		a->start_ns = clock_real_ns();
		pthread_cond_broadcast(&a->cv);
	}
	pthread_mutex_unlock(&a->mu);
	atomic_fetch_add(&s->finished, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	char err[512];
	sim s;
	if (argc < 6) {
		fprintf(stderr, "usage: ingest_sim URL TOKEN_FILE NAGENTS SERIES BATCHES [COUNT]\n");
		return 2;
	}
	memset(&s, 0, sizeof(s));
	s.url = argv[1];
	s.nagents = atoi(argv[3]);
	s.series = atoi(argv[4]);
	s.batches = atoi(argv[5]);
	s.count = argc > 6 ? strtoull(argv[6], NULL, 10) : 10;
	if (s.nagents < 1 || s.series < 1 || s.series > 100 || s.batches < 1 || s.count < 1) {
		fprintf(stderr, "ingest_sim: NAGENTS >= 1, 1 <= SERIES <= 100, BATCHES >= 1, COUNT >= 1\n");
		return 2;
	}
	if (auth_token_load(argv[2], &s.token, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "ingest_sim: %s\n", err);
		return 2;
	}
	sem_init(&s.hs, 0, HS_AT_ONCE);
	for (int i = 0; i < 100; i++)
		snprintf(g_names[i], sizeof(g_names[i]), "s%02d", i);
	sagent *ag = calloc((size_t)s.nagents, sizeof(*ag));
	if (ag == NULL)
		return 1;
	/* NNG 1.5 sets itself up on the first socket opened: open one here, so
	 * the agents' threads do not all race to do it (ThreadSanitizer saw them). */
	nng_socket first;
	if (nng_req0_open(&first) == 0)
		nng_close(first);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_BYTES);
	for (int i = 0; i < s.nagents; i++) {
		sagent *a = &ag[i];
		a->s = &s;
		a->idx = i;
		snprintf(a->id, sizeof(a->id), "sim-%d-%05d", (int)getpid(), i);
		pthread_mutex_init(&a->mu, NULL);
		pthread_cond_init(&a->cv, NULL);
		if (pthread_create(&a->tcmd, &attr, cmd_main, a) != 0 || pthread_create(&a->tmet, &attr, met_main, a) != 0) {
			fprintf(stderr, "ingest_sim: cannot start agent %d's threads\n", i);
			return 1;
		}
	}
	for (int i = 0; i < s.nagents; i++) {
		pthread_join(ag[i].tcmd, NULL);
		pthread_join(ag[i].tmet, NULL);
	}
	uint64_t want = (uint64_t)s.nagents * (uint64_t)s.batches;
	uint64_t acked = atomic_load(&s.acked);
	printf("sent agents=%d batches=%" PRIu64 " acked=%" PRIu64 " resent=%" PRIu64 " entries=%" PRIu64
	       " requests=%" PRIu64 " polls=%" PRIu64 " errors=%" PRIu64 "\n",
	       s.nagents, want, acked, (uint64_t)atomic_load(&s.resent), (uint64_t)atomic_load(&s.entries),
	       (uint64_t)atomic_load(&s.requests), (uint64_t)atomic_load(&s.polls),
	       (uint64_t)atomic_load(&s.errors));
	for (int i = 0; i < s.nagents; i++)
		nng_close(ag[i].sock);
	auth_token_wipe(&s.token);
	free(ag);
	return acked == want ? 0 : 1;
}
