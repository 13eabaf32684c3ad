"""HTTP/2 answers that clients understand (issue #14, part 4).

- A request whose headers are over the limits gets a 431 response on HTTP/2, as on HTTP/1.1,
  not RST_STREAM (which tells the client the request was not processed: curl then retries it
  on new connections). curl -v must show one connection. curl 7.88's nghttp2 will not send a
  header block over 64 KiB at all (it fails the stream itself with REFUSED_STREAM and
  retries: the gateway never sees it), so curl sends ~40 KB to a gateway whose
  max_request_headers is 32 KiB, and a raw HTTP/2 client sends the 70 KB.
- An upstream that answers completely before the upload has ended: the answer reaches curl
  over HTTP/2 as a complete response (RST_STREAM NO_ERROR after it, RFC 9113 8.1).
"""

import os
import subprocess

from hyperframe import frame as hf

import harness as h
from harness import upstream as ru
from harness.h2 import H2Conn
from harness.servers import Listener, read_head
from harness.proto import PROTO_HOST, proto_topology, server_ctx

EARLY_BODY = b"early answer\n"


class EarlyAnswerUpstream(Listener):
    """TLS upstream (mesh client cert required) that answers 413 as soon as a request head has
    arrived, without reading the body, then closes."""

    def __init__(self, ctx):
        super().__init__(backlog=8)
        self.ctx = ctx
        self.start()

    def serve(self, conn):
        conn.settimeout(5)
        tls = self.ctx.wrap_socket(conn, server_side=True)
        if b"\r\n\r\n" not in read_head(tls):
            return
        tls.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: %d\r\n"
                    b"Connection: close\r\n\r\n" % len(EARLY_BODY) + EARLY_BODY)
        # a lingering close, as nginx does: read and drop what is still coming for a
        # while, so the kernel does not answer it with a TCP reset
        tls.settimeout(0.5)
        for _ in range(2000):
            if not tls.recv(65536):
                break
        tls.close()


LIMIT_32K = '\n[limits]\nmax_request_headers = "32KiB"\n'


def _raw_70k(t):
    """70 KB of header fields from a raw HTTP/2 client: 431, then the connection goes on."""
    c = H2Conn(t.gw.port)
    c.pump(0.3)
    big = [(f"x-big-{i}", "a" * 7000) for i in range(10)]
    block = c.block(c.request_headers("/big", extra=big), huffman=False)
    c.send(*c.split_headers_frames(1, block))
    c.wait(lambda f: isinstance(f, hf.DataFrame) and f.stream_id == 1
           and "END_STREAM" in f.flags, 5, "the 431 response on stream 1")
    h.check(c.status(1) == b"431", f"70 KB raw: status {c.status(1)}; {c.summary(3)}")
    c.send(c.headers_frame(3, c.block(c.request_headers("/after"))))
    c.wait(lambda f: isinstance(f, hf.HeadersFrame) and f.stream_id == 3, 5, "stream 3")
    h.check(c.status(3) == b"200", f"after the 431: stream 3 got {c.status(3)}")
    c.close()


def _curl_h2(t, path, extra, timeout=20, host=ru.HOSTILE_HOST, ca=None):
    argv = ["curl", "-v", "-sS", "--http2", "--max-time", str(timeout),
            "--resolve", f"{host}:{t.gw.port}:127.0.0.1",
            "--cacert", ca or t.hostile_ca_pem, "-o", "-", "-w", "\n%{http_code}", *extra,
            f"https://{host}:{t.gw.port}{path}"]
    return subprocess.run(argv, capture_output=True, timeout=timeout + 10, check=False)


def test_h2_oversized_headers_get_431_on_one_connection():
    with h.TestEnv("h2ans") as env:
        t = ru.hostile_topology(env, extra_gateway_toml=LIMIT_32K)
        try:
            mark = t.raw.mark()
            extra = []
            for i in range(10):  # ~40 KB of header fields, under curl's own 64 KiB bound
                extra += ["-H", f"x-big-{i}: " + "a" * 4000]
            r = _curl_h2(t, "/big", extra)
            out = r.stdout.decode("utf-8", "replace")
            err = r.stderr.decode("utf-8", "replace")
            status = out.rsplit("\n", 1)[-1]
            connects = sum(1 for line in err.splitlines() if line.startswith("*   Trying"))
            print(f"  70 KB headers over h2: curl rc {r.returncode}, status {status}, "
                  f"{connects} connect(s)")
            h.check(r.returncode == 0 and status == "431",
                    f"curl rc {r.returncode} status {status!r}, want 431: {err[-800:]}")
            h.check(connects == 1, f"curl connected {connects} times, want 1: {err[-800:]}")
            reqs, errs = t.raw.since(mark)
            h.check(not reqs and not errs, f"reached the upstream: {reqs!r} {errs!r}")
            # the same connection serves a normal request after the 431
            url = f"https://{ru.HOSTILE_HOST}:{t.gw.port}"
            r2 = _curl_h2(t, "/ok", [*extra, f"{url}/big", "--next", "--http2",
                                     "--cacert", t.hostile_ca_pem, "-o", "-",
                                     "-w", "\n%{http_code}", "--resolve",
                                     f"{ru.HOSTILE_HOST}:{t.gw.port}:127.0.0.1"])
            out2 = r2.stdout.decode("utf-8", "replace")
            err2 = r2.stderr.decode("utf-8", "replace")
            h.check(out2.endswith("\n200") and "431" in out2,
                    f"431 then 200 on one connection, got {out2[-200:]!r}: {err2[-600:]}")
            h.check("Re-using existing connection" in err2,
                    f"second request did not reuse the connection: {err2[-800:]}")
            _raw_70k(t)
            h.canary(t, http2=True)
        finally:
            t.raw.stop()


def test_h2_early_upstream_answer_reaches_curl_complete():
    with h.TestEnv("h2ans") as env:
        t = proto_topology(env, {}, [], start=False)
        early = EarlyAnswerUpstream(server_ctx(t))
        try:
            t.proto_write({"early": (f"127.0.0.1:{early.port}", "http/1.1")},
                          [("/", "early")])
            t.gw.start()
            blob = env.path("upload.bin")
            with open(blob, "wb") as f:
                f.write(os.urandom(4 * h.MIB))
            r = _curl_h2(t, "/up", ["-T", blob], host=PROTO_HOST, ca=t.proto_ca_pem)
            out = r.stdout.decode("utf-8", "replace")
            err = r.stderr.decode("utf-8", "replace")
            print(f"  early answer over h2: curl rc {r.returncode}, tail {out[-30:]!r}")
            h.check(r.returncode == 0, f"curl rc {r.returncode}, want 0: {err[-800:]}")
            h.check(out == EARLY_BODY.decode() + "\n413",
                    f"got {out[-200:]!r}, want the early 413 with its body")
        finally:
            early.stop()
