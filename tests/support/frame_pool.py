"""The frame pool in service tests: packages whose raw stills are real JPEGs, delivered as cases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from nce.manifest import DetectionRecord, Still, utc_ms
from service.app import create_app
from service.db import make_engine
from service.migrate import upgrade
from tests.support.devices import MP4, DeviceHandle, Package
from tests.support.images import jpeg
from tests.support.service_api import Api, make_settings

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


@contextmanager
def sqlite_service(root: Path) -> Iterator[Api]:
    """A service on a new SQLite file under ``root`` (migrated), for tests outside tests/service/
    that need a frame pool (e.g. to export one and train on it)."""
    url = f"sqlite:///{root}/nce.sqlite3"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = create_app(make_settings(url, root / "evidence"))
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        yield Api(client, app.state.nce, url, root / "evidence")


def labelled_export(api: Api, out: Path, *, cameras: int = 2, days: int = 2, per_group: int = 2) -> int:
    """Fill the pool with ``cameras x days x per_group`` imported 640x480 frames labelled complete by
    ``alice`` (one box each, cycling through the model's classes; every fourth frame a negative), plus
    two review cases (a confirm and a false-detection dismissal, partial labels), and export it with
    ``--include-partial`` to ``out``. Returns how many frames were labelled."""
    import hashlib

    from nce.cli import main as nce_main
    from nce.vocabulary import MODEL_CLASSES
    from tests.support.images import jpeg

    store = ["--db", api.url, "--evidence-dir", str(api.evidence_dir)]
    footage = out.parent / f"{out.name}-footage"
    footage.mkdir(parents=True, exist_ok=True)
    seed = 0
    for c in range(cameras):
        for d in range(days):
            paths = []
            for _ in range(per_group):
                seed += 1
                path = footage / f"{seed}.jpg"
                path.write_bytes(jpeg(640, 480, seed=seed))
                paths.append(str(path))
            day = f"2026-11-{20 + d}"
            assert (
                nce_main(
                    ["frames", "import", *store, "--camera-id", f"cam-{c + 1}", "--taken-at", day, *paths]
                )
                == 0
            )
    alice = api.user("operator", username=f"alice-{hashlib.sha256(str(out).encode()).hexdigest()[:6]}")
    frames = api.client.get("/api/v1/frames?limit=200", headers=alice).json()["items"]
    for n, f in enumerate(sorted(frames, key=lambda f: f["frame_id"])):
        boxes = [] if n % 4 == 3 else [{"label": MODEL_CLASSES[n % 7], "box": [100, 120, 300, 400]}]
        r = api.client.put(
            f"/api/v1/frames/{f['frame_id']}/labels", json={"boxes": boxes, "complete": True}, headers=alice
        )
        assert r.status_code == 200, r.text
    dev, sup = api.device(), api.user("supervisor")
    for n, body in (
        (91, {"decision": "confirm"}),
        (92, {"decision": "dismiss", "reason": "误检", "false_detection": True}),
    ):
        case_id, _ = deliver(api, dev, n)
        assert api.client.post(f"/api/v1/cases/{case_id}/review", json=body, headers=sup).status_code == 200
    assert nce_main(["dataset", "export", *store, "--out", str(out), "--include-partial", "--json"]) == 0
    return len(frames)
