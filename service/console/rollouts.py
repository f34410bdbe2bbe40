"""The rollouts page (模型下发, ``/rollouts``): per device, the model release assigned (all cameras or
canary cameras), the rollout state the device reported (pending, running, rolled back, refused) and
why, and its remote per-camera settings. Supervisors and admins (:data:`service.auth.ROLLOUT`) also
get a form that assigns a stored release to enrolled devices, canary cameras optional
(``POST /rollouts/assign``, with the CSRF field, acting through :func:`service.crud.rollouts.assign`
as ``nce admin assign-model`` and ``POST /api/v1/rollouts`` do, so each device's assignment is a
ledger entry ``model_assigned``); operators see no form, and a post of theirs is refused (403).
Camera settings are set with ``nce admin camera-settings`` / ``PUT /api/v1/devices/{id}/camera-settings``."""

from __future__ import annotations

from typing import Annotated, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from nce.bounds import Id
from service import auth
from service.api.deps import SessionDep, StateDep
from service.auth import Principal
from service.console.deps import FormStr, Operator, redirect
from service.console.guard import check_csrf
from service.console.messages import translate
from service.console.render import render, request_lang
from service.crud.releases import list_releases
from service.crud.rollouts import assign, list_rollouts
from service.errors import ServiceError
from service.models import Device
from service.state import AppState

router = APIRouter(include_in_schema=False)
_IDS: Final = TypeAdapter(list[Id])
MAX_DEVICES: Final = 500  # as POST /api/v1/rollouts
MAX_CAMERAS: Final = 256


def rollouts_response(
    request: Request,
    state: AppState,
    session: Session,
    principal: Principal,
    *,
    error: str | None = None,
    status_code: int = 200,
    form: dict[str, object] | None = None,
) -> Response:
    lang, _ = request_lang(request)
    can_assign = principal.role in auth.ROLLOUT
    q = request.query_params
    flash = None
    if q.get("done") == "assigned" and q.get("release") and q.get("n", "").isdigit():
        flash = translate(lang, "rollouts.done", release=q["release"][:128], n=int(q["n"]))
    return render(
        request,
        state,
        "rollouts.html",
        principal=principal,
        status_code=status_code,
        rows=list_rollouts(session),
        can_assign=can_assign,
        releases=[r.release_id for r in list_releases(session)] if can_assign else [],
        devices=list(session.execute(select(Device.device_id).order_by(Device.device_id)).scalars())
        if can_assign
        else [],
        errors=[error] if error else [],
        flash=flash,
        form=form or {},
    )


@router.get("/rollouts")
def rollouts_page(request: Request, state: StateDep, session: SessionDep, principal: Operator) -> Response:
    return rollouts_response(request, state, session, principal)


@router.post("/rollouts/assign")
def assign_release(
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: Operator,
    csrf: FormStr = "",
    release_id: FormStr = "",
    device_ids: Annotated[list[str] | None, Form()] = None,
    canary_cameras: FormStr = "",
) -> Response:
    check_csrf(request, state.settings, csrf)
    lang, _ = request_lang(request)
    devices = list(dict.fromkeys(d.strip() for d in device_ids or [] if d.strip()))
    cameras = list(
        dict.fromkeys(c.strip() for c in canary_cameras.replace("，", ",").split(",") if c.strip())
    )
    form: dict[str, object] = {"release_id": release_id, "device_ids": devices, "canary": canary_cameras}

    def fail(message: str, status_code: int) -> Response:
        session.rollback()
        return rollouts_response(
            request, state, session, principal, error=message, status_code=status_code, form=form
        )

    if principal.role not in auth.ROLLOUT:
        return fail(translate(lang, "rollouts.err.forbidden", role=principal.role), 403)
    if not release_id.strip():
        return fail(translate(lang, "rollouts.err.no_release"), 422)
    if not devices:
        return fail(translate(lang, "rollouts.err.no_device"), 422)
    if len(devices) > MAX_DEVICES or len(cameras) > MAX_CAMERAS:
        return fail(translate(lang, "rollouts.err.too_many", devices=MAX_DEVICES, cameras=MAX_CAMERAS), 422)
    try:
        _IDS.validate_python(cameras)
    except ValidationError:
        return fail(translate(lang, "rollouts.err.bad_camera"), 422)
    try:
        rows = assign(
            session,
            release_id=release_id.strip(),
            device_ids=devices,
            canary=cameras or None,
            actor=principal.actor,
        )
    except ServiceError as exc:
        return fail(
            translate(lang, "rollouts.err.refused", detail=str(exc).splitlines()[0][:300]), exc.status_code
        )
    return redirect(
        f"/rollouts?{urlencode({'done': 'assigned', 'release': release_id.strip(), 'n': len(rows)})}"
    )
