"""The frame pool in service tests: packages whose raw stills are real JPEGs, delivered as cases."""

from __future__ import annotations

import datetime as dt
from typing import Any

from nce.manifest import DetectionRecord, Still, utc_ms
from tests.support.devices import MP4, DeviceHandle, Package
from tests.support.images import jpeg
from tests.support.service_api import Api

T = dt.datetime(2026, 11, 27, 2, 30, 0, tzinfo=dt.UTC)


def package_with_stills(dev: DeviceHandle, *, n: int, label: str = "stall") -> Package:
    """A package whose three raw stills are real 640x480 JPEGs: the object is boxed on the first
    and the confirmed still (partly outside the frame on the second), not seen on the middle one."""
    ts = T + dt.timedelta(minutes=n)
    files = {
        "still-1.jpg": ("still_raw", "image/jpeg", jpeg(640, 480, seed=10 * n + 1)),
        "still-1.annotated.jpg": ("still_annotated", "image/jpeg", jpeg(640, 480, seed=10 * n + 2)),
        "still-2.jpg": ("still_raw", "image/jpeg", jpeg(640, 480, seed=10 * n + 3)),
        "still-3.jpg": ("still_raw", "image/jpeg", jpeg(640, 480, seed=10 * n + 4)),
        "clip.mp4": ("clip", "video/mp4", MP4 + bytes(50)),
    }
    first = ts - dt.timedelta(seconds=300)
    stills = [
        Still(moment="first_seen", frame_utc=utc_ms(first), frame_index=1, raw="still-1.jpg",
              annotated="still-1.annotated.jpg", box=(100.0, 120.0, 300.0, 400.0)),
        Still(moment="between", frame_utc=utc_ms(ts - dt.timedelta(seconds=150)), frame_index=2,
              raw="still-2.jpg", annotated=None, box=None),
        Still(moment="confirmed", frame_utc=utc_ms(ts), frame_index=3, raw="still-3.jpg", annotated=None,
              box=(600.0, 400.0, 700.0, 500.0)),
    ]  # fmt: skip
    detections = [
        DetectionRecord(label=label, score=0.81, box=(600.0, 400.0, 700.0, 500.0), track_id=3),
        DetectionRecord(label="goods", score=0.4, box=(10.0, 10.0, 50.0, 60.0), track_id=None),
    ]
    return dev.package(
        files=files,
        stills=stills,
        label=label,
        detections=detections,
        ts=ts,
        shop_id=f"S-{n}",
        camera_id="cam-09",
    )


def deliver(api: Api, dev: DeviceHandle, n: int, label: str = "stall") -> tuple[int, dict[str, str]]:
    """Post the package; (its case id, file name -> SHA-256)."""
    pkg = package_with_stills(dev, n=n, label=label)
    r = dev.post(api.client, pkg)
    assert r.status_code == 201, r.text
    shas = {f.name: f.sha256 for f in pkg.manifest.files}
    case_id: Any = r.json()["case_id"]
    return int(case_id), shas
