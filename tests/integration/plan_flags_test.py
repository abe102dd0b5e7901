#!/usr/bin/env python3
"""Plans that gate and plans fed from outside, end to end (issue 10, items 6,
9, 10, 11): thresholds that saw no data fail; a ws:// target; a scenario's
`setup:` run once per VU (counted in json-server's own request log); env()
in numeric keys with `herd run -e`, and k6's --vus/--iterations/--duration.
Every server is local (127.0.0.1, free ports), every run bounded by its
iterations, maxDuration and a timeout on the herd process.

    HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/plan_flags_test.py [-k NAME]
"""

import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import JsonServer, Nginx, check, main, note, run_herd  # noqa: E402


def expect_code(r, want):
    check(r.code == want, "herd exited %d, expected %d%s" % (r.code, want, r.tail()))


def thresholds(r):
    return {(t.get("metric"), t.get("expr")): t for t in r.herd().get("thresholds", [])}


# --------------------------------------------------------------------------- item 6


def test_nodata_threshold_fails():
    """A threshold whose filter matched no request fails with "no data" and
    exit 99; the same threshold with allowNoData: true passes."""
    with Nginx() as ng:
        plan = """
name: nodata
target: %s
scenarios:
  s:
    executor: per-vu-iterations
    vus: 1
    iterations: 3
    maxDuration: 30s
    flow:
      - get: /small
        name: health
thresholds:
  "http_req_duration{status:5xx}": %s
  "http_req_duration{name:health}": ["p(95) < 10000"]
"""
        r = run_herd(plan % (ng.url, '["p(95) < 500"]'), timeout=60)
        expect_code(r, 99)
        check("no data" in r.stdout, "the summary does not say 'no data':\n%s" % r.stdout[-1500:])
        t = thresholds(r)
        row = t.get(("http_req_duration{status:5xx}", "p(95) < 500"))
        check(row is not None and row.get("ok") is False,
              "the no-data threshold is not failed in the export: %s" % t)
        check(t.get(("http_req_duration{name:health}", "p(95) < 10000"), {}).get("ok") is True,
              "the threshold with data did not pass: %s" % t)
        check(ng.access_log_lines(path="/small") == 3, "nginx did not see 3 requests")

        r = run_herd(plan % (ng.url, '[{ threshold: "p(95) < 500", allowNoData: true }]'), timeout=60)
        expect_code(r, 0)


def test_misspelt_step_name_is_a_plan_error():
    """name:helth for a step named health: exit 104 before any request, at the
    threshold's line and column, with the suggestion."""
    with Nginx() as ng:
        r = run_herd("""name: typo
target: %s
scenarios:
  s:
    executor: per-vu-iterations
    flow:
      - get: /small
        name: health
thresholds:
  "http_req_duration{name:helth}": ["p(95) < 500"]
""" % ng.url, timeout=30)
        expect_code(r, 104)
        check("plan.yaml:10:3: threshold 'http_req_duration{name:helth}' filters on name 'helth', "
              "but no step or check is named 'helth' (did you mean 'health'?)" in r.stderr,
              "unexpected error:\n%s" % r.stderr)
        check(ng.access_log_lines(settle=False) == 0, "a request was sent")


# --------------------------------------------------------------------------- item 9


def test_ws_target():
    """target: ws://host:port with a relative ws: step runs its sessions
    there."""
    from ws_test import WsServer
    with WsServer() as ws:
        url = "ws://127.0.0.1:%d" % ws.port
        r = run_herd("""name: ws-target
target: %s
scenarios:
  chat:
    executor: per-vu-iterations
    vus: 2
    iterations: 3
    maxDuration: 30s
    flow:
      - ws: /now
        session:
          - send: 'hi {{ __VU }}'
          - expect: { contains: "hi", within: 5s }
          - close: 1000
""" % url, timeout=60)
        expect_code(r, 0)
        check(ws.wait_ended(6), "the server saw %d sessions end, expected 6" % ws.ended)
        check(ws.sessions == 6 and ws.received == 6,
              "server: %d sessions, %d messages; expected 6 and 6" % (ws.sessions, ws.received))


# --------------------------------------------------------------------------- item 10


SETUP_PLAN = """
name: setup-once
target: %s
scenarios:
  shop:
    executor: per-vu-iterations
    vus: 4
    iterations: 10
    maxDuration: 60s
    setup:
      - post: /users
        name: register
        json: { email: "vu{{ __VU }}@t", password: "pw{{ __VU }}" }
        checks:
          registered: { status: 201 }
      - post: /login
        name: login
        json: { email: "vu{{ __VU }}@t", password: "%s" }
        capture:
          token: { json: $.accessToken }
    flows:
      browse:
        weight: 60
        steps:
          - get: /notes
            name: list notes
            headers: { Authorization: "Bearer {{ token }}", X-VU: "{{ __VU }}" }
      write:
        weight: 30
        steps:
          - post: /notes
            name: write note
            headers: { Authorization: "Bearer {{ token }}", X-VU: "{{ __VU }}" }
            json: { text: "from {{ __VU }}" }
      order:
        weight: 10
        steps:
          - post: /orders
            name: order
            headers: { Authorization: "Bearer {{ token }}", X-VU: "{{ __VU }}" }
            json: { item: "{{ __ITER }}" }
thresholds:
  "http_reqs{phase:setup}": ["count == %d"]
  "http_reqs{phase:main}": ["count == %d"]
  "http_req_failed{phase:main}": ["rate == 0"]
"""


def test_setup_once_per_vu():
    """Register and log in once per VU, then 10 iterations of a 60/30/10 mix:
    json-server's log holds exactly one login per VU, every later request
    carries the token issued to its own VU, and the mix is exact."""
    with JsonServer({"users": [], "notes": [], "orders": []}, auth=["notes", "orders"]) as js:
        r = run_herd(SETUP_PLAN % (js.url, "pw{{ __VU }}", 8, 40), timeout=90)
        expect_code(r, 0)
        logins = js.requests(method="POST", path="/login")
        emails = collections.Counter(q.get("body", {}).get("email") for q in logins)
        check(len(logins) == 4 and all(n == 1 for n in emails.values()),
              "logins per email %s, expected 4 VUs once each" % dict(emails))
        check(all(q.get("status") == 200 for q in logins), "a login failed")
        main_reqs = [q for q in js.requests() if q.get("path", "").startswith(("/notes", "/orders"))]
        check(len(main_reqs) == 40, "%d requests after setup, expected 40" % len(main_reqs))
        wrong = [(q["headers"].get("x-vu"), q.get("token_user"), q.get("status")) for q in main_reqs
                 if q.get("token_user") != "vu%s@t" % q["headers"].get("x-vu")
                 or q.get("status") not in (200, 201)]
        check(not wrong, "requests without their VU's token: %s" % wrong[:5])
        mix = collections.Counter((q["method"], q["path"].split("?")[0]) for q in main_reqs)
        want = {("GET", "/notes"): 24, ("POST", "/notes"): 12, ("POST", "/orders"): 4}
        check(dict(mix) == want, "mix %s, expected %s" % (dict(mix), want))
        check(r.summary["metrics"]["iterations"]["count"] == 40,
              "iterations %s, expected 40 (setup is not an iteration)"
              % r.summary["metrics"]["iterations"]["count"])
        bad = [k for k, t in thresholds(r).items() if not t.get("ok")]
        check(not bad, "phase thresholds failed: %s" % bad)


def test_setup_failure_retried():
    """A login that returns 401 leaves the token capture empty: the setup
    fails, the flow is not run, the iteration is not counted, and the VU
    tries its setup again at its next iteration (json-server sees 2 VUs x 3
    attempts)."""
    with JsonServer({"users": [], "notes": [], "orders": []}, auth=["notes", "orders"]) as js:
        plan = SETUP_PLAN.replace("vus: 4\n    iterations: 10", "vus: 2\n    iterations: 3")
        r = run_herd(plan % (js.url, "wrong", 0, 0), timeout=90)
        logins = js.requests(method="POST", path="/login")
        check(len(logins) == 6 and all(q.get("status") == 401 for q in logins),
              "%d logins (%s), expected 6 refused" % (len(logins), [q.get("status") for q in logins]))
        main_reqs = [q for q in js.requests() if q.get("path", "").startswith(("/notes", "/orders"))]
        check(not main_reqs, "%d flow requests after failed setups" % len(main_reqs))
        check(r.summary["metrics"].get("iterations", {}).get("count", 0) == 0,
              "failed setups counted as iterations: %s" % r.summary["metrics"].get("iterations"))
        check(r.errors_by_kind().get("capture_failed") == 6,
              "capture_failed %s, expected 6" % r.errors_by_kind())
        # http_reqs{phase:main} == 0 holds; the setup count (12 requests) is not 0.
        expect_code(r, 99)


def test_setup_lean_driver():
    """The setup on the lean HTTP/1.1 driver (a scenario with no templates or
    captures runs on it): nginx sees the setup's request once per VU and the
    60/30/10 mix exactly."""
    with Nginx() as ng:
        r = run_herd("""
name: setup-lean
target: %s
scenarios:
  s:
    executor: per-vu-iterations
    vus: 4
    iterations: 10
    maxDuration: 60s
    setup:
      - get: /body
    flows:
      read: { weight: 60, steps: [ { get: /read } ] }
      ai: { weight: 30, steps: [ { get: /ai } ] }
      write: { weight: 10, steps: [ { get: /write } ] }
thresholds:
  "http_reqs{phase:setup}": ["count == 4"]
  "iterations": ["count == 40"]
""" % ng.url, "--http-driver", "lean", timeout=60)
        expect_code(r, 0)
        got = {p: ng.access_log_lines(path=p) for p in ("/body", "/read", "/ai", "/write")}
        want = {"/body": 4, "/read": 24, "/ai": 12, "/write": 4}
        check(got == want, "nginx saw %s, expected %s" % (got, want))


# --------------------------------------------------------------------------- item 11


ENV_PLAN = """
name: env-numbers
target: %s
scenarios:
  s:
    executor: per-vu-iterations
    vus: '{{ env("VUS") }}'
    iterations: '{{ env("N", "1") }}'
    maxDuration: '{{ env("MAXD") }}'
    flow:
      - get: /small
"""


def test_env_numbers_and_e_flag():
    """vus and iterations from env(), -e overriding the environment: nginx
    sees exactly VUS x N requests."""
    with Nginx() as ng:
        os.environ["N"] = "100"
        try:
            r = run_herd(ENV_PLAN % ng.url, "-e", "VUS=3", "-e", "N=4", "-e", "MAXD=30s", timeout=60)
        finally:
            del os.environ["N"]
        expect_code(r, 0)
        n = ng.access_log_lines(path="/small")
        check(n == 12, "nginx saw %d requests, expected 3 VUs x 4" % n)


def test_env_number_errors():
    """A value that is not a number names the variable, the value and the
    place; an unset one without a default says so at its column."""
    r = run_herd(ENV_PLAN % "http://127.0.0.1:9", "-e", "VUS=three", "-e", "MAXD=30s", timeout=30)
    expect_code(r, 104)
    check("plan.yaml:7:10: 'vus' needs a whole number, but env VUS gives 'three'" in r.stderr,
          "unexpected error:\n%s" % r.stderr)
    r = run_herd(ENV_PLAN % "http://127.0.0.1:9", "-e", "VUS=2", timeout=30)
    expect_code(r, 104)
    check("plan.yaml:9:22: environment variable MAXD is not set" in r.stderr,
          "unexpected error:\n%s" % r.stderr)


def test_k6_flags():
    """--iterations 7 --vus 2 on a constant-vus plan runs 7 iterations in
    all (k6: shared-iterations); with two scenarios the flag is refused,
    naming them."""
    with Nginx() as ng:
        plan = """
name: flags
target: %s
scenarios:
  s:
    executor: constant-vus
    vus: 1
    duration: 1m
    flow:
      - get: /small
"""
        r = run_herd(plan % ng.url, "--vus", "2", "--iterations", "7", timeout=60)
        expect_code(r, 0)
        n = ng.access_log_lines(path="/small")
        check(n == 7, "nginx saw %d requests, expected 7" % n)
        note("7 requests in %.1f s (the plan's duration is 1m)", r.elapsed)

        two = plan + """  t:
    executor: constant-vus
    duration: 1s
    flow:
      - get: /small
"""
        r = run_herd(two % ng.url, "--vus", "2", timeout=30)
        expect_code(r, 104)
        check("plan.yaml:4:1: --vus applies to a plan with one scenario; this plan has 2 ('s', 't')"
              in r.stderr, "unexpected error:\n%s" % r.stderr)


if __name__ == "__main__":
    main([test_nodata_threshold_fails, test_misspelt_step_name_is_a_plan_error, test_ws_target,
          test_setup_once_per_vu, test_setup_failure_retried, test_setup_lean_driver,
          test_env_numbers_and_e_flag,
          test_env_number_errors, test_k6_flags])
