/* TCP helpers for the agent's socket drivers; see tcp.h. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/tcp.h"
#include "common/err.h"
#include "common/log.h"
#include "common/metric.h"

int tcp_resolve(const char *host, const char *port, int family, struct sockaddr_storage *addr, socklen_t *len)
{
	struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_STREAM,
		                      .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	int rv = -1;
	if (getaddrinfo(host, port, &hints, &res) == 0 && res != NULL && res->ai_addrlen <= sizeof(*addr)) {
		memcpy(addr, res->ai_addr, res->ai_addrlen);
		*len = res->ai_addrlen;
		rv = 0;
	}
	if (res != NULL)
		freeaddrinfo(res);
	return rv;
}

void tcp_log_local_failure(const srcaddr *src, int bound, int os_errno)
{
	static atomic_flag bind_logged = ATOMIC_FLAG_INIT, port_logged = ATOMIC_FLAG_INIT;
	const char *why = os_errno != 0 ? strerror(os_errno) : "no reason given";
	if (bound) {
		if (!atomic_flag_test_and_set(&bind_logged))
			log_error("source address %s cannot be bound: %s; its connections fail as "
			          "source_address errors (logged once)",
			          src != NULL ? srcaddr_name(src) : "?", why);
		return;
	}
	if (!atomic_flag_test_and_set(&port_logged))
		log_error("no local port left to connect from %s (%s): one source address holds at most the "
		          "ephemeral port range (/proc/sys/net/ipv4/ip_local_port_range) of connections to "
		          "one target; %s (source_address errors, logged once)",
		          src != NULL ? srcaddr_name(src) : "this host's address", why,
		          src != NULL ? "add addresses to --source-addresses"
		                      : "spread them with --source-addresses");
}

int tcp_connect(const struct sockaddr_storage *addr, socklen_t len, const srcaddr *src, int *fd,
                int *connected)
{
	int one = 1;
	int s = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (s < 0)
		return ERRK_OTHER;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (src != NULL) {
		/* Without it, bind() would take a port for every target at once. */
		setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(s, &src->u.sa, src->len) != 0) {
			int e = errno;
			close(s);
			tcp_log_local_failure(src, 1, e);
			return ERRK_SRCADDR;
		}
	}
	if (connect(s, (const struct sockaddr *)addr, len) == 0) {
		*fd = s;
		*connected = 1;
		return TCP_OK;
	}
	if (errno != EINPROGRESS) {
		int e = errno;
		close(s);
		if (e == EADDRNOTAVAIL) {
			tcp_log_local_failure(src, 0, e);
			return ERRK_SRCADDR;
		}
		return e == ETIMEDOUT ? ERRK_TIMEOUT : ERRK_CONNREFUSED;
	}
	*fd = s;
	*connected = 0;
	return TCP_OK;
}

int tcp_check_sources(const srcaddr_pool *p, char *err, size_t errlen)
{
	for (size_t i = 0; p != NULL && i < p->n; i++) {
		const srcaddr *a = &p->a[i];
		int s = socket(a->u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
		if (s < 0) {
			snprintf(err, errlen, "--source-addresses: cannot make a socket for %s: %s",
			         srcaddr_name(a), strerror(errno));
			return HERD_EINVAL;
		}
		int rv = bind(s, &a->u.sa, a->len), e = errno;
		close(s);
		if (rv != 0) {
			const char *hint = e == EADDRNOTAVAIL ? " (it is not an address of this host)" : "";
			snprintf(err, errlen, "--source-addresses: cannot bind %s: %s%s", srcaddr_name(a),
			         strerror(e), hint);
			return HERD_EINVAL;
		}
	}
	return HERD_OK;
}
