/* Reads /proc/self/stat and /proc/self/statm; see sysstat.h. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/sysstat.h"

uint64_t sysstat_cpu_us(void)
{
	char buf[1024];
	unsigned long long ut = 0, st = 0;
	FILE *f = fopen("/proc/self/stat", "r");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after the command name, which may hold spaces: start after ')'. */
	char *p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	long hz = sysconf(_SC_CLK_TCK);
	return (ut + st) * 1000000ull / (unsigned long long)(hz > 0 ? hz : 100);
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
