#!/usr/bin/env python3
"""herd against a real nginx on 127.0.0.1: counts cross-checked with nginx's
access log, latency, error kinds, executors, checks, thresholds, the results
store, Ctrl-C and several local agents.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/http_test.py [-k NAME]
"""

import http.server
import json
import os
import re
import signal
import sqlite3
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Fail, Nginx, TestPki, check, check_p50_against_server,  # noqa: E402
                     finish, free_port, main, near, note, reference_http, run_cli, run_herd,
                     killed_on_exit, start_herd)


def plan(target, scenarios, thresholds=None, name="itest"):
    """Builds a plan's YAML text. scenarios: {name: yaml body (indented 4)}."""
    out = ["name: %s" % name, "target: %s" % target, "scenarios:"]
    for sname, body in scenarios.items():
        out.append("  %s:" % sname)
        for line in body.strip("\n").splitlines():
            out.append("    " + line)
    if thresholds:
        out.append("thresholds:")
        for metric, exprs in thresholds.items():
            out.append("  %s: %s" % (json.dumps(metric), json.dumps(exprs)))
    return "\n".join(out) + "\n"


def expect_code(r, want):
    check(r.code == want, "herd exited %d, expected %d%s" % (r.code, want, r.tail()))


def rate_counts(r, name):
    m = r.metric(name)
    for k in ("passes", "fails", "value"):
        check(k in m, "%s has no %r: %s" % (name, k, m))
    return m["passes"], m["fails"], m["value"]


def dropped(r):
    m = r.summary.get("metrics", {}).get("dropped_iterations")
    return 0 if m is None else m.get("count", 0)


# ---------------------------------------------------------------------------


def test_count_equals_nginx_log():
    """constant-vus 5 VUs 4 s on /small: http_reqs.count == nginx's lines, no failures."""
    with Nginx() as ng:
        r = run_herd(plan(ng.url, {"s": """
executor: constant-vus
vus: 5
duration: 4s
flow:
  - get: /small
"""}), timeout=40)
        expect_code(r, 0)
        logged = ng.access_log_lines()
        small_ok = ng.access_log_lines(path="/small", status=200, settle=False)
        count = r.count()
        check(count > 100, "only %d requests in 4 s" % count)
        check(count == logged, "herd http_reqs.count %d != nginx logged %d" % (count, logged))
        check(small_ok == logged, "nginx logged %d lines, only %d are GET /small 200"
              % (logged, small_ok))
        passes, fails, value = rate_counts(r, "http_req_failed")
        check(passes == 0 and value == 0, "http_req_failed passes=%s value=%s, expected 0"
              % (passes, value))
        check(fails == count, "http_req_failed fails %s != requests %d" % (fails, count))
        it = r.metric("iterations")["count"]
        check(it == count, "iterations %d != requests %d (1 request per iteration)" % (it, count))
        # The rate is per second of load (the measured 4 s), not per whole interval.
        rate = r.metric("http_reqs")["rate"]
        check(abs(rate - count / 4.0) <= 0.02 * count / 4.0,
              "http_reqs.rate %.1f is not count/4s = %.1f within 2%%" % (rate, count / 4.0))


def test_p50_of_50ms_delay():
    """constant-vus 10 VUs 5 s on /delay50 (echo_sleep 0.05): med at least what
    nginx itself took ($request_time, 1 ms resolution), and within 2% of 50 ms
    of a reference client timing the same sleep in the same seconds."""
    with Nginx(fields=("request_time",)) as ng:
        ref = reference_http(ng.url, "/ref/delay50", 5.5, 10)
        r = run_herd(plan(ng.url, {"d": """
executor: constant-vus
vus: 10
duration: 5s
flow:
  - get: /delay50
"""}), timeout=40)
        expect_code(r, 0)
        d = r.metric("http_req_duration")
        med = d["med"]
        ref_med, ref_n = ref()
        check_p50_against_server(ng, med, ref_med, ref_n)
        note("delay50: count %d min %.3f med %.3f avg %.3f p90 %.3f p99 %.3f max %.3f ms",
             r.count(), d["min"], med, d["avg"], d["p(90)"], d["p(99)"], d["max"])
        # nginx's timers run on CLOCK_MONOTONIC_COARSE, so a 50 ms echo_sleep
        # may end a few ms early: only a sanity bound on min.
        check(d["min"] >= 45, "min %.3f ms: well below the 50 ms the server sleeps" % d["min"])
        for a, b in (("min", "med"), ("med", "p(90)"), ("p(90)", "p(95)"), ("p(95)", "p(99)"),
                     ("p(99)", "max")):
            check(d[a] <= d[b], "%s %.3f > %s %.3f" % (a, d[a], b, d[b]))
        logged = ng.access_log_lines(path="/delay50", status=200)
        check(r.count() == logged, "herd count %d != nginx %d" % (r.count(), logged))


def test_4xx_5xx_are_failed():
    """/status404 and /status500 count in http_req_failed and as http_4xx/http_5xx."""
    with Nginx() as ng:
        r = run_herd(plan(ng.url, {"e": """
executor: constant-vus
vus: 3
duration: 3s
flow:
  - get: /status404
  - get: /status500
  - get: /small
  - think: 5ms
"""}), timeout=40)
        expect_code(r, 0)
        n404 = ng.access_log_lines(status=404)
        n500 = ng.access_log_lines(status=500, settle=False)
        n200 = ng.access_log_lines(status=200, settle=False)
        total = ng.access_log_lines(settle=False)
        check(n404 > 0 and n500 > 0 and n200 > 0, "nginx saw 404=%d 500=%d 200=%d"
              % (n404, n500, n200))
        check(r.count() == total, "herd count %d != nginx %d" % (r.count(), total))
        passes, fails, value = rate_counts(r, "http_req_failed")
        check(passes == n404 + n500, "http_req_failed.passes %d != nginx 404+500 %d"
              % (passes, n404 + n500))
        check(fails == n200, "http_req_failed.fails %d != nginx 200s %d" % (fails, n200))
        check(near(value, (n404 + n500) / total, 0.001), "http_req_failed.value %s != %s"
              % (value, (n404 + n500) / total))
        ebk = r.errors_by_kind()
        check(ebk.get("http_4xx") == n404, "errors_by_kind.http_4xx %s != nginx 404s %d (%s)"
              % (ebk.get("http_4xx"), n404, ebk))
        check(ebk.get("http_5xx") == n500, "errors_by_kind.http_5xx %s != nginx 500s %d (%s)"
              % (ebk.get("http_5xx"), n500, ebk))


def test_closed_port_connect_refused():
    """A port nothing listens on: connect_refused errors, exit 0, no crash."""
    port = free_port()
    r = run_herd(plan("http://127.0.0.1:%d" % port, {"c": """
executor: constant-vus
vus: 2
duration: 2s
flow:
  - get: /small
  - think: 10ms
"""}), timeout=40)
    expect_code(r, 0)
    count = r.count()
    check(count > 0, "no requests counted against a closed port")
    ebk = r.errors_by_kind()
    check(ebk.get("connect_refused") == count, "errors_by_kind.connect_refused %s != requests %d"
          " (%s)" % (ebk.get("connect_refused"), count, ebk))
    passes, fails, value = rate_counts(r, "http_req_failed")
    check(passes == count and fails == 0 and value == 1,
          "http_req_failed passes=%s fails=%s value=%s, expected all %d failed"
          % (passes, fails, value, count))
    check(not r.herd().get("degraded"), "run marked degraded (an agent lost?)")
    for bad in ("Segmentation", "AddressSanitizer", "core dumped", "Aborted"):
        check(bad not in r.stderr, "herd's stderr mentions %r%s" % (bad, r.tail()))


def test_arrival_rate_within_2pct():
    """constant-arrival-rate 100/s for 10 s: nginx logs 1000 +- 20, at 100/s +- 2%."""
    with Nginx() as ng:
        r = run_herd(plan(ng.url, {"a": """
executor: constant-arrival-rate
rate: 100
timeUnit: 1s
duration: 10s
preAllocatedVUs: 10
maxVUs: 20
flow:
  - get: /small
"""}), timeout=50)
        expect_code(r, 0)
        ng.settle()
        entries = ng.entries()
        n = len(entries)
        note("arrival: nginx %d, herd iterations %s, http_reqs %s, dropped %s",
             n, r.metric("iterations")["count"], r.count(), dropped(r))
        check(980 <= n <= 1020, "nginx logged %d requests, expected 1000 +- 20" % n)
        it = r.metric("iterations")["count"]
        check(it == n, "herd iterations %d != nginx lines %d" % (it, n))
        check(r.count() == n, "herd http_reqs %d != nginx lines %d" % (r.count(), n))
        check(dropped(r) == 0, "dropped_iterations %d, expected 0" % dropped(r))
        ts = sorted(e["msec"] for e in entries)
        span = ts[-1] - ts[0]
        rate = (n - 1) / span if span > 0 else 0
        note("arrival: nginx saw %.3f req/s over %.3f s", rate, span)
        check(near(rate, 100, 0.02), "nginx saw %.2f req/s over %.3f s, expected 100 +- 2%%"
              % (rate, span))


def test_arrival_rate_two_agents():
    """The rate split over two local agents still adds up: 50/s for 4 s -> 200 +- 4."""
    with Nginx() as ng:
        r = run_herd(plan(ng.url, {"a": """
executor: constant-arrival-rate
rate: 50
timeUnit: 1s
duration: 4s
preAllocatedVUs: 4
maxVUs: 10
flow:
  - get: /small
"""}), "--local-agents", "2", "--workers", "1", timeout=40)
        expect_code(r, 0)
        n = ng.access_log_lines()
        # Every arrival the clock made due is either started or counted as
        # dropped (a VU-starved agent on a busy machine drops, and says so):
        # the offered count is the rate's integral, 200, split between the
        # two agents' workers (each rounds its share: +-1 per worker).
        offered = r.metric("offered_iterations")["count"]
        note("two agents: offered %d, nginx %d, dropped %d", offered, n, dropped(r))
        check(198 <= offered <= 202, "offered_iterations %d, expected 200 +- 2" % offered)
        check(n + dropped(r) == offered, "nginx %d + dropped %d != offered %d: arrivals lost"
              % (n, dropped(r), offered))
        check(r.count() == n, "herd http_reqs %d != nginx lines %d" % (r.count(), n))
        check(dropped(r) <= offered // 10, "dropped %d of %d" % (dropped(r), offered))


def test_per_vu_iterations_exact():
    """per-vu-iterations vus 3, iterations 7 -> exactly 21 requests."""
    with Nginx() as ng:
        r = run_herd(plan(ng.url, {"p": """
executor: per-vu-iterations
vus: 3
iterations: 7
maxDuration: 20s
flow:
  - get: /small
"""}), timeout=40)
        expect_code(r, 0)
        n = ng.access_log_lines()
        check(n == 21, "nginx logged %d requests, expected 21" % n)
        check(r.count() == 21, "herd http_reqs %d, expected 21" % r.count())
        check(r.metric("iterations")["count"] == 21, "iterations %s, expected 21"
              % r.metric("iterations")["count"])


def test_per_vu_iterations_two_agents():
    """per-vu-iterations vus 3, iterations 7 split over 2 local agents -> still 21."""
    with Nginx() as ng:
        r = run_herd(plan(ng.url, {"p": """
executor: per-vu-iterations
vus: 3
iterations: 7
maxDuration: 20s
flow:
  - get: /small
"""}), "--local-agents", "2", "--workers", "1", timeout=40)
        expect_code(r, 0)
        n = ng.access_log_lines()
        check(n == 21, "nginx logged %d requests, expected 21" % n)
        check(r.count() == 21, "herd http_reqs %d, expected 21" % r.count())


def test_ramping_vus_reaches_target():
    """ramping-vus stages up to 6 VUs: the vus gauge's max is 6; counts match nginx."""
    with Nginx() as ng:
        r = run_herd(plan(ng.url, {"r": """
executor: ramping-vus
startVUs: 0
stages:
  - { duration: 1s, target: 3 }
  - { duration: 2s, target: 6 }
  - { duration: 2s, target: 6 }
  - { duration: 1s, target: 0 }
flow:
  - get: /small
  - think: 20ms
"""}), timeout=40)
        expect_code(r, 0)
        vus = r.metric("vus")
        check(vus.get("max") == 6, "vus max %s, expected 6 (%s)" % (vus.get("max"), vus))
        n = ng.access_log_lines()
        check(r.count() == n, "herd http_reqs %d != nginx lines %d" % (r.count(), n))


def test_checks_pass_and_fail():
    """check {status: 200, body: needle}: passes on /body, the body check fails on /small."""
    with Nginx() as ng:
        r = run_herd(plan(ng.url, {"c": """
executor: constant-vus
vus: 2
duration: 3s
flow:
  - get: /body
    name: hay
    check: { status: 200, body: needle }
  - get: /small
    name: small
    check: { status: 200, body: needle }
  - think: 10ms
"""}), timeout=40)
        expect_code(r, 0)
        n_body = ng.access_log_lines(path="/body", status=200)
        n_small = ng.access_log_lines(path="/small", status=200, settle=False)
        check(n_body > 0 and n_small > 0, "nginx saw /body %d /small %d" % (n_body, n_small))
        passes, fails, value = rate_counts(r, "checks")
        # two checks per step (status, body): all pass on /body, status passes on /small
        check(fails == n_small, "checks.fails %d != /small requests %d" % (fails, n_small))
        check(passes == 2 * n_body + n_small, "checks.passes %d != 2*%d + %d"
              % (passes, n_body, n_small))
        ebk = r.errors_by_kind()
        check(ebk.get("check_failed") == n_small, "errors_by_kind.check_failed %s != %d (%s)"
              % (ebk.get("check_failed"), n_small, ebk))
        checks = r.summary.get("root_group", {}).get("checks", {})
        found = False
        for c in (checks.values() if isinstance(checks, dict) else checks):
            nm = c.get("name", "")
            if "needle" in nm and nm.startswith("small"):
                found = True
                check(c.get("fails") == n_small and c.get("passes") == 0,
                      "check %r: passes %s fails %s, expected 0 / %d"
                      % (nm, c.get("passes"), c.get("fails"), n_small))
            if "needle" in nm and nm.startswith("hay"):
                check(c.get("fails") == 0 and c.get("passes") == n_body,
                      "check %r: passes %s fails %s, expected %d / 0"
                      % (nm, c.get("passes"), c.get("fails"), n_body))
        check(found, "root_group.checks has no body check of step 'small': %s"
              % json.dumps(checks)[:600])


def test_post_headers_json_body_query():
    """POST with headers and a json body, a raw body, and a query string reach nginx as sent."""
    with Nginx() as ng:
        r = run_herd(plan(ng.url, {"p": """
executor: per-vu-iterations
vus: 2
iterations: 5
maxDuration: 20s
flow:
  - post: /api/orders
    name: create
    headers: { Authorization: "Bearer abc", X-Test: "1" }
    json: { item: 42, qty: 1 }
    check: { status: 201, body: created }
  - post: /api/echo
    json: { item: 42, qty: 1, tags: [a, b] }
    check: { status: 200, body: qty }
  - put: /api/echo
    headers: { Content-Type: text/plain }
    body: "raw-payload"
  - get: /small
    query: { a: 1, b: x y }
"""}), timeout=40)
        expect_code(r, 0)
        ng.settle()
        es = ng.entries()
        orders = [e for e in es if e["uri"] == "/api/orders"]
        check(len(orders) == 10, "nginx saw %d requests to /api/orders, expected 10" % len(orders))
        for e in orders:
            check(e["method"] == "POST" and e["status"] == 201, "order request %s" % e)
            check(e["content_type"].startswith("application/json"),
                  "Content-Type %r, expected application/json" % e["content_type"])
            check(e["authorization"] == "Bearer abc", "Authorization %r" % e["authorization"])
            check(e["content_length"].isdigit() and int(e["content_length"]) > 0,
                  "Content-Length %r" % e["content_length"])
        echoes = [e for e in es if e["uri"] == "/api/echo" and e["method"] == "POST"]
        check(len(echoes) == 10, "nginx saw %d POST /api/echo, expected 10" % len(echoes))
        for e in echoes:
            try:
                body = json.loads(e["request_body"])
            except ValueError:
                raise Fail("POST body is not JSON: %r" % e["request_body"])
            check(body == {"item": 42, "qty": 1, "tags": ["a", "b"]}, "POST body %r" % body)
        puts = [e for e in es if e["uri"] == "/api/echo" and e["method"] == "PUT"]
        check(len(puts) == 10, "nginx saw %d PUT /api/echo, expected 10" % len(puts))
        for e in puts:
            check(e["request_body"] == "raw-payload", "PUT body %r" % e["request_body"])
            check(e["content_type"] == "text/plain", "PUT Content-Type %r" % e["content_type"])
        gets = [e for e in es if e["uri"] == "/small"]
        check(len(gets) == 10, "nginx saw %d GET /small, expected 10" % len(gets))
        for e in gets:
            q = dict(kv.split("=", 1) for kv in e["args"].split("&") if "=" in kv)
            check(q.get("a") == "1" and q.get("b") in ("x%20y", "x+y"),
                  "query string %r, expected a=1&b=x%%20y" % e["args"])
        passes, fails, _ = rate_counts(r, "checks")
        check(fails == 0 and passes == 40, "checks passes %d fails %d, expected 40 / 0"
              % (passes, fails))
        check(r.count() == len(es), "herd count %d != nginx %d" % (r.count(), len(es)))


def test_data_bytes_match_nginx():
    """data_received / data_sent equal the bytes nginx sent ($bytes_sent) and read
    ($request_length), GET and POST with a small json body and a 100 KB raw body
    (libcurl sends bodies under 64 KiB with the headers, larger ones after them).
    The POSTs go to /api/echo, which reads its body: nginx leaves a body it never
    read out of $request_length."""
    big = "x" * 100000
    with Nginx() as ng:
        r = run_herd(plan(ng.url, {"b": """
executor: per-vu-iterations
vus: 2
iterations: 10
flow:
  - get: /small
  - post: /api/echo
    json: { item: 42, qty: 1, note: "some text to make the body longer" }
  - post: /api/echo
    body: "%s"
""" % big}), timeout=40)
        expect_code(r, 0)
        ng.settle()
        es = ng.entries()
        check(len(es) == 60, "nginx logged %d requests, expected 60" % len(es))
        sent = sum(e["bytes_sent"] for e in es)
        read = sum(e["request_length"] for e in es)
        body = sum(int(e["content_length"] or 0) for e in es)
        rx = r.metric("data_received")["count"]
        tx = r.metric("data_sent")["count"]
        note("bytes: nginx sent %d read %d (request bodies %d); herd received %d sent %d",
             sent, read, body, rx, tx)
        # /small answers with Content-Length: counted to the byte. The echo module
        # answers chunked, and libcurl reports a chunked body decoded, so herd counts
        # each echo response short by its chunk framing (a few dozen bytes).
        echo_n = sum(1 for e in es if e["uri"] == "/api/echo")
        check(sent - 64 * echo_n <= rx <= sent,
              "data_received %d not within chunk framing of nginx $bytes_sent total %d" % (rx, sent))
        check(tx == read, "data_sent %d != nginx $request_length total %d (request bodies "
              "total %d)" % (tx, read, body))


def _threshold_marks(r, metric):
    m = r.metric(metric)
    check("thresholds" in m, "export of %s has no thresholds: %s" % (metric, m))
    return m["thresholds"]


def test_threshold_fails_exit_99():
    """http_req_duration p(95) < 1 against /delay50: exit 99, marked failed in the export."""
    with Nginx() as ng:
        r = run_herd(plan(ng.url, {"d": """
executor: constant-vus
vus: 2
duration: 2s
flow:
  - get: /delay50
"""}, thresholds={"http_req_duration": ["p(95) < 1"]}), timeout=40)
        expect_code(r, 99)
        th = _threshold_marks(r, "http_req_duration")
        check(th.get("p(95) < 1") is True, "thresholds[\"p(95) < 1\"] = %r, expected true "
              "(k6's export: true means failed): %s" % (th.get("p(95) < 1"), th))
        hth = r.herd().get("thresholds", [])
        bad = [t for t in hth if t.get("metric") == "http_req_duration"]
        check(bad and bad[0].get("ok") is False, "herd.thresholds does not mark it failed: %s"
              % hth)


def test_threshold_passes_exit_0():
    """http_req_duration p(95) < 1000 and http_req_failed rate < 0.01: exit 0."""
    with Nginx() as ng:
        r = run_herd(plan(ng.url, {"d": """
executor: constant-vus
vus: 2
duration: 2s
flow:
  - get: /delay50
"""}, thresholds={"http_req_duration": ["p(95) < 1000", "med >= 50"],
                  "http_req_failed": ["rate < 0.01"]}), timeout=40)
        expect_code(r, 0)
        th = _threshold_marks(r, "http_req_duration")
        check(th.get("p(95) < 1000") is False and th.get("med >= 50") is False,
              "thresholds marked %s, expected both false (passed)" % th)
        th = _threshold_marks(r, "http_req_failed")
        check(th.get("rate < 0.01") is False, "http_req_failed thresholds %s" % th)


def test_submetric_threshold_by_scenario():
    """Submetrics named in thresholds appear under their exact names, filtered by scenario."""
    with Nginx() as ng:
        r = run_herd(plan(ng.url, {
            "browse": """
executor: constant-vus
vus: 2
duration: 2s
flow:
  - get: /small
  - think: 10ms
""",
            "slowpoke": """
executor: constant-vus
vus: 2
duration: 2s
flow:
  - get: /delay50
"""}, thresholds={"http_req_duration{scenario:browse}": ["p(99) < 1000"],
                  "http_reqs{scenario:browse}": ["count > 0"],
                  "http_req_duration{scenario:slowpoke}": ["p(95) < 10"]}), timeout=40)
        expect_code(r, 99)  # the slowpoke scenario's threshold must fail
        n_small = ng.access_log_lines(path="/small")
        n_delay = ng.access_log_lines(path="/delay50", settle=False)
        sub = r.metric("http_reqs{scenario:browse}")
        check(sub.get("count") == n_small, "http_reqs{scenario:browse}.count %s != nginx /small %d"
              % (sub.get("count"), n_small))
        slow = r.metric("http_req_duration{scenario:slowpoke}")
        check(slow["min"] >= 45, "slowpoke min %.3f ms < 50 ms: other scenarios mixed in?"
              % slow["min"])
        br = r.metric("http_req_duration{scenario:browse}")
        check(br["p(99)"] < slow["min"], "browse p99 %.3f >= slowpoke min %.3f: /delay50 "
              "mixed into the browse submetric?" % (br["p(99)"], slow["min"]))
        check(_threshold_marks(r, "http_req_duration{scenario:browse}").get("p(99) < 1000")
              is False, "browse threshold marked failed")
        check(_threshold_marks(r, "http_req_duration{scenario:slowpoke}").get("p(95) < 10")
              is True, "slowpoke threshold not marked failed")
        check(r.count() == n_small + n_delay, "herd count %d != nginx %d"
              % (r.count(), n_small + n_delay))


ISSUE_PLAN = """name: smoke
target: http://127.0.0.1:8080
scenarios:
  browse:
    executor: constant-vus
    vus: 20
    duration: 10s
    flow:
      - get: /small
        name: small
        check: { status: 200 }
  orders:
    executor: constant-arrival-rate
    rate: 200
    timeUnit: 1s
    duration: 10s
    preAllocatedVUs: 20
    maxVUs: 50
    flow:
      - post: /api/orders
        headers: { Authorization: "Bearer abc" }
        json: { item: 42, qty: 1 }
  ramp:
    executor: ramping-vus
    startTime: 2s
    stages:
      - { duration: 5s, target: 10 }
      - { duration: 5s, target: 0 }
    flow:
      - get: /slow
        timeout: 2s
      - think: 100ms..300ms
thresholds:
  http_req_duration: ["p(95) < 500"]
  "http_req_duration{scenario:browse}": ["p(99) < 1000"]
  http_req_failed: ["rate < 0.01"]
"""


def test_issue_example_plan():
    """The example plan of issue 2, as written (port substituted)."""
    with Nginx() as ng:
        text = ISSUE_PLAN.replace("http://127.0.0.1:8080", ng.url)
        r = run_herd(text, timeout=90)
        check(r.code in (0, 99), "exit %d%s" % (r.code, r.tail()))
        d = r.metric("http_req_duration")
        b = r.metric("http_req_duration{scenario:browse}")
        passes, fails, value = rate_counts(r, "http_req_failed")
        want = 0 if (d["p(95)"] < 500 and b["p(99)"] < 1000 and value < 0.01) else 99
        check(r.code == want, "exit %d but thresholds say %d (p95 %.2f, browse p99 %.2f, "
              "failed rate %s)" % (r.code, want, d["p(95)"], b["p(99)"], value))
        scen = r.herd().get("scenarios", {})
        names = set(scen) if isinstance(scen, dict) else {s.get("name") for s in scen}
        check({"browse", "orders", "ramp"} <= names, "herd.scenarios has %s" % sorted(names))
        total = ng.access_log_lines()
        n_small = ng.access_log_lines(path="/small", settle=False)
        n_orders = ng.access_log_lines(path="/api/orders", settle=False)
        n_orders_ok = ng.access_log_lines(path="/api/orders", status=201, method="POST",
                                          settle=False)
        n_slow = ng.access_log_lines(path="/slow", settle=False)
        check(r.count() == total, "herd http_reqs %d != nginx lines %d" % (r.count(), total))
        check(n_small + n_orders + n_slow == total, "nginx saw other paths")
        check(n_orders_ok == n_orders, "%d of %d orders were not POST 201"
              % (n_orders - n_orders_ok, n_orders))
        # The orders' arrivals: the clock's 2000 (+- a rounding per worker),
        # each started or counted as dropped — browse's 20 VUs at full speed
        # share the cores, so on a busy machine some may be dropped, never lost.
        offered = r.metric("offered_iterations")["count"]
        check(abs(offered - 2000) <= 4, "orders: %d arrivals offered, expected 2000" % offered)
        check(n_orders + dropped(r) == offered, "orders: nginx %d + dropped %d != offered %d"
              % (n_orders, dropped(r), offered))
        check(n_slow > 0 and n_small > 0, "nginx saw /slow %d, /small %d" % (n_slow, n_small))
        if isinstance(scen, dict):
            for sname, n in (("browse", n_small), ("orders", n_orders), ("ramp", n_slow)):
                got = scen[sname].get("requests")
                check(got == n, "herd.scenarios.%s.requests %s != nginx %d" % (sname, got, n))
        steps = r.herd().get("steps", [])
        small = [st for st in steps if st.get("scenario") == "browse" and st.get("name") == "small"]
        check(small and small[0].get("requests") == n_small,
              "herd.steps has no browse/small step with %d requests: %s"
              % (n_small, json.dumps(steps)[:600]))
        check(passes == 0, "%d requests failed" % passes)
        note("issue plan: orders %d, dropped %d", n_orders, dropped(r))
        check(dropped(r) <= offered // 10, "dropped_iterations %d of %d" % (dropped(r), offered))
        vus = r.metric("vus")
        # browse's 20 and ramp's peak of 10 overlap (ramp peaks at 7 s). herd
        # counts busy arrival-rate VUs only (k6 counts preAllocatedVUs too).
        check(vus.get("max", 0) >= 20 + 10, "vus max %s: browse 20 + ramp 10 expected"
              % vus.get("max"))
        note("example: exit %d, nginx %d (small %d, orders %d, slow %d), p95 %.2f ms, vus max %s",
             r.code, total, n_small, n_orders, n_slow, d["p(95)"], vus.get("max"))


def _find_run_in_db(db, run_id):
    con = sqlite3.connect(db)
    try:
        uv = con.execute("PRAGMA user_version").fetchone()[0]
        jm = con.execute("PRAGMA journal_mode").fetchone()[0]
        hits = []
        tables = [t[0] for t in con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
        for t in tables:
            cols = [c[1] for c in con.execute("PRAGMA table_info(\"%s\")" % t)]
            for c in cols:
                if c in ("id", "run_id", "run"):
                    n = con.execute("SELECT count(*) FROM \"%s\" WHERE \"%s\" = ?" % (t, c),
                                    (run_id,)).fetchone()[0]
                    if n:
                        hits.append((t, c, n))
        return uv, jm, tables, hits
    finally:
        con.close()


def test_results_store_and_cli():
    """The run lands in the SQLite store (WAL, user_version) and `herd results` shows it."""
    with Nginx() as ng:
        r = run_herd(plan(ng.url, {"s": """
executor: per-vu-iterations
vus: 2
iterations: 10
maxDuration: 10s
flow:
  - get: /small
"""}), timeout=40)
        expect_code(r, 0)
        run_id = r.herd().get("run_id")
        check(run_id, "export has no herd.run_id")
        check(os.path.exists(r.db), "no database at %s" % r.db)
        uv, jm, tables, hits = _find_run_in_db(r.db, run_id)
        check(uv > 0, "PRAGMA user_version is %d" % uv)
        check(jm.lower() == "wal", "journal_mode is %s, expected wal" % jm)
        check(hits, "run %s not found in any table of %s (tables %s)" % (run_id, r.db, tables))
        code, out, err = run_cli("results", "list", "--db", r.db)
        check(code == 0, "results list exited %d: %s" % (code, err))
        check(run_id in out, "results list does not show %s:\n%s" % (run_id, out))
        code, out, err = run_cli("results", "show", "--db", r.db, run_id)
        check(code == 0, "results show exited %d: %s" % (code, err))
        check("http_reqs" in out and "20" in out, "results show lacks http_reqs/20:\n%s" % out)
        code, out, err = run_cli("results", "show", "--db", r.db, "no-such-run")
        check(code != 0, "results show of an unknown run exited 0")
        # a second run is listed beside the first
        r2 = run_herd(plan(ng.url, {"s": """
executor: per-vu-iterations
vus: 1
iterations: 3
flow:
  - get: /small
"""}), db=r.db, timeout=40)
        expect_code(r2, 0)
        run2 = r2.herd().get("run_id")
        check(run2 and run2 != run_id, "second run id %r (first %r)" % (run2, run_id))
        code, out, err = run_cli("results", "list", "--db", r.db)
        check(run_id in out and run2 in out, "results list lacks a run:\n%s" % out)


def test_results_show_flags_after_id():
    """The documented order `herd results show RUN_ID --db FILE` works."""
    r = run_herd(plan("http://127.0.0.1:%d" % free_port(), {"s": """
executor: per-vu-iterations
vus: 1
iterations: 2
flow:
  - get: /small
"""}), timeout=40)
    expect_code(r, 0)
    run_id = r.herd().get("run_id")
    code, out, err = run_cli("results", "show", run_id, "--db", r.db)
    check(code == 0, "herd results show %s --db FILE exited %d: %s" % (run_id, code, err.strip()))
    check("http_reqs" in out, "no summary in:\n%s" % out)
    code, out, err = run_cli("results", "list", "--db", r.db)
    check(code == 0 and run_id in out, "herd results list --db FILE: exit %d\n%s" % (code, out))


SIGINT_PLAN = """
executor: constant-vus
vus: 5
duration: 30s
flow:
  - get: /small
  - think: 10ms
"""


def _sigint_run(to_group):
    with Nginx() as ng:
        p = start_herd(plan(ng.url, {"s": SIGINT_PLAN}), quiet=True)
        with killed_on_exit(p):
            deadline = time.monotonic() + 15
            while ng.access_log_lines(settle=False) < 50:
                check(p.poll() is None, "herd exited %s before the signal" % p.returncode)
                check(time.monotonic() < deadline, "no load reached nginx in 15 s")
                time.sleep(0.1)
            time.sleep(1.0)
            t_sig = time.monotonic()
            if to_group:
                os.killpg(p.pid, signal.SIGINT)  # as a terminal's Ctrl-C
            else:
                os.kill(p.pid, signal.SIGINT)
            r = finish(p, timeout=25)
            took = time.monotonic() - t_sig
        expect_code(r, 105)
        check(took < 10, "herd took %.1f s to stop after SIGINT" % took)
        check("http_reqs" in r.stdout, "no summary on stdout after SIGINT:\n%s" % r.tail())
        status = r.herd().get("status")
        note("sigint: status %r, herd %d requests", status, r.count())
        check(status != "passed", "an interrupted run is exported with status %r" % status)
        n = ng.access_log_lines()
        check(r.count() == n, "herd http_reqs %d != nginx lines %d after SIGINT%s" % (r.count(), n, r.tail()))
        return r


def test_sigint_graceful_stop():
    """SIGINT to herd during a 30 s run: exit 105 soon, summary printed, counts kept."""
    _sigint_run(to_group=False)


def test_sigint_process_group():
    """SIGINT to herd's whole process group (a terminal's Ctrl-C reaches the agents too)."""
    _sigint_run(to_group=True)


def test_second_sigint_stops_at_once():
    """Two SIGINTs: exit 105, nothing left running."""
    with Nginx() as ng:
        p = start_herd(plan(ng.url, {"s": SIGINT_PLAN}), quiet=True)
        with killed_on_exit(p):
            deadline = time.monotonic() + 15
            while ng.access_log_lines(settle=False) < 50:
                check(p.poll() is None, "herd exited %s before the signal" % p.returncode)
                check(time.monotonic() < deadline, "no load reached nginx in 15 s")
                time.sleep(0.1)
            os.kill(p.pid, signal.SIGINT)
            time.sleep(0.05)
            os.kill(p.pid, signal.SIGINT)
            r = finish(p, timeout=20)
        expect_code(r, 105)


def test_live_status_line_and_summary():
    """Without --quiet: a live line each second (elapsed, VUs, req/s, p95, errors) and
    the end-of-run summary; with --quiet no live line."""
    body = {"s": """
executor: constant-vus
vus: 2
duration: 3s
flow:
  - get: /small
  - think: 10ms
"""}
    with Nginx() as ng:
        r = run_herd(plan(ng.url, body), quiet=False, timeout=40)
        expect_code(r, 0)
        out = r.stdout + r.stderr
        live = [ln for ln in re.split(r"[\r\n]+", out) if re.search(r"\[\s*\d+s/3s\]", ln)]
        check(len(live) >= 2, "%d live status lines in a 3 s run%s" % (len(live), r.tail()))
        for ln in live:
            for w in ("vus=", "req/s", "p95=", "error"):
                check(w in ln, "live line lacks %r: %r" % (w, ln))
        check("http_reqs" in r.stdout and "http_req_duration" in r.stdout,
              "no summary on stdout%s" % r.tail())
        check(str(r.count()) in r.stdout, "summary does not show the count %d" % r.count())
        rq = run_herd(plan(ng.url, body), quiet=True, timeout=40)
        expect_code(rq, 0)
        live = [ln for ln in re.split(r"[\r\n]+", rq.stdout + rq.stderr)
                if re.search(r"\[\s*\d+s/3s\]", ln)]
        check(not live, "--quiet still prints live lines: %r" % live[:2])


def test_two_local_agents():
    """--local-agents 2 --workers 1, constant-vus 4: totals match nginx, 2 agents reported."""
    with Nginx() as ng:
        r = run_herd(plan(ng.url, {"s": """
executor: constant-vus
vus: 4
duration: 3s
flow:
  - get: /small
  - think: 10ms
"""}), "--local-agents", "2", "--workers", "1", timeout=40)
        expect_code(r, 0)
        n = ng.access_log_lines()
        check(r.count() == n, "herd http_reqs %d != nginx lines %d" % (r.count(), n))
        agents = r.herd().get("agents")
        check(agents is not None, "export has no herd.agents")
        check(len(agents) == 2, "herd.agents has %d entries, expected 2: %s"
              % (len(agents), json.dumps(agents)[:500]))
        vals = agents.values() if isinstance(agents, dict) else agents
        counts = []
        for a in vals:
            for k in ("http_reqs", "requests", "count", "reqs"):
                if isinstance(a, dict) and isinstance(a.get(k), int):
                    counts.append(a[k])
                    break
        if len(counts) == 2:
            check(all(c > 0 for c in counts), "an agent sent nothing: %s" % counts)
            check(sum(counts) == n, "per-agent counts %s do not add up to %d" % (counts, n))
        check(r.metric("vus").get("max") == 4, "vus max %s, expected 4" % r.metric("vus"))


def test_no_agents_exit_103_recorded_as_error():
    """--listen with --agents 1 and nobody dialing in: exit 103 after --agents-wait,
    and the store records the run as an error (not left 'running')."""
    port = free_port()
    r = run_herd(plan("http://127.0.0.1:%d" % free_port(), {"s": """
executor: constant-vus
vus: 1
duration: 1s
flow:
  - get: /small
"""}), "--listen", "tcp://127.0.0.1:%d" % port, "--agents", "1", "--agents-wait", "1s", timeout=30)
    expect_code(r, 103)
    check("only 0 of 1 agents connected" in r.stderr, "stderr does not say why: %r" % r.stderr[-300:])
    db = sqlite3.connect(r.db)
    rows = db.execute("SELECT status, exit_code FROM runs").fetchall()
    db.close()
    check(rows == [("error", 103)], "runs table %s, expected one run with status error, exit 103" % rows)


def test_agent_weight_splits_vus():
    """--agent-weight local-1=3 (local-2 keeps its 1 worker): per-vu-iterations
    4 VUs x 5 iterations splits 3 + 1 VUs, so local-1 sends 15 requests, local-2 5."""
    with Nginx() as ng:
        r = run_herd(plan(ng.url, {"s": """
executor: per-vu-iterations
vus: 4
iterations: 5
flow:
  - get: /small
"""}), "--local-agents", "2", "--workers", "1", "--agent-weight", "local-1=3", timeout=40)
        expect_code(r, 0)
        check(ng.access_log_lines() == 20, "nginx logged %d, expected 20" % ng.access_log_lines())
        by_name = {a.get("name"): a.get("requests") for a in r.herd()["agents"].values()}
        check(by_name == {"local-1": 15, "local-2": 5}, "per agent %s, expected local-1 15, local-2 5" % by_name)


class HttpsServer:
    """Python's HTTPS server on 127.0.0.1 with a certificate of the test CA:
    200 "ok" to every GET, counted in requests."""

    def __init__(self, cert, key):
        self.port = free_port()
        self.url = "https://127.0.0.1:%d" % self.port
        self.requests = 0
        lock = threading.Lock()
        srv = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                with lock:
                    srv.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", "3")
                self.end_headers()
                self.wfile.write(b"ok\n")

            def log_message(self, *a):
                pass

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.httpd.daemon_threads = True
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_https_tls_options():
    """The plan's tls options hold for https:// requests (libcurl) too: with
    tls.ca the 10 requests succeed and the server counts 10; without it (the
    system store) all 10 fail as 'tls' and none reaches the server; with
    insecureSkipVerify they succeed again."""
    pki = TestPki()
    cert, key = pki.server("https", ["IP:127.0.0.1"])
    body = {"s": "executor: per-vu-iterations\nvus: 2\niterations: 5\nflow:\n  - get: /hello\n"}
    with HttpsServer(cert, key) as srv:
        text = plan(srv.url, body).replace("scenarios:", "tls: { ca: %s }\nscenarios:" % pki.ca, 1)
        r = run_herd(text, timeout=60)
        expect_code(r, 0)
        check(r.count() == 10 == srv.requests, "with the CA: %d requests, server %d"
              % (r.count(), srv.requests))
        check(not r.errors_by_kind(), "errors %s" % r.errors_by_kind())
        r = run_herd(plan(srv.url, body), timeout=60)
        expect_code(r, 0)
        check(r.herd().get("errors_by_kind") == {"tls": 10}, "without the CA: %s"
              % r.herd().get("errors_by_kind"))
        check(srv.requests == 10, "the server got %d requests" % srv.requests)
        text = plan(srv.url, body).replace("scenarios:", "tls: { insecureSkipVerify: true }\n"
                                           "scenarios:", 1)
        r = run_herd(text, timeout=60)
        expect_code(r, 0)
        check(srv.requests == 20 and not r.errors_by_kind(), "insecureSkipVerify: server %d, "
              "errors %s" % (srv.requests, r.errors_by_kind()))


TESTS = [
    test_count_equals_nginx_log,
    test_p50_of_50ms_delay,
    test_4xx_5xx_are_failed,
    test_closed_port_connect_refused,
    test_arrival_rate_within_2pct,
    test_arrival_rate_two_agents,
    test_per_vu_iterations_exact,
    test_per_vu_iterations_two_agents,
    test_ramping_vus_reaches_target,
    test_checks_pass_and_fail,
    test_post_headers_json_body_query,
    test_data_bytes_match_nginx,
    test_threshold_fails_exit_99,
    test_threshold_passes_exit_0,
    test_submetric_threshold_by_scenario,
    test_issue_example_plan,
    test_results_store_and_cli,
    test_results_show_flags_after_id,
    test_sigint_graceful_stop,
    test_sigint_process_group,
    test_second_sigint_stops_at_once,
    test_live_status_line_and_summary,
    test_two_local_agents,
    test_agent_weight_splits_vus,
    test_no_agents_exit_103_recorded_as_error,
    test_https_tls_options,
]

if __name__ == "__main__":
    main(TESTS)
