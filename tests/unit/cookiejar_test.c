/*
 * The lean driver's cookie jar: Set-Cookie parsing, host-only and domain
 * cookies, paths, expiry, replacement and the order of the Cookie header,
 * each as libcurl 7.88 does it.
 */
#include <stdlib.h>
#include <string.h>

#include "agent/cookiejar.h"
#include "check.h"
#include "common/sbuf.h"

#define NOW 1764763200 /* 2025-12-03 12:00:00 UTC */

static void set(cookiejar *j, const char *line, const char *host, const char *path)
{
	CHECK_EQ_INT(cookiejar_set(j, line, strlen(line), host, path, strlen(path), 0, NOW), 0);
}

/* The Cookie header for host and path at t, "" when none ("Cookie: " and CRLF cut). */
static char hdr_buf[9000];
static const char *hdr_at(cookiejar *j, const char *host, const char *path, int64_t t)
{
	sbuf b = { 0 };
	cookiejar_header(j, host, path, strlen(path), 0, t, &b);
	hdr_buf[0] = '\0';
	if (b.len >= 10) {
		CHECK(memcmp(b.p, "Cookie: ", 8) == 0 && memcmp(b.p + b.len - 2, "\r\n", 2) == 0);
		memcpy(hdr_buf, b.p + 8, b.len - 10);
		hdr_buf[b.len - 10] = '\0';
	} else {
		CHECK_EQ_INT(b.len, 0);
	}
	free(b.p);
	return hdr_buf;
}

static const char *hdr(cookiejar *j, const char *host, const char *path)
{
	return hdr_at(j, host, path, NOW);
}

static void test_host_only_and_domain(void)
{
	cookiejar j = { 0 };
	set(&j, "a=1", "www.shop.test", "/");
	set(&j, "b=2; Domain=.shop.test", "www.shop.test", "/");
	set(&j, "c=3; Domain=other.test", "www.shop.test", "/"); /* not ours: refused */
	set(&j, "d=4; Domain=test", "www.shop.test", "/");       /* a top-level name: refused */
	CHECK_EQ_INT(j.n, 2);
	CHECK_EQ_STR(hdr(&j, "www.shop.test", "/"), "a=1; b=2");
	CHECK_EQ_STR(hdr(&j, "api.shop.test", "/"), "b=2");     /* the domain cookie only */
	CHECK_EQ_STR(hdr(&j, "shop.test", "/"), "b=2");
	CHECK_EQ_STR(hdr(&j, "xshop.test", "/"), "");           /* not under it */
	CHECK_EQ_STR(hdr(&j, "WWW.Shop.Test", "/"), "a=1; b=2"); /* names have no case */
	/* An address takes Domain only as itself, and the cookie stays host-only. */
	set(&j, "e=5; Domain=127.0.0.1", "127.0.0.1", "/");
	set(&j, "f=6; Domain=0.0.1", "127.0.0.1", "/");
	CHECK_EQ_STR(hdr(&j, "127.0.0.1", "/"), "e=5");
	set(&j, "g=7; Domain=localhost", "localhost", "/");
	CHECK_EQ_STR(hdr(&j, "localhost", "/"), "g=7");
	cookiejar_fini(&j);
}

static void test_paths(void)
{
	cookiejar j = { 0 };
	/* No Path: the request's directory, with its slash, and no query. */
	set(&j, "dflt=1", "h.test", "/cookies/set?x=/a/b");
	set(&j, "root=2; Path=/", "h.test", "/cookies/set");
	set(&j, "deep=3; Path=/cookies/inner/", "h.test", "/");
	set(&j, "q=4; Path=\"/cookies\"", "h.test", "/");
	CHECK_EQ_STR(hdr(&j, "h.test", "/cookies"), "q=4; dflt=1; root=2");
	/* Longest path first: /cookies/inner/ (15), /cookies/ (9), "/cookies" (10
	 * with its quotes), / (1). */
	CHECK_EQ_STR(hdr(&j, "h.test", "/cookies/inner/x"), "deep=3; q=4; dflt=1; root=2");
	CHECK_EQ_STR(hdr(&j, "h.test", "/cookies/x?y=1"), "q=4; dflt=1; root=2");
	CHECK_EQ_STR(hdr(&j, "h.test", "/cookiesx"), "root=2"); /* a prefix, but not at a '/' */
	CHECK_EQ_STR(hdr(&j, "h.test", "/other"), "root=2");
	cookiejar_fini(&j);
}

static void test_order(void)
{
	cookiejar j = { 0 };
	/* Equal paths: the longer domain first, then the longer name, then the
	 * newer (libcurl 7.88's order). */
	set(&j, "zz=1; Domain=shop.test", "a.shop.test", "/");
	set(&j, "y=2", "a.shop.test", "/");
	set(&j, "xxx=3", "a.shop.test", "/");
	set(&j, "w=4", "a.shop.test", "/");
	CHECK_EQ_STR(hdr(&j, "a.shop.test", "/"), "xxx=3; w=4; y=2; zz=1");
	cookiejar_fini(&j);
}

static void test_replace_and_delete(void)
{
	cookiejar j = { 0 };
	set(&j, "sid=old", "h.test", "/");
	set(&j, "b=2", "h.test", "/");
	set(&j, "sid=new; HttpOnly", "h.test", "/");
	CHECK_EQ_INT(j.n, 2);
	/* The replacement keeps the old one's age: still after a newer one of its length. */
	set(&j, "c=3", "h.test", "/");
	set(&j, "b=4", "h.test", "/");
	CHECK_EQ_STR(hdr(&j, "h.test", "/"), "sid=new; c=3; b=4");
	set(&j, "c=", "h.test", "/");
	CHECK_EQ_STR(hdr(&j, "h.test", "/"), "sid=new; c=; b=4");
	set(&j, "c=x; Max-Age=0", "h.test", "/");
	/* A different path is a different cookie. */
	set(&j, "sid=p; Path=/p", "h.test", "/");
	CHECK_EQ_INT(j.n, 3);
	/* Names compare without case when replacing, as libcurl does. */
	set(&j, "SID=upper", "h.test", "/");
	CHECK_EQ_INT(j.n, 3);
	CHECK_EQ_STR(hdr(&j, "h.test", "/"), "SID=upper; b=4");
	/* Max-Age=0 and a past Expires delete; a delete of nothing adds nothing. */
	set(&j, "sid=x; Max-Age=0", "h.test", "/");
	set(&j, "b=x; Expires=Thu, 01 Jan 1970 00:00:01 GMT", "h.test", "/");
	set(&j, "none=x; Max-Age=-1", "h.test", "/");
	CHECK_EQ_STR(hdr(&j, "h.test", "/"), "");
	CHECK_EQ_STR(hdr(&j, "h.test", "/p"), "sid=p");
	cookiejar_fini(&j);
}

static void test_expiry(void)
{
	cookiejar j = { 0 };
	set(&j, "ma=1; Max-Age=60", "h.test", "/");
	set(&j, "ex=2; Expires=Wed, 03 Dec 2025 12:00:30 GMT", "h.test", "/");
	set(&j, "ns=3; expires=Wednesday, 03-Dec-25 12:00:10 GMT", "h.test", "/");
	set(&j, "ss=4; Expires=not a date", "h.test", "/"); /* a session cookie */
	set(&j, "both=5; Expires=Wed, 03 Dec 2025 12:00:05 GMT; Max-Age=3600", "h.test", "/");
	CHECK_EQ_STR(hdr_at(&j, "h.test", "/", NOW), "both=5; ss=4; ns=3; ex=2; ma=1");
	CHECK_EQ_STR(hdr_at(&j, "h.test", "/", NOW + 10), "both=5; ss=4; ns=3; ex=2; ma=1");
	CHECK_EQ_STR(hdr_at(&j, "h.test", "/", NOW + 11), "both=5; ss=4; ex=2; ma=1");
	CHECK_EQ_STR(hdr_at(&j, "h.test", "/", NOW + 61), "both=5; ss=4");
	CHECK_EQ_INT(j.n, 2); /* the expired ones left the jar */
	cookiejar_fini(&j);
}

static void test_refused_lines(void)
{
	cookiejar j = { 0 };
	set(&j, "novalue", "h.test", "/");
	set(&j, "=anon", "h.test", "/");
	set(&j, "sec=1; Secure", "h.test", "/");      /* Secure from http: refused */
	set(&j, "__Secure-x=1", "h.test", "/");
	set(&j, "__Host-x=1; Path=/", "h.test", "/");
	set(&j, "ctl=a\x01z", "h.test", "/");
	char *big = malloc(COOKIEJAR_LINE_MAX + 2);
	memset(big, 'v', COOKIEJAR_LINE_MAX + 1);
	memcpy(big, "big=", 4);
	big[COOKIEJAR_LINE_MAX + 1] = '\0';
	set(&j, big, "h.test", "/");
	free(big);
	CHECK_EQ_INT(j.n, 0);
	/* libcurl's secure origins: https, and the loopback names over anything. */
	CHECK(cookiejar_secure_origin(1, "h.test"));
	CHECK(cookiejar_secure_origin(0, "LocalHost") && cookiejar_secure_origin(0, "127.0.0.1") &&
	      cookiejar_secure_origin(0, "::1"));
	CHECK(!cookiejar_secure_origin(0, "127.0.0.2") && !cookiejar_secure_origin(0, "h.test"));
	/* Blanks around names and values go; an empty value is a value. */
	set(&j, "  sp  =  v w  ; Path = / ", "h.test", "/x/y");
	set(&j, "empty=", "h.test", "/");
	CHECK_EQ_STR(hdr(&j, "h.test", "/"), "empty=; sp=v w");
	/* Secure from a secure origin is kept, and sent only over https. */
	const char *s = "tok=1; Secure";
	CHECK_EQ_INT(cookiejar_set(&j, s, strlen(s), "h.test", "/", 1, 1, NOW), 0);
	CHECK_EQ_STR(hdr(&j, "h.test", "/"), "empty=; sp=v w");
	sbuf b = { 0 };
	cookiejar_header(&j, "h.test", "/", 1, 1, NOW, &b);
	CHECK(b.p != NULL && strstr(b.p, "tok=1") != NULL);
	free(b.p);
	/* An insecure origin may not overlay it. */
	set(&j, "tok=2", "h.test", "/");
	b = (sbuf){ 0 };
	cookiejar_header(&j, "h.test", "/", 1, 1, NOW, &b);
	CHECK(b.p != NULL && strstr(b.p, "tok=1") != NULL && strstr(b.p, "tok=2") == NULL);
	free(b.p);
	cookiejar_fini(&j);
}

static void test_absorb_get_and_limits(void)
{
	cookiejar j = { 0 };
	const char *block = "HTTP/1.1 302 Found\r\nSet-Cookie: a=1; Path=/\r\nLocation: /x\r\n"
	                    "set-cookie:b=2\r\nX-Set-Cookie: c=3\r\n\r\n";
	CHECK(cookiejar_has_set_cookie(block, strlen(block)));
	CHECK(!cookiejar_has_set_cookie(block, 20)); /* the status line only */
	CHECK(!cookiejar_has_set_cookie("HTTP/1.1 200 OK\r\nX-Set-Cookie: a=1\r\n\r\n", 38));
	CHECK_EQ_INT(cookiejar_absorb(&j, block, strlen(block), "h.test", "/p/q", 4, 0, NOW), 0);
	CHECK_EQ_INT(j.n, 2);
	CHECK_EQ_STR(hdr(&j, "h.test", "/p/z"), "b=2; a=1");
	sbuf v = { 0 };
	CHECK_EQ_INT(cookiejar_get(&j, "b", NOW, &v), 0);
	CHECK(v.p != NULL && strcmp(v.p, "2") == 0);
	free(v.p);
	v = (sbuf){ 0 };
	CHECK_EQ_INT(cookiejar_get(&j, "c", NOW, &v), -1);
	free(v.p);
	/* At most COOKIEJAR_SEND_MAX cookies in one header, under its byte cap;
	 * the jar holds at most COOKIEJAR_MAX, dropping the oldest. */
	char line[64];
	for (int i = 0; i < 400; i++) {
		snprintf(line, sizeof(line), "k%03d=%d", i, i);
		set(&j, line, "h.test", "/");
	}
	CHECK_EQ_INT(j.n, COOKIEJAR_MAX);
	const char *h = hdr(&j, "h.test", "/");
	size_t count = 1;
	for (const char *p = h; *p; p++)
		count += *p == ';';
	CHECK_EQ_INT(count, COOKIEJAR_SEND_MAX);
	/* libcurl takes the first 150 it finds (the oldest), then sorts them. */
	CHECK(strncmp(h, "k249=249; k248=248", 18) == 0);
	CHECK(strstr(h, "k100=100") != NULL && strstr(h, "k250=250") == NULL);
	cookiejar_fini(&j);
}

/* The jar holds at most COOKIEJAR_BYTES_MAX: big cookies push out the
 * oldest, a replaced cookie stays (it keeps its place), and the bytes
 * counted are those of the cookies kept. */
static void test_bytes_bound(void)
{
	cookiejar j = { 0 };
	static char line[4200];
	size_t total = 0;

	for (int i = 0; i < 300; i++) {
		int n = snprintf(line, sizeof(line), "big%03d=", i);
		memset(line + n, 'v', 1000);
		line[n + 1000] = '\0';
		set(&j, line, "h.test", "/");
		CHECK(j.bytes <= COOKIEJAR_BYTES_MAX);
	}
	CHECK(j.n >= 40 && j.n < 70);
	for (size_t i = 0; i < j.n; i++)
		total += j.c[i].size;
	CHECK_EQ_INT(total, j.bytes);
	/* The newest are kept, the oldest went. */
	sbuf v = { 0 };
	CHECK_EQ_INT(cookiejar_get(&j, "big299", NOW, &v), 0);
	free(v.p);
	v = (sbuf){ 0 };
	CHECK_EQ_INT(cookiejar_get(&j, "big000", NOW, &v), -1);
	free(v.p);
	/* The oldest kept, replaced by a bigger one: it stays, another goes. */
	char oldest[16];
	snprintf(oldest, sizeof(oldest), "%.6s", j.c[0].name);
	size_t before = j.n, vlen = 1000 + (COOKIEJAR_BYTES_MAX - j.bytes) + 1;
	int n = snprintf(line, sizeof(line), "%s=", oldest);
	memset(line + n, 'w', vlen);
	line[n + vlen] = '\0';
	set(&j, line, "h.test", "/");
	CHECK(j.bytes <= COOKIEJAR_BYTES_MAX);
	CHECK_EQ_INT(j.n, before - 1);
	CHECK_EQ_STR(j.c[0].name, oldest);
	CHECK_EQ_INT(strlen(j.c[0].value), vlen);
	cookiejar_clear(&j);
	CHECK_EQ_INT(j.bytes, 0);
	set(&j, "a=1", "h.test", "/");
	CHECK_EQ_INT(j.bytes, j.c[0].size);
	cookiejar_fini(&j);
}

int main(void)
{
	test_host_only_and_domain();
	test_paths();
	test_order();
	test_replace_and_delete();
	test_expiry();
	test_refused_lines();
	test_absorb_get_and_limits();
	test_bytes_bound();
	return check_done();
}
