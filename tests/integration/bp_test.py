#!/usr/bin/env python3
"""The breaking-point search (executor breaking-point) against servers whose
capacity is known from their own configuration and logs:

- nginx with limit_req at 200 requests/s (503 above it), objective
  http_req_failed rate < 0.03: the sustainable rate found is within 5% of
  200, and herd's request and failure counts equal nginx's access log.
- Debian's httpbin under gunicorn with 8 sync workers, /delay/0.2: the
  capacity is 8 / the service time gunicorn itself logs; found within 5%
  with a p95 objective.
- A generator that cannot keep up (maxVUs 5 against a 50 ms endpoint):
  labelled generator-limited, reported as a lower bound, exit 112.
- Objectives the per-level window cannot judge: a plan error at
  line:column (exit 104), nothing sent.
- A store that refuses the capacity (an SQLite trigger aborts its
  insert), or a run's end: the run exits 103 and says why, never 0 or 112.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/bp_test.py [-k NAME]
"""

import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import Nginx, check, main, note, run_cli, run_herd, tmp_dir  # noqa: E402

LIMIT = 200  # nginx's limit_req rate, requests/s

# limit_req (in the preaccess phase, so the content comes from echo: a
# `return` would answer before it) keyed on the port (every request shares
# one bucket). A burst of 20 with nodelay absorbs the generator's stalls on
# a busy machine (an open model catches up on the arrivals it owes, and 20
# requests are 100 ms of them); a sustained excess fills it within the
# 2 s warmup from 210/s on, after which (L - 200) / L of the requests get a
# 503: the objective rate < 0.03 breaks from 206/s.
LIMIT_REPLACE = {
    "    server {{\n": "    limit_req_zone $server_port zone=bp:1m rate=%dr/s;\n    server {{\n" % LIMIT,
    "        location / {{ return 404; }}":
        "        location = /limited {{ limit_req zone=bp burst=20 nodelay; limit_req_status 503; "
        "echo ok; }}\n        location / {{ return 404; }}",
}


def capacity(r):
    check(r.summary is not None and "capacity" in r.summary,
          "no capacity section in the export (exit %s)%s" % (r.code, r.tail()))
    return r.summary["capacity"]


def levels_text(cap):
    return "; ".join("%g:%s%s" % (l["load"], l["verdict"], " (%s)" % l["why"] if l["why"] else "")
                     for l in cap["levels"])


def test_limit_req_rate_found():
    plan = """
name: bp-limit-req
target: %s
scenarios:
  find:
    executor: breaking-point
    model: arrival-rate
    start: 150
    step: 50
    warmup: 2s
    hold: 3s
    max: 400
    preAllocatedVUs: 20
    maxVUs: 200
    objectives:
      http_req_failed: ["rate < 0.03"]
    refine: { resolution: 2%% }
    flow:
      - get: /limited
"""
    with Nginx(replace=LIMIT_REPLACE) as ng:
        r = run_herd(plan % ng.url, "--workers", "1", timeout=150, quiet=False)
        cap = capacity(r)
        note("limit_req %d/s: %s %g/s (%.1f req/s), first failing %s; levels %s", LIMIT, cap["outcome"],
             cap["sustainable"], cap["sustainable_rps"], cap["first_fail"], levels_text(cap))
        check(r.code == 0, "exit %d, want 0 (a capacity found)%s" % (r.code, r.tail()))
        check(cap["outcome"] == "found", "outcome %r" % cap["outcome"])
        check(abs(cap["sustainable"] - LIMIT) <= 0.05 * LIMIT,
              "sustainable %g is not within 5%% of nginx's limit %d" % (cap["sustainable"], LIMIT))
        check(cap["first_fail"] > cap["sustainable"], "first failing %s is not above %s"
              % (cap["first_fail"], cap["sustainable"]))
        check(cap["broke"].startswith("http_req_failed: rate < 0.03 ("), "broke: %r" % cap["broke"])
        # Levels: upward ones first, then the bisection, each judged.
        loads = [l["load"] for l in cap["levels"]]
        check(loads[:3] == [150, 200, 250], "first levels %s" % loads)
        check(any(l["refine"] for l in cap["levels"]), "no refinement level")
        fails = [l for l in cap["levels"] if l["verdict"] == "fail"]
        check(fails and all(l["load"] > LIMIT for l in fails), "failing levels at or under the limit: %s"
              % levels_text(cap))
        # herd's counts are nginx's: every request and every 503.
        total = ng.access_log_lines()
        rejected = ng.access_log_lines(status=503)
        check(total == r.count(), "nginx logged %d requests, herd counted %d" % (total, r.count()))
        failed = r.metric("http_req_failed")["passes"]
        check(rejected == failed, "nginx answered 503 to %d, herd counted %d failed" % (rejected, failed))
        check("capacity (scenario find, breaking-point, model arrival-rate): found" in r.stdout,
              "no capacity section in the text summary%s" % r.tail())
        check("herd: level 1 at 150 iterations/s" in r.stdout, "no live line per level%s" % r.tail())
        # The store has it: its own tables, and `herd results show` prints the section.
        con = sqlite3.connect(r.db)
        try:
            rows = con.execute("SELECT load, verdict FROM capacity_levels ORDER BY idx").fetchall()
            fit = con.execute("SELECT outcome, sustainable, first_fail, broke FROM capacity_fit").fetchall()
        finally:
            con.close()
        check(rows == [(l["load"], l["verdict"]) for l in cap["levels"]], "stored levels %s" % rows)
        check(fit == [("found", cap["sustainable"], cap["first_fail"], cap["broke"])], "stored fit %s" % fit)
        code, out, _ = run_cli("results", "show", "latest", "--db", r.db)
        check(code == 0 and "sustainable   %g iterations/s" % cap["sustainable"] in out,
              "results show: %r" % out[-800:])
        # `herd capacity fit` and the HTML report on the stored run: the
        # levels judged, in order of load, measured again from the stored
        # intervals: the same requests per second as the search's levels.
        judged = sorted((l["load"], l["rps"]) for l in cap["levels"] if l["verdict"] in ("pass", "fail"))
        code, out, err = run_cli("capacity", "fit", "latest", "--db", r.db)
        note("%s", out.strip().replace("\n", "\n# "))
        check("levels (the holds its breaking-point search judged" in out, "capacity fit: %r %r" % (out, err))
        fitted = [float(x) for x in re.findall(r"^\s+\d+\s+[\d.]+\s+([\d.]+)\s", out, re.M)]
        check(len(fitted) == len(judged) and all(abs(f - j[1]) < 0.006 for f, j in zip(fitted, judged)),
              "capacity fit's req/s %s, the search's (by load) %s" % (fitted, judged))
        html = os.path.join(os.path.dirname(r.db), "bp.html")
        code, _, err = run_cli("report", "latest", "--db", r.db, "-o", html)
        page = open(html, encoding="utf-8").read() if code == 0 else ""
        check(page.count('class="level') == len(judged), "the report draws %d levels, want %d (%s)"
              % (page.count('class="level'), len(judged), err))


class Gunicorn:
    """Debian's httpbin under gunicorn with `workers` sync workers (one
    request at a time each), request times in its access log. The app is
    loaded before the workers fork (--preload): a worker that is still
    importing it when the load starts would queue the first level."""

    def __init__(self, workers):
        self.workers = workers
        self.dir = tempfile.mkdtemp(prefix="herd-gunicorn-")
        self.proc = None
        self.port = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def log_path(self):
        return os.path.join(self.dir, "access.log")

    def __enter__(self):
        why = harness.Httpbin.available()
        if why:
            harness.missing("httpbin", why)
        err = os.path.join(self.dir, "error.log")
        for _ in range(5):
            self.port = harness.free_port()
            open(self.log_path, "w").close()
            open(err, "w").close()
            self.proc = subprocess.Popen(
                [harness.GUNICORN, "-b", "127.0.0.1:%d" % self.port, "--workers", str(self.workers),
                 "--worker-class", "sync", "--backlog", "2048", "--preload", "--chdir", self.dir,
                 "--access-logfile", self.log_path, "--access-logformat", "%(s)s\t%(L)s",
                 "--error-logfile", err, "httpbin:app"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                cwd=self.dir, start_new_session=True)
            want = "Listening at: http://127.0.0.1:%d (%d)" % (self.port, self.proc.pid)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and self.proc.poll() is None:
                text = harness._read_tail(err, 100000)
                if want in text and text.count("Booting worker") >= self.workers:
                    return self
                time.sleep(0.05)
            harness._stop_server(self.proc, group=True)
        raise harness.Fail("gunicorn did not start: %s" % harness._read_tail(err))

    def __exit__(self, *exc):
        harness._stop_server(self.proc, group=True)
        if not os.environ.get("HERD_KEEP_TMP"):
            harness.shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def times(self):
        harness._settle_file(self.log_path)
        out = []
        with open(self.log_path) as f:
            for line in f:
                parts = line.split("\t")
                if len(parts) == 2 and parts[0] == "200":
                    out.append(float(parts[1]))
        return out


def test_worker_pool_capacity_found():
    workers, delay = 8, 0.2
    plan = """
name: bp-gunicorn
target: %s
scenarios:
  find:
    executor: breaking-point
    model: arrival-rate
    start: 20
    step: 10
    warmup: 1s
    hold: 8s
    max: 80
    preAllocatedVUs: 10
    maxVUs: 150
    objectives:
      http_req_duration: ["p(95) < %d"]
    refine: { resolution: 2.5%% }
    flow:
      - get: /delay/%s
"""
    with Gunicorn(workers) as g:
        # A request waits in the listen queue once every worker is busy: at
        # (1 + e) times the capacity the wait grows by e seconds a second, so
        # the p95 objective (the service time + 250 ms) breaks from about
        # e = 3% by the end of the 8 s hold; under it the queue stays empty,
        # and the 250 ms absorb a busy machine's scheduling delays. A long
        # service time keeps gunicorn's own CPU time (which a busy machine
        # stretches) a small part of it.
        r = run_herd(plan % (g.url, int(delay * 1000 + 250), delay), "--workers", "1", timeout=200)
        cap = capacity(r)
        times = g.times()
        check(len(times) > 100, "gunicorn logged %d requests" % len(times))
        service = sum(times) / len(times)
        want = workers / service
        note("gunicorn %d sync workers, mean service time %.1f ms (its log, %d requests): capacity %.2f/s; "
             "herd: %s %g/s, first failing %s; levels %s", workers, service * 1000, len(times), want,
             cap["outcome"], cap["sustainable"], cap["first_fail"], levels_text(cap))
        check(r.code == 0, "exit %d, want 0%s" % (r.code, r.tail()))
        check(cap["outcome"] == "found", "outcome %r" % cap["outcome"])
        check(abs(cap["sustainable"] - want) <= 0.05 * want,
              "sustainable %g is not within 5%% of %d workers / %.1f ms = %.2f/s"
              % (cap["sustainable"], workers, service * 1000, want))
        check(cap["broke"].startswith("http_req_duration: p(95) < %d (" % int(delay * 1000 + 250)),
              "broke: %r" % cap["broke"])
        check(cap["usl"] is not None or cap["levels"], "no levels")


def test_generator_limited_lower_bound():
    plan = """
name: bp-starved
target: %s
scenarios:
  find:
    executor: breaking-point
    model: arrival-rate
    start: 10
    step: 190
    warmup: 1s
    hold: 2s
    max: 400
    preAllocatedVUs: 1
    maxVUs: 5
    objectives:
      http_req_failed: ["rate < 0.01"]
      http_req_duration: ["p(95) < 1000"]
    flow:
      - get: /delay50
"""
    with Nginx() as ng:
        # Five VUs at 50 ms each serve 100 iterations/s at most: 200/s
        # drops; 10/s (one arrival per 100 ms) leaves room for a busy
        # machine's stalls.
        r = run_herd(plan % ng.url, "--workers", "1", timeout=90)
        cap = capacity(r)
        note("maxVUs 5: %s %g (%s); levels %s", cap["outcome"], cap["sustainable"], cap["reason"],
             levels_text(cap))
        check(r.code == 112, "exit %d, want 112 (a lower bound)%s" % (r.code, r.tail()))
        check(cap["outcome"] == "lower bound" and cap["lower_bound"], "outcome %r" % cap["outcome"])
        lv = cap["levels"]
        check(len(lv) == 2 and lv[0]["verdict"] == "pass" and lv[1]["verdict"] == "generator-limited",
              "levels %s" % levels_text(cap))
        check("iterations dropped" in (lv[1]["why"] or "") and lv[1]["dropped"] > 0, "why: %r" % lv[1]["why"])
        check(cap["sustainable"] == 10 and cap["reason"].startswith("generator-limited at 200"),
              "sustainable %g, reason %r" % (cap["sustainable"], cap["reason"]))
        check(r.herd()["status"] == "lower bound", "status %r" % r.herd()["status"])
        check(ng.access_log_lines() == r.count(), "nginx %d, herd %d" % (ng.access_log_lines(), r.count()))
        # Under the levels' set rates too, every due arrival is offered once:
        # started (one request each, as nginx saw) or dropped.
        offered = r.metric("offered_iterations")["count"]
        started = r.metric("iterations_started")["count"]
        drops = r.metric("dropped_iterations")["count"]
        note("offered %d, started %d, dropped %d", offered, started, drops)
        check(started == ng.access_log_lines() and started + drops == offered,
              "started %d (nginx %d) + dropped %d != offered %d"
              % (started, ng.access_log_lines(), drops, offered))


def test_objective_errors_at_line_column():
    plan = """target: %s
scenarios:
  find:
    executor: breaking-point
    model: arrival-rate
    start: 10
    step: 10
    hold: 2s
    max: 50
    preAllocatedVUs: 2
    objectives:
      http_req_failed: ["rate < 0.01"]
      %s: ["%s"]
    flow:
      - get: /small
"""
    with Nginx() as ng:
        r = run_herd(plan % (ng.url, "iteration_duration", "p(95) < 100"), timeout=30, export=False)
        check(r.code == 104 and "plan.yaml:13:28: objective 'iteration_duration: p(95) < 100': "
              "'iteration_duration' is not judged per level" in r.stderr, "exit %d, stderr %r" % (r.code, r.stderr))
        r = run_herd(plan % (ng.url, "\"http_req_duration{method:GET}\"", "p(95) < 100"), timeout=30,
                     export=False)
        check(r.code == 104 and "plan.yaml:13:" in r.stderr and "tag 'method' is not judged per level"
              in r.stderr, "exit %d, stderr %r" % (r.code, r.stderr))
        r = run_herd(plan % (ng.url, "ws_msg_rtt", "p(95) < 100"), timeout=30, export=False)
        check(r.code == 104 and "plan.yaml:13:20: objective on 'ws_msg_rtt', which scenario 'find' cannot "
              "produce" in r.stderr, "exit %d, stderr %r" % (r.code, r.stderr))
        two = (plan % (ng.url, "http_reqs", "count > 0")) + plan.split("scenarios:\n", 1)[1].replace(
            "  find:", "  again:", 1).replace("%s: [\"%s\"]", "http_reqs: [\"count > 0\"]")
        r = run_herd(two, timeout=30, export=False)
        check(r.code == 104 and "plan.yaml:16:3: scenario 'again': a plan holds one breaking-point scenario"
              in r.stderr, "exit %d, stderr %r" % (r.code, r.stderr))
        check(ng.access_log_lines() == 0, "nginx saw requests")


def store_refusing(db, trigger):
    """Makes herd's store at db, as herd makes it, then adds trigger (SQL):
    the store then refuses what the trigger aborts, nothing else."""
    code, _, err = run_cli("results", "list", "--db", db)
    check(code == 0, "herd results list: exit %d: %s" % (code, err))
    con = sqlite3.connect(db)
    con.execute(trigger)
    con.commit()
    con.close()


def test_capacity_store_failure():
    plan = """
name: bp-store-fails
target: %s
scenarios:
  find:
    executor: breaking-point
    model: arrival-rate
    start: 10
    step: 10
    warmup: 1s
    hold: 1s
    max: 20
    preAllocatedVUs: 2
    objectives:
      http_req_failed: ["rate < 0.5"]
    flow:
      - get: /small
"""
    with Nginx() as ng:
        d = tmp_dir("herd-bp-store-")
        db = os.path.join(d, "herd.db")
        store_refusing(db, "CREATE TRIGGER no_capacity BEFORE INSERT ON capacity_levels "
                       "BEGIN SELECT RAISE(ABORT, 'capacity refused by the test'); END")
        r = run_herd(plan % ng.url, "--workers", "1", db=db, timeout=60)
        note("exit %d; stderr %r", r.code, r.stderr[-300:])
        # Without the trigger this search ends at max without a failure: 112.
        check(r.code == 103, "exit %d, want 103 (the capacity was not stored)%s" % (r.code, r.tail()))
        check("the capacity could not be stored: " in r.stderr and "capacity refused by the test" in r.stderr,
              "stderr %r" % r.stderr)
        con = sqlite3.connect(db)
        rows = con.execute("SELECT status, exit_code FROM runs").fetchall()
        nlv = con.execute("SELECT count(*) FROM capacity_levels").fetchone()[0]
        con.close()
        check(len(rows) == 1 and rows[0][1] == 103 and nlv == 0, "runs %r, %d levels" % (rows, nlv))
        check(ng.access_log_lines() == r.count(), "nginx %d, herd %d" % (ng.access_log_lines(), r.count()))

        # A store that refuses the run's end (any run): it stays 'running'
        # there, and herd exits 103 saying so, not 0.
        db = os.path.join(d, "end.db")
        store_refusing(db, "CREATE TRIGGER no_end BEFORE UPDATE OF status ON runs WHEN NEW.status <> 'running' "
                       "BEGIN SELECT RAISE(ABORT, 'end refused by the test'); END")
        short = "target: %s\nscenarios:\n  s:\n    executor: constant-vus\n    vus: 1\n    duration: 1s\n" \
                "    flow:\n      - get: /small\n"
        r = run_herd(short % ng.url, "--workers", "1", db=db, timeout=60, export=False)
        note("exit %d; stderr %r", r.code, r.stderr[-300:])
        check(r.code == 103 and "end refused by the test" in r.stderr and
              "the run's end could not be recorded" in r.stderr, "exit %d%s" % (r.code, r.tail()))
        con = sqlite3.connect(db)
        rows = con.execute("SELECT status FROM runs").fetchall()
        con.close()
        check(rows == [("running",)], "runs %r" % rows)


TESTS = [test_objective_errors_at_line_column, test_capacity_store_failure, test_generator_limited_lower_bound,
         test_limit_req_rate_found, test_worker_pool_capacity_found]

if __name__ == "__main__":
    main(TESTS)
