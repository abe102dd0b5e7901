/*
 * Connection budgets and bounded refusal logging; see gate.h. One mutex
 * guards the table; NNG calls (closing a pipe) and callbacks into the
 * cluster (events, removals) are made with it released.
 *
 * Connections are in a table keyed by pipe id (controller/conntab.h) with
 * room for the authenticated ones, the unauthenticated ones and as many
 * again being closed. The unauthenticated ones are also kept in arrival
 * order in a small array, so the oldest is found without a scan.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/safetext.h"
#include "controller/conntab.h"
#include "controller/gate.h"
#include "net/net.h"

/* How often the timer looks for connections past their time. */
#define TICK_MS 200
/* A connection we closed is normally gone (NNG reports it removed) within
 * milliseconds; one still there after this is forgotten, so that a stuck
 * close in NNG cannot fill the table and lock agents out. */
#define FORGET_CLOSED_MS 10000
/* Peer text in a refusal line: enough to recognise an agent, no more. */
#define ID_SHOWN  96
#define WHY_SHOWN 200

/* Everything counted since the gate opened. */
typedef struct totals {
	uint64_t refused;       /* refusals, logged or not */
	uint64_t closed_budget; /* connections closed past their message or byte budget */
	uint64_t closed_idle;   /* connections closed past their time */
	uint64_t evicted;       /* closed to make room for a newer one */
	uint64_t rejected;      /* closed on arrival: too many closed ones not yet gone */
	uint64_t forgotten;     /* closed, never reported gone, forgotten */
} totals;

/* Lines to print once the lock is released: a log line, and for a refusal
 * an "agent_refused" event (the agent's id and the reason). */
typedef struct say {
	int n;
	char log[3][WHY_SHOWN + ID_SHOWN + 200];
	int event[3];
	char ids[3][ID_SHOWN + 8];
	char texts[3][WHY_SHOWN + ID_SHOWN + 200];
} say;

struct gate {
	gate_cfg cfg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t timer;
	int timer_started, stop;
	conntab conns;
	uint32_t unauth[GATE_MAX_UNAUTH]; /* oldest first, none closing */
	size_t nunauth;
	size_t nclosing; /* closed by us, not gone yet: they may still hold a message */
	totals st;
	/* Refusals in the current interval. */
	int64_t win_start;
	unsigned win_logged;
	uint64_t win_quiet;
	char last_id[ID_SHOWN + 8], last_why[WHY_SHOWN + 8];
	/* Connections closed since the last report. */
	uint64_t rep_budget, rep_idle, rep_evicted;
	int64_t rep_start;
};

static void unauth_drop(gate *g, uint32_t pipe)
{
	for (size_t i = 0; i < g->nunauth; i++) {
		if (g->unauth[i] == pipe) {
			memmove(&g->unauth[i], &g->unauth[i + 1],
			        (g->nunauth - i - 1) * sizeof(g->unauth[0]));
			g->nunauth--;
			return;
		}
	}
}

/* Marks c as being closed by us; the caller closes it once unlocked. */
static void mark_closing(gate *g, conntab_entry *c, uint64_t *counter, uint64_t *report)
{
	c->closing = 1;
	c->since = clock_mono_ns(); /* from now on: when it was closed */
	g->nclosing++;
	unauth_drop(g, c->pipe);
	(*counter)++;
	(*report)++;
}

/* Ends a connection; see net_pipe_shutdown for why not nng_pipe_close. */
static void close_pipe(uint32_t id)
{
	nng_pipe p = NNG_PIPE_INITIALIZER;
	p.id = id;
	net_pipe_shutdown(p);
}

/* Queues a log line; with an event (id, text) when text is not NULL. */
static void say_add(say *s, const char *id, const char *text, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void say_add(say *s, const char *id, const char *text, const char *fmt, ...)
{
	if (s->n >= 3)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->log[s->n], sizeof(s->log[s->n]), fmt, ap);
	va_end(ap);
	s->event[s->n] = text != NULL;
	snprintf(s->ids[s->n], sizeof(s->ids[s->n]), "%s", id != NULL ? id : "");
	snprintf(s->texts[s->n], sizeof(s->texts[s->n]), "%s", text != NULL ? text : "");
	s->n++;
}

static void say_flush(gate *g, const say *s)
{
	for (int i = 0; i < s->n; i++) {
		log_warn("%s", s->log[i]);
		if (s->event[i] && g->cfg.on_event != NULL)
			g->cfg.on_event(g->cfg.arg, "agent_refused", s->ids[i], s->texts[i]);
	}
}

/* The interval's summaries, when it is over (called locked). */
static void roll(gate *g, int64_t now, int force, say *s)
{
	int64_t iv = (int64_t)GATE_REFUSAL_INTERVAL_MS * 1000000;
	if (g->win_quiet > 0 && (force || now - g->win_start >= iv)) {
		char text[WHY_SHOWN + ID_SHOWN + 200];
		snprintf(text, sizeof(text),
		         "%llu more refusals in the last %.0f s, not shown (latest: claimed id \"%s\": %s)",
		         (unsigned long long)g->win_quiet, (double)(now - g->win_start) / 1e9,
		         g->last_id[0] ? g->last_id : "(unknown)", g->last_why);
		say_add(s, "", text, "%s", text);
		g->win_quiet = 0;
	}
	if (force || now - g->win_start >= iv) {
		g->win_start = now;
		g->win_logged = 0;
	}
	uint64_t closed = g->rep_budget + g->rep_idle + g->rep_evicted;
	if (closed > 0 && (force || now - g->rep_start >= iv)) {
		say_add(
		    s, NULL, NULL,
		    "closed %llu connections that did not authenticate in the last %.0f s "
		    "(%llu past their message budget, %llu past %d ms, %llu to make room for newer ones); "
		    "%llu refused on arrival in all",
		    (unsigned long long)closed, (double)(now - g->rep_start) / 1e9,
		    (unsigned long long)g->rep_budget, (unsigned long long)g->rep_idle, GATE_PREAUTH_MS,
		    (unsigned long long)g->rep_evicted, (unsigned long long)g->st.rejected);
		g->rep_budget = g->rep_idle = g->rep_evicted = 0;
	}
	if (closed == 0 || force || now - g->rep_start >= iv)
		g->rep_start = now;
}

static void on_add(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	gate *g = arg;
	uint32_t id = nng_pipe_id(p), victim = 0;
	(void)ev;
	pthread_mutex_lock(&g->mu);
	if (g->nunauth == GATE_MAX_UNAUTH) {
		/* Room for the newest: an agent connecting now authenticates
		 * within a round trip or two, a peer that sat longest is the one
		 * least likely to. */
		conntab_entry *old = conntab_find(&g->conns, g->unauth[0]);
		victim = g->unauth[0];
		if (old != NULL)
			mark_closing(g, old, &g->st.evicted, &g->rep_evicted);
		else
			unauth_drop(g, victim);
	}
	/* Connections we closed hold what they received until NNG is done with
	 * them; past as many again as may be open, a new one must wait. */
	conntab_entry *c = g->nclosing < GATE_MAX_UNAUTH ? conntab_insert(&g->conns, id) : NULL;
	if (c == NULL)
		g->st.rejected++;
	else {
		c->since = clock_mono_ns();
		g->unauth[g->nunauth++] = id;
	}
	pthread_mutex_unlock(&g->mu);
	if (victim != 0)
		close_pipe(victim);
	if (c == NULL)
		net_pipe_shutdown(p);
}

static void on_rem(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	gate *g = arg;
	uint32_t id = nng_pipe_id(p);
	void *pending = NULL;
	(void)ev;
	pthread_mutex_lock(&g->mu);
	conntab_entry *c = conntab_find(&g->conns, id);
	if (c != NULL) {
		pending = c->pending;
		if (c->closing)
			g->nclosing--;
		else if (!c->authed)
			unauth_drop(g, id);
		conntab_erase(&g->conns, c);
	}
	pthread_mutex_unlock(&g->mu);
	if (pending != NULL && g->cfg.free_pending != NULL)
		g->cfg.free_pending(pending);
	if (g->cfg.on_removed != NULL)
		g->cfg.on_removed(g->cfg.arg, id);
}

/* Forgets connections closed FORGET_CLOSED_MS ago that NNG never reported
 * gone (called locked). An entry moved back by an erase may be looked at on
 * the next tick instead of this one. */
static void forget_closed(gate *g, int64_t now)
{
	for (size_t i = 0; i < g->conns.cap; i++) {
		conntab_entry *c = &g->conns.tab[i];
		if (c->pipe == 0 || !c->closing || now - c->since < (int64_t)FORGET_CLOSED_MS * 1000000)
			continue;
		if (c->pending != NULL && g->cfg.free_pending != NULL)
			g->cfg.free_pending(c->pending);
		g->nclosing--;
		g->st.forgotten++;
		log_debug("connection %u: closed %d ms ago and not released by NNG; forgotten", c->pipe,
		          FORGET_CLOSED_MS);
		conntab_erase(&g->conns, c);
	}
}

/* Closes connections that did not authenticate in time, and says what the
 * interval's refusals and closes were. */
static void *timer_main(void *arg)
{
	gate *g = arg;
	pthread_mutex_lock(&g->mu);
	while (!g->stop) {
		int64_t deadline = clock_real_ns() + (int64_t)TICK_MS * 1000000;
		struct timespec until = {.tv_sec = deadline / 1000000000, .tv_nsec = deadline % 1000000000};
		pthread_cond_timedwait(&g->cv, &g->mu, &until);
		if (g->stop)
			break;
		uint32_t late[GATE_MAX_UNAUTH];
		size_t nlate = 0;
		int64_t now = clock_mono_ns();
		while (g->nunauth > 0) {
			conntab_entry *c = conntab_find(&g->conns, g->unauth[0]);
			if (c != NULL && now - c->since < (int64_t)GATE_PREAUTH_MS * 1000000)
				break; /* the oldest is in time, so are the others */
			late[nlate++] = g->unauth[0];
			if (c != NULL)
				mark_closing(g, c, &g->st.closed_idle, &g->rep_idle);
			else
				unauth_drop(g, g->unauth[0]);
		}
		forget_closed(g, now);
		say s = {0};
		roll(g, now, 0, &s);
		pthread_mutex_unlock(&g->mu);
		for (size_t i = 0; i < nlate; i++)
			close_pipe(late[i]);
		say_flush(g, &s);
		pthread_mutex_lock(&g->mu);
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

int gate_open(const gate_cfg *cfg, nng_socket sock, gate **out)
{
	gate *g = calloc(1, sizeof(*g));
	if (g == NULL)
		return HERD_ENOMEM;
	g->cfg = *cfg;
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	/* Authenticated, unauthenticated, and as many again being closed. */
	int rv = conntab_init(&g->conns, cfg->max_authed + 2 * GATE_MAX_UNAUTH + 16);
	g->win_start = g->rep_start = clock_mono_ns();
	if (rv != HERD_OK) {
		gate_close(g);
		return HERD_ENOMEM;
	}
	if (nng_pipe_notify(sock, NNG_PIPE_EV_ADD_PRE, on_add, g) != 0 ||
	    nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, on_rem, g) != 0) {
		gate_close(g);
		return HERD_ENET;
	}
	if (pthread_create(&g->timer, NULL, timer_main, g) != 0) {
		gate_close(g);
		return HERD_ENOMEM;
	}
	g->timer_started = 1;
	*out = g;
	return HERD_OK;
}

void gate_stop(gate *g)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&g->mu);
	int was = g->stop;
	g->stop = 1;
	pthread_cond_broadcast(&g->cv);
	say s = {0};
	totals t = g->st;
	if (!was)
		roll(g, clock_mono_ns(), 1, &s);
	pthread_mutex_unlock(&g->mu);
	say_flush(g, &s);
	uint64_t closed = t.closed_budget + t.closed_idle + t.evicted + t.rejected;
	if (!was && (t.refused > 0 || closed > 0))
		log_info("peers refused in all: %llu; connections closed before authenticating: %llu",
		         (unsigned long long)t.refused, (unsigned long long)closed);
	if (g->timer_started)
		pthread_join(g->timer, NULL);
	g->timer_started = 0;
}

void gate_close(gate *g)
{
	if (g == NULL)
		return;
	gate_stop(g);
	for (size_t i = 0; g->conns.tab != NULL && i < g->conns.cap; i++)
		if (g->conns.tab[i].pipe != 0 && g->conns.tab[i].pending != NULL &&
		    g->cfg.free_pending != NULL)
			g->cfg.free_pending(g->conns.tab[i].pending);
	conntab_fini(&g->conns);
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cv);
	free(g);
}

int gate_admit(gate *g, uint32_t pipe, size_t len)
{
	int ok = 0, close_now = 0;
	pthread_mutex_lock(&g->mu);
	conntab_entry *c = conntab_find(&g->conns, pipe);
	if (c != NULL && c->authed) {
		ok = 1;
	} else if (c != NULL && !c->closing) {
		c->msgs++;
		c->bytes += len;
		ok = c->msgs <= GATE_PREAUTH_MSGS && c->bytes <= GATE_PREAUTH_BYTES;
		if (!ok) {
			mark_closing(g, c, &g->st.closed_budget, &g->rep_budget);
			close_now = 1;
		}
	}
	/* Else it is being closed already (what it had sent still comes in
	 * until NNG reads the end), or was refused on arrival: drop. */
	pthread_mutex_unlock(&g->mu);
	if (close_now)
		close_pipe(pipe);
	return ok;
}

int gate_reply_ms(gate *g, uint32_t pipe)
{
	pthread_mutex_lock(&g->mu);
	conntab_entry *c = conntab_find(&g->conns, pipe);
	int ms = c != NULL && c->authed ? GATE_REPLY_MS : GATE_UNAUTH_REPLY_MS;
	pthread_mutex_unlock(&g->mu);
	return ms;
}

void gate_authed(gate *g, uint32_t pipe)
{
	pthread_mutex_lock(&g->mu);
	conntab_entry *c = conntab_find(&g->conns, pipe);
	if (c != NULL && !c->closing && !c->authed) {
		c->authed = 1;
		unauth_drop(g, pipe);
	}
	pthread_mutex_unlock(&g->mu);
}

int gate_pending_put(gate *g, uint32_t pipe, void *p)
{
	void *old = NULL;
	pthread_mutex_lock(&g->mu);
	conntab_entry *c = conntab_find(&g->conns, pipe);
	if (c == NULL || c->closing) {
		pthread_mutex_unlock(&g->mu);
		return -1;
	}
	old = c->pending;
	c->pending = p;
	pthread_mutex_unlock(&g->mu);
	if (old != NULL && g->cfg.free_pending != NULL)
		g->cfg.free_pending(old);
	return 0;
}

void *gate_pending_take(gate *g, uint32_t pipe)
{
	void *p = NULL;
	pthread_mutex_lock(&g->mu);
	conntab_entry *c = conntab_find(&g->conns, pipe);
	if (c != NULL && c->pending != NULL) {
		p = c->pending;
		c->pending = NULL;
	}
	pthread_mutex_unlock(&g->mu);
	return p;
}

void gate_refused(gate *g, const char *id, const char *why)
{
	char sid[ID_SHOWN + 8], swhy[WHY_SHOWN + 8];
	say s = {0};
	safetext_copy(sid, sizeof(sid), id);
	safetext_copy(swhy, sizeof(swhy), why);
	pthread_mutex_lock(&g->mu);
	int64_t now = clock_mono_ns();
	roll(g, now, 0, &s);
	g->st.refused++;
	if (g->win_logged < GATE_REFUSALS_LOGGED) {
		g->win_logged++;
		/* A peer that has not proved the token may claim any id, a real
		 * agent's too: the refusal names it as a claim, quoted, and is not
		 * recorded against that agent. */
		char claim[ID_SHOWN + 32], text[ID_SHOWN + WHY_SHOWN + 64];
		if (sid[0] != '\0')
			snprintf(claim, sizeof(claim), " (claimed id \"%s\")", sid);
		else
			claim[0] = '\0';
		snprintf(text, sizeof(text), "unauthenticated peer%s: %s", claim, swhy);
		say_add(&s, "", text, "refused an unauthenticated peer%s: %s%s", claim, swhy,
		        g->win_logged == GATE_REFUSALS_LOGGED
		            ? " (further refusals are counted and summed up every 10 s)"
		            : "");
	} else {
		g->win_quiet++;
		memcpy(g->last_id, sid, sizeof(sid));
		memcpy(g->last_why, swhy, sizeof(swhy));
	}
	pthread_mutex_unlock(&g->mu);
	say_flush(g, &s);
}
