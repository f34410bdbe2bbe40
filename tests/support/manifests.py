"""Evidence manifests and package folders (real keys, real files; no model, no numpy): the one
manifest builder of the tests. ``make_manifest`` fills every field with a plausible confirmed hit
(``sample_fields`` turns it into a sample package: a frame to learn from, no hit); callers override
what they test (the service's devices in :mod:`tests.support.devices`, the edge's
synthetic outbox in :mod:`tests.support.delivery`).
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nce.manifest import (
    GENESIS_HASH,
    MANIFEST_NAME,
    CameraRef,
    DetectionRecord,
    EventInfo,
    FileEntry,
    Manifest,
    ModelRef,
    RuleRef,
    SampleInfo,
    SiteRef,
    SoftwareRef,
    Still,
    ZoneRef,
    canonical_json,
    key_fingerprint,
    public_key_b64,
    sha256_hex,
    sign_manifest,
    signing_payload,
    utc_ms,
)

T0 = dt.datetime(2026, 11, 26, 8, 0, 0, 123000, tzinfo=dt.UTC)

# small but real-looking file contents: the JPEG/MP4 magic numbers, then filler
FILES: dict[str, tuple[str, str, bytes]] = {
    "still-1-first_seen.jpg": ("still_raw", "image/jpeg", b"\xff\xd8\xff\xe0" + b"a" * 200),
    "still-1-first_seen.annotated.jpg": ("still_annotated", "image/jpeg", b"\xff\xd8\xff\xe0" + b"b" * 200),
    "still-2-between.jpg": ("still_raw", "image/jpeg", b"\xff\xd8\xff\xe0" + b"c" * 200),
    "still-3-confirmed.jpg": ("still_raw", "image/jpeg", b"\xff\xd8\xff\xe0" + b"d" * 200),
    "crop.jpg": ("crop", "image/jpeg", b"\xff\xd8\xff\xe0" + b"e" * 100),
    "clip.mp4": ("clip", "video/mp4", b"\x00\x00\x00\x20ftypisom" + b"f" * 300),
}


SAMPLE_FILES: dict[str, tuple[str, str, bytes]] = {
    "frame.jpg": ("still_raw", "image/jpeg", b"\xff\xd8\xff\xe0" + b"s" * 300),
}


def sample_info(**changes: Any) -> SampleInfo:
    """A low_confidence sample of a 1920 x 1080 frame: a stall at 0.22 (picked) and a person at 0.8."""
    fields: dict[str, Any] = dict(
        reason="low_confidence",
        frame="frame.jpg",
        frame_utc=utc_ms(T0),
        frame_index=1234,
        width=1920,
        height=1080,
        score_floor=0.15,
        detections=[
            DetectionRecord(label="person", score=0.8, box=(100.0, 200.0, 180.0, 420.0), track_id=3),
            DetectionRecord(label="stall", score=0.22, box=(600.0, 500.0, 900.0, 800.0), track_id=None),
        ],
        picked=[1],
        near_miss=None,
    )
    fields.update(changes)
    return SampleInfo(**fields)


def sample_fields(**changes: Any) -> dict[str, Any]:
    """``make_manifest`` overrides that make a sample package (pass ``files=SAMPLE_FILES`` too)."""
    fields: dict[str, Any] = dict(
        kind="sample",
        zone=None,
        shop_id=None,
        violation=None,
        rule=None,
        event=None,
        stills=[],
        detections=[],
        track=[],
        ocr=None,
        sample=sample_info(**changes),
    )
    return fields


def event_info(*, first_seen: str, ts: str, hit_id: str = "hit-1", **changes: Any) -> EventInfo:
    """The event of a confirmed stall hit (track 7, 300 s, 150 sightings) at ``ts``; ``changes``
    replace any of its fields."""
    fields: dict[str, Any] = dict(
        hit_id=hit_id,
        event="confirmed",
        ts=ts,
        first_seen=first_seen,
        confirmed_at=ts,
        last_seen=ts,
        cleared_at=None,
        dwell_s=300.0,
        sightings=150,
        track_id=7,
        label="stall",
        score=0.91,
        box=(10.0, 20.0, 110.0, 220.0),
    )
    fields.update(changes)
    return EventInfo(**fields)


def make_manifest(
    *,
    sequence: int = 1,
    prev_hash: str = GENESIS_HASH,
    device_id: str = "edge-01",
    files: dict[str, tuple[str, str, bytes]] | None = None,
    **overrides: Any,
) -> Manifest:
    """An unsigned manifest naming ``files`` (name → (role, mime, content))."""
    files = FILES if files is None else files
    entries = [
        FileEntry(name=n, role=role, sha256=sha256_hex(data), size=len(data), mime=mime)  # type: ignore[arg-type]
        for n, (role, mime, data) in files.items()
    ]
    t = [utc_ms(T0 + dt.timedelta(seconds=s)) for s in (0, 150, 300)]
    stills = []
    if "still-1-first_seen.jpg" in files:
        stills = [
            Still(
                moment="first_seen",
                frame_utc=t[0],
                frame_index=10,
                raw="still-1-first_seen.jpg",
                annotated="still-1-first_seen.annotated.jpg",
                box=(10.0, 20.0, 110.0, 220.0),
            ),
            Still(
                moment="between",
                frame_utc=t[1],
                frame_index=310,
                raw="still-2-between.jpg",
                annotated=None,
                box=None,
            ),
            Still(
                moment="confirmed",
                frame_utc=t[2],
                frame_index=610,
                raw="still-3-confirmed.jpg",
                annotated=None,
                box=None,
            ),
        ]
    fields: dict[str, Any] = dict(
        package_id=f"{device_id}-{sequence:08d}",
        kind="violation",
        device_id=device_id,
        sequence=sequence,
        prev_manifest_hash=prev_hash,
        created_at=t[2],
        site=SiteRef(id="sh-pd-01", name="浦东新区 测试路口", timezone="Asia/Shanghai"),
        camera=CameraRef(id="cam-01", name="张江路东口", location=None),
        zone=ZoneRef(
            id="z-shop-1", kind="shop_frontage", name="门前", polygon=[(0.1, 0.5), (0.9, 0.5), (0.9, 1.0)]
        ),
        shop_id="shop-001",
        violation="out_of_shop_trading",
        rule=RuleRef(
            classes=["stall", "goods"],
            zone_kinds=["shop_frontage"],
            min_dwell_s=300.0,
            grace_s=30.0,
            cooldown_s=1800.0,
            min_score=0.0,
            min_area_px=0.0,
            active_hours="07:00-18:00",
        ),
        event=event_info(first_seen=t[0], ts=t[2]),
        stills=stills,
        model=ModelRef(
            name="nce-street.onnx",
            sha256="ab" * 32,
            classes=["stall", "goods"],
            conf=0.35,
            iou=0.5,
            providers=["CPUExecutionProvider"],
            imgsz=(640, 640),
        ),
        software=SoftwareRef(version="0.1.0"),
        detections=[],
        track=[],
        ocr=None,
        notes=[],
        derived_from=None,
        files=entries,
        signature=None,
    )
    fields.update(overrides)
    return Manifest(**fields)


def make_signed(key: Ed25519PrivateKey, **kwargs: Any) -> Manifest:
    return sign_manifest(make_manifest(**kwargs), key)


def write_package(
    root: Path, manifest: Manifest, files: dict[str, tuple[str, str, bytes]] | None = None
) -> Path:
    """Write ``manifest`` and its files into ``root/<package_id>/``."""
    files = FILES if files is None else files
    folder = root / manifest.package_id
    folder.mkdir(parents=True)
    for name, (_role, _mime, data) in files.items():
        (folder / name).write_bytes(data)
    (folder / MANIFEST_NAME).write_bytes(manifest.to_json_bytes())
    return folder


def make_package(root: Path, key: Ed25519PrivateKey, **kwargs: Any) -> tuple[Path, Manifest]:
    m = make_signed(key, **kwargs)
    return write_package(root, m, kwargs.get("files")), m


def plain_event(**changes: Any) -> dict[str, Any]:
    """The JSON body of an unsigned ``still_present`` hit event (``POST /api/v1/hits/events``)."""
    body: dict[str, Any] = {
        "event": "still_present",
        "hit_id": "h-1",
        "site_id": "sh-bs-01",
        "camera_id": "cam-01",
        "zone_id": "z-front-1",
        "shop_id": "S-0001",
        "violation": "out_of_shop_trading",
        "track_id": 7,
        "label": "stall",
        "score": 0.9,
        "box": [1.0, 2.0, 3.0, 4.0],
        "ts": "2026-11-26T12:00:00.000Z",
        "first_seen": "2026-11-26T08:00:00.000Z",
        "last_seen": "2026-11-26T12:00:00.000Z",
        "dwell_s": 60.0,
        "sightings": 9,
    }
    body.update(changes)
    return body


def sign_raw(key: Ed25519PrivateKey, doc: dict[str, Any]) -> bytes:
    """``doc`` signed as it stands, no model in between (so it may break any rule): the canonical
    bytes of a manifest an attacker's own device could send."""
    pub = key.public_key()
    doc = {k: v for k, v in doc.items() if k != "signature"}
    doc["signature"] = {
        "algorithm": "Ed25519",
        "public_key": public_key_b64(pub),
        "key_fingerprint": key_fingerprint(pub),
        "signature": base64.b64encode(key.sign(signing_payload(doc))).decode(),
    }
    return canonical_json(doc)
