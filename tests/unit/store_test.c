/*
 * Tests of controller/store on real SQLite files in a fresh temporary
 * directory: schema and reopening, exactly-once batches, one transaction per
 * batch (checked through a second connection), rebuilding results from the
 * database, listing and showing runs, and the histogram blob codec.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/err.h"
#include "controller/store.h"
#include "controller/store_int.h"
#include "controller/store_serve.h"
#include "controller/summary.h"
#include "tests/unit/check.h"
#include "tests/unit/tmpdb.h"

static char dir[] = "/tmp/herd-store-test-XXXXXX";
static char path[256];

static wire_entry entry(const char *metric, const char *scenario, const char *name,
                        const char *method, uint32_t cls)
{
	wire_entry e;
	memset(&e, 0, sizeof(e));
	e.metric = (char *)metric;
	e.scenario = (char *)scenario;
	e.name = (char *)name;
	e.method = (char *)method;
	e.status_class = cls;
	return e;
}

/* Runs a query returning one integer through a separate connection. */
static long long scalar(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	long long v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		fprintf(stderr, "prepare %s: %s\n", sql, sqlite3_errmsg(db));
		return -2;
	}
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

static void test_hist_blob(void)
{
	hist *h = hist_new(), *d = hist_new();
	uint8_t *buf;
	size_t len;

	/* Empty. */
	CHECK_EQ_INT(store_hist_encode(h, &buf, &len), HERD_OK);
	CHECK_EQ_INT(store_hist_decode(buf, len, d), HERD_OK);
	CHECK_EQ_INT(d->total, 0);
	CHECK(d->min == UINT64_MAX);
	free(buf);

	/* Every bucket boundary region, from 0 to the clamp. */
	hist_record(h, 0);
	hist_record(h, 1);
	hist_record_n(h, 255, 3);
	hist_record_n(h, 256, 70000);
	hist_record(h, 123456789);
	hist_record(h, HIST_MAX_US + 5);
	CHECK_EQ_INT(store_hist_encode(h, &buf, &len), HERD_OK);
	CHECK(len < 64);
	CHECK_EQ_INT(store_hist_decode(buf, len, d), HERD_OK);
	CHECK(memcmp(h, d, sizeof(*h)) == 0);

	/* Every truncation is refused, as are trailing bytes and a bad version. */
	for (size_t i = 0; i < len; i++)
		CHECK_EQ_INT(store_hist_decode(buf, i, d), HERD_EPROTO);
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, buf, len);
	longer[len] = 0;
	CHECK_EQ_INT(store_hist_decode(longer, len + 1, d), HERD_EPROTO);
	longer[0] = 9;
	CHECK_EQ_INT(store_hist_decode(longer, len, d), HERD_EPROTO);
	free(longer);
	/* A count that disagrees with the total. */
	buf[len - 1] ^= 1;
	CHECK_EQ_INT(store_hist_decode(buf, len, d), HERD_EPROTO);
	free(buf);

	/* A bucket index past the end. */
	static const uint8_t bad_idx[] = {1, 1, 1, 1, 1, 1, 0xff, 0xff, 0x03, 1};
	CHECK_EQ_INT(store_hist_decode(bad_idx, sizeof(bad_idx), d), HERD_EPROTO);
	/* An overlong varint. */
	static const uint8_t overlong[] = {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	                                   0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0};
	CHECK_EQ_INT(store_hist_decode(overlong, sizeof(overlong), d), HERD_EPROTO);
	CHECK_EQ_INT(store_hist_decode(NULL, 0, d), HERD_EPROTO);

	/* min and max must lie in the lowest and highest buckets given: the
	 * merges look at that span only (hist.h). Buckets 3 and 7, once each. */
	static const uint8_t span_ok[] = {1, 2, 10, 3, 7, 2, 4, 1, 4, 1};
	CHECK_EQ_INT(store_hist_decode(span_ok, sizeof(span_ok), d), HERD_OK);
	CHECK_EQ_INT(hist_percentile(d, 100), 7);
	static const uint8_t min_below[] = {1, 2, 10, 2, 7, 2, 4, 1, 4, 1};
	CHECK_EQ_INT(store_hist_decode(min_below, sizeof(min_below), d), HERD_EPROTO);
	static const uint8_t max_below[] = {1, 2, 10, 3, 6, 2, 4, 1, 4, 1};
	CHECK_EQ_INT(store_hist_decode(max_below, sizeof(max_below), d), HERD_EPROTO);
	/* A refused blob leaves d empty, not holding the buckets read before
	 * the refusal: they lie outside d's span, which is all hist_free
	 * empties when it keeps histograms for reuse (hist.h). */
	CHECK_EQ_INT(store_hist_decode(min_below, sizeof(min_below), d), HERD_EPROTO);
	int dirty = d->total != 0;
	for (uint32_t i = 0; i < HIST_NBUCKETS; i++)
		dirty |= d->counts[i] != 0;
	CHECK(!dirty);
	hist_free(h);
	hist_free(d);
}

static void test_open_schema(void)
{
	store *st;
	char err[512];
	sqlite3 *db;

	CHECK_EQ_INT(store_open(path, &st, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(store_schema_version(st), STORE_SCHEMA_VERSION);
	CHECK_EQ_STR(store_errmsg(st), "");
	/* The WAL is checkpointed every 10,000 pages, not SQLite's 1,000: the
	 * ingest of 1,000 agents dirties the same index pages every second,
	 * and a checkpoint every 4 MB wrote them back over and over. */
	sqlite3_stmt *ck;
	CHECK_EQ_INT(sqlite3_prepare_v2(store_int_db(st), "PRAGMA wal_autocheckpoint", -1, &ck, NULL),
	             SQLITE_OK);
	CHECK_EQ_INT(sqlite3_step(ck), SQLITE_ROW);
	CHECK_EQ_INT(sqlite3_column_int(ck, 0), 10000);
	sqlite3_finalize(ck);
	store_close(st);

	/* Reopening an existing database works and keeps the version. */
	CHECK_EQ_INT(store_open(path, &st, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(store_schema_version(st), STORE_SCHEMA_VERSION);
	store_close(st);

	CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_EQ_INT(scalar(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	sqlite3_stmt *s;
	sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL);
	CHECK_EQ_INT(sqlite3_step(s), SQLITE_ROW);
	CHECK_EQ_STR((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
	                        "('runs', 'run_agents', 'series_keys', 'intervals', 'batches', "
	                        "'thresholds', 'events')"),
	             7);
	sqlite3_close(db);

	/* A database from a newer herd is refused with a clear message. */
	char newer[300];
	snprintf(newer, sizeof(newer), "%s/newer.db", dir);
	CHECK_EQ_INT(sqlite3_open(newer, &db), SQLITE_OK);
	sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
	sqlite3_close(db);
	st = NULL;
	CHECK_EQ_INT(store_open(newer, &st, err, sizeof(err)), HERD_ESTORE);
	CHECK(st == NULL);
	CHECK_CONTAINS(err, "schema version 99");
	unlink(newer);

	/* Something that is not a database. */
	char junk[300];
	snprintf(junk, sizeof(junk), "%s/junk.db", dir);
	FILE *f = fopen(junk, "w");
	for (int i = 0; i < 200; i++)
		fputs("this is not a database at all\n", f);
	fclose(f);
	CHECK_EQ_INT(store_open(junk, &st, err, sizeof(err)), HERD_ESTORE);
	CHECK_CONTAINS(err, "junk.db");
	unlink(junk);
}

/* One agent's batch for interval i of the test run. */
typedef struct batch {
	wire_entry e[4];
	hist *h[2];
} batch;

static void batch_make(batch *b, int agent, int i)
{
	b->h[0] = hist_new();
	b->h[1] = hist_new();
	b->e[0] = entry("http_req_duration", "browse", "home", "GET", 2);
	b->e[0].count = 50 + (uint64_t)(agent * 10 + i);
	b->e[0].bytes_in = b->e[0].count * 1000;
	b->e[0].bytes_out = b->e[0].count * 90;
	for (uint64_t k = 0; k < b->e[0].count; k++)
		hist_record(b->h[0], 1000 + k * 37 * (uint64_t)(agent + 1) + (uint64_t)i * 500);
	b->e[0].h = b->h[0];
	b->e[1] = entry("http_req_duration", "browse", "home", "GET", 5);
	b->e[1].count = (uint64_t)i;
	b->e[1].errors[ERRK_HTTP5XX] = (uint64_t)i;
	for (int k = 0; k < i; k++)
		hist_record(b->h[1], 250000);
	b->e[1].h = b->h[1];
	b->e[2] = entry("checks", "browse", "home ok", "", 0);
	b->e[2].count = 20;
	b->e[2].errors[ERRK_CHECK] = (uint64_t)(i % 2);
	b->e[3] = entry("vus", "browse", "", "", 0);
	b->e[3].gauge = 5 + i + agent;
}

static void batch_free(batch *b)
{
	hist_free(b->h[0]);
	hist_free(b->h[1]);
}

static void test_batches(void)
{
	store *st;
	results *live;
	char err[512];
	int dup = -1;
	sqlite3 *db;

	CHECK_EQ_INT(store_open(path, &st, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_EQ_INT(store_run_begin(st, "20261124-011203-ab12", "shop", "shop.yaml", "name: shop\n",
	                             1795914723000LL, 1000),
	             HERD_OK);
	/* The same id twice is refused, with SQLite's reason. */
	CHECK_EQ_INT(store_run_begin(st, "20261124-011203-ab12", "shop", NULL, NULL, 0, 1000),
	             HERD_ESTORE);
	CHECK_CONTAINS(store_errmsg(st), "UNIQUE");

	store_agent a = { .agent_id = "agent-1", .name = "one", .host = "host-a", .cores = 4, .weight = 0.5,
		              .joined_at = 1795914723000LL, .status = "ready", .cpu_pct = 97.5, .rss_kb = 20480 };
	CHECK_EQ_INT(store_agent_upsert(st, "20261124-011203-ab12", &a), HERD_OK);
	a.agent_id = "agent-2";
	a.name = "two";
	CHECK_EQ_INT(store_agent_upsert(st, "20261124-011203-ab12", &a), HERD_OK);

	CHECK_EQ_INT(results_new(1000, &live), HERD_OK);
	for (int i = 0; i < 6; i++) {
		for (int ag = 0; ag < 2; ag++) {
			batch b;
			const char *id = ag ? "agent-2" : "agent-1";
			batch_make(&b, ag, i);
			CHECK_EQ_INT(store_add_batch(st, "20261124-011203-ab12", id, (uint64_t)i + 1,
			                             i * 1000, b.e, 4, &dup),
			             HERD_OK);
			CHECK_EQ_INT(dup, 0);
			CHECK_EQ_INT(results_add_batch(live, id, i * 1000, b.e, 4), HERD_OK);
			/* A resent batch (after a reconnect) is merged once. */
			if (i == 2) {
				CHECK_EQ_INT(store_add_batch(st, "20261124-011203-ab12", id, (uint64_t)i + 1,
				                             i * 1000, b.e, 4, &dup),
				             HERD_OK);
				CHECK_EQ_INT(dup, 1);
			}
			batch_free(&b);
		}
		/* Seen from another connection after each commit: whole batches. */
		char sql[256];
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM batches WHERE interval_ms <= %d",
		         i * 1000);
		CHECK_EQ_INT(scalar(db, sql), 2 * (i + 1));
		CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM intervals"), 8 * (i + 1));
	}
	/* Counts did not double for the resent batches. */
	CHECK_EQ_INT(scalar(db, "SELECT sum(i.count) FROM intervals i JOIN series_keys k ON "
	                        "k.id = i.key_id WHERE k.metric = 'http_req_duration' AND "
	                        "k.status_class = 2"),
	             2 * 6 * 50 + 6 * 10 + 2 * 15);
	CHECK_EQ_INT(scalar(db, "SELECT batches FROM run_agents WHERE agent_id = 'agent-2'"), 6);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM batches"), 12);
	CHECK_EQ_INT(scalar(db, "SELECT last_seq FROM run_agents WHERE agent_id = 'agent-1'"), 6);
	CHECK_EQ_INT(scalar(db, "SELECT cores FROM run_agents WHERE agent_id = 'agent-1'"), 4);
	CHECK_EQ_INT(scalar(db, "SELECT rss_kb FROM run_agents WHERE agent_id = 'agent-1'"), 20480);
	CHECK_EQ_INT(scalar(db, "SELECT cpu_pct * 10 FROM run_agents WHERE agent_id = 'agent-2'"), 975);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM series_keys"), 8);

	/* A batch that fails half-way leaves nothing behind: the first entry is
	 * fine, the second has no metric name. */
	batch b;
	batch_make(&b, 0, 6);
	b.e[1].metric = NULL;
	CHECK_EQ_INT(store_add_batch(st, "20261124-011203-ab12", "agent-1", 7, 6000, b.e, 4, &dup),
	             HERD_ESTORE);
	CHECK_CONTAINS(store_errmsg(st), "CHECK");
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM batches WHERE seq = 7"), 0);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM intervals WHERE interval_ms = 6000"), 0);
	CHECK_EQ_INT(scalar(db, "SELECT batches FROM run_agents WHERE agent_id = 'agent-1'"), 6);
	/* The store is still usable, and the retry is not a duplicate. */
	b.e[1].metric = "http_req_duration";
	CHECK_EQ_INT(store_add_batch(st, "20261124-011203-ab12", "agent-1", 7, 6000, b.e, 4, &dup),
	             HERD_OK);
	CHECK_EQ_INT(dup, 0);
	CHECK_EQ_INT(results_add_batch(live, "agent-1", 6000, b.e, 4), HERD_OK);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM intervals WHERE interval_ms = 6000"), 4);
	batch_free(&b);

	/* A batch for a run that does not exist is refused. */
	batch_make(&b, 0, 0);
	CHECK_EQ_INT(store_add_batch(st, "no-such-run", "agent-1", 1, 0, b.e, 4, &dup), HERD_ESTORE);
	batch_free(&b);
	CHECK_EQ_INT(store_add_batch(st, "20261124-011203-ab12", "agent-1", 8, 0, NULL, 1, &dup),
	             HERD_EINVAL);

	/* An empty last batch still extends the run. */
	CHECK_EQ_INT(store_add_batch(st, "20261124-011203-ab12", "agent-2", 7, 9000, NULL, 0, &dup),
	             HERD_OK);
	CHECK_EQ_INT(results_add_batch(live, "agent-2", 9000, NULL, 0), HERD_OK);
	CHECK_EQ_INT(results_duration_ms(live), 10000);

	/* The results rebuilt from the database equal the live ones. */
	results *loaded;
	CHECK_EQ_INT(store_load_results(st, "20261124-011203-ab12", &loaded), HERD_OK);
	CHECK_EQ_INT(results_duration_ms(loaded), results_duration_ms(live));
	res_agg *x = malloc(sizeof(*x)), *y = malloc(sizeof(*y));
	static const char *const metrics[] = {"http_req_duration", "http_reqs", "http_req_failed",
	                                      "checks", "vus", "data_received", "data_sent"};
	th_tag t;
	res_tag_set(&t, "agent", "agent-2");
	for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
		for (int f = 0; f < 2; f++) {
			CHECK_EQ_INT(results_query(live, metrics[i], &t, (size_t)f, x), HERD_OK);
			CHECK_EQ_INT(results_query(loaded, metrics[i], &t, (size_t)f, y), HERD_OK);
			if (memcmp(x, y, sizeof(*x)) != 0) {
				fprintf(stderr, "%s (filter %d) differs after loading\n", metrics[i], f);
				CHECK(memcmp(x, y, sizeof(*x)) == 0);
			}
		}
	}
	CHECK_EQ_INT(results_query(loaded, "vus", NULL, 0, y), HERD_OK);
	CHECK_EQ_INT(y->gauge_max, (5 + 5) + (5 + 5 + 1));
	free(x);
	free(y);

	/* Verdicts, summaries and the end of the run. */
	verdict_set *vs;
	th_metric m;
	th_expr e;
	memset(&m, 0, sizeof(m));
	memset(&e, 0, sizeof(e));
	snprintf(m.name, sizeof(m.name), "http_req_duration");
	e.agg = TH_P;
	e.pct = 95;
	e.op = TH_LT;
	e.value = 500;
	CHECK_EQ_INT(verdict_set_new(&vs), HERD_OK);
	CHECK_EQ_INT(verdict_add_parsed(vs, live, "http_req_duration", "p(95)<500", &m, &e), HERD_OK);
	CHECK_EQ_INT(store_add_verdicts(st, "20261124-011203-ab12", vs), HERD_OK);
	CHECK_EQ_INT(store_add_verdicts(st, "20261124-011203-ab12", vs), HERD_OK);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM thresholds WHERE ok = 1"), 1);

	summary_info info = { .run_id = "20261124-011203-ab12", .plan_name = "shop", .status = "passed", .verdicts = vs };
	char *text_live, *text_loaded, *json_live, *json_loaded;
	CHECK_EQ_INT(summary_text(live, &info, &text_live), HERD_OK);
	CHECK_EQ_INT(summary_text(loaded, &info, &text_loaded), HERD_OK);
	CHECK_EQ_STR(text_loaded, text_live);
	CHECK_EQ_INT(summary_json_text(live, &info, &json_live), HERD_OK);
	CHECK_EQ_INT(summary_json_text(loaded, &info, &json_loaded), HERD_OK);
	CHECK_EQ_STR(json_loaded, json_live);

	CHECK_EQ_INT(store_add_event(st, "20261124-011203-ab12", 1795914725000LL, "agent_lost",
	                             "agent-2", "no heartbeat for 3 s"),
	             HERD_OK);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM events WHERE kind = 'agent_lost'"), 1);
	a.left_at = 1795914725000LL;
	a.status = "lost";
	a.name = NULL;
	CHECK_EQ_INT(store_agent_upsert(st, "20261124-011203-ab12", &a), HERD_OK);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM run_agents WHERE agent_id = 'agent-2' AND "
	                        "name = 'two' AND status = 'lost' AND left_at IS NOT NULL"),
	             1);

	CHECK_EQ_INT(store_run_end(st, "20261124-011203-ab12", STORE_PASSED, 0, 1, 1795914730000LL,
	                           json_live, text_live),
	             HERD_OK);
	CHECK_EQ_INT(store_run_end(st, "nope", STORE_FAILED, 1, 0, 0, NULL, NULL), HERD_ENOTFOUND);

	/* A second, still running run, started later: listed first. */
	CHECK_EQ_INT(store_run_begin(st, "20261124-020000-cd34", "later", NULL, NULL,
	                             1795918400000LL, 1000),
	             HERD_OK);

	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);
	CHECK_EQ_INT(store_list_runs(st, NULL, f), HERD_OK);
	fclose(f);
	CHECK_CONTAINS(out, "20261124-011203-ab12");
	CHECK_CONTAINS(out, "shop");
	CHECK_CONTAINS(out, "passed*");
	CHECK_CONTAINS(out, "7.0s");
	CHECK_CONTAINS(out, "running");
	char *p1 = strstr(out, "20261124-020000-cd34"), *p2 = strstr(out, "20261124-011203-ab12");
	CHECK(p1 != NULL && p2 != NULL && p1 < p2);
	/* requests: 690 (2xx) + 30 (5xx), then the retried batch: 56 + 6 */
	char reqs[32];
	snprintf(reqs, sizeof(reqs), " %d ", 690 + 30 + 56 + 6);
	CHECK_CONTAINS(out, reqs);
	free(out);

	f = open_memstream(&out, &outlen);
	CHECK_EQ_INT(store_show_run(st, "20261124-011203-ab12", f), HERD_OK);
	fclose(f);
	CHECK_EQ_STR(out, text_live);
	free(out);
	f = open_memstream(&out, &outlen);
	CHECK_EQ_INT(store_show_run(st, "20261124-020000-cd34", f), HERD_OK);
	fclose(f);
	CHECK_CONTAINS(out, "no summary yet");
	free(out);
	f = open_memstream(&out, &outlen);
	CHECK_EQ_INT(store_show_run(st, "missing", f), HERD_ENOTFOUND);
	fclose(f);
	free(out);
	CHECK_EQ_STR(store_errmsg(st), "no run 'missing'");
	CHECK_EQ_INT(store_load_results(st, "missing", &loaded), HERD_ENOTFOUND);

	free(text_live);
	free(text_loaded);
	free(json_live);
	free(json_loaded);
	verdict_set_free(vs);
	results_free(loaded);
	results_free(live);
	sqlite3_close(db);
	store_close(st);

	/* Everything survives closing and reopening. */
	CHECK_EQ_INT(store_open(path, &st, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(store_load_results(st, "20261124-011203-ab12", &loaded), HERD_OK);
	x = malloc(sizeof(*x));
	CHECK_EQ_INT(results_query(loaded, "http_reqs", NULL, 0, x), HERD_OK);
	CHECK_EQ_INT(x->count, 782);
	free(x);
	results_free(loaded);
	store_close(st);
}

/* Entries with flows, groups, user tags and named checks; two of them differ
 * only by their tags. */
/* Batches grouped in one transaction: all stored at the commit, a batch
 * given twice in the group stored once, and a group that fails half-way
 * leaves none of its batches behind. */
static void test_batch_group(void)
{
	const char *run = "20261124-011203-gr01";
	store *st;
	char err[512];
	int dup = -1;
	sqlite3 *db;
	batch b1, b2;

	CHECK_EQ_INT(store_open(path, &st, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_EQ_INT(store_run_begin(st, run, "group", NULL, NULL, 1795914723000LL, 1000), HERD_OK);
	batch_make(&b1, 0, 1);
	batch_make(&b2, 1, 1);
	CHECK_EQ_INT(store_batches_begin(st), HERD_OK);
	CHECK_EQ_INT(store_batch_put(st, run, "agent-1", 1, 1000, b1.e, 4, &dup), HERD_OK);
	CHECK_EQ_INT(dup, 0);
	CHECK_EQ_INT(store_batch_put(st, run, "agent-2", 1, 1000, b2.e, 4, &dup), HERD_OK);
	CHECK_EQ_INT(dup, 0);
	CHECK_EQ_INT(store_batch_put(st, run, "agent-1", 1, 1000, b1.e, 4, &dup), HERD_OK);
	CHECK_EQ_INT(dup, 1);
	/* Another connection sees nothing before the commit. */
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM batches WHERE run_id = '20261124-011203-gr01'"), 0);
	CHECK_EQ_INT(store_batches_end(st, 1), HERD_OK);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM batches WHERE run_id = '20261124-011203-gr01'"), 2);
	CHECK_EQ_INT(scalar(db, "SELECT sum(i.count) FROM intervals i JOIN series_keys k ON k.id = i.key_id "
	                        "WHERE k.run_id = '20261124-011203-gr01' AND k.metric = 'http_req_duration'"),
	             (long long)(b1.e[0].count + b1.e[1].count + b2.e[0].count + b2.e[1].count));

	/* A group whose second batch fails: the first is not stored either, and
	 * its retry is not taken for a duplicate. */
	batch_free(&b1);
	batch_free(&b2);
	batch_make(&b1, 0, 2);
	batch_make(&b2, 1, 2);
	b2.e[1].metric = NULL;
	CHECK_EQ_INT(store_batches_begin(st), HERD_OK);
	CHECK_EQ_INT(store_batch_put(st, run, "agent-1", 2, 2000, b1.e, 4, &dup), HERD_OK);
	CHECK_EQ_INT(store_batch_put(st, run, "agent-2", 2, 2000, b2.e, 4, &dup), HERD_ESTORE);
	CHECK_EQ_INT(store_batches_end(st, 0), HERD_ESTORE);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM batches WHERE run_id = '20261124-011203-gr01'"), 2);
	CHECK_EQ_INT(store_add_batch(st, run, "agent-1", 2, 2000, b1.e, 4, &dup), HERD_OK);
	CHECK_EQ_INT(dup, 0);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM batches WHERE run_id = '20261124-011203-gr01'"), 3);
	batch_free(&b1);
	batch_free(&b2);
	sqlite3_close(db);
	store_close(st);
}

/* The series key ids the store keeps in memory and the interval figures it
 * writes from the entry: a key added by a group that rolled back is added
 * again (not taken from memory with the id it had), two runs' batches in
 * turn keep their own keys, and interval_stats holds what the stored rows
 * say: an interval's only row's own figures, and a late row's added and
 * merged into them. */
static void test_key_cache_stats(void)
{
	const char *run = "20261124-011203-kc01", *run2 = "20261124-011203-kc02";
	store *st;
	char err[512], q[512];
	int dup = -1;
	sqlite3 *db;
	batch b1, b2, b3;

	CHECK_EQ_INT(store_open(path, &st, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_EQ_INT(store_run_begin(st, run, "keys", NULL, NULL, 1795914723000LL, 1000), HERD_OK);
	CHECK_EQ_INT(store_run_begin(st, run2, "keys2", NULL, NULL, 1795914723000LL, 1000), HERD_OK);
	batch_make(&b1, 0, 1);
	batch_make(&b2, 1, 1);
	batch_make(&b3, 0, 3);
	b2.e[1].metric = NULL; /* fails after its first entry's key was added */
	CHECK_EQ_INT(store_batches_begin(st), HERD_OK);
	CHECK_EQ_INT(store_batch_put(st, run, "agent-1", 1, 1000, b1.e, 4, &dup), HERD_OK);
	CHECK_EQ_INT(store_batch_put(st, run, "agent-2", 1, 1000, b2.e, 4, &dup), HERD_ESTORE);
	CHECK_EQ_INT(store_batches_end(st, 0), HERD_ESTORE);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM series_keys WHERE run_id = '20261124-011203-kc01'"), 0);
	b2.e[1].metric = "http_req_duration";
	CHECK_EQ_INT(store_batches_begin(st), HERD_OK);
	CHECK_EQ_INT(store_batch_put(st, run, "agent-2", 1, 1000, b2.e, 4, &dup), HERD_OK);
	CHECK_EQ_INT(store_batch_put(st, run, "agent-1", 1, 1000, b1.e, 4, &dup), HERD_OK);
	CHECK_EQ_INT(store_batch_put(st, run2, "agent-1", 1, 1000, b1.e, 4, &dup), HERD_OK);
	CHECK_EQ_INT(store_batch_put(st, run, "agent-1", 2, 2000, b3.e, 4, &dup), HERD_OK);
	CHECK_EQ_INT(store_batches_end(st, 1), HERD_OK);
	/* Every interval row's key exists and belongs to the run it was given. */
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM intervals i JOIN series_keys k ON k.id = i.key_id"
	                        " WHERE k.run_id = '20261124-011203-kc01'"), 12);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM intervals i JOIN series_keys k ON k.id = i.key_id"
	                        " WHERE k.run_id = '20261124-011203-kc02'"), 4);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM series_keys"
	                        " WHERE run_id IN ('20261124-011203-kc01', '20261124-011203-kc02')"), 12);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM intervals WHERE key_id NOT IN (SELECT id FROM series_keys)"), 0);

	/* The only row of an interval: its own figures. */
	snprintf(q, sizeof(q), "SELECT %%s FROM interval_series WHERE run_id = '%s' AND agent_id = 'agent-1'"
	         " AND metric = 'http_req_duration' AND status_class = 2 AND interval_ms = 1000", run);
	char one[600];
	snprintf(one, sizeof(one), q, "count");
	CHECK_EQ_INT(scalar(db, one), (long long)b1.e[0].count);
	snprintf(one, sizeof(one), q, "p50");
	CHECK_EQ_INT(scalar(db, one), (long long)hist_percentile(b1.h[0], 50));
	snprintf(one, sizeof(one), q, "p99");
	CHECK_EQ_INT(scalar(db, one), (long long)hist_percentile(b1.h[0], 99));
	snprintf(one, sizeof(one), q, "max");
	CHECK_EQ_INT(scalar(db, one), (long long)b1.h[0]->max);
	snprintf(q, sizeof(q), "SELECT %%s FROM interval_series WHERE run_id = '%s' AND agent_id = 'agent-1'"
	         " AND metric = 'http_req_duration' AND status_class = 5 AND interval_ms = 1000", run);
	snprintf(one, sizeof(one), q, "errors");
	CHECK_EQ_INT(scalar(db, one), 1);
	snprintf(q, sizeof(q), "SELECT %%s FROM interval_series WHERE run_id = '%s' AND agent_id = 'agent-1'"
	         " AND metric = 'vus' AND interval_ms = 1000", run);
	snprintf(one, sizeof(one), q, "gauge");
	CHECK_EQ_INT(scalar(db, one), (long long)b1.e[3].gauge);
	snprintf(one, sizeof(one), q, "coalesce(p50, -1)");
	CHECK_EQ_INT(scalar(db, one), -1);

	/* A late batch for interval 1000 (seq 3): its rows are added up and its
	 * histogram merged with the first's; the gauge is the last row's. */
	batch_free(&b3);
	batch_make(&b3, 2, 4);
	CHECK_EQ_INT(store_add_batch(st, run, "agent-1", 3, 1000, b3.e, 4, &dup), HERD_OK);
	CHECK_EQ_INT(dup, 0);
	hist *m = hist_new();
	hist_merge(m, b1.h[0]);
	hist_merge(m, b3.h[0]);
	snprintf(q, sizeof(q), "SELECT %%s FROM interval_series WHERE run_id = '%s' AND agent_id = 'agent-1'"
	         " AND metric = 'http_req_duration' AND status_class = 2 AND interval_ms = 1000", run);
	snprintf(one, sizeof(one), q, "count");
	CHECK_EQ_INT(scalar(db, one), (long long)(b1.e[0].count + b3.e[0].count));
	snprintf(one, sizeof(one), q, "p90");
	CHECK_EQ_INT(scalar(db, one), (long long)hist_percentile(m, 90));
	snprintf(one, sizeof(one), q, "max");
	CHECK_EQ_INT(scalar(db, one), (long long)m->max);
	snprintf(q, sizeof(q), "SELECT %%s FROM interval_series WHERE run_id = '%s' AND agent_id = 'agent-1'"
	         " AND metric = 'http_req_duration' AND status_class = 5 AND interval_ms = 1000", run);
	snprintf(one, sizeof(one), q, "errors");
	CHECK_EQ_INT(scalar(db, one), 1 + 4);
	snprintf(q, sizeof(q), "SELECT %%s FROM interval_series WHERE run_id = '%s' AND agent_id = 'agent-1'"
	         " AND metric = 'vus' AND interval_ms = 1000", run);
	snprintf(one, sizeof(one), q, "gauge");
	CHECK_EQ_INT(scalar(db, one), (long long)b3.e[3].gauge);
	hist_free(m);
	batch_free(&b1);
	batch_free(&b2);
	batch_free(&b3);
	sqlite3_close(db);
	store_close(st);
}

static void test_tags(void)
{
	char tpath[300], err[512];
	store *st;
	results *live, *loaded;
	sqlite3 *db;
	hist *h[3];
	wire_entry e[7];
	int dup;

	snprintf(tpath, sizeof(tpath), "%s/tags.db", dir);
	CHECK_EQ_INT(store_open(tpath, &st, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(store_run_begin(st, "run-tags", "mix", NULL, NULL, 1795914723000LL, 1000),
	             HERD_OK);
	CHECK_EQ_INT(results_new(1000, &live), HERD_OK);
	for (int i = 0; i < 3; i++)
		h[i] = hist_new();
	for (int i = 0; i < 3; i++) {
		hist_init(h[0]);
		hist_init(h[1]);
		hist_init(h[2]);
		hist_record_n(h[0], 10000 + (uint64_t)i * 1000, 60);
		hist_record_n(h[1], 200000, 30);
		hist_record_n(h[2], 50000, 60);
		e[0] = entry("http_req_duration", "mixed", "items", "GET", 2);
		e[0].tags = "flow=read\ngroup=checkout\nkind=read";
		e[0].count = 60;
		e[0].h = h[0];
		e[1] = entry("http_req_duration", "mixed", "items", "GET", 2);
		e[1].tags = "flow=write";
		e[1].count = 30;
		e[1].h = h[1];
		e[2] = entry("iterations", "mixed", "", "", 0);
		e[2].tags = "flow=read";
		e[2].count = 60;
		e[3] = entry("iterations", "mixed", "", "", 0);
		e[3].tags = "flow=write";
		e[3].count = 30;
		e[4] = entry("group_duration", "mixed", "", "", 0);
		e[4].tags = "flow=read\ngroup=checkout";
		e[4].count = 60;
		e[4].h = h[2];
		e[5] = entry("checks", "mixed", "created", "", 0);
		e[5].tags = "flow=write";
		e[5].count = 30;
		e[5].errors[ERRK_CHECK] = (uint64_t)i;
		e[6] = entry("http_req_duration", "mixed", "items", "GET", 0);
		e[6].tags = "flow=read\ngroup=checkout\nkind=read";
		e[6].count = 2;
		e[6].errors[ERRK_CAPTURE] = 2;
		CHECK_EQ_INT(store_add_batch(st, "run-tags", "agent-1", (uint64_t)i + 1, i * 1000, e, 7,
		                             &dup),
		             HERD_OK);
		CHECK_EQ_INT(results_add_batch(live, "agent-1", i * 1000, e, 7), HERD_OK);
	}
	for (int i = 0; i < 3; i++)
		hist_free(h[i]);

	CHECK_EQ_INT(sqlite3_open(tpath, &db), SQLITE_OK);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM series_keys"), 7);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM series_keys WHERE metric = 'http_req_duration'"
	                        " AND status_class = 2"),
	             2);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM series_keys WHERE"
	                        " tags = 'flow=read' || char(10) || 'group=checkout' || char(10) ||"
	                        " 'kind=read'"),
	             2);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM intervals"), 21);
	sqlite3_close(db);

	/* Rebuilt from the file, the tags are there. */
	CHECK_EQ_INT(store_load_results(st, "run-tags", &loaded), HERD_OK);
	res_agg *x = malloc(sizeof(*x)), *y = malloc(sizeof(*y));
	static const struct {
		const char *metric, *key, *value;
	} qs[] = {
	    {"http_req_duration", "flow", "read"}, {"http_req_duration", "flow", "write"},
	    {"http_req_duration", "kind", "read"}, {"http_req_failed", "group", "checkout"},
	    {"iterations", "flow", "write"},       {"group_duration", "group", "checkout"},
	    {"checks", "check", "created"},        {"http_reqs", NULL, NULL},
	};
	th_tag t;
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		size_t nt = qs[i].key != NULL;
		if (nt)
			res_tag_set(&t, qs[i].key, qs[i].value);
		CHECK_EQ_INT(results_query(live, qs[i].metric, &t, nt, x), HERD_OK);
		CHECK_EQ_INT(results_query(loaded, qs[i].metric, &t, nt, y), HERD_OK);
		CHECK(x->nseries > 0);
		if (memcmp(x, y, sizeof(*x)) != 0) {
			fprintf(stderr, "%s{%s:%s} differs after loading\n", qs[i].metric,
			        qs[i].key ? qs[i].key : "", qs[i].value ? qs[i].value : "");
			CHECK(memcmp(x, y, sizeof(*x)) == 0);
		}
	}
	res_tag_set(&t, "flow", "write");
	CHECK_EQ_INT(results_query(loaded, "iterations", &t, 1, y), HERD_OK);
	CHECK_EQ_INT(y->count, 90);
	res_tag_set(&t, "kind", "read");
	CHECK_EQ_INT(results_query(loaded, "http_req_duration", &t, 1, y), HERD_OK);
	CHECK_EQ_INT(y->count, 186);
	CHECK_EQ_INT(y->errors[ERRK_CAPTURE], 6);
	free(x);
	free(y);

	/* So is every summary built from them. */
	char *t1, *t2;
	CHECK_EQ_INT(summary_text(live, NULL, &t1), HERD_OK);
	CHECK_EQ_INT(summary_text(loaded, NULL, &t2), HERD_OK);
	CHECK_EQ_STR(t2, t1);
	CHECK_CONTAINS(t2, "group_duration{group:checkout}");
	CHECK_CONTAINS(t2, "flows of mixed");
	CHECK_CONTAINS(t2, "capture_failed....: 6\n");
	free(t1);
	free(t2);
	CHECK_EQ_INT(summary_json_text(live, NULL, &t1), HERD_OK);
	CHECK_EQ_INT(summary_json_text(loaded, NULL, &t2), HERD_OK);
	CHECK_EQ_STR(t2, t1);
	CHECK_CONTAINS(t2, "\"iterations{flow:write}\"");
	free(t1);
	free(t2);
	results_free(loaded);
	results_free(live);
	store_close(st);
	tmpdb_unlink(tpath);
}

/* The schema of version 1, as earlier herds created it. */
static const char schema_v1[] =
    "CREATE TABLE runs ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  plan_file TEXT,"
    "  plan_text TEXT,"
    "  started_at INTEGER NOT NULL,"
    "  ended_at INTEGER,"
    "  interval_ms INTEGER NOT NULL DEFAULT 1000 CHECK (interval_ms > 0),"
    "  duration_ms INTEGER,"
    "  status TEXT NOT NULL DEFAULT 'running' CHECK (status IN"
    "    ('running', 'passed', 'failed', 'aborted', 'interrupted', 'error')),"
    "  exit_code INTEGER,"
    "  degraded INTEGER NOT NULL DEFAULT 0,"
    "  summary_json TEXT,"
    "  summary_text TEXT"
    ");"
    "CREATE INDEX runs_started ON runs (started_at);"
    "CREATE TABLE run_agents ("
    "  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  agent_id TEXT NOT NULL,"
    "  name TEXT,"
    "  host TEXT,"
    "  cores INTEGER,"
    "  weight REAL,"
    "  joined_at INTEGER,"
    "  left_at INTEGER,"
    "  batches INTEGER NOT NULL DEFAULT 0,"
    "  last_seq INTEGER NOT NULL DEFAULT 0,"
    "  cpu_pct REAL,"
    "  rss_kb INTEGER,"
    "  status TEXT,"
    "  PRIMARY KEY (run_id, agent_id)"
    ");"
    "CREATE TABLE series_keys ("
    "  id INTEGER PRIMARY KEY,"
    "  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  metric TEXT NOT NULL CHECK (metric <> ''),"
    "  scenario TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  method TEXT NOT NULL,"
    "  status_class INTEGER NOT NULL,"
    "  agent_id TEXT NOT NULL,"
    "  UNIQUE (run_id, metric, scenario, name, method, status_class, agent_id)"
    ");"
    "CREATE TABLE intervals ("
    "  key_id INTEGER NOT NULL REFERENCES series_keys (id) ON DELETE CASCADE,"
    "  interval_ms INTEGER NOT NULL,"
    "  count INTEGER NOT NULL,"
    "  errors TEXT,"
    "  bytes_in INTEGER NOT NULL,"
    "  bytes_out INTEGER NOT NULL,"
    "  gauge INTEGER NOT NULL,"
    "  hist BLOB"
    ");"
    "CREATE INDEX intervals_key ON intervals (key_id, interval_ms);"
    "CREATE TABLE batches ("
    "  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  agent_id TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  interval_ms INTEGER NOT NULL,"
    "  entries INTEGER NOT NULL,"
    "  received_at INTEGER NOT NULL,"
    "  PRIMARY KEY (run_id, agent_id, seq)"
    ") WITHOUT ROWID;"
    "CREATE TABLE thresholds ("
    "  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  metric TEXT NOT NULL,"
    "  expr TEXT NOT NULL,"
    "  observed REAL,"
    "  ok INTEGER NOT NULL,"
    "  nodata INTEGER NOT NULL DEFAULT 0,"
    "  error TEXT"
    ");"
    "CREATE INDEX thresholds_run ON thresholds (run_id);"
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY,"
    "  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  at INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  agent_id TEXT,"
    "  message TEXT"
    ");"
    "CREATE INDEX events_run ON events (run_id, at);"
    "PRAGMA user_version = 1;";

static int exec_ok(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fprintf(stderr, "%s: %s\n", sql, msg ? msg : "?");
	sqlite3_free(msg);
	return rc;
}

/* A file of schema version 1 with a run in it is migrated to version 2 on
 * open: its rows stay (with tags ''), its results load as before, and tagged
 * series can be added next to the old ones. */
static void test_migrate_v1(void)
{
	char vpath[300], err[512];
	sqlite3 *db;
	sqlite3_stmt *s;
	store *st = NULL;
	results *loaded;
	hist *h = hist_new();
	uint8_t *blob;
	size_t blen;
	int dup;

	snprintf(vpath, sizeof(vpath), "%s/v1.db", dir);
	CHECK_EQ_INT(sqlite3_open(vpath, &db), SQLITE_OK);
	CHECK_EQ_INT(exec_ok(db, schema_v1), SQLITE_OK);
	CHECK_EQ_INT(exec_ok(db, "INSERT INTO runs (id, name, started_at, interval_ms, duration_ms,"
	                         " status, summary_text) VALUES ('old', 'shop', 1795914723000, 1000,"
	                         " 2000, 'passed', 'old summary');"
	                         "INSERT INTO run_agents (run_id, agent_id, batches, last_seq)"
	                         " VALUES ('old', 'a1', 2, 2);"
	                         "INSERT INTO batches VALUES ('old', 'a1', 1, 0, 2, 0),"
	                         " ('old', 'a1', 2, 1000, 2, 0);"
	                         "INSERT INTO series_keys VALUES"
	                         " (7, 'old', 'http_req_duration', 'browse', 'home', 'GET', 2, 'a1'),"
	                         " (9, 'old', 'checks', 'browse', 'home ok', '', 0, 'a1');"
	                         "INSERT INTO intervals VALUES (9, 0, 10, '{\"check_failed\":1}', 0, 0,"
	                         " 0, NULL), (9, 1000, 10, NULL, 0, 0, 0, NULL);"),
	             SQLITE_OK);
	hist_record_n(h, 20000, 40);
	CHECK_EQ_INT(store_hist_encode(h, &blob, &blen), HERD_OK);
	CHECK_EQ_INT(sqlite3_prepare_v2(db,
	                                "INSERT INTO intervals VALUES (7, ?, 40, NULL, 4000, 400, 0, ?)",
	                                -1, &s, NULL),
	             SQLITE_OK);
	for (int i = 0; i < 2; i++) {
		sqlite3_bind_int(s, 1, i * 1000);
		sqlite3_bind_blob(s, 2, blob, (int)blen, SQLITE_STATIC);
		CHECK_EQ_INT(sqlite3_step(s), SQLITE_DONE);
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
	free(blob);
	hist_free(h);
	CHECK_EQ_INT(scalar(db, "PRAGMA user_version"), 1);
	sqlite3_close(db);

	CHECK_EQ_INT(store_open(vpath, &st, err, sizeof(err)), HERD_OK);
	if (st == NULL) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	CHECK_EQ_INT(store_schema_version(st), STORE_SCHEMA_VERSION);

	CHECK_EQ_INT(sqlite3_open(vpath, &db), SQLITE_OK);
	CHECK_EQ_INT(scalar(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	/* Same rows, same ids, tags '' on the old keys; no table left over. */
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM series_keys"), 2);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM series_keys WHERE tags = '' AND id IN (7, 9)"),
	             2);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM intervals i JOIN series_keys k ON"
	                        " k.id = i.key_id"),
	             4);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM sqlite_master WHERE name = 'series_keys_v2'"),
	             0);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM sqlite_master WHERE name = 'series_keys' AND"
	                        " sql LIKE '%tags TEXT NOT NULL%'"),
	             1);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM pragma_foreign_key_list('intervals') WHERE"
	                        " \"table\" = 'series_keys'"),
	             1);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM pragma_index_list('intervals') WHERE"
	                        " name = 'intervals_key'"),
	             1);

	/* The old run loads as it did. */
	CHECK_EQ_INT(store_load_results(st, "old", &loaded), HERD_OK);
	res_agg *q = malloc(sizeof(*q));
	CHECK_EQ_INT(results_query(loaded, "http_reqs", NULL, 0, q), HERD_OK);
	CHECK_EQ_INT(q->count, 80);
	CHECK_EQ_INT(q->h.total, 80);
	CHECK_EQ_INT(q->bytes_in, 8000);
	CHECK_EQ_INT(results_query(loaded, "checks", NULL, 0, q), HERD_OK);
	CHECK_EQ_INT(q->count, 20);
	CHECK_EQ_INT(q->errors[ERRK_CHECK], 1);
	CHECK_EQ_INT(results_duration_ms(loaded), 2000);
	results_free(loaded);

	/* The key now includes tags: the same series with tags is a new key. */
	wire_entry e[2] = {entry("http_req_duration", "browse", "home", "GET", 2),
	                   entry("http_req_duration", "browse", "home", "GET", 2)};
	e[0].count = 5;
	e[1].tags = "flow=read";
	e[1].count = 3;
	CHECK_EQ_INT(store_add_batch(st, "old", "a1", 3, 2000, e, 2, &dup), HERD_OK);
	CHECK_EQ_INT(dup, 0);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM series_keys"), 3);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM intervals WHERE key_id = 7"), 3);
	CHECK_EQ_INT(store_load_results(st, "old", &loaded), HERD_OK);
	th_tag t;
	res_tag_set(&t, "flow", "read");
	CHECK_EQ_INT(results_query(loaded, "http_reqs", &t, 1, q), HERD_OK);
	CHECK_EQ_INT(q->count, 3);
	CHECK_EQ_INT(results_query(loaded, "http_reqs", NULL, 0, q), HERD_OK);
	CHECK_EQ_INT(q->count, 88);
	results_free(loaded);
	free(q);
	/* Foreign keys are on again after the migration. */
	CHECK_EQ_INT(store_add_batch(st, "no-such-run", "a1", 1, 0, e, 1, &dup), HERD_ESTORE);
	store_close(st);

	/* Opening again finds the current version and changes nothing. */
	CHECK_EQ_INT(store_open(vpath, &st, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(store_schema_version(st), STORE_SCHEMA_VERSION);
	store_close(st);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM series_keys"), 3);
	sqlite3_close(db);

	tmpdb_unlink(vpath);
}

/* What 1 -> 2 made of schema_v1: series keys with tags. */
static const char schema_v1_to_v2[] =
    "CREATE TABLE series_keys_v2 ("
    "  id INTEGER PRIMARY KEY,"
    "  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  metric TEXT NOT NULL CHECK (metric <> ''),"
    "  scenario TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  method TEXT NOT NULL,"
    "  status_class INTEGER NOT NULL,"
    "  agent_id TEXT NOT NULL,"
    "  tags TEXT NOT NULL DEFAULT '',"
    "  UNIQUE (run_id, metric, scenario, name, method, status_class, agent_id, tags)"
    ");"
    "DROP TABLE series_keys;"
    "ALTER TABLE series_keys_v2 RENAME TO series_keys;"
    "PRAGMA user_version = 2;";

/* Inserts an intervals row of key 7 with n values of v µs as its blob. */
static void v2_interval(sqlite3 *db, int64_t at, uint64_t v, uint32_t n, const char *errors)
{
	sqlite3_stmt *s;
	hist *h = hist_new();
	uint8_t *blob;
	size_t blen;
	hist_record_n(h, v, n);
	CHECK_EQ_INT(store_hist_encode(h, &blob, &blen), HERD_OK);
	CHECK_EQ_INT(sqlite3_prepare_v2(db, "INSERT INTO intervals VALUES (7, ?, ?, ?, 0, 0, 0, ?)",
	                                -1, &s, NULL),
	             SQLITE_OK);
	sqlite3_bind_int64(s, 1, at);
	sqlite3_bind_int64(s, 2, n);
	if (errors != NULL)
		sqlite3_bind_text(s, 3, errors, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 4, blob, (int)blen, SQLITE_STATIC);
	CHECK_EQ_INT(sqlite3_step(s), SQLITE_DONE);
	sqlite3_finalize(s);
	free(blob);
	hist_free(h);
}

/* A file of schema version 2 is migrated to version 3 on open: every stored
 * interval gets its interval_stats row (rows of one interval added up and
 * their histograms merged), readable through the interval_series view, and
 * a batch merged later updates the row of its interval. */
static void test_migrate_v2(void)
{
	char vpath[300], err[512];
	sqlite3 *db;
	store *st = NULL;
	hist *want = hist_new();
	int dup;

	snprintf(vpath, sizeof(vpath), "%s/v2.db", dir);
	CHECK_EQ_INT(sqlite3_open(vpath, &db), SQLITE_OK);
	CHECK_EQ_INT(exec_ok(db, schema_v1), SQLITE_OK);
	CHECK_EQ_INT(exec_ok(db, schema_v1_to_v2), SQLITE_OK);
	CHECK_EQ_INT(exec_ok(db, "INSERT INTO runs (id, name, started_at, interval_ms, duration_ms,"
	                         " status) VALUES ('old', 'shop', 1795914723000, 1000, 2000, 'passed');"
	                         "INSERT INTO series_keys VALUES"
	                         " (7, 'old', 'http_req_duration', 'browse', 'home', 'GET', 2, 'a1',"
	                         "  'flow=read'),"
	                         " (8, 'old', 'vus', 'browse', '', '', 0, 'a1', '');"
	                         "INSERT INTO intervals VALUES (8, 0, 0, NULL, 0, 0, 12, NULL);"),
	             SQLITE_OK);
	/* Interval 0 holds two rows (a late batch added the second). */
	v2_interval(db, 0, 20000, 90, NULL);
	v2_interval(db, 0, 300000, 10, "{\"timeout\":10,\"http_5xx\":2}");
	v2_interval(db, 1000, 5000, 4, NULL);
	CHECK_EQ_INT(scalar(db, "PRAGMA user_version"), 2);
	sqlite3_close(db);

	CHECK_EQ_INT(store_open(vpath, &st, err, sizeof(err)), HERD_OK);
	if (st == NULL) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	CHECK_EQ_INT(store_schema_version(st), STORE_SCHEMA_VERSION);
	CHECK_EQ_INT(sqlite3_open(vpath, &db), SQLITE_OK);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM interval_stats"), 3);
	hist_record_n(want, 20000, 90);
	hist_record_n(want, 300000, 10);
	CHECK_EQ_INT(scalar(db, "SELECT count FROM interval_stats WHERE key_id = 7 AND"
	                        " interval_ms = 0"),
	             100);
	CHECK_EQ_INT(scalar(db, "SELECT errors FROM interval_stats WHERE key_id = 7 AND"
	                        " interval_ms = 0"),
	             12);
	CHECK_EQ_INT(scalar(db, "SELECT p50 FROM interval_series WHERE run_id = 'old' AND"
	                        " metric = 'http_req_duration' AND tags = 'flow=read' AND"
	                        " interval_ms = 0"),
	             (long long)hist_percentile(want, 50));
	CHECK_EQ_INT(scalar(db, "SELECT p95 FROM interval_series WHERE name = 'home' AND"
	                        " interval_ms = 0"),
	             (long long)hist_percentile(want, 95));
	CHECK_EQ_INT(scalar(db, "SELECT max FROM interval_series WHERE name = 'home' AND"
	                        " interval_ms = 0"),
	             300000);
	CHECK_EQ_INT(scalar(db, "SELECT p99 FROM interval_series WHERE name = 'home' AND"
	                        " interval_ms = 1000"),
	             5000);
	/* A gauge has no histogram: its percentiles are NULL, its value kept. */
	CHECK_EQ_INT(scalar(db, "SELECT gauge FROM interval_series WHERE metric = 'vus'"), 12);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM interval_series WHERE metric = 'vus' AND"
	                        " p50 IS NULL AND max IS NULL"),
	             1);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);

	/* A batch for interval 1000 merged now updates that interval's row. */
	wire_entry e = entry("http_req_duration", "browse", "home", "GET", 2);
	hist *h = hist_new();
	hist_record_n(h, 900000, 1);
	e.tags = "flow=read";
	e.count = 1;
	e.errors[ERRK_TIMEOUT] = 1;
	e.h = h;
	CHECK_EQ_INT(store_add_batch(st, "old", "a1", 9, 1000, &e, 1, &dup), HERD_OK);
	CHECK_EQ_INT(scalar(db, "SELECT count FROM interval_stats WHERE key_id = 7 AND"
	                        " interval_ms = 1000"),
	             5);
	CHECK_EQ_INT(scalar(db, "SELECT errors FROM interval_stats WHERE key_id = 7 AND"
	                        " interval_ms = 1000"),
	             1);
	CHECK_EQ_INT(scalar(db, "SELECT max FROM interval_stats WHERE key_id = 7 AND"
	                        " interval_ms = 1000"),
	             900000);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM interval_stats"), 3);
	hist_free(h);
	hist_free(want);
	store_close(st);
	sqlite3_close(db);

	tmpdb_unlink(vpath);
}

/* What 2 -> 3 made of a version 2 file: interval_stats and its view. */
static const char schema_v2_to_v3[] =
    "CREATE TABLE interval_stats ("
    "  key_id INTEGER NOT NULL REFERENCES series_keys (id) ON DELETE CASCADE,"
    "  interval_ms INTEGER NOT NULL,"
    "  count INTEGER NOT NULL,"
    "  errors INTEGER NOT NULL,"
    "  p50 INTEGER,"
    "  p90 INTEGER,"
    "  p95 INTEGER,"
    "  p99 INTEGER,"
    "  max INTEGER,"
    "  gauge INTEGER NOT NULL,"
    "  PRIMARY KEY (key_id, interval_ms)"
    ") WITHOUT ROWID;"
    "CREATE VIEW interval_series AS SELECT k.run_id, k.metric, k.scenario, k.name, k.method,"
    "  k.status_class, k.agent_id, k.tags, s.interval_ms, s.count, s.errors, s.p50, s.p90,"
    "  s.p95, s.p99, s.max, s.gauge"
    "  FROM interval_stats s JOIN series_keys k ON k.id = s.key_id;"
    "PRAGMA user_version = 3;";

static int count_sched(void *arg, const store_sched_run *r)
{
	(void)r;
	(*(int *)arg)++;
	return 0;
}

/* A file of schema version 3 with a run in it is migrated to version 4 on
 * open: its runs stay, herd serve's tables are there and work, a scheduled
 * run refers to a stored run (and loses the reference, not its row, when
 * the run is deleted), and foreign keys hold. */
static void test_migrate_v3(void)
{
	char vpath[300], err[512];
	sqlite3 *db;
	store *st = NULL;
	store_run r;
	int64_t id = 0, last = 0, next = 0;
	int n = 0;

	snprintf(vpath, sizeof(vpath), "%s/v3.db", dir);
	CHECK_EQ_INT(sqlite3_open(vpath, &db), SQLITE_OK);
	CHECK_EQ_INT(exec_ok(db, schema_v1), SQLITE_OK);
	CHECK_EQ_INT(exec_ok(db, schema_v1_to_v2), SQLITE_OK);
	CHECK_EQ_INT(exec_ok(db, schema_v2_to_v3), SQLITE_OK);
	CHECK_EQ_INT(exec_ok(db, "INSERT INTO runs (id, name, started_at, interval_ms, duration_ms,"
	                         " status) VALUES ('old3', 'checkout', 1795914723000, 1000, 2000,"
	                         " 'passed');"),
	             SQLITE_OK);
	CHECK_EQ_INT(scalar(db, "PRAGMA user_version"), 3);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM sqlite_master WHERE name = 'schedules'"), 0);
	sqlite3_close(db);

	CHECK_EQ_INT(store_open(vpath, &st, err, sizeof(err)), HERD_OK);
	if (st == NULL) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	CHECK_EQ_INT(store_schema_version(st), STORE_SCHEMA_VERSION);
	CHECK_EQ_INT(store_run_get(st, "old3", &r), HERD_OK);
	CHECK_EQ_STR(r.status, "passed");
	store_run_fini(&r);
	CHECK_EQ_INT(store_schedule_put(st, "nightly", "0 2 * * *", "Europe/Berlin", "p.yaml",
	                                1796000000, 1),
	             HERD_OK);
	CHECK_EQ_INT(store_schedule_get(st, "nightly", &last, &next), HERD_OK);
	CHECK_EQ_INT(last, -1);
	CHECK_EQ_INT(next, 1796000000);
	CHECK_EQ_INT(store_sched_run_add(st, "nightly", 1795910400, 0, STORE_SCHED_FINISHED, "old3",
	                                 "passed", NULL, 1795914800000LL, &id),
	             HERD_OK);
	/* A run id the store does not hold is refused (foreign keys are on). */
	CHECK_EQ_INT(store_sched_run_add(st, "nightly", 1795910400, 0, STORE_SCHED_STARTED, "nope",
	                                 NULL, NULL, 1, NULL),
	             HERD_ESTORE);
	store_close(st);

	CHECK_EQ_INT(sqlite3_open(vpath, &db), SQLITE_OK);
	CHECK_EQ_INT(scalar(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
	                        " ('schedules', 'scheduled_runs', 'deliveries')"),
	             3);
	/* 4 -> 5: the breaking-point search's tables, empty for old runs; a
	 * level refers to its run and goes with it. */
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
	                        " ('capacity_levels', 'capacity_fit')"),
	             2);
	CHECK_EQ_INT(exec_ok(db, "PRAGMA foreign_keys = ON; INSERT INTO capacity_levels VALUES ('old3', 0, 'find',"
	                         " 20, 0, 1000, 3000, 20, 20, 20, 1, 2, 3, 0, 0, 5, 'pass', NULL)"),
	             SQLITE_OK);
	CHECK(exec_ok(db, "INSERT INTO capacity_levels VALUES ('nope', 0, 'find', 20, 0, 1000, 3000, 20, 20, 20,"
	                  " 1, 2, 3, 0, 0, 5, 'pass', NULL)") != SQLITE_OK);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
	CHECK_EQ_INT(exec_ok(db, "PRAGMA foreign_keys = ON; DELETE FROM runs WHERE id = 'old3'"),
	             SQLITE_OK);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM scheduled_runs WHERE run_id IS NULL"), 1);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM capacity_levels"), 0);
	sqlite3_close(db);
	CHECK_EQ_INT(store_open(vpath, &st, err, sizeof(err)), HERD_OK);
	if (st != NULL) {
		CHECK_EQ_INT(store_each_sched_run(st, "nightly", 0, count_sched, &n), HERD_OK);
		CHECK_EQ_INT(n, 1);
		store_close(st);
	}
	tmpdb_unlink(vpath);
}

/* A file of schema version 5 holding levels of a breaking-point search is
 * migrated to 6 on open: a level a lost agent cut short, stored under 5 as
 * 'generator-limited' with a why of "interrupted: ...", becomes
 * 'interrupted' with the bare why; every other row is kept as it was. The
 * v5 file is made from a current one with the v5 table put back. */
static void test_migrate_v5(void)
{
	char vpath[300], err[512];
	sqlite3 *db;
	store *st = NULL;

	snprintf(vpath, sizeof(vpath), "%s/v5.db", dir);
	CHECK_EQ_INT(store_open(vpath, &st, err, sizeof(err)), HERD_OK);
	if (st == NULL) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	store_close(st);
	CHECK_EQ_INT(sqlite3_open(vpath, &db), SQLITE_OK);
	CHECK_EQ_INT(exec_ok(db, "DROP TABLE capacity_levels;"
	                         "CREATE TABLE capacity_levels ("
	                         "  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
	                         "  idx INTEGER NOT NULL, scenario TEXT NOT NULL, load REAL NOT NULL,"
	                         "  refine INTEGER NOT NULL, from_ms INTEGER NOT NULL, to_ms INTEGER NOT NULL,"
	                         "  offered REAL NOT NULL, achieved REAL NOT NULL, rps REAL NOT NULL,"
	                         "  p50_ms REAL NOT NULL, p95_ms REAL NOT NULL, p99_ms REAL NOT NULL,"
	                         "  error_rate REAL NOT NULL, dropped INTEGER NOT NULL, max_cpu REAL NOT NULL,"
	                         "  verdict TEXT NOT NULL CHECK (verdict IN ('pass', 'fail', 'generator-limited')),"
	                         "  why TEXT, PRIMARY KEY (run_id, idx));"
	                         "INSERT INTO runs (id, name, started_at, interval_ms, duration_ms, status)"
	                         " VALUES ('bp5', 'find', 1795914723000, 1000, 20000, 'interrupted');"
	                         "INSERT INTO capacity_levels VALUES"
	                         " ('bp5', 0, 'find', 100, 0, 1000, 3000, 100, 100, 100, 1, 2, 3, 0, 0, 5, 'pass', NULL),"
	                         " ('bp5', 1, 'find', 130, 0, 5000, 7000, 130, 120, 120, 1, 2, 3, 0, 9, 5,"
	                         "  'generator-limited', 'iterations dropped (9)'),"
	                         " ('bp5', 2, 'find', 160, 0, 9000, 11000, 160, 150, 150, 1, 2, 3, 0, 0, 5,"
	                         "  'generator-limited', 'interrupted: agent a2 lost: nothing heard for 3.0 s');"
	                         "PRAGMA user_version = 5;"),
	             SQLITE_OK);
	sqlite3_close(db);

	CHECK_EQ_INT(store_open(vpath, &st, err, sizeof(err)), HERD_OK);
	if (st == NULL) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	CHECK_EQ_INT(store_schema_version(st), STORE_SCHEMA_VERSION);
	store_close(st);
	CHECK_EQ_INT(sqlite3_open(vpath, &db), SQLITE_OK);
	CHECK_EQ_INT(scalar(db, "PRAGMA user_version"), 6);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM capacity_levels"), 3);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM capacity_levels WHERE idx = 0 AND verdict = 'pass'"
	                        " AND why IS NULL"),
	             1);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM capacity_levels WHERE idx = 1 AND verdict = 'generator-limited'"
	                        " AND why = 'iterations dropped (9)' AND dropped = 9"),
	             1);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM capacity_levels WHERE idx = 2 AND verdict = 'interrupted'"
	                        " AND why = 'agent a2 lost: nothing heard for 3.0 s' AND load = 160"),
	             1);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM sqlite_master WHERE name = 'capacity_levels_v6'"), 0);
	/* The new CHECK still refuses what no verdict is, and the rows still go
	 * with their run. */
	CHECK(exec_ok(db, "INSERT INTO capacity_levels VALUES ('bp5', 3, 'find', 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0,"
	                  " 0, 0, 'maybe', NULL)") != SQLITE_OK);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
	CHECK_EQ_INT(exec_ok(db, "PRAGMA foreign_keys = ON; DELETE FROM runs WHERE id = 'bp5'"), SQLITE_OK);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM capacity_levels"), 0);
	sqlite3_close(db);
	tmpdb_unlink(vpath);
}

/* A close-code series keeps its code (a value well above any status class)
 * through the database, and the summary rebuilt from it shows it. */
static void test_close_codes(void)
{
	store *st;
	results *loaded;
	char err[512];
	int dup = -1;
	res_status_count *v = NULL;
	size_t n = 0;
	char *text = NULL;

	CHECK_EQ_INT(store_open(path, &st, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(store_run_begin(st, "20261124-011203-cc01", "chat", NULL, NULL, 1795914723000LL, 1000),
	             HERD_OK);
	wire_entry e[3] = { entry("ws_sessions", "chat", "/ws", "", 1), entry("ws_close_codes", "chat", "/ws", "", 4000),
		                entry("ws_close_codes", "chat", "/ws", "", 1006) };
	e[0].count = 20;
	e[0].errors[ERRK_WS_CLOSED] = 12;
	e[1].count = 10;
	e[2].count = 2;
	CHECK_EQ_INT(store_add_batch(st, "20261124-011203-cc01", "agent-1", 1, 0, e, 3, &dup), HERD_OK);
	CHECK_EQ_INT(store_load_results(st, "20261124-011203-cc01", &loaded), HERD_OK);
	CHECK_EQ_INT(results_by_status(loaded, "ws_close_codes", NULL, 0, &v, &n), HERD_OK);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_EQ_INT(v[0].status, 4000);
		CHECK_EQ_INT(v[0].count, 10);
		CHECK_EQ_INT(v[1].status, 1006);
		CHECK_EQ_INT(v[1].count, 2);
	}
	free(v);
	CHECK_EQ_INT(summary_text(loaded, NULL, &text), HERD_OK);
	CHECK_CONTAINS(text, "ws_closed_abnormally: 12 (4000×10, 1006×2)");
	free(text);
	results_free(loaded);
	store_close(st);
}

static void test_run_id(void)
{
	char id[32];
	store_make_run_id(1795482723000LL, id, sizeof(id));
	CHECK_EQ_INT(strlen(id), 20);
	CHECK(strncmp(id, "20261124-011203-", 16) == 0);
}

/* Runs left "running" by a controller that is gone are marked "interrupted"
 * when the store is next opened, but never while another process (here
 * another connection: flock(2) locks are per open file) has the store open. */
static void test_abandoned_runs(void)
{
	char apath[300], err[512];
	store *a, *b, *c;
	sqlite3 *db;
	int dup = -1;
	snprintf(apath, sizeof(apath), "%s/abandoned.db", dir);

	CHECK_EQ_INT(store_open(apath, &a, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(store_run_begin(a, "r-killed", "p", NULL, NULL, 1795914723000LL, 1000), HERD_OK);
	CHECK_EQ_INT(store_run_begin(a, "r-ended", "p", NULL, NULL, 1795914723000LL, 1000), HERD_OK);
	CHECK_EQ_INT(store_run_end(a, "r-ended", STORE_PASSED, 0, 0, 1795914733000LL, NULL, NULL), HERD_OK);
	wire_entry e = entry("http_reqs", "s", "", "GET", 2);
	e.count = 3;
	CHECK_EQ_INT(store_add_batch(a, "r-killed", "agent-1", 1, 1000, &e, 1, &dup), HERD_OK);

	/* The run's controller (a) is alive: another open leaves its run alone. */
	CHECK_EQ_INT(store_open(apath, &b, err, sizeof(err)), HERD_OK);
	store_close(b);
	CHECK_EQ_INT(sqlite3_open(apath, &db), SQLITE_OK);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM runs WHERE id = 'r-killed' AND status = 'running'"), 1);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM events WHERE kind = 'interrupted'"), 0);

	/* Gone without ending its run (store_close stands for the process exit). */
	store_close(a);
	CHECK_EQ_INT(store_open(apath, &c, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM runs WHERE id = 'r-killed' AND status = 'interrupted'"), 1);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM runs WHERE id = 'r-ended' AND status = 'passed'"
	                        " AND ended_at = 1795914733000"), 1);
	/* Ended at its last batch's arrival. */
	CHECK_EQ_INT(scalar(db, "SELECT ended_at = (SELECT received_at FROM batches WHERE run_id = 'r-killed')"
	                        " FROM runs WHERE id = 'r-killed'"), 1);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM events WHERE kind = 'interrupted' AND run_id = 'r-killed'"), 1);
	/* A run begun by this open stays running while it is open. */
	CHECK_EQ_INT(store_run_begin(c, "r-new", "p", NULL, NULL, 1795914723000LL, 1000), HERD_OK);
	CHECK_EQ_INT(store_open(apath, &b, err, sizeof(err)), HERD_OK);
	store_close(b);
	CHECK_EQ_INT(scalar(db, "SELECT count(*) FROM runs WHERE id = 'r-new' AND status = 'running'"), 1);
	store_close(c);
	sqlite3_close(db);

	tmpdb_unlink(apath);
}

int main(void)
{
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/herd.db", dir);
	test_hist_blob();
	test_run_id();
	test_open_schema();
	test_batches();
	test_batch_group();
	test_key_cache_stats();
	test_tags();
	test_migrate_v1();
	test_migrate_v2();
	test_migrate_v3();
	test_migrate_v5();
	test_close_codes();
	test_abandoned_runs();

	tmpdb_unlink(path);
	rmdir(dir);
	return check_done();
}
