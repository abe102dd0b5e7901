/*
 * serve.yaml's parser (see serve_cfg.h), on the plan parser's YAML helpers
 * (common/plan_int.h): the same positions, kinds and did-you-mean messages
 * as plans have. Values are checked where they are written; names that
 * refer to other parts (a schedule's notify: list) once the whole file is
 * read.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "common/err.h"
#include "common/plan_int.h"
#include "controller/serve_cfg.h"

#define SERVE_MAX_FILE ((long)1 << 20)

static const char *const root_keys[] = {"listen", "db", "token-file", "tls", "api", "schedules",
                                        "notifications"};
static const char *const tls_keys[] = {"cert", "key", "ca"};
static const char *const api_keys[] = {"listen", "token-file"};
static const char *const sched_keys[] = {"plan",  "cron",   "timezone", "window",
                                         "agents", "notify", "maxRate",  "maxVUs"};
static const char *const window_keys[] = {"start", "end"};
static const char *const agents_keys[] = {"min", "wait"};
static const char *const notif_keys[] = {"url", "secret-file", "retries", "timeout"};

static serve_pos pos_of(loc l)
{
	return (serve_pos){l.line, l.col};
}

/* serve.yaml is read once by the daemon: a template would be read nowhere. */
static int no_template(pctx *c, const pair *pr)
{
	size_t len;
	const char *s = node_text(pr->v, &len);
	char kb[200];
	if (memmem(s, len, "{{", 2) != NULL)
		return perr(c, vloc(pr), "'%s': serve.yaml has no templates", key_str(pr, kb, sizeof(kb)));
	return HERD_OK;
}

static int str_val(pctx *c, const pair *pr, char **out)
{
	int rv;
	if ((rv = no_template(c, pr)) != 0)
		return rv;
	free(*out); /* libfyaml refuses duplicate keys; this is for safety only */
	*out = NULL;
	return get_string(c, pr, out);
}

static int int_val(pctx *c, const pair *pr, int64_t min, int64_t max, int64_t *out)
{
	int rv;
	if ((rv = no_template(c, pr)) != 0)
		return rv;
	return get_int(c, pr, min, max, out);
}

static int dur_val(pctx *c, const pair *pr, int64_t min_ms, int64_t *out)
{
	int rv;
	if ((rv = no_template(c, pr)) != 0)
		return rv;
	return get_duration(c, pr, min_ms, out);
}

/* A mapping value, or an error naming the key. */
static int want_map(pctx *c, const pair *pr)
{
	skind k = node_kind(pr->v);
	return k == SK_MAP ? HERD_OK : want_kind(c, pr, k, "a mapping");
}

/* "HH:MM" from 00:00 to 23:59. */
static int hhmm_val(pctx *c, const pair *pr, serve_hhmm *out)
{
	size_t len;
	const char *s = node_text(pr->v, &len);
	skind k = node_kind(pr->v);
	char kb[200], vb[200];

	key_str(pr, kb, sizeof(kb));
	if (k != SK_STR && k != SK_INT)
		return want_kind(c, pr, k, "a local time such as \"04:00\"");
	if (len != 5 || !is_digit(s[0]) || !is_digit(s[1]) || s[2] != ':' || !is_digit(s[3]) ||
	    !is_digit(s[4]) || (s[0] - '0') * 10 + (s[1] - '0') > 23 || s[3] > '5')
		return perr(c, vloc(pr), "'%s' must be a local time from 00:00 to 23:59, got '%s'", kb,
		            show(s, len, vb, sizeof(vb)));
	out->hh = (s[0] - '0') * 10 + (s[1] - '0');
	out->mm = (s[3] - '0') * 10 + (s[4] - '0');
	return HERD_OK;
}

/* Names of schedules and notifications travel in URLs, webhooks and logs. */
static int name_ok(pctx *c, const pair *pr, const char *what)
{
	char kb[200];
	if (pr->klen == 0 || pr->klen > 64)
		return perr(c, pr->kl, "%s names are 1 to 64 characters", what);
	for (size_t i = 0; i < pr->klen; i++) {
		char ch = pr->key[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) || ch == '-' ||
		      ch == '_' || ch == '.'))
			return perr(c, pr->kl, "%s name '%s' may hold only letters, digits, '-', '_' and '.'",
			            what, key_str(pr, kb, sizeof(kb)));
	}
	return HERD_OK;
}

/* Appends a zeroed element of size bytes to the array *arr of *n; returns
 * it, or NULL when out of memory (the array is then unchanged). */
static void *grow(void *arr, size_t *n, size_t size)
{
	void **ap = arr;
	char *na = realloc(*ap, (*n + 1) * size);
	if (na == NULL)
		return NULL;
	*ap = na;
	memset(na + *n * size, 0, size);
	return na + (*n)++ * size;
}

/* Iterates over a mapping value's pairs, calling fn for each. */
typedef int (*pair_fn)(pctx *c, const pair *pr, void *arg);

static int each_pair(pctx *c, const pair *outer, pair_fn fn, void *arg)
{
	void *it = NULL;
	pair pr;
	int more, rv;

	if ((rv = want_map(c, outer)) != 0)
		return rv;
	for (;;) {
		if ((rv = next_pair(c, outer->v, &outer->vw, &it, &pr, &more)) != 0 || !more)
			return rv;
		if ((rv = fn(c, &pr, arg)) != 0)
			return rv;
	}
}

/* ---- tls:, api: ---- */

static int tls_pair(pctx *c, const pair *pr, void *arg)
{
	serve_cfg *cfg = arg;
	switch (key_index(tls_keys, NELEM(tls_keys), pr)) {
	case 0: return str_val(c, pr, &cfg->tls_cert);
	case 1: return str_val(c, pr, &cfg->tls_key);
	case 2: return str_val(c, pr, &cfg->tls_ca);
	}
	return unknown_key(c, pr, "in tls", tls_keys, NELEM(tls_keys));
}

static int api_pair(pctx *c, const pair *pr, void *arg)
{
	serve_cfg *cfg = arg;
	int rv;
	switch (key_index(api_keys, NELEM(api_keys), pr)) {
	case 0:
		if ((rv = str_val(c, pr, &cfg->api_listen)) != 0)
			return rv;
		/* HOST:PORT with a numeric port; the API refuses names it cannot bind. */
		const char *colon = strrchr(cfg->api_listen, ':');
		char *end = NULL;
		long port = colon != NULL ? strtol(colon + 1, &end, 10) : 0;
		if (colon == NULL || colon == cfg->api_listen || end == colon + 1 || *end != '\0' ||
		    port < 1 || port > 65535 || strstr(cfg->api_listen, "://") != NULL)
			return perr(c, vloc(pr), "'listen' of the API is HOST:PORT (such as %s), got '%s'",
			            SERVE_API_DEFAULT_LISTEN, cfg->api_listen);
		return HERD_OK;
	case 1: return str_val(c, pr, &cfg->api_token_file);
	}
	return unknown_key(c, pr, "in api", api_keys, NELEM(api_keys));
}

/* ---- schedules: ---- */

typedef struct sched_ctx {
	serve_cfg *cfg;
	serve_schedule *s;
} sched_ctx;

static int window_pair(pctx *c, const pair *pr, void *arg)
{
	serve_schedule *s = arg;
	switch (key_index(window_keys, NELEM(window_keys), pr)) {
	case 0: s->has_start = 1; return hhmm_val(c, pr, &s->start);
	case 1: s->has_window = 1; return hhmm_val(c, pr, &s->end);
	}
	return unknown_key(c, pr, "in window", window_keys, NELEM(window_keys));
}

static int agents_pair(pctx *c, const pair *pr, void *arg)
{
	serve_schedule *s = arg;
	switch (key_index(agents_keys, NELEM(agents_keys), pr)) {
	case 0: return int_val(c, pr, 1, 4096, &s->agents_min);
	case 1: return dur_val(c, pr, 0, &s->agents_wait_ms);
	}
	return unknown_key(c, pr, "in agents", agents_keys, NELEM(agents_keys));
}

static int notify_list(pctx *c, const pair *pr, serve_schedule *s)
{
	skind k = node_kind(pr->v);
	void *it = NULL;
	struct fy_node *item;
	where iw;
	int more, rv;

	if (k != SK_SEQ)
		return want_kind(c, pr, k, "a list of notification names, such as [ops-webhook]");
	for (;;) {
		if ((rv = next_item(c, pr->v, &pr->vw, &it, &item, &iw, &more)) != 0 || !more)
			return rv;
		skind ik = node_kind(item);
		loc l = at(&iw);
		if (ik != SK_STR)
			return perr(c, l, "'notify' lists names of notifications, not %s", kind_name(ik));
		size_t npos = s->nnotify;
		serve_pos *np = grow(&s->notify_pos, &npos, sizeof(*np));
		char **name = np != NULL ? grow(&s->notify, &s->nnotify, sizeof(*name)) : NULL;
		if (name == NULL)
			return poom(c);
		*np = pos_of(l);
		if ((rv = dup_text(c, item, l, "a notification name", name)) != 0)
			return rv;
	}
}

static int rate_val(pctx *c, const pair *pr, double *out)
{
	skind k = node_kind(pr->v);
	size_t len;
	const char *s = node_text(pr->v, &len);
	char buf[64], kb[200];

	if (k != SK_INT && k != SK_FLOAT)
		return want_kind(c, pr, k, "a number of requests per second");
	snprintf(buf, sizeof(buf), "%.*s", (int)(len < 63 ? len : 63), s);
	errno = 0;
	double v = strtod(buf, NULL);
	if (errno != 0 || !isfinite(v) || v <= 0 || v > 1e9)
		return perr(c, vloc(pr), "'%s' must be above 0 and at most 1e9 requests/s",
		            key_str(pr, kb, sizeof(kb)));
	*out = v;
	return HERD_OK;
}

/* The plan's path as the daemon opens it: relative to serve.yaml's folder. */
static int resolve_plan(pctx *c, serve_schedule *s)
{
	const char *slash = strrchr(c->file, '/');
	size_t dl = s->plan[0] == '/' || slash == NULL ? 0 : (size_t)(slash - c->file) + 1;
	size_t n = dl + strlen(s->plan) + 1;
	if ((s->plan_path = malloc(n)) == NULL)
		return poom(c);
	snprintf(s->plan_path, n, "%.*s%s", (int)dl, c->file, s->plan);
	return HERD_OK;
}

static int sched_pair(pctx *c, const pair *pr, void *arg)
{
	serve_schedule *s = arg;
	char err[256];
	int rv;

	switch (key_index(sched_keys, NELEM(sched_keys), pr)) {
	case 0:
		s->plan_pos = pos_of(vloc(pr));
		if ((rv = str_val(c, pr, &s->plan)) != 0)
			return rv;
		free(s->plan_path);
		return resolve_plan(c, s);
	case 1:
		if ((rv = str_val(c, pr, &s->cron_expr)) != 0)
			return rv;
		if (cron_parse(s->cron_expr, &s->cron, err, sizeof(err)) != 0) {
			/* cron's column counts within the expression: point at it. */
			int col = 0;
			loc l = vloc(pr);
			if (sscanf(err, "column %d", &col) == 1 && col > 0)
				l = text_loc(pr->v, l, (size_t)col - 1);
			return perr(c, l, "cron '%s': %s", s->cron_expr, err);
		}
		return HERD_OK;
	case 2:
		if ((rv = str_val(c, pr, &s->tz)) != 0)
			return rv;
		if (!cron_tz_valid(s->tz))
			return perr(c, vloc(pr),
			            "unknown time zone '%s': use an IANA name of the system's tz "
			            "database, such as Europe/Berlin or UTC",
			            s->tz);
		return HERD_OK;
	case 3: return each_pair(c, pr, window_pair, s);
	case 4: return each_pair(c, pr, agents_pair, s);
	case 5: return notify_list(c, pr, s);
	case 6: return rate_val(c, pr, &s->max_rate);
	case 7: return int_val(c, pr, 1, PLAN_MAX_COUNT, &s->max_vus);
	}
	return unknown_key(c, pr, "in a schedule", sched_keys, NELEM(sched_keys));
}

static int schedule_one(pctx *c, const pair *pr, void *arg)
{
	serve_cfg *cfg = arg;
	serve_schedule *s;
	int rv;

	if ((rv = name_ok(c, pr, "schedule")) != 0)
		return rv;
	if ((s = grow(&cfg->schedules, &cfg->nschedules, sizeof(*s))) == NULL)
		return poom(c);
	s->pos = pos_of(pr->kl);
	s->agents_min = 1;
	s->agents_wait_ms = SERVE_AGENTS_WAIT_MS;
	if ((rv = dup_key(c, pr, "a schedule name", &s->name)) != 0)
		return rv;
	if ((rv = each_pair(c, pr, sched_pair, s)) != 0)
		return rv;
	const char *missing = s->plan == NULL ? "plan" : s->cron_expr == NULL ? "cron"
	                                              : s->tz == NULL        ? "timezone"
	                                                                     : NULL;
	if (missing != NULL)
		return perr(c, pr->kl, "schedule '%s' needs '%s'", s->name, missing);
	if (s->has_start && !s->has_window)
		return perr(c, pr->kl, "schedule '%s': a window needs its 'end' (\"04:00\")", s->name);
	if (s->has_start && s->start.hh == s->end.hh && s->start.mm == s->end.mm)
		return perr(c, pr->kl, "schedule '%s': the window's start and end are the same time",
		            s->name);
	return HERD_OK;
}

/* ---- notifications: ---- */

static int notif_pair(pctx *c, const pair *pr, void *arg)
{
	serve_notification *n = arg;
	int rv;
	switch (key_index(notif_keys, NELEM(notif_keys), pr)) {
	case 0:
		if ((rv = str_val(c, pr, &n->url)) != 0)
			return rv;
		if (!has_scheme(n->url) || !url_has_host(n->url) || has_space_or_ctl(n->url))
			return perr(c, vloc(pr), "'url' must be http:// or https:// with a host, got '%s'",
			            n->url);
		return HERD_OK;
	case 1: return str_val(c, pr, &n->secret_file);
	case 2: return int_val(c, pr, 0, 10, &n->retries);
	case 3: return dur_val(c, pr, 1, &n->timeout_ms);
	}
	return unknown_key(c, pr, "in a notification", notif_keys, NELEM(notif_keys));
}

static int notification_one(pctx *c, const pair *pr, void *arg)
{
	serve_cfg *cfg = arg;
	serve_notification *n;
	int rv;

	if ((rv = name_ok(c, pr, "notification")) != 0)
		return rv;
	if ((n = grow(&cfg->notifications, &cfg->nnotifications, sizeof(*n))) == NULL)
		return poom(c);
	n->pos = pos_of(pr->kl);
	n->retries = SERVE_NOTIFY_RETRIES;
	n->timeout_ms = SERVE_NOTIFY_TIMEOUT_MS;
	if ((rv = dup_key(c, pr, "a notification name", &n->name)) != 0)
		return rv;
	if ((rv = each_pair(c, pr, notif_pair, n)) != 0)
		return rv;
	if (n->url == NULL || n->secret_file == NULL)
		return perr(c, pr->kl, "notification '%s' needs '%s' (every webhook is signed)", n->name,
		            n->url == NULL ? "url" : "secret-file");
	return HERD_OK;
}

/* ---- The document ---- */

static int root_pair(pctx *c, const pair *pr, void *arg)
{
	serve_cfg *cfg = arg;
	int rv;
	switch (key_index(root_keys, NELEM(root_keys), pr)) {
	case 0:
		if ((rv = str_val(c, pr, &cfg->listen)) != 0)
			return rv;
		if (strncmp(cfg->listen, "tcp://", 6) != 0 && strncmp(cfg->listen, "tls+tcp://", 10) != 0 &&
		    strncmp(cfg->listen, "ipc://", 6) != 0)
			return perr(c, vloc(pr),
			            "'listen' is tcp://HOST:PORT, tls+tcp://HOST:PORT or ipc:///path, got '%s'",
			            cfg->listen);
		return HERD_OK;
	case 1: return str_val(c, pr, &cfg->db);
	case 2: return str_val(c, pr, &cfg->token_file);
	case 3: return each_pair(c, pr, tls_pair, cfg);
	case 4:
		cfg->has_api = 1;
		return node_kind(pr->v) == SK_NULL ? HERD_OK : each_pair(c, pr, api_pair, cfg);
	case 5: return each_pair(c, pr, schedule_one, cfg);
	case 6: return each_pair(c, pr, notification_one, cfg);
	}
	return unknown_key(c, pr, "in serve.yaml", root_keys, NELEM(root_keys));
}

/* What the file as a whole needs, once every key is read. */
static int check_whole(pctx *c, serve_cfg *cfg)
{
	if (cfg->listen == NULL)
		return perr(c, c->root, "serve.yaml needs 'listen' (where agents connect, such as "
		                        "tls+tcp://0.0.0.0:7400)");
	if (strncmp(cfg->listen, "tls+", 4) == 0 &&
	    (cfg->tls_cert == NULL || cfg->tls_key == NULL || cfg->tls_ca == NULL))
		return perr(c, c->root, "'listen: %s' needs tls: { cert, key, ca }", cfg->listen);
	for (size_t i = 0; i < cfg->nschedules; i++) {
		serve_schedule *s = &cfg->schedules[i];
		for (size_t j = 0; j < s->nnotify; j++) {
			if (serve_cfg_notification(cfg, s->notify[j]) != NULL)
				continue;
			const char **names = malloc((cfg->nnotifications + 1) * sizeof(*names));
			if (names == NULL)
				return poom(c);
			for (size_t k = 0; k < cfg->nnotifications; k++)
				names[k] = cfg->notifications[k].name;
			const char *near = suggest(names, cfg->nnotifications, s->notify[j],
			                           strlen(s->notify[j]));
			free(names);
			loc l = {s->notify_pos[j].line, s->notify_pos[j].col};
			if (near != NULL)
				return perr(c, l, "schedule '%s' notifies '%s', which notifications: does not "
				                  "define (did you mean '%s'?)",
				            s->name, s->notify[j], near);
			return perr(c, l, "schedule '%s' notifies '%s', which notifications: does not define",
			            s->name, s->notify[j]);
		}
	}
	if (cfg->has_api) {
		if (cfg->api_listen == NULL && (cfg->api_listen = strdup(SERVE_API_DEFAULT_LISTEN)) == NULL)
			return poom(c);
		if (cfg->api_token_file == NULL && cfg->token_file != NULL &&
		    (cfg->api_token_file = strdup(cfg->token_file)) == NULL)
			return poom(c);
		if (cfg->api_token_file == NULL)
			return perr(c, c->root, "the API needs a bearer token: api: { token-file: FILE } "
			                        "(or a token-file: for the whole daemon)");
	}
	if (cfg->db == NULL && (cfg->db = strdup("herd.db")) == NULL)
		return poom(c);
	return HERD_OK;
}

int serve_cfg_parse(const char *text, size_t len, const char *file, serve_cfg **out, char *err,
                    size_t errlen)
{
	pctx c = {0};
	struct fy_diag *diag = NULL;
	struct fy_parser *fyp = NULL;
	struct fy_document *doc = NULL;
	struct fy_parse_cfg pcfg;
	serve_cfg *cfg = NULL;
	const char *bad;
	loc l;
	int rv;

	c.file = file != NULL && *file ? file : "serve.yaml";
	c.err = err;
	c.errlen = errlen;
	c.root = (loc){1, 1};
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (text == NULL)
		len = 0;
	/* libfyaml stops quietly at a NUL byte: check the bytes first (plan.c). */
	if ((bad = check_bytes(text, len, &l)) != NULL)
		return perr(&c, l, "the file %s", bad);
	if (len == 0 || is_blank_yaml(text, len))
		return perr(&c, c.root, "serve.yaml is empty");
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL || (cfg->file = strdup(c.file)) == NULL) {
		rv = poom(&c);
		goto fail;
	}
	if ((diag = quiet_diag()) == NULL) {
		rv = poom(&c);
		goto fail;
	}
	memset(&pcfg, 0, sizeof(pcfg));
	pcfg.flags = FYPCF_QUIET;
	pcfg.diag = diag;
	if ((fyp = fy_parser_create(&pcfg)) == NULL || fy_parser_set_string(fyp, text, len) != 0) {
		rv = poom(&c);
		goto fail;
	}
	if ((doc = fy_parse_load_document(fyp)) == NULL) {
		if ((rv = syntax_error(&c, diag, text, len)) == 0)
			rv = perr(&c, c.root, "no YAML document found");
		goto fail;
	}
	if ((rv = syntax_error(&c, diag, text, len)) != 0)
		goto fail;
	struct fy_node *root = fy_document_root(doc);
	c.root = node_loc(root, c.root);
	pair top = {.v = root, .key = "serve.yaml", .klen = 10, .kl = c.root};
	top.vw = (where){root, NULL, c.root};
	if (node_kind(root) != SK_MAP) {
		rv = perr(&c, c.root, "serve.yaml must be a mapping (listen:, schedules:, ...), not %s",
		          kind_name(node_kind(root)));
		goto fail;
	}
	if ((rv = each_pair(&c, &top, root_pair, cfg)) != 0 || (rv = check_whole(&c, cfg)) != 0)
		goto fail;
	fy_parse_document_destroy(fyp, doc);
	fy_parser_destroy(fyp);
	fy_diag_destroy(diag);
	*out = cfg;
	return HERD_OK;

fail:
	serve_cfg_free(cfg);
	if (doc != NULL)
		fy_parse_document_destroy(fyp, doc);
	if (fyp != NULL)
		fy_parser_destroy(fyp);
	if (diag != NULL)
		fy_diag_destroy(diag);
	return rv;
}

int serve_cfg_load(const char *path, serve_cfg **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	long size = -1;
	char *buf;
	int rv;

	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		return HERD_EPLAN;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    size > SERVE_MAX_FILE) {
		snprintf(err, errlen, "%s: cannot read: %s", path,
		         size > SERVE_MAX_FILE ? "larger than 1 MiB" : strerror(errno));
		fclose(f);
		return HERD_EPLAN;
	}
	if ((buf = malloc((size_t)size + 1)) == NULL) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return HERD_ENOMEM;
	}
	size_t got = fread(buf, 1, (size_t)size, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: cannot read: read error", path);
		rv = HERD_EPLAN;
	} else {
		rv = serve_cfg_parse(buf, got, path, out, err, errlen);
	}
	fclose(f);
	free(buf);
	return rv;
}

void serve_cfg_free(serve_cfg *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->nschedules; i++) {
		serve_schedule *s = &cfg->schedules[i];
		free(s->name);
		free(s->plan);
		free(s->plan_path);
		free(s->cron_expr);
		free(s->tz);
		for (size_t j = 0; j < s->nnotify; j++)
			free(s->notify[j]);
		free(s->notify);
		free(s->notify_pos);
	}
	free(cfg->schedules);
	for (size_t i = 0; i < cfg->nnotifications; i++) {
		serve_notification *n = &cfg->notifications[i];
		free(n->name);
		free(n->url);
		free(n->secret_file);
	}
	free(cfg->notifications);
	free(cfg->file);
	free(cfg->listen);
	free(cfg->db);
	free(cfg->token_file);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->tls_ca);
	free(cfg->api_listen);
	free(cfg->api_token_file);
	free(cfg);
}

const serve_schedule *serve_cfg_schedule(const serve_cfg *cfg, const char *name)
{
	for (size_t i = 0; cfg != NULL && i < cfg->nschedules; i++)
		if (strcmp(cfg->schedules[i].name, name) == 0)
			return &cfg->schedules[i];
	return NULL;
}

const serve_notification *serve_cfg_notification(const serve_cfg *cfg, const char *name)
{
	for (size_t i = 0; cfg != NULL && i < cfg->nnotifications; i++)
		if (strcmp(cfg->notifications[i].name, name) == 0)
			return &cfg->notifications[i];
	return NULL;
}
