"""Delivery from the edge box to the case service, exactly once (docs/delivery.md).

- :mod:`~detector.delivery.outbox`: the SQLite store-and-forward queue, the one owner of "delivered"
  (its items and answers: :mod:`~detector.delivery.outbox_items`; its tables:
  :mod:`~detector.delivery.outbox_schema`);
- :mod:`~detector.delivery.sink`: the event sink that queues every hit event and package in it;
- :mod:`~detector.delivery.transport`: the service's answers, and posting items over HTTP;
- :mod:`~detector.delivery.relay`: the thread that sends the queue in order, retries and poisons;
- :mod:`~detector.delivery.metrics`, :mod:`~detector.delivery.markers` (delivered markers of earlier
  versions, adopted by the outbox);
- :mod:`~detector.delivery.wiring`: all of it built from the site config.
"""

from __future__ import annotations

from detector.delivery.metrics import DeliveryMetrics
from detector.delivery.outbox import Outbox, OutboxError
from detector.delivery.outbox_items import Answer, OutboxItem, OutboxStatus
from detector.delivery.relay import Relay
from detector.delivery.sink import OutboxSink
from detector.delivery.transport import HttpTransport, Outcome
from nce.backoff import Backoff

__all__ = [
    "Answer",
    "Backoff",
    "DeliveryMetrics",
    "HttpTransport",
    "Outbox",
    "OutboxError",
    "OutboxItem",
    "OutboxSink",
    "OutboxStatus",
    "Outcome",
    "Relay",
]
