"""Operations: a fleet of three gateways behind HAProxy (standing in for the cloud load
balancer): PROXY v2 to each, health checks on /readyz, one shared ticket-key file. A rolling
restart (each gateway drained with drain_delay and replaced in turn) under HTTP/1.1 and HTTP/2
load fails no request, and TLS sessions resume across instances.
"""

import os
import shutil
import signal
import socket
import ssl
import threading

import harness as h
from harness.load import CurlLoad
from harness.wire import recv_until_close

URLS_PER_CURL = 5
# HAProxy checks every 100 ms and needs 2 failures: well inside drain_delay.
DRAIN_DELAY = "1500ms"


class ConnLoad(threading.Thread):
    """A new TLS connection per HTTP/1.1 request through HAProxy, as fast as Python goes: what
    reaches a gateway between its listener closing and HAProxy noticing would fail here."""

    def __init__(self, t, port):
        super().__init__(daemon=True)
        self.http2 = False
        self.port = port
        self.ctx = ssl.create_default_context(cafile=h.tenant_ca_pem(t, "acme"))
        self.ok = 0
        self.failures = []
        self.stop = threading.Event()

    def run(self):
        req = (f"GET /fleet-conn HTTP/1.1\r\nHost: {h.ACME_HOST}\r\n"
               "Connection: close\r\n\r\n").encode()
        for _ in range(100000):  # bounded; stopped by the test long before
            if self.stop.is_set():
                return
            data = b""
            try:
                raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                with self.ctx.wrap_socket(raw, server_hostname=h.ACME_HOST) as s:
                    s.sendall(req)
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        data += chunk
            except OSError as e:
                data = repr(e).encode()
            if data.startswith(b"HTTP/1.1 200"):
                self.ok += 1
            else:
                self.failures.append(data[:120])


def fleet_member(t, name, keys):
    """A gateway with acme's tenants, a PROXY v2 listener and the shared ticket keys."""
    listeners = [{"name": "public", "kind": "ingress", "address": f"127.0.0.1:{h.free_port()}",
                  "unknown_sni": "reject", "proxy_protocol": "v2",
                  "trusted_proxies": ["127.0.0.1/32"]}]
    gw = h.Gateway(t.env, name=name, listeners=listeners)
    gw.set_mesh(t.mesh_ca_pem, t.gw_cert, t.gw_key)
    gw.drain_delay = DRAIN_DELAY
    src = os.path.join(t.gw.dir, "tenants.d")
    for f in os.listdir(src):
        shutil.copyfile(os.path.join(src, f), os.path.join(gw.dir, "tenants.d", f))
    plain = gw.gateway_toml
    gw.gateway_toml = lambda: plain().replace(
        "[gateway]\n", f"[gateway]\nticket_keys = {h.toml_str(keys)}\n", 1)
    return gw


def haproxy_status(sock_path):
    """{server name: status} from HAProxy's stats socket."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(sock_path)
        s.sendall(b"show stat\n")
        data = recv_until_close(s)
    except OSError:
        return {}
    finally:
        s.close()
    out = {}
    for line in data.decode(errors="replace").splitlines():
        f = line.split(",")
        if len(f) > 17 and f[0] == "be" and f[1] not in ("BACKEND", "FRONTEND"):
            out[f[1]] = f[17]
    return out


def served_by(gws, path):
    return [gw.name for gw in gws if any(e.get("path") == path for e in gw.access_log())]


def test_rolling_restart_behind_haproxy():
    with h.TestEnv("fleet") as env:
        t = h.build_topology(env, start=False)  # PKI, tenants and the upstream nginx
        keys = env.path("tickets.key")
        with open(keys, "wb") as f:
            f.write(os.urandom(80 * 2))
        os.chmod(keys, 0o600)
        gws = [fleet_member(t, f"gw{i}", keys) for i in range(3)]
        for gw in gws:
            gw.start()
        hp_port = h.free_port()
        stats = env.path("haproxy.sock")
        servers = "\n".join(
            f"    server {gw.name} 127.0.0.1:{gw.port} send-proxy-v2 check port {gw.admin_port} "
            "inter 100ms fall 2 rise 2" for gw in gws)
        cfg = env.write("haproxy.cfg", f"""global
    maxconn 512
    stats socket {stats} level admin
defaults
    mode tcp
    # no retry on a refused connection: a cloud load balancer does not hide one either
    retries 0
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:{hp_port}
    default_backend be
backend be
    balance roundrobin
    option httpchk GET /readyz
{servers}
""")
        hp = env.start("haproxy", ["haproxy", "-db", "-f", cfg])
        h.wait_for(lambda: sorted(haproxy_status(stats).values()) == ["UP"] * 3
                   or not hp.alive(), 15, "haproxy: three gateways UP")
        h.check(hp.alive(), "haproxy exited: " + hp.describe())

        # TLS resumption across instances: one session, offered on connections that HAProxy's
        # round robin sends to the other gateways
        ctx = ssl.create_default_context(cafile=h.tenant_ca_pem(t, "acme"))
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # the session is ready after the handshake
        session, resumed = None, []
        for i in range(6):
            raw = socket.create_connection(("127.0.0.1", hp_port), timeout=5)
            s = ctx.wrap_socket(raw, server_hostname=h.ACME_HOST, session=session)
            path = f"/resume-{i}"
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {h.ACME_HOST}\r\nConnection: close\r\n\r\n"
                      .encode())
            while s.recv(65536):
                pass
            if session is None:
                session, first = s.session, path
            elif s.session_reused:
                resumed.append(path)
            s.close()
        first_gw = h.wait_for(lambda: served_by(gws, first), 5, "the first connection's gateway")
        others = set()
        for path in resumed:
            who = h.wait_for(lambda p=path: served_by(gws, p), 5, f"gateway of {path}")
            others.update(w for w in who if w not in first_gw)
        h.check(len(others) >= 1, f"no session resumed on another instance: first on {first_gw}, "
                f"resumed {resumed}")
        print(f"  TLS resumption: {len(resumed)} of 5 resumed, on {len(others)} other instance(s)")

        loads = [CurlLoad(t, hp_port, "/fleet-load", http2, urls_per_curl=URLS_PER_CURL)
                 for http2 in (False, True)] + [ConnLoad(t, hp_port)]
        for load in loads:
            load.start()
        try:
            h.wait_for(lambda: all(load.ok >= URLS_PER_CURL for load in loads), 20,
                       "load running before the rolling restart")
            for gw in gws:
                gw.proc.expected_exit = True
                gw.proc.send_signal(signal.SIGTERM)
                h.wait_for(lambda g=gw: haproxy_status(stats).get(g.name, "").startswith("DOWN"),
                           10, f"haproxy marks {gw.name} DOWN while it drains")
                code = gw.proc.wait(15)
                h.check(code == 0, f"{gw.name}: exit {code} after drain: " + gw.proc.describe())
                gw.start()
                h.wait_for(lambda g=gw: haproxy_status(stats).get(g.name) == "UP", 10,
                           f"haproxy marks the new {gw.name} UP")
            after = [load.ok for load in loads]
            h.wait_for(lambda: all(load.ok >= a + URLS_PER_CURL
                                   for load, a in zip(loads, after)), 20,
                       "load served after the rolling restart")
        finally:
            for load in loads:
                load.stop.set()
            for load in loads:
                load.join(60)
        for load in loads:
            kind = type(load).__name__ + (" HTTP/2" if load.http2 else " HTTP/1.1")
            h.check(not load.failures, f"{kind}: {len(load.failures)} failed curl runs during the "
                    f"rolling restart (ok={load.ok}): {load.failures[:3]}")
        print(f"  rolling restart: {loads[0].ok} + {loads[2].ok} HTTP/1.1 and {loads[1].ok} HTTP/2 "
              "requests, 0 failed")
