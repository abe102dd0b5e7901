/*
 * A cookie jar, one per VU of the lean HTTP/1.1 driver: the RFC 6265
 * essentials as libcurl 7.88 (the libcurl driver's) keeps them, so that both
 * drivers send the same Cookie headers. Set-Cookie lines are parsed with
 * Domain, Path, Expires, Max-Age, Secure and HttpOnly; a cookie without
 * Domain is host-only, one with Domain goes to that domain and its
 * subdomains; a cookie with the same name, domain and path replaces the old
 * one (keeping its place and age); an expired one removes it. Requests get
 * the cookies whose domain and path match, longest path first (then longest
 * domain, longest name, newest), as libcurl 7.88 orders them. A codec: no I/O;
 * the caller passes the time.
 */
#ifndef HERD_AGENT_COOKIEJAR_H
#define HERD_AGENT_COOKIEJAR_H

#include <stddef.h>
#include <stdint.h>

struct sbuf;

/* As libcurl: longer Set-Cookie lines and longer names or values are ignored;
 * at most so many cookies go in one request and one Cookie header. */
#define COOKIEJAR_LINE_MAX 5000u
#define COOKIEJAR_NAME_MAX 4096u
#define COOKIEJAR_SEND_MAX 150u
#define COOKIEJAR_HEADER_MAX 8190u
/* herd's own bounds on a VU's jar (libcurl has none): past either, the
 * oldest cookie goes. Bytes are each cookie's strings and record. */
#define COOKIEJAR_MAX 300u
#define COOKIEJAR_BYTES_MAX (64u << 10)

typedef struct cj_cookie {
	char *name;       /* owns one allocation holding all four strings */
	char *value, *domain, *path;
	size_t path_len;  /* the path as sent or defaulted: orders the Cookie header */
	size_t spath_len; /* the path without a trailing '/': matches request paths */
	int64_t expires;  /* unix seconds; 0: a session cookie */
	uint64_t created; /* order of creation, kept by a replacement */
	size_t size;      /* what it counts toward COOKIEJAR_BYTES_MAX */
	uint8_t host_only, secure, httponly;
} cj_cookie;

/* The jar; zeroed is empty (cookiejar_fini frees it). */
typedef struct cookiejar {
	cj_cookie *c;     /* owned, in order of creation */
	size_t n, cap;
	size_t bytes;     /* the cookies' sizes added up */
	uint64_t clock;
} cookiejar;

void cookiejar_fini(cookiejar *j);

/* Whether a request to host is a secure origin for cookies, as libcurl
 * decides: https, or localhost, 127.0.0.1 or ::1 over anything. */
int cookiejar_secure_origin(int https, const char *host);

/* Forgets every cookie; the jar stays usable. */
void cookiejar_clear(cookiejar *j);

/*
 * Applies the value of one Set-Cookie header (len bytes) received in answer
 * to a request for host (without port or brackets) and path (the request
 * target, query allowed, plen bytes), over a secure (https) connection or not,
 * at unix time now. A line libcurl would ignore is ignored. Returns HERD_OK,
 * or HERD_ENOMEM (the jar is as it was).
 */
int cookiejar_set(cookiejar *j, const char *line, size_t len, const char *host, const char *path, size_t plen,
                  int secure, int64_t now);

/* Whether a response's header block has a Set-Cookie line (a cheap test
 * before working out the request's origin). */
int cookiejar_has_set_cookie(const char *block, size_t blen);

/* Applies every Set-Cookie line of a response's header block (as journey_header reads it). */
int cookiejar_absorb(cookiejar *j, const char *block, size_t blen, const char *host, const char *path,
                     size_t plen, int secure, int64_t now);

/*
 * Appends "Cookie: a=1; b=2\r\n" for a request to host and path at now,
 * nothing when no cookie matches. Expired cookies are dropped from the jar.
 */
void cookiejar_header(cookiejar *j, const char *host, const char *path, size_t plen, int secure, int64_t now,
                      struct sbuf *out);

/* Appends the value of the cookie called name (the last created one of that
 * name, whatever its domain, as libcurl's list gives it) to out. Returns 0
 * when found, -1 when not. */
int cookiejar_get(const cookiejar *j, const char *name, int64_t now, struct sbuf *out);

#endif
