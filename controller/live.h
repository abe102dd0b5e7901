/*
 * The live status line, read from the live window (window.h): per
 * interval, requests, failures, VUs and the latency p95, and for WebSocket
 * the sessions in progress, ended and failed, the messages and the
 * round-trip p95. One line per second; on a terminal the line is rewritten
 * in place. A run with WebSocket steps shows their figures; one without
 * HTTP steps shows only those.
 */
#ifndef HERD_CONTROLLER_LIVE_H
#define HERD_CONTROLLER_LIVE_H

#include <stdint.h>
#include <stdio.h>

#include "controller/window.h"

typedef struct live live;

int live_new(live **out);
void live_free(live *lv);
/* Prints the line for the last complete interval of w before elapsed_ms.
 * The caller keeps w from changing meanwhile (the engine's on_tick). */
void live_print(live *lv, FILE *f, const win *w, int64_t elapsed_ms, int64_t total_ms, int agents_up,
                int agents, const char *stage);
/* Ends the line in place on a terminal. */
void live_end(live *lv, FILE *f);

#endif
