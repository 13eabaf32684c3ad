"""Operations: configuration and certificate reload (SIGHUP and the file watch), log reopening.

Reload must not drop anything: h2load (h2 and --h1) and wrk run while the gateway is sent 20
SIGHUPs; no request may fail, and the gateway's fds and RSS come back to baseline. A broken file
at reload keeps the running state (the old certificate is still served) and is audited.
"""

import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import harness as h


# ---------------------------------------------------------------------------------------------
# helpers shared by the ops tests (imported by the other test_*.py files of this set)

def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def parse_metrics(text):
    """Prometheus text -> list of (name, {labels}, float). Fails on a malformed line."""
    out = []
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$')
    label_re = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        m = line_re.match(line)
        h.check(m is not None, f"/metrics line {n} is not `name{{labels}} value`: {line!r}")
        labels = {}
        raw = m.group(3) or ""
        pos = 0
        while pos < len(raw):
            lm = label_re.match(raw, pos)
            h.check(lm is not None and lm.end() > pos, f"/metrics line {n}: bad labels: {line!r}")
            labels[lm.group(1)] = lm.group(2)
            pos = lm.end()
        value = m.group(4)
        try:
            v = float(value)
        except ValueError:
            raise h.TestFailure(f"/metrics line {n}: bad value: {line!r}") from None
        out.append((m.group(1), labels, v))
    return out


def metrics(gw):
    status, body = gw.admin_get("/metrics")
    h.check(status == 200, f"/metrics {status}: {body[:300]}")
    return parse_metrics(body)


def metric_sum(samples, name, **labels):
    return sum(v for n, l, v in samples
               if n == name and all(l.get(k) == want for k, want in labels.items()))


def metric_has(samples, name):
    return any(n == name for n, _, _ in samples)


def https_conn(port, servername, cafile=None, address="127.0.0.1", prelude=b"",
               source=None, alpn=("http/1.1",)):
    """An HTTP/1.1 keep-alive connection over TLS with SNI servername; prelude bytes (a PROXY
    header) go before the handshake; source = local address to bind."""
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    sock = socket.create_connection((address, port), timeout=10,
                                    source_address=(source, 0) if source else None)
    if prelude:
        sock.sendall(prelude)
    tls = ctx.wrap_socket(sock, server_hostname=servername)
    conn = http.client.HTTPConnection(servername, port, timeout=10)
    conn.sock = tls
    return conn


def http_get_on(conn, host, path):
    conn.request("GET", path, headers={"Host": host})
    resp = conn.getresponse()
    return resp.status, resp.read().decode("utf-8", "replace")


def served_fingerprint(port, servername):
    r = h.s_client(port, servername)
    pem = h.first_cert_pem(r.stdout)
    if pem is None:
        return None
    d = h.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], input=pem)
    return d.stdout.strip().split("=", 1)[-1]


def file_fingerprint(pem_path):
    d = h.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", pem_path])
    return d.stdout.strip().split("=", 1)[-1]


H2LOAD_RE = re.compile(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                       r"(\d+) failed, (\d+) errored, (\d+) timeout")
STATUS_RE = re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")


def h2load(host, port, path="/", n=2000, c=4, m=4, h1=False, timeout=60):
    """Runs h2load against host:port via 127.0.0.1; returns (dict of counts, output)."""
    argv = ["h2load", "-n", str(n), "-c", str(c), "-m", str(1 if h1 else m),
            f"--connect-to=127.0.0.1:{port}"]
    if h1:
        argv.append("--h1")
    argv.append(f"https://{host}:{port}{path}")
    r = h.run(argv, timeout=timeout)
    out = r.stdout + r.stderr
    m1 = H2LOAD_RE.search(out)
    h.check(m1 is not None, f"h2load gave no summary:\n{out[-2000:]}")
    counts = dict(zip(("total", "started", "done", "succeeded", "failed", "errored", "timeout"),
                      map(int, m1.groups())))
    m2 = STATUS_RE.search(out)
    if m2:
        counts.update(dict(zip(("2xx", "3xx", "4xx", "5xx"), map(int, m2.groups()))))
    return counts, out


def check_h2load_clean(counts, out, what):
    h.check(counts["succeeded"] == counts["total"] and counts["failed"] == 0
            and counts["errored"] == 0 and counts["timeout"] == 0
            and counts.get("2xx", 0) == counts["total"],
            f"{what}: requests lost: {counts}\n{out[-1500:]}")


def wait_generation_above(gw, gen, timeout=10):
    return h.wait_for(
        lambda: (metric_sum(metrics(gw), "portcullis_config_generation") > gen) or None,
        timeout, f"portcullis_config_generation > {gen}", interval=0.1)


# ---------------------------------------------------------------------------------------------

def test_sighup_storm_under_h2load_loses_nothing():
    with h.TestEnv("reload") as env:
        t = h.build_topology(env)
        pid = t.gw.proc.pid
        # warm up (first connections, upstream pools), then take the baseline
        h2load(h.ACME_HOST, t.gw.port, n=200, c=2)
        time.sleep(0.5)
        base_fds = fd_count(pid)
        gen0 = metric_sum(metrics(t.gw), "portcullis_config_generation")
        results = {}

        def load(h1):
            results[h1] = h2load(h.ACME_HOST, t.gw.port, n=3000, c=4, h1=h1)

        with h.RssSampler(pid) as rss:
            threads = [threading.Thread(target=load, args=(h1,)) for h1 in (False, True)]
            for th in threads:
                th.start()
            time.sleep(0.2)
            # at least 20 SIGHUPs, and keep going while the load runs
            sent = 0
            while sent < 20 or (any(th.is_alive() for th in threads) and sent < 200):
                t.gw.proc.send_signal(signal.SIGHUP)
                sent += 1
                time.sleep(0.1)
            for th in threads:
                th.join(90)
        h.check(t.gw.proc.alive(), "gateway died during the reload storm: " + t.gw.proc.describe())
        for h1 in (False, True):
            h.check(h1 in results, f"h2load {'--h1' if h1 else 'h2'} did not finish")
            check_h2load_clean(*results[h1], f"h2load {'--h1' if h1 else 'h2'} under SIGHUPs")
        samples = metrics(t.gw)
        gen1 = metric_sum(samples, "portcullis_config_generation")
        h.check(gen1 > gen0, f"config generation did not move: {gen0} -> {gen1}")
        h.check(metric_sum(samples, "portcullis_config_reloads_total", result="failure") == 0,
                "a good config was counted as a failed reload")
        h.check(metric_sum(samples, "portcullis_config_reloads_total", result="success") >= 1,
                "no successful reload counted")
        # every client connection is closed by now; idle upstream connections of the current
        # generation may stay pooled (at most one per concurrent client request: 4 x 4 h2 streams
        # + 4 h1 connections), those of retired generations must not
        bound = base_fds + 20 + 2
        h.wait_for(lambda: fd_count(pid) <= bound, 10,
                   f"gateway fds back to <= {bound} (baseline {base_fds}, now {fd_count(pid)})",
                   interval=0.2)
        # The same bound holds under ASan (tests/sanitize.sh): growth here scales with the number
        # of reloads under load, not with the allocator. ASan only slows h2load enough for the
        # storm to reach 200 SIGHUPs, and so shows growth that a fast plain build hides.
        h.check(rss.growth_mib < 96, f"RSS grew by {rss.growth_mib:.1f} MiB during the storm")
        h.check(h.get(t, "acme", "/after").status == 200, "gateway broken after the storm")


def test_sighup_storm_under_wrk_loses_nothing():
    # wrk sends the URL host (an IP here) as SNI and cannot resolve names: the listener's
    # unknown_sni falls back to acme and the Host header names acme's host
    if shutil.which("wrk") is None:
        raise h.Skip("wrk is not installed (the h2load --h1 storm covers HTTP/1.1)")
    with h.TestEnv("reload") as env:
        port = h.free_port()
        t = h.build_topology(env, listeners=[{"name": "public", "kind": "ingress",
                                              "address": f"127.0.0.1:{port}",
                                              "unknown_sni": "acme"}])
        pid = t.gw.proc.pid
        h.check(h.get(t, "acme", "/warm").status == 200, "warm-up failed")
        base_fds = fd_count(pid)
        proc = subprocess.Popen(["wrk", "-t", "2", "-c", "8", "-d", "5s",
                                 "-H", f"Host: {h.ACME_HOST}", f"https://127.0.0.1:{port}/w"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            time.sleep(0.5)
            for _ in range(20):
                t.gw.proc.send_signal(signal.SIGHUP)
                time.sleep(0.15)
            out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        m = re.search(r"(\d+) requests in", out)
        h.check(m and int(m.group(1)) > 100, f"wrk did too little:\n{out}")
        h.check("Non-2xx" not in out, f"wrk saw non-2xx answers:\n{out}")
        h.check("Socket errors" not in out, f"wrk saw socket errors:\n{out}")
        h.check(t.gw.proc.alive(), "gateway died: " + t.gw.proc.describe())
        # client connections are gone; idle upstream connections of the current generation may
        # stay pooled (at most one per wrk connection: 8), those of retired generations must not
        bound = base_fds + 8 + 2
        h.wait_for(lambda: fd_count(pid) <= bound, 10,
                   f"gateway fds back to <= {bound} (baseline {base_fds}, now {fd_count(pid)})",
                   interval=0.2)


def test_broken_certificate_at_reload_keeps_the_old_one():
    with h.TestEnv("reload") as env:
        t = h.build_topology(env)
        acme_pem, acme_key = t.tenant_cert["acme"]
        old_fp = served_fingerprint(t.gw.port, h.ACME_HOST)
        h.check(old_fp == file_fingerprint(acme_pem), "served cert is not acme's file")
        # a certificate whose key is not the configured key (key mismatch)
        other_pem, _ = h.issue(t.tenant_ca["acme"], env.path("pki", "acme-other"),
                               dns=["shop.acme.example", "*.api.acme.example"])
        shutil.copyfile(other_pem, acme_pem)  # the watch sees it; no SIGHUP
        t.gw.wait_audit(lambda e: e.get("event") == "cert_reload" and e.get("decision") == "deny"
                        and e.get("reason") == "invalid_certificate", "cert_reload deny", 10)
        t.gw.wait_audit(lambda e: e.get("event") == "config_reload"
                        and e.get("decision") == "deny", "config_reload deny", 10)
        deny = [e for e in t.gw.audit_log() if e.get("event") == "cert_reload"
                and e.get("decision") == "deny"][-1]
        h.check("acme-tls.pem" in str(deny.get("file", "")) + str(deny.get("detail", "")),
                f"audit does not name the certificate file: {deny}")
        h.check(served_fingerprint(t.gw.port, h.ACME_HOST) == old_fp,
                "a broken certificate replaced the running one")
        r = h.get(t, "acme", "/still")
        h.check(r.status == 200, f"acme broken by a refused reload: {r!r}")
        h.check(metric_sum(metrics(t.gw), "portcullis_config_reloads_total",
                           result="failure") >= 1, "failed reload not counted in /metrics")
        # garbage PEM: refused too, SIGHUP path this time
        with open(acme_pem, "w", encoding="ascii") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64!!\n-----END CERTIFICATE-----\n")
        n_deny = len([e for e in t.gw.audit_log() if e.get("event") == "cert_reload"
                      and e.get("decision") == "deny"])
        t.gw.proc.send_signal(signal.SIGHUP)
        h.wait_for(lambda: len([e for e in t.gw.audit_log() if e.get("event") == "cert_reload"
                                and e.get("decision") == "deny"]) > n_deny, 10,
                   "a second cert_reload deny for a garbage PEM")
        h.check(served_fingerprint(t.gw.port, h.ACME_HOST) == old_fp, "garbage PEM was applied")
        # a good new pair: key first, then cert (the debounce joins the two writes)
        new_pem, new_key = h.issue(t.tenant_ca["acme"], env.path("pki", "acme-new"),
                                   dns=["shop.acme.example", "*.api.acme.example"])
        shutil.copyfile(new_key, acme_key)
        shutil.copyfile(new_pem, acme_pem)
        new_fp = file_fingerprint(new_pem)
        h.wait_for(lambda: served_fingerprint(t.gw.port, h.ACME_HOST) == new_fp, 10,
                   "the new certificate to be served after the watch fired", interval=0.2)
        t.gw.wait_audit(lambda e: e.get("event") == "cert_reload"
                        and e.get("decision") == "allow", "cert_reload allow", 5)
        r = h.get(t, "acme", "/new")
        h.check(r.status == 200, f"acme broken after the good reload: {r!r}")


def test_expired_certificate_at_reload_is_refused():
    with h.TestEnv("reload") as env:
        t = h.build_topology(env)
        acme_pem, acme_key = t.tenant_cert["acme"]
        old_fp = served_fingerprint(t.gw.port, h.ACME_HOST)
        # an expired certificate for the same key
        ca_dir = t.tenant_ca["acme"]
        leaf = h.issue_expired(ca_dir, env.path("expired"), acme_key,
                               ["shop.acme.example", "*.api.acme.example"])
        with open(acme_pem, "w", encoding="ascii") as out:
            for part in (leaf, os.path.join(ca_dir, "ca.pem")):
                with open(part, encoding="ascii") as f:
                    out.write(f.read())
        t.gw.proc.send_signal(signal.SIGHUP)
        t.gw.wait_audit(lambda e: e.get("event") == "cert_reload" and e.get("decision") == "deny"
                        and e.get("reason") == "invalid_certificate",
                        "cert_reload deny for an expired certificate", 10)
        h.check(served_fingerprint(t.gw.port, h.ACME_HOST) == old_fp,
                "an expired certificate replaced the running one")


def test_broken_toml_at_reload_keeps_running_state():
    with h.TestEnv("reload") as env:
        t = h.build_topology(env)
        gen0 = metric_sum(metrics(t.gw), "portcullis_config_generation")
        path = os.path.join(t.gw.dir, "tenants.d", "globex.toml")
        with open(path, "a", encoding="utf-8") as f:
            f.write("\n[[route\nthis is = not toml\n")
        t.gw.wait_audit(lambda e: e.get("event") == "config_reload"
                        and e.get("decision") == "deny", "config_reload deny (watch)", 10)
        for tenant, p in (("acme", "/a"), ("globex", "/app/g")):
            r = h.get(t, tenant, p)
            h.check(r.status == 200, f"{tenant} broken by a refused reload: {r!r}")
        samples = metrics(t.gw)
        h.check(metric_sum(samples, "portcullis_config_generation") == gen0,
                "a refused reload bumped the config generation")
        h.check(metric_sum(samples, "portcullis_config_reloads_total", result="failure") >= 1,
                "failed reload not counted")
        # the broken gateway.toml is refused the same way
        with open(t.gw.config_path, "a", encoding="utf-8") as f:
            f.write("\n[gateway\n")
        n = len([e for e in t.gw.audit_log() if e.get("event") == "config_reload"
                 and e.get("decision") == "deny"])
        t.gw.proc.send_signal(signal.SIGHUP)
        h.wait_for(lambda: len([e for e in t.gw.audit_log() if e.get("event") == "config_reload"
                                and e.get("decision") == "deny"]) > n, 10,
                   "config_reload deny for a broken gateway.toml")
        h.check(h.get(t, "acme", "/b").status == 200, "acme broken by a broken gateway.toml")
        h.check(t.gw.proc.alive(), "gateway died on a broken gateway.toml")


def test_tenant_added_and_removed_by_file_watch():
    with h.TestEnv("reload") as env:
        t = h.build_topology(env)
        new_ca = h.init_ca(env.path("pki", "newco-ca"), "Newco CA")
        cert, key = h.issue(new_ca, env.path("pki", "newco-tls"), dns=["www.newco.example"])
        cafile = os.path.join(new_ca, "ca.pem")
        gen0 = metric_sum(metrics(t.gw), "portcullis_config_generation")
        path = t.gw.add_tenant_file("newco", f"""name = "newco"
hosts = ["www.newco.example"]

[tls]
cert = {h.toml_str(cert)}
key = {h.toml_str(key)}

[[route]]
path_prefix = "/"
cluster = "web"

[cluster.web]
endpoints = [{h.toml_str(t.nginx.server("acme").endpoint)}]
server_name = "web.acme.svc"
""")

        def newco_status():
            return h.curl("/n", host="www.newco.example", port=t.gw.port, cacert=cafile).status
        h.wait_for(lambda: newco_status() == 200, 10, "newco served after its file appeared",
                   interval=0.2)
        wait_generation_above(t.gw, gen0)
        t.gw.wait_audit(lambda e: e.get("event") == "config_reload"
                        and e.get("decision") == "allow", "config_reload allow", 5)
        os.unlink(path)
        h.wait_for(lambda: newco_status() == 0, 10, "newco gone after its file was removed",
                   interval=0.2)
        h.check(h.get(t, "acme", "/a").status == 200, "acme broken by the tenant removal")
        h.check(h.get(t, "globex", "/app/g").status == 200, "globex broken by the removal")


def test_open_connection_finishes_on_old_config():
    # a keep-alive connection opened before a reload that removes its tenant keeps working;
    # new connections get the new state
    with h.TestEnv("reload") as env:
        t = h.build_topology(env)
        conn = https_conn(t.gw.port, h.GLOBEX_HOST, h.tenant_ca_pem(t, "globex"))
        try:
            status, body = http_get_on(conn, h.GLOBEX_HOST, "/app/one")
            h.check(status == 200 and "globex upstream /app/one" in body, f"{status} {body!r}")
            gen0 = metric_sum(metrics(t.gw), "portcullis_config_generation")
            os.unlink(os.path.join(t.gw.dir, "tenants.d", "globex.toml"))
            wait_generation_above(t.gw, gen0)
            r = h.get(t, "globex", "/app/x")
            h.check(r.status == 0, f"removed tenant still served to a new connection: {r!r}")
            status, body = http_get_on(conn, h.GLOBEX_HOST, "/app/two")
            h.check(status == 200 and "globex upstream /app/two" in body,
                    f"open connection did not finish on the old config: {status} {body!r}")
        finally:
            conn.close()
        h.check(h.get(t, "acme", "/a").status == 200, "acme broken")


def test_sigusr1_reopens_logs():
    with h.TestEnv("reload") as env:
        t = h.build_topology(env)

        def rejects(path):
            return [e for e in h.read_json_lines(path) if e.get("event") == "tls_reject"]
        h.s_client(t.gw.port, "nope.example")  # audited tls_reject
        t.gw.wait_audit(lambda e: e.get("event") == "tls_reject", "tls_reject")
        rotated = t.gw.audit_path + ".1"
        os.rename(t.gw.audit_path, rotated)
        t.gw.proc.send_signal(signal.SIGUSR1)
        h.wait_for(lambda: os.path.exists(t.gw.audit_path), 5, "audit.log reopened on SIGUSR1")
        h.s_client(t.gw.port, "nope2.example")
        h.wait_for(lambda: len(rejects(t.gw.audit_path)) == 1, 5,
                   "the second rejection in the new audit.log after SIGUSR1")
        h.check(len(rejects(rotated)) == 1, "a line after SIGUSR1 went to the rotated file")
        h.check(t.gw.proc.alive(), "gateway died on SIGUSR1")
