/* Clocks: monotonic for measuring, real time for agreeing on start instants. */
#ifndef HERD_COMMON_CLOCK_H
#define HERD_COMMON_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t clock_mono_ns(void);
/* CLOCK_REALTIME in nanoseconds. */
int64_t clock_real_ns(void);
/* Sleeps until CLOCK_REALTIME reaches ns (returns at once if past). */
void clock_sleep_until_real(int64_t ns);
/* Sleeps for ms milliseconds. */
void clock_sleep_ms(int64_t ms);

#endif
