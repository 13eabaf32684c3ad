"""Rate limits (issue #13): per tenant ([rate_limit] in the tenant file) and per client address
([limits] client_requests_per_second), the client being the PROXY-protocol address.

One gateway for the file: a PROXY v1 listener (trusted from loopback), so each connection says
which client it is for. acme is limited to 5 requests/s (burst 5), clients to 40/s (burst 40).
acme is flooded over one keep-alive connection (bounded loop): it gets 429 with Retry-After,
while globex, on its own connection meanwhile, gets 200 every time; its latency before and
during the flood is printed (no timed assertion). Limiting is audited when it starts and when it
stops, not once per request, and counted under one token, rate_limited.
"""

import statistics
import threading
import time

import harness as h
from harness import https_conn, metric_sum, metrics

ACME_RATE = 5
CLIENT_RATE = 40
FLOOD = 200


def proxy_v1(src, sport=40000):
    return f"PROXY TCP4 {src} 127.0.0.1 {sport} 443\r\n".encode("ascii")


def conn_for(t, tenant, src):
    sni = {"acme": h.ACME_HOST, "globex": h.GLOBEX_HOST}[tenant]
    return https_conn(t.gw.port, sni, h.tenant_ca_pem(t, tenant), prelude=proxy_v1(src)), sni


def get(conn, host, path):
    conn.request("GET", path, headers={"Host": host})
    resp = conn.getresponse()
    resp.read()
    return resp.status, resp.getheader("Retry-After")


def timed_gets(conn, host, n, path="/app/q"):
    """n requests on one connection; returns (statuses, per-request seconds)."""
    statuses, times = [], []
    for i in range(n):
        t0 = time.perf_counter()
        status, _ = get(conn, host, f"{path}{i}")
        times.append(time.perf_counter() - t0)
        statuses.append(status)
    return statuses, times


def ms(times):
    return (f"median {statistics.median(times) * 1000:.2f} ms, "
            f"max {max(times) * 1000:.2f} ms over {len(times)}")


def build(env):
    port = h.free_port()
    listeners = [{"name": "public", "kind": "ingress", "address": f"127.0.0.1:{port}",
                  "proxy_protocol": "v1", "trusted_proxies": ["127.0.0.1/32"]}]
    limits = (f"[limits]\nclient_requests_per_second = {CLIENT_RATE}\n"
              f"client_request_burst = {CLIENT_RATE}\n")
    acme = f"\n[rate_limit]\nrequests_per_second = {ACME_RATE}\nburst = {ACME_RATE}\n"
    return h.build_topology(env, listeners=listeners, extra_gateway_toml=limits,
                            acme_extra_toml=acme)


def rate_audit(gw, **want):
    return [e for e in gw.audit_log() if e.get("event") == "rate_limit"
            and all(e.get(k) == v for k, v in want.items())]


def test_a_flooded_tenant_is_limited_and_the_other_keeps_being_served():
    with h.TestEnv("ratelimit") as env:
        t = build(env)
        quiet, quiet_host = conn_for(t, "globex", "192.0.2.10")
        statuses, before = timed_gets(quiet, quiet_host, 20)
        h.check(statuses == [200] * 20, f"globex before the flood: {statuses}")

        flood_result = {}

        def flood():
            conn, host = conn_for(t, "acme", "192.0.2.20")
            seen = []
            try:
                for i in range(FLOOD):
                    seen.append(get(conn, host, f"/f{i}"))
            finally:
                conn.close()
            flood_result["seen"] = seen

        flooder = threading.Thread(target=flood)
        flooder.start()
        during_statuses, during = [], []
        # Bounded, and under globex's own client limit (20 + 15 < burst 40).
        while flooder.is_alive() and len(during) < 15:
            s, tm = timed_gets(quiet, quiet_host, 1)
            during_statuses += s
            during += tm
        flooder.join(60)
        h.check(not flooder.is_alive(), "the flood did not finish")
        print(f"globex latency before the flood: {ms(before)}")
        print(f"globex latency during the flood: {ms(during) if during else 'no sample'}")
        h.check(during_statuses == [200] * len(during_statuses),
                f"globex refused during acme's flood: {sorted(set(during_statuses))}")

        seen = flood_result.get("seen", [])
        h.check(len(seen) == FLOOD, f"flood answered {len(seen)} of {FLOOD}")
        codes = [s for s, _ in seen]
        limited = [ra for s, ra in seen if s == 429]
        h.check(set(codes) <= {200, 429}, f"unexpected codes: {sorted(set(codes))}")
        h.check(codes[:ACME_RATE] == [200] * ACME_RATE, f"the burst was not served: {codes[:10]}")
        h.check(len(limited) >= FLOOD // 2, f"only {len(limited)} of {FLOOD} were 429")
        h.check(all(ra is not None and ra.isdigit() and int(ra) >= 1 for ra in limited),
                f"429 without a valid Retry-After: {set(limited)}")
        print(f"acme flood: {codes.count(200)} served, {len(limited)} refused with 429")

        # One audit line for the start, not one per refused request; one reason token.
        # (The flooding address also ran past its own client limit: a line with its source.)
        starts = t.gw.wait_audit(lambda e: e.get("event") == "rate_limit"
                                 and e.get("decision") == "deny" and "source" not in e,
                                 "rate_limit start")
        h.check(len(starts) == 1 and starts[0].get("tenant") == "acme"
                and starts[0].get("reason") == "rate_limited", f"start lines: {starts}")
        samples = metrics(t.gw)
        refused = metric_sum(samples, "portcullis_rate_limited_total", scope="tenant",
                             tenant="acme")
        client_refused_in_flood = metric_sum(samples, "portcullis_rate_limited_total",
                                             scope="client", tenant="")
        h.check(refused + client_refused_in_flood == len(limited),
                f"rate_limited_total {refused} + {client_refused_in_flood}, want {len(limited)}")
        h.check(metric_sum(samples, "portcullis_rejections_total", reason="rate_limited")
                == len(limited), "rejections_total{reason=rate_limited} does not match")
        h.check(metric_sum(samples, "portcullis_rate_limiting", scope="tenant",
                           tenant="acme") == 1, "rate_limiting gauge not 1 while limited")
        rl = [e for e in t.gw.access_log() if e.get("status") == 429]
        h.check(rl and all(e.get("reason") == "rate_limited" for e in rl),
                f"access log 429 lines: {rl[:2]}")

        # A quiet second later, the worker's next request notices the stop: one allow line.
        time.sleep(1.1)
        h.check(get(quiet, quiet_host, "/app/after")[0] == 200, "globex after the flood")
        stops = t.gw.wait_audit(lambda e: e.get("event") == "rate_limit"
                                and e.get("decision") == "allow" and "source" not in e,
                                "rate_limit stop")
        h.check(len(stops) == 1 and stops[0].get("tenant") == "acme"
                and stops[0].get("reason") == "rate_limit_ended", f"stop lines: {stops}")
        h.check(metric_sum(metrics(t.gw), "portcullis_rate_limiting", scope="tenant",
                           tenant="acme") == 0, "rate_limiting gauge not back to 0")
        quiet.close()

        # Per client, by the PROXY-protocol address: one address past 40/s gets 429 (scope
        # client) while another address of the same tenant is served.
        noisy, host = conn_for(t, "globex", "198.51.100.7")
        noisy_codes = [get(noisy, host, f"/app/n{i}")[0] for i in range(CLIENT_RATE * 2)]
        noisy.close()
        h.check(noisy_codes[:CLIENT_RATE] == [200] * CLIENT_RATE and 429 in noisy_codes,
                f"client limit: {noisy_codes}")
        other, host = conn_for(t, "globex", "198.51.100.8")
        h.check(get(other, host, "/app/other")[0] == 200, "another client address refused")
        other.close()
        client_starts = t.gw.wait_audit(
            lambda e: e.get("event") == "rate_limit" and e.get("decision") == "deny"
            and e.get("source") == "198.51.100.7", "client rate_limit start")
        h.check(len(client_starts) == 1, f"client start lines: {client_starts}")
        h.check(client_starts[0].get("tenant") == "globex", f"client start: {client_starts}")
        h.check(metric_sum(metrics(t.gw), "portcullis_rate_limited_total", scope="client",
                           tenant="") == noisy_codes.count(429) + client_refused_in_flood,
                "client refusals not counted")
        h.check(t.gw.proc.alive(), "gateway died")
