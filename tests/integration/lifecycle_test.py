#!/usr/bin/env python3
"""Life cycle of runs, agents and controllers: what happens when a process
goes away or is told to stop, against nginx on 127.0.0.1.

- A remote agent whose controller is killed (SIGKILL) mid-run and replaced at
  once by a new controller on the same address: the agent drops the old run
  and gives the new one its full load (herd's count == nginx's lines for the
  new run's path), with no sanitizer report and no crash (agent/link.c: the
  old run's batch in flight belongs to the sender thread; the old run's
  refusal never touches the new run).
- SIGHUP and SIGTERM to the controller, and SIGTERM to its whole process group
  (`timeout -s TERM`, a service manager's stop): a graceful stop, exit 105,
  summary printed, the run stored as `interrupted`, herd == nginx, and no
  local agent reported lost (local agents live in a session of their own and
  ignore those signals; their controller stops them).
- SIGTERM and SIGHUP to a remote agent: it stops its load, delivers its last
  batches and tells its controller, which reports "agent NAME stopped:
  SIGTERM", not "lost"; herd == nginx.
- A run left `running` by a controller killed with SIGKILL is marked
  `interrupted` the next time the store is opened, but never a run whose
  controller is still alive; the killed controller's local agents do not
  outlive it.

Sanitizer builds: every herd and herd-agent process's stderr is searched for
a sanitizer report. Every load is bounded by its plan (iterations or
duration) and by timeouts on every process; processes are stopped by PID.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/lifecycle_test.py [-k NAME]
"""

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Fail, Nginx, _herd_env, agent_bin, check, finish, free_port, main,  # noqa: E402
                     note, prepare_run, run_cli, start_herd)

SANITIZER = re.compile(r"(AddressSanitizer|LeakSanitizer|ThreadSanitizer|UndefinedBehaviorSanitizer"
                       r"|runtime error:)")


def plan(target, body, name="lifecycle"):
    out = ["name: %s" % name, "target: %s" % target, "scenarios:", "  s:"]
    out += ["    " + line for line in body.strip("\n").splitlines()]
    return "\n".join(out) + "\n"


# Long enough that every signal below lands mid-run; the runs end by signal.
LONG = """
executor: constant-vus
vus: 4
duration: 40s
flow:
  - get: /read
  - think: 10ms
"""

# The new controller's run: a fixed number of requests, so "full load" is a count.
FIXED_VUS, FIXED_ITERS = 4, 150
FIXED = """
executor: per-vu-iterations
vus: %d
iterations: %d
maxDuration: 60s
flow:
  - get: /write
  - think: 5ms
""" % (FIXED_VUS, FIXED_ITERS)


def no_sanitizer_report(text, who):
    m = SANITIZER.search(text)
    check(m is None, "%s printed a sanitizer report:\n%s" % (who, text[max(0, m.start() - 200):][:3000]
                                                            if m else ""))


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def wait_lines(ng, path, n, procs, limit=20):
    """Waits until nginx logged n requests for path; the processes must live."""
    deadline = time.monotonic() + limit
    while ng.access_log_lines(path=path, settle=False) < n:
        for who, p in procs:
            check(p.poll() is None, "%s exited %s before the signal" % (who, p.returncode))
        check(time.monotonic() < deadline, "nginx saw fewer than %d %s requests in %d s" % (n, path, limit))
        time.sleep(0.05)


def stop_by_pid(procs, sig=signal.SIGTERM, wait=15):
    """Signals each process still running (by pid), waits, kills what is left.
    Returns the exit codes."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(sig)
    deadline = time.monotonic() + wait
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout=max(0.1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            codes.append(None)
    return codes


class Agent:
    """A remote herd-agent dialing url, its log in dir/NAME.log."""

    def __init__(self, url, name, d, args=()):
        ab = agent_bin()
        check(ab is not None, "HERD_AGENT_BIN is not set (path of the built herd-agent)")
        self.name = name
        self.log = os.path.join(d, name + ".log")
        with open(self.log, "w") as f:
            self.proc = subprocess.Popen([ab, "--controller", url, "--name", name] + list(args),
                                         stdout=subprocess.DEVNULL, stderr=f, cwd=d,
                                         env=_herd_env(), start_new_session=True)

    def text(self):
        return read(self.log)


def controller(plan_text, url, agents, db=None, quiet=True):
    """Starts `herd run --listen url --agents N` (its own session); returns
    the Popen (finish() collects it)."""
    args = ["--listen", url, "--agents", str(agents), "--agents-wait", "20s"]
    return start_herd(plan_text, *args, db=db, quiet=quiet)


def db_rows(db, sql, *args):
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


# ---- a new controller on the same address, mid-run --------------------------

CYCLES = 3


def test_new_controller_mid_run():
    """Controller killed (SIGKILL) mid-run, a new one on the same tcp:// address
    at once, CYCLES times with one agent: each new run records its full load
    (herd == nginx == VUs x iterations), exit 0, the agent never crashes and
    prints no sanitizer report."""
    with Nginx() as ng:
        d, _, _, _, _ = prepare_run(None)
        url = "tcp://127.0.0.1:%d" % free_port()
        agent = Agent(url, "a1", d)
        try:
            for cycle in range(CYCLES):
                old = controller(plan(ng.url, LONG), url, 1)
                try:
                    before = ng.access_log_lines(path="/read", settle=False)
                    wait_lines(ng, "/read", before + 100, [("the first controller", old),
                                                          ("the agent", agent.proc)])
                finally:
                    os.kill(old.pid, signal.SIGKILL)
                    old.wait()
                writes_before = ng.access_log_lines(path="/write", settle=False)
                new = controller(plan(ng.url, FIXED), url, 1)
                r = finish(new, timeout=90)
                no_sanitizer_report(r.stderr, "the new controller")
                check(agent.proc.poll() is None, "cycle %d: the agent died (exit %s):\n%s"
                      % (cycle + 1, agent.proc.returncode, agent.text()[-3000:]))
                no_sanitizer_report(agent.text(), "the agent")
                n = ng.access_log_lines(path="/write") - writes_before
                note("cycle %d: new run exit %d, herd %d requests, nginx %d /write",
                     cycle + 1, r.code, r.count() if r.summary else -1, n)
                check(r.code == 0, "cycle %d: the new run exited %d%s\n--- agent ---\n%s"
                      % (cycle + 1, r.code, r.tail(), agent.text()[-2000:]))
                check(n == FIXED_VUS * FIXED_ITERS, "cycle %d: nginx saw %d /write, expected %d"
                      % (cycle + 1, n, FIXED_VUS * FIXED_ITERS))
                check(r.count() == n, "cycle %d: herd recorded %d requests, nginx saw %d%s\n"
                      "--- agent ---\n%s" % (cycle + 1, r.count(), n, r.tail(), agent.text()[-2000:]))
        finally:
            codes = stop_by_pid([agent.proc])
        no_sanitizer_report(agent.text(), "the agent")
        check(codes[0] == 0, "the agent exited %s on SIGTERM:\n%s" % (codes[0], agent.text()[-2000:]))


if __name__ == "__main__":
    main([test_new_controller_mid_run])
