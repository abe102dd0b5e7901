/*
 * The controller's side of the wire: a REP socket listening for agents, a
 * registry of the agents that said HELLO, and one queued command per agent
 * delivered on its next long poll. Handler threads each own one REP context;
 * a poll with nothing to deliver is held up to one heartbeat (1 s) so a
 * command reaches its agent as soon as it is queued.
 */
#ifndef HERD_CONTROLLER_CLUSTER_H
#define HERD_CONTROLLER_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "common/auth.h"
#include "net/net.h"
#include "proto/wire.h"

typedef struct cluster cluster;

typedef enum agent_state {
	AGENT_JOINED = 0, /* said HELLO */
	AGENT_ASSIGNED,   /* ASSIGN queued or sent */
	AGENT_READY,      /* accepted the assignment */
	AGENT_DONE,       /* sent DONE */
	AGENT_FAILED,     /* sent ERROR for the run */
	AGENT_LOST,       /* silent for longer than the loss limit */
} agent_state;

const char *agent_state_name(agent_state s);

typedef struct agent_info {
	char id[192];
	char name[128];
	char host[128];
	char version[32];
	uint32_t cores;
	uint32_t pid;
	int64_t joined_ns;      /* controller CLOCK_REALTIME */
	int64_t last_seen_mono; /* controller CLOCK_MONOTONIC */
	int64_t clock_offset_ns; /* agent clock minus controller clock, estimated */
	int64_t clock_rtt_ns;    /* round trip of that estimate: its error is at most half */
	int64_t started_ns;      /* when its load started, in its own clock (0: not yet) */
	int64_t ended_ns;        /* when its load ended, in its own clock (from DONE) */
	agent_state state;
	double cpu_pct;          /* the highest CPU use it reported (100 = one core) */
	uint64_t rss_kb;         /* the highest resident memory it reported */
	uint64_t batches;       /* batches merged (not counting repeats) */
	uint64_t last_seq;      /* from DONE */
	uint64_t dropped;       /* from DONE: batches the agent had to drop */
	char error[512];        /* from ERROR */
	int stopped;            /* it said it stops on its own (a signal; why in error):
	                         * its last batches and DONE follow, it has not failed */
	uint64_t load_seq;      /* the last LOAD it acknowledged as applied (0: none) */
	double load_value;      /* the load it then said it runs: its share */
} agent_info;

/* Called for each METRICS batch from a handler thread. Returns HERD_OK to
 * acknowledge it (also when it was already merged before); anything else is
 * answered with ERROR and the agent sends it again. */
typedef int (*cluster_metrics_fn)(void *arg, const char *agent_id, const wire_metrics *m);

/* Called for events worth recording (kind: "agent_joined", "agent_refused",
 * "agent_lost", "agent_rejoined"), from any thread. */
typedef void (*cluster_event_fn)(void *arg, const char *kind, const char *agent_id, const char *message);

typedef struct cluster_cfg {
	const char *url;            /* ipc://, tcp://, tls+tcp:// */
	int max_agents;
	const auth_token *token;    /* NULL: agents need not authenticate */
	net_tls_files tls;          /* for tls+tcp:// */
	int heartbeat_ms;           /* 0: 1000 */
	cluster_metrics_fn on_metrics;
	cluster_event_fn on_event;  /* may be NULL */
	void *arg;
} cluster_cfg;

/* Opens the listener. On error returns a herd_err with a message in err. */
int cluster_open(const cluster_cfg *cfg, cluster **out, char *err, size_t errlen);
/* Stops answering requests, waits (at most half a second) until no connected
 * agent can send anything, then closes the socket and stops the handler
 * threads. A command already queued for an agent still goes out. */
void cluster_close(cluster *c);

/* Waits until n agents have joined or timeout_ms passes; returns how many joined. */
int cluster_wait_joined(cluster *c, int n, int64_t timeout_ms);
/* Copies up to max agents (in joining order) into out; returns the count. */
size_t cluster_agents(cluster *c, agent_info *out, size_t max);

/* Queues m for agent id (replacing any queued command). The message is
 * encoded at once; m stays the caller's. Returns a herd_err. */
int cluster_send(cluster *c, const char *id, const wire_msg *m);
/* Sets an agent's state. */
void cluster_set_state(cluster *c, const char *id, agent_state s);
/* Marks agents not heard from for loss_ms as lost (and reports
 * "agent_lost"); returns how many became lost now. */
int cluster_check_lost(cluster *c, int64_t loss_ms);
/*
 * Changing a running scenario's load (wire LOAD). cluster_set_shares names
 * the agents that run run_id (ai[0..n), in the ASSIGN's order) and their
 * weights, as the ASSIGN split the plan; call it after the assignments, and
 * again when the roster changes (every agent then gets the current loads at
 * its new share). cluster_set_load sets scenario's cluster-wide load (kind a
 * wire_load_kind: iterations per timeUnit, or VUs) from now on: each agent
 * of the roster is sent its share (split_frac of a rate, split_int_at of
 * VUs, by the weights) with a new sequence number, once it has accepted its
 * assignment and with no other command waiting for it. The cluster keeps
 * the current load of each scenario and sends it again on the agent's next
 * poll until the agent acknowledges it, so an agent that was away, or
 * assigned late, gets the load in force. Events: "load_set" (the command),
 * "load_applied" (each agent's ack). Returns HERD_OK; HERD_EINVAL for a
 * negative or non-finite total, fractional VUs, or no roster; HERD_ENOMEM.
 */
int cluster_set_shares(cluster *c, const char *run_id, const agent_info *ai, const double *weights, size_t n);
int cluster_set_load(cluster *c, const char *scenario, wire_load_kind kind, double total);

/* Messages that could not be decoded so far. */
uint64_t cluster_malformed(cluster *c);

#endif
