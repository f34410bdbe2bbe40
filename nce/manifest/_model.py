"""The manifest model (pydantic v2, ``extra="forbid"``), its field rules (safe file names, UTC
times with milliseconds), parsing in normal form only, and its JSON Schema.

Two families of package share the one model, told apart by ``kind``:

- a *hit* package (``violation``, ``cleared``, ``public_copy``): ``zone``, ``violation`` and ``event``
  say which hit it is evidence of; it has no ``sample`` member;
- a *sample* package (``sample``): a raw frame the edge picked to learn from, with the model's
  detections on it and why it was picked (:class:`SampleInfo`); ``zone``, ``violation``, ``event``,
  ``rule``, ``shop_id`` and ``ocr`` are null and ``stills``, ``track`` and ``detections`` are empty
  (the frame's detections are ``sample.detections``): it is evidence of no hit and files no case.

The ``sample`` member is left out of the JSON of every other package (never ``"sample": null``), so
every manifest written before samples existed is still in normal form, with the same signature and
hash.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from nce.bounds import (
    FILE_NAME_MAX,
    INT32_MAX,
    PACKAGE_ID_MAX,
    YEAR_MAX,
    YEAR_MIN,
    Address,
    Count,
    HitId,
    Id,
    Index,
    Int32,
    Label,
    LongText,
    Mime,
    Name,
    Text,
)
from nce.bounds import Sha256Hex as Sha256Hex
from nce.manifest._canonical import canonical_json
from nce.manifest._errors import ManifestError
from nce.vocabulary import EventKind, SampleReason, Violation

SCHEMA_VERSION: Literal[1] = 1
MANIFEST_NAME = "manifest.json"
GENESIS_HASH = "0" * 64


# ---------------------------------------------------------------------------------------------
# Safe names

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def is_safe_name(name: str) -> bool:
    """A file name fit for a package or an upload part: 1-128 of ``A-Z a-z 0-9 . _ -``, starting
    with a letter or digit, no ``..``, no path separators (so it can never leave its folder)."""
    return bool(_SAFE_NAME.match(name)) and ".." not in name


def check_safe_name(name: str) -> str:
    if not is_safe_name(name):
        raise ValueError(
            f"expected a file name of 1-128 letters, digits, '.', '_' or '-' (starting with a letter "
            f"or digit, no '..', no path separators), got {name!r}"
        )
    return name


def _check_file_name(name: str) -> str:
    check_safe_name(name)
    if name == MANIFEST_NAME:
        raise ValueError(f"{MANIFEST_NAME!r} is reserved for the manifest itself")
    return name


_UTC_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _check_utc_ms(value: str) -> str:
    if not _UTC_MS.match(value):
        raise ValueError(f"expected UTC time with milliseconds like 2026-11-26T08:00:00.123Z, got {value!r}")
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"not a valid time: {value!r}") from exc
    if not YEAR_MIN <= t.year <= YEAR_MAX:
        raise ValueError(f"expected a time in the years {YEAR_MIN}-{YEAR_MAX}, got {value!r}")
    return value


SafeName = Annotated[str, Field(min_length=1, max_length=FILE_NAME_MAX), AfterValidator(_check_file_name)]
PackageId = Annotated[str, Field(min_length=1, max_length=PACKAGE_ID_MAX), AfterValidator(check_safe_name)]
UtcMs = Annotated[
    str,
    Field(max_length=24, description="UTC time, ISO 8601 with milliseconds: 2026-11-26T08:00:00.123Z"),
    AfterValidator(_check_utc_ms),
]
Box = tuple[float, float, float, float]
Point = tuple[float, float]

PackageKind = Literal["violation", "cleared", "public_copy", "sample"]
FileRole = Literal["still_raw", "still_annotated", "crop", "clip", "clip_preview", "other"]
ClipSource = Literal["camera_bitstream", "re_encoded"]
StillMoment = Literal["first_seen", "between", "confirmed", "cleared", "later"]


# ---------------------------------------------------------------------------------------------
# The model


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class LocationRef(_M):
    lat: float | None = None
    lon: float | None = None
    address: Address | None = None


class SiteRef(_M):
    id: Id
    name: Name
    timezone: Label = Field(description="IANA time zone of the site (times in the manifest are UTC)")


class CameraRef(_M):
    id: Id
    name: Name
    location: LocationRef | None = None


class ZoneRef(_M):
    id: Id
    kind: Label = Field(description="shop_frontage | sidewalk | road | no_ads")
    name: Name | None = None
    polygon: list[Point] = Field(description="points as fractions of the frame (0..1)")


class RuleRef(_M):
    """The rule's parameters when the hit was decided."""

    classes: list[Label]
    zone_kinds: list[Label]
    min_dwell_s: float
    grace_s: float
    cooldown_s: float
    min_score: float
    min_area_px: float
    active_hours: Label | None = Field(description='"HH:MM-HH:MM" local time, or null for all day')


class EventInfo(_M):
    hit_id: HitId
    event: EventKind = Field(description="the hit event that froze this package")
    ts: UtcMs = Field(description="frame time of that event")
    first_seen: UtcMs
    confirmed_at: UtcMs | None = Field(description="when the hit confirmed (null if it never did)")
    last_seen: UtcMs
    cleared_at: UtcMs | None
    dwell_s: float
    sightings: Count
    track_id: Index | None
    label: Label = Field(description="detector class of the object")
    score: float
    box: Box = Field(description="x1, y1, x2, y2 in frame pixels, at ts")


class Still(_M):
    moment: StillMoment
    frame_utc: UtcMs
    frame_index: Index
    raw: SafeName = Field(description="file name of the raw frame (never drawn on)")
    annotated: SafeName | None = Field(description="file name of the annotated copy")
    box: Box | None = Field(description="the object's box in this frame, if seen")


class ModelRef(_M):
    name: Name
    sha256: Sha256Hex = Field(description="SHA-256 of the model file")
    classes: list[Label]
    conf: float
    iou: float
    providers: list[Label] = Field(description="ONNX Runtime execution providers in use")
    imgsz: tuple[Int32, Int32] | None = Field(description="input height, width")


class SoftwareRef(_M):
    name: Label = "nce"
    version: Label


class DetectionRecord(_M):
    label: Label
    score: float
    box: Box
    track_id: Index | None


class TrackPoint(_M):
    t: UtcMs
    box: Box
    score: float


class OcrLine(_M):
    text: LongText
    score: float
    box: list[Point]


class OcrResult(_M):
    engine: Label | None = Field(description="e.g. rapidocr 3.10.0; null when not run")
    lines: list[OcrLine]
    text: LongText = Field(description="all lines joined by newlines")
    phones: list[Label] = Field(description="phone numbers found in the text, digits only")
    note: Text | None


class FileEntry(_M):
    name: SafeName
    role: FileRole
    sha256: Sha256Hex
    size: Count
    mime: Mime


class ClipInfo(_M):
    """The evidence clip: which file it is, how it was made, and its browser preview if any."""

    file: SafeName = Field(description="the clip (a file of role clip): the evidence")
    codec: Label = Field(description="its video codec: h264, hevc or vp9")
    source: ClipSource = Field(
        description="camera_bitstream: the camera's own packets remuxed, not re-encoded; "
        "re_encoded: encoded on the device from decoded frames"
    )
    preview: SafeName | None = Field(
        None,
        description="an H.264 re-encode of the clip for browsers (a file of role clip_preview), "
        "when the clip's codec is not H.264; a view of the evidence, not the evidence",
    )


class DerivedFrom(_M):
    """For a public copy: the original it was made from."""

    package_id: PackageId
    manifest_hash: Sha256Hex
    method: Text = Field(description="what was changed, e.g. faces and plates blurred")


class NearMiss(_M):
    """For a ``near_miss`` sample: the zone rule that almost fired on this frame, and why it did not."""

    zone_id: Id
    violation: Violation
    why: Literal["score", "dwell"] = Field(
        description=(
            "score: an object of the rule's classes stood in the zone, scored below the rule's min_score; "
            "dwell: a hit opened on this frame and cleared before min_dwell_s (the object left too soon)"
        )
    )


class SampleInfo(_M):
    """A sample package's frame: why it was picked, its size and the model's detections on it."""

    reason: SampleReason = Field(
        description=(
            "low_confidence: a detection scored inside the site's learning.low_conf bounds; near_miss: a "
            "zone rule almost fired (see near_miss); periodic: an ordinary frame, one per camera and "
            "learning.periodic_every_s, with or without detections"
        )
    )
    frame: SafeName = Field(description="file name of the raw frame (JPEG, never drawn on)")
    frame_utc: UtcMs
    frame_index: Index
    width: int = Field(ge=1, le=INT32_MAX, description="frame width in pixels")
    height: int = Field(ge=1, le=INT32_MAX, description="frame height in pixels")
    score_floor: float = Field(
        description="the model reported every detection scored above this (the boxes of a frame are complete down to it)"
    )
    detections: list[DetectionRecord] = Field(
        description="every detection of the model on this frame, in frame pixels (masked ones left out)"
    )
    picked: list[Index] = Field(
        description=(
            "indexes into detections of those that made the frame a sample (the low-scored ones, the "
            "object that almost fired); empty for periodic"
        )
    )
    near_miss: NearMiss | None = Field(description="set exactly when reason is near_miss")


class Signature(_M):
    algorithm: Literal["Ed25519"] = "Ed25519"
    public_key: Label = Field(description="base64 of the raw 32-byte Ed25519 public key")
    key_fingerprint: Sha256Hex = Field(description="hex SHA-256 of the raw public key")
    signature: Annotated[str, Field(max_length=128)] = Field(
        description="base64 of the 64-byte signature over the signing payload"
    )


class HitParts(NamedTuple):
    """What a hit package says of its hit (:meth:`Manifest.hit`)."""

    zone: ZoneRef
    violation: Violation
    event: EventInfo


class Manifest(_M):
    """One evidence package's manifest (``manifest.json``)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    package_id: PackageId
    kind: PackageKind
    device_id: Id
    sequence: int = Field(ge=1, le=INT32_MAX, description="per device, 1, 2, 3, … without gaps")
    prev_manifest_hash: Sha256Hex = Field(
        description="manifest_hash of this device's previous manifest; 64 zeros for the first"
    )
    created_at: UtcMs
    site: SiteRef
    camera: CameraRef
    zone: ZoneRef | None = Field(description="the hit's zone; null exactly for a sample package")
    shop_id: Id | None
    violation: Violation | None = Field(description="the hit's violation; null exactly for a sample package")
    rule: RuleRef | None
    event: EventInfo | None = Field(description="the hit's event; null exactly for a sample package")
    stills: list[Still]
    model: ModelRef | None
    software: SoftwareRef
    detections: list[DetectionRecord] = Field(description="all detections of the deciding sample")
    track: list[TrackPoint] = Field(description="the object's track history, oldest first")
    ocr: OcrResult | None
    notes: list[Text]
    derived_from: DerivedFrom | None
    files: list[FileEntry]
    signature: Signature | None = Field(
        description="null while being built, and for a public copy made without a key"
    )
    sample: SampleInfo | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="a sample package's frame (kind sample only; absent from every other package)",
    )
    clip: ClipInfo | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="the evidence clip and its preview (absent: no clip, or a package from before "
        "this field, whose clip is its file of role clip)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        names = [f.name for f in self.files]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"files: duplicate names {dup}")
        for s in self.stills:
            for ref in (s.raw, s.annotated):
                if ref is not None and ref not in names:
                    raise ValueError(f"stills: {ref!r} is not among files")
        self._check_clip()
        if (self.kind == "public_copy") != (self.derived_from is not None):
            raise ValueError("derived_from is set exactly when kind is public_copy")
        if self.kind == "sample":
            self._check_sample(names)
        else:
            if self.sample is not None:
                raise ValueError("sample is set exactly when kind is sample")
            missing = [n for n in ("zone", "violation", "event") if getattr(self, n) is None]
            if missing:
                raise ValueError(f"a {self.kind} package needs {', '.join(missing)} (null only for a sample)")
        return self

    def _check_clip(self) -> None:
        roles = {f.name: f.role for f in self.files}
        previews = sorted(n for n, r in roles.items() if r == "clip_preview")
        clip = self.clip
        if clip is None:
            if previews:
                raise ValueError(f"files: {previews} are clip previews, but the manifest names no clip")
            return
        if roles.get(clip.file) != "clip":
            raise ValueError(f"clip.file: {clip.file!r} is not among files as a clip")
        if clip.preview is not None and roles.get(clip.preview) != "clip_preview":
            raise ValueError(f"clip.preview: {clip.preview!r} is not among files as a clip_preview")
        if previews != ([clip.preview] if clip.preview is not None else []):
            raise ValueError(f"files: clip previews {previews} are not the clip.preview named")

    def _check_sample(self, names: list[str]) -> None:
        sample = self.sample
        if sample is None:
            raise ValueError("a sample package needs its sample block")
        hit = [
            n
            for n in ("zone", "violation", "event", "rule", "shop_id", "ocr")
            if getattr(self, n) is not None
        ]
        hit += [n for n in ("stills", "track", "detections") if getattr(self, n)]
        if hit:
            raise ValueError(
                f"a sample package is evidence of no hit: {', '.join(hit)} must be empty "
                "(its detections are sample.detections)"
            )
        if sample.frame not in names:
            raise ValueError(f"sample.frame: {sample.frame!r} is not among files")
        bad = [i for i in sample.picked if not 0 <= i < len(sample.detections)]
        if bad:
            raise ValueError(f"sample.picked: {bad} are not indexes of sample.detections")
        if (sample.reason == "near_miss") != (sample.near_miss is not None):
            raise ValueError("sample.near_miss is set exactly when sample.reason is near_miss")

    def file(self, name: str) -> FileEntry | None:
        return next((f for f in self.files if f.name == name), None)

    def hit(self) -> HitParts:
        """The zone, violation and event of a hit package (every kind but ``sample``, which the
        model guarantees to carry them); :class:`ManifestError` for a sample package."""
        if self.zone is None or self.violation is None or self.event is None:
            raise ManifestError(f"a {self.kind} package is evidence of no hit")
        return HitParts(self.zone, self.violation, self.event)

    def to_json_bytes(self) -> bytes:
        """The bytes of ``manifest.json``: the canonical form (so the file hashes reproducibly)."""
        return canonical_json(self.model_dump(mode="json"))
