/*
 * herd serve's webhook queue; see serve_daemon.h. notify_send blocks through
 * its retries (seconds to minutes), so deliveries happen here, in order,
 * never in the loop that starts and stops runs.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/err.h"
#include "controller/notify.h"
#include "controller/serve_daemon.h"
#include "controller/store.h"
#include "controller/store_serve.h"

/* How often a stop waiting for the queue looks for a second signal. */
#define OUTBOX_SLICE_MS 50

typedef struct item {
	struct item *next;
	notify_target t;
	notify_event e;
	char *strs[9]; /* the copies the two point into */
	/* The secret's copy: a delivery still retrying at the stop outlives
	 * the daemon's secrets (its thread is left to the exit). */
	auth_token secret;
} item;

struct serve_outbox {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	item *head, *tail;
	item *cur; /* the delivery under way (busy), for the record of a stop */
	int stopping, busy;
	store *st;
};

static void item_free(item *it)
{
	if (it == NULL)
		return;
	for (size_t i = 0; i < sizeof(it->strs) / sizeof(it->strs[0]); i++)
		free(it->strs[i]);
	auth_token_wipe(&it->secret);
	free(it);
}

/* Copies s into it's k-th string and returns the copy (NULL stays NULL). */
static const char *keep(item *it, int k, const char *s, int *oom)
{
	if (s == NULL)
		return NULL;
	if ((it->strs[k] = strdup(s)) == NULL)
		*oom = 1;
	return it->strs[k];
}

static void *worker(void *arg)
{
	serve_outbox *ob = arg;
	pthread_mutex_lock(&ob->mu);
	for (;;) {
		while (ob->head == NULL && !ob->stopping)
			pthread_cond_wait(&ob->cv, &ob->mu);
		if (ob->head == NULL)
			break;
		item *it = ob->head;
		ob->head = it->next;
		if (ob->head == NULL)
			ob->tail = NULL;
		ob->busy = 1;
		ob->cur = it;
		pthread_mutex_unlock(&ob->mu);
		char why[300];
		int attempts = 0;
		int rv = notify_send(&it->t, &it->e, ob->st, &attempts, why, sizeof(why));
		if (rv != HERD_OK && rv != HERD_ESTORE)
			fprintf(stderr, "herd serve: webhook %s (%s of %s): not delivered after %d attempt%s: %s\n",
			        it->t.name, it->e.event, it->e.schedule, attempts, attempts == 1 ? "" : "s", why);
		else if (rv == HERD_ESTORE)
			fprintf(stderr, "herd serve: webhook %s: an attempt could not be recorded in the store\n",
			        it->t.name);
		pthread_mutex_lock(&ob->mu);
		ob->cur = NULL;
		item_free(it);
		ob->busy = 0;
		pthread_cond_broadcast(&ob->cv);
	}
	pthread_mutex_unlock(&ob->mu);
	return NULL;
}

int serve_outbox_start(const char *db, serve_outbox **out, char *err, size_t errlen)
{
	serve_outbox *ob = calloc(1, sizeof(*ob));
	if (ob == NULL) {
		snprintf(err, errlen, "out of memory");
		return HERD_ENOMEM;
	}
	pthread_mutex_init(&ob->mu, NULL);
	pthread_cond_init(&ob->cv, NULL);
	int rv = store_open(db, &ob->st, err, errlen);
	if (rv != HERD_OK)
		goto fail;
	if (pthread_create(&ob->th, NULL, worker, ob) != 0) {
		snprintf(err, errlen, "cannot start the webhook thread: %s", strerror(errno));
		rv = HERD_EINTERNAL;
		goto fail;
	}
	*out = ob;
	return HERD_OK;
fail:
	store_close(ob->st);
	pthread_mutex_destroy(&ob->mu);
	pthread_cond_destroy(&ob->cv);
	free(ob);
	return rv;
}

void serve_outbox_post(serve_outbox *ob, const notify_target *t, const notify_event *e)
{
	int oom = 0;
	item *it = calloc(1, sizeof(*it));
	if (ob == NULL || it == NULL) {
		free(it);
		return;
	}
	it->t = *t;
	it->e = *e;
	it->t.name = keep(it, 0, t->name, &oom);
	it->t.url = keep(it, 1, t->url, &oom);
	if (t->secret != NULL) {
		it->secret = *t->secret;
		it->t.secret = &it->secret;
	}
	it->e.event = keep(it, 2, e->event, &oom);
	it->e.schedule = keep(it, 3, e->schedule, &oom);
	it->e.run_id = keep(it, 4, e->run_id, &oom);
	it->e.verdict = keep(it, 5, e->verdict, &oom);
	it->e.reason = keep(it, 6, e->reason, &oom);
	it->e.comparison = keep(it, 7, e->comparison, &oom);
	it->e.report = keep(it, 8, e->report, &oom);
	if (oom) {
		fprintf(stderr, "herd serve: out of memory queuing webhook %s\n", t->name);
		item_free(it);
		return;
	}
	pthread_mutex_lock(&ob->mu);
	if (ob->tail != NULL)
		ob->tail->next = it;
	else
		ob->head = it;
	ob->tail = it;
	pthread_cond_broadcast(&ob->cv);
	pthread_mutex_unlock(&ob->mu);
}

/* Counts the recorded attempts of it's delivery. */
typedef struct tries {
	const item *it;
	int n;
} tries;

static int same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int count_try(void *arg, const store_delivery *d)
{
	tries *t = arg;
	const item *it = t->it;
	if (same(d->notification, it->t.name) && same(d->event, it->e.event) && same(d->schedule, it->e.schedule) &&
	    same(d->run_id, it->e.run_id) && d->attempt > t->n)
		t->n = d->attempt;
	return 0;
}

/* Records in st that it's delivery was not made, and why: as the attempt
 * after the last one recorded (1 when none was made). */
static void record_not_delivered(store *st, const item *it, const char *why)
{
	tries t = { it, 0 };
	if (st == NULL)
		return;
	store_each_delivery(st, count_try, &t);
	store_delivery d = { it->t.name, it->e.event, it->e.schedule, it->e.run_id, t.n + 1, 0, why,
		             clock_real_ns() / 1000000 };
	if (store_delivery_add(st, &d) != HERD_OK)
		fprintf(stderr, "herd serve: webhook %s: its end could not be recorded: %s\n", it->t.name,
		        store_errmsg(st));
}

void serve_outbox_stop(serve_outbox *ob, int64_t wait_ms, int (*hurry)(void *arg), void *arg, store *rec)
{
	if (ob == NULL)
		return;
	int64_t deadline = clock_mono_ns() + wait_ms * 1000000;
	int hurried = 0;
	pthread_mutex_lock(&ob->mu);
	/* In slices, so that a second signal ends the wait at once. */
	while (ob->head != NULL || ob->busy) {
		int64_t left = deadline - clock_mono_ns();
		if (left <= 0)
			break;
		if (hurry != NULL && hurry(arg)) {
			hurried = 1;
			break;
		}
		if (left > (int64_t)OUTBOX_SLICE_MS * 1000000)
			left = (int64_t)OUTBOX_SLICE_MS * 1000000;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += left / 1000000000;
		ts.tv_nsec += left % 1000000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&ob->cv, &ob->mu, &ts);
	}
	const char *why = hurried ? "not delivered: herd serve was stopped by a second signal"
	                          : "not delivered: herd serve was stopped (the wait for the webhooks ended)";
	int left = ob->head != NULL || ob->busy;
	ob->stopping = 1;
	/* What was not started is given up: a stop must not wait on a receiver.
	 * The one under way is recorded too: its retries end with the process. */
	if (ob->cur != NULL) {
		fprintf(stderr, "herd serve: webhook %s (%s of %s) %s during its attempts\n", ob->cur->t.name,
		        ob->cur->e.event, ob->cur->e.schedule, why);
		record_not_delivered(rec, ob->cur, why);
	}
	item *it = ob->head;
	ob->head = ob->tail = NULL;
	pthread_cond_broadcast(&ob->cv);
	pthread_mutex_unlock(&ob->mu);
	while (it != NULL) {
		item *next = it->next;
		fprintf(stderr, "herd serve: webhook %s (%s of %s) %s\n", it->t.name, it->e.event, it->e.schedule, why);
		record_not_delivered(rec, it, why);
		item_free(it);
		it = next;
	}
	if (left) {
		/* A delivery is under way in its retries: the process ends without
		 * it (the thread is left to the exit). */
		pthread_detach(ob->th);
		return;
	}
	pthread_join(ob->th, NULL);
	store_close(ob->st);
	pthread_mutex_destroy(&ob->mu);
	pthread_cond_destroy(&ob->cv);
	free(ob);
}
