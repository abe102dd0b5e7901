/* herd-agent: argument parsing and wiring; the work is in link.c and engine.c. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "agent/allow.h"
#include "agent/engine.h"
#include "agent/link.h"
#include "agent/tcp.h"
#include "common/auth.h"
#include "common/err.h"
#include "common/log.h"
#include "common/plan.h"
#include "common/srcaddr.h"
#include "proto/wire.h"

static volatile sig_atomic_t quit, quit_signal;

/* SIGINT, SIGTERM, SIGHUP: the first stops a run gracefully (link.c), the
 * second at once. */
static void on_signal(int sig)
{
	quit++;
	quit_signal = sig;
}

/* Catches the stop signals, except one ignored when we were started: a
 * local agent inherits SIGINT, SIGTERM and SIGHUP ignored from its
 * controller, which alone decides when it stops (a terminal's Ctrl-C or
 * hangup, `timeout` or a service manager's stop reach only the controller),
 * and `nohup herd-agent` keeps its meaning. */
static void catch_stop_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa = { .sa_handler = on_signal }, old;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
			sigaction(sigs[i], &sa, NULL);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: herd-agent --controller URL [--token-file FILE] [--name NAME] [--workers N]\n"
	           "                  [--allow-target HOST[:PORT]|CIDR,...] [--lost-controller-timeout 3s]\n"
	           "                  [--tls-cert FILE --tls-key FILE --tls-ca FILE [--tls-server-name NAME]]\n"
	           "                  [--http-driver auto|curl|lean] [--once]\n"
	           "                  [--source-addresses ADDR|FIRST-LAST,...]\n"
	           "URL: tcp://HOST:PORT, tls+tcp://HOST:PORT or ipc:///path\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "controller", required_argument, NULL, 'c' },
		{ "name", required_argument, NULL, 'n' },
		{ "workers", required_argument, NULL, 'w' },
		{ "lost-controller-timeout", required_argument, NULL, 'l' },
		{ "once", no_argument, NULL, 'o' },
		{ "token-file", required_argument, NULL, 't' },
		{ "allow-target", required_argument, NULL, 'A' },
		{ "tls-cert", required_argument, NULL, 'C' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "tls-ca", required_argument, NULL, 'R' },
		{ "tls-server-name", required_argument, NULL, 'N' },
		{ "http-driver", required_argument, NULL, 'D' },
		{ "source-addresses", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	link_cfg cfg = { .lost_controller_ms = 3000, .max_queued = 3600, .quit = &quit, .quit_signal = &quit_signal };
	auth_token token;
	allow *allow_list = NULL;
	srcaddr_pool src = { 0 };
	const char *token_file = NULL;
	int driver_flag = 0;
	char err[512];
	int c, rv;

	log_init("agent");
	while ((c = getopt_long(argc, argv, "c:n:w:l:oh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': cfg.url = optarg; break;
		case 'n': cfg.name = optarg; break;
		case 'w': cfg.workers = atoi(optarg); break;
		case 'l':
			if (plan_parse_duration(optarg, &cfg.lost_controller_ms) != HERD_OK) {
				fprintf(stderr, "herd-agent: --lost-controller-timeout: bad duration '%s'\n", optarg);
				return 2;
			}
			break;
		case 'o': cfg.once = 1; break;
		case 't': token_file = optarg; break;
		case 'A':
			allow_free(allow_list);
			allow_list = NULL;
			if (allow_parse(optarg, &allow_list, err, sizeof(err)) != HERD_OK) {
				fprintf(stderr, "herd-agent: %s\n", err);
				return 2;
			}
			break;
		case 'C': cfg.tls.cert = optarg; break;
		case 'K': cfg.tls.key = optarg; break;
		case 'R': cfg.tls.ca = optarg; break;
		case 'N': cfg.tls.server_name = optarg; break;
		case 'D':
			if (hdrv_parse(optarg, &cfg.http_driver) != HERD_OK) {
				fprintf(stderr, "herd-agent: --http-driver: expected 'auto', 'curl' or 'lean', got '%s'\n",
				        optarg);
				return 2;
			}
			driver_flag = 1;
			break;
		case 'S':
			srcaddr_pool_fini(&src);
			if (srcaddr_parse(optarg, &src, err, sizeof(err)) != HERD_OK) {
				fprintf(stderr, "herd-agent: %s\n", err);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (cfg.url == NULL) {
		usage(stderr);
		return 2;
	}
	if (cfg.tls.server_name != NULL && strncmp(cfg.url, "tls+tcp://", 10) != 0) {
		fprintf(stderr, "herd-agent: --tls-server-name needs a tls+tcp:// controller address\n");
		return 2;
	}
	if (token_file != NULL) {
		if (auth_token_load(token_file, &token, err, sizeof(err)) != HERD_OK) {
			fprintf(stderr, "herd-agent: %s\n", err);
			return 2;
		}
		if (token.loose_perms)
			log_warn("%s is readable by other users: chmod 600 it", token_file);
		cfg.token = &token;
	}
	cfg.allow = allow_list;
	/* Tests of the drivers' own checks skip the one made on the assignment. */
	cfg.allow_late = getenv("HERD_ALLOW_PLAN_CHECK_SKIP") != NULL && strcmp(getenv("HERD_ALLOW_PLAN_CHECK_SKIP"), "1") == 0;
	if (src.n > 0) {
		/* An address this host does not have would fail every connection:
		 * refuse now, before joining. (Tests of the failure at connect time
		 * skip the check.) */
		const char *skip = getenv("HERD_SOURCE_CHECK_SKIP");
		int check = skip == NULL || strcmp(skip, "1") != 0;
		if (check && tcp_check_sources(&src, err, sizeof(err)) != HERD_OK) {
			fprintf(stderr, "herd-agent: %s\n", err);
			srcaddr_pool_fini(&src);
			return 2;
		}
		log_info("%zu source address%s, %s to %s, one per VU in turn", src.n, src.n == 1 ? "" : "es",
		         srcaddr_name(&src.a[0]), srcaddr_name(&src.a[src.n - 1]));
		cfg.src = &src;
	}
	/* The environment sets the default so local agents follow their controller's. */
	if (!driver_flag && getenv("HERD_HTTP_DRIVER") != NULL &&
	    hdrv_parse(getenv("HERD_HTTP_DRIVER"), &cfg.http_driver) != HERD_OK) {
		fprintf(stderr, "herd-agent: HERD_HTTP_DRIVER: expected 'auto', 'curl' or 'lean', got '%s'\n",
		        getenv("HERD_HTTP_DRIVER"));
		return 2;
	}
	if (getenv("HERD_WIRE_VERSION") != NULL) /* tests of version refusal only */
		wire_set_version_for_tests((uint32_t)atoi(getenv("HERD_WIRE_VERSION")));
	catch_stop_signals();
	signal(SIGPIPE, SIG_IGN);
	/* Every VU holds a socket: take all the file descriptors we are allowed. */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &nofile) != 0)
			log_warn("cannot raise the open-file limit: %s", strerror(errno));
	}
	if (engine_global_init() != HERD_OK) {
		log_error("libcurl initialisation failed");
		return 1;
	}
	rv = link_run(&cfg);
	engine_global_fini();
	allow_free(allow_list);
	srcaddr_pool_fini(&src);
	if (cfg.token != NULL)
		auth_token_wipe(&token);
	return rv == HERD_OK ? 0 : 1;
}
