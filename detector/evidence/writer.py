"""Writing one evidence package: quota, the device's hash chain, the signed manifest, the commit.

:class:`~detector.evidence.packager.EvidencePackager` decides *when* a package is due and gathers its
pictures and clip (:class:`PackageParts`); :class:`PackageWriter` turns them into a package folder:
it makes room under the quota, takes the next sequence number and the previous manifest's hash from
the chain store, writes and hashes the files, assembles the :class:`~nce.manifest.Manifest` (the one
contract the service verifies), signs it with the device key and commits the folder atomically.
A sample package (:meth:`PackageWriter.write_sample`: a frame picked to learn from) takes the same
way through the same chain.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detector.config import Camera, ModelSettings, Rule, Site, Zone
from detector.detections import Detections
from detector.events import HitEvent, LearningSample
from detector.evidence.files import PackageFile, write_files
from detector.evidence.quota import EvidenceMetrics, EvidenceQuota
from detector.evidence.store import ChainStore
from nce import __version__
from nce.bounds import TEXT_MAX, clean_text
from nce.manifest import (
    CameraRef,
    ClipInfo,
    DetectionRecord,
    EventInfo,
    FileEntry,
    LocationRef,
    Manifest,
    ModelRef,
    OcrResult,
    RuleRef,
    SampleInfo,
    SiteRef,
    SoftwareRef,
    Still,
    TrackPoint,
    ZoneRef,
    sign_manifest,
)
from nce.times import utc_ms

if TYPE_CHECKING:
    from detector.yolo import ModelInfo

log = logging.getLogger(__name__)

PackageCallback = Callable[[Manifest, Path], None]
PackageName = Literal["violation", "still_present", "cleared", "sample"]  # the package id's suffix
SAMPLE_FRAME = "frame.jpg"  # a sample package's raw frame


@dataclass
class PackageParts:
    """What one package holds besides what the writer adds (sequence, chain, time, signature)."""

    event: HitEvent
    camera: Camera
    zone: Zone
    rule: Rule | None
    stills: list[Still]
    files: list[PackageFile]
    detections: Detections
    track: list[TrackPoint] = field(default_factory=list)
    ocr: OcrResult | None = None
    notes: list[str] = field(default_factory=list)
    confirmed_at: str | None = None
    clip: ClipInfo | None = None  # set for a clip of the camera's bitstream (and its preview)


def model_ref(info: ModelInfo | None, settings: ModelSettings) -> ModelRef | None:
    """The model a package's detections came from (file, hash, classes, thresholds)."""
    if info is None:
        return None
    return ModelRef(
        name=info.path.name,
        sha256=info.sha256,
        classes=[info.names[i] for i in sorted(info.names)],
        conf=settings.conf,
        iou=settings.iou,
        providers=list(info.providers),
        imgsz=(int(info.imgsz[0]), int(info.imgsz[1])),
    )


def rule_ref(rule: Rule | None) -> RuleRef | None:
    """The rule that decided the violation, as the manifest records it."""
    if rule is None:
        return None
    hours = rule.active_hours
    return RuleRef(
        classes=list(rule.classes),
        zone_kinds=list(rule.zone_kinds),
        min_dwell_s=rule.min_dwell_s,
        grace_s=rule.grace_s,
        cooldown_s=rule.cooldown_s,
        min_score=rule.min_score,
        min_area_px=rule.min_area_px,
        active_hours=(
            f"{hours.start.strftime('%H:%M')}-{hours.end.strftime('%H:%M')}" if hours is not None else None
        ),
    )


def detection_records(detections: Detections, names: dict[int, str]) -> list[DetectionRecord]:
    """Every detection of the frame (label, score, box, track id), rounded as the manifest keeps them."""
    out = []
    for i in range(len(detections)):
        cid = int(detections.class_id[i])
        out.append(
            DetectionRecord(
                label=names.get(cid, f"class_{cid}"),
                score=round(float(detections.confidence[i]), 5),
                box=tuple(round(float(v), 2) for v in detections.xyxy[i]),  # type: ignore[arg-type]
                track_id=int(detections.tracker_id[i]) if detections.tracker_id is not None else None,
            )
        )
    return out


class PackageWriter:
    """Writes packages into ``store``'s chain, signed with ``key``; see the module docstring.
    ``site`` goes into every manifest; ``model`` (the thresholds) with ``model_info``."""

    def __init__(
        self,
        site: Site,
        model: ModelSettings,
        key: Ed25519PrivateKey,
        device_id: str,
        store: ChainStore,
        quota: EvidenceQuota,
        metrics: EvidenceMetrics,
        *,
        model_info: ModelInfo | None,
        clock: Callable[[], dt.datetime],
        on_package: PackageCallback | None = None,
    ) -> None:
        self.site = site
        self.key = key
        self.device_id = device_id
        self.store = store
        self.quota = quota
        self.metrics = metrics
        self.clock = clock
        self.on_package = on_package
        self.model_ref = model_ref(model_info, model)
        self.model_settings = model
        # the model each camera runs now, when a rollout may swap it (detector.rollout.ModelSlots)
        self.model_for: Callable[[str], ModelInfo] | None = None
        self.names: dict[int, str] = dict(model_info.names) if model_info is not None else {}
        self.written: list[Path] = []

    def _model(self, camera_id: str) -> ModelRef | None:
        if self.model_for is None:
            return self.model_ref
        return model_ref(self.model_for(camera_id), self.model_settings)

    def write(self, name: PackageName, parts: PackageParts) -> Path | None:
        """Write one hit package; ``None`` when the quota has no room for it (counted and logged)."""
        # the contract's kinds: a still_present package is a "violation" package whose event is
        # still_present (nce.manifest is not forked)
        kind: Literal["violation", "cleared"] = "cleared" if name == "cleared" else "violation"

        def build(package_id: str, sequence: int, prev_hash: str, entries: list[FileEntry]) -> Manifest:
            return self.manifest(kind, package_id, sequence, prev_hash, parts, entries)

        return self._write(name, parts.files, f"hit {parts.event.hit_id}", build)

    def write_sample(self, camera: Camera, sample: LearningSample, files: list[PackageFile]) -> Path | None:
        """Write one sample package (its raw frame is ``files``' :data:`SAMPLE_FRAME`); ``None``
        when the quota has no room for it (counted and logged)."""

        def build(package_id: str, sequence: int, prev_hash: str, entries: list[FileEntry]) -> Manifest:
            return self.sample_manifest(package_id, sequence, prev_hash, camera, sample, entries)

        return self._write("sample", files, f"{sample.reason} sample of {camera.id}", build)

    def _write(
        self,
        name: PackageName,
        files: list[PackageFile],
        what: str,
        build: Callable[[str, int, str, list[FileEntry]], Manifest],
    ) -> Path | None:
        need = sum(f.size for f in files)
        if not self.quota.ensure_room(need + 64 * 1024):
            self.metrics.skipped.labels(reason="quota").inc()
            log.error("evidence quota: no %s package for %s", name, what)
            return None
        state = self.store.state
        sequence = state.last_sequence + 1
        package_id = f"{self.device_id}-{sequence:08d}-{name}"
        folder = self.store.new_tmp(package_id)
        try:
            entries = write_files(folder, files)
            manifest = build(package_id, sequence, state.last_hash, entries)
            signed = sign_manifest(manifest, self.key)
            final = self.store.commit(folder, signed, signed.to_json_bytes())
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self.quota.added(final)
        self.metrics.disk_full.set(0)
        self.metrics.packages.labels(kind=name).inc()
        self.written.append(final)
        log.info("evidence package %s (%s, %d files)", final, name, len(entries))
        if self.on_package is not None:
            self.on_package(signed, final)
        return final

    def manifest(
        self,
        kind: Literal["violation", "cleared"],
        package_id: str,
        sequence: int,
        prev_hash: str,
        parts: PackageParts,
        files: list[FileEntry],
    ) -> Manifest:
        """The unsigned manifest of a package whose files are written and hashed."""
        site = self.site
        camera, zone, event = parts.camera, parts.zone, parts.event
        loc = camera.location
        notes = [clean_text(n, TEXT_MAX, lines=True) for n in parts.notes]  # error texts among them
        ref = self._model(camera.id)
        if ref is None:
            notes.append("model: not known to the packager")
        return Manifest(
            package_id=package_id,
            kind=kind,
            device_id=self.device_id,
            sequence=sequence,
            prev_manifest_hash=prev_hash,
            created_at=utc_ms(self.clock()),
            site=SiteRef(id=site.id, name=site.name, timezone=site.timezone),
            camera=CameraRef(
                id=camera.id,
                name=camera.name,
                location=LocationRef(lat=loc.lat, lon=loc.lon, address=loc.address) if loc else None,
            ),
            zone=ZoneRef(id=zone.id, kind=zone.kind, name=zone.name, polygon=list(zone.polygon)),
            shop_id=event.shop_id,
            violation=event.violation,
            rule=rule_ref(parts.rule),
            event=EventInfo(
                hit_id=event.hit_id,
                event=event.event,
                ts=utc_ms(event.ts),
                first_seen=utc_ms(event.first_seen),
                confirmed_at=parts.confirmed_at,
                last_seen=utc_ms(event.last_seen),
                cleared_at=utc_ms(event.ts) if event.event == "cleared" else None,
                dwell_s=event.dwell_s,
                sightings=event.sightings,
                track_id=event.track_id,
                label=event.label,
                score=event.score,
                box=tuple(round(float(v), 2) for v in event.box),  # type: ignore[arg-type]
            ),
            stills=parts.stills,
            model=ref,
            software=SoftwareRef(version=__version__),
            detections=detection_records(parts.detections, self.names),
            track=parts.track,
            ocr=parts.ocr,
            notes=notes,
            derived_from=None,
            files=files,
            signature=None,
            clip=parts.clip,
        )

    def sample_manifest(
        self,
        package_id: str,
        sequence: int,
        prev_hash: str,
        camera: Camera,
        sample: LearningSample,
        files: list[FileEntry],
    ) -> Manifest:
        """The unsigned manifest of a sample package whose files are written and hashed."""
        site, frame = self.site, sample.frame
        loc = camera.location
        ref = self._model(camera.id)
        notes = [] if ref is not None else ["model: not known to the packager"]
        h, w = frame.shape_hw
        return Manifest(
            package_id=package_id,
            kind="sample",
            device_id=self.device_id,
            sequence=sequence,
            prev_manifest_hash=prev_hash,
            created_at=utc_ms(self.clock()),
            site=SiteRef(id=site.id, name=site.name, timezone=site.timezone),
            camera=CameraRef(
                id=camera.id,
                name=camera.name,
                location=LocationRef(lat=loc.lat, lon=loc.lon, address=loc.address) if loc else None,
            ),
            zone=None,
            shop_id=None,
            violation=None,
            rule=None,
            event=None,
            stills=[],
            model=ref,
            software=SoftwareRef(version=__version__),
            detections=[],
            track=[],
            ocr=None,
            notes=notes,
            derived_from=None,
            files=files,
            signature=None,
            sample=SampleInfo(
                reason=sample.reason,
                frame=SAMPLE_FRAME,
                frame_utc=utc_ms(frame.utc),
                frame_index=frame.index,
                width=w,
                height=h,
                score_floor=round(sample.score_floor, 5),
                detections=[
                    *detection_records(sample.detections, self.names),
                    *detection_records(sample.below, self.names),
                ],
                picked=list(sample.picked),
                near_miss=sample.near_miss,
            ),
        )
