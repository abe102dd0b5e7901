/* herd serve's tables in the store; see store_serve.h (schema in store.c's
 * migration 3 -> 4). */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "common/err.h"
#include "controller/store_int.h"
#include "controller/store_serve.h"

static const char *const outcome_names[] = {"started", "skipped", "missed", "aborted", "finished"};

const char *store_sched_outcome_name(store_sched_outcome o)
{
	if ((unsigned)o >= sizeof(outcome_names) / sizeof(outcome_names[0]))
		return "?";
	return outcome_names[o];
}

static int bind_slot(sqlite3_stmt *s, int i, int64_t v)
{
	return v > 0 ? sqlite3_bind_int64(s, i, v) : sqlite3_bind_null(s, i);
}

static const char *col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

/* The slot columns: NULL reads as -1 (last) or 0 (next). */
static int64_t col_slot(sqlite3_stmt *s, int i, int64_t dflt)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? dflt : sqlite3_column_int64(s, i);
}

/* Steps an UPDATE and tells whether it changed a row. */
static int update_one(store *st, sqlite3_stmt *s, const char *what, const char *missing)
{
	int rv = store_int_done(st, s, what);
	if (rv != HERD_OK)
		return rv;
	if (sqlite3_changes(store_int_db(st)) == 0) {
		store_int_set_err(st, missing);
		return HERD_ENOTFOUND;
	}
	return HERD_OK;
}

/* Walks a prepared SELECT, calling row for each row; finalizes it. */
static int walk(store *st, sqlite3_stmt *s, const char *what, int (*row)(sqlite3_stmt *, void *),
                void *arg)
{
	int rc, rv = HERD_OK;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((rv = row(s, arg)) != 0)
			break;
	if (rv == HERD_OK && rc != SQLITE_DONE)
		rv = store_int_serr(st, what);
	sqlite3_finalize(s);
	return rv;
}

int store_schedule_put(store *st, const char *name, const char *cron, const char *tz,
                       const char *plan_file, int64_t next_slot, int64_t now_ms)
{
	sqlite3_stmt *s;
	int rv;
	if (name == NULL || cron == NULL || tz == NULL || plan_file == NULL)
		return HERD_EINVAL;
	if ((rv = store_int_prepare(st,
	                            "INSERT INTO schedules (name, cron, timezone, plan_file, next_slot,"
	                            " updated_at) VALUES (?, ?, ?, ?, ?, ?)"
	                            " ON CONFLICT (name) DO UPDATE SET cron = excluded.cron,"
	                            " timezone = excluded.timezone, plan_file = excluded.plan_file,"
	                            " next_slot = excluded.next_slot, updated_at = excluded.updated_at",
	                            &s, "recording the schedule")) != 0)
		return rv;
	store_int_bind_text(s, 1, name);
	store_int_bind_text(s, 2, cron);
	store_int_bind_text(s, 3, tz);
	store_int_bind_text(s, 4, plan_file);
	bind_slot(s, 5, next_slot);
	sqlite3_bind_int64(s, 6, now_ms);
	return store_int_done(st, s, "recording the schedule");
}

int store_schedule_handled(store *st, const char *name, int64_t last_slot, int64_t next_slot,
                           int64_t now_ms)
{
	sqlite3_stmt *s;
	char msg[160];
	int rv;
	if (name == NULL)
		return HERD_EINVAL;
	if ((rv = store_int_prepare(st,
	                            "UPDATE schedules SET last_slot = ?, next_slot = ?, updated_at = ?"
	                            " WHERE name = ?",
	                            &s, "recording the slot")) != 0)
		return rv;
	sqlite3_bind_int64(s, 1, last_slot);
	bind_slot(s, 2, next_slot);
	sqlite3_bind_int64(s, 3, now_ms);
	store_int_bind_text(s, 4, name);
	snprintf(msg, sizeof(msg), "no schedule '%.100s'", name);
	return update_one(st, s, "recording the slot", msg);
}

int store_schedule_get(store *st, const char *name, int64_t *last_slot, int64_t *next_slot)
{
	sqlite3_stmt *s;
	char msg[160];
	int rv;
	if (name == NULL)
		return HERD_EINVAL;
	if ((rv = store_int_prepare(st, "SELECT last_slot, next_slot FROM schedules WHERE name = ?", &s,
	                            "reading the schedule")) != 0)
		return rv;
	store_int_bind_text(s, 1, name);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*last_slot = col_slot(s, 0, -1);
		*next_slot = col_slot(s, 1, 0);
		rv = HERD_OK;
	} else if (rc == SQLITE_DONE) {
		snprintf(msg, sizeof(msg), "no schedule '%.100s'", name);
		store_int_set_err(st, msg);
		rv = HERD_ENOTFOUND;
	} else {
		rv = store_int_serr(st, "reading the schedule");
	}
	sqlite3_finalize(s);
	return rv;
}

/* The caller's callback, for walk()'s row functions. */
typedef struct cb {
	store_schedule_fn sfn;
	store_sched_run_fn rfn;
	store_delivery_fn dfn;
	void *arg;
} cb;

static int schedule_row(sqlite3_stmt *s, void *arg)
{
	cb *c = arg;
	store_schedule r = {col_text(s, 0), col_text(s, 1),    col_text(s, 2),
	                    col_text(s, 3), col_slot(s, 4, -1), col_slot(s, 5, 0),
	                    sqlite3_column_int64(s, 6)};
	return c->sfn(c->arg, &r);
}

int store_each_schedule(store *st, store_schedule_fn fn, void *arg)
{
	sqlite3_stmt *s;
	cb c = {.sfn = fn, .arg = arg};
	int rv;
	if ((rv = store_int_prepare(st,
	                            "SELECT name, cron, timezone, plan_file, last_slot, next_slot,"
	                            " updated_at FROM schedules ORDER BY name",
	                            &s, "listing the schedules")) != 0)
		return rv;
	return walk(st, s, "listing the schedules", schedule_row, &c);
}

int store_sched_run_add(store *st, const char *schedule, int64_t slot, int64_t slot_last,
                        store_sched_outcome outcome, const char *run_id, const char *verdict,
                        const char *reason, int64_t at_ms, int64_t *id)
{
	sqlite3_stmt *s;
	int rv;
	if (schedule == NULL || (unsigned)outcome > STORE_SCHED_FINISHED)
		return HERD_EINVAL;
	if ((rv = store_int_prepare(st,
	                            "INSERT INTO scheduled_runs (schedule, slot, slot_last, outcome,"
	                            " run_id, verdict, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	                            &s, "recording the scheduled run")) != 0)
		return rv;
	store_int_bind_text(s, 1, schedule);
	sqlite3_bind_int64(s, 2, slot);
	sqlite3_bind_int64(s, 3, slot_last > slot ? slot_last : slot);
	store_int_bind_text(s, 4, store_sched_outcome_name(outcome));
	store_int_bind_text(s, 5, run_id);
	store_int_bind_text(s, 6, verdict);
	store_int_bind_text(s, 7, reason);
	sqlite3_bind_int64(s, 8, at_ms);
	if ((rv = store_int_done(st, s, "recording the scheduled run")) != 0)
		return rv;
	if (id != NULL)
		*id = sqlite3_last_insert_rowid(store_int_db(st));
	return HERD_OK;
}

int store_sched_run_update(store *st, int64_t id, store_sched_outcome outcome, const char *run_id,
                           const char *verdict, const char *reason, int64_t at_ms)
{
	sqlite3_stmt *s;
	char msg[64];
	int rv;
	if ((unsigned)outcome > STORE_SCHED_FINISHED)
		return HERD_EINVAL;
	if ((rv = store_int_prepare(st,
	                            "UPDATE scheduled_runs SET outcome = ?,"
	                            " run_id = coalesce(?, run_id), verdict = coalesce(?, verdict),"
	                            " reason = coalesce(?, reason), at = ? WHERE id = ?",
	                            &s, "updating the scheduled run")) != 0)
		return rv;
	store_int_bind_text(s, 1, store_sched_outcome_name(outcome));
	store_int_bind_text(s, 2, run_id);
	store_int_bind_text(s, 3, verdict);
	store_int_bind_text(s, 4, reason);
	sqlite3_bind_int64(s, 5, at_ms);
	sqlite3_bind_int64(s, 6, id);
	snprintf(msg, sizeof(msg), "no scheduled run %lld", (long long)id);
	return update_one(st, s, "updating the scheduled run", msg);
}

static int sched_run_row(sqlite3_stmt *s, void *arg)
{
	cb *c = arg;
	store_sched_run r = {sqlite3_column_int64(s, 0), col_text(s, 1), col_text(s, 2),
	                     col_text(s, 3),             col_text(s, 4), col_text(s, 5),
	                     sqlite3_column_int64(s, 6), sqlite3_column_int64(s, 7),
	                     sqlite3_column_int64(s, 8)};
	return c->rfn(c->arg, &r);
}

int store_each_sched_run(store *st, const char *schedule, int64_t limit, store_sched_run_fn fn,
                         void *arg)
{
	sqlite3_stmt *s;
	cb c = {.rfn = fn, .arg = arg};
	int rv;
	if ((rv = store_int_prepare(st,
	                            "SELECT id, schedule, outcome, run_id, verdict, reason, slot,"
	                            " slot_last, at FROM scheduled_runs"
	                            " WHERE ?1 IS NULL OR schedule = ?1"
	                            " ORDER BY slot DESC, id DESC LIMIT ?2",
	                            &s, "listing the scheduled runs")) != 0)
		return rv;
	store_int_bind_text(s, 1, schedule);
	sqlite3_bind_int64(s, 2, limit > 0 ? limit : -1);
	return walk(st, s, "listing the scheduled runs", sched_run_row, &c);
}

int store_delivery_add(store *st, const store_delivery *d)
{
	sqlite3_stmt *s;
	int rv;
	if (d == NULL || d->notification == NULL || d->event == NULL || d->attempt < 1)
		return HERD_EINVAL;
	if ((rv = store_int_prepare(st,
	                            "INSERT INTO deliveries (notification, event, schedule, run_id,"
	                            " attempt, status, error, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	                            &s, "recording the delivery")) != 0)
		return rv;
	store_int_bind_text(s, 1, d->notification);
	store_int_bind_text(s, 2, d->event);
	store_int_bind_text(s, 3, d->schedule);
	store_int_bind_text(s, 4, d->run_id);
	sqlite3_bind_int(s, 5, d->attempt);
	if (d->status > 0)
		sqlite3_bind_int(s, 6, d->status);
	else
		sqlite3_bind_null(s, 6);
	store_int_bind_text(s, 7, d->error);
	sqlite3_bind_int64(s, 8, d->at);
	return store_int_done(st, s, "recording the delivery");
}

static int delivery_row(sqlite3_stmt *s, void *arg)
{
	cb *c = arg;
	store_delivery d = {col_text(s, 0),
	                    col_text(s, 1),
	                    col_text(s, 2),
	                    col_text(s, 3),
	                    sqlite3_column_int(s, 4),
	                    sqlite3_column_int(s, 5),
	                    col_text(s, 6),
	                    sqlite3_column_int64(s, 7)};
	return c->dfn(c->arg, &d);
}

int store_each_delivery(store *st, store_delivery_fn fn, void *arg)
{
	sqlite3_stmt *s;
	cb c = {.dfn = fn, .arg = arg};
	int rv;
	if ((rv = store_int_prepare(st,
	                            "SELECT notification, event, schedule, run_id, attempt,"
	                            " coalesce(status, 0), error, at FROM deliveries ORDER BY id",
	                            &s, "listing the deliveries")) != 0)
		return rv;
	return walk(st, s, "listing the deliveries", delivery_row, &c);
}
