"""Shared helpers for herd's integration tests (Python 3 standard library only).

- free_port(): a free TCP port on 127.0.0.1.
- Nginx: a context manager running Debian's nginx on 127.0.0.1:<free port> with
  its own config, temp dir and access log (one line per request, fields
  separated by TAB, see LOG_FIELDS).
- run_herd() / start_herd(): run `herd run` on a plan text with --db and
  --summary-export in a temp dir; load the exported JSON.
- JsonServer: json-server 0.17.4 (npm, installed by scripts/deps.sh into
  tests/integration/node/) on 127.0.0.1:<free port> with a temp db.json seeded
  with given collections, and json_server_mw.js: a JSON-lines log of every
  request (method, url, headers, body, status, response), POST /login issuing
  Bearer tokens to registered users, optional token-guarded collections.
- Httpbin: Debian's python3-httpbin served by Debian's gunicorn on
  127.0.0.1:<free port>, with an access log of TAB-separated fields
  (HTTPBIN_LOG_FIELDS plus chosen request headers).
- Skip: raised by a test (or a fixture) whose server is not installed. Outside
  CI the test is reported `ok - name # SKIP reason`; with CI set in the
  environment a missing server is a failure instead (CI installs them).
- TestPki: a throwaway CA and server certificates made with the openssl CLI in
  a temp dir (for the TLS tests).
- main(tests): a tiny runner printing `ok - name` / `not ok - name: reason`,
  then `N passed, N failed` (`, N skipped` when any were); exits 1 when
  anything failed. `-k SUBSTR` runs only the tests whose name contains SUBSTR.

Every load these tests generate goes to 127.0.0.1 only and is bounded by the
plan's own duration or iteration count, and by a timeout on the process.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

# herd and its agents keep a stop signal that was ignored when they started
# (`nohup`, a background job of a script), as they should; the suites signal
# them as a terminal or a service manager would, so whatever ignored these
# signals around the test run (CI under nohup did) is not passed on.
for _sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
    if signal.getsignal(_sig) == signal.SIG_IGN:
        signal.signal(_sig, signal.SIG_DFL)

NGINX = "/usr/sbin/nginx"
ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"

# Access log fields, TAB separated, in this order.
LOG_FIELDS = ["msec", "method", "uri", "args", "status", "content_type", "content_length",
              "authorization", "request_body", "bytes_sent", "request_length"]


def free_port():
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _src_root():
    return os.environ.get("HERD_SRC") or os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))


def herd_bin():
    b = os.environ.get("HERD_BIN")
    if not b:
        raise RuntimeError("HERD_BIN is not set (path of the built herd binary)")
    return os.path.abspath(b)


def agent_bin():
    b = os.environ.get("HERD_AGENT_BIN")
    return os.path.abspath(b) if b else None


class Fail(AssertionError):
    pass


class Skip(Exception):
    """A test that cannot run here (a server is not installed)."""
    pass


def in_ci():
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def missing(what, how):
    """A server the tests need is absent: Skip outside CI, Fail in CI."""
    msg = "%s is not installed: %s" % (what, how)
    if in_ci():
        raise Fail(msg + " (CI must have it: scripts/deps.sh installs it)")
    raise Skip(msg)


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def note(fmt, *args):
    """A `# ...` comment line in the output (observed figures)."""
    print("# " + (fmt % args if args else fmt))
    sys.stdout.flush()


def near(value, want, rel):
    """True when value is within rel (a fraction) of want."""
    return abs(value - want) <= abs(want) * rel


REF_HTTP_CLIENT = r"""
import http.client, statistics, sys, threading, time
host, port, path, secs, conns = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
until = time.monotonic() + secs
out, lock = [], threading.Lock()
def one():
    c = http.client.HTTPConnection(host, port, timeout=30)
    mine = []
    while time.monotonic() < until:
        t0 = time.perf_counter()
        c.request("GET", path)
        c.getresponse().read()
        mine.append(time.perf_counter() - t0)
    with lock:
        out.extend(mine)
ts = [threading.Thread(target=one) for _ in range(conns)]
[t.start() for t in ts]
[t.join() for t in ts]
print("%.6f %d" % (statistics.median(out) * 1e3, len(out)))
"""


def reference_http(url, path, secs, conns):
    """Starts a reference client in its own process: conns keep-alive
    connections (Python's http.client, a thread each) timing GET path in a
    loop for secs seconds. Run it beside herd, on a path of its own, so that
    both live through the same load on the machine: a latency bound taken
    from it holds on a busy machine. Returns a function that waits for it and
    gives (median latency in ms, requests)."""
    hostport = url.split("://", 1)[1].split("/", 1)[0]
    host, port = hostport.rsplit(":", 1)
    p = subprocess.Popen([sys.executable, "-c", REF_HTTP_CLIENT, host, port, path, str(secs),
                          str(conns)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def result():
        out, err = p.communicate(timeout=secs + 60)
        check(p.returncode == 0, "the reference client failed: %s" % err[-800:])
        med, n = out.split()
        return float(med), int(n)
    return result


def check_p50_against_server(ng, med, ref_med, ref_n, path="/delay50", budget_ms=1.0):
    """herd's median latency med (ms) on path against nginx's own timing of
    the same requests ($request_time, logged by Nginx(fields=("request_time",)),
    1 ms resolution) and a reference client's median ref_med (reference_http)
    from the same seconds: never below what nginx took (less its resolution),
    and at most budget_ms (2% of 50 ms) above the reference client, which
    lives through the same load on the machine as herd does."""
    times = sorted(float(e["request_time"]) * 1e3 for e in ng.entries() if e["uri"] == path)
    check(times, "nginx logged no %s" % path)
    srv_med = times[len(times) // 2]
    note("p50 on %s: herd %.3f ms, nginx's own $request_time %.0f ms, reference client %.3f ms "
         "(%d requests)", path, med, srv_med, ref_med, ref_n)
    check(med >= srv_med - 1.5, "herd's p50 %.3f ms is below nginx's own %.0f ms"
          % (med, srv_med))
    check(med <= ref_med + budget_ms, "herd's p50 %.3f ms is more than %.1f ms above the reference "
          "client's %.3f ms (same server, same seconds)" % (med, budget_ms, ref_med))


NGINX_CONF = r"""
load_module {echo_module};
{user}
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format herd escape=json '$msec\t$request_method\t$uri\t$args\t$status\t$content_type\t$content_length\t$http_authorization\t$request_body\t$bytes_sent\t$request_length';
    access_log {dir}/access.log herd;
    client_body_temp_path {dir}/tmp/client_body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    client_body_buffer_size 64k;
    keepalive_requests 100000;
    keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        default_type text/plain;
        location = /small {{ return 200 "hello herd\n"; }}
        location = /delay50 {{ echo_sleep 0.05; echo "delayed"; }}
        location = /ref/delay50 {{ echo_sleep 0.05; echo "delayed"; }}
        location = /slow {{ echo_sleep 0.1; echo "slow"; }}
        location = /status404 {{ return 404; }}
        location = /status500 {{ return 500; }}
        location = /body {{ return 200 "a haystack with a needle in it\n"; }}
        location = /read {{ return 200 "read\n"; }}
        location = /ai {{ return 200 "ai\n"; }}
        location = /write {{ return 200 "write\n"; }}
        location = /api/orders {{
            if ($request_method != POST) {{ return 405; }}
            default_type application/json;
            return 201 '{{"id":1,"status":"created"}}';
        }}
        location = /api/echo {{
            echo_read_request_body;
            echo_request_body;
        }}
        location / {{ return 404; }}
    }}
}}
"""


class Nginx:
    """nginx on 127.0.0.1:<free port>, its files in a temp dir, stopped on exit.
    replace: {old text: new text} changes to NGINX_CONF for this server, made
    before it is formatted (so braces are written {{ }}); each old text must
    be in it. fields: more nginx variables (names without $, e.g.
    "remote_addr") logged after LOG_FIELDS; entries() has them by name."""

    LOG_END = "\\t$request_length'"

    def __init__(self, replace=None, fields=()):
        self.dir = None
        self.port = None
        self.proc = None
        self.replace = dict(replace or {})
        self.fields = list(fields)
        if self.fields:
            if self.LOG_END in self.replace:
                raise Fail("Nginx: fields and a replace of the log format's end together")
            self.replace[self.LOG_END] = self.LOG_END[:-1] + "".join(
                "\\t$" + f for f in self.fields) + "'"

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def log_path(self):
        return os.path.join(self.dir, "access.log")

    def __enter__(self):
        if not os.path.exists(NGINX):
            raise Fail("%s is missing: apt-get install nginx-light (or nginx)" % NGINX)
        if not os.path.exists(ECHO_MODULE):
            raise Fail("%s is missing: apt-get install libnginx-mod-http-echo "
                       "(needed for echo_sleep)" % ECHO_MODULE)
        template = NGINX_CONF
        for old, new in self.replace.items():
            if old not in template:
                raise Fail("harness nginx config has no %r to replace" % old)
            template = template.replace(old, new)
        self.dir = tempfile.mkdtemp(prefix="herd-nginx-")
        os.chmod(self.dir, 0o755)
        os.makedirs(os.path.join(self.dir, "tmp"))
        for attempt in range(5):
            self.port = free_port()
            conf = template.format(
                echo_module=ECHO_MODULE, dir=self.dir, port=self.port,
                user="user root;" if os.geteuid() == 0 else "")
            with open(os.path.join(self.dir, "nginx.conf"), "w") as f:
                f.write(conf)
            open(self.log_path, "w").close()
            self.proc = subprocess.Popen(
                [NGINX, "-p", self.dir, "-e", os.path.join(self.dir, "error.log"),
                 "-c", os.path.join(self.dir, "nginx.conf"), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if self._wait_ready():
                return self
            err = self._stop_proc()
            if attempt == 4:
                self._cleanup()
                raise Fail("nginx did not start: %s" % err)
        return self

    def _wait_ready(self):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                time.sleep(0.02)
        return False

    def _stop_proc(self):
        err = ""
        if self.proc is None:
            return err
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            err = self.proc.stderr.read().decode(errors="replace")
        except Exception:
            pass
        self.proc.stderr.close()
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                err += f.read()[-2000:]
        except OSError:
            pass
        self.proc = None
        return err.strip()

    def _cleanup(self):
        if self.dir and not os.environ.get("HERD_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __exit__(self, *exc):
        self._stop_proc()
        self._cleanup()
        return False

    def settle(self, quiet_s=0.3, max_s=3.0):
        """Waits until the access log stops growing (nginx logs a request
        after answering it, so the last lines may land just after herd exits)."""
        deadline = time.monotonic() + max_s
        last = -1
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            size = os.path.getsize(self.log_path)
            if size != last:
                last = size
                stable_since = time.monotonic()
            elif time.monotonic() - stable_since >= quiet_s:
                return
            time.sleep(0.05)

    def entries(self):
        """The access log as a list of dicts (keys: LOG_FIELDS and fields).
        Parsed once per log size."""
        size = os.path.getsize(self.log_path)
        cached = getattr(self, "_cache", None)
        if cached is not None and cached[0] == size:
            return cached[1]
        out = []
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                if not line:
                    continue
                names = LOG_FIELDS + self.fields
                parts = line.split("\t")
                parts += [""] * (len(names) - len(parts))
                e = dict(zip(names, parts))
                e["status"] = int(e["status"]) if e["status"].isdigit() else 0
                e["msec"] = float(e["msec"]) if e["msec"] else 0.0
                for k in ("bytes_sent", "request_length"):
                    e[k] = int(e[k]) if e[k].isdigit() else 0
                for k in ("args", "content_type", "authorization", "request_body"):
                    if "\\" in e[k]:
                        try:  # escape=json in the log format
                            e[k] = json.loads('"%s"' % e[k])
                        except ValueError:
                            pass
                out.append(e)
        self._cache = (size, out)
        return out

    def access_log_lines(self, path=None, status=None, method=None, settle=True):
        """Number of logged requests, optionally only those for path (exact
        URI), status (int) and method."""
        if settle:
            self.settle()
        n = 0
        for e in self.entries():
            if path is not None and e["uri"] != path:
                continue
            if status is not None and e["status"] != status:
                continue
            if method is not None and e["method"] != method:
                continue
            n += 1
        return n


def _settle_file(path, quiet_s=0.3, max_s=3.0):
    """Waits until path stops growing for quiet_s (at most max_s)."""
    deadline = time.monotonic() + max_s
    last = -1
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        try:
            size = os.path.getsize(path)
        except OSError:
            size = -1
        if size != last:
            last = size
            stable_since = time.monotonic()
        elif time.monotonic() - stable_since >= quiet_s:
            return
        time.sleep(0.05)


def _stop_server(proc, group=False):
    """SIGTERM to the server we started (its process group when group is
    set: it was started in a session of its own), SIGKILL after 5 s. By id."""
    if proc is None or proc.poll() is not None:
        return
    try:
        if group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGTERM)
    except OSError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        try:
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        except OSError:
            pass
        proc.wait()
    if group:  # workers left behind by a master that died first
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass


def _read_tail(path, n=2000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


def local_opener(*handlers):
    """A urllib opener that ignores *_proxy variables (traffic stays on
    127.0.0.1), with extra handlers (e.g. HTTPCookieProcessor)."""
    import urllib.request
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), *handlers)


def _http_json(url, timeout=2.0):
    """GET url on 127.0.0.1; (status, parsed JSON or None)."""
    import urllib.error
    try:
        with local_opener().open(url, timeout=timeout) as r:
            body = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        body = e.read()
        status = e.code
    try:
        return status, json.loads(body.decode() or "null")
    except ValueError:
        return status, None


JSON_SERVER_VERSION = "0.17.4"


def node_dir():
    """tests/integration/node: package.json + package-lock.json pin json-server;
    scripts/deps.sh runs `npm ci` there."""
    return os.path.join(_src_root(), "tests", "integration", "node")


def json_server_bin():
    """json-server's CLI script (run with node): HERD_JSON_SERVER, else the
    project-local install."""
    return os.environ.get("HERD_JSON_SERVER") or os.path.join(
        node_dir(), "node_modules", "json-server", "lib", "cli", "bin.js")


def json_server_middleware():
    return os.path.join(_src_root(), "tests", "integration", "json_server_mw.js")


class JsonServer:
    """json-server on 127.0.0.1:<free port> over a temp db.json seeded with
    collections ({"items": [], ...}), with json_server_mw.js logging every
    request to log_path. auth: collection names that need a Bearer token from
    POST /login. Stopped by pid on exit.

        with JsonServer({"items": []}) as js:
            ... js.url ...
            js.items("items")          # the collection as db.json holds it now
            js.requests(method="GET")  # what the server received, in order
    """

    def __init__(self, collections=None, auth=()):
        self.collections = {"items": []} if collections is None else dict(collections)
        self.auth = list(auth)
        self.dir = None
        self.port = None
        self.proc = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def db_path(self):
        return os.path.join(self.dir, "db.json")

    @property
    def log_path(self):
        return os.path.join(self.dir, "requests.jsonl")

    @property
    def out_path(self):
        return os.path.join(self.dir, "json-server.out")

    @staticmethod
    def available():
        """None when json-server can run here, else what is missing."""
        if not shutil.which("node"):
            return "node (apt-get install nodejs npm)"
        if not os.path.exists(json_server_bin()):
            return ("json-server %s (%s is missing; run scripts/deps.sh, or "
                    "`npm ci --no-audit --no-fund` in %s)"
                    % (JSON_SERVER_VERSION, json_server_bin(), node_dir()))
        return None

    def __enter__(self):
        why = self.available()
        if why:
            missing("json-server", why)
        self.dir = tempfile.mkdtemp(prefix="herd-json-server-")
        env = dict(os.environ)
        env["HERD_JS_LOG"] = self.log_path
        env["HERD_JS_AUTH"] = ",".join(self.auth)
        env.pop("NODE_OPTIONS", None)
        err = ""
        for attempt in range(5):
            with open(self.db_path, "w") as f:
                json.dump(self.collections, f)
            open(self.log_path, "w").close()
            self.port = free_port()
            with open(self.out_path, "w") as out:
                self.proc = subprocess.Popen(
                    ["node", json_server_bin(), self.db_path, "--host", "127.0.0.1",
                     "--port", str(self.port), "--middlewares", json_server_middleware(),
                     "--quiet", "--no-gzip"],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    cwd=self.dir, env=env)
            if self._wait_ready():
                return self
            _stop_server(self.proc)
            err = _read_tail(self.out_path)
        self._cleanup()
        raise Fail("json-server did not start: %s" % err)

    def _wait_ready(self, limit_s=20):
        # /__herd_ping is answered by our middleware with the server's pid, so
        # a port some other process took in the meantime is not mistaken for it.
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                status, body = _http_json(self.url + "/__herd_ping", timeout=1.0)
                if status == 200 and isinstance(body, dict):
                    return body.get("pid") == self.proc.pid
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def _cleanup(self):
        if self.dir and not os.environ.get("HERD_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def stop(self):
        """Flushes db.json (so it can still be read afterwards), then stops
        the server by pid."""
        try:
            self.flush()
        except (OSError, Fail):
            pass
        _stop_server(self.proc)

    def __exit__(self, *exc):
        self.stop()
        self._cleanup()
        return False

    def flush(self):
        """Waits until db.json on disk holds every change the server has made
        so far (json-server writes it asynchronously, after answering)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        import urllib.request
        req = urllib.request.Request(self.url + "/__herd_flush", data=b"", method="POST")
        with local_opener().open(req, timeout=10) as r:
            check(r.status == 200, "json-server flush: %d" % r.status)

    def db(self):
        """db.json as read back from the file, after flush() (json-server
        replaces the file whole; a read that fails to parse is retried)."""
        self.flush()
        for _ in range(50):
            try:
                with open(self.db_path) as f:
                    return json.load(f)
            except ValueError:
                time.sleep(0.05)
        with open(self.db_path) as f:
            return json.load(f)

    def items(self, collection):
        return self.db().get(collection, [])

    def requests(self, method=None, path=None, prefix=None):
        """The middleware's log: one dict per request in the order answered
        (keys seq, method, url, path, headers (lower-case names), body, status,
        response, token_user). Filters: method, path (exact, no query), prefix
        (of path)."""
        out = []
        with open(self.log_path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                e = json.loads(line)
                if method is not None and e["method"] != method:
                    continue
                if path is not None and e["path"] != path:
                    continue
                if prefix is not None and not e["path"].startswith(prefix):
                    continue
                out.append(e)
        return out


GUNICORN = "/usr/bin/gunicorn"

# The httpbin access log: these fields, then one per header asked for
# (lower-case name; "-" when the request had none), TAB separated.
HTTPBIN_LOG_FIELDS = ["method", "path", "query", "status", "bytes"]


class Httpbin:
    """Debian's httpbin (python3-httpbin) under Debian's gunicorn on
    127.0.0.1:<free port>, one worker with threads, access log in a temp dir.
    headers: request headers to log (lower-case). Stopped by pid on exit."""

    def __init__(self, headers=("cookie", "x-sid", "x-vu", "authorization"), threads=8):
        self.headers = [h.lower() for h in headers]
        self.threads = threads
        self.dir = None
        self.port = None
        self.proc = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def log_path(self):
        return os.path.join(self.dir, "access.log")

    @property
    def error_path(self):
        return os.path.join(self.dir, "error.log")

    @property
    def fields(self):
        return HTTPBIN_LOG_FIELDS + self.headers

    @staticmethod
    def available():
        if not os.path.exists(GUNICORN):
            return "gunicorn (apt-get install gunicorn)"
        if not os.path.exists("/usr/lib/python3/dist-packages/httpbin/__init__.py"):
            return "httpbin (apt-get install python3-httpbin)"
        return None

    def __enter__(self):
        why = self.available()
        if why:
            missing("httpbin", why)
        self.dir = tempfile.mkdtemp(prefix="herd-httpbin-")
        fmt = "\t".join(["%(m)s", "%(U)s", "%(q)s", "%(s)s", "%(B)s"] +
                        ["%%({%s}i)s" % h for h in self.headers])
        err = ""
        for attempt in range(5):
            self.port = free_port()
            open(self.log_path, "w").close()
            open(self.error_path, "w").close()
            self.proc = subprocess.Popen(
                [GUNICORN, "-b", "127.0.0.1:%d" % self.port, "--workers", "1",
                 "--threads", str(self.threads), "--chdir", self.dir,
                 "--access-logfile", self.log_path, "--access-logformat", fmt,
                 "--error-logfile", self.error_path, "--log-level", "info",
                 "httpbin:app"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, cwd=self.dir, start_new_session=True)
            if self._wait_ready():
                return self
            _stop_server(self.proc, group=True)
            err = _read_tail(self.error_path)
        self._cleanup()
        raise Fail("gunicorn/httpbin did not start: %s" % err)

    def _wait_ready(self, limit_s=20):
        # Ready when the master says it listens on our port (with its own pid)
        # and a worker has booted; no request is made, so the log starts empty.
        want = "Listening at: http://127.0.0.1:%d (%d)" % (self.port, self.proc.pid)
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            text = _read_tail(self.error_path, 100000)
            if want in text and "Booting worker" in text:
                return True
            time.sleep(0.05)
        return False

    def _cleanup(self):
        if self.dir and not os.environ.get("HERD_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def stop(self):
        _stop_server(self.proc, group=True)

    def __exit__(self, *exc):
        self.stop()
        self._cleanup()
        return False

    def settle(self, quiet_s=0.3, max_s=3.0):
        """gunicorn logs a request after answering it: waits until the log
        stops growing."""
        _settle_file(self.log_path, quiet_s, max_s)

    def entries(self, settle=True):
        """The access log as dicts (keys: fields; status and bytes as int,
        "-" header values as "")."""
        if settle:
            self.settle()
        out = []
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                if not line:
                    continue
                parts = line.split("\t")
                parts += [""] * (len(self.fields) - len(parts))
                e = dict(zip(self.fields, parts))
                e["status"] = int(e["status"]) if e["status"].isdigit() else 0
                e["bytes"] = int(e["bytes"]) if e["bytes"].isdigit() else 0
                for h in self.headers:
                    if e[h] == "-":
                        e[h] = ""
                out.append(e)
        return out

    def requests(self, method=None, path=None, prefix=None, settle=True):
        out = []
        for e in self.entries(settle):
            if method is not None and e["method"] != method:
                continue
            if path is not None and e["path"] != path:
                continue
            if prefix is not None and not e["path"].startswith(prefix):
                continue
            out.append(e)
        return out


def cookie_value(header, name):
    """The value of cookie name in a Cookie request header, or None."""
    for part in (header or "").split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None
class TestPki:
    """A CA of its own and server certificates signed by it, made with the
    `openssl` command in a new temp dir (ECDSA P-256 keys: quick to make and
    to use). server(name, sans) writes NAME.pem and NAME.key with the
    subjectAltName entries sans (e.g. ["IP:127.0.0.1", "DNS:localhost"]) and
    returns their paths; client(name) the same for a client certificate;
    other_ca() makes a second, unrelated CA."""

    def __init__(self):
        self.dir = _new_tmpdir()
        self.ca, self.ca_key = self._ca("ca", "herd test CA")

    def _run(self, *args):
        r = subprocess.run(["openssl"] + list(args), cwd=self.dir, capture_output=True, timeout=60)
        if r.returncode != 0:
            raise Fail("openssl %s failed: %s" % (args[0], r.stderr.decode(errors="replace")[-800:]))

    def _ca(self, name, cn):
        cert, key = os.path.join(self.dir, name + ".pem"), os.path.join(self.dir, name + ".key")
        self._run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                  "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + cn,
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return cert, key

    def other_ca(self):
        return self._ca("other-ca", "another test CA")[0]

    def server(self, name, sans, usage="serverAuth"):
        cert, key = os.path.join(self.dir, name + ".pem"), os.path.join(self.dir, name + ".key")
        csr, ext = os.path.join(self.dir, name + ".csr"), os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n"
                    % (",".join(sans), usage))
        self._run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-keyout", key, "-out", csr, "-subj", "/CN=herd test server " + name)
        self._run("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                  "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext)
        return cert, key

    def client(self, name):
        """A client certificate (extendedKeyUsage clientAuth) for name, as
        server() writes them: for the agents of tls+tcp:// controllers."""
        return self.server(name, ["DNS:" + name], usage="clientAuth")


class HerdResult:
    def __init__(self, code, stdout, stderr, summary, tmpdir, plan_path, db, export, elapsed):
        self.code = code
        self.stdout = stdout
        self.stderr = stderr
        self.summary = summary
        self.dir = tmpdir
        self.plan_path = plan_path
        self.db = db
        self.export = export
        self.elapsed = elapsed

    def metric(self, name):
        check(self.summary is not None, "no summary export written (exit %s)%s"
              % (self.code, self.tail()))
        m = self.summary.get("metrics", {})
        check(name in m, "metric %r missing from the export (has: %s)"
              % (name, ", ".join(sorted(m))))
        return m[name]

    def herd(self):
        check(self.summary is not None, "no summary export written (exit %s)%s"
              % (self.code, self.tail()))
        check("herd" in self.summary, "export has no 'herd' section")
        return self.summary["herd"]

    def errors_by_kind(self):
        return self.herd().get("errors_by_kind", {}) or {}

    def count(self):
        return self.metric("http_reqs")["count"]

    def tail(self, n=1500):
        s = ""
        if self.stderr.strip():
            s += "\n--- herd stderr (tail) ---\n" + self.stderr[-n:]
        if self.stdout.strip():
            s += "\n--- herd stdout (tail) ---\n" + self.stdout[-n:]
        return s


_tmpdirs = []


def tmp_dir(prefix="herd-test-"):
    """A new temporary directory, removed when the suite ends (kept with
    HERD_KEEP_TMP=1, to look at after a failure)."""
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


_new_tmpdir = tmp_dir


def _cleanup_tmpdirs():
    if os.environ.get("HERD_KEEP_TMP"):
        return
    while _tmpdirs:
        shutil.rmtree(_tmpdirs.pop(), ignore_errors=True)


def _herd_env():
    env = dict(os.environ)
    env.pop("HERD_DB", None)
    if agent_bin():
        env["HERD_AGENT_BIN"] = agent_bin()
    return env


def prepare_run(plan_text, args=(), db=None, export=True, plan_name="plan.yaml", files=None):
    """Writes the plan (and files: {name: text}, e.g. a feeder's CSV beside
    it) into a new temp dir and builds the herd command line."""
    d = _new_tmpdir()
    for name, text in (files or {}).items():
        with open(os.path.join(d, name), "w", newline="") as f:
            f.write(text)
    plan_path = os.path.join(d, plan_name)
    if plan_text is not None:
        with open(plan_path, "w") as f:
            f.write(plan_text)
    db = db or os.path.join(d, "herd.db")
    export_path = os.path.join(d, "summary.json") if export else None
    # Flags go before the plan here; test_flags_after_plan (plan_cli_test.py)
    # covers the documented order `herd run PLAN.yaml [flags]` on its own.
    cmd = [herd_bin(), "run", "--db", db]
    if export_path:
        cmd += ["--summary-export", export_path]
    cmd += list(args)
    cmd.append(plan_path)
    return d, plan_path, db, export_path, cmd


def _load_export(export_path):
    if export_path and os.path.exists(export_path):
        with open(export_path) as f:
            text = f.read()
        try:
            return json.loads(text)
        except ValueError as e:
            raise Fail("summary export is not valid JSON: %s\n%s" % (e, text[:500]))
    return None


def run_herd(plan_text, *args, timeout=60, db=None, export=True, quiet=True,
             plan_name="plan.yaml", cwd=None, files=None):
    """Runs `herd run` on plan_text and returns a HerdResult. The process is
    killed (and the test fails) if it outlives timeout seconds. files: other
    files to write beside the plan ({name: text})."""
    return finish(start_herd(plan_text, *args, db=db, quiet=quiet, export=export, plan_name=plan_name,
                             cwd=cwd, files=files), timeout)


def _group_members(pgid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
            fields = st[st.rindex(")") + 2:].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
                out.append("%s %s" % (d, cmd))
        except (OSError, ValueError, IndexError):
            pass
    return out


def reap_group(p, grace=3.0):
    """After herd (started in its own session, so its pid is the group id)
    has exited: waits up to grace seconds for the rest of its group (local
    agents) to go, then kills what is left by group id. Returns the
    processes that had to be killed."""
    deadline = time.monotonic() + grace
    while True:
        left = _group_members(p.pid)
        if not left:
            return []
        if time.monotonic() >= deadline:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            return left
        time.sleep(0.1)


def start_herd(plan_text, *args, db=None, quiet=False, export=True, plan_name="plan.yaml", cwd=None,
               files=None):
    """Starts `herd run` in a session of its own and returns its Popen. Call
    finish(p, timeout) to collect the result."""
    args = list(args)
    if quiet and "--quiet" not in args:
        args.append("--quiet")
    d, plan_path, db, export_path, cmd = prepare_run(plan_text, args, db, export, plan_name, files)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=_herd_env(), cwd=cwd or d, start_new_session=True)
    p._herd_info = (d, plan_path, db, export_path, time.monotonic())
    return p


def finish(p, timeout):
    d, plan_path, db, export_path, t0 = p._herd_info
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(p)
        out, err = p.communicate()
        raise Fail("herd did not finish within %ss (killed)\n%s\n%s" % (
            timeout, err.decode(errors="replace")[-1500:], out.decode(errors="replace")[-1500:]))
    res = HerdResult(p.returncode, out.decode(errors="replace"), err.decode(errors="replace"),
                     _load_export(export_path), d, plan_path, db, export_path,
                     time.monotonic() - t0)
    check(p.returncode >= 0, "herd died from signal %d%s" % (-p.returncode, res.tail()))
    strays = reap_group(p)
    check(not strays, "processes of herd's group outlived herd by 3 s (killed): %s%s"
          % (strays, res.tail()))
    return res


def _kill_group(p):
    """Kills the herd process we started and its process group (its local
    agents), by id."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        try:
            p.kill()
        except OSError:
            pass


@contextlib.contextmanager
def killed_on_exit(p):
    """Runs the block with herd p started by start_herd; if herd still runs
    when the block is left (a check failed half way, finish timed out), kills
    its process group by id and reaps it, so no test leaves herd or its local
    agents behind."""
    try:
        yield p
    finally:
        if p.poll() is None:
            _kill_group(p)
            p.wait()


def run_cli(*args, timeout=30, cwd=None):
    """Runs herd with raw arguments; returns (code, stdout, stderr)."""
    p = subprocess.Popen([herd_bin()] + list(args), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=_herd_env(), cwd=cwd or _new_tmpdir(),
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(p)
        p.communicate()
        raise Fail("herd %s did not finish within %ss (killed)" % (" ".join(args), timeout))
    strays = reap_group(p)
    check(not strays, "processes of herd's group outlived herd by 3 s (killed): %s" % strays)
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def main(tests, needs_herd=True):
    """Runs tests (a list of functions). Options: -k SUBSTR (repeatable),
    -l to list the names. needs_herd=False for tests of the fixtures alone.
    A test that raises Skip is reported `ok - name # SKIP reason` and counted
    apart: the closing line becomes `N passed, N failed, N skipped`."""
    argv = sys.argv[1:]
    only = []
    i = 0
    while i < len(argv):
        if argv[i] == "-k" and i + 1 < len(argv):
            only.append(argv[i + 1])
            i += 2
        elif argv[i] == "-l":
            for t in tests:
                print(t.__name__)
            return
        else:
            print("usage: %s [-k NAME]... [-l]" % sys.argv[0], file=sys.stderr)
            sys.exit(2)
    if needs_herd and not os.environ.get("HERD_BIN"):
        print("HERD_BIN must name the herd binary (HERD_AGENT_BIN the agent)", file=sys.stderr)
        sys.exit(2)
    selected = [t for t in tests if not only or any(k in t.__name__ for k in only)]
    passed = failed = skipped = 0
    t_all = time.monotonic()
    for t in selected:
        t0 = time.monotonic()
        try:
            t()
        except Fail as e:
            failed += 1
            print("not ok - %s: %s" % (t.__name__, str(e).strip().replace("\n", "\n    ")))
        except Skip as e:
            skipped += 1
            print("ok - %s # SKIP %s" % (t.__name__, str(e).strip().replace("\n", " ")))
        except Exception:
            failed += 1
            tb = traceback.format_exc().strip().replace("\n", "\n    ")
            print("not ok - %s: %s" % (t.__name__, tb))
        else:
            passed += 1
            print("ok - %s (%.1fs)" % (t.__name__, time.monotonic() - t0))
        finally:
            _cleanup_tmpdirs()
        sys.stdout.flush()
    print("# %.1fs" % (time.monotonic() - t_all))
    if skipped:
        print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    else:
        print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
