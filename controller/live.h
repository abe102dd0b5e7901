/*
 * The live status line: per interval, requests, failures, VUs and a latency
 * histogram, and for WebSocket the sessions in progress, ended and failed,
 * the messages and a round-trip histogram, kept for the last few intervals
 * only. One line per second; on a terminal the line is rewritten in place.
 * A run with WebSocket steps shows their figures; one without HTTP steps
 * shows only those.
 */
#ifndef HERD_CONTROLLER_LIVE_H
#define HERD_CONTROLLER_LIVE_H

#include <stdint.h>
#include <stdio.h>

#include "proto/wire.h"

typedef struct live live;

int live_new(live **out);
void live_free(live *lv);
/* Adds one merged batch. Not thread-safe: the caller serializes. */
void live_add(live *lv, int64_t interval_ms, const wire_entry *e, size_t n);
/* Prints the line for the last complete interval before elapsed_ms. */
void live_print(live *lv, FILE *f, int64_t elapsed_ms, int64_t total_ms, int agents_up, int agents,
                const char *stage);
/* Ends the line in place on a terminal. */
void live_end(live *lv, FILE *f);

#endif
