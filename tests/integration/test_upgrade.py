"""Operations: the binary upgrade under systemd (SIGUSR2 / `portcullis upgrade --pid`).

The gateway runs from a copy of the binary in the test directory, with a fake NOTIFY_SOCKET.
Under HTTP/1.1 and HTTP/2 load:
- a SIGUSR2 while the configuration is invalid: the new process refuses to start, the old one
  keeps serving, audits the refusal and sends no MAINPID;
- the copy is replaced as dpkg does (a new file renamed over it) and `portcullis upgrade` sends
  SIGUSR2: the process that answers runs the NEW file (not the old, deleted inode), MAINPID=<new>
  comes before its READY=1, the old process exits 0, and no request failed.
"""

import os
import shutil
import signal
import socket

import harness as h
from harness import notify
from harness.notify import fields
from harness.load import URLS_PER_CURL, CurlLoad


def drain_notifications(sock):
    """Every datagram queued now (non-blocking)."""
    out = []
    sock.setblocking(False)
    try:
        for _ in range(1000):
            out.append(sock.recv(4096).decode())
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(0.5)
    return out


def recv_until(sock, pred, what, seen):
    return notify.recv_until(sock, pred, what, seen, rounds=60)


def fresh_copy(src, dst):
    """As dpkg installs a file: written beside it, then renamed over it (a new inode)."""
    shutil.copy2(src, dst + ".dpkg-new")
    os.rename(dst + ".dpkg-new", dst)
    return os.stat(dst).st_ino


def test_sigusr2_upgrade_hands_off_and_moves_mainpid():
    with h.TestEnv("upgrade") as env:
        t = h.build_topology(env, start=False)
        t.gw.workers = 2
        t.gw.write()
        binary = env.path("bin", "portcullis")
        os.makedirs(os.path.dirname(binary))
        fresh_copy(h.portcullis_bin(), binary)
        notify_path = env.path("notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(notify_path)
        sock.settimeout(0.5)
        new_pid = None
        loads = []
        try:
            old = env.start("gw", [binary, "run", "-c", t.gw.config_path], cwd=t.gw.dir,
                            env=dict(os.environ, NOTIFY_SOCKET=notify_path))
            t.gw.proc = old
            seen = []
            recv_until(sock, lambda m: "READY=1" in m, "READY=1 at start", seen)
            t.gw.wait_ready(10)
            loads = [CurlLoad(t, t.gw.port, "/upgrade-load", http2) for http2 in (False, True)]
            for load in loads:
                load.start()
            h.wait_for(lambda: all(load.ok >= URLS_PER_CURL for load in loads), 20,
                       "load running before the upgrade")

            # 1. the new process refuses its configuration: the old one keeps everything
            with open(t.gw.config_path, encoding="utf-8") as f:
                good = f.read()
            with open(t.gw.config_path, "a", encoding="utf-8") as f:
                f.write("\n[gateway.bogus]\n")
            old.send_signal(signal.SIGUSR2)
            t.gw.wait_audit(lambda e: e.get("event") == "upgrade" and e.get("decision") == "deny",
                            "upgrade refused", timeout=20)
            h.check(old.alive(), "the old process died after a refused upgrade: " + old.describe())
            h.check("upgrade refused" in old.stderr_text(), "refusal not logged: "
                    + old.describe())
            with open(t.gw.config_path, "w", encoding="utf-8") as f:
                f.write(good)
            late = drain_notifications(sock)
            h.check(not [m for m in seen + late if m.startswith("MAINPID=")],
                    f"MAINPID sent for a refused upgrade: {seen + late}")
            h.check(any("upgrade refused" in m for m in late), f"no STATUS for the refusal: {late}")
            before = [load.ok for load in loads]
            h.wait_for(lambda: all(load.ok >= b + URLS_PER_CURL for load, b in zip(loads, before)),
                       20, "load served by the old process after the refusal")

            # 2. the package replaces the binary; `portcullis upgrade` signals the main pid
            new_ino = fresh_copy(h.portcullis_bin(), binary)
            seen = []
            r = h.run([h.portcullis_bin(), "upgrade", "--pid", str(old.pid)])
            h.check(r.returncode == 0, f"portcullis upgrade: {r!r}")
            moved = recv_until(sock, lambda m: m.startswith("MAINPID="), "MAINPID=<new>", seen)
            new_pid = int(fields(moved)["MAINPID"])
            h.check(new_pid != old.pid, f"MAINPID names the old process: {moved!r}")
            recv_until(sock, lambda m: "READY=1" in m and fields(m).get("MAINPID") == str(new_pid),
                       "READY=1 from the new process", seen)
            h.check(os.stat(f"/proc/{new_pid}/exe").st_ino == new_ino,
                    "the new process does not run the binary now on disk: "
                    + os.readlink(f"/proc/{new_pid}/exe"))
            old.expected_exit = True
            code = old.wait(20)
            h.check(code == 0, f"the old process exit {code}: " + old.describe())
            late = drain_notifications(sock)
            h.check(not [m for m in late if "STOPPING=1" in m],
                    f"the old process told systemd the service is stopping: {late}")
            t.gw.wait_audit(lambda e: e.get("event") == "upgrade" and e.get("decision") == "allow",
                            "upgrade taken over", timeout=10)
            h.check(h.http_get(t.gw.admin_url("/readyz"))[0] == 200, "the new process not ready")
            after = [load.ok for load in loads]
            h.wait_for(lambda: all(load.ok >= a + URLS_PER_CURL for load, a in zip(loads, after)),
                       20, "load served by the new process")
        finally:
            for load in loads:
                load.stop.set()
            for load in loads:
                load.join(60)
            sock.close()
            if new_pid is not None and not h.pid_gone(new_pid):
                os.kill(new_pid, signal.SIGTERM)  # ours: started by our gateway, by pid
                h.wait_for(lambda: h.pid_gone(new_pid), 20, f"new process {new_pid} exit")
        for load in loads:
            kind = "HTTP/2" if load.http2 else "HTTP/1.1"
            h.check(not load.failures, f"{kind}: {len(load.failures)} failed curl runs "
                    f"(ok={load.ok}): {load.failures[:3]}")
        print(f"  upgrade: {loads[0].ok} HTTP/1.1 and {loads[1].ok} HTTP/2 requests, 0 failed")


def test_upgrade_command_refuses_a_process_without_the_handler():
    with h.TestEnv("upgrade-cmd") as env:
        sleeper = env.start("sleep", ["sleep", "30"])
        r = h.run([h.portcullis_bin(), "upgrade", "--pid", str(sleeper.pid)])
        h.check(r.returncode == 1 and "restart it instead" in r.stderr,
                f"upgrade of a process without a SIGUSR2 handler: {r!r}")
        h.check(sleeper.alive(), "the process was signalled anyway")
        sleeper.stop()
