"""A synthetic camera for evidence tests and the evidence benchmark: numpy frames, a ring buffer,
hit events fed to a sink the way the pipeline feeds them (no model needed)."""

from __future__ import annotations

import datetime as dt
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from detector.config import SiteConfig, parse_site_config
from detector.delivery.outbox import Outbox
from detector.detections import Detections
from detector.events import EventKind, EventSink, Frame, HitEvent
from nce.manifest import generate_private_key, save_private_key, save_public_key

T0 = dt.datetime(2026, 11, 26, 1, 0, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai
BOX = (60.0, 120.0, 140.0, 200.0)


def make_config(
    tmp: Path, *, violation: str = "out_of_shop_trading", min_dwell_s: float = 20.0, **evidence: Any
) -> SiteConfig:
    keys = tmp / "keys"
    if not (keys / "edge-01.key").exists():
        keys.mkdir(exist_ok=True)
        key = generate_private_key()
        save_private_key(key, keys / "edge-01.key")
        save_public_key(key.public_key(), keys / "edge-01.pub")
    kind = "no_ads" if violation == "illegal_ad" else "shop_frontage"
    zone: dict[str, Any] = {
        "id": "z1",
        "kind": kind,
        "name": "门前",
        "polygon": [[0.05, 0.4], [0.95, 0.4], [0.95, 0.98], [0.05, 0.98]],
    }
    if kind == "shop_frontage":
        zone["shop_id"] = "shop-001"
    return parse_site_config(
        {
            "site": {"id": "sh-test", "name": "测试路口"},
            "model": {"path": "models/none.onnx"},
            "shops": [{"id": "shop-001", "name": "老王水果店", "code": "310115-0001"}],
            "cameras": [
                {
                    "id": "cam-01",
                    "name": "张江路东口",
                    "source": "none.mp4",
                    "location": {"lat": 31.2, "lon": 121.6, "address": "张江路 1 号"},
                    "zones": [zone],
                }
            ],
            "rules": [
                {
                    "violation": violation,
                    "zone_kinds": [kind],
                    "classes": ["stall"],
                    "min_dwell_s": min_dwell_s,
                    "active_hours": {"from": "07:00", "to": "20:00"},
                }
            ],
            "device": {"id": "edge-01", "key_file": str(keys / "edge-01.key")},
            "evidence": evidence,
        }
    )


class Camera:
    """Frames at ``fps`` (media time from 100 s), a 10 s ring, samples at ``sample_fps``."""

    def __init__(
        self,
        sink: EventSink,
        *,
        hw: tuple[int, int] = (240, 320),
        fps: float = 5.0,
        t0: dt.datetime = T0,
    ) -> None:
        self.sink = sink
        self.t0 = t0  # the UTC time of media time 0
        self.h, self.w = hw
        self.fps = fps
        self.index = 0
        self.mono = 100.0
        self.ring_frames: deque[Frame] = deque()
        self.object_on = False
        self.violation = "out_of_shop_trading"
        rng = np.random.default_rng(7)
        base = rng.integers(60, 140, size=(self.h, self.w, 3), dtype=np.uint8)
        base[: self.h // 3] = (200, 160, 120)  # "sky/building"
        self.background = base

    def ring(self) -> list[Frame]:
        return list(self.ring_frames)

    def frame(self) -> Frame:
        img = self.background.copy()
        # a moving bar so that frames differ (the clip has motion)
        x = int((self.index * 7) % self.w)
        img[5:15, max(0, x - 10) : x] = (255, 255, 255)
        if self.object_on:
            x1, y1, x2, y2 = (int(v) for v in BOX)
            img[y1:y2, x1:x2] = (30, 30, 220)
        f = Frame("cam-01", self.index, img, self.t0 + dt.timedelta(seconds=self.mono), self.mono)
        self.index += 1
        self.mono = round(self.mono + 1.0 / self.fps, 6)
        self.ring_frames.append(f)
        while self.ring_frames and f.mono - self.ring_frames[0].mono > 10.0:
            self.ring_frames.popleft()
        return f

    def run(self, seconds: float, sample_every: int = 2) -> Frame:
        """Advance ``seconds``; every ``sample_every``-th frame is a sample. Returns the last frame."""
        last = None
        for i in range(round(seconds * self.fps)):
            last = self.frame()
            if i % sample_every == 0:
                self.sink.on_sample(last, self.ring)
        assert last is not None
        return last

    def event(self, kind: EventKind, frame: Frame, first: Frame, hit_id: str = "hit-1") -> None:
        det = Detections(
            xyxy=np.array([BOX], dtype=np.float32) if self.object_on else np.zeros((0, 4), np.float32),
            confidence=np.array([0.9] if self.object_on else [], dtype=np.float32),
            class_id=np.array([0] if self.object_on else [], dtype=np.int64),
            tracker_id=np.array([7] if self.object_on else [], dtype=np.int64),
        )
        ev = HitEvent(
            event=kind,
            hit_id=hit_id,
            site_id="sh-test",
            camera_id="cam-01",
            zone_id="z1",
            shop_id="shop-001" if self.violation != "illegal_ad" else None,
            violation=self.violation,  # type: ignore[arg-type]
            track_id=7,
            label="stall",
            score=0.9,
            box=BOX,
            ts=frame.utc,
            first_seen=first.utc,
            last_seen=frame.utc,
            dwell_s=round(frame.mono - first.mono, 3),
            sightings=int((frame.mono - first.mono) * 2) + 1,
        )
        self.sink.on_event(ev, frame, det, self.ring)
        self.sink.on_sample(frame, self.ring)


def violation_then_cleared(
    cam: Camera, *, dwell_s: float = 20.0, hit_id: str = "hit-1", clear: bool = True
) -> None:
    """10 s of empty street, an object for ``dwell_s`` (+ a bit), then empty again (cleared)."""
    cam.run(10.0)
    cam.object_on = True
    first = cam.frame()
    cam.event("opened", first, first, hit_id)
    last = cam.run(dwell_s - 0.2)
    confirm = cam.frame()
    assert confirm.mono - first.mono >= dwell_s - 1e-6, (confirm.mono, first.mono)
    cam.event("confirmed", confirm, first, hit_id)
    last = cam.run(2.0)
    if clear:
        cam.object_on = False
        last = cam.run(2.0)
        cam.event("cleared", last, first, hit_id)


def mark_delivered(outbox: Outbox, package: Path) -> None:
    """The service has ``package``: its outbox item, delivered (what the relay records on a 2xx)."""
    seq = outbox.add(
        device_id="edge-01",
        kind="package",
        hit_id=package.name,
        event="confirmed",
        payload={"package_id": package.name},
        package_dir=package,
    )
    outbox.mark_delivered(seq)
