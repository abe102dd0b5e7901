/*
 * herd serve's HTTP API; see api.h. One handler for the whole tree ("/",
 * any method) so that every request, known path or not, meets the token
 * check first and gets an answer from here, never NNG's own pages.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <mbedtls/constant_time.h>
#include <mbedtls/md.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "common/err.h"
#include "controller/api.h"

struct api {
	nng_http_server *srv;
	nng_http_handler *h;
	nng_url *url;
	api_providers p;
	uint8_t token_hash[32]; /* SHA-256 of the token: compared, never the token itself */
	int port;
};

/* The longest path the API reads; longer ones are refused as malformed. */
#define API_MAX_PATH 200

static int sha256(const void *p, size_t n, uint8_t out[32])
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	return md != NULL && mbedtls_md(md, p, n, out) == 0 ? 0 : -1;
}

/*
 * Whether the Authorization header holds the token. Both sides are hashed
 * first, so the comparison is of equal lengths and in constant time
 * (mbedTLS), and the token's length does not show in the timing either.
 */
static int authorized(const api *a, nng_http_req *req)
{
	const char *h = nng_http_req_get_header(req, "Authorization");
	uint8_t got[32];
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return 0;
	h += 7;
	while (*h == ' ')
		h++;
	if (sha256(h, strlen(h), got) != 0)
		return 0;
	return mbedtls_ct_memcmp(got, a->token_hash, sizeof(got)) == 0;
}

int api_id_ok(const char *s, size_t len)
{
	if (len == 0 || len > 64 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_' || c == '.'))
			return 0;
	}
	return 1;
}

/* Sends status with body (JSON unless text). */
static void answer(nng_aio *aio, int status, const char *body, size_t len, int text)
{
	nng_http_res *res = NULL;
	if (nng_http_res_alloc(&res) != 0) {
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	nng_http_res_set_status(res, (uint16_t)status);
	nng_http_res_set_header(res, "Content-Type", text ? "text/plain; version=0.0.4; charset=utf-8"
	                                                  : "application/json");
	nng_http_res_set_header(res, "Cache-Control", "no-store");
	nng_http_res_set_header(res, "X-Content-Type-Options", "nosniff");
	if (status == 401)
		nng_http_res_set_header(res, "WWW-Authenticate", "Bearer realm=\"herd\"");
	if (nng_http_res_copy_data(res, body, len) != 0) {
		nng_http_res_free(res);
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

/* {"error": msg}, with msg escaped by jansson. */
static void fail_with(nng_aio *aio, int status, const char *msg)
{
	json_t *o = json_pack("{s:s}", "error", msg);
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	if (s != NULL)
		answer(aio, status, s, strlen(s), 0);
	else
		answer(aio, 500, "{\"error\":\"out of memory\"}", 25, 0);
	free(s);
	json_decref(o);
}

/* The reason of an abort's body: none, or a JSON object with an optional
 * string "reason". Returns 0, or -1 for a malformed body. */
static int abort_reason(nng_http_req *req, char *reason, size_t len)
{
	void *data = NULL;
	size_t n = 0;
	json_error_t je;
	reason[0] = '\0';
	nng_http_req_get_data(req, &data, &n);
	if (n == 0)
		return 0;
	json_t *o = json_loadb(data, n, JSON_REJECT_DUPLICATES, &je);
	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		return -1;
	}
	json_t *r = json_object_get(o, "reason");
	int rv = 0;
	if (r != NULL && !json_is_string(r))
		rv = -1;
	else if (r != NULL)
		snprintf(reason, len, "%s", json_string_value(r));
	if (json_object_size(o) > (r != NULL ? 1u : 0u))
		rv = -1; /* unknown keys: refused, as in every herd input */
	json_decref(o);
	return rv;
}

/* A provider's answer: as is for 2xx, else as {"error": ...}. */
static void provided(nng_aio *aio, int status, sbuf *b, int text)
{
	if (b->oom) {
		fail_with(aio, 500, "out of memory");
	} else if (status >= 400) {
		fail_with(aio, status, b->p != NULL ? b->p : "failed");
	} else if (status < 200) {
		fail_with(aio, 500, "internal error");
	} else {
		answer(aio, status, b->p != NULL ? b->p : "", b->len, text);
	}
	free(b->p);
}

/* Splits path into at most 3 segments between '/'. Returns the count, or -1
 * when the path is malformed (empty segments, bad characters, too many). */
static int segments(const char *path, size_t plen, const char *seg[3], size_t slen[3])
{
	int n = 0;
	size_t i = 0;
	if (plen == 0 || path[0] != '/')
		return -1;
	if (plen == 1)
		return 0;
	i = 1;
	while (i <= plen) {
		size_t j = i;
		while (j < plen && path[j] != '/')
			j++;
		if (n == 3 || !api_id_ok(path + i, j - i))
			return -1;
		seg[n] = path + i;
		slen[n++] = j - i;
		i = j + 1;
		if (j == plen)
			break;
		if (j + 1 == plen)
			return -1; /* a trailing '/' */
	}
	return n;
}

static int seg_is(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

static void serve(nng_aio *aio)
{
	nng_http_req *req = nng_aio_get_input(aio, 0);
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	api *a = nng_http_handler_get_data(h);
	const char *method = nng_http_req_get_method(req);
	const char *uri = nng_http_req_get_uri(req);
	const char *seg[3];
	size_t slen[3], plen;
	char id[65], reason[512];
	sbuf b = {0};
	int get, post, n, status;

	if (!authorized(a, req)) {
		fail_with(aio, 401, "unauthorized: send Authorization: Bearer TOKEN");
		return;
	}
	get = strcmp(method, "GET") == 0;
	post = strcmp(method, "POST") == 0;
	/* A query string is not used by any endpoint: ignored. */
	plen = strcspn(uri, "?");
	if (plen > API_MAX_PATH || (n = segments(uri, plen, seg, slen)) < 0) {
		fail_with(aio, 400, "malformed path");
		return;
	}
	if (n == 1 && (seg_is(seg[0], slen[0], "runs") || seg_is(seg[0], slen[0], "schedules") ||
	               seg_is(seg[0], slen[0], "agents") || seg_is(seg[0], slen[0], "metrics"))) {
		if (!get) {
			fail_with(aio, 405, "method not allowed");
			return;
		}
		int (*fn)(void *, sbuf *) = seg_is(seg[0], slen[0], "runs")        ? a->p.runs
		                            : seg_is(seg[0], slen[0], "schedules") ? a->p.schedules
		                            : seg_is(seg[0], slen[0], "agents")    ? a->p.agents
		                                                                   : a->p.metrics;
		if (fn == NULL) {
			fail_with(aio, 404, "not found");
			return;
		}
		status = fn(a->p.arg, &b);
		provided(aio, status, &b, seg_is(seg[0], slen[0], "metrics"));
		return;
	}
	if (n >= 2 && seg_is(seg[0], slen[0], "runs") &&
	    (n == 2 || seg_is(seg[2], slen[2], "abort"))) {
		memcpy(id, seg[1], slen[1]);
		id[slen[1]] = '\0';
		if (n == 2 && !get) {
			fail_with(aio, 405, "method not allowed");
			return;
		}
		if (n == 3 && !post) {
			fail_with(aio, 405, "method not allowed");
			return;
		}
		if (n == 2) {
			if (a->p.run == NULL) {
				fail_with(aio, 404, "not found");
				return;
			}
			status = a->p.run(a->p.arg, id, &b);
		} else {
			if (abort_reason(req, reason, sizeof(reason)) != 0) {
				fail_with(aio, 400, "the body must be a JSON object such as {\"reason\": \"...\"}");
				return;
			}
			if (a->p.abort == NULL) {
				fail_with(aio, 404, "not found");
				return;
			}
			status = a->p.abort(a->p.arg, id, reason[0] ? reason : NULL, &b);
		}
		provided(aio, status, &b, 0);
		return;
	}
	if (n == 3 && seg_is(seg[0], slen[0], "schedules") && seg_is(seg[2], slen[2], "run")) {
		if (!post) {
			fail_with(aio, 405, "method not allowed");
			return;
		}
		if (a->p.start == NULL) {
			fail_with(aio, 404, "not found");
			return;
		}
		memcpy(id, seg[1], slen[1]);
		id[slen[1]] = '\0';
		status = a->p.start(a->p.arg, id, &b);
		provided(aio, status, &b, 0);
		return;
	}
	fail_with(aio, 404, "not found");
}

/* Only numeric addresses: a name could resolve to anything. */
static int numeric_host(const char *host)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

int api_start(const char *addr, const auth_token *token, const api_providers *p, api **out,
              char *err, size_t errlen)
{
	char url[300];
	nng_sockaddr sa;
	int rv;
	api *a;

	if (token == NULL || token->len == 0) {
		snprintf(err, errlen, "the API needs a bearer token");
		return HERD_EINVAL;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return HERD_ENOMEM;
	a->p = *p;
	if (sha256(token->bytes, token->len, a->token_hash) != 0) {
		free(a);
		snprintf(err, errlen, "cannot hash the API token");
		return HERD_EINTERNAL;
	}
	snprintf(url, sizeof(url), "http://%s", addr);
	if (nng_url_parse(&a->url, url) != 0 || a->url->u_port == NULL || *a->url->u_port == '\0' ||
	    strcmp(a->url->u_path, "") != 0 || !numeric_host(a->url->u_hostname)) {
		snprintf(err, errlen, "API address: expected IP:PORT (such as 127.0.0.1:7401), got '%s'",
		         addr);
		api_stop(a);
		return HERD_EINVAL;
	}
	if ((rv = nng_http_server_hold(&a->srv, a->url)) != 0 ||
	    (rv = nng_http_handler_alloc(&a->h, "/", serve)) != 0 ||
	    (rv = nng_http_handler_set_method(a->h, NULL)) != 0 ||
	    (rv = nng_http_handler_set_tree(a->h)) != 0 ||
	    (rv = nng_http_handler_collect_body(a->h, true, API_MAX_BODY)) != 0 ||
	    (rv = nng_http_handler_set_data(a->h, a, NULL)) != 0 ||
	    (rv = nng_http_server_add_handler(a->srv, a->h)) != 0) {
		snprintf(err, errlen, "API %s: %s", addr, nng_strerror(rv));
		if (a->h != NULL)
			nng_http_handler_free(a->h); /* not added: ours to free */
		a->h = NULL;
		api_stop(a);
		return HERD_ENET;
	}
	if ((rv = nng_http_server_start(a->srv)) != 0) {
		snprintf(err, errlen, "API %s: cannot listen: %s", addr, nng_strerror(rv));
		api_stop(a);
		return HERD_ENET;
	}
	if (nng_http_server_get_addr(a->srv, &sa) == 0)
		a->port = ntohs(sa.s_family == NNG_AF_INET6 ? sa.s_in6.sa_port : sa.s_in.sa_port);
	*out = a;
	return HERD_OK;
}

int api_port(const api *a)
{
	return a != NULL ? a->port : 0;
}

void api_stop(api *a)
{
	if (a == NULL)
		return;
	if (a->srv != NULL) {
		nng_http_server_stop(a->srv);
		nng_http_server_release(a->srv);
	}
	if (a->url != NULL)
		nng_url_free(a->url);
	free(a);
}
