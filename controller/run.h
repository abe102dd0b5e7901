/*
 * One test run from the controller's side: load and check the plan, open the
 * store, start local agents (child processes dialing over ipc://), wait for
 * them, assign each its share with one start instant, merge their batches,
 * print the live line, and at the end judge thresholds, print the summary,
 * export it and record everything in the store.
 */
#ifndef HERD_CONTROLLER_RUN_H
#define HERD_CONTROLLER_RUN_H

/* Exit codes, as k6 where k6 has one. */
#define EXIT_OK 0
#define EXIT_THRESHOLDS 99
#define EXIT_SETUP 103       /* agents or store could not be set up */
#define EXIT_INVALID 104     /* invalid plan or flags */
#define EXIT_INTERRUPTED 105 /* stopped by Ctrl-C or a signal */

typedef struct run_opts {
	const char *plan_path;
	const char *db_path;        /* NULL: $HERD_DB or ./herd.db */
	const char *summary_export; /* NULL: none */
	const char *agent_bin;      /* NULL: found next to herd, then $HERD_AGENT_BIN, then PATH */
	int local_agents;           /* default 1 */
	int workers;                /* workers per local agent, 0: cores / local agents */
	int quiet;                  /* no live line */
} run_opts;

/* Runs the test and returns the process exit code. */
int run_main(const run_opts *o);

#endif
