#!/usr/bin/python3
"""Benchmark: Portcullis against nginx, HAProxy and nghttpx as TLS-terminating reverse proxies in
front of the same mutual-TLS upstream, on this machine, in one run. Not a test; CI does not run it.

    /usr/bin/python3 tests/bench/bench.py --portcullis build/gateway/portcullis [--runs 3]
        [--quick] [--only portcullis,nginx,haproxy,nghttpx] [--proxy-cpu 0] [--other-cpus 1]

Setup: nginx (one worker) is the upstream, requiring a client certificate from the mesh CA. Each
proxy runs with one worker/thread, pinned to --proxy-cpu with taskset, terminates TLS for
bench.example and forwards over mTLS (presenting the gateway's mesh certificate, verifying the
upstream's). The upstream and h2load run on --other-cpus. Everything is loopback.

Measured with h2load (medians of --runs runs):
  h1 req/s     --h1 -c 50 -n 50000 -t 1 (keep-alive); p99 latency from h2load's --log-file
  h1 8k        --h1 -c 10 -n 50000 -t 1 for an 8 KiB file (BODY_PATH): the second HTTP/1.1
               shape, fewer connections and a body that fills TLS records, where per-byte
               costs (records, writes, copies) count and a loop turn carries fewer requests
  h2 req/s     -c 10 -m 10 -n 50000 -t 1
  handshakes/s --h1 -c 50 -n 5000 with "Connection: close": a new TLS connection per request
  resumed      200 sequential TLS 1.3 connections, each offering the previous one's ticket: % resumed
  idle RSS     VmRSS of the proxy (all its processes) holding 4,000 idle HTTP/1.1 TLS connections,
               then with those still open 4,000 idle HTTP/2 ones (preface and SETTINGS exchanged);
               first run only
  ceiling      `openssl speed ecdsap256 ecdhx25519` on the proxy's core: the handshakes/s that the
               server's crypto alone allows (one signature, one X25519 keygen + derive)
Printed as a markdown table with ratios against portcullis (higher is better, except p99 and RSS).

Stops only the processes it started, by pid. Without a working portcullis (or with --only) it
compares whatever else is available, so the harness itself can be exercised.
"""

import argparse
import contextlib
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness as h  # noqa: E402  pylint: disable=wrong-import-position

HOST = "bench.example"
UPSTREAM_NAME = "web.bench.svc"
IDLE_CONNECTIONS = 4000
BODY_PATH = "/files/body8k.bin"
BODY_BYTES = 8192


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def taskset(cpus, argv):
    return ["taskset", "-c", cpus, *argv] if cpus else list(argv)


def process_tree_rss_kib(pid):
    """VmRSS of pid plus its children (nginx master + workers)."""
    total = h.rss_kib(pid) or 0
    try:
        children = open(f"/proc/{pid}/task/{pid}/children", encoding="ascii").read().split()
    except OSError:
        children = []
    for c in children:
        total += process_tree_rss_kib(int(c))
    return total


def process_tree_cpu_s(pid):
    """User + system CPU seconds of pid (all its threads) plus its children."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        total = 0.0
    try:
        children = open(f"/proc/{pid}/task/{pid}/children", encoding="ascii").read().split()
    except OSError:
        children = []
    return total + sum(process_tree_cpu_s(int(c)) for c in children)


@contextlib.contextmanager
def cpu_per_request(proc, out, requests):
    """Appends the proxy's CPU microseconds per request over the block to `out`. The load
    generator is the limit on this machine (the proxy's core idles part of the time), so
    this says more about the proxy's own cost than its req/s does."""
    before = process_tree_cpu_s(proc.pid)
    yield
    out.append((process_tree_cpu_s(proc.pid) - before) * 1e6 / requests)


# ---------------------------------------------------------------------------------------------
# PKI and the upstream

class Setup:
    def __init__(self, env, portcullis):
        self.env = env
        if portcullis:
            os.environ["PORTCULLIS_BIN"] = portcullis
        else:
            os.environ["PORTCULLIS_ITEST_OPENSSL_PKI"] = "1"
        pki = env.mkdir("pki")
        self.mesh_ca = h.init_ca(os.path.join(pki, "mesh"), "Mesh CA", h.TRUST_DOMAIN)
        self.mesh_ca_pem = os.path.join(self.mesh_ca, "ca.pem")
        self.gw_cert, self.gw_key = h.issue(self.mesh_ca, os.path.join(pki, "gateway"),
                                            spiffe=h.GATEWAY_ID)
        self.up_cert, self.up_key = h.issue(self.mesh_ca, os.path.join(pki, "upstream"),
                                            dns=[UPSTREAM_NAME],
                                            spiffe=h.workload_id("bench"))
        self.front_ca = h.init_ca(os.path.join(pki, "front"), "Bench CA")
        self.front_cert, self.front_key = h.issue(self.front_ca, os.path.join(pki, "front"),
                                                  dns=[HOST])
        # HAProxy wants certificate and key in one file
        self.front_combined = os.path.join(pki, "front-combined.pem")
        self.gw_combined = os.path.join(pki, "gateway-combined.pem")
        for out, parts in ((self.front_combined, (self.front_cert, self.front_key)),
                           (self.gw_combined, (self.gw_cert, self.gw_key))):
            with open(out, "w", encoding="ascii") as f:
                for p in parts:
                    with open(p, encoding="ascii") as src:
                        f.write(src.read())


def start_upstream(env, setup, cpus):
    ng = h.Nginx(env, "upstream")
    ng.add_server("bench", setup.up_cert, setup.up_key, setup.mesh_ca_pem)
    ng.extra_http = "    access_log off;\n"
    conf_path = ng.write_config()
    with open(conf_path, encoding="utf-8") as f:
        conf = f.read()
    conf = conf.replace(f"    access_log {ng.dir}/access.log itest;\n", "")
    conf = conf.replace("events { worker_connections 4096; }",
                        "worker_rlimit_nofile 30000;\nevents { worker_connections 8192; }")
    with open(conf_path, "w", encoding="utf-8") as f:
        f.write(conf)
    body = env.path("body8k.bin")
    with open(body, "wb") as f:
        f.write(bytes(i % 251 for i in range(BODY_BYTES)))
    ng.add_file(os.path.basename(BODY_PATH), body)
    d = ng.dir
    ng.proc = env.start("upstream", taskset(cpus, [
        "nginx", "-p", d + "/", "-c", conf_path,
        "-g", f"daemon off; pid {d}/nginx.pid; error_log {d}/error.log;"]))
    h.wait_for(lambda: h.tcp_connectable("127.0.0.1", ng.servers[0].port), 10, "upstream nginx")
    return ng


# ---------------------------------------------------------------------------------------------
# the proxies; each start_* returns (Proc, port) or raises Unavailable

class Unavailable(Exception):
    pass


def start_portcullis(env, setup, upstream, cpus, binary, wrapper=(), ready_timeout=15):
    if not binary or not os.path.exists(binary):
        raise Unavailable("no portcullis binary")
    gw = h.Gateway(env, name="portcullis", workers=1, listeners=[
        {"name": "public", "kind": "ingress", "address": f"127.0.0.1:{h.free_port()}",
         "unknown_sni": "bench"}],
        # nginx gets keepalive_requests 1000000 too; HAProxy and nghttpx have no such limit
        extra_gateway_toml="[limits]\nmax_requests_per_connection = 1000000\n")
    gw.set_mesh(setup.mesh_ca_pem, setup.gw_cert, setup.gw_key)
    gw.add_tenant_file("bench", f"""name = "bench"
hosts = [{h.toml_str(HOST)}]

[tls]
cert = {h.toml_str(setup.front_cert)}
key = {h.toml_str(setup.front_key)}

[[route]]
path_prefix = "/"
cluster = "web"

[cluster.web]
endpoints = [{h.toml_str(upstream.servers[0].endpoint)}]
identity = {h.toml_str(h.workload_id("bench"))}
protocol = "http/1.1"
""")
    path = gw.write()
    # access log off: the others do not log either
    with open(path, encoding="utf-8") as f:
        text = f.read().replace('access = "-"', 'access = ""')
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    proc = env.start("portcullis", taskset(cpus, [*wrapper, binary, "run", "-c", path]),
                     cwd=gw.dir)
    gw.proc = proc
    try:
        gw.wait_ready(ready_timeout)
    except AssertionError as e:
        raise Unavailable(f"portcullis did not start: {str(e)[:300]}") from e
    return proc, gw.port


def start_nginx_proxy(env, setup, upstream, cpus):
    if not shutil.which("nginx"):
        raise Unavailable("nginx not installed")
    d = env.mkdir("nginx-proxy")
    env.mkdir("nginx-proxy", "tmp")
    port = h.free_port()
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = f"""{user}worker_processes 1;
worker_rlimit_nofile 30000;
events {{ worker_connections 12000; }}
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
        listen 127.0.0.1:{port} ssl http2;
        server_name {HOST};
        ssl_certificate {setup.front_cert};
        ssl_certificate_key {setup.front_key};
        # the same protocols as the others (Debian 12 nginx 1.22 defaults to TLS 1.0-1.2)
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
            proxy_ssl_name {UPSTREAM_NAME};
            proxy_ssl_server_name on;
            proxy_ssl_session_reuse on;
        }}
    }}
}}
"""
    path = os.path.join(d, "nginx.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write(conf)
    proc = env.start("nginx-proxy", taskset(cpus, [
        "nginx", "-p", d + "/", "-c", path,
        "-g", f"daemon off; pid {d}/nginx.pid; error_log {d}/error.log;"]))
    h.wait_for(lambda: h.tcp_connectable("127.0.0.1", port) or not proc.alive(), 10, "nginx")
    if not proc.alive():
        raise Unavailable("nginx proxy exited: " + proc.stderr_text()[-500:])
    return proc, port


def start_haproxy(env, setup, upstream, cpus):
    if not shutil.which("haproxy"):
        raise Unavailable("haproxy not installed")
    d = env.mkdir("haproxy")
    port = h.free_port()
    conf = f"""global
    nbthread 1
    maxconn 9000
    tune.ssl.default-dh-param 2048

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    http-reuse always

frontend public
    bind 127.0.0.1:{port} ssl crt {setup.front_combined} alpn h2,http/1.1
    default_backend mesh

backend mesh
    server up {upstream.servers[0].endpoint} ssl verify required ca-file {setup.mesh_ca_pem} \
crt {setup.gw_combined} verifyhost {UPSTREAM_NAME} sni str({UPSTREAM_NAME})
"""
    path = os.path.join(d, "haproxy.cfg")
    with open(path, "w", encoding="utf-8") as f:
        f.write(conf)
    r = h.run(["haproxy", "-c", "-f", path])
    if r.returncode != 0:
        raise Unavailable("haproxy -c failed: " + (r.stdout + r.stderr)[-500:])
    proc = env.start("haproxy", taskset(cpus, ["haproxy", "-db", "-f", path]))
    h.wait_for(lambda: h.tcp_connectable("127.0.0.1", port) or not proc.alive(), 10, "haproxy")
    if not proc.alive():
        raise Unavailable("haproxy exited: " + proc.stderr_text()[-500:])
    return proc, port


def start_nghttpx(env, setup, upstream, cpus):
    if not shutil.which("nghttpx"):
        raise Unavailable("nghttpx not installed (Debian package nghttp2-proxy)")
    d = env.mkdir("nghttpx")
    port = h.free_port()
    ep = upstream.servers[0]
    argv = ["nghttpx", "--workers=1", f"--frontend=127.0.0.1,{port}",
            f"--backend={ep.host},{ep.port};;tls;sni={UPSTREAM_NAME};proto=http/1.1",
            f"--client-private-key-file={setup.gw_key}", f"--client-cert-file={setup.gw_cert}",
            f"--cacert={setup.mesh_ca_pem}", "--accesslog-file=/dev/null",
            f"--errorlog-file={d}/error.log", "--no-ocsp", f"--pid-file={d}/nghttpx.pid",
            "--backend-keep-alive-timeout=60s",
            setup.front_key, setup.front_cert]
    proc = env.start("nghttpx", taskset(cpus, argv))
    h.wait_for(lambda: h.tcp_connectable("127.0.0.1", port) or not proc.alive(), 10, "nghttpx")
    if not proc.alive():
        raise Unavailable("nghttpx exited: " + proc.stderr_text()[-500:])
    return proc, port


# ---------------------------------------------------------------------------------------------
# measurements

def h2load(port, args, cpus, logfile=None, timeout=300, path="/"):
    argv = ["h2load", "-t", "1", f"--connect-to=127.0.0.1:{port}", *args]
    if logfile:
        argv.append(f"--log-file={logfile}")
    argv.append(f"https://{HOST}:{port}{path}")
    r = subprocess.run(taskset(cpus, argv), capture_output=True, text=True, timeout=timeout,
                       check=False)
    out = r.stdout
    rps = None
    succeeded = failed = 0
    for line in out.splitlines():
        if line.startswith("finished in"):
            # finished in 1.23s, 40000.00 req/s, 5.00MB/s
            rps = float(line.split(",")[1].split()[0])
        elif line.startswith("requests:"):
            parts = line.replace(",", "").split()
            succeeded = int(parts[parts.index("succeeded") - 1])
            failed = int(parts[parts.index("failed") - 1])
    if rps is None or succeeded == 0:
        raise RuntimeError(f"h2load failed (exit {r.returncode}): {out[-800:]} {r.stderr[-400:]}")
    if failed:
        log(f"    note: {failed} failed requests ({' '.join(args)})")
    return rps


def p99_ms(logfile):
    durations = []
    with open(logfile, encoding="ascii") as f:
        for line in f:
            cols = line.split("\t")
            if len(cols) >= 3 and cols[1] != "-1":
                durations.append(int(cols[2]))
    if not durations:
        return None
    durations.sort()
    return durations[min(len(durations) - 1, int(len(durations) * 0.99))] / 1000.0


def h2_open_idle(tls):
    """What a browser does on a new HTTP/2 connection before its first request: the preface and
    its SETTINGS, then the ACK of the server's SETTINGS. The connection then stays idle."""
    import h2.config  # pylint: disable=import-outside-toplevel
    import h2.connection  # pylint: disable=import-outside-toplevel
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    tls.sendall(conn.data_to_send())
    tls.settimeout(10)
    while True:
        data = tls.recv(65536)
        if not data:
            raise OSError("proxy closed an idle HTTP/2 connection")
        events = conn.receive_data(data)
        out = conn.data_to_send()
        if out:
            tls.sendall(out)
        if any(type(e).__name__ == "RemoteSettingsChanged" for e in events):
            return


def open_idle(proc, port, count, alpn, conns):
    """Opens count TLS connections (handshake done; for h2 also the preface and SETTINGS
    exchange) and appends them to conns. Returns the proxy's RSS (MiB) and its growth (KiB)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < len(conns) + count + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, len(conns) + count + 1000), hard))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols([alpn])
    before = process_tree_rss_kib(proc.pid)
    batch = 250
    for start in range(0, count, batch):
        for _ in range(min(batch, count - start)):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            conns.append(ctx.wrap_socket(s, server_hostname=HOST))
            if alpn == "h2":
                h2_open_idle(conns[-1])
        time.sleep(0.01)
    time.sleep(1.0)
    after = process_tree_rss_kib(proc.pid)
    return after / 1024.0, float(after - before)


def resumed_share(port, count=200):
    """TLS 1.3 connections made one after another, each offering the session (ticket) that the
    previous connection received, as browsers and most HTTP clients do: the share that resumed.
    A server that issues no new ticket on a resumed connection gets about half."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    session, resumed = None, 0
    request = f"GET / HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=HOST, session=session) as tls:
                resumed += 1 if tls.session_reused else 0
                tls.sendall(request)
                while tls.recv(65536):  # the tickets arrive with the response
                    pass
                session = tls.session
    return 100.0 * resumed / count


def closed_count(conns):
    """How many of the TLS sockets the peer has closed (EOF, reset or a pending alert); reads and
    drops whatever else is pending (tickets, SETTINGS, PING answers)."""
    gone = 0
    for c in conns:
        c.setblocking(False)
        try:
            while True:
                if not c.recv(65536):
                    gone += 1
                    break
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            pass
        except OSError:
            gone += 1
        finally:
            c.setblocking(True)
    return gone


def idle_rss(proc, port, count):
    """count idle HTTP/1.1 connections, then, with those still open, count idle HTTP/2 ones, so
    that neither set reuses memory the allocator kept from the other. Returns the RSS with both
    sets open (MiB) and the KiB per connection of each set; None for each when the proxy closed
    any of them before RSS was read."""
    conns = []
    try:
        _, growth_h1 = open_idle(proc, port, count, "http/1.1", conns)
        rss, growth_h2 = open_idle(proc, port, count, "h2", conns)
        gone = closed_count(conns)
    finally:
        for c in conns:
            try:
                c.close()
            except OSError:
                pass
    if gone:
        # A proxy that closed idle connections holds less than it would for them: no figure.
        log(f"{gone} of {len(conns)} idle connections were closed by the proxy before RSS was "
            "read: no idle-memory figure")
        return None, None, None
    return rss, growth_h1 / count, growth_h2 / count


PROXIES = {
    "portcullis": start_portcullis,
    "nginx": start_nginx_proxy,
    "haproxy": start_haproxy,
    "nghttpx": start_nghttpx,
}


def raise_fd_limit(want=65536):
    """Room for 2 x 4000 idle connections in every proxy (HAProxy counts two descriptors per
    connection and refuses to start when maxconn needs more than the hard limit allows);
    children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--portcullis", default=os.path.join(HERE, "..", "..", "build", "gateway",
                                                         "portcullis"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="10x fewer requests, 1 run, 1000 idle")
    ap.add_argument("--only", default="portcullis,nginx,haproxy,nghttpx")
    ap.add_argument("--proxy-cpu", default="0")
    ap.add_argument("--other-cpus", default=None, help="cpus for upstream and h2load")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--perf", metavar="PHASE", choices=["h1", "h1big", "h2", "hs"],
                    help="record a perf profile (perf.<proxy>.<phase>.data) of one phase")
    args = ap.parse_args()
    raise_fd_limit()

    ncpu = os.cpu_count() or 1
    other = args.other_cpus
    if other is None:
        other = ",".join(str(c) for c in range(ncpu) if str(c) != args.proxy_cpu) or ""
    if not shutil.which("h2load"):
        sys.exit("bench.py: h2load not found (Debian package nghttp2-client)")
    n_keepalive = 5000 if args.quick else 50000
    n_handshake = 1000 if args.quick else 5000
    idle = 1000 if args.quick else IDLE_CONNECTIONS
    runs = 1 if args.quick else args.runs
    binary = os.path.abspath(args.portcullis) if args.portcullis else ""
    if args.keep:
        os.environ["PORTCULLIS_ITEST_KEEP"] = "1"

    results = {}
    notes = []
    with h.TestEnv("bench") as env:
        portcullis_ok = bool(binary) and os.path.exists(binary)
        setup = Setup(env, binary if portcullis_ok else "")
        upstream = start_upstream(env, setup, other)
        log(f"upstream nginx on {upstream.servers[0].endpoint} (cpus {other or 'any'}); "
            f"proxies on cpu {args.proxy_cpu}")
        # Every proxy is started first and the runs interleave (run 1 of each, then run 2 of
        # each, in a rotating order), so that a noisy minute on this shared machine does not
        # land on one proxy's runs only. Idle proxies on the same core cost nothing.
        started = []  # (name, proc, port)
        for name in [n.strip() for n in args.only.split(",")]:
            start = PROXIES.get(name)
            if not start:
                sys.exit(f"unknown proxy {name}")
            try:
                if name == "portcullis":
                    proc, port = start(env, setup, upstream, args.proxy_cpu, binary)
                else:
                    proc, port = start(env, setup, upstream, args.proxy_cpu)
                log(f"{name}: pid {proc.pid} port {port}")
                # warm-up (and a check that the path through the proxy works)
                h2load(port, ["--h1", "-c", "4", "-n", "200"], other)
            except Unavailable as e:
                notes.append(f"{name}: skipped ({e})")
                log(f"{name}: skipped ({e})")
                continue
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                notes.append(f"{name}: failed ({str(e)[:300]})")
                log(f"{name}: failed ({e})")
                proc.stop()
                continue
            started.append((name, proc, port))
        m = {name: {"h1": [], "h1big": [], "cpu_h1big": [], "p99": [], "h2": [], "hs": [],
                    "rss": [],
                    "cpu_h1": [], "cpu_h2": [], "cpu_hs": [], "kib_conn": [], "kib_conn_h2": [],
                    "resumed": []}
             for name, _, _ in started}
        failed = set()
        try:
            for run in range(runs if started else 0):
                k = run % len(started)
                for name, proc, port in started[k:] + started[:k]:
                    if name in failed:
                        continue
                    try:
                        measure_run(args, env, name, proc, port, run, m[name], other,
                                    n_keepalive, n_handshake, idle)
                    except (RuntimeError, subprocess.TimeoutExpired) as e:
                        failed.add(name)
                        notes.append(f"{name}: failed ({str(e)[:300]})")
                        log(f"{name}: failed ({e})")
        finally:
            for _, proc, _ in started:
                proc.stop()
        for name, _, _ in started:
            if name not in failed:
                results[name] = {k: statistics.median([x for x in v if x is not None])
                                 if any(x is not None for x in v) else None
                                 for k, v in m[name].items()}

    print_table(results, idle, runs, notes, crypto_ceiling(args.proxy_cpu))


def measure_run(args, env, name, proc, port, run, m, other, n_keepalive, n_handshake, idle):
    """One run of every phase against one proxy; appends to m's lists."""
    lf = env.path(f"{name}-{run}.log")
    with profiled(args.perf == "h1", args.proxy_cpu, f"perf.{name}.h1.data"), \
            cpu_per_request(proc, m["cpu_h1"], n_keepalive):
        m["h1"].append(h2load(port, ["--h1", "-c", "50", "-n", str(n_keepalive)], other,
                              logfile=lf))
    m["p99"].append(p99_ms(lf))
    with profiled(args.perf == "h1big", args.proxy_cpu, f"perf.{name}.h1big.data"), \
            cpu_per_request(proc, m["cpu_h1big"], n_keepalive):
        m["h1big"].append(h2load(port, ["--h1", "-c", "10", "-n", str(n_keepalive)], other,
                                 path=BODY_PATH))
    with profiled(args.perf == "h2", args.proxy_cpu, f"perf.{name}.h2.data"), \
            cpu_per_request(proc, m["cpu_h2"], n_keepalive):
        m["h2"].append(h2load(port, ["-c", "10", "-m", "10", "-n", str(n_keepalive)], other))
    with profiled(args.perf == "hs", args.proxy_cpu, f"perf.{name}.hs.data"), \
            cpu_per_request(proc, m["cpu_hs"], n_handshake):
        m["hs"].append(h2load(port, ["--h1", "-c", "50", "-n", str(n_handshake), "-H",
                                     "Connection: close"], other))
    m["resumed"].append(resumed_share(port))
    # Only the first run's growth is per-connection memory (later runs reuse what the
    # allocator kept from the first run's connections), so only the first run opens them:
    # the idle sets are most of a run's wall time.
    rss = kib_h1 = kib_h2 = None
    if run == 0:
        rss, kib_h1, kib_h2 = idle_rss(proc, port, idle)
    m["rss"].append(rss)
    m["kib_conn"].append(kib_h1)
    m["kib_conn_h2"].append(kib_h2)
    log(f"  {name} run {run + 1}: h1 {m['h1'][-1]:.0f} req/s, p99 {m['p99'][-1]} ms, "
        f"h1 8k {m['h1big'][-1]:.0f} req/s, "
        f"h2 {m['h2'][-1]:.0f} req/s, {m['hs'][-1]:.0f} handshakes/s, "
        + (f"RSS {rss:.1f} MiB with {idle} idle h1 + {idle} idle h2 ({kib_h1:.1f} / "
           f"{kib_h2:.1f} KiB each), " if rss is not None else "")
        + f"CPU {m['cpu_h1'][-1]:.1f} / {m['cpu_h1big'][-1]:.1f} / {m['cpu_h2'][-1]:.1f} us per "
        f"h1 / h1 8k / h2 request, "
        f"{m['cpu_hs'][-1]:.0f} us per handshake, {m['resumed'][-1]:.0f}% resumed")


@contextlib.contextmanager
def profiled(enabled, cpu, out):
    """perf record of everything on the proxy's cpu for the duration of the block (system-wide on
    that cpu, so nginx's and HAProxy's worker processes are caught too)."""
    if not enabled:
        yield
        return
    rec = subprocess.Popen(["perf", "record", "-q", "-F", "499", "--call-graph", "dwarf,16384", "-o", out,
                            "-C", cpu],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # let perf attach before the load starts
    try:
        yield
    finally:
        rec.send_signal(signal.SIGINT)
        rec.wait(timeout=60)
        log(f"  perf profile written to {out}")


def crypto_ceiling(cpu):
    """Full TLS 1.3 handshakes per second the server's crypto alone allows on `cpu`: one ECDSA
    P-256 signature plus an X25519 key generation and derivation (h2load offers X25519), from
    `openssl speed` on that core. None when openssl speed cannot be parsed."""
    try:
        out = subprocess.run(taskset(cpu, ["openssl", "speed", "-seconds", "2", "ecdsap256",
                                           "ecdhx25519"]),
                             capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    sign = re.search(r"ecdsa \(nistp256\)\s+\S+\s+\S+\s+([0-9.]+)", out)
    x25519 = re.search(r"ecdh \(X25519\)\s+\S+\s+([0-9.]+)", out)
    if not sign or not x25519:
        return None
    sign_s, ecdh_s = float(sign.group(1)), float(x25519.group(1))
    return {"sign": sign_s, "x25519": ecdh_s, "ceiling": 1.0 / (1.0 / sign_s + 2.0 / ecdh_s)}


def print_table(results, idle, runs, notes, ceiling=None):
    base = results.get("portcullis")

    def cell(name, key, fmt, lower_better=False):
        v = results[name][key]
        if v is None:
            return "n/a"
        text = fmt.format(v)
        if base and base.get(key) and name != "portcullis":
            ratio = v / base[key]
            text += f" ({ratio:.2f}x)"
        return text

    print()
    print(f"Medians of {runs} run(s); one worker each, pinned to the same core; mTLS upstream "
          f"(nginx). Ratios are against portcullis.")
    print()
    print(f"| proxy | HTTP/1.1 req/s | HTTP/1.1 p99 ms | HTTP/2 req/s | new TLS conn/s | "
          f"RSS MiB, {idle} + {idle} idle TLS | KiB per idle HTTP/1.1 conn | "
          f"KiB per idle HTTP/2 conn | CPU us per HTTP/1.1 req | "
          f"CPU us per HTTP/1.1 8 KiB req | "
          f"CPU us per HTTP/2 req | CPU us per handshake | TLS 1.3 resumed % |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in results:
        print(f"| {name} | {cell(name, 'h1', '{:.0f}')} | {cell(name, 'p99', '{:.2f}', True)} | "
              f"{cell(name, 'h2', '{:.0f}')} | {cell(name, 'hs', '{:.0f}')} | "
              f"{cell(name, 'rss', '{:.1f}', True)} | {cell(name, 'kib_conn', '{:.1f}')} | "
              f"{cell(name, 'kib_conn_h2', '{:.1f}')} | "
              f"{cell(name, 'cpu_h1', '{:.1f}')} | {cell(name, 'cpu_h1big', '{:.1f}')} | "
              f"{cell(name, 'cpu_h2', '{:.1f}')} | "
              f"{cell(name, 'cpu_hs', '{:.0f}')} | {cell(name, 'resumed', '{:.0f}')} |")
    if ceiling:
        print()
        print(f"Crypto ceiling on the proxy's core (openssl speed): {ceiling['sign']:.0f} ECDSA "
              f"P-256 signs/s, {ceiling['x25519']:.0f} X25519 ops/s, so at most "
              f"{ceiling['ceiling']:.0f} full handshakes/s; "
              + ", ".join(f"{name} reaches {results[name]['hs'] / ceiling['ceiling']:.0%}"
                          for name in results if results[name].get("hs")) + ".")
    if notes:
        print()
    for n in notes:
        print("- " + " ".join(n.split()))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
