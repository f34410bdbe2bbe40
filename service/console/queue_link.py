"""A case page opened from the queue keeps the queue's filter: its links carry ``queue`` (the queue's
query string, e.g. ``status=draft&violation=illegal_ad``), read here through the queue's own parser
(:func:`service.console.queue.parse_filter`: an unknown value is dropped), never used as a URL as it
came. The older ``s`` (a status) is still understood.

Prev/next are the neighbours in the filtered queue; after a review the page moves on to the next draft
the filter lets through (:func:`next_draft`).
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qsl, urlencode

from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.console.queue import parse_filter
from service.crud import cases as crud
from service.models import Case

QUERY_MAX = 1000


def case_queue(request: Request) -> tuple[crud.CaseFilter, str]:
    """The filter of the queue the page was opened from, and its query string (clean: only the values
    the queue accepts; empty ones left out)."""
    raw = request.query_params.get("queue")
    if raw is None:
        return queue_of(urlencode({"status": request.query_params.get("s", "draft")}))
    return queue_of(raw)


def queue_of(raw: str) -> tuple[crud.CaseFilter, str]:
    """A queue's query string, read by the queue's parser: the filter and the string again, clean."""
    flt, shown, _errors = parse_filter(dict(parse_qsl(raw[:QUERY_MAX])), "zh-CN")
    return flt, urlencode({k: v for k, v in shown.items() if v})


def neighbours(session: Session, *, case_id: int, flt: crud.CaseFilter) -> tuple[int | None, int | None]:
    """(previous, next) in queue order (newest first): the next newer and the next older case."""
    newer = crud.filtered(select(func.min(Case.id)).where(Case.id > case_id), flt)
    older = crud.filtered(select(func.max(Case.id)).where(Case.id < case_id), flt)
    return session.execute(newer).scalar_one_or_none(), session.execute(older).scalar_one_or_none()


def next_draft(session: Session, *, case_id: int, flt: crud.CaseFilter) -> int | None:
    """The draft to review after ``case_id``: the next older one the filter lets through, else the
    newest (drafts that arrived meanwhile), never ``case_id`` itself."""
    drafts = replace(flt, status="draft")
    older = crud.filtered(select(func.max(Case.id)).where(Case.id < case_id), drafts)
    found = session.execute(older).scalar_one_or_none()
    if found is None:
        newest = crud.filtered(select(func.max(Case.id)).where(Case.id != case_id), drafts)
        found = session.execute(newest).scalar_one_or_none()
    return found
