#!/usr/bin/env python3
"""The lean HTTP/1.1 driver (agent/h1.c) against a real nginx on 127.0.0.1:
counts and bytes cross-checked with nginx's access log, latency, error kinds,
request bodies, connection reuse and reconnects. Every run sets
HERD_HTTP_DRIVER=lean, which the agents inherit through herd.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/h1_driver_test.py [-k NAME]
"""

import json
import os
import socket
import sqlite3
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (Fail, Nginx, check, check_p50_against_server, free_port, main,  # noqa: E402
                     near, note, reference_http, run_herd)

# run_herd passes herd the environment it runs in; agents inherit it.
os.environ["HERD_HTTP_DRIVER"] = "lean"


def plan(target, scenarios, name="h1test"):
    """Builds a plan's YAML text. scenarios: {name: yaml body}."""
    out = ["name: %s" % name, "target: %s" % target, "scenarios:"]
    for sname, body in scenarios.items():
        out.append("  %s:" % sname)
        for line in body.strip("\n").splitlines():
            out.append("    " + line)
    return "\n".join(out) + "\n"


def expect_code(r, want):
    check(r.code == want, "herd exited %d, expected %d%s" % (r.code, want, r.tail()))


def rate_counts(r, name):
    m = r.metric(name)
    for k in ("passes", "fails", "value"):
        check(k in m, "%s has no %r: %s" % (name, k, m))
    return m["passes"], m["fails"], m["value"]


# Extra access-log fields some tests add after harness.LOG_FIELDS.
EXTRA_FIELDS = ["connection", "connection_requests", "http_accept", "http_user_agent"]


class NginxWith(Nginx):
    """harness.Nginx with its config changed: directives replaced (a dict of
    old text -> new text), and the access log extended by EXTRA_FIELDS."""

    def __init__(self, replace=None):
        replace = dict(replace or {})
        replace["\\t$request_length'"] = (
            "\\t$request_length\\t$connection\\t$connection_requests\\t$http_accept"
            "\\t$http_user_agent'")
        super().__init__(replace)

    def extra(self):
        """The access log's EXTRA_FIELDS, one dict per line."""
        self.settle()
        out = []
        n = len(harness.LOG_FIELDS)
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) < n + len(EXTRA_FIELDS):
                    continue
                out.append(dict(zip(EXTRA_FIELDS, parts[n:n + len(EXTRA_FIELDS)])))
        return out


# ---------------------------------------------------------------------------


def test_requests_come_from_the_lean_driver():
    """The lean driver sends no Accept header (libcurl sends */*): proof the
    agent picked it, so the other tests measure what they mean to."""
    with NginxWith() as ng:
        r = run_herd(plan(ng.url, {"s": """
executor: per-vu-iterations
vus: 2
iterations: 3
flow:
  - get: /small
"""}), timeout=40)
        expect_code(r, 0)
        ex = ng.extra()
        check(len(ex) == 6, "nginx logged %d requests, expected 6" % len(ex))
        for e in ex:
            check(e["http_accept"] in ("", "-"), "Accept: %r: the libcurl driver sent this"
                  " (is HERD_HTTP_DRIVER=lean wired in the agent?)" % e["http_accept"])
            check(e["http_user_agent"].startswith("herd/"), "User-Agent %r" % e["http_user_agent"])
        # Each VU keeps one connection for its 3 requests.
        conns = {e["connection"] for e in ex}
        check(len(conns) == 2, "%d connections for 2 VUs: %s" % (len(conns), sorted(conns)))


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
        note("small: herd %d, nginx %d", count, logged)
        check(count > 1000, "only %d requests in 4 s" % count)
        check(count == logged, "herd http_reqs.count %d != nginx logged %d" % (count, logged))
        check(small_ok == logged, "nginx logged %d lines, only %d are GET /small 200"
              % (logged, small_ok))
        passes, fails, value = rate_counts(r, "http_req_failed")
        check(passes == 0 and fails == count, "http_req_failed passes=%s fails=%s, expected 0/%d"
              % (passes, fails, count))
        check(r.metric("iterations")["count"] == count, "iterations != requests")


def test_p50_of_50ms_delay():
    """constant-vus 10 VUs 5 s on /delay50 (echo_sleep 0.05): med at least nginx's own
    time, within 2% of 50 ms of a reference client timing the same sleep meanwhile."""
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
        note("delay50: count %d min %.3f med %.3f p90 %.3f p99 %.3f max %.3f ms",
             r.count(), d["min"], d["med"], d["p(90)"], d["p(99)"], d["max"])
        ref_med, ref_n = ref()
        check_p50_against_server(ng, d["med"], ref_med, ref_n)
        check(d["min"] >= 45, "min %.3f ms: well below the 50 ms the server sleeps" % d["min"])
        w = r.metric("http_req_waiting")
        check(near(w["med"], d["med"], 0.02), "waiting med %.3f far from duration med %.3f"
              % (w["med"], d["med"]))
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
        passes, fails, _ = rate_counts(r, "http_req_failed")
        check(passes == n404 + n500, "http_req_failed.passes %d != nginx 404+500 %d"
              % (passes, n404 + n500))
        check(fails == n200, "http_req_failed.fails %d != nginx 200s %d" % (fails, n200))
        ebk = r.errors_by_kind()
        check(ebk.get("http_4xx") == n404, "http_4xx %s != nginx 404s %d (%s)"
              % (ebk.get("http_4xx"), n404, ebk))
        check(ebk.get("http_5xx") == n500, "http_5xx %s != nginx 500s %d (%s)"
              % (ebk.get("http_5xx"), n500, ebk))


MANY_STEPS = [("/small", 200), ("/status404", 404), ("/status500", 500), ("/read", 200),
              ("/nope-a", 404), ("/write", 200), ("/ai", 200), ("/nope-b", 404), ("/body", 200),
              ("/nope-c", 404), ("/nope-d", 404), ("/nope-e", 404)]


def test_many_steps_counted_per_step():
    """12 steps of 3 status classes, each to a path of its own, while the
    agent's table of series grows mid-interval (a step's 7 series each: the
    worker keeps pointers to them between requests): every step's requests
    and failures equal nginx's for its path, each of the 6 phase metrics
    counted every request once, and http_4xx/http_5xx equal nginx's."""
    flow = "\n".join("  - get: %s\n    name: s%02d" % (path, i) for i, (path, _) in enumerate(MANY_STEPS))
    with Nginx() as ng:
        r = run_herd(plan(ng.url, {"m": """
executor: per-vu-iterations
vus: 4
iterations: 150
flow:
%s
""" % flow}), timeout=60)
        expect_code(r, 0)
        total = ng.access_log_lines()
        check(total == 4 * 150 * len(MANY_STEPS), "nginx logged %d requests" % total)
        check(r.count() == total, "herd count %d != nginx %d" % (r.count(), total))
        steps = {st.get("name"): st for st in r.herd().get("steps", [])}
        for i, (path, status) in enumerate(MANY_STEPS):
            st = steps.get("s%02d" % i, {})
            n = ng.access_log_lines(path=path, status=status, settle=False)
            check(n == 600 and st.get("requests") == n, "step s%02d %s: herd %s requests, nginx %d"
                  % (i, path, st.get("requests"), n))
            want_failed = n if status >= 400 else 0
            check(st.get("failed") == want_failed, "step s%02d %s: %s failed, expected %d"
                  % (i, path, st.get("failed"), want_failed))
        # The store's series: each step's 7 request metrics, in its status class only.
        con = sqlite3.connect(r.db)
        try:
            rows = con.execute("SELECT k.metric, k.name, k.status_class, sum(i.count) FROM intervals i "
                               "JOIN series_keys k ON k.id = i.key_id WHERE k.metric LIKE 'http_req_%' "
                               "AND k.metric <> 'http_req_failed' "
                               "GROUP BY k.metric, k.name, k.status_class").fetchall()
        finally:
            con.close()
        want = {(m, "s%02d" % i, status // 100, 600) for i, (_, status) in enumerate(MANY_STEPS)
                for m in ("http_req_duration", "http_req_waiting", "http_req_connecting",
                          "http_req_tls_handshaking", "http_req_sending", "http_req_receiving",
                          "http_req_blocked")}
        check(set(rows) == want, "stored series differ: extra %s, missing %s"
              % (sorted(set(rows) - want)[:6], sorted(want - set(rows))[:6]))
        ebk = r.errors_by_kind()
        n4, n5 = ng.access_log_lines(status=404, settle=False), ng.access_log_lines(status=500, settle=False)
        check(ebk.get("http_4xx") == n4 and ebk.get("http_5xx") == n5, "errors %s, nginx 404 %d 500 %d"
              % (ebk, n4, n5))


def test_post_json_body():
    """POST with a json body and headers reaches nginx whole: method, Content-Type,
    Content-Length equal to the body, the body itself; a body check passes."""
    with Nginx() as ng:
        r = run_herd(plan(ng.url, {"p": """
executor: per-vu-iterations
vus: 2
iterations: 5
flow:
  - post: /api/echo
    headers: { Authorization: "Bearer abc" }
    json: { item: 42, qty: 1, tags: [a, b] }
    check: { status: 200, body: qty }
  - put: /api/echo
    headers: { Content-Type: text/plain }
    body: "raw-payload"
  - head: /small
  - get: /small
    query: { a: 1, b: x y }
"""}), timeout=40)
        expect_code(r, 0)
        ng.settle()
        es = ng.entries()
        posts = [e for e in es if e["uri"] == "/api/echo" and e["method"] == "POST"]
        check(len(posts) == 10, "nginx saw %d POST /api/echo, expected 10" % len(posts))
        for e in posts:
            body = e["request_body"]
            try:
                parsed = json.loads(body)
            except ValueError:
                raise Fail("POST body is not JSON: %r" % body)
            check(parsed == {"item": 42, "qty": 1, "tags": ["a", "b"]}, "POST body %r" % parsed)
            check(e["content_length"] == str(len(body.encode())),
                  "Content-Length %r for a %d-byte body" % (e["content_length"], len(body.encode())))
            check(e["content_type"] == "application/json", "Content-Type %r" % e["content_type"])
            check(e["authorization"] == "Bearer abc", "Authorization %r" % e["authorization"])
        puts = [e for e in es if e["uri"] == "/api/echo" and e["method"] == "PUT"]
        check(len(puts) == 10, "nginx saw %d PUT /api/echo, expected 10" % len(puts))
        for e in puts:
            check(e["request_body"] == "raw-payload", "PUT body %r" % e["request_body"])
            check(e["content_type"] == "text/plain", "PUT Content-Type %r" % e["content_type"])
            check(e["content_length"] == "11", "PUT Content-Length %r" % e["content_length"])
        heads = [e for e in es if e["method"] == "HEAD"]
        check(len(heads) == 10 and all(e["status"] == 200 for e in heads),
              "HEAD requests: %s" % [(e["method"], e["status"]) for e in heads])
        gets = [e for e in es if e["method"] == "GET"]
        check(len(gets) == 10, "nginx saw %d GET, expected 10" % len(gets))
        for e in gets:
            check(e["args"] in ("a=1&b=x%20y", "a=1&b=x+y"), "query string %r" % e["args"])
        passes, fails, _ = rate_counts(r, "checks")
        check(fails == 0 and passes == 20, "checks passes %d fails %d, expected 20 / 0"
              % (passes, fails))
        check(r.count() == len(es) == 40, "herd count %d, nginx %d, expected 40"
              % (r.count(), len(es)))


def test_body_check_fails_on_other_body():
    """check.body sees the response body: passes on /body, fails on /small."""
    with Nginx() as ng:
        r = run_herd(plan(ng.url, {"c": """
executor: per-vu-iterations
vus: 2
iterations: 5
flow:
  - get: /body
    check: { body: needle }
  - get: /small
    check: { body: needle }
"""}), timeout=40)
        expect_code(r, 0)
        passes, fails, _ = rate_counts(r, "checks")
        check(passes == 10 and fails == 10, "checks passes %d fails %d, expected 10 / 10"
              % (passes, fails))
        check(r.errors_by_kind().get("check_failed") == 10, "errors_by_kind %s"
              % r.errors_by_kind())


def test_closed_port_connect_refused():
    """A port nothing listens on: every request is connect_refused, exit 0."""
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
    check(ebk.get("connect_refused") == count, "connect_refused %s != requests %d (%s)"
          % (ebk.get("connect_refused"), count, ebk))
    passes, fails, value = rate_counts(r, "http_req_failed")
    check(passes == count and fails == 0, "http_req_failed passes=%s fails=%s, expected %d/0"
          % (passes, fails, count))
    for bad in ("Segmentation", "AddressSanitizer", "runtime error", "Aborted"):
        check(bad not in r.stderr, "herd's stderr mentions %r%s" % (bad, r.tail()))


def test_timeout():
    """timeout: 30ms against /slow (100 ms): every request times out near 30 ms."""
    with Nginx() as ng:
        r = run_herd(plan(ng.url, {"t": """
executor: per-vu-iterations
vus: 2
iterations: 4
flow:
  - get: /slow
    timeout: 30ms
"""}), timeout=40)
        expect_code(r, 0)
        ebk = r.errors_by_kind()
        check(r.count() == 8 and ebk.get("timeout") == 8, "count %d, errors_by_kind %s, "
              "expected 8 timeouts" % (r.count(), ebk))
        # A timed-out request lasts exactly its timeout from when its VU handed
        # it over: its duration (sending + waiting + receiving) plus the time
        # it was blocked and connecting before. A new connection after each
        # timeout may take a busy machine milliseconds to set up, so the
        # duration alone can be short of 30 ms; the sum never is.
        d = r.metric("http_req_duration")
        parts = [r.metric(m) for m in ("http_req_blocked", "http_req_connecting")]
        note("timed out: duration %s; blocked %s; connecting %s", d, parts[0], parts[1])
        check(all(p["count"] == 8 for p in parts) if all("count" in p for p in parts) else True,
              "every request has its phases: %s" % parts)
        total = (d["avg"] + sum(p["avg"] for p in parts)) * 8
        check(abs(total - 8 * 30) < 0.1, "8 timed-out requests lasted %.3f ms in all, expected 240"
              % total)
        check(d["max"] <= 30.001, "a timed-out request lasted %.3f ms, past its 30 ms timeout"
              % d["max"])


def test_connect_timeout():
    """A listener that never accepts, its queue full: connects hang until the
    step's timeout, counted as timeouts that last the timeout, not zero."""
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    try:
        # Fill the accept queue so that herd's SYNs go unanswered.
        for _ in range(4):
            f = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            f.setblocking(False)
            f.connect_ex(("127.0.0.1", port))
            fillers.append(f)
        r = run_herd(plan("http://127.0.0.1:%d" % port, {"t": """
executor: per-vu-iterations
vus: 2
iterations: 2
flow:
  - get: /small
    timeout: 300ms
"""}), timeout=40)
    finally:
        for f in fillers:
            f.close()
        lsock.close()
    expect_code(r, 0)
    ebk = r.errors_by_kind()
    check(r.count() == 4 and ebk.get("timeout") == 4, "count %d, errors_by_kind %s, expected 4 "
          "timeouts" % (r.count(), ebk))
    d = r.metric("http_req_duration")
    check(295 <= d["min"] and d["max"] < 350, "durations %.3f..%.3f ms, expected ~300"
          % (d["min"], d["max"]))
    c = r.metric("http_req_connecting")
    check(c["max"] >= 295, "connecting max %.3f ms, expected ~300" % c["max"])


def test_keepalive_requests_reconnects():
    """nginx closes each connection after 100 requests (keepalive_requests 100,
    Connection: close on the last): herd reconnects, loses and fails nothing."""
    with NginxWith({"keepalive_requests 100000;": "keepalive_requests 100;"}) as ng:
        r = run_herd(plan(ng.url, {"k": """
executor: constant-vus
vus: 5
duration: 3s
flow:
  - get: /small
"""}), timeout=40)
        expect_code(r, 0)
        ex = ng.extra()
        logged = ng.access_log_lines()
        count = r.count()
        conns = {}
        for e in ex:
            conns[e["connection"]] = max(conns.get(e["connection"], 0), int(e["connection_requests"]))
        full = sum(1 for n in conns.values() if n == 100)
        note("keepalive 100: herd %d, nginx %d, %d connections (%d carried 100 requests), "
             "max per connection %d", count, logged, len(conns), full, max(conns.values()))
        check(count > 1000, "only %d requests" % count)
        check(count == logged, "herd http_reqs %d != nginx lines %d" % (count, logged))
        check(max(conns.values()) == 100, "a connection carried %d requests" % max(conns.values()))
        check(len(conns) >= count // 100, "%d connections for %d requests" % (len(conns), count))
        passes, _, _ = rate_counts(r, "http_req_failed")
        check(passes == 0, "%d requests failed: %s" % (passes, r.errors_by_kind()))
        check(r.metric("http_req_connecting")["max"] > 0, "no connect time recorded")


def test_idle_keepalive_timeout_reconnects():
    """nginx closes connections idle for 200 ms while VUs think 150..260 ms: herd
    notices closed idle connections (or retries on a fresh one when a request
    crosses the close), and fails nothing."""
    with NginxWith({"keepalive_timeout 120s;": "keepalive_timeout 200ms;"}) as ng:
        r = run_herd(plan(ng.url, {"i": """
executor: constant-vus
vus: 8
duration: 4s
flow:
  - get: /small
  - think: 150ms..260ms
"""}), timeout=40)
        expect_code(r, 0)
        ex = ng.extra()
        count = r.count()
        conns = {e["connection"] for e in ex}
        note("idle timeout: herd %d, nginx %d, %d connections", count, len(ex), len(conns))
        check(count == len(ex), "herd http_reqs %d != nginx lines %d" % (count, len(ex)))
        check(len(conns) > 8, "only %d connections: nginx closed none?" % len(conns))
        passes, _, _ = rate_counts(r, "http_req_failed")
        check(passes == 0, "%d requests failed: %s" % (passes, r.errors_by_kind()))


class OneShotServer:
    """A tiny HTTP/1.1 server on 127.0.0.1 that answers one request per
    connection with a keep-alive response, then closes the connection without
    saying so: the client's next request on it meets a closed connection."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.sock.settimeout(0.1)  # so the thread sees stop soon
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()
        return False

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
            conn.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if b"\r\n\r\n" in data:
                    with self.lock:
                        self.requests += 1
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            except OSError:
                pass
            conn.close()


def test_retry_on_closed_keepalive_connection():
    """Requests that meet a keep-alive connection the server has closed go out
    again, once, on a fresh connection: nothing fails, nothing is counted twice."""
    with OneShotServer() as srv:
        r = run_herd(plan("http://127.0.0.1:%d" % srv.port, {"o": """
executor: per-vu-iterations
vus: 2
iterations: 20
flow:
  - get: /one
"""}), timeout=40)
        expect_code(r, 0)
        note("one-shot server: herd %d requests, server %d requests on %d connections",
             r.count(), srv.requests, srv.connections)
        check(r.count() == 40, "herd counted %d requests, expected 40" % r.count())
        passes, _, _ = rate_counts(r, "http_req_failed")
        check(passes == 0, "%d requests failed: %s" % (passes, r.errors_by_kind()))
        check(srv.requests == 40, "the server answered %d requests, expected 40" % srv.requests)
        check(srv.connections >= 40, "%d connections for 40 one-request connections"
              % srv.connections)
        # The second and later requests of each VU were retried: the time lost on
        # the closed connection is in http_req_blocked.
        check(r.metric("http_req_blocked")["max"] > 0, "no request was retried (blocked 0)")


def test_data_bytes_match_nginx():
    """data_sent equals the sum of nginx's $request_length and data_received the sum
    of its $bytes_sent, to the byte: GET, a small json POST and a 100 KB raw POST
    (sent over several writes), answered with Content-Length (/small) and chunked
    (/api/echo: the lean driver counts chunk framing, as it is on the wire)."""
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
        rx = r.metric("data_received")["count"]
        tx = r.metric("data_sent")["count"]
        note("bytes: nginx sent %d read %d; herd received %d sent %d", sent, read, rx, tx)
        check(rx == sent, "data_received %d != nginx $bytes_sent total %d" % (rx, sent))
        check(tx == read, "data_sent %d != nginx $request_length total %d" % (tx, read))


TESTS = [
    test_requests_come_from_the_lean_driver,
    test_count_equals_nginx_log,
    test_p50_of_50ms_delay,
    test_4xx_5xx_are_failed,
    test_post_json_body,
    test_body_check_fails_on_other_body,
    test_closed_port_connect_refused,
    test_timeout,
    test_connect_timeout,
    test_keepalive_requests_reconnects,
    test_idle_keepalive_timeout_reconnects,
    test_retry_on_closed_keepalive_connection,
    test_data_bytes_match_nginx,
    test_many_steps_counted_per_step,
]

if __name__ == "__main__":
    main(TESTS)
