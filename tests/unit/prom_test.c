/* The Prometheus exposition: counters per agent (by name), a summary merged
 * across agents (never averaged), checks by result, label values escaped. */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hist.h"
#include "controller/prom.h"
#include "tests/unit/check.h"

static wire_entry entry(const char *metric, const char *name, uint32_t cls)
{
	wire_entry e;
	memset(&e, 0, sizeof(e));
	e.metric = (char *)metric;
	e.scenario = (char *)"s";
	e.name = (char *)name;
	e.method = (char *)"GET";
	e.status_class = cls;
	return e;
}

static int has(const char *text, const char *line)
{
	if (strstr(text, line) != NULL)
		return 1;
	fprintf(stderr, "missing: %s\n", line);
	return 0;
}

int main(void)
{
	results *r;
	CHECK_EQ_INT(results_new(1000, &r), HERD_OK);
	hist *a = hist_new(), *b = hist_new();
	/* Agent a: 90 requests of 10 ms; agent b: 10 of 100 ms. Merged, the p95
	 * is 100 ms; an average of the agents' p95s would be 55 ms. */
	hist_record_n(a, 10000, 90);
	hist_record_n(b, 100000, 10);
	wire_entry ea = entry("http_req_duration", "say \"hi\"\\", 2), eb = ea;
	ea.count = 90;
	ea.h = a;
	eb.count = 10;
	eb.h = b;
	eb.errors[ERRK_TIMEOUT] = 3;
	wire_entry ck = entry("checks", "ok", 0);
	ck.count = 5;
	ck.errors[ERRK_CHECK] = 2;
	ck.tags = (char *)"flow=read";
	CHECK_EQ_INT(results_add_batch(r, "id-a", 0, &ea, 1), HERD_OK);
	CHECK_EQ_INT(results_add_batch(r, "id-b", 0, &eb, 1), HERD_OK);
	CHECK_EQ_INT(results_add_batch(r, "id-a", 0, &ck, 1), HERD_OK);
	const char *ids[] = { "id-a", "id-b" }, *names[] = { "local-1", "local-2" };
	prom_names nm = { ids, names, 2 };
	sbuf out = { 0 };
	CHECK_EQ_INT(prom_render(r, "run-1", "plan", &nm, &out), HERD_OK);
	const char *t = out.p;
	CHECK(has(t, "herd_run_info{run_id=\"run-1\",plan=\"plan\"} 1\n"));
	CHECK(has(t, "# TYPE herd_http_reqs_total counter\n"));
	CHECK(has(t, "herd_http_reqs_total{scenario=\"s\",name=\"say \\\"hi\\\"\\\\\",method=\"GET\","
	             "status=\"2xx\",agent=\"local-1\"} 90\n"));
	CHECK(has(t, "agent=\"local-2\"} 10\n"));
	CHECK(has(t, "herd_http_req_failed_total{scenario=\"s\",name=\"say \\\"hi\\\"\\\\\","
	             "method=\"GET\",status=\"2xx\",agent=\"local-2\"} 3\n"));
	CHECK(has(t, "herd_errors_total{scenario=\"s\",name=\"say \\\"hi\\\"\\\\\",method=\"GET\","
	             "status=\"2xx\",agent=\"local-2\",kind=\"timeout\"} 3\n"));
	/* One summary series for both agents: the merged histogram's quantiles. */
	CHECK(has(t, "# TYPE herd_http_req_duration_seconds summary\n"));
	CHECK(has(t, "herd_http_req_duration_seconds{scenario=\"s\",name=\"say \\\"hi\\\"\\\\\","
	             "method=\"GET\",status=\"2xx\",quantile=\"0.95\"} 0.1"));
	CHECK(has(t, "herd_http_req_duration_seconds{scenario=\"s\",name=\"say \\\"hi\\\"\\\\\","
	             "method=\"GET\",status=\"2xx\",quantile=\"0.5\"} 0.01"));
	CHECK(has(t, "herd_http_req_duration_seconds_count{scenario=\"s\",name=\"say \\\"hi\\\"\\\\\","
	             "method=\"GET\",status=\"2xx\"} 100\n"));
	CHECK(has(t, "herd_http_req_duration_seconds_sum{scenario=\"s\",name=\"say \\\"hi\\\"\\\\\","
	             "method=\"GET\",status=\"2xx\"} 1.900000\n"));
	CHECK(strstr(t, "quantile=\"0.95\",agent") == NULL && strstr(t, "agent=\"local-1\",quantile") == NULL);
	/* Checks by result, their name as the check label, the series' tags too. */
	CHECK(has(t, "herd_checks_total{scenario=\"s\",check=\"ok\",method=\"GET\",agent=\"local-1\","
	             "flow=\"read\",result=\"pass\"} 3\n"));
	CHECK(has(t, "result=\"fail\"} 2\n"));
	free(out.p);
	hist_free(a);
	hist_free(b);
	results_free(r);
	return check_done();
}
