#!/usr/bin/env python3
"""The run engine outlives a run's listener and agents (what `herd serve`
needs): tests/integration/engine_runs.c opens one store and one listener
on tcp://127.0.0.1:PORT, two real herd-agent processes dial in once, and
two different plans run one after the other through the engine over that
cluster. Each run's requests are counted by nginx, by the engine's results,
by its live window and by the ticks it reported, and the window holds both
agents' CPU; the agents are the same
processes (same pids, never restarted, never reconnected) in both runs."""

import os
import re
import sqlite3
import subprocess

from harness import Fail, Nginx, agent_bin, check, free_port, main, note, tmp_dir

PLAN = """name: {name}
scenarios:
  s:
    executor: per-vu-iterations
    vus: {vus}
    iterations: {iters}
    flow:
      - get: {url}{path}
      - think: 150ms
"""

LINE = re.compile(r"run (\d+) id=(\S+) code=(\d+) ticks=(\d+) tick_reqs=(\d+) window_reqs=(\d+) "
                  r"results_reqs=(\d+) cpu_agents=(\d+) joined=(\d+) idle_before=(\d+) states=(\S+) "
                  r"agents=(\S*)")


def runs_bin():
    b = os.environ.get("HERD_ENGINE_RUNS")
    if not b:
        raise Fail("HERD_ENGINE_RUNS is not set (path of the built engine_runs)")
    return b


def stop(procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def test_two_plans_over_one_cluster():
    """Two plans (2 VUs x 12 iterations of /read, then 4 VUs x 5 of /write)
    through one engine-driven listener with the same two agents: both pass,
    nginx == results == live window for each, ticks carried the window's
    data, the second run saw no agent join again, and both agents are the
    processes started once, still running."""
    ab = agent_bin()
    check(ab is not None, "HERD_AGENT_BIN is not set")
    d = tmp_dir("herd-engine-")
    with Nginx() as ng:
        plans = []
        for name, vus, iters, path in (("first", 2, 12, "/read"), ("second", 4, 5, "/write")):
            pp = os.path.join(d, name + ".yaml")
            with open(pp, "w") as f:
                f.write(PLAN.format(name=name, vus=vus, iters=iters, url=ng.url, path=path))
            plans.append(pp)
        url = "tcp://127.0.0.1:%d" % free_port()
        db = os.path.join(d, "herd.db")
        drv = subprocess.Popen([runs_bin(), url, db, "2"] + plans, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=d)
        agents = []
        try:
            check(drv.stdout.readline().strip() == "listening", "the driver did not listen")
            for i in range(2):
                with open(os.path.join(d, "agent%d.log" % i), "w") as log:
                    agents.append(subprocess.Popen([ab, "--controller", url, "--name", "a%d" % i,
                                                    "--workers", "1"], stdout=subprocess.DEVNULL,
                                                   stderr=log, cwd=d))
            try:
                out, err = drv.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                drv.kill()
                out, err = drv.communicate()
                raise Fail("the driver did not finish within 90 s:\n%s" % err[-1500:])
            alive = [a.poll() is None for a in agents]
        finally:
            if drv.poll() is None:
                drv.kill()
                drv.wait()
            stop(agents)
        check(drv.returncode == 0, "driver exited %d:\n%s\n%s" % (drv.returncode, out, err[-1500:]))
        runs = [LINE.match(line) for line in out.splitlines() if line.startswith("run ")]
        check(len(runs) == 2 and all(runs), "driver output:\n%s" % out)
        want = {"/read": 24, "/write": 20}
        pids = sorted(str(a.pid) for a in agents)
        for m, path in zip(runs, ("/read", "/write")):
            n, rid, code, ticks, tick_reqs, window, results, cpu, joined, idle, states, ags = m.groups()
            served = ng.access_log_lines(path=path)
            note("run %s %s: nginx %d, results %s, window %s, %s ticks with %s requests, "
                 "%s joined, %s idle before", n, path, served, results, window, ticks, tick_reqs,
                 joined, idle)
            check(code == "0", "run %s exit code %s" % (n, code))
            check(states == "joining,assigned,running,draining,done",
                  "run %s went through the states %s" % (n, states))
            check(served == want[path], "nginx saw %d requests of %s, the plan makes %d"
                  % (served, path, want[path]))
            check(int(results) == served and int(window) == served,
                  "run %s: results %s, window %s, nginx %d" % (n, results, window, served))
            check(int(ticks) >= 1 and 0 < int(tick_reqs) <= served,
                  "run %s: %s ticks carried %s requests" % (n, ticks, tick_reqs))
            check(cpu == "2", "run %s: the window holds %s agents' CPU in an interval, not 2" % (n, cpu))
            got = sorted(a.split(":")[1] for a in ags.split(","))
            check(got == pids, "run %s: agents %s, started %s" % (n, ags, pids))
            check(all(a.endswith(":joined") for a in ags.split(",")),
                  "run %s: agents not idle after the run: %s" % (n, ags))
        check(runs[1].group(9) == "0", "the second run saw agents join again: %s" % runs[1].group(9))
        check(runs[1].group(10) == "2", "before the second run %s agents were idle, not 2"
              % runs[1].group(10))
        check(all(alive), "an agent exited between or during the runs")
        con = sqlite3.connect(db)
        rows = con.execute("SELECT id, status, exit_code FROM runs ORDER BY started_at").fetchall()
        per_run = dict(con.execute("SELECT run_id, COUNT(*) FROM run_agents GROUP BY run_id").fetchall())
        con.close()
        check([r[1:] for r in rows] == [("passed", 0), ("passed", 0)], "runs in the store: %s" % rows)
        check(all(per_run.get(r[0]) == 2 for r in rows), "agents per run in the store: %s" % per_run)


if __name__ == "__main__":
    main([test_two_plans_over_one_cluster])
