"""Descriptor exhaustion: with a soft RLIMIT_NOFILE of 64 and 300 TLS connections, the gateway
backs off instead of spinning on accept4 (EMFILE), counts it under
portcullis_rejections_total{reason="fd_exhausted"}, and serves a new client within seconds once
the connections close, in every trial of one gateway run."""

import os
import socket
import ssl
import threading
import time

import harness as h

NOFILE = 64
CONNECTIONS = 300
TRIALS = 3


def _start_limited(t):
    """Starts the topology's gateway with a soft descriptor limit of NOFILE (the shell lowers it
    and execs the gateway, so the pid is the gateway's)."""
    gw = t.gw
    gw.write()
    argv = ["/bin/sh", "-c", f'ulimit -Sn {NOFILE} && exec "$0" "$@"',
            h.portcullis_bin(), "run", "-c", gw.config_path]
    gw.proc = t.env.start(gw.name, argv, cwd=gw.dir)
    gw.wait_ready()


def _cpu_seconds(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _open_tls(port, ctx, sni):
    """A TCP connection that has sent its ClientHello; handshakes finish (or not) later."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    raw.setblocking(False)
    s = ctx.wrap_socket(raw, server_hostname=sni, do_handshake_on_connect=False)
    try:
        s.do_handshake()
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        pass
    except (ssl.SSLError, OSError):
        pass  # closed at once (libuv's spare-descriptor trick): still a connection we hold
    return s


def _pump(socks, rounds=20):
    """Drives the handshakes the gateway answers, so the accepted connections hold their
    descriptors as established TLS connections."""
    pending = list(socks)
    for _ in range(rounds):
        left = []
        for s in pending:
            try:
                s.do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                left.append(s)
            except (ssl.SSLError, OSError):
                pass
        pending = left
        if not pending:
            return
        time.sleep(0.05)


def _open_many(port, ctx, sni, n, threads=4):
    """n connections from several threads at once, so both workers accept at the same time."""
    out = [[] for _ in range(threads)]

    def run(i):
        for _ in range(n // threads):
            out[i].append(_open_tls(port, ctx, sni))
        _pump(out[i])

    ts = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    for th in ts:
        th.start()
    for th in ts:
        th.join(timeout=60)
    return [s for part in out for s in part]


def _served(t):
    r = h.get(t, "acme", "/canary", timeout=3)
    return r.rc == 0 and r.status == 200


def test_fd_exhaustion_recovers():
    with h.TestEnv("fdlimit") as env:
        t = h.build_topology(env, start=False, workers=2)
        _start_limited(t)
        pid = t.gw.proc.pid
        h.check(_served(t), "the gateway serves before any exhaustion")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        for trial in range(TRIALS):
            held = _open_many(t.gw.port, ctx, h.ACME_HOST, CONNECTIONS)
            try:
                before = _cpu_seconds(pid)
                time.sleep(2.0)
                burnt = _cpu_seconds(pid) - before
                # A worker spinning on accept4 burns ~1 s per second; idle waiting burns ~0.
                h.check(burnt < 1.0, f"trial {trial}: the gateway used {burnt:.2f} s of CPU in "
                                     "2 s while out of descriptors (accept spin?)")
            finally:
                for s in held:
                    s.close()
            h.wait_for(lambda: _served(t), 10,
                       f"trial {trial}: a new client served after the connections closed")
        h.check(h.scrape_sum(t.gw, "portcullis_rejections_total", reason="fd_exhausted") > 0,
                "accept failures for lack of descriptors are counted")
