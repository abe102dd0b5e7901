/* Templates: compiling every kind of part through fake scopes, every error
 * with its offset, rendering (UUIDs, random integers and strings checked over
 * many draws), literal merging, and random input that must never crash. */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/sbuf.h"
#include "common/tmpl.h"
#include "tests/unit/check.h"

/* ---- a fake plan around the templates ---- */

static const char *const var_names[] = { "token", "user_id", "nothing", "gone" };

static int fake_var(void *arg, const char *name, size_t len)
{
	(void)arg;
	for (size_t i = 0; i < sizeof(var_names) / sizeof(var_names[0]); i++)
		if (strlen(var_names[i]) == len && memcmp(var_names[i], name, len) == 0)
			return (int)i;
	return -1;
}

static const char *fake_var_name(void *arg, size_t i)
{
	(void)arg;
	return i < sizeof(var_names) / sizeof(var_names[0]) ? var_names[i] : NULL;
}

static int text_eq(const char *p, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(p, s, n) == 0;
}

/* Feeder "users" (0) has columns email (0) and first-name (1); "items" (1) has id (0). */
static int fake_column(void *arg, const char *feeder, size_t flen, const char *col, size_t clen,
                       uint32_t *fi, uint32_t *ci, char *msg, size_t msglen)
{
	(void)arg;
	if (text_eq(feeder, flen, "users")) {
		*fi = 0;
		if (text_eq(col, clen, "email"))
			*ci = 0;
		else if (text_eq(col, clen, "first-name"))
			*ci = 1;
		else if (snprintf(msg, msglen, "feeder 'users' has no column '%.*s'", (int)clen, col) > 0)
			return -1;
		return 0;
	}
	if (text_eq(feeder, flen, "items") && text_eq(col, clen, "id")) {
		*fi = 1;
		*ci = 0;
		return 0;
	}
	if (text_eq(feeder, flen, "silent"))
		return -1; /* no message: the compiler writes one */
	snprintf(msg, msglen, "no feeder '%.*s'", (int)flen, feeder);
	return -1;
}

static const char *fake_env(void *arg, const char *name)
{
	(void)arg;
	if (strcmp(name, "HOME") == 0)
		return "/home/u";
	if (strcmp(name, "EMPTY") == 0)
		return "";
	if (strcmp(name, "BRACES") == 0)
		return "{{ not a template }}";
	return NULL;
}

static const char *cells[2][2] = { { "a@b.c", "Ann" }, { "item-9", NULL } };

static const char *fake_cell(void *arg, uint32_t fi, uint32_t ci, size_t *len)
{
	(void)arg;
	if (fi > 1 || ci > 1 || cells[fi][ci] == NULL)
		return NULL;
	*len = strlen(cells[fi][ci]);
	return cells[fi][ci];
}

static tmpl_scope scope = { .var = fake_var, .column = fake_column, .env = fake_env,
	                    .var_name = fake_var_name };
static tmpl_scope loop_scope = { .var = fake_var, .column = fake_column, .env = fake_env, .allow_seq = 1 };

static char *const vals[] = { "abc", "42", NULL, "xyz" };
static const size_t val_len[] = { 3, 2, 0, 3 };
static uint64_t rng = 0x1234567887654321u;
static tmpl_env env = { .vu = 7, .iter = 3, .agent = 2, .seq = 11, .vars = vals, .var_len = val_len,
	                .nvars = 3, /* "gone" (3) is past the end */
	                .column = fake_cell, .rng = &rng };

/* ---- helpers ---- */

static char out[1 << 16];

/* Renders t with env into out. */
static const char *render(const tmpl *t, const tmpl_env *e)
{
	sbuf b = { 0 };
	tmpl_render(t, e, &b);
	CHECK(!b.oom);
	size_t n = b.len < sizeof(out) - 1 ? b.len : sizeof(out) - 1;
	memcpy(out, b.p != NULL ? b.p : "", n);
	out[n] = '\0';
	free(b.p);
	return out;
}

/* Compiles s with sc and renders it once; NULL when it does not compile. */
static const char *ok_sc(const char *s, const tmpl_scope *sc, size_t *nparts)
{
	tmpl t;
	size_t off = 999;
	char msg[256];
	if (tmpl_compile(s, strlen(s), sc, &t, &off, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "compile \"%s\": %zu: %s\n", s, off, msg);
		return NULL;
	}
	if (nparts != NULL)
		*nparts = t.nparts;
	render(&t, &env);
	tmpl_free(&t);
	return out;
}

static const char *ok(const char *s)
{
	return ok_sc(s, &scope, NULL);
}

#define CHECK_ERR(s, sc, want_off, want_msg)                                                  \
	do {                                                                                  \
		tmpl t_;                                                                      \
		size_t off_ = 999;                                                            \
		char msg_[256] = "";                                                          \
		CHECK_EQ_INT(tmpl_compile((s), strlen(s), (sc), &t_, &off_, msg_, sizeof(msg_)), -1); \
		CHECK_EQ_INT(off_, (want_off));                                               \
		CHECK_EQ_STR(msg_, (want_msg));                                               \
		CHECK(t_.parts == NULL && t_.nparts == 0 && t_.store == NULL && !t_.dynamic); \
	} while (0)

/* Compiles the string s, no message wanted. */
static int comp(const char *s, const tmpl_scope *sc, tmpl *t)
{
	return tmpl_compile(s, strlen(s), sc, t, NULL, NULL, 0);
}

static uint64_t xs(uint64_t *r)
{
	*r ^= *r << 13;
	*r ^= *r >> 7;
	*r ^= *r << 17;
	return *r;
}

static int is_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- literals ---- */

static void test_literals(void)
{
	tmpl t;
	size_t n = 99;
	CHECK_EQ_INT(comp("", &scope, &t), 0);
	CHECK_EQ_INT(t.nparts, 0);
	CHECK(!t.dynamic);
	CHECK(tmpl_literal(&t, &n) == NULL);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_STR(render(&t, &env), "");
	tmpl_free(&t);

	CHECK_EQ_INT(comp("hello world", NULL, &t), 0);
	CHECK_EQ_INT(t.nparts, 1);
	CHECK(!t.dynamic);
	CHECK_EQ_STR(tmpl_literal(&t, &n), "hello world");
	CHECK_EQ_INT(n, 11);
	CHECK_EQ_STR(render(&t, &env), "hello world");
	tmpl_free(&t);
	CHECK(t.parts == NULL && t.store == NULL);
	tmpl_free(&t); /* twice is harmless */

	/* Only len bytes count; a NUL inside is text. */
	CHECK_EQ_INT(tmpl_compile("a\0b{{", 3, NULL, &t, NULL, NULL, 0), 0);
	CHECK_EQ_INT(t.nparts, 1);
	CHECK_EQ_INT(t.parts[0].len, 3);
	CHECK(memcmp(t.parts[0].lit, "a\0b", 3) == 0);
	tmpl_free(&t);

	/* A lone }}, single braces and a { at the end are text. */
	CHECK_EQ_STR(ok("a }} b { c } {"), "a }} b { c } {");
	CHECK_EQ_STR(ok("{"), "{");
	CHECK_EQ_STR(ok("}}{{ __VU }}}}"), "}}7}}");
	CHECK_EQ_STR(ok("{\"a\":{\"b\":{{ __VU }}}}"), "{\"a\":{\"b\":7}}");

	/* String literals, so {{ can be written. */
	size_t np = 0;
	CHECK_EQ_STR(ok_sc("{{ \"{{\" }}", &scope, &np), "{{");
	CHECK_EQ_INT(np, 1);
	CHECK_EQ_STR(ok("{{\"}}\"}}"), "}}");
	CHECK_EQ_STR(ok("{{ \"a\\\"b\\\\c\" }}"), "a\"b\\c");
	CHECK_EQ_STR(ok_sc("x{{ \"\" }}y", &scope, &np), "xy");
	CHECK_EQ_INT(np, 1);
	CHECK_EQ_INT(comp("{{ \"\" }}", NULL, &t), 0);
	CHECK_EQ_INT(t.nparts, 0);
	CHECK(tmpl_literal(&t, &n) == NULL);
	tmpl_free(&t);

	/* Adjacent literal text, strings and env values merge into one part. */
	CHECK_EQ_INT(comp("a{{ \"b\" }}c{{ env(\"HOME\") }}d{{env(\"X\",\"e\")}}", &scope, &t), 0);
	CHECK_EQ_INT(t.nparts, 1);
	CHECK(!t.dynamic);
	CHECK_EQ_STR(tmpl_literal(&t, &n), "abc/home/ude");
	CHECK_EQ_INT(n, 12);
	tmpl_free(&t);

	/* Huge input with no template: one part, the same bytes. */
	size_t big = 4u << 20;
	char *s = malloc(big);
	CHECK(s != NULL);
	for (size_t i = 0; i < big; i++)
		s[i] = "ab}{ x"[i % 6];
	CHECK_EQ_INT(tmpl_compile(s, big, &scope, &t, NULL, NULL, 0), 0);
	CHECK_EQ_INT(t.nparts, 1);
	CHECK_EQ_INT(t.parts[0].len, big);
	CHECK(memcmp(t.parts[0].lit, s, big) == 0);
	CHECK(t.parts[0].lit[big] == '\0');
	tmpl_free(&t);
	free(s);
}

/* ---- names ---- */

static void test_names(void)
{
	tmpl t;
	size_t np = 0, n;
	CHECK_EQ_STR(ok_sc("x{{__VU}}y{{ __ITER }}z", &scope, &np), "x7y3z");
	CHECK_EQ_INT(np, 5);
	CHECK_EQ_STR(ok("{{   __AGENT   }}"), "2");
	CHECK_EQ_STR(ok("{{\t__VU\n}}{{\r\n__ITER }}"), "73");
	CHECK_EQ_STR(ok_sc("{{ seq }}/{{seq}}", &loop_scope, NULL), "11/11");

	CHECK_EQ_INT(comp("id={{ __VU }}", NULL, &t), 0);
	CHECK(t.dynamic);
	CHECK_EQ_INT(t.nparts, 2);
	CHECK_EQ_INT(t.parts[0].kind, TP_LIT);
	CHECK_EQ_INT(t.parts[1].kind, TP_VU);
	CHECK(tmpl_literal(&t, &n) == NULL);
	tmpl_env e = env;
	e.vu = -42;
	CHECK_EQ_STR(render(&t, &e), "id=-42");
	e.vu = INT64_MIN;
	CHECK_EQ_STR(render(&t, &e), "id=-9223372036854775808");
	e.vu = INT64_MAX;
	CHECK_EQ_STR(render(&t, &e), "id=9223372036854775807");
	e.vu = 0;
	CHECK_EQ_STR(render(&t, &e), "id=0");
	tmpl_free(&t);

	/* Captured variables: by index; NULL or past the end is empty. */
	CHECK_EQ_STR(ok("Bearer {{ token }}; id={{user_id}}"), "Bearer abc; id=42");
	CHECK_EQ_STR(ok("[{{ nothing }}][{{ gone }}]"), "[][]");
	CHECK_EQ_INT(comp("{{ user_id }}", &scope, &t), 0);
	CHECK_EQ_INT(t.parts[0].kind, TP_VAR);
	CHECK_EQ_INT(t.parts[0].a, 1);
	e = env;
	e.var_len = NULL; /* lengths then come from strlen */
	CHECK_EQ_STR(render(&t, &e), "42");
	e.vars = NULL;
	CHECK_EQ_STR(render(&t, &e), "");
	tmpl_free(&t);

	/* Feeder columns. */
	CHECK_EQ_STR(ok("{{ users.email }} {{users.first-name}} {{ items.id }}"), "a@b.c Ann item-9");
	CHECK_EQ_INT(comp("{{ items.id }}", &scope, &t), 0);
	CHECK_EQ_INT(t.parts[0].kind, TP_COL);
	CHECK_EQ_INT(t.parts[0].a, 1);
	CHECK_EQ_INT(t.parts[0].b, 0);
	e = env;
	e.column = NULL;
	CHECK_EQ_STR(render(&t, &e), "");
	tmpl_free(&t);
	cells[1][0] = NULL;
	CHECK_EQ_STR(ok("<{{ items.id }}>"), "<>");
	cells[1][0] = "item-9";
}

/* ---- env ---- */

static void test_env(void)
{
	CHECK_EQ_STR(ok("{{ env(\"HOME\") }}/x"), "/home/u/x");
	CHECK_EQ_STR(ok("{{ env( \"HOME\" , \"d\" ) }}"), "/home/u");
	CHECK_EQ_STR(ok("{{ env(\"NOPE\", \"dflt\") }}"), "dflt");
	CHECK_EQ_STR(ok("[{{ env(\"NOPE\", \"\") }}]"), "[]");
	CHECK_EQ_STR(ok("[{{ env(\"EMPTY\", \"d\") }}]"), "[]");
	CHECK_EQ_STR(ok("{{ env(\"NOPE\", \"a\\\"}}\\\\\") }}"), "a\"}}\\");
	/* An env value is text, never a template. */
	CHECK_EQ_STR(ok("{{ env(\"BRACES\") }}"), "{{ not a template }}");
	/* No env callback: everything is unset. */
	tmpl_scope none = { 0 };
	CHECK_EQ_STR(ok_sc("{{ env(\"HOME\", \"d\") }}", &none, NULL), "d");
	CHECK_ERR("{{ env(\"HOME\") }}", &none, 3, "environment variable HOME is not set");
	CHECK_ERR("ab {{ env(\"NOPE\") }}", &scope, 6, "environment variable NOPE is not set");
	CHECK_ERR("{{ env(\"\") }}", &scope, 7, "'' is not a valid environment variable name");
	CHECK_ERR("{{ env(\"A=B\") }}", &scope, 7, "'A=B' is not a valid environment variable name");
	const char *usage =
	        "env needs a name and an optional default in double quotes, as in env(\"NAME\", \"default\")";
	CHECK_ERR("{{ env() }}", &scope, 3, usage);
	CHECK_ERR("{{ env(1) }}", &scope, 3, usage);
	CHECK_ERR("{{ env(\"A\", 1) }}", &scope, 3, usage);
	CHECK_ERR("{{ env(\"A\", \"b\", \"c\") }}", &scope, 3, usage);
	CHECK_ERR("{{ env(HOME) }}", &scope, 7, usage);
}

/* ---- errors ---- */

static void test_errors(void)
{
	const char *unclosed = "'{{' is not closed by '}}'";
	CHECK_ERR("{{", &scope, 0, unclosed);
	CHECK_ERR("ab{{ __VU", &scope, 2, unclosed);
	CHECK_ERR("ab{{ __VU }", &scope, 2, unclosed);
	CHECK_ERR("{{ __VU }} {{ ", &scope, 11, unclosed);
	CHECK_ERR("{{ randomInt(1, 2", &scope, 0, unclosed);
	CHECK_ERR("{{ randomInt(1, ", &scope, 0, unclosed);
	CHECK_ERR("{{ uuid(", &scope, 0, unclosed);
	CHECK_ERR("{{ }", &scope, 0, unclosed);
	CHECK_ERR("{{ __VU } }}", &scope, 8, "unexpected '}' in a template; expected '}}'");
	CHECK_ERR("{{ __VU x }}", &scope, 8, "unexpected 'x' in a template; expected '}}'");
	const char *what = " in a template; expected a name, a function call or a string";
	char want[128];
	snprintf(want, sizeof(want), "unexpected '5'%s", what);
	CHECK_ERR("{{ 5 }}", &scope, 3, want);
	snprintf(want, sizeof(want), "unexpected '{'%s", what);
	CHECK_ERR("{{{ x }}}", &scope, 2, want);
	snprintf(want, sizeof(want), "unexpected '\\x01'%s", what);
	CHECK_ERR("{{ \x01 }}", &scope, 3, want);
	CHECK_ERR("{{ users . email }}", &scope, 3, "unknown variable 'users'");
	CHECK_ERR("{{ token . email }}", &scope, 9, "unexpected '.' in a template; expected '}}'");

	CHECK_ERR("{{ }}", &scope, 0, "empty template '{{ }}'");
	CHECK_ERR("x{{}}", &scope, 1, "empty template '{{ }}'");

	CHECK_ERR("{{ \"abc }}", &scope, 3, "string is not closed by '\"'");
	CHECK_ERR("{{ \"abc\\\" }}", &scope, 3, "string is not closed by '\"'");
	CHECK_ERR("{{ \"a\\nb\" }}", &scope, 5,
	          "unknown escape '\\n' in a string; only \\\" and \\\\ are known");

	CHECK_ERR("{{ tokn }}", &scope, 3, "unknown variable 'tokn' (did you mean 'token'?)");
	CHECK_ERR("a: {{ __vu }}", &scope, 6, "unknown variable '__vu' (did you mean '__VU'?)");
	CHECK_ERR("{{ __ITR }}", &scope, 3, "unknown variable '__ITR' (did you mean '__ITER'?)");
	CHECK_ERR("{{ AGENT }}", &scope, 3, "unknown variable 'AGENT' (did you mean '__AGENT'?)");
	CHECK_ERR("{{ uid }}", &scope, 3, "unknown variable 'uid' (did you mean 'uuid()'?)");
	CHECK_ERR("{{ nw }}", &scope, 3, "unknown variable 'nw' (did you mean 'now()'?)");
	CHECK_ERR("{{ seqq }}", &loop_scope, 3, "unknown variable 'seqq' (did you mean 'seq'?)");
	CHECK_ERR("{{ zzz }}", &scope, 3, "unknown variable 'zzz'");
	CHECK_ERR("{{ token }}", NULL, 3, "unknown variable 'token'");
	CHECK_ERR("{{ seq }}", &scope, 3, "seq is only known inside a ws loop");
	CHECK_ERR("{{ seq }}", NULL, 3, "seq is only known inside a ws loop");
	CHECK_ERR("{{ uuid }}", &scope, 3, "'uuid' is a function: write uuid()");
	CHECK_ERR("{{ randomInt }}", &scope, 3, "'randomInt' is a function: write randomInt()");

	CHECK_ERR("{{ foo() }}", &scope, 3,
	          "unknown function 'foo'; known are uuid, randomInt, randomString, now and env");
	CHECK_ERR("{{ randomint(1, 2) }}", &scope, 3,
	          "unknown function 'randomint' (did you mean 'randomInt'?)");
	CHECK_ERR("{{ UUID() }}", &scope, 3, "unknown function 'UUID' (did you mean 'uuid'?)");
	CHECK_ERR("{{ __VU() }}", &scope, 3, "'__VU' is a variable, not a function: write {{ __VU }}");

	CHECK_ERR("{{ uuid(1) }}", &scope, 3, "uuid takes no arguments: uuid()");
	CHECK_ERR("{{ now(\"x\") }}", &scope, 3, "now takes no arguments: now()");
	const char *ri = "randomInt needs two integers, as in randomInt(1, 100)";
	CHECK_ERR("{{ randomInt() }}", &scope, 3, ri);
	CHECK_ERR("{{ randomInt(1) }}", &scope, 3, ri);
	CHECK_ERR("{{ randomInt(1, 2, 3) }}", &scope, 3, ri);
	CHECK_ERR("{{ randomInt(1, 2, 3, 4, 5) }}", &scope, 25, ri);
	CHECK_ERR("{{ randomInt(1, \"2\") }}", &scope, 3, ri);
	CHECK_ERR("{{ randomInt(1, x) }}", &scope, 16, ri);
	CHECK_ERR("{{ randomInt(1 2) }}", &scope, 15, ri);
	CHECK_ERR("{{ randomInt(1,) }}", &scope, 15, ri);
	CHECK_ERR("{{ randomInt(1, 2 }}", &scope, 18, ri);
	CHECK_ERR("{{ randomInt(1.5, 2) }}", &scope, 14, ri);
	CHECK_ERR("{{ randomInt(- 1, 2) }}", &scope, 13, ri);
	CHECK_ERR("{{ randomInt(5, 1) }}", &scope, 13, "randomInt(x, y) needs x <= y, got 5 > 1");
	CHECK_ERR("{{ randomInt(-1, -2) }}", &scope, 13, "randomInt(x, y) needs x <= y, got -1 > -2");
	CHECK_ERR("{{ randomInt(99999999999999999999, 1) }}", &scope, 13, "integer out of range");
	CHECK_ERR("{{ randomInt(1, 9223372036854775808) }}", &scope, 16, "integer out of range");
	CHECK_ERR("{{ randomInt(-9223372036854775809, 1) }}", &scope, 13, "integer out of range");
	const char *rs = "randomString needs one integer, as in randomString(12)";
	CHECK_ERR("{{ randomString() }}", &scope, 3, rs);
	CHECK_ERR("{{ randomString(1, 2) }}", &scope, 3, rs);
	CHECK_ERR("{{ randomString(\"1\") }}", &scope, 3, rs);
	CHECK_ERR("{{ randomString(0) }}", &scope, 16, "randomString length must be from 1 to 4096, got 0");
	CHECK_ERR("{{ randomString(-3) }}", &scope, 16, "randomString length must be from 1 to 4096, got -3");
	CHECK_ERR("{{ randomString(4097) }}", &scope, 16,
	          "randomString length must be from 1 to 4096, got 4097");

	CHECK_ERR("{{ users.zz }}", &scope, 3, "feeder 'users' has no column 'zz'");
	CHECK_ERR("x {{ nobody.email }}", &scope, 5, "no feeder 'nobody'");
	CHECK_ERR("{{ silent.x-y }}", &scope, 3, "unknown feeder column 'silent.x-y'");
	CHECK_ERR("{{ users.email }}", NULL, 3, "unknown feeder column 'users.email'");
	CHECK_ERR("{{ users. }}", &scope, 9, "a column name is expected after 'users.'");

	/* The first error wins; a long name is cut in the message. */
	CHECK_ERR("{{ __VU }}{{ a }}{{ b }}", &scope, 13, "unknown variable 'a'");
	char longname[300];
	memset(longname, 'q', sizeof(longname));
	memcpy(longname, "{{ ", 3);
	memcpy(longname + sizeof(longname) - 4, " }}", 4);
	tmpl t;
	size_t off = 0;
	char msg[512];
	CHECK_EQ_INT(tmpl_compile(longname, strlen(longname), &scope, &t, &off, msg, sizeof(msg)), -1);
	CHECK_EQ_INT(off, 3);
	CHECK_CONTAINS(msg, "qqq...'");
	CHECK(strlen(msg) < 120);
	/* NULL err_off and msg, and a tiny msg buffer, are fine. */
	CHECK_EQ_INT(comp("{{ zzz }}", &scope, &t), -1);
	char tiny[8];
	CHECK_EQ_INT(tmpl_compile("{{ zzz }}", 9, &scope, &t, NULL, tiny, sizeof(tiny)), -1);
	CHECK_EQ_STR(tiny, "unknown");
}

/* ---- random functions ---- */

static void test_uuid(void)
{
	enum { N = 10000 };
	tmpl t;
	CHECK_EQ_INT(comp("{{ uuid() }}", &scope, &t), 0);
	CHECK(t.dynamic);
	CHECK_EQ_INT(t.nparts, 1);
	CHECK_EQ_INT(t.parts[0].kind, TP_UUID);
	char **all = malloc(N * sizeof(*all));
	int seen[36][16] = { { 0 } };
	int bad = 0;
	uint64_t before = rng;
	for (int i = 0; i < N; i++) {
		const char *u = render(&t, &env);
		if (strlen(u) != 36)
			bad++;
		for (int k = 0; k < 36; k++) {
			if (k == 8 || k == 13 || k == 18 || k == 23) {
				bad += u[k] != '-';
			} else if (!is_hex(u[k])) {
				bad++;
			} else {
				seen[k][u[k] <= '9' ? u[k] - '0' : u[k] - 'a' + 10]++;
			}
		}
		bad += u[14] != '4';                       /* version 4 */
		bad += strchr("89ab", u[19]) == NULL;     /* variant 10xx */
		all[i] = strdup(u);
	}
	CHECK_EQ_INT(bad, 0);
	CHECK(rng != before); /* the VU's state moved on */
	/* Every random hex digit takes every value; the fixed ones only theirs. */
	int full = 0;
	for (int k = 0; k < 36; k++) {
		int distinct = 0;
		for (int v = 0; v < 16; v++)
			distinct += seen[k][v] > 0;
		if (k == 14)
			CHECK_EQ_INT(distinct, 1);
		else if (k == 19)
			CHECK_EQ_INT(distinct, 4);
		else if (distinct == 16)
			full++;
	}
	CHECK_EQ_INT(full, 30);
	qsort(all, N, sizeof(*all), cmp_str);
	int dup = 0;
	for (int i = 1; i < N; i++)
		dup += strcmp(all[i - 1], all[i]) == 0;
	CHECK_EQ_INT(dup, 0);
	for (int i = 0; i < N; i++)
		free(all[i]);
	free(all);

	/* The same state gives the same UUID; no state is not a crash. */
	uint64_t a = 99, b = 99;
	tmpl_env e = env;
	e.rng = &a;
	char first[64];
	strcpy(first, render(&t, &e));
	e.rng = &b;
	CHECK_EQ_STR(render(&t, &e), first);
	e.rng = NULL;
	CHECK_EQ_INT(strlen(render(&t, &e)), 36);
	tmpl_free(&t);
}

/* Renders "{{ randomInt(x, y) }}" as compiled from text n times into v. */
static void draw_ints(const char *text, int64_t *v, int n)
{
	tmpl t;
	CHECK_EQ_INT(comp(text, &scope, &t), 0);
	for (int i = 0; i < n; i++)
		v[i] = strtoll(render(&t, &env), NULL, 10);
	tmpl_free(&t);
}

static void test_random_int(void)
{
	enum { N = 60000 };
	static int64_t v[N];
	tmpl t;
	CHECK_EQ_INT(comp("{{ randomInt( -3 , -1 ) }}", &scope, &t), 0);
	CHECK_EQ_INT(t.parts[0].kind, TP_RANDINT);
	CHECK_EQ_INT(t.parts[0].x, -3);
	CHECK_EQ_INT(t.parts[0].y, -1);
	tmpl_free(&t);

	/* A die: every face, in range, and about as often as the others. */
	draw_ints("{{ randomInt(1, 6) }}", v, N);
	int count[7] = { 0 }, out_of = 0;
	for (int i = 0; i < N; i++) {
		if (v[i] < 1 || v[i] > 6)
			out_of++;
		else
			count[v[i]]++;
	}
	CHECK_EQ_INT(out_of, 0);
	double chi = 0, want = N / 6.0;
	for (int k = 1; k <= 6; k++)
		chi += (count[k] - want) * (count[k] - want) / want;
	/* 5 degrees of freedom: 20.5 is p = 0.001, so 40 fails only when it is broken. */
	CHECK(chi < 40);

	/* Negative bounds, both ends reached. */
	draw_ints("{{ randomInt(-5, 5) }}", v, 10000);
	int64_t lo = 100, hi = -100;
	for (int i = 0; i < 10000; i++) {
		lo = v[i] < lo ? v[i] : lo;
		hi = v[i] > hi ? v[i] : hi;
	}
	CHECK_EQ_INT(lo, -5);
	CHECK_EQ_INT(hi, 5);

	/* A single value. */
	draw_ints("{{ randomInt(7, 7) }}", v, 100);
	draw_ints("{{ randomInt(-9223372036854775808, -9223372036854775808) }}", v + 100, 100);
	int wrong = 0;
	for (int i = 0; i < 100; i++)
		wrong += v[i] != 7 || v[100 + i] != INT64_MIN;
	CHECK_EQ_INT(wrong, 0);

	/* The whole 64-bit range, and one just past 2^63 values where about half
	 * the draws are rejected: in range, and both halves of it hit. */
	draw_ints("{{ randomInt(-9223372036854775808, 9223372036854775807) }}", v, 1000);
	int neg = 0;
	for (int i = 0; i < 1000; i++)
		neg += v[i] < 0;
	CHECK(neg > 400 && neg < 600);
	draw_ints("{{ randomInt(-1, 9223372036854775807) }}", v, 10000);
	int low = 0;
	out_of = 0;
	for (int i = 0; i < 10000; i++) {
		out_of += v[i] < -1;
		low += v[i] < INT64_MAX / 2;
	}
	CHECK_EQ_INT(out_of, 0);
	CHECK(low > 4500 && low < 5500);
	/* A range of 3 * 2^61 values: each third about as likely. */
	draw_ints("{{ randomInt(0, 6917529027641081855) }}", v, N);
	int third[3] = { 0 };
	for (int i = 0; i < N; i++)
		third[v[i] / 2305843009213693952]++;
	chi = 0;
	want = N / 3.0;
	for (int k = 0; k < 3; k++)
		chi += (third[k] - want) * (third[k] - want) / want;
	CHECK(chi < 30);
}

static void test_random_string(void)
{
	tmpl t;
	CHECK_EQ_INT(comp("<{{ randomString(12) }}>", &scope, &t), 0);
	CHECK_EQ_INT(t.nparts, 3);
	CHECK_EQ_INT(t.parts[1].kind, TP_RANDSTR);
	CHECK_EQ_INT(t.parts[1].x, 12);
	int bad = 0;
	for (int i = 0; i < 1000; i++) {
		const char *s = render(&t, &env);
		bad += strlen(s) != 14 || s[0] != '<' || s[13] != '>';
	}
	CHECK_EQ_INT(bad, 0);
	tmpl_free(&t);

	CHECK_EQ_INT(strlen(ok("{{ randomString(1) }}")), 1);
	/* The longest, drawn many times: only [A-Za-z0-9], each about as often. */
	CHECK_EQ_INT(comp("{{ randomString(4096) }}", &scope, &t), 0);
	static const char cs[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	long count[256] = { 0 }, total = 0;
	for (int i = 0; i < 100; i++) {
		const char *s = render(&t, &env);
		CHECK_EQ_INT(strlen(s), 4096);
		for (const char *p = s; *p; p++, total++)
			count[(unsigned char)*p]++;
	}
	long other = total;
	for (const char *c = cs; *c; c++)
		other -= count[(unsigned char)*c];
	CHECK_EQ_INT(other, 0);
	double chi = 0, want = total / 62.0;
	for (const char *c = cs; *c; c++)
		chi += (count[(unsigned char)*c] - want) * (count[(unsigned char)*c] - want) / want;
	/* 61 degrees of freedom: 100.9 is p = 0.001. */
	CHECK(chi < 150);
	tmpl_free(&t);
}

static void test_now(void)
{
	tmpl t;
	CHECK_EQ_INT(comp("{{ now() }}", &scope, &t), 0);
	CHECK_EQ_INT(t.parts[0].kind, TP_NOW);
	int64_t a = clock_real_ns() / 1000000;
	int64_t v = strtoll(render(&t, &env), NULL, 10);
	int64_t b = clock_real_ns() / 1000000;
	CHECK(v >= a && v <= b);
	tmpl_free(&t);
}

/* Several parts appended to a buffer that already holds text. */
static void test_append(void)
{
	tmpl t;
	const char *s = "GET /u/{{ __VU }}/{{ token }}?r={{ randomInt(3, 3) }}&c={{ users.email }}";
	CHECK_EQ_INT(comp(s, &scope, &t), 0);
	sbuf b = { 0 };
	sbuf_str(&b, ">> ");
	tmpl_render(&t, &env, &b);
	tmpl_render(&t, &env, &b);
	CHECK_EQ_STR(b.p, ">> GET /u/7/abc?r=3&c=a@b.cGET /u/7/abc?r=3&c=a@b.c");
	free(b.p);
	tmpl_free(&t);
}

/* Random text with braces, quotes and names sprinkled in: compiling gives a
 * template or an error inside the text, and whatever compiles renders. */
static void test_random_input(void)
{
	static const char *const bits[] = { "{{", "}}", "{", "}", "(", ")", "\"", "\\", ",", ".", " ", "-",
		                            "a", "7", "__VU", "seq", "token", "users", "email", "uuid",
		                            "randomInt", "randomString", "now", "env", "HOME", "\x01", "-3",
		                            "4096", "99999999999999999999", "\t" };
	const size_t nbits = sizeof(bits) / sizeof(bits[0]);
	uint64_t r = 88172645463325252u;
	int compiled = 0, failed = 0, bad = 0;
	for (int i = 0; i < 10000; i++) {
		char s[512];
		size_t len = 0;
		int pieces = (int)(xs(&r) % 24);
		for (int k = 0; k < pieces; k++) {
			xs(&r);
			const char *p = bits[r % nbits];
			size_t n = strlen(p);
			if ((r >> 32) % 5 == 0) { /* now and then a raw byte */
				s[len++] = (char)(r >> 40);
			} else {
				memcpy(s + len, p, n);
				len += n;
			}
		}
		tmpl t;
		size_t off = 999999;
		char msg[256] = "";
		int rv = tmpl_compile(s, len, (r & 1) ? &scope : &loop_scope, &t, &off, msg, sizeof(msg));
		if (rv == 0) {
			compiled++;
			sbuf b = { 0 };
			tmpl_render(&t, &env, &b);
			bad += b.oom;
			free(b.p);
			tmpl_free(&t);
		} else if (rv == -1) {
			failed++;
			bad += off > len || msg[0] == '\0' || t.parts != NULL;
		} else {
			bad++;
		}
	}
	CHECK_EQ_INT(bad, 0);
	CHECK(compiled > 100);
	CHECK(failed > 100);
}

int main(void)
{
	test_literals();
	test_names();
	test_env();
	test_errors();
	test_uuid();
	test_random_int();
	test_random_string();
	test_now();
	test_append();
	test_random_input();
	return check_done();
}
