#!/usr/bin/python3
"""Idle memory only: KiB of RSS per idle TLS connection (HTTP/1.1, then HTTP/2 with the
HTTP/1.1 set still open), for Portcullis and the bench's peers, set up exactly as bench.py sets
them up (same certificates, same upstream, one worker pinned to --proxy-cpu). Not a test.

    /usr/bin/python3 tests/bench/idle_mem.py --portcullis build/gateway/portcullis \
        [--count 1000] [--only portcullis,nginx,haproxy,nghttpx] [--massif DIR]
        [--baseline OTHER_PORTCULLIS_BINARY] [--runs 3]

Each run starts the proxy afresh; medians over the runs, with the range (the per-connection
figure moves by several KiB between runs, with where glibc's arena happens to put the
handshakes' transient buffers).

A few keep-alive requests go through each proxy first (a warm heap, as in bench.py's run),
then the idle sets open. RSS memory does not depend on the machine's load, so this is quick
(about 20 s per proxy). --massif runs Portcullis under valgrind's massif (RSS is then
meaningless; read the heap with ms_print DIR/massif.out.*).
"""

import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  pylint: disable=wrong-import-position


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--portcullis", default=os.path.join(HERE, "..", "..", "build", "gateway",
                                                         "portcullis"))
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="portcullis,nginx")
    ap.add_argument("--proxy-cpu", default="0")
    ap.add_argument("--massif", metavar="DIR", help="run Portcullis under massif, output in DIR")
    ap.add_argument("--baseline", metavar="BIN",
                    help="also measure this Portcullis binary (row portcullis-baseline)")
    args = ap.parse_args()
    bench.raise_fd_limit()
    other = ",".join(str(c) for c in range(os.cpu_count() or 1) if str(c) != args.proxy_cpu)
    binary = os.path.abspath(args.portcullis)
    rows = []
    with bench.h.TestEnv("idle_mem") as env:
        setup = bench.Setup(env, binary)
        upstream = bench.start_upstream(env, setup, other)
        names = [n.strip() for n in args.only.split(",")]
        if args.baseline:
            names.append("portcullis-baseline")
        for name in names:
            got = []
            for _ in range(args.runs):
                r = measure(args, env, setup, upstream, other, binary, name)
                if r is None:
                    break
                got.append(r)
            if got:
                rows.append((name, got))
    def med(got, i):
        v = [g[i] for g in got]
        m = statistics.median(v)
        return f"{m:.1f}" if len(v) == 1 else f"{m:.1f} ({min(v):.1f}-{max(v):.1f})"

    print(f"{args.runs} runs each, median (range):")
    print(f"| proxy | RSS MiB before | RSS MiB, {args.count} + {args.count} idle TLS | "
          "KiB per idle HTTP/1.1 conn | KiB per idle HTTP/2 conn |")
    print("|---|---:|---:|---:|---:|")
    for name, got in rows:
        print(f"| {name} | {med(got, 0)} | {med(got, 1)} | {med(got, 2)} | {med(got, 3)} |")


def measure(args, env, setup, upstream, other, binary, name):
    """One fresh start of one proxy: (RSS before, RSS after, KiB h1, KiB h2), or None."""
    try:
        if name == "portcullis-baseline":
            proc, port = bench.start_portcullis(env, setup, upstream, args.proxy_cpu,
                                                os.path.abspath(args.baseline))
        elif name == "portcullis":
            wrapper, timeout = (), 15
            if args.massif:
                os.makedirs(args.massif, exist_ok=True)
                wrapper = ("valgrind", "--tool=massif", "--threshold=0.2",
                           f"--massif-out-file={os.path.abspath(args.massif)}"
                           "/massif.out.%p")
                timeout = 120
            proc, port = bench.start_portcullis(env, setup, upstream, args.proxy_cpu,
                                                binary, wrapper, timeout)
        else:
            proc, port = bench.PROXIES[name](env, setup, upstream, args.proxy_cpu)
    except bench.Unavailable as e:
        bench.log(f"{name}: skipped ({e})")
        return None
    try:
        bench.h2load(port, ["--h1", "-c", "4", "-n", "200"], other)
        bench.h2load(port, ["-c", "4", "-m", "4", "-n", "200"], other)
        start = bench.process_tree_rss_kib(proc.pid) / 1024.0
        rss, h1, h2 = bench.idle_rss(proc, port, args.count)
        if rss is None:
            return None
        bench.log(f"{name}: {h1:.1f} / {h2:.1f} KiB per idle h1 / h2 connection")
        return start, rss, h1, h2
    finally:
        proc.stop()


if __name__ == "__main__":
    main()
