"""Score-threshold proposals from operators' decisions (supervisor): per camera and class, and the
``rules[].min_score`` lines to paste into the site config. Nothing is delivered to the edge."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import SessionDep, StateDep, ThresholdReader
from service.crud import thresholds as crud
from service.models import utcnow
from service.schemas.thresholds import ThresholdProposalPublic, ThresholdProposals, ThresholdRulesPublic
from service.thresholds import ThresholdRules, effect_line, yaml_lines

router = APIRouter(tags=["thresholds"])

NOTE = (
    "proposals only raise a threshold: the service sees only what the edge sent, never the detections "
    "below the edge's threshold, so it cannot tell what a lower one would add"
)


@router.get(
    "/api/v1/thresholds/proposals",
    response_model=ThresholdProposals,
    summary="Per-camera score-threshold proposals from confirmed and false-detection reviews (supervisor)",
)
def threshold_proposals(
    state: StateDep,
    session: SessionDep,
    principal: ThresholdReader,
    days: Annotated[int | None, Query(ge=1, le=365)] = None,
) -> ThresholdProposals:
    rules = ThresholdRules.of(state.settings)
    if days is not None:
        rules = dataclasses.replace(rules, days=days)
    now = utcnow()
    found = crud.proposals(session, rules, now=now)
    items = [
        ThresholdProposalPublic(
            camera_id=p.camera_id,
            label=p.label,
            current=p.current,
            proposed=p.proposed,
            confirmed=p.confirmed,
            false=p.false,
            removed=p.removed,
            lost=p.lost,
            effect=effect_line(p),
            violations=list(p.violations),
            confirmed_scores=list(p.confirmed_scores),
            false_scores=list(p.false_scores),
        )
        for p in found
    ]
    return ThresholdProposals(
        items=items,
        count=len(items),
        rules=ThresholdRulesPublic.model_validate(dataclasses.asdict(rules)),
        since=now - dt.timedelta(days=rules.days),
        yaml=yaml_lines(found),
        note=NOTE,
    )
