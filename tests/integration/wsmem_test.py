#!/usr/bin/env python3
"""An idle WebSocket session holds no wslay context (agent/ws.c): the context
is made when bytes arrive or a send, ping or close is due, and freed when
wslay holds nothing. These tests run herd against a real python3-websockets
server (ws_test's WsServer, with paths of this suite's own) and check that
everything a released context must not lose still works:

- server pushes after the session idled, with herd's pings in between, and
  herd's sends after a think (each one on a new context);
- a fragmented message with a ping between its fragments, and a frame cut
  inside its header and its 16-bit length, each piece in its own read;
- a close from the server while the session idles in a long hold;
- and the memory: the agent's RSS grows by less than a wslay context
  (8.8 KB) per idle session, as it could not if each session kept one.

Every check is against what the server logged (message contents, counts,
close codes) or herd's own summary.

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/wsmem_test.py [-k NAME]
"""

import asyncio
import os
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import check, main, note, run_herd  # noqa: E402
from ws_test import WsServer, _owner, expect_ok, metric_count, plan, raise_nofile  # noqa: E402

IDLE_S = 1.0     # how long the server leaves a session idle before it acts
PIECE_S = 0.15   # between the pieces of /split, so that each is its own read
VUS = 12
SANITIZED = "ASAN_OPTIONS" in os.environ
WSLAY_CTX_KB = 8.8  # wslay's event context with its frame context (bench/README.md)


def frame(fin, opcode, payload):
    """One unmasked frame as a server sends it (RFC 6455 section 5.2)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


def split_stream(vu):
    """/split's bytes and where to cut them. Message 1 is JSON in three
    fragments (text, continuation of 300 bytes, final continuation) with a
    ping between the first two; message 2 is one 16-bit-length frame. Cuts
    fall inside headers, inside the 16-bit lengths and inside payloads."""
    doc = ('{"a":"frag-a","pad":"%s","vu":"%s"}' % ("b" * 300, vu)).encode()
    parts = [doc[:10], doc[10:310], doc[310:]]
    f1 = frame(0, 1, parts[0])
    ping = frame(1, 9, b"p")
    f2 = frame(0, 0, parts[1])
    f3 = frame(1, 0, parts[2])
    second = frame(1, 1, ('{"second":"%s","pad":"%s"}' % (vu, "c" * 200)).encode())
    stream = f1 + ping + f2 + f3 + second
    o2 = len(f1) + len(ping)
    o4 = o2 + len(f2) + len(f3)
    cuts = [1,                  # after the first header byte
            len(f1) + 1,        # inside the ping's header
            o2 + 3,             # inside the continuation's 16-bit length
            o2 + 40,            # inside its payload
            o2 + len(f2) + 1,   # inside the final fragment's header
            o4 + 1,             # inside message 2's header
            o4 + 3,             # inside its 16-bit length
            o4 + 100]           # inside its payload
    return stream, cuts


class IdleServer(WsServer):
    """WsServer with /push, /split, /idleclose and /idle (see the tests).
    log: (path kind, the session's vu= from its URL, text) of every data
    message received; close_codes: the code of each client close frame the
    server received."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.log = []
        self.close_codes = []
        self.agent_pid = None

    def _record(self, kind, vu, msg):
        with self.lock:
            self.log.append((kind, vu, msg))

    async def _behave(self, ws, path):
        vu = path.partition("vu=")[2]
        if path.startswith("/push"):
            await asyncio.sleep(IDLE_S)
            await ws.send("push-1 vu=%s" % vu)
            await asyncio.sleep(IDLE_S)
            await ws.send("push-2 vu=%s" % vu)
            async for msg in ws:
                self._record("push", vu, msg)
                await ws.send("ok " + msg)
        elif path.startswith("/split"):
            stream, cuts = split_stream(vu)
            prev = 0
            for c in cuts + [len(stream)]:
                ws.transport.write(stream[prev:c])
                prev = c
                await asyncio.sleep(PIECE_S)
            async for msg in ws:
                self._record("split", vu, msg)
                await ws.send("ok " + msg)
        elif path.startswith("/idleclose"):
            await asyncio.sleep(IDLE_S)
            await ws.close(1000, "idle-bye")
        elif path.startswith("/idle"):
            if self.agent_pid is None:
                self.agent_pid = _owner(ws.remote_address[1], self.port)
            async for msg in ws:
                self._record("idle", vu, msg)
        else:
            await super()._behave(ws, path)
        with self.lock:
            self.close_codes.append(ws.close_code)

    def open_now(self):
        with self.lock:
            return self._open


def one_per_vu(log, kind, word):
    """Checks that the server logged, for kind, exactly one message per VU,
    reading `word VU` with the VU of the session's own URL."""
    got = [(vu, m) for k, vu, m in log if k == kind]
    check(len(got) == VUS and len({vu for vu, _ in got}) == VUS,
          "%s: the server logged %d messages from %d VUs, want %d from %d: %s"
          % (kind, len(got), len({vu for vu, _ in got}), VUS, VUS, got))
    bad = [(vu, m) for vu, m in got if m != "%s %s" % (word, vu)]
    check(not bad, "%s: messages not from their own session's VU: %s" % (kind, bad))


def run_sessions(srv, path, steps, ping=None):
    """Runs VUS VUs, one session each to path?vu=VU with the session steps
    given (YAML lines at the session's indentation)."""
    return run_herd(plan(srv.url, """
executor: per-vu-iterations
vus: %d
iterations: 1
flow:
  - ws: %s?vu={{ __VU }}
%s    session:
%s""" % (VUS, path, "    ping: %s\n" % ping if ping else "", steps)), timeout=60)


def check_exchange(r, srv, kind, word):
    """Checks a run of run_sessions in which each session received 2 messages
    from the server, sent `word VU` and received its answer, then closed
    with 1000: no errors, the server's log, herd's counts, the close codes."""
    expect_ok(r)
    sent, got = metric_count(r, "ws_msgs_sent"), metric_count(r, "ws_msgs_received")
    note("%s: server log %d messages; herd sent %d received %d; close codes %s", kind,
         len(srv.log), sent, got, sorted(set(srv.close_codes)))
    check(not r.errors_by_kind(), "errors: %s" % r.errors_by_kind())
    one_per_vu(srv.log, kind, word)
    check(sent == VUS, "ws_msgs_sent %d, want %d" % (sent, VUS))
    check(got == 3 * VUS, "ws_msgs_received %d, want %d" % (got, 3 * VUS))
    check(srv.close_codes == [1000] * VUS, "close codes %s" % srv.close_codes)


def test_push_after_idle():
    """Each session waits (context released) for two pushes the server sends
    after idling, pinging every 300 ms meanwhile, thinks, then sends an ack
    (a new context to send it): the server logged exactly one ack per VU
    with the VU's own number, each pushed message was received once, and
    every session closed with 1000."""
    with IdleServer() as srv:
        r = run_sessions(srv, "/push", """\
      - expect: { contains: 'push-1 vu={{ __VU }}', within: 10s }
      - expect: { contains: 'push-2 vu={{ __VU }}', within: 10s }
      - think: 700ms
      - send: 'ack {{ __VU }}'
      - expect: { contains: 'ok ack {{ __VU }}', within: 10s }
      - close: 1000
""", ping="300ms")
        check_exchange(r, srv, "push", "ack")


def test_split_frames_and_fragments():
    """The server writes a fragmented JSON message (a ping between its
    fragments) and a 16-bit-length frame in 9 pieces, PIECE_S apart, cut
    inside headers, lengths and payloads. herd's expects parse both as JSON
    and match the VU's number (one wrong byte fails them), then it sends
    'got': the server logged one per VU, and herd received 2 + 1 messages
    per session."""
    with IdleServer() as srv:
        r = run_sessions(srv, "/split", """\
      - expect: { json: { path: "$.vu", equals: "{{ __VU }}" }, within: 10s }
      - expect: { json: { path: "$.second", equals: "{{ __VU }}" }, within: 10s }
      - send: 'got {{ __VU }}'
      - expect: { contains: 'ok got {{ __VU }}', within: 10s }
      - close: 1000
""")
        check_exchange(r, srv, "split", "got")


def test_server_close_while_idle():
    """The server closes (1000) each session IDLE_S after it opened, while
    herd holds it for 20 s with no context: herd answers the close (the
    server received 1000 from every session), every session ends without an
    error, and none lasted anywhere near the hold."""
    with IdleServer() as srv:
        r = run_sessions(srv, "/idleclose", """\
      - hold: 20s
      - close: 1000
""")
        expect_ok(r)
        dur = r.metric("ws_session_duration")
        note("idleclose: sessions %d; durations min %.0f max %.0f ms; close codes %s",
             metric_count(r, "ws_sessions"), dur["min"], dur["max"], srv.close_codes)
        check(not r.errors_by_kind(), "errors: %s" % r.errors_by_kind())
        check(metric_count(r, "ws_sessions") == VUS, "ws_sessions %d" % metric_count(r, "ws_sessions"))
        check(srv.close_codes == [1000] * VUS, "close codes the server received: %s"
              % srv.close_codes)
        check(dur["max"] < 10000, "a session lasted %.0f ms: the close did not end it" % dur["max"])


def idle_rss(n, hold_s):
    """Runs n VUs that each hold one session hold_s seconds; returns the
    agent's RSS (kB) sampled at least 1 s after the server saw all n open."""
    with IdleServer(backlog=4096) as srv:
        samples = []
        stop = threading.Event()

        def sample():
            full_since = None
            while not stop.wait(0.25):
                pid = srv.agent_pid
                if pid is None or srv.open_now() < n:
                    if full_since is not None:
                        return  # sessions closing
                    continue
                full_since = full_since or time.monotonic()
                if time.monotonic() - full_since < 1.0:
                    continue
                try:
                    with open("/proc/%d/status" % pid) as f:
                        kb = [int(x.split()[1]) for x in f if x.startswith("VmRSS:")]
                except OSError:
                    return
                samples.extend(kb)

        t = threading.Thread(target=sample, daemon=True)
        t.start()
        r = run_herd(plan(srv.url, """
executor: per-vu-iterations
vus: %d
iterations: 1
flow:
  - ws: /idle?vu={{ __VU }}
    session:
      - hold: %ds
      - close: 1000
""" % (n, hold_s)), "--workers", "1", "--local-agents", "1", timeout=90)
        stop.set()
        t.join(5)
        expect_ok(r)
        check(not r.errors_by_kind(), "errors: %s" % r.errors_by_kind())
        check(samples, "no RSS sample with all %d sessions open (server saw %d at most)"
              % (n, srv.max_open))
        return samples[-1]


def test_idle_memory():
    """The agent's RSS at 1,100 idle sessions less that at 100, over the
    1,000 added: under a wslay context's 8.8 KB, which every session would
    add if idle ones kept theirs (they did: 14 KB each)."""
    lo, hi = 100, 1100
    if raise_nofile(hi + 300) is None:
        note("SKIP test_idle_memory: the open-file hard limit is below %d", hi + 300)
        return
    rss_lo = idle_rss(lo, 6)
    rss_hi = idle_rss(hi, 8)
    per = (rss_hi - rss_lo) / (hi - lo)
    note("idle memory: %d kB at %d sessions, %d kB at %d: %.2f KB per session", rss_lo, lo,
         rss_hi, hi, per)
    if SANITIZED:
        note("idle memory: not checked under the sanitizers")
        return
    check(per < WSLAY_CTX_KB, "%.2f KB per idle session: idle sessions keep a wslay context" % per)


if __name__ == "__main__":
    main([test_push_after_idle, test_split_frames_and_fragments, test_server_close_while_idle,
          test_idle_memory])
