"""Model releases as the API shows them: the signed record (:class:`nce.release.ReleaseRecord`) and
who added it when."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from nce.release import ReleaseRecord, SignedRelease
from service.schemas.common import Output


class ModelReleasePublic(Output):
    release_id: str
    record: ReleaseRecord = Field(description="the signed record (release.json's record)")
    signed: SignedRelease = Field(description="release.json as stored: the record and its signature")
    added_by: str
    added_at: dt.datetime
    ledger_seq: int = Field(description="the ledger entry model_release_added")


class ModelReleasesPage(Output):
    items: list[ModelReleasePublic]
    count: int
