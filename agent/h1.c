/*
 * The lean HTTP/1.1 driver, for http:// and https:// keep-alive traffic. Each
 * VU owns one non-blocking TCP connection in its worker's epoll loop, under
 * TLS (agent/tlsossl, OpenSSL 3) for https://, with the VU's TLS session kept
 * to resume it on its next connection. Hosts are resolved and every step's
 * request is rendered once at init, so a request costs one send() and
 * usually one recv() (one TLS record each way over https), read by the
 * h1parse codec, with no allocation and no formatting. Redirects are followed
 * per hop (follow()). libcurl stays the driver for HTTP/2, proxies and
 * everything unusual.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "agent/allow.h"
#include "agent/cookiejar.h"
#include "agent/driver.h"
#include "agent/h1parse.h"
#include "agent/tcp.h"
#include "agent/tlsossl.h"
#include "agent/worker.h"
#include "common/clock.h"
#include "common/dheap.h"
#include "agent/journey.h"
#include "common/err.h"
#include "common/log.h"
#include "common/safetext.h"
#include "common/sbuf.h"
#include "common/tmpl.h"

#define BODY_LIMIT (4u << 20)        /* bodies kept for checks are cut here */
#define HDRS_KEEP (64u << 10)        /* a header buffer past this is freed before the next response */
#define RBUF_SIZE (64u << 10)        /* the worker's one read buffer */
#define DEFAULT_TIMEOUT_MS 60000     /* as k6 */
#define NO_ERR (-1)                  /* "no error" where an errk is expected */

typedef struct h1_host {
	char *name;       /* as in the URL, without IPv6 brackets */
	uint16_t port;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int resolved;
	char *refused;    /* why --allow-target refuses the address, NULL when it does not */
	uint8_t tls;      /* https:// */
} h1_host;

/* One step, ready to send. */
typedef struct h1_req {
	char *bytes;      /* the whole request: head and body */
	size_t len;
	size_t host;      /* index into hosts */
	int64_t timeout_ns;
	uint8_t ok;       /* an http:// step the driver can send */
	uint8_t head;     /* HEAD: the response has no body */
	uint8_t keep_body;
	uint8_t keep_headers; /* the step checks or captures a response header */
	uint8_t decode;   /* `compression: true`: gzip/deflate bodies are kept and decoded */
	const plan_step *step; /* what it was rendered from */
	const char *url;  /* the URL it was rendered from (the step's, or a hop's) */
	size_t cookie_at; /* where a Cookie header goes in bytes: before the step's own headers */
} h1_req;

typedef struct h1_conn h1_conn;

/* A templated step as rendered for one request (allocated by a VU's first
 * templated request only, so VUs of static plans do not carry it). */
typedef struct h1_dyn {
	h1_req rq;        /* its bytes owned; step points at step below */
	plan_step step;   /* the plan's step with its URL, header values and body rendered */
	sbuf url, body, vals; /* the rendered texts (vals: every header value, NUL after each) */
	plan_kv *kv;      /* step.headers, pointing into vals */
	size_t kv_cap;
} h1_dyn;

typedef struct h1_state {
	worker *w;
	const plan *p;
	size_t *first;    /* per scenario: index of its first step in reqs */
	h1_req *reqs;
	size_t nreqs;
	h1_host *hosts;
	size_t nhosts;
	int cookies;      /* the plan keeps a cookie jar per VU (`cookies:`, on by default) */
	dheap deadlines;  /* requests in flight, by deadline */
	char *rbuf;       /* responses are parsed as they are read, so one buffer serves all */
	tlso_cfg *tls;    /* for https:// hosts; NULL until one is used */
	int tls_failed;   /* tls could not be made (logged once) */
	int cert_logged;  /* a refused certificate was logged */
} h1_state;

typedef enum conn_phase {
	PH_IDLE = 0,      /* no request (the connection may be open) */
	PH_CONNECTING,    /* waiting for connect() to finish */
	PH_TLS,           /* the TLS handshake of an https:// connection */
	PH_SENDING,       /* part of the request is written */
	PH_RECEIVING,     /* the request is written; reading the response */
	PH_FAILED,        /* failed inside start(): reported from the timer */
} conn_phase;

struct h1_conn {
	h1_state *st;
	vu *v;
	int fd;             /* -1 when there is no connection */
	tlso *tls;          /* the TLS session over fd to an https:// host (tls_obj), else NULL */
	tlso *tls_obj;      /* the VU's TLS object, reused from connection to connection; NULL until its first */
	tlso_sess *sess;    /* the VU's last TLS session of host sess_host, to resume */
	size_t sess_host;
	uint32_t events;    /* what fd is watched for */
	size_t host;        /* the host fd is connected to */
	conn_phase phase;
	int err;            /* PH_FAILED: the errk to report */
	const h1_req *rq;
	const char *wbuf;   /* what this attempt writes: rq's bytes, or out with the VU's cookies */
	size_t wlen;
	size_t sent;        /* request bytes written by this attempt */
	uint8_t reused;     /* this attempt went out on a connection used before */
	uint8_t retried;    /* this request already moved to a fresh connection once */
	uint8_t got_bytes;  /* some response byte arrived */
	dheap_node dl;      /* its deadline, in the state's heap while in flight */
	int64_t t_connect;  /* connect() called */
	int64_t t_tls;      /* the TLS handshake started */
	int64_t t_ready;    /* first send() of the attempt */
	int64_t t_written;  /* the whole request written */
	int64_t t_first;    /* first response byte read */
	uint64_t blocked_us, connecting_us, tls_us;
	h1p parser;
	char *body;         /* kept for body checks, NUL-terminated */
	size_t body_len, body_cap;
	sbuf hdrs;          /* the response's header section, for header checks and captures */
	/* Redirects: rq points at hop while one is followed. */
	const h1_req *orig; /* the step's own request */
	h1_req hop;         /* the hop in flight (its bytes owned) */
	sbuf url;           /* the hop's URL */
	uint32_t hops;      /* redirects followed for this step */
	int64_t chain_ready; /* the first hop's first send */
	uint64_t chain_in, chain_out; /* bytes of the hops before this one */
	cookiejar jar;      /* the VU's cookies, for its whole life, as libcurl's handle keeps them */
	h1_dyn *dyn;        /* the templated step in flight, rendered; NULL until one runs */
	sbuf out;           /* the request with its Cookie header, when it has one */
};

/* ---- connections ---- */

static void on_fd(void *arg, int fd, uint32_t events);
static void req_compose(h1_conn *c);
static void resp_cookies(h1_conn *c, const char *block, size_t len);
static int body_decode(h1_conn *c);
static int jar_lookup(void *ctx, const char *name, sbuf *out);
static int req_render(h1_conn *c, const plan_step *s);
static void dyn_free(h1_dyn *d);

static void conn_close(h1_conn *c)
{
	if (c->fd < 0)
		return;
	worker_unwatch(c->st->w, c->fd);
	tlso_end(c->tls); /* its close_notify goes out before the FIN */
	c->tls = NULL;
	close(c->fd);
	c->fd = -1;
	c->events = 0;
}

/* Watches fd for events, touching epoll only when they change. */
static int conn_watch(h1_conn *c, uint32_t events)
{
	if (c->events == events)
		return HERD_OK;
	int rv = worker_watch(c->st->w, c->fd, events, on_fd, c);
	if (rv == HERD_OK)
		c->events = events;
	return rv;
}

static int connect_errk(int e)
{
	return e == ETIMEDOUT ? ERRK_TIMEOUT : ERRK_CONNREFUSED;
}

static int io_errk(int e)
{
	return e == ETIMEDOUT ? ERRK_TIMEOUT : ERRK_RESET;
}

/* ---- the connection's bytes: plain, or through TLS for https:// ---- */

/* What conn_send and conn_recv return besides a count of bytes. */
#define IO_WAIT (-1) /* wait for *wait on the socket, then call again */
#define IO_FAIL (-2) /* failed: *err is the errk */

/* Maps a TLS failure or wish to IO_WAIT or IO_FAIL. A broken record
 * is a `tls` error; a connection closed or reset under TLS, a reset. */
static ssize_t tls_io(ssize_t n, uint32_t *wait, int *err)
{
	if (n == TLSC_WANT_READ || n == TLSC_WANT_WRITE) {
		*wait = n == TLSC_WANT_READ ? EPOLLIN : EPOLLOUT;
		return IO_WAIT;
	}
	*err = n == TLSC_ECLOSED ? ERRK_RESET : ERRK_TLS;
	return IO_FAIL;
}

/* Writes up to len (> 0) bytes on c's connection: returns n > 0, IO_WAIT
 * or IO_FAIL. Over TLS, bytes not taken must be offered again as they were. */
static ssize_t conn_send(h1_conn *c, const char *p, size_t len, uint32_t *wait, int *err)
{
	if (c->tls != NULL) {
		ssize_t n = tlso_write(c->tls, p, len);
		return n > 0 ? n : tls_io(n, wait, err);
	}
	for (;;) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n > 0)
			return n;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			*wait = EPOLLOUT;
			return IO_WAIT;
		}
		*err = io_errk(n < 0 ? errno : EPIPE);
		return IO_FAIL;
	}
}

/* Reads up to len bytes: returns n > 0, 0 at the end of the stream (a TLS
 * close_notify or not), IO_WAIT or IO_FAIL. */
static ssize_t conn_recv(h1_conn *c, char *p, size_t len, uint32_t *wait, int *err)
{
	if (c->tls != NULL) {
		ssize_t n = tlso_read(c->tls, p, len);
		return n >= 0 ? n : tls_io(n, wait, err);
	}
	for (;;) {
		ssize_t n = recv(c->fd, p, len, 0);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			*wait = EPOLLIN;
			return IO_WAIT;
		}
		*err = io_errk(errno);
		return IO_FAIL;
	}
}

/* After a read of n bytes into a buffer of cap: whether nothing more is
 * held. A short plain read emptied the socket; over TLS a read returns one
 * record, so the session must hold no more bytes (decrypted or not): what
 * is still to come is then in the socket, which epoll (level triggered)
 * reports again. Either way no read is spent on EAGAIN. */
static int conn_drained(const h1_conn *c, size_t n, size_t cap)
{
	return n < cap && (c->tls == NULL || !tlso_pending(c->tls));
}

static uint64_t span_us(int64_t a, int64_t b)
{
	return b > a ? (uint64_t)(b - a) / 1000 : 0;
}

static void keep_body(void *arg, const char *data, size_t len)
{
	h1_conn *c = arg;
	if (c->body_len + len + 1 > c->body_cap) {
		size_t cap = c->body_cap ? c->body_cap : 4096;
		while (cap < c->body_len + len + 1)
			cap *= 2;
		char *nb = realloc(c->body, cap);
		if (nb == NULL)
			return; /* keep measuring; the check will see a short body */
		c->body = nb;
		c->body_cap = cap;
	}
	memcpy(c->body + c->body_len, data, len);
	c->body_len += len;
	c->body[c->body_len] = '\0';
}

/* Keeps the header bytes the parser consumed from the start of data: a
 * response's header section comes before its body, so they are a prefix. */
static void keep_headers(h1_conn *c, const char *data, uint64_t before)
{
	uint64_t n = c->parser.header_bytes - before;
	/* The parser ends a response past H1P_HEADERS_MAX: no more is kept. */
	if (n > 0 && c->hdrs.len + n <= H1P_HEADERS_MAX)
		sbuf_add(&c->hdrs, data, (size_t)n);
}

/* Points r at the final response's header lines (the status line and what
 * follows it, without any 1xx response before it), as libcurl's driver
 * reports them. */
static void final_headers(const h1_conn *c, step_result *r)
{
	const char *p = c->hdrs.p != NULL ? c->hdrs.p : "";
	size_t len = c->hdrs.p != NULL && !c->hdrs.oom ? c->hdrs.len : 0;
	for (size_t i = len; i-- > 1;)
		if (p[i - 1] == '\n' && len - i >= 5 && memcmp(p + i, "HTTP/", 5) == 0) {
			p += i;
			len -= i;
			break;
		}
	r->headers = p;
	r->headers_len = len;
}

/*
 * Ends the request in flight and reports it: err is an errk, or NO_ERR for a
 * complete response. Reporting is the last thing done, since the worker may
 * start v's next request from inside worker_step_done().
 */
static void finish(h1_conn *c, int err, int64_t now, int close_conn)
{
	step_result r;
	int64_t ready = c->t_ready, written = c->t_written, first = c->t_first;
	int64_t sent = c->v->sent_ns;

	memset(&r, 0, sizeof(r));
	/* A timed-out request ends at its deadline: how late the loop noticed
	 * is not the server's time. A response the loop reads only after the
	 * deadline (it was late to run) came too late all the same: the request
	 * had been given up at its timeout. */
	if (err == NO_ERR && now > sent + c->rq->timeout_ns)
		err = ERRK_TIMEOUT;
	if (err == ERRK_TIMEOUT && now > sent + c->rq->timeout_ns)
		now = sent + c->rq->timeout_ns;
	/* A body that cannot be decoded fails the request, as in libcurl. */
	if (err == NO_ERR && c->rq->decode && body_decode(c) != HERD_OK)
		err = ERRK_OTHER;
	/* A phase the request never reached is 0, and one it was in when it
	 * ended lasts to the end (as in the libcurl driver). A request that
	 * never got to send (a connect that failed or timed out) has for its
	 * duration its whole time, so that it weighs in the latencies as long
	 * as it lasted, not as nothing. */
	if (c->phase == PH_CONNECTING)
		c->connecting_us = span_us(c->t_connect, now);
	if (ready != 0) {
		r.sending_us = span_us(ready, written != 0 ? written : now);
		if (written != 0)
			r.waiting_us = span_us(written, first != 0 ? first : now);
		if (first != 0)
			r.receiving_us = span_us(first, now);
		r.duration_us = r.sending_us + r.waiting_us + r.receiving_us;
	} else {
		r.duration_us = span_us(sent, now);
	}
	r.blocked_us = c->blocked_us;
	r.connecting_us = c->connecting_us;
	r.tls_us = c->tls_us;
	r.status = c->parser.headers_done ? c->parser.status : 0;
	r.bytes_in = c->chain_in + c->parser.header_bytes + c->parser.body_wire_bytes;
	r.bytes_out = c->chain_out + c->sent;
	/* After redirects the request lasted from its first hop (the phases are
	 * the last hop's). */
	if (c->hops > 0 && ready != 0)
		r.duration_us += span_us(c->chain_ready, ready);
	if (err != NO_ERR)
		r.err = err;
	else if (r.status >= 500)
		r.err = ERRK_HTTP5XX;
	else if (r.status >= 400)
		r.err = ERRK_HTTP4XX;
	else
		r.err = -1;
	if (c->rq != NULL && c->rq->keep_body) {
		r.body = c->body != NULL ? c->body : "";
		r.body_len = c->body_len;
	}
	if (c->rq != NULL && c->rq->keep_headers)
		final_headers(c, &r);
	if (c->st->cookies) {
		r.cookie = jar_lookup;
		r.cookie_ctx = c;
	}
	dheap_remove(&c->st->deadlines, &c->dl);
	c->phase = PH_IDLE;
	if (close_conn || err != NO_ERR)
		conn_close(c);
	worker_step_done(c->st->w, c->v, &r);
	/* The VU did not send again at once (it thinks, or waits for its next
	 * arrival): an idle TLS connection holds no record buffers, and with
	 * its connection closed the VU holds no TLS object state beyond a few
	 * bytes. (c lives as long as its VU, which the worker frees only at
	 * its end.) */
	if (c->phase == PH_IDLE && c->tls_obj != NULL)
		tlso_idle(c->tls_obj);
}

static int attempt(h1_conn *c, int64_t now);

/*
 * A request failed with err before any response byte. When it went out on
 * a connection used before, the server most likely closed that connection
 * as idle: send it once more on a fresh one, as browsers do. Returns NO_ERR
 * when the retry is under way, else the errk to report.
 */
static int retry_or(h1_conn *c, int err)
{
	if (!c->reused || c->retried || c->got_bytes)
		return err;
	conn_close(c);
	c->retried = 1;
	int64_t now = clock_mono_ns();
	c->blocked_us = span_us(c->v->sent_ns, now);
	return attempt(c, now);
}

/* Writes what is left of the request. Returns NO_ERR or an errk. */
static int send_more(h1_conn *c)
{
	while (c->sent < c->wlen) {
		uint32_t wait = 0;
		int err = ERRK_OTHER;
		ssize_t n = conn_send(c, c->wbuf + c->sent, c->wlen - c->sent, &wait, &err);
		if (n > 0) {
			c->sent += (size_t)n;
			continue;
		}
		if (n == IO_WAIT) {
			/* Input too: the server may answer (or close) early. */
			c->phase = PH_SENDING;
			return conn_watch(c, EPOLLIN | EPOLLOUT) == HERD_OK ? NO_ERR : ERRK_OTHER;
		}
		return retry_or(c, err);
	}
	c->t_written = clock_mono_ns();
	c->phase = PH_RECEIVING;
	/* The connection stays watched for input between requests too, so
	 * epoll is touched only when a send has to wait. */
	return conn_watch(c, EPOLLIN) == HERD_OK ? NO_ERR : ERRK_OTHER;
}

/* Opens a connection to the request's host. Returns NO_ERR or an errk. */
static int conn_open(h1_conn *c, int64_t now)
{
	const h1_host *h = &c->st->hosts[c->rq->host];
	int connected, err;

	c->t_connect = now;
	if ((err = tcp_connect(&h->addr, h->addrlen, c->v->src, &c->fd, &connected)) != TCP_OK)
		return err;
	c->events = 0;
	c->host = c->rq->host;
	if (connected)
		return NO_ERR;
	c->phase = PH_CONNECTING;
	return conn_watch(c, EPOLLOUT) == HERD_OK ? NO_ERR : ERRK_OTHER;
}

/* The worker's TLS configuration, made for its first https:// host (at
 * init, or for a redirect's first hop to one). NULL when it cannot be made:
 * the agent checked the plan's CA file when it took the run, so that is
 * unexpected, and logged once. */
static tlso_cfg *tls_cfg(h1_state *st)
{
	char err[512];
	if (st->tls != NULL || st->tls_failed)
		return st->tls;
	if (tlso_cfg_new(&st->p->tls, &st->tls, err, sizeof(err)) != HERD_OK) {
		st->tls_failed = 1;
		log_error("https: %s", err);
		return NULL;
	}
	return st->tls;
}

/*
 * Advances the TLS handshake of an https:// connection; sends the request
 * once it is done, keeping the session to resume on the VU's next
 * connection to that host. Returns NO_ERR or an errk: every failed
 * handshake is a `tls` error, as libcurl's CURLE_SSL_CONNECT_ERROR and
 * CURLE_PEER_FAILED_VERIFICATION are.
 */
static int tls_step(h1_conn *c)
{
	int rv = tlso_handshake(c->tls);
	if (rv == TLSC_OK) {
		int64_t now = clock_mono_ns();
		c->tls_us = span_us(c->t_tls, now);
		c->t_ready = now;
		return send_more(c);
	}
	if (rv == TLSC_WANT_READ || rv == TLSC_WANT_WRITE)
		return conn_watch(c, rv == TLSC_WANT_READ ? EPOLLIN : EPOLLOUT) == HERD_OK ? NO_ERR : ERRK_OTHER;
	if (rv == TLSC_ECERT && !c->st->cert_logged) {
		char why[256], safe[160];
		const h1_host *h = &c->st->hosts[c->host];
		c->st->cert_logged = 1;
		log_warn("https://%s:%u: the server's certificate was refused: %s (further refusals are "
		         "counted as 'tls' errors, not logged)",
		         safetext_copy(safe, sizeof(safe), h->name), (unsigned)h->port,
		         tlso_cert_error(c->tls, why, sizeof(why)));
	}
	return ERRK_TLS;
}

/* The TCP connection is up (at now): starts TLS on it for an https:// host,
 * else sends the request. Returns NO_ERR or an errk. */
static int conn_up(h1_conn *c, int64_t now)
{
	const h1_host *h = &c->st->hosts[c->host];
	tlso_cfg *cfg;

	c->connecting_us = span_us(c->t_connect, now);
	if (!h->tls) {
		c->t_ready = now;
		return send_more(c);
	}
	c->t_tls = now;
	if ((cfg = tls_cfg(c->st)) == NULL)
		return ERRK_TLS;
	/* The VU resumes its last session with this host; the sessions the
	 * server issues on this connection land in c->sess. */
	if (c->sess != NULL && c->sess_host != c->host) {
		tlso_sess_free(c->sess);
		c->sess = NULL;
	}
	c->sess_host = c->host;
	if (c->tls_obj == NULL && tlso_new(cfg, &c->tls_obj) != HERD_OK)
		return ERRK_OTHER;
	if (tlso_start(c->tls_obj, c->fd, h->name, &c->sess) != HERD_OK)
		return ERRK_OTHER;
	c->tls = c->tls_obj;
	c->phase = PH_TLS;
	return tls_step(c);
}

/* Forgets what an earlier attempt left: response, timings, bytes. */
static void attempt_reset(h1_conn *c)
{
	const h1_req *rq = c->rq;
	h1p_init(&c->parser, rq->head);
	if (rq->keep_body || rq->decode) {
		h1p_sink(&c->parser, keep_body, c, BODY_LIMIT);
		c->body_len = 0;
		if (c->body != NULL)
			c->body[0] = '\0';
	}
	/* A large header block is not held for the VU's life. */
	if (c->hdrs.cap > HDRS_KEEP) {
		free(c->hdrs.p);
		c->hdrs = (sbuf){ 0 };
	}
	c->hdrs.len = 0;
	c->hdrs.oom = 0;
	req_compose(c);
	c->sent = 0;
	c->got_bytes = 0;
	c->t_ready = c->t_written = c->t_first = 0;
}

/* Sends c->rq: on the open connection, or on a new one. Returns NO_ERR or an errk. */
static int attempt(h1_conn *c, int64_t now)
{
	const h1_req *rq = c->rq;
	int err;

	if (c->fd >= 0 && c->host != rq->host)
		conn_close(c);
	attempt_reset(c);
	if (c->fd >= 0) {
		c->reused = 1;
		c->connecting_us = 0;
		c->tls_us = 0;
		c->t_ready = now;
		return send_more(c);
	}
	c->reused = 0;
	if ((err = conn_open(c, now)) != NO_ERR || c->phase == PH_CONNECTING)
		return err;
	return conn_up(c, clock_mono_ns());
}

/* The connection finished connecting (or failed to). */
static void on_connected(h1_conn *c)
{
	int e = 0;
	socklen_t len = sizeof(e);
	int64_t now = clock_mono_ns();

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
		e = errno;
	if (e != 0) {
		finish(c, connect_errk(e), now, 1);
		return;
	}
	int err = conn_up(c, now);
	if (err != NO_ERR)
		finish(c, err, clock_mono_ns(), 1);
}

static int render(h1_state *st, const plan_step *s, h1_req *rq);


/* The absolute URL of Location loc (llen bytes) against base, into out:
 * an absolute URL as it is, "//host/..." with base's scheme, "/path" on
 * base's scheme and authority, anything else beside base's last '/'. */
static void resolve_location(const char *base, const char *loc, size_t llen, sbuf *out)
{
	out->len = 0;
	out->oom = 0;
	const char *colon = memchr(loc, ':', llen);
	if (colon != NULL && colon > loc && (size_t)(colon - loc) == strcspn(loc, "/?#:")) {
		sbuf_add(out, loc, llen); /* has a scheme */
		return;
	}
	const char *auth = strstr(base, "://");
	auth = auth != NULL ? auth + 3 : base;
	if (llen >= 2 && loc[0] == '/' && loc[1] == '/') {
		sbuf_add(out, base, (size_t)(auth - base) - 2);
		sbuf_add(out, loc, llen);
		return;
	}
	const char *path = auth + strcspn(auth, "/?#");
	if (llen >= 1 && loc[0] == '/') {
		sbuf_add(out, base, (size_t)(path - base));
	} else {
		const char *end = path + strcspn(path, "?#");
		const char *slash = path;
		for (const char *q = path; q < end; q++)
			if (*q == '/')
				slash = q + 1;
		sbuf_add(out, base, (size_t)(slash - base));
		if (slash == path)
			sbuf_add(out, "/", 1);
	}
	sbuf_add(out, loc, llen);
}

/*
 * After a complete 3xx response with a Location, while the step's
 * `redirects:` allow another hop: sends the next request (GET, but for 307
 * and 308, which keep the method and body, as libcurl does), on the same
 * connection when it stays open to the same host. Every hop's URL and
 * address are checked against --allow-target as the first request's were.
 * Returns 1 when the response was a redirect and the step went on (or was
 * reported), 0 when the response is the step's answer.
 */
static int follow(h1_conn *c, int close_conn)
{
	h1_state *st = c->st;
	const h1_req *orig = c->orig;
	int status = c->parser.status;
	size_t llen = 0;
	char why[256];
	int err;

	if (orig == NULL || orig->step->redirects <= 0 ||
	    (status != 301 && status != 302 && status != 303 && status != 307 && status != 308))
		return 0;
	step_result hr = { 0 };
	final_headers(c, &hr);
	const char *loc = journey_header(hr.headers, hr.headers_len, "Location", &llen);
	if (loc == NULL || llen == 0)
		return 0;
	int64_t now = clock_mono_ns();
	if (c->hops >= (uint32_t)orig->step->redirects) {
		/* libcurl's "maximum redirects followed" */
		finish(c, ERRK_OTHER, now, close_conn);
		return 1;
	}
	sbuf next = { 0 };
	resolve_location(c->hops == 0 ? orig->url : c->url.p, loc, llen, &next);
	if (next.oom) {
		free(next.p);
		finish(c, ERRK_OTHER, now, close_conn);
		return 1;
	}
	if (allow_check_request(worker_allow(st->w), next.p, why, sizeof(why)) != HERD_OK) {
		free(next.p);
		allow_log_refusal(why);
		finish(c, ERRK_NOT_ALLOWED, now, close_conn);
		return 1;
	}
	if (strncasecmp(next.p, "http://", 7) != 0 && strncasecmp(next.p, "https://", 8) != 0) {
		/* libcurl's CURLE_UNSUPPORTED_PROTOCOL: herd's fence allows these two. */
		free(next.p);
		finish(c, ERRK_NOT_ALLOWED, now, close_conn);
		return 1;
	}
	plan_step hs = *orig->step;
	hs.url = next.p;
	if (status != 307 && status != 308 && hs.method != HM_HEAD) {
		hs.method = HM_GET;
		hs.body = NULL;
		hs.body_len = 0;
		hs.body_is_json = 0;
	}
	free(c->hop.bytes);
	memset(&c->hop, 0, sizeof(c->hop));
	if (render(st, &hs, &c->hop) != HERD_OK || !c->hop.ok) {
		free(next.p);
		finish(c, ERRK_OTHER, now, close_conn);
		return 1;
	}
	c->hop.step = orig->step;
	free(c->url.p);
	c->url = next;
	if (c->hops++ == 0)
		c->chain_ready = c->t_ready;
	c->chain_in += c->parser.header_bytes + c->parser.body_wire_bytes;
	c->chain_out += c->sent;
	if (close_conn)
		conn_close(c);
	c->rq = &c->hop;
	c->retried = 0;
	const h1_host *h = &st->hosts[c->hop.host];
	if (h->refused != NULL) {
		allow_log_refusal(h->refused);
		err = ERRK_NOT_ALLOWED;
	} else if (!h->resolved) {
		err = ERRK_DNS;
	} else {
		c->blocked_us = 0;
		c->connecting_us = 0;
		c->tls_us = 0;
		err = attempt(c, now);
	}
	if (err != NO_ERR)
		finish(c, err, clock_mono_ns(), 1);
	return 1;
}

/* Reads what arrived and feeds it to the parser. */
static void on_readable(h1_conn *c)
{
	h1_state *st = c->st;
	for (;;) {
		uint32_t wait = 0;
		int err = ERRK_OTHER;
		ssize_t n = conn_recv(c, st->rbuf, RBUF_SIZE, &wait, &err);
		if (n > 0) {
			int64_t now = 0;
			size_t used = 0;
			if (!c->got_bytes) {
				c->got_bytes = 1;
				c->t_first = now = clock_mono_ns();
				if (c->t_written == 0)
					c->t_written = now; /* the server answered before reading it all */
			}
			uint64_t hb = c->parser.header_bytes;
			if (h1p_feed(&c->parser, st->rbuf, (size_t)n, &used) != HERD_OK) {
				/* Header sections past the limit: libcurl's CURLE_RECV_ERROR. */
				finish(c, c->parser.too_large ? ERRK_RESET : ERRK_OTHER, now ? now : clock_mono_ns(), 1);
				return;
			}
			/* Headers are kept for checks, and for the Location of a
			 * redirect to follow (the status line comes first). */
			int whole = hb == 0 && c->parser.headers_done;
			if (c->rq->keep_headers || c->rq->decode ||
			    (c->rq->step->redirects > 0 && c->parser.status >= 300 && c->parser.status < 400) ||
			    (st->cookies && !whole))
				keep_headers(c, st->rbuf, hb);
			else if (st->cookies && whole && c->parser.set_cookie)
				resp_cookies(c, st->rbuf, (size_t)c->parser.header_bytes); /* all in this read: no copy */
			if (c->parser.done) {
				/* The parser saw whether a Set-Cookie came: a response
				 * without one is not searched for it. */
				if (st->cookies && c->parser.set_cookie && c->hdrs.len > 0)
					resp_cookies(c, NULL, 0);
				/* Bytes past the response, or a request not sent in full:
				 * the connection is out of step, so it goes. */
				int close_conn = !c->parser.keep_alive || used < (size_t)n || c->sent < c->wlen;
				if (!follow(c, close_conn))
					finish(c, NO_ERR, now ? now : clock_mono_ns(), close_conn);
				return;
			}
			if (conn_drained(c, (size_t)n, RBUF_SIZE))
				return;
			continue;
		}
		if (n == 0) {
			if (h1p_eof(&c->parser) == HERD_OK) {
				if (st->cookies && c->parser.set_cookie && c->hdrs.len > 0)
					resp_cookies(c, NULL, 0);
				if (!follow(c, 1))
					finish(c, NO_ERR, clock_mono_ns(), 1);
				return;
			}
			err = ERRK_RESET;
		} else if (n == IO_WAIT) {
			/* TLS may have to write before it reads on (an alert). */
			uint32_t ev = (wait & EPOLLOUT) ? c->events | EPOLLOUT
			                                : c->phase == PH_RECEIVING ? EPOLLIN : c->events;
			if (conn_watch(c, ev) != HERD_OK)
				finish(c, ERRK_OTHER, clock_mono_ns(), 1);
			return;
		}
		if ((err = retry_or(c, err)) != NO_ERR)
			finish(c, err, clock_mono_ns(), 1);
		return;
	}
}

/* An idle TLS connection became readable: takes in what TLS sent for its
 * own sake. Returns 1 when the connection stays usable (TLS wants more
 * input), 0 when it ended or brought HTTP bytes nobody asked for. */
static int tls_idle_input(h1_conn *c)
{
	uint32_t wait = 0;
	int err = 0;
	return c->tls != NULL && conn_recv(c, c->st->rbuf, RBUF_SIZE, &wait, &err) == IO_WAIT &&
	       wait == EPOLLIN;
}

static void on_fd(void *arg, int fd, uint32_t events)
{
	h1_conn *c = arg;
	(void)fd;
	switch (c->phase) {
	case PH_IDLE:
	case PH_FAILED:
		/* Between requests the server may only close the connection (or
		 * misbehave): either way it is of no further use. Over TLS it may
		 * also send what TLS itself needs (TLS 1.3 tickets, key updates). */
		if (c->phase == PH_IDLE && !(events & (EPOLLERR | EPOLLHUP)) && tls_idle_input(c))
			return;
		conn_close(c);
		return;
	case PH_CONNECTING:
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			on_connected(c);
		return;
	case PH_TLS: {
		int err = tls_step(c);
		if (err != NO_ERR)
			finish(c, err, clock_mono_ns(), 1);
		return;
	}
	case PH_SENDING:
		if ((events & EPOLLOUT) && !(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
			int err = send_more(c);
			if (err != NO_ERR)
				finish(c, err, clock_mono_ns(), 1);
			return;
		}
		/* Input (or an error) while sending: the answer, or a reset. */
		on_readable(c);
		return;
	case PH_RECEIVING:
		on_readable(c);
		return;
	}
}

/* ---- requests, rendered once ---- */


static int hexdig(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Appends "Basic <base64 of the percent-decoded user:password>". */
static void sb_basic_auth(sbuf *b, const char *ui, size_t n)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char raw[1024];
	size_t m = 0;
	for (size_t i = 0; i < n && m < sizeof(raw); i++) {
		if (ui[i] == '%' && i + 2 < n && hexdig(ui[i + 1]) >= 0 && hexdig(ui[i + 2]) >= 0) {
			raw[m++] = (unsigned char)(hexdig(ui[i + 1]) * 16 + hexdig(ui[i + 2]));
			i += 2;
		} else {
			raw[m++] = (unsigned char)ui[i];
		}
	}
	sbuf_str(b, "Basic ");
	for (size_t i = 0; i < m; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (i + 1 < m ? (uint32_t)raw[i + 1] << 8 : 0) |
		             (i + 2 < m ? raw[i + 2] : 0);
		char q[4] = { b64[v >> 18], b64[(v >> 12) & 63], i + 1 < m ? b64[(v >> 6) & 63] : '=',
			          i + 2 < m ? b64[v & 63] : '=' };
		sbuf_add(b, q, 4);
	}
}

/* The parts of an http:// or https:// URL. Pointers into the URL; lengths apart. */
typedef struct url_parts {
	const char *userinfo, *host, *hostport, *path;
	size_t userinfo_len, host_len, hostport_len, path_len;
	uint16_t port;
	uint8_t tls;      /* https:// */
} url_parts;

/* Splits an http:// or https:// URL. Returns HERD_OK or HERD_EINVAL. */
static int split_url(const char *url, url_parts *u)
{
	memset(u, 0, sizeof(*u));
	if (strncasecmp(url, "https://", 8) == 0)
		u->tls = 1;
	else if (strncasecmp(url, "http://", 7) != 0)
		return HERD_EINVAL;
	const char *a = url + 7 + u->tls;
	size_t alen = strcspn(a, "/?#");
	const char *at = memrchr(a, '@', alen);
	if (at != NULL) {
		u->userinfo = a;
		u->userinfo_len = (size_t)(at - a);
		alen -= (size_t)(at + 1 - a);
		a = at + 1;
	}
	u->hostport = a;
	u->hostport_len = alen;
	const char *port = NULL;
	if (alen > 0 && a[0] == '[') {
		const char *close = memchr(a, ']', alen);
		if (close == NULL)
			return HERD_EINVAL;
		u->host = a + 1;
		u->host_len = (size_t)(close - a - 1);
		if (close + 1 < a + alen) {
			if (close[1] != ':')
				return HERD_EINVAL;
			port = close + 2;
		}
	} else {
		const char *colon = memchr(a, ':', alen);
		u->host = a;
		u->host_len = colon ? (size_t)(colon - a) : alen;
		if (colon != NULL)
			port = colon + 1;
	}
	if (u->host_len == 0)
		return HERD_EINVAL;
	u->port = u->tls ? 443 : 80;
	if (port != NULL && port < a + alen) {
		unsigned long v = 0;
		for (const char *q = port; q < a + alen; q++) {
			if (*q < '0' || *q > '9' || (v = v * 10 + (unsigned long)(*q - '0')) > 65535)
				return HERD_EINVAL;
		}
		if (v == 0)
			return HERD_EINVAL;
		u->port = (uint16_t)v;
	}
	u->path = a + alen;
	u->path_len = strcspn(u->path, "#");
	return HERD_OK;
}

/* Whether the step sets header name itself (an empty value removes it). */
static const plan_kv *user_header(const plan_step *s, const char *name)
{
	for (size_t i = 0; i < s->nheaders; i++)
		if (strcasecmp(s->headers[i].name, name) == 0)
			return &s->headers[i];
	return NULL;
}

/* Finds or adds the host of u. Returns its index, or SIZE_MAX without memory. */
static size_t host_index(h1_state *st, const url_parts *u)
{
	for (size_t i = 0; i < st->nhosts; i++)
		if (st->hosts[i].port == u->port && st->hosts[i].tls == u->tls &&
		    strlen(st->hosts[i].name) == u->host_len &&
		    strncasecmp(st->hosts[i].name, u->host, u->host_len) == 0)
			return i;
	h1_host *nh = realloc(st->hosts, (st->nhosts + 1) * sizeof(*nh));
	if (nh == NULL)
		return SIZE_MAX;
	st->hosts = nh;
	h1_host *h = &st->hosts[st->nhosts];
	memset(h, 0, sizeof(*h));
	if ((h->name = strndup(u->host, u->host_len)) == NULL)
		return SIZE_MAX;
	h->port = u->port;
	h->tls = u->tls;

	/* Resolved once, here: plans name their hosts up front; with source
	 * addresses, to an address of their family. */
	char port[8];
	snprintf(port, sizeof(port), "%u", (unsigned)u->port);
	h->resolved = tcp_resolve(h->name, port, worker_src_family(st->w), &h->addr, &h->addrlen) == 0;
	/* A host outside --allow-target keeps why, and its requests are refused, never sent. */
	if (h->resolved && allow_addr_refusal(worker_allow(st->w), h->name, (const struct sockaddr *)&h->addr,
	                                      &h->refused) != HERD_OK) {
		free(h->name);
		return SIZE_MAX;
	}
	return st->nhosts++;
}

/* Renders step s into rq. Steps the driver cannot send are left with ok = 0. */
static int render(h1_state *st, const plan_step *s, h1_req *rq)
{
	url_parts u;
	sbuf b = { 0 };
	char num[32];
	const plan_kv *kv;

	rq->timeout_ns = (s->timeout_ms > 0 ? s->timeout_ms : DEFAULT_TIMEOUT_MS) * 1000000;
	if (s->kind != STEP_HTTP || s->url == NULL || split_url(s->url, &u) != HERD_OK)
		return HERD_OK;
	if ((rq->host = host_index(st, &u)) == SIZE_MAX)
		return HERD_ENOMEM;
	rq->head = s->method == HM_HEAD;
	rq->keep_body = plan_step_needs_body(s);
	rq->keep_headers = plan_step_needs_headers(s);
	/* Decoded whether or not a check reads the body, as libcurl decodes
	 * it: a body that does not decode fails the request on both drivers. */
	rq->decode = (uint8_t)s->compression;
	rq->step = s;
	rq->url = s->url;
	int has_body = s->method != HM_GET && s->method != HM_HEAD;
	size_t body_len = has_body && s->body != NULL ? s->body_len : 0;

	sbuf_str(&b, http_method_name(s->method));
	sbuf_str(&b, " ");
	if (u.path_len == 0 || u.path[0] != '/')
		sbuf_str(&b, "/");
	sbuf_add(&b, u.path, u.path_len);
	sbuf_str(&b, " HTTP/1.1\r\n");
	/* The step's own Host, User-Agent, Authorization and Content-Type
	 * replace herd's; Content-Length is always herd's, as herd frames the body. */
	if (user_header(s, "Host") == NULL) {
		/* host[:port] as in the URL, the port only when not the scheme's
		 * own (80, 443), as libcurl does */
		size_t hlen = u.hostport_len;
		if (u.port == (u.tls ? 443 : 80))
			hlen = (size_t)(u.host + u.host_len - u.hostport) + (u.hostport[0] == '[');
		sbuf_str(&b, "Host: ");
		sbuf_add(&b, u.hostport, hlen);
		sbuf_str(&b, "\r\n");
	}
	if (user_header(s, "User-Agent") == NULL)
		sbuf_str(&b, "User-Agent: herd/" HERD_VERSION "\r\n");
	if (u.userinfo != NULL && user_header(s, "Authorization") == NULL) {
		sbuf_str(&b, "Authorization: ");
		sb_basic_auth(&b, u.userinfo, u.userinfo_len);
		sbuf_str(&b, "\r\n");
	}
	/* libcurl's CURLOPT_ACCEPT_ENCODING, as the libcurl driver sets it. */
	if (s->compression && user_header(s, "Accept-Encoding") == NULL)
		sbuf_str(&b, "Accept-Encoding: gzip, deflate\r\n");
	/* The jar's Cookie header goes here, before the step's own headers, as
	 * libcurl places it. */
	rq->cookie_at = b.len;
	for (size_t i = 0; i < s->nheaders; i++) {
		kv = &s->headers[i];
		/* An empty value only removes herd's own header, as with libcurl. */
		if (kv->value == NULL || kv->value[0] == '\0' || strcasecmp(kv->name, "Content-Length") == 0)
			continue;
		sbuf_str(&b, kv->name);
		sbuf_str(&b, ": ");
		sbuf_str(&b, kv->value);
		sbuf_str(&b, "\r\n");
	}
	if (s->body_is_json && has_body && user_header(s, "Content-Type") == NULL)
		sbuf_str(&b, "Content-Type: application/json\r\n");
	else if (s->body_is_form && has_body && user_header(s, "Content-Type") == NULL)
		sbuf_str(&b, "Content-Type: application/x-www-form-urlencoded\r\n");
	if (body_len > 0 || s->method == HM_POST || s->method == HM_PUT || s->method == HM_PATCH) {
		snprintf(num, sizeof(num), "%zu", body_len);
		sbuf_str(&b, "Content-Length: ");
		sbuf_str(&b, num);
		sbuf_str(&b, "\r\n");
	}
	sbuf_str(&b, "\r\n");
	if (body_len > 0)
		sbuf_add(&b, s->body, body_len);
	if (b.oom) {
		free(b.p);
		return HERD_ENOMEM;
	}
	rq->bytes = b.p;
	rq->len = b.len;
	rq->ok = 1;
	return HERD_OK;
}

/* ---- templates ---- */

static void dyn_free(h1_dyn *d)
{
	if (d == NULL)
		return;
	free(d->rq.bytes);
	free(d->url.p);
	free(d->body.p);
	free(d->vals.p);
	free(d->kv);
	free(d);
}

/* Renders the values of s's headers with env into d->kv (names stay the
 * plan's). Returns HERD_OK or HERD_ENOMEM. */
static int dyn_headers(h1_dyn *d, const plan_step *s, const tmpl_env *env)
{
	size_t off[64], *offs = s->nheaders <= 64 ? off : malloc(s->nheaders * sizeof(*offs));
	if (offs == NULL)
		return HERD_ENOMEM;
	if (s->nheaders > d->kv_cap) {
		plan_kv *nk = realloc(d->kv, s->nheaders * sizeof(*nk));
		if (nk == NULL)
			goto fail;
		d->kv = nk;
		d->kv_cap = s->nheaders;
	}
	d->vals.len = 0;
	d->vals.oom = 0;
	for (size_t i = 0; i < s->nheaders; i++) {
		offs[i] = d->vals.len;
		tmpl_render(&s->t_headers[i], env, &d->vals);
		sbuf_add(&d->vals, "", 1);
	}
	if (d->vals.oom)
		goto fail;
	/* Pointed at only now: vals may have moved while it grew. */
	for (size_t i = 0; i < s->nheaders; i++) {
		d->kv[i].name = s->headers[i].name;
		d->kv[i].value = d->vals.p + offs[i];
	}
	if (offs != off)
		free(offs);
	return HERD_OK;
fail:
	if (offs != off)
		free(offs);
	return HERD_ENOMEM;
}

/* Whether rendered step s would split its request: a space or control
 * byte in its target, CR or LF in a header value. libcurl refuses such a
 * URL, and the libcurl driver such a header. */
static int splits_request(const plan_step *s)
{
	url_parts u;
	if (split_url(s->url, &u) != HERD_OK)
		return 0; /* render() refuses it */
	for (size_t i = 0; i < u.path_len; i++)
		if ((unsigned char)u.path[i] <= 0x20 || u.path[i] == 0x7f)
			return 1;
	for (size_t i = 0; i < s->nheaders; i++)
		if (s->headers[i].value != NULL && strpbrk(s->headers[i].value, "\r\n") != NULL)
			return 1;
	return 0;
}

/*
 * Renders templated step s for c's VU: its URL, header values and body with
 * the VU's variables, feeder row and builtins, as the libcurl driver renders
 * them, then the request bytes as render() makes every request. The URL is
 * checked against --allow-target first. Only steps whose scheme and host are
 * written out in the plan come here (the rule in common/hdrv.c), so the host
 * was resolved at init. Returns HERD_OK (c->dyn->rq is the request),
 * HERD_EREFUSED, HERD_EINVAL or HERD_ENOMEM.
 */
static int req_render(h1_conn *c, const plan_step *s)
{
	h1_state *st = c->st;
	tmpl_env env;
	char why[256];
	int rv;

	if (s->url_late)
		return HERD_EINVAL; /* its scheme and host are only known rendered: libcurl's */
	if (c->dyn == NULL && (c->dyn = calloc(1, sizeof(*c->dyn))) == NULL)
		return HERD_ENOMEM;
	h1_dyn *d = c->dyn;
	worker_tmpl_env(st->w, c->v, &env);
	d->url.len = 0;
	d->url.oom = 0;
	tmpl_render(&s->t_url, &env, &d->url);
	if (d->url.oom || d->url.p == NULL)
		return HERD_ENOMEM;
	if ((rv = dyn_headers(d, s, &env)) != HERD_OK)
		return rv;
	d->step = *s;
	d->step.url = d->url.p;
	d->step.headers = d->kv;
	if (s->method != HM_GET && s->method != HM_HEAD && s->t_body.dynamic) {
		d->body.len = 0;
		d->body.oom = 0;
		tmpl_render(&s->t_body, &env, &d->body);
		if (d->body.oom)
			return HERD_ENOMEM;
		d->step.body = d->body.p != NULL ? d->body.p : "";
		d->step.body_len = d->body.len;
	}
	if (allow_check_request(worker_allow(st->w), d->url.p, why, sizeof(why)) != HERD_OK) {
		allow_log_refusal(why);
		return HERD_EREFUSED;
	}
	free(d->rq.bytes);
	memset(&d->rq, 0, sizeof(d->rq));
	if (splits_request(&d->step))
		return HERD_EINVAL; /* counted as other, never sent */
	if ((rv = render(st, &d->step, &d->rq)) != HERD_OK)
		return rv;
	return d->rq.ok ? HERD_OK : HERD_EINVAL;
}

/* ---- cookies and content codings ---- */

/* The host of rq's URL (NUL-terminated, into host, hlen bytes), its path
 * (request target) and whether it is a secure origin for cookies. Returns 0, or -1 when the URL
 * does not split. */
static int req_origin(const h1_req *rq, char *host, size_t hlen, const char **path, size_t *plen, int *secure)
{
	url_parts u;
	if (rq->url == NULL || split_url(rq->url, &u) != HERD_OK || u.host_len >= hlen)
		return -1;
	memcpy(host, u.host, u.host_len);
	host[u.host_len] = '\0';
	*path = u.path_len > 0 ? u.path : "/";
	*plen = u.path_len > 0 ? u.path_len : 1;
	*secure = cookiejar_secure_origin(strncasecmp(rq->url, "https://", 8) == 0, host);
	return 0;
}

/*
 * What this attempt writes: the request as rendered, or, when the VU's jar
 * has cookies for its host and path, a copy with their Cookie header. A VU
 * without cookies pays one test.
 */
static void req_compose(h1_conn *c)
{
	const h1_req *rq = c->rq;
	char host[256];
	const char *path;
	size_t plen;
	int secure;

	c->wbuf = rq->bytes;
	c->wlen = rq->len;
	if (!c->st->cookies || c->jar.n == 0 ||
	    req_origin(rq, host, sizeof(host), &path, &plen, &secure) != 0)
		return;
	c->out.len = 0;
	c->out.oom = 0;
	sbuf_add(&c->out, rq->bytes, rq->cookie_at);
	size_t before = c->out.len;
	cookiejar_header(&c->jar, host, path, plen, secure, (int64_t)time(NULL), &c->out);
	if (c->out.len == before)
		return;
	sbuf_add(&c->out, rq->bytes + rq->cookie_at, rq->len - rq->cookie_at);
	if (c->out.oom)
		return; /* sent without cookies rather than not at all */
	c->wbuf = c->out.p;
	c->wlen = c->out.len;
}

/* Takes the Set-Cookie lines of the response into the VU's jar: from
 * block (len bytes), or from the kept header section when block is NULL. */
static void resp_cookies(h1_conn *c, const char *block, size_t len)
{
	char host[256];
	const char *path;
	size_t plen;
	int secure;

	if (block == NULL) {
		step_result hr = { 0 };
		final_headers(c, &hr);
		block = hr.headers;
		len = hr.headers_len;
	}
	if (len == 0 || !cookiejar_has_set_cookie(block, len) ||
	    req_origin(c->rq, host, sizeof(host), &path, &plen, &secure) != 0)
		return;
	if (cookiejar_absorb(&c->jar, block, len, host, path, plen, secure, (int64_t)time(NULL)) != HERD_OK)
		log_warn("out of memory: a cookie was not kept");
}

static int jar_lookup(void *ctx, const char *name, sbuf *out)
{
	h1_conn *c = ctx;
	return cookiejar_get(&c->jar, name, (int64_t)time(NULL), out);
}

/* zlib's window bits for the final response's Content-Encoding: gzip
 * (x-gzip) or deflate, as libcurl decodes them; 0 for anything else. */
static int resp_coding(const h1_conn *c)
{
	step_result hr = { 0 };
	size_t len = 0;
	final_headers(c, &hr);
	const char *v = journey_header(hr.headers, hr.headers_len, "Content-Encoding", &len);
	if (v == NULL)
		return 0;
	if ((len == 4 && strncasecmp(v, "gzip", 4) == 0) || (len == 6 && strncasecmp(v, "x-gzip", 6) == 0))
		return 16 + MAX_WBITS;
	if (len == 7 && strncasecmp(v, "deflate", 7) == 0)
		return MAX_WBITS;
	return 0;
}

/* Inflates in (inlen bytes) with window bits wbits into out, up to
 * BODY_LIMIT: past it nothing more is kept, so nothing more is inflated (a
 * small body may inflate to gigabytes), and a fault in the stream past it
 * goes unnoticed. Returns Z_OK (a stream cut short included: the body kept
 * may have been), or zlib's error. */
static int inflate_into(const char *in, size_t inlen, int wbits, sbuf *out)
{
	z_stream z;
	char buf[16384];
	int rv;

	memset(&z, 0, sizeof(z));
	if ((rv = inflateInit2(&z, wbits)) != Z_OK)
		return rv;
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)inlen;
	do {
		z.next_out = (Bytef *)buf;
		z.avail_out = sizeof(buf);
		rv = inflate(&z, Z_NO_FLUSH);
		size_t got = sizeof(buf) - z.avail_out;
		if (got > 0 && out->len < BODY_LIMIT)
			sbuf_add(out, buf, got < BODY_LIMIT - out->len ? got : BODY_LIMIT - out->len);
	} while (rv == Z_OK && (z.avail_in > 0 || z.avail_out == 0) && out->len < BODY_LIMIT);
	inflateEnd(&z);
	if (rv == Z_STREAM_END || rv == Z_OK || rv == Z_BUF_ERROR)
		return out->oom ? Z_MEM_ERROR : Z_OK;
	return rv;
}

/* Decodes the kept body of a gzip or deflate response in place. Returns
 * HERD_OK (also for a body in no coding), or HERD_EPROTO when it does not
 * decode (the body is then what decoded before the error). */
static int body_decode(h1_conn *c)
{
	int wbits = c->body_len > 0 ? resp_coding(c) : 0;
	if (wbits == 0)
		return HERD_OK;
	sbuf out = { 0 };
	int rv = inflate_into(c->body, c->body_len, wbits, &out);
	if (rv == Z_DATA_ERROR && wbits == MAX_WBITS && out.len == 0) {
		/* "deflate" sent raw, without the zlib wrapper: libcurl takes it too. */
		out.oom = 0;
		rv = inflate_into(c->body, c->body_len, -MAX_WBITS, &out);
	}
	/* What decoded before an error is the body, as libcurl hands it on. */
	free(c->body);
	c->body = out.p;
	c->body_len = out.oom ? 0 : out.len;
	c->body_cap = out.cap;
	return rv == Z_OK ? HERD_OK : HERD_EPROTO;
}

/* ---- driver operations ---- */

static void h1_fini(void *state);

static int h1_init(worker *w, void **state)
{
	const plan *p = worker_plan(w);
	h1_state *st = calloc(1, sizeof(*st));
	int rv = HERD_ENOMEM;

	if (st == NULL)
		return HERD_ENOMEM;
	st->w = w;
	st->p = p;
	st->cookies = p->cookies;
	if ((st->first = calloc(p->nscenarios + 1, sizeof(*st->first))) == NULL)
		goto fail;
	st->nreqs = plan_step_offsets(p, st->first);
	if ((st->reqs = calloc(st->nreqs + 1, sizeof(*st->reqs))) == NULL ||
	    (st->rbuf = malloc(RBUF_SIZE)) == NULL)
		goto fail;
	for (size_t i = 0; i < p->nscenarios; i++)
		for (size_t j = 0; j < p->scenarios[i].nsteps; j++)
			if ((rv = render(st, &p->scenarios[i].steps[j], &st->reqs[st->first[i] + j])) != HERD_OK)
				goto fail;
	/* The CA store is read here rather than on the loop at the first
	 * https:// request. */
	for (size_t i = 0; i < st->nhosts; i++)
		if (st->hosts[i].tls) {
			tls_cfg(st);
			break;
		}
	*state = st;
	return HERD_OK;
fail:
	h1_fini(st);
	return rv;
}

/* Frees the state. VUs' connections are released first, by vu_release. */
static void h1_fini(void *state)
{
	h1_state *st = state;
	if (st == NULL)
		return;
	for (size_t i = 0; i < st->nreqs; i++)
		free(st->reqs[i].bytes);
	for (size_t i = 0; i < st->nhosts; i++) {
		free(st->hosts[i].name);
		free(st->hosts[i].refused);
	}
	free(st->reqs);
	free(st->hosts);
	free(st->first);
	dheap_fini(&st->deadlines);
	free(st->rbuf);
	tlso_cfg_free(st->tls);
	free(st);
}

static const h1_req *req_for(h1_state *st, const vu *v, const plan_step *s)
{
	if (v->scenario < st->p->nscenarios) {
		const plan_scenario *sc = &st->p->scenarios[v->scenario];
		if (s >= sc->steps && s < sc->steps + sc->nsteps)
			return &st->reqs[st->first[v->scenario] + (size_t)(s - sc->steps)];
	}
	return NULL;
}

static int h1_start(void *state, vu *v, const plan_step *s)
{
	h1_state *st = state;
	h1_conn *c = v->conn;
	const h1_req *rq = req_for(st, v, s);
	int rv;

	if (rq == NULL || !rq->ok)
		return HERD_EINVAL;
	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return HERD_ENOMEM;
		c->st = st;
		c->v = v;
		c->fd = -1;
		dheap_node_init(&c->dl);
		v->conn = c;
	}
	if (s->dynamic) {
		if ((rv = req_render(c, s)) != HERD_OK)
			return rv;
		rq = &c->dyn->rq;
	}
	if (st->hosts[rq->host].refused != NULL) {
		allow_log_refusal(st->hosts[rq->host].refused);
		return HERD_EREFUSED;
	}
	c->rq = rq;
	c->orig = rq;
	c->hops = 0;
	c->chain_in = c->chain_out = 0;
	c->retried = 0;
	c->blocked_us = 0;
	c->connecting_us = 0;
	c->tls_us = 0;
	if (dheap_set(&st->deadlines, &c->dl, v->sent_ns + rq->timeout_ns) != 0)
		return HERD_ENOMEM;
	int err = ERRK_DNS;
	if (st->hosts[rq->host].resolved)
		err = attempt(c, v->sent_ns);
	else
		attempt_reset(c);
	if (err != NO_ERR) {
		/* Reported from the timer at once, as start() never reports. */
		conn_close(c);
		c->phase = PH_FAILED;
		c->err = err;
		dheap_set(&st->deadlines, &c->dl, v->sent_ns); /* moves it: cannot fail */
	}
	return HERD_OK;
}

static int64_t h1_next_timer(void *state)
{
	h1_state *st = state;
	const dheap_node *top = dheap_top(&st->deadlines);
	return top != NULL ? top->at : INT64_MAX;
}

static void h1_on_timer(void *state)
{
	h1_state *st = state;
	int64_t now = clock_mono_ns();
	/* Requests started by the reports below get deadlines after now. */
	while (dheap_top(&st->deadlines) != NULL && dheap_top(&st->deadlines)->at <= now) {
		h1_conn *c = DHEAP_ENTRY(dheap_top(&st->deadlines), h1_conn, dl);
		finish(c, c->phase == PH_FAILED ? c->err : ERRK_TIMEOUT, now, 1);
	}
}

static void h1_cancel(void *state, vu *v)
{
	h1_conn *c = v->conn;
	(void)state;
	if (c == NULL || c->phase == PH_IDLE)
		return;
	dheap_remove(&c->st->deadlines, &c->dl);
	conn_close(c);
	c->phase = PH_IDLE;
}

static void h1_vu_release(void *state, vu *v)
{
	h1_conn *c = v->conn;
	h1_cancel(state, v);
	if (c == NULL)
		return;
	conn_close(c);
	free(c->body);
	free(c->hdrs.p);
	free(c->hop.bytes);
	free(c->url.p);
	tlso_free(c->tls_obj);
	tlso_sess_free(c->sess);
	free(c->out.p);
	cookiejar_fini(&c->jar);
	dyn_free(c->dyn);
	free(c);
	v->conn = NULL;
}

const driver_ops h1_driver = {
	.name = "h1",
	.init = h1_init,
	.fini = h1_fini,
	.start = h1_start,
	.cancel = h1_cancel,
	.vu_release = h1_vu_release,
	.next_timer = h1_next_timer,
	.on_timer = h1_on_timer,
};
