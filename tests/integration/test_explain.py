"""Issue #17: `portcullis explain` agrees with the running gateway on the same requests: the
ingress decision, status, route and cluster (against the access log) and the identity the
upstream must present (against the mtls_fail audit line); the egress decision and reason
(against the egress audit lines).
"""

import json
import os

import harness as h
from harness import egress as eg


def explain(config, *args):
    r = h.run([h.portcullis_bin(), "explain", "-c", config, *args], timeout=30)
    h.check(r.returncode == 0, f"explain {args}: exit {r.returncode}: {r.stderr}")
    out = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition(": ")
        out[k] = v
    return out


def access_for(gw, path):
    lines = gw.wait_access(lambda e: e.get("path") == path, f"access line for {path}")
    return lines[-1]


def test_explain_ingress_agrees():
    with h.TestEnv("explain") as env:
        t = h.build_topology(env)
        cfg = t.gw.config_path
        cases = [  # sni, host, path
            (h.ACME_HOST, h.ACME_HOST, "/explain/a"),
            (h.ACME_HOST, h.ACME_HOST, "/h2/explain"),
            (h.ACME_HOST, h.ACME_WILDCARD_HOST, "/explain/wild"),
            (h.ACME_HOST, h.GLOBEX_HOST, "/explain/misdirected"),
            (h.GLOBEX_HOST, h.GLOBEX_HOST, "/explain/no-route"),
        ]
        seen_reply = set()
        for sni, host, path in cases:
            e = explain(cfg, "--sni", sni, "--host", host, "--path", path)
            tenant = "acme" if sni == h.ACME_HOST else "globex"
            r = h.get(t, tenant, path, headers=[f"Host: {host}"])
            line = access_for(t.gw, path)
            h.check(e.get("tenant") == line.get("tenant"), f"{path}: tenant {e} vs {line}")
            if e["decision"] == "forward":
                h.check(r.status == 200, f"{path}: explain forwards, gateway answered {r!r}")
                h.check(e["cluster"] == line.get("cluster") and e["route"] == line.get("route"),
                        f"{path}: explain {e} vs access log {line}")
            else:
                h.check(e["decision"] == "reply", f"{path}: {e}")
                h.check(int(e["status"]) == r.status == line["status"],
                        f"{path}: explain {e} vs gateway {r!r} / {line}")
                h.check(e["reason"] == line.get("reason"), f"{path}: {e} vs {line}")
                seen_reply.add(r.status)
        h.check(seen_reply == {421, 404}, f"replies seen: {seen_reply}")

        # The upstream identity explain names is the one the gateway demands at run time.
        e = explain(cfg, "--sni", h.ACME_HOST, "--host", h.ACME_HOST, "--path",
                    "/wrong-identity/x")
        h.check(e["cluster"] == "wrong", f"{e}")
        r = h.get(t, "acme", "/wrong-identity/x")
        h.check(r.status == 502, f"wrong identity: {r!r}")
        lines = t.gw.wait_audit(lambda a: a.get("event") == "mtls_fail", "mtls_fail")
        a = lines[-1]
        h.check("expected " + e["upstream_identity"] in a.get("detail", "")
                and a.get("identity") == h.workload_id("acme"),
                f"audit {a} does not name expected {e['upstream_identity']} and the presented "
                f"identity")

        # Unknown SNI: explain refuses; the handshake fails.
        e = explain(cfg, "--sni", "nobody.example", "--host", "nobody.example", "--path", "/")
        h.check(e["decision"] == "refuse" and e["reason"] == "tls_unknown_sni", f"{e}")
        r = h.curl("/", host="nobody.example", port=t.gw.port, timeout=10)
        h.check(r.rc != 0 and r.status == 0, f"unknown SNI was served: {r!r}")
        t.gw.wait_audit(lambda a: a.get("event") == "tls_reject"
                        and a.get("reason") == "tls_unknown_sni", "tls_reject unknown sni")


def test_explain_egress_agrees():
    with h.TestEnv("explain_egress") as env:
        f = eg.make_pki(env)
        dead_port = h.free_port()  # the allowed destination refuses the connection: fast 502
        entries = eg.egress_entry("127.0.0.1", dead_port, ca=f.partner_ca_pem,
                                  allow=[eg.BILLING_ID], min_tls="1.3")
        gw = eg.start_gateway(f, entries, "")
        cases = [  # identity, destination
            ("billing", f"127.0.0.1:{dead_port}"),
            ("web", f"127.0.0.1:{dead_port}"),
            ("billing", "other.partner.test:443"),
        ]
        for who, dest in cases:
            ident = eg.BILLING_ID if who == "billing" else eg.WEB_ID
            e = explain(gw.config_path, "--identity", ident, "--destination", dest)
            before = len(gw.audit_log())
            r = eg.mesh_request(f, dest, identity=who, timeout=10)
            lines = h.wait_for(lambda: [a for a in gw.audit_log()[before:]
                                        if a.get("event") in ("egress_allow", "egress_deny")],
                               10, f"egress audit line for {who} -> {dest}")
            a = lines[0]
            h.check(e["decision"] == a["decision"] and e["reason"] == a["reason"],
                    f"{who} -> {dest}: explain {e} vs audit {a} (status {r.status})")
            h.check(a.get("source") == ident, f"audit source {a}")
            if e["decision"] == "allow":
                h.check(e["min_tls"] == "1.3" and e["roots"] == f.partner_ca_pem
                        and e["entry"].startswith(f"127.0.0.1:{dead_port} ("),
                        f"explain checks: {e}")
            else:
                h.check(r.status == 403, f"{who} -> {dest}: denied by explain, gateway {r!r}")
