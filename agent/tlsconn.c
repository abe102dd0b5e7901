/*
 * TLS client sessions over non-blocking sockets with mbedTLS; see tlsconn.h.
 * The socket I/O is our own (send with MSG_NOSIGNAL, byte counts), and IP
 * addresses are checked against the certificate here because mbedTLS 2.28
 * matches DNS names only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <mbedtls/asn1.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

#include "agent/tlsconn.h"
#include "common/err.h"

struct tlsconn_cfg {
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	int verify; /* the server's certificate is checked */
};

struct tlsconn {
	mbedtls_ssl_context ssl;
	tlsconn_cfg *cfg;
	int fd;
	uint8_t ip[16]; /* the host as an address, when it is one */
	size_t iplen;   /* 4 or 16; 0 for a DNS name */
	int closed;     /* the socket reported end of stream or an error */
	int hs_done;    /* the handshake is over */
	size_t wpend;   /* bytes of a write taken by mbedTLS but not yet flushed */
	uint64_t bytes_in, bytes_out;
};

/* ---- socket I/O for mbedTLS ---- */

static int bio_send(void *arg, const unsigned char *buf, size_t len)
{
	tlsconn *t = arg;
	for (;;) {
		ssize_t n = send(t->fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0) {
			t->bytes_out += (uint64_t)n;
			return (int)n;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return MBEDTLS_ERR_SSL_WANT_WRITE;
		t->closed = 1;
		return errno == EPIPE || errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET
		                                             : MBEDTLS_ERR_NET_SEND_FAILED;
	}
}

static int bio_recv(void *arg, unsigned char *buf, size_t len)
{
	tlsconn *t = arg;
	for (;;) {
		ssize_t n = recv(t->fd, buf, len, 0);
		if (n > 0) {
			t->bytes_in += (uint64_t)n;
			return (int)n;
		}
		if (n == 0) {
			t->closed = 1;
			return 0; /* mbedTLS reports it as MBEDTLS_ERR_SSL_CONN_EOF */
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return MBEDTLS_ERR_SSL_WANT_READ;
		t->closed = 1;
		return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
	}
}

static int map_err(const tlsconn *t, int rv)
{
	switch (rv) {
	case MBEDTLS_ERR_SSL_WANT_READ:
		return TLSC_WANT_READ;
	case MBEDTLS_ERR_SSL_WANT_WRITE:
		return TLSC_WANT_WRITE;
	case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
		return TLSC_ECERT;
	default:
		return t->closed ? TLSC_ECLOSED : TLSC_EFAIL;
	}
}

/* ---- IP addresses in certificates ---- */

/*
 * 1 when the subjectAltName extension of crt lists the address ip (iplen
 * bytes) as an iPAddress. mbedTLS 2.28 keeps only the DNS names of that
 * extension, so this walks its DER: Extensions is a SEQUENCE of Extension
 * { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }, and
 * the value of subjectAltName is a SEQUENCE of GeneralName, where [7] is an
 * iPAddress.
 */
static int cert_has_ip(const mbedtls_x509_crt *crt, const uint8_t *ip, size_t iplen)
{
	unsigned char *p = crt->v3_ext.p, *end;
	size_t len;

	if (p == NULL || crt->v3_ext.len == 0)
		return 0;
	end = p + crt->v3_ext.len;
	if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
		return 0;
	end = p + len;
	while (p < end) {
		unsigned char *ext_end;
		mbedtls_x509_buf oid;
		int critical;
		size_t vlen;

		if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) !=
		    0)
			return 0;
		ext_end = p + len;
		if (mbedtls_asn1_get_tag(&p, ext_end, &oid.len, MBEDTLS_ASN1_OID) != 0)
			return 0;
		oid.p = p;
		p += oid.len;
		if (p < ext_end && *p == MBEDTLS_ASN1_BOOLEAN &&
		    mbedtls_asn1_get_bool(&p, ext_end, &critical) != 0)
			return 0;
		if (mbedtls_asn1_get_tag(&p, ext_end, &vlen, MBEDTLS_ASN1_OCTET_STRING) != 0)
			return 0;
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_SUBJECT_ALT_NAME, &oid) == 0) {
			unsigned char *q = p, *names_end;
			if (mbedtls_asn1_get_tag(&q, p + vlen, &len,
			                         MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
				return 0;
			names_end = q + len;
			while (q < names_end) {
				unsigned char tag = *q++;
				size_t nlen;
				if (mbedtls_asn1_get_len(&q, names_end, &nlen) != 0)
					return 0;
				if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && nlen == iplen &&
				    memcmp(q, ip, iplen) == 0)
					return 1;
				q += nlen;
			}
			return 0;
		}
		p = ext_end;
	}
	return 0;
}

/* Verification callback for a host given as an address: the server's own
 * certificate (depth 0) must list it. */
static int verify_ip(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	const tlsconn *t = arg;
	if (depth == 0 && !cert_has_ip(crt, t->ip, t->iplen))
		*flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
	return 0;
}

/* ---- configuration ---- */

int tlsconn_cfg_new(const plan_tls *opts, tlsconn_cfg **out, char *err, size_t errlen)
{
	static const unsigned char pers[] = "herd-agent tls";
	char why[160];
	tlsconn_cfg *cfg = calloc(1, sizeof(*cfg));
	int rv;

	if (cfg == NULL) {
		snprintf(err, errlen, "out of memory");
		return HERD_ENOMEM;
	}
	mbedtls_ssl_config_init(&cfg->conf);
	mbedtls_x509_crt_init(&cfg->ca);
	mbedtls_entropy_init(&cfg->entropy);
	mbedtls_ctr_drbg_init(&cfg->drbg);
	if ((rv = mbedtls_ctr_drbg_seed(&cfg->drbg, mbedtls_entropy_func, &cfg->entropy, pers,
	                                sizeof(pers) - 1)) != 0) {
		mbedtls_strerror(rv, why, sizeof(why));
		snprintf(err, errlen, "tls: cannot seed the random generator: %s", why);
		rv = HERD_EINTERNAL;
		goto fail;
	}
	if ((rv = mbedtls_ssl_config_defaults(&cfg->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
	                                      MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
		mbedtls_strerror(rv, why, sizeof(why));
		snprintf(err, errlen, "tls: cannot set up a client configuration: %s", why);
		rv = HERD_EINTERNAL;
		goto fail;
	}
	mbedtls_ssl_conf_rng(&cfg->conf, mbedtls_ctr_drbg_random, &cfg->drbg);
#if MBEDTLS_VERSION_MAJOR >= 3
	mbedtls_ssl_conf_min_tls_version(&cfg->conf, MBEDTLS_SSL_VERSION_TLS1_2);
#else
	mbedtls_ssl_conf_min_version(&cfg->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
#endif
	if (opts != NULL && opts->insecure_skip_verify) {
		mbedtls_ssl_conf_authmode(&cfg->conf, MBEDTLS_SSL_VERIFY_NONE);
	} else {
		int own = opts != NULL && opts->ca != NULL && opts->ca_pem != NULL;
		const char *path = own ? opts->ca : TLSCONN_SYSTEM_CA;
		const char *what = own ? "tls.ca" : "the system CA store";
		/* A positive result counts certificates that did not parse: the
		 * system store may hold a few mbedTLS cannot read, the plan's own
		 * file may not. The plan's file came with it (p->files); PEM text
		 * is parsed with its terminating NUL. */
		if (own) {
			rv = mbedtls_x509_crt_parse(&cfg->ca, (const unsigned char *)opts->ca_pem, opts->ca_len + 1);
		} else {
			FILE *f = fopen(path, "r");
			if (f == NULL) {
				snprintf(err, errlen, "%s '%s' cannot be used: %s", what, path, strerror(errno));
				rv = HERD_EIO;
				goto fail;
			}
			fclose(f);
			rv = mbedtls_x509_crt_parse_file(&cfg->ca, path);
		}
		if (rv < 0 || cfg->ca.version == 0) {
			if (rv < 0)
				mbedtls_strerror(rv, why, sizeof(why));
			else
				snprintf(why, sizeof(why), "no certificate in it");
			snprintf(err, errlen, "%s '%s' cannot be used: %s", what, path, why);
			rv = HERD_EIO;
			goto fail;
		}
		if (rv > 0 && own) {
			snprintf(err, errlen, "%s '%s': %d of its certificates cannot be parsed", what, path,
			         rv);
			rv = HERD_EIO;
			goto fail;
		}
		mbedtls_ssl_conf_authmode(&cfg->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
		mbedtls_ssl_conf_ca_chain(&cfg->conf, &cfg->ca, NULL);
		cfg->verify = 1;
	}
	*out = cfg;
	return HERD_OK;
fail:
	tlsconn_cfg_free(cfg);
	return rv;
}

void tlsconn_cfg_free(tlsconn_cfg *cfg)
{
	if (cfg == NULL)
		return;
	mbedtls_ssl_config_free(&cfg->conf);
	mbedtls_x509_crt_free(&cfg->ca);
	mbedtls_ctr_drbg_free(&cfg->drbg);
	mbedtls_entropy_free(&cfg->entropy);
	free(cfg);
}

/* ---- sessions ---- */

int tlsconn_new(tlsconn_cfg *cfg, int fd, const char *host, tlsconn **out)
{
	tlsconn *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return HERD_ENOMEM;
	t->cfg = cfg;
	t->fd = fd;
	mbedtls_ssl_init(&t->ssl);
	if (mbedtls_ssl_setup(&t->ssl, &cfg->conf) != 0)
		goto fail;
	if (inet_pton(AF_INET, host, t->ip) == 1)
		t->iplen = 4;
	else if (inet_pton(AF_INET6, host, t->ip) == 1)
		t->iplen = 16;
	if (t->iplen > 0) {
		/* No SNI for an address (RFC 6066, section 3). */
		if (cfg->verify)
			mbedtls_ssl_set_verify(&t->ssl, verify_ip, t);
	} else if (mbedtls_ssl_set_hostname(&t->ssl, host) != 0) {
		goto fail;
	}
	mbedtls_ssl_set_bio(&t->ssl, t, bio_send, bio_recv, NULL);
	*out = t;
	return HERD_OK;
fail:
	mbedtls_ssl_free(&t->ssl);
	free(t);
	return HERD_ENOMEM;
}

void tlsconn_free(tlsconn *t)
{
	if (t == NULL)
		return;
	/* One try: a close_notify that cannot leave at once is not waited for.
	 * None after a write that was not taken: sending the alert would first
	 * flush that write's record, bytes the caller was told did not go. */
	if (t->hs_done && !t->closed && t->wpend == 0)
		mbedtls_ssl_close_notify(&t->ssl);
	mbedtls_ssl_free(&t->ssl);
	free(t);
}

int tlsconn_handshake(tlsconn *t)
{
	int rv = mbedtls_ssl_handshake(&t->ssl);
	if (rv == 0) {
		t->hs_done = 1;
		return TLSC_OK;
	}
	return map_err(t, rv);
}

ssize_t tlsconn_read(tlsconn *t, void *buf, size_t len)
{
	int rv = mbedtls_ssl_read(&t->ssl, buf, len);
	if (rv > 0)
		return rv;
	if (rv == 0 || rv == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || rv == MBEDTLS_ERR_SSL_CONN_EOF)
		return 0;
	return map_err(t, rv);
}

ssize_t tlsconn_write(tlsconn *t, const void *buf, size_t len)
{
	/* After a WANT_*, mbedTLS may hold a record built from the first wpend
	 * bytes: the retry must name exactly those, or it reports the wrong
	 * count once the record is flushed. */
	size_t n = t->wpend > 0 && t->wpend < len ? t->wpend : len;
	int rv = mbedtls_ssl_write(&t->ssl, buf, n);
	if (rv >= 0) {
		t->wpend = 0;
		return rv;
	}
	if (rv == MBEDTLS_ERR_SSL_WANT_WRITE || rv == MBEDTLS_ERR_SSL_WANT_READ)
		t->wpend = n;
	return map_err(t, rv);
}

size_t tlsconn_pending(const tlsconn *t)
{
	return mbedtls_ssl_get_bytes_avail(&t->ssl);
}

void tlsconn_bytes(const tlsconn *t, uint64_t *in, uint64_t *out)
{
	*in = t->bytes_in;
	*out = t->bytes_out;
}

const char *tlsconn_cert_error(const tlsconn *t, char *buf, size_t len)
{
	uint32_t flags = mbedtls_ssl_get_verify_result(&t->ssl);
	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (flags == 0 || flags == (uint32_t)-1 || mbedtls_x509_crt_verify_info(buf, len, "", flags) < 0) {
		snprintf(buf, len, "the certificate was refused");
		return buf;
	}
	/* One line: "not signed by the trusted CA; name mismatch". */
	size_t n = strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\n')
			buf[i] = ';';
	return buf;
}
