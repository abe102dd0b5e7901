"""Several "hosts" on one machine, as Linux network namespaces (Python 3
standard library only; needs root or CAP_NET_ADMIN and iproute2's `ip`).

    with Topology() as topo:           # ctl, a1, a2, a3, web + a switch
        ng = topo.start_nginx()          # nginx in `web` on 198.18.0.100:8080
        p = topo.spawn("a1", [agent, "--controller", ...], name="a1")
        topo.link_down("a1"); ...; topo.link_up("a1")

Layout (one run of the tests = one set of namespaces, named
"herdnt<pid>x<n>-<host>", so parallel runs never collide):

    ctl 198.18.0.1  a1 .11  a2 .12  a3 .13  web .100      (all /24, on eth0)
      |              |       |       |       |
      +-- veth ------+-------+-------+-------+--- br0 in the "sw" namespace

- Each host namespace has lo up and one veth (eth0) whose other end is a port
  of the bridge br0, which lives in its own "switch" namespace: nothing is
  created in, attached to or routed through the host's own network namespace.
- Addresses come from 198.18.0.0/15 (RFC 2544, reserved for network benchmark
  tests). There is no default route anywhere: a packet for any address
  outside 198.18.0.0/24 fails with "Network is unreachable".
- link_down(host) sets the switch side of the host's veth down: the host keeps
  its address and route but its cable is cut (carrier lost, every frame in
  either direction dropped); link_up(host) plugs it back.
- Teardown (also on failure, Ctrl-C or SIGTERM turned into SystemExit):
  processes started with run_in()/spawn() are stopped by PID (SIGTERM, then
  SIGKILL after a grace period), then anything still inside the namespaces
  (`ip netns pids`, e.g. nginx workers), then the namespaces are deleted,
  which deletes their veths and the bridge.

can_make_namespaces() -> (ok, reason): tries all of the above on a probe
namespace; the tests skip with that reason when it fails.
"""

import atexit
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

IP = shutil.which("ip") or "/usr/sbin/ip"
NGINX = "/usr/sbin/nginx"
ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"

NET = "198.18.0"
PREFIXLEN = 24
HOSTS = {
    "ctl": NET + ".1",
    "a1": NET + ".11",
    "a2": NET + ".12",
    "a3": NET + ".13",
    "web": NET + ".100",
}
WEB_PORT = 8080

_serial = [0]
_live = []  # topologies not yet torn down (for atexit)


class NetnsError(RuntimeError):
    pass


def ip_cmd(*args, check=True, timeout=10):
    p = subprocess.run([IP] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise NetnsError("ip %s: %s" % (" ".join(args),
                                         (p.stderr or p.stdout).decode(errors="replace").strip()))
    return p


def netns_list():
    """Names in `ip netns list` (the first word of each line)."""
    p = ip_cmd("netns", "list", check=False)
    return sorted(line.split()[0] for line in p.stdout.decode().splitlines() if line.strip())


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def stale_name(name):
    """True for a namespace a previous run of these tests left behind when
    it was killed without its teardown (name "herdnt<pid>x..." with that
    pid gone)."""
    m = re.match(r"herdnt(\d+)x\d+-", name)
    return bool(m) and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1)))


def _remove_stale():
    """Deletes the namespaces of stale_name. Only the names are removed; no
    process is touched."""
    for name in netns_list():
        if stale_name(name):
            ip_cmd("netns", "del", name, check=False)


def can_make_namespaces():
    """(True, "") when this process can make namespaces, veth pairs and a
    bridge; else (False, reason)."""
    if not os.path.exists(IP):
        return False, "no `ip` command (apt-get install iproute2)"
    if os.geteuid() != 0:
        # A non-root user with CAP_NET_ADMIN and CAP_SYS_ADMIN could work:
        # try anyway, and report what failed.
        pass
    probe = "herdntprobe%d" % os.getpid()
    try:
        p = ip_cmd("netns", "add", probe, check=False)
        if p.returncode != 0:
            why = p.stderr.decode(errors="replace").strip()
            if os.geteuid() != 0:
                why += " (not root: run as root or with CAP_NET_ADMIN+CAP_SYS_ADMIN)"
            return False, "cannot create a network namespace: " + why
        try:
            ip_cmd("-n", probe, "link", "add", "br0", "type", "bridge")
            ip_cmd("-n", probe, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
            ip_cmd("-n", probe, "link", "set", "v0", "master", "br0")
            ip_cmd("-n", probe, "link", "set", "lo", "up")
        except NetnsError as e:
            return False, "cannot make veth pairs or a bridge in a namespace: %s" % e
        except (OSError, subprocess.SubprocessError) as e:
            return False, "ip failed: %s" % e
    finally:
        ip_cmd("netns", "del", probe, check=False)
    if probe in netns_list():
        return False, "cannot delete the probe namespace %s" % probe
    return True, ""


class LoggedProc:
    """A process started in a namespace whose stdout and stderr are read by
    two threads, each line kept with its arrival time (time.monotonic()),
    and copied to <dir>/<name>.out / .err."""

    def __init__(self, popen, name, logdir):
        self.p = popen
        self.pid = popen.pid
        self.name = name
        self.lines = []  # (t, "out"|"err", text)
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.threads = []
        for stream, tag in ((popen.stdout, "out"), (popen.stderr, "err")):
            if stream is None:
                continue
            f = open(os.path.join(logdir, "%s.%s" % (name, tag)), "w")
            t = threading.Thread(target=self._reader, args=(stream, tag, f), daemon=True)
            t.start()
            self.threads.append(t)

    def _reader(self, stream, tag, f):
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode(errors="replace").rstrip("\n")
                now = time.monotonic()
                with self.cond:
                    self.lines.append((now, tag, line))
                    self.cond.notify_all()
                f.write(line + "\n")
                f.flush()
        except (OSError, ValueError):
            pass
        finally:
            f.close()

    def poll(self):
        return self.p.poll()

    @property
    def returncode(self):
        return self.p.returncode

    def wait(self, timeout=None):
        """Waits for the exit (TimeoutExpired after timeout) and for the
        readers to drain its output; returns the exit code."""
        rc = self.p.wait(timeout=timeout)
        for t in self.threads:
            t.join(timeout=5)
        return rc

    def kill9(self):
        """SIGKILL by PID; returns time.monotonic() just after the signal."""
        os.kill(self.pid, signal.SIGKILL)
        return time.monotonic()

    def text(self, tag=None):
        with self.lock:
            return "\n".join(l for (_, g, l) in self.lines if tag is None or g == tag)

    def find(self, regex, after=None, tag=None):
        """The first (t, line) matching regex (re.I), arrived at or after
        time `after`; None if none."""
        rx = re.compile(regex, re.I)
        with self.lock:
            for t, g, l in self.lines:
                if (after is None or t >= after) and (tag is None or g == tag) and rx.search(l):
                    return t, l
        return None

    def wait_for(self, regex, timeout, after=None, tag=None):
        """Waits until a line matching regex arrives (or the process has
        exited and its output is drained); returns (t, line) or None."""
        deadline = time.monotonic() + timeout
        while True:
            hit = self.find(regex, after, tag)
            if hit:
                return hit
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if self.p.poll() is not None and not any(t.is_alive() for t in self.threads):
                return self.find(regex, after, tag)
            with self.cond:
                self.cond.wait(min(left, 0.1))

    def tail(self, n=2500):
        s = self.text()
        return s[-n:]


class WebNginx:
    """nginx in the `web` namespace on 198.18.0.100:8080 (1 worker), access
    log: msec, remote_addr, method, uri, status, then request_uri (with the
    query), request_id (nginx's 32 hex digits) and the X-Token header (TAB
    separated; lines() reads the first five, records() all of them).
    Locations: /small, /delay50; /u/... and /echo/... answer 200 "ok";
    /rid answers {"id":"<its $request_id>"} (JSON); anything else 404."""

    CONF = r"""
load_module {echo};
user root;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format herd '$msec\t$remote_addr\t$request_method\t$uri\t$status\t'
                    '$request_uri\t$request_id\t$http_x_token';
    access_log {dir}/access.log herd;
    client_body_temp_path {dir}/tmp/client_body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    keepalive_requests 100000;
    keepalive_timeout 120s;
    server {{
        listen {addr}:{port} backlog=4096;
        default_type text/plain;
        location = /small {{ return 200 "hello herd\n"; }}
        location = /delay50 {{ echo_sleep 0.05; echo "delayed"; }}
        location /u/ {{ return 200 "ok\n"; }}
        location /echo/ {{ return 200 "ok\n"; }}
        location = /rid {{
            default_type application/json;
            return 200 '{{"id":"$request_id"}}';
        }}
        location / {{ return 404; }}
    }}
}}
"""

    def __init__(self, topo, host="web", port=WEB_PORT):
        self.topo = topo
        self.host = host
        self.addr = HOSTS[host]
        self.port = port
        self.dir = os.path.join(topo.dir, "nginx-" + host)
        self.proc = None

    @property
    def url(self):
        return "http://%s:%d" % (self.addr, self.port)

    @property
    def log_path(self):
        return os.path.join(self.dir, "access.log")

    def start(self):
        for f in (NGINX, ECHO_MODULE):
            if not os.path.exists(f):
                raise NetnsError("%s is missing: apt-get install nginx-light "
                                 "libnginx-mod-http-echo" % f)
        os.makedirs(os.path.join(self.dir, "tmp"))
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(self.CONF.format(echo=ECHO_MODULE, dir=self.dir, addr=self.addr,
                                     port=self.port))
        open(self.log_path, "w").close()
        self.proc = self.topo.spawn(self.host, [NGINX, "-p", self.dir, "-e",
                                                os.path.join(self.dir, "error.log"), "-c", conf,
                                                "-g", "daemon off;"], name="nginx")
        want = "%08X:%04X" % (int.from_bytes(bytes(map(int, self.addr.split("."))), "little"),
                              self.port)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:  # the listening socket, seen in nginx's own namespace
                with open("/proc/%d/net/tcp" % self.proc.pid) as f:
                    for line in f:
                        parts = line.split()
                        if len(parts) > 3 and parts[1] == want and parts[3] == "0A":
                            return self
            except OSError:
                pass
            time.sleep(0.02)
        err = ""
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                err = f.read()[-1500:]
        except OSError:
            pass
        raise NetnsError("nginx did not listen on %s:%d in %s: %s %s" % (
            self.addr, self.port, self.host, self.proc.tail(), err))

    def lines(self):
        """The access log as a list of (msec float, remote_addr, method, uri, status int)."""
        out = []
        with open(self.log_path, errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) < 5:
                    continue
                try:
                    out.append((float(parts[0]), parts[1], parts[2], parts[3], int(parts[4])))
                except ValueError:
                    continue
        return out

    RECORD_FIELDS = ("msec", "addr", "method", "uri", "status", "request_uri", "request_id",
                     "x_token")

    def records(self):
        """The access log as dicts keyed by RECORD_FIELDS (msec a float,
        status an int, x_token "-" when the header was absent)."""
        out = []
        with open(self.log_path, errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) != len(self.RECORD_FIELDS):
                    continue
                r = dict(zip(self.RECORD_FIELDS, parts))
                try:
                    r["msec"], r["status"] = float(r["msec"]), int(r["status"])
                except ValueError:
                    continue
                out.append(r)
        return out

    def count(self):
        """Number of logged requests (lines), without waiting."""
        with open(self.log_path, "rb") as f:
            return f.read().count(b"\n")

    def by_addr(self):
        """{remote_addr: number of logged requests}."""
        out = {}
        for e in self.lines():
            out[e[1]] = out.get(e[1], 0) + 1
        return out

    def settle(self, quiet_s=0.5, max_s=5.0):
        """Waits until the log stops growing for quiet_s (nginx logs a
        request once it has answered it); returns the final line count."""
        deadline = time.monotonic() + max_s
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            n = self.count()
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                break
            time.sleep(0.05)
        return last

    def wait_first_request(self, timeout):
        """time.monotonic() when the log first had a line, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count() > 0:
                return time.monotonic()
            time.sleep(0.02)
        return None


class SwitchableWebNginx(WebNginx):
    """WebNginx with locations whose answer a test switches by creating a
    flag file in the nginx directory (nginx stats it per request: no
    open_file_cache): /flaky answers 200 "ok", 500 while <dir>/fail exists;
    /healthz answers 200, 503 while <dir>/unhealthy exists. The log also
    holds $request_time (the record field "request_time", a float), so
    msec - request_time is when a request arrived."""

    CONF = WebNginx.CONF.replace(
        "$http_x_token';", "$http_x_token\\t$request_time';").replace(
        "        location = /small {{",
        "        location = /flaky {{ if (-f {dir}/fail) {{ return 500; }} return 200 \"ok\\n\"; }}\n"
        "        location = /healthz {{ if (-f {dir}/unhealthy) {{ return 503; }} return 200; }}\n"
        "        location = /small {{")
    RECORD_FIELDS = WebNginx.RECORD_FIELDS + ("request_time",)

    def set_flag(self, name, on):
        """Creates (on) or removes <dir>/<name> ("fail", "unhealthy");
        returns time.time() just after."""
        path = os.path.join(self.dir, name)
        if on:
            open(path, "w").close()
        elif os.path.exists(path):
            os.unlink(path)
        return time.time()

    def records(self):
        out = super().records()
        for r in out:
            try:
                r["request_time"] = float(r["request_time"])
            except ValueError:
                r["request_time"] = 0.0
        return out


def delay_proxy_main(argv):
    """A TCP proxy that holds every chunk of bytes delay_ms (each direction)
    before passing it on, order kept: a slow link for one conversation only.
    argv: LISTEN_ADDR LISTEN_PORT TARGET_ADDR TARGET_PORT DELAY_MS. Run it in
    a host's namespace with Topology.start_delay_proxy(); it prints
    "listening" once it accepts connections."""
    import queue
    import socket
    laddr, lport, taddr, tport, delay = argv[0], int(argv[1]), argv[2], int(argv[3]), \
        float(argv[4]) / 1000.0

    def pump(src, dst):
        q = queue.Queue()

        def deliver():
            while True:
                due, data = q.get()
                left = due - time.monotonic()
                if left > 0:
                    time.sleep(left)
                try:
                    if data:
                        dst.sendall(data)
                    else:
                        dst.shutdown(socket.SHUT_WR)
                        return
                except OSError:
                    return

        threading.Thread(target=deliver, daemon=True).start()
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            q.put((time.monotonic() + delay, data))
            if not data:
                return

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((laddr, lport))
    srv.listen(64)
    print("listening", flush=True)
    while True:
        c, _ = srv.accept()
        try:
            t = socket.create_connection((taddr, tport), timeout=5)
            t.settimeout(None)
        except OSError:
            c.close()
            continue
        for a, b in ((c, t), (t, c)):
            a.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=pump, args=(a, b), daemon=True).start()


class Topology:
    """The five hosts, a switch namespace and nginx helpers; see the module
    docstring."""

    def __init__(self, hosts=None, keep_dir=None):
        self.hosts = dict(hosts or HOSTS)
        _serial[0] += 1
        self.prefix = "herdnt%dx%d" % (os.getpid(), _serial[0])
        self.dir = None
        self.procs = []
        self.created = []
        self.keep_dir = keep_dir if keep_dir is not None else bool(os.environ.get("HERD_KEEP_TMP"))
        self.torn_down = False

    # names -----------------------------------------------------------------
    def ns(self, host):
        """The namespace name of host ("sw" is the switch)."""
        if host != "sw" and host not in self.hosts:
            raise KeyError("no host %r in this topology" % host)
        return "%s-%s" % (self.prefix, host)

    def addr(self, host):
        return self.hosts[host]

    def port_name(self, host):
        """The switch-side end of host's veth (in the switch namespace)."""
        return "p-" + host

    # setup -----------------------------------------------------------------
    def __enter__(self):
        _live.append(self)
        try:
            self.dir = tempfile.mkdtemp(prefix="herd-netns-")
            os.chmod(self.dir, 0o755)
            _remove_stale()
            self._add_ns("sw")
            ip_cmd("-n", self.ns("sw"), "link", "set", "lo", "up")
            ip_cmd("-n", self.ns("sw"), "link", "add", "br0", "type", "bridge",
                "stp_state", "0", "forward_delay", "0")
            ip_cmd("-n", self.ns("sw"), "link", "set", "br0", "up")
            for host, a in self.hosts.items():
                self._add_ns(host)
                ns = self.ns(host)
                ip_cmd("-n", ns, "link", "set", "lo", "up")
                ip_cmd("-n", self.ns("sw"), "link", "add", self.port_name(host), "type", "veth",
                    "peer", "name", "eth0", "netns", ns)
                ip_cmd("-n", self.ns("sw"), "link", "set", self.port_name(host), "master", "br0")
                ip_cmd("-n", self.ns("sw"), "link", "set", self.port_name(host), "up")
                ip_cmd("-n", ns, "addr", "add", "%s/%d" % (a, PREFIXLEN), "dev", "eth0")
                ip_cmd("-n", ns, "link", "set", "eth0", "up")
            self._check_no_default_route()
            self._wait_links_up()
        except BaseException:
            self.teardown()
            raise
        return self

    def _add_ns(self, host):
        ip_cmd("netns", "add", self.ns(host))
        self.created.append(self.ns(host))

    def _check_no_default_route(self):
        for host in self.hosts:
            r = ip_cmd("-n", self.ns(host), "route", "show").stdout.decode()
            if "default" in r:
                raise NetnsError("%s has a default route: %s" % (host, r))

    def _wait_links_up(self, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            down = [h for h in self.hosts
                    if "LOWER_UP" not in ip_cmd("-n", self.ns(h), "link", "show", "eth0").stdout.decode()]
            if not down:
                return
            if time.monotonic() > deadline:
                raise NetnsError("eth0 not up in %s" % down)
            time.sleep(0.05)

    # processes -----------------------------------------------------------
    def run_in(self, host, argv, **popen_kw):
        """Popen of `ip netns exec NS argv...`. `ip netns exec` execs argv,
        so the Popen's pid is the program's own pid. The process is stopped
        at teardown if still running."""
        p = subprocess.Popen([IP, "netns", "exec", self.ns(host)] + list(argv), **popen_kw)
        self.procs.append(p)
        return p

    def spawn(self, host, argv, name, env=None, line_buffered=False, cwd=None):
        """run_in with stdout/stderr read into a LoggedProc (lines with arrival
        times, copied to <dir>/<name>.out/.err). line_buffered wraps argv in
        `stdbuf -oL -eL` so a piped stdout is not held back. The working
        directory is the topology's dir unless cwd is given."""
        if line_buffered and shutil.which("stdbuf"):
            argv = ["stdbuf", "-oL", "-eL"] + list(argv)
        p = self.run_in(host, argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, env=env, cwd=cwd or self.dir)
        return LoggedProc(p, name, self.dir)

    def exec(self, host, argv, timeout=20):
        """Runs argv in host's namespace to completion: (code, stdout, stderr)."""
        p = self.run_in(host, argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            return None, out.decode(errors="replace"), err.decode(errors="replace")
        return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    def start_nginx(self, host="web", port=WEB_PORT):
        return WebNginx(self, host, port).start()

    def start_delay_proxy(self, host, listen_port, target_host, target_port, delay_ms):
        """delay_proxy_main in host's namespace on 127.0.0.1:listen_port,
        forwarding to target_host:target_port with delay_ms each way (a
        slow link from host to one peer, while its other traffic is not
        slowed). Returns the LoggedProc once it listens."""
        import sys
        code = ("import sys; sys.path.insert(0, %r); import netns; "
                "netns.delay_proxy_main(sys.argv[1:])" % os.path.dirname(os.path.abspath(__file__)))
        p = self.spawn(host, [sys.executable or "python3", "-u", "-c", code, "127.0.0.1",
                              str(listen_port), self.addr(target_host), str(target_port),
                              str(delay_ms)], name="delay-proxy-" + host)
        if p.wait_for(r"^listening$", timeout=10) is None:
            raise NetnsError("the delay proxy in %s did not start: %s" % (host, p.tail()))
        return p

    # faults --------------------------------------------------------------
    def link_down(self, host):
        """Cuts host's cable: the switch side of its veth goes down."""
        ip_cmd("-n", self.ns("sw"), "link", "set", self.port_name(host), "down")
        return time.monotonic()

    def link_up(self, host):
        ip_cmd("-n", self.ns("sw"), "link", "set", self.port_name(host), "up")
        return time.monotonic()

    # teardown ------------------------------------------------------------
    def _stop(self, pids_or_procs, grace):
        """SIGTERM, then SIGKILL after grace seconds, by PID."""
        procs = [p for p in pids_or_procs if p.poll() is None]
        for p in procs:
            try:
                p.send_signal(signal.SIGTERM)
            except OSError:
                pass
        deadline = time.monotonic() + grace
        for p in procs:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    p.kill()
                except OSError:
                    pass
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass

    def ns_pids(self, host):
        p = ip_cmd("netns", "pids", self.ns(host), check=False)
        return [int(x) for x in p.stdout.decode().split() if x.isdigit()]

    def teardown(self):
        if self.torn_down:
            return
        self.torn_down = True
        try:
            self._stop(self.procs, grace=2.0)
        finally:
            # whatever the processes left inside (nginx workers, children)
            for ns in self.created:
                p = ip_cmd("netns", "pids", ns, check=False)
                for pid in (int(x) for x in p.stdout.decode().split() if x.isdigit()):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
            for ns in reversed(self.created):
                deadline = time.monotonic() + 3
                while True:
                    ip_cmd("netns", "del", ns, check=False)
                    if ns not in netns_list() or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
            self.created = []
            if self in _live:
                _live.remove(self)
            if self.dir and not self.keep_dir:
                shutil.rmtree(self.dir, ignore_errors=True)

    def __exit__(self, *exc):
        self.teardown()
        return False


@atexit.register
def _teardown_all():
    for t in list(_live):
        try:
            t.teardown()
        except Exception:
            pass


def sigterm_to_exit():
    """Makes SIGTERM (meson's timeout, a CI cancel) raise SystemExit in the
    main thread, so `with Topology()` blocks tear down."""
    def handler(sig, frame):
        raise SystemExit(128 + sig)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)
