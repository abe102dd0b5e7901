/*
 * `herd run`: the command-line layer around one run of the engine
 * (engine.h). It loads the plan, opens the store and the listener, starts
 * local agents (child processes dialing over ipc://), catches Ctrl-C and
 * SIGTERM, and turns the engine's hooks into the live line, messages, the
 * summary on stdout and --summary-export.
 */
#ifndef HERD_CONTROLLER_RUN_H
#define HERD_CONTROLLER_RUN_H

#include <stdint.h>

#include "common/auth.h"
#include "common/hdrv.h"
#include "common/plan.h"
#include "net/net.h"

#include "controller/outcome.h" /* the exit codes */

typedef struct run_opts {
	const char *plan_path;
	const char *db_path;        /* NULL: $HERD_DB or ./herd.db */
	const char *summary_export; /* NULL: none */
	const char *agent_bin;      /* NULL: found next to herd, then $HERD_AGENT_BIN, then PATH */
	int local_agents;           /* default 1 */
	int workers;                /* workers per local agent, 0: cores / local agents */
	int quiet;                  /* no live line */
	const char *listen;         /* remote agents: listen here (tcp://, tls+tcp://) */
	int agents;                 /* remote agents to wait for (0: the plan's agents.min, else 1) */
	int64_t agents_wait_ms;     /* how long to wait for them (0: the plan's agents.wait, else 60 s) */
	const auth_token *token;    /* NULL: no authentication */
	net_tls_files tls;
	int64_t loss_ms;            /* agent declared lost after this silence (0: 3 s) */
	int on_loss_abort;          /* 1: abort the run when an agent is lost */
	int heartbeat_ms;           /* 0: 1 s */
	const char *agent_weights;  /* "NAME=W,NAME=W": weights by agent name; others: their workers */
	const char *source_addresses; /* local agents' --source-addresses (a checked list), NULL: none */
	const plan_cli *cli;        /* -e, --vus, --duration, --iterations; NULL: none */
	const char *const *labels;  /* --label KEY=VALUE, stored with the run */
	size_t nlabels;
	const char *metrics_addr;   /* --metrics-addr HOST:PORT: serve /metrics while the run lasts */
	char *run_id_out;           /* when not NULL: the run's id, once it is stored */
	size_t run_id_len;
	const char *allow_target;   /* local agents' --allow-target (a checked list), NULL: none */
	hdrv_mode http_driver;      /* --http-driver, as local agents get it (remote agents have their own) */
} run_opts;

/* The weight agent name gets from spec ("a1=2,a2=0.5"), or dflt when not
 * named there. Returns -1 when spec is malformed. (eng_agent_weight) */
double run_agent_weight(const char *spec, const char *name, double dflt);

/* Runs the test and returns the process exit code. */
int run_main(const run_opts *o);

#endif
