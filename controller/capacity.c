/*
 * `herd capacity fit`; see capacity.h. The levels are read from the store
 * (store_each_interval), the arithmetic is common/usl.c and common/knee.c,
 * and this file prints.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hist.h"
#include "common/knee.h"
#include "common/usl.h"
#include "controller/capacity.h"
#include "controller/outcome.h"

#define EXIT_NO_FIT 1 /* no such run, or nothing to fit: a clear message says which */

typedef struct walk {
	const char *scenario;
	capacity_level *lv;
	hist **h;
	size_t n;
	uint32_t interval_ms;
} walk;

static int on_row(void *arg, const char *agent_id, int64_t interval_ms, const wire_entry *e)
{
	walk *w = arg;
	(void)agent_id;
	if (strcmp(e->scenario, w->scenario) != 0)
		return 0;
	for (size_t i = 0; i < w->n; i++) {
		capacity_level *l = &w->lv[i];
		/* Whole intervals inside the window only. */
		if (interval_ms < l->from_ms || interval_ms + (int64_t)w->interval_ms > l->to_ms)
			continue;
		l->count += e->count;
		for (int k = 0; k < ERRK__N; k++)
			l->errors += e->errors[k];
		if (e->h != NULL)
			hist_merge(w->h[i], e->h);
	}
	return 0;
}

/* any_row's stop: not a herd_err, so a store error is told apart. */
#define FOUND 1000

static int any_row(void *arg, const char *agent_id, int64_t interval_ms, const wire_entry *e)
{
	(void)agent_id;
	(void)interval_ms;
	return strcmp(e->scenario, (const char *)arg) == 0 ? FOUND : 0;
}

/* The windows of a ramping scenario: a stage that holds the target of the
 * one before (or its start), measured over its second half, where the load
 * has settled. lv has room for every stage. */
static size_t stage_windows(const plan_scenario *s, int open, uint32_t interval_ms, capacity_level *lv)
{
	size_t n = 0;
	int64_t t = s->start_ms, prev = open ? s->start_rate : s->start_vus;
	for (size_t i = 0; i < s->nstages; i++) {
		const plan_stage *sg = &s->stages[i];
		if (sg->target == prev && sg->target > 0 && sg->duration_ms >= 2 * (int64_t)interval_ms) {
			lv[n].from_ms = t + sg->duration_ms / 2;
			lv[n].to_ms = t + sg->duration_ms;
			lv[n].vus = (double)sg->target; /* the open model's is measured later */
			n++;
		}
		prev = sg->target;
		t += sg->duration_ms;
	}
	return n;
}

/* Collects the judged holds of a stored breaking-point search. */
typedef struct bp_walk {
	const char *scenario;
	uint32_t interval_ms;
	capacity_level *lv;
	size_t n, cap;
} bp_walk;

static int on_bp_level(void *arg, const store_cap_level *l)
{
	bp_walk *b = arg;
	/* A generator-limited or interrupted level says nothing of the target. */
	if (strcmp(l->scenario, b->scenario) != 0 || (strcmp(l->verdict, "pass") != 0 && strcmp(l->verdict, "fail") != 0))
		return 0;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		capacity_level *lv = realloc(b->lv, cap * sizeof(*lv));
		if (lv == NULL)
			return HERD_ENOMEM;
		b->lv = lv;
		b->cap = cap;
	}
	/* The hold's intervals, both starts stored: up to the last one's end. */
	b->lv[b->n++] = (capacity_level){ .from_ms = l->from_ms, .to_ms = l->to_ms + b->interval_ms, .vus = l->load };
	return 0;
}

static int by_load(const void *a, const void *b)
{
	double x = ((const capacity_level *)a)->vus, y = ((const capacity_level *)b)->vus;
	return (x > y) - (x < y);
}

/* The windows of a breaking-point scenario: the holds its search judged,
 * in order of load (the bisection's levels come after the climb's). */
static int search_windows(store *st, const char *run_id, const plan_scenario *s, uint32_t interval_ms,
                          capacity_level **lv, size_t *n)
{
	bp_walk b = { s->name, interval_ms, NULL, 0, 0 };
	int rv = store_each_cap_level(st, run_id, on_bp_level, &b);
	if (rv != HERD_OK) {
		free(b.lv);
		return rv;
	}
	if (b.n > 1)
		qsort(b.lv, b.n, sizeof(*b.lv), by_load);
	*lv = b.lv;
	*n = b.n;
	return HERD_OK;
}

int capacity_levels(store *st, const char *run_id, const plan *p, uint32_t interval_ms, const char *scenario,
                    capacity_level **out, size_t *n, const char **what, int *little, const char **windows,
                    char *err, size_t errlen)
{
	const plan_scenario *s = NULL;
	for (size_t i = 0; i < p->nscenarios && s == NULL; i++)
		if (scenario != NULL ? strcmp(p->scenarios[i].name, scenario) == 0
		                     : p->scenarios[i].executor == EXEC_RAMPING_VUS ||
		                               p->scenarios[i].executor == EXEC_BREAKING_POINT)
			s = &p->scenarios[i];
	int search = s != NULL && s->executor == EXEC_BREAKING_POINT;
	int open = s != NULL && (s->executor == EXEC_RAMPING_ARRIVAL_RATE ||
	                         (search && s->bp.model == PLAN_BP_ARRIVAL_RATE));
	if (s == NULL || (s->executor != EXEC_RAMPING_VUS && s->executor != EXEC_RAMPING_ARRIVAL_RATE && !search)) {
		snprintf(err, errlen, scenario != NULL ? "scenario '%s' is not a ramping-vus, ramping-arrival-rate or "
		                                         "breaking-point scenario of this run"
		                                       : "the run has no ramping-vus or breaking-point scenario%s",
		         scenario != NULL ? scenario : "");
		return HERD_ENOTFOUND;
	}
	if (interval_ms == 0)
		interval_ms = 1000;
	capacity_level *lv = NULL;
	hist **h = NULL;
	walk w = { s->name, NULL, NULL, 0, interval_ms };
	int rv = HERD_ENOMEM;
	if (search) {
		if ((rv = search_windows(st, run_id, s, interval_ms, &lv, &w.n)) != HERD_OK)
			goto fail;
		rv = HERD_ENOMEM;
	} else {
		if ((lv = calloc(s->nstages + 1, sizeof(*lv))) == NULL)
			goto fail;
		w.n = stage_windows(s, open, interval_ms, lv);
	}
	if ((h = calloc(w.n + 1, sizeof(*h))) == NULL)
		goto fail;
	for (size_t i = 0; i < w.n; i++)
		if ((h[i] = hist_new()) == NULL)
			goto fail;
	w.lv = lv;
	w.h = h;
	/* Requests when the scenario sends any, else iterations. */
	*what = "http_reqs";
	const char *metric = "http_req_duration";
	rv = store_each_interval(st, run_id, metric, STORE_BY_ROW, any_row, (void *)s->name);
	if (rv == HERD_OK) {
		*what = "iterations";
		metric = "iterations";
	} else if (rv != FOUND) {
		goto fail;
	}
	if ((rv = store_each_interval(st, run_id, metric, STORE_BY_ROW, on_row, &w)) != HERD_OK)
		goto fail;
	for (size_t i = 0; i < w.n; i++) {
		capacity_level *l = &lv[i];
		/* The whole intervals inside [from, to). */
		int64_t k0 = (l->from_ms + interval_ms - 1) / interval_ms, k1 = l->to_ms / interval_ms;
		double secs = (double)(k1 > k0 ? k1 - k0 : 0) * interval_ms / 1000.0;
		l->throughput = secs > 0 ? (double)l->count / secs : 0;
		l->mean_ms = hist_mean(h[i]) / 1000.0;
		l->p95_ms = (double)hist_percentile(h[i], 95) / 1000.0;
		/* The open model sets a rate, not a concurrency: Little's law
		 * gives the concurrency it meant, throughput times time inside. */
		if (open)
			l->vus = l->throughput * l->mean_ms / 1000.0;
	}
	*little = open;
	*windows = search ? "the holds its breaking-point search judged, pass or fail, in order of load"
	                  : "the second half of each stage that holds its target";
	*out = lv;
	*n = w.n;
	lv = NULL;
	rv = HERD_OK;
fail:
	for (size_t i = 0; h != NULL && i < w.n; i++)
		hist_free(h[i]);
	free(h);
	free(lv);
	return rv;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: herd capacity fit RUN [--db FILE] [--scenario NAME]\n"
	           "   RUN is an id, a unique prefix of one, 'latest' or 'previous'. The run must have a\n"
	           "   ramping-vus scenario whose stages hold constant targets (the levels) or a\n"
	           "   breaking-point one (the holds its search judged), or name a ramping-arrival-rate\n"
	           "   one with --scenario (open models: concurrency by Little's law).\n");
}

/* Prints the fit of the levels; returns 0, or EXIT_NO_FIT with why on stderr. */
static int print_fit(const capacity_level *lv, size_t n, const char *what)
{
	double *nn = calloc(n + 1, sizeof(*nn)), *xx = calloc(n + 1, sizeof(*xx));
	double *kx = calloc(n + 1, sizeof(*kx)), *ky = calloc(n + 1, sizeof(*ky));
	char err[256];
	usl_fit f;
	int code = EXIT_NO_FIT;
	size_t m = 0;
	if (nn == NULL || xx == NULL || kx == NULL || ky == NULL) {
		fprintf(stderr, "herd: out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		nn[i] = lv[i].vus;
		xx[i] = lv[i].throughput;
	}
	if (usl_fit_points(nn, xx, n, &f, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "herd: cannot fit the Universal Scalability Law: %s\n", err);
		goto out;
	}
	printf("\nUniversal Scalability Law, X(N) = lambda N / (1 + sigma (N-1) + kappa N (N-1)):\n");
	printf("  lambda %.4g %s/s per VU, sigma %.4g, kappa %.4g, R^2 %.4f\n", f.lambda,
	       strcmp(what, "iterations") == 0 ? "iterations" : "requests", f.sigma, f.kappa, f.r2);
	if (isinf(f.n_star))
		printf("  peak: none predicted (kappa 0: throughput levels off at %.4g/s)\n", f.x_peak);
	else
		printf("  peak: N* = %.4g VUs, X(N*) = %.4g/s\n", f.n_star, f.x_peak);
	/* The knee on the rising part of the curve: latency against throughput
	 * must be a function of throughput for Kneedle. */
	for (size_t i = 0; i < n && (m == 0 || lv[i].throughput > kx[m - 1]); i++) {
		kx[m] = lv[i].throughput;
		ky[m++] = lv[i].mean_ms;
	}
	size_t k;
	int krv = knee_find(kx, ky, m, 1.0, &k, err, sizeof(err));
	if (krv == HERD_OK)
		printf("  knee (Kneedle, mean latency against throughput): level %zu, %.4g VUs, %.4g/s, %.4g ms\n", k + 1,
		       lv[k].vus, lv[k].throughput, lv[k].mean_ms);
	else
		printf("  knee (Kneedle, mean latency against throughput): none (%s)\n",
		       krv == HERD_ENOTFOUND ? "the curve has no knee" : err);
	size_t hold = n >= 5 ? 2 : 1;
	double herr;
	usl_fit hf;
	if (usl_holdout(nn, xx, n, hold, &hf, &herr, err, sizeof(err)) == HERD_OK)
		printf("  holdout: fitted without the top %zu level%s (sigma %.4g, kappa %.4g), their throughput "
		       "predicted within %.1f%% (mean relative error)\n",
		       hold, hold == 1 ? "" : "s", hf.sigma, hf.kappa, 100 * herr);
	else
		printf("  holdout: not done (%s)\n", err);
	code = 0;
out:
	free(nn);
	free(xx);
	free(kx);
	free(ky);
	return code;
}

static int fit_run(const char *db, const char *ref, const char *scenario)
{
	store *st = NULL;
	store_run run;
	plan *p = NULL;
	capacity_level *lv = NULL;
	size_t n = 0;
	char err[1024], id[128];
	const char *what = "";
	int code = EXIT_NO_FIT, have_run = 0;
	if (store_open(db, &st, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "herd: results store %s: %s\n", db, err);
		return EXIT_SETUP;
	}
	if (store_resolve_run(st, ref, id, sizeof(id)) != HERD_OK) {
		fprintf(stderr, "herd: %s: %s\n", db, store_errmsg(st));
		goto out;
	}
	if (store_run_get(st, id, &run) != HERD_OK) {
		fprintf(stderr, "herd: run %s: %s\n", id, store_errmsg(st));
		goto out;
	}
	have_run = 1;
	if (run.plan_text == NULL ||
	    plan_parse(run.plan_text, strlen(run.plan_text), run.plan_file ? run.plan_file : "plan", &p, err,
	               sizeof(err)) != HERD_OK) {
		fprintf(stderr, "herd: run %s: its stored plan does not parse: %s\n", id, run.plan_text ? err : "none stored");
		goto out;
	}
	int little = 0;
	const char *windows = "";
	int rv = capacity_levels(st, id, p, run.interval_ms, scenario, &lv, &n, &what, &little, &windows, err,
	                         sizeof(err));
	if (rv != HERD_OK) {
		fprintf(stderr, "herd: run %s: %s\n", id, rv == HERD_ENOTFOUND ? err : herd_strerror(rv));
		goto out;
	}
	printf("run %s (%s): %zu level%s (%s)\n", id, run.name, n, n == 1 ? "" : "s", windows);
	if (little)
		printf("  (an arrival-rate run: concurrency by Little's law, throughput x mean latency)\n");
	printf("  level      VUs  %12s/s   mean ms    p95 ms    errors\n",
	       strcmp(what, "iterations") == 0 ? "iterations" : "requests");
	for (size_t i = 0; i < n; i++)
		printf("  %5zu %8.*f  %14.2f %9.2f %9.2f %9llu\n", i + 1, little ? 2 : 0, lv[i].vus, lv[i].throughput,
		       lv[i].mean_ms, lv[i].p95_ms, (unsigned long long)lv[i].errors);
	code = print_fit(lv, n, what);
out:
	free(lv);
	plan_free(p);
	if (have_run)
		store_run_fini(&run);
	store_close(st);
	return code;
}

int cli_capacity(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "scenario", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = getenv("HERD_DB") ? getenv("HERD_DB") : "herd.db", *scenario = NULL;
	if (argc < 2 || strcmp(argv[1], "fit") != 0) {
		usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
		return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : EXIT_INVALID;
	}
	argc--;
	argv++;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 's': scenario = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_INVALID;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EXIT_INVALID;
	}
	return fit_run(db, argv[optind], scenario);
}
