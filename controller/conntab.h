/*
 * The gate's table of connections, keyed by NNG pipe id: open addressing
 * with linear probing, sized at twice its most entries, erasing by moving
 * later entries of a probe run back (no tombstones), so a lookup is O(1)
 * however many connections came and went. No locking: the gate holds its
 * mutex around every call.
 */
#ifndef HERD_CONTROLLER_CONNTAB_H
#define HERD_CONTROLLER_CONNTAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct conntab_entry {
	uint32_t pipe;  /* 0: a free slot */
	int authed;     /* an agent proved itself on it */
	int closing;    /* we closed it; it stays until NNG says it is gone */
	int64_t since;  /* CLOCK_MONOTONIC, connected */
	uint32_t msgs;  /* messages before authenticating */
	uint64_t bytes; /* their bytes */
	void *pending;  /* the handshake waiting for its AUTH, or NULL */
} conntab_entry;

typedef struct conntab {
	conntab_entry *tab;
	size_t cap, used, limit; /* slots (a power of two), occupied, most occupied */
} conntab;

/* Makes room for limit entries. Returns a herd_err (HERD_ENOMEM). */
int conntab_init(conntab *t, size_t limit);
/* Frees the slots (not what entries point to). */
void conntab_fini(conntab *t);

/* The entry of pipe, or NULL. Pointers stay valid until the next insert or
 * erase. */
conntab_entry *conntab_find(conntab *t, uint32_t pipe);
/* A new zeroed entry for pipe (not in the table yet, not 0), or NULL when
 * the table holds its limit. */
conntab_entry *conntab_insert(conntab *t, uint32_t pipe);
/* Removes e (from conntab_find or conntab_insert). */
void conntab_erase(conntab *t, conntab_entry *e);

#endif
