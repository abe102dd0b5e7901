/* stderr logger; see log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

static const char *component = "herd";
static log_level min_level = LOG_INFO;

void log_init(const char *comp)
{
	const char *env = getenv("HERD_LOG");
	component = comp;
	if (env != NULL) {
		if (strcmp(env, "debug") == 0)
			min_level = LOG_DEBUG;
		else if (strcmp(env, "warn") == 0)
			min_level = LOG_WARN;
		else if (strcmp(env, "error") == 0)
			min_level = LOG_ERROR;
	}
}

void log_set_level(log_level lvl)
{
	min_level = lvl;
}

void log_msg(log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	char line[1024];
	va_list ap;
	struct timespec ts;
	struct tm tm;
	size_t n;

	if (lvl < min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ld %s %s: ", ts.tv_nsec / 1000000,
	                      component, names[lvl]);
	va_start(ap, fmt);
	if (n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	/* one write per line so lines from several processes do not interleave */
	fprintf(stderr, "%s\n", line);
}
