"""CONTRACT "Command line": `portcullis check -c FILE` exits 0 when valid, 1 with errors that name
file:line:col of the TOML value at fault; warnings (exit 0) for plaintext upstreams.
"""

import os
import re

import harness as h


def _setup(env):
    """The standard topology's config, written but not started. Returns the Topology."""
    return h.build_topology(env, start=False)


def _check(t):
    r = h.run([h.portcullis_bin(), "check", "-c", t.gw.config_path], timeout=30)
    return r.returncode, r.stdout + r.stderr


def _replace(path, old, new):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    h.check(old in text, f"fixture text {old!r} not in {path}")
    text = text.replace(old, new, 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return text


def _position(text, needle):
    """1-based (line, column of needle) of the first line containing needle."""
    for i, line in enumerate(text.splitlines(), 1):
        col = line.find(needle)
        if col >= 0:
            return i, col + 1
    raise AssertionError(f"{needle!r} not found")


def _assert_error_at(output, filename, line, cols):
    errs = re.findall(r"(\S*?" + re.escape(filename) + r"):(\d+):(\d+): error:", output)
    h.check(errs, f"no '{filename}:line:col: error:' in output:\n{output}")
    positions = {(int(l_), int(c)) for _, l_, c in errs}
    h.check(any((line, c) in positions for c in cols),
            f"want an error at {filename}:{line}:{'|'.join(map(str, cols))}, got "
            f"{sorted(positions)}:\n{output}")


def _tenant_file(t, name):
    return os.path.join(t.gw.dir, "tenants.d", f"{name}.toml")


def test_valid_config_exits_0():
    with h.TestEnv("check") as env:
        t = _setup(env)
        rc, out = _check(t)
        h.check(rc == 0, f"valid config: exit {rc}:\n{out}")
        h.check(": error:" not in out, f"valid config reported errors:\n{out}")
        r = h.run([h.portcullis_bin(), "check", "-c", env.path("no-such.toml")], timeout=30)
        h.check(r.returncode == 1, f"check of a missing file: exit {r.returncode}, want 1")


def test_bad_enum_value_names_file_line_col():
    with h.TestEnv("check") as env:
        t = _setup(env)
        path = _tenant_file(t, "acme")
        text = _replace(path, 'protocol = "h2"', 'protocol = "h3"')
        line, col = _position(text, '"h3"')
        rc, out = _check(t)
        h.check(rc == 1, f"exit {rc}, want 1:\n{out}")
        _assert_error_at(out, "acme.toml", line, (col, 1))
        h.check("h2" in out and "http/1.1" in out,
                f"error does not say what would be accepted:\n{out}")


def test_toml_syntax_error_names_file_line_col():
    with h.TestEnv("check") as env:
        t = _setup(env)
        path = _tenant_file(t, "globex")
        text = _replace(path, 'path_prefix = "/app/"', 'path_prefix = "/app/')
        line, _ = _position(text, 'path_prefix = "/app/')
        rc, out = _check(t)
        h.check(rc == 1, f"exit {rc}, want 1:\n{out}")
        errs = re.findall(r"globex\.toml:(\d+):(\d+): error:", out)
        h.check(errs, f"no globex.toml:line:col: error: in output:\n{out}")
        h.check(any(int(l_) in (line, line + 1) for l_, _ in errs),
                f"syntax error reported at {errs}, want line {line}:\n{out}")


def test_identity_outside_tenant_namespace_is_refused():
    with h.TestEnv("check") as env:
        t = _setup(env)
        path = _tenant_file(t, "globex")
        stolen = h.workload_id("acme")
        text = _replace(path, f'identity = "{h.workload_id("globex")}"',
                        f'identity = "{stolen}"')
        line, col = _position(text, f'"{stolen}"')
        rc, out = _check(t)
        h.check(rc == 1, f"exit {rc}, want 1:\n{out}")
        _assert_error_at(out, "globex.toml", line, (col, 1))
        h.check("spiffe://mesh.example/ns/globex/" in out,
                f"error does not say which identities are accepted:\n{out}")


def test_missing_certificate_file_is_an_error():
    with h.TestEnv("check") as env:
        t = _setup(env)
        path = _tenant_file(t, "acme")
        cert, _ = t.tenant_cert["acme"]
        missing = cert + ".missing"
        text = _replace(path, f"cert = {h.toml_str(cert)}", f"cert = {h.toml_str(missing)}")
        line, col = _position(text, h.toml_str(missing))
        rc, out = _check(t)
        h.check(rc == 1, f"exit {rc}, want 1:\n{out}")
        _assert_error_at(out, "acme.toml", line, (col, 1))


def test_host_in_two_tenants_is_an_error():
    with h.TestEnv("check") as env:
        t = _setup(env)
        path = _tenant_file(t, "globex")
        _replace(path, f'hosts = ["{h.GLOBEX_HOST}"]', f'hosts = ["{h.GLOBEX_HOST}", '
                 f'"{h.ACME_HOST}"]')
        rc, out = _check(t)
        h.check(rc == 1, f"duplicate host across tenants: exit {rc}, want 1:\n{out}")
        h.check(re.search(r"\.toml:\d+:\d+: error:", out) and h.ACME_HOST in out,
                f"error does not name the host with file:line:col:\n{out}")


def test_route_to_unknown_cluster_is_an_error():
    with h.TestEnv("check") as env:
        t = _setup(env)
        path = _tenant_file(t, "globex")
        text = _replace(path, 'cluster = "web"', 'cluster = "nosuch"')
        line, col = _position(text, '"nosuch"')
        rc, out = _check(t)
        h.check(rc == 1, f"exit {rc}, want 1:\n{out}")
        _assert_error_at(out, "globex.toml", line, (col, 1))


def test_plaintext_upstream_is_a_warning():
    with h.TestEnv("check") as env:
        t = _setup(env)
        path = _tenant_file(t, "globex")
        _replace(path, 'protocol = "h2"', 'protocol = "h2"\nplaintext = true')
        rc, out = _check(t)
        h.check(rc == 0, f"plaintext is a warning, not an error: exit {rc}:\n{out}")
        h.check(re.search(r"warning", out, re.I) and "plaintext" in out.lower(),
                f"no plaintext warning:\n{out}")


def test_run_with_invalid_config_exits_1():
    with h.TestEnv("check") as env:
        t = _setup(env)
        # A tenant's error refuses the start only with tenant_errors = "refuse" (the default
        # quarantines that tenant: test_tenant_isolation).
        _replace(t.gw.config_path, "[gateway]\n", "[gateway]\ntenant_errors = \"refuse\"\n")
        _replace(_tenant_file(t, "acme"), 'protocol = "h2"', 'protocol = "h3"')
        p = env.start("gw-bad", [h.portcullis_bin(), "run", "-c", t.gw.config_path])
        p.expected_exit = True
        rc = p.wait(15)
        h.check(rc == 1, f"run with an invalid config: exit {rc}, want 1")
        out = p.stdout_text() + p.stderr_text()
        h.check(re.search(r"acme\.toml:\d+:\d+: error:", out), f"no file:line:col:\n{out}")
