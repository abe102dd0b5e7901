#!/usr/bin/env python3
"""Open model: an arrival is dropped only when no VU is free when the agent
comes to it, not because the agent itself was away.

A gate server (asyncio, in this process, on 127.0.0.1) holds every request
until the test opens it, then answers held and later requests at once. A
constant-arrival-rate plan with few VUs fills them all while the gate is
shut, so arrivals are dropped (starved). The test then stops the agent
(SIGSTOP), opens the gate, so every VU's response arrives while the agent
cannot read it, and resumes it (SIGCONT) some seconds later. When it comes
back, every VU is in fact free: the arrivals that fell due while it was
stopped must be started (late, their latency counted from when they were
due), as many as there are VUs, not dropped. The old agent dropped them all
because no VU had been free at its last look.

The herd run is bounded by its plan (7 s) and a timeout; the agent is
always resumed, and its group killed by id if it outlives herd.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/openmodel_test.py [-k NAME]
"""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Fail, HerdResult, _herd_env, _kill_group, _load_export,  # noqa: E402
                     check, main, note, prepare_run, reap_group)

RATE = 15      # arrivals per second
VUS = 20       # preAllocatedVUs = maxVUs
RUN_S = 7      # the plan's duration
STOP_S = 2.0   # how long the agent is stopped (under the 3 s after which it gives up on its controller)


class GateServer:
    """HTTP/1.1 on 127.0.0.1:<free port>: holds each request until open()
    is called, then answers it (and every later one at once). Logs the
    monotonic arrival time of every request."""

    def __init__(self):
        self.port = None
        self.arrivals = []
        self._loop = None
        self._gate = None
        self._thread = None
        self._ready = threading.Event()
        self._stop = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def held(self):
        return len(self.arrivals)

    def open(self):
        self._loop.call_soon_threadsafe(self._gate.set)

    async def _handle(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                self.arrivals.append(time.monotonic())
                await self._gate.wait()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _main(self):
        self._gate = asyncio.Event()
        self._stop = asyncio.Event()
        srv = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=256)
        self.port = srv.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stop.wait()
        srv.close()

    def __enter__(self):
        def run():
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._main())
            self._loop.close()
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        check(self._ready.wait(10), "the gate server did not start")
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


def agent_pids(herd_pid):
    """The herd-agent processes herd run started (its children)."""
    try:
        with open("/proc/%d/task/%d/children" % (herd_pid, herd_pid)) as f:
            kids = [int(x) for x in f.read().split()]
    except OSError:
        return []
    out = []
    for k in kids:
        try:
            with open("/proc/%d/cmdline" % k, "rb") as f:
                if b"herd-agent" in f.read():
                    out.append(k)
        except OSError:
            pass
    return out


PLAN = """name: stall
target: %s
cookies: false
scenarios:
  open:
    executor: constant-arrival-rate
    rate: %d
    timeUnit: 1s
    duration: %ds
    preAllocatedVUs: %d
    maxVUs: %d
    gracefulStop: %s
    flow:
      - get: /g
"""


def run_stopped(srv, plan, wait_held, stop_after_s, stop_s):
    """Runs herd on plan (one worker); once the server has held wait_held
    requests and stop_after_s more seconds have passed, stops the agent
    for stop_s s, opening the gate just after it stopped. Returns (herd's
    result, the first request's arrival, SIGSTOP's and SIGCONT's times)."""
    d, plan_path, db, export_path, cmd = prepare_run(
        plan, ["--workers", "1", "--agent-loss-timeout", "20s", "--quiet"])
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=_herd_env(), cwd=d, start_new_session=True)
    stopped = []
    try:
        deadline = time.monotonic() + 30
        while srv.held() < wait_held and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.02)
        check(srv.held() >= wait_held, "%d requests did not reach the server (%d did)"
              % (wait_held, srv.held()))
        first = srv.arrivals[0]
        time.sleep(max(0.0, first + stop_after_s - time.monotonic()) if wait_held == 1
                   else stop_after_s)
        pids = agent_pids(p.pid)
        check(len(pids) == 1, "herd run's agent not found: %s" % pids)
        os.kill(pids[0], signal.SIGSTOP)
        stopped = pids
        t_stop = time.monotonic()
        srv.open()
        time.sleep(stop_s)
        t_cont = time.monotonic()
        os.kill(pids[0], signal.SIGCONT)
        stopped = []
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        _kill_group(p)
        out, err = p.communicate()
        raise Fail("herd did not finish within 60 s (killed)")
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
    res = HerdResult(p.returncode, out.decode(errors="replace"), err.decode(errors="replace"),
                     _load_export(export_path), d, plan_path, db, export_path,
                     time.monotonic() - t0)
    strays = reap_group(p)
    check(not strays, "herd's agents outlived it: %s" % strays)
    check(res.code == 0, "herd exited %d%s" % (res.code, res.tail()))
    return res, first, t_stop, t_cont


def test_stopped_agent_starts_owed_arrivals():
    """After the agent was away, the arrivals due meanwhile get every free VU."""
    with GateServer() as srv:
        # Every VU busy behind the gate, and starved for half a second.
        res, first, t_stop, t_cont = run_stopped(
            srv, PLAN % (srv.url, RATE, RUN_S, VUS, VUS, "2s"), VUS, 0.5, STOP_S)
        arrivals = list(srv.arrivals)
    # The arrivals due after the agent came back number at most RATE per
    # second from SIGCONT to the end of the plan, whose start is no later
    # than the first request the server saw: that is all the old agent
    # started once it was back. Every VU was free then, so at least VUS
    # arrivals owed from the stop must be started on top of those.
    after = sum(1 for t in arrivals if t >= t_cont)
    due_after = RATE * (first + RUN_S - t_cont) + 1
    offered = res.metric("offered_iterations")["count"]
    started = res.metric("iterations_started")["count"]
    dropped = res.metric("dropped_iterations")["count"]
    note("stopped %.2f s at +%.2f s; requests after SIGCONT %d (at most %.1f due after it);"
         " offered %d, started %d, dropped %d, server %d", t_cont - t_stop, t_stop - first,
         after, due_after, offered, started, dropped, len(arrivals))
    check(started == len(arrivals), "iterations started %d != requests the server saw %d"
          % (started, len(arrivals)))
    check(started + dropped == offered, "started %d + dropped %d != offered %d"
          % (started, dropped, offered))
    check(after >= due_after + VUS // 2,
          "after the stop only %d requests, about the %.1f due since: the %d VUs that came free"
          " did not serve the arrivals owed from the stop" % (after, due_after, VUS))


def test_hard_end_drops_arrivals_never_reached():
    """Arrivals the agent never came to before gracefulStop ran out are dropped, not lost."""
    rate, run_s = 100, 2
    with GateServer() as srv:
        srv.open()
        # Stopped 1 s into a 2 s plan for 2 s: back after its 0.5 s gracefulStop.
        res, first, t_stop, t_cont = run_stopped(
            srv, PLAN % (srv.url, rate, run_s, VUS, VUS, "500ms"), 1, 1.0, STOP_S)
        served = len(srv.arrivals)
    offered = res.metric("offered_iterations")["count"]
    started = res.metric("iterations_started")["count"]
    dropped = res.metric("dropped_iterations")["count"]
    note("stopped %.2f s at +%.2f s; offered %d, started %d, dropped %d, server %d",
         t_cont - t_stop, t_stop - first, offered, started, dropped, served)
    check(t_cont - first > run_s + 0.5, "the agent came back before its hard end (%.2f s)"
          % (t_cont - first))
    check(abs(offered - rate * run_s) <= 1, "%d arrivals were due in %d s at %d/s; offered %d"
          % (rate * run_s, run_s, rate, offered))
    check(started + dropped == offered, "started %d + dropped %d != offered %d"
          % (started, dropped, offered))
    check(started == served, "iterations started %d != requests the server saw %d"
          % (started, served))


if __name__ == "__main__":
    main([
        test_stopped_agent_starts_owed_arrivals,
        test_hard_end_drops_arrivals_never_reached,
    ])
