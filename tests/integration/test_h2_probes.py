"""Hostile HTTP/2 clients: the advertised limits, concurrent-stream refusal, header list and
CONTINUATION limits, Rapid Reset, PING flood, HPACK bomb, host/:authority disagreement, and
uppercase or connection-specific header names.

Frames are built by hand (hyperframe + hpack, Debian's python3-h2 stack) so nothing is
sanitised on the client side. Each probe checks the reaction, the counter on /metrics where one
applies, that nothing reached the upstream (a raw recording server), and that a canary request
on another connection still succeeds.
"""

import socket
import time

from hyperframe import frame as hf

import harness as h
from harness import upstream as ru
from harness.h2 import (CANCEL, ENHANCE_YOUR_CALM, FLOW_CONTROL_ERROR, PROTOCOL_ERROR,
                       REFUSED_STREAM, REJECTIONS, S_HEADER_TABLE_SIZE, S_INITIAL_WINDOW_SIZE,
                       S_MAX_CONCURRENT_STREAMS, H2Conn)

HOST = ru.HOSTILE_HOST


def _not_forwarded(t, mark, what):
    time.sleep(0.3)
    reqs, errs = t.raw.since(mark)
    h.check(not reqs and not errs, f"{what}: reached the upstream: {reqs!r} {errs!r}")


def _stream_refused(c, sid, what):
    """The stream got RST_STREAM or a 4xx response."""
    c.wait(lambda f: (isinstance(f, hf.RstStreamFrame) and f.stream_id == sid)
           or (isinstance(f, hf.HeadersFrame) and f.stream_id == sid)
           or isinstance(f, hf.GoAwayFrame), 5, f"{what}: a reaction on stream {sid}")
    rst = c.rst(sid)
    status = c.status(sid)
    h.check(rst is not None or (status is not None and status.startswith(b"4")),
            f"{what}: stream {sid} neither reset nor 4xx (status {status}); {c.summary()}")
    return rst, status


def test_h2_advertised_settings_and_ok_request():
    with h.TestEnv("h2probe") as env:
        t = ru.hostile_topology(env)
        try:
            c = H2Conn(t.gw.port)
            c.wait(lambda f: isinstance(f, hf.SettingsFrame) and "ACK" not in f.flags, 5,
                   "server SETTINGS")
            s = next(f for f in c.frames if isinstance(f, hf.SettingsFrame))
            h.check(s.settings.get(S_MAX_CONCURRENT_STREAMS) == 100, f"settings {s.settings}")
            h.check(s.settings.get(S_INITIAL_WINDOW_SIZE) == 65536, f"settings {s.settings}")
            h.check(s.settings.get(S_HEADER_TABLE_SIZE, 4096) == 4096, f"settings {s.settings}")
            c.send(c.headers_frame(1, c.block(c.request_headers("/ok"))))
            c.wait(lambda f: isinstance(f, hf.DataFrame) and "END_STREAM" in f.flags, 5,
                   "response to a normal request")
            h.check(c.status(1) == b"200", f"status {c.status(1)}; {c.summary()}")
            c.close()
        finally:
            t.raw.stop()


def test_h2_concurrent_streams_past_100_refused():
    with h.TestEnv("h2probe") as env:
        t = ru.hostile_topology(env)
        try:
            before = h.scrape_sum(t.gw, REJECTIONS, reason="h2_flood")
            c = H2Conn(t.gw.port)
            c.pump(0.3)
            # 101 POSTs whose bodies never come: they stay open
            frames = [c.headers_frame(1 + 2 * i, c.block(c.request_headers(
                f"/open{i}", "POST", extra=[("content-length", "10")])), end_stream=False)
                for i in range(101)]
            c.send(*frames)
            # Once the client has acknowledged SETTINGS, nghttp2 1.52 treats a stream past the
            # limit as a connection error (RFC 9113 5.1.2 allows PROTOCOL_ERROR or
            # REFUSED_STREAM); before the ACK it answers REFUSED_STREAM. Either way the 101st
            # stream is never forwarded and the streams within the limit are not reset.
            c.wait(lambda f: (isinstance(f, hf.RstStreamFrame) and f.stream_id == 201)
                   or isinstance(f, hf.GoAwayFrame), 5,
                   "RST_STREAM on stream 201 (the 101st) or GOAWAY")
            rst, goaway = c.rst(201), c.goaway()
            if rst is not None:
                h.check(rst.error_code == REFUSED_STREAM,
                        f"101st stream reset with {rst.error_code}, want REFUSED_STREAM")
                h.check(goaway is None, f"connection ended: {c.summary()}")
                h.wait_metric_above(t.gw, REJECTIONS, before, reason="h2_flood")
            else:
                h.check(goaway.error_code == 1 and goaway.last_stream_id == 199,
                        f"want GOAWAY PROTOCOL_ERROR last=199: {c.summary()}")
                h.wait_metric_above(t.gw, REJECTIONS, 0.0, reason="h2_protocol_error")
            early = [f for f in c.frames if isinstance(f, hf.RstStreamFrame) and f.stream_id < 201]
            h.check(not early, f"streams within the limit were reset: {c.summary()}")
            c.close()
            h.canary(t, http2=True)
        finally:
            t.raw.stop()


def test_h2_stream_window_overrun_refused():
    with h.TestEnv("h2probe") as env:
        t = ru.hostile_topology(env)
        try:
            mark = t.raw.mark()
            c = H2Conn(t.gw.port)
            c.pump(0.3)
            # /stall/ routes to an upstream that never completes its handshake, so nothing
            # the gateway receives is consumed and no stream WINDOW_UPDATE can be due: the
            # outcome does not depend on how fast the upstream drains.
            c.send(c.headers_frame(1, c.block(c.request_headers(
                "/stall/window", "POST", extra=[("content-length", "100000")])),
                end_stream=False))
            # 80 KiB of DATA: past the advertised 64 KiB stream window (the gateway may have
            # raised the connection window, never the stream's without a WINDOW_UPDATE)
            frames = []
            for _ in range(5):
                d = hf.DataFrame(1)
                d.data = b"w" * 16384
                frames.append(d)
            granted = sum(f.window_increment for f in c.frames
                          if isinstance(f, hf.WindowUpdateFrame) and f.stream_id == 1)
            h.check(granted == 0, f"stream 1 window raised before any data: {granted}")
            try:
                c.send(*frames)
            except OSError:
                pass
            c.pump(3)
            print(f"  80 KiB on a 64 KiB window: {c.summary(4)}")
            codes = [f.error_code for f in c.frames
                     if isinstance(f, (hf.RstStreamFrame, hf.GoAwayFrame))
                     and f.stream_id in (0, 1)]
            h.check(FLOW_CONTROL_ERROR in codes or c.closed,
                    f"80 KiB of DATA on a 64 KiB stream window accepted; {c.summary()}")
            # the overrun must be refused by the gateway itself: the request never reaches the
            # raw upstream at all (a request routed there would make this fail)
            time.sleep(0.3)
            got = t.raw.bytes_since(mark)
            h.check(not got, f"/stall/ request reached the raw upstream: {got[:300]!r}")
            c.close()
            h.canary(t, http2=True)
        finally:
            t.raw.stop()


def test_h2_header_list_over_64k_refused():
    with h.TestEnv("h2probe") as env:
        t = ru.hostile_topology(env)
        try:
            mark = t.raw.mark()
            before = h.scrape_sum(t.gw, REJECTIONS, reason="headers_too_large")
            c = H2Conn(t.gw.port)
            c.pump(0.3)
            big = [(f"x-big-{i}", "a" * 7000) for i in range(10)]  # ~70 KiB decoded
            block = c.block(c.request_headers("/big", extra=big), huffman=False)
            c.send(*c.split_headers_frames(1, block))
            rst, status = _stream_refused(c, 1, "70 KiB header list")
            print(f"  70 KiB header list: status {status}; {c.summary(3)}")
            if status is not None:
                h.check(status == b"431", f"status {status}, want 431")
            _not_forwarded(t, mark, "70 KiB header list")
            # the connection is still usable (a stream error, not a connection error) or closed
            h.wait_metric_above(t.gw, REJECTIONS, before, reason="headers_too_large")
            c.close()
            h.canary(t, http2=True)
        finally:
            t.raw.stop()


def test_h2_more_than_8_continuations_refused():
    with h.TestEnv("h2probe") as env:
        t = ru.hostile_topology(env)
        try:
            mark = t.raw.mark()
            before = sum(h.scrape_sum(t.gw, REJECTIONS, reason=r) for r in
                         ("h2_flood", "h2_protocol_error", "headers_too_large"))
            c = H2Conn(t.gw.port)
            c.pump(0.3)
            block = c.block(c.request_headers("/cont", extra=[(f"x-c{i}", "v" * 50)
                                                               for i in range(20)]))
            n = 12
            size = len(block) // (n + 1) + 1
            frames = c.split_headers_frames(1, block, size)
            h.check(len(frames) >= 10, f"only {len(frames)} pieces")
            try:
                c.send(*frames)
            except OSError:
                pass
            c.pump(3)
            g = c.goaway()
            print(f"  {len(frames) - 1} CONTINUATION frames: {c.summary(3)}")
            h.check(g is not None or c.closed,
                    f"{len(frames) - 1} CONTINUATION frames accepted; {c.summary()}")
            if g is not None:
                h.check(g.error_code in (ENHANCE_YOUR_CALM, PROTOCOL_ERROR),
                        f"GOAWAY code {g.error_code}")
            h.check(c.status(1) is None, f"request answered: {c.summary()}")
            _not_forwarded(t, mark, "too many CONTINUATION frames")
            h.wait_for(lambda: sum(h.scrape_sum(t.gw, REJECTIONS, reason=r) for r in
                                   ("h2_flood", "h2_protocol_error", "headers_too_large"))
                       > before, 5, "portcullis_rejections_total{reason=h2_flood|"
                       "h2_protocol_error|headers_too_large} to rise")
            c.close()
            h.canary(t, http2=True)
        finally:
            t.raw.stop()


def test_h2_rapid_reset_gets_enhance_your_calm():
    with h.TestEnv("h2probe") as env:
        t = ru.hostile_topology(env)
        try:
            before = h.scrape_sum(t.gw, REJECTIONS, reason="h2_flood")
            c = H2Conn(t.gw.port)
            c.pump(0.3)
            sent = 0
            block = c.block(c.request_headers("/reset"))  # indexed: the same bytes every time
            sid = 1
            start = time.monotonic()
            canary = None
            while sent < 5000 and not c.closed and c.goaway() is None:
                if sent == 300:
                    canary = h.CanaryThread(t)  # another connection, during the flood
                    canary.start()
                batch = []
                for _ in range(100):
                    batch.append(c.headers_frame(sid, block))
                    r = hf.RstStreamFrame(sid)
                    r.error_code = CANCEL
                    batch.append(r)
                    sid += 2
                    sent += 1
                try:
                    c.send(*batch)
                except OSError:
                    c.closed = True
                    break
                c.pump(0.01)
                h.check(time.monotonic() - start < 15, "rapid reset loop took over 15 s")
            c.pump(3)
            codes = [f.error_code for f in c.frames if isinstance(f, hf.GoAwayFrame)]
            print(f"  rapid reset: {sent} streams sent; {c.summary(3)}")
            h.check(ENHANCE_YOUR_CALM in codes or c.closed,
                    f"{sent} open+reset streams: no GOAWAY ENHANCE_YOUR_CALM (GOAWAY codes "
                    f"{codes}) and the connection is still open; {c.summary()}")
            c.close()
            h.check(canary is not None, f"flood ended after {sent} streams, before the canary")
            canary.check()
            h.canary(t, http2=True)
            h.wait_metric_above(t.gw, REJECTIONS, before, reason="h2_flood")
        finally:
            t.raw.stop()


def test_h2_ping_flood_without_reading_closed():
    with h.TestEnv("h2probe") as env:
        t = ru.hostile_topology(env)
        try:
            before = h.scrape_sum(t.gw, REJECTIONS, reason="h2_flood")
            c = H2Conn(t.gw.port)
            c.pump(0.3)
            ping = b"".join(hf.PingFrame(0, opaque_data=b"%08d" % i).serialize()
                            for i in range(1000))
            c.sock.settimeout(0.5)
            start = time.monotonic()
            sent = 0
            blocked = False
            canary = h.CanaryThread(t)  # another connection, during the flood
            canary.start()
            while sent < 1_000_000 and time.monotonic() - start < 8:
                try:
                    c.sock.sendall(ping)
                    sent += 1000
                except socket.timeout:
                    blocked = True  # the gateway stopped reading: keep trying until 8 s
                    continue
                except OSError:
                    c.closed = True
                    break
            # now read: PING ACKs, then GOAWAY and EOF are expected
            deadline = time.monotonic() + 6
            while not c.closed and time.monotonic() < deadline:
                c.pump(0.5)
                if c.goaway() is not None:
                    c.pump(1)
                    break
            g = c.goaway()
            print(f"  PING flood: {sent} PINGs sent, send blocked={blocked}; {c.summary(2)}")
            h.check(c.closed or g is not None,
                    f"PING flood ({sent} PINGs, send blocked={blocked}): connection not closed,"
                    f" no GOAWAY; {c.summary(5)}")
            if g is not None:
                h.check(g.error_code == ENHANCE_YOUR_CALM, f"GOAWAY code {g.error_code}")
            c.close()
            canary.check()
            h.canary(t, http2=True)
            h.wait_metric_above(t.gw, REJECTIONS, before, reason="h2_flood")
        finally:
            t.raw.stop()


def test_h2_hpack_bomb_refused():
    with h.TestEnv("h2probe") as env:
        t = ru.hostile_topology(env)
        try:
            mark = t.raw.mark()
            before = h.scrape_sum(t.gw, REJECTIONS, reason="headers_too_large")
            c = H2Conn(t.gw.port)
            c.pump(0.3)
            # one ~4 KiB header inserted into the dynamic table, then referenced 200 times:
            # 800 KiB decoded from about 4 KiB on the wire
            bomb = ("x-bomb", "b" * 4000)
            block = c.block(c.request_headers("/bomb") + [bomb] * 200, huffman=False)
            h.check(len(block) < 5000, f"block is {len(block)} bytes: not a bomb")
            c.send(c.headers_frame(1, block))
            rst, status = _stream_refused(c, 1, "HPACK bomb")
            print(f"  HPACK bomb: status {status}; {c.summary(3)}")
            if status is not None:
                h.check(status == b"431", f"status {status}, want 431")
            _not_forwarded(t, mark, "HPACK bomb")
            if c.goaway() is None and not c.closed:
                h.wait_metric_above(t.gw, REJECTIONS, before, reason="headers_too_large")
            c.close()
            h.canary(t, http2=True)
        finally:
            t.raw.stop()


def _bad_stream(t, extra, authority=HOST, what=""):
    mark = t.raw.mark()
    before = h.scrape_sum(t.gw, REJECTIONS)
    c = H2Conn(t.gw.port)
    c.pump(0.3)
    c.send(c.headers_frame(1, c.block(c.request_headers("/bad", authority=authority,
                                                        extra=extra))))
    rst, status = _stream_refused(c, 1, what)
    if status is not None:
        h.check(status == b"400", f"{what}: status {status}, want 400 (or a reset)")
    _not_forwarded(t, mark, what)
    h.wait_metric_above(t.gw, REJECTIONS, before)
    # the connection survives a stream error: a good request on it still works
    if c.goaway() is None and not c.closed:
        c.send(c.headers_frame(3, c.block(c.request_headers("/after"))))
        c.wait(lambda f: isinstance(f, hf.HeadersFrame) and f.stream_id == 3, 5,
               f"{what}: response on stream 3 after the refused stream")
        h.check(c.status(3) == b"200", f"{what}: next stream got {c.status(3)}")
    c.close()


def test_h2_host_disagreeing_with_authority_refused():
    with h.TestEnv("h2probe") as env:
        t = ru.hostile_topology(env)
        try:
            _bad_stream(t, [("host", h.GLOBEX_HOST)], what="host != :authority")
            _bad_stream(t, [("host", "evil.example")], what="host (unknown) != :authority")
            h.canary(t, http2=True)
        finally:
            t.raw.stop()


def test_h2_uppercase_and_connection_specific_headers_refused():
    with h.TestEnv("h2probe") as env:
        t = ru.hostile_topology(env)
        try:
            before = h.scrape_sum(t.gw, REJECTIONS)
            cases = [[("X-Upper", "1")], [("connection", "close")],
                     [("transfer-encoding", "chunked")], [("keep-alive", "timeout=5")],
                     [("proxy-connection", "keep-alive")], [("upgrade", "h2c")],
                     [("te", "gzip")], [("x-ok", "a\r\nx-injected: 1")]]
            for extra in cases:
                _bad_stream(t, extra, what=f"header {extra[0]!r}")
            after = h.scrape_sum(t.gw, REJECTIONS)
            h.check(after >= before + len(cases),
                    f"portcullis_rejections_total rose by {after - before}, want {len(cases)}")
            h.canary(t, http2=True)
        finally:
            t.raw.stop()
