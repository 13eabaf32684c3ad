"""Issue #17: the admin dashboard at / (HTML, CSS and script compiled in, no CDN). Rendered in
headless Chromium (Debian's chromium, started by the test with --dump-dom; skipped when absent):
the tenants with their certificate expiry, the cluster endpoints with their health, the live
request counters and the latest audit denial agree with the running gateway's /metrics and
audit log; a screenshot is saved next to the test's logs.
"""

import html
import os
import re
import shutil

import harness as h


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def render(browser, url, env, screenshot=None):
    args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", f"--user-data-dir={env.path('chromium-profile')}",
            "--virtual-time-budget=3000"]
    if screenshot:
        args += [f"--screenshot={screenshot}", "--window-size=1400,1000"]
    else:
        args += ["--dump-dom"]
    r = h.run(args + [url], timeout=90)
    h.check(r.returncode == 0, f"chromium failed: {r.stderr[-2000:]}")
    return r.stdout


def test_dashboard():
    with h.TestEnv("dashboard") as env:
        t = h.build_topology(env)
        status, page = t.gw.admin_get("/")
        h.check(status == 200 and "<title>Portcullis</title>" in page, f"/ {status}")
        h.check("http://" not in page.replace("http://www.w3.org", "")
                and "https://" not in page, "the dashboard loads something from the network")
        for _ in range(3):
            h.check(h.get(t, "acme", "/dash").status == 200, "request failed")
        h.check(h.get(t, "globex", "/app/dash").status == 200, "request failed")
        r = h.curl("/", host="nobody.example", port=t.gw.port, timeout=10)
        h.check(r.status == 0, f"unknown SNI served: {r!r}")
        t.gw.wait_audit(lambda a: a.get("event") == "tls_reject", "tls_reject")
        status, body = t.gw.admin_get("/audit/denials")
        h.check(status == 200 and "tls_reject" in body, f"/audit/denials: {status} {body[:300]}")

        browser = chromium()
        if browser is None:
            raise h.Skip("chromium not installed (Debian package chromium)")
        dom = render(browser, t.gw.admin_url("/"), env)
        h.check('data-loaded="1"' in dom, f"the dashboard script did not finish:\n{dom[:3000]}")
        samples = h.parse_metrics(t.gw.admin_get("/metrics")[1])

        for tenant in ("acme", "globex", "initech"):
            row = re.search(r'<tr data-tenant="' + tenant + r'">(.*?)</tr>', dom, re.S)
            h.check(row, f"tenant {tenant} not rendered:\n{dom[:3000]}")
            expiry = [s for s in samples if s[0] == "portcullis_certificate_expiry_seconds"
                      and s[1].get("certificate") == f"tenant:{tenant}"]
            want_days = int(expiry[0][2] // 86400)
            days = re.search(r'data-days="(\d+)"', row.group(1))
            h.check(days and abs(int(days.group(1)) - want_days) <= 1,
                    f"{tenant} expiry: dashboard {days and days.group(1)}, metrics {want_days}")
            h.check('class="state ok"' in row.group(1), f"{tenant} state: {row.group(1)}")
            reqs = re.search(r'class="requests">(\d+)<', row.group(1))
            want = h.metric_sum(samples, "portcullis_requests_total", tenant=tenant)
            h.check(reqs and int(reqs.group(1)) == int(want),
                    f"{tenant} requests: dashboard {reqs and reqs.group(1)}, metrics {want}")

        healthy = {(s[1]["tenant"], s[1]["cluster"], s[1]["endpoint"]): s[2] for s in samples
                   if s[0] == "portcullis_upstream_healthy"}
        shown = re.findall(r'<tr data-tenant="acme" data-cluster="web">.*?</tr>', dom, re.S)
        h.check(shown, "acme's web cluster not rendered")
        for ep, health in re.findall(r'data-endpoint="([^"]+)" data-health="(\w+)"', shown[0]):
            want = healthy.get(("acme", "web", ep))
            h.check(want is not None and health == ("ok" if want > 0 else "bad"),
                    f"endpoint {ep}: dashboard {health}, metrics {want}")
        h.check(html.escape(h.workload_id("acme")) in shown[0], "upstream identity not shown")
        h.check('class="denial" data-event="tls_reject"' in dom, "audit denial not shown")

        shot = os.path.join(env.dir, "dashboard.png")
        render(browser, t.gw.admin_url("/"), env, screenshot=shot)
        h.check(os.path.exists(shot) and os.path.getsize(shot) > 1000, "no screenshot")
        kept = os.path.join(os.environ.get("PORTCULLIS_ITEST_ARTIFACTS", "/tmp"),
                            "portcullis-dashboard.png")
        shutil.copy(shot, kept)
        print(f"  screenshot: {kept}")
