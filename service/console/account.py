"""The console's own-account page: change one's password (``/account/password``).

The form calls :func:`service.accounts.change_password`, the same function as
``POST /api/v1/auth/password``, so the policy, the ledger entry and the ended sessions are the same.
After an admin's reset every other page sends the person here (:class:`PasswordChangeRequired`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from service import accounts
from service.api.deps import SessionDep, StateDep
from service.auth import Principal
from service.console.deps import FormStr
from service.console.guard import PasswordChangeRequired, check_csrf, principal_of
from service.console.messages import translate
from service.console.render import render, request_lang
from service.errors import Forbidden, Invalid
from service.passwords import MIN_LENGTH

router = APIRouter(include_in_schema=False)
PAGE = "/account/password"


def _person(request: Request, state: StateDep, session: SessionDep) -> Principal:
    return principal_of(request, state, session, allow_password_change=True)


Person = Annotated[Principal, Depends(_person)]


def _page(
    request: Request, state: StateDep, principal: Principal, *, error: str | None = None,
    detail: str | None = None, status_code: int = 200,
) -> Response:  # fmt: skip
    done = request.query_params.get("done") == "1"
    return render(
        request, state, "account_password.html", principal=principal, status_code=status_code,
        error=error, error_detail=detail, flash="account.changed" if done else None, min_length=MIN_LENGTH,
    )  # fmt: skip


@router.get(PAGE)
def password_page(request: Request, state: StateDep, principal: Person) -> Response:
    return _page(request, state, principal)


@router.post(PAGE)
def change_password(
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: Person,
    csrf: FormStr = "",
    current: FormStr = "",
    new: FormStr = "",
    repeat: FormStr = "",
) -> Response:
    check_csrf(request, state.settings, csrf)
    lang, _ = request_lang(request)
    if not current or not new:
        return _page(request, state, principal, error=translate(lang, "account.missing"), status_code=422)
    if new != repeat:
        return _page(request, state, principal, error=translate(lang, "account.mismatch"), status_code=422)
    try:
        accounts.change_password(session, principal=principal, current=current, new=new)
    except Forbidden as exc:
        session.rollback()
        return _page(
            request, state, principal, error=translate(lang, "account.wrong_current"),
            detail=f"HTTP 403: {exc}", status_code=403,
        )  # fmt: skip
    except Invalid as exc:
        session.rollback()
        return _page(
            request, state, principal, error=translate(lang, "account.policy", n=MIN_LENGTH),
            detail=f"HTTP 422: {exc}", status_code=422,
        )  # fmt: skip
    return RedirectResponse(f"{PAGE}?done=1", status_code=303)


async def on_password_change_required(request: Request, exc: Exception) -> Response:
    if request.method == "GET":
        return RedirectResponse(PAGE, status_code=303)
    lang, _ = request_lang(request)
    state = request.app.state.nce
    message = translate(lang, "account.required")
    return render(request, state, "error.html", principal=None, status_code=403, message=message)


HANDLERS = {PasswordChangeRequired: on_password_change_required}
