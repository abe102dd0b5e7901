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
		item_free(it);
		pthread_mutex_lock(&ob->mu);
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

void serve_outbox_stop(serve_outbox *ob, int64_t wait_ms)
{
	if (ob == NULL)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += wait_ms / 1000;
	ts.tv_nsec += (wait_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&ob->mu);
	while ((ob->head != NULL || ob->busy) &&
	       pthread_cond_timedwait(&ob->cv, &ob->mu, &ts) != ETIMEDOUT)
		;
	int left = ob->head != NULL || ob->busy;
	ob->stopping = 1;
	/* What was not started is given up: a stop must not wait on a receiver. */
	item *it = ob->head;
	ob->head = ob->tail = NULL;
	pthread_cond_broadcast(&ob->cv);
	pthread_mutex_unlock(&ob->mu);
	while (it != NULL) {
		item *next = it->next;
		fprintf(stderr, "herd serve: webhook %s (%s of %s) not sent: stopping\n", it->t.name,
		        it->e.event, it->e.schedule);
		item_free(it);
		it = next;
	}
	if (left) {
		/* A delivery is under way in its retries: the process ends without
		 * it (the thread is left to the exit). */
		pthread_detach(ob->th);
		fprintf(stderr, "herd serve: a webhook delivery was still being retried at the stop\n");
		return;
	}
	pthread_join(ob->th, NULL);
	store_close(ob->st);
	pthread_mutex_destroy(&ob->mu);
	pthread_cond_destroy(&ob->cv);
	free(ob);
}
