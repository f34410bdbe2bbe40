"""The site config: cameras, zones, shops, rules, model, device and uplink.

The keys of ``configs/site.example.yaml`` are a contract (the design's site-config example): this
module may add keys, never rename them. Unknown keys are errors. :func:`load_site_config` reports
*every* problem as ``FILE: cameras[0].zones[1].polygon: why`` through :class:`ConfigError`.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from detector.config_paths import resolve_paths
from detector.errors import ConfigError, ConfigProblem
from nce.hits import Violation

DETECTOR_CLASSES: tuple[str, ...] = (
    "stall",
    "goods",
    "umbrella",
    "banner",
    "ad_board",
    "poster",
    "garbage",
    "person",
)


ZoneKind = Literal["shop_frontage", "sidewalk", "road", "no_ads"]
ZONE_KINDS: tuple[str, ...] = ("shop_frontage", "sidewalk", "road", "no_ads")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _parse_hhmm(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 18:00 as the sexagesimal integer 1080
        hours, minutes = divmod(value, 60)
        if 0 <= hours < 24:
            return dt.time(hours, minutes)
    if isinstance(value, str):
        m = _HHMM.match(value.strip())
        if m:
            return dt.time(int(m.group(1)), int(m.group(2)))
    raise ValueError(f'expected a time of day "HH:MM" (00:00..23:59), got {value!r}')


def _check_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(
            f"expected an id of 1-64 letters, digits, '.', '_' or '-' (not starting with a symbol), "
            f"got {value!r}"
        )
    return value


TimeOfDay = Annotated[dt.time, Field(description='local time of day, "HH:MM"')]
Id = Annotated[str, AfterValidator(_check_id)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TimeWindow(_Model):
    """A daily window ``from``..``to`` in local time; ``to`` before ``from`` crosses midnight."""

    start: TimeOfDay = Field(alias="from")
    end: TimeOfDay = Field(alias="to")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _time(cls, value: Any) -> dt.time:
        return _parse_hhmm(value)

    def contains(self, t: dt.time) -> bool:
        if self.start == self.end:
            return True  # a full day
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


def _all_weekdays() -> list[Weekday]:
    return ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Exemption(TimeWindow):
    """Allowed outdoor trading (外摆位): no hits inside this window on these days."""

    days: list[Weekday] = Field(
        default_factory=_all_weekdays,
        min_length=1,
        description="weekdays, mon..sun",
    )
    note: str | None = None

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        if isinstance(value, list):
            out = []
            for d in value:
                key = str(d).strip().lower()[:3]
                if key not in WEEKDAYS:
                    raise ValueError(f"expected weekdays among {', '.join(WEEKDAYS)}, got {d!r}")
                out.append(key)
            return out
        return value

    def applies(self, when: dt.datetime) -> bool:
        """Whether local time ``when`` falls inside the exemption.

        A window that crosses midnight belongs to the day it starts on.
        """
        t = when.time()
        day = WEEKDAYS[when.weekday()]
        if self.start < self.end or self.start == self.end:
            return day in self.days and self.contains(t)
        if t >= self.start:
            return day in self.days
        if t < self.end:
            yesterday = WEEKDAYS[(when.weekday() - 1) % 7]
            return yesterday in self.days
        return False


class Site(_Model):
    id: Id
    name: str
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"expected an IANA time zone such as Asia/Shanghai, got {value!r}") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


# The detection threshold `nce run` applies unless a site sets `model.conf`; `nce detect` and
# `nce model fpcheck` default to it too (Ultralytics' predict default, 0.25, is what the library class
# and the precision/recall columns of `nce model eval` use, for comparison with Ultralytics).
DEFAULT_CONF = 0.35


class ModelSettings(_Model):
    path: Path = Field(description="an Ultralytics detect export (.onnx)")
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"], min_length=1)
    conf: float = Field(
        DEFAULT_CONF, gt=0.0, le=1.0, description="detection score threshold (the product's default: 0.35)"
    )
    iou: float = Field(0.5, gt=0.0, le=1.0)
    allow_fallback: bool = Field(
        False, description="warn instead of failing when a provider asked for is not in use"
    )
    intra_op_threads: int = Field(0, ge=0, description="ONNX Runtime intra-op threads (0: default)")
    inter_op_threads: int = Field(0, ge=0, description="ONNX Runtime inter-op threads (0: default)")
    max_batch: int = Field(8, ge=1, le=64, description="most frames in one inference batch")
    rect: bool | None = Field(
        None,
        description=(
            "letterbox each batch to the smallest stride multiple that holds its frames (Ultralytics' "
            "rect; 768x576 at 384 → 288x384) instead of the square imgsz; null: on for a dynamic-shape "
            "export, off for a static one (true there is an error)"
        ),
    )


class Shop(_Model):
    """One entry of the 一店一码 registry."""

    id: Id
    name: str
    code: str = Field(description="the shop's 一店一码")
    license_no: str | None = None
    address: str | None = None
    contact: str | None = None


class Location(_Model):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    address: str | None = None


class Zone(_Model):
    id: Id
    kind: ZoneKind
    shop_id: str | None = None
    polygon: list[tuple[float, float]] = Field(description="points as fractions of the frame (0..1)")
    exemptions: list[Exemption] = Field(default_factory=list)
    name: str | None = None

    @field_validator("polygon", mode="before")
    @classmethod
    def _polygon(cls, value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError(f"expected a list of [x, y] points, got {type(value).__name__}")
        if len(value) < 3:
            raise ValueError(f"expected at least 3 points, got {len(value)}")
        for i, point in enumerate(value):
            if not isinstance(point, list | tuple) or len(point) != 2:
                raise ValueError(f"point {i}: expected [x, y], got {point!r}")
            for v in point:
                if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                    raise ValueError(f"point {i}: expected numbers, got {point!r}")
                if not 0.0 <= float(v) <= 1.0:
                    raise ValueError(
                        f"point {i} {list(point)} is outside the frame: coordinates are fractions 0..1"
                    )
        if _polygon_area(value) <= 1e-9:
            raise ValueError("the polygon has no area (its points are on one line)")
        return value


def _polygon_area(points: list[Any]) -> float:
    area = 0.0
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True):
        area += float(x1) * float(y2) - float(x2) * float(y1)
    return abs(area) / 2.0


class Camera(_Model):
    id: Id
    name: str
    source: str = Field(description="rtsp:// URL or a video file path")
    location: Location | None = None
    detect_fps: float = Field(2.0, gt=0.0, le=30.0)
    recheck_s: float = Field(
        10.0, gt=0.0, description="re-infer at least this often even when the change gate sees nothing"
    )
    enabled: bool = True
    zones: list[Zone] = Field(default_factory=list)


class Rule(_Model):
    violation: Violation
    zone_kinds: list[ZoneKind] = Field(min_length=1)
    classes: list[str] = Field(min_length=1)
    min_dwell_s: float = Field(300.0, ge=0.0, description="presence needed before a hit confirms")
    active_hours: TimeWindow | None = None
    cooldown_s: float = Field(1800.0, ge=0.0, description="same zone + violation: one hit per cooldown")
    grace_s: float = Field(
        30.0,
        ge=0.0,
        description="gaps (occlusion) up to this long do not reset dwell; empty this long clears",
    )
    min_score: float = Field(0.0, ge=0.0, le=1.0)
    min_area_px: float = Field(0.0, ge=0.0, description="smallest box area in square pixels")
    update_interval_s: float = Field(60.0, gt=0.0, description="rate of still_present updates")

    @field_validator("classes")
    @classmethod
    def _classes(cls, value: list[str]) -> list[str]:
        for c in value:
            if not c or not c.strip():
                raise ValueError("expected class names, got an empty one")
        return value


class Device(_Model):
    id: Id
    key_file: Path


class Uplink(_Model):
    service_url: str
    token_file: Path
    timeout_s: float = Field(30.0, gt=0.0)
    outbox_file: Path | None = Field(
        None, description="the edge outbox (SQLite); default var/outbox/<device id>.sqlite"
    )
    data_dir: Path | None = Field(
        None,
        description="without --out: hits.jsonl and evidence/ of delivered runs; default var/edge/<device id>",
    )
    drain_s: float = Field(10.0, ge=0.0, description="at shutdown, seconds the relay may still deliver")
    retry_base_s: float = Field(1.0, gt=0.0, description="first retry delay (doubles, with jitter)")
    retry_max_s: float = Field(60.0, gt=0.0, description="longest retry delay")
    poison_after_5xx: int = Field(
        8,
        ge=1,
        description=(
            "set an item aside (poisoned) after the service answered it with the same 5xx this many "
            "times in a row (502/503/504 and network errors never count), so the rest of the queue moves"
        ),
    )

    @field_validator("service_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")


class Mqtt(_Model):
    """Live alerts for wall displays (docs/delivery.md): one JSON message per confirmed hit."""

    host: str
    port: int = Field(1883, ge=1, le=65535)
    topic_prefix: str = Field("nce", pattern=r"^[^#+]+$", description="topic: <prefix>/<site>/<camera>/hits")
    qos: Literal[0, 1, 2] = 1
    client_id: str | None = Field(None, description="default nce-edge-<device or site id>")
    tls: bool = False
    username: str | None = None
    password_file: Path | None = None
    queue_size: int = Field(1000, ge=1, description="alerts held while the broker is away; more are dropped")


class EvidenceSettings(_Model):
    """Evidence packages (issue 4; docs/evidence.md)."""

    quota_bytes: int | None = Field(
        None, ge=0, description="most bytes under evidence/; above it delivered packages are pruned"
    )
    jpeg_quality: int = Field(92, ge=90, le=100, description="JPEG quality of stills (>= 90)")
    clip_pre_s: float = Field(5.0, ge=0.0, le=60.0, description="clip seconds before first seen")
    clip_post_s: float = Field(5.0, ge=0.0, le=60.0, description="clip seconds after first seen")
    clip_fps: float = Field(5.0, gt=0.0, le=30.0, description="frame rate of the clip")
    clip_codec: Literal["h264", "vp9"] = Field("h264", description="h264 (MP4) or vp9 (WebM)")
    ocr: bool = Field(True, description="read ad text in illegal_ad crops (needs the ocr extra)")
    font_file: Path | None = Field(None, description="a CJK font for labels; default: found on disk")
    still_present_package_s: float = Field(
        600.0,
        ge=0.0,
        allow_inf_nan=False,
        description=(
            "a signed still_present package (a later still + crop, no clip) at most this often per "
            "confirmed hit that stays: the 'after' evidence past a notice's deadline; 0: none"
        ),
    )

    @field_validator("still_present_package_s", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"expected seconds (a number, 0 for none), got {value!r}")
        return value


class SiteConfig(_Model):
    site: Site
    model: ModelSettings
    shops: list[Shop] = Field(default_factory=list)
    cameras: list[Camera] = Field(min_length=1)
    rules: list[Rule] = Field(min_length=1)
    device: Device | None = None
    uplink: Uplink | None = None
    mqtt: Mqtt | None = None
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings)
    # the folder relative paths are resolved against (detector.config_paths), set when loaded
    _base_dir: Path | None = PrivateAttr(default=None)

    @property
    def base_dir(self) -> Path:
        """The config file's folder (the working directory for a config that came from no file)."""
        return self._base_dir if self._base_dir is not None else Path.cwd()

    def shop(self, shop_id: str | None) -> Shop | None:
        return next((s for s in self.shops if s.id == shop_id), None) if shop_id else None

    def camera(self, camera_id: str) -> Camera:
        return next(c for c in self.cameras if c.id == camera_id)

    def outbox_path(self) -> Path:
        """Where this box keeps its outbox."""
        if self.uplink is not None and self.uplink.outbox_file is not None:
            return self.resolve(self.uplink.outbox_file)
        device = self.device.id if self.device else self.site.id
        return self.resolve(Path("var") / "outbox" / f"{device}.sqlite")

    def edge_data_dir(self) -> Path:
        """Without ``--out``: where ``nce run`` keeps hits.jsonl and evidence/ for delivery."""
        if self.uplink is not None and self.uplink.data_dir is not None:
            return self.resolve(self.uplink.data_dir)
        device = self.device.id if self.device else self.site.id
        return self.resolve(Path("var") / "edge" / device)

    def resolve(self, path: Path) -> Path:
        """A path relative to the config file's folder (:attr:`base_dir`) unless absolute. The
        config's own paths are resolved once when it is loaded; this is for the path defaults."""
        return path if path.is_absolute() else self.base_dir / path


# ---------------------------------------------------------------------------------------------
# Loading and error reporting


def format_loc(loc: Iterable[int | str]) -> str:
    """``("cameras", 0, "zones", 1, "polygon")`` → ``cameras[0].zones[1].polygon``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _pydantic_problems(file: str, exc: ValidationError) -> list[ConfigProblem]:
    problems = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "extra_forbidden":
            msg = "unknown key (not part of the site config)"
        elif not err["type"].startswith("value_error"):
            msg = f"{msg}, got {err.get('input')!r}"
        problems.append(ConfigProblem(file, format_loc(loc), msg))
    return problems


def _duplicates(values: Iterable[str]) -> set[str]:
    return {v for v, n in Counter(values).items() if n > 1}


def cross_check(config: SiteConfig, file: str) -> list[ConfigProblem]:
    """Checks across sections that a single field cannot make."""
    problems: list[ConfigProblem] = []
    shop_ids = {s.id for s in config.shops}
    for dup in sorted(_duplicates(s.id for s in config.shops)):
        idx = [i for i, s in enumerate(config.shops) if s.id == dup][1]
        problems.append(ConfigProblem(file, f"shops[{idx}].id", f"duplicate shop id {dup!r}"))
    for dup in sorted(_duplicates(c.id for c in config.cameras)):
        idx = [i for i, c in enumerate(config.cameras) if c.id == dup][1]
        problems.append(ConfigProblem(file, f"cameras[{idx}].id", f"duplicate camera id {dup!r}"))
    seen_zone: dict[str, str] = {}
    for ci, cam in enumerate(config.cameras):
        for zi, zone in enumerate(cam.zones):
            path = f"cameras[{ci}].zones[{zi}]"
            if zone.id in seen_zone:
                problems.append(
                    ConfigProblem(
                        file, f"{path}.id", f"duplicate zone id {zone.id!r} (also in {seen_zone[zone.id]})"
                    )
                )
            seen_zone.setdefault(zone.id, path)
            if zone.kind == "shop_frontage" and not zone.shop_id:
                problems.append(
                    ConfigProblem(file, f"{path}.shop_id", "a shop_frontage zone must name its shop")
                )
            if zone.shop_id and zone.shop_id not in shop_ids:
                known = ", ".join(sorted(shop_ids)) or "none"
                problems.append(
                    ConfigProblem(
                        file,
                        f"{path}.shop_id",
                        f"unknown shop {zone.shop_id!r} (shops: {known})",
                    )
                )
    if config.uplink is not None and config.device is None:
        problems.append(
            ConfigProblem(
                file, "uplink", "delivery sends signed evidence: set device.id and device.key_file too"
            )
        )
    return problems


def config_warnings(config: SiteConfig) -> list[str]:
    """Things that load but are probably not what was meant."""
    warnings = []
    used_kinds = {z.kind for c in config.cameras for z in c.zones}
    for ri, rule in enumerate(config.rules):
        for k in rule.zone_kinds:
            if k not in used_kinds:
                warnings.append(f"rules[{ri}].zone_kinds: no camera has a zone of kind {k!r}")
    for ci, cam in enumerate(config.cameras):
        if not cam.zones:
            warnings.append(f"cameras[{ci}].zones: camera {cam.id!r} has no zones, so it finds nothing")
    return warnings


def parse_site_config(data: Any, file: str = "<config>", *, base_dir: Path | None = None) -> SiteConfig:
    """Validate already-parsed YAML/JSON data; raise :class:`ConfigError` with every problem.
    Relative paths are resolved against ``base_dir`` (default: the working directory)."""
    if not isinstance(data, dict):
        raise ConfigError(
            [ConfigProblem(file, "", f"expected a mapping at the top level, got {type(data).__name__}")]
        )
    try:
        config = SiteConfig.model_validate(data)
    except ValidationError as exc:
        problems = _pydantic_problems(file, exc)
        raise ConfigError(problems + _cross_check_the_rest(data, exc, file, problems)) from None
    problems = cross_check(config, file)
    if problems:
        raise ConfigError(problems)
    return resolve_paths(config, Path.cwd() if base_dir is None else base_dir)


def _cross_check_the_rest(
    data: dict[str, Any], exc: ValidationError, file: str, known: list[ConfigProblem]
) -> list[ConfigProblem]:
    """The cross-section problems of a file that also has field problems, so one run lists them all.

    The keys that failed are dropped (their defaults stand in) and the rest is validated again, a few
    rounds at most; list items are never dropped, so every path still points into the file as written.
    Where no valid remainder comes out (a required key failed), only the field problems are reported.
    """
    trial: Any = copy.deepcopy(data)
    for _ in range(4):
        for err in exc.errors():
            loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
            if not loc or not isinstance(loc[-1], str):
                return []
            parent = trial
            for part in loc[:-1]:
                try:
                    parent = parent[part]
                except (KeyError, IndexError, TypeError):
                    return []
            if not isinstance(parent, dict) or loc[-1] not in parent:
                return []
            del parent[loc[-1]]
        try:
            config = SiteConfig.model_validate(trial)
        except ValidationError as again:
            exc = again
            continue
        seen = {(p.path, p.message) for p in known}
        return [p for p in cross_check(config, file) if (p.path, p.message) not in seen]
    return []


def load_site_config(path: str | Path) -> SiteConfig:
    """Read and validate a site config file; its relative paths are relative to its folder."""
    file = str(path)
    p = Path(path)
    if not p.is_file():
        raise ConfigError([ConfigProblem(file, "", "no such file")])
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigProblem(file, "", f"not UTF-8 text ({exc.reason})")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigProblem(file, "", f"not valid YAML: {where}{problem}")]) from None
    return parse_site_config(data, file, base_dir=p.parent)
