/* Intrusive min-heap of deadlines; see dheap.h. */
#include <stdlib.h>

#include "common/dheap.h"

static void place(dheap *h, size_t i, dheap_node *n)
{
	h->v[i] = n;
	n->pos = i;
}

static void sift_up(dheap *h, size_t i)
{
	dheap_node *n = h->v[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (h->v[parent]->at <= n->at)
			break;
		place(h, i, h->v[parent]);
		i = parent;
	}
	place(h, i, n);
}

static void sift_down(dheap *h, size_t i)
{
	dheap_node *n = h->v[i];
	for (;;) {
		size_t l = 2 * i + 1, m = l;
		if (l >= h->len)
			break;
		if (l + 1 < h->len && h->v[l + 1]->at < h->v[l]->at)
			m = l + 1;
		if (h->v[m]->at >= n->at)
			break;
		place(h, i, h->v[m]);
		i = m;
	}
	place(h, i, n);
}

int dheap_set(dheap *h, dheap_node *n, int64_t at)
{
	n->at = at;
	if (n->pos != DHEAP_OUT) {
		sift_up(h, n->pos);
		sift_down(h, n->pos);
		return 0;
	}
	if (h->len == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		dheap_node **nv = realloc(h->v, cap * sizeof(*nv));
		if (nv == NULL)
			return -1;
		h->v = nv;
		h->cap = cap;
	}
	place(h, h->len++, n);
	sift_up(h, n->pos);
	return 0;
}

void dheap_remove(dheap *h, dheap_node *n)
{
	size_t i = n->pos;
	if (i == DHEAP_OUT)
		return;
	n->pos = DHEAP_OUT;
	dheap_node *last = h->v[--h->len];
	if (i == h->len)
		return;
	place(h, i, last);
	sift_up(h, i);
	sift_down(h, last->pos);
}

void dheap_fini(dheap *h)
{
	free(h->v);
	h->v = NULL;
	h->len = h->cap = 0;
}
