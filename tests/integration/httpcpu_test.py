#!/usr/bin/env python3
"""The lean driver's https keep-alive connections between requests: OpenSSL's
record buffers stay while requests follow each other and are freed when the VU
thinks (agent/tlsossl.c tlso_idle); the next request on that connection must
go out and be read whole, on the same connection. Held to nginx's own access
log ($connection, $connection_requests, $bytes_sent, $request_length), over
TLS 1.2 and over TLS 1.3 (whose session tickets arrive while the connection
is idle).

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/httpcpu_test.py [-k NAME]
"""

import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from drivers_test import plan  # noqa: E402
from harness import check, main, note  # noqa: E402
from lean_tls_test import head_ca, https, make_pki, run_logged, tls_nginx  # noqa: E402

VUS, ITERS = 3, 5


def idle_between_requests(protocols):
    """3 VUs x 5 iterations of: GET /small, a 150 ms think (the connection
    idles, its buffers freed), GET /body with a body check, a 150 ms think.
    nginx logs 30 requests, all 200, on 3 connections of 10 requests each
    (one per VU, kept across the thinks); every check passed; herd's bytes
    equal nginx's both ways; no error."""
    pki = make_pki()
    with tls_nginx(pki.srv, protocols) as ng:
        body = ("executor: per-vu-iterations\nvus: %d\niterations: %d\nmaxDuration: 30s\nflow:\n"
                "  - get: /small\n    timeout: 5s\n"
                "  - think: 150ms\n"
                "  - get: /body\n    timeout: 5s\n    checks:\n"
                "      needle: { body: needle }\n"
                "  - think: 150ms\n" % (VUS, ITERS))
        r, es = run_logged("lean", ng, plan(https(ng), {"s": body}, head=head_ca(pki)),
                           VUS * ITERS * 2)
        check(all(e["status"] == 200 for e in es), "statuses %s"
              % collections.Counter(e["status"] for e in es))
        check(not r.errors_by_kind(), "errors %s" % r.errors_by_kind())
        per_conn = collections.Counter(e["connection"] for e in es)
        check(sorted(per_conn.values()) == [ITERS * 2] * VUS, "requests per connection %s"
              % sorted(per_conn.values()))
        check(max(int(e["connection_requests"]) for e in es) == ITERS * 2,
              "connection_requests up to %s" % max(e["connection_requests"] for e in es))
        checks = r.metric("checks")
        note("%s: checks %s; %s", protocols, checks,
             collections.Counter(e["ssl_protocol"] for e in es))
        check(dict(collections.Counter(e["ssl_protocol"] for e in es)) == {protocols: len(es)},
              "protocols %s" % collections.Counter(e["ssl_protocol"] for e in es))
        check(checks.get("passes") == VUS * ITERS and checks.get("fails") == 0,
              "checks %s, expected %d passes" % (checks, VUS * ITERS))
        rx, tx = r.metric("data_received")["count"], r.metric("data_sent")["count"]
        sent = sum(e["bytes_sent"] for e in es)
        read = sum(e["request_length"] for e in es)
        check(rx == sent, "data_received %d != nginx $bytes_sent total %d" % (rx, sent))
        check(tx == read, "data_sent %d != nginx $request_length total %d" % (tx, read))


def test_idle_between_requests_tls12():
    idle_between_requests("TLSv1.2")


def test_idle_between_requests_tls13():
    idle_between_requests("TLSv1.3")


if __name__ == "__main__":
    main([test_idle_between_requests_tls12, test_idle_between_requests_tls13])
