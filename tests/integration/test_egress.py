"""CONTRACT "[[egress]]": default-deny egress with strict TLS origination.

Topology per test (all on loopback, in a temporary directory):
  - a mesh CA, the gateway's workload certificate, workload client certificates
    (billing = allowed, web = not allowed)
  - a "Partner CA" that signs the fake external server's certificate; [[egress]] ca = that bundle
  - the fake external server: a python ssl server that records connections, handshakes and any
    application bytes (or `openssl s_server -www` for one test)
  - harness.dns.DnsStub as [gateway] resolver: maps api.partner.test to 127.0.0.1 (allow_private =
    true for the positive tests) or to private/link-local addresses for the refusal tests
  - the gateway with two egress listeners: "egress" (client_auth = "mesh") and "egress-plain"
    (client_auth = "none")

Run standalone: /usr/bin/python3 tests/integration/run.py --portcullis PATH -k test_egress
"""

import os
import shutil
import ssl
import time

import harness as h
from harness.wire import http_exchange
from harness.egress import (BILLING_ID, EGRESS_SNI, PARTNER_HOST, WEB_ID, EgressGateway,
                            FakeTlsServer, Scenario, audit_for, default_entries, egress_entry,
                            expired_leaf, good_server, make_pki, mesh_request, plain_request,
                            rsa1024_leaf, spki_pin, spki_pin_openssl)


def assert_tls_fail(sc, r, reason):
    """502 to the client, access log reason, audit egress_tls_fail, no HTTP bytes at the server."""
    f = sc.f
    h.check(r.rc == 0 and r.status == 502, f"expected 502 for {reason}: {r!r}")
    # the body names the failure class, and nothing of the certificate
    h.check(r.body == f"egress TLS failure: {reason}\n",
            f"502 body does not name the failure class {reason}: {r.body!r}")
    acc = f.gw.wait_access(lambda e: e.get("status") == 502 and e.get("reason") == reason,
                           f"status 502 reason {reason}")
    h.check(acc[-1].get("listener") in ("egress", None), f"access line: {acc[-1]}")
    audit = audit_for(f.gw, "egress_tls_fail", reason, PARTNER_HOST, need_source=False)
    time.sleep(0.2)
    snap = sc.server.snapshot() if sc.server else {"requests": []}
    h.check(not snap["requests"],
            f"{reason}: the external server received application bytes: {snap['requests']!r}")
    # the gateway did try (this is a TLS failure, not a policy refusal)
    if sc.server is not None and isinstance(sc.server, FakeTlsServer):
        h.check(snap["connections"] >= 1, f"{reason}: the gateway never connected: {snap}")
    # counted under the entry, never under the host:port the workload asked for
    h.wait_metric_above(f.gw, "portcullis_upstream_failures_total", 0,
                         cluster=f"egress:{PARTNER_HOST}", reason=reason)
    h.check(f":{f.dest_port}" not in f.gw.admin_get("/metrics")[1],
            "a metric label carries the requested destination port")
    # last, so that everything above is verified even while this one fails
    h.check(audit.get("source") == BILLING_ID,
            f"egress_tls_fail audit line does not name the source identity ({BILLING_ID}): "
            f"{audit}")


# ---------------------------------------------------------------------------------------------
# tests: allowed traffic

def test_egress_allowed_host_good_cert_mesh_listener():
    with Scenario("egress", server=good_server) as sc:
        f = sc.f
        r = mesh_request(f, f"{PARTNER_HOST}:{f.dest_port}", "/v1/charge")
        h.check(r.rc == 0 and r.status == 200, f"allowed egress failed: {r!r}")
        h.check(r.body == f"hello from {PARTNER_HOST} /v1/charge\n", f"body: {r!r}")
        snap = sc.server.snapshot()
        h.check(len(snap["requests"]) == 1, f"server saw {snap}")
        req = snap["requests"][0].decode("latin-1")
        h.check(req.startswith("GET /v1/charge HTTP/1.1\r\n"), f"request line: {req!r}")
        h.check(f"\r\nhost: {PARTNER_HOST}".lower() in req.lower(),
                f"upstream Host header does not name the destination: {req!r}")
        h.check(PARTNER_HOST in snap["sni"], f"SNI sent to the destination: {snap['sni']}")
        h.check("A" in sc.dns.asked(PARTNER_HOST), f"no A query seen: {sc.dns.queries}")
        e = audit_for(f.gw, "egress_allow", "allowed", PARTNER_HOST)
        h.check(e.get("source") == BILLING_ID, f"audit source: {e}")


def test_egress_allowed_via_openssl_s_server():
    # `openssl s_server -www` answers GET with an HTTP/1.0 status page and closes.
    started = {}

    def entries(f, _port):
        port = h.free_port()
        proc = f.env.start("s_server", ["openssl", "s_server", "-accept", f"127.0.0.1:{port}",
                                        "-cert", f.server_cert, "-key", f.server_key, "-www"])
        h.wait_for(lambda: h.tcp_connectable("127.0.0.1", port) or not proc.alive(), 10,
                   "openssl s_server")
        h.check(proc.alive(), "openssl s_server exited: " + proc.stderr_text())
        started["port"] = port
        return default_entries(f, port)

    with Scenario("egress", entries=entries) as sc:
        r = mesh_request(sc.f, f"{PARTNER_HOST}:{started['port']}", "/")
        h.check(r.rc == 0 and r.status == 200, f"egress to openssl s_server failed: {r!r}")
        h.check("Ciphers" in r.body or "s_server" in r.body, f"not the s_server page: {r!r}")


def test_egress_plain_listener_star_is_mesh_only():
    # "*" means any mesh identity: an unauthenticated sidecar-style client is not one of them
    def entries(f, port):
        return egress_entry(PARTNER_HOST, port, ca=f.partner_ca_pem, allow=["*"])

    with Scenario("egress", server=good_server, entries=entries) as sc:
        f = sc.f
        dest = f"{PARTNER_HOST}:{f.dest_port}"
        resp = _raw_http(f.plain_port, (f"GET / HTTP/1.1\r\nHost: {dest}\r\n"
                                        "Connection: close\r\n\r\n").encode())
        h.check(resp.startswith("HTTP/1.1 403") and "identity_not_allowed" in resp,
                f"unauthenticated source passed allow = [\"*\"]: {resp!r}")
        h.check(not sc.server.snapshot()["requests"], "request bytes reached the server")


def test_egress_plain_listener_from_localhost():
    def entries(f, port):
        return egress_entry(PARTNER_HOST, port, ca=f.partner_ca_pem, allow=["unauthenticated"])

    with Scenario("egress", server=good_server, entries=entries) as sc:
        f = sc.f
        dest = f"{PARTNER_HOST}:{f.dest_port}"
        r = plain_request(f, dest, "/plain")
        h.check(r.rc == 0 and r.status == 200, f"Host-header form failed: {r!r}")
        h.check(r.body == f"hello from {PARTNER_HOST} /plain\n", repr(r))
        r = plain_request(f, dest, "/proxy-form", proxy_form=True)
        h.check(r.rc == 0 and r.status == 200, f"absolute-form (curl -x) failed: {r!r}")
        h.check(r.body == f"hello from {PARTNER_HOST} /proxy-form\n", repr(r))
        reqs = [q.decode("latin-1") for q in sc.server.snapshot()["requests"]]
        h.check(any(q.startswith("GET /proxy-form HTTP/1.1") for q in reqs),
                f"absolute-form was not rewritten to origin-form upstream: {reqs!r}")
        e = audit_for(f.gw, "egress_allow", "allowed", PARTNER_HOST)
        h.check(e.get("source") == "unauthenticated", f"audit source: {e}")


def test_egress_bracketed_host_name_refused():
    # brackets hold an IPv6 literal only: "[api.partner.test]" names no destination (400), it must
    # not connect to api.partner.test (issue #11 item 10)
    def entries(f, port):
        return egress_entry(PARTNER_HOST, port, ca=f.partner_ca_pem, allow=["unauthenticated"])

    with Scenario("egress", server=good_server, entries=entries) as sc:
        f = sc.f
        for host in (f"[{PARTNER_HOST}]:{f.dest_port}", f"[{PARTNER_HOST}]"):
            resp = _raw_http(f.plain_port, (f"GET / HTTP/1.1\r\nHost: {host}\r\n"
                                            "Connection: close\r\n\r\n").encode())
            h.check(resp.startswith("HTTP/1.1 400"), f"Host: {host} answered: {resp[:200]!r}")
        snap = sc.server.snapshot()
        h.check(not snap["requests"] and snap["connections"] == 0,
                f"a bracketed host name reached the destination: {snap}")
        # HTTP/1.1 refuses it with the request head (http_malformed, the ingress Host rule), before
        # the egress policy; an HTTP/2 :authority reaches the policy's own check (bad_destination).


def test_egress_plain_listener_identity_not_allowed():
    # unauthenticated sources are not a listed SPIFFE ID
    with Scenario("egress", server=good_server) as sc:
        f = sc.f
        r = plain_request(f, f"{PARTNER_HOST}:{f.dest_port}", "/x")
        h.check(r.status == 403 and "identity_not_allowed" in r.body, repr(r))
        h.check(sc.server.snapshot()["connections"] == 0, "destination was contacted")


def test_egress_pin_match_allows():
    def entries(f, port):
        return default_entries(f, port, pins=[spki_pin(f.server_cert)])

    with Scenario("egress", server=good_server, entries=entries) as sc:
        # The server closes after each answer, so each request is a new upstream connection,
        # and after the first one a resumed session: no verified chain to check the pin on,
        # which must not turn into pin_mismatch.
        for i in range(3):
            r = mesh_request(sc.f, f"{PARTNER_HOST}:{sc.f.dest_port}", f"/pinned-{i}")
            h.check(r.rc == 0 and r.status == 200 and f"/pinned-{i}" in r.body, repr(r))
        handshakes = "portcullis_upstream_tls_handshakes_total"
        cluster = f"egress:{PARTNER_HOST}"
        h.check(h.scrape_sum(sc.f.gw, handshakes, cluster=cluster, resumed="true") == 2
                and h.scrape_sum(sc.f.gw, handshakes, cluster=cluster, resumed="false") == 1,
                "want one full upstream handshake, then two resumed ones:\n"
                + "\n".join(x for x in sc.f.gw.admin_get("/metrics")[1].splitlines()
                            if handshakes in x))


# ---------------------------------------------------------------------------------------------
# tests: policy refusals (403, nothing contacted)

def test_egress_destination_not_listed():
    with Scenario("egress", server=good_server) as sc:
        f = sc.f
        sc.dns.set("api.other.test", ["127.0.0.1"])
        for dest in (f"api.other.test:{f.dest_port}", f"{PARTNER_HOST}:{f.dest_port + 1}",
                     f"x.{PARTNER_HOST}:{f.dest_port}"):
            r = mesh_request(f, dest, "/nope")
            h.check(r.rc == 0 and r.status == 403, f"{dest}: {r!r}")
            h.check("egress denied: destination_not_listed" in r.body, f"{dest}: {r!r}")
            audit_for(f.gw, "egress_deny", "destination_not_listed", dest.split(":")[0])
        snap = sc.server.snapshot()
        h.check(snap["connections"] == 0, f"a refused destination was contacted: {snap}")
        h.check(not sc.dns.asked("api.other.test"), "an unlisted name was resolved")


def test_egress_identity_not_allowed():
    with Scenario("egress", server=good_server) as sc:
        f = sc.f
        r = mesh_request(f, f"{PARTNER_HOST}:{f.dest_port}", "/", identity="web")
        h.check(r.rc == 0 and r.status == 403, repr(r))
        h.check("egress denied: identity_not_allowed" in r.body, repr(r))
        e = audit_for(f.gw, "egress_deny", "identity_not_allowed", PARTNER_HOST)
        h.check(e.get("source") == WEB_ID, f"audit source: {e}")
        h.check(sc.server.snapshot()["connections"] == 0, "destination was contacted")


def test_egress_mesh_listener_requires_client_cert():
    with Scenario("egress", server=good_server) as sc:
        f = sc.f
        r = mesh_request(f, f"{PARTNER_HOST}:{f.dest_port}", "/", identity=None)
        h.check(r.rc != 0 and r.status == 0, f"request without a client cert got through: {r!r}")
        # a client cert from another CA is refused too
        rogue = h.init_ca(os.path.join(f.pki, "rogue"), "Rogue CA", h.TRUST_DOMAIN)
        cert, key = h.issue(rogue, os.path.join(f.pki, "rogue-billing"), spiffe=BILLING_ID)
        r = h.curl("/", host=EGRESS_SNI, port=f.mesh_port, cacert=f.mesh_ca_pem, cert=cert,
                   key=key, headers=[f"Host: {PARTNER_HOST}:{f.dest_port}"], timeout=15)
        h.check(r.rc != 0 and r.status == 0, f"client cert from a rogue CA accepted: {r!r}")
        h.check(sc.server.snapshot()["connections"] == 0, "destination was contacted")


IP_LITERALS = ["127.0.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "127.1", "[::1]",
               "[::ffff:127.0.0.1]", "0x7f.1", "127.0.0.1."]


def test_egress_ip_literal_hosts_refused():
    # a wildcard and the exact name are listed; no spelling of an address may get through
    def entries(f, port):
        return (default_entries(f, port)
                + egress_entry("*.partner.test", port, ca=f.partner_ca_pem, allow=["*"]))

    with Scenario("egress", server=good_server, entries=entries) as sc:
        f = sc.f
        for lit in IP_LITERALS:
            for dest in (lit, f"{lit}:{f.dest_port}"):
                r = mesh_request(f, dest, "/")
                h.check(r.rc == 0 and r.status == 403, f"Host {dest}: {r!r}")
                h.check("egress denied: ip_literal" in r.body, f"Host {dest}: {r!r}")
            r = plain_request(f, f"{lit}:{f.dest_port}", "/")
            h.check(r.status == 403 and "ip_literal" in r.body, f"plain Host {lit}: {r!r}")
        audit_for(f.gw, "egress_deny", "ip_literal", "2130706433")
        snap = sc.server.snapshot()
        h.check(snap["connections"] == 0, f"an IP literal reached the server: {snap}")


def _private_refusal(address):
    def entries(f, port):
        return default_entries(f, port, allow_private=False)

    with Scenario("egress", server=good_server, entries=entries,
                  dns={PARTNER_HOST: [address]}) as sc:
        f = sc.f
        r = mesh_request(f, f"{PARTNER_HOST}:{f.dest_port}", "/meta")
        h.check(r.rc == 0 and r.status == 403, f"{PARTNER_HOST} -> {address}: {r!r}")
        h.check("egress denied: private_address" in r.body, f"-> {address}: {r!r}")
        h.check("A" in sc.dns.asked(PARTNER_HOST), f"gateway did not ask the stub: "
                f"{sc.dns.queries}")
        e = audit_for(f.gw, "egress_deny", "private_address", PARTNER_HOST)
        h.check(e.get("source") == BILLING_ID, f"audit: {e}")
        time.sleep(0.2)
        h.check(sc.server.snapshot()["connections"] == 0,
                f"{address}: the destination was contacted")


def test_egress_resolves_to_loopback_refused():
    _private_refusal("127.0.0.1")


def test_egress_resolves_to_link_local_metadata_refused():
    _private_refusal("169.254.169.254")


def test_egress_resolves_to_rfc1918_refused():
    _private_refusal("10.0.0.1")


# ---------------------------------------------------------------------------------------------
# tests: TLS failures toward the destination (502, no HTTP bytes sent)

def test_egress_untrusted_ca():
    def server(f):
        rogue = h.init_ca(os.path.join(f.pki, "rogue"), "Rogue CA")
        cert, key = h.issue(rogue, os.path.join(f.pki, "api-rogue"), dns=[PARTNER_HOST])
        return FakeTlsServer(cert, key)

    with Scenario("egress", server=server) as sc:
        r = mesh_request(sc.f, f"{PARTNER_HOST}:{sc.f.dest_port}", "/")
        assert_tls_fail(sc, r, "untrusted_ca")


def test_egress_name_mismatch():
    def server(f):
        cert, key = h.issue(f.partner_ca, os.path.join(f.pki, "api-other"), dns=["other.test"])
        return FakeTlsServer(cert, key)

    with Scenario("egress", server=server) as sc:
        r = mesh_request(sc.f, f"{PARTNER_HOST}:{sc.f.dest_port}", "/")
        assert_tls_fail(sc, r, "name_mismatch")


def test_egress_expired_cert():
    def server(f):
        cert, key = expired_leaf(f.partner_ca, os.path.join(f.pki, "api-expired"), [PARTNER_HOST])
        return FakeTlsServer(cert, key)

    with Scenario("egress", server=server) as sc:
        r = mesh_request(sc.f, f"{PARTNER_HOST}:{sc.f.dest_port}", "/")
        assert_tls_fail(sc, r, "expired")


def test_egress_rsa1024_weak_key():
    def server(f):
        cert, key = rsa1024_leaf(f.partner_ca, os.path.join(f.pki, "api-weak"), [PARTNER_HOST])
        return FakeTlsServer(cert, key, seclevel0=True)

    with Scenario("egress", server=server) as sc:
        r = mesh_request(sc.f, f"{PARTNER_HOST}:{sc.f.dest_port}", "/")
        assert_tls_fail(sc, r, "weak_key")


def test_egress_pin_mismatch():
    def entries(f, port):
        other = h.issue(f.partner_ca, os.path.join(f.pki, "unrelated"), dns=[PARTNER_HOST])[0]
        pin = spki_pin(other)
        h.check(pin != spki_pin_openssl(f.server_cert), "pins collide")
        return default_entries(f, port, pins=[pin])

    with Scenario("egress", server=good_server, entries=entries) as sc:
        r = mesh_request(sc.f, f"{PARTNER_HOST}:{sc.f.dest_port}", "/")
        assert_tls_fail(sc, r, "pin_mismatch")


def test_egress_min_tls_13_against_tls12_server():
    def server(f):
        return FakeTlsServer(f.server_cert, f.server_key, max_tls=ssl.TLSVersion.TLSv1_2)

    def entries(f, port):
        return default_entries(f, port, min_tls="1.3")

    with Scenario("egress", server=server, entries=entries) as sc:
        r = mesh_request(sc.f, f"{PARTNER_HOST}:{sc.f.dest_port}", "/")
        assert_tls_fail(sc, r, "tls_version")


# ---------------------------------------------------------------------------------------------
# tests: matching details, request forms, resolution

def test_egress_wildcard_entry_matches_one_label():
    def server(f):
        cert, key = h.issue(f.partner_ca, os.path.join(f.pki, "wild"), dns=["*.partner.test"])
        return FakeTlsServer(cert, key)

    def entries(f, port):
        return egress_entry("*.partner.test", port, ca=f.partner_ca_pem, allow=[BILLING_ID])

    dns = {"x.partner.test": ["127.0.0.1"], "a.b.partner.test": ["127.0.0.1"],
           "partner.test": ["127.0.0.1"]}
    with Scenario("egress", server=server, entries=entries, dns=dns) as sc:
        f = sc.f
        r = mesh_request(f, f"X.Partner.Test:{f.dest_port}", "/wild")
        h.check(r.rc == 0 and r.status == 200 and "/wild" in r.body, f"x.partner.test: {r!r}")
        for name in ("a.b.partner.test", "partner.test"):
            r = mesh_request(f, f"{name}:{f.dest_port}", "/")
            h.check(r.status == 403 and "destination_not_listed" in r.body, f"{name}: {r!r}")
        h.check(len(sc.server.snapshot()["requests"]) == 1,
                f"server saw {sc.server.snapshot()}")


def test_egress_default_port_is_443():
    # the entry lists the server's port; a Host without a port means 443, which is not listed
    with Scenario("egress", server=good_server) as sc:
        f = sc.f
        r = mesh_request(f, PARTNER_HOST, "/")
        h.check(r.status == 403 and "destination_not_listed" in r.body, repr(r))
        audit_for(f.gw, "egress_deny", "destination_not_listed", f"{PARTNER_HOST}:443")
        h.check(sc.server.snapshot()["connections"] == 0, "destination was contacted")


def test_egress_uses_configured_resolver_a_and_aaaa():
    with Scenario("egress", server=good_server) as sc:
        f = sc.f
        r = mesh_request(f, f"{PARTNER_HOST}:{f.dest_port}", "/")
        h.check(r.status == 200, repr(r))
        asked = sc.dns.asked(PARTNER_HOST)
        h.check("A" in asked and "AAAA" in asked,
                f"expected A and AAAA queries at the configured resolver, saw {asked}")


def test_egress_unresolvable_listed_name():
    def entries(f, port):
        return egress_entry("gone.partner.test", port, ca=f.partner_ca_pem, allow=[BILLING_ID])

    with Scenario("egress", server=good_server, entries=entries) as sc:
        f = sc.f
        r = mesh_request(f, f"gone.partner.test:{f.dest_port}", "/")
        h.check(r.rc == 0 and r.status == 502, f"NXDOMAIN for a listed name: {r!r}")
        h.check(f.gw.proc.alive(), "gateway died")
        h.check(sc.server.snapshot()["connections"] == 0, "something was contacted")


def _raw_http(port, request, timeout=10):
    return http_exchange(port, request, timeout=timeout).decode("latin-1")


def test_egress_absolute_form_uri_decides_over_host_header():
    # request line names an unlisted host, Host names the listed one: the policy must judge the
    # destination actually used (RFC 9112 3.2.2: absolute-form wins), never reach the server
    def entries(f, port):
        return egress_entry(PARTNER_HOST, port, ca=f.partner_ca_pem, allow=["*"])

    with Scenario("egress", server=good_server, entries=entries,
                  dns={PARTNER_HOST: ["127.0.0.1"], "api.other.test": ["127.0.0.1"]}) as sc:
        f = sc.f
        p = f.dest_port
        resp = _raw_http(f.plain_port, (f"GET http://api.other.test:{p}/x HTTP/1.1\r\n"
                                        f"Host: {PARTNER_HOST}:{p}\r\n"
                                        "Connection: close\r\n\r\n").encode())
        status = resp.split(" ", 2)[1] if resp.startswith("HTTP/") else resp[:80]
        h.check(status in ("400", "403"), f"mismatched absolute-form/Host answered: {resp!r}")
        h.check(not sc.server.snapshot()["requests"],
                f"the request reached the server: {sc.server.snapshot()}")


def test_egress_plain_listener_refuses_non_loopback_client():
    # The client sits in a network namespace this test creates (a veth pair on a private /30),
    # so the traffic never leaves the machine and the gateway sees a non-loopback source.
    if os.geteuid() != 0 or shutil.which("ip") is None:
        raise h.Skip("needs root and iproute2 to create a network namespace")
    ns = f"pc-egress-{os.getpid()}"
    host_if, ns_if = f"pce{os.getpid() % 100000}a", f"pce{os.getpid() % 100000}b"
    gw_ip, client_ip = "10.213.77.1", "10.213.77.2"
    setup = [["ip", "netns", "add", ns],
             ["ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if],
             ["ip", "link", "set", ns_if, "netns", ns],
             ["ip", "addr", "add", f"{gw_ip}/30", "dev", host_if],
             ["ip", "link", "set", host_if, "up"],
             ["ip", "netns", "exec", ns, "ip", "addr", "add", f"{client_ip}/30", "dev", ns_if],
             ["ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up"]]
    try:
        for cmd in setup:
            r = h.run(cmd, timeout=15)
            if r.returncode != 0:
                raise h.Skip(f"cannot create a network namespace: {' '.join(cmd)}: {r.stderr}")
        with h.TestEnv("egress") as env:
            f = make_pki(env)
            port = h.free_port()
            gw = EgressGateway(env, listeners=[{"name": "egress-plain", "kind": "egress",
                                                "address": f"{gw_ip}:{port}",
                                                "client_auth": "none"}],
                               extra_gateway_toml="\n" + egress_entry(
                                   PARTNER_HOST, 443, ca=f.partner_ca_pem,
                                   allow=["unauthenticated"]))
            gw.set_mesh(f.mesh_ca_pem, f.gw_cert, f.gw_key)
            gw.write()
            gw.start()
            out = h.run(["ip", "netns", "exec", ns, "curl", "-sS", "--max-time", "5",
                         "-H", f"Host: {PARTNER_HOST}", f"http://{gw_ip}:{port}/"], timeout=15)
            h.check(out.returncode != 0 and "denied" not in out.stdout,
                    f"plain egress served a non-loopback client: {out.stdout!r}")
            audit_for(gw, "egress_deny", "non_loopback_client", "listener", need_source=False)
    finally:
        h.run(["ip", "link", "del", host_if], timeout=15)
        h.run(["ip", "netns", "del", ns], timeout=15)


def test_egress_ca_system_does_not_trust_private_ca():
    def entries(f, port):
        return egress_entry(PARTNER_HOST, port, ca="system", allow=[BILLING_ID])

    with Scenario("egress", server=good_server, entries=entries) as sc:
        r = mesh_request(sc.f, f"{PARTNER_HOST}:{sc.f.dest_port}", "/")
        assert_tls_fail(sc, r, "untrusted_ca")


def test_egress_trust_roots_are_per_destination():
    # two entries with different CAs: the server for the second presents a certificate from the
    # first entry's CA, which must not be trusted for the second destination
    def server(f):
        cert, key = h.issue(f.partner_ca, os.path.join(f.pki, "pay"), dns=["pay.vendor.test"])
        return FakeTlsServer(cert, key)

    def entries(f, port):
        vendor = h.init_ca(os.path.join(f.pki, "vendor"), "Vendor CA")
        return (default_entries(f, port)
                + egress_entry("pay.vendor.test", port, ca=os.path.join(vendor, "ca.pem"),
                               allow=[BILLING_ID]))

    with Scenario("egress", server=server, entries=entries,
                  dns={PARTNER_HOST: ["127.0.0.1"], "pay.vendor.test": ["127.0.0.1"]}) as sc:
        f = sc.f
        r = mesh_request(f, f"pay.vendor.test:{f.dest_port}", "/")
        h.check(r.status == 502, f"partner-CA cert accepted for the vendor entry: {r!r}")
        f.gw.wait_access(lambda e: e.get("status") == 502 and e.get("reason") == "untrusted_ca",
                         "502 untrusted_ca")
        h.check(not sc.server.snapshot()["requests"], "request bytes reached the server")


def test_egress_mesh_listener_http2():
    with Scenario("egress", server=good_server) as sc:
        f = sc.f
        r = h.curl("/h2path", host=EGRESS_SNI, port=f.mesh_port, cacert=f.mesh_ca_pem,
                   cert=f.billing[0], key=f.billing[1], http2=True,
                   headers=[f"Host: {PARTNER_HOST}:{f.dest_port}"], timeout=15)
        h.check(r.rc == 0 and r.status == 200, f"h2 egress failed: {r!r}")
        h.check(r.http_version == "2", f"egress listener did not negotiate h2: {r!r}")
        h.check(r.body == f"hello from {PARTNER_HOST} /h2path\n", repr(r))
