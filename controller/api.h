/*
 * herd serve's HTTP API on NNG's HTTP server, behind a bearer token:
 *   GET  /runs             runs, newest first (JSON)
 *   GET  /runs/ID          one run (JSON)
 *   POST /runs/ID/abort    abort a live run; body {"reason": "..."} optional
 *   GET  /schedules        schedules with their next slot (JSON)
 *   GET  /agents           connected agents (JSON)
 *   GET  /metrics          Prometheus text format
 *   POST /schedules/NAME/run  start a schedule's run now (herd schedule run)
 * What it answers comes from provider callbacks the daemon supplies; this
 * module only authenticates, parses and routes. Every request is checked
 * for the token first (401 without it, whatever the path), then for its
 * form (400: a path or id outside the allowed characters, a body that is
 * not a JSON object), then routed (404 unknown path, 405 known path with
 * another method). Error answers are {"error": "..."} and nothing more.
 *
 * Providers run on NNG's threads, one request at a time per connection but
 * several connections at once: the daemon locks what they read.
 */
#ifndef HERD_CONTROLLER_API_H
#define HERD_CONTROLLER_API_H

#include <stddef.h>

#include "common/auth.h"
#include "common/sbuf.h"

/* The largest request body read (POST /runs/ID/abort). */
#define API_MAX_BODY 4096

typedef struct api api;

/*
 * Each provider appends its answer to out (JSON, or for metrics Prometheus
 * text) and returns the HTTP status: 200 (or 202 for an accepted abort),
 * 404 when the run is not known, 409 when it cannot be aborted (already
 * over). A status of 400 or more sends {"error": out's text} instead of out
 * as is. id is already checked: 1 to 64 of [A-Za-z0-9_.-], not "." or "..".
 * A NULL provider answers 404.
 */
typedef struct api_providers {
	void *arg;
	int (*runs)(void *arg, sbuf *out);
	int (*run)(void *arg, const char *id, sbuf *out);
	int (*abort)(void *arg, const char *id, const char *reason, sbuf *out);
	int (*schedules)(void *arg, sbuf *out);
	int (*agents)(void *arg, sbuf *out);
	int (*metrics)(void *arg, sbuf *out);
	/* POST /schedules/NAME/run: 202 when queued, 404 for no such schedule. */
	int (*start)(void *arg, const char *name, sbuf *out);
} api_providers;

/*
 * Serves on addr ("127.0.0.1:7401", "[::1]:7401"; names are refused) with
 * the bearer token (copied) and the providers (copied; arg must outlive the
 * api). Returns HERD_OK and *out (stop with api_stop), HERD_EINVAL (a bad
 * address or an empty token) or HERD_ENET (cannot listen), with a message
 * in err.
 */
int api_start(const char *addr, const auth_token *token, const api_providers *p, api **out,
              char *err, size_t errlen);

/* The port it listens on (for addr's port 0). */
int api_port(const api *a);

/* Stops serving (requests in progress finish first) and frees a. NULL is fine. */
void api_stop(api *a);

/* Whether a path segment is an id the API accepts (see api_providers). */
int api_id_ok(const char *s, size_t len);

#endif
