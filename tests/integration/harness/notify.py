"""A fake systemd NOTIFY_SOCKET's side: read sd_notify datagrams and their KEY=VALUE fields."""

import socket

from .procs import TestFailure

__all__ = ['fields', 'recv_until']


def fields(msg):
    return dict(line.split("=", 1) for line in msg.splitlines() if "=" in line)


def recv_until(sock, pred, what, seen=None, rounds=40):
    """Datagrams (appended to seen, when given) until one satisfies pred, which is returned;
    bounded: rounds x the socket's timeout."""
    seen = [] if seen is None else seen
    for _ in range(rounds):
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            continue
        seen.append(msg)
        if pred(msg):
            return msg
    raise TestFailure(f"no {what} notification; got {seen}")
