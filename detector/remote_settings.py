"""Remote per-camera settings (issue 17): ``enabled``, ``min_score`` and ``masks`` sent by the
service (:class:`nce.rollout.CameraSettings`), applied to a running pipeline without a restart.

:meth:`SettingsInbox.submit` (any thread: the assignment poller) validates the settings the way the
site config is validated — each camera is rebuilt through :class:`detector.config.Camera` (masks
through :class:`detector.config.Mask`), so a class the detector does not know or a bad polygon is
refused with the config's own words — and keeps them until the loop applies them between batches
(:meth:`SettingsInbox.apply`). ``enabled: false`` pauses a running camera (its reader keeps its
stream and ring; its samples go to no model); a camera the site config disables has no reader and
cannot be enabled remotely.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import ValidationError

from detector.config import Camera
from detector.config.load import format_loc
from detector.errors import ConfigError, ConfigProblem, UnknownCameraError
from detector.masks import DetectionMasks
from nce.rollout import CameraSettings

if TYPE_CHECKING:
    from detector.pipeline import CameraRuntime

__all__ = ["SettingsInbox", "merged_camera"]

log = logging.getLogger(__name__)


def merged_camera(camera: Camera, settings: CameraSettings) -> Camera:
    """``camera`` with the remote settings that are set, validated as the site config is."""
    data = camera.model_dump(mode="json")
    changes = settings.model_dump(mode="json", exclude_none=True, exclude={"camera_id"})
    data.update(changes)
    try:
        return Camera.model_validate(data)
    except ValidationError as exc:
        problems = [
            ConfigProblem("remote settings", f"cameras[{camera.id}].{format_loc(e['loc'])}", e["msg"])
            for e in exc.errors()
        ]
        raise ConfigError(problems) from exc


class SettingsInbox:
    """Remote settings waiting for the loop; ``version`` is the assignment version last applied."""

    def __init__(self, cameras: Sequence[Camera]) -> None:
        self._site = {c.id: c for c in cameras}  # what the site config says: settings apply to it
        self._cameras = dict(self._site)  # as taken (applied or pending)
        self._lock = threading.Lock()
        self._pending: dict[str, Camera] = {}
        self.applied = threading.Event()
        self.changes: list[tuple[str, dict[str, object]]] = []  # (camera, what changed), as applied

    def submit(self, settings: Sequence[CameraSettings]) -> dict[str, Camera]:
        """Take the service's whole list (every assignment carries all of it): each camera is its
        site config with its settings on top, so a field the service no longer sets, or a camera it
        no longer names (settings cleared), goes back to the site config's value. Validated all or
        none; returns the cameras that change."""
        merged: dict[str, Camera] = {}
        given = {s.camera_id: s for s in settings}
        for s in settings:
            base = self._site.get(s.camera_id)
            if base is None:
                known = ", ".join(sorted(self._site))
                raise UnknownCameraError(
                    f"remote settings for unknown camera {s.camera_id!r}; known: {known}"
                )
            if s.enabled and not base.enabled:
                raise ConfigError(
                    [
                        ConfigProblem(
                            "remote settings",
                            f"cameras[{s.camera_id}].enabled",
                            "the site config disables this camera; enable it there",
                        )
                    ]
                )
            camera = merged_camera(base, s)
            if camera != self._cameras[s.camera_id]:
                merged[s.camera_id] = camera
        for camera_id, base in self._site.items():
            if camera_id not in given and self._cameras[camera_id] != base:
                merged[camera_id] = base  # its settings were cleared
        with self._lock:
            self._pending.update(merged)
            self._cameras.update(merged)
            if merged:
                self.applied.clear()
        return merged

    def apply(self, runtimes: Sequence[CameraRuntime], names: dict[int, str]) -> int:
        """Put the pending settings into the cameras' runtimes (the loop, between batches)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        for rt in runtimes:
            camera = pending.get(rt.camera.id)
            if camera is None:
                continue
            old = rt.camera
            changed = {
                k: getattr(camera, k)
                for k in ("enabled", "min_score", "masks")
                if getattr(camera, k) != getattr(old, k)
            }
            rt.camera = camera
            rt.masks = DetectionMasks(camera.id, camera.masks, names) if camera.masks else None
            self.changes.append((camera.id, changed))
            log.info(
                "camera %s: remote settings applied (%s)",
                camera.id,
                ", ".join(sorted(changed)) or "no change",
            )
        self.applied.set()
        return len(pending)
