/* Process resource use from /proc: CPU time and resident memory. */
#ifndef HERD_AGENT_SYSSTAT_H
#define HERD_AGENT_SYSSTAT_H

#include <stdint.h>

/* User+system CPU time of this process in microseconds; 0 when unknown. */
uint64_t sysstat_cpu_us(void);
/* Resident set size of this process in KiB; 0 when unknown. */
uint64_t sysstat_rss_kb(void);

#endif
