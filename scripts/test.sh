#!/usr/bin/env bash
# herd's test command: installs dependencies, builds with warnings as errors,
# runs the unit and integration suites (nginx, network namespaces), then the
# unit suite and the nginx integration suites again with herd built with
# AddressSanitizer + UndefinedBehaviorSanitizer, then the unit suite and the
# suites that exercise the agent's and the controller's threads with
# ThreadSanitizer. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
count() { # count meson's results for one build dir
  local log="$1/meson-logs/testlog.json"
  [ -f "$log" ] || return
  local p f
  p=$(grep -c '"result": "OK"' "$log" || true)
  f=$(grep -vc '"result": "OK"' "$log" || true)
  passed=$((passed + p)); failed=$((failed + f))
}

build() { # build DIR [meson options...]
  local dir="$1"; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" -Dwerror=true "$@" >/dev/null || return 1
  fi
  ninja -C "$dir" >"$dir.ninja.log" 2>&1 || { cat "$dir.ninja.log"; return 1; }
}

if build build-ci; then
  meson test -C build-ci --print-errorlogs --num-processes 2 || true
  count build-ci
else
  echo "build failed"; failed=$((failed + 1))
fi

if build build-ci-asan -Db_sanitize=address,undefined -Db_lundef=false; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  meson test -C build-ci-asan --suite unit --print-errorlogs --num-processes 2 || true
  count build-ci-asan
  # herd and herd-agent themselves under the sanitizers: the suites that
  # drive the most of their code that the unit programs cannot (the drivers
  # against nginx, websockets, json-server and httpbin, the sealed wire, the
  # link's threads, the bounds on hostile peers, the daemon's API, the
  # run engine across runs, herd serve's loop). The rest
  # run once, above: the whole CI stays under 45 minutes.
  meson test -C build-ci-asan http_test h1_driver_test ws_test wsmem_test journey_test auth_test lifecycle_test bounds_test serve_test drivers_test engine_test daemon_test lean_tls_test tlsconn_test --print-errorlogs || true
  count build-ci-asan
  unset ASAN_OPTIONS UBSAN_OPTIONS
else
  echo "sanitizer build failed"; failed=$((failed + 1))
fi

if build build-ci-tsan -Db_sanitize=thread; then
  # Every process writes its reports to a file of its own (local agents too,
  # whose stderr no test reads): any file there is a failure.
  tsan_logs=$(mktemp -d)
  export TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 log_path=$tsan_logs/tsan"
  meson test -C build-ci-tsan --suite unit --print-errorlogs --num-processes 2 || true
  count build-ci-tsan
  # The link's and the cluster's threads: restarts, signals, closing, and
  # herd serve's (its loop, the API on NNG's threads, the webhook thread);
  # timing bounds of other suites do not hold at ThreadSanitizer's speed.
  meson test -C build-ci-tsan lifecycle_test cluster_close_test engine_test daemon_test ingest_test --print-errorlogs || true
  count build-ci-tsan
  unset TSAN_OPTIONS
  if compgen -G "$tsan_logs/tsan.*" >/dev/null; then
    echo "ThreadSanitizer reports:"; cat "$tsan_logs"/tsan.*
    failed=$((failed + 1))
  else
    passed=$((passed + 1))
  fi
  rm -rf "$tsan_logs"
else
  echo "thread sanitizer build failed"; failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
