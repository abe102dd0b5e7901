#!/usr/bin/env python3
"""The controller serves many agents with a few threads, and merges every
batch once. `herd run --listen tcp://127.0.0.1:PORT --agents 200` with a
token, fed by bench/ingest_sim (200 simulated agents over the real protocol:
HELLO, CHALLENGE, AUTH, sealed requests, held polls, ASSIGN, READY, one
METRICS batch a second each, DONE).

The controller's threads are read from /proc/PID/status while the run goes:
they must stay under THREAD_BOUND. The controller used to start two handler
threads per agent (404 for 200 agents): each held a poll or a batch.

Merged once: the store's `batches` rows for the run, and the sum of its
`http_req_duration` counts, must equal what the simulator had ACKed, and it
must have ACKed every batch it was due (AGENTS x DURATION). The ACK goes out
only after a batch is stored (batches are merged in groups, one transaction
per group), so an ACKed batch missing from the store, or one stored twice,
fails this.

Everything is on 127.0.0.1; the run is bounded by its plan (DURATION s) and
every process by a timeout.

Run: HERD_BIN=... INGEST_SIM_BIN=... python3 tests/integration/ingest_test.py
"""

import os
import re
import secrets
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Fail, check, free_port, main, note, prepare_run  # noqa: E402

AGENTS = 200
SERIES = 5
DURATION = 8
COUNT = 3
# NNG's own threads (its task queues, resolver, reaper: a few per core), the
# cluster's workers, merger and holder, the run's own: far from 2 per agent.
THREAD_BOUND = 64


def sim_bin():
    b = os.environ.get("INGEST_SIM_BIN")
    if not b or not os.access(b, os.X_OK):
        raise Fail("INGEST_SIM_BIN must name bench/ingest_sim (built by meson)")
    return b


def threads_of(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def plan_text():
    # The plan only sets the run's length: the simulated agents send no traffic.
    return """name: ingest
target: http://127.0.0.1:9
scenarios:
  default:
    executor: constant-vus
    vus: %d
    duration: %ds
    gracefulStop: 0s
    flow:
      - get: /
""" % (AGENTS, DURATION)


def test_many_agents_few_threads():
    """200 agents: the controller's threads stay under THREAD_BOUND, every batch ACKed is stored once."""
    url = "tcp://127.0.0.1:%d" % free_port()
    d, _, db, _, cmd = prepare_run(plan_text(), ["--listen", url, "--agents", str(AGENTS), "--agents-wait", "60s",
                                                 "--quiet"])
    token = os.path.join(d, "token")
    with open(token, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    os.chmod(token, 0o600)
    cmd = cmd[:-1] + ["--token-file", token, cmd[-1]]
    herd_err = open(os.path.join(d, "herd.err"), "w")
    herd = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=herd_err)
    sim = None
    try:
        time.sleep(0.3)
        sim_out = os.path.join(d, "sim.out")
        with open(sim_out, "w") as so, open(os.path.join(d, "sim.err"), "w") as se:
            sim = subprocess.Popen([sim_bin(), url, token, str(AGENTS), str(SERIES), str(DURATION), str(COUNT)],
                                   stdout=so, stderr=se)
        most = 0
        samples = 0
        deadline = time.monotonic() + DURATION + 90
        while sim.poll() is None and time.monotonic() < deadline:
            n = threads_of(herd.pid)
            if n is not None:
                most = max(most, n)
                samples += 1
            time.sleep(0.2)
        check(sim.poll() is not None, "the simulator did not finish within %d s" % (DURATION + 90))
        rc_herd = herd.wait(timeout=60)
        with open(sim_out) as f:
            out = f.read()
        joined = re.search(r"^joined (\d+)", out, re.M)
        check(joined is not None and int(joined.group(1)) == AGENTS,
              "not every simulated agent joined: %r" % out[-500:])
        m = re.search(r"^sent .*\backed=(\d+) resent=(\d+) .*\brequests=(\d+)", out, re.M)
        check(m is not None, "the simulator printed no totals: %r" % out[-500:])
        acked, resent, reqs = int(m.group(1)), int(m.group(2)), int(m.group(3))
        note("controller threads: at most %d over %d samples; batches acked %d (resent %d), exit %s",
             most, samples, acked, resent, rc_herd)
        check(samples > 10, "too few samples of the controller's threads (%d)" % samples)
        check(most < THREAD_BOUND, "the controller ran %d threads for %d agents (bound %d)" %
              (most, AGENTS, THREAD_BOUND))
        check(acked == AGENTS * DURATION, "%d batches acked, %d due" % (acked, AGENTS * DURATION))
        con = sqlite3.connect(db)
        try:
            run_id = con.execute("SELECT id FROM runs ORDER BY rowid DESC LIMIT 1").fetchone()[0]
            stored = con.execute("SELECT count(*) FROM batches WHERE run_id = ?", (run_id,)).fetchone()[0]
            distinct = con.execute("SELECT count(DISTINCT agent_id || '/' || seq) FROM batches WHERE run_id = ?",
                                   (run_id,)).fetchone()[0]
            sreqs = con.execute("SELECT coalesce(sum(i.count), 0) FROM intervals i JOIN series_keys k"
                                " ON k.id = i.key_id WHERE k.run_id = ? AND k.metric = 'http_req_duration'",
                                (run_id,)).fetchone()[0]
        finally:
            con.close()
        note("store: %d batches (%d distinct), %d requests; the simulator: %d requests", stored, distinct, sreqs,
             reqs)
        check(stored == acked and distinct == acked, "store holds %d batches (%d distinct), %d acked" %
              (stored, distinct, acked))
        check(sreqs == reqs, "store counts %d requests, the simulator sent %d" % (sreqs, reqs))
        check(rc_herd == 0, "herd run exited %s" % rc_herd)
    finally:
        for p in (sim, herd):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        herd_err.close()


if __name__ == "__main__":
    main([test_many_agents_few_threads])
