/*
 * What a finished request means for a journey: its checks (status, header,
 * body, JSON value, duration) and its captures (JSON path, header, regex,
 * cookie) into the VU's variables. Driver-independent: works on the
 * step_result any HTTP driver reports. No I/O.
 */
#ifndef HERD_AGENT_JOURNEY_H
#define HERD_AGENT_JOURNEY_H

#include <stdint.h>

#include "agent/driver.h"
#include "common/plan.h"
#include "common/tmpl.h"

/* A response looked at once: the body parsed as JSON on first need. */
typedef struct journey_resp {
	const step_result *r;
	uint64_t duration_us; /* http_req_duration as recorded */
	void *json;           /* json_t *, parsed lazily; (void *)-1 when not JSON */
} journey_resp;

void journey_resp_init(journey_resp *jr, const step_result *r, uint64_t duration_us);
void journey_resp_fini(journey_resp *jr);

/* 1 when check ck passes. env renders its expected value. */
int journey_check(journey_resp *jr, const plan_check *ck, const tmpl_env *env);

/*
 * Runs capture cp: on success stores the value into vars[cp->var_index]
 * (vars and lens have plan->nvars entries; the old value is freed) and
 * returns 1; returns 0 when nothing was found (the variable keeps its value).
 */
int journey_capture(journey_resp *jr, const plan_capture *cp, char **vars, size_t *lens);

/* The value of header name (case-insensitive) in a raw header block: the
 * last occurrence; *len gets its length. NULL when absent. */
const char *journey_header(const char *block, size_t blen, const char *name, size_t *len);

#endif
