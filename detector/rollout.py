"""Hot-swapping the model in a running pipeline (issue 17): which detector each camera's frames go to.

:class:`ModelSlots` holds the site's detector and, for a canary, the cameras that run a candidate
instead. A swap is *requested* from any thread (the assignment poller) with a detector that is
already loaded, checked and warmed up (:func:`load_candidate`), and *applied* by the pipeline's loop
between batches (:meth:`ModelSlots.apply_pending`): a batch keeps the detector it was handed to, so
the batches in flight finish on the old model and the next one starts on the new; no frame is
dropped and the trackers and open hits carry over.

When the candidate raises on a batch, the loop runs that batch again on the previous model (no frame
lost) and counts the error; :mod:`detector.health_watch` decides when the errors (or a flood of
detections) mean rolling back, and :meth:`ModelSlots.roll_back` puts the previous model back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from detector.config import ModelSettings, SiteConfig
from detector.errors import ModelError
from detector.health_watch import HealthRules, HealthWatch
from detector.yolo import YoloDetector

if TYPE_CHECKING:
    from detector.assignment_poller import AssignmentPoller
    from detector.pipeline import Pipeline

__all__ = [
    "ModelSlots",
    "RolloutEvent",
    "Swap",
    "file_sha256",
    "health_rules",
    "load_candidate",
    "start_poller",
    "warm_up",
]

log = logging.getLogger(__name__)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def warm_up(detector: YoloDetector, frame: npt.NDArray[np.uint8]) -> float:
    """Run the model once on a reference frame (allocates its buffers, JIT-compiles providers);
    the seconds it took. A model that raises or returns a wrong shape is a :class:`ModelError`."""
    t0 = time.perf_counter()
    try:
        results = detector.detect([frame, frame])  # a batch of two: static-batch models split it
    except Exception as exc:  # ONNX Runtime raises its own types
        raise ModelError(f"the model failed its warm-up on the reference frame: {exc}") from exc
    if len(results) != 2:
        raise ModelError(f"the model returned {len(results)} results for a batch of 2 on warm-up")
    return time.perf_counter() - t0


def load_candidate(
    path: Path,
    sha256: str,
    settings: ModelSettings,
    reference: npt.NDArray[np.uint8],
    *,
    conf: float | None = None,
    names: dict[int, str] | None = None,
) -> YoloDetector:
    """A downloaded model, checked against the sha256 its release names, loaded with the site's model
    settings (providers, thresholds, threads) and warmed up on ``reference``."""
    actual = file_sha256(path)
    if actual != sha256.lower():
        raise ModelError(f"{path.name}: sha256 {actual} is not the release's {sha256}; refused")
    detector = YoloDetector(
        path,
        providers=settings.ort_providers(),
        conf=settings.conf if conf is None else conf,
        iou=settings.iou,
        allow_fallback=settings.allow_fallback,
        intra_op_threads=settings.intra_op_threads,
        inter_op_threads=settings.inter_op_threads,
        rect=settings.rect,
    )
    if names is not None and detector.info.names != names:
        raise ModelError(f"{path.name}: its classes {detector.info.names} are not the site model's {names}")
    warm_up(detector, reference)
    return detector


@dataclass(frozen=True)
class RolloutEvent:
    """A release's state change on this edge, for the rollout report to the service."""

    release: str
    state: str  # running, rolled_back (nce.rollout.RolloutState)
    why: str | None
    cameras: tuple[str, ...]


@dataclass(frozen=True)
class Swap:
    """A requested swap: the detector, its release, and the cameras it is for (None: all)."""

    detector: YoloDetector
    release: str
    cameras: frozenset[str] | None


@dataclass(frozen=True)
class _Applied:
    release: str
    cameras: frozenset[str] | None
    at: float  # time.monotonic() of the swap
    seconds: float  # requested → applied


class ModelSlots:
    """The detector each camera's frames go to; swaps and roll-backs happen between batches."""

    def __init__(
        self, detector: YoloDetector, release: str = "site", rules: HealthRules | None = None
    ) -> None:
        self.default = detector
        self.release = release
        self.canary: dict[str, YoloDetector] = {}
        self.canary_release: str | None = None
        self.previous: YoloDetector | None = None
        self.previous_release: str | None = None
        self.swaps: list[_Applied] = []
        self._lock = threading.Lock()
        self._pending: tuple[Swap, float] | None = None
        self._rollback: str | None = None
        self.applied = threading.Event()  # set after each swap or roll-back the loop applied
        self.watch = HealthWatch(rules or HealthRules())
        self.events: list[RolloutEvent] = []  # appended by the loop; the poller reads them
        self._on_trial: tuple[str, str | None, frozenset[str] | None] | None = (
            None  # release, previous, cameras
        )

    def for_camera(self, camera_id: str) -> YoloDetector:
        return self.canary.get(camera_id, self.default)

    def release_for(self, camera_id: str) -> str:
        if camera_id in self.canary and self.canary_release is not None:
            return self.canary_release
        return self.release

    def fallback_for(self, detector: YoloDetector) -> YoloDetector | None:
        """The model to re-run a failed batch on: the site's model for a canary, else the previous."""
        if detector is self.default:
            return self.previous
        return self.default

    # -- requests (any thread) ----------------------------------------------------------------

    def request(self, swap: Swap) -> None:
        with self._lock:
            self._pending = (swap, time.monotonic())
            self.applied.clear()

    def request_rollback(self, why: str) -> None:
        with self._lock:
            self._rollback = why
            self.applied.clear()

    # -- the loop -----------------------------------------------------------------------------

    def apply_pending(self) -> str | None:
        """Apply a requested swap or roll-back (the loop calls this between batches); what it did."""
        with self._lock:
            pending, self._pending = self._pending, None
            why, self._rollback = self._rollback, None
        done: str | None = None
        if why is not None:
            done = self.roll_back(why)
        if pending is not None:
            swap, asked = pending
            self._apply(swap)
            self.swaps.append(
                _Applied(swap.release, swap.cameras, time.monotonic(), time.monotonic() - asked)
            )
            cams = tuple(sorted(swap.cameras)) if swap.cameras is not None else ()
            self.events.append(RolloutEvent(swap.release, "running", None, cams))
            done = f"swapped to {swap.release}"
        if done is not None:
            self.applied.set()
        return done

    def _apply(self, swap: Swap) -> None:
        if swap.cameras is None:
            self.previous, self.previous_release = self.default, self.release
            self.default, self.release = swap.detector, swap.release
            self.canary, self.canary_release = {}, None
            log.info("model swapped to release %s on every camera", swap.release)
        else:
            self.previous, self.previous_release = None, None
            self.canary = dict.fromkeys(swap.cameras, swap.detector)
            self.canary_release = swap.release
            log.info(
                "model release %s runs on canary cameras %s", swap.release, ", ".join(sorted(swap.cameras))
            )
        previous = self.release if swap.cameras is not None else self.previous_release
        self._on_trial = (swap.release, previous, swap.cameras)

    def roll_back(self, why: str) -> str:
        if self.canary:
            gone = self.canary_release
            self.canary, self.canary_release = {}, None
        elif self.previous is not None and self.previous_release is not None:
            gone = self.release
            self.default, self.release = self.previous, self.previous_release
            self.previous, self.previous_release = None, None
        else:
            return "nothing to roll back"
        log.warning("model release %s rolled back: %s", gone, why)
        self._on_trial = None
        if gone is not None:
            self.events.append(RolloutEvent(gone, "rolled_back", why, ()))
        return f"rolled back {gone}: {why}"

    # -- health (the loop) --------------------------------------------------------------------

    def note(self, camera_id: str, utc: dt.datetime, detections: int) -> None:
        self.watch.frame(self.release_for(camera_id), camera_id, utc, detections)
        self._check()

    def note_hit(self, camera_id: str, utc: dt.datetime) -> None:
        self.watch.hit(self.release_for(camera_id), camera_id, utc)

    def note_error(
        self, detector: YoloDetector, cameras: list[tuple[str, dt.datetime]], exc: Exception
    ) -> None:
        release = self.canary_release if detector is not self.default and self.canary else self.release
        if detector is not self.default and not self.canary:
            return  # a model already rolled back: its errors no longer count
        log.warning("model release %s failed on a batch (re-run on the previous model): %s", release, exc)
        for camera, utc in cameras:
            self.watch.error(release or "?", camera, utc)
        self._check()

    def _check(self) -> None:
        if self._on_trial is None:
            return
        release, previous, cameras = self._on_trial
        why = self.watch.verdict(release, previous, set(cameras) if cameras else None)
        if why is not None:
            self.roll_back(why)

    def cameras_on(self, release: str, cameras: Iterable[str]) -> list[str]:
        return [c for c in cameras if self.release_for(c) == release]


def health_rules(config: SiteConfig) -> HealthRules:
    """The health watch's thresholds from the site's ``rollout`` section."""
    r = config.rollout
    return HealthRules(
        max_error_rate=r.max_error_rate,
        max_detections_per_frame=r.max_detections_per_frame,
        max_ratio=r.max_ratio,
        min_hours=r.min_hours,
    )


def start_poller(config: SiteConfig, pipeline: Pipeline) -> AssignmentPoller | None:
    """With ``rollout.enabled``: the assignment poller of ``nce run``, started."""
    from detector.assignment_poller import AssignmentPoller
    from detector.config.site import release_key
    from detector.delivery.transport import read_token
    from nce.release import ReleaseError, load_release_pubkey

    r, key = config.rollout, release_key(config)
    if not r.enabled or config.uplink is None or key is None:
        return None
    try:
        pubkey = load_release_pubkey(key)
    except ReleaseError as exc:
        raise ModelError(f"release key {key}: {exc}") from None
    from detector.evidence.packager import EvidencePackager

    for sink in pipeline.sinks:  # evidence names the model that ran on the hit's camera
        if isinstance(sink, EvidencePackager):
            sink.writer.model_for = lambda camera_id: pipeline.models.for_camera(camera_id).info
    poller = AssignmentPoller(
        pipeline,
        service_url=config.uplink.service_url,
        token=read_token(config.uplink.token_file),
        pubkey=pubkey,
        folder=config.edge_data_dir() / "releases",
        poll_s=r.poll_s,
        timeout_s=config.uplink.timeout_s,
    )
    poller.start()
    log.info(
        "polling %s for model releases and camera settings every %g s", config.uplink.service_url, r.poll_s
    )
    return poller
