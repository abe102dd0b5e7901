/* The --source-addresses list: addresses and IPv4 ranges, the order kept for
 * the round-robin by VU id, and a message naming the item of every refusal. */
#include <arpa/inet.h>

#include "common/err.h"
#include "common/srcaddr.h"
#include "tests/unit/check.h"

static int refused(const char *list, const char *want)
{
	srcaddr_pool p;
	char err[256] = "";
	int rv = srcaddr_parse(list, &p, err, sizeof(err));
	CHECK_CONTAINS(err, want);
	CHECK(p.n == 0 && p.a == NULL);
	return rv == HERD_EINVAL;
}

int main(void)
{
	srcaddr_pool p;
	char err[256];

	/* Addresses and a range, spaces allowed, the order kept. */
	CHECK_EQ_INT(srcaddr_parse(" 127.0.0.9 ,127.0.0.2-127.0.0.4,10.1.2.3", &p, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(p.n, 5);
	CHECK_EQ_INT(p.family, AF_INET);
	CHECK_EQ_STR(srcaddr_name(&p.a[0]), "127.0.0.9");
	CHECK_EQ_STR(srcaddr_name(&p.a[1]), "127.0.0.2");
	CHECK_EQ_STR(srcaddr_name(&p.a[3]), "127.0.0.4");
	CHECK_EQ_STR(p.a[4].iface, "host!10.1.2.3");
	CHECK_EQ_INT(p.a[2].len, sizeof(struct sockaddr_in));
	CHECK_EQ_INT(p.a[2].u.in.sin_family, AF_INET);
	CHECK_EQ_INT(p.a[2].u.in.sin_port, 0);
	CHECK_EQ_INT(ntohl(p.a[2].u.in.sin_addr.s_addr), 0x7f000003);
	/* Round-robin by VU id (1-based): VU 1 gets the first address, VU 6 too. */
	CHECK(srcaddr_pick(&p, 1) == &p.a[0]);
	CHECK(srcaddr_pick(&p, 5) == &p.a[4]);
	CHECK(srcaddr_pick(&p, 6) == &p.a[0]);
	CHECK(srcaddr_pick(&p, 100002) == &p.a[100001 % 5]);
	CHECK(srcaddr_pick(NULL, 1) == NULL);
	srcaddr_pool_fini(&p);
	CHECK(p.a == NULL && p.n == 0);

	/* A range across an octet boundary, and one of a single address. */
	CHECK_EQ_INT(srcaddr_parse("10.0.0.254-10.0.1.1,10.0.2.7-10.0.2.7", &p, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(p.n, 5);
	CHECK_EQ_STR(srcaddr_name(&p.a[2]), "10.0.1.0");
	CHECK_EQ_STR(srcaddr_name(&p.a[4]), "10.0.2.7");
	srcaddr_pool_fini(&p);

	/* IPv6, written any way inet_pton reads, printed in its short form. */
	CHECK_EQ_INT(srcaddr_parse("::1,fd00:0:0:0:0:0:0:2", &p, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(p.n, 2);
	CHECK_EQ_INT(p.family, AF_INET6);
	CHECK_EQ_STR(srcaddr_name(&p.a[1]), "fd00::2");
	CHECK_EQ_STR(p.a[0].iface, "host!::1");
	CHECK_EQ_INT(p.a[1].len, sizeof(struct sockaddr_in6));
	CHECK_EQ_INT(p.a[1].u.in6.sin6_port, 0);
	srcaddr_pool_fini(&p);

	/* The cap: 4096 addresses pass, 4097 do not. */
	CHECK_EQ_INT(srcaddr_parse("10.0.0.1-10.0.16.0", &p, err, sizeof(err)), HERD_OK);
	CHECK_EQ_INT(p.n, SRCADDR_MAX);
	CHECK_EQ_STR(srcaddr_name(&p.a[SRCADDR_MAX - 1]), "10.0.16.0");
	srcaddr_pool_fini(&p);
	CHECK(refused("10.0.0.1-10.0.16.1", "more than 4096 addresses"));
	CHECK(refused("10.0.0.1-10.0.16.0,10.1.0.0", "more than 4096 addresses"));
	CHECK(refused("1.0.0.1-255.255.255.255", "more than 4096 addresses"));

	/* Refusals name the bad item. */
	CHECK(refused("127.0.0.2,localhost", "'localhost' is not an IPv4 or IPv6 address"));
	CHECK(refused("127.0.0.2,127.0.0.300", "'127.0.0.300' is not an IPv4 or IPv6 address"));
	CHECK(refused("127.0.0.9-127.0.0.2", "the range 127.0.0.9-127.0.0.2 runs backwards"));
	CHECK(refused("127.0.0.2-", "'127.0.0.2-' is not a range of IPv4 addresses"));
	CHECK(refused("127.0.0.2-x", "'127.0.0.2-x' is not a range"));
	CHECK(refused("-127.0.0.2", "'-127.0.0.2' is not a range"));
	CHECK(refused("127.0.0.2 - 127.0.0.x", "'127.0.0.2 - 127.0.0.x' is not a range"));
	CHECK(refused("::1-::3", "'::1-::3': ranges are IPv4 only"));
	CHECK(refused("127.0.0.2,::1", "'::1' is IPv6 but '127.0.0.2' is IPv4"));
	CHECK(refused("::1,127.0.0.2-127.0.0.3", "'127.0.0.2' is IPv4 but '::1' is IPv6"));
	CHECK(refused("127.0.0.2-127.0.0.4,127.0.0.3", "127.0.0.3 is listed twice"));
	CHECK(refused("::1,0:0::1", "::1 is listed twice"));
	CHECK(refused("0.0.0.0", "'0.0.0.0' is the unspecified address"));
	CHECK(refused("::", "'::' is the unspecified address"));
	CHECK(refused("0.0.0.0-0.0.0.3", "holds the unspecified address"));
	CHECK(refused("", "the list is empty"));
	CHECK(refused("  ", "the list is empty"));
	CHECK(refused("127.0.0.2,,127.0.0.3", "an empty item in '127.0.0.2,,127.0.0.3'"));
	CHECK(refused("127.0.0.2,", "an empty item"));
	CHECK(refused("fe80::1%eth0", "'fe80::1%eth0' is not an IPv4 or IPv6 address"));
	CHECK(refused("127.0.0.2/24", "'127.0.0.2/24' is not an IPv4 or IPv6 address"));
	char longitem[300];
	memset(longitem, '1', sizeof(longitem) - 1);
	longitem[sizeof(longitem) - 1] = '\0';
	CHECK(refused(longitem, "is not an IPv4 or IPv6 address"));
	return check_done();
}
