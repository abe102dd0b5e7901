/* TCP helpers for the agent's socket drivers; see tcp.h. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include "agent/tcp.h"
#include "common/metric.h"

int tcp_resolve(const char *host, const char *port, struct sockaddr_storage *addr, socklen_t *len)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
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

int tcp_connect(const struct sockaddr_storage *addr, socklen_t len, int *fd, int *connected)
{
	int one = 1;
	int s = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (s < 0)
		return ERRK_OTHER;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s, (const struct sockaddr *)addr, len) == 0) {
		*fd = s;
		*connected = 1;
		return TCP_OK;
	}
	if (errno != EINPROGRESS) {
		int e = errno;
		close(s);
		return e == ETIMEDOUT ? ERRK_TIMEOUT : ERRK_CONNREFUSED;
	}
	*fd = s;
	*connected = 0;
	return TCP_OK;
}
