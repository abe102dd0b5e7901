/*
 * The run life cycle; see run.h. Threads: the main thread drives the run and
 * prints the live line; the cluster's handler threads call on_metrics, which
 * stores and merges each batch under the run's mutex. Local agents are real
 * herd-agent processes speaking the real protocol over ipc://, exactly as
 * remote agents do over tcp://.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
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
#include "common/split.h"
#include "common/ratecap.h"
#include "controller/abort.h"
#include "controller/cluster.h"
#include "controller/guard.h"
#include "controller/live.h"
#include "controller/loadsched.h"
#include "controller/metrics_http.h"
#include "controller/prom.h"
#include "controller/results.h"
#include "controller/run.h"
#include "controller/store.h"
#include "controller/summary.h"
#include "controller/verdict.h"
#include "proto/wire.h"

#define INTERVAL_MS 1000
#define JOIN_TIMEOUT_MS 15000
#define READY_TIMEOUT_MS 10000
#define START_DELAY_MS 500
#define LOSS_MS 3000
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
 * interrupted either way. SIGPIPE is ignored, so that output to a reader
 * gone with the terminal (`herd run | tee`) fails instead of killing us
 * before the run is stored.
 */
static void catch_stop_signals(void)
{
	struct sigaction sa = { .sa_handler = on_sigint };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
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
	results *res;
	live *lv;
	cluster *cl;
	char run_id[64];
	pthread_mutex_t mu;
	uint64_t duplicates;
	int store_failed;      /* a batch could not be stored: the run stops (store_check) */
	char store_error[600]; /* why, from store_errmsg */
	uint64_t unstored;     /* batches acknowledged and dropped after that */
	char tmpdir[PATH_MAX];
	char url[PATH_MAX + 16];
	pid_t *pids;
	int npids;
	metrics_http *mh; /* --metrics-addr, NULL: none */
	/* Abort rules and the health guard (limits_watch). */
	abort_rules *ab;        /* judged under mu, fed by on_metrics */
	guard *gd;              /* NULL: no health guard, or not started */
	int limit_code;         /* 0, or EXIT_THRESHOLDS / EXIT_GUARD_ABORTED once one fired */
	int64_t limit_until;    /* after it fired: how long agents get to finish (monotonic ns) */
	char limit_reason[700];
} run;

/* A scrape of --metrics-addr, on an NNG thread: the results as merged so far. */
#define PROM_MAX_AGENTS 1024
static int render_metrics(void *arg, sbuf *out)
{
	run *r = arg;
	/* The agents' names first: the registry has its own lock, never taken
	 * inside ours. */
	agent_info *ai = calloc(PROM_MAX_AGENTS, sizeof(*ai));
	const char *ids[PROM_MAX_AGENTS], *names[PROM_MAX_AGENTS];
	prom_names nm = { ids, names, 0 };
	if (ai != NULL && r->cl != NULL)
		nm.n = cluster_agents(r->cl, ai, PROM_MAX_AGENTS);
	for (size_t i = 0; i < nm.n; i++) {
		ids[i] = ai[i].id;
		names[i] = ai[i].name;
	}
	pthread_mutex_lock(&r->mu);
	int rv = prom_render(r->res, r->run_id, r->plan->name, &nm, out);
	pthread_mutex_unlock(&r->mu);
	free(ai);
	return rv;
}

/* ---- batches (handler threads) ---- */

static int on_metrics(void *arg, const char *agent_id, const wire_metrics *m)
{
	run *r = arg;
	int dup = 0, rv;
	if (strcmp(m->run_id, r->run_id) != 0)
		return HERD_ECLOSED; /* a batch of a run this controller does not run: refuse, never merge */
	pthread_mutex_lock(&r->mu);
	if (r->store_failed) {
		/* The run is being stopped (store_check): a batch that cannot be kept
		 * is acknowledged and dropped, so the agents can finish at once
		 * instead of sending it again until the hard deadline. */
		r->unstored++;
		pthread_mutex_unlock(&r->mu);
		return HERD_OK;
	}
	rv = store_add_batch(r->st, r->run_id, agent_id, m->seq, m->interval_ms, m->entries,
	                     m->nentries, &dup);
	if (rv != HERD_OK) {
		snprintf(r->store_error, sizeof(r->store_error), "%s", store_errmsg(r->st));
		r->store_failed = 1;
	} else if (dup) {
		r->duplicates++;
	} else {
		rv = results_add_batch(r->res, agent_id, m->interval_ms, m->entries, m->nentries);
		if (rv == HERD_OK)
			live_add(r->lv, m->interval_ms, m->entries, m->nentries);
		if (rv == HERD_OK && r->ab != NULL)
			rv = abort_add_batch(r->ab, agent_id, m->interval_ms, m->entries, m->nentries);
	}
	pthread_mutex_unlock(&r->mu);
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

/*
 * Waits up to ms for n agents to join. A local agent that exits first ends
 * the wait at once (it refused to start: its log says why); its exit status
 * goes to *gone_status, which stays -1 otherwise. Returns the agents joined.
 */
static int wait_joined(run *r, int n, int64_t ms, int *gone_status)
{
	int64_t deadline = clock_mono_ns() + ms * 1000000;
	int got;
	*gone_status = -1;
	/* Short slices: a local agent that exits, or a stop signal, ends the wait. */
	int64_t slice = 100;
	while ((got = cluster_wait_joined(r->cl, n, slice)) < n && clock_mono_ns() < deadline && !interrupts) {
		for (int i = 0; i < r->npids; i++) {
			int status;
			if (r->pids[i] > 0 && waitpid(r->pids[i], &status, WNOHANG) == r->pids[i]) {
				r->pids[i] = 0;
				*gone_status = WIFEXITED(status) ? WEXITSTATUS(status)
				                                 : 128 + WTERMSIG(status);
				return cluster_wait_joined(r->cl, n, 0);
			}
		}
	}
	return got;
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

/* ---- the run ---- */

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL) {
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
		}
	}
	fclose(f);
	return buf;
}

/*
 * Whether the plan's assignment fits one wire message (WIRE_MAX_MSG): the
 * plan's text and the files and environment values shipped with it, plus
 * room for the weights and names. When it does not, err says the sizes and
 * the limit, so the user knows what to make smaller.
 */
#define ASSIGN_OVERHEAD (1u << 20) /* weights, names, keys: far less for any agent count */
static int assign_fits(const char *path, const plan *p, size_t text_len, char *err, size_t errlen)
{
	uint64_t files = 0, env = 0;
	for (size_t i = 0; i < p->nfiles; i++)
		files += p->files[i].len + strlen(p->files[i].name);
	for (size_t i = 0; i < p->nenv; i++)
		env += p->env[i].len + strlen(p->env[i].name);
	uint64_t total = (uint64_t)text_len + files + env;
	if (total + ASSIGN_OVERHEAD <= WIRE_MAX_MSG)
		return 1;
	snprintf(err, errlen,
	         "%s: the assignment would take %llu bytes (the plan %zu, its %zu file%s %llu, environment values %llu),"
	         " more than the %u MiB one wire message holds (less %u MiB for the rest); make the data files smaller",
	         path, (unsigned long long)total, text_len, p->nfiles, p->nfiles == 1 ? "" : "s",
	         (unsigned long long)files, (unsigned long long)env, WIRE_MAX_MSG >> 20, ASSIGN_OVERHEAD >> 20);
	return 0;
}

static int all_finished(run *r, agent_info *ai, size_t n)
{
	(void)r;
	for (size_t i = 0; i < n; i++)
		if (ai[i].state != AGENT_DONE && ai[i].state != AGENT_FAILED && ai[i].state != AGENT_LOST)
			return 0;
	return 1;
}

static void stop_all(run *r, agent_info *ai, size_t n, const char *reason)
{
	wire_msg m = { .type = WIRE_STOP };
	m.u.stop.run_id = r->run_id;
	m.u.stop.reason = (char *)reason;
	for (size_t i = 0; i < n; i++)
		if (ai[i].state == AGENT_READY || ai[i].state == AGENT_ASSIGNED)
			cluster_send(r->cl, ai[i].id, &m);
}

/* An agent's status for the store and the summary: "stopped" for one that
 * stopped on its own (a signal) and delivered its last batches. */
static const char *agent_status(const agent_info *a)
{
	return a->stopped && a->state == AGENT_DONE ? "stopped" : agent_state_name(a->state);
}

static void record_agents(run *r, agent_info *ai, size_t n, const double *weights, double wsum)
{
	for (size_t i = 0; i < n; i++) {
		store_agent sa = {
			.agent_id = ai[i].id,
			.name = ai[i].name,
			.host = ai[i].host,
			.cores = ai[i].cores,
			.weight = weights != NULL && wsum > 0 ? weights[i] / wsum : 0,
			.joined_at = ai[i].joined_ns / 1000000,
			.left_at = ai[i].state == AGENT_DONE || ai[i].state == AGENT_LOST ? clock_real_ns() / 1000000 : 0,
			.status = agent_status(&ai[i]),
			.cpu_pct = ai[i].cpu_pct,
			.rss_kb = ai[i].rss_kb,
		};
		if (store_agent_upsert(r->st, r->run_id, &sa) != HERD_OK)
			log_warn("results store: %s", store_errmsg(r->st));
	}
}

/* The live line's stage: the stage of the first ramping scenario under way,
 * by its name when it has one ("peak"), else by number ("ramp 2/3"); else
 * "running", or "ending" after every scenario's end. */
static const char *stage_label(const plan *p, int64_t t_ms, char *buf, size_t len)
{
	int64_t last_end = 0;
	for (size_t i = 0; i < p->nscenarios; i++) {
		const plan_scenario *s = &p->scenarios[i];
		int64_t at = s->start_ms, end = s->start_ms + plan_scenario_length_ms(s);
		if (end > last_end)
			last_end = end;
		if (s->nstages == 0 || t_ms < at || t_ms >= end)
			continue;
		for (size_t k = 0; k < s->nstages; k++) {
			at += s->stages[k].duration_ms;
			if (t_ms >= at)
				continue;
			if (s->stages[k].name != NULL)
				snprintf(buf, len, "%s", s->stages[k].name);
			else
				snprintf(buf, len, "%.20s %zu/%zu", s->name, k + 1, s->nstages);
			return buf;
		}
	}
	return t_ms >= last_end ? "ending" : "running";
}

/*
 * Whether the store failed (a batch could not be committed: a full disk, an
 * I/O error). The first time, says why and stops the load at once: what was
 * committed is kept and nothing more can be, so running on would only load
 * the target unmeasured. Returns 1 when the run must end.
 */
static int store_check(run *r, agent_info *ai, size_t n)
{
	char why[sizeof(r->store_error)];
	pthread_mutex_lock(&r->mu);
	int failed = r->store_failed;
	snprintf(why, sizeof(why), "%s", r->store_error);
	pthread_mutex_unlock(&r->mu);
	if (!failed)
		return 0;
	fprintf(stderr, "%sherd: results store: %s; stopping the load (what was committed is kept)\n",
	        r->o->quiet ? "" : "\n", why);
	stop_all(r, ai, n, "abort");
	return 1;
}

/*
 * Records the run's end. A store that cannot take the summaries may still
 * take the row's status (a full disk leaves room for a page, not for a
 * summary), so that is tried next; when neither can be written the run
 * stays "running" in the store, and the user is told so.
 */
static int mark_run(run *r, store_status ss, int code, int degraded, const char *json,
                    const char *text)
{
	int64_t now = clock_real_ns() / 1000000;
	if (store_run_end(r->st, r->run_id, ss, code, degraded, now, json, text) == HERD_OK)
		return HERD_OK;
	fprintf(stderr, "herd: results store: %s\n", store_errmsg(r->st));
	if ((json != NULL || text != NULL) &&
	    store_run_end(r->st, r->run_id, ss, code, degraded, now, NULL, NULL) == HERD_OK) {
		fprintf(stderr, "herd: run %s is marked '%s' in the store, without its summary\n", r->run_id,
		        store_status_name(ss));
		return HERD_OK;
	}
	fprintf(stderr, "herd: run %s could not be marked '%s' in the store (%s): it stays 'running' there\n",
	        r->run_id, store_status_name(ss), store_errmsg(r->st));
	return HERD_ESTORE;
}

/* Events from the cluster go to the store (and to stderr when they matter). */
static void on_event(void *arg, const char *kind, const char *agent_id, const char *message)
{
	run *r = arg;
	pthread_mutex_lock(&r->mu);
	if (store_add_event(r->st, r->run_id, clock_real_ns() / 1000000, kind, agent_id, message) != HERD_OK)
		log_warn("results store: %s", store_errmsg(r->st));
	pthread_mutex_unlock(&r->mu);
	/* Refusals are on stderr already: the gate logs them, bounded. */
}

/* Each threshold (or objective: what) can be judged: an aggregation its
 * metric has. Prints the first that cannot, at its line:column; returns -1
 * then, else 0. */
static int check_thresholds(const plan *p, const plan_threshold *t, size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++, t++) {
		th_metric m;
		th_expr e;
		char terr[256];
		if (th_parse_metric(t->metric, &m, terr, sizeof(terr)) != 0 ||
		    th_parse_expr(t->expr, &e, terr, sizeof(terr)) != 0 || verdict_check(&m, &e, terr, sizeof(terr)) != 0) {
			fprintf(stderr, "%s:%d:%d: %s '%s: %s': %s\n", p->file, t->line, t->col, what, t->metric, t->expr,
			        terr);
			return -1;
		}
	}
	return 0;
}

/*
 * The breaking-point executor's plan is parsed and checked (its objectives
 * too, as thresholds are), but the search loop that runs it is not in this
 * controller yet: rather than run it as something else, say so. Returns 0
 * when the plan has no such scenario.
 */
static int refuse_breaking_point(const plan *p)
{
	for (size_t i = 0; i < p->nscenarios; i++) {
		const plan_scenario *s = &p->scenarios[i];
		if (s->executor != EXEC_BREAKING_POINT)
			continue;
		if (check_thresholds(p, s->bp.objectives, s->bp.nobjectives, "objective") != 0)
			return -1;
		fprintf(stderr, "%s:%d:%d: scenario '%s': executor breaking-point is not implemented yet: the plan is "
		        "valid, but the search that runs it lands separately (see README, \"Finding the breaking "
		        "point\")\n", p->file, s->line, s->col, s->name);
		return -1;
	}
	return 0;
}

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
		if (cluster_set_load(r->cl, s->name, rate ? WIRE_LOAD_RATE : WIRE_LOAD_VUS, v) != HERD_OK)
			fprintf(stderr, "herd: cannot set scenario %s's load to %g\n", s->name, v);
}

/*
 * Decides the exit code (see outcome.h) from the code the watch loop left
 * (EXIT_SETUP, EXIT_ABORTED or EXIT_OK) and what the run produced, and
 * writes why into reason ("" for a plain pass or threshold failure).
 */
static int run_outcome(run *r, int code, int interrupted, int degraded, const verdict_set *vs,
                       char *reason, size_t len)
{
	outcome_in oi = {
		.setup_failed = code == EXIT_SETUP || r->store_failed,
		.aborted = code == EXIT_ABORTED,
		.interrupted = interrupted,
		.thresholds_failed = vs != NULL && !verdict_all_ok(vs),
		.degraded = degraded,
	};
	if (outcome_nothing_measured(r->res, &oi.nothing_measured) != HERD_OK)
		oi.setup_failed = 1;
	oi.rule_aborted = r->limit_code == EXIT_THRESHOLDS;
	oi.guard_aborted = r->limit_code == EXIT_GUARD_ABORTED;
	code = outcome_code(&oi);
	reason[0] = '\0';
	if (r->limit_code != 0 && code == r->limit_code)
		snprintf(reason, len, "%s", r->limit_reason);
	else if (r->store_failed)
		snprintf(reason, len,
		         "results store: %s; the load was stopped, what was committed is kept "
		         "(%llu later batches were dropped)",
		         r->store_error, (unsigned long long)r->unstored);
	else if (code == EXIT_NO_LOAD)
		snprintf(reason, len, "nothing was measured: no request, WebSocket session or iteration%s",
		         degraded ? " (agents were lost before any load)" : "");
	else if (code == EXIT_DEGRADED)
		snprintf(reason, len, "degraded: agents left before the end (lost or stopped), or batches are "
		                      "missing: part of the load was not applied or not measured");
	return code;
}

/* ---- abort rules, rate caps and the health guard ---- */

/* The plan's peak against its maxRate and maxVUs, before anything starts.
 * Returns 0, or EXIT_INVALID after saying why with the numbers. */
static int limits_check_plan(const run *r)
{
	char msg[1024];
	if (ratecap_check(r->plan, msg, sizeof(msg)) == 0)
		return 0;
	fprintf(stderr, "%s:%d:%d: %s; nothing was sent to the target\n", r->plan->file, r->plan->caps_line,
	        r->plan->caps_col, msg);
	return EXIT_INVALID;
}

/* The health guard's check before the start (before any agent is asked to
 * send anything). Returns 0, or EXIT_GUARD_REFUSED after saying why and
 * recording it. */
static int limits_precheck(run *r)
{
	char why[256], text[PATH_MAX + 512];
	if (r->plan->health.url == NULL || guard_check_once(&r->plan->health, why, sizeof(why)))
		return 0;
	snprintf(text, sizeof(text), "the health guard %s is unhealthy (%s): run refused, nothing was sent to the target",
	         r->plan->health.url, why);
	fprintf(stderr, "herd: %s\n", text);
	store_add_event(r->st, r->run_id, clock_real_ns() / 1000000, "guard_refused", NULL, text);
	return EXIT_GUARD_REFUSED;
}

/* The abort rules, before any batch can come (nagents: the agents whose
 * batches each interval waits for). Returns HERD_OK or an error. */
static int limits_rules(run *r, size_t nagents)
{
	abort_rules *ab = NULL;
	int rv = abort_new(r->plan, INTERVAL_MS, nagents, &ab);
	if (rv != HERD_OK)
		return rv;
	pthread_mutex_lock(&r->mu);
	r->ab = ab;
	pthread_mutex_unlock(&r->mu);
	return HERD_OK;
}

/*
 * On every pass of the watch loop: judges the abort rules on the intervals
 * merged so far and looks at the health guard. When one fails, STOPs every
 * agent at once with the reason, records an "abort" event (at the breach for
 * a rule), says so, and gives the agents until r->limit_until to finish.
 */
static void limits_watch(run *r, agent_info *ai, size_t n, int64_t start_mono, int64_t start_real)
{
	abort_breach b;
	int fired = 0, fails = 0;
	char why[256], stop_reason[sizeof(r->limit_reason) + 8];
	int64_t at_ms = clock_real_ns() / 1000000;

	if (r->limit_code != 0)
		return;
	pthread_mutex_lock(&r->mu);
	if (r->ab != NULL && abort_judge(r->ab, (clock_mono_ns() - start_mono) / 1000000, &b, &fired) != HERD_OK)
		fired = 0;
	pthread_mutex_unlock(&r->mu);
	if (fired) {
		abort_describe(&b, why, sizeof(why));
		snprintf(r->limit_reason, sizeof(r->limit_reason), "%s", why);
		r->limit_code = EXIT_THRESHOLDS;
		at_ms = start_real / 1000000 + b.at_ms;
	} else if (r->gd != NULL && guard_tripped(r->gd, why, sizeof(why), &fails)) {
		snprintf(r->limit_reason, sizeof(r->limit_reason),
		         "the health guard %s failed %d checks in a row (last: %s)", r->plan->health.url,
		         fails, why);
		r->limit_code = EXIT_GUARD_ABORTED;
	} else {
		return;
	}
	snprintf(stop_reason, sizeof(stop_reason), "abort: %s", r->limit_reason);
	stop_all(r, ai, n, stop_reason);
	pthread_mutex_lock(&r->mu);
	if (store_add_event(r->st, r->run_id, at_ms, "abort", NULL, r->limit_reason) != HERD_OK)
		log_warn("results store: %s", store_errmsg(r->st));
	pthread_mutex_unlock(&r->mu);
	fprintf(stderr, "%sherd: run aborted: %s; every agent is stopped\n", r->o->quiet ? "" : "\n",
	        r->limit_reason);
	r->limit_until = clock_mono_ns() + 5000000000LL;
}

/* Copies peer-supplied text for the terminal: control characters become '?'. */
static void printable(const char *in, char *out, size_t len)
{
	size_t i = 0;
	for (; in[i] != '\0' && i + 1 < len; i++)
		out[i] = (unsigned char)in[i] < 0x20 || in[i] == 0x7f ? '?' : in[i];
	out[i] = '\0';
}

/* Reports each agent that said it stops on its own (a signal: "stopped:
 * SIGTERM") once (told[i]); its last batches and DONE follow. Returns how
 * many are new. */
static int report_stopped(run *r, const agent_info *ai, size_t n, char *told)
{
	int k = 0;
	for (size_t i = 0; i < n; i++) {
		char why[128];
		if (!ai[i].stopped || told[i])
			continue;
		told[i] = 1;
		k++;
		printable(ai[i].error, why, sizeof(why));
		fprintf(stderr, "%sherd: agent %s %s%s\n", r->o->quiet ? "" : "\n", ai[i].name, why,
		        r->o->on_loss_abort ? "; aborting the run" : "; the run goes on without it");
		on_event(r, "agent_stopped", ai[i].id, why);
	}
	return k;
}

double run_agent_weight(const char *spec, const char *name, double dflt)
{
	const char *p = spec;
	if (spec == NULL)
		return dflt;
	while (*p != '\0') {
		const char *eq = strchr(p, '='), *end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		if (eq == NULL || eq > end || eq == p)
			return -1;
		char *num_end;
		double w = strtod(eq + 1, &num_end);
		if (num_end != end || !(w > 0))
			return -1;
		if ((size_t)(eq - p) == strlen(name) && strncmp(p, name, (size_t)(eq - p)) == 0)
			return w;
		p = *end == ',' ? end + 1 : end;
	}
	return dflt;
}

/* The first n agents that joined and are still there take part in the run. */
static size_t select_agents(run *r, agent_info *ai, size_t cap, size_t n)
{
	size_t all = cluster_agents(r->cl, ai, cap), k = 0;
	for (size_t i = 0; i < all && k < n; i++)
		if (ai[i].state == AGENT_JOINED)
			ai[k++] = ai[i];
	return k;
}

/* Refreshes the run's agents (ai[0..n)) from the cluster. */
static void refresh_agents(run *r, agent_info *ai, size_t n)
{
	agent_info all[64];
	agent_info *buf = all;
	size_t cap = 64;
	for (;;) {
		size_t got = cluster_agents(r->cl, buf, cap);
		if (got < cap || cap >= 65536) {
			for (size_t i = 0; i < n; i++)
				for (size_t k = 0; k < got; k++)
					if (strcmp(ai[i].id, buf[k].id) == 0)
						ai[i] = buf[k];
			break;
		}
		cap *= 4;
		agent_info *nb = realloc(buf == all ? NULL : buf, cap * sizeof(*nb));
		if (nb == NULL)
			break;
		buf = nb;
	}
	if (buf != all)
		free(buf);
}

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

/* Prints each agent's share: its weight and what that means per scenario. */
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

int run_main(const run_opts *o)
{
	run r;
	char err[2048];
	int code = EXIT_SETUP, rv;
	agent_info *ai = NULL;
	double *weights = NULL;
	char *told = NULL; /* agents reported stopped on their own */
	size_t nai = 0;
	int interrupted = 0, degraded = 0, run_open = 0;

	memset(&r, 0, sizeof(r));
	r.o = o;
	pthread_mutex_init(&r.mu, NULL);

	/* 1. The plan: every error is reported before anything is started. */
	if ((rv = plan_load_file_cli(o->plan_path, o->cli, &r.plan, err, sizeof(err))) != HERD_OK) {
		fprintf(stderr, "%s\n", err);
		return EXIT_INVALID;
	}
	if ((r.plan_text = read_file(o->plan_path)) == NULL) {
		fprintf(stderr, "herd: %s: cannot read: %s\n", o->plan_path, strerror(errno));
		plan_free(r.plan);
		return EXIT_INVALID;
	}
	if (!assign_fits(o->plan_path, r.plan, strlen(r.plan_text), err, sizeof(err))) {
		fprintf(stderr, "herd: %s\n", err);
		plan_free(r.plan);
		free(r.plan_text);
		return EXIT_INVALID;
	}
	if (check_thresholds(r.plan, r.plan->thresholds, r.plan->nthresholds, "threshold") != 0 ||
	    refuse_breaking_point(r.plan) != 0) {
		plan_free(r.plan);
		free(r.plan_text);
		return EXIT_INVALID;
	}

	if ((code = limits_check_plan(&r)) != 0) {
		plan_free(r.plan);
		free(r.plan_text);
		return code;
	}
	code = EXIT_SETUP;

	/* 2. The store. */
	const char *db = o->db_path ? o->db_path : getenv("HERD_DB") ? getenv("HERD_DB") : "herd.db";
	if ((rv = store_open(db, &r.st, err, sizeof(err))) != HERD_OK) {
		fprintf(stderr, "herd: results store %s: %s\n", db, err);
		goto out;
	}
	store_make_run_id(clock_real_ns() / 1000000, r.run_id, sizeof(r.run_id));
	if ((rv = results_new(INTERVAL_MS, &r.res)) != HERD_OK || (rv = live_new(&r.lv)) != HERD_OK) {
		fprintf(stderr, "herd: %s\n", herd_strerror(rv));
		goto out;
	}

	/* 3. The listener, and the local agents when none are remote. */
	int remote = o->listen != NULL;
	int nlocal = remote ? 0 : (o->local_agents > 0 ? o->local_agents : 1);
	/* Flags first, then the plan's `agents: { min, wait }`. */
	int nwant = !remote ? nlocal : o->agents > 0 ? o->agents : r.plan->agents_min > 0 ? (int)r.plan->agents_min : 1;
	int workers = o->workers;
	if (workers <= 0 && nlocal > 0) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		workers = (int)(cores / nlocal);
		if (workers < 1)
			workers = 1;
	}
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
	if (store_run_begin(r.st, r.run_id, r.plan->name, o->plan_path, r.plan_text,
	                    clock_real_ns() / 1000000, INTERVAL_MS) != HERD_OK) {
		fprintf(stderr, "herd: results store: %s\n", store_errmsg(r.st));
		goto out;
	}
	run_open = 1;
	if (o->run_id_out != NULL)
		snprintf(o->run_id_out, o->run_id_len, "%s", r.run_id);
	for (size_t i = 0; i < o->nlabels; i++)
		store_add_event(r.st, r.run_id, clock_real_ns() / 1000000, "label", NULL, o->labels[i]);
	if ((rv = limits_precheck(&r)) != 0) {
		code = rv;
		goto out;
	}
	cluster_cfg cc = {
		.url = r.url,
		.max_agents = nwant,
		.token = o->token,
		.tls = o->tls,
		.heartbeat_ms = o->heartbeat_ms,
		.on_metrics = on_metrics,
		.on_event = on_event,
		.arg = &r,
	};
	if ((rv = cluster_open(&cc, &r.cl, err, sizeof(err))) != HERD_OK) {
		fprintf(stderr, "herd: %s\n", err);
		goto out;
	}
	if (o->metrics_addr != NULL &&
	    metrics_http_start(o->metrics_addr, render_metrics, &r, &r.mh, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "herd: %s\n", err);
		goto out;
	}
	if (nlocal > 0 && spawn_agents(&r, nlocal, workers) != 0)
		goto out;
	int64_t wait_ms = !remote                  ? JOIN_TIMEOUT_MS
	                  : o->agents_wait_ms > 0   ? o->agents_wait_ms
	                  : r.plan->agents_wait_ms > 0 ? r.plan->agents_wait_ms
	                                            : 60000;
	if (remote && !o->quiet) {
		printf("herd: listening on %s, waiting up to %.0f s for %d agent%s\n", r.url,
		       (double)wait_ms / 1000, nwant, nwant == 1 ? "" : "s");
		fflush(stdout);
	}
	int gone;
	int joined = wait_joined(&r, nwant, wait_ms, &gone);
	if (joined < nwant) {
		if (interrupts) {
			fprintf(stderr, "herd: %s before the run started: stopping\n", signal_name(interrupt_signal));
			code = EXIT_INTERRUPTED;
		} else if (gone >= 0)
			fprintf(stderr, "herd: a local agent exited (status %d) before it joined\n", gone);
		else
			fprintf(stderr, "herd: only %d of %d agents connected within %.0f s\n", joined, nwant,
			        (double)wait_ms / 1000);
		if (nlocal > 0)
			print_agent_log(&r);
		goto out;
	}

	/* 4. Split and assign: weights are the agents' worker counts. */
	size_t acap = (size_t)nwant * 2 + 8;
	ai = calloc(acap, sizeof(*ai));
	weights = calloc(acap, sizeof(*weights));
	told = calloc(acap, 1);
	if (ai == NULL || weights == NULL || told == NULL)
		goto out;
	nai = select_agents(&r, ai, acap, (size_t)nwant);
	/* Each agent measures its clock offset right after joining and reports it
	 * with its first poll; the start instant needs it. */
	for (int64_t until = clock_mono_ns() + 3000000000LL; clock_mono_ns() < until;) {
		size_t synced = 0;
		refresh_agents(&r, ai, nai);
		for (size_t i = 0; i < nai; i++)
			synced += ai[i].clock_rtt_ns > 0;
		if (synced == nai)
			break;
		clock_sleep_ms(20);
	}
	double wsum = 0;
	for (size_t i = 0; i < nai; i++) {
		weights[i] = run_agent_weight(o->agent_weights, ai[i].name, ai[i].cores);
		wsum += weights[i];
	}
	if ((rv = limits_rules(&r, nai)) != HERD_OK) {
		fprintf(stderr, "herd: abort rules: %s\n", herd_strerror(rv));
		goto out;
	}
	int64_t start_real = clock_real_ns() + (int64_t)(remote ? START_DELAY_REMOTE_MS : START_DELAY_MS) * 1000000;
	/* The files and environment values the plan used travel with it, so
	 * agents need neither the controller's filesystem nor its environment. */
	wire_blob *files = calloc(r.plan->nfiles + 1, sizeof(*files));
	wire_blob *env = calloc(r.plan->nenv + 1, sizeof(*env));
	if (files == NULL || env == NULL) {
		free(files);
		free(env);
		fprintf(stderr, "herd: out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < r.plan->nfiles; i++)
		files[i] = (wire_blob){ r.plan->files[i].name, r.plan->files[i].data, r.plan->files[i].len };
	for (size_t i = 0; i < r.plan->nenv; i++)
		env[i] = (wire_blob){ r.plan->env[i].name, r.plan->env[i].data, r.plan->env[i].len };
	for (size_t i = 0; i < r.plan->nfeeders; i++) {
		const plan_feeder *f = &r.plan->feeders[i];
		if (f->split == FEED_SPLIT_PER_AGENT && f->table.nrows < nai)
			fprintf(stderr, "herd: warning: feeder '%s' has %zu rows for %zu agents; an agent without rows starts no iterations that need them\n",
			        f->name, f->table.nrows, nai);
	}
	for (size_t i = 0; i < nai; i++) {
		wire_msg m = { .type = WIRE_ASSIGN };
		m.u.assign.files = (wire_blobs){ (uint32_t)r.plan->nfiles, files };
		m.u.assign.env = (wire_blobs){ (uint32_t)r.plan->nenv, env };
		m.u.assign.run_id = r.run_id;
		m.u.assign.plan_file = (char *)o->plan_path;
		m.u.assign.plan_text = r.plan_text;
		m.u.assign.agent_index = (uint32_t)i;
		m.u.assign.nweights = (uint32_t)nai;
		m.u.assign.weights = weights;
		/* One instant for all, in each agent's own clock. */
		m.u.assign.start_ns = start_real + ai[i].clock_offset_ns;
		m.u.assign.interval_ms = INTERVAL_MS;
		cluster_set_state(r.cl, ai[i].id, AGENT_ASSIGNED);
		if ((rv = cluster_send(r.cl, ai[i].id, &m)) != HERD_OK) {
			fprintf(stderr, "herd: cannot send the assignment to %s: %s\n", ai[i].id, herd_strerror(rv));
			free(files);
			free(env);
			goto out;
		}
	}
	free(files);
	free(env);
	record_agents(&r, ai, nai, weights, wsum);
	cluster_set_shares(r.cl, r.run_id, ai, weights, nai);
	loadsched hook = { 0 };
	if (load_hook_parse(&hook) != HERD_OK)
		goto out;
	if (!o->quiet) {
		printf("herd: run %s, plan %s (%s), %zu scenario%s, %zu agent%s", r.run_id, r.plan->name,
		       o->plan_path, r.plan->nscenarios, r.plan->nscenarios == 1 ? "" : "s", nai,
		       nai == 1 ? "" : "s");
		print_http_drivers(r.plan, o->http_driver);
		putchar('\n');
		print_shares(&r, ai, nai, weights);
		fflush(stdout);
	}

	/* The planned instant the load starts: time zero of every interval, and
	 * of the report's charts (the run row's start is earlier, before agents
	 * joined). */
	store_add_event(r.st, r.run_id, start_real / 1000000, "load_start", NULL,
	                "the load starts on every agent");
	if (r.plan->health.url != NULL && guard_start(&r.plan->health, &r.gd) != HERD_OK)
		fprintf(stderr, "herd: warning: cannot start the health guard\n");

	/* 5. Watch: a live line per second until every agent is done. */
	int64_t start_mono = clock_mono_ns() + (start_real - clock_real_ns());
	/* The live line counts to the end of the last scenario; gracefulStop is slack. */
	int64_t total_ms = 0;
	for (size_t i = 0; i < r.plan->nscenarios; i++) {
		const plan_scenario *s = &r.plan->scenarios[i];
		if (s->start_ms + plan_scenario_length_ms(s) > total_ms)
			total_ms = s->start_ms + plan_scenario_length_ms(s);
	}
	int64_t hard_deadline = start_mono + (plan_total_ms(r.plan) + 30000) * 1000000;
	int64_t ready_deadline = clock_mono_ns() + (int64_t)READY_TIMEOUT_MS * 1000000;
	int64_t next_tick = start_mono + (int64_t)INTERVAL_MS * 1000000 + 200000000;
	int seen_interrupts = 0;
	uint64_t busy_warned = 0; /* agents already warned about (bit per agent) */
	int skew_reported = 0;
	code = EXIT_OK;
	for (;;) {
		clock_sleep_ms(50);
		refresh_agents(&r, ai, nai);
		if (interrupts > seen_interrupts) {
			seen_interrupts = interrupts;
			interrupted = 1;
			if (seen_interrupts == 1) {
				fprintf(stderr, "\nherd: %s: stopping gracefully (%s again to stop at once)\n",
				        signal_name(interrupt_signal), interrupt_signal == SIGINT ? "Ctrl-C" : "signal");
				stop_all(&r, ai, nai, "interrupt");
			} else {
				fprintf(stderr, "\nherd: stopping at once\n");
				stop_all(&r, ai, nai, "abort");
				break;
			}
		}
		int failed = 0;
		for (size_t i = 0; i < nai; i++)
			if (ai[i].state == AGENT_FAILED)
				failed = 1;
		if (failed) {
			for (size_t i = 0; i < nai; i++)
				if (ai[i].state == AGENT_FAILED)
					fprintf(stderr, "herd: agent %s failed: %s\n", ai[i].name, ai[i].error);
			stop_all(&r, ai, nai, "abort");
			code = EXIT_SETUP;
			break;
		}
		if (store_check(&r, ai, nai)) {
			code = EXIT_SETUP;
			break;
		}
		limits_watch(&r, ai, nai, start_mono, start_real);
		if (r.limit_code != 0 && clock_mono_ns() > r.limit_until) {
			degraded = 1; /* stopped agents that never said DONE: their last batches are missing */
			break;
		}
		if (clock_mono_ns() > ready_deadline) {
			for (size_t i = 0; i < nai; i++)
				if (ai[i].state == AGENT_ASSIGNED) {
					fprintf(stderr, "herd: agent %s did not accept its assignment\n", ai[i].name);
					code = EXIT_SETUP;
				}
			if (code != EXIT_OK)
				break;
		}
		if (cluster_check_lost(r.cl, o->loss_ms > 0 ? o->loss_ms : LOSS_MS) > 0) {
			degraded = 1;
			refresh_agents(&r, ai, nai);
			for (size_t i = 0; i < nai; i++)
				if (ai[i].state == AGENT_LOST && !ai[i].stopped)
					fprintf(stderr, "%sherd: agent %s lost: nothing heard for %.1f s%s\n",
					        o->quiet ? "" : "\n", ai[i].name, (double)(o->loss_ms > 0 ? o->loss_ms : LOSS_MS) / 1000,
					        o->on_loss_abort ? "; aborting the run" : "; the run goes on without it");
			if (o->on_loss_abort) {
				stop_all(&r, ai, nai, "abort");
				code = EXIT_ABORTED;
				break;
			}
		}
		if (report_stopped(&r, ai, nai, told) > 0) {
			degraded = 1;
			if (o->on_loss_abort) {
				stop_all(&r, ai, nai, "abort");
				code = EXIT_ABORTED;
				break;
			}
		}
		for (size_t i = 0; i < nai && i < sizeof(busy_warned) * 8; i++) {
			if (ai[i].cpu_pct > 90.0 * (ai[i].cores ? ai[i].cores : 1) && !(busy_warned >> i & 1)) {
				busy_warned |= UINT64_C(1) << i;
				fprintf(stderr, "%sherd: agent %s runs at %.0f%% CPU on %u workers: its latencies may be skewed\n",
				        o->quiet ? "" : "\n", ai[i].name, ai[i].cpu_pct, ai[i].cores);
			}
		}
		if (!skew_reported && nai > 0) {
			/* Each agent's actual start, in the controller's clock. */
			int64_t lo = INT64_MAX, hi = INT64_MIN;
			size_t started = 0;
			for (size_t i = 0; i < nai; i++) {
				if (ai[i].started_ns == 0)
					continue;
				int64_t t = ai[i].started_ns - ai[i].clock_offset_ns;
				lo = t < lo ? t : lo;
				hi = t > hi ? t : hi;
				started++;
			}
			if (started == nai) {
				char text[160];
				skew_reported = 1;
				snprintf(text, sizeof(text), "start skew %.3f ms across %zu agent%s (%.3f ms after the planned instant)",
				         (double)(hi - lo) / 1e6, nai, nai == 1 ? "" : "s", (double)(hi - start_real) / 1e6);
				on_event(&r, "start_skew", "", text);
				if (!o->quiet && nai > 1) {
					printf("%sherd: %s\n", isatty(STDOUT_FILENO) ? "\r\033[K" : "", text);
					fflush(stdout);
				}
			}
		}
		if (all_finished(&r, ai, nai))
			break;
		int64_t now = clock_mono_ns();
		load_hook_step(&r, &hook, (now - start_mono) / 1000000);
		if (now > hard_deadline) {
			fprintf(stderr, "herd: agents did not finish 30 s after the plan's end; stopping\n");
			stop_all(&r, ai, nai, "abort");
			/* Their last batches may never come: what was measured is incomplete. */
			degraded = 1;
			break;
		}
		if (now >= next_tick) {
			next_tick += (int64_t)INTERVAL_MS * 1000000;
			if (!o->quiet) {
				int joined = 0;
				for (size_t i = 0; i < nai; i++)
					joined += ai[i].state != AGENT_LOST && ai[i].state != AGENT_FAILED;
				pthread_mutex_lock(&r.mu);
				char stage[64];
				live_print(r.lv, stdout, (now - start_mono) / 1000000, total_ms, joined, (int)nai,
				           interrupted ? "stopping"
				                       : stage_label(r.plan, (now - start_mono) / 1000000, stage, sizeof(stage)));
				pthread_mutex_unlock(&r.mu);
			}
		}
	}
	live_end(r.lv, stdout);
	guard_stop(r.gd);
	r.gd = NULL;

	/* Give batches a moment to arrive after an immediate stop, then close. */
	reap_agents(&r, interrupts >= 2 ? 1000 : 5000);
	refresh_agents(&r, ai, nai);
	/* Scrapes read the registry: the endpoint goes first. */
	metrics_http_stop(r.mh);
	r.mh = NULL;
	cluster_close(r.cl);
	r.cl = NULL;
	record_agents(&r, ai, nai, weights, wsum);
	for (size_t i = 0; i < nai; i++) {
		if (ai[i].state == AGENT_LOST || ai[i].stopped || (ai[i].state != AGENT_DONE && ai[i].batches == 0))
			degraded = 1;
		if (ai[i].dropped > 0) {
			degraded = 1;
			fprintf(stderr, "herd: agent %s dropped %llu batches (its queue was full)\n", ai[i].name,
			        (unsigned long long)ai[i].dropped);
		}
	}

	/* Rates are per second of load: from the first agent's start to the last one's end. */
	{
		int64_t lo = INT64_MAX, hi = INT64_MIN;
		for (size_t i = 0; i < nai; i++) {
			if (ai[i].started_ns == 0 || ai[i].ended_ns == 0)
				continue;
			int64_t s0 = ai[i].started_ns - ai[i].clock_offset_ns, s1 = ai[i].ended_ns - ai[i].clock_offset_ns;
			lo = s0 < lo ? s0 : lo;
			hi = s1 > hi ? s1 : hi;
		}
		if (lo != INT64_MAX && hi > lo) {
			results_set_duration_ms(r.res, (hi - lo) / 1000000);
			store_run_duration(r.st, r.run_id, (hi - lo) / 1000000);
		}
	}

	/* 6. Judge, report, record. */
	verdict_set *vs = NULL;
	if (r.ab != NULL) /* the last intervals, which the watch loop may not have judged */
		abort_finish(r.ab, (results_duration_ms(r.res) + INTERVAL_MS - 1) / INTERVAL_MS * INTERVAL_MS);
	if (verdict_eval_plan(r.plan, r.res, &vs) != HERD_OK ||
	    (r.ab != NULL && abort_patch_verdicts(r.ab, vs) != HERD_OK) ||
	    outcome_default_thresholds(r.plan, r.res, vs) != HERD_OK) {
		fprintf(stderr, "herd: cannot evaluate thresholds\n");
	}
	char reason[700];
	code = run_outcome(&r, code, interrupted, degraded, vs, reason, sizeof(reason));
	summary_agent *sag = calloc(nai + 1, sizeof(*sag));
	for (size_t i = 0; sag != NULL && i < nai; i++)
		sag[i] = (summary_agent){ .id = ai[i].id, .name = ai[i].name, .host = ai[i].host,
			                      .status = agent_status(&ai[i]), .cores = ai[i].cores,
			                      .cpu_pct = ai[i].cpu_pct, .rss_kb = ai[i].rss_kb,
			                      .batches = ai[i].batches, .dropped = ai[i].dropped };
	summary_info si = {
		.http_driver = hdrv_mode_name(o->http_driver),
		.agents = sag,
		.nagents = sag != NULL ? nai : 0,
		.run_id = r.run_id,
		.plan_name = r.plan->name,
		.plan = r.plan,
		.status = r.limit_code == EXIT_THRESHOLDS && code == EXIT_THRESHOLDS ? "aborted" : outcome_status(code),
		.reason = reason[0] != '\0' ? reason : NULL,
		.degraded = degraded,
		.verdicts = vs,
	};
	char *text = NULL, *json = NULL;
	if (summary_text(r.res, &si, &text) != HERD_OK || summary_json_text(r.res, &si, &json) != HERD_OK)
		fprintf(stderr, "herd: out of memory writing the summary\n");
	if (text != NULL)
		fputs(text, stdout);
	fflush(stdout);
	if (o->summary_export != NULL && json != NULL) {
		FILE *f = fopen(o->summary_export, "w");
		if (f == NULL || fputs(json, f) < 0 || fclose(f) != 0) {
			fprintf(stderr, "herd: cannot write %s: %s\n", o->summary_export, strerror(errno));
			if (code == EXIT_OK)
				code = EXIT_SETUP;
		}
	}
	if (vs != NULL)
		store_add_verdicts(r.st, r.run_id, vs);
	run_open = 0;
	outcome_in sin = { .rule_aborted = r.limit_code == EXIT_THRESHOLDS };
	if (mark_run(&r, outcome_store_status_of(&sin, code), code, degraded, json, text) == HERD_OK && !o->quiet)
		printf("results stored in %s as run %s\n", db, r.run_id);
	if (code != EXIT_OK && reason[0] != '\0')
		fprintf(stderr, "herd: exit %d: %s\n", code, reason);
	free(text);
	free(json);
	free(sag);
	verdict_set_free(vs);

out:
	/* A run that never got going is recorded as an error (or interrupted),
	 * not left "running". */
	if (run_open && store_run_end(r.st, r.run_id, code == EXIT_INTERRUPTED ? STORE_INTERRUPTED : STORE_ERROR,
	                              code, 0, clock_real_ns() / 1000000, NULL, NULL) != HERD_OK)
		log_warn("results store: %s", store_errmsg(r.st));
	metrics_http_stop(r.mh);
	r.mh = NULL;
	guard_stop(r.gd);
	if (r.cl != NULL)
		cluster_close(r.cl);
	abort_free(r.ab);
	if (r.npids > 0)
		reap_agents(&r, code == EXIT_SETUP || code == EXIT_INTERRUPTED ? 0 : 2000);
	if (r.tmpdir[0] != '\0')
		remove_tmpdir(&r);
	free(r.pids);
	free(ai);
	free(weights);
	free(told);
	live_free(r.lv);
	results_free(r.res);
	store_close(r.st);
	plan_free(r.plan);
	free(r.plan_text);
	pthread_mutex_destroy(&r.mu);
	return code;
}
