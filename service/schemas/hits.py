"""Ingest: the answer to a submitted package, and plain hit events (no files).

Signed packages are described by :class:`nce.manifest.Manifest` (the one definition of the contract);
this module only holds the service's own input and output types.
"""

from __future__ import annotations

from pydantic import Field

from nce.hits import HitEvent
from service.schemas.common import Output


class HitAccepted(Output):
    """201 on first delivery; 200 with the same body when the same Idempotency-Key comes again."""

    hit_id: str
    case_id: int | None = Field(description="the case the hit was filed in (null: not a case event)")
    case_status: str | None
    merged: bool = Field(description="true when the hit joined an existing open case")
    chain_gap: bool = Field(default=False, description="a sequence gap before this manifest (flagged)")


# The hit-event body is the shared contract itself (nce.hits), never a second copy.
HitEventIn = HitEvent


class EvidenceFilePublic(Output):
    name: str
    role: str
    sha256: str
    size: int
    mime: str
    url: str = Field(description="GET this to download the bytes")
