"""Issue #11 items 7-9: strict TLS where OpenSSL is lenient.

- Egress refuses a destination whose leaf certificate is itself a CA (502, reason `leaf_is_ca`)
  or whose EKU has no serverAuth (`eku_not_server_auth`), and nothing reaches that server; an
  entry with a proper leaf from the same CA serves (control).
- TLS 1.3 resumption issues a fresh ticket every time: a chain of `openssl s_client` connections
  that each spend the ticket the previous one received keeps resuming.
- A malformed server_name extension (raw ClientHello bytes over a socket) gets alert
  decode_error; a well-formed unknown name gets unrecognized_name.

Run standalone: /usr/bin/python3 tests/integration/run.py --portcullis PATH -k test_tls_hardening
"""

import os
import socket
import struct

import harness as h
from harness import upstream as ru

ALERT_DECODE_ERROR = 50
ALERT_UNRECOGNIZED_NAME = 112


# ---------------------------------------------------------------------------------------------
# egress: a leaf that is a CA

def ip_leaf(ca_dir, prefix, extensions):
    """An EC leaf for IP 127.0.0.1 signed by ca_dir with the given extension lines; returns
    (chain pem: leaf + CA, key)."""
    key, csr, leaf, pem = prefix + ".key", prefix + ".csr", prefix + ".leaf", prefix + ".pem"
    ext = prefix + ".ext"
    with open(ext, "w", encoding="ascii") as f:
        f.write("\n".join(extensions + ["subjectAltName=IP:127.0.0.1"]) + "\n")
    for argv in (["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-out", key],
                 ["req", "-new", "-key", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
                 ["x509", "-req", "-in", csr, "-CA", os.path.join(ca_dir, "ca.pem"),
                  "-CAkey", os.path.join(ca_dir, "ca.key"), "-CAcreateserial", "-out", leaf,
                  "-days", "30", "-sha256", "-extfile", ext]):
        r = h.run(["openssl"] + argv, timeout=60)
        h.check(r.returncode == 0, f"openssl {argv[0]} failed: {r.stderr}")
    with open(pem, "w", encoding="ascii") as out:
        for part in (leaf, os.path.join(ca_dir, "ca.pem")):
            with open(part, encoding="ascii") as f:
                out.write(f.read())
    return pem, key


def plain_get(port, dest, timeout=15):
    """GET / through a client_auth = "none" egress listener with Host: dest."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET / HTTP/1.1\r\nHost: {dest}\r\nConnection: close\r\n\r\n".encode())
        data, _ = ru.read_until_close(s, total_timeout=timeout)
    return data.decode("latin-1")


def test_egress_refuses_ca_leaf_and_eku_without_server_auth():
    with h.TestEnv("tlsharden-egress") as env:
        pki = env.mkdir("pki")
        mesh_ca = h.init_ca(os.path.join(pki, "mesh"), "Mesh CA", h.TRUST_DOMAIN)
        gw_cert, gw_key = h.issue(mesh_ca, os.path.join(pki, "gateway"), spiffe=h.GATEWAY_ID)
        partner = h.init_ca(os.path.join(pki, "partner"), "Partner CA")
        ca_leaf = ip_leaf(partner, os.path.join(pki, "ca-leaf"),
                          ["basicConstraints=critical,CA:TRUE",
                           "keyUsage=critical,keyCertSign,digitalSignature"])
        good_leaf = ip_leaf(partner, os.path.join(pki, "good-leaf"),
                            ["basicConstraints=critical,CA:FALSE",
                             "keyUsage=critical,digitalSignature",
                             "extendedKeyUsage=serverAuth"])
        sgc_leaf = ip_leaf(partner, os.path.join(pki, "sgc-leaf"),
                           ["basicConstraints=critical,CA:FALSE",
                            "keyUsage=critical,digitalSignature",
                            "extendedKeyUsage=nsSGC,msSGC"])
        bad = ru.RawUpstream(*ca_leaf, None).start()
        good = ru.RawUpstream(*good_leaf, None).start()
        sgc = ru.RawUpstream(*sgc_leaf, None).start()
        try:
            entries = ""
            for up in (bad, good, sgc):
                entries += (f"\n[[egress]]\nhost = \"127.0.0.1\"\nport = {up.port}\n"
                            f"ca = {h.toml_str(os.path.join(partner, 'ca.pem'))}\n"
                            "allow = [\"unauthenticated\"]\nallow_private = true\n")
            port = h.free_port()
            gw = h.Gateway(env, listeners=[{"name": "egress-plain", "kind": "egress",
                                            "address": f"127.0.0.1:{port}",
                                            "client_auth": "none"}],
                           extra_gateway_toml=entries)
            gw.set_mesh(os.path.join(mesh_ca, "ca.pem"), gw_cert, gw_key)
            gw.start()

            resp = plain_get(port, f"127.0.0.1:{good.port}")
            h.check(resp.startswith("HTTP/1.1 200"), f"control (proper leaf) failed: {resp!r}")

            resp = plain_get(port, f"127.0.0.1:{bad.port}")
            h.check(resp.startswith("HTTP/1.1 502"), f"CA leaf not refused: {resp!r}")
            gw.wait_access(lambda e: e.get("status") == 502 and e.get("reason") == "leaf_is_ca",
                           "status 502 reason leaf_is_ca")
            gw.wait_audit(lambda e: e.get("event") == "egress_tls_fail"
                          and e.get("reason") == "leaf_is_ca", "egress_tls_fail leaf_is_ca")
            with bad.lock:
                connections = len(bad.connections)
                received = [bytes(c) for c in bad.connections if c]
            # the gateway did dial (a TLS refusal, not a policy one) and sent no request byte
            h.check(connections >= 1, "the gateway never connected to the CA-leaf server")
            h.check(not received, f"the CA-leaf server received application bytes: {received!r}")

            # a leaf whose EKU names only the legacy server-gated-crypto purposes
            resp = plain_get(port, f"127.0.0.1:{sgc.port}")
            h.check(resp.startswith("HTTP/1.1 502"), f"SGC-only EKU not refused: {resp!r}")
            gw.wait_access(lambda e: e.get("status") == 502
                           and e.get("reason") == "eku_not_server_auth",
                           "status 502 reason eku_not_server_auth")
            with sgc.lock:
                received = [bytes(c) for c in sgc.connections if c]
            h.check(not received, f"the SGC-leaf server received application bytes: {received!r}")
        finally:
            bad.stop()
            good.stop()
            sgc.stop()


# ---------------------------------------------------------------------------------------------
# TLS 1.3: a fresh ticket after every resumption

REQUEST = "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"


def s_client(port, sni, sess_in, sess_out):
    argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", sni,
            "-tls1_3", "-ign_eof", "-sess_out", sess_out]
    if sess_in:
        argv += ["-sess_in", sess_in]
    # send a request and read to the close, so the post-handshake ticket arrives
    r = h.run(argv, timeout=15, input=REQUEST.format(host=sni))
    out = r.stdout + r.stderr
    return "reused" if "Reused," in out else "new" if "New," in out else "failed", out


def resumption_chain(env, port, sni, n):
    """n connections; each offers the ticket the previous one received (once: the file is
    removed after use), as an RFC 8446 client does. Returns the states."""
    states = []
    previous = None
    for i in range(n):
        sess_out = env.path(f"chain-{i}.sess")
        state, out = s_client(port, sni, previous, sess_out)
        h.check(state != "failed", f"connection {i} failed:\n{out[-1500:]}")
        states.append(state)
        if previous:
            os.unlink(previous)
        previous = sess_out if os.path.exists(sess_out) and os.path.getsize(sess_out) else None
    return states


def test_tls13_every_resumption_gets_a_fresh_ticket():
    with h.TestEnv("tlsharden-tickets") as env:
        t = h.build_topology(env)
        n = 10
        states = resumption_chain(env, t.gw.port, h.ACME_HOST, n)
        resumed = states.count("reused")
        print(f"s_client -sess_in/-sess_out chain: {resumed}/{n - 1} resumed "
              f"({100 * resumed // (n - 1)}%): {states}")
        h.check(states[0] == "new", f"first connection: {states}")
        h.check(resumed == n - 1, f"a used ticket was not replaced: {states}")


# ---------------------------------------------------------------------------------------------
# SNI alerts on raw ClientHello bytes

def ext(kind, body):
    return struct.pack("!HH", kind, len(body)) + body


def sni_body(name):
    entry = b"\x00" + struct.pack("!H", len(name)) + name
    return struct.pack("!H", len(entry)) + entry


def client_hello(server_name_ext):
    """A TLS 1.2 ECDHE ClientHello record; server_name_ext is the extension body (or None)."""
    exts = b"" if server_name_ext is None else ext(0, server_name_ext)
    exts += ext(10, struct.pack("!HHH", 4, 0x001D, 0x0017))            # supported_groups
    exts += ext(11, b"\x01\x00")                                         # ec_point_formats
    exts += ext(13, struct.pack("!HHHH", 6, 0x0403, 0x0804, 0x0401))   # signature_algorithms
    body = (b"\x03\x03" + os.urandom(32) + b"\x00" + struct.pack("!H", 4) + b"\xc0\x2b\xc0\x2f"
            + b"\x01\x00" + struct.pack("!H", len(exts)) + exts)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def first_record(port, hello):
    """Sends hello, returns (content type, alert description or None) of the server's answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(hello)
        data = b""
        for _ in range(100):
            if len(data) >= 7:
                break
            try:
                chunk = s.recv(7 - len(data))
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
    h.check(len(data) >= 6, f"no answer to the ClientHello: {data!r}")
    return data[0], (data[6] if data[0] == 21 and len(data) >= 7 else None)


def test_malformed_sni_gets_decode_error():
    with h.TestEnv("tlsharden-sni") as env:
        t = h.build_topology(env)
        port = t.gw.port
        good = sni_body(h.ACME_HOST.encode())
        corrupted_name = bytearray(good)
        corrupted_name[3:5] = struct.pack("!H", len(h.ACME_HOST) - 4)
        corrupted_list = bytearray(good)
        corrupted_list[0:2] = struct.pack("!H", len(good))
        two = good + b"\x00\x00\x01x"
        two = struct.pack("!H", len(two) - 2) + two[2:]

        kind, _ = first_record(port, client_hello(good))
        h.check(kind == 22, f"a well-formed known name did not get a ServerHello: {kind}")
        kind, alert = first_record(port, client_hello(sni_body(b"nobody.example")))
        h.check(alert == ALERT_UNRECOGNIZED_NAME, f"unknown name: alert {alert}")
        for what, body in (("empty extension", b""), ("empty list", b"\x00\x00"),
                           ("corrupted name length", bytes(corrupted_name)),
                           ("corrupted list length", bytes(corrupted_list)),
                           ("a second entry", two)):
            kind, alert = first_record(port, client_hello(body))
            h.check(alert == ALERT_DECODE_ERROR,
                    f"{what}: expected alert decode_error (50), got type {kind} alert {alert}")
