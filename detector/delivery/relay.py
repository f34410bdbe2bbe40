"""The relay: sends the outbox to the case service, in sequence order, exactly once.

- A 2xx marks the item delivered (a repeat of an earlier delivery answers 200 with the stored
  result, thanks to the idempotency key).
- 429 and 503 honour ``Retry-After``; 408, 409, other 5xx and network errors back off
  exponentially with jitter (capped).
- Any other 4xx is *poison*: the service will never accept that payload. The item is set aside with
  the reason (alarm metric ``nce_outbox_poisoned``) and the items behind it go on. A 401/403 is
  poison only when the service still accepts the token (``GET /api/v1/auth/me``), i.e. the item
  itself is refused (a manifest whose signature fails); a refused token is retried instead.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from detector.delivery.outbox import Outbox, OutboxItem

log = logging.getLogger(__name__)

RETRYABLE_4XX = {408, 409, 425, 429}


@dataclass(frozen=True)
class Backoff:
    base_s: float = 1.0
    cap_s: float = 60.0
    jitter: float = 0.3

    def delay(self, attempts: int, rng: random.Random) -> float:
        raw = min(self.cap_s, self.base_s * (2 ** min(attempts, 20)))
        return float(max(0.0, raw * (1.0 + self.jitter * (2 * rng.random() - 1))))


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt led to."""

    kind: str  # "delivered" | "retry" | "poisoned"
    detail: str
    retry_after_s: float | None = None
    response: dict[str, Any] | None = None


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
    if status in RETRYABLE_4XX or status >= 500:
        return Outcome("retry", f"HTTP {status}: {reason}", parse_retry_after(retry_after, now))
    return Outcome("poisoned", f"HTTP {status}: {reason}")


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
        headers = {"Idempotency-Key": item.idempotency_key}
        try:
            if item.kind == "package":
                response = self._send_package(item, headers)
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

    def _send_package(self, item: OutboxItem, headers: dict[str, str]) -> httpx.Response:
        assert item.package_dir is not None
        manifest_path = item.package_dir / "manifest.json"
        manifest_bytes = manifest_path.read_bytes()
        manifest = json.loads(manifest_bytes)
        files: list[tuple[str, tuple[str, bytes, str]]] = [
            ("manifest", ("manifest.json", manifest_bytes, "application/json"))
        ]
        for entry in manifest.get("files", []):
            name = entry["name"]
            data = (item.package_dir / name).read_bytes()
            files.append((name, (name, data, entry.get("mime", "application/octet-stream"))))
        return self.client.post(f"{self.base}/api/v1/hits", files=files, headers=headers)

    def close(self) -> None:
        self.client.close()


class Relay:
    """A background thread that drains the outbox through a transport."""

    def __init__(
        self,
        outbox: Outbox,
        send: Callable[[OutboxItem], Outcome],
        *,
        backoff: Backoff | None = None,
        on_delivered: Callable[[OutboxItem], None] | None = None,
        on_poisoned: Callable[[OutboxItem, str], None] | None = None,
        seed: int | None = None,
    ) -> None:
        self.outbox = outbox
        self.send = send
        self.backoff = backoff or Backoff()
        self.on_delivered = on_delivered
        self.on_poisoned = on_poisoned
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self, now: float | None = None) -> Outcome | None:
        """Try the head of the queue once; ``None`` when nothing is due."""
        now = time.time() if now is None else now
        item = self.outbox.head()
        if item is None or item.next_attempt_at > now:
            return None
        try:
            outcome = self.send(item)
        except (OSError, ValueError, KeyError) as exc:
            # the package on disk is unreadable or its manifest is broken: the service can never take it
            outcome = Outcome("poisoned", f"package unreadable: {type(exc).__name__}: {exc}")
        if outcome.kind == "delivered":
            self.outbox.mark_delivered(item.seq, outcome.response)
            if self.on_delivered:
                self.on_delivered(item)
        elif outcome.kind == "poisoned":
            log.error("outbox item %s (%s) poisoned: %s", item.seq, item.hit_id, outcome.detail)
            self.outbox.mark_poisoned(item.seq, reason=outcome.detail)
            if self.on_poisoned:
                self.on_poisoned(item, outcome.detail)
        else:
            delay = outcome.retry_after_s
            if delay is None:
                delay = self.backoff.delay(item.attempts, self._rng)
            if item.attempts == 0:
                log.warning(
                    "delivery of item %s failed (%s); retrying in %.1f s", item.seq, outcome.detail, delay
                )
            self.outbox.mark_retry(item.seq, error=outcome.detail, next_attempt_at=time.time() + delay)
        return outcome

    def drain(self, timeout_s: float) -> bool:
        """Deliver until the queue is empty or ``timeout_s`` passes; True when empty."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.outbox.head() is None:
                return True
            if self.step() is None:
                time.sleep(0.05)
        return self.outbox.head() is None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                outcome = self.step()
            except Exception:  # keep the relay alive whatever one item does
                log.exception("outbox relay step failed")
                outcome = None
            if outcome is None:
                self.outbox.changed.wait(0.5)
                self.outbox.changed.clear()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self.outbox.changed.set()
        if self._thread is not None:
            self._thread.join(timeout_s)


def read_token(path: Path) -> str:
    from detector.errors import DetectorError

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
