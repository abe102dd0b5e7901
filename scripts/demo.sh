#!/usr/bin/env bash
# One command from a fresh machine to a real load test: installs what is
# needed, builds herd, starts a local nginx as the target on a free port, and
# runs examples/smoke.yaml with herd's embedded defaults (one local agent with
# one worker per core, results in ./herd.db). Stops nginx when done.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build controller/herd agent/herd-agent >/dev/null || { echo "demo: build failed (run: ninja -C build)"; exit 1; }
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -e "s|@PORT@|$port|g" -e "s|@DIR@|$dir|g" scripts/demo-nginx.conf > "$dir/nginx.conf"
/usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf"
trap 'kill "$(cat "$dir/nginx.pid")" 2>/dev/null; sleep 0.2; rm -rf "$dir"' EXIT
sed "s|http://127.0.0.1:8080|http://127.0.0.1:$port|" examples/smoke.yaml > "$dir/smoke.yaml"
echo "demo target: nginx on 127.0.0.1:$port"
rc=0
./build/controller/herd run "$dir/smoke.yaml" "$@" || rc=$?
echo "requests nginx logged: $(wc -l < "$dir/access.log")"
exit $rc
