/* herd: the command line. Parsing and wiring only; the work is in run.c and store.c. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/allow.h"
#include "common/auth.h"
#include "common/err.h"
#include "common/hdrv.h"
#include "common/hist.h"
#include "common/log.h"
#include "common/plan.h"
#include "common/srcaddr.h"
#include "controller/capacity.h"
#include "controller/cli_results.h"
#include "controller/cli_serve.h"
#include "controller/run.h"
#include "controller/store.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: herd run PLAN.yaml [--local-agents N] [--workers N] [--db FILE]\n"
	        "                          [--summary-export FILE] [--quiet]\n"
	        "                          [--listen URL --agents N [--agents-wait 60s] [--token-file FILE]\n"
	        "                           [--tls-cert FILE --tls-key FILE --tls-ca FILE]\n"
	        "                           [--on-agent-loss continue|abort] [--agent-loss-timeout 3s]\n"
	        "                           [--heartbeat 1s] [--agent-weight NAME=W,...]]\n"
	        "                          [--http-driver auto|curl|lean]\n"
	        "                          [--source-addresses ADDR|FIRST-LAST,...]\n"
	        "                          [-e NAME=VALUE ...] [--vus N] [--duration 30s] [--iterations N]\n"
	        "                          [--report FILE.html] [--junit FILE.xml] [--label KEY=VALUE ...]\n"
	        "                          [--metrics-addr HOST:PORT]\n"
	        "                          [--allow-target HOST[:PORT]|IP[:PORT]|CIDR,...]\n"
	        "       herd results list|show|compare|baseline|export ... (herd results --help)\n"
	        "       herd report RUN [-o FILE.html]\n"
	        "       herd serve --config serve.yaml [--check]   (the daemon: scheduled runs, its API;\n"
	        "                                                  --check only checks the configuration)\n"
	        "       herd schedule list --config serve.yaml [--from TIME]\n"
	        "       herd schedule run NAME --config serve.yaml   (asks the running daemon)\n"
	        "       herd capacity fit RUN [--db FILE] [--scenario NAME]\n"
	        "       herd version\n"
	        "\n"
	        "The results store is ./herd.db unless --db or HERD_DB says otherwise.\n"
	        "Exit codes: 0 passed, 99 thresholds failed (or an abortOnFail threshold aborted the run),\n"
	        "            103 setup or store failed (a capacity or a run's end not stored),\n"
	        "            104 invalid plan or flags (or above maxRate/maxVUs), 105 interrupted,\n"
	        "            107 no load measured, 108 aborted (agent lost),\n"
	        "            109 degraded (an agent lost, part of the load not applied; a search interrupted),\n"
	        "            110 refused (health guard unhealthy before the start), 111 aborted by the health guard,\n"
	        "            112 lower bound (a breaking-point search found no failing load).\n");
}

static int parse_count(const char *flag, const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 1 || v > 4096) {
		fprintf(stderr, "herd: %s: expected a number from 1 to 4096, got '%s'\n", flag, s);
		return -1;
	}
	*out = (int)v;
	return 0;
}

/* -e NAME=VALUE: NAME is spelled as env() accepts it. */
static int env_arg_valid(const char *s)
{
	const char *eq = strchr(s, '=');
	if (eq == NULL || eq == s || (*s >= '0' && *s <= '9'))
		return 0;
	for (const char *p = s; p < eq; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return 0;
	return 1;
}

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "local-agents", required_argument, NULL, 'a' },
		{ "workers", required_argument, NULL, 'w' },
		{ "db", required_argument, NULL, 'd' },
		{ "summary-export", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "listen", required_argument, NULL, 'L' },
		{ "agents", required_argument, NULL, 'n' },
		{ "agents-wait", required_argument, NULL, 'W' },
		{ "token-file", required_argument, NULL, 't' },
		{ "tls-cert", required_argument, NULL, 'C' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "tls-ca", required_argument, NULL, 'R' },
		{ "on-agent-loss", required_argument, NULL, 'O' },
		{ "agent-loss-timeout", required_argument, NULL, 'T' },
		{ "heartbeat", required_argument, NULL, 'H' },
		{ "agent-weight", required_argument, NULL, 'G' },
		{ "http-driver", required_argument, NULL, 'D' },
		{ "source-addresses", required_argument, NULL, 'S' },
		{ "env", required_argument, NULL, 'e' },
		{ "vus", required_argument, NULL, 'V' },
		{ "duration", required_argument, NULL, 'U' },
		{ "iterations", required_argument, NULL, 'I' },
		{ "report", required_argument, NULL, 'P' },
		{ "junit", required_argument, NULL, 'J' },
		{ "label", required_argument, NULL, 'B' },
		{ "metrics-addr", required_argument, NULL, 'M' },
		{ "allow-target", required_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *envs[256]; /* -e values */
	static const char *labels[64]; /* --label values */
	const char *report = NULL, *junit = NULL;
	char run_id[64] = "";
	plan_cli cli = { 0 };
	run_opts o = { .local_agents = 1 };
	int driver_flag = 0;
	const char *token_file = NULL;
	static auth_token token;
	char err[512];
	int64_t ms;
	int c;
	cli.env = envs;
	o.cli = &cli;
	while ((c = getopt_long(argc, argv, "qhe:", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			if (!env_arg_valid(optarg)) {
				fprintf(stderr, "herd: -e: expected NAME=VALUE with NAME of letters, digits and '_' "
				                "(not starting with a digit), got '%s'\n", optarg);
				return EXIT_INVALID;
			}
			if (cli.nenv == sizeof(envs) / sizeof(envs[0])) {
				fprintf(stderr, "herd: -e: at most %zu values\n", sizeof(envs) / sizeof(envs[0]));
				return EXIT_INVALID;
			}
			envs[cli.nenv++] = optarg;
			break;
		case 'P': report = optarg; break;
		case 'M': o.metrics_addr = optarg; break;
		case 'J': junit = optarg; break;
		case 'B':
			if (strchr(optarg, '=') == NULL || *optarg == '=' || strchr(optarg, '\n') != NULL) {
				fprintf(stderr, "herd: --label: expected KEY=VALUE, got '%s'\n", optarg);
				return EXIT_INVALID;
			}
			if (o.nlabels == sizeof(labels) / sizeof(labels[0])) {
				fprintf(stderr, "herd: --label: at most %zu labels\n", sizeof(labels) / sizeof(labels[0]));
				return EXIT_INVALID;
			}
			labels[o.nlabels++] = optarg;
			break;
		case 'V': cli.vus = optarg; break;
		case 'U': cli.duration = optarg; break;
		case 'I': cli.iterations = optarg; break;
		case 'a':
			if (parse_count("--local-agents", optarg, &o.local_agents) != 0)
				return EXIT_INVALID;
			break;
		case 'w':
			if (parse_count("--workers", optarg, &o.workers) != 0)
				return EXIT_INVALID;
			break;
		case 'd': o.db_path = optarg; break;
		case 's': o.summary_export = optarg; break;
		case 'q': o.quiet = 1; break;
		case 'h': usage(stdout); return 0;
		case 'L': o.listen = optarg; break;
		case 'n':
			if (parse_count("--agents", optarg, &o.agents) != 0)
				return EXIT_INVALID;
			break;
		case 'W':
		case 'T':
		case 'H':
			if (plan_parse_duration(optarg, &ms) != HERD_OK || (c != 'W' && ms <= 0)) {
				fprintf(stderr, "herd: bad duration '%s' (write e.g. 3s, 500ms, 1m)\n", optarg);
				return EXIT_INVALID;
			}
			if (c == 'W')
				o.agents_wait_ms = ms;
			else if (c == 'T')
				o.loss_ms = ms;
			else
				o.heartbeat_ms = (int)ms;
			break;
		case 't': token_file = optarg; break;
		case 'D':
			if (hdrv_parse(optarg, &o.http_driver) != HERD_OK) {
				fprintf(stderr, "herd: --http-driver: expected 'auto', 'curl' or 'lean', got '%s'\n", optarg);
				return EXIT_INVALID;
			}
			driver_flag = 1;
			break;
		case 'G':
			if (run_agent_weight(optarg, "", 1) < 0) {
				fprintf(stderr, "herd: --agent-weight: expected NAME=WEIGHT,... with weights above 0, got '%s'\n", optarg);
				return EXIT_INVALID;
			}
			o.agent_weights = optarg;
			break;
		case 'S': {
			/* The local agents check that each address can be bound. */
			srcaddr_pool p;
			if (srcaddr_parse(optarg, &p, err, sizeof(err)) != HERD_OK) {
				fprintf(stderr, "herd: %s\n", err);
				return EXIT_INVALID;
			}
			srcaddr_pool_fini(&p);
			o.source_addresses = optarg;
			break;
		}
		case 'A': {
			/* Checked here with the agents' parser, so a bad list is a flag error. */
			allow *al = NULL;
			if (allow_parse(optarg, &al, err, sizeof(err)) != HERD_OK) {
				fprintf(stderr, "herd: %s\n", err);
				return EXIT_INVALID;
			}
			allow_free(al);
			o.allow_target = optarg;
			break;
		}
		case 'C': o.tls.cert = optarg; break;
		case 'K': o.tls.key = optarg; break;
		case 'R': o.tls.ca = optarg; break;
		case 'O':
			if (strcmp(optarg, "abort") != 0 && strcmp(optarg, "continue") != 0) {
				fprintf(stderr, "herd: --on-agent-loss: expected 'continue' or 'abort', got '%s'\n", optarg);
				return EXIT_INVALID;
			}
			o.on_loss_abort = strcmp(optarg, "abort") == 0;
			break;
		default: usage(stderr); return EXIT_INVALID;
		}
	}
	if (!driver_flag && getenv("HERD_HTTP_DRIVER") != NULL &&
	    hdrv_parse(getenv("HERD_HTTP_DRIVER"), &o.http_driver) != HERD_OK) {
		fprintf(stderr, "herd: HERD_HTTP_DRIVER: expected 'auto', 'curl' or 'lean', got '%s'\n",
		        getenv("HERD_HTTP_DRIVER"));
		return EXIT_INVALID;
	}
	/* Local agents read it from their environment. */
	setenv("HERD_HTTP_DRIVER", hdrv_mode_name(o.http_driver), 1);
	if (o.allow_target != NULL && o.listen != NULL) {
		fprintf(stderr, "herd: --allow-target is for the local agents herd starts; give remote "
		                "agents their own (herd-agent --allow-target)\n");
		return EXIT_INVALID;
	}
	if (o.source_addresses != NULL && o.listen != NULL) {
		fprintf(stderr, "herd: --source-addresses is for the local agents herd starts; give remote "
		                "agents their own (herd-agent --source-addresses)\n");
		return EXIT_INVALID;
	}
	if (o.agents > 0 && o.listen == NULL) {
		fprintf(stderr, "herd: --agents needs --listen URL (where remote agents dial in)\n");
		return EXIT_INVALID;
	}
	if (o.listen != NULL && strncmp(o.listen, "ipc://", 6) != 0 && strncmp(o.listen, "tcp://", 6) != 0 &&
	    strncmp(o.listen, "tls+tcp://", 10) != 0) {
		fprintf(stderr, "herd: --listen: expected tcp://HOST:PORT, tls+tcp://HOST:PORT or ipc:///path\n");
		return EXIT_INVALID;
	}
	if (o.listen != NULL && strncmp(o.listen, "tls+", 4) == 0 && (!o.tls.cert || !o.tls.key || !o.tls.ca)) {
		fprintf(stderr, "herd: tls+tcp:// needs --tls-cert, --tls-key and --tls-ca\n");
		return EXIT_INVALID;
	}
	if (token_file != NULL) {
		if (auth_token_load(token_file, &token, err, sizeof(err)) != HERD_OK) {
			fprintf(stderr, "herd: %s\n", err);
			return EXIT_INVALID;
		}
		if (token.loose_perms)
			fprintf(stderr, "herd: warning: %s is readable by other users: chmod 600 it\n", token_file);
		o.token = &token;
	} else if (o.listen != NULL && strncmp(o.listen, "ipc://", 6) != 0) {
		fprintf(stderr, "herd: warning: listening on %s without --token-file: any agent may join\n", o.listen);
	}
	if (optind != argc - 1) {
		fprintf(stderr, "herd run: expected one plan file\n");
		usage(stderr);
		return EXIT_INVALID;
	}
	o.plan_path = argv[optind];
	o.labels = labels;
	o.run_id_out = run_id;
	o.run_id_len = sizeof(run_id);
	int rc = run_main(&o);
	/* The run is stored (whatever its outcome): its report and JUnit file. */
	if (run_id[0] != '\0' && (report != NULL || junit != NULL)) {
		const char *db = o.db_path ? o.db_path : getenv("HERD_DB") ? getenv("HERD_DB") : "herd.db";
		int wrc = cli_after_run(db, run_id, report, junit);
		if (wrc != 0 && rc == EXIT_OK)
			rc = wrc;
	}
	if (o.token != NULL)
		auth_token_wipe(&token);
	return rc;
}

/* Freed histograms kept for reuse (hist_reuse): the ingest decodes one per
 * series of every batch and frees it once merged, and agents send at the
 * same instant, so one second's batches are in flight at once: 65,536
 * (about 1 GB at most, kept only once that many were live together) covers
 * 1,000 agents of 50 series; 8,192 left a third of them to malloc and memset
 * at 250 agents (12,500 a second). */
#define REUSE_HISTS 65536

int main(int argc, char **argv)
{
	log_init("herd");
	hist_reuse(REUSE_HISTS);
	if (argc < 2) {
		usage(stderr);
		return EXIT_INVALID;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "run") == 0) {
		/* The live line and the summary are the output; log lines only for trouble. */
		if (getenv("HERD_LOG") == NULL)
			log_set_level(LOG_WARN);
		return cmd_run(argc - 1, argv + 1);
	}
	if (strcmp(cmd, "results") == 0)
		return cli_results(argc - 1, argv + 1);
	if (strcmp(cmd, "report") == 0)
		return cli_report(argc - 1, argv + 1);
	if (strcmp(cmd, "schedule") == 0)
		return cli_schedule(argc - 1, argv + 1);
	if (strcmp(cmd, "serve") == 0)
		return cli_serve(argc - 1, argv + 1);
	if (strcmp(cmd, "capacity") == 0)
		return cli_capacity(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("herd %s\n", HERD_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "herd: unknown command '%s'\n", cmd);
	usage(stderr);
	return EXIT_INVALID;
}
