#!/usr/bin/env bash
# Controller ingest: a real `herd run --listen ... --agents N` controller fed
# by bench/ingest_sim (N simulated agents x SERIES series, one batch a
# second each, over the real protocol with a token). Measures the
# controller's CPU (utime+stime from /proc/PID/stat) over the steady part
# of the run, and checks that the store holds every batch once. See
# bench/README.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD="$root/$BUILD" ;; esac
AGENTS=${AGENTS:-1000}
SERIES=${SERIES:-50}
DURATION=${DURATION:-60}
COUNT=${COUNT:-10}
SIM_PROCS=${SIM_PROCS:-1}
PERF=${PERF:-}
herd="$BUILD/controller/herd"
sim="$BUILD/bench/ingest_sim"
[ -x "$herd" ] && [ -x "$sim" ] || { echo "bench: build first (ninja -C $BUILD)" >&2; exit 2; }

# shellcheck source=bench/lib.sh
. "$here/lib.sh"
bench_setup ingest
ulimit -n "$(ulimit -Hn)"
head -c 32 /dev/urandom | base64 > "$tmp/token"
chmod 600 "$tmp/token"
# The plan only sets the run's length: the simulated agents send no traffic.
cat > "$tmp/plan.yaml" <<EOF
name: ingest
target: http://127.0.0.1:9
scenarios:
  default:
    executor: constant-vus
    vus: $AGENTS
    duration: ${DURATION}s
    gracefulStop: 0s
    flow:
      - get: /
EOF
url="tcp://127.0.0.1:$port"
hz=$(getconf CLK_TCK)

timeout -s KILL $((DURATION + 120)) "$herd" run "$tmp/plan.yaml" --listen "$url" --agents "$AGENTS" \
	--agents-wait 90s --token-file "$tmp/token" --db "$tmp/ingest.db" --summary-export "$tmp/summary.json" \
	--quiet > "$tmp/herd.out" 2> "$tmp/herd.err" &
run_pid=$!
ctl_pid=""
for _ in $(seq 1 50); do
	ctl_pid=$(pgrep -P "$run_pid" -x herd || true)
	[ -n "$ctl_pid" ] && break
	sleep 0.1
done
[ -n "$ctl_pid" ] || { echo "bench: herd did not start" >&2; exit 1; }
sleep 0.3
per=$((AGENTS / SIM_PROCS))
sim_pids=()
for i in $(seq 1 "$SIM_PROCS"); do
	n=$per
	[ "$i" -eq "$SIM_PROCS" ] && n=$((AGENTS - per * (SIM_PROCS - 1)))
	timeout -s KILL $((DURATION + 110)) "$sim" "$url" "$tmp/token" "$n" "$SERIES" "$DURATION" "$COUNT" \
		> "$tmp/sim.$i.out" 2> "$tmp/sim.$i.err" &
	sim_pids+=($!)
done

# Samples: seconds since the start, controller utime+stime ticks, RSS kB, threads.
t0=$(date +%s.%N)
(
	while kill -0 "$ctl_pid" 2>/dev/null; do
		if read -r -a st < "/proc/$ctl_pid/stat" 2>/dev/null; then
			rss=$(awk '/^VmRSS/ {print $2}' "/proc/$ctl_pid/status" 2>/dev/null || echo 0)
			sim_ticks=0
			for sp in "${sim_pids[@]}"; do
				for c in $(pgrep -P "$sp" -x ingest_sim); do
					read -r -a ss < "/proc/$c/stat" 2>/dev/null && sim_ticks=$((sim_ticks + ss[13] + ss[14]))
				done
			done
			echo "$(echo "$(date +%s.%N) - $t0" | bc) $((st[13] + st[14])) $rss ${st[19]} $sim_ticks"
		fi
		sleep 1
	done
) > "$tmp/samples" &
sampler=$!

# The steady part: from 10 s after every agent joined to 5 s before the last batch
# is due.
while ! grep -q joined "$tmp"/sim.*.out 2>/dev/null; do
	kill -0 "$run_pid" 2>/dev/null || break
	sleep 0.2
done
joined_at=$(echo "$(date +%s.%N) - $t0" | bc)
if [ -n "$PERF" ]; then
	sleep 10
	perf record -F 499 -g -p "$ctl_pid" -o "$tmp/perf.data" -- sleep $((DURATION / 2)) > /dev/null 2>&1 || true
	perf report -i "$tmp/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -v '^#' | grep '%' | head -40 > "$tmp/perf.txt" || true
fi
status=0
for p in "${sim_pids[@]}"; do wait "$p" || status=1; done
wait "$run_pid" || echo "bench: herd run exited $?" >&2
run_pid=""
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true

# (For runs shorter than 30 s: from a quarter of the run in to a sixth before its end.)
head_s=10 tail_s=5
[ "$DURATION" -lt 30 ] && head_s=$((DURATION / 4)) tail_s=$((DURATION / 6))
from=$(echo "$joined_at + $head_s" | bc)
to=$(echo "$joined_at + $DURATION - $tail_s" | bc)
read -r secs ticks rss_max threads sticks < <(awk -v from="$from" -v to="$to" -v hz="$hz" '
	$1 >= from && $1 <= to { if (!n++) { t1 = $1; c1 = $2; s1 = $5 } t2 = $1; c2 = $2; s2 = $5; if ($3 > r) r = $3; if ($4 > th) th = $4 }
	END { printf "%.1f %d %d %d %d\n", t2 - t1, c2 - c1, r, th, s2 - s1 }' "$tmp/samples")
cpu_pct=n/a sim_pct=n/a
if [ "$(echo "$secs > 0" | bc)" = 1 ]; then
	cpu_pct=$(echo "scale=1; 100 * $ticks / $hz / $secs" | bc)
	sim_pct=$(echo "scale=1; 100 * $sticks / $hz / $secs" | bc)
fi

sent_batches=0 sent_reqs=0 resent=0 errors=0
for i in $(seq 1 "$SIM_PROCS"); do
	line=$(grep '^sent' "$tmp/sim.$i.out" || echo "")
	[ -n "$line" ] || { echo "bench: simulator $i printed no totals:"; tail -5 "$tmp/sim.$i.err"; status=1; continue; }
	eval "$(echo "$line" | sed 's/^sent //; s/\([a-z]*\)=\([0-9]*\)/s_\1=\2/g')"
	sent_batches=$((sent_batches + s_acked)); sent_reqs=$((sent_reqs + s_requests))
	resent=$((resent + s_resent)); errors=$((errors + s_errors))
done
run_id=$(sqlite3 "$tmp/ingest.db" "SELECT id FROM runs ORDER BY rowid DESC LIMIT 1")
db_batches=$(sqlite3 "$tmp/ingest.db" "SELECT count(*) FROM batches WHERE run_id = '$run_id'")
db_reqs=$(sqlite3 "$tmp/ingest.db" "SELECT coalesce(sum(i.count), 0) FROM intervals i JOIN series_keys k ON k.id = i.key_id
	WHERE k.run_id = '$run_id' AND k.metric = 'http_req_duration'")
db_rows=$(sqlite3 "$tmp/ingest.db" "SELECT count(*) FROM intervals i JOIN series_keys k ON k.id = i.key_id WHERE k.run_id = '$run_id'")
sum_reqs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metrics"]["http_reqs"]["count"])' "$tmp/summary.json" 2>/dev/null || echo "?")

echo "agents=$AGENTS series=$SERIES duration=${DURATION}s count=$COUNT sim_procs=$SIM_PROCS"
echo "controller cpu: $cpu_pct% of one core over ${secs}s of the steady part ($ticks ticks); max RSS ${rss_max} kB; threads $threads"
echo "simulator cpu: $sim_pct% of one core over the same window"
echo "simulator: batches acked $sent_batches (resent $resent, errors $errors), requests $sent_reqs"
echo "store: run $run_id batches $db_batches, interval rows $db_rows, requests $db_reqs; summary http_reqs $sum_reqs"
if [ "$db_batches" = "$sent_batches" ] && [ "$db_reqs" = "$sent_reqs" ] && [ "$sent_batches" = $((AGENTS * DURATION)) ]; then
	echo "merged once: yes"
else
	echo "merged once: NO"
	status=1
fi
[ -n "$PERF" ] && { echo "perf (controller, self time by dso/symbol):"; cat "$tmp/perf.txt"; }
exit $status
