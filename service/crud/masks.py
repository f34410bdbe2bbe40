"""Learned masks, stored: proposals computed from the frame pool's false-detection dismissals, and a
supervisor's decision on each (a ledger entry ``mask_accepted`` / ``mask_rejected``).

Where dismissals come from: a review that dismisses a case as a false detection labels the case's raw
stills with the hit's boxes as hard negatives (``frame_labels`` rows ``how = review_dismiss``,
:mod:`service.crud.frame_sources`); each negative box such a row added (not one an earlier labelling
of the frame had) is a :class:`service.masks.Dismissal` of the row's case, at the row's time, in
fractions of the frame's size. A dismissal whose stills are not in the pool (not a readable image)
leaves no box and counts for nothing.

:func:`refresh` (idempotent) turns the dismissals of the last ``days`` into proposals:

1. a dismissed box that is evidence of a decided proposal of its camera and class is left out, and so
   is one whose foot is inside such a proposal's polygon when the proposal is accepted (the place is
   masked) or when it was dismissed at or before the rejection: a rejected place comes back only when
   ``min_dismissals`` new cases are dismissed there *after* the rejection, on their own;
2. the rest are clustered (:func:`service.masks.proposals`);
3. a place that shares a dismissed box with an open (``proposed``) proposal of its camera and class,
   or has a foot inside its polygon, adds its new dismissals to that proposal (polygon recomputed from all its
   evidence); otherwise it is a new proposal. Nothing is ever deleted, and evidence never shrinks:
   dismissals that leave the window stay evidence of the proposal they made.

Running it again with nothing new dismissed changes nothing. It runs in a false-detection review's
transaction for the case's camera (:func:`service.crud.case_actions.review_case`) and on
``POST /api/v1/masks/recompute`` (after the settings changed, say).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nce.times import parse_utc_ms, utc_ms
from service import ledger
from service.auth import Principal
from service.errors import Conflict, NotFound
from service.masks import Cluster, Dismissal, MaskRules, inside, mask_polygon, normalised_box, proposals
from service.models import Frame, FrameLabel, MaskProposal, utcnow
from service.schemas.masks import MaskEvidence, MaskProposalPublic

MAX_LIST = 500


def dismissals(session: Session, *, since: dt.datetime, camera_id: str | None = None) -> list[Dismissal]:
    """The false-detection dismissals since ``since`` (of one camera, or all)."""
    q = (
        select(FrameLabel, Frame.camera_id, Frame.width, Frame.height)
        .join(Frame, Frame.id == FrameLabel.frame_id)
        .where(
            FrameLabel.how == "review_dismiss",
            FrameLabel.created_at >= since,
            FrameLabel.case_id.is_not(None),
        )
        .order_by(FrameLabel.id)
    )
    if camera_id is not None:
        q = q.where(Frame.camera_id == camera_id)
    rows = list(session.execute(q))
    if not rows:
        return []
    # the labelling before each one: only the boxes a dismissal added are its own
    history = session.execute(
        select(FrameLabel.id, FrameLabel.frame_id, FrameLabel.boxes, FrameLabel.how, FrameLabel.case_id)
        .where(FrameLabel.frame_id.in_({r[0].frame_id for r in rows}))
        .order_by(FrameLabel.id)
    )
    before: dict[int, list[dict[str, Any]]] = {}
    last: dict[int, list[dict[str, Any]]] = {}
    reverted: dict[tuple[int, int | None], int] = {}  # (frame, case) → its latest review_revert row
    for label_id, frame_id, boxes, how, case_id in history:
        before[label_id] = last.get(frame_id, [])
        last[frame_id] = list(boxes or [])
        if how == "review_revert":
            reverted[(frame_id, case_id)] = label_id
    out: list[Dismissal] = []
    for label, camera, width, height in rows:
        if reverted.get((label.frame_id, label.case_id), 0) > label.id:
            continue  # that dismissal was reverted (service.crud.review_revert)
        earlier = before.get(label.id, [])
        for b in label.boxes or []:
            if not b.get("negative") or b in earlier:
                continue
            box = normalised_box(b.get("box") or [], width, height)
            if box is None or label.case_id is None:
                continue
            out.append(
                Dismissal(label.case_id, camera, str(b.get("label")), box, label.created_at, label.frame_id)
            )
    return out


def _evidence(d: Dismissal) -> dict[str, Any]:
    return {
        "case_id": d.case_id,
        "frame_id": d.frame_id,
        "box": [round(v, 6) for v in d.box],
        "at": utc_ms(d.at),
    }


def _from_evidence(e: dict[str, Any], camera_id: str, label: str) -> Dismissal:
    box = tuple(float(v) for v in e["box"])
    return Dismissal(int(e["case_id"]), camera_id, label, (box[0], box[1], box[2], box[3]),
                     parse_utc_ms(str(e["at"])), e.get("frame_id"))  # fmt: skip


def evidence_of(row: MaskProposal) -> list[Dismissal]:
    return [_from_evidence(e, row.camera_id, row.label) for e in row.evidence]


def _key(d: Dismissal) -> tuple[int, int | None, tuple[float, ...]]:
    """One dismissed box (a case dismisses the object on each of its stills, maybe at two places)."""
    return (d.case_id, d.frame_id, tuple(round(v, 6) for v in d.box))


def _same_place(row: MaskProposal, cluster: Cluster) -> bool:
    if row.camera_id != cluster.camera_id or row.label != cluster.label:
        return False
    keys = {_key(d) for d in evidence_of(row)}
    return any(_key(d) in keys or inside(row.polygon, d.foot) for d in cluster.dismissals)


def _excluded(d: Dismissal, decided: Sequence[MaskProposal], used: set[tuple[object, ...]]) -> bool:
    if (d.camera_id, d.label, *_key(d)) in used:
        return True
    for p in decided:
        if p.camera_id != d.camera_id or p.label != d.label or not inside(p.polygon, d.foot):
            continue
        if p.status == "accepted" or (p.decided_at is not None and d.at <= p.decided_at):
            return True
    return False


def _fill(row: MaskProposal, items: Sequence[Dismissal], rules: MaskRules, now: dt.datetime) -> None:
    row.evidence = [_evidence(d) for d in items]
    row.polygon = [list(p) for p in mask_polygon([d.box for d in items], rules.margin)]
    row.cases = len({d.case_id for d in items})
    row.first_at = min(d.at for d in items)
    row.last_at = max(d.at for d in items)
    row.updated_at = now


@dataclass(frozen=True)
class Refreshed:
    created: list[int]
    updated: list[int]


def refresh(session: Session, rules: MaskRules, *, now: dt.datetime | None = None,
            camera_id: str | None = None) -> Refreshed:  # fmt: skip
    """Bring the proposals up to date with the dismissals (module doc) in the caller's transaction,
    which holds the ledger lock (no commit)."""
    now = now or utcnow()
    found = dismissals(session, since=now - dt.timedelta(days=rules.days), camera_id=camera_id)
    q = select(MaskProposal).order_by(MaskProposal.id)
    if camera_id is not None:
        q = q.where(MaskProposal.camera_id == camera_id)
    existing = list(session.execute(q).scalars())
    decided = [p for p in existing if p.status != "proposed"]
    open_ = [p for p in existing if p.status == "proposed"]
    used: set[tuple[object, ...]] = {
        (p.camera_id, p.label, *_key(d)) for p in decided for d in evidence_of(p)
    }
    kept = [d for d in found if not _excluded(d, decided, used)]
    created: list[MaskProposal] = []
    updated: list[MaskProposal] = []
    for cluster in proposals(kept, radius=rules.radius, min_dismissals=rules.min_dismissals):
        row = next((p for p in open_ if _same_place(p, cluster)), None)
        if row is None:
            row = MaskProposal(
                camera_id=cluster.camera_id, label=cluster.label, status="proposed", created_at=now
            )
            _fill(row, cluster.dismissals, rules, now)
            session.add(row)
            open_.append(row)
            created.append(row)
            continue
        have = evidence_of(row)
        keys = {_key(d) for d in have}
        new = [d for d in cluster.dismissals if _key(d) not in keys]
        if new:
            _fill(row, [*have, *new], rules, now)
            if row not in created and row not in updated:
                updated.append(row)
    session.flush()
    return Refreshed([r.id for r in created], [r.id for r in updated if r not in created])


def recompute(session: Session, rules: MaskRules) -> Refreshed:
    """:func:`refresh` for every camera, in its own transaction. Commits."""
    ledger.lock_head(session)
    result = refresh(session, rules)
    session.commit()
    return result


# --- reading ----------------------------------------------------------------------------------


def public(row: MaskProposal) -> MaskProposalPublic:
    items = evidence_of(row)
    return MaskProposalPublic(
        id=row.id,
        camera_id=row.camera_id,
        classes=[row.label],
        status=row.status,  # type: ignore[arg-type]  # written by this module only
        polygon=[(float(x), float(y)) for x, y in row.polygon],
        case_ids=sorted({d.case_id for d in items}),
        dismissals=row.cases,
        first_at=row.first_at,
        last_at=row.last_at,
        evidence=[MaskEvidence(case_id=d.case_id, frame_id=d.frame_id, box=d.box, at=d.at) for d in items],
        created_at=row.created_at,
        updated_at=row.updated_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        reason=row.reason,
        decision_seq=row.decision_seq,
    )


def list_proposals(
    session: Session, *, status: str | None = None, camera_id: str | None = None, limit: int = MAX_LIST
) -> list[MaskProposal]:
    """Newest first."""
    q = select(MaskProposal).order_by(MaskProposal.id.desc()).limit(max(1, min(limit, MAX_LIST)))
    if status:
        q = q.where(MaskProposal.status == status)
    if camera_id:
        q = q.where(MaskProposal.camera_id == camera_id)
    return list(session.execute(q).scalars())


def status_counts(session: Session) -> dict[str, int]:
    q = select(MaskProposal.status, func.count(MaskProposal.id)).group_by(MaskProposal.status)
    return {str(s): int(n) for s, n in session.execute(q)}


def get_proposal(session: Session, proposal_id: int, *, for_update: bool = False) -> MaskProposal:
    q = select(MaskProposal).where(MaskProposal.id == proposal_id)
    row = session.execute(q.with_for_update() if for_update else q).scalar_one_or_none()
    if row is None:
        raise NotFound(f"mask proposal {proposal_id} not found")
    return row


# --- deciding ---------------------------------------------------------------------------------


def decide(
    session: Session, *, principal: Principal, proposal_id: int, accept: bool, reason: str | None
) -> MaskProposal:
    """Accept or reject a proposed mask; a ledger entry ``mask_accepted`` / ``mask_rejected`` with the
    camera, classes, polygon, evidence cases and the reason. 409 once decided. Commits."""
    ledger.lock_head(session)
    row = get_proposal(session, proposal_id, for_update=True)
    if row.status != "proposed":
        when = utc_ms(row.decided_at) if row.decided_at else "?"
        raise Conflict(f"mask proposal {proposal_id} is {row.status} already (by {row.decided_by} at {when})")
    now = utcnow()
    row.status = "accepted" if accept else "rejected"
    row.decided_by = principal.actor
    row.decided_at = now
    row.reason = reason
    row.updated_at = now
    entry = ledger.append(
        session,
        actor=principal.actor,
        action=f"mask_{row.status}",
        case_id=None,  # about a camera; the cases it rests on are in the payload
        payload={
            "proposal_id": row.id,
            "camera_id": row.camera_id,
            "classes": [row.label],
            "polygon": row.polygon,
            "cases": sorted({int(e["case_id"]) for e in row.evidence}),
            "dismissals": row.cases,
            "first_at": utc_ms(row.first_at),
            "last_at": utc_ms(row.last_at),
            "reason": reason,
        },
    )
    row.decision_seq = entry.seq
    session.commit()
    return row


def accepted(session: Session, camera_id: str) -> list[MaskProposal]:
    q = (
        select(MaskProposal)
        .where(MaskProposal.camera_id == camera_id, MaskProposal.status == "accepted")
        .order_by(MaskProposal.id)
    )
    return list(session.execute(q).scalars())
