#!/usr/bin/env bash
# Soak benchmark (not a test): does the agent's memory grow with time or with
# requests? herd runs a multi-step flow with the cookie jar on against one
# nginx for DURATION seconds (30 minutes by default); the agent's RSS and
# nginx's request count are sampled every SAMPLE seconds, and the RSS slope
# (least squares, after the first WARMUP seconds) is reported in KB per hour
# and in KB per million requests. All traffic stays on 127.0.0.1; the run is
# bounded (DURATION + 60 s, then its process group is stopped).
#
#   bench/soak.sh                          # 30 minutes, libcurl driver
#   DURATION=180 bench/soak.sh             # 3 minutes
#   DRIVER=lean DURATION=600 bench/soak.sh # the lean HTTP/1.1 driver (one step, no templates)
#   VUS=20 SAMPLE=10 WARMUP=60 BUILD=build KEEP_TMP=1 bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
DURATION=${DURATION:-1800} # seconds of load
VUS=${VUS:-20}
SAMPLE=${SAMPLE:-10}       # seconds between samples
WARMUP=${WARMUP:-60}       # seconds left out of the slope (allocator and caches settle)
DRIVER=${DRIVER:-libcurl}  # libcurl | lean
NGINX=${NGINX:-/usr/sbin/nginx}

die() { echo "soak: $*" >&2; exit 1; }

case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
HERD="$BUILD/controller/herd"
AGENT="$BUILD/agent/herd-agent"
[ -x "$HERD" ] && [ -x "$AGENT" ] || die "herd is not built in $BUILD: run 'meson setup $BUILD && ninja -C $BUILD' or set BUILD="
[ -x "$NGINX" ] || die "$NGINX not found: apt-get install nginx"
for c in timeout python3 curl pgrep; do command -v "$c" >/dev/null || die "'$c' not found"; done
[ "$DURATION" -gt "$((WARMUP + 2 * SAMPLE))" ] || die "DURATION must exceed WARMUP + two samples"

# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_setup soak
bench_nginx_conf '    location = /login { add_header Set-Cookie "sid=s$request_id; Path=/"; return 200 "in\n"; }
    location / { return 200 "hello herd\n"; }'
"$NGINX" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" || die "nginx did not start"
for _ in $(seq 50); do curl -fs "$base/nginx_status" >/dev/null && break; sleep 0.1; done
nginx_pid=$(cat "$tmp/nginx/nginx.pid" 2>/dev/null) || die "nginx wrote no pid file"

# Requests nginx has handled so far (stub_status "requests" column).
served() { curl -fs "$base/nginx_status" | awk 'NR == 3 { print $3 }'; }

flags=(--workers 1 --quiet --db "$tmp/soak.db" --summary-export "$tmp/summary.json")
if [ "$DRIVER" = lean ]; then
	# The lean driver takes plain steps only: one URL, no cookie jar.
	flow="  - get: /small"
	flags+=(--http-driver lean)
else
	# Cookies on (the default), a step change per request, a distinct URL
	# per request: what leaked 60 bytes per request in libcurl's driver.
	flow="  - get: /login
  - get: /item/{{ __VU }}-{{ __ITER }}?q={{ randomString(8) }}
  - get: /cart"
fi
cat > "$tmp/plan.yaml" <<EOF
name: soak
target: $base
scenarios:
  soak:
    executor: constant-vus
    vus: $VUS
    duration: ${DURATION}s
    gracefulStop: 5s
    flow:
$(echo "$flow" | sed 's/^/    /')
EOF

before=$(served)
HERD_AGENT_BIN="$AGENT" setsid timeout -k 5 "$((DURATION + 60))" "$HERD" run "${flags[@]}" "$tmp/plan.yaml" \
	>"$tmp/herd.out" 2>&1 &
run_pid=$!
agent=""
for _ in $(seq 100); do
	agent=$(pgrep -s "$run_pid" -x herd-agent | head -1 || true)
	[ -n "$agent" ] && break
	sleep 0.1
done
[ -n "$agent" ] || die "no herd-agent appeared (see $tmp/herd.out)"
echo "soak: $DRIVER driver, $VUS VUs, ${DURATION}s, agent pid $agent, sampling every ${SAMPLE}s"
t0=$(date +%s.%N)
: >"$tmp/samples"
while kill -0 "$agent" 2>/dev/null; do
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$agent/status" 2>/dev/null || true)
	[ -n "$rss" ] || break
	now=$(date +%s.%N)
	echo "$(awk -v a="$now" -v b="$t0" 'BEGIN { printf "%.1f", a - b }') $(( $(served) - before )) $rss" >>"$tmp/samples"
	sleep "$SAMPLE"
done
wait "$run_pid" || echo "soak: herd exited $? (see $tmp/herd.out)"
run_pid=""

python3 - "$tmp/samples" "$WARMUP" "$DRIVER" <<'EOF'
import sys
path, warmup, driver = sys.argv[1], float(sys.argv[2]), sys.argv[3]
rows = [tuple(float(x) for x in line.split()) for line in open(path) if line.strip()]
kept = [r for r in rows if r[0] >= warmup]
if len(kept) < 3:
    sys.exit("soak: fewer than 3 samples after the warm-up")

def slope(xs, ys):
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0

t = [r[0] for r in kept]
req = [r[1] for r in kept]
rss = [r[2] for r in kept]
per_s = slope(t, rss)
per_req = slope(req, rss)
print("| driver | samples | seconds | requests | RSS first / last / max kB | KB per hour | KB per million requests |")
print("| --- | --- | --- | --- | --- | --- | --- |")
print("| %s | %d (after %ds) | %.0f | %d | %d / %d / %d | %.0f | %.1f |" % (
    driver, len(kept), warmup, rows[-1][0], rows[-1][1], kept[0][2], kept[-1][2], max(rss),
    per_s * 3600, per_req * 1e6))
EOF
