/*
 * Exports of a stored run for other tools: per-interval points as JSON lines
 * in the layout of k6's `--out json` or as CSV with k6's `--out csv`
 * columns, and a JUnit XML report of thresholds and checks for CI systems.
 * Reads the store; writes only to the FILE it is given.
 */
#ifndef HERD_CONTROLLER_EXPORT_H
#define HERD_CONTROLLER_EXPORT_H

#include <stdio.h>

#include "controller/store.h"

typedef enum export_format { EXPORT_JSON = 0, EXPORT_CSV, EXPORT_JUNIT } export_format;

/* Parses "json", "csv" or "junit". Returns 0, or -1 for anything else. */
int export_format_parse(const char *s, export_format *out);

/*
 * Writes run_id in fmt to out. Points: one per stored interval, series and
 * k6 metric fed by it (a counter's count or bytes, a rate's fraction, a
 * gauge's value, a trend's mean in ms with its count and percentiles beside
 * it), timed at the interval's start, tagged with scenario, name, method,
 * status (a class such as "2xx"; a close code for ws_close_codes), agent
 * (its name) and the series' own tags (flow, group, check, the user's).
 * JUnit: one testsuite per scenario (and one for thresholds on the whole
 * run), one testcase per threshold and per named check, failures with the
 * observed value. Returns HERD_OK, HERD_ENOTFOUND, HERD_ENOMEM, HERD_EIO or
 * HERD_ESTORE, with the reason in err.
 */
int export_run(store *st, const char *run_id, export_format fmt, FILE *out, char *err,
               size_t errlen);

/* Writes s as XML/HTML text or attribute value: <, >, & and " escaped, the
 * control characters XML 1.0 forbids left out. NULL writes nothing. */
void export_xml_text(FILE *o, const char *s);

#endif
