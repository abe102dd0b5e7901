/*
 * What the agent's own socket drivers (lean HTTP/1.1, WebSocket) share about
 * TCP: resolving a host once at plan time, and starting a non-blocking
 * connect, from a source address when the agent has a pool of them, whose
 * failure is already classified as an error kind. Also the agent's start-up
 * check of its source addresses, and the one log line of a connection that
 * found nothing local to connect from (the libcurl driver's too).
 */
#ifndef HERD_AGENT_TCP_H
#define HERD_AGENT_TCP_H

#include <stddef.h>
#include <sys/socket.h>

#include "common/srcaddr.h"

/* Means "no error" where an errk is expected. */
#define TCP_OK (-1)

/* Resolves host and a numeric port to its first address of family
 * (AF_UNSPEC: of any family). Returns 0, or -1 when it does not resolve to
 * such an address (or does not fit). */
int tcp_resolve(const char *host, const char *port, int family, struct sockaddr_storage *addr,
                socklen_t *len);

/*
 * Opens a non-blocking, close-on-exec TCP socket with TCP_NODELAY, binds it
 * to src unless src is NULL, and starts connecting it to addr. The bind
 * leaves the port to connect() (IP_BIND_ADDRESS_NO_PORT), so each source
 * address has the whole ephemeral range toward each target. Returns TCP_OK
 * with *fd set and *connected 1 when the connect completed at once (0 when
 * it is in progress: wait for writable), or an errk with nothing open:
 * ERRK_OTHER when no socket could be made, ERRK_SRCADDR when src cannot be
 * bound or no local port is left (both logged once, see
 * tcp_log_local_failure), ERRK_TIMEOUT or ERRK_CONNREFUSED when connect
 * failed otherwise.
 */
int tcp_connect(const struct sockaddr_storage *addr, socklen_t len, const srcaddr *src, int *fd,
                int *connected);

/* Binds a socket of each address of p to port 0 and closes it. Returns
 * HERD_OK, or HERD_EINVAL with a message naming the first address that
 * cannot be bound, and why, in err. */
int tcp_check_sources(const srcaddr_pool *p, char *err, size_t errlen);

/*
 * Logs, once per agent process and reason, why a connection had nothing
 * local to connect from: os_errno from binding src (bound 1), or from
 * connect() when no ephemeral port was left (bound 0; src NULL without a
 * pool). Safe from any worker thread.
 */
void tcp_log_local_failure(const srcaddr *src, int bound, int os_errno);

#endif
