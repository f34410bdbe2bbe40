"""One way every route sends an evidence object: streamed, never whole in memory, with HTTP ``Range``
(206 + Content-Range; 416 + ``Content-Range: bytes */SIZE`` when no byte of it exists), so a clip
plays with seeking. A local store's file goes out as a FileResponse (Starlette does the ranges and
sendfile); an object store's as a StreamingResponse of the object's chunks (the range is asked of
the store, which sends only those bytes)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from fastapi import Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from service.evidence_store import EvidenceStore

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class RangeNotSatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range one ``Range: bytes=A-B`` header asks of ``size`` bytes; None: send
    the whole (no header, several ranges or one that is not understood: RFC 9110 lets a server
    ignore those). RangeNotSatisfiable when the range starts past the end."""
    if header is None:
        return None
    m = _RANGE.match(header)
    if m is None or (not m[1] and not m[2]):
        return None
    if not m[1]:  # the last N bytes
        suffix = int(m[2])
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(size - suffix, 0), size - 1
    start = int(m[1])
    end = min(int(m[2]), size - 1) if m[2] else size - 1
    if m[2] and int(m[2]) < start:
        return None  # an invalid range: ignored
    if start >= size:
        raise RangeNotSatisfiable
    return start, end


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
    size = store.size(digest)
    out = {**headers, "Accept-Ranges": "bytes"}
    if_range = request.headers.get("if-range")
    etag = headers.get("ETag")
    wanted = request.headers.get("range") if if_range is None or if_range == etag else None
    try:
        byte_range = parse_range(wanted, size)
    except RangeNotSatisfiable:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
    if byte_range is None:
        out["Content-Length"] = str(size)
        return StreamingResponse(store.stream(digest), media_type=media_type, headers=out)
    start, end = byte_range
    out["Content-Range"] = f"bytes {start}-{end}/{size}"
    out["Content-Length"] = str(end - start + 1)
    return StreamingResponse(
        store.stream(digest, start, end), status_code=206, media_type=media_type, headers=out
    )
