/*
 * HTTP driver over libcurl's multi socket API. Each worker has one multi
 * handle whose sockets sit in the worker's epoll loop; each VU keeps one easy
 * handle for its whole life, so connections stay alive between requests.
 * Options are set again only when a VU moves to a different step, which keeps
 * the per-request path to one curl_multi_add_handle and a few getinfo calls.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "agent/driver.h"
#include "agent/worker.h"
#include "common/clock.h"
#include "common/err.h"

#define BODY_LIMIT (4u << 20) /* bodies kept for checks are cut here */

typedef struct http_state {
	worker *w;
	CURLM *multi;
	int64_t timer_ns;
	size_t nsteps;              /* steps of the plan, numbered by plan_step_offsets */
	size_t *first;              /* per scenario: number of its first step */
	struct curl_slist **headers; /* per step */
} http_state;

typedef struct http_conn {
	CURL *easy;
	vu *v;
	const plan_step *configured; /* step whose options the handle holds */
	int keep_body;
	char *body;
	size_t body_len, body_cap;
	int in_flight;
} http_conn;

static size_t on_write(char *ptr, size_t size, size_t n, void *arg)
{
	http_conn *c = arg;
	size_t len = size * n;
	if (!c->keep_body || c->body_len >= BODY_LIMIT)
		return len;
	if (c->body_len + len + 1 > c->body_cap) {
		size_t cap = c->body_cap ? c->body_cap : 4096;
		while (cap < c->body_len + len + 1)
			cap *= 2;
		char *nb = realloc(c->body, cap);
		if (nb == NULL)
			return len; /* keep measuring; the check will see a short body */
		c->body = nb;
		c->body_cap = cap;
	}
	memcpy(c->body + c->body_len, ptr, len);
	c->body_len += len;
	c->body[c->body_len] = '\0';
	return len;
}

static void on_fd(void *arg, int fd, uint32_t events);

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	http_state *st = userp;
	(void)easy;
	(void)socketp;
	if (what == CURL_POLL_REMOVE) {
		worker_unwatch(st->w, s);
		return 0;
	}
	uint32_t ev = 0;
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	return worker_watch(st->w, s, ev, on_fd, st) == HERD_OK ? 0 : -1;
}

static int on_curl_timer(CURLM *m, long ms, void *userp)
{
	http_state *st = userp;
	(void)m;
	st->timer_ns = ms < 0 ? INT64_MAX : clock_mono_ns() + (int64_t)ms * 1000000;
	return 0;
}

static int classify(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT: return ERRK_CONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT: return ERRK_TIMEOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY: return ERRK_DNS;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE: return ERRK_RESET;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR: return ERRK_TLS;
	default: return ERRK_OTHER;
	}
}

static uint64_t span(curl_off_t a, curl_off_t b)
{
	return b > a ? (uint64_t)(b - a) : 0;
}

/* Fills r from a finished transfer. */
static void fill_result(http_conn *c, CURLcode rc, step_result *r)
{
	curl_off_t dns = 0, conn = 0, tls = 0, pre = 0, first = 0, total = 0, down = 0, up = 0;
	long status = 0, hdr = 0, req = 0;

	curl_easy_getinfo(c->easy, CURLINFO_NAMELOOKUP_TIME_T, &dns);
	curl_easy_getinfo(c->easy, CURLINFO_CONNECT_TIME_T, &conn);
	curl_easy_getinfo(c->easy, CURLINFO_APPCONNECT_TIME_T, &tls);
	curl_easy_getinfo(c->easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
	curl_easy_getinfo(c->easy, CURLINFO_STARTTRANSFER_TIME_T, &first);
	curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME_T, &total);
	curl_easy_getinfo(c->easy, CURLINFO_SIZE_DOWNLOAD_T, &down);
	curl_easy_getinfo(c->easy, CURLINFO_SIZE_UPLOAD_T, &up);
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c->easy, CURLINFO_HEADER_SIZE, &hdr);
	curl_easy_getinfo(c->easy, CURLINFO_REQUEST_SIZE, &req);

	memset(r, 0, sizeof(*r));
	r->status = (int)status;
	r->blocked_us = (uint64_t)dns;
	r->connecting_us = conn > 0 ? span(dns, conn) : 0;
	r->tls_us = tls > 0 ? span(conn, tls) : 0;
	curl_off_t ready = tls > 0 ? tls : conn;
	r->sending_us = span(ready, pre);
	if (first == 0)
		first = total;
	r->waiting_us = span(pre, first);
	r->receiving_us = span(first, total);
	r->duration_us = r->sending_us + r->waiting_us + r->receiving_us;
	r->bytes_in = (uint64_t)down + (uint64_t)(hdr > 0 ? hdr : 0);
	/* REQUEST_SIZE counts a small body that libcurl sent in one buffer with
	 * the headers (under 64 KiB, and herd sends no Expect: 100-continue), but
	 * not a larger one sent after them; SIZE_UPLOAD counts the body alone. */
	r->bytes_out = (uint64_t)(req > 0 ? req : 0);
	if (up > 0 && (uint64_t)up > r->bytes_out)
		r->bytes_out += (uint64_t)up;
	if (rc != CURLE_OK)
		r->err = classify(rc);
	else if (status >= 500)
		r->err = ERRK_HTTP5XX;
	else if (status >= 400)
		r->err = ERRK_HTTP4XX;
	else
		r->err = -1;
	if (c->keep_body) {
		r->body = c->body ? c->body : "";
		r->body_len = c->body_len;
	}
}

static void drain(http_state *st)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(st->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		http_conn *c = NULL;
		CURL *easy = msg->easy_handle;
		CURLcode rc = msg->data.result;
		step_result r;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&c);
		curl_multi_remove_handle(st->multi, easy);
		c->in_flight = 0;
		fill_result(c, rc, &r);
		worker_step_done(st->w, c->v, &r);
	}
}

static void on_fd(void *arg, int fd, uint32_t events)
{
	http_state *st = arg;
	int running, flags = 0;
	if (events & (EPOLLIN | EPOLLHUP))
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & EPOLLERR)
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(st->multi, fd, flags, &running);
	drain(st);
}

static int64_t http_next_timer(void *state)
{
	return ((http_state *)state)->timer_ns;
}

static void http_on_timer(void *state)
{
	http_state *st = state;
	int running;
	st->timer_ns = INT64_MAX;
	curl_multi_socket_action(st->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	drain(st);
}

static struct curl_slist *build_headers(const plan_step *s)
{
	struct curl_slist *l = NULL, *t;
	char line[8192];
	for (size_t i = 0; i < s->nheaders; i++) {
		snprintf(line, sizeof(line), "%s: %s", s->headers[i].name, s->headers[i].value);
		if ((t = curl_slist_append(l, line)) == NULL)
			goto fail;
		l = t;
	}
	if (s->body_is_json) {
		if ((t = curl_slist_append(l, "Content-Type: application/json")) == NULL)
			goto fail;
		l = t;
	}
	/* libcurl would add "Expect: 100-continue" for large bodies; a load test wants one round trip. */
	if ((t = curl_slist_append(l, "Expect:")) == NULL)
		goto fail;
	return t;
fail:
	curl_slist_free_all(l);
	return NULL;
}

static void http_fini(void *state);

static int http_init(worker *w, void **state)
{
	const plan *p = worker_plan(w);
	http_state *st = calloc(1, sizeof(*st));
	size_t k = 0;

	if (st == NULL)
		return HERD_ENOMEM;
	st->w = w;
	st->timer_ns = INT64_MAX;
	if ((st->first = calloc(p->nscenarios + 1, sizeof(*st->first))) == NULL)
		goto fail;
	st->nsteps = plan_step_offsets(p, st->first);
	st->headers = calloc(st->nsteps + 1, sizeof(*st->headers));
	if ((st->multi = curl_multi_init()) == NULL || st->headers == NULL)
		goto fail;
	for (size_t i = 0; i < p->nscenarios; i++) {
		for (size_t j = 0; j < p->scenarios[i].nsteps; j++, k++) {
			const plan_step *s = &p->scenarios[i].steps[j];
			if (s->kind == STEP_HTTP && (st->headers[k] = build_headers(s)) == NULL)
				goto fail;
		}
	}
	curl_multi_setopt(st->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(st->multi, CURLMOPT_SOCKETDATA, st);
	curl_multi_setopt(st->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(st->multi, CURLMOPT_TIMERDATA, st);
	*state = st;
	return HERD_OK;
fail:
	http_fini(st);
	return HERD_ENOMEM;
}

static void http_fini(void *state)
{
	http_state *st = state;
	if (st == NULL)
		return;
	for (size_t k = 0; k < st->nsteps; k++)
		curl_slist_free_all(st->headers[k]);
	free(st->headers);
	free(st->first);
	if (st->multi != NULL)
		curl_multi_cleanup(st->multi);
	free(st);
}

/* Sets every option of step s on c's handle. Runs when a VU changes step. */
static void configure(http_state *st, http_conn *c, const plan_step *s)
{
	const vu *v = c->v;
	CURL *e = c->easy;
	curl_easy_reset(e); /* keeps the live connection and caches */
	curl_easy_setopt(e, CURLOPT_PRIVATE, c);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "herd/" HERD_VERSION);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(e, CURLOPT_URL, s->url);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(s->timeout_ms > 0 ? s->timeout_ms : 60000));
	/* The plan's `tls` options hold for https:// as for wss://. */
	const plan_tls *tls = &worker_plan(st->w)->tls;
	if (tls->insecure_skip_verify) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (tls->ca != NULL) {
		curl_easy_setopt(e, CURLOPT_CAINFO, tls->ca);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, st->headers[st->first[v->scenario] + v->step]);
	switch (s->method) {
	case HM_GET: curl_easy_setopt(e, CURLOPT_HTTPGET, 1L); break;
	case HM_HEAD: curl_easy_setopt(e, CURLOPT_NOBODY, 1L); break;
	case HM_POST: break;
	default: curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, http_method_name(s->method)); break;
	}
	if (s->method != HM_GET && s->method != HM_HEAD) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)(s->body ? s->body_len : 0));
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->body ? s->body : "");
	}
	c->keep_body = s->check_body_contains != NULL;
	c->configured = s;
}

static int http_start(void *state, vu *v, const plan_step *s)
{
	http_state *st = state;
	http_conn *c = v->conn;
	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return HERD_ENOMEM;
		if ((c->easy = curl_easy_init()) == NULL) {
			free(c);
			return HERD_ENOMEM;
		}
		c->v = v;
		v->conn = c;
	}
	if (c->configured != s)
		configure(st, c, s);
	c->body_len = 0;
	if (curl_multi_add_handle(st->multi, c->easy) != CURLM_OK)
		return HERD_EINTERNAL;
	c->in_flight = 1;
	return HERD_OK;
}

static void http_cancel(void *state, vu *v)
{
	http_state *st = state;
	http_conn *c = v->conn;
	if (c != NULL && c->in_flight) {
		curl_multi_remove_handle(st->multi, c->easy);
		c->in_flight = 0;
	}
}

static void http_vu_release(void *state, vu *v)
{
	http_conn *c = v->conn;
	http_cancel(state, v);
	if (c == NULL)
		return;
	curl_easy_cleanup(c->easy);
	free(c->body);
	free(c);
	v->conn = NULL;
}

const driver_ops http_driver = {
	.name = "http",
	.init = http_init,
	.fini = http_fini,
	.start = http_start,
	.cancel = http_cancel,
	.vu_release = http_vu_release,
	.next_timer = http_next_timer,
	.on_timer = http_on_timer,
};
