/* conntab: the gate's connection table against a plain list, through many
 * random inserts and erases with ids like NNG's (consecutive) and random
 * ones, in a small table so probe runs wrap around its end. */
#include <stdlib.h>

#include "check.h"
#include "common/err.h"
#include "controller/conntab.h"

#define LIMIT 40

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

/* Every id in live[] is found with its mark, and the count agrees. */
static int consistent(conntab *t, const uint32_t *live, size_t n)
{
	if (t->used != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		conntab_entry *e = conntab_find(t, live[i]);
		if (e == NULL || e->pipe != live[i] || e->msgs != live[i] * 3u)
			return 0;
	}
	return 1;
}

static void run(int consecutive, int rounds)
{
	conntab t;
	uint32_t live[LIMIT], next_id = 0x7ffffff0u; /* wraps past 2^32 too */
	size_t n = 0;
	int bad = 0, gone_found = 0;
	CHECK_EQ_INT(conntab_init(&t, LIMIT), HERD_OK);
	CHECK(t.cap >= 2 * LIMIT);
	for (int r = 0; r < rounds && !bad; r++) {
		int add = n == 0 || (n < LIMIT && next_rand() % 100 < 55);
		if (add) {
			uint32_t id;
			do
				id = consecutive ? ++next_id : next_rand();
			while (id == 0 || conntab_find(&t, id) != NULL);
			conntab_entry *e = conntab_insert(&t, id);
			if (e == NULL) {
				bad = 1;
				break;
			}
			e->msgs = id * 3u;
			live[n++] = id;
		} else {
			size_t k = next_rand() % n;
			uint32_t id = live[k];
			conntab_erase(&t, conntab_find(&t, id));
			live[k] = live[--n];
			gone_found += conntab_find(&t, id) != NULL;
		}
		bad = !consistent(&t, live, n);
	}
	CHECK(!bad);
	CHECK_EQ_INT(gone_found, 0);
	/* Full: one more is refused, and erasing makes room again. */
	while (n < LIMIT) {
		uint32_t id = ++next_id;
		if (id == 0 || conntab_find(&t, id) != NULL)
			continue;
		conntab_entry *e = conntab_insert(&t, id);
		CHECK(e != NULL);
		if (e == NULL)
			break;
		e->msgs = id * 3u;
		live[n++] = id;
	}
	CHECK(conntab_insert(&t, ++next_id) == NULL);
	CHECK(conntab_insert(&t, 0) == NULL);
	CHECK(conntab_find(&t, 0) == NULL);
	conntab_erase(&t, conntab_find(&t, live[0]));
	live[0] = live[--n];
	CHECK(conntab_insert(&t, next_id) != NULL);
	conntab_fini(&t);
}

int main(void)
{
	run(1, 200000);
	run(0, 200000);
	return check_done();
}
