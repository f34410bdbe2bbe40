"""The operator review console (zh-CN, with English): server-rendered pages at ``/``.

``install(app)`` adds the pages and ``/static`` to an app made by :func:`service.app.create_app`.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from service.console import account, case_more
from service.console.render import HERE
from service.console.routes import HANDLERS, router

__all__ = ["install"]


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.include_router(account.router)  # /account/password
    app.include_router(case_more.router)  # /cases/{id}/events, /cases/{id}/ledger
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for handlers in (HANDLERS, account.HANDLERS):
        for exc_type, handler in handlers.items():
            app.add_exception_handler(exc_type, handler)
