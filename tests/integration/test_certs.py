"""CONTRACT "certs: the internal CA": `portcullis certs init-ca | issue | inspect`.

These call the binary directly (never the harness's openssl fallback).
"""

import base64
import datetime
import hashlib
import os
import re
import subprocess

import harness as h


def _pc(*args):
    return h.run([h.portcullis_bin(), "certs", *args], timeout=30)


def _certs_in(path):
    with open(path, encoding="ascii") as f:
        return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", f.read(),
                          re.S)


def _spki_pin(pem_path):
    pub = subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in", pem_path],
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         capture_output=True, check=True).stdout
    return "sha256/" + base64.b64encode(hashlib.sha256(der).digest()).decode()


def _make_ca(env):
    ca = env.path("ca")
    r = _pc("init-ca", "--dir", ca, "--name", "Test Mesh CA", "--trust-domain", h.TRUST_DOMAIN)
    h.check(r.returncode == 0, f"init-ca exit {r.returncode}: {r.stderr}{r.stdout}")
    for f in ("ca.pem", "ca.key"):
        h.check(os.path.exists(os.path.join(ca, f)), f"init-ca did not write {f}")
    return ca


def test_init_ca_writes_a_ca():
    with h.TestEnv("certs") as env:
        ca = _make_ca(env)
        text = h.cert_text(os.path.join(ca, "ca.pem"))
        h.check("CA:TRUE" in text, f"not a CA certificate:\n{text}")
        h.check("Test Mesh CA" in text, f"CA name not in subject:\n{text}")
        mode = os.stat(os.path.join(ca, "ca.key")).st_mode & 0o777
        h.check(mode & 0o077 == 0, f"ca.key is readable by others: {oct(mode)}")


def test_issue_leaf_with_dns_and_spiffe():
    with h.TestEnv("certs") as env:
        ca = _make_ca(env)
        prefix = os.path.join(env.mkdir("out"), "web")
        spiffe = h.workload_id("acme")
        r = _pc("issue", "--ca", ca, "--out", prefix, "--dns", "web.acme.svc",
                "--dns", "shop.acme.example", "--spiffe", spiffe, "--days", "30")
        h.check(r.returncode == 0, f"issue exit {r.returncode}: {r.stderr}{r.stdout}")
        pem, key = prefix + ".pem", prefix + ".key"
        chain = _certs_in(pem)
        h.check(len(chain) == 2, f"{pem} should hold leaf + CA, has {len(chain)} certificates")
        text = h.cert_text(chain[0])
        for want in ("DNS:web.acme.svc", "DNS:shop.acme.example", f"URI:{spiffe}"):
            h.check(want in text, f"leaf lacks {want}:\n{text}")
        h.check("CA:TRUE" not in text, "leaf is a CA")
        v = h.run(["openssl", "verify", "-CAfile", os.path.join(ca, "ca.pem"), pem])
        h.check(v.returncode == 0, f"leaf does not verify against ca.pem: {v.stdout}{v.stderr}")
        # key matches certificate
        cert_pub = subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in", pem],
                                  capture_output=True, check=True).stdout
        key_pub = subprocess.run(["openssl", "pkey", "-pubout", "-in", key],
                                 capture_output=True, check=True).stdout
        h.check(cert_pub == key_pub, "PREFIX.key does not match PREFIX.pem")
        # --days 30
        end = h.run(["openssl", "x509", "-noout", "-enddate", "-in", pem]).stdout
        m = re.search(r"notAfter=(.*)", end)
        h.check(m, end)
        not_after = datetime.datetime.strptime(m.group(1).strip(), "%b %d %H:%M:%S %Y %Z")
        days = (not_after - datetime.datetime.utcnow()).days
        h.check(28 <= days <= 31, f"--days 30 gave {days} days")


def test_issue_rsa_key():
    with h.TestEnv("certs") as env:
        ca = _make_ca(env)
        prefix = env.path("rsa")
        r = _pc("issue", "--ca", ca, "--out", prefix, "--dns", "rsa.example", "--key", "rsa")
        h.check(r.returncode == 0, f"issue --key rsa exit {r.returncode}: {r.stderr}")
        text = h.cert_text(prefix + ".pem")
        m = re.search(r"Public-Key: \((\d+) bit\)", text)
        h.check("rsaEncryption" in text and m and int(m.group(1)) >= 2048,
                f"not an RSA >= 2048 key:\n{text[:1500]}")


def test_inspect_prints_names_and_pin():
    with h.TestEnv("certs") as env:
        ca = _make_ca(env)
        prefix = env.path("leaf")
        spiffe = h.workload_id("globex")
        r = _pc("issue", "--ca", ca, "--out", prefix, "--dns", "www.globex.example",
                "--spiffe", spiffe)
        h.check(r.returncode == 0, f"issue exit {r.returncode}: {r.stderr}")
        r = _pc("inspect", prefix + ".pem")
        h.check(r.returncode == 0, f"inspect exit {r.returncode}: {r.stderr}")
        out = r.stdout
        for want in ("www.globex.example", spiffe, "Test Mesh CA", _spki_pin(prefix + ".pem")):
            h.check(want in out, f"inspect output lacks {want!r}:\n{out}")


def test_issue_with_missing_ca_fails():
    with h.TestEnv("certs") as env:
        r = _pc("issue", "--ca", env.path("nope"), "--out", env.path("x"), "--dns", "a.example")
        h.check(r.returncode != 0, "issue with a missing CA directory succeeded")
        h.check(not os.path.exists(env.path("x.pem")), "wrote a certificate anyway")
