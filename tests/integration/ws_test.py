#!/usr/bin/env python3
"""herd's WebSocket driver against a real WebSocket server that is not herd's
code: Debian's python3-websockets (10.4, asyncio API), run by this test on a
free 127.0.0.1 port in a thread, counting what it receives. Covers message
round-trip time, counts cross-checked with the server, handshake rejection,
a server that is not WebSocket at all, server-initiated and abnormal closes,
pings, large fragmented messages, 500 and 2,000 concurrent sessions (one agent),
sessions split across 3 local agents (per-agent counts checked against
the server's count per client process), messages counted as sent only once
written, close codes of abnormal closes, and wss:// against the same server
over TLS with a CA and certificates made by the test with the openssl CLI
(trusted, untrusted, wrong name, insecureSkipVerify, a missing CA file).

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/ws_test.py [-k NAME]
"""

import asyncio
import contextlib
import http
import http.server
import logging
import os
import re
import resource
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    import websockets  # noqa: F401
except ImportError:
    # A python3 of its own (pyenv) does not see Debian's packages.
    sys.path.append("/usr/lib/python3/dist-packages")
    import websockets  # noqa: F401
import websockets.server  # noqa: E402

from harness import TestPki, check, free_port, main, note, run_herd  # noqa: E402

BIG = 1 << 20  # the large message: 1 MiB
NOREAD_S = 4.0  # how long /noread leaves what herd sends unread


async def precise_sleep(seconds):
    """asyncio's timers wake up to a millisecond late (epoll's timeout is
    rounded up): sleep to 1.5 ms short, then yield to the loop until due."""
    end = time.perf_counter() + seconds
    await asyncio.sleep(max(0.0, seconds - 0.0015))
    while time.perf_counter() < end:
        await asyncio.sleep(0)


class WsServer:
    """A websockets server in a thread. Paths choose the behaviour:
    /echo (echo after 20 ms), /reject (403), /close (close 1000 after the
    first message), /close4000, /abort (drop the TCP connection), /noread
    (read nothing for NOREAD_S seconds, then count), /bigtext
    and /bigbin (send a 1 MiB message in 16 KiB fragments), /now (echo at
    once, counting what it sends), /hold (count). With owners=True each
    session is attributed to the process owning the client's socket (see
    _owner), counted per pid in by_pid_sessions and by_pid_received. With
    tls=(cert, key) it serves wss:// on 127.0.0.1 and on every address of
    localhost, and records the SNI names clients send in sni."""

    def __init__(self, owners=False, backlog=2048, tls=None):
        self.port = free_port()
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)
        self.ssl = None
        self.hosts = "127.0.0.1"
        self.sni = []
        if tls:
            self.ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ssl.load_cert_chain(tls[0], tls[1])
            self.ssl.sni_callback = lambda sock, name, ctx: self.sni.append(name)
            addrs = {ai[4][0] for ai in socket.getaddrinfo("localhost", self.port,
                                                         type=socket.SOCK_STREAM)}
            self.hosts = sorted(addrs | {"127.0.0.1"})
        self.lock = threading.Lock()
        self.owners = owners
        self.backlog = backlog
        self.by_pid_sessions = {}
        self.by_pid_received = {}
        self.sent = 0         # /now: data messages sent
        self.received = 0     # data messages received
        self.texts = []       # /now: (path, text) of the first 10,000 text messages
        self.sessions = 0     # upgrades accepted
        self.rejected = 0
        self.ended = 0        # handlers that returned
        self.max_open = 0
        self.max_open_first = 0  # most open at once before any session had ended
        self._ended = False
        self._open = 0
        self.protocols = set()
        self.delays = []      # /echo: seconds from a message to its echo written
        self.ref_delays = []  # /refecho: the same, for the reference client
        self.headers = []
        self._loop = None
        self._stop = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        check(self._ready.wait(10), "the websockets server did not start")
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)

    def _count(self, field, n=1):
        with self.lock:
            setattr(self, field, getattr(self, field) + n)

    def _run(self):
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _reject(self, path, headers):
        if path.startswith("/reject"):
            self._count("rejected")
            return http.HTTPStatus.FORBIDDEN, [("Content-Type", "text/plain")], b"forbidden\n"
        return None

    async def _serve(self):
        self._stop = self._loop.create_future()
        srv = self

        class Proto(websockets.server.WebSocketServerProtocol):
            # A session stops counting as open when the server writes its
            # close frame (its answer to herd's, which herd waits for before
            # the VU's next session): the handler itself ends later, after
            # the TCP close, and far later when the loop is busy.
            async def write_close_frame(self, close, data=None):
                srv._closed(self)
                await super().write_close_frame(close, data)

        async with websockets.server.serve(self._handler, self.hosts, self.port,
                                           create_protocol=Proto, ssl=self.ssl,
                                           process_request=self._reject,
                                           subprotocols=["chat.v1"], max_size=None,
                                           ping_interval=None, backlog=self.backlog):
            self._ready.set()
            await self._stop

    def _closed(self, ws):
        with self.lock:
            if getattr(ws, "herd_open", False):
                ws.herd_open = False
                self._open -= 1
                self._ended = True

    async def _handler(self, ws, path):
        self._count("sessions")
        owner = _owner(ws.remote_address[1], self.port) if self.owners else None
        if owner is not None:
            with self.lock:
                self.by_pid_sessions[owner] = self.by_pid_sessions.get(owner, 0) + 1
        ws.herd_owner = owner
        with self.lock:
            self._open += 1
            ws.herd_open = True
            self.max_open = max(self.max_open, self._open)
            if not self._ended:
                self.max_open_first = self._open
            if ws.subprotocol:
                self.protocols.add(ws.subprotocol)
            self.headers.append((path, ws.request_headers.get("Authorization")))
        try:
            await self._behave(ws, path)
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            self._closed(ws)
            self._count("ended")

    def wait_ended(self, n, timeout=20.0):
        """Waits (at most timeout s) until n session handlers have returned."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.ended >= n:
                    return True
            time.sleep(0.05)
        return False

    async def _behave(self, ws, path):
        if path.startswith("/now"):
            owner = ws.herd_owner
            async for msg in ws:
                with self.lock:
                    self.received += 1
                    if isinstance(msg, str) and len(self.texts) < 10000:
                        self.texts.append((path, msg))
                    if owner is not None:
                        self.by_pid_received[owner] = self.by_pid_received.get(owner, 0) + 1
                await ws.send(msg)
                with self.lock:
                    self.sent += 1
        elif path.startswith("/echo") or path.startswith("/refecho"):
            # /refecho: the same echo for the reference client, counted apart.
            ref = path.startswith("/refecho")
            async for msg in ws:
                t0 = time.perf_counter()
                if not ref:
                    self._count("received")
                await precise_sleep(0.02)
                await ws.send(msg)
                (self.ref_delays if ref else self.delays).append(time.perf_counter() - t0)
        elif path.startswith("/close4000"):
            await ws.recv()
            self._count("received")
            await ws.close(4000, "bye")
        elif path.startswith("/close"):
            await ws.recv()
            self._count("received")
            await ws.close(1000, "done")
        elif path.startswith("/noread"):
            # websockets stops reading the socket once 32 messages wait in
            # its queue; the rest stays in the kernel's buffers or in herd.
            await asyncio.sleep(NOREAD_S)
            async for _ in ws:
                self._count("received")
        elif path.startswith("/abort"):
            await ws.recv()
            self._count("received")
            ws.transport.abort()
        elif path.startswith("/big"):
            if path.startswith("/bigtext"):
                pad = "x" * (BIG - 64)
                data = '{"pad":"%s","id":"tail-%d"}' % (pad, 7)
                chunk = 16384
                await ws.send(data[i:i + chunk] for i in range(0, len(data), chunk))
            else:
                data = bytes(range(256)) * (BIG // 256 - 1) + b"\x00" * 240 + b"END-OF-BLOB!1234"
                chunk = 16384
                await ws.send(data[i:i + chunk] for i in range(0, len(data), chunk))
            async for _ in ws:
                self._count("received")
        else:
            async for _ in ws:
                self._count("received")


def _owner(peer_port, server_port):
    """The pid of the herd-agent whose socket is 127.0.0.1:peer_port connected
    to server_port (from /proc/net/tcp and the agents' fd tables), or None."""
    want = ":%04X" % peer_port
    peer = ":%04X" % server_port
    inode = None
    try:
        with open("/proc/net/tcp") as f:
            for line in f:
                p = line.split()
                if len(p) > 9 and p[1].endswith(want) and p[2].endswith(peer):
                    inode = p[9]
                    break
    except OSError:
        return None
    if inode is None:
        return None
    target = "socket:[%s]" % inode
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % d) as f:
                if f.read().strip() != "herd-agent":
                    continue
            for fd in os.listdir("/proc/%s/fd" % d):
                try:
                    if os.readlink("/proc/%s/fd/%s" % (d, fd)) == target:
                        return int(d)
                except OSError:
                    pass
        except OSError:
            pass
    return None


class EstablishedSampler:
    """Counts, every 200 ms with ss(8), the client sockets connected to port
    on 127.0.0.1 (state established, destination port): the sessions really
    open at once, whatever lag the server's own bookkeeping has."""

    def __init__(self, port):
        self.port = port
        self.peak = 0
        self.samples = 0
        self.counts = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import subprocess
        while not self._stop.wait(0.2):
            try:
                out = subprocess.run(["ss", "-Htn", "state", "established", "dst",
                                      "127.0.0.1:%d" % self.port], capture_output=True,
                                     timeout=5).stdout
            except (OSError, subprocess.SubprocessError):
                continue
            self.samples += 1
            self.counts.append(out.count(b"\n"))
            self.peak = max(self.peak, self.counts[-1])

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(10)


def raise_nofile(need):
    """Raises this process's open-file limit to its hard limit; returns the
    new soft limit, or None (after a note) when the hard limit is below need."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        return None
    if soft == resource.RLIM_INFINITY or (hard != resource.RLIM_INFINITY and soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def db_per_agent(db, run_id, metric):
    """{agent_id: total count} of one metric in herd's store."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute(
            "SELECT k.agent_id, SUM(i.count) FROM series_keys k JOIN intervals i "
            "ON i.key_id = k.id WHERE k.run_id = ? AND k.metric = ? GROUP BY k.agent_id",
            (run_id, metric)).fetchall()
    finally:
        con.close()
    return {a: int(n or 0) for a, n in rows}


class PlainHttp:
    """An HTTP server that is not WebSocket: 200 to everything."""

    def __init__(self):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "3")
                self.end_headers()
                self.wfile.write(b"ok\n")

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.srv.shutdown()
        self.srv.server_close()


def plan(target, body, thresholds=None, top=None):
    out = ["name: wstest", "target: %s" % target]
    if top:
        out += top.strip("\n").splitlines()
    out += ["scenarios:", "  s:"]
    out += ["    " + line for line in body.strip("\n").splitlines()]
    if thresholds:
        out.append("thresholds:")
        for k, v in thresholds.items():
            out.append('  "%s": %s' % (k, v))
    return "\n".join(out) + "\n"


def metric_count(r, name):
    m = r.summary.get("metrics", {}).get(name)
    return 0 if m is None else m.get("count", 0)


def expect_ok(r):
    check(r.code == 0, "herd exited %d%s" % (r.code, r.tail()))


def expect_all_failed(r):
    """Every session failed: herd's default threshold on ws_session_failed
    ('rate < 1 (default)') fails the run, exit 99 (see gates_test.py)."""
    ths = [t for t in r.herd().get("thresholds", []) if t.get("expr") == "rate < 1 (default)"]
    check(r.code == 99 and len(ths) == 1 and ths[0]["ok"] is False,
          "herd exited %d, default threshold %r, expected 99 and a failed default%s"
          % (r.code, ths, r.tail()))


# ---------------------------------------------------------------------------


REF_CLIENT = r"""
import asyncio, sys, time, statistics
import websockets
async def one(url, until, out):
    async with websockets.connect(url, max_size=None, ping_interval=None) as ws:
        i = 0
        while time.monotonic() < until:
            t0 = time.perf_counter()
            await ws.send('{"id":"ref-%d","text":"hello"}' % i)
            await ws.recv()
            out.append(time.perf_counter() - t0)
            i += 1
async def main(url, secs):
    until = time.monotonic() + secs
    out = []
    await asyncio.gather(one(url, until, out), one(url, until, out))
    print("%.6f %d" % (statistics.median(out) * 1e3, len(out)))
asyncio.run(main(sys.argv[1], float(sys.argv[2])))
"""


def reference_rtt(ws_url, secs):
    """Starts a reference client (Python websockets, 2 connections sending in
    turn like herd's 2 VUs) in its own process for secs seconds; returns a
    function that waits for it and gives (median RTT in ms, samples)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    p = subprocess.Popen([sys.executable, "-c", REF_CLIENT, ws_url, str(secs)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def result():
        out, err = p.communicate(timeout=60)
        check(p.returncode == 0, "the reference client failed: %s" % err[-800:])
        med, n = out.split()
        return float(med), int(n)
    return result


def test_echo_rtt_and_counts():
    """2 VUs loop send/expect against a 20 ms delayed echo (more VUs make the
    Python server itself late, by its own measure): ws_msg_rtt p50
    within 2% of 20 ms of what the server really waited, bounded above by a
    reference client's own RTT (same server, same seconds, so the machine's
    load counts on both sides), and the server saw exactly ws_msgs_sent
    messages."""
    with WsServer() as srv:
        ref = reference_rtt(srv.url.replace("http", "ws", 1) + "/refecho", 4.5)
        r = run_herd(plan(srv.url, """
executor: constant-vus
vus: 2
duration: 4s
flow:
  - ws: /echo?vu={{ __VU }}
    headers: { Authorization: "Bearer abc" }
    subprotocols: [chat.v1]
    ping: 200ms
    session:
      - send: '{"type":"join","user":"{{ __VU }}"}'
      - expect: { contains: '"join"', within: 2s }
      - loop: { count: 10 }
        steps:
          - send: '{"id":"{{ __ITER }}-{{ seq }}","text":"hello"}'
          - expect: { json: { path: "$.id", equals: "{{ __ITER }}-{{ seq }}" }, within: 1s }
      - close: 1000
""", {"ws_msg_rtt": '["p(95) < 200"]'}), timeout=60)
        expect_ok(r)
        rtt = r.metric("ws_msg_rtt")
        sent = metric_count(r, "ws_msgs_sent")
        got = metric_count(r, "ws_msgs_received")
        sessions = metric_count(r, "ws_sessions")
        note("echo: sessions %d sent %d received %d server %d; rtt min %.3f med %.3f p90 %.3f "
             "max %.3f ms", sessions, sent, got, srv.received, rtt["min"], rtt["med"],
             rtt["p(90)"], rtt["max"])
        d = sorted(srv.delays)
        note("echo: the server's own delay med %.3f ms p90 %.3f ms", d[len(d) // 2] * 1e3,
             d[len(d) * 9 // 10] * 1e3)
        ref_med, ref_n = ref()
        rd = sorted(srv.ref_delays)
        ref_srv_med = rd[len(rd) // 2] * 1e3
        note("echo: reference client rtt med %.3f ms over %d messages (the server's delay for "
             "them med %.3f ms)", ref_med, ref_n, ref_srv_med)
        check(sessions > 10, "only %d sessions" % sessions)
        check(sent == srv.received, "herd ws_msgs_sent %d != server received %d"
              % (sent, srv.received))
        check(got == sent, "ws_msgs_received %d != ws_msgs_sent %d (every message echoed)"
              % (got, sent))
        check(rtt["count"] == sent if "count" in rtt else True, "rtt samples != sends")
        # The echo is due 20 ms after a message arrives; the Python server itself
        # is a little late (it measures how late). herd's p50 is never below
        # what the server waited (less the histogram's resolution). Above it
        # lie the two trips through the kernel and the wake-ups on both sides,
        # which a busy machine lengthens: the reference client, timing the same
        # echo in the same seconds, lives through the same load, so herd's p50
        # may exceed the server's delay by at most the reference's own excess
        # (if larger than herd's quiet-machine budget, 2% of 20 ms), plus 2%.
        srv_med = d[len(d) // 2] * 1e3
        excess = max(0.02 * 20.0, ref_med - ref_srv_med)
        check(srv_med - 0.05 <= rtt["med"] <= srv_med + excess + 0.02 * 20.0,
              "ws_msg_rtt p50 %.3f ms is not within [server's delay %.3f ms, + the reference "
              "client's excess %.3f ms + 0.4 ms]" % (rtt["med"], srv_med, excess))
        # The fixture itself: it waited at least its 20 ms (how much later it
        # was depends on the machine's load, and is accounted for above).
        check(srv_med >= 20.0, "the test server's own delay %.3f ms is under 20 ms" % srv_med)
        check(not r.errors_by_kind(), "errors: %s" % r.errors_by_kind())
        check(srv.protocols == {"chat.v1"}, "subprotocols agreed: %s" % srv.protocols)
        herd_headers = [(p, a) for p, a in srv.headers if not p.startswith("/refecho")]
        check(all(a == "Bearer abc" for _, a in herd_headers), "Authorization header missing")
        check(any(p.startswith("/echo?vu=") and p[9:].isdigit() for p, _ in herd_headers),
              "URL template not rendered: %s" % herd_headers[:3])
        ws_conn = r.metric("ws_connecting")
        check(ws_conn["max"] < 1000, "ws_connecting max %.1f ms" % ws_conn["max"])


def test_handshake_rejected_403():
    """An upgrade answered with 403: every session is ws_handshake_rejected."""
    with WsServer() as srv:
        r = run_herd(plan(srv.url, """
executor: per-vu-iterations
vus: 3
iterations: 4
flow:
  - ws: /reject
    session:
      - send: hi
"""), timeout=60)
        expect_all_failed(r)
        ebk = r.errors_by_kind()
        check(ebk.get("ws_handshake_rejected") == 12 == srv.rejected,
              "ws_handshake_rejected %s, server rejected %d (want 12): %s"
              % (ebk.get("ws_handshake_rejected"), srv.rejected, ebk))
        check(metric_count(r, "ws_sessions") == 12, "ws_sessions %s" % metric_count(r, "ws_sessions"))
        check(metric_count(r, "ws_msgs_sent") == 0, "messages sent on rejected sessions")


def test_not_websocket():
    """A plain HTTP server (200): the session fails as a rejected upgrade or bad accept."""
    with PlainHttp() as ph:
        r = run_herd(plan(ph.url, """
executor: per-vu-iterations
vus: 2
iterations: 3
flow:
  - ws: /
    session:
      - send: hi
"""), timeout=60)
        expect_all_failed(r)
        ebk = r.errors_by_kind()
        n = ebk.get("ws_handshake_rejected", 0) + ebk.get("ws_bad_accept", 0)
        check(n == 6, "6 sessions, errors %s" % ebk)


def test_connect_refused():
    """Nothing listening: connect_refused, no crash."""
    r = run_herd(plan("http://127.0.0.1:%d" % free_port(), """
executor: per-vu-iterations
vus: 2
iterations: 2
flow:
  - ws: /x
    session:
      - send: hi
"""), timeout=60)
    expect_all_failed(r)
    check(r.errors_by_kind().get("connect_refused") == 4, "errors %s" % r.errors_by_kind())


def test_server_closes():
    """Server-initiated close 1000 ends a hold cleanly, with no close code
    recorded; 4000 and a dropped TCP connection (1006) count as
    ws_closed_abnormally, with their codes per step in the summary and the
    export."""
    with WsServer() as srv:
        step = """
  - ws: %s
    name: %s
    ping: 50ms
    session:
      - send: hi
      - hold: 5s
"""
        head = """
executor: per-vu-iterations
vus: 2
iterations: %d
flow:
"""
        r = run_herd(plan(srv.url, head % 3 + step % ("/close", "c1000")), timeout=60)
        expect_ok(r)
        check(metric_count(r, "ws_sessions") == 6, "sessions %d" % metric_count(r, "ws_sessions"))
        check(not r.errors_by_kind(), "close 1000 counted as an error: %s" % r.errors_by_kind())
        check(r.herd().get("ws_close_codes") == {}, "close codes after close 1000: %s"
              % r.herd().get("ws_close_codes"))
        check(r.metric("ws_session_duration")["max"] < 2000, "sessions did not end at the close")
        # Each iteration: a session closed with 4000, then one dropped.
        r = run_herd(plan(srv.url, head % 3 + step % ("/close4000", "c4000")
                          + step % ("/abort", "abort")), timeout=60)
        expect_all_failed(r)
        h = r.herd()
        note("closes: errors %s, codes %s, by step %s", r.errors_by_kind(),
             h.get("ws_close_codes"), h.get("ws_close_codes_by_step"))
        check(r.errors_by_kind().get("ws_closed_abnormally") == 12,
              "close 4000 and abort: %s" % r.errors_by_kind())
        check(h.get("ws_close_codes") == {"4000": 6, "1006": 6},
              "herd.ws_close_codes %s, want 4000 x6 and 1006 x6" % h.get("ws_close_codes"))
        rows = sorted((x["name"], x["code"], x["count"]) for x in h.get("ws_close_codes_by_step", []))
        check(rows == [("abort", 1006, 6), ("c4000", 4000, 6)], "ws_close_codes_by_step %s" % rows)
        check("ws_closed_abnormally: 12 (1006×6, 4000×6)" in r.stdout,
              "the summary does not show the codes:%s" % r.tail(3000))
        table = [ln.split() for ln in r.stdout.splitlines()
                 if ln.split()[:2] in (["s", "abort"], ["s", "c4000"]) and len(ln.split()) == 4]
        check(sorted(table) == [["s", "abort", "1006", "6"], ["s", "c4000", "4000", "6"]],
              "per-step close code table %s:%s" % (table, r.tail(3000)))
        check(srv.received == 18, "server received %d, want 18" % srv.received)


def test_msgs_sent_counted_when_written():
    """A session queues 300 messages of 64 KiB to a server that reads
    nothing for 4 s, holds 500 ms and closes (the close waits behind the
    data, then gives up): only the messages written whole before the
    session ended count in ws_msgs_sent, and the server, reading at last,
    gets exactly those (the cut one is not a message)."""
    msgs_sent_when_written(None, None)


def test_wss_msgs_sent_counted_when_written():
    """As test_msgs_sent_counted_when_written over wss://, where the writes
    that would block are TLS records waiting for the socket (WANT_WRITE)."""
    pki, srv_cert = tls_pki()
    msgs_sent_when_written(srv_cert, "tls: { ca: %s }" % pki.ca)


def msgs_sent_when_written(tls, top):
    big = "y" * 65536
    with WsServer(tls=tls) as srv, quiet_websockets():
        r = run_herd(plan(srv.url, """
executor: per-vu-iterations
vus: 1
iterations: 1
flow:
  - ws: /noread
    session:
      - loop: { count: 300 }
        steps:
          - send: '%s'
      - hold: 500ms
      - close: 1000
""" % big, top=top), timeout=60)
        expect_ok(r)
        check(srv.wait_ended(1), "the /noread handler did not finish")
        sent = metric_count(r, "ws_msgs_sent")
        note("noread%s: herd ws_msgs_sent %d of 300 queued, server received %d",
             " (wss)" if tls else "", sent, srv.received)
        check(0 < sent < 300, "ws_msgs_sent %d: want the messages written, fewer than the 300 "
              "queued" % sent)
        check(sent == srv.received, "herd ws_msgs_sent %d != server received %d"
              % (sent, srv.received))


def test_expect_timeout():
    """An expect nobody answers: ws_expect_timeout after its `within`."""
    with WsServer() as srv:
        r = run_herd(plan(srv.url, """
executor: per-vu-iterations
vus: 2
iterations: 1
flow:
  - ws: /hold
    session:
      - send: hi
      - expect: { contains: never, within: 300ms }
"""), timeout=60)
        expect_all_failed(r)
        check(r.errors_by_kind().get("ws_expect_timeout") == 2, "errors %s" % r.errors_by_kind())
        d = r.metric("ws_session_duration")
        check(d["min"] >= 290 and d["max"] < 1500, "session durations %.1f..%.1f ms"
              % (d["min"], d["max"]))


def test_big_fragmented():
    """1 MiB messages sent by the server in 16 KiB fragments arrive whole:
    text (JSON parsed to its last field) and binary (its tail found)."""
    big_fragmented(None, None)


def test_wss_big_fragmented():
    """As test_big_fragmented over wss://: each MiB spans many TLS records."""
    pki, srv_cert = tls_pki()
    big_fragmented(srv_cert, "tls: { ca: %s }" % pki.ca)


def big_fragmented(tls, top):
    with WsServer(tls=tls) as srv:
        r = run_herd(plan(srv.url, """
executor: per-vu-iterations
vus: 3
iterations: 2
flow:
  - ws: /bigtext
    session:
      - expect: { json: { path: "$.id", equals: "tail-7" }, count: 1, within: 5s }
  - ws: /bigbin
    session:
      - expect: { contains: "END-OF-BLOB!1234", count: 1, within: 5s }
      - send: { binary: "AAECAwQ=" }
""", top=top), timeout=60)
        expect_ok(r)
        check(not r.errors_by_kind(), "errors %s" % r.errors_by_kind())
        check(metric_count(r, "ws_msgs_received") == 12, "received %d"
              % metric_count(r, "ws_msgs_received"))
        check(srv.received == 6, "server received %d binary messages, want 6 (herd sent %d)"
              % (srv.received, metric_count(r, "ws_msgs_sent")))
        check(metric_count(r, "ws_sessions") == 12, "sessions %d" % metric_count(r, "ws_sessions"))


def test_500_concurrent():
    """500 VUs hold sessions at once (ramping-vus); every message is accounted for."""
    with WsServer() as srv:
        r = run_herd(plan(srv.url, """
executor: ramping-vus
stages: [{ duration: 2s, target: 500 }, { duration: 3s, target: 500 }, { duration: 1s, target: 0 }]
flow:
  - ws: /hold
    session:
      - loop: { count: 5 }
        steps:
          - send: 'm {{ __VU }} {{ seq }}'
          - think: 100ms
      - hold: 2s
"""), timeout=90)
        expect_ok(r)
        sent = metric_count(r, "ws_msgs_sent")
        sessions = metric_count(r, "ws_sessions")
        note("500 VUs: sessions %d, most open at the server %d, sent %d, server received %d",
             sessions, srv.max_open, sent, srv.received)
        check(not r.errors_by_kind(), "errors %s" % r.errors_by_kind())
        check(srv.max_open >= 450, "only %d sessions open at once" % srv.max_open)
        check(sessions == srv.sessions, "herd sessions %d != server %d" % (sessions, srv.sessions))
        check(sent == srv.received, "herd ws_msgs_sent %d != server received %d"
              % (sent, srv.received))


SESSIONS_2K = 2000


def test_2000_concurrent_sessions():
    """2,000 sessions open at once from one agent (constant-vus 2000 for 8 s,
    each session sends 3 messages, expects each echo, then holds 4 s): the
    server saw between 1,950 and 2,000 sessions open at once, every message
    is accounted for on both sides, no errors."""
    n = SESSIONS_2K
    # server: n sockets + the test's own; herd-agent: n + its link; with margin.
    lim = raise_nofile(2 * n + 200)
    if lim is None:
        note("SKIP test_2000_concurrent_sessions: the open-file hard limit %d is below %d "
             "(raise it, e.g. ulimit -Hn, to run %d sessions)",
             resource.getrlimit(resource.RLIMIT_NOFILE)[1], 2 * n + 200, n)
        return
    with WsServer(backlog=4096) as srv, EstablishedSampler(srv.port) as ss:
        t0 = time.monotonic()
        r = run_herd(plan(srv.url, """
executor: constant-vus
vus: %d
duration: 8s
gracefulStop: 20s
flow:
  - ws: /now?vu={{ __VU }}
    session:
      - loop: { count: 3 }
        steps:
          - send: 'm {{ __VU }} {{ __ITER }} {{ seq }}'
          - expect: { contains: 'm {{ __VU }} {{ __ITER }} {{ seq }}', within: 10s }
      - hold: 4s
      - close: 1000
""" % n), "--local-agents", "1", timeout=90)
        wall = time.monotonic() - t0
        expect_ok(r)
        sent = metric_count(r, "ws_msgs_sent")
        got = metric_count(r, "ws_msgs_received")
        sessions = metric_count(r, "ws_sessions")
        conn = r.metric("ws_connecting")
        agents = r.herd().get("agents", {})
        dur = r.metric("ws_session_duration")
        note("%d VUs: sessions %d (server %d); open at once: %d at the server before any "
             "session ended, %d at the server overall, %d client "
             "sockets established (ss, %d samples); sent %d, server received %d; server sent "
             "%d, herd received %d; ws_connecting p50 %.1f max %.1f ms; ws_session_duration "
             "min %.0f max %.0f ms; agent rss %s kB; wall %.1f s", n, sessions, srv.sessions,
             srv.max_open_first, srv.max_open, ss.peak, ss.samples, sent, srv.received, srv.sent,
             got, conn["med"], conn["max"], dur["min"], dur["max"],
             [a.get("rss_kb") for a in agents.values()], wall)
        check(not r.errors_by_kind(), "errors %s" % r.errors_by_kind())
        check(len(agents) == 1, "%d agents in the export, want 1" % len(agents))
        check(n - 50 <= srv.max_open_first <= n, "most sessions open at once at the server "
              "(before the first ended): %d, want %d..%d" % (srv.max_open_first, n - 50, n))
        check(n - 50 <= srv.max_open <= n, "most sessions open at once at the server: %d, "
              "want %d..%d" % (srv.max_open, n - 50, n))
        # ss(8) reads the socket table in pieces: while 2,000 sessions end and
        # the next ones open, one scan may see a socket on its way out and its
        # successor both. So: the plateau (samples in n-50..n) must be there,
        # and only such transient samples may pass n.
        plateau = sum(1 for c in ss.counts if n - 50 <= c <= n)
        over = [c for c in ss.counts if c > n]
        check(plateau >= 3, "client sockets established at once reached %d..%d in only %d of %d "
              "samples (peak %d)" % (n - 50, n, plateau, ss.samples, ss.peak))
        check(len(over) * 10 <= ss.samples, "%d of %d samples saw more than %d client sockets "
              "(%s): more sessions than VUs" % (len(over), ss.samples, n, over[:5]))
        check(sessions >= n, "only %d sessions for %d VUs" % (sessions, n))
        check(sessions == srv.sessions, "herd ws_sessions %d != server accepted %d"
              % (sessions, srv.sessions))
        check(sent == 3 * sessions, "ws_msgs_sent %d != 3 x %d sessions" % (sent, sessions))
        check(sent == srv.received, "herd ws_msgs_sent %d != server received %d"
              % (sent, srv.received))
        check(got == srv.sent, "herd ws_msgs_received %d != server sent %d" % (got, srv.sent))


def test_feeder_and_agent_in_ws_templates():
    """Templates in ws URLs and messages take feeder columns and __AGENT as
    HTTP steps do: 40 rows split over 2 local agents, each row's name sent
    once (onExhausted: stop) on a URL naming the same row, from the agent
    that holds it."""
    names = ["user-%02d" % i for i in range(40)]
    users = "id,name\n" + "".join("%d,%s\n" % (i, n) for i, n in enumerate(names))
    with WsServer() as srv:
        r = run_herd(plan(srv.url, """
executor: shared-iterations
vus: 4
iterations: 80
maxDuration: 30s
flow:
  - ws: /now?id={{ users.id }}&agent={{ __AGENT }}
    session:
      - send: '{{ users.name }} from {{ __AGENT }}'
      - expect: { contains: '{{ users.name }}', within: 5s }
      - close: 1000
""", top="data:\n  users: { file: users.csv, split: per-agent, onExhausted: stop }"),
            "--local-agents", "2", "--workers", "1", timeout=60, files={"users.csv": users})
        expect_ok(r)
        got = sorted(srv.texts)
        note("%d messages, first %s", len(got), got[:2])
        check(len(got) == 40, "%d messages, want one per row (40)" % len(got))
        seen = {}
        for path, text in got:
            m = re.match(r"/now\?id=(\d+)&agent=(\d)$", path)
            t = re.match(r"(user-\d\d) from (\d)$", text)
            check(m is not None and t is not None, "path %r text %r" % (path, text))
            if m is None or t is None:
                continue
            check(names[int(m.group(1))] == t.group(1) and m.group(2) == t.group(2),
                  "the URL %r and the message %r name different rows or agents" % (path, text))
            seen.setdefault(t.group(2), []).append(int(m.group(1)))
        check(sorted(sum(seen.values(), [])) == list(range(40)), "rows used %s" % seen)
        check(sorted(seen) == ["0", "1"] and all(len(v) == 20 for v in seen.values()),
              "rows per agent %s, want 20 each" % {k: len(v) for k, v in seen.items()})
        check(metric_count(r, "ws_msgs_received") == 40,
              "ws_msgs_received %d, want 40" % metric_count(r, "ws_msgs_received"))


def test_distributed_across_local_agents():
    """30 VUs of echo sessions over 3 local agents (one worker each): each
    agent's own ws counts in herd's store match what the server got from
    that agent's process (found from the owner of each client socket), each
    agent ran about a third of the VUs, and the totals match."""
    with WsServer(owners=True) as srv:
        r = run_herd(plan(srv.url, """
executor: constant-vus
vus: 30
duration: 4s
flow:
  - ws: /now?vu={{ __VU }}
    session:
      - loop: { count: 5 }
        steps:
          - send: 'd {{ __VU }} {{ seq }}'
          - expect: { contains: 'd {{ __VU }} {{ seq }}', within: 5s }
      - hold: 300ms
      - close: 1000
"""), "--local-agents", "3", "--workers", "1", timeout=60)
        expect_ok(r)
        sent = metric_count(r, "ws_msgs_sent")
        got = metric_count(r, "ws_msgs_received")
        sessions = metric_count(r, "ws_sessions")
        agents = r.herd().get("agents", {})
        run_id = r.herd()["run_id"]
        db_sent = db_per_agent(r.db, run_id, "ws_msgs_sent")
        db_sessions = db_per_agent(r.db, run_id, "ws_sessions")
        note("3 agents: sessions %d (server %d), sent %d, received %d, server received %d "
             "sent %d", sessions, srv.sessions, sent, got, srv.received, srv.sent)
        note("per agent in the store: sessions %s, sent %s", db_sessions, db_sent)
        note("per agent pid at the server: sessions %s, received %s", srv.by_pid_sessions,
             srv.by_pid_received)
        check(not r.errors_by_kind(), "errors %s" % r.errors_by_kind())
        check(len(agents) == 3, "%d agents in the export, want 3: %s" % (len(agents), agents))
        check(all(a.get("status") == "done" and a.get("batches", 0) > 0 for a in agents.values()),
              "an agent did not finish or sent no batch: %s" % agents)
        check(sessions == srv.sessions, "herd ws_sessions %d != server %d"
              % (sessions, srv.sessions))
        check(sent == srv.received and got == srv.sent == sent,
              "sent %d, server received %d, server sent %d, herd received %d"
              % (sent, srv.received, srv.sent, got))
        check(sorted(db_sent) == sorted(agents), "agents with ws_msgs_sent in the store %s != "
              "agents in the export %s" % (sorted(db_sent), sorted(agents)))
        check(sum(db_sent.values()) == sent, "per-agent ws_msgs_sent sum %d != total %d"
              % (sum(db_sent.values()), sent))
        # 30 VUs over 3 agents: 10 each, and about as many sessions each.
        for a, k in db_sessions.items():
            check(sessions * 0.25 <= k <= sessions * 0.42, "agent %s ran %d of %d sessions"
                  % (a, k, sessions))
        check(len(srv.by_pid_sessions) == 3 and sum(srv.by_pid_sessions.values()) == srv.sessions,
              "sessions by client process at the server: %s (of %d)"
              % (srv.by_pid_sessions, srv.sessions))
        # Agent ids are local-N-PID-xxxx: the server's per-process counts must
        # equal each agent's own counts in the store.
        by_pid = {}
        for a, k in db_sent.items():
            parts = a.split("-")
            if len(parts) >= 3 and parts[2].isdigit():
                by_pid[int(parts[2])] = k
        if len(by_pid) == 3:
            check(by_pid == srv.by_pid_received, "ws_msgs_sent per agent pid %s != server "
                  "received per client pid %s" % (by_pid, srv.by_pid_received))
            sess_pid = {int(a.split("-")[2]): k for a, k in db_sessions.items()}
            check(sess_pid == srv.by_pid_sessions, "ws_sessions per agent pid %s != server "
                  "per client pid %s" % (sess_pid, srv.by_pid_sessions))
        else:
            check(sorted(db_sent.values()) == sorted(srv.by_pid_received.values()),
                  "per-agent ws_msgs_sent %s != server per-process received %s"
                  % (sorted(db_sent.values()), sorted(srv.by_pid_received.values())))


# ---------------------------------------------------------------------------
# wss://: a TLS websockets server with a certificate from a CA made here.

TLS_FLOW = """
executor: per-vu-iterations
vus: 2
iterations: 3
flow:
  - ws: /now?ip
    name: by-ip
    session:
      - loop: { count: 5 }
        steps:
          - send: 'ip {{ __VU }} {{ __ITER }} {{ seq }}'
          - expect: { contains: 'ip {{ __VU }} {{ __ITER }} {{ seq }}', within: 5s }
      - close: 1000
  - ws: wss://localhost:%d/now?name
    name: by-name
    session:
      - send: 'name {{ __VU }} {{ __ITER }}'
      - expect: { contains: 'name {{ __VU }} {{ __ITER }}', within: 5s }
      - close: 1000
"""


@contextlib.contextmanager
def agent_log_on_stderr():
    """Local agents log to herd's stderr (not to a file herd removes)."""
    os.environ["HERD_AGENT_LOG_STDERR"] = "1"
    try:
        yield
    finally:
        del os.environ["HERD_AGENT_LOG_STDERR"]


@contextlib.contextmanager
def quiet_websockets():
    """Keeps the test server's reports of sessions it dropped on purpose out
    of the output."""
    lg = logging.getLogger("websockets")
    level = lg.level
    lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        lg.setLevel(level)


def tls_pki():
    """The test CA and a server certificate for 127.0.0.1 and localhost."""
    pki = TestPki()
    return pki, pki.server("srv", ["IP:127.0.0.1", "DNS:localhost"])


def test_wss_trusted_ca():
    """An https:// target makes ws paths wss://; with the test CA trusted
    (tls.ca) 12 sessions over TLS, by IP address (no SNI) and by name (SNI
    localhost), make 36 round trips that the server counts too, and the TLS
    handshake is measured."""
    pki, srv_cert = tls_pki()
    with WsServer(tls=srv_cert) as srv:
        r = run_herd(plan(srv.url, TLS_FLOW % srv.port, top="tls: { ca: %s }" % pki.ca),
                     timeout=60)
        expect_ok(r)
        sent = metric_count(r, "ws_msgs_sent")
        got = metric_count(r, "ws_msgs_received")
        sessions = metric_count(r, "ws_sessions")
        hs = r.metric("ws_tls_handshaking")
        conn = r.metric("ws_connecting")
        note("wss trusted: sessions %d (server %d), sent %d, server received %d, received %d; "
             "TLS handshake med %.2f ms, ws_connecting med %.2f ms; SNI seen %s",
             sessions, srv.sessions, sent, srv.received, got, hs["med"], conn["med"],
             sorted(set(map(str, srv.sni))))
        check(not r.errors_by_kind(), "errors %s" % r.errors_by_kind())
        check(sessions == 12 == srv.sessions, "sessions %d, server %d, want 12"
              % (sessions, srv.sessions))
        check(sent == 36 == srv.received == srv.sent == got,
              "sent %d, server received %d, server sent %d, received %d; want 36"
              % (sent, srv.received, srv.sent, got))
        check(0 < hs["med"] <= conn["med"], "TLS handshake %.3f ms vs ws_connecting %.3f ms"
              % (hs["med"], conn["med"]))
        check(srv.sni.count("localhost") == 6 and all(n in (None, "localhost") for n in srv.sni),
              "SNI names seen by the server: %s (want localhost for the 6 sessions by name, "
              "none by address)" % srv.sni)


def test_wss_untrusted_cert_refused():
    """Without the test CA (the system store), or trusting another CA, every
    session fails with the 'tls' error kind, the server sees no session and
    no message, and the agent says why once."""
    pki, srv_cert = tls_pki()
    with WsServer(tls=srv_cert) as srv, agent_log_on_stderr():
        r = run_herd(plan(srv.url, TLS_FLOW % srv.port), timeout=60)
        expect_all_failed(r)
        note("wss untrusted: errors %s, server sessions %d", r.errors_by_kind(), srv.sessions)
        check(r.errors_by_kind() == {"tls": 12}, "errors %s, want tls x12" % r.errors_by_kind())
        check(metric_count(r, "ws_sessions") == 12, "sessions %d" % metric_count(r, "ws_sessions"))
        check(metric_count(r, "ws_msgs_sent") == 0, "messages sent without TLS")
        check("certificate was refused" in r.stderr and "not correctly signed" in r.stderr,
              "the agent did not say why:%s" % r.tail())
        other = pki.other_ca()
        r = run_herd(plan(srv.url, TLS_FLOW % srv.port, top="tls: { ca: %s }" % other), timeout=60)
        expect_all_failed(r)
        check(r.errors_by_kind() == {"tls": 12}, "another CA: errors %s" % r.errors_by_kind())
        check(srv.sessions == 0 and srv.received == 0, "the server saw %d sessions, %d messages"
              % (srv.sessions, srv.received))


def test_wss_name_mismatch_refused():
    """A certificate from the trusted CA for another name: refused by address
    (its IP names do not hold 127.0.0.1) and by name (not localhost)."""
    pki = TestPki()
    wrong = pki.server("wrong", ["DNS:other.test", "IP:10.9.8.7"])
    with WsServer(tls=wrong) as srv, agent_log_on_stderr():
        r = run_herd(plan(srv.url, TLS_FLOW % srv.port, top="tls: { ca: %s }" % pki.ca),
                     timeout=60)
        expect_all_failed(r)
        check(r.errors_by_kind() == {"tls": 12}, "errors %s, want tls x12" % r.errors_by_kind())
        check(srv.sessions == 0, "the server saw %d sessions" % srv.sessions)
        check("certificate was refused" in r.stderr and "CN" in r.stderr, "reason:%s" % r.tail())


def test_wss_insecure_skip_verify():
    """tls.insecureSkipVerify: an unknown CA's certificate is taken, sessions
    work."""
    pki = TestPki()
    wrong = pki.server("wrong", ["DNS:other.test"])
    with WsServer(tls=wrong) as srv:
        r = run_herd(plan(srv.url, TLS_FLOW % srv.port, top="tls:\n  insecureSkipVerify: true"),
                     timeout=60)
        expect_ok(r)
        check(not r.errors_by_kind(), "errors %s" % r.errors_by_kind())
        check(metric_count(r, "ws_msgs_sent") == 36 == srv.received, "sent %d, server %d"
              % (metric_count(r, "ws_msgs_sent"), srv.received))


def test_wss_abnormal_closes():
    """Over TLS, a close 4000 and a dropped connection are told apart: their
    codes in the export."""
    pki, srv_cert = tls_pki()
    with WsServer(tls=srv_cert) as srv, quiet_websockets():
        r = run_herd(plan(srv.url, """
executor: per-vu-iterations
vus: 2
iterations: 2
flow:
  - ws: /close4000
    name: c4000
    session: [ { send: hi }, { hold: 5s } ]
  - ws: /abort
    name: abort
    session: [ { send: hi }, { hold: 5s } ]
""", top="tls: { ca: %s }" % pki.ca), timeout=60)
        expect_all_failed(r)
        check(r.errors_by_kind() == {"ws_closed_abnormally": 8}, "errors %s"
              % r.errors_by_kind())
        check(r.herd().get("ws_close_codes") == {"4000": 4, "1006": 4}, "codes %s"
              % r.herd().get("ws_close_codes"))
        check(srv.received == 8, "server received %d" % srv.received)


def test_wss_200_concurrent():
    """200 VUs in wss:// sessions for 3 s, each a few echoed messages: every
    session and message is accounted for on both sides, no errors."""
    pki, srv_cert = tls_pki()
    with WsServer(tls=srv_cert) as srv:
        r = run_herd(plan(srv.url, """
executor: constant-vus
vus: 200
duration: 3s
flow:
  - ws: /now
    session:
      - loop: { count: 3 }
        steps:
          - send: 'c {{ __VU }} {{ seq }}'
          - expect: { contains: 'c {{ __VU }} {{ seq }}', within: 10s }
      - hold: 500ms
      - close: 1000
""", top="tls: { ca: %s }" % pki.ca), timeout=90)
        expect_ok(r)
        sent = metric_count(r, "ws_msgs_sent")
        sessions = metric_count(r, "ws_sessions")
        hs = r.metric("ws_tls_handshaking")
        note("wss 200 VUs: sessions %d (server %d), most open %d, sent %d, server received %d, "
             "received %d; TLS handshake med %.1f p95 %.1f ms", sessions, srv.sessions,
             srv.max_open, sent, srv.received, metric_count(r, "ws_msgs_received"), hs["med"],
             hs["p(95)"])
        check(not r.errors_by_kind(), "errors %s" % r.errors_by_kind())
        check(sessions >= 200 and sessions == srv.sessions, "herd sessions %d, server %d"
              % (sessions, srv.sessions))
        check(srv.max_open >= 180, "only %d sessions open at once" % srv.max_open)
        check(sent == 3 * sessions == srv.received == metric_count(r, "ws_msgs_received"),
              "sent %d, server received %d, received %d, sessions %d" % (
                  sent, srv.received, metric_count(r, "ws_msgs_received"), sessions))


def test_wss_missing_ca_file():
    """A tls.ca the controller cannot read is a plan error at its position
    (the file travels with the plan, so agents never look for it)."""
    r = run_herd(plan("https://127.0.0.1:%d" % free_port(), TLS_FLOW % free_port(),
                      top="tls: { ca: /nonexistent/herd-ca.pem }"), timeout=60)
    check(r.code == 104, "exit %d, want 104%s" % (r.code, r.tail()))
    check(re.search(r"plan\.yaml:\d+:\d+: cannot read '/nonexistent/herd-ca.pem': .*No such file",
                    r.stderr), "no position or reason given:%s" % r.tail())


def test_wss_unusable_ca_file():
    """A tls.ca that holds no certificate: the agent refuses the run before
    any load, with the reason."""
    r = run_herd(plan("https://127.0.0.1:%d" % free_port(), TLS_FLOW % free_port(),
                      top="tls: { ca: bad-ca.pem }"), timeout=60,
                 files={"bad-ca.pem": "this is not a certificate\n"})
    check(r.code == 103, "exit %d, want 103%s" % (r.code, r.tail()))
    check("tls.ca 'bad-ca.pem' cannot be used" in r.stderr, "no reason given:%s" % r.tail())


if __name__ == "__main__":
    main([test_echo_rtt_and_counts, test_handshake_rejected_403, test_not_websocket,
          test_connect_refused, test_server_closes, test_msgs_sent_counted_when_written,
          test_expect_timeout, test_big_fragmented,
          test_500_concurrent, test_2000_concurrent_sessions,
          test_distributed_across_local_agents, test_feeder_and_agent_in_ws_templates,
          test_wss_trusted_ca,
          test_wss_untrusted_cert_refused, test_wss_name_mismatch_refused,
          test_wss_insecure_skip_verify, test_wss_abnormal_closes,
          test_wss_msgs_sent_counted_when_written, test_wss_big_fragmented,
          test_wss_200_concurrent, test_wss_missing_ca_file, test_wss_unusable_ca_file])
