"""gRPC through the gateway (issue #14): a real client and server (python3-grpcio), the server
behind mTLS (it requires the gateway's mesh client certificate), HTTP/2 both sides.

Unary and server-streaming calls with trailers (grpc-status and custom trailing metadata) passed
end to end; a client deadline that expires; an upstream that cannot be reached answered as gRPC
UNAVAILABLE by the gateway itself (HTTP 200 + grpc-status 14 + grpc-message, not a bare 502).

grpc-timeout as the gateway's own deadline: a gRPC request (curl, which enforces no deadline of
its own) with grpc-timeout 300m to an upstream that holds its answer for HOLD_S, on a cluster
whose request_timeout is 30 s: the gateway answers grpc-status 4 itself, logs
grpc_deadline_exceeded, closes the upstream connection (HTTP/1.1 cannot cancel otherwise) and
forwarded the time left rather than the client's 300m.
"""

import socket
import ssl
import subprocess
import threading
import time
from concurrent import futures

import harness as h
from harness.servers import Listener, read_head
from harness.proto import PROTO_HOST, proto_topology, server_ctx

try:
    import grpc
except ImportError:  # python3-grpcio (packaging/install-deps.sh)
    grpc = None

STREAM_N = 5


def _handlers(release):
    def unary(req, ctx):
        ctx.set_trailing_metadata((("x-echo-trailer", "kept"),))
        return b"pong:" + req

    def stream(req, ctx):
        for i in range(STREAM_N):
            yield b"item %d" % i

    def slow(req, ctx):
        release.wait(10)  # bounded; set when the test is done with it
        return b"late"

    return grpc.method_handlers_generic_handler("test.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
    })


HOLD_S = 3  # the held upstream's answer time; the gateway's deadline must beat it


class HoldUpstream(Listener):
    """HTTP/1.1 over mTLS: reads one request head, records its grpc-timeout, then waits up to
    HOLD_S for the gateway to close the connection before answering grpc-status 0."""

    def __init__(self, ctx):
        super().__init__(backlog=4)
        self.ctx = ctx
        self.timeouts = []  # grpc-timeout values received
        self.cut = []       # True: the gateway closed the connection before HOLD_S
        self.start()

    def serve(self, conn):
        conn.settimeout(HOLD_S + 5)
        tls = self.ctx.wrap_socket(conn, server_side=True)
        buf = read_head(tls)
        if b"\r\n\r\n" not in buf:
            return
        for line in buf.split(b"\r\n"):
            if line.lower().startswith(b"grpc-timeout:"):
                self.timeouts.append(line.split(b":", 1)[1].strip().decode())
        tls.settimeout(HOLD_S)
        try:
            for _ in range(1000):  # the 5-byte message, then EOF when the gateway gives up
                if not tls.recv(65536):
                    self.cut.append(True)
                    return
        except (socket.timeout, ssl.SSLError, OSError):
            pass
        self.cut.append(False)
        tls.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\n"
                    b"grpc-status: 0\r\ncontent-length: 0\r\n\r\n")
        tls.close()


def _grpc_curl(t, path, timeout_value):
    """One unary gRPC request by curl over h2 (no client-side deadline); (elapsed s, -v text)."""
    argv = ["curl", "-sS", "-v", "--http2", "--max-time", str(HOLD_S + 10),
            "--resolve", f"{PROTO_HOST}:{t.gw.port}:127.0.0.1", "--cacert", t.proto_ca_pem,
            "-H", "content-type: application/grpc", "-H", "te: trailers",
            "-H", f"grpc-timeout: {timeout_value}", "--data-binary", "@-", "-o", "/dev/null",
            f"https://{PROTO_HOST}:{t.gw.port}{path}"]
    start = time.monotonic()
    p = subprocess.run(argv, input=b"\x00\x00\x00\x00\x00", capture_output=True,
                       timeout=HOLD_S + 20)
    return time.monotonic() - start, p.stderr.decode(errors="replace")


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def test_grpc_through_gateway():
    if grpc is None:
        raise h.Skip("python3-grpcio is not installed")
    with h.TestEnv("grpc") as env:
        t = proto_topology(env, {}, [], start=False)
        release = threading.Event()
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        server.add_generic_rpc_handlers((_handlers(release),))
        creds = grpc.ssl_server_credentials(
            [(_read(t.proto_upstream_key), _read(t.proto_upstream_cert))],
            root_certificates=_read(t.mesh_ca_pem), require_client_auth=True)
        port = server.add_secure_port("127.0.0.1:0", creds)
        server.start()
        hold = HoldUpstream(server_ctx(t))
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        channel = None
        try:
            t.proto_write({"grpc": (f"127.0.0.1:{port}", "h2"),
                           "dead": (f"127.0.0.1:{dead.getsockname()[1]}", "h2"),
                           "hold": (f"127.0.0.1:{hold.port}", "http/1.1")},
                          [("/test.Echo/", "grpc"), ("/dead.Svc/", "dead"),
                           ("/hold.Svc/", "hold")])
            t.gw.start()
            channel = grpc.secure_channel(
                f"127.0.0.1:{t.gw.port}",
                grpc.ssl_channel_credentials(root_certificates=_read(t.proto_ca_pem)),
                options=[("grpc.ssl_target_name_override", PROTO_HOST),
                         ("grpc.default_authority", PROTO_HOST)])

            unary = channel.unary_unary("/test.Echo/Unary")
            resp, call = unary.with_call(b"ping", timeout=10)
            h.check(resp == b"pong:ping", f"unary answer {resp!r}")
            trailers = dict(call.trailing_metadata())
            h.check(trailers.get("x-echo-trailer") == "kept",
                    f"trailing metadata not passed on: {trailers}")

            items = list(channel.unary_stream("/test.Echo/Stream")(b"", timeout=10))
            h.check(items == [b"item %d" % i for i in range(STREAM_N)],
                    f"server streaming got {items!r}")

            # A real client's deadline (grpcio enforces it too, so this alone proves little).
            start = time.monotonic()
            try:
                channel.unary_unary("/test.Echo/Slow")(b"", timeout=0.3)
                h.check(False, "a call past its deadline succeeded")
            except grpc.RpcError as e:
                h.check(e.code() == grpc.StatusCode.DEADLINE_EXCEEDED,
                        f"expiring deadline: {e.code()} {e.details()}")
            h.check(time.monotonic() - start < 10, "the deadline did not cut the call short")
            release.set()

            # The gateway's own deadline: curl keeps waiting, the route's timeout is 30 s.
            elapsed, text = _grpc_curl(t, "/hold.Svc/Call", "300m")
            print(f"  grpc-timeout 300m against a {HOLD_S} s upstream: {elapsed:.2f} s, "
                  f"upstream saw {hold.timeouts}")
            h.check("grpc-status: 4" in text and "grpc-message: deadline exceeded" in text,
                    f"no gateway-made DEADLINE_EXCEEDED:\n{text[-1500:]}")
            h.check(elapsed < 10, f"answered after {elapsed:.1f} s")
            t.gw.wait_access(lambda e: e.get("path") == "/hold.Svc/Call"
                             and e.get("reason") == "grpc_deadline_exceeded",
                             "reason grpc_deadline_exceeded")
            h.wait_for(lambda: hold.cut, 5, "the held upstream request ending")
            h.check(hold.cut == [True], "the gateway did not close the upstream request")
            h.check(len(hold.timeouts) == 1 and hold.timeouts[0] != "300m",
                    f"the upstream should get the time left, got {hold.timeouts}")

            try:
                channel.unary_unary("/dead.Svc/Call")(b"", timeout=10)
                h.check(False, "a call to an unreachable upstream succeeded")
            except grpc.RpcError as e:
                print(f"  unreachable upstream: {e.code()} {e.details()!r}")
                h.check(e.code() == grpc.StatusCode.UNAVAILABLE,
                        f"unreachable upstream: {e.code()} {e.details()}")
                h.check(e.details() == "upstream connect failed",
                        f"want the gateway's own grpc-message, got {e.details()!r}")
            # the channel still works after the errors
            h.check(unary(b"again", timeout=10) == b"pong:again", "unary after the errors")
        finally:
            release.set()
            if channel is not None:
                channel.close()
            server.stop(0)
            hold.stop()
            dead.close()
