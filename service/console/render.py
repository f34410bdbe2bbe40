"""Jinja2 pages: the environment, the language of a request, times in the console's time zone."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from service import cookies
from service.auth import Principal
from service.console.guard import CSRF_FIELD, csrf_token
from service.console.messages import DEFAULT_LANG, LANGS, Lang, pick_lang, translate
from service.console.view import ledger_action, ledger_detail
from service.state import AppState

HERE = Path(__file__).resolve().parent
LANG_COOKIE = "nce_lang"
DEFAULT_TZ = "Asia/Shanghai"


def console_tz() -> ZoneInfo:
    """The time zone the console shows times in: ``NCE_CONSOLE_TZ`` (IANA name), else Asia/Shanghai."""
    try:
        return ZoneInfo(os.environ.get("NCE_CONSOLE_TZ") or DEFAULT_TZ)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals.update(ledger_detail=ledger_detail, ledger_action=ledger_action)


def request_lang(request: Request) -> tuple[Lang, bool]:
    """The page language: ``?lang=`` (remembered in a cookie), else the cookie, else zh-CN."""
    asked = pick_lang(request.query_params.get("lang"))
    if asked is not None:
        return asked, True
    return pick_lang(request.cookies.get(LANG_COOKIE)) or DEFAULT_LANG, False


@dataclass(frozen=True)
class Page:
    """What every template gets besides its own values."""

    lang: Lang
    tz: ZoneInfo
    csrf: str
    principal: Principal | None
    path: str
    query: dict[str, str]

    def t(self, key: str, **values: object) -> str:
        return translate(self.lang, key, **values)

    def when(self, t: dt.datetime | None, seconds: bool = False) -> str:
        if t is None:
            return "—"
        return t.astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")

    def short(self, t: dt.datetime | None) -> str:
        return "—" if t is None else t.astimezone(self.tz).strftime("%m-%d %H:%M")

    def iso(self, t: dt.datetime | None) -> str:
        return "" if t is None else t.astimezone(dt.UTC).isoformat()

    def label(self, kind: str, value: str | None) -> str:
        """A status, violation, event, moment, zone kind, action or role in the page's language."""
        if value is None:
            return "—"
        try:
            return translate(self.lang, f"{kind}.{value}")
        except KeyError:
            return value

    def url(self, path: str, **params: str | int | None) -> str:
        clean = {k: str(v) for k, v in params.items() if v not in (None, "")}
        return f"{path}?{urlencode(clean)}" if clean else path

    def lang_switch(self) -> str:
        """This page in the other language."""
        other = "en" if self.lang == "zh-CN" else "zh-CN"
        return self.url(self.path, **{**self.query, "lang": other})

    @property
    def html_lang(self) -> str:
        return "en" if self.lang == "en" else "zh-CN"

    @property
    def tz_label(self) -> str:
        offset = dt.datetime.now(self.tz).utcoffset() or dt.timedelta()
        hours = offset.total_seconds() / 3600
        return f"{self.tz.key} (UTC{hours:+g})"


def render(
    request: Request,
    state: AppState,
    template: str,
    *,
    principal: Principal | None,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    lang, remember = request_lang(request)
    token, new_token = csrf_token(request, state.settings)
    query = {k: v for k, v in request.query_params.items() if k not in ("lang", "done")}
    page = Page(lang, console_tz(), token, principal, request.url.path, query)
    html = _env.get_template(template).render(p=page, t=page.t, csrf_field=CSRF_FIELD, langs=LANGS, **values)
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    if new_token:
        cookies.set_csrf(response, state.settings, token)
    if remember:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    return response
