/*
 * The store's internals for its other files (store_serve.c): the SQLite
 * connection and the helpers store.c's own functions use, so every file
 * reports failures the same way (store_errmsg). Not a public interface.
 */
#ifndef HERD_CONTROLLER_STORE_INT_H
#define HERD_CONTROLLER_STORE_INT_H

#include <sqlite3.h>

#include "controller/store.h"

sqlite3 *store_int_db(store *st);
/* Prepares sql; on failure records "what: SQLite's message" and returns HERD_ESTORE. */
int store_int_prepare(store *st, const char *sql, sqlite3_stmt **s, const char *what);
/* Steps s, which must finish without rows, and finalizes it (always). */
int store_int_done(store *st, sqlite3_stmt *s, const char *what);
/* Binds text, or NULL for a NULL v. */
int store_int_bind_text(sqlite3_stmt *s, int i, const char *v);
/* Records "what: SQLite's message"; returns HERD_ESTORE. */
int store_int_serr(store *st, const char *what);
/* Records msg as the store's last error. */
void store_int_set_err(store *st, const char *msg);

#endif
