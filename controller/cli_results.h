/* `herd results ...`: the command line of the results store (list, show,
 * compare, baseline, export). Parsing and wiring only. */
#ifndef HERD_CONTROLLER_CLI_RESULTS_H
#define HERD_CONTROLLER_CLI_RESULTS_H

/* Runs `herd results` with argv[0] == "results"; returns the exit code. */
int cli_results(int argc, char **argv);

#endif
