"""The export button of the case page (supervisors and admins, a reviewed case): ``POST
/cases/{id}/export`` with the CSRF field streams the zip of ``GET /api/v1/cases/{id}/export`` — the
same :func:`service.crud.export.export_case`, so the same ledger entry, checkpoint and contents. A
post, not a link: an export changes the case (confirmed or escalated → exported) and is recorded.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from service import auth
from service.api.deps import SessionDep, StateDep
from service.console.case_page import case_page_response
from service.console.deps import CaseId, FormStr, Operator
from service.console.guard import check_csrf
from service.console.messages import translate
from service.console.refusal import explain
from service.console.render import request_lang
from service.crud.export import export_case
from service.errors import ServiceError

router = APIRouter(include_in_schema=False)


@router.post("/cases/{case_id}/export")
def export(
    case_id: CaseId,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: Operator,
    csrf: FormStr = "",
) -> Response:
    check_csrf(request, state.settings, csrf)
    lang, _ = request_lang(request)
    if principal.role not in auth.EXPORT:
        return case_page_response(
            request, state, session, principal, case_id,
            error=translate(lang, "err.service.403"), status_code=403,
        )  # fmt: skip
    try:
        name, zipped = export_case(
            session, store=state.store, principal=principal, case_id=case_id,
            legal=state.legal, tlog=state.transparency,
        )  # fmt: skip
    except ServiceError as exc:
        session.rollback()
        r = explain(exc, lang, case_id=case_id)
        return case_page_response(
            request, state, session, principal, case_id,
            error=r.message, error_detail=r.detail, status_code=r.status_code,
        )  # fmt: skip
    return StreamingResponse(
        iter(lambda: zipped.read(1 << 20), b""),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        background=BackgroundTask(zipped.close),
    )
