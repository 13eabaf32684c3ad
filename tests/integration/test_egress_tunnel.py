"""Egress CONNECT tunnels (CONTRACT [[egress]] + mode = "tunnel"): allowed only for listed
host:port on tunnel entries, and the tunnelled ClientHello must name the CONNECT host."""

import socket
import ssl

import harness as h
from harness.egress import PARTNER_HOST, Scenario, egress_entry, good_server
from harness.wire import recv_until_close


def tunnel_entry(f, port, mode="tunnel"):
    return (egress_entry(PARTNER_HOST, port, ca=f.partner_ca_pem, allow=["unauthenticated"])
            + f'mode = "{mode}"\n')


def _connect(f, target):
    s = socket.create_connection(("127.0.0.1", f.plain_port), timeout=5)
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    return s, head.decode("latin-1")


def test_tunnel_passes_tls_of_the_client_to_the_listed_host():
    with Scenario("tunnel", server=good_server, entries=tunnel_entry) as sc:
        f = sc.f
        s, head = _connect(f, f"{PARTNER_HOST}:{f.dest_port}")
        h.check(head.startswith("HTTP/1.1 200"), f"CONNECT refused: {head!r}")
        ctx = ssl.create_default_context(cafile=f.partner_ca_pem)
        with ctx.wrap_socket(s, server_hostname=PARTNER_HOST) as tls:
            tls.sendall(f"GET /t HTTP/1.1\r\nHost: {PARTNER_HOST}\r\nConnection: close\r\n\r\n"
                        .encode())
            body = recv_until_close(tls, bufsize=4096)
        h.check(b"200" in body.split(b"\r\n", 1)[0], f"no response through the tunnel: {body!r}")
        h.check(sc.server.snapshot()["requests"], "the server saw no request")
        lines = f.gw.wait_audit(lambda e: e.get("event") == "egress_allow"
                                and e.get("reason") == "tunnel", "egress_allow tunnel")
        h.check(lines, "no audit line for the tunnel")


def test_tunnel_closes_on_mismatching_sni():
    with Scenario("tunnel", server=good_server, entries=tunnel_entry) as sc:
        f = sc.f
        s, head = _connect(f, f"{PARTNER_HOST}:{f.dest_port}")
        h.check(head.startswith("HTTP/1.1 200"), f"CONNECT refused: {head!r}")
        ctx = ssl.create_default_context(cafile=f.partner_ca_pem)
        ctx.check_hostname = False
        failed = False
        try:
            with ctx.wrap_socket(s, server_hostname="evil.example") as tls:
                tls.sendall(b"GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n")
                failed = tls.recv(100) == b""
        except (ssl.SSLError, OSError):
            failed = True
        h.check(failed, "a tunnel with a mismatching SNI was not closed")
        h.check(not sc.server.snapshot()["requests"], "request bytes reached the server")
        f.gw.wait_audit(lambda e: e.get("event") == "egress_deny"
                        and e.get("reason") == "sni_mismatch", "egress_deny sni_mismatch")


def test_tunnel_refused_for_origination_entries_and_unlisted_hosts():
    def entries(f, port):
        return tunnel_entry(f, port, mode="originate")

    with Scenario("tunnel", server=good_server, entries=entries) as sc:
        f = sc.f
        s, head = _connect(f, f"{PARTNER_HOST}:{f.dest_port}")
        s.close()
        h.check(head.startswith("HTTP/1.1 403") and "tunnel_not_allowed" in head,
                f"CONNECT to an origination entry: {head!r}")
        s, head = _connect(f, f"other.test:{f.dest_port}")
        s.close()
        h.check(head.startswith("HTTP/1.1 403") and "destination_not_listed" in head,
                f"CONNECT to an unlisted host: {head!r}")
        h.check(sc.server.snapshot()["connections"] == 0, "the server was contacted")
