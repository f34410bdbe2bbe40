"""The site config: cameras, zones, shops, rules, model, device, uplink, MQTT, evidence and learning.

The keys of ``configs/site.example.yaml`` are a contract (the design's site-config example): this
package may add keys, never rename them. Unknown keys are errors. :func:`load_site_config` reports
*every* problem as ``FILE: cameras[0].zones[1].polygon: why`` through :class:`ConfigError`.

One module per section, each a small pydantic model whose fields all carry a title and a
description: ``base`` (the strict base model, ids, times of day), ``schedule`` (time windows,
exemptions, weekdays), ``zones``, ``masks`` (a camera's), ``camera``, ``shops``, ``model``,
``rules``, ``device``, ``uplink``, ``mqtt``, ``evidence``, ``learning``, ``site`` (:class:`SiteConfig`
and the checks across sections) and ``load`` (reading, validation, error paths). ``generate`` writes the JSON Schema
(``docs/site-config.schema.json``) and the reference config (``configs/site.full.yaml``) from the
models. Import from ``detector.config``.
"""

from detector.config.base import Id, TimeOfDay
from detector.config.camera import Camera, Location
from detector.config.device import Device
from detector.config.evidence import EvidenceSettings
from detector.config.learning import LearningSettings, SampleBudget
from detector.config.load import format_loc, load_site_config, parse_site_config
from detector.config.masks import Mask
from detector.config.model import DEFAULT_CONF, DETECTOR_CLASSES, ModelSettings
from detector.config.mqtt import Mqtt
from detector.config.rules import Rule
from detector.config.schedule import WEEKDAYS, Exemption, TimeWindow, Weekday
from detector.config.shops import Shop
from detector.config.site import Site, SiteConfig, config_warnings, cross_check
from detector.config.uplink import Uplink
from detector.config.zones import ZONE_KINDS, Zone, ZoneKind
from nce.vocabulary import Violation

__all__ = [
    "DEFAULT_CONF",
    "DETECTOR_CLASSES",
    "WEEKDAYS",
    "ZONE_KINDS",
    "Camera",
    "Device",
    "EvidenceSettings",
    "Exemption",
    "Id",
    "LearningSettings",
    "Location",
    "Mask",
    "ModelSettings",
    "Mqtt",
    "Rule",
    "SampleBudget",
    "Shop",
    "Site",
    "SiteConfig",
    "TimeOfDay",
    "TimeWindow",
    "Uplink",
    "Violation",
    "Weekday",
    "Zone",
    "ZoneKind",
    "config_warnings",
    "cross_check",
    "format_loc",
    "load_site_config",
    "parse_site_config",
]
