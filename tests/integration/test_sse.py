"""Server-sent events through the gateway without buffering (issue #14): the upstream sends one
event, then holds the rest of its (chunked) response until the client has seen that event, or
10 s have passed. The client must see the first event while the upstream still holds, over
HTTP/1.1 and HTTP/2.
"""

import subprocess
import threading

import harness as h
from harness.servers import Listener, read_head
from harness.proto import PROTO_HOST, proto_topology, server_ctx

HOLD_S = 10  # bound on the upstream's wait; reaching it means the first event was held back


class SseUpstream(Listener):
    def __init__(self, ctx):
        super().__init__(backlog=8)
        self.ctx = ctx
        self.seen = threading.Event()   # set by the test when the client got event 1
        self.held_out = []              # True when the upstream stopped waiting at HOLD_S
        self.start()

    @staticmethod
    def _chunk(data):
        return b"%x\r\n%s\r\n" % (len(data), data)

    def serve(self, conn):
        conn.settimeout(HOLD_S + 5)
        tls = self.ctx.wrap_socket(conn, server_side=True)
        if b"\r\n\r\n" not in read_head(tls):
            return
        tls.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"transfer-encoding: chunked\r\n\r\n" + self._chunk(b"data: one\n\n"))
        self.held_out.append(not self.seen.wait(HOLD_S))
        tls.sendall(self._chunk(b"data: two\n\n") + b"0\r\n\r\n")
        tls.close()


def _stream(t, up, http2):
    up.seen.clear()
    argv = ["curl", "-sS", "-N", "--max-time", str(HOLD_S + 10),
            "--http2" if http2 else "--http1.1",
            "--resolve", f"{PROTO_HOST}:{t.gw.port}:127.0.0.1", "--cacert", t.proto_ca_pem,
            f"https://{PROTO_HOST}:{t.gw.port}/events"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline()
    early = not up.held_out  # the upstream is still holding the rest of its response
    up.seen.set()
    rest = p.stdout.read()
    p.wait(timeout=HOLD_S + 15)
    what = "HTTP/2" if http2 else "HTTP/1.1"
    h.check(first == b"data: one\n", f"{what}: first line {first!r}")
    h.check(early and up.held_out == [False],
            f"{what}: the first event arrived only after the upstream finished")
    h.check(rest == b"\ndata: two\n\n", f"{what}: rest {rest!r}")
    up.held_out.clear()


def test_sse_first_event_before_upstream_finishes():
    with h.TestEnv("sse") as env:
        t = proto_topology(env, {}, [], start=False)
        up = SseUpstream(server_ctx(t))
        try:
            t.proto_write({"sse": (f"127.0.0.1:{up.port}", "http/1.1")}, [("/", "sse")])
            t.gw.start()
            _stream(t, up, http2=False)
            _stream(t, up, http2=True)
        finally:
            up.seen.set()
            up.stop()
