"""The egress fixture: a fake external TLS server, a DNS stub, the gateway with two egress
listeners (mesh and plain), and the PKI around them. See test_egress.py for the topology."""

import base64
import hashlib
import os
import ssl
import subprocess
import threading

from .clients import CURL_MARK, CurlResult, curl
from .dns import DnsStub
from .gateway import Gateway, toml_list, toml_str
from .pki import GATEWAY_ID, TRUST_DOMAIN, cert_text, init_ca, issue, workload_id
from .procs import TestEnv, check, free_port, portcullis_bin, run
from .servers import Listener

__all__ = [
    'PARTNER_HOST', 'EGRESS_SNI', 'BILLING_ID', 'WEB_ID', 'FakeTlsServer', 'rsa1024_leaf',
    'expired_leaf', 'spki_pin_openssl', 'spki_pin', 'EgressGateway', 'egress_entry', 'Fixture',
    'make_pki', 'start_gateway', 'mesh_request', 'plain_request', 'audit_for', 'Scenario',
    'default_entries', 'good_server'
]


PARTNER_HOST = "api.partner.test"
EGRESS_SNI = "egress.portcullis.mesh.example"  # DNS SAN on the gateway's cert, for curl -> gateway
BILLING_ID = workload_id("acme", "billing")
WEB_ID = workload_id("acme", "web")


# ---------------------------------------------------------------------------------------------
# the fake external server

class FakeTlsServer(Listener):
    """TLS server on 127.0.0.1:<free port>; answers any request with 200 and a fixed body.

    Records: connections (TCP accepts), handshakes (completed), handshake_errors, requests (raw
    application bytes received after the handshake), sni (names seen in ClientHello)."""

    def __init__(self, cert, key, *, max_tls=None, seclevel0=False, body=None):
        super().__init__()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if seclevel0:  # before the certificate: at the default level an RSA-1024 key is refused
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        if max_tls is not None:
            ctx.maximum_version = max_tls
        ctx.load_cert_chain(cert, key)
        self.sni = []
        ctx.sni_callback = self._on_sni
        self.ctx = ctx
        self.body = body or f"hello from {PARTNER_HOST}"
        self.connections = 0
        self.handshakes = 0
        self.handshake_errors = []
        self.requests = []
        self._lock = threading.Lock()

    def _on_sni(self, _sslsock, name, _ctx):
        with self._lock:
            self.sni.append(name)

    def serve(self, conn):
        with self._lock:
            self.connections += 1
        conn.settimeout(5)
        try:
            tls = self.ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as e:
            with self._lock:
                self.handshake_errors.append(str(e))
            conn.close()
            return
        with self._lock:
            self.handshakes += 1
        data = b""
        try:  # what came before an error is recorded too
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (ssl.SSLError, OSError):
            pass
        if data:
            with self._lock:
                self.requests.append(data)
        if b"\r\n\r\n" in data:
            line = data.split(b"\r\n", 1)[0].decode("latin-1")
            parts = line.split(" ")
            path = parts[1] if len(parts) > 1 else "?"
            body = f"{self.body} {path}\n".encode()
            resp = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                    + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
            try:
                tls.sendall(resp)
            except (ssl.SSLError, OSError):
                pass
        try:
            tls.close()
        except OSError:
            pass

    def snapshot(self):
        with self._lock:
            return {"connections": self.connections, "handshakes": self.handshakes,
                    "requests": list(self.requests), "errors": list(self.handshake_errors),
                    "sni": list(self.sni)}


# ---------------------------------------------------------------------------------------------
# PKI helpers beyond harness.issue

def _openssl(argv, what):
    r = run(["openssl"] + argv, timeout=60)
    check(r.returncode == 0, f"openssl {what} failed: {r.stderr}")
    return r


def _leaf_ext(path, dns):
    with open(path, "w", encoding="ascii") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth,clientAuth\n"
                "subjectAltName=" + ",".join(f"DNS:{d}" for d in dns) + "\n")
    return path


def rsa1024_leaf(ca_dir, prefix, dns):
    """RSA-1024 leaf signed by ca_dir (portcullis certs issue refuses < 2048)."""
    key, pem, csr = prefix + ".key", prefix + ".pem", prefix + ".csr"
    _openssl(["genrsa", "-out", key, "1024"], "genrsa 1024")
    _openssl(["req", "-new", "-key", key, "-out", csr, "-subj", f"/CN={dns[0]}"], "req")
    _openssl(["x509", "-req", "-in", csr, "-CA", os.path.join(ca_dir, "ca.pem"),
              "-CAkey", os.path.join(ca_dir, "ca.key"), "-CAcreateserial", "-out", pem,
              "-days", "30", "-sha256", "-extfile", _leaf_ext(prefix + ".ext", dns)],
             "x509 -req (rsa1024)")
    return pem, key


def expired_leaf(ca_dir, prefix, dns):
    """A leaf valid 2020-01-01 .. 2021-01-01 signed by ca_dir, via `openssl ca` dates."""
    key, pem, csr = prefix + ".key", prefix + ".pem", prefix + ".csr"
    work = prefix + ".ca"
    os.makedirs(os.path.join(work, "new"), exist_ok=True)
    open(os.path.join(work, "index.txt"), "w", encoding="ascii").close()
    with open(os.path.join(work, "serial"), "w", encoding="ascii") as f:
        f.write("1000\n")
    cnf = os.path.join(work, "ca.cnf")
    with open(cnf, "w", encoding="ascii") as f:
        f.write(f"""[ ca ]
default_ca = minimal

[ minimal ]
dir = {work}
database = {work}/index.txt
new_certs_dir = {work}/new
serial = {work}/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none

[ any ]
commonName = supplied
""")
    _openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-out", key], "genpkey")
    _openssl(["req", "-new", "-key", key, "-out", csr, "-subj", f"/CN={dns[0]}"], "req")
    _openssl(["ca", "-batch", "-config", cnf, "-cert", os.path.join(ca_dir, "ca.pem"),
              "-keyfile", os.path.join(ca_dir, "ca.key"), "-in", csr, "-out", pem, "-notext",
              "-startdate", "20200101000000Z", "-enddate", "20210101000000Z",
              "-extfile", _leaf_ext(prefix + ".ext", dns)], "ca (expired leaf)")
    text = cert_text(pem)
    check("2021 GMT" in text, f"expired leaf has unexpected dates:\n{text}")
    return pem, key


def spki_pin_openssl(pem):
    pub = subprocess.run(["openssl", "x509", "-noout", "-pubkey", "-in", pem],
                         capture_output=True, timeout=30, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         capture_output=True, timeout=30, check=True).stdout
    return "sha256/" + base64.b64encode(hashlib.sha256(der).digest()).decode()


def spki_pin(pem):
    """The pin as `portcullis certs inspect` prints it, checked against openssl's computation."""
    want = spki_pin_openssl(pem)
    r = run([portcullis_bin(), "certs", "inspect", pem], timeout=30)
    check(r.returncode == 0, f"certs inspect failed: {r.stderr}")
    check(want in r.stdout, f"certs inspect does not print the SPKI pin {want}:\n{r.stdout}")
    return want


# ---------------------------------------------------------------------------------------------
# the gateway + the standard egress fixture

class EgressGateway(Gateway):
    """harness.Gateway with [gateway] resolver set (extra_gateway_toml cannot reopen [gateway])."""

    resolver = ""

    def gateway_toml(self):
        text = super().gateway_toml()
        if self.resolver:
            line = f"resolver = {toml_str(self.resolver)}\n"
            text = text.replace("[gateway]\n", "[gateway]\n" + line, 1)
        return text


def egress_entry(host, port, *, ca, allow, pins=None, min_tls=None, allow_private=True):
    lines = ["[[egress]]", f"host = {toml_str(host)}", f"port = {port}",
             f"ca = {toml_str(ca)}", f"allow = {toml_list(allow)}",
             f"allow_private = {'true' if allow_private else 'false'}"]
    if pins is not None:
        lines.append(f"pins = {toml_list(pins)}")
    if min_tls is not None:
        lines.append(f"min_tls = {toml_str(min_tls)}")
    return "\n".join(lines) + "\n"


class Fixture:
    pass


def make_pki(env):
    f = Fixture()
    f.env = env
    pki = env.mkdir("pki")
    f.mesh_ca = init_ca(os.path.join(pki, "mesh"), "Mesh CA", TRUST_DOMAIN)
    f.mesh_ca_pem = os.path.join(f.mesh_ca, "ca.pem")
    f.gw_cert, f.gw_key = issue(f.mesh_ca, os.path.join(pki, "gateway"), spiffe=GATEWAY_ID,
                                  dns=[EGRESS_SNI])
    f.billing = issue(f.mesh_ca, os.path.join(pki, "billing"), spiffe=BILLING_ID)
    f.web = issue(f.mesh_ca, os.path.join(pki, "web"), spiffe=WEB_ID)
    f.partner_ca = init_ca(os.path.join(pki, "partner"), "Partner CA")
    f.partner_ca_pem = os.path.join(f.partner_ca, "ca.pem")
    f.server_cert, f.server_key = issue(f.partner_ca, os.path.join(pki, "api"),
                                          dns=[PARTNER_HOST])
    f.pki = pki
    return f


def start_gateway(f, entries, resolver):
    """Starts the gateway with the egress listeners, the given [[egress]] text and resolver."""
    mesh_port, plain_port = free_port(), free_port()
    listeners = [{"name": "egress", "kind": "egress", "address": f"127.0.0.1:{mesh_port}",
                  "client_auth": "mesh"},
                 {"name": "egress-plain", "kind": "egress", "address": f"127.0.0.1:{plain_port}",
                  "client_auth": "none"}]
    gw = EgressGateway(f.env, listeners=listeners, extra_gateway_toml="\n" + entries)
    gw.resolver = resolver
    gw.set_mesh(f.mesh_ca_pem, f.gw_cert, f.gw_key)
    gw.write()
    r = run([portcullis_bin(), "check", "-c", gw.config_path], timeout=30, cwd=gw.dir)
    check(r.returncode == 0, f"portcullis check refused the egress config:\n{r.stdout}"
            f"\n{r.stderr}\n{gw.gateway_toml()}")
    gw.start()
    f.gw = gw
    f.mesh_port, f.plain_port = mesh_port, plain_port
    return gw


def mesh_request(f, dest, path="/", *, identity="billing", timeout=15, extra=()):
    """curl to the mesh egress listener with a workload cert; Host names the destination."""
    cert, key = {"billing": f.billing, "web": f.web, None: (None, None)}[identity]
    return curl(path, host=EGRESS_SNI, port=f.mesh_port, cacert=f.mesh_ca_pem, cert=cert,
                  key=key, headers=[f"Host: {dest}"], timeout=timeout, extra=extra)


def plain_request(f, dest, path="/", *, proxy_form=False, timeout=15):
    """curl to the client_auth = "none" listener (plain HTTP)."""
    argv = ["curl", "-sS", "--max-time", str(timeout), "--http1.1",
            "-w", CURL_MARK + "%{http_code} %{http_version}"]
    if proxy_form:
        argv += ["-x", f"http://127.0.0.1:{f.plain_port}", f"http://{dest}{path}"]
    else:
        argv += ["-H", f"Host: {dest}", f"http://127.0.0.1:{f.plain_port}{path}"]
    r = run(argv, timeout=timeout + 10)
    body, sep, tail = r.stdout.rpartition(CURL_MARK)
    if not sep:
        body, tail = r.stdout, ""
    fields = tail.split()
    status = int(fields[0]) if fields and fields[0].isdigit() else 0
    return CurlResult(r.returncode, status, body, fields[1] if len(fields) > 1 else "",
                        r.stderr)


def audit_for(gw, event, reason, destination_part, timeout=5, need_source=True):
    def match(e):
        return (e.get("event") == event and e.get("reason") == reason
                and destination_part in str(e.get("destination", "")))
    lines = gw.wait_audit(match, f"{event} {reason} {destination_part}", timeout=timeout)
    e = lines[-1]
    want_decision = "allow" if event == "egress_allow" else "deny"
    check(e.get("decision") == want_decision, f"audit decision {e.get('decision')!r}: {e}")
    if need_source:
        check("source" in e, f"audit line lacks source: {e}")
    return e


class Scenario:
    """PKI + DNS stub + fake server + gateway, torn down in reverse order."""

    def __init__(self, name, *, server=None, entries=None, dns=None):
        self.name = name
        self.server_factory = server
        self.entries_factory = entries
        self.dns_records = dns

    def __enter__(self):
        self.env = TestEnv(self.name).__enter__()
        try:
            self.f = make_pki(self.env)
            self.dns = DnsStub(self.dns_records or {PARTNER_HOST: ["127.0.0.1"]}).start()
            self.server = None
            if self.server_factory:
                self.server = self.server_factory(self.f).__enter__()
            port = self.server.port if self.server else free_port()
            self.f.dest_port = port
            entries = (self.entries_factory or default_entries)(self.f, port)
            start_gateway(self.f, entries, self.dns.address)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        # the gateway (a Proc of env) goes first, then our threads
        if hasattr(self, "env"):
            for proc in reversed(self.env.procs):
                try:
                    proc.stop()
                except Exception:  # noqa: BLE001
                    pass
        if getattr(self, "server", None):
            self.server.__exit__(None, None, None)
        if getattr(self, "dns", None):
            self.dns.stop()
        if hasattr(self, "env"):
            self.env.__exit__(*exc)


def default_entries(f, port, **kw):
    return egress_entry(PARTNER_HOST, port, ca=f.partner_ca_pem, allow=[BILLING_ID], **kw)


def good_server(f):
    return FakeTlsServer(f.server_cert, f.server_key)
