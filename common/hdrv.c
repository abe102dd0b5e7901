/*
 * The HTTP driver rule (see hdrv.h).
 */
#include "common/hdrv.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"

static const char *const why_names[HDRV_WHY__N] = {
	"scheme", "templates",
};

int hdrv_parse(const char *s, hdrv_mode *out)
{
	static const char *const names[] = { "auto", "curl", "lean" };
	for (int i = 0; i < 3; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (hdrv_mode)i;
			return HERD_OK;
		}
	return HERD_EINVAL;
}

const char *hdrv_mode_name(hdrv_mode m)
{
	return m == HDRV_CURL ? "curl" : m == HDRV_LEAN ? "lean" : "auto";
}

const char *hdrv_reason_name(unsigned why)
{
	for (int i = 0; i < HDRV_WHY__N; i++)
		if (why == 1u << i)
			return why_names[i];
	return "?";
}

int hdrv_has_http(const plan_scenario *s)
{
	for (size_t i = 0; i < s->nsteps; i++)
		if (s->steps[i].kind == STEP_HTTP)
			return 1;
	return 0;
}

unsigned hdrv_reasons(const plan *p, const plan_scenario *s)
{
	unsigned why = 0;
	for (size_t i = 0; i < s->nsteps; i++) {
		const plan_step *st = &s->steps[i];
		if (st->kind != STEP_HTTP)
			continue;
		/* https:// is the lean driver's too (TLS through agent/tlsossl,
		 * with the plan's `tls` settings as libcurl applies them): the
		 * plan has no client certificates, proxies or HTTP/2, which would
		 * be libcurl's. Plans write out the scheme and host of a templated
		 * URL (they refuse {{ }} there), so the lean driver renders
		 * templates per request to a host it resolved at start; only a URL
		 * that is all template (a captured Location, say) is known just
		 * once rendered: then "templates" is the reason. */
		if (st->url == NULL || (!st->url_late && strncasecmp(st->url, "http://", 7) != 0 &&
		                        strncasecmp(st->url, "https://", 8) != 0))
			why |= HDRV_WHY_SCHEME;
		if (st->dynamic && st->url_late)
			why |= HDRV_WHY_TEMPLATES;
		/* Checks and captures of every kind, the cookie jar (`cookies:`,
		 * cookie captures), redirects and `compression:` the lean driver
		 * serves as libcurl does. */
	}
	(void)p;
	return why;
}

int hdrv_use_lean(hdrv_mode m, const plan *p, const plan_scenario *s)
{
	return m != HDRV_CURL && hdrv_reasons(p, s) == 0;
}

/* Appends the names of the bits of why to buf at *at, "a, b, c". */
static void put_reasons(unsigned why, char *buf, size_t len, size_t *at)
{
	const char *sep = "";
	for (int i = 0; i < HDRV_WHY__N; i++) {
		if ((why & (1u << i)) == 0)
			continue;
		int n = snprintf(buf + *at, len - *at, "%s%s", sep, why_names[i]);
		if (n < 0 || (size_t)n >= len - *at) {
			*at = len - 1;
			return;
		}
		*at += (size_t)n;
		sep = ", ";
	}
}

unsigned hdrv_said_reasons(hdrv_mode m, const plan *p, const plan_scenario *s)
{
	return m == HDRV_CURL ? 0 : hdrv_reasons(p, s);
}

void hdrv_describe(hdrv_mode m, const plan *p, const plan_scenario *s, char *buf, size_t len)
{
	if (len == 0)
		return;
	if (!hdrv_has_http(s)) {
		snprintf(buf, len, "-");
		return;
	}
	int lean = hdrv_use_lean(m, p, s);
	unsigned why = hdrv_said_reasons(m, p, s);
	size_t at = (size_t)snprintf(buf, len, "%s%s", lean ? "lean" : "curl", why == 0 ? "" : " (");
	if (why == 0 || at >= len)
		return;
	put_reasons(why, buf, len, &at);
	snprintf(buf + at, len - at, ")");
}
