#!/usr/bin/env python3
"""herd's WebSocket driver against a real WebSocket server that is not herd's
code: Debian's python3-websockets (10.4, asyncio API), run by this test on a
free 127.0.0.1 port in a thread, counting what it receives. Covers message
round-trip time, counts cross-checked with the server, handshake rejection,
a server that is not WebSocket at all, server-initiated and abnormal closes,
pings, large fragmented messages and 500 concurrent sessions.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/ws_test.py [-k NAME]
"""

import asyncio
import http
import http.server
import os
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

from harness import check, free_port, main, near, note, run_herd  # noqa: E402

BIG = 1 << 20  # the large message: 1 MiB


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
    first message), /close4000, /abort (drop the TCP connection), /bigtext
    and /bigbin (send a 1 MiB message in 16 KiB fragments), /hold (count)."""

    def __init__(self):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.lock = threading.Lock()
        self.received = 0     # data messages received
        self.sessions = 0     # upgrades accepted
        self.rejected = 0
        self.max_open = 0
        self._open = 0
        self.protocols = set()
        self.delays = []      # /echo: seconds from a message to its echo written
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
        async with websockets.server.serve(self._handler, "127.0.0.1", self.port,
                                           process_request=self._reject,
                                           subprotocols=["chat.v1"], max_size=None,
                                           ping_interval=None, backlog=2048):
            self._ready.set()
            await self._stop

    async def _handler(self, ws, path):
        self._count("sessions")
        with self.lock:
            self._open += 1
            self.max_open = max(self.max_open, self._open)
            if ws.subprotocol:
                self.protocols.add(ws.subprotocol)
            self.headers.append((path, ws.request_headers.get("Authorization")))
        try:
            await self._behave(ws, path)
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            with self.lock:
                self._open -= 1

    async def _behave(self, ws, path):
        if path.startswith("/echo"):
            async for msg in ws:
                t0 = time.perf_counter()
                self._count("received")
                await precise_sleep(0.02)
                await ws.send(msg)
                self.delays.append(time.perf_counter() - t0)
        elif path.startswith("/close4000"):
            await ws.recv()
            self._count("received")
            await ws.close(4000, "bye")
        elif path.startswith("/close"):
            await ws.recv()
            self._count("received")
            await ws.close(1000, "done")
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


def plan(target, body, thresholds=None):
    out = ["name: wstest", "target: %s" % target, "scenarios:", "  s:"]
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


# ---------------------------------------------------------------------------


def test_echo_rtt_and_counts():
    """2 VUs loop send/expect against a 20 ms delayed echo (more VUs make the
    Python server itself late, by its own measure): ws_msg_rtt p50
    within 2% of 20 ms, and the server saw exactly ws_msgs_sent messages."""
    with WsServer() as srv:
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
        check(sessions > 10, "only %d sessions" % sessions)
        check(sent == srv.received, "herd ws_msgs_sent %d != server received %d"
              % (sent, srv.received))
        check(got == sent, "ws_msgs_received %d != ws_msgs_sent %d (every message echoed)"
              % (got, sent))
        check(rtt["count"] == sent if "count" in rtt else True, "rtt samples != sends")
        # The echo is due 20 ms after a message arrives; the Python server itself
        # is a little late (it measures how late), so herd's p50 must lie within
        # 2% of 20 ms of what the server really waited, and never below it.
        srv_med = d[len(d) // 2] * 1e3
        check(srv_med - 0.05 <= rtt["med"] <= srv_med + 0.02 * 20.0,
              "ws_msg_rtt p50 %.3f ms is not within 2%% of 20 ms of the server's own delay "
              "(median %.3f ms)" % (rtt["med"], srv_med))
        check(near(srv_med, 20.0, 0.02), "the test server's own delay %.3f ms is not 20 ms +- 2%%"
              % srv_med)
        check(not r.errors_by_kind(), "errors: %s" % r.errors_by_kind())
        check(srv.protocols == {"chat.v1"}, "subprotocols agreed: %s" % srv.protocols)
        check(all(a == "Bearer abc" for _, a in srv.headers), "Authorization header missing")
        check(any(p.startswith("/echo?vu=") and p[9:].isdigit() for p, _ in srv.headers),
              "URL template not rendered: %s" % srv.headers[:3])
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
        expect_ok(r)
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
        expect_ok(r)
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
    expect_ok(r)
    check(r.errors_by_kind().get("connect_refused") == 4, "errors %s" % r.errors_by_kind())


def test_server_closes():
    """Server-initiated close 1000 ends a hold cleanly; 4000 and a dropped
    TCP connection count as ws_closed_abnormally."""
    with WsServer() as srv:
        body = """
executor: per-vu-iterations
vus: 2
iterations: 3
flow:
  - ws: %s
    name: %s
    ping: 50ms
    session:
      - send: hi
      - hold: 5s
"""
        r = run_herd(plan(srv.url, body % ("/close", "c1000")), timeout=60)
        expect_ok(r)
        check(metric_count(r, "ws_sessions") == 6, "sessions %d" % metric_count(r, "ws_sessions"))
        check(not r.errors_by_kind(), "close 1000 counted as an error: %s" % r.errors_by_kind())
        check(r.metric("ws_session_duration")["max"] < 2000, "sessions did not end at the close")
        r = run_herd(plan(srv.url, body % ("/close4000", "c4000")), timeout=60)
        expect_ok(r)
        check(r.errors_by_kind().get("ws_closed_abnormally") == 6,
              "close 4000: %s" % r.errors_by_kind())
        r = run_herd(plan(srv.url, body % ("/abort", "abort")), timeout=60)
        expect_ok(r)
        check(r.errors_by_kind().get("ws_closed_abnormally") == 6,
              "abort: %s" % r.errors_by_kind())
        check(srv.received == 18, "server received %d, want 18" % srv.received)


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
        expect_ok(r)
        check(r.errors_by_kind().get("ws_expect_timeout") == 2, "errors %s" % r.errors_by_kind())
        d = r.metric("ws_session_duration")
        check(d["min"] >= 290 and d["max"] < 1500, "session durations %.1f..%.1f ms"
              % (d["min"], d["max"]))


def test_big_fragmented():
    """1 MiB messages sent by the server in 16 KiB fragments arrive whole:
    text (JSON parsed to its last field) and binary (its tail found)."""
    with WsServer() as srv:
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
"""), timeout=60)
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


if __name__ == "__main__":
    main([test_echo_rtt_and_counts, test_handshake_rejected_403, test_not_websocket,
          test_connect_refused, test_server_closes, test_expect_timeout, test_big_fragmented,
          test_500_concurrent])
