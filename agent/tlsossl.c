/* TLS client sessions with OpenSSL 3 over non-blocking sockets; see tlsossl.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "agent/tlsossl.h"
#include "common/err.h"

struct tlso_cfg {
	SSL_CTX *ctx;
};

struct tlso {
	tlso_cfg *cfg;
	SSL *ssl;    /* NULL until a connection starts, and after a failed one */
	char *host;  /* the peer ssl is set up for (SNI, the name checked) */
	int live;    /* ssl has a connection (between tlso_start and tlso_end) */
	int capped;  /* this connection offers TLS 1.2 only, to resume a TLS 1.2 session */
	int reprobe; /* the next connection offers TLS 1.3 whatever it resumes */
	int hs_done; /* the handshake is over */
	int broken;  /* a fatal error happened: no close_notify */
};

/* Keeps each new session in the slot the connection was made with (its
 * app data), replacing the one there: the caller resumes from it on its
 * next connection. Returns 1: the reference is kept. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	tlso_sess **slot = SSL_get_app_data(ssl);
	if (slot == NULL)
		return 0;
	SSL_SESSION_free(*slot);
	*slot = sess;
	return 1;
}

/* Trusts the certificates of the PEM text pem (len bytes). Returns how many. */
static int add_pem_cas(SSL_CTX *ctx, const char *pem, size_t len)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	STACK_OF(X509_INFO) *infos = b != NULL ? PEM_X509_INFO_read_bio(b, NULL, NULL, NULL) : NULL;
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	int n = 0;
	for (int i = 0; infos != NULL && i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *xi = sk_X509_INFO_value(infos, i);
		if (xi->x509 != NULL && X509_STORE_add_cert(store, xi->x509) == 1)
			n++;
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(b);
	ERR_clear_error();
	return n;
}

int tlso_cfg_new(const plan_tls *opts, tlso_cfg **out, char *err, size_t errlen)
{
	static const unsigned char alpn[] = "\x08http/1.1";
	tlso_cfg *cfg = calloc(1, sizeof(*cfg));
	int rv = HERD_ENOMEM;

	if (cfg == NULL || (cfg->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, errlen, "tls: out of memory");
		goto fail;
	}
	SSL_CTX *ctx = cfg->ctx;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Partial writes: a request larger than a record goes out record by
	 * record. Released buffers during the handshake: a connection waiting
	 * for the server's next flight holds no record buffers (many handshakes
	 * at once would otherwise hold 2 x 17 kB each). Once it is done the
	 * buffers stay while requests follow each other (releasing them would
	 * free and allocate both at every request: 8% of the instructions per
	 * keep-alive request), and the driver frees them when the connection
	 * goes idle (tlso_idle). An end of stream without close_notify is an
	 * end (0), as in tlsconn; HTTP's own framing says whether the response
	 * was whole. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	                          SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* One recv() takes a whole response's records, not a header then a body. */
	SSL_CTX_set_read_ahead(ctx, 1);
	if (SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1) != 0) {
		snprintf(err, errlen, "tls: out of memory");
		goto fail;
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, on_new_session);
	if (opts != NULL && opts->insecure_skip_verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	} else {
		if (opts != NULL && opts->ca != NULL && opts->ca_pem != NULL) {
			if (add_pem_cas(ctx, opts->ca_pem, opts->ca_len) == 0) {
				snprintf(err, errlen, "tls.ca '%s' cannot be used: no certificate in it", opts->ca);
				rv = HERD_EIO;
				goto fail;
			}
		} else if (SSL_CTX_load_verify_file(ctx, TLSCONN_SYSTEM_CA) != 1) {
			ERR_clear_error();
			snprintf(err, errlen, "the system CA store '%s' cannot be used", TLSCONN_SYSTEM_CA);
			rv = HERD_EIO;
			goto fail;
		}
		/* As libcurl does: a certificate of the CA file is an anchor even
		 * when it is not self-signed (an intermediate, or the server's own). */
		X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_PARTIAL_CHAIN);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	*out = cfg;
	return HERD_OK;
fail:
	tlso_cfg_free(cfg);
	return rv;
}

void tlso_cfg_free(tlso_cfg *cfg)
{
	if (cfg == NULL)
		return;
	SSL_CTX_free(cfg->ctx);
	free(cfg);
}

int tlso_new(tlso_cfg *cfg, tlso **out)
{
	tlso *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return HERD_ENOMEM;
	t->cfg = cfg;
	*out = t;
	return HERD_OK;
}

/* Sets up t->ssl for host: SNI and the name or address the certificate
 * must hold, each replacing what an earlier host set. Returns 1, or 0. */
static int set_peer(tlso *t, const char *host)
{
	unsigned char ip[16];
	X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);
	free(t->host);
	if ((t->host = strdup(host)) == NULL)
		return 0;
	if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1) {
		/* No SNI for an address (RFC 6066, section 3); it must be an IP name. */
		return SSL_set_tlsext_host_name(t->ssl, NULL) == 1 && SSL_set1_host(t->ssl, NULL) == 1 &&
		       X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1;
	}
	return X509_VERIFY_PARAM_set1_ip(param, NULL, 0) == 1 && SSL_set_tlsext_host_name(t->ssl, host) == 1 &&
	       SSL_set1_host(t->ssl, host) == 1;
}

/* Drops t's SSL object and what it was set up for. */
static void drop_ssl(tlso *t)
{
	SSL_free(t->ssl);
	t->ssl = NULL;
	free(t->host);
	t->host = NULL;
}

int tlso_start(tlso *t, int fd, const char *host, tlso_sess **slot)
{
	if (t->ssl == NULL && (t->ssl = SSL_new(t->cfg->ctx)) == NULL)
		goto fail;
	/* Released buffers until the handshake is done (see tlso_cfg_new). */
	SSL_set_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_set_fd(t->ssl, fd) != 1)
		goto fail;
	if ((t->host == NULL || strcmp(t->host, host) != 0) && !set_peer(t, host))
		goto fail;
	/* A reused object keeps its last session: this one is what resumes. */
	SSL_set_app_data(t->ssl, slot);
	if (SSL_set_session(t->ssl, slot != NULL ? *slot : NULL) != 1 && slot != NULL && *slot != NULL)
		SSL_set_session(t->ssl, NULL); /* a failure costs the resumption only */
	/* Resuming a TLS 1.2 session, the ClientHello offers TLS 1.2 only:
	 * offering 1.3 as well means generating a key share (X25519) that a
	 * server which chose 1.2 for this session will not use, about 55% of
	 * the client's instructions per resumed connection. The server spoke
	 * 1.2 when it was offered 1.3 (the full handshake that made the
	 * session, with its downgrade check), and the offer of 1.3 comes back
	 * on the connection after any that did not resume (see reprobe): a
	 * server that changed, or refused the session, is asked again. */
	t->capped = slot != NULL && *slot != NULL && !t->reprobe &&
	            SSL_SESSION_get_protocol_version(*slot) == TLS1_2_VERSION;
	if (SSL_set_max_proto_version(t->ssl, t->capped ? TLS1_2_VERSION : 0) != 1)
		goto fail;
	SSL_set_verify_result(t->ssl, X509_V_OK);
	ERR_clear_error();
	t->live = 1;
	t->hs_done = 0;
	t->broken = 0;
	return HERD_OK;
fail:
	ERR_clear_error();
	drop_ssl(t);
	return HERD_ENOMEM;
}

void tlso_end(tlso *t)
{
	if (t == NULL || !t->live)
		return;
	t->live = 0;
	/* A TLS 1.2-only offer whose handshake did not finish (refused,
	 * failed, cut short): the next connection offers 1.3 again. */
	if (t->capped && !t->hs_done)
		t->reprobe = 1;
	if (t->hs_done && !t->broken) {
		SSL_shutdown(t->ssl);
		ERR_clear_error();
	}
	/* After a failure, a handshake cut short, or a reset that fails, the
	 * next connection starts from a new object rather than from whatever
	 * state this one was left in. */
	if (t->broken || !t->hs_done || SSL_clear(t->ssl) != 1) {
		ERR_clear_error();
		drop_ssl(t);
		return;
	}
	SSL_free_buffers(t->ssl);
}

void tlso_free(tlso *t)
{
	if (t == NULL)
		return;
	tlso_end(t);
	drop_ssl(t);
	free(t);
}

/* Maps the outcome rv of an SSL call to a TLSC_* result. */
static int fail_kind(tlso *t, int rv)
{
	int e = SSL_get_error(t->ssl, rv);
	ERR_clear_error();
	switch (e) {
	case SSL_ERROR_WANT_READ:
		return TLSC_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLSC_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		t->broken = 1;
		return TLSC_ECLOSED;
	default:
		t->broken = 1;
		if (!t->hs_done && SSL_get_verify_result(t->ssl) != X509_V_OK)
			return TLSC_ECERT;
		return TLSC_EFAIL;
	}
}

int tlso_handshake(tlso *t)
{
	int rv = SSL_connect(t->ssl);
	if (rv == 1) {
		t->hs_done = 1;
		/* A TLS 1.2-only offer that did not resume: the next connection
		 * offers 1.3 again. A full offer that is done: capping may resume. */
		t->reprobe = t->capped && !SSL_session_reused(t->ssl);
		SSL_clear_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS); /* see tlso_cfg_new */
		return TLSC_OK;
	}
	rv = fail_kind(t, rv);
	/* The server closed before the handshake was done. */
	return rv == 0 ? TLSC_ECLOSED : rv;
}

ssize_t tlso_read(tlso *t, void *buf, size_t len)
{
	size_t n = 0;
	int rv = SSL_read_ex(t->ssl, buf, len, &n);
	return rv == 1 ? (ssize_t)n : fail_kind(t, rv);
}

ssize_t tlso_write(tlso *t, const void *buf, size_t len)
{
	size_t n = 0;
	int rv = SSL_write_ex(t->ssl, buf, len, &n);
	if (rv == 1)
		return (ssize_t)n;
	rv = fail_kind(t, rv);
	return rv == 0 ? TLSC_ECLOSED : rv;
}

int tlso_pending(const tlso *t)
{
	return SSL_has_pending(t->ssl);
}

void tlso_idle(tlso *t)
{
	if (!t->live) {
		drop_ssl(t); /* what tlso_start reuses, when connections follow each other */
		return;
	}
	SSL_free_buffers(t->ssl); /* fails, harmlessly, while bytes are held */
}

const char *tlso_cert_error(const tlso *t, char *buf, size_t len)
{
	long v = SSL_get_verify_result(t->ssl);
	snprintf(buf, len, "%s", v != X509_V_OK ? X509_verify_cert_error_string(v) : "the certificate was refused");
	return buf;
}

void tlso_sess_free(tlso_sess *s)
{
	SSL_SESSION_free(s);
}
