/*
 * The plan parser: YAML text to the plan model of plan.h, through libfyaml's
 * document API. Every error names file:line:column, libfyaml's own
 * diagnostics are captured rather than printed, and nothing is trusted about
 * the input: it may be any bytes, with aliases, deep nesting or huge numbers.
 */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <libfyaml.h>
#include <mbedtls/base64.h>

#include "common/err.h"
#include "common/jpath.h"
#include "common/plan_int.h"
#include "common/sbuf.h"
#include "common/threshold.h"


static const char *const executor_names[] = {
	[EXEC_CONSTANT_VUS] = "constant-vus",
	[EXEC_RAMPING_VUS] = "ramping-vus",
	[EXEC_CONSTANT_ARRIVAL_RATE] = "constant-arrival-rate",
	[EXEC_PER_VU_ITERATIONS] = "per-vu-iterations",
	[EXEC_RAMPING_ARRIVAL_RATE] = "ramping-arrival-rate",
	[EXEC_SHARED_ITERATIONS] = "shared-iterations",
	[EXEC_BREAKING_POINT] = "breaking-point",
};

static const char executor_list[] = "constant-vus, ramping-vus, constant-arrival-rate, per-vu-iterations, "
                                    "ramping-arrival-rate, shared-iterations, breaking-point";

const char *plan_executor_name(plan_executor e)
{
	if ((unsigned)e >= NELEM(executor_names))
		return "?";
	return executor_names[e];
}

/* ---- Scenarios ---- */

enum {
	S_EXECUTOR = 0,
	S_START_TIME,
	S_GRACEFUL_STOP,
	S_VUS,
	S_DURATION,
	S_ITERATIONS,
	S_MAX_DURATION,
	S_START_VUS,
	S_STAGES,
	S_RATE,
	S_TIME_UNIT,
	S_PRE_ALLOCATED_VUS,
	S_MAX_VUS,
	S_START_RATE,
	S_GRACEFUL_RAMP_DOWN,
	S_FLOW,
	S_FLOWS,
	S_SETUP,
	S_MODEL, /* breaking-point's keys, from here to S__N */
	S_START,
	S_STEP,
	S_FACTOR,
	S_WARMUP,
	S_HOLD,
	S_MAX,
	S_OBJECTIVES,
	S_REFINE,
	S_FAILURES_TO_STOP,
	S__N
};

static const char *const scen_keys[S__N] = {
	"executor",   "startTime",       "gracefulStop", "vus",       "duration",
	"iterations", "maxDuration",     "startVUs",     "stages",    "rate",
	"timeUnit",   "preAllocatedVUs", "maxVUs",       "startRate", "gracefulRampDown",
	"flow",
	"flows",
	"setup",
	"model",      "start",           "step",         "factor",    "warmup",
	"hold",       "max",             "objectives",   "refine",    "failuresToStop",
};

#define X_CV (1u << EXEC_CONSTANT_VUS)
#define X_RV (1u << EXEC_RAMPING_VUS)
#define X_CAR (1u << EXEC_CONSTANT_ARRIVAL_RATE)
#define X_PVI (1u << EXEC_PER_VU_ITERATIONS)
#define X_RAR (1u << EXEC_RAMPING_ARRIVAL_RATE)
#define X_SI (1u << EXEC_SHARED_ITERATIONS)
#define X_BP (1u << EXEC_BREAKING_POINT)
#define X_ALL (X_CV | X_RV | X_CAR | X_PVI | X_RAR | X_SI | X_BP)

/* Which executors use each scenario key. */
static const unsigned scen_key_execs[S__N] = {
	[S_EXECUTOR] = X_ALL,
	[S_START_TIME] = X_ALL,
	[S_GRACEFUL_STOP] = X_ALL,
	[S_VUS] = X_CV | X_PVI | X_SI,
	[S_DURATION] = X_CV | X_CAR,
	[S_ITERATIONS] = X_PVI | X_SI,
	[S_MAX_DURATION] = X_PVI | X_SI,
	[S_START_VUS] = X_RV,
	[S_STAGES] = X_RV | X_RAR,
	[S_RATE] = X_CAR,
	[S_TIME_UNIT] = X_CAR | X_RAR,
	[S_PRE_ALLOCATED_VUS] = X_CAR | X_RAR | X_BP,
	[S_MAX_VUS] = X_CAR | X_RAR | X_BP,
	[S_START_RATE] = X_RAR,
	[S_GRACEFUL_RAMP_DOWN] = X_RV,
	[S_FLOW] = X_ALL,
	[S_FLOWS] = X_ALL,
	[S_SETUP] = X_ALL,
	[S_MODEL] = X_BP,
	[S_START] = X_BP,
	[S_STEP] = X_BP,
	[S_FACTOR] = X_BP,
	[S_WARMUP] = X_BP,
	[S_HOLD] = X_BP,
	[S_MAX] = X_BP,
	[S_OBJECTIVES] = X_BP,
	[S_REFINE] = X_BP,
	[S_FAILURES_TO_STOP] = X_BP,
};

static int parse_executor(pctx *c, const pair *pr, plan_executor *out)
{
	char vb[200];
	size_t len;
	const char *s = node_text(pr->v, &len), *sug;
	skind k = node_kind(pr->v);

	if (k != SK_STR)
		return want_kind(c, pr, k, "an executor name");
	for (size_t i = 0; i < NELEM(executor_names); i++)
		if (text_is(s, len, executor_names[i])) {
			*out = (plan_executor)i;
			return HERD_OK;
		}
	show(s, len, vb, sizeof(vb));
	if (text_is(s, len, "externally-controlled"))
		return perr(c, vloc(pr), "executor '%s' is not supported yet; use one of: %s", vb,
		            executor_list);
	sug = suggest(executor_names, NELEM(executor_names), s, len);
	if (sug != NULL)
		return perr(c, vloc(pr), "unknown executor '%s' (did you mean '%s'?); use one of: %s", vb,
		            sug, executor_list);
	return perr(c, vloc(pr), "unknown executor '%s'; use one of: %s", vb, executor_list);
}

/* A stage's name is printed on the live line: short, and no control bytes. */
static int get_stage_name(pctx *c, const pair *pr, char **out)
{
	char vb[200];
	int rv;

	if ((rv = get_string(c, pr, out)) != 0)
		return rv;
	show(*out, strlen(*out), vb, sizeof(vb));
	if ((*out)[0] == '\0')
		return perr(c, vloc(pr), "a stage's 'name' is empty");
	if (strlen(*out) > 32)
		return perr(c, vloc(pr), "stage name '%s' is too long (the limit is 32 bytes)", vb);
	for (const unsigned char *u = (const unsigned char *)*out; *u != '\0'; u++)
		if (*u < 0x20 || *u == 0x7f)
			return perr(c, vloc(pr), "stage name '%s' contains a control character", vb);
	return HERD_OK;
}

/* Stages of ramping-vus (targets are VUs) and ramping-arrival-rate (rates). */
static int parse_stages(pctx *c, const pair *sp, plan_scenario *s)
{
	static const char *const keys[] = {"duration", "target", "name"};
	void *it = NULL;
	struct fy_node *item;
	where iw;
	int more, rv, n;
	int64_t total = 0;

	if (node_kind(sp->v) != SK_SEQ)
		return want_kind(c, sp, node_kind(sp->v), "a list of '{ duration, target }' stages");
	n = fy_node_sequence_item_count(sp->v);
	if (n <= 0)
		return perr(c, vloc(sp), "'stages' is empty");
	if ((s->stages = calloc((size_t)n, sizeof(*s->stages))) == NULL)
		return poom(c);
	for (;;) {
		void *kit = NULL;
		pair pr;
		int kmore, have[3] = {0, 0, 0};
		plan_stage *st;

		if ((rv = next_item(c, sp->v, &sp->vw, &it, &item, &iw, &more)) != 0)
			return rv;
		if (!more)
			break;
		if (node_kind(item) != SK_MAP)
			return perr(c, at(&iw),
			            "a stage must be a mapping such as '{ duration: 10s, target: 20 }'");
		if (s->nstages == (size_t)n)
			return perr(c, at(&iw), "too many stages");
		st = &s->stages[s->nstages++];
		for (;;) {
			size_t i;
			if ((rv = next_pair(c, item, &iw, &kit, &pr, &kmore)) != 0)
				return rv;
			if (!kmore)
				break;
			i = key_index(keys, NELEM(keys), &pr);
			if (i == 0)
				rv = get_duration(c, &pr, 0, &st->duration_ms);
			else if (i == 1)
				rv = get_int(c, &pr, 0, PLAN_MAX_COUNT, &st->target);
			else if (i == 2)
				rv = get_stage_name(c, &pr, &st->name);
			else
				rv = unknown_key(c, &pr, "in a stage", keys, NELEM(keys));
			if (rv != 0)
				return rv;
			have[i] = 1;
		}
		if (!have[0] || !have[1])
			return perr(c, at(&iw), "a stage needs '%s'", have[0] ? "target" : "duration");
		total += st->duration_ms;
		if (total > PLAN_MAX_DURATION_MS)
			return perr(c, at(&iw), "the stages last too long (the limit is 365 days)");
	}
	if (total == 0)
		return perr(c, vloc(sp), "the stages last 0s; give at least one stage a duration");
	return HERD_OK;
}

#define PLAN_MAX_STEPS 65000 /* a step index fits the agents' 16 bits */
#define PLAN_MAX_GROUP_DEPTH 8

/* A new step at the end of s->steps, zeroed; NULL when out of memory. */
static plan_step *new_step(pctx *c, plan_scenario *s, loc l)
{
	if (s->nsteps >= PLAN_MAX_STEPS) {
		perr(c, l, "too many steps (the limit is %d)", PLAN_MAX_STEPS);
		return NULL;
	}
	plan_step *ns = realloc(s->steps, (s->nsteps + 1) * sizeof(*ns));
	if (ns == NULL) {
		poom(c);
		return NULL;
	}
	s->steps = ns;
	memset(&s->steps[s->nsteps], 0, sizeof(*ns));
	return &s->steps[s->nsteps++];
}

static int parse_steps(pctx *c, const pair *fp, plan_scenario *s, size_t fi, const char *group, int depth);

/* Flow fi of s: PLAN_SETUP_FLOW is the scenario's setup. */
static plan_flow *flow_of(plan_scenario *s, size_t fi)
{
	return fi == PLAN_SETUP_FLOW ? &s->setup : &s->flows[fi];
}

/* `- group: NAME` with `steps:` inside a list of steps. */
static int parse_group(pctx *c, struct fy_node *n, const where *iw, plan_scenario *s, size_t fi,
                       const char *outer, int depth)
{
	static const char *const keys[] = {"group", "steps"};
	void *it = NULL;
	pair pr, kp[2];
	int more, rv, seen[2] = {0, 0};
	char *name = NULL, *path = NULL;
	loc l = at(iw);

	for (;;) {
		if ((rv = next_pair(c, n, iw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			break;
		size_t i = key_index(keys, 2, &pr);
		if (i == 2)
			return perr(c, pr.kl, "a group step takes 'group' and 'steps' only; put '%.*s' on a step inside it",
			            (int)(pr.klen < 60 ? pr.klen : 60), pr.key);
		seen[i] = 1;
		kp[i] = pr;
	}
	if (!seen[1])
		return perr(c, l, "a group needs 'steps'");
	if (depth >= PLAN_MAX_GROUP_DEPTH)
		return perr(c, l, "groups are nested too deeply (the limit is %d)", PLAN_MAX_GROUP_DEPTH);
	if ((rv = get_string(c, &kp[0], &name)) != 0)
		return rv;
	if (name[0] == '\0' || strpbrk(name, "\n{}") != NULL || strstr(name, "::") != NULL) {
		free(name);
		return perr(c, vloc(&kp[0]), "a group needs a name without line breaks, braces or '::'");
	}
	size_t plen = (outer ? strlen(outer) + 2 : 0) + strlen(name) + 1;
	if ((path = malloc(plen)) == NULL) {
		free(name);
		return poom(c);
	}
	snprintf(path, plen, "%s%s%s", outer ? outer : "", outer ? "::" : "", name);
	free(name);

	plan_step *gs = new_step(c, s, l);
	if (gs == NULL) {
		free(path);
		return HERD_ENOMEM;
	}
	size_t begin = s->nsteps - 1;
	gs->kind = STEP_GROUP;
	gs->line = l.line;
	gs->col = l.col;
	gs->flow = (uint16_t)fi;
	gs->group = path;
	if ((rv = parse_steps(c, &kp[1], s, fi, path, depth + 1)) != 0)
		return rv;
	plan_step *ge = new_step(c, s, l);
	if (ge == NULL)
		return HERD_ENOMEM;
	ge->kind = STEP_GROUP_END;
	ge->line = l.line;
	ge->col = l.col;
	ge->flow = (uint16_t)fi;
	ge->group_begin = (uint32_t)begin;
	if ((ge->group = xstrdup(c, s->steps[begin].group)) == NULL)
		return poom(c);
	const plan_flow *f = flow_of(s, fi);
	size_t tl = strlen(f->name) + strlen(ge->group) + 24;
	if ((ge->tagline = malloc(tl)) == NULL)
		return poom(c);
	if (f->setup) /* sorted by key, as build_tagline writes them */
		snprintf(ge->tagline, tl, "group=%s\nphase=setup", ge->group);
	else
		snprintf(ge->tagline, tl, "flow=%s\ngroup=%s", f->name, ge->group);
	return HERD_OK;
}

/* Is n a mapping with a `group` key? */
static int is_group(struct fy_node *n)
{
	return n != NULL && fy_node_is_mapping(n) && fy_node_mapping_lookup_by_string(n, "group", 5) != NULL;
}

/* Appends the steps of list fp to s, as steps of flow fi inside group. */
static int parse_steps(pctx *c, const pair *fp, plan_scenario *s, size_t fi, const char *group, int depth)
{
	void *it = NULL;
	struct fy_node *item;
	where iw;
	int more, rv, n;
	char kb[200];

	key_str(fp, kb, sizeof(kb));
	if (node_kind(fp->v) != SK_SEQ)
		return want_kind(c, fp, node_kind(fp->v), "a list of steps");
	n = fy_node_sequence_item_count(fp->v);
	if (n <= 0)
		return perr(c, vloc(fp), "'%s' is empty; add at least one step", kb);
	for (;;) {
		if ((rv = next_item(c, fp->v, &fp->vw, &it, &item, &iw, &more)) != 0)
			return rv;
		if (!more)
			return HERD_OK;
		if (is_group(item)) {
			if ((rv = parse_group(c, item, &iw, s, fi, group, depth)) != 0)
				return rv;
			continue;
		}
		plan_step *st = new_step(c, s, at(&iw));
		if (st == NULL)
			return HERD_ENOMEM;
		st->flow = (uint16_t)fi;
		if (group != NULL && (st->group = xstrdup(c, group)) == NULL)
			return poom(c);
		if ((rv = parse_step(c, item, &iw, st)) != 0)
			return rv;
		if ((rv = finish_step(c, st, flow_of(s, fi))) != 0)
			return rv;
	}
}

/* Adds flow name (len bytes) to s; its steps follow. */
static int add_flow(pctx *c, plan_scenario *s, const char *name, size_t len, double weight, loc l)
{
	plan_flow *nf = realloc(s->flows, (s->nflows + 1) * sizeof(*nf));
	if (nf == NULL)
		return poom(c);
	s->flows = nf;
	plan_flow *f = &s->flows[s->nflows++];
	memset(f, 0, sizeof(*f));
	f->weight = weight;
	f->first = s->nsteps;
	f->line = l.line;
	f->col = l.col;
	if ((f->name = malloc(len + 1)) == NULL || (f->tagline = malloc(len + 6)) == NULL)
		return poom(c);
	memcpy(f->name, name, len);
	f->name[len] = '\0';
	snprintf(f->tagline, len + 6, "flow=%s", f->name);
	c->nknown = c->base_known; /* a flow sees its own captures and the setup's */
	s->weight_total += weight;
	return HERD_OK;
}

static void end_flow(plan_scenario *s)
{
	plan_flow *f = &s->flows[s->nflows - 1];
	f->nsteps = s->nsteps - f->first;
	for (size_t i = f->first; i < s->nsteps; i++)
		f->feeders |= s->steps[i].feeders;
}

/* `setup:` a list of steps each VU runs once before its first iteration;
 * every flow of the scenario may use what they capture. */
static int parse_setup(pctx *c, const pair *sp, plan_scenario *s)
{
	plan_flow *f = &s->setup;
	int rv;

	f->setup = 1;
	f->first = s->nsteps;
	f->line = sp->kl.line;
	f->col = sp->kl.col;
	if ((f->name = xstrdup(c, "setup")) == NULL || (f->tagline = xstrdup(c, "phase=setup")) == NULL)
		return poom(c);
	c->nknown = 0;
	if ((rv = parse_steps(c, sp, s, PLAN_SETUP_FLOW, NULL, 0)) != 0)
		return rv;
	f->nsteps = s->nsteps - f->first;
	for (size_t i = f->first; i < s->nsteps; i++)
		f->feeders |= s->steps[i].feeders;
	c->base_known = c->nknown;
	return HERD_OK;
}

static int parse_flow(pctx *c, const pair *fp, plan_scenario *s)
{
	int rv;
	if ((rv = add_flow(c, s, "default", 7, 1.0, fp->kl)) != 0)
		return rv;
	if ((rv = parse_steps(c, fp, s, 0, NULL, 0)) != 0)
		return rv;
	end_flow(s);
	return HERD_OK;
}

/* `flows: { NAME: { weight: W, steps: [...] } }` */
static int parse_flows(pctx *c, const pair *fp, plan_scenario *s)
{
	static const char *const keys[] = {"weight", "steps"};
	void *it = NULL;
	pair pr;
	int more, rv;
	char kb[200];

	if (node_kind(fp->v) != SK_MAP)
		return want_kind(c, fp, node_kind(fp->v), "a mapping of flow names to '{ weight, steps }'");
	if (fy_node_mapping_item_count(fp->v) <= 0)
		return perr(c, vloc(fp), "'flows' is empty; add at least one flow");
	for (;;) {
		void *kit = NULL;
		pair kp, steps = {0};
		int kmore, have_steps = 0;
		double weight = 1;
		if ((rv = next_pair(c, fp->v, &fp->vw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			return HERD_OK;
		key_str(&pr, kb, sizeof(kb));
		if (pr.klen == 0 || pr.klen > 64 || memchr(pr.key, '\n', pr.klen) || memchr(pr.key, '{', pr.klen) ||
		    memchr(pr.key, '}', pr.klen))
			return perr(c, pr.kl, "flow name '%s' must be 1 to 64 bytes without line breaks or braces", kb);
		for (size_t i = 0; i < s->nflows; i++)
			if (text_is(pr.key, pr.klen, s->flows[i].name))
				return perr(c, pr.kl, "flow '%s' is defined twice", kb);
		if (s->nflows >= 255)
			return perr(c, pr.kl, "too many flows (the limit is 255)");
		if (node_kind(pr.v) != SK_MAP)
			return want_kind(c, &pr, node_kind(pr.v), "a mapping such as '{ weight: 60, steps: [...] }'");
		for (;;) {
			if ((rv = next_pair(c, pr.v, &pr.vw, &kit, &kp, &kmore)) != 0)
				return rv;
			if (!kmore)
				break;
			size_t i = key_index(keys, 2, &kp);
			if (i == 2)
				return unknown_key(c, &kp, "in a flow", keys, 2);
			if (i == 1) {
				steps = kp;
				have_steps = 1;
				continue;
			}
			size_t len;
			const char *v = node_text(kp.v, &len);
			char vb[64];
			skind k = node_kind(kp.v);
			if ((k != SK_INT && k != SK_FLOAT) || len >= sizeof(vb))
				return want_kind(c, &kp, k, "a positive number");
			memcpy(vb, v, len);
			vb[len] = '\0';
			weight = strtod(vb, NULL);
			if (!(weight > 0) || weight > 1e9)
				return perr(c, vloc(&kp), "a flow's weight must be above 0 (and at most 1e9)");
		}
		if (!have_steps)
			return perr(c, pr.kl, "flow '%s' needs 'steps'", kb);
		if ((rv = add_flow(c, s, pr.key, pr.klen, weight, pr.kl)) != 0)
			return rv;
		if ((rv = parse_steps(c, &steps, s, s->nflows - 1, NULL, 0)) != 0)
			return rv;
		end_flow(s);
	}
}

/* Scenario names appear in tags ("{scenario:browse}"), so keep them simple. */
static int check_scenario_name(pctx *c, const pair *pr)
{
	char kb[200];

	key_str(pr, kb, sizeof(kb));
	if (pr->klen == 0)
		return perr(c, pr->kl, "scenario name is empty");
	if (pr->klen > 64)
		return perr(c, pr->kl, "scenario name '%s' is too long (the limit is 64 bytes)", kb);
	for (size_t i = 0; i < pr->klen; i++) {
		char ch = pr->key[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || is_digit(ch) || ch == '_' ||
		      ch == '-' || ch == '.'))
			return perr(c, pr->kl,
			            "scenario name '%s' may only use letters, digits, '_', '-' and '.'", kb);
	}
	return HERD_OK;
}

static int parse_scenario(pctx *c, const pair *sp, plan_scenario *s)
{
	pair keys[S__N], pr;
	int seen[S__N] = {0};
	int more, rv;
	void *it = NULL;
	char nb[200];

	s->line = sp->kl.line;
	s->col = sp->kl.col;
	s->graceful_stop_ms = 30000;
	s->graceful_ramp_down_ms = 30000;
	s->time_unit_ms = 1000;
	s->vus = 1;
	s->iterations = 1;
	s->max_duration_ms = 600000;
	if ((rv = check_scenario_name(c, sp)) != 0)
		return rv;
	if ((rv = dup_key(c, sp, "a scenario name", &s->name)) != 0)
		return rv;
	show(sp->key, sp->klen, nb, sizeof(nb));
	if (node_kind(sp->v) != SK_MAP)
		return want_kind(c, sp, node_kind(sp->v), "a mapping with an executor and a flow");

	/* First pass: every key is known, and the executor decides which apply. */
	for (;;) {
		size_t i;
		char where[240];
		if ((rv = next_pair(c, sp->v, &sp->vw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			break;
		i = key_index(scen_keys, S__N, &pr);
		snprintf(where, sizeof(where), "in scenario '%s'", nb);
		if (i == S__N)
			return unknown_key(c, &pr, where, scen_keys, S__N);
		seen[i] = 1;
		keys[i] = pr;
	}
	if (!seen[S_EXECUTOR])
		return perr(c, sp->kl, "scenario '%s' has no 'executor'; use one of: %s", nb,
		            executor_list);
	if ((rv = parse_executor(c, &keys[S_EXECUTOR], &s->executor)) != 0)
		return rv;
	/* The setup first, wherever it is written: the flows use its captures. */
	c->nknown = c->base_known = 0;
	if (seen[S_SETUP] && (rv = parse_setup(c, &keys[S_SETUP], s)) != 0)
		return rv;

	it = NULL;
	for (;;) {
		size_t i;
		if ((rv = next_pair(c, sp->v, &sp->vw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			break;
		i = key_index(scen_keys, S__N, &pr);
		if (!(scen_key_execs[i] & (1u << s->executor)))
			return perr(c, pr.kl, "'%s' is not used by executor %s", scen_keys[i],
			            executor_names[s->executor]);
		switch (i) {
		case S_EXECUTOR: break;
		case S_START_TIME: rv = get_duration(c, &pr, 0, &s->start_ms); break;
		case S_GRACEFUL_STOP: rv = get_duration(c, &pr, 0, &s->graceful_stop_ms); break;
		case S_VUS: rv = get_int(c, &pr, 1, PLAN_MAX_COUNT, &s->vus); break;
		case S_DURATION: rv = get_duration(c, &pr, 1, &s->duration_ms); break;
		case S_ITERATIONS: rv = get_int(c, &pr, 1, PLAN_MAX_COUNT, &s->iterations); break;
		case S_MAX_DURATION: rv = get_duration(c, &pr, 1, &s->max_duration_ms); break;
		case S_START_VUS: rv = get_int(c, &pr, 0, PLAN_MAX_COUNT, &s->start_vus); break;
		case S_STAGES: rv = parse_stages(c, &pr, s); break;
		case S_RATE: rv = get_int(c, &pr, 1, PLAN_MAX_COUNT, &s->rate); break;
		case S_TIME_UNIT: rv = get_duration(c, &pr, 1, &s->time_unit_ms); break;
		case S_PRE_ALLOCATED_VUS:
			rv = get_int(c, &pr, 0, PLAN_MAX_COUNT, &s->pre_allocated_vus);
			break;
		case S_MAX_VUS: rv = get_int(c, &pr, 1, PLAN_MAX_COUNT, &s->max_vus); break;
		case S_START_RATE: rv = get_int(c, &pr, 0, PLAN_MAX_COUNT, &s->start_rate); break;
		case S_GRACEFUL_RAMP_DOWN: rv = get_duration(c, &pr, 0, &s->graceful_ramp_down_ms); break;
		case S_FLOW:
			if (seen[S_FLOWS])
				return perr(c, pr.kl, "a scenario has 'flow' or 'flows', not both");
			rv = parse_flow(c, &pr, s);
			break;
		case S_FLOWS: rv = parse_flows(c, &pr, s); break;
		case S_SETUP: break; /* parsed above */
		case S_MODEL:
		case S_START:
		case S_STEP:
		case S_FACTOR:
		case S_WARMUP:
		case S_HOLD:
		case S_MAX:
		case S_OBJECTIVES:
		case S_REFINE:
		case S_FAILURES_TO_STOP: rv = bp_parse_key(c, scen_keys[i], &pr, s); break;
		default: rv = perr(c, pr.kl, "internal error: unhandled scenario key");
		}
		if (rv != 0)
			return rv;
	}

	/* Required keys, in the order a reader would add them. */
	static const int required[][5] = {
	    [EXEC_CONSTANT_VUS] = {S_DURATION, -1},
	    [EXEC_RAMPING_VUS] = {S_STAGES, -1},
	    [EXEC_CONSTANT_ARRIVAL_RATE] = {S_RATE, S_DURATION, S_PRE_ALLOCATED_VUS, -1},
	    [EXEC_PER_VU_ITERATIONS] = {-1},
	    [EXEC_RAMPING_ARRIVAL_RATE] = {S_STAGES, S_PRE_ALLOCATED_VUS, -1},
	    [EXEC_SHARED_ITERATIONS] = {-1},
	    [EXEC_BREAKING_POINT] = {S_MODEL, S_START, S_MAX, S_HOLD, -1},
	};
	for (const int *r = required[s->executor]; *r >= 0; r++)
		if (!seen[*r])
			return perr(c, sp->kl, "scenario '%s': executor %s needs '%s'", nb,
			            executor_names[s->executor], scen_keys[*r]);
	if (!seen[S_FLOW] && !seen[S_FLOWS])
		return perr(c, sp->kl, "scenario '%s' has no 'flow'; add a list of steps", nb);
	if (s->executor == EXEC_BREAKING_POINT && (rv = bp_finish(c, sp, s)) != 0)
		return rv;
	if (s->executor == EXEC_SHARED_ITERATIONS && s->vus > s->iterations)
		return perr(c, vloc(&keys[S_VUS]), "'vus' (%lld) is more than 'iterations' (%lld)",
		            (long long)s->vus, (long long)s->iterations);
	if (s->executor == EXEC_BREAKING_POINT && s->bp.model == PLAN_BP_ARRIVAL_RATE && !seen[S_PRE_ALLOCATED_VUS])
		return perr(c, sp->kl, "scenario '%s': a breaking-point search with model arrival-rate needs "
		            "'preAllocatedVUs'", nb);
	if (s->executor == EXEC_BREAKING_POINT && s->bp.model == PLAN_BP_VUS &&
	    (seen[S_PRE_ALLOCATED_VUS] || seen[S_MAX_VUS]))
		return perr(c, seen[S_MAX_VUS] ? keys[S_MAX_VUS].kl : keys[S_PRE_ALLOCATED_VUS].kl,
		            "'%s' is not used by model vus: its levels are the VUs themselves",
		            seen[S_MAX_VUS] ? "maxVUs" : "preAllocatedVUs");
	if (s->executor == EXEC_CONSTANT_ARRIVAL_RATE || s->executor == EXEC_RAMPING_ARRIVAL_RATE ||
	    (s->executor == EXEC_BREAKING_POINT && s->bp.model == PLAN_BP_ARRIVAL_RATE)) {
		if (!seen[S_MAX_VUS])
			s->max_vus = s->pre_allocated_vus;
		else if (s->max_vus < s->pre_allocated_vus)
			return perr(c, vloc(&keys[S_MAX_VUS]),
			            "'maxVUs' (%lld) is below 'preAllocatedVUs' (%lld)", (long long)s->max_vus,
			            (long long)s->pre_allocated_vus);
		if (s->max_vus == 0)
			return perr(c, vloc(&keys[S_PRE_ALLOCATED_VUS]),
			            "'preAllocatedVUs' is 0 and there is no 'maxVUs'; the scenario needs a VU");
	}
	return HERD_OK;
}

/* The most VUs a scenario runs at once. */
static int64_t scenario_max_vus(const plan_scenario *s)
{
	int64_t n = s->vus;
	switch (s->executor) {
	case EXEC_RAMPING_VUS:
		n = s->start_vus;
		for (size_t i = 0; i < s->nstages; i++)
			if (s->stages[i].target > n)
				n = s->stages[i].target;
		break;
	case EXEC_CONSTANT_ARRIVAL_RATE:
	case EXEC_RAMPING_ARRIVAL_RATE: n = s->max_vus; break;
	default: break;
	}
	return n;
}

/* The highest iterations per second of an arrival-rate scenario, 0 for others. */
static double scenario_peak_rate(const plan_scenario *s)
{
	double top = 0;
	if (s->executor == EXEC_CONSTANT_ARRIVAL_RATE)
		top = (double)s->rate;
	else if (s->executor == EXEC_RAMPING_ARRIVAL_RATE) {
		top = (double)s->start_rate;
		for (size_t i = 0; i < s->nstages; i++)
			if ((double)s->stages[i].target > top)
				top = (double)s->stages[i].target;
	}
	return s->time_unit_ms > 0 ? top * 1000.0 / (double)s->time_unit_ms : 0;
}

/* Refuses a plan past the limits of plan.h, at the scenario or step that
 * crosses one. */
static int check_limits(pctx *c)
{
	const plan *p = c->p;
	int64_t vus = 0;
	size_t steps = 0;
	for (size_t i = 0; i < p->nscenarios; i++) {
		const plan_scenario *s = &p->scenarios[i];
		loc sl = { s->line, s->col };
		vus += scenario_max_vus(s);
		if (vus > PLAN_MAX_VUS)
			return perr(c, sl, "the plan runs up to %lld VUs at once with scenario '%s', more than the limit of %lld;"
			            " a VU holds its connections and buffers, so split the load over several runs",
			            (long long)vus, s->name, (long long)PLAN_MAX_VUS);
		double rate = scenario_peak_rate(s);
		if (rate > (double)PLAN_MAX_RATE_PER_S)
			return perr(c, sl, "scenario '%s' asks for up to %.0f iterations per second, more than the limit of %lld",
			            s->name, rate, (long long)PLAN_MAX_RATE_PER_S);
		for (size_t j = 0; j < s->nsteps; j++) {
			const plan_step *st = &s->steps[j];
			if (st->kind != STEP_HTTP && st->kind != STEP_WS)
				continue;
			if (++steps > PLAN_MAX_REQUEST_STEPS)
				return perr(c, (loc){ st->line, st->col },
				            "the plan has more than %d request and ws steps (the limit): each is measured apart in"
				            " every interval; use templates to vary one step instead of repeating it",
				            PLAN_MAX_REQUEST_STEPS);
		}
	}
	return HERD_OK;
}

static int parse_scenarios(pctx *c, const pair *sp)
{
	void *it = NULL;
	pair pr;
	int more, rv, n;
	plan *p = c->p;

	if (node_kind(sp->v) == SK_NULL)
		return perr(c, vloc(sp), "'scenarios' is empty; define at least one scenario");
	if (node_kind(sp->v) != SK_MAP)
		return want_kind(c, sp, node_kind(sp->v), "a mapping of scenario names to scenarios");
	n = fy_node_mapping_item_count(sp->v);
	if (n <= 0)
		return perr(c, vloc(sp), "'scenarios' is empty; define at least one scenario");
	if ((p->scenarios = calloc((size_t)n, sizeof(*p->scenarios))) == NULL)
		return poom(c);
	for (;;) {
		if ((rv = next_pair(c, sp->v, &sp->vw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			return HERD_OK;
		if (p->nscenarios == (size_t)n)
			return perr(c, pr.kl, "too many scenarios");
		if ((rv = parse_scenario(c, &pr, &p->scenarios[p->nscenarios++])) != 0)
			return rv;
	}
}

/* ---- Thresholds ---- */

/* The longest abort-rule window: each interval of it is kept per rule. */
#define PLAN_MAX_WINDOW_MS (10LL * 60 * 1000)

/* What the object form of a threshold adds to its expression. */
typedef struct th_opts {
	int allow_nodata, abort_on_fail;
	int64_t delay_abort_ms, window_ms;
} th_opts;

/*
 * k6's object form, `{ threshold: "p(95) < 500", allowNoData: true,
 * abortOnFail: true, delayAbortEval: 10s }` and herd's `window: 30s`: *n
 * becomes the expression's node and *el its place; *o gets the options.
 */
static int threshold_object(pctx *c, struct fy_node **n, loc l, loc *el, th_opts *o)
{
	static const char *const keys[] = {"threshold", "allowNoData", "abortOnFail", "delayAbortEval",
	                                   "window"};
	where mw = {*n, NULL, l};
	struct fy_node *map = *n;
	void *it = NULL;
	pair pr;
	int more, rv, have = 0;

	for (;;) {
		if ((rv = next_pair(c, map, &mw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			break;
		size_t i = key_index(keys, NELEM(keys), &pr);
		if (i == 0) {
			if (node_kind(pr.v) != SK_STR)
				return want_kind(c, &pr, node_kind(pr.v), "an expression such as 'p(95) < 500'");
			*n = pr.v;
			*el = vloc(&pr);
			have = 1;
		} else if (i == 1 || i == 2) {
			size_t len;
			const char *v = node_text(pr.v, &len);
			if (node_kind(pr.v) != SK_BOOL)
				return want_kind(c, &pr, node_kind(pr.v), "true or false");
			*(i == 1 ? &o->allow_nodata : &o->abort_on_fail) = v[0] == 't' || v[0] == 'T';
		} else if (i == 3) {
			if ((rv = get_duration(c, &pr, 0, &o->delay_abort_ms)) != 0)
				return rv;
		} else if (i == 4) {
			if ((rv = get_duration(c, &pr, 1, &o->window_ms)) != 0)
				return rv;
			/* Judged on whole merged intervals of one second. */
			if (o->window_ms % 1000 != 0)
				return perr(c, vloc(&pr), "'window' must be whole seconds (merged intervals are 1 s)");
			if (o->window_ms > PLAN_MAX_WINDOW_MS)
				return perr(c, vloc(&pr), "'window' is too long (the limit is 10m)");
		} else {
			return unknown_key(c, &pr, "in a threshold", keys, NELEM(keys));
		}
	}
	if (!have)
		return perr(c, l, "a threshold mapping needs 'threshold', as in "
		            "'{ threshold: \"p(95) < 500\", abortOnFail: true }'");
	return HERD_OK;
}

static int add_threshold(pctx *c, plan_threshold **arr, size_t *count, const char *metric, struct fy_node *n, loc l,
                         size_t *cap)
{
	plan_threshold *t;
	th_expr x;
	char msg[256], vb[200];
	char *expr = NULL;
	size_t len;
	const char *s;
	skind k = node_kind(n);
	int rv;
	th_opts o = {0};

	if (k == SK_MAP && (rv = threshold_object(c, &n, l, &l, &o)) != 0)
		return rv;
	s = node_text(n, &len);
	k = node_kind(n);
	if (k == SK_NULL || k == SK_MAP || k == SK_SEQ)
		return perr(c, l, "a threshold must be an expression such as 'p(95) < 500', not %s",
		            kind_name(k));
	if ((rv = dup_text(c, n, l, "a threshold", &expr)) != 0)
		return rv;
	if (th_parse_expr(expr, &x, msg, sizeof(msg)) != 0) {
		free(expr);
		return perr(c, l, "bad threshold '%s': %s", show(s, len, vb, sizeof(vb)), msg);
	}
	if (*count == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		plan_threshold *np = realloc(*arr, ncap * sizeof(*np));
		if (np == NULL) {
			free(expr);
			return poom(c);
		}
		*arr = np;
		*cap = ncap;
	}
	t = &(*arr)[(*count)++];
	memset(t, 0, sizeof(*t));
	t->expr = expr;
	t->allow_nodata = o.allow_nodata;
	t->abort_on_fail = o.abort_on_fail;
	t->delay_abort_ms = o.delay_abort_ms;
	t->window_ms = o.window_ms;
	t->line = l.line;
	t->col = l.col;
	if ((t->metric = xstrdup(c, metric)) == NULL)
		return poom(c);
	return HERD_OK;
}

static int parse_thresholds(pctx *c, const pair *tp)
{
	return parse_threshold_map(c, tp, &c->p->thresholds, &c->p->nthresholds, 1);
}

int parse_threshold_map(pctx *c, const pair *tp, plan_threshold **arr, size_t *count, int check_refs)
{
	void *it = NULL;
	pair pr;
	int more, rv;
	size_t cap = 0;

	if (node_kind(tp->v) != SK_MAP)
		return want_kind(c, tp, node_kind(tp->v), "a mapping of metrics to expressions");
	for (;;) {
		char *metric = NULL, msg[256], kb[200];
		th_metric m;

		if ((rv = next_pair(c, tp->v, &tp->vw, &it, &pr, &more)) != 0 || !more)
			return rv;
		key_str(&pr, kb, sizeof(kb));
		if ((rv = dup_key(c, &pr, "a threshold metric", &metric)) != 0)
			return rv;
		if (th_parse_metric(metric, &m, msg, sizeof(msg)) != 0) {
			free(metric);
			return perr(c, pr.kl, "bad threshold metric '%s': %s", kb, msg);
		}
		/* A filter on a name the plan lacks would never match anything. */
		if (check_refs && (rv = check_threshold_refs(c, &m, pr.kl, kb)) != 0) {
			free(metric);
			return rv;
		}
		if (node_kind(pr.v) == SK_SEQ) {
			void *sit = NULL;
			struct fy_node *item;
			where iw;
			int smore;
			for (;;) {
				if ((rv = next_item(c, pr.v, &pr.vw, &sit, &item, &iw, &smore)) != 0 || !smore)
					break;
				if ((rv = add_threshold(c, arr, count, metric, item, at(&iw), &cap)) != 0)
					break;
			}
		} else if (node_kind(pr.v) == SK_STR || node_kind(pr.v) == SK_MAP) {
			rv = add_threshold(c, arr, count, metric, pr.v, vloc(&pr), &cap);
		} else {
			rv = want_kind(c, &pr, node_kind(pr.v), "an expression or a list of expressions");
		}
		free(metric);
		if (rv != 0)
			return rv;
	}
}

/* ---- The plan ---- */

enum { T_NAME = 0, T_TARGET, T_SCENARIOS, T_THRESHOLDS, T_AGENTS, T_DATA, T_COOKIES, T_TLS,
       T_MAXRATE, T_MAXVUS, T_GUARDS, T__N };
static const char *const top_keys[T__N] = {"name",   "target",  "scenarios", "thresholds",
                                               "agents", "data",    "cookies",   "tls",
                                               "maxRate", "maxVUs", "guards"};

/* guards: { health: { url: http://..., every: 5s, failures: 3, timeout: 2s } }.
 * The URL obeys the rules of 'target', without ws:// (it is fetched with GET). */
static int parse_health(pctx *c, const pair *hp)
{
	static const char *const keys[] = {"url", "every", "failures", "timeout"};
	plan_health *h = &c->p->health;
	void *it = NULL;
	pair pr, url_pair = {0};
	int more, rv;

	if (node_kind(hp->v) != SK_MAP)
		return want_kind(c, hp, node_kind(hp->v),
		                 "a mapping such as '{ url: http://host/healthz, every: 5s, failures: 3 }'");
	h->every_ms = 5000;
	h->failures = 3;
	h->timeout_ms = 2000;
	h->line = hp->kl.line;
	h->col = hp->kl.col;
	for (;;) {
		size_t i;
		if ((rv = next_pair(c, hp->v, &hp->vw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			break;
		i = key_index(keys, NELEM(keys), &pr);
		if (i == 0) {
			url_pair = pr;
			rv = get_string(c, &pr, &h->url);
		} else if (i == 1) {
			rv = get_duration(c, &pr, 100, &h->every_ms);
		} else if (i == 2) {
			rv = get_int(c, &pr, 1, 1000, &h->failures);
		} else if (i == 3) {
			rv = get_duration(c, &pr, 1, &h->timeout_ms);
		} else {
			rv = unknown_key(c, &pr, "in 'health'", keys, NELEM(keys));
		}
		if (rv != 0)
			return rv;
	}
	if (h->url == NULL)
		return perr(c, hp->kl, "'health' needs 'url', as in '{ url: http://host/healthz }'");
	char vb[200];
	show(h->url, strlen(h->url), vb, sizeof(vb));
	if (!has_scheme(h->url))
		return perr(c, vloc(&url_pair), "the health 'url' must start with http:// or https://, got '%s'", vb);
	if (!url_has_host(h->url))
		return perr(c, vloc(&url_pair), "the health 'url' '%s' has no host", vb);
	if (has_space_or_ctl(h->url) || strstr(h->url, "{{") != NULL)
		return perr(c, vloc(&url_pair), "the health 'url' '%s' has a space, a control character or a template", vb);
	if (h->timeout_ms > h->every_ms)
		return perr(c, hp->kl,
		            "the health 'timeout' (%lld ms) is longer than 'every' (%lld ms)",
		            (long long)h->timeout_ms, (long long)h->every_ms);
	return HERD_OK;
}

static int parse_guards(pctx *c, const pair *gp)
{
	static const char *const keys[] = {"health"};
	void *it = NULL;
	pair pr;
	int more, rv;

	if (node_kind(gp->v) != SK_MAP)
		return want_kind(c, gp, node_kind(gp->v), "a mapping such as '{ health: { url: ... } }'");
	for (;;) {
		if ((rv = next_pair(c, gp->v, &gp->vw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			break;
		if (key_index(keys, NELEM(keys), &pr) == 0)
			rv = parse_health(c, &pr);
		else
			rv = unknown_key(c, &pr, "in 'guards'", keys, NELEM(keys));
		if (rv != 0)
			return rv;
	}
	return HERD_OK;
}

/* tls: { insecureSkipVerify: true } or tls: { ca: test-ca.pem } (k6 spells
 * the first insecureSkipTLSVerify, at the top level). The CA file is read
 * like a feeder's, relative to the plan, and shipped to agents with it. */
static int parse_tls(pctx *c, const pair *tp)
{
	static const char *const keys[] = {"insecureSkipVerify", "ca"};
	plan_tls *t = &c->p->tls;
	void *it = NULL;
	pair pr, ca_pair = {0};
	int more, rv;

	if (node_kind(tp->v) != SK_MAP)
		return want_kind(c, tp, node_kind(tp->v),
		                 "a mapping such as '{ ca: ca.pem }' or '{ insecureSkipVerify: true }'");
	for (;;) {
		size_t i;
		if ((rv = next_pair(c, tp->v, &tp->vw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			break;
		i = key_index(keys, NELEM(keys), &pr);
		if (i == 0) {
			size_t len;
			const char *v = node_text(pr.v, &len);
			if (node_kind(pr.v) != SK_BOOL)
				rv = want_kind(c, &pr, node_kind(pr.v), "true or false");
			else
				t->insecure_skip_verify = v[0] == 't' || v[0] == 'T';
		} else if (i == 1) {
			ca_pair = pr;
			rv = get_string(c, &pr, &t->ca);
		} else {
			rv = unknown_key(c, &pr, "in 'tls'", keys, NELEM(keys));
		}
		if (rv != 0)
			return rv;
	}
	if (t->ca != NULL && t->insecure_skip_verify)
		return perr(c, vloc(&ca_pair), "'ca' has no use with 'insecureSkipVerify: true' (nothing is "
		            "checked); keep one of them");
	if (t->ca != NULL)
		return plan_file_bytes(c, vloc(&ca_pair), t->ca, &t->ca_pem, &t->ca_len);
	return HERD_OK;
}

/* agents: { min: 3, wait: 60s } — how many agents the run needs, and how
 * long the controller waits for them. */
static int parse_agents(pctx *c, const pair *ap)
{
	static const char *const keys[] = {"min", "wait"};
	void *it = NULL;
	pair pr;
	int more, rv;

	if (node_kind(ap->v) != SK_MAP)
		return want_kind(c, ap, node_kind(ap->v), "a mapping such as '{ min: 3, wait: 60s }'");
	for (;;) {
		size_t i;
		if ((rv = next_pair(c, ap->v, &ap->vw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			break;
		i = key_index(keys, NELEM(keys), &pr);
		if (i == 0)
			rv = get_int(c, &pr, 1, 4096, &c->p->agents_min);
		else if (i == 1)
			rv = get_duration(c, &pr, 0, &c->p->agents_wait_ms);
		else
			rv = unknown_key(c, &pr, "in 'agents'", keys, NELEM(keys));
		if (rv != 0)
			return rv;
	}
	return HERD_OK;
}

/* The file's base name without its extension: "plans/smoke.yaml" -> "smoke". */
static char *default_name(pctx *c, const char *file)
{
	const char *b = strrchr(file, '/'), *dot;
	char *name;
	size_t len;

	b = b != NULL ? b + 1 : file;
	dot = strrchr(b, '.');
	len = dot != NULL && dot != b ? (size_t)(dot - b) : strlen(b);
	if (len == 0) {
		b = "plan";
		len = 4;
	}
	c->bytes += len + 1;
	if ((name = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(name, b, len);
	name[len] = '\0';
	return name;
}

static int parse_target(pctx *c, const pair *pr)
{
	plan *p = c->p;
	char vb[200];
	size_t len;
	int rv;

	if ((rv = get_string(c, pr, &p->target)) != 0)
		return rv;
	len = strlen(p->target);
	show(p->target, len, vb, sizeof(vb));
	c->target_loc = vloc(pr);
	/* A WebSocket-only plan names its server ws:// or wss:// (as Artillery's
	 * do); its relative HTTP steps are refused where they are parsed. */
	if (!has_scheme(p->target) && !has_ws_scheme(p->target))
		return perr(c, vloc(pr), "'target' must start with http://, https://, ws:// or wss://, got '%s'",
		            vb);
	if (!url_has_host(p->target))
		return perr(c, vloc(pr), "'target' '%s' has no host", vb);
	if (has_space_or_ctl(p->target))
		return perr(c, vloc(pr), "'target' '%s' has a space or control character", vb);
	while (len > 0 && p->target[len - 1] == '/')
		p->target[--len] = '\0';
	return HERD_OK;
}

static int parse_root(pctx *c, struct fy_node *root)
{
	pair keys[T__N], pr;
	int seen[T__N] = {0};
	void *it = NULL;
	int more, rv;
	plan *p = c->p;

	where rw = {root, NULL, c->root};

	if (root == NULL || node_kind(root) == SK_NULL)
		return perr(c, c->root, "plan is empty");
	if ((rv = deref(c, &root, &rw)) != 0)
		return rv;
	if (node_kind(root) != SK_MAP)
		return perr(c, c->root, "a plan must be a mapping with 'target' and 'scenarios', not %s",
		            kind_name(node_kind(root)));
	for (;;) {
		size_t i;
		if ((rv = next_pair(c, root, &rw, &it, &pr, &more)) != 0)
			return rv;
		if (!more)
			break;
		i = key_index(top_keys, T__N, &pr);
		if (i == T__N)
			return unknown_key(c, &pr, "at the top of the plan", top_keys, T__N);
		seen[i] = 1;
		keys[i] = pr;
	}
	if (seen[T_NAME]) {
		if ((rv = get_string(c, &keys[T_NAME], &p->name)) != 0)
			return rv;
	} else if ((p->name = default_name(c, c->named ? c->file : "plan")) == NULL) {
		return poom(c);
	}
	if (seen[T_TARGET] && (rv = parse_target(c, &keys[T_TARGET])) != 0)
		return rv;
	p->cookies = 1;
	if (seen[T_COOKIES]) {
		size_t len;
		const char *v = node_text(keys[T_COOKIES].v, &len);
		if (node_kind(keys[T_COOKIES].v) != SK_BOOL)
			return want_kind(c, &keys[T_COOKIES], node_kind(keys[T_COOKIES].v), "true or false");
		p->cookies = v[0] == 't' || v[0] == 'T';
	}
	/* Feeders first: the steps' templates name their columns. */
	if (seen[T_DATA] && (rv = parse_data(c, &keys[T_DATA])) != 0)
		return rv;
	if (!seen[T_SCENARIOS])
		return perr(c, c->root, "plan has no 'scenarios'");
	if ((rv = parse_scenarios(c, &keys[T_SCENARIOS])) != 0)
		return rv;
	if ((rv = apply_cli_flags(c, keys[T_SCENARIOS].kl)) != 0)
		return rv;
	if ((rv = check_limits(c)) != 0)
		return rv;
	if (seen[T_THRESHOLDS] && (rv = parse_thresholds(c, &keys[T_THRESHOLDS])) != 0)
		return rv;
	if (seen[T_AGENTS] && (rv = parse_agents(c, &keys[T_AGENTS])) != 0)
		return rv;
	if (seen[T_TLS] && (rv = parse_tls(c, &keys[T_TLS])) != 0)
		return rv;
	if (seen[T_MAXRATE] && (rv = get_int(c, &keys[T_MAXRATE], 1, PLAN_MAX_COUNT, &p->max_rate)) != 0)
		return rv;
	if (seen[T_MAXVUS] && (rv = get_int(c, &keys[T_MAXVUS], 1, PLAN_MAX_COUNT, &p->max_vus_cap)) != 0)
		return rv;
	if (seen[T_MAXRATE] || seen[T_MAXVUS]) {
		loc l = keys[seen[T_MAXRATE] ? T_MAXRATE : T_MAXVUS].kl;
		p->caps_line = l.line;
		p->caps_col = l.col;
	}
	if (seen[T_GUARDS] && (rv = parse_guards(c, &keys[T_GUARDS])) != 0)
		return rv;
	return HERD_OK;
}

/* The length of the UTF-8 sequence at s (n bytes left), or 0 when it is invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07u;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	/* Overlong forms, UTF-16 surrogates and code points past U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * Finds a NUL byte or invalid UTF-8. Returns NULL when the text is clean, else
 * a message to follow "the plan " or "the file ", with *l set to where the
 * problem is (columns count characters).
 */
const char *check_bytes(const char *text, size_t len, loc *l)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;

	*l = (loc){1, 1};
	while (i < len) {
		size_t n;
		if (s[i] == '\0')
			return "contains a NUL byte";
		if ((n = utf8_len(s + i, len - i)) == 0)
			return "is not valid UTF-8";
		if (s[i] == '\n') {
			l->line++;
			l->col = 1;
		} else {
			l->col++;
		}
		i += n;
	}
	return NULL;
}

/* Only white space and comments: libfyaml finds no document in such text. */
int is_blank_yaml(const char *s, size_t len)
{
	int comment = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n')
			comment = 0;
		else if (s[i] == '#')
			comment = 1;
		else if (!comment && s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	}
	return 1;
}

/*
 * Whether line (1-based) of text puts a template with double quotes inside a
 * double-quoted scalar, as in `rate: "{{ env("RATE") }}"`: YAML ends the
 * string at the second quote and reports something unrelated.
 */
static int quoted_template_line(const char *text, size_t len, int line)
{
	const char *p = text, *e = text + len;
	for (int i = 1; i < line && p < e; i++) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		p = nl != NULL ? nl + 1 : e;
	}
	const char *nl = memchr(p, '\n', (size_t)(e - p));
	size_t n = (size_t)((nl != NULL ? nl : e) - p);
	return memmem(p, n, "\"{{", 3) != NULL && memmem(p, n, "(\"", 2) != NULL;
}

/* The first error libfyaml collected, as our message. */
int syntax_error(pctx *c, struct fy_diag *diag, const char *text, size_t len)
{
	void *it = NULL;
	struct fy_diag_error *e;

	while ((e = fy_diag_errors_iterate(diag, &it)) != NULL) {
		if (e->type < FYET_ERROR)
			continue;
		loc l = {e->line > 0 ? e->line : 1, e->column > 0 ? e->column : 1};
		if (quoted_template_line(text, len, l.line))
			return perr(c, l,
			            "YAML syntax error: %s (a template with double quotes inside, such as "
			            "env(\"NAME\"), goes in single quotes: '{{ env(\"NAME\") }}')",
			            e->msg != NULL ? e->msg : "invalid YAML");
		return perr(c, l, "YAML syntax error: %s", e->msg != NULL ? e->msg : "invalid YAML");
	}
	return 0;
}

int plan_parse(const char *text, size_t len, const char *file, plan **out, char *err, size_t errlen)
{
	return plan_parse_io(text, len, file, NULL, out, err, errlen);
}

int plan_parse_io(const char *text, size_t len, const char *file, const plan_io *io, plan **out,
                  char *err, size_t errlen)
{
	pctx c = {0};
	struct fy_diag *diag = NULL;
	struct fy_parser *fyp = NULL;
	struct fy_document *doc = NULL, *extra = NULL;
	struct fy_parse_cfg cfg;
	const char *bad;
	loc l;
	int rv;

	c.io = io;
	c.named = file != NULL && file[0] != '\0';
	c.file = c.named ? file : "<plan>";
	c.err = err;
	c.errlen = errlen;
	c.root = (loc){1, 1};
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (text == NULL)
		len = 0;
	if (out == NULL)
		return perr(&c, c.root, "internal error: plan_parse without a place for the plan");

	/*
	 * libfyaml 0.7.12 stops quietly at a NUL byte and can loop forever on
	 * bad UTF-8 in a directive line, so check the bytes first.
	 */
	if ((bad = check_bytes(text, len, &l)) != NULL)
		return perr(&c, l, "the plan %s", bad);
	if (len == 0 || is_blank_yaml(text, len))
		return perr(&c, c.root, "plan is empty");

	if ((diag = quiet_diag()) == NULL)
		return poom(&c);
	memset(&cfg, 0, sizeof(cfg));
	cfg.flags = FYPCF_QUIET;
	cfg.diag = diag;
	if ((fyp = fy_parser_create(&cfg)) == NULL) {
		rv = poom(&c);
		goto fail;
	}
	if (fy_parser_set_string(fyp, text, len) != 0) {
		rv = poom(&c);
		goto fail;
	}
	doc = fy_parse_load_document(fyp);
	if (doc == NULL) {
		if ((rv = syntax_error(&c, diag, text, len)) == 0)
			rv = perr(&c, c.root, "no YAML document found");
		goto fail;
	}
	/* A second document would be silently ignored; say so instead. */
	extra = fy_parse_load_document(fyp);
	if (extra != NULL) {
		loc l = node_loc(fy_document_root(extra), c.root);
		rv = perr(&c, l, "a plan is a single YAML document; remove the extra '---'");
		goto fail;
	}
	if ((rv = syntax_error(&c, diag, text, len)) != 0)
		goto fail;

	if ((c.p = calloc(1, sizeof(*c.p))) == NULL) {
		rv = poom(&c);
		goto fail;
	}
	if ((c.p->file = xstrdup(&c, c.file)) == NULL) {
		rv = poom(&c);
		goto fail;
	}
	c.root = node_loc(fy_document_root(doc), c.root);
	if ((rv = parse_root(&c, fy_document_root(doc))) != 0)
		goto fail;

	fy_parse_document_destroy(fyp, doc);
	fy_parser_destroy(fyp);
	fy_diag_destroy(diag);
	free(c.known);
	*out = c.p;
	return HERD_OK;

fail:
	free(c.known);
	for (size_t i = 0; i < c.njson_tmpls; i++)
		tmpl_free(&c.json_tmpls[i]);
	free(c.json_tmpls);
	plan_free(c.p);
	if (extra != NULL)
		fy_parse_document_destroy(fyp, extra);
	if (doc != NULL)
		fy_parse_document_destroy(fyp, doc);
	if (fyp != NULL)
		fy_parser_destroy(fyp);
	fy_diag_destroy(diag);
	return rv;
}

/* What a file that is not a regular file is, for a message. */
static const char *file_kind(mode_t m)
{
	if (S_ISDIR(m))
		return "is a directory";
	if (S_ISFIFO(m))
		return "is a FIFO, not a regular file";
	if (S_ISCHR(m))
		return "is a character device, not a regular file";
	if (S_ISBLK(m))
		return "is a block device, not a regular file";
	if (S_ISSOCK(m))
		return "is a socket, not a regular file";
	return "is not a regular file";
}

/*
 * Reads the whole of path, a regular file of at most max bytes, into a new
 * NUL-terminated buffer (*data, *len; the caller frees it). The file is
 * opened without blocking and checked with fstat before any read: a FIFO
 * would block the load forever, a device has no size (/dev/urandom read as
 * empty, or without end), a directory cannot be read. On failure returns -1
 * with the reason in why (without the path).
 */
static int read_regular(const char *path, long max, char **data, size_t *len, char *why, size_t whylen)
{
	struct stat sb;
	char *buf = NULL;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) != 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(why, whylen, "it %s", file_kind(sb.st_mode));
		goto fail;
	}
	if (sb.st_size > max) {
		snprintf(why, whylen, "the file has %lld bytes, more than the limit of %ld MiB",
		         (long long)sb.st_size, max >> 20);
		goto fail;
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	/* A file that grew since fstat is read up to the size fstat gave. */
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(why, whylen, "%s", strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return 0;
fail:
	free(buf);
	close(fd);
	return -1;
}

/* Files a plan names are read relative to the plan's folder. */
static int disk_read(void *arg, const char *name, char **data, size_t *len, char *why, size_t whylen)
{
	const char *planpath = arg, *slash = strrchr(planpath, '/');
	char full[4096];

	if (name[0] == '/' || slash == NULL)
		snprintf(full, sizeof(full), "%s", name);
	else
		snprintf(full, sizeof(full), "%.*s/%s", (int)(slash - planpath), planpath, name);
	char reason[256];
	if (read_regular(full, PLAN_MAX_DATA_FILE, data, len, reason, sizeof(reason)) != 0) {
		snprintf(why, whylen, "%s: %s", full, reason);
		return -1;
	}
	return 0;
}

/* The command line's values first (herd run -e and the scenario flags, see
 * plan_cli), then the process's environment. */
static const char *proc_getenv(void *arg, const char *name)
{
	const plan_cli *cli = arg;
	const char *v = NULL;
	size_t n = strlen(name);

	if (cli != NULL) {
		if (strcmp(name, "--vus") == 0)
			return cli->vus;
		if (strcmp(name, "--duration") == 0)
			return cli->duration;
		if (strcmp(name, "--iterations") == 0)
			return cli->iterations;
		for (size_t i = 0; i < cli->nenv; i++) /* the last -e NAME=... wins */
			if (strncmp(cli->env[i], name, n) == 0 && cli->env[i][n] == '=')
				v = cli->env[i] + n + 1;
		if (v != NULL)
			return v;
	}
	return name[0] == '-' ? NULL : getenv(name);
}

typedef struct file_io {
	const char *path;
	const plan_cli *cli;
} file_io;

static int file_read(void *arg, const char *name, char **data, size_t *len, char *why, size_t whylen)
{
	return disk_read((void *)((const file_io *)arg)->path, name, data, len, why, whylen);
}

static const char *file_getenv(void *arg, const char *name)
{
	return proc_getenv((void *)((const file_io *)arg)->cli, name);
}

int plan_load_file(const char *path, plan **out, char *err, size_t errlen)
{
	return plan_load_file_cli(path, NULL, out, err, errlen);
}

int plan_load_file_cli(const char *path, const plan_cli *cli, plan **out, char *err, size_t errlen)
{
	char *buf = NULL, why[512];
	size_t got;
	int rv;

	if (read_regular(path, PLAN_MAX_FILE, &buf, &got, why, sizeof(why)) != 0) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: cannot read: %s", path, why);
		return HERD_EPLAN;
	}
	file_io fio = {path, cli};
	plan_io io = {file_read, file_getenv, &fio};
	rv = plan_parse_io(buf, got, path, &io, out, err, errlen);
	free(buf);
	return rv;
}

static void free_ws_ops(plan_ws_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(ops[i].text);
		tmpl_free(&ops[i].t);
		free(ops[i].json_path);
		free(ops[i].name);
		free_ws_ops(ops[i].ops, ops[i].nops);
	}
	free(ops);
}

static void free_ws(plan_ws *ws)
{
	if (ws == NULL)
		return;
	for (size_t i = 0; i < ws->nsubprotocols; i++)
		free(ws->subprotocols[i]);
	free(ws->subprotocols);
	free_ws_ops(ws->ops, ws->nops);
	tmpl_free(&ws->t_path);
	free(ws);
}

static void free_step(plan_step *st)
{
	free_ws(st->ws);
	free(st->path);
	free(st->url);
	for (size_t i = 0; i < st->nheaders; i++) {
		free(st->headers[i].name);
		free(st->headers[i].value);
	}
	free(st->headers);
	free(st->body);
	free(st->name);
	for (size_t i = 0; i < st->nchecks; i++) {
		plan_check *ck = &st->checks[i];
		free(ck->name);
		free(ck->statuses);
		free(ck->arg);
		tmpl_free(&ck->value);
	}
	free(st->checks);
	tmpl_free(&st->t_url);
	if (st->t_headers != NULL)
		for (size_t i = 0; i < st->nheaders; i++)
			tmpl_free(&st->t_headers[i]);
	free(st->t_headers);
	tmpl_free(&st->t_body);
	free(st->body_file);
	for (size_t i = 0; i < st->ntags; i++) {
		free(st->tags[i].name);
		free(st->tags[i].value);
	}
	free(st->tags);
	for (size_t i = 0; i < st->ncaptures; i++) {
		plan_capture *cp = &st->captures[i];
		free(cp->var);
		free(cp->arg);
		if (cp->re != NULL)
			regfree(cp->re);
		free(cp->re);
	}
	free(st->captures);
	free(st->group);
	free(st->tagline);
}

static void free_blobs(plan_blob *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(b[i].name);
		free(b[i].data);
	}
	free(b);
}

void plan_free(plan *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nscenarios; i++) {
		plan_scenario *s = &p->scenarios[i];
		for (size_t j = 0; j < s->nsteps; j++)
			free_step(&s->steps[j]);
		free(s->steps);
		for (size_t j = 0; j < s->nstages; j++)
			free(s->stages[j].name);
		free(s->stages);
		free(s->name);
		for (size_t j = 0; j < s->nflows; j++) {
			free(s->flows[j].name);
			free(s->flows[j].tagline);
		}
		free(s->flows);
		free(s->setup.name);
		free(s->setup.tagline);
		bp_free(&s->bp);
	}
	free(p->scenarios);
	for (size_t i = 0; i < p->nfeeders; i++) {
		free(p->feeders[i].name);
		free(p->feeders[i].file);
		csv_free(&p->feeders[i].table);
	}
	free(p->feeders);
	for (size_t i = 0; i < p->nvars; i++)
		free(p->vars[i]);
	free(p->vars);
	free_blobs(p->files, p->nfiles);
	free_blobs(p->env, p->nenv);
	for (size_t i = 0; i < p->nthresholds; i++) {
		free(p->thresholds[i].metric);
		free(p->thresholds[i].expr);
	}
	free(p->thresholds);
	free(p->health.url);
	free(p->file);
	free(p->name);
	free(p->target);
	free(p->tls.ca);
	free(p);
}

int plan_step_needs_body(const plan_step *s)
{
	for (size_t i = 0; i < s->nchecks; i++)
		if (s->checks[i].kind == CHK_BODY || s->checks[i].kind == CHK_JSON)
			return 1;
	for (size_t i = 0; i < s->ncaptures; i++)
		if (s->captures[i].from == CAP_JSON || s->captures[i].from == CAP_REGEX)
			return 1;
	return 0;
}

int plan_step_needs_headers(const plan_step *s)
{
	for (size_t i = 0; i < s->nchecks; i++)
		if (s->checks[i].kind == CHK_HEADER)
			return 1;
	for (size_t i = 0; i < s->ncaptures; i++)
		if (s->captures[i].from == CAP_HEADER)
			return 1;
	return 0;
}

size_t plan_step_offsets(const plan *p, size_t *first)
{
	size_t n = 0;
	for (size_t i = 0; i < p->nscenarios; i++) {
		first[i] = n;
		n += p->scenarios[i].nsteps;
	}
	return n;
}

int64_t plan_scenario_length_ms(const plan_scenario *s)
{
	int64_t total = 0;

	switch (s->executor) {
	case EXEC_CONSTANT_VUS:
	case EXEC_CONSTANT_ARRIVAL_RATE: return s->duration_ms;
	case EXEC_RAMPING_VUS:
	case EXEC_RAMPING_ARRIVAL_RATE:
		for (size_t i = 0; i < s->nstages; i++)
			total += s->stages[i].duration_ms;
		return total;
	case EXEC_PER_VU_ITERATIONS:
	case EXEC_SHARED_ITERATIONS: return s->max_duration_ms;
	case EXEC_BREAKING_POINT:
		return plan_bp_length_ms(&s->bp);
	}
	return 0;
}

int64_t plan_total_ms(const plan *p)
{
	int64_t best = 0;

	for (size_t i = 0; i < p->nscenarios; i++) {
		const plan_scenario *s = &p->scenarios[i];
		int64_t end = s->start_ms + plan_scenario_length_ms(s) + s->graceful_stop_ms;
		if (end > best)
			best = end;
	}
	return best;
}

/*
 * Durations are one or more number-unit groups ("1m30s", "1.5s", "250ms").
 * Arithmetic is done in integers (the fraction as a scaled integer) so that
 * "0.1s" is exactly 100 ms; fractions of a millisecond round to nearest.
 */
int plan_parse_duration(const char *s, int64_t *ms)
{
	int64_t total = 0;
	const char *p = s;

	if (s == NULL || *s == '\0')
		return HERD_EINVAL;
	while (*p != '\0') {
		int64_t whole = 0, frac = 0, fscale = 1, unit;
		int digits = 0;

		while (is_digit(*p)) {
			if (whole > (INT64_MAX - 9) / 10)
				return HERD_EINVAL;
			whole = whole * 10 + (*p++ - '0');
			digits++;
		}
		if (*p == '.') {
			p++;
			while (is_digit(*p)) {
				/* Digits past the ninth cannot change a millisecond count. */
				if (fscale < 1000000000) {
					frac = frac * 10 + (*p - '0');
					fscale *= 10;
				}
				p++;
				digits++;
			}
		}
		if (digits == 0)
			return HERD_EINVAL;
		if (p[0] == 'm' && p[1] == 's') {
			unit = 1;
			p += 2;
		} else if (p[0] == 's') {
			unit = 1000;
			p++;
		} else if (p[0] == 'm') {
			unit = 60000;
			p++;
		} else if (p[0] == 'h') {
			unit = 3600000;
			p++;
		} else {
			return HERD_EINVAL;
		}
		if (whole > INT64_MAX / unit)
			return HERD_EINVAL;
		int64_t v = whole * unit + (frac * unit + fscale / 2) / fscale;
		if (v < 0 || total > INT64_MAX - v)
			return HERD_EINVAL;
		total += v;
	}
	*ms = total;
	return HERD_OK;
}

