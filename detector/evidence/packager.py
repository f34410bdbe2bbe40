"""The evidence packager: an :class:`~detector.events.EventSink` that freezes signed packages.

Per hit (all calls come from the pipeline's one inference thread):

- ``opened``: keep the first-seen frame; start a clip from the camera's ring buffer
  (``clip_pre_s`` before first seen), fed by later samples until ``clip_post_s`` after it. The clip
  is provisional: dropped if the hit clears without confirming.
- samples while the hit is open: keep the one nearest the middle of the dwell (``min_dwell_s / 2``
  after first seen) as the *between* still.
- ``confirmed``: freeze the package (once the clip is complete): three stills (first seen, between,
  confirmed — first and last ``min_dwell_s`` apart), each raw (JPEG, never drawn on) and annotated,
  a crop of the object, the clip, OCR of ad text for ``illegal_ad``, and the signed, hash-chained
  manifest, written to ``<out>/evidence/<package_id>/``.
- ``cleared`` of a confirmed hit: a small package with one still of the empty zone.
- ``still_present``: the track history grows; once the hit's violation package is written, a
  ``still_present`` package at most every ``evidence.still_present_package_s`` (frame time, 0: never)
  per hit: one *later* still (raw and annotated), a crop, the detections and the track since the
  previous package, no clip. The service attaches it to the hit's case as a sighting; after a
  notice's deadline it is the signed "after" evidence of the escalation. A hit resumed within
  ``cooldown_s`` keeps its rate; the first sighting after it came back usually packages at once.

- a learning sample (``learning`` in the site config, :mod:`detector.learning`): a *sample*
  package of the raw frame (JPEG, never drawn on) with the model's detections on it and why it was
  picked; no stills, no clip, no hit. It takes the device's chain like every package.

Writing a package never raises into the pipeline: a failure (disk full, quota) is logged, counted
in ``nce_evidence_skipped`` and the hit goes on. Starting does raise: without a signing key
(``device.key_file``), a CJK font or ffmpeg there is no packaging.

The packager takes the site config's sections it needs (site, cameras, rules, model, evidence,
device); :func:`detector.sinks.evidence_packager` builds it from a whole site config.

What becomes of the packages is told one way, to a :class:`PackageListener` (the outbox sink):
a confirmed hit's package is *pending* (waiting for its clip's post-roll), a package was *written*
(durably in place), a hit's package is *settled* (written, or it will not come). The packager never
asks its listener anything.

The pictures come from :mod:`detector.evidence.stills`; :mod:`detector.evidence.writer` writes,
signs and commits each package (files, manifest, chain); what is kept of each hit until then (frames,
clip, track, notes) is :mod:`detector.evidence.hits`; this module decides when each package is due.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry

from detector.config import Camera, Device, EvidenceSettings, ModelSettings, Rule, Site, Zone
from detector.detections import Detections
from detector.errors import EvidenceError
from detector.events import EventSink, Frame, HitEvent, LearningSample, RingSnapshot
from detector.evidence.clip import ffmpeg_path
from detector.evidence.files import PackageFile
from detector.evidence.hits import OpenHit, PackagedHit, own
from detector.evidence.quota import DeliveredPackages, EvidenceMetrics, EvidenceQuota
from detector.evidence.render import encode_jpeg, find_label_font
from detector.evidence.stills import StillRenderer
from detector.evidence.store import ChainStore
from detector.evidence.writer import SAMPLE_FRAME, PackageParts, PackageWriter
from detector.video.packets import StreamInfo
from detector.video.ring import Gauge, PacketRing
from nce.manifest import (
    Manifest,
    ManifestError,
    OcrResult,
    Still,
    load_private_key,
    utc_ms,
)

if TYPE_CHECKING:
    from detector.yolo import ModelInfo

log = logging.getLogger(__name__)

MAX_OPEN_CLIPS = 16
MAX_REMEMBERED_HITS = 10000


class PackageListener(Protocol):
    """What the packager tells (one way) about packages; the outbox sink listens."""

    def package_pending(self, hit_id: str) -> None:
        """``hit_id`` confirmed; its violation package comes once its clip has its post-roll."""
        ...

    def package_written(self, manifest: Manifest, folder: Path) -> None:
        """A package (any kind) is durably in place: files, manifest and chain state."""
        ...

    def package_settled(self, hit_id: str) -> None:
        """``hit_id``'s violation package was written, or will not come (an error, a full disk)."""
        ...


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class EvidencePackager(EventSink):
    """Writes evidence packages for confirmed, still-present and cleared hits. See the module docstring.

    ``listener`` (the outbox sink) is told what becomes of the packages (:class:`PackageListener`;
    ``package_written`` right after each package is durably in place: the outbox enqueues it there).
    ``delivered`` (the outbox) tells the quota which packages the service has: only those may be
    pruned.
    """

    def __init__(
        self,
        out_dir: str | Path,
        *,
        site: Site,
        cameras: Sequence[Camera],
        rules: Sequence[Rule],
        model: ModelSettings,
        evidence: EvidenceSettings,
        device: Device | None,
        model_info: ModelInfo | None = None,
        registry: CollectorRegistry | None = None,
        listener: PackageListener | None = None,
        delivered: DeliveredPackages | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.cameras = {c.id: c for c in cameras}
        self.rules = list(rules)
        self.settings = evidence
        self.key, self.device_id = self._key(device)
        self.font = find_label_font(str(evidence.font_file) if evidence.font_file else None)
        self.stills = StillRenderer(
            {c.id: c.name for c in cameras}, site.tz, self.font, self.settings.jpeg_quality
        )
        ffmpeg_path()
        self.evidence_dir = Path(out_dir) / "evidence"
        self.store = ChainStore(self.evidence_dir, self.device_id)
        self.metrics = EvidenceMetrics(registry)
        self.quota = EvidenceQuota(
            self.evidence_dir, self.settings.quota_bytes, delivered=delivered, metrics=self.metrics
        )
        self.writer = PackageWriter(
            site, model, self.key, self.device_id, self.store, self.quota, self.metrics,
            model_info=model_info, clock=clock or _now, on_package=self._written,
        )  # fmt: skip
        self.listener = listener
        self.written = self.writer.written
        self.hits: dict[str, OpenHit] = {}
        # hits that confirmed (hit id → confirmed_at), so that a clearance after a resumed hit
        # still gets its package
        self.confirmed_at: OrderedDict[str, str] = OrderedDict()
        # hits whose violation package was frozen (hit id → state), for still_present packages
        self.later: OrderedDict[str, PackagedHit] = OrderedDict()
        # cameras whose source hands on its packets: clips are their bitstream, remuxed
        self.packet_rings: dict[str, PacketRing] = {}

    def attach_packets(self, camera_id: str, ring: PacketRing) -> None:
        """Record ``camera_id``'s clips from ``ring`` (its PyAV source's ``on_packet``) instead of
        encoding them from decoded frames."""
        self.packet_rings[camera_id] = ring

    def open_packet_ring(
        self, camera_id: str, stream_info: Callable[[], StreamInfo | None], gauge: Gauge | None = None
    ) -> PacketRing:
        """A ring for ``camera_id``'s packets holding its clips' pre-roll (``clip_pre_s`` + 2 s from
        the key frame before), attached; the camera's source calls it with every packet."""
        keep_s = self.settings.clip_pre_s + 2.0
        ring = PacketRing(camera_id, keep_s, stream_info=stream_info, gauge=gauge)
        self.attach_packets(camera_id, ring)
        return ring

    def _written(self, manifest: Manifest, folder: Path) -> None:
        if self.listener is not None:
            self.listener.package_written(manifest, folder)

    # -- setup ---------------------------------------------------------------------------------

    @staticmethod
    def _key(device: Device | None) -> tuple[Ed25519PrivateKey, str]:
        if device is None:
            raise EvidenceError(
                "evidence packaging needs a signing key: the site config has no device section "
                "(set device.id and device.key_file: the key enrolled with `nce admin add-device`)"
            )
        path = device.key_file
        if not path.is_file():
            raise EvidenceError(device.missing_key_message())
        try:
            return load_private_key(path), device.id
        except (ManifestError, ValueError) as exc:
            raise EvidenceError(f"device.key_file: {exc}") from exc

    def _where(self, event: HitEvent) -> tuple[Camera, Zone, Rule | None]:
        camera = self.cameras.get(event.camera_id)
        zone = next((z for z in camera.zones if z.id == event.zone_id), None) if camera else None
        if camera is None or zone is None:
            raise EvidenceError(
                f"hit {event.hit_id}: camera {event.camera_id} / zone {event.zone_id} unknown"
            )
        rule = next(
            (r for r in self.rules if r.violation == event.violation and zone.kind in r.zone_kinds),
            None,
        )
        return camera, zone, rule

    # -- the sink ------------------------------------------------------------------------------

    def on_event(self, event: HitEvent, frame: Frame, detections: Detections, ring: RingSnapshot) -> None:
        try:
            if event.event == "opened":
                self._opened(event, frame, ring)
            elif event.event == "confirmed":
                self._confirmed(event, frame, detections, ring)
            elif event.event == "still_present":
                hit = self.hits.get(event.hit_id)
                if hit is not None:
                    hit.add_track(event)
                else:
                    self._still_present(event, frame, detections)
            elif event.event == "cleared":
                self._cleared(event, frame, detections)
        except (EvidenceError, OSError) as exc:
            log.error("evidence for hit %s (%s): %s", event.hit_id, event.event, exc)
            self._failed(exc)

    def on_sample(self, frame: Frame, ring: RingSnapshot) -> None:
        active = [h for h in self.hits.values() if h.opened.camera_id == frame.camera_id and not h.packaged]
        if not active:
            return
        recent: Sequence[Frame] | None = None
        for hit in active:
            if hit.recording:
                if recent is None:
                    recent = sorted(ring(), key=lambda f: f.mono)
                hit.feed([*recent, frame])
            hit.offer_between(frame)
            if hit.confirmed is not None and (hit.clip is None or hit.clip.done):
                try:
                    self._freeze(hit)
                except (EvidenceError, OSError) as exc:
                    log.error("evidence for hit %s: %s", hit.opened.hit_id, exc)
                    self._failed(exc)

    def on_learning_sample(self, sample: LearningSample) -> None:
        """Write a sample package of the frame (a failure is logged and counted, never raised)."""
        camera = self.cameras.get(sample.frame.camera_id)
        if camera is None:
            log.error("learning sample of unknown camera %s: not written", sample.frame.camera_id)
            return
        try:
            frame = PackageFile(
                SAMPLE_FRAME,
                "still_raw",
                "image/jpeg",
                encode_jpeg(sample.frame.image, self.settings.jpeg_quality),
            )
            self.writer.write_sample(camera, sample, [frame])
        except (EvidenceError, OSError) as exc:
            log.error("%s sample of %s: %s", sample.reason, camera.id, exc)
            self._failed(exc)

    def close(self) -> None:
        for hit in list(self.hits.values()):
            if hit.clip is not None and not hit.clip.finished:
                short = hit.clip.last_mono or hit.first.mono
                if hit.confirmed is not None:
                    hit.notes.append(
                        f"clip: the stream ended {max(0.0, hit.clip_end - short):.1f} s before the "
                        "requested end of the clip"
                    )
                hit.clip.finish()
            if hit.confirmed is not None and not hit.packaged:
                try:
                    self._freeze(hit)
                except (EvidenceError, OSError) as exc:
                    log.error("evidence for hit %s at shutdown: %s", hit.opened.hit_id, exc)
                    self._failed(exc)
            if hit.clip is not None and not hit.packaged:
                hit.clip.abort()
        self.hits.clear()

    def awaiting_package(self, hit_id: str) -> bool:
        """Whether ``hit_id`` confirmed and its package is still to be written (clip post-roll).
        The listener learns the same from ``package_pending`` / ``package_settled``: the outbox
        holds the hit's later events back meanwhile, so they never overtake the package."""
        hit = self.hits.get(hit_id)
        return hit is not None and hit.confirmed is not None and not hit.packaged

    def _failed(self, exc: BaseException) -> None:
        """Count a package not written; a full disk raises the ``nce_evidence_disk_full`` alarm."""
        cause: BaseException | None = exc
        while cause is not None and not (isinstance(cause, OSError) and cause.errno == errno.ENOSPC):
            cause = cause.__cause__
        if cause is not None:
            self.metrics.disk_full.set(1)
            self.metrics.skipped.labels(reason="disk_full").inc()
        else:
            self.metrics.skipped.labels(reason="error").inc()

    # -- events --------------------------------------------------------------------------------

    def _opened(self, event: HitEvent, frame: Frame, ring: RingSnapshot) -> None:
        if event.hit_id in self.hits:
            return
        camera, zone, rule = self._where(event)
        hit = OpenHit(opened=event, camera=camera, zone=zone, rule=rule, first=frame, first_box=event.box)
        hit.add_track(event)
        if rule is not None and rule.min_dwell_s > 0:
            hit.between_target = frame.mono + rule.min_dwell_s / 2
        self.hits[event.hit_id] = hit
        open_clips = sum(1 for h in self.hits.values() if h.recording)
        if open_clips >= MAX_OPEN_CLIPS:
            hit.notes.append(f"clip: not recorded ({open_clips} clips were being recorded already)")
        else:
            packets = self.packet_rings.get(event.camera_id)
            hit.start_clip(self.settings, self.store.tmp, len(self.written), frame, ring, packets)
        hit.keep_first(frame)  # its pixels, unless the clip's packets hold them

    def _confirmed(self, event: HitEvent, frame: Frame, detections: Detections, ring: RingSnapshot) -> None:
        hit = self.hits.get(event.hit_id)
        if hit is None:
            log.warning("hit %s confirmed without an opened event: no evidence", event.hit_id)
            return
        hit.add_track(event)
        self.confirmed_at[event.hit_id] = utc_ms(event.ts)
        while len(self.confirmed_at) > 10000:
            self.confirmed_at.popitem(last=False)
        hit.confirmed = (event, own(frame), detections)
        if self.listener is not None:
            self.listener.package_pending(event.hit_id)
        if hit.recording:
            hit.feed([*sorted(ring(), key=lambda f: f.mono), frame])
        if hit.clip is None or hit.clip.done:
            self._freeze(hit)
        # else: frozen from on_sample once the clip has its post-roll and ffmpeg has finished

    def _cleared(self, event: HitEvent, frame: Frame, detections: Detections) -> None:
        hit = self.hits.pop(event.hit_id, None)
        if hit is not None and hit.confirmed is not None and not hit.packaged:
            if hit.clip is not None and not hit.clip.finished:
                hit.notes.append("clip: the hit cleared before the clip's post-roll was complete")
                hit.clip.finish()
            self._freeze(hit)
        elif hit is not None and hit.clip is not None and not hit.packaged:
            hit.clip.abort()  # never confirmed: the provisional clip goes
        if event.hit_id in self.confirmed_at:
            self._write_cleared(event, frame, detections)

    # -- packages ------------------------------------------------------------------------------

    def _freeze(self, hit: OpenHit) -> None:
        if hit.packaged or hit.confirmed is None:
            return
        hit.packaged = True
        try:
            self._freeze_package(hit, *hit.confirmed)
        finally:
            if self.listener is not None:
                self.listener.package_settled(hit.opened.hit_id)

    def _freeze_package(self, hit: OpenHit, event: HitEvent, frame: Frame, detections: Detections) -> None:
        self.hits.pop(event.hit_id, None)  # its frames are not needed once the package is frozen
        self.later[event.hit_id] = PackagedHit(
            hit.camera, hit.zone, hit.rule, confirmed_at=utc_ms(event.ts), last_mono=frame.mono
        )
        while len(self.later) > MAX_REMEMBERED_HITS:
            self.later.popitem(last=False)
        if hit.clip is not None and not hit.clip.finished:
            hit.clip.finish()
        files: list[PackageFile] = []
        stills: list[Still] = []
        for n, (moment, f, box) in enumerate(hit.moments(frame, event), start=1):
            still, fs = self.stills.still(n, moment, f, box, event, hit.zone)
            stills.append(still)
            files += fs
        crop, crop_file = self.stills.crop(frame.image, event.box)
        files.append(crop_file)
        ocr: OcrResult | None = None
        if str(event.violation) == "illegal_ad" and self.settings.ocr:
            from detector.evidence.ocr import read_text

            ocr = read_text(crop)
            if ocr.note:
                hit.notes.append(ocr.note)
        clip_files, clip = hit.clip_files(self.settings)
        files += clip_files
        try:
            parts = PackageParts(
                event, hit.camera, hit.zone, hit.rule, stills, files, detections, hit.track, ocr, hit.notes,
                confirmed_at=utc_ms(event.ts), clip=clip,
            )  # fmt: skip
            self.writer.write("violation", parts)
        finally:
            for done in clip_files:
                if done.path is not None:
                    done.path.unlink(missing_ok=True)

    def _still_present(self, event: HitEvent, frame: Frame, detections: Detections) -> None:
        """A still_present package, if the hit's last package is ``still_present_package_s`` old."""
        later = self.later.get(event.hit_id)
        every = self.settings.still_present_package_s
        if later is None or every <= 0:
            return
        later.add_track(event)
        if frame.mono - later.last_mono < every - 1e-6:
            return
        later.last_mono = frame.mono  # the rate holds even when this package cannot be written
        track, later.track = later.track, []
        still, files = self.stills.still(1, "later", frame, event.box, event, later.zone)
        _crop, crop_file = self.stills.crop(frame.image, event.box)
        parts = PackageParts(
            event, later.camera, later.zone, later.rule, [still], [*files, crop_file], detections, track,
            confirmed_at=later.confirmed_at,
        )  # fmt: skip
        self.writer.write("still_present", parts)

    def _write_cleared(self, event: HitEvent, frame: Frame, detections: Detections) -> None:
        camera, zone, rule = self._where(event)
        still, files = self.stills.still(1, "cleared", frame, None, event, zone)
        parts = PackageParts(
            event, camera, zone, rule, [still], files, detections,
            confirmed_at=self.confirmed_at.pop(event.hit_id, None),
        )  # fmt: skip
        self.writer.write("cleared", parts)
