"""WebSocket through the gateway (issue #14): real clients to a real WebSocket server behind mTLS
(python3-websockets; it requires the gateway's mesh client certificate).

- HTTP/1.1: python3-websockets as the client. HTTP/2: RFC 8441 extended CONNECT from python3-h2
  with hand-made RFC 6455 frames (H2WebSocket below; no Debian package speaks it). Each echoes a
  1 MiB message and 200 small ones; the close is logged once with the bytes each way.
- A route with `websocket = false` answers 403, another :protocol 501, and past
  [limits] tenant_upgraded_connections the handshake gets 503.
- Open WebSockets survive a reload (SIGHUP); at shutdown (SIGTERM) both sides get a clean
  WebSocket close 1001 "going away".
One gateway per test function.
"""

import asyncio
import os
import signal
import socket
import ssl
import struct
import threading
import time

import harness as h
from harness.proto import PROTO_HOST, proto_topology, server_ctx

try:
    import websockets
except ImportError:  # python3-websockets (packaging/install-deps.sh)
    websockets = None
try:
    import h2.config
    import h2.connection
    import h2.events
    import h2.settings
except ImportError:  # python3-h2
    h2 = None

BIG = 1 << 20
SMALL = 200


class H2WebSocket:
    """A WebSocket over one HTTP/2 stream (RFC 8441 extended CONNECT), driven by python3-h2 with
    hand-made RFC 6455 frames (client frames masked). No Debian package speaks this."""

    def __init__(self, t, path, protocol="websocket"):
        ctx = ssl.create_default_context(cafile=t.proto_ca_pem)
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection(("127.0.0.1", t.gw.port), timeout=10)
        self.sock = ctx.wrap_socket(raw, server_hostname=PROTO_HOST)
        h.check(self.sock.selected_alpn_protocol() == "h2", "ALPN h2 not chosen")
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
        self.conn.increment_flow_control_window(1 << 24)
        self.flush()
        self.settings_seen = False
        self.status = None
        self.ended = False   # the gateway ended the stream (END_STREAM or RST_STREAM)
        self.reset = False
        self.goaway = False
        self.raw = b""       # HTTP/2 bytes not yet a whole frame
        self.rx = b""        # WebSocket bytes from the gateway, not yet parsed
        self.out = b""       # WebSocket bytes to send, waiting for window
        self.pump_until(lambda: self.settings_seen, "the gateway's SETTINGS")
        self.sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(self.sid, [
            (":method", "CONNECT"), (":protocol", protocol), (":scheme", "https"),
            (":authority", PROTO_HOST), (":path", path), ("sec-websocket-version", "13")])
        self.flush()
        self.pump_until(lambda: self.status is not None or self.ended, "the CONNECT's answer")

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def _events(self, events):
        for ev in events:
            if isinstance(ev, h2.events.RemoteSettingsChanged):
                self.settings_seen = True
            elif isinstance(ev, h2.events.ResponseReceived):
                self.status = int(dict(ev.headers)[":status"])
            elif isinstance(ev, h2.events.DataReceived):
                self.rx += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                self.ended = True
            elif isinstance(ev, h2.events.StreamReset):
                self.ended = self.reset = True

    def _send_some(self):
        while self.out and not self.ended:
            room = min(self.conn.local_flow_control_window(self.sid),
                       self.conn.max_outbound_frame_size, len(self.out))
            if room <= 0:
                return
            self.conn.send_data(self.sid, self.out[:room])
            self.out = self.out[room:]

    def pump_until(self, done, what, timeout=20):
        deadline = time.monotonic() + timeout
        while not done():
            h.check(time.monotonic() < deadline, f"timed out waiting for {what}")
            self._send_some()
            self.flush()
            self.sock.settimeout(0.2)
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            if not data:
                h.check(done(), f"connection closed while waiting for {what}")
                return
            self._events(self.conn.receive_data(self._without_goaway(data)))
            self.flush()

    def _without_goaway(self, data):
        """Whole frames of data, GOAWAY left out (noted in self.goaway): python-h2 closes its
        connection state on a GOAWAY and then refuses the DATA of streams still open, which
        RFC 9113 6.8 allows to finish."""
        self.raw += data
        out = b""
        while len(self.raw) >= 9:
            n = 9 + int.from_bytes(self.raw[:3], "big")
            if len(self.raw) < n:
                break
            frame, self.raw = self.raw[:n], self.raw[n:]
            if frame[3] == 0x7:
                self.goaway = True
            else:
                out += frame
        return out

    def send(self, payload, opcode=None):
        """Queues one masked client frame (text for str, binary for bytes)."""
        if isinstance(payload, str):
            payload, op = payload.encode(), 0x1
        else:
            op = 0x2
        op = opcode if opcode is not None else op
        n = len(payload)
        head = bytes([0x80 | op])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = (int.from_bytes(payload, "big") ^
                  int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
        self.out += head + mask + masked

    def _frame(self):
        """(opcode, payload) of the first complete server frame in rx, or None."""
        if len(self.rx) < 2:
            return None
        b0, b1 = self.rx[0], self.rx[1]
        h.check(not b1 & 0x80, "a server frame came masked")
        n, at = b1 & 0x7f, 2
        if n == 126:
            if len(self.rx) < 4:
                return None
            n, at = struct.unpack("!H", self.rx[2:4])[0], 4
        elif n == 127:
            if len(self.rx) < 10:
                return None
            n, at = struct.unpack("!Q", self.rx[2:10])[0], 10
        if len(self.rx) < at + n:
            return None
        h.check(b0 & 0x80, "fragmented server frame (not expected from the echo server)")
        payload, self.rx = self.rx[at:at + n], self.rx[at + n:]
        return b0 & 0x0f, payload

    def recv(self, what="a message"):
        """The next complete server frame as (opcode, payload); None when the stream ended."""
        box = []

        def ready():
            if not box:
                f = self._frame()
                if f is not None:
                    box.append(f)
            return bool(box) or self.ended

        self.pump_until(ready, what)
        return box[0] if box else None

    def close(self):
        self.sock.close()


class EchoServer:
    """A websockets echo server on its own thread and event loop."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = None
        self.paths = []
        self.close_codes = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        h.check(self.ready.wait(10), "websocket server did not start")

    async def _echo(self, ws, path=None):
        self.paths.append(path if path is not None else ws.path)
        try:
            async for msg in ws:
                await ws.send(msg)
        finally:
            self.close_codes.append(ws.close_code)  # what the gateway's side sent

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def main():
            self.stop_fut = self.loop.create_future()
            async with websockets.serve(self._echo, "127.0.0.1", 0, ssl=self.ctx,
                                        max_size=None) as server:
                self.port = server.sockets[0].getsockname()[1]
                self.ready.set()
                await self.stop_fut

        self.loop.run_until_complete(main())

    def stop(self):
        self.loop.call_soon_threadsafe(
            lambda: self.stop_fut.done() or self.stop_fut.set_result(None))
        self.thread.join(timeout=5)


def _client_ctx(t):
    ctx = ssl.create_default_context(cafile=t.proto_ca_pem)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


async def _echo_session(t):
    uri = f"wss://{PROTO_HOST}:{t.gw.port}/ws/echo"
    async with websockets.connect(uri, ssl=_client_ctx(t), host="127.0.0.1", port=t.gw.port,
                                  server_hostname=PROTO_HOST, max_size=None,
                                  open_timeout=10, close_timeout=5) as ws:
        big = os.urandom(BIG)
        await ws.send(big)
        got = await asyncio.wait_for(ws.recv(), 20)
        h.check(got == big, f"1 MiB message came back as {len(got)} bytes, not equal")
        for i in range(SMALL):
            await ws.send(f"small {i}")
        for i in range(SMALL):
            got = await asyncio.wait_for(ws.recv(), 10)
            h.check(got == f"small {i}", f"small message {i} came back as {got!r}")


def _skip_unless_clients():
    if websockets is None:
        raise h.Skip("python3-websockets is not installed")
    if h2 is None:
        raise h.Skip("python3-h2 is not installed")


def _h2_echo(t, path):
    ws = H2WebSocket(t, path)
    try:
        h.check(ws.status == 200, f"extended CONNECT answered {ws.status}, want 200")
        big = os.urandom(BIG)
        ws.send(big)
        got = ws.recv("the 1 MiB echo")
        h.check(got == (0x2, big), "1 MiB message did not come back equal over HTTP/2")
        for i in range(SMALL):
            ws.send(f"small {i}")
        for i in range(SMALL):
            got = ws.recv(f"small echo {i}")
            h.check(got == (0x1, f"small {i}".encode()), f"small message {i} came back as {got}")
        ws.send(struct.pack("!H", 1000), opcode=0x8)
        got = ws.recv("the close frame")
        h.check(got is not None and got[0] == 0x8, f"close answered with {got}")
        ws.conn.end_stream(ws.sid)
        ws.pump_until(lambda: ws.ended, "the end of the stream")
    finally:
        ws.close()


def _metric(t, name, labels):
    _, body = t.gw.admin_get("/metrics")
    for line in body.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_websocket_over_http1_and_http2_route_switch_and_tenant_limit():
    _skip_unless_clients()
    with h.TestEnv("ws") as env:
        t = proto_topology(env, {}, [], start=False,
                           extra_gateway_toml="[limits]\ntenant_upgraded_connections = 2\n")
        server = EchoServer(server_ctx(t))
        try:
            t.proto_write({"ws": (f"127.0.0.1:{server.port}", "http/1.1")},
                          [("/ws/", "ws"), ("/nows/", "ws")], {"/nows/": "websocket = false\n"})
            t.gw.start()
            asyncio.run(_echo_session(t))
            _h2_echo(t, "/ws/h2")
            h.check(server.paths == ["/ws/echo", "/ws/h2"], f"server saw {server.paths}")
            for path, want in (("/ws/echo", 101), ("/ws/h2", 200)):
                lines = t.gw.wait_access(lambda e, p=path: e.get("path") == p,
                                         f"the access line of {path}")
                e = lines[0]
                print(f"  {path}: status {e.get('status')} in {e.get('bytes_in')} "
                      f"out {e.get('bytes_out')} reason {e.get('reason')}")
                h.check(len(lines) == 1 and e.get("status") == want, f"access line {e}")
                h.check(e.get("bytes_in", 0) > BIG and e.get("bytes_out", 0) > BIG,
                        f"bytes each way {e.get('bytes_in')} / {e.get('bytes_out')}, want > 1 MiB")

            # websocket = false on the route: 403 on both protocols; another :protocol is 501
            async def refused_h1():
                try:
                    async with websockets.connect(
                            f"wss://{PROTO_HOST}:{t.gw.port}/nows/x", ssl=_client_ctx(t),
                            host="127.0.0.1", port=t.gw.port, server_hostname=PROTO_HOST,
                            open_timeout=10):
                        return 101
                except websockets.exceptions.InvalidStatusCode as e:
                    return e.status_code
            got = asyncio.run(refused_h1())
            h.check(got == 403, f"HTTP/1.1 WebSocket on a websocket = false route: {got}")
            for path, protocol, want in (("/nows/x", "websocket", 403), ("/ws/x", "foo", 501)):
                ws = H2WebSocket(t, path, protocol=protocol)
                ws.close()
                h.check(ws.status == want, f"CONNECT {protocol} {path}: {ws.status}, want {want}")
            # an HTTP/1.1 upgrade to anything but WebSocket: 501
            raw = ssl.create_default_context(cafile=t.proto_ca_pem).wrap_socket(
                socket.create_connection(("127.0.0.1", t.gw.port), timeout=10),
                server_hostname=PROTO_HOST)
            with raw:
                raw.sendall(f"GET /ws/x HTTP/1.1\r\nHost: {PROTO_HOST}\r\nConnection: Upgrade, "
                            "HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__"
                            "\r\n\r\n".encode())
                status_line = raw.recv(4096).split(b"\r\n", 1)[0]
            h.check(status_line == b"HTTP/1.1 501 Not Implemented", f"h2c upgrade: {status_line}")
            h.check(server.paths == ["/ws/echo", "/ws/h2"], f"a refused one went on: {server.paths}")
            h.wait_for(lambda: len([e for e in t.gw.access_log()
                                    if e.get("reason") == "upgrade_refused"]) == 4, 5,
                       "four upgrade_refused access lines (403, 403, 501, 501)")

            # tenant_upgraded_connections = 2: a third open WebSocket of the tenant gets 503
            a, b = H2WebSocket(t, "/ws/a"), H2WebSocket(t, "/ws/b")
            c = H2WebSocket(t, "/ws/c")
            c.close()
            h.check((a.status, b.status, c.status) == (200, 200, 503),
                    f"three WebSockets against a cap of 2: {a.status} {b.status} {c.status}")
            h.check(_metric(t, "portcullis_rejections_total",
                            {"reason": "upgraded_connection_limit"}) == 1,
                    "portcullis_rejections_total{reason=upgraded_connection_limit} is not 1")
            a.conn.reset_stream(a.sid)
            a.flush()
            a.close()
            t.gw.wait_access(lambda e: e.get("path") == "/ws/a", "the access line of /ws/a")
            d = H2WebSocket(t, "/ws/d")  # the closed one gave its slot back
            h.check(d.status == 200, f"a WebSocket after one closed: {d.status}")
            b.close()
            d.close()
        finally:
            server.stop()


def test_websocket_across_reload_and_drain():
    _skip_unless_clients()
    with h.TestEnv("ws") as env:
        t = proto_topology(env, {}, [], start=False)
        toml = t.gw.gateway_toml
        t.gw.gateway_toml = lambda: toml().replace('drain_timeout = "5s"', 'drain_timeout = "2s"')
        server = EchoServer(server_ctx(t))
        try:
            t.proto_write({"ws": (f"127.0.0.1:{server.port}", "http/1.1")}, [("/ws/", "ws")])
            t.gw.start()
            asyncio.run(_reload_and_drain(t))
            code = t.gw.proc.wait(10)
            h.check(code == 0, f"exit {code} after the drain: " + t.gw.proc.describe())
            # the upstream saw the gateway's close 1001 on both, not a cut (1006)
            h.check(sorted(server.close_codes) == [1001, 1001],
                    f"close codes the WebSocket server got: {server.close_codes}")
            lines = [e for e in t.gw.access_log() if e.get("path") in ("/ws/h1", "/ws/h2")]
            h.check(len(lines) == 2 and all(e.get("reason") == "draining" for e in lines),
                    f"access lines of the drained WebSockets: {lines}")
        finally:
            server.stop()


async def _reload_and_drain(t):
    uri = f"wss://{PROTO_HOST}:{t.gw.port}/ws/h1"
    async with websockets.connect(uri, ssl=_client_ctx(t), host="127.0.0.1", port=t.gw.port,
                                  server_hostname=PROTO_HOST, open_timeout=10,
                                  close_timeout=5) as ws1:
        ws2 = H2WebSocket(t, "/ws/h2")
        try:
            h.check(ws2.status == 200, f"extended CONNECT answered {ws2.status}")

            async def echo(word):
                await ws1.send(word)
                got = await asyncio.wait_for(ws1.recv(), 10)
                h.check(got == word, f"HTTP/1.1 WebSocket echoed {got!r}, want {word!r}")
                ws2.send(word)
                got = ws2.recv(f"the HTTP/2 echo of {word}")
                h.check(got == (0x1, word.encode()), f"HTTP/2 WebSocket echoed {got}")

            await echo("before reload")
            before = len(t.gw.audit_log())
            t.gw.proc.send_signal(signal.SIGHUP)
            h.wait_for(lambda: [e for e in t.gw.audit_log()[before:]
                                if e.get("event") == "config_reload"], 10, "config_reload audit")
            await echo("after reload")

            t.gw.proc.expected_exit = True
            t.gw.proc.send_signal(signal.SIGTERM)
            # HTTP/1.1: the close frame the upstream answered the gateway's 1001 with
            try:
                got = await asyncio.wait_for(ws1.recv(), 10)
                h.check(False, f"a message instead of the close: {got!r}")
            except websockets.exceptions.ConnectionClosed:
                pass
            h.check(ws1.close_code == 1001, f"HTTP/1.1 WebSocket closed with {ws1.close_code}")
            # HTTP/2: the same close frame, then the end of the stream
            got = ws2.recv("the close frame over HTTP/2")
            h.check(got is not None and got[0] == 0x8 and got[1][:2] == struct.pack("!H", 1001),
                    f"HTTP/2 WebSocket got {got} instead of a close 1001")
            ws2.conn.end_stream(ws2.sid)
            ws2.pump_until(lambda: ws2.ended, "the end of the HTTP/2 WebSocket stream")
            h.check(not ws2.reset, "the HTTP/2 WebSocket stream was reset, not ended")
        finally:
            ws2.close()
