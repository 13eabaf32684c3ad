"""The Ansible role (packaging/ansible) run for real against this machine, into a temporary
prefix as the current user (no package install, no systemd): it writes gateway.toml, one file per
tenant and the certificates (mode 0600), runs `portcullis check` and only then the reload
command. A second run with a broken key must fail at the check, before the reload, and remove a
tenant that left the inventory. Exit 77 (SKIP) without ansible-playbook.

    /usr/bin/python3 tests/packaging/ansible_test.py SOURCE_ROOT PORTCULLIS_BINARY
"""

import getpass
import grp
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile

import yaml

TD = "mesh.example"


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}")
        sys.exit(1)


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    root, binary = sys.argv[1], os.path.abspath(sys.argv[2])
    playbook = shutil.which("ansible-playbook")
    if not playbook:
        print("SKIP: ansible-playbook is not installed (apt-get install ansible-core)")
        sys.exit(77)
    adir = os.path.join(root, "packaging", "ansible")
    with open(os.path.join(adir, "site.yml"), encoding="utf-8") as f:
        play = yaml.safe_load(f)[0]
    check(play.get("serial") == 1 and play.get("max_fail_percentage") == 0,
          "the play does not roll one host at a time, stopping at the first failure")

    work = tempfile.mkdtemp(prefix="portcullis-ansible-")
    try:
        def certs(*args):
            r = run([binary, "certs", *args])
            check(r.returncode == 0, f"certs {args}: {r.stderr}")

        pki = os.path.join(work, "pki")
        certs("init-ca", "--dir", f"{pki}/mesh", "--name", "Mesh CA", "--trust-domain", TD)
        certs("issue", "--ca", f"{pki}/mesh", "--out", f"{pki}/gw",
              "--spiffe", f"spiffe://{TD}/ns/edge/sa/gateway")
        certs("init-ca", "--dir", f"{pki}/tenants", "--name", "Tenants CA")
        for name in ("acme", "initech", "other"):
            certs("issue", "--ca", f"{pki}/tenants", "--out", f"{pki}/{name}",
                  "--dns", f"{name}.example")
        etc = os.path.join(work, "etc")
        marker = os.path.join(work, "reloaded")
        tenants = [
            {"name": "acme", "hosts": ["acme.example"], "cert_src": f"{pki}/acme.pem",
             "key_src": f"{pki}/acme.key"},
            {"name": "initech", "hosts": ["initech.example"], "cert_src": f"{pki}/initech.pem",
             "key_src": f"{pki}/initech.key", "client_ca_src": f"{pki}/tenants/ca.pem"},
        ]
        hostvars = {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "portcullis_become": False, "portcullis_manage_service": False,
            "portcullis_etc": etc, "portcullis_bin": binary,
            "portcullis_user": getpass.getuser(),
            "portcullis_group": grp.getgrgid(os.getgid()).gr_name,
            "portcullis_reload_command": f"touch {marker}",
            "portcullis_gateway": {"admin_listen": f"127.0.0.1:{free_port()}",
                                   "access_log": "-", "audit_log": "-"},
            "portcullis_mesh": {"trust_domain": TD, "ca_src": f"{pki}/mesh/ca.pem",
                                "cert_src": f"{pki}/gw.pem", "key_src": f"{pki}/gw.key"},
            "portcullis_listeners": [{"name": "public", "kind": "ingress",
                                      "address": f"127.0.0.1:{free_port()}"}],
            "portcullis_tenants": tenants,
        }
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_PIPELINING="1",
                   ANSIBLE_HOME=os.path.join(work, "ansible-home"),
                   ANSIBLE_LOCAL_TEMP=os.path.join(work, "ansible-tmp"))

        def play_once():
            inv = os.path.join(work, "inventory.json")
            with open(inv, "w", encoding="utf-8") as f:
                json.dump({"portcullis": {"hosts": {"localhost": hostvars}}}, f)
            return run([playbook, "-i", inv, "site.yml"], cwd=adir, env=env)

        # 1: a good configuration: files written, check passed, then reloaded
        r = play_once()
        print(r.stdout[-3000:])
        check(r.returncode == 0, f"first run failed:\n{r.stderr[-2000:]}")
        check(os.path.exists(marker), "the reload did not run")
        check(sorted(os.listdir(os.path.join(etc, "tenants.d"))) ==
              ["acme.toml", "initech.toml"], "not one file per tenant")
        for rel in ("certs/mesh/tls.key", "certs/mesh/ca.crt", "certs/acme/tls.key",
                    "certs/acme/tls.crt", "certs/initech/ca.crt"):
            mode = stat.S_IMODE(os.stat(os.path.join(etc, rel)).st_mode)
            check(mode == 0o600, f"{rel}: mode {mode:o}, want 600")
        c = run([binary, "check", "-c", os.path.join(etc, "gateway.toml")])
        check(c.returncode == 0 and "ok: 2 tenants" in c.stdout, f"written config:\n{c.stdout}")
        check("Check the new configuration" in r.stdout.split("Reload portcullis")[0],
              "check did not run before the reload")

        # 2: initech leaves, acme gets a key of another certificate: check fails, no reload
        os.remove(marker)
        tenants[:] = [dict(tenants[0], key_src=f"{pki}/other.key")]
        r = play_once()
        print(r.stdout[-3000:])
        check(r.returncode != 0, "a broken configuration passed the play")
        check(not os.path.exists(marker), "reloaded after a failed check")
        check(os.listdir(os.path.join(etc, "tenants.d")) == ["acme.toml"],
              "the departed tenant's file is still there")
        check("Check the new configuration" in r.stdout and "fatal" in r.stdout,
              "the failure was not the check")
        print("PASS")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
