/* NNG helpers shared by agent and controller; see net.h. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/err.h"
#include "net/net.h"
#include "proto/seal.h"

int net_url_is_tls(const char *url)
{
	return strncmp(url, "tls+", 4) == 0;
}

int net_url_split(const char *url, char *host, size_t hlen, char *port, size_t plen)
{
	const char *p = strstr(url, "://"), *colon;
	if (p == NULL)
		return -1;
	p += 3;
	if (*p == '[') {
		const char *close = strchr(p, ']');
		if (close == NULL || close[1] != ':')
			return -1;
		snprintf(host, hlen, "%.*s", (int)(close - p - 1), p + 1);
		colon = close + 1;
	} else {
		colon = strrchr(p, ':');
		if (colon == NULL)
			return -1;
		snprintf(host, hlen, "%.*s", (int)(colon - p), p);
	}
	snprintf(port, plen, "%s", colon + 1);
	return host[0] != '\0' && port[0] != '\0' ? 0 : -1;
}

int net_err(int rv)
{
	switch (rv) {
	case 0: return HERD_OK;
	case NNG_ETIMEDOUT: return HERD_ETIMEDOUT;
	case NNG_ENOMEM: return HERD_ENOMEM;
	case NNG_ECLOSED: return HERD_ECLOSED;
	default: return HERD_ENET;
	}
}

static char *slurp(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	char chunk[4096];
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			char *nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				snprintf(err, errlen, "%s: out of memory", path);
				return NULL;
			}
			buf = nb;
		}
		memcpy(buf + len, chunk, n);
		len += n;
	}
	fclose(f);
	if (buf == NULL) {
		snprintf(err, errlen, "%s: empty file", path);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

int net_tls_config(int server, const net_tls_files *f, nng_tls_config **out, char *err, size_t errlen)
{
	nng_tls_config *cfg = NULL;
	char *cert = NULL, *key = NULL;
	int rv;

	if (f->cert == NULL || f->key == NULL || f->ca == NULL) {
		snprintf(err, errlen, "TLS needs --tls-cert, --tls-key and --tls-ca");
		return HERD_EINVAL;
	}
	if ((cert = slurp(f->cert, err, errlen)) == NULL || (key = slurp(f->key, err, errlen)) == NULL) {
		free(cert);
		return HERD_EINVAL;
	}
	if ((rv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT)) != 0) {
		snprintf(err, errlen, "TLS: %s", nng_strerror(rv));
		goto fail;
	}
	if ((rv = nng_tls_config_own_cert(cfg, cert, key, NULL)) != 0) {
		snprintf(err, errlen, "TLS certificate %s or key %s: %s", f->cert, f->key, nng_strerror(rv));
		goto fail;
	}
	if ((rv = nng_tls_config_ca_file(cfg, f->ca)) != 0) {
		snprintf(err, errlen, "TLS CA %s: %s", f->ca, nng_strerror(rv));
		goto fail;
	}
	/* The agent checks the controller's name too (and mbedTLS, given a name,
	 * its serverAuth usage), so that a certificate the CA gave anyone else
	 * (an agent's, another server's) does not pass for the controller's. */
	if (!server && f->server_name != NULL && (rv = nng_tls_config_server_name(cfg, f->server_name)) != 0) {
		snprintf(err, errlen, "TLS server name %s: %s", f->server_name, nng_strerror(rv));
		goto fail;
	}
	/* Mutual TLS: both sides insist on a certificate their CA signed. */
	if ((rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) != 0) {
		snprintf(err, errlen, "TLS: %s", nng_strerror(rv));
		goto fail;
	}
	free(cert);
	free(key);
	*out = cfg;
	return HERD_OK;
fail:
	if (cfg != NULL)
		nng_tls_config_free(cfg);
	free(cert);
	free(key);
	return HERD_EINVAL;
}

int net_msg(const wire_msg *m, nng_msg **out)
{
	char *buf;
	size_t len;
	int rv;
	if ((rv = wire_encode(m, &buf, &len)) != HERD_OK)
		return rv;
	rv = nng_msg_alloc(out, len);
	if (rv == 0)
		memcpy(nng_msg_body(*out), buf, len);
	free(buf);
	return rv == 0 ? HERD_OK : HERD_ENOMEM;
}

/* Sends req (taken whatever happens) on ctx and waits up to ms for the
 * reply, returned in *rep (nng_msg_free it). */
static int roundtrip(nng_ctx ctx, nng_msg *req, nng_msg **rep, int ms)
{
	nng_aio *aio = NULL;
	int rv;

	*rep = NULL;
	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
		nng_msg_free(req);
		return net_err(rv);
	}
	nng_aio_set_timeout(aio, ms);
	nng_aio_set_msg(aio, req);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(aio)); /* a failed send leaves the message with us */
		nng_aio_free(aio);
		return net_err(rv);
	}
	nng_aio_set_timeout(aio, ms);
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		nng_aio_free(aio);
		return net_err(rv);
	}
	*rep = nng_aio_get_msg(aio);
	nng_aio_free(aio);
	return HERD_OK;
}

int net_request_on(nng_ctx ctx, const wire_msg *m, wire_msg *reply, int ms, uint32_t *pipe)
{
	nng_msg *msg = NULL;
	int rv;

	memset(reply, 0, sizeof(*reply));
	if (pipe != NULL)
		*pipe = 0;
	if ((rv = net_msg(m, &msg)) != HERD_OK)
		return rv;
	if ((rv = roundtrip(ctx, msg, &msg, ms)) != HERD_OK)
		return rv;
	if (pipe != NULL)
		*pipe = nng_pipe_id(nng_msg_get_pipe(msg));
	rv = wire_decode(nng_msg_body(msg), nng_msg_len(msg), reply);
	nng_msg_free(msg);
	return rv;
}

int net_request(nng_ctx ctx, const wire_msg *m, wire_msg *reply, int ms)
{
	return net_request_on(ctx, m, reply, ms, NULL);
}

int net_sealed_request(nng_ctx ctx, const session *s, const char *id, uint32_t ch, uint64_t seq,
                       uint32_t pipe, const wire_msg *m, wire_msg *reply, int ms)
{
	nng_msg *msg = NULL;
	char *buf;
	size_t len;
	wire_msg env;
	int rv;

	memset(reply, 0, sizeof(*reply));
	if ((rv = seal_msg(s, SESSION_TO_CONTROLLER, id, ch, seq, m, &buf, &len)) != HERD_OK)
		return rv;
	rv = nng_msg_alloc(&msg, len);
	if (rv == 0)
		memcpy(nng_msg_body(msg), buf, len);
	free(buf);
	if (rv != 0)
		return HERD_ENOMEM;
	if ((rv = roundtrip(ctx, msg, &msg, ms)) != HERD_OK)
		return rv;
	uint32_t from = nng_pipe_id(nng_msg_get_pipe(msg));
	rv = wire_decode(nng_msg_body(msg), nng_msg_len(msg), &env);
	nng_msg_free(msg);
	if (rv != HERD_OK)
		return rv;
	if (env.type != WIRE_SEALED) {
		/* Not ours to obey, but the caller may look at it. */
		*reply = env;
		return HERD_EAUTH;
	}
	/* A reply for another request, session or connection does not count,
	 * however good its MAC. */
	if (env.u.sealed.ch != ch || env.u.sealed.seq != seq || strcmp(env.u.sealed.agent_id, id) != 0 ||
	    (pipe != 0 && from != pipe))
		rv = HERD_EAUTH;
	else
		rv = seal_open(s, SESSION_TO_AGENT, &env.u.sealed, reply);
	wire_msg_fini(&env);
	return rv == HERD_EPROTO || rv == HERD_EVERSION ? HERD_EAUTH : rv;
}

/* 1 when the socket address a (from the kernel) is NNG's b. */
static int same_addr(const struct sockaddr_storage *a, const nng_sockaddr *b)
{
	if (a->ss_family == AF_INET && b->s_family == NNG_AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		return x->sin_port == b->s_in.sa_port && x->sin_addr.s_addr == b->s_in.sa_addr;
	}
	if (a->ss_family == AF_INET6 && b->s_family == NNG_AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		return x->sin6_port == b->s_in6.sa_port && memcmp(&x->sin6_addr, b->s_in6.sa_addr, 16) == 0;
	}
	return 0;
}

void net_pipe_shutdown(nng_pipe p)
{
	nng_sockaddr loc, rem;
	DIR *d = NULL;
	int done = 0;
	if (nng_pipe_get_addr(p, NNG_OPT_LOCADDR, &loc) != 0 || nng_pipe_get_addr(p, NNG_OPT_REMADDR, &rem) != 0 ||
	    (loc.s_family != NNG_AF_INET && loc.s_family != NNG_AF_INET6) || (d = opendir("/proc/self/fd")) == NULL) {
		nng_pipe_close(p);
		return;
	}
	struct dirent *e;
	while (!done && (e = readdir(d)) != NULL) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		if (*end != '\0' || end == e->d_name || fd == dirfd(d))
			continue;
		struct sockaddr_storage a, b;
		socklen_t alen = sizeof(a), blen = sizeof(b);
		if (getsockname((int)fd, (struct sockaddr *)&a, &alen) != 0 || !same_addr(&a, &loc) ||
		    getpeername((int)fd, (struct sockaddr *)&b, &blen) != 0 || !same_addr(&b, &rem))
			continue;
		done = shutdown((int)fd, SHUT_RDWR) == 0;
	}
	closedir(d);
	if (!done)
		nng_pipe_close(p);
}
