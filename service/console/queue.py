"""The queue of cases (``/``): filtered by status, violation, camera and day, newest first, paged.

A filter value the console does not know is reported on the page (422) and dropped, never passed on.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import Response

from nce.bounds import ID_MAX, check_id, check_time
from nce.vocabulary import VIOLATIONS
from service.api.deps import SessionDep, StateDep
from service.console import cameras, queries
from service.console.deps import Operator
from service.console.messages import translate
from service.console.refusal import explain
from service.console.render import console_tz, render, request_lang
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


@router.get("/")
def queue(request: Request, state: StateDep, session: SessionDep, principal: Operator) -> Response:
    q = request.query_params
    status = q.get("status", "draft")
    violation = q.get("violation", "")
    camera = q.get("camera", "")
    day = q.get("date", "")
    cursor = q.get("cursor") or None
    errors: list[str] = []
    lang, _ = request_lang(request)
    if status not in (*CASE_STATUSES, "all"):
        errors.append(translate(lang, "queue.bad_filter", detail=f"status={status}"))
        status = "draft"
    if violation and violation not in VIOLATIONS:
        errors.append(translate(lang, "queue.bad_filter", detail=f"violation={violation}"))
        violation = ""
    if camera and (len(camera) > ID_MAX or not _is_id(camera)):
        errors.append(translate(lang, "queue.bad_filter", detail=f"camera={camera[:ID_MAX]!r}"))
        camera = ""
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
    )
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
        f={"status": status, "violation": violation, "camera": camera, "date": day},
        next_cursor=next_cursor,
        paged=cursor is not None,
    )
