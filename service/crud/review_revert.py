"""A review undone: a supervisor puts a confirmed or dismissed case back to draft.

Allowed while nothing followed the review (no notice, no export: :data:`service.workflow.REVERTS`) and
within the service's window (``review_revert_window_s``) after it; the reason is required. The ledger
entry ``review_reverted`` records the old status, the reason, the review entry undone and how many
frame-pool labellings were withdrawn; the case snapshot it carries (as every case entry) is the draft
again, so ``nce ledger verify`` replays it like any other move.

The review's mark on the frame pool is withdrawn (:func:`withdraw_labels`): a frame whose latest
labelling is this review's gets a new labelling (``how = review_revert``) with the boxes it had before
the review; a frame a labeller labelled since keeps the labeller's work. A learned-mask proposal that
a false-detection dismissal already fed stays as it is (evidence never shrinks; a supervisor decides
it), but the reverted dismissal no longer counts for a new one (:func:`service.crud.masks.dismissals`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nce.times import utc_ms
from service import auth, ledger, workflow
from service.auth import Principal
from service.crud import frames
from service.crud.cases import get_case
from service.errors import Conflict, Forbidden
from service.models import Case, Frame, FrameLabel, LedgerEntry, utcnow
from service.schemas.cases import RevertIn

REVIEW_HOWS = ("review_confirm", "review_dismiss")


def revert_review(
    session: Session, *, principal: Principal, case_id: int, data: RevertIn, window_s: int
) -> Case:
    """Put the case back to draft (see the module). Forbidden for anyone but a supervisor or an admin;
    a Conflict when the case is not reviewed, something followed the review, or the window passed.
    Commits."""
    if principal.role not in auth.REVERT:
        raise Forbidden(f"role {principal.role} may not revert a review (allowed: supervisor, admin)")
    ledger.begin(session)  # the case's row locked; the ledger head at the commit
    case = get_case(session, principal=principal, case_id=case_id, for_update=True)
    now = utcnow()
    review = _last_review(session, case_id)
    if case.status in workflow.REVERTS and (
        review is None or case.reviewed_at is None or now - case.reviewed_at > dt.timedelta(seconds=window_s)
    ):
        when = utc_ms(case.reviewed_at) if case.reviewed_at else "?"
        raise Conflict(
            f"case {case.id} was reviewed at {when}; a review can be reverted only within {window_s} s"
        )
    old = workflow.revert(case, now)
    if case.original_violation is not None:  # the review corrected it: back to what was detected
        case.violation, case.original_violation = case.original_violation, None
    case.reviewed_by = case.reviewed_at = case.review_reason = None
    withdrawn = withdraw_labels(session, case_id=case.id, actor=principal.actor)
    payload: dict[str, Any] = {"from": old, "to": case.status, "reason": data.reason.strip()}
    if review is not None:
        payload["review_seq"] = review.seq
    if withdrawn:
        payload["frames_withdrawn"] = withdrawn
    ledger.append(session, actor=principal.actor, action="review_reverted", case_id=case.id, payload=payload)
    session.commit()
    return case


def revertible_until(status: str, reviewed_at: dt.datetime | None, window_s: int) -> dt.datetime | None:
    """Until when a case's review may be reverted (None: it may not, or no longer)."""
    if status not in workflow.REVERTS or reviewed_at is None:
        return None
    until = reviewed_at + dt.timedelta(seconds=window_s)
    return until if until >= utcnow() else None


def _last_review(session: Session, case_id: int) -> LedgerEntry | None:
    return session.execute(
        select(LedgerEntry)
        .where(LedgerEntry.case_id == case_id, LedgerEntry.action == "case_reviewed")
        .order_by(LedgerEntry.seq.desc())
        .limit(1)
    ).scalar_one_or_none()


def withdraw_labels(session: Session, *, case_id: int, actor: str) -> int:
    """Give each frame whose latest labelling is the case's review the labelling it had before (none:
    no boxes, partial), as ``review_revert``; return how many frames."""
    rows = session.execute(
        select(FrameLabel).where(FrameLabel.case_id == case_id, FrameLabel.how.in_(REVIEW_HOWS))
    ).scalars()
    frame_ids = sorted({r.frame_id for r in rows})
    count = 0
    for frame_id in frame_ids:
        history = list(
            session.execute(
                select(FrameLabel).where(FrameLabel.frame_id == frame_id).order_by(FrameLabel.id.desc())
            ).scalars()
        )
        latest = history[0]
        if latest.case_id != case_id or latest.how not in REVIEW_HOWS:
            continue  # labelled since: the labeller's work stays
        before = next((h for h in history[1:] if not (h.case_id == case_id and h.how in REVIEW_HOWS)), None)
        frame = session.get(Frame, frame_id)
        if frame is None:
            continue
        frames.write_label(
            session,
            frame,
            boxes=list(before.boxes) if before is not None else [],
            complete=before.complete if before is not None else False,
            how="review_revert",
            actor=actor,
            case_id=case_id,
        )
        if before is None:
            frame.status = "unlabelled"  # the review brought it: nobody labelled it
        count += 1
    return count
