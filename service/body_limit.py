"""Request-body limits, enforced while the body streams in (an ASGI middleware).

Every route has a limit (:func:`limit_for`): package, frame and model-release uploads ``max_request_bytes``, a shop page's correction photo
``shop_photo_max_bytes`` (plus its form), sign-in
``max_login_bytes``, everything else ``max_body_bytes``. A declared ``Content-Length`` over the
limit is answered before a byte of the body is read; a body without one (chunked) is counted as it
arrives and answered as soon as the count passes the limit. Nothing is buffered here: the app sees
the chunks as they come, and after the limit it sees none.

The answer is ``413 {"detail": "request body is larger than N bytes"}`` with ``Connection: close``
(the rest of the body is never read). Any response that starts before the request's body has been
read to its end also gets ``Connection: close``, so the server never drains an unread body.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import TooLarge
from service.settings import Settings

UPLOAD_PATH = "/api/v1/hits"
FRAME_UPLOAD_PATH = "/api/v1/frames"  # an image for the frame pool (POST)
MODEL_UPLOAD_PATH = "/api/v1/models"  # a model release (POST)
LOGIN_PATHS = frozenset({"/api/v1/auth/login", "/login"})
SHOP_PAGE_PREFIX = "/s/"  # a shop page's correction photo (POST /s/<token>/cases/<id>/photo)
SHOP_FORM_OVERHEAD = 64 * 1024  # the multipart envelope and the CSRF field around the photo


def limit_for(settings: Settings, method: str, path: str) -> int:
    if method == "POST" and path in (UPLOAD_PATH, FRAME_UPLOAD_PATH, MODEL_UPLOAD_PATH):
        return settings.max_request_bytes
    if method == "POST" and path.startswith(SHOP_PAGE_PREFIX) and path.endswith("/photo"):
        return settings.shop_photo_max_bytes + SHOP_FORM_OVERHEAD  # a shop's correction photo
    if path in LOGIN_PATHS:
        return settings.max_login_bytes
    return settings.max_body_bytes


class BodyTooLarge(TooLarge):
    """Raised into the app from ``receive`` once the body passed its limit."""


class BodyLimit:
    def __init__(
        self, app: ASGIApp, *, limit: Callable[[str, str], int], on_refuse: Callable[[], None]
    ) -> None:
        self.app = app
        self.limit = limit
        self.on_refuse = on_refuse

    async def _refuse(self, send: Send, limit: int) -> None:
        self.on_refuse()
        body = json.dumps({"detail": f"request body is larger than {limit} bytes"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["method"], scope["path"])
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            await self._refuse(send, limit)
            return
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        body_done = not chunked and (length is None or length.strip() in ("", "0"))
        received = 0
        refused = False
        started = False

        async def counted() -> Message:
            nonlocal received, body_done, refused
            if refused:
                raise BodyTooLarge(f"request body is larger than {limit} bytes")
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if not message.get("more_body", False):
                    body_done = True
                if received > limit:
                    refused = True
                    raise BodyTooLarge(f"request body is larger than {limit} bytes")
            elif message["type"] == "http.disconnect":
                body_done = True
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the app's answer to the refusal: ours goes instead
            if message["type"] == "http.response.start":
                started = True
                if not body_done:
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not refused:
                raise
            # the app failed on the refused body (whatever it made of BodyTooLarge): ours answers
        if refused and not started:
            await self._refuse(send, limit)
