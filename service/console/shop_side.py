"""The console's side of the shop page (一店一码): each shop's QR code on /shops (SVG A6 card, PDF,
PNG; a new link for supervisors and admins) and, on a case page, its public copy (生成公开副本, a
request the sweeper carries out → 公开副本已审核, :mod:`service.public_copies`) and what the shop sent through its page (statements and
correction photos, :mod:`service.shop_page_events`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import auth, ledger
from service.api.deps import SessionDep, StateDep
from service.api.download import evidence_response
from service.console.deps import CaseId, FormStr, Operator, redirect
from service.console.guard import NotForConsole, check_csrf
from service.console.messages import translate
from service.console.render import request_lang
from service.crud.shops import get_shop
from service.errors import NotFound, ServiceError
from service.evidence_store import is_sha256
from service.models_shop_page import PublicCopyJob, PublicStill, ShopResponse
from service.public_copies import approve_public_stills, job_of, request_public_copy, stills_of
from service.shop_links import ensure_link, page_url, rotate_link
from service.shop_page_data import responses_of
from service.shop_qr import qr_file
from service.state import AppState

router = APIRouter(include_in_schema=False)
ShopId = Annotated[str, Path(min_length=1, max_length=64)]
MIMES = {"svg": "image/svg+xml", "pdf": "application/pdf", "png": "image/png"}


def base_url(request: Request, state: AppState) -> str:
    """Where shops reach the service: ``NCE_PUBLIC_URL``, else the address the console is open at."""
    return state.settings.public_url or str(request.base_url)


@router.get("/shops/{shop_id}/qr.{kind}")
def shop_qr(
    shop_id: ShopId, kind: Literal["svg", "pdf", "png"], request: Request, state: StateDep,
    session: SessionDep, principal: Operator,
) -> Response:  # fmt: skip
    ledger.lock_head(session)
    shop = get_shop(session, shop_id=shop_id)
    token = ensure_link(session, state.settings.secret_key, shop, actor=principal.actor)
    session.commit()
    lang, _ = request_lang(request)
    data = qr_file(
        page_url(base_url(request, state), token),
        kind,
        name=shop.name,
        caption=translate(lang, "shops.qr_caption"),
    )
    return Response(
        data, media_type=MIMES[kind],
        headers={
            "Content-Disposition": f'attachment; filename="shop-{shop.shop_id}-qr.{kind}"',
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        },
    )  # fmt: skip


@router.post("/shops/{shop_id}/rotate")
def shop_rotate(
    shop_id: ShopId,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: Operator,
    csrf: FormStr = "",
) -> Response:
    check_csrf(request, state.settings, csrf)
    if principal.role not in auth.SHOPS_WRITE:
        raise NotForConsole(principal.role)
    ledger.lock_head(session)
    shop = get_shop(session, shop_id=shop_id)
    rotate_link(session, state.settings.secret_key, shop, actor=principal.actor)
    session.commit()
    return redirect(f"/shops?rotated={shop.shop_id}")


@dataclass
class ShopSide:
    pending: list[PublicStill]
    approved: list[PublicStill]
    responses: list[ShopResponse]
    job: PublicCopyJob | None  # the latest 生成公开副本 request: pending, done or failed (why)


def shop_side(session: Session, case_id: int) -> ShopSide:
    stills = stills_of(session, case_id, approved_only=False)
    return ShopSide(
        [s for s in stills if s.approved_at is None],
        [s for s in stills if s.approved_at is not None],
        responses_of(session, case_id),
        job_of(session, case_id),
    )


def _back(
    request: Request,
    state: AppState,
    session: Session,
    principal: auth.Principal,
    case_id: int,
    exc: ServiceError,
) -> Response:
    from service.console.case_page import case_page_response

    session.rollback()
    lang, _ = request_lang(request)
    return case_page_response(
        request, state, session, principal, case_id, status_code=exc.status_code,
        error=translate(lang, "case.public_failed", why=str(exc)),
    )  # fmt: skip


@router.post("/cases/{case_id}/public-copy")
def public_copy_make(
    case_id: CaseId,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: Operator,
    csrf: FormStr = "",
) -> Response:
    check_csrf(request, state.settings, csrf)
    try:  # a request: the sweeper makes the copy (a subprocess per package), the page shows its state
        request_public_copy(session, case_id=case_id, actor=principal.actor)
    except ServiceError as exc:
        return _back(request, state, session, principal, case_id, exc)
    return redirect(f"/cases/{case_id}#shop-side")


@router.post("/cases/{case_id}/public-copy/approve")
def public_copy_approve(
    case_id: CaseId,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: Operator,
    csrf: FormStr = "",
) -> Response:
    check_csrf(request, state.settings, csrf)
    try:
        approve_public_stills(session, case_id=case_id, actor=principal.actor)
    except ServiceError as exc:
        return _back(request, state, session, principal, case_id, exc)
    return redirect(f"/cases/{case_id}#shop-side")


@router.get("/cases/{case_id}/shop-files/{sha256}")
def shop_file(
    case_id: CaseId, sha256: str, request: Request, state: StateDep, session: SessionDep, principal: Operator
) -> Response:
    """A public still or a shop's photo of this case, for the people who review it."""
    mime: str | None = None
    if is_sha256(sha256):
        if session.execute(
            select(PublicStill.id).where(PublicStill.case_id == case_id, PublicStill.sha256 == sha256)
        ).first():
            mime = "image/jpeg"
        else:
            row = session.execute(
                select(ShopResponse.mime).where(
                    ShopResponse.case_id == case_id, ShopResponse.sha256 == sha256
                )
            ).first()
            mime = row[0] if row is not None else None
    if mime is None:
        raise NotFound(f"case {case_id} has no shop-page file {sha256[:64]}")
    return evidence_response(
        state.store, sha256, request, media_type=mime,
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )  # fmt: skip
