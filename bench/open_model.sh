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
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
die() { echo "bench: $*" >&2; exit 1; }
[ -x "$HERD" ] || die "no $HERD: build first"

# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_setup open
bench_nginx_conf '    location = /small { default_type text/plain; return 200 "hello herd\n"; }'
sed -i "s|  access_log off;|  log_format t '\$msec';\n  access_log $tmp/nginx/access.log t buffer=256k flush=1s;|" "$tmp/nginx/nginx.conf"
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

summary() { # summary FIELD
	python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["metrics"]; v=m.get(sys.argv[2]); print(v["count"] if v else 0)' \
		"$tmp/s.json" "$1"
}

echo "bench: $(date -u +%FT%TZ), $(nproc) CPUs, nginx $($NGINX -v 2>&1 | sed 's|.*/||') on CPU $SERVER_CPU, herd on CPU $CLIENT_CPU"
printf '%-5s %4s %9s %9s %9s %8s %9s %8s %8s\n' driver pct asked herd/s err% nginx/s err% median/s dropped
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
    preAllocatedVUs: 200
    maxVUs: 1000
    gracefulStop: 2s
    flow:
      - get: /small
EOF
		run "$tmp/open.yaml" "$d"
		iters=$(summary iterations)
		dropped=$(summary dropped_iterations)
		logged=$(wc -l < "$tmp/run.log")
		python3 - "$d" "$pct" "$rate" "$iters" "$logged" "$(median_per_s)" "$dropped" "$RUN_S" <<'EOF'
import sys
d, pct, rate, iters, logged, med, dropped, secs = sys.argv[1:]
rate, iters, logged, med, secs = int(rate), int(iters), int(logged), float(med), int(secs)
h, n = iters / secs, logged / secs
print("%-5s %4s %9d %9.1f %+8.2f%% %8.1f %+8.2f%% %8.0f %8s"
      % (d, pct, rate, h, 100 * (h - rate) / rate, n, 100 * (n - rate) / rate, med, dropped))
EOF
	done
done
