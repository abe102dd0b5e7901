#!/usr/bin/env python3
"""Capacity planning, part A: a running scenario's load changed by the LOAD
wire message (driven by the HERD_TEST_LOAD_SCHEDULE test hook until the
breaking-point search exists), judged by nginx's own access log per second
over two local agents split 1:3 by weight; and `herd capacity fit` on a
ramping-vus run against a server of this test whose throughput follows the
Universal Scalability Law with known sigma and kappa.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/capacity_test.py [-k NAME]
"""

import collections
import os
import sqlite3
import sys

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
        for rate, lo, hi in levels:
            secs = [s for s in range(lo, hi) if s + 1 <= hi]
            got = sum(per_s[s] for s in secs)
            want = rate * len(secs)
            check(abs(got - want) <= 0.02 * want, "level %d/s: nginx saw %d requests in seconds %s, "
                  "want %d within 2%%" % (rate, got, secs, want))
            # Each agent: its share (1:3) of the level, within 2% (+1 for the edges).
            for agent, frac in (("0", 0.25), ("1", 0.75)):
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
                # VU ids: 10,000,000 per agent, so the block says which agent.
                a0 = sum(1 for v in got if v < 10000000)
                check(len(got) == vus and (a0, len(got) - a0) == split,
                      "second %d: %d distinct VUs (%d + %d), want %d (%d + %d)"
                      % (s, len(got), a0, len(got) - a0, vus, split[0], split[1]))
        for cmd, vus in ((c1 + t0, 8), (c2 + t0, 12)):
            got = set(int(e["arg_vu"]) for e in ents if cmd + 1.0 <= e["msec"] < cmd + 2.0)
            check(len(got) == vus, "1-2 s after the command for %d VUs nginx saw %d" % (vus, len(got)))


TESTS = [test_arrival_rate_follows_load_commands, test_vus_follow_load_commands]

if __name__ == "__main__":
    main(TESTS)
