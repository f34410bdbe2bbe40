"""Live alerts over MQTT: one small JSON message per confirmed hit, from the edge box.

Topic ``<topic_prefix>/<site id>/<camera id>/hits`` (default prefix ``nce``), QoS 1 by default, not
retained. Payload (:func:`alert_payload`)::

    {"type": "hit_confirmed", "hit_id": "...", "device_id": "...", "site_id": "...", "site_name": "...",
     "camera_id": "...", "camera_name": "...", "zone_id": "...", "shop_id": "..."|null,
     "shop_name": "..."|null, "violation": "out_of_shop_trading", "violation_zh": "出店经营",
     "label": "stall", "score": 0.91, "first_seen": "...Z", "confirmed_at": "...Z", "dwell_s": 301.2}

Best effort by design: the pipeline thread only puts the alert in a bounded queue (a full queue drops
the alert and counts it); a worker thread publishes through paho-mqtt (``connect_async`` +
``loop_start``: it reconnects by itself, and QoS 1 messages wait in paho's bounded queue while the
broker is away). Nothing here ever waits on the broker in the pipeline's thread, so alerts never
hold up evidence or its delivery. Why from the edge and not the service: docs/delivery.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry, Counter, Gauge

from detector.config import Camera, Mqtt, Shop, Site
from detector.detections import Detections
from detector.events import EventSink, Frame, HitEvent, RingSnapshot
from detector.evidence.render import VIOLATION_ZH
from nce.times import utc_ms

log = logging.getLogger(__name__)

FLUSH_S = 3.0


def alert_topic(settings: Mqtt, site_id: str, camera_id: str) -> str:
    return f"{settings.topic_prefix.rstrip('/')}/{site_id}/{camera_id}/hits"


def alert_payload(
    event: HitEvent, *, site: Site, camera: Camera | None, shop: Shop | None, device_id: str | None
) -> dict[str, Any]:
    """The JSON alert for a confirmed hit (small: no images; the evidence goes through the outbox)."""
    violation = str(event.violation)
    return {
        "type": "hit_confirmed",
        "hit_id": event.hit_id,
        "device_id": device_id,
        "site_id": site.id,
        "site_name": site.name,
        "camera_id": event.camera_id,
        "camera_name": camera.name if camera else None,
        "zone_id": event.zone_id,
        "shop_id": event.shop_id,
        "shop_name": shop.name if shop else None,
        "violation": violation,
        "violation_zh": VIOLATION_ZH.get(violation, violation),
        "label": event.label,
        "score": round(event.score, 3),
        "first_seen": utc_ms(event.first_seen),
        "confirmed_at": utc_ms(event.ts),
        "dwell_s": round(event.dwell_s, 1),
    }


class AlertMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.alerts = Counter(
            "nce_mqtt_alerts", "MQTT alerts by outcome (published, dropped)", ["outcome"], registry=r
        )
        self.connected = Gauge("nce_mqtt_connected", "1 while connected to the MQTT broker", registry=r)


class MqttAlerts(EventSink):
    """An :class:`~detector.events.EventSink` publishing an alert per ``confirmed`` event.

    Built from the ``mqtt`` section, the site, its cameras and shops (names in the alert) and the
    device id (``None`` without a device section: the client id falls back to the site's)."""

    def __init__(
        self,
        settings: Mqtt,
        *,
        site: Site,
        cameras: Sequence[Camera],
        shops: Sequence[Shop],
        device_id: str | None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.site = site
        self.cameras = {c.id: c for c in cameras}
        self.shops = {s.id: s for s in shops}
        self.device_id = device_id
        self.metrics = AlertMetrics(registry)
        self.queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue(maxsize=settings.queue_size)
        who = device_id or site.id
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=settings.client_id or f"nce-edge-{who}"
        )
        self.client.max_queued_messages_set(settings.queue_size)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        if settings.username:
            password = None
            if settings.password_file is not None:
                password = settings.password_file.read_text(encoding="utf-8").strip()
            self.client.username_pw_set(settings.username, password)
        if settings.tls:
            self.client.tls_set()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        # message ids handed to paho / acknowledged by the broker (QoS 1: PUBACK)
        self._sent: set[int] = set()
        self._acked: set[int] = set()
        self._thread = threading.Thread(target=self._work, name="mqtt-alerts", daemon=True)
        self._started = False
        self._closed = False

    def start(self) -> None:
        self.client.connect_async(self.settings.host, self.settings.port, keepalive=30)
        self.client.loop_start()
        self._thread.start()
        self._started = True

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any = None) -> None:
        if not reason.is_failure:
            self.metrics.connected.set(1)
            log.info("mqtt: connected to %s:%d", self.settings.host, self.settings.port)
        else:
            log.warning("mqtt: broker refused the connection: %s", reason)

    def _on_publish(
        self, client: Any, userdata: Any, mid: int, reason: Any = None, props: Any = None
    ) -> None:
        self._acked.add(mid)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any = None) -> None:
        self.metrics.connected.set(0)

    # -- the sink --------------------------------------------------------------------------------

    def on_event(self, event: HitEvent, frame: Frame, detections: Detections, ring: RingSnapshot) -> None:
        if event.event != "confirmed" or self._closed:
            return
        topic = alert_topic(self.settings, self.site.id, event.camera_id)
        payload = alert_payload(
            event,
            site=self.site,
            camera=self.cameras.get(event.camera_id),
            shop=self.shops.get(event.shop_id) if event.shop_id else None,
            device_id=self.device_id,
        )
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            self.queue.put_nowait((topic, body))
        except queue.Full:
            self.metrics.alerts.labels("dropped").inc()
            log.warning("mqtt: alert queue full, alert for hit %s dropped", event.hit_id)

    def on_sample(self, frame: Frame, ring: RingSnapshot) -> None:
        return None

    def _work(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            topic, body = item
            info = self.client.publish(topic, body, qos=self.settings.qos)
            if info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                # NO_CONN: held in paho's queue and sent when the broker is back
                self.metrics.alerts.labels("published").inc()
                self._sent.add(info.mid)
            else:
                self.metrics.alerts.labels("dropped").inc()
                log.warning("mqtt: alert on %s dropped: %s", topic, mqtt.error_string(info.rc))

    def close(self) -> None:
        """Give queued alerts a moment (at most ``FLUSH_S``) to leave, then disconnect."""
        if self._closed:
            return
        self._closed = True
        if not self._started:
            return
        with contextlib.suppress(queue.Full):
            self.queue.put(None, timeout=FLUSH_S)
        deadline = time.monotonic() + FLUSH_S
        self._thread.join(FLUSH_S)
        while self._sent - self._acked and time.monotonic() < deadline:
            time.sleep(0.02)
        self.client.disconnect()
        self.client.loop_stop()
