#!/usr/bin/env python3
"""Memory per idle WebSocket session: herd-agent beside a bare Node `ws` client.

One Node `ws` server (npm, not herd's code) on 127.0.0.1 counts the sessions
open now and at most (GET /stats). For each level N (LEVELS, default
"100 1000 5000 19000"):

- herd: one local agent with one worker runs N VUs, each opening one
  session to the server and holding it (`hold`) until the run ends;
- node: one Node process opens N `ws` client sessions to the same server
  and holds them.

Each client's RSS (VmRSS of the herd-agent process alone; of the node
process) is sampled every 0.5 s with the server's count of open sessions;
the figure for a level is the last sample taken while every session was open
(the server's count equals N), after OPEN_SETTLE_S of them all being open.
Memory per session is the growth from the lowest level, over the sessions
added.

    HERD_BIN=build/controller/herd HERD_AGENT_BIN=build/agent/herd-agent python3 bench/idle_ws.py
    LEVELS="100 19000" NPM_DIR=/tmp/bench-ws-npm python3 bench/idle_ws.py

Talks to 127.0.0.1 only; every run is bounded (HOLD_S + 60 s), the server
and the clients are stopped by their PIDs.
"""
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
HERD = os.environ.get("HERD_BIN", os.path.join(ROOT, "build", "controller", "herd"))
NPM_DIR = os.environ.get("NPM_DIR", "/tmp/bench-ws-npm")
LEVELS = [int(x) for x in os.environ.get("LEVELS", "100 1000 5000 19000").split()]
HOLD_S = int(os.environ.get("HOLD_S", "40"))
OPEN_SETTLE_S = float(os.environ.get("OPEN_SETTLE_S", "3"))

SERVER_JS = r"""
const http = require('http');
const { WebSocketServer } = require(process.env.NPM_DIR + '/node_modules/ws');
let open = 0, peak = 0;
const srv = http.createServer((req, res) => {
  if (req.url === '/reset') peak = open;
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ open, peak }));
});
const wss = new WebSocketServer({ server: srv, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (ws) => {
  open++; if (open > peak) peak = open;
  ws.on('close', () => { open--; });
  ws.on('error', () => {});
});
srv.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => console.log(srv.address().port));
"""

CLIENT_JS = r"""
// N idle ws client sessions held HOLD_S seconds: the bare peer.
const WebSocket = require(process.env.NPM_DIR + '/node_modules/ws');
const n = +process.argv[2], url = process.argv[3], hold = +process.argv[4] * 1000;
let i = 0;
function more() {
  for (let k = 0; k < 200 && i < n; k++, i++) {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('error', () => {});
  }
  if (i < n) setTimeout(more, 20);
}
more();
setTimeout(() => process.exit(0), hold);
"""


def stats(port):
    """The server's counts; None when it is too busy to answer (at 19,000
    sessions opening at once, Node's event loop may take seconds)."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/stats" % port, timeout=5) as r:
            return json.loads(r.read())
    except OSError:  # timeouts included
        return None


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def find_pid(root, name):
    """root itself or the first descendant whose comm is name."""
    todo = [root]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/comm" % p) as f:
                if f.read().strip() == name:
                    return p
        except OSError:
            continue
        todo.extend(children(p))
    return None


def measure(port, n, argv, name, env):
    """Starts argv, samples name's RSS and the server's open count; returns
    (open, rss_kB) at the last sample with every session open and settled."""
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                         start_new_session=True)
    best = None
    full_since = None
    deadline = time.time() + HOLD_S + 60
    peak = 0
    try:
        while p.poll() is None and time.time() < deadline:
            time.sleep(0.5)
            pid = find_pid(p.pid, name)
            s = stats(port)
            if s is None:
                continue
            peak = max(peak, s["open"])
            r = rss_kb(pid) if pid else None
            if s["open"] >= n and r is not None:
                full_since = full_since or time.time()
                if time.time() - full_since >= OPEN_SETTLE_S:
                    best = (s["open"], r)
            elif full_since is not None and s["open"] < n:
                break  # sessions closing: the run is ending
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
    for _ in range(100):  # the server sees the closes
        s = stats(port)
        if s is not None and s["open"] == 0:
            break
        time.sleep(0.2)
    if best is None:
        sys.exit("%s at %d sessions: at most %d open at once; stderr: %s"
                 % (name, n, peak, p.stderr.read().decode(errors="replace")[-2000:]))
    return best


PLAN = """name: idle-ws
target: http://127.0.0.1:%d
scenarios:
  idle:
    executor: constant-vus
    vus: %d
    duration: %ds
    gracefulStop: 1s
    flow:
      - ws: /idle
        session:
          - hold: %ds
          - close: 1000
"""


def main():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if not os.path.isdir(os.path.join(NPM_DIR, "node_modules", "ws")):
        os.makedirs(NPM_DIR, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", "ws"], cwd=NPM_DIR,
                       check=True, timeout=180, stdout=subprocess.DEVNULL)
    tmp = tempfile.mkdtemp(prefix="herd-idle-ws.")
    env = dict(os.environ, NPM_DIR=NPM_DIR)
    for name, text in (("server.js", SERVER_JS), ("client.js", CLIENT_JS)):
        with open(os.path.join(tmp, name), "w") as f:
            f.write(text)
    srv = subprocess.Popen(["node", os.path.join(tmp, "server.js")], stdout=subprocess.PIPE, env=env)
    try:
        port = int(srv.stdout.readline())
        ver = subprocess.run(["node", "-p", "process.version + ' ws ' + require('%s/node_modules/ws/package.json')"
                              ".version" % NPM_DIR], capture_output=True, text=True).stdout.strip()
        print("idle_ws: %s, Node %s, fd hard limit %d, hold %d s"
              % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), ver, hard, HOLD_S))
        rows = []
        for n in LEVELS:
            if n > hard - 200:
                print("idle_ws: %d skipped: fd hard limit %d" % (n, hard))
                continue
            plan = os.path.join(tmp, "plan-%d.yaml" % n)
            with open(plan, "w") as f:
                f.write(PLAN % (port, n, HOLD_S, HOLD_S - 2))
            h = measure(port, n, [HERD, "run", plan, "--workers", "1", "--quiet", "--db",
                                  os.path.join(tmp, "h.db"), "--summary-export", os.path.join(tmp, "s.json")],
                        "herd-agent", env)
            nd = measure(port, n, ["node", os.path.join(tmp, "client.js"), str(n),
                                   "ws://127.0.0.1:%d/idle" % port, str(HOLD_S)], "node", env)
            rows.append((n, h, nd))
            print("%6d sessions  herd-agent %8d kB (open %d)   node ws %8d kB (open %d)"
                  % (n, h[1], h[0], nd[1], nd[0]), flush=True)
        if len(rows) >= 2:
            n0, h0, d0 = rows[0]
            print("per session, from %d:" % n0)
            for n, h, d in rows[1:]:
                print("%6d sessions  herd-agent %.2f KB   node ws %.2f KB   ratio %.2f"
                      % (n, (h[1] - h0[1]) / (n - n0), (d[1] - d0[1]) / (n - n0),
                         (h[1] - h0[1]) / max(1, d[1] - d0[1])))
    finally:
        srv.kill()
        srv.wait()


if __name__ == "__main__":
    main()
