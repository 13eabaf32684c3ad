#!/usr/bin/python3
"""Scale benchmark: Portcullis with many tenants (10,000 and 100,000 by default). Not a test.

    /usr/bin/python3 tests/bench/scale.py --portcullis build-scale/gateway/portcullis
        [--tenants 10000,100000] [--workers 1,0] [--runs 3] [--gen PATH] [--perf PHASE]

Tenants come from tests/bench/gen_tenants (one EC P-256 CA, one leaf + key + tenant file per
tenant, one host tNNNNNN.scale.test and a direct_response route each), cached in /tmp/scale-N.
For each tenant count and worker setting it measures, on loopback:

  start-up     exec -> GET /readyz 200 (wall seconds, and the gateway's own CPU seconds)
  RSS          VmRSS once ready
  handshakes/s h2load --h1 -c 50 -n 5000 "Connection: close" (a new TLS connection per
               request) against a few tenants spread over the set, one after the other (h2load
               sends one SNI per run); median of the tenants
  scrape       one GET /metrics: milliseconds and bytes (per-tenant series: megabytes)
  SNI spread   Python TLS clients to --spread random tenants, verifying the served certificate
               against the CA *and the tenant's host name*, and the body (the tenant's name);
               an unknown name must be refused. Checks that SNI picks the right one among N.
  reload       SIGHUP while h2load (HTTP/2 and HTTP/1.1, bounded -n, run back to back) loads two
               tenants; wall seconds from the signal to the gateway's "reloaded, generation N"
               line (written once the new generation is published); every request before,
               during and after must succeed (2xx). Twice: with no file changed, and after
               touching every certificate and key (all new mtimes: nothing may be reused,
               every context is rebuilt). RSS before, peak and after, and
               the slowest GET /healthz while it ran (what a liveness probe sees).

  cold/warm    (issue #13) per-handshake latency, Python client, to --spread tenants never
               handshaken before (cold: above max_tenant_contexts tenants the context is built
               then) and again to the same ones (warm); medians in ms
  one-tenant   one tenant file rewritten (a comment appended): the watcher's per-tenant reload,
  reload       wall seconds from the write to the generation bump, and the gateway's own
               build time from its log line; median of 5

--max-contexts N sets [limits] max_tenant_contexts (default: the gateway's, 10,000).
--shared-cert makes the tenant set with one wildcard certificate and key that every tenant file
names (/tmp/scale-shared-N, written by this script: 1,000,000 keys take too long to generate);
each tenant still gets its own context when built.

Prints a markdown table. --perf start|reload|reload-touched records `perf record -g` of that
phase into perf.scale.<N>.<phase>.data. Stops only the processes it started, by pid.
"""

import argparse
import os
import random
import re
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness as h  # noqa: E402  pylint: disable=wrong-import-position

CLK_TCK = os.sysconf("SC_CLK_TCK")
H2LOAD_RE = re.compile(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                       r"(\d+) failed, (\d+) errored, (\d+) timeout")
STATUS_RE = re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")
RATE_RE = re.compile(r"finished in [0-9.]+m?s, ([0-9.]+) req/s")
RELOAD_LOG_RE = re.compile(r"reloaded, generation (\d+)(.*)")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def host_of(i):
    return f"t{i:06d}.scale.test"


def cpu_seconds(pid):
    """utime + stime of the whole process (all threads)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def ensure_tenants(n, gen):
    d = f"/tmp/scale-{n}"
    if os.path.isdir(os.path.join(d, "tenants.d")):
        return d
    if not gen or not os.path.exists(gen):
        sys.exit(f"scale.py: {d} missing and no generator at {gen!r} (ninja tests/bench/gen_tenants)")
    log(f"generating {n} tenants into {d} ...")
    t0 = time.monotonic()
    subprocess.run([gen, "--out", d, "--count", str(n)], check=True)
    log(f"  generated in {time.monotonic() - t0:.1f} s")
    return d


def ensure_shared_tenants(n):
    """N tenant files naming one wildcard certificate (*.scale.test) and key."""
    d = f"/tmp/scale-shared-{n}"
    if os.path.isdir(os.path.join(d, "tenants.d")):
        return d
    log(f"generating {n} tenant files (one shared certificate) into {d} ...")
    t0 = time.monotonic()
    part = d + ".partial"
    subprocess.run(["rm", "-rf", part], check=True)
    os.makedirs(os.path.join(part, "tenants.d"))
    ossl = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "365"]
    subprocess.run(ossl + ["-keyout", os.path.join(part, "ca.key"), "-out",
                           os.path.join(part, "ca.pem"), "-subj", "/CN=Scale CA"],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", os.path.join(part, "shared.key"), "-out",
                    os.path.join(part, "shared.csr"), "-subj", "/CN=*.scale.test"],
                   check=True, capture_output=True)
    ext = os.path.join(part, "ext.cnf")
    with open(ext, "w", encoding="ascii") as f:
        f.write("subjectAltName=DNS:*.scale.test\n")
    leaf = os.path.join(part, "leaf.pem")
    subprocess.run(["openssl", "x509", "-req", "-in", os.path.join(part, "shared.csr"), "-CA",
                    os.path.join(part, "ca.pem"), "-CAkey", os.path.join(part, "ca.key"),
                    "-CAcreateserial", "-days", "365", "-extfile", ext, "-out", leaf],
                   check=True, capture_output=True)
    with open(os.path.join(part, "shared.pem"), "w", encoding="ascii") as out:
        for src in (leaf, os.path.join(part, "ca.pem")):
            with open(src, encoding="ascii") as f:
                out.write(f.read())
    for i in range(n):
        name = f"t{i:06d}"
        with open(os.path.join(part, "tenants.d", name + ".toml"), "w", encoding="ascii") as f:
            f.write(f'''name = "{name}"
hosts = ["{host_of(i)}"]

[tls]
cert = "../shared.pem"
key = "../shared.key"

[[route]]
path_prefix = "/"
direct_response = "{name}\\n"
''')
    os.rename(part, d)
    log(f"  generated in {time.monotonic() - t0:.1f} s")
    return d


class Gateway:
    """One portcullis process over a tenant set; config in its own run directory."""

    def __init__(self, binary, tenant_dir, workers, run_dir, max_contexts=None):
        self.binary = binary
        self.tenant_dir = tenant_dir
        self.run_dir = run_dir
        os.makedirs(run_dir, exist_ok=True)
        self.port = h.free_port()
        self.admin = h.free_port()
        self.config = os.path.join(run_dir, "gateway.toml")
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(f"""[gateway]
workers = {workers}
tenants_dir = {h.toml_str(os.path.join(tenant_dir, "tenants.d"))}
drain_timeout = "5s"

[admin]
listen = "127.0.0.1:{self.admin}"

[log]
access = ""
audit = "audit.log"

[[listener]]
name = "public"
kind = "ingress"
address = "127.0.0.1:{self.port}"
""")
            if max_contexts is not None:
                f.write(f"\n[limits]\nmax_tenant_contexts = {max_contexts}\n")
        self.proc = None
        self.perf = None
        self.stderr_path = os.path.join(run_dir, "stderr.log")

    def start(self, perf_out=None, timeout=1800):
        """Returns (wall seconds to /readyz 200, CPU seconds of the gateway at that point)."""
        argv = [self.binary, "run", "-c", self.config]
        # As deployed, gateway.toml is older than the process: a full reload then takes tenant
        # files unchanged since the start as they are. One read in the second it was written
        # is not trusted by its stat identity, and the first SIGHUP would parse everything.
        age = time.time() - os.stat(self.config).st_mtime
        if age < 1.2:
            time.sleep(1.2 - age)
        err = open(self.stderr_path, "w", encoding="utf-8")  # pylint: disable=consider-using-with
        t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, cwd=self.run_dir, stdout=subprocess.DEVNULL,
                                     stderr=err)
        err.close()
        if perf_out:
            self.perf = start_perf(self.proc.pid, perf_out)
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited {self.proc.returncode}: {self.stderr()[-800:]}")
            status, _ = h.http_get(f"http://127.0.0.1:{self.admin}/readyz", timeout=5)
            if status == 200:
                wall = time.monotonic() - t0
                break
            if time.monotonic() - t0 > timeout:
                raise RuntimeError("gateway not ready in time")
            time.sleep(0.02)
        cpu = cpu_seconds(self.proc.pid)
        if self.perf:
            stop_perf(self.perf)
            self.perf = None
        return wall, cpu

    def stderr(self):
        try:
            with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def rss_mib(self):
        return (h.rss_kib(self.proc.pid) or 0) / 1024.0

    def generation(self):
        """The running generation, from the gateway's own "reloaded, generation N" line (1
        before any). Not from /metrics: at a million tenants it is over 100 MB, rendered on
        the main loop, and polling it would stall what the bench measures."""
        gens = [int(m.group(1)) for m in RELOAD_LOG_RE.finditer(self.stderr())]
        return max(gens, default=1)

    def metrics_scrape(self):
        """One GET /metrics: (ms, bytes), what a Prometheus scrape costs at this tenant count."""
        t0 = time.monotonic()
        status, body = h.http_get(f"http://127.0.0.1:{self.admin}/metrics", timeout=600)
        ms = (time.monotonic() - t0) * 1000.0
        return (ms, len(body)) if status == 200 else (ms, None)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(180)  # at 1M tenants: drain, then freeing GiBs
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_perf(pid, out):
    p = subprocess.Popen(["perf", "record", "-q", "-F", "499", "--call-graph", "dwarf,16384",
                          "-o", out, "-p", str(pid)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    return p


def stop_perf(p):
    p.send_signal(signal.SIGINT)
    p.wait(timeout=300)


# ---------------------------------------------------------------------------------------------
# load

def h2load(port, host, n, c, h1, close=False, m=4, timeout=600):
    argv = ["h2load", "-n", str(n), "-c", str(c), "-m", "1" if h1 else str(m), "-t", "1",
            f"--connect-to=127.0.0.1:{port}"]
    if h1:
        argv.append("--h1")
    if close:
        argv += ["-H", "Connection: close"]
    argv.append(f"https://{host}:{port}/")
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    out = r.stdout + r.stderr
    m1 = H2LOAD_RE.search(out)
    if not m1:
        raise RuntimeError(f"h2load gave no summary: {out[-800:]}")
    counts = dict(zip(("total", "started", "done", "succeeded", "failed", "errored", "timeout"),
                      map(int, m1.groups())))
    m2 = STATUS_RE.search(out)
    counts["2xx"] = int(m2.group(1)) if m2 else 0
    m3 = RATE_RE.search(out)
    counts["rps"] = float(m3.group(1)) if m3 else 0.0
    return counts


class LoadLoop:
    """Bounded h2load runs back to back until stopped; counts every request of every run.
    n / 8 connections stays under max_requests_per_connection (1000): h2load does not reconnect
    after the gateway's GOAWAY / Connection: close, so a longer run would count that as failed."""

    def __init__(self, port, host, h1, n):
        self.port, self.host, self.h1, self.n = port, host, h1, n
        self.runs = []
        self.errors = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            try:
                self.runs.append((time.monotonic(), h2load(self.port, self.host, self.n, 8,
                                                           self.h1)))
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                self.errors.append(str(e))
                return

    def start(self):
        self.thread.start()
        return self

    def completed_after(self, t):
        return sum(1 for end, _ in self.runs if end > t)

    def stop(self):
        self._stop.set()
        self.thread.join(900)

    def totals(self):
        total = sum(c["total"] for _, c in self.runs)
        ok = sum(min(c["succeeded"], c["2xx"]) for _, c in self.runs)
        return total, total - ok


# ---------------------------------------------------------------------------------------------
# measurements

def handshake_rate(gw, n, tenants):
    rates = []
    for i in tenants:
        c = h2load(gw.port, host_of(i), 5000, 50, True, close=True)
        if min(c["succeeded"], c["2xx"]) != c["total"]:
            raise RuntimeError(f"handshake run to {host_of(i)} lost requests: {c}")
        rates.append(c["rps"])
    return statistics.median(rates), rates


def sni_spread(gw, tenant_dir, n, count):
    """Each of `count` random tenants: verified certificate for its own name, its own body."""
    ctx = ssl.create_default_context(cafile=os.path.join(tenant_dir, "ca.pem"))
    ctx.set_alpn_protocols(["http/1.1"])
    picks = random.Random(n).sample(range(n), min(count, n))
    wrong = 0
    t0 = time.monotonic()
    for i in picks:
        host = host_of(i)
        try:
            with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
                with ctx.wrap_socket(s, server_hostname=host) as tls:  # checks the host name
                    tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                                .encode())
                    data = b""
                    while True:
                        chunk = tls.recv(4096)
                        if not chunk:
                            break
                        data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200") or body.strip() != f"t{i:06d}".encode():
                wrong += 1
        except (OSError, ssl.SSLError):
            wrong += 1
    elapsed = time.monotonic() - t0
    refused = False
    try:
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname="nobody.scale.test"):
                pass
    except ssl.SSLError as e:
        refused = "UNRECOGNIZED_NAME" in str(e).upper()
    return len(picks), wrong, len(picks) / elapsed, refused


class HealthProbe:
    """GET /healthz every 100 ms; the slowest answer (a liveness probe's view of a reload)."""

    def __init__(self, gw):
        self.url = f"http://127.0.0.1:{gw.admin}/healthz"
        self.max_ms = 0.0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            t0 = time.monotonic()
            h.http_get(self.url, timeout=600)
            self.max_ms = max(self.max_ms, (time.monotonic() - t0) * 1000.0)
            time.sleep(0.1)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self._stop.set()
        self.thread.join(600)


def handshake_ms(port, ctx, host):
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=host):
            pass
    return (time.perf_counter() - t0) * 1000.0


def cold_warm(gw, tenant_dir, n, count, seen):
    """Median handshake ms to `count` tenants not handshaken before, then to the same again."""
    ctx = ssl.create_default_context(cafile=os.path.join(tenant_dir, "ca.pem"))
    ctx.options |= ssl.OP_NO_TICKET  # a full handshake each time
    rng = random.Random(n + 1)
    picks = [i for i in rng.sample(range(n), min(n, count + len(seen))) if i not in seen][:count]
    cold = [handshake_ms(gw.port, ctx, host_of(i)) for i in picks]
    warm = [handshake_ms(gw.port, ctx, host_of(i)) for i in picks]
    return statistics.median(cold), statistics.median(warm)


def one_tenant_reload(gw, n, runs=5):
    """Append a comment to one tenant file: wall s to the generation bump, and the build ms the
    gateway logs. Medians."""
    walls, logged = [], []
    for k in range(runs):
        path = os.path.join(gw.tenant_dir, "tenants.d", f"t{(k * 7919) % n:06d}.toml")
        gen0 = gw.generation()
        before = len(RELOAD_LOG_RE.findall(gw.stderr()))
        t0 = time.monotonic()
        with open(path, "a", encoding="ascii") as f:
            f.write(f"# touched {time.time()}\n")
        while (gw.generation() or 0) <= gen0:
            time.sleep(0.01)
        walls.append(time.monotonic() - t0)
        h.wait_for(lambda: len(RELOAD_LOG_RE.findall(gw.stderr())) > before, 30, "reload line")
        m = re.search(r"in (\d+) ms", RELOAD_LOG_RE.findall(gw.stderr())[-1][1])
        if m:
            logged.append(int(m.group(1)))
    return statistics.median(walls), (statistics.median(logged) if logged else None)


def touch_all(tenant_dir):
    now = time.time()
    certs = os.path.join(tenant_dir, "certs")
    if not os.path.isdir(certs):  # --shared-cert
        for name in ("shared.pem", "shared.key"):
            os.utime(os.path.join(tenant_dir, name), (now, now))
        return
    for name in os.listdir(certs):
        os.utime(os.path.join(certs, name), (now, now))


def settled_rss(gw, limit=90.0):
    """RSS once the replaced generation is gone: the gateway drops it and trims 10 s after a
    reload, on a thread that takes seconds at 100k tenants. Polls until it stops moving."""
    time.sleep(12.0)
    samples = [gw.rss_mib()]
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        time.sleep(2.0)
        samples.append(gw.rss_mib())
        if len(samples) >= 4 and max(samples[-4:]) - min(samples[-4:]) < 0.01 * samples[-1]:
            break
    return samples[-1]


def reload_under_load(gw, n, touched, perf_out=None):
    """SIGHUP while h2load runs; returns a dict of measurements."""
    hosts = (host_of(0), host_of(n - 1))
    loops = [LoadLoop(gw.port, hosts[0], False, 6400).start(),
             LoadLoop(gw.port, hosts[1], True, 5000).start()]
    try:
        h.wait_for(lambda: all(lp.runs or lp.errors for lp in loops), 300, "first load runs")
        gen0 = gw.generation()
        rss_before = gw.rss_mib()
        perf = start_perf(gw.proc.pid, perf_out) if perf_out else None
        probe = HealthProbe(gw).start()
        with h.RssSampler(gw.proc.pid, interval=0.1) as sampler:
            if touched:
                # New mtimes on every certificate and key: the file watcher reloads (300 ms
                # after the last change) and nothing may be reused. Timed from the last touch.
                touch_all(gw.tenant_dir)
            else:
                gw.proc.send_signal(signal.SIGHUP)
            t0 = time.monotonic()
            while (gw.generation() or 0) <= gen0:
                time.sleep(0.02)
            wall = time.monotonic() - t0
            probe.stop()
            if perf:
                stop_perf(perf)
            # keep the load on until each loop has finished a whole run after the reload
            h.wait_for(lambda: all(lp.completed_after(t0 + wall) >= 1 or lp.errors
                                   for lp in loops), 900, "load runs after the reload")
        peak = sampler.max_kib / 1024.0
    finally:
        for lp in loops:
            lp.stop()
    for lp in loops:
        if lp.errors:
            raise RuntimeError(f"h2load loop failed: {lp.errors[0][:500]}")
    totals = [lp.totals() for lp in loops]
    rss_after = settled_rss(gw)
    logged = RELOAD_LOG_RE.findall(gw.stderr())
    return {"wall": wall, "healthz_ms": probe.max_ms, "requests": sum(t for t, _ in totals),
            "failed": sum(f for _, f in totals), "rss_before": rss_before, "rss_peak": peak,
            "rss_after": rss_after, "logged": logged[-1][1].strip() if logged else ""}


def measure(binary, n, workers, runs, gen, perf, spread, max_contexts=None, shared=False,
            skip=()):
    tenant_dir = ensure_shared_tenants(n) if shared else ensure_tenants(n, gen)
    run_dir = f"/tmp/scale-run-{n}-w{workers}"
    starts = []
    gw = None
    result = {"tenants": n, "workers": workers}
    try:
        for r in range(runs):
            gw = Gateway(binary, tenant_dir, workers, run_dir, max_contexts)
            out = f"perf.scale.{n}.start.data" if perf == "start" and r == 0 else None
            wall, cpu = gw.start(perf_out=out)
            time.sleep(1.0)
            starts.append((wall, cpu, gw.rss_mib()))
            log(f"  {n} tenants, workers={workers}: ready in {wall:.2f} s "
                f"(cpu {cpu:.2f} s), RSS {starts[-1][2]:.1f} MiB")
            if r + 1 < runs:
                gw.stop()
        result["start"] = statistics.median(s[0] for s in starts)
        result["start_cpu"] = statistics.median(s[1] for s in starts)
        result["rss"] = statistics.median(s[2] for s in starts)
        picks = [0, n // 4, n // 2, (3 * n) // 4, n - 1]
        result["cold_warm"] = cold_warm(gw, tenant_dir, n, min(spread, 200), set(picks))
        log(f"  handshake ms, cold {result['cold_warm'][0]:.2f}, warm {result['cold_warm'][1]:.2f}")
        result["hs"], rates = handshake_rate(gw, n, picks)
        log(f"  handshakes/s per tenant {[round(x) for x in rates]}")
        result["scrape"] = gw.metrics_scrape()
        log(f"  GET /metrics: {result['scrape'][0]:.0f} ms, {result['scrape'][1]} bytes")
        k, wrong, rate, refused = sni_spread(gw, tenant_dir, n, spread)
        result["spread"] = (k, wrong, rate, refused)
        log(f"  SNI spread: {k} random tenants, {wrong} wrong, {rate:.0f} conn/s (python client);"
            f" unknown SNI refused: {refused}")
        if "one" not in skip:
            result["one"] = one_tenant_reload(gw, n)
            log(f"  one-tenant reload: {result['one'][0]:.3f} s wall, "
                f"gateway build {result['one'][1]} ms")
        for touched in (False, True):
            phase = "reload-touched" if touched else "reload"
            if phase in skip:
                continue
            out = f"perf.scale.{n}.{phase}.data" if perf == phase else None
            rl = reload_under_load(gw, n, touched, perf_out=out)
            result[phase] = rl
            log(f"  {phase}: {rl['wall']:.2f} s (slowest /healthz {rl['healthz_ms']:.0f} ms), "
                f"{rl['requests']} requests, {rl['failed']} "
                f"failed, RSS {rl['rss_before']:.1f} -> peak {rl['rss_peak']:.1f} -> "
                f"{rl['rss_after']:.1f} MiB; gateway says: {rl['logged']}")
    finally:
        if gw:
            gw.stop()
    return result


def wall_of(reload_result):
    return f"{reload_result['wall']:.2f}" if reload_result else "not run"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--portcullis", required=True)
    ap.add_argument("--tenants", default="10000,100000")
    ap.add_argument("--workers", default="1,0", help="worker settings to measure (0 = per core)")
    ap.add_argument("--runs", type=int, default=3, help="start-ups per setting (median)")
    ap.add_argument("--gen", default=None, help="gen_tenants binary (default: next to the "
                    "portcullis build, tests/bench/gen_tenants)")
    ap.add_argument("--spread", type=int, default=300, help="random tenants for the SNI check")
    ap.add_argument("--perf", choices=["start", "reload", "reload-touched"])
    ap.add_argument("--max-contexts", type=int, default=None,
                    help="[limits] max_tenant_contexts (default: the gateway's)")
    ap.add_argument("--shared-cert", action="store_true",
                    help="one wildcard certificate for every tenant (quick 1,000,000 sets)")
    ap.add_argument("--skip", default="", help="phases not to run, comma-separated: one "
                    "(one-tenant reload), reload, reload-touched (each takes minutes at 1M)")
    args = ap.parse_args()
    skip = {x for x in args.skip.split(",") if x}
    binary = os.path.abspath(args.portcullis)
    gen = args.gen or os.path.join(os.path.dirname(os.path.dirname(binary)), "tests", "bench",
                                   "gen_tenants")
    results = []
    for n in (int(x) for x in args.tenants.split(",")):
        for w in (int(x) for x in args.workers.split(",")):
            log(f"{n} tenants, workers = {w}")
            results.append(measure(binary, n, w, args.runs, gen, args.perf, args.spread,
                                   args.max_contexts, args.shared_cert, skip))
    print()
    print(f"Loopback, {binary} (say its build type); start-up median of {args.runs}; "
          "RSS once ready; "
          "reload under h2load (h2 + h1).")
    print()
    print("| tenants | workers | start-up s (cpu s) | RSS MiB | handshakes/s | "
          "handshake ms cold/warm | SNI spread ok | one-tenant reload s (build ms) | "
          "reload s, unchanged | reload s, all touched | slowest /healthz during reloads ms | "
          "RSS MiB before/peak/after reload | failed requests during reloads |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        k, wrong, _, refused = r["spread"]
        a, b = r.get("reload"), r.get("reload-touched")
        done = [x for x in (a, b) if x]
        last = b or a
        one = f"{r['one'][0]:.3f} ({r['one'][1]})" if "one" in r else "not run"
        print(f"| {r['tenants']} | {r['workers'] or 'auto'} | {r['start']:.1f} "
              f"({r['start_cpu']:.1f}) | {r['rss']:.0f} | {r['hs']:.0f} | "
              f"{r['cold_warm'][0]:.2f}/{r['cold_warm'][1]:.2f} | "
              f"{k - wrong}/{k}{'' if refused else ' (unknown SNI NOT refused)'} | {one} | "
              f"{wall_of(a)} | {wall_of(b)} | "
              f"{max((x['healthz_ms'] for x in done), default=0):.0f} | "
              + (f"{last['rss_before']:.0f}/{last['rss_peak']:.0f}/{last['rss_after']:.0f} | "
                 if last else "– | ")
              + (", ".join(f"{x['failed']} of {x['requests']}" for x in done) or "–") + " |")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
