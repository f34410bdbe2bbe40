"""The queue of cases (``/``): filtered by status, violation, camera, day, the notice's delivery
(现场送达: notices to hand over in person) and a search (a case id, a shop's id, name or address, a
camera), newest first, paged; drafts can be picked for a bulk dismissal
(:mod:`service.console.desk`).

A filter value the console does not know is reported on the page (422) and dropped, never passed on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from nce.bounds import ID_MAX, check_id, check_time
from nce.vocabulary import VIOLATIONS
from service import auth
from service.api.deps import SessionDep, StateDep
from service.console import cameras, queries
from service.console.deps import Operator
from service.console.messages import Lang, translate
from service.console.refusal import explain
from service.console.render import console_tz, render, request_lang
from service.console.view import REASON_CODES
from service.crud import cases as crud
from service.errors import Invalid
from service.schemas.common import CASE_STATUSES

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 30


def _is_id(value: str) -> bool:
    try:
        check_id(value)
    except ValueError:
        return False
    return True


def _day_bounds(day: str) -> tuple[dt.datetime, dt.datetime]:
    d = dt.date.fromisoformat(day)
    check_time(dt.datetime.combine(d, dt.time()))  # years 1900-2999: no overflow below
    start = dt.datetime.combine(d, dt.time(), tzinfo=console_tz())
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


SEARCH_MAX = 100  # the search box: a case id, a shop's id, name or address, a camera id
DELIVERIES = ("in_person",)  # the notice's delivery: 现场送达 (the case flag notice_in_person)


def parse_filter(q: Mapping[str, str], lang: Lang) -> tuple[crud.CaseFilter, dict[str, str], list[str]]:
    """The queue's filter from its query parameters: the filter, the values the page shows (a value
    the console does not know dropped) and what was wrong, in ``lang``."""
    status = q.get("status", "draft")
    violation = q.get("violation", "")
    camera = q.get("camera", "")
    day = q.get("date", "")
    delivery = q.get("delivery", "")
    text = " ".join("".join(ch for ch in q.get("q", "") if ch.isprintable()).split())[:SEARCH_MAX]
    errors: list[str] = []
    if status not in (*CASE_STATUSES, "all"):
        errors.append(translate(lang, "queue.bad_filter", detail=f"status={status[:ID_MAX]}"))
        status = "draft"
    if violation and violation not in VIOLATIONS:
        errors.append(translate(lang, "queue.bad_filter", detail=f"violation={violation[:ID_MAX]}"))
        violation = ""
    if camera and (len(camera) > ID_MAX or not _is_id(camera)):
        errors.append(translate(lang, "queue.bad_filter", detail=f"camera={camera[:ID_MAX]!r}"))
        camera = ""
    if delivery and delivery not in DELIVERIES:
        errors.append(translate(lang, "queue.bad_filter", detail=f"delivery={delivery[:ID_MAX]}"))
        delivery = ""
    since = until = None
    if day:
        try:
            since, until = _day_bounds(day)
        except ValueError:
            errors.append(translate(lang, "queue.bad_date"))
            day = ""
    flt = crud.CaseFilter(
        status=None if status == "all" else status,
        violation=violation or None,
        camera_id=camera[:64] or None,
        since=since,
        until=until,
        text=text or None,
        delivery="in_person" if delivery == "in_person" else None,
    )
    shown = {"status": status, "violation": violation, "camera": camera, "date": day, "delivery": delivery}
    return flt, {**shown, "q": text}, errors


@router.get("/")
def queue(request: Request, state: StateDep, session: SessionDep, principal: Operator) -> Response:
    q = request.query_params
    cursor = q.get("cursor") or None
    lang, _ = request_lang(request)
    flt, f, errors = parse_filter(q, lang)
    try:
        rows, next_cursor = crud.list_cases(
            session, principal=principal, flt=flt, cursor=cursor, limit=PAGE_SIZE
        )
    except Invalid as exc:  # a cursor this service did not issue: the first page
        errors.append(explain(exc, lang).message)
        rows, next_cursor = crud.list_cases(
            session, principal=principal, flt=flt, cursor=None, limit=PAGE_SIZE
        )
    ids = [c.id for c in rows]
    return render(
        request,
        state,
        "queue.html",
        principal=principal,
        status_code=422 if errors else 200,
        errors=errors,
        cases=rows,
        thumbs=queries.thumbnails(session, ids),
        shops=queries.shop_names(session, {c.shop_id for c in rows if c.shop_id}),
        places=cameras.camera_places(session, {c.camera_id for c in rows}),
        counts=queries.status_counts(session),
        cameras=queries.camera_ids(session),
        statuses=CASE_STATUSES,
        violations=VIOLATIONS,
        deliveries=DELIVERIES,
        f=f,
        queue_qs=urlencode({k: v for k, v in f.items() if v}),
        can_bulk=principal.role in auth.REVIEW,
        bulk_done=_bulk_done(q, lang),
        reason_codes=REASON_CODES,
        next_cursor=next_cursor,
        paged=cursor is not None,
    )


def _bulk_done(q: Mapping[str, str], lang: Lang) -> str | None:
    """The flash after a bulk dismissal (``?bulk=N&bulk_failed=M``)."""
    n, failed = q.get("bulk", ""), q.get("bulk_failed", "0")
    if not (n.isascii() and n.isdigit() and failed.isascii() and failed.isdigit()) or len(n + failed) > 12:
        return None
    text = translate(lang, "desk.bulk_done", n=int(n))
    return text + (translate(lang, "desk.bulk_failed", n=int(failed)) if int(failed) else "")
