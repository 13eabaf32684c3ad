"""CONTRACT "Command line": --help on every command, `version`'s build information, and the
checks of `portcullis check` that ask the machine: a listener address in use, a private key
readable by others, a file in tenants.d that is not .toml.
"""

import os
import re
import socket

import harness as h

HOST = "cli.example"


def _run(*args):
    return h.run([h.portcullis_bin(), *args], timeout=30)


def test_help_on_every_command_goes_to_stdout_and_exits_0():
    for argv in (["--help"], ["-h"], ["help"], ["run", "--help"], ["check", "-h"],
                 ["check", "-c", "x.toml", "--help"], ["demo", "--help"], ["version", "-h"],
                 ["certs", "--help"], ["certs", "issue", "--help"], ["certs", "init-ca", "-h"],
                 ["certs", "inspect", "--help"]):
        r = _run(*argv)
        h.check(r.returncode == 0, f"{argv}: exit {r.returncode}, want 0:\n{r.stderr}")
        h.check("usage:" in r.stdout, f"{argv}: no usage on stdout:\n{r.stdout!r}")
        h.check(r.stderr == "", f"{argv}: wrote to stderr:\n{r.stderr}")
    r = _run("certs", "issue", "--help")
    h.check("--ca DIR" in r.stdout, f"certs issue --help lacks the issue options:\n{r.stdout}")
    # a usage error is still an error, on stderr
    r = _run("no-such-command")
    h.check(r.returncode == 2 and "usage:" in r.stderr and r.stdout == "",
            f"unknown command: exit {r.returncode}, stdout {r.stdout!r}")


def test_version_names_commit_and_libraries():
    r = _run("version")
    h.check(r.returncode == 0, f"version: exit {r.returncode}")
    out = r.stdout
    h.check(re.match(r"portcullis \d+\.\d+\.\d+\n", out), f"first line:\n{out}")
    h.check(re.search(r"^commit [0-9a-f]{7,}(-dirty)?$|^commit unknown$", out, re.M),
            f"no commit line:\n{out}")
    for lib in (r"OpenSSL 3\.", r"nghttp2 1\.", r"libuv 1\.", r"c-ares 1\."):
        h.check(re.search("^" + lib, out, re.M), f"no {lib} line:\n{out}")


def _gateway(env):
    """A one-tenant config (no upstreams: check does not need them). Returns (gw, key path)."""
    pki = env.mkdir("pki")
    mesh = h.init_ca(os.path.join(pki, "mesh"), "Mesh CA", h.TRUST_DOMAIN)
    cert, key = h.issue(mesh, os.path.join(pki, "gateway"), spiffe=h.GATEWAY_ID)
    ca = h.init_ca(os.path.join(pki, "tenant"), "Tenant CA")
    tcert, tkey = h.issue(ca, os.path.join(pki, "tls"), dns=[HOST])
    for k in (key, tkey):
        os.chmod(k, 0o600)
    gw = h.Gateway(env)
    gw.set_mesh(os.path.join(mesh, "ca.pem"), cert, key)
    gw.add_tenant_file("cli", f"""name = "cli"
hosts = [{h.toml_str(HOST)}]

[tls]
cert = {h.toml_str(tcert)}
key = {h.toml_str(tkey)}
""")
    gw.write()
    return gw, tkey


def _check(gw):
    r = _run("check", "-c", gw.config_path)
    return r.returncode, r.stdout + r.stderr


def test_check_reports_address_in_use_key_mode_and_stray_tenant_files():
    with h.TestEnv("cli") as env:
        gw, tkey = _gateway(env)
        rc, out = _check(gw)
        h.check(rc == 0 and "in use" not in out and "readable" not in out
                and "ignored" not in out, f"clean config: exit {rc}:\n{out}")

        # another program listens on the listener's address
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", gw.port))
            sock.listen(1)
            rc, out = _check(gw)
            h.check(rc == 1, f"address in use: exit {rc}, want 1:\n{out}")
            h.check(re.search(r"error: listener \"public\": address 127\.0\.0\.1:%d is already "
                              r"in use" % gw.port, out), f"no in-use error:\n{out}")
        finally:
            sock.close()

        # a world-readable key and a tenant file without .toml: warnings, exit 0
        os.chmod(tkey, 0o644)
        stray = os.path.join(gw.dir, "tenants.d", "shop.toml.bak")
        with open(stray, "w", encoding="utf-8") as f:
            f.write("name = \"shop\"\n")
        os.mkdir(os.path.join(gw.dir, "tenants.d", "..2026_12_05"))  # kubelet's: not reported
        rc, out = _check(gw)
        h.check(rc == 0, f"warnings only: exit {rc}:\n{out}")
        h.check(re.search(r"warning: private key \S*tls\.key is readable by others \(mode 0644\)",
                          out), f"no key-mode warning:\n{out}")
        h.check(re.search(r"shop\.toml\.bak\S*: warning: ignored: tenant files must end in "
                          r"\.toml", out), f"no stray-file warning:\n{out}")
        h.check("..2026_12_05" not in out, f"a kubelet directory was reported:\n{out}")

        # the running gateway itself does not count as "in use" (check before a reload)
        os.chmod(tkey, 0o600)
        os.remove(stray)
        gw.start()
        rc, out = _check(gw)
        h.check(rc == 0 and "in use" not in out, f"check next to its own gateway: {rc}:\n{out}")
