"""Whether a TCP port is free, checked before a command spends time (migrating, rendering) on a
service it then could not start."""

from __future__ import annotations

import errno
import socket

from nce.errors import NceError


class PortInUse(NceError):
    """The port a command would listen on is taken."""


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`PortInUse` (``port N is in use; pass --port``) when ``host:port`` cannot be bound;
    port 0 (any free port) always passes."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            why = "in use" if exc.errno == errno.EADDRINUSE else f"not available on {host} ({exc.strerror})"
            raise PortInUse(
                f"port {port} is {why}; pass --port (another port, or 0 for any free one)"
            ) from None
