/* Reads the process's CPU clock and /proc/self/statm; see sysstat.h. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "agent/sysstat.h"

uint64_t sysstat_cpu_us(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t sysstat_rss_kb(void)
{
	unsigned long long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f == NULL)
		return 0;
	int ok = fscanf(f, "%llu %llu", &size, &rss) == 2;
	fclose(f);
	return ok ? rss * (unsigned long long)sysconf(_SC_PAGESIZE) / 1024 : 0;
}

double sysstat_cpu_pct(sysstat_cpu_meter *m, uint64_t cpu_us, int64_t now_ns)
{
	if (m->prev_ns == 0 || now_ns < m->prev_ns || cpu_us < m->prev_us) {
		m->prev_ns = now_ns;
		m->prev_us = cpu_us;
		return m->pct;
	}
	int64_t span = now_ns - m->prev_ns;
	if (span < SYSSTAT_CPU_WINDOW_NS)
		return m->pct;
	m->pct = (double)(cpu_us - m->prev_us) * 1000.0 * 100.0 / (double)span;
	m->prev_ns = now_ns;
	m->prev_us = cpu_us;
	return m->pct;
}
