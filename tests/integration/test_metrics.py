"""Operations: the /metrics page.

Every line is a comment or `name{labels} value`; the counters match the requests we sent
(per tenant / route / cluster / code), the latency histogram is consistent, TLS handshakes and
failures by reason, rejections, certificate expiry, upstream health, config generation and
downstream connections are all there.
"""

import shutil
import signal
import ssl
import subprocess
import time

import harness as h
from harness import http_get_on, https_conn, metric_has, metric_sum, metrics, parse_metrics

REQUIRED = ("portcullis_requests_total", "portcullis_request_duration_seconds_bucket",
            "portcullis_request_duration_seconds_count", "portcullis_request_duration_seconds_sum",
            "portcullis_tls_handshakes_total", "portcullis_certificate_expiry_seconds",
            "portcullis_upstream_healthy", "portcullis_config_generation",
            "portcullis_downstream_connections")


def test_metrics_page_parses_and_has_every_family():
    with h.TestEnv("metrics") as env:
        t = h.build_topology(env)
        h.check(h.get(t, "acme", "/m").status == 200, "request failed")
        status, body = t.gw.admin_get("/metrics")
        h.check(status == 200, f"/metrics {status}")
        samples = parse_metrics(body)
        for name in REQUIRED:
            h.check(metric_has(samples, name), f"/metrics lacks {name}")
        # TYPE lines: counters end in _total, the histogram is a histogram
        types = {}
        for line in body.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(None, 3)
                types[name] = kind.strip()
        h.check(types.get("portcullis_requests_total") == "counter"
                or types.get("portcullis_requests") == "counter", f"requests type: {types}")
        h.check(types.get("portcullis_request_duration_seconds") == "histogram",
                f"duration type: {types.get('portcullis_request_duration_seconds')}")
        # no duplicate series
        keys = [(n, tuple(sorted(l.items()))) for n, l, _ in samples]
        dups = {k for k in keys if keys.count(k) > 1}
        h.check(not dups, f"duplicate series: {sorted(dups)[:5]}")
        # certificate expiry: every tenant cert is there, ~90 days left (harness default)
        expiry = [(l, v) for n, l, v in samples if n == "portcullis_certificate_expiry_seconds"]
        h.check(len(expiry) >= 4, f"want >= 4 certificates (3 tenants + mesh): {expiry}")
        for labels, v in expiry:
            h.check(0 < v <= 3650 * 86400 + 60, f"expiry out of range: {labels} {v}")
        # acme's value matches its file's notAfter
        r = h.run(["openssl", "x509", "-noout", "-enddate", "-in", t.tenant_cert["acme"][0]])
        not_after = r.stdout.strip().split("=", 1)[1]
        left = ssl.cert_time_to_seconds(not_after) - time.time()
        acme = [v for l, v in expiry if "acme" in ",".join(l.values())]
        h.check(len(acme) == 1 and abs(acme[0] - left) < 120,
                f"acme expiry {acme}, want about {left:.0f} s ({not_after})")
        h.check(metric_sum(samples, "portcullis_config_generation") >= 1, "generation < 1")


def test_promtool_accepts_a_real_scrape():
    """One writer for the whole page (registry families and callback families alike): promtool
    parses and lints a scrape taken after traffic, a TLS failure and a health check."""
    promtool = shutil.which("promtool")
    if promtool is None:
        raise h.Skip("promtool not installed (Debian package prometheus)")
    with h.TestEnv("metrics") as env:
        t = h.build_topology(env)
        h.check(h.get(t, "acme", "/m").status == 200, "request failed")
        h.check(h.get(t, "globex", "/none").status == 404, "404 failed")
        h.curl("/", host="unknown.example", port=t.gw.port)  # a handshake failure
        status, body = t.gw.admin_get("/metrics")
        h.check(status == 200, f"/metrics {status}")
        # The callback families are on the page, with their types.
        for name, kind in (("portcullis_upstream_healthy", "gauge"),
                           ("portcullis_certificate_expiry_seconds", "gauge"),
                           ("portcullis_memory_rss_bytes", "gauge"),
                           ("portcullis_memory_budget_bytes", "gauge"),
                           ("portcullis_memory_shedding", "gauge"),
                           ("portcullis_access_log_write_failures_total", "counter")):
            h.check(f"# TYPE {name} {kind}\n" in body, f"/metrics lacks TYPE {name} {kind}")
        samples = parse_metrics(body)
        h.check(metric_sum(samples, "portcullis_memory_rss_bytes") > 0, "rss is 0")
        logs = sorted(l.get("log") for n, l, _ in samples
                      if n == "portcullis_access_log_write_failures_total")
        h.check(logs == ["access", "audit"], f"log write failure series: {logs}")
        r = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                           text=True, timeout=30)
        h.check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
                f"promtool check metrics: rc {r.returncode}\n{r.stdout}{r.stderr}")


def test_request_counters_match_traffic():
    with h.TestEnv("metrics") as env:
        t = h.build_topology(env)
        before = metrics(t.gw)

        def count(samples, **labels):
            return metric_sum(samples, "portcullis_requests_total", **labels)
        sent = {("acme", "200"): 0, ("globex", "200"): 0, ("globex", "404"): 0,
                ("acme", "502"): 0}
        for i in range(7):
            h.check(h.get(t, "acme", f"/a{i}", http2=i % 2 == 0).status == 200, "acme failed")
            sent[("acme", "200")] += 1
        for i in range(3):
            h.check(h.get(t, "globex", f"/app/{i}").status == 200, "globex failed")
            sent[("globex", "200")] += 1
        for i in range(2):
            h.check(h.get(t, "globex", f"/none{i}").status == 404, "globex 404 failed")
            sent[("globex", "404")] += 1
        h.check(h.get(t, "acme", "/wrong-identity/x").status == 502, "wrong identity not 502")
        sent[("acme", "502")] += 1
        time.sleep(0.2)
        after = metrics(t.gw)
        for (tenant, code), n in sent.items():
            d = count(after, tenant=tenant, code=code) - count(before, tenant=tenant, code=code)
            h.check(d == n, f"requests_total{{tenant={tenant},code={code}}} moved by {d}, want {n}")
        # cluster labels: the 7 acme 200s went to cluster web, the 502 to cluster wrong
        d = (count(after, tenant="acme", cluster="web", code="200")
             - count(before, tenant="acme", cluster="web", code="200"))
        h.check(d == 7, f"acme cluster=web code=200 moved by {d}, want 7")
        d = (count(after, tenant="acme", cluster="wrong") - count(before, tenant="acme",
                                                                  cluster="wrong"))
        h.check(d == 1, f"acme cluster=wrong moved by {d}, want 1")
        for n, l, _ in after:
            if n == "portcullis_requests_total":
                for k in ("tenant", "route", "cluster", "code"):
                    h.check(k in l, f"requests_total lacks label {k}: {l}")
        # histogram: per series, buckets are cumulative, +Inf == _count; counts add up
        series = {}
        for n, l, v in after:
            if n.startswith("portcullis_request_duration_seconds"):
                key = tuple(sorted((k, x) for k, x in l.items() if k != "le"))
                series.setdefault(key, {"buckets": [], "count": None, "sum": None})
                if n.endswith("_bucket"):
                    le = float("inf") if l["le"] == "+Inf" else float(l["le"])
                    series[key]["buckets"].append((le, v))
                elif n.endswith("_count"):
                    series[key]["count"] = v
                elif n.endswith("_sum"):
                    series[key]["sum"] = v
        h.check(series, "no request_duration series")
        total = 0
        for key, s in series.items():
            b = sorted(s["buckets"])
            h.check(b and b[-1][0] == float("inf"), f"{key}: no +Inf bucket")
            h.check(all(b[i][1] <= b[i + 1][1] for i in range(len(b) - 1)),
                    f"{key}: buckets not cumulative: {b}")
            h.check(s["count"] == b[-1][1], f"{key}: _count {s['count']} != +Inf {b[-1][1]}")
            h.check(s["sum"] is not None and s["sum"] >= 0, f"{key}: bad _sum")
            total += s["count"]
        h.check(total >= sum(sent.values()), f"histogram counts {total} < requests sent")
        acme_hist = sum(s["count"] for key, s in series.items() if ("tenant", "acme") in key)
        h.check(acme_hist >= 8, f"acme histogram count {acme_hist}, want >= 8")


def test_tls_and_rejection_counters():
    with h.TestEnv("metrics") as env:
        t = h.build_topology(env)
        before = metrics(t.gw)
        for _ in range(3):
            h.check(h.get(t, "acme", "/ok").status == 200, "request failed")
        for _ in range(2):
            h.s_client(t.gw.port, "nope.example")  # unknown SNI
        # initech without a client certificate
        r = h.get(t, "initech", "/x")
        h.check(r.status != 200, f"initech served without a client certificate: {r!r}")
        # refused requests: a 421 (host of another tenant) and a 404 (no route)
        h.check(h.get(t, "acme", "/x", headers=[f"Host: {h.GLOBEX_HOST}"]).status == 421, "421")
        h.check(h.get(t, "globex", "/nothing").status == 404, "404")
        time.sleep(0.3)
        after = metrics(t.gw)

        def delta(name, **labels):
            return metric_sum(after, name, **labels) - metric_sum(before, name, **labels)
        d = delta("portcullis_tls_handshakes_total")
        h.check(d >= 3, f"tls_handshakes_total moved by {d}, want >= 3")
        d = delta("portcullis_tls_handshake_failures_total")
        h.check(d >= 2, f"tls_handshake_failures_total moved by {d}, want >= 2")
        reasons = {l.get("reason") for n, l, v in after
                   if n == "portcullis_tls_handshake_failures_total" and v > 0}
        h.check(reasons and None not in reasons, f"failures without a reason label: {reasons}")
        h.check(any("sni" in (x or "") for x in reasons),
                f"no failure reason about the unknown SNI: {reasons}")
        rej = delta("portcullis_rejections_total")
        rej_reasons = {l.get("reason") for n, l, v in after
                       if n == "portcullis_rejections_total" and v > 0}
        h.check(rej >= 2, f"rejections_total moved by {rej} after a 421 and a 404, want >= 2 "
                f"(reasons seen: {rej_reasons})")


def test_reload_metrics_and_downstream_gauge():
    with h.TestEnv("metrics") as env:
        t = h.build_topology(env)
        s0 = metrics(t.gw)
        gen0 = metric_sum(s0, "portcullis_config_generation")
        ok0 = metric_sum(s0, "portcullis_config_reloads_total", result="success")
        t.gw.proc.send_signal(signal.SIGHUP)
        h.wait_for(lambda: metric_sum(metrics(t.gw), "portcullis_config_generation") > gen0, 5,
                   "generation to move after SIGHUP", interval=0.1)
        s1 = metrics(t.gw)
        h.check(metric_sum(s1, "portcullis_config_reloads_total", result="success") == ok0 + 1,
                "reloads_total{result=success} did not move by 1")
        # an open keep-alive connection shows in the downstream connections gauge
        conn = https_conn(t.gw.port, h.ACME_HOST, h.tenant_ca_pem(t, "acme"))
        try:
            status, _ = http_get_on(conn, h.ACME_HOST, "/keep")
            h.check(status == 200, f"status {status}")
            n_open = metric_sum(metrics(t.gw), "portcullis_downstream_connections")
            h.check(n_open >= 1, f"downstream_connections = {n_open} with one open connection")
        finally:
            conn.close()
        h.wait_for(lambda: metric_sum(metrics(t.gw), "portcullis_downstream_connections")
                   == n_open - 1, 5, "downstream_connections to drop after the close",
                   interval=0.1)
