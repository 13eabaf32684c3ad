#!/usr/bin/python3
"""Upgrade comparison: Portcullis's hand-off upgrade (SIGUSR2), nginx's binary upgrade (USR2 to
the master, then QUIT to the old master) and HAProxy's master-worker reload (-W, USR2 to the
master; the new worker takes the listeners over the master's socket pair, as -x does; a stats
socket with `expose-fd listeners` is configured too), under the same load, in one run. Not a
test; CI does not run it.

    /usr/bin/python3 tests/bench/upgrade_compare.py --portcullis build/gateway/portcullis \
        [--rounds 5] [--only portcullis,nginx,haproxy]

Setup: bench.py's PKI and upstream (nginx requiring the mesh client certificate); each proxy
terminates TLS for bench.example and forwards over mTLS; one worker each. Everything is loopback.
Load, the same for every proxy: 4 curl loops (2 HTTP/1.1, 2 HTTP/2), 10 keep-alive requests per
connection, running from before the signal until 1 s after the old process is gone.
Per round: failed requests (anything but a 200, a refused connection, a cut transfer) and the
time from the signal to the old process gone (Portcullis: the old process; nginx: the old
master; HAProxy: the old worker). Printed: medians over the rounds, and the totals.

Stops only the processes it started (and their successors), by pid.
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  pylint: disable=wrong-import-position
from bench import h, HOST  # noqa: E402  pylint: disable=wrong-import-position

URLS_PER_CURL = 10


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat", encoding="utf-8") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                out.append(int(d))
    return out


def wait(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.002)
    raise RuntimeError(f"timed out: {what}")


class Load:
    """4 curl loops against port; counts 200s and failures."""

    def __init__(self, port, cacert):
        self.port, self.cacert = port, cacert
        self.ok = 0
        self.failed = 0
        self.errors = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.loop, args=(http2,), daemon=True)
                        for http2 in (False, True, False, True)]

    def loop(self, http2):
        url = f"https://{HOST}:{self.port}/"
        argv = ["curl", "-sS", "--max-time", "15", "--resolve", f"{HOST}:{self.port}:127.0.0.1",
                "--cacert", self.cacert, "--http2" if http2 else "--http1.1",
                "-w", "%{http_code}\\n"]
        for _ in range(URLS_PER_CURL):
            argv += ["-o", "/dev/null", url]
        for _ in range(100000):
            if self.stop.is_set():
                return
            r = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
            codes = r.stdout.split()
            good = codes.count("200")
            with self.lock:
                self.ok += good
                self.failed += URLS_PER_CURL - good
                if good != URLS_PER_CURL and len(self.errors) < 5:
                    self.errors.append(f"rc={r.returncode} {codes} {r.stderr[-200:]}")

    def __enter__(self):
        for t in self.threads:
            t.start()
        wait(lambda: self.ok >= 4 * URLS_PER_CURL, 30, "load running")
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(90)


# ---------------------------------------------------------------------------------------------
# the proxies: start() -> (pid, port); upgrade(pid) -> (new pid, the pid that has to go)

class Portcullis:
    name = "portcullis"

    def __init__(self, env, setup, upstream, binary):
        self.notify_path = env.path("notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.notify_path)
        self.sock.settimeout(0.5)
        os.environ["NOTIFY_SOCKET"] = self.notify_path  # inherited by bench's env.start
        try:
            proc, self.port = bench.start_portcullis(env, setup, upstream, "", binary)
        finally:
            del os.environ["NOTIFY_SOCKET"]
        self.pid = proc.pid

    def upgrade(self):
        old = self.pid
        t0 = time.monotonic()
        os.kill(old, signal.SIGUSR2)
        for _ in range(60):
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            if msg.startswith("MAINPID="):
                self.pid = int(msg.split("=", 1)[1].split()[0])
                # the successor holds the sockets and is about to say READY=1
                log(f"    portcullis: hand-off done {(time.monotonic() - t0) * 1000:.0f} ms "
                    "after the signal")
                return old
        raise RuntimeError("no MAINPID after SIGUSR2")

    def stop(self):
        if not h.pid_gone(self.pid):
            os.kill(self.pid, signal.SIGTERM)


class Nginx:
    """Daemonized, as in production: with `daemon off` the master's parent never changes, and
    nginx ignores USR2 while the parent of a master is the process that started it."""
    name = "nginx"

    def __init__(self, env, setup, upstream):
        if not shutil.which("nginx"):
            raise bench.Unavailable("nginx not installed")
        d = env.mkdir("nginx-proxy")
        env.mkdir("nginx-proxy", "tmp")
        self.port = h.free_port()
        self.pidfile = os.path.join(d, "nginx.pid")
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = f"""{user}worker_processes 1;
pid {self.pidfile};
error_log {d}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    keepalive_requests 1000000;
    upstream mesh {{
        server {upstream.servers[0].endpoint};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{self.port} ssl http2;
        server_name {HOST};
        ssl_certificate {setup.front_cert};
        ssl_certificate_key {setup.front_key};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            proxy_pass https://mesh;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_ssl_certificate {setup.gw_cert};
            proxy_ssl_certificate_key {setup.gw_key};
            proxy_ssl_trusted_certificate {setup.mesh_ca_pem};
            proxy_ssl_verify on;
            proxy_ssl_verify_depth 2;
            proxy_ssl_name {bench.UPSTREAM_NAME};
            proxy_ssl_server_name on;
        }}
    }}
}}
"""
        path = os.path.join(d, "nginx.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write(conf)
        # nginx re-executes its argv[0] on USR2: a full path
        r = h.run([shutil.which("nginx"), "-p", d + "/", "-c", path])
        if r.returncode != 0:
            raise bench.Unavailable("nginx did not start: " + r.stderr[-500:])
        self.pid = wait(lambda: self.read_pid(self.pidfile), 10, "nginx pid file")
        h.wait_for(lambda: h.tcp_connectable("127.0.0.1", self.port), 10, "nginx")

    def read_pid(self, path):
        try:
            with open(path, encoding="ascii") as f:
                return int(f.read().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def upgrade(self):
        old = self.pid
        os.kill(old, signal.SIGUSR2)
        # the new master writes nginx.pid (the old one's became nginx.pid.oldbin)
        new = wait(lambda: (lambda p: p if p not in (0, old) else 0)(self.read_pid(self.pidfile)),
                   30, "nginx's new master")
        os.kill(old, signal.SIGQUIT)
        self.pid = new
        return old

    def stop(self):
        if not h.pid_gone(self.pid):
            os.kill(self.pid, signal.SIGQUIT)


class Haproxy:
    name = "haproxy"

    def __init__(self, env, setup, upstream):
        d = env.mkdir("haproxy")
        self.port = h.free_port()
        conf = f"""global
    nbthread 1
    maxconn 9000
    stats socket {d}/admin.sock mode 600 level admin expose-fd listeners

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    http-reuse always

frontend public
    bind 127.0.0.1:{self.port} ssl crt {setup.front_combined} alpn h2,http/1.1
    default_backend mesh

backend mesh
    server up {upstream.servers[0].endpoint} ssl verify required ca-file {setup.mesh_ca_pem} \
crt {setup.gw_combined} verifyhost {bench.UPSTREAM_NAME} sni str({bench.UPSTREAM_NAME})
"""
        path = os.path.join(d, "haproxy.cfg")
        with open(path, "w", encoding="utf-8") as f:
            f.write(conf)
        proc = env.start("haproxy", [shutil.which("haproxy"), "-W", "-db", "-f", path])
        h.wait_for(lambda: h.tcp_connectable("127.0.0.1", self.port) or not proc.alive(), 10,
                   "haproxy")
        if not proc.alive():
            raise bench.Unavailable("haproxy exited: " + proc.stderr_text()[-500:])
        self.pid = proc.pid  # the master; it stays
        self.worker = wait(lambda: children(self.pid), 10, "haproxy worker")[0]

    def upgrade(self):
        old = self.worker
        os.kill(self.pid, signal.SIGUSR2)
        self.worker = wait(lambda: [c for c in children(self.pid) if c != old], 30,
                           "haproxy's new worker")[0]
        return old

    def stop(self):
        pass  # the master is ours; TestEnv stops it


def round_(proxy, cacert):
    with Load(proxy.port, cacert) as load:
        t0 = time.monotonic()
        old = proxy.upgrade()
        wait(lambda: h.pid_gone(old), 120, f"{proxy.name}: old process {old} gone")
        took = time.monotonic() - t0
        time.sleep(1)  # served by the new process for a while
    return load.failed, load.ok, took, load.errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--portcullis", default=os.path.join(HERE, "..", "..", "build", "gateway",
                                                         "portcullis"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default="portcullis,nginx,haproxy")
    args = ap.parse_args()
    binary = os.path.abspath(args.portcullis)
    results = {}
    notes = []
    with h.TestEnv("upgrade-compare") as env:
        setup = bench.Setup(env, binary if os.path.exists(binary) else "")
        upstream = bench.start_upstream(env, setup, "")
        cacert = os.path.join(setup.front_ca, "ca.pem")
        for name in args.only.split(","):
            try:
                if name == "portcullis":
                    proxy = Portcullis(env, setup, upstream, binary)
                elif name == "nginx":
                    proxy = Nginx(env, setup, upstream)
                else:
                    proxy = Haproxy(env, setup, upstream)
            except bench.Unavailable as e:
                notes.append(f"{name}: skipped ({e})")
                continue
            rows = []
            try:
                for r in range(args.rounds):
                    failed, ok, took, errors = round_(proxy, cacert)
                    log(f"{name} round {r + 1}: {failed} failed / {ok} ok, {took * 1000:.0f} ms"
                        + (f" {errors[:2]}" if errors else ""))
                    rows.append((failed, ok, took))
            except RuntimeError as e:
                notes.append(f"{name}: stopped ({e})")
            finally:
                proxy.stop()
            if rows:
                results[name] = rows
    print(f"| proxy | rounds | failed requests (median / total) | requests served (total) | "
          f"signal to old process gone (median) |")
    print("|---|---|---|---|---|")
    for name, rows in results.items():
        print(f"| {name} | {len(rows)} | {statistics.median(r[0] for r in rows):g} / "
              f"{sum(r[0] for r in rows)} | {sum(r[1] for r in rows)} | "
              f"{statistics.median(r[2] for r in rows) * 1000:.0f} ms |")
    for n in notes:
        print(f"- {n}")


if __name__ == "__main__":
    main()
