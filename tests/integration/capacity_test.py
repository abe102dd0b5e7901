#!/usr/bin/env python3
"""Capacity planning, part A: a running scenario's load changed by the LOAD
wire message (driven by the HERD_TEST_LOAD_SCHEDULE test hook until the
breaking-point search exists), judged by nginx's own access log per second
over two local agents split 1:3 by weight; and `herd capacity fit` on a
ramping-vus run against a server of this test whose throughput follows the
Universal Scalability Law with known sigma and kappa.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/capacity_test.py [-k NAME]
"""

import asyncio
import collections
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import Nginx, check, main, note, run_herd  # noqa: E402

WEIGHTS = ("--local-agents", "2", "--workers", "1", "--agent-weight", "local-1=1,local-2=3")


def with_schedule(spec, fn):
    """Runs fn() with HERD_TEST_LOAD_SCHEDULE=spec in herd's environment."""
    os.environ["HERD_TEST_LOAD_SCHEDULE"] = spec
    try:
        return fn()
    finally:
        del os.environ["HERD_TEST_LOAD_SCHEDULE"]


def events(db, kind):
    """(at_ms, agent_id, message) of the run's events of one kind, in order."""
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT at, agent_id, message FROM events WHERE kind = ? ORDER BY at, id",
                           (kind,)).fetchall()
    finally:
        con.close()


def load_events(r):
    """The load commands (ms) and each agent's acks [(ms, agent, share)] per command."""
    sets = [at for at, _, _ in events(r.db, "load_set")]
    acks = collections.defaultdict(list)
    for at, agent, msg in events(r.db, "load_applied"):
        # "scenario S rate|vus VALUE (command N)"
        parts = msg.split()
        acks[int(parts[-1].rstrip(")"))].append((at, agent, float(parts[3])))
    return sets, acks


def agent_order(r):
    """Agent ids in the run's order (local-1, local-2) from the store."""
    con = sqlite3.connect(r.db)
    try:
        rows = con.execute("SELECT agent_id, name FROM run_agents ORDER BY name").fetchall()
    except sqlite3.OperationalError:
        rows = []
    finally:
        con.close()
    return {name: aid for aid, name in rows}


def check_acks(r, sets, acks, shares):
    """Each command was acknowledged by both agents, each with its share
    (1:3), within one heartbeat (1 s) of the command."""
    check(len(sets) == len(shares), "want %d load commands, the store has %d%s" % (
        len(shares), len(sets), r.tail()))
    for n, (at, want) in enumerate(zip(sets, shares), start=1):
        got = sorted(a[2] for a in acks.get(n, []))
        check(got == sorted(want), "command %d: agents acknowledged %s, want %s (1:3 split)%s"
              % (n, got, sorted(want), r.tail()))
        late = max(a[0] for a in acks[n]) - at
        check(0 <= late <= 1000, "command %d acknowledged %d ms after it was set (> 1 heartbeat)"
              % (n, late))
        note("command %d: acks %s, last %d ms after the command", n, got, late)


def test_arrival_rate_follows_load_commands():
    """constant-arrival-rate 20/s for 15 s, set to 40/s at 5 s and 80/s at
    10 s: nginx's requests per second within each level (its first second
    after a command left out) are within 2% of the level, the second right
    after a command's second already runs at the new rate (within one
    heartbeat), both agents acknowledge their 1:3 shares, and each agent's
    requests follow its share."""
    with Nginx(fields=("arg_agent",)) as ng:
        def go():
            return run_herd("""name: load-rate
target: %s
scenarios:
  rate:
    executor: constant-arrival-rate
    rate: 20
    timeUnit: 1s
    duration: 15s
    preAllocatedVUs: 20
    maxVUs: 100
    flow:
      - get: "/small?agent={{ __AGENT }}"
""" % ng.url, *WEIGHTS, timeout=60)
        r = with_schedule("5s:40,10s:80", go)
        check(r.code == 0, "herd exited %d%s" % (r.code, r.tail()))
        ng.settle()
        ents = [e for e in ng.entries() if e["uri"] == "/small"]
        sets, acks = load_events(r)
        check_acks(r, sets, acks, [(10, 30), (20, 60)])
        t0 = min(e["msec"] for e in ents)
        per_s = collections.Counter(int(e["msec"] - t0) for e in ents)
        per_agent = collections.Counter((e["arg_agent"], int(e["msec"] - t0)) for e in ents)
        # Command offsets from the load's start, by the controller's clock.
        c1, c2 = (s / 1000.0 - t0 for s in sets)
        note("commands at %.3f s and %.3f s; per second: %s", c1, c2,
             [per_s[i] for i in range(16)])
        check(abs(c1 - 5) < 0.5 and abs(c2 - 10) < 0.5,
              "commands at %.2f s and %.2f s after the first request, want 5 and 10" % (c1, c2))
        levels = [(20, 0, int(c1)), (40, int(c1) + 1, int(c2)), (80, int(c2) + 1, 15)]
        by_agent = collections.Counter(e["arg_agent"] for e in ents)
        light, heavy = sorted(("0", "1"), key=lambda a: by_agent[a])
        for rate, lo, hi in levels:
            secs = [s for s in range(lo, hi) if s + 1 <= hi]
            got = sum(per_s[s] for s in secs)
            want = rate * len(secs)
            check(abs(got - want) <= 0.02 * want, "level %d/s: nginx saw %d requests in seconds %s, "
                  "want %d within 2%%" % (rate, got, secs, want))
            # Each agent: its share (1:3) of the level, within 2% (+1 for the edges).
            # {{ __AGENT }} is the agent's place in joining order, which
            # local-1 or local-2 may take first: the one that sent less is local-1.
            for agent, frac in ((light, 0.25), (heavy, 0.75)):
                a = sum(per_agent[(agent, s)] for s in secs)
                check(abs(a - want * frac) <= 0.02 * want * frac + 1,
                      "level %d/s: agent %s sent %d in seconds %s, want %.0f (its share)"
                      % (rate, agent, a, secs, want * frac))
        # Within one heartbeat: the whole second starting 1 s after each
        # command already runs at the new rate (2%, +1 for the window's edge).
        for cmd, rate in ((c1 + t0, 40), (c2 + t0, 80)):
            n = sum(1 for e in ents if cmd + 1.0 <= e["msec"] < cmd + 2.0)
            check(abs(n - rate) <= 0.02 * rate + 1, "1-2 s after the command for %d/s nginx saw %d" % (rate, n))
        note("levels within 2%%: %s", [(lv, sum(per_s[s] for s in range(lo, hi))) for lv, lo, hi in levels])


def test_vus_follow_load_commands():
    """constant-vus 4 VUs for 12 s, set to 8 at 4 s and 12 at 8 s: the
    distinct __VU values nginx logs in every whole second of a level (its
    first second left out) are exactly the level, split 1:3 between the
    agents (split_int of the level), and the first whole second after each
    command already has them."""
    with Nginx(fields=("arg_vu",)) as ng:
        def go():
            return run_herd("""name: load-vus
target: %s
scenarios:
  closed:
    executor: constant-vus
    vus: 4
    duration: 12s
    flow:
      - get: "/small?vu={{ __VU }}"
      - think: 100ms
""" % ng.url, *WEIGHTS, timeout=60)
        r = with_schedule("4s:8,8s:12", go)
        check(r.code == 0, "herd exited %d%s" % (r.code, r.tail()))
        ng.settle()
        ents = [e for e in ng.entries() if e["uri"] == "/small"]
        sets, acks = load_events(r)
        check_acks(r, sets, acks, [(2, 6), (3, 9)])
        t0 = min(e["msec"] for e in ents)
        by_s = collections.defaultdict(set)
        for e in ents:
            by_s[int(e["msec"] - t0)].add(int(e["arg_vu"]))
        c1, c2 = (s / 1000.0 - t0 for s in sets)
        note("commands at %.3f s and %.3f s; distinct VUs per second: %s", c1, c2,
             [len(by_s[i]) for i in range(13)])
        levels = [(4, (1, 3), 0, int(c1)), (8, (2, 6), int(c1) + 1, int(c2)), (12, (3, 9), int(c2) + 1, 12)]
        for vus, split, lo, hi in levels:
            for s in range(lo, hi):
                got = by_s[s]
                # VU ids: 10,000,000 per agent, so the block says which agent
                # (in joining order, which either may take first).
                a0 = sum(1 for v in got if v < 10000000)
                check(len(got) == vus and sorted((a0, len(got) - a0)) == list(split),
                      "second %d: %d distinct VUs (%d + %d), want %d (%d + %d)"
                      % (s, len(got), a0, len(got) - a0, vus, split[0], split[1]))
        for cmd, vus in ((c1 + t0, 8), (c2 + t0, 12)):
            got = set(int(e["arg_vu"]) for e in ents if cmd + 1.0 <= e["msec"] < cmd + 2.0)
            check(len(got) == vus, "1-2 s after the command for %d VUs nginx saw %d" % (vus, len(got)))


def start_agents(d, url, token, names, extra=()):
    """herd-agent processes dialing url, one per name, logging into d:
    [(Popen, log file)]."""
    out = []
    for name in names:
        log = open(os.path.join(d, name + ".log"), "w")
        cmd = [harness.agent_bin(), "--controller", url, "--name", name, "--workers", "1", "--once"]
        if token:
            cmd += ["--token-file", token]
        out.append((subprocess.Popen(cmd + list(extra), stdout=log, stderr=log, start_new_session=True), log))
    return out


def stop_agents(agents):
    for p, log in agents:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()


def test_sealed_load_over_tcp():
    """With a token (every message after the handshake sealed, wire v3) over
    tcp://, two remote agents weighted 1:3: the rate set from 30/s to 60/s
    at 4 s is acknowledged by both with their shares (15 and 45) within one
    heartbeat, and nginx sees 30/s then 60/s within 2%."""
    import secrets
    with Nginx() as ng:
        d = harness.prepare_run(None)[0]
        token = os.path.join(d, "token")
        with open(token, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        os.chmod(token, 0o600)
        url = "tcp://127.0.0.1:%d" % harness.free_port()
        agents = []
        try:
            agents = start_agents(d, url, token, ("a1", "a2"))

            def go():
                return run_herd("""name: sealed-load
target: %s
scenarios:
  rate:
    executor: constant-arrival-rate
    rate: 30
    timeUnit: 1s
    duration: 8s
    preAllocatedVUs: 20
    maxVUs: 60
    flow:
      - get: /small
""" % ng.url, "--listen", url, "--agents", "2", "--token-file", token, "--agent-weight", "a1=1,a2=3",
                    timeout=60)
            r = with_schedule("4s:60", go)
        finally:
            stop_agents(agents)
        check(r.code == 0, "herd exited %d%s" % (r.code, r.tail()))
        sets, acks = load_events(r)
        check_acks(r, sets, acks, [(15, 45)])
        ng.settle()
        ents = [e for e in ng.entries() if e["uri"] == "/small"]
        t0 = min(e["msec"] for e in ents)
        c1 = sets[0] / 1000.0 - t0
        per_s = collections.Counter(int(e["msec"] - t0) for e in ents)
        note("command at %.3f s; per second: %s", c1, [per_s[i] for i in range(9)])
        for rate, lo, hi in ((30, 0, int(c1)), (60, int(c1) + 1, 8)):
            got = sum(per_s[s] for s in range(lo, hi))
            want = rate * (hi - lo)
            check(abs(got - want) <= 0.02 * want, "level %d/s: nginx saw %d in seconds %d-%d, want %d"
                  % (rate, got, lo, hi - 1, want))


def test_agent_back_gets_current_load():
    """An agent frozen (SIGSTOP) for 5 s over a command is marked lost by
    the controller (2 s limit; its own limit is 20 s, so it keeps its load
    running when thawed); when it polls again it gets the load set while it
    was away and acknowledges its share, and nginx sees the whole new rate."""
    with Nginx() as ng:
        d = harness.prepare_run(None)[0]
        url = "tcp://127.0.0.1:%d" % harness.free_port()
        agents = start_agents(d, url, None, ("a1", "a2"), ("--lost-controller-timeout", "20s"))
        frozen = agents[1][0]
        try:
            def freeze():
                # From 2 s to 7 s after the first request (nginx's log): lost
                # by 4.x s, the command at 5 s, back at 7 s.
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and os.path.getsize(ng.log_path) == 0:
                    time.sleep(0.01)
                time.sleep(2)
                frozen.send_signal(signal.SIGSTOP)
                time.sleep(5)
                frozen.send_signal(signal.SIGCONT)
            th = threading.Thread(target=freeze)

            def go():
                th.start()
                return run_herd("""name: back
target: %s
scenarios:
  rate:
    executor: constant-arrival-rate
    rate: 20
    timeUnit: 1s
    duration: 12s
    preAllocatedVUs: 20
    maxVUs: 60
    flow:
      - get: /small
""" % ng.url, "--listen", url, "--agents", "2", "--agent-weight", "a1=1,a2=1",
                    "--agent-loss-timeout", "2s", timeout=60)
            r = with_schedule("5s:40", go)
            th.join()
        finally:
            frozen.send_signal(signal.SIGCONT)
            stop_agents(agents)
        lost = events(r.db, "agent_lost")
        back = events(r.db, "agent_rejoined")
        sets, acks = load_events(r)
        note("lost %s; back %s; command %s; acks %s", [a for a, _, _ in lost], [a for a, _, _ in back], sets,
             dict(acks))
        check(len(lost) == 1 and len(back) >= 1, "want the frozen agent lost once and back%s" % r.tail())
        check(len(sets) == 1 and lost[0][0] < sets[0] < back[0][0],
              "the command (%s) did not come while the agent was lost (%d .. %d)" % (sets, lost[0][0], back[0][0]))
        got = sorted(a[2] for a in acks.get(1, []))
        check(got == [20.0, 20.0], "acks %s, want both agents' shares (20, 20)" % got)
        late = max(a[0] for a in acks[1]) - back[0][0]
        check(0 <= late <= 1000, "the agent acknowledged %d ms after it came back (> 1 heartbeat)" % late)
        ng.settle()
        ents = [e for e in ng.entries() if e["uri"] == "/small"]
        t_back = back[0][0] / 1000.0
        # Two whole seconds from 1 s after it came back: the whole 40/s.
        n = sum(1 for e in ents if t_back + 1.0 <= e["msec"] < t_back + 3.0)
        check(abs(n - 80) <= 0.02 * 80 + 1, "nginx saw %d requests in the 2 s after the agent came back, want 80" % n)


class UslServer:
    """An HTTP/1.1 server (asyncio, keep-alive, on 127.0.0.1:<free port>, in
    its own thread) whose throughput follows the Universal Scalability Law
    with known lambda, sigma and kappa, whatever the client's speed: with N
    keep-alive connections (N VUs without think time, one connection each)
    every connection's cycle, from one request's arrival to the next's, is
    made to last C(N) = (1 + sigma (N-1) + kappa N (N-1)) / lambda, so that
    X(N) = N / C(N) = lambda N / (1 + sigma (N-1) + kappa N (N-1)). The part
    of the cycle spent outside the server (the client's own work and the
    loopback both ways, seen here as the gap from a response written to the
    connection's next request) is measured per connection and taken off the
    delay: a slow or busy client machine does not bend the law (a fixed
    delay of C(N) lost 10% of lambda and 25% of sigma on a busy machine).
    It counts the requests it answered."""

    def __init__(self, lam, sigma, kappa):
        self.lam, self.sigma, self.kappa = lam, sigma, kappa
        self.port = harness.free_port()
        self.inflight = 0
        self.answered = 0
        self.loop = None
        self.thread = None
        self.ready = threading.Event()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    async def _conn(self, reader, writer):
        loop = asyncio.get_running_loop()
        gap = None   # mean time outside the server per cycle (EWMA), s
        sent = None  # when this connection's last response was written
        counted = False
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                now = loop.time()
                if not counted:
                    self.inflight += 1  # connections that have asked
                    counted = True
                if sent is not None:
                    g = now - sent
                    gap = g if gap is None else 0.8 * gap + 0.2 * g
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                n = self.inflight
                cycle = (1 + self.sigma * (n - 1) + self.kappa * n * (n - 1)) / self.lam
                await asyncio.sleep(max(0.0, cycle - (gap or 0.0) - (loop.time() - now)))
                self.answered += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
                sent = loop.time()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            if counted:
                self.inflight -= 1
            writer.close()

    def _run(self):
        self.loop = asyncio.new_event_loop()
        server = self.loop.run_until_complete(
            asyncio.start_server(self._conn, "127.0.0.1", self.port))
        self.ready.set()
        try:
            self.loop.run_forever()
        finally:
            server.close()
            self.loop.run_until_complete(server.wait_closed())
            self.loop.close()

    def __enter__(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.ready.wait(10):
            raise harness.Fail("the USL server did not start")
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        return False


def fit_numbers(text):
    """lambda, sigma, kappa, R^2, N*, X(N*) and the holdout error (%) from
    `herd capacity fit`'s output."""
    m = re.search(r"lambda ([\d.e+-]+) requests/s per VU, sigma ([\d.e+-]+), kappa ([\d.e+-]+), "
                  r"R\^2 ([\d.e+-]+)", text)
    p = re.search(r"peak: N\* = ([\d.e+-]+) VUs, X\(N\*\) = ([\d.e+-]+)/s", text)
    h = re.search(r"holdout: fitted without the top (\d+) levels? .* predicted within ([\d.]+)%", text)
    check(m and p and h, "unexpected `herd capacity fit` output:\n%s" % text)
    return [float(v) for v in m.groups() + p.groups()] + [int(h.group(1)), float(h.group(2))]


# lambda (requests/s of one VU), sigma, kappa: N* = 21.8, X(N*) = 148/s. A service time of 50 ms and
# more keeps the server's own overhead (about 1 ms a request) out of the law.
USL = (20.0, 0.05, 0.002)
USL_LEVELS = (1, 2, 4, 8, 12, 16, 24, 32, 48)


def test_capacity_fit_recovers_usl():
    """A ramping-vus run (1 .. 48 VUs, a 1 s ramp and a 6 s hold per level,
    no think time) against a server whose throughput follows the USL with
    lambda 20/s, sigma 0.05, kappa 0.002: `herd capacity fit` finds the 9
    levels, recovers sigma and kappa within 20% and N* (21.8) within 10%,
    and reports the holdout error; herd's requests equal the server's."""
    lam, sigma, kappa = USL
    stages = "".join("      - { duration: 1s, target: %d }\n      - { duration: 6s, target: %d }\n" % (n, n)
                     for n in USL_LEVELS)
    with UslServer(lam, sigma, kappa) as srv:
        r = run_herd("""name: usl
target: %s
scenarios:
  ramp:
    executor: ramping-vus
    startVUs: 0
    gracefulRampDown: 1s
    stages:
%s    flow:
      - get: /work
""" % (srv.url, stages), "--workers", "1", "--http-driver", "lean", timeout=120)
        check(r.code == 0, "herd exited %d%s" % (r.code, r.tail()))
        reqs = r.summary["metrics"]["http_reqs"]["count"]
        check(reqs == srv.answered, "herd counted %d requests, the server answered %d" % (reqs, srv.answered))
    p = subprocess.run([harness.herd_bin(), "capacity", "fit", "latest", "--db", r.db],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "herd capacity fit exited %d: %s" % (p.returncode, p.stderr))
    out = p.stdout
    note("%s", out.strip().replace("\n", "\n# "))
    rows = re.findall(r"^\s+\d+\s+(\d+)\s+([\d.]+)", out, re.M)
    check([int(v) for v, _ in rows] == list(USL_LEVELS), "levels %s, want %s" % (rows, USL_LEVELS))
    f_lam, f_sigma, f_kappa, r2, nstar, xpeak, held, herr = fit_numbers(out)
    want_nstar = ((1 - sigma) / kappa) ** 0.5
    check(abs(f_sigma - sigma) <= 0.2 * sigma, "sigma %.4g, want %.4g within 20%%" % (f_sigma, sigma))
    check(abs(f_kappa - kappa) <= 0.2 * kappa, "kappa %.4g, want %.4g within 20%%" % (f_kappa, kappa))
    check(abs(nstar - want_nstar) <= 0.1 * want_nstar, "N* %.3g, want %.3g within 10%%" % (nstar, want_nstar))
    check(held == 2 and 0 <= herr < 100, "holdout of %d levels, error %.1f%%" % (held, herr))
    check(r2 > 0.9, "R^2 %.3f" % r2)
    # The HTML report shows the same levels, the same fit and its curve.
    html = os.path.join(os.path.dirname(r.db), "usl.html")
    p = subprocess.run([harness.herd_bin(), "report", "latest", "--db", r.db, "-o", html],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "herd report exited %d: %s" % (p.returncode, p.stderr))
    page = open(html, encoding="utf-8").read()
    check(page.count('class="level') == len(USL_LEVELS), "the report draws %d levels, want %d"
          % (page.count('class="level'), len(USL_LEVELS)))
    check('class="usl"' in page, "the report has no USL curve")
    m = re.search(r"&sigma; = ([0-9.e+-]+), &kappa; = ([0-9.e+-]+)", page)
    check(m and abs(float(m.group(1)) - f_sigma) <= 1e-3 * max(f_sigma, 1e-9) + 1e-4,
          "the report's sigma %s, capacity fit's %.4g" % (m and m.group(1), f_sigma))


def test_capacity_fit_errors():
    """`herd capacity fit` on a run without a ramping-vus scenario, and on a
    ramping-vus run with fewer than 3 levels, says why and exits 1; on an
    unknown run it names it."""
    with Nginx() as ng:
        r = run_herd("""name: flat
target: %s
scenarios:
  ramp:
    executor: ramping-vus
    stages:
      - { duration: 1s, target: 2 }
      - { duration: 2s, target: 2 }
    flow:
      - get: /small
""" % ng.url, timeout=60)
        check(r.code == 0, "herd exited %d%s" % (r.code, r.tail()))
    p = subprocess.run([harness.herd_bin(), "capacity", "fit", "latest", "--db", r.db],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 1 and "at least 3 levels" in p.stderr,
          "exit %d, stderr %r, stdout %r" % (p.returncode, p.stderr, p.stdout))
    p = subprocess.run([harness.herd_bin(), "capacity", "fit", "nope", "--db", r.db],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 1 and "nope" in p.stderr, "exit %d, stderr %r" % (p.returncode, p.stderr))
    p = subprocess.run([harness.herd_bin(), "capacity", "fit", "latest", "--db", r.db, "--scenario", "x"],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 1 and "scenario 'x' is not a ramping-vus, ramping-arrival-rate or breaking-point scenario" in p.stderr,
          "exit %d, stderr %r" % (p.returncode, p.stderr))


TESTS = [test_arrival_rate_follows_load_commands, test_vus_follow_load_commands, test_sealed_load_over_tcp,
         test_agent_back_gets_current_load,
         test_capacity_fit_recovers_usl, test_capacity_fit_errors]

if __name__ == "__main__":
    main(TESTS)
