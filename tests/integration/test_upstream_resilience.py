"""Upstream resilience (#11 items 2, 4, 6): no connection amplification from Rapid Reset, a
per-cluster connection cap with a queue and a 503 past it, a whole-body deadline for uploads,
prompt close of an aborted upload's upstream connection, and panic routing to an ejected
endpoint that came back.

The hostile tenant routes to a RawUpstream (harness/upstream.py), which records every accepted
connection and when each ends; one worker, so the per-worker caps are the process caps."""

import os
import socket
import time


import harness as h
from harness import upstream as ru
from harness.h2 import H2Conn

REJECTIONS = "portcullis_rejections_total"
POST_HEAD = (b"POST /upload HTTP/1.1\r\nHost: " + ru.HOSTILE_HOST.encode() +
             b"\r\nContent-Length: 100\r\n\r\n")


def _limits(**kv):
    return "\n[limits]\n" + "".join(f"{k} = {v}\n" for k, v in kv.items())


def _upload_started(t, s, mark):
    """Sends POST_HEAD and one body byte on s; waits until the upstream has them."""
    s.sendall(POST_HEAD + b"x")
    h.wait_for(lambda: b"POST /upload" in t.raw.bytes_since(mark), 5,
               "the upload to reach the upstream")


def _read_some(s, timeout):
    s.settimeout(timeout)
    try:
        return s.recv(65536)
    except (socket.timeout, OSError):
        return b""


def test_rapid_reset_does_not_multiply_upstream_connections():
    with h.TestEnv("upres") as env:
        t = ru.hostile_topology(env, extra_gateway_toml=_limits(max_upstream_connections=3))
        try:
            clients = []
            for _ in range(5):
                c = H2Conn(t.gw.port)
                c.pump(0.2)
                c.rapid_reset("/reset", 200)
                clients.append(c)
            for c in clients:
                c.pump(0.5)  # let the gateway process every pair (and dial what it dials)
            # An HTTP/1.1 request already sent cannot be cancelled, so its connection closes and
            # another may open: the cap bounds connections open at once.
            n = t.raw.peak
            h.check(n <= 3, f"1000 reset streams held {n} upstream connections at once "
                    f"({len(t.raw.connections)} in all; cap 3)")
            for c in clients:
                c.close()
            # still serves: a normal request through the same cluster
            st, r, _ = ru.h1_exchange(t.gw.port, b"GET /after HTTP/1.1\r\nHost: " +
                                      ru.HOSTILE_HOST.encode() +
                                      b"\r\nConnection: close\r\n\r\n")
            h.check(st == [200], f"after the resets: {r[:200]!r}")
        finally:
            t.raw.stop()


def test_connection_cap_queues_then_503_upstream_overflow():
    with h.TestEnv("upres") as env:
        t = ru.hostile_topology(env, extra_gateway_toml=_limits(max_upstream_connections=1,
                                                                  max_pending_requests=1))
        try:
            before = h.scrape_sum(t.gw, REJECTIONS, reason="upstream_overflow")
            a = ru.tls_connect(t.gw.port, "http/1.1")
            _upload_started(t, a, t.raw.mark())  # holds the one connection
            get = (b"GET /q HTTP/1.1\r\nHost: " + ru.HOSTILE_HOST.encode() +
                   b"\r\nConnection: close\r\n\r\n")
            b = ru.tls_connect(t.gw.port, "http/1.1")
            b.sendall(get)  # waits in the queue
            h.check(_read_some(b, 0.5) == b"", "a queued request was answered before a slot")
            c = ru.tls_connect(t.gw.port, "http/1.1")
            c.sendall(get)
            out, _ = ru.read_until_close(c, total_timeout=5, idle_timeout=1)
            h.check(ru.parse_statuses(out) == [503], f"past the queue: {out[:200]!r}")
            h.wait_metric_above(t.gw, REJECTIONS, before, reason="upstream_overflow")
            a.sendall(b"y" * 99)  # the upload completes: its connection serves the queue
            h.check(ru.parse_statuses(_read_some(a, 5)) == [200], "the upload's answer")
            out, _ = ru.read_until_close(b, total_timeout=5, idle_timeout=1)
            h.check(ru.parse_statuses(out) == [200], f"the queued request: {out[:200]!r}")
            h.check(len(t.raw.connections) == 1, f"{len(t.raw.connections)} connections, cap 1")
            for s in (a, b, c):
                s.close()
        finally:
            t.raw.stop()


def test_slow_upload_gets_408_at_request_body_timeout():
    with h.TestEnv("upres") as env:
        t = ru.hostile_topology(env, extra_gateway_toml=_limits(request_body_timeout='"2s"'))
        try:
            s = ru.tls_connect(t.gw.port, "http/1.1")
            t0 = time.monotonic()
            _upload_started(t, s, t.raw.mark())
            out = b""
            for _ in range(40):  # a byte every 0.5 s: always under the idle time-out
                s.sendall(b"z")
                out += _read_some(s, 0.5)
                if out:
                    break
            took = time.monotonic() - t0
            h.check(ru.parse_statuses(out) == [408], f"slow upload: {out[:200]!r}")
            h.check(1.5 <= took <= 5.0, f"408 after {took:.1f}s, want ~2s")
            h.wait_for(lambda: 0 in t.raw.closed, 5, "the upload's upstream connection to close")
            s.close()
        finally:
            t.raw.stop()


def test_aborted_upload_closes_its_upstream_connection_promptly():
    with h.TestEnv("upres") as env:
        t = ru.hostile_topology(env)
        try:
            s = ru.tls_connect(t.gw.port, "http/1.1")
            _upload_started(t, s, t.raw.mark())
            h.check(t.raw.closed == [], "the upstream connection closed early")
            s.close()  # the client goes away mid-body
            t0 = time.monotonic()
            h.wait_for(lambda: 0 in t.raw.closed, 5,
                       "the aborted upload's upstream connection to close", interval=0.1)
            took = time.monotonic() - t0
            h.check(took <= 3.0, f"upstream connection closed {took:.1f}s after the abort")
        finally:
            t.raw.stop()


def _nginx(env, t):
    n = h.Nginx(env, name="nginx-solo")
    cert, key = h.issue(t.mesh_ca, env.path("pki", "upstream-solo"), dns=["web.acme.svc"],
                        spiffe=h.workload_id("acme"))
    n.add_server("solo", cert, key, t.mesh_ca_pem)
    return n.start()


def test_single_ejected_endpoint_serves_again_once_back():
    with h.TestEnv("upres") as env:
        t = h.build_topology(env, start=False)
        n = _nginx(env, t)
        ep = n.server("solo").endpoint
        path = os.path.join(t.gw.dir, "tenants.d", "acme.toml")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        old = f"[cluster.web]\nendpoints = [{h.toml_str(t.nginx.server('acme').endpoint)}]\n"
        h.check(old in text, "acme.toml layout changed; cannot rewrite [cluster.web]")
        text = text.replace(old, f"[cluster.web]\nendpoints = [{h.toml_str(ep)}]\n"
                                 'max_failures = 1\neject_time = "60s"\n')
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        t.gw.start()
        h.check(h.get(t, "acme", "/before").status == 200, "cluster not serving")
        n.proc.stop()
        r = h.get(t, "acme", "/down")
        h.check(r.status == 502, f"the stopped endpoint: {r!r}")  # and now it is ejected
        n.start()
        r = h.get(t, "acme", "/back")
        h.check(r.status == 200, f"the endpoint is back but the request got {r.status}")
        h.check(h.scrape_sum(t.gw, "portcullis_upstream_panic_total", cluster="web") >= 1,
                "portcullis_upstream_panic_total did not count the panic route")


def _set_web_endpoints(t, endpoints_toml, extra=""):
    path = os.path.join(t.gw.dir, "tenants.d", "acme.toml")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    old = f"[cluster.web]\nendpoints = [{h.toml_str(t.nginx.server('acme').endpoint)}]\n"
    h.check(old in text, "acme.toml layout changed; cannot rewrite [cluster.web]")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(old, f"[cluster.web]\nendpoints = {endpoints_toml}\n{extra}"))


def test_endpoint_names_resolve_through_the_gateway_resolver():
    """A host name endpoint resolves (c-ares reads /etc/hosts like the system resolver); a name
    that does not resolve is 502 with reason upstream_resolve_failed."""
    with h.TestEnv("upres") as env:
        t = h.build_topology(env, start=False)
        port = t.nginx.server("acme").endpoint.rsplit(":", 1)[1]
        _set_web_endpoints(t, f'["localhost:{port}"]')
        t.gw.start()
        r = h.get(t, "acme", "/by-name")
        h.check(r.status == 200, f"endpoint localhost:{port}: {r!r}")
    with h.TestEnv("upres") as env:
        t = h.build_topology(env, start=False)
        _set_web_endpoints(t, '["no-such-host.invalid:443"]')
        t.gw.start()
        r = h.get(t, "acme", "/unresolved", timeout=15)
        h.check(r.status == 502, f"unresolvable endpoint: {r!r}")
        e = t.gw.wait_access(lambda x: x.get("path") == "/unresolved", "path=/unresolved")[-1]
        h.check(e.get("reason") == "upstream_resolve_failed", f"access log: {e}")
