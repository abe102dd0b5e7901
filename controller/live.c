/* The live status line; see live.h. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hist.h"
#include "controller/live.h"

#define SLOTS 8

typedef struct slot {
	int64_t interval_ms; /* -1: empty */
	uint64_t reqs, failed;
	int64_t vus;
	hist h;
	/* WebSocket: sessions ended and failed, messages sent and received,
	 * sessions in progress at the interval's end, round trips. */
	uint64_t ws_ended, ws_failed, ws_msgs;
	int64_t ws_open;
	hist rtt;
} slot;

struct live {
	slot s[SLOTS];
	int tty;
	int printed;
	int seen_http, seen_ws; /* the run has sent HTTP requests, opened WebSocket sessions */
};

int live_new(live **out)
{
	live *lv = calloc(1, sizeof(*lv));
	if (lv == NULL)
		return 1;
	for (int i = 0; i < SLOTS; i++) {
		lv->s[i].interval_ms = -1;
		hist_init(&lv->s[i].h);
		hist_init(&lv->s[i].rtt);
	}
	lv->tty = isatty(STDOUT_FILENO);
	*out = lv;
	return 0;
}

void live_free(live *lv)
{
	free(lv);
}

static slot *slot_for(live *lv, int64_t interval_ms)
{
	slot *s = &lv->s[(interval_ms / 1000) % SLOTS];
	if (s->interval_ms != interval_ms) {
		if (s->interval_ms > interval_ms)
			return NULL; /* far too late to show */
		s->interval_ms = interval_ms;
		s->reqs = s->failed = 0;
		s->vus = 0;
		hist_init(&s->h);
		s->ws_ended = s->ws_failed = s->ws_msgs = 0;
		s->ws_open = 0;
		hist_init(&s->rtt);
	}
	return s;
}

/* The WebSocket figures of one entry, if it holds any. */
static void live_add_ws(live *lv, slot *s, const wire_entry *e)
{
	if (strcmp(e->metric, "ws_sessions") == 0) {
		s->ws_ended += e->count;
		for (int k = 0; k < ERRK__N; k++)
			s->ws_failed += e->errors[k];
	} else if (strcmp(e->metric, "ws_sessions_open") == 0) {
		s->ws_open += e->gauge;
	} else if (strcmp(e->metric, "ws_msgs_sent") == 0 || strcmp(e->metric, "ws_msgs_received") == 0) {
		s->ws_msgs += e->count;
	} else if (strcmp(e->metric, "ws_msg_rtt") == 0 && e->h != NULL) {
		hist_merge(&s->rtt, e->h);
	} else {
		return;
	}
	lv->seen_ws = 1;
}

void live_add(live *lv, int64_t interval_ms, const wire_entry *e, size_t n)
{
	slot *s = slot_for(lv, interval_ms);
	if (s == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(e[i].metric, "http_req_duration") == 0) {
			s->reqs += e[i].count;
			for (int k = 0; k < ERRK__N; k++)
				s->failed += e[i].errors[k];
			if (e[i].h != NULL)
				hist_merge(&s->h, e[i].h);
		} else if (strcmp(e[i].metric, "vus") == 0) {
			s->vus += e[i].gauge;
		} else {
			live_add_ws(lv, s, &e[i]);
		}
	}
	lv->seen_http |= s->reqs > 0;
}

static void fmt_ms(char *buf, size_t len, uint64_t us)
{
	if (us >= 1000000)
		snprintf(buf, len, "%.2fs", (double)us / 1e6);
	else if (us >= 1000)
		snprintf(buf, len, "%.1fms", (double)us / 1e3);
	else
		snprintf(buf, len, "%lluµs", (unsigned long long)us);
}

void live_print(live *lv, FILE *f, int64_t elapsed_ms, int64_t total_ms, int agents_up, int agents,
                const char *stage)
{
	int64_t want = (elapsed_ms / 1000 - 1) * 1000;
	const slot *s = want >= 0 ? &lv->s[(want / 1000) % SLOTS] : NULL;
	char p95[32] = "-";
	uint64_t reqs = 0, failed = 0;
	int64_t vus = 0;
	if (s != NULL && s->interval_ms == want) {
		reqs = s->reqs;
		failed = s->failed;
		vus = s->vus;
		if (s->h.total > 0)
			fmt_ms(p95, sizeof(p95), hist_percentile(&s->h, 95));
	}
	fprintf(f, "%s[%4llds/%llds] %-12s vus=%-5lld", lv->tty ? "\r" : "", (long long)(elapsed_ms / 1000),
	        (long long)(total_ms / 1000), stage, (long long)vus);
	/* A WebSocket-only run shows its own figures rather than "0 req/s". */
	if (lv->seen_http || !lv->seen_ws)
		fprintf(f, " %7llu req/s  p95=%-8s errors=%5.2f%% ", (unsigned long long)reqs, p95,
		        reqs ? 100.0 * (double)failed / (double)reqs : 0.0);
	if (lv->seen_ws) {
		const slot *w = s != NULL && s->interval_ms == want ? s : NULL;
		char rtt[32] = "-";
		if (w != NULL && w->rtt.total > 0)
			fmt_ms(rtt, sizeof(rtt), hist_percentile(&w->rtt, 95));
		fprintf(f, " ws open=%-6lld %6llu msg/s  rtt p95=%-8s failed=%5.2f%% ",
		        (long long)(w ? w->ws_open : 0), (unsigned long long)(w ? w->ws_msgs : 0), rtt,
		        w && w->ws_ended ? 100.0 * (double)w->ws_failed / (double)w->ws_ended : 0.0);
	}
	fprintf(f, " agents %d/%d%s", agents_up, agents, lv->tty ? "\033[K" : "\n");
	fflush(f);
	lv->printed = 1;
}

void live_end(live *lv, FILE *f)
{
	if (lv->tty && lv->printed)
		fputc('\n', f);
	lv->printed = 0;
}
