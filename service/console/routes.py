"""The console's pages, served at ``/``, and its errors shown as pages.

:func:`install` adds every page's router: sign-in (:mod:`~service.console.login`), the queue
(:mod:`~service.console.queue`), a case (:mod:`~service.console.case_page`, its forms
:mod:`~service.console.case_forms`, its older hits and ledger entries :mod:`~service.console.case_more`),
the dashboard (:mod:`~service.console.dashboard`), the labelling page (:mod:`~service.console.labelling`),
the learned masks (:mod:`~service.console.masks`), one's account (:mod:`~service.console.account`),
the audit log (:mod:`~service.console.audit`), user management (:mod:`~service.console.users`) and the
case page's export button (:mod:`~service.console.case_export`).
Pages read through :mod:`service.crud.cases` (the API's functions) and :mod:`service.console.queries`;
the forms act through :mod:`service.crud.case_actions`, as the API does.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from service import shop_page
from service.console import (
    account,
    audit,
    case_export,
    case_forms,
    case_more,
    case_page,
    dashboard,
    desk,
    devices,
    labelling,
    login,
    masks,
    queue,
    rollouts,
    shop_side,
    shops,
    users,
    zones,
)
from service.console.deps import redirect
from service.console.guard import CsrfRejected, LoginRequired, NotForConsole
from service.console.messages import translate
from service.console.render import HERE, render, request_lang


def _page_error(request: Request, status_code: int, message: str) -> Response:
    state = request.app.state.nce
    return render(request, state, "error.html", principal=None, status_code=status_code, message=message)


async def on_csrf(request: Request, exc: Exception) -> Response:
    lang, _ = request_lang(request)
    return _page_error(request, 403, translate(lang, "err.csrf"))


async def on_login_required(request: Request, exc: Exception) -> Response:
    if request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        params = {"next": target}
        if getattr(exc, "expired", False):
            params["expired"] = "1"
        return redirect(f"/login?{urlencode(params)}")
    lang, _ = request_lang(request)
    return _page_error(request, 401, translate(lang, "login.expired"))


async def on_not_for_console(request: Request, exc: Exception) -> Response:
    lang, _ = request_lang(request)
    role = exc.role if isinstance(exc, NotForConsole) else "?"
    return _page_error(request, 403, translate(lang, "err.forbidden", role=role))


HANDLERS = {CsrfRejected: on_csrf, NotForConsole: on_not_for_console, LoginRequired: on_login_required}


def install(app: FastAPI) -> None:
    """Add the console's pages, ``/static`` and its error pages to ``app``."""
    pages = (login, queue, desk, case_page, case_forms, case_more, dashboard, account, labelling, masks)
    for module in (*pages, audit, users, case_export):
        app.include_router(module.router)
    app.include_router(shops.router)  # the shops page (/shops): service/console/shops.py
    app.include_router(shop_side.router)  # QR codes, public copies: service/console/shop_side.py
    app.include_router(shop_page.router)  # the shop page (/s/<token>), no sign-in: service/shop_page.py
    app.include_router(devices.router)  # fleet health (/devices): service/console/devices.py
    app.include_router(rollouts.router)  # model rollouts per device (/rollouts): service/console/rollouts.py
    app.include_router(zones.router)  # the zone editor (/zones): service/console/zones.py
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for handlers in (HANDLERS, account.HANDLERS):
        for exc_type, handler in handlers.items():
            app.add_exception_handler(exc_type, handler)
