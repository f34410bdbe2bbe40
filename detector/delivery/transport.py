"""The HTTP side of delivery: what an answer of the case service means, and posting items to it.

:func:`classify` maps an HTTP answer to an :class:`Outcome`:

- a 2xx is *delivered* (a repeat of an earlier delivery answers 200 with the stored result, thanks
  to the idempotency key);
- 408, 409, 425, 429 and every 5xx are *retried* (429 and 503 honour ``Retry-After``);
- any other 4xx is *poison*: the service will never accept that payload.

:class:`HttpTransport` posts an item (an event as JSON, a package as multipart: its manifest and
files) with the device token. A 401/403 is poison only while the service still accepts the token
(``GET /api/v1/auth/me``), i.e. the item itself is refused (a manifest whose signature fails); a
refused token is retried instead, and says nothing about the item (no :attr:`Outcome.answer`).
"""

from __future__ import annotations

import email.utils
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from detector.delivery.outbox_items import Answer, OutboxItem
from detector.errors import DetectorError

RETRYABLE_4XX = {408, 409, 425, 429}

OutcomeKind = Literal["delivered", "retry", "poisoned"]


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt led to. ``answer`` is the service's answer about the item (any
    status but 2xx); ``None`` when there was none: a network error, or a refused token."""

    kind: OutcomeKind
    detail: str
    retry_after_s: float | None = None
    response: dict[str, Any] | None = None
    answer: Answer | None = None


def parse_retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def classify(status: int, body: str, retry_after: str | None, now: float) -> Outcome:
    """Map an HTTP answer to delivered / retry / poisoned."""
    reason = _reason(body)
    if 200 <= status < 300:
        try:
            doc = json.loads(body) if body else None
        except ValueError:
            doc = None
        return Outcome("delivered", f"HTTP {status}", response=doc if isinstance(doc, dict) else None)
    answer = Answer.of(status, body)
    if status in RETRYABLE_4XX or status >= 500:
        return Outcome(
            "retry", f"HTTP {status}: {reason}", parse_retry_after(retry_after, now), answer=answer
        )
    return Outcome("poisoned", f"HTTP {status}: {reason}", answer=answer)


def _reason(body: str) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        return body[:300]
    if isinstance(doc, dict) and "detail" in doc:
        return str(doc["detail"])[:300]
    return body[:300]


class HttpTransport:
    """Posts outbox items to the service's ingest API with the device token."""

    def __init__(self, service_url: str, token: str, timeout_s: float = 30.0) -> None:
        self.base = service_url.rstrip("/")
        self.client = httpx.Client(
            timeout=timeout_s, headers={"Authorization": f"Bearer {token}", "User-Agent": "nce-edge"}
        )

    def send(self, item: OutboxItem) -> Outcome:
        """One attempt. Raises ``ValueError`` / ``KeyError`` when a package's manifest is broken
        (the relay sets such an item aside)."""
        headers = {"Idempotency-Key": item.idempotency_key}
        try:
            if item.kind == "package":
                if item.package_dir is None:
                    return Outcome("poisoned", "package item without its package folder")
                response = self._send_package(item.package_dir, headers)
            else:
                response = self.client.post(
                    f"{self.base}/api/v1/hits/events", json=item.payload, headers=headers
                )
        except (httpx.TransportError, OSError) as exc:
            return Outcome("retry", f"{type(exc).__name__}: {exc}")
        if response.status_code in (401, 403) and not self._credentials_ok():
            # the service refuses this box, not this item (bad or revoked token): every item would
            # fail alike, so the line waits for the token to be fixed instead of poisoning everything
            return Outcome(
                "retry", f"HTTP {response.status_code}: credentials refused: {_reason(response.text)}"
            )
        return classify(response.status_code, response.text, response.headers.get("Retry-After"), time.time())

    def _credentials_ok(self) -> bool:
        """Whether the service accepts the token at all (``GET /api/v1/auth/me``)."""
        try:
            return self.client.get(f"{self.base}/api/v1/auth/me").status_code == 200
        except (httpx.TransportError, OSError):
            return False

    def _send_package(self, folder: Path, headers: dict[str, str]) -> httpx.Response:
        manifest_bytes = (folder / "manifest.json").read_bytes()
        manifest = json.loads(manifest_bytes)
        files: list[tuple[str, tuple[str, bytes, str]]] = [
            ("manifest", ("manifest.json", manifest_bytes, "application/json"))
        ]
        for entry in manifest.get("files", []):
            name = entry["name"]
            data = (folder / name).read_bytes()
            files.append((name, (name, data, entry.get("mime", "application/octet-stream"))))
        return self.client.post(f"{self.base}/api/v1/hits", files=files, headers=headers)

    def close(self) -> None:
        self.client.close()


def read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise DetectorError(
            f"uplink.token_file {path}: cannot read the device token ({exc.strerror})"
        ) from exc
    if not token:
        raise DetectorError(
            f"uplink.token_file {path} is empty: put the token from `nce admin add-device` there"
        )
    return token
