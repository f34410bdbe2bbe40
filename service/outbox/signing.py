"""The HMAC-SHA256 signatures of the outbox: webhooks signed by NCE, delivery receipts signed by the
SMS gateway. ``X-NCE-Signature: sha256=<hex of HMAC-SHA256(secret, exact body bytes)>``; the receiving
side recomputes it over the bytes it read, before parsing them (docs/api.md has the recipe)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

SIGNATURE_HEADER: Final = "X-NCE-Signature"
TIMESTAMP_HEADER: Final = "X-NCE-Timestamp"
EVENT_HEADER: Final = "X-NCE-Event"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
PREFIX: Final = "sha256="


def sign(secret: bytes, body: bytes) -> str:
    """The header value for ``body``: ``sha256=<hex>``."""
    return PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``body`` under ``secret`` (constant-time compare)."""
    if not header or not header.startswith(PREFIX):
        return False
    return hmac.compare_digest(sign(secret, body), header.strip())
