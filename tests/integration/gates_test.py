#!/usr/bin/env python3
"""Gates that cannot be fooled: a run whose load was not (fully) applied or
not measured, or whose WebSocket sessions all failed, never exits 0, and a
results store that fills up stops the load at once.

Real processes only: herd with its local agents (killed by pid where a test
needs an agent lost), nginx (harness.Nginx) and the python3-websockets server
of ws_test.py, a 2 MiB tmpfs the test mounts (as root) for the full-disk
case. Each test asserts the exit code, the run's row in the store (sqlite3),
the summary text and the JSON export.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/gates_test.py [-k NAME]
"""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Fail, Nginx, Skip, check, finish, note, run_herd,  # noqa: E402
                     start_herd)
from ws_test import WsServer  # noqa: E402


def run_row(db):
    """(status, exit_code, degraded) of the one run in db."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT status, exit_code, degraded FROM runs").fetchall()
    finally:
        con.close()
    check(len(rows) == 1, "the store holds %d runs, expected 1" % len(rows))
    return rows[0]


def _ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        return int(st[st.rindex(")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def local_agent_pid(herd_pid, name, timeout=15.0):
    """The pid of herd's local agent `name` (local-1, ...): a herd-agent
    process started with --name name whose ancestor is herd_pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if not any(a.endswith(b"herd-agent") for a in argv[:1]):
                continue
            if b"--name" not in argv or argv[argv.index(b"--name") + 1] != name.encode():
                continue
            pid = int(d)
            for _ in range(8):
                pid = _ppid(pid)
                if pid == herd_pid:
                    return int(d)
                if pid <= 1:
                    break
        time.sleep(0.05)
    raise Fail("no local agent %s of herd %d within %.0f s" % (name, herd_pid, timeout))


def wait_assigned(db, n, timeout=20.0):
    """Waits until the run in db has n agents recorded (herd records them
    right after it sent their assignments)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            con = sqlite3.connect(db, timeout=1)
            try:
                got = con.execute("SELECT count(*) FROM run_agents").fetchone()[0]
            finally:
                con.close()
            if got >= n:
                return
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    raise Fail("herd did not assign %d agents within %.0f s" % (n, timeout))


def run_killing_agent(plan_text, agents, victim, delay, *args):
    """Runs plan_text on `agents` local agents (one worker each; more flags
    in args) and kills (SIGKILL) the local agent `victim` delay seconds after
    herd assigned them their load. Returns (HerdResult, store path, wall
    time of the kill)."""
    p = start_herd(plan_text, "--local-agents", str(agents), "--workers", "1", *args, quiet=True)
    db = p._herd_info[2]
    pid = local_agent_pid(p.pid, victim)
    wait_assigned(db, agents)
    time.sleep(delay)
    t_kill = time.time()
    os.kill(pid, signal.SIGKILL)
    return finish(p, 60), db, t_kill


# ---------------------------------------------------------------------------
# Degraded runs and runs that measured nothing.


LOST_PLAN = """
name: lost
target: %s
scenarios:
  s:
    executor: constant-vus
    vus: 4
    duration: 7s
    flow:
      - get: /delay50
"""


def test_agent_lost_exits_109():
    """Two local agents, local-2 killed (SIGKILL) 1.5 s into a 7 s run: the
    run goes on to its end with local-1 (nginx logs local-1's requests to
    the plan's end), then exits 109, not 0; the summary and the export say
    "degraded", the store has status failed, exit_code 109, degraded 1."""
    with Nginx() as ng:
        # The start is 0.5 s after the assignments.
        r, db, t_kill = run_killing_agent(LOST_PLAN % ng.url, 2, "local-2", 2.0)
        entries = ng.entries()
        check(r.code == 109, "herd exited %d after losing an agent, expected 109%s"
              % (r.code, r.tail()))
        check(re.search(r"status\.+: degraded \(", r.stdout),
              "the summary's status is not 'degraded (...)'%s" % r.tail())
        h = r.herd()
        check(h.get("status") == "degraded" and h.get("degraded") is True,
              "export: status %r degraded %r" % (h.get("status"), h.get("degraded")))
        check(run_row(db) == ("failed", 109, 1), "store row %r" % (run_row(db),))
        times = sorted(float(e["msec"]) for e in entries)
        check(times, "nginx logged nothing")
        after = [t for t in times if t > t_kill + 1.0]
        note("nginx: %d requests, %d of them more than 1 s after the kill; last %.2f s after "
             "the first", len(times), len(after), times[-1] - times[0])
        # The run went on: local-1 kept sending to the plan's 7 s end.
        check(times[-1] - times[0] >= 6.0,
              "requests stopped %.2f s after the first in a 7 s plan" % (times[-1] - times[0]))


def test_agent_lost_abort_exits_108():
    """The same loss under --on-agent-loss abort: the run stops when the loss
    is declared (nginx's last request long before the plan's 7 s end) and
    exits 108, not 109; the store says aborted, 108, degraded."""
    with Nginx() as ng:
        r, db, t_kill = run_killing_agent(LOST_PLAN % ng.url, 2, "local-2", 1.0,
                                          "--on-agent-loss", "abort")
        times = sorted(float(e["msec"]) for e in ng.entries())
        check(r.code == 108, "herd exited %d, expected 108%s" % (r.code, r.tail()))
        check(run_row(db) == ("aborted", 108, 1), "store row %r" % (run_row(db),))
        check(times and times[-1] - times[0] < 6.0,
              "requests went on for %.2f s of a 7 s plan after an abort"
              % ((times[-1] - times[0]) if times else 0))


def test_agents_lost_before_load_exits_107():
    """The only agent killed after its assignment but before its scenario's
    startTime (4 s): nothing reached nginx, and herd exits 107 ("no load"),
    not 0 with "passed (degraded)"; the store has status error and 107."""
    with Nginx() as ng:
        r, db, _ = run_killing_agent("""
name: noload
target: %s
scenarios:
  s:
    executor: constant-vus
    vus: 2
    startTime: 4s
    duration: 2s
    flow:
      - get: /small
""" % ng.url, 1, "local-1", 0)
        n = len(ng.entries())
        check(n == 0, "nginx logged %d requests; the agent was killed before its start" % n)
        check(r.code == 107, "herd exited %d with every agent lost before load, expected 107%s"
              % (r.code, r.tail()))
        check(re.search(r"status\.+: no load \(nothing was measured", r.stdout),
              "the summary's status is not 'no load (nothing was measured...)'%s" % r.tail())
        check(r.herd().get("status") == "no load", "export status %r" % r.herd().get("status"))
        check(run_row(db) == ("error", 107, 1), "store row %r" % (run_row(db),))


def test_nothing_measured_exits_107():
    """WebSocket sessions that hold far longer than their scenario (1 s,
    gracefulStop 0s) are cut at its end, so not one session or iteration is
    measured, though the server saw the sessions: exit 107, not 0."""
    with WsServer() as srv:
        r = run_herd("""
name: cut
target: %s
scenarios:
  s:
    executor: constant-vus
    vus: 3
    duration: 1s
    gracefulStop: 0s
    flow:
      - ws: /hold
        session:
          - hold: 30s
""" % srv.url, "--workers", "1", timeout=60)
        check(srv.sessions >= 1, "the server saw no session")
        check(r.code == 107, "herd exited %d though nothing was measured, expected 107%s"
              % (r.code, r.tail()))
        check(run_row(r.db)[:2] == ("error", 107), "store row %r" % (run_row(r.db),))
        note("server sessions %d; herd: exit %d, status %r", srv.sessions, r.code,
             r.herd().get("status"))


# ---------------------------------------------------------------------------
# A results store that fills up.

FILLER_KEEP = 640 * 1024  # bytes left free on the 2 MiB tmpfs when the run starts


def mount_small_tmpfs():
    if os.geteuid() != 0:
        raise Skip("mounting a tmpfs needs root")
    d = tempfile.mkdtemp(prefix="herd-full-")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", d],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        os.rmdir(d)
        raise Skip("cannot mount a tmpfs: %s" % p.stderr.decode(errors="replace").strip())
    return d


def umount(d):
    subprocess.run(["umount", d], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        os.rmdir(d)
    except OSError:
        pass


def test_store_full_stops_load():
    """The store on a 2 MiB tmpfs filled up (a filler file leaves 640 kB
    free) in a 40 s run with 40 step names (many series per second): herd
    stops the load at once (nginx's last request is long before the plan's
    end, and herd exits long before it), exits 103 with the reason on
    stderr, keeps what was committed (integrity ok), and marks the run
    'error' with 103 when the store takes it, or says that it could not."""
    d = mount_small_tmpfs()
    try:
        st = os.statvfs(d)
        with open(os.path.join(d, "filler"), "wb") as f:
            f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - FILLER_KEEP))
        steps = "\n".join("      - get: /small\n        name: step-%02d" % i for i in range(40))
        with Nginx() as ng:
            db = os.path.join(d, "herd.db")
            r = run_herd("""
name: full
target: %s
scenarios:
  s:
    executor: constant-vus
    vus: 4
    duration: 40s
    flow:
%s
      - think: 5ms
""" % (ng.url, steps), "--workers", "1", db=db, timeout=120)
            times = sorted(float(e["msec"]) for e in ng.entries())
            con = sqlite3.connect(db)
            try:
                integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
                row = con.execute("SELECT status, exit_code FROM runs").fetchone()
                stored = con.execute("SELECT count(*) FROM intervals").fetchone()[0]
            finally:
                con.close()
        span = times[-1] - times[0] if times else 0
        note("herd exit %d after %.1f s; nginx: %d requests over %.1f s; store: %d interval "
             "rows, run row %r", r.code, r.elapsed, len(times), span, stored, row)
        note("stderr: %s", r.stderr.strip().replace("\n", " | ")[:600])
        check(r.code == 103, "herd exited %d on a full store, expected 103%s" % (r.code, r.tail()))
        check("results store" in r.stderr and "full" in r.stderr,
              "stderr does not say the store is full%s" % r.tail())
        check(span < 20, "requests went on for %.1f s of a 40 s plan after the store filled"
              % span)
        check(r.elapsed < 30, "herd took %.1f s for a 40 s plan whose store filled" % r.elapsed)
        check(integrity == "ok", "integrity_check: %s" % integrity)
        check(stored > 0, "nothing was committed before the store filled")
        if row == ("error", 103):
            pass
        else:
            check(row[0] == "running" and "stays 'running'" in r.stderr,
                  "run row %r, and stderr does not say it could not be marked%s"
                  % (row, r.tail()))
    finally:
        umount(d)

# ---------------------------------------------------------------------------
# WebSocket runs whose sessions fail.

WS_PLAN = """
name: wsgate
target: %s
scenarios:
  s:
    executor: constant-vus
    vus: 10
    duration: 3s
    flow:
      - ws: %s
        name: chat
        session:
          - send: hi
          - expect: { contains: hi, within: %s }
          - think: 50ms
%s"""


def live_lines(stdout):
    return [l for l in stdout.splitlines() if re.match(r"\[\s*\d+s/\d+s\]", l)]


def test_ws_all_sessions_fail():
    """Every session's expect times out (the server never answers): no
    threshold in the plan, yet herd exits 99 (the default ws_session_failed
    'rate < 1' fails), not 0; ws_session_failed is 100% in the summary and
    the export; the expects count as failed checks named after the step;
    the scenario and agent tables' failed columns say 100.00%; the live line
    shows WebSocket figures, not '0 req/s'; the store says failed, 99."""
    with WsServer() as srv:
        r = run_herd(WS_PLAN % (srv.url, "/hold", "300ms", ""), "--workers", "1", quiet=False,
                     timeout=60)
        lines = live_lines(r.stdout)
        note("live: %s", lines[-1] if lines else "(none)")
        check(r.code == 99, "herd exited %d with every session failed, expected 99%s"
              % (r.code, r.tail()))
        m = r.metric("ws_session_failed")
        n = r.metric("ws_sessions")["count"]
        check(n > 0 and m["value"] == 1 and m["passes"] == n,
              "ws_session_failed %r with %d sessions" % (m, n))
        check(r.errors_by_kind().get("ws_expect_timeout") == n,
              "errors %r for %d sessions" % (r.errors_by_kind(), n))
        ck = r.summary["root_group"]["checks"].get('chat: expect contains "hi"')
        check(ck is not None and ck["fails"] == n and ck["passes"] == 0,
              "check 'chat: expect contains \"hi\"' %r (checks: %s)"
              % (ck, list(r.summary["root_group"]["checks"])))
        check(r.metric("checks")["value"] == 0, "checks %r" % r.metric("checks"))
        sc = r.herd()["scenarios"]["s"]
        check(sc.get("ws_sessions_failed") == n, "herd.scenarios.s %r" % sc)
        row = [l for l in r.stdout.splitlines() if re.match(r"  s\s+\d", l)]
        check(row and "100.00%" in row[0], "scenario row %r" % row)
        ag = [l for l in r.stdout.splitlines() if re.match(r"  local-1\s+done", l)]
        check(ag and "100.00%" in ag[0], "agent row %r" % ag)
        check(re.search(r"✗ 'rate < 1 \(default\)' rate=100\.00%", r.stdout),
              "no failed default threshold in the summary%s" % r.tail())
        check(lines and all("ws open=" in l and "req/s" not in l for l in lines),
              "live lines without WebSocket figures: %r" % lines)
        check(run_row(r.db)[:2] == ("failed", 99), "store row %r" % (run_row(r.db),))


def test_ws_echo_passes_with_thresholds():
    """The same plan against an echo server, with thresholds on
    ws_session_failed and checks: exit 0; every expect is a passed check
    under its own name; the live line shows open sessions, messages per
    second and an RTT p95."""
    th = ('thresholds:\n  ws_session_failed: ["rate < 0.01"]\n'
          '  "checks{check:echoed}": ["rate > 0.99"]\n')
    with WsServer() as srv:
        # An echo at once: 5 s is far beyond any answer, even on a busy machine.
        r = run_herd(WS_PLAN % (srv.url, "/now", "5s, name: echoed", th), "--workers", "1",
                     quiet=False, timeout=60)
        lines = live_lines(r.stdout)
        note("live: %s; errors %s", lines[-1] if lines else "(none)", r.errors_by_kind())
        check(r.code == 0, "herd exited %d%s" % (r.code, r.tail(3000)))
        n = r.metric("ws_sessions")["count"]
        m = r.metric("ws_session_failed")
        check(n > 0 and m["value"] == 0 and m["fails"] == n, "ws_session_failed %r, %d sessions"
              % (m, n))
        ck = r.summary["root_group"]["checks"].get("echoed")
        check(ck is not None and ck["passes"] >= n and ck["fails"] == 0, "check echoed %r" % ck)
        busy = [l for l in lines if re.search(r"ws open=[1-9]\d*\s+[1-9]\d* msg/s\s+rtt p95=\d", l)]
        check(busy, "no live line with open sessions, msg/s and an RTT p95: %r" % lines)


if __name__ == "__main__":
    from harness import main
    main([test_agent_lost_exits_109, test_agent_lost_abort_exits_108,
          test_agents_lost_before_load_exits_107,
          test_nothing_measured_exits_107, test_store_full_stops_load,
          test_ws_all_sessions_fail, test_ws_echo_passes_with_thresholds])
