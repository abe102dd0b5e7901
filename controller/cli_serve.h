/* `herd serve` and `herd schedule`: the command line of the scheduling
 * daemon. Parsing and wiring only; the logic is in serve_cfg, slot,
 * store_serve, notify and api. */
#ifndef HERD_CONTROLLER_CLI_SERVE_H
#define HERD_CONTROLLER_CLI_SERVE_H

/* Runs `herd schedule list|run ...` with argv[0] == "schedule"; returns the exit code. */
int cli_schedule(int argc, char **argv);

/* Runs `herd serve --config FILE` with argv[0] == "serve": checks the
 * configuration (serve.yaml, the plans and the token and secret files it
 * names) and, until the run engine lands, says that the daemon loop is not
 * in this build (exit 104). */
int cli_serve(int argc, char **argv);

#endif
