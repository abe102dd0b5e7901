/* `herd results ...`: the command line of the results store (list, show,
 * compare, baseline, export). Parsing and wiring only. */
#ifndef HERD_CONTROLLER_CLI_RESULTS_H
#define HERD_CONTROLLER_CLI_RESULTS_H

#include "controller/store.h"

/* Runs `herd results` with argv[0] == "results"; returns the exit code. */
int cli_results(int argc, char **argv);

/* Runs `herd report RUN [-o FILE]` with argv[0] == "report". */
int cli_report(int argc, char **argv);

/* Writes the HTML report of run_id to path ("-": standard output) and says
 * where on stderr. Returns an exit code (0, 1 for an unknown run, 103). */
int report_to_file(store *st, const char *run_id, const char *path);

/* After `herd run`: writes the stored run's HTML report and JUnit file where
 * asked (NULL: not asked). Returns 0 or an exit code (103). */
int cli_after_run(const char *db, const char *run_id, const char *report, const char *junit);

#endif
