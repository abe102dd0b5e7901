/*
 * What the agent and the controller share about NNG: TLS configuration from
 * PEM files (mutual TLS: each side checks the other's certificate against
 * its CA), error translation, and one synchronous request on a REQ context.
 */
#ifndef HERD_NET_NET_H
#define HERD_NET_NET_H

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <stddef.h>

#include "common/session.h"
#include "proto/wire.h"

typedef struct net_tls_files {
	const char *cert; /* PEM certificate of this side */
	const char *key;  /* PEM private key of this side */
	const char *ca;   /* PEM CA the peer's certificate must chain to */
	const char *server_name; /* client: the name the server's certificate must
	                          * have (the URL's host, or --tls-server-name) */
} net_tls_files;

/* 1 when url is a tls+tcp:// address. */
int net_url_is_tls(const char *url);

/* Builds a TLS configuration (server or client) that requires the peer's
 * certificate, and on a client its server_name when set. Returns HERD_OK and *out (free with nng_tls_config_free), or
 * an error with a message naming the file in err. */
int net_tls_config(int server, const net_tls_files *f, nng_tls_config **out, char *err,
                   size_t errlen);

/* Splits "SCHEME://HOST:PORT" (HOST may be "[v6]") into host and port.
 * Returns 0, or -1 when url is not of that form. */
int net_url_split(const char *url, char *host, size_t hlen, char *port, size_t plen);

/* Translates an NNG error into a herd_err. */
int net_err(int nng_rv);

/* Sends m on ctx and waits up to ms for the reply, decoded into *reply
 * (wire_msg_fini it). Returns a herd_err; HERD_EVERSION leaves the peer's
 * version in reply->version. */
int net_request(nng_ctx ctx, const wire_msg *m, wire_msg *reply, int ms);

/* net_request, and the id of the connection the reply came on in *pipe
 * (0 when there was no reply). */
int net_request_on(nng_ctx ctx, const wire_msg *m, wire_msg *reply, int ms, uint32_t *pipe);

/*
 * A request in the agent's session s: m goes sealed (proto/seal.h) as agent
 * id on channel ch with number seq, and the reply counts only when it is
 * sealed in the same session with the same channel and number, and came on
 * connection pipe (0: any). Returns HERD_OK with the inner reply in *reply
 * (wire_msg_fini it). Returns HERD_EAUTH when the reply does not verify;
 * *reply then holds it as it came when it was a plain message (say an ERROR
 * from a controller that does not know the session), to be looked at but
 * never obeyed. Other errors as net_request.
 */
int net_sealed_request(nng_ctx ctx, const session *s, const char *id, uint32_t ch, uint64_t seq,
                       uint32_t pipe, const wire_msg *m, wire_msg *reply, int ms);

/*
 * Ends connection p the way its peer closing it would: shutdown(2) on its
 * socket, found among this process's descriptors by its two TCP addresses,
 * so NNG sees end-of-file and closes the pipe on its own path. NNG 1.5.2's
 * nng_pipe_close can hang its reaper for good when a message is moving on
 * the pipe (nanomsg/nng#616; see cluster_close), which a peer that floods
 * always has. Not a TCP pipe, or no descriptor found: nng_pipe_close. A
 * descriptor could in principle be closed and reused between the lookup and
 * the shutdown; the addresses are checked just before, so at worst another
 * connection is ended, which its peer survives by reconnecting.
 */
void net_pipe_shutdown(nng_pipe p);

/* Encodes m into a new NNG message. */
int net_msg(const wire_msg *m, nng_msg **out);

#endif
