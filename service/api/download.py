"""One way every route sends an evidence object: streamed, never whole in memory, with HTTP ``Range``
(206 + Content-Range; 416 + ``Content-Range: bytes */SIZE`` when no byte of it exists), so a clip
plays with seeking. A local store's file goes out as a FileResponse (Starlette does the ranges and
sendfile); an object store's as a StreamingResponse of the object's chunks (the range is asked of
the store in the same request that finds the object and its size: one ``GET`` to an object store,
:mod:`service.evidence_range`)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from service.evidence_range import RangeNotSatisfiable, Wanted
from service.evidence_store import EvidenceStore


def evidence_response(
    store: EvidenceStore,
    digest: str,
    request: Request,
    *,
    media_type: str,
    headers: Mapping[str, str],
) -> Response:
    """The object ``digest`` (NotFound when it is not stored) as the answer to ``request``."""
    path = store.local_path(digest)
    if path is not None:
        return FileResponse(path, media_type=media_type, headers=dict(headers))
    if_range = request.headers.get("if-range")
    asked = request.headers.get("range") if if_range is None or if_range == headers.get("ETag") else None
    try:
        opened = store.open(digest, Wanted.of(asked))
    except RangeNotSatisfiable as exc:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{exc.size}"})
    out = {**headers, "Accept-Ranges": "bytes", "Content-Length": str(opened.end - opened.start + 1)}
    if not opened.partial:
        return StreamingResponse(opened.chunks, media_type=media_type, headers=out)
    out["Content-Range"] = f"bytes {opened.start}-{opened.end}/{opened.size}"
    return StreamingResponse(opened.chunks, status_code=206, media_type=media_type, headers=out)
