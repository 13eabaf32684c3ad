"""[limits]: connection caps per client IP and per tenant (a connection past a cap is closed
before any request, counted in portcullis_rejections_total{reason}, and the others keep
working), the HTTP/2 reset budget as a key, the memory budget that sheds new requests, and the
idle timeout."""

import signal
import socket
import ssl
import time

from hyperframe import frame as hf

import harness as h
from harness import upstream as ru
from harness.h2 import ENHANCE_YOUR_CALM, PREFACE, H2Conn

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
        before = h.scrape_sum(t.gw, REJECTIONS, reason=reason)
        held = [_tls(t.gw.port, sni) for _ in range(2)]
        try:
            time.sleep(0.2)
            h.check(_closed_by_server(t.gw.port, sni),
                    f"a third connection was served past the cap ({reason})")
            h.wait_metric_above(t.gw, REJECTIONS, before, reason=reason)
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


def _reload_with(t, extra_toml):
    """Rewrites gateway.toml with `extra_toml` appended and reloads; waits for the generation."""
    before = h.scrape_sum(t.gw, "portcullis_config_generation")
    t.gw.extra_gateway_toml = extra_toml
    t.gw.write()
    t.gw.proc.send_signal(signal.SIGHUP)
    h.wait_for(lambda: h.scrape_sum(t.gw, "portcullis_config_generation") > before, 10,
               "config generation to move after SIGHUP")


def test_h2_reset_budget_is_a_limits_key():
    """h2_max_client_resets = 50: the 51st client RST_STREAM ends the connection with GOAWAY
    ENHANCE_YOUR_CALM, where the default budget (1000) would have let 60 pass."""
    with h.TestEnv("limits") as env:
        t = ru.hostile_topology(env, extra_gateway_toml="\n[limits]\nh2_max_client_resets = 50\n")
        try:
            before = h.scrape_sum(t.gw, REJECTIONS, reason="h2_flood")
            c = H2Conn(t.gw.port)
            c.pump(0.3)
            c.rapid_reset("/reset", 60)
            c.wait(lambda f: isinstance(f, hf.GoAwayFrame), 5, "GOAWAY after 51 resets")
            g = c.goaway()
            h.check(g is not None and g.error_code == ENHANCE_YOUR_CALM,
                    f"60 resets against a budget of 50: {c.summary()}")
            c.close()
            h.wait_metric_above(t.gw, REJECTIONS, before, reason="h2_flood")
            h.canary(t, http2=True)
        finally:
            t.raw.stop()


def test_memory_budget_sheds_new_requests_and_recovers():
    """Past [limits].memory_budget (memory in use), new requests get 503 (reason memory_budget) on existing and
    new connections, in HTTP/1.1 and HTTP/2, without reaching the upstream; the shedding is
    audited and visible on /metrics; raising the budget restores service."""
    with h.TestEnv("limits") as env:
        t = h.build_topology(env, extra_gateway_toml="\n[limits]\nmemory_budget = \"off\"\n")
        r = h.get(t, "acme", "/before")
        h.check(r.status == 200, f"request before the budget: {r!r}")
        rss = h.scrape_sum(t.gw, "portcullis_memory_rss_bytes")
        h.check(rss > 1 << 20, f"portcullis_memory_rss_bytes = {rss}")
        h.check(h.scrape_sum(t.gw, "portcullis_memory_budget_bytes") == 0, "budget off")

        # A budget just under what the process uses now (the smallest allowed is 16 MiB: hold
        # idle TLS connections until the gateway is past it).
        budget = 16 << 20
        held = [_tls(t.gw.port, "shop.acme.example")]  # one open before the budget, at least
        try:
            _reload_with(t, f'\n[limits]\nmemory_budget = {budget}\n')
            # the budget is charged with memory in use (heap + non-heap resident), not RSS
            in_use = "portcullis_memory_in_use_bytes"
            for _ in range(40):
                if h.scrape_sum(t.gw, in_use) > budget:
                    break
                held += [_tls(t.gw.port, "shop.acme.example") for _ in range(100)]
                time.sleep(0.3)
            h.wait_for(lambda: h.scrape_sum(t.gw, "portcullis_memory_shedding") == 1, 5,
                       f"shedding with {h.scrape_sum(t.gw, in_use)} bytes in use"
                       f" over a budget of {budget} ({len(held)} connections held)")
            before = h.scrape_sum(t.gw, REJECTIONS, reason="memory_budget")
            for http2 in (False, True):
                r = h.get(t, "acme", "/shed", http2=http2)
                h.check(r.status == 503, f"new request past the budget (h2={http2}): {r!r}")
            # an existing connection's next request is a new stream too (the newest one held:
            # on a loaded machine the first may have outlived the idle timeout by now)
            held[-1].sendall(b"GET /shed-held HTTP/1.1\r\nHost: shop.acme.example\r\n\r\n")
            answer = held[-1].recv(100)
            h.check(answer.startswith(b"HTTP/1.1 503"), f"held connection: 503, got {answer!r}")
            h.wait_metric_above(t.gw, REJECTIONS, before + 2, reason="memory_budget")
            h.check("/shed" not in t.nginx.access_log(), "a shed request reached the upstream")
            lines = [a for a in t.gw.access_log() if a.get("reason") == "memory_budget"]
            h.check(len(lines) >= 3 and all(a["status"] == 503 for a in lines),
                    f"access log lines with reason memory_budget: {lines}")
            t.gw.wait_audit(lambda e: e.get("event") == "memory_budget"
                            and e.get("decision") == "deny", "memory_budget deny")
        finally:
            for s in held:
                s.close()
        _reload_with(t, '\n[limits]\nmemory_budget = "off"\n')
        h.wait_for(lambda: h.scrape_sum(t.gw, "portcullis_memory_shedding") == 0, 5,
                   "shedding to stop once the budget is off")
        r = h.get(t, "acme", "/after")
        h.check(r.status == 200, f"request after the budget was lifted: {r!r}")
        t.gw.wait_audit(lambda e: e.get("event") == "memory_budget"
                        and e.get("decision") == "allow", "memory_budget allow")


def _wait_closed(s, timeout):
    """Seconds until the server closed `s` (EOF or reset), or None if it stayed open."""
    start = time.monotonic()
    _, closed = ru.read_until_close(s, total_timeout=timeout)
    return time.monotonic() - start if closed else None


def test_idle_timeout_closes_idle_connections_and_counts_them():
    """[limits].idle_timeout: a connection with nothing in flight is closed, whether it never
    sent a byte after the handshake, sat idle after a keep-alive request, or speaks HTTP/2; each
    close is counted. A connection that is in the middle of a request is not idle."""
    closes = "portcullis_downstream_closes_total"
    with h.TestEnv("limits") as env:
        t = h.build_topology(env, extra_gateway_toml='\n[limits]\nidle_timeout = "1s"\n')
        silent = _tls(t.gw.port, "shop.acme.example")
        after_request = _tls(t.gw.port, "shop.acme.example")
        after_request.sendall(b"GET / HTTP/1.1\r\nHost: shop.acme.example\r\n\r\n")
        h.check(after_request.recv(4096).startswith(b"HTTP/1.1 200"), "keep-alive request failed")
        h2 = ru.tls_connect(t.gw.port, "h2", sni="shop.acme.example")
        h2.sendall(PREFACE + hf.SettingsFrame(0).serialize())
        for name, s in (("silent", silent), ("after a request", after_request)):
            h.check(_wait_closed(s, 6) is not None,
                    f"{name}: an idle connection outlived idle_timeout = 1s")
            s.close()
        h.check(_wait_closed(h2, 6) is not None, "an idle HTTP/2 connection stayed open")
        h2.close()
        h.check(h.scrape_sum(t.gw, closes, reason="idle_timeout") == 3,
                "idle_timeout closes not counted")
        # the gateway still serves
        r = h.get(t, "acme", "/after-idle")
        h.check(r.status == 200, repr(r))


def test_drain_closes_an_idle_http1_connection_at_once():
    """SIGTERM: a connection that never sent a request has nothing to finish, so it is closed
    right away and the gateway exits well before drain_timeout (5 s)."""
    with h.TestEnv("limits") as env:
        t = h.build_topology(env)
        idle = _tls(t.gw.port, "shop.acme.example")
        time.sleep(0.2)
        start = time.monotonic()
        t.gw.proc.send_signal(signal.SIGTERM)
        took = _wait_closed(idle, 10)
        h.check(took is not None and took < 4, f"idle connection closed after {took} s")
        rc = t.gw.proc.wait(10)
        h.check(rc == 0, f"exit code {rc}")
        h.check(time.monotonic() - start < 4.5, "the idle connection held the drain up")
        idle.close()
