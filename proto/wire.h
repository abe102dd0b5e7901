/*
 * herd's wire messages: types and their msgpack encoding. No I/O and no
 * threads here: bytes in, structs out, and back. Every message is a msgpack
 * map with at least "v" (protocol version) and "t" (type name). Decoding is
 * strict and bounded: malformed, truncated or hostile bytes give HERD_EPROTO
 * (or HERD_EVERSION) and never a crash, and nothing is allocated in
 * proportion to a count the peer claims before the bytes are there.
 */
#ifndef HERD_PROTO_WIRE_H
#define HERD_PROTO_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/hist.h"
#include "common/metric.h"

/* 3: messages after the handshake travel in SEALED envelopes (proto/seal.h).
 * 4: ASSIGN may carry caps (max_rate, max_vus: a schedule's) that the agent
 *    must apply over the plan's own: an agent that skipped them would run
 *    above a cap, so older agents are refused. */
#define WIRE_VERSION 4
#define WIRE_MAX_MSG (64u << 20) /* larger messages are refused */
/* The largest message an agent may send: the controller's listener refuses
 * more (NNG's receive limit holds for every connection, authenticated or
 * not, so it also bounds what a peer that never authenticates can make the
 * controller hold). An agent's largest message is a METRICS batch: 0.85 MiB
 * for a 2,000-step plan at 50 VUs. */
#define WIRE_MAX_AGENT_MSG (4u << 20)

typedef enum wire_type {
	WIRE_HELLO = 1, /* agent -> controller: who I am */
	WIRE_WELCOME,   /* controller -> agent: accepted */
	WIRE_POLL,      /* agent -> controller: long poll for a command; doubles as heartbeat */
	WIRE_NOP,       /* controller -> agent: nothing to do (reply to POLL); heartbeat */
	WIRE_ASSIGN,    /* controller -> agent: run this share of this plan */
	WIRE_READY,     /* agent -> controller: assignment accepted and parsed */
	WIRE_METRICS,   /* agent -> controller: one interval's batch */
	WIRE_ACK,       /* controller -> agent: batch seq merged (or already had) */
	WIRE_STOP,      /* controller -> agent: stop the run (reason) */
	WIRE_DONE,      /* agent -> controller: run over, last seq sent */
	WIRE_ERROR,     /* either way: something failed (code, message) */
	WIRE_CHALLENGE, /* controller -> agent: its nonce and its proof of the token */
	WIRE_AUTH,      /* agent -> controller: the agent's proof of the token */
	WIRE_TIME,      /* agent -> controller -> agent: one clock round trip */
	WIRE_SEALED,    /* either way: another message with its session MAC (proto/seal.h) */
	WIRE_LOAD,      /* controller -> agent: set a running scenario's load; agent -> controller: the ack */
	WIRE__NTYPES
} wire_type;

/* Wire name of a type ("HELLO"), or "?" when out of range. */
const char *wire_type_name(int t);

/* One metric series for one interval. Strings are owned by the message. */
typedef struct wire_entry {
	char *metric;   /* "http_req_duration", "iterations", "vus", ... */
	char *scenario; /* "" when none */
	char *name;     /* step name, "" when none */
	char *method;   /* "GET", "" when none */
	char *tags;     /* other tags, "key=value" lines sorted by key; NULL or "" when none */
	uint32_t status_class; /* 0: none / no response, 2: 2xx, 4: 4xx, 5: 5xx ...; for
	                        * "ws_close_codes", the close code counted */
	uint64_t count;
	uint64_t errors[ERRK__N];
	uint64_t bytes_in, bytes_out;
	int64_t gauge;  /* for gauges (vus): the last value in the interval */
	hist *h;        /* NULL when the metric has no histogram; owned */
} wire_entry;

typedef struct wire_hello {
	char *agent_id, *name, *host, *version;
	char *caps;       /* capabilities, comma-separated ("http") */
	char *nonce;      /* hex; "" when the agent has no token */
	uint32_t cores;
	uint32_t pid;
	int64_t clock_ns; /* agent CLOCK_REALTIME when sent */
} wire_hello;

typedef struct wire_welcome {
	int64_t clock_ns;     /* controller CLOCK_REALTIME when sent */
	uint32_t heartbeat_ms;
} wire_welcome;

typedef struct wire_poll {
	char *agent_id;
	char *run_id;       /* "" when idle */
	double cpu_pct;     /* process CPU use since the last poll, 100 = one core */
	uint64_t rss_kb;
	int64_t clock_offset_ns; /* agent clock minus controller clock, best round trip */
	int64_t clock_rtt_ns;    /* that round trip */
	int64_t started_ns;      /* when this run's load actually started, agent clock; 0: not yet */
} wire_poll;

typedef struct wire_challenge {
	char *nonce; /* hex, the controller's */
	char *proof; /* hex HMAC: the controller holds the token */
} wire_challenge;

typedef struct wire_auth {
	char *agent_id;
	char *proof; /* hex HMAC: the agent holds the token */
} wire_auth;

typedef struct wire_time {
	char *agent_id;
	int64_t t0; /* agent CLOCK_REALTIME when sent */
	int64_t t1; /* controller CLOCK_REALTIME when answered (0 in the request) */
} wire_time;

/* Named bytes an ASSIGN carries: files the plan reads (feeders, bodies) and
 * environment values its templates use. */
typedef struct wire_blob {
	char *name;
	char *data; /* len bytes, NUL-terminated for convenience */
	size_t len;
} wire_blob;

typedef struct wire_blobs {
	uint32_t n;
	wire_blob *v;
} wire_blobs;

typedef struct wire_assign {
	char *run_id;
	char *plan_file;   /* name for error messages */
	char *plan_text;   /* the plan's YAML, parsed again by the agent */
	uint32_t agent_index;
	uint32_t nweights;
	double *weights;   /* one per agent; this agent's share is weights[agent_index] */
	int64_t start_ns;  /* when to start, in the agent's CLOCK_REALTIME */
	uint32_t interval_ms;
	wire_blobs files;  /* by the path the plan names them with */
	wire_blobs env;    /* NAME -> value, for env() in templates */
	/* Caps tighter than the plan's own maxRate and maxVUs (a schedule's of
	 * herd serve): the agent holds the run to the lower of each; 0: the
	 * plan's only. Optional: an older controller leaves them out. */
	int64_t max_rate;
	int64_t max_vus;
} wire_assign;

typedef struct wire_ready {
	char *agent_id;
	char *run_id;
} wire_ready;

typedef struct wire_metrics {
	char *agent_id;
	char *run_id;
	uint64_t seq;          /* 1, 2, 3 ... per (run, agent) */
	int64_t interval_ms;   /* start of the interval, ms since run start */
	uint32_t nentries;
	wire_entry *entries;
} wire_metrics;

typedef struct wire_ack {
	char *run_id;
	uint64_t seq;
} wire_ack;

typedef struct wire_stop {
	char *run_id;
	char *reason;
} wire_stop;

typedef struct wire_done {
	char *agent_id;
	char *run_id;
	uint64_t last_seq;
	uint64_t dropped_batches;
	int64_t started_ns; /* when the load started, agent clock (0: never) */
	int64_t ended_ns;   /* when the last worker finished, agent clock */
} wire_done;

typedef struct wire_error {
	char *agent_id; /* "" from the controller */
	char *run_id;   /* "" when not about a run */
	int32_t code;   /* a herd_err */
	char *message;
} wire_error;

/* Bytes a message carries as they are (msgpack bin). */
typedef struct wire_bytes {
	char *data; /* len bytes; NULL when len is 0 */
	size_t len;
} wire_bytes;

/* A message inside its session envelope: which session, where in it, the
 * MAC, and the inner message's own encoding (a whole wire message). */
typedef struct wire_sealed {
	char *agent_id;   /* whose session: the id the agent said HELLO with */
	uint32_t ch;      /* SESSION_CH_CMD or SESSION_CH_MET: the agent's context */
	uint64_t seq;     /* the request's number on its channel; a reply repeats it */
	char *mac;        /* hex HMAC-SHA256 (common/session.h) of the inner bytes */
	wire_bytes inner; /* the encoded message */
} wire_sealed;
/* What a LOAD sets: an arrival rate or a number of active VUs. */
typedef enum wire_load_kind {
	WIRE_LOAD_RATE = 0, /* iterations per the scenario's timeUnit (arrival-rate executors) */
	WIRE_LOAD_VUS = 1,  /* active VUs (constant-vus, ramping-vus) */
} wire_load_kind;

/*
 * LOAD changes the load of one running scenario. From the controller,
 * agent_id is "" and value is this agent's share (the controller splits the
 * cluster's total by the agents' weights); status is 0. The agent answers
 * with a LOAD of its own (agent_id set) once its workers run the new load:
 * the same run, scenario, seq and kind, value the load now applied on this
 * agent, status 0 or a herd_err saying why it was not applied. Commands are
 * numbered by seq (per run, increasing), so a late or repeated command is
 * recognised.
 */
typedef struct wire_load {
	char *agent_id;  /* "" from the controller */
	char *run_id;
	char *scenario;  /* the scenario's name in the plan */
	uint64_t seq;
	uint32_t kind;   /* a wire_load_kind */
	double value;    /* finite and >= 0: VUs are whole numbers */
	int32_t status;  /* in the ack: HERD_OK or why not applied */
} wire_load;

typedef struct wire_msg {
	wire_type type;
	uint32_t version; /* filled by decode */
	union {
		wire_hello hello;
		wire_welcome welcome;
		wire_poll poll;
		wire_assign assign;
		wire_ready ready;
		wire_metrics metrics;
		wire_ack ack;
		wire_stop stop;
		wire_done done;
		wire_error error;
		wire_challenge challenge;
		wire_auth auth;
		wire_time time;
		wire_sealed sealed;
		wire_load load;
	} u;
} wire_msg;

/*
 * Encodes m into a new buffer (*buf, *len; free with free()). Returns
 * HERD_OK, HERD_EINVAL for an unknown type, or HERD_ENOMEM. NULL strings are
 * encoded as "".
 */
int wire_encode(const wire_msg *m, char **buf, size_t *len);

/*
 * Decodes len bytes into *m, which then owns copies of everything (free with
 * wire_msg_fini). Returns HERD_OK; HERD_EVERSION when "v" is not
 * WIRE_VERSION (m->version tells the peer's, m->type is still set when
 * known); HERD_EPROTO for anything malformed, truncated, oversized or with a
 * missing or mistyped field; HERD_ENOMEM. On error *m holds nothing to free.
 */
int wire_decode(const char *buf, size_t len, wire_msg *m);

/* Frees what m owns and zeroes it. Safe on a zeroed message. */
void wire_msg_fini(wire_msg *m);

/* Makes wire_encode write version v instead of WIRE_VERSION. For tests of
 * version refusal only (herd-agent reads HERD_WIRE_VERSION). */
void wire_set_version_for_tests(uint32_t v);

/* Frees what e owns (strings and histogram) and zeroes it. */
void wire_entry_fini(wire_entry *e);

#endif
