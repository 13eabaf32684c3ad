"""Tenants on demand (issue #13, item 4): with more tenants than [limits] max_tenant_contexts,
start-up only indexes them and each tenant's TLS context is built at its first handshake, the
least recently used dropped past the cap.

One gateway, 50 tenants (each its own certificate), max_tenant_contexts = 5:
- every tenant's first handshake is served with that tenant's certificate, and never more than
  5 contexts are in memory (portcullis_tenant_contexts{state="built"}), so most are evicted and
  one served again after eviction is rebuilt with the same certificate;
- "broken" names another tenant's key: start-up does not notice (files exist), its first
  handshake is refused (tenant_quarantined, audit tenant_state deny naming the mismatch,
  portcullis_tenant_state quarantined) and the other tenants keep serving;
- `check` still validates every tenant and names the broken one.
Built off the event loop (tls/context_builder.h):
- before any handshake, every tenant already has its expiry series
  (portcullis_certificate_expiry_seconds{certificate="tenant:NAME"}, from a background read of
  its certificate file), matching the certificate's notAfter;
- eight concurrent first handshakes to one cold tenant all get its certificate, and it is built
  once (portcullis_tenant_context_builds_total rises by 1);
- connections that send a ClientHello for a cold tenant and close at once (while it builds) do
  not disturb the gateway (the sanitizer stage runs this too): the tenants serve afterwards.
"""

import hashlib
import os
import re
import socket
import ssl
import struct
import time

import harness as h
from harness import metric_sum, metrics

COUNT = 50
CAP = 5


def host(i):
    return f"t{i:02d}.lazy.example"


def tenant_toml(name, hostname, cert, key):
    return f"""name = "{name}"
hosts = [{h.toml_str(hostname)}]

[tls]
cert = {h.toml_str(cert)}
key = {h.toml_str(key)}

[[route]]
path_prefix = "/"
direct_response = "{name}"
"""


def leaf_sha256(pem_path):
    with open(pem_path, encoding="ascii") as f:
        text = f.read()
    first = text[:text.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(first)).hexdigest()


def served_sha256(port, servername):
    """sha256 of the leaf the gateway presents for `servername`, or None when refused."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=servername) as tls:
                return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()
    except (ssl.SSLError, ConnectionError):
        return None


def send_client_hello_and_close(port, servernames):
    """Opens one connection per name, sends each a ClientHello, then closes them all at once:
    their tenants' builds are under way (or queued) when the connections go."""
    socks = []
    try:
        for name in servernames:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            obj = ctx.wrap_bio(incoming, outgoing, server_hostname=name)
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                pass
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            socks.append(s)
            s.sendall(outgoing.read())
    finally:
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # RST: the gateway sees the close while the tenant may still be building


def concurrent_first_handshakes(port, servername, n):
    """n handshakes whose ClientHellos are written back to back (made beforehand, on
    connections already open), so that all reach the gateway while the tenant is cold; the
    served leaf hashes (None for a failed one)."""
    conns = []
    for _ in range(n):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(incoming, outgoing, server_hostname=servername)
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        conns.append((socket.create_connection(("127.0.0.1", port), timeout=10), obj,
                      incoming, outgoing))
    got = []
    try:
        for sock, _, _, outgoing in conns:
            sock.sendall(outgoing.read())
        for sock, obj, incoming, outgoing in conns:
            digest = None
            for _ in range(50):  # a handshake is a few flights
                data = sock.recv(65536)
                if not data:
                    break
                incoming.write(data)
                try:
                    obj.do_handshake()
                    digest = hashlib.sha256(obj.getpeercert(binary_form=True)).hexdigest()
                    break
                except ssl.SSLWantReadError:
                    pass
                finally:
                    if outgoing.pending:
                        sock.sendall(outgoing.read())
            got.append(digest)
    except (ssl.SSLError, OSError) as e:
        got.append(f"error: {e}")
    finally:
        for sock, _, _, _ in conns:
            sock.close()
    return got


def cert_not_after(pem_path):
    return ssl.cert_time_to_seconds(ssl._ssl._test_decode_cert(pem_path)["notAfter"])


def built(gw):
    return metric_sum(metrics(gw), "portcullis_tenant_contexts", state="built")


def test_tenants_are_built_at_first_handshake_within_the_cap():
    with h.TestEnv("lazy") as env:
        gw = h.Gateway(env, extra_gateway_toml=f"[limits]\nmax_tenant_contexts = {CAP}\n")
        mesh = h.init_ca(env.path("pki", "mesh"), "Mesh CA", h.TRUST_DOMAIN)
        cert, key = h.issue(mesh, env.path("pki", "gateway"), spiffe=h.GATEWAY_ID)
        gw.set_mesh(os.path.join(mesh, "ca.pem"), cert, key)
        ca = h.init_ca(env.path("pki", "tenants"), "Tenants CA")
        files = [h.issue(ca, env.path("pki", f"t{i:02d}"), dns=[host(i)]) for i in range(COUNT)]
        for i, (c, k) in enumerate(files):
            gw.add_tenant_file(f"t{i:02d}", tenant_toml(f"t{i:02d}", host(i), c, k))
        bad_host = "broken.lazy.example"
        bad_cert, _ = h.issue(ca, env.path("pki", "broken"), dns=[bad_host])
        gw.add_tenant_file("broken", tenant_toml("broken", bad_host, bad_cert, files[0][1]))
        gw.start()

        h.check(built(gw) == 0, f"{built(gw)} contexts built before any handshake")

        # --- every tenant has its expiry series before its context was ever built
        def expiry():
            return {l["certificate"]: v for n, l, v in metrics(gw)
                    if n == "portcullis_certificate_expiry_seconds"
                    and l.get("certificate", "").startswith("tenant:t")}
        series = h.wait_for(lambda: (lambda e: e if len(e) == COUNT else None)(expiry()), 20,
                            f"expiry series for all {COUNT} unbuilt tenants")
        for i in (0, COUNT - 1):
            want = cert_not_after(files[i][0]) - time.time()
            got = series[f"tenant:t{i:02d}"]
            h.check(abs(got - want) < 300, f"t{i:02d} expiry {got}, want about {want}")
        h.check(built(gw) == 0, f"{built(gw)} contexts built by the expiry pass")

        # --- concurrent first handshakes to one cold tenant: all served, one build
        builds = metric_sum(metrics(gw), "portcullis_tenant_context_builds_total")
        got = concurrent_first_handshakes(gw.port, host(COUNT - 1), 8)
        h.check(got == [leaf_sha256(files[COUNT - 1][0])] * 8, f"concurrent handshakes: {got}")
        after = metric_sum(metrics(gw), "portcullis_tenant_context_builds_total")
        h.check(after == builds + 1, f"{after - builds} builds for one cold tenant")

        # --- connections closed while their tenants build
        send_client_hello_and_close(gw.port, [host(i) for i in range(COUNT - 11, COUNT - 1)])
        for i in (COUNT - 11, COUNT - 2):
            h.check(served_sha256(gw.port, host(i)) == leaf_sha256(files[i][0]),
                    f"{host(i)} after connections closed during its build")
        for i, (c, _) in enumerate(files):
            got = served_sha256(gw.port, host(i))
            h.check(got == leaf_sha256(c), f"{host(i)}: served {got}, want its own certificate")
            n = built(gw)
            h.check(1 <= n <= CAP, f"after {i + 1} tenants, {n} contexts built (cap {CAP})")
        evicted = metric_sum(metrics(gw), "portcullis_tenant_context_evictions_total")
        h.check(evicted >= COUNT - CAP, f"{evicted} evictions for {COUNT} tenants, cap {CAP}")
        # The first tenant was evicted long ago: rebuilt, same certificate.
        h.check(served_sha256(gw.port, host(0)) == leaf_sha256(files[0][0]), "t00 after eviction")

        # --- a tenant whose files are broken is found at its first handshake
        refusals = metric_sum(metrics(gw), "portcullis_tls_handshake_failures_total",
                              reason="tenant_quarantined")
        h.check(served_sha256(gw.port, bad_host) is None, "the broken tenant was served")
        h.wait_for(lambda: metric_sum(metrics(gw), "portcullis_tls_handshake_failures_total",
                                      reason="tenant_quarantined") > refusals, 5,
                   "tls_handshake_failures_total{reason=tenant_quarantined}")
        line = gw.wait_audit(lambda e: e.get("event") == "tenant_state"
                             and e.get("tenant") == "broken"
                             and e.get("reason") == "tenant_quarantined"
                             and e.get("decision") == "deny", "tenant_state deny for broken")[-1]
        h.check(line.get("file", "").endswith("broken.toml") and line.get("detail"),
                f"audit line: {line}")
        states = {l["state"]: v for n, l, v in metrics(gw)
                  if n == "portcullis_tenant_state" and l.get("tenant") == "broken"}
        h.check(states == {"quarantined": 1}, f"broken: {states}")
        h.check(served_sha256(gw.port, bad_host) is None, "the broken tenant was served later")
        for i in (1, COUNT - 1):
            h.check(served_sha256(gw.port, host(i)) == leaf_sha256(files[i][0]),
                    f"{host(i)} after the broken tenant")

        r = h.run([h.portcullis_bin(), "check", "-c", gw.config_path], timeout=30)
        out = r.stdout + r.stderr
        h.check(r.returncode == 1, f"check with a broken tenant: exit {r.returncode}\n{out}")
        h.check(re.search(r"broken\.toml:\d+:\d+: error:", out), f"check output:\n{out}")

        # --- a rotated certificate: after the per-tenant reload, the expiry series follows
        # (only the new tenant is added to the background read; the others keep theirs)
        new_cert, new_key = h.issue(ca, env.path("pki", "t01-new"), dns=[host(1)], days=40)
        for src, dst in ((new_key, files[1][1]), (new_cert, files[1][0])):
            os.replace(src, dst)
        want = cert_not_after(files[1][0]) - time.time()
        h.wait_for(lambda: abs(expiry().get("tenant:t01", 0) - want) < 300, 20,
                   f"t01 expiry about {want} after its rotation")
        got = expiry()
        h.check(len(got) == COUNT, f"{len(got)} expiry series after the rotation")
        want0 = cert_not_after(files[0][0]) - time.time()
        h.check(abs(got["tenant:t00"] - want0) < 300, f"t00 expiry {got['tenant:t00']}")
