#!/usr/bin/python3
"""Benchmark: time from gateway start to certificates issued by pebble, for N ACME tenants.
Not a test; CI does not run it.

    /usr/bin/python3 tests/bench/acme_bench.py --portcullis build/gateway/portcullis \
        [--tenants 1,10,100] [--challenge http-01|tls-alpn-01] [--max-orders 4]

For each N: a fresh state directory, pebble (PEBBLE_VA_NOSLEEP=1) and the gateway with N tenants
(`[tls] acme = true`, one host each). Reported: the time from `portcullis run` to the first
tenant's certificate being served by SNI, and to all N (the last acme_issue line in the audit
log, then every host checked over TLS against pebble's root). Loopback only; stops only what it
started.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness as h  # noqa: E402
from harness.pebble import Pebble  # noqa: E402
from test_acme import acme_toml, make_gateway, served_cert  # noqa: E402


def one_run(n, challenge, max_orders):
    with h.TestEnv(f"acme-bench-{n}") as env:
        state = env.mkdir("acme-state")
        tenants = [(f"t{i}", [f"host{i}.bench.test"], True) for i in range(n)]
        gw = make_gateway(env, tenants=tenants)
        port = gw.listener_port("public")
        p = Pebble(env, http_port=gw.http_port, tls_port=port).start()
        gw.extra_gateway_toml = acme_toml(p, state, challenge, f"max_orders = {max_orders}")
        roots = env.write("roots.pem", p.issuer_roots())
        start = time.monotonic()
        gw.start()
        h.wait_for(lambda: served_cert(port, "host0.bench.test", roots)[0], 600, "first cert")
        first = time.monotonic() - start
        h.wait_for(lambda: len([e for e in gw.audit_log() if e.get("event") == "acme_issue"]) >= n,
                   600, "every certificate issued", interval=0.2)
        h.wait_for(lambda: all(served_cert(port, f"host{i}.bench.test", roots)[0]
                               for i in range(n)), 60, "every certificate served", interval=0.2)
        everything = time.monotonic() - start
        fails = len([e for e in gw.audit_log() if e.get("event") == "acme_fail"])
        return first, everything, fails


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--portcullis", required=True)
    ap.add_argument("--tenants", default="1,10,100")
    ap.add_argument("--challenge", default="http-01")
    ap.add_argument("--max-orders", type=int, default=4)
    args = ap.parse_args()
    os.environ["PORTCULLIS_BIN"] = os.path.abspath(args.portcullis)
    print(f"| tenants | first certificate served | all served | failed orders |  "
          f"({args.challenge}, max_orders = {args.max_orders})")
    print("|---:|---:|---:|---:|")
    for n in (int(x) for x in args.tenants.split(",")):
        first, everything, fails = one_run(n, args.challenge, args.max_orders)
        print(f"| {n} | {first:.2f} s | {everything:.2f} s | {fails} |", flush=True)


if __name__ == "__main__":
    main()
