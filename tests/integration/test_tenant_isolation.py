"""Tenants stand alone: one tenant's broken files never take another down (issue #13, item 1).

One gateway, four tenants, [gateway].tenant_errors left at its default ("quarantine"):
- bravo starts with charlie's key: quarantined, its host refused at the handshake with reason
  tenant_quarantined (audit, metric), while alpha and charlie serve; `check` still exits 1
  naming bravo.toml:line:col;
- alpha's key is broken at run time: the reload applies, alpha keeps its previous version
  (state stale) and serves the same certificate;
- charlie's certificate expires while the gateway runs (no file changes): a reload that adds
  delta serves delta and quarantines charlie instead of refusing everything;
- fixing bravo's key brings bravo back (audit allow, state serving).
"""

import os
import re
import signal
import time

import harness as h
from harness import file_fingerprint, metric_sum, metrics, served_fingerprint

CHARLIE_LIFETIME = 12  # seconds: long enough to be served at start on a busy box


def host(name):
    return f"{name}.iso.example"


def tenant_toml(name, cert, key):
    return f"""name = "{name}"
hosts = [{h.toml_str(host(name))}]

[tls]
cert = {h.toml_str(cert)}
key = {h.toml_str(key)}

[[route]]
path_prefix = "/"
direct_response = "{name}"
"""


def _gateway(env, names):
    """(gateway with its mesh identity, not started; the tenants' CA dir; {name: (cert, key)}
    for each of names, issued by that CA for host(name))."""
    gw = h.Gateway(env)
    mesh = h.init_ca(env.path("pki", "mesh"), "Mesh CA", h.TRUST_DOMAIN)
    cert, key = h.issue(mesh, env.path("pki", "gateway"), spiffe=h.GATEWAY_ID)
    gw.set_mesh(os.path.join(mesh, "ca.pem"), cert, key)
    ca = h.init_ca(env.path("pki", "tenants"), "Tenants CA")
    return gw, ca, {n: h.issue(ca, env.path("pki", n), dns=[host(n)]) for n in names}


def _state(gw, tenant):
    """{state: value} of portcullis_tenant_state for `tenant`."""
    return {labels["state"]: v for n, labels, v in metrics(gw)
            if n == "portcullis_tenant_state" and labels.get("tenant") == tenant}


def _refusals(gw):
    return metric_sum(metrics(gw), "portcullis_tls_handshake_failures_total",
                      reason="tenant_quarantined")


def _refused(gw, tenant):
    """A handshake for tenant's host that the gateway refuses for the quarantine."""
    before = _refusals(gw)
    r = h.s_client(gw.port, host(tenant))
    h.check(h.first_cert_pem(r.stdout) is None,
            f"{tenant} is quarantined but served a certificate:\n{r.stdout[-800:]}")
    h.wait_for(lambda: _refusals(gw) > before, 5,
               f"tls_handshake_failures_total{{reason=tenant_quarantined}} for {tenant}")


def _sighup(gw):
    gen = metric_sum(metrics(gw), "portcullis_config_generation")
    gw.proc.send_signal(signal.SIGHUP)
    h.wait_for(lambda: metric_sum(metrics(gw), "portcullis_config_generation") > gen, 20,
               "a reload that applies (generation bump)", interval=0.1)


def _audit_state(gw, tenant, reason, decision):
    return gw.wait_audit(lambda e: e.get("event") == "tenant_state" and e.get("tenant") == tenant
                         and e.get("reason") == reason and e.get("decision") == decision,
                         f"tenant_state {decision} {reason} for {tenant}", 10)[-1]


def test_a_broken_or_expired_tenant_is_quarantined_and_the_others_serve_and_reload():
    with h.TestEnv("isolation") as env:
        gw, ca, files = _gateway(env, ("alpha", "bravo", "charlie", "delta"))
        # charlie: a chain that ends CHARLIE_LIFETIME seconds from now, for charlie's key
        charlie_until = int(time.time()) + CHARLIE_LIFETIME
        leaf = h.issue_until(ca, env.path("short"), files["charlie"][1], [host("charlie")],
                             charlie_until)
        with open(files["charlie"][0], "w", encoding="ascii") as out:
            for part in (leaf, os.path.join(ca, "ca.pem")):
                with open(part, encoding="ascii") as f:
                    out.write(f.read())
        gw.add_tenant_file("alpha", tenant_toml("alpha", *files["alpha"]))
        gw.add_tenant_file("bravo", tenant_toml("bravo", files["bravo"][0], files["charlie"][1]))
        gw.add_tenant_file("charlie", tenant_toml("charlie", *files["charlie"]))
        gw.start()

        # --- start: bravo quarantined, the others serve
        alpha_fp = file_fingerprint(files["alpha"][0])
        h.check(served_fingerprint(gw.port, host("alpha")) == alpha_fp, "alpha not served")
        h.check(served_fingerprint(gw.port, host("charlie")) is not None, "charlie not served")
        h.check(time.time() < charlie_until, "the box was too slow: charlie expired at start; "
                "raise CHARLIE_LIFETIME")
        _refused(gw, "bravo")
        h.check(_state(gw, "bravo") == {"quarantined": 1}, f"bravo: {_state(gw, 'bravo')}")
        h.check(_state(gw, "alpha") == {"serving": 1}, f"alpha: {_state(gw, 'alpha')}")
        line = _audit_state(gw, "bravo", "tenant_quarantined", "deny")
        h.check("does not match" in line.get("detail", "") and
                line.get("file", "").endswith("bravo.toml"), f"audit line: {line}")
        gw.wait_audit(lambda e: e.get("event") == "tls_reject"
                      and e.get("reason") == "tenant_quarantined", "tls_reject for bravo")
        r = h.run([h.portcullis_bin(), "check", "-c", gw.config_path], timeout=30)
        out = r.stdout + r.stderr
        h.check(r.returncode == 1, f"check with a broken tenant: exit {r.returncode}\n{out}")
        h.check(re.search(r"bravo\.toml:\d+:\d+: error: .*does not match", out),
                f"check does not name bravo's error at file:line:col:\n{out}")
        h.check("run would quarantine 1 tenant" in out, f"check's summary:\n{out}")

        # --- alpha's key broken at run time: the previous alpha keeps serving (stale)
        with open(files["alpha"][1], encoding="ascii") as f:
            alpha_key = f.read()
        with open(files["alpha"][1], "w", encoding="ascii") as f:
            f.write("not a key\n")
        _sighup(gw)
        _audit_state(gw, "alpha", "tenant_stale", "deny")
        h.check(_state(gw, "alpha") == {"stale": 1}, f"alpha: {_state(gw, 'alpha')}")
        h.check(served_fingerprint(gw.port, host("alpha")) == alpha_fp, "stale alpha changed")
        with open(files["alpha"][1], "w", encoding="ascii") as f:
            f.write(alpha_key)
        _sighup(gw)
        _audit_state(gw, "alpha", "valid", "allow")
        h.check(_state(gw, "alpha") == {"serving": 1}, f"alpha: {_state(gw, 'alpha')}")

        # --- charlie expires while running; a reload that only adds delta still applies
        h.wait_for(lambda: time.time() > charlie_until + 1, CHARLIE_LIFETIME + 5,
                   "charlie's certificate to expire")
        gw.add_tenant_file("delta", tenant_toml("delta", *files["delta"]))
        _sighup(gw)
        h.wait_for(lambda: served_fingerprint(gw.port, host("delta"))
                   == file_fingerprint(files["delta"][0]), 10, "delta served after the reload")
        h.wait_for(lambda: _state(gw, "charlie") == {"quarantined": 1}, 10,
                   "charlie quarantined after it expired")
        line = _audit_state(gw, "charlie", "tenant_quarantined", "deny")
        h.check("expired" in line.get("detail", ""), f"audit line: {line}")
        _refused(gw, "charlie")
        h.check(served_fingerprint(gw.port, host("alpha")) == alpha_fp, "alpha changed")

        # --- bravo fixed: back in service
        gw.add_tenant_file("bravo", tenant_toml("bravo", files["bravo"][0], files["bravo"][1]))
        _sighup(gw)
        _audit_state(gw, "bravo", "valid", "allow")
        h.check(served_fingerprint(gw.port, host("bravo")) == file_fingerprint(files["bravo"][0]),
                "bravo not served after its fix")
        h.check(_state(gw, "bravo") == {"serving": 1}, f"bravo: {_state(gw, 'bravo')}")
        h.check(metric_sum(metrics(gw), "portcullis_config_reloads_total", result="failure") == 0,
                "a tenant's error refused a reload")


def _wait_reload(gw, after, want, what):
    """The stderr line of a reload past generation `after` that contains every string of
    `want` (a rotation written as two files may take two reloads)."""
    def found():
        for m in re.finditer(r"reloaded, generation (\d+)[^\n]*", gw.proc.stderr_text()):
            if int(m.group(1)) > after and all(w in m.group(0) for w in want):
                return m.group(0)
        return None
    lines = "\n".join(re.findall(r"reloaded, generation [^\n]*", gw.proc.stderr_text()))
    return h.wait_for(found, 20, f"{what}: a reload line with {want}; so far:\n{lines}",
                      interval=0.1)


def test_a_changed_tenant_file_rebuilds_that_tenant_alone():
    # The watcher names the files that changed: a tenant's certificate, a new tenant file, a
    # removed one are read alone ("per-tenant reload"); a change to gateway.toml loads everything.
    with h.TestEnv("isolation") as env:
        gw, ca, files = _gateway(env, ("alpha", "bravo", "charlie"))
        for n in ("alpha", "bravo"):
            gw.add_tenant_file(n, tenant_toml(n, *files[n]))
        # As deployed, the tenant files are older than the start: a file read in the second
        # it was written is not trusted by its stat identity later (it is read again).
        time.sleep(1.1)
        gw.start()
        gen = metric_sum(metrics(gw), "portcullis_config_generation")

        # bravo's certificate rotated in place: bravo alone is rebuilt, and its tenant file,
        # unchanged, is not parsed again (a renewed wildcard certificate is no tenant file)
        h.issue(ca, env.path("pki", "bravo"), dns=[host("bravo")])
        # (in place: bravo's slot replaced in the running generation's arrays, no pass over
        # the others)
        _wait_reload(gw, gen, ["(1 tenant contexts built, 1 unchanged and reused)",
                               "per-tenant reload, in place; 0 tenant files read"],
                     "bravo rotated")
        h.wait_for(lambda: served_fingerprint(gw.port, host("bravo"))
                   == file_fingerprint(files["bravo"][0]), 10, "bravo's new certificate")
        gen = metric_sum(metrics(gw), "portcullis_config_generation")

        # a new tenant file: read alone, served
        gw.add_tenant_file("charlie", tenant_toml("charlie", *files["charlie"]))
        line = _wait_reload(gw, gen, ["(1 tenant contexts built, 2 unchanged and reused)",
                                      "per-tenant reload"], "charlie added")
        h.check("in place" not in line, f"an added tenant is not a replacement: {line}")
        h.check(served_fingerprint(gw.port, host("charlie"))
                == file_fingerprint(files["charlie"][0]), "charlie not served")
        gen = metric_sum(metrics(gw), "portcullis_config_generation")

        # a removed tenant file: its host is unknown at once, the others untouched
        os.unlink(os.path.join(gw.dir, "tenants.d", "alpha.toml"))
        _wait_reload(gw, gen, ["(0 tenant contexts built, 2 unchanged and reused)",
                               "per-tenant reload"], "alpha removed")
        h.check(served_fingerprint(gw.port, host("alpha")) is None, "alpha still served")
        h.check(_state(gw, "alpha") == {}, f"alpha: {_state(gw, 'alpha')}")
        gen = metric_sum(metrics(gw), "portcullis_config_generation")

        # gateway.toml changed: everything is loaded (no per-tenant marker). Its content must
        # change: the watcher compares contents, so a touch alone reloads nothing.
        with open(gw.config_path, "a", encoding="utf-8") as f:
            f.write("\n# changed\n")
        line = _wait_reload(gw, gen, ["(0 tenant contexts built, 2 unchanged"], "gateway.toml")
        h.check("per-tenant reload" not in line, f"gateway.toml change: {line}")
        for n in ("bravo", "charlie"):
            h.check(served_fingerprint(gw.port, host(n)) == file_fingerprint(files[n][0]),
                    f"{n} not served after the full reload")
        gen = metric_sum(metrics(gw), "portcullis_config_generation")

        # bravo's file moves it to a new host (and certificate): the per-tenant reload keeps
        # the other tenants' names as they were and changes bravo's alone
        moved = h.issue(ca, env.path("pki", "bravo-new"), dns=[host("bravo-new")])
        gw.add_tenant_file("bravo", tenant_toml("bravo", *moved).replace(host("bravo"),
                                                                          host("bravo-new")))
        _wait_reload(gw, gen, ["(1 tenant contexts built, 1 unchanged and reused)",
                               "per-tenant reload, in place; 1 tenant files read"],
                     "bravo moved")
        h.check(served_fingerprint(gw.port, host("bravo")) is None, "bravo's old host served")
        h.check(served_fingerprint(gw.port, host("bravo-new")) == file_fingerprint(moved[0]),
                "bravo's new host not served")
        h.check(served_fingerprint(gw.port, host("charlie")) == file_fingerprint(files["charlie"][0]),
                "charlie not served after bravo moved")
        gen = metric_sum(metrics(gw), "portcullis_config_generation")

        # charlie claims bravo's host: that is charlie's error (judged against the running
        # tenants without indexing them again); charlie keeps its previous version, bravo its host
        gw.add_tenant_file("charlie", tenant_toml("charlie", *files["charlie"]).replace(
            f"hosts = [{h.toml_str(host('charlie'))}]",
            f"hosts = [{h.toml_str(host('charlie'))}, {h.toml_str(host('bravo-new'))}]"))
        _wait_reload(gw, gen, ["per-tenant reload", "1 stale"], "charlie claims bravo's host")
        err = gw.proc.stderr_text()
        h.check(re.search(r'tenant charlie kept at its previous version[^\n]*host "'
                          + re.escape(host("bravo-new")) + r'" is already claimed by tenant '
                          r'"bravo"', err) is not None, f"charlie's error:\n{err[-1500:]}")
        h.check(served_fingerprint(gw.port, host("bravo-new")) == file_fingerprint(moved[0]),
                "bravo lost its host to charlie")
        h.check(served_fingerprint(gw.port, host("charlie")) == file_fingerprint(files["charlie"][0]),
                "charlie not served at its previous version")
