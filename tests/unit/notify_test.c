/* Webhook bodies, their signature (checked against Python's hmac over the
 * same bytes) and the backoff between attempts. Delivery over HTTP is
 * tested in tests/integration/serve_test.py. */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "controller/notify.h"
#include "tests/unit/check.h"

int main(void)
{
	auth_token key = {.len = 0};
	const char *k = "0123456789abcdef-secret";
	memcpy(key.bytes, k, strlen(k));
	key.len = strlen(k);

	notify_event e = {.event = "skipped",
	                  .schedule = "nightly",
	                  .slot = 1796259600,
	                  .reason = "would not fit: needs 25m, the window ends in 10m",
	                  .at_ms = 1796259601500LL};
	char *body = NULL, sig[NOTIFY_SIG_LEN];
	CHECK_EQ_INT(notify_body(&e, &body), HERD_OK);
	CHECK_EQ_STR(body, "{\"event\":\"skipped\",\"schedule\":\"nightly\",\"slot\":\"2026-12-03T01:00:00Z\","
	                   "\"run_id\":null,\"verdict\":null,\"reason\":\"would not fit: needs 25m, the "
	                   "window ends in 10m\",\"comparison\":null,\"report\":null,"
	                   "\"at\":\"2026-12-03T01:00:01Z\"}");
	/* python3: hmac.new(key, body, hashlib.sha256).hexdigest() */
	CHECK_EQ_INT(notify_sign(&key, body, strlen(body), sig), HERD_OK);
	CHECK_EQ_STR(sig, "sha256=1ee57c6689d34e30f8c441968cedc142f10ef4ac8c876131991c3d627727b45c");
	/* One byte more is another signature. */
	body[strlen(body) - 2] = 'Y';
	char sig2[NOTIFY_SIG_LEN];
	CHECK_EQ_INT(notify_sign(&key, body, strlen(body), sig2), HERD_OK);
	CHECK(strcmp(sig, sig2) != 0);
	free(body);

	/* A finished run with its comparison embedded as JSON, a quote escaped. */
	notify_event f = {.event = "finished",
	                  .schedule = "nightly",
	                  .slot = 1796259600,
	                  .run_id = "20261203-010000-ab12",
	                  .verdict = "passed",
	                  .reason = "a \"quoted\" word",
	                  .comparison = "{\"p95_delta_pct\": -3.5, \"error_rate_delta\": 0}",
	                  .report = "/var/lib/herd/r.html",
	                  .at_ms = 1796261467000LL};
	CHECK_EQ_INT(notify_body(&f, &body), HERD_OK);
	CHECK_CONTAINS(body, "\"comparison\":{\"p95_delta_pct\":-3.5,\"error_rate_delta\":0}");
	CHECK_CONTAINS(body, "\"reason\":\"a \\\"quoted\\\" word\"");
	CHECK_CONTAINS(body, "\"run_id\":\"20261203-010000-ab12\",\"verdict\":\"passed\"");
	free(body);
	f.comparison = "[1, 2]";
	CHECK_EQ_INT(notify_body(&f, &body), HERD_EINVAL);
	f.comparison = "{bad";
	CHECK_EQ_INT(notify_body(&f, &body), HERD_EINVAL);
	f.comparison = NULL;
	f.event = "exploded";
	CHECK_EQ_INT(notify_body(&f, &body), HERD_EINVAL);
	f.event = "aborted";
	CHECK_EQ_INT(notify_body(&f, &body), HERD_OK);
	free(body);
	f.schedule = NULL;
	CHECK_EQ_INT(notify_body(&f, &body), HERD_EINVAL);
	auth_token none = {.len = 0};
	CHECK_EQ_INT(notify_sign(&none, "x", 1, sig), HERD_EINVAL);

	/* Backoff: none before the first attempt, then 1 s, 2 s, 4 s ... capped. */
	notify_target t = {.name = "w", .url = "http://127.0.0.1:1/", .secret = &key};
	CHECK_EQ_INT(notify_backoff_ms(&t, 1), 0);
	CHECK_EQ_INT(notify_backoff_ms(&t, 2), 1000);
	CHECK_EQ_INT(notify_backoff_ms(&t, 3), 2000);
	CHECK_EQ_INT(notify_backoff_ms(&t, 5), 8000);
	CHECK_EQ_INT(notify_backoff_ms(&t, 40), NOTIFY_BACKOFF_MAX_MS);
	t.backoff_ms = 300;
	t.backoff_max_ms = 1000;
	CHECK_EQ_INT(notify_backoff_ms(&t, 4), 1000);
	CHECK_EQ_INT(notify_backoff_ms(&t, 3), 600);
	return check_done();
}
