/* The /metrics endpoint on NNG's HTTP server; see metrics_http.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "common/err.h"
#include "controller/metrics_http.h"

struct metrics_http {
	nng_http_server *srv;
	nng_http_handler *h;
	nng_url *url;
	metrics_render_fn fn;
	void *arg;
};

static void serve(nng_aio *aio)
{
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	metrics_http *m = nng_http_handler_get_data(h);
	nng_http_res *res = NULL;
	sbuf b = { 0 };
	int status = 200;
	if (m->fn(m->arg, &b) != 0 || b.oom)
		status = 500;
	if (nng_http_res_alloc(&res) != 0) {
		free(b.p);
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	nng_http_res_set_status(res, (uint16_t)status);
	nng_http_res_set_header(res, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	if (status == 200)
		nng_http_res_copy_data(res, b.p != NULL ? b.p : "", b.len);
	free(b.p);
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

int metrics_http_start(const char *addr, metrics_render_fn fn, void *arg, metrics_http **out,
                       char *err, size_t errlen)
{
	char url[300];
	int rv;
	metrics_http *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return HERD_ENOMEM;
	m->fn = fn;
	m->arg = arg;
	snprintf(url, sizeof(url), "http://%s", addr);
	if ((rv = nng_url_parse(&m->url, url)) != 0 || m->url->u_port == NULL ||
	    *m->url->u_port == '\0' || strcmp(m->url->u_path, "") != 0) {
		snprintf(err, errlen, "--metrics-addr: expected HOST:PORT, got '%s'", addr);
		metrics_http_stop(m);
		return HERD_EINVAL;
	}
	if ((rv = nng_http_server_hold(&m->srv, m->url)) != 0 ||
	    (rv = nng_http_handler_alloc(&m->h, "/metrics", serve)) != 0 ||
	    (rv = nng_http_handler_set_method(m->h, "GET")) != 0 ||
	    (rv = nng_http_handler_set_data(m->h, m, NULL)) != 0 ||
	    (rv = nng_http_server_add_handler(m->srv, m->h)) != 0) {
		snprintf(err, errlen, "--metrics-addr %s: %s", addr, nng_strerror(rv));
		if (m->h != NULL && m->srv != NULL) {
			/* not added: free it ourselves */
			nng_http_handler_free(m->h);
		}
		m->h = NULL;
		metrics_http_stop(m);
		return HERD_ENET;
	}
	if ((rv = nng_http_server_start(m->srv)) != 0) {
		snprintf(err, errlen, "--metrics-addr %s: cannot listen: %s", addr, nng_strerror(rv));
		metrics_http_stop(m);
		return HERD_ENET;
	}
	*out = m;
	return HERD_OK;
}

void metrics_http_stop(metrics_http *m)
{
	if (m == NULL)
		return;
	if (m->srv != NULL) {
		nng_http_server_stop(m->srv);
		nng_http_server_release(m->srv);
	}
	if (m->url != NULL)
		nng_url_free(m->url);
	free(m);
}
