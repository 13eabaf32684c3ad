"""A raw HTTP/2 client (hyperframe + hpack, Debian's python3-h2 stack): frames are built by hand
so nothing is sanitised on the client side."""

import socket
import time

import hpack
from hyperframe import frame as hf

from .procs import check
from .upstream import HOSTILE_HOST, tls_connect

__all__ = ['PREFACE', 'REJECTIONS', 'PROTOCOL_ERROR', 'FLOW_CONTROL_ERROR', 'REFUSED_STREAM',
           'CANCEL', 'ENHANCE_YOUR_CALM', 'S_HEADER_TABLE_SIZE', 'S_MAX_CONCURRENT_STREAMS',
           'S_INITIAL_WINDOW_SIZE', 'H2Conn']


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
REJECTIONS = "portcullis_rejections_total"

PROTOCOL_ERROR, FLOW_CONTROL_ERROR, REFUSED_STREAM, CANCEL, ENHANCE_YOUR_CALM = (
    0x1, 0x3, 0x7, 0x8, 0xb)
S_HEADER_TABLE_SIZE, S_MAX_CONCURRENT_STREAMS, S_INITIAL_WINDOW_SIZE = 0x1, 0x3, 0x4


class H2Conn:
    """A raw HTTP/2 client connection over TLS (ALPN h2) to the gateway."""

    def __init__(self, port, sni=HOSTILE_HOST, settings=None):
        self.sock = tls_connect(port, "h2", sni=sni)
        self.enc = hpack.Encoder()
        self.buf = b""
        self.frames = []  # every frame received, in order
        self.closed = False
        s = hf.SettingsFrame(0)
        s.settings = settings or {}
        self.sock.sendall(PREFACE + s.serialize())

    def send(self, *frames):
        self.sock.sendall(b"".join(f.serialize() for f in frames))

    def block(self, headers, **kw):
        return self.enc.encode(headers, **kw)

    def request_headers(self, path="/", method="GET", authority=HOSTILE_HOST, extra=()):
        return [(":method", method), (":scheme", "https"), (":authority", authority),
                (":path", path)] + list(extra)

    def headers_frame(self, stream_id, block, end_stream=True, end_headers=True):
        f = hf.HeadersFrame(stream_id)
        f.data = block
        f.flags = set()
        if end_stream:
            f.flags.add("END_STREAM")
        if end_headers:
            f.flags.add("END_HEADERS")
        return f

    def split_headers_frames(self, stream_id, block, size=16000):
        """A header block over several frames: HEADERS (END_STREAM), then CONTINUATION frames of
        at most `size` bytes, the last with END_HEADERS."""
        chunks = [block[i:i + size] for i in range(0, len(block), size)]
        frames = [self.headers_frame(stream_id, chunks[0], end_headers=len(chunks) == 1)]
        for i, chunk in enumerate(chunks[1:]):
            cf = hf.ContinuationFrame(stream_id)
            cf.data = chunk
            cf.flags = {"END_HEADERS"} if i == len(chunks) - 2 else set()
            frames.append(cf)
        return frames

    def rapid_reset(self, path, count):
        """Sends `count` HEADERS + RST_STREAM(CANCEL) pairs for `path` in one write (Rapid Reset)."""
        block = self.block(self.request_headers(path))
        batch = []
        for i in range(count):
            sid = 1 + 2 * i
            batch.append(self.headers_frame(sid, block))
            r = hf.RstStreamFrame(sid)
            r.error_code = CANCEL
            batch.append(r)
        self.send(*batch)

    def pump(self, timeout=0.5):
        """Reads what is available for up to timeout seconds; parses frames."""
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, min(0.2, deadline - time.monotonic())))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                self.closed = True
                break
            if not data:
                self.closed = True
                break
            self.buf += data
            self._parse()
        return self.frames

    def _parse(self):
        while len(self.buf) >= 9:
            f, length = hf.Frame.parse_frame_header(memoryview(self.buf[:9]))
            if len(self.buf) < 9 + length:
                return
            f.parse_body(memoryview(self.buf[9:9 + length]))
            self.buf = self.buf[9 + length:]
            if isinstance(f, hf.SettingsFrame) and "ACK" not in f.flags:
                self.send(hf.SettingsFrame(0, flags=["ACK"]))
            self.frames.append(f)

    def wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [f for f in self.frames if pred(f)]
            if found:
                return found
            if self.closed:
                break
            self.pump(0.2)
        found = [f for f in self.frames if pred(f)]
        check(found, f"{what}: not seen within {timeout}s; frames: {self.summary()}")
        return found

    def goaway(self):
        return next((f for f in self.frames if isinstance(f, hf.GoAwayFrame)), None)

    def rst(self, stream_id):
        return next((f for f in self.frames
                     if isinstance(f, hf.RstStreamFrame) and f.stream_id == stream_id), None)

    def status(self, stream_id):
        dec = hpack.Decoder()
        for f in self.frames:
            if isinstance(f, hf.HeadersFrame):
                hdrs = dec.decode(f.data, raw=True)
                if f.stream_id == stream_id:
                    return dict(hdrs).get(b":status")
        return None

    def summary(self, limit=30):
        out = []
        for f in self.frames[-limit:]:
            extra = ""
            if isinstance(f, hf.RstStreamFrame):
                extra = f" code={f.error_code}"
            elif isinstance(f, hf.GoAwayFrame):
                extra = f" code={f.error_code} last={f.last_stream_id} {f.additional_data[:60]!r}"
            out.append(f"{type(f).__name__}(sid={f.stream_id}{extra})")
        return f"{len(self.frames)} frames, closed={self.closed}, last: " + ", ".join(out)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
