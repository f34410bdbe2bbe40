"""The relay: sends the outbox to the case service, in sequence order, exactly once.

- A 2xx marks the item delivered.
- A retry (network error, 408/409/425/429, 5xx) waits for ``Retry-After`` or backs off
  exponentially with jitter (capped); the head of the queue waits for it: order matters (a chain).
- Poison steps aside, so the items behind it go on (the service accepts the chain gap): a 4xx the
  service will never accept (see :mod:`detector.delivery.transport`), a package that cannot be read
  on the box, or **the same 5xx answer ``poison_after_5xx`` times in a row** (same status, same body
  digest): a service that fails on this one item every time must not hold up the queue forever.
  502, 503 and 504 (a gateway with no service behind it, an overloaded or restarting service) and
  network errors say the service is away, not that it fails on the item: they never count, and
  they do not break a run of identical answers either; any other answer does. The item is set aside
  with its reason and the service's last answer, the gauge ``nce_outbox_poisoned`` (the alarm)
  rises and ``nce_outbox_poisonings_total{reason}`` counts it. ``nce outbox retry-poisoned`` queues
  it again with its count reset.

Only one process relays an outbox at a time: :func:`relay_lock`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

from detector.delivery.metrics import DeliveryMetrics, PoisonReason
from detector.delivery.outbox import Outbox
from detector.delivery.outbox_items import Answer, OutboxItem
from detector.delivery.transport import Outcome
from detector.errors import DetectorError
from nce.backoff import Backoff

log = logging.getLogger(__name__)

# 5xx answers that say the service is away (not that it fails on this item): never counted
SERVICE_AWAY_5XX = frozenset({502, 503, 504})
DEFAULT_POISON_AFTER_5XX = 8


# the relay's waits when the site config names none: 1 s doubling to a minute, ± 30 %
DEFAULT_BACKOFF = Backoff(base_s=1.0, cap_s=60.0, jitter=0.3)


def counts_toward_poison(answer: Answer) -> bool:
    """Whether a retried answer counts toward ``poison_after_5xx``: a 5xx that is not "away"."""
    return answer.status >= 500 and answer.status not in SERVICE_AWAY_5XX


def answer_streak(item: OutboxItem, outcome: Outcome) -> tuple[Answer | None, int]:
    """The item's answer to keep after a retried ``outcome`` and how many times in a row it came."""
    answer = outcome.answer
    if answer is None or answer.status in SERVICE_AWAY_5XX:
        return item.answer, item.answer_repeats  # the service is away: neither counts nor breaks a run
    if not counts_toward_poison(answer):
        return answer, 0  # another kind of answer breaks the run
    return answer, (item.answer_repeats + 1 if answer.same_as(item.answer) else 1)


class Relay:
    """A background thread that drains the outbox through ``send`` (e.g. :class:`HttpTransport`)."""

    def __init__(
        self,
        outbox: Outbox,
        send: Callable[[OutboxItem], Outcome],
        *,
        backoff: Backoff | None = None,
        poison_after_5xx: int = DEFAULT_POISON_AFTER_5XX,
        metrics: DeliveryMetrics | None = None,
        on_poisoned: Callable[[OutboxItem, str], None] | None = None,
        seed: int | None = None,
    ) -> None:
        if poison_after_5xx < 1:
            raise DetectorError(f"poison_after_5xx must be >= 1, got {poison_after_5xx}")
        self.outbox = outbox
        self.send = send
        self.backoff = backoff or DEFAULT_BACKOFF
        self.poison_after_5xx = poison_after_5xx
        self.metrics = metrics if metrics is not None else DeliveryMetrics()
        self.on_poisoned = on_poisoned
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self, now: float | None = None) -> Outcome | None:
        """Try the head of the queue once; ``None`` when nothing is due. Returns what became of it
        (``poisoned`` for an item set aside after its repeated 5xx)."""
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
            self.metrics.delivered.labels(item.kind).inc()
            self.metrics.refresh(self.outbox)
            return outcome
        if outcome.kind == "poisoned":
            reason: PoisonReason = "refused" if outcome.answer is not None else "unreadable"
            self._poison(item, outcome, reason, outcome.answer, 0)
            return outcome
        answer, repeats = answer_streak(item, outcome)
        if answer is not None and counts_toward_poison(answer) and repeats >= self.poison_after_5xx:
            poisoned = Outcome(
                "poisoned", f"{outcome.detail} (the same answer {repeats} times in a row)", answer=answer
            )
            self._poison(item, poisoned, "repeated_5xx", answer, repeats)
            return poisoned
        self.metrics.failed.labels("retry").inc()
        delay = outcome.retry_after_s
        if delay is None:
            delay = self.backoff.delay(item.attempts + 1, self._rng)  # failure number attempts + 1
        if item.attempts == 0:
            log.warning(
                "delivery of item %s failed (%s); retrying in %.1f s", item.seq, outcome.detail, delay
            )
        self.outbox.mark_retry(
            item.seq,
            error=outcome.detail,
            next_attempt_at=time.time() + delay,
            answer=answer,
            answer_repeats=repeats,
        )
        return outcome

    def _poison(
        self, item: OutboxItem, outcome: Outcome, reason: PoisonReason, answer: Answer | None, repeats: int
    ) -> None:
        log.error("outbox item %s (%s) poisoned: %s", item.seq, item.hit_id, outcome.detail)
        self.outbox.mark_poisoned(item.seq, reason=outcome.detail, answer=answer, answer_repeats=repeats)
        self.metrics.failed.labels("poisoned").inc()
        self.metrics.poisonings.labels(reason).inc()
        self.metrics.refresh(self.outbox)
        if self.on_poisoned is not None:
            self.on_poisoned(item, outcome.detail)

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


def relay_lock(outbox_path: Path) -> int:
    """One relay per outbox (``nce run`` or ``nce outbox deliver``): an exclusive ``flock`` on
    ``<outbox>.relay.lock``, released when the process ends, however it ends. Returns the lock's
    file descriptor (close it to release the lock)."""
    path = outbox_path.with_name(outbox_path.name + ".relay.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        raise DetectorError(
            f"{outbox_path}: another process delivers this outbox already (nce run or nce outbox deliver)"
        ) from exc
    return fd
