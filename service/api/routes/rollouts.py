"""Rollouts (issue 17): a device polls its assignment (``ETag`` / ``If-None-Match`` → 304) and reports
the rollout state; a supervisor assigns a release (canary cameras optional), sets a camera's remote
settings and reads every device's rollout state."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Header, Path
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from nce.bounds import Id
from nce.release import ReleaseId
from nce.rollout import CameraSettings, RolloutReport
from service.api.deps import Device, ModelReader, RolloutManager, SessionDep
from service.crud import rollouts as crud
from service.models_fleet import DeviceRollout

router = APIRouter(tags=["rollouts"])

DeviceId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    release_id: ReleaseId
    device_ids: list[Id] = Field(min_length=1, max_length=500)
    canary_cameras: list[Id] | None = Field(None, min_length=1, max_length=256)


class RolloutPublic(BaseModel):
    device_id: str
    release_id: str | None
    canary_cameras: list[str] | None
    version: int
    assigned_by: str | None
    state: str | None
    why: str | None
    state_at: dt.datetime | None
    settings: list[CameraSettings]


class RolloutsPage(BaseModel):
    items: list[RolloutPublic]
    count: int


def public(row: DeviceRollout) -> RolloutPublic:
    return RolloutPublic(
        device_id=row.device_id,
        release_id=row.release_id,
        canary_cameras=row.canary_cameras,
        version=row.version,
        assigned_by=row.assigned_by,
        state=row.state,
        why=row.why,
        state_at=row.state_at,
        settings=[CameraSettings.model_validate(s) for s in row.settings],
    )


@router.get(
    "/api/v1/devices/me/assignment",
    responses={304: {"description": "unchanged since the ETag sent in If-None-Match"}},
    summary="What this device is to run: a release (canary cameras) and per-camera settings (device)",
)
def my_assignment(
    session: SessionDep,
    principal: Device,
    if_none_match: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """An :class:`nce.rollout.Assignment`. Poll with ``If-None-Match: <ETag>``: 304 while unchanged."""
    assignment, row = crud.assignment_for(session, principal.name)
    tag = crud.etag(row)
    session.rollback()
    if if_none_match is not None and tag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers={"ETag": tag})
    return JSONResponse(
        assignment.model_dump(mode="json"), headers={"ETag": tag, "Cache-Control": "no-cache"}
    )


@router.post(
    "/api/v1/devices/me/rollout",
    response_model=RolloutPublic,
    responses={409: {"description": "the release reported is not the one assigned"}},
    summary="Report the assigned release's state on this device (device)",
)
def report_rollout(report: RolloutReport, session: SessionDep, principal: Device) -> RolloutPublic:
    """``running`` (swapped in), ``rolled_back`` (the device's health watch put the previous model
    back; ``why``) or ``refused`` (bad signature, wrong sha256, failed warm-up; ``why``). A roll-back
    or a refusal is a ledger entry."""
    row = crud.record_report(session, device_id=principal.name, report=report, actor=principal.actor)
    return public(row)


@router.get(
    "/api/v1/rollouts", response_model=RolloutsPage, summary="Every device's assignment and rollout state"
)
def list_rollouts(session: SessionDep, principal: ModelReader) -> RolloutsPage:
    rows = crud.list_rollouts(session)
    return RolloutsPage(items=[public(r) for r in rows], count=len(rows))


@router.post(
    "/api/v1/rollouts", response_model=RolloutsPage, summary="Assign a release to devices (supervisor)"
)
def assign(body: AssignIn, session: SessionDep, principal: RolloutManager) -> RolloutsPage:
    """All the devices' cameras, or only ``canary_cameras``; a ledger entry ``model_assigned`` each."""
    rows = crud.assign(
        session,
        release_id=body.release_id,
        device_ids=body.device_ids,
        canary=body.canary_cameras,
        actor=principal.actor,
    )
    return RolloutsPage(items=[public(r) for r in rows], count=len(rows))


@router.put(
    "/api/v1/devices/{device_id}/camera-settings",
    response_model=RolloutPublic,
    summary="Set one camera's remote settings on a device (supervisor)",
)
def put_camera_settings(
    device_id: DeviceId, body: CameraSettings, session: SessionDep, principal: RolloutManager
) -> RolloutPublic:
    """``enabled``, ``min_score``, ``masks`` (fields left out keep the site config's value); the edge
    applies them without a restart. A ledger entry ``camera_settings_changed``."""
    row = crud.set_camera_settings(session, device_id=device_id, settings=body, actor=principal.actor)
    return public(row)


@router.delete(
    "/api/v1/devices/{device_id}/camera-settings/{camera_id}",
    response_model=RolloutPublic,
    summary="Clear one camera's remote settings on a device (supervisor)",
)
def delete_camera_settings(
    device_id: DeviceId, camera_id: DeviceId, session: SessionDep, principal: RolloutManager
) -> RolloutPublic:
    """The edge goes back to its site config for the camera (``enabled``, ``min_score``, ``masks``).
    A ledger entry ``camera_settings_cleared``; a camera without remote settings → 404."""
    row = crud.clear_camera_settings(session, device_id=device_id, camera_id=camera_id, actor=principal.actor)
    return public(row)
