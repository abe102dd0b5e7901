/*
 * Temporary SQLite files for the store's unit tests: a database in WAL mode
 * leaves a -wal and a -shm file beside it, and a test removes all three.
 */
#ifndef HERD_TESTS_TMPDB_H
#define HERD_TESTS_TMPDB_H

#include <stdio.h>
#include <unistd.h>

/* Removes the database file db and its WAL and shared-memory files. */
static inline void tmpdb_unlink(const char *db)
{
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		char f[4096];
		snprintf(f, sizeof(f), "%s%s", db, suffixes[i]);
		unlink(f);
	}
}

#endif
