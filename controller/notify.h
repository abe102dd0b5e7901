/*
 * Webhooks of herd serve: a scheduled run's events (skipped, started,
 * aborted, finished) POSTed as JSON to each notification's URL, signed with
 * HMAC-SHA256 of the body under the notification's secret
 * ("X-Herd-Signature: sha256=<hex>", mbedTLS), retried with exponential
 * backoff, every attempt recorded in the store (store_serve.h).
 *
 * The body (keys in this order; absent values are null):
 *   {"event": "finished", "schedule": "nightly", "slot": "2026-12-03T01:00:00Z",
 *    "run_id": "20261203-010000-ab12", "verdict": "passed", "reason": null,
 *    "comparison": {...}, "report": "/var/lib/herd/reports/x.html",
 *    "at": "2026-12-03T01:31:07Z"}
 * A receiver checks the signature over the exact bytes it received, in
 * constant time, before it parses them.
 */
#ifndef HERD_CONTROLLER_NOTIFY_H
#define HERD_CONTROLLER_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "common/auth.h"
#include "controller/store.h"

/* Room for "sha256=" and 64 hex digits and the NUL. */
#define NOTIFY_SIG_LEN 72

/* The first retry waits this long; each next one twice as long, up to the
 * cap. */
#define NOTIFY_BACKOFF_MS 1000
#define NOTIFY_BACKOFF_MAX_MS 60000

typedef struct notify_event {
	const char *event;      /* "skipped", "started", "aborted", "finished" */
	const char *schedule;
	int64_t slot;           /* s since the epoch; 0: none */
	const char *run_id;     /* NULL when no run (skipped) */
	const char *verdict;    /* "passed", "failed", ... or NULL */
	const char *reason;     /* why it was skipped or aborted, or NULL */
	const char *comparison; /* a JSON object (the comparison with the last passed run) or NULL */
	const char *report;     /* the HTML report's path, or NULL */
	int64_t at_ms;          /* when it happened */
} notify_event;

/* Where and how to deliver. The secret stays the caller's. */
typedef struct notify_target {
	const char *name; /* the notification's name, for the store */
	const char *url;
	const auth_token *secret;
	int retries;             /* attempts after the first */
	int64_t timeout_ms;      /* per attempt, connecting included */
	int64_t backoff_ms;      /* 0: NOTIFY_BACKOFF_MS */
	int64_t backoff_max_ms;  /* 0: NOTIFY_BACKOFF_MAX_MS */
} notify_target;

/*
 * The JSON body of e into *out (free with free()). Returns HERD_OK,
 * HERD_EINVAL (an event other than the four, no schedule, or a comparison
 * that is not a JSON object) or HERD_ENOMEM.
 */
int notify_body(const notify_event *e, char **out);

/* "sha256=<64 lowercase hex digits>" of HMAC-SHA256(secret, body) into out.
 * Returns HERD_OK, HERD_EINVAL or HERD_EINTERNAL (mbedTLS failed). */
int notify_sign(const auth_token *secret, const char *body, size_t len,
                char out[NOTIFY_SIG_LEN]);

/* The wait before attempt n (2 = the first retry): backoff_ms * 2^(n-2),
 * at most backoff_max_ms; 0 for the first attempt. */
int64_t notify_backoff_ms(const notify_target *t, int attempt);

/*
 * Delivers e to t: POST with Content-Type application/json, the signature,
 * X-Herd-Event and X-Herd-Attempt; redirects are not followed. A 2xx answer
 * is delivered; a 408, 429, 5xx or no answer (refused, timed out) is tried
 * again after notify_backoff_ms, up to t->retries more times; any other
 * answer ends the delivery (a retry would get the same). Each attempt is
 * recorded in st (NULL: not recorded). Blocks for the attempts and the
 * waits between them: call it from a thread of its own, not the daemon's
 * loop. Returns HERD_OK when an attempt got a 2xx, HERD_ENET when none did
 * (the last status or error in why, whylen bytes), HERD_EINVAL, HERD_ENOMEM,
 * or HERD_ESTORE when an attempt could not be recorded (delivery goes on;
 * the first such error is returned at the end unless delivery failed).
 * *attempts (may be NULL) gets the number of attempts made.
 */
int notify_send(const notify_target *t, const notify_event *e, store *st, int *attempts,
                char *why, size_t whylen);

#endif
