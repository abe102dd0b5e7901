/*
 * TLS client sessions for the agent's own socket drivers (wss:// today), with
 * mbedTLS over a non-blocking socket on the worker's epoll loop. A
 * tlsconn_cfg belongs to one worker (CA chain, random generator: no locks);
 * a tlsconn wraps one connected socket. Calls never block: they say which
 * readiness to wait for, and the caller calls again when the socket has it.
 */
#ifndef HERD_AGENT_TLSCONN_H
#define HERD_AGENT_TLSCONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/plan.h"

/* The system's CA store, used unless the plan names its own `ca`. */
#define TLSCONN_SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"

/* What a call returns besides a count of bytes. */
enum {
	TLSC_OK = 0,
	TLSC_WANT_READ = -1,  /* call again once the socket is readable */
	TLSC_WANT_WRITE = -2, /* call again once the socket is writable */
	TLSC_ECERT = -3,      /* the server's certificate or its name was refused */
	TLSC_ECLOSED = -4,    /* the connection was closed or reset under TLS */
	TLSC_EFAIL = -5,      /* any other TLS failure (alert, protocol, out of memory) */
};

typedef struct tlsconn_cfg tlsconn_cfg;
typedef struct tlsconn tlsconn;

/*
 * Makes the configuration for the plan's `tls` options: the CAs of opts->ca,
 * else of the system store, required to verify the server, or no check at
 * all with insecure_skip_verify. Returns HERD_OK and *out (free with
 * tlsconn_cfg_free); HERD_EIO when the CA file cannot be read or holds no
 * usable certificate, HERD_EINTERNAL when the random generator cannot be
 * seeded, HERD_ENOMEM; with a message in err (errlen bytes) on error.
 */
int tlsconn_cfg_new(const plan_tls *opts, tlsconn_cfg **out, char *err, size_t errlen);
void tlsconn_cfg_free(tlsconn_cfg *cfg);

/*
 * Starts a session on the connected socket fd (which stays the caller's: it
 * is neither closed nor watched here) for host, a DNS name or an IP address
 * without brackets. A name is sent as SNI and must be named by the
 * certificate; an address must be among its IP subject alternative names.
 * cfg must outlive the session. Returns HERD_OK and *out, or HERD_ENOMEM.
 */
int tlsconn_new(tlsconn_cfg *cfg, int fd, const char *host, tlsconn **out);

/* Sends a close_notify if it can be sent at once (and no write is half
 * done), then frees t. NULL is fine. */
void tlsconn_free(tlsconn *t);

/* Advances the handshake: TLSC_OK once it is done, TLSC_WANT_READ or
 * TLSC_WANT_WRITE, or an error (TLSC_ECERT, TLSC_ECLOSED, TLSC_EFAIL). */
int tlsconn_handshake(tlsconn *t);

/* Reads decrypted bytes: returns n > 0, 0 when the peer closed the
 * connection (close_notify or end of stream), TLSC_WANT_READ or
 * TLSC_WANT_WRITE, or TLSC_ECLOSED / TLSC_EFAIL. */
ssize_t tlsconn_read(tlsconn *t, void *buf, size_t len);

/* Writes: returns the n > 0 bytes taken (all of them are then on the way),
 * TLSC_WANT_READ or TLSC_WANT_WRITE (call again with the same bytes), or
 * TLSC_ECLOSED / TLSC_EFAIL. */
ssize_t tlsconn_write(tlsconn *t, const void *buf, size_t len);

/* Decrypted bytes already held, which a read returns without the socket. */
size_t tlsconn_pending(const tlsconn *t);

/* Bytes read from and written to the socket so far, TLS records included. */
void tlsconn_bytes(const tlsconn *t, uint64_t *in, uint64_t *out);

/* After TLSC_ECERT: why the certificate was refused, as one line in buf. */
const char *tlsconn_cert_error(const tlsconn *t, char *buf, size_t len);

#endif
