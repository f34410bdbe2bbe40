"""The shop page (一店一码) in tests: a notice issued on the console world's confirmed case of shop
S-0001 ('prior'), the shop's link, and a shop's client (a phone: no console session)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from service.auth import Principal
from service.crud.case_actions import issue_notice
from service.models import Shop, utcnow
from service.schemas.cases import NoticeIn
from service.shop_links import ensure_link
from tests.support.console import SECRET, World

SUPERVISOR = Principal("user", "supervisor1", "supervisor")
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def notice(w: World, name: str = "prior", note: str = "请于期限内整改") -> int:
    """Issue a notice on the world's case ``name`` (deadline in 3 days); its id."""
    case_id = w.cases[name]
    with w.session() as s:
        issue_notice(
            s, principal=SUPERVISOR, case_id=case_id,
            data=NoticeIn(deadline=utcnow() + dt.timedelta(days=3), note=note),
        )  # fmt: skip
    return case_id


def link(w: World, shop_id: str = "S-0001") -> str:
    """The shop's current token (made if it has none)."""
    with w.session() as s:
        shop = s.get(Shop, shop_id)
        assert shop is not None
        token = ensure_link(s, SECRET, shop)
        s.commit()
        return token


def page_csrf(client: Any, token: str) -> str:
    r = client.get(f"/s/{token}")
    assert r.status_code == 200, r.text
    m = CSRF_RE.search(r.text)
    assert m, "no csrf field on the shop page"
    return m.group(1)


def upload(client: Any, token: str, case_id: int, data: bytes, mime: str, name: str = "p.jpg") -> Any:
    return client.post(
        f"/s/{token}/cases/{case_id}/photo",
        data={"csrf": page_csrf(client, token)},
        files={"photo": (name, data, mime)},
        follow_redirects=False,
    )


def state_statement(client: Any, token: str, case_id: int, text: str) -> Any:
    return client.post(
        f"/s/{token}/cases/{case_id}/statement",
        data={"csrf": page_csrf(client, token), "text": text},
        follow_redirects=False,
    )
