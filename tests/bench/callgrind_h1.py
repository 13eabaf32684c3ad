#!/usr/bin/python3
"""Instructions per proxied request in Portcullis or a peer, counted by callgrind (the box's load
does not move an instruction count). Not a test; CI does not run it.

    /usr/bin/python3 tests/bench/callgrind_h1.py --portcullis build/gateway/portcullis
        [--proxy portcullis|nginx|haproxy] [--h2] [--connections 10] [--requests 2000]
        [--path /files/body8k.bin]

--h2 sends HTTP/2 (10 streams at a time per connection, as bench.py's HTTP/2 phase) instead of
HTTP/1.1. nginx runs with `master_process off` so that its one process does the work.

The same topology as bench.py (nginx mTLS upstream, one worker, one tenant chosen by SNI). After
a warm-up (handshakes, upstream pool) the counters are zeroed, --requests keep-alive requests
run over --connections connections, and the counters are dumped: the printed Ir per request is
the worker's and the main thread's whole cost of a request, handshakes excluded.
"""

import argparse
import glob
import os
import re
import subprocess
import sys

import bench
from bench import h


def total_ir(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def run_under(wrapper, proxy):
    """bench's start_* functions spawn through env.start: put valgrind in front of the proxy's
    argv (and keep nginx in one process), and give the slower start-up more time."""
    start, wait_for = h.TestEnv.start, h.wait_for

    def start_wrapped(self, name, argv, **kw):
        if name == proxy:
            argv = list(argv)
            if proxy == "nginx-proxy":
                i = argv.index("-g") + 1
                argv[i] = "master_process off; " + argv[i]
            argv = [*wrapper, *argv]
        return start(self, name, argv, **kw)

    h.TestEnv.start = start_wrapped
    bench.h.wait_for = lambda pred, timeout, what, **kw: wait_for(pred, timeout * 6, what, **kw)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--portcullis", required=True)
    ap.add_argument("--connections", type=int, default=10)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--path", default="/")
    ap.add_argument("--proxy", default="portcullis", choices=["portcullis", "nginx", "haproxy"])
    ap.add_argument("--h2", action="store_true", help="HTTP/2, 10 streams per connection")
    ap.add_argument("--out", default="callgrind.out.portcullis")
    args = ap.parse_args()
    binary = os.path.abspath(args.portcullis)
    out = os.path.abspath(args.out if args.proxy == "portcullis" or args.out != ap.get_default(
        "out") else f"callgrind.out.{args.proxy}")
    shape = ["-m", "10"] if args.h2 else ["--h1"]
    for old in glob.glob(out + "*"):
        os.unlink(old)
    with h.TestEnv("callgrind") as env:
        setup = bench.Setup(env, binary)
        upstream = bench.start_upstream(env, setup, "")
        wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                   "--dump-instr=no", "--collect-atstart=yes"]
        if args.proxy == "portcullis":
            proc, port = bench.start_portcullis(env, setup, upstream, "", binary, wrapper, 120)
        else:
            run_under(wrapper, {"nginx": "nginx-proxy", "haproxy": "haproxy"}[args.proxy])
            start = {"nginx": bench.start_nginx_proxy, "haproxy": bench.start_haproxy}
            proc, port = start[args.proxy](env, setup, upstream, "")
        try:
            # HTTP/2 runs 10 streams per connection: warm the upstream pool to that concurrency
            streams = 10 if args.h2 else 1
            warm = [*shape, "-c", str(args.connections), "-n",
                    str(4 * args.connections * streams)]
            bench.h2load(port, warm, "", path=args.path)
            subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True,
                           capture_output=True)
            # h2load -c N opens N new connections: their handshakes are counted too, so the
            # warm-up handshakes' cost is measured separately and subtracted below.
            bench.h2load(port, [*shape, "-c", str(args.connections), "-n",
                                str(args.connections)], "", path=args.path)
            subprocess.run(["callgrind_control", "-d", "conn", str(proc.pid)], check=True,
                           capture_output=True)
            bench.h2load(port, [*shape, "-c", str(args.connections), "-n", str(args.requests)],
                         "", path=args.path)
            subprocess.run(["callgrind_control", "-d", "load", str(proc.pid)], check=True,
                           capture_output=True)
        finally:
            proc.stop(timeout=60)
    dumps = sorted(glob.glob(out + ".*"), key=os.path.getmtime)
    dumps = [d for d in dumps if re.search(r"\.\d+$", d)]
    if len(dumps) < 2:
        sys.exit(f"callgrind_h1.py: expected two dumps, found {dumps}")
    conn_ir, load_ir = total_ir(dumps[0]), total_ir(dumps[1])
    # conn: N connections with one request each; load: N connections with requests/N each
    per_request = (load_ir - conn_ir) / (args.requests - args.connections)
    print(f"{args.proxy} {'HTTP/2' if args.h2 else 'HTTP/1.1'}, "
          f"connections {args.connections}, requests {args.requests}, path {args.path}: "
          f"{load_ir / 1e6:.1f}M Ir in the load phase, {conn_ir / 1e6:.1f}M for "
          f"{args.connections} one-request connections; {per_request:.0f} Ir per keep-alive "
          f"request; profile {dumps[1]}")


if __name__ == "__main__":
    main()
