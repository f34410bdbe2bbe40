"""Replay the ledger into the state the tables must hold, and name every difference.

The hash chain (:func:`service.ledger.verify`) proves that the ledger was not edited; this module
proves that the tables agree with it. It reads the ledger in order and builds, per case, the state the
entries say the case has (``payload["case"]``, :mod:`service.snapshots`), its packages and their files
(``hit_ingested``, and ``sample_ingested`` of packages in no case: manifest hash, package id, every
file's SHA-256) and its plain events (``hit_event``), and per shop the registry row
(``shop_created|updated|deleted``). Then it compares that with ``cases``, ``hit_events``,
``evidence_files`` and ``shops`` and reports each difference on one line, naming the entry that says
otherwise::

    case 12: status is 'confirmed' in cases, ledger says 'dismissed' (entry 57)
    case 12: evidence file sha256 ab12… (clip.mp4 of package edge-01-00000007) not in the ledger

Entries written before the ledger recorded case state (no ``payload["case"]``) are replayed for what
they carry: the status (``to``), the reviewer (the actor), the review reason, a corrected violation, a
notice's deadline, packages, files and events. What they do not carry is listed as not checked, never
reported as a difference.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nce.times import utc_ms
from service.models import Case, EvidenceFile, HitEventRow, LedgerEntry, Shop
from service.snapshots import CASE_FIELDS, case_state

SHOP_FIELDS: tuple[str, ...] = ("name", "code", "license_no", "address", "contact")
MANIFEST_FILE = "manifest.json"
# the entries that record an accepted package (a sample package files no case: service.crud.ingest)
PACKAGE_ACTIONS = ("hit_ingested", "sample_ingested")
# what an entry written before case-state snapshots may have changed without recording it
_LEGACY_UNRECORDED: dict[str, tuple[str, ...]] = {
    "hit_ingested": (
        "first_seen",
        "last_seen",
        "sightings",
        "hit_count",
        "flags",
        "cleared_at",
        "last_seen_after_deadline",
    ),
    "case_reviewed": ("reviewed_at",),
    "notice_issued": ("notice_issued_at",),
    "case_exported": ("exported_at",),
    "case_escalated": (),
    "case_corrected": (),
}
_LEGACY_UNRECORDED["hit_event"] = _LEGACY_UNRECORDED["hit_ingested"]
# a case filed by the old code: a draft, nothing reviewed, noticed or exported yet
_LEGACY_FILED: dict[str, Any] = {
    "status": "draft",
    "original_violation": None,
    "reviewed_by": None,
    "reviewed_at": None,
    "review_reason": None,
    "notice_issued_at": None,
    "notice_deadline": None,
    "exported_at": None,
}


@dataclass(frozen=True)
class Difference:
    """One way the tables disagree with the ledger."""

    message: str
    case_id: int | None = None
    shop_id: str | None = None
    seq: int | None = None  # the entry that says otherwise; None when the ledger has nothing
    field: str | None = None


@dataclass(frozen=True)
class ReplayResult:
    cases: int
    packages: int
    events: int
    shops: int
    differences: list[Difference]
    unchecked: list[str]

    @property
    def ok(self) -> bool:
        return not self.differences


@dataclass
class _Package:
    seq: int
    case_id: int | None
    package_id: str
    files: dict[str, str]  # name -> sha256 (manifest.json too, when the entry recorded it)


@dataclass
class _CaseLedger:
    first_seq: int
    last_seq: int = 0
    state: dict[str, tuple[Any, int]] = field(default_factory=dict)  # field -> (value, entry)


@dataclass
class _Replay:
    cases: dict[int, _CaseLedger] = field(default_factory=dict)
    packages: dict[str, _Package] = field(default_factory=dict)  # manifest hash -> package
    # (case, device, hit, event, ts) -> the entries that recorded such an event
    events: dict[tuple[Any, ...], list[int]] = field(default_factory=lambda: defaultdict(list))
    shops: dict[str, dict[str, tuple[Any, int]]] = field(default_factory=dict)
    shop_seen: dict[str, int] = field(default_factory=dict)  # deleted shops too: the last entry


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"'{value}'"
    return str(value)


def _set(state: dict[str, tuple[Any, int]], name: str, value: Any, seq: int) -> None:
    """Record a field's value; a value that did not change keeps the entry that set it."""
    old = state.get(name)
    if old is None or old[0] != value:
        state[name] = (value, seq)


def _entries(session: Session) -> Iterator[LedgerEntry]:
    yield from session.execute(
        select(LedgerEntry).order_by(LedgerEntry.seq).execution_options(yield_per=500)
    ).scalars()


def _replay_case(r: _Replay, e: LedgerEntry, case_id: int) -> None:
    p = e.payload
    c = r.cases.get(case_id)
    if c is None:
        c = r.cases[case_id] = _CaseLedger(first_seq=e.seq)
        if not isinstance(p.get("case"), dict):  # an old entry: the first one filed the case
            for name, value in _LEGACY_FILED.items():
                _set(c.state, name, value, e.seq)
    c.last_seq = e.seq
    snapshot = p.get("case")
    if isinstance(snapshot, dict):
        for name in CASE_FIELDS:
            _set(c.state, name, snapshot.get(name), e.seq)
        return
    # an entry written before the ledger recorded case state: what it carries
    for name in _LEGACY_UNRECORDED.get(e.action, CASE_FIELDS):
        c.state.pop(name, None)
    if isinstance(p.get("to"), str):
        _set(c.state, "status", p["to"], e.seq)
    if e.action == "case_reviewed":
        if e.actor.startswith("user:"):
            _set(c.state, "reviewed_by", e.actor.removeprefix("user:"), e.seq)
        _set(c.state, "review_reason", p.get("reason"), e.seq)
        corrected = p.get("violation")
        if isinstance(corrected, dict):
            _set(c.state, "violation", corrected.get("to"), e.seq)
            _set(c.state, "original_violation", corrected.get("from"), e.seq)
        else:
            _set(c.state, "original_violation", None, e.seq)
    elif e.action == "notice_issued" and isinstance(p.get("deadline"), str):
        _set(c.state, "notice_deadline", p["deadline"], e.seq)


def _replay_entry(r: _Replay, e: LedgerEntry) -> None:
    p = e.payload
    if e.case_id is not None:
        _replay_case(r, e, e.case_id)
    if e.action in PACKAGE_ACTIONS and isinstance(p.get("manifest_hash"), str):
        files = {str(k): str(v) for k, v in (p.get("files") or {}).items()}
        if isinstance(p.get("manifest_sha256"), str):
            files[MANIFEST_FILE] = p["manifest_sha256"]
        r.packages[p["manifest_hash"]] = _Package(e.seq, e.case_id, str(p.get("package_id")), files)
    elif e.action == "hit_event":
        device = e.actor.removeprefix("device:")
        r.events[(e.case_id, device, p.get("hit_id"), p.get("event"), p.get("ts"))].append(e.seq)
    elif e.action == "shop_created" and isinstance(p.get("shop_id"), str):
        r.shops[p["shop_id"]] = {name: (p.get(name), e.seq) for name in SHOP_FIELDS}
        r.shop_seen[p["shop_id"]] = e.seq
    elif e.action == "shop_updated" and isinstance(p.get("shop_id"), str):
        row = r.shops.setdefault(p["shop_id"], {})
        for name in SHOP_FIELDS:
            if name in p:
                _set(row, name, p[name], e.seq)
        r.shop_seen[p["shop_id"]] = e.seq
    elif e.action == "shop_deleted" and isinstance(p.get("shop_id"), str):
        r.shops.pop(p["shop_id"], None)
        r.shop_seen[p["shop_id"]] = e.seq


def _compare_cases(session: Session, r: _Replay, out: list[Difference]) -> Counter[str]:
    """Each case row against its replayed state; returns, per field, how many cases it went unchecked."""
    unchecked: Counter[str] = Counter()
    seen: set[int] = set()
    for case in session.execute(select(Case).order_by(Case.id).execution_options(yield_per=500)).scalars():
        seen.add(case.id)
        c = r.cases.get(case.id)
        if c is None:
            out.append(Difference(f"case {case.id}: in cases, but no ledger entry names it", case.id))
            continue
        table = case_state(case)
        for name in CASE_FIELDS:
            if name not in c.state:
                unchecked[name] += 1
                continue
            want, seq = c.state[name]
            have = table.get(name)
            if have != want:
                out.append(
                    Difference(
                        f"case {case.id}: {name} is {_show(have)} in cases, ledger says {_show(want)} "
                        f"(entry {seq})",
                        case.id,
                        seq=seq,
                        field=name,
                    )
                )
    for case_id, c in sorted(r.cases.items()):
        if case_id not in seen:
            out.append(
                Difference(
                    f"case {case_id}: in the ledger (entries {c.first_seq}–{c.last_seq}), missing from cases",
                    case_id,
                    seq=c.first_seq,
                )
            )
    return unchecked


def _where(case_id: int | None) -> str:
    return f"case {case_id}" if case_id is not None else "no case"


def _compare_packages(session: Session, r: _Replay, out: list[Difference]) -> int:
    """Packages (hit events with a manifest) and their files; returns how many manifest.json copies
    could not be checked (their entries did not record the stored manifest's SHA-256)."""
    files: dict[int, dict[str, str]] = defaultdict(dict)
    for event_id, name, sha in session.execute(
        select(EvidenceFile.event_id, EvidenceFile.name, EvidenceFile.sha256).execution_options(
            yield_per=2000
        )
    ):
        files[int(event_id)][str(name)] = str(sha)
    unchecked_manifests = 0
    seen: set[str] = set()
    rows = session.execute(
        select(HitEventRow.id, HitEventRow.case_id, HitEventRow.package_id, HitEventRow.manifest_hash)
        .where(HitEventRow.manifest_hash.is_not(None))
        .order_by(HitEventRow.id)
    ).all()
    for event_id, case_id, package_id, m_hash_or_none in rows:
        m_hash = str(m_hash_or_none)
        seen.add(m_hash)
        pkg = r.packages.get(m_hash)
        label = f"package {package_id}"
        if pkg is None:
            out.append(
                Difference(
                    f"{_where(case_id)}: {label} (manifest {m_hash[:12]}…) in hit_events, not in the ledger",
                    case_id,
                )
            )
            continue
        if pkg.case_id != case_id:
            out.append(
                Difference(
                    f"{_where(case_id)}: {label} is in {_where(case_id)} in hit_events, ledger says "
                    f"{_where(pkg.case_id)} (entry {pkg.seq})",
                    case_id,
                    seq=pkg.seq,
                    field="case_id",
                )
            )
        where = _where(case_id)
        stored = files.get(int(event_id), {})
        for name, sha in sorted(stored.items()):
            want = pkg.files.get(name)
            if want is None and name == MANIFEST_FILE:
                unchecked_manifests += 1
            elif want is None:
                out.append(
                    Difference(
                        f"{where}: evidence file sha256 {sha[:12]}… ({name} of {label}) not in the ledger",
                        case_id,
                        field="evidence",
                    )
                )
            elif want != sha:
                out.append(
                    Difference(
                        f"{where}: evidence file {name} of {label} is sha256 {sha[:12]}… in evidence_files, "
                        f"ledger says {want[:12]}… (entry {pkg.seq})",
                        case_id,
                        seq=pkg.seq,
                        field="evidence",
                    )
                )
        for name, sha in sorted(pkg.files.items()):
            if name not in stored:
                out.append(
                    Difference(
                        f"{where}: evidence file sha256 {sha[:12]}… ({name} of {label}) is in the ledger "
                        f"(entry {pkg.seq}), missing from evidence_files",
                        case_id,
                        seq=pkg.seq,
                        field="evidence",
                    )
                )
    for m_hash, pkg in r.packages.items():
        if m_hash not in seen:
            out.append(
                Difference(
                    f"{_where(pkg.case_id)}: package {pkg.package_id} is in the ledger (entry {pkg.seq}), "
                    "missing from hit_events",
                    pkg.case_id,
                    seq=pkg.seq,
                )
            )
    return unchecked_manifests


def _compare_events(session: Session, r: _Replay, out: list[Difference]) -> int:
    """Plain hit events (no files); returns how many there are."""
    stored: Counter[tuple[Any, ...]] = Counter()
    for case_id, device, hit_id, event, ts in session.execute(
        select(
            HitEventRow.case_id, HitEventRow.device_id, HitEventRow.hit_id, HitEventRow.event, HitEventRow.ts
        ).where(HitEventRow.manifest_hash.is_(None))
    ):
        stored[(case_id, device, hit_id, event, utc_ms(ts))] += 1
    for key in sorted(set(stored) | set(r.events), key=lambda k: (k[0] or 0, str(k[1:]))):
        case_id, device, hit_id, event, ts = key
        have, seqs = stored.get(key, 0), r.events.get(key, [])
        what = f"{_where(case_id)}: event {event} of hit {hit_id} from {device} at {ts}"
        if have > len(seqs):
            out.append(Difference(f"{what} in hit_events, not in the ledger", case_id, field="events"))
        elif have < len(seqs):
            seq = seqs[have]
            out.append(
                Difference(
                    f"{what} is in the ledger (entry {seq}), missing from hit_events",
                    case_id,
                    seq=seq,
                    field="events",
                )
            )
    return sum(stored.values())


def _compare_shops(session: Session, r: _Replay, out: list[Difference]) -> int:
    seen: set[str] = set()
    for shop in session.execute(select(Shop).order_by(Shop.shop_id)).scalars():
        seen.add(shop.shop_id)
        want = r.shops.get(shop.shop_id)
        if want is None:
            why = (
                f"deleted in the ledger (entry {r.shop_seen[shop.shop_id]})"
                if shop.shop_id in r.shop_seen
                else "not in the ledger"
            )
            out.append(Difference(f"shop {shop.shop_id}: in shops, {why}", shop_id=shop.shop_id))
            continue
        for name in SHOP_FIELDS:
            if name not in want:
                continue
            value, seq = want[name]
            have = getattr(shop, name)
            if have != value:
                out.append(
                    Difference(
                        f"shop {shop.shop_id}: {name} is {_show(have)} in shops, ledger says {_show(value)} "
                        f"(entry {seq})",
                        shop_id=shop.shop_id,
                        seq=seq,
                        field=name,
                    )
                )
    for shop_id in sorted(set(r.shops) - seen):
        seq = r.shop_seen[shop_id]
        out.append(
            Difference(
                f"shop {shop_id}: in the ledger (entry {seq}), missing from shops", shop_id=shop_id, seq=seq
            )
        )
    return len(seen)


def replay(session: Session) -> ReplayResult:
    """Replay the whole ledger and compare it with the tables (read only)."""
    r = _Replay()
    for e in _entries(session):
        _replay_entry(r, e)
    out: list[Difference] = []
    unchecked_fields = _compare_cases(session, r, out)
    unchecked_manifests = _compare_packages(session, r, out)
    events = _compare_events(session, r, out)
    shops = _compare_shops(session, r, out)
    unchecked: list[str] = []
    if unchecked_fields:
        listed = ", ".join(f"{name} ({n})" for name, n in sorted(unchecked_fields.items()))
        unchecked.append(
            "not recorded by ledger entries written before the ledger carried case state, so not checked "
            f"(cases per field): {listed}"
        )
    if unchecked_manifests:
        unchecked.append(
            f"{unchecked_manifests} stored manifest.json copies: their entries did not record the stored "
            "bytes' SHA-256 (the signed manifest hash is recorded), so not checked"
        )
    return ReplayResult(
        cases=len(r.cases),
        packages=len(r.packages),
        events=events,
        shops=shops,
        differences=out,
        unchecked=unchecked,
    )


def summary(result: ReplayResult) -> str | None:
    """One line for a verification that found differences (None when there are none)."""
    if result.ok:
        return None
    n = len(result.differences)
    return f"the tables differ from the ledger in {n} place{'s' if n != 1 else ''}; first: {result.differences[0].message}"
