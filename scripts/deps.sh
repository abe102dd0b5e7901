#!/usr/bin/env bash
# Installs what herd needs to build, test and benchmark: Debian's packages
# with apt-get, then the integration tests' npm servers (json-server, pinned by
# tests/integration/node/package-lock.json) with `npm ci` into
# tests/integration/node/node_modules (gitignored).
# Idempotent: skips apt-get when every package is installed, and npm when the
# installed tree matches the lock file.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(
  build-essential meson ninja-build pkg-config cmake
  libnng-dev libcurl4-openssl-dev libmsgpack-dev libsqlite3-dev libwslay-dev
  libfyaml-dev libjansson-dev libmbedtls-dev libssl-dev zlib1g-dev
  nginx libnginx-mod-http-echo python3 python3-websockets sqlite3 wrk
  iproute2 procps openssl curl time
  gunicorn python3-httpbin
  python3-junitparser libxml2-utils chromium prometheus
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm run json-server. Whatever provides them is kept (a machine
# may have Node from elsewhere, with npm inside it); Debian's are installed
# only when the command is missing.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
want=()
for p in "${missing[@]}"; do [ -n "$p" ] && want+=("$p"); done
if [ "${#want[@]}" -gt 0 ]; then
  echo "deps: installing ${want[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
fi

# npm packages of the integration tests. The stamp holds the lock file's
# checksum and is written only after `npm ci` succeeded (npm ci empties
# node_modules first), so an interrupted or failed install is redone.
node_dir=tests/integration/node
stamp="$node_dir/node_modules/.herd-installed"
lock_sum=$(sha256sum "$node_dir/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$node_dir/node_modules/json-server/lib/cli/bin.js" ] ||
   [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
  echo "deps: npm ci in $node_dir"
  ok=0
  for attempt in 1 2 3; do
    if (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error </dev/null); then
      ok=1; break
    fi
    echo "deps: npm ci failed (attempt $attempt)" >&2
    sleep $((attempt * 5))
  done
  [ "$ok" -eq 1 ] || { echo "deps: could not install $node_dir's packages" >&2; exit 1; }
  echo "$lock_sum" > "$stamp"
fi
exit 0
