"""Shared harness for the Portcullis integration tests.

Everything here runs on loopback with free ports (bind port 0, read it, close), in a temporary
directory per test, and stops only the processes it started, by pid. Clients and servers are the
real ones: curl, nghttp, openssl s_client, nginx.

Environment (set by run.py):
  PORTCULLIS_BIN        path of the portcullis binary under test
  PORTCULLIS_ITEST_RUN  a directory shared by all tests of one run (for the large test blob)
  PORTCULLIS_ITEST_KEEP "1" keeps each test's temporary directory
"""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

TRUST_DOMAIN = "mesh.example"
GATEWAY_ID = f"spiffe://{TRUST_DOMAIN}/ns/portcullis/sa/gateway"
MIB = 1024 * 1024


class Skip(Exception):
    """Raised by a test that cannot run here; run.py prints SKIP with the reason."""


class TestFailure(AssertionError):
    pass


def check(cond, message):
    if not cond:
        raise TestFailure(message)


def portcullis_bin():
    path = os.environ.get("PORTCULLIS_BIN", "")
    check(path and os.path.exists(path), f"portcullis binary not found: {path!r}")
    return path


# ---------------------------------------------------------------------------------------------
# processes, ports, waiting

def free_port(host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ipv6_loopback_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def run(argv, timeout=60, input=None, cwd=None, env=None):
    """Runs a command to completion; returns CompletedProcess with text stdout/stderr."""
    try:
        return subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout,
                              cwd=cwd, env=env, errors="replace")
    except subprocess.TimeoutExpired as e:
        raise TestFailure(f"timed out after {timeout}s: {' '.join(argv)}") from e


def wait_for(pred, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TestFailure(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def tcp_connectable(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_get(url, timeout=2.0):
    """Plain-HTTP GET (admin endpoints). Returns (status, body) or (None, error text)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (OSError, ValueError) as e:
        return None, str(e)


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class RssSampler:
    """Samples VmRSS of a pid every interval seconds in a thread; max_kib after stop()."""

    def __init__(self, pid, interval=0.05):
        self.pid = pid
        self.interval = interval
        self.baseline_kib = rss_kib(pid) or 0
        self.max_kib = self.baseline_kib
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            v = rss_kib(self.pid)
            if v is not None:
                self.max_kib = max(self.max_kib, v)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def growth_mib(self):
        return (self.max_kib - self.baseline_kib) / 1024.0


class Proc:
    """A child process we started; stdout/stderr go to files in the test directory."""

    def __init__(self, name, argv, directory, cwd=None, env=None):
        self.name = name
        self.argv = argv
        self.out_path = os.path.join(directory, f"{name}.out")
        self.err_path = os.path.join(directory, f"{name}.err")
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.popen = subprocess.Popen(argv, stdout=self._out, stderr=self._err,
                                      stdin=subprocess.DEVNULL, cwd=cwd, env=env)
        self.pid = self.popen.pid
        self.expected_exit = False  # set once we stop it (or a test expects it to exit)

    def alive(self):
        return self.popen.poll() is None

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout):
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signals our own pid, waits, and SIGKILLs it if it does not exit. Returns exit code."""
        self.expected_exit = True
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            if self.wait(timeout) is None:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait()
        for f in (self._out, self._err):
            if not f.closed:
                f.close()
        return self.popen.returncode

    def stdout_text(self):
        self._out.flush()
        with open(self.out_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stderr_text(self):
        self._err.flush()
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def describe(self):
        return (f"{self.name} (pid {self.pid}, exit {self.popen.poll()}) stderr tail:\n"
                + self.stderr_text()[-2000:])


class TestEnv:
    """Temporary directory + the processes a test started. Use as a context manager."""

    def __init__(self, name="test"):
        self.dir = tempfile.mkdtemp(prefix=f"pc-itest-{name}-")
        os.chmod(self.dir, 0o755)  # nginx workers may run as another user
        self.procs = []

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def mkdir(self, *parts):
        p = self.path(*parts)
        os.makedirs(p, exist_ok=True)
        return p

    def write(self, relpath, text):
        p = self.path(relpath)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
        return p

    def start(self, name, argv, cwd=None, env=None):
        proc = Proc(name, argv, self.dir, cwd=cwd, env=env)
        self.procs.append(proc)
        return proc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for proc in reversed(self.procs):
            code = proc.popen.poll()
            if code is not None and code != 0 and not proc.expected_exit:
                how = f"signal {-code}" if code < 0 else f"exit {code}"
                print(f"  NOTE: {proc.name} (pid {proc.pid}) died during the test: {how}")
            try:
                proc.stop()
            except Exception:  # noqa: BLE001 - cleanup must go on
                pass
        if os.environ.get("PORTCULLIS_ITEST_KEEP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"  (kept {self.dir})")


# ---------------------------------------------------------------------------------------------
# PKI: `portcullis certs`, with an openssl CLI fallback while the command is not there

_fallback_noted = False


def _note_fallback(why):
    global _fallback_noted
    if not _fallback_noted:
        print(f"  NOTE: portcullis certs unavailable ({why}); using the openssl CLI fallback")
        _fallback_noted = True


def _pki_fallback_forced():
    return os.environ.get("PORTCULLIS_ITEST_OPENSSL_PKI") == "1"


def init_ca(directory, name, trust_domain=None):
    """Makes a CA in directory (ca.pem, ca.key). Returns directory."""
    os.makedirs(directory, exist_ok=True)
    ca_pem, ca_key = os.path.join(directory, "ca.pem"), os.path.join(directory, "ca.key")
    if not _pki_fallback_forced():
        argv = [portcullis_bin(), "certs", "init-ca", "--dir", directory, "--name", name]
        if trust_domain:
            argv += ["--trust-domain", trust_domain]
        r = run(argv, timeout=30)
        if r.returncode == 0 and os.path.exists(ca_pem) and os.path.exists(ca_key):
            return directory
        _note_fallback(f"init-ca exit {r.returncode}: {(r.stderr or r.stdout).strip()[:200]}")
    r = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", ca_key, "-out", ca_pem, "-days", "3650", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash"])
    check(r.returncode == 0, f"openssl init-ca failed: {r.stderr}")
    return directory


def issue(ca_dir, prefix, dns=(), spiffe=None, days=None, key="ec", cn=None):
    """Issues a leaf: prefix.pem (leaf + CA) and prefix.key. Returns (pem, key)."""
    os.makedirs(os.path.dirname(prefix) or ".", exist_ok=True)
    pem, keyp = prefix + ".pem", prefix + ".key"
    if not _pki_fallback_forced():
        argv = [portcullis_bin(), "certs", "issue", "--ca", ca_dir, "--out", prefix]
        for d in dns:
            argv += ["--dns", d]
        if spiffe:
            argv += ["--spiffe", spiffe]
        if days is not None:
            argv += ["--days", str(days)]
        if key:
            argv += ["--key", key]
        r = run(argv, timeout=30)
        if r.returncode == 0 and os.path.exists(pem) and os.path.exists(keyp):
            return pem, keyp
        _note_fallback(f"issue exit {r.returncode}: {(r.stderr or r.stdout).strip()[:200]}")
    if key == "rsa":
        r = run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                 "-out", keyp])
    else:
        r = run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", keyp])
    check(r.returncode == 0, f"openssl genpkey failed: {r.stderr}")
    sans = [f"DNS:{d}" for d in dns] + ([f"URI:{spiffe}"] if spiffe else [])
    subject_cn = cn or (dns[0] if dns else (spiffe.rsplit("/", 1)[-1] if spiffe else "leaf"))
    ext = prefix + ".ext"
    with open(ext, "w", encoding="ascii") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth,clientAuth\n"
                "authorityKeyIdentifier=keyid\n")
        if sans:
            f.write("subjectAltName=" + ",".join(sans) + "\n")
    csr = prefix + ".csr"
    r = run(["openssl", "req", "-new", "-key", keyp, "-out", csr, "-subj", f"/CN={subject_cn}"])
    check(r.returncode == 0, f"openssl req failed: {r.stderr}")
    leaf = prefix + ".leaf.pem"
    r = run(["openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(ca_dir, "ca.pem"),
             "-CAkey", os.path.join(ca_dir, "ca.key"), "-CAcreateserial", "-out", leaf,
             "-days", str(days if days is not None else 90), "-extfile", ext, "-sha256"])
    check(r.returncode == 0, f"openssl x509 -req failed: {r.stderr}")
    with open(pem, "w", encoding="ascii") as out:
        for part in (leaf, os.path.join(ca_dir, "ca.pem")):
            with open(part, encoding="ascii") as f:
                out.write(f.read())
    for p in (ext, csr, leaf):
        os.unlink(p)
    return pem, keyp


def issue_expired(ca_dir, work, key, dns):
    """A leaf for the existing key file `key` with DNS names `dns` that expired on 2021-01-01,
    signed by the CA in ca_dir. `openssl ca` (explicit dates: neither `certs issue` nor
    `x509 -req` back-dates); its database lives in the new directory `work`. Returns the leaf's
    path (the leaf alone, no chain)."""
    os.makedirs(work, exist_ok=True)
    open(os.path.join(work, "index.txt"), "w", encoding="ascii").close()
    with open(os.path.join(work, "serial"), "w", encoding="ascii") as f:
        f.write("1000\n")
    with open(os.path.join(work, "ca.cnf"), "w", encoding="ascii") as f:
        f.write(f"""[ca]
default_ca = c
[c]
database = {work}/index.txt
new_certs_dir = {work}
serial = {work}/serial
default_md = sha256
policy = p
copy_extensions = copy
unique_subject = no
[p]
commonName = supplied
""")
    csr = os.path.join(work, "req.csr")
    r = run(["openssl", "req", "-new", "-key", key, "-out", csr, "-subj", f"/CN={dns[0]}",
             "-addext", "subjectAltName=" + ",".join(f"DNS:{d}" for d in dns)])
    check(r.returncode == 0, f"openssl req failed: {r.stderr}")
    leaf = os.path.join(work, "leaf.pem")
    r = run(["openssl", "ca", "-batch", "-config", os.path.join(work, "ca.cnf"),
             "-cert", os.path.join(ca_dir, "ca.pem"), "-keyfile", os.path.join(ca_dir, "ca.key"),
             "-in", csr, "-out", leaf, "-notext",
             "-startdate", "20200101000000Z", "-enddate", "20210101000000Z"])
    check(r.returncode == 0, f"openssl ca failed: {r.stderr}")
    return leaf


def cert_text(pem_path_or_text):
    """`openssl x509 -text` of the first certificate in a file or PEM string."""
    if "-----BEGIN" in pem_path_or_text:
        r = run(["openssl", "x509", "-noout", "-text"], input=pem_path_or_text)
    else:
        r = run(["openssl", "x509", "-noout", "-text", "-in", pem_path_or_text])
    check(r.returncode == 0, f"openssl x509 failed: {r.stderr}")
    return r.stdout


def cert_der_sha256(pem_path):
    r = subprocess.run(["openssl", "x509", "-outform", "DER", "-in", pem_path],
                       capture_output=True, timeout=30, check=False)
    check(r.returncode == 0, "openssl x509 -outform DER failed")
    return hashlib.sha256(r.stdout).hexdigest()


# ---------------------------------------------------------------------------------------------
# large test data, shared by all tests of one run

def shared_blob(size_mib=256):
    """A file of size_mib MiB of random bytes, made once per run. Returns (path, sha256 hex)."""
    base = os.environ.get("PORTCULLIS_ITEST_RUN") or tempfile.gettempdir()
    path = os.path.join(base, f"blob-{size_mib}M.bin")
    digest_path = path + ".sha256"
    if not (os.path.exists(path) and os.path.exists(digest_path)):
        h = hashlib.sha256()
        with open(path + ".tmp", "wb") as f:
            for _ in range(size_mib):
                chunk = os.urandom(MIB)
                h.update(chunk)
                f.write(chunk)
        os.rename(path + ".tmp", path)
        with open(digest_path, "w", encoding="ascii") as f:
            f.write(h.hexdigest())
    with open(digest_path, encoding="ascii") as f:
        return path, f.read().strip()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MIB)
            if not b:
                return h.hexdigest()
            h.update(b)


# ---------------------------------------------------------------------------------------------
# nginx: the mTLS upstream (and, for the benchmarks, a reverse proxy)

class NginxServer:
    """One server block of the fixture: TLS, requires a client cert from the mesh CA."""

    def __init__(self, label, cert, key, client_ca, port=None, http2=True, host="127.0.0.1"):
        self.label = label
        self.cert, self.key, self.client_ca = cert, key, client_ca
        self.host = host
        self.port = port or free_port(host)
        self.http2 = http2

    @property
    def endpoint(self):
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class Nginx:
    """nginx as a non-daemon child with its own prefix directory (DIR)."""

    def __init__(self, env, name="nginx"):
        self.env = env
        self.name = name
        self.dir = env.mkdir(name)
        self.www = env.mkdir(name, "www")
        env.mkdir(name, "www", "files")
        env.mkdir(name, "www", "upload")
        env.mkdir(name, "tmp")
        self.servers = []
        self.extra_http = ""
        self.proc = None

    def add_server(self, label, cert, key, client_ca, http2=True, host="127.0.0.1"):
        s = NginxServer(label, cert, key, client_ca, http2=http2, host=host)
        self.servers.append(s)
        return s

    def server(self, label):
        for s in self.servers:
            if s.label == label:
                return s
        raise KeyError(label)

    def add_file(self, name, source_path):
        """Makes source_path downloadable as /files/<name> (a symlink, no copy)."""
        dst = os.path.join(self.www, "files", name)
        if os.path.lexists(dst):
            os.unlink(dst)
        os.symlink(source_path, dst)
        return dst

    def uploaded(self, name):
        return os.path.join(self.www, "upload", name)

    def _server_block(self, s):
        d = self.dir
        listen = f"{s.endpoint} ssl" + (" http2" if s.http2 else "")
        headers = ("xfcc=$http_x_forwarded_client_cert\\n"
                   "xff=$http_x_forwarded_for\\n"
                   "xrid=$http_x_request_id\\n"
                   "xfp=$http_x_forwarded_proto\\n"
                   "xfh=$http_x_forwarded_host\\n"
                   "forwarded=$http_forwarded\\n"
                   "host=$host\\n"
                   "proto=$server_protocol\\n"
                   "sni=$ssl_server_name\\n"
                   "client_verify=$ssl_client_verify\\n"
                   "client_dn=$ssl_client_s_dn\\n")
        return f"""
    server {{
        listen {listen};
        server_name _;
        ssl_certificate {s.cert};
        ssl_certificate_key {s.key};
        ssl_verify_client on;
        ssl_client_certificate {s.client_ca};
        ssl_verify_depth 2;
        ssl_protocols TLSv1.2 TLSv1.3;
        client_max_body_size 0;
        set $who "{s.label}";

        location = /whoami {{ return 200 "$ssl_client_s_dn $ssl_client_verify\\n"; }}
        location = /cert {{ return 200 "$ssl_client_escaped_cert"; }}
        location = /headers {{ return 200 "{headers}"; }}
        location /files/ {{ root {d}/www; }}
        location /upload/ {{
            root {d}/www;
            dav_methods PUT;
            create_full_put_path on;
            client_body_temp_path {d}/tmp/put;
        }}
        location = /sink {{ return 200 "sink $request_length\\n"; }}
        location /h2/ {{ rewrite ^/h2(/.*)$ $1 last; }}
        location / {{ return 200 "hello from $who upstream $uri\\n"; }}
    }}
"""

    def write_config(self):
        d = self.dir
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = f"""{user}worker_processes 1;
events {{ worker_connections 4096; }}
http {{
    default_type text/plain;
    types {{ application/octet-stream bin; }}
    log_format itest '$remote_addr "$request" $status $request_length $body_bytes_sent '
                     '"$http_x_forwarded_client_cert" "$http_x_request_id" "$ssl_client_verify"';
    access_log {d}/access.log itest;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    sendfile on;
    keepalive_requests 100000;
{self.extra_http}
{''.join(self._server_block(s) for s in self.servers)}
}}
"""
        path = os.path.join(d, "nginx.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write(conf)
        return path

    def start(self, conf=None, proc_name=None):
        """Writes the config and runs nginx on it; or runs it on `conf`, a config file a test
        edited (proc_name then names the new process's output files)."""
        conf = conf or self.write_config()
        d = self.dir
        argv = ["nginx", "-p", d + "/", "-c", conf,
                "-g", f"daemon off; pid {d}/nginx.pid; error_log {d}/error.log;"]
        r = run(argv[:-2] + ["-t"] + argv[-2:])
        check(r.returncode == 0, f"nginx -t failed:\n{r.stderr}")
        self.proc = self.env.start(proc_name or self.name, argv)
        for s in self.servers:
            host = s.host
            wait_for(lambda: tcp_connectable(host, s.port) or not self.proc.alive(), 10,
                     f"nginx {s.label} on port {s.port}")
            check(self.proc.alive(), f"nginx exited: {self.error_log()}")
        return self

    def error_log(self):
        try:
            with open(os.path.join(self.dir, "error.log"), encoding="utf-8",
                      errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def access_log(self):
        try:
            with open(os.path.join(self.dir, "access.log"), encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""


# ---------------------------------------------------------------------------------------------
# the gateway

def toml_str(s):
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def toml_list(items):
    return "[" + ", ".join(toml_str(i) for i in items) + "]"


def read_json_lines(path):
    out = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
    except OSError:
        pass
    return out


class Gateway:
    """A portcullis configuration (gateway.toml + tenants.d/) and the running process."""

    def __init__(self, env, name="gw", listeners=None, workers=1, extra_gateway_toml=""):
        self.env = env
        self.name = name
        self.dir = env.mkdir(name)
        env.mkdir(name, "tenants.d")
        self.admin_port = free_port()
        # listeners: list of dicts {name, address, ...}; default one IPv4 ingress listener
        if listeners is None:
            listeners = [{"name": "public", "kind": "ingress",
                          "address": f"127.0.0.1:{free_port()}", "unknown_sni": "reject"}]
        self.listeners = listeners
        self.workers = workers
        self.extra_gateway_toml = extra_gateway_toml
        self.mesh = None  # (ca, cert, key)
        self.proc = None

    @property
    def port(self):
        return int(self.listeners[0]["address"].rsplit(":", 1)[1])

    def listener_port(self, name):
        for listener in self.listeners:
            if listener["name"] == name:
                return int(listener["address"].rsplit(":", 1)[1])
        raise KeyError(name)

    def set_mesh(self, ca, cert, key):
        self.mesh = (ca, cert, key)

    def gateway_toml(self):
        check(self.mesh is not None, "mesh material not set")
        ca, cert, key = self.mesh
        parts = [f"""[gateway]
workers = {self.workers}
tenants_dir = "tenants.d"
drain_timeout = "5s"

[admin]
listen = "127.0.0.1:{self.admin_port}"

[log]
access = "-"
audit = "audit.log"

[mesh]
trust_domain = {toml_str(TRUST_DOMAIN)}
ca = {toml_str(ca)}
cert = {toml_str(cert)}
key = {toml_str(key)}
"""]
        for listener in self.listeners:
            parts.append("[[listener]]")
            for k, v in listener.items():
                parts.append(f"{k} = {toml_list(v) if isinstance(v, list) else toml_str(v)}")
            parts.append("")
        parts.append(self.extra_gateway_toml)
        return "\n".join(parts)

    def write(self):
        path = os.path.join(self.dir, "gateway.toml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.gateway_toml())
        return path

    def add_tenant_file(self, name, text):
        path = os.path.join(self.dir, "tenants.d", f"{name}.toml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    @property
    def config_path(self):
        return os.path.join(self.dir, "gateway.toml")

    @property
    def audit_path(self):
        return os.path.join(self.dir, "audit.log")

    def start(self, wait=True, timeout=20):
        self.write()
        self.proc = self.env.start(self.name, [portcullis_bin(), "run", "-c", self.config_path],
                                   cwd=self.dir)
        if wait:
            self.wait_ready(timeout)
        return self

    def admin_url(self, path):
        return f"http://127.0.0.1:{self.admin_port}{path}"

    def admin_get(self, path):
        return http_get(self.admin_url(path))

    def wait_ready(self, timeout=20):
        def ready():
            if not self.proc.alive():
                raise TestFailure("gateway exited before it was ready: " + self.proc.describe())
            # /readyz only: listeners accept (into the backlog) before the admin server and the
            # workers are up, so "a listener connects" let tests race the admin server.
            status, _ = self.admin_get("/readyz")
            return status == 200
        wait_for(ready, timeout, "gateway readiness (/readyz 200)", interval=0.05)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        return self.proc.stop(sig, timeout) if self.proc else None

    def access_log(self):
        return read_json_lines(self.proc.out_path) if self.proc else []

    def audit_log(self):
        return read_json_lines(self.audit_path)

    def wait_audit(self, pred, what, timeout=5):
        return wait_for(lambda: [e for e in self.audit_log() if pred(e)], timeout,
                        f"audit log line: {what}\naudit log:\n" + self._audit_text())

    def wait_access(self, pred, what, timeout=5):
        return wait_for(lambda: [e for e in self.access_log() if pred(e)], timeout,
                        f"access log line: {what}")

    def _audit_text(self):
        try:
            with open(self.audit_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return "(no audit log)"


# ---------------------------------------------------------------------------------------------
# clients

class CurlResult:
    def __init__(self, rc, status, body, http_version, stderr):
        self.rc, self.status, self.body = rc, status, body
        self.http_version, self.stderr = http_version, stderr

    def __repr__(self):
        return (f"curl rc={self.rc} status={self.status} http={self.http_version} "
                f"body={self.body[:300]!r} stderr={self.stderr[-500:]!r}")


_MARK = "\n--itest-write-out--"


def curl(url, *, host, port, cacert=None, http2=False, address="127.0.0.1", headers=(),
         cert=None, key=None, extra=(), timeout=30, data=None):
    """curl -sS to https://host:port/... resolved to address (SNI = host)."""
    argv = ["curl", "-sS", "--max-time", str(timeout),
            "--resolve", f"{host}:{port}:{address}",
            "-w", _MARK + "%{http_code} %{http_version}"]
    argv.append("--http2" if http2 else "--http1.1")
    if cacert:
        argv += ["--cacert", cacert]
    else:
        argv.append("-k")
    if cert:
        argv += ["--cert", cert, "--key", key]
    for h in headers:
        argv += ["-H", h]
    if data is not None:
        argv += ["--data-binary", data]
    argv += list(extra)
    argv.append(url if url.startswith("https://") else f"https://{host}:{port}{url}")
    r = run(argv, timeout=timeout + 10)
    body, _, tail = r.stdout.rpartition(_MARK)
    if not _:
        body, tail = r.stdout, ""
    fields = tail.split()
    status = int(fields[0]) if fields and fields[0].isdigit() else 0
    version = fields[1] if len(fields) > 1 else ""
    return CurlResult(r.returncode, status, body, version, r.stderr)


def s_client(port, servername, address="127.0.0.1", cafile=None, extra=(), timeout=15):
    """openssl s_client -showcerts; returns CompletedProcess (stdout + stderr both useful)."""
    host = f"[{address}]" if ":" in address else address
    argv = ["openssl", "s_client", "-connect", f"{host}:{port}", "-showcerts"]
    if servername:
        argv += ["-servername", servername]
    if cafile:
        argv += ["-CAfile", cafile, "-verify_return_error"]
    argv += list(extra)
    return run(argv, timeout=timeout, input="")


def first_cert_pem(text):
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)
    return m.group(0) if m else None


def parse_headers_echo(body):
    """The upstream /headers page: key=value lines -> dict."""
    out = {}
    for line in body.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            out[k] = v
    return out


# ---------------------------------------------------------------------------------------------
# the standard topology most tests use
#
#   tenant acme    hosts shop.acme.example, *.api.acme.example   (own CA "Acme CA")
#                  /h2/...              -> cluster web-h2 (nginx acme, ALPN h2)
#                  /wrong-identity/...  -> cluster wrong  (expects .../ns/acme/sa/billing; nginx
#                                          presents .../ns/acme/sa/web -> 502)
#                  /rogue/...           -> cluster rogue  (right SPIFFE ID, cert from another CA)
#                  /...                 -> cluster web    (nginx acme, http/1.1)
#   tenant globex  hosts www.globex.example                   (own CA "Globex CA")
#                  /app/...             -> cluster web    (nginx globex); anything else: 404
#   tenant initech hosts secure.initech.example, client_ca = partner CA (client certs required)
#                  /...                 -> cluster web    (nginx initech)
#
# nginx requires a client certificate from the mesh CA on every server block.

ACME_HOST, ACME_WILDCARD_HOST = "shop.acme.example", "x.api.acme.example"
GLOBEX_HOST, INITECH_HOST = "www.globex.example", "secure.initech.example"
PARTNER_CLIENT_ID = "spiffe://partner.example/ns/shop/sa/client"


def workload_id(tenant, sa="web"):
    return f"spiffe://{TRUST_DOMAIN}/ns/{tenant}/sa/{sa}"


class Topology:
    pass


def build_topology(env, *, listeners=None, start=True, workers=1, extra_gateway_toml="",
                   acme_extra_toml=""):
    t = Topology()
    t.env = env
    pki = env.mkdir("pki")
    t.mesh_ca = init_ca(os.path.join(pki, "mesh"), "Mesh CA", TRUST_DOMAIN)
    t.mesh_ca_pem = os.path.join(t.mesh_ca, "ca.pem")
    t.gw_cert, t.gw_key = issue(t.mesh_ca, os.path.join(pki, "gateway"), spiffe=GATEWAY_ID)
    rogue_ca = init_ca(os.path.join(pki, "rogue"), "Rogue CA", TRUST_DOMAIN)

    t.tenant_ca = {}
    t.tenant_cert = {}
    hosts = {"acme": ["shop.acme.example", "*.api.acme.example"],
             "globex": [GLOBEX_HOST], "initech": [INITECH_HOST]}
    for name, names in hosts.items():
        t.tenant_ca[name] = init_ca(os.path.join(pki, f"{name}-ca"), f"{name.title()} CA")
        t.tenant_cert[name] = issue(t.tenant_ca[name], os.path.join(pki, f"{name}-tls"),
                                    dns=names)
    t.partner_ca = init_ca(os.path.join(pki, "partner-ca"), "Partner CA")
    t.client_cert, t.client_key = issue(t.partner_ca, os.path.join(pki, "partner-client"),
                                        spiffe=PARTNER_CLIENT_ID, dns=["client.partner.example"])
    # a client certificate from a CA the initech tenant does not trust
    t.stranger_cert, t.stranger_key = issue(t.tenant_ca["globex"],
                                            os.path.join(pki, "stranger-client"),
                                            dns=["stranger.example"])

    t.nginx = Nginx(env)
    for name in hosts:
        cert, key = issue(t.mesh_ca, os.path.join(pki, f"upstream-{name}"),
                          dns=[f"web.{name}.svc"], spiffe=workload_id(name))
        t.nginx.add_server(name, cert, key, t.mesh_ca_pem)
    rcert, rkey = issue(rogue_ca, os.path.join(pki, "upstream-rogue"), dns=["web.acme.svc"],
                        spiffe=workload_id("acme"))
    t.nginx.add_server("rogue", rcert, rkey, t.mesh_ca_pem)
    t.nginx.start()

    t.gw = Gateway(env, listeners=listeners, workers=workers,
                   extra_gateway_toml=extra_gateway_toml)
    t.gw.set_mesh(t.mesh_ca_pem, t.gw_cert, t.gw_key)
    ep = {s.label: s.endpoint for s in t.nginx.servers}
    acme_cert, acme_key = t.tenant_cert["acme"]
    t.gw.add_tenant_file("acme", f"""name = "acme"
hosts = {toml_list(hosts["acme"])}

[tls]
cert = {toml_str(acme_cert)}
key = {toml_str(acme_key)}
min_tls = "1.2"

[[route]]
path_prefix = "/h2/"
cluster = "web-h2"

[[route]]
path_prefix = "/wrong-identity/"
cluster = "wrong"

[[route]]
path_prefix = "/rogue/"
cluster = "rogue"

[[route]]
path_prefix = "/"
cluster = "web"

[cluster.web]
endpoints = [{toml_str(ep["acme"])}]
identity = {toml_str(workload_id("acme"))}
protocol = "http/1.1"

[cluster.web-h2]
endpoints = [{toml_str(ep["acme"])}]
identity = {toml_str(workload_id("acme"))}
protocol = "h2"

[cluster.wrong]
endpoints = [{toml_str(ep["acme"])}]
identity = {toml_str(workload_id("acme", "billing"))}
protocol = "http/1.1"

[cluster.rogue]
endpoints = [{toml_str(ep["rogue"])}]
identity = {toml_str(workload_id("acme"))}
protocol = "http/1.1"
{acme_extra_toml}
""")
    gcert, gkey = t.tenant_cert["globex"]
    t.gw.add_tenant_file("globex", f"""name = "globex"
hosts = {toml_list(hosts["globex"])}

[tls]
cert = {toml_str(gcert)}
key = {toml_str(gkey)}

[[route]]
path_prefix = "/app/"
cluster = "web"

[cluster.web]
endpoints = [{toml_str(ep["globex"])}]
identity = {toml_str(workload_id("globex"))}
protocol = "h2"
""")
    icert, ikey = t.tenant_cert["initech"]
    t.gw.add_tenant_file("initech", f"""name = "initech"
hosts = {toml_list(hosts["initech"])}

[tls]
cert = {toml_str(icert)}
key = {toml_str(ikey)}
client_ca = {toml_str(os.path.join(t.partner_ca, "ca.pem"))}

[[route]]
path_prefix = "/"
cluster = "web"

[cluster.web]
endpoints = [{toml_str(ep["initech"])}]
identity = {toml_str(workload_id("initech"))}
protocol = "http/1.1"
""")
    t.gw.write()
    if start:
        t.gw.start()
    return t


def tenant_ca_pem(t, tenant):
    return os.path.join(t.tenant_ca[tenant], "ca.pem")


def get(t, tenant, path, *, http2=False, host=None, port=None, address="127.0.0.1", **kw):
    """GET through the gateway as a client of tenant (SNI = its host; CA = its CA only)."""
    sni = host or {"acme": ACME_HOST, "globex": GLOBEX_HOST, "initech": INITECH_HOST}[tenant]
    return curl(path, host=sni, port=port or t.gw.port, cacert=tenant_ca_pem(t, tenant),
                http2=http2, address=address, **kw)
