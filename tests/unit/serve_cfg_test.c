/* serve.yaml: a full file read back, defaults, and every kind of error at
 * its exact file:line:column. */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "controller/serve_cfg.h"
#include "tests/unit/check.h"

static const char full[] =
    "listen: tls+tcp://0.0.0.0:7400\n"
    "db: /var/lib/herd/herd.db\n"
    "token-file: /etc/herd/token\n"
    "tls: { cert: /etc/herd/c.crt, key: /etc/herd/c.key, ca: /etc/herd/ca.crt }\n"
    "api:\n"
    "  listen: 127.0.0.1:9000\n"
    "schedules:\n"
    "  nightly-checkout:\n"
    "    plan: plans/checkout.yaml\n"
    "    cron: \"0 2 * * 1-5\"\n"
    "    timezone: Europe/Berlin\n"
    "    window: { start: \"02:00\", end: \"04:00\" }\n"
    "    agents: { min: 3, wait: 2m }\n"
    "    notify: [ops-webhook]\n"
    "    maxRate: 250.5\n"
    "    maxVUs: 400\n"
    "  hourly:\n"
    "    plan: /srv/plans/smoke.yaml\n"
    "    cron: \"0 * * * *\"\n"
    "    timezone: UTC\n"
    "notifications:\n"
    "  ops-webhook: { url: https://hooks.example/herd, secret-file: /etc/herd/webhook.key,\n"
    "                 retries: 5, timeout: 3s }\n";

static void test_full(void)
{
	serve_cfg *c = NULL;
	char err[512];
	CHECK_EQ_INT(serve_cfg_parse(full, strlen(full), "/etc/herd/serve.yaml", &c, err, sizeof(err)),
	             HERD_OK);
	if (c == NULL) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	CHECK_EQ_STR(c->listen, "tls+tcp://0.0.0.0:7400");
	CHECK_EQ_STR(c->db, "/var/lib/herd/herd.db");
	CHECK_EQ_STR(c->tls_ca, "/etc/herd/ca.crt");
	CHECK_EQ_STR(c->api_listen, "127.0.0.1:9000");
	/* The API falls back on the daemon's token. */
	CHECK_EQ_STR(c->api_token_file, "/etc/herd/token");
	CHECK_EQ_INT(c->nschedules, 2);
	const serve_schedule *s = serve_cfg_schedule(c, "nightly-checkout");
	CHECK(s != NULL);
	if (s != NULL) {
		CHECK_EQ_STR(s->plan_path, "/etc/herd/plans/checkout.yaml");
		CHECK_EQ_STR(s->tz, "Europe/Berlin");
		CHECK(s->cron.hour == 1u << 2 && s->cron.minute == 1);
		CHECK(s->has_window && s->has_start);
		CHECK_EQ_INT(s->end.hh, 4);
		CHECK_EQ_INT(s->start.hh, 2);
		CHECK_EQ_INT(s->agents_min, 3);
		CHECK_EQ_INT(s->agents_wait_ms, 120000);
		CHECK_EQ_INT(s->nnotify, 1);
		CHECK_EQ_STR(s->notify[0], "ops-webhook");
		CHECK(s->max_rate > 250.4 && s->max_rate < 250.6);
		CHECK_EQ_INT(s->max_vus, 400);
		CHECK_EQ_INT(s->pos.line, 8);
		CHECK_EQ_INT(s->pos.col, 3);
	}
	s = serve_cfg_schedule(c, "hourly");
	CHECK(s != NULL);
	if (s != NULL) {
		CHECK_EQ_STR(s->plan_path, "/srv/plans/smoke.yaml");
		CHECK(!s->has_window);
		CHECK_EQ_INT(s->agents_min, 1);
		CHECK_EQ_INT(s->agents_wait_ms, SERVE_AGENTS_WAIT_MS);
		CHECK_EQ_INT(s->max_vus, 0);
	}
	const serve_notification *n = serve_cfg_notification(c, "ops-webhook");
	CHECK(n != NULL);
	if (n != NULL) {
		CHECK_EQ_INT(n->retries, 5);
		CHECK_EQ_INT(n->timeout_ms, 3000);
		CHECK_EQ_STR(n->secret_file, "/etc/herd/webhook.key");
	}
	serve_cfg_free(c);
}

static void test_defaults(void)
{
	static const char t[] = "listen: tcp://127.0.0.1:7400\n"
	                        "api: { token-file: /etc/herd/api.token }\n"
	                        "notifications:\n"
	                        "  w: { url: http://127.0.0.1:9/h, secret-file: k }\n";
	serve_cfg *c = NULL;
	char err[512];
	CHECK_EQ_INT(serve_cfg_parse(t, strlen(t), "serve.yaml", &c, err, sizeof(err)), HERD_OK);
	if (c == NULL)
		return;
	CHECK_EQ_STR(c->db, "herd.db");
	CHECK_EQ_STR(c->api_listen, SERVE_API_DEFAULT_LISTEN);
	CHECK_EQ_STR(c->api_token_file, "/etc/herd/api.token");
	CHECK_EQ_INT(c->notifications[0].retries, SERVE_NOTIFY_RETRIES);
	CHECK_EQ_INT(c->notifications[0].timeout_ms, SERVE_NOTIFY_TIMEOUT_MS);
	serve_cfg_free(c);
	/* No api: no API. */
	static const char t2[] = "listen: tcp://127.0.0.1:7400\n";
	CHECK_EQ_INT(serve_cfg_parse(t2, strlen(t2), "serve.yaml", &c, err, sizeof(err)), HERD_OK);
	if (c != NULL) {
		CHECK(!c->has_api && c->api_listen == NULL);
		serve_cfg_free(c);
	}
}

/* text must fail with exactly this message. */
static void expect_err(const char *text, const char *want)
{
	serve_cfg *c = NULL;
	char err[512] = "";
	int rv = serve_cfg_parse(text, strlen(text), "s.yaml", &c, err, sizeof(err));
	CHECK(rv != HERD_OK);
	CHECK(c == NULL);
	if (strcmp(err, want) != 0)
		fprintf(stderr, "for:\n%s\n got: %s\nwant: %s\n", text, err, want);
	CHECK_EQ_STR(err, want);
	serve_cfg_free(c);
}

#define L "listen: tcp://127.0.0.1:7400\n"

static void test_errors(void)
{
	expect_err(L "scheduels: {}\n",
	           "s.yaml:2:1: unknown key 'scheduels' in serve.yaml (did you mean 'schedules'?)");
	expect_err(L "schedules:\n  a:\n    plan: p.yaml\n    cron: '0 2 * * *'\n    timezone: UTC\n"
	             "    widnow: { end: '04:00' }\n",
	           "s.yaml:7:5: unknown key 'widnow' in a schedule (did you mean 'window'?)");
	expect_err(L "schedules:\n  a:\n    plan: p.yaml\n    cron: '0 2 * * *'\n    timezone: UTC\n"
	             "    window: { end: '04:00', stop: '05:00' }\n",
	           "s.yaml:7:29: unknown key 'stop' in window; expected one of: start, end");
	/* The cron error points at the column inside the quoted expression. */
	expect_err(L "schedules:\n  a:\n    plan: p.yaml\n    cron: \"0 25 * * *\"\n",
	           "s.yaml:5:14: cron '0 25 * * *': column 3: hour 25-25 is outside 0-23");
	expect_err(L "schedules:\n  a:\n    plan: p.yaml\n    cron: '0 2 * * *'\n"
	             "    timezone: Europe/Berlni\n",
	           "s.yaml:6:15: unknown time zone 'Europe/Berlni': use an IANA name of the system's "
	           "tz database, such as Europe/Berlin or UTC");
	expect_err(L "schedules:\n  a:\n    plan: p.yaml\n    cron: '0 2 * * *'\n"
	             "    timezone: Europe\n",
	           "s.yaml:6:15: unknown time zone 'Europe': use an IANA name of the system's "
	           "tz database, such as Europe/Berlin or UTC");
	expect_err(L "schedules:\n  a:\n    plan: p.yaml\n    cron: '0 2 * * *'\n"
	             "    timezone: ../../etc/passwd\n",
	           "s.yaml:6:15: unknown time zone '../../etc/passwd': use an IANA name of the "
	           "system's tz database, such as Europe/Berlin or UTC");
	expect_err(L "schedules:\n  a:\n    plan: p.yaml\n    cron: '0 2 * * *'\n    timezone: UTC\n"
	             "    window: { end: '24:00' }\n",
	           "s.yaml:7:20: 'end' must be a local time from 00:00 to 23:59, got '24:00'");
	expect_err(L "schedules:\n  a:\n    plan: p.yaml\n    cron: '0 2 * * *'\n",
	           "s.yaml:3:3: schedule 'a' needs 'timezone'");
	expect_err(L "schedules:\n  a:\n    plan: p.yaml\n    cron: '0 2 * * *'\n    timezone: UTC\n"
	             "    window: { start: '02:00' }\n",
	           "s.yaml:3:3: schedule 'a': a window needs its 'end' (\"04:00\")");
	expect_err(L "schedules:\n  a:\n    plan: p.yaml\n    cron: '0 2 * * *'\n    timezone: UTC\n"
	             "    agents: { min: 0 }\n",
	           "s.yaml:7:20: 'min' must be at least 1");
	expect_err(L "schedules:\n  a:\n    plan: p.yaml\n    cron: '0 2 * * *'\n    timezone: UTC\n"
	             "    agents: { wait: 2 }\n",
	           "s.yaml:7:21: 'wait': duration needs a unit, e.g. '10s'");
	expect_err(L "schedules:\n  a:\n    plan: p.yaml\n    cron: '0 2 * * *'\n    timezone: UTC\n"
	             "    maxRate: -3\n",
	           "s.yaml:7:14: 'maxRate' must be above 0 and at most 1e9 requests/s");
	expect_err(L "schedules:\n  a:\n    plan: p.yaml\n    cron: '0 2 * * *'\n    timezone: UTC\n"
	             "    notify: [ops-webhok]\n"
	             "notifications:\n  ops-webhook: { url: 'https://h.example/x', secret-file: k }\n",
	           "s.yaml:7:14: schedule 'a' notifies 'ops-webhok', which notifications: does not "
	           "define (did you mean 'ops-webhook'?)");
	expect_err(L "schedules:\n  'a/../b':\n    plan: p.yaml\n",
	           "s.yaml:3:3: schedule name 'a/../b' may hold only letters, digits, '-', '_' and '.'");
	expect_err(L "notifications:\n  w: { url: 'ftp://h.example/x', secret-file: k }\n",
	           "s.yaml:3:13: 'url' must be http:// or https:// with a host, got 'ftp://h.example/x'");
	expect_err(L "notifications:\n  w: { url: 'https://h.example/x' }\n",
	           "s.yaml:3:3: notification 'w' needs 'secret-file' (every webhook is signed)");
	expect_err(L "notifications:\n  w: { url: 'https://h.example/x', secret-file: k, retries: 11 }\n",
	           "s.yaml:3:61: 'retries' is too large (the limit is 10)");
	expect_err(L "api: { listen: localhost }\n",
	           "s.yaml:2:16: 'listen' of the API is HOST:PORT (such as 127.0.0.1:7401), got "
	           "'localhost'");
	expect_err(L "api: { listen: '127.0.0.1:7401' }\n",
	           "s.yaml:1:1: the API needs a bearer token: api: { token-file: FILE } (or a "
	           "token-file: for the whole daemon)");
	expect_err("db: x.db\n", "s.yaml:1:1: serve.yaml needs 'listen' (where agents connect, such "
	                         "as tls+tcp://0.0.0.0:7400)");
	expect_err("listen: tls+tcp://0.0.0.0:7400\ntls: { cert: c }\n",
	           "s.yaml:1:1: 'listen: tls+tcp://0.0.0.0:7400' needs tls: { cert, key, ca }");
	expect_err("listen: http://0.0.0.0:7400\n", "s.yaml:1:9: 'listen' is tcp://HOST:PORT, "
	                                            "tls+tcp://HOST:PORT or ipc:///path, got "
	                                            "'http://0.0.0.0:7400'");
	expect_err(L "schedules:\n  a:\n    plan: '{{ env(\"P\") }}'\n",
	           "s.yaml:4:11: 'plan': serve.yaml has no templates");
	expect_err(L "schedules: [a, b]\n", "s.yaml:2:12: 'schedules' must be a mapping, not a list");
	expect_err(L "listen: tcp://127.0.0.1:1\n", "s.yaml:2:1: YAML syntax error: duplicate key");
	expect_err("- a\n", "s.yaml:1:1: serve.yaml must be a mapping (listen:, schedules:, ...), not "
	                    "a list");
	expect_err("# nothing\n", "s.yaml:1:1: serve.yaml is empty");
	expect_err(L "db: \"a\xff\"\n", "s.yaml:2:7: the file is not valid UTF-8");
}

int main(void)
{
	test_full();
	test_defaults();
	test_errors();
	return check_done();
}
