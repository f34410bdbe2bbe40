"""The frame pool: list, one frame, its image, add an image (supervisors), label a frame."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import ValidationError

from service.api.deps import FrameAdder, FrameReader, Labeller, SessionDep, StateDep
from service.api.download import evidence_response
from service.api.routes.hits import read_parts
from service.crud import frames as crud
from service.errors import Invalid
from service.schemas.frames import FrameCreate, FrameDetail, FramePublic, FramesPage, FrameStatus, LabelsIn

router = APIRouter(prefix="/api/v1/frames", tags=["frames"])

FrameId = Annotated[int, Path(ge=1, le=2**31 - 1)]

_UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image", "camera_id"],
                    "properties": {
                        "image": {"type": "string", "format": "binary", "description": "a JPEG or PNG"},
                        "camera_id": {"type": "string", "description": "the camera it is from"},
                    },
                }
            }
        },
    }
}


@router.get("", response_model=FramesPage, summary="List the frame pool, newest first")
def list_frames(
    session: SessionDep,
    principal: FrameReader,
    status: FrameStatus | None = None,
    camera_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=crud.MAX_PAGE)] = 50,
) -> FramesPage:
    """``status``: ``unlabelled`` (never labelled), ``partial`` (labelled, not every object verified:
    e.g. from a review) or ``labelled`` (complete). ``labels`` is the latest labelling's boxes."""
    rows, next_cursor = crud.list_frames(
        session, status=status, camera_id=camera_id, cursor=cursor, limit=limit
    )
    return FramesPage(items=crud.frames_public(session, rows), next_cursor=next_cursor)


@router.post(
    "",
    status_code=201,
    response_model=FramePublic,
    responses={
        200: {"model": FramePublic, "description": "the image is in the pool already (that frame)"},
        409: {"description": "the image is in the pool already, as a frame of another camera"},
        415: {"description": "not multipart/form-data, or an image that is not a JPEG or PNG"},
        422: {"description": "a missing or extra part, a bad camera id, a damaged image header"},
    },
    openapi_extra=_UPLOAD_DOC,
    summary="Add an image to the frame pool (supervisor)",
)
async def add_frame(
    request: Request, state: StateDep, session: SessionDep, principal: FrameAdder
) -> JSONResponse:
    """Multipart: part ``image`` (a JPEG or PNG, checked by its bytes; its size read from its
    header) and field ``camera_id``. The frame's source is ``import``."""
    parts = await read_parts(request, limit=state.settings.max_request_bytes, max_files=1)
    images = [p for p in parts if p.name == "image" and p.filename is not None]
    cameras = [p for p in parts if p.name == "camera_id" and p.filename is None]
    extra = sorted({p.name for p in parts} - {"image", "camera_id"})
    if extra:
        raise Invalid(f"unexpected parts: {', '.join(extra)} (send image and camera_id)")
    if len(images) != 1 or len(cameras) != 1:
        raise Invalid("send one file part image and one field camera_id")
    try:
        data = FrameCreate(
            camera_id=cameras[0].data.decode("utf-8", "replace"),
            source="import",
            reason="upload",
            origin=(images[0].filename or "")[:255] or None,
        )
    except ValidationError as exc:
        raise Invalid("camera_id: expected 1-64 letters, digits, '.', '_' or '-'") from exc
    frame, created = await run_in_threadpool(
        crud.add_frame, session, store=state.store, image=images[0].data, data=data, actor=principal.actor
    )
    public = crud.frames_public(session, [frame])[0]
    session.rollback()
    return JSONResponse(public.model_dump(mode="json"), status_code=201 if created else 200)


@router.get("/{frame_id}", response_model=FrameDetail, summary="One frame with its label history")
def get_frame(frame_id: FrameId, session: SessionDep, principal: FrameReader) -> FrameDetail:
    return crud.frame_detail(session, frame_id=frame_id)


@router.get(
    "/{frame_id}/image",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}, "description": "the image"}},
    summary="The frame's image",
)
def get_image(
    frame_id: FrameId, state: StateDep, session: SessionDep, principal: FrameReader, request: Request
) -> Response:
    frame = crud.get_frame(session, frame_id=frame_id)
    return evidence_response(
        state.store,
        frame.sha256,
        request,
        media_type=frame.mime,
        headers={
            "ETag": f'"{frame.sha256}"',
            "Cache-Control": "private, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.put(
    "/{frame_id}/labels",
    response_model=FramePublic,
    responses={
        422: {"description": "a class the model does not have, a box outside the frame or degenerate"}
    },
    summary="Label a frame (its boxes, in the frame's pixels)",
)
def put_labels(frame_id: FrameId, data: LabelsIn, session: SessionDep, principal: Labeller) -> FramePublic:
    """Replaces the frame's labels (the history keeps every labelling; the last one counts). The same
    labels again change nothing. Every change is a ledger entry (``frame_labelled``)."""
    frame, _changed = crud.set_labels(session, frame_id=frame_id, data=data, actor=principal.actor)
    return crud.frames_public(session, [frame])[0]
