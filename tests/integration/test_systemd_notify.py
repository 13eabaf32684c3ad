"""systemd integration: the sd_notify datagrams (READY, RELOADING + MONOTONIC_USEC, STOPPING)
against a fake NOTIFY_SOCKET, and `portcullis reload` (the unit's ExecReload), which makes
`systemctl reload` fail visibly when the gateway would refuse the configuration."""

import os
import signal
import socket

import harness as h
from harness.notify import fields, recv_until


def test_notify_ready_reloading_stopping():
    with h.TestEnv("notify") as env:
        t = h.build_topology(env, start=False)
        t.gw.write()
        path = env.path("notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(0.5)
        try:
            proc = env.start("gw", [h.portcullis_bin(), "run", "-c", t.gw.config_path],
                             cwd=t.gw.dir, env=dict(os.environ, NOTIFY_SOCKET=path))
            t.gw.proc = proc
            msg = recv_until(sock, lambda m: "READY=1" in m, "READY=1 at start")
            h.check(fields(msg).get("MAINPID") == str(proc.pid), f"MAINPID missing: {msg!r}")
            h.check(t.gw.admin_get("/readyz")[0] == 200, "READY=1 before /readyz is 200")

            # a good reload through the unit's ExecReload command: RELOADING=1 with a monotonic
            # timestamp, then READY=1
            rel = h.run([h.portcullis_bin(), "reload", "-c", t.gw.config_path,
                         "--pid", str(proc.pid)])
            h.check(rel.returncode == 0, f"portcullis reload of a good config: {rel!r}")
            msg = recv_until(sock, lambda m: "RELOADING=1" in m, "RELOADING=1")
            usec = fields(msg).get("MONOTONIC_USEC", "")
            h.check(usec.isdigit() and int(usec) > 0, f"RELOADING=1 without MONOTONIC_USEC: "
                    f"{msg!r}")
            msg = recv_until(sock, lambda m: "READY=1" in m, "READY=1 after the reload")
            h.check("serving generation 2" in msg, f"reload not reported as applied: {msg!r}")

            # an error confined to one tenant: check fails, but reload goes ahead (the running
            # gateway quarantines that tenant and applies everything else)
            t.gw.add_tenant_file("broken", "name = \"broken\"\nhosts = [\n")
            check = h.run([h.portcullis_bin(), "check", "-c", t.gw.config_path])
            h.check(check.returncode == 1, f"check accepted a broken tenant: {check!r}")
            rel = h.run([h.portcullis_bin(), "reload", "-c", t.gw.config_path,
                         "--pid", str(proc.pid)])
            h.check(rel.returncode == 0 and "run would quarantine 1 tenant" in rel.stdout,
                    f"reload with one broken tenant: {rel!r}")

            # a refused reload: `portcullis reload` (the unit's ExecReload) exits 1 without a
            # signal, so systemctl reload reports it; a SIGHUP anyway gives READY=1 again, with
            # the refusal as STATUS
            with open(t.gw.config_path, "a", encoding="utf-8") as f:
                f.write("\n[gateway.bogus]\n")
            rel = h.run([h.portcullis_bin(), "reload", "-c", t.gw.config_path,
                         "--pid", str(proc.pid)])
            h.check(rel.returncode == 1 and "refused" in rel.stderr,
                    f"reload of a broken gateway.toml: {rel!r}")
            proc.send_signal(signal.SIGHUP)
            # (the watcher reloads after each file change too: skip to the refusal)
            recv_until(sock, lambda m: "READY=1" in m and "refused" in m,
                       "READY=1 with the refusal after a refused reload")

            proc.expected_exit = True
            proc.send_signal(signal.SIGTERM)
            recv_until(sock, lambda m: "STOPPING=1" in m, "STOPPING=1")
            h.check(proc.wait(10) == 0, "exit after SIGTERM: " + proc.describe())
        finally:
            sock.close()


def test_unit_file_is_type_notify_with_a_checked_reload():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "packaging", "systemd", "portcullis.service"),
              encoding="utf-8") as f:
        lines = [line.strip() for line in f if not line.startswith("#")]
    h.check("Type=notify" in lines, "the unit is not Type=notify")
    reloads = [line for line in lines if line.startswith("ExecReload=")]
    h.check(len(reloads) == 1 and " reload " in reloads[0] and "--pid $MAINPID" in reloads[0],
            f"ExecReload is not `portcullis reload --pid $MAINPID`: {reloads}")
