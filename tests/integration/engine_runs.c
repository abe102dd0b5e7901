/*
 * Drives the run engine the way a daemon will (engine_test.py): one store
 * and one listener opened once, then each plan given run one after the
 * other through the engine over the same cluster, with the same agents.
 *
 *   engine_runs URL DB NAGENTS PLAN...
 *
 * Prints one line per run, "run N id=ID code=C ticks=T tick_reqs=R
 * window_reqs=W results_reqs=Q cpu_agents=C joined=J idle_before=I
 * states=S,... agents=NAME:PID:STATE,...",
 * where tick_reqs sums the requests of the intervals on_tick reported,
 * window_reqs is the whole live window's count at the end, results_reqs
 * the results' http_reqs, cpu_agents the most agents whose CPU one
 * interval of the window holds, joined the agent_joined and agent_rejoined
 * events the run saw, idle_before the idle agents when it was made, and
 * states the states it entered in order.
 * Exits 0 when every run was judged, 1 otherwise.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "controller/cluster.h"
#include "controller/engine.h"

typedef struct seen {
	int ticks;
	uint64_t tick_reqs;
	int joined;
	int judged;
	char states[128]; /* the states entered, in order, comma-separated */
} seen;

static void on_tick(void *arg, const eng_tick *t)
{
	seen *s = arg;
	win_stats *ws = malloc(sizeof(*ws));
	s->ticks++;
	if (ws != NULL && t->interval_ms >= 0 &&
	    win_get(t->w, NULL, NULL, t->interval_ms, t->interval_ms, ws) == HERD_OK)
		s->tick_reqs += ws->reqs;
	free(ws);
}

static void on_event(void *arg, const eng_event *e)
{
	seen *s = arg;
	if (e->type == ENG_EV_STATE) {
		size_t len = strlen(s->states);
		snprintf(s->states + len, sizeof(s->states) - len, "%s%s", len ? "," : "", eng_state_name(e->state));
	}
	if (e->type == ENG_EV_CLUSTER &&
	    (strcmp(e->kind, "agent_joined") == 0 || strcmp(e->kind, "agent_rejoined") == 0))
		s->joined++;
}

static int on_done(void *arg, const eng_done *d)
{
	seen *s = arg;
	s->judged = d->judged;
	return d->code;
}

typedef struct totals {
	uint64_t window, results;
	size_t cpu_agents; /* the most agents with a CPU figure in one interval */
} totals;

static int read_totals(void *arg, const eng_snapshot *s)
{
	totals *t = arg;
	win_stats *ws = malloc(sizeof(*ws));
	res_agg *ra = malloc(sizeof(*ra));
	if (ws != NULL && win_get(s->w, NULL, NULL, 0, INT64_MAX, ws) == HERD_OK)
		t->window = ws->reqs;
	if (ra != NULL && results_query(s->res, "http_reqs", NULL, 0, ra) == HERD_OK)
		t->results = ra->count;
	win_cpu cpu[16];
	for (int64_t at = 0; at <= win_latest_ms(s->w); at += win_interval_len_ms(s->w)) {
		size_t n = win_cpu_at(s->w, at, cpu, 16);
		t->cpu_agents = n > t->cpu_agents ? n : t->cpu_agents;
	}
	free(ws);
	free(ra);
	return 0;
}

int main(int argc, char **argv)
{
	char err[2048];
	store *st = NULL;
	cluster *cl = NULL;
	int failed = 0;
	if (argc < 5) {
		fprintf(stderr, "usage: engine_runs URL DB NAGENTS PLAN...\n");
		return 2;
	}
	int nagents = atoi(argv[3]);
	if (store_open(argv[2], &st, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "store: %s\n", err);
		return 1;
	}
	cluster_cfg cc = { .url = argv[1], .max_agents = nagents };
	if (cluster_open(&cc, &cl, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "cluster: %s\n", err);
		store_close(st);
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	for (int i = 4; i < argc; i++) {
		plan *p = NULL;
		char *text = NULL;
		eng *e = NULL;
		seen s = { 0 };
		totals t = { 0 };
		if (eng_plan_load(argv[i], NULL, &p, &text, err, sizeof(err)) != HERD_OK) {
			fprintf(stderr, "%s\n", err);
			failed = 1;
			break;
		}
		int idle = cluster_wait_idle(cl, 0, 0);
		eng_cfg ec = {
			.plan = p,
			.plan_path = argv[i],
			.plan_text = text,
			.st = st,
			.agents = nagents,
			.agents_wait_ms = 30000,
			.hooks = { on_tick, on_event, on_done, &s },
		};
		if (eng_new(&ec, &e, err, sizeof(err)) != HERD_OK || eng_start(e, cl) != HERD_OK) {
			fprintf(stderr, "engine: %s\n", err);
			eng_free(e);
			plan_free(p);
			free(text);
			failed = 1;
			break;
		}
		int code = eng_run(e);
		eng_view(e, read_totals, &t);
		agent_info ai[16];
		size_t n = cluster_agents(cl, ai, 16);
		printf("run %d id=%s code=%d ticks=%d tick_reqs=%" PRIu64 " window_reqs=%" PRIu64
		       " results_reqs=%" PRIu64 " cpu_agents=%zu joined=%d idle_before=%d states=%s agents=",
		       i - 3, eng_run_id(e), code, s.ticks, s.tick_reqs, t.window, t.results, t.cpu_agents, s.joined,
		       idle, s.states);
		for (size_t k = 0; k < n; k++)
			printf("%s%s:%u:%s", k ? "," : "", ai[k].name, ai[k].pid, agent_state_name(ai[k].state));
		printf("\n");
		fflush(stdout);
		failed |= !s.judged;
		eng_free(e);
		plan_free(p);
		free(text);
	}
	cluster_close(cl);
	store_close(st);
	return failed;
}
