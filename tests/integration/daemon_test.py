#!/usr/bin/env python3
"""The daemon loop of `herd serve`, in real time with real processes: the
daemon listens on tcp://127.0.0.1 with a token, two herd-agent processes
started here dial in once and serve every run, nginx is the target and its
access log (its own clock, ms) is the witness, a webhook receiver written
here checks the signatures.

Cron has minute resolution. The first test waits for a real minute
boundary (at most 68 s) with the real clock; so that the others need not,
their daemon's schedule clock is moved by HERD_TEST_CLOCK_OFFSET_MS
(docs/serve.md) so that a minute boundary M of its clock lies a few seconds
ahead in real time; only the schedule clock moves (the engine, the agents,
nginx keep the real one), and every instant is converted back with the
same offset.

- a slot a few seconds ahead starts within 1 s of it (first request in
  nginx's log), a plan longer than its window (also one edited to be so
  after the daemon started) and one above its
  schedule's maxRate are skipped and recorded at the same slot, and one
  wanting 3 agents of the 2 after its agents.wait, the webhook receiver sees skipped, started and finished,
  every signature valid, the finished one with the verdict and the report;
- `herd schedule run NAME` starts a 60 s plan now whose window ends 20 s
  later: nginx's last request lies within 1 s of the window's end, and the
  run is recorded aborted with the window as reason, and the webhook says
  so;
- POST /runs/ID/abort stops the live run (nginx's last request within 1 s of
  the answer); /agents and /metrics show the agents and the live run;
  SIGTERM mid-run stops it gracefully, records it, and the daemon exits 0;
- an abortOnFail rule's abort is recorded and announced as aborted;
- a schedule's second run is compared with its last passed run (webhook);
  every idle agent takes part, an agent killed between runs is seen lost
  and the next run goes on without it;
- a daemon stopped with SIGTERM and started again 3 minutes later (its
  clock) keeps its schedule and history and records the slot it missed.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/daemon_test.py [-k NAME]
"""

import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Nginx, agent_bin, check, free_port, herd_bin, main, note  # noqa: E402
from serve_test import SECRET, Receiver, verify  # noqa: E402

TOKEN = "daemon-agent-token-0123456789"
API_TOKEN = "daemon-api-token-abcdefghijkl"

PLAN = """name: {name}
target: {url}
scenarios:
  s:
    executor: constant-arrival-rate
    rate: {rate}
    duration: {dur}
    preAllocatedVUs: 4
    gracefulStop: 1s
    flow:
      - get: /read?s={name}
"""


def write(path, text, mode=None):
    with open(path, "w") as f:
        f.write(text)
    if mode is not None:
        os.chmod(path, mode)
    return path


def cron_at(minutes):
    """A cron expression for the UTC minute boundaries given (s since the
    epoch). Minute and hour lists make a cross product: the extra slots lie
    an hour or more away from the ones wanted, far outside every test."""
    mins = sorted({time.gmtime(m).tm_min for m in minutes})
    hours = sorted({time.gmtime(m).tm_hour for m in minutes})
    return '"%s %s * * *"' % (",".join(map(str, mins)), ",".join(map(str, hours)))


def hhmm(t):
    g = time.gmtime(t)
    return "%02d:%02d" % (g.tm_hour, g.tm_min)


class Daemon:
    """herd serve with two local herd-agents over tcp:// with a token. The
    schedule clock is offset so that, at start, it shows `lead` seconds
    before the minute boundary self.m (s, in its clock); real(t) converts
    one of its instants to the real clock."""

    def __init__(self, d, schedules, lead, hook_url=None, offset_ms=None, m=None, retries=2):
        self.d = d
        self.port = free_port()
        self.api_port = free_port()
        self.db = os.path.join(d, "herd.db")
        now = time.time()
        if offset_ms is None:
            self.m = (int(now) // 60 + 2) * 60
            self.offset_ms = int(((self.m - lead) - now) * 1000)
        else:
            self.m, self.offset_ms = m, offset_ms
        tok = write(os.path.join(d, "token"), TOKEN + "\n", 0o600)
        api_tok = write(os.path.join(d, "api.token"), API_TOKEN + "\n", 0o600)
        sec = os.path.join(d, "hook.key")
        with open(sec, "wb") as f:
            f.write(SECRET + b"\n")
        os.chmod(sec, 0o600)
        y = ["listen: tcp://127.0.0.1:%d" % self.port, "db: %s" % self.db, "token-file: %s" % tok,
             "api: { listen: 127.0.0.1:%d, token-file: %s }" % (self.api_port, api_tok), "schedules:"]
        for name, body in schedules(self.m):
            y.append("  %s:" % name)
            y += ["    " + line for line in body]
            if hook_url:
                y.append("    notify: [hook]")
        if hook_url:
            y += ["notifications:", "  hook: { url: %s, secret-file: %s, retries: %d }" % (hook_url, sec, retries)]
        self.cfg = write(os.path.join(d, "serve.yaml"), "\n".join(y) + "\n")
        self.proc = None
        self.log = None
        self.agents = []

    def real(self, t):
        return t - self.offset_ms / 1000.0

    def start(self, agents=2):
        env = dict(os.environ)
        env.pop("HERD_TEST_CLOCK_OFFSET_MS", None)
        if self.offset_ms:
            env["HERD_TEST_CLOCK_OFFSET_MS"] = str(self.offset_ms)
        self.log = open(os.path.join(self.d, "serve.log"), "a")
        self.proc = subprocess.Popen([herd_bin(), "serve", "--config", self.cfg], stdout=self.log,
                                     stderr=self.log, env=env)
        for i in range(agents):
            lg = open(os.path.join(self.d, "agent%d.log" % i), "a")
            self.agents.append(subprocess.Popen(
                [agent_bin(), "--controller", "tcp://127.0.0.1:%d" % self.port, "--token-file",
                 os.path.join(self.d, "token"), "--name", "a%d" % i, "--workers", "1"],
                stdout=lg, stderr=lg))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                st, a = self.api("GET", "/agents")
                if st == 200 and len(a) == agents:
                    return self
            except (OSError, ValueError):
                pass
            check(self.proc.poll() is None, "herd serve exited %s: %s" % (self.proc.returncode, self.text()))
            time.sleep(0.1)
        raise AssertionError("agents did not connect: %s" % self.text())

    def api(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=5)
        try:
            c.request(method, path, body=body, headers={"Authorization": "Bearer " + API_TOKEN})
            r = c.getresponse()
            data = r.read()
            if "json" in (r.getheader("Content-Type") or ""):
                return r.status, json.loads(data)
            return r.status, data.decode()
        finally:
            c.close()

    def text(self):
        with open(os.path.join(self.d, "serve.log")) as f:
            return f.read()[-3000:]

    def stop(self):
        """SIGTERM: returns the daemon's exit status."""
        rc = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        elif self.proc is not None:
            rc = self.proc.returncode
        for a in self.agents:
            if a.poll() is None:
                a.terminate()
        for a in self.agents:
            try:
                a.wait(timeout=10)
            except subprocess.TimeoutExpired:
                a.kill()
                a.wait()
        self.agents = []
        if self.log is not None:
            self.log.close()
            self.log = None
            # Under the sanitizers (scripts/test.sh) a report fails the test.
            text = self.text()
            check("Sanitizer" not in text and "runtime error" not in text, "sanitizer: %s" % text)
        return rc

    def rows(self, schedule=None):
        c = sqlite3.connect(self.db)
        try:
            q = "SELECT schedule, slot, slot_last, outcome, run_id, verdict, reason FROM scheduled_runs"
            args = ()
            if schedule:
                q += " WHERE schedule = ?"
                args = (schedule,)
            return c.execute(q + " ORDER BY id", args).fetchall()
        finally:
            c.close()

    def wait_rows(self, pred, limit_s, what):
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            try:
                rows = self.rows()
                if pred(rows):
                    return rows
            except sqlite3.OperationalError:
                pass
            check(self.proc.poll() is None, "herd serve exited: %s" % self.text())
            time.sleep(0.2)
        raise AssertionError("%s: rows %s; log: %s" % (what, self.rows(), self.text()))


def requests_of(ng, name):
    return [e["msec"] for e in ng.entries() if e["uri"] == "/read" and e["args"] == "s=" + name]


def test_slot_on_time_skip_and_webhooks():
    """Slot M (cron minute) for two schedules: `big` (a 90 s plan, window
    until M+1min) is skipped as not fitting; `ontime` (3 s at 20/s) starts
    within 1 s of M per nginx's log; the receiver gets skipped, started,
    finished, all signed; the finished one carries the verdict and a report
    file that exists."""
    with tempfile.TemporaryDirectory() as d, Nginx() as ng, Receiver([200]) as rcv:
        write(os.path.join(d, "big.yaml"), PLAN.format(name="big", url=ng.url, rate=5, dur="90s"))
        write(os.path.join(d, "ontime.yaml"), PLAN.format(name="ontime", url=ng.url, rate=20, dur="3s"))

        write(os.path.join(d, "grown.yaml"), PLAN.format(name="grown", url=ng.url, rate=5, dur="3s"))

        def scheds(m):
            return [("grown", ["plan: grown.yaml", "cron: %s" % cron_at([m]), "timezone: UTC",
                               'window: { end: "%s" }' % hhmm(m + 60)]),
                    ("big", ["plan: big.yaml", "cron: %s" % cron_at([m]), "timezone: UTC",
                             'window: { end: "%s" }' % hhmm(m + 60)]),
                    ("capped", ["plan: ontime.yaml", "cron: %s" % cron_at([m]), "timezone: UTC",
                                "maxRate: 5"]),
                    ("ontime", ["plan: ontime.yaml", "cron: %s" % cron_at([m]), "timezone: UTC"]),
                    ("few", ["plan: ontime.yaml", "cron: %s" % cron_at([m]), "timezone: UTC",
                             "agents: { min: 3, wait: 2s }"])]

        # The real clock, no test hook: the next minute boundary at least
        # 8 s ahead (at most a 68 s wait).
        now = time.time()
        m = (int(now) // 60 + 1) * 60
        if m - now < 8:
            m += 60
        note("waiting %.1f s for the real minute boundary %s UTC", m - now, hhmm(m))
        dm = Daemon(d, scheds, lead=None, hook_url=rcv.url, offset_ms=0, m=m)
        try:
            dm.start()
            # Edited after the daemon read it: it no longer fits its window.
            write(os.path.join(d, "grown.yaml"), PLAN.format(name="grown", url=ng.url, rate=5, dur="90s"))
            rows = dm.wait_rows(lambda r: any(x[3] == "finished" for x in r), m - time.time() + 30,
                                "ontime finished")
            slot_real = dm.real(dm.m)
            reqs = requests_of(ng, "ontime")
            check(len(reqs) > 0, "no request of ontime")
            first = min(reqs)
            note("slot (real) %.3f, first request %.3f: %.3f s after the slot, %d requests",
                 slot_real, first, first - slot_real, len(reqs))
            check(slot_real <= first <= slot_real + 1.0,
                  "the run started %.3f s after its slot (want 0-1 s)" % (first - slot_real))
            check(near_count(len(reqs), 60), "ontime sent %d requests, want ~60" % len(reqs))
            check(not requests_of(ng, "big"), "the skipped plan sent requests")
            big = [x for x in rows if x[0] == "big"]
            check(len(big) == 1 and big[0][3] == "skipped" and "would not fit" in big[0][6] and
                  big[0][1] == dm.m, "big: %s" % big)
            on = [x for x in rows if x[0] == "ontime"]
            check(len(on) == 1 and on[0][1] == dm.m and on[0][4] and on[0][5] == "passed",
                  "ontime: %s" % on)
            # Webhooks: skipped (big), started and finished (ontime).
            grown = [x for x in rows if x[0] == "grown"]
            check(len(grown) == 1 and grown[0][3] == "skipped" and "would not fit: needs 1m31s" in grown[0][6],
                  "grown: %s" % grown)
            check(not requests_of(ng, "grown"), "the grown plan sent requests")
            capped = [x for x in rows if x[0] == "capped"]
            check(len(capped) == 1 and capped[0][3] == "skipped" and "maxRate" in capped[0][6] and
                  "20" in capped[0][6], "capped: %s" % capped)
            rows = dm.wait_rows(lambda r: any(x[0] == "few" for x in r), 10, "few decided")
            few = [x for x in rows if x[0] == "few"]
            check(len(few) == 1 and few[0][3] == "skipped" and few[0][6] == "only 2 of 3 agents after 2s",
                  "few: %s" % few)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(rcv.got) < 6:
                time.sleep(0.1)
            evs = [(json.loads(b)["event"], json.loads(b)["schedule"]) for _, _, b in rcv.got]
            note("webhooks: %s", evs)
            check(evs == [("skipped", "grown"), ("skipped", "big"), ("skipped", "capped"),
                          ("started", "ontime"), ("finished", "ontime"), ("skipped", "few")],
                  "webhooks: %s" % evs)
            check(all(verify(h, b) for _, h, b in rcv.got), "a signature does not verify")
            fin = json.loads(rcv.got[4][2])
            check(fin["run_id"] == on[0][4] and fin["verdict"] == "passed" and fin["report"] and
                  os.path.getsize(fin["report"]) > 1000, "finished: %s" % fin)
            skipped = json.loads(rcv.got[1][2])
            check("would not fit" in (skipped["reason"] or ""), "skipped: %s" % skipped)
            check(dm.stop() == 0, "herd serve did not exit 0 on SIGTERM")
        finally:
            dm.stop()


def near_count(n, want):
    return abs(n - want) <= max(2, want * 0.05)


def test_window_end_stops_a_run_started_now():
    """`herd schedule run win` about 20 s before the window's end (M) on a 60 s
    plan at 20/s: the load stops at M, nginx's last request within 1 s of
    it, none after M + 1 s; the run is recorded aborted with the window as
    reason."""
    with tempfile.TemporaryDirectory() as d, Nginx() as ng, Receiver([200]) as rcv:
        write(os.path.join(d, "win.yaml"), PLAN.format(name="win", url=ng.url, rate=20, dur="60s"))

        def scheds(m):
            return [("win", ["plan: win.yaml", 'cron: "0 0 1 1 *"', "timezone: UTC",
                             'window: { end: "%s" }' % hhmm(m)])]

        dm = Daemon(d, scheds, lead=21, hook_url=rcv.url)
        try:
            dm.start()
            p = subprocess.run([herd_bin(), "schedule", "run", "win", "--config", dm.cfg],
                               capture_output=True, text=True, timeout=30)
            check(p.returncode == 0 and "queued" in p.stdout, "schedule run: %d %s %s" %
                  (p.returncode, p.stdout, p.stderr))
            p = subprocess.run([herd_bin(), "schedule", "run", "nosuch", "--config", dm.cfg],
                               capture_output=True, text=True, timeout=30)
            check(p.returncode == 104 and "no schedule 'nosuch'" in p.stderr, "nosuch: %s" % p.stderr)
            rows = dm.wait_rows(lambda r: any(x[3] in ("aborted", "finished") for x in r), 40, "win over")
            end_real = dm.real(dm.m)
            ng.settle()
            reqs = requests_of(ng, "win")
            check(len(reqs) > 100, "win sent %d requests" % len(reqs))
            first, last = min(reqs), max(reqs)
            note("window end (real) %.3f: first request %.3f, last %.3f (%+.3f s from the end), %d requests",
                 end_real, first, last, last - end_real, len(reqs))
            check(end_real - 1.0 <= last <= end_real + 1.0,
                  "the last request came %+.3f s from the window's end" % (last - end_real))
            check(rows[-1][3] == "aborted" and "window ended at %s" % hhmm(dm.m) in rows[-1][6],
                  "row: %s" % (rows[-1],))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(rcv.got) < 2:
                time.sleep(0.1)
            evs = [json.loads(b) for _, _, b in rcv.got]
            check([e["event"] for e in evs] == ["started", "aborted"] and
                  "window ended" in (evs[1]["reason"] or "") and evs[1]["run_id"] == rows[-1][4] and
                  all(verify(h, b) for _, h, b in rcv.got), "webhooks: %s" % evs)
        finally:
            dm.stop()


def test_api_abort_agents_metrics():
    """A 60 s run started through the API: /agents lists both agents,
    /metrics shows the live run and its requests; POST /runs/ID/abort
    answers 202 and nginx's last request comes within 1 s; the run is
    recorded aborted with the reason given; a second abort is 409."""
    with tempfile.TemporaryDirectory() as d, Nginx() as ng:
        write(os.path.join(d, "long.yaml"), PLAN.format(name="long", url=ng.url, rate=20, dur="60s"))

        def scheds(m):
            return [("long", ["plan: long.yaml", 'cron: "0 0 1 1 *"', "timezone: UTC"])]

        dm = Daemon(d, scheds, lead=30)
        try:
            dm.start()
            st, a = dm.api("GET", "/agents")
            check(st == 200 and sorted(x["name"] for x in a) == ["a0", "a1"], "agents: %s" % a)
            st, body = dm.api("POST", "/schedules/long/run")
            check(st == 202 and body["queued"], "start: %s %s" % (st, body))
            rows = dm.wait_rows(lambda r: any(x[3] == "started" for x in r), 10, "long started")
            run_id = rows[-1][4]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(requests_of(ng, "long")) < 40:
                time.sleep(0.1)
            st, m = dm.api("GET", "/metrics")
            check(st == 200 and "herd_serve_agents 2" in m and "herd_serve_run_live 1" in m and
                  'run_id="%s"' % run_id in m and "herd_http_reqs_total" in m, "metrics: %s" % m[:1500])
            st, body = dm.api("POST", "/runs/%s/abort" % run_id, json.dumps({"reason": "test says stop"}))
            t_abort = time.time()
            check(st == 202, "abort: %s %s" % (st, body))
            rows = dm.wait_rows(lambda r: r[-1][3] in ("aborted", "finished"), 15, "long over")
            ng.settle()
            last = max(requests_of(ng, "long"))
            note("abort answered at %.3f, last request %.3f (%+.3f s)", t_abort, last, last - t_abort)
            check(last <= t_abort + 1.0, "a request %.3f s after the abort" % (last - t_abort))
            check(rows[-1][3] == "aborted" and "test says stop" in rows[-1][6], "row: %s" % (rows[-1],))
            st, body = dm.api("POST", "/runs/%s/abort" % run_id)
            check(st == 409, "second abort: %s %s" % (st, body))
            st, m = dm.api("GET", "/metrics")
            check("herd_serve_run_live 0" in m, "metrics after: %s" % m[:500])
            # SIGTERM mid-run: the run is stopped gracefully (gracefulStop
            # 1 s), recorded, and the daemon exits 0.
            n = len(requests_of(ng, "long"))
            st, body = dm.api("POST", "/schedules/long/run")
            check(st == 202, "second start: %s %s" % (st, body))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(requests_of(ng, "long")) < n + 40:
                time.sleep(0.1)
            t_sig = time.time()
            rc = dm.stop()
            ng.settle()
            last = max(requests_of(ng, "long"))
            rows = dm.rows()
            note("SIGTERM at %.3f, last request %+.3f s, exit %s, row %s", t_sig, last - t_sig, rc, rows[-1][3:])
            check(rc == 0, "herd serve exited %s on SIGTERM" % rc)
            check(last <= t_sig + 2.0, "a request %.3f s after SIGTERM" % (last - t_sig))
            check(rows[-1][3] == "aborted" and "SIGTERM" in rows[-1][6], "row: %s" % (rows[-1],))
        finally:
            dm.stop()


def test_restart_keeps_history_and_records_missed():
    """Slots at M and M+1min: the run at M finishes, the daemon stops
    (SIGTERM, exit 0) and starts again with its clock at M+3min: the slot
    M+1min is recorded missed (never run late: nginx sees nothing more),
    the first run's record is still there, /schedules and `herd schedule
    list` show the schedule with the missed slot as its last."""
    with tempfile.TemporaryDirectory() as d, Nginx() as ng:
        write(os.path.join(d, "r.yaml"), PLAN.format(name="r", url=ng.url, rate=10, dur="2s"))

        def scheds(m):
            return [("r", ["plan: r.yaml", "cron: %s" % cron_at([m, m + 60]), "timezone: UTC"])]

        dm = Daemon(d, scheds, lead=4)
        try:
            dm.start()
            dm.wait_rows(lambda r: any(x[3] == "finished" for x in r), 20, "first run")
            check(dm.stop() == 0, "SIGTERM: not exit 0")
            n1 = len(requests_of(ng, "r"))
            # Its clock jumps to M + 3 min: M + 1 min is 2 min late.
            real_now = time.time()
            off = int(((dm.m + 180) - real_now) * 1000)
            dm2 = Daemon(d, scheds, lead=0, offset_ms=off, m=dm.m)
            dm2.start()
            rows = dm2.wait_rows(lambda r: any(x[3] == "missed" for x in r), 10, "missed")
            note("rows after the restart: %s", [(x[1] - dm.m, x[3]) for x in rows])
            check([(x[1] - dm.m, x[2] - dm.m, x[3]) for x in rows] == [(0, 0, "finished"), (60, 60, "missed")],
                  "rows: %s" % rows)
            check("never run late" in rows[1][6], "missed reason: %s" % rows[1][6])
            st, s = dm2.api("GET", "/schedules")
            check(st == 200 and s[0]["name"] == "r" and s[0]["last"]["outcome"] == "missed", "schedules: %s" % s)
            st, runs = dm2.api("GET", "/runs")
            check(st == 200 and [x["outcome"] for x in runs] == ["missed", "finished"], "runs: %s" % runs)
            st, run = dm2.api("GET", "/runs/%s" % rows[0][4])
            check(st == 200 and run["status"] == "passed" and not run["live"], "run: %s" % run)
            p = subprocess.run([herd_bin(), "schedule", "list", "--config", dm.cfg], capture_output=True,
                               text=True, timeout=30)
            check(p.returncode == 0 and "missed" in p.stdout, "list: %s %s" % (p.stdout, p.stderr))
            time.sleep(1)
            check(len(requests_of(ng, "r")) == n1, "the missed slot sent requests")
            check(dm2.stop() == 0, "second SIGTERM: not exit 0")
        finally:
            dm.stop()
            if "dm2" in locals():
                dm2.stop()


def test_abort_rule_recorded_and_announced():
    """A plan whose every request fails, with an abortOnFail rule on the
    last 2 s: the engine aborts it, the daemon records it aborted with the
    rule as the reason and the webhook says aborted with it."""
    with tempfile.TemporaryDirectory() as d, Nginx() as ng, Receiver([200]) as rcv:
        write(os.path.join(d, "bad.yaml"), PLAN.format(name="bad", url=ng.url, rate=20, dur="60s")
              .replace("/read?s=bad", "/status500") +
              'thresholds:\n  http_req_failed: [{ threshold: "rate < 0.5", abortOnFail: true, window: 2s }]\n')

        def scheds(m):
            return [("bad", ["plan: bad.yaml", 'cron: "0 0 1 1 *"', "timezone: UTC"])]

        dm = Daemon(d, scheds, lead=30, hook_url=rcv.url)
        try:
            dm.start()
            st, body = dm.api("POST", "/schedules/bad/run")
            check(st == 202, "start: %s %s" % (st, body))
            rows = dm.wait_rows(lambda r: r and r[-1][3] in ("aborted", "finished"), 30, "bad over")
            note("row: %s", rows[-1][3:])
            check(rows[-1][3] == "aborted" and "http_req_failed" in rows[-1][6], "row: %s" % (rows[-1],))
            n500 = len([e for e in ng.entries() if e["uri"] == "/status500"])
            check(0 < n500 < 20 * 20, "nginx saw %d requests: the run was not cut short" % n500)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(rcv.got) < 2:
                time.sleep(0.1)
            evs = [json.loads(b) for _, _, b in rcv.got]
            check([e["event"] for e in evs] == ["started", "aborted"] and
                  "http_req_failed" in (evs[1]["reason"] or ""), "webhooks: %s" % evs)
        finally:
            dm.stop()


def test_second_run_compared_with_last_passed():
    """Two runs of one schedule started through the API: the second's
    finished webhook carries the comparison (herd results compare's JSON)
    with the first, passed run as its base, and its report."""
    with tempfile.TemporaryDirectory() as d, Nginx() as ng, Receiver([200]) as rcv:
        write(os.path.join(d, "c.yaml"), PLAN.format(name="c", url=ng.url, rate=20, dur="3s"))

        def scheds(m):
            return [("c", ["plan: c.yaml", 'cron: "0 0 1 1 *"', "timezone: UTC"])]

        dm = Daemon(d, scheds, lead=30, hook_url=rcv.url)
        try:
            dm.start()
            for i in (1, 2):
                st, body = dm.api("POST", "/schedules/c/run")
                check(st == 202, "start %d: %s %s" % (i, st, body))
                rows = dm.wait_rows(lambda r, i=i: sum(x[3] == "finished" for x in r) == i, 20, "run %d" % i)
                if i == 2:
                    break
                # An agent killed between runs is seen lost; the next run
                # goes on with the one left (agents.min 1).
                dm.agents[1].kill()
                dm.agents[1].wait()
                deadline = time.monotonic() + 10
                states = {}
                while time.monotonic() < deadline and states.get("a1") != "lost":
                    st, a = dm.api("GET", "/agents")
                    states = {x["name"]: x["state"] for x in a}
                    time.sleep(0.2)
                check(states == {"a0": "joined", "a1": "lost"}, "agents after the kill: %s" % states)
                log = dm.text()
                check(log.count("agent_joined") == 2 and "agent_lost" in log, "daemon log: %s" % log)
            c = sqlite3.connect(dm.db)
            per_run = [c.execute("SELECT COUNT(*) FROM run_agents WHERE run_id = ?", (r[4],)).fetchone()[0]
                       for r in rows]
            c.close()
            check(per_run == [2, 1], "agents per run: %s (every idle agent takes part)" % per_run)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(rcv.got) < 4:
                time.sleep(0.1)
            fins = [json.loads(b) for _, _, b in rcv.got if json.loads(b)["event"] == "finished"]
            check(len(fins) == 2, "finished webhooks: %s" % fins)
            check(fins[0]["comparison"] is None, "the first run has nothing to compare with: %s" % fins[0])
            c = fins[1]["comparison"]
            note("comparison: base %s, verdicts %s, regression %s", c and c.get("base"),
                 c and c.get("verdicts"), c and c.get("regression"))
            check(c is not None and c["base"] == rows[0][4] and c["candidate"] == rows[1][4] and
                  "regression" in c and len(c["rows"]) > 0, "comparison: %s" % c)
        finally:
            dm.stop()


def manual_daemon(d, ng, name, rate, dur, **kw):
    """A Daemon (not started) with one schedule, name, whose PLAN runs at
    rate for dur and whose slot never comes: it runs when asked."""
    write(os.path.join(d, name + ".yaml"), PLAN.format(name=name, url=ng.url, rate=rate, dur=dur))

    def scheds(m):
        return [(name, ["plan: %s.yaml" % name, 'cron: "0 0 1 1 *"', "timezone: UTC"])]

    return Daemon(d, scheds, lead=50, **kw)


def test_abort_while_draining_is_refused():
    """POST /runs/ID/abort in the run's short draining phase (its load over,
    the agents' last batches awaited, /metrics says state "draining"): the
    answer says what happens. 409 "already ending" and the run is recorded
    finished and passed as it ended; 202 only if the run is then recorded
    aborted with the reason given. Short runs are repeated until an abort
    lands in the draining phase (at most 6)."""
    with tempfile.TemporaryDirectory() as d, Nginx() as ng:
        dm = manual_daemon(d, ng, "dr", 20, "1s")
        try:
            dm.start()
            hits = 0
            for i in range(6):
                st, body = dm.api("POST", "/schedules/dr/run")
                check(st == 202, "start: %s %s" % (st, body))
                rows = dm.wait_rows(lambda r, i=i: len(r) == i + 1, 10, "run %d made" % i)
                run_id = rows[-1][4]
                ans = None
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    st, m = dm.api("GET", "/metrics")
                    if 'run_id="%s",state="draining"' % run_id in m:
                        ans = dm.api("POST", "/runs/%s/abort" % run_id, json.dumps({"reason": "late stop"}))
                        break
                    if dm.rows()[-1][3] != "started":
                        break
                rows = dm.wait_rows(lambda r: r[-1][3] != "started", 10, "run %d over" % i)
                row = rows[-1]
                note("run %d: abort answered %s, row %s", i, ans, row[3:])
                if ans is None:
                    continue
                if ans[0] == 202:
                    check(row[3] == "aborted" and "late stop" in (row[6] or ""),
                          "abort answered 202 but the run was recorded %s" % (row[3:],))
                    continue
                why = str(ans[1])
                check(ans[0] == 409 and ("already ending" in why or "not running" in why), "abort: %s" % (ans,))
                check(row[3] == "finished" and row[5] == "passed", "refused abort, but row %s" % (row[3:],))
                hits += "already ending" in why
                if hits:
                    break
            check(hits > 0, "no abort landed in the draining phase in 6 runs")
        finally:
            dm.stop()


def test_second_signal_ends_the_webhook_wait():
    """A receiver that answers every webhook 500: the started webhook is in
    its retries (1 s, 2 s, 4 s ... apart), finished is queued behind it. At
    SIGTERM the daemon waits for them (up to 10 s); a second SIGTERM 1.5 s
    later ends the wait at once: the daemon exits 0 within 3 s of it, and
    the store records both deliveries as not delivered, with the reason."""
    with tempfile.TemporaryDirectory() as d, Nginx() as ng, Receiver([500]) as rcv:
        dm = manual_daemon(d, ng, "w", 10, "1s", hook_url=rcv.url, retries=8)
        try:
            dm.start()
            st, body = dm.api("POST", "/schedules/w/run")
            check(st == 202, "start: %s %s" % (st, body))
            dm.wait_rows(lambda r: r and r[-1][3] == "finished", 20, "w finished")
            dm.proc.send_signal(signal.SIGTERM)
            time.sleep(1.5)
            check(dm.proc.poll() is None, "herd serve did not wait for its webhooks: %s" % dm.text())
            t2 = time.monotonic()
            dm.proc.send_signal(signal.SIGTERM)
            try:
                rc = dm.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                rc = None
            took = time.monotonic() - t2
            note("second SIGTERM: exit %s after %.3f s; %d webhook attempts received", rc, took, len(rcv.got))
            check(rc == 0 and took <= 3.0, "exit %s %.3f s after the second SIGTERM" % (rc, took))
            c = sqlite3.connect(dm.db)
            try:
                rows = c.execute("SELECT event, attempt, status, error FROM deliveries ORDER BY id").fetchall()
            finally:
                c.close()
            note("deliveries: %s", rows)
            gave_up = [(e, a) for e, a, s, err in rows if s is None and "second signal" in (err or "")]
            tried = [a for e, a, s, err in rows if e == "started" and s == 500]
            check(("finished", 1) in gave_up and ("started", max(tried) + 1) in gave_up,
                  "deliveries: %s" % rows)
        finally:
            dm.stop()


def run_now(dm, ng, name, limit_s=30):
    """Starts schedule name through the API and waits for its end: returns
    its row, its requests in nginx's log and their count per whole second
    of it."""
    st, body = dm.api("POST", "/schedules/%s/run" % name)
    check(st == 202, "start %s: %s %s" % (name, st, body))
    rows = dm.wait_rows(lambda r: r and r[-1][3] in ("aborted", "finished"), limit_s, "%s over" % name)
    ng.settle()
    reqs = requests_of(ng, name)
    per_s = {}
    for t in reqs:
        per_s[int(t)] = per_s.get(int(t), 0) + 1
    return rows[-1], reqs, [per_s[k] for k in sorted(per_s)]


CLOSED_PLAN = """name: {name}
target: {url}
scenarios:
  s:
    executor: constant-vus
    vus: 4
    duration: {dur}
    gracefulStop: 1s
    flow:
      - get: /read?s={name}
"""


def test_schedule_max_rate_caps_the_run():
    """serve.yaml's maxRate 20 on a closed-model plan with no cap of its own
    (4 VUs without think time, which alone send hundreds per second): the
    plan passes the check (a closed model's rate is unknown beforehand),
    and during the run the agents hold it to the schedule's cap: no whole
    second of nginx's log holds more than 20 of its requests, and the load
    did run near the cap."""
    with tempfile.TemporaryDirectory() as d, Nginx() as ng:
        write(os.path.join(d, "cl.yaml"), CLOSED_PLAN.format(name="cl", url=ng.url, dur="5s"))

        def scheds(m):
            return [("cl", ["plan: cl.yaml", 'cron: "0 0 1 1 *"', "timezone: UTC", "maxRate: 20"])]

        dm = Daemon(d, scheds, lead=30)
        try:
            dm.start()
            row, reqs, per_s = run_now(dm, ng, "cl")
            note("row %s; %d requests, per whole second of nginx's log: %s", row[3:], len(reqs), per_s)
            check(row[3] == "finished", "row: %s" % (row,))
            check(max(per_s) <= 20, "a second of nginx's log holds %d requests (cap 20)" % max(per_s))
            # 5 s at 20/s: the cap binds, and the run was not starved.
            check(len(reqs) >= 60, "only %d requests in 5 s at a cap of 20/s" % len(reqs))
        finally:
            dm.stop()


BP_PLAN = """name: {name}
target: {url}
scenarios:
  find:
    executor: breaking-point
    model: arrival-rate
    start: 10
    step: 10
    warmup: 1s
    hold: 2s
    max: 100
    preAllocatedVUs: 4
    maxVUs: 20
    objectives:
      http_req_failed: ["rate < 0.5"]
    flow:
      - get: /read?s={name}
"""


def test_schedule_max_rate_stops_a_breaking_point_search():
    """A breaking-point plan (levels 10, 20, ... 100 iterations/s of one
    request, no cap of its own) under a schedule's maxRate 30: the daemon
    drives the search, which climbs 10, 20, 30 and stops there, a lower
    bound at the highest level the schedule's cap allows (stored with the
    run)."""
    with tempfile.TemporaryDirectory() as d, Nginx() as ng:
        write(os.path.join(d, "bp.yaml"), BP_PLAN.format(name="bp", url=ng.url))

        def scheds(m):
            return [("bp", ["plan: bp.yaml", 'cron: "0 0 1 1 *"', "timezone: UTC", "maxRate: 30"])]

        dm = Daemon(d, scheds, lead=50)
        try:
            dm.start()
            row, reqs, per_s = run_now(dm, ng, "bp")
            c = sqlite3.connect(dm.db)
            try:
                loads = [x[0] for x in c.execute("SELECT load FROM capacity_levels WHERE run_id = ? ORDER BY idx",
                                                 (row[4],))]
                fit = c.execute("SELECT outcome, reason FROM capacity_fit WHERE run_id = ?", (row[4],)).fetchone()
            finally:
                c.close()
            note("row %s; levels %s, capacity %s, %d requests, per whole second %s", row[3:], loads, fit,
                 len(reqs), per_s)
            check(loads == [10, 20, 30], "levels %s, want 10, 20, 30 (the cap is 30/s)" % loads)
            check(fit is not None and fit[0] == "lower bound" and "maxRate 30/s" in (fit[1] or ""),
                  "capacity: %s" % (fit,))
            check(len(reqs) > 0, "nginx saw no request")
        finally:
            dm.stop()


def test_help_exit_codes_match_readme():
    """`herd --help` lists the exit codes of the README's table, no more, no
    fewer, and describes herd serve as the daemon it is."""
    import re
    readme = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")
    with open(readme) as f:
        lines = f.read().splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("| 0 | the run finished"))
    table = set()
    for l in lines[start:]:
        m = re.match(r"\| (\d+) \|", l)
        if not m:
            break
        table.add(int(m.group(1)))
    p = subprocess.run([herd_bin(), "--help"], capture_output=True, text=True, timeout=10)
    check(p.returncode == 0, "herd --help: exit %d" % p.returncode)
    codes = p.stdout.split("Exit codes:", 1)[1]
    helped = {int(x) for x in re.findall(r"(?:^|[ ,:])(\d{1,3}) [a-z]", codes)}
    note("README %s; --help %s", sorted(table), sorted(helped))
    check(len(table) >= 11 and helped == table, "README lists %s, --help %s" % (sorted(table), sorted(helped)))
    check("lands with" not in p.stdout and "herd serve --config serve.yaml [--check]" in p.stdout,
          "herd serve's line: %r" % [l for l in p.stdout.splitlines() if "serve" in l])


if __name__ == "__main__":
    main([test_help_exit_codes_match_readme, test_slot_on_time_skip_and_webhooks, test_window_end_stops_a_run_started_now,
          test_api_abort_agents_metrics, test_restart_keeps_history_and_records_missed,
          test_abort_rule_recorded_and_announced, test_second_run_compared_with_last_passed,
          test_schedule_max_rate_caps_the_run, test_schedule_max_rate_stops_a_breaking_point_search,
          test_abort_while_draining_is_refused, test_second_signal_ends_the_webhook_wait])
