"""Learned masks: a proposal as the API shows it, a page of them, and a supervisor's decision.

Polygons and boxes are fractions 0..1 of the frame (x right, y down), like the site config's zones
and ``cameras[].masks`` (``detector.config.masks.Mask``).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, field_validator

from nce.bounds import Text
from service.schemas.common import Input, Output

MaskStatus = Literal["proposed", "accepted", "rejected"]
MASK_STATUSES: tuple[MaskStatus, ...] = ("proposed", "accepted", "rejected")


class MaskEvidence(Output):
    """One dismissed box a proposal rests on."""

    case_id: int
    frame_id: int | None = Field(
        description="the still in the frame pool (its image: /api/v1/frames/{id}/image)"
    )
    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 as fractions of the still")
    at: dt.datetime = Field(description="when the case was dismissed as a false detection")


class MaskProposalPublic(Output):
    id: int
    camera_id: str
    classes: list[str] = Field(description="the detector classes the mask drops (one per proposal)")
    status: MaskStatus
    polygon: list[tuple[float, float]] = Field(description="[[x, y], …] fractions 0..1, as cameras[].masks")
    case_ids: list[int] = Field(description="the cases dismissed as false detections at this place")
    dismissals: int = Field(description="how many distinct cases")
    first_at: dt.datetime
    last_at: dt.datetime
    evidence: list[MaskEvidence]
    created_at: dt.datetime
    updated_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    reason: str | None
    decision_seq: int | None = Field(description="the ledger entry of the decision")


class MasksPage(Output):
    items: list[MaskProposalPublic] = Field(description="newest first")
    count: int


class RecomputeResult(Output):
    created: list[int] = Field(description="ids of new proposals")
    updated: list[int] = Field(description="ids of open proposals that gained dismissals")


class MaskDecisionIn(Input):
    reason: Text | None = Field(default=None, description="why (required to reject)")

    @field_validator("reason")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class MaskRejectIn(Input):
    reason: Text = Field(description="why the place is not to be masked (required)")

    @field_validator("reason")
    @classmethod
    def _required(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a reason is required to reject")
        return value.strip()
