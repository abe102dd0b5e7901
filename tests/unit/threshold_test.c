/*
 * Tests for common/threshold: metric names with tag filters, expressions with
 * every aggregation, operator and unit, the error messages for bad input, and
 * the labels printed back.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/threshold.h"
#include "tests/unit/check.h"

static int near(double a, double b)
{
	return fabs(a - b) < 1e-9 * (fabs(a) + fabs(b) + 1);
}

static void test_metric_ok(void)
{
	th_metric m;
	char err[256];

	CHECK_EQ_INT(th_parse_metric("http_req_duration", &m, err, sizeof(err)), 0);
	CHECK_EQ_STR(m.name, "http_req_duration");
	CHECK_EQ_INT(m.ntags, 0);

	CHECK_EQ_INT(
	    th_parse_metric("http_req_duration{scenario:browse,method:GET}", &m, err, sizeof(err)), 0);
	CHECK_EQ_STR(m.name, "http_req_duration");
	CHECK_EQ_INT(m.ntags, 2);
	CHECK_EQ_STR(m.tags[0].key, "scenario");
	CHECK_EQ_STR(m.tags[0].value, "browse");
	CHECK_EQ_STR(m.tags[1].key, "method");
	CHECK_EQ_STR(m.tags[1].value, "GET");

	/* White space around every token is allowed and dropped. */
	CHECK_EQ_INT(
	    th_parse_metric("  http_reqs { scenario : a , status: 200 }  ", &m, err, sizeof(err)), 0);
	CHECK_EQ_STR(m.name, "http_reqs");
	CHECK_EQ_INT(m.ntags, 2);
	CHECK_EQ_STR(m.tags[0].key, "scenario");
	CHECK_EQ_STR(m.tags[0].value, "a");
	CHECK_EQ_STR(m.tags[1].key, "status");
	CHECK_EQ_STR(m.tags[1].value, "200");

	/* A value may hold ':' (URLs); only the first one splits. */
	CHECK_EQ_INT(th_parse_metric("http_req_duration{url:http://x/y}", &m, err, sizeof(err)), 0);
	CHECK_EQ_STR(m.tags[0].key, "url");
	CHECK_EQ_STR(m.tags[0].value, "http://x/y");

	CHECK_EQ_INT(th_parse_metric("checks{}", &m, err, sizeof(err)), 0);
	CHECK_EQ_STR(m.name, "checks");
	CHECK_EQ_INT(m.ntags, 0);
}

static void metric_err(const char *s, const char *want)
{
	th_metric m;
	char err[256] = "";
	CHECK_EQ_INT(th_parse_metric(s, &m, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, want);
}

static void test_metric_errors(void)
{
	char big[300];

	metric_err("http_req_duration{scenario:browse", "missing '}'");
	metric_err("http_req_duration{scenario:browse,", "missing '}'");
	metric_err("", "metric name is empty");
	metric_err("   ", "metric name is empty");
	metric_err("{scenario:a}", "metric name is empty");
	metric_err("http_req_duration{scenario}", "needs a ':'");
	metric_err("http_req_duration{scenario:}", "has no value");
	metric_err("http_req_duration{:a}", "empty tag");
	metric_err("http_req_duration{a:b,}", "empty tag");
	metric_err("http_req_duration{a:b,a:c}", "given twice");
	metric_err("http_req_duration{a:b} x", "unexpected");
	metric_err("http req", "not allowed");
	metric_err("a{k1:v,k2:v,k3:v,k4:v,k5:v,k6:v,k7:v,k8:v,k9:v}", "too many tags");

	/* Fields that would not fit their buffers are refused, not cut. */
	memset(big, 'n', 64);
	big[64] = '\0';
	metric_err(big, "too long");
	memset(big, 'n', 63);
	big[63] = '\0';
	{
		th_metric m;
		char err[128];
		CHECK_EQ_INT(th_parse_metric(big, &m, err, sizeof(err)), 0);
		CHECK_EQ_INT(strlen(m.name), 63);
	}
	snprintf(big, sizeof(big), "m{k%0*d:v}", 31, 0);
	metric_err(big, "too long");
	snprintf(big, sizeof(big), "m{k%0*d:v}", 30, 0);
	{
		th_metric m;
		char err[128];
		CHECK_EQ_INT(th_parse_metric(big, &m, err, sizeof(err)), 0);
		CHECK_EQ_INT(strlen(m.tags[0].key), 31);
	}
	snprintf(big, sizeof(big), "m{k:%0*d}", 96, 0);
	metric_err(big, "too long");
	snprintf(big, sizeof(big), "m{k:%0*d}", 95, 0);
	{
		th_metric m;
		char err[128];
		CHECK_EQ_INT(th_parse_metric(big, &m, err, sizeof(err)), 0);
		CHECK_EQ_INT(strlen(m.tags[0].value), 95);
	}
	/* NULL input and a zero-sized error buffer must not crash. */
	CHECK_EQ_INT(th_parse_metric(NULL, NULL, NULL, 0), -1);
	{
		th_metric m;
		CHECK_EQ_INT(th_parse_metric("a{b", &m, NULL, 0), -1);
	}
}

/* Any tag key spelled [A-Za-z_][A-Za-z0-9_.-]* is taken, whoever sends it;
 * values may hold spaces (check names do). */
static void test_tag_keys(void)
{
	th_metric m;
	char err[256];

	CHECK_EQ_INT(th_parse_metric("checks{check:login ok}", &m, err, sizeof(err)), 0);
	CHECK_EQ_STR(m.name, "checks");
	CHECK_EQ_INT(m.ntags, 1);
	CHECK_EQ_STR(m.tags[0].key, "check");
	CHECK_EQ_STR(m.tags[0].value, "login ok");
	/* Inner spaces stay; the ones around the value go. */
	CHECK_EQ_INT(th_parse_metric("checks{ check :  step: status is 200 , flow:read}", &m, err,
	                             sizeof(err)),
	             0);
	CHECK_EQ_INT(m.ntags, 2);
	CHECK_EQ_STR(m.tags[0].value, "step: status is 200");
	CHECK_EQ_STR(m.tags[1].key, "flow");
	CHECK_EQ_STR(m.tags[1].value, "read");

	CHECK_EQ_INT(th_parse_metric("group_duration{group:outer::inner,_x.y-z:1,Kind2:w}", &m, err,
	                             sizeof(err)),
	             0);
	CHECK_EQ_INT(m.ntags, 3);
	CHECK_EQ_STR(m.tags[0].key, "group");
	CHECK_EQ_STR(m.tags[0].value, "outer::inner");
	CHECK_EQ_STR(m.tags[1].key, "_x.y-z");
	CHECK_EQ_STR(m.tags[2].key, "Kind2");

	metric_err("http_req_duration{1flow:read}", "tag key '1flow' is not valid");
	metric_err("http_req_duration{-a:read}", "not valid");
	metric_err("http_req_duration{.a:read}", "not valid");
	metric_err("http_req_duration{my flow:read}", "tag key 'my flow' is not valid");
	metric_err("http_req_duration{fl/ow:read}", "not valid");
	metric_err("http_req_duration{fl\xc3\xa9:read}", "not valid");
	metric_err("http_req_duration{fl\tow:read}", "not valid");

	CHECK(th_tag_key_valid("flow"));
	CHECK(th_tag_key_valid("_"));
	CHECK(th_tag_key_valid("a.b-c_9"));
	CHECK(!th_tag_key_valid(""));
	CHECK(!th_tag_key_valid("9a"));
	CHECK(!th_tag_key_valid("a b"));
	CHECK(!th_tag_key_valid("a:b"));
	CHECK(!th_tag_key_valid(NULL));
	CHECK(th_tag_key_valid("k234567890123456789012345678901"));
	CHECK(!th_tag_key_valid("k2345678901234567890123456789012"));
}

static void expr_ok(const char *s, th_agg agg, double pct, th_op op, double value)
{
	th_expr x;
	char err[256] = "";
	int rv = th_parse_expr(s, &x, err, sizeof(err));
	CHECK_EQ_INT(rv, 0);
	if (rv != 0) {
		fprintf(stderr, "  for '%s': %s\n", s, err);
		return;
	}
	CHECK_EQ_INT(x.agg, agg);
	if (agg == TH_P)
		CHECK(near(x.pct, pct));
	CHECK_EQ_INT(x.op, op);
	if (!near(x.value, value))
		fprintf(stderr, "  for '%s': value %g, want %g\n", s, x.value, value);
	CHECK(near(x.value, value));
}

static void test_expr_ok(void)
{
	expr_ok("p(95) < 500", TH_P, 95, TH_LT, 500);
	expr_ok("p(99.9)<=1s", TH_P, 99.9, TH_LE, 1000);
	expr_ok("p( 50 ) > 2", TH_P, 50, TH_GT, 2);
	expr_ok("p(100) < 3m", TH_P, 100, TH_LT, 180000);
	expr_ok("avg<200", TH_AVG, 0, TH_LT, 200);
	expr_ok("med < 100ms", TH_MED, 0, TH_LT, 100);
	expr_ok("min > 1", TH_MIN, 0, TH_GT, 1);
	expr_ok("max < 2s", TH_MAX, 0, TH_LT, 2000);
	expr_ok("max < 1.5s", TH_MAX, 0, TH_LT, 1500);
	expr_ok("avg < 250us", TH_AVG, 0, TH_LT, 0.25);
	expr_ok("avg < 250\xc2\xb5s", TH_AVG, 0, TH_LT, 0.25);
	expr_ok("avg < 1h", TH_AVG, 0, TH_LT, 3600000);
	expr_ok("rate < 0.01", TH_RATE, 0, TH_LT, 0.01);
	expr_ok("rate<1%", TH_RATE, 0, TH_LT, 0.01);
	expr_ok("rate >= 99.5%", TH_RATE, 0, TH_GE, 0.995);
	expr_ok("count >= 100", TH_COUNT, 0, TH_GE, 100);
	expr_ok("count == 0", TH_COUNT, 0, TH_EQ, 0);
	expr_ok("count === 0", TH_COUNT, 0, TH_EQ, 0);
	expr_ok("count != 3", TH_COUNT, 0, TH_NE, 3);
	expr_ok("min > -1", TH_MIN, 0, TH_GT, -1);
	expr_ok("  avg  <  1e3  ", TH_AVG, 0, TH_LT, 1000);
}

static void expr_err(const char *s, const char *want)
{
	th_expr x;
	char err[256] = "";
	CHECK_EQ_INT(th_parse_expr(s, &x, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, want);
}

static void test_expr_errors(void)
{
	expr_err("p95 < 500",
	         "unknown aggregation 'p95', expected p(N), avg, med, min, max, rate or count");
	expr_err("average < 5", "unknown aggregation 'average'");
	expr_err("value < 5", "unknown aggregation 'value'");
	expr_err("< 5", "missing aggregation");
	expr_err("", "empty expression");
	expr_err("p(0) < 5", "0 < N <= 100");
	expr_err("p(101) < 5", "0 < N <= 100");
	expr_err("p(-5) < 5", "0 < N <= 100");
	expr_err("p() < 5", "p(N) needs a number");
	expr_err("p(95 < 5", "missing ')'");
	expr_err("avg 5", "expected an operator");
	expr_err("avg = 5", "expected an operator");
	expr_err("avg <", "expected a number");
	expr_err("avg < abc", "expected a number");
	expr_err("avg < inf", "expected a number");
	expr_err("avg < 0x10", "unexpected 'x10'");
	expr_err("avg < 5 parsecs", "unexpected 'parsecs'");
	expr_err("avg < 5d", "unexpected 'd'");
	expr_err("avg < 5ns", "unexpected 'ns'");
	expr_err("avg < 5% ", "'%' only applies to rate");
	expr_err("rate < 5s", "rate takes a fraction");
	expr_err("count < 5ms", "count takes a plain number");
	expr_err("count < 5%", "'%' only applies to rate");
	expr_err("avg < 5 and more", "unexpected");
	CHECK_EQ_INT(th_parse_expr(NULL, NULL, NULL, 0), -1);
}

static void test_compare(void)
{
	CHECK(th_compare(TH_LT, 1, 2));
	CHECK(!th_compare(TH_LT, 2, 2));
	CHECK(th_compare(TH_LE, 2, 2));
	CHECK(th_compare(TH_GT, 3, 2));
	CHECK(!th_compare(TH_GT, 2, 2));
	CHECK(th_compare(TH_GE, 2, 2));
	CHECK(th_compare(TH_EQ, 2, 2));
	CHECK(!th_compare(TH_EQ, 2, 3));
	CHECK(th_compare(TH_NE, 2, 3));
	CHECK(!th_compare(TH_NE, 3, 3));
}

static void label_is(const char *expr, const char *want)
{
	th_expr x;
	char err[128], buf[32];
	CHECK_EQ_INT(th_parse_expr(expr, &x, err, sizeof(err)), 0);
	CHECK_EQ_STR(th_agg_label(&x, buf, sizeof(buf)), want);
}

static void test_labels(void)
{
	label_is("p(95) < 1", "p(95)");
	label_is("p(99.9) < 1", "p(99.9)");
	label_is("p(99.99) < 1", "p(99.99)");
	label_is("p(99.99999) < 1", "p(99.99999)");
	label_is("avg < 1", "avg");
	label_is("med < 1", "med");
	label_is("min < 1", "min");
	label_is("max < 1", "max");
	label_is("rate < 1", "rate");
	label_is("count < 1", "count");
	{
		th_expr x = {.agg = TH_P, .pct = 95};
		char small[4];
		/* A short buffer is cut, still terminated. */
		CHECK_EQ_STR(th_agg_label(&x, small, sizeof(small)), "p(9");
	}
}

int main(void)
{
	test_tag_keys();
	test_metric_ok();
	test_metric_errors();
	test_expr_ok();
	test_expr_errors();
	test_compare();
	test_labels();
	return check_done();
}
