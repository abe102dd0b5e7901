#!/usr/bin/env python3
"""Multi-host tests (issue 3, part 9): a controller, three herd-agent daemons
and an nginx target, each in its own network namespace on one bridge
(tests/integration/netns.py: ctl 198.18.0.1, a1..a3 198.18.0.11..13, web
198.18.0.100:8080, no route out). Every test builds a fresh topology, so
nginx's access log holds exactly that test's requests, and it records each
request's source address, so what nginx saw per agent can be compared with
what herd counted per agent.

Needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN) and iproute2; when namespaces
cannot be made, every test prints `skip - NAME: reason` and the script exits
0. nginx, the echo module and openssl are required (missing = failure).

Run: HERD_BIN=... HERD_AGENT_BIN=... [HERD_SRC=...] \
     python3 tests/integration/cluster_netns_test.py [-k NAME]... [-l]
HERD_KEEP_TMP=1 keeps each test's directory (plans, certificates, nginx's
log, every process's stdout/stderr).

The journey tests (feeders split per agent, captures, env()) run the agents
in working directories of their own, so they have only what the controller
shipped with the plan; nginx's log (request_uri, request_id, X-Token) shows
which agent sent which row and which captured value.

Loads are bounded: 3 agents, at most 9 VUs, at most 20 s per run (the
journey runs: at most 900 iterations, maxDuration 30s), all of it to
198.18.0.100 inside the test's own namespaces.
"""

import json
import math
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import traceback
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import netns  # noqa: E402
from harness import Fail, check, note  # noqa: E402
from netns import HOSTS, Topology  # noqa: E402

AGENTS = ("a1", "a2", "a3")
CTL_PORT = 7400
# Agents are started after the controller; it waits this long for them in
# the runs that are meant to start.
AGENTS_WAIT = "30s"


# --------------------------------------------------------------------------
# binaries and helpers

def _bin(var):
    b = os.environ.get(var)
    if not b:
        raise Fail("%s is not set (path of the built binary)" % var)
    b = os.path.abspath(b)
    check(os.access(b, os.X_OK), "%s=%s is not an executable file" % (var, b))
    return b


def src_root():
    return os.environ.get("HERD_SRC") or os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))


def wire_version():
    """WIRE_VERSION from proto/wire.h (1 if it cannot be read)."""
    try:
        with open(os.path.join(src_root(), "proto", "wire.h")) as f:
            m = re.search(r"#define\s+WIRE_VERSION\s+(\d+)", f.read())
            if m:
                return int(m.group(1))
    except OSError:
        pass
    return 1


def plan_text(vus, duration, path="/delay50", think=None, name="netns"):
    """constant-vus on web's nginx; each iteration GETs path (then thinks)."""
    return """name: %s
target: http://%s:%d
scenarios:
  s:
    executor: constant-vus
    vus: %d
    duration: %s
    flow:
      - get: %s
""" % (name, HOSTS["web"], netns.WEB_PORT, vus, duration, path) + (
        "      - think: %s\n" % think if think else "")


def write(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def env_with(changes):
    """os.environ with changes applied: a value None removes the name."""
    e = dict(os.environ)
    for k, v in (changes or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return e


class Cluster:
    """One test's cluster on a Topology: token files, the controller and the
    agents, their outputs and the export."""

    def __init__(self, topo, ng=None):
        self.topo = topo
        self.ng = ng
        self.dir = topo.dir
        self.herd = _bin("HERD_BIN")
        self.agent_bin = _bin("HERD_AGENT_BIN")
        self.token = write(os.path.join(self.dir, "token"), secrets.token_hex(32) + "\n")
        self.agents = {}
        self.ctl = None
        self.export = os.path.join(self.dir, "summary.json")
        self.db = os.path.join(self.dir, "herd.db")
        self.scheme = "tcp"
        self.ctl_tls = []
        self.summary = None
        self.code = None

    @property
    def url(self):
        return "%s://%s:%d" % (self.scheme, HOSTS["ctl"], CTL_PORT)

    def start_controller(self, plan, agents=3, wait=AGENTS_WAIT, extra=(), plan_dir=None,
                         files=None, env=None):
        """`herd run` in ctl. The plan (and files: {name: text}, which the
        plan names relative to itself) go to plan_dir (default: the test's
        dir); env adds to (None: removes from) the controller's environment."""
        d = plan_dir or self.dir
        for name, text in (files or {}).items():
            write(os.path.join(d, name), text)
        plan_path = write(os.path.join(d, "plan.yaml"), plan, 0o644)
        argv = [self.herd, "run", plan_path, "--listen", self.url, "--token-file", self.token,
                "--agents", str(agents), "--agents-wait", wait, "--db", self.db,
                "--summary-export", self.export] + self.ctl_tls + list(extra)
        self.ctl = self.topo.spawn("ctl", argv, name="controller",
                                   env=env_with(dict(env or {}, HERD_DB=None)),
                                   line_buffered=True)
        return self.ctl

    def start_agent(self, host, token=None, extra=(), env=None, tls=None, cwd=None):
        """herd-agent in host's namespace, named after the host; env as for
        start_controller; cwd: its working directory (default the test's)."""
        argv = [self.agent_bin, "--controller", self.url, "--token-file", token or self.token,
                "--name", host] + list(tls or []) + list(extra)
        p = self.topo.spawn(host, argv, name=host, env=env_with(env), line_buffered=True,
                            cwd=cwd)
        self.agents[host] = p
        return p

    def start_agents_apart(self, env=None):
        """The 3 agents, each in its own new, empty working directory
        (<dir>/cwd-<host>): a file the plan names relative to itself is not
        there, so an agent has only what the controller shipped."""
        for h in AGENTS:
            d = os.path.join(self.dir, "cwd-" + h)
            os.makedirs(d, mode=0o700)
            self.start_agent(h, env=env, cwd=d)

    def start_agents(self, hosts=AGENTS, **kw):
        for h in hosts:
            self.start_agent(h, **kw)

    def finish(self, timeout):
        """Waits for the controller; loads the export. Returns the exit code."""
        try:
            self.code = self.ctl.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stacks = where_stuck(self.ctl.pid)
            self.ctl.p.kill()
            self.ctl.wait(timeout=5)
            seen = ""
            if os.path.exists(self.export):
                try:
                    with open(self.export) as f:
                        ex = json.load(f)
                    seen += "; its export was written (http_reqs %s, status %r)" % (
                        ex.get("metrics", {}).get("http_reqs", {}).get("count"),
                        ex.get("herd", {}).get("status"))
                except (OSError, ValueError):
                    seen += "; its export is unreadable"
            else:
                seen += "; no summary export written"
            if self.ng is not None:
                seen += "; nginx logged %d requests (per address %s)" % (
                    self.ng.settle(max_s=2), self.ng.by_addr())
            seen += stacks
            raise Fail("the controller did not finish within %ss (killed)%s%s"
                       % (timeout, seen, self.outputs()))
        if os.path.exists(self.export):
            with open(self.export) as f:
                text = f.read()
            try:
                self.summary = json.loads(text)
            except ValueError as e:
                raise Fail("summary export is not JSON: %s: %s" % (e, text[:400]))
        return self.code

    def outputs(self, n=1500):
        s = ""
        if self.ctl is not None:
            s += "\n--- controller output (tail) ---\n" + self.ctl.tail(n)
        for h, p in sorted(self.agents.items()):
            s += "\n--- %s output (tail) ---\n%s" % (h, p.tail(600))
        return s

    def expect_code(self, *want):
        check(self.code in want, "controller exited %s, expected %s%s"
              % (self.code, " or ".join(map(str, want)), self.outputs()))

    # the export ------------------------------------------------------------
    def herd_section(self):
        check(self.summary is not None, "no summary export written (exit %s)%s"
              % (self.code, self.outputs()))
        check("herd" in self.summary, "export has no 'herd' section: %s"
              % json.dumps(self.summary)[:400])
        return self.summary["herd"]

    def count(self):
        check(self.summary is not None, "no summary export written (exit %s)%s"
              % (self.code, self.outputs()))
        m = self.summary.get("metrics", {}).get("http_reqs")
        check(m is not None and "count" in m, "no metrics.http_reqs.count in the export: %s"
              % json.dumps(self.summary.get("metrics", {}))[:400])
        return m["count"]

    def agent_rows(self):
        """{host: its entry in herd.agents}. Entries are matched to hosts by
        their key or by a string value naming the host (a1) or its address."""
        ag = self.herd_section().get("agents")
        check(isinstance(ag, (dict, list)) and ag, "herd.agents is empty or missing: %r" % (ag,))
        items = list(ag.items()) if isinstance(ag, dict) else [
            (e.get("name") or e.get("id"), e) for e in ag]
        rows, unmatched = {}, []
        for key, e in items:
            cands = [key] + ([v for v in e.values() if isinstance(v, str)]
                             if isinstance(e, dict) else [])
            host = None
            for c in cands:
                for h in AGENTS:
                    if c == h or c == HOSTS[h] or (isinstance(c, str) and re.search(
                            r"(^|[^\w.])(%s|%s)($|[^\w.])" % (h, re.escape(HOSTS[h])), c)):
                        host = h
                        break
                if host:
                    break
            if host is None or host in rows:
                unmatched.append(key)
            else:
                rows[host] = e
        check(not unmatched, "herd.agents entries %s name none of the agents %s (or twice): %s"
              % (unmatched, AGENTS, json.dumps(ag)[:600]))
        return rows


class Checks:
    """Collects failed checks so that one run reports every broken promise;
    done() raises Fail with all of them."""

    def __init__(self):
        self.failed = []

    def __call__(self, cond, msg):
        if not cond:
            self.failed.append(msg)
        return bool(cond)

    def done(self):
        if self.failed:
            raise Fail("; ".join(self.failed) if len(self.failed) < 2 else
                       "%d checks failed:\n- " % len(self.failed) + "\n- ".join(self.failed))


def where_stuck(pid):
    """For a hung process: the frames of its threads that are in herd's own
    sources (gdb -batch, when gdb is installed), as text; "" otherwise."""
    gdb = shutil.which("gdb")
    if not gdb:
        return ""
    try:
        p = subprocess.run([gdb, "-p", str(pid), "-batch", "-ex", "thread apply all bt"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    stacks, frames = [], None  # one list of herd frames per thread
    for line in p.stdout.decode(errors="replace").splitlines():
        if line.startswith("Thread "):
            frames = []
            stacks.append(frames)
        elif (frames is not None and line.startswith("#")
              and re.search(r" at \.\./(controller|agent|proto|common)/", line)):
            line = re.sub(r"^#\d+\s+(0x[0-9a-f]+ in )?", "", line)
            frames.append(re.sub(r"\(\w+=0x[0-9a-f]+[^)]*\)|\([^)]*\)", "()", line, count=1))
    groups = {}
    for f in stacks:
        if f:
            groups[tuple(f)] = groups.get(tuple(f), 0) + 1
    out = []
    for f, n in groups.items():
        out.append("%d thread%s:" % (n, "s" if n > 1 else ""))
        out += ["  " + x for x in f]
    if not out:
        return "\n(gdb -p %d: no thread in herd's sources; rc %d)" % (pid, p.returncode)
    return "\n--- where the controller was stuck (gdb) ---\n" + "\n".join(out)


def agent_requests(row):
    for k in ("requests", "http_reqs", "reqs"):
        if isinstance(row.get(k), (int, float)):
            return row[k]
    raise Fail("agent entry has no request count: %s" % json.dumps(row))


def wait_load(ng, timeout=40):
    t = ng.wait_first_request(timeout)
    check(t is not None, "nginx saw no request within %ss" % timeout)
    return t


def per_agent_nginx(ng):
    by = ng.by_addr()
    return {h: by.get(HOSTS[h], 0) for h in AGENTS}, by


def check_totals_equal(cl, ng, what=""):
    logged = ng.settle()
    count = cl.count()
    per, by = per_agent_nginx(ng)
    note("%sherd http_reqs %d, nginx logged %d (per address %s)", what, count, logged, by)
    check(count == logged, "herd http_reqs.count %d != nginx access log %d (nginx per address: %s)"
          % (count, logged, by))
    return count, logged, per


def refused_run_checks(cl, ng, timeout=25):
    """A run that must not start: exit 103, nothing sent to nginx."""
    cl.finish(timeout)
    cl.expect_code(103)
    time.sleep(0.5)
    n = ng.count()
    check(n == 0, "nginx logged %d requests in a run that should have been refused%s"
          % (n, cl.outputs()))


# --------------------------------------------------------------------------
# tests


def test_topology():
    """The test network itself: lo and eth0 up everywhere, ctl reaches web's
    nginx, a1 reaches web, no default route, 8.8.8.8 unreachable from a1,
    a cut link drops traffic and comes back, teardown leaves `ip netns list`
    as it was."""
    before = netns.netns_list()
    with Topology() as topo:
        for h in HOSTS:
            r = netns.ip_cmd("-n", topo.ns(h), "-o", "addr", "show", "dev", "eth0").stdout.decode()
            check("%s/24" % HOSTS[h] in r, "%s has not %s/24 on eth0: %s" % (h, HOSTS[h], r))
            rt = netns.ip_cmd("-n", topo.ns(h), "route", "show").stdout.decode()
            check("default" not in rt, "%s has a default route: %s" % (h, rt))
            lo = netns.ip_cmd("-n", topo.ns(h), "link", "show", "lo").stdout.decode()
            check("UP" in lo, "lo is down in %s" % h)
        ng = topo.start_nginx()
        code, out, err = topo.exec("ctl", ["curl", "-sS", "-m", "3", ng.url + "/small"])
        check(code == 0 and out == "hello herd\n", "curl from ctl to web: %s %r %r"
              % (code, out, err))
        probe = ("import socket,sys\n"
                 "s=socket.socket(); s.settimeout(2)\n"
                 "try:\n s.connect((sys.argv[1], int(sys.argv[2]))); print('connected')\n"
                 "except OSError as e: print(e.strerror or e)\n")
        py = sys.executable or "python3"
        code, out, _ = topo.exec("a1", [py, "-c", probe, HOSTS["web"], str(netns.WEB_PORT)])
        check(out.strip() == "connected", "a1 -> web:%d: %s" % (netns.WEB_PORT, out))
        if shutil.which("ping"):
            code, out, err = topo.exec("a1", ["ping", "-c", "1", "-W", "2", HOSTS["web"]])
            check(code == 0, "ping a1 -> web failed: %s %s" % (out, err))
            code, out, err = topo.exec("a1", ["ping", "-c", "1", "-W", "1", "8.8.8.8"])
            check(code != 0 and "unreachable" in (out + err).lower(),
                  "ping 8.8.8.8 from a1: %s %s %s" % (code, out, err))
        code, out, _ = topo.exec("a1", [py, "-c", probe, "8.8.8.8", "53"])
        check("network is unreachable" in out.lower(), "a1 -> 8.8.8.8:53: %r, expected "
              "'Network is unreachable'" % out)
        topo.link_down("a1")
        code, out, _ = topo.exec("a1", [py, "-c", probe, HOSTS["web"], str(netns.WEB_PORT)])
        check("connected" not in out, "a1 reached web with its link down: %s" % out)
        topo.link_up("a1")
        deadline = time.monotonic() + 5
        while True:
            code, out, _ = topo.exec("a1", [py, "-c", probe, HOSTS["web"], str(netns.WEB_PORT)])
            if out.strip() == "connected" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        check(out.strip() == "connected", "a1 -> web after link_up: %s" % out)
        n = ng.settle(quiet_s=0.2)
        check(n == 1, "nginx logged %d lines, expected 1 (the curl): %s" % (n, ng.lines()))
        names = [topo.ns(h) for h in list(HOSTS) + ["sw"]]
        check(all(x in netns.netns_list() for x in names), "namespaces missing: %s"
              % netns.netns_list())
        ngpid = ng.proc.pid
    # Teardown removes this topology's namespaces and nothing else. (The
    # topology also deletes namespaces that dead test processes left
    # behind, so those may be gone: seen when a killed run had left its own.)
    after = netns.netns_list()
    check(not [x for x in after if x in names], "namespaces left: %s" % after)
    kept = [x for x in before if not netns.stale_name(x)]
    check(all(x in after for x in kept), "ip netns list lost names: before %s, after %s"
          % (before, after))
    check(not netns._pid_alive(ngpid) or _is_zombie(ngpid), "nginx %d survived teardown" % ngpid)


def _is_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_three_agents_totals_match():
    """3 agents, constant-vus 9 VUs 8 s on /delay50: exit 0, http_reqs.count
    == nginx's log lines; each agent in herd.agents with requests > 0 and
    equal to what nginx logged from its address; not degraded."""
    with Topology() as topo:
        ng = topo.start_nginx()
        cl = Cluster(topo, ng)
        cl.start_controller(plan_text(9, "8s"))
        cl.start_agents()
        cl.finish(timeout=30)
        cl.expect_code(0)
        count, logged, per = check_totals_equal(cl, ng)
        # 9 VUs x 8 s / 50 ms = 1440 at most; well below means the load did not run
        check(count >= 700, "only %d requests (9 VUs x 8 s on a 50 ms endpoint: ~1440)" % count)
        rows = cl.agent_rows()
        check(sorted(rows) == list(AGENTS), "herd.agents has %s, expected %s"
              % (sorted(rows), AGENTS))
        for h in AGENTS:
            n = agent_requests(rows[h])
            check(n > 0, "agent %s: requests %s" % (h, n))
            check(n == per[h], "agent %s: herd counted %d, nginx logged %d from %s"
                  % (h, n, per[h], HOSTS[h]))
            st = rows[h].get("status")
            check(st in (None, "done"), "agent %s status %r, expected 'done'" % (h, st))
        hs = cl.herd_section()
        check(hs.get("degraded") is False, "herd.degraded is %r in a run without failures"
              % hs.get("degraded"))
        note("per agent: %s; herd.status %r", {h: agent_requests(rows[h]) for h in AGENTS},
             hs.get("status"))


START_SKEW_MAX_MS = 5.0


def test_start_skew():
    """3 agents start one constant-vus scenario (3 VUs, 3 s, GET /small then
    think 200ms) at one instant: the controller reports the measured start
    skew and it is <= 5 ms (issue 3 part 3 targets 2 ms on a LAN; here 3
    agents x 2 workers, nginx and the controller share the VM's CPUs, so
    3 ms of scheduling allowance; the note says whether 2 ms was met);
    nginx's own view agrees: the agents' first requests arrive within 10 ms
    (nginx logs whole milliseconds)."""
    with Topology() as topo:
        ng = topo.start_nginx()
        cl = Cluster(topo, ng)
        cl.start_controller(plan_text(3, "3s", path="/small", think="200ms"))
        cl.start_agents()
        cl.finish(timeout=25)
        cl.expect_code(0)
        ng.settle()
        first = {}
        for e in ng.lines():
            first.setdefault(e[1], e[0])
        m = re.search(r"start skew ([0-9.]+) ms", cl.ctl.text())
        spread = (max(first.values()) - min(first.values())) * 1000 if len(first) == 3 else None
        note("controller: %s; nginx first requests: %s (spread %s ms)",
             m.group(0) if m else "no 'start skew' line",
             {a: "%.3f" % t for a, t in sorted(first.items())}, spread)
        check(len(first) == 3, "nginx saw requests from %s only" % sorted(first))
        check(m, "the controller printed no 'start skew N ms' line%s" % cl.outputs())
        skew = float(m.group(1))
        note("start skew %.3f ms: the 2 ms target is %s", skew,
             "met" if skew <= 2.0 else "NOT met")
        check(skew <= START_SKEW_MAX_MS, "start skew %.3f ms reported (limit %.0f ms here, "
              "target 2 ms)%s" % (skew, START_SKEW_MAX_MS, cl.outputs()))
        check(spread <= 10.0, "nginx saw the agents' first requests %.0f ms apart" % spread)


# Bound for the agent killed with kill -9: an agent sends one METRICS batch
# per 1 s interval and forgets it once acknowledged, so what dies with it is
# at most the interval being filled plus one batch sent but not yet acked:
# ~2 s of its own traffic. On top of that nginx logs the requests it was
# answering when the agent died (at most its VUs, here 3), which no one can
# count. So: nginx_total - herd_total <= 2 s x (its rate) + its VUs.
LOST_AGENT_WINDOW_S = 2.0


def test_kill9_agent_midrun():
    """kill -9 of a2 3 s into a 12 s run (9 VUs): the run goes on to its end
    and exits 109 (degraded), not 0; the controller prints that it lost the agent within 3.5 s
    of the kill; herd.degraded is true, a2 is "lost", a1 and a3 are not;
    a1's and a3's counts equal nginx's exactly; herd's total <= nginx's and
    the gap <= 2 s of a2's traffic + its 3 VUs in flight."""
    with Topology() as topo:
        ng = topo.start_nginx()
        cl = Cluster(topo, ng)
        cl.start_controller(plan_text(9, "12s"))
        cl.start_agents()
        t_load = wait_load(ng)
        time.sleep(max(0.0, t_load + 3.0 - time.monotonic()))
        check(cl.ctl.poll() is None, "controller exited before the kill%s" % cl.outputs())
        wall_kill = time.time()
        t_kill = cl.agents["a2"].kill9()
        hit = cl.ctl.wait_for(r"\blost\b", timeout=10, after=t_kill)
        if hit:
            note("controller printed %.2f s after the kill: %s", hit[0] - t_kill, hit[1].strip())
        cl.finish(timeout=30)
        soft = Checks()
        if soft(hit is not None, "the controller never printed that it lost an agent (no line "
                "with 'lost' within 10 s of the kill)"):
            delay = hit[0] - t_kill
            soft(delay <= 3.5, "the controller marked the loss %.2f s after kill -9 (limit 3 s "
                 "+ 0.5 s margin): %s" % (delay, hit[1].strip()))
        check(cl.code == 109, "controller exited %s after losing one agent, expected the "
              "run to go on to its end and exit 109 (degraded)%s" % (cl.code, cl.outputs()))
        logged = ng.settle()
        count = cl.count()
        per, by = per_agent_nginx(ng)
        hs = cl.herd_section()
        rows = cl.agent_rows()
        check("a2" in rows, "the lost agent a2 is missing from herd.agents: %s"
              % json.dumps(hs.get("agents"))[:600])
        # a2's rate, from nginx's own timestamps of its requests
        a2_times = [e[0] for e in ng.lines() if e[1] == HOSTS["a2"]]
        check(a2_times, "nginx logged nothing from a2 before the kill")
        span = max(0.5, min(wall_kill, max(a2_times)) - min(a2_times))
        rate = len(a2_times) / span
        bound = int(math.ceil(LOST_AGENT_WINDOW_S * rate)) + 3
        a2_herd = agent_requests(rows["a2"])
        note("herd %d, nginx %d (gap %d, bound %d = 2 s x %.0f req/s + 3); a2: herd %d, nginx "
             "%d; per address %s; herd.status %r, degraded %r", count, logged, logged - count,
             bound, rate, a2_herd, per["a2"], by, hs.get("status"), hs.get("degraded"))
        note("herd.agents.a2 = %s", json.dumps(rows["a2"]))
        soft(count <= logged, "herd counted %d requests, more than nginx logged (%d)"
             % (count, logged))
        soft(a2_herd <= per["a2"], "a2: herd %d > nginx %d" % (a2_herd, per["a2"]))
        soft(logged - count <= bound, "herd lost %d requests (nginx %d, herd %d), more than "
             "a2's unacknowledged window allows (%d)" % (logged - count, logged, count, bound))
        soft(a2_herd > 0, "nothing a2 measured before its death was kept (herd a2 = 0, nginx "
             "logged %d from it over %.1f s)" % (per["a2"], span))
        for h in ("a1", "a3"):
            if soft(h in rows, "agent %s missing from herd.agents" % h):
                n = agent_requests(rows[h])
                soft(n == per[h], "surviving agent %s: herd counted %d, nginx logged %d"
                     % (h, n, per[h]))
                soft(rows[h].get("status") != "lost", "%s status %r"
                     % (h, rows[h].get("status")))
        soft(hs.get("degraded") is True, "herd.degraded is %r after losing a2"
             % hs.get("degraded"))
        soft(rows["a2"].get("status") == "lost", "herd.agents.a2.status is %r, expected 'lost'"
             % rows["a2"].get("status"))
        soft.done()


def test_kill9_controller_midrun():
    """kill -9 of the controller 3 s into a 15 s run: the agents stop all load
    by themselves: nginx's line count 3.5 s after the kill equals the count
    6 s after it (sampled every 0.25 s); the agents stay up."""
    with Topology() as topo:
        ng = topo.start_nginx()
        cl = Cluster(topo, ng)
        cl.start_controller(plan_text(9, "15s"))
        cl.start_agents()
        t_load = wait_load(ng)
        time.sleep(max(0.0, t_load + 3.0 - time.monotonic()))
        check(cl.ctl.poll() is None, "controller exited before the kill%s" % cl.outputs())
        c_kill = ng.count()
        t_kill = cl.ctl.kill9()
        samples = []
        while time.monotonic() < t_kill + 6.0:
            samples.append((time.monotonic() - t_kill, ng.count()))
            time.sleep(0.25)
        samples.append((time.monotonic() - t_kill, ng.count()))
        at35 = [n for (t, n) in samples if t <= 3.5][-1]
        final = samples[-1][1]
        stopped_at = next((t for (t, n) in samples if n == final), None)
        note("nginx lines: %d at the kill, %d at +3.5 s, %d at +6 s; constant from +%.2f s; "
             "samples %s", c_kill, at35, final, stopped_at,
             " ".join("%.2f:%d" % s for s in samples[::2]))
        check(c_kill > 0, "no load before the kill")
        check(at35 == final, "nginx's log still grew after kill+3.5 s: %d at +3.5 s, %d at "
              "+6 s (agents did not stop their load)%s" % (at35, final, cl.outputs()))
        for h in AGENTS:
            check(cl.agents[h].poll() is None, "agent %s exited (%s) after losing its controller"
                  " (it should stop its load and stay up)%s"
                  % (h, cl.agents[h].returncode, cl.agents[h].tail(800)))


def _link_cut_run(lost_timeout_a2=None):
    """A 20 s run (9 VUs); a2's cable is cut 5 s after the load starts and
    plugged back 5 s later. Returns (cluster, nginx, wall time of the cut)."""
    topo = Topology()
    topo.__enter__()
    try:
        ng = topo.start_nginx()
        cl = Cluster(topo, ng)
        cl.start_controller(plan_text(9, "20s"))
        for h in AGENTS:
            extra = []
            if h == "a2" and lost_timeout_a2:
                extra = ["--lost-controller-timeout", lost_timeout_a2]
            cl.start_agent(h, extra=extra)
        t_load = wait_load(ng)
        time.sleep(max(0.0, t_load + 5.0 - time.monotonic()))
        wall_cut = time.time()
        t_cut = topo.link_down("a2")
        time.sleep(5.0)
        topo.link_up("a2")
        wall_up = time.time()
        note("a2 cut at +%.2f s of load for %.2f s", t_cut - t_load, wall_up - wall_cut)
        cl.finish(timeout=40)
        return topo, cl, ng, wall_cut, wall_up
    except BaseException:
        topo.teardown()
        raise


def _link_cut_checks(cl, ng, wall_cut, wall_up):
    # A run that lost a2 for good (its load stopped) is degraded: exit 109.
    hs = cl.herd_section()
    want = 109 if hs.get("degraded") else 0
    check(cl.code == want, "controller exited %s, expected %d (degraded %r)%s"
          % (cl.code, want, hs.get("degraded"), cl.outputs()))
    logged = ng.settle()
    count = cl.count()
    per, by = per_agent_nginx(ng)
    a2 = [e[0] for e in ng.lines() if e[1] == HOSTS["a2"]]
    before = sum(1 for t in a2 if t < wall_cut)
    during = sum(1 for t in a2 if wall_cut <= t < wall_up)
    after = sum(1 for t in a2 if t >= wall_up)
    rows = {}
    try:
        rows = cl.agent_rows()
    except Fail as e:
        note("herd.agents: %s", e)
    hs = cl.herd_section()
    note("herd %d, nginx %d; nginx per address %s; a2 in nginx: %d before the cut, %d during, "
         "%d after (first after: +%.2f s); herd per agent %s; degraded %r; errors %s",
         count, logged, by, before, during, after,
         (min([t for t in a2 if t >= wall_up], default=wall_up) - wall_up),
         {h: (agent_requests(r), r.get("status")) for h, r in rows.items()},
         hs.get("degraded"), hs.get("errors_by_kind"))
    check(count == logged, "herd http_reqs.count %d != nginx access log %d after a 5 s link "
          "cut (nginx per address %s; herd per agent %s)"
          % (count, logged, by, {h: agent_requests(r) for h, r in rows.items()}))
    for h in AGENTS:
        if h in rows:
            n = agent_requests(rows[h])
            check(n == per[h], "agent %s: herd %d, nginx %d" % (h, n, per[h]))


def test_link_cut_5s_nothing_lost():
    """Defaults everywhere (the cut agent stops its load after 3 s without its
    controller, the controller marks it lost after 3 s): a2's link is cut
    for 5 s in a 20 s run; afterwards herd's total equals nginx's, and each
    agent's count equals what nginx logged from its address."""
    topo, cl, ng, wall_cut, wall_up = _link_cut_run()
    try:
        _link_cut_checks(cl, ng, wall_cut, wall_up)
    finally:
        topo.teardown()


def test_link_cut_5s_agent_keeps_load():
    """Same cut, a2 started with --lost-controller-timeout 10s, so it keeps
    its VUs through the 5 s cut (their requests resume when TCP retransmits
    after the link is back) and its batches: totals still equal nginx's."""
    topo, cl, ng, wall_cut, wall_up = _link_cut_run(lost_timeout_a2="10s")
    try:
        _link_cut_checks(cl, ng, wall_cut, wall_up)
        a2_after = sum(1 for e in ng.lines() if e[1] == HOSTS["a2"] and e[0] >= wall_up + 1)
        check(a2_after > 0, "a2 sent nothing after its link came back although its "
              "--lost-controller-timeout (10 s) was longer than the cut (5 s)")
    finally:
        topo.teardown()


REFUSED = r"refus|reject|denied|auth"


def test_wrong_token_refused():
    """a3 has another token: it is refused (controller output and a3's
    stderr say so) and gets no plan; with --agents 3 --agents-wait 5s and
    only 2 good agents the run exits 103 and nginx sees nothing. Neither
    token appears in any output or in the results store."""
    with Topology() as topo:
        ng = topo.start_nginx()
        cl = Cluster(topo, ng)
        bad = write(os.path.join(topo.dir, "bad-token"), secrets.token_hex(32) + "\n")
        cl.start_controller(plan_text(3, "5s"), wait="5s")
        cl.start_agents(("a1", "a2"))
        cl.start_agent("a3", token=bad)
        refused_run_checks(cl, ng)
        ctl_hit = cl.ctl.find(REFUSED)
        check(ctl_hit, "the controller's output does not mention a refused peer%s" % cl.outputs())
        a3_hit = cl.agents["a3"].wait_for(r"refused|authentication failed", timeout=2, tag="err")
        check(a3_hit, "a3's stderr does not say refused / authentication failed:\n%s"
              % cl.agents["a3"].tail(1500))
        for h in ("a1", "a2"):
            bad_hit = cl.agents[h].find(r"refused|authentication failed")
            check(not bad_hit, "good agent %s was refused too: %s" % (h, bad_hit))
        # the tokens are never logged nor stored (issue 3 part 2)
        for tok_path in (cl.token, bad):
            with open(tok_path) as f:
                tok = f.read().strip()
            for name, p in [("controller", cl.ctl)] + sorted(cl.agents.items()):
                check(tok[:16] not in p.text(), "%s's output contains a token" % name)
            for dbf in (cl.db, cl.db + "-wal"):
                if os.path.exists(dbf):
                    with open(dbf, "rb") as f:
                        check(tok[:16].encode() not in f.read(), "%s holds a token" % dbf)
        note("controller: %s | a3: %s", ctl_hit[1].strip(), a3_hit[1].strip())


def test_wrong_version_refused():
    """a3 speaks protocol version 99 (HERD_WIRE_VERSION=99, a test-only
    override): refused with a message naming both versions on both sides;
    the run (--agents 3 --agents-wait 5s) exits 103, nginx sees nothing."""
    v = wire_version()
    with Topology() as topo:
        ng = topo.start_nginx()
        cl = Cluster(topo, ng)
        cl.start_controller(plan_text(3, "5s"), wait="5s")
        cl.start_agents(("a1", "a2"))
        cl.start_agent("a3", env={"HERD_WIRE_VERSION": "99"})
        refused_run_checks(cl, ng)
        both = r"(?=.*version)(?=.*\b99\b)(?=.*\b%d\b)" % v
        ctl_hit = cl.ctl.find(both)
        check(ctl_hit, "no controller line names 'version', 99 and %d%s" % (v, cl.outputs()))
        a3_hit = cl.agents["a3"].wait_for(both, timeout=2, tag="err")
        check(a3_hit, "no line of a3 names 'version', 99 and %d:\n%s"
              % (v, cl.agents["a3"].tail(1500)))
        note("controller: %s | a3: %s", ctl_hit[1].strip(), a3_hit[1].strip())


# TLS ----------------------------------------------------------------------

def _openssl(*args, cwd):
    p = subprocess.run(["openssl"] + list(args), cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    if p.returncode != 0:
        raise Fail("openssl %s: %s" % (" ".join(args), p.stderr.decode(errors="replace")))


def make_ca(d, name):
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", name + ".key", "-out", name + ".crt", "-days", "2",
             "-subj", "/CN=herd test %s" % name,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def make_cert(d, ca, name, cn, server):
    """name.crt/name.key signed by ca. Server: SAN DNS and IP 198.18.0.1 (the
    DNS form for TLS stacks that match IPs only against DNS names)."""
    write(os.path.join(d, name + ".ext"),
          "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
          "extendedKeyUsage=%s\nsubjectAltName=%s\n" % (
              "serverAuth" if server else "clientAuth",
              ("DNS:%s,IP:%s" % (cn, cn)) if server else "DNS:%s" % cn), 0o644)
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn,
             cwd=d)
    _openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
             "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", name + ".ext",
             cwd=d)
    os.chmod(os.path.join(d, name + ".key"), 0o600)


def tls_setup(cl, rogue=(), rogue_ctl=False):
    """CA + controller cert + one client cert per agent; agents in rogue (and
    the controller when rogue_ctl) get a certificate from another CA.
    Everyone trusts only the first CA. Returns {host: agent tls args}."""
    if not shutil.which("openssl"):
        raise Fail("openssl is missing (apt-get install openssl)")
    d = os.path.join(cl.dir, "pki")
    os.makedirs(d)
    make_ca(d, "ca")
    make_ca(d, "rogue-ca")
    make_cert(d, "rogue-ca" if rogue_ctl else "ca", "ctl", HOSTS["ctl"], server=True)
    p = lambda n: os.path.join(d, n)  # noqa: E731
    cl.scheme = "tls+tcp"
    cl.ctl_tls = ["--tls-cert", p("ctl.crt"), "--tls-key", p("ctl.key"), "--tls-ca", p("ca.crt")]
    out = {}
    for h in AGENTS:
        make_cert(d, "rogue-ca" if h in rogue else "ca", h, h, server=False)
        out[h] = ["--tls-cert", p(h + ".crt"), "--tls-key", p(h + ".key"),
                  "--tls-ca", p("ca.crt")]
    return out


def test_tls_mutual_run():
    """tls+tcp:// with mutual certificates (one CA): 3 agents, constant-vus 6
    for 5 s: exit 0, totals equal nginx's, all 3 agents counted."""
    with Topology() as topo:
        ng = topo.start_nginx()
        cl = Cluster(topo, ng)
        tls = tls_setup(cl)
        cl.start_controller(plan_text(6, "5s"))
        for h in AGENTS:
            cl.start_agent(h, tls=tls[h])
        cl.finish(timeout=30)
        cl.expect_code(0)
        count, logged, per = check_totals_equal(cl, ng)
        check(count > 0, "no requests")
        rows = cl.agent_rows()
        check(sorted(rows) == list(AGENTS), "herd.agents has %s" % sorted(rows))
        for h in AGENTS:
            check(agent_requests(rows[h]) == per[h] > 0, "agent %s: herd %s, nginx %d"
                  % (h, agent_requests(rows[h]), per[h]))


def test_tls_untrusted_agent_cert_refused():
    """a3's client certificate is signed by another CA: it never joins; the
    run (--agents 3 --agents-wait 5s) exits 103 and nginx sees nothing."""
    with Topology() as topo:
        ng = topo.start_nginx()
        cl = Cluster(topo, ng)
        tls = tls_setup(cl, rogue=("a3",))
        cl.start_controller(plan_text(3, "5s"), wait="5s")
        for h in AGENTS:
            cl.start_agent(h, tls=tls[h])
        refused_run_checks(cl, ng)
        note("a3 said: %s", " | ".join(cl.agents["a3"].text().splitlines()[-3:]))


def test_tls_untrusted_controller_cert_refused():
    """The controller's certificate is signed by another CA than the one the
    agents trust: no agent joins (they check the controller too); exit 103
    with --agents-wait 5s, nginx sees nothing."""
    with Topology() as topo:
        ng = topo.start_nginx()
        cl = Cluster(topo, ng)
        tls = tls_setup(cl, rogue_ctl=True)
        cl.start_controller(plan_text(3, "5s"), wait="5s")
        for h in AGENTS:
            cl.start_agent(h, tls=tls[h])
        refused_run_checks(cl, ng)
        note("a1 said: %s", " | ".join(cl.agents["a1"].text().splitlines()[-3:]))


def test_allow_target_refused():
    """a1 runs with --allow-target 198.18.0.200 while the plan targets
    198.18.0.100:8080 (a2 and a3 allow it as host:port and as a CIDR): the
    assignment is refused, the controller shows the error ("allow-target" or
    "not allowed"), exit 103, nginx's log stays empty."""
    with Topology() as topo:
        ng = topo.start_nginx()
        cl = Cluster(topo, ng)
        cl.start_controller(plan_text(3, "5s"))
        cl.start_agent("a1", extra=["--allow-target", "198.18.0.200"])
        cl.start_agent("a2", extra=["--allow-target", "%s:%d" % (HOSTS["web"], netns.WEB_PORT)])
        cl.start_agent("a3", extra=["--allow-target", "198.18.0.0/24"])
        refused_run_checks(cl, ng)
        hit = cl.ctl.find(r"allow-target|not allowed")
        check(hit, "the controller's output does not show the allow-target error%s"
              % cl.outputs())
        note("controller: %s", hit[1].strip())


# journeys across remote agents (docs/journeys.md) ---------------------------

FEED_ROWS = 600
FEED_FIRST_ID = 10000


def parse_uri(uri):
    """(path, {name: value}) of a logged $request_uri (values unquoted)."""
    u = urllib.parse.urlsplit(uri)
    return u.path, {k: v[-1] for k, v in urllib.parse.parse_qs(u.query).items()}


def by_agent_host(recs):
    """{host: [records]} for a1..a3 (by source address), and the records
    from any other address."""
    host_of = {HOSTS[h]: h for h in AGENTS}
    out, other = {h: [] for h in AGENTS}, []
    for r in recs:
        (out[host_of[r["addr"]]] if r["addr"] in host_of else other).append(r)
    return out, other


def check_agents_match_nginx(cl, ng, want_total, what):
    """exit 0; herd's http_reqs == nginx's lines == want_total; each agent's
    count in herd.agents == what nginx logged from its address."""
    cl.expect_code(0)
    count, logged, per = check_totals_equal(cl, ng, what)
    check(logged == want_total, "nginx logged %d requests, expected %d%s"
          % (logged, want_total, cl.outputs()))
    rows = cl.agent_rows()
    check(sorted(rows) == list(AGENTS), "herd.agents has %s" % sorted(rows))
    for h in AGENTS:
        check(agent_requests(rows[h]) == per[h], "agent %s: herd counted %s, nginx logged %d "
              "from %s" % (h, agent_requests(rows[h]), per[h], HOSTS[h]))
    return rows


def test_feeder_split_remote_agents():
    """600 CSV rows (id,email), split: per-agent, onExhausted: stop, over 3
    remote agents whose working directories do not hold the CSV (which is
    deleted once the controller has loaded the plan): shared-iterations of
    900 > 600 GETs /u/{{ users.id }}?a={{ __AGENT }}&e={{ users.email }}.
    nginx logs 600 requests, 600 distinct ids, each with its own row's email;
    each agent's source address used one contiguous block of 200 ids (agent
    k: rows 200k..200k+199), one a= value, a=k; herd's totals (requests,
    iterations, per agent) equal nginx's."""
    with Topology() as topo:
        ng = topo.start_nginx()
        cl = Cluster(topo, ng)
        plan_dir = os.path.join(cl.dir, "ctl-plan")
        os.makedirs(plan_dir, mode=0o700)
        csv_text = "id,email\n" + "".join("%d,user%d@example.test\n" % (FEED_FIRST_ID + i, i)
                                          for i in range(FEED_ROWS))
        cl.start_controller("""name: netns-feeder
target: http://%s:%d
data:
  users: { file: users.csv, split: per-agent, order: sequential, onExhausted: stop }
scenarios:
  s:
    executor: shared-iterations
    vus: 6
    iterations: %d
    maxDuration: 30s
    flow:
      - get: "/u/{{ users.id }}?a={{ __AGENT }}&e={{ users.email }}"
        name: user
""" % (HOSTS["web"], netns.WEB_PORT, FEED_ROWS * 3 // 2), plan_dir=plan_dir,
            files={"users.csv": csv_text})
        check(cl.ctl.wait_for(r"listening on", timeout=10), "the controller did not start "
              "listening%s" % cl.outputs())
        os.unlink(os.path.join(plan_dir, "users.csv"))  # loaded: only the controller has it
        cl.start_agents_apart()
        cl.finish(timeout=40)
        rows = check_agents_match_nginx(cl, ng, FEED_ROWS, "feeder: ")
        recs, other = by_agent_host(ng.records())
        check(not other, "requests from other addresses: %s" % other[:3])
        seen, blocks = [], {}
        for h in AGENTS:
            ids, agent_vals = [], set()
            for r in recs[h]:
                path, q = parse_uri(r["request_uri"])
                m = re.match(r"^/u/(\d+)$", path)
                check(m and r["status"] == 200, "%s: unexpected request %s" % (h, r))
                i = int(m.group(1)) - FEED_FIRST_ID
                check(q.get("e") == "user%d@example.test" % i, "%s: id %s sent with email %r "
                      "(another row's)" % (h, m.group(1), q.get("e")))
                ids.append(i)
                agent_vals.add(q.get("a"))
            seen += ids
            ids.sort()
            check(len(agent_vals) == 1, "%s sent a= values %s (one agent, one __AGENT)"
                  % (h, sorted(agent_vals, key=str)))
            check(ids and ids == list(range(ids[0], ids[0] + len(ids))), "%s used %d rows, not "
                  "one contiguous block: %s..%s" % (h, len(ids), ids[:5], ids[-5:]))
            blocks[h] = (agent_vals.pop(), ids[0], ids[-1], len(ids))
        note("blocks by address (a=, first row, last row, rows): %s; cores %s", blocks,
             {h: rows[h].get("cores") for h in AGENTS})
        check(len(seen) == FEED_ROWS and len(set(seen)) == FEED_ROWS
              and set(seen) == set(range(FEED_ROWS)), "%d requests, %d distinct rows of %d"
              % (len(seen), len(set(seen)), FEED_ROWS))
        check(sorted(a for a, _, _, _ in blocks.values()) == ["0", "1", "2"],
              "a= values per address: %s" % {h: b[0] for h, b in blocks.items()})
        # the agents' weights are their worker counts; on one machine they are
        # equal, so agent k (its __AGENT) has rows [200k, 200k + 200)
        if len({rows[h].get("cores") for h in AGENTS}) == 1:
            share = FEED_ROWS // len(AGENTS)
            for h, (a, lo, hi, n) in sorted(blocks.items()):
                check((lo, hi) == (int(a) * share, int(a) * share + share - 1),
                      "%s (a=%s) used rows %d..%d, expected %d..%d" % (h, a, lo, hi,
                      int(a) * share, int(a) * share + share - 1))
        it = cl.summary.get("metrics", {}).get("iterations", {}).get("count")
        check(it == FEED_ROWS, "iterations %s, expected %d (one per row)" % (it, FEED_ROWS))
        ek = cl.herd_section().get("errors_by_kind")
        check(not ek, "errors_by_kind %s" % ek)


def test_capture_and_env_remote_agents():
    """A 2-step flow on 3 remote agents (6 VUs x 20 iterations): GET
    /rid?vu=..&it=.. answers {"id": nginx's $request_id}, captured as rid;
    GET /echo/{{ rid }}?vu=..&it=.. follows. Every request carries X-Token:
    env("HERD_TOKEN"), set in the controller's environment only. nginx's log:
    240 requests, each (address, VU, iteration) has one /rid and one later
    /echo whose path is that /rid's request id; each VU sends from one
    address only; every request has the token."""
    vus, iters = 6, 20
    token = secrets.token_hex(12)
    with Topology() as topo:
        ng = topo.start_nginx()
        cl = Cluster(topo, ng)
        q = "vu={{ __VU }}&it={{ __ITER }}"
        hdr = """headers: { X-Token: '{{ env("HERD_TOKEN") }}' }"""
        cl.start_controller("""name: netns-capture
target: http://%s:%d
scenarios:
  s:
    executor: per-vu-iterations
    vus: %d
    iterations: %d
    maxDuration: 30s
    flow:
      - get: "/rid?%s"
        name: rid
        %s
        capture:
          rid: { json: $.id }
      - get: "/echo/{{ rid }}?%s"
        name: echo
        %s
        checks:
          echoed: { status: 200 }
""" % (HOSTS["web"], netns.WEB_PORT, vus, iters, q, hdr, q, hdr),
            env={"HERD_TOKEN": token})
        cl.start_agents_apart(env={"HERD_TOKEN": None})
        cl.finish(timeout=40)
        check_agents_match_nginx(cl, ng, 2 * vus * iters, "capture: ")
        recs, other = by_agent_host(ng.records())
        check(not other, "requests from other addresses: %s" % other[:3])
        ek = cl.herd_section().get("errors_by_kind")
        check(not ek, "errors_by_kind %s" % ek)
        rid_of, echo_of, vu_addr, stats = {}, {}, {}, {}
        for h in AGENTS:
            bad_tok = [r for r in recs[h] if r["x_token"] != token]
            check(not bad_tok, "%d of %s's %d requests lack X-Token = env(\"HERD_TOKEN\"), "
                  "e.g. %r" % (len(bad_tok), h, len(recs[h]), bad_tok[0]["x_token"]
                               if bad_tok else None))
            for r in recs[h]:
                path, qs = parse_uri(r["request_uri"])
                key = (h, qs.get("vu"), qs.get("it"))
                check(r["status"] == 200, "%s: status %d for %s" % (h, r["status"], path))
                vu_addr.setdefault(qs.get("vu"), set()).add(h)
                if path == "/rid":
                    check(key not in rid_of, "two /rid for %s" % (key,))
                    rid_of[key] = r
                elif path.startswith("/echo/"):
                    check(key not in echo_of, "two /echo for %s" % (key,))
                    echo_of[key] = (path[len("/echo/"):], r)
                else:
                    raise Fail("%s: unexpected request %s" % (h, r["request_uri"]))
            stats[h] = (sum(1 for k in rid_of if k[0] == h),
                        len({k[1] for k in rid_of if k[0] == h}))
        check(len(rid_of) == vus * iters and set(echo_of) == set(rid_of),
              "%d /rid and %d /echo, for %d iterations; unpaired: %s"
              % (len(rid_of), len(echo_of), vus * iters,
                 sorted(set(rid_of) ^ set(echo_of))[:5]))
        ids = [r["request_id"] for r in rid_of.values()]
        check(len(set(ids)) == len(ids) and all(re.match(r"^[0-9a-f]{32}$", x) for x in ids),
              "nginx's request ids are not 32 distinct hex strings: %s" % ids[:3])
        wrong = [(k, rid_of[k]["request_id"], echo_of[k][0]) for k in sorted(rid_of)
                 if k in echo_of and echo_of[k][0] != rid_of[k]["request_id"]]
        check(not wrong, "%d /echo paths do not carry the request id of their VU's /rid of "
              "the same iteration, e.g. (host, vu, iter, id, echoed) %s"
              % (len(wrong), wrong[:3]))
        early = [k for k in rid_of if k in echo_of and echo_of[k][1]["msec"] < rid_of[k]["msec"]]
        check(not early, "/echo logged before its /rid for %s" % early[:3])
        shared = {v: sorted(hs) for v, hs in vu_addr.items() if len(hs) > 1}
        check(not shared, "VUs seen from several agents: %s" % shared)
        check(all(stats[h][0] > 0 for h in AGENTS), "iterations per agent: %s" % stats)
        note("per agent (iterations, VUs): %s; token on all %d requests",
             stats, sum(len(v) for v in recs.values()))


TESTS = [
    test_topology,
    test_three_agents_totals_match,
    test_start_skew,
    test_kill9_agent_midrun,
    test_kill9_controller_midrun,
    test_link_cut_5s_nothing_lost,
    test_link_cut_5s_agent_keeps_load,
    test_wrong_token_refused,
    test_wrong_version_refused,
    test_tls_mutual_run,
    test_tls_untrusted_agent_cert_refused,
    test_tls_untrusted_controller_cert_refused,
    test_allow_target_refused,
    test_feeder_split_remote_agents,
    test_capture_and_env_remote_agents,
]


def main():
    argv = sys.argv[1:]
    only = []
    i = 0
    while i < len(argv):
        if argv[i] == "-k" and i + 1 < len(argv):
            only.append(argv[i + 1])
            i += 2
        elif argv[i] == "-l":
            for t in TESTS:
                print(t.__name__)
            return 0
        else:
            print("usage: %s [-k NAME]... [-l]" % sys.argv[0], file=sys.stderr)
            return 2
    selected = [t for t in TESTS if not only or any(k in t.__name__ for k in only)]
    ok, why = netns.can_make_namespaces()
    if not ok:
        for t in selected:
            print("skip - %s: %s" % (t.__name__, why))
        print("# %d skipped: network namespaces cannot be made here" % len(selected))
        print("0 passed, 0 failed")
        return 0
    netns.sigterm_to_exit()
    passed = failed = 0
    t_all = time.monotonic()
    for t in selected:
        t0 = time.monotonic()
        try:
            t()
        except Fail as e:
            failed += 1
            print("not ok - %s: %s" % (t.__name__, str(e).strip().replace("\n", "\n    ")))
        except Exception:
            failed += 1
            tb = traceback.format_exc().strip().replace("\n", "\n    ")
            print("not ok - %s: %s" % (t.__name__, tb))
        else:
            passed += 1
            print("ok - %s (%.1fs)" % (t.__name__, time.monotonic() - t0))
        sys.stdout.flush()
    print("# %.1fs" % (time.monotonic() - t_all))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
