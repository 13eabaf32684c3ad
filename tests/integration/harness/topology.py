"""The standard topology most tests use: three tenants behind the gateway, nginx upstreams."""

import os
import threading

from .clients import curl
from .gateway import Gateway, toml_list, toml_str
from .nginx import Nginx
from .pki import GATEWAY_ID, TRUST_DOMAIN, init_ca, issue, workload_id
from .procs import check

__all__ = [
    'ACME_HOST', 'ACME_WILDCARD_HOST', 'GLOBEX_HOST', 'INITECH_HOST',
    'PARTNER_CLIENT_ID', 'Topology', 'build_topology', 'tenant_ca_pem', 'get', 'canary',
    'CanaryThread'
]


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


def canary(t, http2=False):
    """A normal request on a new connection still succeeds (acme via nginx)."""
    r = get(t, "acme", "/canary", http2=http2, timeout=10)
    check(r.rc == 0 and r.status == 200 and "acme upstream /canary" in r.body,
            f"canary request failed: {r!r}")


class CanaryThread(threading.Thread):
    """Runs canary() (HTTP/2 and HTTP/1.1) in a thread while a probe floods; join() then
    check()."""

    def __init__(self, t):
        super().__init__(daemon=True)
        self.t = t
        self.error = None

    def run(self):
        try:
            canary(self.t, http2=True)
            canary(self.t, http2=False)
        except Exception as e:  # noqa: BLE001 - reported by check()
            self.error = e

    def check(self):
        self.join(timeout=60)
        check(not self.is_alive(), "canary during the flood did not finish within 60 s")
        check(self.error is None, f"canary during the flood failed: {self.error}")
