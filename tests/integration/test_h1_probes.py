"""Hostile HTTP/1.1 and TLS clients: header size and count limits, slowloris on headers and on
the TLS handshake; HTTP/2's header deadline (a stream's head, not an idle connection). Each probe checks the reaction, the counter on /metrics, that nothing reached
the upstream, and that a canary request on another connection still succeeds.
"""

import socket
import struct
import time

import h2.config
import h2.connection
import h2.events
import hpack

import harness as h
from harness import upstream as ru

HOST = ru.HOSTILE_HOST
SHORT_LIMITS = '\n[limits]\nheader_timeout = "2s"\ntls_handshake_timeout = "2s"\n'
REJECTIONS = "portcullis_rejections_total"
HS_FAILURES = "portcullis_tls_handshake_failures_total"


def _refused(t, payload, want_status, reason, what):
    mark = t.raw.mark()
    before = h.scrape_sum(t.gw, REJECTIONS, reason=reason)
    statuses, data, closed = ru.h1_exchange(t.gw.port, payload, total_timeout=8)
    h.check(statuses[:1] == [want_status], f"{what}: want {want_status}, got {data[:300]!r}")
    h.check(closed, f"{what}: connection not closed after {want_status}")
    h.wait_metric_above(t.gw, REJECTIONS, before, reason=reason)
    time.sleep(0.2)
    reqs, errs = t.raw.since(mark)
    h.check(not reqs and not errs, f"{what}: reached the upstream: {reqs!r} {errs!r}")
    h.canary(t)


def test_h1_headers_over_64k_get_431():
    with h.TestEnv("h1probe") as env:
        t = ru.hostile_topology(env)
        try:
            big = b"X-Big: " + b"a" * 8000
            payload = (b"GET /big HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n"
                       + b"\r\n".join([big] * 9) + b"\r\n\r\n")  # ~72 KiB, 11 fields
            _refused(t, payload, 431, "headers_too_large", "72 KiB of headers")
            # one single huge request line
            payload = (b"GET /" + b"p" * (70 * 1024) + b" HTTP/1.1\r\nHost: " + HOST.encode()
                       + b"\r\n\r\n")
            mark = t.raw.mark()
            statuses, data, closed = ru.h1_exchange(t.gw.port, payload, total_timeout=8)
            h.check(statuses[:1] in ([431], [414]) and closed,
                    f"70 KiB request line: want 431/414 + close, got {data[:300]!r} {closed}")
            h.check(t.raw.since(mark) == ([], []), "70 KiB request line reached the upstream")
        finally:
            t.raw.stop()


def test_h1_more_than_100_header_fields_get_431():
    with h.TestEnv("h1probe") as env:
        t = ru.hostile_topology(env)
        try:
            # 100 fields in all (Host + 99) is allowed
            ok = (b"GET /many HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n"
                  + b"".join(b"X-F%d: v\r\n" % i for i in range(99)) + b"\r\n")
            statuses, data, _ = ru.h1_exchange(t.gw.port, ok)
            h.check(statuses[:1] == [200], f"100 header fields refused: {data[:300]!r}")
            payload = (b"GET /many HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n"
                       + b"".join(b"X-F%d: v\r\n" % i for i in range(150)) + b"\r\n")
            _refused(t, payload, 431, "headers_too_large", "151 header fields")
        finally:
            t.raw.stop()


def test_h1_slowloris_headers_get_408():
    with h.TestEnv("h1probe") as env:
        t = ru.hostile_topology(env, extra_gateway_toml=SHORT_LIMITS)
        try:
            mark = t.raw.mark()
            before = h.scrape_sum(t.gw, REJECTIONS, reason="header_timeout")
            s = ru.tls_connect(t.gw.port, "http/1.1")
            start = time.monotonic()
            data = b""
            closed = False
            try:
                s.sendall(b"GET /slow HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n")
                # one header byte every 0.5 s: always active, never done; bounded to 12 s
                for i in range(24):
                    try:
                        s.sendall(b"X-Slow-%d: x\r\n"[:1] if i % 2 else b"X")
                    except OSError:
                        closed = True
                        break
                    got, closed = ru.read_until_close(s, total_timeout=0.5)
                    data += got
                    if closed or data:
                        break
                if not closed:
                    got, closed = ru.read_until_close(s, total_timeout=3)
                    data += got
            finally:
                s.close()
            took = time.monotonic() - start
            h.check(ru.parse_statuses(data)[:1] == [408],
                    f"slowloris: want 408, got {data[:300]!r} after {took:.1f}s")
            h.check(closed, "slowloris: connection not closed after 408")
            h.check(1.5 <= took < 6, f"slowloris: took {took:.1f}s with header_timeout = 2s")
            h.wait_metric_above(t.gw, REJECTIONS, before, reason="header_timeout")
            h.check(t.raw.since(mark) == ([], []), "slowloris request reached the upstream")
            h.canary(t)
        finally:
            t.raw.stop()


def _h2_events(s, conn, seconds, reply=True):
    """Reads for `seconds` (until GOAWAY), answering SETTINGS and PINGs unless reply is False;
    returns (events, closed by peer)."""
    events, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            data = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            return events, True
        if not data:
            return events, True
        got = conn.receive_data(data)
        events += got
        if reply:
            s.sendall(conn.data_to_send())
        if any(isinstance(e, h2.events.ConnectionTerminated) for e in got):
            break
    return events, False


def test_h2_header_timeout_runs_for_a_head_not_an_idle_connection():
    # Browsers and gRPC clients keep HTTP/2 connections open with nothing in flight (PINGs at
    # most): that is idle_timeout's business. header_timeout bounds a stream's head that began
    # (HEADERS) and never ended (no END_HEADERS, CONTINUATION never sent).
    with h.TestEnv("h1probe") as env:
        t = ru.hostile_topology(env, extra_gateway_toml=SHORT_LIMITS)
        try:
            mark = t.raw.mark()
            before = h.scrape_sum(t.gw, REJECTIONS, reason="header_timeout")
            s = ru.tls_connect(t.gw.port, "h2")
            conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            conn.initiate_connection()
            s.sendall(conn.data_to_send())
            seen = []
            for i in range(5):  # 5 s with a PING each second: 2.5x header_timeout
                conn.ping(b"pingpong")
                s.sendall(conn.data_to_send())
                events, closed = _h2_events(s, conn, 1.0)
                seen += events
                h.check(not closed and not any(isinstance(e, h2.events.ConnectionTerminated)
                                               for e in seen),
                        f"idle HTTP/2 connection closed after {i + 1} s: {seen!r}")
            conn.send_headers(1, [(":method", "GET"), (":scheme", "https"), (":path", "/idle"),
                                  (":authority", HOST)], end_stream=True)
            s.sendall(conn.data_to_send())
            events, _ = _h2_events(s, conn, 4.0)
            statuses = [dict(e.headers).get(b":status") for e in events
                        if isinstance(e, h2.events.ResponseReceived)]
            h.check(statuses == [b"200"], f"request after idle PINGs: {events!r}")
            s.close()
            h.check(h.scrape_sum(t.gw, REJECTIONS, reason="header_timeout") == before,
                    "an idle HTTP/2 connection counted as a header_timeout")

            # A head that never ends: HEADERS without END_HEADERS, then nothing.
            mark = t.raw.mark()
            s = ru.tls_connect(t.gw.port, "h2")
            conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            conn.initiate_connection()
            block = hpack.Encoder().encode([(":method", "GET"), (":scheme", "https"),
                                            (":path", "/slow-h2"), (":authority", HOST)])
            frame = struct.pack(">I", len(block))[1:] + bytes([0x1, 0x0]) + struct.pack(">I", 3)
            s.sendall(conn.data_to_send())
            _h2_events(s, conn, 0.5)  # SETTINGS both ways: nothing may follow the HEADERS
            start = time.monotonic()
            s.sendall(frame + block)
            events, closed = _h2_events(s, conn, 6.0, reply=False)
            took = time.monotonic() - start
            goaway = [e for e in events if isinstance(e, h2.events.ConnectionTerminated)]
            h.check(goaway or closed, f"unfinished HTTP/2 head: no GOAWAY within 6 s: {events!r}")
            h.check(1.5 <= took < 6, f"unfinished HTTP/2 head: ended after {took:.1f}s "
                    "with header_timeout = 2s")
            s.close()
            h.wait_metric_above(t.gw, REJECTIONS, before, reason="header_timeout")
            h.check(t.raw.since(mark) == ([], []), "unfinished HTTP/2 head reached the upstream")
            h.canary(t)
        finally:
            t.raw.stop()


def _wait_closed(sock, limit):
    """Seconds until the peer closes sock (EOF or reset), or None after limit seconds."""
    start = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - start < limit:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - start
        if not data:
            return time.monotonic() - start
    return None


# The first 60 bytes of a real ClientHello record header + handshake header claiming 512 bytes.
PARTIAL_CLIENT_HELLO = (b"\x16\x03\x01\x02\x00" + b"\x01\x00\x01\xfc\x03\x03" + b"\x11" * 32
                        + b"\x00\x00\x04\x13\x01\x13\x02")


def test_tls_handshake_slowloris_closed():
    with h.TestEnv("h1probe") as env:
        t = ru.hostile_topology(env, extra_gateway_toml=SHORT_LIMITS)
        try:
            before = h.scrape_sum(t.gw, HS_FAILURES, reason="tls_handshake_timeout")
            for label, first in (("nothing", b""), ("partial ClientHello", PARTIAL_CLIENT_HELLO)):
                with socket.create_connection(("127.0.0.1", t.gw.port), timeout=5) as s:
                    if first:
                        s.sendall(first)
                    took = _wait_closed(s, 8)
                h.check(took is not None, f"TLS slowloris ({label}): still open after 8 s "
                        "with tls_handshake_timeout = 2s")
                h.check(1.5 <= took <= 4.5, f"TLS slowloris ({label}): closed after {took:.1f}s"
                        " (tls_handshake_timeout = 2s)")
            # trickling the ClientHello byte by byte does not extend the deadline
            with socket.create_connection(("127.0.0.1", t.gw.port), timeout=5) as s:
                start = time.monotonic()
                closed_at = None
                for i in range(len(PARTIAL_CLIENT_HELLO)):
                    try:
                        s.sendall(PARTIAL_CLIENT_HELLO[i:i + 1])
                    except OSError:
                        closed_at = time.monotonic() - start
                        break
                    if _wait_closed(s, 0.3) is not None:
                        closed_at = time.monotonic() - start
                        break
                h.check(closed_at is not None and closed_at <= 4.5,
                        f"TLS byte-trickle: not closed within 4.5 s ({closed_at})")
            h.wait_metric_above(t.gw, HS_FAILURES, before + 2, reason="tls_handshake_timeout")
            h.canary(t)
        finally:
            t.raw.stop()
