"""Request bodies are limited on every route while they stream in: 413 as soon as the count passes
the route's limit (sign-in 8 KiB, JSON and forms 32 KiB, uploads NCE_MAX_REQUEST_BYTES), for a
declared Content-Length and for a chunked body without one, and the server's memory stays flat.
The 422 for a body the schema refuses names fields, never echoes what was sent.

The body tests run against ``nce serve`` in a subprocess (its RSS is read from /proc)."""

from __future__ import annotations

import json
import secrets
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from nce.manifest import public_key_b64
from service.crud.identities import add_device
from service.db import make_engine
from service.migrate import upgrade
from tests.support.servers import NceServe

from .conftest import PASSWORD, Running, nce_serve

HUGE = 400 * 1024 * 1024  # what the attack sent
UPLOAD_LIMIT = 2 * 1024 * 1024
RSS_SLACK = 40 * 1024 * 1024  # the server may grow this much (the attack took it from 0.17 to 2.4 GB)
SENT_SLACK = 16 * 1024 * 1024  # socket buffers: what the client pushed before it saw the answer


@dataclass
class Served:
    process: NceServe
    device_token: str

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def port(self) -> int:
        return self.process.port

    def rss(self) -> int:
        return self.process.rss()


@pytest.fixture(scope="module")
def served(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("serve")
    url = db_url if db_url.startswith("postgresql") else f"sqlite:///{tmp}/nce.sqlite3"
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as s:
        token = add_device(
            s,
            device_id=f"edge-{secrets.token_hex(4)}",
            public_key=public_key_b64(Ed25519PrivateKey.generate().public_key()).encode(),
            actor="test",
        )
    engine.dispose()
    with nce_serve(url, tmp / "ev", NCE_MAX_REQUEST_BYTES=str(UPLOAD_LIMIT)) as process:
        yield Served(process, token)


def _head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _frame(data: bytes, chunked: bool) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n" if chunked else data


def _send_until_answered(
    port: int, head: bytes, *, chunked: bool, total: int, prefix: bytes = b""
) -> tuple[int, int, float]:
    """Send ``head``, ``prefix``, then body bytes (4 KiB at a time) up to ``total`` until the server
    answers. Returns (status, body bytes sent, seconds until the answer)."""
    piece = b"x" * 4096
    frame = _frame(piece, chunked)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        t0 = time.monotonic()
        sock.sendall(head + (_frame(prefix, chunked) if prefix else b""))
        sent = len(prefix)
        while sent < total:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            if readable:
                break
            if writable:
                try:
                    sock.sendall(frame)
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += len(piece)
        answer = b""
        sock.settimeout(10)
        try:
            while b"\r\n" not in answer:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except ConnectionResetError:
            pass
        elapsed = time.monotonic() - t0
    assert answer.startswith(b"HTTP/1.1 "), f"no answer after {sent} bytes: {answer[:100]!r}"
    return int(answer.split()[1]), sent, elapsed


# an upload that is well-formed multipart as far as it goes: one endless file part
UPLOAD_PREFIX = (
    b'--b\r\nContent-Disposition: form-data; name="clip.mp4"; filename="clip.mp4"\r\n'
    b"Content-Type: video/mp4\r\n\r\n"
)
# (id, method, path, headers, chunked, expected status, largest body the server may have read)
BODIES: list[tuple[str, str, str, dict[str, str], bool, int, int]] = [
    ("login-declared", "POST", "/api/v1/auth/login", {"Content-Type": "application/json", "Content-Length": str(HUGE)}, False, 413, 0),
    ("login-chunked", "POST", "/api/v1/auth/login", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}, True, 413, 8 * 1024),
    ("console-login-chunked", "POST", "/login", {"Content-Type": "application/x-www-form-urlencoded", "Transfer-Encoding": "chunked"}, True, 413, 8 * 1024),
    ("json-route-chunked", "POST", "/api/v1/hits/events", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}, True, 413, 32 * 1024),
    ("review-declared", "POST", "/api/v1/cases/1/review", {"Content-Type": "application/json", "Content-Length": str(HUGE)}, False, 413, 0),
    ("upload-declared", "POST", "/api/v1/hits", {"Content-Type": "multipart/form-data; boundary=b", "Content-Length": str(HUGE)}, False, 413, 0),
    ("upload-chunked", "POST", "/api/v1/hits", {"Content-Type": "multipart/form-data; boundary=b", "Transfer-Encoding": "chunked", "Authorization": "DEVICE", "Idempotency-Key": "k1"}, True, 413, UPLOAD_LIMIT),
    ("upload-chunked-anonymous", "POST", "/api/v1/hits", {"Content-Type": "multipart/form-data; boundary=b", "Transfer-Encoding": "chunked", "Idempotency-Key": "k2"}, True, 401, 0),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "method", "path", "headers", "chunked", "status", "read"), BODIES, ids=[b[0] for b in BODIES]
)
def test_a_huge_body_is_refused_while_it_streams(
    served: Served,
    name: str,
    method: str,
    path: str,
    headers: dict[str, str],
    chunked: bool,
    status: int,
    read: int,
) -> None:
    headers = {k: (f"Bearer {served.device_token}" if v == "DEVICE" else v) for k, v in headers.items()}
    httpx.post(f"{served.url}/api/v1/auth/login", json={"username": "warm", "password": "up"})
    before = served.rss()
    prefix = UPLOAD_PREFIX if path == "/api/v1/hits" else b""
    got, sent, seconds = _send_until_answered(
        served.port, _head(method, path, headers), chunked=chunked, total=HUGE, prefix=prefix
    )
    after = served.rss()
    assert got == status
    assert sent <= read + SENT_SLACK, f"{name}: the client could send {sent} bytes before the answer"
    assert after - before < RSS_SLACK, f"{name}: server RSS grew {(after - before) >> 20} MiB"
    print(
        f"\n{name}: {got} after {sent >> 10} KiB sent, {seconds * 1000:.0f} ms; "
        f"server RSS {before >> 20} -> {after >> 20} MiB"
    )
    # the server is fine afterwards
    assert httpx.get(f"{served.url}/healthz").status_code == 200


def test_the_413_is_one_line_of_json(served: Served) -> None:
    r = httpx.post(f"{served.url}/api/v1/auth/login", content=b"{" + b" " * (9 * 1024) + b"}")
    assert r.status_code == 413
    assert r.json() == {"detail": "request body is larger than 8192 bytes"}
    assert r.headers["connection"] == "close"


def test_bodies_within_the_limits_pass(served: Served) -> None:
    """The control: a sign-in of the largest allowed password reaches the password check."""
    body = json.dumps({"username": "nobody", "password": "密" * 1024})  # \\uXXXX: 6 KiB of JSON
    assert len(body) < 8 * 1024
    r = httpx.post(
        f"{served.url}/api/v1/auth/login", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 401, r.text


# --- 422 without the input -----------------------------------------------------------------------

MARK = "ECHO-MARK-7f3a"
# (id, raw body)
INVALID: list[tuple[str, bytes]] = [
    ("wrong-type", json.dumps({"username": [MARK * 10], "password": "x"}).encode()),
    ("too-long", json.dumps({"username": MARK * 20, "password": "x"}).encode()),
    ("unknown-field", json.dumps({"username": "u", "password": "p", "extra": MARK * 50}).encode()),
    ("number-for-string", json.dumps({"username": "u", "password": {"nested": MARK}}).encode()),
    ("broken-json", b'{"username": "' + MARK.encode() * 30),
    ("many-unknown-fields", json.dumps({f"f{i}-{MARK}": MARK for i in range(200)}).encode()),
    ("huge-field-name", json.dumps({"username": "u", "password": "p", "k" * 7000: 1}).encode()),
]


@pytest.mark.parametrize(("name", "body"), INVALID, ids=[c[0] for c in INVALID])
def test_a_422_names_fields_and_never_echoes_the_input(svc: Running, name: str, body: bytes) -> None:
    r = httpx.post(f"{svc.url}/api/v1/auth/login", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert len(r.content) <= 4096, f"{name}: {len(r.content)} bytes"
    detail = r.json()["detail"]
    assert detail and all(set(e) == {"loc", "msg", "type"} for e in detail)
    for e in detail:
        assert MARK not in e["msg"]
        assert all(len(str(part)) <= 64 for part in e["loc"])
    if name != "many-unknown-fields":  # there the field names themselves carry the mark (locations)
        assert MARK not in r.text


def test_a_422_for_a_query_never_echoes_it(svc: Running) -> None:
    user = svc.add_user()
    token = svc.login(user, PASSWORD).json()["access_token"]
    r = httpx.get(
        f"{svc.url}/api/v1/cases", params={"limit": MARK}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 422 and MARK not in r.text
    assert r.json()["detail"][0]["loc"] == ["query", "limit"]
