/* The daemon loop of herd serve; see serve_daemon.h and docs/serve.md. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/ratecap.h"
#include "controller/compare.h"
#include "controller/notify.h"
#include "controller/outcome.h"
#include "controller/report.h"
#include "controller/searchrun.h"
#include "controller/serve_daemon.h"
#include "controller/slot.h"
#include "controller/store_serve.h"

/* From the assignment to the start instant: agents are connected already. */
#define SERVE_START_DELAY_MS 500
/* After the window's end (graceful stop: no new iteration) the load is
 * stopped at once this much later, so nothing reaches the target past end
 * + 1 s. */
#define SERVE_HARD_STOP_MS 500
/* A run stopped gracefully by a signal is stopped at once this much later,
 * whatever its gracefulStop: a service manager's stop timeout is bounded. */
#define SERVE_SIGNAL_HARD_MS 30000
/* An agent silent this long between runs is lost (the engine's default). */
#define SERVE_LOSS_MS 3000
/* Agents the listener takes at least (see max_agents_of). */
#define SERVE_MAX_AGENTS 64
/* How long a stop waits for webhooks still queued. */
#define SERVE_OUTBOX_WAIT_MS 10000
/* The longest sleep of the loop: signals and API requests are seen this
 * often. */
#define SERVE_TICK_MS 100

static volatile sig_atomic_t stop_signal, stop_count;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
	stop_count++;
}

/* Whether a second stop signal came. */
static int hurried(void *arg)
{
	(void)arg;
	return stop_count > 1;
}

int64_t serve_now_ms(const serve_daemon *d)
{
	return clock_real_ns() / 1000000 + d->clock_offset_ms;
}

static void log_line(const serve_daemon *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(const serve_daemon *d, const char *fmt, ...)
{
	char when[32];
	va_list ap;
	struct tm tm;
	time_t t = (time_t)(serve_now_ms(d) / 1000);
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "herd serve: %s ", when);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Agents joining, refused, lost or back between runs (from the cluster's
 * threads): said in the daemon's log. */
static void on_cluster_event(void *arg, const char *kind, const char *agent_id, const char *message)
{
	log_line(arg, "%s %s%s%s", kind, agent_id != NULL ? agent_id : "", message != NULL && message[0] ? ": " : "",
	         message != NULL ? message : "");
}

/* Queues event for each notification schedule sc names. */
static void announce(serve_daemon *d, const serve_schedule *s, const notify_event *e)
{
	for (size_t i = 0; i < s->nnotify; i++) {
		for (size_t k = 0; k < d->cfg->nnotifications; k++) {
			const serve_notification *n = &d->cfg->notifications[k];
			if (strcmp(n->name, s->notify[i]) != 0)
				continue;
			notify_target t = {
				.name = n->name,
				.url = n->url,
				.secret = &d->secrets[k],
				.retries = (int)n->retries,
				.timeout_ms = n->timeout_ms,
			};
			serve_outbox_post(d->ob, &t, e);
		}
	}
}

/* Records a slot that did not run (skipped or missed) and says so. */
static void record_not_run(serve_daemon *d, serve_sched *sc, int64_t slot, int64_t last,
                           store_sched_outcome o, const char *reason)
{
	char when[64];
	cron_format(slot, sc->s->tz, when, sizeof(when));
	log_line(d, "schedule %s: slot %s %s: %s", sc->s->name, when, store_sched_outcome_name(o), reason);
	if (store_sched_run_add(d->st, sc->s->name, slot, last, o, NULL, NULL, reason, serve_now_ms(d),
	                        NULL) != HERD_OK)
		log_line(d, "store: %s", store_errmsg(d->st));
	if (o == STORE_SCHED_SKIPPED) {
		notify_event e = { .event = "skipped", .schedule = sc->s->name, .slot = slot, .reason = reason,
			           .at_ms = serve_now_ms(d) };
		announce(d, sc->s, &e);
	}
}

/* Marks slots up to last handled in the store and in sc. */
static void handled(serve_daemon *d, serve_sched *sc, int64_t last, int64_t next)
{
	/* The API reads next_slot. */
	pthread_mutex_lock(&d->mu);
	sc->last_slot = last;
	sc->next_slot = next;
	pthread_mutex_unlock(&d->mu);
	if (store_schedule_handled(d->st, sc->s->name, last, next, serve_now_ms(d)) != HERD_OK)
		log_line(d, "store: %s", store_errmsg(d->st));
}

/* ---- one run ---- */

typedef struct live_run {
	serve_daemon *d;
	serve_sched *sc;
	int done;
	int code;
	int judged;
	char reason[700];
	char aborted[400]; /* an abort rule or the health guard stopped it: why */
	/* A breaking-point plan's search, capped as the run is; NULL: none.
	 * on_tick steps it, drive does what it asked after the step. */
	srun *sr;
} live_run;

static int on_done(void *arg, const eng_done *dn)
{
	live_run *lr = arg;
	lr->done = 1;
	lr->code = dn->code;
	lr->judged = dn->judged;
	if (dn->reason != NULL)
		snprintf(lr->reason, sizeof(lr->reason), "%s", dn->reason);
	return dn->code;
}

/* Steps the search with the window of the interval merged (the engine's
 * lock is held: its action is taken after the step, in drive). */
static void on_tick(void *arg, const eng_tick *t)
{
	live_run *lr = arg;
	if (lr->sr != NULL && srun_tick(lr->sr, t, NULL) != HERD_OK)
		log_line(lr->d, "the breaking-point search ran out of memory; ending the load");
}

/* Does what the search asked at the last tick or event. */
static void search_act(live_run *lr, eng *e)
{
	char err[300];
	if (srun_act(lr->sr, e, err, sizeof(err)) != HERD_OK)
		log_line(lr->d, "%s", err);
}

static void on_event(void *arg, const eng_event *ev)
{
	live_run *lr = arg;
	/* An agent lost or stopping ends the search (its levels lack that
	 * agent's share); the run drains as any run that lost an agent. */
	int ended = lr->sr != NULL && srun_event(lr->sr, ev);
	switch (ev->type) {
	case ENG_EV_AGENT_FAILED: log_line(lr->d, "agent %s failed: %s", ev->agent->name, ev->agent->error); break;
	case ENG_EV_AGENT_LOST:
		log_line(lr->d, "agent %s lost%s", ev->agent->name, ended ? "; ending the search" : "");
		break;
	case ENG_EV_AGENT_STOPPED:
		log_line(lr->d, "agent %s %s%s", ev->agent->name, ev->text, ended ? "; ending the search" : "");
		break;
	case ENG_EV_ABORTED:
		log_line(lr->d, "run aborted: %s", ev->text);
		snprintf(lr->aborted, sizeof(lr->aborted), "%s", ev->text);
		break;
	case ENG_EV_GUARD_REFUSED:
	case ENG_EV_STORE_ERROR:
	case ENG_EV_STORE_FAILED: log_line(lr->d, "%s", ev->text); break;
	case ENG_EV_JOIN_TIMEOUT:
		log_line(lr->d, "only %lld of %lld agents ready", (long long)ev->count, (long long)ev->wanted);
		break;
	default: break;
	}
}

/* The schedule's last finished, passed run before run_id, into out. */
typedef struct last_passed {
	const char *not;
	char id[64];
} last_passed;

static int find_passed(void *arg, const store_sched_run *r)
{
	last_passed *lp = arg;
	if (r->run_id == NULL || r->verdict == NULL || strcmp(r->outcome, "finished") != 0 ||
	    strcmp(r->verdict, "passed") != 0 || strcmp(r->run_id, lp->not) == 0)
		return 0;
	snprintf(lp->id, sizeof(lp->id), "%s", r->run_id);
	return 1;
}

/* The comparison of run_id with the schedule's last passed run as a JSON
 * object (malloc'ed; `herd results compare`'s JSON), or NULL when there is
 * none or it could not be made (said in the log). */
static char *compare_last_passed(serve_daemon *d, const char *sched, const char *run_id)
{
	last_passed lp = { run_id, "" };
	cmp_opts o = { 0.05, 0.01, 5 };
	cmp_report *r = NULL;
	char err[512], *buf = NULL;
	size_t len = 0;
	store_each_sched_run(d->st, sched, 0, find_passed, &lp);
	if (lp.id[0] == '\0')
		return NULL;
	if (cmp_runs(d->st, lp.id, run_id, &o, &r, err, sizeof(err)) != HERD_OK) {
		log_line(d, "cannot compare %s with %s: %s", run_id, lp.id, err);
		return NULL;
	}
	FILE *f = open_memstream(&buf, &len);
	if (f == NULL || cmp_print(r, lp.id, run_id, &o, CMP_JSON, f) != HERD_OK) {
		if (f != NULL)
			fclose(f);
		free(buf);
		cmp_report_free(r);
		return NULL;
	}
	fclose(f);
	cmp_report_free(r);
	return buf;
}

/* Writes the run's HTML report into the report folder; its path into out
 * ("" when it could not be written, said in the log). */
static void write_report(serve_daemon *d, const char *run_id, char *out, size_t len)
{
	char err[512];
	out[0] = '\0';
	if (mkdir(d->report_dir, 0755) != 0 && errno != EEXIST) {
		log_line(d, "cannot make %s: %s", d->report_dir, strerror(errno));
		return;
	}
	snprintf(out, len, "%s/%s.html", d->report_dir, run_id);
	FILE *f = fopen(out, "w");
	int rv = f != NULL ? report_write(d->st, run_id, f, err, sizeof(err)) : HERD_EIO;
	if (f == NULL)
		snprintf(err, sizeof(err), "%s", strerror(errno));
	if (f != NULL && fclose(f) != 0 && rv == HERD_OK) {
		snprintf(err, sizeof(err), "%s", strerror(errno));
		rv = HERD_EIO;
	}
	if (rv != HERD_OK) {
		log_line(d, "report %s: %s", out, err);
		out[0] = '\0';
	}
}

/* Waits up to the schedule's agents.wait for agents.min idle agents.
 * Returns how many there are (fewer: the wait ended or a stop came). */
static int wait_agents(serve_daemon *d, const serve_schedule *s)
{
	int want = (int)s->agents_min;
	/* An agent gone between runs is not counted (nor given the run). */
	cluster_check_lost(d->cl, SERVE_LOSS_MS);
	int64_t deadline = clock_mono_ns() + s->agents_wait_ms * 1000000;
	int have = cluster_wait_idle(d->cl, want, 0);
	while (have < want && !stop_signal && clock_mono_ns() < deadline)
		have = cluster_wait_idle(d->cl, want, SERVE_TICK_MS);
	return have;
}

/* Answers the abort asked through the API (d->mu held): status 202 when
 * the loop stops or calls off the run, 409 when its load is over already. */
static void abort_answer(serve_daemon *d, int status)
{
	d->abort_req = 0;
	d->abort_answered = d->abort_seq;
	d->abort_status = status;
	pthread_cond_broadcast(&d->abort_cv);
}

/* What stopped a run early, for the record; "" when nothing did. */
typedef struct stop_why {
	char text[400];
	int graceful_sent, hard_sent;
} stop_why;

/*
 * Steps the engine to its end. The window's end (stop_at, s; 0: none) stops
 * the load gracefully (no new iteration), then at once SERVE_HARD_STOP_MS
 * later; an abort through the API stops it at once; a stop signal
 * gracefully (a second one, or SERVE_SIGNAL_HARD_MS, at once). A run not
 * assigned yet is called off; one draining is left to end by itself, and
 * an abort asked then is refused (409): its load is over, nothing is left
 * to stop, and it is recorded as it ends.
 */
static void drive(serve_daemon *d, live_run *lr, eng *e, int64_t stop_at, const char *window_end, stop_why *w)
{
	int seen_signal = 0;
	int64_t signal_at = 0;
	for (;;) {
		int64_t wait = 0;
		eng_state st = eng_step(e, clock_mono_ns(), &wait);
		if (st == ENG_DONE)
			return;
		if (lr->sr != NULL && !w->graceful_sent)
			search_act(lr, e);
		if (wait > SERVE_TICK_MS / 2)
			wait = SERVE_TICK_MS / 2;
		int64_t now = serve_now_ms(d);
		/* Sleep no further than the window's end. */
		if (stop_at > 0 && !w->graceful_sent && stop_at * 1000 - now < wait)
			wait = stop_at * 1000 - now > 0 ? stop_at * 1000 - now : 0;
		clock_sleep_ms(wait);
		now = serve_now_ms(d);
		st = eng_get_state(e);
		int pre = st == ENG_NEW || st == ENG_JOINING;
		int live = st == ENG_ASSIGNED || st == ENG_RUNNING;
		char why[400] = "";
		int abort_req = 0;
		/* An abort is decided here, by the only thread that moves the
		 * engine's state: what the API answers is what is done. */
		pthread_mutex_lock(&d->mu);
		if (d->abort_req && (pre || live)) {
			abort_req = 1;
			snprintf(why, sizeof(why), "aborted through the API: %s", d->abort_reason);
			abort_answer(d, 202);
		} else if (d->abort_req) {
			abort_answer(d, 409);
		}
		pthread_mutex_unlock(&d->mu);
		if (stop_signal && !seen_signal) {
			seen_signal = 1;
			signal_at = clock_mono_ns();
		}
		int window_over = stop_at > 0 && now >= stop_at * 1000;
		if (why[0] == '\0' && seen_signal)
			snprintf(why, sizeof(why), "herd serve stopped (%s)", stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
		if (why[0] == '\0' && window_over)
			snprintf(why, sizeof(why), "the window ended at %s: the load was stopped", window_end);
		/* Draining: the load is over, the run ends by itself. */
		if (!pre && !live)
			continue;
		if (why[0] != '\0' && w->text[0] == '\0')
			snprintf(w->text, sizeof(w->text), "%s", why);
		if (pre && why[0] != '\0') {
			/* Not assigned yet: nothing to stop, the run is called off. */
			eng_cancel(e, EXIT_INTERRUPTED);
			return;
		}
		if (pre)
			continue;
		if (abort_req && !w->hard_sent) {
			w->hard_sent = w->graceful_sent = 1;
			eng_stop(e, 1);
		} else if ((window_over || seen_signal) && !w->graceful_sent) {
			w->graceful_sent = 1;
			eng_stop(e, 0);
		} else if (window_over && !w->hard_sent && now >= stop_at * 1000 + SERVE_HARD_STOP_MS) {
			w->hard_sent = 1;
			eng_stop(e, 1);
		} else if (seen_signal && !w->hard_sent &&
		           (stop_count > 1 || clock_mono_ns() - signal_at >= (int64_t)SERVE_SIGNAL_HARD_MS * 1000000)) {
			w->hard_sent = 1;
			eng_stop(e, 1);
		}
	}
}

/* The schedule's maxRate as whole requests per second, as a plan's: a
 * fraction is rounded down, never to none; 0: no cap. */
static int64_t sched_rate_cap(const serve_schedule *s)
{
	return s->max_rate > 0 && s->max_rate < 1 ? 1 : (int64_t)s->max_rate;
}

/*
 * Holds p to the schedule's maxRate and maxVUs where they are tighter than
 * its own (the run's effective caps, which the engine sends the agents) and
 * checks its peak against them: 0 when it fits, else -1 with the numbers in
 * msg.
 */
static int apply_sched_caps(const serve_schedule *s, plan *p, char *msg, size_t len)
{
	ratecap_tighten(p, sched_rate_cap(s), s->max_vus);
	return ratecap_check(p, msg, len);
}

/*
 * Runs schedule sc's plan for slot (s) now, stopped at stop_at (s; 0: no
 * window): loads the plan, waits for the agents, runs it, records and
 * announces it. manual: asked for through the API.
 */
static void run_slot(serve_daemon *d, serve_sched *sc, int64_t slot, int64_t stop_at, int manual)
{
	const serve_schedule *s = sc->s;
	plan *p = NULL;
	char *text = NULL, err[2048], label[300], reason[800], report[4200];
	char *cmp = NULL;
	eng *e = NULL;
	int64_t row = 0;
	live_run lr = { .d = d, .sc = sc };
	stop_why w = { "", 0, 0 };

	if (eng_plan_load(s->plan_path, NULL, &p, &text, err, sizeof(err)) != HERD_OK) {
		snprintf(reason, sizeof(reason), "the plan does not load: %.700s", err);
		record_not_run(d, sc, slot, slot, STORE_SCHED_SKIPPED, reason);
		goto out;
	}
	sc->run_ms = plan_total_ms(p);
	/* The plan as it is now must still fit (it may have changed since the
	 * slot was decided with the length loaded before). */
	if (!manual && stop_at > 0 && serve_now_ms(d) + sc->run_ms > stop_at * 1000) {
		char need[32], left[32];
		slot_fmt_len(sc->run_ms, need, sizeof(need));
		slot_fmt_len(stop_at * 1000 - serve_now_ms(d), left, sizeof(left));
		snprintf(reason, sizeof(reason), "would not fit: needs %s, the window ends in %s", need, left);
		record_not_run(d, sc, slot, slot, STORE_SCHED_SKIPPED, reason);
		goto out;
	}
	if (apply_sched_caps(s, p, err, sizeof(err)) != 0) {
		snprintf(reason, sizeof(reason), "above the schedule's caps: %.700s", err);
		record_not_run(d, sc, slot, slot, STORE_SCHED_SKIPPED, reason);
		goto out;
	}
	/* Capped by p's caps: the lower of the plan's and the schedule's. */
	if (srun_new(p, &lr.sr, err, sizeof(err)) != HERD_OK) {
		snprintf(reason, sizeof(reason), "the breaking-point search could not be made: %.700s", err);
		record_not_run(d, sc, slot, slot, STORE_SCHED_SKIPPED, reason);
		goto out;
	}
	int have = wait_agents(d, s);
	if (have < s->agents_min) {
		char len[32];
		slot_fmt_len(s->agents_wait_ms, len, sizeof(len));
		snprintf(reason, sizeof(reason), "only %d of %lld agents after %s%s", have,
		         (long long)s->agents_min, len, stop_signal ? " (herd serve was stopped)" : "");
		record_not_run(d, sc, slot, slot, STORE_SCHED_SKIPPED, reason);
		goto out;
	}
	snprintf(label, sizeof(label), "schedule=%s", s->name);
	const char *labels[] = { label };
	eng_cfg ec = {
		.plan = p,
		.plan_path = s->plan_path,
		.plan_text = text,
		.st = d->st,
		/* agents.min is the least: every idle agent takes part. */
		.agents = have,
		.agents_wait_ms = 5000,
		.start_delay_ms = SERVE_START_DELAY_MS,
		.labels = labels,
		.nlabels = 1,
		.max_rate = sched_rate_cap(s),
		.max_vus = s->max_vus,
		.search = lr.sr != NULL ? srun_search(lr.sr) : NULL,
		.hooks = { on_tick, on_event, on_done, &lr },
	};
	if (eng_new(&ec, &e, err, sizeof(err)) != HERD_OK) {
		snprintf(reason, sizeof(reason), "the run could not be made: %.700s", err);
		record_not_run(d, sc, slot, slot, STORE_SCHED_SKIPPED, reason);
		goto out;
	}
	const char *id = eng_run_id(e);
	if (store_sched_run_add(d->st, s->name, slot, slot, STORE_SCHED_STARTED, id, NULL,
	                        manual ? "started now through the API (herd schedule run)" : NULL,
	                        serve_now_ms(d), &row) != HERD_OK)
		log_line(d, "store: %s", store_errmsg(d->st));
	pthread_mutex_lock(&d->mu);
	d->e = e;
	snprintf(d->run_id, sizeof(d->run_id), "%s", id);
	d->run_sched = s->name;
	d->abort_req = 0;
	d->abort_reason[0] = '\0';
	pthread_mutex_unlock(&d->mu);
	{
		char until[64] = "no window";
		if (stop_at > 0)
			cron_format(stop_at, s->tz, until, sizeof(until));
		log_line(d, "schedule %s: run %s started%s (plan %s, stop at %s)", s->name, id,
		         manual ? " now, as asked" : "", s->plan_path, until);
	}
	notify_event ne = { .event = "started", .schedule = s->name, .slot = slot, .run_id = id,
		            .at_ms = serve_now_ms(d) };
	announce(d, s, &ne);

	char window_end[16];
	snprintf(window_end, sizeof(window_end), "%02d:%02d", s->end.hh, s->end.mm);
	eng_start(e, d->cl);
	drive(d, &lr, e, stop_at, window_end, &w);

	/* The run is done: the store is the loop's again, the cluster's events
	 * the daemon log's. */
	cluster_set_hooks(d->cl, NULL, on_cluster_event, d);
	pthread_mutex_lock(&d->mu);
	d->e = NULL;
	d->run_sched = NULL;
	/* Asked as the run ended: nothing is left to stop. */
	if (d->abort_req)
		abort_answer(d, 409);
	pthread_mutex_unlock(&d->mu);
	int code = eng_code(e);
	const char *verdict = outcome_status(code);
	if (w.text[0] == '\0' && lr.aborted[0] != '\0')
		snprintf(w.text, sizeof(w.text), "%s", lr.aborted);
	int aborted = w.text[0] != '\0' || code == EXIT_ABORTED || code == EXIT_GUARD_ABORTED ||
	              code == EXIT_GUARD_REFUSED || code == EXIT_SETUP || !lr.judged;
	if (w.text[0] != '\0')
		snprintf(reason, sizeof(reason), "%s", w.text);
	else
		snprintf(reason, sizeof(reason), "%s", lr.reason[0] ? lr.reason : verdict);
	report[0] = '\0';
	if (lr.judged) {
		write_report(d, id, report, sizeof(report));
		if (!aborted)
			cmp = compare_last_passed(d, s->name, id);
	}
	if (row > 0 && store_sched_run_update(d->st, row, aborted ? STORE_SCHED_ABORTED : STORE_SCHED_FINISHED,
	                                      id, verdict, aborted || code != EXIT_OK ? reason : NULL,
	                                      serve_now_ms(d)) != HERD_OK)
		log_line(d, "store: %s", store_errmsg(d->st));
	log_line(d, "schedule %s: run %s %s: %s (exit %d)%s%s", s->name, id, aborted ? "aborted" : "finished",
	         aborted ? reason : verdict, code, report[0] ? ", report " : "", report);
	notify_event fe = { .event = aborted ? "aborted" : "finished", .schedule = s->name, .slot = slot,
		            .run_id = id, .verdict = verdict,
		            .reason = aborted || code != EXIT_OK ? reason : NULL, .comparison = cmp,
		            .report = report[0] ? report : NULL, .at_ms = serve_now_ms(d) };
	announce(d, s, &fe);
out:
	eng_free(e);
	srun_free(lr.sr);
	free(cmp);
	free(text);
	plan_free(p);
}

/* ---- the loop ---- */

/* Decides about every schedule at now; runs, skips and records what is due.
 * Returns the earliest next slot (s) of all, 0 when none. */
static int64_t decide_all(serve_daemon *d)
{
	int64_t earliest = 0;
	for (size_t i = 0; i < d->cfg->nschedules && !stop_signal; i++) {
		serve_sched *sc = &d->sched[i];
		for (int k = 0; k < 100 && !stop_signal; k++) {
			slot_decision dec;
			int64_t now = serve_now_ms(d) / 1000;
			if (slot_decide(sc->s, now, sc->run_ms > 0 ? sc->run_ms : 0, sc->last_slot, &dec) != HERD_OK) {
				if (k == 0)
					log_line(d, "schedule %s: %s", sc->s->name, dec.reason);
				break;
			}
			if (dec.action == SLOT_WAIT) {
				if (earliest == 0 || dec.slot < earliest)
					earliest = dec.slot;
				break;
			}
			if (dec.action == SLOT_MISSED) {
				record_not_run(d, sc, dec.slot, dec.last, STORE_SCHED_MISSED, dec.reason);
			} else if (dec.action == SLOT_SKIP) {
				record_not_run(d, sc, dec.slot, dec.last, STORE_SCHED_SKIPPED, dec.reason);
			} else {
				/* Handled before the run: a daemon killed mid-run does not
				 * run the slot again. */
				handled(d, sc, dec.last, dec.next);
				run_slot(d, sc, dec.slot, dec.stop_at, 0);
				continue;
			}
			handled(d, sc, dec.last, dec.next);
		}
	}
	return earliest;
}

/* Runs the schedules asked for through the API. */
static void run_manual(serve_daemon *d)
{
	for (size_t i = 0; i < d->cfg->nschedules && !stop_signal; i++) {
		serve_sched *sc = &d->sched[i];
		pthread_mutex_lock(&d->mu);
		int want = sc->manual;
		sc->manual = 0;
		pthread_mutex_unlock(&d->mu);
		if (!want)
			continue;
		int64_t now = serve_now_ms(d) / 1000, end = 0;
		/* A run asked for now still stops at its window's end. */
		if (sc->s->has_window && slot_window_end(sc->s, now, &end) != HERD_OK)
			end = 0;
		run_slot(d, sc, now, end, 1);
	}
}

static int any_manual(serve_daemon *d)
{
	int any = 0;
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < d->cfg->nschedules; i++)
		any |= d->sched[i].manual;
	pthread_mutex_unlock(&d->mu);
	return any;
}

/* Loads the secrets and tokens serve.yaml names. */
static int load_secrets(serve_daemon *d, char *err, size_t errlen)
{
	const serve_cfg *cfg = d->cfg;
	char e2[512];
	if (cfg->token_file != NULL) {
		if (auth_token_load(cfg->token_file, &d->agent_token, e2, sizeof(e2)) != HERD_OK) {
			snprintf(err, errlen, "token-file: %s", e2);
			return HERD_EINVAL;
		}
		d->has_agent_token = 1;
	}
	if (cfg->has_api && auth_token_load(cfg->api_token_file, &d->api_token, e2, sizeof(e2)) != HERD_OK) {
		snprintf(err, errlen, "api token-file: %s", e2);
		return HERD_EINVAL;
	}
	d->secrets = calloc(cfg->nnotifications + 1, sizeof(*d->secrets));
	if (d->secrets == NULL) {
		snprintf(err, errlen, "out of memory");
		return HERD_ENOMEM;
	}
	for (size_t i = 0; i < cfg->nnotifications; i++) {
		if (auth_token_load(cfg->notifications[i].secret_file, &d->secrets[i], e2, sizeof(e2)) != HERD_OK) {
			snprintf(err, errlen, "notification %s: %s", cfg->notifications[i].name, e2);
			return HERD_EINVAL;
		}
	}
	return HERD_OK;
}

/* The folder of the store, for the reports: "<db's folder>/reports". */
static void report_dir_of(const char *db, char *out, size_t len)
{
	const char *slash = strrchr(db, '/');
	if (slash == NULL)
		snprintf(out, len, "reports");
	else
		snprintf(out, len, "%.*s/reports", (int)(slash - db), db);
}

/* Reads each schedule's stored slots (a new one starts with none) and
 * stores it as serve.yaml defines it now. */
static int load_schedules(serve_daemon *d, char *err, size_t errlen)
{
	const serve_cfg *cfg = d->cfg;
	d->sched = calloc(cfg->nschedules + 1, sizeof(*d->sched));
	if (d->sched == NULL) {
		snprintf(err, errlen, "out of memory");
		return HERD_ENOMEM;
	}
	int64_t now = serve_now_ms(d) / 1000;
	for (size_t i = 0; i < cfg->nschedules; i++) {
		serve_sched *sc = &d->sched[i];
		plan *p = NULL;
		char *text = NULL, perr[2048];
		sc->s = &cfg->schedules[i];
		sc->run_ms = -1;
		if (eng_plan_load(sc->s->plan_path, NULL, &p, &text, perr, sizeof(perr)) != HERD_OK) {
			snprintf(err, errlen, "%s:%d:%d: schedule '%s': %s", cfg->file, sc->s->plan_pos.line,
			         sc->s->plan_pos.col, sc->s->name, perr);
			return HERD_EINVAL;
		}
		sc->run_ms = plan_total_ms(p);
		plan_free(p);
		free(text);
		int rv = store_schedule_get(d->st, sc->s->name, &sc->last_slot, &sc->next_slot);
		if (rv == HERD_ENOTFOUND)
			sc->last_slot = -1;
		else if (rv != HERD_OK)
			goto store_fail;
		if (cron_next(&sc->s->cron, sc->s->tz, sc->last_slot > now ? sc->last_slot : now, &sc->next_slot) != 0)
			sc->next_slot = 0;
		if (store_schedule_put(d->st, sc->s->name, sc->s->cron_expr, sc->s->tz, sc->s->plan_path,
		                       sc->next_slot, serve_now_ms(d)) != HERD_OK)
			goto store_fail;
	}
	return HERD_OK;
store_fail:
	snprintf(err, errlen, "store %s: %s", cfg->db, store_errmsg(d->st));
	return HERD_ESTORE;
}

/* How many agents the listener takes: SERVE_MAX_AGENTS, or 4 times the
 * largest agents.min. Its handlers grow with it (two per agent), so it is
 * not set far above what the schedules use. */
static int max_agents_of(const serve_cfg *cfg)
{
	int64_t n = SERVE_MAX_AGENTS;
	for (size_t i = 0; i < cfg->nschedules; i++)
		if (cfg->schedules[i].agents_min * 4 > n)
			n = cfg->schedules[i].agents_min * 4;
	return n > 4096 ? 4096 : (int)n;
}

int serve_daemon_run(const serve_cfg *cfg)
{
	serve_daemon d;
	char err[2600];
	int code = EXIT_SETUP;

	memset(&d, 0, sizeof(d));
	d.cfg = cfg;
	pthread_mutex_init(&d.mu, NULL);
	pthread_mutex_init(&d.api_mu, NULL);
	pthread_cond_init(&d.abort_cv, NULL);
	const char *off = getenv(SERVE_CLOCK_OFFSET_ENV);
	if (off != NULL && off[0] != '\0') {
		d.clock_offset_ms = strtoll(off, NULL, 10);
		fprintf(stderr, "herd serve: test hook %s: the schedule clock runs %lld ms from the system's\n",
		        SERVE_CLOCK_OFFSET_ENV, (long long)d.clock_offset_ms);
	}
	struct sigaction sa = { .sa_handler = on_stop_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (load_secrets(&d, err, sizeof(err)) != HERD_OK) {
		code = EXIT_INVALID;
		goto fail;
	}
	if (store_open(cfg->db, &d.st, err, sizeof(err)) != HERD_OK ||
	    store_open(cfg->db, &d.st_api, err, sizeof(err)) != HERD_OK) {
		char e2[2600];
		snprintf(e2, sizeof(e2), "store %.200s: %.2000s", cfg->db, err);
		snprintf(err, sizeof(err), "%s", e2);
		goto fail;
	}
	report_dir_of(cfg->db, d.report_dir, sizeof(d.report_dir));
	if (load_schedules(&d, err, sizeof(err)) != HERD_OK) {
		code = EXIT_INVALID;
		goto fail;
	}
	if (serve_outbox_start(cfg->db, &d.ob, err, sizeof(err)) != HERD_OK)
		goto fail;
	cluster_cfg cc = {
		.url = cfg->listen,
		.max_agents = max_agents_of(cfg),
		.token = d.has_agent_token ? &d.agent_token : NULL,
		.tls = { cfg->tls_cert, cfg->tls_key, cfg->tls_ca },
		.on_event = on_cluster_event,
		.arg = &d,
	};
	if (cc.token == NULL && strncmp(cfg->listen, "ipc://", 6) != 0)
		fprintf(stderr, "herd serve: warning: listening on %s without token-file: any agent may join\n",
		        cfg->listen);
	if (cluster_open(&cc, &d.cl, err, sizeof(err)) != HERD_OK)
		goto fail;
	if (cfg->has_api) {
		api_providers p = serve_api_providers(&d);
		if (api_start(cfg->api_listen, &d.api_token, &p, &d.api, err, sizeof(err)) != HERD_OK)
			goto fail;
	}
	log_line(&d, "listening for agents on %s%s%s, %zu schedule%s, store %s", cfg->listen,
	         cfg->has_api ? ", API on " : "", cfg->has_api ? cfg->api_listen : "", cfg->nschedules,
	         cfg->nschedules == 1 ? "" : "s", cfg->db);
	for (size_t i = 0; i < cfg->nschedules; i++) {
		char next[64] = "none";
		if (d.sched[i].next_slot > 0)
			cron_format(d.sched[i].next_slot, cfg->schedules[i].tz, next, sizeof(next));
		log_line(&d, "schedule %s: next slot %s", cfg->schedules[i].name, next);
	}

	while (!stop_signal) {
		run_manual(&d);
		int64_t next = decide_all(&d);
		/* Sleep until the next slot, a request or a signal. */
		while (!stop_signal && !any_manual(&d)) {
			/* /agents and the next run see agents gone while idle as lost. */
			cluster_check_lost(d.cl, SERVE_LOSS_MS);
			int64_t left = next > 0 ? next * 1000 - serve_now_ms(&d) : SERVE_TICK_MS;
			if (left <= 0)
				break;
			clock_sleep_ms(left < SERVE_TICK_MS ? left : SERVE_TICK_MS);
			if (next == 0)
				break;
		}
	}
	log_line(&d, "%s: stopping", stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
	code = EXIT_OK;
	goto out;
fail:
	fprintf(stderr, "herd serve: %s\n", err);
out:
	/* The API first: its providers read the cluster and the stores. */
	api_stop(d.api);
	/* A second signal (one came during a run's stop, or comes now) ends
	 * the wait for the webhooks at once. */
	serve_outbox_stop(d.ob, SERVE_OUTBOX_WAIT_MS, hurried, NULL, d.st);
	if (d.cl != NULL)
		cluster_close(d.cl);
	store_close(d.st_api);
	store_close(d.st);
	for (size_t i = 0; d.secrets != NULL && i < cfg->nnotifications; i++)
		auth_token_wipe(&d.secrets[i]);
	free(d.secrets);
	free(d.sched);
	auth_token_wipe(&d.agent_token);
	auth_token_wipe(&d.api_token);
	pthread_mutex_destroy(&d.mu);
	pthread_mutex_destroy(&d.api_mu);
	pthread_cond_destroy(&d.abort_cv);
	return code;
}
