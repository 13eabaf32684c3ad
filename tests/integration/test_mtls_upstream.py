"""CONTRACT "Rules the configuration enforces": upstream traffic is mutual TLS.

The upstream is a real nginx that requires a client certificate from the mesh CA
(ssl_verify_client on; ssl_client_certificate mesh-ca.pem; ssl_verify_depth 2).
"""

import json
import os
import signal
from urllib.parse import unquote

import harness as h


def test_right_identity_is_200_and_gateway_presents_mesh_cert():
    with h.TestEnv("mtls") as env:
        t = h.build_topology(env)
        for http2 in (False, True):
            r = h.get(t, "acme", "/whoami", http2=http2)
            h.check(r.status == 200, f"http2={http2}: {r!r}")
            h.check(r.body.strip().endswith("SUCCESS"),
                    f"upstream did not verify the gateway's client cert: {r.body!r}")
        r = h.get(t, "acme", "/cert")
        h.check(r.status == 200, repr(r))
        text = h.cert_text(unquote(r.body))
        h.check(f"URI:{h.GATEWAY_ID}" in text,
                f"the gateway did not present its mesh certificate ({h.GATEWAY_ID}):\n{text}")


def test_h2_cluster_speaks_h2_upstream():
    with h.TestEnv("mtls") as env:
        t = h.build_topology(env)
        for http2 in (False, True):
            r = h.get(t, "acme", "/h2/headers", http2=http2)
            h.check(r.status == 200, repr(r))
            echo = h.parse_headers_echo(r.body)
            h.check(echo.get("proto") == "HTTP/2.0", f"cluster protocol h2 not used: {echo}")
            h.check(echo.get("client_verify") == "SUCCESS", repr(echo))
        r = h.get(t, "acme", "/headers")
        echo = h.parse_headers_echo(r.body)
        h.check(echo.get("proto") == "HTTP/1.1", f"http/1.1 cluster used {echo.get('proto')}")


def test_wrong_identity_is_502_and_audited():
    with h.TestEnv("mtls") as env:
        t = h.build_topology(env)
        for http2 in (False, True):
            r = h.get(t, "acme", "/wrong-identity/x", http2=http2)
            h.check(r.status == 502, f"http2={http2}: want 502, got {r!r}")
            h.check("hello from" not in r.body, f"answered by the upstream: {r!r}")
            h.check(len(r.body.strip().splitlines()) == 1, f"body not one line: {r.body!r}")
            h.check(".pem" not in r.body and ".key" not in r.body, f"leaks paths: {r.body!r}")
        seen = h.workload_id("acme")
        lines = t.gw.wait_audit(
            lambda e: e.get("event") == "mtls_fail" and seen in json.dumps(e),
            f"event=mtls_fail naming the identity seen ({seen})")
        e = lines[-1]
        h.check(e.get("decision") == "deny", f"mtls_fail decision is not deny: {e}")
        h.check(e.get("reason"), f"mtls_fail without a reason: {e}")
        # the nginx never answered a request on that route
        h.check("/wrong-identity/" not in t.nginx.access_log(),
                "a request was sent to an upstream with the wrong identity")


def test_upstream_from_foreign_ca_is_502():
    with h.TestEnv("mtls") as env:
        t = h.build_topology(env)
        r = h.get(t, "acme", "/rogue/x")
        h.check(r.status == 502, f"upstream signed by another CA: want 502, got {r!r}")
        h.check("/rogue/" not in t.nginx.access_log(), "request sent to a rogue upstream")
        t.gw.wait_audit(lambda e: e.get("event") == "mtls_fail", "event=mtls_fail (foreign CA)")


def test_right_route_still_works_after_mtls_failures():
    with h.TestEnv("mtls") as env:
        t = h.build_topology(env)
        for _ in range(3):
            h.check(h.get(t, "acme", "/wrong-identity/x").status == 502, "want 502")
        r = h.get(t, "acme", "/fine")
        h.check(r.status == 200 and "acme upstream /fine" in r.body, repr(r))


def reconnect_every_request(nginx):
    """Restarts the upstream nginx so that it closes each connection after one request and logs
    whether the TLS session was resumed ("r") or not ("."). A restart, not a reload: an old
    worker would go on serving the gateway's pooled connections with the old log format."""
    path = os.path.join(nginx.dir, "nginx.conf")
    with open(path, encoding="utf-8") as f:
        conf = f.read()
    conf = conf.replace("keepalive_requests 100000;", "keepalive_requests 1;")
    conf = conf.replace('"$ssl_client_verify"\';', '"$ssl_client_verify" reused=$ssl_session_reused\';')
    with open(path, "w", encoding="utf-8") as f:
        f.write(conf)
    nginx.proc.stop()
    nginx.start(conf=path, proc_name=nginx.name + "-restarted")


def upstream_reuse(nginx, path):
    """The reused= field nginx logged for `path` ("r", "." or None when not logged)."""
    for line in nginx.access_log().splitlines():
        if f'"GET {path} ' in line and "reused=" in line:
            return line.rsplit("reused=", 1)[1].strip()
    return None


def test_upstream_sessions_resume_per_cluster_and_generation():
    with h.TestEnv("mtls") as env:
        t = h.build_topology(env)
        reconnect_every_request(t.nginx)
        h.wait_for(lambda: h.get(t, "acme", "/probe").status == 200
                   and upstream_reuse(t.nginx, "/probe"), 10, "nginx reloaded")
        handshakes = "portcullis_upstream_tls_handshakes_total"
        full0 = h.scrape_sum(t.gw, handshakes, cluster="web", resumed="false")
        for i in range(6):
            r = h.get(t, "acme", f"/resume-{i}")
            h.check(r.status == 200, repr(r))
        # nginx logs a request after answering it: the last line can lag the response
        h.wait_for(lambda: upstream_reuse(t.nginx, "/resume-5") is not None, 5,
                   "nginx logged the last request")
        seen = [upstream_reuse(t.nginx, f"/resume-{i}") for i in range(6)]
        # one connection per request (keepalive_requests 1), each resuming the newest session
        h.check(seen[1:] == ["r"] * 5, f"upstream sessions not resumed: {seen}")
        h.check(h.scrape_sum(t.gw, handshakes, cluster="web", resumed="true") >= 5,
                "resumed upstream handshakes not counted")
        h.check(h.scrape_sum(t.gw, handshakes, cluster="web", resumed="false") == full0,
                "a full handshake where a session could be resumed")

        # Another cluster on the same endpoint expects another identity: it must never be
        # handed the web cluster's session, so its full handshake fails the identity check.
        for _ in range(2):
            r = h.get(t, "acme", "/wrong-identity/after-resume")
            h.check(r.status == 502, f"want 502, got {r!r}")
        h.check("/wrong-identity/" not in t.nginx.access_log(),
                "a request reached an upstream with the wrong identity")

        # A reload makes a new generation (its trust bundle and certificate could differ):
        # its first connection verifies in full.
        gen = h.scrape_sum(t.gw, "portcullis_config_generation")
        t.gw.proc.send_signal(signal.SIGHUP)
        h.wait_for(lambda: h.scrape_sum(t.gw, "portcullis_config_generation") > gen, 10,
                   "the reload")
        for i in range(2):
            r = h.get(t, "acme", f"/after-reload-{i}")
            h.check(r.status == 200, repr(r))
        seen = [upstream_reuse(t.nginx, f"/after-reload-{i}") for i in range(2)]
        h.check(seen == [".", "r"], f"after a reload: want a full handshake then a resumed one, "
                                    f"got {seen}")
        h.check(h.scrape_sum(t.gw, handshakes, cluster="web", resumed="false") == full0 + 1,
                "the reload's first upstream connection was not a full handshake")
