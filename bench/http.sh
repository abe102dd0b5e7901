#!/usr/bin/env bash
# HTTP speed benchmark (not a test): herd against wrk on the same nginx.
#
# nginx (one worker, keep-alive, no access log) is pinned to CPU 0; each client
# is pinned to CPU 1 and drives http://127.0.0.1:PORT/small with 50 keep-alive
# connections for 10 s. For each client it prints requests/s, CPU µs per request
# (user+sys of the client's whole process tree, from GNU time) and peak RSS,
# then herd/wrk ratios. All traffic stays on 127.0.0.1; every run is bounded.
#
#   BUILD=build bench/http.sh        # binaries from $BUILD (default: build)
#   DURATION=10 CONNS=50 bench/http.sh
#   HERD_FLAGS="--http-driver lean" bench/http.sh   # herd's lean HTTP/1.1 driver
#   SCHEME=https bench/http.sh       # over TLS (see bench/https.sh)
#   SCHEME=https CLOSE=1 bench/http.sh   # nginx closes after each response:
#                                        # a new TLS connection per request
#   REPEAT=5 bench/http.sh           # 5 rounds of wrk and herd, interleaved (the
#                                    # order alternates), per-round ratios and medians
#   BASE_BUILD=other/build bench/http.sh # also herd from another build (say
#                                    # main's) in each round, named "base"
#   STRACE=1 DURATION=2 bench/http.sh # each client under strace -c -f: system
#                                    # calls per request (skews the CPU figures)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
DURATION=${DURATION:-10}   # seconds per client run
CONNS=${CONNS:-50}         # keep-alive connections (herd: VUs)
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
NGINX=${NGINX:-/usr/sbin/nginx}
SCHEME=${SCHEME:-http}     # http, or https: nginx's TLS with a throwaway ECDSA P-256 certificate
CLOSE=${CLOSE:-0}          # 1: nginx answers Connection: close, so each request opens a connection
REPEAT=${REPEAT:-1}        # rounds of wrk and herd (and base), interleaved
BASE_BUILD=${BASE_BUILD:-} # another herd build to measure in each round ("base")
STRACE=${STRACE:-0}        # 1: count each client's system calls (strace -c -f)

die() { echo "bench: $*" >&2; exit 1; }

case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
for b in "$BUILD" ${BASE_BUILD:+"$BASE_BUILD"}; do
	if [ ! -x "$b/controller/herd" ] || [ ! -x "$b/agent/herd-agent" ]; then
		die "herd is not built in $b: run 'meson setup $b && ninja -C $b' or set BUILD= (BASE_BUILD=)"
	fi
done
if [ -n "$BASE_BUILD" ]; then case "$BASE_BUILD" in /*) ;; *) BASE_BUILD="$PWD/$BASE_BUILD" ;; esac; fi
case "$REPEAT" in '' | *[!0-9]* | 0) die "REPEAT must be a positive whole number" ;; esac
[ "$STRACE" = 0 ] || command -v strace >/dev/null || die "'strace' not found (STRACE=1)"

[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (server on CPU $SERVER_CPU, client on CPU $CLIENT_CPU)"
[ -x "$NGINX" ] || die "$NGINX not found: apt-get install nginx"
case "$SCHEME" in http | https) ;; *) die "SCHEME must be http or https" ;; esac
for c in taskset timeout python3 curl openssl; do
	command -v "$c" >/dev/null || die "'$c' not found"
done

# wrk and GNU time are the two things this script may install by itself.
need=()
command -v wrk >/dev/null || need+=(wrk)
[ -x /usr/bin/time ] && /usr/bin/time --version 2>&1 | grep -q 'GNU' || need+=(time)
if [ "${#need[@]}" -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || die "missing ${need[*]}: run 'sudo apt-get install ${need[*]}'"
	echo "bench: installing ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_setup bench
# With CLOSE=1 nginx closes after each response; over TLS it then logs one
# character per request, r for a resumed TLS session (see reuse_note).
small_opts=""
[ "$CLOSE" = 1 ] && small_opts="keepalive_timeout 0;"
[ "$CLOSE" = 1 ] && [ "$SCHEME" = https ] && small_opts="$small_opts access_log $tmp/nginx/reuse.log reuse;"
small="    location = /small { default_type text/plain; $small_opts return 200 \"hello herd\\n\"; }"
curl() { command curl -k "$@"; } # the benchmark's own certificate
if [ "$SCHEME" = https ]; then
	bench_tls
	# nginx 1.22's defaults otherwise: TLS 1.2 (1.3 is not in its default
	# ssl_protocols), session tickets on; a session cache for session IDs too.
	BENCH_HTTP="  log_format reuse '\$ssl_session_reused';"
	small="$tls_lines
    ssl_session_cache shared:bench:10m;
$small"
fi
url="$base/small"
bench_nginx_conf "$small"
# The master forks the worker, which inherits the CPU affinity.
bench_nginx_start "$SERVER_CPU" /small

# Requests nginx has handled so far (stub_status "requests" column).
nginx_requests() { curl -fsS "$base/nginx_status" | awk 'NR==3 { print $3 }'; }

# Samples, each second, the processes under $1 other than timeout, taskset and
# time themselves. Writes to $2 the peak of the sum of VmHWM (each process's own
# peak RSS; the sum bounds the tree's true simultaneous peak from above), and to
# $2.procs one line per process: comm, CPU seconds at its last sample, VmHWM kB.
# shellcheck disable=SC2317 # runs in its own bash, from measure
sample_tree() {
	local root=$1 out=$2 peak=0 hz
	hz=$(getconf CLK_TCK)
	declare -A seen_comm=() seen_ticks=() seen_hwm=()
	while kill -0 "$root" 2>/dev/null; do
		local sum=0 todo=("$root") p c comm hwm st kids=()
		while [ "${#todo[@]}" -gt 0 ]; do
			p=${todo[0]}; todo=("${todo[@]:1}")
			for c in /proc/"$p"/task/*/children; do
				kids=()
				read -r -a kids 2>/dev/null < "$c" || true
				todo+=("${kids[@]}")
			done
			comm=$(cat /proc/"$p"/comm 2>/dev/null) || continue
			case "$comm" in timeout | time | taskset) continue ;; esac
			hwm=$(awk '/^VmHWM:/ { print $2 }' /proc/"$p"/status 2>/dev/null) || true
			# utime and stime are fields 14 and 15 (comm has no spaces here)
			st=$(awk '{ print $14 + $15 }' /proc/"$p"/stat 2>/dev/null) || true
			sum=$((sum + ${hwm:-0}))
			seen_comm[$p]=$comm
			seen_ticks[$p]=${st:-0}
			seen_hwm[$p]=${hwm:-0}
		done
		[ "$sum" -gt "$peak" ] && peak=$sum && echo "$peak" > "$out"
		for p in "${!seen_comm[@]}"; do
			echo "${seen_comm[$p]} $(awk -v t="${seen_ticks[$p]}" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }') ${seen_hwm[$p]}"
		done > "$out.procs"
		sleep 1
	done
}

# Busy ticks of CPU $1 (all but idle and iowait) from /proc/stat.
cpu_busy() { awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
cpu_idle() { awk -v c="cpu$1" '$1 == c { print $5 + $6 }' /proc/stat; }
# CPU ticks used so far by nginx's master and worker.
nginx_ticks() {
	local t=0 p
	for p in "$nginx_pid" $(cat /proc/"$nginx_pid"/task/*/children 2>/dev/null); do
		t=$((t + $(awk '{ print $14 + $15 }' /proc/"$p"/stat 2>/dev/null || echo 0)))
	done
	echo "$t"
}
hz=$(getconf CLK_TCK)

# measure NAME CMD...: runs CMD pinned to the client CPU under GNU time, bounded.
# Leaves NAME.out, NAME.err, NAME.time (elapsed user sys maxrss_kb), NAME.tree_rss,
# NAME.rc and NAME.server (requests nginx handled during the run) in $tmp.
measure() {
	local name=$1; shift
	local limit=$((DURATION + 30)) before after rc=0 spid c0 c1 ng i1
	echo 0 > "$tmp/$name.tree_rss"
	: > "$tmp/$name.tree_rss.procs"
	before=$(nginx_requests)
	c0=$(cpu_busy "$SERVER_CPU") c1=$(cpu_busy "$CLIENT_CPU") ng=$(nginx_ticks) i1=$(cpu_idle "$CLIENT_CPU")
	grep -E "^cpu($SERVER_CPU|$CLIENT_CPU) " /proc/stat > "$tmp/$name.stat0"
	local wrap=()
	[ "$STRACE" = 0 ] || wrap=(strace -c -f -o "$tmp/$name.strace")
	timeout -k 5 "$limit" taskset -c "$CLIENT_CPU" \
		/usr/bin/time -f '%e %U %S %M' -o "$tmp/$name.time" "${wrap[@]}" "$@" \
		> "$tmp/$name.out" 2> "$tmp/$name.err" &
	run_pid=$!
	taskset -c "$SERVER_CPU" bash -c "$(declare -f sample_tree); sample_tree $run_pid $tmp/$name.tree_rss" &
	spid=$!
	wait "$run_pid" || rc=$?
	# timeout ran the client in its own process group: anything left in it (say, an
	# agent that outlived a crashed controller) is reported and stopped.
	local left
	left=$(pgrep -g "$run_pid" | paste -sd, -) || true
	if [ -n "$left" ]; then
		echo "bench: $name left processes behind after exiting: $(ps -o pid=,args= -p "$left" | tr '\n' ';')" >&2
		kill -TERM -- "-$run_pid" 2>/dev/null || true
	fi
	run_pid=""
	wait "$spid" 2>/dev/null || true
	grep -E "^cpu($SERVER_CPU|$CLIENT_CPU) " /proc/stat > "$tmp/$name.stat1"
	c0=$(($(cpu_busy "$SERVER_CPU") - c0)) c1=$(($(cpu_busy "$CLIENT_CPU") - c1)) ng=$(($(nginx_ticks) - ng))
	i1=$(($(cpu_idle "$CLIENT_CPU") - i1))
	after=$(nginx_requests)
	# What else ran on the two CPUs meanwhile: other work skews req/s (not CPU/req).
	awk -v n="$name" -v hz="$hz" -v c0="$c0" -v c1="$c1" -v i1="$i1" -v ng="$ng" -v s="$SERVER_CPU" -v c="$CLIENT_CPU" \
		'BEGIN { printf "bench: %s: CPU %s busy %.2f s (nginx %.2f s); CPU %s busy %.2f s, idle %.2f s\n", n, s, c0 / hz, ng / hz, c, c1 / hz, i1 / hz }'
	# minus 1: the stub_status request of "before" is counted in "after"
	echo $((after - before - 1)) > "$tmp/$name.server"
	echo "$rc" > "$tmp/$name.rc"
	[ "$rc" -eq 124 ] && echo "bench: $name hit the ${limit}s limit and was stopped" >&2
	[ -s "$tmp/$name.time" ] || echo "0 0 0 0" > "$tmp/$name.time"
	sleep 1 # let the sockets of this run close before the next one
}

# reuse_note NAME: with CLOSE=1 over TLS, how many of the connections of the
# run just measured resumed a TLS session (nginx's log, one line per request).
reuse_seen=0
reuse_note() {
	[ "$CLOSE" = 1 ] && [ "$SCHEME" = https ] || return 0
	local total r
	total=$(wc -l < "$tmp/nginx/reuse.log")
	r=$(tail -n +"$((reuse_seen + 1))" "$tmp/nginx/reuse.log" | grep -c '^r$' || true)
	echo "bench: $1: $r of $((total - reuse_seen)) TLS connections resumed a session (\$ssl_session_reused)"
	reuse_seen=$total
}

# result NAME REQUESTS RATE: one table row from $tmp/NAME.* files.
rows=()
result() {
	local name=$1 reqs=$2 rate=$3
	local t
	# GNU time may prefix "Command exited with non-zero status N" lines: keep the last.
	read -r -a t < <(tail -n 1 "$tmp/$name.time")
	local row
	row=$(python3 - "$DURATION" "$name" "$reqs" "$rate" "${t[1]}" "${t[2]}" "${t[3]}" \
		"$(cat "$tmp/$name.tree_rss")" "$(cat "$tmp/$name.server")" "$(cat "$tmp/$name.rc")" <<'PY'
import sys
dur, name, reqs, rate, u, s, maxrss, tree, server, rc = sys.argv[1:]
reqs, rate, cpu = int(reqs), float(rate), float(u) + float(s)
us = cpu * 1e6 / reqs if reqs else float("nan")
per = lambda x: f"{float(x) * 1e6 / reqs:.2f}" if reqs else "nan"
print(f"{name} {rate:.0f} {reqs / float(dur):.0f} {us:.2f} {per(u)} {per(s)} {int(maxrss)} {int(tree)} "
      f"{reqs} {int(server)} {cpu:.2f} {rc}")
PY
	)
	rows+=("$row")
}

echo "bench: nginx $("$NGINX" -v 2>&1 | sed 's|.*/||') pid $nginx_pid on CPU $SERVER_CPU, clients on CPU $CLIENT_CPU"
echo "bench: $url, $CONNS connections, ${DURATION}s per client"
# Other work on the machine skews req/s far more than CPU per request: show it.
echo "bench: load average $(cut -d' ' -f1-3 /proc/loadavg)"

status=0

# --- wrk ---------------------------------------------------------------------
# run_wrk NAME: one wrk run, a row NAME in the table.
run_wrk() {
	local name=$1 rate reqs
	echo "bench: $name (wrk) ..."
	measure "$name" wrk -t1 -c"$CONNS" -d"${DURATION}s" "$url"
	reuse_note "$name"
	rate=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/$name.out")
	reqs=$(awk '/requests in/ { print $1 }' "$tmp/$name.out")
	if [ -z "$rate" ] || [ -z "$reqs" ]; then
		cat "$tmp/$name.out" "$tmp/$name.err" >&2
		die "could not read wrk's output"
	fi
	grep -E 'Non-2xx|Socket errors' "$tmp/$name.out" | sed "s/^/bench: $name: /" || true
	strace_note "$name" "$reqs"
	result "$name" "$reqs" "$rate"
}

# --- herd --------------------------------------------------------------------
cat > "$tmp/plan.yaml" <<EOF
name: bench
target: $base
scenarios:
  load:
    executor: constant-vus
    vus: $CONNS
    duration: ${DURATION}s
    gracefulStop: 5s
    flow:
      - get: /small
$([ "$SCHEME" = https ] && echo 'tls: { insecureSkipVerify: true }' || true)
EOF
# run_herd NAME BUILD: one herd run with the binaries of BUILD, a row NAME.
run_herd() {
	local name=$1 build=$2 rc reqs rate failed saw
	echo "bench: $name (herd from $build) ..."
	rm -f "$tmp/summary.json" "$tmp/bench.db" "$tmp/bench.db-wal" "$tmp/bench.db-shm"
	# shellcheck disable=SC2086 # HERD_FLAGS holds several words on purpose
	HERD_AGENT_BIN="$build/agent/herd-agent" measure "$name" "$build/controller/herd" run "$tmp/plan.yaml" \
		--workers 1 --quiet --db "$tmp/bench.db" --summary-export "$tmp/summary.json" ${HERD_FLAGS:-}
	reuse_note "$name"
	rc=$(cat "$tmp/$name.rc")
	if [ -s "$tmp/$name.err" ]; then sed "s/^/bench: $name stderr: /" "$tmp/$name.err" | head -20 >&2; fi
	[ "$rc" -eq 0 ] || echo "bench: $name exited with $rc" >&2
	if [ ! -s "$tmp/summary.json" ]; then
		echo "bench: $name wrote no summary; its stdout:" >&2
		sed "s/^/bench: $name stdout: /" "$tmp/$name.out" | tail -n 20 >&2
		status=1
		return 0
	fi
	read -r reqs rate failed < <(python3 - "$tmp/summary.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
r = m.get("http_reqs", {})
f = m.get("http_req_failed", {})
print(int(r.get("count", 0)), float(r.get("rate", 0)), f.get("value", f.get("rate", "?")))
PY
	)
	echo "bench: $name: http_req_failed rate $failed"
	echo "bench: $name: CPU s and peak RSS kB by process (sampled, last sample <=1 s before exit):" \
		"$(sort "$tmp/$name.tree_rss.procs" | awk '{ printf "%s %s s %s kB; ", $1, $2, $3 }')"
	[ "$reqs" -gt 0 ] || { echo "bench: $name counted no requests" >&2; status=1; }
	saw=$(cat "$tmp/$name.server")
	[ "$reqs" -eq "$saw" ] ||
		echo "bench: $name counted $reqs requests, nginx handled $saw (all of herd's finish before it exits, so these should be equal)" >&2
	strace_note "$name" "$reqs"
	result "$name" "$reqs" "$rate"
}

# strace_note NAME REQUESTS: with STRACE=1, the client's system calls per
# request, the most frequent first (strace -c -f counts the whole process
# tree; its "calls" column is the one before "errors" and the name).
strace_note() {
	[ "$STRACE" != 0 ] && [ -s "$tmp/$1.strace" ] || return 0
	python3 - "$tmp/$1.strace" "$2" "$1" <<'PY'
import sys
path, reqs, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
calls = []
for line in open(path):
    f = line.split()
    # % time, seconds, usecs/call, calls, [errors,] syscall
    if len(f) >= 5 and f[-1] != "total" and f[3].isdigit() and f[0][0].isdigit():
        calls.append((int(f[3]), f[-1]))
calls.sort(reverse=True)
print("bench: %s: system calls per request (strace -c -f): %s" % (name, ", ".join(
    "%s %.2f" % (n, c / reqs) for c, n in calls if reqs and c / reqs >= 0.005)))
PY
}

# Rounds: wrk and herd (and base) back to back, the order reversed every other
# round so that a drift in the machine's load weighs on each alike. With one
# round the rows are named wrk, herd (and base); with more, wrk1, herd1, ...
for i in $(seq "$REPEAT"); do
	sfx=""
	[ "$REPEAT" -gt 1 ] && sfx=$i
	order=(wrk herd)
	[ -n "$BASE_BUILD" ] && order+=(base)
	[ $((i % 2)) -eq 0 ] && mapfile -t order < <(printf '%s\n' "${order[@]}" | tac)
	for who in "${order[@]}"; do
		echo "bench: round $i, load average $(cut -d' ' -f1-3 /proc/loadavg)"
		case "$who" in
		wrk) run_wrk "wrk$sfx" ;;
		herd) run_herd "herd$sfx" "$BUILD" ;;
		base) run_herd "base$sfx" "$BASE_BUILD" ;;
		esac
	done
done

# --- optional peers ----------------------------------------------------------
if [ "$REPEAT" -gt 1 ] || [ -n "$BASE_BUILD" ] || [ "$STRACE" != 0 ]; then
	: # rounds compare herd with wrk: ab is left out
elif command -v ab >/dev/null; then
	echo "bench: ab ..."
	# -t alone caps ab at 50000 requests; -n after it lifts the cap (ab allocates
	# per-request records as they are used, so its RSS grows with the count).
	measure ab ab -q -k -c"$CONNS" -t"$DURATION" -n 10000000 "$url"
	reuse_note ab
	ab_rate=$(awk '/^Requests per second:/ { print $4 }' "$tmp/ab.out")
	ab_reqs=$(awk '/^Complete requests:/ { print $3 }' "$tmp/ab.out")
	if [ -n "$ab_rate" ] && [ -n "$ab_reqs" ]; then
		result ab "$ab_reqs" "$ab_rate"
	else
		echo "bench: could not read ab's output: $(tail -n 3 "$tmp/ab.err")" >&2
	fi
else
	echo "bench: ab not installed (apt-get install apache2-utils): skipped"
fi

# --- table -------------------------------------------------------------------
echo
{
	echo "tool req/s req/${DURATION}s cpu_us/req usr_us sys_us peak_rss_kb tree_rss_kb requests nginx_saw cpu_s exit"
	printf '%s\n' "${rows[@]}"
} | column -t
python3 - "$CONNS" "$REPEAT" "${rows[@]}" <<'PY'
import statistics, sys
conns, repeat = int(sys.argv[1]), int(sys.argv[2])
rows = {r.split()[0]: r.split() for r in sys.argv[3:]}
def ratio(a, b, i):
    try:
        return float(a[i]) / float(b[i])
    except (ZeroDivisionError, ValueError, TypeError):
        return float("nan")
sfx = [""] if repeat == 1 else [str(i) for i in range(1, repeat + 1)]
for who in ("herd", "base"):
    per = []  # per round: cpu/req, usr, sys ratios to the same round's wrk
    for s in sfx:
        w, h = rows.get("wrk" + s), rows.get(who + s)
        if not w or not h:
            continue
        r = (ratio(h, w, 3), ratio(h, w, 4), ratio(h, w, 5))
        per.append(r)
        print(f"{who}{s}/wrk{s} ratios: req/s {ratio(h, w, 1):.2f} (by count/duration {ratio(h, w, 2):.2f})  "
              f"cpu/req {r[0]:.2f} (usr {r[1]:.2f}, sys {r[2]:.2f})  rss {ratio(h, w, 6):.2f}  "
              f"tree_rss {ratio(h, w, 7):.2f}")
    if len(per) > 1:
        med = [statistics.median(x[k] for x in per) for k in range(3)]
        print(f"{who}/wrk cpu/req over {len(per)} rounds: " + " ".join(f"{x[0]:.2f}" for x in per) +
              f"; median {med[0]:.2f} (usr {med[1]:.2f}, sys {med[2]:.2f})")
for name, r in rows.items():
    # Up to one request per connection may be in flight when a client stops.
    if abs(int(r[9]) - int(r[8])) > conns:
        print(f"note: {name} counted {r[8]} requests but nginx handled {r[9]}")
PY
cat <<EOF

req/s: wrk's "Requests/sec"; herd's metrics.http_reqs.rate from --summary-export
  (herd divides by its whole run time, start-up and wind-down included).
req/${DURATION}s: the tool's request count / ${DURATION} s, the same yardstick for every tool.
cpu_us/req: (user+sys CPU of the client's process tree, GNU time %U+%S, waited-for
  children included: herd's is controller + herd-agent) / the client's own request count;
  usr_us and sys_us split it. Kernel softirq time (loopback TCP) is charged to no
  process and is in neither tool's figure.
peak_rss_kb: GNU time %M, the peak RSS of the largest single process of the tree.
tree_rss_kb: sum over the tree of each process's peak RSS (VmHWM), sampled each second.
nginx_saw: requests nginx handled during the run (stub_status), to check the client's count.
EOF
exit $status
