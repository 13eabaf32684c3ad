"""Pebble, Let's Encrypt's ACME test server, with pebble-challtestsrv as its DNS (every name
resolves to 127.0.0.1), both on free loopback ports. Tests SKIP when the pebble package is absent.

    p = Pebble(env, http_port=gw_http_port, tls_port=gw_https_port).start()
    p.directory   # "https://localhost:PORT/dir" for [acme] directory
    p.ca_pem      # the roots pebble's own HTTPS listener uses (for [acme] ca)
    p.issuer_roots()  # PEM of the roots pebble issues under (management interface)
"""

import json
import os
import shutil
import ssl
import urllib.request

from .pki import init_ca, issue
from .procs import Skip, check, free_port, tcp_connectable, wait_for

__all__ = ['Pebble', 'require_pebble']


def require_pebble():
    for tool in ("pebble", "pebble-challtestsrv"):
        if shutil.which(tool) is None:
            raise Skip(f"{tool} is not installed (Debian package pebble)")


class Pebble:
    def __init__(self, env, *, http_port, tls_port, validity_seconds=None, env_extra=None):
        require_pebble()
        self.env = env
        self.dir = env.mkdir("pebble")
        self.port = free_port()
        self.mgmt_port = free_port()
        self.dns_port = free_port()
        ca = init_ca(os.path.join(self.dir, "ca"), "Pebble listener CA")
        self.ca_pem = os.path.join(ca, "ca.pem")
        cert, key = issue(ca, os.path.join(self.dir, "listener"), dns=["localhost"])
        cfg = {"pebble": {
            "listenAddress": f"127.0.0.1:{self.port}",
            "managementListenAddress": f"127.0.0.1:{self.mgmt_port}",
            "certificate": cert, "privateKey": key,
            "httpPort": http_port, "tlsPort": tls_port,
            "ocspResponderURL": "", "externalAccountBindingRequired": False}}
        if validity_seconds:
            cfg["pebble"]["certificateValidityPeriod"] = int(validity_seconds)
        self.config = os.path.join(self.dir, "pebble-config.json")
        with open(self.config, "w", encoding="utf-8") as f:
            json.dump(cfg, f)
        self.env_vars = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0",
                             PEBBLE_AUTHZREUSE="0", **(env_extra or {}))
        self.proc = self.dns = None

    @property
    def directory(self):
        return f"https://localhost:{self.port}/dir"

    def start(self):
        self.dns = self.env.start("challtestsrv", [
            "pebble-challtestsrv", "-http01", "", "-https01", "", "-tlsalpn01", "",
            "-dns01", f"127.0.0.1:{self.dns_port}", "-management",
            f"127.0.0.1:{free_port()}", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
        self.proc = self.env.start("pebble", [
            "pebble", "-config", self.config, "-dnsserver", f"127.0.0.1:{self.dns_port}"],
            env=self.env_vars)
        wait_for(lambda: tcp_connectable("127.0.0.1", self.port), 15, "pebble listening")
        return self

    def stop(self):
        if self.proc:
            self.proc.stop()

    def restart(self):
        self.proc = self.env.start("pebble-again", [
            "pebble", "-config", self.config, "-dnsserver", f"127.0.0.1:{self.dns_port}"],
            env=self.env_vars)
        wait_for(lambda: tcp_connectable("127.0.0.1", self.port), 15, "pebble listening")

    def issuer_roots(self):
        """PEM of pebble's issuing root (changes at every pebble start)."""
        ctx = ssl._create_unverified_context()
        with urllib.request.urlopen(f"https://127.0.0.1:{self.mgmt_port}/roots/0",
                                    context=ctx, timeout=5) as r:
            body = r.read().decode()
        check("BEGIN CERTIFICATE" in body, "pebble /roots/0: " + body[:200])
        return body
