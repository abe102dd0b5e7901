/*
 * The table of operations a traffic driver provides to an agent worker.
 * HTTP over libcurl is the first; WebSocket over wslay and a lean HTTP/1.1
 * driver slot in beside it. A driver owns its per-worker state and per-VU
 * connection state; the worker owns VUs, timers and metrics. A driver runs
 * only on its worker's thread and reports every finished step exactly once
 * through worker_step_done(), never from inside start().
 */
#ifndef HERD_AGENT_DRIVER_H
#define HERD_AGENT_DRIVER_H

#include <stdint.h>

#include "common/metric.h"
#include "common/plan.h"

struct sbuf;

typedef struct worker worker;
typedef struct vu vu;

/* What a finished request reports. Times in microseconds. */
typedef struct step_result {
	int status;         /* HTTP status, 0 when no response */
	int err;            /* an errk, or -1 when the transfer itself succeeded */
	uint64_t blocked_us, connecting_us, tls_us, sending_us, waiting_us, receiving_us;
	uint64_t duration_us; /* sending + waiting + receiving, as k6's http_req_duration */
	uint64_t bytes_in, bytes_out;
	const char *body;   /* the body when the step checks or captures from it, else NULL */
	size_t body_len;
	const char *headers; /* the last response's header block when the step needs it, else NULL */
	size_t headers_len;
	/* The value of cookie name in the VU's jar, appended to out; 0 when found.
	 * NULL when the driver keeps no cookies. */
	int (*cookie)(void *ctx, const char *name, struct sbuf *out);
	void *cookie_ctx;
} step_result;

/* What a finished WebSocket session reports. Times in microseconds. */
typedef struct ws_result {
	int status;          /* the handshake's HTTP status, 0 when none arrived */
	int err;             /* an errk, or -1 when the session ended cleanly */
	int opened;          /* the handshake succeeded (connecting_us and duration_us are set) */
	uint64_t connecting_us; /* connect() to the 101 response (TLS included for wss://) */
	uint64_t duration_us;   /* connect() to the end of the session */
	uint64_t bytes_in, bytes_out;
	int close_code;      /* when err is ERRK_WS_CLOSED: the peer's close code, or 1006 when the
	                      * connection ended without a close frame; else 0 */
	int tls;             /* a wss:// TLS handshake completed (tls_us is set) */
	uint64_t tls_us;     /* the TLS handshake, from TCP connected to its end */
} ws_result;

typedef struct driver_ops {
	const char *name;
	/* Sets up per-worker state in *state. Returns a herd_err. */
	int (*init)(worker *w, void **state);
	/* Cancels everything in flight (without reporting) and frees the state. */
	void (*fini)(void *state);
	/* Starts step s for v. Returns a herd_err; on error nothing is reported. */
	int (*start)(void *state, vu *v, const plan_step *s);
	/* Abandons v's step in flight, if any, without reporting it. */
	void (*cancel)(void *state, vu *v);
	/* Releases v's connection state (v->conn; v->ws_conn for the ws driver). */
	void (*vu_release)(void *state, vu *v);
	/* Nanoseconds (CLOCK_MONOTONIC) of the driver's next timer, or INT64_MAX. */
	int64_t (*next_timer)(void *state);
	/* Called when the timer is due. */
	void (*on_timer)(void *state);
} driver_ops;

extern const driver_ops http_driver;
extern const driver_ops h1_driver;
/* WebSocket sessions (STEP_WS) over wslay; its per-VU state is v->ws_conn,
 * so a VU can run HTTP and ws steps in one flow. Reports through
 * worker_ws_done(). */
extern const driver_ops ws_driver;

#endif
