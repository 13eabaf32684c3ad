#!/usr/bin/python3
"""Writes the seed corpora under tests/fuzz/corpus/<name>/ for the fuzz targets owned here.

The seeds are committed; run this again only to regenerate them (it overwrites seed-*.bin files
it wrote before and leaves other files, such as crash reproducers added by hand, alone).
HTTP/2 seeds are produced with the Debian python3-h2 package so their HPACK is real.
"""
import os
import struct
import sys

import h2.config
import h2.connection
import h2.settings

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, seeds):
    d = os.path.join(HERE, 'corpus', name)
    os.makedirs(d, exist_ok=True)
    for i, data in enumerate(seeds):
        if isinstance(data, str):
            data = data.encode('latin-1')
        with open(os.path.join(d, 'seed-%02d.bin' % i), 'wb') as f:
            f.write(data)


# --- http1_session ---------------------------------------------------------------------------
H = 'Host: shop.acme.example\r\n'
http1 = [
    'GET / HTTP/1.1\r\n' + H + '\r\n',
    'GET /api/v1/items?x=1 HTTP/1.1\r\n' + H + 'User-Agent: fuzz\r\nAccept: */*\r\n\r\n',
    'POST /api/upload HTTP/1.1\r\n' + H + 'Content-Length: 11\r\n\r\nhello world',
    'POST /api/chunked HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked\r\n\r\n'
    '5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n',
    'GET /a HTTP/1.1\r\n' + H + '\r\nGET /b HTTP/1.1\r\n' + H + '\r\n'
    'GET /c HTTP/1.1\r\n' + H + 'Connection: close\r\n\r\n',
    'GET / HTTP/1.0\r\n\r\n',
    'PUT /x HTTP/1.1\r\n' + H + 'Expect: 100-continue\r\nContent-Length: 4\r\n\r\nbody',
    'GARBAGE\r\n\r\n',
    'GET / HTTP/1.1\r\n' + H + 'X-Big: ' + 'a' * 9000 + '\r\n\r\n',
    'GET http://shop.acme.example/abs HTTP/1.1\r\n' + H + '\r\n',
    'CONNECT shop.acme.example:443 HTTP/1.1\r\n' + H + '\r\n',
    'POST / HTTP/1.1\r\n' + H + 'Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
    'POST / HTTP/1.1\r\n' + H + 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n'
    '0\r\n\r\nGET /smuggled HTTP/1.1\r\n' + H + '\r\n',
    'GET / HTTP/1.1\r\n' + H + 'X-Fold: a\r\n b\r\n\r\n',
    'GET / HTTP/1.1\r\n' + H + 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n'
    'HTTP2-Settings: AAMAAABkAARAAAAA\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: other.example\r\nHost: shop.acme.example\r\n'
    'X-Forwarded-For: 10.0.0.1\r\nForwarded: for=1.2.3.4\r\n\r\n',
    # strict framing scanner (issue #11): bare CR in a head, a chunk-size line, an extension and
    # a trailer; not CRLF after chunk data; underscore aliases; a trailer section passed on.
    'POST / HTTP/1.1\r\n' + H + 'Content-Length: 5\r\n\rXhello',
    'GET / HTTP/1.1\r\n' + H + 'X-A: 1\rGET /smuggled HTTP/1.1\r\n\r\n',
    'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked\r\n\r\n5\rXhello\r\n0\r\n\r\n',
    'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked\r\n\r\n'
    '2;a=\rGET /smuggled HTTP/1.1\r\n\r\nab\r\n0\r\n\r\n',
    'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXY0\r\n\r\n',
    'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked\r\n\r\n0\r\nX: a\rb\r\n\r\n',
    'POST / HTTP/1.1\r\n' + H + 'X_Forwarded_For: 6.6.6.6\r\nTransfer_Encoding: chunked\r\n'
    'Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\nContent-Length: 9\r\n\r\n'
    'GET /2 HTTP/1.1\r\n' + H + '\r\n',
]
write('http1_session', http1)


# --- http2_session ---------------------------------------------------------------------------
def h2conn():
    c = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True,
                                                                     header_encoding='utf-8'))
    c.initiate_connection()
    return c


REQ = [(':method', 'GET'), (':scheme', 'https'), (':authority', 'shop.acme.example'),
       (':path', '/')]


def frame(ftype, flags, stream, payload):
    return struct.pack('>I', len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack('>I', stream) + payload


http2 = []
c = h2conn()
http2.append(c.data_to_send())  # preface + SETTINGS only

c = h2conn()
c.send_headers(1, REQ, end_stream=True)
http2.append(c.data_to_send())

c = h2conn()
c.send_headers(1, [(':method', 'POST'), (':scheme', 'https'), (':authority', 'shop.acme.example'),
                   (':path', '/api/upload'), ('content-length', '5')])
c.send_data(1, b'hello', end_stream=True)
http2.append(c.data_to_send())

c = h2conn()
for sid in (1, 3, 5, 7):
    c.send_headers(sid, REQ[:3] + [(':path', '/s%d' % sid), ('x-a', 'b' * sid)], end_stream=True)
http2.append(c.data_to_send())

c = h2conn()
c.send_headers(1, [(':method', 'POST')] + REQ[1:])
c.send_data(1, b'x' * 100)
c.reset_stream(1)
http2.append(c.data_to_send())

c = h2conn()
c.ping(b'12345678')
c.increment_flow_control_window(65535)
c.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 10,
                   h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1})
c.send_headers(1, REQ, end_stream=True)
c.close_connection()
http2.append(c.data_to_send())

c = h2conn()
c.send_headers(1, REQ, end_stream=True, priority_weight=200, priority_depends_on=0,
               priority_exclusive=True)
http2.append(c.data_to_send())

c = h2conn()
c.send_headers(1, REQ + [('cookie', 'a=1'), ('cookie', 'b=2'), ('te', 'trailers')])
c.send_data(1, b'abc')
c.send_headers(1, [('x-trailer', 'yes')], end_stream=True)
http2.append(c.data_to_send())

c = h2conn()
base = c.data_to_send()
# Malformed: HEADERS on stream 2 (even), unknown frame type, oversized frame header.
http2.append(base + frame(1, 0x5, 2, b'\x82\x87\x84'))
http2.append(base + frame(0xfa, 0, 0, b'unknown') + frame(6, 0, 0, b'\0' * 8))
http2.append(base + b'\xff\xff\xff\x00\x00\x00\x00\x00\x01')
# HEADERS without END_HEADERS, then CONTINUATION.
c = h2conn()
c.send_headers(1, REQ, end_stream=True)
raw = c.data_to_send()
pre = len(base)
hdr = raw[pre:]
block = hdr[9:]
http2.append(base + frame(1, 0x1, 1, block[:2]) + frame(9, 0x4, 1, block[2:]))
# Missing :path, uppercase header name, connection-specific header.
http2.append(base + frame(1, 0x5, 1, b'\x82\x87\x41\x11' + b'shop.acme.example'))
c = h2conn()
c.send_headers(1, REQ + [('connection', 'keep-alive')], end_stream=True)
http2.append(c.data_to_send())
write('http2_session', http2)


# --- host_table ------------------------------------------------------------------------------
write('host_table', [
    '+shop.acme.example\n+*.api.acme.example\nshop.acme.example\nx.api.acme.example\n'
    'a.b.api.acme.example\napi.acme.example\n',
    '+Example.COM.\nexample.com\nEXAMPLE.com.\nexample.com..\n',
    '+*.a.b\n+x.a.b\nx.a.b\ny.a.b\n*.a.b\n',
    '+*.x\n+*\n+a..b\n+-a.b\n+a-.b\n+*.*.b\n+' + 'a' * 64 + '.b\n',
    '+' + '.'.join(['abcdefgh'] * 28) + '\n' + '.'.join(['abcdefgh'] * 28) + '\n',
    '+a.b\n+a.b\n+A.B.\n.\n\n..\n*.\n',
    '+*.example.org\nfoo.example.org.\n.example.org\nfoo..example.org\n',
])


# --- sni_parse -------------------------------------------------------------------------------
def sni(*entries):
    body = b''.join(bytes([t]) + struct.pack('>H', len(n)) + n for t, n in entries)
    return struct.pack('>H', len(body)) + body


write('sni_parse', [
    sni((0, b'shop.acme.example')),
    sni((0, b'SHOP.Acme.Example')),
    sni((0, b'a' * 255)),
    sni((0, b'a' * 256)),
    sni((0, b'')),
    sni((0, b'a.example'), (0, b'b.example')),
    sni((1, b'ignored'), (0, b'x.example')),
    sni((0, b'bad name')),
    sni((0, b'nul\x00byte')),
    b'\x00\x05\x00\x00\x09ab',
    b'\x00',
    b'',
])


# --- config_loader ---------------------------------------------------------------------------
GATEWAY = '''[gateway]
workers = 2
tenants_dir = "tenants.d"
drain_timeout = "15s"

[limits]
h2_max_concurrent_streams = 100
max_request_headers = "64KiB"
header_timeout = "10s"

[admin]
listen = "127.0.0.1:9901"

[log]
access = "-"
audit = "audit.log"

[mesh]
trust_domain = "mesh.example"
ca = "mesh/ca.pem"
cert = "mesh/gateway.pem"
key = "mesh/gateway.key"

[[listener]]
name = "public"
kind = "ingress"
address = "0.0.0.0:8443"
proxy_protocol = "v2"
trusted_proxies = ["10.0.0.0/8", "::1/128"]
unknown_sni = "reject"

[[listener]]
name = "egress"
kind = "egress"
address = "127.0.0.1:15001"
client_auth = "mesh"

[[egress]]
host = "api.partner.example"
port = 443
ca = "system"
pins = ["sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]
allow = ["spiffe://mesh.example/ns/acme/sa/billing"]
min_tls = "1.2"
'''
ACME = '''name = "acme"
hosts = ["shop.acme.example", "*.api.acme.example"]

[tls]
cert = "certs/acme.pem"
key = "certs/acme.key"
min_tls = "1.2"

[[route]]
path_prefix = "/api/"
cluster = "api"

[[route]]
path = "/health"
direct_response = "ok {tenant}"
status = 200

[[route]]
path_prefix = "/"
cluster = "web"

[cluster.api]
endpoints = ["10.0.1.10:8443", "api.acme.svc:8443"]
identity = "spiffe://mesh.example/ns/acme/sa/api"
protocol = "h2"

[cluster.web]
endpoints = ["web.acme.svc:8443"]
server_name = "web.acme.svc"
protocol = "http/1.1"
'''
OTHER = ACME.replace('acme', 'beta')
T = '\n#@tenant\n'
write('config_loader', [
    GATEWAY,
    GATEWAY + T + ACME,
    GATEWAY + T + ACME + T + OTHER,
    GATEWAY + T + ACME + T + ACME,  # duplicate tenant name and hosts
    GATEWAY + T + ACME.replace('ns/acme', 'ns/beta'),  # identity outside the namespace
    GATEWAY + T + ACME.replace('cluster = "web"', 'cluster = "missing"'),
    GATEWAY.replace('workers = 2', 'workers = -1').replace('"15s"', '"15 parsecs"'),
    GATEWAY.replace('0.0.0.0:8443', '[::]:99999'),
    '[gateway\nworkers = ',
    'a = 1\na = 2\n',
    '[[listener]]\nname = 1\n[[listener]]\n[listener]\n',
    GATEWAY + T + 'name = "x"\nhosts = "not-an-array"\n[tls]\ncert = 3\n',
    GATEWAY + T + ACME.replace('plaintext', 'x') + '[cluster.plain]\nendpoints = ["10.0.0.1:80"]\n'
    'plaintext = true\n',
    '',
])


# --- spiffe_id -------------------------------------------------------------------------------
write('spiffe_id', [
    'spiffe://mesh.example/ns/acme/sa/api\nmesh.example\nacme',
    'spiffe://mesh.example/ns/acme\nmesh.example\nacme',
    'spiffe://mesh.example/ns/acme/sa/api\nother.example\nacme',
    'spiffe://mesh.example',
    'spiffe://mesh.example/',
    'spiffe://Mesh.Example/a',
    'spiffe://mesh.example:443/a',
    'spiffe://user@mesh.example/a',
    'spiffe://mesh.example/a/../b',
    'spiffe://mesh.example/a//b',
    'spiffe://mesh.example/a?q=1#f',
    'SPIFFE://mesh.example/a',
    'spiffe://mesh.example/' + 'a' * 2100,
    'spiffe:///path',
    'spiffe://td/ns/a/sa/b\ntd\n',
])
print('seeds written under', os.path.join(HERE, 'corpus'), file=sys.stderr)
