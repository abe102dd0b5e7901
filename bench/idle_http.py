#!/usr/bin/env python3
"""Memory per idle HTTP VU, per driver: one local agent with one worker runs
VUS_LOW and then VUS_HIGH VUs that each make one request to a local nginx and
then think for 30 s (idle on a kept-alive connection) for 12 s; the agent's
resident memory as it reported it, divided over the VUs added, is the cost
of one idle VU. The plan has the defaults (the cookie jar on), which `auto`
gives the lean driver; `--http-driver lean` and `curl` are measured beside it.
SCHEME=https does the same over TLS (nginx with a test CA's certificate, as
tests/integration/lean_tls_test.py makes them; the plan trusts that CA).

Run: HERD_BIN=build/controller/herd HERD_AGENT_BIN=build/agent/herd-agent \
     python3 bench/idle_http.py   [VUS_LOW=100 VUS_HIGH=3100 SCHEME=https]
Talks to 127.0.0.1 only; each run is bounded by its plan and a 90 s timeout.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))

from harness import Nginx, run_herd  # noqa: E402

PLAN = """name: idle-http
target: %s
%s
scenarios:
  idle:
    executor: constant-vus
    vus: %d
    duration: 12s
    gracefulStop: 0s
    flow:
      - get: /small
      - think: 30s
"""


def agent_rss_kb(url, head, vus, driver):
    r = run_herd(PLAN % (url, head, vus), "--http-driver", driver, "--workers", "1", timeout=90)
    agents = list(r.herd()["agents"].values())
    if r.count() != vus or len(agents) != 1:
        sys.exit("run with %d VUs on %s: %d requests, %d agents%s" % (vus, driver, r.count(), len(agents), r.tail()))
    return agents[0]["rss_kb"]


def main():
    low = int(os.environ.get("VUS_LOW", "100"))
    high = int(os.environ.get("VUS_HIGH", "3100"))
    conns = {"worker_connections 4096": "worker_connections %d" % (high + 1024)}
    if os.environ.get("SCHEME") == "https":
        from lean_tls_test import make_pki, tls_nginx
        pki = make_pki()
        ng = tls_nginx(pki.srv)
        ng.replace.update(conns)
        head = "tls: { ca: %s }" % pki.ca
    else:
        ng, head = Nginx(replace=conns), ""
    with ng:
        url = "https://localhost:%d" % ng.port if head else ng.url
        for driver in ("auto", "lean", "curl"):
            a, b = agent_rss_kb(url, head, low, driver), agent_rss_kb(url, head, high, driver)
            print("%-4s  %5d VUs: %6d KB   %5d VUs: %6d KB   %.2f KB per idle VU"
                  % (driver, low, a, high, b, (b - a) / float(high - low)))


if __name__ == "__main__":
    main()
