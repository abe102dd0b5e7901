/* Executor arithmetic; see sched.h. */
#include <math.h>
#include <stdlib.h>

#include "agent/sched.h"
#include "common/err.h"
#include "common/split.h"

int64_t sched_share_int(const sched_place *p, int64_t total)
{
	return sched_worker_int(p, split_int_at(total, p->weights, p->nagents, p->agent));
}

int64_t sched_worker_int(const sched_place *p, int64_t agent_total)
{
	double *eq = malloc((p->nworkers + 1) * sizeof(*eq));
	int64_t v = 0;
	if (eq == NULL)
		return 0;
	for (size_t i = 0; i < p->nworkers; i++)
		eq[i] = 1.0;
	v = split_int_at(agent_total, eq, p->nworkers, p->worker);
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

int64_t sched_share_iters(const sched_place *p, int64_t vus, int64_t iterations)
{
	int64_t *agent_vus = calloc(p->nagents + 1, sizeof(*agent_vus));
	int64_t *worker_vus = calloc(p->nworkers + 1, sizeof(*worker_vus));
	double *eq = malloc((p->nworkers + 1) * sizeof(*eq));
	int64_t v = 0;

	if (agent_vus == NULL || worker_vus == NULL || eq == NULL || p->agent >= p->nagents)
		goto out;
	if (split_int(vus, p->weights, p->nagents, agent_vus) != 0)
		goto out;
	for (size_t i = 0; i < p->nworkers; i++)
		eq[i] = 1.0;
	if (split_int(agent_vus[p->agent], eq, p->nworkers, worker_vus) != 0)
		goto out;
	v = split_int_by_counts(iterations, agent_vus, p->nagents, p->agent);
	v = split_int_by_counts(v, worker_vus, p->nworkers, p->worker);
out:
	free(agent_vus);
	free(worker_vus);
	free(eq);
	return v;
}

/* ---- Piecewise-linear arrival rates ---- */

int sched_rate_init(sched_rate *r, int64_t start, const plan_stage *stages, size_t n, int64_t time_unit_ms,
                    double share)
{
	/* Per timeUnit to per second, for this worker. */
	double scale = time_unit_ms > 0 ? share * 1000.0 / (double)time_unit_ms : 0;
	/* Twice the integral in "target x ms" units: sums of integers, exact in a
	 * double up to 2^53, so each boundary's arrivals are rounded once. */
	double twice = 0;
	int64_t at = 0, prev = start;

	r->n = 0;
	r->at_ns = NULL;
	r->rate = r->cum = NULL;
	if (time_unit_ms <= 0 || !(share >= 0))
		return HERD_EINVAL;
	r->at_ns = calloc(n + 1, sizeof(*r->at_ns));
	r->rate = calloc(n + 1, sizeof(*r->rate));
	r->cum = calloc(n + 1, sizeof(*r->cum));
	if (r->at_ns == NULL || r->rate == NULL || r->cum == NULL) {
		sched_rate_fini(r);
		return HERD_ENOMEM;
	}
	r->n = n;
	r->rate[0] = (double)start * scale;
	for (size_t i = 0; i < n; i++) {
		twice += (double)(prev + stages[i].target) * (double)stages[i].duration_ms;
		at += stages[i].duration_ms;
		prev = stages[i].target;
		r->at_ns[i + 1] = at * 1000000;
		r->rate[i + 1] = (double)prev * scale;
		r->cum[i + 1] = twice * share / (2.0 * (double)time_unit_ms);
	}
	return HERD_OK;
}

int sched_rate_of(sched_rate *r, const plan_scenario *s, double share)
{
	if (s->executor == EXEC_CONSTANT_ARRIVAL_RATE) {
		plan_stage flat = {.duration_ms = s->duration_ms, .target = s->rate};
		return sched_rate_init(r, s->rate, &flat, 1, s->time_unit_ms, share);
	}
	return sched_rate_init(r, s->start_rate, s->stages, s->nstages, s->time_unit_ms, share);
}

void sched_rate_fini(sched_rate *r)
{
	free(r->at_ns);
	free(r->rate);
	free(r->cum);
	r->at_ns = NULL;
	r->rate = r->cum = NULL;
	r->n = 0;
}

double sched_rate_arrivals(const sched_rate *r, int64_t t_ns)
{
	if (r->n == 0 || t_ns <= 0)
		return 0;
	for (size_t i = 0; i < r->n; i++) {
		if (t_ns >= r->at_ns[i + 1])
			continue;
		/* Within stage i the rate is a + b tau: arrivals a tau + b tau^2 / 2. */
		double d = (double)(r->at_ns[i + 1] - r->at_ns[i]) / 1e9;
		double tau = (double)(t_ns - r->at_ns[i]) / 1e9;
		double a = r->rate[i], b = (r->rate[i + 1] - r->rate[i]) / d;
		return r->cum[i] + a * tau + b * tau * tau / 2;
	}
	return r->cum[r->n];
}

int64_t sched_rate_due(const sched_rate *r, double x)
{
	size_t lo = 0, hi;

	if (x < 0)
		x = 0;
	if (r->n == 0 || !(x < r->cum[r->n]))
		return INT64_MAX;
	/* The first stage that ends past x arrivals: cum[lo] <= x < cum[lo + 1]. A
	 * stage of zero rate never qualifies, so x == 0 lands where the rate
	 * first becomes positive, not at a start with nothing to do. */
	hi = r->n - 1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->cum[mid + 1] > x)
			hi = mid;
		else
			lo = mid + 1;
	}
	double d = (double)(r->at_ns[lo + 1] - r->at_ns[lo]) / 1e9;
	double a = r->rate[lo], b = (r->rate[lo + 1] - r->rate[lo]) / d;
	double rest = x - r->cum[lo];
	if (!(rest > 0))
		return r->at_ns[lo];
	/* a tau + b tau^2 / 2 = rest, in the form that keeps its precision when b < 0
	 * (no difference of two near-equal numbers) and holds for b == 0 too. */
	double disc = a * a + 2 * b * rest;
	double den = a + sqrt(disc > 0 ? disc : 0);
	if (!(den > 0))
		return r->at_ns[lo + 1]; /* cannot happen: the stage has arrivals */
	double tau_ns = 2 * rest / den * 1e9;
	int64_t t = r->at_ns[lo] + (int64_t)ceil(tau_ns);
	return t < r->at_ns[lo + 1] ? t : r->at_ns[lo + 1];
}

double sched_rate_peak(const sched_rate *r)
{
	double top = r->rate != NULL ? r->rate[0] : 0;
	for (size_t i = 1; i <= r->n; i++)
		if (r->rate[i] > top)
			top = r->rate[i];
	return top;
}
