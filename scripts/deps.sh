#!/usr/bin/env bash
# Installs what herd needs to build, test and benchmark, from Debian's packages.
# Skips apt-get entirely when everything is already there.
set -euo pipefail
pkgs=(
  build-essential meson ninja-build pkg-config cmake
  libnng-dev libcurl4-openssl-dev libmsgpack-dev libsqlite3-dev libwslay-dev
  libfyaml-dev libjansson-dev libmbedtls-dev
  nginx libnginx-mod-http-echo python3 python3-websockets sqlite3 wrk
  iproute2 procps openssl curl time
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
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
exit 0
