"""Issue #17: the admin listener's authentication. With [admin] token_file, the dashboard and
every data endpoint need `Authorization: Bearer <token>` (else 401 with WWW-Authenticate, an
admin_reject audit line and portcullis_rejections_total{reason="admin_unauthorized"}), while
/metrics, /healthz and /readyz stay open; a new token is read on reload. With cert, key and
client_ca the listener speaks TLS and refuses a handshake without a client certificate. `check`
warns about an admin listener beyond loopback with neither, and the profiles refuse it.
One gateway per scenario, no tenants (the admin listener needs none).
"""

import os
import re
import signal
import urllib.error
import urllib.request

import harness as h


class AdminGateway(h.Gateway):
    """The harness gateway with more [admin] keys (and optionally another listen address)."""

    def __init__(self, env, admin_toml, listen=None):
        super().__init__(env)
        self.admin_toml = admin_toml
        self.listen = listen

    def gateway_toml(self):
        text = super().gateway_toml()
        anchor = f'listen = "127.0.0.1:{self.admin_port}"\n'
        h.check(anchor in text, "the harness's [admin] section changed")
        listen = f'listen = "{self.listen}"\n' if self.listen else anchor
        return text.replace(anchor, listen + self.admin_toml, 1)


def make_gateway(env, admin_toml, listen=None):
    pki = env.mkdir("pki")
    ca = h.init_ca(os.path.join(pki, "mesh"), "Mesh CA", h.TRUST_DOMAIN)
    cert, key = h.issue(ca, os.path.join(pki, "gateway"), spiffe=h.GATEWAY_ID)
    gw = AdminGateway(env, admin_toml, listen)
    gw.set_mesh(os.path.join(ca, "ca.pem"), cert, key)
    return gw


def write_token(path, token, mode=0o600):
    with open(path, "w", encoding="ascii") as f:
        f.write(token)
    os.chmod(path, mode)


def admin(gw, path, token=None):
    """(status, headers, body) of a plain-HTTP admin request."""
    req = urllib.request.Request(gw.admin_url(path))
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")


def rejections(gw):
    samples = h.parse_metrics(admin(gw, "/metrics")[2])
    return h.metric_sum(samples, "portcullis_rejections_total", reason="admin_unauthorized")


def test_admin_bearer_token():
    with h.TestEnv("admin-token") as env:
        gw = make_gateway(env, 'token_file = "admin.token"\n')
        token_path = os.path.join(gw.dir, "admin.token")
        write_token(token_path, "s3cret-token-1\n")  # trimmed when read
        gw.start()

        for path in ("/", "/config", "/audit/denials"):
            status, headers, _ = admin(gw, path)
            h.check(status == 401, f"{path} without a token: {status}, want 401")
            h.check((headers.get("WWW-Authenticate") or "").startswith("Bearer"),
                    f"{path}: 401 without WWW-Authenticate: Bearer ({headers})")
        status, _, _ = admin(gw, "/config", token="s3cret-token-2")
        h.check(status == 401, f"/config with a wrong token: {status}, want 401")
        status, _, _ = admin(gw, "/config", token="s3cret-token-1x")
        h.check(status == 401, f"/config with a longer token: {status}, want 401")

        status, _, page = admin(gw, "/", token="s3cret-token-1")
        h.check(status == 200 and "<title>Portcullis</title>" in page, f"/ with the token: {status}")
        status, _, body = admin(gw, "/config", token="s3cret-token-1")
        h.check(status == 200 and body.startswith("{"), f"/config with the token: {status}")
        h.check("s3cret" not in body, "/config shows the admin token")
        status, _, body = admin(gw, "/audit/denials", token="s3cret-token-1")
        h.check(status == 200 and "admin_reject" in body,
                f"/audit/denials with the token: {status} {body[:300]}")

        for path in ("/metrics", "/readyz", "/healthz"):
            status, _, _ = admin(gw, path)
            h.check(status == 200, f"{path} without a token: {status}, want 200 (unauthenticated)")

        denied = gw.wait_audit(lambda a: a.get("event") == "admin_reject", "admin_reject")
        h.check(all(a.get("decision") == "deny" and a.get("reason") == "admin_unauthorized"
                    for a in denied), f"admin_reject lines: {denied}")
        h.check(any(a.get("destination") == "admin /config" for a in denied),
                f"no admin_reject line names /config: {denied}")
        h.check(rejections(gw) == 5, f"admin_unauthorized rejections: {rejections(gw)}, want 5")

        # A reload reads the token file again: the old token stops working.
        write_token(token_path, "s3cret-token-2")
        gw.proc.send_signal(signal.SIGHUP)
        h.wait_for(lambda: admin(gw, "/config", token="s3cret-token-2")[0] == 200, 10,
                   "the new token after SIGHUP")
        status, _, _ = admin(gw, "/config", token="s3cret-token-1")
        h.check(status == 401, f"the old token after reload: {status}, want 401")


def test_admin_tls_client_certificate():
    with h.TestEnv("admin-tls") as env:
        pki = env.mkdir("pki")
        admin_ca = h.init_ca(os.path.join(pki, "admin-ca"), "Admin CA")
        server_cert, server_key = h.issue(admin_ca, os.path.join(pki, "admin"), dns=["localhost"])
        operators = h.init_ca(os.path.join(pki, "operators"), "Operators CA")
        op_cert, op_key = h.issue(operators, os.path.join(pki, "operator"),
                                  dns=["operator.example"])
        stranger_cert, stranger_key = h.issue(admin_ca, os.path.join(pki, "stranger"),
                                              dns=["stranger.example"])
        gw = make_gateway(env, f"cert = {h.toml_str(server_cert)}\n"
                               f"key = {h.toml_str(server_key)}\n"
                               f"client_ca = {h.toml_str(os.path.join(operators, 'ca.pem'))}\n")
        cacert = os.path.join(admin_ca, "ca.pem")

        def get(path, cert=None, key=None):
            return h.curl(path, host="localhost", port=gw.admin_port, cacert=cacert, cert=cert,
                          key=key, timeout=5)

        gw.start(wait=False)
        h.wait_for(lambda: get("/readyz", op_cert, op_key).status == 200, 20,
                   "admin /readyz over TLS with a client certificate")
        r = get("/config", op_cert, op_key)
        h.check(r.status == 200 and r.body.startswith("{"), f"/config with the client cert: {r!r}")
        h.check(r.http_version == "1.1", f"admin TLS negotiated HTTP/{r.http_version}")
        for what, c, k in (("no client certificate", None, None),
                           ("a certificate of another CA", stranger_cert, stranger_key)):
            r = get("/config", c, k)
            h.check(r.status == 0 and r.rc != 0,
                    f"/config with {what}: want the handshake refused, got {r!r}")
        status, _ = h.http_get(gw.admin_url("/healthz"))
        h.check(status is None, f"plain HTTP on the TLS admin listener answered {status}")


def check(config, *extra):
    r = h.run([h.portcullis_bin(), "check", "-c", config, *extra], timeout=30)
    return r.returncode, r.stdout + r.stderr


def line_col(path, needle):
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if needle in line:
                return i, line.index(needle) + 1
    raise AssertionError(f"{needle!r} not in {path}")


def test_admin_auth_check_and_profiles():
    with h.TestEnv("admin-check") as env:
        gw = make_gateway(env, "", listen=f"0.0.0.0:{h.free_port()}")
        path = gw.write()
        line, _ = line_col(path, "listen = \"0.0.0.0")
        rc, out = check(path)
        h.check(rc == 0 and re.search(rf"gateway.toml:{line}:\d+: warning: admin listens on "
                                      r"non-loopback address .* neither token_file nor client_ca",
                                      out), f"check: no admin warning at line {line}:\n{out}")
        for profile, control in (("hipaa", "164.312(a)(1)"), ("soc2", "CC6.1")):
            rc, out = check(path, "--profile", profile)
            want = rf"gateway.toml:{line}:\d+: error: \[{profile} admin-auth, {re.escape(control)}\]"
            h.check(rc == 1 and re.search(want, out), f"{profile}: want {want}:\n{out}")

        # With a token neither warns nor refuses.
        gw.admin_toml = 'token_file = "admin.token"\n'
        token_path = os.path.join(gw.dir, "admin.token")
        write_token(token_path, "t0ken")
        path = gw.write()
        rc, out = check(path, "--profile", "soc2")
        h.check("admin-auth" not in out and "admin listens" not in out,
                f"admin with a token still flagged:\n{out}")

        # A world-readable or empty token file is a config error at the key's value.
        tline, tcol = line_col(path, '"admin.token"')
        for content, mode, what in (("t0ken", 0o644, "readable by everyone"),
                                    (" \n", 0o600, "is empty")):
            write_token(token_path, content, mode)
            rc, out = check(path)
            h.check(rc == 1 and f"gateway.toml:{tline}:{tcol}: error: token_file" in out
                    and what in out, f"token file {what!r}: want an error at {tline}:{tcol}:\n{out}")
