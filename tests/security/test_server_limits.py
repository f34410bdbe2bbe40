"""The HTTP server's own limits (service.server, as ``nce serve`` runs it): a connection that does
not complete a request's headers within ``header_timeout_s`` is closed, however it trickles bytes;
an oversized request head is refused; a prompt client is served (the control)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from .conftest import POLICY, Running

TIMEOUT = POLICY["header_timeout_s"]
GIVE_UP = TIMEOUT + 10  # a connection still open then was not closed by the server


def _closed_after(sock: socket.socket, trickle: Callable[[int], bytes | None]) -> tuple[float, bytes]:
    """Feed ``trickle(i)`` every 0.25 s until the server closes; the seconds it took and what it sent."""
    sock.settimeout(0.25)
    t0 = time.monotonic()
    got = b""
    i = 0
    while time.monotonic() - t0 < GIVE_UP:
        try:
            data = sock.recv(65536)
            if not data:
                return time.monotonic() - t0, got
            got += data
        except TimeoutError:
            pass
        except ConnectionResetError:
            return time.monotonic() - t0, got
        chunk = trickle(i)
        i += 1
        if chunk:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - t0, got
    return float("inf"), got


def _response(sock: socket.socket) -> bytes:
    """One whole response (head and Content-Length body) from ``sock``."""
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _keep_alive_then(sock: socket.socket) -> None:
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    assert _response(sock).startswith(b"HTTP/1.1 200")
    sock.sendall(b"GET /healthz HTTP/1.1\r\n")


# (id, what to send at once, what to send every 0.25 s, closed by the header timeout?)
SLOW: list[tuple[str, Callable[[socket.socket], None], Callable[[int], bytes | None]]] = [
    ("nothing-at-all", lambda s: None, lambda i: None),
    ("request-line-then-nothing", lambda s: s.sendall(b"GET /healthz HTTP/1.1\r\n"), lambda i: None),
    (
        "a-header-byte-now-and-then",
        lambda s: s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n"),
        lambda i: b"X",
    ),
    ("second-request-on-keep-alive", _keep_alive_then, lambda i: b"X-Slow: 1\r\n"),
]


@pytest.mark.parametrize(("name", "opening", "trickle"), SLOW, ids=[c[0] for c in SLOW])
def test_a_connection_without_complete_headers_is_closed(
    svc: Running, name: str, opening: Callable[[socket.socket], None], trickle: Callable[[int], bytes | None]
) -> None:
    with socket.create_connection(("127.0.0.1", svc.port), timeout=5) as sock:
        opening(sock)
        after, _ = _closed_after(sock, trickle)
    assert after <= TIMEOUT + 2, f"{name}: still open after {after:.1f} s (timeout {TIMEOUT} s)"
    print(f"\n{name}: closed after {after:.2f} s (header timeout {TIMEOUT} s)")


def test_a_prompt_client_is_served_on_one_connection(svc: Running) -> None:
    """The control: a client that completes its headers in time keeps its connection."""
    with socket.create_connection(("127.0.0.1", svc.port), timeout=5) as sock:
        for _ in range(3):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            assert _response(sock).startswith(b"HTTP/1.1 200")
            time.sleep(TIMEOUT * 0.6)  # within keep-alive (5 s); twice this is past the header timeout


def test_an_oversized_request_head_is_refused(svc: Running) -> None:
    """A head that is still incomplete past ``max_header_bytes`` (16 KiB) is not buffered further."""
    with socket.create_connection(("127.0.0.1", svc.port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 40_000)
        answer = _response(sock)
    assert answer.startswith(b"HTTP/1.1 400")
