"""Certificates: `portcullis certs` (with an openssl CLI fallback), mesh identities, fingerprints."""

import hashlib
import os
import subprocess
import time

from .procs import check, portcullis_bin, run

__all__ = [
    'TRUST_DOMAIN', 'GATEWAY_ID', 'workload_id', 'init_ca', 'issue', 'issue_expired', 'cert_text',
    'cert_der_sha256', 'file_fingerprint', 'issue_until'
]


TRUST_DOMAIN = "mesh.example"
GATEWAY_ID = f"spiffe://{TRUST_DOMAIN}/ns/portcullis/sa/gateway"


def workload_id(tenant, sa="web"):
    return f"spiffe://{TRUST_DOMAIN}/ns/{tenant}/sa/{sa}"


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
    return _issue_dated(ca_dir, work, key, dns, "20200101000000Z", "20210101000000Z")


def issue_until(ca_dir, work, key, dns, not_after):
    """issue_expired(), but valid from a minute ago until the unix time `not_after` (seconds:
    a certificate that expires while a test runs)."""
    fmt = "%Y%m%d%H%M%SZ"
    start = time.strftime(fmt, time.gmtime(time.time() - 60))
    return _issue_dated(ca_dir, work, key, dns, start, time.strftime(fmt, time.gmtime(not_after)))


def _issue_dated(ca_dir, work, key, dns, startdate, enddate):
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
             "-startdate", startdate, "-enddate", enddate])
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



def file_fingerprint(pem_path):
    d = run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", pem_path])
    return d.stdout.strip().split("=", 1)[-1]
