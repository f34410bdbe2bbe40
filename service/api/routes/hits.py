"""Ingest: ``POST /api/v1/hits`` (signed packages, multipart) and ``POST /api/v1/hits/events``."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from nce.bounds import IDEMPOTENCY_KEY_MAX
from service.api.deps import Device, SessionDep, StateDep
from service.crud.ingest import IngestResult, Part, ingest_event, ingest_package
from service.errors import BadRequest, ServiceError, TooLarge, UnsupportedMedia
from service.schemas.hits import HitAccepted, HitEventIn

router = APIRouter(prefix="/api/v1/hits", tags=["hits"])

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=IDEMPOTENCY_KEY_MAX,
        pattern=r"^[\x21-\x7e]+$",
        description="visible ASCII; the same key with the same payload answers 200 with the first answer",
    ),
]

_MULTIPART_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["manifest"],
                    "properties": {
                        "manifest": {
                            "type": "string",
                            "format": "binary",
                            "description": "the evidence manifest JSON (docs/evidence-manifest.schema.json)",
                        }
                    },
                    "additionalProperties": {
                        "type": "string",
                        "format": "binary",
                        "description": "one part per file, named as in the manifest",
                    },
                }
            }
        },
    }
}

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": HitAccepted, "description": "a repeat: the same Idempotency-Key and payload"},
    401: {"description": "no or bad token, or bad signature"},
    403: {"description": "the manifest is from another device"},
    413: {"description": "the upload is too large"},
    415: {"description": "not multipart/form-data, or a file whose content is not its declared type"},
    422: {
        "description": (
            "bad manifest, hash mismatch (naming the file), missing or extra parts, replay, a reused "
            "package_id, a public copy of no open case of this device, a time more than 300 s ahead"
        )
    },
}


def _answer(result: IngestResult) -> JSONResponse:
    return JSONResponse(result.body.model_dump(mode="json"), status_code=result.status_code)


async def _limited(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise TooLarge(f"upload is larger than {limit} bytes")
        yield chunk


async def read_parts(request: Request, *, limit: int, max_files: int) -> list[Part]:
    ctype = request.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        raise UnsupportedMedia(f"expected multipart/form-data, got {ctype or 'no content type'}")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise TooLarge(f"upload of {length} bytes is larger than {limit} bytes")
    parser = MultiPartParser(
        request.headers, _limited(request, limit), max_files=max_files, max_fields=4, max_part_size=limit
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise BadRequest(f"multipart: {exc.message}") from exc
    parts: list[Part] = []
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                parts.append(Part(name, value.filename, value.content_type, await value.read()))
            else:
                parts.append(Part(name, None, None, value.encode("utf-8")))
    finally:
        await form.close()
    return parts


@router.post(
    "",
    status_code=201,
    response_model=HitAccepted,
    responses=_RESPONSES,
    openapi_extra=_MULTIPART_DOC,
    summary="Submit a signed evidence package",
)
async def post_hit(
    request: Request, state: StateDep, session: SessionDep, device: Device, key: IdempotencyKey
) -> JSONResponse:
    """Multipart: part ``manifest`` (the manifest JSON) and one part per file, named as in the manifest.

    Checks the device token, that the manifest is this device's, the Ed25519 signature against the
    enrolled key, every file's size, SHA-256 and type (magic bytes), and the device's hash chain (a
    gap is accepted and flagged on the case; a replay, an older sequence or a broken link is 422).
    """
    started = time.perf_counter()
    try:
        parts = await read_parts(
            request, limit=state.settings.max_request_bytes, max_files=state.settings.max_files + 1
        )
        # a few at once (settings.ingest_slots): the body is read by then, and the check, the
        # store and the commit are CPU work; more at once only contend for the GIL, the disk's
        # flushes and the rows (measured: CPU per package, benchmarks/RESULTS.md "ingest")
        async with state.ingest_slots:
            result = await run_in_threadpool(
                ingest_package, session, store=state.store, principal=device, key=key, parts=parts
            )
    except ServiceError:
        state.metrics.ingest.labels("package", "rejected").inc()
        raise
    state.metrics.ingest.labels("package", "repeat" if result.replayed else "created").inc()
    state.metrics.ingest_seconds.observe(time.perf_counter() - started)
    if not result.replayed:
        state.metrics.ingest_bytes.inc(sum(len(p.data) for p in parts))
    return _answer(result)


@router.post(
    "/events",
    status_code=201,
    response_model=HitAccepted,
    responses={
        200: {"model": HitAccepted, "description": "a repeat with the same Idempotency-Key"},
        422: {"description": "a time more than 300 s ahead of the server clock (naming the field)"},
    },
    summary="Submit a hit event without files (opened, still_present, cleared)",
)
def post_hit_event(
    data: HitEventIn, state: StateDep, session: SessionDep, device: Device, key: IdempotencyKey
) -> JSONResponse:
    """A line of the edge's hits.jsonl. Unsigned: it updates the sightings and times of the hit's
    case but never changes its status, never counts for a deadline, never opens a case or attaches
    evidence."""
    try:
        result = ingest_event(session, principal=device, key=key, data=data)
    except ServiceError:
        state.metrics.ingest.labels("event", "rejected").inc()
        raise
    state.metrics.ingest.labels("event", "repeat" if result.replayed else "created").inc()
    return _answer(result)
