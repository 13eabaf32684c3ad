"""The protocols fixture (issue #14): the standard topology plus tenant 'proto' whose routes go
to upstreams a test runs itself (WebSocket, gRPC, raw TLS servers), all behind mTLS with the
mesh CA (the gateway's mesh client certificate is required).

    t = proto_topology(env, {"early": (port, "http/1.1")}, routes=[("/early/", "early")])
    t.server_ctx(alpn)   -> ssl.SSLContext for such an upstream (cert + key + client CA)
"""

import os

from .gateway import toml_str
from .pki import init_ca, issue, workload_id
from .servers import server_context
from .topology import build_topology

__all__ = ['PROTO_HOST', 'proto_topology', 'upstream_tls_files', 'server_ctx']

PROTO_HOST = "app.proto.example"
PROTO_IDENTITY = workload_id("proto", "app")


def upstream_tls_files(t):
    """(cert, key, mesh CA) for an upstream the gateway will accept as PROTO_IDENTITY."""
    return t.proto_upstream_cert, t.proto_upstream_key, t.mesh_ca_pem


def server_ctx(t, alpn=("http/1.1",)):
    return server_context(t.proto_upstream_cert, t.proto_upstream_key, t.mesh_ca_pem, alpn)


def proto_topology(env, clusters, routes, route_extra=None, extra_gateway_toml="",
                   start=True, acme_extra_toml=""):
    """clusters: {name: (endpoint "host:port", protocol)}; routes: [(path_prefix, cluster)];
    route_extra: {path_prefix: "key = value\\n..."} added to that route."""
    t = build_topology(env, start=False, extra_gateway_toml=extra_gateway_toml,
                       acme_extra_toml=acme_extra_toml)
    pki = env.path("pki")
    ca = init_ca(os.path.join(pki, "proto-ca"), "Proto CA")
    cert, key = issue(ca, os.path.join(pki, "proto-tls"), dns=[PROTO_HOST])
    t.proto_ca_pem = os.path.join(ca, "ca.pem")
    t.proto_upstream_cert, t.proto_upstream_key = issue(
        t.mesh_ca, os.path.join(pki, "upstream-proto"), dns=["app.proto.svc"],
        spiffe=PROTO_IDENTITY)
    t.proto_write = lambda cl, rt, rx=None: _write(t, cert, key, cl, rt, rx or {})
    t.proto_write(clusters, routes, route_extra)
    if start:
        t.gw.start()
    return t


def _write(t, cert, key, clusters, routes, route_extra):
    parts = [f"""name = "proto"
hosts = [{toml_str(PROTO_HOST)}]

[tls]
cert = {toml_str(cert)}
key = {toml_str(key)}
"""]
    for prefix, cluster in routes:
        parts.append(f"""[[route]]
path_prefix = {toml_str(prefix)}
cluster = {toml_str(cluster)}
{route_extra.get(prefix, "")}""")
    for name, (endpoint, protocol) in clusters.items():
        parts.append(f"""[cluster.{name}]
endpoints = [{toml_str(endpoint)}]
identity = {toml_str(PROTO_IDENTITY)}
protocol = {toml_str(protocol)}
""")
    t.gw.add_tenant_file("proto", "\n".join(parts))
