/*
 * Target allowlist; see allow.h. A host name in the list matches the same
 * name only (DNS is trusted for the names listed); an address or range
 * matches IP literals and the addresses actually connected to. At assignment,
 * names not listed are resolved and every address they have must be inside
 * the list; at run time each driver checks the address of every connection it
 * opens, so neither a later answer of DNS, a redirect nor a rendered URL can
 * slip past a range. Matching is by host and port; the scheme only gives the
 * default port, and anything but http(s) (ws(s) for WebSocket steps) is
 * refused anyway.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "agent/allow.h"
#include "common/err.h"
#include "common/log.h"

typedef struct rule {
	char host[256];   /* a name, lower case; "" for address rules */
	int family;       /* AF_INET or AF_INET6 for address rules, 0 for names */
	uint8_t addr[16];
	int prefix;       /* bits that must match */
	int port;         /* 0: any */
} rule;

struct allow {
	rule *r;
	size_t n;
};

static int parse_addr(const char *s, int *family, uint8_t *addr)
{
	if (inet_pton(AF_INET, s, addr) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		*family = AF_INET6;
		return 0;
	}
	return -1;
}

/* Splits "host:port", "[v6]:port", "v6", "host" into host and port (0 when none). */
static int split_host_port(const char *s, char *host, size_t hlen, int *port)
{
	const char *colon;
	*port = 0;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || (size_t)(end - s - 1) >= hlen)
			return -1;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			return -1;
	} else {
		colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			colon = NULL; /* a bare IPv6 address */
		size_t n = colon ? (size_t)(colon - s) : strlen(s);
		if (n == 0 || n >= hlen)
			return -1;
		memcpy(host, s, n);
		host[n] = '\0';
	}
	if (colon != NULL) {
		char *end;
		long p = strtol(colon + 1, &end, 10);
		if (*end != '\0' || p < 1 || p > 65535)
			return -1;
		*port = (int)p;
	}
	return 0;
}

static int parse_rule(const char *item, rule *r)
{
	char buf[300];
	memset(r, 0, sizeof(*r));
	const char *slash = strchr(item, '/');
	if (slash != NULL) {
		size_t n = (size_t)(slash - item);
		char *end;
		if (n == 0 || n >= sizeof(buf))
			return -1;
		memcpy(buf, item, n);
		buf[n] = '\0';
		if (parse_addr(buf, &r->family, r->addr) != 0)
			return -1;
		long bits = strtol(slash + 1, &end, 10);
		int max = r->family == AF_INET ? 32 : 128;
		if (*end != '\0' || slash[1] == '\0' || bits < 0 || bits > max)
			return -1;
		r->prefix = (int)bits;
		return 0;
	}
	if (split_host_port(item, buf, sizeof(buf), &r->port) != 0)
		return -1;
	if (parse_addr(buf, &r->family, r->addr) == 0) {
		r->prefix = r->family == AF_INET ? 32 : 128;
		return 0;
	}
	if (strlen(buf) >= sizeof(r->host))
		return -1;
	for (size_t i = 0; buf[i]; i++)
		r->host[i] = (char)((buf[i] >= 'A' && buf[i] <= 'Z') ? buf[i] + 32 : buf[i]);
	return 0;
}

int allow_parse(const char *list, allow **out, char *err, size_t errlen)
{
	allow *a = calloc(1, sizeof(*a));
	char *copy = strdup(list), *save = NULL, *item;
	size_t cap = 1;
	for (const char *p = list; *p; p++)
		cap += *p == ',';
	if (a == NULL || copy == NULL || (a->r = calloc(cap, sizeof(*a->r))) == NULL) {
		free(copy);
		allow_free(a);
		return HERD_ENOMEM;
	}
	for (item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		while (*item == ' ')
			item++;
		if (*item == '\0')
			continue;
		if (parse_rule(item, &a->r[a->n]) != 0) {
			snprintf(err, errlen, "--allow-target: cannot read '%s' (expected HOST[:PORT], IP[:PORT] or CIDR)", item);
			free(copy);
			allow_free(a);
			return HERD_EINVAL;
		}
		a->n++;
	}
	free(copy);
	if (a->n == 0) {
		snprintf(err, errlen, "--allow-target: the list is empty");
		allow_free(a);
		return HERD_EINVAL;
	}
	*out = a;
	return HERD_OK;
}

void allow_free(allow *a)
{
	if (a == NULL)
		return;
	free(a->r);
	free(a);
}

static int in_rule(const rule *r, int family, const uint8_t *addr, int port)
{
	if (r->family != family || (r->port != 0 && r->port != port))
		return 0;
	int full = r->prefix / 8, rest = r->prefix % 8;
	if (memcmp(r->addr, addr, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (r->addr[full] & mask) == (addr[full] & mask);
}

static int addr_allowed(const allow *a, int family, const uint8_t *addr, int port)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->r[i].host[0] == '\0' && in_rule(&a->r[i], family, addr, port))
			return 1;
	return 0;
}

/* Whether a host name matches a name rule for port. */
static int name_allowed(const allow *a, const char *host, int port)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->r[i].host[0] != '\0' && strcasecmp(a->r[i].host, host) == 0 &&
		    (a->r[i].port == 0 || a->r[i].port == port))
			return 1;
	return 0;
}

/* The host (lower case, no brackets) and port of an http(s):// or ws(s)://
 * URL; -1 when it has none of those schemes or no host. */
static int url_host(const char *url, char *host, size_t hlen, int *port)
{
	char hostport[300];
	int def_port;
	const char *p;

	if (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "ws://", 5) == 0)
		def_port = 80;
	else if (strncasecmp(url, "https://", 8) == 0 || strncasecmp(url, "wss://", 6) == 0)
		def_port = 443;
	else
		return -1;
	p = strstr(url, "://") + 3;
	size_t n = strcspn(p, "/?#");
	const char *at = memchr(p, '@', n); /* user:password@ is not part of the host */
	if (at != NULL) {
		n -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	if (n == 0 || n >= sizeof(hostport))
		return -1;
	memcpy(hostport, p, n);
	hostport[n] = '\0';
	if (split_host_port(hostport, host, hlen, port) != 0)
		return -1;
	if (*port == 0)
		*port = def_port;
	for (char *c = host; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c + 32);
	return 0;
}

int allow_check_url(const allow *a, const char *url, char *err, size_t errlen)
{
	char host[300];
	int port;

	if (url_host(url, host, sizeof(host), &port) != 0)
		goto refuse_unparsed;
	int family;
	uint8_t addr[16];
	if (parse_addr(host, &family, addr) == 0) {
		if (addr_allowed(a, family, addr, port))
			return HERD_OK;
	} else {
		if (name_allowed(a, host, port))
			return HERD_OK;
		/* A name: every address it has must be allowed. */
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
		int all = 1, any = 0;
		if (getaddrinfo(host, NULL, &hints, &res) == 0) {
			for (ai = res; ai != NULL; ai = ai->ai_next) {
				any = 1;
				if (ai->ai_family == AF_INET)
					all &= addr_allowed(a, AF_INET, (const uint8_t *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr, port);
				else if (ai->ai_family == AF_INET6)
					all &= addr_allowed(a, AF_INET6, (const uint8_t *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, port);
			}
			freeaddrinfo(res);
		}
		if (any && all)
			return HERD_OK;
	}
	snprintf(err, errlen, "target %s:%d is not allowed by --allow-target on this agent", host, port);
	return HERD_EINVAL;
refuse_unparsed:
	snprintf(err, errlen, "target URL '%s' cannot be checked against --allow-target", url);
	return HERD_EINVAL;
}

int allow_check_family(const plan *p, int family, char *err, size_t errlen)
{
	const char *fam = family == AF_INET ? "IPv4" : "IPv6";
	if (family == AF_UNSPEC)
		return HERD_OK;
	for (size_t i = 0; i < p->nscenarios; i++)
		for (size_t j = 0; j < p->scenarios[i].nsteps; j++) {
			const plan_step *s = &p->scenarios[i].steps[j];
			char host[300];
			int port, f;
			uint8_t addr[16];
			if (s->kind != STEP_HTTP && s->kind != STEP_WS)
				continue;
			if (url_host(s->url, host, sizeof(host), &port) != 0)
				continue; /* not a URL a driver can dial: it fails there */
			if (parse_addr(host, &f, addr) == 0) {
				if (f == family)
					continue;
				int v6 = f == AF_INET6;
				snprintf(err, errlen,
				         "target %s%s%s:%d is %s, and --source-addresses on this agent holds %s addresses",
				         v6 ? "[" : "", host, v6 ? "]" : "", port, v6 ? "IPv6" : "IPv4", fam);
				return HERD_EINVAL;
			}
			struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_STREAM }, *res = NULL;
			int rv = getaddrinfo(host, NULL, &hints, &res);
			if (res != NULL)
				freeaddrinfo(res);
			if (rv != 0) {
				snprintf(err, errlen,
				         "target %s:%d has no %s address, and --source-addresses on this agent holds %s "
				         "addresses", host, port, fam, fam);
				return HERD_EINVAL;
			}
		}
	return HERD_OK;
}

int allow_check_plan(const allow *a, const plan *p, char *err, size_t errlen)
{
	if (a == NULL)
		return HERD_OK;
	for (size_t i = 0; i < p->nscenarios; i++)
		for (size_t j = 0; j < p->scenarios[i].nsteps; j++) {
			const plan_step *s = &p->scenarios[i].steps[j];
			int rv;
			if ((s->kind == STEP_HTTP || s->kind == STEP_WS) && (rv = allow_check_url(a, s->url, err, errlen)) != HERD_OK)
				return rv;
		}
	return HERD_OK;
}

/* url for a message: its first 80 bytes, a password or token in its user
 * info (from a data file, say) replaced by "***". */
static void show_url(const char *url, char *out, size_t len)
{
	const char *auth = strstr(url, "://");
	size_t n = auth != NULL ? strcspn(auth + 3, "/?#") : 0;
	const char *at = auth != NULL ? memchr(auth + 3, '@', n) : NULL;
	int scheme = auth != NULL ? (int)(auth + 3 - url) : 0;
	if (at == NULL)
		snprintf(out, len, "%.80s", url);
	else
		snprintf(out, len, "%.*s***%.60s", scheme < 40 ? scheme : 40, url, at);
}

int allow_check_request(const allow *a, const char *url, char *err, size_t errlen)
{
	char host[300], shown[128];
	int port, family;
	uint8_t addr[16];

	/* libcurl speaks far more than http: file:// reads the agent's own
	 * files, gopher:// and the like write raw bytes to any port. */
	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
		show_url(url, shown, sizeof(shown));
		snprintf(err, errlen, "URL '%s' is not http:// or https://", shown);
		return HERD_EREFUSED;
	}
	if (url_host(url, host, sizeof(host), &port) != 0) {
		show_url(url, shown, sizeof(shown));
		snprintf(err, errlen, "URL '%s' has no host this agent can check", shown);
		return HERD_EREFUSED;
	}
	if (a == NULL || name_allowed(a, host, port))
		return HERD_OK;
	if (parse_addr(host, &family, addr) != 0)
		return HERD_OK; /* a name: its address is checked when connecting */
	if (addr_allowed(a, family, addr, port))
		return HERD_OK;
	int v6 = family == AF_INET6;
	snprintf(err, errlen, "target %s%s%s:%d is not allowed by --allow-target on this agent", v6 ? "[" : "",
	         host, v6 ? "]" : "", port);
	return HERD_EREFUSED;
}

int allow_check_addr(const allow *a, const char *host, const struct sockaddr *sa, char *err, size_t errlen)
{
	char name[300] = "", shown[INET6_ADDRSTRLEN] = "?";
	const uint8_t *addr;
	int port;

	if (a == NULL)
		return HERD_OK;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		addr = (const uint8_t *)&in->sin_addr;
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		addr = (const uint8_t *)&in6->sin6_addr;
		port = ntohs(in6->sin6_port);
	} else {
		snprintf(err, errlen, "a connection of address family %d is not allowed by --allow-target",
		         sa->sa_family);
		return HERD_EREFUSED;
	}
	if (host != NULL) {
		/* "[::1]" as libcurl writes an IPv6 host: the brackets are no part of it. */
		size_t n = strlen(host);
		if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
			snprintf(name, sizeof(name), "%.*s", (int)(n - 2), host + 1);
		else
			snprintf(name, sizeof(name), "%s", host);
	}
	if ((name[0] != '\0' && name_allowed(a, name, port)) || addr_allowed(a, sa->sa_family, addr, port))
		return HERD_OK;
	inet_ntop(sa->sa_family, addr, shown, sizeof(shown));
	int v6 = sa->sa_family == AF_INET6;
	uint8_t lit[16];
	int lf;
	if (name[0] != '\0' && parse_addr(name, &lf, lit) != 0)
		snprintf(err, errlen, "target %s:%d (address %s%s%s) is not allowed by --allow-target on this agent",
		         name, port, v6 ? "[" : "", shown, v6 ? "]" : "");
	else
		snprintf(err, errlen, "target %s%s%s:%d is not allowed by --allow-target on this agent", v6 ? "[" : "",
		         shown, v6 ? "]" : "", port);
	return HERD_EREFUSED;
}

int allow_addr_refusal(const allow *a, const char *host, const struct sockaddr *sa, char **why)
{
	char err[256];
	*why = NULL;
	if (allow_check_addr(a, host, sa, err, sizeof(err)) == HERD_OK)
		return HERD_OK;
	return (*why = strdup(err)) != NULL ? HERD_OK : HERD_ENOMEM;
}

static atomic_int refusal_logged;

void allow_log_refusal(const char *why)
{
	if (atomic_exchange(&refusal_logged, 1) == 0)
		log_warn("request refused: %s (this run's further refusals are counted as target_not_allowed, "
		         "not logged)", why);
}

void allow_log_rearm(void)
{
	atomic_store(&refusal_logged, 0);
}
