"""A raw recording upstream and raw TLS clients for the hardening tests (stdlib only).

RawUpstream is a TLS server (certificate from the mesh CA, client certificate required, ALPN
http/1.1) that records the exact bytes it receives on each connection, splits them into requests
with a strict HTTP/1.1 parser, and answers every request with a fixed response. Anything its
strict parser finds ambiguous (both Content-Length and Transfer-Encoding, a bad Content-Length, a
bad chunk) is recorded as an error and the connection is closed: the gateway must never send that.

hostile_topology() adds a tenant "hostile" (host raw.hostile.example, its own CA) whose only
route "/" goes to a RawUpstream, on top of build_topology().

Also here: raw TLS clients (HTTP/1.1 framing; HTTP/2 framing is in h2.py).
Threads only; every loop is bounded; loopback only.
"""

import os
import re
import socket
import ssl
import threading
import time

from .gateway import toml_str
from .pki import init_ca, issue, workload_id
from .procs import MIB, check
from .servers import Listener, server_context
from .topology import build_topology

__all__ = [
    'HOSTILE_HOST', 'FIXED_BODY', 'FIXED_RESPONSE', 'MAX_RECORD', 'ParseError', 'Request',
    'parse_one', 'RawUpstream', 'HostileTopology', 'hostile_topology', 'tls_connect',
    'read_until_close', 'parse_statuses', 'h1_exchange'
]


HOSTILE_HOST = "raw.hostile.example"
FIXED_BODY = b"raw upstream ok\n"
FIXED_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                  + str(len(FIXED_BODY)).encode() + b"\r\n\r\n" + FIXED_BODY)
MAX_RECORD = 4 * MIB


class ParseError(Exception):
    pass


class Request:
    """One request as the upstream saw it: exact bytes, head, decoded body, framing."""

    def __init__(self, raw, request_line, headers, body, framing):
        self.raw = raw
        self.request_line = request_line
        self.headers = headers  # list of (lower name, value) as bytes
        self.body = body
        self.framing = framing  # "none" | "content-length" | "chunked"

    def header(self, name):
        vals = [v for k, v in self.headers if k == name.lower().encode()]
        return vals[0] if len(vals) == 1 else (None if not vals else vals)

    def __repr__(self):
        return f"Request({self.raw[:600]!r}, framing={self.framing}, body={self.body[:100]!r})"


def parse_one(buf):
    """Strictly parses one request at the start of buf. Returns (Request, consumed) or
    (None, 0) if incomplete. Raises ParseError on anything ambiguous or malformed."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > 256 * 1024:
            raise ParseError("head larger than 256 KiB")
        return None, 0
    head = buf[:end]
    lines = head.split(b"\r\n")
    for line in lines:
        if b"\n" in line or b"\r" in line or b"\0" in line:
            raise ParseError(f"bare CR/LF/NUL in head line {line[:80]!r}")
    request_line = lines[0]
    if not re.fullmatch(rb"[A-Z]+ \S+ HTTP/1\.1", request_line):
        raise ParseError(f"bad request line {request_line[:200]!r}")
    headers = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            raise ParseError(f"obs-fold {line[:80]!r}")
        m = re.fullmatch(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*", line, re.S)
        if not m:
            raise ParseError(f"bad header line {line[:80]!r}")
        headers.append((m.group(1).lower(), m.group(2)))
    te = [v for k, v in headers if k == b"transfer-encoding"]
    cl = [v for k, v in headers if k == b"content-length"]
    pos = end + 4
    if te and cl:
        raise ParseError("both Transfer-Encoding and Content-Length")
    if te:
        if len(te) != 1 or te[0].lower() != b"chunked":
            raise ParseError(f"Transfer-Encoding not exactly 'chunked': {te!r}")
        body = b""
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None, 0
            size_text = buf[pos:eol]
            if not re.fullmatch(rb"[0-9A-Fa-f]{1,8}", size_text):
                raise ParseError(f"bad chunk size line {size_text[:80]!r}")
            size = int(size_text, 16)
            pos = eol + 2
            if size == 0:
                # trailer field lines (strictly formed), then the empty line ends the message
                while True:
                    eol = buf.find(b"\r\n", pos)
                    if eol < 0:
                        return None, 0
                    line = buf[pos:eol]
                    pos = eol + 2
                    if not line:
                        return Request(buf[:pos], request_line, headers, body, "chunked"), pos
                    if not re.fullmatch(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[ \t]*[^\r\n\0]*",
                                        line):
                        raise ParseError(f"bad trailer line after last chunk {line[:80]!r}")
            if len(buf) < pos + size + 2:
                return None, 0
            body += buf[pos:pos + size]
            if buf[pos + size:pos + size + 2] != b"\r\n":
                raise ParseError("chunk data not followed by CRLF")
            pos += size + 2
    if cl:
        if len(cl) != 1 or not re.fullmatch(rb"[0-9]{1,15}", cl[0]):
            raise ParseError(f"bad Content-Length {cl!r}")
        n = int(cl[0])
        if len(buf) < pos + n:
            return None, 0
        return Request(buf[:pos + n], request_line, headers, buf[pos:pos + n],
                       "content-length"), pos + n
    return Request(buf[:pos], request_line, headers, b"", "none"), pos


class RawUpstream(Listener):
    """TLS server on 127.0.0.1 that records requests. Use start()/stop(). client_ca None: no
    client certificate is asked for (an external server)."""

    def __init__(self, cert, key, client_ca, response=FIXED_RESPONSE):
        super().__init__()
        self.cert, self.key, self.client_ca = cert, key, client_ca
        self.response = response
        self.lock = threading.Lock()
        self.requests = []      # every Request parsed, in arrival order
        self.connections = []   # raw bytes per connection (bytearray), in accept order
        self.errors = []        # (connection index, ParseError text, raw bytes)
        self.extra_sockets = []  # closed by stop()
        self.closed = []        # indices of connections that ended (EOF, error or stop)
        self.peak = 0           # most connections open at once

    def start(self):
        self._ctx = server_context(self.cert, self.key, self.client_ca)
        return super().start()

    def close(self):
        super().close()
        for extra in self.extra_sockets:
            extra.close()

    def mark(self):
        """(requests, errors, bytes per connection) so far: pass to since() or bytes_since()."""
        with self.lock:
            return (len(self.requests), len(self.errors),
                    tuple(len(raw) for raw in self.connections))

    def since(self, mark):
        with self.lock:
            return list(self.requests[mark[0]:]), list(self.errors[mark[1]:])

    def bytes_since(self, mark):
        """Every byte received after mark, on old and new connections alike (a request that is
        never complete, so never in since(), still shows here)."""
        with self.lock:
            old = mark[2]
            return b"".join(bytes(raw[old[i] if i < len(old) else 0:])
                            for i, raw in enumerate(self.connections))

    def serve(self, conn):
        with self.lock:
            idx = len(self.connections)
            raw = bytearray()
            self.connections.append(raw)
            self.peak = max(self.peak, len(self.connections) - len(self.closed))
        try:
            conn.settimeout(5)
            tls = self._ctx.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError):
            conn.close()
            with self.lock:
                self.closed.append(idx)
            return
        buf = b""
        try:
            tls.settimeout(0.5)
            while not self.stopping and len(raw) < MAX_RECORD:
                try:
                    data = tls.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    return
                with self.lock:
                    raw.extend(data)
                buf += data
                for _ in range(1000):
                    try:
                        req, used = parse_one(buf)
                    except ParseError as e:
                        with self.lock:
                            self.errors.append((idx, str(e), bytes(buf)))
                        return
                    if req is None:
                        break
                    buf = buf[used:]
                    with self.lock:
                        self.requests.append(req)
                    tls.sendall(self.response)
        except (OSError, ssl.SSLError):
            return
        finally:
            try:
                tls.close()
            except OSError:
                pass
            with self.lock:
                self.closed.append(idx)


class HostileTopology:
    pass


def hostile_topology(env, extra_gateway_toml="", workers=1):
    """harness.build_topology + tenant 'hostile' routed entirely to a RawUpstream."""
    t = build_topology(env, start=False, workers=workers,
                         extra_gateway_toml=extra_gateway_toml)
    pki = env.path("pki")
    ca = init_ca(os.path.join(pki, "hostile-ca"), "Hostile CA")
    cert, key = issue(ca, os.path.join(pki, "hostile-tls"), dns=[HOSTILE_HOST])
    ucert, ukey = issue(t.mesh_ca, os.path.join(pki, "upstream-hostile"),
                          dns=["raw.hostile.svc"], spiffe=workload_id("hostile", "raw"))
    up = RawUpstream(ucert, ukey, t.mesh_ca_pem).start()
    t.raw = up
    t.hostile_ca_pem = os.path.join(ca, "ca.pem")
    # /stall goes to an endpoint that listens but never accepts: the gateway's TLS handshake to
    # it never completes, so request bodies sent there are never consumed (flow-control probes).
    t.stall = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.stall.bind(("127.0.0.1", 0))
    t.stall.listen(16)
    up.extra_sockets.append(t.stall)  # closed by t.raw.stop()
    stall_endpoint = f"127.0.0.1:{t.stall.getsockname()[1]}"
    t.gw.add_tenant_file("hostile", f"""name = "hostile"
hosts = [{toml_str(HOSTILE_HOST)}]

[tls]
cert = {toml_str(cert)}
key = {toml_str(key)}

[[route]]
path_prefix = "/stall/"
cluster = "stall"

[[route]]
path_prefix = "/"
cluster = "raw"

[cluster.raw]
endpoints = [{toml_str(up.endpoint)}]
identity = {toml_str(workload_id("hostile", "raw"))}
protocol = "http/1.1"

[cluster.stall]
endpoints = [{toml_str(stall_endpoint)}]
identity = {toml_str(workload_id("hostile", "raw"))}
protocol = "http/1.1"
""")
    t.gw.start()
    return t


# ---------------------------------------------------------------------------------------------
# clients

def tls_connect(port, alpn, sni=HOSTILE_HOST, timeout=5.0):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols([alpn])
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s = ctx.wrap_socket(raw, server_hostname=sni)
    check(s.selected_alpn_protocol() == alpn,
            f"ALPN {alpn} not negotiated: {s.selected_alpn_protocol()}")
    return s


def read_until_close(s, total_timeout=5.0, idle_timeout=None, limit=4 * MIB):
    """Reads until EOF/reset, total_timeout, or idle_timeout without data. Returns
    (bytes, closed_by_peer)."""
    out = bytearray()
    deadline = time.monotonic() + total_timeout
    last = time.monotonic()
    while len(out) < limit:
        now = time.monotonic()
        if now > deadline or (idle_timeout and now - last > idle_timeout):
            return bytes(out), False
        s.settimeout(0.2)
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
            return bytes(out), True
        if not data:
            return bytes(out), True
        out.extend(data)
        last = time.monotonic()
    return bytes(out), False


def parse_statuses(data):
    """The status codes of every HTTP/1.x response line found at a response boundary."""
    statuses = []
    pos = 0
    for _ in range(100):
        m = re.match(rb"HTTP/1\.[01] (\d{3})[^\r\n]*\r\n", data[pos:])
        if not m:
            break
        statuses.append(int(m.group(1)))
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        head = data[pos:end].lower()
        cl = re.search(rb"\r\ncontent-length:\s*(\d+)", head)
        pos = end + 4 + (int(cl.group(1)) if cl else 0)
    return statuses


def h1_exchange(port, payload, sni=HOSTILE_HOST, total_timeout=5.0, idle_timeout=1.5):
    """Sends raw bytes on a fresh TLS connection; returns (statuses, bytes, closed)."""
    s = tls_connect(port, "http/1.1", sni=sni)
    try:
        s.sendall(payload)
        data, closed = read_until_close(s, total_timeout, idle_timeout)
    finally:
        s.close()
    return parse_statuses(data), data, closed
