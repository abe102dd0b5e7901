/* The deadline heap: pops come out in deadline order after random inserts,
 * moves and removals, checked against a brute-force minimum. */
#include <stdlib.h>

#include "common/dheap.h"
#include "tests/unit/check.h"

typedef struct item {
	int id;
	dheap_node node;
} item;

int main(void)
{
	enum { N = 2000 };
	static item items[N];
	dheap h = { 0 };
	uint64_t rng = 12345;
	int wrong = 0;

	for (int i = 0; i < N; i++) {
		items[i].id = i;
		dheap_node_init(&items[i].node);
	}
	CHECK(dheap_top(&h) == NULL);
	for (int round = 0; round < 20000; round++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		item *it = &items[(rng >> 33) % N];
		int op = (int)((rng >> 20) % 3);
		if (op < 2)
			CHECK_EQ_INT(dheap_set(&h, &it->node, (int64_t)((rng >> 40) % 100000)), 0);
		else
			dheap_remove(&h, &it->node);
		/* The top is the earliest of the items in the heap. */
		int64_t best = INT64_MAX;
		size_t in = 0;
		for (int i = 0; i < N; i++)
			if (dheap_contains(&items[i].node)) {
				in++;
				if (items[i].node.at < best)
					best = items[i].node.at;
			}
		if (in != h.len || (in > 0 && dheap_top(&h)->at != best))
			wrong++;
	}
	CHECK_EQ_INT(wrong, 0);
	/* Draining gives non-decreasing deadlines and the right containers. */
	int64_t prev = INT64_MIN;
	while (dheap_top(&h) != NULL) {
		dheap_node *n = dheap_top(&h);
		item *it = DHEAP_ENTRY(n, item, node);
		CHECK(&items[it->id] == it);
		CHECK(n->at >= prev);
		prev = n->at;
		dheap_remove(&h, n);
		CHECK(!dheap_contains(n));
	}
	dheap_fini(&h);
	return check_done();
}
