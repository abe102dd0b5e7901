/*
 * The breaking-point search; see search.h. Times are ms since the load's
 * start; a level's start is the first whole interval after its load was set
 * (the first level's is 0: the agents start at it).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/knee.h"
#include "common/ratecap.h"
#include "common/threshold.h"
#include "controller/outcome.h"
#include "controller/search.h"

#define MAX_CPU_AGENTS 256

typedef struct objective {
	const plan_threshold *t;
	th_metric m;
	th_expr x;
	const char *step; /* {step:NAME}, or NULL */
} objective;

typedef enum phase { PH_START = 0, PH_LEVEL, PH_COOL, PH_DONE } phase;

struct search {
	search_cfg cfg;
	const plan_breaking *b;
	int64_t iv;
	objective *obj;
	size_t nobj;
	int64_t *up; /* the upward levels, capped */
	size_t nup, up_i;
	int refining;
	phase ph;
	/* The level running (PH_LEVEL), or the one after the cool-down. */
	double cur, next;
	int cur_refine, next_refine;
	int64_t hold_from, hold_to;
	int64_t cool_from, cool_until;
	/* What the levels said so far. */
	double pass;            /* the highest passing load (0: none) */
	double fail;            /* the lowest failing load above it (0: none) */
	char fail_why[200];
	int64_t fails_in_row;
	search_level *lv;
	size_t nlv, cap_lv;
	search_result res;
};

const char *search_verdict_name(search_verdict v)
{
	switch (v) {
	case SEARCH_PASS: return "pass";
	case SEARCH_FAIL: return "fail";
	case SEARCH_LIMITED: return "generator-limited";
	case SEARCH_CUT: return "interrupted";
	}
	return "?";
}

const char *search_outcome_name(search_outcome o)
{
	switch (o) {
	case SEARCH_RUNNING: return "running";
	case SEARCH_FOUND: return "found";
	case SEARCH_LOWER_BOUND: return "lower bound";
	case SEARCH_START_FAILS: return "start fails";
	case SEARCH_INTERRUPTED: return "interrupted";
	}
	return "?";
}

/* ---- objectives on the window ---- */

typedef enum mkind { MK_NONE = 0, MK_TREND, MK_RATE, MK_COUNTER } mkind;

static mkind metric_kind(const char *name)
{
	if (strcmp(name, "http_req_duration") == 0 || strcmp(name, "ws_msg_rtt") == 0)
		return MK_TREND;
	if (strcmp(name, "http_req_failed") == 0 || strcmp(name, "ws_session_failed") == 0)
		return MK_RATE;
	if (strcmp(name, "http_reqs") == 0 || strcmp(name, "iterations") == 0 ||
	    strcmp(name, "dropped_iterations") == 0 || strcmp(name, "ws_sessions") == 0)
		return MK_COUNTER;
	return MK_NONE;
}

static int agg_fits(mkind k, th_agg a)
{
	switch (k) {
	case MK_TREND: return a == TH_P || a == TH_AVG || a == TH_MED || a == TH_MIN || a == TH_MAX;
	case MK_RATE: return a == TH_RATE;
	case MK_COUNTER: return a == TH_COUNT || a == TH_RATE;
	case MK_NONE: break;
	}
	return 0;
}

/* Parses and checks objective i of s into *o. */
static int parse_objective(const plan_scenario *s, size_t i, objective *o, char *err, size_t errlen)
{
	const plan_threshold *t = &s->bp.objectives[i];
	char msg[256], lb[32];
	memset(o, 0, sizeof(*o));
	o->t = t;
	if (th_parse_metric(t->metric, &o->m, msg, sizeof(msg)) != 0 || th_parse_expr(t->expr, &o->x, msg, sizeof(msg)) != 0) {
		snprintf(err, errlen, "%s", msg);
		return -1;
	}
	mkind k = metric_kind(o->m.name);
	if (k == MK_NONE) {
		snprintf(err, errlen, "'%s' is not judged per level: objectives take http_req_duration, http_req_failed, "
		         "http_reqs, iterations, dropped_iterations, ws_msg_rtt, ws_sessions or ws_session_failed",
		         o->m.name);
		return -1;
	}
	if (!agg_fits(k, o->x.agg)) {
		snprintf(err, errlen, "'%s' has no '%s' (%s)", o->m.name, th_agg_label(&o->x, lb, sizeof(lb)),
		         k == MK_TREND ? "use p(N), avg, med, min or max" : k == MK_RATE ? "use rate" : "use count or rate");
		return -1;
	}
	for (size_t j = 0; j < o->m.ntags; j++) {
		const th_tag *g = &o->m.tags[j];
		if (strcmp(g->key, "step") == 0) {
			o->step = g->value;
		} else if (strcmp(g->key, "scenario") == 0) {
			if (strcmp(g->value, s->name) != 0) {
				snprintf(err, errlen, "tag scenario:%s is not this scenario ('%s')", g->value, s->name);
				return -1;
			}
		} else {
			snprintf(err, errlen, "tag '%s' is not judged per level: objectives take the tags scenario and step",
			         g->key);
			return -1;
		}
	}
	return 0;
}

int search_check(const plan_scenario *s, size_t *idx, char *err, size_t errlen)
{
	objective o;
	for (size_t i = 0; i < s->bp.nobjectives; i++)
		if (parse_objective(s, i, &o, err, errlen) != 0) {
			if (idx != NULL)
				*idx = i;
			return -1;
		}
	return 0;
}

/* The value an objective judges in st; 1 when st holds no data for it. */
static int objective_value(const objective *o, const win_stats *st, double *v)
{
	const char *n = o->m.name;
	const hist *h = strcmp(n, "ws_msg_rtt") == 0 ? &st->rtt : &st->lat;
	switch (metric_kind(n)) {
	case MK_TREND:
		if (h->total == 0)
			return 1;
		switch (o->x.agg) {
		case TH_P: *v = (double)hist_percentile(h, o->x.pct) / 1000.0; break;
		case TH_AVG: *v = hist_mean(h) / 1000.0; break;
		case TH_MED: *v = (double)hist_percentile(h, 50) / 1000.0; break;
		case TH_MIN: *v = (double)h->min / 1000.0; break;
		default: *v = (double)h->max / 1000.0; break;
		}
		return 0;
	case MK_RATE: {
		int ws = strcmp(n, "ws_session_failed") == 0;
		uint64_t all = ws ? st->ws_ended : st->reqs, bad = ws ? st->ws_failed : st->failed;
		if (all == 0)
			return 1;
		*v = (double)bad / (double)all;
		return 0;
	}
	case MK_COUNTER: {
		uint64_t c = strcmp(n, "http_reqs") == 0    ? st->reqs
		             : strcmp(n, "iterations") == 0 ? st->iterations
		             : strcmp(n, "ws_sessions") == 0 ? st->ws_ended
		                                             : st->dropped;
		if (st->seconds <= 0)
			return 1;
		*v = o->x.agg == TH_COUNT ? (double)c : (double)c / st->seconds;
		return 0;
	}
	case MK_NONE: break;
	}
	return 1;
}

/* ---- levels ---- */

void search_cap_set(search_cfg *cfg, int64_t max_rate, int64_t max_vus, char *what, size_t len)
{
	const plan_scenario *sc = cfg->s;
	double per_iter = ratecap_reqs_per_iter(sc);
	cfg->cap = 0;
	cfg->cap_what = NULL;
	if (sc->bp.model == PLAN_BP_ARRIVAL_RATE && max_rate > 0 && per_iter > 0) {
		cfg->cap = (double)max_rate / per_iter;
		snprintf(what, len, "maxRate %lld/s", (long long)max_rate);
		cfg->cap_what = what;
	} else if (sc->bp.model == PLAN_BP_VUS && max_vus > 0) {
		cfg->cap = (double)max_vus;
		snprintf(what, len, "maxVUs %lld", (long long)max_vus);
		cfg->cap_what = what;
	}
}

int search_new(const search_cfg *cfg, search **out, char *err, size_t errlen)
{
	const plan_scenario *sc = cfg->s;
	search *s;
	if (sc == NULL || sc->executor != EXEC_BREAKING_POINT) {
		snprintf(err, errlen, "not a breaking-point scenario");
		return HERD_EINVAL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return HERD_ENOMEM;
	s->cfg = *cfg;
	s->b = &sc->bp;
	s->iv = cfg->interval_ms > 0 ? cfg->interval_ms : 1000;
	size_t n = plan_bp_levels(s->b, NULL, 0);
	s->obj = calloc(sc->bp.nobjectives + 1, sizeof(*s->obj));
	s->up = calloc(n + 1, sizeof(*s->up));
	if (s->obj == NULL || s->up == NULL) {
		search_free(s);
		return HERD_ENOMEM;
	}
	for (s->nobj = 0; s->nobj < sc->bp.nobjectives; s->nobj++)
		if (parse_objective(sc, s->nobj, &s->obj[s->nobj], err, errlen) != 0) {
			search_free(s);
			return HERD_EINVAL;
		}
	plan_bp_levels(s->b, s->up, n);
	/* Levels above a cap are never run. */
	s->nup = n;
	while (cfg->cap > 0 && s->nup > 0 && (double)s->up[s->nup - 1] > cfg->cap)
		s->nup--;
	if (s->nup == 0) {
		snprintf(err, errlen, "the first level (%lld) is above %s", (long long)sc->bp.start,
		         cfg->cap_what != NULL ? cfg->cap_what : "the plan's cap");
		search_free(s);
		return HERD_EINVAL;
	}
	*out = s;
	return HERD_OK;
}

void search_free(search *s)
{
	if (s == NULL)
		return;
	free(s->obj);
	free(s->up);
	free(s->lv);
	free(s);
}

static void begin_level(search *s, double load, int refine, int64_t t_ms, int first)
{
	int64_t start = first ? 0 : (t_ms / s->iv + 1) * s->iv;
	int64_t warm = (s->b->warmup_ms + s->iv - 1) / s->iv * s->iv;
	int64_t nhold = (s->b->hold_ms + s->iv - 1) / s->iv;
	s->cur = load;
	s->cur_refine = refine;
	s->hold_from = start + warm;
	s->hold_to = s->hold_from + (nhold > 1 ? nhold - 1 : 0) * s->iv;
	s->ph = PH_LEVEL;
}

/* The busiest agent's CPU (% of its cores) over the intervals from..to. */
static double busiest(const search *s, const win *w, int64_t from, int64_t to)
{
	win_cpu c[MAX_CPU_AGENTS];
	double top = 0;
	for (int64_t t = from; t <= to; t += s->iv) {
		size_t n = win_cpu_at(w, t, c, MAX_CPU_AGENTS);
		for (size_t i = 0; i < n; i++) {
			double cores = s->cfg.cores_of != NULL ? s->cfg.cores_of(s->cfg.arg, c[i].agent) : 1;
			double pct = c[i].cpu_pct / (cores > 0 ? cores : 1);
			top = pct > top ? pct : top;
		}
	}
	return top;
}

/* Judges the level that ran: its record is appended. */
static int judge(search *s, const win *w)
{
	win_stats *st = malloc(sizeof(*st)), *sub = NULL;
	const char *scen = s->cfg.s->name;
	int vus_model = s->b->model == PLAN_BP_VUS;
	if (st == NULL)
		return HERD_ENOMEM;
	if (s->nlv == s->cap_lv) {
		size_t nc = s->cap_lv ? s->cap_lv * 2 : 16;
		search_level *nl = realloc(s->lv, nc * sizeof(*nl));
		if (nl == NULL) {
			free(st);
			return HERD_ENOMEM;
		}
		s->lv = nl;
		s->cap_lv = nc;
	}
	search_level *l = &s->lv[s->nlv];
	memset(l, 0, sizeof(*l));
	win_get(w, scen, NULL, s->hold_from, s->hold_to, st);
	l->load = s->cur;
	l->refine = s->cur_refine;
	l->from_ms = s->hold_from;
	l->to_ms = s->hold_to;
	l->offered = s->cur;
	l->achieved = vus_model ? (double)st->vus : st->started_rate;
	l->rps = st->rps;
	l->iter_rate = st->seconds > 0 ? (double)st->iterations / st->seconds : 0;
	int http = st->lat.total > 0;
	const hist *h = http ? &st->lat : &st->rtt;
	l->p50_ms = (double)hist_percentile(h, 50) / 1000.0;
	l->p95_ms = (double)hist_percentile(h, 95) / 1000.0;
	l->p99_ms = (double)hist_percentile(h, 99) / 1000.0;
	l->mean_ms = hist_mean(h) / 1000.0;
	l->error_rate = http || st->ws_ended == 0 ? st->error_rate : (double)st->ws_failed / (double)st->ws_ended;
	l->dropped = st->dropped;
	l->max_cpu = busiest(s, w, s->hold_from, s->hold_to);

	/* The objectives, each on its key's window. */
	int broke = 0;
	for (size_t i = 0; i < s->nobj && !broke; i++) {
		const objective *o = &s->obj[i];
		const win_stats *use = st;
		double v = 0;
		if (o->step != NULL) {
			if (sub == NULL && (sub = malloc(sizeof(*sub))) == NULL) {
				free(st);
				return HERD_ENOMEM;
			}
			win_get(w, scen, o->step, s->hold_from, s->hold_to, sub);
			use = sub;
		}
		if (objective_value(o, use, &v) != 0) {
			if (!o->t->allow_nodata) {
				broke = 1;
				snprintf(l->why, sizeof(l->why), "%s: %s (no data)", o->t->metric, o->t->expr);
			}
		} else if (!th_compare(o->x.op, v, o->x.value)) {
			broke = 1;
			snprintf(l->why, sizeof(l->why), "%s: %s (%.4g)", o->t->metric, o->t->expr, v);
		}
	}
	free(sub);
	free(st);

	/* The generator: a saturated agent's latencies say nothing of the
	 * target, even when an objective failed; dropped iterations and a rate
	 * under what was offered do only while the objectives hold (a slow
	 * target keeps every VU busy too). */
	char gen[200] = "";
	if (l->max_cpu > SEARCH_CPU_LIMIT)
		snprintf(gen, sizeof(gen), "an agent ran at %.0f%% CPU (over %.0f%%)", l->max_cpu, SEARCH_CPU_LIMIT);
	else if (l->dropped > 0)
		snprintf(gen, sizeof(gen), "%llu iterations dropped (every VU busy: raise maxVUs or add agents)",
		         (unsigned long long)l->dropped);
	else if (l->achieved < SEARCH_ACHIEVED_MIN * l->offered)
		snprintf(gen, sizeof(gen), "achieved %.4g of %.4g %s offered (under %.0f%%)", l->achieved, l->offered,
		         vus_model ? "VUs" : "iterations/s", SEARCH_ACHIEVED_MIN * 100);
	if (broke && !(l->max_cpu > SEARCH_CPU_LIMIT)) {
		l->verdict = SEARCH_FAIL;
	} else if (gen[0] != '\0') {
		l->verdict = SEARCH_LIMITED;
		snprintf(l->why, sizeof(l->why), "%s", gen);
	} else {
		l->verdict = SEARCH_PASS;
	}
	s->nlv++;
	return HERD_OK;
}

/* The measured requests/s at the sustainable load: its last passing level. */
static double rps_at(const search *s, double load)
{
	for (size_t i = s->nlv; i-- > 0;)
		if (s->lv[i].verdict == SEARCH_PASS && s->lv[i].load == load)
			return s->lv[i].rps;
	return 0;
}

static void finish(search *s, search_outcome o, const char *reason)
{
	s->ph = PH_DONE;
	s->res.outcome = o;
	s->res.sustainable = s->pass;
	s->res.sustainable_rps = rps_at(s, s->pass);
	s->res.first_fail = s->fail;
	snprintf(s->res.broke, sizeof(s->res.broke), "%s", s->fail > 0 ? s->fail_why : "");
	snprintf(s->res.reason, sizeof(s->res.reason), "%s", reason != NULL ? reason : "");
}

/* The next level after a verdict: the next one up, or a bisection; 0 when
 * the search is over (finish was called). */
static double next_level(search *s, int *refine)
{
	char why[240];
	*refine = 0;
	if (!s->refining && s->fails_in_row == 0) {
		if (s->up_i + 1 < s->nup)
			return (double)s->up[++s->up_i];
		if (s->cfg.cap > 0 && s->nup < plan_bp_levels(s->b, NULL, 0))
			snprintf(why, sizeof(why), "every level passed up to %.6g, the highest %s allows", s->pass,
			         s->cfg.cap_what != NULL ? s->cfg.cap_what : "the plan's cap");
		else
			snprintf(why, sizeof(why), "every level passed up to max (%.6g): the target's capacity is higher",
			         s->pass);
		finish(s, SEARCH_LOWER_BOUND, why);
		return 0;
	}
	if (!s->refining && s->fails_in_row < s->b->failures_to_stop && s->up_i + 1 < s->nup)
		return (double)s->up[++s->up_i];
	if (s->pass <= 0) {
		finish(s, SEARCH_START_FAILS, "the first level already failed: lower 'start'");
		return 0;
	}
	s->refining = 1;
	double gap = s->fail - s->pass;
	double mid = floor((s->pass + s->fail) / 2);
	if (gap <= s->b->resolution * s->pass || mid <= s->pass || mid >= s->fail) {
		finish(s, SEARCH_FOUND, "");
		return 0;
	}
	*refine = 1;
	return mid;
}

int search_step(search *s, const win *w, int64_t t_ms, int64_t last_ms, search_action *act, double *load,
                long *level)
{
	*act = SEARCH_WAIT;
	if (level != NULL)
		*level = -1;
	switch (s->ph) {
	case PH_DONE: return HERD_OK;
	case PH_START:
		begin_level(s, (double)s->up[0], 0, 0, 1);
		return HERD_OK;
	case PH_COOL: {
		/* Nothing in flight any more (the last whole interval ran no VU),
		 * or waited long enough: the next level. */
		win_stats *st = malloc(sizeof(*st));
		if (st == NULL)
			return HERD_ENOMEM;
		int idle = 0;
		if (last_ms >= s->cool_from) {
			win_get(w, s->cfg.s->name, NULL, last_ms, last_ms, st);
			idle = st->intervals > 0 && st->vus == 0;
		}
		free(st);
		if (!idle && t_ms < s->cool_until)
			return HERD_OK;
		begin_level(s, s->next, s->next_refine, t_ms, 0);
		*act = SEARCH_SET;
		*load = s->cur;
		return HERD_OK;
	}
	case PH_LEVEL: break;
	}
	/* The hold's last interval must have ended a whole interval ago, so
	 * every agent's batch for it is in. */
	if (last_ms < s->hold_to + s->iv)
		return HERD_OK;
	int rv = judge(s, w);
	if (rv != HERD_OK)
		return rv;
	if (level != NULL)
		*level = (long)(s->nlv - 1);
	const search_level *l = &s->lv[s->nlv - 1];
	if (l->verdict == SEARCH_LIMITED) {
		char why[240];
		snprintf(why, sizeof(why), "generator-limited at %.6g: %s", l->load, l->why);
		finish(s, SEARCH_LOWER_BOUND, why);
	} else if (l->verdict == SEARCH_PASS) {
		s->fails_in_row = 0;
		if (l->load > s->pass)
			s->pass = l->load;
		if (!s->refining) {
			s->fail = 0;
			s->fail_why[0] = '\0';
		}
	} else {
		s->fails_in_row++;
		if (s->fail == 0 || l->load < s->fail) {
			s->fail = l->load;
			snprintf(s->fail_why, sizeof(s->fail_why), "%s", l->why);
		}
	}
	if (s->ph == PH_DONE) {
		*act = SEARCH_END;
		return HERD_OK;
	}
	int refine;
	double next = next_level(s, &refine);
	if (s->ph == PH_DONE) {
		*act = SEARCH_END;
		return HERD_OK;
	}
	if (l->verdict == SEARCH_FAIL) {
		/* Let what the failing level queued at the target drain first. */
		s->ph = PH_COOL;
		s->next = next;
		s->next_refine = refine;
		s->cool_from = (t_ms / s->iv + 1) * s->iv;
		s->cool_until = t_ms + SEARCH_COOL_MAX_MS;
		s->cur = 0;
		*act = SEARCH_SET;
		*load = 0;
		return HERD_OK;
	}
	begin_level(s, next, refine, t_ms, 0);
	*act = SEARCH_SET;
	*load = s->cur;
	return HERD_OK;
}

void search_interrupt(search *s, int64_t since_ms, const char *why)
{
	char lv[120] = "", revoked[120] = "", reason[sizeof(s->res.reason)];
	size_t first = s->nlv;
	if (s->res.outcome == SEARCH_INTERRUPTED)
		return;
	/* Levels whose hold's last interval ended after the agent was last
	 * heard lack its share: not a verdict on the target. */
	for (size_t i = 0; i < s->nlv; i++) {
		search_level *l = &s->lv[i];
		if (l->to_ms + s->iv <= since_ms)
			continue;
		if (i < first)
			first = i;
		l->verdict = SEARCH_CUT;
		snprintf(l->why, sizeof(l->why), "%s", why);
	}
	/* Done on whole data before the agent went silent: the answer stands. */
	if (s->ph == PH_DONE && first == s->nlv)
		return;
	if (first < s->nlv)
		snprintf(revoked, sizeof(revoked), "; level%s %zu%s ran after it was last heard and %s not judged",
		         s->nlv - first > 1 ? "s" : "", first + 1, s->nlv - first > 1 ? " on" : "",
		         s->nlv - first > 1 ? "are" : "is");
	const char *unit = s->b->model == PLAN_BP_VUS ? "VUs" : "iterations/s";
	if (s->ph == PH_LEVEL)
		snprintf(lv, sizeof(lv), "level %zu (%g %s)", s->nlv + 1, s->cur, unit);
	else if (s->ph == PH_COOL)
		snprintf(lv, sizeof(lv), "the cool-down before level %zu (%g %s)", s->nlv + 1, s->next, unit);
	else if (first < s->nlv)
		snprintf(lv, sizeof(lv), "level %zu (%g %s)", first + 1, s->lv[first].load, unit);
	else
		snprintf(lv, sizeof(lv), "the search");
	snprintf(reason, sizeof(reason), "%s was interrupted: %s%s; the levels before it are kept, no capacity is "
	         "reported", lv, why, revoked);
	finish(s, SEARCH_INTERRUPTED, reason);
	s->res.sustainable = 0;
	s->res.sustainable_rps = 0;
	s->res.first_fail = 0;
	s->res.broke[0] = '\0';
}

int search_exit_code(const search *se, int code, char *reason, size_t len)
{
	if (se == NULL || code != EXIT_OK)
		return code;
	const search_result *r = search_result_of(se);
	switch (r->outcome) {
	case SEARCH_RUNNING:
	case SEARCH_LOWER_BOUND:
		snprintf(reason, len, "only a lower bound: %s", r->reason[0] ? r->reason : "the search did not finish");
		return EXIT_LOWER_BOUND;
	case SEARCH_START_FAILS:
		snprintf(reason, len, "no sustainable load: %s (%s)", r->reason, r->broke);
		return EXIT_THRESHOLDS;
	case SEARCH_INTERRUPTED:
		/* Never a pass: the levels lack part of their load, whatever else
		 * the run saw. */
		snprintf(reason, len, "degraded: %s", r->reason);
		return EXIT_DEGRADED;
	case SEARCH_FOUND: break;
	}
	return code;
}

void search_abandon(search *s)
{
	if (s->ph == PH_DONE)
		return;
	if (s->pass > 0 && s->fail > 0)
		finish(s, SEARCH_FOUND, "the run stopped before the refinement ended: the gap is wider than resolution");
	else if (s->pass <= 0 && s->fail > 0)
		finish(s, SEARCH_START_FAILS, "the first level already failed: lower 'start'");
	else
		finish(s, SEARCH_LOWER_BOUND, "the run stopped before any level failed");
}

const search_level *search_levels(const search *s, size_t *n)
{
	*n = s->nlv;
	return s->lv;
}

const search_result *search_result_of(const search *s)
{
	return &s->res;
}

const plan_scenario *search_scenario(const search *s)
{
	return s->cfg.s;
}

double search_current(const search *s)
{
	return s->ph == PH_LEVEL ? s->cur : 0;
}

/* ---- the knee and the USL ---- */

typedef struct pt {
	double x, y, n;
} pt;

static int by_x(const void *a, const void *b)
{
	double d = ((const pt *)a)->x - ((const pt *)b)->x;
	return d < 0 ? -1 : d > 0;
}

void search_fit_levels(const search *s, search_fit *out)
{
	char err[160];
	memset(out, 0, sizeof(*out));
	out->little = s->b->model == PLAN_BP_ARRIVAL_RATE;
	pt *p = calloc(s->nlv + 1, sizeof(*p));
	double *x = calloc(s->nlv + 1, sizeof(*x) * 2);
	if (p == NULL || x == NULL) {
		snprintf(out->note, sizeof(out->note), "out of memory");
		goto out;
	}
	size_t n = 0;
	for (size_t i = 0; i < s->nlv; i++) {
		const search_level *l = &s->lv[i];
		double thr = l->rps > 0 ? l->rps : l->iter_rate;
		if (l->verdict == SEARCH_LIMITED || l->verdict == SEARCH_CUT || !(thr > 0))
			continue;
		p[n].x = thr;
		p[n].y = l->p95_ms;
		p[n].n = out->little ? thr * l->mean_ms / 1000.0 : l->load;
		if (p[n].n > 0)
			n++;
	}
	qsort(p, n, sizeof(*p), by_x);
	/* Kneedle wants x strictly increasing: equal throughputs keep the first. */
	double *kx = x, *ky = x + s->nlv + 1;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (k == 0 || p[i].x > kx[k - 1]) {
			kx[k] = p[i].x;
			ky[k++] = p[i].y;
		}
	size_t idx;
	if (k >= 3 && knee_find(kx, ky, k, 1.0, &idx, err, sizeof(err)) == HERD_OK) {
		out->has_knee = 1;
		out->knee_rps = kx[idx];
		out->knee_p95_ms = ky[idx];
	}
	out->points = n;
	if (n < 4) {
		snprintf(out->note, sizeof(out->note), "%zu levels measured: the USL fit takes 4 at least", n);
		goto out;
	}
	double *nn = kx, *xx = ky;
	for (size_t i = 0; i < n; i++) {
		nn[i] = p[i].n;
		xx[i] = p[i].x;
	}
	if (usl_fit_points(nn, xx, n, &out->usl, err, sizeof(err)) != HERD_OK) {
		snprintf(out->note, sizeof(out->note), "USL: %s", err);
		goto out;
	}
	out->has_usl = 1;
	out->holdout_k = n >= 6 ? 2 : 1;
	out->has_holdout = usl_holdout(nn, xx, n, out->holdout_k, NULL, &out->holdout_err, err, sizeof(err)) ==
	                   HERD_OK;
out:
	free(p);
	free(x);
}
