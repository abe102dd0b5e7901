/*
 * The WebSocket driver: one ws:// or wss:// session per VU and step, on the
 * worker's epoll loop. The driver does the HTTP/1.1 upgrade itself (Debian's
 * libcurl has no WebSocket support), checks Sec-WebSocket-Accept with
 * mbedTLS's SHA-1 and base64, then frames with wslay's event API; wss://
 * runs all of it through a TLS session (agent/tlsconn). A session's
 * operations (send, expect, loop, think, hold, close) run as a small
 * interpreter; waits and pings are deadlines in one heap per worker. An
 * idle session holds no wslay context and no upgrade buffers (about 1.3 KB
 * in all): see ctx_release_idle().
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
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <mbedtls/base64.h>
#include <mbedtls/sha1.h>
#include <mbedtls/version.h>
#include <wslay/wslay.h>

#include "agent/allow.h"
#include "agent/driver.h"
#include "agent/tcp.h"
#include "agent/tlsconn.h"
#include "agent/worker.h"
#include "agent/wsframe.h"
#include "common/clock.h"
#include "common/dheap.h"
#include "common/err.h"
#include "common/jpath.h"
#include "common/log.h"
#include "common/sbuf.h"

#define HS_MAX 8192                      /* the largest upgrade response read */
#define HS_TIMEOUT_NS (10LL * 1000000000) /* connect and upgrade, as k6's default */
#define CLOSE_WAIT_NS (2LL * 1000000000)  /* how long a sent close waits for its answer */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define NO_ERR (-1)
#define IO_AGAIN (-1) /* io_read, io_write: nothing now; c->rd_wait or c->wr_wait says what to wait for */
#define IO_ERR (-2)
/*
 * Bounds on what a session holds (see the README's Limits). The plan's own
 * sends wait (W_SEND) while WS_SEND_WINDOW_* is queued ahead of the socket,
 * rather than pile up behind a peer that does not read. A peer breaking
 * the others ends the session: more than WS_MAX_FRAGMENTS frames in one
 * message (each costs wslay a chunk; bytes are bounded by maxMessageSize),
 * or WS_MAX_PONGS more queued messages than the window, which only the
 * pongs wslay queues for a peer's pings can make.
 */
#define WS_MAX_FRAGMENTS 4096
#define WS_SEND_WINDOW_MSGS 4096
#define WS_SEND_WINDOW_BYTES ((size_t)32 << 20)
#define WS_MAX_PONGS 1024
#define WS_MAX_QUEUED (WS_SEND_WINDOW_MSGS + WS_MAX_PONGS)

/* A ws step, prepared once at init. */
typedef struct ws_rt {
	int ok;               /* the URL is one the driver can dial */
	int tls;              /* wss:// */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char *hostport;       /* for the Host header */
	char *host;           /* for SNI and the certificate check (wss://): no brackets, no port */
	const char *path;     /* into the step's url: "/chat?room={{ __VU }}" */
	char *refused;        /* why --allow-target refuses the address, NULL when it does not */
} ws_rt;

typedef struct ws_conn ws_conn;

typedef struct ws_state {
	worker *w;
	const plan *p;
	size_t *first;  /* per scenario: index of its first step in rts */
	ws_rt *rts;
	size_t nrts;
	dheap deadlines; /* sessions with a deadline */
	sbuf tmp;       /* rendered templates of the send in progress */
	char *hs;       /* HS_MAX + 1 bytes: upgrade responses are read here */
	tlsconn_cfg *tls; /* for wss:// steps, NULL when the plan has none */
	int cert_logged;  /* a refused certificate was logged (once per worker) */
} ws_state;

typedef enum ws_phase {
	WP_IDLE = 0,
	WP_FAILED,     /* failed inside start(): reported from the timer */
	WP_CONNECTING,
	WP_TLS,        /* the TLS handshake of wss:// */
	WP_HS_SEND,
	WP_HS_RECV,
	WP_OPEN,
} ws_phase;

/* W_SEND: the send queue is full; the session goes on once the socket took some. */
typedef enum ws_wait { W_NONE = 0, W_EXPECT, W_SLEEP, W_CLOSE, W_SEND } ws_wait;

/* One level of the interpreter: the session's ops, or a loop's body. */
typedef struct ws_frame {
	const plan_ws_op *ops;
	size_t nops, pc;
	int64_t count, seq; /* rounds to run and the current one ({{ seq }}) */
} ws_frame;

struct ws_conn {
	ws_state *st;
	vu *v;
	const plan_step *s;
	const ws_rt *rt;
	int fd;
	uint32_t events;
	ws_phase phase;
	int err;              /* the session's first error, NO_ERR when none */
	int status;           /* the upgrade's HTTP status */
	sbuf out;             /* the upgrade request, freed once sent */
	size_t out_sent;
	char *in;             /* a partial upgrade response, or the bytes after it (for wslay); NULL when none */
	size_t in_len, in_off;
	char accept[32];      /* the Sec-WebSocket-Accept we expect */
	/*
	 * wslay's context (8.8 KB, its 4 KB input and output buffers inside)
	 * exists only while the session has something to do: it is made when
	 * bytes arrive or a send, ping or close is due, and freed once wslay
	 * holds nothing (ctx_release_idle). NULL while the session idles.
	 */
	wslay_event_context_ptr ctx;
	int64_t t_start, t_open;
	int64_t hs_deadline, next_ping;
	dheap_node dl;  /* the nearest of its waits, in the state's heap */
	ws_frame fr[PLAN_WS_MAX_DEPTH];
	int depth;
	ws_wait wait;
	int64_t wait_until;
	const plan_ws_op *exp;
	int64_t exp_got;
	sbuf exp_val;         /* the expect's value, rendered */
	int64_t last_send;    /* a send not yet answered by a met expect, 0 when none */
	uint8_t we_closed;    /* we sent the first close frame */
	uint8_t eof;          /* the peer closed the TCP connection */
	int close_code;       /* a close to queue once the data queue is empty, 0 when none */
	int abnormal_code;    /* the close code of an abnormal end (1006: no close frame), 0 when none */
	uint64_t bytes_in, bytes_out;
	uint64_t rng;
	wsframe_scan ot;       /* what send_cb has written: counts data messages sent */
	wsframe_scan it;       /* what recv_cb has handed to wslay: where its frames end */
	tlsconn *tls;          /* wss://: the TLS session over fd */
	uint32_t rd_wait;      /* what a read waits for: EPOLLIN, or EPOLLOUT when TLS must write first */
	uint32_t wr_wait;      /* what a write waits for: EPOLLOUT, or EPOLLIN when TLS must read first */
	int64_t t_tls_start, t_tls_done;
	uint32_t in_frames;     /* frames of the message being received */
	int limit_err;          /* a bound the peer broke (error kind), NO_ERR when none */
};

/* ---- deadlines ---- */

/* Sets c's deadline to the nearest of its waits. Returns a herd_err. */
static int rearm(ws_conn *c)
{
	ws_state *st = c->st;
	int64_t d = INT64_MAX;

	if (c->phase == WP_FAILED)
		d = c->t_start;
	else if (c->phase >= WP_CONNECTING && c->phase <= WP_HS_RECV)
		d = c->hs_deadline;
	else if (c->phase == WP_OPEN) {
		if (c->wait != W_NONE)
			d = c->wait_until;
		if (c->next_ping > 0 && c->wait != W_CLOSE && c->next_ping < d)
			d = c->next_ping;
	}
	if (d == INT64_MAX) {
		dheap_remove(&st->deadlines, &c->dl);
		return HERD_OK;
	}
	return dheap_set(&st->deadlines, &c->dl, d) == 0 ? HERD_OK : HERD_ENOMEM;
}

/* ---- metrics ---- */

static void count_msgs(ws_conn *c, int metric, uint64_t n)
{
	agg *a = worker_agg(c->st->w);
	if (a != NULL)
		agg_count(a, (agg_key){ .metric = (uint8_t)metric, .method = 0xff,
		                        .scenario = c->v->scenario, .step = c->v->step }, n);
}

static void observe_rtt(ws_conn *c, int64_t now)
{
	agg *a = worker_agg(c->st->w);
	if (a != NULL)
		agg_observe(a, (agg_key){ .metric = AM_WS_MSG_RTT, .method = 0xff,
		                          .scenario = c->v->scenario, .step = c->v->step },
		            now > c->last_send ? (uint64_t)(now - c->last_send) / 1000 : 0);
}

/* The expect c waits for passed or failed: one sample of its check. */
static void expect_result(ws_conn *c, int ok)
{
	if (c->exp != NULL)
		worker_ws_check(c->st->w, c->v, c->exp->check, ok);
}

static uint64_t span_us(int64_t a, int64_t b)
{
	return b > a ? (uint64_t)(b - a) / 1000 : 0;
}

/* ---- connections ---- */

static void on_fd(void *arg, int fd, uint32_t events);

/* Drops what c->in holds: a partial upgrade response or frames for wslay. */
static void in_free(ws_conn *c)
{
	free(c->in);
	c->in = NULL;
	c->in_len = c->in_off = 0;
}

static void conn_close(ws_conn *c)
{
	if (c->ctx != NULL) {
		wslay_event_context_free(c->ctx);
		c->ctx = NULL;
	}
	in_free(c);
	if (c->tls != NULL) {
		tlsconn_free(c->tls);
		c->tls = NULL;
	}
	if (c->fd >= 0) {
		worker_unwatch(c->st->w, c->fd);
		close(c->fd);
		c->fd = -1;
	}
	c->events = 0;
}

static int conn_watch(ws_conn *c, uint32_t events)
{
	if (c->events == events)
		return HERD_OK;
	int rv = worker_watch(c->st->w, c->fd, events, on_fd, c);
	if (rv == HERD_OK)
		c->events = events;
	return rv;
}

/*
 * Ends the session and reports it. The report is the last thing done: the
 * worker may start v's next step, and with it a new session on c, from
 * inside worker_ws_done().
 */
static void finish(ws_conn *c, int err)
{
	ws_result r;
	int64_t now = clock_mono_ns();

	memset(&r, 0, sizeof(r));
	/* The session ended while an expect waited: that expect failed. */
	if (c->phase == WP_OPEN && c->wait == W_EXPECT)
		expect_result(c, 0);
	if (c->err == NO_ERR)
		c->err = err;
	r.err = c->err;
	r.status = c->status;
	r.opened = c->t_open != 0;
	r.connecting_us = span_us(c->t_start, c->t_open);
	r.duration_us = span_us(c->t_start, now);
	/* Over TLS the bytes are counted on the socket, records and all. */
	if (c->tls != NULL)
		tlsconn_bytes(c->tls, &c->bytes_in, &c->bytes_out);
	r.bytes_in = c->bytes_in;
	r.bytes_out = c->bytes_out;
	r.close_code = r.err == ERRK_WS_CLOSED ? c->abnormal_code : 0;
	r.tls = c->t_tls_done != 0;
	r.tls_us = span_us(c->t_tls_start, c->t_tls_done);
	dheap_remove(&c->st->deadlines, &c->dl);
	conn_close(c);
	c->phase = WP_IDLE;
	c->wait = W_NONE;
	worker_ws_done(c->st->w, c->v, &r);
}

/* ---- reading and writing, with or without TLS ---- */

/*
 * Reads up to len bytes. Returns n > 0, 0 at the end of the stream, IO_AGAIN
 * when nothing can be read now (c->rd_wait: the readiness to wait for), or
 * IO_ERR when the connection failed.
 */
static ssize_t io_read(ws_conn *c, void *buf, size_t len)
{
	c->rd_wait = EPOLLIN;
	if (c->tls != NULL) {
		ssize_t n = tlsconn_read(c->tls, buf, len);
		if (n >= 0)
			return n;
		if (n == TLSC_WANT_READ || n == TLSC_WANT_WRITE) {
			c->rd_wait = n == TLSC_WANT_WRITE ? EPOLLOUT : EPOLLIN;
			return IO_AGAIN;
		}
		return IO_ERR;
	}
	for (;;) {
		ssize_t n = recv(c->fd, buf, len, 0);
		if (n >= 0) {
			c->bytes_in += (uint64_t)n;
			return n;
		}
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? IO_AGAIN : IO_ERR;
	}
}

/* Writes up to len bytes. Returns the n > 0 bytes taken, IO_AGAIN (c->wr_wait:
 * the readiness to wait for; then write the same bytes again), or IO_ERR. */
static ssize_t io_write(ws_conn *c, const void *buf, size_t len)
{
	c->wr_wait = EPOLLOUT;
	if (c->tls != NULL) {
		ssize_t n = tlsconn_write(c->tls, buf, len);
		if (n > 0)
			return n;
		if (n == TLSC_WANT_READ || n == TLSC_WANT_WRITE) {
			c->wr_wait = n == TLSC_WANT_READ ? EPOLLIN : EPOLLOUT;
			return IO_AGAIN;
		}
		return IO_ERR;
	}
	for (;;) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			c->bytes_out += (uint64_t)n;
			return n;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? IO_AGAIN : IO_ERR;
	}
}

/* ---- the session interpreter ---- */

static void render(ws_conn *c, const plan_ws_op *op, sbuf *b)
{
	tmpl_env env;
	worker_tmpl_env(c->st->w, c->v, &env);
	env.seq = c->depth > 0 ? c->fr[c->depth].seq : 0;
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
	tmpl_render(&op->t, &env, b);
}

/*
 * Closes with code once the messages queued before it are sent: wslay sends
 * control frames ahead of data and drops data queued behind a close, so
 * pump() queues the close frame only when the data queue is empty. The
 * session ends when the peer answers (or CLOSE_WAIT_NS passes).
 */
static void start_close(ws_conn *c, int code)
{
	if (c->wait != W_CLOSE)
		c->close_code = code;
	c->wait = W_CLOSE;
	c->wait_until = clock_mono_ns() + CLOSE_WAIT_NS;
}

/* Whether the plan's next send waits: enough is queued ahead of the socket. */
static int send_window_full(ws_conn *c)
{
	return wslay_event_get_queued_msg_count(c->ctx) >= WS_SEND_WINDOW_MSGS ||
	       wslay_event_get_queued_msg_length(c->ctx) >= WS_SEND_WINDOW_BYTES;
}

/* Runs operations until one waits (expect, think, hold, a full send queue)
 * or the session closes. */
static void advance(ws_conn *c)
{
	while (c->wait == W_NONE) {
		ws_frame *f = &c->fr[c->depth];
		int64_t now = clock_mono_ns();

		if (f->pc >= f->nops) {
			if (c->depth == 0) {
				start_close(c, 1000);
				return;
			}
			if (++f->seq < f->count) {
				f->pc = 0;
				continue;
			}
			c->depth--;
			c->fr[c->depth].pc++;
			continue;
		}
		const plan_ws_op *op = &f->ops[f->pc];
		switch (op->kind) {
		case WSOP_SEND: {
			if (send_window_full(c)) {
				c->wait = W_SEND;
				c->wait_until = INT64_MAX;
				return;
			}
			struct wslay_event_msg m = { .opcode = op->binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME };
			if (op->templated) {
				render(c, op, &c->st->tmp);
				if (c->st->tmp.oom) {
					c->err = ERRK_OTHER;
					start_close(c, 1011);
					return;
				}
				m.msg = (const uint8_t *)c->st->tmp.p;
				m.msg_length = c->st->tmp.len;
			} else {
				m.msg = (const uint8_t *)op->text;
				m.msg_length = op->text_len;
			}
			/* wslay copies the message; it counts as sent once written (send_cb). */
			if (wslay_event_queue_msg(c->ctx, &m) != 0) {
				c->err = ERRK_OTHER;
				start_close(c, 1011);
				return;
			}
			c->last_send = now;
			f->pc++;
			break;
		}
		case WSOP_EXPECT:
			c->exp = op;
			c->exp_got = 0;
			if (op->match != WSM_ANY) {
				if (op->templated)
					render(c, op, &c->exp_val);
				else {
					c->exp_val.len = 0;
					sbuf_add(&c->exp_val, op->text, op->text_len);
				}
			}
			c->wait = W_EXPECT;
			c->wait_until = now + op->within_ms * 1000000;
			return;
		case WSOP_LOOP:
			if (op->count == 0 || c->depth + 1 >= PLAN_WS_MAX_DEPTH) {
				f->pc++;
				break;
			}
			c->depth++;
			c->fr[c->depth] = (ws_frame){ .ops = op->ops, .nops = op->nops, .count = op->count };
			break;
		case WSOP_THINK:
		case WSOP_HOLD: {
			int64_t ms = op->min_ms;
			if (op->max_ms > op->min_ms) {
				c->rng ^= c->rng << 13;
				c->rng ^= c->rng >> 7;
				c->rng ^= c->rng << 17;
				ms += (int64_t)(c->rng % (uint64_t)(op->max_ms - op->min_ms + 1));
			}
			c->wait = W_SLEEP;
			c->wait_until = now + ms * 1000000;
			return;
		}
		case WSOP_CLOSE:
			f->pc = f->nops;
			c->depth = 0;
			start_close(c, op->close_code);
			return;
		}
	}
}

static int matches(ws_conn *c, const uint8_t *msg, size_t len)
{
	const plan_ws_op *op = c->exp;
	const char *want = c->exp_val.p != NULL ? c->exp_val.p : "";

	switch (op->match) {
	case WSM_ANY: return 1;
	case WSM_CONTAINS: return memmem(msg, len, want, c->exp_val.len) != NULL;
	case WSM_JSON: {
		json_t *root = json_loadb((const char *)msg, len, JSON_DECODE_ANY, NULL);
		int ok = 0;
		if (root != NULL) {
			ok = jpath_equals(jpath_get(root, op->json_path), want);
			json_decref(root);
		}
		return ok;
	}
	}
	return 0;
}

/* ---- wslay callbacks ---- */

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
	ws_conn *c = user;
	(void)flags;
	if (c->limit_err != NO_ERR) {
		/* The peer broke a bound: read nothing more, the session ends. */
		c->eof = 1;
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	/* Frames that came in with the upgrade response go first. Every byte
	 * handed to wslay also goes through c->it, to know where frames end. */
	if (c->in_off < c->in_len) {
		size_t n = c->in_len - c->in_off < len ? c->in_len - c->in_off : len;
		memcpy(buf, c->in + c->in_off, n);
		c->in_off += n;
		wsframe_feed(&c->it, buf, n);
		return (ssize_t)n;
	}
	ssize_t n = io_read(c, buf, len);
	if (n > 0) {
		wsframe_feed(&c->it, buf, (size_t)n);
		return n;
	}
	if (n == IO_AGAIN) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	c->eof = 1;
	wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
	ws_conn *c = user;
	(void)flags;
	/* wslay sends the same bytes again after a WOULDBLOCK, as TLS needs. */
	ssize_t n = io_write(c, data, len);
	if (n > 0) {
		uint64_t sent = wsframe_feed(&c->ot, data, (size_t)n);
		if (sent > 0)
			count_msgs(c, AM_WS_MSGS_SENT, sent);
		return n;
	}
	if (n == IO_AGAIN) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
	} else {
		c->eof = 1;
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	}
	return -1;
}

/* Masks only keep proxies from mistaking frames for requests; they need not
 * be secret, so a cheap generator per session serves. */
static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
	ws_conn *c = user;
	(void)ctx;
	for (size_t i = 0; i < len; i++) {
		c->rng ^= c->rng << 13;
		c->rng ^= c->rng >> 7;
		c->rng ^= c->rng << 17;
		buf[i] = (uint8_t)(c->rng >> 24);
	}
	return 0;
}

static void on_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user)
{
	ws_conn *c = user;
	(void)ctx;
	if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME)
		return; /* wslay answers pings and closes by itself */
	count_msgs(c, AM_WS_MSGS_RECEIVED, 1);
	if (c->wait != W_EXPECT || !matches(c, arg->msg, arg->msg_length))
		return;
	if (++c->exp_got < c->exp->count)
		return;
	if (c->last_send != 0) {
		observe_rtt(c, clock_mono_ns());
		c->last_send = 0;
	}
	expect_result(c, 1);
	c->wait = W_NONE;
	c->fr[c->depth].pc++;
	/* Go on at once, so the next messages of this read meet the next expect. */
	advance(c);
}

/* Records that the peer broke a bound; recv_cb then ends the session. */
static void over_limit(ws_conn *c, int kind)
{
	if (c->limit_err == NO_ERR)
		c->limit_err = kind;
	if (c->err == NO_ERR)
		c->err = kind;
}

/*
 * Sees each frame's header before wslay buffers it. wslay bounds a message's
 * bytes (maxMessageSize) but not its frames, each of which costs a chunk,
 * nor the pongs it queues for pings that a peer reading nothing sends.
 */
static void on_frame_start_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_frame_recv_start_arg *arg,
                              void *user)
{
	ws_conn *c = user;
	if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME)
		c->in_frames = 1;
	else if (arg->opcode == WSLAY_CONTINUATION_FRAME && ++c->in_frames > WS_MAX_FRAGMENTS)
		over_limit(c, ERRK_WS_TOO_BIG);
	else if (arg->opcode == WSLAY_PING && wslay_event_get_queued_msg_count(ctx) >= WS_MAX_QUEUED)
		over_limit(c, ERRK_WS_QUEUE_FULL);
}

static const struct wslay_event_callbacks callbacks = {
	.recv_callback = recv_cb,
	.on_frame_recv_start_callback = on_frame_start_cb,
	.send_callback = send_cb,
	.genmask_callback = genmask_cb,
	.on_msg_recv_callback = on_msg_cb,
};

/* ---- wslay's context, only while the session is busy ---- */

/* Makes c's wslay context if it has none. Returns a herd_err. */
static int ctx_ensure(ws_conn *c)
{
	if (c->ctx != NULL)
		return HERD_OK;
	if (wslay_event_context_client_init(&c->ctx, &callbacks, c) != 0) {
		c->ctx = NULL;
		return HERD_ENOMEM;
	}
	wslay_event_config_set_max_recv_msg_length(c->ctx, (uint64_t)c->s->ws->max_message);
	return HERD_OK;
}

/*
 * Frees c's wslay context when it holds no state a new one would lack: no
 * output queued or half written, no input buffered, no partial frame or
 * fragmented message, no close sent, queued or received. wslay reads
 * until its recv callback would block, so after wslay_event_recv() its
 * input buffer holds at most the start of a frame; c->it, which saw every
 * byte handed to wslay, says whether even that is empty (wslay has no such
 * query). A new context then starts exactly where this one stands.
 */
static void ctx_release_idle(ws_conn *c)
{
	if (c->ctx == NULL || c->eof || c->close_code != 0 || c->wait == W_CLOSE || c->limit_err != NO_ERR ||
	    c->in_off < c->in_len || !wsframe_at_rest(&c->it) || !wsframe_at_rest(&c->ot))
		return;
	if (!wslay_event_want_read(c->ctx) || wslay_event_want_write(c->ctx) ||
	    wslay_event_get_queued_msg_count(c->ctx) > 0 || wslay_event_get_close_sent(c->ctx) ||
	    wslay_event_get_close_received(c->ctx))
		return;
	wslay_event_context_free(c->ctx);
	c->ctx = NULL;
	in_free(c);
}

/* ---- the open session ---- */

/* How an open session ended, once wslay wants neither to read nor write. An
 * abnormal close leaves its code in c->abnormal_code. */
static int end_kind(ws_conn *c)
{
	if (wslay_event_get_close_received(c->ctx)) {
		uint16_t code = wslay_event_get_status_code_received(c->ctx);
		if (c->wait == W_EXPECT)
			return ERRK_WS_EXPECT; /* the server left before it answered */
		if (c->we_closed || code == WSLAY_CODE_NORMAL_CLOSURE || code == WSLAY_CODE_GOING_AWAY ||
		    code == WSLAY_CODE_NO_STATUS_RCVD)
			return NO_ERR;
		if (code == WSLAY_CODE_PROTOCOL_ERROR)
			return ERRK_WS_PROTOCOL;
		c->abnormal_code = code;
		return ERRK_WS_CLOSED;
	}
	uint16_t sent = wslay_event_get_status_code_sent(c->ctx);
	if (!c->we_closed && sent == WSLAY_CODE_MESSAGE_TOO_BIG)
		return ERRK_WS_TOO_BIG; /* wslay refused a message over maxMessageSize */
	if (!c->we_closed && (sent == WSLAY_CODE_PROTOCOL_ERROR || sent == WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA))
		return ERRK_WS_PROTOCOL;
	/* The TCP connection ended without a close frame: code 1006. */
	c->abnormal_code = WSLAY_CODE_ABNORMAL_CLOSURE;
	return ERRK_WS_CLOSED;
}

/* Sends what wslay has queued and watches for what it wants next; ends the
 * session when it wants nothing. Returns 1 when c was finished. */
static int pump(ws_conn *c)
{
	for (;;) {
		if (!c->eof && wslay_event_want_write(c->ctx) && wslay_event_send(c->ctx) != 0 && !c->eof)
			c->eof = 1;
		if (c->wait == W_SEND && !c->eof && !send_window_full(c)) {
			c->wait = W_NONE;
			advance(c);
			continue;
		}
		if (c->eof || c->close_code == 0 || wslay_event_get_queued_msg_count(c->ctx) > 0)
			break;
		if (!wslay_event_get_close_sent(c->ctx)) {
			c->we_closed = !wslay_event_get_close_received(c->ctx);
			wslay_event_queue_close(c->ctx, (uint16_t)c->close_code, NULL, 0);
		}
		c->close_code = 0;
	}
	int rd = !c->eof && wslay_event_want_read(c->ctx);
	int wr = !c->eof && wslay_event_want_write(c->ctx);
	if (!rd && !wr) {
		/* A close we started and sent ends the session cleanly, whether the
		 * peer answered it with a close frame or just closed the connection. */
		finish(c, c->we_closed && wslay_event_get_close_sent(c->ctx) ? NO_ERR : end_kind(c));
		return 1;
	}
	/* Over TLS a read may have to wait for writable, a write for readable. */
	if (conn_watch(c, (rd ? c->rd_wait : 0) | (wr ? c->wr_wait : 0)) != HERD_OK || rearm(c) != HERD_OK) {
		finish(c, ERRK_OTHER);
		return 1;
	}
	ctx_release_idle(c);
	return 0;
}

static void on_open_io(ws_conn *c, uint32_t events)
{
	if (ctx_ensure(c) != HERD_OK) {
		finish(c, ERRK_OTHER);
		return;
	}
	if (events & (c->rd_wait | EPOLLERR | EPOLLHUP)) {
		/* A read error leaves c->eof set; frames read before it were handled. */
		if (wslay_event_recv(c->ctx) != 0 && !c->eof)
			c->eof = 1;
	}
	pump(c);
}

/* ---- the upgrade ---- */

/* Value of header name in the response head (lines end with CRLF), or NULL. */
static const char *header(const char *head, const char *name, size_t *len)
{
	size_t nl = strlen(name);
	for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p, "\r\n")) {
		p += 2;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1, *e;
			while (*v == ' ' || *v == '\t')
				v++;
			e = strstr(v, "\r\n");
			if (e == NULL)
				return NULL;
			while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			*len = (size_t)(e - v);
			return v;
		}
	}
	return NULL;
}

/* Checks the upgrade response in head[0..hlen). Returns NO_ERR or an errk. */
static int check_response(ws_conn *c, char *head, size_t hlen)
{
	const char *v;
	size_t len;
	int st = 0;
	char saved = head[hlen];

	head[hlen] = '\0';
	if (sscanf(head, "HTTP/1.%*[01] %3d", &st) != 1 || st < 100 || st > 999) {
		head[hlen] = saved;
		return ERRK_WS_PROTOCOL;
	}
	c->status = st;
	int err = NO_ERR;
	if (st != 101)
		err = ERRK_WS_REJECTED;
	else if ((v = header(head, "Sec-WebSocket-Accept", &len)) == NULL ||
	         len != strlen(c->accept) || memcmp(v, c->accept, len) != 0)
		err = ERRK_WS_BAD_ACCEPT;
	else if ((v = header(head, "Upgrade", &len)) == NULL || len != 9 ||
	         strncasecmp(v, "websocket", 9) != 0)
		err = ERRK_WS_PROTOCOL;
	head[hlen] = saved;
	return err;
}

static void begin_session(ws_conn *c)
{
	if (ctx_ensure(c) != HERD_OK) {
		finish(c, ERRK_OTHER);
		return;
	}
	c->in_frames = 0;
	c->limit_err = NO_ERR;
	c->phase = WP_OPEN;
	c->t_open = clock_mono_ns();
	c->depth = 0;
	c->fr[0] = (ws_frame){ .ops = c->s->ws->ops, .nops = c->s->ws->nops, .count = 1 };
	if (c->s->ws->ping_ms > 0)
		c->next_ping = c->t_open + c->s->ws->ping_ms * 1000000;
	advance(c);
	/* Frames may have come with the response, in c->in or still in the TLS
	 * session's buffer where epoll cannot see them; let wslay read them now. */
	if ((c->in_off < c->in_len || (c->tls != NULL && tlsconn_pending(c->tls) > 0)) &&
	    wslay_event_recv(c->ctx) != 0 && !c->eof)
		c->eof = 1;
	pump(c);
}

/* Makes c->in a copy of buf[0..n), or none when n is 0. Returns a herd_err. */
static int keep_in(ws_conn *c, const char *buf, size_t n)
{
	char *p = NULL;
	if (n > 0) {
		if ((p = malloc(n)) == NULL)
			return HERD_ENOMEM;
		memcpy(p, buf, n);
	}
	in_free(c);
	c->in = p;
	c->in_len = n;
	return HERD_OK;
}

/*
 * Reads the upgrade response into the worker's buffer, so that a session
 * keeps none: only a response split across reads keeps its start (in
 * c->in), and only frames that came with it are kept for wslay.
 */
static void hs_read(ws_conn *c)
{
	char *buf = c->st->hs;
	size_t have = c->in_len;

	if (have > 0)
		memcpy(buf, c->in, have);
	for (;;) {
		ssize_t n = io_read(c, buf + have, HS_MAX - have);
		if (n == IO_AGAIN) {
			if (keep_in(c, buf, have) != HERD_OK || conn_watch(c, c->rd_wait) != HERD_OK)
				finish(c, ERRK_OTHER);
			return;
		}
		if (n <= 0) {
			finish(c, have > 0 ? ERRK_WS_PROTOCOL : ERRK_RESET);
			return;
		}
		have += (size_t)n;
		buf[have] = '\0';
		const char *end = strstr(buf, "\r\n\r\n");
		if (end == NULL) {
			if (have >= HS_MAX) {
				finish(c, ERRK_WS_PROTOCOL);
				return; /* c may already run the VU's next session */
			}
			continue;
		}
		size_t hlen = (size_t)(end + 4 - buf);
		int err = check_response(c, buf, hlen);
		if (err == NO_ERR && keep_in(c, buf + hlen, have - hlen) != HERD_OK)
			err = ERRK_OTHER;
		if (err != NO_ERR) {
			finish(c, err);
			return;
		}
		begin_session(c);
		return;
	}
}

static void hs_send(ws_conn *c)
{
	while (c->out_sent < c->out.len) {
		ssize_t n = io_write(c, c->out.p + c->out_sent, c->out.len - c->out_sent);
		if (n > 0) {
			c->out_sent += (size_t)n;
			continue;
		}
		if (n == IO_AGAIN) {
			if (conn_watch(c, c->wr_wait) != HERD_OK)
				finish(c, ERRK_OTHER);
			return;
		}
		finish(c, ERRK_RESET);
		return;
	}
	/* The request is out: a session keeps no copy of it. */
	free(c->out.p);
	memset(&c->out, 0, sizeof(c->out));
	c->phase = WP_HS_RECV;
	c->rd_wait = EPOLLIN;
	if (conn_watch(c, EPOLLIN) != HERD_OK)
		finish(c, ERRK_OTHER);
}

/* Advances the TLS handshake of a wss:// session; the upgrade follows it. */
static void tls_step(ws_conn *c)
{
	int rv = tlsconn_handshake(c->tls);
	if (rv == TLSC_OK) {
		c->t_tls_done = clock_mono_ns();
		c->phase = WP_HS_SEND;
		hs_send(c);
		return;
	}
	if (rv == TLSC_WANT_READ || rv == TLSC_WANT_WRITE) {
		if (conn_watch(c, rv == TLSC_WANT_READ ? EPOLLIN : EPOLLOUT) != HERD_OK)
			finish(c, ERRK_OTHER);
		return;
	}
	if (rv == TLSC_ECERT && !c->st->cert_logged) {
		char why[256];
		c->st->cert_logged = 1;
		log_warn("wss://%s: the server's certificate was refused: %s (further refusals are counted as "
		         "'tls' errors, not logged)",
		         c->rt->hostport, tlsconn_cert_error(c->tls, why, sizeof(why)));
	}
	finish(c, rv == TLSC_ECLOSED ? ERRK_RESET : ERRK_TLS);
}

static void on_fd(void *arg, int fd, uint32_t events)
{
	ws_conn *c = arg;
	(void)fd;
	switch (c->phase) {
	case WP_IDLE:
	case WP_FAILED: return;
	case WP_CONNECTING: {
		int e = 0;
		socklen_t len = sizeof(e);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
			e = errno;
		if (e != 0) {
			finish(c, e == ETIMEDOUT ? ERRK_TIMEOUT : ERRK_CONNREFUSED);
			return;
		}
		if (c->rt->tls) {
			c->t_tls_start = clock_mono_ns();
			if (tlsconn_new(c->st->tls, c->fd, c->rt->host, &c->tls) != HERD_OK) {
				finish(c, ERRK_OTHER);
				return;
			}
			c->phase = WP_TLS;
			tls_step(c);
			return;
		}
		c->phase = WP_HS_SEND;
		hs_send(c);
		return;
	}
	case WP_TLS: tls_step(c); return;
	case WP_HS_SEND:
		/* Readable while the request is not all out: the server answered
		 * early or closed, unless TLS itself waits to read. */
		if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && c->wr_wait != EPOLLIN) {
			c->phase = WP_HS_RECV;
			hs_read(c);
			return;
		}
		hs_send(c);
		return;
	case WP_HS_RECV: hs_read(c); return;
	case WP_OPEN: on_open_io(c, events); return;
	}
}

/* SHA-1 as mbedTLS 2.x (Debian 12) and 3.x spell it. */
static int ws_sha1(const unsigned char *in, size_t len, unsigned char out[20])
{
#if MBEDTLS_VERSION_MAJOR >= 3
	return mbedtls_sha1(in, len, out);
#else
	return mbedtls_sha1_ret(in, len, out);
#endif
}

/* Builds the upgrade request with a fresh key, and the accept it must bring. */
static int build_request(ws_conn *c)
{
	unsigned char raw[16], sha[20];
	unsigned char key[32], acc[40];
	size_t klen = 0, alen = 0;
	sbuf *b = &c->out;
	const plan_ws *ws = c->s->ws;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return HERD_EIO;
	memcpy(&c->rng, raw, sizeof(c->rng));
	c->rng |= 1;
	if (mbedtls_base64_encode(key, sizeof(key), &klen, raw, sizeof(raw)) != 0)
		return HERD_EINTERNAL;
	char cat[64];
	memcpy(cat, key, klen);
	memcpy(cat + klen, WS_GUID, sizeof(WS_GUID) - 1);
	if (ws_sha1((const unsigned char *)cat, klen + sizeof(WS_GUID) - 1, sha) != 0 ||
	    mbedtls_base64_encode(acc, sizeof(acc), &alen, sha, sizeof(sha)) != 0 ||
	    alen >= sizeof(c->accept))
		return HERD_EINTERNAL;
	memcpy(c->accept, acc, alen);
	c->accept[alen] = '\0';

	b->len = 0;
	sbuf_str(b, "GET ");
	if (ws->url_templated) {
		tmpl_env env;
		worker_tmpl_env(c->st->w, c->v, &env);
		tmpl_render(&ws->t_path, &env, b);
	} else {
		sbuf_str(b, c->rt->path);
	}
	sbuf_str(b, " HTTP/1.1\r\nHost: ");
	sbuf_str(b, c->rt->hostport);
	sbuf_str(b, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	            "Sec-WebSocket-Key: ");
	sbuf_add(b, (const char *)key, klen);
	sbuf_str(b, "\r\n");
	for (size_t i = 0; i < ws->nsubprotocols; i++) {
		sbuf_str(b, i == 0 ? "Sec-WebSocket-Protocol: " : ", ");
		sbuf_str(b, ws->subprotocols[i]);
		if (i + 1 == ws->nsubprotocols)
			sbuf_str(b, "\r\n");
	}
	int ua = 0;
	for (size_t i = 0; i < c->s->nheaders; i++) {
		const plan_kv *kv = &c->s->headers[i];
		ua |= strcasecmp(kv->name, "User-Agent") == 0;
		if (kv->value[0] == '\0')
			continue;
		sbuf_str(b, kv->name);
		sbuf_str(b, ": ");
		sbuf_str(b, kv->value);
		sbuf_str(b, "\r\n");
	}
	if (!ua)
		sbuf_str(b, "User-Agent: herd/" HERD_VERSION "\r\n");
	sbuf_str(b, "\r\n");
	return b->oom || c->st->tmp.oom ? HERD_ENOMEM : HERD_OK;
}

/* Opens the connection. Returns NO_ERR or an errk. */
static int conn_open(ws_conn *c)
{
	int connected, err;

	if ((err = tcp_connect(&c->rt->addr, c->rt->addrlen, c->v->src, &c->fd, &connected)) != TCP_OK)
		return err;
	c->events = 0;
	/* Connected or not yet: writable tells either way. */
	c->phase = WP_CONNECTING;
	return conn_watch(c, EPOLLOUT) == HERD_OK ? NO_ERR : ERRK_OTHER;
}

/* ---- driver operations ---- */

/* Splits a ws:// or wss:// URL into rt: the host resolved once, here, to an
 * address of family (AF_UNSPEC: any), and checked against the allowlist allowed. */
static int prepare(const plan_step *s, int family, const allow *allowed, ws_rt *rt)
{
	const char *a, *slash;
	char host[256], port[8] = "80";

	if (s->kind != STEP_WS || s->url == NULL)
		return HERD_OK;
	if (strncasecmp(s->url, "wss://", 6) == 0) {
		rt->tls = 1;
		strcpy(port, "443");
		a = s->url + 6;
	} else if (strncasecmp(s->url, "ws://", 5) == 0) {
		a = s->url + 5;
	} else {
		return HERD_OK;
	}
	size_t hl = strcspn(a, "/?#");
	slash = a + hl;
	if ((rt->hostport = strndup(a, hl)) == NULL)
		return HERD_ENOMEM;
	rt->path = *slash == '/' ? slash : "/";
	if (*slash == '?') /* "ws://h?x" has the path "/" with a query: keep it simple */
		rt->path = "/";
	const char *h = a, *he, *colon;
	if (*h == '[') {
		he = memchr(h, ']', hl);
		if (he == NULL)
			return HERD_OK;
		h++;
		colon = he + 1 < a + hl && he[1] == ':' ? he + 1 : NULL;
	} else {
		colon = memchr(h, ':', hl);
		he = colon != NULL ? colon : a + hl;
	}
	if ((size_t)(he - h) >= sizeof(host))
		return HERD_OK;
	memcpy(host, h, (size_t)(he - h));
	host[he - h] = '\0';
	if (colon != NULL) {
		size_t pl = (size_t)(a + hl - colon - 1);
		if (pl == 0 || pl >= sizeof(port))
			return HERD_OK;
		memcpy(port, colon + 1, pl);
		port[pl] = '\0';
	}
	if (rt->tls && (rt->host = strdup(host)) == NULL)
		return HERD_ENOMEM;
	rt->ok = tcp_resolve(host, port, family, &rt->addr, &rt->addrlen) == 0;
	/* A step outside --allow-target keeps why, and its sessions are refused, never dialed. */
	return rt->ok ? allow_addr_refusal(allowed, host, (const struct sockaddr *)&rt->addr, &rt->refused) : HERD_OK;
}

static void ws_fini(void *state);

static int ws_init(worker *w, void **state)
{
	const plan *p = worker_plan(w);
	ws_state *st = calloc(1, sizeof(*st));
	int rv = HERD_ENOMEM;

	if (st == NULL)
		return HERD_ENOMEM;
	st->w = w;
	st->p = p;
	if ((st->hs = malloc(HS_MAX + 1)) == NULL)
		goto fail;
	if ((st->first = calloc(p->nscenarios + 1, sizeof(*st->first))) == NULL)
		goto fail;
	st->nrts = plan_step_offsets(p, st->first);
	if ((st->rts = calloc(st->nrts + 1, sizeof(*st->rts))) == NULL)
		goto fail;
	int tls = 0;
	for (size_t i = 0; i < p->nscenarios; i++)
		for (size_t j = 0; j < p->scenarios[i].nsteps; j++) {
			ws_rt *rt = &st->rts[st->first[i] + j];
			if ((rv = prepare(&p->scenarios[i].steps[j], worker_src_family(w), worker_allow(w), rt)) != HERD_OK)
				goto fail;
			tls |= rt->tls;
		}
	if (tls) {
		/* One configuration per worker: its random generator is not shared
		 * between threads. The agent checked the CA file when it took the
		 * assignment, so a failure here is unexpected. */
		char err[512];
		if ((rv = tlsconn_cfg_new(&p->tls, &st->tls, err, sizeof(err))) != HERD_OK) {
			log_error("%s", err);
			goto fail;
		}
	}
	*state = st;
	return HERD_OK;
fail:
	ws_fini(st);
	return rv;
}

/* Frees the state; the VUs' sessions were released first, by vu_release. */
static void ws_fini(void *state)
{
	ws_state *st = state;
	if (st == NULL)
		return;
	for (size_t i = 0; i < st->nrts; i++) {
		free(st->rts[i].hostport);
		free(st->rts[i].host);
		free(st->rts[i].refused);
	}
	tlsconn_cfg_free(st->tls);
	free(st->rts);
	free(st->first);
	dheap_fini(&st->deadlines);
	free(st->tmp.p);
	free(st->hs);
	free(st);
}

static int ws_start(void *state, vu *v, const plan_step *s)
{
	ws_state *st = state;
	ws_conn *c = v->ws_conn;
	const plan_scenario *sc = v->scenario < st->p->nscenarios ? &st->p->scenarios[v->scenario] : NULL;

	if (sc == NULL || s < sc->steps || s >= sc->steps + sc->nsteps || s->kind != STEP_WS)
		return HERD_EINVAL;
	const ws_rt *rt = &st->rts[st->first[v->scenario] + (size_t)(s - sc->steps)];
	if (rt->refused != NULL) {
		allow_log_refusal(rt->refused);
		return HERD_EREFUSED;
	}
	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return HERD_ENOMEM;
		c->st = st;
		c->v = v;
		c->fd = -1;
		dheap_node_init(&c->dl);
		v->ws_conn = c;
	}
	c->s = s;
	c->rt = rt;
	c->err = NO_ERR;
	c->status = 0;
	c->out_sent = 0;
	c->in_len = c->in_off = 0;
	c->t_start = v->sent_ns;
	c->t_open = 0;
	c->hs_deadline = c->t_start + HS_TIMEOUT_NS;
	c->next_ping = 0;
	c->wait = W_NONE;
	c->last_send = 0;
	c->we_closed = c->eof = 0;
	c->close_code = 0;
	c->abnormal_code = 0;
	c->bytes_in = c->bytes_out = 0;
	c->t_tls_start = c->t_tls_done = 0;
	c->rd_wait = EPOLLIN;
	c->wr_wait = EPOLLOUT;
	c->depth = 0;
	memset(&c->ot, 0, sizeof(c->ot));
	memset(&c->it, 0, sizeof(c->it));

	int rv = build_request(c);
	if (rv != HERD_OK)
		return rv;
	int err = c->rt->ok ? conn_open(c) : ERRK_DNS;
	if (err != NO_ERR) {
		/* Reported from the timer at once, as start() never reports. */
		conn_close(c);
		c->phase = WP_FAILED;
		c->err = err;
	}
	if (rearm(c) != HERD_OK) {
		conn_close(c);
		c->phase = WP_IDLE;
		return HERD_ENOMEM;
	}
	return HERD_OK;
}

static int64_t ws_next_timer(void *state)
{
	ws_state *st = state;
	const dheap_node *top = dheap_top(&st->deadlines);
	return top != NULL ? top->at : INT64_MAX;
}

/* A deadline of c passed: a handshake too slow, a wait over, a ping due. */
static void on_deadline(ws_conn *c, int64_t now)
{
	if (c->phase == WP_FAILED) {
		finish(c, c->err);
		return;
	}
	if (c->phase != WP_OPEN) {
		finish(c, ERRK_TIMEOUT);
		return;
	}
	/* A ping, a send after a think or a close may be due: wslay queues them. */
	if (ctx_ensure(c) != HERD_OK) {
		finish(c, ERRK_OTHER);
		return;
	}
	if (c->next_ping > 0 && c->next_ping <= now && c->wait != W_CLOSE) {
		struct wslay_event_msg m = { .opcode = WSLAY_PING, .msg = NULL, .msg_length = 0 };
		wslay_event_queue_msg(c->ctx, &m);
		c->next_ping = now + c->s->ws->ping_ms * 1000000;
	}
	if (c->wait != W_NONE && c->wait_until <= now) {
		switch (c->wait) {
		case W_EXPECT:
			expect_result(c, 0);
			c->err = ERRK_WS_EXPECT;
			start_close(c, 1000);
			break;
		case W_SLEEP:
			c->wait = W_NONE;
			c->fr[c->depth].pc++;
			advance(c);
			break;
		case W_CLOSE:
			/* The peer never answered our close: end here, the close was ours. */
			finish(c, NO_ERR);
			return;
		case W_SEND: /* no deadline: the socket's progress ends it */
		case W_NONE: break;
		}
	}
	pump(c);
}

static void ws_on_timer(void *state)
{
	ws_state *st = state;
	int64_t now = clock_mono_ns();
	/* Each call moves the session's deadline past now or ends it. */
	while (dheap_top(&st->deadlines) != NULL && dheap_top(&st->deadlines)->at <= now)
		on_deadline(DHEAP_ENTRY(dheap_top(&st->deadlines), ws_conn, dl), now);
}

static void ws_cancel(void *state, vu *v)
{
	ws_conn *c = v->ws_conn;
	(void)state;
	if (c == NULL || c->phase == WP_IDLE)
		return;
	dheap_remove(&c->st->deadlines, &c->dl);
	conn_close(c);
	c->phase = WP_IDLE;
}

static void ws_vu_release(void *state, vu *v)
{
	ws_conn *c = v->ws_conn;
	if (c == NULL)
		return;
	ws_cancel(state, v);
	free(c->out.p);
	free(c->exp_val.p);
	free(c->in);
	free(c);
	v->ws_conn = NULL;
}

const driver_ops ws_driver = {
	.name = "ws",
	.init = ws_init,
	.fini = ws_fini,
	.start = ws_start,
	.cancel = ws_cancel,
	.vu_release = ws_vu_release,
	.next_timer = ws_next_timer,
	.on_timer = ws_on_timer,
};
