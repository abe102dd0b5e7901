/*
 * A small HTTP endpoint serving GET /metrics (Prometheus text format) with
 * NNG's HTTP server, for `herd run --metrics-addr HOST:PORT`. What it serves
 * comes from a render callback, called on an NNG thread for each scrape: the
 * caller does its own locking there.
 */
#ifndef HERD_CONTROLLER_METRICS_HTTP_H
#define HERD_CONTROLLER_METRICS_HTTP_H

#include <stddef.h>

#include "common/sbuf.h"

typedef struct metrics_http metrics_http;

/* Appends the page to out; returns 0, or non-zero to answer 500. */
typedef int (*metrics_render_fn)(void *arg, sbuf *out);

/*
 * Listens on addr ("127.0.0.1:9464", "[::1]:9464"; a name that is not an
 * address is refused) and serves GET /metrics. Returns HERD_OK and *out (stop
 * with metrics_http_stop), or HERD_EINVAL / HERD_ENET with a message in err.
 */
int metrics_http_start(const char *addr, metrics_render_fn fn, void *arg, metrics_http **out,
                       char *err, size_t errlen);

/* Stops serving (scrapes in progress finish first) and frees m. NULL is fine. */
void metrics_http_stop(metrics_http *m);

#endif
