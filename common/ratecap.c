/*
 * Rate caps; see ratecap.h.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/ratecap.h"

int ratecap_open(const plan_scenario *s)
{
	return s->executor == EXEC_CONSTANT_ARRIVAL_RATE || s->executor == EXEC_RAMPING_ARRIVAL_RATE;
}

double ratecap_reqs_per_iter(const plan_scenario *s)
{
	double sum = 0, wsum = 0;
	for (size_t f = 0; f < s->nflows; f++) {
		const plan_flow *fl = &s->flows[f];
		size_t n = 0;
		for (size_t k = fl->first; k < fl->first + fl->nsteps && k < s->nsteps; k++)
			n += s->steps[k].kind == STEP_HTTP || s->steps[k].kind == STEP_WS;
		double w = s->nflows > 1 ? fl->weight : 1;
		sum += w * (double)n;
		wsum += w;
	}
	return wsum > 0 ? sum / wsum : 0;
}

/* Whether s runs at t (ms from the load's start); left: the limit from
 * before t (a scenario ending at t still counts, one starting at t not). */
static int active(const plan_scenario *s, int64_t t, int left)
{
	int64_t a = s->start_ms, b = s->start_ms + plan_scenario_length_ms(s);
	return left ? (a < t && t <= b) : (a <= t && t < b);
}

/* The value of a stage profile (start, then linear to each stage's target)
 * at t ms into the scenario. */
static double staged(int64_t start, const plan_stage *st, size_t n, int64_t t)
{
	double prev = (double)start;
	int64_t at = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t d = st[i].duration_ms;
		if (t <= at + d)
			return d > 0 ? prev + ((double)st[i].target - prev) * (double)(t - at) / (double)d
			             : (double)st[i].target;
		prev = (double)st[i].target;
		at += d;
	}
	return prev;
}

/* s's requests per second at t (0 for closed models). */
static double rate_at(const plan_scenario *s, int64_t t, int left)
{
	if (!ratecap_open(s) || !active(s, t, left))
		return 0;
	double per_unit = s->executor == EXEC_CONSTANT_ARRIVAL_RATE
	                      ? (double)s->rate
	                      : staged(s->start_rate, s->stages, s->nstages, t - s->start_ms);
	return per_unit * 1000.0 / (double)s->time_unit_ms * ratecap_reqs_per_iter(s);
}

/* s's VUs at t: a closed model's (ramping linearly), an open model's maxVUs. */
static double vus_at(const plan_scenario *s, int64_t t, int left)
{
	if (!active(s, t, left))
		return 0;
	switch (s->executor) {
	case EXEC_RAMPING_VUS:
		return staged(s->start_vus, s->stages, s->nstages, t - s->start_ms);
	case EXEC_CONSTANT_ARRIVAL_RATE:
	case EXEC_RAMPING_ARRIVAL_RATE:
		return (double)s->max_vus;
	default:
		return (double)s->vus;
	}
}

/* Calls f at every boundary of every scenario of p. */
static void each_boundary(const plan *p, void (*f)(const plan *, int64_t, void *), void *arg)
{
	for (size_t i = 0; i < p->nscenarios; i++) {
		const plan_scenario *s = &p->scenarios[i];
		int64_t at = s->start_ms;
		f(p, at, arg);
		for (size_t k = 0; k < s->nstages; k++) {
			at += s->stages[k].duration_ms;
			f(p, at, arg);
		}
		f(p, s->start_ms + plan_scenario_length_ms(s), arg);
	}
}

static void at_boundary(const plan *p, int64_t t, void *arg)
{
	ratecap_peak *pk = arg;
	for (int left = 0; left < 2; left++) {
		double rate = 0, vus = 0;
		for (size_t i = 0; i < p->nscenarios; i++) {
			rate += rate_at(&p->scenarios[i], t, left);
			vus += vus_at(&p->scenarios[i], t, left);
		}
		if (rate > pk->rate + 1e-9) {
			pk->rate = rate;
			pk->rate_at_ms = t;
		}
		if ((int64_t)ceil(vus - 1e-9) > pk->vus) {
			pk->vus = (int64_t)ceil(vus - 1e-9);
			pk->vus_at_ms = t;
		}
	}
}

void ratecap_compute(const plan *p, ratecap_peak *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < p->nscenarios; i++)
		if (!ratecap_open(&p->scenarios[i]) && ratecap_reqs_per_iter(&p->scenarios[i]) > 0)
			out->closed = 1;
	each_boundary(p, at_boundary, out);
}

/* Appends each scenario's part at t (rates or VUs) to msg. */
static void parts(const plan *p, int64_t t, int vus, char *msg, size_t len)
{
	size_t used = strlen(msg);
	const char *sep = "";
	for (size_t i = 0; i < p->nscenarios && used < len; i++) {
		const plan_scenario *s = &p->scenarios[i];
		double r = 0, v = 0;
		/* The side the peak was on: whichever is larger. */
		for (int left = 0; left < 2; left++) {
			r = fmax(r, rate_at(s, t, left));
			v = fmax(v, vus_at(s, t, left));
		}
		int n;
		if (vus && v > 0)
			n = snprintf(msg + used, len - used, "%s%s %.0f %s", sep, s->name, ceil(v - 1e-9),
			             ratecap_open(s) ? "maxVUs" : "VUs");
		else if (!vus && r > 0)
			n = snprintf(msg + used, len - used,
			             "%s%s %.4g iterations/s x %.4g requests per iteration = %.4g/s", sep,
			             s->name, r / ratecap_reqs_per_iter(s), ratecap_reqs_per_iter(s), r);
		else
			n = 0;
		if (n < 0)
			return;
		if (n > 0)
			sep = ", ";
		used += (size_t)n;
	}
	if (used + 2 < len) {
		msg[used] = ')';
		msg[used + 1] = '\0';
	}
}

int ratecap_check(const plan *p, char *msg, size_t len)
{
	ratecap_peak pk;
	int n;
	ratecap_compute(p, &pk);
	msg[0] = '\0';
	if (p->max_rate > 0 && pk.rate > (double)p->max_rate + 1e-9) {
		n = snprintf(
		    msg, len,
		    "the plan's peak of %.4g requests/s at %.3g s exceeds maxRate %lld/s (arrival rates x "
		    "requests per iteration of the open-model scenarios running then: ",
		    pk.rate, (double)pk.rate_at_ms / 1000, (long long)p->max_rate);
		if (n > 0 && (size_t)n < len)
			parts(p, pk.rate_at_ms, 0, msg, len);
		return -1;
	}
	if (p->max_vus_cap > 0 && pk.vus > p->max_vus_cap) {
		n = snprintf(
		    msg, len,
		    "the plan's peak of %lld VUs at %.3g s exceeds maxVUs %lld (VUs of the closed-model and "
		    "maxVUs of the open-model scenarios running then: ",
		    (long long)pk.vus, (double)pk.vus_at_ms / 1000, (long long)p->max_vus_cap);
		if (n > 0 && (size_t)n < len)
			parts(p, pk.vus_at_ms, 1, msg, len);
		return -1;
	}
	if (p->max_rate > 0 && pk.closed && ratecap_closed_budget(p) < 1) {
		snprintf(
		    msg, len,
		    "maxRate %lld/s leaves no whole request/s for the closed-model scenarios: the open-model "
		    "ones peak at %.4g requests/s at %.3g s",
		    (long long)p->max_rate, pk.rate, (double)pk.rate_at_ms / 1000);
		return -1;
	}
	return 0;
}

int64_t ratecap_closed_budget(const plan *p)
{
	ratecap_peak pk;
	if (p->max_rate <= 0)
		return -1;
	ratecap_compute(p, &pk);
	double left = (double)p->max_rate - pk.rate;
	return left < 1 ? 0 : (int64_t)floor(left + 1e-9);
}

void ratecap_bucket_init(ratecap_bucket *b, int64_t k)
{
	atomic_init(&b->next_ns, 0);
	/* Rounded up: k slots must never fit in 1 s + slack. */
	b->spacing_ns = k > 0 ? ((1000 + RATECAP_SLACK_MS) * INT64_C(1000000) + k - 1) / k : INT64_MAX;
}

int64_t ratecap_reserve(ratecap_bucket *b, int64_t now_ns)
{
	if (b->spacing_ns == INT64_MAX)
		return INT64_MAX;
	int64_t next = atomic_load(&b->next_ns);
	for (;;) {
		int64_t slot = next > now_ns ? next : now_ns;
		if (atomic_compare_exchange_weak(&b->next_ns, &next, slot + b->spacing_ns))
			return slot;
	}
}

int64_t ratecap_lower(int64_t a, int64_t b)
{
	if (a <= 0)
		return b > 0 ? b : 0;
	return b > 0 && b < a ? b : a;
}

void ratecap_tighten(plan *p, int64_t max_rate, int64_t max_vus)
{
	p->max_rate = ratecap_lower(p->max_rate, max_rate);
	p->max_vus_cap = ratecap_lower(p->max_vus_cap, max_vus);
}

static void clamp(int64_t *v, int64_t cap)
{
	if (*v > cap)
		*v = cap;
}

void ratecap_clamp_vus(plan *p)
{
	int64_t cap = p->max_vus_cap;
	if (cap <= 0)
		return;
	for (size_t i = 0; i < p->nscenarios; i++) {
		plan_scenario *s = &p->scenarios[i];
		clamp(&s->vus, cap);
		clamp(&s->start_vus, cap);
		clamp(&s->pre_allocated_vus, cap);
		clamp(&s->max_vus, cap);
		if (s->executor == EXEC_RAMPING_VUS)
			for (size_t k = 0; k < s->nstages; k++)
				clamp(&s->stages[k].target, cap);
	}
}

double ratecap_vus_load(const plan *p, double vus)
{
	return p->max_vus_cap > 0 && vus > (double)p->max_vus_cap ? (double)p->max_vus_cap : vus;
}
