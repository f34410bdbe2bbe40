"""Delivery built from the site config: the outbox, the relay to ``uplink.service_url`` and the sinks
of ``nce run`` without ``--out``. The one place here that reads :class:`SiteConfig`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from detector.config import Device, SiteConfig, Uplink
from detector.delivery.metrics import DeliveryMetrics
from detector.delivery.outbox import Outbox
from detector.delivery.relay import DEFAULT_BACKOFF, Relay
from detector.delivery.sink import OutboxSink
from detector.delivery.transport import HttpTransport, read_token
from detector.errors import DetectorError
from detector.events import EventSink
from nce.backoff import Backoff

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from detector.sources import CameraReader
    from detector.yolo import ModelInfo

log = logging.getLogger(__name__)


def uplink_of(config: SiteConfig, file: str = "the site config") -> tuple[Uplink, Device]:
    """The ``uplink`` and ``device`` sections, which delivery needs both."""
    if config.uplink is None or config.device is None:
        raise DetectorError(f"{file}: no uplink (or no device) section: nowhere to deliver to")
    return config.uplink, config.device


def make_relay(
    config: SiteConfig, outbox: Outbox, metrics: DeliveryMetrics
) -> tuple[Relay, Callable[[], None]]:
    """A relay to ``uplink.service_url`` and a function that releases its HTTP client."""
    uplink, _device = uplink_of(config)
    token = read_token(uplink.token_file)
    transport = HttpTransport(uplink.service_url, token, timeout_s=uplink.timeout_s)
    relay = Relay(
        outbox,
        transport.send,
        backoff=Backoff(base_s=uplink.retry_base_s, cap_s=uplink.retry_max_s, jitter=DEFAULT_BACKOFF.jitter),
        poison_after_5xx=uplink.poison_after_5xx,
        metrics=metrics,
    )
    return relay, transport.close


def delivery_sinks(
    config: SiteConfig, *, model_info: ModelInfo | None = None, registry: CollectorRegistry | None = None
) -> list[EventSink]:
    """``nce run`` without ``--out``: hits.jsonl, the evidence packager and the outbox sink under
    ``config.edge_data_dir()``, with the relay started (earlier runs' pending items go first)."""
    from detector.hitlog import HitLog
    from detector.sinks import evidence_packager

    uplink, device = uplink_of(config)
    data = config.edge_data_dir()
    outbox = Outbox(config.outbox_path())
    packager = evidence_packager(config, data, model_info=model_info, registry=registry, delivered=outbox)
    hitlog = HitLog(data)
    metrics = DeliveryMetrics(registry)
    relay, release = make_relay(config, outbox, metrics)
    sink = OutboxSink(
        outbox,
        device.id,
        packager.evidence_dir,
        relay=relay,
        metrics=metrics,
        drain_s=uplink.drain_s,
        on_close=release,
    )
    packager.listener = sink
    log.info("delivering to %s; hits and evidence under %s", uplink.service_url, data)
    sink.start()
    return [hitlog, packager, sink]


def start_heartbeat(
    config: SiteConfig,
    readers: Callable[[], Sequence[CameraReader]],
    sinks: Sequence[EventSink],
    *,
    model_info: ModelInfo | None = None,
    registry: CollectorRegistry | None = None,
) -> Callable[[], None] | None:
    """``nce run`` with an uplink: the heartbeat thread (``uplink.heartbeat_s``; 0: none), started;
    the function that stops it. Its own HTTP client with the device token (a heartbeat never waits
    behind a package upload); the outbox it reports on is the delivery sink's."""
    if config.uplink is None or config.device is None or config.uplink.heartbeat_s <= 0:
        return None
    from detector.delivery.heartbeat import HeartbeatSender

    uplink = config.uplink
    transport = HttpTransport(
        uplink.service_url, read_token(uplink.token_file), timeout_s=min(uplink.timeout_s, 10.0)
    )
    outbox = next((s.outbox for s in sinks if isinstance(s, OutboxSink)), None)
    sender = HeartbeatSender(
        client=transport.client,
        service_url=uplink.service_url,
        interval_s=uplink.heartbeat_s,
        site_id=config.site.id,
        readers=readers,
        outbox=outbox,
        data_dir=config.edge_data_dir(),
        model_sha256=model_info.sha256 if model_info is not None else None,
        registry=registry,
    )
    sender.start()
    log.info("heartbeat to %s every %g s", uplink.service_url, uplink.heartbeat_s)

    def stop() -> None:
        sender.stop()
        transport.close()

    return stop
