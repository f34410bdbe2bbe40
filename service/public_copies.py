"""Public copies of a case's evidence for its shop page: stills with faces and plates blurred.

The service never decodes images (no OpenCV or numpy here, tests/test_layout.py), so it runs the
edge's own command as a subprocess: each of the case's original packages is materialised from the
evidence store into a temporary folder (``manifest.json`` as received and its files, by their names),
``python -m nce evidence publish FOLDER --out OUT`` writes the blurred copy (which refuses a package
that does not verify), and the copy's JPEG stills go into the store by SHA-256 (``public_stills``).

Making them takes a subprocess per package (seconds to minutes), so no request waits for it: the
service's sweeper (``nce serve``'s leading replica, every ``NCE_SWEEP_INTERVAL_S``, :func:`run_jobs`)
makes them. An operator's 生成公开副本 on the case page records a request (:func:`request_public_copy`:
a ``pending`` :class:`~service.models_shop_page.PublicCopyJob` row and a ``public_copy_requested``
entry) and returns at once; the sweeper's next pass makes the copy and sets the row ``done`` or
``failed`` with the one-line reason, which the case page shows. The sweeper also makes them for a
notice once it is issued (:func:`make_due_public_copies`, a few cases a pass). A sweep that fails
records ``public_copy_failed`` (why) and is not retried by the sweeper: the operator's click tries
again.

Nothing is shown to the shop until an operator approved them (公开副本已审核, the rule of
docs/evidence.md that a person reviews every public copy before it is published): ``public_copy_made``
and ``public_copy_approved`` are ledger entries. Making them again replaces the unapproved ones.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from nce.manifest import MANIFEST_NAME
from service import ledger
from service.case_status import OPEN_STATUSES, REVIEWED_STATUSES
from service.errors import Conflict, NotFound, ServiceError
from service.evidence_store import EvidenceStore
from service.filing import PUBLIC_COPY
from service.models import Case, EvidenceFile, HitEventRow, LedgerEntry, utcnow
from service.models_shop_page import PublicCopyJob, PublicStill

PUBLISH_TIMEOUT_S = 600
MAX_PACKAGES = 8  # the newest originals of a case are published; the rest stay in the export


class PublishFailed(ServiceError):
    """``nce evidence publish`` did not make a copy (its own message is kept)."""

    status_code = 500


def _originals(session: Session, case_id: int) -> list[HitEventRow]:
    rows = session.execute(
        select(HitEventRow)
        .where(
            HitEventRow.case_id == case_id,
            HitEventRow.manifest_hash.is_not(None),
            HitEventRow.event != PUBLIC_COPY,
        )
        .order_by(HitEventRow.id.desc())
        .limit(MAX_PACKAGES)
    ).scalars()
    return [r for r in rows if r.manifest is not None and r.manifest.get("kind") == "violation"][::-1]


def _materialise(session: Session, store: EvidenceStore, event: HitEventRow, folder: Path) -> None:
    folder.mkdir(parents=True)
    for f in session.execute(select(EvidenceFile).where(EvidenceFile.event_id == event.id)).scalars():
        if "/" in f.name or f.name in ("", ".", ".."):
            raise PublishFailed(f"package {event.package_id}: unsafe file name {f.name!r}")
        (folder / f.name).write_bytes(store.read(f.sha256))


def _publish(package: Path, out: Path) -> Path:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "nce", "evidence", "publish", str(package), "--out", str(out)],
            capture_output=True, text=True, timeout=PUBLISH_TIMEOUT_S, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise PublishFailed(f"nce evidence publish took longer than {PUBLISH_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()
        raise PublishFailed(f"nce evidence publish failed: {why[-1] if why else f'exit {done.returncode}'}")
    copies = [p for p in out.iterdir() if (p / MANIFEST_NAME).is_file()]
    if len(copies) != 1:
        raise PublishFailed(f"nce evidence publish wrote {len(copies)} copies, expected 1")
    return copies[0]


def _publishable(session: Session, case_id: int) -> list[HitEventRow]:
    """The case's packages to publish; NotFound or Conflict (one line) when there is nothing to do."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"case {case_id} does not exist")
    if case.status not in REVIEWED_STATUSES:
        raise Conflict(f"case {case_id} is {case.status}; public copies are made of confirmed cases only")
    events = _originals(session, case_id)
    if not events:
        raise Conflict(f"case {case_id} has no signed package to make a public copy of")
    return events


def make_public_stills(
    session: Session, *, store: EvidenceStore, case_id: int, actor: str, requested_by: str | None = None
) -> list[PublicStill]:
    """Blur the case's stills (a subprocess per package) and store them, unapproved, replacing earlier
    unapproved ones; a ``public_copy_made`` entry; the case's pending request (if any) done. Commits."""
    events = _publishable(session, case_id)
    made: list[tuple[HitEventRow, str, bytes]] = []
    with tempfile.TemporaryDirectory(prefix="nce-publish-") as tmp:
        for event in events:
            src = Path(tmp) / f"pkg-{event.id}"
            _materialise(session, store, event, src)
            copy = _publish(src, Path(tmp) / f"out-{event.id}")
            manifest = json.loads((copy / MANIFEST_NAME).read_bytes())
            for still in manifest.get("stills", []):
                for name in (still.get("raw"), still.get("annotated")):
                    if name and (copy / name).is_file():
                        made.append((event, str(name), (copy / name).read_bytes()))
    shas = store.put_all([data for _, _, data in made])  # before the transaction takes the lock
    ledger.lock_head(session)
    session.execute(
        delete(PublicStill).where(PublicStill.case_id == case_id, PublicStill.approved_at.is_(None))
    )
    rows = [
        PublicStill(case_id=case_id, event_id=e.id, name=name, sha256=sha, size=len(data), made_by=actor)
        for (e, name, data), sha in zip(made, shas, strict=True)
    ]
    session.add_all(rows)
    payload: dict[str, object] = {"stills": {f"{r.event_id}/{r.name}": r.sha256 for r in rows}}
    ledger.append(
        session, actor=actor, action="public_copy_made", case_id=case_id,
        payload=payload if requested_by is None else {**payload, "requested_by": requested_by},
    )  # fmt: skip
    _finish(session, case_id, None)
    session.commit()
    return rows


def approve_public_stills(session: Session, *, case_id: int, actor: str) -> int:
    """Approve the case's unapproved public stills (公开副本已审核), a ``public_copy_approved`` entry.
    Commits; returns how many were approved."""
    ledger.lock_head(session)
    rows = list(
        session.execute(
            select(PublicStill).where(PublicStill.case_id == case_id, PublicStill.approved_at.is_(None))
        ).scalars()
    )
    if not rows:
        raise Conflict(f"case {case_id} has no public copy waiting for approval")
    now = utcnow()
    for r in rows:
        r.approved_by, r.approved_at = actor, now
    ledger.append(
        session, actor=actor, action="public_copy_approved", case_id=case_id,
        payload={"stills": {f"{r.event_id}/{r.name}": r.sha256 for r in rows}},
    )  # fmt: skip
    session.commit()
    return len(rows)


def stills_of(session: Session, case_id: int, *, approved_only: bool) -> list[PublicStill]:
    q = select(PublicStill).where(PublicStill.case_id == case_id)
    if approved_only:
        q = q.where(PublicStill.approved_at.is_not(None))
    return list(session.execute(q.order_by(PublicStill.id)).scalars())


SWEEP_CASES = 2  # cases a sweep makes public copies for (each a subprocess per package)
TRIED = ("public_copy_made", "public_copy_failed")
SWEEPER = "system:sweeper"


def make_due_public_copies(
    session: Session, *, store: EvidenceStore, limit: int = SWEEP_CASES
) -> list[tuple[int, str]]:
    """Public copies for open notices that have none and were never tried (oldest notice first);
    a failure is a ``public_copy_failed`` entry (not tried again here). Commits; returns
    ``(case_id, "made" | why it failed)``."""
    due = list(
        session.execute(
            select(Case.id)
            .where(
                Case.notice_issued_at.is_not(None),
                Case.status.in_(OPEN_STATUSES),
                ~exists().where(PublicStill.case_id == Case.id),
                ~exists().where(PublicCopyJob.case_id == Case.id),
                ~exists().where(LedgerEntry.case_id == Case.id, LedgerEntry.action.in_(TRIED)),
            )
            .order_by(Case.notice_issued_at, Case.id)
            .limit(limit)
        ).scalars()
    )
    session.rollback()  # the read ends before each write transaction begins
    done: list[tuple[int, str]] = []
    for case_id in due:
        try:
            make_public_stills(session, store=store, case_id=case_id, actor=SWEEPER)
            done.append((case_id, "made"))
        except ServiceError as exc:
            _failed(session, case_id, str(exc)[:500])
            done.append((case_id, str(exc)))
    return done


def _finish(session: Session, case_id: int, why: str | None) -> None:
    """The case's pending request: done (``why`` None) or failed."""
    job = session.get(PublicCopyJob, case_id)
    if job is not None and job.state == "pending":
        job.state, job.why, job.finished_at = (
            ("done", None, utcnow()) if why is None else ("failed", why, utcnow())
        )


def _failed(session: Session, case_id: int, why: str, requested_by: str | None = None) -> None:
    """A ``public_copy_failed`` entry (and the request failed). Commits."""
    session.rollback()
    ledger.lock_head(session)
    payload = {"why": why} if requested_by is None else {"why": why, "requested_by": requested_by}
    ledger.append(session, actor=SWEEPER, action="public_copy_failed", case_id=case_id, payload=payload)
    _finish(session, case_id, why)
    session.commit()


def one_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:500]


def request_public_copy(session: Session, *, case_id: int, actor: str) -> bool:
    """生成公开副本: a pending request and a ``public_copy_requested`` entry, at once (no subprocess here;
    the sweeper makes the copy). NotFound or Conflict when the case cannot have one. False (nothing
    recorded) while an earlier request is still pending. Commits."""
    ledger.lock_head(session)
    _publishable(session, case_id)
    job = session.get(PublicCopyJob, case_id)
    if job is not None and job.state == "pending":
        session.rollback()
        return False
    if job is None:
        job = PublicCopyJob(case_id=case_id)
        session.add(job)
    job.state, job.requested_by, job.requested_at, job.finished_at, job.why = (
        "pending", actor, utcnow(), None, None
    )  # fmt: skip
    ledger.append(session, actor=actor, action="public_copy_requested", case_id=case_id, payload={})
    session.commit()
    return True


def job_of(session: Session, case_id: int) -> PublicCopyJob | None:
    """The case's latest request (the case page shows its state)."""
    return session.get(PublicCopyJob, case_id)


def make_requested_public_copies(
    session: Session, *, store: EvidenceStore, limit: int = SWEEP_CASES
) -> list[tuple[int, str]]:
    """The pending requests (oldest first): each made (``done``) or ``failed`` with its one-line
    reason and a ``public_copy_failed`` entry. Commits; returns ``(case_id, "made" | why)``."""
    pending = list(
        session.execute(
            select(PublicCopyJob.case_id, PublicCopyJob.requested_by)
            .where(PublicCopyJob.state == "pending")
            .order_by(PublicCopyJob.requested_at, PublicCopyJob.case_id)
            .limit(limit)
        ).all()
    )
    session.rollback()
    done: list[tuple[int, str]] = []
    for case_id, requested_by in pending:
        try:
            make_public_stills(
                session, store=store, case_id=case_id, actor=SWEEPER, requested_by=requested_by
            )
            done.append((case_id, "made"))
        except (ServiceError, OSError, ValueError) as exc:  # one bad case must not hold up the rest
            _failed(session, case_id, one_line(exc), requested_by)
            done.append((case_id, one_line(exc)))
    return done


def run_jobs(session: Session, *, store: EvidenceStore) -> list[tuple[int, str]]:
    """The sweeper's public-copy work of one pass: the operators' requests, then new notices."""
    return make_requested_public_copies(session, store=store) + make_due_public_copies(session, store=store)
