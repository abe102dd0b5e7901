/*
 * Names shared by agents and the controller: error kinds, status classes and
 * HTTP methods. Kept as small enums on the hot path, spelled as strings on
 * the wire and in the store so versions can add kinds without breaking.
 */
#ifndef HERD_COMMON_METRIC_H
#define HERD_COMMON_METRIC_H

typedef enum errk {
	ERRK_CONNREFUSED = 0, /* "connect_refused" */
	ERRK_TIMEOUT,         /* "timeout" */
	ERRK_RESET,           /* "reset" */
	ERRK_TLS,             /* "tls" */
	ERRK_DNS,             /* "dns" */
	ERRK_HTTP4XX,         /* "http_4xx" */
	ERRK_HTTP5XX,         /* "http_5xx" */
	ERRK_CHECK,           /* "check_failed" */
	ERRK_OTHER,           /* "other" */
	ERRK_WS_REJECTED,     /* "ws_handshake_rejected": the upgrade got no 101 */
	ERRK_WS_BAD_ACCEPT,   /* "ws_bad_accept": 101 without the right Sec-WebSocket-Accept */
	ERRK_WS_PROTOCOL,     /* "ws_protocol": a frame or handshake that breaks RFC 6455 */
	ERRK_WS_CLOSED,       /* "ws_closed_abnormally": no close frame, or a code not 1000/1001 */
	ERRK_WS_EXPECT,       /* "ws_expect_timeout": an expect not met within its limit */
	ERRK_CAPTURE,         /* "capture_failed": a capture found nothing in the response */
	ERRK_SRCADDR,         /* "source_address": nothing local to connect from: a source address
	                       * that cannot be bound, or no ephemeral port left toward the target */
	ERRK_NOT_ALLOWED,     /* "target_not_allowed": a request the agent refused to send: outside
	                       * --allow-target (any redirect hop), or a scheme other than http(s) */
	ERRK_WS_TOO_BIG,      /* "ws_message_too_big": a received message over maxMessageSize or of too many frames */
	ERRK_WS_QUEUE_FULL,   /* "ws_queue_full": the peer sent more pings than it read our answers to */
	ERRK__N
} errk;

/* Returns the wire/store name of kind ("other" when out of range). */
const char *errk_name(int kind);
/* Returns the kind named name, or ERRK_OTHER when unknown. */
errk errk_from_name(const char *name);

typedef enum http_method {
	HM_GET = 0,
	HM_POST,
	HM_PUT,
	HM_PATCH,
	HM_DELETE,
	HM_HEAD,
	HM__N
} http_method;

/* Upper-case method name ("GET"), or "?" when out of range. */
const char *http_method_name(int m);

#endif
