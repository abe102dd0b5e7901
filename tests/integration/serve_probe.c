/*
 * A test driver for herd serve's modules that do not need the run engine,
 * linked with the controller library (tests/integration/serve_test.py):
 *
 *   serve_probe api TOKEN_FILE
 *     serves the API on 127.0.0.1 (a free port, printed as "port N") with
 *     fake providers that print each call ("call run ID"), until stdin
 *     closes;
 *   serve_probe notify URL SECRET_FILE DB RETRIES BACKOFF_MS
 *     delivers one "finished" webhook, recording attempts in the store DB,
 *     and prints "delivered attempts=N" or "failed attempts=N: why".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/auth.h"
#include "common/err.h"
#include "controller/api.h"
#include "controller/notify.h"
#include "controller/store.h"

#define KNOWN_RUN "20261203-010000-ab12"

static int p_runs(void *arg, sbuf *out)
{
	(void)arg;
	printf("call runs\n");
	fflush(stdout);
	sbuf_str(out, "[{\"id\":\"" KNOWN_RUN "\",\"status\":\"running\"}]");
	return 200;
}

static int p_run(void *arg, const char *id, sbuf *out)
{
	(void)arg;
	printf("call run %s\n", id);
	fflush(stdout);
	if (strcmp(id, KNOWN_RUN) != 0) {
		sbuf_printf(out, "no run '%s'", id);
		return 404;
	}
	sbuf_str(out, "{\"id\":\"" KNOWN_RUN "\",\"status\":\"running\"}");
	return 200;
}

static int p_abort(void *arg, const char *id, const char *reason, sbuf *out)
{
	(void)arg;
	printf("call abort %s %s\n", id, reason ? reason : "-");
	fflush(stdout);
	if (strcmp(id, KNOWN_RUN) != 0) {
		sbuf_printf(out, "no run '%s'", id);
		return 404;
	}
	sbuf_str(out, "{\"aborting\":\"" KNOWN_RUN "\"}");
	return 202;
}

static int p_schedules(void *arg, sbuf *out)
{
	(void)arg;
	printf("call schedules\n");
	fflush(stdout);
	sbuf_str(out, "[{\"name\":\"nightly\",\"next\":\"2026-12-04 02:00 CET\"}]");
	return 200;
}

static int p_agents(void *arg, sbuf *out)
{
	(void)arg;
	printf("call agents\n");
	fflush(stdout);
	sbuf_str(out, "[{\"id\":\"a1\"},{\"id\":\"a2\"}]");
	return 200;
}

static int p_metrics(void *arg, sbuf *out)
{
	(void)arg;
	printf("call metrics\n");
	fflush(stdout);
	sbuf_str(out, "# TYPE herd_agents gauge\nherd_agents 2\n");
	return 200;
}

static int run_api(const char *token_file)
{
	static auth_token tok;
	char err[512];
	api *a = NULL;
	api_providers p = {NULL, p_runs, p_run, p_abort, p_schedules, p_agents, p_metrics, NULL};
	if (auth_token_load(token_file, &tok, err, sizeof(err)) != HERD_OK ||
	    api_start("127.0.0.1:0", &tok, &p, &a, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "serve_probe: %s\n", err);
		return 1;
	}
	printf("port %d\n", api_port(a));
	fflush(stdout);
	while (getchar() != EOF)
		;
	api_stop(a);
	auth_token_wipe(&tok);
	printf("stopped\n");
	return 0;
}

static int run_notify(char **argv)
{
	static auth_token secret;
	char err[512];
	store *st = NULL;
	int attempts = 0;
	if (auth_token_load(argv[1], &secret, err, sizeof(err)) != HERD_OK ||
	    store_open(argv[2], &st, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "serve_probe: %s\n", err);
		return 1;
	}
	notify_target t = {.name = "ops-webhook",
	                   .url = argv[0],
	                   .secret = &secret,
	                   .retries = atoi(argv[3]),
	                   .timeout_ms = 5000,
	                   .backoff_ms = atoi(argv[4])};
	notify_event e = {.event = "finished",
	                  .schedule = "nightly",
	                  .slot = 1796259600,
	                  .run_id = NULL,
	                  .verdict = "passed",
	                  .comparison = "{\"p95_delta_pct\":-3.5}",
	                  .report = "/var/lib/herd/reports/nightly.html",
	                  .at_ms = 1796261467000LL};
	int rv = notify_send(&t, &e, st, &attempts, err, sizeof(err));
	if (rv == HERD_OK)
		printf("delivered attempts=%d\n", attempts);
	else
		printf("failed attempts=%d: %s\n", attempts, err);
	store_close(st);
	auth_token_wipe(&secret);
	return rv == HERD_OK ? 0 : 2;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "api") == 0)
		return run_api(argv[2]);
	if (argc == 7 && strcmp(argv[1], "notify") == 0)
		return run_notify(argv + 2);
	fprintf(stderr, "usage: serve_probe api TOKEN_FILE | notify URL SECRET_FILE DB RETRIES BACKOFF_MS\n");
	return 64;
}
