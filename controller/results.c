/*
 * Merged run results: see results.h. Series live in a growable array and are
 * found through an open-addressing hash table of indexes, so merging a batch
 * costs a hash and a compare per entry. A series' other tags are split once,
 * when it is created, into (key, value) pairs that filters scan. Gauge series
 * also keep one point per interval, because the minimum and maximum of a sum
 * over agents can only be taken interval by interval.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "controller/results.h"

typedef struct gpoint {
	int64_t at; /* interval start, ms since run start */
	int64_t v;
} gpoint;

/* One of a series' other tags; both point into series.tagbuf. */
typedef struct stag {
	const char *key, *value;
} stag;

typedef struct series {
	char *metric, *scenario, *name, *method, *agent;
	char *tags;   /* as sent: "key=value" lines, "" when none; part of the key */
	char *tagbuf; /* a copy of tags cut into the strings kv points to */
	stag *kv;     /* the parsed tags, in the order sent */
	size_t nkv;
	uint32_t status_class;
	uint64_t hash;
	uint64_t count;
	uint64_t errors[ERRK__N];
	uint64_t bytes_in, bytes_out;
	hist *h;      /* NULL until an entry carries a histogram */
	int gauge;    /* 1 for gauge metrics: pts is kept */
	gpoint *pts;  /* sorted by at, one per interval */
	size_t npts, cappts;
} series;

struct results {
	uint32_t interval_len;
	int any;
	int64_t max_interval;
	int64_t measured_ms; /* set by the controller; 0: from the intervals */
	series **s;
	size_t ns, caps;
	size_t *slots; /* index + 1 into s, 0 when empty; nslots is a power of two */
	size_t nslots;
};

/* Known k6 metrics, sorted by name. */
static const res_metric_info known[] = {
	{"agent_cpu", RES_GAUGE, "agent_cpu"},       /* per mille of one core; the report's */
	{"agent_rss_kb", RES_GAUGE, "agent_rss_kb"}, /* KiB; the report's */
	{"checks", RES_RATE, "checks"},
	{"data_received", RES_COUNTER, "http_req_duration|ws_sessions"},
	{"data_sent", RES_COUNTER, "http_req_duration|ws_sessions"},
	{"dropped_iterations", RES_COUNTER, "dropped_iterations"},
	{"group_duration", RES_TREND, "group_duration"},
	{"http_req_blocked", RES_TREND, "http_req_blocked"},
	{"http_req_connecting", RES_TREND, "http_req_connecting"},
	{"http_req_duration", RES_TREND, "http_req_duration"},
	{"http_req_failed", RES_RATE, "http_req_duration"},
	{"http_req_receiving", RES_TREND, "http_req_receiving"},
	{"http_req_sending", RES_TREND, "http_req_sending"},
	{"http_req_tls_handshaking", RES_TREND, "http_req_tls_handshaking"},
	{"http_req_waiting", RES_TREND, "http_req_waiting"},
	{"http_reqs", RES_COUNTER, "http_req_duration"},
	{"iteration_duration", RES_TREND, "iterations"},
	{"iterations", RES_COUNTER, "iterations"},
	{"iterations_started", RES_COUNTER, "iterations_started"},
	{"offered_iterations", RES_COUNTER, "offered_iterations"},
	{"rate_capped", RES_COUNTER, "rate_capped"},
	{"vus", RES_GAUGE, "vus"},
	{"vus_max", RES_GAUGE, "vus_max"},
	{"vus_target", RES_GAUGE, "vus_target"},
	{"ws_close_codes", RES_COUNTER, "ws_close_codes"},
	{"ws_connecting", RES_TREND, "ws_connecting"},
	{"ws_msg_rtt", RES_TREND, "ws_msg_rtt"},
	{"ws_msgs_received", RES_COUNTER, "ws_msgs_received"},
	{"ws_msgs_sent", RES_COUNTER, "ws_msgs_sent"},
	{"ws_session_duration", RES_TREND, "ws_session_duration"},
	{"ws_session_failed", RES_RATE, "ws_sessions"},
	{"ws_sessions", RES_COUNTER, "ws_sessions"},
	{"ws_sessions_open", RES_GAUGE, "ws_sessions_open"},
	{"ws_tls_handshaking", RES_TREND, "ws_tls_handshaking"},
};
#define NKNOWN (sizeof(known) / sizeof(known[0]))

static const char *const class_names[10] = {
	"0", "1xx", "2xx", "3xx", "4xx", "5xx", "6xx", "7xx", "8xx", "9xx",
};

const char *results_type_name(res_type t)
{
	switch (t) {
	case RES_COUNTER: return "counter";
	case RES_RATE: return "rate";
	case RES_TREND: return "trend";
	case RES_GAUGE: return "gauge";
	}
	return "?";
}

const res_metric_info *results_known_metrics(size_t *n)
{
	*n = NKNOWN;
	return known;
}

static const res_metric_info *known_find(const char *name)
{
	for (size_t i = 0; i < NKNOWN; i++)
		if (strcmp(known[i].name, name) == 0)
			return &known[i];
	return NULL;
}

/* Whether series of metric feed a known metric whose source is `source`:
 * one name, or several separated by '|' (data_sent counts HTTP and
 * WebSocket bytes alike). */
int results_source_is(const char *source, const char *metric)
{
	size_t n = strlen(metric);
	for (const char *p = source;;) {
		const char *bar = strchr(p, '|');
		size_t len = bar != NULL ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncmp(p, metric, n) == 0)
			return 1;
		if (bar == NULL)
			return 0;
		p = bar + 1;
	}
}

/* A stored metric is a gauge when its name is the source of a known gauge. */
static int is_gauge_source(const char *metric)
{
	const res_metric_info *k = known_find(metric);
	return k != NULL && k->type == RES_GAUGE;
}

static const char *nz(const char *s)
{
	return s != NULL ? s : "";
}

/* FNV-1a over the key fields, each followed by a 0 byte so "ab","c" and
 * "a","bc" differ. */
static uint64_t fnv(uint64_t h, const char *s)
{
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(1099511628211);
	}
	h ^= 0xff;
	h *= UINT64_C(1099511628211);
	return h;
}

/* The fields of a series key, NULLs read as "". */
typedef struct skey {
	const char *metric, *scenario, *name, *method, *tags, *agent;
	uint32_t cls;
} skey;

static uint64_t key_hash(const skey *k)
{
	uint64_t h = UINT64_C(14695981039346656037);
	h = fnv(h, k->metric);
	h = fnv(h, k->scenario);
	h = fnv(h, k->name);
	h = fnv(h, k->method);
	h = fnv(h, k->tags);
	h = fnv(h, k->agent);
	h ^= k->cls;
	h *= UINT64_C(1099511628211);
	return h;
}

static int key_eq(const series *s, uint64_t hash, const skey *k)
{
	return s->hash == hash && s->status_class == k->cls && strcmp(s->metric, k->metric) == 0 &&
	       strcmp(s->scenario, k->scenario) == 0 && strcmp(s->name, k->name) == 0 &&
	       strcmp(s->method, k->method) == 0 && strcmp(s->tags, k->tags) == 0 &&
	       strcmp(s->agent, k->agent) == 0;
}

/*
 * Splits s->tags into s->kv: one pair per non-empty line, cut at the line's
 * first '='. A line without '=' is a key with an empty value, so it matches
 * no filter (filter values are never empty) but is not lost.
 */
static int tags_parse(series *s)
{
	size_t n = 0;
	char *p;

	if (s->tags[0] == '\0')
		return HERD_OK;
	if ((s->tagbuf = strdup(s->tags)) == NULL)
		return HERD_ENOMEM;
	for (p = s->tagbuf; *p != '\0'; p++)
		n += *p == '\n';
	if ((s->kv = calloc(n + 1, sizeof(*s->kv))) == NULL)
		return HERD_ENOMEM;
	for (p = s->tagbuf; p != NULL && *p != '\0';) {
		char *nl = strchr(p, '\n'), *eq;
		if (nl != NULL)
			*nl = '\0';
		if (*p != '\0') {
			eq = strchr(p, '=');
			if (eq != NULL)
				*eq = '\0';
			s->kv[s->nkv].key = p;
			s->kv[s->nkv].value = eq != NULL ? eq + 1 : "";
			s->nkv++;
		}
		p = nl != NULL ? nl + 1 : NULL;
	}
	return HERD_OK;
}

/* The value of the series' tag key, or NULL when it has none. */
static const char *tag_get(const series *s, const char *key)
{
	for (size_t i = 0; i < s->nkv; i++)
		if (strcmp(s->kv[i].key, key) == 0)
			return s->kv[i].value;
	return NULL;
}

static void series_free(series *s)
{
	if (s == NULL)
		return;
	free(s->metric);
	free(s->scenario);
	free(s->name);
	free(s->method);
	free(s->agent);
	free(s->tags);
	free(s->tagbuf);
	free(s->kv);
	hist_free(s->h);
	free(s->pts);
	free(s);
}

int results_new(uint32_t interval_len_ms, results **out)
{
	results *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return HERD_ENOMEM;
	r->interval_len = interval_len_ms != 0 ? interval_len_ms : 1000;
	r->nslots = 64;
	r->slots = calloc(r->nslots, sizeof(*r->slots));
	if (r->slots == NULL) {
		free(r);
		return HERD_ENOMEM;
	}
	*out = r;
	return HERD_OK;
}

void results_free(results *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->ns; i++)
		series_free(r->s[i]);
	free(r->s);
	free(r->slots);
	free(r);
}

static void slot_put(size_t *slots, size_t nslots, uint64_t hash, size_t idx1)
{
	size_t mask = nslots - 1;
	size_t i = (size_t)hash & mask;
	while (slots[i] != 0)
		i = (i + 1) & mask;
	slots[i] = idx1;
}

/* Keeps the table at most half full so probes stay short. */
static int slots_grow(results *r)
{
	if ((r->ns + 1) * 2 <= r->nslots)
		return HERD_OK;
	size_t n = r->nslots * 2;
	size_t *slots = calloc(n, sizeof(*slots));
	if (slots == NULL)
		return HERD_ENOMEM;
	for (size_t i = 0; i < r->ns; i++)
		slot_put(slots, n, r->s[i]->hash, i + 1);
	free(r->slots);
	r->slots = slots;
	r->nslots = n;
	return HERD_OK;
}

static int series_get(results *r, const wire_entry *e, const char *agent, series **out)
{
	const skey k = {nz(e->metric), nz(e->scenario), nz(e->name), nz(e->method),
	                nz(e->tags),   agent,           e->status_class};
	uint64_t hash = key_hash(&k);
	size_t mask = r->nslots - 1;
	for (size_t i = (size_t)hash & mask; r->slots[i] != 0; i = (i + 1) & mask) {
		series *s = r->s[r->slots[i] - 1];
		if (key_eq(s, hash, &k)) {
			*out = s;
			return HERD_OK;
		}
	}

	int rv;
	if ((rv = slots_grow(r)) != 0)
		return rv;
	if (r->ns == r->caps) {
		size_t cap = r->caps ? r->caps * 2 : 16;
		series **ns = realloc(r->s, cap * sizeof(*ns));
		if (ns == NULL)
			return HERD_ENOMEM;
		r->s = ns;
		r->caps = cap;
	}
	series *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return HERD_ENOMEM;
	s->metric = strdup(k.metric);
	s->scenario = strdup(k.scenario);
	s->name = strdup(k.name);
	s->method = strdup(k.method);
	s->tags = strdup(k.tags);
	s->agent = strdup(agent);
	if (!s->metric || !s->scenario || !s->name || !s->method || !s->tags || !s->agent ||
	    tags_parse(s) != HERD_OK) {
		series_free(s);
		return HERD_ENOMEM;
	}
	s->status_class = e->status_class;
	s->hash = hash;
	s->gauge = is_gauge_source(k.metric);
	r->s[r->ns++] = s;
	slot_put(r->slots, r->nslots, hash, r->ns);
	*out = s;
	return HERD_OK;
}

/* Sets the series' value at interval at; points stay sorted by time. */
static int gauge_put(series *s, int64_t at, int64_t v)
{
	size_t lo = 0, hi = s->npts;
	/* Batches nearly always arrive in order, so try the end first. */
	if (s->npts > 0 && s->pts[s->npts - 1].at < at) {
		lo = s->npts;
	} else {
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (s->pts[mid].at < at)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < s->npts && s->pts[lo].at == at) {
			s->pts[lo].v = v;
			return HERD_OK;
		}
	}
	if (s->npts == s->cappts) {
		size_t cap = s->cappts ? s->cappts * 2 : 64;
		gpoint *p = realloc(s->pts, cap * sizeof(*p));
		if (p == NULL)
			return HERD_ENOMEM;
		s->pts = p;
		s->cappts = cap;
	}
	memmove(&s->pts[lo + 1], &s->pts[lo], (s->npts - lo) * sizeof(*s->pts));
	s->pts[lo].at = at;
	s->pts[lo].v = v;
	s->npts++;
	return HERD_OK;
}

int results_add_batch(results *r, const char *agent_id, int64_t interval_ms,
                      const wire_entry *entries, size_t n)
{
	if (r == NULL || agent_id == NULL || (entries == NULL && n > 0) || interval_ms < 0)
		return HERD_EINVAL;
	int rv;
	for (size_t i = 0; i < n; i++) {
		const wire_entry *e = &entries[i];
		series *s;
		if ((rv = series_get(r, e, agent_id, &s)) != 0)
			return rv;
		s->count += e->count;
		for (int k = 0; k < ERRK__N; k++)
			s->errors[k] += e->errors[k];
		s->bytes_in += e->bytes_in;
		s->bytes_out += e->bytes_out;
		if (e->h != NULL) {
			if (s->h == NULL && (s->h = hist_new()) == NULL)
				return HERD_ENOMEM;
			hist_merge(s->h, e->h);
		}
		if (s->gauge && (rv = gauge_put(s, interval_ms, e->gauge)) != 0)
			return rv;
	}
	if (!r->any || interval_ms > r->max_interval)
		r->max_interval = interval_ms;
	r->any = 1;
	return HERD_OK;
}

int64_t results_duration_ms(const results *r)
{
	if (r->measured_ms > 0)
		return r->measured_ms;
	return r->any ? r->max_interval + (int64_t)r->interval_len : 0;
}

void results_set_duration_ms(results *r, int64_t ms)
{
	r->measured_ms = ms > 0 ? ms : 0;
}

uint32_t results_interval_len_ms(const results *r)
{
	return r->interval_len;
}

int results_metric_info(const results *r, const char *name, res_metric_info *out)
{
	const res_metric_info *k = known_find(name);
	if (k != NULL) {
		*out = *k;
		return HERD_OK;
	}
	if (r == NULL)
		return HERD_ENOTFOUND;
	int found = 0;
	for (size_t i = 0; i < r->ns; i++) {
		const series *s = r->s[i];
		if (strcmp(s->metric, name) != 0)
			continue;
		if (!found) {
			out->name = s->metric;
			out->source = s->metric;
			out->type = RES_COUNTER;
			found = 1;
		}
		if (s->h != NULL) {
			out->type = RES_TREND;
			break;
		}
	}
	return found ? HERD_OK : HERD_ENOTFOUND;
}

/* The tags every series has as fields; any other key is one of its tags
 * lines (TK_OTHER). */
enum { TK_SCENARIO, TK_NAME, TK_METHOD, TK_STATUS, TK_AGENT, TK_OTHER };

typedef struct filt {
	int key;
	const char *name; /* the key, for TK_OTHER */
	const char *val;
	uint32_t cls;
} filt;

/* The kind of a filter key, or -1 when it is not spelled as a key. */
static int tag_key(const char *k)
{
	if (strcmp(k, "scenario") == 0)
		return TK_SCENARIO;
	if (strcmp(k, "name") == 0 || strcmp(k, "check") == 0)
		return TK_NAME;
	if (strcmp(k, "method") == 0)
		return TK_METHOD;
	if (strcmp(k, "status") == 0)
		return TK_STATUS;
	if (strcmp(k, "agent") == 0)
		return TK_AGENT;
	return th_tag_key_valid(k) ? TK_OTHER : -1;
}

/* "2xx" (any case) is class 2; "0" and "none" are no response. */
static int parse_class(const char *v, uint32_t *cls)
{
	if (strcmp(v, "0") == 0 || strcmp(v, "none") == 0) {
		*cls = 0;
		return HERD_OK;
	}
	if (strlen(v) == 3 && v[0] >= '1' && v[0] <= '9' && (v[1] == 'x' || v[1] == 'X') &&
	    (v[2] == 'x' || v[2] == 'X')) {
		*cls = (uint32_t)(v[0] - '0');
		return HERD_OK;
	}
	return HERD_EINVAL;
}

static int filters_compile(const th_tag *tags, size_t ntags, filt *f)
{
	if (ntags > TH_MAX_TAGS)
		return HERD_EINVAL;
	for (size_t i = 0; i < ntags; i++) {
		f[i].key = tag_key(tags[i].key);
		f[i].name = tags[i].key;
		f[i].val = tags[i].value;
		f[i].cls = 0;
		if (f[i].key < 0)
			return HERD_EINVAL;
		if (f[i].key == TK_STATUS && parse_class(tags[i].value, &f[i].cls) != 0)
			return HERD_EINVAL;
	}
	return HERD_OK;
}

int results_check_tags(const th_tag *tags, size_t ntags)
{
	filt f[TH_MAX_TAGS];
	if (tags == NULL && ntags > 0)
		return HERD_EINVAL;
	return filters_compile(tags, ntags, f);
}

static int filters_match(const series *s, const filt *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (f[i].key) {
		case TK_SCENARIO:
			if (strcmp(s->scenario, f[i].val) != 0)
				return 0;
			break;
		case TK_NAME:
			if (strcmp(s->name, f[i].val) != 0)
				return 0;
			break;
		case TK_METHOD:
			if (strcasecmp(s->method, f[i].val) != 0)
				return 0;
			break;
		case TK_STATUS:
			if (s->status_class != f[i].cls)
				return 0;
			break;
		case TK_AGENT:
			if (strcmp(s->agent, f[i].val) != 0)
				return 0;
			break;
		default: {
			/* A series without the tag has it empty: "" finds those. A
			 * series outside a scenario's setup has no phase tag: it is
			 * in phase "main". */
			const char *v = tag_get(s, f[i].name);
			if (v == NULL && strcmp(f[i].name, "phase") == 0)
				v = "main";
			if (strcmp(v != NULL ? v : "", f[i].val) != 0)
				return 0;
			break;
		}
		}
	}
	return 1;
}

static int gpoint_cmp(const void *a, const void *b)
{
	const gpoint *x = a, *y = b;
	return (x->at > y->at) - (x->at < y->at);
}

int results_query(const results *r, const char *metric, const th_tag *tags, size_t ntags,
                  res_agg *out)
{
	res_metric_info info;
	filt f[TH_MAX_TAGS];
	int rv;

	if (r == NULL || metric == NULL || out == NULL || (tags == NULL && ntags > 0))
		return HERD_EINVAL;
	if ((rv = results_metric_info(r, metric, &info)) != 0)
		return rv;
	if ((rv = filters_compile(tags, ntags, f)) != 0)
		return rv;

	memset(out, 0, sizeof(*out));
	hist_init(&out->h);

	size_t npts = 0;
	for (size_t i = 0; i < r->ns; i++) {
		const series *s = r->s[i];
		if (!results_source_is(info.source, s->metric) || !filters_match(s, f, ntags))
			continue;
		out->nseries++;
		out->count += s->count;
		for (int k = 0; k < ERRK__N; k++)
			out->errors[k] += s->errors[k];
		out->bytes_in += s->bytes_in;
		out->bytes_out += s->bytes_out;
		if (s->h != NULL)
			hist_merge(&out->h, s->h);
		npts += s->npts;
	}
	if (npts == 0)
		return HERD_OK;

	/* Gauges: sum the matching series interval by interval, then take the
	 * extremes of those sums over time. */
	gpoint *all = malloc(npts * sizeof(*all)), *p = all;
	if (all == NULL)
		return HERD_ENOMEM;
	for (size_t i = 0; i < r->ns; i++) {
		const series *s = r->s[i];
		if (s->npts == 0 || !results_source_is(info.source, s->metric) || !filters_match(s, f, ntags))
			continue;
		memcpy(p, s->pts, s->npts * sizeof(*p));
		p += s->npts;
	}
	qsort(all, npts, sizeof(*all), gpoint_cmp);
	for (size_t i = 0; i < npts;) {
		int64_t sum = 0, at = all[i].at;
		for (; i < npts && all[i].at == at; i++)
			sum += all[i].v;
		if (!out->has_gauge || sum < out->gauge_min)
			out->gauge_min = sum;
		if (!out->has_gauge || sum > out->gauge_max)
			out->gauge_max = sum;
		out->gauge_last = sum;
		out->has_gauge = 1;
	}
	free(all);
	return HERD_OK;
}

int results_rate_counts(const char *metric, const res_agg *a, uint64_t *trues, uint64_t *total)
{
	/* A failed WebSocket session has one error kind too (its first), so
	 * ws_session_failed is counted as http_req_failed is. */
	if (strcmp(metric, "http_req_failed") == 0 || strcmp(metric, "ws_session_failed") == 0) {
		uint64_t failed = 0;
		/* A request has at most one error kind, so the kinds add up to the
		 * failed requests. Checks are never counted here. */
		for (int k = 0; k < ERRK__N; k++)
			if (k != ERRK_CHECK)
				failed += a->errors[k];
		*trues = failed < a->count ? failed : a->count;
		*total = a->count;
		return HERD_OK;
	}
	if (strcmp(metric, "checks") == 0) {
		uint64_t bad = a->errors[ERRK_CHECK] < a->count ? a->errors[ERRK_CHECK] : a->count;
		*trues = a->count - bad;
		*total = a->count;
		return HERD_OK;
	}
	return HERD_EINVAL;
}

uint64_t results_counter_value(const char *metric, const res_agg *a)
{
	if (strcmp(metric, "data_received") == 0)
		return a->bytes_in;
	if (strcmp(metric, "data_sent") == 0)
		return a->bytes_out;
	return a->count;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts v and drops duplicates and empty strings in place. */
static size_t sort_unique(const char **v, size_t n)
{
	qsort(v, n, sizeof(*v), str_cmp);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i][0] == '\0' || (m > 0 && strcmp(v[m - 1], v[i]) == 0))
			continue;
		v[m++] = v[i];
	}
	return m;
}

int results_tag_values(const results *r, const char *metric, const char *key, const th_tag *tags,
                       size_t ntags, const char ***vals, size_t *n)
{
	res_metric_info info;
	filt f[TH_MAX_TAGS];
	int rv, k;

	if (r == NULL || key == NULL || vals == NULL || n == NULL || (tags == NULL && ntags > 0))
		return HERD_EINVAL;
	if (metric != NULL && (rv = results_metric_info(r, metric, &info)) != 0)
		return rv;
	if ((k = tag_key(key)) < 0)
		return HERD_EINVAL;
	if ((rv = filters_compile(tags, ntags, f)) != 0)
		return rv;

	const char **v = malloc((r->ns ? r->ns : 1) * sizeof(*v));
	if (v == NULL)
		return HERD_ENOMEM;
	size_t m = 0;
	for (size_t i = 0; i < r->ns; i++) {
		const series *s = r->s[i];
		if (metric != NULL && !results_source_is(info.source, s->metric))
			continue;
		if (!filters_match(s, f, ntags))
			continue;
		switch (k) {
		case TK_SCENARIO: v[m++] = s->scenario; break;
		case TK_NAME: v[m++] = s->name; break;
		case TK_METHOD: v[m++] = s->method; break;
		case TK_AGENT: v[m++] = s->agent; break;
		case TK_STATUS: v[m++] = class_names[s->status_class < 10 ? s->status_class : 0]; break;
		default: {
			const char *tv = tag_get(s, key);
			if (tv != NULL)
				v[m++] = tv;
			break;
		}
		}
	}
	*n = sort_unique(v, m);
	*vals = v;
	return HERD_OK;
}

static int status_count_cmp(const void *a, const void *b)
{
	const res_status_count *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return (x->status > y->status) - (x->status < y->status);
}

int results_by_status(const results *r, const char *metric, const th_tag *tags, size_t ntags,
                      res_status_count **out, size_t *n)
{
	res_metric_info info;
	filt f[TH_MAX_TAGS];
	int rv;

	if (r == NULL || metric == NULL || out == NULL || n == NULL || (tags == NULL && ntags > 0))
		return HERD_EINVAL;
	if ((rv = results_metric_info(r, metric, &info)) != 0)
		return rv;
	if ((rv = filters_compile(tags, ntags, f)) != 0)
		return rv;
	*out = NULL;
	*n = 0;
	res_status_count *v = NULL;
	size_t m = 0, cap = 0;
	for (size_t i = 0; i < r->ns; i++) {
		const series *s = r->s[i];
		if (!results_source_is(info.source, s->metric) || !filters_match(s, f, ntags))
			continue;
		size_t j = 0;
		while (j < m && v[j].status != s->status_class)
			j++;
		if (j == m) {
			if (m == cap) {
				size_t nc = cap ? cap * 2 : 8;
				res_status_count *nv = realloc(v, nc * sizeof(*nv));
				if (nv == NULL) {
					free(v);
					return HERD_ENOMEM;
				}
				v = nv;
				cap = nc;
			}
			v[m++] = (res_status_count){ .status = s->status_class };
		}
		v[j].count += s->count;
	}
	if (m > 1)
		qsort(v, m, sizeof(*v), status_count_cmp);
	*out = v;
	*n = m;
	return HERD_OK;
}

int results_series_metrics(const results *r, const char ***vals, size_t *n)
{
	const char **v = malloc((r->ns ? r->ns : 1) * sizeof(*v));
	if (v == NULL)
		return HERD_ENOMEM;
	for (size_t i = 0; i < r->ns; i++)
		v[i] = r->s[i]->metric;
	*n = sort_unique(v, r->ns);
	*vals = v;
	return HERD_OK;
}

void res_tag_set(th_tag *t, const char *key, const char *value)
{
	snprintf(t->key, sizeof(t->key), "%s", key);
	snprintf(t->value, sizeof(t->value), "%s", value);
}

int results_each_series(const results *r, res_series_fn fn, void *arg)
{
	for (size_t i = 0; i < r->ns; i++) {
		const series *se = r->s[i];
		res_series_view v = {
			.metric = se->metric, .scenario = se->scenario, .name = se->name,
			.method = se->method, .agent = se->agent, .tags = se->tags,
			.status_class = se->status_class, .count = se->count,
			.bytes_in = se->bytes_in, .bytes_out = se->bytes_out, .h = se->h,
			.is_gauge = se->gauge,
			.gauge_last = se->gauge && se->npts > 0 ? se->pts[se->npts - 1].v : 0,
		};
		memcpy(v.errors, se->errors, sizeof(v.errors));
		int rv = fn(arg, &v);
		if (rv != 0)
			return rv;
	}
	return HERD_OK;
}
