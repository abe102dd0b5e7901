/* The --source-addresses list; see srcaddr.h. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/srcaddr.h"

#define FLAG "--source-addresses"

/* Appends one address (4 or 16 bytes of family) to p. */
static int add(srcaddr_pool *p, size_t *cap, int family, const void *bytes)
{
	if (p->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		if (ncap > SRCADDR_MAX)
			ncap = SRCADDR_MAX;
		srcaddr *na = realloc(p->a, ncap * sizeof(*na));
		if (na == NULL)
			return HERD_ENOMEM;
		p->a = na;
		*cap = ncap;
	}
	srcaddr *a = &p->a[p->n++];
	char text[INET6_ADDRSTRLEN];
	memset(a, 0, sizeof(*a));
	if (family == AF_INET) {
		a->u.in.sin_family = AF_INET;
		memcpy(&a->u.in.sin_addr, bytes, 4);
		a->len = sizeof(a->u.in);
	} else {
		a->u.in6.sin6_family = AF_INET6;
		memcpy(&a->u.in6.sin6_addr, bytes, 16);
		a->len = sizeof(a->u.in6);
	}
	inet_ntop(family, bytes, text, sizeof(text));
	snprintf(a->iface, sizeof(a->iface), "host!%s", text);
	return HERD_OK;
}

/* Refuses a second family: the first address of the pool names the other. */
static int same_family(const srcaddr_pool *p, int family, const char *item, char *err, size_t errlen)
{
	if (p->n == 0 || p->family == family)
		return HERD_OK;
	const char *fam = family == AF_INET ? "IPv4" : "IPv6", *pool_fam = p->family == AF_INET ? "IPv4" : "IPv6";
	snprintf(err, errlen, FLAG ": '%s' is %s but '%s' is %s: use addresses of one family", item, fam,
	         srcaddr_name(&p->a[0]), pool_fam);
	return HERD_EINVAL;
}

static int too_many(char *err, size_t errlen)
{
	snprintf(err, errlen, FLAG ": more than %d addresses", SRCADDR_MAX);
	return HERD_EINVAL;
}

/* "FIRST-LAST": IPv4 only, both ends included. */
static int parse_range(srcaddr_pool *p, size_t *cap, char *item, char *dash, char *err, size_t errlen)
{
	struct in_addr lo, hi;
	char *first = item, *last = dash + 1;
	char *e = dash;
	while (e > first && e[-1] == ' ')
		e--;
	*e = '\0';
	while (*last == ' ')
		last++;
	if (inet_pton(AF_INET, first, &lo) != 1 || inet_pton(AF_INET, last, &hi) != 1) {
		*e = e == dash ? '-' : ' ';
		if (strchr(item, ':') != NULL)
			snprintf(err, errlen, FLAG ": '%s': ranges are IPv4 only (list IPv6 addresses one by one)", item);
		else
			snprintf(err, errlen, FLAG ": '%s' is not a range of IPv4 addresses (FIRST-LAST)", item);
		return HERD_EINVAL;
	}
	uint32_t a = ntohl(lo.s_addr), b = ntohl(hi.s_addr);
	if (a > b) {
		snprintf(err, errlen, FLAG ": the range %s-%s runs backwards", first, last);
		return HERD_EINVAL;
	}
	if (a == 0) {
		snprintf(err, errlen, FLAG ": the range %s-%s holds the unspecified address", first, last);
		return HERD_EINVAL;
	}
	if ((uint64_t)b - a + 1 > (uint64_t)(SRCADDR_MAX - p->n))
		return too_many(err, errlen);
	int rv = same_family(p, AF_INET, first, err, errlen);
	for (uint64_t x = a; rv == HERD_OK && x <= b; x++) {
		uint32_t be = htonl((uint32_t)x);
		rv = add(p, cap, AF_INET, &be);
	}
	return rv;
}

static int parse_item(srcaddr_pool *p, size_t *cap, char *item, char *err, size_t errlen)
{
	unsigned char bytes[16];
	int family;
	char *dash = strchr(item, '-');
	if (dash != NULL)
		return parse_range(p, cap, item, dash, err, errlen);
	if (inet_pton(AF_INET, item, bytes) == 1) {
		family = AF_INET;
	} else if (inet_pton(AF_INET6, item, bytes) == 1) {
		family = AF_INET6;
	} else {
		snprintf(err, errlen, FLAG ": '%s' is not an IPv4 or IPv6 address", item);
		return HERD_EINVAL;
	}
	static const unsigned char zero[16];
	if (memcmp(bytes, zero, family == AF_INET ? 4 : 16) == 0) {
		snprintf(err, errlen, FLAG ": '%s' is the unspecified address, not one to send from", item);
		return HERD_EINVAL;
	}
	if (p->n >= SRCADDR_MAX)
		return too_many(err, errlen);
	int rv = same_family(p, family, item, err, errlen);
	return rv != HERD_OK ? rv : add(p, cap, family, bytes);
}

typedef struct key {
	unsigned char b[16];
	size_t i;
} key;

static int key_cmp(const void *x, const void *y)
{
	const key *a = x, *b = y;
	int c = memcmp(a->b, b->b, sizeof(a->b));
	return c != 0 ? c : (a->i > b->i) - (a->i < b->i);
}

/* An address listed twice would get twice the VUs of the others. */
static int no_duplicates(const srcaddr_pool *p, char *err, size_t errlen)
{
	key *k = calloc(p->n, sizeof(*k));
	int rv = HERD_OK;
	if (k == NULL)
		return HERD_ENOMEM;
	for (size_t i = 0; i < p->n; i++) {
		if (p->family == AF_INET)
			memcpy(k[i].b, &p->a[i].u.in.sin_addr, 4);
		else
			memcpy(k[i].b, &p->a[i].u.in6.sin6_addr, 16);
		k[i].i = i;
	}
	qsort(k, p->n, sizeof(*k), key_cmp);
	for (size_t i = 1; i < p->n; i++) {
		if (memcmp(k[i - 1].b, k[i].b, sizeof(k[i].b)) == 0) {
			snprintf(err, errlen, FLAG ": %s is listed twice", srcaddr_name(&p->a[k[i].i]));
			rv = HERD_EINVAL;
			break;
		}
	}
	free(k);
	return rv;
}

int srcaddr_parse(const char *list, srcaddr_pool *out, char *err, size_t errlen)
{
	srcaddr_pool p = { 0 };
	size_t cap = 0;
	int rv = HERD_OK;
	const char *s = list;

	memset(out, 0, sizeof(*out));
	if (strspn(list, " ") == strlen(list)) {
		snprintf(err, errlen, FLAG ": the list is empty");
		return HERD_EINVAL;
	}
	for (;;) {
		size_t n = strcspn(s, ",");
		const char *b = s, *e = s + n;
		while (b < e && *b == ' ')
			b++;
		while (e > b && e[-1] == ' ')
			e--;
		char item[128];
		if (b == e) {
			snprintf(err, errlen, FLAG ": an empty item in '%s'", list);
			rv = HERD_EINVAL;
			break;
		}
		if ((size_t)(e - b) >= sizeof(item)) {
			snprintf(err, errlen, FLAG ": '%.*s...' is not an IPv4 or IPv6 address", 40, b);
			rv = HERD_EINVAL;
			break;
		}
		memcpy(item, b, (size_t)(e - b));
		item[e - b] = '\0';
		if ((rv = parse_item(&p, &cap, item, err, errlen)) != HERD_OK)
			break;
		p.family = p.a[0].u.sa.sa_family;
		if (s[n] == '\0')
			break;
		s += n + 1;
	}
	if (rv == HERD_OK)
		rv = no_duplicates(&p, err, errlen);
	if (rv != HERD_OK) {
		if (rv == HERD_ENOMEM)
			snprintf(err, errlen, FLAG ": out of memory");
		srcaddr_pool_fini(&p);
		return rv;
	}
	*out = p;
	return HERD_OK;
}

void srcaddr_pool_fini(srcaddr_pool *p)
{
	free(p->a);
	memset(p, 0, sizeof(*p));
}

const srcaddr *srcaddr_pick(const srcaddr_pool *p, uint32_t vu_id)
{
	if (p == NULL || p->n == 0)
		return NULL;
	return &p->a[(vu_id > 0 ? vu_id - 1 : 0) % p->n];
}
