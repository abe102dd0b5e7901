/*
 * The live window; see window.h. Each key holds a ring of n interval slots,
 * indexed by interval number modulo n; a slot taken by a newer interval
 * refuses older batches. Histograms are allocated the first time a slot
 * needs one and reused when the slot moves on, so a key without latencies
 * (iterations only) costs no histogram.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "controller/window.h"

#define DEFAULT_N 60
#define DEFAULT_LEN_MS 1000

typedef struct wslot {
	int64_t interval_ms; /* -1: empty */
	uint64_t reqs, failed, errors[ERRK__N];
	uint64_t iterations, started, offered, dropped;
	int64_t vus, vus_target;
	int has_vus_target;
	uint64_t ws_ended, ws_failed, ws_msgs;
	int64_t ws_open;
	hist *lat, *rtt; /* NULL until needed */
} wslot;

typedef struct wkey {
	char *scenario, *step; /* NULL: all */
	uint32_t hash;         /* key_hash of the two: most lookups compare this only */
	wslot *slots;
} wkey;

typedef struct wagent {
	char *id;
	int64_t *iv; /* per slot: the interval its value is for, -1: none */
	double *cpu;
} wagent;

struct win {
	size_t n;
	uint32_t len;
	wkey *keys;
	size_t nkeys, capkeys;
	wagent *agents;
	size_t nagents, capagents;
	int64_t latest;
	int seen_http, seen_ws;
};

static void key_fini(wkey *k, size_t n)
{
	for (size_t i = 0; k->slots != NULL && i < n; i++) {
		hist_free(k->slots[i].lat);
		hist_free(k->slots[i].rtt);
	}
	free(k->slots);
	free(k->scenario);
	free(k->step);
}

void win_free(win *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->nkeys; i++)
		key_fini(&w->keys[i], w->n);
	for (size_t i = 0; i < w->nagents; i++) {
		free(w->agents[i].id);
		free(w->agents[i].iv);
		free(w->agents[i].cpu);
	}
	free(w->keys);
	free(w->agents);
	free(w);
}

static char *dup_or_null(const char *s)
{
	if (s == NULL)
		return NULL;
	size_t len = strlen(s) + 1;
	char *d = malloc(len);
	if (d != NULL)
		memcpy(d, s, len);
	return d;
}

static int same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* FNV-1a of a key's two strings (NULL apart from ""). */
static uint32_t key_hash(const char *scenario, const char *step)
{
	uint32_t h = 2166136261u;
	const char *part[2] = { scenario, step };
	for (int k = 0; k < 2; k++) {
		h = (h ^ (part[k] == NULL ? 1u : 2u)) * 16777619u;
		for (const unsigned char *p = (const unsigned char *)part[k]; p != NULL && *p != '\0'; p++)
			h = (h ^ *p) * 16777619u;
	}
	return h;
}

/* Every entry of every batch looks its key up: by hash first (with 50 steps
 * a batch of 50 entries compared up to 2,500 pairs of strings). */
static wkey *key_find(const win *w, const char *scenario, const char *step, uint32_t hash)
{
	for (size_t i = 0; i < w->nkeys; i++)
		if (w->keys[i].hash == hash && same(w->keys[i].scenario, scenario) && same(w->keys[i].step, step))
			return &w->keys[i];
	return NULL;
}

/* The key, made when new; NULL when out of memory or past WIN_KEYS_MAX. */
static wkey *key_get(win *w, const char *scenario, const char *step)
{
	uint32_t hash = key_hash(scenario, step);
	wkey *k = key_find(w, scenario, step, hash);
	if (k != NULL || w->nkeys >= WIN_KEYS_MAX)
		return k;
	if (w->nkeys == w->capkeys) {
		size_t cap = w->capkeys ? w->capkeys * 2 : 8;
		wkey *nk = realloc(w->keys, cap * sizeof(*nk));
		if (nk == NULL)
			return NULL;
		w->keys = nk;
		w->capkeys = cap;
	}
	k = &w->keys[w->nkeys];
	memset(k, 0, sizeof(*k));
	k->slots = calloc(w->n, sizeof(*k->slots));
	k->scenario = dup_or_null(scenario);
	k->step = dup_or_null(step);
	k->hash = hash;
	if (k->slots == NULL || (scenario != NULL && k->scenario == NULL) || (step != NULL && k->step == NULL)) {
		key_fini(k, w->n);
		return NULL;
	}
	for (size_t i = 0; i < w->n; i++)
		k->slots[i].interval_ms = -1;
	w->nkeys++;
	return k;
}

int win_new(size_t n, uint32_t interval_len_ms, win **out)
{
	win *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return HERD_ENOMEM;
	w->n = n > 0 ? n : DEFAULT_N;
	w->len = interval_len_ms > 0 ? interval_len_ms : DEFAULT_LEN_MS;
	w->latest = -1;
	/* The cluster's key is always key 0. */
	if (key_get(w, NULL, NULL) == NULL) {
		win_free(w);
		return HERD_ENOMEM;
	}
	*out = w;
	return HERD_OK;
}

static size_t slot_index(const win *w, int64_t interval_ms)
{
	return (size_t)((uint64_t)(interval_ms / w->len) % w->n);
}

/* The slot of interval_ms in k, emptied when it held an older interval;
 * NULL when it holds a newer one (the batch is too late to keep). */
static wslot *slot_for(const win *w, wkey *k, int64_t interval_ms)
{
	wslot *s = &k->slots[slot_index(w, interval_ms)];
	if (s->interval_ms == interval_ms)
		return s;
	if (s->interval_ms > interval_ms)
		return NULL;
	hist *lat = s->lat, *rtt = s->rtt;
	memset(s, 0, sizeof(*s));
	s->interval_ms = interval_ms;
	if ((s->lat = lat) != NULL)
		hist_init(lat);
	if ((s->rtt = rtt) != NULL)
		hist_init(rtt);
	return s;
}

static uint64_t error_sum(const wire_entry *e)
{
	uint64_t n = 0;
	for (int k = 0; k < ERRK__N; k++)
		n += e->errors[k];
	return n;
}

static int merge_into(hist **dst, const hist *src)
{
	if (src == NULL)
		return HERD_OK;
	if (*dst == NULL && (*dst = hist_new()) == NULL)
		return HERD_ENOMEM;
	hist_merge(*dst, src);
	return HERD_OK;
}

/* Adds entry e to slot s. Returns HERD_OK or HERD_ENOMEM. */
static int slot_add(win *w, wslot *s, const wire_entry *e)
{
	const char *m = e->metric != NULL ? e->metric : "";
	if (strcmp(m, "http_req_duration") == 0) {
		s->reqs += e->count;
		s->failed += error_sum(e);
		for (int k = 0; k < ERRK__N; k++)
			s->errors[k] += e->errors[k];
		if (e->count > 0)
			w->seen_http = 1;
		return merge_into(&s->lat, e->h);
	}
	if (strcmp(m, "iterations") == 0)
		s->iterations += e->count;
	else if (strcmp(m, "iterations_started") == 0)
		s->started += e->count;
	else if (strcmp(m, "offered_iterations") == 0)
		s->offered += e->count;
	else if (strcmp(m, "dropped_iterations") == 0)
		s->dropped += e->count;
	else if (strcmp(m, "vus") == 0)
		s->vus += e->gauge;
	else if (strcmp(m, "vus_target") == 0) {
		s->vus_target += e->gauge;
		s->has_vus_target = 1;
	} else if (strncmp(m, "ws_", 3) == 0) {
		if (strcmp(m, "ws_sessions") == 0) {
			s->ws_ended += e->count;
			s->ws_failed += error_sum(e);
		} else if (strcmp(m, "ws_sessions_open") == 0) {
			s->ws_open += e->gauge;
		} else if (strcmp(m, "ws_msgs_sent") == 0 || strcmp(m, "ws_msgs_received") == 0) {
			s->ws_msgs += e->count;
		} else if (strcmp(m, "ws_msg_rtt") == 0) {
			if (merge_into(&s->rtt, e->h) != HERD_OK)
				return HERD_ENOMEM;
		} else {
			return HERD_OK; /* other WebSocket series are not shown live */
		}
		w->seen_ws = 1;
	}
	return HERD_OK;
}

static int key_add(win *w, wkey *k, int64_t interval_ms, const wire_entry *e)
{
	if (k == NULL)
		return HERD_OK; /* past WIN_KEYS_MAX: counted in the wider keys only */
	wslot *s = slot_for(w, k, interval_ms);
	return s != NULL ? slot_add(w, s, e) : HERD_OK;
}

int win_add(win *w, const char *agent, int64_t interval_ms, const wire_entry *e, size_t n)
{
	if (agent == NULL || interval_ms < 0 || (e == NULL && n > 0))
		return HERD_EINVAL;
	/* A batch older than the whole window changes nothing a reader can see. */
	if (w->latest >= 0 && interval_ms <= w->latest - (int64_t)w->n * w->len)
		return HERD_OK;
	for (size_t i = 0; i < n; i++) {
		if (e[i].metric != NULL && strcmp(e[i].metric, "agent_cpu") == 0) {
			int rv = win_set_cpu(w, agent, interval_ms, (double)e[i].gauge / 10.0);
			if (rv != HERD_OK && rv != HERD_ENOTFOUND)
				return rv;
			continue;
		}
		const char *sc = e[i].scenario != NULL && e[i].scenario[0] != '\0' ? e[i].scenario : NULL;
		const char *st = sc != NULL && e[i].name != NULL && e[i].name[0] != '\0' ? e[i].name : NULL;
		int rv = key_add(w, &w->keys[0], interval_ms, &e[i]);
		/* key_get may move w->keys: look each key up after the last add. */
		if (rv == HERD_OK && sc != NULL)
			rv = key_add(w, key_get(w, sc, NULL), interval_ms, &e[i]);
		if (rv == HERD_OK && st != NULL)
			rv = key_add(w, key_get(w, sc, st), interval_ms, &e[i]);
		if (rv != HERD_OK)
			return rv;
	}
	if (interval_ms > w->latest)
		w->latest = interval_ms;
	return HERD_OK;
}

int win_set_cpu(win *w, const char *agent, int64_t interval_ms, double cpu_pct)
{
	wagent *a = NULL;
	if (agent == NULL || interval_ms < 0)
		return HERD_EINVAL;
	for (size_t i = 0; i < w->nagents && a == NULL; i++)
		if (strcmp(w->agents[i].id, agent) == 0)
			a = &w->agents[i];
	if (a == NULL) {
		if (w->nagents >= WIN_AGENTS_MAX)
			return HERD_ENOTFOUND;
		if (w->nagents == w->capagents) {
			size_t cap = w->capagents ? w->capagents * 2 : 8;
			wagent *na = realloc(w->agents, cap * sizeof(*na));
			if (na == NULL)
				return HERD_ENOMEM;
			w->agents = na;
			w->capagents = cap;
		}
		a = &w->agents[w->nagents];
		a->id = dup_or_null(agent);
		a->iv = malloc(w->n * sizeof(*a->iv));
		a->cpu = calloc(w->n, sizeof(*a->cpu));
		if (a->id == NULL || a->iv == NULL || a->cpu == NULL) {
			free(a->id);
			free(a->iv);
			free(a->cpu);
			return HERD_ENOMEM;
		}
		for (size_t i = 0; i < w->n; i++)
			a->iv[i] = -1;
		w->nagents++;
	}
	size_t i = slot_index(w, interval_ms);
	if (a->iv[i] > interval_ms)
		return HERD_OK; /* too late */
	a->iv[i] = interval_ms;
	a->cpu[i] = cpu_pct;
	return HERD_OK;
}

size_t win_cpu_at(const win *w, int64_t interval_ms, win_cpu *out, size_t max)
{
	size_t k = 0;
	if (interval_ms < 0)
		return 0;
	size_t i = slot_index(w, interval_ms);
	for (size_t a = 0; a < w->nagents && k < max; a++)
		if (w->agents[a].iv[i] == interval_ms)
			out[k++] = (win_cpu){ w->agents[a].id, w->agents[a].cpu[i] };
	return k;
}

int win_get(const win *w, const char *scenario, const char *step, int64_t from_ms, int64_t to_ms,
            win_stats *out)
{
	if (step != NULL && scenario == NULL)
		return HERD_EINVAL;
	memset(out, 0, sizeof(*out));
	hist_init(&out->lat);
	hist_init(&out->rtt);
	out->from_ms = from_ms;
	out->to_ms = to_ms;
	out->latest_ms = -1;
	const wkey *k = key_find(w, scenario, step, key_hash(scenario, step));
	if (k == NULL)
		return HERD_OK;
	const wslot *last = NULL;
	for (size_t i = 0; i < w->n; i++) {
		const wslot *s = &k->slots[i];
		if (s->interval_ms < 0 || s->interval_ms < from_ms || s->interval_ms > to_ms)
			continue;
		out->intervals++;
		out->reqs += s->reqs;
		out->failed += s->failed;
		for (int e = 0; e < ERRK__N; e++)
			out->errors[e] += s->errors[e];
		if (s->lat != NULL)
			hist_merge(&out->lat, s->lat);
		out->iterations += s->iterations;
		out->started += s->started;
		out->offered += s->offered;
		out->dropped += s->dropped;
		out->ws_ended += s->ws_ended;
		out->ws_failed += s->ws_failed;
		out->ws_msgs += s->ws_msgs;
		if (s->rtt != NULL)
			hist_merge(&out->rtt, s->rtt);
		if (last == NULL || s->interval_ms > last->interval_ms)
			last = s;
	}
	if (last != NULL) {
		out->latest_ms = last->interval_ms;
		out->vus = last->vus;
		out->vus_target = last->vus_target;
		out->has_vus_target = last->has_vus_target;
		out->ws_open = last->ws_open;
	}
	out->seconds = (double)out->intervals * w->len / 1000.0;
	if (out->seconds > 0) {
		out->rps = (double)out->reqs / out->seconds;
		out->offered_rate = (double)out->offered / out->seconds;
		out->started_rate = (double)out->started / out->seconds;
	}
	if (out->reqs > 0)
		out->error_rate = (double)out->failed / (double)out->reqs;
	if (out->lat.total > 0) {
		out->p50_ms = (double)hist_percentile(&out->lat, 50) / 1000.0;
		out->p95_ms = (double)hist_percentile(&out->lat, 95) / 1000.0;
		out->p99_ms = (double)hist_percentile(&out->lat, 99) / 1000.0;
	}
	return HERD_OK;
}

int64_t win_latest_ms(const win *w)
{
	return w->latest;
}

uint32_t win_interval_len_ms(const win *w)
{
	return w->len;
}

size_t win_capacity(const win *w)
{
	return w->n;
}

void win_seen(const win *w, int *http, int *ws)
{
	*http = w->seen_http;
	*ws = w->seen_ws;
}

size_t win_nkeys(const win *w)
{
	return w->nkeys;
}

int win_key(const win *w, size_t i, const char **scenario, const char **step)
{
	if (i >= w->nkeys)
		return 0;
	*scenario = w->keys[i].scenario;
	*step = w->keys[i].step;
	return 1;
}
