"""Issue #17: the audit log is hash-chained (HMAC-SHA256 with [log] audit_key). SIGUSR1 after a
rotation and a restart continue the chain; `portcullis audit verify` passes the real log and
finds an edit, a deletion, a reordering and a truncation at the line where each happened.
One gateway, no tenants: config_load / config_reload lines are the audit events.
"""

import json
import os
import signal

import harness as h


class KeyedGateway(h.Gateway):
    key_path = None

    def gateway_toml(self):
        text = super().gateway_toml()
        return text.replace('audit = "audit.log"\n',
                            f'audit = "audit.log"\naudit_key = {h.toml_str(self.key_path)}\n')


def lines_of(path):
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines(keepends=True)


def write(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(lines))


def verify(*args):
    return h.run([h.portcullis_bin(), "audit", "verify", *args])


def reload_and_wait(gw, count_before):
    gw.proc.send_signal(signal.SIGHUP)
    h.wait_for(lambda: len(gw.audit_log()) > count_before, 10, "a config_reload audit line")


def test_audit_chain():
    with h.TestEnv("audit_chain") as env:
        env.mkdir("pki")
        mesh = h.init_ca(env.path("pki", "mesh"), "Mesh CA", h.TRUST_DOMAIN)
        cert, key = h.issue(mesh, env.path("pki", "gateway"), spiffe=h.GATEWAY_ID)
        gw = KeyedGateway(env)
        gw.set_mesh(os.path.join(mesh, "ca.pem"), cert, key)
        gw.key_path = env.path("audit.key")
        with open(gw.key_path, "w", encoding="ascii") as f:
            f.write("k3y-for-the-audit-chain\n")
        gw.start()
        h.wait_for(lambda: gw.audit_log(), 10, "the config_load audit line")
        for _ in range(3):
            reload_and_wait(gw, len(gw.audit_log()))

        # Rotation: rename, SIGUSR1, the next line opens the new file and continues the chain.
        rotated = gw.audit_path + ".1"
        os.rename(gw.audit_path, rotated)
        gw.proc.send_signal(signal.SIGUSR1)
        h.wait_for(lambda: os.path.exists(gw.audit_path), 10, "audit.log reopened on SIGUSR1")
        gw.proc.send_signal(signal.SIGHUP)
        h.wait_for(lambda: os.path.exists(gw.audit_path) and gw.audit_log(), 10,
                   "an audit line in the reopened file")
        first_new = json.loads(lines_of(gw.audit_path)[0])
        h.check(first_new["seq"] == 5, f"after rotation the chain restarted: {first_new}")

        # Restart: the new process continues after the last line of the file.
        gw.stop()
        gw.name = "gw_restarted"
        gw.start()
        h.wait_for(lambda: len(gw.audit_log()) >= 2, 10, "the config_load line after restart")
        log = lines_of(gw.audit_path)
        h.check(json.loads(log[-1])["seq"] == 6 and json.loads(log[-1])["event"] == "config_load",
                f"restart did not continue the chain: {log[-1]}")

        r = verify("--key", gw.key_path, rotated, gw.audit_path)
        h.check(r.returncode == 0 and "6 lines" in r.stdout, f"intact log refused: {r!r}")
        r = verify(rotated, gw.audit_path)
        h.check(r.returncode == 1 and "--key" in r.stderr, f"keyed log passed without key: {r!r}")
        r = verify("--key", gw.key_path, gw.audit_path)
        h.check(r.returncode == 1, f"newer file alone passed without --continued: {r!r}")
        r = verify("--key", gw.key_path, "--continued", gw.audit_path)
        h.check(r.returncode == 0, f"--continued refused: {r!r}")
        gw.stop()

        good = lines_of(rotated)  # seq 1..4
        bad = env.path("tampered.log")

        def expect(mutated, line, word):
            write(bad, mutated)
            r = verify("--key", gw.key_path, bad)
            h.check(r.returncode == 1, f"{word}: verify passed: {r!r}")
            h.check(f"tampered.log:{line}:" in r.stderr and word in r.stderr,
                    f"{word}: want line {line}: {r.stderr!r}")

        edited = list(good)
        edited[1] = edited[1].replace('"decision":"allow"', '"decision":"deny"')
        h.check(edited[1] != good[1], "nothing to edit")
        expect(edited, 2, "edited")
        expect(good[:1] + good[2:], 2, "deleted")
        expect([good[0], good[2], good[1], good[3]], 2, "reordered")
        truncated = list(good)
        truncated[3] = truncated[3][:len(truncated[3]) // 2]
        expect(truncated, 4, "truncated")
        expect(good[1:], 1, "head")
