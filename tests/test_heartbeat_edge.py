"""The edge's heartbeat (detector.delivery.heartbeat) against the real service app under uvicorn:
what it reports, the clock offset the service measures (a box 5 s fast), the round trip sent with
the next one; with the service away it fails quietly (one log line, a counter) and never raises;
``uplink.heartbeat_s`` is validated."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from detector.config import Uplink
from detector.delivery.heartbeat import HeartbeatSender
from detector.delivery.outbox import Outbox
from detector.sources import StreamState
from service.app import create_app
from service.crud.identities import add_device
from service.db import make_engine
from service.migrate import upgrade
from service.models_fleet import CameraHealthRow, DeviceHealth
from tests.support.devices import new_key, pub_b64
from tests.support.servers import free_port, serving
from tests.support.service_api import make_settings


@dataclass
class FakeReader:
    """What the heartbeat reads of a camera reader."""

    camera_id: str
    state: StreamState = StreamState.up
    state_since: float = field(default_factory=lambda: time.time() - 60)
    frames_received: int = 0
    reconnects: int = 2
    last_problem: str = "stalled: no frame\nfor 10 s"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[str, str, Any]]:
    url = f"sqlite:///{tmp_path}/nce.sqlite3"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = create_app(make_settings(url, tmp_path / "evidence"))
    with app.state.nce.sessions() as s:
        token = add_device(s, device_id="edge-hb", public_key=pub_b64(new_key()), actor="test")
    with serving(app) as base:
        yield base, token, app.state.nce


def sender(base: str, token: str, tmp_path: Path, readers: list[FakeReader], **kw: Any) -> HeartbeatSender:
    client = httpx.Client(timeout=5, headers={"Authorization": f"Bearer {token}"})
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.add(device_id="edge-hb", kind="event", hit_id="h1", event="opened", payload={"x": 1})
    (tmp_path / "edge" / "evidence" / "p1").mkdir(parents=True)
    (tmp_path / "edge" / "evidence" / "p1" / "still.jpg").write_bytes(b"x" * 1000)
    return HeartbeatSender(
        client=client, service_url=base, interval_s=1, site_id="site-1", readers=lambda: readers,  # type: ignore[arg-type,return-value]
        outbox=outbox, data_dir=tmp_path / "edge", model_sha256="cd" * 32, **kw,
    )  # fmt: skip


def test_a_heartbeat_reports_the_box_and_the_service_measures_its_clock(
    service: tuple[str, str, Any], tmp_path: Path
) -> None:
    base, token, state = service
    cams = [FakeReader("cam-1"), FakeReader("cam-2", state=StreamState.down)]
    registry = CollectorRegistry()
    hb = sender(base, token, tmp_path, cams, registry=registry, clock=lambda: time.time() + 5.0)
    first = hb.beat()
    assert first is not None and not first.clock_ok and 4500 < first.offset_ms < 5500
    assert first.error_ms is None  # no round trip known yet
    cams[0].frames_received = 50
    second = hb.beat()
    assert second is not None and second.error_ms is not None and second.error_ms < 1000
    assert registry.get_sample_value("nce_heartbeats_total", {"outcome": "ok"}) == 2
    assert 4500 < (registry.get_sample_value("nce_clock_offset_ms") or 0) < 5500
    with state.sessions() as s:
        row = s.get(DeviceHealth, "edge-hb")
        assert row is not None and row.heartbeats == 2 and not row.clock_ok
        report = row.report
        cameras = {c.camera_id: c for c in s.query(CameraHealthRow).all()}
    assert report["outbox_depth"] == 1 and report["outbox_oldest_s"] >= 0
    assert report["evidence_bytes"] == 1000 and report["site_id"] == "site-1"
    assert report["model_sha256"] == "cd" * 32 and report["cpu_load"] is not None
    assert report["cameras"][1]["problem"] == "stalled: no frame for 10 s"  # one line
    assert cameras["cam-1"].state == "up" and cameras["cam-1"].fps > 0 and cameras["cam-1"].reconnects == 2
    assert cameras["cam-2"].state == "down"
    # the camera's state began 60 s ago on the box's clock, 5 s fast: ~65 s ago on the service's
    ago = (dt.datetime.now(dt.UTC) - cameras["cam-2"].state_at).total_seconds()
    assert 60 < ago < 70


def test_with_the_service_away_it_fails_quietly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    hb = sender(f"http://127.0.0.1:{free_port()}", "t" * 20, tmp_path, [FakeReader("c")], registry=registry)
    with caplog.at_level(logging.INFO, logger="detector.delivery.heartbeat"):
        assert [hb.beat() for _ in range(3)] == [None, None, None]
    assert registry.get_sample_value("nce_heartbeats_total", {"outcome": "failed"}) == 3
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "heartbeat to" in lines[0] and "failed" in lines[0], lines


def test_a_refused_token_is_a_failure_too(service: tuple[str, str, Any], tmp_path: Path) -> None:
    base, _token, _state = service
    registry = CollectorRegistry()
    hb = sender(base, "not-a-token-at-all-000", tmp_path, [], registry=registry)
    assert hb.beat() is None
    assert registry.get_sample_value("nce_heartbeats_total", {"outcome": "failed"}) == 1


@pytest.mark.parametrize(
    ("value", "ok"),
    [(30, True), (0, True), (1, True), (3600, True), (0.5, False), (-1, False), (3601, False)],
)
def test_heartbeat_s_is_validated(value: float, ok: bool) -> None:
    doc = {"service_url": "http://127.0.0.1:8000", "token_file": "t.token", "heartbeat_s": value}
    if ok:
        assert Uplink.model_validate(doc).heartbeat_s == value
    else:
        with pytest.raises(ValidationError, match="heartbeat_s"):
            Uplink.model_validate(doc)
    assert Uplink.model_validate({k: v for k, v in doc.items() if k != "heartbeat_s"}).heartbeat_s == 30
