#!/usr/bin/env python3
"""The target allowlist on every request (herd-agent / herd run --allow-target)
and the schemes a plan may reach (http and https only, with or without a
list), against real servers on 127.0.0.1:

- an allowed nginx whose locations redirect (302) to a forbidden port, to
  file:// and to gopher://, or send a Location header to capture;
- a Tripwire: a raw TCP listener on another port standing for the forbidden
  host. It records every connection it accepts (and answers HTTP, so that an
  agent that does reach it is not left hanging); it must record none.

What is checked, from the servers' own records: a redirect hop outside the
list, a captured Location and a CSV column naming a forbidden URL (as an
address, or as a name that resolves outside), file:///etc/passwd and
gopher:// from a CSV (with no list at all, on the libcurl and the lean
drivers) are refused, counted as target_not_allowed, logged once, and never
reach the tripwire or read the file; allowed hops and URLs still work.
WebSocket URLs cannot render their host (refused at plan load), and a
literal outside the list is refused with the assignment. With that check
skipped (HERD_ALLOW_PLAN_CHECK_SKIP=1, a test hook), each driver's own check
of the address it connects to refuses: libcurl's, the lean driver's, the
WebSocket driver's. The lists are given to a real herd-agent started by the
test (`herd run --listen ipc://... --agents 1`), as on a load host; `herd
run --allow-target` gives one to the local agents herd starts.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/allowlist_test.py [-k NAME]
"""

import os
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Fail, HerdResult, Nginx, _load_export, agent_bin, check, free_port,  # noqa: E402
                     main, note, prepare_run, run_herd)
import ws_test  # noqa: E402  (its WebSocket server; importing it runs no test)
from ws_test import agent_log_on_stderr  # noqa: E402

REFUSED_LOG = "request refused: "
ITERS = 4


class Tripwire:
    """A TCP listener on 127.0.0.1:<free port> that records each connection
    (its first bytes) and answers a small HTTP 200, then closes."""

    def __init__(self):
        self.port = free_port()
        self.seen = []
        self.lock = threading.Lock()
        self.sock = None
        self.thread = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def __enter__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(64)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        return self

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(1.0)
            try:
                data = conn.recv(4096)
            except OSError:
                data = b""
            with self.lock:
                self.seen.append(data[:200])
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nstolen\n")
            except OSError:
                pass
            conn.close()

    def __exit__(self, *exc):
        self.sock.close()
        self.thread.join(5)

    def connections(self):
        with self.lock:
            return list(self.seen)


def allowed_nginx(trip):
    """nginx with the locations these tests need, trip's port as the forbidden one."""
    extra = """
        location = /hop {{ return 302 http://127.0.0.1:%(t)d/stolen; }}
        location = /hop-name {{ return 302 http://localhost:%(t)d/stolen; }}
        location = /hop-local {{ return 302 /small; }}
        location = /hop-file {{ return 302 file:///etc/passwd; }}
        location = /hop-gopher {{ return 302 gopher://127.0.0.1:%(t)d/_stolen; }}
        location = /loc {{ add_header Location http://127.0.0.1:%(t)d/stolen always; return 201 "made\\n"; }}
        location = /loc-ok {{ add_header Location /small always; return 201 "made\\n"; }}
        location = /small {{""" % {"t": trip.port}
    return Nginx(replace={"\n        location = /small {{": extra})


def plan(target, flow, iters=ITERS, data=None):
    out = ["name: allowlist", "target: %s" % target]
    if data:
        out += ["data:", "  u: { file: %s }" % data]
    out += ["scenarios:", "  s:", "    executor: shared-iterations", "    vus: 1",
            "    iterations: %d" % iters, "    flow:"]
    out += ["      " + line for line in flow.strip("\n").splitlines()]
    return "\n".join(out) + "\n"


def run_remote(plan_text, *agent_args, files=None, env=None, timeout=60):
    """`herd run --listen ipc://... --agents 1` with one herd-agent started
    here with agent_args (--allow-target, as on a load host) and env added to
    its environment. Returns a HerdResult whose stderr is the controller's
    followed by the agent's log."""
    ab = agent_bin()
    check(ab is not None, "HERD_AGENT_BIN is not set (path of the built herd-agent)")
    d, plan_path, db, export, cmd = prepare_run(plan_text, ["--agents", "1", "--agents-wait", "20s",
                                                            "--quiet"], files=files)
    url = "ipc://%s/ctl.sock" % d
    cmd[-1:-1] = ["--listen", url]
    ctl = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=d)
    log = os.path.join(d, "agent.log")
    with open(log, "w") as f:
        agent = subprocess.Popen([ab, "--controller", url, "--name", "a1", "--workers", "1", "--once"]
                                 + list(agent_args), stdout=subprocess.DEVNULL, stderr=f, cwd=d,
                                 env=dict(os.environ, **(env or {})))
    try:
        out, err = ctl.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        ctl.kill()
        ctl.communicate()
        raise Fail("herd run did not finish within %d s (killed)" % timeout)
    finally:
        # A --once agent leaves after its run; one whose assignment was
        # refused has had no run, and waits for another: stop it.
        if ctl.returncode != 0:
            agent.terminate()
        try:
            agent.wait(timeout=10)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
    with open(log, errors="replace") as f:
        agent_log = f.read()
    return HerdResult(ctl.returncode, out.decode(errors="replace"),
                      err.decode(errors="replace") + agent_log, _load_export(export), d, plan_path,
                      db, export, 0.0)


def refusal_lines(r):
    return [ln for ln in r.stderr.splitlines() if REFUSED_LOG in ln]


def expect_refused(r, n, trip, why, what, also=None):
    """r ran to its end with exactly n requests refused (target_not_allowed
    and nothing else failing but the errors also), one log line naming why,
    and trip untouched."""
    errs = r.errors_by_kind()
    want = dict(also or {}, target_not_allowed=n)
    note("%s: errors %s", what, errs)
    # A WebSocket run whose every session was refused fails its default
    # ws_session_failed threshold (99); HTTP runs have none by default.
    want_code = 99 if what.startswith("ws") else 0
    check(r.code == want_code, "%s: herd exited %d, want %d%s" % (what, r.code, want_code, r.tail()))
    check(errs == want, "%s: errors %s, want %s%s" % (what, errs, want, r.tail()))
    lines = refusal_lines(r)
    check(len(lines) == 1, "%s: %d log lines of refusals, want 1 (once per run):%s"
          % (what, len(lines), r.tail()))
    check(lines and why in lines[0], "%s: the refusal %r does not say %r" % (what, lines, why))
    check(not trip.connections(), "%s: the forbidden server was reached: %s"
          % (what, trip.connections()))


def expect_allowed(r, ng, what):
    """r ran without errors, and ng served /small once an iteration."""
    check(r.code == 0 and not r.errors_by_kind(), "%s failed: exit %d, errors %s%s"
          % (what, r.code, r.errors_by_kind(), r.tail()))
    check(ng.access_log_lines(path="/small", status=200) == ITERS,
          "%s was requested %d times, want %d" % (what, ng.access_log_lines(path="/small"), ITERS))


def test_redirect_hop_refused():
    """A 302 from the allowed nginx to the forbidden port, as an address and
    as a name (localhost) that resolves there: each hop is refused before it
    connects; a redirect that stays inside the list is still followed."""
    with Tripwire() as trip, allowed_nginx(trip) as ng:
        allow = "127.0.0.1:%d" % ng.port
        for path, why in [("/hop", "target 127.0.0.1:%d is not allowed" % trip.port),
                          ("/hop-name", "target localhost:%d (address " % trip.port)]:
            r = run_remote(plan(ng.url, "- get: %s" % path), "--allow-target", allow)
            expect_refused(r, ITERS, trip, why, path)
            check(ng.access_log_lines(path=path, status=302) == ITERS,
                  "%s: nginx answered %d of the first hops, want %d"
                  % (path, ng.access_log_lines(path=path), ITERS))
        expect_allowed(run_remote(plan(ng.url, "- get: /hop-local"), "--allow-target", allow), ng,
                       "the allowed redirect")


def test_redirect_to_other_scheme_refused():
    """Without any list: a redirect to file:// or gopher:// is refused as
    target_not_allowed (libcurl's redirect protocols are http,https only)."""
    with agent_log_on_stderr(), Tripwire() as trip, allowed_nginx(trip) as ng:
        for path in ["/hop-file", "/hop-gopher"]:
            r = run_herd(plan(ng.url, "- get: %s\n  checks:\n    passwd: { body: 'root:x:0:0' }" % path),
                         "--workers", "1", timeout=60)
            errs = r.errors_by_kind()
            note("%s: errors %s", path, errs)
            check(r.code == 0, "%s: herd exited %d%s" % (path, r.code, r.tail()))
            check(errs.get("target_not_allowed") == ITERS,
                  "%s: errors %s, want %d target_not_allowed" % (path, errs, ITERS))
            checks = r.metric("checks")
            check(checks.get("passes", 0) == 0, "%s: the passwd check passed: %s" % (path, checks))
            check(not trip.connections(), "%s: gopher reached the forbidden server: %s"
                  % (path, trip.connections()))


def test_captured_location_refused():
    """A Location header captured from the allowed nginx and used as the next
    URL: refused when it points outside the list (rendered URL checked before
    libcurl sees it), followed when it points inside."""
    flow = """
- get: %s
  capture:
    next: { header: Location }
- get: "{{ next }}"
"""
    with Tripwire() as trip, allowed_nginx(trip) as ng:
        allow = "127.0.0.1:%d" % ng.port
        r = run_remote(plan(ng.url, flow % "/loc"), "--allow-target", allow)
        expect_refused(r, ITERS, trip, "target 127.0.0.1:%d is not allowed" % trip.port, "capture")
        check(ng.access_log_lines(path="/loc", status=201) == ITERS,
              "nginx answered /loc %d times, want %d" % (ng.access_log_lines(path="/loc"), ITERS))
        expect_allowed(run_remote(plan(ng.url, flow % "/loc-ok"), "--allow-target", allow), ng,
                       "the captured allowed URL")


def test_csv_url_refused():
    """A CSV column of URLs, one VU taking the rows in order: the allowed
    one is requested, the forbidden ones (an address outside the list, a
    name resolving outside it, user info dressing up an allowed address)
    are refused, each time."""
    with Tripwire() as trip, allowed_nginx(trip) as ng:
        rows = ["%s/small" % ng.url,
                "http://127.0.0.1:%d/csv" % trip.port,
                "http://localhost:%d/csv" % trip.port,
                "http://127.0.0.1:%d@127.0.0.1:%d/csv" % (ng.port, trip.port)]
        csv = "url\n" + "".join(u + "\n" for u in rows)
        rounds = 2
        r = run_remote(plan(ng.url, '- get: "{{ u.url }}"', iters=rounds * len(rows), data="u.csv"),
                       "--allow-target", "127.0.0.1:%d" % ng.port, files={"u.csv": csv})
        expect_refused(r, rounds * (len(rows) - 1), trip, "is not allowed by --allow-target", "csv")
        check(ng.access_log_lines(path="/small", status=200) == rounds,
              "nginx served the allowed row %d times, want %d" % (ng.access_log_lines(path="/small"), rounds))


def test_file_and_gopher_from_csv_never_reached():
    """With no --allow-target at all, on the libcurl and the lean drivers
    (a templated step runs on libcurl under --http-driver lean): URLs of
    other schemes from a CSV are refused before libcurl sees them. The
    body check for /etc/passwd's first line never passes, the gopher and
    dict ports are never connected to, and the one http row still works."""
    with agent_log_on_stderr(), Tripwire() as trip, allowed_nginx(trip) as ng:
        rows = ["file:///etc/passwd", "gopher://127.0.0.1:%d/_stolen" % trip.port,
                "FILE:///etc/passwd", "dict://127.0.0.1:%d/stolen" % trip.port,
                "%s/small" % ng.url]
        csv = "url\n" + "".join(u + "\n" for u in rows)
        flow = '- get: "{{ u.url }}"\n  checks:\n    passwd: { body: "root:x:0:0" }'
        for runs, driver in enumerate(["curl", "lean"]):
            r = run_herd(plan(ng.url, flow, iters=len(rows), data="u.csv"), "--workers", "1",
                         "--http-driver", driver, files={"u.csv": csv}, timeout=60)
            what = "no list, %s driver" % driver
            # The http row's body is nginx's, so its passwd check fails.
            expect_refused(r, len(rows) - 1, trip, "'file:///etc/passwd' is not http:// or https://", what,
                           also={"check_failed": 1})
            checks = r.metric("checks")
            note("%s: checks %s", what, checks)
            check(checks.get("passes", 0) == 0, "%s: the passwd check passed: %s" % (what, checks))
            check(ng.access_log_lines(path="/small") == runs + 1,
                  "%s: nginx served the http row %d times in all, want %d"
                  % (what, ng.access_log_lines(path="/small"), runs + 1))
        # Written in the plan, such a URL is a plan error with its place.
        r = run_herd(plan(ng.url, "- get: gopher://127.0.0.1:%d/_x" % trip.port), timeout=30)
        check(r.code == 104 and "plan.yaml:" in r.stderr and "http://" in r.stderr,
              "a literal gopher:// URL: exit %d%s" % (r.code, r.tail()))
        check(not trip.connections(), "gopher reached the forbidden server: %s" % trip.connections())


def test_ws_host_never_rendered_and_checked():
    """WebSocket URLs cannot take their host from a template (refused at
    load, with the place); a ws:// URL outside the list is refused with the
    assignment (exit 103, the server sees no session); inside it, sessions
    run as before."""
    with ws_test.WsServer() as ws, Tripwire() as trip:
        for url in ['"ws://{{ u.host }}/echo"', '"{{ u.url }}"']:
            r = run_herd(plan(ws.url, "- ws: %s\n  session:\n    - close: 1000" % url, data="u.csv"),
                         files={"u.csv": "host,url\n127.0.0.1:%d,ws://127.0.0.1:%d/\n" % (trip.port, trip.port)},
                         timeout=60)
            check(r.code == 104, "ws %s: herd exited %d, want 104 (plan error)%s" % (url, r.code, r.tail()))
            check("plan.yaml:" in r.stderr, "ws %s: the error names no place:%s" % (url, r.tail()))
        flow = "- ws: ws://127.0.0.1:%d/hold\n  session:\n    - hold: 10ms"
        r = run_remote(plan(ws.url, flow % trip.port), "--allow-target", "127.0.0.1:%d" % ws.port)
        check(r.code == 103, "forbidden ws target: herd exited %d, want 103%s" % (r.code, r.tail()))
        check("target 127.0.0.1:%d is not allowed" % trip.port in r.stderr, "no reason given:%s" % r.tail())
        r = run_remote(plan(ws.url, flow % ws.port), "--allow-target", "127.0.0.1:%d" % ws.port)
        check(r.code == 0 and not r.errors_by_kind(), "allowed ws sessions failed: exit %d, errors %s%s"
              % (r.code, r.errors_by_kind(), r.tail()))
        check(ws.sessions == ITERS, "the server saw %d sessions, want %d" % (ws.sessions, ITERS))
        check(not trip.connections(), "the forbidden server was reached: %s" % trip.connections())


def test_each_driver_checks_its_connections():
    """With the assignment's check skipped (HERD_ALLOW_PLAN_CHECK_SKIP=1, for
    this test), a literal target outside the list reaches each driver's own
    check of the address it connects to: libcurl's (called before each
    connect), the lean HTTP/1.1 driver's and the WebSocket driver's (the
    address their host resolved to). Every request or session is refused as
    target_not_allowed, logged once, and the tripwire sees nothing."""
    with Tripwire() as trip, allowed_nginx(trip) as ng:
        allow = "127.0.0.1:%d" % ng.port
        cases = [("curl", "- get: %s/x" % trip.url, ()),
                 ("lean", "- get: %s/x" % trip.url, ("--http-driver", "lean")),
                 ("ws", "- ws: ws://127.0.0.1:%d/x\n  session:\n    - close: 1000" % trip.port, ())]
        for name, flow, args in cases:
            r = run_remote(plan(ng.url, flow), "--allow-target", allow, *args,
                           env={"HERD_ALLOW_PLAN_CHECK_SKIP": "1"})
            expect_refused(r, ITERS, trip, "target 127.0.0.1:%d is not allowed" % trip.port, name)
        check(ng.access_log_lines() == 0, "nginx got requests")


def test_herd_run_passes_the_list():
    """herd run --allow-target: a list that does not parse is a flag error
    (104, naming the item), it is refused with --listen (remote agents have
    their own), and local agents refuse a plan aiming outside it (103)."""
    with Tripwire() as trip, allowed_nginx(trip) as ng:
        r = run_herd(plan(ng.url, "- get: /small"), "--allow-target", "127.0.0.1:99999", timeout=30)
        check(r.code == 104 and "cannot read '127.0.0.1:99999'" in r.stderr,
              "bad list: exit %d%s" % (r.code, r.tail()))
        r = run_herd(plan(ng.url, "- get: /small"), "--allow-target", "127.0.0.1",
                     "--listen", "tcp://127.0.0.1:%d" % free_port(), "--agents", "1", timeout=30)
        check(r.code == 104 and "for the local agents" in r.stderr,
              "--allow-target with --listen: exit %d%s" % (r.code, r.tail()))
        r = run_herd(plan(trip.url, "- get: /x"), "--allow-target", "127.0.0.1:%d" % ng.port, timeout=30)
        check(r.code == 103, "a plan outside the list: exit %d, want 103%s" % (r.code, r.tail()))
        check("target 127.0.0.1:%d is not allowed by --allow-target" % trip.port in r.stderr,
              "no reason given:%s" % r.tail())
        check(not trip.connections(), "the forbidden server was reached: %s" % trip.connections())
        check(ng.access_log_lines() == 0, "nginx got requests")


if __name__ == "__main__":
    main([test_redirect_hop_refused, test_redirect_to_other_scheme_refused,
          test_captured_location_refused, test_csv_url_refused,
          test_file_and_gopher_from_csv_never_reached, test_ws_host_never_rendered_and_checked,
          test_each_driver_checks_its_connections, test_herd_run_passes_the_list])
