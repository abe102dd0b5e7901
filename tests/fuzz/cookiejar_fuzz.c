/*
 * libFuzzer target for agent/cookiejar: what a hostile server can send the
 * lean driver's jar. The first input byte picks the request's host and
 * whether the origin is secure; the rest is a header block whose Set-Cookie
 * lines are taken in, a line at a time and all at once, interleaved with
 * Cookie headers built for a few paths at moving times. Checks: the jar stays
 * within its bound, every Cookie header is well formed and under libcurl's
 * cap, and a cookie the jar reports by name is in it. Build and run: see
 * tests/fuzz/README.md.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cookiejar.h"
#include "common/sbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const hosts[] = { "127.0.0.1", "localhost", "www.shop.test", "shop.test", "::1", "a.b.c.d" };
static const char *const paths[] = { "/", "/app/x", "/a/b/c?q=/d", "", "/cookies/set" };

static void header_ok(cookiejar *j, const char *host, const char *path, int secure, int64_t now)
{
	sbuf b = { 0 };
	cookiejar_header(j, host, path, strlen(path), secure, now, &b);
	if (b.len > 0) {
		if (b.len < 10 || memcmp(b.p, "Cookie: ", 8) != 0 || memcmp(b.p + b.len - 2, "\r\n", 2) != 0 ||
		    b.len > COOKIEJAR_HEADER_MAX + 16 || memchr(b.p, '\n', b.len - 1) != NULL)
			abort();
	}
	free(b.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *host = hosts[data[0] % (sizeof(hosts) / sizeof(hosts[0]))];
	int secure = (data[0] >> 4) & 1;
	const char *block = (const char *)data + 1;
	size_t blen = size - 1;
	int64_t now = 1764763200;
	cookiejar j = { 0 };

	/* All at once, then again line by line (replacing what the first pass
	 * kept), checking the headers as the clock moves on. */
	if (cookiejar_absorb(&j, block, blen, host, "/cookies/set", 12, secure, now) != 0)
		abort();
	const char *p = block, *e = block + blen;
	int step = 0;
	while (p < e) {
		const char *eol = memchr(p, '\n', (size_t)(e - p));
		const char *le = eol != NULL ? eol : e;
		const char *path = paths[step % (sizeof(paths) / sizeof(paths[0]))];
		if (cookiejar_set(&j, p, (size_t)(le - p), host, path, strlen(path), secure, now) != 0)
			abort();
		if (j.n > COOKIEJAR_MAX)
			abort();
		header_ok(&j, host, paths[(step + 1) % (sizeof(paths) / sizeof(paths[0]))], secure, now);
		now += 7;
		step++;
		p = eol != NULL ? eol + 1 : e;
	}
	for (size_t i = 0; i < j.n; i++) {
		sbuf v = { 0 };
		if (cookiejar_get(&j, j.c[i].name, now, &v) == 0 && v.p == NULL && j.c[i].value[0] != '\0')
			abort();
		free(v.p);
	}
	header_ok(&j, "www.shop.test", "/", 1, now + 86400 * 400);
	cookiejar_fini(&j);
	return 0;
}
