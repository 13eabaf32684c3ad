#!/usr/bin/python3
"""Cold-tenant stall benchmark (issue #13): does building cold tenants' contexts stall the
worker's other connections? Not a test.

    /usr/bin/python3 tests/bench/cold_stall.py --portcullis build/gateway/portcullis
        [--tenants 10000] [--cold 200] [--requests 1500]

One gateway, one worker, the /tmp/scale-N tenant set (tests/bench/scale.py makes it) with
[limits] max_tenant_contexts below N, so tenants are built at their first handshake.
  baseline  one client sends keep-alive GETs over one TLS connection to a warm tenant;
            its per-request latency: median, p99, max
  stall     the same, while other clients (4 threads) handshake --cold never-seen tenants;
            the warm client's latency again, and the cold handshakes' median
  cold/warm median full handshake ms to fresh tenants, then to the same ones again
Also the gateway's CPU seconds. Wall clock on a shared box is noisy: quote the load.
Stops only the process it started, by pid.
"""

import argparse
import os
import random
import socket
import ssl
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import scale  # noqa: E402  pylint: disable=wrong-import-position


def warm_client(port, ctx, host, n, stop=None):
    """Latencies (ms) of n keep-alive GETs on one connection (or until `stop` is set)."""
    lat = []
    req = f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            for _ in range(n):
                if stop is not None and stop.is_set():
                    break
                t0 = time.perf_counter()
                s.sendall(req)
                buf = b""
                while b"\r\n\r\n" not in buf:
                    data = s.recv(4096)
                    if not data:
                        return lat  # the gateway's per-connection request cap: reconnect
                    buf += data
                head, _, body = buf.partition(b"\r\n\r\n")
                length = int([l.split(b":")[1] for l in head.split(b"\r\n")
                              if l.lower().startswith(b"content-length")][0])
                while len(body) < length:
                    body += s.recv(4096)
                lat.append((time.perf_counter() - t0) * 1000.0)
    return lat


def thread_cpu(pid):
    """{"name/tid": CPU seconds} of the gateway's threads."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm", encoding="ascii") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[f"{name}/{tid}"] = (int(fields[11]) + int(fields[12])) / scale.CLK_TCK
    return out


def summary(lat):
    lat = sorted(lat)
    return (f"n={len(lat)} median {statistics.median(lat):.2f} ms, "
            f"p99 {lat[int(len(lat) * 0.99) - 1]:.2f} ms, max {lat[-1]:.2f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--portcullis", required=True)
    ap.add_argument("--tenants", type=int, default=10000)
    ap.add_argument("--cold", type=int, default=200)
    ap.add_argument("--requests", type=int, default=1500)
    a = ap.parse_args()
    tenant_dir = scale.ensure_tenants(a.tenants, None)
    gw = scale.Gateway(os.path.abspath(a.portcullis), tenant_dir, 1,
                       f"/tmp/cold-stall-{os.getpid()}", max_contexts=a.tenants // 4)
    try:
        wall, cpu = gw.start()
        print(f"start {wall:.2f} s wall, {cpu:.2f} s CPU; load {os.getloadavg()[0]:.1f}")
        ctx = ssl.create_default_context(cafile=os.path.join(tenant_dir, "ca.pem"))
        ctx.options |= ssl.OP_NO_TICKET
        rng = random.Random(7)
        picks = rng.sample(range(1, a.tenants), 2 * a.cold + 40)
        warm_host = scale.host_of(0)
        base = warm_client(gw.port, ctx, warm_host, a.requests)
        print(f"baseline warm client: {summary(base)}")

        cold_ms = []
        todo = list(picks[:2 * a.cold])[:a.cold]
        lock = threading.Lock()

        def cold_worker():
            while True:
                with lock:
                    if not todo:
                        return
                    i = todo.pop()
                ms = scale.handshake_ms(gw.port, ctx, scale.host_of(i))
                with lock:
                    cold_ms.append(ms)

        stop = threading.Event()
        res = {}
        def warm_loop():
            lat = []
            for _ in range(1000):  # reconnects at the per-connection request cap
                if stop.is_set():
                    break
                lat += warm_client(gw.port, ctx, warm_host, 10 * a.requests, stop)
            res["lat"] = lat

        wt = threading.Thread(target=warm_loop)
        cpu0 = scale.cpu_seconds(gw.proc.pid)
        threads0 = thread_cpu(gw.proc.pid)
        wt.start()
        time.sleep(0.2)
        threads = [threading.Thread(target=cold_worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stop.set()
        wt.join()
        cpu1 = scale.cpu_seconds(gw.proc.pid)
        threads1 = thread_cpu(gw.proc.pid)
        print(f"warm client during {a.cold} cold handshakes: {summary(res['lat'])}")
        print(f"cold handshakes (4 clients): median {statistics.median(cold_ms):.2f} ms, "
              f"max {max(cold_ms):.2f} ms; gateway CPU {cpu1 - cpu0:.2f} s")
        print("  CPU s by thread: " + ", ".join(
            f"{k}{'' if k in threads0 else ' (new)'} {v - threads0.get(k, 0.0):.2f}"
            for k, v in sorted(threads1.items()) if v - threads0.get(k, 0.0) > 0.005))
        fresh = picks[2 * a.cold:2 * a.cold + 40]
        cold = [scale.handshake_ms(gw.port, ctx, scale.host_of(i)) for i in fresh]
        warm = [scale.handshake_ms(gw.port, ctx, scale.host_of(i)) for i in fresh]
        print(f"sequential handshake median: cold {statistics.median(cold):.2f} ms, "
              f"warm {statistics.median(warm):.2f} ms (40 tenants); "
              f"load {os.getloadavg()[0]:.1f}")
    finally:
        gw.stop()


if __name__ == "__main__":
    main()
