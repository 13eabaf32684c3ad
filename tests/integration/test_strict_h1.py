"""Issue #11 item 5: underscore spellings of gateway-owned headers, request trailers towards an
HTTP/1.1 upstream, and malformed upstream responses (502 upstream_protocol_error, logged).

Raw bytes over TLS to the gateway, a raw recording upstream behind it (harness.upstream).
"""

import harness as h
from harness import upstream as ru

HOST = ru.HOSTILE_HOST.encode()


def test_underscore_identity_headers_and_trailers_h1():
    with h.TestEnv("strict") as env:
        t = ru.hostile_topology(env)
        try:
            mark = t.raw.mark()
            payload = (b"POST /u HTTP/1.1\r\nHost: " + HOST + b"\r\n"
                       b"X_Forwarded_For: 6.6.6.6\r\nX_Forwarded_Client_Cert: By=evil\r\n"
                       b"X_Request_Id: forged\r\nContent_Length: 99\r\n"
                       b"X_Custom_Thing: kept\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX_Forwarded_For: 7.7.7.7\r\n\r\n")
            statuses, data, _ = ru.h1_exchange(t.gw.port, payload)
            h.check(statuses[:1] == [200], f"client got {data[:300]!r}")
            h.wait_for(lambda: b"x-checksum" in t.raw.bytes_since(mark).lower(), 5,
                       "trailer at the upstream")
            raw = t.raw.bytes_since(mark)
            h.check(b"6.6.6.6" not in raw and b"evil" not in raw and b"forged" not in raw
                    and b"7.7.7.7" not in raw and b"content_length" not in raw.lower()
                    and b": 99\r\n" not in raw,  # not a bare "99": the random x-request-id has some
                    f"an underscore spelling reached the upstream: {raw!r}")
            h.check(b"x_custom_thing: kept" in raw.lower(), f"other underscores pass: {raw!r}")
            h.check(b"0\r\nx-checksum: abc\r\n\r\n" in raw, f"trailer section: {raw!r}")
        finally:
            t.raw.stop()


BAD_RESPONSES = [
    ("space_in_name", b"HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 2\r\n\r\nok"),
    ("bad_chunk_size", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n"),
    ("bare_cr_head", b"HTTP/1.1 200 OK\r\nX-A: 1\rContent-Length: 2\r\n\r\nok"),
    ("chunk_data_not_crlf", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXY0\r\n\r\n"),
]


def test_malformed_upstream_responses_are_502_and_logged():
    with h.TestEnv("strict") as env:
        t = ru.hostile_topology(env)
        try:
            failures = []
            for name, resp in BAD_RESPONSES:
                t.raw.response = resp
                path = f"/bad/{name}".encode()
                statuses, data, _ = ru.h1_exchange(
                    t.gw.port, b"GET " + path + b" HTTP/1.1\r\nHost: " + HOST + b"\r\n\r\n")
                if statuses[:1] != [502] or b"Bad Name" in data:
                    failures.append(f"{name}: client got {data[:300]!r}")
                    continue
                logged = t.gw.wait_access(lambda e, p=path.decode(): e.get("path") == p, name)
                if logged[0].get("status") != 502 or \
                        logged[0].get("reason") != "upstream_protocol_error":
                    failures.append(f"{name}: access log {logged[0]!r}")
            t.raw.response = ru.FIXED_RESPONSE
            h.canary(t)
            h.check(not failures, "\n".join(failures))
        finally:
            t.raw.stop()
