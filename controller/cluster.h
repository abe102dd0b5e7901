/*
 * The controller's side of the wire: a REP socket listening for agents, a
 * registry of the agents that said HELLO, and one queued command per agent
 * delivered on its next long poll. REP contexts with asynchronous aios, a
 * few worker threads and one merging thread serve every agent (no thread
 * per agent); a poll with nothing to deliver is held up to one heartbeat
 * (1 s) so a command reaches its agent as soon as it is queued.
 *
 * The listener and the registry outlive a run: a run (controller/engine.h)
 * sets the hooks batches and events go to while it lasts, assigns idle
 * agents (cluster_assign) and lets them go at its end (cluster_release), so
 * the same agents serve the next run without reconnecting.
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
	AGENT_JOINED = 0, /* said HELLO, and in no run: idle */
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
	double cpu_pct;          /* the highest CPU use it reported in its run (100 = one core) */
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

/* The most METRICS batches handed to the hook at once. */
#define CLUSTER_MERGE_MAX 64

/* A METRICS batch for the hook, and its answer. */
typedef struct cluster_batch {
	const char *agent_id;
	const wire_metrics *m;
	int rv; /* set by the hook: HERD_OK to acknowledge (also when merged before) */
} cluster_batch;

/*
 * Called from the cluster's one merging thread with the batches that came
 * while it merged the ones before (1 to CLUSTER_MERGE_MAX): so a busy
 * controller merges many in one store transaction, an idle one each at
 * once. Each batch is answered after the hook returns: ACK when its rv is
 * HERD_OK; anything else with ERROR, and the agent sends it again. Without a
 * hook a batch is answered with ERROR HERD_ECLOSED (no run takes it).
 */
typedef void (*cluster_metrics_fn)(void *arg, cluster_batch *b, size_t n);

/* Called for events worth recording (kind: "agent_joined", "agent_refused",
 * "agent_lost", "agent_rejoined"), from any thread. */
typedef void (*cluster_event_fn)(void *arg, const char *kind, const char *agent_id, const char *message);

typedef struct cluster_cfg {
	const char *url;            /* ipc://, tcp://, tls+tcp:// */
	int max_agents;
	const auth_token *token;    /* NULL: agents need not authenticate */
	net_tls_files tls;          /* for tls+tcp:// */
	int heartbeat_ms;           /* 0: 1000 */
	cluster_metrics_fn on_metrics; /* the first hooks (cluster_set_hooks); may be NULL */
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

/*
 * Sets where batches and events go from now on (NULL: batches refused,
 * events dropped), and returns once no call of the hooks set before is in
 * progress, so their arg may be freed then. Call it from no hook.
 */
void cluster_set_hooks(cluster *c, cluster_metrics_fn on_metrics, cluster_event_fn on_event, void *arg);

/* Waits until n agents are idle (joined, in no run) or timeout_ms passes;
 * returns how many are idle. */
int cluster_wait_idle(cluster *c, int n, int64_t timeout_ms);

/*
 * Gives agent id to a run: forgets what its registry entry says about an
 * earlier run (batches, start and end, CPU and memory peaks, error), marks
 * it assigned and queues m (an ASSIGN; encoded at once, m stays the
 * caller's). Until cluster_release, READY, DONE and ERROR move it through
 * its run's states. Returns a herd_err (HERD_ENOTFOUND: no such agent).
 */
int cluster_assign(cluster *c, const char *id, const wire_msg *m);
/*
 * Lets agent id go at its run's end: done or failed, it is idle again; one
 * still running (or lost) becomes idle when its DONE comes (or when it is
 * heard from again). Its registry entry keeps the run's figures until its
 * next cluster_assign.
 */
void cluster_release(cluster *c, const char *id);

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
 * assigned late, gets the load in force. A roster for another run_id (""
 * when a run ends) forgets the loads set before. Events: "load_set" (the command),
 * "load_applied" (each agent's ack). Returns HERD_OK; HERD_EINVAL for a
 * negative or non-finite total, fractional VUs, or no roster; HERD_ENOMEM.
 */
int cluster_set_shares(cluster *c, const char *run_id, const agent_info *ai, const double *weights, size_t n);
int cluster_set_load(cluster *c, const char *scenario, wire_load_kind kind, double total);

/* Messages that could not be decoded so far. */
uint64_t cluster_malformed(cluster *c);

#endif
