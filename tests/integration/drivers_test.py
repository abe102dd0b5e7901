#!/usr/bin/env python3
"""The differential suite: the same HTTP checks on each HTTP driver
(`--http-driver curl`, `lean`, and `auto`, which picks per scenario), against
nginx, httpbin and json-server, each held to the server's own log: request
counts, statuses, bytes (nginx's $bytes_sent / $request_length), check
results, captures, cookies and redirects. Every case is written once and run
once per driver (CASES x DRIVERS, names `case[driver]`).

Each run also proves which driver served it: libcurl sends `Accept: */*`, the
lean driver no Accept header, and the export's herd.scenarios[name].http_driver
says what herd picked (the rule in common/hdrv.c). Where the lean driver does
not serve a scenario (templates, captures, cookies, redirects: see README,
"HTTP drivers"), `auto` and `lean` fall back to libcurl and the case checks
that they say so and still agree with the server.

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
    the checks pass exactly once per iteration. Templates and captures are
    libcurl's today: curl, lean and auto all say libcurl ran it, and why."""
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
        reasons = {"curl": [], "lean": ["templates"], "auto": ["templates", "cookies"]}[driver]
        expect_pick(r, "cap", "curl", reasons)
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


class RelativeRedirects:
    """A Python HTTP/1.1 server on 127.0.0.1:<free port> answering with the
    Location forms nginx cannot send (it makes every Location absolute): a
    path relative to the request's directory, and a scheme-relative URL.
    Records each request's method and path."""

    def __init__(self):
        import http.server
        import threading
        seen = self.seen = []
        port = None

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                seen.append(("GET", self.path))
                loc = {"/dir/start": "next?x=1", "/dir/next?x=1": "//127.0.0.1:%d/end" % port}.get(self.path)
                body = b"" if loc else b"landed\n"
                self.send_response(302 if loc else 200)
                if loc:
                    self.send_header("Location", loc)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        port = self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.srv.shutdown()
        self.srv.server_close()


def case_relative_locations(driver):
    """A Location relative to the request's directory (`next?x=1` from
    /dir/start) and a scheme-relative one (`//127.0.0.1:PORT/end`) resolve
    to the same URLs on every driver: the server sees the same three paths
    per iteration and the last answer is the step's."""
    n = 2 * 3
    with RelativeRedirects() as srv:
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
        counts = collections.Counter(srv.seen)
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
    default, each iteration makes 2 + 3 requests and the cookie comes back.
    auto gives it to libcurl (cookies); `--http-driver lean` serves it and
    does without the jar, as documented, so the cookie never comes back: the
    case pins that difference instead of hiding it."""
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
        cookies = [e["cookie"] for e in hb.requests() if e["path"] == "/get"]
        if driver == "lean":
            expect_pick(r, "jar", "lean", ["cookies"])
            check(not any(cookies), "the lean driver sent cookies: %s" % cookies[:3])
        else:
            expect_pick(r, "jar", "curl", [] if driver == "curl" else ["cookies"])
            check(all("sid=abc" in c for c in cookies), "the jar's cookie did not come back: %s"
                  % cookies[:3])
        check(dict(counts) == want, "gunicorn saw %s, expected %s" % (dict(counts), want))


CASES = [case_nginx_counts_statuses_bytes, case_chunked_bytes, case_checks_and_captures_without_templates,
         case_json_server_captures,
         case_httpbin_redirects, case_relative_locations, case_allowlist_redirect_hops, case_httpbin_cookies_redirects]


def per_driver(case, driver):
    def t():
        case(driver)
    t.__name__ = "%s[%s]" % (case.__name__[len("case_"):], driver)
    t.__doc__ = case.__doc__
    return t


# --------------------------------------------------------------------------- the choice


def test_header_says_each_scenarios_driver():
    """The run header names each scenario's driver and why not lean: a plain
    scenario and an https one on lean, a templated one on libcurl with its
    reason, a plan-default one (the cookie jar) on libcurl, and none for
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
        want = "http: plain lean; tmpl curl (templates); tls lean"
        check(head[0].endswith(want), "header %r does not end with %r" % (head[0], want))
        check(ng.access_log_lines(path="/small") == 4, "nginx logged %d /small"
              % ng.access_log_lines(path="/small"))
        check(r.herd().get("http_driver") == "auto", "export http_driver %r" % r.herd().get("http_driver"))
        # The text summary says it per scenario too.
        for line in ("* plain: per-vu-iterations, 1 VUs x 2 iterations, http driver lean",
                     "* tmpl: per-vu-iterations, 1 VUs x 2 iterations, http driver curl (templates)"):
            check(line in r.stdout, "the summary has no line %r:%s" % (line, r.tail(3000)))
        # The plan's defaults: the cookie jar and 10 redirects, libcurl's.
        r = run_on("auto", plan(ng.url, {"d": "executor: per-vu-iterations\nvus: 1\niterations: 1\n"
                                               "flow:\n  - get: /small\n"}), quiet=False, timeout=60)
        check("http: d curl (cookies)" in r.stdout, "header:%s" % r.tail())
        r = run_on("lean", plan(ng.url, {"d": "executor: per-vu-iterations\nvus: 1\niterations: 1\n"
                                               "flow:\n  - get: /small\n"}), quiet=False, timeout=60)
        check("http: d lean (without cookies)" in r.stdout, "header:%s" % r.tail())
        expect_pick(r, "d", "lean", ["cookies"])


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


# auto runs this plan (the cookie jar on) on libcurl, as curl does: once is enough.
case_allowlist_redirect_hops.drivers = ("curl", "lean")

TESTS = [per_driver(c, d) for c in CASES for d in getattr(c, "drivers", DRIVERS)] + [
    test_header_says_each_scenarios_driver,
    test_bad_driver_names_refused,
]

if __name__ == "__main__":
    main(TESTS)
