"""The audit log (审计日志, ``/audit``, supervisors and admins): the whole ledger, newest first,
:data:`PAGE_ROWS` a page (``?before=<seq>``: the entries older than that one), filtered by action,
actor, case and local day; each entry worded as on the case page (:mod:`service.console.view`), the
chain's verification (:func:`service.ledger.verify`) at the top: the whole chain at most every
:data:`WHOLE_EVERY_S` per process, in between only the entries added since (:func:`chain_check`). ``/audit.jsonl`` streams the entries
the filters select (every page) as JSON Lines, one entry a line as the API writes it.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import Engine, Select, select
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from service import auth, ledger
from service.api.deps import SessionDep, StateDep
from service.console.deps import Operator
from service.console.messages import translate
from service.console.render import console_tz, render, request_lang
from service.models import LedgerEntry
from service.schemas.ledger import LedgerEntryPublic

router = APIRouter(include_in_schema=False)
PAGE_ROWS = 50
ACTOR_MAX = 200
SEQ_MAX = 2**63 - 1
SPOOL_BYTES = 16 * 1024 * 1024
WHOLE_EVERY_S = 300.0  # the audit page re-hashes the whole ledger at most this often (per process)


@dataclass(frozen=True)
class AuditFilter:
    """What ``?action=&actor=&case=&date=&before=`` asked for; ``errors`` names what was ignored."""

    action: str = ""
    actor: str = ""
    case: int | None = None
    date: dt.date | None = None
    before: int | None = None

    def query(self) -> dict[str, str]:
        """The filters as query parameters (without the page cursor)."""
        out = {"action": self.action, "actor": self.actor}
        out["case"] = str(self.case) if self.case is not None else ""
        out["date"] = self.date.isoformat() if self.date else ""
        return {k: v for k, v in out.items() if v}


def _int(value: str, high: int) -> int | None:
    return int(value) if value.isdigit() and 1 <= int(value) <= high else None


def parse_filter(params: dict[str, str]) -> tuple[AuditFilter, list[str]]:
    errors: list[str] = []
    action = params.get("action", "").strip()
    if len(action) > 64 or not all(c.isalnum() or c == "_" for c in action):
        errors.append(f"action={action[:32]!r}")
        action = ""
    actor = params.get("actor", "").strip()
    if len(actor) > ACTOR_MAX:
        errors.append("actor")
        actor = ""
    case = _int(params.get("case", "").strip().lstrip("#"), 2**31 - 1)
    if params.get("case", "").strip() and case is None:
        errors.append(f"case={params['case'][:16]!r}")
    date = None
    if params.get("date"):
        try:
            date = dt.date.fromisoformat(params["date"])
        except ValueError:
            errors.append(f"date={params['date'][:16]!r}")
    before = _int(params.get("before", ""), SEQ_MAX)
    if params.get("before") and before is None:
        errors.append("before")
    return AuditFilter(action, actor, case, date, before), errors


def _where(q: Select[Any], f: AuditFilter) -> Select[Any]:
    if f.action:
        q = q.where(LedgerEntry.action == f.action)
    if f.actor:
        q = q.where(LedgerEntry.actor == f.actor)
    if f.case is not None:
        q = q.where(LedgerEntry.case_id == f.case)
    if f.date is not None:
        tz = console_tz()
        start = dt.datetime.combine(f.date, dt.time(), tzinfo=tz).astimezone(dt.UTC)
        q = q.where(LedgerEntry.ts >= start, LedgerEntry.ts < start + dt.timedelta(days=1))
    return q


def page_of(
    session: Session, f: AuditFilter, *, rows: int = PAGE_ROWS
) -> tuple[list[LedgerEntry], int | None]:
    """The entries of one page, newest first, and the cursor of the next (older) page or None."""
    q = _where(select(LedgerEntry), f)
    if f.before is not None:
        q = q.where(LedgerEntry.seq < f.before)
    found = list(session.execute(q.order_by(LedgerEntry.seq.desc()).limit(rows + 1)).scalars())
    more = len(found) > rows
    found = found[:rows]
    return found, (found[-1].seq if more and found else None)


def _actions(session: Session) -> list[str]:
    return [
        str(a)
        for a in session.execute(select(LedgerEntry.action).distinct().order_by(LedgerEntry.action)).scalars()
    ]


@dataclass(frozen=True)
class _Checked:
    result: ledger.VerifyResult  # intact
    whole_at: float  # time.monotonic() of the last whole run
    when: dt.datetime  # its wall-clock time, for the page


_CHECKED: weakref.WeakKeyDictionary[Engine, _Checked] = weakref.WeakKeyDictionary()


def chain_check(engine: Engine, session: Session) -> tuple[ledger.VerifyResult, dt.datetime]:
    """The chain's verification for the page, and when the whole chain was last verified. The whole
    ledger is re-hashed at most every :data:`WHOLE_EVERY_S` in this process; between, a visit checks
    only the entries added since the last intact result (none while the head hash is the same). A
    broken chain is never remembered: every visit checks it whole again."""
    now = time.monotonic()
    got = _CHECKED.get(engine)
    if got is not None and now - got.whole_at < WHOLE_EVERY_S:
        result = ledger.verify(session, since=got.result)
        if result.ok:
            _CHECKED[engine] = _Checked(result, got.whole_at, got.when)
            return result, got.when
    when = dt.datetime.now(dt.UTC)
    result = ledger.verify(session)
    if result.ok:
        _CHECKED[engine] = _Checked(result, now, when)
    else:
        _CHECKED.pop(engine, None)
    return result, when


def _forbidden(request: Request, state: StateDep, principal: auth.Principal) -> Response:
    lang, _ = request_lang(request)
    message = translate(lang, "audit.forbidden", role=principal.role)
    return render(request, state, "error.html", principal=principal, status_code=403, message=message)


@router.get("/audit")
def audit_page(request: Request, state: StateDep, session: SessionDep, principal: Operator) -> Response:
    if principal.role not in auth.LEDGER:
        return _forbidden(request, state, principal)
    lang, _ = request_lang(request)
    f, bad = parse_filter(dict(request.query_params))
    entries, next_before = page_of(session, f, rows=PAGE_ROWS)
    check, checked_at = chain_check(state.engine, session)
    return render(
        request,
        state,
        "audit.html",
        principal=principal,
        status_code=422 if bad else 200,
        errors=[translate(lang, "audit.bad_filter", detail=", ".join(bad))] if bad else [],
        f=f,
        fq=f.query(),
        actions=_actions(session),
        entries=[LedgerEntryPublic.model_validate(e) for e in entries],
        next_before=next_before,
        check=check,
        checked_at=checked_at,
    )


def _lines(session: Session, f: AuditFilter) -> Iterator[bytes]:
    q = _where(select(LedgerEntry), f).order_by(LedgerEntry.seq.desc()).execution_options(yield_per=500)
    for e in session.execute(q).scalars():
        yield LedgerEntryPublic.model_validate(e).model_dump_json().encode("utf-8") + b"\n"


@router.get("/audit.jsonl")
def audit_download(request: Request, state: StateDep, session: SessionDep, principal: Operator) -> Response:
    """The entries the filters select, all pages, newest first, one JSON object a line."""
    if principal.role not in auth.LEDGER:
        return _forbidden(request, state, principal)
    f, _bad = parse_filter({k: v for k, v in request.query_params.items() if k != "before"})
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed after the response
    for line in _lines(session, f):  # written out here: the session ends with the request
        out.write(line)
    out.seek(0)
    return StreamingResponse(
        iter(lambda: out.read(1 << 20), b""),
        background=BackgroundTask(out.close),
        media_type="application/x-ndjson",
        headers={
            "Content-Disposition": 'attachment; filename="nce-ledger.jsonl"',
            "Cache-Control": "no-store",
        },
    )
