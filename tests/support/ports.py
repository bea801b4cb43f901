"""Free TCP ports for servers the tests start."""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A port nothing listens on at this moment (the kernel's pick for a port-0 bind).

    The port is released before the caller's server binds it, so another process could take
    it in between; tests accept that small race rather than pass sockets around. Servers that
    can bind port 0 themselves and report it (the model server, Chromium) should do that.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def accepts_connections(port: int, host: str = LOOPBACK, timeout: float = 1.0) -> bool:
    """Whether something listens on ``host:port`` (a readiness probe for servers that print
    nothing when they are up)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
