#!/usr/bin/env bash
# Instructions per request in the agent (not a test): exact where CPU time on a
# shared machine is not. Runs herd's local agent under valgrind's callgrind
# twice against the same nginx, 50 VUs x ITER1 then x ITER2 iterations of one
# GET (per-vu-iterations), and prints the difference of the agent's
# instructions divided by the difference of the requests, so start-up,
# connections and handshakes cancel out. Every request is recorded as in any
# run (its histograms, phases and iterations). All traffic stays on
# 127.0.0.1; both runs are bounded in iterations.
#
#   bench/insns.sh                      # http, the default driver (auto)
#   SCHEME=https bench/insns.sh         # https keep-alive (TLS 1.2, resumed)
#   HERD_FLAGS="--http-driver curl" bench/insns.sh
#   ITER1=200 ITER2=600 VUS=50 BUILD=build bench/insns.sh
#   KEEP_TMP=1 bench/insns.sh           # keep both runs' profiles (callgrind_annotate)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
ITER1=${ITER1:-200}
ITER2=${ITER2:-600}
VUS=${VUS:-50}
SCHEME=${SCHEME:-http}
NGINX=${NGINX:-/usr/sbin/nginx}
HERD_FLAGS=${HERD_FLAGS:-}

die() { echo "bench: $*" >&2; exit 1; }
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
HERD="$BUILD/controller/herd"
AGENT="$BUILD/agent/herd-agent"
if [ ! -x "$HERD" ] || [ ! -x "$AGENT" ]; then
	die "herd is not built in $BUILD: run 'meson setup $BUILD && ninja -C $BUILD'"
fi
command -v valgrind >/dev/null || die "valgrind not found: apt-get install valgrind"
[ -x "$NGINX" ] || die "$NGINX not found: apt-get install nginx"
[ "$ITER2" -gt "$ITER1" ] || die "ITER2 must be above ITER1"

# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_setup insns
small='    location = /small { default_type text/plain; return 200 "hello herd\n"; }'
curl() { command curl -k "$@"; }
if [ "$SCHEME" = https ]; then
	bench_tls
	small="$tls_lines
$small"
fi
bench_nginx_conf "$small"
bench_nginx_start 0 /small

# herd starts its local agent from HERD_AGENT_BIN: a wrapper puts it under callgrind.
cat > "$tmp/agent.sh" <<SH
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file=$tmp/cg.out.%p --log-file=$tmp/cg.log.%p "$AGENT" "\$@"
SH
chmod +x "$tmp/agent.sh"

# run ITER: the agent's instructions (callgrind's "Collected") and herd's http_reqs.
run() {
	local iter=$1 d="$tmp/run$1"
	mkdir -p "$d"
	cat > "$d/plan.yaml" <<YAML
name: insns
target: $base
tls:
  insecureSkipVerify: true
scenarios:
  s:
    executor: per-vu-iterations
    vus: $VUS
    iterations: $iter
    maxDuration: 300s
    flow:
      - get: /small
YAML
	# shellcheck disable=SC2086 # HERD_FLAGS is a list of flags
	(cd "$d" && HERD_AGENT_BIN="$tmp/agent.sh" timeout -k 5 600 "$HERD" run plan.yaml --workers 1 --quiet \
		--db "$d/herd.db" --summary-export "$d/summary.json" $HERD_FLAGS > "$d/out" 2> "$d/err") ||
		die "herd run ($iter iterations) failed: $(tail -5 "$d/err")"
	local insns reqs
	insns=$(grep -h 'Collected :' "$tmp"/cg.log.* | awk '{ print $NF }')
	# With KEEP_TMP, each run's profile stays for callgrind_annotate.
	for f in "$tmp"/cg.log.* "$tmp"/cg.out.*; do
		if [ -n "${KEEP_TMP:-}" ]; then mv "$f" "$d/"; else rm -f "$f"; fi
	done
	reqs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metrics"]["http_reqs"]["count"])' "$d/summary.json")
	echo "$insns $reqs"
}

read -r i1 r1 < <(run "$ITER1")
read -r i2 r2 < <(run "$ITER2")
echo "bench: $SCHEME ${HERD_FLAGS:-(default driver)}: $r1 requests: $i1 instructions; $r2 requests: $i2"
awk -v i1="$i1" -v i2="$i2" -v r1="$r1" -v r2="$r2" \
	'BEGIN { printf "bench: agent instructions per request: %.0f\n", (i2 - i1) / (r2 - r1) }'
