#!/usr/bin/env bash
# HTTPS speed benchmark (not a test): herd's lean driver and its libcurl
# driver, each beside wrk (OpenSSL) on the same nginx TLS location.
#
# Runs bench/http.sh with SCHEME=https four times: keep-alive, then a new TLS
# connection per request (CLOSE=1: nginx answers Connection: close; every
# client resumes its TLS sessions, nginx counts how many), each with
# `--http-driver lean` and `--http-driver curl`. Each run measures wrk and
# then herd back to back (nginx on CPU 0, the client on CPU 1, 50
# connections, DURATION seconds each), and the table gives herd/wrk ratios
# per pair. All traffic stays on 127.0.0.1; every run is bounded.
#
#   bench/https.sh                   # BUILD, DURATION, CONNS as for bench/http.sh
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp -d /tmp/herd-https.XXXXXX)
trap 'rm -rf "$out"' EXIT

for mode in keepalive newconn; do
	close=0
	[ "$mode" = newconn ] && close=1
	for drv in lean curl; do
		echo "bench: https $mode, herd --http-driver $drv ..."
		if ! SCHEME=https CLOSE=$close HERD_FLAGS="--http-driver $drv" bash bench/http.sh \
			> "$out/$mode-$drv.txt" 2>&1; then
			cat "$out/$mode-$drv.txt" >&2
			echo "bench: bench/http.sh failed for $mode $drv" >&2
			exit 1
		fi
		grep -E '^(wrk|herd) |^herd/wrk|resumed|load average|^note' "$out/$mode-$drv.txt" | sed 's/^/  /'
	done
done

echo
python3 - "$out" <<'PY'
import os, sys
d = sys.argv[1]
print("%-10s %-5s %10s %10s %12s %12s %12s %12s" % ("mode", "herd", "wrk req/s", "herd req/s",
      "wrk us/req", "herd us/req", "req/s ratio", "cpu/req ratio"))
for mode in ("keepalive", "newconn"):
    for drv in ("lean", "curl"):
        rows = {}
        for line in open(os.path.join(d, "%s-%s.txt" % (mode, drv))):
            f = line.split()
            if f and f[0] in ("wrk", "herd") and len(f) >= 12 and f[1].isdigit():
                rows[f[0]] = f
        w, h = rows.get("wrk"), rows.get("herd")
        if not w or not h:
            print("%-10s %-5s (no figures)" % (mode, drv))
            continue
        # req/s by count / duration (column 3), CPU us per request (column 4)
        print("%-10s %-5s %10s %10s %12s %12s %12.2f %12.2f" % (
            mode, drv, w[2], h[2], w[3], h[3], float(h[2]) / float(w[2]), float(h[3]) / float(w[3])))
PY
echo
echo "cpu/req ratio: herd's CPU per request (controller + agent) / wrk's, from the same run; see bench/http.sh."
