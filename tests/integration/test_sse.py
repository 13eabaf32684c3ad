"""Server-sent events through the gateway without buffering (issue #14): the upstream sends one
event, then holds the rest of its (chunked) response until the client has seen that event, or
10 s have passed. The client must see the first event while the upstream still holds, over
HTTP/1.1 and HTTP/2.
"""

import socket
import ssl
import subprocess
import threading

import harness as h
from harness.proto import PROTO_HOST, proto_topology, server_ctx

HOLD_S = 10  # bound on the upstream's wait; reaching it means the first event was held back


class SseUpstream:
    def __init__(self, ctx):
        self.ctx = ctx
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.seen = threading.Event()   # set by the test when the client got event 1
        self.held_out = []              # True when the upstream stopped waiting at HOLD_S
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop_ev.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _chunk(data):
        return b"%x\r\n%s\r\n" % (len(data), data)

    def _serve(self, conn):
        try:
            conn.settimeout(HOLD_S + 5)
            tls = self.ctx.wrap_socket(conn, server_side=True)
            buf = b""
            for _ in range(1000):
                if b"\r\n\r\n" in buf:
                    break
                data = tls.recv(65536)
                if not data:
                    return
                buf += data
            tls.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                        b"transfer-encoding: chunked\r\n\r\n" + self._chunk(b"data: one\n\n"))
            self.held_out.append(not self.seen.wait(HOLD_S))
            tls.sendall(self._chunk(b"data: two\n\n") + b"0\r\n\r\n")
            tls.close()
        except (OSError, ssl.SSLError):
            conn.close()

    def stop(self):
        self.stop_ev.set()
        self.thread.join(timeout=2)
        self.sock.close()


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
