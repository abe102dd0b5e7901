#!/usr/bin/env python3
"""Abort rules, the health guard and maxRate across hosts (issue 13, section
1): a controller in `ctl`, three herd-agent daemons in a1..a3 and nginx in
`web`, each in its own network namespace (tests/integration/netns.py). nginx
is a SwitchableWebNginx: /flaky answers 500 and /healthz 503 while a flag
file the test creates exists, and its log holds each request's source
address, $msec and $request_time, so what reached the target, from which
agent and when is read from the target's own log, and compared with the
breach or verdict stored by herd (the `abort` event in the store) and with
herd's counts per agent (the summary export). One run puts a3 behind a
proxy in its own namespace that delays its traffic with the controller
(netns.delay_proxy_main), as an agent far from the controller would be.

Needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN) and iproute2: when namespaces
cannot be made, every test is reported skipped with the reason. nginx and
the echo module are required (missing = failure).

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/netns_abort_test.py [-k NAME]
HERD_KEEP_TMP=1 keeps each test's directory (plan, store, nginx's log,
every process's output).

Loads are bounded: 3 agents, at most 60 requests/s open or 30 VUs under
maxRate 60, each run at most 40 s by its plan (the aborts end it after
about 10 s), all of it to 198.18.0.100 inside the test's own namespaces.
"""

import os
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import netns  # noqa: E402
from abort_test import agent_rows as abort_agent_rows, events, run_row  # noqa: E402
from cluster_netns_test import AGENTS, CTL_PORT, Checks, Cluster, agent_requests  # noqa: E402
from harness import Fail, Skip, check, main, note  # noqa: E402
from netns import HOSTS, Topology  # noqa: E402

# Load runs this long before nginx is switched (whole seconds of good traffic
# in the window first, so the rule fires on the switch, not on the start).
GOOD_S = 3.0


def need_namespaces():
    ok, why = netns.can_make_namespaces()
    if not ok:
        raise Skip(why)


def finish_aborted(cl, code, late=()):
    """Waits for the controller of a run that must abort with exit code
    `code`; returns (Checks with the exit code, the stored status and the
    agents' "done" rows checked, (at in s, message) of the one abort event).
    The agents in `late` may also be stored "ready": still delivering their
    batches when the controller stopped waiting for them."""
    cl.finish(timeout=40)
    c = Checks()
    c(cl.code == code, "the controller exited %s, expected %d%s" % (cl.code, code, cl.outputs()))
    row = run_row(cl.db)
    c(row == ("aborted", code), "stored %s / %s, expected aborted / %d" % (row + (code,)))
    ab = events(cl.db, "abort")
    check(len(ab) == 1, "abort events %r%s" % (ab, cl.outputs()))
    ag = abort_agent_rows(cl.db)
    c(len(ag) == 3 and all(st == "done" or (st == "ready" and n in late) for n, st, _ in ag),
      "run_agents %r" % (ag,))
    return c, ab[0]


def agent_records(ng):
    """{host: [records from its address]} for a1..a3."""
    recs = ng.records()
    return {h: [r for r in recs if r["addr"] == HOSTS[h]] for h in AGENTS}


def wait_agent_requests(ng, n, timeout=40.0):
    """Waits until nginx logged n requests from the agents, every agent
    among them (so the load runs everywhere before the switch)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        by = ng.by_addr()
        if sum(by.get(HOSTS[h], 0) for h in AGENTS) >= n and all(by.get(HOSTS[h]) for h in AGENTS):
            return
        time.sleep(0.05)
    raise Fail("nginx logged %s within %.0f s, expected %d requests from all of %s"
               % (ng.by_addr(), timeout, n, AGENTS))


def check_stopped_and_counted(c, cl, ng, at, what, budget=2.0):
    """Every agent's address is silent from at + budget s on (and stays so
    after the run), every agent's count in herd equals nginx's from its
    address; returns ({host: its records}, {host: its last request's msec})."""
    ng.settle()
    time.sleep(1.0)  # the agents stay connected: anything more would show now
    recs = agent_records(ng)
    rows = cl.agent_rows()
    c(sorted(rows) == list(AGENTS), "herd.agents has %s" % sorted(rows))
    lasts = {}
    for h in AGENTS:
        c(recs[h], "nginx logged nothing from %s (%s)" % (h, HOSTS[h]))
        if not recs[h]:
            continue
        lasts[h] = max(r["msec"] for r in recs[h])
        c(lasts[h] - at <= budget, "%s's last request reached nginx %.3f s after %s (at most "
          "%.2f s)" % (h, lasts[h] - at, what, budget))
        if h in rows:
            c(agent_requests(rows[h]) == len(recs[h]), "agent %s: herd counted %s requests, "
              "nginx logged %d from %s" % (h, agent_requests(rows[h]), len(recs[h]), HOSTS[h]))
    return recs, lasts


ARRIVAL_PLAN = """name: netns-abort
target: http://%s:%d
%s
scenarios:
  s:
    executor: constant-arrival-rate
    rate: 60
    duration: 40s
    preAllocatedVUs: 9
    flow:
      - get: %s
%s"""

WINDOW_S, DELAY_S = 5, 2
SLOW_MS = 300
VERY_SLOW_MS = 800


def window_abort(slow_ms=0, budget=2.0):
    """The window rule run of test_window_rule_aborts_three_agents; with
    slow_ms, a3 talks to the controller through a proxy in its namespace that
    holds every byte slow_ms each way (its path to nginx is not slowed).
    budget: from the breach to the last request at nginx, in s."""
    need_namespaces()
    th = ("thresholds:\n  http_req_failed:\n    - { threshold: \"rate < 0.05\", abortOnFail: true, "
          "window: %ds, delayAbortEval: %ds }\n" % (WINDOW_S, DELAY_S))
    with Topology() as topo:
        ng = netns.SwitchableWebNginx(topo).start()
        cl = Cluster(topo, ng)
        cl.start_controller(ARRIVAL_PLAN % (HOSTS["web"], netns.WEB_PORT, "", "/flaky", th))
        for h in AGENTS:
            extra = []
            if slow_ms and h == "a3":
                topo.start_delay_proxy(h, CTL_PORT + 1, "ctl", CTL_PORT, slow_ms)
                extra = ["--controller", "tcp://127.0.0.1:%d" % (CTL_PORT + 1)]
            cl.start_agent(h, extra=extra)
        wait_agent_requests(ng, int(60 * GOOD_S))
        ng.set_flag("fail", True)
        c, (breach, msg) = finish_aborted(cl, 99, late=("a3",) if budget > 2.0 else ())
        want = "http_req_failed: rate < 0.05' failed over the last %d s: " % WINDOW_S
        c(want in msg, "abort event %r does not name the rule (%r)" % (msg, want))
        value = float(msg.split(want)[1].split()[0]) if want in msg else float("nan")
        c(value >= 0.05, "the failing window's value %r is not above the limit" % value)
        c("run aborted" in cl.ctl.text() and want in cl.ctl.text(), "the controller did not say "
          "which rule aborted the run%s" % cl.outputs())
        hs = cl.herd_section()
        c(hs.get("status") == "aborted" and want in (hs.get("reason") or ""),
          "export herd.status %r, herd.reason %r" % (hs.get("status"), hs.get("reason")))
        recs, lasts = check_stopped_and_counted(c, cl, ng, breach, "the breach", budget)
        allr = [r for h in AGENTS for r in recs[h]]
        fails = [r["msec"] for r in allr if r["status"] == 500]
        check(fails, "nginx never answered 500 to an agent%s" % cl.outputs())
        first_500 = min(fails)
        last = max(lasts.values()) if lasts else float("nan")
        note("first 500 at nginx %.3f, breach %.3f (+%.3f s), value %.4g; last request "
             "+%.3f s after the breach (per agent %s); nginx %s, herd %d",
             first_500, breach, breach - first_500, value, last - breach,
             {h: round(t - breach, 3) for h, t in lasts.items()}, ng.by_addr(), cl.count())
        c(breach >= first_500 - 1.0, "the breach %.3f precedes nginx's first 500 (%.3f) by over "
          "one interval" % (breach, first_500))
        c(last - first_500 <= WINDOW_S + DELAY_S + 2.0, "the last request reached nginx %.3f s "
          "after the first 500 (window %d s + delay %d s + 2 s)" % (last - first_500, WINDOW_S, DELAY_S))
        if slow_ms:
            # The start instant comes in the ASSIGN: the slow agent may read
            # it up to one round trip of its link late, not more.
            first = {h: min(r["msec"] - r["request_time"] for r in recs[h]) for h in AGENTS if recs[h]}
            late = first.get("a3", 0) - min(first.values()) if first else 0
            note("first request per agent (arrival at nginx) +%s s; a3 %.3f s late; its "
                 "link's round trip %.3f s", {h: round(t - min(first.values()), 3)
                                              for h, t in first.items()}, late, 2 * slow_ms / 1000)
            c(late <= 2 * slow_ms / 1000, "a3 (slow link) began %.3f s after the first agent, "
              "over one round trip of its link (%.3f s)" % (late, 2 * slow_ms / 1000))
        c.done()


def test_window_rule_aborts_three_agents():
    """60 requests/s over 3 agents to /flaky; after GOOD_S s of 200s nginx
    answers 500 (flag file); the rule http_req_failed `rate < 0.05` over a
    5 s window (abortOnFail, delayAbortEval 2s) fires: exit 99, stored
    aborted with the rule and its value, every agent stopped (its address
    silent in nginx's log from the breach + 2 s on, its run_agents row
    "done"), the last request within 2 s of the breach (the abort event) and
    within window + delay + 2 s of nginx's first 500; herd's count per agent
    equals nginx's per source address."""
    window_abort()


def test_window_rule_aborts_slow_agent():
    """As test_window_rule_aborts_three_agents, with a3 talking to the
    controller over a 600 ms round trip (a proxy in a3's namespace holds
    every byte 300 ms each way; its path to nginx is not slowed): the
    controller waits for a3's batch of the failing interval, a3 reads the
    STOP up to a round trip later, and still every agent is silent from the
    breach + 2 s on. a3 also starts with the others, at most one round trip
    of its link late (it used to read its start instant only after 8 clock
    rounds: 1.3 s late here, 3.6 s at a 800 ms round trip)."""
    window_abort(SLOW_MS)


def test_window_rule_aborts_very_slow_agent():
    """a3's link to the controller has a 1.6 s round trip (800 ms each way):
    no controller can stop it within 2 s of the breach then (it waits up to
    ABORT_GRACE_MS, 1 s, for a3's batch of the failing interval, and a STOP
    queued just after a poll was answered reaches a3 1.5 round trips later),
    so the bound is 1 s + 1.5 x 1.6 s + 0.5 s (the processes' own delays
    on a busy machine) = 3.9 s; a3 must get the STOP, and herd's counts still
    equal nginx's. The agent used to give up every poll after what was left
    of its 3 s loss limit (batch acks kept the controller "heard") while a
    poll takes 1 s held + 1.6 s there and back: the controller answered the
    abandoned poll with the STOP, which was lost, and a3 sent load for 14 s
    after the breach, until the controller had exited, herd counting 200 of
    the 402 requests nginx logged from it.
    a3 sends one batch per round trip, slower than one per second: the
    controller, which waits 5 s for the agents after an abort, may end the
    run before a3's DONE (stored "ready"), with every batch in."""
    rtt = 2 * VERY_SLOW_MS / 1000
    window_abort(VERY_SLOW_MS, budget=1.0 + 1.5 * rtt + 0.5)


GUARD_PLAN = """
guards:
  health: { url: "http://%s:%d/healthz", every: 1s, failures: 2, timeout: 500ms }"""


def test_health_guard_aborts_three_agents():
    """A health URL in the web namespace (/healthz) turns 503 after GOOD_S s
    of a 40 s run over 3 agents on /delay50; the guard (every 1s, failures
    2) aborts: exit 111, stored aborted with the guard's reason, every agent
    silent in nginx's log from the guard's verdict (its abort event) + 2 s
    on, and from nginx's second 503 to the controller + 2 s. The 50 ms
    answers keep about one request per agent in flight when the STOP comes:
    herd's count per agent must still equal nginx's (the agents used to drop
    those requests uncounted although nginx had served them)."""
    need_namespaces()
    with Topology() as topo:
        ng = netns.SwitchableWebNginx(topo).start()
        cl = Cluster(topo, ng)
        guard = GUARD_PLAN % (HOSTS["web"], netns.WEB_PORT)
        cl.start_controller(ARRIVAL_PLAN % (HOSTS["web"], netns.WEB_PORT, guard, "/delay50", ""))
        cl.start_agents()
        wait_agent_requests(ng, int(60 * GOOD_S))
        t_bad = ng.set_flag("unhealthy", True)
        c, (verdict, msg) = finish_aborted(cl, 111)
        c("health guard" in msg and "HTTP 503" in msg and "/healthz" in msg,
          "abort event %r does not name the guard and its failure" % msg)
        recs, lasts = check_stopped_and_counted(c, cl, ng, verdict, "the guard's verdict")
        checks = [r for r in ng.records() if r["addr"] == HOSTS["ctl"] and r["uri"] == "/healthz"]
        bad = [r["msec"] for r in checks if r["status"] == 503]
        c(len(bad) == 2, "nginx logged %d failed health checks from the controller, expected 2 "
          "(then it stops checking)" % len(bad))
        last = max(lasts.values()) if lasts else float("nan")
        if bad:
            c(last - bad[-1] <= 2.0, "the last request reached nginx %.3f s after the guard's last "
              "failed check there" % (last - bad[-1]))
        note("unhealthy at %.3f; failed checks at nginx +%s s; verdict +%.3f s; last request "
             "+%.3f s after the verdict (per agent %s); %d health checks; nginx %s, herd %d",
             t_bad, [round(t - t_bad, 3) for t in bad], verdict - t_bad, last - verdict,
             {h: round(t - verdict, 3) for h, t in lasts.items()}, len(checks), ng.by_addr(),
             cl.count())
        c.done()


CAP = 60
CAP_PLAN = """name: netns-cap
target: http://%s:%d
maxRate: %d
scenarios:
  c:
    executor: constant-vus
    vus: 30
    duration: 6s
    flow:
      - get: /small
"""


def test_max_rate_three_agents():
    """30 closed VUs without think time over 3 agents under maxRate 60: in
    no whole second of nginx's log (by arrival, $msec - $request_time, summed
    over the 3 agents' addresses) more than 60 requests; the cap is used
    (every full second at least 80% of it, every agent sending); herd's
    counts per agent equal nginx's."""
    need_namespaces()
    with Topology() as topo:
        ng = netns.SwitchableWebNginx(topo).start()
        cl = Cluster(topo, ng)
        cl.start_controller(CAP_PLAN % (HOSTS["web"], netns.WEB_PORT, CAP))
        cl.start_agents()
        cl.finish(timeout=40)
        c = Checks()
        c(cl.code == 0, "the controller exited %s, expected 0%s" % (cl.code, cl.outputs()))
        ng.settle()
        recs = agent_records(ng)
        rows = cl.agent_rows()
        for h in AGENTS:
            c(recs[h] and h in rows and agent_requests(rows[h]) == len(recs[h]),
              "agent %s: herd counted %s, nginx logged %d from %s" % (
                  h, agent_requests(rows[h]) if h in rows else None, len(recs[h]), HOSTS[h]))
        per_s = Counter(int(r["msec"] - r["request_time"]) for h in AGENTS for r in recs[h])
        secs = sorted(per_s)
        full = [per_s[s] for s in secs[1:-1]]
        capped = (cl.summary or {}).get("metrics", {}).get("rate_capped", {})
        note("per second (3 agents) %s; per agent %s; rate_capped %s",
             [per_s[s] for s in secs], {h: len(recs[h]) for h in AGENTS}, capped.get("count"))
        c(per_s and max(per_s.values()) <= CAP, "a second of nginx's log holds %d requests > "
          "maxRate %d: %s" % (max(per_s.values() or [0]), CAP, [per_s[s] for s in secs]))
        c(full and min(full) >= 0.8 * CAP, "the full seconds hold %s: the cap was not used" % full)
        c.done()


if __name__ == "__main__":
    netns.sigterm_to_exit()
    main([test_window_rule_aborts_three_agents, test_window_rule_aborts_slow_agent,
          test_window_rule_aborts_very_slow_agent, test_health_guard_aborts_three_agents,
          test_max_rate_three_agents])
