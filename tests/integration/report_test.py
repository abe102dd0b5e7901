#!/usr/bin/env python3
"""`herd report`: the HTML report of a 3-agent run with one agent killed,
opened in headless Chromium (Debian's): no console error, no network request
(Chromium's own net log), the key figures in the DOM equal `herd results
show`'s, the lost agent is a marker on the charts, a screenshot is written
for a person to look at; a run stretched to one hour of intervals stays
under 2 MB.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/report_test.py [-k NAME]
"""

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Nginx, Skip, check, finish, free_port, in_ci, main, note, run_cli,  # noqa: E402
                     start_herd, tmp_dir)

CHROMIUM = "/usr/bin/chromium"

PLAN = """name: report
target: {url}
scenarios:
  browse:
    executor: constant-vus
    vus: 6
    duration: 6s
    flow:
      - get: /small
        name: home
        checks:
          home ok: {{ status: 200 }}
      - get: /delay50
        name: slow
thresholds:
  http_req_duration: ["p(95) < 40"]
  http_req_failed: ["rate < 0.5"]
"""


def chromium(args, timeout=90):
    """Runs headless Chromium as this machine allows it (root: no sandbox;
    no background networking, so any request in its net log is the page's)."""
    if not os.path.exists(CHROMIUM):
        if in_ci():
            check(False, "%s is missing (scripts/deps.sh installs chromium)" % CHROMIUM)
        raise Skip("chromium is not installed")
    prof = tempfile.mkdtemp(prefix="herd-chromium-")
    try:
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--disable-default-apps", "--user-data-dir=" + prof,
               "--enable-logging=stderr", "--v=0"] + args
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    finally:
        shutil.rmtree(prof, ignore_errors=True)


def page_requests(netlog):
    """The requests a page made, from Chromium's net log: URL requests whose
    initiator is an origin (the browser's own, such as its update checks,
    have "not an origin"), file:// loads of the page itself left out."""
    with open(netlog, encoding="utf-8", errors="replace") as f:
        d = json.load(f)
    types = {v: k for k, v in d["constants"]["logEventTypes"].items()}
    out = []
    for e in d["events"]:
        p = e.get("params") or {}
        if types.get(e["type"]) == "URL_REQUEST_START_JOB" and "url" in p and \
                p.get("initiator") != "not an origin" and not p["url"].startswith("file:"):
            out.append(p["url"])
    return out


def agent_pids(name):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if any(c.endswith(b"herd-agent") for c in cmd[:1]) and name.encode() in cmd:
            out.append(int(d))
    return out


def make_run():
    """A 3-agent run with local-3 killed at about 3 s. Returns (db, result)."""
    ng = Nginx()
    ng.__enter__()
    try:
        db = os.path.join(tmp_dir("herd-report-"), "herd.db")
        p = start_herd(PLAN.format(url=ng.url), "--local-agents", "3", db=db, quiet=True)
        deadline = time.monotonic() + 20
        victim = []
        while time.monotonic() < deadline and not victim:
            time.sleep(0.2)
            victim = agent_pids("local-3")
        check(victim, "no local-3 agent appeared")
        time.sleep(3.0)
        for pid in victim:
            os.kill(pid, signal.SIGKILL)
        r = finish(p, 60)
        return ng, db, r
    except BaseException:
        ng.__exit__(None, None, None)
        raise


def test_report_in_chromium():
    ng, db, r = make_run()
    try:
        note("run exit %d", r.code)
        check(r.code != 0, "a run with a failing threshold and a lost agent exited 0")
        out_dir = tmp_dir("herd-report-out-")
        html = os.path.join(out_dir, "report.html")
        code, _, err = run_cli("report", "latest", "--db", db, "-o", html)
        check(code == 0, "herd report exit %d: %s" % (code, err))
        text = open(html, encoding="utf-8").read()
        note("report: %d bytes", len(text))
        # Nothing in the page may point elsewhere: no src/href at all, no url().
        check(not re.search(r"\b(src|href)\s*=", text), "the report has src/href attributes")
        check("url(" not in text.split("<h2>Summary</h2>")[0], "the report's CSS loads something")
        code, show, _ = run_cli("results", "show", "latest", "--db", db)
        check(code == 0, "results show exit %d" % code)

        # Control: a page that does load something is seen doing it.
        ctl = os.path.join(out_dir, "control.html")
        with open(ctl, "w") as f:
            f.write('<!DOCTYPE html><img src="http://127.0.0.1:%d/x.png">' % free_port())
        netlog = os.path.join(out_dir, "control.json")
        res = chromium(["--log-net-log=" + netlog, "--dump-dom", "file://" + ctl])
        check(page_requests(netlog), "the net log check saw no request from the control page")

        netlog = os.path.join(out_dir, "net.json")
        res = chromium(["--log-net-log=" + netlog, "--dump-dom", "file://" + html])
        check(res.returncode == 0, "chromium exit %d: %s" % (res.returncode, res.stderr[-800:]))
        dom = res.stdout
        console = [ln for ln in res.stderr.splitlines() if "CONSOLE" in ln or "Refused" in ln]
        check(not console, "console messages: %s" % console[:5])
        reqs = page_requests(netlog)
        check(not reqs, "the report made requests: %s" % reqs[:5])

        # The figures in the DOM are the summary's (what `herd results show` prints).
        m = re.search(r'id="fig-http_reqs-count" data-value="([0-9.e+]+)"', dom)
        check(m, "no request count in the DOM")
        shown = re.search(r"http_reqs\.+: (\d+)", show)
        check(shown and int(float(m.group(1))) == int(shown.group(1)),
              "DOM requests %s, results show %s" % (m.group(1), shown and shown.group(1)))
        # The killed agent's last second never reached the controller: herd
        # counts what was reported, never more than nginx saw.
        logged = ng.access_log_lines()
        check(int(float(m.group(1))) <= logged, "DOM requests %s, nginx %d" % (m.group(1), logged))
        p95 = re.search(r'id="fig-http_req_duration-p95" data-value="([0-9.e+-]+)"', dom)
        shown95 = re.search(r"http_req_duration\.+: avg=\S+\s+min=\S+\s+med=\S+\s+max=\S+\s+"
                            r"p\(90\)=\S+\s+p\(95\)=([0-9.]+)(µs|ms|s)", show)
        check(p95 and shown95, "p95 missing in the DOM or in results show")
        unit = {"µs": 1e-3, "ms": 1.0, "s": 1e3}[shown95.group(2)]
        check(abs(float(p95.group(1)) - float(shown95.group(1)) * unit) <=
              0.01 * float(p95.group(1)), "DOM p95 %s != results show %s%s"
              % (p95.group(1), shown95.group(1), shown95.group(2)))
        # The lost agent: a marker on the charts and a row of events.
        check(re.search(r'class="marker"><title>[0-9.]+s agent_lost', dom),
              "no agent_lost marker on the charts")
        check("agent_lost" in dom.split('id="events"')[1], "no agent_lost row in the events")
        check('class="limit"' in dom and "p(95) &lt; 40" in dom, "the threshold is not drawn")
        for cid in ("chart-rps", "chart-latency", "chart-vus", "chart-agents", "chart-agent-cpu",
                    "chart-agent-memory"):
            check('id="%s"' % cid in dom, "chart %s missing" % cid)
        # The agents' own CPU and memory over time: a line per agent.
        for cid in ("chart-agent-cpu", "chart-agent-memory"):
            sec = dom.split('id="%s"' % cid)[1].split("</section>")[0]
            for name in ("local-1", "local-2", "local-3"):
                check(name in sec, "%s has no line of %s" % (cid, name))
        check("agent_cpu" not in show, "the summary lists the agents' usage series")
        check(dom.count("<polyline") >= 7, "only %d lines drawn" % dom.count("<polyline"))

        shot = os.environ.get("HERD_REPORT_SCREENSHOT") or os.path.join(out_dir, "report.png")
        res = chromium(["--hide-scrollbars", "--window-size=1040,2400",
                        "--screenshot=" + shot, "file://" + html])
        check(res.returncode == 0 and os.path.getsize(shot) > 20000,
              "no screenshot: %s" % res.stderr[-400:])
        note("screenshot: %s (%d bytes)", shot, os.path.getsize(shot))
    finally:
        ng.__exit__(None, None, None)


def test_one_hour_report_stays_small():
    """A run's rows replicated to 3,600 one-second intervals (as an hour-long
    run stores them): the report stays under 2 MB and renders."""
    ng, db, r = make_run()
    ng.__exit__(None, None, None)
    con = sqlite3.connect(db)
    run_id = con.execute("SELECT id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()[0]
    span = con.execute("SELECT max(i.interval_ms) + 1000 FROM intervals i JOIN series_keys k"
                       " ON k.id = i.key_id WHERE k.run_id = ?", (run_id,)).fetchone()[0]
    copies = 3600 * 1000 // span
    for c in range(1, copies + 1):
        con.execute("INSERT INTO intervals (key_id, interval_ms, count, errors, bytes_in,"
                    " bytes_out, gauge, hist) SELECT i.key_id, i.interval_ms + ?, i.count,"
                    " i.errors, i.bytes_in, i.bytes_out, i.gauge, i.hist FROM intervals i"
                    " JOIN series_keys k ON k.id = i.key_id WHERE k.run_id = ?"
                    " AND i.interval_ms < ?", (c * span, run_id, span))
    con.execute("UPDATE runs SET duration_ms = ? WHERE id = ?", ((copies + 1) * span, run_id))
    con.commit()
    n = con.execute("SELECT count(DISTINCT interval_ms) FROM intervals").fetchone()[0]
    con.close()
    check(n >= 3600, "only %d intervals after replicating" % n)
    out = os.path.join(os.path.dirname(db), "hour.html")
    code, _, err = run_cli("report", run_id, "--db", db, "-o", out)
    check(code == 0, "herd report exit %d: %s" % (code, err))
    size = os.path.getsize(out)
    note("one-hour report: %d intervals, %d bytes", n, size)
    check(size < 2 * 1024 * 1024, "the report of an hour is %d bytes" % size)
    res = chromium(["--dump-dom", "file://" + out])
    check(res.returncode == 0 and "chart-latency" in res.stdout, "chromium could not render it")


STAGED = """name: staged
target: {url}
scenarios:
  ramp:
    executor: ramping-vus
    startTime: 1s
    stages:
      - {{ duration: 2s, target: 4, name: warm-up }}
      - {{ duration: 2s, target: 4 }}
      - {{ duration: 1s, target: 0, name: cool }}
    flow:
      - get: /small
      - think: 50ms
"""


def test_stages_as_bands():
    """A ramping scenario's stages are bands on the charts, at their times
    (after the scenario's startTime), named as the plan names them."""
    with Nginx() as ng:
        db = os.path.join(tmp_dir("herd-report-"), "herd.db")
        p = start_herd(STAGED.format(url=ng.url), db=db, quiet=True)
        r = finish(p, 60)
        check(r.code == 0, "herd exit %d%s" % (r.code, r.tail()))
        out = os.path.join(os.path.dirname(db), "staged.html")
        code, _, err = run_cli("report", "latest", "--db", db, "-o", out)
        check(code == 0, "herd report exit %d: %s" % (code, err))
        res = chromium(["--dump-dom", "file://" + out])
        check(res.returncode == 0, "chromium could not render it")
        sec = res.stdout.split('id="chart-rps"')[1].split("</section>")[0]
        labels = re.findall(r'class="bl">([^<]*)<', sec)
        check(labels == ["warm-up", "stage 2/3", "cool"], "band labels %s" % labels)
        xs = [float(x) for x in re.findall(r'<rect x="([0-9.]+)"[^>]*class="band', sec)]
        check(len(xs) == 3 and xs[0] < xs[1] < xs[2], "band positions %s" % xs)
        check("the stages of scenario ramp" in res.stdout, "no word on what the bands are")


if __name__ == "__main__":
    main([test_report_in_chromium, test_one_hour_report_stays_small, test_stages_as_bands])
