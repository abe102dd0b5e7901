#!/usr/bin/env bash
# WebSocket benchmark (not a test): herd beside Artillery's ws engine, both
# against the same Node `ws` echo server (npm; not herd's code).
#
#  1. idle sessions: one herd-agent opens N sessions that connect and `hold`
#     (N = 2000, 5000, 10000, capped by the open-file hard limit); prints the
#     most sessions open at once (the server's count) and the client's RSS at
#     that point, and the memory per open session;
#  2. echo: 50 sessions loop send/expect without delay, the client pinned to
#     CPU 1 (herd: --workers 1), the server to CPU 0; prints messages/s
#     (server-side, steady state) and the client's CPU µs per message;
#  3. ports (optional, STEPS="... ports"): the ephemeral port range. One source
#     address reaches one ip:port over at most ip_local_port_range ports
#     (28,232 here), and Linux's connect() slows down past half of them (it
#     tries the even ports first). herd opens idle sessions to one Node ws
#     server at PORTS_RATE (1,000) a second, each VU once: first from
#     127.0.0.1 alone, PORTS_NOPOOL_N of them (the range + 2,000), then
#     PORTS_N (40,000) with --source-addresses, once per pool in PORTS_POOLS
#     (127.0.0.2-127.0.0.3, then 127.0.0.2-127.0.0.4); prints the sessions
#     reached (the server's count and, per source address, ss), herd's
#     error kinds, the agents' RSS per session and their CPU.
#     One process holds at most the fd hard limit of sockets, so the server
#     is a Node cluster and herd runs enough local agents (--local-agents)
#     to stay under it; the server runs on SERVER_CPU, herd on CLIENT_CPU.
#
# Artillery 2 (npm, ws engine, WORKERS=1) runs the same loads in the same run
# when it can be installed; else the script says so and goes on without it.
# Only 127.0.0.0/8; every run is bounded (RUN_S + 8 s, then killed by PID;
# the ports runs at their ramp + hold + 20 s).
#
#   BUILD=build bench/ws.sh                 # herd binaries from $BUILD (default: build)
#   NPM_DIR=/tmp/ws-npm bench/ws.sh         # reuse an npm dir (ws, artillery@2) between runs
#   LEVELS="2000 5000 10000" ECHO_VUS=50 NO_ARTILLERY=1 bench/ws.sh
#   STEPS=ports PORTS_N=40000 PORTS_POOLS=127.0.0.2-127.0.0.4 bench/ws.sh  # the port range alone
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
LEVELS=${LEVELS:-"2000 5000 10000"}
ECHO_VUS=${ECHO_VUS:-50}
RUN_S=${RUN_S:-10}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
STEPS=${STEPS:-"idle echo"}
PORTS_N=${PORTS_N:-40000}
PORTS_POOLS=${PORTS_POOLS:-"127.0.0.2-127.0.0.3 127.0.0.2-127.0.0.4"}
PORTS_NOPOOL_N=${PORTS_NOPOOL_N:-} # default: the ephemeral port range + 2,000
PORTS_RATE=${PORTS_RATE:-1000}
PORTS_HOLD_S=${PORTS_HOLD_S:-10}
has_step() { case " $STEPS " in *" $1 "*) return 0 ;; esac; return 1; }

die() { echo "bench: $*" >&2; exit 1; }
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
HERD="$BUILD/controller/herd"
AGENT="$BUILD/agent/herd-agent"
[ -x "$HERD" ] && [ -x "$AGENT" ] || die "herd is not built in $BUILD: run 'meson setup $BUILD && ninja -C $BUILD' or set BUILD="
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (server on CPU $SERVER_CPU, client on CPU $CLIENT_CPU)"
for c in node npm taskset timeout ss; do command -v "$c" >/dev/null || die "'$c' not found"; done
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

# Sessions need one descriptor each, in the server and in the client.
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
ulimit -n "$hard"

tmp=$(mktemp -d /tmp/herd-wsbench.XXXXXX)
server_pid=""
ports_pid="" # the ports step's server: a process group of its own (setsid), so its workers go too
# stop PID [group]: SIGTERM, then SIGKILL after 1 s (to the process group PID with "group")
stop() {
	local t="$1"
	[ -n "${2:-}" ] && t="-$1"
	kill -TERM -- "$t" 2>/dev/null || true
	for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- "$t" 2>/dev/null || break; sleep 0.1; done
	kill -KILL -- "$t" 2>/dev/null || true
}
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	[ -n "$server_pid" ] && stop "$server_pid"
	[ -n "$ports_pid" ] && stop "$ports_pid" group
	if [ -n "${KEEP_TMP:-}" ]; then echo "bench: files kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- npm: ws (server) and artillery@2 (peer) ----
NPM_DIR=${NPM_DIR:-$tmp/npm}
mkdir -p "$NPM_DIR"
if [ ! -d "$NPM_DIR/node_modules/ws" ]; then
	echo "bench: npm install ws in $NPM_DIR"
	(cd "$NPM_DIR" && timeout 180 npm install --no-audit --no-fund --loglevel=error ws >/dev/null) ||
		die "npm install ws failed"
fi
ARTILLERY="$NPM_DIR/node_modules/.bin/artillery"
artillery_note=""
if ! has_step idle && ! has_step echo; then
	artillery_note="Artillery not needed (STEPS=$STEPS)"
elif [ -n "${NO_ARTILLERY:-}" ]; then
	artillery_note="Artillery skipped (NO_ARTILLERY set)"
elif [ ! -x "$ARTILLERY" ]; then
	echo "bench: npm install artillery@2 in $NPM_DIR (--ignore-scripts: its Playwright browser download is not needed for ws)"
	if ! (cd "$NPM_DIR" && timeout 300 npm install --no-audit --no-fund --ignore-scripts --loglevel=error artillery@2 >"$tmp/npm-artillery.log" 2>&1); then
		artillery_note="Artillery could not be installed here (see npm's log: $(tail -1 "$tmp/npm-artillery.log"))"
	fi
fi
if [ -z "$artillery_note" ] && ! timeout 60 "$ARTILLERY" version >/dev/null 2>&1; then
	artillery_note="Artillery was installed but does not run here"
fi
[ -n "$artillery_note" ] && echo "bench: $artillery_note; herd runs alone"
ART_VERSION=""
[ -z "$artillery_note" ] && ART_VERSION=$(node -p "require('$NPM_DIR/node_modules/artillery/package.json').version")

# ---- the echo server (Node ws), pinned to the server CPU ----
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$tmp/server.js" <<'EOF'
// Echo server: counts sessions open now / at most, and data messages; GET /stats, GET /reset.
const http = require('http');
const { WebSocketServer } = require(process.env.NPM_DIR + '/node_modules/ws');
let open = 0, peak = 0, sessions = 0, received = 0, sent = 0;
const srv = http.createServer((req, res) => {
  if (req.url === '/reset') peak = open;
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ open, peak, sessions, received, sent }));
});
const wss = new WebSocketServer({ server: srv, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (ws) => {
  open++; sessions++; if (open > peak) peak = open;
  ws.on('message', (data, isBinary) => { received++; ws.send(data, { binary: isBinary }); sent++; });
  ws.on('close', () => { open--; });
  ws.on('error', () => {});
});
srv.listen({ host: '127.0.0.1', port: +process.env.PORT, backlog: 4096 });
EOF
NPM_DIR="$NPM_DIR" PORT=$port taskset -c "$SERVER_CPU" node "$tmp/server.js" >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do
	$PY -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/stats', timeout=1)" 2>/dev/null && break
	sleep 0.1
done
kill -0 "$server_pid" 2>/dev/null || die "the node ws server did not start: $(cat "$tmp/server.log")"

NODE_WS_VERSION=$(node -p "require('$NPM_DIR/node_modules/ws/package.json').version")
echo "bench: $(date -u +%FT%TZ), $(nproc) CPUs, fd hard limit $hard; server: Node $(node --version) ws $NODE_WS_VERSION on CPU $SERVER_CPU (127.0.0.1:$port)${ART_VERSION:+; peer: Artillery $ART_VERSION}"

# ---- one bounded run of a client, sampled every 0.25 s ----
# measure TOOL CMD...: runs CMD (its own process group), samples the server's
# /stats, the client tree's RSS (VmRSS, summed) and CPU ticks, and the server's
# CPU ticks; prints one JSON line of results.
cat > "$tmp/measure.py" <<'EOF'
import json, os, signal, subprocess, sys, time, urllib.request
# measure.py PORT BOUND_S TOOL MODE N -- CMD...
port, bound, tool, mode, nvus = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
assert sys.argv[6] == "--"
server_pid = int(os.environ["SERVER_PID"])
ss_dst = os.environ.get("SS_DST")  # "127.0.0.1:PORT": also count client sockets by source address
cmd = sys.argv[7:]
hz = os.sysconf("SC_CLK_TCK")

def by_source():
    out = subprocess.run(["ss", "-Htn", "state", "established", "dst", ss_dst],
                         capture_output=True, timeout=20).stdout.decode()
    n = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 4:
            ip = f[2].rsplit(":", 1)[0]
            n[ip] = n.get(ip, 0) + 1
    return n

def stats():
    with urllib.request.urlopen("http://127.0.0.1:%d/stats" % port, timeout=2) as r:
        return json.load(r)

def ticks(pid, sys_only=False):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        p = s[s.rindex(")") + 2:].split()
        return int(p[12]) + (0 if sys_only else int(p[11]))
    except (OSError, ValueError):
        return 0

def rss(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0

def tree(root):
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    todo += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out

def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""

s0 = stats()
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
samples = []      # (t, open, received, client_rss_kb, agent_rss_kb, client_ticks, server_ticks)
cpu_seen = {}     # pid -> last ticks (a process's ticks vanish when it exits)
sys_seen = {}     # pid -> last system (kernel) ticks
ss_best, ss_next = {}, 0.0  # the ss sample with the most client sockets; when to take the next
while p.poll() is None and time.monotonic() - t0 < bound:
    if ss_dst and time.monotonic() >= ss_next:
        ss_next = time.monotonic() + 2.0
        n = by_source()
        if sum(n.values()) > sum(ss_best.values()):
            ss_best = n
    pids = [x for x in tree(p.pid) if comm(x) not in ("timeout", "taskset")]
    for x in pids:
        cpu_seen[x] = max(cpu_seen.get(x, 0), ticks(x))
        sys_seen[x] = max(sys_seen.get(x, 0), ticks(x, True))
    agents = [x for x in pids if comm(x) == "herd-agent"]
    try:
        st = stats()
    except OSError:
        st = {"open": -1, "received": 0}
    samples.append((time.monotonic() - t0, st["open"], st["received"] - s0["received"],
                    sum(rss(x) for x in pids), sum(rss(x) for x in agents),
                    sum(cpu_seen.values()), ticks(server_pid)))
    time.sleep(0.25)
killed = p.poll() is None
if killed:
    os.killpg(p.pid, signal.SIGKILL)
out = p.communicate()[0].decode(errors="replace")
s1 = stats()
res = {"tool": tool, "mode": mode, "n": nvus, "killed": killed, "wall_s": round(time.monotonic() - t0, 2),
       "peak_open": max((x[1] for x in samples), default=0), "server_peak": s1["peak"],
       "sessions": s1["sessions"] - s0["sessions"], "received": s1["received"] - s0["received"],
       "rc": p.returncode, "tail": out[-600:] if killed else ""}
if ss_dst:
    res["by_source"] = ss_best
if samples:
    res["client_cpu_s"] = round(sum(cpu_seen.values()) / hz, 2)
    res["client_sys_s"] = round(sum(sys_seen.values()) / hz, 2)
# memory: RSS when the most sessions were open; baseline: RSS before the first opened
if samples:
    top = max(samples, key=lambda x: (x[1], x[3]))
    pre = [x for x in samples if x[1] == 0 and x[0] < top[0] and x[3] > 0]
    key = 4 if tool == "herd" else 3
    res["rss_at_peak_kb"] = top[key]
    res["rss_base_kb"] = pre[-1][key] if pre else None
# echo: steady state between 2 s after the first message and the last sample with traffic
busy = [x for x in samples if x[2] > 0]
if len(busy) >= 6:
    a = next(x for x in busy if x[0] >= busy[0][0] + 2.0) if busy[-1][0] > busy[0][0] + 4 else busy[0]
    b = busy[-2]
    dt, n = b[0] - a[0], b[2] - a[2]
    if dt > 0 and n > 0:
        res.update(window_s=round(dt, 2), window_msgs=n, msgs_per_s=n / dt,
                   client_cpu_us_per_msg=(b[5] - a[5]) / hz * 1e6 / n,
                   server_cpu_pct=100.0 * (b[6] - a[6]) / hz / dt,
                   client_cpu_pct=100.0 * (b[5] - a[5]) / hz / dt)
print(json.dumps(res))
EOF

results="$tmp/results.jsonl"
: > "$results"
measure() { SERVER_PID=$server_pid $PY "$tmp/measure.py" "$port" "$((RUN_S + 8))" "$@" | tee -a "$results"; }

herd_plan() { # herd_plan FILE VUS FLOW
	cat > "$1" <<EOF
name: wsbench
target: http://127.0.0.1:$port
scenarios:
  s:
    executor: constant-vus
    vus: $2
    duration: ${RUN_S}s
    gracefulStop: 1s
    flow:
$3
EOF
}
art_plan() { # art_plan FILE SECONDS RATE FLOW
	cat > "$1" <<EOF
config:
  target: "ws://127.0.0.1:$port"
  phases: [{ duration: $2, arrivalRate: $3 }]
scenarios:
  - engine: ws
    flow:
$4
EOF
}

# ---- 1. idle sessions ----
has_step idle || LEVELS=""
for n in $LEVELS; do
	if [ "$n" -gt $((hard - 100)) ]; then
		echo "bench: idle $n skipped: the fd hard limit $hard is too low"
		continue
	fi
	hold=$((RUN_S - 2))
	herd_plan "$tmp/idle-$n.yaml" "$n" "      - ws: /idle
        session:
          - hold: ${hold}s
          - close: 1000"
	echo "bench: idle $n sessions, herd (hold ${hold}s)"
	measure herd idle "$n" -- timeout -s KILL $((RUN_S + 6)) "$HERD" run --quiet --workers 1 \
		--db "$tmp/idle-$n.db" --summary-export "$tmp/idle-$n.json" "$tmp/idle-$n.yaml" >/dev/null
	if [ -z "$artillery_note" ]; then
		# all arrive within 2 s, each connects and thinks (holds) until the run's end
		rate=$(( (n + 1) / 2 ))
		art_plan "$tmp/idle-$n.yml" 2 "$rate" "      - think: $((RUN_S - 3))"
		echo "bench: idle $n sessions, artillery"
		WORKERS=1 measure artillery idle "$n" -- timeout -s KILL $((RUN_S + 6)) "$ARTILLERY" run --quiet \
			"$tmp/idle-$n.yml" >/dev/null
	fi
done

# ---- 2. echo messages per second per core ----
if has_step echo; then
herd_plan "$tmp/echo.yaml" "$ECHO_VUS" "      - ws: /echo
        session:
          - loop: { count: 1000 }
            steps:
              - send: '{\"n\":\"{{ seq }}\"}'
              - expect: { contains: '\"{{ seq }}\"', within: 5s }
          - close: 1000"
echo "bench: echo, herd, $ECHO_VUS sessions, CPU $CLIENT_CPU"
measure herd echo "$ECHO_VUS" -- taskset -c "$CLIENT_CPU" timeout -s KILL $((RUN_S + 6)) "$HERD" run --quiet \
	--workers 1 --db "$tmp/echo.db" --summary-export "$tmp/echo.json" "$tmp/echo.yaml" >/dev/null
if [ -z "$artillery_note" ]; then
	art_plan "$tmp/echo.yml" 1 "$ECHO_VUS" "      - loop:
          - send: { payload: '{\"n\":\"x\"}', match: { json: \"\$.n\", value: \"x\" } }
        count: 1000000"
	echo "bench: echo, artillery, $ECHO_VUS sessions, CPU $CLIENT_CPU (stopped after ${RUN_S}s)"
	WORKERS=1 measure artillery echo "$ECHO_VUS" -- taskset -c "$CLIENT_CPU" timeout -s INT "$RUN_S" "$ARTILLERY" run \
		--quiet "$tmp/echo.yml" >/dev/null
fi
fi

# ---- 3. the ephemeral port range, without and with source addresses ----
if has_step ports; then
	read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
	nports=$((hi - lo + 1))
	# Each process stays 1,000 descriptors under the hard limit.
	per=$((hard - 1000))
	agents=$(((PORTS_N + per - 1) / per))
	workers=$((agents + 1))
	pport=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	sport=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	cat >"$tmp/ports.js" <<'JS'
// Idle WebSocket sessions over a Node cluster (one process holds at most the
// fd hard limit): the primary accepts and hands connections round-robin to
// WORKERS workers; GET /stats on STATS_PORT sums their counts.
const cluster = require('cluster');
const http = require('http');
if (cluster.isPrimary) {
  const counts = {};
  let peak = 0;
  const sum = (k) => Object.values(counts).reduce((a, c) => a + c[k], 0);
  for (let i = 0; i < +process.env.WORKERS; i++) cluster.fork();
  cluster.on('message', (w, m) => { counts[w.id] = m; peak = Math.max(peak, sum('open')); });
  process.on('SIGTERM', () => {
    for (const id in cluster.workers) cluster.workers[id].kill('SIGKILL');
    process.exit(0);
  });
  http.createServer((req, res) => {
    if (req.url === '/reset') peak = sum('open');
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ open: sum('open'), peak, sessions: sum('sessions'), received: 0, sent: 0,
                             workers: Object.keys(counts).length }));
  }).listen({ host: '127.0.0.1', port: +process.env.STATS_PORT });
} else {
  const { WebSocketServer } = require(process.env.NPM_DIR + '/node_modules/ws');
  let open = 0, sessions = 0;
  const srv = http.createServer();
  const wss = new WebSocketServer({ server: srv, perMessageDeflate: false, clientTracking: false });
  wss.on('connection', (ws) => {
    open++; sessions++;
    ws.on('close', () => { open--; });
    ws.on('error', () => {});
  });
  srv.listen({ host: '127.0.0.1', port: +process.env.PORT, backlog: 4096 });
  setInterval(() => process.send({ open, sessions }), 200);
}
JS
	NPM_DIR="$NPM_DIR" PORT=$pport STATS_PORT=$sport WORKERS=$workers setsid taskset -c "$SERVER_CPU" \
		node "$tmp/ports.js" >"$tmp/ports-server.log" 2>&1 &
	ports_pid=$!
	stats_open() { # the server's open sessions, -1 when it does not answer
		$PY -c "import json, urllib.request
try:
    s = json.load(urllib.request.urlopen('http://127.0.0.1:$sport/stats', timeout=2))
    print(s['open'] if s['workers'] == $workers else -1)
except OSError:
    print(-1)"
	}
	for _ in $(seq 100); do
		[ "$(stats_open)" = 0 ] && break
		sleep 0.1
	done
	[ "$(stats_open)" = 0 ] || die "the node ws cluster did not start: $(cat "$tmp/ports-server.log")"
	nopool_n=${PORTS_NOPOOL_N:-$((nports + 2000))}
	echo "bench: ports: $nports ephemeral ports ($lo-$hi); up to $PORTS_N sessions from $agents local agents" \
		"(fd hard limit $hard) on CPU $CLIENT_CPU, server: $workers node ws workers on 127.0.0.1:$pport, CPU $SERVER_CPU"
	for pool in "" $PORTS_POOLS; do
		name=ports-${pool:-none}
		n=$PORTS_N
		[ -z "$pool" ] && n=$nopool_n
		ramp=$(((n + PORTS_RATE - 1) / PORTS_RATE))
		# Every VU tries once: a session holds to the end; one that fails thinks to the end.
		long=$((ramp + PORTS_HOLD_S + 60))
		cat >"$tmp/$name.yaml" <<YAML
name: wsports
target: http://127.0.0.1:$pport
scenarios:
  s:
    executor: ramping-vus
    startVUs: 0
    stages: [{ duration: ${ramp}s, target: $n }, { duration: ${PORTS_HOLD_S}s, target: $n }]
    gracefulRampDown: 0s
    gracefulStop: 1s
    flow:
      - ws: /idle
        session:
          - hold: ${long}s
          - close: 1000
      - think: ${long}s
YAML
		bound=$((ramp + PORTS_HOLD_S + 20))
		echo "bench: ports: herd, $n sessions in ${ramp} s, source addresses: ${pool:-none (127.0.0.1)}"
		SERVER_PID=$ports_pid SS_DST=127.0.0.1:$pport $PY "$tmp/measure.py" "$sport" "$bound" herd "$name" \
			"$n" -- taskset -c "$CLIENT_CPU" timeout -s KILL $((bound - 2)) "$HERD" run --quiet \
			--local-agents "$agents" --workers 1 ${pool:+--source-addresses "$pool"} --db "$tmp/$name.db" \
			--summary-export "$tmp/$name.json" "$tmp/$name.yaml" | tee -a "$results" >/dev/null
		# Wait until the server has seen every session of this run end.
		for _ in $(seq 150); do
			[ "$(stats_open)" = 0 ] && break
			sleep 0.2
		done
	done
	stop "$ports_pid" group
	ports_pid=""
fi

# ---- report ----
$PY - "$results" "$tmp" "${artillery_note}" <<'EOF'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
tmp, note = sys.argv[2], sys.argv[3]
def herd_counts(name):
    try:
        m = json.load(open(os.path.join(tmp, name)))["metrics"]
        return {k: m.get(k, {}).get("count", 0) for k in ("ws_sessions", "ws_msgs_sent", "ws_msgs_received")}, \
               json.load(open(os.path.join(tmp, name)))["herd"].get("errors_by_kind", {})
    except (OSError, ValueError, KeyError):
        return None, None
def per_session(r):
    """(RSS when the most sessions were open - RSS before the first) / open, as text."""
    base, top, n = r.get("rss_base_kb"), r.get("rss_at_peak_kb"), r["peak_open"]
    return "%.1f" % ((top - base) / n) if base and top and n else "-"
def notes_of(r, export, first=()):
    """A run's notes: herd's ws_sessions and errors from its export (None: a peer's run), how it ended."""
    notes = list(first)
    c, e = herd_counts(export) if export else (None, None)
    if c:
        notes.append("ws_sessions %d" % c["ws_sessions"])
    if e:
        notes.append("errors %s" % e)
    if r["killed"]:
        notes.append("killed at the bound")
    if r.get("rc"):
        notes.append("exit %s" % r["rc"])
    return "; ".join(notes)
print()
print("1. idle sessions, one client process (each session connects, then holds)")
print("   open = most sessions open at once (server's count); rss = the client's RSS then")
print("   (herd: herd-agent; artillery: its process tree); per_session = (rss - rss before")
print("   the first session opened) / open; slope = per-session growth from the previous level")
print("%-10s %7s %7s %9s %9s %12s %9s  %s" % ("tool", "target", "open", "rss_kB", "base_kB",
      "per_sess_kB", "slope_kB", "notes"))
last = {}
for r in rows:
    if r["mode"] != "idle":
        continue
    base, top, n = r.get("rss_base_kb"), r.get("rss_at_peak_kb"), r["peak_open"]
    slope = "-"
    if r["tool"] in last and n > last[r["tool"]][0]:
        slope = "%.1f" % ((top - last[r["tool"]][1]) / (n - last[r["tool"]][0]))
    last[r["tool"]] = (n, top)
    export = "idle-%d.json" % r["n"] if r["tool"] == "herd" else None
    print("%-10s %7d %7d %9s %9s %12s %9s  %s" % (r["tool"], r["n"], n, top, base, per_session(r),
          slope, notes_of(r, export)))
print()
print("2. echo: %s sessions looping send/expect with no delay, client pinned to one CPU"
      % next((r["n"] for r in rows if r["mode"] == "echo"), "-"))
print("   msgs/s = server-side echoes per second over the steady window; cpu_us/msg =")
print("   client tree user+sys CPU in that window / messages; server = server's CPU %")
print("%-10s %10s %12s %11s %11s %9s  %s" % ("tool", "msgs/s", "cpu_us/msg", "client_cpu%",
      "server_cpu%", "window_s", "notes"))
for r in rows:
    if r["mode"] != "echo":
        continue
    notes = []
    if r["tool"] == "herd":
        c, e = herd_counts("echo.json")
        if c:
            notes.append("herd sent %d received %d, server got %d" % (c["ws_msgs_sent"],
                         c["ws_msgs_received"], r["received"]))
        if e:
            notes.append("errors %s" % e)
    if "msgs_per_s" not in r:
        print("%-10s (no steady window: %s)" % (r["tool"], r["tail"].strip()[-200:]))
        continue
    print("%-10s %10.0f %12.2f %11.0f %11.0f %9.1f  %s" % (r["tool"], r["msgs_per_s"],
          r["client_cpu_us_per_msg"], r["client_cpu_pct"], r["server_cpu_pct"], r["window_s"],
          "; ".join(notes)))
ports = [r for r in rows if r["mode"].startswith("ports-")]
if ports:
    print()
    print("3. the ephemeral port range: idle sessions from one host to one ip:port, each VU once")
    print("   open = most sessions open at once (server's count); by_source = client sockets")
    print("   established per source address (ss, the fullest sample); rss = all herd-agents'")
    print("   RSS then; per_sess = (rss - rss before the first session opened) / open;")
    print("   cpu_s = the client's CPU (controller + agents) over the run, sys_s the kernel's part")
    print("%-24s %7s %7s %9s %9s %6s %6s  %s" % ("source addresses", "target", "open", "rss_kB",
          "per_sess", "cpu_s", "sys_s", "by_source; notes"))
    for r in ports:
        by_source = ", ".join("%s %d" % kv for kv in sorted(r.get("by_source", {}).items()))
        print("%-24s %7d %7d %9s %9s %6s %6s  %s" % (r["mode"][6:], r["n"], r["peak_open"],
              r.get("rss_at_peak_kb"), per_session(r), r.get("client_cpu_s", "-"),
              r.get("client_sys_s", "-"), notes_of(r, r["mode"] + ".json", [by_source])))
if note:
    print()
    print("peer: " + note)
EOF
echo "bench: results in $results (set KEEP_TMP=1 to keep)"
