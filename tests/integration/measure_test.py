#!/usr/bin/env python3
"""Measurement: the figures herd records are the ones that happened.

- Timed-out requests: a server whose slow endpoint holds requests in a pool
  of 2 (an asyncio.Semaphore(2) around a 250 ms sleep, as a FastAPI app would,
  working on requests whose client has gone), weighted flows register ->
  login -> the slow POST (a 100 KB body) with `timeout: 1s`, a VU ramp: on
  both HTTP drivers, every timing of a timed-out request is bounded by its
  timeout and the phase it never reached (receiving) is 0. A connect that times out (a listener
  whose accept queue is full, so the kernel drops the SYNs) is connecting
  for its whole time, not waiting.
- The offered load per interval (arrivals due, VU targets) beside what was
  achieved, and the per-interval percentiles, read back with the SQL of
  docs/store.md (the queries are taken from that file and run as written).
- vus_max keeps every worker's VUs to the end; a cluster run (--listen)
  records its duration; `herd results list` shows the summary's duration.

Every server runs on 127.0.0.1 on a free port, in this process (asyncio in a
thread, standard library only) or as herd-agent processes; each run is
bounded by its plan and by a timeout on herd.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/measure_test.py [-k NAME]
"""

import asyncio
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Fail, agent_bin, check, main, note, prepare_run, run_cli,  # noqa: E402
                     run_herd)

TIMEOUT_US = 1000000        # the slow step's timeout: 1 s
SECOND_WORKER_VU = 100000   # ENGINE_VUS_PER_WORKER: the second worker's VU ids start above it


class SlowPool:
    """An HTTP/1.1 server (asyncio streams) on 127.0.0.1:<free port>.

    POST /register and /login answer at once. POST /slow waits for one of 2
    places (asyncio.Semaphore(2)), then 250 ms, then answers, whether its
    client is still connected or not. GET /hold?vu=N answers after 1.5 s when
    N is a VU of the second worker (>= 100000), else after 50 ms. Every
    answered request is logged as (path, monotonic arrival, monotonic done).
    """

    def __init__(self):
        self.port = None
        self.log = []
        self._loop = None
        self._thread = None
        self._ready = threading.Event()
        self._stop = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    async def _handle(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, target, _ = line.decode("latin-1").split(" ", 2)
                length = 0
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    if k.strip().lower() == "content-length":
                        length = int(v)
                if length:
                    await reader.readexactly(length)
                t0 = time.monotonic()
                path, _, query = target.partition("?")
                if path == "/slow":
                    async with self._sem:
                        await asyncio.sleep(0.25)
                elif path == "/hold":
                    vu = int(dict(p.split("=", 1) for p in query.split("&") if "=" in p)
                             .get("vu", "0"))
                    await asyncio.sleep(1.5 if vu >= SECOND_WORKER_VU else 0.05)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             b"Content-Length: 2\r\n\r\nok")
                await writer.drain()
                self.log.append((path, t0, time.monotonic()))
        except (ConnectionError, asyncio.IncompleteReadError, ValueError,
                asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _main(self):
        self._loop = asyncio.get_running_loop()
        self._sem = asyncio.Semaphore(2)
        self._stop = asyncio.Event()
        srv = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
        self.port = srv.sockets[0].getsockname()[1]
        self._ready.set()
        async with srv:
            await self._stop.wait()

    def __enter__(self):
        # asyncio.run cancels the handlers still holding requests at the end.
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise Fail("the slow-pool server did not start")
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        return False


class Blackhole:
    """A listener on 127.0.0.1 that never accepts, its accept queue filled by
    connections of our own: the kernel drops further SYNs, so a connect to it
    neither succeeds nor fails before its timeout."""

    def __enter__(self):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(0)
        self.port = self.ls.getsockname()[1]
        self.fill = []
        for _ in range(4):
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.fill.append(c)
        time.sleep(0.2)
        probe = socket.socket()
        probe.settimeout(0.3)
        try:
            probe.connect(("127.0.0.1", self.port))
            raise Fail("the blackhole accepted a connection: its queue is not full")
        except socket.timeout:
            pass
        finally:
            probe.close()
        return self

    def __exit__(self, *exc):
        for c in self.fill:
            c.close()
        self.ls.close()
        return False


def rows(db, sql, *args):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def one_run_id(db):
    ids = rows(db, "SELECT id FROM runs")
    check(len(ids) == 1, "expected one run in the store, found %s" % ids)
    return ids[0][0]


def phase_max(db, metric, name, status_class=None):
    """The largest value of a step's phase over the run (µs), from interval_stats."""
    sql = "SELECT max(max), sum(count) FROM interval_series WHERE metric = ? AND name = ?"
    args = [metric, name]
    if status_class is not None:
        sql += " AND status_class = ?"
        args.append(status_class)
    return rows(db, sql, *args)[0]


SIGNUP_PLAN = """name: slow-pool
target: %s
scenarios:
  signup:
    executor: ramping-vus
    startVUs: 0
    stages:
      - { duration: 5s, target: 40 }
      - { duration: 5s, target: 40 }
    gracefulStop: 3s
    flows:
      signup:
        weight: 3
        steps:
          - { post: /register, name: register, json: { user: "u" } }
          - { post: /login, name: login, json: { user: "u" } }
          - { post: /slow, name: slow, bodyFile: big.json, timeout: 1s }
          - think: 300ms..800ms
      browse:
        weight: 1
        steps:
          - { post: /login, name: peek, json: { user: "u" } }
          - think: 300ms..800ms
"""


def timeouts_bounded(driver_args):
    with SlowPool() as srv:
        # A body over 64 KiB goes out after the headers: libcurl then marks
        # STARTTRANSFER when it starts sending it, not at the first byte back.
        r = run_herd(SIGNUP_PLAN % srv.url, *driver_args, timeout=60,
                     files={"big.json": '{"q": "%s"}' % ("x" * 100000)})
    check(r.code == 0, "herd exited %d%s" % (r.code, r.tail()))
    timeouts = r.errors_by_kind().get("timeout", 0)
    answered_slow = sum(1 for e in srv.log if e[0] == "/slow")
    note("%d timeouts, the server answered %d slow requests (many after their client left)",
         timeouts, answered_slow)
    check(timeouts >= 20, "the pool should make the slow step time out often; %d timeouts"
          % timeouts)
    # Over the whole run, nothing lasted longer than the one step with a timeout.
    d = r.metric("http_req_duration")
    check(d["max"] <= TIMEOUT_US / 1000.0, "http_req_duration max %.3f ms > 1 s" % d["max"])
    db = r.db
    # The timed-out requests are the slow step's requests without a response.
    mx, n = phase_max(r.db, "http_req_duration", "slow", 0)
    check(n == timeouts, "slow requests without a response %s != timeouts %d" % (n, timeouts))
    check(mx <= TIMEOUT_US, "a timed-out request recorded %d µs, longer than its 1 s timeout"
          % mx)
    check(mx >= TIMEOUT_US * 0.99, "a timed-out request is recorded as its timeout; longest %d µs"
          % mx)
    for m in ("http_req_waiting", "http_req_sending", "http_req_connecting",
              "http_req_blocked", "http_req_tls_handshaking"):
        pm, _ = phase_max(db, m, "slow", 0)
        check(pm <= TIMEOUT_US, "%s of a timed-out request: %d µs > its timeout" % (m, pm))
    rm, _ = phase_max(db, "http_req_receiving", "slow", 0)
    check(rm == 0, "timed-out requests received nothing, yet http_req_receiving max is %d µs" % rm)
    # The iterations are longer than their timed-out step by their other
    # steps, think and the agent's lag between steps (noted, not bounded: a
    # busy machine's scheduling is not what is tested here).
    note("signup iteration max %.1f ms", rows(db, "SELECT max(max) FROM interval_series WHERE"
                                               " metric = 'iterations' AND tags = 'flow=signup'")
         [0][0] / 1000.0)


def test_timeouts_bounded_curl():
    """libcurl driver: timed-out requests last their timeout, received nothing."""
    timeouts_bounded(("--http-driver", "curl"))


def test_timeouts_bounded_lean():
    """lean driver: timed-out requests last their timeout, received nothing."""
    timeouts_bounded(("--http-driver", "lean"))


CONNECT_PLAN = """name: blackhole
target: http://127.0.0.1:%d
scenarios:
  s:
    executor: per-vu-iterations
    vus: 2
    iterations: 2
    maxDuration: 10s
    flow:
      - { get: /, name: nowhere, timeout: 300ms }
"""


def connect_timeout(driver_args):
    with Blackhole() as bh:
        r = run_herd(CONNECT_PLAN % bh.port, *driver_args, timeout=30)
    check(r.code == 0, "herd exited %d%s" % (r.code, r.tail()))
    check(r.errors_by_kind().get("timeout", 0) == 4, "4 connect timeouts expected: %s"
          % r.errors_by_kind())
    db = r.db
    limit = 300000
    # Every request of the run is a connect that timed out: none waited,
    # sent or received anything, and none lasted longer than 300 ms.
    for m in ("http_req_waiting", "http_req_sending", "http_req_receiving"):
        check(r.metric(m)["max"] == 0, "%s of requests that never connected: %s"
              % (m, r.metric(m)))
    check(r.metric("http_req_duration")["max"] <= 300, "http_req_duration %s"
          % r.metric("http_req_duration"))
    dur, n = phase_max(db, "http_req_duration", "nowhere")
    check(n == 4 and limit * 0.99 <= dur <= limit, "duration of a connect timeout: %s µs (n=%s)"
          % (dur, n))
    conn = rows(db, "SELECT min(p50), max(max) FROM interval_series WHERE"
                " metric = 'http_req_connecting' AND name = 'nowhere'")[0]
    check(conn[1] <= limit and conn[0] >= limit * 0.9,
          "a connect that timed out was connecting for its whole time: p50/max %s µs" % (conn,))
    for m in ("http_req_waiting", "http_req_sending", "http_req_receiving"):
        pm, _ = phase_max(db, m, "nowhere")
        check(pm == 0, "%s of a request that never connected: %d µs, not 0" % (m, pm))


def test_connect_timeout_curl():
    """libcurl driver: a connect that times out is connecting, not waiting."""
    connect_timeout(("--http-driver", "curl"))


def test_connect_timeout_lean():
    """lean driver: a connect that times out is connecting, not waiting."""
    connect_timeout(("--http-driver", "lean"))


OFFERED_PLAN = """name: offered
target: %s
scenarios:
  orders:
    executor: constant-arrival-rate
    rate: 40
    timeUnit: 1s
    duration: 3s
    preAllocatedVUs: 2
    maxVUs: 2
    flow:
      - { get: /hold, name: hold }
  browse:
    executor: ramping-vus
    startVUs: 0
    stages:
      - { duration: 2s, target: 6 }
      - { duration: 2s, target: 6 }
    flow:
      - { post: /login, name: look, json: { a: 1 } }
      - think: 100ms
"""


def docs_queries():
    """The named SQL examples of docs/store.md: {name: sql}."""
    path = os.path.join(os.environ.get("HERD_SRC") or os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))), "docs", "store.md")
    with open(path) as f:
        text = f.read()
    out = {}
    for block in re.findall(r"```sql\n(.*?)```", text, re.S):
        m = re.match(r"-- (\w+):", block)
        if m:
            out[m.group(1)] = block
    return out


def test_offered_vs_achieved_sql():
    """Offered load (arrivals due, VU targets) beside the achieved, per interval, by the docs' SQL."""
    q = docs_queries()
    for name in ("offered", "vus", "steps", "timeouts"):
        check(name in q, "docs/store.md has no '-- %s:' query" % name)
    with SlowPool() as srv:
        r = run_herd(OFFERED_PLAN % srv.url, "--workers", "1", timeout=60)
    check(r.code == 0, "herd exited %d%s" % (r.code, r.tail()))
    run = one_run_id(r.db)
    con = sqlite3.connect(r.db)
    try:
        offered = con.execute(q["offered"], {"run": run, "scenario": "orders"}).fetchall()
        vus = con.execute(q["vus"], {"run": run, "scenario": "browse"}).fetchall()
        steps = con.execute(q["steps"], {"run": run, "name": "look"}).fetchall()
        tmo = con.execute(q["timeouts"], {"run": run}).fetchall()
    finally:
        con.close()
    note("offered per interval: %s", offered)
    note("vus per interval: %s", vus)
    # Arrivals due at k / 40 s for k = 0..119: 120 in all, 40 in each full
    # second; every one either started or was dropped, in its interval.
    total = sum(o[1] or 0 for o in offered)
    check(total == 120, "120 arrivals were due in 3 s at 40/s; offered says %d" % total)
    check(all((o[1] or 0) == (o[2] or 0) + (o[3] or 0) for o in offered),
          "offered == started + dropped in every interval: %s" % offered)
    # Two VUs holding each request 50 ms achieve at most 2 / 0.05 s = 40/s
    # minus their turnarounds: some arrivals are dropped, and the drops match
    # the export's dropped_iterations.
    dropped = sum(o[3] or 0 for o in offered)
    check(dropped == r.metric("dropped_iterations")["count"] if dropped else True,
          "dropped per interval %d != export %s" % (dropped, r.metric("dropped_iterations")))
    started = sum(o[2] or 0 for o in offered)
    check(started == sum(1 for e in srv.log if e[0] == "/hold"),
          "iterations started %d != the server's /hold requests" % started)
    # The closed model: the target rises to 6 and the active VUs follow it.
    check(max(v[1] or 0 for v in vus) == 6, "vus_target should reach 6: %s" % vus)
    # While the scenario runs (the target is 0 from its end, when the last
    # iterations may still be finishing), the VUs follow the target within
    # one VU (the gauges are read 10 ms apart at most).
    check(all(v[2] is not None and abs(v[2] - v[1]) <= 1 for v in vus if v[1]),
          "active VUs do not follow the target: %s" % vus)
    check(any(v[1] == 6 and v[2] == 6 for v in vus), "never 6 VUs active at target 6: %s" % vus)
    # Per-interval figures of one step add up to the run's, and its per
    # interval max is the run's max.
    look = r.metric("http_req_duration{name:look}") if "http_req_duration{name:look}" in \
        r.summary.get("metrics", {}) else None
    check(sum(s[1] for s in steps) == sum(1 for e in srv.log if e[0] == "/login"),
          "per-interval counts of 'look' %s != the server's /login requests" % steps)
    check(all(s[3] <= s[4] <= s[5] <= s[6] for s in steps), "p50 <= p95 <= p99 <= max: %s" % steps)
    check(all(s[7] == 2 for s in steps), "every 'look' got a 2xx: %s" % steps)
    if look is not None:
        check(abs(max(s[6] for s in steps) / 1000.0 - look["max"]) < 0.01,
              "max over intervals %s vs export %s" % (steps, look))
    check(tmo == [], "no request of this run timed out: %s" % tmo)


def test_offered_counts_every_dropped_arrival():
    """Drops in batches: every due arrival is offered once, started or dropped.

    One VU holding each request 50 ms starts at most 20 of the 100 arrivals
    due each second; the rest are dropped while it is busy, several at a time
    when it comes free. offered_iterations must still be the rate's integral.
    """
    plan = OFFERED_PLAN.split("  browse:")[0].replace("rate: 40", "rate: 100").replace(
        "preAllocatedVUs: 2\n    maxVUs: 2", "preAllocatedVUs: 1\n    maxVUs: 1")
    check("rate: 100" in plan and "maxVUs: 1\n" in plan, "plan not rewritten: %s" % plan)
    with SlowPool() as srv:
        r = run_herd(plan % srv.url, "--workers", "1", timeout=60)
    check(r.code == 0, "herd exited %d%s" % (r.code, r.tail()))
    offered = r.metric("offered_iterations")["count"]
    started = r.metric("iterations_started")["count"]
    drops = r.metric("dropped_iterations")["count"]
    served = sum(1 for e in srv.log if e[0] == "/hold")
    note("100/s for 3 s on one VU: offered %d, started %d (server %d), dropped %d",
         offered, started, served, drops)
    check(offered == 300, "300 arrivals were due in 3 s at 100/s; offered says %d" % offered)
    check(started == served, "iterations started %d != the server's /hold requests %d"
          % (started, served))
    check(started + drops == offered, "started %d + dropped %d != offered %d"
          % (started, drops, offered))
    check(drops > offered // 2, "one VU at 50 ms a request cannot start half of 100/s: dropped %d"
          % drops)


def test_vus_max_keeps_ended_workers():
    """vus_max: a worker that ended first still counts its VUs in the last interval."""
    plan = """name: workers
target: %s
scenarios:
  s:
    executor: per-vu-iterations
    vus: 2
    iterations: 1
    maxDuration: 10s
    flow:
      - { get: "/hold?vu={{ __VU }}", name: hold }
"""
    with SlowPool() as srv:
        r = run_herd(plan % srv.url, "--workers", "2", timeout=60)
    check(r.code == 0, "herd exited %d%s" % (r.code, r.tail()))
    vm = r.metric("vus_max")
    note("vus_max %s", vm)
    check(vm["value"] == 2 and vm["min"] == 2 and vm["max"] == 2,
          "two VUs (one per worker) were allocated throughout: vus_max %s" % vm)


def test_list_duration_is_the_summarys():
    """`herd results list` LOAD is the summary's duration (runs.duration_ms); WALL is labelled."""
    with SlowPool() as srv:
        r = run_herd(OFFERED_PLAN.split("  browse:")[0] % srv.url, timeout=60)
    check(r.code == 0, "herd exited %d%s" % (r.code, r.tail()))
    dur_ms = rows(r.db, "SELECT duration_ms FROM runs")[0][0]
    check(dur_ms is not None, "runs.duration_ms is NULL")
    code, out, err = run_cli("results", "list", "--db", r.db)
    check(code == 0, "results list exited %d: %s" % (code, err))
    head, line = out.splitlines()[0], out.splitlines()[1]
    check("LOAD" in head and "WALL" in head, "list header: %s" % head)
    cols = head.split()
    load = line.split()[cols.index("LOAD")]  # "STARTED (UTC)" is two words, as the date and time
    check(load == "%.1fs" % (dur_ms / 1000.0), "LOAD %s != duration_ms %d" % (load, dur_ms))
    summary = re.search(r"duration\.\.\.: (\S+)", r.stdout + rows(
        r.db, "SELECT summary_text FROM runs")[0][0])
    check(summary is not None, "no duration in the summary")
    check(abs(float(summary.group(1).rstrip("s")) - dur_ms / 1000.0) < 0.01,
          "summary duration %s vs duration_ms %d" % (summary.group(1), dur_ms))


def test_cluster_run_records_duration():
    """herd run --listen: runs.duration_ms is the load's duration, not NULL."""
    ab = agent_bin()
    check(ab is not None, "HERD_AGENT_BIN is not set")
    with SlowPool() as srv:
        plan = OFFERED_PLAN.split("  browse:")[0] % srv.url
        d, _, db, export, cmd = prepare_run(plan, ["--agents", "1", "--agents-wait", "20s",
                                                  "--quiet"])
        url = "ipc://%s/ctl.sock" % d
        cmd[-1:-1] = ["--listen", url]
        ctl = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=d)
        agent = subprocess.Popen([ab, "--controller", url, "--name", "remote"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=d)
        try:
            out, err = ctl.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            ctl.kill()
            out, err = ctl.communicate()
            raise Fail("the controller did not finish within 60 s: %s"
                       % err.decode(errors="replace")[-1500:])
        finally:
            if agent.poll() is None:
                agent.terminate()
                try:
                    agent.wait(10)
                except subprocess.TimeoutExpired:
                    agent.kill()
                    agent.wait()
    check(ctl.returncode == 0, "controller exited %d: %s"
          % (ctl.returncode, err.decode(errors="replace")[-1500:]))
    dur_ms = rows(db, "SELECT duration_ms FROM runs")[0][0]
    note("cluster run duration_ms %s", dur_ms)
    check(dur_ms is not None, "a cluster run stored NULL runs.duration_ms")
    check(2900 <= dur_ms <= 6000, "a 3 s plan's load lasted %d ms?" % dur_ms)


if __name__ == "__main__":
    main([
        test_timeouts_bounded_curl,
        test_timeouts_bounded_lean,
        test_connect_timeout_curl,
        test_connect_timeout_lean,
        test_offered_vs_achieved_sql,
        test_offered_counts_every_dropped_arrival,
        test_vus_max_keeps_ended_workers,
        test_list_duration_is_the_summarys,
        test_cluster_run_records_duration,
    ])
