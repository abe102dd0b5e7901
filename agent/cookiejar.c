/*
 * The lean driver's cookie jar (see cookiejar.h). Where libcurl 7.88 differs
 * from RFC 6265, this follows libcurl, since the point is that both drivers
 * send the same bytes: names and paths compare without case when a cookie
 * replaces another, the Cookie header is ordered by path, domain and name
 * length, a Domain is refused on a bare top-level name (libcurl asks the
 * public suffix list; herd refuses what has no dot, but for the host itself).
 */
#include "agent/cookiejar.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/err.h"
#include "common/sbuf.h"

#define SET_COOKIE_MAX 50 /* Set-Cookie lines taken from one response, as libcurl */

static void cookie_free(cj_cookie *c)
{
	free(c->name);
	memset(c, 0, sizeof(*c));
}

void cookiejar_clear(cookiejar *j)
{
	for (size_t i = 0; i < j->n; i++)
		cookie_free(&j->c[i]);
	j->n = 0;
	j->bytes = 0;
}

void cookiejar_fini(cookiejar *j)
{
	cookiejar_clear(j);
	free(j->c);
	memset(j, 0, sizeof(*j));
}

static int is_ws(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Trims blanks off both ends of [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
	while (*n > 0 && is_ws(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_ws((*s)[*n - 1]))
		(*n)--;
}

static int host_is_ip(const char *host)
{
	unsigned char a[16];
	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* Whether host is domain (dlen bytes) or a name under it. */
static int tailmatch(const char *domain, size_t dlen, const char *host)
{
	size_t hlen = strlen(host);
	if (hlen < dlen || strncasecmp(domain, host + hlen - dlen, dlen) != 0)
		return 0;
	return hlen == dlen || host[hlen - dlen - 1] == '.';
}

/* Whether the request path (query allowed) is within cookie path spath. */
static int pathmatch(const char *spath, size_t slen, const char *path, size_t plen)
{
	if (slen == 1)
		return 1; /* "/" */
	plen = strcspn(path, "?#") < plen ? strcspn(path, "?#") : plen;
	if (plen == 0 || path[0] != '/') {
		path = "/";
		plen = 1;
	}
	if (plen < slen || strncmp(spath, path, slen) != 0)
		return 0;
	return plen == slen || path[slen] == '/';
}

static int month_of(const char *s, size_t n)
{
	static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	if (n < 3)
		return -1;
	for (int m = 0; m < 12; m++)
		if (strncasecmp(s, names + 3 * m, 3) == 0)
			return m;
	return -1;
}

/*
 * An Expires date in any of the forms servers send (RFC 1123, RFC 850,
 * asctime, Netscape's dashes), read as libcurl's curl_getdate reads them: a
 * day, a month name, a year and hh:mm:ss in any order, always GMT. Returns
 * unix seconds, or -1 when it is not a date.
 */
static int64_t parse_date(const char *s, size_t n)
{
	int day = -1, mon = -1, year = -1, hh = -1, mi = -1, ss = -1;
	size_t i = 0;
	while (i < n) {
		if (!isalnum((unsigned char)s[i])) {
			i++;
			continue;
		}
		size_t b = i;
		if (isalpha((unsigned char)s[i])) {
			while (i < n && isalpha((unsigned char)s[i]))
				i++;
			int m = month_of(s + b, i - b);
			if (m >= 0 && mon < 0 && i - b <= 9)
				mon = m;
			continue;
		}
		long v = 0;
		while (i < n && isdigit((unsigned char)s[i]) && v < 100000)
			v = v * 10 + (s[i++] - '0');
		size_t digits = i - b;
		if (i < n && s[i] == ':' && hh < 0) {
			/* hh:mm[:ss] */
			int t[3] = { (int)v, 0, 0 }, k = 1;
			while (k < 3 && i + 1 < n && s[i] == ':' && isdigit((unsigned char)s[i + 1])) {
				i++;
				int x = 0;
				while (i < n && isdigit((unsigned char)s[i]) && x < 100)
					x = x * 10 + (s[i++] - '0');
				t[k++] = x;
			}
			hh = t[0];
			mi = t[1];
			ss = t[2];
		} else if (digits <= 2 && day < 0) {
			day = (int)v;
		} else if (year < 0 && (digits == 4 || digits == 2)) {
			year = digits == 2 ? (int)v + (v < 70 ? 2000 : 1900) : (int)v;
		} else {
			return -1;
		}
	}
	if (day < 1 || day > 31 || mon < 0 || year < 1601 || hh < 0 || hh > 23 || mi > 59 || ss > 60)
		return -1;
	struct tm tm = { .tm_sec = ss, .tm_min = mi, .tm_hour = hh, .tm_mday = day, .tm_mon = mon,
		             .tm_year = year - 1900 };
	return (int64_t)timegm(&tm);
}

/* The parsed attributes of one Set-Cookie line; pointers into the line. */
typedef struct setc {
	const char *name, *value, *domain, *path;
	size_t nlen, vlen, dlen, plen;
	int64_t expires;
	int secure, httponly, host_only;
} setc;

/* Reads the attributes after the first ';'. Returns 0, or -1 for a line
 * libcurl refuses. */
static int parse_attrs(const char *p, const char *e, setc *sc, int64_t now)
{
	const char *maxage = NULL, *expires = NULL;
	size_t malen = 0, exlen = 0;
	while (p < e) {
		const char *semi = memchr(p, ';', (size_t)(e - p));
		const char *end = semi != NULL ? semi : e;
		const char *eq = memchr(p, '=', (size_t)(end - p));
		const char *an = p, *av = eq != NULL ? eq + 1 : end;
		size_t anl = (size_t)((eq != NULL ? eq : end) - p), avl = (size_t)(end - av);
		trim(&an, &anl);
		trim(&av, &avl);
		p = semi != NULL ? semi + 1 : e;
		if (anl == 6 && strncasecmp(an, "secure", 6) == 0) {
			sc->secure = 1;
		} else if (anl == 8 && strncasecmp(an, "httponly", 8) == 0) {
			sc->httponly = 1;
		} else if (eq == NULL) {
			continue;
		} else if (anl == 6 && strncasecmp(an, "domain", 6) == 0 && avl > 0) {
			if (av[0] == '.') {
				av++;
				avl--;
			}
			sc->domain = av;
			sc->dlen = avl;
		} else if (anl == 4 && strncasecmp(an, "path", 4) == 0) {
			sc->path = av;
			sc->plen = avl;
		} else if (anl == 7 && strncasecmp(an, "max-age", 7) == 0) {
			maxage = av;
			malen = avl;
		} else if (anl == 7 && strncasecmp(an, "expires", 7) == 0) {
			expires = av;
			exlen = avl;
		}
	}
	/* Max-Age wins over Expires; 0 or less has expired (kept as 1, the
	 * epoch's first second, so that it replaces and then goes). */
	if (maxage != NULL) {
		if (malen > 0 && maxage[0] == '"') {
			maxage++;
			malen--;
		}
		int neg = malen > 0 && maxage[0] == '-';
		int64_t v = 0;
		size_t k = neg ? 1 : 0;
		for (; k < malen && isdigit((unsigned char)maxage[k]); k++)
			v = v < INT64_MAX / 20 ? v * 10 + (maxage[k] - '0') : INT64_MAX / 2;
		if (k == (neg ? 1u : 0u))
			sc->expires = 0; /* not a number: a session cookie */
		else if (neg || v == 0)
			sc->expires = 1;
		else
			sc->expires = v > INT64_MAX / 2 - now ? INT64_MAX / 2 : now + v;
	} else if (expires != NULL) {
		int64_t t = parse_date(expires, exlen);
		sc->expires = t < 0 ? 0 : t == 0 ? 1 : t;
	}
	return 0;
}

/* Whether a cookie's text has what no header may carry. */
static int bad_octets(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return 1;
	}
	return 0;
}

/* Fills sc from line for a request to host and path. Returns 0, or -1 when
 * libcurl would ignore the line. */
static int parse_line(const char *line, size_t len, const char *host, int secure, int64_t now, setc *sc)
{
	memset(sc, 0, sizeof(*sc));
	if (len > COOKIEJAR_LINE_MAX)
		return -1;
	const char *e = line + len;
	const char *semi = memchr(line, ';', len);
	const char *first_end = semi != NULL ? semi : e;
	const char *eq = memchr(line, '=', (size_t)(first_end - line));
	if (eq == NULL)
		return -1;
	sc->name = line;
	sc->nlen = (size_t)(eq - line);
	sc->value = eq + 1;
	sc->vlen = (size_t)(first_end - eq - 1);
	trim(&sc->name, &sc->nlen);
	trim(&sc->value, &sc->vlen);
	if (sc->nlen == 0 || sc->nlen > COOKIEJAR_NAME_MAX || sc->vlen > COOKIEJAR_NAME_MAX ||
	    bad_octets(sc->name, sc->nlen) || bad_octets(sc->value, sc->vlen))
		return -1;
	if (parse_attrs(semi != NULL ? semi + 1 : e, e, sc, now) != 0)
		return -1;
	/* libcurl takes Secure only from a secure origin, and refuses the
	 * cookie otherwise. */
	if (sc->secure && !secure)
		return -1;
	if (sc->nlen >= 9 && strncmp(sc->name, "__Secure-", 9) == 0 && !sc->secure)
		return -1;
	if (sc->nlen >= 7 && strncmp(sc->name, "__Host-", 7) == 0 &&
	    (!sc->secure || sc->domain != NULL || sc->plen != 1 || sc->path[0] != '/'))
		return -1;
	if (sc->domain != NULL) {
		int ip = host_is_ip(host);
		size_t hlen = strlen(host);
		if (ip) {
			/* An address takes a Domain only as itself, and stays host-only. */
			if (sc->dlen != hlen || strncmp(sc->domain, host, hlen) != 0)
				return -1;
			sc->host_only = 1;
		} else {
			if (!tailmatch(sc->domain, sc->dlen, host))
				return -1;
			if (memchr(sc->domain, '.', sc->dlen) == NULL && sc->dlen != hlen)
				return -1; /* a top-level name */
			sc->host_only = 0;
		}
	} else {
		sc->domain = host;
		sc->dlen = strlen(host);
		sc->host_only = 1;
	}
	return 0;
}

/* The cookie path of sc for a request to path (plen bytes): its Path, or
 * the request's directory with its trailing '/', as libcurl defaults it;
 * *spath_len gets the length used for matching (no quotes, no trailing '/'). */
static void cookie_path(const setc *sc, const char *path, size_t plen, const char **out, size_t *olen)
{
	if (sc->path != NULL) {
		*out = sc->path;
		*olen = sc->plen;
		return;
	}
	size_t q = strcspn(path, "?#");
	if (q < plen)
		plen = q;
	const char *slash = plen > 0 ? memrchr(path, '/', plen) : NULL;
	if (slash == NULL) {
		*out = "/";
		*olen = 1;
	} else {
		*out = path;
		*olen = (size_t)(slash - path) + 1;
	}
}

/* Makes c from sc, its strings in one allocation. Returns HERD_OK or HERD_ENOMEM. */
static int cookie_make(cj_cookie *c, const setc *sc, const char *path, size_t plen)
{
	memset(c, 0, sizeof(*c));
	/* Four NULs, and room for "/" when the path is empty. */
	size_t len = sc->nlen + sc->vlen + sc->dlen + plen + 5;
	char *m = malloc(len);
	if (m == NULL)
		return HERD_ENOMEM;
	c->size = len + sizeof(*c);
	c->name = m;
	memcpy(m, sc->name, sc->nlen);
	m[sc->nlen] = '\0';
	c->value = m + sc->nlen + 1;
	memcpy(c->value, sc->value, sc->vlen);
	c->value[sc->vlen] = '\0';
	c->domain = c->value + sc->vlen + 1;
	for (size_t i = 0; i < sc->dlen; i++)
		c->domain[i] = (char)tolower((unsigned char)sc->domain[i]);
	c->domain[sc->dlen] = '\0';
	c->path = c->domain + sc->dlen + 1;
	memcpy(c->path, path, plen);
	c->path[plen] = '\0';
	c->path_len = plen;
	/* Matching uses the path without quotes and a trailing '/' ("/" stays). */
	const char *sp = path;
	size_t sl = plen;
	if (sl >= 2 && sp[0] == '"' && sp[sl - 1] == '"') {
		sp++;
		sl -= 2;
	}
	if (sl == 0 || sp[0] != '/') {
		sp = "/";
		sl = 1;
	}
	if (sl > 1 && sp[sl - 1] == '/')
		sl--;
	if (sp != path) {
		/* Only ever shorter: store the sanitised path after the raw one. */
		memmove(c->path, sp, sl);
		c->path[sl] = '\0';
		c->path_len = plen; /* the raw length still orders the header */
	}
	c->spath_len = sl;
	c->expires = sc->expires;
	c->secure = (uint8_t)sc->secure;
	c->httponly = (uint8_t)sc->httponly;
	c->host_only = (uint8_t)sc->host_only;
	return HERD_OK;
}

/* Whether new cookie n takes the place of old cookie o, as libcurl decides. */
static int same_cookie(const cj_cookie *o, const cj_cookie *n)
{
	return strcasecmp(o->name, n->name) == 0 && strcasecmp(o->domain, n->domain) == 0 &&
	       o->host_only == n->host_only && o->spath_len == n->spath_len &&
	       strncasecmp(o->path, n->path, n->spath_len) == 0;
}

/* Whether a cookie from an insecure origin would overlay secure cookie o. */
static int overlays_secure(const cj_cookie *o, const cj_cookie *n)
{
	return o->secure && strcasecmp(o->name, n->name) == 0 &&
	       (tailmatch(o->domain, strlen(o->domain), n->domain) ||
	        tailmatch(n->domain, strlen(n->domain), o->domain)) &&
	       n->spath_len >= o->spath_len && strncmp(n->path, o->path, o->spath_len) == 0;
}

static void drop(cookiejar *j, size_t i)
{
	j->bytes -= j->c[i].size;
	cookie_free(&j->c[i]);
	memmove(&j->c[i], &j->c[i + 1], (j->n - i - 1) * sizeof(*j->c));
	j->n--;
}

/* Drops the oldest cookies but the one at keep (SIZE_MAX: none kept) until
 * need more bytes fit within COOKIEJAR_BYTES_MAX. */
static void make_room(cookiejar *j, size_t need, size_t keep)
{
	while (j->n > 0 && j->bytes + need > COOKIEJAR_BYTES_MAX) {
		size_t i = keep == 0 ? 1 : 0;
		if (i >= j->n)
			return;
		drop(j, i);
		if (keep != SIZE_MAX && keep > i)
			keep--;
	}
}

static void drop_expired(cookiejar *j, int64_t now)
{
	for (size_t i = j->n; i-- > 0;)
		if (j->c[i].expires != 0 && j->c[i].expires < now)
			drop(j, i);
}

int cookiejar_secure_origin(int https, const char *host)
{
	return https || strcasecmp(host, "localhost") == 0 || strcmp(host, "127.0.0.1") == 0 ||
	       strcmp(host, "::1") == 0;
}

int cookiejar_set(cookiejar *j, const char *line, size_t len, const char *host, const char *path, size_t plen,
                  int secure, int64_t now)
{
	setc sc;
	cj_cookie nc;
	const char *cp;
	size_t cplen;

	if (parse_line(line, len, host, secure, now, &sc) != 0)
		return HERD_OK;
	cookie_path(&sc, path, plen, &cp, &cplen);
	if (cookie_make(&nc, &sc, cp, cplen) != HERD_OK)
		return HERD_ENOMEM;
	for (size_t i = 0; i < j->n; i++) {
		if (!secure && overlays_secure(&j->c[i], &nc)) {
			cookie_free(&nc);
			return HERD_OK;
		}
		if (same_cookie(&j->c[i], &nc)) {
			nc.created = j->c[i].created;
			j->bytes += nc.size - j->c[i].size;
			cookie_free(&j->c[i]);
			j->c[i] = nc;
			make_room(j, 0, i);
			drop_expired(j, now);
			return HERD_OK;
		}
	}
	if (nc.expires != 0 && nc.expires < now) {
		cookie_free(&nc); /* deletes nothing it does not replace */
		return HERD_OK;
	}
	if (j->n >= COOKIEJAR_MAX) {
		drop(j, 0);
	} else if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 4;
		cj_cookie *nv = realloc(j->c, cap * sizeof(*nv));
		if (nv == NULL) {
			cookie_free(&nc);
			return HERD_ENOMEM;
		}
		j->c = nv;
		j->cap = cap;
	}
	make_room(j, nc.size, SIZE_MAX);
	nc.created = ++j->clock;
	j->bytes += nc.size;
	j->c[j->n++] = nc;
	return HERD_OK;
}

static const char set_cookie[] = "set-cookie:";

/* The next Set-Cookie line at or after *p (before e): its start, *p moved
 * past it; NULL when there is none. */
static const char *next_set_cookie(const char **p, const char *e, const char **le)
{
	while (*p < e) {
		const char *line = *p;
		const char *eol = memchr(line, '\n', (size_t)(e - line));
		*le = eol != NULL ? eol : e;
		*p = eol != NULL ? eol + 1 : e;
		if ((size_t)(*le - line) > sizeof(set_cookie) - 1 &&
		    strncasecmp(line, set_cookie, sizeof(set_cookie) - 1) == 0)
			return line;
	}
	return NULL;
}

int cookiejar_has_set_cookie(const char *block, size_t blen)
{
	const char *p = block, *le;
	return next_set_cookie(&p, block + blen, &le) != NULL;
}

int cookiejar_absorb(cookiejar *j, const char *block, size_t blen, const char *host, const char *path,
                     size_t plen, int secure, int64_t now)
{
	const char *p = block, *e = block + blen, *line, *le;
	int taken = 0;
	while (taken < SET_COOKIE_MAX && (line = next_set_cookie(&p, e, &le)) != NULL) {
		const char *v = line + sizeof(set_cookie) - 1;
		size_t vl = (size_t)(le - v);
		if (vl > 0 && v[vl - 1] == '\r')
			vl--;
		trim(&v, &vl);
		if (cookiejar_set(j, v, vl, host, path, plen, secure, now) != HERD_OK)
			return HERD_ENOMEM;
		taken++;
	}
	return HERD_OK;
}

/* libcurl 7.88's order: longest path, then longest domain, longest name,
 * newest (RFC 6265 says oldest; libcurl's comparison puts the newest first). */
static int send_order(const void *a, const void *b)
{
	const cj_cookie *x = *(const cj_cookie *const *)a, *y = *(const cj_cookie *const *)b;
	size_t l1, l2;
	if ((l1 = x->path_len) != (l2 = y->path_len))
		return l2 > l1 ? 1 : -1;
	if ((l1 = strlen(x->domain)) != (l2 = strlen(y->domain)))
		return l2 > l1 ? 1 : -1;
	if ((l1 = strlen(x->name)) != (l2 = strlen(y->name)))
		return l2 > l1 ? 1 : -1;
	return y->created > x->created ? 1 : -1;
}

void cookiejar_header(cookiejar *j, const char *host, const char *path, size_t plen, int secure, int64_t now,
                      sbuf *out)
{
	const cj_cookie *pick[COOKIEJAR_SEND_MAX];
	size_t n = 0;
	if (j->n == 0)
		return;
	drop_expired(j, now);
	for (size_t i = 0; i < j->n && n < COOKIEJAR_SEND_MAX; i++) {
		const cj_cookie *c = &j->c[i];
		if (c->secure && !secure)
			continue;
		if (c->host_only ? strcasecmp(c->domain, host) != 0 : !tailmatch(c->domain, strlen(c->domain), host))
			continue;
		if (!pathmatch(c->path, c->spath_len, path, plen))
			continue;
		pick[n++] = c;
	}
	if (n == 0)
		return;
	qsort(pick, n, sizeof(pick[0]), send_order);
	size_t clen = 8; /* "Cookie: ", counted as libcurl counts toward its cap */
	sbuf_str(out, "Cookie: ");
	for (size_t i = 0; i < n; i++) {
		size_t add = strlen(pick[i]->name) + strlen(pick[i]->value) + 1;
		if (clen + add >= COOKIEJAR_HEADER_MAX)
			break;
		if (i > 0)
			sbuf_add(out, "; ", 2);
		sbuf_str(out, pick[i]->name);
		sbuf_add(out, "=", 1);
		sbuf_str(out, pick[i]->value);
		clen += add + (i > 0 ? 2 : 0);
	}
	sbuf_str(out, "\r\n");
}

int cookiejar_get(const cookiejar *j, const char *name, int64_t now, sbuf *out)
{
	int found = -1;
	size_t at = out->len;
	for (size_t i = 0; i < j->n; i++) {
		const cj_cookie *c = &j->c[i];
		if (strcmp(c->name, name) != 0 || (c->expires != 0 && c->expires < now))
			continue;
		out->len = at;
		sbuf_str(out, c->value);
		found = 0;
	}
	return found;
}
