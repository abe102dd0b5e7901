/*
 * HTTP driver over libcurl's multi socket API. Each worker has one multi
 * handle whose sockets sit in the worker's epoll loop; each VU keeps one easy
 * handle for its whole life, so connections stay alive between requests.
 * Options are set again only when a VU moves to a different step, which keeps
 * the per-request path to one curl_multi_add_handle and a few getinfo calls.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "agent/allow.h"
#include "agent/driver.h"
#include "agent/tcp.h"
#include "agent/worker.h"
#include "common/clock.h"
#include "common/dheap.h"
#include "common/err.h"
#include "common/sbuf.h"
#include "common/tmpl.h"

#define BODY_LIMIT (4u << 20) /* bodies kept for checks are cut here */
#define DEFAULT_TIMEOUT_MS 60000 /* as k6 */

typedef struct http_state {
	worker *w;
	int cookies;                /* the plan keeps a cookie jar per VU */
	CURLM *multi;
	int64_t timer_ns;
	size_t nsteps;              /* steps of the plan, numbered by plan_step_offsets */
	size_t *first;              /* per scenario: number of its first step */
	struct curl_slist **headers; /* per step */
	dheap deadlines;            /* requests in flight, by their timeout */
} http_state;

typedef struct http_conn {
	CURL *easy;
	vu *v;
	const plan_step *configured; /* step whose options the handle holds */
	int keep_body;
	char *body;
	size_t body_len, body_cap;
	int keep_headers;
	sbuf hdrs;                   /* the last response's header block, when kept */
	sbuf url, req_body;          /* a templated step's rendered URL and body */
	struct curl_slist *req_headers; /* a templated step's rendered headers */
	int in_flight;
	int64_t timeout_ns;          /* the configured step's timeout */
	int64_t t_first;             /* first response header line arrived, 0 before */
	dheap_node dl;               /* its deadline, in the state's heap while in flight */
	const allow *allow;          /* the agent's --allow-target, NULL: any target */
	char refused[200];           /* why open_socket refused the last address this transfer tried, "" if not */
	int jar_started;             /* a transfer ran with the cookie engine on */
} http_conn;

/*
 * Notes when the first response byte arrived (libcurl's STARTTRANSFER is
 * also set when it starts sending a body after the headers, so it is not
 * "the first byte received") and keeps the header block of the last response
 * (a redirect starts a new one) when the step needs it.
 */
static size_t on_header(char *ptr, size_t size, size_t n, void *arg)
{
	http_conn *c = arg;
	size_t len = size * n;
	if (c->t_first == 0)
		c->t_first = clock_mono_ns();
	if (!c->keep_headers)
		return len;
	if (len >= 5 && memcmp(ptr, "HTTP/", 5) == 0)
		c->hdrs.len = 0;
	if (c->hdrs.len < BODY_LIMIT)
		sbuf_add(&c->hdrs, ptr, len);
	return len;
}

/* The value of cookie name in the VU's jar (CURLINFO_COOKIELIST, Netscape
 * format: domain, flag, path, secure, expires, name, value). */
static int jar_cookie(void *ctx, const char *name, sbuf *out)
{
	http_conn *c = ctx;
	struct curl_slist *list = NULL;
	int found = -1;
	if (curl_easy_getinfo(c->easy, CURLINFO_COOKIELIST, &list) != CURLE_OK)
		return -1;
	for (struct curl_slist *l = list; l != NULL; l = l->next) {
		const char *f = l->data;
		for (int i = 0; i < 5 && f != NULL; i++) {
			f = strchr(f, '\t');
			if (f != NULL)
				f++;
		}
		const char *tab = f != NULL ? strchr(f, '\t') : NULL;
		if (tab == NULL || (size_t)(tab - f) != strlen(name) || memcmp(f, name, (size_t)(tab - f)) != 0)
			continue;
		out->len = 0;
		sbuf_str(out, tab + 1); /* the last match wins: the most specific path comes last */
		found = 0;
	}
	curl_slist_free_all(list);
	return found;
}

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
	case CURLE_INTERFACE_FAILED: return ERRK_SRCADDR;
	case CURLE_OPERATION_TIMEDOUT: return ERRK_TIMEOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY: return ERRK_DNS;
	case CURLE_UNSUPPORTED_PROTOCOL: return ERRK_NOT_ALLOWED; /* a redirect to other than http(s) */
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

/* Whether a failed transfer had nothing local to connect from: its source
 * address could not be bound, or connect() found no ephemeral port left
 * (EADDRNOTAVAIL), which libcurl reports as any failed connect. */
static int local_failure(http_conn *c, CURLcode rc)
{
	long os_errno = 0;
	if (rc != CURLE_INTERFACE_FAILED && rc != CURLE_COULDNT_CONNECT)
		return 0;
	curl_easy_getinfo(c->easy, CURLINFO_OS_ERRNO, &os_errno);
	if (rc == CURLE_COULDNT_CONNECT && os_errno != EADDRNOTAVAIL)
		return 0;
	tcp_log_local_failure(c->v->src, rc == CURLE_INTERFACE_FAILED, (int)os_errno);
	return 1;
}

static uint64_t span(curl_off_t a, curl_off_t b)
{
	return b > a ? (uint64_t)(b - a) : 0;
}

static curl_off_t cap(curl_off_t v, curl_off_t max)
{
	return v < max ? v : max;
}

/*
 * Fills r from a transfer that ended at end_ns (CLOCK_MONOTONIC): finished
 * by libcurl with rc, or given up at its deadline (rc is then
 * CURLE_OPERATION_TIMEDOUT and end_ns the deadline).
 *
 * The request's whole time T runs from when the worker handed it over
 * (v->sent_ns) to end_ns, and a timed-out request's is its timeout: herd
 * gives it up then, and how late the loop noticed is not the server's time.
 * libcurl's marks (name lookup, connect, TLS, pretransfer) are offsets from
 * its own start, a hair after the hand-over; each is capped at T, so no
 * phase is longer than the request. The first response byte is herd's own
 * mark (on_header). A phase the request never reached is 0: a connect that
 * timed out has connecting = T - lookup and no waiting. http_req_duration is
 * sending + waiting + receiving once the request went out, and T (the whole
 * time) when it never did, so that failed connects weigh in the latencies as
 * long as they lasted.
 */
static void fill_result(http_conn *c, CURLcode rc, int64_t end_ns, step_result *r)
{
	curl_off_t dns = 0, conn = 0, tls = 0, pre = 0, down = 0, up = 0;
	long status = 0, hdr = 0, req = 0;

	curl_easy_getinfo(c->easy, CURLINFO_NAMELOOKUP_TIME_T, &dns);
	curl_easy_getinfo(c->easy, CURLINFO_CONNECT_TIME_T, &conn);
	curl_easy_getinfo(c->easy, CURLINFO_APPCONNECT_TIME_T, &tls);
	curl_easy_getinfo(c->easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
	curl_easy_getinfo(c->easy, CURLINFO_SIZE_DOWNLOAD_T, &down);
	curl_easy_getinfo(c->easy, CURLINFO_SIZE_UPLOAD_T, &up);
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c->easy, CURLINFO_HEADER_SIZE, &hdr);
	curl_easy_getinfo(c->easy, CURLINFO_REQUEST_SIZE, &req);

	int64_t sent = c->v->sent_ns;
	if (rc == CURLE_OPERATION_TIMEDOUT && end_ns > sent + c->timeout_ns)
		end_ns = sent + c->timeout_ns;
	curl_off_t total = end_ns > sent ? (end_ns - sent) / 1000 : 0;
	/* The first byte, as an offset like libcurl's: 0 when none came. */
	curl_off_t first = c->t_first > sent && c->t_first < end_ns ? (c->t_first - sent) / 1000 : 0;
	dns = cap(dns, total);
	conn = cap(conn, total);
	tls = cap(tls, total);
	pre = cap(pre, total);

	memset(r, 0, sizeof(*r));
	r->status = (int)status;
	r->blocked_us = (uint64_t)dns;
	curl_off_t ready = tls > 0 ? tls : conn;
	if (conn > 0) {
		r->connecting_us = span(dns, conn);
		r->tls_us = tls > 0 ? span(conn, tls) : 0;
	} else if (rc != CURLE_OK && pre == 0) {
		r->connecting_us = span(dns, total); /* it was still connecting */
	}
	if (pre > 0) {
		r->sending_us = span(ready, pre);
		if (first > 0 && first < pre)
			first = pre;
		r->waiting_us = span(pre, first > 0 ? first : total);
		r->receiving_us = first > 0 ? span(first, total) : 0;
		r->duration_us = r->sending_us + r->waiting_us + r->receiving_us;
	} else {
		r->duration_us = (uint64_t)total;
	}
	r->bytes_in = (uint64_t)down + (uint64_t)(hdr > 0 ? hdr : 0);
	/* REQUEST_SIZE counts a small body that libcurl sent in one buffer with
	 * the headers (under 64 KiB, and herd sends no Expect: 100-continue), but
	 * not a larger one sent after them; SIZE_UPLOAD counts the body alone. */
	r->bytes_out = (uint64_t)(req > 0 ? req : 0);
	if (up > 0 && (uint64_t)up > r->bytes_out)
		r->bytes_out += (uint64_t)up;
	if (rc != CURLE_OK)
		r->err = local_failure(c, rc) ? ERRK_SRCADDR : classify(rc);
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
	if (c->keep_headers) {
		r->headers = c->hdrs.p != NULL ? c->hdrs.p : "";
		r->headers_len = c->hdrs.len;
	}
	r->cookie = jar_cookie;
	r->cookie_ctx = c;
}

/* Takes c's transfer out of the multi handle and reports it. */
static void finish(http_state *st, http_conn *c, CURLcode rc, int64_t end_ns)
{
	step_result r;
	curl_multi_remove_handle(st->multi, c->easy);
	dheap_remove(&st->deadlines, &c->dl);
	c->in_flight = 0;
	c->jar_started = 1;
	/* A transfer that libcurl finished after herd's deadline (the loop ran
	 * late, or libcurl's own timeout, a second later, was not reached yet)
	 * was given up at its timeout all the same. */
	if (rc == CURLE_OK && end_ns > c->v->sent_ns + c->timeout_ns) {
		rc = CURLE_OPERATION_TIMEDOUT;
		end_ns = c->v->sent_ns + c->timeout_ns;
	}
	fill_result(c, rc, end_ns, &r);
	if (rc != CURLE_OK && c->refused[0] != '\0') {
		/* Not a failed connect: the agent refused to open it. */
		r.err = ERRK_NOT_ALLOWED;
		allow_log_refusal(c->refused);
	}
	worker_step_done(st->w, c->v, &r);
}

static void drain(http_state *st)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(st->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		http_conn *c = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		finish(st, c, msg->data.result, clock_mono_ns());
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
	http_state *st = state;
	const dheap_node *top = dheap_top(&st->deadlines);
	return top != NULL && top->at < st->timer_ns ? top->at : st->timer_ns;
}

/*
 * libcurl's own timer, then the requests whose timeout ran out. The timeout
 * is herd's to keep, counted from the hand-over as the lean driver counts it
 * (libcurl's CURLOPT_TIMEOUT_MS starts a little later and stays as a
 * backstop): a request still in flight at its deadline is given up there,
 * whatever held libcurl back.
 */
static void http_on_timer(void *state)
{
	http_state *st = state;
	int running;
	int64_t now = clock_mono_ns();
	if (st->timer_ns <= now) {
		st->timer_ns = INT64_MAX;
		curl_multi_socket_action(st->multi, CURL_SOCKET_TIMEOUT, 0, &running);
		drain(st);
	}
	/* Requests started by the reports below get deadlines after now. */
	dheap_node *n;
	while ((n = dheap_top(&st->deadlines)) != NULL && n->at <= now) {
		http_conn *c = DHEAP_ENTRY(n, http_conn, dl);
		finish(st, c, CURLE_OPERATION_TIMEDOUT, n->at);
	}
}

/*
 * The request headers of step s: its own (rendered with env; those of a step
 * without templates are plain text), the Content-Type its json or form body
 * implies, and an empty Expect. NULL when out of memory.
 */
static struct curl_slist *build_headers(const plan_step *s, const tmpl_env *env)
{
	struct curl_slist *l = NULL, *t;
	sbuf line = {0};
	for (size_t i = 0; i < s->nheaders; i++) {
		line.len = 0;
		sbuf_str(&line, s->headers[i].name);
		sbuf_add(&line, ": ", 2);
		tmpl_render(&s->t_headers[i], env, &line);
		if (line.oom || (t = curl_slist_append(l, line.p)) == NULL)
			goto fail;
		l = t;
	}
	free(line.p);
	if (s->body_is_json || s->body_is_form) {
		const char *ct = s->body_is_json ? "Content-Type: application/json"
		                                 : "Content-Type: application/x-www-form-urlencoded";
		if ((t = curl_slist_append(l, ct)) == NULL)
			goto fail;
		l = t;
	}
	/* libcurl would add "Expect: 100-continue" for large bodies; a load test wants one round trip. */
	if ((t = curl_slist_append(l, "Expect:")) == NULL)
		goto fail;
	return t;
fail:
	free(line.p);
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
	st->cookies = p->cookies;
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
			/* A templated step's headers are built per request (render). */
			const tmpl_env none = {0};
			if (s->kind == STEP_HTTP && !s->dynamic && (st->headers[k] = build_headers(s, &none)) == NULL)
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
	dheap_fini(&st->deadlines);
	free(st);
}

/* The host of url as libcurl reads it (so that herd checks the very host
 * libcurl connects to), into host; "" when it has none. */
static void curl_url_host(const char *url, char *host, size_t len)
{
	CURLU *u = curl_url();
	char *h = NULL;
	host[0] = '\0';
	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK)
		snprintf(host, len, "%s", h);
	curl_free(h);
	curl_url_cleanup(u);
}

/*
 * libcurl's socket(): every connection a transfer opens comes here first,
 * with the address it is about to connect to. With --allow-target, that
 * address (or the URL's host name, for a name rule) must be in the list;
 * otherwise no socket is made and nothing is sent, not even a SYN.
 */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *address)
{
	http_conn *c = arg;
	char *url = NULL, host[256];
	(void)purpose;
	if (c->allow != NULL) {
		/* During a redirect the effective URL is already the next hop's. */
		curl_easy_getinfo(c->easy, CURLINFO_EFFECTIVE_URL, &url);
		curl_url_host(url != NULL ? url : "", host, sizeof(host));
		if (allow_check_addr(c->allow, host[0] ? host : NULL, &address->addr, c->refused,
		                     sizeof(c->refused)) != HERD_OK) {
			errno = EACCES;
			return CURL_SOCKET_BAD;
		}
		/* Only the last address tried counts: libcurl may go on to one
		 * that is allowed (localhost's 127.0.0.1 after its ::1). */
		c->refused[0] = '\0';
	}
	return socket(address->family, address->socktype, address->protocol);
}

/*
 * What a transfer may reach, set on every (re)configured handle. Schemes:
 * http and https only, for the URL and for redirects, with or without an
 * allowlist (a plan must never make the agent read file:// or write raw
 * bytes over gopher://). Hosts: with --allow-target, every connection is
 * checked in open_socket, which libcurl calls before each connect, each
 * redirect hop included. That is checked before anything leaves the host:
 * CURLOPT_PREREQFUNCTION (7.80) also sees each hop, but only once the TCP
 * connection and the TLS handshake to the refused host are done; following
 * redirects in herd instead would split libcurl's timings of one request.
 * A connection libcurl reuses was checked when it was opened, for the same
 * host and port.
 */
static void fence(http_conn *c)
{
	curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(c->easy, CURLOPT_OPENSOCKETDATA, c);
}

/* Sets every option of step s on c's handle. Runs when a VU changes step. */
static void configure(http_state *st, http_conn *c, const plan_step *s)
{
	const vu *v = c->v;
	CURL *e = c->easy;
	curl_easy_reset(e); /* keeps the live connection and caches */
	curl_easy_setopt(e, CURLOPT_PRIVATE, c);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	fence(c);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "herd/" HERD_VERSION);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, s->redirects > 0 ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)s->redirects);
	if (s->compression)
		curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip, deflate");
	/* The jar and the cookie engine, once started by a transfer, outlive
	 * curl_easy_reset. Each COOKIEFILE adds a file name to a list that the
	 * reset forgets without freeing (libcurl 7.88: two allocations, about
	 * 60 bytes per request of a multi-step flow), so it is set only until
	 * the first transfer has started the engine. */
	if (st->cookies && !c->jar_started)
		curl_easy_setopt(e, CURLOPT_COOKIEFILE, "");
	c->keep_headers = plan_step_needs_headers(s);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(e, CURLOPT_URL, s->url);
	if (v->src != NULL) {
		/* libcurl reuses only connections bound to the same address, so
		 * every connection of the VU comes from its own. */
		curl_easy_setopt(e, CURLOPT_INTERFACE, v->src->iface);
		curl_easy_setopt(e, CURLOPT_IPRESOLVE,
		                 v->src->u.sa.sa_family == AF_INET ? CURL_IPRESOLVE_V4 : CURL_IPRESOLVE_V6);
	}
	c->timeout_ns = (int64_t)(s->timeout_ms > 0 ? s->timeout_ms : DEFAULT_TIMEOUT_MS) * 1000000;
	/* A backstop only: http_on_timer gives the request up at its deadline. */
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(c->timeout_ns / 1000000 + 1000));
	/* The plan's `tls` options hold for https:// as for wss://. */
	const plan_tls *tls = &worker_plan(st->w)->tls;
	if (tls->insecure_skip_verify) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (tls->ca_pem != NULL) {
		/* The plan's CA file, as shipped with it: no file on this host. */
		struct curl_blob ca = { (void *)tls->ca_pem, tls->ca_len, CURL_BLOB_NOCOPY };
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca);
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
	c->keep_body = plan_step_needs_body(s);
	c->configured = s;
}

/* Checks a rendered URL (a captured Location, a data column) before libcurl
 * sees it: see allow_check_request. A refusal is logged once per run and
 * returned as HERD_EREFUSED, which the worker counts as target_not_allowed. */
static int check_rendered_url(http_state *st, http_conn *c)
{
	char why[256];
	int rv;
	const char *url = c->url.p != NULL ? c->url.p : "";
	if ((rv = allow_check_request(worker_allow(st->w), url, why, sizeof(why))) != HERD_OK)
		allow_log_refusal(why);
	return rv;
}

/* Renders a templated step's URL, headers and body for this request. */
static int render(http_state *st, http_conn *c, const plan_step *s)
{
	tmpl_env env;
	CURL *e = c->easy;
	worker_tmpl_env(st->w, c->v, &env);
	c->url.len = 0;
	tmpl_render(&s->t_url, &env, &c->url);
	if (s->url_late && (c->url.len == 0 || c->url.p[0] == '/')) {
		/* A relative value: the plan's target goes in front. */
		const char *target = worker_plan(st->w)->target;
		size_t tl = target != NULL ? strlen(target) : 0;
		if (tl > 0)
			sbuf_add(&c->url, target, tl); /* grows the buffer, then shift */
		if (!c->url.oom && tl > 0) {
			memmove(c->url.p + tl, c->url.p, c->url.len - tl);
			memcpy(c->url.p, target, tl);
		}
	}
	curl_slist_free_all(c->req_headers);
	if ((c->req_headers = build_headers(s, &env)) == NULL)
		return HERD_ENOMEM;
	/* libcurl sends a header line as given: a rendered value with CR or LF
	 * would split the request, so it fails as `other`, as on the lean driver. */
	for (const struct curl_slist *h = c->req_headers; h != NULL; h = h->next)
		if (strpbrk(h->data, "\r\n") != NULL)
			return HERD_EINVAL;
	if (c->url.oom)
		return HERD_ENOMEM;
	int rv;
	if ((rv = check_rendered_url(st, c)) != HERD_OK)
		return rv;
	curl_easy_setopt(e, CURLOPT_URL, c->url.p);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->req_headers);
	if (s->method != HM_GET && s->method != HM_HEAD && s->t_body.dynamic) {
		c->req_body.len = 0;
		tmpl_render(&s->t_body, &env, &c->req_body);
		if (c->req_body.oom)
			return HERD_ENOMEM;
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)c->req_body.len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->req_body.p != NULL ? c->req_body.p : "");
	}
	return HERD_OK;
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
		dheap_node_init(&c->dl);
		c->allow = worker_allow(st->w);
		v->conn = c;
	}
	if (c->configured != s)
		configure(st, c, s);
	int rv;
	if (s->dynamic && (rv = render(st, c, s)) != HERD_OK)
		return rv;
	c->refused[0] = '\0';
	c->body_len = 0;
	c->hdrs.len = 0;
	c->t_first = 0;
	if (dheap_set(&st->deadlines, &c->dl, v->sent_ns + c->timeout_ns) != 0)
		return HERD_ENOMEM;
	if (curl_multi_add_handle(st->multi, c->easy) != CURLM_OK) {
		dheap_remove(&st->deadlines, &c->dl);
		return HERD_EINTERNAL;
	}
	c->in_flight = 1;
	return HERD_OK;
}

static void http_cancel(void *state, vu *v)
{
	http_state *st = state;
	http_conn *c = v->conn;
	if (c != NULL && c->in_flight) {
		curl_multi_remove_handle(st->multi, c->easy);
		dheap_remove(&st->deadlines, &c->dl);
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
	free(c->hdrs.p);
	free(c->url.p);
	free(c->req_body.p);
	curl_slist_free_all(c->req_headers);
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
