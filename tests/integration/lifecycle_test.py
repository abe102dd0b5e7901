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
                     killed_on_exit, note, prepare_run, run_cli, start_herd)

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

    def wait(self, timeout):
        """Its exit status; a Fail with its log and its threads' stacks
        (gdb, when there) if it is still running after timeout seconds."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stacks = ""
            if shutil.which("gdb"):
                p = subprocess.run(["gdb", "-p", str(self.proc.pid), "-batch", "-ex", "thread apply all bt"],
                                   capture_output=True, text=True, timeout=60)
                stacks = "\n".join(l for l in p.stdout.splitlines() if l.startswith(("#", "Thread")))
            raise Fail("agent %s still running %g s after its signal; its log:\n%s\nits threads:\n%s"
                       % (self.name, timeout, self.text()[-3000:], stacks[-6000:]))


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


# ---- stop signals to the controller ------------------------------------------

def children(pid):
    """Pids of the processes pid's main thread started (herd forks its local
    agents from its main thread)."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        return st[st.rindex(")") + 2:].split()[0] != "Z"
    except OSError:
        return False


def local_agents(p, n, limit=15):
    """The pids of herd's n local agents, once all are started."""
    deadline = time.monotonic() + limit
    while True:
        kids = children(p.pid)
        if len(kids) >= n:
            return kids
        check(p.poll() is None, "herd exited %s before its agents started" % p.returncode)
        check(time.monotonic() < deadline, "herd started %d of %d local agents" % (len(kids), n))
        time.sleep(0.05)


def graceful_stop_checks(r, ng, what):
    """What a controller stopped by a signal owes: exit 105, the summary, the
    run stored as interrupted (not degraded), herd == nginx, no agent lost."""
    check(r.code == 105, "%s: herd exited %d, expected 105%s" % (what, r.code, r.tail()))
    check("http_reqs" in r.stdout, "%s: no summary on stdout%s" % (what, r.tail()))
    check(" lost" not in r.stderr, "%s: an agent was reported lost%s" % (what, r.tail()))
    no_sanitizer_report(r.stderr, "herd")
    rows = db_rows(r.db, "SELECT status, exit_code, degraded FROM runs")
    check(rows == [("interrupted", 105, 0)], "%s: stored runs %s, expected [('interrupted', 105, 0)]"
          % (what, rows))
    agents = db_rows(r.db, "SELECT name, status FROM run_agents ORDER BY name")
    check(agents and all(st == "done" for _, st in agents), "%s: agents stored as %s" % (what, agents))
    n = ng.access_log_lines()
    note("%s: exit %d, herd %d requests, nginx %d, agents %s", what, r.code, r.count(), n, agents)
    check(r.count() == n, "%s: herd recorded %d requests, nginx saw %d%s" % (what, r.count(), n, r.tail()))


def signal_controller(sig, agents_too=False):
    with Nginx() as ng:
        p = start_herd(plan(ng.url, LONG), "--local-agents", "2", "--workers", "1", quiet=True)
        with killed_on_exit(p):
            pids = local_agents(p, 2)
            wait_lines(ng, "/read", 100, [("herd", p)])
            os.kill(p.pid, sig)
            if agents_too:  # as a service manager signals every process of its unit
                for pid in pids:
                    os.kill(pid, sig)
            r = finish(p, timeout=30)
        graceful_stop_checks(r, ng, signal.Signals(sig).name + (" to all" if agents_too else ""))
        return r


def test_nohup_controller_keeps_running():
    """herd started with SIGHUP ignored (`nohup herd run`): a SIGHUP mid-run
    (its terminal went away) does not stop it: the run ends by itself, exit
    0, every request counted; a SIGTERM to another such herd still stops it
    gracefully (105)."""
    body = LONG.replace("duration: 40s", "duration: 4s")
    with Nginx() as ng:
        old = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # inherited, as nohup does
        try:
            p = start_herd(plan(ng.url, body), "--local-agents", "2", "--workers", "1", quiet=True)
        finally:
            signal.signal(signal.SIGHUP, old)
        with killed_on_exit(p):
            wait_lines(ng, "/read", 100, [("herd", p)])
            os.kill(p.pid, signal.SIGHUP)
            r = finish(p, timeout=40)
        check(r.code == 0, "herd under nohup exited %d after a SIGHUP%s" % (r.code, r.tail()))
        check("SIGHUP" not in r.stderr, "herd took the ignored SIGHUP%s" % r.tail())
        check(db_rows(r.db, "SELECT status FROM runs") == [("passed",)], "stored %s"
              % db_rows(r.db, "SELECT status FROM runs"))
        n = ng.access_log_lines()
        note("nohup: SIGHUP ignored, exit %d, herd %d requests, nginx %d", r.code, r.count(), n)
        check(r.count() == n, "herd recorded %d requests, nginx saw %d" % (r.count(), n))
    old = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        r = signal_controller(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGHUP, old)
    check("SIGTERM: stopping gracefully" in r.stderr, "no word of the SIGTERM%s" % r.tail())


def test_controller_sighup():
    """SIGHUP to herd (its terminal went away) mid-run: a graceful stop, exit
    105, summary, run stored interrupted, herd == nginx."""
    r = signal_controller(signal.SIGHUP)
    check("SIGHUP: stopping gracefully" in r.stderr, "no word of the SIGHUP%s" % r.tail())


def test_sigterm_to_controller_and_its_agents():
    """SIGTERM to herd and to each of its local agents at once (a service
    manager's stop signals every process of the unit): the agents stay until
    herd stops them; exit 105, no agent lost, herd == nginx."""
    signal_controller(signal.SIGTERM, agents_too=True)


def test_sigterm_while_waiting_for_agents():
    """SIGTERM to `herd run --listen` while it waits for agents that never
    come: it stops at once (not at the end of --agents-wait 20s), exit 105,
    the run stored as interrupted."""
    p = controller(plan("http://127.0.0.1:9", LONG), "tcp://127.0.0.1:%d" % free_port(), 1)
    with killed_on_exit(p):
        time.sleep(1.0)
        check(p.poll() is None, "herd exited %s while waiting for agents" % p.returncode)
        t0 = time.monotonic()
        os.kill(p.pid, signal.SIGTERM)
        r = finish(p, timeout=30)
        took = time.monotonic() - t0
    note("exit %d %.2f s after SIGTERM", r.code, took)
    no_sanitizer_report(r.stderr, "herd")
    check(r.code == 105, "herd exited %d, expected 105%s" % (r.code, r.tail()))
    check(took < 5, "herd took %.1f s to stop while waiting for agents" % took)
    rows = db_rows(r.db, "SELECT status, exit_code FROM runs")
    check(rows == [("interrupted", 105)], "stored runs %s" % rows)


def test_timeout_signals_the_group():
    """`timeout -s TERM --preserve-status 4s herd run --local-agents 2 ...`:
    timeout signals herd, then its whole process group; the local agents are
    in a session of their own, herd stops them: exit 105, no "agent local-1
    lost", the run interrupted but not degraded, herd == nginx."""
    timeout = shutil.which("timeout")
    check(timeout is not None, "coreutils' timeout is missing")
    with Nginx() as ng:
        d, _, db, export, cmd = prepare_run(plan(ng.url, LONG), ["--local-agents", "2", "--workers", "1",
                                                                 "--quiet"])
        t = subprocess.Popen([timeout, "-s", "TERM", "--preserve-status", "4s"] + cmd,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=d, env=_herd_env(),
                             start_new_session=True)
        t._herd_info = (d, cmd[-1], db, export, time.monotonic())
        with killed_on_exit(t):
            r = finish(t, timeout=40)
        check(ng.access_log_lines() >= 100, "too little load before the timeout to tell: %d requests"
              % ng.access_log_lines())
        graceful_stop_checks(r, ng, "timeout -s TERM")


# ---- stop signals to a remote agent ------------------------------------------

AGENT_PLAN = """
executor: constant-vus
vus: 4
duration: 20s
flow:
  - get: /read
  - think: 10ms
"""


def test_agent_stop_signals():
    """Two remote agents; SIGTERM to a1, then SIGHUP to a2, mid-run: each
    stops its load, delivers its last batches and exits 0; the controller
    says "agent a1 stopped: SIGTERM" and "agent a2 stopped: SIGHUP" (never
    "lost"), stores them as stopped and the run as degraded; herd == nginx."""
    with Nginx() as ng:
        d, _, _, _, _ = prepare_run(None)
        url = "tcp://127.0.0.1:%d" % free_port()
        ctl = controller(plan(ng.url, AGENT_PLAN), url, 2)
        agents = [Agent(url, "a1", d), Agent(url, "a2", d)]
        try:
            wait_lines(ng, "/read", 100, [("herd", ctl)] + [(a.name, a.proc) for a in agents])
            t0 = time.monotonic()
            agents[0].proc.send_signal(signal.SIGTERM)
            codes = [agents[0].wait(20)]
            took = time.monotonic() - t0
            wait_lines(ng, "/read", ng.access_log_lines(path="/read", settle=False) + 100,
                       [("herd", ctl), ("a2", agents[1].proc)])
            agents[1].proc.send_signal(signal.SIGHUP)
            codes.append(agents[1].wait(20))
            r = finish(ctl, timeout=40)
        finally:
            if ctl.poll() is None:
                os.kill(ctl.pid, signal.SIGKILL)
                ctl.wait()
            stop_by_pid([a.proc for a in agents], signal.SIGKILL)
        for a, code in zip(agents, codes):
            no_sanitizer_report(a.text(), a.name)
            check(code == 0, "%s exited %s after its signal:\n%s" % (a.name, code, a.text()[-2000:]))
        note("a1 left %.2f s after SIGTERM; herd exit %d", took, r.code)
        no_sanitizer_report(r.stderr, "herd")
        for name, sig in (("a1", "SIGTERM"), ("a2", "SIGHUP")):
            check("agent %s stopped: %s" % (name, sig) in r.stderr, "herd did not report %s stopped by %s%s"
                  % (name, sig, r.tail()))
        check(" lost" not in r.stderr, "an agent was reported lost%s" % r.tail())
        check(r.code not in (103, 105, 108), "herd exited %d: a stopped agent is neither a failed "
              "agent, an interrupted nor an aborted run%s" % (r.code, r.tail()))
        stored = db_rows(r.db, "SELECT name, status FROM run_agents ORDER BY name")
        check(stored == [("a1", "stopped"), ("a2", "stopped")], "agents stored as %s" % stored)
        check(db_rows(r.db, "SELECT degraded FROM runs") == [(1,)], "the run is not marked degraded")
        n = ng.access_log_lines()
        note("herd %d requests, nginx %d", r.count(), n)
        check(r.count() == n, "herd recorded %d requests, nginx saw %d%s" % (r.count(), n, r.tail()))


# ---- a killed controller's run and local agents ------------------------------

def test_killed_controller_run_marked_interrupted():
    """herd killed with SIGKILL mid-run: its local agents go with it (within
    3 s) and its run stays `running`; the next herd on the same store marks
    it `interrupted` at open, while that next run, alive, stays `running`
    (also through `herd results list`) until it ends."""
    with Nginx() as ng:
        first = start_herd(plan(ng.url, LONG), "--local-agents", "2", "--workers", "1", quiet=True)
        db = first._herd_info[2]
        try:
            pids = local_agents(first, 2)
            wait_lines(ng, "/read", 50, [("herd", first)])
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
        deadline = time.monotonic() + 3
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [pid for pid in pids if alive(pid)]
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        check(not left, "local agents %s outlived their controller (killed) by 3 s" % left)
        (killed_id, status), = db_rows(db, "SELECT id, status FROM runs")
        check(status == "running", "the killed run is stored as %r before the next open" % status)

        second = start_herd(plan(ng.url, LONG), "--local-agents", "1", "--workers", "1", db=db, quiet=True)
        with killed_on_exit(second):
            wait_lines(ng, "/read", ng.access_log_lines(path="/read", settle=False) + 50, [("herd", second)])
            rows = dict(db_rows(db, "SELECT id, status FROM runs"))
            check(rows.get(killed_id) == "interrupted", "after the next open the killed run is %r"
                  % rows.get(killed_id))
            live = [i for i in rows if i != killed_id]
            check(len(live) == 1 and rows[live[0]] == "running", "the live run is stored as %s" % rows)
            code, out, err = run_cli("results", "list", "--db", db)
            check(code == 0, "herd results list: exit %d: %s" % (code, err))
            rows = dict(db_rows(db, "SELECT id, status FROM runs"))
            check(rows[live[0]] == "running", "herd results list marked the live run %r" % rows[live[0]])
            events = db_rows(db, "SELECT run_id FROM events WHERE kind = 'interrupted'")
            check(events == [(killed_id,)], "interrupted events: %s" % events)
            os.kill(second.pid, signal.SIGINT)
            r = finish(second, timeout=30)
        check(r.code == 105, "the second run exited %d%s" % (r.code, r.tail()))
        rows = dict(db_rows(db, "SELECT id, status FROM runs"))
        note("stored: %s", rows)
        check(rows == {killed_id: "interrupted", live[0]: "interrupted"}, "stored runs: %s" % rows)


if __name__ == "__main__":
    main([test_new_controller_mid_run, test_controller_sighup, test_nohup_controller_keeps_running,
          test_sigterm_to_controller_and_its_agents,
          test_sigterm_while_waiting_for_agents, test_timeout_signals_the_group, test_agent_stop_signals,
          test_killed_controller_run_marked_interrupted])
