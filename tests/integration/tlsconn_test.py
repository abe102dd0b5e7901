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
  connections that succeed and resume;
- what each ClientHello offers, read by a relay between herd and nginx: a
  connection that resumes a TLS 1.2 session offers TLS 1.2 only (no TLS 1.3
  key share to generate), the first connection and the one after any that
  did not resume offer TLS 1.3 with a key share, and against a TLS 1.3
  server every one does.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/tlsconn_test.py [-k NAME]
"""

import collections
import os
import select
import socket
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from drivers_test import accept_proves, expect_code, expect_pick, plan, run_on  # noqa: E402
from harness import Fail, TestPki, check, main, note  # noqa: E402
from lean_tls_test import SilentThenGarbage, tls_nginx  # noqa: E402


def steps(vus, iterations, urls, timeout="5s", think=None):
    """A per-vu-iterations body whose flow gets each URL in turn (and thinks
    after each, with think)."""
    pause = "  - think: %s\n" % think if think else ""
    flow = "".join("  - get: %s\n    redirects: 0\n    timeout: %s\n%s" % (u, timeout, pause)
                   for u in urls)
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


def hello_offer(rec):
    """What the TLS record rec (a ClientHello, whole) offers: (TLS 1.3 in
    supported_versions, a non-empty key_share, a session ticket sent)."""
    if len(rec) < 9 or rec[0] != 0x16 or rec[5] != 0x01:
        raise Fail("not a ClientHello: %r" % rec[:16])
    p = 9 + 2 + 32                                # handshake header, version, random
    p += 1 + rec[p]                               # session id
    p += 2 + struct.unpack(">H", rec[p:p + 2])[0]  # cipher suites
    p += 1 + rec[p]                               # compression methods
    end = p + 2 + struct.unpack(">H", rec[p:p + 2])[0]
    p += 2
    tls13 = share = ticket = False
    while p + 4 <= end:
        kind, n = struct.unpack(">HH", rec[p:p + 4])
        data = rec[p + 4:p + 4 + n]
        if kind == 43:    # supported_versions: a length byte, then versions
            tls13 = any(data[i:i + 2] == b"\x03\x04" for i in range(1, len(data), 2))
        elif kind == 51:  # key_share: a length, then the shares
            share = len(data) > 2
        elif kind == 35:  # session_ticket
            ticket = n > 0
        p += 4 + n
    return tls13, share, ticket


class HelloRelay:
    """A TCP relay on 127.0.0.1 that passes each connection on to an
    upstream port (ports(i) for the i-th connection, from 0) and keeps what
    each ClientHello offers (hello_offer), in order of arrival."""

    def __init__(self, ports):
        self.ports = ports
        self.offers = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.threads = []

    def __enter__(self):
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)
        return self

    def __exit__(self, *exc):
        self.stop = True
        for t in self.threads:
            t.join(10)
        self.sock.close()

    def _accept(self):
        n = 0
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            t = threading.Thread(target=self._relay, args=(c, self.ports(n)), daemon=True)
            t.start()
            self.threads.append(t)
            n += 1

    def _relay(self, c, port):
        with c, socket.create_connection(("127.0.0.1", port), timeout=10) as u:
            c.settimeout(10)
            head = b""
            while len(head) < 5 or len(head) < 5 + struct.unpack(">H", head[3:5])[0]:
                more = c.recv(65536)
                if not more:
                    return
                head += more
            rec = head[:5 + struct.unpack(">H", head[3:5])[0]]
            with self.lock:
                self.offers.append(hello_offer(rec))
            u.sendall(head)
            # Both ways until either side closes; bounded by the sockets' 10 s timeouts.
            while not self.stop:
                r, _, _ = select.select([c, u], [], [], 10)
                if not r:
                    return
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        return
                    (u if s is c else c).sendall(data)


def test_offers_when_resuming():
    """1 VU x 5 requests to /close through a relay that records each
    ClientHello. Against nginx with TLS 1.2 only: the first connection
    offers TLS 1.3 and a key share (a full handshake, . in nginx's log), the
    4 others resume (r) offering TLS 1.2 only, with no key share and with
    the session ticket. Against nginx with TLS 1.2 and 1.3: every
    ClientHello offers 1.3 with a key share, and 4 of 5 resume."""
    pki = TestPki()
    srv = pki.server("srv", ["DNS:localhost"])
    for protocols, want in (("TLSv1.2", [(True, True, False)] + [(False, False, True)] * 4),
                            ("TLSv1.2 TLSv1.3", [(True, True, False)] * 5)):
        with tls_nginx(srv, protocols) as a, HelloRelay(lambda i: a.port) as relay:
            url = "https://localhost:%d/close" % relay.port
            r = run_on("lean", plan(url, {"s": steps(1, 5, [url])}, head=head_ca(pki)), timeout=90)
            expect_code(r, 0)
            check(not r.errors_by_kind() and r.count() == 5, "%s: errors %s, count %d%s"
                  % (protocols, r.errors_by_kind(), r.count(), r.tail()))
            a.settle()
            reused = "".join(e["ssl_session_reused"] for e in a.entries())
            note("%s: offers (1.3, key share, ticket) %s; resumed %s", protocols, relay.offers,
                 reused)
            check(reused == ".rrrr", "%s: ssl_session_reused %s, expected .rrrr" % (protocols, reused))
            if "1.3" in protocols:
                # TLS 1.3 resumes with a PSK, not a ticket extension.
                got = [o[:2] for o in relay.offers]
                want = [w[:2] for w in want]
            else:
                got = relay.offers
            check(got == want, "%s: ClientHello offers %s, expected %s" % (protocols, got, want))


def test_offer_comes_back_after_a_refusal():
    """A server that does not know the session (the relay sends the 3rd and
    later connections to a second nginx, TLS 1.2 only, whose tickets and
    cache are its own): the 3rd connection offers TLS 1.2 only and gets a
    full handshake; the 4th offers TLS 1.3 and a key share again, and
    resumes the 3rd's session; the 5th offers 1.2 only and resumes. The VU
    thinks 50 ms after each request, so its TLS object is freed while it is
    idle: what it knows of the refusal must outlive that."""
    pki = TestPki()
    srv = pki.server("srv", ["DNS:localhost"])
    with tls_nginx(srv) as a, tls_nginx(srv) as b, \
            HelloRelay(lambda i: a.port if i < 2 else b.port) as relay:
        url = "https://localhost:%d/close" % relay.port
        r = run_on("lean", plan(url, {"s": steps(1, 5, [url], think="50ms")}, head=head_ca(pki)),
                   timeout=90)
        expect_code(r, 0)
        check(not r.errors_by_kind() and r.count() == 5, "errors %s, count %d%s"
              % (r.errors_by_kind(), r.count(), r.tail()))
        a.settle()
        b.settle()
        ra = "".join(e["ssl_session_reused"] for e in a.entries())
        rb = "".join(e["ssl_session_reused"] for e in b.entries())
        note("offers (1.3, key share, ticket) %s; resumed at A %s, at B %s", relay.offers, ra, rb)
        check(ra == ".r" and rb == ".rr", "ssl_session_reused at A %s, B %s: expected .r and .rr"
              % (ra, rb))
        got = [o[:2] for o in relay.offers]
        want = [(True, True), (False, False), (False, False), (True, True), (False, False)]
        check(got == want, "ClientHello offers (1.3, key share) %s, expected %s" % (got, want))


TESTS = [test_name_and_address_alternate, test_refusal_between_acceptances,
         test_cut_handshake_then_success, test_offers_when_resuming,
         test_offer_comes_back_after_a_refusal]

if __name__ == "__main__":
    main(TESTS)
