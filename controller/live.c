/* The live status line; see live.h. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hist.h"
#include "controller/live.h"

struct live {
	int tty;
	int printed;
};

int live_new(live **out)
{
	live *lv = calloc(1, sizeof(*lv));
	if (lv == NULL)
		return 1;
	lv->tty = isatty(STDOUT_FILENO);
	*out = lv;
	return 0;
}

void live_free(live *lv)
{
	free(lv);
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

void live_print(live *lv, FILE *f, const win *w, int64_t elapsed_ms, int64_t total_ms, int agents_up,
                int agents, const char *stage)
{
	int64_t len = win_interval_len_ms(w);
	int64_t want = (elapsed_ms / len - 1) * len;
	win_stats *s = malloc(sizeof(*s)); /* two histograms: not on the stack */
	char p95[32] = "-";
	int seen_http, seen_ws, have;
	win_seen(w, &seen_http, &seen_ws);
	have = s != NULL && want >= 0 && win_get(w, NULL, NULL, want, want, s) == 0 && s->intervals > 0;
	uint64_t reqs = have ? s->reqs : 0, failed = have ? s->failed : 0;
	int64_t vus = have ? s->vus : 0;
	if (have && s->lat.total > 0)
		fmt_ms(p95, sizeof(p95), hist_percentile(&s->lat, 95));
	fprintf(f, "%s[%4llds/%llds] %-12s vus=%-5lld", lv->tty ? "\r" : "", (long long)(elapsed_ms / 1000),
	        (long long)(total_ms / 1000), stage, (long long)vus);
	/* A WebSocket-only run shows its own figures rather than "0 req/s". */
	if (seen_http || !seen_ws)
		fprintf(f, " %7llu req/s  p95=%-8s errors=%5.2f%% ", (unsigned long long)reqs, p95,
		        reqs ? 100.0 * (double)failed / (double)reqs : 0.0);
	if (seen_ws) {
		char rtt[32] = "-";
		if (have && s->rtt.total > 0)
			fmt_ms(rtt, sizeof(rtt), hist_percentile(&s->rtt, 95));
		fprintf(f, " ws open=%-6lld %6llu msg/s  rtt p95=%-8s failed=%5.2f%% ",
		        (long long)(have ? s->ws_open : 0), (unsigned long long)(have ? s->ws_msgs : 0), rtt,
		        have && s->ws_ended ? 100.0 * (double)s->ws_failed / (double)s->ws_ended : 0.0);
	}
	fprintf(f, " agents %d/%d%s", agents_up, agents, lv->tty ? "\033[K" : "\n");
	fflush(f);
	free(s);
	lv->printed = 1;
}

void live_end(live *lv, FILE *f)
{
	if (lv->tty && lv->printed)
		fputc('\n', f);
	lv->printed = 0;
}
