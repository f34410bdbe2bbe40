"""Where fleet alerts go: the service's log always, and MQTT when ``NCE_MQTT_URL`` is set.

A device's alert is published (QoS 1, retained: a subscriber that connects later sees the latest
state) to ``nce/<site>/devices/<device>/status`` as ``{"device_id", "camera_id", "status", "at",
"detail"}``; ``camera_id`` is null for the device itself. paho-mqtt (the ``mqtt`` extra) is imported
only when the URL is set; its network loop runs in its own thread and reconnects by itself, and a
message published while the broker is away waits in paho's bounded queue.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from nce.times import utc_ms
from service.fleet import Alert

__all__ = ["FleetAlerts", "topic"]

log = logging.getLogger(__name__)
QUEUE_MAX = 1000


def topic(alert: Alert) -> str:
    return f"nce/{alert.site_id or 'unknown'}/devices/{alert.device_id}/status"


class FleetAlerts:
    """Logs each alert and publishes it when an MQTT URL is given; :meth:`close` at shutdown."""

    def __init__(self, mqtt_url: str | None) -> None:
        self.client: Any = None
        if mqtt_url is None:
            return
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        where = urlsplit(mqtt_url)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="nce-service-fleet")
        self.client.max_queued_messages_set(QUEUE_MAX)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.connect_async(where.hostname or "127.0.0.1", where.port or 1883, keepalive=30)
        self.client.loop_start()

    def publish(self, alerts: Iterable[Alert]) -> None:
        for a in alerts:
            what = f"device {a.device_id}" + (f" camera {a.camera_id}" if a.camera_id else "")
            log.warning("%s is %s%s", what, a.status, f" ({a.detail})" if a.detail else "")
            if self.client is None:
                continue
            body = {
                "device_id": a.device_id,
                "camera_id": a.camera_id,
                "status": a.status,
                "at": utc_ms(a.at),
                "detail": a.detail,
            }
            self.client.publish(topic(a), json.dumps(body, ensure_ascii=False), qos=1, retain=True)

    def close(self) -> None:
        if self.client is not None:
            self.client.loop_stop()
            self.client.disconnect()
