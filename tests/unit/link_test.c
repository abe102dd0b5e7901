/*
 * The agent's poll wait (agent/link.c, link_poll_wait_ms): it outlasts the
 * controller's hold plus a round trip, stays within what is left before the
 * controller counts as lost, and never overflows however large a WELCOME's
 * heartbeat or a measured round trip is.
 */
#include <limits.h>
#include <stdint.h>

#include "agent/link.h"
#include "tests/unit/check.h"

static void test_poll_wait(void)
{
	int64_t need = 0;
	int w;

	/* A 1 s hold, a 2 ms round trip, plenty left: the 3 s floor. */
	w = link_poll_wait_ms(1000, 2000000, 60000, 0, 0, &need);
	CHECK_EQ_INT(w, 3000);
	CHECK(need > 1000 && need < 3000);
	/* Little left before the controller counts as lost: that much, 100 ms at least. */
	CHECK_EQ_INT(link_poll_wait_ms(1000, 2000000, 700, 0, 0, &need), 700);
	CHECK_EQ_INT(link_poll_wait_ms(1000, 2000000, -5, 0, 0, &need), 100);
	/* After a short poll ran out: the whole need. */
	CHECK_EQ_INT(link_poll_wait_ms(1000, 2000000, 700, 0, 1, &need), need);
	/* Lost: no cut. */
	CHECK_EQ_INT(link_poll_wait_ms(1000, 2000000, -5, 1, 0, &need), 3000);
	/* A heartbeat of 4,294,967,295 ms and a round trip of days: the wait
	 * is cut, positive, and fits an int (it was (int)need_ms, negative). */
	w = link_poll_wait_ms(UINT32_MAX, INT64_C(1) << 60, 1000000000, 1, 0, &need);
	CHECK(w > 0 && w <= 2 * LINK_HOLD_MAX_MS + 1000);
	CHECK(need > 0 && need <= INT_MAX);
	w = link_poll_wait_ms(INT64_MAX, INT64_MAX, INT64_MAX, 0, 1, &need);
	CHECK(w > 0 && w <= 2 * LINK_HOLD_MAX_MS + 1000);
	CHECK_EQ_INT(w, need);
}

int main(void)
{
	test_poll_wait();
	return check_done();
}
