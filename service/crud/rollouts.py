"""Rollouts (issue 17): a model release assigned to devices (all their cameras, or canary cameras
only), remote per-camera settings, and the rollout state each device reports back.

One row per device (:class:`service.models.DeviceRollout`); each assignment or settings change bumps
its ``version`` (the ETag of ``GET /api/v1/devices/me/assignment``) and sets the state ``pending``
until the device reports. Ledger entries: ``model_assigned`` (per device), ``camera_settings_changed``,
and, from the device's reports, ``model_rolled_back`` and ``model_refused`` (the reason in the
payload). A report of ``running`` is no ledger entry (nothing was decided), only the state.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from nce.rollout import Assignment, CameraSettings, RemoteMask, RolloutReport
from service import ledger
from service.crud.masks import accepted
from service.crud.releases import get_release
from service.errors import Conflict, Invalid, NotFound
from service.models import Device, utcnow
from service.models_fleet import DeviceRollout

__all__ = [
    "accepted_masks",
    "assign",
    "assignment_for",
    "etag",
    "list_rollouts",
    "record_report",
    "set_camera_settings",
]

REPORT_ACTIONS = {"rolled_back": "model_rolled_back", "refused": "model_refused"}


def _row(session: Session, device_id: str) -> DeviceRollout:
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device {device_id!r} is enrolled")
    row = session.get(DeviceRollout, device_id, with_for_update=True)
    if row is None:
        row = DeviceRollout(device_id=device_id, settings=[], version=0)
        session.add(row)
    return row


def assign(
    session: Session, *, release_id: str, device_ids: Sequence[str], canary: Sequence[str] | None, actor: str
) -> list[DeviceRollout]:
    """Assign a stored release to devices (on their ``canary`` cameras only, when given); one ledger
    entry ``model_assigned`` per device. Commits."""
    if not device_ids:
        raise Invalid("name at least one device")
    if canary is not None and not canary:
        raise Invalid("a canary names at least one camera")
    ledger.lock_head(session)
    release = get_release(session, release_id)
    rows = []
    for device_id in dict.fromkeys(device_ids):
        row = _row(session, device_id)
        row.release_id, row.canary_cameras = release.release_id, list(canary) if canary else None
        row.version += 1
        row.assigned_by, row.updated_at = actor, utcnow()
        row.state, row.why, row.state_at = "pending", None, utcnow()
        ledger.append(
            session,
            actor=actor,
            action="model_assigned",
            case_id=None,
            payload={
                "device_id": device_id,
                "release_id": release.release_id,
                "model_sha256": release.model_sha256,
                "canary_cameras": row.canary_cameras,
                "version": row.version,
            },
        )
        rows.append(row)
    session.commit()
    return rows


def accepted_masks(session: Session, camera_id: str) -> list[RemoteMask]:
    """The camera's accepted learned masks (the data engine's), as remote settings send them."""
    return [
        RemoteMask(classes=[r.label], polygon=[(float(x), float(y)) for x, y in r.polygon])
        for r in accepted(session, camera_id)
    ]


def set_camera_settings(
    session: Session, *, device_id: str, settings: CameraSettings, actor: str
) -> DeviceRollout:
    """Set (replace) one camera's remote settings on a device; a ledger entry
    ``camera_settings_changed`` with the settings. Commits."""
    ledger.lock_head(session)
    row = _row(session, device_id)
    others = [s for s in row.settings if s.get("camera_id") != settings.camera_id]
    new = settings.model_dump(mode="json", exclude_none=True)
    if len(new) == 1:
        raise Invalid(
            "set at least one of enabled, min_score, masks (to go back to the site config: clear the "
            "camera's settings, DELETE /api/v1/devices/{id}/camera-settings/{camera_id})"
        )
    return _new_settings(
        session,
        row,
        [*others, new],
        actor=actor,
        action="camera_settings_changed",
        payload={
            "device_id": device_id,
            "camera": settings.camera_id,
            **{k: v for k, v in new.items() if k != "camera_id"},
        },
    )


def clear_camera_settings(session: Session, *, device_id: str, camera_id: str, actor: str) -> DeviceRollout:
    """Clear one camera's remote settings on a device: the edge goes back to its site config for that
    camera; a ledger entry ``camera_settings_cleared`` with what was cleared. Commits."""
    ledger.lock_head(session)
    row = _row(session, device_id)
    cleared = [s for s in row.settings if s.get("camera_id") == camera_id]
    if not cleared:
        raise NotFound(f"camera {camera_id!r} has no remote settings on device {device_id!r}")
    return _new_settings(
        session,
        row,
        [s for s in row.settings if s.get("camera_id") != camera_id],
        actor=actor,
        action="camera_settings_cleared",
        payload={
            "device_id": device_id,
            "camera": camera_id,
            "cleared": sorted(k for k in cleared[-1] if k != "camera_id"),
        },
    )


def _new_settings(
    session: Session,
    row: DeviceRollout,
    settings: list[dict[str, object]],
    *,
    actor: str,
    action: str,
    payload: dict[str, object],
) -> DeviceRollout:
    """The device's settings list becomes ``settings`` (a new assignment version) and the ledger says so
    (``payload`` + the version). Commits."""
    row.settings = settings
    row.version += 1
    row.updated_at = utcnow()
    ledger.append(
        session, actor=actor, action=action, case_id=None, payload={**payload, "version": row.version}
    )
    session.commit()
    return row


def etag(row: DeviceRollout | None) -> str:
    return f'"a{row.version if row is not None else 0}"'


def assignment_for(session: Session, device_id: str) -> tuple[Assignment, DeviceRollout | None]:
    """What the device is to run now (an empty assignment when nothing was ever assigned)."""
    row = session.get(DeviceRollout, device_id)
    if row is None:
        return Assignment(version=0), None
    sha = get_release(session, row.release_id).model_sha256 if row.release_id else None
    return (
        Assignment(
            version=row.version,
            release_id=row.release_id,
            sha256=sha,
            model_url=f"/api/v1/models/{row.release_id}/model.onnx" if row.release_id else None,
            canary_cameras=row.canary_cameras,
            settings=[CameraSettings.model_validate(s) for s in row.settings],
        ),
        row,
    )


def record_report(session: Session, *, device_id: str, report: RolloutReport, actor: str) -> DeviceRollout:
    """The device's report on its assigned release; a roll-back or a refusal is a ledger entry.
    A report on another release than the one assigned is a conflict (it was reassigned since). Commits."""
    ledger.lock_head(session)
    row = _row(session, device_id)
    if row.release_id != report.release_id:
        raise Conflict(
            f"release {report.release_id} is not the one assigned to {device_id} ({row.release_id})"
        )
    changed = (row.state, row.why) != (report.state, report.why)
    row.state, row.why, row.state_at = report.state, report.why, utcnow()
    action = REPORT_ACTIONS.get(report.state)
    if action is not None and changed:
        ledger.append(
            session,
            actor=actor,
            action=action,
            case_id=None,
            payload={
                "device_id": device_id,
                "release_id": report.release_id,
                "why": report.why or "",
                "cameras": report.cameras,
            },
        )
    session.commit()
    return row


def list_rollouts(session: Session) -> list[DeviceRollout]:
    return list(session.execute(select(DeviceRollout).order_by(DeviceRollout.device_id)).scalars())
