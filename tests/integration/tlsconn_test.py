#!/usr/bin/env python3
"""The lean driver's TLS object per VU, reused from one connection to the
next (agent/tlsossl.c: SSL_clear between connections rather than a new SSL
object each time): what one connection set up must not leak into the next.
Held to nginx's own access logs ($ssl_server_name, $ssl_session_reused,
$connection) with certificates made here with openssl:

- a VU alternating between a host name and an address, each server's
  certificate naming only the one it is asked for: SNI on the name's
  connections only, and each certificate checked against its own name, so
  a name (or an address) left over from the previous connection would
  refuse it;
- a refused certificate between two accepted ones: the refusal is a `tls`
  error, and the connections after it verify, resume and succeed as before;
- a handshake cut short by its timeout (a peer that never answers), then
  connections that succeed and resume.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/tlsconn_test.py [-k NAME]
"""

import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from drivers_test import accept_proves, expect_code, expect_pick, plan, run_on  # noqa: E402
from harness import TestPki, check, main, note  # noqa: E402
from lean_tls_test import SilentThenGarbage, tls_nginx  # noqa: E402


def steps(vus, iterations, urls, timeout="5s"):
    """A per-vu-iterations body whose flow gets each URL in turn."""
    flow = "".join("  - get: %s\n    redirects: 0\n    timeout: %s\n" % (u, timeout) for u in urls)
    return ("executor: per-vu-iterations\nvus: %d\niterations: %d\nmaxDuration: 60s\nflow:\n%s"
            % (vus, iterations, flow))


def head_ca(pki):
    return "cookies: false\ntls: { ca: %s }" % pki.ca


def test_name_and_address_alternate():
    """2 VUs x 3 iterations of two steps: https://localhost (a certificate
    for DNS:localhost only) then https://127.0.0.1 (IP:127.0.0.1 only), each
    on a new connection (/close). All 12 succeed: nginx A logs 6 with SNI
    localhost, nginx B 6 with no SNI, 12 connections in all."""
    pki = TestPki()
    by_name = pki.server("byname", ["DNS:localhost"])
    by_addr = pki.server("byaddr", ["IP:127.0.0.1"])
    with tls_nginx(by_name) as a, tls_nginx(by_addr) as b:
        urls = ["https://localhost:%d/close" % a.port, "https://127.0.0.1:%d/close" % b.port]
        r = run_on("lean", plan(urls[0], {"s": steps(2, 3, urls)}, head=head_ca(pki)), timeout=90)
        expect_code(r, 0)
        expect_pick(r, "s", "lean", [])
        check(not r.errors_by_kind() and r.count() == 12, "errors %s, count %d%s"
              % (r.errors_by_kind(), r.count(), r.tail()))
        a.settle()
        b.settle()
        ea, eb = a.entries(), b.entries()
        accept_proves(ea + eb, "lean")
        check(len(ea) == 6 and all(e["status"] == 200 for e in ea), "nginx A logged %s"
              % collections.Counter(e["status"] for e in ea))
        check(len(eb) == 6 and all(e["status"] == 200 for e in eb), "nginx B logged %s"
              % collections.Counter(e["status"] for e in eb))
        check({e["ssl_server_name"] for e in ea} == {"localhost"}, "SNI at A: %s"
              % {e["ssl_server_name"] for e in ea})
        check({e["ssl_server_name"] for e in eb} <= {"", "-"}, "SNI at B (an address): %s"
              % {e["ssl_server_name"] for e in eb})
        check(len({e["connection"] for e in ea}) == 6 and len({e["connection"] for e in eb}) == 6,
              "connections: A %d, B %d" % (len({e["connection"] for e in ea}),
                                           len({e["connection"] for e in eb})))


def test_refusal_between_acceptances():
    """1 VU x 3 iterations of three steps, each on a new connection:
    https://localhost (accepted), the same name on a server whose
    certificate is for wrong.test only (refused: `tls`, nothing logged
    there), https://localhost again (accepted). 6 requests reach nginx A,
    all 200, SNI localhost; 3 `tls` errors; and each iteration's first
    connection to A after the first iteration resumes the session of the
    previous one ($ssl_session_reused: . . r . r .)."""
    pki = TestPki()
    good = pki.server("good", ["DNS:localhost"])
    wrong = pki.server("wrong", ["DNS:wrong.test"])
    with tls_nginx(good) as a, tls_nginx(wrong) as w:
        ua, uw = "https://localhost:%d/close" % a.port, "https://localhost:%d/close" % w.port
        r = run_on("lean", plan(ua, {"s": steps(1, 3, [ua, uw, ua])}, head=head_ca(pki)), timeout=90)
        expect_code(r, 0)
        expect_pick(r, "s", "lean", [])
        check(r.errors_by_kind() == {"tls": 3}, "errors %s, expected tls 3%s"
              % (r.errors_by_kind(), r.tail()))
        check(w.access_log_lines() == 0, "the refused server logged %d" % w.access_log_lines())
        a.settle()
        es = a.entries()
        check(len(es) == 6 and all(e["status"] == 200 for e in es), "nginx A logged %s"
              % collections.Counter(e["status"] for e in es))
        check({e["ssl_server_name"] for e in es} == {"localhost"}, "SNI at A: %s"
              % {e["ssl_server_name"] for e in es})
        reused = [e["ssl_session_reused"] for e in es]
        note("A's connections, resumed or not, in order: %s", "".join(reused))
        # A VU keeps one session, of the host it last reached: the refused
        # server's host (another port) takes its place, so the connection to
        # A right after it is a full handshake, and the next iteration's
        # first connection to A resumes that one's session.
        check(reused == [".", ".", "r", ".", "r", "."], "ssl_session_reused %s, expected . . r . r ."
              % reused)


def test_cut_handshake_then_success():
    """1 VU x 2 iterations of two steps: a peer that accepts and never
    answers (the handshake ends at the step's 1 s timeout), then nginx
    twice on new connections (/close). The 2 silent ones are timeouts, the
    4 others succeed: in each iteration the first of them is a full
    handshake, the second resumes."""
    pki = TestPki()
    srv = pki.server("srv", ["DNS:localhost"])
    with tls_nginx(srv) as a, SilentThenGarbage() as peers:
        ua = "https://localhost:%d/close" % a.port
        us = "https://localhost:%d/small" % peers.silent.getsockname()[1]
        body = steps(1, 2, [us, ua, ua], timeout="1s")
        r = run_on("lean", plan(ua, {"s": body}, head=head_ca(pki)), timeout=90)
        expect_code(r, 0)
        check(r.errors_by_kind() == {"timeout": 2}, "errors %s, expected timeout 2%s"
              % (r.errors_by_kind(), r.tail()))
        a.settle()
        es = a.entries()
        check(len(es) == 4 and all(e["status"] == 200 for e in es), "nginx logged %s"
              % collections.Counter(e["status"] for e in es))
        reused = [e["ssl_session_reused"] for e in es]
        check(reused == [".", "r"] * 2, "ssl_session_reused %s, expected . r . r" % reused)


TESTS = [test_name_and_address_alternate, test_refusal_between_acceptances,
         test_cut_handshake_then_success]

if __name__ == "__main__":
    main(TESTS)
