"""A portcullis configuration (gateway.toml + tenants.d/), the running process, and its logs."""

import json
import os
import signal

from .pki import TRUST_DOMAIN
from .procs import TestFailure, check, free_port, http_get, portcullis_bin, wait_for

__all__ = ['toml_str', 'toml_list', 'read_json_lines', 'Gateway']


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
        self.drain_delay = "0s"  # the default (10s) is for load balancers; tests stop at once
        self.state_dir = "state"  # handoff.sock, per gateway (the default /run/portcullis is shared)
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
drain_delay = "{self.drain_delay}"
state_dir = "{self.state_dir}"

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
