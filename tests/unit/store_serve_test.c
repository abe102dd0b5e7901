/* herd serve's state in a real SQLite file: a schedule's slots survive a
 * reopen (a restarted daemon) and a new serve.yaml; scheduled runs and
 * webhook deliveries read back in order. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "controller/store.h"
#include "controller/store_serve.h"
#include "tests/unit/check.h"
#include "tests/unit/tmpdb.h"

static char dir[] = "/tmp/herd-store-serve-XXXXXX";
static char path[256];

typedef struct seen {
	int n;
	char text[1024];
} seen;

static int on_run(void *arg, const store_sched_run *r)
{
	seen *s = arg;
	size_t o = strlen(s->text);
	snprintf(s->text + o, sizeof(s->text) - o, "%lld-%lld %s %s %s %s|", (long long)r->slot,
	         (long long)r->slot_last, r->outcome, r->run_id ? r->run_id : "-",
	         r->verdict ? r->verdict : "-", r->reason ? r->reason : "-");
	s->n++;
	return 0;
}

static int on_delivery(void *arg, const store_delivery *d)
{
	seen *s = arg;
	size_t o = strlen(s->text);
	snprintf(s->text + o, sizeof(s->text) - o, "%s %s %d %d %s|", d->notification, d->event,
	         d->attempt, d->status, d->error ? d->error : "-");
	s->n++;
	return 0;
}

static int on_schedule(void *arg, const store_schedule *sc)
{
	seen *s = arg;
	size_t o = strlen(s->text);
	snprintf(s->text + o, sizeof(s->text) - o, "%s %s %s %lld %lld|", sc->name, sc->cron, sc->tz,
	         (long long)sc->last_slot, (long long)sc->next_slot);
	s->n++;
	return 0;
}

int main(void)
{
	store *st = NULL;
	char err[512];
	int64_t last = 0, next = 0, id = 0;
	seen s = {0};

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/herd.db", dir);
	CHECK_EQ_INT(store_open(path, &st, err, sizeof(err)), HERD_OK);
	if (st == NULL)
		return check_done();
	CHECK_EQ_INT(store_schedule_put(st, "nightly", "0 2 * * *", "UTC", "/p.yaml", 1000, 1), HERD_OK);
	CHECK_EQ_INT(store_schedule_handled(st, "nightly", 1000, 2000, 2), HERD_OK);
	CHECK_EQ_INT(store_schedule_handled(st, "weekly", 1000, 2000, 2), HERD_ENOTFOUND);
	CHECK_EQ_STR(store_errmsg(st), "no schedule 'weekly'");
	CHECK_EQ_INT(store_schedule_get(st, "weekly", &last, &next), HERD_ENOTFOUND);
	CHECK_EQ_INT(store_run_begin(st, "20261203-020000-abcd", "checkout", NULL, NULL, 1, 1000),
	             HERD_OK);
	CHECK_EQ_INT(store_sched_run_add(st, "nightly", 1000, 1000, STORE_SCHED_STARTED,
	                                 "20261203-020000-abcd", NULL, NULL, 3, &id),
	             HERD_OK);
	CHECK_EQ_INT(store_sched_run_update(st, id, STORE_SCHED_FINISHED, NULL, "passed", NULL, 4),
	             HERD_OK);
	CHECK_EQ_INT(store_sched_run_update(st, id + 100, STORE_SCHED_FINISHED, NULL, NULL, NULL, 4),
	             HERD_ENOTFOUND);
	CHECK_EQ_INT(store_sched_run_add(st, "nightly", 500, 900, STORE_SCHED_MISSED, NULL, NULL,
	                                 "3 slots passed", 2, NULL),
	             HERD_OK);
	CHECK_EQ_INT(store_sched_run_add(st, "other", 2000, 0, STORE_SCHED_SKIPPED, NULL, NULL,
	                                 "would not fit: needs 25m, the window ends in 10m", 5, NULL),
	             HERD_OK);
	store_delivery d = {"ops", "finished", "nightly", "20261203-020000-abcd", 1, 500, NULL, 10};
	CHECK_EQ_INT(store_delivery_add(st, &d), HERD_OK);
	d.attempt = 2;
	d.status = 0;
	d.error = "Connection refused";
	CHECK_EQ_INT(store_delivery_add(st, &d), HERD_OK);
	d.attempt = 3;
	d.status = 204;
	d.error = NULL;
	CHECK_EQ_INT(store_delivery_add(st, &d), HERD_OK);
	d.attempt = 0;
	CHECK_EQ_INT(store_delivery_add(st, &d), HERD_EINVAL);
	store_close(st);

	/* The daemon restarts with a changed serve.yaml: the schedule's last
	 * handled slot stays, the rest follows the new file. */
	CHECK_EQ_INT(store_open(path, &st, err, sizeof(err)), HERD_OK);
	if (st == NULL)
		return check_done();
	CHECK_EQ_INT(store_schedule_put(st, "nightly", "30 2 * * *", "Europe/Berlin", "/q.yaml", 3000, 9),
	             HERD_OK);
	CHECK_EQ_INT(store_schedule_get(st, "nightly", &last, &next), HERD_OK);
	CHECK_EQ_INT(last, 1000);
	CHECK_EQ_INT(next, 3000);
	CHECK_EQ_INT(store_each_schedule(st, on_schedule, &s), HERD_OK);
	CHECK_EQ_STR(s.text, "nightly 30 2 * * * Europe/Berlin 1000 3000|");
	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(store_each_sched_run(st, "nightly", 0, on_run, &s), HERD_OK);
	CHECK_EQ_STR(s.text, "1000-1000 finished 20261203-020000-abcd passed -|"
	                     "500-900 missed - - 3 slots passed|");
	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(store_each_sched_run(st, NULL, 1, on_run, &s), HERD_OK);
	CHECK_EQ_STR(s.text, "2000-2000 skipped - - would not fit: needs 25m, the window ends in 10m|");
	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(store_each_delivery(st, on_delivery, &s), HERD_OK);
	CHECK_EQ_STR(s.text, "ops finished 1 500 -|ops finished 2 0 Connection refused|"
	                     "ops finished 3 204 -|");
	store_close(st);
	tmpdb_unlink(path);
	rmdir(dir);
	return check_done();
}
