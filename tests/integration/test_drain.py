"""Operations: drain on SIGTERM.

SIGTERM -> /readyz 503, the listener stops accepting, in-flight requests finish (within
gateway.drain_timeout = 5s in the harness), then exit 0. The slow request is a download from an
nginx upstream with limit_rate (this nginx has no echo module).
"""

import os
import re
import signal
import subprocess
import time

import harness as h

RATE_KIB = 512


def slow_topology(env, blob_mib):
    """Standard topology, but acme's clusters point at an nginx that sends at RATE_KIB KiB/s."""
    t = h.build_topology(env, start=False)
    slow = h.Nginx(env, name="slow")
    slow.extra_http = f"    limit_rate {RATE_KIB}k;\n"
    cert, key = h.issue(t.mesh_ca, env.path("pki", "upstream-slow"), dns=["web.acme.svc"],
                        spiffe=h.workload_id("acme"))
    slow.add_server("slow", cert, key, t.mesh_ca_pem)
    blob, digest = h.shared_blob(blob_mib)
    slow.add_file("slow.bin", blob)
    slow.start()
    path = os.path.join(t.gw.dir, "tenants.d", "acme.toml")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = text.replace(h.toml_str(t.nginx.server("acme").endpoint),
                        h.toml_str(slow.server("slow").endpoint))
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    t.gw.start()
    return t, slow, digest


def start_download(env, t, name, http2):
    out = env.path(f"{name}.bin")
    argv = ["curl", "-sS", "--max-time", "30", "-o", out, "-w", "%{http_code} %{http_version}",
            "--resolve", f"{h.ACME_HOST}:{t.gw.port}:127.0.0.1",
            "--cacert", h.tenant_ca_pem(t, "acme"), "--http2" if http2 else "--http1.1",
            f"https://{h.ACME_HOST}:{t.gw.port}/files/slow.bin"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, out


def test_sigterm_lets_inflight_requests_finish():
    with h.TestEnv("drain") as env:
        # 2 MiB at 512 KiB/s: about 4 s per download, well inside drain_timeout = 5s
        t, _, digest = slow_topology(env, 2)
        downloads = [start_download(env, t, f"dl{i}", http2) for i, http2 in
                     enumerate((False, True))]
        try:
            time.sleep(1.0)
            t.gw.proc.expected_exit = True
            t.gw.proc.send_signal(signal.SIGTERM)
            t_term = time.monotonic()
            # readiness turns 503 while draining (the admin server stays up for that)
            status, _ = h.wait_for(lambda: (lambda s: s if s[0] in (503, None) else None)(
                t.gw.admin_get("/readyz")), 2, "/readyz 503 while draining", interval=0.05)
            h.check(status in (503, None), f"/readyz during drain: {status}")
            # new connections are refused (listener closed) or get no service
            r = h.get(t, "acme", "/new", timeout=5)
            h.check(r.status == 0, f"a new request was served while draining: {r!r}")
            results = []
            for proc, out in downloads:
                stdout, stderr = proc.communicate(timeout=30)
                results.append((proc.returncode, stdout, stderr, out))
        finally:
            for proc, _ in downloads:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        for rc, stdout, stderr, out in results:
            h.check(rc == 0 and stdout.startswith("200"),
                    f"in-flight download cut by the drain: rc={rc} {stdout} {stderr}")
            h.check(h.sha256_file(out) == digest, f"{out}: body differs after the drain")
        code = t.gw.proc.wait(10)
        h.check(code == 0, f"exit {code} after drain, want 0: " + t.gw.proc.describe())
        h.check(time.monotonic() - t_term < 8, "drain took longer than drain_timeout + slack")
        h.check(not h.tcp_connectable("127.0.0.1", t.gw.port), "listener still open after exit")


def test_drain_under_h2load_exits_0():
    with h.TestEnv("drain") as env:
        t = h.build_topology(env)
        argv = ["h2load", "-n", "100000", "-c", "4", "-m", "4", "-D", "4",
                f"--connect-to=127.0.0.1:{t.gw.port}", f"https://{h.ACME_HOST}:{t.gw.port}/l"]
        load = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            time.sleep(1.5)
            t.gw.proc.expected_exit = True
            t.gw.proc.send_signal(signal.SIGTERM)
            code = t.gw.proc.wait(10)
            out, _ = load.communicate(timeout=20)
        finally:
            if load.poll() is None:
                load.kill()
                load.wait()
        h.check(code == 0, f"exit {code} after SIGTERM under load: " + t.gw.proc.describe())
        # requests the gateway accepted before the drain all got answers: no 5xx from it
        m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx",
                                    out)
        h.check(m is not None, f"h2load gave no status summary:\n{out[-1500:]}")
        h.check(int(m.group(1)) > 100, f"too little load before SIGTERM:\n{out[-1500:]}")
        h.check(int(m.group(4)) == 0, f"5xx answers during the drain:\n{out[-1500:]}")
        # streams that race the GOAWAY may be refused (the client may retry them): at most the
        # streams in flight, -c 4 x -m 4; none may get an error status
        m2 = re.search(r"requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed",
                       out)
        h.check(m2 is not None and int(m2.group(1)) <= 16,
                f"more requests failed than were in flight at SIGTERM:\n{out[-1500:]}")
        stats = [e for e in t.gw.access_log() if e.get("path") == "/l"]
        h.check(not [e for e in stats if int(e.get("status", 0)) >= 500],
                "access log has 5xx answers for the load")


def test_drain_timeout_bounds_a_request_that_is_too_slow():
    with h.TestEnv("drain") as env:
        # 8 MiB at 512 KiB/s = 16 s, longer than drain_timeout = 5s
        t, _, _ = slow_topology(env, 8)
        proc, _ = start_download(env, t, "long", False)
        try:
            time.sleep(1.0)
            t.gw.proc.expected_exit = True
            t0 = time.monotonic()
            t.gw.proc.send_signal(signal.SIGTERM)
            code = t.gw.proc.wait(12)
            took = time.monotonic() - t0
            stdout, _ = proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        h.check(code == 0, f"exit {code} after drain_timeout, want 0: " + t.gw.proc.describe())
        h.check(4.0 <= took <= 8.0, f"exit {took:.1f}s after SIGTERM, want about drain_timeout 5s")
        h.check(proc.returncode != 0, f"a 16 s download finished within a 5 s drain: {stdout}")


MAX_STREAM_ID = 2**31 - 1


def test_drain_delay_serves_new_connections_and_h2_two_step_goaway():
    """drain_delay: /readyz 503 at once, new HTTP/1.1 and HTTP/2 connections still served; then
    the two-step GOAWAY (RFC 9113 §6.8): a stream the client sent after the first GOAWAY, before
    it answered the PING, is served, and the final GOAWAY names it."""
    from hyperframe import frame as hf
    from harness.h2 import H2Conn
    with h.TestEnv("drain") as env:
        t = h.build_topology(env, start=False)
        # long enough for the checks below to run inside it on a loaded machine
        t.gw.drain_delay = "4s"
        t.gw.start()
        conn = H2Conn(t.gw.port, sni=h.ACME_HOST)
        try:
            conn.send(conn.headers_frame(1, conn.block(conn.request_headers(
                "/before", authority=h.ACME_HOST))))
            conn.wait(lambda f: isinstance(f, hf.HeadersFrame) and f.stream_id == 1, 5,
                      "response to stream 1")
            t.gw.proc.expected_exit = True
            t.gw.proc.send_signal(signal.SIGTERM)
            h.wait_for(lambda: t.gw.admin_get("/readyz")[0] == 503, 2, "/readyz 503 at SIGTERM",
                       interval=0.05)
            # phase 1: not ready, but a load balancer that has not noticed yet is still served
            for http2 in (False, True):
                r = h.get(t, "acme", "/during-delay", http2=http2, timeout=5)
                h.check(r.status == 200, f"new connection refused during drain_delay "
                        f"(http2={http2}): {r!r}")
            # phase 2: the first GOAWAY says 2^31-1 and comes with a PING
            first = conn.wait(lambda f: isinstance(f, hf.GoAwayFrame), 10, "first GOAWAY")[0]
            h.check(first.last_stream_id == MAX_STREAM_ID and first.error_code == 0,
                    f"first GOAWAY is not the shutdown notice: {conn.summary()}")
            ping = conn.wait(lambda f: isinstance(f, hf.PingFrame) and "ACK" not in f.flags, 5,
                             "PING after the first GOAWAY")[0]
            # a request already on its way when the first GOAWAY arrived, then the PING answer
            conn.send(conn.headers_frame(3, conn.block(conn.request_headers(
                "/in-flight", authority=h.ACME_HOST))))
            conn.send(hf.PingFrame(0, opaque_data=ping.opaque_data, flags=["ACK"]))
            conn.wait(lambda f: isinstance(f, hf.HeadersFrame) and f.stream_id == 3, 5,
                      "response to stream 3, sent after the first GOAWAY")
            h.check(conn.status(3) == b"200", f"stream 3 not served: {conn.summary()}")
            final = conn.wait(lambda f: isinstance(f, hf.GoAwayFrame) and f is not first, 5,
                              "final GOAWAY")[0]
            h.check(final.last_stream_id == 3, f"final GOAWAY does not name stream 3: "
                    f"{conn.summary()}")
            conn.pump(2)
        finally:
            conn.close()
        r = h.get(t, "acme", "/after-delay", timeout=5)
        h.check(r.status == 0, f"a new connection was served after drain_delay: {r!r}")
        code = t.gw.proc.wait(10)
        h.check(code == 0, f"exit {code} after drain, want 0: " + t.gw.proc.describe())
