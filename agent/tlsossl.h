/*
 * TLS client sessions over non-blocking sockets with OpenSSL 3, for the lean
 * HTTP/1.1 driver's https:// (agent/h1.c). The same shape as agent/tlsconn
 * (mbedTLS, which the WebSocket driver keeps) and the same TLSC_* results:
 * calls never block, they say which readiness to wait for. OpenSSL because
 * mbedTLS 2.28's record layer cost the lean driver about 1.2x wrk's CPU per
 * keep-alive https request (wrk uses OpenSSL), and keeps two 16 kB buffers
 * per idle connection where OpenSSL releases them (bench/README.md).
 *
 * A tlso_cfg belongs to one worker (no locks); a tlso wraps one connected
 * socket. The plan's `tls` settings apply as the libcurl driver applies them:
 * the plan's CA file, else the system store; or no check at all with
 * insecureSkipVerify. A host name is sent as SNI and must be named by the
 * certificate; an address is sent without SNI and must be one of its IP
 * names. ALPN offers http/1.1. TLS 1.2 is the minimum, 1.3 is used when the
 * server speaks it: a connection that resumes a TLS 1.2 session offers 1.2
 * only (no 1.3 key share to generate), and the one after any connection
 * that did not resume offers 1.3 again (tlso_start).
 */
#ifndef HERD_AGENT_TLSOSSL_H
#define HERD_AGENT_TLSOSSL_H

#include <stddef.h>
#include <sys/types.h>

#include "agent/tlsconn.h" /* the TLSC_* results */
#include "common/plan.h"

typedef struct tlso_cfg tlso_cfg;
typedef struct tlso tlso;
/* A session to resume: OpenSSL's SSL_SESSION. */
typedef struct ssl_session_st tlso_sess;

/* Makes the configuration for the plan's `tls` options (opts NULL: the
 * defaults). Returns HERD_OK and *out (free with tlso_cfg_free); HERD_EIO
 * when the CA file holds no usable certificate (or the system store cannot
 * be read), HERD_ENOMEM; with a message in err (errlen bytes) on error. */
int tlso_cfg_new(const plan_tls *opts, tlso_cfg **out, char *err, size_t errlen);
void tlso_cfg_free(tlso_cfg *cfg);

/*
 * Makes a TLS client object with no connection yet; tlso_start gives it one,
 * tlso_end takes it back, and the next tlso_start reuses it (OpenSSL's SSL
 * object, reset by SSL_clear: cheaper than a new one per connection, as wrk
 * does it). cfg must outlive it. Returns HERD_OK and *out, or HERD_ENOMEM.
 */
int tlso_new(tlso_cfg *cfg, tlso **out);

/*
 * Starts a session on the connected socket fd (it stays the caller's) for
 * host (a DNS name, or an IP address without brackets). It resumes *slot
 * when there is one, and every session the server issues on it (TLS 1.2:
 * in the handshake; 1.3: tickets after it) replaces what *slot holds. slot
 * (NULL: no resumption) must outlive the session; the caller frees what it
 * holds with tlso_sess_free. t must have no connection (new, or after
 * tlso_end). Returns HERD_OK, or HERD_ENOMEM (t stays usable).
 */
int tlso_start(tlso *t, int fd, const char *host, tlso_sess **slot);

/* Ends the session on t's connection: sends a close_notify if the
 * handshake is done (one try, never waiting), and leaves t with no
 * connection and no record buffers, for the next tlso_start. After a
 * failure nothing of the connection's state is kept: the next tlso_start
 * begins from a new SSL object. The socket stays the caller's to close. */
void tlso_end(tlso *t);

/* Ends any session (as tlso_end), then frees t. NULL is fine. */
void tlso_free(tlso *t);

/* Advances the handshake: TLSC_OK once done, TLSC_WANT_READ or
 * TLSC_WANT_WRITE, or TLSC_ECERT, TLSC_ECLOSED, TLSC_EFAIL. */
int tlso_handshake(tlso *t);

/* Reads decrypted bytes: n > 0, 0 when the peer closed (close_notify or end
 * of stream), TLSC_WANT_READ or TLSC_WANT_WRITE, TLSC_ECLOSED or TLSC_EFAIL. */
ssize_t tlso_read(tlso *t, void *buf, size_t len);

/* Writes: n > 0 bytes taken, TLSC_WANT_READ or TLSC_WANT_WRITE (call again
 * with the same bytes), TLSC_ECLOSED or TLSC_EFAIL. */
ssize_t tlso_write(tlso *t, const void *buf, size_t len);

/* 1 when t holds bytes read from the socket but not yet returned
 * (decrypted, or still in records): a read returns them without the
 * socket becoming readable again. */
int tlso_pending(const tlso *t);

/* Frees t's record buffers (about 2 x 17 kB) while its connection is idle;
 * the next read or write allocates them again. A no-op when t holds bytes
 * not yet returned. With no connection (after tlso_end) it frees OpenSSL's
 * object (about 8.7 kB): the next tlso_start makes a new one. */
void tlso_idle(tlso *t);

/* After TLSC_ECERT: why the certificate was refused, as one line in buf. */
const char *tlso_cert_error(const tlso *t, char *buf, size_t len);

void tlso_sess_free(tlso_sess *s);

#endif
