"""gRPC through the gateway (issue #14): a real client and server (python3-grpcio), the server
behind mTLS (it requires the gateway's mesh client certificate), HTTP/2 both sides.

Unary and server-streaming calls with trailers (grpc-status and custom trailing metadata) passed
end to end; a client deadline that expires; an upstream that cannot be reached answered as gRPC
UNAVAILABLE by the gateway itself (HTTP 200 + grpc-status 14 + grpc-message, not a bare 502).
"""

import socket
import threading
from concurrent import futures

import harness as h
from harness.proto import PROTO_HOST, proto_topology

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
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        channel = None
        try:
            t.proto_write({"grpc": (f"127.0.0.1:{port}", "h2"),
                           "dead": (f"127.0.0.1:{dead.getsockname()[1]}", "h2")},
                          [("/test.Echo/", "grpc"), ("/dead.Svc/", "dead")])
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

            try:
                channel.unary_unary("/test.Echo/Slow")(b"", timeout=0.5)
                h.check(False, "a call past its deadline succeeded")
            except grpc.RpcError as e:
                h.check(e.code() == grpc.StatusCode.DEADLINE_EXCEEDED,
                        f"expiring deadline: {e.code()} {e.details()}")
            release.set()

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
            dead.close()
