"""Clients of the gateway: curl, openssl s_client, a keep-alive HTTPS connection."""

import http.client
import re
import socket
import ssl

from .procs import run

__all__ = [
    'CurlResult', 'curl', 's_client', 'first_cert_pem', 'parse_headers_echo', 'https_conn',
    'http_get_on', 'served_fingerprint'
]


class CurlResult:
    def __init__(self, rc, status, body, http_version, stderr):
        self.rc, self.status, self.body = rc, status, body
        self.http_version, self.stderr = http_version, stderr

    def __repr__(self):
        return (f"curl rc={self.rc} status={self.status} http={self.http_version} "
                f"body={self.body[:300]!r} stderr={self.stderr[-500:]!r}")


CURL_MARK = "\n--itest-write-out--"


def curl(url, *, host, port, cacert=None, http2=False, address="127.0.0.1", headers=(),
         cert=None, key=None, extra=(), timeout=30, data=None):
    """curl -sS to https://host:port/... resolved to address (SNI = host)."""
    argv = ["curl", "-sS", "--max-time", str(timeout),
            "--resolve", f"{host}:{port}:{address}",
            "-w", CURL_MARK + "%{http_code} %{http_version}"]
    argv.append("--http2" if http2 else "--http1.1")
    if cacert:
        argv += ["--cacert", cacert]
    else:
        argv.append("-k")
    if cert:
        argv += ["--cert", cert, "--key", key]
    for h in headers:
        argv += ["-H", h]
    if data is not None:
        argv += ["--data-binary", data]
    argv += list(extra)
    argv.append(url if url.startswith("https://") else f"https://{host}:{port}{url}")
    r = run(argv, timeout=timeout + 10)
    body, _, tail = r.stdout.rpartition(CURL_MARK)
    if not _:
        body, tail = r.stdout, ""
    fields = tail.split()
    status = int(fields[0]) if fields and fields[0].isdigit() else 0
    version = fields[1] if len(fields) > 1 else ""
    return CurlResult(r.returncode, status, body, version, r.stderr)


def s_client(port, servername, address="127.0.0.1", cafile=None, extra=(), timeout=15):
    """openssl s_client -showcerts; returns CompletedProcess (stdout + stderr both useful)."""
    host = f"[{address}]" if ":" in address else address
    argv = ["openssl", "s_client", "-connect", f"{host}:{port}", "-showcerts"]
    if servername:
        argv += ["-servername", servername]
    if cafile:
        argv += ["-CAfile", cafile, "-verify_return_error"]
    argv += list(extra)
    return run(argv, timeout=timeout, input="")


def first_cert_pem(text):
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)
    return m.group(0) if m else None


def parse_headers_echo(body):
    """The upstream /headers page: key=value lines -> dict."""
    out = {}
    for line in body.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            out[k] = v
    return out



def https_conn(port, servername, cafile=None, address="127.0.0.1", prelude=b"",
               source=None, alpn=("http/1.1",)):
    """An HTTP/1.1 keep-alive connection over TLS with SNI servername; prelude bytes (a PROXY
    header) go before the handshake; source = local address to bind."""
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    sock = socket.create_connection((address, port), timeout=10,
                                    source_address=(source, 0) if source else None)
    if prelude:
        sock.sendall(prelude)
    tls = ctx.wrap_socket(sock, server_hostname=servername)
    conn = http.client.HTTPConnection(servername, port, timeout=10)
    conn.sock = tls
    return conn


def http_get_on(conn, host, path):
    conn.request("GET", path, headers={"Host": host})
    resp = conn.getresponse()
    return resp.status, resp.read().decode("utf-8", "replace")


def served_fingerprint(port, servername):
    r = s_client(port, servername)
    pem = first_cert_pem(r.stdout)
    if pem is None:
        return None
    d = run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], input=pem)
    return d.stdout.strip().split("=", 1)[-1]
