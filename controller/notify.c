/* Signed webhooks with retries; see notify.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/auth.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/hex.h"
#include "controller/notify.h"
#include "controller/store_serve.h"

/* At most this much of a receiver's answer is read (and thrown away). */
#define NOTIFY_MAX_ANSWER ((size_t)64 << 10)

static void iso_utc(int64_t s, char *buf, size_t len)
{
	time_t t = (time_t)s;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A string, or null for NULL; jansson refuses bad UTF-8 (then null too). */
static json_t *str_or_null(const char *s)
{
	json_t *v = s != NULL ? json_string(s) : NULL;
	return v != NULL ? v : json_null();
}

int notify_body(const notify_event *e, char **out)
{
	char slot[32], at[32];
	json_t *o, *cmp = NULL;
	int rv = HERD_ENOMEM;

	if (e == NULL || e->event == NULL || e->schedule == NULL ||
	    (strcmp(e->event, "skipped") != 0 && strcmp(e->event, "started") != 0 &&
	     strcmp(e->event, "aborted") != 0 && strcmp(e->event, "finished") != 0))
		return HERD_EINVAL;
	if (e->comparison != NULL) {
		cmp = json_loads(e->comparison, JSON_REJECT_DUPLICATES, NULL);
		if (cmp == NULL || !json_is_object(cmp)) {
			json_decref(cmp);
			return HERD_EINVAL;
		}
	}
	iso_utc(e->slot, slot, sizeof(slot));
	iso_utc(e->at_ms / 1000, at, sizeof(at));
	if ((o = json_object()) == NULL) {
		json_decref(cmp);
		return HERD_ENOMEM;
	}
	if (json_object_set_new(o, "event", str_or_null(e->event)) != 0 ||
	    json_object_set_new(o, "schedule", str_or_null(e->schedule)) != 0 ||
	    json_object_set_new(o, "slot", e->slot > 0 ? json_string(slot) : json_null()) != 0 ||
	    json_object_set_new(o, "run_id", str_or_null(e->run_id)) != 0 ||
	    json_object_set_new(o, "verdict", str_or_null(e->verdict)) != 0 ||
	    json_object_set_new(o, "reason", str_or_null(e->reason)) != 0 ||
	    json_object_set_new(o, "comparison", cmp != NULL ? cmp : json_null()) != 0 ||
	    json_object_set_new(o, "report", str_or_null(e->report)) != 0 ||
	    json_object_set_new(o, "at", json_string(at)) != 0)
		goto done;
	cmp = NULL; /* the object owns it now */
	if ((*out = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT)) != NULL)
		rv = HERD_OK;
done:
	json_decref(o);
	return rv;
}

int notify_sign(const auth_token *secret, const char *body, size_t len, char out[NOTIFY_SIG_LEN])
{
	uint8_t mac[32];
	int rv;
	if (secret == NULL || secret->len == 0 || body == NULL)
		return HERD_EINVAL;
	if ((rv = auth_hmac_sha256(secret->bytes, secret->len, (const uint8_t *)body, len, mac)) != 0)
		return rv;
	memcpy(out, "sha256=", 7);
	hex_encode(mac, sizeof(mac), out + 7);
	out[7 + 64] = '\0';
	return HERD_OK;
}

int64_t notify_backoff_ms(const notify_target *t, int attempt)
{
	int64_t base = t->backoff_ms > 0 ? t->backoff_ms : NOTIFY_BACKOFF_MS;
	int64_t cap = t->backoff_max_ms > 0 ? t->backoff_max_ms : NOTIFY_BACKOFF_MAX_MS;
	int64_t d = base;
	if (attempt < 2)
		return 0;
	for (int i = 2; i < attempt && d < cap; i++)
		d *= 2;
	return d < cap ? d : cap;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	size_t *seen = arg;
	(void)p;
	*seen += size * n;
	return *seen > NOTIFY_MAX_ANSWER ? 0 : size * n;
}

/* One POST. Returns the HTTP status (0: no answer, with why). */
static long post_once(const notify_target *t, const char *body, const char *sig,
                      const char *event, int attempt, char *why, size_t whylen)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL, *nh;
	char line[128], errbuf[CURL_ERROR_SIZE] = "";
	size_t seen = 0;
	long status = 0;

	if (c == NULL) {
		snprintf(why, whylen, "out of memory");
		return 0;
	}
	const char *lines[4] = {"Content-Type: application/json", NULL, NULL, NULL};
	char sigline[NOTIFY_SIG_LEN + 24], evline[96];
	snprintf(sigline, sizeof(sigline), "X-Herd-Signature: %s", sig);
	snprintf(evline, sizeof(evline), "X-Herd-Event: %.60s", event);
	snprintf(line, sizeof(line), "X-Herd-Attempt: %d", attempt);
	lines[1] = sigline;
	lines[2] = evline;
	lines[3] = line;
	for (int i = 0; i < 4; i++) {
		if ((nh = curl_slist_append(h, lines[i])) == NULL) {
			snprintf(why, whylen, "out of memory");
			goto done;
		}
		h = nh;
	}
	curl_easy_setopt(c, CURLOPT_URL, t->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(t->timeout_ms > 0 ? t->timeout_ms : 10000));
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "herd/" HERD_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &seen);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	/* An answer too long to read still has its status. */
	if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && status > 0)) {
		snprintf(why, whylen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
		status = 0;
	}
done:
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}

static int retryable(long status)
{
	return status == 0 || status == 408 || status == 429 || status >= 500;
}

int notify_send(const notify_target *t, const notify_event *e, store *st, int *attempts,
                char *why, size_t whylen)
{
	char sig[NOTIFY_SIG_LEN], err[256];
	char *body = NULL;
	int rv, store_rv = HERD_OK, n = 0;
	long status = 0;

	if (attempts != NULL)
		*attempts = 0;
	if (t == NULL || t->url == NULL || t->name == NULL)
		return HERD_EINVAL;
	if ((rv = notify_body(e, &body)) != 0 ||
	    (rv = notify_sign(t->secret, body, strlen(body), sig)) != 0) {
		snprintf(why, whylen, "cannot build the webhook: %s", herd_strerror(rv));
		free(body);
		return rv;
	}
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		snprintf(why, whylen, "libcurl: %s", curl_easy_strerror(curl_init_rc));
		free(body);
		return HERD_EINTERNAL;
	}
	for (n = 1; n <= 1 + (t->retries > 0 ? t->retries : 0); n++) {
		if (n > 1)
			clock_sleep_ms(notify_backoff_ms(t, n));
		err[0] = '\0';
		status = post_once(t, body, sig, e->event, n, err, sizeof(err));
		if (status > 0 && (status < 200 || status > 299))
			snprintf(err, sizeof(err), "HTTP %ld", status);
		if (st != NULL) {
			store_delivery d = {t->name, e->event, e->schedule, e->run_id, n, (int)status,
			                    err[0] ? err : NULL, clock_real_ns() / 1000000};
			int srv = store_delivery_add(st, &d);
			if (srv != HERD_OK && store_rv == HERD_OK)
				store_rv = srv;
		}
		if ((status >= 200 && status <= 299) || !retryable(status))
			break;
	}
	if (n > 1 + (t->retries > 0 ? t->retries : 0))
		n--;
	if (attempts != NULL)
		*attempts = n;
	free(body);
	if (status >= 200 && status <= 299)
		return store_rv;
	snprintf(why, whylen, "%s: %s after %d attempt%s", t->url, err, n, n == 1 ? "" : "s");
	return HERD_ENET;
}
