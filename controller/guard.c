/*
 * The health guard; see guard.h.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "controller/guard.h"

struct guard {
	const plan_health *h;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int quit;
	int fails; /* failures in a row */
	int tripped;
	char why[256];
};

/* The body is not looked at. */
static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

int guard_check_once(const plan_health *h, char *why, size_t len)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	int ok = 0;
	CURL *c = curl_easy_init();
	if (c == NULL) {
		snprintf(why, len, "cannot make a libcurl handle");
		return 0;
	}
	curl_easy_setopt(c, CURLOPT_URL, h->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)h->timeout_ms);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "herd-guard");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	CURLcode rc = curl_easy_perform(c);
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(why, len, "no answer within %lld ms", (long long)h->timeout_ms);
	} else if (rc != CURLE_OK) {
		snprintf(why, len, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		ok = status >= 200 && status < 400;
		snprintf(why, len, "HTTP %ld", status);
	}
	curl_easy_cleanup(c);
	return ok;
}

static void *guard_main(void *arg)
{
	guard *g = arg;
	pthread_mutex_lock(&g->mu);
	for (;;) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += g->h->every_ms / 1000;
		until.tv_nsec += (g->h->every_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		while (!g->quit && pthread_cond_timedwait(&g->cv, &g->mu, &until) == 0)
			;
		if (g->quit)
			break;
		pthread_mutex_unlock(&g->mu);
		char why[sizeof(g->why)];
		int ok = guard_check_once(g->h, why, sizeof(why));
		pthread_mutex_lock(&g->mu);
		g->fails = ok ? 0 : g->fails + 1;
		if (!ok)
			snprintf(g->why, sizeof(g->why), "%s", why);
		if (g->fails >= g->h->failures) {
			g->tripped = 1;
			break; /* the run is aborted: nothing more to watch */
		}
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

int guard_start(const plan_health *h, guard **out)
{
	guard *g = calloc(1, sizeof(*g));
	pthread_condattr_t ca;
	if (g == NULL)
		return HERD_ENOMEM;
	g->h = h;
	pthread_mutex_init(&g->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&g->thread, NULL, guard_main, g) != 0) {
		pthread_cond_destroy(&g->cv);
		pthread_mutex_destroy(&g->mu);
		free(g);
		return HERD_EINTERNAL;
	}
	*out = g;
	return HERD_OK;
}

int guard_tripped(guard *g, char *why, size_t len, int *fails)
{
	pthread_mutex_lock(&g->mu);
	int t = g->tripped;
	snprintf(why, len, "%s", g->why);
	*fails = g->fails;
	pthread_mutex_unlock(&g->mu);
	return t;
}

void guard_stop(guard *g)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&g->mu);
	g->quit = 1;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	pthread_join(g->thread, NULL);
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g);
}
