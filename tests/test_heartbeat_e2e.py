"""Fleet health with real processes: ``nce serve`` (down times of a few seconds, alerts to the real
Mosquitto), ``nce run`` on a live RTSP camera heartbeating every second, the console in Chromium.

- the box's heartbeats show it and its camera up on the 设备 page;
- the camera's RTSP server is killed: the page shows the camera down within the stall time, one
  heartbeat and ``camera_down_after_s`` (and a real subscriber gets the MQTT alert);
- the box is killed: the device is down after ``device_down_after_s`` (alert again);
- a heartbeat with the box's clock 5 s off (crafted with the device's token) flags the package it
  sends next: the case page shows 设备时钟偏差.

Screenshots: ``test-output/console/devices.png`` and ``devices-case-clock.png``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Page

from detector.sources import ReaderOptions
from service.db import make_engine, make_sessionmaker
from service.security import hash_password
from tests.support import pipelines as pf
from tests.support.chromium import CHROMIUM, OUT, launched
from tests.support.delivery import Broker, Service, add_uplink, make_device
from tests.support.devices import DeviceHandle
from tests.support.rtsp import MISSING, RtspServer, gst_rtsp_available
from tests.support.service_api import PASSWORD
from tests.support.users import add_user

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(not gst_rtsp_available(), reason=MISSING),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Chromium not found at {CHROMIUM}"),
]

CAMERA_DOWN_AFTER_S = 2.0
DEVICE_DOWN_AFTER_S = 4.0
HEARTBEAT_S = 1.0
STALL_S = ReaderOptions().stall_s  # the reader's own bound on noticing a silent stream


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(0.2)


class Alerts:
    """A real MQTT subscriber to the service's fleet alerts."""

    def __init__(self, broker: Broker, topic: str) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fleet-sub-{os.getpid()}")
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, json.loads(m.payload)))
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert ready.wait(10), "no SUBACK from Mosquitto"

    def find(self, **want: Any) -> list[dict[str, Any]]:
        return [m for _t, m in self.messages if all(m.get(k) == v for k, v in want.items())]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker() -> Iterator[Broker]:
    b = Broker()
    yield b
    b.close()


def camera_row(page: Page, camera_id: str) -> dict[str, str | None]:
    page.reload()
    row = page.locator(f'tr.camera[data-camera="{camera_id}"]')
    if row.count() == 0:
        return {}
    return {"down": row.get_attribute("data-down"), "state": row.get_attribute("data-state")}


def test_heartbeats_down_camera_down_device_and_clock_flag(tmp_path: Path, broker: Broker) -> None:
    svc_root = tmp_path / "svc"
    svc_root.mkdir()
    site_id = f"fleet-{os.getpid()}"
    svc = Service(svc_root)
    svc.env.update(
        NCE_CAMERA_DOWN_AFTER_S=str(CAMERA_DOWN_AFTER_S),
        NCE_DEVICE_DOWN_AFTER_S=str(DEVICE_DOWN_AFTER_S),
        NCE_FLEET_SWEEP_S="0.5",
        NCE_MQTT_URL=f"mqtt://{broker.host}:{broker.port}",
    )
    svc.start()
    dev = make_device(tmp_path, "edge-fleet")
    svc.enroll(dev.id, dev.pub_file, dev.token_file)
    engine = make_engine(svc.db_url)
    add_user(
        make_sessionmaker(engine), role="supervisor", username="sup1", password_hash=hash_password(PASSWORD)
    )
    engine.dispose()
    alerts = Alerts(broker, f"nce/{site_id}/devices/#")
    rtsp = RtspServer().start()
    edge_dir = tmp_path / "edge"
    edge_dir.mkdir()
    cfg = pf.site_config(
        edge_dir / "site.yaml",
        pf.model(edge_dir / "colour.onnx"),
        [pf.camera("cam-live", rtsp.url, zones=False)],
    )
    text = cfg.read_text().replace("id: test-site", f"id: {site_id}")
    cfg.write_text(text)
    add_uplink(cfg, dev, svc.url, heartbeat_s=HEARTBEAT_S)
    log = (tmp_path / "edge.log").open("wb")
    edge = subprocess.Popen(
        [sys.executable, "-m", "nce", "run", "--config", str(cfg)],
        cwd=edge_dir, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        with launched() as browser:
            context = browser.new_context(
                viewport={"width": 1400, "height": 900}, base_url=svc.url, locale="zh-CN",
                timezone_id="Asia/Shanghai",
            )  # fmt: skip
            page = context.new_page()
            page.set_default_timeout(15_000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto("/login")
            page.fill("input[name=username]", "sup1")
            page.fill("input[name=password]", PASSWORD)
            page.click("#login-form button[type=submit]")
            page.wait_for_url(re.compile(r"/(\?.*)?$"))
            page.click("#nav-devices")
            page.wait_for_url(re.compile(r"/devices$"))

            # the box heartbeats: it and its camera are up
            wait_for(lambda: camera_row(page, "cam-live").get("state") == "up", 60, "the camera up")
            device = page.locator('tr.device[data-device="edge-fleet"]')
            assert device.get_attribute("data-status") == "up"
            assert camera_row(page, "cam-live")["down"] == "false"
            assert page.locator("#devices-alerts").get_attribute("data-cameras") == "0"

            # the camera's source dies: down on the page within the configured time
            rtsp.kill()
            killed = time.monotonic()
            bound = STALL_S + HEARTBEAT_S + CAMERA_DOWN_AFTER_S + 5.0
            wait_for(lambda: camera_row(page, "cam-live").get("down") == "true", bound, "the camera down")
            took = time.monotonic() - killed
            print(f"camera down on the page {took:.1f} s after its source was killed (bound {bound:g} s)")
            assert page.locator("#devices-alerts").get_attribute("data-cameras") == "1"
            wait_for(lambda: alerts.find(camera_id="cam-live", status="down"), 5, "the camera's MQTT alert")
            page.screenshot(path=str(OUT / "devices.png"), full_page=True)

            # the box dies: the device is down after device_down_after_s
            edge.send_signal(signal.SIGKILL)
            edge.wait(10)
            died = time.monotonic()
            wait_for(
                lambda: alerts.find(device_id="edge-fleet", camera_id=None, status="down"),
                DEVICE_DOWN_AFTER_S + HEARTBEAT_S + 3,
                "the device's MQTT alert",
            )
            print(f"device down alert {time.monotonic() - died:.1f} s after the box was killed")
            page.reload()
            assert device.get_attribute("data-status") == "down"
            assert page.locator("tbody > tr.device").first.get_attribute("data-device") == "edge-fleet"

            # the box's clock 5 s off: its next package is flagged, and the case page says so
            token = dev.token_file.read_text().strip()
            handle = DeviceHandle(dev.id, dev.key, token)
            with httpx.Client(base_url=svc.url, timeout=10) as client:
                sent_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
                r = client.post(
                    "/api/v1/devices/me/heartbeat",
                    json={"version": "test", "site_id": site_id, "sent_at": sent_at.isoformat()},
                    headers=handle.headers,
                )
                assert r.status_code == 200 and r.json()["clock_ok"] is False, r.text
                wait_for(lambda: alerts.find(device_id="edge-fleet", status="up"), 5, "the device's up alert")
                posted = handle.post(client, handle.package())  # type: ignore[arg-type]
                assert posted.status_code == 201, posted.text
            case_id = posted.json()["case_id"]
            page.goto(f"/cases/{case_id}")
            warning = page.locator("#clock-warning")
            assert "设备时钟偏差" in warning.inner_text()
            assert page.locator("#timeline .clock-off").count() == 1
            page.screenshot(path=str(OUT / "devices-case-clock.png"), full_page=True)
            context.close()
            browser.close()
            assert not errors, errors
    finally:
        if edge.poll() is None:
            edge.kill()
            edge.wait(10)
        log.close()
        rtsp.kill()
        alerts.close()
        svc.stop()
