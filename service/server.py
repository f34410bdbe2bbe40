"""How the service is served: uvicorn with timeouts and limits, and a bound on header-read time.

uvicorn bounds idle keep-alive connections, the size of a request head (h11's
``max_incomplete_event_size``) and the number of connections and requests at once
(``limit_concurrency``: beyond it, 503), but not the time a client may take to send a request's
headers: a slow-header client (slowloris) kept a connection open for 200 s. :class:`HeaderTimeout`
closes a connection that has not completed a request's headers within ``header_timeout_s``, counted
from when the connection opened or its last response ended (not from the last byte: sending a byte
now and then does not extend it).

Behind a reverse proxy (docs/deploy.md) ``X-Forwarded-For`` from ``forwarded_allow_ips`` is
believed, so sign-in lockouts and ``/metrics`` see the real client address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from service.errors import ServiceError
from service.settings import Settings

log = logging.getLogger(__name__)


class HeaderTimeout(H11Protocol):
    """uvicorn's h11 protocol, plus: a request's headers must arrive within ``header_timeout_s``."""

    header_timeout_s: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def _waiting_for_headers(self) -> bool:
        return (
            self.conn.their_state is h11.IDLE
            and (self.cycle is None or self.cycle.response_complete)
            and not self.transport.is_closing()
        )

    def _sync_header_timer(self) -> None:
        waiting = self._waiting_for_headers()
        if waiting and self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_timeout)
        elif not waiting and self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if not self._waiting_for_headers():
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.info(
            "closing the connection of %s: no complete request headers in %g s", client, self.header_timeout_s
        )
        with contextlib.suppress(h11.LocalProtocolError):
            self.conn.send(h11.ConnectionClosed())
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._sync_header_timer()

    def handle_events(self) -> None:
        super().handle_events()
        if self.transport is not None:
            self._sync_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._sync_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)


def protocol(settings: Settings) -> type[HeaderTimeout]:
    """The protocol class with the settings' header timeout."""
    return type("HeaderTimeout", (HeaderTimeout,), {"header_timeout_s": settings.header_timeout_s})


def config(app: Any, settings: Settings, *, host: str, port: int, **extra: Any) -> uvicorn.Config:
    """The uvicorn configuration ``nce serve`` runs (the tests serve the app with it too)."""
    options: dict[str, Any] = {
        "log_level": "info",
        "access_log": False,
        "http": protocol(settings),
        "timeout_keep_alive": settings.keep_alive_s,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "limit_concurrency": settings.limit_concurrency,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        **extra,
    }
    return uvicorn.Config(app, host=host, port=port, **options)


class ServeError(ServiceError):
    """The server could not start (the port is taken, say)."""


def serve(app: Any, settings: Settings, *, host: str, port: int) -> None:
    server = uvicorn.Server(config(app, settings, host=host, port=port))
    server.run()
    if not server.started:
        raise ServeError(f"could not serve on {host}:{port} (see the log above)")
