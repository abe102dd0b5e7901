#!/usr/bin/env python3
"""The differential suite: the same HTTP checks on each HTTP driver
(`--http-driver curl`, `lean`, and `auto`, which picks per scenario), against
nginx, httpbin, json-server and a scripted Python server (ScriptedServer: byte
counts, Set-Cookie, gzip and deflate bodies written by the test), each held to
the server's own log: request counts, statuses, bytes (nginx's $bytes_sent /
$request_length, the scripted server's own sums), check results, captures,
the Cookie header of every request, and redirects. Every case is written once and run
once per driver (CASES x DRIVERS, names `case[driver]`).

Each run also proves which driver served it: libcurl sends `Accept: */*`, the
lean driver no Accept header, and the export's herd.scenarios[name].http_driver
says what herd picked (the rule in common/hdrv.c). Where the lean driver does
not serve a scenario (https, templates: see README, "HTTP drivers"), `auto`
and `lean` fall back to libcurl and the case checks that they say so and
still agree with the server.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/drivers_test.py [-k NAME]
"""

import collections
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Httpbin, JsonServer, Nginx, check, free_port, main, note,  # noqa: E402
                     run_herd)
from journey_test import named_check  # noqa: E402

DRIVERS = ("curl", "lean", "auto")


def plan(target, scenarios, name="drivers", head=""):
    """A plan's YAML text. scenarios: {name: yaml body}; head: top-level lines."""
    out = ["name: %s" % name, "target: %s" % target] + head.strip("\n").splitlines()
    out.append("scenarios:")
    for sname, body in scenarios.items():
        out.append("  %s:" % sname)
        for line in body.strip("\n").splitlines():
            out.append("    " + line)
    return "\n".join(out) + "\n"


def run_on(driver, text, **kw):
    env_driver = os.environ.pop("HERD_HTTP_DRIVER", None)
    try:
        return run_herd(text, "--http-driver", driver, **kw)
    finally:
        if env_driver is not None:
            os.environ["HERD_HTTP_DRIVER"] = env_driver


def expect_code(r, want):
    check(r.code == want, "herd exited %d, expected %d%s" % (r.code, want, r.tail()))


def picked(r, scenario):
    """(driver, reasons) the export says scenario ran on."""
    sc = r.herd().get("scenarios", {}).get(scenario)
    check(sc is not None, "export has no scenario %r" % scenario)
    check("http_driver" in sc, "export's scenario %r has no http_driver: %s" % (scenario, sc))
    return sc["http_driver"], sc.get("http_driver_reasons", [])


def expect_pick(r, scenario, want, reasons=None):
    got, why = picked(r, scenario)
    check(got == want, "scenario %r ran on %s (%s), expected %s" % (scenario, got, why, want))
    if reasons is not None:
        check(sorted(why) == sorted(reasons), "scenario %r: reasons %s, expected %s"
              % (scenario, why, reasons))


def accept_proves(entries, want):
    """Every logged request carries the Accept its driver sends: */* from
    libcurl, none from the lean driver."""
    for e in entries:
        acc = e.get("http_accept", "-")
        if want == "lean":
            check(acc in ("", "-"), "Accept %r on %s: libcurl sent it, not the lean driver"
                  % (acc, e["uri"]))
        else:
            check(acc == "*/*", "Accept %r on %s: not libcurl's" % (acc, e["uri"]))


# --------------------------------------------------------------------------- cases
# Each case takes the driver flag and raises Fail on any disagreement.

# What both drivers serve: plain http://, no templates, captures or header
# checks, and (for auto) no cookie jar and no redirects followed.
PLAIN = """
executor: per-vu-iterations
vus: 3
iterations: 7
maxDuration: 60s
flow:
  - get: /small
    redirects: 0
    checks:
      small ok: { status: 200 }
      says hello: { body: hello }
  - get: /status404
    redirects: 0
  - get: /status500
    redirects: 0
  - head: /small
    redirects: 0
  - post: /api/sink
    redirects: 0
    json: { item: 42, note: "a body both drivers frame" }
  - put: /api/sink
    redirects: 0
    body: "%s"
""" % ("y" * 20000)

# /api/sink reads the request body whole (so $request_length counts it) and
# answers with a Content-Length: nginx proxies it to a location of its own
# that is not logged.
SINK = {"location / {{ return 404; }}": """
        location = /api/sink {{ proxy_pass http://127.0.0.1:{port}/sinkhole; }}
        location = /sinkhole {{ access_log off; return 200 "stored\\n"; }}
        location / {{ return 404; }}"""}


def sink_nginx():
    return Nginx(replace=SINK, fields=("http_accept",))


def case_nginx_counts_statuses_bytes(driver):
    """3 VUs x 7 iterations x 6 requests: herd's counts per status equal
    nginx's log, data_sent == sum($request_length), data_received ==
    sum($bytes_sent), check results exact; the driver is the one asked (auto:
    lean, as the plan needs nothing else)."""
    n = 3 * 7
    with sink_nginx() as ng:
        r = run_on(driver, plan(ng.url, {"plain": PLAIN}, head="cookies: false"), timeout=60)
        expect_code(r, 0)
        want_driver = "curl" if driver == "curl" else "lean"
        expect_pick(r, "plain", want_driver, [])
        ng.settle()
        es = ng.entries()
        accept_proves(es, want_driver)
        by = collections.Counter((e["method"], e["uri"], e["status"]) for e in es)
        want = {("GET", "/small", 200): n, ("GET", "/status404", 404): n,
                ("GET", "/status500", 500): n, ("HEAD", "/small", 200): n,
                ("POST", "/api/sink", 200): n, ("PUT", "/api/sink", 200): n}
        check(dict(by) == want, "nginx logged %s, expected %s" % (dict(by), want))
        check(r.count() == len(es), "herd counted %d requests, nginx logged %d" % (r.count(), len(es)))
        kinds = r.errors_by_kind()
        check(kinds.get("http_4xx") == n and kinds.get("http_5xx") == n,
              "errors_by_kind %s, expected http_4xx %d and http_5xx %d" % (kinds, n, n))
        rx = r.metric("data_received")["count"]
        tx = r.metric("data_sent")["count"]
        sent = sum(e["bytes_sent"] for e in es)
        read = sum(e["request_length"] for e in es)
        note("%s: nginx sent %d read %d; herd received %d sent %d", driver, sent, read, rx, tx)
        check(rx == sent, "data_received %d != nginx $bytes_sent total %d" % (rx, sent))
        check(tx == read, "data_sent %d != nginx $request_length total %d" % (tx, read))
        for cname in ("small ok", "says hello"):
            got = named_check(r, cname)
            check(got == (n, 0), "check %r passes/fails %s, expected (%d, 0)" % (cname, got, n))


def chunk_framing(url, path, body):
    """The bytes of chunked framing (sizes, CRLFs, the last chunk) in nginx's
    answer to a POST of body to path, read off the wire with a raw socket."""
    host, port = url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as so:
        so.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                   % (path.encode(), len(body), body))
        raw = b""
        while True:
            got = so.recv(65536)
            if not got:
                break
            raw += got
    head, _, rest = raw.partition(b"\r\n\r\n")
    check(b"transfer-encoding: chunked" in head.lower(), "nginx did not chunk %s: %r" % (path, head))
    decoded, at = 0, 0
    while True:
        line_end = rest.index(b"\r\n", at)
        size = int(rest[at:line_end].split(b";")[0], 16)
        decoded += size
        at = line_end + 2 + size + 2
        if size == 0:
            break
    return at - decoded


def case_chunked_bytes(driver):
    """Chunked answers (/api/echo): both drivers agree on counts and statuses;
    the lean driver counts the bytes as on the wire (== nginx's $bytes_sent),
    libcurl only the decoded body and headers: its data_received is short by
    exactly the chunk framing, measured here off the wire. (libcurl does not
    report the framing it consumed; README, "HTTP drivers".)"""
    vus, iters = 2, 5
    n = vus * iters
    body = "z" * 3000
    with sink_nginx() as ng:
        framing = chunk_framing(ng.url, "/api/echo", body.encode())
        ng.settle()
        before = ng.entries()
        r = run_on(driver, plan(ng.url, {"ch": """
executor: per-vu-iterations
vus: %d
iterations: %d
maxDuration: 60s
flow:
  - post: /api/echo
    redirects: 0
    body: "%s"
""" % (vus, iters, body)}, head="cookies: false"), timeout=60)
        expect_code(r, 0)
        ng.settle()
        es = ng.entries()[len(before):]
        want_driver = "curl" if driver == "curl" else "lean"
        expect_pick(r, "ch", want_driver, [])
        accept_proves(es, want_driver)
        check(len(es) == n and all(e["status"] == 200 for e in es),
              "nginx logged %s, expected %d x 200" % ([e["status"] for e in es], n))
        check(r.count() == n, "herd counted %d requests, expected %d" % (r.count(), n))
        sent = sum(e["bytes_sent"] for e in es)
        rx = r.metric("data_received")["count"]
        want = sent if want_driver == "lean" else sent - n * framing
        note("%s: nginx sent %d, framing %d per answer, herd received %d", driver, sent, framing, rx)
        check(rx == want, "data_received %d, expected %d (nginx $bytes_sent %d)" % (rx, want, sent))
        tx = r.metric("data_sent")["count"]
        read = sum(e["request_length"] for e in es)
        check(tx == read, "data_sent %d != nginx $request_length total %d" % (tx, read))


def case_checks_and_captures_without_templates(driver):
    """Checks on status, headers, bodies and JSON, and captures from JSON, a
    header and a regex, checked on the next request: every check's count is
    exact on each driver (one designed to fail, fails every time), and the
    captured values are what nginx sent. Both drivers serve this."""
    vus, iters = 2, 6
    n = vus * iters
    with sink_nginx() as ng:
        r = run_on(driver, plan(ng.url, {"cc": """
executor: per-vu-iterations
vus: %d
iterations: %d
maxDuration: 60s
flow:
  - post: /api/orders
    redirects: 0
    json: { a: 1 }
    capture:
      oid: { json: $.id }
      ctype: { header: Content-Type }
      st: { regex: '"status":"(\\w+)"' }
    checks:
      created: { status: 201 }
      is json: { header: Content-Type, contains: application/json }
      not html: { header: Content-Type, contains: text/html }
      has id: { json: $.id, equals: 1 }
  - post: /api/orders
    redirects: 0
    json: { a: 2 }
    checks:
      same id: { json: $.id, equals: "{{ oid }}" }
      same type: { header: Content-Type, equals: "{{ ctype }}" }
      same status: { json: $.status, equals: "{{ st }}" }
  - get: /body
    redirects: 0
    checks:
      needle: { body: needle }
""" % (vus, iters)}, head="cookies: false"), timeout=60)
        expect_code(r, 0)
        want_driver = "curl" if driver == "curl" else "lean"
        expect_pick(r, "cc", want_driver, [])
        ng.settle()
        es = ng.entries()
        accept_proves(es, want_driver)
        by = collections.Counter((e["uri"], e["status"]) for e in es)
        want = {("/api/orders", 201): 2 * n, ("/body", 200): n}
        check(dict(by) == want, "nginx logged %s, expected %s" % (dict(by), want))
        for cname in ("created", "is json", "has id", "same id", "same type", "same status", "needle"):
            got = named_check(r, cname)
            check(got == (n, 0), "check %r passes/fails %s, expected (%d, 0)" % (cname, got, n))
        got = named_check(r, "not html")
        check(got == (0, n), "check 'not html' passes/fails %s, expected (0, %d)" % (got, n))


def case_json_server_captures(driver):
    """POST /items, capture the new id from the JSON answer, GET /items/{{ id }}
    and check its body: json-server's log has each created id fetched once,
    the checks pass exactly once per iteration. auto and lean render the
    templated URL on the lean driver."""
    vus, iters = 2, 5
    n = vus * iters
    with JsonServer({"items": []}) as js:
        r = run_on(driver, plan(js.url, {"cap": """
executor: per-vu-iterations
vus: %d
iterations: %d
maxDuration: 60s
flow:
  - post: /items
    json: { name: "widget" }
    capture:
      id: { json: $.id }
  - get: "/items/{{ id }}"
    name: fetch
    checks:
      found: { status: 200 }
      named: { json: $.name, equals: widget }
""" % (vus, iters)}), timeout=60)
        expect_code(r, 0)
        expect_pick(r, "cap", "curl" if driver == "curl" else "lean", [])
        created = [str(e["response"]["id"]) for e in js.requests(method="POST", path="/items")]
        fetched = [e["path"].rsplit("/", 1)[1] for e in js.requests(method="GET", prefix="/items/")]
        check(len(created) == n, "json-server created %d items, expected %d" % (len(created), n))
        check(sorted(created) == sorted(fetched), "created %s but fetched %s" % (created, fetched))
        for cname in ("found", "named"):
            got = named_check(r, cname)
            check(got == (n, 0), "check %r passes/fails %s, expected (%d, 0)" % (cname, got, n))


def case_httpbin_redirects(driver):
    """Redirects on httpbin, without a cookie jar (both drivers serve them):
    followed to the end (/redirect/3: 4 requests), not followed
    (`redirects: 0`: the 302 and its Location are the answer), one too many
    (`redirects: 1` on /redirect/2: an error, 'other', after 2 requests), a
    307 that keeps POST and its body, a 302 that turns POST into GET.
    gunicorn's log per path, method and status, herd's checks and errors
    agree exactly on every driver."""
    vus, iters = 2, 3
    n = vus * iters
    with Httpbin(headers=("accept",)) as hb:
        r = run_on(driver, plan(hb.url, {"redir": """
executor: per-vu-iterations
vus: %d
iterations: %d
maxDuration: 60s
flow:
  - get: /redirect/3
    name: followed
    checks:
      landed: { status: 200 }
      on get: { json: $.url, contains: /get }
  - get: /redirect/4
    name: not followed
    redirects: 0
    checks:
      moved: { status: 302 }
      has location: { header: Location, equals: /relative-redirect/3 }
  - get: /redirect/2
    name: one too many
    redirects: 1
  - post: /redirect-to?url=/post&status_code=307
    name: kept
    json: { a: 1 }
    checks:
      posted: { json: $.json.a, equals: 1 }
  - post: /redirect-to?url=/get&status_code=302
    name: turned
    json: { a: 2 }
    checks:
      got: { status: 200 }
""" % (vus, iters)}, head="cookies: false"), timeout=60)
        expect_code(r, 0)
        want_driver = "curl" if driver == "curl" else "lean"
        expect_pick(r, "redir", want_driver, [])
        es = hb.requests()
        for e in es:
            acc = e["accept"]
            check((acc == "*/*") == (want_driver == "curl"), "Accept %r on %s from %s" % (acc, e["path"], driver))
        counts = collections.Counter((e["method"], e["path"], e["status"]) for e in es)
        want = {("GET", "/redirect/3", 302): n, ("GET", "/relative-redirect/2", 302): n,
                ("GET", "/relative-redirect/1", 302): 2 * n, ("GET", "/get", 200): 2 * n,
                ("GET", "/redirect/4", 302): n, ("GET", "/redirect/2", 302): n,
                ("POST", "/redirect-to", 307): n, ("POST", "/post", 200): n,
                ("POST", "/redirect-to", 302): n}
        check(dict(counts) == want, "gunicorn saw %s, expected %s" % (dict(counts), want))
        check(r.count() == 5 * n, "herd counted %d requests, expected %d" % (r.count(), 5 * n))
        kinds = r.errors_by_kind()
        check(kinds == {"other": n}, "errors_by_kind %s, expected other: %d" % (kinds, n))
        for cname in ("landed", "on get", "moved", "has location", "posted", "got"):
            got = named_check(r, cname)
            check(got == (n, 0), "check %r passes/fails %s, expected (%d, 0)" % (cname, got, n))


def relative_redirects(h):
    """The Location forms nginx cannot send (it makes every Location
    absolute): a path relative to the request's directory, and a
    scheme-relative URL (a route of ScriptedServer)."""
    port = h.server.server_address[1]
    loc = {"/dir/start": "next?x=1", "/dir/next?x=1": "//127.0.0.1:%d/end" % port}.get(h.path)
    if loc:
        return 302, [("Location", loc)], b""
    return 200, [], b"landed\n"


def case_relative_locations(driver):
    """A Location relative to the request's directory (`next?x=1` from
    /dir/start) and a scheme-relative one (`//127.0.0.1:PORT/end`) resolve
    to the same URLs on every driver: the server sees the same three paths
    per iteration and the last answer is the step's."""
    n = 2 * 3
    with ScriptedServer({"*": relative_redirects}) as srv:
        r = run_on(driver, plan("http://127.0.0.1:%d" % srv.port, {"rel": """
executor: per-vu-iterations
vus: 2
iterations: 3
maxDuration: 60s
flow:
  - get: /dir/start
    checks:
      landed: { body: landed }
"""}, head="cookies: false"), timeout=60)
        expect_code(r, 0)
        expect_pick(r, "rel", "curl" if driver == "curl" else "lean", [])
        counts = collections.Counter((m, p) for m, p, _, _ in srv.seen)
        want = {("GET", "/dir/start"): n, ("GET", "/dir/next?x=1"): n, ("GET", "/end"): n}
        check(dict(counts) == want, "the server saw %s, expected %s" % (dict(counts), want))
        got = named_check(r, "landed")
        check(got == (n, 0), "check 'landed' passes/fails %s, expected (%d, 0)" % (got, n))


def case_allowlist_redirect_hops(driver):
    """Every redirect hop is checked against the agent's --allow-target as
    allowlist_test checks libcurl's: a 302 to a port outside the list (as an
    address and as a name) is refused before it connects (the tripwire sees
    nothing), one inside it is followed."""
    import allowlist_test as al
    args = ("--http-driver", driver)
    with al.Tripwire() as trip, al.allowed_nginx(trip) as ng:
        allow = "127.0.0.1:%d" % ng.port
        for path, why in [("/hop", "target 127.0.0.1:%d is not allowed" % trip.port),
                          ("/hop-name", "target localhost:%d (address " % trip.port)]:
            r = al.run_remote(al.plan(ng.url, "- get: %s" % path), "--allow-target", allow, *args)
            al.expect_refused(r, al.ITERS, trip, why, path)
        al.expect_allowed(al.run_remote(al.plan(ng.url, "- get: /hop-local"), "--allow-target", allow,
                                        *args), ng, "the allowed redirect")


def case_httpbin_cookies_redirects(driver):
    """httpbin sets a cookie through a redirect (/cookies/set -> /cookies),
    then /redirect/2 is followed: with the jar and redirects the plan has by
    default, each iteration makes 2 + 3 requests and the cookie comes back
    on every hop after it was set, on every driver (auto and lean: the lean
    driver's jar)."""
    vus, iters = 2, 4
    n = vus * iters
    with Httpbin() as hb:
        r = run_on(driver, plan(hb.url, {"jar": """
executor: per-vu-iterations
vus: %d
iterations: %d
maxDuration: 60s
flow:
  - get: /cookies/set?sid=abc
    name: set
  - get: /redirect/2
    name: hops
""" % (vus, iters)}), timeout=60)
        expect_code(r, 0)
        counts = collections.Counter((e["path"], e["status"]) for e in hb.requests())
        want = {("/cookies/set", 302): n, ("/cookies", 200): n, ("/redirect/2", 302): n,
                ("/relative-redirect/1", 302): n, ("/get", 200): n}
        expect_pick(r, "jar", "curl" if driver == "curl" else "lean", [])
        # The first /cookies/set of each VU goes without; every other request carries it.
        cookies = collections.Counter((e["path"], e["cookie"]) for e in hb.requests())
        want_c = {("/cookies/set", ""): vus, ("/cookies/set", "sid=abc"): n - vus}
        for path in ("/cookies", "/redirect/2", "/relative-redirect/1", "/get"):
            want_c[(path, "sid=abc")] = n
        check(dict(cookies) == want_c, "cookies sent %s, expected %s" % (dict(cookies), want_c))
        check(dict(counts) == want, "gunicorn saw %s, expected %s" % (dict(counts), want))


def scripted_run(driver, routes, name, flow, vus, iters, head=""):
    """Runs scenario name, per-vu-iterations of vus x iters whose flow is
    flow (its steps' YAML, indented by 2), against a ScriptedServer of
    routes; returns (result, server) once the server stopped."""
    with ScriptedServer(routes) as srv:
        r = run_on(driver, plan(srv.url, {name: "executor: per-vu-iterations\nvus: %d\niterations: %d\n"
                                                "maxDuration: 60s\nflow:\n%s" % (vus, iters, flow)},
                                head=head), timeout=60)
    return r, srv


class ScriptedServer:
    """A Python HTTP/1.1 server on 127.0.0.1:<free port> whose answers the
    test writes byte for byte: routes maps a path (without its query; "*":
    any other) to a function of the request handler returning (status,
    [(header, value)], body bytes); each
    answer goes out with a Content-Length, in one write, and its size is
    added up (sent), as is each request's (read: request line, header lines
    and body, as they came). Records per request the method, path (with its
    query), Cookie and Accept-Encoding it carried (None when absent), and
    the connections (client address and port) requests came on."""

    def __init__(self, routes):
        import http.server
        import threading
        seen = self.seen = []
        totals = self.totals = {"sent": 0, "read": 0}
        conns = self.conns = set()

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.body = self.rfile.read(n)
                totals["read"] += len(self.raw_requestline) + n + 2 + sum(
                    len(k) + 2 + len(v) + 2 for k, v in self.headers.raw_items())
                seen.append((self.command, self.path, self.headers.get("Cookie"),
                             self.headers.get("Accept-Encoding")))
                path = self.path.split("?")[0]
                status, headers, body = (routes.get(path) or routes["*"])(self)
                raw = ["HTTP/1.1 %d X" % status, "Content-Length: %d" % len(body)]
                raw += ["%s: %s" % hv for hv in headers]
                out = ("\r\n".join(raw) + "\r\n\r\n").encode() + body
                totals["sent"] += len(out)
                self.wfile.write(out)
                conns.add(self.client_address)
                # An answer that says "Connection: close" closes it.
                if ("Connection", "close") in headers:
                    self.close_connection = True

            do_GET = do_POST = do_PUT = answer

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.srv.shutdown()
        self.srv.server_close()


def cookie_value(handler, name):
    for part in (handler.headers.get("Cookie") or "").split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return ""


LOGIN_COOKIES = ["sid=abc; Path=/", "theme=dark", "scoped=1; Path=/app", "gone=1; Max-Age=0",
                 "old=1; Expires=Thu, 01 Jan 1970 00:00:01 GMT", "dom=1; Domain=127.0.0.1; HttpOnly",
                 "sec=1; Secure", "later=1; Max-Age=3600", "other=1; Domain=example.com"]
JAR_ROUTES = {
    "/login": lambda h: (200, [("Set-Cookie", c) for c in LOGIN_COOKIES], b"in\n"),
    "/app/page": lambda h: (200, [("Set-Cookie", "sid=xyz; Path=/"), ("X-Sid", cookie_value(h, "sid"))],
                            b"page\n"),
    "/page": lambda h: (200, [("Set-Cookie", "theme=; Max-Age=0"), ("X-Sid", cookie_value(h, "sid"))],
                        b"page\n"),
}


def case_cookie_jar(driver):
    """The VU's cookie jar with the plan's defaults, against a server that
    sets cookies of every kind: a Path, the default path, a Domain (the
    address itself), Max-Age=0 and a past Expires (never kept), Secure
    (kept and sent: libcurl counts 127.0.0.1 a secure origin), a foreign
    Domain (refused), a replacement, a deletion. Every request's Cookie
    header is exactly the same on each driver (the jar lives as long as the
    VU, so later iterations carry the earlier ones'; libcurl 7.88's order:
    longest path, then longest name, then newest, a replaced cookie keeping
    its age); cookie captures agree (checked on the next request against the
    value the server got); bytes both ways equal the server's count. auto
    and lean run it on the lean driver."""
    vus, iters = 2, 3
    n = vus * iters
    r, srv = scripted_run(driver, JAR_ROUTES, "jar", """
  - get: /login
    capture:
      sid: { cookie: sid }
  - get: /app/page
    checks:
      sid sent: { header: X-Sid, equals: "{{ sid }}" }
    capture:
      sid: { cookie: sid }
  - get: /page
    checks:
      new sid sent: { header: X-Sid, equals: "{{ sid }}" }
""", vus, iters)
    expect_code(r, 0)
    expect_pick(r, "jar", "curl" if driver == "curl" else "lean", [])
    got = collections.defaultdict(collections.Counter)
    for method, path, cookie, _ in srv.seen:
        got[path][cookie] += 1
    first = {"/login": None, "/app/page": "scoped=1; later=1; theme=dark; sec=1; dom=1; sid=abc",
             "/page": "later=1; theme=dark; sec=1; dom=1; sid=xyz"}
    later = {"/login": "later=1; sec=1; dom=1; sid=xyz",
             "/app/page": "scoped=1; theme=dark; later=1; sec=1; dom=1; sid=abc",
             "/page": "theme=dark; later=1; sec=1; dom=1; sid=xyz"}
    for path in first:
        want = collections.Counter({first[path]: vus})
        want[later[path]] += n - vus
        check(got[path] == want, "%s: Cookie headers %s, expected %s"
              % (path, dict(got[path]), dict(want)))
    for cname in ("sid sent", "new sid sent"):
        c = named_check(r, cname)
        check(c == (n, 0), "check %r passes/fails %s, expected (%d, 0)" % (cname, c, n))
    check(r.count() == 3 * n, "herd counted %d requests, expected %d" % (r.count(), 3 * n))
    rx, tx = r.metric("data_received")["count"], r.metric("data_sent")["count"]
    note("%s: server sent %d read %d; herd received %d sent %d", driver, srv.totals["sent"],
         srv.totals["read"], rx, tx)
    check(rx == srv.totals["sent"], "data_received %d != the server's %d" % (rx, srv.totals["sent"]))
    check(tx == srv.totals["read"], "data_sent %d != the server's %d" % (tx, srv.totals["read"]))


def coded(h, coding, data):
    """data in coding when the request accepts it, else as it is."""
    import gzip
    import zlib
    if coding not in (h.headers.get("Accept-Encoding") or ""):
        return 200, [("Content-Type", "application/json")], data
    body = {"gzip": lambda: gzip.compress(data), "deflate": lambda: zlib.compress(data),
            "raw": lambda: zlib.compress(data)[2:-4]}[h.path.split("?")[-1] if "?" in h.path else coding]()
    return 200, [("Content-Type", "application/json"), ("Content-Encoding", coding)], body


ZIP_DATA = b'{"greeting": "hello, %s", "pad": "' + b"ab" * 3000 + b'"}'
ZIP_ROUTES = {
    "/gz": lambda h: coded(h, "gzip", ZIP_DATA % b"gzip"),
    "/df": lambda h: coded(h, "deflate", ZIP_DATA % b"deflate"),
    "/bad": lambda h: (200, [("Content-Encoding", "gzip")], b"\x1f\x8b\x08\x00not gzip at all"),
}


def case_compression(driver):
    """`compression: true`: the request says `Accept-Encoding: gzip,
    deflate` (as libcurl's driver sends it), the answer's gzip, zlib deflate
    and raw deflate bodies are decoded for checks and captures, a step
    without it gets the plain body and sends no Accept-Encoding, a body that
    is not gzip fails as `other` (read by a check or not) and its checks see
    no body. data_received
    is the compressed bytes on the wire on every driver (== the server's
    count)."""
    vus, iters = 2, 3
    n = vus * iters
    r, srv = scripted_run(driver, ZIP_ROUTES, "zip", """
  - get: /gz
    compression: true
    checks:
      gunzipped: { json: $.greeting, equals: "hello, gzip" }
    capture:
      word: { regex: 'hello, (\\w+)' }
  - get: /df
    compression: true
    checks:
      inflated: { body: "hello, deflate" }
  - get: /df?raw
    compression: true
    checks:
      raw inflated: { json: $.greeting, equals: "hello, deflate" }
  - get: /gz
    name: plain
    checks:
      not coded: { json: $.greeting, equals: "hello, gzip" }
      captured: { json: $.greeting, equals: "hello, {{ word }}" }
  - get: /bad
    compression: true
    checks:
      never: { body: gzip }
  - get: /bad
    name: unread
    compression: true
""", vus, iters, head="cookies: false")
    expect_code(r, 0)
    expect_pick(r, "zip", "curl" if driver == "curl" else "lean", [])
    enc = collections.Counter((path.split("?")[0], ae) for _, path, _, ae in srv.seen)
    want = {("/gz", "gzip, deflate"): n, ("/df", "gzip, deflate"): 2 * n, ("/gz", None): n,
            ("/bad", "gzip, deflate"): 2 * n}
    check(dict(enc) == want, "the server saw %s, expected %s" % (dict(enc), want))
    for cname in ("gunzipped", "inflated", "captured", "raw inflated", "not coded"):
        c = named_check(r, cname)
        check(c == (n, 0), "check %r passes/fails %s, expected (%d, 0)" % (cname, c, n))
    c = named_check(r, "never")
    check(c == (0, n), "check 'never' passes/fails %s, expected (0, %d): the undecodable body is empty"
          % (c, n))
    kinds = r.errors_by_kind()
    check(kinds == {"other": 2 * n, "check_failed": n},
          "errors_by_kind %s, expected other %d and check_failed %d" % (kinds, 2 * n, n))
    rx = r.metric("data_received")["count"]
    note("%s: server sent %d; herd received %d", driver, srv.totals["sent"], rx)
    check(rx == srv.totals["sent"], "data_received %d != the server's %d" % (rx, srv.totals["sent"]))


def case_connection_close(driver):
    """An answer with `Connection: close` ends its connection: the next
    request of the VU goes out on a new one, which stays open for the
    request after it. 2 VUs x 3 iterations of /close then /keep: each VU
    opens iterations + 1 connections on every driver, every request is
    answered, bytes both ways equal the server's count."""
    vus, iters = 2, 3
    n = vus * iters
    routes = {"/close": lambda h: (200, [("Connection", "close")], b"bye\n"),
              "/keep": lambda h: (200, [], b"stay\n")}
    r, srv = scripted_run(driver, routes, "cc", """
  - get: /close
    checks:
      bye: { body: bye }
  - get: /keep
""", vus, iters, head="cookies: false")
    expect_code(r, 0)
    expect_pick(r, "cc", "curl" if driver == "curl" else "lean", [])
    check(r.count() == 2 * n and len(srv.seen) == 2 * n,
          "herd counted %d requests, the server %d, expected %d" % (r.count(), len(srv.seen), 2 * n))
    check(named_check(r, "bye") == (n, 0), "check 'bye' %s" % (named_check(r, "bye"),))
    check(len(srv.conns) == vus * (iters + 1),
          "%d connections, expected %d" % (len(srv.conns), vus * (iters + 1)))
    check(r.errors_by_kind() == {}, "errors %s" % r.errors_by_kind())
    rx, tx = r.metric("data_received")["count"], r.metric("data_sent")["count"]
    check(rx == srv.totals["sent"], "data_received %d != the server's %d" % (rx, srv.totals["sent"]))
    check(tx == srv.totals["read"], "data_sent %d != the server's %d" % (tx, srv.totals["read"]))


def echo(h):
    """The request's path, X-Tag, Content-Type and body (JSON if it is), as JSON."""
    import json
    raw = getattr(h, "body", b"")
    try:
        body = json.loads(raw)
    except ValueError:
        body = raw.decode()
    return 200, [("Content-Type", "application/json")], json.dumps(
        {"path": h.path, "tag": h.headers.get("X-Tag"), "type": h.headers.get("Content-Type"),
         "body": body}).encode()


def case_templates(driver):
    """Templates in a URL's path and query, a header and a JSON, a raw and a
    form body (with its Content-Type), with builtins and a captured value:
    the server gets the same requests on every driver (paths per VU and
    iteration), the checks of what it echoed pass every time, and bytes both
    ways equal the server's count. auto and lean render them on the lean
    driver."""
    vus, iters = 2, 3
    n = vus * iters
    r, srv = scripted_run(driver, {"*": echo}, "tpl", """
  - post: "/echo/{{ __VU }}?iter={{ __ITER }}"
    headers: { X-Tag: "vu-{{ __VU }}" }
    json: { vu: "{{ __VU }}", note: "it {{ __ITER }}" }
    capture:
      tag: { json: $.tag }
    checks:
      path: { json: $.path, equals: "/echo/{{ __VU }}?iter={{ __ITER }}" }
      tag: { json: $.tag, equals: "vu-{{ __VU }}" }
      body: { json: $.body.note, equals: "it {{ __ITER }}" }
  - put: "/echo/{{ tag }}"
    body: "tag={{ tag }}"
    checks:
      echoed: { json: $.path, equals: "/echo/vu-{{ __VU }}" }
      raw body: { json: $.body, equals: "tag=vu-{{ __VU }}" }
  - post: /echo/form
    form: { note: "a b&c", vu: "{{ __VU }}" }
    checks:
      form typed: { json: $.type, equals: application/x-www-form-urlencoded }
      form body: { json: $.body, contains: "&vu={{ __VU }}" }
""", vus, iters, head="cookies: false")
    expect_code(r, 0)
    expect_pick(r, "tpl", "curl" if driver == "curl" else "lean", [])
    paths = collections.Counter((m, p.split("?")[0]) for m, p, _, _ in srv.seen)
    # __VU numbers VUs per agent worker: the ids are what the POSTs say.
    ids = sorted(p.rsplit("/", 1)[1] for m, p in paths if m == "POST" and p != "/echo/form")
    want = collections.Counter()
    for vu in ids:
        want[("POST", "/echo/%s" % vu)] += iters
        want[("PUT", "/echo/vu-%s" % vu)] += iters
    want[("POST", "/echo/form")] = n
    check(len(ids) == vus and paths == want, "the server saw %s, expected %s (errors %s)"
          % (dict(paths), dict(want), r.errors_by_kind()))
    for cname in ("path", "tag", "body", "echoed", "raw body", "form typed", "form body"):
        c = named_check(r, cname)
        check(c == (n, 0), "check %r passes/fails %s, expected (%d, 0)" % (cname, c, n))
    rx, tx = r.metric("data_received")["count"], r.metric("data_sent")["count"]
    note("%s: server sent %d read %d; herd received %d sent %d", driver, srv.totals["sent"],
         srv.totals["read"], rx, tx)
    check(rx == srv.totals["sent"], "data_received %d != the server's %d" % (rx, srv.totals["sent"]))
    check(tx == srv.totals["read"], "data_sent %d != the server's %d" % (tx, srv.totals["read"]))


INJECTION = "a HTTP/1.1\r\nHost: other\r\n\r\nGET /admin"


def case_capture_injection(driver):
    """A captured value that would split the request (a space, CR and LF in
    a URL path, CR and LF in a header value) fails that request as `other`
    on every driver and is never sent: the server sees only the requests
    that carried no such value, never a second request smuggled in."""
    import json
    vus, iters = 2, 2
    n = vus * iters
    routes = {"/cap": lambda h: (200, [("Content-Type", "application/json")],
                                 json.dumps({"v": INJECTION}).encode()),
              "*": lambda h: (200, [], b"ok\n")}
    r, srv = scripted_run(driver, routes, "inj", """
  - get: /cap
    capture:
      v: { json: $.v }
  - get: "/x/{{ v }}"
  - get: /h
    headers: { X-Tag: "{{ v }}" }
""", vus, iters, head="cookies: false")
    expect_code(r, 0)
    paths = collections.Counter(p for _, p, _, _ in srv.seen)
    check(paths == {"/cap": n}, "the server saw %s, expected only /cap x %d" % (dict(paths), n))
    kinds = r.errors_by_kind()
    check(kinds == {"other": 2 * n}, "errors_by_kind %s, expected other %d" % (kinds, 2 * n))


CASES = [case_nginx_counts_statuses_bytes, case_chunked_bytes, case_checks_and_captures_without_templates,
         case_json_server_captures,
         case_httpbin_redirects, case_relative_locations, case_allowlist_redirect_hops,
         case_httpbin_cookies_redirects, case_cookie_jar, case_compression, case_templates,
         case_connection_close, case_capture_injection]


def per_driver(case, driver):
    def t():
        case(driver)
    t.__name__ = "%s[%s]" % (case.__name__[len("case_"):], driver)
    t.__doc__ = case.__doc__
    return t


# --------------------------------------------------------------------------- the choice


def test_header_says_each_scenarios_driver():
    """The run header names each scenario's driver and why not lean: a plain
    scenario, a templated one and an https one on lean, a plan-default one
    (the cookie jar) on lean, and none for
    a scenario without HTTP requests."""
    closed = free_port()
    with Nginx() as ng:
        text = plan(ng.url, {
            "plain": "executor: per-vu-iterations\nvus: 1\niterations: 2\nflow:\n"
                     "  - get: /small\n    redirects: 0\n",
            "tmpl": "executor: per-vu-iterations\nvus: 1\niterations: 2\nflow:\n"
                    "  - get: \"/small?vu={{ __VU }}\"\n    redirects: 0\n",
            "tls": "executor: per-vu-iterations\nvus: 1\niterations: 1\nflow:\n"
                   "  - get: https://127.0.0.1:%d/x\n    redirects: 0\n    timeout: 2s\n" % closed,
        }, head="cookies: false")
        r = run_on("auto", text, quiet=False, timeout=60)
        head = [ln for ln in r.stdout.splitlines() if ln.startswith("herd: run ")]
        check(len(head) == 1, "no run header line:%s" % r.tail())
        want = "http: plain lean; tmpl lean; tls lean"
        check(head[0].endswith(want), "header %r does not end with %r" % (head[0], want))
        check(ng.access_log_lines(path="/small") == 4, "nginx logged %d /small"
              % ng.access_log_lines(path="/small"))
        check(r.herd().get("http_driver") == "auto", "export http_driver %r" % r.herd().get("http_driver"))
        # The text summary says it per scenario too.
        for line in ("* plain: per-vu-iterations, 1 VUs x 2 iterations, http driver lean",
                     "* tmpl: per-vu-iterations, 1 VUs x 2 iterations, http driver lean"):
            check(line in r.stdout, "the summary has no line %r:%s" % (line, r.tail(3000)))
        # The plan's defaults, the cookie jar and 10 redirects, are the lean driver's.
        for mode in ("auto", "lean"):
            r = run_on(mode, plan(ng.url, {"d": "executor: per-vu-iterations\nvus: 1\niterations: 1\n"
                                                "flow:\n  - get: /small\n"}), quiet=False, timeout=60)
            check(r.stdout.count("http: d lean\n") == 1, "header:%s" % r.tail())
            expect_pick(r, "d", "lean", [])


def test_bad_driver_names_refused():
    """--http-driver and HERD_HTTP_DRIVER take auto, curl or lean; anything
    else exits 104 naming the three, and nothing is sent."""
    with Nginx() as ng:
        text = plan(ng.url, {"s": "executor: per-vu-iterations\nvus: 1\niterations: 1\n"
                                  "flow:\n  - get: /small\n"})
        r = run_herd(text, "--http-driver", "fast", timeout=30, export=False)
        expect_code(r, 104)
        check("'auto', 'curl' or 'lean'" in r.stderr, "stderr: %s" % r.stderr[-500:])
        old = os.environ.get("HERD_HTTP_DRIVER")
        os.environ["HERD_HTTP_DRIVER"] = "quick"
        try:
            r = run_herd(text, timeout=30, export=False)
        finally:
            if old is None:
                del os.environ["HERD_HTTP_DRIVER"]
            else:
                os.environ["HERD_HTTP_DRIVER"] = old
        expect_code(r, 104)
        check("HERD_HTTP_DRIVER" in r.stderr, "stderr: %s" % r.stderr[-500:])
        check(ng.access_log_lines() == 0, "nginx logged %d requests" % ng.access_log_lines())


# auto runs this plan (the cookie jar on) on the lean driver, as lean does: once is enough.
case_allowlist_redirect_hops.drivers = ("curl", "lean")

TESTS = [per_driver(c, d) for c in CASES for d in getattr(c, "drivers", DRIVERS)] + [
    test_header_says_each_scenarios_driver,
    test_bad_driver_names_refused,
]

if __name__ == "__main__":
    main(TESTS)
