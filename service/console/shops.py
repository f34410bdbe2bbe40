"""The shops page (店铺, ``/shops``): the shop registry (一店一码) the cases' parties come from, each
shop with its open and total cases (a link to the queue), and the shops that cases name but the
registry lacks — their cases show no party until ``nce admin import-shops`` adds them. Read-only:
the registry changes through ``nce admin import-shops`` and the API (``/api/v1/shops``), each change
a ledger entry."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from service.api.deps import SessionDep, StateDep
from service.case_status import OPEN_STATUSES
from service.console.deps import Operator
from service.console.render import render
from service.crud.shops import list_shops
from service.models import Case

router = APIRouter(include_in_schema=False)
SHOPS_PAGE = 500


@router.get("/shops")
def shops_page(request: Request, state: StateDep, session: SessionDep, principal: Operator) -> Response:
    shops, total = list_shops(session, offset=0, limit=SHOPS_PAGE)
    rows = session.execute(
        select(Case.shop_id, Case.status, func.count())
        .where(Case.shop_id.is_not(None))
        .group_by(Case.shop_id, Case.status)
    ).all()
    cases: dict[str, dict[str, int]] = {}
    for shop_id, status, n in rows:
        counts = cases.setdefault(str(shop_id), {"open": 0, "all": 0})
        counts["all"] += int(n)
        if status in OPEN_STATUSES:
            counts["open"] += int(n)
    known = {s.shop_id for s in shops}
    missing = {k: v for k, v in sorted(cases.items()) if k not in known} if total <= SHOPS_PAGE else {}
    return render(
        request,
        state,
        "shops.html",
        principal=principal,
        shops=shops,
        total=total,
        cases=cases,
        missing=missing,
        shown=len(shops),
        rotated=request.query_params.get("rotated", "")[:64] or None,
    )
