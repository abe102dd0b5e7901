# shellcheck shell=bash
# Sourced by the benchmarks: a temporary directory, nginx on a free
# 127.0.0.1 port with a config of its own, and cleanup on exit (the client
# run by its PID, nginx by its PID, the directory unless KEEP_TMP is set).
# After bench_setup NAME: tmp, port, base; bench_nginx_conf LOCATIONS writes
# the config with those location lines (any server-level lines) and the
# stub_status counter; BENCH_LISTEN (e.g. "ssl") is added to its listen line
# and BENCH_HTTP (e.g. a log_format) to its http block.

bench_setup() {
	tmp=$(mktemp -d "/tmp/herd-$1.XXXXXX")
	nginx_pid=""
	run_pid=""
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	base="http://127.0.0.1:$port"
	mkdir -p "$tmp/nginx"
}

# shellcheck disable=SC2317 # called by the trap
bench_cleanup() {
	if [ -n "$run_pid" ]; then kill -TERM "$run_pid" 2>/dev/null || true; fi
	if [ -n "$nginx_pid" ]; then
		kill -QUIT "$nginx_pid" 2>/dev/null || true
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$nginx_pid" 2>/dev/null || true
	fi
	if [ -n "${KEEP_TMP:-}" ]; then echo "bench: files kept in $tmp"; else rm -rf "$tmp"; fi
}

bench_nginx_conf() {
	cat > "$tmp/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  keepalive_requests 1000000000;
  keepalive_timeout 120s;
${BENCH_HTTP:-}
  server {
    listen 127.0.0.1:$port${BENCH_LISTEN:+ $BENCH_LISTEN};
$1
    # Server-side request counter, to check each client's own count.
    location = /nginx_status { stub_status; }
  }
}
CONF
}

# Starts nginx from the config bench_nginx_conf wrote, pinned to CPU $1 (the
# master forks the worker, which inherits the affinity), waits until it
# answers $2 (a path), and sets nginx_pid. Needs NGINX and die.
bench_nginx_start() {
	taskset -c "$1" "$NGINX" -e "$tmp/nginx/error.log" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" ||
		die "nginx did not start (see above)"
	for _ in $(seq 50); do
		[ -s "$tmp/nginx/nginx.pid" ] && curl -fsS -o /dev/null "$base$2" 2>/dev/null && break
		sleep 0.1
	done
	nginx_pid=$(cat "$tmp/nginx/nginx.pid" 2>/dev/null) || die "nginx wrote no pid file"
	curl -fsS -o /dev/null "$base$2" || die "nginx on 127.0.0.1:$port does not answer $2"
}

# Over TLS: a throwaway ECDSA P-256 certificate for 127.0.0.1 in $tmp/nginx;
# sets base to https, BENCH_LISTEN to ssl, and tls_lines to the server lines
# naming the certificate and key. Needs openssl and die.
bench_tls() {
	base="https://127.0.0.1:$port"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-keyout "$tmp/nginx/key.pem" -out "$tmp/nginx/cert.pem" -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 2>/dev/null || die "openssl could not make a certificate"
	BENCH_LISTEN=ssl
	# shellcheck disable=SC2034 # read by the script that sourced this file
	tls_lines="    ssl_certificate $tmp/nginx/cert.pem;
    ssl_certificate_key $tmp/nginx/key.pem;"
}
