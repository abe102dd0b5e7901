/* One diagnostic TLS handshake with the controller; see tlscheck.h. */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "common/clock.h"
#include "common/err.h"
#include "net/tlscheck.h"

/* Opens a blocking TCP connection to host:port within ms, with send and
 * receive time limits of ms. Returns the socket, or -1 with errno set. */
static int dial(const char *host, const char *port, int ms)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	int fd = -1, e = ECONNREFUSED;

	if (getaddrinfo(host, port, &hints, &res) != 0) {
		errno = EHOSTUNREACH;
		return -1;
	}
	for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			continue;
		int ok = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
		if (!ok && errno == EINPROGRESS) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			socklen_t sl = sizeof(e);
			int so = 0;
			if (poll(&p, 1, ms) != 1)
				e = ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) != 0 || so != 0)
				e = so ? so : errno;
			else
				ok = 1;
		} else if (!ok) {
			e = errno;
		}
		if (!ok) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		errno = e;
		return -1;
	}
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* The names a certificate is for, as "DNS:a, IP:b" (or its subject when it
 * has none: mbedTLS then matches the CN). */
static void cert_names(const mbedtls_x509_crt *crt, char *out, size_t outlen)
{
	size_t o = 0;
	out[0] = '\0';
	for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; s != NULL && s->buf.p != NULL;
	     s = s->next) {
		char addr[INET6_ADDRSTRLEN];
		int n;
		/* The entries keep their GeneralName tag: [2] a DNS name, [7] an
		 * address (4 or 16 bytes); others are not names mbedTLS matches. */
		if (s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2))
			n = snprintf(out + o, outlen - o, "%sDNS:%.*s", o ? ", " : "", (int)s->buf.len, s->buf.p);
		else if (s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && (s->buf.len == 4 || s->buf.len == 16) &&
		         inet_ntop(s->buf.len == 4 ? AF_INET : AF_INET6, s->buf.p, addr, sizeof(addr)) != NULL)
			n = snprintf(out + o, outlen - o, "%sIP:%s", o ? ", " : "", addr);
		else
			continue;
		if (n < 0 || (size_t)n >= outlen - o)
			return;
		o += (size_t)n;
	}
	if (o == 0) {
		char dn[256];
		if (mbedtls_x509_dn_gets(dn, sizeof(dn), &crt->subject) > 0)
			snprintf(out, outlen, "no DNS names, subject %s", dn);
		else
			snprintf(out, outlen, "no names");
	}
}

int tlscheck_controller(const char *url, const net_tls_files *f, const char *name, int ms, char *err,
                        size_t errlen)
{
	static const unsigned char pers[] = "herd-agent tlscheck";
	mbedtls_net_context net;
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca, own;
	mbedtls_pk_context key;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	char host[256], port[16], why[200];
	int rv, ret;

	mbedtls_net_init(&net);
	mbedtls_ssl_init(&ssl);
	mbedtls_ssl_config_init(&conf);
	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_crt_init(&own);
	mbedtls_pk_init(&key);
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);

	if (net_url_split(url, host, sizeof(host), port, sizeof(port)) != 0) {
		snprintf(err, errlen, "%s: not a HOST:PORT address", url);
		rv = HERD_EINVAL;
		goto out;
	}
	if (mbedtls_x509_crt_parse_file(&ca, f->ca) != 0 || mbedtls_x509_crt_parse_file(&own, f->cert) != 0 ||
	    mbedtls_pk_parse_keyfile(&key, f->key, NULL) != 0) {
		snprintf(err, errlen, "TLS: cannot read --tls-ca %s, --tls-cert %s or --tls-key %s", f->ca, f->cert,
		         f->key);
		rv = HERD_EINVAL;
		goto out;
	}
	if ((ret = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, pers, sizeof(pers) - 1)) != 0 ||
	    (ret = mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
	                                       MBEDTLS_SSL_PRESET_DEFAULT)) != 0 ||
	    (ret = mbedtls_ssl_conf_own_cert(&conf, &own, &key)) != 0) {
		mbedtls_strerror(ret, why, sizeof(why));
		snprintf(err, errlen, "TLS: %s", why);
		rv = HERD_EINTERNAL;
		goto out;
	}
	/* Optional: the handshake completes whatever the certificate, so that
	 * what is wrong with it can be told; nothing is sent over it. */
	mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
	mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
	mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
	if ((ret = mbedtls_ssl_setup(&ssl, &conf)) != 0 || (ret = mbedtls_ssl_set_hostname(&ssl, name)) != 0) {
		mbedtls_strerror(ret, why, sizeof(why));
		snprintf(err, errlen, "TLS: %s", why);
		rv = HERD_EINTERNAL;
		goto out;
	}
	if ((net.fd = dial(host, port, ms)) < 0) {
		snprintf(err, errlen, "cannot connect to %s: %s", url, strerror(errno));
		rv = HERD_ENET;
		goto out;
	}
	mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);
	int64_t deadline = clock_mono_ns() + (int64_t)ms * 1000000;
	while ((ret = mbedtls_ssl_handshake(&ssl)) == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
		if (clock_mono_ns() > deadline)
			break;
	const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&ssl);
	if (ret != 0 || peer == NULL) {
		mbedtls_strerror(ret, why, sizeof(why));
		snprintf(err, errlen, "TLS handshake with %s failed: %s", url, why);
		rv = HERD_ENET;
		goto out;
	}
	uint32_t flags = mbedtls_ssl_get_verify_result(&ssl);
	char names[512];
	cert_names(peer, names, sizeof(names));
	rv = HERD_EAUTH;
	if (flags & (MBEDTLS_X509_BADCERT_NOT_TRUSTED | MBEDTLS_X509_BADCERT_REVOKED | MBEDTLS_X509_BADCERT_EXPIRED |
	             MBEDTLS_X509_BADCERT_FUTURE | MBEDTLS_X509_BADCERT_BAD_MD | MBEDTLS_X509_BADCERT_BAD_PK |
	             MBEDTLS_X509_BADCERT_BAD_KEY | MBEDTLS_X509_BADCERT_OTHER)) {
		char info[256];
		mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags & ~MBEDTLS_X509_BADCERT_CN_MISMATCH);
		for (char *c = info; *c != '\0'; c++)
			if (*c == '\n')
				*c = ' ';
		snprintf(err, errlen, "refused the controller's certificate (%s): its chain does not end at --tls-ca %s: %s",
		         names, f->ca, info);
	} else if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) {
		struct in6_addr a6;
		int is_addr = strchr(name, ':') != NULL ? inet_pton(AF_INET6, name, &a6) == 1
		                                        : strspn(name, "0123456789.") == strlen(name);
		snprintf(err, errlen,
		         "refused the controller's certificate: expected the name %s, the certificate is for %s%s", name,
		         names,
		         is_addr ? " (an address is matched against the certificate's DNS names: give "
		                   "--tls-server-name NAME, a name the certificate has)"
		                 : "");
	} else if ((flags & MBEDTLS_X509_BADCERT_EXT_KEY_USAGE) ||
	           mbedtls_x509_crt_check_extended_key_usage(peer, MBEDTLS_OID_SERVER_AUTH,
	                                                     MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) != 0) {
		snprintf(err, errlen,
		         "refused the controller's certificate (%s): its extendedKeyUsage does not include serverAuth",
		         names);
	} else if (flags != 0) {
		char info[256];
		mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
		for (char *c = info; *c != '\0'; c++)
			if (*c == '\n')
				*c = ' ';
		snprintf(err, errlen, "refused the controller's certificate (%s): %s", names, info);
	} else {
		rv = HERD_OK;
	}
	mbedtls_ssl_close_notify(&ssl);
out:
	mbedtls_net_free(&net);
	mbedtls_ssl_free(&ssl);
	mbedtls_ssl_config_free(&conf);
	mbedtls_x509_crt_free(&ca);
	mbedtls_x509_crt_free(&own);
	mbedtls_pk_free(&key);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	return rv;
}
