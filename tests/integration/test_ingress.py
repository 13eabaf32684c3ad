"""CONTRACT "Request handling": ingress TLS by SNI per tenant, host/path routing, 421/404, IPv6.

Clients are curl (HTTP/1.1 and --http2), nghttp and openssl s_client against the standard
topology (harness.build_topology): tenants acme, globex and initech, each with its own CA.
"""

import json
import re

import harness as h


def _served_cert(t, servername, cafile=None, address="127.0.0.1", port=None):
    r = h.s_client(port or t.gw.port, servername, address=address, cafile=cafile)
    pem = h.first_cert_pem(r.stdout)
    h.check(pem is not None, f"no certificate served for SNI {servername!r}:\n{r.stdout}\n"
            f"{r.stderr}")
    return r, h.cert_text(pem)


def test_each_tenant_serves_its_own_certificate_by_sni():
    with h.TestEnv("ingress") as env:
        t = h.build_topology(env)
        for tenant, sni, other in (("acme", h.ACME_HOST, "globex"),
                                   ("acme", h.ACME_WILDCARD_HOST, "globex"),
                                   ("globex", h.GLOBEX_HOST, "acme")):
            r, text = _served_cert(t, sni, cafile=h.tenant_ca_pem(t, tenant))
            h.check("Verify return code: 0 (ok)" in r.stdout,
                    f"{sni}: chain does not verify against the {tenant} CA only:\n{r.stdout}")
            san = "*.api.acme.example" if sni == h.ACME_WILDCARD_HOST else sni
            h.check(f"DNS:{san}" in text, f"{sni}: served cert lacks DNS:{san}:\n{text}")
            # and the other tenant's CA does not verify it
            r2 = h.s_client(t.gw.port, sni, cafile=h.tenant_ca_pem(t, other))
            h.check("Verify return code: 0 (ok)" not in r2.stdout,
                    f"{sni}: verified against the {other} CA too")


def test_two_tenants_curl_http1_and_http2():
    with h.TestEnv("ingress") as env:
        t = h.build_topology(env)
        for http2 in (False, True):
            want_version = "2" if http2 else "1.1"
            r = h.get(t, "acme", "/hello", http2=http2)
            h.check(r.rc == 0 and r.status == 200, repr(r))
            h.check(r.http_version == want_version, f"negotiated {r.http_version}: {r!r}")
            h.check(r.body == "hello from acme upstream /hello\n", repr(r))
            r = h.get(t, "acme", "/hello", http2=http2, host=h.ACME_WILDCARD_HOST)
            h.check(r.status == 200 and "acme upstream" in r.body, f"wildcard host: {r!r}")
            r = h.get(t, "globex", "/app/x", http2=http2)
            h.check(r.rc == 0 and r.status == 200, repr(r))
            h.check(r.body == "hello from globex upstream /app/x\n", repr(r))
        # curl trusting only globex's CA must refuse acme's certificate
        r = h.curl("/hello", host=h.ACME_HOST, port=t.gw.port,
                   cacert=h.tenant_ca_pem(t, "globex"))
        h.check(r.rc == 60, f"acme cert accepted with the globex CA: {r!r}")


def test_two_tenants_nghttp():
    with h.TestEnv("ingress") as env:
        t = h.build_topology(env)
        for host, path, want in ((h.ACME_HOST, "/n", "hello from acme upstream /n"),
                                 (h.GLOBEX_HOST, "/app/n", "hello from globex upstream /app/n")):
            # nghttp takes SNI from :authority; it does not verify the chain, so check the
            # certificate separately (test above) and the answer here
            r = h.run(["nghttp", "-v", "-H", f":authority: {host}",
                       f"https://127.0.0.1:{t.gw.port}{path}"], timeout=30)
            h.check(r.returncode == 0, f"nghttp {host} failed: {r.stdout[-1500:]}{r.stderr}")
            h.check(want in r.stdout, f"nghttp {host}: unexpected body:\n{r.stdout[-1500:]}")
            h.check(re.search(r":status: 200", r.stdout), f"no :status 200:\n{r.stdout[-1500:]}")
            # nghttp -v prints this line once ALPN is settled (and exits 0 even without h2)
            h.check(re.search(r"^The negotiated protocol: h2$", r.stdout, re.M),
                    f"nghttp did not negotiate h2:\n{r.stdout[-1500:]}")


def test_unknown_sni_gets_unrecognized_name_alert():
    with h.TestEnv("ingress") as env:
        t = h.build_topology(env)
        r = h.s_client(t.gw.port, "nope.example")
        out = r.stdout + r.stderr
        h.check("unrecognized name" in out, f"no unrecognized_name alert:\n{out[-2000:]}")
        h.check(h.first_cert_pem(r.stdout) is None, "a certificate was served for unknown SNI")
        # curl too: the handshake fails, nothing is served
        c = h.curl("/", host="nope.example", port=t.gw.port)
        h.check(c.rc != 0 and c.status == 0, f"unknown SNI served: {c!r}")


def test_unknown_sni_is_audited():
    with h.TestEnv("ingress") as env:
        t = h.build_topology(env)
        h.s_client(t.gw.port, "nope.example")
        t.gw.wait_audit(lambda e: e.get("event") == "tls_reject" and e.get("decision") == "deny",
                        "event=tls_reject decision=deny for unknown SNI")


def test_cross_tenant_host_is_421():
    with h.TestEnv("ingress") as env:
        t = h.build_topology(env)
        for http2 in (False, True):
            r = h.get(t, "acme", "/app/x", http2=http2, headers=[f"Host: {h.GLOBEX_HOST}"])
            h.check(r.status == 421, f"http2={http2}: want 421, got {r!r}")
            h.check("globex upstream" not in r.body, f"request reached globex: {r!r}")
            h.check(len(r.body.strip().splitlines()) == 1, f"body is not one line: {r.body!r}")
        # an unknown host on a known tenant's connection is not routed to another tenant either
        r = h.get(t, "globex", "/app/x", headers=[f"Host: {h.ACME_HOST}"])
        h.check(r.status == 421, f"want 421, got {r!r}")


def test_no_route_is_404():
    with h.TestEnv("ingress") as env:
        t = h.build_topology(env)
        for http2 in (False, True):
            r = h.get(t, "globex", "/nothing/here", http2=http2)
            h.check(r.status == 404, f"http2={http2}: want 404, got {r!r}")
            h.check("upstream" not in r.body, f"404 came from an upstream: {r!r}")
            h.check(len(r.body.strip().splitlines()) == 1, f"body is not one line: {r.body!r}")
            h.check(".pem" not in r.body and ".key" not in r.body, f"leaks paths: {r.body!r}")


def test_access_log_records_requests():
    with h.TestEnv("ingress") as env:
        t = h.build_topology(env)
        r = h.get(t, "acme", "/logged", http2=True)
        h.check(r.status == 200, repr(r))
        entries = t.gw.wait_access(lambda e: e.get("path") == "/logged", "path=/logged")
        e = entries[-1]
        for field in ("time", "tenant", "listener", "client", "sni", "tls_version", "alpn",
                      "method", "authority", "path", "status", "bytes_in", "bytes_out",
                      "duration_ms", "upstream", "upstream_identity", "request_id"):
            h.check(field in e, f"access log lacks {field}: {json.dumps(e)}")
        h.check(e["tenant"] == "acme" and e["sni"] == h.ACME_HOST, json.dumps(e))
        h.check(int(e["status"]) == 200 and e["method"] == "GET", json.dumps(e))
        h.check(e["alpn"] == "h2", json.dumps(e))
        h.check(e["upstream_identity"] == h.workload_id("acme"), json.dumps(e))
        h.check(str(e["client"]).startswith("127.0.0.1:"), json.dumps(e))


def test_ipv6_listener():
    if not h.ipv6_loopback_available():
        raise h.Skip("::1 is not available on this machine")
    with h.TestEnv("ingress") as env:
        v4, v6 = h.free_port(), h.free_port("::1")
        t = h.build_topology(env, listeners=[
            {"name": "public4", "kind": "ingress", "address": f"127.0.0.1:{v4}"},
            {"name": "public6", "kind": "ingress", "address": f"[::1]:{v6}"}])
        for http2 in (False, True):
            r = h.get(t, "acme", "/v6", http2=http2, port=v6, address="[::1]")
            h.check(r.rc == 0 and r.status == 200 and "acme upstream /v6" in r.body, repr(r))
        r = h.get(t, "acme", "/v4", port=v4)
        h.check(r.status == 200, f"IPv4 listener next to IPv6: {r!r}")
        entries = t.gw.wait_access(lambda e: e.get("path") == "/v6", "path=/v6")
        client = str(entries[-1].get("client", ""))
        h.check("::1" in client, f"access log client is not ::1: {client!r}")
        h.check(entries[-1].get("listener") == "public6", json.dumps(entries[-1]))
