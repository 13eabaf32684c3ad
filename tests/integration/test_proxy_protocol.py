"""Operations: PROXY protocol v1/v2 on ingress listeners.

Senders: curl --haproxy-protocol (v1), haproxy `send-proxy-v2` in mode tcp, and raw socket writes
(for chosen client addresses and malformed headers). The client address from the header must
appear in the access log "client" and in X-Forwarded-For at the upstream; a source outside
trusted_proxies, or a missing/malformed header, is closed and audited as proxy_reject.
"""

import json
import os
import socket
import ssl
import struct
import time

import harness as h
from harness import http_get_on, https_conn
from harness.wire import recv_until_close

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1_header(src, sport, dst="127.0.0.1", dport=443):
    return f"PROXY TCP4 {src} {dst} {sport} {dport}\r\n".encode("ascii")


def v2_header(src, sport, dst="127.0.0.1", dport=443):
    addr = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return V2_SIG + bytes([0x21, 0x11]) + struct.pack("!H", len(addr)) + addr


def listener(port, mode, trusted=("127.0.0.1/32",)):
    return [{"name": "public", "kind": "ingress", "address": f"127.0.0.1:{port}",
             "proxy_protocol": mode, "trusted_proxies": list(trusted)}]


def get_headers_via(t, prelude, tenant="acme", source=None):
    sni = {"acme": h.ACME_HOST, "globex": h.GLOBEX_HOST}[tenant]
    conn = https_conn(t.gw.port, sni, h.tenant_ca_pem(t, tenant), prelude=prelude,
                      source=source)
    try:
        path = "/headers" if tenant == "acme" else "/app/headers"
        status, body = http_get_on(conn, sni, path)
    finally:
        conn.close()
    return status, body


def refused(t, prelude, source=None):
    """True if the gateway closes the connection instead of completing TLS + a request."""
    try:
        status, body = get_headers_via(t, prelude, source=source)
    except (OSError, ssl.SSLError, ConnectionError) as e:
        return str(e) or type(e).__name__
    except Exception as e:  # noqa: BLE001 - http.client errors on a closed socket
        return f"{type(e).__name__}: {e}"
    raise h.TestFailure(f"connection with prelude {prelude!r} was served: {status} {body!r}")


def proxy_rejects(gw, reason):
    return [e for e in gw.audit_log() if e.get("event") == "proxy_reject" and
            e.get("reason") == reason]


def test_proxy_v1_from_trusted_source():
    with h.TestEnv("proxy") as env:
        port = h.free_port()
        t = h.build_topology(env, listeners=listener(port, "v1"))
        # curl's own v1 header (it carries curl's real address)
        r = h.get(t, "acme", "/curl-v1", extra=["--haproxy-protocol"])
        h.check(r.status == 200 and "acme upstream /curl-v1" in r.body, repr(r))
        # a chosen client address
        status, body = get_headers_via(t, v1_header("203.0.113.7", 40001))
        h.check(status == 200, f"{status} {body!r}")
        hdrs = h.parse_headers_echo(body)
        h.check("203.0.113.7" in hdrs.get("xff", ""), f"X-Forwarded-For lacks the PROXY "
                f"client: {hdrs}")
        entries = t.gw.wait_access(lambda e: e.get("path") == "/headers", "path=/headers")
        h.check(entries[-1].get("client") == "203.0.113.7:40001",
                f"access log client is not the PROXY client: {json.dumps(entries[-1])}")
        # h2 over the same kind of connection
        r = h.curl("/h2/x", host=h.ACME_HOST, port=port, cacert=h.tenant_ca_pem(t, "acme"),
                   http2=True, extra=["--haproxy-protocol"])
        h.check(r.status == 200 and r.http_version == "2", repr(r))


def test_proxy_v2_from_haproxy_and_raw():
    with h.TestEnv("proxy") as env:
        port = h.free_port()
        t = h.build_topology(env, listeners=listener(port, "v2"))
        hp_port = h.free_port()
        cfg = env.write("haproxy.cfg", f"""global
    maxconn 256
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:{hp_port}
    default_backend be
backend be
    server gw 127.0.0.1:{port} send-proxy-v2
""")
        hp = env.start("haproxy", ["haproxy", "-db", "-f", cfg])
        h.wait_for(lambda: h.tcp_connectable("127.0.0.1", hp_port) or not hp.alive(), 10,
                   "haproxy listening")
        h.check(hp.alive(), "haproxy exited: " + hp.describe())
        # the client connects to haproxy from 127.0.0.2: that is what the v2 header carries
        for http2 in (False, True):
            r = h.curl("/headers", host=h.ACME_HOST, port=hp_port,
                       cacert=h.tenant_ca_pem(t, "acme"), http2=http2,
                       extra=["--interface", "127.0.0.2"])
            h.check(r.status == 200, f"via haproxy (http2={http2}): {r!r}")
            xff = h.parse_headers_echo(r.body).get("xff", "")
            h.check("127.0.0.2" in xff, f"X-Forwarded-For is not the haproxy client: {xff!r}")
        entries = t.gw.wait_access(lambda e: e.get("path") == "/headers", "path=/headers")
        clients = [e.get("client") for e in entries]
        h.check(all(str(c).startswith("127.0.0.2:") for c in clients),
                f"access log client is not the haproxy client: {clients}")
        # raw v2 with a chosen address
        status, body = get_headers_via(t, v2_header("198.51.100.9", 5555))
        h.check(status == 200, f"{status} {body!r}")
        xff = h.parse_headers_echo(body).get("xff", "")
        h.check("198.51.100.9" in xff, f"X-Forwarded-For lacks the v2 client: {xff!r}")
        t.gw.wait_access(lambda e: e.get("client") == "198.51.100.9:5555",
                         "client=198.51.100.9:5555")
        # a v1 header on a v2 listener is malformed
        refused(t, v1_header("203.0.113.8", 1))
        t.gw.wait_audit(lambda e: e.get("event") == "proxy_reject"
                        and e.get("reason") == "proxy_header_invalid", "proxy_header_invalid")


def test_proxy_any_accepts_both_versions():
    with h.TestEnv("proxy") as env:
        port = h.free_port()
        t = h.build_topology(env, listeners=listener(port, "any"))
        for hdr, addr in ((v1_header("192.0.2.1", 1111), "192.0.2.1:1111"),
                          (v2_header("192.0.2.2", 2222), "192.0.2.2:2222")):
            status, body = get_headers_via(t, hdr)
            h.check(status == 200, f"{hdr!r}: {status} {body!r}")
            t.gw.wait_access(lambda e, a=addr: e.get("client") == a, f"client={addr}")


def test_proxy_from_untrusted_source_is_refused():
    with h.TestEnv("proxy") as env:
        port = h.free_port()
        t = h.build_topology(env, listeners=listener(port, "any", trusted=["127.0.0.1/32"]))
        refused(t, v1_header("203.0.113.9", 9), source="127.0.0.2")
        refused(t, v2_header("203.0.113.9", 9), source="127.0.0.2")
        r = h.get(t, "acme", "/x", extra=["--haproxy-protocol", "--interface", "127.0.0.2"])
        h.check(r.status == 0, f"untrusted source served: {r!r}")
        h.wait_for(lambda: len(proxy_rejects(t.gw, "proxy_source_untrusted")) >= 3, 5,
                   "3 proxy_reject reason=proxy_source_untrusted in the audit log")
        e = proxy_rejects(t.gw, "proxy_source_untrusted")[-1]
        h.check(e.get("decision") == "deny", json.dumps(e))
        h.check("127.0.0.2" in json.dumps(e), f"audit line does not name the source: {e}")
        h.check("203.0.113.9" not in json.dumps(
            [x for x in t.gw.access_log() if x.get("status")]),
            "an untrusted PROXY address reached the access log as a served request")
        # the trusted source still works
        status, _ = get_headers_via(t, v1_header("203.0.113.10", 10))
        h.check(status == 200, f"trusted source refused: {status}")


def test_proxy_missing_or_malformed_header_is_refused():
    with h.TestEnv("proxy") as env:
        port = h.free_port()
        t = h.build_topology(env, listeners=listener(port, "v1"),
                             extra_gateway_toml='[limits]\ntls_handshake_timeout = "1s"\n')
        for prelude in (b"PROXY GARBAGE\r\n", b"PROXY TCP4 1.2.3.4\r\n",
                        b"PROXY TCP4 999.1.1.1 127.0.0.1 1 2\r\n",
                        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"):
            refused(t, prelude)
        r = h.get(t, "acme", "/no-header")  # a plain TLS ClientHello, no PROXY header
        h.check(r.status == 0, f"request without a PROXY header served: {r!r}")
        h.wait_for(lambda: len(proxy_rejects(t.gw, "proxy_header_invalid")) >= 5, 5,
                   "5 proxy_reject reason=proxy_header_invalid in the audit log")
        # header deadline: [limits] tls_handshake_timeout; a silent client is closed
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            t0 = time.monotonic()
            try:
                data = s.recv(1)
            except (ConnectionResetError, socket.timeout) as e:
                data = type(e).__name__.encode()
            waited = time.monotonic() - t0
        h.check(data in (b"", b"ConnectionResetError"), f"silent client: got {data!r}")
        h.check(0.5 <= waited <= 4.0, f"silent client closed after {waited:.1f}s, want ~1s")
        # a header that arrives in pieces, slowly, within the deadline, is fine
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            hdr = v1_header("203.0.113.20", 20)
            s.sendall(hdr[:7])
            time.sleep(0.3)
            s.sendall(hdr[7:])
            ctx = ssl.create_default_context(cafile=h.tenant_ca_pem(t, "acme"))
            with ctx.wrap_socket(s, server_hostname=h.ACME_HOST) as tls:
                tls.sendall(f"GET /split HTTP/1.1\r\nHost: {h.ACME_HOST}\r\n"
                            "Connection: close\r\n\r\n".encode())
                resp = recv_until_close(tls)
        h.check(resp.startswith(b"HTTP/1.1 200"), f"split header: {resp[:200]!r}")
        h.check(os.path.exists(t.gw.audit_path), "no audit log")
