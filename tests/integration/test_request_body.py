"""Request bodies: a local reply during an upload, and [limits] max_request_body (413).

One gateway (the protocols fixture, [limits] max_request_body = 3 MiB, tenant acme rate
limited to 1 request a second) and one upstream that records whether each request body it got
was complete.
- curl uploads 2 MiB (no Expect: it sends at once; chunked and with a length) to a path with no
  route (404) and to a rate limited host (429), over HTTP/1.1 and HTTP/2, a few rounds: it gets
  the status every time
  (the gateway used to close with the upload unread, so the kernel reset the connection and
  curl could lose the answer), and the access log names the reason;
- 4 MiB with Content-Length (HTTP/1.1, HTTP/2), with Expect: 100-continue (no 100 comes), and
  without a length (chunked / HTTP/2 DATA, the upstream already has the request): 413
  request_body_too_large, and no upstream ever sees a complete request; 1 MiB chunked passes.
"""

import subprocess

import harness as h
from harness.metrics import scrape_sum
from harness.proto import PROTO_HOST, proto_topology, server_ctx
from harness.servers import Listener, read_head
from harness.topology import ACME_HOST, tenant_ca_pem

MiB = 1024 * 1024
LIMIT = 3 * MiB
ROUNDS = 3
WRONG = "/wrong-identity/up"  # acme: an upstream with the wrong identity (502)


class BodyUpstream(Listener):
    """HTTP/1.1 over mTLS, one request per connection: reads the body (Content-Length or
    chunked, until its end or EOF), records (path, complete, bytes) and answers its length."""

    def __init__(self, ctx):
        super().__init__(backlog=8)
        self.ctx = ctx
        self.seen = []
        self.start()

    def serve(self, conn):
        conn.settimeout(10)
        tls = self.ctx.wrap_socket(conn, server_side=True)
        buf = read_head(tls)
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in
                  (ln.partition(b":") for ln in lines[1:])}
        chunked = fields.get(b"transfer-encoding", b"").lower() == b"chunked"
        length = int(fields.get(b"content-length", b"0"))

        def done():  # the body is x's only: the last chunk cannot appear inside it
            return body.endswith(b"0\r\n\r\n") if chunked else len(body) >= length
        try:
            for _ in range(100000):
                if done():
                    break
                data = tls.recv(65536)
                if not data:
                    break
                body += data
        except OSError:
            pass
        complete = done()
        self.seen.append((lines[0].split(b" ")[1].decode(), complete, len(body)))
        if complete:
            answer = str(len(body)).encode()
            tls.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s"
                        % (len(answer), answer))
        tls.close()


def _curl(host, port, ca, path, *, http2, upload=None, stdin=None, expect=""):
    """curl -T (a file, or "-" with stdin); returns (rc, statuses seen in order, stderr)."""
    argv = ["curl", "-sS", "-v", "-o", "/dev/null", "--http2" if http2 else "--http1.1",
            "--max-time", "30", "--expect100-timeout", "10", "-H", f"Expect: {expect}",
            "-T", upload or "-", "--resolve", f"{host}:{port}:127.0.0.1", "--cacert", ca,
            f"https://{host}:{port}{path}"]
    p = subprocess.run(argv, input=stdin, capture_output=True, timeout=60)
    text = p.stderr.decode(errors="replace")
    codes = [int(ln.split()[2]) for ln in text.splitlines() if ln.startswith("< HTTP/")]
    return p.returncode, codes, text


def _reasons(gw, status):
    return [e.get("reason") for e in gw.access_log() if e.get("status") == status]


def test_local_replies_and_max_request_body_during_uploads():
    with h.TestEnv("body") as env:
        t = proto_topology(env, {}, [], start=False,
                           extra_gateway_toml=f"[limits]\nmax_request_body = {LIMIT}\n",
                           acme_extra_toml="\n[rate_limit]\nrequests_per_second = 1\nburst = 1\n")
        up = BodyUpstream(server_ctx(t))
        files = {}
        for name, size in (("2m", 2 * MiB), ("4m", 4 * MiB)):
            files[name] = env.path(f"{name}.bin")
            with open(files[name], "wb") as f:
                f.write(b"x" * size)
        blob2m = b"x" * (2 * MiB)
        proto = (PROTO_HOST, t.gw.port, t.proto_ca_pem)
        acme = (ACME_HOST, t.gw.port, tenant_ca_pem(t, "acme"))
        try:
            t.proto_write({"up": (f"127.0.0.1:{up.port}", "http/1.1")}, [("/up/", "up")])
            t.gw.start()

            # 1. Local replies while curl is still uploading.
            for http2 in (False, True):
                what = "HTTP/2" if http2 else "HTTP/1.1"
                for i in range(ROUNDS):
                    # Alternately from stdin (chunked; HTTP/2 without a length: curl is still
                    # sending when the answer comes, which shows the reset most reliably) and
                    # from a file (Content-Length).
                    up2m = {"stdin": blob2m} if i % 2 == 0 else {"upload": files["2m"]}
                    rc, codes, text = _curl(*proto, "/nowhere", http2=http2, **up2m)
                    h.check(codes == [404] and rc == 0,
                            f"{what} round {i}: 404 during the upload: rc {rc}, statuses "
                            f"{codes}\n{text[-800:]}")
                    # The bucket holds one token: take it, then upload into a 429. On a loaded
                    # machine the token may come back in between: that upload passes to a route
                    # whose upstream fails its identity check (502, also a local reply), and
                    # the round tries again (bounded).
                    for _ in range(3):
                        for _ in range(5):
                            if _curl(*acme, WRONG, http2=http2, stdin=b"")[1] == [429]:
                                break
                        rc, codes, text = _curl(*acme, WRONG, http2=http2, **up2m)
                        h.check(codes in ([429], [502]) and rc == 0,
                                f"{what} round {i}: local reply during the upload: rc {rc}, "
                                f"statuses {codes}\n{text[-800:]}")
                        if codes == [429]:
                            break
                    h.check(codes == [429], f"{what} round {i}: no 429 in 3 tries")
            h.check(_reasons(t.gw, 404).count("no_route") >= 2 * ROUNDS,
                    f"404 reasons: {_reasons(t.gw, 404)}")
            h.check(_reasons(t.gw, 429).count("rate_limited") >= 2 * ROUNDS,
                    f"429 reasons: {_reasons(t.gw, 429)}")

            # 2. max_request_body: under it, a chunked upload reaches the upstream whole.
            rc, codes, text = _curl(*proto, "/up/small", http2=False, stdin=b"x" * MiB)
            h.check(codes == [200] and up.seen == [("/up/small", True, up.seen[0][2])],
                    f"1 MiB chunked: statuses {codes}, upstream saw {up.seen}\n{text[-800:]}")
            up.seen.clear()
            cases = [("HTTP/1.1 Content-Length", False, files["4m"], None, ""),
                     ("HTTP/2 content-length", True, files["4m"], None, ""),
                     ("HTTP/1.1 Expect: 100-continue", False, files["4m"], None,
                      "100-continue"),
                     ("HTTP/1.1 chunked", False, None, b"x" * (4 * MiB), ""),
                     ("HTTP/2 DATA without a length", True, None, b"x" * (4 * MiB), "")]
            for what, http2, upload, stdin, expect in cases:
                rc, codes, text = _curl(*proto, "/up/big", http2=http2, upload=upload,
                                        stdin=stdin, expect=expect)
                h.check(codes == [413], f"{what}: statuses {codes} (rc {rc})\n{text[-800:]}")
            h.check(_reasons(t.gw, 413).count("request_body_too_large") == len(cases),
                    f"413 reasons: {_reasons(t.gw, 413)}")
            # The chunked ones reached the upstream and were cut off; the others never left.
            h.wait_for(lambda: len(up.seen) >= 2, 10, "the cut-off uploads at the upstream")
            h.check(all(not complete for _, complete, _ in up.seen) and len(up.seen) == 2,
                    f"the upstream saw: {up.seen}")
            n = scrape_sum(t.gw, "portcullis_rejections_total", reason="request_body_too_large")
            h.check(n == len(cases), f"rejections_total{{reason=request_body_too_large}} = {n}")
        finally:
            up.stop()
