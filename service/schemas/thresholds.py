"""Score-threshold proposals as the API shows them (``GET /api/v1/thresholds/proposals``)."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from service.schemas.common import Output


class ThresholdProposalPublic(Output):
    camera_id: str
    label: str = Field(description="the detector class")
    current: float | None = Field(
        description="the least score the edge applied (max of model.conf and the rule's min_score in "
        "the latest manifest); null: unknown"
    )
    proposed: float = Field(description="the proposed least score")
    confirmed: int = Field(description="confirmed cases of this camera and class in the window")
    false: int = Field(description="cases dismissed as false detections (not_violation ones do not count)")
    removed: int = Field(description="false detections scored below the proposal")
    lost: int = Field(description="confirmed cases scored below the proposal")
    effect: str = Field(
        description='e.g. "would have removed 14 of 18 false detections and lost 0 of 25 confirmed"'
    )
    violations: list[str] = Field(description="the rules (by violation) these cases came from")
    confirmed_scores: list[float] = Field(
        description="the data behind it: confirmed cases' scores, ascending"
    )
    false_scores: list[float] = Field(description="false detections' scores, ascending")


class ThresholdRulesPublic(Output):
    min_reviewed: int
    min_removed: float
    max_lost: float
    step: float
    days: int


class ThresholdProposals(Output):
    items: list[ThresholdProposalPublic] = Field(description="by camera, then class")
    count: int
    rules: ThresholdRulesPublic = Field(description="the settings the proposals were made under")
    since: dt.datetime = Field(description="cases first seen from here on count")
    yaml: str = Field(description="rules[].min_score lines to paste into each box's site config")
    note: str = Field(
        description="proposals only raise a threshold: the service never sees what the edge did not send"
    )
