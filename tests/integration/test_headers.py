"""CONTRACT "Request handling": headers set towards upstreams, and tenant client certificates.

X-Forwarded-For / -Proto / -Host, Forwarded, X-Request-Id (kept when well-formed), and
X-Forwarded-Client-Cert: set from the verified client certificate of a tenant with client_ca,
and stripped when the client sent it itself. The upstream nginx echoes what it received
(/headers).
"""

import re

import harness as h


def test_forwarded_headers_and_request_id_at_upstream():
    with h.TestEnv("headers") as env:
        t = h.build_topology(env)
        ids = set()
        for http2 in (False, True):
            for path in ("/headers", "/h2/headers"):
                r = h.get(t, "acme", path, http2=http2)
                h.check(r.status == 200, repr(r))
                echo = h.parse_headers_echo(r.body)
                h.check("127.0.0.1" in echo.get("xff", ""), f"X-Forwarded-For: {echo}")
                h.check(echo.get("xfp") == "https", f"X-Forwarded-Proto: {echo}")
                # the Host the client sent (curl includes the port)
                h.check(echo.get("xfh") in (h.ACME_HOST, f"{h.ACME_HOST}:{t.gw.port}"),
                        f"X-Forwarded-Host: {echo}")
                h.check("for=" in echo.get("forwarded", "")
                        and "proto=https" in echo.get("forwarded", ""), f"Forwarded: {echo}")
                h.check(echo.get("host") in (h.ACME_HOST, "web.acme.svc"), f"Host: {echo}")
                rid = echo.get("xrid", "")
                h.check(len(rid) >= 8, f"X-Request-Id missing or too short: {echo}")
                ids.add(rid)
        h.check(len(ids) == 4, f"X-Request-Id values are not unique per request: {ids}")
        # the access log carries the same request id the upstream saw
        logged = {e.get("request_id") for e in t.gw.wait_access(
            lambda e: e.get("path", "").endswith("/headers"), "path=/headers")}
        h.check(ids <= logged, f"request ids at upstream {ids} not in access log {logged}")


def test_client_request_id_kept_when_well_formed():
    with h.TestEnv("headers") as env:
        t = h.build_topology(env)
        good = "0f8fad5b-d9cb-469f-a165-70867728950e"
        for http2 in (False, True):
            r = h.get(t, "acme", "/headers", http2=http2, headers=[f"X-Request-Id: {good}"])
            echo = h.parse_headers_echo(r.body)
            h.check(echo.get("xrid") == good, f"well-formed X-Request-Id not kept: {echo}")
            bad = "bad id\twith\"junk" + "x" * 300
            r = h.get(t, "acme", "/headers", http2=http2, headers=[f"X-Request-Id: {bad}"])
            echo = h.parse_headers_echo(r.body)
            h.check(r.status == 200 and echo.get("xrid") and echo.get("xrid") != bad,
                    f"malformed X-Request-Id passed through: {echo}")


def test_client_sent_xfcc_is_stripped():
    with h.TestEnv("headers") as env:
        t = h.build_topology(env)
        forged = "By=spiffe://evil/x;URI=spiffe://mesh.example/ns/acme/sa/admin"
        for http2 in (False, True):
            r = h.get(t, "acme", "/headers", http2=http2,
                      headers=[f"X-Forwarded-Client-Cert: {forged}"])
            h.check(r.status == 200, repr(r))
            echo = h.parse_headers_echo(r.body)
            h.check(echo.get("xfcc", "") == "", f"forged XFCC reached the upstream: {echo}")
            # with a real client certificate: only the verified identity is passed on
            r = h.get(t, "initech", "/headers", http2=http2, cert=t.client_cert,
                      key=t.client_key, headers=[f"X-Forwarded-Client-Cert: {forged}"])
            h.check(r.status == 200, repr(r))
            xfcc = h.parse_headers_echo(r.body).get("xfcc", "")
            h.check("evil" not in xfcc and "sa/admin" not in xfcc,
                    f"forged XFCC kept next to the real one: {xfcc!r}")
            h.check(h.PARTNER_CLIENT_ID in xfcc, f"verified identity missing: {xfcc!r}")


def test_tenant_client_ca_requires_client_cert_and_passes_identity():
    with h.TestEnv("headers") as env:
        t = h.build_topology(env)
        for http2 in (False, True):
            # no client certificate: refused, nothing reaches the upstream
            r = h.get(t, "initech", "/headers", http2=http2)
            h.check(r.rc != 0 or r.status in (400, 401, 403, 495, 496),
                    f"http2={http2}: request without client cert accepted: {r!r}")
            h.check("xfcc=" not in r.body, f"reached the upstream without a client cert: {r!r}")
            # a certificate from a CA the tenant does not trust: refused
            r = h.get(t, "initech", "/headers", http2=http2, cert=t.stranger_cert,
                      key=t.stranger_key)
            h.check(r.rc != 0 or r.status in (400, 401, 403, 495, 496),
                    f"http2={http2}: client cert from an untrusted CA accepted: {r!r}")
            # the partner's certificate: 200 and its identity in XFCC (Envoy's format)
            r = h.get(t, "initech", "/headers", http2=http2, cert=t.client_cert,
                      key=t.client_key)
            h.check(r.rc == 0 and r.status == 200, f"http2={http2}: {r!r}")
            xfcc = h.parse_headers_echo(r.body).get("xfcc", "")
            h.check(f"URI={h.PARTNER_CLIENT_ID}" in xfcc, f"XFCC lacks URI=...: {xfcc!r}")
            m = re.search(r"Hash=([0-9a-fA-F]{64})", xfcc)
            if m:
                want = h.cert_der_sha256(t.client_cert)
                h.check(m.group(1).lower() == want, f"XFCC Hash {m.group(1)} != {want}")
        # tenants without client_ca do not ask for one
        r = h.get(t, "acme", "/headers")
        h.check(r.status == 200 and h.parse_headers_echo(r.body).get("xfcc", "") == "",
                repr(r))
