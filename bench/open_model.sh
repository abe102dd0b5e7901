#!/usr/bin/env bash
# Open-model accuracy: how close herd's constant-arrival-rate comes to the
# rate asked, up to 90% of the agent's saturation rate, on both HTTP
# drivers. See bench/README.md.
#
#   ninja -C build && bench/open_model.sh
#   DRIVERS="lean" PCTS="50 90" RUN_S=20 SAT_S=10 SAT_VUS=50 bench/open_model.sh
#
# nginx (one worker, CPU 0) logs each request's time ($msec); herd runs on
# CPU 1 with one worker. Per driver: first the saturation rate (constant-vus
# SAT_VUS for SAT_S s: the median of nginx's per-second counts), then
# constant-arrival-rate at PCTS percent of it for RUN_S s each. Achieved
# rates: the summary's iterations / RUN_S, and nginx's (the requests it
# logged / RUN_S, and the median of its whole seconds).
#
# VUs are sized as a k6 user would for a server that may stall: maxVUs =
# rate x STALL_S (the stall to ride out without dropping: 50 ms by default,
# the longest gap nginx's log showed in steady seconds on this machine at a
# load average under 5), at least 100 and at most MAX_VUS (the descriptor
# limit is 20,000), and preAllocatedVUs = rate x 10 ms (an iteration here
# takes well under 1 ms). More is not better: every VU holds a connection,
# and with 0.25 s (3,000-14,000 VUs) an agent that fell behind once opened
# thousands of them and stayed behind (bench/README.md).
# nginx's worker_connections and listen backlog are raised to match. For a
# point with drops, its seconds with drops are printed: herd's dropped and
# vus_max (from the run's SQLite store) beside nginx's count and longest gap
# between two logged requests in that second.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
HERD=${HERD:-$BUILD/controller/herd}
NGINX=${NGINX:-/usr/sbin/nginx}
DRIVERS=${DRIVERS:-curl lean}
PCTS=${PCTS:-25 50 75 90}
RUN_S=${RUN_S:-20}
SAT_S=${SAT_S:-10}
SAT_VUS=${SAT_VUS:-50}
STALL_S=${STALL_S:-0.05}
MAX_VUS=${MAX_VUS:-16000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
die() { echo "bench: $*" >&2; exit 1; }
[ -x "$HERD" ] || die "no $HERD: build first"

# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_setup open
BENCH_LISTEN="backlog=4096"
bench_nginx_conf '    location = /small { default_type text/plain; return 200 "hello herd\n"; }'
sed -i -e "s|  access_log off;|  log_format t '\$msec';\n  access_log $tmp/nginx/access.log t buffer=256k flush=1s;|" \
	-e "s|worker_connections 4096;|worker_connections $((MAX_VUS + 1000));|" \
	-e "s|^worker_processes 1;|worker_processes 1;\nworker_rlimit_nofile 20000;|" "$tmp/nginx/nginx.conf"
bench_nginx_start "$SERVER_CPU" /small

# Runs herd on the plan $1 with driver $2; the summary goes to $tmp/s.json,
# nginx's log of the run to $tmp/run.log.
run() {
	: > "$tmp/nginx/access.log"
	kill -USR1 "$nginx_pid" # reopen the log
	sleep 0.2
	timeout -s KILL $((RUN_S + SAT_S + 60)) taskset -c "$CLIENT_CPU" "$HERD" run "$1" --workers 1 --quiet \
		--http-driver "$2" --db "$tmp/open.db" --summary-export "$tmp/s.json" > "$tmp/herd.out" 2>&1 ||
		echo "bench: herd exited $? ($(tail -2 "$tmp/herd.out"))"
	sleep 1.5 # nginx flushes its log buffer every second
	kill -USR1 "$nginx_pid"
	sleep 0.3
	grep -v '^$' "$tmp/nginx/access.log" > "$tmp/run.log" || true
}

# Median of nginx's per-second counts, whole seconds only (first and last dropped).
median_per_s() {
	python3 - "$tmp/run.log" <<'EOF'
import collections, statistics, sys
c = collections.Counter(int(float(l)) for l in open(sys.argv[1]) if l.strip())
secs = sorted(c)[1:-1]
print(int(statistics.median(c[s] for s in secs)) if secs else 0)
EOF
}

# The seconds of the last run with dropped iterations: herd's dropped and
# vus_max per interval (its store), nginx's requests in that second and the
# longest gap between two of them (ms), aligned on the run's start.
drops_per_s() {
	python3 - "$tmp/open.db" "$tmp/run.log" <<'EOF'
import collections, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
run, t0 = db.execute("SELECT id, started_at FROM runs ORDER BY id DESC LIMIT 1").fetchone()
per = collections.defaultdict(dict)
for m, iv, c, g in db.execute("SELECT metric, interval_ms, sum(count), sum(gauge) FROM interval_series"
                              " WHERE run_id = ? AND metric IN ('dropped_iterations', 'vus_max')"
                              " GROUP BY metric, interval_ms", (run,)):
    per[iv // 1000][m] = g if m == "vus_max" else c
ts = sorted(float(l) for l in open(sys.argv[2]) if l.strip())
cnt, gap = collections.Counter(), collections.defaultdict(float)
for a, b in zip(ts, ts[1:]):
    s = int((a * 1000 - t0) // 1000)
    gap[s] = max(gap[s], b - a)
for a in ts:
    cnt[int((a * 1000 - t0) // 1000)] += 1
rows = ["s%d: dropped %d vus_max %s nginx %d gap %.0fms" % (s, v.get("dropped_iterations", 0),
        v.get("vus_max", "-"), cnt[s], 1000 * gap[s]) for s, v in sorted(per.items())
        if v.get("dropped_iterations")]
print("      seconds with drops:", "; ".join(rows))
EOF
}

summary() { # summary FIELD
	python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["metrics"]; v=m.get(sys.argv[2]); print(v["count"] if v else 0)' \
		"$tmp/s.json" "$1"
}

echo "bench: $(date -u +%FT%TZ), $(nproc) CPUs, nginx $($NGINX -v 2>&1 | sed 's|.*/||') on CPU $SERVER_CPU, herd on CPU $CLIENT_CPU"
printf '%-5s %4s %9s %9s %9s %8s %9s %8s %8s %7s %5s\n' driver pct asked herd/s err% nginx/s err% median/s dropped maxVUs load
for d in $DRIVERS; do
	cat > "$tmp/sat.yaml" <<EOF
name: saturation
target: $base
cookies: false
scenarios:
  sat:
    executor: constant-vus
    vus: $SAT_VUS
    duration: ${SAT_S}s
    gracefulStop: 1s
    flow:
      - get: /small
EOF
	run "$tmp/sat.yaml" "$d"
	sat=$(median_per_s)
	printf '%-5s %4s %9s %9s %9s %8s %9s %8s %8s\n' "$d" sat - "$(( $(summary http_reqs) / SAT_S ))" - \
		"$(( $(wc -l < "$tmp/run.log") / SAT_S ))" - "$sat" -
	python3 - "$tmp/run.log" <<'EOF2'
import collections, sys
c = collections.Counter(int(float(l)) for l in open(sys.argv[1]) if l.strip())
print("      nginx per second:", " ".join(str(c[s]) for s in sorted(c)))
EOF2
	for pct in $PCTS; do
		rate=$((sat * pct / 100))
		read -r pre maxvus < <(python3 -c 'import math,sys; r,s,m=int(sys.argv[1]),float(sys.argv[2]),int(sys.argv[3]); x=min(m,max(100,math.ceil(r*s))); print(min(x,max(50,math.ceil(r*0.01))), x)' \
			"$rate" "$STALL_S" "$MAX_VUS")
		cat > "$tmp/open.yaml" <<EOF
name: open-model
target: $base
cookies: false
scenarios:
  open:
    executor: constant-arrival-rate
    rate: $rate
    timeUnit: 1s
    duration: ${RUN_S}s
    preAllocatedVUs: $pre
    maxVUs: $maxvus
    gracefulStop: 2s
    flow:
      - get: /small
EOF
		load=$(cut -d' ' -f1 /proc/loadavg)
		run "$tmp/open.yaml" "$d"
		iters=$(summary iterations)
		dropped=$(summary dropped_iterations)
		logged=$(wc -l < "$tmp/run.log")
		python3 - "$d" "$pct" "$rate" "$iters" "$logged" "$(median_per_s)" "$dropped" "$RUN_S" "$maxvus" "$load" <<'EOF'
import sys
d, pct, rate, iters, logged, med, dropped, secs, maxvus, load = sys.argv[1:]
rate, iters, logged, med, secs = int(rate), int(iters), int(logged), float(med), int(secs)
h, n = iters / secs, logged / secs
print("%-5s %4s %9d %9.1f %+8.2f%% %8.1f %+8.2f%% %8.0f %8s %7s %5s"
      % (d, pct, rate, h, 100 * (h - rate) / rate, n, 100 * (n - rate) / rate, med, dropped,
         maxvus, load))
EOF
		[ "$dropped" = 0 ] || drops_per_s
	done
done
