"""Raw HTTP/1.1 on a socket, for tests that write the bytes themselves (stdlib only).

    data = recv_until_close(sock)                    # every byte until the peer closes
    raw = http_exchange(port, b"GET / HTTP/1.1\\r\\n...", timeout=10)   # one response's bytes

Loops are bounded by a byte limit; socket errors other than a timeout propagate.
"""

import socket

from .procs import MIB

__all__ = ['recv_until_close', 'response_complete', 'http_exchange']


def recv_until_close(sock, limit=16 * MIB, bufsize=65536):
    """Reads until the peer closes (or limit bytes) with the socket's own timeout."""
    data = b""
    while len(data) < limit:
        chunk = sock.recv(bufsize)
        if not chunk:
            break
        data += chunk
    return data


def response_complete(data):
    """True when data holds a response head and as many body bytes as its Content-Length says
    (without Content-Length only the peer's close ends the response)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


def http_exchange(port, request, prelude=b"", timeout=10, limit=16 * MIB):
    """Sends prelude + request to 127.0.0.1:port and returns the bytes of the answer: up to the
    end of a Content-Length body, the peer's close, or a read that waited `timeout`."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(prelude + request)
        data = b""
        try:
            while len(data) < limit and not response_complete(data):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
    return data
