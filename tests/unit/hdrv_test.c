/*
 * Tests for common/hdrv: which HTTP driver runs a scenario, and why, for
 * each feature of a plan the lean driver does not serve, under each
 * --http-driver mode; and the text the run header prints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hdrv.h"
#include "common/plan.h"
#include "tests/unit/check.h"

/* Parses a plan of one scenario "s" whose flow is flow (YAML lines indented
 * by 6), with top-level lines head. */
static plan *load(const char *head, const char *flow)
{
	char text[2048], err[512];
	plan *p = NULL;
	snprintf(text, sizeof(text),
	         "name: t\ntarget: http://127.0.0.1:9\n%sscenarios:\n  s:\n    executor: per-vu-iterations\n"
	         "    vus: 1\n    iterations: 1\n    flow:\n%s",
	         head, flow);
	if (plan_parse(text, strlen(text), "t.yaml", &p, err, sizeof(err)) != HERD_OK) {
		fprintf(stderr, "plan: %s\n%s", err, text);
		return NULL;
	}
	return p;
}

/* The reasons for the plan's one scenario, and the header's text per mode. */
static void expect(const char *head, const char *flow, unsigned why, const char *on_auto, const char *on_lean)
{
	char b[200];
	plan *p = load(head, flow);
	CHECK(p != NULL);
	if (p == NULL)
		return;
	const plan_scenario *s = &p->scenarios[0];
	CHECK_EQ_INT(hdrv_reasons(p, s), why);
	hdrv_describe(HDRV_AUTO, p, s, b, sizeof(b));
	CHECK_EQ_STR(b, on_auto);
	hdrv_describe(HDRV_LEAN, p, s, b, sizeof(b));
	CHECK_EQ_STR(b, on_lean);
	hdrv_describe(HDRV_CURL, p, s, b, sizeof(b));
	CHECK_EQ_STR(b, hdrv_has_http(s) ? "curl" : "-");
	CHECK_EQ_INT(hdrv_use_lean(HDRV_CURL, p, s), 0);
	CHECK_EQ_INT(hdrv_use_lean(HDRV_AUTO, p, s), why == 0);
	CHECK_EQ_INT(hdrv_use_lean(HDRV_LEAN, p, s), why == 0);
	plan_free(p);
}

#define NOJAR "cookies: false\n"

int main(void)
{
	hdrv_mode m = HDRV_CURL;
	CHECK_EQ_INT(hdrv_parse("auto", &m), HERD_OK);
	CHECK_EQ_INT(m, HDRV_AUTO);
	CHECK_EQ_INT(hdrv_parse("lean", &m), HERD_OK);
	CHECK_EQ_INT(m, HDRV_LEAN);
	CHECK_EQ_INT(hdrv_parse("curl", &m), HERD_OK);
	CHECK_EQ_INT(m, HDRV_CURL);
	CHECK_EQ_INT(hdrv_parse("Lean", &m), HERD_EINVAL);
	CHECK_EQ_INT(hdrv_parse("", &m), HERD_EINVAL);
	CHECK_EQ_INT(m, HDRV_CURL);
	CHECK_EQ_STR(hdrv_mode_name(HDRV_AUTO), "auto");
	CHECK_EQ_STR(hdrv_reason_name(HDRV_WHY_TEMPLATES), "templates");
	CHECK_EQ_STR(hdrv_reason_name(3), "?");

	/* What the lean driver serves: plain http://, no jar; redirects too. */
	expect(NOJAR, "      - get: /a\n        redirects: 0\n        checks:\n          ok: { status: 200 }\n"
	              "          body: { body: x }\n",
	       0, "lean", "lean");
	/* The plan's defaults, a cookie jar and 10 redirects, are the lean driver's. */
	expect("", "      - get: /a\n", 0, "lean", "lean");
	expect(NOJAR, "      - get: /a\n        redirects: 3\n", 0, "lean", "lean");
	/* https:// is the lean driver's as http:// is. */
	expect(NOJAR, "      - get: /a\n        redirects: 0\n      - get: https://127.0.0.1:9/b\n        redirects: 0\n",
	       0, "lean", "lean");
	expect(NOJAR, "      - get: HTTPS://127.0.0.1:9/b\n        redirects: 0\n", 0, "lean", "lean");
	/* Templates in a path, query, header or body are the lean driver's when
	 * the scheme and host are written out. */
	expect(NOJAR, "      - get: \"/a?v={{ __VU }}\"\n        redirects: 0\n", 0, "lean", "lean");
	expect("", "      - post: \"http://127.0.0.1:9/{{ __ITER }}\"\n        headers: { X-V: \"{{ __VU }}\" }\n"
	           "        json: { a: \"{{ __VU }}\" }\n", 0, "lean", "lean");
	/* A templated https:// URL is the lean driver's too. */
	expect(NOJAR, "      - get: \"https://127.0.0.1:9/a?v={{ __VU }}\"\n        redirects: 0\n", 0, "lean",
	       "lean");
	/* A URL all template is known only rendered (plans refuse a templated
	 * host); one step of several decides for the scenario. */
	expect("", "      - get: https://127.0.0.1:9/a\n        capture:\n          next: { header: Location }\n"
	           "      - get: \"{{ next }}\"\n", HDRV_WHY_TEMPLATES, "curl (templates)", "curl (templates)");
	/* Captures and checks on headers and bodies are the lean driver's too. */
	expect(NOJAR,
	       "      - get: /a\n        redirects: 0\n        capture:\n          t: { json: $.t }\n"
	       "          h: { header: X-A }\n          r: { regex: 'id=(\\d+)' }\n"
	       "        checks:\n          h: { header: X-A }\n",
	       0, "lean", "lean");
	/* So are cookie captures and compression, with the jar on or off. */
	expect("", "      - get: /a\n        capture:\n          t: { cookie: sid }\n", 0, "lean", "lean");
	expect(NOJAR, "      - get: /a\n        redirects: 0\n        capture:\n          t: { cookie: sid }\n",
	       0, "lean", "lean");
	expect("", "      - get: /a\n        compression: true\n", 0, "lean", "lean");
	expect("", "      - get: \"/a?v={{ __VU }}\"\n        compression: true\n", 0, "lean", "lean");
	/* A scenario without HTTP requests has no driver to pick. */
	expect("", "      - think: 1s\n", 0, "-", "-");

	/* A short buffer is cut, still a string. */
	{
		char b[8];
		plan *p = load("", "      - get: /a\n        capture:\n          next: { header: Location }\n"
		                   "      - get: \"{{ next }}\"\n");
		CHECK(p != NULL);
		if (p != NULL) {
			hdrv_describe(HDRV_AUTO, p, &p->scenarios[0], b, sizeof(b));
			CHECK_EQ_STR(b, "curl (t");
			plan_free(p);
		}
	}
	return check_done();
}
