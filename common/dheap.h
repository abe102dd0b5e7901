/*
 * An intrusive binary min-heap of deadlines: the things that wait (VU think
 * timers, requests with a timeout, WebSocket sessions) embed a dheap_node and
 * the heap orders pointers to those nodes. O(log n) insert, move and remove;
 * the earliest deadline is at the top.
 */
#ifndef HERD_COMMON_DHEAP_H
#define HERD_COMMON_DHEAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct dheap_node {
	int64_t at;  /* the deadline, in whatever clock the heap's user keeps */
	size_t pos;  /* index in the heap, DHEAP_OUT when not in it */
} dheap_node;

#define DHEAP_OUT SIZE_MAX

/* The struct holding node n as its member `member`. */
#define DHEAP_ENTRY(n, type, member) ((type *)(void *)((char *)(n) - offsetof(type, member)))

typedef struct dheap {
	dheap_node **v;
	size_t len, cap;
} dheap;

/* Marks a node as in no heap. */
static inline void dheap_node_init(dheap_node *n)
{
	n->pos = DHEAP_OUT;
}

static inline int dheap_contains(const dheap_node *n)
{
	return n->pos != DHEAP_OUT;
}

/* The node with the earliest deadline, or NULL when the heap is empty. */
static inline dheap_node *dheap_top(const dheap *h)
{
	return h->len > 0 ? h->v[0] : NULL;
}

/* Puts n in the heap at deadline at, or moves it there when it is in already.
 * Returns 0, or -1 when out of memory (n is then in no heap). */
int dheap_set(dheap *h, dheap_node *n, int64_t at);
/* Takes n out of the heap; nothing when it is not in. */
void dheap_remove(dheap *h, dheap_node *n);
/* Frees the heap's array (not the nodes). */
void dheap_fini(dheap *h);

#endif
