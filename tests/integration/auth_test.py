#!/usr/bin/env python3
"""Who an agent obeys, and who may claim to be its controller.

- A token-less fake controller on the real one's address (the real one
  killed after the agent joined, before any assignment) answers every poll
  with an ASSIGN of its own plan: over tcp:// and over tls+tcp:// (the fake
  even holds the controller's certificate and key, not the token) the agent
  runs none of it (nginx logs 0 requests for the fake's path), logs the
  dropped reply once, and keeps asking for the token's proof.
- A recording proxy between an agent and its real controller captures the
  sealed ASSIGN of a finished run and, once the controller is gone, replays
  it as the answer to every later request: it is refused (nginx counts the
  run's requests once, not twice).
- A peer of the previous wire version is refused with both versions named.
- TLS: the agent checks the controller certificate's name (from the URL or
  --tls-server-name) and its serverAuth usage; a certificate of the same CA
  for another name, or only for clients, is refused with a message naming
  the expected and the presented names.
- Token files that group or others may write, and symbolic links, are
  refused; a forged AUTH under a real agent's id is logged as an
  unauthenticated peer with the id quoted, never against the agent.

The fakes are written here: NNG's SP protocol over TCP (an 8-byte header
each way, then 8-byte length-prefixed messages, REQ's 4-byte request id in
front of each body) and a small msgpack encoder. Everything is on 127.0.0.1;
each process is bounded by its plan and by timeouts, and stopped by PID.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/auth_test.py [-k NAME]
"""

import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Fail, Nginx, TestPki, _src_root, agent_bin, check, free_port, herd_bin,  # noqa: E402
                     main, missing, note, prepare_run)


def wire_version():
    """WIRE_VERSION from proto/wire.h of the tree under test."""
    with open(os.path.join(_src_root(), "proto", "wire.h")) as f:
        return int(re.search(r"#define\s+WIRE_VERSION\s+(\d+)", f.read()).group(1))


# msgpack, the subset herd's messages use -----------------------------------

def mp(v):
    if v is None:
        return b"\xc0"
    if isinstance(v, bool):
        return b"\xc3" if v else b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if 0 <= v:
            return b"\xcf" + struct.pack(">Q", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        return (bytes([0xa0 | len(b)]) if len(b) < 32 else b"\xdb" + struct.pack(">I", len(b))) + b
    if isinstance(v, bytes):
        return b"\xc6" + struct.pack(">I", len(v)) + v
    if isinstance(v, list):
        return b"\xdd" + struct.pack(">I", len(v)) + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        return b"\xdf" + struct.pack(">I", len(v)) + b"".join(mp(k) + mp(x) for k, x in v.items())
    raise TypeError(type(v))


def msg_type(payload):
    """The "t" of a message, found by its encoding (herd writes "t" as a fixstr)."""
    m = re.search(rb"\xa1t[\xa1-\xbf]([A-Z]+)", payload)
    return m.group(1).decode() if m else "?"


# NNG's SP over TCP ----------------------------------------------------------

SP_REQ, SP_REP = 0x30, 0x31


def sp_header(proto):
    return b"\x00SP\x00" + struct.pack(">H", proto) + b"\x00\x00"


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise EOFError
        out += chunk
    return out


def read_frame(s):
    n = struct.unpack(">Q", recv_exact(s, 8))[0]
    if n > 64 << 20:
        raise EOFError
    return recv_exact(s, n)


def write_frame(s, body):
    s.sendall(struct.pack(">Q", len(body)) + body)


def listen(port):
    """A listening socket on 127.0.0.1:port, retried while the port is still
    held by the process that had it (a killed controller)."""
    deadline = time.monotonic() + 10
    while True:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            ls.bind(("127.0.0.1", port))
            ls.listen(16)
            ls.settimeout(0.2)
            return ls
        except OSError:
            ls.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class TcpServer:
    """Accepts connections on 127.0.0.1:port in a thread and serves each in a
    thread of its own (self._serve(sock)); close() stops accepting and shuts
    down the sockets given to keep()."""

    def __init__(self, port):
        self.lock = threading.Lock()
        self.stopping = False
        self.socks = []
        self.ls = listen(port)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def keep(self, *socks):
        with self.lock:
            self.socks += socks

    def close(self):
        self.stopping = True
        self.ls.close()
        with self.lock:
            for c in self.socks:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.thread.join(timeout=5)


class RepServer(TcpServer):
    """A REP peer on 127.0.0.1:port (TLS when tls_ctx is given): answers each
    request's payload with answer(payload) (bytes, or None for no reply).
    Keeps the type of each request it got in self.got."""

    def __init__(self, port, answer, tls_ctx=None):
        self.answer = answer
        self.tls_ctx = tls_ctx
        self.got = []
        super().__init__(port)

    def _serve(self, c):
        try:
            c.settimeout(30)
            if self.tls_ctx is not None:
                c = self.tls_ctx.wrap_socket(c, server_side=True)
            self.keep(c)
            c.sendall(sp_header(SP_REP))
            recv_exact(c, 8)
            while not self.stopping:
                body = read_frame(c)
                rid, payload = body[:4], body[4:]
                with self.lock:
                    self.got.append(msg_type(payload))
                out = self.answer(payload)
                if out is not None:
                    write_frame(c, rid + out)
        except (EOFError, OSError, ssl.SSLError):
            pass
        finally:
            c.close()

    def types(self):
        with self.lock:
            return list(self.got)


FAKE_PLAN = """name: fake
target: %s
scenarios:
  s:
    executor: constant-vus
    vus: 2
    duration: 5s
    flow:
      - get: /write
"""


def fake_answer(target, version):
    """A token-less controller: WELCOME to HELLO, and to anything else an
    ASSIGN of a plan that only requests /write."""
    def answer(payload):
        if msg_type(payload) == "HELLO":
            return mp({"v": version, "t": "WELCOME", "clock": time.time_ns(), "hb_ms": 1000})
        return mp({"v": version, "t": "ASSIGN", "run": "fake-run", "plan_file": "fake.yaml",
                   "plan": FAKE_PLAN % target, "index": 0, "weights": [1.0],
                   "start": time.time_ns(), "interval_ms": 1000, "files": [], "env": []})
    return answer


# processes -----------------------------------------------------------------

class Proc:
    """A process with its stderr in a file; stopped by PID."""

    def __init__(self, argv, d, name, env=None):
        self.log = os.path.join(d, name + ".log")
        self.f = open(self.log, "w")
        e = dict(os.environ)
        e.update(env or {})
        self.p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.f, cwd=d, env=e)

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def wait_for(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.text())
            if m:
                return m
            if self.p.poll() is not None:
                m = re.search(pattern, self.text())
                return m
            time.sleep(0.05)
        return None

    def stop(self, sig=signal.SIGTERM):
        """Stops the process (sig, then SIGKILL after 10 s); fails when a
        sanitizer reported anything in its output."""
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.f.close()
        m = re.search(r".*(Sanitizer|runtime error:).*", self.text())
        check(not m, "%s: %s" % (os.path.basename(self.log), m.group(0) if m else ""))

    def exited(self, timeout):
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None


def need_agent():
    ab = agent_bin()
    check(ab is not None, "HERD_AGENT_BIN is not set (path of the built herd-agent)")
    return ab


def scratch(scheme="tcp", host="127.0.0.1"):
    """A temp dir with a token file in it, a free port and the URL on it:
    (dir, token path, port, url)."""
    d = prepare_run(None)[0]
    port = free_port()
    return d, write_token(d), port, "%s://%s:%d" % (scheme, host, port)


def write_token(d, name="token", mode=0o600):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    os.chmod(path, mode)
    return path


REAL_PLAN = """name: real
target: %s
scenarios:
  s:
    executor: per-vu-iterations
    vus: 1
    iterations: %d
    flow:
      - get: /small
"""


LONG_PLAN = """name: long
target: %s
scenarios:
  s:
    executor: constant-vus
    vus: 1
    duration: 4s
    flow:
      - get: /small
"""


def start_controller(plan, url, d, token, extra=(), name="ctl"):
    _, _, _, _, cmd = prepare_run(plan, ["--listen", url, "--token-file", token, "--quiet"]
                                  + list(extra))
    return Proc(cmd, d, name)


def start_agent(url, d, token, extra=(), name="agent", env=None):
    return Proc([need_agent(), "--controller", url, "--token-file", token, "--name", name,
                 "--lost-controller-timeout", "3s"] + list(extra), d, name, env=env)


DROPPED = r"not sealed in this session"


def fake_after_kill(ng, url, port, ctl_extra=(), agent_extra=(), tls_ctx=None):
    """The agent joins the real controller (which waits for a second agent
    that never comes), the controller is killed, a fake takes its port and
    answers every request with an ASSIGN for /write. Returns (agent log,
    types the fake got)."""
    d = prepare_run(None)[0]
    token = write_token(d)
    ctl = start_controller(REAL_PLAN % (ng.url, 5), url, d, token,
                           ["--agents", "2", "--agents-wait", "60s"] + list(ctl_extra))
    agent = start_agent(url, d, token, agent_extra)
    fake = None
    try:
        check(agent.wait_for(r"connected to", 20), "the agent did not join:\n%s\n%s"
              % (agent.text()[-1500:], ctl.text()[-1500:]))
        ctl.stop(signal.SIGKILL)
        fake = RepServer(port, fake_answer(ng.url, wire_version()), tls_ctx)
        # The agent redials within a second; then it has 6 s to obey the fake.
        deadline = time.monotonic() + 20
        while not fake.types() and time.monotonic() < deadline:
            time.sleep(0.05)
        check(fake.types(), "the agent never reached the fake controller:\n%s" % agent.text()[-1500:])
        time.sleep(6)
        fake_reqs = ng.access_log_lines(path="/write")
        text = agent.text()
        check(fake_reqs == 0, "the agent ran the fake controller's plan: nginx logged %d requests "
              "for /write\n%s" % (fake_reqs, text[-2000:]))
        check(ng.access_log_lines(path="/small") == 0, "the real plan ran before its assignment")
        check(agent.p.poll() is None, "the agent exited (%s): it should keep waiting for its "
              "controller\n%s" % (agent.p.returncode, text[-1500:]))
        drops = len(re.findall(DROPPED, text))
        check(drops == 1, "the dropped reply was logged %d times (want once):\n%s" % (drops, text[-2000:]))
        got = fake.types()
        agent.stop()
        m = re.search(r"(\d+) replies from the controller were dropped", agent.text())
        check(m and int(m.group(1)) >= 1, "the agent did not count the dropped replies:\n%s"
              % agent.text()[-1500:])
        note("the fake got %d requests (%s); nginx /write: 0; agent: %s; %s dropped in all", len(got),
             ", ".join(sorted(set(got))), re.search(".*" + DROPPED + ".*", text).group(0).strip(),
             m.group(1))
        return text, got
    finally:
        if fake is not None:
            fake.close()
        agent.stop()
        ctl.stop(signal.SIGKILL)


def test_fake_controller_tcp():
    """tcp://: the real controller killed before any assignment, a token-less
    fake on its port answers every poll with ASSIGN: nginx sees 0 requests of
    the fake's plan, the agent logs the drop once and stays."""
    with Nginx() as ng:
        port = free_port()
        fake_after_kill(ng, "tcp://127.0.0.1:%d" % port, port)


def test_fake_controller_midrun():
    """tcp://: the real controller killed 2 s into a 30 s run, a token-less
    fake on its port answers everything with ASSIGN. Its answers do not count
    as the controller's voice: the agent stops the real load after the loss
    limit (3 s; the last /small request at nginx no later than 3 s + 3 s of
    slack after the kill, against 28 s more if the fake kept it alive) and
    runs none of the fake's plan."""
    with Nginx() as ng:
        d, token, port, url = scratch()
        plan = LONG_PLAN.replace("duration: 4s", "duration: 30s") % ng.url
        ctl = start_controller(plan, url, d, token, ["--agents", "1"])
        agent = start_agent(url, d, token)
        fake = None
        try:
            deadline = time.monotonic() + 20
            while ng.access_log_lines(path="/small", settle=False) == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            check(ng.access_log_lines(path="/small", settle=False) > 0, "the real run never started:\n%s"
                  % agent.text()[-1500:])
            time.sleep(2)
            ctl.stop(signal.SIGKILL)
            killed = time.time()
            fake = RepServer(port, fake_answer(ng.url, wire_version()))
            time.sleep(8)
            last = max(e["msec"] for e in ng.entries() if e["uri"] == "/small")
            text = agent.text()
            check(ng.access_log_lines(path="/write") == 0, "the agent ran the fake's plan\n%s" % text[-1500:])
            check(fake.types(), "the agent never reached the fake:\n%s" % text[-1500:])
            check(last - killed <= 6, "the real load went on %.1f s after the kill (loss limit 3 s): "
                  "the fake kept it alive\n%s" % (last - killed, text[-1500:]))
            check("stopping all load" in text, "the agent did not say it stopped:\n%s" % text[-1500:])
            note("last /small request %.2f s after the kill; /write: 0", last - killed)
        finally:
            if fake is not None:
                fake.close()
            agent.stop()
            ctl.stop(signal.SIGKILL)


def tls_files(pki):
    """Controller and agent certificates for tls+tcp://127.0.0.1 (the
    controller's names the address as a DNS name too, which is how a name
    check by mbedTLS accepts an IP URL)."""
    ctl = pki.server("ctl", ["DNS:127.0.0.1", "IP:127.0.0.1"])
    agent = pki.client("agent")
    return ctl, agent


def test_fake_controller_tls():
    """tls+tcp://: the same, and the fake even holds the controller's own
    certificate and key (TLS alone would let it in): nothing of its plan runs."""
    if not shutil.which("openssl"):
        missing("openssl", "apt-get install openssl")
    pki = TestPki()
    (cc, ck), (ac, ak) = tls_files(pki)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cc, ck)
    with Nginx() as ng:
        port = free_port()
        fake_after_kill(ng, "tls+tcp://127.0.0.1:%d" % port, port,
                        ["--tls-cert", cc, "--tls-key", ck, "--tls-ca", pki.ca],
                        ["--tls-cert", ac, "--tls-key", ak, "--tls-ca", pki.ca], tls_ctx=ctx)


class ReplayProxy(TcpServer):
    """Between the agent (on port) and the controller (on upstream): passes
    messages both ways and keeps the controller's ASSIGN. Once the controller
    has hung up, it answers every request of the agent with that ASSIGN,
    under the request's own id."""

    def __init__(self, port, upstream):
        self.upstream = upstream
        self.assign = None
        self.replayed = 0
        super().__init__(port)

    def _serve(self, a):
        up = None
        try:
            a.sendall(sp_header(SP_REP))
            recv_exact(a, 8)
            up = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
            up.settimeout(None)
            up.sendall(sp_header(SP_REQ))
            recv_exact(up, 8)
            self.keep(a, up)
            gone = threading.Event()
            threading.Thread(target=self._down, args=(up, a, gone), daemon=True).start()
            while not self.stopping:
                body = read_frame(a)
                if gone.is_set():
                    with self.lock:
                        cap = self.assign
                    if cap is not None:
                        write_frame(a, body[:4] + cap)
                        with self.lock:
                            self.replayed += 1
                    continue
                try:
                    write_frame(up, body)
                except OSError:
                    gone.set()
        except (EOFError, OSError):
            pass
        finally:
            a.close()
            if up is not None:
                up.close()

    def _down(self, up, a, gone):
        try:
            while True:
                body = read_frame(up)
                if msg_type(body[4:]) == "ASSIGN" or b"ASSIGN" in body[4:]:
                    with self.lock:
                        self.assign = body[4:]
                write_frame(a, body)
        except (EOFError, OSError):
            gone.set()


def test_replayed_assign_refused():
    """A proxy records the real controller's ASSIGN (1 VU x 5 iterations of
    /small); after the run, with the controller gone, it replays that ASSIGN
    to every request of the agent: nginx still counts 5, not 10."""
    with Nginx() as ng:
        d = prepare_run(None)[0]
        token = write_token(d)
        ctl_port, port = free_port(), free_port()
        proxy = ReplayProxy(port, ctl_port)
        ctl = start_controller(REAL_PLAN % (ng.url, 5), "tcp://127.0.0.1:%d" % ctl_port, d, token,
                               ["--agents", "1", "--agents-wait", "20s"])
        agent = start_agent("tcp://127.0.0.1:%d" % port, d, token)
        try:
            code = ctl.exited(60)
            check(code == 0, "the real run exited %s:\n%s" % (code, ctl.text()[-1500:]))
            check(proxy.assign is not None, "the proxy saw no ASSIGN")
            check(ng.access_log_lines(path="/small") == 5, "the real run made %d requests, want 5"
                  % ng.access_log_lines(path="/small"))
            deadline = time.monotonic() + 20
            while proxy.replayed == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            check(proxy.replayed > 0, "the agent never asked after its controller left:\n%s"
                  % agent.text()[-1500:])
            time.sleep(4)
            n = ng.access_log_lines(path="/small")
            text = agent.text()
            check(n == 5, "the replayed ASSIGN ran: nginx logged %d requests, want 5\n%s" % (n, text[-2000:]))
            check(len(re.findall(DROPPED, text)) == 1, "the dropped replay was not logged exactly "
                  "once:\n%s" % text[-2000:])
            note("replayed the ASSIGN %d times; nginx /small: %d", proxy.replayed, n)
        finally:
            proxy.close()
            agent.stop()
            ctl.stop(signal.SIGKILL)


def test_old_version_refused():
    """An agent of the previous wire version (HERD_WIRE_VERSION) is refused by
    the controller, and a controller of the previous version by the agent:
    each side's message names both versions."""
    v = wire_version()
    with Nginx() as ng:
        d, token, port, url = scratch()
        ctl = start_controller(REAL_PLAN % (ng.url, 1), url, d, token,
                               ["--agents", "1", "--agents-wait", "4s"])
        old = start_agent(url, d, token, env={"HERD_WIRE_VERSION": str(v - 1)}, name="old")
        try:
            both = r".*version.*\b%d\b.*\b%d\b.*|.*\b%d\b.*version.*\b%d\b.*" % (v - 1, v, v, v - 1)
            hit = ctl.wait_for(both, 15)
            check(hit, "the controller did not name both versions:\n%s" % ctl.text()[-1500:])
            ahit = old.wait_for(r".*\b%d\b.*\b%d\b.*" % (v - 1, v) + "|" + r".*\b%d\b.*\b%d\b.*" % (v, v - 1), 10)
            check(ahit, "the old agent did not name both versions:\n%s" % old.text()[-1500:])
            check(old.exited(10) not in (None, 0), "the old agent did not exit with an error")
            note("controller: %s | agent: %s", hit.group(0).strip(), ahit.group(0).strip())
        finally:
            old.stop()
            ctl.stop(signal.SIGKILL)
        # The other way: a fake controller of the previous version.
        port = free_port()
        fake = RepServer(port, fake_answer(ng.url, v - 1))
        agent = start_agent("tcp://127.0.0.1:%d" % port, d, token)
        try:
            code = agent.exited(20)
            text = agent.text()
            check(code not in (None, 0), "the agent did not refuse a version %d controller:\n%s"
                  % (v - 1, text[-1500:]))
            check(re.search(r"protocol %d.*speaks %d" % (v - 1, v), text),
                  "the agent did not name both versions:\n%s" % text[-1500:])
            check(ng.access_log_lines(path="/write") == 0, "the old controller's plan ran")
        finally:
            fake.close()
            agent.stop()


def test_token_files_refused():
    """herd and herd-agent refuse a token file that group or others may write
    (0620, 0602) and a symbolic link to a good one, naming the file; 0600 and
    0640 (a warning) are accepted."""
    d = prepare_run(None)[0]
    good = write_token(d, "good", 0o600)
    link = os.path.join(d, "link")
    os.symlink(good, link)
    cases = [(write_token(d, "gw", 0o620), "writable by group or others"),
             (write_token(d, "ow", 0o602), "writable by group or others"),
             (link, "symbolic link")]
    for path, why in cases:
        for argv in ([need_agent(), "--controller", "tcp://127.0.0.1:1", "--token-file", path],
                     [herd_bin(), "run", "--listen", "tcp://127.0.0.1:1", "--agents", "1",
                      "--token-file", path, os.path.join(d, "none.yaml")]):
            try:
                r = subprocess.run(argv, capture_output=True, timeout=10, cwd=d)
            except subprocess.TimeoutExpired:
                raise Fail("%s accepted %s (still running after 10 s)" % (argv[0], path))
            err = r.stderr.decode(errors="replace")
            check(r.returncode != 0 and path in err and why in err,
                  "%s with %s: exit %d, %s" % (os.path.basename(argv[0]), path, r.returncode, err[-500:]))
    # A readable-by-group file is still accepted (with a warning): the agent
    # gets as far as dialing.
    loose = write_token(d, "loose", 0o640)
    p = subprocess.Popen([need_agent(), "--controller", "tcp://127.0.0.1:%d" % free_port(),
                          "--token-file", loose], stderr=subprocess.PIPE, cwd=d)
    try:
        time.sleep(1)
        check(p.poll() is None, "the agent refused a 0640 token file")
    finally:
        p.terminate()
        err = p.communicate(timeout=10)[1].decode(errors="replace")
    check("readable by other users" in err, "no warning for 0640: %s" % err[-500:])


def sp_request(s, rid, msg):
    write_frame(s, struct.pack(">I", 0x80000000 | rid) + mp(msg))
    return read_frame(s)[4:]


def test_forged_auth_not_against_agent():
    """A peer says HELLO and AUTH under a real agent's id with a wrong proof,
    and under an id holding control characters: the controller refuses it as
    an unauthenticated peer with the claimed id quoted and escaped; no line
    names the real agent as refused, no control character reaches the log,
    and the real agent stays (its run completes)."""
    v = wire_version()
    with Nginx() as ng:
        d, token, port, url = scratch()
        ctl = start_controller(LONG_PLAN % ng.url, url, d, token, ["--agents", "1"])
        agent = start_agent(url, d, token, name="real")
        try:
            m = agent.wait_for(r"connected to \S+ as (\S+)", 20)
            check(m, "the agent did not join:\n%s" % agent.text()[-1500:])
            real_id = m.group(1)
            evil = "x\x1b[2J\rforged\nagent %s lost" % real_id
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(sp_header(SP_REQ))
            recv_exact(s, 8)
            for i, claimed in enumerate((real_id, evil)):
                hello = {"v": v, "t": "HELLO", "agent": claimed, "name": "real", "host": "h",
                         "version": "0", "cores": 1, "pid": 1, "clock": 0, "caps": "http",
                         "nonce": "ab" * 32}
                first = msg_type(sp_request(s, 2 * i + 1, hello))
                if claimed == evil and first == "ERROR":
                    continue  # an id that is not printable text is refused at HELLO already
                check(first == "CHALLENGE", "no CHALLENGE (%s)" % first)
                r = sp_request(s, 2 * i + 2, {"v": v, "t": "AUTH", "agent": claimed, "proof": "00" * 32})
                check(msg_type(r) == "ERROR", "a wrong proof was not refused: %r" % r[:80])
            s.close()
            hit = ctl.wait_for(r'refused an unauthenticated peer \(claimed id "%s"\)' % re.escape(real_id), 10)
            check(hit, "no refusal naming the claimed id:\n%s" % ctl.text()[-1500:])
            code = ctl.exited(40)
            text = ctl.text()
            check(code is not None, "the controller did not finish")
            check(not re.search(r"refused agent %s" % re.escape(real_id), text),
                  "a refusal was logged against the real agent:\n%s" % text[-1500:])
            check("\x1b" not in text and "\rforged" not in text, "control characters reached the log")
            check(not re.search(r"^agent %s lost" % re.escape(real_id), text, re.M),
                  "a forged line reached the log")
            check("\\x1b[2J\\x0dforged\\x0aagent" in text, "the evil id was not escaped:\n%s" % text[-1500:])
            check(code == 0, "the run exited %d:\n%s" % (code, text[-1500:]))
            check(ng.access_log_lines(path="/small") > 0, "the real agent made no requests")
            note("%s", hit.group(0))
        finally:
            agent.stop()
            ctl.stop(signal.SIGKILL)


# TLS names -----------------------------------------------------------------

TLS_NAME = "ctl.herd.test"


def tls_case(ng, pki, cert, agent_cert, name_flag=True, host="127.0.0.1"):
    """A controller with cert (for --agents 1, waiting 6 s) and an agent
    dialing tls+tcp://HOST (with --tls-server-name TLS_NAME when name_flag).
    Returns (controller exit, agent exit, agent log, nginx /small requests
    made meanwhile)."""
    before = ng.access_log_lines(path="/small")
    d, token, port, url = scratch("tls+tcp", host)
    (cc, ck), (ac, ak) = cert, agent_cert
    ctl = start_controller(REAL_PLAN % (ng.url, 2), url, d, token,
                           ["--agents", "1", "--agents-wait", "6s", "--tls-cert", cc, "--tls-key", ck,
                            "--tls-ca", pki.ca])
    agent = start_agent(url, d, token, ["--tls-cert", ac, "--tls-key", ak, "--tls-ca", pki.ca, "--once"]
                        + (["--tls-server-name", TLS_NAME] if name_flag else []))
    try:
        acode = agent.exited(30)
        ccode = ctl.exited(30)
        return ccode, acode, agent.text(), ng.access_log_lines(path="/small") - before
    finally:
        agent.stop()
        ctl.stop(signal.SIGKILL)


def tls_pki():
    if not shutil.which("openssl"):
        missing("openssl", "apt-get install openssl")
    pki = TestPki()
    certs = {
        "good": pki.server("good", ["DNS:" + TLS_NAME]),
        "other": pki.server("other", ["DNS:other.herd.test"]),
        "client-only": pki.server("client-only", ["DNS:" + TLS_NAME], usage="clientAuth"),
        "ip": pki.server("ip", ["DNS:127.0.0.1", "IP:127.0.0.1"]),
        "agent": pki.client("agent"),
    }
    return pki, certs


def tls_server_ctx(cert):
    """A Python TLS server context presenting cert (OpenSSL, unlike mbedTLS,
    serves a certificate whatever its extendedKeyUsage says)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert[0], cert[1])
    return ctx


def test_tls_server_name():
    """The agent checks the controller's certificate, all from one CA: the
    right name (--tls-server-name for an IP URL) runs the plan; a certificate
    for another name is refused naming both names, and an IP URL without
    --tls-server-name is refused with the hint (nothing of those runs reaches
    nginx); a server whose certificate is for clients only (extendedKeyUsage
    clientAuth) is refused naming serverAuth and gets no message."""
    pki, c = tls_pki()
    with Nginx() as ng:
        ccode, acode, text, n = tls_case(ng, pki, c["good"], c["agent"])
        check(ccode == 0 and acode == 0 and n == 2, "right name: controller %s, agent %s, nginx %d\n%s"
              % (ccode, acode, n, text[-1500:]))
        cases = [("other", True, ["expected the name %s" % TLS_NAME, "DNS:other.herd.test"]),
                 ("good", False, ["expected the name 127.0.0.1", "DNS:" + TLS_NAME, "--tls-server-name"])]
        for cert, flag, want in cases:
            ccode, acode, text, n = tls_case(ng, pki, c[cert], c["agent"], name_flag=flag)
            check(acode not in (None, 0), "%s certificate%s: the agent did not refuse it (exit %s)\n%s"
                  % (cert, "" if flag else " (no --tls-server-name)", acode, text[-1500:]))
            for w in want:
                check(w in text, "%s: the agent's message lacks %r:\n%s" % (cert, w, text[-1500:]))
            check(ccode not in (None, 0), "%s: the controller ran without its agent (exit %s)" % (cert, ccode))
            check(n == 0, "%s: nginx saw %d requests" % (cert, n))
            note("%s: %s", cert, [line for line in text.splitlines() if "refused" in line][0].strip())
        # mbedTLS (NNG's controller) will not serve a client-only certificate
        # at all; a controller of another make would.
        d, token, port, _ = scratch()
        fake = RepServer(port, fake_answer(ng.url, wire_version()), tls_server_ctx(c["client-only"]))
        (ac, ak) = c["agent"]
        agent = start_agent("tls+tcp://127.0.0.1:%d" % port, d, token,
                            ["--tls-cert", ac, "--tls-key", ak, "--tls-ca", pki.ca, "--tls-server-name", TLS_NAME])
        try:
            acode = agent.exited(20)
            text = agent.text()
            check(acode not in (None, 0), "client-only: the agent did not refuse it (exit %s)\n%s"
                  % (acode, text[-1500:]))
            check("extendedKeyUsage does not include serverAuth" in text,
                  "client-only: the agent's message lacks serverAuth:\n%s" % text[-1500:])
            check(fake.types() == [], "client-only: the server got %s" % fake.types())
            note("client-only: %s", [line for line in text.splitlines() if "refused" in line][0].strip())
        finally:
            fake.close()
            agent.stop()


def test_tls_name_enforced_on_reconnect():
    """NNG itself enforces the name and the usage on every connection, not
    only herd's check at start: the agent joins the right controller (its
    name from the URL), which is killed; a TLS server with a certificate of
    the same CA for another name, then one for clients only, takes its port
    for 4 s each: not one message of the agent reaches them (the agent logs
    why); a server with the right certificate then does get its messages."""
    pki, c = tls_pki()
    with Nginx() as ng:
        d, token, port, url = scratch("tls+tcp")
        ctl = start_controller(REAL_PLAN % (ng.url, 2), url, d, token,
                               ["--agents", "2", "--agents-wait", "60s", "--tls-cert", c["ip"][0],
                                "--tls-key", c["ip"][1], "--tls-ca", pki.ca])
        agent = start_agent(url, d, token, ["--tls-cert", c["agent"][0], "--tls-key", c["agent"][1],
                                            "--tls-ca", pki.ca])
        try:
            check(agent.wait_for(r"connected to", 20), "the agent did not join:\n%s" % agent.text()[-1500:])
            ctl.stop(signal.SIGKILL)
            for cert in ("other", "client-only", "ip"):
                fake = RepServer(port, fake_answer(ng.url, wire_version()), tls_server_ctx(c[cert]))
                try:
                    deadline = time.monotonic() + (10 if cert == "ip" else 4)
                    while time.monotonic() < deadline and not fake.types():
                        time.sleep(0.05)
                    got = fake.types()
                finally:
                    fake.close()
                if cert == "ip":
                    check(got, "the server with the right certificate got nothing: the test sees "
                          "nothing\n%s" % agent.text()[-1500:])
                else:
                    check(got == [], "%s: the agent sent %s through a connection it should have "
                          "refused" % (cert, got))
                note("%s certificate: %d messages reached the server", cert, len(got))
            check(ng.access_log_lines(path="/write") == 0, "the fake's plan ran")
            check("refused the controller's certificate" in agent.text(),
                  "the agent did not say why:\n%s" % agent.text()[-1500:])
        finally:
            agent.stop()
            ctl.stop(signal.SIGKILL)

if __name__ == "__main__":
    main([test_fake_controller_tcp, test_fake_controller_midrun, test_fake_controller_tls, test_replayed_assign_refused,
          test_old_version_refused, test_token_files_refused, test_forged_auth_not_against_agent,
          test_tls_server_name, test_tls_name_enforced_on_reconnect])
