#!/usr/bin/env python3
"""herd serve's parts that need no run engine, against real peers:

- webhooks (controller/notify through tests/integration/serve_probe): a
  receiver written here fails the first delivery with 500, the retry
  arrives after the backoff, both signatures verify with the secret
  (HMAC-SHA256 of the exact body), the store records both attempts; a
  receiver that always fails gets the bounded number of attempts, a 400 is
  not retried, an unreachable one is recorded with its error;
- the HTTP API (controller/api on NNG's server, fake providers): every
  endpoint with and without the token, and hostile requests (huge headers,
  bad JSON, path traversal, oversized bodies) refused without reaching a
  provider, the server still answering afterwards;
- `herd schedule list --config` and `herd serve --config --check`.

Run: HERD_BIN=... SERVE_PROBE_BIN=... python3 tests/integration/serve_test.py [-k NAME]
"""

import hashlib
import hmac
import http.client
import http.server
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import check, free_port, herd_bin, main, note  # noqa: E402

SECRET = b"webhook-secret-0123456789"
TOKEN = "api-token-abcdefghijklmnop"
KNOWN_RUN = "20261203-010000-ab12"


def probe_bin():
    b = os.environ.get("SERVE_PROBE_BIN")
    check(b and os.path.exists(b), "SERVE_PROBE_BIN must name the built serve_probe")
    return b


def secret_file(d, data):
    p = os.path.join(d, "secret")
    with open(p, "wb") as f:
        f.write(data + b"\n")
    os.chmod(p, 0o600)
    return p


class Receiver:
    """A webhook receiver on 127.0.0.1: answers each POST with the next
    status of `statuses` (the last one repeats) and keeps every request's
    arrival time (its own clock), headers and exact body."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.got = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                outer.got.append((time.monotonic(), dict(self.headers), body))
                i = min(len(outer.got) - 1, len(outer.statuses) - 1)
                self.send_response(outer.statuses[i])
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/hook" % self.srv.server_address[1]

    def __enter__(self):
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.srv.shutdown()
        self.srv.server_close()


def notify(url, d, retries, backoff_ms):
    db = os.path.join(d, "herd.db")
    p = subprocess.run([probe_bin(), "notify", url, secret_file(d, SECRET), db, str(retries),
                        str(backoff_ms)], capture_output=True, text=True, timeout=120)
    check("Sanitizer" not in p.stderr, "serve_probe notify: %s" % p.stderr[-1500:])
    return p, db


def deliveries(db):
    c = sqlite3.connect(db)
    try:
        return c.execute("SELECT notification, event, schedule, attempt, status, error"
                         " FROM deliveries ORDER BY id").fetchall()
    finally:
        c.close()


def verify(headers, body):
    want = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("X-Herd-Signature", ""), want)


def test_webhook_retried_after_500():
    with tempfile.TemporaryDirectory() as d, Receiver([500, 204]) as rc:
        p, db = notify(rc.url, d, 3, 300)
        check(p.returncode == 0 and "delivered attempts=2" in p.stdout,
              "probe exit %d: %s %s" % (p.returncode, p.stdout, p.stderr))
        check(len(rc.got) == 2, "%d deliveries arrived, expected 2" % len(rc.got))
        (t1, h1, b1), (t2, h2, b2) = rc.got
        check(verify(h1, b1) and verify(h2, b2), "a signature does not verify: %s, %s" %
              (h1.get("X-Herd-Signature"), h2.get("X-Herd-Signature")))
        check(b1 == b2, "the retry's body differs")
        check(h1.get("X-Herd-Attempt") == "1" and h2.get("X-Herd-Attempt") == "2",
              "attempt headers %s, %s" % (h1.get("X-Herd-Attempt"), h2.get("X-Herd-Attempt")))
        check(h1.get("X-Herd-Event") == "finished", "event header %s" % h1.get("X-Herd-Event"))
        check(h1.get("Content-Type") == "application/json", "type %s" % h1.get("Content-Type"))
        ev = json.loads(b1)
        check(ev["event"] == "finished" and ev["schedule"] == "nightly" and
              ev["verdict"] == "passed" and ev["comparison"] == {"p95_delta_pct": -3.5} and
              ev["slot"] == "2026-12-03T01:00:00Z" and
              ev["report"] == "/var/lib/herd/reports/nightly.html", "body %s" % ev)
        # The backoff is a lower bound, measured on the receiver's own clock.
        gap = t2 - t1
        note("retry arrived %.0f ms after the first attempt (backoff 300 ms)", gap * 1e3)
        check(gap >= 0.3, "the retry came %.3f s after the first attempt, before the backoff" % gap)
        rows = deliveries(db)
        check(rows == [("ops-webhook", "finished", "nightly", 1, 500, "HTTP 500"),
                       ("ops-webhook", "finished", "nightly", 2, 204, None)],
              "stored deliveries: %s" % rows)
        # A tampered body would not verify: the check above can fail.
        check(not verify(h1, b1.replace(b"passed", b"failed")), "a changed body verified")


def test_webhook_attempts_bounded():
    with tempfile.TemporaryDirectory() as d, Receiver([503]) as rc:
        p, db = notify(rc.url, d, 2, 100)
        check(p.returncode == 2 and "failed attempts=3" in p.stdout and "HTTP 503" in p.stdout,
              "probe exit %d: %s" % (p.returncode, p.stdout))
        check(len(rc.got) == 3, "%d attempts arrived, expected 1 + 2 retries" % len(rc.got))
        gaps = [rc.got[i + 1][0] - rc.got[i][0] for i in range(2)]
        note("gaps between attempts: %s ms", ["%.0f" % (g * 1e3) for g in gaps])
        check(gaps[0] >= 0.1 and gaps[1] >= 0.2, "backoff not doubling: %s" % gaps)
        check([r[3:5] for r in deliveries(db)] == [(1, 503), (2, 503), (3, 503)],
              "stored: %s" % deliveries(db))
    # A 400 is the receiver refusing this body: a retry would get the same.
    with tempfile.TemporaryDirectory() as d, Receiver([400]) as rc:
        p, db = notify(rc.url, d, 3, 100)
        check(p.returncode == 2 and "failed attempts=1" in p.stdout, "400: %s" % p.stdout)
        check(len(rc.got) == 1, "400 was retried: %d attempts" % len(rc.got))
        check(deliveries(db) == [("ops-webhook", "finished", "nightly", 1, 400, "HTTP 400")],
              "stored: %s" % deliveries(db))


def test_webhook_unreachable():
    with tempfile.TemporaryDirectory() as d:
        url = "http://127.0.0.1:%d/hook" % free_port()
        p, db = notify(url, d, 1, 100)
        check(p.returncode == 2 and "failed attempts=2" in p.stdout, "probe: %s" % p.stdout)
        rows = deliveries(db)
        check(len(rows) == 2 and all(r[4] is None and r[5] for r in rows),
              "stored: %s" % rows)
        note("recorded error: %s", rows[0][5])


class Api:
    """serve_probe api: the real API module with fake providers; each
    provider call is a "call ..." line on its stdout."""

    def __enter__(self):
        self.dir = tempfile.TemporaryDirectory()
        tok = os.path.join(self.dir.name, "token")
        with open(tok, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(tok, 0o600)
        self.p = subprocess.Popen([probe_bin(), "api", tok], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        check(line.startswith("port "), "probe said %r %s" % (line, self.p.stderr.read()
                                                              if self.p.poll() is not None else ""))
        self.port = int(line.split()[1])
        self.calls = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        return self

    def _read(self):
        for line in self.p.stdout:
            self.calls.append(line.strip())

    def provider_calls(self):
        return [c for c in self.calls if c.startswith("call ")]

    def __exit__(self, *exc):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.t.join(timeout=5)
        err = self.p.stderr.read()
        self.dir.cleanup()
        if exc[0] is None:
            # Stopped cleanly (a sanitizer report or a leak would show here).
            check(self.p.returncode == 0 and "Sanitizer" not in err and
                  self.calls[-1:] == ["stopped"], "API probe exit %d: %s" % (self.p.returncode,
                                                                             err[-1500:]))

    def req(self, method, path, token=TOKEN, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict(r.getheaders()), data

    def raw(self, data):
        """Sends raw bytes; returns what came back before the server closed
        (or 5 s passed)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        out = b""
        try:
            s.sendall(data)
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
                if b"\r\n\r\n" in out and b"Content-Length: 0" in out:
                    break
        except (socket.timeout, ConnectionResetError, BrokenPipeError):
            pass
        finally:
            s.close()
        return out

    def settle_calls(self):
        time.sleep(0.2)  # the reader thread catches up with the probe's output
        return self.provider_calls()


ENDPOINTS = [("GET", "/runs"), ("GET", "/runs/" + KNOWN_RUN), ("POST", "/runs/%s/abort" % KNOWN_RUN),
             ("GET", "/schedules"), ("GET", "/agents"), ("GET", "/metrics")]


def test_api_endpoints_need_the_token():
    with Api() as api:
        for method, path in ENDPOINTS + [("GET", "/nothing-here"), ("DELETE", "/runs")]:
            for tok in (None, "wrong-token-abcdefghijklmn", TOKEN[:-1], TOKEN + "x", ""):
                st, h, body = api.req(method, path, token=tok)
                check(st == 401, "%s %s with token %r: %d" % (method, path, tok, st))
                check(json.loads(body) == {"error": "unauthorized: send Authorization: Bearer TOKEN"},
                      "401 body: %r" % body)
                check(h.get("WWW-Authenticate", "").startswith("Bearer"), "no WWW-Authenticate")
            # Basic instead of Bearer, even with the token.
            st, _, _ = api.req(method, path, token=None,
                               headers={"Authorization": "Basic " + TOKEN})
            check(st == 401, "Basic auth: %d" % st)
        check(api.settle_calls() == [], "a provider ran for an unauthenticated request: %s"
              % api.calls)

        st, h, body = api.req("GET", "/runs")
        check(st == 200 and json.loads(body)[0]["id"] == KNOWN_RUN, "runs: %d %r" % (st, body))
        check(h.get("Content-Type") == "application/json", "type %s" % h.get("Content-Type"))
        st, _, body = api.req("GET", "/runs/" + KNOWN_RUN)
        check(st == 200 and json.loads(body)["status"] == "running", "run: %d %r" % (st, body))
        st, _, body = api.req("GET", "/runs/20990101-000000-0000")
        check(st == 404 and json.loads(body) == {"error": "no run '20990101-000000-0000'"},
              "unknown run: %d %r" % (st, body))
        st, _, body = api.req("POST", "/runs/%s/abort" % KNOWN_RUN,
                              body=json.dumps({"reason": "ops said so"}),
                              headers={"Content-Type": "application/json"})
        check(st == 202 and json.loads(body) == {"aborting": KNOWN_RUN}, "abort: %d %r" % (st, body))
        st, _, _ = api.req("POST", "/runs/%s/abort" % KNOWN_RUN)
        check(st == 202, "abort without a body: %d" % st)
        st, _, body = api.req("GET", "/schedules")
        check(st == 200 and json.loads(body)[0]["name"] == "nightly", "schedules %r" % body)
        st, _, body = api.req("GET", "/agents")
        check(st == 200 and len(json.loads(body)) == 2, "agents %r" % body)
        st, h, body = api.req("GET", "/metrics")
        check(st == 200 and b"herd_agents 2\n" in body and h["Content-Type"].startswith("text/plain"),
              "metrics %d %r" % (st, body))
        st, _, body = api.req("GET", "/nothing-here")
        check(st == 404 and json.loads(body) == {"error": "not found"}, "unknown %d %r" % (st, body))
        st, _, _ = api.req("DELETE", "/runs")
        check(st == 405, "DELETE /runs: %d" % st)
        st, _, _ = api.req("GET", "/runs/%s/abort" % KNOWN_RUN)
        check(st == 405, "GET abort: %d" % st)
        calls = api.settle_calls()
        want = ["call runs", "call run " + KNOWN_RUN, "call run 20990101-000000-0000",
                "call abort %s ops said so" % KNOWN_RUN, "call abort %s -" % KNOWN_RUN,
                "call schedules", "call agents", "call metrics"]
        check(calls == want, "provider calls %s, expected %s" % (calls, want))


def test_api_hostile_requests():
    with Api() as api:
        auth = ("Authorization: Bearer %s\r\n" % TOKEN).encode()
        # Path traversal, plain and encoded: refused before any provider.
        for path in ["/runs/../../etc/passwd", "/runs/%2e%2e/%2e%2e/etc/passwd", "/runs/..",
                     "/runs//abort", "/runs/a%00b", "/../etc/passwd", "/runs/" + "a" * 300,
                     "/runs/%s/abort/x" % KNOWN_RUN, "/runs/a b"]:
            out = api.raw(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + auth +
                          b"Connection: close\r\n\r\n")
            status = out.split(b" ", 2)[1] if out.startswith(b"HTTP/1.1 ") else b"closed"
            # "a b" splits the request line: NNG answers 505 for the "version".
            ok = (b"400", b"404", b"closed") + ((b"505",) if " " in path else ())
            check(status in ok, "%s: %r" % (path, out[:200]))
            note("%s: %s", path[:48], status.decode())
            check(b"root:" not in out, "%s leaked a file" % path)
        # Bad JSON and wrong shapes in an abort's body: 400.
        for body in [b"{bad", b"[1,2]", b"{\"reason\": 5}", b"{\"reason\": \"x\", \"force\": true}",
                     b"\xff\xfe"]:
            st, _, resp = api.req("POST", "/runs/%s/abort" % KNOWN_RUN, body=body)
            check(st == 400, "abort body %r: %d %r" % (body, st, resp))
        # A body over the limit: refused by the server before the handler.
        st, _, _ = api.req("POST", "/runs/%s/abort" % KNOWN_RUN, body=b"{\"reason\":\"" +
                           b"x" * 100000 + b"\"}")
        check(st in (400, 413), "huge body: %d" % st)
        st, _, _ = api.req("POST", "/runs/%s/abort" % KNOWN_RUN, token=None, body=b"x" * 5000)
        check(st == 400, "huge body without the token: %d" % st)
        # Huge headers: one of 100 KB, and 2000 small ones.
        out = api.raw(b"GET /runs HTTP/1.1\r\nHost: x\r\n" + auth + b"X-Big: " + b"a" * 100000 +
                      b"\r\nConnection: close\r\n\r\n")
        check(not out or out.split(b" ", 2)[1] in (b"400", b"413", b"431"),
              "100 KB header: %r" % out[:200])
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(2000))
        out = api.raw(b"GET /runs HTTP/1.1\r\nHost: x\r\n" + auth + many +
                      b"Connection: close\r\n\r\n")
        status = out.split(b" ", 2)[1] if out.startswith(b"HTTP/1.1 ") else b"closed"
        note("2000 headers: %s; 100 KB header: %s", status.decode(),
             (out.split(b" ", 2)[1] if out else b"closed").decode())
        # Garbage instead of HTTP.
        api.raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(200))
        api.raw(b"GET\r\n\r\n")
        calls = api.settle_calls()
        check(all(c == "call runs" for c in calls), "a hostile request reached a provider: %s" % calls)
        # Still serving.
        st, _, body = api.req("GET", "/runs")
        check(st == 200 and KNOWN_RUN.encode() in body, "after the hostile requests: %d" % st)
        check(api.p.poll() is None, "the API process died")


SERVE_YAML = """listen: tcp://127.0.0.1:{port}
db: {db}
schedules:
  nightly:
    plan: plan.yaml
    cron: "0 2 * * 1-5"
    timezone: Europe/Berlin
    window: {{ end: "04:00" }}
  hourly-ny:
    plan: plan.yaml
    cron: "30 * * * *"
    timezone: America/New_York
"""

PLAN = """name: smoke
target: http://127.0.0.1:9
scenarios:
  s:
    executor: constant-vus
    vus: 1
    duration: 20m
    gracefulStop: 5m
    flow:
      - get: /
"""


def test_schedule_list():
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "serve.yaml")
        with open(cfg, "w") as f:
            f.write(SERVE_YAML.format(port=free_port(), db=os.path.join(d, "h.db")))
        with open(os.path.join(d, "plan.yaml"), "w") as f:
            f.write(PLAN)
        # A store (made by the probe, schema 4) holding one handled slot.
        db = os.path.join(d, "h.db")
        notify("http://127.0.0.1:%d/" % free_port(), d, 0, 1)
        os.rename(os.path.join(d, "herd.db"), db)
        c = sqlite3.connect(db)
        c.execute("INSERT INTO scheduled_runs (schedule, slot, slot_last, outcome, reason, at)"
                  " VALUES ('nightly', 1796259600, 1796259600, 'skipped', 'would not fit', 1)")
        c.commit()
        c.close()
        p = subprocess.run([herd_bin(), "schedule", "list", "--config", cfg, "--from",
                            "2026-12-03T10:00:00Z"], capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr))
        lines = p.stdout.splitlines()
        note("herd schedule list:\n%s", p.stdout.rstrip())
        check(lines[0].split() == ["SCHEDULE", "NEXT", "SLOT", "WINDOW", "PLAN", "CRON", "LAST"],
              "header %r" % lines[0])
        row = [ln for ln in lines if ln.startswith("nightly")]
        check(row and "2026-12-04 02:00 CET" in row[0] and "until 04:00 (2h0m)" in row[0] and
              "25m" in row[0] and "skipped 2026-12-03 02:00 CET" in row[0],
              "nightly row: %r" % row)
        row = [ln for ln in lines if ln.startswith("hourly-ny")]
        check(row and "2026-12-03 05:30 EST" in row[0] and "none" in row[0] and
              row[0].rstrip().endswith(" -"), "ny row: %r" % row)
        # A window the plan does not fit in is flagged.
        with open(cfg, "a") as f:
            f.write("  short:\n    plan: plan.yaml\n    cron: '0 3 * * *'\n    timezone: UTC\n"
                    "    window: { end: '03:20' }\n")
        p = subprocess.run([herd_bin(), "schedule", "list", "--config", cfg, "--from",
                            "2026-12-03T10:00:00Z"], capture_output=True, text=True, timeout=30)
        row = [ln for ln in p.stdout.splitlines() if ln.startswith("short")]
        check(p.returncode == 0 and row and "until 03:20 (20m), would not fit" in row[0],
              "short row: %r" % row)
        # A plan that cannot load: listed, named on stderr, exit 104.
        os.unlink(os.path.join(d, "plan.yaml"))
        p = subprocess.run([herd_bin(), "schedule", "list", "--config", cfg], capture_output=True,
                           text=True, timeout=30)
        check(p.returncode == 104 and "plan.yaml (cannot load)" in p.stdout and
              "%s:5:11: schedule 'nightly'" % cfg in p.stderr, "exit %d: %s" % (p.returncode,
                                                                                 p.stderr))


def test_serve_checks_config():
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "serve.yaml")
        with open(cfg, "w") as f:
            f.write(SERVE_YAML.format(port=free_port(), db=os.path.join(d, "h.db"))
                    .replace("timezone: Europe/Berlin", "timezone: Europe/Berln"))
        p = subprocess.run([herd_bin(), "serve", "--config", cfg], capture_output=True, text=True,
                           timeout=30)
        check(p.returncode == 104 and "%s:7:15: unknown time zone 'Europe/Berln'" % cfg in p.stderr,
              "exit %d: %s" % (p.returncode, p.stderr))
        with open(cfg, "w") as f:
            f.write(SERVE_YAML.format(port=free_port(), db=os.path.join(d, "h.db")))
        # The plan it names does not exist yet: named with the schedule's line.
        p = subprocess.run([herd_bin(), "serve", "--config", cfg], capture_output=True, text=True,
                           timeout=30)
        check(p.returncode == 104 and "%s:5:11: schedule 'nightly': " % cfg in p.stderr and
              "plan.yaml" in p.stderr, "missing plan: exit %d: %s" % (p.returncode, p.stderr))
        with open(os.path.join(d, "plan.yaml"), "w") as f:
            f.write(PLAN)
        # A token file the API names must exist (checked now, not at night).
        with open(cfg, "a") as f:
            f.write("api: { token-file: %s }\n" % os.path.join(d, "api.token"))
        p = subprocess.run([herd_bin(), "serve", "--config", cfg], capture_output=True, text=True,
                           timeout=30)
        check(p.returncode == 104 and "api token-file" in p.stderr and "api.token" in p.stderr and
              "is valid" not in p.stderr, "missing token: exit %d: %s" % (p.returncode, p.stderr))
        with open(os.path.join(d, "api.token"), "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(os.path.join(d, "api.token"), 0o600)
        p = subprocess.run([herd_bin(), "serve", "--config", cfg, "--check"], capture_output=True,
                           text=True, timeout=30)
        check(p.returncode == 0 and "is valid" in p.stderr and
              "2 schedules" in p.stderr, "valid config: exit %d: %s" % (p.returncode, p.stderr))
        check(not os.path.exists(os.path.join(d, "h.db")), "herd serve created the store")


if __name__ == "__main__":
    main([test_webhook_retried_after_500, test_webhook_attempts_bounded, test_webhook_unreachable,
          test_api_endpoints_need_the_token, test_api_hostile_requests, test_schedule_list,
          test_serve_checks_config])
