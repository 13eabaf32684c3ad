"""Reload and start-up with many tenants: what the build reuses and what it still refuses.

A reload keeps the TLS context of every tenant whose files did not change (it is shared with the
running generation) and rebuilds the rest; start-up parses each file once and asks the
certificate analyzers only about what the build cannot vouch for. Neither may change what is
served or refused: a rotated certificate is served after the reload, the others are untouched,
and an expired certificate or a key of another certificate is still refused with the
analyzers' own message.
"""

import os
import re
import signal

import harness as h
from harness import file_fingerprint, metric_sum, metrics, served_fingerprint

TENANTS = ("alpha", "bravo", "charlie")


def host(name):
    return f"{name}.reuse.example"


def _gateway(env, pki):
    gw = h.Gateway(env)
    mesh = h.init_ca(os.path.join(pki, "mesh"), "Mesh CA", h.TRUST_DOMAIN)
    cert, key = h.issue(mesh, os.path.join(pki, "gateway"), spiffe=h.GATEWAY_ID)
    gw.set_mesh(os.path.join(mesh, "ca.pem"), cert, key)
    ca = h.init_ca(os.path.join(pki, "tenants"), "Tenants CA")
    files = {}
    for name in TENANTS:
        files[name] = h.issue(ca, os.path.join(pki, name), dns=[host(name)])
        gw.add_tenant_file(name, f"""name = "{name}"
hosts = [{h.toml_str(host(name))}]

[tls]
cert = {h.toml_str(files[name][0])}
key = {h.toml_str(files[name][1])}

[[route]]
path_prefix = "/"
direct_response = "{name}"
""")
    return gw, ca, files


def _refuse_tenant_errors(gw):
    """[gateway].tenant_errors = "refuse": a tenant's error refuses the whole configuration
    (what these tests check; the default quarantines, see test_tenant_isolation)."""
    toml = gw.gateway_toml
    gw.gateway_toml = lambda: toml().replace("[gateway]\n",
                                             "[gateway]\ntenant_errors = \"refuse\"\n", 1)


def _reload_lines(gw):
    return re.findall(r"reloaded, generation (\d+).*?\((\d+) tenant contexts built, (\d+) "
                      r"unchanged and reused\)", gw.proc.stderr_text())


def _sighup_and_wait(gw):
    gen = metric_sum(metrics(gw), "portcullis_config_generation")
    gw.proc.send_signal(signal.SIGHUP)
    h.wait_for(lambda: metric_sum(metrics(gw), "portcullis_config_generation") > gen, 20,
               "generation bump after SIGHUP", interval=0.1)
    return h.wait_for(lambda: [x for x in _reload_lines(gw) if int(x[0]) > gen], 5,
                      "the reload line on stderr")[-1]


def test_unchanged_tenants_are_reused_and_a_rotated_one_is_rebuilt():
    with h.TestEnv("reuse") as env:
        gw, ca, files = _gateway(env, env.mkdir("pki"))
        gw.start()
        before = {n: served_fingerprint(gw.port, host(n)) for n in TENANTS}
        for n in TENANTS:
            h.check(before[n] == file_fingerprint(files[n][0]), f"{n} serves another cert")

        _, built, reused = _sighup_and_wait(gw)
        h.check((built, reused) == ("0", "3"), f"unchanged reload built {built}, reused {reused}")
        h.check({n: served_fingerprint(gw.port, host(n)) for n in TENANTS} == before,
                "a reused context serves another certificate")

        # rotate bravo in place (same paths): the watcher or the SIGHUP picks it up
        h.issue(ca, os.path.join(env.path("pki"), "bravo"), dns=[host("bravo")])
        new_fp = file_fingerprint(files["bravo"][0])
        h.check(new_fp != before["bravo"], "the rotation did not change the file")
        _sighup_and_wait(gw)
        h.wait_for(lambda: served_fingerprint(gw.port, host("bravo")) == new_fp, 10,
                   "bravo's new certificate served")
        for n in ("alpha", "charlie"):
            h.check(served_fingerprint(gw.port, host(n)) == before[n], f"{n} changed")
        rotated = [e for e in gw.audit_log() if e.get("event") == "cert_reload"]
        h.check(rotated and all("bravo" in e.get("tenant", "") for e in rotated),
                f"cert_reload lines: {rotated}")
        lines = _reload_lines(gw)
        h.check(any(b == "1" and r == "2" for _, b, r in lines),
                f"no reload rebuilt exactly bravo: {lines}")

        # a touch alone (new mtime) rebuilds that tenant too: stamps, not contents, are compared
        os.utime(files["charlie"][1])
        _, built, reused = _sighup_and_wait(gw)
        h.check(int(built) <= 1 and int(built) + int(reused) == 3, f"{built} built, {reused}")
        h.check(served_fingerprint(gw.port, host("charlie")) == before["charlie"],
                "charlie changed after a touch")


def test_reused_tenant_with_a_broken_new_key_is_refused_and_keeps_serving():
    with h.TestEnv("reuse") as env:
        gw, _, files = _gateway(env, env.mkdir("pki"))
        _refuse_tenant_errors(gw)
        gw.start()
        fp = served_fingerprint(gw.port, host("alpha"))
        with open(files["alpha"][1], "w", encoding="ascii") as f:
            f.write("not a key\n")
        gen = metric_sum(metrics(gw), "portcullis_config_generation")
        gw.proc.send_signal(signal.SIGHUP)
        h.wait_for(lambda: metric_sum(metrics(gw), "portcullis_config_reloads_total",
                                      result="failure") >= 1, 20, "a refused reload")
        h.check(metric_sum(metrics(gw), "portcullis_config_generation") == gen,
                "a broken key was published")
        h.check(served_fingerprint(gw.port, host("alpha")) == fp, "alpha stopped serving")
        h.check(re.search(r"alpha.*key", gw.proc.stderr_text()),
                "the refusal does not name alpha's key:\n" + gw.proc.stderr_text()[-1500:])


def test_start_refuses_expired_and_mismatched_certificates_in_the_analyzers_words():
    with h.TestEnv("reuse") as env:
        gw, ca, files = _gateway(env, env.mkdir("pki"))
        # alpha: expired leaf (the build alone would accept it); bravo: charlie's key
        expired = h.issue_expired(ca, env.path("expired-alpha"), files["alpha"][1],
                                  [host("alpha")])
        with open(expired, encoding="ascii") as src, open(files["alpha"][0], "w",
                                                           encoding="ascii") as out:
            out.write(src.read())
        with open(files["charlie"][1], encoding="ascii") as src, open(files["bravo"][1], "w",
                                                                      encoding="ascii") as out:
            out.write(src.read())
        _refuse_tenant_errors(gw)
        gw.write()
        p = env.start("gw-bad", [h.portcullis_bin(), "run", "-c", gw.config_path], cwd=gw.dir)
        p.expected_exit = True
        rc = p.wait(30)
        out = p.stdout_text() + p.stderr_text()
        h.check(rc == 1, f"run with an expired and a mismatched certificate: exit {rc}\n{out}")
        h.check(re.search(r"alpha\.toml:\d+:\d+: error: .*expired on 2021-01-01", out),
                f"no expiry error for alpha:\n{out}")
        h.check(re.search(r"bravo\.toml:\d+:\d+: error: .*does not match certificate", out),
                f"no key mismatch error for bravo:\n{out}")
        h.check("charlie" not in out, f"charlie is fine but was reported:\n{out}")
