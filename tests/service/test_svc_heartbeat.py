"""Heartbeats on SQLite and PostgreSQL: bad ones are 422s naming the field; the service measures a
device's clock offset, and a device more than 1 s off gets a ledger entry and flags every package it
delivers meanwhile (case detail API and case page) until its clock is back; the sweep holds devices
and cameras down after their times and says so once (alerts), the next heartbeat brings them back;
``/metrics`` has the fleet gauges; the devices page lists down ones first."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from service import fleet, ledger, ledger_replay
from service.models import LedgerEntry, utcnow
from tests.support.console import sign_in
from tests.support.devices import DeviceHandle
from tests.support.service_api import PASSWORD, Api

URL = "/api/v1/devices/me/heartbeat"
SHA = "ab" * 32


def beat(skew_s: float = 0.0, cameras: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "version": "0.9.0",
        "site_id": "sh-bs-01",
        "model_sha256": SHA,
        "cameras": cameras if cameras is not None else [camera("cam-01", "up")],
        "outbox_depth": 3,
        "outbox_oldest_s": 12.5,
        "evidence_bytes": 1_000_000,
        "cpu_load": 0.7,
        "sent_at": (now + dt.timedelta(seconds=skew_s)).isoformat(),
        **extra,
    }


def camera(cam_id: str, state: str, ago_s: float = 0.0) -> dict[str, Any]:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=ago_s)
    return {"id": cam_id, "state": state, "since": since.isoformat(), "fps": 5.0, "reconnects": 1}


def send(api: Api, dev: DeviceHandle, body: dict[str, Any]) -> dict[str, Any]:
    r = api.client.post(URL, json=body, headers=dev.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


BAD = [
    ("version", {"version": ""}),
    ("version", {"version": "x" * 65}),
    ("version", {"version": "bad\nversion"}),
    ("site_id", {"site_id": "../etc"}),
    ("model_sha256", {"model_sha256": "AB" * 32}),
    ("cameras", {"cameras": [{"id": f"c{i}", "state": "up", "since": "2026-12-01T00:00:00Z", "fps": 1} for i in range(257)]}),
    ("cameras.0.id", {"cameras": [{"id": "", "state": "up", "since": "2026-12-01T00:00:00Z", "fps": 1}]}),
    ("cameras.0.state", {"cameras": [{"id": "c", "state": "exploded", "since": "2026-12-01T00:00:00Z", "fps": 1}]}),
    ("cameras.0.since", {"cameras": [{"id": "c", "state": "up", "since": "2026-12-01T00:00:00", "fps": 1}]}),
    ("cameras.0.fps", {"cameras": [{"id": "c", "state": "up", "since": "2026-12-01T00:00:00Z", "fps": -1}]}),
    ("cameras.0.reconnects", {"cameras": [{"id": "c", "state": "up", "since": "2026-12-01T00:00:00Z", "fps": 1, "reconnects": 2**31}]}),
    ("outbox_depth", {"outbox_depth": -1}),
    ("outbox_oldest_s", {"outbox_oldest_s": 1e12}),
    ("evidence_bytes", {"evidence_bytes": 2**60}),
    ("cpu_load", {"cpu_load": 5000}),
    ("gpu_util", {"gpu_util": 101}),
    ("sent_at", {"sent_at": "3001-01-01T00:00:00Z"}),
    ("sent_at", {"sent_at": "not a time"}),
    ("rtt_ms", {"rtt_ms": -5}),
    ("surprise", {"surprise": 1}),
]  # fmt: skip


@pytest.mark.parametrize(("field", "change"), BAD, ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD)])
def test_a_bad_heartbeat_is_a_422_naming_the_field(api: Api, field: str, change: dict[str, Any]):
    dev = api.device()
    r = api.client.post(URL, json={**beat(), **change}, headers=dev.headers)
    assert r.status_code == 422, r.text
    where = [".".join(str(part) for part in d["loc"][1:]) for d in r.json()["detail"]]
    assert where == [field], r.text
    assert api.count("device_health") == 0


def test_only_a_device_may_send_a_heartbeat(api: Api):
    assert api.client.post(URL, json=beat()).status_code == 401
    r = api.client.post(URL, json=beat(), headers=api.user("operator"))
    assert r.status_code == 403, r.text


def test_the_offset_is_measured_and_a_clock_5s_off_flags_its_packages_until_fixed(api: Api):
    dev = api.device()
    ok = send(api, dev, beat(rtt_ms=40))
    assert ok["clock_ok"] is True and abs(ok["offset_ms"]) < 500, ok
    assert ok["error_ms"] == 20
    first = dev.post(api.client, dev.package())
    assert first.status_code == 201, first.text

    off = send(api, dev, beat(skew_s=5.0))
    assert off["clock_ok"] is False and 4500 < off["offset_ms"] < 5500, off
    flagged = dev.post(api.client, dev.package())
    assert flagged.status_code == 201, flagged.text
    case_id = flagged.json()["case_id"]
    assert case_id is not None

    back = send(api, dev, beat(skew_s=0.2))
    assert back["clock_ok"] is True
    after = dev.post(api.client, dev.package())
    assert after.status_code == 201

    reader = api.user("supervisor")
    hits = {}
    for r in (first, flagged, after):
        detail = api.client.get(f"/api/v1/cases/{r.json()['case_id']}", headers=reader).json()
        hits.update({h["hit_id"]: h for h in detail["hits"]})
    offsets = [hits[r.json()["hit_id"]]["clock_offset_ms"] for r in (first, flagged, after)]
    assert offsets[0] is None and offsets[2] is None
    assert offsets[1] is not None and 4500 < offsets[1] < 5500

    with api.session() as s:
        entries = (
            s.execute(select(LedgerEntry).where(LedgerEntry.action.like("device_clock_%"))).scalars().all()
        )
        assert [e.action for e in entries] == ["device_clock_off", "device_clock_ok"]
        assert (
            entries[0].payload["device_id"] == dev.device_id and 4500 < entries[0].payload["offset_ms"] < 5500
        )
        assert ledger.verify(s).ok
        assert ledger_replay.replay(s).ok  # the clock entries change no case

    # the case page says it, in the console's words
    api.user("operator", "op-clock")  # with PASSWORD
    sign_in(api.client, "op-clock", PASSWORD)
    page = api.client.get(f"/cases/{case_id}")
    assert page.status_code == 200
    assert 'id="clock-warning"' in page.text and "设备时钟偏差" in page.text
    unflagged = api.client.get(f"/cases/{first.json()['case_id']}")
    if first.json()["case_id"] != case_id:
        assert 'id="clock-warning"' not in unflagged.text


def test_the_first_heartbeat_of_a_box_already_off_is_recorded_in_the_ledger(api: Api):
    dev = api.device()
    assert send(api, dev, beat(skew_s=-3.0))["clock_ok"] is False
    assert send(api, dev, beat(skew_s=-3.0))["clock_ok"] is False  # no change: no second entry
    with api.session() as s:
        actions = s.execute(select(LedgerEntry.action).where(LedgerEntry.action.like("device_clock_%"))).all()
    assert [a for (a,) in actions] == ["device_clock_off"]


def test_down_devices_and_cameras_alert_once_and_come_back(api: Api):
    settings = api.state.settings
    a, b = api.device("edge-a"), api.device("edge-b")
    send(api, a, beat(cameras=[camera("cam-a1", "up"), camera("cam-a2", "down", ago_s=5)]))
    send(api, b, beat(cameras=[camera("cam-b1", "up")]))
    api.device("edge-never")
    now = utcnow()
    with api.session() as s:
        assert fleet.sweep(s, settings, now=now) == []  # cam-a2 down for 5 s only
        s.commit()
    later = now + dt.timedelta(seconds=settings.camera_down_after_s + 1)
    with api.session() as s:
        alerts = fleet.sweep(s, settings, now=later)
        s.commit()
    assert [(x.device_id, x.camera_id, x.status, x.site_id) for x in alerts] == [
        ("edge-a", "cam-a2", "down", "sh-bs-01")
    ]
    much_later = now + dt.timedelta(seconds=settings.device_down_after_s + 1)
    with api.session() as s:
        alerts = fleet.sweep(s, settings, now=much_later)
        s.commit()
        assert fleet.sweep(s, settings, now=much_later) == []  # said once
        snap = fleet.snapshot(s, settings, now=much_later)
    assert sorted((x.device_id, x.status) for x in alerts) == [("edge-a", "down"), ("edge-b", "down")]
    assert [d.device_id for d in snap.devices] == ["edge-a", "edge-b", "edge-never"]
    assert [d.status for d in snap.devices] == ["down", "down", "never"]
    assert snap.cameras(down=True) == 3

    # edge-b comes back: an up alert, and it sorts last (edge-a is still down; edge-never silent)
    r = api.client.post(URL, json=beat(cameras=[camera("cam-b1", "up")]), headers=b.headers)
    assert r.status_code == 200
    with api.session() as s:
        snap = fleet.snapshot(s, settings)
    assert [(d.device_id, d.status) for d in snap.devices] == [
        ("edge-a", "down"), ("edge-never", "never"), ("edge-b", "up")
    ]  # fmt: skip


def test_metrics_have_the_fleet_gauges(api: Api):
    dev = api.device()
    send(api, dev, beat(skew_s=2.0, cameras=[camera("c1", "up"), camera("c2", "failed", ago_s=3600)]))
    api.device()
    text = api.client.get("/metrics").text
    assert 'nce_fleet_devices{status="up"} 1.0' in text
    assert 'nce_fleet_devices{status="never"} 1.0' in text
    assert 'nce_fleet_cameras{status="down"} 1.0' in text
    assert 'nce_fleet_cameras{status="up"} 1.0' in text
    assert "nce_heartbeats_total 1.0" in text
    line = next(x for x in text.splitlines() if x.startswith("nce_fleet_clock_offset_max_ms "))
    assert 1500 < float(line.split()[1]) < 2500
