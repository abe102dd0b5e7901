/* The --allow-target list: names, addresses with and without ports, CIDR
 * ranges (IPv4 and IPv6), and refusal of everything else; the checks of a
 * rendered URL and of a connection's address made at run time. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "agent/allow.h"
#include "common/err.h"
#include "tests/unit/check.h"

static int ok(const allow *a, const char *url)
{
	char err[256];
	return allow_check_url(a, url, err, sizeof(err)) == HERD_OK;
}

static int req_ok(const allow *a, const char *url)
{
	char err[256];
	return allow_check_request(a, url, err, sizeof(err)) == HERD_OK;
}

/* Whether a connection to ip:port for the URL host host is allowed. */
static int addr_ok(const allow *a, const char *host, const char *ip, int port)
{
	struct sockaddr_storage ss = {0};
	char err[256];
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, ip, &in6->sin6_addr);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, ip, &in->sin_addr);
	}
	return allow_check_addr(a, host, (struct sockaddr *)&ss, err, sizeof(err)) == HERD_OK;
}

/* Run-time checks: the rendered URL of one request, the address of one connection. */
static void run_time_checks(void)
{
	allow *a = NULL;
	char err[256];

	/* Without a list only the scheme is checked: http(s), never another of libcurl's. */
	CHECK(req_ok(NULL, "http://198.51.100.1/x"));
	CHECK(req_ok(NULL, "HTTPS://example.test/"));
	CHECK_EQ_INT(allow_check_request(NULL, "file:///etc/passwd", err, sizeof(err)), HERD_EREFUSED);
	CHECK_CONTAINS(err, "'file:///etc/passwd' is not http:// or https://");
	CHECK(!req_ok(NULL, "gopher://127.0.0.1:70/_x"));
	/* A secret in the user info is not repeated in the reason. */
	CHECK_EQ_INT(allow_check_request(NULL, "ftp://me:s3cret@127.0.0.1/f", err, sizeof(err)), HERD_EREFUSED);
	CHECK_CONTAINS(err, "URL 'ftp://***@127.0.0.1/f' is not http");
	CHECK(strstr(err, "s3cret") == NULL);
	CHECK(!req_ok(NULL, "dict://127.0.0.1:11211/stat"));
	CHECK(!req_ok(NULL, "ws://127.0.0.1/")); /* a WebSocket URL is no request URL */
	CHECK(!req_ok(NULL, "127.0.0.1:8080/x")); /* libcurl would guess http:// */
	CHECK(!req_ok(NULL, ""));
	CHECK(!req_ok(NULL, "http:///x"));
	CHECK(addr_ok(NULL, "anything", "203.0.113.5", 80));

	CHECK_EQ_INT(allow_parse("127.0.0.1:8080,api.test:443,[::1]:9000,10.1.0.0/16", &a, err, sizeof(err)), HERD_OK);
	CHECK(req_ok(a, "http://127.0.0.1:8080/a?b=c"));
	CHECK_EQ_INT(allow_check_request(a, "http://127.0.0.2:8080/", err, sizeof(err)), HERD_EREFUSED);
	CHECK_CONTAINS(err, "target 127.0.0.2:8080 is not allowed by --allow-target");
	CHECK(!req_ok(a, "http://127.0.0.1/")); /* port 80 */
	CHECK(req_ok(a, "https://API.test/login"));
	/* A name the rules do not cover (another port, or not listed): no address
	 * to look at yet, so the address it connects to decides (addr_ok below). */
	CHECK(req_ok(a, "http://api.test/"));
	CHECK(req_ok(a, "http://other.test/"));
	CHECK(!req_ok(a, "file:///etc/passwd"));
	CHECK_EQ_INT(allow_check_request(a, "http://[::1]:9001/", err, sizeof(err)), HERD_EREFUSED);
	CHECK_CONTAINS(err, "target [::1]:9001 is not allowed");
	CHECK(req_ok(a, "http://10.1.200.3:1234/"));
	CHECK(!req_ok(a, "http://127.0.0.1:8080@127.0.0.2:8080/")); /* user info is not the host */

	/* Connections: the address decides, or a name rule for the URL's host. */
	CHECK(addr_ok(a, "127.0.0.1", "127.0.0.1", 8080));
	CHECK(addr_ok(a, NULL, "127.0.0.1", 8080));
	CHECK(!addr_ok(a, NULL, "127.0.0.1", 8081));
	CHECK(addr_ok(a, "localhost", "127.0.0.1", 8080));      /* a name resolving inside */
	CHECK(!addr_ok(a, "other.test", "127.0.0.2", 8080));    /* a name resolving outside */
	CHECK(addr_ok(a, "api.test", "192.0.2.77", 443));       /* a listed name: DNS is trusted */
	CHECK(!addr_ok(a, "api.test", "192.0.2.77", 80));
	CHECK(addr_ok(a, "[::1]", "::1", 9000));
	CHECK(!addr_ok(a, "[::1]", "::1", 9001));
	CHECK(!addr_ok(a, "127.0.0.1", "::ffff:127.0.0.1", 8080)); /* another family: no IPv4 rule holds it */
	CHECK(addr_ok(a, "x.test", "10.1.0.1", 5));
	struct sockaddr_storage ss = {0};
	ss.ss_family = AF_INET;
	((struct sockaddr_in *)&ss)->sin_port = htons(8080);
	inet_pton(AF_INET, "127.0.0.9", &((struct sockaddr_in *)&ss)->sin_addr);
	CHECK_EQ_INT(allow_check_addr(a, "evil.test", (struct sockaddr *)&ss, err, sizeof(err)), HERD_EREFUSED);
	CHECK_CONTAINS(err, "target evil.test:8080 (address 127.0.0.9) is not allowed by --allow-target");
	/* What the lean and WebSocket drivers keep for a host resolved at start. */
	char *why = (char *)"unset";
	CHECK_EQ_INT(allow_addr_refusal(a, "evil.test", (struct sockaddr *)&ss, &why), HERD_OK);
	CHECK(why != NULL && strstr(why, "evil.test:8080 (address 127.0.0.9)") != NULL);
	free(why);
	((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(0x7f000001);
	CHECK_EQ_INT(allow_addr_refusal(a, "localhost", (struct sockaddr *)&ss, &why), HERD_OK);
	CHECK(why == NULL);
	ss.ss_family = AF_UNIX;
	CHECK_EQ_INT(allow_check_addr(a, NULL, (struct sockaddr *)&ss, err, sizeof(err)), HERD_EREFUSED);
	allow_free(a);
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
	run_time_checks();
	return check_done();
}
