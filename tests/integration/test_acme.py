"""ACME (issue #16): the plain-HTTP listener, and certificates issued by pebble (HTTP-01 and
TLS-ALPN-01), renewed, kept through failures and restarts.

Pebble (Let's Encrypt's test CA, Debian package pebble) runs on loopback with
pebble-challtestsrv as its DNS (every name is 127.0.0.1); its validation connects to the
gateway's http listener (HTTP-01) or its TLS listener (TLS-ALPN-01). Tests that need pebble SKIP
when it is absent.
"""

import contextlib
import json
import os
import socket
import ssl
import stat
import threading

import harness as h
from harness.pebble import Pebble, require_pebble
from harness.wire import http_exchange

HOST = "shop.tenant-a.test"


def raw_http(port, request, prelude=b""):
    data = http_exchange(port, request, prelude)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return status, headers, body.decode("latin-1")


def make_gateway(env, *, acme_toml="", http_proxy=None, tenants=(("a", [HOST], True),),
                 workers=1):
    pki = env.mkdir("pki")
    mesh = h.init_ca(os.path.join(pki, "mesh"), "Mesh CA", h.TRUST_DOMAIN)
    gw_cert, gw_key = h.issue(mesh, os.path.join(pki, "gateway"), spiffe=h.GATEWAY_ID)
    https_port, http_port = h.free_port(), h.free_port()
    plain = {"name": "plain", "kind": "http", "address": f"127.0.0.1:{http_port}"}
    if http_proxy:
        plain.update({"proxy_protocol": http_proxy, "trusted_proxies": ["127.0.0.1/32"]})
    gw = h.Gateway(env, listeners=[
        {"name": "public", "kind": "ingress", "address": f"127.0.0.1:{https_port}"}, plain],
        workers=workers, extra_gateway_toml=acme_toml)
    gw.set_mesh(os.path.join(mesh, "ca.pem"), gw_cert, gw_key)
    own_ca = h.init_ca(os.path.join(pki, "own"), "Own CA")
    for name, hosts, by_acme in tenants:
        if by_acme:
            tls = "acme = true"
        else:
            cert, key = h.issue(own_ca, os.path.join(pki, name), dns=hosts)
            tls = f"cert = {h.toml_str(cert)}\nkey = {h.toml_str(key)}"
        gw.add_tenant_file(name, f"""name = "{name}"
hosts = {h.toml_list(hosts)}

[tls]
{tls}

[[route]]
path_prefix = "/"
direct_response = "hello from {{tenant}}"
""")
    gw.own_ca = os.path.join(own_ca, "ca.pem")
    gw.http_port = http_port
    return gw


def acme_toml(p, state, challenge="http-01", extra=""):
    return f"""
[acme]
directory = {h.toml_str(p.directory)}
ca = {h.toml_str(p.ca_pem)}
contact = ["mailto:ops@example.com"]
state_dir = {h.toml_str(state)}
challenge = "{challenge}"
{extra}
"""


def served_cert(port, host, cafile=None):
    """(ok, der) of the certificate served for `host`; ok = it verifies against cafile."""
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            with ctx.wrap_socket(s, server_hostname=host) as t:
                return True, t.getpeercert(binary_form=True)
    except (ssl.SSLError, OSError):
        return False, None


def get_ok(port, host, cafile):
    conn = h.https_conn(port, host, cafile)
    try:
        status, body = h.http_get_on(conn, host, "/")
    finally:
        conn.close()
    return status == 200 and "hello from" in body


def status_json(state):
    try:
        with open(os.path.join(state, "status.json"), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def test_http_listener_redirects_and_answers_only_challenges():
    with h.TestEnv("acme-http") as env:
        gw = make_gateway(env, tenants=(("a", [HOST], False),), http_proxy="v1")
        gw.start()
        proxy = b"PROXY TCP4 203.0.113.9 127.0.0.1 40001 80\r\n"
        # any request to a tenant's host: 308 to https, same host, path and query
        status, hdrs, _ = raw_http(gw.http_port, f"GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: {HOST}:"
                                   f"{gw.http_port}\r\nConnection: close\r\n\r\n".encode(), proxy)
        h.check(status == 308, f"status {status} {hdrs}")
        h.check(hdrs.get("location") == f"https://{HOST}/a/b?x=1&y=2", f"location: {hdrs}")
        entries = gw.wait_access(lambda e: e.get("path") == "/a/b?x=1&y=2" or
                                 e.get("reason") == "https_redirect", "the redirect")
        h.check(entries[-1].get("client", "").startswith("203.0.113.9"),
                f"PROXY client not logged: {entries[-1]}")
        # a host no tenant serves: no open redirect
        status, hdrs, _ = raw_http(gw.http_port, b"GET / HTTP/1.1\r\nHost: evil.example\r\n"
                                   b"Connection: close\r\n\r\n", proxy)
        h.check(status == 404 and "location" not in hdrs, f"unknown host: {status} {hdrs}")
        # an unknown challenge token is a 404, never a redirect
        status, hdrs, _ = raw_http(gw.http_port, f"GET /.well-known/acme-challenge/abc HTTP/1.1\r\n"
                                   f"Host: {HOST}\r\nConnection: close\r\n\r\n".encode(), proxy)
        h.check(status == 404, f"unknown token: {status} {hdrs}")
        # without the PROXY header the connection is refused (as on other listeners)
        try:
            status, _, _ = raw_http(gw.http_port, f"GET / HTTP/1.1\r\nHost: {HOST}\r\n"
                                    f"Connection: close\r\n\r\n".encode())
        except (OSError, IndexError, ValueError):
            status = None
        h.check(status is None, f"served without a PROXY header: {status}")


def test_acme_http01_issues_serves_and_survives_restart():
    require_pebble()
    with h.TestEnv("acme-issue") as env:
        state = env.mkdir("acme-state")
        # pebble validates on the gateway's ports, known once the gateway config is made
        gw = make_gateway(env, tenants=(("a", [HOST], True), ("b", ["own.tenant-b.test"], False)))
        https_port = gw.listener_port("public")
        p = Pebble(env, http_port=gw.http_port, tls_port=https_port).start()
        gw.extra_gateway_toml = acme_toml(p, state)
        gw.start()
        roots = env.write("pebble-roots.pem", p.issuer_roots())
        # the placeholder serves at once; the issued certificate replaces it
        h.wait_for(lambda: served_cert(https_port, HOST, roots)[0], 30,
                   "a certificate from pebble served for " + HOST)
        h.check(get_ok(https_port, HOST, roots), "request over the issued certificate failed")
        h.check(get_ok(https_port, "own.tenant-b.test", gw.own_ca), "non-ACME tenant broken")
        issued = gw.wait_audit(lambda e: e.get("event") == "acme_issue" and
                               e.get("tenant") == "a", "acme_issue for tenant a")
        h.check(issued[0].get("reason") == "acme_issued", f"{issued[0]}")
        gw.wait_audit(lambda e: e.get("event") == "acme_challenge", "acme_challenge")
        for f in ("account.key", "certs/a.key", "certs/a.crt"):
            mode = stat.S_IMODE(os.stat(os.path.join(state, f)).st_mode)
            h.check(mode == 0o600, f"{f} has mode {oct(mode)}")
        metrics = gw.admin_get("/metrics")[1]
        h.check('portcullis_acme_orders_total{result="issued"} 1' in metrics, "orders metric")
        h.check('portcullis_acme_certificate_expiry_seconds{tenant="a"}' in metrics,
                "expiry metric")
        _, before = served_cert(https_port, HOST, roots)
        account = open(os.path.join(state, "account.key"), encoding="ascii").read()

        # restart: same account key, same certificate, no new order
        gw.stop()
        os.unlink(os.path.join(state, "status.json"))
        gw.start()
        h.wait_for(lambda: status_json(state).get("a", {}).get("state") == "valid", 20,
                   "the manager looked at tenant a after the restart")
        h.check(open(os.path.join(state, "account.key"), encoding="ascii").read() == account,
                "account key changed across the restart")
        h.check(served_cert(https_port, HOST, roots)[1] == before, "certificate changed")
        issues = [e for e in gw.audit_log() if e.get("event") == "acme_issue"]
        h.check(len(issues) == 1, f"re-issued at start: {issues}")


class Load(threading.Thread):
    """New connections and requests in a loop until stopped; counts failures."""

    def __init__(self, port, host, cafile):
        super().__init__(daemon=True)
        self.port, self.host, self.cafile = port, host, cafile
        self.ok = self.failed = 0
        self.errors = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set() and self.ok + self.failed < 100000:
            try:
                if get_ok(self.port, self.host, self.cafile):
                    self.ok += 1
                    continue
                self.errors.append("bad answer")
            except Exception as e:  # noqa: BLE001 - any failure counts
                self.errors.append(repr(e))
            self.failed += 1


@contextlib.contextmanager
def running(load):
    """Starts a Load; stops and joins it (bounded) when the block ends, even on failure."""
    load.start()
    try:
        yield load
    finally:
        load.stop.set()
        load.join(15)


def test_acme_tls_alpn01_issues_and_renews_under_load():
    require_pebble()
    with h.TestEnv("acme-alpn") as env:
        state = env.mkdir("acme-state")
        gw = make_gateway(env)
        https_port = gw.listener_port("public")
        # 12 s certificates: renewed at two thirds of that, ~8 s after issuance
        p = Pebble(env, http_port=h.free_port(), tls_port=https_port,
                   validity_seconds=12).start()
        gw.extra_gateway_toml = acme_toml(p, state, challenge="tls-alpn-01")
        gw.start()
        roots = env.write("pebble-roots.pem", p.issuer_roots())
        h.wait_for(lambda: served_cert(https_port, HOST, roots)[0], 30,
                   "a certificate from pebble (TLS-ALPN-01) served for " + HOST)
        challenge = gw.wait_audit(lambda e: e.get("event") == "acme_challenge", "challenge")
        h.check("tls-alpn-01" in challenge[0].get("detail", ""), f"{challenge[0]}")
        _, first = served_cert(https_port, HOST, roots)
        with running(Load(https_port, HOST, roots)) as load:
            gw.wait_audit(lambda e: e.get("event") == "acme_issue" and
                          e.get("reason") == "acme_renewed", "a renewal", timeout=30)
            h.wait_for(lambda: served_cert(https_port, HOST, roots)[1] != first, 10,
                       "the renewed certificate served")
            # a few more requests over the new certificate
            seen = load.ok
            h.wait_for(lambda: load.ok >= seen + 5 or load.failed, 10, "requests after renewal")
        h.check(load.failed == 0 and load.ok > 10,
                f"{load.failed} failed of {load.ok + load.failed}: {load.errors[:3]}")


def test_acme_failure_keeps_old_cert_audits_and_backs_off():
    require_pebble()
    with h.TestEnv("acme-fail") as env:
        state = env.mkdir("acme-state")
        gw = make_gateway(env)
        https_port = gw.listener_port("public")
        # pebble validates HTTP-01 on a port where nothing listens: the challenge cannot succeed
        p = Pebble(env, http_port=h.free_port(), tls_port=https_port).start()
        gw.extra_gateway_toml = acme_toml(p, state, extra='retry_base = "1s"\nretry_cap = "4s"')
        gw.start()
        # the placeholder: not verifiable, still served
        with running(Load(https_port, HOST, None)) as load:
            fails = gw.wait_audit(lambda e: e.get("event") == "acme_fail" and
                                  "attempt 3" in e.get("detail", ""), "three failed orders",
                                  timeout=30)
            waits = [int(e["detail"].rsplit("next in ", 1)[1].rstrip("s)"))
                     for e in gw.audit_log() if e.get("event") == "acme_fail"]
            h.check(waits[:3] == sorted(waits[:3]) and waits[0] < waits[2],
                    f"no backoff: {waits}")
            h.check(fails[0].get("tenant") == "a" and fails[0].get("decision") == "deny",
                    f"{fails[0]}")
            ok, der = served_cert(https_port, HOST)
            h.check(ok and der, "the placeholder is no longer served")
            # the CA goes away: traffic is unchanged, the failure is a transport one
            p.stop()
            gw.wait_audit(lambda e: e.get("event") == "acme_fail" and
                          "transport" in e.get("detail", ""), "a failure with pebble down",
                          timeout=30)
            seen = load.ok
            h.wait_for(lambda: load.ok >= seen + 5 or load.failed, 10, "requests, CA down")
        h.check(load.failed == 0 and load.ok > 5,
                f"{load.failed} failed of {load.ok + load.failed}: {load.errors[:3]}")
        st = status_json(state).get("a", {})
        h.check(st.get("state") == "failed" and st.get("failures", 0) >= 3, f"status {st}")
        r = h.run([h.portcullis_bin(), "certs", "acme", "status", "-c", gw.config_path])
        h.check(r.returncode == 0 and "placeholder" in r.stdout and "failed" in r.stdout,
                f"certs acme status: {r.stdout} {r.stderr}")
