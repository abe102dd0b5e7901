/*
 * The test plan: the model every part of herd shares, and its YAML parser
 * (libfyaml). Names follow k6. Every error carries file:line:column.
 * The plan text itself is what the controller ships to agents, and each agent
 * parses it again with this same parser, so both sides see one model.
 */
#ifndef HERD_COMMON_PLAN_H
#define HERD_COMMON_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "common/metric.h"

typedef enum plan_executor {
	EXEC_CONSTANT_VUS = 0,     /* vus, duration */
	EXEC_RAMPING_VUS,          /* startVUs, stages */
	EXEC_CONSTANT_ARRIVAL_RATE, /* rate, timeUnit, duration, preAllocatedVUs, maxVUs */
	EXEC_PER_VU_ITERATIONS,    /* vus, iterations, maxDuration */
} plan_executor;

/* k6 spelling of an executor ("constant-vus"). */
const char *plan_executor_name(plan_executor e);

typedef enum plan_step_kind {
	STEP_HTTP = 0,
	STEP_THINK,
	STEP_WS, /* a WebSocket session */
} plan_step_kind;

typedef struct plan_kv {
	char *name;
	char *value;
} plan_kv;

/* What one operation of a WebSocket session does. */
typedef enum plan_ws_op_kind {
	WSOP_SEND = 0, /* text (templated) or binary bytes */
	WSOP_EXPECT,   /* wait for messages that match, within a limit */
	WSOP_LOOP,     /* run ops count times; {{ seq }} counts 0, 1, 2, ... */
	WSOP_THINK,    /* pause min..max ms, messages still counted */
	WSOP_HOLD,     /* stay connected min ms, counting what arrives */
	WSOP_CLOSE,    /* send a close frame with code, then end the session */
} plan_ws_op_kind;

typedef enum plan_ws_match {
	WSM_ANY = 0,  /* any text or binary message */
	WSM_CONTAINS, /* the message contains value */
	WSM_JSON,     /* the message is JSON and json_path's value equals value */
} plan_ws_match;

/* Nested loops allowed in a session. */
#define PLAN_WS_MAX_DEPTH 8

typedef struct plan_ws_op plan_ws_op;
struct plan_ws_op {
	plan_ws_op_kind kind;
	int line, col;
	/* WSOP_SEND: the text as written (templated unless binary), or decoded
	 * binary bytes. WSOP_EXPECT: the value to find or compare (templated). */
	char *text;
	size_t text_len;
	int binary;           /* WSOP_SEND: send a binary message */
	int templated;        /* text holds {{ }} to render at run time */
	plan_ws_match match;  /* WSOP_EXPECT */
	char *json_path;      /* WSOP_EXPECT with WSM_JSON: "$.a.b[0]" */
	int64_t count;        /* WSOP_EXPECT: messages needed (default 1); WSOP_LOOP: rounds */
	int64_t within_ms;    /* WSOP_EXPECT: the limit (default 10 s) */
	int64_t min_ms, max_ms; /* WSOP_THINK, WSOP_HOLD (min == max) */
	int close_code;       /* WSOP_CLOSE */
	plan_ws_op *ops;      /* WSOP_LOOP: the body */
	size_t nops;
};

typedef struct plan_ws {
	char **subprotocols; /* Sec-WebSocket-Protocol offers, in order */
	size_t nsubprotocols;
	int64_t ping_ms;     /* 0: no pings */
	int url_templated;   /* url holds {{ __VU }} or {{ __ITER }} */
	plan_ws_op *ops;     /* the session */
	size_t nops;
} plan_ws;

/* The values {{ }} may name at run time. */
typedef struct plan_tmpl_vars {
	int64_t vu, iter, seq;
} plan_tmpl_vars;

typedef struct plan_step {
	plan_step_kind kind;
	int line, col; /* where the step starts in the plan file */

	/* STEP_HTTP */
	http_method method;
	char *path;      /* as written: "/small" or an absolute URL */
	char *url;       /* resolved: target + path + "?" + encoded query */
	plan_kv *headers; /* as written, in order */
	size_t nheaders;
	char *body;       /* NULL when none; JSON bodies are serialized compactly */
	size_t body_len;
	int body_is_json; /* 1 when from `json:` (adds Content-Type: application/json) */
	int64_t timeout_ms; /* 0: default (60 s, as k6) */
	char *name;         /* `name:`, default: path as written */
	int check_status;   /* 0: no status check */
	char *check_body_contains; /* NULL: no body check */

	/* STEP_THINK: a fixed pause when min == max */
	int64_t think_min_ms, think_max_ms;

	/* STEP_WS: path/url/headers/name as above; url is ws:// */
	plan_ws *ws;
} plan_step;

typedef struct plan_stage {
	int64_t duration_ms;
	int64_t target;
} plan_stage;

typedef struct plan_scenario {
	char *name;
	int line, col;
	plan_executor executor;
	int64_t start_ms;          /* startTime, default 0 */
	int64_t graceful_stop_ms;  /* gracefulStop, default 30 s */
	int64_t duration_ms;       /* constant-vus, constant-arrival-rate */
	int64_t vus;               /* constant-vus, per-vu-iterations (default 1) */
	int64_t iterations;        /* per-vu-iterations (default 1) */
	int64_t max_duration_ms;   /* per-vu-iterations (default 10 min) */
	int64_t start_vus;         /* ramping-vus startVUs (default 0) */
	plan_stage *stages;        /* ramping-vus */
	size_t nstages;
	int64_t rate;              /* constant-arrival-rate: iterations per timeUnit */
	int64_t time_unit_ms;      /* default 1 s */
	int64_t pre_allocated_vus; /* constant-arrival-rate */
	int64_t max_vus;           /* constant-arrival-rate (default preAllocatedVUs) */
	plan_step *steps;          /* the flow */
	size_t nsteps;
} plan_scenario;

typedef struct plan_threshold {
	char *metric; /* as written, with tags: "http_req_duration{scenario:browse}" */
	char *expr;   /* as written: "p(95) < 500" */
	int line, col;
} plan_threshold;

/* `tls:` how TLS connections (https:// requests, wss:// sessions) check the
 * server. By default its certificate must chain to the system's CA store and
 * name the host of the URL. */
typedef struct plan_tls {
	int insecure_skip_verify; /* `insecureSkipVerify: true`: no certificate or name check */
	char *ca;                 /* `ca:` a PEM file of CAs to trust instead of the system's, read
	                           * by each agent on its own host; NULL: the system store */
} plan_tls;

typedef struct plan {
	char *file;   /* file name used in error messages */
	char *name;   /* `name:`, default: file name without extension */
	char *target; /* base URL, "http://127.0.0.1:8080" (no trailing slash) */
	plan_scenario *scenarios;
	size_t nscenarios;
	plan_threshold *thresholds;
	size_t nthresholds;
	int64_t agents_min;     /* `agents: { min }`: remote agents needed, 0: not said */
	int64_t agents_wait_ms; /* `agents: { wait }`: how long to wait for them, 0: not said */
	plan_tls tls;
} plan;

/*
 * Parses a plan from text (len bytes, need not be NUL-terminated). file names
 * the source in messages. On success returns HERD_OK and *out owns a new plan
 * (free with plan_free). On failure returns HERD_EPLAN (or HERD_ENOMEM) and
 * writes "file:line:column: message" into err (errlen bytes, always
 * terminated); *out is untouched.
 */
int plan_parse(const char *text, size_t len, const char *file, plan **out, char *err, size_t errlen);

/* Reads path and parses it as plan_parse does. A missing file is reported as
 * "path: cannot read: reason" with HERD_EPLAN. */
int plan_load_file(const char *path, plan **out, char *err, size_t errlen);

void plan_free(plan *p);

/* Numbers every step of the plan in one flat sequence, scenario after
 * scenario: writes into first[i] (p->nscenarios entries) the number of
 * scenario i's first step, and returns the number of steps in all. Drivers
 * keep per-step tables indexed first[scenario] + step. */
size_t plan_step_offsets(const plan *p, size_t *first);

/* Milliseconds from the scenario's startTime to the end of its last stage or
 * its duration (maxDuration for per-vu-iterations), without gracefulStop. */
int64_t plan_scenario_length_ms(const plan_scenario *s);
/* Milliseconds from run start to the end of the latest scenario, with gracefulStop. */
int64_t plan_total_ms(const plan *p);

/* Parses a duration ("250ms", "10s", "1m30s", "2h", bare number = ms is NOT
 * accepted). Returns HERD_OK and *ms, or HERD_EINVAL. */
int plan_parse_duration(const char *s, int64_t *ms);

/*
 * Renders template text s (len bytes) with vars into out: each "{{ __VU }}",
 * "{{ __ITER }}" and "{{ seq }}" becomes its number; other text is copied.
 * The plan parser has checked every name, so an unknown one is copied as
 * written. out->len is reset first; out->oom tells of a failed allocation.
 */
struct sbuf;
void plan_tmpl_render(const char *s, size_t len, const plan_tmpl_vars *vars, struct sbuf *out);

#endif
