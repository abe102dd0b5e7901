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

#include "common/csv.h"
#include "common/metric.h"
#include "common/tmpl.h"

typedef enum plan_executor {
	EXEC_CONSTANT_VUS = 0,      /* vus, duration */
	EXEC_RAMPING_VUS,           /* startVUs, stages */
	EXEC_CONSTANT_ARRIVAL_RATE, /* rate, timeUnit, duration, preAllocatedVUs, maxVUs */
	EXEC_PER_VU_ITERATIONS,     /* vus, iterations, maxDuration */
	EXEC_RAMPING_ARRIVAL_RATE,  /* startRate, timeUnit, stages, preAllocatedVUs, maxVUs */
	EXEC_SHARED_ITERATIONS,     /* vus, iterations (all VUs together), maxDuration */
	EXEC_BREAKING_POINT,        /* model, start, step|factor, warmup, hold, max, objectives, ... */
} plan_executor;

/* k6 spelling of an executor ("constant-vus"). */
const char *plan_executor_name(plan_executor e);

typedef enum plan_step_kind {
	STEP_HTTP = 0,
	STEP_THINK,
	STEP_WS,        /* a WebSocket session */
	STEP_GROUP,     /* a group starts: the steps up to its STEP_GROUP_END are inside */
	STEP_GROUP_END, /* a group ends: its duration is measured here */
} plan_step_kind;

/* Where a capture takes its value from. */
typedef enum plan_capture_from { CAP_JSON = 0, CAP_HEADER, CAP_REGEX, CAP_COOKIE } plan_capture_from;

typedef struct plan_capture {
	char *var;            /* the variable's name */
	uint32_t var_index;   /* into plan->vars */
	plan_capture_from from;
	char *arg;            /* JSON path, header name, regex or cookie name */
	int group;            /* CAP_REGEX: which group (default 1) */
	void *re;             /* CAP_REGEX: the compiled regex_t, owned */
	int line, col;
} plan_capture;

/* CHK_WS_EXPECT: a ws step's expect, counted as a check of that step; the
 * session judges it (agent/ws.c), never journey_check. */
typedef enum plan_check_kind {
	CHK_STATUS = 0, CHK_HEADER, CHK_BODY, CHK_JSON, CHK_DURATION, CHK_WS_EXPECT
} plan_check_kind;
typedef enum plan_check_op {
	CHKOP_PRESENT = 0, /* header or JSON value is there */
	CHKOP_EQUALS,
	CHKOP_CONTAINS,
	CHKOP_LT, CHKOP_LE, CHKOP_GT, CHKOP_GE, /* CHK_DURATION */
} plan_check_op;

typedef struct plan_check {
	char *name;           /* as shown and as tagged {check:NAME} */
	plan_check_kind kind;
	plan_check_op op;
	int *statuses;        /* CHK_STATUS: any of these passes */
	size_t nstatuses;
	char *arg;            /* CHK_HEADER: the header; CHK_JSON: the path */
	tmpl value;           /* EQUALS/CONTAINS, CHK_BODY: the text (templated) */
	int64_t limit_us;     /* CHK_DURATION */
	int line, col;
} plan_check;

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
/*
 * What a plan may ask for, checked when it is loaded (see the README's
 * Limits): VUs of all scenarios together, iterations per second of an
 * arrival-rate scenario, requests and ws sessions in all flows together
 * (each costs its histograms in every interval of every worker), and what
 * a body's templates may render to.
 */
#define PLAN_MAX_VUS 1000000LL
#define PLAN_MAX_RATE_PER_S 10000000LL
#define PLAN_MAX_REQUEST_STEPS 1000
#define PLAN_MAX_BODY ((size_t)16 << 20)
/* `maxMessageSize` of a ws step: the longest message a session takes in,
 * all its fragments together (default 16 MiB, between 1 KiB and 1 GiB). */
#define PLAN_WS_DEFAULT_MESSAGE (16LL << 20)
#define PLAN_WS_MIN_MESSAGE (1LL << 10)
#define PLAN_WS_MAX_MESSAGE (1LL << 30)

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
	tmpl t;               /* the text compiled (WSOP_SEND unless binary, WSOP_EXPECT) */
	plan_ws_match match;  /* WSOP_EXPECT */
	char *json_path;      /* WSOP_EXPECT with WSM_JSON: "$.a.b[0]" */
	int64_t count;        /* WSOP_EXPECT: messages needed (default 1); WSOP_LOOP: rounds */
	int64_t within_ms;    /* WSOP_EXPECT: the limit (default 10 s) */
	int64_t min_ms, max_ms; /* WSOP_THINK, WSOP_HOLD (min == max) */
	int close_code;       /* WSOP_CLOSE */
	char *name;           /* WSOP_EXPECT: its `name:`, NULL when none */
	uint8_t check;        /* WSOP_EXPECT: the index of its check in the step's checks */
	plan_ws_op *ops;      /* WSOP_LOOP: the body */
	size_t nops;
};

typedef struct plan_ws {
	char **subprotocols; /* Sec-WebSocket-Protocol offers, in order */
	size_t nsubprotocols;
	int64_t ping_ms;     /* 0: no pings */
	int64_t max_message; /* bytes: a longer received message ends the session (ws_message_too_big) */
	int url_templated;   /* url holds {{ }} */
	tmpl t_path;         /* url_templated: the upgrade's request target (path and query) */
	plan_ws_op *ops;     /* the session */
	size_t nops;
} plan_ws;


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
	plan_check *checks; /* `checks:` and the older `check:` */
	size_t nchecks;

	/* Journeys (docs/journeys.md). Templates are compiled at load: t_url is
	 * url with its {{ }}, query values url-encoded when rendered; t_headers[i]
	 * is headers[i].value; t_body is the body (json values json-escaped, form
	 * values form-encoded). dynamic: any of them needs rendering per request. */
	tmpl t_url;
	tmpl *t_headers;
	tmpl t_body;
	int dynamic;
	int url_late;       /* the path is all template: a value starting with '/' gets the target */
	int body_is_form;   /* `form:` (adds its Content-Type) */
	char *body_file;    /* `bodyFile:` as written (the body holds its bytes) */
	int redirects;      /* most redirects followed; 0: none (default 10) */
	int compression;    /* accept gzip/deflate and decode */
	plan_kv *tags;      /* `tags:`, as written */
	size_t ntags;
	plan_capture *captures;
	size_t ncaptures;
	int capture_continue; /* onCaptureFail: continue */
	uint16_t flow;        /* the flow the step belongs to; PLAN_SETUP_FLOW: the scenario's setup */
	char *group;          /* the group path ("a::b") the step is in, NULL outside;
	                       * STEP_GROUP/STEP_GROUP_END: the group's own path */
	uint32_t group_begin; /* STEP_GROUP_END: index of its STEP_GROUP */
	uint32_t feeders;     /* bit f: the step's templates use feeder f */
	char *tagline;        /* the tags agents send: "flow=..\ngroup=..\nkey=value" sorted */

	/* STEP_THINK: a fixed pause when min == max */
	int64_t think_min_ms, think_max_ms;

	/* STEP_WS: path/url/headers/name as above; url is ws:// */
	plan_ws *ws;
} plan_step;

/* One weighted flow of a scenario: steps [first, first + nsteps) of its steps. */
typedef struct plan_flow {
	char *name;        /* "default" for a scenario's plain `flow:` */
	double weight;
	size_t first, nsteps;
	uint32_t feeders;  /* bit f: the flow uses feeder f (a row is taken per iteration) */
	char *tagline;     /* "flow=NAME" ("phase=setup" for a scenario's setup) */
	int line, col;
	int setup;         /* 1: the scenario's `setup:`, not a weighted flow */
} plan_flow;

/* plan_step.flow of a step of a scenario's `setup:`. */
#define PLAN_SETUP_FLOW 0xffffu

typedef struct plan_stage {
	int64_t duration_ms;
	int64_t target; /* VUs (ramping-vus) or iterations per timeUnit (ramping-arrival-rate) */
	char *name;     /* `name:` for the live line, NULL when none */
} plan_stage;

typedef struct plan_threshold plan_threshold;

/* The breaking-point executor's search: levels of load from start, up by
 * step (or times factor) to max, each run warmup (not judged) then hold
 * (judged on its own window against the objectives), until failures_to_stop
 * consecutive levels fail; then bisection between the last pass and the
 * first fail down to resolution. Loads are iterations per second
 * (model arrival-rate) or VUs (model vus). */
typedef enum plan_bp_model { PLAN_BP_ARRIVAL_RATE = 0, PLAN_BP_VUS } plan_bp_model;

typedef struct plan_breaking {
	plan_bp_model model;
	int64_t start, step, max; /* step 0 when factor is used */
	double factor;            /* 0 when step is used; else > 1 */
	int64_t warmup_ms, hold_ms;
	double resolution;        /* refine { resolution }: a fraction of the load (0.05 = 5%) */
	int64_t failures_to_stop; /* failuresToStop: consecutive failing levels (default 1) */
	plan_threshold *objectives; /* k6 threshold syntax, judged per level */
	size_t nobjectives;
} plan_breaking;

/* The loads of the breaking-point search's upward levels, start first: up to
 * max entries into out (NULL to count); returns how many levels there are. */
size_t plan_bp_levels(const plan_breaking *b, int64_t *out, size_t max);

/* What a level may take beyond warmup + hold: its start waits for a whole
 * interval and its verdict for the hold's last interval to arrive. */
#define PLAN_BP_LEVEL_SLACK_MS 2000

/* The most refinement levels the bisection can run (between the widest gap
 * of two levels, down to resolution of start), plus one. */
size_t plan_bp_refine_levels(const plan_breaking *b);

/* The longest a search can last: every upward level and every refinement
 * level, each warmup + hold + PLAN_BP_LEVEL_SLACK_MS. Agents run the scenario
 * this long at most; the controller ends it once the search is done. */
int64_t plan_bp_length_ms(const plan_breaking *b);

typedef struct plan_scenario {
	char *name;
	int line, col;
	plan_executor executor;
	int64_t start_ms;          /* startTime, default 0 */
	int64_t graceful_stop_ms;  /* gracefulStop, default 30 s */
	int64_t duration_ms;       /* constant-vus, constant-arrival-rate */
	int64_t vus;               /* constant-vus, per-vu-iterations, shared-iterations (default 1) */
	int64_t iterations;        /* per-vu-iterations: per VU; shared-iterations: in all (default 1) */
	int64_t max_duration_ms;   /* per-vu-iterations, shared-iterations (default 10 min) */
	int64_t start_vus;         /* ramping-vus startVUs (default 0) */
	int64_t graceful_ramp_down_ms; /* ramping-vus gracefulRampDown (default 30 s) */
	plan_stage *stages;            /* ramping-vus, ramping-arrival-rate */
	size_t nstages;
	int64_t rate;              /* constant-arrival-rate: iterations per timeUnit */
	int64_t start_rate;        /* ramping-arrival-rate startRate, per timeUnit (default 0) */
	int64_t time_unit_ms;      /* default 1 s */
	int64_t pre_allocated_vus; /* the arrival-rate executors */
	int64_t max_vus;           /* the arrival-rate executors (default preAllocatedVUs) */
	plan_step *steps;          /* every flow's steps, flow after flow */
	size_t nsteps;
	plan_flow *flows;          /* at least one */
	size_t nflows;
	/* `setup:` steps each VU runs once, before its first iteration (steps
	 * [setup.first, setup.first + setup.nsteps), before every flow's; nsteps 0:
	 * none). Their captures are known to every flow; their series are tagged
	 * phase=setup and carry no flow tag. */
	plan_flow setup;
	double weight_total;
	plan_breaking bp;          /* breaking-point */
} plan_scenario;

struct plan_threshold {
	char *metric; /* as written, with tags: "http_req_duration{scenario:browse}" */
	char *expr;   /* as written: "p(95) < 500" */
	int line, col;
	int allow_nodata; /* `{ threshold: ..., allowNoData: true }`: no data passes (else it fails) */
	/* Abort rules (controller/abort.h): `abortOnFail: true` stops the run as
	 * soon as the threshold fails, judged after every merged interval;
	 * `delayAbortEval` holds that judgment until so long after the load's
	 * start; `window` (herd's, not k6's) judges the last window_ms of merged
	 * data instead of the whole run so far. 0: not said. */
	int abort_on_fail;
	int64_t delay_abort_ms;
	int64_t window_ms;
};

/* `guards: { health: { url, every, failures, timeout } }`: a URL the
 * controller itself checks before the run (the run is refused when it is
 * unhealthy) and every `every` during it (the run is aborted after
 * `failures` failures in a row). url NULL: no health guard. */
typedef struct plan_health {
	char *url;
	int64_t every_ms;   /* default 5 s */
	int64_t failures;   /* default 3 */
	int64_t timeout_ms; /* default 2 s */
	int line, col;
} plan_health;

/* `tls:` how TLS connections (https:// requests, wss:// sessions) check the
 * server. By default its certificate must chain to the system's CA store and
 * name the host of the URL. */
typedef struct plan_tls {
	int insecure_skip_verify; /* `insecureSkipVerify: true`: no certificate or name check */
	char *ca;                 /* `ca:` a PEM file of CAs to trust instead of the system's, as
	                           * written; NULL: the system store */
	const char *ca_pem;       /* its bytes (shipped to agents with the plan; p->files owns them) */
	size_t ca_len;
} plan_tls;

typedef enum plan_feed_split { FEED_SPLIT_PER_AGENT = 0, FEED_SPLIT_NONE } plan_feed_split;

/* A data feeder (`data:`): a CSV table. order/exhausted use agent/feeder.h's
 * values (0: sequential, recycle). */
typedef struct plan_feeder {
	char *name;
	char *file;      /* as written, relative to the plan file */
	csv table;
	plan_feed_split split;
	int order;       /* 0 sequential, 1 random */
	int exhausted;   /* 0 recycle, 1 stop */
	int line, col;
} plan_feeder;

/* Bytes a plan was loaded with besides its own text: files (feeders,
 * bodies) by the name the plan gives them, and environment values. */
typedef struct plan_blob {
	char *name;
	char *data;
	size_t len;
} plan_blob;

/*
 * Where a plan's files and environment come from. The controller reads files
 * relative to the plan and its own environment; an agent answers from what
 * the controller shipped. read_file returns 0 and a malloc'ed *data (len
 * bytes, NUL-terminated) or -1 with a reason in why.
 */
typedef struct plan_io {
	int (*read_file)(void *arg, const char *name, char **data, size_t *len, char *why, size_t whylen);
	const char *(*getenv)(void *arg, const char *name);
	void *arg;
} plan_io;

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
	plan_feeder *feeders;   /* `data:` */
	size_t nfeeders;
	char **vars;            /* every captured variable's name; a VU keeps nvars values */
	size_t nvars;
	int cookies;            /* a cookie jar per VU (default 1) */
	plan_blob *files;       /* the files the plan read, to ship to agents */
	size_t nfiles;
	plan_blob *env;         /* the environment values its templates use */
	size_t nenv;
	plan_tls tls;
	/* Rate caps (common/ratecap.h), 0: none. max_rate: requests per second
	 * across the cluster; max_vus_cap: VUs across the cluster. */
	int64_t max_rate;
	int64_t max_vus_cap;
	int caps_line, caps_col; /* where maxRate (or else maxVUs) is written */
	plan_health health;
} plan;

/*
 * Parses a plan from text (len bytes, need not be NUL-terminated). file names
 * the source in messages. On success returns HERD_OK and *out owns a new plan
 * (free with plan_free). On failure returns HERD_EPLAN (or HERD_ENOMEM) and
 * writes "file:line:column: message" into err (errlen bytes, always
 * terminated); *out is untouched.
 */
int plan_parse(const char *text, size_t len, const char *file, plan **out, char *err, size_t errlen);

/* plan_parse with files and environment from io (plan_parse itself reads
 * neither: a plan that names a file or env() fails). */
int plan_parse_io(const char *text, size_t len, const char *file, const plan_io *io, plan **out,
                  char *err, size_t errlen);

/* Reads path and parses it as plan_parse does, with files relative to path's
 * folder and the process's environment. A missing file is reported as
 * "path: cannot read: reason" with HERD_EPLAN. */
int plan_load_file(const char *path, plan **out, char *err, size_t errlen);

/*
 * Values from herd run's command line. env holds "NAME=VALUE" entries (-e),
 * which env() reads before the process's environment (the last one of a
 * name wins). vus, duration and iterations (NULL: not given) override the
 * plan's one scenario as k6's flags do: --vus sets 'vus' (constant-vus,
 * per-vu-iterations, shared-iterations), --duration sets 'duration'
 * (constant-vus, constant-arrival-rate) or 'maxDuration' (the iterations
 * executors), --iterations sets 'iterations' and turns constant-vus into
 * shared-iterations whose maxDuration is its duration. A plan with more
 * scenarios, or an executor a flag does not fit, is a plan error. Every
 * value used is kept in p->env (the flags as "--vus" and so on) so that
 * agents parsing the shipped plan see the same numbers.
 */
typedef struct plan_cli {
	const char *const *env;
	size_t nenv;
	const char *vus, *duration, *iterations;
} plan_cli;

/* plan_load_file with values from the command line (cli may be NULL). */
int plan_load_file_cli(const char *path, const plan_cli *cli, plan **out, char *err, size_t errlen);

void plan_free(plan *p);

/* Numbers every step of the plan in one flat sequence, scenario after
 * scenario: writes into first[i] (p->nscenarios entries) the number of
 * scenario i's first step, and returns the number of steps in all. Drivers
 * keep per-step tables indexed first[scenario] + step. */
size_t plan_step_offsets(const plan *p, size_t *first);

/*
 * The values the plan gives tag key (as thresholds filter on it): scenario
 * names for "scenario"; request, session and check names for "name"; check
 * names for "check"; flow names for "flow"; group paths ("a::b") for
 * "group"; "main" and, when a scenario has a `setup:`, "setup" for "phase";
 * the values of a key that steps' own `tags:` use. Returns HERD_OK and a
 * malloc'ed array in *vals (*n strings that point into p; free the array
 * only), HERD_ENOTFOUND when the plan does not decide key's values (method,
 * status, agent, a tag no step has), or HERD_ENOMEM.
 */
int plan_tag_values(const plan *p, const char *key, const char ***vals, size_t *n);

/* Whether a step's checks or captures read the response body / headers. */
int plan_step_needs_body(const plan_step *s);
int plan_step_needs_headers(const plan_step *s);

/* Milliseconds from the scenario's startTime to the end of its last stage or
 * its duration (maxDuration for the iterations executors), without gracefulStop. */
int64_t plan_scenario_length_ms(const plan_scenario *s);
/* Milliseconds from run start to the end of the latest scenario, with gracefulStop. */
int64_t plan_total_ms(const plan *p);

/* Parses a duration ("250ms", "10s", "1m30s", "2h", bare number = ms is NOT
 * accepted). Returns HERD_OK and *ms, or HERD_EINVAL. */
int plan_parse_duration(const char *s, int64_t *ms);


#endif
