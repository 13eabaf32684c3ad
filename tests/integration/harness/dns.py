"""A tiny stdlib-only UDP DNS responder for the egress integration tests.

Answers A queries from a dict {name: [ipv4, ...]} (names compared case-insensitively, without the
trailing dot); AAAA queries and any other type for a known name get NOERROR with no records; an
unknown name gets NXDOMAIN. Runs in a daemon thread on a free loopback UDP port; records every
query it saw as (name, qtype) so tests can assert what the gateway asked.

    with DnsStub({"api.partner.test": ["127.0.0.1"]}) as dns:
        resolver = dns.address   # "127.0.0.1:PORT"
"""

import socket
import struct
import threading

QTYPE_A = 1
QTYPE_AAAA = 28
_QTYPE_NAMES = {QTYPE_A: "A", QTYPE_AAAA: "AAAA"}


def _parse_question(data):
    """Returns (id, flags, qname, qtype, qclass, end_offset) or None for a malformed query."""
    if len(data) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", data[:6])
    if qdcount < 1:
        return None
    labels = []
    i = 12
    while True:
        if i >= len(data):
            return None
        n = data[i]
        i += 1
        if n == 0:
            break
        if n & 0xC0 or i + n > len(data):
            return None  # compression in a question: not from a sane client
        labels.append(data[i:i + n].decode("ascii", "replace"))
        i += n
    if i + 4 > len(data):
        return None
    qtype, qclass = struct.unpack("!HH", data[i:i + 4])
    return qid, flags, ".".join(labels), qtype, qclass, i + 4


class DnsStub:
    """UDP DNS responder on 127.0.0.1:<free port>. Use as a context manager or start()/stop()."""

    def __init__(self, records=None, host="127.0.0.1", ttl=5):
        self.records = {k.lower().rstrip("."): list(v) for k, v in (records or {}).items()}
        self.ttl = ttl
        self.queries = []  # (name, "A"/"AAAA"/number)
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, 0))
        self._sock.settimeout(0.2)
        self.host = host
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dns-stub", daemon=True)

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def set(self, name, addresses):
        with self._lock:
            self.records[name.lower().rstrip(".")] = list(addresses)

    def asked(self, name):
        """The query types seen for name."""
        name = name.lower().rstrip(".")
        with self._lock:
            return [t for n, t in self.queries if n == name]

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _loop(self):
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            reply = self._answer(data)
            if reply is not None:
                try:
                    self._sock.sendto(reply, peer)
                except OSError:
                    pass

    def _answer(self, data):
        q = _parse_question(data)
        if q is None:
            return None
        qid, flags, qname, qtype, qclass, end = q
        name = qname.lower().rstrip(".")
        with self._lock:
            self.queries.append((name, _QTYPE_NAMES.get(qtype, qtype)))
            known = name in self.records
            addrs = list(self.records.get(name, ()))
        question = data[12:end]
        answers = b""
        count = 0
        if known and qtype == QTYPE_A:
            for a in addrs:
                # pointer to the question name at offset 12
                answers += struct.pack("!HHHIH", 0xC00C, QTYPE_A, qclass, self.ttl, 4)
                answers += socket.inet_aton(a)
                count += 1
        rcode = 0 if known else 3  # NXDOMAIN for names we do not know
        rd = flags & 0x0100
        rflags = 0x8000 | 0x0400 | rd | 0x0080 | rcode  # QR, AA, RD copied, RA
        header = struct.pack("!HHHHHH", qid, rflags, 1, count, 0, 0)
        return header + question + answers
