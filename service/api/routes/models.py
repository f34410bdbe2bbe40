"""Model releases: add one (admin; signed by a trusted release key), list them (operators), and fetch
a release's files (a device or an admin: ``release.json``, ``model.onnx``, ``card.md``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response

from nce.release import RELEASE_ID_MAX, SignedRelease
from service.api.deps import ModelAdder, ModelFetcher, ModelReader, SessionDep, StateDep
from service.api.download import evidence_response
from service.api.routes.hits import read_parts
from service.crud import releases as crud
from service.errors import Invalid
from service.models_fleet import ModelRelease
from service.schemas.releases import ModelReleasePublic, ModelReleasesPage

router = APIRouter(prefix="/api/v1/models", tags=["models"])

ReleaseIdPath = Annotated[
    str, Path(min_length=1, max_length=RELEASE_ID_MAX, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]
PARTS = ("release", "model", "card")

_UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": list(PARTS),
                    "properties": {
                        "release": {"type": "string", "format": "binary", "description": "release.json"},
                        "model": {"type": "string", "format": "binary", "description": "model.onnx"},
                        "card": {"type": "string", "format": "binary", "description": "card.md"},
                    },
                }
            }
        },
    }
}


def public(row: ModelRelease) -> ModelReleasePublic:
    signed = SignedRelease.model_validate(row.signed)
    return ModelReleasePublic(
        release_id=row.release_id,
        record=signed.record,
        signed=signed,
        added_by=row.added_by,
        added_at=row.created_at,
        ledger_seq=row.ledger_seq,
    )


@router.post(
    "",
    status_code=201,
    response_model=ModelReleasePublic,
    responses={
        200: {"model": ModelReleasePublic, "description": "the same release is stored already"},
        409: {"description": "another release is stored under this release_id"},
        415: {"description": "not multipart/form-data"},
        422: {
            "description": "a missing part, a bad record, a signature not by a trusted release key, "
            "or a model or card that differs from the signed one"
        },
    },
    openapi_extra=_UPLOAD_DOC,
    summary="Add a signed model release (admin)",
)
async def add_model(
    request: Request, state: StateDep, session: SessionDep, principal: ModelAdder
) -> JSONResponse:
    """Multipart: file parts ``release`` (release.json), ``model`` (model.onnx) and ``card``
    (card.md), as ``nce model release`` wrote them. Refused (422, one line) unless signed by a key in
    ``NCE_RELEASE_PUBKEYS`` and the model and card are the signed ones. A ledger entry
    ``model_release_added``."""
    parts = await read_parts(request, limit=state.settings.max_request_bytes, max_files=3)
    extra = sorted({p.name for p in parts} - set(PARTS))
    if extra:
        raise Invalid(f"unexpected parts: {', '.join(extra)} (send release, model and card)")
    found = {name: [p for p in parts if p.name == name and p.filename is not None] for name in PARTS}
    if any(len(v) != 1 for v in found.values()):
        raise Invalid("send one file part each: release (release.json), model (model.onnx), card (card.md)")
    trusted = crud.trusted_keys(state.settings.release_pubkeys)
    row, created = await run_in_threadpool(
        crud.add_release,
        session,
        store=state.store,
        release_json=found["release"][0].data,
        model=found["model"][0].data,
        card=found["card"][0].data,
        trusted=trusted,
        actor=principal.actor,
    )
    body = public(row).model_dump(mode="json")
    session.rollback()
    return JSONResponse(body, status_code=201 if created else 200)


@router.get("", response_model=ModelReleasesPage, summary="The stored model releases, newest first")
def list_models(
    session: SessionDep, principal: ModelReader, limit: Annotated[int, Query(ge=1, le=crud.MAX_LIST)] = 100
) -> ModelReleasesPage:
    rows = crud.list_releases(session, limit)
    return ModelReleasesPage(items=[public(r) for r in rows], count=len(rows))


@router.get("/{release_id}", response_model=ModelReleasePublic, summary="One model release")
def get_model(release_id: ReleaseIdPath, session: SessionDep, principal: ModelReader) -> ModelReleasePublic:
    return public(crud.get_release(session, release_id))


@router.get(
    "/{release_id}/release.json",
    responses={200: {"content": {"application/json": {}}, "description": "release.json"}},
    summary="A release's signed record, as release.json (a device or an admin)",
)
def get_release_json(release_id: ReleaseIdPath, session: SessionDep, principal: ModelFetcher) -> Response:
    signed = SignedRelease.model_validate(crud.get_release(session, release_id).signed)
    return Response(signed.to_json(), media_type="application/json")


def _file(state: StateDep, row: ModelRelease, which: Literal["model", "card"], request: Request) -> Response:
    digest = row.model_sha256 if which == "model" else row.card_sha256
    name = "model.onnx" if which == "model" else "card.md"
    return evidence_response(
        state.store,
        digest,
        request,
        media_type="application/octet-stream" if which == "model" else "text/markdown; charset=utf-8",
        headers={
            "ETag": f'"{digest}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'attachment; filename="{name}"',
        },
    )


@router.get(
    "/{release_id}/model.onnx",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "the model"}},
    summary="A release's model (a device or an admin)",
)
def get_model_file(
    release_id: ReleaseIdPath, state: StateDep, session: SessionDep, principal: ModelFetcher, request: Request
) -> Response:
    return _file(state, crud.get_release(session, release_id), "model", request)


@router.get(
    "/{release_id}/card.md",
    response_class=FileResponse,
    responses={200: {"content": {"text/markdown": {}}, "description": "the model card"}},
    summary="A release's model card",
)
def get_card_file(
    release_id: ReleaseIdPath, state: StateDep, session: SessionDep, principal: ModelFetcher, request: Request
) -> Response:
    return _file(state, crud.get_release(session, release_id), "card", request)
