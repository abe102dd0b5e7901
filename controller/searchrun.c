/*
 * The breaking-point search driven over a run: see searchrun.h. The search
 * itself (search.c) is pure; this layer turns the engine's ticks and events
 * into its steps and its answers into the engine's load changes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "controller/searchrun.h"

/* An agent of the run and its workers, for the search's CPU limit. */
typedef struct srun_cores {
	char id[192];
	double cores;
} srun_cores;

struct srun {
	search *se;
	char cap_what[96];  /* the search's cap, said in its reason (borrowed by it) */
	search_action todo; /* what the search asked, done after the step */
	double todo_load;
	srun_cores *cores;
	size_t ncores;
};

/* The run's agents' workers, by id (search_cfg.cores_of). */
static double core_count(void *arg, const char *agent)
{
	const srun *r = arg;
	for (size_t i = 0; i < r->ncores; i++)
		if (strcmp(r->cores[i].id, agent) == 0)
			return r->cores[i].cores;
	return 1;
}

int srun_new(const plan *p, srun **out, char *err, size_t errlen)
{
	const plan_scenario *sc = NULL;
	srun *r;
	int rv;
	*out = NULL;
	for (size_t i = 0; i < p->nscenarios && sc == NULL; i++)
		if (p->scenarios[i].executor == EXEC_BREAKING_POINT)
			sc = &p->scenarios[i];
	if (sc == NULL)
		return HERD_OK;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return HERD_ENOMEM;
	search_cfg cfg = { .s = sc, .interval_ms = 1000, .cores_of = core_count, .arg = r };
	search_cap_set(&cfg, p->max_rate, p->max_vus_cap, r->cap_what, sizeof(r->cap_what));
	if ((rv = search_new(&cfg, &r->se, err, errlen)) != HERD_OK) {
		free(r);
		return rv;
	}
	*out = r;
	return HERD_OK;
}

void srun_free(srun *r)
{
	if (r == NULL)
		return;
	search_free(r->se);
	free(r->cores);
	free(r);
}

const search *srun_search(const srun *r)
{
	return r->se;
}

int srun_tick(srun *r, const eng_tick *t, long *level)
{
	search_action act;
	double v = 0;
	long lvl = -1;
	if (level != NULL)
		*level = -1;
	if (t->stopping)
		return HERD_OK;
	/* The engine's lock is held: the search reads the window now and its
	 * action is taken after the step (srun_act). */
	if (search_step(r->se, t->w, t->elapsed_ms, t->interval_ms, &act, &v, &lvl) != HERD_OK) {
		r->todo = SEARCH_END;
		return HERD_ENOMEM;
	}
	/* An end asked already (an agent went) is not undone by a later tick. */
	if (act != SEARCH_WAIT && r->todo != SEARCH_END) {
		r->todo = act;
		r->todo_load = v;
	}
	if (level != NULL)
		*level = lvl;
	return HERD_OK;
}

/* Keeps the run's agents' workers (at least 1 each). */
static void keep_cores(srun *r, const eng_event *e)
{
	free(r->cores);
	r->ncores = 0;
	if ((r->cores = calloc(e->n + 1, sizeof(*r->cores))) == NULL)
		return; /* each agent counts 1 core: a stricter CPU limit, not a wrong answer */
	for (size_t i = 0; i < e->n; i++) {
		snprintf(r->cores[i].id, sizeof(r->cores[i].id), "%s", e->agents[i].id);
		r->cores[i].cores = e->agents[i].cores > 0 ? e->agents[i].cores : 1;
	}
	r->ncores = e->n;
}

int srun_event(srun *r, const eng_event *e)
{
	char why[300];
	switch (e->type) {
	case ENG_EV_ASSIGNED: keep_cores(r, e); return 0;
	case ENG_EV_STATE:
		/* The run ends before the search did (a stop, an abort): its
		 * answer is made of the levels judged so far. */
		if (e->state == ENG_DRAINING)
			search_abandon(r->se);
		return 0;
	case ENG_EV_AGENT_LOST:
	case ENG_EV_AGENT_STOPPED:
		/* Part of each level's load is no longer applied: the search ends
		 * here, and its load with it; the run then ends as any run that
		 * lost an agent (degraded, 109, or aborted, 108). */
		if (search_result_of(r->se)->outcome == SEARCH_INTERRUPTED)
			return 0;
		if (e->type == ENG_EV_AGENT_LOST)
			snprintf(why, sizeof(why), "agent %s lost: nothing heard for %.1f s", e->agent->name,
			         (double)e->ms / 1000);
		else
			snprintf(why, sizeof(why), "agent %s %s", e->agent->name, e->text);
		search_interrupt(r->se, e->since_ms, why);
		r->todo = SEARCH_END;
		return search_result_of(r->se)->outcome == SEARCH_INTERRUPTED;
	default: return 0;
	}
}

search_action srun_take(srun *r, double *load)
{
	search_action act = r->todo;
	*load = r->todo_load;
	r->todo = SEARCH_WAIT;
	return act;
}

int srun_act(srun *r, eng *e, char *err, size_t errlen)
{
	double load;
	search_action act = srun_take(r, &load);
	if (act == SEARCH_END) {
		eng_end_load(e);
		return HERD_OK;
	}
	if (act != SEARCH_SET)
		return HERD_OK;
	const plan_scenario *sc = search_scenario(r->se);
	wire_load_kind k = sc->bp.model == PLAN_BP_VUS ? WIRE_LOAD_VUS : WIRE_LOAD_RATE;
	int rv = eng_set_load(e, sc->name, k, load);
	if (rv != HERD_OK)
		snprintf(err, errlen, "cannot set scenario %s's load to %g", sc->name, load);
	return rv;
}
