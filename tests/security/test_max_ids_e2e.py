"""What the edge can produce the service can store: a site config with every id at its maximum
length (and names, shop fields at theirs), accepted by ``nce config check``, makes hits and signed
packages through the real rule engine and packager, and the real relay delivers every one of them
over HTTP to a real service on SQLite and on PostgreSQL: all 2xx, nothing poisoned.

(Before the bounds, such a config made 148-character hit ids: a 500 on PostgreSQL that the relay
retried for ever.)
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sqlalchemy import text

from detector.config import load_site_config
from detector.delivery import OutboxSink
from detector.delivery.outbox import Outbox
from detector.delivery.relay import Relay
from detector.delivery.transport import HttpTransport
from detector.detections import Detections
from detector.events import Frame
from detector.rules import RuleEngine
from detector.sinks import evidence_packager
from nce import bounds
from nce.manifest import generate_private_key, public_key_b64, save_private_key
from service.crud.identities import add_device
from tests.support.servers import serving

T0 = dt.datetime(2026, 11, 26, 1, 0, 0, tzinfo=dt.UTC)
BOX = (60.0, 120.0, 140.0, 200.0)  # its bottom centre is inside the zone below
FPS = 4.0


def longest(prefix: str, n: int = bounds.ID_MAX) -> str:
    return (prefix + "-" + "x" * n)[:n]


def site_yaml(root: Path) -> tuple[Path, str]:
    device_id = longest("edge")
    key = root / "keys" / "edge.key"
    key.parent.mkdir()
    save_private_key(generate_private_key(), key)
    shop: dict[str, Any] = {
        "id": longest("shop"),
        "name": "店" * bounds.NAME_MAX,
        "code": longest("code", bounds.CODE_MAX),
        "license_no": longest("lic", bounds.CODE_MAX),
        "address": "路" * bounds.ADDRESS_MAX,
        "contact": "9" * bounds.CONTACT_MAX,
    }
    config = {
        "site": {"id": longest("site"), "name": "区" * bounds.NAME_MAX},
        "model": {"path": "models/none.onnx"},
        "shops": [shop],
        "cameras": [
            {
                "id": longest("cam"),
                "name": "口" * bounds.NAME_MAX,
                "source": "none.mp4",
                "location": {"lat": 31.2, "lon": 121.6, "address": "号" * bounds.ADDRESS_MAX},
                "zones": [
                    {
                        "id": longest("zone"),
                        "kind": "shop_frontage",
                        "shop_id": shop["id"],
                        "name": "前" * bounds.NAME_MAX,
                        "polygon": [[0.05, 0.4], [0.95, 0.4], [0.95, 0.98], [0.05, 0.98]],
                    }
                ],
            }
        ],
        "rules": [
            {
                "violation": "out_of_shop_trading",
                "zone_kinds": ["shop_frontage"],
                "classes": [longest("class", bounds.LABEL_MAX)],
                "min_dwell_s": 2.0,
                "grace_s": 1.0,
                "update_interval_s": 1.0,
                "cooldown_s": 0.0,
            }
        ],
        "device": {"id": device_id, "key_file": str(key)},
        "evidence": {"clip_pre_s": 1.0, "clip_post_s": 1.0, "clip_fps": 2.0},
    }
    path = root / "site.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path, device_id


def frame(index: int, on: bool, camera_id: str) -> Frame:
    img = np.full((240, 320, 3), 90, dtype=np.uint8)
    img[5:15, (index * 7) % 300 : (index * 7) % 300 + 10] = 255  # motion, so that the clip has some
    if on:
        x1, y1, x2, y2 = (int(v) for v in BOX)
        img[y1:y2, x1:x2] = (30, 30, 220)
    mono = 100.0 + index / FPS
    return Frame(camera_id, index, img, T0 + dt.timedelta(seconds=mono), mono)


def detections(on: bool) -> Detections:
    n = 1 if on else 0
    return Detections(
        xyxy=np.array([BOX][:n], dtype=np.float32).reshape(n, 4),
        confidence=np.array([0.9][:n], dtype=np.float32),
        class_id=np.array([0][:n], dtype=np.int64),
        tracker_id=np.array([7][:n], dtype=np.int64),
    )


def test_a_config_of_longest_ids_is_delivered_and_stored(api, tmp_path: Path):
    path, device_id = site_yaml(tmp_path)
    check = subprocess.run(
        [sys.executable, "-m", "nce", "config", "check", "--no-files", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    config = load_site_config(path)
    camera = config.cameras[0]

    outbox = Outbox(tmp_path / "outbox.sqlite")
    packager = evidence_packager(config, tmp_path / "edge", delivered=outbox)
    sink = OutboxSink(outbox, device_id, packager.evidence_dir)
    packager.listener = sink
    names = {0: config.rules[0].classes[0]}
    engine = RuleEngine(camera, config.rules, names, site_id=config.site.id, tz=config.site.tz)
    ring: list[Frame] = []

    def snapshot() -> list[Frame]:
        return list(ring)

    events = []
    for i in range(int(12 * FPS)):
        on = 2 * FPS <= i < 7 * FPS  # empty, 5 s of the object, empty again
        f = frame(i, on, camera.id)
        ring = [*ring, f][-int(10 * FPS) :]
        dets = detections(on)
        for ev in engine.update(dets, f):
            events.append(ev)
            packager.on_event(ev, f, dets, snapshot)
            sink.on_event(ev, f, dets, snapshot)
        packager.on_sample(f, snapshot)
    packager.close()
    assert [e.event for e in events][:2] == ["opened", "confirmed"] and events[-1].event == "cleared"
    hit_id = events[0].hit_id
    assert len(hit_id) <= bounds.HIT_ID_MAX < len(f"20261126T010000000Z-{camera.id}-{camera.zones[0].id}")
    assert len(packager.written) >= 2  # the violation package and the cleared one

    with api.session() as session:
        pub = public_key_b64(packager.key.public_key()).encode()
        token = add_device(session, device_id=device_id, public_key=pub, actor="test")
    with serving(api.client.app) as base:
        transport = HttpTransport(base, token)
        try:
            relay = Relay(outbox, transport.send)
            assert relay.drain(timeout_s=60), outbox.status()
        finally:
            transport.close()
    items = outbox.items()
    assert items and all(i.status == "delivered" for i in items), [
        (i.kind, i.status, i.last_error) for i in items
    ]

    assert api.count("hit_events") == len(items)
    with api.state.engine.connect() as conn:
        case = conn.execute(text("SELECT camera_id, zone_id, shop_id, site_id FROM cases")).one()
        hit_ids = set(conn.execute(text("SELECT hit_id FROM hit_events")).scalars())
    assert tuple(case) == (camera.id, camera.zones[0].id, camera.zones[0].shop_id, config.site.id)
    assert hit_ids == {hit_id}
