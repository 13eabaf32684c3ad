"""[limits] connection caps: per client IP and per tenant. A connection past a cap is closed
before any request, counted in portcullis_rejections_total{reason}, and the others keep
working."""

import socket
import ssl
import time

import harness as h
import raw_upstream as ru

REJECTIONS = "portcullis_rejections_total"


def _tls(port, sni):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    return ctx.wrap_socket(raw, server_hostname=sni)


def _closed_by_server(port, sni):
    """True when the gateway closes a new connection before or right after the handshake."""
    try:
        s = _tls(port, sni)
    except (ssl.SSLError, OSError):
        return True
    try:
        s.settimeout(3)
        s.sendall(b"GET / HTTP/1.1\r\nHost: " + sni.encode() + b"\r\n\r\n")
        return s.recv(100) == b""
    except (ssl.SSLError, OSError):
        return True
    finally:
        s.close()


def _check_cap(limits_toml, reason, sni):
    with h.TestEnv("limits") as env:
        t = h.build_topology(env, extra_gateway_toml=limits_toml)
        before = ru.metric_sum(t.gw, REJECTIONS, reason=reason)
        held = [_tls(t.gw.port, sni) for _ in range(2)]
        try:
            time.sleep(0.2)
            h.check(_closed_by_server(t.gw.port, sni),
                    f"a third connection was served past the cap ({reason})")
            ru.wait_metric_above(t.gw, REJECTIONS, before, reason=reason)
        finally:
            for s in held:
                s.close()
        # the slots come back when connections close
        h.wait_for(lambda: not _closed_by_server(t.gw.port, sni), 5,
                   "a new connection once the held ones closed")


def test_connection_cap_per_ip():
    _check_cap('\n[limits]\nmax_connections_per_ip = 2\n', "ip_connection_limit",
               "shop.acme.example")


def test_connection_cap_per_tenant():
    _check_cap('\n[limits]\nmax_connections_per_tenant = 2\n', "tenant_connection_limit",
               "shop.acme.example")
