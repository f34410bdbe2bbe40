"""The whole site config (:class:`SiteConfig`) and the checks across its sections."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PrivateAttr, field_validator

from detector.config.base import ConfigModel, Id
from detector.config.camera import Camera
from detector.config.device import Device
from detector.config.evidence import EvidenceSettings
from detector.config.learning import LearningSettings
from detector.config.model import ModelSettings
from detector.config.mqtt import Mqtt
from detector.config.rollout import RolloutSettings
from detector.config.rules import Rule
from detector.config.shops import Shop
from detector.config.uplink import Uplink
from detector.errors import ConfigProblem, UnknownCameraError
from nce.bounds import Label, Name


class Site(ConfigModel):
    """The site this box watches: its id, its name and the time zone its schedules use."""

    id: Id = Field(title="Site id", description="hits, packages and cases name it", examples=["baoshan-demo"])
    name: Name = Field(title="Name", description="a name for people", examples=["宝山区 示范路段"])
    timezone: Label = Field(
        "Asia/Shanghai",
        title="Time zone",
        description="IANA time zone of active_hours and exemptions",
    )

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


class SiteConfig(ConfigModel):
    """A site config: what ``nce config check``, ``nce run`` and ``nce demo`` read."""

    site: Site = Field(title="Site", description="the site this box watches")
    model: ModelSettings = Field(title="Model", description="the detection model and how it runs")
    shops: list[Shop] = Field(
        default_factory=list, title="Shops", description="the 一店一码 registry the zones point at"
    )
    cameras: list[Camera] = Field(min_length=1, title="Cameras", description="the cameras this box reads")
    rules: list[Rule] = Field(
        min_length=1, title="Rules", description="which classes in which zones make which violation"
    )
    device: Device | None = Field(
        None, title="Device", description="this edge box; it signs every evidence package"
    )
    uplink: Uplink | None = Field(
        None,
        title="Uplink",
        description="where hits and evidence go; null: only write files with `nce run --out`",
    )
    mqtt: Mqtt | None = Field(
        None, title="MQTT alerts", description="live alerts for wall displays (docs/delivery.md); null: none"
    )
    evidence: EvidenceSettings = Field(
        default_factory=EvidenceSettings, title="Evidence", description="evidence packages"
    )
    learning: LearningSettings = Field(
        default_factory=LearningSettings,
        title="Learning",
        description="sample packages: frames picked for the service's frame pool (off unless enabled)",
    )
    rollout: RolloutSettings = Field(
        default_factory=RolloutSettings,
        title="Rollout",
        description="model releases and camera settings from the service (off unless enabled)",
    )
    # the folder relative paths are resolved against (detector.config.paths), set when loaded
    _base_dir: Path | None = PrivateAttr(default=None)

    @property
    def base_dir(self) -> Path:
        """The config file's folder (the working directory for a config that came from no file)."""
        return self._base_dir if self._base_dir is not None else Path.cwd()

    def shop(self, shop_id: str | None) -> Shop | None:
        return next((s for s in self.shops if s.id == shop_id), None) if shop_id else None

    def camera(self, camera_id: str) -> Camera:
        """The camera with this id; :class:`UnknownCameraError` when the config has none."""
        for camera in self.cameras:
            if camera.id == camera_id:
                return camera
        known = ", ".join(c.id for c in self.cameras)
        raise UnknownCameraError(f"unknown camera {camera_id!r}; known: {known}")

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
    if config.learning.enabled and config.device is None:
        problems.append(
            ConfigProblem(
                file, "learning.enabled", "sample packages are signed: set device.id and device.key_file too"
            )
        )
    if config.rollout.enabled and (config.uplink is None or release_key(config) is None):
        problems.append(
            ConfigProblem(
                file,
                "rollout.enabled",
                "model releases come from the uplink and are signed: set uplink and model.release_pubkey",
            )
        )
    model_key, rollout_key = config.model.release_pubkey, config.rollout.release_pubkey
    if model_key is not None and rollout_key is not None and model_key != rollout_key:
        problems.append(
            ConfigProblem(
                file,
                "rollout.release_pubkey",
                f"a site trusts one release key: {rollout_key} is not model.release_pubkey {model_key} "
                "(leave rollout.release_pubkey out)",
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
    if config.learning.enabled and config.uplink is None:
        warnings.append("learning.enabled: no uplink, so sample packages stay where `nce run --out` writes")
    return warnings


def release_key(config: SiteConfig) -> Path | None:
    """The site's one trusted release key: ``model.release_pubkey`` (the shipped model and every
    rolled-out release are checked against it); ``rollout.release_pubkey`` only where the model
    section names none."""
    return config.model.release_pubkey or config.rollout.release_pubkey
