"""Real HTTP receivers on loopback for the outbox tests: an SMS gateway and a case system's webhook
endpoint (``http.server`` in a thread). Each records every request it gets and answers from a
script (statuses to give first: a gateway that is down answers 503; :meth:`Receiver.stop` makes it
refuse connections), then 200. A receiver with a secret checks ``X-NCE-Signature`` over the exact body
(401 when wrong) with the service's own :mod:`service.outbox.signing`, and dedups by
``Idempotency-Key`` as a real receiver should (a repeat is answered 200 and counted)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from service.outbox import signing
from tests.support.servers import free_port


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered


@dataclass
class Receiver:
    secret: bytes | None = None
    script: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    accepted: dict[str, bytes] = field(default_factory=dict)  # Idempotency-Key -> the first body
    ok_answers: Counter[str] = field(default_factory=Counter)  # 2xx answers per Idempotency-Key
    duplicates: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/in"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver._answer(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": %s}' % (b"true" if status < 300 else b"false"))

            def log_message(self, format: str, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            key = headers.get(signing.IDEMPOTENCY_HEADER, "")
            if self.script:
                status = self.script.pop(0)
            elif self.secret is not None and not signing.verify(
                self.secret, body, headers.get(signing.SIGNATURE_HEADER)
            ):
                status = 401
            else:
                status = 200
                if key in self.accepted:
                    self.duplicates.append(key)
                else:
                    self.accepted[key] = body
                self.ok_answers[key] += 1
            self.requests.append(Received(path, headers, body, status))
            return status

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
