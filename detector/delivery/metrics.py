"""Delivery metrics: the outbox gauges (``nce_outbox_poisoned`` is the alarm) and the relay's counters."""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge

from detector.delivery.outbox import Outbox

# why an item was set aside: a 4xx (or a 401/403 while the token is accepted), the same 5xx answer
# too many times in a row, or a package whose files cannot be read on the box
PoisonReason = Literal["refused", "repeated_5xx", "unreadable"]


class DeliveryMetrics:
    """``nce_outbox_pending`` / ``nce_outbox_poisoned`` (the alarm) and delivery counters."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.registry = r
        self.pending = Gauge("nce_outbox_pending", "Outbox items not yet delivered", registry=r)
        self.poisoned = Gauge(
            "nce_outbox_poisoned",
            "Outbox items the service refused for good (alarm: see nce outbox status)",
            registry=r,
        )
        self.oldest_pending = Gauge(
            "nce_outbox_oldest_pending_seconds", "Age of the oldest undelivered item (0: none)", registry=r
        )
        self.delivered = Counter("nce_outbox_delivered", "Items delivered (2xx)", ["kind"], registry=r)
        self.failed = Counter("nce_outbox_failed", "Failed delivery attempts", ["outcome"], registry=r)
        self.poisonings = Counter(
            "nce_outbox_poisonings",
            "Items set aside as poisoned, by reason (refused, repeated_5xx, unreadable)",
            ["reason"],
            registry=r,
        )
        self.queue_errors = Counter(
            "nce_outbox_queue_errors", "Items that could not be written to the outbox", registry=r
        )

    def refresh(self, outbox: Outbox) -> None:
        pending, poisoned, oldest = outbox.undelivered()
        self.pending.set(pending)
        self.poisoned.set(poisoned)
        self.oldest_pending.set(oldest or 0.0)
