#!/usr/bin/env python3
"""Source-address pools (herd run / herd-agent --source-addresses): 30 VUs
over 127.0.0.2-127.0.0.4 (any 127.x address is loopback on Linux), checked
from the servers' own view of the client address: nginx's $remote_addr for
the libcurl and the lean HTTP/1.1 drivers, the websockets server's peer
address for ws sessions (a VU's HTTP requests and its sessions from the same
address). Each VU keeps one address, chosen round-robin by VU id
(VU 1 the first, VU 2 the second, ...), so 10 VUs use each address.
Refusals: a list that does not parse (herd exits 104, naming the item), an
address that is not on this host (192.0.2.1, TEST-NET-1: the agent only tries
bind() and refuses to start, naming it; no packet is sent), a target of the
other family (refused with the assignment), and, with the start-up check
skipped, the same address failing each connection as a source_address error,
logged once.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/srcaddr_test.py [-k NAME]
"""

import collections
import contextlib
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Nginx, agent_bin, check, free_port, main, note, run_herd  # noqa: E402
import ws_test  # noqa: E402  (its WebSocket server; importing it runs no test)

POOL = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
VUS = 30
FIELDS = ["remote_addr", "connection", "http_accept"]


def plan(target, flow, executor="executor: constant-vus\nvus: %d\nduration: 3s" % VUS):
    out = ["name: srcaddr", "target: %s" % target, "scenarios:", "  s:"]
    out += ["    " + line for line in executor.splitlines()]
    out += ["    flow:"] + ["      " + line for line in flow.strip("\n").splitlines()]
    return "\n".join(out) + "\n"


@contextlib.contextmanager
def env(**kv):
    """Sets environment variables for the herd runs inside (agents inherit them)."""
    old = {k: os.environ.get(k) for k in kv}
    os.environ.update(kv)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def expect_ok(r):
    check(r.code == 0, "herd exited %d%s" % (r.code, r.tail()))
    check(not r.errors_by_kind(), "errors: %s" % r.errors_by_kind())


def pool_of(vu):
    """The address VU vu (1-based) must use: round-robin by id."""
    return POOL[(vu - 1) % len(POOL)]


def vu_ids(per_addr_vus):
    """The VU ids seen, each checked to come from its one address."""
    for addr, vus in per_addr_vus.items():
        for vu in vus:
            check(pool_of(vu) == addr, "VU %d came from %s, want %s" % (vu, addr, pool_of(vu)))
    return sorted(v for vus in per_addr_vus.values() for v in vus)


def balanced(counts, what, rel=0.15):
    """Counts per address: exactly the pool, each within rel of their mean."""
    check(sorted(counts) == POOL, "%s came from %s, want exactly %s" % (what, sorted(counts), POOL))
    mean = sum(counts.values()) / len(POOL)
    for addr, n in counts.items():
        check(abs(n - mean) <= rel * mean, "%s from %s: %d, mean %.1f (more than %d%% off)"
              % (what, addr, n, mean, rel * 100))


def by_vu(entries, key):
    """{address: set of VU ids} and {VU id: set of addresses} of log entries
    whose URL carries vu=N."""
    addr_vus, vu_addrs = collections.defaultdict(set), collections.defaultdict(set)
    for path, addr in entries:
        m = re.search(r"vu=(\d+)", path)
        check(m is not None, "%s without a VU id: %r" % (key, path))
        vu = int(m.group(1))
        addr_vus[addr].add(vu)
        vu_addrs[vu].add(addr)
    for vu, addrs in vu_addrs.items():
        check(len(addrs) == 1, "VU %d's %s came from %d addresses: %s" % (vu, key, len(addrs),
                                                                         sorted(addrs)))
    return addr_vus


def test_curl_vus_spread_over_the_pool():
    """libcurl driver, 30 VUs for 3 s on /delay50 (so every VU keeps the same
    pace): nginx saw exactly the three pool addresses, 10 VUs each, every
    VU's requests from the address its id gives, requests per address within
    15% of their mean, herd's count equal to nginx's."""
    with Nginx(fields=FIELDS) as ng:
        r = run_herd(plan(ng.url, "- get: /delay50?vu={{ __VU }}"),
                     "--source-addresses", "127.0.0.2-127.0.0.4", "--http-driver", "curl", timeout=60)
        expect_ok(r)
        ng.settle()
        log = ng.entries()
        reqs = collections.Counter(e["remote_addr"] for e in log)
        addr_vus = by_vu([(e["args"], e["remote_addr"]) for e in log], "requests")
        note("curl: requests per address %s; VUs per address %s; herd %d, nginx %d",
             dict(sorted(reqs.items())), {a: len(v) for a, v in sorted(addr_vus.items())},
             r.count(), len(log))
        check(r.count() == len(log), "herd counted %d requests, nginx logged %d" % (r.count(), len(log)))
        check(len(vu_ids(addr_vus)) == VUS, "VUs seen: %s" % vu_ids(addr_vus))
        check(all(len(v) == VUS // len(POOL) for v in addr_vus.values()),
              "VUs per address %s, want 10 each" % {a: len(v) for a, v in addr_vus.items()})
        balanced(reqs, "requests")
        check(all(a.startswith("*/*") for a in (e["http_accept"] for e in log)),
              "a request without libcurl's Accept: */*")


def test_lean_connections_spread_over_the_pool():
    """The lean driver (a plain URL: it takes no templates, so VUs are told
    apart by their one keep-alive connection each): 30 connections, 10 from
    each pool address, every connection's requests from one address,
    requests per address within 15% of their mean."""
    with Nginx(fields=FIELDS) as ng:
        r = run_herd(plan(ng.url, "- get: /delay50"), "--http-driver", "lean",
                     "--source-addresses", "127.0.0.2-127.0.0.4", timeout=60)
        expect_ok(r)
        ng.settle()
        log = ng.entries()
        check(all(e["http_accept"] in ("", "-") for e in log),
              "an Accept header: the libcurl driver ran, not the lean one")
        reqs = collections.Counter(e["remote_addr"] for e in log)
        conn_addrs = collections.defaultdict(set)
        for e in log:
            conn_addrs[e["connection"]].add(e["remote_addr"])
        per_addr = collections.Counter(next(iter(a)) for a in conn_addrs.values())
        note("lean: requests per address %s; connections per address %s; herd %d, nginx %d",
             dict(sorted(reqs.items())), dict(sorted(per_addr.items())), r.count(), len(log))
        check(r.count() == len(log), "herd counted %d requests, nginx logged %d" % (r.count(), len(log)))
        check(all(len(a) == 1 for a in conn_addrs.values()), "a connection from two addresses")
        check(len(conn_addrs) == VUS, "%d connections for %d VUs" % (len(conn_addrs), VUS))
        check(sorted(per_addr.values()) == [10, 10, 10], "connections per address %s" % per_addr)
        balanced(reqs, "requests")


class WsServerFrom(ws_test.WsServer):
    """The ws test server, also recording (path, client address) of each session."""

    def __init__(self):
        super().__init__()
        self.peers = []

    async def _handler(self, ws, path):
        with self.lock:
            self.peers.append((path, ws.remote_address[0]))
        await super()._handler(ws, path)


def test_ws_and_http_of_a_vu_from_one_address():
    """Each of 30 VUs loops an HTTP request (libcurl, keep-alive) and a ws
    session that holds 500 ms: the server and nginx saw the VU's sessions and
    requests from the one address its id gives, 10 VUs per address, sessions
    per address within 15% of their mean, herd's session count the server's."""
    with Nginx(fields=FIELDS) as ng, WsServerFrom() as srv:
        ws_url = "ws://127.0.0.1:%d" % srv.port
        r = run_herd(plan(ng.url, """
- get: /small?vu={{ __VU }}
- ws: %s/hold?vu={{ __VU }}
  session:
    - hold: 500ms
    - close: 1000
""" % ws_url), "--source-addresses", "127.0.0.2-127.0.0.4", "--http-driver", "curl", timeout=60)
        expect_ok(r)
        ng.settle()
        log = ng.entries()
        check(srv.wait_ended(len(srv.peers)), "the server's sessions did not end")
        with srv.lock:
            peers = list(srv.peers)
        sessions = collections.Counter(a for _, a in peers)
        ws_vus = by_vu(peers, "sessions")
        http_vus = by_vu([(e["args"], e["remote_addr"]) for e in log], "requests")
        note("ws: sessions per address %s (herd %d, server %d); VUs per address %s",
             dict(sorted(sessions.items())), ws_test.metric_count(r, "ws_sessions"), len(peers),
             {a: len(v) for a, v in sorted(ws_vus.items())})
        check(ws_test.metric_count(r, "ws_sessions") == len(peers),
              "herd counted %d sessions, the server %d" % (ws_test.metric_count(r, "ws_sessions"),
                                                          len(peers)))
        check(len(vu_ids(ws_vus)) == VUS and len(vu_ids(http_vus)) == VUS, "not every VU was seen")
        check(dict(ws_vus) == dict(http_vus), "a VU's sessions and requests came from different "
              "addresses: ws %s, http %s" % (dict(ws_vus), dict(http_vus)))
        balanced(sessions, "sessions")


def run_agent(*args, timeout=20):
    """Runs herd-agent with args; (exit code, stderr). It never gets to dial."""
    p = subprocess.run([agent_bin(), "--controller", "ipc:///nonexistent/herd-srcaddr.sock"]
                       + list(args), capture_output=True, timeout=timeout)
    return p.returncode, p.stderr.decode(errors="replace")


def test_address_not_on_this_host_refused():
    """192.0.2.1 (TEST-NET-1) is on no interface here: herd-agent checks
    each address with bind() at start and refuses, naming it; herd run with
    local agents exits 103 at once with the agent's reason."""
    code, err = run_agent("--source-addresses", "127.0.0.2,192.0.2.1")
    check(code == 2, "herd-agent exited %d, want 2: %s" % (code, err))
    check("cannot bind 192.0.2.1" in err and "not an address of this host" in err,
          "no reason naming the address: %r" % err)
    with Nginx() as ng:
        r = run_herd(plan(ng.url, "- get: /small"), "--source-addresses", "192.0.2.1", timeout=30)
        check(r.code == 103, "herd exited %d, want 103%s" % (r.code, r.tail()))
        check("cannot bind 192.0.2.1" in r.stderr, "the agent's reason is not shown:%s" % r.tail())
        check(r.elapsed < 10, "herd took %.1f s to notice its agent had exited" % r.elapsed)
        check(ng.access_log_lines() == 0, "nginx got requests")


def test_bad_lists_refused():
    """Lists that do not parse: herd exits 104 and herd-agent 2, naming the item."""
    cases = [("127.0.0.9-127.0.0.2", "the range 127.0.0.9-127.0.0.2 runs backwards"),
             ("127.0.0.2,localhost", "'localhost' is not an IPv4 or IPv6 address"),
             ("127.0.0.2,::1", "'::1' is IPv6 but '127.0.0.2' is IPv4"),
             ("127.0.0.2,127.0.0.2", "127.0.0.2 is listed twice"),
             ("10.0.0.1-10.0.16.1", "more than 4096 addresses")]
    with Nginx() as ng:
        for lst, want in cases:
            r = run_herd(plan(ng.url, "- get: /small"), "--source-addresses", lst, timeout=30)
            check(r.code == 104, "%s: herd exited %d, want 104%s" % (lst, r.code, r.tail()))
            check(want in r.stderr, "%s: herd said %r, want %r" % (lst, r.stderr, want))
            code, err = run_agent("--source-addresses", lst)
            check(code == 2 and want in err, "%s: herd-agent exited %d: %r" % (lst, code, err))
        r = run_herd(plan(ng.url, "- get: /small"), "--source-addresses", "127.0.0.2",
                     "--listen", "tcp://127.0.0.1:1", timeout=30)
        check(r.code == 104 and "for the local agents" in r.stderr,
              "--source-addresses with --listen: exit %d%s" % (r.code, r.tail()))
        check(ng.access_log_lines() == 0, "nginx got requests")


def test_target_of_the_other_family_refused():
    """An IPv4 pool and an IPv6 target ([::1], nothing listening): the agent
    refuses the assignment before any load, herd exits 103 with the reason."""
    r = run_herd(plan("http://[::1]:%d" % free_port(), "- get: /small"),
                 "--source-addresses", "127.0.0.2", timeout=30)
    check(r.code == 103, "herd exited %d, want 103%s" % (r.code, r.tail()))
    check("is IPv6, and --source-addresses on this agent holds IPv4 addresses" in r.stderr,
          "no reason given:%s" % r.tail())


def test_unbindable_address_fails_each_connection():
    """With the start-up check skipped (HERD_SOURCE_CHECK_SKIP=1, for this
    test), 192.0.2.1 fails every connection at bind(), before any packet:
    each request and session is a source_address error (libcurl, lean and
    ws drivers), nginx sees nothing, and the agent logs the reason once."""
    flows = [("curl", "- get: /small", ("--http-driver", "curl")), ("lean", "- get: /small", ("--http-driver", "lean")),
             ("ws", "- ws: /hold\n  session:\n    - hold: 10ms", ())]
    with Nginx() as ng, env(HERD_SOURCE_CHECK_SKIP="1", HERD_AGENT_LOG_STDERR="1"):
        for name, flow, args in flows:
            r = run_herd(plan(ng.url, flow, "executor: per-vu-iterations\nvus: 3\niterations: 2"),
                         "--workers", "1", "--source-addresses", "192.0.2.1", *args, timeout=30)
            errs = r.errors_by_kind()
            note("%s: errors %s", name, errs)
            # Every ws session failed: the default ws_session_failed threshold fails (99).
            want = 99 if name == "ws" else 0
            check(r.code == want, "%s: herd exited %d, want %d%s" % (name, r.code, want, r.tail()))
            check(errs == {"source_address": 6}, "%s: errors %s, want 6 source_address" % (name, errs))
            lines = [ln for ln in r.stderr.splitlines() if "source address 192.0.2.1 cannot be bound" in ln]
            check(len(lines) == 1, "%s: %d log lines about the address, want 1:%s"
                  % (name, len(lines), r.tail()))
            check("Cannot assign requested address" in lines[0] if lines else False,
                  "%s: no reason in %r" % (name, lines))
        check(ng.access_log_lines() == 0, "nginx got requests")


if __name__ == "__main__":
    main([test_curl_vus_spread_over_the_pool, test_lean_connections_spread_over_the_pool,
          test_ws_and_http_of_a_vu_from_one_address, test_address_not_on_this_host_refused,
          test_bad_lists_refused, test_target_of_the_other_family_refused,
          test_unbindable_address_fails_each_connection])
