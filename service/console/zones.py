"""The zone editor (区域编辑, ``/zones``): an installer picks a camera, draws zone and mask polygons
with the mouse on its latest frame (``static/zones.js``) and copies the YAML lines for the camera's
entry in the site config (``cameras[].zones`` and ``cameras[].masks``).

The cameras are those the service knows: the frame pool's, the cases', named as their latest signed
package names them (:func:`service.console.cameras.camera_places`). A camera's picture is its newest
frame in the pool, else the newest raw still of its latest case. The service holds no site config,
so the editor starts empty; pasted YAML lines load for editing (``POST /zones/load``). Every drawing
is validated here (``POST /zones/preview``) by :class:`nce.zones.ZoneSheet`, which mirrors the edge's
zone and mask models; a problem is one line naming where it is (``zones[1].polygon: …``).

Supervisors and admins only (a site's zones decide which cases open): an operator gets the 403 page.
The two posts change nothing, take JSON, answer JSON and carry the CSRF token in ``X-CSRF``.
"""

from __future__ import annotations

import json
from typing import Any, Final

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nce.bounds import ID_MAX, Id
from nce.zones import MASK_CLASSES, ZONE_KINDS, ZoneSheet, yaml_lines
from service.api.deps import SessionDep, StateDep
from service.auth import Principal
from service.console.cameras import camera_places
from service.console.deps import Operator
from service.console.guard import check_csrf
from service.console.messages import translate
from service.console.render import render, request_lang
from service.models import Case, EvidenceFile, Frame, HitEventRow, Shop

router = APIRouter(include_in_schema=False)
ZONES_EDIT: Final = frozenset({"supervisor", "admin"})
_CAMERA: Final = TypeAdapter(Id)
TEXT_LIMIT: Final = 200_000  # pasted YAML, characters


def cameras(session: Session) -> list[tuple[str, str | None]]:
    """Every camera the service knows (frame pool and cases), with its name when a package gave one."""
    ids = set(session.execute(select(Frame.camera_id).distinct()).scalars())
    ids |= set(session.execute(select(Case.camera_id).distinct()).scalars())
    places = camera_places(session, ids)
    return [(c, places[c].name if c in places else None) for c in sorted(ids)]


def picture_url(session: Session, camera_id: str) -> str | None:
    """The camera's newest frame in the pool, else the newest raw still of its latest case."""
    q = select(func.max(Frame.id)).where(Frame.camera_id == camera_id)
    frame_id = session.execute(q).scalar_one_or_none()
    if frame_id is not None:
        return f"/api/v1/frames/{frame_id}/image"
    latest = select(func.max(Case.id)).where(Case.camera_id == camera_id).scalar_subquery()
    still = (
        select(EvidenceFile.sha256)
        .join(HitEventRow, HitEventRow.id == EvidenceFile.event_id)
        .where(HitEventRow.case_id == latest, EvidenceFile.role == "still_raw")
        .order_by(EvidenceFile.id.desc())
        .limit(1)
    )
    sha = session.execute(still).scalar_one_or_none()
    return f"/api/v1/evidence/{sha}" if sha else None


def problem(exc: ValidationError) -> str:
    """The first problem of ``exc`` as one line: ``zones[1].polygon: why``."""
    err = exc.errors()[0]
    where = ""
    for part in err["loc"]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def sheet_of(data: Any) -> ZoneSheet:
    """Pasted YAML data as a sheet: a camera entry or a mapping with ``zones``/``masks``, or a list
    of zones and masks (an item with ``classes`` is a mask). Raises ``ValueError`` (one line)."""
    if isinstance(data, dict) and isinstance(data.get("cameras"), list):
        if len(data["cameras"]) != 1:
            raise ValueError("paste one camera's entry (its zones and masks), not a whole site config")
        data = data["cameras"][0]
    if isinstance(data, list):
        data = {
            "zones": [i for i in data if not (isinstance(i, dict) and "classes" in i)],
            "masks": [i for i in data if isinstance(i, dict) and "classes" in i],
        }
    if not isinstance(data, dict):
        raise ValueError(f"expected zones and masks (a list or a mapping), got {type(data).__name__}")
    picked = {k: data[k] for k in ("zones", "masks") if data.get(k) is not None}
    if not picked:
        raise ValueError("no zones: or masks: found")
    try:
        return ZoneSheet.model_validate(picked)
    except ValidationError as exc:
        raise ValueError(problem(exc)) from None


def _refuse(request: Request, lang: Any, principal: Principal) -> Response | None:
    if principal.role in ZONES_EDIT:
        return None
    message = translate(lang, "zones.forbidden", role=principal.role)
    if request.method == "GET":
        state = request.app.state.nce
        return render(request, state, "error.html", principal=principal, status_code=403, message=message)
    return JSONResponse({"error": message}, status_code=403)


@router.get("/zones")
def zones_page(request: Request, state: StateDep, session: SessionDep, principal: Operator) -> Response:
    lang, _ = request_lang(request)
    refused = _refuse(request, lang, principal)
    if refused is not None:
        return refused
    known = cameras(session)
    camera = request.query_params.get("camera", "")
    errors: list[str] = []
    status_code = 200
    if camera:
        try:
            _CAMERA.validate_python(camera)
        except ValidationError:
            errors.append(translate(lang, "queue.bad_filter", detail=f"camera={camera[:ID_MAX]!r}"))
            camera, status_code = "", 422
    if not camera and known:
        camera = known[0][0]
    shops = session.execute(select(Shop.shop_id, Shop.name).order_by(Shop.shop_id)).all()
    return render(
        request,
        state,
        "zones.html",
        principal=principal,
        status_code=status_code,
        errors=errors,
        cameras=known,
        camera=camera,
        image_url=picture_url(session, camera) if camera else None,
        kinds=ZONE_KINDS,
        classes=MASK_CLASSES,
        shops=[(str(s), str(n)) for s, n in shops],
    )


async def _json(request: Request) -> Any:
    body = await request.body()
    if len(body) > TEXT_LIMIT * 4:
        raise ValueError("the request is too large")
    try:
        return json.loads(body) if body else None
    except ValueError:
        raise ValueError("the request is not JSON") from None


@router.post("/zones/preview")
async def preview(request: Request, state: StateDep, principal: Operator) -> Response:
    """The drawn zones and masks (JSON ``{camera_id, zones, masks}``) as YAML lines, or one problem."""
    lang, _ = request_lang(request)
    check_csrf(request, state.settings, request.headers.get("x-csrf"))
    refused = _refuse(request, lang, principal)
    if refused is not None:
        return refused
    try:
        data = await _json(request)
        if not isinstance(data, dict):
            raise ValueError("expected {camera_id, zones, masks}")
        camera = data.pop("camera_id", None)
        camera_id = _CAMERA.validate_python(camera) if camera else None
        sheet = ZoneSheet.model_validate(data)
    except ValidationError as exc:
        return JSONResponse({"error": problem(exc)}, status_code=422)
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=422)
    return JSONResponse({"yaml": yaml_lines(sheet, camera_id)})


@router.post("/zones/load")
async def load(request: Request, state: StateDep, principal: Operator) -> Response:
    """Pasted YAML lines (JSON ``{text}``) as zones and masks to edit, or one problem."""
    lang, _ = request_lang(request)
    check_csrf(request, state.settings, request.headers.get("x-csrf"))
    refused = _refuse(request, lang, principal)
    if refused is not None:
        return refused
    try:
        data = await _json(request)
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise ValueError("nothing pasted")
        if len(text) > TEXT_LIMIT:
            raise ValueError(f"at most {TEXT_LIMIT} characters")
        try:
            parsed = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}" if mark is not None else ""
            raise ValueError(f"not YAML{at}: {getattr(exc, 'problem', None) or exc}") from None
        sheet = sheet_of(parsed)
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=422)
    return JSONResponse(sheet.model_dump(mode="json"))
