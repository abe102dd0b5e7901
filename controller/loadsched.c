/* The load schedule test hook; see loadsched.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/plan.h"
#include "controller/loadsched.h"

int loadsched_parse(const char *spec, loadsched *out, char *err, size_t errlen)
{
	char buf[1024];
	memset(out, 0, sizeof(*out));
	if (spec == NULL || strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen, "load schedule missing or too long");
		return HERD_EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", spec);
	char *save = NULL;
	for (char *item = strtok_r(buf, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(item, ':'), *end = NULL;
		if (colon == NULL || out->n == LOADSCHED_MAX) {
			snprintf(err, errlen, "'%s': want OFFSET:VALUE (at most %d of them)", item, LOADSCHED_MAX);
			return HERD_EINVAL;
		}
		*colon = '\0';
		int64_t at;
		double v = strtod(colon + 1, &end);
		if (plan_parse_duration(item, &at) != 0 || end == colon + 1 || *end != '\0' || !isfinite(v) || v < 0 ||
		    (out->n > 0 && at <= out->at_ms[out->n - 1])) {
			snprintf(err, errlen, "'%s:%s': want an increasing duration and a load >= 0", item, colon + 1);
			return HERD_EINVAL;
		}
		out->at_ms[out->n] = at;
		out->value[out->n++] = v;
	}
	if (out->n == 0) {
		snprintf(err, errlen, "empty load schedule");
		return HERD_EINVAL;
	}
	return HERD_OK;
}

int loadsched_due(loadsched *ls, int64_t t_ms, double *value)
{
	if (ls->next >= ls->n || t_ms < ls->at_ms[ls->next])
		return 0;
	*value = ls->value[ls->next++];
	return 1;
}
