/*
 * An agent's side of a schedule's maxVUs cap (common/ratecap): the plan's
 * VU counts and a LOAD's VU count are clamped to the cap an assignment
 * tightens, and a plan within it is left as it was.
 */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/plan.h"
#include "common/ratecap.h"
#include "tests/unit/check.h"

static plan *parse(const char *yaml)
{
	plan *p = NULL;
	char err[1024] = "";
	if (plan_parse(yaml, strlen(yaml), "t.yaml", &p, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "unexpected plan error: %s\n", err);
		CHECK(0);
		return NULL;
	}
	return p;
}

static const char *PLAN =
    "name: caps\n"
    "target: http://127.0.0.1:1\n"
    "scenarios:\n"
    "  closed:\n"
    "    executor: constant-vus\n"
    "    vus: 500\n"
    "    duration: 10s\n"
    "    flow:\n"
    "      - get: /\n"
    "  ramp:\n"
    "    executor: ramping-vus\n"
    "    startVUs: 300\n"
    "    stages:\n"
    "      - { duration: 5s, target: 800 }\n"
    "      - { duration: 5s, target: 20 }\n"
    "    flow:\n"
    "      - get: /\n"
    "  open:\n"
    "    executor: ramping-arrival-rate\n"
    "    startRate: 1000\n"
    "    preAllocatedVUs: 200\n"
    "    maxVUs: 400\n"
    "    stages:\n"
    "      - { duration: 5s, target: 2000 }\n"
    "    flow:\n"
    "      - get: /\n";

static void test_clamp_plan(void)
{
	plan *p = parse(PLAN);
	if (p == NULL)
		return;
	/* No cap: nothing changes. */
	ratecap_clamp_vus(p);
	CHECK_EQ_INT(p->scenarios[0].vus, 500);
	CHECK_EQ_INT(p->scenarios[1].stages[0].target, 800);
	CHECK_EQ_INT(ratecap_vus_load(p, 5000) == 5000, 1);
	/* An assignment's cap of 250 VUs. */
	ratecap_tighten(p, 0, 250);
	ratecap_clamp_vus(p);
	CHECK_EQ_INT(p->scenarios[0].vus, 250);
	CHECK_EQ_INT(p->scenarios[1].start_vus, 250);
	CHECK_EQ_INT(p->scenarios[1].stages[0].target, 250);
	CHECK_EQ_INT(p->scenarios[1].stages[1].target, 20);
	CHECK_EQ_INT(p->scenarios[2].pre_allocated_vus, 200);
	CHECK_EQ_INT(p->scenarios[2].max_vus, 250);
	/* An arrival rate's stage target is a rate, not VUs: kept. */
	CHECK_EQ_INT(p->scenarios[2].stages[0].target, 2000);
	/* LOAD commands: VUs past the cap are cut to it. */
	CHECK_EQ_INT(ratecap_vus_load(p, 1e9) == 250, 1);
	CHECK_EQ_INT(ratecap_vus_load(p, 100) == 100, 1);
	CHECK_EQ_INT(ratecap_vus_load(p, 250) == 250, 1);
	/* A looser cap later leaves the tighter one. */
	ratecap_tighten(p, 0, 1000);
	CHECK_EQ_INT(ratecap_vus_load(p, 600) == 250, 1);
	plan_free(p);
}

int main(void)
{
	test_clamp_plan();
	return check_done();
}
