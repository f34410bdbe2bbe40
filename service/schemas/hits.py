"""Ingest: the answer to a submitted package, and plain hit events (no files).

Signed packages are described by :class:`nce.manifest.Manifest` (the one definition of the contract);
this module only holds the service's own input and output types.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from detector.config import Violation
from service.schemas.common import AwareDatetime, Input, Output


class HitAccepted(Output):
    """201 on first delivery; 200 with the same body when the same Idempotency-Key comes again."""

    hit_id: str
    case_id: int | None = Field(description="the case the hit was filed in (null: not a case event)")
    case_status: str | None
    merged: bool = Field(description="true when the hit joined an existing open case")
    chain_gap: bool = Field(default=False, description="a sequence gap before this manifest (flagged)")


class HitEventIn(Input):
    """A hit event without files (a line of the edge's hits.jsonl: opened, still_present, cleared).

    Unsigned: it updates the sightings of a hit's case but never files a case and never attaches
    evidence; only signed packages (``POST /api/v1/hits``) do.
    """

    event: Literal["opened", "confirmed", "still_present", "cleared"]
    hit_id: str = Field(min_length=1, max_length=128)
    site_id: str = Field(min_length=1, max_length=64)
    camera_id: str = Field(min_length=1, max_length=64)
    zone_id: str = Field(min_length=1, max_length=64)
    shop_id: str | None = Field(default=None, max_length=64)
    violation: Violation
    track_id: int | None = None
    label: str = Field(default="", max_length=64)
    score: float = Field(default=0.0, ge=0.0, le=1.0)
    box: tuple[float, float, float, float] | None = None
    ts: AwareDatetime
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    dwell_s: float = Field(ge=0.0)
    sightings: int = Field(ge=0)


class EvidenceFilePublic(Output):
    name: str
    role: str
    sha256: str
    size: int
    mime: str
    url: str = Field(description="GET this to download the bytes")
