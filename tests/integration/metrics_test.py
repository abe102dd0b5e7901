#!/usr/bin/env python3
"""`herd run --metrics-addr`: a real Prometheus (Debian's) scrapes herd's
/metrics every second while a 2-agent run lasts; a query through
Prometheus' HTTP API gives herd's own request count (and nginx's), the
checks by result, and a p95 from histograms merged across agents (one
series per step, no agent label) equal to the summary's.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/metrics_test.py [-k NAME]
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Nginx, Skip, _http_json, check, finish, free_port, in_ci, main,  # noqa: E402
                     note, run_herd, start_herd)

PROMETHEUS = "/usr/bin/prometheus"

# 200 requests early; then a VU that only thinks keeps the run (and its
# /metrics) alive for Prometheus' last scrapes.
PLAN = """name: prom
target: {url}
scenarios:
  burst:
    executor: per-vu-iterations
    vus: 4
    iterations: 50
    flow:
      - get: /small
        name: home
        checks:
          home ok: {{ status: 200 }}
      - get: /delay50
        name: slow
  idle:
    executor: constant-vus
    vus: 1
    duration: 9s
    flow:
      - think: 1s
"""


class Prometheus:
    def __init__(self, target):
        self.target = target

    def __enter__(self):
        if not os.path.exists(PROMETHEUS):
            if in_ci():
                check(False, "%s is missing (scripts/deps.sh installs prometheus)" % PROMETHEUS)
            raise Skip("prometheus is not installed")
        self.dir = tempfile.mkdtemp(prefix="herd-prom-")
        self.port = free_port()
        cfg = os.path.join(self.dir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
                    "scrape_configs:\n  - job_name: herd\n    static_configs:\n"
                    "      - targets: ['%s']\n" % self.target)
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + cfg, "--storage.tsdb.path=" + self.dir + "/data",
             "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "log"), "w"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if _http_json("http://127.0.0.1:%d/-/ready" % self.port)[0] == 200:
                    return self
            except Exception:
                pass
            time.sleep(0.2)
        self.__exit__()
        check(False, "prometheus did not start")

    def query(self, q):
        code, d = _http_json("http://127.0.0.1:%d/api/v1/query?query=%s"
                             % (self.port, urllib.parse.quote(q)))
        check(code == 200 and d and d.get("status") == "success", "query %s: %s %s" % (q, code, d))
        return d["data"]["result"]

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def one_value(res, what):
    check(len(res) == 1, "%s: %d series: %s" % (what, len(res), res))
    return float(res[0]["value"][1])


def test_prometheus_scrapes_the_run():
    port = free_port()
    addr = "127.0.0.1:%d" % port
    with Nginx() as ng, Prometheus(addr) as prom:
        p = start_herd(PLAN.format(url=ng.url), "--local-agents", "2", "--metrics-addr", addr,
                       quiet=True)
        r = finish(p, 60)
        check(r.code == 0, "herd exit %d%s" % (r.code, r.tail()))
        total = r.count()
        logged = ng.access_log_lines()
        check(total == 400 and logged == 400, "herd %d, nginx %d, expected 400" % (total, logged))
        # The endpoint is gone with the run: the last sample of each series
        # before it went away (max over a range, which keeps samples before
        # Prometheus' staleness mark).
        scraped = one_value(prom.query("sum(max_over_time(herd_http_reqs_total[2m]))"),
                            "http_reqs")
        note("prometheus: sum of herd_http_reqs_total %s, herd %d, nginx %d", scraped, total, logged)
        check(scraped == total, "Prometheus says %s requests, herd %d" % (scraped, total))
        by_agent = prom.query("sum by (agent) (max_over_time(herd_http_reqs_total[2m]))")
        agents = sorted(x["metric"]["agent"] for x in by_agent)
        check(agents == ["local-1", "local-2"], "agent labels %s" % agents)
        ok = one_value(prom.query('sum(max_over_time(herd_checks_total{check="home ok",'
                                  'result="pass"}[2m]))'), "checks")
        check(ok == 200, "checks passed %s, expected 200" % ok)
        # p95 of the slow step: one series (merged across the two agents, no
        # agent label), equal to the summary's p(95) of that step.
        res = prom.query('max_over_time(herd_http_req_duration_seconds{name="slow",'
                         'quantile="0.95"}[2m])')
        check(len(res) == 1 and "agent" not in res[0]["metric"],
              "p95 series of slow: %s" % res)
        p95 = float(res[0]["value"][1]) * 1000
        steps = [x for x in r.herd()["steps"] if x["name"] == "slow"]
        check(len(steps) == 1, "the summary's steps: %s" % r.herd()["steps"])
        want = steps[0]["p(95)"]
        note("prometheus p95 of slow %.3f ms, herd's summary %.3f ms", p95, want)
        # The same merged histogram, printed at µs (Prometheus) and 3 digits of ms.
        check(abs(p95 - want) <= 0.002, "Prometheus p95 %.3f ms, herd's %.3f ms" % (p95, want))
        check(45 <= p95 <= 1000, "p95 of a 50 ms step is %.3f ms" % p95)
        cnt = one_value(prom.query('max_over_time(herd_http_req_duration_seconds_count'
                                   '{name="slow"}[2m])'), "count")
        check(cnt == 200, "summary count %s, expected 200" % cnt)


def test_bad_metrics_addr():
    """A malformed address is refused before any load (exit 104 or 103)."""
    with Nginx() as ng:
        r = run_herd(PLAN.format(url=ng.url), "--metrics-addr", "nowhere", timeout=30)
        check(r.code in (103, 104) and "--metrics-addr" in r.stderr,
              "exit %d: %s" % (r.code, r.stderr[-300:]))
        check(ng.access_log_lines() == 0, "requests were sent")


if __name__ == "__main__":
    main([test_prometheus_scrapes_the_run, test_bad_metrics_addr])
