"""The harness itself: the nginx upstream fixture behaves as the other tests assume.

These do not need a working gateway; if they fail, the other failures are not the gateway's.
"""

import os

import harness as h


def _mesh_client(t, server, path, **kw):
    return h.curl(path, host=f"web.{server}.svc", port=t.nginx.server(server).port,
                  cacert=t.mesh_ca_pem, cert=t.gw_cert, key=t.gw_key, **kw)


def test_nginx_upstream_requires_mesh_client_cert():
    with h.TestEnv("fixture") as env:
        t = h.build_topology(env, start=False)
        port = t.nginx.server("acme").port
        anon = h.curl("/whoami", host="web.acme.svc", port=port, cacert=t.mesh_ca_pem)
        h.check(anon.status == 400 and "No required SSL certificate" in anon.body, repr(anon))
        stranger = h.curl("/whoami", host="web.acme.svc", port=port, cacert=t.mesh_ca_pem,
                          cert=t.client_cert, key=t.client_key)
        h.check(stranger.status == 400, f"client cert from another CA accepted: {stranger!r}")
        ok = _mesh_client(t, "acme", "/whoami")
        h.check(ok.status == 200 and ok.body.strip().endswith("SUCCESS"), repr(ok))


def test_nginx_upstream_echoes_identity_and_headers():
    with h.TestEnv("fixture") as env:
        t = h.build_topology(env, start=False)
        r = _mesh_client(t, "acme", "/cert")
        h.check(r.status == 200, repr(r))
        from urllib.parse import unquote
        text = h.cert_text(unquote(r.body))
        h.check(f"URI:{h.GATEWAY_ID}" in text, f"gateway SPIFFE ID not in echoed cert:\n{text}")
        r = _mesh_client(t, "acme", "/headers", http2=True,
                         headers=["X-Request-Id: abc", "X-Forwarded-Client-Cert: x"])
        echo = h.parse_headers_echo(r.body)
        h.check(echo.get("xrid") == "abc" and echo.get("xfcc") == "x", repr(echo))
        h.check(echo.get("proto") == "HTTP/2.0", repr(echo))
        r = _mesh_client(t, "acme", "/h2/anything")
        h.check(r.status == 200 and "hello from acme upstream /anything" in r.body, repr(r))
        # the rogue upstream has the right SPIFFE ID but is not signed by the mesh CA
        rogue = h.curl("/", host="web.acme.svc", port=t.nginx.server("rogue").port,
                       cacert=t.mesh_ca_pem, cert=t.gw_cert, key=t.gw_key)
        h.check(rogue.rc == 60, f"rogue upstream verified against the mesh CA: {rogue!r}")


def test_nginx_upstream_upload_and_download():
    with h.TestEnv("fixture") as env:
        t = h.build_topology(env, start=False)
        blob = env.path("small.bin")
        with open(blob, "wb") as f:
            f.write(os.urandom(8 * h.MIB))
        digest = h.sha256_file(blob)
        t.nginx.add_file("small.bin", blob)
        for http2 in (False, True):
            name = f"up-{int(http2)}.bin"
            r = _mesh_client(t, "acme", f"/upload/{name}", http2=http2, extra=["-T", blob])
            h.check(r.status in (201, 204), repr(r))
            h.check(h.sha256_file(t.nginx.uploaded(name)) == digest, "upload corrupted")
            out = env.path(f"down-{int(http2)}.bin")
            r = _mesh_client(t, "acme", "/files/small.bin", http2=http2, extra=["-o", out])
            h.check(r.status == 200 and h.sha256_file(out) == digest, repr(r))
