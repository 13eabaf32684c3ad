"""Operations: TLS session tickets.

`[gateway] ticket_keys = "path"` loads a fleet key file (N * 80 bytes: name16|aes32|hmac32, the
first one encrypts; mode 0600) so two gateway processes sharing it resume each other's sessions.
A session never resumes into another tenant. Checked with openssl s_client -sess_out/-sess_in
("Reused" vs "New"), on TLS 1.2 and TLS 1.3.
"""

import os
import shutil

import harness as h

REQUEST = "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"


def with_ticket_keys(gw, path):
    """Makes gw's gateway.toml carry ticket_keys = path (the harness has no knob for it)."""
    plain = gw.gateway_toml

    def patched():
        return plain().replace("[gateway]\n", f"[gateway]\nticket_keys = {h.toml_str(path)}\n", 1)
    gw.gateway_toml = patched
    return gw


def write_keys(path, n=2, mode=0o600):
    with open(path, "wb") as f:
        f.write(os.urandom(80 * n))
    os.chmod(path, mode)
    return path


def clone_gateway(t, name, key_path=None):
    """A second gateway process with the same tenants (own ports, own directory)."""
    gw = h.Gateway(t.env, name=name)
    gw.set_mesh(t.mesh_ca_pem, t.gw_cert, t.gw_key)
    src = os.path.join(t.gw.dir, "tenants.d")
    for f in os.listdir(src):
        shutil.copyfile(os.path.join(src, f), os.path.join(gw.dir, "tenants.d", f))
    if key_path:
        with_ticket_keys(gw, key_path)
    return gw


def handshake(port, sni, sess_out=None, sess_in=None, version="-tls1_2"):
    extra = [version]
    if sess_out:
        extra += ["-sess_out", sess_out]
    if sess_in:
        extra += ["-sess_in", sess_in]
    host = "127.0.0.1"
    argv = ["openssl", "s_client", "-connect", f"{host}:{port}", "-servername", sni,
            "-ign_eof"] + extra
    # send a request and read to the close, so TLS 1.3 tickets (post-handshake) arrive
    r = h.run(argv, timeout=15, input=REQUEST.format(host=sni))
    out = r.stdout + r.stderr
    if "Reused," in out:
        return "reused", out
    if "New," in out:
        return "new", out
    return "failed", out


def test_fleet_ticket_keys_resume_across_processes():
    with h.TestEnv("tickets") as env:
        keys = write_keys(env.path("tickets.key"))
        t = h.build_topology(env, start=False)
        with_ticket_keys(t.gw, keys)
        t.gw.start()
        gw2 = clone_gateway(t, "gw2", keys).start()
        gw3 = clone_gateway(t, "gw3").start()  # own, hourly-rotated keys
        for version in ("-tls1_2", "-tls1_3"):
            sess = env.path(f"acme{version}.sess")
            state, out = handshake(t.gw.port, h.ACME_HOST, sess_out=sess, version=version)
            h.check(state == "new" and os.path.getsize(sess) > 0,
                    f"{version}: first handshake: {state}\n{out[-1500:]}")
            state, out = handshake(t.gw.port, h.ACME_HOST, sess_in=sess, version=version)
            h.check(state == "reused", f"{version}: no resumption on the same process:\n"
                    f"{out[-1500:]}")
            state, out = handshake(gw2.port, h.ACME_HOST, sess_in=sess, version=version)
            h.check(state == "reused", f"{version}: a process sharing the key file did not "
                    f"resume the session:\n{out[-1500:]}")
            state, out = handshake(gw3.port, h.ACME_HOST, sess_in=sess, version=version)
            h.check(state == "new", f"{version}: a process with other keys resumed: {state}\n"
                    f"{out[-1500:]}")


def test_ticket_never_resumes_into_another_tenant():
    with h.TestEnv("tickets") as env:
        keys = write_keys(env.path("tickets.key"))
        t = h.build_topology(env, start=False)
        with_ticket_keys(t.gw, keys)
        t.gw.start()
        for version in ("-tls1_2", "-tls1_3"):
            sess = env.path(f"acme{version}.sess")
            state, out = handshake(t.gw.port, h.ACME_HOST, sess_out=sess, version=version)
            h.check(state == "new", f"{version}: first handshake: {state}\n{out[-1500:]}")
            # same tenant, other host name (wildcard): allowed either way; other tenant: never
            state, out = handshake(t.gw.port, h.GLOBEX_HOST, sess_in=sess, version=version)
            h.check(state == "new", f"{version}: an acme session resumed for globex:\n"
                    f"{out[-1500:]}")
            h.check("globex" in out.lower() or "Globex CA" in out,
                    f"{version}: globex handshake did not get globex's certificate:\n"
                    f"{out[-1500:]}")
            state, out = handshake(t.gw.port, h.INITECH_HOST, sess_in=sess, version=version)
            h.check(state != "reused", f"{version}: an acme session resumed for initech "
                    f"(client certificate tenant):\n{out[-1500:]}")


def test_ticket_key_file_with_open_mode_is_refused():
    with h.TestEnv("tickets") as env:
        keys = write_keys(env.path("tickets.key"), mode=0o644)
        t = h.build_topology(env, start=False)
        with_ticket_keys(t.gw, keys)
        gw = t.gw.start(wait=False)
        rc = gw.proc.wait(15)
        gw.proc.expected_exit = True
        h.check(rc == 1, f"run with a 0644 ticket key file: exit {rc}, want 1\n"
                + gw.proc.stderr_text()[-1000:])
        h.check("tickets.key" in gw.proc.stderr_text(), "the error does not name the file:\n"
                + gw.proc.stderr_text()[-1000:])
        r = h.run([h.portcullis_bin(), "check", "-c", t.gw.config_path], timeout=30)
        h.check(r.returncode == 1, f"check accepted a 0644 ticket key file: rc={r.returncode}\n"
                f"{r.stdout}{r.stderr}")
        # a file whose length is not a multiple of 80 is refused too
        os.chmod(keys, 0o600)
        with open(keys, "ab") as f:
            f.write(b"x")
        r = h.run([h.portcullis_bin(), "check", "-c", t.gw.config_path], timeout=30)
        h.check(r.returncode == 1, f"check accepted an 81*n-byte key file: rc={r.returncode}\n"
                f"{r.stdout}{r.stderr}")
