/* The --allow-target list: names, addresses with and without ports, CIDR
 * ranges (IPv4 and IPv6), and refusal of everything else. */
#include <sys/socket.h>

#include "agent/allow.h"
#include "common/err.h"
#include "tests/unit/check.h"

static int ok(const allow *a, const char *url)
{
	char err[256];
	return allow_check_url(a, url, err, sizeof(err)) == HERD_OK;
}

int main(void)
{
	allow *a = NULL;
	char err[256];
	CHECK_EQ_INT(allow_parse("198.18.0.0/24, 127.0.0.1:8080,LocalHost,[::1]:9000,fd00::/8", &a, err, sizeof(err)), HERD_OK);
	CHECK(ok(a, "http://198.18.0.100/small"));
	CHECK(ok(a, "http://198.18.0.255:81/x?y=1"));
	CHECK(!ok(a, "http://198.18.1.1/"));
	CHECK(!ok(a, "http://198.19.0.1/"));
	CHECK(ok(a, "http://127.0.0.1:8080/"));
	CHECK(!ok(a, "http://127.0.0.1:8081/"));
	CHECK(!ok(a, "http://127.0.0.1/")); /* port 80 is not 8080 */
	CHECK(ok(a, "http://localhost:1234/"));
	CHECK(ok(a, "http://LOCALHOST/"));
	CHECK(ok(a, "http://[::1]:9000/"));
	CHECK(!ok(a, "http://[::1]:9001/"));
	CHECK(ok(a, "https://[fd12::1]/"));
	CHECK(!ok(a, "https://[fe80::1]/"));
	CHECK(!ok(a, "http://user:pw@10.0.0.1/"));
	CHECK(!ok(a, "ftp://198.18.0.1/"));
	CHECK(allow_check_url(a, "http://10.0.0.1/", err, sizeof(err)) == HERD_EINVAL);
	CHECK_CONTAINS(err, "10.0.0.1:80 is not allowed by --allow-target");
	/* user info cannot smuggle an allowed address */
	CHECK(!ok(a, "http://198.18.0.1@10.0.0.1/"));
	allow_free(a);

	/* A /0 range allows every IPv4 address, no IPv6. */
	CHECK_EQ_INT(allow_parse("0.0.0.0/0", &a, err, sizeof(err)), HERD_OK);
	CHECK(ok(a, "http://203.0.113.9/"));
	CHECK(!ok(a, "http://[2001:db8::1]/"));
	allow_free(a);

	/* Odd prefixes check the partial byte. */
	CHECK_EQ_INT(allow_parse("198.18.0.96/27", &a, err, sizeof(err)), HERD_OK);
	CHECK(ok(a, "http://198.18.0.100/"));
	CHECK(ok(a, "http://198.18.0.127/"));
	CHECK(!ok(a, "http://198.18.0.128/"));
	CHECK(!ok(a, "http://198.18.0.95/"));
	allow_free(a);

	/* Bad lists. */
	CHECK_EQ_INT(allow_parse("198.18.0.0/33", &a, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, "198.18.0.0/33");
	CHECK_EQ_INT(allow_parse("host:99999", &a, err, sizeof(err)), HERD_EINVAL);
	CHECK_EQ_INT(allow_parse("/8", &a, err, sizeof(err)), HERD_EINVAL);
	CHECK_EQ_INT(allow_parse(" , ", &a, err, sizeof(err)), HERD_EINVAL);
	CHECK_EQ_INT(allow_parse("[::1", &a, err, sizeof(err)), HERD_EINVAL);

	/* A plan: one step outside the list refuses the whole plan. */
	plan *p = NULL;
	const char *text = "target: http://198.18.0.100\nscenarios:\n  s:\n    executor: constant-vus\n"
	                   "    vus: 1\n    duration: 1s\n    flow:\n      - get: /a\n"
	                   "      - get: http://198.18.0.200/b\n";
	CHECK_EQ_INT(plan_parse(text, strlen(text), "p.yaml", &p, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(allow_parse("198.18.0.100", &a, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(allow_check_plan(a, p, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, "198.18.0.200:80");
	CHECK_EQ_INT(allow_check_plan(NULL, p, err, sizeof(err)), HERD_OK);
	allow_free(a);

	/* Targets and the family of the source addresses. */
	CHECK_EQ_INT(allow_check_family(p, AF_UNSPEC, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(allow_check_family(p, AF_INET, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(allow_check_family(p, AF_INET6, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, "target 198.18.0.100:80 is IPv4, and --source-addresses on this agent holds IPv6");
	plan_free(p);
	text = "target: http://[::1]:8080\nscenarios:\n  s:\n    executor: constant-vus\n"
	       "    vus: 1\n    duration: 1s\n    flow:\n      - get: /a\n"
	       "      - ws: ws://localhost:9000/chat\n        session:\n          - close: 1000\n";
	CHECK_EQ_INT(plan_parse(text, strlen(text), "p.yaml", &p, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(allow_check_family(p, AF_INET, err, sizeof(err)), HERD_EINVAL);
	CHECK_CONTAINS(err, "target [::1]:8080 is IPv6, and --source-addresses on this agent holds IPv4");
	plan_free(p);
	/* A name with an address of the family passes (localhost is 127.0.0.1 in /etc/hosts). */
	text = "target: http://localhost:8080\nscenarios:\n  s:\n    executor: constant-vus\n"
	       "    vus: 1\n    duration: 1s\n    flow:\n      - get: /a\n";
	CHECK_EQ_INT(plan_parse(text, strlen(text), "p.yaml", &p, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(allow_check_family(p, AF_INET, err, sizeof(err)), HERD_OK);
	plan_free(p);
	return check_done();
}
