/*
 * What the agent's own socket drivers (lean HTTP/1.1, WebSocket) share about
 * TCP: resolving a host once at plan time, and starting a non-blocking
 * connect whose failure is already classified as an error kind.
 */
#ifndef HERD_AGENT_TCP_H
#define HERD_AGENT_TCP_H

#include <sys/socket.h>

/* Means "no error" where an errk is expected. */
#define TCP_OK (-1)

/* Resolves host and a numeric port to its first address. Returns 0, or -1
 * when it does not resolve (or does not fit). */
int tcp_resolve(const char *host, const char *port, struct sockaddr_storage *addr, socklen_t *len);

/*
 * Opens a non-blocking, close-on-exec TCP socket with TCP_NODELAY and starts
 * connecting it to addr. Returns TCP_OK with *fd set and *connected 1 when
 * the connect completed at once (0 when it is in progress: wait for
 * writable), or an errk (ERRK_OTHER when no socket could be made,
 * ERRK_TIMEOUT or ERRK_CONNREFUSED when connect failed) with nothing open.
 */
int tcp_connect(const struct sockaddr_storage *addr, socklen_t len, int *fd, int *connected);

#endif
