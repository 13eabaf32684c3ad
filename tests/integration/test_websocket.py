"""WebSocket through the gateway (issue #14): a real client (python3-websockets) over HTTP/1.1
to a real WebSocket server behind mTLS (it requires the gateway's mesh client certificate).

One gateway for the file. The echo carries a 1 MiB message and 200 small ones; the close is
logged once with status 101 and the bytes each way.
"""

import asyncio
import os
import ssl
import threading

import harness as h
from harness.proto import PROTO_HOST, proto_topology, server_ctx

try:
    import websockets
except ImportError:  # python3-websockets (packaging/install-deps.sh)
    websockets = None

BIG = 1 << 20
SMALL = 200


class EchoServer:
    """A websockets echo server on its own thread and event loop."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = None
        self.paths = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        h.check(self.ready.wait(10), "websocket server did not start")

    async def _echo(self, ws, path=None):
        self.paths.append(path if path is not None else ws.path)
        async for msg in ws:
            await ws.send(msg)

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


def test_websocket_echo_over_http1():
    if websockets is None:
        raise h.Skip("python3-websockets is not installed")
    with h.TestEnv("ws") as env:
        t = proto_topology(env, {}, [], start=False)
        server = EchoServer(server_ctx(t))
        try:
            t.proto_write({"ws": (f"127.0.0.1:{server.port}", "http/1.1")}, [("/ws/", "ws")])
            t.gw.start()
            asyncio.run(_echo_session(t))
            h.check(server.paths == ["/ws/echo"], f"server saw {server.paths}")
            lines = t.gw.wait_access(lambda e: e.get("path") == "/ws/echo",
                                     "the WebSocket's access line")
            e = lines[0]
            print(f"  websocket access line: status {e.get('status')} in {e.get('bytes_in')} "
                  f"out {e.get('bytes_out')} reason {e.get('reason')}")
            h.check(len(lines) == 1 and e.get("status") == 101, f"access line {e}")
            h.check(e.get("bytes_in", 0) > BIG and e.get("bytes_out", 0) > BIG,
                    f"bytes each way {e.get('bytes_in')} / {e.get('bytes_out')}, want > 1 MiB")
        finally:
            server.stop()
