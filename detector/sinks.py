"""The event sinks built from a whole site config: the one place that knows which of its sections
each sink takes (a sink itself takes only those, so it can be built and tested from them alone).

``nce run`` picks the sinks (``build_sinks`` in its command module); delivery adds the outbox
(:func:`detector.delivery.wiring.delivery_sinks`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from detector.config import Mqtt, SiteConfig

if TYPE_CHECKING:
    from collections.abc import Callable

    from prometheus_client import CollectorRegistry

    from detector.alerts import MqttAlerts
    from detector.evidence import DeliveredPackages, EvidencePackager
    from detector.evidence.packager import PackageListener
    from detector.yolo import ModelInfo


def evidence_packager(
    config: SiteConfig,
    out_dir: str | Path,
    *,
    model_info: ModelInfo | None = None,
    registry: CollectorRegistry | None = None,
    listener: PackageListener | None = None,
    delivered: DeliveredPackages | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> EvidencePackager:
    """The evidence packager writing ``out_dir/evidence/`` (see :class:`EvidencePackager`)."""
    from detector.evidence import EvidencePackager

    return EvidencePackager(
        out_dir,
        site=config.site,
        cameras=config.cameras,
        rules=config.rules,
        model=config.model,
        evidence=config.evidence,
        device=config.device,
        model_info=model_info,
        registry=registry,
        listener=listener,
        delivered=delivered,
        clock=clock,
    )


def mqtt_alerts(
    config: SiteConfig, settings: Mqtt, *, registry: CollectorRegistry | None = None
) -> MqttAlerts:
    """Live MQTT alerts with ``settings`` (``config.mqtt``), not started yet."""
    from detector.alerts import MqttAlerts

    return MqttAlerts(
        settings,
        site=config.site,
        cameras=config.cameras,
        shops=config.shops,
        device_id=config.device.id if config.device else None,
        registry=registry,
    )
