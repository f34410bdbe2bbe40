"""One send of one outbox message, and what its answer means.

A 2xx is delivered; 408, 429, any 5xx, a timeout or a connection error is retried later; any other
answer (4xx, 3xx: no redirects are followed) is a refusal. The log-only notifier "sends" by writing
the message to the service's log (the demo's default). httpx errors are translated here, the one
place they reach.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Literal

import httpx

from service.outbox import signing
from service.outbox.config import Integrations

log = logging.getLogger(__name__)
RETRIED_4XX = frozenset({408, 429})
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")  # masked in the log
ERROR_MAX = 300


@dataclass(frozen=True)
class Message:
    """A claimed row, as the worker sends it (no database session needed)."""

    id: int
    kind: str
    target: str
    event: str
    message_id: str
    case_id: int | None
    body: str
    attempts: int


@dataclass(frozen=True)
class Outcome:
    result: Literal["delivered", "retry", "refused", "unconfigured"]
    status: int | None = None
    error: str | None = None
    channel: str = "http"


def classify(status: int) -> Literal["delivered", "retry", "refused"]:
    if 200 <= status < 300:
        return "delivered"
    if status in RETRIED_4XX or status >= 500:
        return "retry"
    return "refused"


def _post(client: httpx.Client, url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> Outcome:
    try:
        r = client.post(url, content=body, headers=headers, timeout=timeout_s, follow_redirects=False)
    except httpx.TimeoutException:
        return Outcome("retry", None, f"no answer within {timeout_s:g} s")
    except httpx.HTTPError as exc:
        return Outcome("retry", None, f"{type(exc).__name__}: {exc}"[:ERROR_MAX])
    result = classify(r.status_code)
    error = None if result == "delivered" else f"HTTP {r.status_code}: {' '.join(r.text.split())}"[:ERROR_MAX]
    return Outcome(result, r.status_code, error)


def send(client: httpx.Client, integrations: Integrations, m: Message, *, timeout_s: float) -> Outcome:
    body = m.body.encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        signing.IDEMPOTENCY_HEADER: m.message_id,
        signing.EVENT_HEADER: m.event,
    }
    if m.kind == "sms":
        n = integrations.notifier
        if n.name != m.target:
            return Outcome("unconfigured", None, f"notifier {m.target!r} is no longer configured", "none")
        if n.kind == "log" or n.url is None:
            shown = _MOBILE.sub(lambda x: f"{x.group(0)[:3]}****{x.group(0)[-4:]}", m.body)
            log.info("notice %s for case %s (log-only notifier): %s", m.message_id, m.case_id, shown)
            return Outcome("delivered", None, None, "log")
        return _post(client, n.url, body, {**headers, **n.headers}, timeout_s)
    target = integrations.target(m.target)
    if target is None:
        return Outcome("unconfigured", None, f"webhook target {m.target!r} is no longer configured", "none")
    headers[signing.TIMESTAMP_HEADER] = str(int(time.time()))
    headers[signing.SIGNATURE_HEADER] = signing.sign(target.secret, body)
    return _post(client, target.url, body, headers, timeout_s)
