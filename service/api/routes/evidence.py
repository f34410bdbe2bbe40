"""Evidence files by content address."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, Response

from nce.bounds import Sha256Hex, is_mime
from service.api.deps import CaseReader, SessionDep, StateDep
from service.api.download import evidence_response
from service.crud.evidence import evidence_for

router = APIRouter(prefix="/api/v1/evidence", tags=["evidence"])


@router.get(
    "/{sha256}",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "the file's bytes"},
        206: {"description": "the bytes a Range header asked for (Content-Range)"},
        416: {"description": "the Range starts past the end of the file"},
    },
    summary="Download an evidence file by its SHA-256 (HTTP Range supported)",
)
def get_evidence(
    sha256: Annotated[Sha256Hex, Path()],
    state: StateDep,
    session: SessionDep,
    principal: CaseReader,
    request: Request,
) -> Response:
    row = evidence_for(session, principal=principal, sha256=sha256)
    return evidence_response(
        state.store,
        sha256,
        request,
        # a type stored before types were checked could break the header: then plain bytes
        media_type=row.mime if is_mime(row.mime) else "application/octet-stream",
        headers={
            "ETag": f'"{sha256}"',
            "Cache-Control": "private, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'inline; filename="{row.name}"',
        },
    )
