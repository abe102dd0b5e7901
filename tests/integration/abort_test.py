#!/usr/bin/env python3
"""Abort rules and guards (issue 13, section 1) with real processes: herd and
its local agents, nginx (harness.Nginx) whose /flaky location answers 500
while a file the test creates exists, and a small Python HTTP server as the
health URL. Each test reads the target's own access log ($msec), the run's
row and events in the store (sqlite3) and herd's exit code.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/abort_test.py [-k NAME]
"""

import http.server
import os
import sqlite3
import sys
import threading
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Fail, Nginx, check, finish, note, run_herd, start_herd  # noqa: E402

# /flaky answers 500 while {dir}/fail exists (nginx stats it per request:
# no open_file_cache), 200 otherwise.
FLAKY = {
    'location = /small {{': 'location = /flaky {{ if (-f {dir}/fail) {{ return 500; }} '
                            'return 200 "ok\\n"; }}\n        location = /small {{',
}


def flaky_nginx(fields=()):
    return Nginx(replace=FLAKY, fields=fields)


def set_failing(ng, on):
    path = os.path.join(ng.dir, "fail")
    if on:
        open(path, "w").close()
    elif os.path.exists(path):
        os.unlink(path)


def query(db, sql, args=()):
    """The rows of one query on the store db."""
    con = sqlite3.connect(db)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def run_row(db):
    """(status, exit_code) of the one run in db."""
    rows = query(db, "SELECT status, exit_code FROM runs")
    check(len(rows) == 1, "the store holds %d runs, expected 1" % len(rows))
    return rows[0]


def events(db, kind):
    """[(ts in s, message)] of the run's events of kind."""
    return [(at / 1000.0, msg) for at, msg in
            query(db, "SELECT at, message FROM events WHERE kind = ? ORDER BY at", (kind,))]


def agent_rows(db):
    """[(name, status, left_at in s)] of the run's agents."""
    return [(n, st, (left or 0) / 1000.0) for n, st, left in
            query(db, "SELECT name, status, left_at FROM run_agents ORDER BY name")]


def wait_log(ng, n, timeout=20.0):
    """Waits until nginx has logged at least n requests."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(ng.entries()) >= n:
            return
        time.sleep(0.05)
    raise Fail("nginx logged %d requests within %.0f s, expected %d" % (len(ng.entries()), timeout, n))


ARRIVAL_PLAN = """
target: %s
scenarios:
  main:
    executor: constant-arrival-rate
    rate: 100
    duration: 30s
    preAllocatedVUs: 10
    flow:
      - get: /flaky
thresholds:
%s
"""


def abort_after_breach(agents):
    """nginx switches to 500s about 3 s into a 30 s run at 100 requests/s; the
    rule `rate < 0.5` over a 3 s window fires while the whole run's rate is
    still below 0.5 (so a rule on the whole run would not have fired yet):
    every agent stops, the last request reaches nginx within 2 s of the
    breach, the run is stored aborted with the rule and its value, exit 99."""
    th = '  http_req_failed: [{ threshold: "rate < 0.5", abortOnFail: true, window: 3s }]\n'
    with flaky_nginx() as ng:
        p = start_herd(ARRIVAL_PLAN % (ng.url, th), "--local-agents", str(agents), "--workers", "1",
                       quiet=True)
        wait_log(ng, 300)
        set_failing(ng, True)
        r = finish(p, 60)
        ng.settle()
        log = ng.entries()
        check(r.code == 99, "herd exited %d, expected 99%s" % (r.code, r.tail()))
        status, code = run_row(r.db)
        check(status == "aborted" and code == 99, "stored %s / %s, expected aborted / 99" % (status, code))
        ab = events(r.db, "abort")
        check(len(ab) == 1, "abort events %r" % ab)
        breach, msg = ab[0]
        check("http_req_failed: rate < 0.5" in msg and "last 3 s" in msg, "abort event %r" % msg)
        value = float(msg.split("last 3 s: ")[1].split()[0])
        first_500 = min(e["msec"] for e in log if e["status"] == 500)
        last = max(e["msec"] for e in log)
        whole = r.metric("http_req_failed")["value"]
        note("%d agents: first 500 at nginx %.3f, breach %.3f (%.3f later), value %.3f, whole-run rate "
             "%.3f, last request %.3f s after the breach; nginx %d, herd %d",
             agents, first_500, breach, breach - first_500, value, whole, last - breach, len(log), r.count())
        check(value >= 0.5, "the failing window's value %.3f" % value)
        check(whole < 0.5, "the whole run's failed rate %.3f: the window was not what fired" % whole)
        check(breach >= first_500 - 1.0, "the breach %.3f precedes nginx's first 500 (%.3f) by over one "
              "interval" % (breach, first_500))
        check(last - breach <= 2.0, "the last request reached nginx %.3f s after the breach" % (last - breach))
        check("aborted" in r.stderr and "every agent is stopped" in r.stderr, "stderr%s" % r.tail())
        check(r.summary["herd"]["status"] == "aborted", "summary status %r" % r.summary["herd"]["status"])
        # Every agent took the STOP and finished (DONE) well before the plan's
        # 30 s; the requests they abandoned in flight are at most their VUs.
        ag = agent_rows(r.db)
        note("agents %r", ag)
        check(len(ag) == agents and all(st == "done" for _, st, _ in ag), "agents %r" % (ag,))
        check(all(left - breach < 5.0 for _, _, left in ag), "agents left at %r, breach %.3f" % (ag, breach))
        check(0 <= len(log) - r.count() <= 10, "nginx %d, herd %d" % (len(log), r.count()))


def test_window_rule_aborts_one_agent():
    abort_after_breach(1)


def test_window_rule_aborts_two_agents():
    abort_after_breach(2)


def test_delay_abort_eval():
    """nginx fails from the start; `delayAbortEval: 4s` holds the judgment
    (on the whole run so far) until 4 s into the load: the breach is stored
    at 4 s (not 1 s), and the run then stops within 2 s."""
    th = '  http_req_failed: [{ threshold: "rate < 0.5", abortOnFail: true, delayAbortEval: 4s }]\n'
    with flaky_nginx() as ng:
        set_failing(ng, True)
        r = run_herd(ARRIVAL_PLAN % (ng.url, th), "--workers", "1", timeout=60)
        ng.settle()
        log = ng.entries()
        check(r.code == 99, "herd exited %d, expected 99%s" % (r.code, r.tail()))
        start = events(r.db, "load_start")[0][0]
        breach, msg = events(r.db, "abort")[0]
        last = max(e["msec"] for e in log)
        note("breach %.3f s after the load's start (%s); last request %.3f s after it; %d requests, all 500: %s",
             breach - start, msg, last - breach, len(log), all(e["status"] == 500 for e in log))
        check(abs((breach - start) - 4.0) < 0.01, "the breach came %.3f s into the load, expected 4 s"
              % (breach - start))
        check(last - breach <= 2.0, "the last request reached nginx %.3f s after the breach" % (last - breach))
        check(run_row(r.db)[0] == "aborted", "stored %r" % (run_row(r.db),))


class Health:
    """A health URL: a Python HTTP server on 127.0.0.1 answering 200 on
    /healthz while healthy, 503 once made unhealthy; it counts checks."""

    def __init__(self, healthy=True):
        self.healthy = healthy
        self.hits = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits.append((time.time(), outer.healthy))
                code = 200 if outer.healthy else 503
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)

    @property
    def url(self):
        return "http://127.0.0.1:%d/healthz" % self.srv.server_address[1]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.srv.shutdown()
        self.srv.server_close()
        return False


GUARD_PLAN = """
target: %s
guards:
  health: { url: %s, every: 1s, failures: 2, timeout: 500ms }
scenarios:
  main:
    executor: constant-arrival-rate
    rate: 50
    duration: 30s
    preAllocatedVUs: 5
    flow:
      - get: /small
"""


def test_health_guard_aborts():
    """The health URL turns unhealthy 3 s into a 30 s run: after 2 failed
    checks in a row (1 s apart) herd stops every agent, exit 111, stored
    aborted with the reason; nginx saw nothing more than 2 s after the
    second failed check."""
    with flaky_nginx() as ng, Health() as h:
        p = start_herd(GUARD_PLAN % (ng.url, h.url), "--local-agents", "2", "--workers", "1", quiet=True)
        wait_log(ng, 100)
        time.sleep(1.0)
        h.healthy = False
        t_bad = time.time()
        r = finish(p, 60)
        ng.settle()
        log = ng.entries()
        check(r.code == 111, "herd exited %d, expected 111%s" % (r.code, r.tail()))
        status, code = run_row(r.db)
        check(status == "aborted" and code == 111, "stored %s / %s" % (status, code))
        bad = [t for t, ok in h.hits if not ok]
        check(len(bad) == 2, "the guard made %d failed checks, expected 2 (then stopped)" % len(bad))
        ab = events(r.db, "abort")
        check(ab and "health guard" in ab[0][1] and "HTTP 503" in ab[0][1], "abort events %r" % ab)
        last = max(e["msec"] for e in log)
        note("unhealthy at %.3f, failed checks at +%.3f/+%.3f s, last request +%.3f s; %d requests; %s",
             t_bad, bad[0] - t_bad, bad[1] - t_bad, last - t_bad, len(log), ab[0][1])
        check(last - bad[1] <= 2.0, "the last request reached nginx %.3f s after the second failed check"
              % (last - bad[1]))
        check(r.elapsed < 20, "herd ran %.1f s of a 30 s plan" % r.elapsed)


def test_health_guard_refuses():
    """An unhealthy health URL before the start: the run is refused, exit
    110, nginx saw nothing, the store says why."""
    with flaky_nginx() as ng, Health(healthy=False) as h:
        r = run_herd(GUARD_PLAN % (ng.url, h.url), timeout=30)
        ng.settle(max_s=1.0)
        check(r.code == 110, "herd exited %d, expected 110%s" % (r.code, r.tail()))
        check(len(ng.entries()) == 0, "nginx logged %d requests" % len(ng.entries()))
        check(len(h.hits) == 1, "%d health checks, expected 1" % len(h.hits))
        ev = events(r.db, "guard_refused")
        check(ev and "HTTP 503" in ev[0][1] and h.url in ev[0][1], "events %r" % ev)
        check("refused" in r.stderr and "HTTP 503" in r.stderr, "stderr%s" % r.tail())
        status, code = run_row(r.db)
        check(code == 110, "stored exit code %s" % code)
        note("refused: %s (stored %s)", ev[0][1], status)


def test_guard_url_rules():
    """The health URL obeys the target's rules: http/https only, a host;
    errors at the plan's line:column, exit 104, nothing sent."""
    with flaky_nginx() as ng:
        for url, want in (("ftp://127.0.0.1/x", "must start with http:// or https://"),
                          ("ws://127.0.0.1/x", "must start with http:// or https://"),
                          ("http:///x", "has no host")):
            r = run_herd(GUARD_PLAN % (ng.url, url), timeout=30)
            check(r.code == 104 and "plan.yaml:4:" in r.stderr and want in r.stderr,
                  "%s: exit %d%s" % (url, r.code, r.tail()))
        check(len(ng.entries()) == 0, "nginx logged %d requests" % len(ng.entries()))


CAP_PLAN = """
target: %s
maxRate: %d
%s
scenarios:
%s
"""

OPEN = """  browse:
    executor: constant-arrival-rate
    rate: 50
    duration: 5s
    preAllocatedVUs: 10
    flow:
      - get: /small
      - get: /small
  later:
    executor: ramping-arrival-rate
    startTime: 2s
    startRate: 0
    stages: [{ duration: 2s, target: 20 }, { duration: 1s, target: 0 }]
    preAllocatedVUs: 10
    flow:
      - get: /small
"""


def test_max_rate_refuses():
    """Open models: 50 iterations/s x 2 requests, plus a ramp to 20/s x 1
    peaking at 4 s: 120 requests/s > maxRate 110: refused with the numbers,
    exit 104, nginx saw nothing. maxRate 120 runs."""
    with flaky_nginx() as ng:
        r = run_herd(CAP_PLAN % (ng.url, 110, "", OPEN), timeout=30)
        check(r.code == 104, "herd exited %d, expected 104%s" % (r.code, r.tail()))
        for s in ("plan.yaml:3:1:", "peak of 120 requests/s at 4 s", "maxRate 110/s",
                  "browse 50 iterations/s x 2 requests per iteration = 100/s", "later 20 iterations/s x 1 requests per iteration = 20/s"):
            check(s in r.stderr, "no %r in%s" % (s, r.tail()))
        note("%s", r.stderr.strip())
        ng.settle(max_s=1.0)
        check(len(ng.entries()) == 0, "nginx logged %d requests" % len(ng.entries()))


def test_max_vus_refuses():
    """maxVUs: 30 closed VUs + an open scenario's maxVUs 25 = 55 > 40:
    refused with the numbers, exit 104, nothing sent."""
    scen = """  c:
    executor: constant-vus
    vus: 30
    duration: 5s
    flow:
      - get: /small
  o:
    executor: constant-arrival-rate
    rate: 5
    duration: 5s
    preAllocatedVUs: 5
    maxVUs: 25
    flow:
      - get: /small
"""
    with flaky_nginx() as ng:
        r = run_herd(CAP_PLAN % (ng.url, 1000, "maxVUs: 40", scen), timeout=30)
        check(r.code == 104, "herd exited %d%s" % (r.code, r.tail()))
        for s in ("peak of 55 VUs at 0 s exceeds maxVUs 40", "c 30 VUs", "o 25 maxVUs"):
            check(s in r.stderr, "no %r in%s" % (s, r.tail()))
        note("%s", r.stderr.strip())
        ng.settle(max_s=1.0)
        check(len(ng.entries()) == 0, "nginx logged %d requests" % len(ng.entries()))


def test_closed_model_under_max_rate():
    """40 closed VUs without think time over 2 local agents would send
    thousands of requests/s; maxRate 60 holds them: in no second of nginx's
    log (by $msec - $request_time, when each request arrived) more than 60,
    the cap is used (over 80% of 60/s in the full seconds), and rate_capped
    counts the requests held back."""
    scen = """  c:
    executor: constant-vus
    vus: 40
    duration: 6s
    flow:
      - get: /small
"""
    with flaky_nginx(fields=("request_time",)) as ng:
        r = run_herd(CAP_PLAN % (ng.url, 60, "", scen), "--local-agents", "2", "--workers", "2",
                     timeout=60)
        ng.settle()
        check(r.code == 0, "herd exited %d%s" % (r.code, r.tail()))
        log = ng.entries()
        per_s = Counter(int(e["msec"] - float(e["request_time"] or 0)) for e in log)
        secs = sorted(per_s)
        full = [per_s[s] for s in secs[1:-1]]
        capped = r.metric("rate_capped")
        note("nginx %d requests, herd %d; per second %s; rate_capped %s", len(log), r.count(),
             [per_s[s] for s in secs], capped)
        check(max(per_s.values()) <= 60, "a second of nginx's log holds %d requests > maxRate 60"
              % max(per_s.values()))
        check(full and min(full) >= 48, "the full seconds hold %s: the cap was not used" % full)
        check(capped["count"] > 0, "rate_capped %r" % capped)
        check(len(log) == r.count(), "nginx %d, herd %d" % (len(log), r.count()))


if __name__ == "__main__":
    from harness import main
    main([test_window_rule_aborts_one_agent, test_window_rule_aborts_two_agents, test_delay_abort_eval,
          test_health_guard_aborts, test_health_guard_refuses, test_guard_url_rules,
          test_max_rate_refuses, test_max_vus_refuses, test_closed_model_under_max_rate])
