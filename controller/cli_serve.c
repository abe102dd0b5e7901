/* herd serve / herd schedule: see cli_serve.h. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>

#include "common/auth.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/plan.h"
#include "controller/outcome.h"
#include "controller/serve_cfg.h"
#include "controller/serve_daemon.h"
#include "controller/slot.h"
#include "controller/store.h"
#include "controller/store_serve.h"
#include "controller/table.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: herd serve --config serve.yaml [--check]\n"
	           "       herd schedule list --config serve.yaml [--from 2026-12-03T10:00:00Z]\n"
	           "       herd schedule run NAME --config serve.yaml\n");
}

/* "2026-12-03T10:00:00Z" (UTC) or "now" into seconds since the epoch. */
static int parse_instant(const char *s, int64_t *out)
{
	struct tm tm = {0};
	if (strcmp(s, "now") == 0) {
		*out = clock_real_ns() / 1000000000;
		return 0;
	}
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

/* Loads a schedule's plan; on failure writes "cfg:line:col: schedule 'x': why". */
static int load_plan(const serve_cfg *cfg, const serve_schedule *s, plan **p, char *err, size_t len)
{
	char perr_[900];
	int rv = plan_load_file(s->plan_path, p, perr_, sizeof(perr_));
	if (rv != HERD_OK)
		snprintf(err, len, "%.200s:%d:%d: schedule '%.64s': %.600s", cfg->file, s->plan_pos.line,
		         s->plan_pos.col, s->name, perr_);
	return rv;
}

/* Parses --config (and --from) for the subcommands. */
static int parse_opts(int argc, char **argv, const char **config, const char **from, int *check)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"from", required_argument, NULL, 'f'},
		{"check", no_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': *config = optarg; break;
		case 'f':
			if (from == NULL)
				goto bad;
			*from = optarg;
			break;
		case 'k':
			if (check == NULL)
				goto bad;
			*check = 1;
			break;
		case 'h': usage(stdout); return 1;
		default: goto bad;
		}
	}
	if (*config == NULL) {
		fprintf(stderr, "herd: --config serve.yaml is needed\n");
		return -1;
	}
	return 0;
bad:
	usage(stderr);
	return -1;
}

typedef struct last_seen {
	char text[200];
	const char *tz;
} last_seen;

static int on_last(void *arg, const store_sched_run *r)
{
	last_seen *l = arg;
	char when[48];
	cron_format(r->slot, l->tz, when, sizeof(when));
	/* The run's verdict and id when a run was made, to look it up. */
	snprintf(l->text, sizeof(l->text), "%s%s%s %s%s%.64s%s", r->outcome, r->verdict ? " " : "",
	         r->verdict ? r->verdict : "", when, r->run_id ? " (run " : "", r->run_id ? r->run_id : "",
	         r->run_id ? ")" : "");
	return 0;
}

static int schedule_list(const serve_cfg *cfg, int64_t from)
{
	static const table_col cols[] = {{10, 0}, {24, 0}, {14, 0}, {10, 0}, {10, 0}, {10, 0}};
	table *t = NULL;
	store *st = NULL;
	struct stat sb;
	char err[1024];
	int rc = EXIT_OK;

	if (table_new(cols, 6, &t) != 0)
		return EXIT_SETUP;
	/* The store says what happened last; it is not created for a list. */
	if (stat(cfg->db, &sb) == 0 && store_open(cfg->db, &st, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "herd: %s\n", err);
		st = NULL;
	}
	table_cell(t, "SCHEDULE");
	table_cell(t, "NEXT SLOT");
	table_cell(t, "WINDOW");
	table_cell(t, "PLAN");
	table_cell(t, "CRON");
	table_cell(t, "LAST");
	for (size_t i = 0; i < cfg->nschedules; i++) {
		const serve_schedule *s = &cfg->schedules[i];
		char next[64] = "none in 5 years", win[96] = "none", planc[600], len[32];
		int64_t slot = 0, end = 0, need = -1;
		plan *p = NULL;
		last_seen last = {"-", s->tz};

		if (load_plan(cfg, s, &p, err, sizeof(err)) == HERD_OK) {
			need = plan_total_ms(p);
			plan_free(p);
		} else {
			fprintf(stderr, "herd: %s\n", err);
			rc = EXIT_INVALID;
		}
		if (cron_next(&s->cron, s->tz, from, &slot) == 0)
			cron_format(slot, s->tz, next, sizeof(next));
		if (s->has_window && slot > 0 && slot_window_end(s, slot, &end) == HERD_OK) {
			slot_fmt_len((end - slot) * 1000, len, sizeof(len));
			snprintf(win, sizeof(win), "until %02d:%02d (%s)%s", s->end.hh, s->end.mm, len,
			         need > (end - slot) * 1000 ? ", would not fit" : "");
		}
		if (need >= 0) {
			slot_fmt_len(need, len, sizeof(len));
			snprintf(planc, sizeof(planc), "%s (%s)", s->plan, len);
		} else {
			snprintf(planc, sizeof(planc), "%s (cannot load)", s->plan);
		}
		if (st != NULL)
			store_each_sched_run(st, s->name, 1, on_last, &last);
		table_cell(t, s->name);
		table_cell(t, next);
		table_cell(t, win);
		table_cell(t, planc);
		table_cellf(t, "%s %s", s->cron_expr, s->tz);
		table_cell(t, last.text);
	}
	if (table_write(t, stdout, 0) != 0)
		rc = EXIT_SETUP;
	table_free(t);
	store_close(st);
	return rc;
}

/* Keeps the daemon's answer (bounded) for the message. */
typedef struct answer_buf {
	char text[1024];
	size_t len;
} answer_buf;

static size_t keep_answer(char *p, size_t size, size_t n, void *arg)
{
	answer_buf *a = arg;
	size_t got = size * n, room = sizeof(a->text) - 1 - a->len;
	memcpy(a->text + a->len, p, got < room ? got : room);
	a->len += got < room ? got : room;
	a->text[a->len] = '\0';
	return got;
}

/*
 * `herd schedule run NAME`: asks the running daemon, through its API (the
 * address and bearer token serve.yaml gives), to start NAME now; it runs
 * after a run under way, and still stops at its window's end.
 */
static int schedule_run(const serve_cfg *cfg, const char *name)
{
	auth_token tok;
	char err[512], url[512], auth[AUTH_TOKEN_MAX + 32];
	answer_buf ans = { "", 0 };
	long status = 0;
	int rc = EXIT_SETUP;

	if (!cfg->has_api) {
		fprintf(stderr, "herd schedule run: %s has no api: section; the daemon's API is how a "
		                "run is started now\n", cfg->file);
		return EXIT_INVALID;
	}
	if (auth_token_load(cfg->api_token_file, &tok, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "herd schedule run: api token-file: %s\n", err);
		return EXIT_INVALID;
	}
	/* A name was checked against the API's id characters by the daemon. */
	snprintf(url, sizeof(url), "http://%s/schedules/%s/run", cfg->api_listen, name);
	int n = snprintf(auth, sizeof(auth), "Authorization: Bearer %.*s", (int)tok.len, (const char *)tok.bytes);
	auth_token_wipe(&tok);
	CURL *c = curl_easy_init();
	struct curl_slist *h = n > 0 ? curl_slist_append(NULL, auth) : NULL;
	explicit_bzero(auth, sizeof(auth));
	if (c == NULL || h == NULL) {
		fprintf(stderr, "herd schedule run: out of memory\n");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_answer);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &ans);
	CURLcode cr = curl_easy_perform(c);
	if (cr != CURLE_OK) {
		fprintf(stderr, "herd schedule run: cannot reach herd serve's API at %s: %s (is the daemon "
		                "running?)\n", cfg->api_listen, curl_easy_strerror(cr));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status == 202) {
		printf("herd schedule run: %s queued: %s\n", name, ans.text);
		rc = EXIT_OK;
	} else {
		fprintf(stderr, "herd schedule run: the daemon answered %ld: %s\n", status, ans.text);
		rc = status == 404 ? EXIT_INVALID : EXIT_SETUP;
	}
out:
	curl_slist_free_all(h);
	if (c != NULL)
		curl_easy_cleanup(c);
	return rc;
}

int cli_schedule(int argc, char **argv)
{
	const char *config = NULL, *from = NULL;
	serve_cfg *cfg = NULL;
	char err[1024];
	int64_t t;
	int rv;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_INVALID : EXIT_OK;
	}
	if (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "run") != 0) {
		fprintf(stderr, "herd schedule: unknown command '%s'\n", argv[1]);
		usage(stderr);
		return EXIT_INVALID;
	}
	int is_list = strcmp(argv[1], "list") == 0;
	if ((rv = parse_opts(argc - 1, argv + 1, &config, is_list ? &from : NULL, NULL)) != 0)
		return rv > 0 ? EXIT_OK : EXIT_INVALID;
	if (serve_cfg_load(config, &cfg, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "herd: %s\n", err);
		return EXIT_INVALID;
	}
	if (!is_list) {
		/* optind counts within argv + 1. */
		const char *name = optind < argc - 1 ? argv[1 + optind] : NULL;
		rv = EXIT_INVALID;
		if (name == NULL)
			fprintf(stderr, "herd schedule run: which schedule? (herd schedule list)\n");
		else if (serve_cfg_schedule(cfg, name) == NULL)
			fprintf(stderr, "herd schedule run: %s defines no schedule '%s'\n", config, name);
		else
			rv = schedule_run(cfg, name);
		serve_cfg_free(cfg);
		return rv;
	}
	if (parse_instant(from != NULL ? from : "now", &t) != 0) {
		fprintf(stderr, "herd: --from: expected a UTC time such as 2026-12-03T10:00:00Z or "
		                "'now', got '%s'\n", from);
		serve_cfg_free(cfg);
		return EXIT_INVALID;
	}
	rv = schedule_list(cfg, t);
	serve_cfg_free(cfg);
	return rv;
}

/* Loads a token or secret file as the daemon would, to check it now. */
static int check_token(const char *what, const char *path)
{
	auth_token tok;
	char err[512];
	if (path == NULL)
		return 0;
	if (auth_token_load(path, &tok, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "herd serve: %s: %s\n", what, err);
		return -1;
	}
	if (tok.loose_perms)
		fprintf(stderr, "herd serve: warning: %s is readable by other users: chmod 600 it\n", path);
	auth_token_wipe(&tok);
	return 0;
}

int cli_serve(int argc, char **argv)
{
	const char *config = NULL;
	serve_cfg *cfg = NULL;
	char err[1024];
	int rv, bad = 0, check_only = 0;

	if ((rv = parse_opts(argc, argv, &config, NULL, &check_only)) != 0)
		return rv > 0 ? EXIT_OK : EXIT_INVALID;
	if (optind != argc) {
		fprintf(stderr, "herd serve: unexpected argument '%s'\n", argv[optind]);
		return EXIT_INVALID;
	}
	if (serve_cfg_load(config, &cfg, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "herd serve: %s\n", err);
		return EXIT_INVALID;
	}
	for (size_t i = 0; i < cfg->nschedules; i++) {
		plan *p = NULL;
		if (load_plan(cfg, &cfg->schedules[i], &p, err, sizeof(err)) != HERD_OK) {
			fprintf(stderr, "herd serve: %s\n", err);
			bad = 1;
		}
		plan_free(p);
	}
	if (check_token("token-file", cfg->token_file) != 0 ||
	    check_token("api token-file", cfg->api_token_file) != 0)
		bad = 1;
	for (size_t i = 0; i < cfg->nnotifications; i++)
		if (check_token(cfg->notifications[i].name, cfg->notifications[i].secret_file) != 0)
			bad = 1;
	if (bad) {
		rv = EXIT_INVALID;
	} else if (check_only) {
		fprintf(stderr, "herd serve: %s is valid (%zu schedule%s, %zu notification%s)\n", config,
		        cfg->nschedules, cfg->nschedules == 1 ? "" : "s", cfg->nnotifications,
		        cfg->nnotifications == 1 ? "" : "s");
		rv = EXIT_OK;
	} else {
		rv = serve_daemon_run(cfg);
	}
	serve_cfg_free(cfg);
	return rv;
}
