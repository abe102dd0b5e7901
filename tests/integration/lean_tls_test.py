#!/usr/bin/env python3
"""https:// on both HTTP drivers (`--http-driver curl` and `lean`), against
nginx with a TLS server block and certificates made here with openssl, held to
nginx's own access log: request counts, statuses and bytes; the SNI name
($ssl_server_name), ALPN ($ssl_alpn_protocol), session resumption on
reconnects ($ssl_session_reused) and keep-alive ($connection,
$connection_requests); a certificate for another name refused as the same
`tls` error kind on both; a self-signed certificate accepted with
insecureSkipVerify and refused without it. Every case is written once and run
once per driver (names `case[driver]`), and `auto` picks lean for https://.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/lean_tls_test.py [-k NAME]
"""

import collections
import os
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from drivers_test import (accept_proves, expect_code, expect_pick, per_driver, plan,  # noqa: E402
                          run_on)
from harness import Fail, Nginx, TestPki, check, main, note  # noqa: E402

DRIVERS = ("curl", "lean")
FIELDS = ("http_accept", "ssl_server_name", "ssl_session_reused", "connection",
          "connection_requests", "ssl_alpn_protocol", "ssl_protocol")

def make_pki():
    """A CA with a server certificate for localhost and 127.0.0.1 (`srv`),
    one for another name only (`wrong`), and a self-signed certificate for
    both (`self_signed`). Per test: the runner removes temp dirs after each."""
    p = TestPki()
    p.srv = p.server("srv", ["IP:127.0.0.1", "DNS:localhost"])
    p.wrong = p.server("wrong", ["DNS:wrong.test"])
    cert, key = os.path.join(p.dir, "self.pem"), os.path.join(p.dir, "self.key")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=herd self-signed",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       capture_output=True, timeout=60)
    if r.returncode != 0:
        raise Fail("openssl req failed: %s" % r.stderr.decode(errors="replace")[-800:])
    p.self_signed = (cert, key)
    return p


def tls_nginx(cert_key, protocols="TLSv1.2"):
    """nginx serving the harness's locations over TLS only (protocols: its
    ssl_protocols; nginx 1.22's default has no TLS 1.3), on every address
    localhost resolves to, with a session cache and tickets (nginx's
    defaults), and /close answering with Connection: close."""
    cert, key = cert_key
    addrs = {ai[4][0] for ai in socket.getaddrinfo("localhost", 1, type=socket.SOCK_STREAM)}
    extra = "".join("        listen [%s]:{port} ssl;\n" % a for a in sorted(addrs) if ":" in a)
    listen = "listen 127.0.0.1:{port} reuseport backlog=4096;"
    return Nginx(replace={
        listen: ("listen 127.0.0.1:{port} ssl reuseport backlog=4096;\n" + extra +
                 "        ssl_protocols %s;\n"
                 "        ssl_certificate %s;\n        ssl_certificate_key %s;\n"
                 "        ssl_session_cache shared:herdtls:1m;\n"
                 "        location = /close {{ keepalive_timeout 0; return 200 \"closed\\n\"; }}"
                 % (protocols, cert, key)),
    }, fields=FIELDS)


def https(ng, host="localhost"):
    return "https://%s:%d" % (host, ng.port)


def head_ca(pki):
    return "cookies: false\ntls: { ca: %s }" % pki.ca


def flow(vus, iterations, path, extra=""):
    return ("executor: per-vu-iterations\nvus: %d\niterations: %d\nmaxDuration: 30s\nflow:\n"
            "  - get: %s\n    redirects: 0\n    timeout: 5s\n%s" % (vus, iterations, path, extra))


def run_logged(driver, ng, text, n):
    """Runs text on driver: it must exit 0 on that driver, and nginx must log
    n requests, as many as herd counted, all sent by that driver. Returns
    (result, nginx's entries)."""
    r = run_on(driver, text, timeout=60)
    expect_code(r, 0)
    expect_pick(r, "s", driver, [])
    ng.settle()
    es = ng.entries()
    accept_proves(es, driver)
    check(len(es) == n == r.count(), "nginx logged %d, herd counted %d, expected %d"
          % (len(es), r.count(), n))
    return r, es


# --------------------------------------------------------------------------- cases


def case_keepalive_counts_bytes_sni(driver):
    """4 VUs x 25 requests over https://localhost with the test CA: nginx logs
    100, all 200, on 4 connections (keep-alive; 25 each on lean), SNI
    localhost and ALPN http/1.1 on every one; data_received and data_sent
    equal nginx's $bytes_sent and $request_length; every new connection has
    a TLS handshake time and a connect time."""
    pki = make_pki()
    with tls_nginx(pki.srv) as ng:
        r, es = run_logged(driver, ng, plan(https(ng), {"s": flow(4, 25, "/small", "    checks:\n"
                                                                  "      ok: { status: 200 }\n")},
                                            head=head_ca(pki)), 100)
        check(all(e["status"] == 200 for e in es), "statuses %s"
              % collections.Counter(e["status"] for e in es))
        check(not r.errors_by_kind(), "errors %s" % r.errors_by_kind())
        sni = collections.Counter(e["ssl_server_name"] for e in es)
        check(dict(sni) == {"localhost": 100}, "SNI seen by nginx: %s" % dict(sni))
        alpn = collections.Counter(e["ssl_alpn_protocol"] for e in es)
        check(dict(alpn) == {"http/1.1": 100}, "ALPN seen by nginx: %s" % dict(alpn))
        # 4 connections for 100 requests. On the lean driver each is its
        # VU's own (25 each); libcurl's multi handle shares its connection
        # cache, so a VU may take another's idle connection.
        per_conn = collections.Counter(e["connection"] for e in es)
        check(len(per_conn) == 4, "requests per connection %s" % sorted(per_conn.values()))
        if driver == "lean":
            check(sorted(per_conn.values()) == [25] * 4, "requests per connection %s"
                  % sorted(per_conn.values()))
        check(max(int(e["connection_requests"]) for e in es) == max(per_conn.values()),
              "connection_requests up to %s" % max(e["connection_requests"] for e in es))
        rx, tx = r.metric("data_received")["count"], r.metric("data_sent")["count"]
        sent = sum(e["bytes_sent"] for e in es)
        read = sum(e["request_length"] for e in es)
        note("%s: nginx sent %d read %d; herd received %d sent %d; %s", driver, sent, read, rx, tx,
             collections.Counter(e["ssl_protocol"] for e in es))
        check(rx == sent, "data_received %d != nginx $bytes_sent total %d" % (rx, sent))
        check(tx == read, "data_sent %d != nginx $request_length total %d" % (tx, read))
        tls = r.metric("http_req_tls_handshaking")
        conn = r.metric("http_req_connecting")
        # 4 handshakes in 100 requests: the mean is above 0, the median 0.
        check(tls.get("max", 0) > 0 and tls.get("med", 1) == 0,
              "http_req_tls_handshaking %s: expected 4 handshakes among 100 requests" % tls)
        check(conn.get("max", 0) > 0, "http_req_connecting %s" % conn)


def case_resumption_on_reconnects(driver, protocols="TLSv1.2"):
    """2 VUs x 6 requests to /close (nginx answers Connection: close): 12
    connections, each VU's first a full handshake and its 5 reconnects
    resumed ($ssl_session_reused r): 10 of 12."""
    pki = make_pki()
    with tls_nginx(pki.srv, protocols) as ng:
        r, es = run_logged(driver, ng, plan(https(ng), {"s": flow(2, 6, "/close")}, head=head_ca(pki)),
                           12)
        check(not r.errors_by_kind(), "errors %s" % r.errors_by_kind())
        check(len({e["connection"] for e in es}) == 12, "connections %d, expected 12"
              % len({e["connection"] for e in es}))
        reused = collections.Counter(e["ssl_session_reused"] for e in es)
        note("%s: reused %s, %s", driver, dict(reused),
             collections.Counter(e["ssl_protocol"] for e in es))
        check(dict(reused) == {"r": 10, ".": 2}, "ssl_session_reused %s, expected r 10 and . 2"
              % dict(reused))
        want = "TLSv1.3" if "1.3" in protocols else "TLSv1.2"
        check({e["ssl_protocol"] for e in es} == {want}, "protocols %s, expected %s"
              % ({e["ssl_protocol"] for e in es}, want))


def case_resumption_tls13(driver):
    """The same over TLS 1.3, where the server's tickets come after the
    handshake: 10 of 12 connections resumed."""
    case_resumption_on_reconnects(driver, "TLSv1.2 TLSv1.3")


def case_ip_address_names(driver):
    """https://127.0.0.1: no SNI is sent (nginx logs none) and the address
    must be an IP name of the certificate: the server certificate (IP
    127.0.0.1) passes, 4 of 4; the one for wrong.test alone fails, tls 4."""
    pki = make_pki()
    with tls_nginx(pki.srv) as ng:
        r = run_on(driver, plan(https(ng, "127.0.0.1"), {"s": flow(2, 2, "/small")},
                                head=head_ca(pki)), timeout=60)
        expect_code(r, 0)
        check(not r.errors_by_kind() and r.count() == 4 == ng.access_log_lines(status=200),
              "errors %s, count %d, nginx %d" % (r.errors_by_kind(), r.count(), ng.access_log_lines()))
        sni = {e["ssl_server_name"] for e in ng.entries()}
        check(sni <= {"", "-"}, "SNI %s sent for an address" % sni)
    with tls_nginx(pki.wrong) as ng:
        r = run_on(driver, plan(https(ng, "127.0.0.1"), {"s": flow(2, 2, "/small")},
                                head=head_ca(pki)), timeout=60)
        expect_code(r, 0)
        check(r.errors_by_kind() == {"tls": 4}, "errors %s, expected tls 4" % r.errors_by_kind())


def case_wrong_name_refused(driver):
    """A certificate of the trusted CA for wrong.test only, asked for as
    localhost: every request fails as `tls` on both drivers and none reaches
    nginx."""
    pki = make_pki()
    with tls_nginx(pki.wrong) as ng:
        r = run_on(driver, plan(https(ng), {"s": flow(2, 2, "/small")}, head=head_ca(pki)), timeout=60)
        expect_code(r, 0)
        expect_pick(r, "s", driver, [])
        check(r.errors_by_kind() == {"tls": 4}, "errors %s, expected tls 4" % r.errors_by_kind())
        check(ng.access_log_lines() == 0, "nginx logged %d requests" % ng.access_log_lines())


def case_self_signed(driver):
    """A self-signed certificate: with insecureSkipVerify the 4 requests
    succeed (nginx logs 4, SNI localhost); with the test CA (which did not
    sign it) all 4 fail as `tls`."""
    pki = make_pki()
    with tls_nginx(pki.self_signed) as ng:
        text = plan(https(ng), {"s": flow(2, 2, "/small")},
                    head="cookies: false\ntls: { insecureSkipVerify: true }")
        r = run_on(driver, text, timeout=60)
        expect_code(r, 0)
        expect_pick(r, "s", driver, [])
        check(not r.errors_by_kind() and r.count() == 4, "errors %s, count %d"
              % (r.errors_by_kind(), r.count()))
        check(ng.access_log_lines(status=200) == 4, "nginx logged %d" % ng.access_log_lines())
        check({e["ssl_server_name"] for e in ng.entries()} == {"localhost"}, "SNI %s"
              % {e["ssl_server_name"] for e in ng.entries()})
        r = run_on(driver, plan(https(ng), {"s": flow(2, 2, "/small")}, head=head_ca(pki)), timeout=60)
        expect_code(r, 0)
        check(r.errors_by_kind() == {"tls": 4}, "with the CA: errors %s, expected tls 4"
              % r.errors_by_kind())
        check(ng.access_log_lines() == 4, "nginx logged %d" % ng.access_log_lines())


def case_redirect_http_to_https(driver):
    """A redirect from http:// to https:// (and the CA of the plan's tls for
    the hop): 2 VUs x 2 requests, each one request of herd's that both
    nginx servers log once; on lean with the bytes of both hops."""
    pki = make_pki()
    with tls_nginx(pki.srv) as tls:
        hop = ('location = /hop {{ return 302 "https://localhost:%d/small"; }}\n'
               '        location = /small {{' % tls.port)
        with Nginx(replace={"location = /small {{": hop}) as plain:
            r = run_on(driver, plan(plain.url, {"s": flow(2, 2, "/hop").replace(
                "redirects: 0", "redirects: 2")}, head=head_ca(pki)), timeout=60)
            expect_code(r, 0)
            expect_pick(r, "s", driver, [])
            check(not r.errors_by_kind() and r.count() == 4, "errors %s, count %d"
                  % (r.errors_by_kind(), r.count()))
            check(plain.access_log_lines(path="/hop", status=302) == 4, "http nginx logged %d"
                  % plain.access_log_lines())
            check(tls.access_log_lines(path="/small", status=200) == 4, "https nginx logged %d"
                  % tls.access_log_lines())
            # The lean driver counts every hop's bytes as sent; libcurl does
            # not count the bodies of the 302 answers it followed.
            rx = r.metric("data_received")["count"]
            sent = sum(e["bytes_sent"] for e in plain.entries() + tls.entries())
            check(rx == sent if driver == "lean" else rx < sent,
                  "data_received %d, the two servers sent %d" % (rx, sent))


class SilentThenGarbage:
    """Two listeners on 127.0.0.1: `silent` accepts connections (the kernel
    does, from its backlog) and never answers; `garbage` answers every
    connection with bytes that are not TLS, then closes it."""

    def __enter__(self):
        self.silent = socket.socket()
        self.silent.bind(("127.0.0.1", 0))
        self.silent.listen(16)
        self.garbage = socket.socket()
        self.garbage.bind(("127.0.0.1", 0))
        self.garbage.listen(16)
        self.stop = False
        self.served = 0

        def serve():
            self.garbage.settimeout(0.2)
            while not self.stop:
                try:
                    c, _ = self.garbage.accept()
                except OSError:
                    continue
                with c:
                    c.settimeout(2)
                    try:
                        c.recv(4096)
                        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno" * 20)
                    except OSError:
                        pass
                self.served += 1
        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.thread.join(5)
        self.silent.close()
        self.garbage.close()


def case_handshake_timeout_and_garbage(driver):
    """A server that never answers the ClientHello: each request fails as
    `timeout` at its 1 s timeout, having spent it in the handshake; a server
    that answers with plain HTTP instead of TLS: `tls` on both drivers."""
    pki = make_pki()
    with SilentThenGarbage() as srv:
        port = srv.silent.getsockname()[1]
        r = run_on(driver, plan("https://127.0.0.1:%d" % port, {"s": flow(1, 2, "/small").replace(
            "timeout: 5s", "timeout: 1s")}, head=head_ca(pki)), timeout=60)
        expect_code(r, 0)
        check(r.errors_by_kind() == {"timeout": 2}, "silent server: errors %s, expected timeout 2"
              % r.errors_by_kind())
        dur = r.metric("http_req_duration")
        check(dur.get("min", 0) >= 1000 * 0.99, "http_req_duration %s: a timed-out request lasts "
              "its timeout" % dur)
        port = srv.garbage.getsockname()[1]
        r = run_on(driver, plan("https://127.0.0.1:%d" % port, {"s": flow(1, 2, "/small")},
                                head=head_ca(pki)), timeout=60)
        expect_code(r, 0)
        check(r.errors_by_kind() == {"tls": 2}, "non-TLS server: errors %s, expected tls 2"
              % r.errors_by_kind())


CASES = [case_keepalive_counts_bytes_sni, case_resumption_on_reconnects, case_resumption_tls13,
         case_wrong_name_refused, case_ip_address_names, case_self_signed,
         case_handshake_timeout_and_garbage, case_redirect_http_to_https]


def test_auto_picks_lean_for_https():
    """--http-driver auto gives an https:// scenario (that needs nothing else
    of libcurl) to the lean driver: the header says so, nginx sees no Accept."""
    pki = make_pki()
    with tls_nginx(pki.srv) as ng:
        r = run_on("auto", plan(https(ng), {"s": flow(1, 3, "/small")}, head=head_ca(pki)),
                   quiet=False, timeout=60)
        expect_code(r, 0)
        expect_pick(r, "s", "lean", [])
        check("http: s lean" in r.stdout, "header:%s" % r.tail())
        ng.settle()
        es = ng.entries()
        accept_proves(es, "lean")
        check(len(es) == 3, "nginx logged %d" % len(es))


TESTS = [per_driver(c, d) for c in CASES for d in DRIVERS] + [test_auto_picks_lean_for_https]

if __name__ == "__main__":
    main(TESTS)
