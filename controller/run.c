/*
 * `herd run`: the command-line side of a run; see run.h. It loads the plan,
 * opens the store and the listener, starts local agents (herd-agent
 * processes dialing over ipc://, exactly as remote agents do over tcp://),
 * and drives the run engine (engine.h), turning its hooks into the live
 * line, messages, the summary and the export. Signals are caught here:
 * Ctrl-C, SIGTERM and SIGHUP stop the run through the engine.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/hdrv.h"
#include "common/log.h"
#include "common/plan.h"
#include "common/ratecap.h"
#include "common/split.h"
#include "controller/cluster.h"
#include "controller/engine.h"
#include "controller/live.h"
#include "controller/loadsched.h"
#include "controller/metrics_http.h"
#include "controller/prom.h"
#include "controller/run.h"
#include "controller/search.h"
#include "controller/searchrun.h"
#include "controller/store.h"

#define JOIN_TIMEOUT_MS 15000
#define START_DELAY_MS 500
#define START_DELAY_REMOTE_MS 1000

static volatile sig_atomic_t interrupts, interrupt_signal;

static void on_sigint(int sig)
{
	interrupts++;
	interrupt_signal = sig;
}

/*
 * SIGINT (Ctrl-C), SIGTERM (`timeout`, kill, a service manager's stop) and
 * SIGHUP (the terminal went away) all stop the run: the first gracefully,
 * the second at once; the summary is printed and the run stored as
 * interrupted either way. SIGINT and SIGHUP that were ignored when herd
 * started stay ignored: `nohup herd run` keeps running when its terminal
 * goes, and a script's background job is not stopped by a Ctrl-C meant for
 * the script (as the shell intends); SIGTERM is always caught. SIGPIPE is
 * ignored, so that output to a reader gone with the terminal
 * (`herd run | tee`) fails instead of killing us before the run is stored.
 */
static void catch_stop_signals(void)
{
	static const int terminal_sigs[] = { SIGINT, SIGHUP };
	struct sigaction sa = { .sa_handler = on_sigint }, old;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	for (size_t i = 0; i < sizeof(terminal_sigs) / sizeof(terminal_sigs[0]); i++)
		if (sigaction(terminal_sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
			sigaction(terminal_sigs[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGINT: return "Ctrl-C";
	case SIGTERM: return "SIGTERM";
	case SIGHUP: return "SIGHUP";
	default: return "a signal";
	}
}

typedef struct run {
	const run_opts *o;
	plan *plan;
	char *plan_text;
	store *st;
	const char *db;
	live *lv;
	cluster *cl;
	eng *e;
	char tmpdir[PATH_MAX];
	char url[PATH_MAX + 16];
	pid_t *pids;
	int npids;
	int nlocal;
	loadsched hook;   /* HERD_TEST_LOAD_SCHEDULE */
	srun *sr;         /* the plan's breaking-point search, NULL: none */
	metrics_http *mh; /* --metrics-addr, NULL: none */
	size_t nagents;   /* in the run, once assigned */
	int judged;       /* the engine judged the run: its end is reported */
	char reason[700]; /* why, from on_done */
} run;

/* A scrape of --metrics-addr, on an NNG thread: the results as merged so far. */
#define PROM_MAX_AGENTS 1024
typedef struct scrape {
	prom_names *nm;
	sbuf *out;
} scrape;

static int render_locked(void *arg, const eng_snapshot *s)
{
	scrape *sc = arg;
	return prom_render(s->res, s->run_id, s->plan->name, sc->nm, sc->out);
}

static int render_metrics(void *arg, sbuf *out)
{
	run *r = arg;
	/* The agents' names first: the registry has its own lock, never taken
	 * inside the run's. */
	agent_info *ai = calloc(PROM_MAX_AGENTS, sizeof(*ai));
	const char *ids[PROM_MAX_AGENTS], *names[PROM_MAX_AGENTS];
	prom_names nm = { ids, names, 0 };
	if (ai != NULL && r->cl != NULL)
		nm.n = cluster_agents(r->cl, ai, PROM_MAX_AGENTS);
	for (size_t i = 0; i < nm.n; i++) {
		ids[i] = ai[i].id;
		names[i] = ai[i].name;
	}
	scrape sc = { &nm, out };
	int rv = eng_view(r->e, render_locked, &sc);
	free(ai);
	return rv;
}

/* ---- local agents ---- */

/* Whether dir/herd-agent is an executable file; leaves its path in out. */
static int agent_bin_in(const char *dir, size_t dirlen, char *out, size_t len)
{
	struct stat st;
	int n = snprintf(out, len, "%.*s/herd-agent", (int)dirlen, dir);
	return n > 0 && (size_t)n < len && stat(out, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(out, X_OK) == 0;
}

/*
 * Finds the herd-agent program the local agents run: --agent-bin, then
 * $HERD_AGENT_BIN, then beside herd itself (installed side by side), then the
 * build tree (controller/ beside agent/), then each directory of $PATH. On
 * failure writes into out what was looked at, for the message, and returns -1.
 */
static int find_agent_bin(const run_opts *o, char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n;
	const char *explicit = o->agent_bin != NULL ? o->agent_bin : getenv("HERD_AGENT_BIN");
	if (explicit != NULL) {
		snprintf(out, len, "%s", explicit);
		if (access(out, X_OK) == 0)
			return 0;
		snprintf(out, len, "%s (%s: %s)", explicit,
		         o->agent_bin != NULL ? "--agent-bin" : "HERD_AGENT_BIN", strerror(errno));
		return -1;
	}
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash != NULL) {
			*slash = '\0';
			if (agent_bin_in(self, strlen(self), out, len))
				return 0;
			char tree[PATH_MAX + 16];
			snprintf(tree, sizeof(tree), "%s/../agent", self);
			if (agent_bin_in(tree, strlen(tree), out, len))
				return 0;
		}
	}
	const char *path = getenv("PATH");
	for (const char *d = path; d != NULL && *d != '\0';) {
		const char *colon = strchr(d, ':');
		size_t dl = colon != NULL ? (size_t)(colon - d) : strlen(d);
		if (dl > 0 && agent_bin_in(d, dl, out, len))
			return 0;
		d = colon != NULL ? colon + 1 : NULL;
	}
	snprintf(out, len, "herd-agent: not beside %s, not in $PATH; install both programs "
	                   "(meson install) or name it with HERD_AGENT_BIN",
	         n > 0 ? self : "herd");
	return -1;
}

/*
 * In a local agent's child process, before exec: the controller owns its
 * local agents' fate. They live in a session of their own, so a terminal's
 * Ctrl-C or hangup and a signal to the controller's process group (`timeout`)
 * do not reach them, and they ignore SIGINT, SIGTERM and SIGHUP (herd-agent
 * keeps a stop signal ignored at start), as a service manager signals every
 * process of its unit: the controller stops them in order, and they die
 * with it (SIGKILL when it exits, even killed: they have nobody to report
 * to). parent is the controller's pid.
 */
static void local_agent_detach(pid_t parent)
{
	setsid();
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* The controller may have died before the line above. */
	if (getppid() != parent)
		_exit(1);
}

static int spawn_agents(run *r, int n, int workers)
{
	char bin[PATH_MAX + 64], name[32], wbuf[16], logpath[PATH_MAX + 32];
	if (find_agent_bin(r->o, bin, sizeof(bin)) != 0) {
		fprintf(stderr, "herd: cannot find the agent program %s\n", bin);
		return -1;
	}
	snprintf(logpath, sizeof(logpath), "%s/agents.log", r->tmpdir);
	r->pids = calloc((size_t)n, sizeof(pid_t));
	if (r->pids == NULL)
		return -1;
	snprintf(wbuf, sizeof(wbuf), "%d", workers);
	pid_t parent = getpid();
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "local-%d", i + 1);
		pid_t pid = fork();
		if (pid < 0) {
			fprintf(stderr, "herd: fork: %s\n", strerror(errno));
			return -1;
		}
		if (pid == 0) {
			/* The agent's log goes to a file so the live line stays readable. */
			int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
			if (fd >= 0 && getenv("HERD_AGENT_LOG_STDERR") == NULL) {
				dup2(fd, 2);
				close(fd);
			}
			local_agent_detach(parent);
			const char *argv[] = { bin,  "--controller", r->url, "--name", name, "--workers",
				               wbuf, "--once",       NULL,   NULL,     NULL,   NULL,
				               NULL };
			int k = 8;
			if (r->o->source_addresses != NULL) {
				argv[k++] = "--source-addresses";
				argv[k++] = r->o->source_addresses;
			}
			if (r->o->allow_target != NULL) {
				argv[k++] = "--allow-target";
				argv[k++] = r->o->allow_target;
			}
			execvp(bin, (char *const *)argv);
			fprintf(stderr, "herd: cannot run %s: %s\n", bin, strerror(errno));
			_exit(127);
		}
		r->pids[r->npids++] = pid;
	}
	return 0;
}

/* Whether a local agent exited; its exit status goes to *status. */
static int local_agent_gone(run *r, int *status)
{
	for (int i = 0; i < r->npids; i++) {
		int st;
		if (r->pids[i] > 0 && waitpid(r->pids[i], &st, WNOHANG) == r->pids[i]) {
			r->pids[i] = 0;
			*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			return 1;
		}
	}
	return 0;
}

/* Waits up to ms for the local agents to exit, then kills what is left. */
static void reap_agents(run *r, int64_t ms)
{
	int64_t deadline = clock_mono_ns() + ms * 1000000;
	for (int i = 0; i < r->npids; i++) {
		if (r->pids[i] <= 0)
			continue;
		for (;;) {
			pid_t w = waitpid(r->pids[i], NULL, WNOHANG);
			if (w == r->pids[i] || (w < 0 && errno != EINTR))
				break;
			if (clock_mono_ns() >= deadline) {
				kill(r->pids[i], SIGKILL);
				waitpid(r->pids[i], NULL, 0);
				break;
			}
			clock_sleep_ms(20);
		}
		r->pids[i] = 0;
	}
}

static void print_agent_log(run *r)
{
	char path[PATH_MAX + 32], line[1024];
	snprintf(path, sizeof(path), "%s/agents.log", r->tmpdir);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	fprintf(stderr, "herd: agent log (%s):\n", path);
	while (fgets(line, sizeof(line), f) != NULL)
		fprintf(stderr, "  %s", line);
	fclose(f);
}

static void remove_tmpdir(run *r)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/agents.log", r->tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/ctl.sock", r->tmpdir);
	unlink(path);
	rmdir(r->tmpdir);
}

/* ---- the engine's hooks: the terminal ---- */

/* Prints agent i's share of scenario s (the agents' weights[0..n)), as the
 * agents' workers will compute it (agent/sched.c). */
static void print_share(const plan_scenario *s, const double *weights, size_t n, size_t i)
{
	int64_t top = s->executor == EXEC_RAMPING_VUS ? s->start_vus : s->start_rate;
	for (size_t g = 0; g < s->nstages; g++)
		if (s->stages[g].target > top)
			top = s->stages[g].target;
	switch (s->executor) {
	case EXEC_CONSTANT_ARRIVAL_RATE:
		printf(" %s %.2f/s", s->name,
		       split_frac((double)s->rate * 1000.0 / (double)s->time_unit_ms, weights, n, i));
		break;
	case EXEC_RAMPING_ARRIVAL_RATE:
		printf(" %s up to %.2f/s", s->name,
		       split_frac((double)top * 1000.0 / (double)s->time_unit_ms, weights, n, i));
		break;
	case EXEC_RAMPING_VUS:
		printf(" %s up to %lld VUs", s->name, (long long)split_int_at(top, weights, n, i));
		break;
	case EXEC_SHARED_ITERATIONS: {
		/* Iterations go with the VUs: an agent without VUs gets none. */
		int64_t *vus = calloc(n, sizeof(*vus));
		if (vus == NULL || split_int(s->vus, weights, n, vus) != 0) {
			free(vus);
			printf(" %s ?", s->name);
			break;
		}
		printf(" %s %lld VUs %lld iterations", s->name, (long long)vus[i],
		       (long long)split_int_by_counts(s->iterations, vus, n, i));
		free(vus);
		break;
	}
	case EXEC_CONSTANT_VUS:
	case EXEC_PER_VU_ITERATIONS:
		printf(" %s %lld VUs", s->name, (long long)split_int_at(s->vus, weights, n, i));
		break;
	case EXEC_BREAKING_POINT: printf(" %s (search)", s->name); break;
	}
}

/* Ends the header line with the HTTP driver of each scenario that sends
 * requests, and why not the lean one (as the local agents pick them). */
static void print_http_drivers(const plan *p, hdrv_mode m)
{
	char b[160];
	const char *sep = ", http: ";
	for (size_t i = 0; i < p->nscenarios; i++) {
		if (!hdrv_has_http(&p->scenarios[i]))
			continue;
		hdrv_describe(m, p, &p->scenarios[i], b, sizeof(b));
		printf("%s%s %s", sep, p->scenarios[i].name, b);
		sep = "; ";
	}
}

/* Prints each agent's share: its weight and what that means per scenario. */
static void print_shares(run *r, const agent_info *ai, size_t n, const double *weights)
{
	double sum = 0, uncertainty = 0;
	for (size_t i = 0; i < n; i++)
		sum += weights[i];
	for (size_t i = 0; i < n; i++) {
		printf("  agent %-16s %-16s %3u workers  share %5.1f%%:", ai[i].name, ai[i].host, ai[i].cores,
		       100.0 * weights[i] / sum);
		for (size_t k = 0; k < r->plan->nscenarios; k++) {
			const plan_scenario *s = &r->plan->scenarios[k];
			print_share(s, weights, n, i);
		}
		/* maxRate's share for closed-model requests, as agent/engine.c splits it. */
		int64_t budget = ratecap_closed_budget(r->plan);
		if (budget >= 0)
			printf("  closed-model cap %lld/s", (long long)split_int_at(budget, weights, n, i));
		printf("\n");
		if (ai[i].clock_rtt_ns / 2 > uncertainty)
			uncertainty = (double)ai[i].clock_rtt_ns / 2;
	}
	if (n > 1 || uncertainty > 0)
		printf("  start: one instant for all agents; clock offsets measured to within %.3f ms\n",
		       uncertainty / 1e6);
}

/* A level of the breaking-point search, judged: one line. */
static void print_level(const run *r, const search_level *l, size_t i)
{
	int vus = search_scenario(srun_search(r->sr))->bp.model == PLAN_BP_VUS;
	printf("%sherd: level %zu%s at %g %s: achieved %.1f%s, %.1f req/s, p95 %.1f ms, errors %.2f%%, dropped %llu, "
	       "cpu %.0f%%: %s%s%s\n",
	       isatty(STDOUT_FILENO) ? "\r\033[K" : "", i + 1, l->refine ? " (refine)" : "", l->load,
	       vus ? "VUs" : "iterations/s", l->achieved, vus ? " VUs" : "/s", l->rps, l->p95_ms, l->error_rate * 100,
	       (unsigned long long)l->dropped, l->max_cpu, search_verdict_name(l->verdict), l->why[0] ? ": " : "",
	       l->why);
	fflush(stdout);
}

static void on_tick(void *arg, const eng_tick *t)
{
	run *r = arg;
	if (!r->o->quiet)
		live_print(r->lv, stdout, t->w, t->elapsed_ms, t->total_ms, t->agents_up, t->agents, t->stage);
	if (r->sr == NULL)
		return;
	long lvl = -1;
	if (srun_tick(r->sr, t, &lvl) != HERD_OK)
		fprintf(stderr, "herd: the breaking-point search ran out of memory; ending the load\n");
	size_t n;
	const search_level *l = search_levels(srun_search(r->sr), &n);
	if (lvl >= 0 && !r->o->quiet)
		print_level(r, &l[lvl], (size_t)lvl);
}

/* Does what the search asked at the last tick or event. */
static void search_act(run *r)
{
	char err[300];
	if (r->sr != NULL && srun_act(r->sr, r->e, err, sizeof(err)) != HERD_OK)
		fprintf(stderr, "herd: %s\n", err);
}

static void on_event(void *arg, const eng_event *ev)
{
	run *r = arg;
	const char *nl = r->o->quiet ? "" : "\n";
	const agent_info *a = ev->agent;
	if (r->sr != NULL)
		srun_event(r->sr, ev);
	switch (ev->type) {
	case ENG_EV_STATE:
		if (ev->state == ENG_DRAINING)
			live_end(r->lv, stdout);
		break;
	case ENG_EV_CLUSTER: break; /* refusals are on stderr already: the gate logs them, bounded */
	case ENG_EV_JOIN_TIMEOUT:
		fprintf(stderr, "herd: only %lld of %lld agents connected within %.0f s\n", (long long)ev->count,
		        (long long)ev->wanted, (double)ev->ms / 1000);
		if (r->nlocal > 0)
			print_agent_log(r);
		break;
	case ENG_EV_FEEDER_SHORT:
		fprintf(stderr, "herd: warning: feeder '%s' has %lld rows for %lld agents; an agent without rows starts no iterations that need them\n",
		        ev->text, (long long)ev->count, (long long)ev->wanted);
		break;
	case ENG_EV_ASSIGNED:
		r->nagents = ev->n;
		if (r->o->quiet)
			break;
		printf("herd: run %s, plan %s (%s), %zu scenario%s, %zu agent%s", eng_run_id(r->e), r->plan->name,
		       r->o->plan_path, r->plan->nscenarios, r->plan->nscenarios == 1 ? "" : "s", ev->n,
		       ev->n == 1 ? "" : "s");
		print_http_drivers(r->plan, r->o->http_driver);
		putchar('\n');
		print_shares(r, ev->agents, ev->n, ev->weights);
		fflush(stdout);
		break;
	case ENG_EV_SEND_FAILED:
		fprintf(stderr, "herd: cannot send the assignment to %s: %s\n", a->id, herd_strerror(ev->rv));
		break;
	case ENG_EV_AGENT_FAILED: fprintf(stderr, "herd: agent %s failed: %s\n", a->name, a->error); break;
	case ENG_EV_NOT_READY: fprintf(stderr, "herd: agent %s did not accept its assignment\n", a->name); break;
	case ENG_EV_AGENT_LOST: {
		char what[64];
		snprintf(what, sizeof(what), "lost: nothing heard for %.1f s", (double)ev->ms / 1000);
		fprintf(stderr, "%sherd: agent %s %s%s\n", nl, a->name, what,
		        ev->aborting ? "; aborting the run" : r->sr != NULL ? "; ending the search" : "; the run goes on without it");
		break;
	}
	case ENG_EV_AGENT_STOPPED:
		fprintf(stderr, "%sherd: agent %s %s%s\n", nl, a->name, ev->text,
		        ev->aborting ? "; aborting the run" : r->sr != NULL ? "; ending the search" : "; the run goes on without it");
		break;
	case ENG_EV_AGENT_BUSY:
		fprintf(stderr, "%sherd: agent %s runs at %.0f%% CPU on %u workers: its latencies may be skewed\n", nl,
		        a->name, ev->value, a->cores);
		break;
	case ENG_EV_START_SKEW:
		if (!r->o->quiet && r->nagents > 1) {
			printf("%sherd: %s\n", isatty(STDOUT_FILENO) ? "\r\033[K" : "", ev->text);
			fflush(stdout);
		}
		break;
	case ENG_EV_STORE_FAILED:
		fprintf(stderr, "%sherd: results store: %s; stopping the load (what was committed is kept)\n", nl, ev->text);
		break;
	case ENG_EV_OVERTIME:
		fprintf(stderr, "herd: agents did not finish 30 s after the plan's end; stopping\n");
		break;
	case ENG_EV_AGENT_DROPPED:
		fprintf(stderr, "herd: agent %s dropped %llu batches (its queue was full)\n", a->name,
		        (unsigned long long)a->dropped);
		break;
	case ENG_EV_JUDGE_FAILED: fprintf(stderr, "herd: cannot evaluate thresholds\n"); break;
	case ENG_EV_NO_MEMORY:
		if (strcmp(ev->text, "the summary") == 0)
			fprintf(stderr, "herd: out of memory writing the summary\n");
		else
			fprintf(stderr, "herd: out of memory\n");
		break;
	case ENG_EV_STORE_ERROR:
	case ENG_EV_GUARD_REFUSED: fprintf(stderr, "herd: %s\n", ev->text); break;
	case ENG_EV_GUARD_FAILED: fprintf(stderr, "herd: warning: cannot start the health guard\n"); break;
	case ENG_EV_RULES_FAILED: fprintf(stderr, "herd: abort rules: %s\n", herd_strerror(ev->rv)); break;
	case ENG_EV_ABORTED: fprintf(stderr, "%sherd: run aborted: %s; every agent is stopped\n", nl, ev->text); break;
	}
}

/* The run is judged: the summary on stdout and --summary-export. A failed
 * export makes a pass a setup failure (103). */
static int on_done(void *arg, const eng_done *d)
{
	run *r = arg;
	const run_opts *o = r->o;
	int code = d->code;
	if (!d->judged)
		return code;
	r->judged = 1;
	snprintf(r->reason, sizeof(r->reason), "%s", d->reason);
	/* Scrapes read the registry and the results: the endpoint goes first. */
	metrics_http_stop(r->mh);
	r->mh = NULL;
	if (d->text != NULL)
		fputs(d->text, stdout);
	fflush(stdout);
	if (o->summary_export != NULL && d->json != NULL) {
		FILE *f = fopen(o->summary_export, "w");
		if (f == NULL || fputs(d->json, f) < 0 || fclose(f) != 0) {
			fprintf(stderr, "herd: cannot write %s: %s\n", o->summary_export, strerror(errno));
			if (code == EXIT_OK)
				code = EXIT_SETUP;
		}
	}
	return code;
}

/* ---- the run ---- */

/* The test hook of loadsched.h: reads HERD_TEST_LOAD_SCHEDULE. */
static int load_hook_parse(loadsched *ls)
{
	char err[256];
	const char *spec = getenv("HERD_TEST_LOAD_SCHEDULE");
	if (spec == NULL || spec[0] == '\0')
		return HERD_OK;
	if (loadsched_parse(spec, ls, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "herd: HERD_TEST_LOAD_SCHEDULE: %s\n", err);
		return HERD_EINVAL;
	}
	return HERD_OK;
}

/* Sets the first scenario's load when the hook's next offset is reached. */
static void load_hook_step(run *r, loadsched *ls, int64_t t_ms)
{
	double v;
	const plan_scenario *s = &r->plan->scenarios[0];
	int rate = s->executor == EXEC_CONSTANT_ARRIVAL_RATE || s->executor == EXEC_RAMPING_ARRIVAL_RATE;
	while (loadsched_due(ls, t_ms, &v))
		if (eng_set_load(r->e, s->name, rate ? WIRE_LOAD_RATE : WIRE_LOAD_VUS, v) != HERD_OK)
			fprintf(stderr, "herd: cannot set scenario %s's load to %g\n", s->name, v);
}


double run_agent_weight(const char *spec, const char *name, double dflt)
{
	return eng_agent_weight(spec, name, dflt);
}

/*
 * Steps the engine until the run is done. A stop signal while agents are
 * still awaited ends the run at once (interrupted); once they are there,
 * the first stops the load gracefully, the next at once. A local agent that
 * exits before the agents are all there ends the wait.
 */
static void drive(run *r, int nwant)
{
	int seen_interrupts = 0;
	for (;;) {
		int64_t wait = 0;
		eng_state st = eng_step(r->e, clock_mono_ns(), &wait);
		if (st == ENG_DONE)
			break;
		clock_sleep_ms((int)wait);
		st = eng_get_state(r->e);
		int gone = -1, missing = st == ENG_JOINING && cluster_wait_idle(r->cl, nwant, 0) < nwant;
		if (missing && (interrupts || (r->npids > 0 && local_agent_gone(r, &gone)))) {
			if (interrupts)
				fprintf(stderr, "herd: %s before the run started: stopping\n", signal_name(interrupt_signal));
			else
				fprintf(stderr, "herd: a local agent exited (status %d) before it joined\n", gone);
			if (r->nlocal > 0)
				print_agent_log(r);
			eng_cancel(r->e, interrupts ? EXIT_INTERRUPTED : EXIT_SETUP);
			break;
		}
		if (st == ENG_ASSIGNED || st == ENG_RUNNING) {
			load_hook_step(r, &r->hook, eng_elapsed_ms(r->e, clock_mono_ns()));
			search_act(r);
		}
		if ((st == ENG_ASSIGNED || st == ENG_RUNNING) && interrupts > seen_interrupts) {
			seen_interrupts = interrupts;
			if (seen_interrupts == 1) {
				fprintf(stderr, "\nherd: %s: stopping gracefully (%s again to stop at once)\n",
				        signal_name(interrupt_signal), interrupt_signal == SIGINT ? "Ctrl-C" : "signal");
				eng_stop(r->e, 0);
			} else {
				fprintf(stderr, "\nherd: stopping at once\n");
				eng_stop(r->e, 1);
			}
		}
	}
}

int run_main(const run_opts *o)
{
	run r;
	char err[2048];
	int code = EXIT_SETUP, rv;

	memset(&r, 0, sizeof(r));
	r.o = o;

	/* 1. The plan: every error is reported before anything is started. */
	if (eng_plan_load(o->plan_path, o->cli, &r.plan, &r.plan_text, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "%s\n", err);
		return EXIT_INVALID;
	}

	/* 2. The store. */
	r.db = o->db_path ? o->db_path : getenv("HERD_DB") ? getenv("HERD_DB") : "herd.db";
	if ((rv = store_open(r.db, &r.st, err, sizeof(err))) != HERD_OK) {
		fprintf(stderr, "herd: results store %s: %s\n", r.db, err);
		goto out;
	}
	if ((rv = live_new(&r.lv)) != HERD_OK) {
		fprintf(stderr, "herd: %s\n", herd_strerror(HERD_ENOMEM));
		goto out;
	}

	/* 3. The listener, and the local agents when none are remote. */
	int remote = o->listen != NULL;
	r.nlocal = remote ? 0 : (o->local_agents > 0 ? o->local_agents : 1);
	/* Flags first, then the plan's `agents: { min, wait }`. */
	int nwant = !remote ? r.nlocal : o->agents > 0 ? o->agents : r.plan->agents_min > 0 ? (int)r.plan->agents_min : 1;
	int workers = o->workers;
	if (workers <= 0 && r.nlocal > 0) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		workers = (int)(cores / r.nlocal);
		if (workers < 1)
			workers = 1;
	}
	int64_t wait_ms = !remote                  ? JOIN_TIMEOUT_MS
	                  : o->agents_wait_ms > 0   ? o->agents_wait_ms
	                  : r.plan->agents_wait_ms > 0 ? r.plan->agents_wait_ms
	                                            : 60000;
	if (remote) {
		snprintf(r.url, sizeof(r.url), "%s", o->listen);
	} else {
		snprintf(r.tmpdir, sizeof(r.tmpdir), "%s/herd-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (mkdtemp(r.tmpdir) == NULL) {
			fprintf(stderr, "herd: cannot make a temporary directory: %s\n", strerror(errno));
			r.tmpdir[0] = '\0';
			goto out;
		}
		snprintf(r.url, sizeof(r.url), "ipc://%s/ctl.sock", r.tmpdir);
	}
	catch_stop_signals();
	eng_cfg ec = {
		.plan = r.plan,
		.plan_path = o->plan_path,
		.plan_text = r.plan_text,
		.st = r.st,
		.agents = nwant,
		.agents_wait_ms = wait_ms,
		.start_delay_ms = remote ? START_DELAY_REMOTE_MS : START_DELAY_MS,
		.loss_ms = o->loss_ms,
		.on_loss_abort = o->on_loss_abort,
		.agent_weights = o->agent_weights,
		.labels = o->labels,
		.nlabels = o->nlabels,
		.http_driver = hdrv_mode_name(o->http_driver),
		.hooks = { on_tick, on_event, on_done, &r },
	};
	if ((rv = srun_new(r.plan, &r.sr, err, sizeof(err))) != HERD_OK) {
		fprintf(stderr, "herd: %s: %s\n", o->plan_path, err);
		code = rv == HERD_EINVAL ? EXIT_INVALID : EXIT_SETUP;
		goto out;
	}
	ec.search = r.sr != NULL ? srun_search(r.sr) : NULL;
	if (eng_new(&ec, &r.e, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "herd: %s\n", err);
		goto out;
	}
	if (o->run_id_out != NULL)
		snprintf(o->run_id_out, o->run_id_len, "%s", eng_run_id(r.e));
	if (load_hook_parse(&r.hook) != HERD_OK)
		goto out;
	cluster_cfg cc = {
		.url = r.url,
		.max_agents = nwant,
		.token = o->token,
		.tls = o->tls,
		.heartbeat_ms = o->heartbeat_ms,
	};
	if ((rv = cluster_open(&cc, &r.cl, err, sizeof(err))) != HERD_OK) {
		fprintf(stderr, "herd: %s\n", err);
		goto out;
	}
	/* From here on the run takes the listener's events: every join is
	 * recorded. An unhealthy health guard refuses the run here. */
	eng_start(r.e, r.cl);
	if (eng_get_state(r.e) == ENG_DONE) {
		code = eng_code(r.e);
		goto out;
	}
	if (o->metrics_addr != NULL &&
	    metrics_http_start(o->metrics_addr, render_metrics, &r, &r.mh, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "herd: %s\n", err);
		goto out;
	}
	if (r.nlocal > 0 && spawn_agents(&r, r.nlocal, workers) != 0)
		goto out;
	if (remote && !o->quiet) {
		printf("herd: listening on %s, waiting up to %.0f s for %d agent%s\n", r.url,
		       (double)wait_ms / 1000, nwant, nwant == 1 ? "" : "s");
		fflush(stdout);
	}

	/* 4. The run: joining, assigned, running, draining, done. */
	drive(&r, nwant);
	code = eng_code(r.e);
	if (r.judged) {
		if (eng_stored(r.e) && !o->quiet)
			printf("results stored in %s as run %s\n", r.db, eng_run_id(r.e));
		if (!eng_stored(r.e))
			fprintf(stderr, "herd: exit %d: results store: the run's end could not be recorded in %s\n", code,
			        r.db);
		else if (code != EXIT_OK && r.reason[0] != '\0')
			fprintf(stderr, "herd: exit %d: %s\n", code, r.reason);
	}

out:
	/* A run that never got going is recorded as an error, not left "running". */
	if (r.e != NULL)
		eng_cancel(r.e, code);
	metrics_http_stop(r.mh);
	r.mh = NULL;
	if (r.npids > 0)
		reap_agents(&r, (code == EXIT_SETUP || code == EXIT_INTERRUPTED) && !r.judged ? 0 : 2000);
	if (r.cl != NULL)
		cluster_close(r.cl);
	eng_free(r.e);
	srun_free(r.sr);
	if (r.tmpdir[0] != '\0')
		remove_tmpdir(&r);
	free(r.pids);
	live_free(r.lv);
	store_close(r.st);
	plan_free(r.plan);
	free(r.plan_text);
	return code;
}
