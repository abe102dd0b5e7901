#!/usr/bin/env python3
"""The controller closes its listener promptly while remote agents are still
connected (they are daemons: they stay after the run). `herd run --listen URL
--agents 2` with two herd-agent processes dialing in, a short plan against
nginx on 127.0.0.1, repeated: every run must end without "the listener did not
close within ..." and the controller must exit soon after the agents' DONE.

The controller closes its socket before it prints the summary, so the time
measured is from the last agent's DONE (its log line, wall clock, same host)
to the controller's exit: it covers the close, the summary and the store.
NNG 1.5.2 can hang closing a connection on which a message is moving (see
cluster_close in controller/cluster.c). The controller used to answer the
held polls as it closed, so the agents polled again right into the close; in
about one run in six it then waited 3 s and gave up.

Everything is on 127.0.0.1 (ipc:// in a temp dir); each run is bounded by the
plan (2 VUs for 1 s) and by timeouts on every process.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/cluster_close_test.py [-k NAME]
"""

import datetime
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Fail, Nginx, TestPki, agent_bin, check, free_port, main,  # noqa: E402
                     missing, note, prepare_run)

RUNS_TCP = 10
RUNS_OTHER = 4
# From the last DONE to the controller's exit. A close that hangs costs 3 s.
EXIT_BOUND_S = 1.5
WARNING = "did not close within"


def plan_text(target):
    return """name: close
target: %s
scenarios:
  s:
    executor: constant-vus
    vus: 2
    duration: 1s
    flow:
      - get: /small
""" % target


def log_time(line):
    """The wall-clock time of a herd log line ("HH:MM:SS.mmm ..."), or None."""
    m = re.match(r"(\d\d):(\d\d):(\d\d)\.(\d\d\d) ", line)
    if not m:
        return None
    h, mi, s, ms = map(int, m.groups())
    now = datetime.datetime.now()
    t = now.replace(hour=h, minute=mi, second=s, microsecond=ms * 1000)
    if t > now + datetime.timedelta(hours=1):  # logged before midnight
        t -= datetime.timedelta(days=1)
    return t.timestamp()


def stop(procs):
    """SIGTERM to each (by pid), then waits up to 10 s for all; kills what is left."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def one_run(ng, url_in, ctl_args=(), agent_args=()):
    """One `herd run --listen URL --agents 2` (URL: url_in(the run's temp dir))
    with two agents that stay. Returns the controller's stderr and the seconds
    from the last agent's DONE to its exit."""
    ab = agent_bin()
    check(ab is not None, "HERD_AGENT_BIN is not set (path of the built herd-agent)")
    d, _, _, export, cmd = prepare_run(plan_text(ng.url), ["--agents", "2", "--agents-wait", "20s",
                                                          "--quiet"] + list(ctl_args))
    url = url_in(d)
    cmd[-1:-1] = ["--listen", url]  # before the plan, with the other flags
    ctl = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=d)
    agents, logs = [], []
    try:
        for i in range(2):
            log = os.path.join(d, "agent%d.log" % i)
            logs.append(log)
            with open(log, "w") as f:
                agents.append(subprocess.Popen([ab, "--controller", url, "--name", "a%d" % i]
                                               + list(agent_args), stdout=subprocess.DEVNULL,
                                               stderr=f, cwd=d))
        try:
            out, err = ctl.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            ctl.kill()
            out, err = ctl.communicate()
            raise Fail("the controller did not finish within 60 s (killed):\n%s"
                       % err.decode(errors="replace")[-1500:])
        t_exit = time.time()
    finally:
        if ctl.poll() is None:
            ctl.kill()
            ctl.wait()
        stop(agents)
    err = err.decode(errors="replace")
    check(ctl.returncode == 0, "controller exited %d:\n%s" % (ctl.returncode, err[-1500:]))
    check(os.path.exists(export), "no summary export written")
    done = []
    for log in logs:
        with open(log) as f:
            text = f.read()
        t = [log_time(line) for line in text.splitlines() if ": done, " in line]
        check(t and t[-1] is not None, "agent log has no DONE line:\n%s" % text[-1500:])
        done.append(t[-1])
    return err, t_exit - max(done)


def runs(n, url_in, ctl_args=(), agent_args=()):
    with Nginx() as ng:
        took = []
        for i in range(n):
            err, t = one_run(ng, url_in, ctl_args, agent_args)
            check(WARNING not in err, "run %d of %d: the controller could not close its "
                  "listener:\n%s" % (i + 1, n, err[-1500:]))
            check(t < EXIT_BOUND_S, "run %d of %d: the controller exited %.3f s after the last "
                  "DONE (bound %.1f s); earlier runs: %s" % (
                      i + 1, n, t, EXIT_BOUND_S, ", ".join("%.3f" % x for x in took)))
            took.append(t)
        note("%d runs: exit %.3f .. %.3f s after the last DONE", n, min(took), max(took))


def test_close_tcp():
    """tcp://127.0.0.1, RUNS_TCP runs: no close warning, exit < 1.5 s after DONE."""
    runs(RUNS_TCP, lambda d: "tcp://127.0.0.1:%d" % free_port())


def test_close_ipc():
    """ipc:// in a temp dir, RUNS_OTHER runs: the same."""
    runs(RUNS_OTHER, lambda d: "ipc://%s/ctl.sock" % d)


def test_close_tls():
    """tls+tcp://127.0.0.1 with mutual certificates, RUNS_OTHER runs: the same."""
    if not shutil.which("openssl"):
        missing("openssl", "apt-get install openssl")
    pki = TestPki()
    cert, key = pki.server("ctl", ["IP:127.0.0.1", "DNS:127.0.0.1"])
    agent_cert, agent_key = pki.client("agent")
    runs(RUNS_OTHER, lambda d: "tls+tcp://127.0.0.1:%d" % free_port(),
         ["--tls-cert", cert, "--tls-key", key, "--tls-ca", pki.ca],
         ["--tls-cert", agent_cert, "--tls-key", agent_key, "--tls-ca", pki.ca])


if __name__ == "__main__":
    main([test_close_tcp, test_close_ipc, test_close_tls])
