"""Metrics that follow the tenants (issue #13): upstream series carry tenant, cluster and endpoint
as labels of their own (two tenants' clusters named "web" stay apart); a reload that removes a
tenant drops its series; the process_*, build-info and last-reload gauges are on the page, which
promtool accepts before and after the reload.
"""

import os
import shutil
import signal
import subprocess

import harness as h
from harness import metric_sum, metrics


def page(gw):
    status, body = gw.admin_get("/metrics")
    h.check(status == 200, f"/metrics {status}")
    return body


def promtool_ok(body):
    promtool = shutil.which("promtool")
    if promtool is None:
        print("promtool not installed: exposition not linted")
        return
    r = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                       text=True, timeout=30)
    h.check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
            f"promtool check metrics: rc {r.returncode}\n{r.stdout}{r.stderr}")


def series(samples, name, **labels):
    return [l for n, l, _ in samples if n == name
            and all(l.get(k) == v for k, v in labels.items())]


def test_series_follow_tenants_across_a_reload():
    with h.TestEnv("metricsfollow") as env:
        t = h.build_topology(env)
        h.check(h.get(t, "acme", "/m").status == 200, "acme request failed")
        h.check(h.get(t, "globex", "/app/m").status == 200, "globex request failed")
        samples = metrics(t.gw)

        # Upstream series: tenant, cluster and endpoint apart.
        acme_ep = t.nginx.server("acme").endpoint
        healthy = series(samples, "portcullis_upstream_healthy", tenant="acme", cluster="web")
        h.check([l.get("endpoint") for l in healthy] == [acme_ep],
                f"upstream_healthy for acme/web: {healthy}")
        h.check(not any("/" in l.get("endpoint", "") for l in
                        series(samples, "portcullis_upstream_healthy")),
                "an endpoint label still packs tenant/cluster")
        hs = "portcullis_upstream_tls_handshakes_total"
        for tenant in ("acme", "globex"):
            h.check(metric_sum(samples, hs, tenant=tenant, cluster="web") >= 1,
                    f"no upstream handshake series for {tenant}/web")
        # Process and build metrics.
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                     "process_open_fds", "process_max_fds", "process_start_time_seconds"):
            h.check(metric_sum(samples, name) > 0, f"{name} missing or 0")
        info = series(samples, "portcullis_build_info")
        h.check(len(info) == 1 and all(info[0].get(k) for k in
                                       ("version", "commit", "openssl", "nghttp2", "libuv")),
                f"build_info: {info}")
        # the labels are the versions `portcullis version` prints (one query serves both)
        printed = h.run([h.portcullis_bin(), "version"], timeout=30).stdout.splitlines()
        want = {"openssl": next((ln.split()[1] for ln in printed if ln.startswith("OpenSSL ")),
                                None),
                "nghttp2": next((ln.split()[1] for ln in printed if ln.startswith("nghttp2 ")),
                                None),
                "libuv": next((ln.split()[1] for ln in printed if ln.startswith("libuv ")), None)}
        h.check(all(info[0].get(k) == v for k, v in want.items()),
                f"build_info labels {info[0]} differ from `portcullis version`: {want}")
        h.check(metric_sum(samples, "portcullis_config_last_reload_success") == 1,
                "last_reload_success not 1 after start")
        started = metric_sum(samples, "portcullis_config_last_reload_success_timestamp_seconds")
        h.check(started > 0, "last reload timestamp 0")
        h.check(series(samples, "portcullis_requests_total", tenant="globex"),
                "no globex request series before the reload")
        promtool_ok(page(t.gw))

        # A broken gateway.toml: the reload is refused and the gauge says so.
        with open(t.gw.config_path, encoding="utf-8") as f:
            good = f.read()
        with open(t.gw.config_path, "w", encoding="utf-8") as f:
            f.write(good + "\n[no_such_section]\n")
        t.gw.proc.send_signal(signal.SIGHUP)
        h.wait_for(lambda: metric_sum(metrics(t.gw), "portcullis_config_last_reload_success")
                   == 0, 10, "last_reload_success 0 after a refused reload")
        with open(t.gw.config_path, "w", encoding="utf-8") as f:
            f.write(good)

        # Remove globex: all its series go (requests, handshakes, upstream, certificate).
        os.remove(os.path.join(t.gw.dir, "tenants.d", "globex.toml"))
        t.gw.proc.send_signal(signal.SIGHUP)
        h.wait_for(lambda: metric_sum(metrics(t.gw), "portcullis_config_last_reload_success")
                   == 1, 10, "the reload without globex")

        def globex_gone():
            body = page(t.gw)
            return None if 'globex' in body else body
        body = h.wait_for(globex_gone, 10, "globex's series to vanish from /metrics",
                          interval=0.2)
        after = metrics(t.gw)
        h.check(series(after, "portcullis_upstream_healthy", tenant="acme", cluster="web"),
                "acme's upstream series went too")
        h.check(metric_sum(after, "portcullis_requests_total", tenant="acme") >= 1,
                "acme's request series went too")
        h.check(metric_sum(after, "portcullis_config_last_reload_success_timestamp_seconds")
                >= started, "reload timestamp went back")
        h.check(h.get(t, "acme", "/again").status == 200, "acme broken by the reload")
        promtool_ok(body)
