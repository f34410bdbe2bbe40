"""Delivery from ``nce run`` to the case service: the outbox sink and the relay that drains it.

With ``uplink`` in the site config (and no ``--out``), ``nce run`` writes hits.jsonl and evidence
packages under ``uplink.data_dir`` (default ``var/edge/<device id>``) and :class:`OutboxSink`
queues every hit event and package in the outbox (``uplink.outbox_file``), where a
:class:`~detector.delivery.relay.Relay` thread sends them to the service in sequence order. See
docs/delivery.md.

Order on the service: a package is queued from the packager's ``on_package`` callback, right after
its files, manifest and chain state are durable and before the pipeline moves on, so a hit whose
package exists is never lost. The sink comes after the packager in the pipeline's sinks, and

- a ``confirmed`` (``cleared``, ``still_present``) event whose package was written travels *as*
  that signed package (no second, unsigned copy that would count the sighting twice); the other
  ``still_present`` events of the hit (most of them: packages come at most every
  ``evidence.still_present_package_s``) go as plain events;
- while a confirmed hit waits for its package (the clip's post-roll), its events are held and
  queued right after the package, so they never reach the service before the case exists;
  when no package comes (disk full, an error) they are queued as they are;
- ``opened`` and the events of hits that never confirm go as they come (the service records
  them; it never opens a case from an unsigned event).

On start the sink re-queues packages on disk that the outbox does not know (a crash between the
package's rename and its outbox commit) and makes pending items due at once, so a plain
``nce run`` delivers what an earlier run left pending, first. At shutdown the relay gets
``uplink.drain_s`` to finish; what is left stays pending for the next run.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge

from detector.config import SiteConfig
from detector.delivery.outbox import Outbox, OutboxError, OutboxItem
from detector.delivery.relay import Backoff, HttpTransport, Outcome, Relay, read_token
from detector.detections import Detections
from detector.errors import DetectorError
from detector.events import EventSink, Frame, HitEvent, RingSnapshot
from detector.evidence.quota import is_marked_delivered, mark_delivered
from detector.evidence.store import package_sequence
from nce.manifest import MANIFEST_NAME, Manifest, ManifestError, parse_manifest, utc_ms

if TYPE_CHECKING:
    from detector.yolo import ModelInfo

log = logging.getLogger(__name__)

_MAX_REMEMBERED = 10000
KEEP_DELIVERED_S = 30 * 86400.0  # delivered outbox rows are kept this long (the outbox stays small)


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
        self.queue_errors = Counter(
            "nce_outbox_queue_errors", "Items that could not be written to the outbox", registry=r
        )

    def refresh(self, outbox: Outbox) -> None:
        pending, poisoned, oldest = outbox.undelivered()
        self.pending.set(pending)
        self.poisoned.set(poisoned)
        self.oldest_pending.set(oldest or 0.0)


def _event_of(manifest: Manifest) -> str:
    return "cleared" if manifest.kind == "cleared" else manifest.event.event


class OutboxSink:
    """An :class:`~detector.events.EventSink` that queues hit events and packages in the outbox.

    Give :meth:`package_written` to the packager as ``on_package`` and the packager's
    ``awaiting_package`` as ``awaiting``. With a ``relay`` it is started by :meth:`start` and
    drained (at most ``drain_s``) and stopped by :meth:`close`.
    """

    def __init__(
        self,
        outbox: Outbox,
        device_id: str,
        evidence_dir: Path | None,
        *,
        awaiting: Callable[[str], bool] | None = None,
        relay: Relay | None = None,
        metrics: DeliveryMetrics | None = None,
        drain_s: float = 10.0,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.device_id = device_id
        self.evidence_dir = evidence_dir
        self.awaiting = awaiting
        self.relay = relay
        self.metrics = metrics or DeliveryMetrics()
        self.drain_s = drain_s
        self.on_close = on_close
        self.held: dict[str, list[HitEvent]] = {}
        self.backlog: deque[HitEvent] = deque(maxlen=_MAX_REMEMBERED)
        # (hit id, event, event time) of the events that travelled as a signed package
        self.packaged: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self.last_sequence = self._last_queued_sequence()
        self.closed = False
        self._lock_fd: int | None = None

    # -- start -----------------------------------------------------------------------------------

    def _last_queued_sequence(self) -> int:
        last = 0
        for d in self.outbox.package_dirs():
            seq = package_sequence(Path(d).name, self.device_id)
            if seq is not None:
                last = max(last, seq)
        return last

    def recover(self) -> int:
        """Queue packages on disk that the outbox does not know and that were not delivered (a
        crash between a package's commit and its outbox row); returns how many."""
        return self._catch_up(None)

    def _catch_up(self, before: int | None) -> int:
        if self.evidence_dir is None or not self.evidence_dir.is_dir():
            return 0
        known = {Path(d).name for d in self.outbox.package_dirs()}
        found: list[tuple[int, Path]] = []
        for p in self.evidence_dir.iterdir():
            seq = package_sequence(p.name, self.device_id)
            if seq is None or p.name in known or (before is not None and seq >= before):
                continue
            if is_marked_delivered(self.evidence_dir, p.name):
                continue
            found.append((seq, p))
        count = 0
        for _seq, p in sorted(found):
            try:
                manifest = parse_manifest((p / MANIFEST_NAME).read_bytes())
            except (OSError, ManifestError) as exc:
                log.error("outbox: package %s on disk is unreadable, not queued: %s", p, exc)
                continue
            log.warning("outbox: package %s was not queued (crash or error): queueing it now", p.name)
            self._add_package(manifest, p)
            count += 1
        return count

    def start(self) -> None:
        if self.relay is not None:
            self._lock_fd = _relay_lock(self.outbox.path)
        forgotten = self.outbox.prune_delivered(KEEP_DELIVERED_S)
        if forgotten:
            log.info("outbox: forgot %d item(s) delivered more than 30 days ago", forgotten)
        recovered = self.recover()
        due = self.outbox.reset_backoff()
        st = self.outbox.status()
        self.metrics.refresh(self.outbox)
        if st.pending:
            log.info(
                "outbox: %d item(s) pending from earlier runs (%d recovered, %d were backing off): "
                "delivering them first",
                st.pending,
                recovered,
                due,
            )
        if st.poisoned:
            log.error("outbox: %d poisoned item(s): see `nce outbox status`", st.poisoned)
        if self.relay is not None:
            self.relay.start()

    # -- packages --------------------------------------------------------------------------------

    def package_written(self, manifest: Manifest, folder: Path) -> None:
        """The packager's ``on_package``: the package is durable; queue it (and anything held)."""
        if manifest.sequence > self.last_sequence + 1:
            self._catch_up(manifest.sequence)  # an earlier package whose queueing failed goes first
        self._add_package(manifest, folder)
        hit_id = manifest.event.hit_id
        if _event_of(manifest) == "confirmed" and hit_id in self.held:
            for event in self.held.pop(hit_id):
                if event.event != "confirmed":  # the package is the confirmation
                    self._add_event(event)

    def _add_package(self, manifest: Manifest, folder: Path) -> None:
        event = _event_of(manifest)
        if self.backlog:
            self._flush_backlog()
        payload = {"package_id": manifest.package_id, "sequence": manifest.sequence, "kind": manifest.kind}
        try:
            self.outbox.add(
                device_id=self.device_id,
                kind="package",
                hit_id=manifest.event.hit_id,
                event=event,
                payload=payload,
                package_dir=folder,
            )
        except OutboxError as exc:
            # the package is on disk: the next start (or the next package) queues it
            self.metrics.queue_errors.inc()
            log.error("outbox: cannot queue package %s now: %s", manifest.package_id, exc)
            return
        self.last_sequence = max(self.last_sequence, manifest.sequence)
        self.packaged[(manifest.event.hit_id, event, manifest.event.ts)] = None
        while len(self.packaged) > _MAX_REMEMBERED:
            self.packaged.popitem(last=False)
        self.metrics.refresh(self.outbox)

    # -- events ----------------------------------------------------------------------------------

    def _add_event(self, event: HitEvent) -> None:
        if self.backlog and not self._flush_backlog():
            self._keep(event)
            return
        if not self._queue_event(event):
            self._keep(event)

    def _queue_event(self, event: HitEvent) -> bool:
        try:
            self.outbox.add(
                device_id=self.device_id,
                kind="event",
                hit_id=event.hit_id,
                event=event.event,
                payload=event.model_dump(mode="json"),
            )
        except OutboxError as exc:
            self.metrics.queue_errors.inc()
            log.error("outbox: cannot queue the %s event of hit %s: %s", event.event, event.hit_id, exc)
            return False
        self.metrics.refresh(self.outbox)
        return True

    def _keep(self, event: HitEvent) -> None:
        """An event the outbox could not take (disk full): kept in memory (bounded) and queued
        before anything else once the outbox writes again."""
        if len(self.backlog) == self.backlog.maxlen:
            log.error("outbox: backlog full, the oldest unqueued event is dropped")
        self.backlog.append(event)

    def _flush_backlog(self) -> bool:
        while self.backlog:
            if not self._queue_event(self.backlog[0]):
                return False
            self.backlog.popleft()
        return True

    def on_event(self, event: HitEvent, frame: Frame, detections: Detections, ring: RingSnapshot) -> None:
        # the time as the packager wrote it into the manifest (utc_ms), so the two keys compare equal
        if (event.hit_id, event.event, utc_ms(event.ts)) in self.packaged:
            return  # it travelled as its signed package
        if event.hit_id in self.held or (self.awaiting is not None and self.awaiting(event.hit_id)):
            self.held.setdefault(event.hit_id, []).append(event)
            return
        self._add_event(event)

    def on_sample(self, frame: Frame, ring: RingSnapshot) -> None:
        if self.backlog:
            self._flush_backlog()
        self._release(force=False)

    def _release(self, *, force: bool) -> None:
        """Queue held events whose package will not come (it failed, or shutdown)."""
        for hit_id in list(self.held):
            if force or self.awaiting is None or not self.awaiting(hit_id):
                for event in self.held.pop(hit_id):
                    self._add_event(event)

    # -- shutdown --------------------------------------------------------------------------------

    def wait_empty(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until nothing is pending; True when nothing is."""
        deadline = time.monotonic() + timeout_s
        while self.outbox.head() is not None:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._release(force=True)
        if self.backlog and not self._flush_backlog():
            log.error("outbox: %d event(s) could not be queued before shutdown", len(self.backlog))
        if self.relay is not None:
            if not self.wait_empty(self.drain_s):
                log.warning(
                    "outbox: %d item(s) still pending after %.0f s; they go on the next run",
                    self.outbox.status().pending,
                    self.drain_s,
                )
            self.relay.stop(timeout_s=5.0)
        self.metrics.refresh(self.outbox)
        st = self.outbox.status()
        log.info("outbox: %d delivered, %d pending, %d poisoned", st.delivered, st.pending, st.poisoned)
        if self.on_close is not None:
            self.on_close()
        self.outbox.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the relay lock
            self._lock_fd = None


def _relay_lock(outbox_path: Path) -> int:
    """One relay per outbox (``nce run`` or ``nce outbox deliver``): an exclusive ``flock`` on
    ``<outbox>.relay.lock``, released when the process ends, however it ends."""
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


def on_delivered_marker(item: OutboxItem) -> None:
    """After a package's 2xx: its delivered marker, so the evidence quota may prune it."""
    if item.kind != "package" or item.package_dir is None or not item.package_dir.is_dir():
        return
    try:
        mark_delivered(item.package_dir.parent, item.package_dir.name)
    except (OSError, ValueError) as exc:
        log.error("cannot mark package %s delivered: %s", item.package_dir, exc)


def make_relay(
    config: SiteConfig, outbox: Outbox, metrics: DeliveryMetrics
) -> tuple[Relay, Callable[[], None]]:
    """A relay to ``config.uplink`` and a function that releases its HTTP client."""
    uplink = config.uplink
    assert uplink is not None
    token = read_token(config.resolve(uplink.token_file))
    transport = HttpTransport(uplink.service_url, token, timeout_s=uplink.timeout_s)

    def send(item: OutboxItem) -> Outcome:
        outcome = transport.send(item)
        if outcome.kind != "delivered":
            metrics.failed.labels(outcome.kind).inc()
        return outcome

    def delivered(item: OutboxItem) -> None:
        on_delivered_marker(item)
        metrics.delivered.labels(item.kind).inc()
        metrics.refresh(outbox)

    def poisoned(item: OutboxItem, _reason: str) -> None:
        metrics.refresh(outbox)

    relay = Relay(
        outbox,
        send,
        backoff=Backoff(base_s=uplink.retry_base_s, cap_s=uplink.retry_max_s),
        on_delivered=delivered,
        on_poisoned=poisoned,
    )
    return relay, transport.close


def delivery_sinks(
    config: SiteConfig, *, model_info: ModelInfo | None = None, registry: CollectorRegistry | None = None
) -> list[EventSink]:
    """``nce run`` without ``--out``: hits.jsonl, the evidence packager and the outbox sink under
    ``config.edge_data_dir()``, with the relay started (earlier runs' pending items go first)."""
    from detector.evidence import EvidencePackager
    from detector.hitlog import HitLog

    uplink, device = config.uplink, config.device
    assert uplink is not None and device is not None
    data = config.edge_data_dir()
    outbox = Outbox(config.outbox_path())
    packager = EvidencePackager(
        config, data, model_info=model_info, registry=registry, is_delivered=_package_delivered(outbox)
    )
    hitlog = HitLog(data)
    metrics = DeliveryMetrics(registry)
    relay, release = make_relay(config, outbox, metrics)
    sink = OutboxSink(
        outbox,
        device.id,
        packager.evidence_dir,
        awaiting=packager.awaiting_package,
        relay=relay,
        metrics=metrics,
        drain_s=uplink.drain_s,
        on_close=release,
    )
    packager.on_package = sink.package_written
    log.info("delivering to %s; hits and evidence under %s", uplink.service_url, data)
    sink.start()
    return [hitlog, packager, sink]


def _package_delivered(outbox: Outbox) -> Callable[[Path], bool]:
    def check(package: Path) -> bool:
        try:
            return outbox.is_delivered(package)
        except Exception:  # the outbox is closed at shutdown: only the markers count then
            return False

    return check
