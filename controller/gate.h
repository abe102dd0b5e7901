/*
 * The listener's guard against peers that have not proved themselves: every
 * connection (NNG pipe) is tracked from the moment it is made, and until an
 * agent authenticates on it (or, without a token, is welcomed) it gets a
 * small budget of messages, bytes and time, past which it is closed. At most
 * GATE_MAX_UNAUTH such connections are open at once (the oldest goes first)
 * and at most as many again closed but not yet freed by NNG (a new one is
 * refused on arrival meanwhile), so the memory NNG holds for them is bounded
 * by twice that times the listener's receive limit. The HELLO waiting for its AUTH lives in its connection's
 * record: at most one per connection, found by the pipe id in O(1).
 * Refusals are logged and recorded at a bounded rate, and all counted.
 */
#ifndef HERD_CONTROLLER_GATE_H
#define HERD_CONTROLLER_GATE_H

#include <nng/nng.h>
#include <stddef.h>
#include <stdint.h>

/* Defaults, documented in the README ("Hostile peers"). */
#define GATE_MAX_UNAUTH          16    /* connections not yet authenticated, at once */
#define GATE_PREAUTH_MS          5000  /* to authenticate after connecting */
#define GATE_PREAUTH_MSGS        8     /* messages before authentication */
#define GATE_PREAUTH_BYTES       16384 /* bytes of those messages, all together */
#define GATE_REFUSALS_LOGGED     5     /* refusals logged in full per interval */
#define GATE_REFUSAL_INTERVAL_MS 10000
/* How long a reply may wait for its connection: an agent gives up on a
 * request after 3 s and sends it again, so a later reply is of no use. A
 * connection that has not authenticated gets next to no wait: an agent sends
 * its next request only after reading the reply to the last one, so only a
 * peer that does not read its replies finds its connection still busy. */
#define GATE_REPLY_MS        3000
#define GATE_UNAUTH_REPLY_MS 10

typedef struct gate gate;

/* Records an event (the cluster's on_event: kind, agent id, text). */
typedef void (*gate_event_fn)(void *arg, const char *kind, const char *agent_id, const char *text);
/* A connection is gone (called after the gate forgot it). */
typedef void (*gate_removed_fn)(void *arg, uint32_t pipe);

typedef struct gate_cfg {
	size_t max_authed;             /* authenticated connections to keep room for */
	void (*free_pending)(void *p); /* frees a handshake left on a closed connection */
	gate_event_fn on_event;        /* may be NULL */
	gate_removed_fn on_removed;    /* may be NULL */
	void *arg;
} gate_cfg;

/* Makes a gate watching sock's connections (pipe notifications) with a
 * thread that closes connections past their time. Returns a herd_err. */
int gate_open(const gate_cfg *cfg, nng_socket sock, gate **out);
/* Stops the thread and says what the last interval's refusals and closes
 * were, and how many there were in all. Connections are still tracked (the socket may still be open). NULL
 * is fine, and so is a second call. */
void gate_stop(gate *g);
/* Stops the gate and frees what is left (pending handshakes included).
 * Call after the socket is closed. NULL is fine. */
void gate_close(gate *g);

/* A message of len bytes came on pipe. Returns 1 when it may be handled;
 * 0 when the connection is past its budget (or unknown): it is being closed
 * and the message must be dropped unanswered. */
int gate_admit(gate *g, uint32_t pipe, size_t len);
/* The longest a reply to pipe may wait to be sent, in ms (0: not at all). */
int gate_reply_ms(gate *g, uint32_t pipe);
/* An agent proved itself on pipe: its budget no longer applies. */
void gate_authed(gate *g, uint32_t pipe);

/* Leaves p (a handshake waiting for its AUTH) with pipe's record, replacing
 * (freeing) an earlier one. Returns 0, or -1 when the connection is gone
 * (p stays the caller's). */
int gate_pending_put(gate *g, uint32_t pipe, void *p);
/* Takes the handshake left on pipe, or NULL. */
void *gate_pending_take(gate *g, uint32_t pipe);

/* A peer was refused: logged (with peer text made safe) and recorded as an
 * "agent_refused" event for the first GATE_REFUSALS_LOGGED in each interval,
 * the rest counted and summed up once per interval. id and why may be peer
 * text. */
void gate_refused(gate *g, const char *id, const char *why);

#endif
