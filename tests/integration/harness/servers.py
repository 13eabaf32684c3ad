"""The one threaded TCP listener the test servers share (stdlib only).

    class MyUpstream(Listener):
        def serve(self, conn):          # runs on its own thread, one per accepted connection
            tls = self.ctx.wrap_socket(conn, server_side=True)
            ...
    up = MyUpstream().start()           # bound to 127.0.0.1:<free port> already in __init__
    ... up.port, up.endpoint ...
    up.close()                          # or `with MyUpstream() as up:`

or, without a subclass, Listener(handler=fn) calls fn(conn). The accept loop waits at most
ACCEPT_POLL_S a turn, so close() ends it promptly; close() joins it with a timeout and closes
the listening socket. A handler must bound its own work (socket timeouts, bounded loops) and
close its connection; the listener closes what a handler leaves open when the handler returns.

Also: server_context() (a TLS server context from files) and read_head() (read a request head).
Loopback only.
"""

import socket
import ssl
import threading

__all__ = ['ACCEPT_POLL_S', 'Listener', 'server_context', 'read_head']

ACCEPT_POLL_S = 0.2


class Listener:
    """A listening socket on 127.0.0.1 and a thread that accepts on it, a thread a connection."""

    def __init__(self, handler=None, *, backlog=64):
        self._handler = handler or self.serve
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(backlog)
        self._sock.settimeout(ACCEPT_POLL_S)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def endpoint(self):
        return f"127.0.0.1:{self.port}"

    @property
    def stopping(self):
        """True once close() has begun: long-running handlers check it to end early."""
        return self._stop.is_set()

    def start(self):
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()
        return self

    def close(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=3)
        self._sock.close()

    def stop(self):
        self.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def serve(self, conn):
        """Handles one accepted connection (on its own thread); subclasses override."""
        raise NotImplementedError

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._run_handler, args=(conn,), daemon=True).start()

    def _run_handler(self, conn):
        try:
            self._handler(conn)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()  # a no-op when the handler closed it or wrapped it in TLS


def server_context(cert, key, client_ca=None, alpn=("http/1.1",)):
    """TLS server context: cert + key; with client_ca, a client certificate is required."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.load_verify_locations(client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def read_head(sock, limit=256 * 1024):
    """Reads until a request head has ended (CRLF CRLF), the peer closed, or limit bytes; returns
    what it read (the head is complete when b"\\r\\n\\r\\n" is in it). Socket errors propagate."""
    buf = b""
    while b"\r\n\r\n" not in buf and len(buf) < limit:
        data = sock.recv(65536)
        if not data:
            break
        buf += data
    return buf
