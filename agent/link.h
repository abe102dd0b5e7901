/*
 * The agent's link to its controller over NNG (REQ socket, two contexts):
 * one context long-polls for commands (and is the heartbeat), the other
 * sends METRICS batches and waits for their ACKs. Batches stay queued until
 * acknowledged (bounded; what the bound drops is counted) and are sent again
 * after a reconnect. The agent stops all load by itself when it has heard
 * nothing from the controller for lost_controller_ms.
 */
#ifndef HERD_AGENT_LINK_H
#define HERD_AGENT_LINK_H

#include <signal.h>
#include <stdint.h>

#include "agent/allow.h"
#include "common/auth.h"
#include "common/hdrv.h"
#include "common/srcaddr.h"
#include "net/net.h"

typedef struct link_cfg {
	const char *url;          /* controller address: ipc://, tcp://, tls+tcp:// */
	const char *name;         /* agent name; NULL: host name */
	int workers;              /* 0: one per core */
	int once;                 /* exit after one run (local agents) */
	int64_t lost_controller_ms; /* default 3000 */
	size_t max_queued;        /* unacknowledged batches kept; default 3600 */
	/* Stop signals received so far (a signal handler counts them) and the
	 * last one's number. The first during a run stops it gracefully: no new
	 * requests, the last batches delivered, and the controller told that
	 * this agent stops and why (ERROR HERD_ECLOSED "stopped: SIGTERM", then
	 * DONE); without a run, or at the second, the agent leaves at once. */
	volatile sig_atomic_t *quit;
	volatile sig_atomic_t *quit_signal;
	const auth_token *token;  /* NULL: no authentication */
	const allow *allow;       /* NULL: any target */
	int allow_late;           /* tests only: skip the assignment's allowlist check, so that the
	                           * drivers' own checks of each connection are what refuses */
	net_tls_files tls;        /* for tls+tcp:// */
	hdrv_mode http_driver;    /* --http-driver (default auto) */
	const srcaddr_pool *src;  /* --source-addresses, checked; NULL: none */
} link_cfg;

/* The longest a controller may hold a poll, as this agent believes it:
 * WELCOME's heartbeat is cut to it, so that no wait overflows. */
#define LINK_HOLD_MAX_MS 60000

/* How long the next poll waits (ms, fits an int) and, into *need_ms, how
 * long it should to outlast the controller's hold: hold_ms (WELCOME's, cut
 * to LINK_HOLD_MAX_MS) plus the round trip rtt_ns and a margin, no longer
 * than left_ms before the controller counts as lost (unless it is lost), at
 * least 100 ms, and the whole need after a poll cut short ran out
 * (short_failed). Pure: unit-tested. */
int link_poll_wait_ms(int64_t hold_ms, int64_t rtt_ns, int64_t left_ms, int lost, int short_failed,
                      int64_t *need_ms);

/* Runs the agent until quit is set, or after one run when once is set.
 * Returns a herd_err (HERD_OK on a normal end). */
int link_run(const link_cfg *cfg);

#endif
