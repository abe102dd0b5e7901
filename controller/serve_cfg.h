/*
 * serve.yaml, the configuration of `herd serve`: where the daemon listens
 * for agents, its store, its HTTP API, the schedules (a plan, a cron
 * expression in an IANA zone, a window the run must fit in) and the webhooks
 * they notify. Parsing only: no file a key names is opened here (plans and
 * secret files are read by the commands that use them). Errors are
 * "file:line:column: message", unknown keys get a did-you-mean.
 */
#ifndef HERD_CONTROLLER_SERVE_CFG_H
#define HERD_CONTROLLER_SERVE_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "common/cron.h"

/* The API's address when serve.yaml's api: names none. */
#define SERVE_API_DEFAULT_LISTEN "127.0.0.1:7401"
/* Defaults of a notification and of a schedule's agents. */
#define SERVE_NOTIFY_RETRIES 3
#define SERVE_NOTIFY_TIMEOUT_MS 10000
#define SERVE_AGENTS_WAIT_MS 60000

/* Where something is written in serve.yaml (1-based; 0 when unknown). */
typedef struct serve_pos {
	int line, col;
} serve_pos;

/* A local time of day, "04:00". */
typedef struct serve_hhmm {
	int hh, mm;
} serve_hhmm;

typedef struct serve_schedule {
	char *name;      /* the key under schedules: */
	char *plan;      /* as written */
	char *plan_path; /* relative paths resolved against serve.yaml's folder */
	char *cron_expr; /* as written */
	cron cron;
	char *tz;            /* IANA zone, checked against the system's database */
	int has_window;      /* window: given (its end is then set) */
	int has_start;       /* window.start given */
	serve_hhmm start, end;
	int64_t agents_min;     /* default 1 */
	int64_t agents_wait_ms; /* default SERVE_AGENTS_WAIT_MS */
	char **notify;          /* names of notifications, each one defined */
	serve_pos *notify_pos;  /* where each name is written */
	size_t nnotify;
	double max_rate;  /* requests/s cluster-wide; 0 = no cap */
	int64_t max_vus;  /* 0 = no cap */
	serve_pos pos;    /* where the schedule's name is written */
	serve_pos plan_pos;
} serve_schedule;

typedef struct serve_notification {
	char *name;
	char *url;             /* http:// or https:// with a host */
	char *secret_file;     /* the HMAC key, read with auth_token_load */
	int64_t retries;       /* attempts after the first, 0-10 (default 3) */
	int64_t timeout_ms;    /* per attempt (default 10 s) */
	serve_pos pos;
} serve_notification;

typedef struct serve_cfg {
	char *file;       /* as given to the parser */
	char *listen;     /* tcp://, tls+tcp:// or ipc:// for agents */
	char *db;         /* the store (default "herd.db") */
	char *token_file; /* agents' shared token; NULL: none */
	char *tls_cert, *tls_key, *tls_ca;
	int has_api;
	char *api_listen;     /* HOST:PORT, default SERVE_API_DEFAULT_LISTEN */
	char *api_token_file; /* the bearer token (api.token-file, else token-file) */
	serve_schedule *schedules;
	size_t nschedules;
	serve_notification *notifications;
	size_t nnotifications;
} serve_cfg;

/*
 * Parses serve.yaml's text (len bytes, need not be terminated); file names
 * it in messages and is the folder relative plan paths are resolved
 * against. Returns HERD_OK and *out (free with serve_cfg_free), or
 * HERD_EPLAN / HERD_ENOMEM with "file:line:column: message" in err (errlen
 * bytes, always terminated); *out is then untouched.
 */
int serve_cfg_parse(const char *text, size_t len, const char *file, serve_cfg **out, char *err,
                    size_t errlen);

/* Reads path (at most 1 MiB) and parses it; a file that cannot be read is
 * "path: cannot read: reason", HERD_EPLAN. */
int serve_cfg_load(const char *path, serve_cfg **out, char *err, size_t errlen);

/* Frees cfg and everything in it. NULL is fine. */
void serve_cfg_free(serve_cfg *cfg);

/* The schedule called name, or NULL. */
const serve_schedule *serve_cfg_schedule(const serve_cfg *cfg, const char *name);

/* The notification called name, or NULL. */
const serve_notification *serve_cfg_notification(const serve_cfg *cfg, const char *name);

#endif
