/* String names for the metric enums. */
#include <string.h>

#include "common/metric.h"

static const char *const errk_names[ERRK__N] = {
	"connect_refused", "timeout", "reset",        "tls",   "dns",
	"http_4xx",        "http_5xx", "check_failed", "other",
	"ws_handshake_rejected", "ws_bad_accept", "ws_protocol", "ws_closed_abnormally",
	"ws_expect_timeout", "capture_failed", "source_address", "target_not_allowed",
	"ws_message_too_big", "ws_queue_full",
};

const char *errk_name(int kind)
{
	if (kind < 0 || kind >= ERRK__N)
		return "other";
	return errk_names[kind];
}

errk errk_from_name(const char *name)
{
	for (int i = 0; i < ERRK__N; i++)
		if (strcmp(errk_names[i], name) == 0)
			return (errk)i;
	return ERRK_OTHER;
}

static const char *const method_names[HM__N] = {
	"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD",
};

const char *http_method_name(int m)
{
	if (m < 0 || m >= HM__N)
		return "?";
	return method_names[m];
}
