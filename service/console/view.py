"""What the case page shows, built from the API's :class:`CaseDetail` plus the manifests as received."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from service.schemas.cases import CaseDetail, HitPublic
from service.schemas.ledger import LedgerEntryPublic

MAX_STILLS = 6
TIMELINE_HEAD, TIMELINE_TAIL = 10, 50  # a case seen for days has hundreds of still_present updates


@dataclass(frozen=True)
class StillView:
    moment: str
    frame_utc: dt.datetime | None
    raw_url: str
    annotated_url: str | None
    package_id: str | None


@dataclass(frozen=True)
class ClipView:
    url: str
    mime: str
    package_id: str | None
    ts: dt.datetime


@dataclass
class CaseView:
    detail: CaseDetail
    stills: list[StillView] = field(default_factory=list)
    clips: list[ClipView] = field(default_factory=list)
    timeline: list[HitPublic] = field(default_factory=list)
    timeline_hidden: int = 0
    zone_points: str | None = None
    zone_kind: str | None = None
    zone_name: str | None = None
    camera_name: str | None = None
    site_name: str | None = None
    label: str | None = None
    score: float | None = None
    dwell_s: float | None = None
    model: str | None = None  # "name (sha256 prefix)" of the model that decided
    ocr_text: str | None = None  # text read off an ad, if OCR ran
    ocr_phones: list[str] = field(default_factory=list)


def _time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _points(polygon: Any) -> str | None:
    if not isinstance(polygon, list) or len(polygon) < 3:
        return None
    try:
        pts = [(float(p[0]), float(p[1])) for p in polygon]
    except (TypeError, ValueError, IndexError):
        return None
    return " ".join(f"{x:.4f},{y:.4f}" for x, y in pts)


def _stills_of(hit: HitPublic, manifest: dict[str, Any]) -> list[StillView]:
    by_name = {f.name: f for f in hit.files}
    out: list[StillView] = []
    for s in manifest.get("stills") or []:
        if not isinstance(s, dict):
            continue
        raw = by_name.get(str(s.get("raw")))
        if raw is None:
            continue
        ann = by_name.get(str(s.get("annotated"))) if s.get("annotated") else None
        out.append(
            StillView(
                moment=str(s.get("moment") or "later"),
                frame_utc=_time(s.get("frame_utc")),
                raw_url=raw.url,
                annotated_url=ann.url if ann else None,
                package_id=hit.package_id,
            )
        )
    if not out:  # a package without a stills list: show its image files as they are
        for f in hit.files:
            if f.role in ("still_raw", "still_annotated") and not f.name.endswith(".annotated.jpg"):
                out.append(StillView("later", hit.ts, f.url, None, hit.package_id))
    return out


def build(detail: CaseDetail, manifests: dict[int, dict[str, Any]]) -> CaseView:
    view = CaseView(detail=detail, timeline=list(detail.hits))
    if len(detail.hits) > TIMELINE_HEAD + TIMELINE_TAIL:
        view.timeline = detail.hits[:TIMELINE_HEAD] + detail.hits[-TIMELINE_TAIL:]
        view.timeline_hidden = len(detail.hits) - TIMELINE_HEAD - TIMELINE_TAIL
    packages = [h for h in detail.hits if h.event != "public_copy"]
    stills: list[StillView] = []
    seen: set[str] = set()
    for hit in packages:
        for s in _stills_of(hit, manifests.get(hit.id, {})):
            if s.raw_url not in seen:
                seen.add(s.raw_url)
                stills.append(s)
    if len(stills) > MAX_STILLS:  # the opening evidence and the latest
        stills = stills[: MAX_STILLS // 2] + stills[-(MAX_STILLS // 2) :]
    view.stills = stills
    for hit in reversed(packages):
        for f in hit.files:
            if f.role == "clip":
                view.clips.append(ClipView(f.url, f.mime, hit.package_id, hit.ts))
    latest = next((manifests[h.id] for h in reversed(packages) if h.id in manifests), None)
    if latest is not None:
        zone = latest.get("zone") or {}
        view.zone_points = _points(zone.get("polygon"))
        view.zone_kind = zone.get("kind")
        view.zone_name = zone.get("name")
        view.camera_name = (latest.get("camera") or {}).get("name")
        view.site_name = (latest.get("site") or {}).get("name")
        event = latest.get("event") or {}
        view.label = event.get("label") or None
        score = event.get("score")
        view.score = float(score) if isinstance(score, int | float) else None
        dwell = event.get("dwell_s")
        view.dwell_s = float(dwell) if isinstance(dwell, int | float) else None
        model = latest.get("model") or {}
        if model.get("name"):
            view.model = f"{model['name']} ({str(model.get('sha256') or '')[:12]})"
        ocr = latest.get("ocr") or {}
        view.ocr_text = (ocr.get("text") or "").strip() or None
        view.ocr_phones = [str(p) for p in ocr.get("phones") or []]
    return view


LEDGER_KEYS = (
    "decision",
    "reason",
    "violation",
    "deadline",
    "note",
    "event",
    "package_id",
    "sequence",
    "why",
)


def ledger_detail(entry: LedgerEntryPublic, label: Callable[[str, str], str]) -> list[str]:
    """The parts of a ledger payload worth a glance (the full payload is hashed, not shown).

    ``label(kind, value)`` names a status or a violation in the page's language.
    """
    p = entry.payload
    out: list[str] = []
    if p.get("from") or p.get("to"):
        out.append(
            f"{label('status', str(p.get('from') or '—'))} → {label('status', str(p.get('to') or '—'))}"
        )
    for key in LEDGER_KEYS:
        value = p.get(key)
        if value is None or value == "":
            continue
        if key == "violation" and isinstance(value, dict):
            out.append(
                f"{label('violation', str(value.get('from')))} → {label('violation', str(value.get('to')))}"
            )
        elif key == "decision":
            continue  # the status change says it
        else:
            out.append(f"{key}: {str(value)[:200]}")
    return out
