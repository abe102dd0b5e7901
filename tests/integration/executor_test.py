#!/usr/bin/env python3
"""The executors of docs/journeys.md against a real nginx on 127.0.0.1,
judged by nginx's own access log: ramping-arrival-rate's requests per stage
against the integral of its rate, shared-iterations' exact total over two
agents, gracefulRampDown cutting the iterations that outlast it, and named
stages on the live line.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/executor_test.py [-k NAME]
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import Nginx, check, main, note, run_herd  # noqa: E402


class NginxPlus(Nginx):
    """harness.Nginx with /sleep?s=SECONDS (answers after SECONDS) and each
    request's $request_time (seconds from its first byte to its log line) as
    the access log's last field. /sleep goes through nginx's proxy to
    /sleep_inner, which sleeps: the proxy notices a client that leaves and
    logs the request at once with status 499, so the log tells when herd
    cut a request off."""

    def __init__(self):
        super().__init__({
            "location = /slow {{": (
                "location = /sleep {{ proxy_pass http://127.0.0.1:{port}/sleep_inner; }}\n"
                '        location = /sleep_inner {{ echo_sleep $arg_s; echo "slept"; }}\n'
                "        location = /slow {{"),
            "\\t$request_length'": "\\t$request_length\\t$request_time'",
        })

    def timed(self):
        """The access log's entries, each with "request_time" (a float)."""
        self.settle()
        n = len(harness.LOG_FIELDS)
        out = []
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            for line, e in zip(f, self.entries()):
                parts = line.rstrip("\n").split("\t")
                e = dict(e)
                e["request_time"] = float(parts[n]) if len(parts) > n else -1.0
                out.append(e)
        return out


def scenario(r, name):
    sc = r.herd().get("scenarios", {})
    check(name in sc, "scenario %r missing from the export (has %s)%s"
          % (name, sorted(sc), r.tail()))
    return sc[name]


def expect_ok(r):
    check(r.code == 0, "herd exited %d, expected 0%s" % (r.code, r.tail()))


# ---------------------------------------------------------------------------

RAMP_STAGES = [("ramp-up", 4, 0, 50), ("steady", 4, 50, 50), ("climb", 4, 50, 100)]


def test_ramping_arrival_rate_per_stage():
    """ramping-arrival-rate 0 -> 50/s over 4 s, 50/s for 4 s, 50 -> 100/s over
    4 s on two workers: nginx's requests in each stage, timed from a marker
    request sent at the run's start, are within 2% of the rate's integral
    (100, 200, 300); no iteration is dropped; the live line names each
    stage in turn and the shares line says the peak rate."""
    stages = "".join("      - { name: %s, duration: %ds, target: %d }\n" % (n, d, to)
                     for n, d, _, to in RAMP_STAGES)
    with NginxPlus() as ng:
        r = run_herd("""name: rar
target: %s
scenarios:
  mark:
    executor: per-vu-iterations
    flow:
      - get: /body
  rar:
    executor: ramping-arrival-rate
    startRate: 0
    timeUnit: 1s
    preAllocatedVUs: 10
    maxVUs: 40
    stages:
%s    flow:
      - get: /small
""" % (ng.url, stages), "--workers", "2", quiet=False, timeout=60)
        expect_ok(r)
        entries = ng.timed()
        marks = [e for e in entries if e["uri"] == "/body"]
        check(len(marks) == 1, "%d marker requests, expected 1" % len(marks))
        # The marker's iteration starts at the run's start; nginx logs it when done.
        t0 = marks[0]["msec"] - marks[0]["request_time"]
        load = sorted(e["msec"] - e["request_time"] - t0 for e in entries if e["uri"] == "/small")
        at, counts = 0, []
        for name, d, frm, to in RAMP_STAGES:
            n = sum(1 for t in load if at <= t < at + d)
            want = (frm + to) / 2.0 * d
            counts.append(n)
            note("stage %-8s %2ds-%2ds: nginx %3d requests, integral %.0f", name, at, at + d, n,
                 want)
            check(abs(n - want) <= 0.02 * want,
                  "stage %s: nginx saw %d requests, the rate's integral is %.0f (2%% allowed)"
                  % (name, n, want))
            at += d
        check(len(load) == sum(counts), "%d requests outside the stages (first %.3f s, last %.3f s)"
              % (len(load) - sum(counts), load[0], load[-1]))
        sc = scenario(r, "rar")
        note("herd: iterations %s, requests %s, dropped %s", sc["iterations"], sc["requests"],
             sc["dropped_iterations"])
        check(sc["iterations"] == len(load), "herd counted %s iterations, nginx %d requests"
              % (sc["iterations"], len(load)))
        check(sc["dropped_iterations"] == 0, "%s dropped iterations" % sc["dropped_iterations"])

        check("rar up to 100.00/s" in r.stdout, "the shares line lacks 'rar up to 100.00/s'%s"
              % r.tail())
        live = [ln for ln in re.split(r"[\r\n]+", r.stdout) if re.match(r"\[\s*\d+s/\d+s\]", ln)]
        shown = []
        for ln in live:
            m = re.match(r"\[\s*\d+s/\d+s\] (\S+)", ln)
            if m and (not shown or shown[-1] != m.group(1)):
                shown.append(m.group(1))
        note("live line stages: %s", " -> ".join(shown))
        named = [s for s in shown if s in ("ramp-up", "steady", "climb")]
        check(named == ["ramp-up", "steady", "climb"],
              "the live line showed %s, expected ramp-up, steady, climb in turn%s"
              % (shown, r.tail()))


def test_shared_iterations_two_agents():
    """shared-iterations 5 VUs x 137 iterations over 2 local agents with 2
    workers each: exactly 137 requests reach nginx, and herd counts 137."""
    with Nginx() as ng:
        r = run_herd("""name: si
target: %s
scenarios:
  si:
    executor: shared-iterations
    vus: 5
    iterations: 137
    maxDuration: 20s
    flow:
      - get: /small
      - think: 5ms
""" % ng.url, "--local-agents", "2", "--workers", "2", quiet=False, timeout=60)
        expect_ok(r)
        n = ng.access_log_lines()
        sc = scenario(r, "si")
        note("shared-iterations: nginx %d, herd iterations %s, requests %s", n, sc["iterations"],
             sc["requests"])
        check(n == 137, "nginx logged %d requests, expected 137" % n)
        check(sc["iterations"] == 137, "herd counted %s iterations, expected 137"
              % sc["iterations"])
        check(sc["requests"] == 137, "herd counted %s requests, expected 137" % sc["requests"])
        shares = re.findall(r"si (\d+) VUs (\d+) iterations", r.stdout)
        note("shares: %s", shares)
        check(len(shares) == 2 and sum(int(v) for v, _ in shares) == 5
              and sum(int(i) for _, i in shares) == 137,
              "the shares lines do not add up to 5 VUs and 137 iterations: %s%s"
              % (shares, r.tail()))


def test_graceful_ramp_down():
    """ramping-vus 0 -> 4 VUs over 1 s, 4 -> 0 over 1 s, then 1 s at 0; each
    iteration is one 2 s request. VU k (k = 1..4) starts its request at k/4 s
    and is asked to leave at (9 - k)/4 s, with (2k - 1)/4 s of it left: VU 1
    0.25 s, VUs 2-4 0.75, 1.25 and 1.75 s. With gracefulRampDown 500ms VU 1
    finishes and VUs 2-4 are interrupted (the request cancelled, so nginx
    logs it early; herd counts neither the request nor the iteration); with
    2s all four finish."""
    scenario_yaml = """  %s:
    executor: ramping-vus
    gracefulRampDown: %s
    stages:
      - { duration: 1s, target: 4 }
      - { duration: 1s, target: 0 }
      - { duration: 1s, target: 0 }
    flow:
      - get: /sleep
        query: { s: 2, g: %s }
"""
    with NginxPlus() as ng:
        text = ("name: grd\ntarget: %s\nscenarios:\n" % ng.url
                + scenario_yaml % ("cut", "500ms", "cut") + scenario_yaml % ("keep", "2s", "keep"))
        r = run_herd(text, "--workers", "1", timeout=60)
        expect_ok(r)
        entries = ng.timed()
        for name, want_done in (("cut", 1), ("keep", 4)):
            mine = [e for e in entries if e["uri"] == "/sleep" and "g=%s" % name in e["args"]]
            times = sorted(e["request_time"] for e in mine)
            sc = scenario(r, name)
            note("%s: nginx %d requests lasting %s s; herd iterations %s, requests %s", name,
                 len(times), ", ".join("%.3f" % t for t in times), sc["iterations"], sc["requests"])
            check(len(times) == 4, "%s: nginx logged %d requests, expected 4" % (name, len(times)))
            full = [e for e in mine if e["request_time"] >= 1.95 and e["status"] == 200]
            cut = [e for e in mine if e["request_time"] < 1.95 and e["status"] == 499]
            check(len(full) == want_done and len(cut) == 4 - want_done,
                  "%s: %d requests ran their 2 s and %d were cut off (nginx status 499), expected"
                  " %d and %d: %s" % (name, len(full), len(cut), want_done, 4 - want_done,
                                      [(e["status"], e["request_time"]) for e in mine]))
            check(sc["iterations"] == want_done, "%s: herd counted %s iterations, expected %d"
                  % (name, sc["iterations"], want_done))
            check(sc["requests"] == want_done, "%s: herd counted %s requests, expected %d"
                  % (name, sc["requests"], want_done))
            if name == "cut":
                # Cut off 500 ms after leaving: after 0.75, 1.25 and 1.75 s of their 2 s.
                for got, want in zip(times[:3], (0.75, 1.25, 1.75)):
                    check(abs(got - want) < 0.15, "cut: a request was cut after %.3f s, expected"
                          " about %.2f s: %s" % (got, want, times))


def test_arrival_tail_is_idle():
    """An arrival-rate scenario whose last iterations outlive its stages
    (1 s of arrivals, 2 s requests) waits for them without spinning: the
    agent's CPU use stays low, and every request is counted."""
    with NginxPlus() as ng:
        r = run_herd("""name: tail
target: %s
scenarios:
  tail:
    executor: ramping-arrival-rate
    startRate: 10
    preAllocatedVUs: 20
    stages:
      - { duration: 1s, target: 10 }
    flow:
      - get: /sleep
        query: { s: 2 }
""" % ng.url, "--workers", "1", timeout=60)
        expect_ok(r)
        agents = list(r.herd().get("agents", {}).values())
        cpu = [a.get("cpu_pct", 0) for a in agents]
        n = ng.access_log_lines(path="/sleep")
        got = scenario(r, "tail")["requests"]
        note("tail: nginx %d requests, herd %s; agent CPU %s%%", n, got,
             ", ".join("%.1f" % c for c in cpu))
        check(n == 10 and got == 10, "nginx logged %d requests, herd %s; expected 10" % (n, got))
        check(cpu and max(cpu) < 30, "the agent used %s%% CPU while waiting" % cpu)


def test_plan_errors_exit_104():
    """`herd run` refuses bad values of the new keys before sending anything:
    exit 104 and file:line:column on stderr."""
    head = "name: bad\ntarget: %s\nscenarios:\n  s:\n"
    cases = [
        ("    executor: ramping-arrival-rate\n    preAllocatedVUs: 2\n"
         "    stages:\n      - { duration: 1s, target: -5 }\n    flow: [ { get: /small } ]\n",
         8, "'target' must not be negative"),
        ("    executor: shared-iterations\n    vus: 9\n    iterations: 3\n"
         "    flow: [ { get: /small } ]\n",
         6, "'vus' (9) is more than 'iterations' (3)"),
        ("    executor: ramping-vus\n    stages: [ { duration: 1s, target: 1, name: \"\" } ]\n"
         "    flow: [ { get: /small } ]\n",
         6, "a stage's 'name' is empty"),
    ]
    with Nginx() as ng:
        for body, line, words in cases:
            r = run_herd(head % ng.url + body, timeout=30)
            check(r.code == 104, "exit %d, expected 104%s" % (r.code, r.tail()))
            m = re.search(re.escape(r.plan_path) + r":(\d+):(\d+): (.+)", r.stderr)
            check(m is not None and int(m.group(1)) == line and words in m.group(3),
                  "stderr lacks '%s:%d:COLUMN: ...%s':\n%s" % (r.plan_path, line, words, r.stderr))
        check(ng.access_log_lines() == 0, "an invalid plan sent requests")


TESTS = [
    test_ramping_arrival_rate_per_stage,
    test_shared_iterations_two_agents,
    test_graceful_ramp_down,
    test_arrival_tail_is_idle,
    test_plan_errors_exit_104,
]

if __name__ == "__main__":
    main(TESTS)
