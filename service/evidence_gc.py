"""The evidence store's garbage collection (``nce admin gc-evidence``): objects that no row names.

Writers upload before their transaction (:mod:`service.evidence_store`), so a failed or refused
commit leaves an object behind; this removes it. It never removes an object that a row names
(evidence files, frames, model releases, or any SHA-256 a ledger entry's payload records) and never
one younger than the grace period: its upload may precede a commit still under way (a writer that
finds its bytes already stored renews the object's upload time). The names are read AFTER the
listing, so a row committed during the run still protects its object, and each object's upload time
is read again just before it is deleted, so one uploaded again during the run is kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import NotFound
from service.evidence_store import EvidenceStore, LocalEvidenceStore, StoredObject, is_sha256
from service.models import EvidenceFile, Frame, LedgerEntry
from service.models_fleet import ModelRelease
from service.models_shop_page import PublicStill, ShopResponse

DEFAULT_GRACE_HOURS = 24.0


@dataclass
class GcResult:
    scanned: int = 0
    named: int = 0
    young: int = 0
    removed: list[StoredObject] = field(default_factory=list)
    stale_uploads: int = 0

    @property
    def removed_bytes(self) -> int:
        return sum(o.size for o in self.removed)


def _hashes_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if is_sha256(value):
            yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _hashes_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from _hashes_in(v)


def named_digests(session: Session) -> set[str]:
    """Every SHA-256 a row names: the columns that address the store, and (to be safe) every
    64-hex string in a ledger payload."""
    names: set[str] = set()
    columns = (EvidenceFile.sha256, Frame.sha256, ModelRelease.model_sha256, ModelRelease.card_sha256,
               PublicStill.sha256, ShopResponse.sha256)  # fmt: skip
    for column in columns:
        names.update(d for d in session.execute(select(column).distinct()).scalars() if d is not None)
    for payload in session.execute(select(LedgerEntry.payload).execution_options(yield_per=1000)).scalars():
        names.update(_hashes_in(payload))
    return names


def collect(
    store: EvidenceStore,
    session: Session,
    *,
    older_than_hours: float = DEFAULT_GRACE_HOURS,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    progress: Callable[[StoredObject], None] | None = None,
) -> GcResult:
    """Remove (or with ``dry_run`` only report) the objects no row names and older than the grace."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(hours=older_than_hours)
    result = GcResult()
    candidates: list[StoredObject] = []
    for obj in store.objects():
        result.scanned += 1
        if obj.modified >= cutoff:
            result.young += 1
        else:
            candidates.append(obj)
    named = named_digests(session)  # read after the listing (see the module's note)
    for obj in candidates:
        if obj.sha256 in named:
            result.named += 1
            continue
        if not dry_run:
            try:
                fresh = store.stat(obj.sha256)
            except NotFound:
                continue
            if fresh.modified >= cutoff:  # uploaded again since the listing: a commit may follow
                result.young += 1
                continue
            store.delete(obj.sha256)
        result.removed.append(obj)
        if progress is not None:
            progress(obj)
    if isinstance(store, LocalEvidenceStore):
        stale = store.stale_uploads(cutoff)
        result.stale_uploads = len(stale)
        for path in stale if not dry_run else ():
            path.unlink(missing_ok=True)
    return result
