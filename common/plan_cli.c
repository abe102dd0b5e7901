/*
 * Numbers from outside the plan: env() templates in numeric and duration
 * keys, rendered once when the plan loads, and the command line's scenario
 * overrides (herd run --vus, --duration, --iterations, k6's flags). Both
 * reach agents as environment values shipped with the plan, so an agent's
 * parse of the same text gives the same numbers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/plan_int.h"

/* The env("NAME") names a template uses, "A, B", for messages. */
static void env_names(const char *s, size_t len, char *out, size_t outlen)
{
	size_t o = 0;
	out[0] = '\0';
	for (const char *p = s; p != NULL && (size_t)(p - s) + 5 < len;) {
		const char *e = memmem(p, len - (size_t)(p - s), "env(", 4);
		if (e == NULL)
			break;
		const char *q = e + 4;
		while ((size_t)(q - s) < len && *q == ' ')
			q++;
		if ((size_t)(q - s) < len && *q == '"') {
			const char *end = memchr(q + 1, '"', len - (size_t)(q + 1 - s));
			if (end != NULL && o < outlen)
				o += (size_t)snprintf(out + o, outlen - o, "%s%.*s", o ? ", " : "",
				                      (int)(end - q - 1 < 64 ? end - q - 1 : 64), q + 1);
		}
		p = q;
	}
}

int env_value(pctx *c, const pair *pr, const char *want, env_text *out)
{
	size_t len;
	const char *s = node_text(pr->v, &len);
	char kb[200], names[200];
	tmpl t;
	int rv;

	out->used = 0;
	if (node_kind(pr->v) != SK_STR || memmem(s, len, "{{", 2) == NULL)
		return HERD_OK;
	key_str(pr, kb, sizeof(kb));
	if ((rv = compile_text(c, s, len, pr->v, vloc(pr), 0, &t)) != 0)
		return rv;
	size_t vlen = 0;
	const char *v = tmpl_literal(&t, &vlen);
	if (t.dynamic) {
		tmpl_free(&t);
		return perr(c, vloc(pr),
		            "'%s' is read once when the plan loads: its template may use env() only, "
		            "not values that change per VU or request", kb);
	}
	env_names(s, len, names, sizeof(names));
	snprintf(out->names, sizeof(out->names), "%s", names[0] ? names : "(none)");
	/* Spaces around the value are the template's layout, not the number's. */
	while (vlen > 0 && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	out->len = vlen < sizeof(out->text) ? vlen : sizeof(out->text) - 1;
	if (out->len > 0)
		memcpy(out->text, v, out->len);
	out->text[out->len] = '\0';
	tmpl_free(&t);
	if (out->len == 0 || vlen >= sizeof(out->text))
		return env_bad(c, pr, out, want);
	out->used = 1;
	return HERD_OK;
}

int env_bad(pctx *c, const pair *pr, const env_text *et, const char *want)
{
	char kb[200], vb[200];
	key_str(pr, kb, sizeof(kb));
	show(et->text, et->len, vb, sizeof(vb));
	return perr(c, vloc(pr), "'%s' needs %s, but env %s gives '%s'", kb, want, et->names, vb);
}

int env_int_text(const char *s, size_t len, int64_t *out)
{
	size_t i = s[0] == '-' || s[0] == '+' ? 1 : 0;
	if (len == i || len > 20)
		return -1;
	for (size_t j = i; j < len; j++)
		if (!is_digit(s[j]))
			return -1;
	return parse_int(s, len, out);
}

/* ---- herd run --vus, --duration, --iterations ---- */

/* The names the command line's overrides travel under: not environment
 * variable names, so env() can never read them. */
static const char *const flag_names[] = {"--vus", "--duration", "--iterations"};

static int flag_err(pctx *c, loc l, const char *flag, const plan_scenario *s, const char *why)
{
	return perr(c, l, "%s does not apply to scenario '%s' (executor %s): %s", flag, s->name,
	            plan_executor_name(s->executor), why);
}

int apply_cli_flags(pctx *c, loc l)
{
	plan *p = c->p;
	const char *val[3];
	int any = 0;

	for (size_t i = 0; i < 3; i++) {
		val[i] = plan_getenv(c, flag_names[i]);
		any |= val[i] != NULL;
	}
	if (!any)
		return HERD_OK;
	if (p->nscenarios != 1) {
		char list[400];
		size_t o = 0;
		list[0] = '\0';
		for (size_t i = 0; i < p->nscenarios && o < sizeof(list); i++)
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s'%s'", i ? ", " : "", p->scenarios[i].name);
		return perr(c, l,
		            "%s applies to a plan with one scenario; this plan has %zu (%s): set the value in "
		            "the scenario instead",
		            val[0] ? "--vus" : val[1] ? "--duration" : "--iterations", p->nscenarios, list);
	}
	plan_scenario *s = &p->scenarios[0];
	int64_t vus = 0, iters = 0, ms = 0;
	if (val[0] != NULL && (env_int_text(val[0], strlen(val[0]), &vus) != 0 || vus < 1 || vus > PLAN_MAX_COUNT))
		return perr(c, l, "--vus: expected a number from 1 to %lld, got '%s'", PLAN_MAX_COUNT, val[0]);
	if (val[2] != NULL &&
	    (env_int_text(val[2], strlen(val[2]), &iters) != 0 || iters < 1 || iters > PLAN_MAX_COUNT))
		return perr(c, l, "--iterations: expected a number from 1 to %lld, got '%s'", PLAN_MAX_COUNT,
		            val[2]);
	if (val[1] != NULL && (plan_parse_duration(val[1], &ms) != HERD_OK || ms < 1 || ms > PLAN_MAX_DURATION_MS))
		return perr(c, l, "--duration: expected a duration such as 30s or 1m30s, got '%s'", val[1]);

	/*
	 * k6's semantics: --iterations on a constant-vus scenario makes it
	 * shared-iterations (its duration becomes the maxDuration); --duration on
	 * the iterations executors is their maxDuration.
	 */
	if (val[2] != NULL && s->executor == EXEC_CONSTANT_VUS) {
		s->executor = EXEC_SHARED_ITERATIONS;
		s->max_duration_ms = s->duration_ms;
		s->duration_ms = 0;
	}
	if (val[0] != NULL) {
		if (s->executor != EXEC_CONSTANT_VUS && s->executor != EXEC_PER_VU_ITERATIONS &&
		    s->executor != EXEC_SHARED_ITERATIONS)
			return flag_err(c, l, "--vus", s,
			                "it sets 'vus' of constant-vus, per-vu-iterations and shared-iterations");
		s->vus = vus;
	}
	if (val[1] != NULL) {
		if (s->executor == EXEC_CONSTANT_VUS || s->executor == EXEC_CONSTANT_ARRIVAL_RATE)
			s->duration_ms = ms;
		else if (s->executor == EXEC_PER_VU_ITERATIONS || s->executor == EXEC_SHARED_ITERATIONS)
			s->max_duration_ms = ms;
		else
			return flag_err(c, l, "--duration", s, "its length is the sum of its stages");
	}
	if (val[2] != NULL) {
		if (s->executor != EXEC_PER_VU_ITERATIONS && s->executor != EXEC_SHARED_ITERATIONS)
			return flag_err(c, l, "--iterations", s,
			                "it sets 'iterations' of constant-vus, per-vu-iterations and "
			                "shared-iterations");
		s->iterations = iters;
	}
	if (s->executor == EXEC_SHARED_ITERATIONS && s->vus > s->iterations)
		return perr(c, l, "scenario '%s': 'vus' (%lld) is more than 'iterations' (%lld) after the command "
		            "line's flags", s->name, (long long)s->vus, (long long)s->iterations);
	return HERD_OK;
}
