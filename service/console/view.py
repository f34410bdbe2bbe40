"""What the case page shows, built from the API's :class:`CaseDetail` plus the manifests as received."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from service.console.messages import CATALOGUE, Lang, translate, translate_or
from service.schemas.cases import CaseDetail, HitPublic
from service.schemas.ledger import LedgerEntryPublic

REASON_KEYS: tuple[str, ...] = tuple(k for k in CATALOGUE if k.startswith(("reason.", "reason_legacy.")))
# the common reasons a review offers (chips on the case page and the queue's bulk dismissal)
REASON_CODES: tuple[str, ...] = tuple(k.removeprefix("reason.") for k in CATALOGUE if k.startswith("reason."))


def recorded_reason(code: str, text: str) -> str:
    """The reason a review records: the common reason ``code`` (one of :data:`REASON_CODES`, or empty)
    in Chinese whatever the page's language, then the reviewer's own words after "；"."""
    common = translate("zh-CN", f"reason.{code}") if code in REASON_CODES else ""
    return f"{common}；{text}" if common and text else common or text


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
    main_still: StillView | None = None  # shown large, the crop beside it; the rest as a strip
    strip: list[StillView] = field(default_factory=list)
    crop_url: str | None = None
    timeline: list[HitPublic] = field(default_factory=list)  # in the order it happened (event time)
    timeline_hidden: int = 0
    zone_points: str | None = None
    zone_kind: str | None = None
    zone_name: str | None = None
    camera_name: str | None = None
    camera_address: str | None = None
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


def _happened(hits: list[HitPublic]) -> list[HitPublic]:
    """Hits in the order they happened (the device's event time), not the order they arrived: a
    package delivered late from the outbox sits where it belongs."""
    return sorted(hits, key=lambda h: (h.ts, h.id))


def _main_still(stills: list[StillView]) -> StillView | None:
    """The still shown large: the latest confirming one, else the latest."""
    confirmed = [s for s in stills if s.moment == "confirmed"]
    return (confirmed or stills)[-1] if stills else None


def _crop_url(packages: list[HitPublic], package_id: str | None) -> str | None:
    """The object's crop from the main still's package, else the latest package's."""
    crops = [(h.package_id, f.url) for h in packages for f in h.files if f.role == "crop"]
    same = [url for pid, url in crops if package_id is not None and pid == package_id]
    urls = same or [url for _pid, url in crops]
    return urls[-1] if urls else None


def build(detail: CaseDetail, manifests: dict[int, dict[str, Any]]) -> CaseView:
    view = CaseView(detail=detail, timeline=_happened(list(detail.hits)))
    total = max(detail.hits_total, len(detail.hits))  # the hits may be the oldest and the latest only
    if total > TIMELINE_HEAD + TIMELINE_TAIL:
        head, tail = detail.hits[:TIMELINE_HEAD], detail.hits[-TIMELINE_TAIL:]
        view.timeline = _happened(head) + _happened(tail)
        view.timeline_hidden = total - TIMELINE_HEAD - TIMELINE_TAIL
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
    view.main_still = _main_still(stills)
    view.strip = [s for s in stills if s is not view.main_still]
    view.crop_url = _crop_url(packages, view.main_still.package_id if view.main_still else None)
    for hit in reversed(packages):
        # an H.265 clip (the evidence) comes with an H.264 preview that every browser plays
        playable = [f for f in hit.files if f.role == "clip_preview"] or [
            f for f in hit.files if f.role == "clip"
        ]
        for f in playable:
            view.clips.append(ClipView(f.url, f.mime, hit.package_id, hit.ts))
    latest = next((manifests[h.id] for h in reversed(packages) if h.id in manifests), None)
    if latest is not None:
        zone = latest.get("zone") or {}
        view.zone_points = _points(zone.get("polygon"))
        view.zone_kind = zone.get("kind")
        view.zone_name = zone.get("name")
        view.camera_name = (latest.get("camera") or {}).get("name")
        view.camera_address = ((latest.get("camera") or {}).get("location") or {}).get("address")
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


class Words(Protocol):
    """What wording a ledger entry needs from the page (:class:`service.console.render.Page` has it)."""

    @property
    def lang(self) -> Lang: ...

    def t(self, key: str, **values: object) -> str: ...

    def when(self, t: dt.datetime | None, seconds: bool = False) -> str: ...


@dataclass(frozen=True)
class LedgerPart:
    """One fact of a ledger entry in the page's language; ``title`` (a tooltip) keeps the recorded value."""

    text: str
    title: str | None = None


# the payload fields shown, in this order, and how each value is worded: every one has a catalogue
# label ``ledger.field.<name>`` in both languages (tests check)
LEDGER_FIELDS: dict[str, str] = {
    "violation": "violation",  # {"from": …, "to": …} when corrected on review
    "reason": "reason",  # the operator's words, recorded in Chinese (a common reason first, if chosen)
    "deadline": "time",
    "note": "text",
    "event": "event",
    "ts": "time",
    "why": "why",  # "<event> at <time>", written by the ingest before deadlines were the sweeper's
    "seen_after_deadline": "time",  # the signed sighting the sweeper escalated on
    "cleared_at": "time",  # the signed clearance the sweeper corrected on
    "package_id": "id",
    "sequence": "number",
    "chain_gap": "flag",
    "false_detection": "flag",  # a dismissal: the boxes became hard negatives in the frame pool
    "frame_id": "number",  # the frame pool: the frame an entry added or labelled
    "username": "id",  # identities: a person added, disabled, enabled, reset
    "role": "role",
    "name": "id",  # a case system registered, revoked, given a new token
    "key_fingerprint": "id",  # a device enrolled: the key its packages are checked against
    "proposal_id": "number",  # a learned mask accepted or rejected (polygon and cases on the masks page)
    "classes": "classes",
    "dismissals": "number",
    "review_seq": "number",  # a review reverted: the entry undone (service.crud.review_revert)
    "frames_withdrawn": "number",
    "release_id": "id",  # a model release added (nce model release; signed by a release key)
    "model_sha256": "id",
    "gate_verdict": "gate",
    "forced": "flag",
    "offset_ms": "number",  # a device's clock went off or came back (service.fleet)
    "error_ms": "number",
    "canary_cameras": "ids",  # a release assigned to devices (canary cameras), a device's roll-back
    "camera": "id",  # remote settings of one camera
    "enabled": "yesno",
    "min_score": "number",
    "masks": "count",
    "cameras": "ids",
    "delivery": "delivery",  # a notice: by SMS or in person (service.outbox.notice)
    "channel": "channel",
    "phone": "id",  # masked
    "status_code": "number",
    "attempts": "number",
    "error": "text",
    "detail": "text",  # a delivery receipt's
    "receipt_at": "time",
    "case_event": "case_event",  # a webhook to the case system delivered or given up
    "target": "id",  # failed messages sent again
    "count": "number",
    "statement": "text",  # the shop page: a shop's statement (陈述申辩), a link's generation
    "generation": "number",
}
# fields recorded for the hash chain and the export, not worth a glance here (the status change is
# shown from ``from``/``to``; ``decision`` is the same fact; ``case`` is the case's state after the
# entry, ``party``/``legal_basis``/``shop`` the records the case and the export show, see
# service/snapshots.py)
LEDGER_HIDDEN: frozenset[str] = frozenset(
    {"from", "to", "decision", "device_id", "hit_id", "kind", "manifest_hash", "files", "members", "merged"}
    | {"case", "manifest_sha256", "party", "legal_basis", "shop", "devices", "frame_id"}
    | {"sha256", "label_id", "how", "complete", "boxes", "case_id", "camera_id", "source", "pick_reason"}
    | {"origin", "width", "height", "polygon", "cases", "first_at", "last_at"}
    | {"version"}  # an assignment's version (the device's ETag)
    | {"message_id"}  # a notice message's id (the Idempotency-Key; the outbox has it)
    | {"stills", "size", "mime", "shop_id"}  # the shop page: public stills, a correction photo
)
TEXT_MAX = 200
_WHY = re.compile(r"^([a-z_]+) at (.+)$")


def _label(words: Words, kind: str, value: object) -> str:
    """A status, violation or event in the page's language; an unknown value as it was recorded."""
    return translate_or(words.lang, f"{kind}.{value}", str(value))


def _field(words: Words, name: str, value: str, title: str | None = None) -> LedgerPart:
    return LedgerPart(words.t("ledger.field_value", name=words.t(f"ledger.field.{name}"), value=value), title)


def _time_part(words: Words, name: str, value: object) -> LedgerPart:
    t = value if isinstance(value, dt.datetime) else _time(value)
    if t is None:
        return _field(words, name, str(value)[:TEXT_MAX])
    return _field(words, name, words.when(t, seconds=name != "deadline"), str(value))


def _reason(words: Words, value: object) -> LedgerPart:
    """The reason as recorded (Chinese); on an English page a common reason is named in English."""
    text = str(value)
    if words.lang != "zh-CN":
        for key in REASON_KEYS:
            zh = translate("zh-CN", key)
            if text == zh or text.startswith(zh + "；"):
                rest = text[len(zh) + 1 :]
                shown = words.t(key) + (words.t("ledger.list_sep") + rest if rest else "")
                return _field(words, "reason", shown[:TEXT_MAX], text)
    return _field(words, "reason", text[:TEXT_MAX])


def _why(words: Words, value: object) -> LedgerPart:
    m = _WHY.match(str(value))
    t = _time(m.group(2).strip()) if m else None
    if m is None or t is None:
        return _field(words, "why", str(value)[:TEXT_MAX])
    shown = words.t(
        "ledger.why_value", event=_label(words, "event", m.group(1)), when=words.when(t, seconds=True)
    )
    return _field(words, "why", shown, str(value))


def _other_value(words: Words, value: object) -> str:
    if isinstance(value, bool):
        return words.t("ledger.yes" if value else "ledger.no")
    if isinstance(value, dict | list):
        return words.t("ledger.items", n=len(value))
    return str(value)[:80]


def ledger_detail(entry: LedgerEntryPublic, words: Words) -> list[LedgerPart]:
    """The parts of a ledger payload worth a glance, named in the page's language (the full payload is
    hashed, not shown). Field names never show as recorded: a field this console does not know yet is
    summed up under "other", its recorded name and value in the tooltip."""
    p = entry.payload
    out: list[LedgerPart] = []
    if p.get("from") or p.get("to"):
        out.append(
            LedgerPart(
                f"{_label(words, 'status', p.get('from') or '—')} → {_label(words, 'status', p.get('to') or '—')}"
            )
        )
    for key, kind in LEDGER_FIELDS.items():
        value = p.get(key)
        if value is None or value == "" or (value is False and kind != "yesno") or value == []:
            continue
        if kind == "violation":
            if isinstance(value, dict):
                shown = f"{_label(words, 'violation', value.get('from'))} → {_label(words, 'violation', value.get('to'))}"
            else:
                shown = _label(words, "violation", value)
            out.append(_field(words, key, shown))
        elif kind == "reason":
            out.append(_reason(words, value))
        elif kind == "time":
            out.append(_time_part(words, key, value))
        elif kind == "event":
            out.append(_field(words, key, _label(words, "event", value)))
        elif kind == "role":
            out.append(_field(words, key, _label(words, "role", value)))
        elif kind == "classes":
            names = value if isinstance(value, list) else [value]
            shown = words.t("ledger.list_sep").join(_label(words, "class", v) for v in names)
            out.append(_field(words, key, shown))
        elif kind in ("gate", "delivery", "channel", "case_event"):
            out.append(_field(words, key, _label(words, kind, value)))
        elif kind == "why":
            out.append(_why(words, value))
        elif kind == "flag":
            out.append(LedgerPart(words.t(f"ledger.field.{key}")))  # true: the flag's name says it
        elif kind in ("ids", "count", "yesno"):
            shown = _other_value(words, value)  # yes / no, "n items"
            if kind == "ids" and isinstance(value, list):
                shown = words.t("ledger.list_sep").join(str(v) for v in value)
            out.append(_field(words, key, shown))
        else:  # id, number, text: as recorded
            out.append(_field(words, key, str(value)[:TEXT_MAX]))
    others = {k: v for k, v in p.items() if k not in LEDGER_FIELDS and k not in LEDGER_HIDDEN}
    others = {k: v for k, v in others.items() if v is not None and v != ""}
    if others:
        sep = words.t("ledger.list_sep")
        out.append(
            LedgerPart(
                words.t(
                    "ledger.field_value",
                    name=words.t("ledger.field.other"),
                    value=sep.join(_other_value(words, v) for v in others.values()),
                ),
                "; ".join(
                    f"{k}={json.dumps(v, ensure_ascii=False, default=str)[:200]}" for k, v in others.items()
                ),
            )
        )
    return out


def ledger_action(action: str, words: Words) -> LedgerPart:
    """The action in the page's language; one this console does not know yet is "other", its name in
    the tooltip."""
    key = f"action.{action}"
    if key in CATALOGUE:
        return LedgerPart(words.t(key))
    return LedgerPart(words.t("ledger.action_other"), action)
