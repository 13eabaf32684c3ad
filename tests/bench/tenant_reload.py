#!/usr/bin/env python3
"""One-tenant reload time against the tenant count (issue #13, per-tenant reload).

    /usr/bin/python3 tests/bench/tenant_reload.py --portcullis build/gateway/portcullis \\
        --tenants 1000,10000 --runs 5

For each count: tenants from tests/bench/gen_tenants (cached under --cache), the gateway
started on them, then --runs reloads of each kind, timed by the gateway itself (the "built in
N ms" of its reload line, from the request to the finished build):
  - one tenant file rewritten (the watcher names it: per-tenant reload);
  - one tenant's certificate and key rewritten (per-tenant reload, one context built);
  - SIGHUP with nothing changed (full reload: every file parsed, every context reused).
Also the wall time from the write (or the signal) to the reload line, polled every 50 ms: it
includes the watcher's debounce (300 ms) and its check of the files, which the build time does
not. Not run by CI.
"""

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness as h  # noqa: E402

LINE = re.compile(r"reloaded, generation (\d+), built in (\d+) ms [^\n]*")


def generate(gen_tenants, cache, count):
    out = os.path.join(cache, f"t{count}")
    if not os.path.isdir(out):
        subprocess.run([gen_tenants, "--out", out, "--count", str(count)], check=True)
    return out


def reloads(stderr_path, after):
    with open(stderr_path, encoding="utf-8", errors="replace") as f:
        return [m for m in LINE.finditer(f.read()) if int(m.group(1)) > after]


def one(binary, tenants_dir, runs, work):
    port, admin = h.free_port(), h.free_port()
    config = os.path.join(work, "gateway.toml")
    with open(config, "w", encoding="utf-8") as f:
        f.write(f"""[gateway]
workers = 1
tenants_dir = {h.toml_str(os.path.join(tenants_dir, "tenants.d"))}

[admin]
listen = "127.0.0.1:{admin}"

[log]
access = ""
audit = ""

[[listener]]
name = "public"
kind = "ingress"
address = "127.0.0.1:{port}"
""")
    err_path = os.path.join(work, "stderr.log")
    with open(err_path, "w", encoding="utf-8") as err:
        proc = subprocess.Popen([binary, "run", "-c", config], cwd=work,
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        t0 = time.monotonic()
        h.wait_for(lambda: h.http_get(f"http://127.0.0.1:{admin}/readyz", timeout=5)[0] == 200,
                   1800, "readiness", interval=0.2)
        started = time.monotonic() - t0
        gen = [1]
        results = {}

        def timed(kind, act):
            ms, walls, lines = [], [], []
            for i in range(runs):
                t_act = time.monotonic()
                act(i)
                m = h.wait_for(lambda: reloads(err_path, gen[0]), 300, f"{kind} reload",
                               interval=0.05)[-1]
                walls.append(round((time.monotonic() - t_act) * 1000))
                time.sleep(0.5)  # a rotation's two writes may take two reloads: keep the last
                m = reloads(err_path, gen[0])[-1]
                gen[0] = int(m.group(1))
                ms.append(int(m.group(2)))
                lines.append(m.group(0))
            results[kind] = (statistics.median(ms), ms, statistics.median(walls), lines[-1])

        tdir = os.path.join(tenants_dir, "tenants.d")
        names = sorted(os.listdir(tdir))

        # The watcher compares contents (the same bytes reload nothing): each run changes a
        # comment in the tenant file, or the trailing blank lines of the PEM files.
        def rewrite_toml(i):
            path = os.path.join(tdir, names[(i * 7) % len(names)])
            with open(path, encoding="utf-8") as f:
                text = f.read()
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.rstrip("\n") + f"\n# bench run {i}\n")

        def rewrite_cert(i):
            stem = names[(i * 11 + 3) % len(names)][:-len(".toml")]
            for ext in (".key", ".pem"):
                path = os.path.join(tenants_dir, "certs", stem + ext)
                with open(path, encoding="ascii") as f:
                    text = f.read()
                # One more trailing newline than the file has (a run over the same cache
                # must not write the bytes an earlier run left: that reloads nothing).
                tail = len(text) - len(text.rstrip("\n"))
                pem = text.rstrip("\n") + "\n" * (tail + 1 if tail < 64 else 1)
                with open(path + ".new", "w", encoding="ascii") as f:
                    f.write(pem)
                os.chmod(path + ".new", 0o600)
                os.replace(path + ".new", path)

        timed("one tenant file", rewrite_toml)
        timed("one tenant cert+key", rewrite_cert)
        timed("SIGHUP, nothing changed", lambda i: proc.send_signal(signal.SIGHUP))
        return started, results
    finally:
        proc.terminate()
        proc.wait(60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--portcullis", required=True)
    ap.add_argument("--gen-tenants", default="")
    ap.add_argument("--tenants", default="1000,10000")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "pc-tenant-reload"))
    args = ap.parse_args()
    binary = os.path.abspath(args.portcullis)
    gen = args.gen_tenants or os.path.join(os.path.dirname(os.path.dirname(binary)), "tests",
                                           "bench", "gen_tenants")
    os.makedirs(args.cache, exist_ok=True)
    print("| tenants | start-up s | reload | median ms | runs (ms) | median wall ms |")
    print("|---:|---:|---|---:|---|---:|")
    for count in (int(c) for c in args.tenants.split(",")):
        tenants = generate(gen, args.cache, count)
        with tempfile.TemporaryDirectory(prefix="pc-tenant-reload-") as work:
            started, results = one(binary, tenants, args.runs, work)
        for kind, (median, ms, wall, line) in results.items():
            print(f"| {count:,} | {started:.1f} | {kind} | {median:.0f} | {ms} | {wall:.0f} |",
                  flush=True)
            print(f"<!-- {line} -->", flush=True)


if __name__ == "__main__":
    main()
