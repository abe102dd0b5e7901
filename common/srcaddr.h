/*
 * A pool of local source addresses (--source-addresses). One source address
 * holds at most the ephemeral port range of connections to one target, so an
 * agent spreads its connections over several. This is the list's parser and
 * the choice of an address for a VU; binding sockets is agent/tcp.c's job.
 */
#ifndef HERD_COMMON_SRCADDR_H
#define HERD_COMMON_SRCADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The most addresses one pool holds. */
#define SRCADDR_MAX 4096

typedef struct srcaddr {
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} u;                              /* the address, port 0: ready for bind() */
	socklen_t len;
	char iface[5 + INET6_ADDRSTRLEN]; /* "host!" and the address: libcurl's CURLOPT_INTERFACE */
} srcaddr;

typedef struct srcaddr_pool {
	srcaddr *a;  /* in the order of the list */
	size_t n;
	int family;  /* AF_INET or AF_INET6: a pool holds one family */
} srcaddr_pool;

/*
 * Parses "ADDR,ADDR,FIRST-LAST,..." into *out: IPv4 or IPv6 addresses, and
 * IPv4 ranges whose ends are included. Spaces around items are allowed.
 * Refuses, with a message naming the bad item in err: an item that is not
 * an address or range, a range that runs backwards or is IPv6, the
 * unspecified address, an address listed twice, IPv4 and IPv6 mixed, an
 * empty list or item, and more than SRCADDR_MAX addresses. Returns HERD_OK,
 * HERD_EINVAL or HERD_ENOMEM; on error *out is left empty. Free the pool
 * with srcaddr_pool_fini().
 */
int srcaddr_parse(const char *list, srcaddr_pool *out, char *err, size_t errlen);
void srcaddr_pool_fini(srcaddr_pool *p);

/* The address as text ("127.0.0.2", "::1"). */
static inline const char *srcaddr_name(const srcaddr *a)
{
	return a->iface + 5;
}

/* The address of VU vu_id (1-based): the pool's addresses round-robin by
 * id, so a VU keeps one address for its life. NULL when p is NULL or empty. */
const srcaddr *srcaddr_pick(const srcaddr_pool *p, uint32_t vu_id);

#endif
