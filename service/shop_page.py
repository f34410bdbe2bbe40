"""The shop page (一店一码, ``/s/{token}``): what a shop sees when it scans the QR code on its door.

No accounts: the link's secret token is the key (:mod:`service.shop_links`); a wrong, old (rotated)
or malformed token gets the same 404 page as a path that does not exist. The page (zh-CN, phone
viewport, no script, CSS from ``/static/shop.css``) lists the shop's open notices (a notice issued,
case not closed): the blurred public stills once an operator approved them (until then "证据正在准备"),
the legal basis with its 未核实 note, the deadline; and two forms per notice — a correction photo
(整改照片: JPEG or PNG, checked by its bytes like an ingest, :func:`service.shop_page_data.check_photo`)
and a statement (陈述申辩). Both are capped per case and land on the case as a ledger entry and a row
(:func:`service.shop_page_events.record_shop_response`). Forms carry the console's CSRF token
(:mod:`service.console.guard`: signed double-submit cookie, same origin).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from service import ledger
from service.api.deps import SessionDep, StateDep
from service.api.download import evidence_response
from service.console.guard import check_csrf
from service.console.messages import translate
from service.console.render import render, request_lang
from service.errors import NotFound
from service.evidence_store import is_sha256
from service.models import Case, Shop, utcnow
from service.shop_links import shop_for_token
from service.shop_page_data import (
    PHOTOS_PER_CASE,
    STATEMENT_MAX,
    STATEMENTS_PER_CASE,
    ShopInputRefused,
    check_photo,
    check_statement,
    open_notice,
    open_notices,
    responses_of,
    shop_may_see,
)
from service.shop_page_events import record_shop_response
from service.state import AppState

router = APIRouter(include_in_schema=False)
# plain strings: a malformed token or case number gets the same 404 page as a wrong one, never a 422
Token = Annotated[str, Path()]
CaseNo = Annotated[str, Path()]
REFUSAL_STATUS = {"shop.err.too_big": 413, "shop.err.type": 415, "shop.err.declared": 415}  # else 422


def _case_no(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 and int(value) > 0 else None


def _not_found(request: Request, state: AppState) -> Response:
    return render(request, state, "shop_404.html", principal=None, status_code=404)


def _page(
    request: Request, state: AppState, session: SessionDep, shop: Shop, token: str, *,
    error: str | None = None, error_case: int | None = None, status_code: int = 200, text: str = "",
) -> Response:  # fmt: skip
    notices = open_notices(session, shop, state.legal)
    done = request.query_params.get("done")
    response = render(
        request, state, "shop_page.html", principal=None, status_code=status_code, shop=shop,
        token=token, notices=notices, error=error, error_case=error_case, done=done if done in ("photo", "statement") else None,
        now=utcnow(), statement_max=STATEMENT_MAX, photos_max=PHOTOS_PER_CASE,
        statements_max=STATEMENTS_PER_CASE, photo_mb=state.settings.shop_photo_max_bytes // 2**20, text=text,
    )  # fmt: skip
    # the token is in the path: no Referer to other sites; same-origin (not no-referrer, which makes
    # a browser's form posts say Origin: null, refused by the CSRF check)
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@router.get("/s/{token}")
def shop_page(token: Token, request: Request, state: StateDep, session: SessionDep) -> Response:
    shop = shop_for_token(session, state.settings.secret_key, token)
    if shop is None:
        return _not_found(request, state)
    return _page(request, state, session, shop, token)


@router.get("/s/{token}/img/{sha256}")
def shop_image(token: Token, sha256: str, request: Request, state: StateDep, session: SessionDep) -> Response:
    shop = shop_for_token(session, state.settings.secret_key, token)
    mime = shop_may_see(session, shop, sha256) if shop is not None and is_sha256(sha256) else None
    if shop is None or mime is None:
        return _not_found(request, state)
    try:  # the download's own read finds a missing object: no look-up before it
        return evidence_response(
            state.store, sha256, request, media_type=mime,
            headers={
                "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox", "Referrer-Policy": "no-referrer",
            },
        )  # fmt: skip
    except NotFound:
        return _not_found(request, state)


def _refused(
    request: Request,
    state: AppState,
    session: SessionDep,
    token: str,
    case_id: int,
    exc: ShopInputRefused,
    text: str = "",
) -> Response:
    session.rollback()
    lang, _ = request_lang(request)
    shop = shop_for_token(session, state.settings.secret_key, token)
    if shop is None:  # pragma: no cover - checked before
        return _not_found(request, state)
    message = translate(lang, exc.key, **exc.values)
    status = REFUSAL_STATUS.get(exc.key, 422)
    return _page(
        request, state, session, shop, token, error=message, error_case=case_id, status_code=status, text=text
    )


def _open_case(session: Session, state: AppState, token: str, number: int | None) -> Case | None:
    """The shop's open notice ``number`` (None: an unknown or rotated link, or no such open notice)."""
    shop = shop_for_token(session, state.settings.secret_key, token)
    return open_notice(session, shop, number) if shop is not None and number is not None else None


def _photo_cap(session: Session, case_id: int) -> None:
    if sum(1 for r in responses_of(session, case_id) if r.kind == "photo") >= PHOTOS_PER_CASE:
        raise ShopInputRefused("shop.err.too_many_photos", "photo: cap reached", n=PHOTOS_PER_CASE)


def _case_to_write(session: Session, state: AppState, token: str, number: int | None) -> Case | None:
    """The open case the link names, for a write: its row locked, then the ledger head (an ingest's
    order; the entry's seq names the response, :mod:`service.shop_page_events`), then the link looked
    up again under the head (a rotation meanwhile). None, rolled back: not found."""
    ledger.begin(session)
    case = _open_case(session, state, token, number)
    if case is not None:
        ledger.lock_head(session)
        if _open_case(session, state, token, number) is not None:
            return case
    session.rollback()
    return None


@router.post("/s/{token}/cases/{case_id}/photo")
def upload_photo(
    token: Token, case_id: CaseNo, request: Request, state: StateDep, session: SessionDep,
    csrf: Annotated[str, Form()] = "", photo: Annotated[UploadFile | None, File()] = None,
) -> Response:  # fmt: skip
    check_csrf(request, state.settings, csrf)
    limit = state.settings.shop_photo_max_bytes
    data = photo.file.read(limit + 1) if photo is not None else b""
    declared = photo.content_type if photo is not None else None
    number = _case_no(case_id)
    case = _open_case(session, state, token, number)
    if case is None:
        session.rollback()
        return _not_found(request, state)
    try:
        info = check_photo(data, declared, max_bytes=limit)
        _photo_cap(session, case.id)
    except ShopInputRefused as exc:
        return _refused(request, state, session, token, case.id, exc)
    session.rollback()  # the checks read; the write below decides again under the ledger lock
    sha = state.store.put(data)  # before the transaction: the lock never waits on storage (issue 18)
    case = _case_to_write(session, state, token, number)
    if case is None:  # rotated or closed meanwhile: the photo stays unnamed (gc-evidence)
        return _not_found(request, state)
    try:
        _photo_cap(session, case.id)
    except ShopInputRefused as exc:
        return _refused(request, state, session, token, case.id, exc)
    try:
        record_shop_response(session, case=case, kind="photo", sha256=sha, size=len(data), image=info)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return RedirectResponse(f"/s/{token}?done=photo#case-{case.id}", status_code=303)


@router.post("/s/{token}/cases/{case_id}/statement")
def submit_statement(
    token: Token, case_id: CaseNo, request: Request, state: StateDep, session: SessionDep,
    csrf: Annotated[str, Form()] = "", text: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    check_csrf(request, state.settings, csrf)
    case = _case_to_write(session, state, token, _case_no(case_id))
    if case is None:
        return _not_found(request, state)
    try:
        clean = check_statement(text)
        if sum(1 for r in responses_of(session, case.id) if r.kind == "statement") >= STATEMENTS_PER_CASE:
            raise ShopInputRefused(
                "shop.err.too_many_statements", "statement: cap reached", n=STATEMENTS_PER_CASE
            )
    except ShopInputRefused as exc:
        return _refused(request, state, session, token, case.id, exc, text=text[: STATEMENT_MAX * 2])
    record_shop_response(session, case=case, kind="statement", text=clean)
    session.commit()
    return RedirectResponse(f"/s/{token}?done=statement#case-{case.id}", status_code=303)
