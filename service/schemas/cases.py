"""Cases: public view, list page, detail, review and notice inputs."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from nce.bounds import Text
from nce.vocabulary import Violation
from service.case_status import CaseStatus
from service.legal import LegalBasis
from service.schemas.common import AwareDatetime, Input, Output
from service.schemas.hits import EvidenceFilePublic
from service.schemas.ledger import LedgerEntryPublic
from service.schemas.shops import ShopPublic


class CasePublic(Output):
    id: int
    status: CaseStatus
    violation: str
    original_violation: str | None = Field(description="the violation the edge reported, if corrected")
    site_id: str
    camera_id: str
    zone_id: str
    shop_id: str | None
    first_seen: dt.datetime
    last_seen: dt.datetime
    sightings: int
    hit_count: int
    flags: list[str] = Field(description="e.g. chain_gap: a device's sequence gap before a hit")
    reviewed_by: str | None
    reviewed_at: dt.datetime | None
    review_reason: str | None
    notice_issued_at: dt.datetime | None
    notice_deadline: dt.datetime | None
    cleared_at: dt.datetime | None
    exported_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class CasesPublic(Output):
    items: list[CasePublic]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")


class HitPublic(Output):
    id: int
    hit_id: str
    event: str
    device_id: str
    seq: int | None
    package_id: str | None
    manifest_hash: str | None
    ts: dt.datetime
    received_at: dt.datetime
    chain_gap: bool
    clock_offset_ms: int | None = Field(
        default=None,
        description="the device's clock offset (ms) when it was off by more than 1 s as this arrived "
        "(its times are doubtful); null: the clock was within 1 s, or not measured",
    )
    signed: bool
    after_deadline: bool = Field(
        default=False,
        description=(
            "dated and received after the case's notice deadline: a signed one (still_present or "
            "confirmed package) "
            "holds the 'after' stills of an escalation; the hits before are the 'before' evidence"
        ),
    )
    files: list[EvidenceFilePublic]


class PriorCase(Output):
    id: int
    status: str
    violation: str
    first_seen: dt.datetime


class ShopHistory(Output):
    """The party's record: prior cases (confirmed or later) and whether this is a first offence."""

    prior_cases: list[PriorCase]
    first_offence: bool = Field(description="no earlier confirmed case for this shop and violation")


class RecordedBasis(Output):
    """The ledger entry that recorded the party and the legal basis the case shows (at review, at
    export): from then on a change of the registry or of the legal-basis table does not change them."""

    seq: int
    action: str = Field(description="case_reviewed | case_exported")
    ts: dt.datetime
    legal_basis_id: str | None = Field(description="the legal-basis row's id (the violation)")
    legal_basis_version: str | None = Field(description="sha256:… of the row as recorded")


class CaseDetail(Output):
    case: CasePublic
    hits: list[HitPublic] = Field(description="the first page (oldest first); hits_next for the rest")
    party: ShopPublic | None = Field(
        description="as recorded at review (see recorded); before review, the shop registry's row; null when no shop"
    )
    legal_basis: LegalBasis | None
    shop_history: ShopHistory | None
    ledger: list[LedgerEntryPublic] = Field(
        description="the first page (oldest first); ledger_next for the rest"
    )
    recorded: RecordedBasis | None = Field(
        default=None, description="where party and legal_basis come from; null: the registry and table now"
    )
    hits_total: int = Field(default=0, description="how many hits the case has")
    hits_next: str | None = Field(
        default=None, description="GET this for the next page of hits; null at the end"
    )
    hits_next_cursor: str | None = None
    ledger_total: int = Field(default=0, description="how many ledger entries name the case")
    ledger_next: str | None = Field(
        default=None, description="GET this for the next ledger page; null at the end"
    )
    ledger_next_cursor: str | None = None


class HitsPage(Output):
    """``GET /api/v1/cases/{id}/events``: the case's hits, oldest first."""

    items: list[HitPublic]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")
    next: str | None = Field(description="the next page's URL; null at the end")


class LedgerPage(Output):
    """``GET /api/v1/cases/{id}/ledger``: the case's ledger entries, oldest first."""

    items: list[LedgerEntryPublic]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")
    next: str | None = Field(description="the next page's URL; null at the end")


class ReviewIn(Input):
    decision: Literal["confirm", "dismiss"]
    reason: Text | None = Field(default=None, description="required to dismiss")
    violation: Violation | None = Field(default=None, description="the corrected violation, if wrong")
    false_detection: bool = Field(
        default=False,
        description=(
            "dismiss only: the detector saw an object that is not there (or not of that class); the "
            "hit's boxes on the raw stills become hard negatives in the frame pool"
        ),
    )

    @model_validator(mode="after")
    def _reason(self) -> ReviewIn:
        if self.decision == "dismiss" and not (self.reason and self.reason.strip()):
            raise ValueError("a reason is required to dismiss")
        if self.false_detection and self.decision != "dismiss":
            raise ValueError("false_detection: only a dismissal can say the detection was false")
        return self


class RevertIn(Input):
    reason: Text = Field(description="why the review is undone (required; recorded in the ledger)")

    @model_validator(mode="after")
    def _reason(self) -> RevertIn:
        if not self.reason.strip():
            raise ValueError("a reason is required to revert a review")
        return self


class NoticeIn(Input):
    deadline: AwareDatetime = Field(description="correct by then (UTC offset required)")
    note: Text | None = None
