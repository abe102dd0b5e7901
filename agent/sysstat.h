/* Process resource use: CPU time, CPU use over windows, resident memory. */
#ifndef HERD_AGENT_SYSSTAT_H
#define HERD_AGENT_SYSSTAT_H

#include <stdint.h>

/* User+system CPU time of this process in microseconds (all threads, from
 * CLOCK_PROCESS_CPUTIME_ID: nanosecond resolution, not /proc's 10 ms ticks);
 * 0 when unknown. */
uint64_t sysstat_cpu_us(void);
/* Resident set size of this process in KiB; 0 when unknown. */
uint64_t sysstat_rss_kb(void);

/*
 * CPU use over windows of at least SYSSTAT_CPU_WINDOW_NS. Polls come at any
 * moment (at once after a command, else once a heartbeat): a rate over a
 * window of a few milliseconds says nothing (one 10 ms scheduler tick in a
 * 20 ms window read as 50%), so a sample shorter than the window keeps the
 * last complete value. Zero-initialize; not thread-safe.
 */
#define SYSSTAT_CPU_WINDOW_NS 500000000LL
typedef struct sysstat_cpu_meter {
	uint64_t prev_us; /* CPU time at the window's start */
	int64_t prev_ns;  /* monotonic time at the window's start (0: none yet) */
	double pct;       /* the last complete window's use, 100 = one core */
} sysstat_cpu_meter;

/* Feeds a sample (cpu_us from sysstat_cpu_us, now_ns monotonic) and returns
 * the CPU use of the last complete window (0 before the first). */
double sysstat_cpu_pct(sysstat_cpu_meter *m, uint64_t cpu_us, int64_t now_ns);

#endif
