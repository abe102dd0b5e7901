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
#include "controller/summary.h"
#include "tests/unit/check.h"

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
	CHECK_EQ_INT(store_list_runs(st, f), HERD_OK);
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
	test_close_codes();

	char f[320];
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(f, sizeof(f), "%s%s", path, suffixes[i]);
		unlink(f);
	}
	rmdir(dir);
	return check_done();
}
