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

#include "proto/wire.h"

typedef struct net_tls_files {
	const char *cert; /* PEM certificate of this side */
	const char *key;  /* PEM private key of this side */
	const char *ca;   /* PEM CA the peer's certificate must chain to */
} net_tls_files;

/* 1 when url is a tls+tcp:// address. */
int net_url_is_tls(const char *url);

/* Builds a TLS configuration (server or client) that requires the peer's
 * certificate. Returns HERD_OK and *out (free with nng_tls_config_free), or
 * an error with a message naming the file in err. */
int net_tls_config(int server, const net_tls_files *f, nng_tls_config **out, char *err,
                   size_t errlen);

/* Translates an NNG error into a herd_err. */
int net_err(int nng_rv);

/* Sends m on ctx and waits up to ms for the reply, decoded into *reply
 * (wire_msg_fini it). Returns a herd_err; HERD_EVERSION leaves the peer's
 * version in reply->version. */
int net_request(nng_ctx ctx, const wire_msg *m, wire_msg *reply, int ms);

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
