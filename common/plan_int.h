/*
 * The plan parser's shared internals: the parse context, positions, the
 * typed-value helpers (plan_yaml.c) and the parts each file of the parser
 * provides to the others. Not a public interface: only common/plan*.c and
 * controller/serve_cfg.c (the same YAML helpers for serve.yaml) use it.
 */
#ifndef HERD_COMMON_PLAN_INT_H
#define HERD_COMMON_PLAN_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libfyaml.h>

#include "common/plan.h"
#include "common/sbuf.h"

/* Limits that keep every later computation (sums, splits) far from overflow. */
#define PLAN_MAX_DURATION_MS (365LL * 24 * 3600 * 1000)
#define PLAN_MAX_COUNT       1000000000LL
/* Nesting allowed in a `json:` value; libfyaml stops the document at 64 too. */
#define PLAN_MAX_DEPTH 64
/* Work allowed once aliases are expanded: nodes visited and bytes copied. */
#define PLAN_NODE_BUDGET 1000000L
#define PLAN_BYTE_BUDGET ((size_t)64 << 20)
/* The largest file plan_load_file reads. */
#define PLAN_MAX_FILE ((long)16 << 20)
/* The largest file a plan may name (feeders, bodies). */
#define PLAN_MAX_DATA_FILE ((long)64 << 20)

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

typedef struct loc {
	int line, col; /* 1-based; 0 when unknown */
} loc;

typedef struct pctx {
	const char *file;
	char *err;
	size_t errlen;
	long nodes;    /* nodes visited, against PLAN_NODE_BUDGET */
	size_t bytes;  /* bytes copied, against PLAN_BYTE_BUDGET */
	int json_prec; /* digits the reals of the current `json:` need */
	loc root;      /* where the document starts */
	int named;     /* the caller gave a file name */
	plan *p;
	const plan_io *io;  /* files and environment; NULL: none */
	/* While a flow is parsed: the variables its earlier steps captured
	 * (indices into p->vars) and the feeders the current step uses. */
	uint32_t *known;
	size_t nknown, capknown;
	size_t base_known; /* the first base_known of known: the scenario's setup captures */
	uint32_t step_feeders;
	/* While a `json:` body is parsed: its templated strings, in order. */
	tmpl *json_tmpls;
	size_t njson_tmpls;
	int in_json; /* collect templates from JSON strings */
	loc target_loc; /* where `target:` is written, for messages about it */
} pctx;

/*
 * A position found only when needed: finding a collection's start costs a
 * libfyaml report, so messages ask for it and the happy path does not.
 */
typedef struct where {
	struct fy_node *n;      /* the node as written (an alias stays an alias) */
	const struct where *up; /* asked when n has no position */
	loc l;                  /* used when n has no position and up is NULL */
} where;

/* One key/value pair of a mapping, with the key's text and positions. */
typedef struct pair {
	struct fy_node *v; /* aliases resolved; NULL for an empty value */
	const char *key;   /* key text, not terminated */
	size_t klen;
	loc kl;   /* where the key starts */
	where vw; /* where the value starts, else the key */
} pair;

typedef enum skind { SK_NULL, SK_BOOL, SK_INT, SK_FLOAT, SK_STR, SK_MAP, SK_SEQ } skind;

/* plan_yaml.c */
/* Writes "file:line:column: message" into the caller's buffer; returns HERD_EPLAN. */
int perr(pctx *c, loc l, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int poom(pctx *c);
const char *show(const char *s, size_t len, char *buf, size_t buflen);
/* A diagnostics object that keeps libfyaml's messages to itself. */
struct fy_diag *quiet_diag(void);
/* Where byte off of scalar n (written at base) is, on its first line. */
loc text_loc(struct fy_node *n, loc base, size_t off);
loc node_loc(struct fy_node *n, loc dflt);
loc at(const where *w);
loc vloc(const pair *pr);
int deref(pctx *c, struct fy_node **np, const where *w);
int text_is(const char *s, size_t len, const char *word);
int is_digit(char ch);
skind node_kind(struct fy_node *n);
const char *kind_name(skind k);
const char *node_text(struct fy_node *n, size_t *len);
int parse_int(const char *s, size_t len, int64_t *out);
int dup_text(pctx *c, struct fy_node *n, loc l, const char *what, char **out);
int dup_key(pctx *c, const pair *pr, const char *what, char **out);
char *xstrdup(pctx *c, const char *s);
const char *key_str(const pair *pr, char *buf, size_t len);
int next_pair(pctx *c, struct fy_node *map, const where *mw, void **it, pair *pr, int *more);
int next_item(pctx *c, struct fy_node *seq, const where *sw, void **it, struct fy_node **item, where *iw,
              int *more);
const char *suggest(const char *const *names, size_t n, const char *w, size_t wlen);
size_t key_index(const char *const *names, size_t n, const pair *pr);
int unknown_key(pctx *c, const pair *pr, const char *where, const char *const *names, size_t n);
int want_kind(pctx *c, const pair *pr, skind got, const char *want);
int get_string(pctx *c, const pair *pr, char **out);
int get_int(pctx *c, const pair *pr, int64_t min, int64_t max, int64_t *out);
int bad_duration(pctx *c, loc l, const char *what, const char *s, size_t len);
int text_duration(const char *s, size_t len, int64_t *ms);
int get_duration(pctx *c, const pair *pr, int64_t min_ms, int64_t *out);
/* A size in bytes: a whole number, or one with a unit (B, KiB, MiB, GiB;
 * KB, MB, GB are powers of 1000), within [min, max]. */
int get_size(pctx *c, const pair *pr, int64_t min, int64_t max, int64_t *out);
int has_scheme(const char *s);
/* 1 when s starts with ws:// or wss:// (any case). */
int has_ws_scheme(const char *s);
int url_has_host(const char *s);
int has_space_or_ctl(const char *s);

/* plan_step.c */
enum {
	K_GET = 0, /* K_GET..K_HEAD follow http_method's order */
	K_POST,
	K_PUT,
	K_PATCH,
	K_DELETE,
	K_HEAD,
	K_THINK,
	K_HEADERS,
	K_QUERY,
	K_JSON,
	K_BODY,
	K_TIMEOUT,
	K_NAME,
	K_CHECK,
	K_CHECKS,
	K_CAPTURE,
	K_ON_CAPTURE_FAIL,
	K_FORM,
	K_BODY_FILE,
	K_REDIRECTS,
	K_COMPRESSION,
	K_TAGS,
	K_WS,
	K_SUBPROTOCOLS,
	K_PING,
	K_MAX_MESSAGE_SIZE,
	K_SESSION,
	K__STEP
};
extern const char *const step_keys[K__STEP];
int parse_step(pctx *c, struct fy_node *n, const where *sw, plan_step *st);
int ws_key(size_t i);
int is_tchar(unsigned char ch);
int parse_headers(pctx *c, const pair *hp, plan_step *st);
int parse_think(pctx *c, const pair *pr, plan_step *st);

/* plan_ws.c */
int parse_ws_step(pctx *c, struct fy_node *n, const where *sw, plan_step *st, const pair *keys,
                  const int *seen);

/* plan_journey.c */
/* Compiles text s (len bytes, written at n/base) into t, resolving names
 * against the flow's variables, the feeders and the environment. */
int compile_text(pctx *c, const char *s, size_t len, struct fy_node *n, loc base, int allow_seq,
                 tmpl *t);
/* Appends src's parts to the template being built in b. */
typedef struct tbuild {
	tmpl_part *parts;
	size_t n, cap;
	sbuf lits; /* literal bytes; parts hold offsets until tb_finish */
	int oom;
} tbuild;
void tb_lit(tbuild *b, const char *s, size_t len, tmpl_esc esc);
void tb_tmpl(tbuild *b, const tmpl *src, tmpl_esc esc);
int tb_finish(pctx *c, tbuild *b, tmpl *out);
int parse_capture(pctx *c, const pair *pr, plan_step *st);
int parse_checks(pctx *c, const pair *pr, plan_step *st);
int parse_form(pctx *c, const pair *pr, plan_step *st);
int parse_tags(pctx *c, const pair *pr, plan_step *st);
int parse_body_file(pctx *c, const pair *pr, plan_step *st);
int parse_data(pctx *c, const pair *pr);
/* The value of environment variable name through c->io, kept in p->env for
 * shipping to agents; NULL when unset. */
const char *plan_getenv(pctx *c, const char *name);
/* After a step is parsed: legacy check names, tags line, its captures made
 * known to the steps after it. */
int finish_step(pctx *c, plan_step *st, const plan_flow *f);
/* The bytes of file name through c->io, kept in p->files for shipping. */
int plan_file_bytes(pctx *c, loc l, const char *name, const char **data, size_t *len);

/* plan.c */
/* A NUL byte or bad UTF-8 in text: NULL when clean, else "contains a NUL
 * byte" or "is not valid UTF-8" with *l where. */
const char *check_bytes(const char *text, size_t len, loc *l);
/* Only white space and comments (libfyaml finds no document in them). */
int is_blank_yaml(const char *s, size_t len);
/* The first error libfyaml collected in diag, as perr's message; 0 when none. */
int syntax_error(pctx *c, struct fy_diag *diag, const char *text, size_t len);

/* plan_cli.c */
/* A numeric or duration value written as an env() template, rendered. */
typedef struct env_text {
	int used;        /* the value was a template */
	char text[64];   /* what it rendered to, trimmed */
	size_t len;
	char names[200]; /* the environment variables it read, "A, B", for messages */
} env_text;
/* When pr's value is a string with {{ }}, renders it (env() only: anything
 * that changes per VU is refused) into out; want ("a whole number") words
 * the error for an empty value. Returns HERD_OK (out->used 0 when the value
 * is no template) or a plan error at the value. */
int env_value(pctx *c, const pair *pr, const char *want, env_text *out);
/* The error for a rendered value that is not what the key needs, naming the
 * variables and the value. */
int env_bad(pctx *c, const pair *pr, const env_text *et, const char *want);
/* A decimal integer with an optional sign; 0 or -1. */
int env_int_text(const char *s, size_t len, int64_t *out);
/* Applies herd run's --vus, --duration and --iterations (environment values
 * "--vus" and so on, see plan_cli) to the plan's one scenario; errors at l. */
int apply_cli_flags(pctx *c, loc l);

/* plan_refs.c */
/* Refuses a threshold metric m (shown as written) whose tag filters name a
 * scenario, step, check, flow, group, phase or tag value the plan does not
 * have, at l, with the closest name. */
struct th_metric;
int check_threshold_refs(pctx *c, const struct th_metric *m, loc l, const char *shown);

/* A mapping of metrics to k6 threshold expressions (plan.c), appended to
 * (*arr, *count); check_refs: their tag filters must name what the plan has. */
int parse_threshold_map(pctx *c, const pair *tp, plan_threshold **arr, size_t *count, int check_refs);

/* The breaking-point executor's keys (plan_bp.c): one key of the scenario,
 * then the checks once every key of the scenario (sp) is read. */
int bp_parse_key(pctx *c, const char *key, const pair *pr, plan_scenario *s);
int bp_finish(pctx *c, const pair *sp, plan_scenario *s);
void bp_free(plan_breaking *b);

#endif
