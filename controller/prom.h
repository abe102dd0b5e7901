/*
 * The Prometheus text exposition format (version 0.0.4) of a run's merged
 * results, for `herd run --metrics-addr`. Counters per series with an
 * `agent` label (PromQL's sum() over agents is exact for counters); latency
 * as summaries whose quantiles come from the histograms merged across
 * agents, never averaged. Names are k6's with a `herd_` prefix and
 * Prometheus' unit suffixes; labels as k6's Prometheus output: scenario,
 * name, method, status (a class, "2xx"), plus agent and the series' own tags
 * (flow, group, phase, the plan's). A pure renderer: no I/O, no locking.
 */
#ifndef HERD_CONTROLLER_PROM_H
#define HERD_CONTROLLER_PROM_H

#include "common/sbuf.h"
#include "controller/results.h"

/* Agents' names by id, for the agent label (an id not here is shown as is). */
typedef struct prom_names {
	const char *const *ids, *const *names;
	size_t n;
} prom_names;

/* Appends the exposition of r to out (out->oom tells a failed allocation).
 * run_id and plan label the herd_run_info gauge; nm may be NULL. Returns
 * HERD_OK or HERD_ENOMEM. */
int prom_render(const results *r, const char *run_id, const char *plan, const prom_names *nm,
                sbuf *out);

#endif
