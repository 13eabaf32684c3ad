"""Operations: upstream health (active checks + passive ejection) and request timeouts.

Two nginx upstreams behind one cluster; one is killed (by pid): traffic goes only to the other and
portcullis_upstream_healthy{tenant="acme",cluster="web",endpoint="host:port"} drops to 0; restarted, it comes back.
All endpoints down -> panic routing tries them anyway -> 502 (connect failed). request_timeout against an upstream that never answers -> 504.
"""

import os
import time

import harness as h
from harness import metrics
from harness.servers import Listener, server_context

HEALTH = """health_path = "/healthz"
health_interval = "1s"
healthy_threshold = 1
unhealthy_threshold = 1
max_failures = 1
eject_time = "1s"
"""


def upstream(env, t, label):
    n = h.Nginx(env, name=f"nginx-{label}")
    cert, key = h.issue(t.mesh_ca, env.path("pki", f"upstream-{label}"), dns=["web.acme.svc"],
                        spiffe=h.workload_id("acme"))
    n.add_server(label, cert, key, t.mesh_ca_pem)
    return n.start()


def set_web_cluster(t, endpoints, extra=""):
    """Rewrites acme's [cluster.web] endpoints (and adds keys)."""
    path = os.path.join(t.gw.dir, "tenants.d", "acme.toml")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    old = f"[cluster.web]\nendpoints = [{h.toml_str(t.nginx.server('acme').endpoint)}]\n"
    h.check(old in text, "acme.toml layout changed; cannot rewrite [cluster.web]")
    text = text.replace(old, f"[cluster.web]\nendpoints = {h.toml_list(endpoints)}\n{extra}")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def two_endpoints(env, cluster_extra):
    """The topology, acme's web cluster on two nginx upstreams a and b (cluster_extra added),
    gateway started: (t, a, b, endpoint of a, endpoint of b)."""
    t = h.build_topology(env, start=False)
    a, b = upstream(env, t, "a"), upstream(env, t, "b")
    ea, eb = a.server("a").endpoint, b.server("b").endpoint
    set_web_cluster(t, [ea, eb], cluster_extra)
    t.gw.start()
    return t, a, b, ea, eb


def healthy(gw, endpoint):
    """The gauge for acme/web/endpoint, or None if absent."""
    vals = [v for n, l, v in metrics(gw) if n == "portcullis_upstream_healthy"
            and l.get("tenant") == "acme" and l.get("cluster") == "web"
            and l.get("endpoint") == endpoint]
    return vals[0] if vals else None


def who(t, n=1):
    out = []
    for i in range(n):
        r = h.get(t, "acme", f"/who{i}")
        out.append(r.body.split()[2] if r.status == 200 and r.body.startswith("hello from")
                   else r.status)
    return out


def test_unhealthy_endpoint_is_ejected_and_recovers():
    with h.TestEnv("health") as env:
        t, a, b, ea, eb = two_endpoints(env, HEALTH)
        h.wait_for(lambda: healthy(t.gw, ea) == 1 and healthy(t.gw, eb) == 1, 5,
                   "both endpoints healthy in /metrics")
        seen = set(who(t, 8))
        h.check(seen == {"a", "b"}, f"traffic not spread over both endpoints: {seen}")
        b.proc.stop()
        h.wait_for(lambda: healthy(t.gw, eb) == 0, 6, "the gauge of the killed endpoint to drop "
                   "to 0", interval=0.2)
        h.check(healthy(t.gw, ea) == 1, "the live endpoint is not healthy")
        answers = who(t, 10)
        h.check(answers == ["a"] * 10, f"traffic went to an ejected endpoint: {answers}")
        # restart b on the same port: health checks bring it back
        b.start()
        h.wait_for(lambda: healthy(t.gw, eb) == 1, 8, "the restarted endpoint healthy again",
                   interval=0.2)
        h.wait_for(lambda: "b" in who(t, 6), 5, "traffic back on the restarted endpoint",
                   interval=0.2)
        # the health checks hit health_path on the upstreams
        h.check("/healthz" in a.access_log(), "no active health check reached nginx a")


def test_passive_ejection_without_active_checks():
    with h.TestEnv("health") as env:
        t, a, b, ea, eb = two_endpoints(env, 'max_failures = 1\neject_time = "10s"\n')
        h.check(set(who(t, 6)) == {"a", "b"}, "traffic not spread over both endpoints")
        b.proc.stop()
        # connect failures eject b; answers during ejection all come from a (at most the
        # requests that hit b before it was ejected may fail)
        answers = who(t, 12)
        failures = [x for x in answers if x != "a"]
        h.check(len(failures) <= 1, f"more than max_failures requests hit the dead endpoint: "
                f"{answers}")
        h.check(answers[-6:] == ["a"] * 6, f"dead endpoint not ejected: {answers}")
        h.check(healthy(t.gw, eb) == 0, f"gauge for the ejected endpoint: {healthy(t.gw, eb)}")


def test_all_endpoints_down_is_502_after_panic_routing():
    with h.TestEnv("health") as env:
        t, a, b, ea, eb = two_endpoints(env, HEALTH)
        h.check(h.get(t, "acme", "/up").status == 200, "cluster not serving")
        a.proc.stop()
        b.proc.stop()
        h.wait_for(lambda: healthy(t.gw, ea) == 0 and healthy(t.gw, eb) == 0, 6,
                   "both gauges 0", interval=0.2)
        for http2 in (False, True):
            r = h.get(t, "acme", "/down", http2=http2)
            # every endpoint unhealthy: panic routing tries them anyway, and the connect fails
            h.check(r.status == 502, f"http2={http2}: want 502 with every endpoint down: {r!r}")
            h.check(len(r.body.strip().splitlines()) == 1 and ".pem" not in r.body, repr(r))
        # other clusters of the tenant are untouched
        r = h.get(t, "acme", "/h2/x")
        h.check(r.status == 200, f"another cluster broken: {r!r}")


class StallingUpstream(Listener):
    """A TLS server (mesh cert with acme's identity) that reads the request and never answers."""

    def __init__(self, cert, key):
        super().__init__(backlog=16)
        self.ctx = server_context(cert, key)
        self.conns = []
        self.requests = 0
        self.start()

    def serve(self, conn):
        conn.settimeout(10)
        tls = self.ctx.wrap_socket(conn, server_side=True)
        self.conns.append(tls)
        if tls.recv(65536):
            self.requests += 1
        time.sleep(10)


def test_request_timeout_is_504():
    with h.TestEnv("health") as env:
        t = h.build_topology(env, start=False)
        cert, key = h.issue(t.mesh_ca, env.path("pki", "stall"), dns=["web.acme.svc"],
                            spiffe=h.workload_id("acme"))
        stall = StallingUpstream(cert, key)
        try:
            set_web_cluster(t, [f"127.0.0.1:{stall.port}"], 'request_timeout = "1s"\n')
            t.gw.start()
            for http2 in (False, True):
                t0 = time.monotonic()
                r = h.get(t, "acme", "/slow", http2=http2, timeout=15)
                took = time.monotonic() - t0
                h.check(r.status == 504, f"http2={http2}: want 504 from a silent upstream: {r!r}")
                h.check(0.8 <= took <= 4.0, f"504 after {took:.1f}s, want ~1s")
                h.check(len(r.body.strip().splitlines()) == 1, f"body: {r.body!r}")
            h.check(stall.requests >= 1, "the request never reached the stalling upstream")
            # another cluster (no timeout configured, normal upstream) is unaffected
            h.check(h.get(t, "acme", "/h2/ok").status == 200, "other cluster broken")
            e = t.gw.wait_access(lambda x: x.get("path") == "/slow", "path=/slow")[-1]
            h.check(int(e.get("status", 0)) == 504, f"access log: {e}")
        finally:
            stall.close()
