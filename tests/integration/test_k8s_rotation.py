"""Certificates rotated the way the kubelet rotates a mounted Secret, picked up without SIGHUP.

The kubelet's layout: the real files live in a timestamped directory (dir/..2026_12_05_xx/),
dir/..data is a symlink to it, and dir/tls.crt is a symlink to ..data/tls.crt. A rotation
writes a new timestamped directory, points a ..data_tmp symlink at it, renames ..data_tmp over
..data (one atomic step) and removes the old directory. tls.crt itself never changes, so the
watcher must re-check the files the configuration names, whatever the event's file name.
"""

import os
import re
import shutil
import time

import harness as h
from harness import file_fingerprint, metric_sum, metrics, served_fingerprint

HOST = "shop.k8s.example"


class SecretMount:
    """A directory laid out like a kubelet Secret volume; rotate() swaps ..data atomically."""

    def __init__(self, directory):
        self.dir = directory
        self.stamp = 0
        os.makedirs(directory, exist_ok=True)

    def path(self, key):
        return os.path.join(self.dir, key)

    def write(self, files):
        """files: {key: source path}. The first call creates the layout, later ones rotate."""
        self.stamp += 1
        ts = f"..2026_12_05_10_00_{self.stamp:02d}.{1000 + self.stamp}"
        os.mkdir(os.path.join(self.dir, ts))
        for key, src in files.items():
            shutil.copyfile(src, os.path.join(self.dir, ts, key))
        data = os.path.join(self.dir, "..data")
        if not os.path.lexists(data):
            os.symlink(ts, data)
            for key in files:
                os.symlink(os.path.join("..data", key), self.path(key))
            return
        old = os.readlink(data)
        tmp = os.path.join(self.dir, "..data_tmp")
        os.symlink(ts, tmp)
        os.rename(tmp, data)
        shutil.rmtree(os.path.join(self.dir, old))


def bundle(paths, out):
    with open(out, "w", encoding="ascii") as f:
        for p in paths:
            with open(p, encoding="ascii") as src:
                f.write(src.read())
    return out


def generation(gw):
    return metric_sum(metrics(gw), "portcullis_config_generation")


def test_kubelet_secret_rotation_of_a_tenant_cert_and_the_mesh_ca():
    with h.TestEnv("k8s") as env:
        pki = env.mkdir("pki")
        mesh = h.init_ca(os.path.join(pki, "mesh"), "Mesh CA", h.TRUST_DOMAIN)
        gw_cert, gw_key = h.issue(mesh, os.path.join(pki, "gateway"), spiffe=h.GATEWAY_ID)
        tenant_ca = h.init_ca(os.path.join(pki, "tenant"), "Tenant CA")
        cert1, key1 = h.issue(tenant_ca, os.path.join(pki, "tls1"), dns=[HOST])

        tls = SecretMount(env.path("secrets", "shop-tls"))
        tls.write({"tls.crt": cert1, "tls.key": key1, "ca.crt": os.path.join(tenant_ca, "ca.pem")})
        mesh_mount = SecretMount(env.path("secrets", "mesh-ca"))
        mesh_mount.write({"ca.crt": os.path.join(mesh, "ca.pem")})

        gw = h.Gateway(env)
        gw.set_mesh(mesh_mount.path("ca.crt"), gw_cert, gw_key)
        gw.add_tenant_file("shop", f"""name = "shop"
hosts = [{h.toml_str(HOST)}]

[tls]
cert = {h.toml_str(tls.path("tls.crt"))}
key = {h.toml_str(tls.path("tls.key"))}
""")
        # the tenant file, a ConfigMap, is older than the start (as deployed): a second later
        time.sleep(1.1)
        gw.start()
        h.check(served_fingerprint(gw.port, HOST) == file_fingerprint(cert1),
                "the first certificate is not served")

        # the tenant certificate: new key pair, one ..data swap, no SIGHUP
        gen = generation(gw)
        cert2, key2 = h.issue(tenant_ca, os.path.join(pki, "tls2"), dns=[HOST])
        tls.write({"tls.crt": cert2, "tls.key": key2,
                   "ca.crt": os.path.join(tenant_ca, "ca.pem")})
        new_fp = file_fingerprint(cert2)
        h.check(new_fp != file_fingerprint(cert1), "the rotation did not change the certificate")
        h.wait_for(lambda: served_fingerprint(gw.port, HOST) == new_fp, 10,
                   "the rotated certificate served after the ..data swap", interval=0.2)
        h.check(generation(gw) > gen, "no new configuration generation after the swap")
        # only the context is built again: the tenant file did not change, it is not parsed
        lines = re.findall(r"reloaded, generation \d+[^\n]*", gw.proc.stderr_text())
        h.check(any("per-tenant reload, in place; 0 tenant files read" in x for x in lines),
                f"the swap parsed the tenant file again:\n{lines}")

        # the mesh CA: a bundle with a second CA (a CA rollover), again one ..data swap
        gen = generation(gw)
        next_ca = h.init_ca(os.path.join(pki, "mesh-next"), "Mesh CA 2", h.TRUST_DOMAIN)
        rolled = bundle([os.path.join(mesh, "ca.pem"), os.path.join(next_ca, "ca.pem")],
                        os.path.join(pki, "mesh-bundle.pem"))
        mesh_mount.write({"ca.crt": rolled})
        h.wait_for(lambda: generation(gw) > gen or None, 10,
                   "a reload after the mesh CA's ..data swap", interval=0.2)
        h.check(served_fingerprint(gw.port, HOST) == new_fp,
                "the tenant certificate changed with the mesh CA")
