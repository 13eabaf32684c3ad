"""CONTRACT "Rules the configuration enforces": upstream traffic is mutual TLS.

The upstream is a real nginx that requires a client certificate from the mesh CA
(ssl_verify_client on; ssl_client_certificate mesh-ca.pem; ssl_verify_depth 2).
"""

import json
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
