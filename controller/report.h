/*
 * `herd report`: one self-contained HTML file for a stored run (inline CSS
 * and SVG, no script, no request of any kind: a Content-Security-Policy of
 * default-src 'none' makes the browser refuse one should it ever appear).
 * Charts per interval: requests/s by status class, latency p50/p95/p99 from
 * each interval's merged histogram with threshold limits and their first
 * breach, errors by kind, VUs, dropped iterations, WebSocket RTT and
 * sessions, requests/s per agent, events as markers; tables of key figures,
 * thresholds, agents and events; the summary and the plan as text.
 */
#ifndef HERD_CONTROLLER_REPORT_H
#define HERD_CONTROLLER_REPORT_H

#include <stdio.h>

#include "controller/store.h"

/* Writes the report of run_id to out. Returns HERD_OK, HERD_ENOTFOUND,
 * HERD_ENOMEM, HERD_EIO or HERD_ESTORE with the reason in err. */
int report_write(store *st, const char *run_id, FILE *out, char *err, size_t errlen);

#endif
