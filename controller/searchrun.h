/*
 * The breaking-point search driven over a run (engine.h): one driver shared
 * by `herd run` and `herd serve`. It makes the plan's search capped by the
 * plan's maxRate or maxVUs (search_cap_set), steps it at each tick, ends it
 * when an agent is lost or stops on its own (search_interrupt: levels judged
 * on part of the load are never stored as found), ends it where it is when
 * the run drains first (search_abandon), and applies what it asked to the
 * engine after the step. It prints nothing: callers say what it returns.
 */
#ifndef HERD_CONTROLLER_SEARCHRUN_H
#define HERD_CONTROLLER_SEARCHRUN_H

#include <stddef.h>

#include "common/plan.h"
#include "controller/engine.h"
#include "controller/search.h"

typedef struct srun srun;

/*
 * Makes the driver of p's breaking-point search (its first such scenario),
 * capped by p's max_rate (open model) or max_vus_cap (closed model). p must
 * outlive the driver. Returns HERD_OK with *out NULL when p has no such
 * scenario, HERD_OK with *out (srun_free), HERD_EINVAL with the reason in
 * err (search_new refused it), or HERD_ENOMEM.
 */
int srun_new(const plan *p, srun **out, char *err, size_t errlen);
void srun_free(srun *r);

/* The search, for eng_cfg.search and printing. */
const search *srun_search(const srun *r);

/*
 * From the engine's on_tick (its lock held): steps the search unless the
 * run is stopping, and keeps what it asked for srun_act. *level (may be
 * NULL) gets the index of a level judged at this tick, else -1. Returns
 * HERD_OK, or HERD_ENOMEM: the search could not step and the load will be
 * ended (the caller says so).
 */
int srun_tick(srun *r, const eng_tick *t, long *level);

/*
 * From the engine's on_event: keeps the run's agents' workers
 * (ENG_EV_ASSIGNED) for the CPU limit; an agent lost or stopping on its own
 * (ENG_EV_AGENT_LOST, ENG_EV_AGENT_STOPPED) interrupts the search as of
 * the agent's last heard instant (e->since_ms) and asks for the load's end;
 * the run draining before the search ended abandons it. Returns 1 when
 * this event interrupted the search, else 0.
 */
int srun_event(srun *r, const eng_event *e);

/*
 * Takes what the search asked since the last call: SEARCH_WAIT (nothing),
 * SEARCH_SET with *load, or SEARCH_END. srun_act does it; this is for a
 * caller (or a test) without an engine.
 */
search_action srun_take(srun *r, double *load);

/*
 * After eng_step: does what the search asked at the last tick or event on
 * e (eng_set_load or eng_end_load). Returns HERD_OK, or the error of
 * eng_set_load with what could not be done in err.
 */
int srun_act(srun *r, eng *e, char *err, size_t errlen);

#endif
