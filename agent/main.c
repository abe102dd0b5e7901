/* herd-agent: argument parsing and wiring; the work is in link.c and engine.c. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/engine.h"
#include "agent/link.h"
#include "common/err.h"
#include "common/log.h"
#include "common/plan.h"

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: herd-agent --controller URL [--name NAME] [--workers N]\n"
	           "                  [--lost-controller-timeout DURATION] [--once]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "controller", required_argument, NULL, 'c' },
		{ "name", required_argument, NULL, 'n' },
		{ "workers", required_argument, NULL, 'w' },
		{ "lost-controller-timeout", required_argument, NULL, 'l' },
		{ "once", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	link_cfg cfg = { .lost_controller_ms = 3000, .max_queued = 3600, .quit = &quit };
	int c;

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
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (cfg.url == NULL) {
		usage(stderr);
		return 2;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (engine_global_init() != HERD_OK) {
		log_error("libcurl initialisation failed");
		return 1;
	}
	int rv = link_run(&cfg);
	engine_global_fini();
	return rv == HERD_OK ? 0 : 1;
}
