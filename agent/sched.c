/* Executor arithmetic; see sched.h. */
#include <stdlib.h>

#include "agent/sched.h"
#include "common/split.h"

int64_t sched_share_int(const sched_place *p, int64_t total)
{
	int64_t mine = split_int_at(total, p->weights, p->nagents, p->agent);
	double *eq = malloc(p->nworkers * sizeof(*eq));
	int64_t v = 0;
	if (eq == NULL)
		return 0;
	for (size_t i = 0; i < p->nworkers; i++)
		eq[i] = 1.0;
	v = split_int_at(mine, eq, p->nworkers, p->worker);
	free(eq);
	return v;
}

double sched_share_rate(const sched_place *p, double total)
{
	return split_frac(total, p->weights, p->nagents, p->agent) / (double)p->nworkers;
}

int64_t sched_ramp_target(int64_t start_vus, const plan_stage *stages, const int64_t *targets,
                          size_t n, int64_t t_ms)
{
	int64_t from = start_vus, at = 0;
	if (t_ms < 0)
		return start_vus;
	for (size_t i = 0; i < n; i++) {
		int64_t d = stages[i].duration_ms;
		if (t_ms < at + d) {
			/* Linear from the previous target to this one, rounded down as k6 does. */
			double f = (double)(t_ms - at) / (double)d;
			return from + (int64_t)((double)(targets[i] - from) * f);
		}
		at += d;
		from = targets[i];
	}
	return from;
}

double sched_arrival_rate(const plan_scenario *s)
{
	if (s->time_unit_ms <= 0)
		return 0;
	return (double)s->rate * 1000.0 / (double)s->time_unit_ms;
}
