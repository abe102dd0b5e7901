/*
 * The SQLite results store: see store.h. Schema changes are a list of
 * migrations applied in order, each in its own transaction together with
 * the new PRAGMA user_version, so an interrupted upgrade leaves the previous
 * version intact. The statements of the hot path (one batch per agent per
 * second) are prepared once at open; the rest are prepared when used.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "common/clock.h"
#include "common/err.h"
#include "controller/store.h"
#include "controller/store_int.h"

/*
 * Migrations: migrations[i] takes the schema from version i to i + 1.
 * Never edit a released entry; append a new one and bump
 * STORE_SCHEMA_VERSION.
 *
 * Times are INTEGER milliseconds since the Unix epoch. intervals.errors is a
 * JSON object of the non-zero error kinds by name ({"timeout": 3}), so a
 * later version can add kinds without a migration. intervals.hist is the
 * blob of store_hist_encode. Rows of intervals are additive: a series may
 * hold two rows for one interval (from two batches); loading adds them up.
 *
 * A migration runs with foreign keys off (store_open turns them on after),
 * so one that rebuilds a table referenced by others (SQLite's documented
 * "12 steps": create the new table, copy, drop the old, rename) neither
 * cascades deletes nor rewrites the references; the ids are kept, and
 * migrate() checks the foreign keys before committing.
 *
 * A migration may also fill what SQL alone cannot (fill, run in the same
 * transaction after its SQL): 2 -> 3 computes the percentiles of the
 * intervals already stored from their histogram blobs.
 */
typedef struct migration {
	const char *sql;
	int (*fill)(store *st);
} migration;

static int stats_fill_all(store *st);

static const migration migrations[] = {
	/* 0 -> 1: the first schema. */
	{"CREATE TABLE runs ("
	"  id TEXT PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  plan_file TEXT,"
	"  plan_text TEXT,"
	"  started_at INTEGER NOT NULL,"
	"  ended_at INTEGER,"
	"  interval_ms INTEGER NOT NULL DEFAULT 1000 CHECK (interval_ms > 0),"
	"  duration_ms INTEGER," /* measured load time, when known */
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
	"  cpu_pct REAL,"   /* highest reported CPU use, 100 = one core */
	"  rss_kb INTEGER," /* highest reported resident memory */
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
	"CREATE INDEX events_run ON events (run_id, at);", NULL},

	/* 1 -> 2: series keys gain the entry's other tags ("key=value" lines,
	 * '' when none) as part of the key. SQLite cannot change a UNIQUE
	 * constraint in place, so the table is rebuilt with the same ids; old
	 * keys get ''. */
	{"CREATE TABLE series_keys_v2 ("
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
	"INSERT INTO series_keys_v2 (id, run_id, metric, scenario, name, method, status_class,"
	"  agent_id) SELECT id, run_id, metric, scenario, name, method, status_class, agent_id"
	"  FROM series_keys;"
	"DROP TABLE series_keys;"
	"ALTER TABLE series_keys_v2 RENAME TO series_keys;", NULL},

	/* 2 -> 3: per-interval figures SQL can read (docs/store.md), kept at
	 * merge time beside the blobs: one row per series and interval, with
	 * every stored row of that interval added up (count, errors) and merged
	 * (the percentiles of the merged histogram, in its unit: microseconds
	 * for durations). interval_series names the key's fields. */
	{"CREATE TABLE interval_stats ("
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
	"  FROM interval_stats s JOIN series_keys k ON k.id = s.key_id;",
	 stats_fill_all},

	/* 3 -> 4: herd serve's state (docs/store.md). schedules holds each
	 * schedule's last handled slot and its next one (seconds since the
	 * epoch), so a restarted daemon neither repeats nor forgets a slot;
	 * scheduled_runs one row per slot handled (a missed row may stand for a
	 * range of slots, slot to slot_last), its outcome updated from started
	 * to finished or aborted; deliveries one row per webhook attempt. */
	{"CREATE TABLE schedules ("
	"  name TEXT PRIMARY KEY,"
	"  cron TEXT NOT NULL,"
	"  timezone TEXT NOT NULL,"
	"  plan_file TEXT NOT NULL,"
	"  last_slot INTEGER,"
	"  next_slot INTEGER,"
	"  updated_at INTEGER NOT NULL"
	");"
	"CREATE TABLE scheduled_runs ("
	"  id INTEGER PRIMARY KEY,"
	"  schedule TEXT NOT NULL,"
	"  slot INTEGER NOT NULL,"
	"  slot_last INTEGER NOT NULL,"
	"  outcome TEXT NOT NULL CHECK (outcome IN"
	"    ('started', 'skipped', 'missed', 'aborted', 'finished')),"
	"  run_id TEXT REFERENCES runs (id) ON DELETE SET NULL,"
	"  verdict TEXT,"
	"  reason TEXT,"
	"  at INTEGER NOT NULL"
	");"
	"CREATE INDEX scheduled_runs_schedule ON scheduled_runs (schedule, slot);"
	"CREATE TABLE deliveries ("
	"  id INTEGER PRIMARY KEY,"
	"  notification TEXT NOT NULL,"
	"  event TEXT NOT NULL,"
	"  schedule TEXT,"
	"  run_id TEXT,"
	"  attempt INTEGER NOT NULL CHECK (attempt >= 1),"
	"  status INTEGER,"
	"  error TEXT,"
	"  at INTEGER NOT NULL"
	");"
	"CREATE INDEX deliveries_at ON deliveries (at);", NULL},

	/* 4 -> 5: a breaking-point search's evidence (controller/search.h):
	 * one row per level judged, in the order they ran, and the answer with
	 * its knee and USL fit. Runs before it have none. */
	{"CREATE TABLE capacity_levels ("
	"  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL,"
	"  scenario TEXT NOT NULL,"
	"  load REAL NOT NULL,"
	"  refine INTEGER NOT NULL,"
	"  from_ms INTEGER NOT NULL,"
	"  to_ms INTEGER NOT NULL,"
	"  offered REAL NOT NULL,"
	"  achieved REAL NOT NULL,"
	"  rps REAL NOT NULL,"
	"  p50_ms REAL NOT NULL,"
	"  p95_ms REAL NOT NULL,"
	"  p99_ms REAL NOT NULL,"
	"  error_rate REAL NOT NULL,"
	"  dropped INTEGER NOT NULL,"
	"  max_cpu REAL NOT NULL,"
	"  verdict TEXT NOT NULL CHECK (verdict IN ('pass', 'fail', 'generator-limited')),"
	"  why TEXT,"
	"  PRIMARY KEY (run_id, idx)"
	");"
	"CREATE TABLE capacity_fit ("
	"  run_id TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,"
	"  scenario TEXT NOT NULL,"
	"  model TEXT NOT NULL,"
	"  outcome TEXT NOT NULL,"
	"  sustainable REAL NOT NULL,"
	"  sustainable_rps REAL NOT NULL,"
	"  first_fail REAL,"
	"  broke TEXT,"
	"  reason TEXT,"
	"  knee_rps REAL,"
	"  knee_p95_ms REAL,"
	"  usl_lambda REAL,"
	"  usl_sigma REAL,"
	"  usl_kappa REAL,"
	"  usl_r2 REAL,"
	"  usl_n_star REAL,"
	"  usl_x_peak REAL,"
	"  usl_points INTEGER,"
	"  holdout_k INTEGER,"
	"  holdout_error REAL"
	");", NULL},

	/* 5 -> 6: a level cut short by a lost or stopped agent is 'interrupted',
	 * no longer 'generator-limited' with a why of "interrupted: ...". A
	 * CHECK cannot be altered, so the table is rebuilt (no table refers to
	 * it) and the rows stored under 5 are relabelled. */
	{"CREATE TABLE capacity_levels_v6 ("
	"  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL,"
	"  scenario TEXT NOT NULL,"
	"  load REAL NOT NULL,"
	"  refine INTEGER NOT NULL,"
	"  from_ms INTEGER NOT NULL,"
	"  to_ms INTEGER NOT NULL,"
	"  offered REAL NOT NULL,"
	"  achieved REAL NOT NULL,"
	"  rps REAL NOT NULL,"
	"  p50_ms REAL NOT NULL,"
	"  p95_ms REAL NOT NULL,"
	"  p99_ms REAL NOT NULL,"
	"  error_rate REAL NOT NULL,"
	"  dropped INTEGER NOT NULL,"
	"  max_cpu REAL NOT NULL,"
	"  verdict TEXT NOT NULL CHECK (verdict IN ('pass', 'fail', 'generator-limited', 'interrupted')),"
	"  why TEXT,"
	"  PRIMARY KEY (run_id, idx)"
	");"
	"INSERT INTO capacity_levels_v6 SELECT run_id, idx, scenario, load, refine, from_ms, to_ms, offered,"
	"  achieved, rps, p50_ms, p95_ms, p99_ms, error_rate, dropped, max_cpu,"
	"  CASE WHEN verdict = 'generator-limited' AND why LIKE 'interrupted: %' THEN 'interrupted' ELSE verdict END,"
	"  CASE WHEN verdict = 'generator-limited' AND why LIKE 'interrupted: %' THEN substr(why, 14) ELSE why END"
	"  FROM capacity_levels;"
	"DROP TABLE capacity_levels;"
	"ALTER TABLE capacity_levels_v6 RENAME TO capacity_levels;", NULL},
};
#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

_Static_assert(NMIGRATIONS == STORE_SCHEMA_VERSION, "one migration per schema version");

/* Statements of the batch path, prepared at open. */
enum {
	S_BEGIN = 0,
	S_COMMIT,
	S_ROLLBACK,
	S_BATCH_INS,
	S_KEY_SEL,
	S_KEY_INS,
	S_IV_INS,
	S_AGENT_BATCH,
	S_IV_SEL,
	S_STATS_PUT,
	S_STATS_NEW,
	S__N
};

static const char *const stmt_sql[S__N] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_BATCH_INS] = "INSERT INTO batches (run_id, agent_id, seq, interval_ms, entries, received_at)"
	                " VALUES (?, ?, ?, ?, ?, ?)"
	                " ON CONFLICT (run_id, agent_id, seq) DO NOTHING",
	[S_KEY_SEL] = "SELECT id FROM series_keys WHERE run_id = ? AND metric = ? AND scenario = ?"
	              " AND name = ? AND method = ? AND status_class = ? AND agent_id = ? AND tags = ?",
	[S_KEY_INS] = "INSERT INTO series_keys (run_id, metric, scenario, name, method, status_class,"
	              " agent_id, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	[S_IV_INS] = "INSERT INTO intervals (key_id, interval_ms, count, errors, bytes_in, bytes_out,"
	             " gauge, hist) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	[S_AGENT_BATCH] = "INSERT INTO run_agents (run_id, agent_id, batches, last_seq)"
	                  " VALUES (?, ?, 1, ?)"
	                  " ON CONFLICT (run_id, agent_id) DO UPDATE SET batches = batches + 1,"
	                  " last_seq = max(last_seq, excluded.last_seq)",
	/* Every stored row of one series and interval (a late batch adds one). */
	[S_IV_SEL] = "SELECT count, (SELECT coalesce(sum(value), 0) FROM json_each(errors)), gauge,"
	             " hist FROM intervals WHERE key_id = ? AND interval_ms = ? ORDER BY rowid",
	[S_STATS_PUT] = "INSERT OR REPLACE INTO interval_stats (key_id, interval_ms, count, errors,"
	                " p50, p90, p95, p99, max, gauge) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	/* The first row of a series and interval: its figures are the row's own. */
	[S_STATS_NEW] = "INSERT INTO interval_stats (key_id, interval_ms, count, errors,"
	                " p50, p90, p95, p99, max, gauge) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	                " ON CONFLICT (key_id, interval_ms) DO NOTHING",
};

/* One series key of the run being stored, by its fields packed (see
 * key_pack); NULL key: a free slot. */
typedef struct {
	uint64_t hash;
	char *key;
	size_t len;
	int64_t id;
} key_slot;

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[S__N];
	hist *scratch; /* interval_stats: the merged histogram of one interval */
	/* The series keys' ids of one run (keys_run), so that an entry's key is
	 * not looked up in SQL each time: open addressing, a power of two of
	 * slots, at most half of them used. Emptied when a batch transaction
	 * rolls back (the ids it added are gone) and when another run's batches
	 * come. */
	key_slot *keys;
	size_t nkeys, keys_cap;
	char *keys_run;
	int lock_fd; /* the database file, flock(2)ed shared while open; -1: none */
	char err[512];
};

static const char *const status_names[] = {
	"running", "passed", "failed", "aborted", "interrupted", "error",
};

const char *store_status_name(store_status s)
{
	if ((unsigned)s >= sizeof(status_names) / sizeof(status_names[0]))
		return "error";
	return status_names[s];
}

static void set_err(store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(store *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->err, sizeof(st->err), fmt, ap);
	va_end(ap);
}

/* Records SQLite's message for a failure while doing `what`. */
static int serr(store *st, const char *what)
{
	set_err(st, "%s: %s", what, sqlite3_errmsg(st->db));
	return HERD_ESTORE;
}

const char *store_errmsg(const store *st)
{
	return st != NULL ? st->err : "no store";
}

static int exec(store *st, const char *sql, const char *what)
{
	char *msg = NULL;
	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		set_err(st, "%s: %s", what, msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return HERD_ESTORE;
	}
	return HERD_OK;
}

static int user_version(store *st, int *v)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return serr(st, "reading the schema version");
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(s);
		return serr(st, "reading the schema version");
	}
	*v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return HERD_OK;
}

int store_schema_version(store *st)
{
	int v;
	return user_version(st, &v) == 0 ? v : -1;
}

/* Fails when a migration to version v left a row whose reference points
 * nowhere: foreign keys are off while migrating (see migrations[]). */
static int fk_check(store *st, int v)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, "PRAGMA foreign_key_check", -1, &s, NULL) != SQLITE_OK)
		return serr(st, "checking the migrated schema");
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return HERD_OK;
	if (rc == SQLITE_ROW) {
		set_err(st, "migrating the schema to version %d left rows that reference nothing", v);
		return HERD_ESTORE;
	}
	return serr(st, "checking the migrated schema");
}

/* Applies the missing migrations, one transaction each. The version is read
 * again inside the write transaction, so two processes opening a new file
 * at once do not both migrate it. */
static int migrate(store *st)
{
	char sql[64];
	int v, rv;

	for (;;) {
		if ((rv = exec(st, "BEGIN IMMEDIATE", "starting the schema migration")) != 0)
			return rv;
		if ((rv = user_version(st, &v)) != 0)
			goto fail;
		if (v > NMIGRATIONS) {
			set_err(st,
			        "the database has schema version %d, newer than this herd knows (%d): "
			        "use a newer herd",
			        v, NMIGRATIONS);
			rv = HERD_ESTORE;
			goto fail;
		}
		if (v == NMIGRATIONS)
			return exec(st, "COMMIT", "ending the schema check");
		if ((rv = exec(st, migrations[v].sql, "migrating the schema")) != 0 ||
		    (migrations[v].fill != NULL && (rv = migrations[v].fill(st)) != 0) ||
		    (rv = fk_check(st, v + 1)) != 0)
			goto fail;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if ((rv = exec(st, sql, "setting the schema version")) != 0)
			goto fail;
		if ((rv = exec(st, "COMMIT", "committing the schema migration")) != 0)
			goto fail;
	}
fail:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return rv;
}

static int wal_on(store *st)
{
	sqlite3_stmt *s;
	int rv = HERD_OK;
	if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL) != SQLITE_OK)
		return serr(st, "setting WAL mode");
	if (sqlite3_step(s) != SQLITE_ROW) {
		rv = serr(st, "setting WAL mode");
	} else {
		const char *mode = (const char *)sqlite3_column_text(s, 0);
		/* An in-memory database answers "memory", which is fine for tests. */
		if (mode == NULL || (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)) {
			set_err(st, "setting WAL mode: the database stays in '%s' mode",
			        mode ? mode : "?");
			rv = HERD_ESTORE;
		}
	}
	sqlite3_finalize(s);
	return rv;
}

/*
 * Marks the runs left "running" by a controller that is gone (killed, or
 * its machine went down) as "interrupted", with an event saying so; their
 * end time is their last batch's arrival.
 *
 * Which runs are still alive: every process holds a shared flock(2) on the
 * database file for as long as it has the store open, so only a process that
 * can take that lock exclusively knows that nobody else has the store open,
 * and only then sweeps. On Linux flock(2) locks are apart from SQLite's own
 * fcntl(2) locks; the descriptor stays open until after sqlite3_close, since
 * closing any descriptor of the file would drop SQLite's locks. (WAL mode
 * already needs every user of the file on one host, where flock holds.)
 * An in-memory database (no such file) has no other users and no old runs.
 */
static int mark_abandoned_runs(store *st, const char *path)
{
	int rv;
	st->lock_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (st->lock_fd < 0)
		return HERD_OK;
	if (flock(st->lock_fd, LOCK_EX | LOCK_NB) == 0) {
		char sql[512];
		snprintf(sql, sizeof(sql),
		         "BEGIN IMMEDIATE;"
		         "INSERT INTO events (run_id, at, kind, message) SELECT id, %" PRId64 ", 'interrupted',"
		         " 'its controller ended without finishing it (found when the store was opened again)'"
		         " FROM runs WHERE status = 'running';"
		         "UPDATE runs SET status = 'interrupted', ended_at = coalesce("
		         " (SELECT max(received_at) FROM batches WHERE batches.run_id = runs.id), started_at)"
		         " WHERE status = 'running';"
		         "COMMIT",
		         clock_real_ns() / 1000000);
		if ((rv = exec(st, sql, "marking the runs of controllers that are gone")) != HERD_OK) {
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			return rv;
		}
	}
	/* Held until store_close (a sweep elsewhere holds it exclusively for a
	 * moment: wait for it). */
	flock(st->lock_fd, LOCK_SH);
	return HERD_OK;
}

int store_open(const char *path, store **out, char *err, size_t errlen)
{
	store *st;
	int rv;

	if (path == NULL || out == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "no store path");
		return HERD_EINVAL;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: out of memory", path);
		return HERD_ENOMEM;
	}
	st->lock_fd = -1;
	int rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		if (st->db == NULL) {
			rv = HERD_ENOMEM;
			set_err(st, "out of memory");
		} else {
			rv = serr(st, "opening");
		}
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, 5000);
	/* synchronous = NORMAL in WAL mode keeps the database consistent when the
	 * process is killed; only a power loss may lose the latest commits.
	 * Foreign keys go on after the migrations: see migrations[]. A page
	 * cache of 32 MiB, not SQLite's 2: a run of 1,000 agents adds 50,000
	 * interval rows a second, and with 2 MiB each batch read most of the
	 * index pages it updates back from the file. */
	if ((rv = wal_on(st)) != 0 ||
	    (rv = exec(st, "PRAGMA foreign_keys = OFF; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = 10000",
	               "setting pragmas")) != 0 ||
	    (rv = migrate(st)) != 0 ||
	    (rv = exec(st, "PRAGMA foreign_keys = ON", "turning on foreign keys")) != 0 ||
	    (rv = mark_abandoned_runs(st, path)) != 0)
		goto fail;
	for (int i = 0; i < S__N; i++) {
		if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
		                       NULL) != SQLITE_OK) {
			rv = serr(st, "preparing statements");
			goto fail;
		}
	}
	*out = st;
	return HERD_OK;

fail:
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: %s", path, st->err);
	store_close(st);
	return rv;
}

/* Forgets every cached series key id (keeps the table's memory). */
static void keys_clear(store *st)
{
	for (size_t i = 0; i < st->keys_cap; i++) {
		free(st->keys[i].key);
		st->keys[i].key = NULL;
	}
	st->nkeys = 0;
	free(st->keys_run);
	st->keys_run = NULL;
}

/* Packs a series key's fields (the run aside) into buf, each followed by a
 * NUL, the status class as text between them; returns the length needed,
 * which may exceed cap (then buf holds a prefix). */
static size_t key_pack(const char *agent_id, const wire_entry *e, char *buf, size_t cap)
{
	const char *f[6] = {agent_id, e->metric, e->scenario, e->name, e->method, e->tags};
	char sc[24];
	size_t n = 0;
	snprintf(sc, sizeof(sc), "%" PRId64, (int64_t)e->status_class);
	for (int i = 0; i < 7; i++) {
		const char *v = i < 6 ? (f[i] != NULL ? f[i] : "") : sc;
		size_t l = strlen(v) + 1;
		if (n + l <= cap)
			memcpy(buf + n, v, l);
		n += l;
	}
	return n;
}

static uint64_t key_hash(const char *k, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)k[i]) * 1099511628211ull;
	return h;
}

/* The slot holding key, or the free slot where it would go. */
static key_slot *keys_slot(const store *st, const char *k, size_t len, uint64_t hash)
{
	size_t mask = st->keys_cap - 1;
	for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
		key_slot *s = &st->keys[i];
		if (s->key == NULL ||
		    (s->hash == hash && s->len == len && memcmp(s->key, k, len) == 0))
			return s;
	}
}

/* Adds a key (a copy of k) with its id; a failure only leaves it uncached. */
static void keys_add(store *st, const char *k, size_t len, uint64_t hash, int64_t id)
{
	if ((st->nkeys + 1) * 2 > st->keys_cap) {
		size_t cap = st->keys_cap ? st->keys_cap * 2 : 1024;
		key_slot *old = st->keys, *nk = calloc(cap, sizeof(*nk));
		size_t ocap = st->keys_cap;
		if (nk == NULL)
			return;
		st->keys = nk;
		st->keys_cap = cap;
		for (size_t i = 0; i < ocap; i++)
			if (old[i].key != NULL)
				*keys_slot(st, old[i].key, old[i].len, old[i].hash) = old[i];
		free(old);
	}
	char *copy = malloc(len);
	if (copy == NULL)
		return;
	memcpy(copy, k, len);
	*keys_slot(st, k, len, hash) = (key_slot){hash, copy, len, id};
	st->nkeys++;
}

void store_close(store *st)
{
	if (st == NULL)
		return;
	for (int i = 0; i < S__N; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	hist_free(st->scratch);
	keys_clear(st);
	free(st->keys);
	if (st->lock_fd >= 0)
		close(st->lock_fd); /* after SQLite's close: see mark_abandoned_runs */
	free(st);
}

void store_make_run_id(int64_t now_ms, char *buf, size_t len)
{
	time_t t = (time_t)(now_ms / 1000);
	struct tm tm;
	uint16_t rnd = 0;
	char ts[32];

	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
		rnd = (uint16_t)((uint64_t)clock_mono_ns() ^ (uint64_t)getpid());
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y%m%d-%H%M%S", &tm);
	snprintf(buf, len, "%s-%04x", ts, (unsigned)rnd);
}

/* Binds text or NULL. */
static int bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v == NULL)
		return sqlite3_bind_null(s, i);
	return sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

/* Binds a value that 0 means "unknown" for, as NULL. */
static int bind_int_or_null(sqlite3_stmt *s, int i, int64_t v)
{
	if (v == 0)
		return sqlite3_bind_null(s, i);
	return sqlite3_bind_int64(s, i, v);
}

/* Steps a statement expected to finish without rows, then finalizes it. */
static int run_once(store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);
	int rv = rc == SQLITE_DONE ? HERD_OK : serr(st, what);
	sqlite3_finalize(s);
	return rv;
}

static int prepare(store *st, const char *sql, sqlite3_stmt **s, const char *what)
{
	if (sqlite3_prepare_v2(st->db, sql, -1, s, NULL) != SQLITE_OK)
		return serr(st, what);
	return HERD_OK;
}

/* The internals other store files use (store_int.h). */
sqlite3 *store_int_db(store *st)
{
	return st->db;
}

int store_int_prepare(store *st, const char *sql, sqlite3_stmt **s, const char *what)
{
	return prepare(st, sql, s, what);
}

int store_int_done(store *st, sqlite3_stmt *s, const char *what)
{
	return run_once(st, s, what);
}

int store_int_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	return bind_text(s, i, v);
}

int store_int_serr(store *st, const char *what)
{
	return serr(st, what);
}

void store_int_set_err(store *st, const char *msg)
{
	set_err(st, "%s", msg);
}

int store_run_begin(store *st, const char *run_id, const char *name, const char *plan_file,
                    const char *plan_text, int64_t started_at, uint32_t interval_len_ms)
{
	sqlite3_stmt *s;
	int rv;
	if (run_id == NULL)
		return HERD_EINVAL;
	if ((rv = prepare(st,
	                  "INSERT INTO runs (id, name, plan_file, plan_text, started_at, interval_ms)"
	                  " VALUES (?, ?, ?, ?, ?, ?)",
	                  &s, "recording the run")) != 0)
		return rv;
	bind_text(s, 1, run_id);
	bind_text(s, 2, name ? name : "");
	bind_text(s, 3, plan_file);
	bind_text(s, 4, plan_text);
	sqlite3_bind_int64(s, 5, started_at);
	sqlite3_bind_int64(s, 6, interval_len_ms ? interval_len_ms : 1000);
	return run_once(st, s, "recording the run");
}

int store_run_end(store *st, const char *run_id, store_status status, int exit_code, int degraded,
                  int64_t ended_at, const char *summary_json, const char *summary_text)
{
	sqlite3_stmt *s;
	int rv;
	if (run_id == NULL)
		return HERD_EINVAL;
	if ((rv = prepare(st,
	                  "UPDATE runs SET status = ?, exit_code = ?, degraded = ?, ended_at = ?,"
	                  " summary_json = ?, summary_text = ? WHERE id = ?",
	                  &s, "ending the run")) != 0)
		return rv;
	bind_text(s, 1, store_status_name(status));
	sqlite3_bind_int(s, 2, exit_code);
	sqlite3_bind_int(s, 3, degraded ? 1 : 0);
	sqlite3_bind_int64(s, 4, ended_at);
	bind_text(s, 5, summary_json);
	bind_text(s, 6, summary_text);
	bind_text(s, 7, run_id);
	if ((rv = run_once(st, s, "ending the run")) != 0)
		return rv;
	if (sqlite3_changes(st->db) == 0) {
		set_err(st, "no run '%s'", run_id);
		return HERD_ENOTFOUND;
	}
	return HERD_OK;
}

int store_run_duration(store *st, const char *run_id, int64_t duration_ms)
{
	sqlite3_stmt *s;
	int rv;
	if (run_id == NULL)
		return HERD_EINVAL;
	if ((rv = prepare(st, "UPDATE runs SET duration_ms = ? WHERE id = ?", &s, "recording the duration")) != 0)
		return rv;
	sqlite3_bind_int64(s, 1, duration_ms);
	bind_text(s, 2, run_id);
	return run_once(st, s, "recording the duration");
}

int store_agent_upsert(store *st, const char *run_id, const store_agent *a)
{
	sqlite3_stmt *s;
	int rv;
	if (run_id == NULL || a == NULL || a->agent_id == NULL)
		return HERD_EINVAL;
	if ((rv = prepare(st,
	                  "INSERT INTO run_agents (run_id, agent_id, name, host, cores, weight,"
	                  " joined_at, left_at, status, cpu_pct, rss_kb) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	                  " ON CONFLICT (run_id, agent_id) DO UPDATE SET"
	                  " name = coalesce(excluded.name, name),"
	                  " host = coalesce(excluded.host, host),"
	                  " cores = coalesce(excluded.cores, cores),"
	                  " weight = coalesce(excluded.weight, weight),"
	                  " joined_at = coalesce(excluded.joined_at, joined_at),"
	                  " left_at = coalesce(excluded.left_at, left_at),"
	                  " status = coalesce(excluded.status, status),"
	                  " cpu_pct = coalesce(excluded.cpu_pct, cpu_pct),"
	                  " rss_kb = coalesce(excluded.rss_kb, rss_kb)",
	                  &s, "recording an agent")) != 0)
		return rv;
	bind_text(s, 1, run_id);
	bind_text(s, 2, a->agent_id);
	bind_text(s, 3, a->name);
	bind_text(s, 4, a->host);
	bind_int_or_null(s, 5, a->cores);
	if (a->weight != 0)
		sqlite3_bind_double(s, 6, a->weight);
	else
		sqlite3_bind_null(s, 6);
	bind_int_or_null(s, 7, a->joined_at);
	bind_int_or_null(s, 8, a->left_at);
	bind_text(s, 9, a->status);
	if (a->cpu_pct > 0)
		sqlite3_bind_double(s, 10, a->cpu_pct);
	else
		sqlite3_bind_null(s, 10);
	bind_int_or_null(s, 11, (int64_t)a->rss_kb);
	return run_once(st, s, "recording an agent");
}

/* Steps a prepared batch-path statement and resets it for the next use. */
static int step_reset(store *st, int which, const char *what)
{
	sqlite3_stmt *s = st->stmt[which];
	int rc = sqlite3_step(s);
	int rv = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? HERD_OK : serr(st, what);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rv;
}

static const char *nz(const char *s)
{
	return s != NULL ? s : "";
}

/* The id of an entry's series key: from the cache of the run's keys, else
 * looked up or added in SQL (inside the batch transaction) and cached. */
static int key_id(store *st, const char *run_id, const char *agent_id, const wire_entry *e,
                  int64_t *id)
{
	char kbuf[512], *k = kbuf;
	size_t klen = key_pack(agent_id, e, kbuf, sizeof(kbuf));
	uint64_t hash;
	int rv = HERD_OK;

	if (klen > sizeof(kbuf)) {
		if ((k = malloc(klen)) == NULL)
			return HERD_ENOMEM;
		key_pack(agent_id, e, k, klen);
	}
	hash = key_hash(k, klen);
	if (st->keys_run != NULL && strcmp(st->keys_run, run_id) != 0)
		keys_clear(st);
	if (st->keys_run == NULL)
		st->keys_run = strdup(run_id); /* NULL: nothing is cached this time */
	if (st->keys_run != NULL && st->nkeys > 0) {
		const key_slot *s = keys_slot(st, k, klen, hash);
		if (s->key != NULL) {
			*id = s->id;
			goto done;
		}
	}
	sqlite3_stmt *s = st->stmt[S_KEY_SEL];
	for (int pass = 0; pass < 2; pass++) {
		sqlite3_stmt *q = pass == 0 ? s : st->stmt[S_KEY_INS];
		sqlite3_bind_text(q, 1, run_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, nz(e->metric), -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 3, nz(e->scenario), -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 4, nz(e->name), -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 5, nz(e->method), -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 6, e->status_class);
		sqlite3_bind_text(q, 7, agent_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 8, nz(e->tags), -1, SQLITE_STATIC);
		if (pass == 0) {
			int rc = sqlite3_step(s);
			if (rc == SQLITE_ROW)
				*id = sqlite3_column_int64(s, 0);
			sqlite3_reset(s);
			sqlite3_clear_bindings(s);
			if (rc == SQLITE_ROW)
				break;
			if (rc != SQLITE_DONE) {
				rv = serr(st, "looking up a series key");
				goto done;
			}
		} else {
			if ((rv = step_reset(st, S_KEY_INS, "adding a series key")) != 0)
				goto done;
			*id = sqlite3_last_insert_rowid(st->db);
		}
	}
	if (st->keys_run != NULL)
		keys_add(st, k, klen, hash, *id);
done:
	if (k != kbuf)
		free(k);
	return rv;
}

/*
 * Writes the interval_stats row of one series and interval from every
 * stored intervals row of it: counts and errors added up, the gauge of the
 * last row (as loading does), the percentiles of the merged histograms
 * (NULL when none has one). sel and put are S_IV_SEL and S_STATS_PUT, which
 * the migration prepares for itself. Returns HERD_OK, HERD_ESTORE (also for
 * a corrupt blob) or HERD_ENOMEM.
 */
static int stats_update(store *st, sqlite3_stmt *sel, sqlite3_stmt *put, int64_t key_id,
                        int64_t interval_ms)
{
	static const double pcts[] = {50, 90, 95, 99};
	int64_t count = 0, errors = 0, gauge = 0;
	int rc, rv = HERD_OK;
	hist *h;

	if (st->scratch == NULL && (st->scratch = hist_new()) == NULL)
		return HERD_ENOMEM;
	h = st->scratch;
	hist_init(h);
	sqlite3_bind_int64(sel, 1, key_id);
	sqlite3_bind_int64(sel, 2, interval_ms);
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		count += sqlite3_column_int64(sel, 0);
		errors += sqlite3_column_int64(sel, 1);
		gauge = sqlite3_column_int64(sel, 2);
		const void *blob = sqlite3_column_blob(sel, 3);
		if (blob == NULL)
			continue;
		hist one;
		if (store_hist_decode(blob, (size_t)sqlite3_column_bytes(sel, 3), &one) != HERD_OK) {
			set_err(st, "a corrupt histogram in series %lld at %lld ms", (long long)key_id,
			        (long long)interval_ms);
			rv = HERD_ESTORE;
			break;
		}
		hist_merge(h, &one);
	}
	if (rv == HERD_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
		rv = serr(st, "reading an interval");
	sqlite3_reset(sel);
	sqlite3_clear_bindings(sel);
	if (rv != HERD_OK)
		return rv;
	sqlite3_bind_int64(put, 1, key_id);
	sqlite3_bind_int64(put, 2, interval_ms);
	sqlite3_bind_int64(put, 3, count);
	sqlite3_bind_int64(put, 4, errors);
	for (int i = 0; i < 4 && h->total > 0; i++)
		sqlite3_bind_int64(put, 5 + i, (int64_t)hist_percentile(h, pcts[i]));
	if (h->total > 0)
		sqlite3_bind_int64(put, 9, (int64_t)h->max);
	sqlite3_bind_int64(put, 10, gauge);
	rc = sqlite3_step(put);
	rv = rc == SQLITE_DONE ? HERD_OK : serr(st, "storing an interval's figures");
	sqlite3_reset(put);
	sqlite3_clear_bindings(put);
	return rv;
}

/*
 * Writes the interval_stats row of one series and interval after the row of
 * entry e was stored: when it is the interval's first row (nearly always:
 * one batch per agent and interval), its figures are e's own, computed from
 * e without reading anything back; when rows were stored before (a late
 * batch), from every stored row, as stats_update does.
 */
static int stats_put(store *st, const wire_entry *e, int64_t key_id, int64_t interval_ms)
{
	static const double pcts[] = {50, 90, 95, 99};
	sqlite3_stmt *put = st->stmt[S_STATS_NEW];
	int64_t errors = 0;
	int rv;

	for (int k = 0; k < ERRK__N; k++)
		errors += (int64_t)e->errors[k];
	sqlite3_bind_int64(put, 1, key_id);
	sqlite3_bind_int64(put, 2, interval_ms);
	sqlite3_bind_int64(put, 3, (int64_t)e->count);
	sqlite3_bind_int64(put, 4, errors);
	if (e->h != NULL && e->h->total > 0) {
		for (int i = 0; i < 4; i++)
			sqlite3_bind_int64(put, 5 + i, (int64_t)hist_percentile(e->h, pcts[i]));
		sqlite3_bind_int64(put, 9, (int64_t)e->h->max);
	}
	sqlite3_bind_int64(put, 10, e->gauge);
	if ((rv = step_reset(st, S_STATS_NEW, "storing an interval's figures")) != 0)
		return rv;
	if (sqlite3_changes(st->db) > 0)
		return HERD_OK;
	return stats_update(st, st->stmt[S_IV_SEL], st->stmt[S_STATS_PUT], key_id, interval_ms);
}

/* The 2 -> 3 migration's fill: interval_stats for every interval stored. */
static int stats_fill_all(store *st)
{
	sqlite3_stmt *each = NULL, *sel = NULL, *put = NULL;
	int rc, rv;

	if ((rv = prepare(st, "SELECT DISTINCT key_id, interval_ms FROM intervals", &each,
	                  "listing the stored intervals")) != 0 ||
	    (rv = prepare(st, stmt_sql[S_IV_SEL], &sel, "reading the stored intervals")) != 0 ||
	    (rv = prepare(st, stmt_sql[S_STATS_PUT], &put, "filling interval_stats")) != 0)
		goto done;
	while ((rc = sqlite3_step(each)) == SQLITE_ROW) {
		rv = stats_update(st, sel, put, sqlite3_column_int64(each, 0),
		                  sqlite3_column_int64(each, 1));
		if (rv != HERD_OK)
			goto done;
	}
	if (rc != SQLITE_DONE)
		rv = serr(st, "listing the stored intervals");
done:
	sqlite3_finalize(each);
	sqlite3_finalize(sel);
	sqlite3_finalize(put);
	return rv;
}

/* {"timeout":3,"http_5xx":1} for the non-zero kinds, or NULL (*json = NULL)
 * when none. buf must hold ERRK__N * 40 bytes. */
static void errors_json(const wire_entry *e, char *buf, size_t len, const char **json)
{
	size_t off = 0;
	*json = NULL;
	for (int k = 0; k < ERRK__N; k++) {
		if (e->errors[k] == 0)
			continue;
		int w = snprintf(buf + off, len - off, "%s\"%s\":%" PRIu64, off ? "," : "{", errk_name(k),
		                 e->errors[k]);
		if (w < 0 || (size_t)w >= len - off)
			return;
		off += (size_t)w;
	}
	if (off == 0 || off + 2 > len)
		return;
	buf[off++] = '}';
	buf[off] = '\0';
	*json = buf;
}

int store_batches_begin(store *st)
{
	if (st == NULL)
		return HERD_EINVAL;
	return step_reset(st, S_BEGIN, "starting a batch transaction");
}

int store_batches_end(store *st, int commit)
{
	if (st == NULL)
		return HERD_EINVAL;
	if (commit) {
		int rv = step_reset(st, S_COMMIT, "committing the batches");
		if (rv == HERD_OK)
			return HERD_OK;
		commit = 0; /* and roll back below, keeping the commit's message */
	}
	/* Keep the first message: the rollback's own would hide the cause. */
	if (sqlite3_get_autocommit(st->db) == 0) {
		sqlite3_step(st->stmt[S_ROLLBACK]);
		sqlite3_reset(st->stmt[S_ROLLBACK]);
	}
	/* The keys this transaction added are gone with it. */
	keys_clear(st);
	return HERD_ESTORE;
}

int store_batch_put(store *st, const char *run_id, const char *agent_id, uint64_t seq,
                    int64_t interval_ms, const wire_entry *entries, size_t n, int *duplicate)
{
	char ebuf[ERRK__N * 40];
	sqlite3_stmt *s;
	int rv;

	if (st == NULL || run_id == NULL || agent_id == NULL || duplicate == NULL ||
	    (entries == NULL && n > 0))
		return HERD_EINVAL;
	*duplicate = 0;
	s = st->stmt[S_BATCH_INS];
	sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, agent_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (int64_t)seq);
	sqlite3_bind_int64(s, 4, interval_ms);
	sqlite3_bind_int64(s, 5, (int64_t)n);
	sqlite3_bind_int64(s, 6, clock_real_ns() / 1000000);
	if ((rv = step_reset(st, S_BATCH_INS, "recording the batch")) != 0)
		return rv;
	if (sqlite3_changes(st->db) == 0) {
		/* Already merged (before, or earlier in this transaction): nothing
		 * was written. */
		*duplicate = 1;
		return HERD_OK;
	}

	for (size_t i = 0; i < n; i++) {
		const wire_entry *e = &entries[i];
		const char *ej;
		uint8_t *blob = NULL;
		size_t blen = 0;
		int64_t id;

		if ((rv = key_id(st, run_id, agent_id, e, &id)) != 0)
			return rv;
		if (e->h != NULL && (rv = store_hist_encode(e->h, &blob, &blen)) != 0) {
			set_err(st, "encoding a histogram: %s", herd_strerror(rv));
			return rv;
		}
		errors_json(e, ebuf, sizeof(ebuf), &ej);
		s = st->stmt[S_IV_INS];
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_int64(s, 2, interval_ms);
		sqlite3_bind_int64(s, 3, (int64_t)e->count);
		bind_text(s, 4, ej);
		sqlite3_bind_int64(s, 5, (int64_t)e->bytes_in);
		sqlite3_bind_int64(s, 6, (int64_t)e->bytes_out);
		sqlite3_bind_int64(s, 7, e->gauge);
		if (blob != NULL)
			sqlite3_bind_blob(s, 8, blob, (int)blen, free);
		else
			sqlite3_bind_null(s, 8);
		if ((rv = step_reset(st, S_IV_INS, "adding an interval")) != 0 ||
		    (rv = stats_put(st, e, id, interval_ms)) != 0)
			return rv;
	}

	s = st->stmt[S_AGENT_BATCH];
	sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, agent_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (int64_t)seq);
	return step_reset(st, S_AGENT_BATCH, "counting the agent's batch");
}

int store_add_batch(store *st, const char *run_id, const char *agent_id, uint64_t seq,
                    int64_t interval_ms, const wire_entry *entries, size_t n, int *duplicate)
{
	int rv;
	if (st == NULL || run_id == NULL || agent_id == NULL || duplicate == NULL ||
	    (entries == NULL && n > 0))
		return HERD_EINVAL;
	*duplicate = 0;
	if ((rv = store_batches_begin(st)) != 0)
		return rv;
	rv = store_batch_put(st, run_id, agent_id, seq, interval_ms, entries, n, duplicate);
	/* A duplicate wrote nothing: its empty transaction is rolled back. */
	int end = store_batches_end(st, rv == HERD_OK && !*duplicate);
	return rv != HERD_OK ? rv : *duplicate ? HERD_OK : end;
}

/* Ends a write transaction begun with BEGIN IMMEDIATE: commits when rv is
 * HERD_OK, else (or when the commit fails) rolls back. Finalizes s (may be
 * NULL). Returns the first error. */
static int tx_end(store *st, sqlite3_stmt *s, int rv, const char *what)
{
	sqlite3_finalize(s);
	if (rv == HERD_OK)
		rv = exec(st, "COMMIT", what);
	if (rv != HERD_OK && sqlite3_get_autocommit(st->db) == 0)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return rv;
}

/* Begins a write transaction that replaces a run's rows: BEGIN IMMEDIATE,
 * then del_sql (a DELETE with the run id as its one parameter). On error
 * nothing is left open. Returns a herd_err. */
static int tx_begin_replacing(store *st, const char *del_sql, const char *run_id, const char *what)
{
	sqlite3_stmt *s = NULL;
	int rv;
	if ((rv = exec(st, "BEGIN IMMEDIATE", what)) != 0)
		return rv;
	if ((rv = prepare(st, del_sql, &s, what)) == 0) {
		bind_text(s, 1, run_id);
		rv = run_once(st, s, what);
	}
	return rv == 0 ? 0 : tx_end(st, NULL, rv, what);
}

/* A REAL, or NULL when not set or not finite. */
static void bind_real_or_null(sqlite3_stmt *s, int i, int set, double v)
{
	if (set && isfinite(v))
		sqlite3_bind_double(s, i, v);
	else
		sqlite3_bind_null(s, i);
}

/* One capacity_levels row. */
static int put_level(store *st, sqlite3_stmt *s, const char *run_id, const char *scenario, size_t i,
                     const search_level *l)
{
	bind_text(s, 1, run_id);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
	bind_text(s, 3, scenario);
	sqlite3_bind_double(s, 4, l->load);
	sqlite3_bind_int(s, 5, l->refine);
	sqlite3_bind_int64(s, 6, l->from_ms);
	sqlite3_bind_int64(s, 7, l->to_ms);
	double v[] = { l->offered, l->achieved, l->rps, l->p50_ms, l->p95_ms, l->p99_ms, l->error_rate };
	for (int k = 0; k < 7; k++)
		sqlite3_bind_double(s, 8 + k, v[k]);
	sqlite3_bind_int64(s, 15, (sqlite3_int64)l->dropped);
	sqlite3_bind_double(s, 16, l->max_cpu);
	bind_text(s, 17, search_verdict_name(l->verdict));
	bind_text(s, 18, l->why[0] ? l->why : NULL);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? HERD_OK : serr(st, "storing the capacity levels");
}

int store_add_capacity(store *st, const char *run_id, const search *se)
{
	sqlite3_stmt *s = NULL;
	int rv;
	if (run_id == NULL || se == NULL)
		return HERD_EINVAL;
	const plan_scenario *sc = search_scenario(se);
	const search_result *r = search_result_of(se);
	size_t n;
	const search_level *l = search_levels(se, &n);
	search_fit f;
	search_fit_levels(se, &f);
	if ((rv = tx_begin_replacing(st, "DELETE FROM capacity_levels WHERE run_id = ?", run_id,
	                             "replacing the capacity")) != 0)
		return rv;
	if ((rv = prepare(st,
	                  "INSERT INTO capacity_levels (run_id, idx, scenario, load, refine, from_ms, to_ms, offered,"
	                  " achieved, rps, p50_ms, p95_ms, p99_ms, error_rate, dropped, max_cpu, verdict, why)"
	                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	                  &s, "storing the capacity levels")) != 0)
		goto done;
	for (size_t i = 0; i < n; i++)
		if ((rv = put_level(st, s, run_id, sc->name, i, &l[i])) != 0)
			goto done;
	sqlite3_finalize(s);
	s = NULL;
	if ((rv = prepare(st,
	                  "INSERT OR REPLACE INTO capacity_fit (run_id, scenario, model, outcome, sustainable,"
	                  " sustainable_rps, first_fail, broke, reason, knee_rps, knee_p95_ms, usl_lambda, usl_sigma,"
	                  " usl_kappa, usl_r2, usl_n_star, usl_x_peak, usl_points, holdout_k, holdout_error)"
	                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	                  &s, "storing the capacity fit")) != 0)
		goto done;
	bind_text(s, 1, run_id);
	bind_text(s, 2, sc->name);
	bind_text(s, 3, sc->bp.model == PLAN_BP_VUS ? "vus" : "arrival-rate");
	bind_text(s, 4, search_outcome_name(r->outcome));
	sqlite3_bind_double(s, 5, r->sustainable);
	sqlite3_bind_double(s, 6, r->sustainable_rps);
	bind_real_or_null(s, 7, r->first_fail > 0, r->first_fail);
	bind_text(s, 8, r->broke[0] ? r->broke : NULL);
	bind_text(s, 9, r->reason[0] ? r->reason : NULL);
	bind_real_or_null(s, 10, f.has_knee, f.knee_rps);
	bind_real_or_null(s, 11, f.has_knee, f.knee_p95_ms);
	double u[] = { f.usl.lambda, f.usl.sigma, f.usl.kappa, f.usl.r2, f.usl.n_star, f.usl.x_peak };
	for (int k = 0; k < 6; k++)
		bind_real_or_null(s, 12 + k, f.has_usl, u[k]);
	if (f.has_usl) {
		sqlite3_bind_int64(s, 18, (sqlite3_int64)f.points);
		sqlite3_bind_int64(s, 19, (sqlite3_int64)f.holdout_k);
	} else {
		sqlite3_bind_null(s, 18);
		sqlite3_bind_null(s, 19);
	}
	bind_real_or_null(s, 20, f.has_holdout, f.holdout_err);
	rv = run_once(st, s, "storing the capacity fit");
	s = NULL;
done:
	return tx_end(st, s, rv, "committing the capacity");
}

int store_add_verdicts(store *st, const char *run_id, const verdict_set *vs)
{
	sqlite3_stmt *s = NULL;
	int rv;

	if (run_id == NULL)
		return HERD_EINVAL;
	if ((rv = tx_begin_replacing(st, "DELETE FROM thresholds WHERE run_id = ?", run_id, "replacing verdicts")) != 0)
		return rv;
	if ((rv = prepare(st,
	                  "INSERT INTO thresholds (run_id, metric, expr, observed, ok, nodata, error)"
	                  " VALUES (?, ?, ?, ?, ?, ?, ?)",
	                  &s, "storing verdicts")) != 0)
		goto done;
	for (size_t i = 0; vs != NULL && i < vs->n; i++) {
		const verdict *v = &vs->v[i];
		bind_text(s, 1, run_id);
		bind_text(s, 2, v->metric);
		bind_text(s, 3, v->expr);
		if (v->error != NULL || v->nodata)
			sqlite3_bind_null(s, 4);
		else
			sqlite3_bind_double(s, 4, v->observed);
		sqlite3_bind_int(s, 5, v->ok ? 1 : 0);
		sqlite3_bind_int(s, 6, v->nodata ? 1 : 0);
		bind_text(s, 7, v->error);
		if (sqlite3_step(s) != SQLITE_DONE) {
			rv = serr(st, "storing verdicts");
			goto done;
		}
		sqlite3_reset(s);
	}
done:
	return tx_end(st, s, rv, "committing verdicts");
}

int store_add_event(store *st, const char *run_id, int64_t at, const char *kind,
                    const char *agent_id, const char *message)
{
	sqlite3_stmt *s;
	int rv;
	if (run_id == NULL || kind == NULL)
		return HERD_EINVAL;
	if ((rv = prepare(st,
	                  "INSERT INTO events (run_id, at, kind, agent_id, message)"
	                  " VALUES (?, ?, ?, ?, ?)",
	                  &s, "recording an event")) != 0)
		return rv;
	bind_text(s, 1, run_id);
	sqlite3_bind_int64(s, 2, at);
	bind_text(s, 3, kind);
	bind_text(s, 4, agent_id);
	bind_text(s, 5, message);
	return run_once(st, s, "recording an event");
}

/* Duration as "1h2m", "3m04s" or "12.5s". */
static void fmt_span(char *buf, size_t len, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	if (ms < 60000)
		snprintf(buf, len, "%.1fs", (double)ms / 1000.0);
	else if (ms < 3600000)
		snprintf(buf, len, "%dm%02ds", (int)(ms / 60000), (int)(ms / 1000 % 60));
	else
		snprintf(buf, len, "%dh%02dm", (int)(ms / 3600000), (int)(ms / 60000 % 60));
}

/* Copies at most max bytes of s, never cutting a UTF-8 sequence. */
static void clip(char *buf, size_t len, const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	snprintf(buf, len, "%.*s", (int)n, s);
}

static void fmt_utc(char *buf, size_t len, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* Reads requests, req/s and p95 out of a stored summary (the layout of
 * summary.c's JSON export), as text columns; "-" when absent. */
static void summary_numbers(const char *json, char *reqs, char *rate, char *p95, size_t len)
{
	snprintf(reqs, len, "-");
	snprintf(rate, len, "-");
	snprintf(p95, len, "-");
	if (json == NULL)
		return;
	json_t *root = json_loads(json, 0, NULL);
	if (root == NULL)
		return;
	json_t *metrics = json_object_get(root, "metrics");
	json_t *r = json_object_get(metrics, "http_reqs");
	json_t *d = json_object_get(metrics, "http_req_duration");
	if (json_is_number(json_object_get(r, "count")))
		snprintf(reqs, len, "%.0f", json_number_value(json_object_get(r, "count")));
	if (json_is_number(json_object_get(r, "rate")))
		snprintf(rate, len, "%.1f", json_number_value(json_object_get(r, "rate")));
	if (json_is_number(json_object_get(d, "p(95)"))) {
		double ms = json_number_value(json_object_get(d, "p(95)"));
		if (ms < 1)
			snprintf(p95, len, "%.0fus", ms * 1000);
		else if (ms < 1000)
			snprintf(p95, len, "%.1fms", ms);
		else
			snprintf(p95, len, "%.2fs", ms / 1000);
	}
	json_decref(root);
}

int store_list_runs(store *st, const store_list_filter *f, FILE *out)
{
	sqlite3_stmt *s;
	int rv, rc, degraded = 0;

	if ((rv = prepare(st,
	                  "SELECT id, name, started_at, ended_at, status, degraded, summary_json,"
	                  " duration_ms"
	                  " FROM runs WHERE (?1 IS NULL OR name = ?1) AND (?2 IS NULL OR status = ?2)"
	                  " AND (?4 IS NULL OR EXISTS (SELECT 1 FROM events e WHERE e.run_id = runs.id"
	                  "   AND e.kind = 'label' AND e.message = ?4))"
	                  " ORDER BY started_at DESC, id DESC LIMIT ?3",
	                  &s, "listing runs")) != 0)
		return rv;
	bind_text(s, 1, f != NULL ? f->plan : NULL);
	bind_text(s, 2, f != NULL ? f->status : NULL);
	sqlite3_bind_int64(s, 3, f != NULL && f->limit > 0 ? f->limit : -1);
	bind_text(s, 4, f != NULL ? f->label : NULL);
	/* LOAD is the summary's duration (runs.duration_ms: the first agent's
	 * start to the last one's end, which rates are per second of); WALL is
	 * the whole run, from its record to its end, with the agents' start,
	 * gracefulStop and the reporting. */
	if (fprintf(out, "%-22s %-20s %-19s %9s %9s %-12s %10s %9s %9s\n", "ID", "NAME",
	            "STARTED (UTC)", "LOAD", "WALL", "STATUS", "REQUESTS", "REQ/S", "P95") < 0)
		rv = HERD_EIO;
	while (rv == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		char name[64], started[32], dur[32], load[32], status[24], reqs[32], rate[32], p95[32];
		const char *status_txt = (const char *)sqlite3_column_text(s, 4);
		int deg = sqlite3_column_int(s, 5);

		clip(name, sizeof(name), (const char *)sqlite3_column_text(s, 1), 20);
		fmt_utc(started, sizeof(started), sqlite3_column_int64(s, 2));
		if (sqlite3_column_type(s, 3) == SQLITE_NULL)
			snprintf(dur, sizeof(dur), "-");
		else
			fmt_span(dur, sizeof(dur), sqlite3_column_int64(s, 3) - sqlite3_column_int64(s, 2));
		if (sqlite3_column_type(s, 7) == SQLITE_NULL)
			snprintf(load, sizeof(load), "-");
		else
			fmt_span(load, sizeof(load), sqlite3_column_int64(s, 7));
		snprintf(status, sizeof(status), "%s%s", status_txt ? status_txt : "?", deg ? "*" : "");
		degraded |= deg;
		summary_numbers((const char *)sqlite3_column_text(s, 6), reqs, rate, p95, sizeof(reqs));
		if (fprintf(out, "%-22s %-20s %-19s %9s %9s %-12s %10s %9s %9s\n",
		            (const char *)sqlite3_column_text(s, 0), name, started, load, dur, status, reqs,
		            rate, p95) < 0)
			rv = HERD_EIO;
	}
	if (rv == 0 && rc != SQLITE_DONE)
		rv = serr(st, "listing runs");
	sqlite3_finalize(s);
	if (rv == 0 && degraded && fprintf(out, "* degraded: agents were lost or batches missing\n") < 0)
		rv = HERD_EIO;
	if (rv == HERD_EIO)
		set_err(st, "writing the run list failed");
	return rv;
}

int store_show_run(store *st, const char *run_id, FILE *out)
{
	sqlite3_stmt *s;
	int rv, rc;

	if (run_id == NULL)
		return HERD_EINVAL;
	if ((rv = prepare(st, "SELECT name, status, summary_text FROM runs WHERE id = ?", &s,
	                  "reading the run")) != 0)
		return rv;
	bind_text(s, 1, run_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(s, 2);
		int w;
		if (text != NULL)
			w = fputs(text, out);
		else
			w = fprintf(out, "run %s (%s): %s, no summary yet\n", run_id,
			            (const char *)sqlite3_column_text(s, 0),
			            (const char *)sqlite3_column_text(s, 1));
		if (w < 0) {
			set_err(st, "writing the summary failed");
			rv = HERD_EIO;
		}
	} else if (rc == SQLITE_DONE) {
		set_err(st, "no run '%s'", run_id);
		rv = HERD_ENOTFOUND;
	} else {
		rv = serr(st, "reading the run");
	}
	sqlite3_finalize(s);
	return rv;
}

/* Fills e->errors from the stored JSON object; unknown kinds count as
 * "other", as errk_from_name does. */
static int errors_parse(const char *txt, wire_entry *e)
{
	json_t *o, *v;
	const char *k;
	if (txt == NULL)
		return HERD_OK;
	if ((o = json_loads(txt, 0, NULL)) == NULL || !json_is_object(o)) {
		json_decref(o);
		return HERD_EPROTO;
	}
	json_object_foreach(o, k, v)
	{
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			json_decref(o);
			return HERD_EPROTO;
		}
		e->errors[errk_from_name(k)] += (uint64_t)json_integer_value(v);
	}
	json_decref(o);
	return HERD_OK;
}

/* Whether run_id is stored: HERD_OK, HERD_ENOTFOUND ("no run 'X'") or
 * HERD_ESTORE. Fills *interval_ms and *duration_ms (0 when unknown) when
 * not NULL. */
static int run_lookup(store *st, const char *run_id, uint32_t *interval_ms, int64_t *duration_ms)
{
	sqlite3_stmt *s;
	int rv, rc;
	if ((rv = prepare(st, "SELECT interval_ms, duration_ms FROM runs WHERE id = ?", &s,
	                  "reading the run")) != 0)
		return rv;
	bind_text(s, 1, run_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (interval_ms != NULL)
			*interval_ms = (uint32_t)sqlite3_column_int64(s, 0);
		if (duration_ms != NULL)
			*duration_ms = sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE) {
		set_err(st, "no run '%s'", run_id);
		return HERD_ENOTFOUND;
	}
	return rc == SQLITE_ROW ? HERD_OK : serr(st, "reading the run");
}

int store_each_interval(store *st, const char *run_id, const char *metric, store_order order,
                        store_interval_fn fn, void *arg)
{
	sqlite3_stmt *s = NULL;
	hist *h = NULL;
	int rv, rc;

	if (run_id == NULL || fn == NULL)
		return HERD_EINVAL;
	if ((rv = run_lookup(st, run_id, NULL, NULL)) != 0)
		return rv;
	if ((h = hist_new()) == NULL)
		return HERD_ENOMEM;
	/* Rows in insertion order, so a gauge written twice for one interval
	 * ends with the later value, as it did live (rowid breaks every tie). */
	static const char *const orders[] = {
		[STORE_BY_ROW] = "i.rowid",
		[STORE_BY_STEP] = "k.scenario, k.name, i.interval_ms, i.rowid",
		[STORE_BY_INTERVAL] = "i.interval_ms, i.rowid",
	};
	const char *all = "SELECT k.agent_id, k.metric, k.scenario, k.name, k.method, k.status_class,"
	                  " i.interval_ms, i.count, i.errors, i.bytes_in, i.bytes_out, i.gauge, i.hist,"
	                  " k.tags"
	                  " FROM intervals i JOIN series_keys k ON k.id = i.key_id"
	                  " WHERE k.run_id = ?1 AND (?2 IS NULL OR k.metric = ?2)";
	char sql[640];
	if ((unsigned)order > STORE_BY_INTERVAL)
		order = STORE_BY_ROW;
	snprintf(sql, sizeof(sql), "%s ORDER BY %s", all, orders[order]);
	if ((rv = prepare(st, sql, &s, "reading intervals")) != 0)
		goto done;
	bind_text(s, 1, run_id);
	bind_text(s, 2, metric);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		wire_entry e;
		memset(&e, 0, sizeof(e));
		e.metric = (char *)sqlite3_column_text(s, 1);
		e.scenario = (char *)sqlite3_column_text(s, 2);
		e.name = (char *)sqlite3_column_text(s, 3);
		e.method = (char *)sqlite3_column_text(s, 4);
		e.status_class = (uint32_t)sqlite3_column_int64(s, 5);
		e.tags = (char *)sqlite3_column_text(s, 13);
		e.count = (uint64_t)sqlite3_column_int64(s, 7);
		e.bytes_in = (uint64_t)sqlite3_column_int64(s, 9);
		e.bytes_out = (uint64_t)sqlite3_column_int64(s, 10);
		e.gauge = sqlite3_column_int64(s, 11);
		if (errors_parse((const char *)sqlite3_column_text(s, 8), &e) != 0) {
			set_err(st, "run '%s': a stored errors value is not a JSON object of counts", run_id);
			rv = HERD_ESTORE;
			goto done;
		}
		if (sqlite3_column_type(s, 12) != SQLITE_NULL) {
			const uint8_t *b = sqlite3_column_blob(s, 12);
			size_t blen = (size_t)sqlite3_column_bytes(s, 12);
			if (store_hist_decode(b, blen, h) != 0) {
				set_err(st, "run '%s': a stored histogram is corrupt", run_id);
				rv = HERD_ESTORE;
				goto done;
			}
			e.h = h;
		}
		if ((rv = fn(arg, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 6),
		             &e)) != 0) {
			set_err(st, "reading run '%s': %s", run_id, herd_strerror(rv));
			goto done;
		}
	}
	rv = rc == SQLITE_DONE ? HERD_OK : serr(st, "reading intervals");
done:
	sqlite3_finalize(s);
	hist_free(h);
	return rv;
}

static int add_interval(void *arg, const char *agent_id, int64_t interval_ms, const wire_entry *e)
{
	return results_add_batch(arg, agent_id, interval_ms, e, 1);
}

int store_load_results(store *st, const char *run_id, results **out)
{
	sqlite3_stmt *s = NULL;
	results *r = NULL;
	uint32_t ilen = 0;
	int64_t measured = 0;
	int rv, rc;

	if (run_id == NULL || out == NULL)
		return HERD_EINVAL;
	if ((rv = run_lookup(st, run_id, &ilen, &measured)) != 0)
		return rv;
	if ((rv = results_new(ilen, &r)) != 0)
		return rv;
	if (measured > 0)
		results_set_duration_ms(r, measured);
	if ((rv = store_each_interval(st, run_id, NULL, STORE_BY_ROW, add_interval, r)) != 0)
		goto fail;

	/* A batch without entries still extends the run, as it did live. */
	if ((rv = prepare(st,
	                  "SELECT agent_id, max(interval_ms) FROM batches WHERE run_id = ?"
	                  " GROUP BY run_id",
	                  &s, "reading batches")) != 0)
		goto fail;
	bind_text(s, 1, run_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		rv = results_add_batch(r, (const char *)sqlite3_column_text(s, 0),
		                       sqlite3_column_int64(s, 1), NULL, 0);
		if (rv != 0) {
			set_err(st, "rebuilding results: %s", herd_strerror(rv));
			goto fail;
		}
	} else if (rc != SQLITE_DONE) {
		rv = serr(st, "reading batches");
		goto fail;
	}
	sqlite3_finalize(s);
	*out = r;
	return HERD_OK;

fail:
	sqlite3_finalize(s);
	results_free(r);
	return rv;
}

static char *dup_col(sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);
	return t != NULL ? strdup(t) : NULL;
}

int store_run_get(store *st, const char *run_id, store_run *out)
{
	sqlite3_stmt *s;
	int rv, rc;
	memset(out, 0, sizeof(*out));
	if ((rv = prepare(st,
	                  "SELECT id, name, plan_file, plan_text, started_at, ended_at, interval_ms,"
	                  " duration_ms, status, exit_code, degraded, summary_json, summary_text"
	                  " FROM runs"
	                  " WHERE id = ?",
	                  &s, "reading the run")) != 0)
		return rv;
	bind_text(s, 1, run_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->id = dup_col(s, 0);
		out->name = dup_col(s, 1);
		out->plan_file = dup_col(s, 2);
		out->plan_text = dup_col(s, 3);
		out->started_at = sqlite3_column_int64(s, 4);
		out->ended_at = sqlite3_column_int64(s, 5);
		out->interval_ms = (uint32_t)sqlite3_column_int64(s, 6);
		out->duration_ms = sqlite3_column_int64(s, 7);
		out->status = dup_col(s, 8);
		out->exit_code = sqlite3_column_int(s, 9);
		out->degraded = sqlite3_column_int(s, 10);
		out->summary_json = dup_col(s, 11);
		out->summary_text = dup_col(s, 12);
		rv = out->id != NULL && out->name != NULL && out->status != NULL ? HERD_OK : HERD_ENOMEM;
	} else if (rc == SQLITE_DONE) {
		set_err(st, "no run '%s'", run_id);
		rv = HERD_ENOTFOUND;
	} else {
		rv = serr(st, "reading the run");
	}
	sqlite3_finalize(s);
	if (rv != HERD_OK)
		store_run_fini(out);
	return rv;
}

void store_run_fini(store_run *r)
{
	free(r->id);
	free(r->name);
	free(r->plan_file);
	free(r->plan_text);
	free(r->status);
	free(r->summary_json);
	free(r->summary_text);
	memset(r, 0, sizeof(*r));
}

int store_resolve_run(store *st, const char *ref, char *out, size_t len)
{
	sqlite3_stmt *s;
	int rv, rc;
	const char *sql;
	int64_t offset = 0;
	int by_age = 0;
	if (ref == NULL || *ref == '\0') {
		set_err(st, "no run given");
		return HERD_ENOTFOUND;
	}
	if (strcmp(ref, "latest") == 0 || strcmp(ref, "previous") == 0) {
		offset = ref[0] == 'p';
		by_age = 1;
		sql = "SELECT id FROM runs ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET ?";
	} else {
		/* An exact id, else the one run whose id starts with ref. */
		sql = "SELECT id FROM runs WHERE id = ?1 UNION ALL"
		      " SELECT id FROM (SELECT id FROM runs WHERE substr(id, 1, length(?1)) = ?1"
		      "   AND NOT EXISTS (SELECT 1 FROM runs WHERE id = ?1) LIMIT 2)";
	}
	if ((rv = prepare(st, sql, &s, "finding the run")) != 0)
		return rv;
	if (by_age)
		sqlite3_bind_int64(s, 1, offset);
	else
		bind_text(s, 1, ref);
	int found = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (found++ == 0)
			snprintf(out, len, "%s", (const char *)sqlite3_column_text(s, 0));
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return serr(st, "finding the run");
	if (found == 1)
		return HERD_OK;
	if (found > 1)
		set_err(st, "'%s' starts more than one run id: give more of it", ref);
	else if (by_age)
		set_err(st, "no %s run in the store", ref);
	else
		set_err(st, "no run '%s'", ref);
	return found > 1 ? HERD_EINVAL : HERD_ENOTFOUND;
}

/* Runs sql with run_id bound to ?1 and calls row for each result row; a
 * non-zero return of row stops the walk and is returned. */
static int each_row(store *st, const char *sql, const char *run_id, const char *what,
                    int (*row)(sqlite3_stmt *s, void *ctx), void *ctx)
{
	sqlite3_stmt *s;
	int rv, rc;
	if ((rv = prepare(st, sql, &s, what)) != 0)
		return rv;
	bind_text(s, 1, run_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((rv = row(s, ctx)) != 0) {
			sqlite3_finalize(s);
			return rv;
		}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? HERD_OK : serr(st, what);
}

typedef struct verdict_ctx {
	store_verdict_fn fn;
	void *arg;
} verdict_ctx;

static int verdict_row(sqlite3_stmt *s, void *ctx)
{
	const verdict_ctx *c = ctx;
	store_verdict v = {
		.metric = (const char *)sqlite3_column_text(s, 0),
		.expr = (const char *)sqlite3_column_text(s, 1),
		.has_observed = sqlite3_column_type(s, 2) != SQLITE_NULL,
		.observed = sqlite3_column_double(s, 2),
		.ok = sqlite3_column_int(s, 3),
		.nodata = sqlite3_column_int(s, 4),
		.error = (const char *)sqlite3_column_text(s, 5),
	};
	return c->fn(c->arg, &v);
}

int store_each_verdict(store *st, const char *run_id, store_verdict_fn fn, void *arg)
{
	return each_row(st,
	                "SELECT metric, expr, observed, ok, nodata, error FROM thresholds"
	                " WHERE run_id = ?1 ORDER BY rowid",
	                run_id, "reading verdicts", verdict_row, &(verdict_ctx){ fn, arg });
}

typedef struct cap_level_ctx {
	store_cap_level_fn fn;
	void *arg;
} cap_level_ctx;

static int cap_level_row(sqlite3_stmt *s, void *ctx)
{
	const cap_level_ctx *c = ctx;
	store_cap_level l = {
		.scenario = (const char *)sqlite3_column_text(s, 0),
		.load = sqlite3_column_double(s, 1),
		.from_ms = sqlite3_column_int64(s, 2),
		.to_ms = sqlite3_column_int64(s, 3),
		.verdict = (const char *)sqlite3_column_text(s, 4),
	};
	return c->fn(c->arg, &l);
}

int store_each_cap_level(store *st, const char *run_id, store_cap_level_fn fn, void *arg)
{
	return each_row(st,
	                "SELECT scenario, load, from_ms, to_ms, verdict FROM capacity_levels"
	                " WHERE run_id = ?1 ORDER BY idx",
	                run_id, "reading capacity levels", cap_level_row, &(cap_level_ctx){ fn, arg });
}

int store_baseline_set(store *st, const char *run_id)
{
	int rv;
	if ((rv = run_lookup(st, run_id, NULL, NULL)) != 0)
		return rv;
	return store_add_event(st, run_id, clock_real_ns() / 1000000, "baseline", NULL,
	                       "marked as the baseline of its plan");
}

int store_find_baseline(store *st, const char *cand, store_baseline how, char *out, size_t len)
{
	sqlite3_stmt *s;
	int rv, rc;
	const char *sql =
	        how == STORE_BASELINE_MARKED
	                ? "SELECT r.id FROM runs r JOIN events e ON e.run_id = r.id"
	                  " WHERE e.kind = 'baseline' AND r.id <> ?1"
	                  " AND r.name = (SELECT name FROM runs WHERE id = ?1)"
	                  " ORDER BY e.at DESC, e.id DESC LIMIT 1"
	                : "SELECT id FROM runs WHERE status = 'passed' AND id <> ?1"
	                  " AND name = (SELECT name FROM runs WHERE id = ?1)"
	                  " AND started_at <= (SELECT started_at FROM runs WHERE id = ?1)"
	                  " ORDER BY started_at DESC, id DESC LIMIT 1";
	if ((rv = run_lookup(st, cand, NULL, NULL)) != 0)
		return rv;
	if ((rv = prepare(st, sql, &s, "finding the baseline")) != 0)
		return rv;
	bind_text(s, 1, cand);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		snprintf(out, len, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return HERD_OK;
	if (rc != SQLITE_DONE)
		return serr(st, "finding the baseline");
	set_err(st, how == STORE_BASELINE_MARKED
	                    ? "no baseline is set for the plan of run '%s' (herd results baseline set RUN)"
	                    : "no passed run of the plan of run '%s' before it",
	        cand);
	return HERD_ENOTFOUND;
}

typedef struct agent_ctx {
	store_agent_fn fn;
	void *arg;
} agent_ctx;

static int agent_row(sqlite3_stmt *s, void *ctx)
{
	const agent_ctx *c = ctx;
	store_agent a = {
		.agent_id = (const char *)sqlite3_column_text(s, 0),
		.name = (const char *)sqlite3_column_text(s, 1),
		.host = (const char *)sqlite3_column_text(s, 2),
		.cores = (uint32_t)sqlite3_column_int64(s, 3),
		.weight = sqlite3_column_double(s, 4),
		.joined_at = sqlite3_column_int64(s, 5),
		.left_at = sqlite3_column_int64(s, 6),
		.status = (const char *)sqlite3_column_text(s, 7),
		.cpu_pct = sqlite3_column_double(s, 8),
		.rss_kb = (uint64_t)sqlite3_column_int64(s, 9),
	};
	return c->fn(c->arg, &a);
}

int store_each_agent(store *st, const char *run_id, store_agent_fn fn, void *arg)
{
	return each_row(st,
	                "SELECT agent_id, name, host, cores, weight, joined_at, left_at, status,"
	                " cpu_pct, rss_kb FROM run_agents WHERE run_id = ?1 ORDER BY joined_at, name",
	                run_id, "reading agents", agent_row, &(agent_ctx){ fn, arg });
}

typedef struct event_ctx {
	store_event_fn fn;
	void *arg;
} event_ctx;

static int event_row(sqlite3_stmt *s, void *ctx)
{
	const event_ctx *c = ctx;
	return c->fn(c->arg, sqlite3_column_int64(s, 0),
	                            (const char *)sqlite3_column_text(s, 1),
	                            (const char *)sqlite3_column_text(s, 2),
	                            (const char *)sqlite3_column_text(s, 3));
}

int store_each_event(store *st, const char *run_id, store_event_fn fn, void *arg)
{
	return each_row(st,
	                "SELECT at, kind, agent_id, message FROM events WHERE run_id = ?1"
	                " ORDER BY at, id",
	                run_id, "reading events", event_row, &(event_ctx){ fn, arg });
}

int store_agent_name(store *st, const char *run_id, const char *agent_id, char *out, size_t len)
{
	sqlite3_stmt *s;
	int rv, rc;
	snprintf(out, len, "%s", agent_id);
	if ((rv = prepare(st, "SELECT name FROM run_agents WHERE run_id = ? AND agent_id = ?", &s,
	                  "reading agents")) != 0)
		return rv;
	bind_text(s, 1, run_id);
	bind_text(s, 2, agent_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		snprintf(out, len, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? HERD_OK : serr(st, "reading agents");
}

/* Histogram blobs. */

#define HIST_BLOB_V1 1

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (*p == end)
			return HERD_EPROTO;
		uint8_t b = *(*p)++;
		/* The tenth byte may only carry the top bit of a 64-bit value. */
		if (shift == 63 && b > 1)
			return HERD_EPROTO;
		x |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*v = x;
			return HERD_OK;
		}
	}
	return HERD_EPROTO;
}

int store_hist_encode(const hist *h, uint8_t **buf, size_t *len)
{
	uint32_t nz = 0, lo, hi;
	hist_span(h, &lo, &hi);
	for (uint32_t i = lo; i < hi; i++)
		nz += h->counts[i] != 0;
	/* A header byte and five varints of at most 10 bytes, then at most 3 + 5
	 * bytes per bucket (gap below 2^21, count below 2^35). */
	uint8_t *p = malloc(1 + 5 * 10 + (size_t)nz * 8);
	if (p == NULL)
		return HERD_ENOMEM;
	size_t n = 0;
	p[n++] = HIST_BLOB_V1;
	n += put_varint(p + n, h->total);
	n += put_varint(p + n, h->sum);
	n += put_varint(p + n, h->min);
	n += put_varint(p + n, h->max);
	n += put_varint(p + n, nz);
	int64_t prev = -1;
	for (uint32_t i = lo; i < hi; i++) {
		if (h->counts[i] == 0)
			continue;
		n += put_varint(p + n, (uint64_t)((int64_t)i - prev));
		n += put_varint(p + n, h->counts[i]);
		prev = i;
	}
	*buf = p;
	*len = n;
	return HERD_OK;
}

static int hist_decode_into(const uint8_t *buf, size_t len, hist *h)
{
	const uint8_t *p = buf, *end = buf + len;
	uint64_t nz, sum = 0;

	if (buf == NULL || len < 1 || *p++ != HIST_BLOB_V1)
		return HERD_EPROTO;
	hist_init(h);
	if (get_varint(&p, end, &h->total) || get_varint(&p, end, &h->sum) ||
	    get_varint(&p, end, &h->min) || get_varint(&p, end, &h->max) || get_varint(&p, end, &nz))
		return HERD_EPROTO;
	if (nz > HIST_NBUCKETS)
		return HERD_EPROTO;
	int64_t idx = -1, first = -1;
	for (uint64_t i = 0; i < nz; i++) {
		uint64_t gap, c;
		if (get_varint(&p, end, &gap) || get_varint(&p, end, &c))
			return HERD_EPROTO;
		if (gap == 0 || gap > HIST_NBUCKETS || idx + (int64_t)gap >= (int64_t)HIST_NBUCKETS)
			return HERD_EPROTO;
		if (c == 0 || c > UINT32_MAX)
			return HERD_EPROTO;
		idx += (int64_t)gap;
		h->counts[idx] = (uint32_t)c;
		sum += c;
		if (first < 0)
			first = idx;
	}
	if (p != end || sum != h->total)
		return HERD_EPROTO;
	if (h->total == 0) {
		/* Senders differ in how they spell an empty histogram's extremes;
		 * keep the canonical empty state. */
		hist_init(h);
		return HERD_OK;
	}
	/* min and max lie in the lowest and highest buckets (hist.h): the
	 * merges and percentiles look at that span only. */
	if (h->min > h->max || h->max > HIST_MAX_US || (int64_t)hist_index(h->min) != first ||
	    (int64_t)hist_index(h->max) != idx)
		return HERD_EPROTO;
	return HERD_OK;
}

int store_hist_decode(const uint8_t *buf, size_t len, hist *h)
{
	int rv = hist_decode_into(buf, len, h);
	/* A blob refused may have set buckets outside h's span, which hist_free
	 * empties when it keeps a histogram (hist_reuse): leave h empty. */
	if (rv != HERD_OK)
		hist_init(h);
	return rv;
}
