/* The agent's CPU meter: a rate only over windows of at least 500 ms, so a
 * poll right after another cannot read one scheduler tick as 50% CPU; and
 * the process CPU clock's resolution and monotonicity. */
#include <stdint.h>

#include "agent/sysstat.h"
#include "tests/unit/check.h"

#define MS 1000000LL

int main(void)
{
	sysstat_cpu_meter m = { 0 };
	/* The first sample only starts a window. */
	CHECK(sysstat_cpu_pct(&m, 1000, 1000 * MS) == 0.0);
	/* 10 ms of CPU 20 ms later (one tick after an assignment): too short a
	 * window to mean anything, so the last value (none yet: 0) stays. */
	CHECK(sysstat_cpu_pct(&m, 11000, 1020 * MS) == 0.0);
	/* A full second with 50 ms of CPU in all since the window began: 5%. */
	double p = sysstat_cpu_pct(&m, 51000, 2000 * MS);
	CHECK(p > 4.99 && p < 5.01);
	/* A short window again keeps 5%, even with a burst inside it. */
	CHECK(sysstat_cpu_pct(&m, 61000, 2010 * MS) == p);
	/* Two cores busy for 600 ms: 200%. */
	p = sysstat_cpu_pct(&m, 51000 + 1200000, 2600 * MS);
	CHECK(p > 199.9 && p < 200.1);
	/* A clock that went backwards (a new process's counter) restarts the window. */
	CHECK(sysstat_cpu_pct(&m, 10, 3000 * MS) == p);
	p = sysstat_cpu_pct(&m, 10 + 100000, 4000 * MS);
	CHECK(p > 9.99 && p < 10.01);

	/* The real clock: burning CPU for a while moves it by less than a tick's
	 * 10 ms granularity would allow to be seen, and never backwards. */
	uint64_t a = sysstat_cpu_us();
	CHECK(a > 0);
	volatile uint64_t x = 0;
	uint64_t b;
	do {
		for (int i = 0; i < 10000; i++)
			x += (uint64_t)i * 7u;
		b = sysstat_cpu_us();
	} while (b == a);
	CHECK(b > a);
	CHECK(b - a < 5000); /* the first change is a few µs, not a 10 ms tick */
	CHECK(sysstat_rss_kb() > 0);
	return check_done();
}
