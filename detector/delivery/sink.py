"""The outbox sink: every hit event and evidence package of ``nce run``, queued in the outbox.

With ``uplink`` in the site config (and no ``--out``), ``nce run`` writes hits.jsonl and evidence
packages under ``uplink.data_dir`` (default ``var/edge/<device id>`` beside the config file) and
:class:`OutboxSink` queues every hit event and package in the outbox (``uplink.outbox_file``), where
a :class:`~detector.delivery.relay.Relay` thread sends them to the service in sequence order
(:mod:`detector.delivery.wiring` builds the lot from the site config). See docs/delivery.md.

The sink is the packager's :class:`~detector.evidence.packager.PackageListener`: the packager tells
it, one way, that a confirmed hit's package is pending, that a package was written, that a hit's
package is settled; the sink never calls the packager.

Order on the service: a package is queued from ``package_written``, right after its files, manifest
and chain state are durable and before the pipeline moves on, so a hit whose package exists is never
lost. The sink comes after the packager in the pipeline's sinks, and

- a ``confirmed`` (``cleared``, ``still_present``) event whose package was written travels *as*
  that signed package (no second, unsigned copy that would count the sighting twice); the other
  ``still_present`` events of the hit (most of them: packages come at most every
  ``evidence.still_present_package_s``) go as plain events;
- while a confirmed hit waits for its package (the clip's post-roll), its events are held and
  queued right after the package, so they never reach the service before the case exists;
  when no package comes (disk full, an error) they are queued as they are;
- ``opened`` and the events of hits that never confirm go as they come (the service records
  them; it never opens a case from an unsigned event);
- a sample package (``learning``: a frame to learn from, evidence of no hit) is queued like every
  package, in chain order, as hit id = its package id and event ``sample``.

On start the sink re-queues packages on disk that the outbox does not know (a crash between the
package's rename and its outbox commit; delivered markers of an earlier version are adopted by the
outbox first, :mod:`detector.delivery.markers`) and makes pending items due at once, so a plain
``nce run`` delivers what an earlier run left pending, first. At shutdown the relay gets
``uplink.drain_s`` to finish; what is left stays pending for the next run.
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path

from detector.delivery.markers import adopt_delivered_markers
from detector.delivery.metrics import DeliveryMetrics
from detector.delivery.outbox import Outbox, OutboxError
from detector.delivery.relay import Relay, relay_lock
from detector.detections import Detections
from detector.events import EventSink, Frame, HitEvent, RingSnapshot
from detector.evidence.store import package_sequence
from nce.manifest import MANIFEST_NAME, Manifest, ManifestError, parse_manifest, utc_ms

log = logging.getLogger(__name__)

_MAX_REMEMBERED = 10000
KEEP_DELIVERED_S = 30 * 86400.0  # delivered outbox rows are kept this long (the outbox stays small)


def _item_of(manifest: Manifest) -> tuple[str, str]:
    """The outbox item's (hit id, event) for a package: its hit's, or for a sample package (which
    is evidence of no hit) its package id and ``sample``."""
    if manifest.event is None:
        return manifest.package_id, "sample"
    return manifest.event.hit_id, "cleared" if manifest.kind == "cleared" else manifest.event.event


class OutboxSink(EventSink):
    """An :class:`~detector.events.EventSink` that queues hit events and packages in the outbox.

    Give it to the packager as its ``listener``. With a ``relay`` it is started by :meth:`start`
    and drained (at most ``drain_s``) and stopped by :meth:`close`.
    """

    def __init__(
        self,
        outbox: Outbox,
        device_id: str,
        evidence_dir: Path | None,
        *,
        relay: Relay | None = None,
        metrics: DeliveryMetrics | None = None,
        drain_s: float = 10.0,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.device_id = device_id
        self.evidence_dir = evidence_dir
        self.awaiting: set[str] = set()  # confirmed hits whose package is pending
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
            self._lock_fd = relay_lock(self.outbox.path)
        if self.evidence_dir is not None:
            adopt_delivered_markers(self.outbox, self.evidence_dir)
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

    def package_pending(self, hit_id: str) -> None:
        """``hit_id`` confirmed and its package is still to come: hold its events until then."""
        self.awaiting.add(hit_id)

    def package_settled(self, hit_id: str) -> None:
        """``hit_id``'s package was written (its held events went after it) or will not come:
        whatever is still held is queued as it is."""
        self.awaiting.discard(hit_id)
        for event in self.held.pop(hit_id, []):
            self._add_event(event)

    def package_written(self, manifest: Manifest, folder: Path) -> None:
        """The package is durable: queue it (and the events held for it)."""
        if manifest.sequence > self.last_sequence + 1:
            self._catch_up(manifest.sequence)  # an earlier package whose queueing failed goes first
        self._add_package(manifest, folder)
        hit_id, what = _item_of(manifest)
        if what == "confirmed" and hit_id in self.held:
            for event in self.held.pop(hit_id):
                if event.event != "confirmed":  # the package is the confirmation
                    self._add_event(event)

    def _add_package(self, manifest: Manifest, folder: Path) -> None:
        hit_id, event = _item_of(manifest)
        if self.backlog:
            self._flush_backlog()
        payload = {"package_id": manifest.package_id, "sequence": manifest.sequence, "kind": manifest.kind}
        try:
            self.outbox.add(
                device_id=self.device_id,
                kind="package",
                hit_id=hit_id,
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
        if manifest.event is not None:
            self.packaged[(hit_id, event, manifest.event.ts)] = None
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
        if event.hit_id in self.held or event.hit_id in self.awaiting:
            self.held.setdefault(event.hit_id, []).append(event)
            return
        self._add_event(event)

    def on_sample(self, frame: Frame, ring: RingSnapshot) -> None:
        if self.backlog:
            self._flush_backlog()

    def _release(self) -> None:
        """At shutdown: queue every event still held, as it is."""
        for hit_id in list(self.held):
            for event in self.held.pop(hit_id):
                self._add_event(event)
        self.awaiting.clear()

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
        self._release()
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
