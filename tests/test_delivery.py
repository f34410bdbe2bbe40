"""The outbox sink (what goes in the outbox, in which order), recovery of unqueued packages, delivered
markers and the quota, MQTT alerts against the Mosquitto server on 127.0.0.1:1883, config."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from detector.alerts import alert_topic
from detector.config import Mqtt, parse_site_config
from detector.delivery import OutboxSink
from detector.delivery.outbox import Outbox
from detector.detections import Detections
from detector.errors import ConfigError
from detector.events import Frame, HitEvent
from detector.evidence.quota import EvidenceQuota
from detector.sinks import mqtt_alerts
from nce.manifest import GENESIS_HASH, manifest_hash
from tests.support.delivery import Broker
from tests.support.manifests import event_info, make_signed, write_package
from tests.support.servers import free_port

pytestmark = pytest.mark.timeout(60)

T0 = dt.datetime(2026, 11, 26, 2, 0, 0, tzinfo=dt.UTC)
FRAME = Frame("cam-01", 0, np.zeros((4, 4, 3), np.uint8), T0, 0.0)
NO_DETS = Detections.empty()


def event(kind: str, hit_id: str = "h1", s: float = 0.0) -> HitEvent:
    t = T0 + dt.timedelta(seconds=s)
    return HitEvent(
        event=kind,
        hit_id=hit_id,
        site_id="sh-pd-01",
        camera_id="cam-01",
        zone_id="z-shop-1",
        shop_id="shop-001",
        violation="out_of_shop_trading",
        track_id=7,
        label="stall",
        score=0.9,
        box=(1.0, 2.0, 3.0, 4.0),
        ts=t,
        first_seen=T0,
        last_seen=t,
        dwell_s=s,
        sightings=1,
    )


class Packages:
    """Signed, chained packages of device edge-01 written into ``evidence``."""

    def __init__(self, evidence: Path) -> None:
        from nce.manifest import generate_private_key

        self.evidence = evidence
        self.key = generate_private_key()
        self.prev = GENESIS_HASH
        self.seq = 0

    def write(self, hit_id: str) -> tuple[Any, Path]:
        from nce.manifest import utc_ms

        self.seq += 1
        t = utc_ms(T0)
        ev = event_info(
            hit_id=hit_id, first_seen=t, ts=t, dwell_s=1.0, sightings=2, score=0.9, box=(1.0, 2.0, 3.0, 4.0)
        )
        m = make_signed(
            self.key,
            sequence=self.seq,
            prev_hash=self.prev,
            device_id="edge-01",
            package_id=f"edge-01-{self.seq:08d}-violation",
            event=ev,
        )
        self.prev = manifest_hash(m)
        return m, write_package(self.evidence, m)


def queued(box: Outbox) -> list[tuple[str, str, str]]:
    return [(i.kind, i.hit_id, i.event) for i in box.items()]


def test_events_wait_for_their_package_and_the_confirmation_travels_as_it(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.sqlite")
    pkgs = Packages(tmp_path / "evidence")
    sink = OutboxSink(box, "edge-01", pkgs.evidence)
    sink.on_event(event("opened"), FRAME, NO_DETS, list)
    sink.package_pending("h1")  # the packager confirmed h1; its clip still needs its post-roll
    sink.on_event(event("confirmed", s=2), FRAME, NO_DETS, list)
    sink.on_event(event("still_present", s=3), FRAME, NO_DETS, list)
    sink.on_event(event("opened", "h2", s=3), FRAME, NO_DETS, list)  # another hit is not held
    assert queued(box) == [("event", "h1", "opened"), ("event", "h2", "opened")]
    m, folder = pkgs.write("h1")
    sink.package_written(m, folder)
    sink.package_settled("h1")
    sink.on_event(event("still_present", s=4), FRAME, NO_DETS, list)
    assert queued(box) == [
        ("event", "h1", "opened"),
        ("event", "h2", "opened"),
        ("package", "h1", "confirmed"),
        ("event", "h1", "still_present"),
        ("event", "h1", "still_present"),
    ]
    # a hit whose package never comes (disk full, error): its held events go as they are
    sink.package_pending("h2")
    sink.on_event(event("confirmed", "h2", s=5), FRAME, NO_DETS, list)
    assert queued(box)[-1] == ("event", "h1", "still_present")
    sink.package_settled("h2")
    assert queued(box)[-1] == ("event", "h2", "confirmed")
    sink.close()


def test_a_package_written_but_not_queued_is_recovered_in_order(tmp_path: Path) -> None:
    pkgs = Packages(tmp_path / "evidence")
    box = Outbox(tmp_path / "outbox.sqlite")
    sink = OutboxSink(box, "edge-01", pkgs.evidence)
    sink.package_written(*pkgs.write("h1"))
    pkgs.write("h2")  # "crash" between the package's commit and its outbox row
    m3, f3 = pkgs.write("h3")
    sink.package_written(m3, f3)  # the gap is noticed: h2 goes first
    assert [i.payload["sequence"] for i in box.items()] == [1, 2, 3]
    pkgs.write("h4")  # crash again; the next start recovers it
    sink.close()
    box = Outbox(tmp_path / "outbox.sqlite")
    box.mark_retry(1, error="HTTP 503", next_attempt_at=time.time() + 3600)
    sink = OutboxSink(box, "edge-01", pkgs.evidence)
    sink.start()
    assert [i.payload["sequence"] for i in box.items()] == [1, 2, 3, 4]
    head = box.head()
    assert head is not None and head.seq == 1 and head.next_attempt_at == 0  # due at once
    sink.close()


def test_delivered_in_the_outbox_makes_a_package_prunable(tmp_path: Path) -> None:
    pkgs = Packages(tmp_path / "evidence")
    box = Outbox(tmp_path / "outbox.sqlite")
    sink = OutboxSink(box, "edge-01", pkgs.evidence)
    for h in ("h1", "h2"):
        sink.package_written(*pkgs.write(h))
    quota = EvidenceQuota(pkgs.evidence, 1, delivered=box)
    assert quota.prune() == []  # nothing delivered: nothing may go
    first = box.items()[0]
    box.mark_delivered(first.seq)
    assert box.is_delivered(pkgs.evidence / "edge-01-00000001-violation")
    assert quota.prune() == ["edge-01-00000001-violation"]
    assert (pkgs.evidence / "edge-01-00000002-violation").is_dir()
    sink.close()


def test_a_delivered_package_stays_known_after_its_row_is_forgotten(tmp_path: Path) -> None:
    pkgs = Packages(tmp_path / "evidence")
    box = Outbox(tmp_path / "outbox.sqlite")
    sink = OutboxSink(box, "edge-01", pkgs.evidence)
    for h in ("h1", "h2", "h3"):
        sink.package_written(*pkgs.write(h))
    sink.close()
    box = Outbox(tmp_path / "outbox.sqlite")
    one, two, three = (pkgs.evidence / f"edge-01-0000000{i}-violation" for i in (1, 2, 3))
    box.mark_delivered(1)
    box.mark_delivered(2)
    (pkgs.evidence / two.name).rename(tmp_path / "gone")  # the quota deleted it
    assert box.prune_delivered(0.0, now=time.time() + 1) == 2
    assert [i.seq for i in box.items()] == [3]
    assert box.is_delivered(one) and not box.is_delivered(two) and not box.is_delivered(three)
    assert box.package_dirs() == {str(one), str(three)}
    box.close()
    # a new start does not queue the delivered package again, and the quota may still prune it
    box = Outbox(tmp_path / "outbox.sqlite")
    sink = OutboxSink(box, "edge-01", pkgs.evidence)
    sink.start()
    assert [i.payload["sequence"] for i in box.items()] == [3]
    assert EvidenceQuota(pkgs.evidence, 1, delivered=box).prune() == [one.name]
    sink.close()
    box = Outbox(tmp_path / "outbox.sqlite")
    box.prune_delivered(30 * 86400.0)  # its folder is gone: forgotten too
    assert box.package_dirs() == {str(three)}
    box.close()


def test_delivered_markers_of_an_earlier_version_are_adopted(tmp_path: Path) -> None:
    pkgs = Packages(tmp_path / "evidence")
    for h in ("h1", "h2", "h3"):
        pkgs.write(h)
    markers = pkgs.evidence / ".state" / "delivered"
    markers.mkdir(parents=True)
    # packages 1 and 2 were delivered by an old version (their outbox rows long forgotten); the
    # marker of a package the quota deleted since stays behind
    for name in ("edge-01-00000001-violation", "edge-01-00000002-violation", "edge-01-00000000-gone"):
        (markers / name).touch()
    box = Outbox(tmp_path / "outbox.sqlite")
    sink = OutboxSink(box, "edge-01", pkgs.evidence)
    sink.start()
    assert [i.payload["sequence"] for i in box.items()] == [3]  # only the undelivered one is queued
    assert not markers.exists()
    quota = EvidenceQuota(pkgs.evidence, 1, delivered=box)
    assert quota.prune() == ["edge-01-00000001-violation", "edge-01-00000002-violation"]
    sink.close()


# -- config ------------------------------------------------------------------------------------------


def example() -> dict[str, Any]:
    root = Path(__file__).resolve().parents[1]
    doc: dict[str, Any] = yaml.safe_load((root / "configs" / "site.example.yaml").read_text(encoding="utf-8"))
    return doc


def test_config_mqtt_and_uplink_sections() -> None:
    doc = example()
    doc["mqtt"] = {"host": "127.0.0.1"}
    config = parse_site_config(doc)
    assert config.mqtt is not None and (config.mqtt.port, config.mqtt.topic_prefix, config.mqtt.qos) == (
        1883,
        "nce",
        1,
    )
    assert config.edge_data_dir().parts[-3:] == ("var", "edge", config.device.id if config.device else "")
    bad = copy.deepcopy(doc)
    bad["mqtt"]["topic_prefix"] = "nce/#"
    with pytest.raises(ConfigError, match=r"mqtt\.topic_prefix"):
        parse_site_config(bad)
    no_device = copy.deepcopy(example())
    del no_device["device"]
    with pytest.raises(ConfigError, match="uplink: delivery sends signed evidence"):
        parse_site_config(no_device)


# -- MQTT against Mosquitto --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    b = Broker()
    yield b
    b.close()


def test_confirmed_hit_alert_reaches_a_subscriber(tmp_path: Path, broker: Broker) -> None:
    doc = example()
    prefix = f"nce-unit-{os.getpid()}"
    doc["mqtt"] = {"host": broker.host, "port": broker.port, "topic_prefix": prefix}
    config = parse_site_config(doc)
    cam = config.cameras[0]
    assert config.mqtt is not None
    got: list[mqtt.MQTTMessage] = []
    subscribed = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"unit-sub-{os.getpid()}")
    sub.on_connect = lambda c, *_: c.subscribe(f"{prefix}/#", qos=1)
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.on_message = lambda _c, _u, m: got.append(m)
    sub.connect(broker.host, broker.port)
    sub.loop_start()
    try:
        assert subscribed.wait(10)
        alerts = mqtt_alerts(config, config.mqtt)
        alerts.start()
        zone = cam.zones[0]
        ev = event("confirmed", s=301.0).model_copy(
            update={
                "site_id": config.site.id,
                "camera_id": cam.id,
                "zone_id": zone.id,
                "shop_id": zone.shop_id,
            }
        )
        for kind in ("opened", "still_present"):  # only confirmations are alerts
            alerts.on_event(ev.model_copy(update={"event": kind}), FRAME, NO_DETS, list)
        alerts.on_event(ev, FRAME, NO_DETS, list)
        alerts.close()
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        sub.disconnect()
        sub.loop_stop()
    assert len(got) == 1
    msg = got[0]
    assert (
        msg.topic
        == alert_topic(config.mqtt, config.site.id, cam.id)
        == f"{prefix}/{config.site.id}/{cam.id}/hits"
    )
    assert msg.qos == 1 and not msg.retain
    body = json.loads(msg.payload)
    assert body["type"] == "hit_confirmed" and body["hit_id"] == "h1"
    assert body["camera_name"] == cam.name and body["violation_zh"] == "出店经营"
    assert body["shop_id"] == zone.shop_id and body["shop_name"] == config.shop(zone.shop_id).name  # type: ignore[union-attr]
    assert body["confirmed_at"] == "2026-11-26T02:05:01.000Z" and body["dwell_s"] == 301.0


def test_alerts_never_block_when_the_broker_is_away() -> None:
    port = free_port()  # nothing listens here once the socket closes
    doc = example()
    doc["mqtt"] = {"host": "127.0.0.1", "port": port, "queue_size": 5}
    config = parse_site_config(doc)
    assert config.mqtt is not None
    alerts = mqtt_alerts(config, config.mqtt)
    alerts.start()
    t0 = time.monotonic()
    for i in range(50):
        alerts.on_event(event("confirmed", f"h{i}"), FRAME, NO_DETS, list)
    assert time.monotonic() - t0 < 0.5
    t0 = time.monotonic()
    alerts.close()
    assert time.monotonic() - t0 < 8.0
    dropped = alerts.metrics.alerts.labels("dropped")._value.get()
    assert dropped >= 40  # the bounded queues dropped the rest; nothing waited
    assert isinstance(Mqtt(host="x").qos, int)


def test_old_delivered_rows_are_forgotten_and_sequences_never_reused(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.sqlite")
    seqs = [
        box.add(device_id="d", kind="event", hit_id=f"h{i}", event="opened", payload={}) for i in range(3)
    ]
    box.mark_delivered(seqs[0])
    box.mark_delivered(seqs[1])
    box.mark_poisoned(seqs[2], reason="HTTP 422: x")
    assert box.prune_delivered(3600) == 0
    assert box.prune_delivered(3600, now=time.time() + 7200) == 2
    assert box.undelivered()[:2] == (0, 1)
    new = box.add(device_id="d", kind="event", hit_id="h9", event="opened", payload={})
    assert new == seqs[-1] + 1  # the idempotency keys d:1, d:2 are never issued again
    st = box.status()
    assert (st.pending, st.delivered, st.poisoned) == (1, 0, 1)
    box.close()


def test_outbox_gauges_raise_the_poison_alarm(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from detector.delivery import DeliveryMetrics

    box = Outbox(tmp_path / "outbox.sqlite")
    for i in range(3):
        box.add(device_id="d", kind="event", hit_id=f"h{i}", event="opened", payload={})
    box.mark_delivered(1)
    box.mark_poisoned(2, reason="HTTP 422: x")
    registry = CollectorRegistry()
    DeliveryMetrics(registry).refresh(box)
    assert registry.get_sample_value("nce_outbox_pending") == 1
    assert registry.get_sample_value("nce_outbox_poisoned") == 1
    assert (registry.get_sample_value("nce_outbox_oldest_pending_seconds") or 0) >= 0
    assert b"nce_outbox_poisoned 1.0" in generate_latest(registry)
    box.close()


def test_one_relay_per_outbox(tmp_path: Path) -> None:
    from detector.delivery import Outcome, Relay
    from detector.errors import DetectorError

    def offline(_item: Any) -> Outcome:
        return Outcome("retry", "offline")

    first = OutboxSink(
        Outbox(tmp_path / "o.sqlite"),
        "edge-01",
        None,
        relay=Relay(Outbox(tmp_path / "o.sqlite"), offline),
        drain_s=0,
    )
    first.start()
    second = OutboxSink(
        Outbox(tmp_path / "o.sqlite"),
        "edge-01",
        None,
        relay=Relay(Outbox(tmp_path / "o.sqlite"), offline),
        drain_s=0,
    )
    with pytest.raises(DetectorError, match="another process delivers this outbox"):
        second.start()
    first.close()
    second.start()  # free again once the first is closed
    second.close()
