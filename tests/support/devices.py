"""Devices of the case service for tests: enrolled edge boxes that sign real, chained packages
(built by :func:`tests.support.manifests.make_manifest`) and post them to ``POST /api/v1/hits``."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from nce.manifest import (
    GENESIS_HASH,
    CameraRef,
    DerivedFrom,
    Manifest,
    SiteRef,
    Still,
    ZoneRef,
    manifest_hash,
    public_key_b64,
    sign_manifest,
    utc_ms,
)
from tests.support.manifests import event_info, make_manifest

T0 = dt.datetime(2026, 11, 26, 8, 0, 0, tzinfo=dt.UTC)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
MP4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00"

_counter = itertools.count(1)


def files_for(tag: str, size: int = 200) -> dict[str, tuple[str, str, bytes]]:
    """name -> (role, mime, bytes): three stills, a crop and a clip, distinct per ``tag``."""
    pad = (tag.encode() * (size // max(1, len(tag)) + 1))[:size]
    return {
        "still-1-first_seen.jpg": ("still_raw", "image/jpeg", JPEG + b"1" + pad),
        "still-2-between.jpg": ("still_raw", "image/jpeg", JPEG + b"2" + pad),
        "still-3-confirmed.jpg": ("still_raw", "image/jpeg", JPEG + b"3" + pad),
        "crop.jpg": ("crop", "image/jpeg", JPEG + b"c" + pad),
        "clip.mp4": ("clip", "video/mp4", MP4 + pad),
    }


@dataclass
class Package:
    manifest: Manifest
    manifest_bytes: bytes
    files: dict[str, tuple[str, str, bytes]]

    @property
    def hash(self) -> str:
        return manifest_hash(self.manifest)

    def multipart(self) -> list[tuple[str, tuple[str, bytes, str]]]:
        parts = [("manifest", ("manifest.json", self.manifest_bytes, "application/json"))]
        for name, (_role, mime, data) in self.files.items():
            parts.append((name, (name, data, mime)))
        return parts


@dataclass
class DeviceHandle:
    device_id: str
    key: Ed25519PrivateKey
    token: str
    seq: int = 0
    prev: str = GENESIS_HASH
    history: list[Package] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def package(
        self,
        *,
        hit_id: str | None = None,
        event: str = "confirmed",
        kind: str = "violation",
        shop_id: str | None = "S-0001",
        camera_id: str = "cam-01",
        zone_id: str = "z-front-1",
        violation: str = "out_of_shop_trading",
        ts: dt.datetime | None = None,
        files: dict[str, tuple[str, str, bytes]] | None = None,
        sequence: int | None = None,
        prev: str | None = None,
        advance: bool = True,
        size: int = 200,
        derived_from: DerivedFrom | None = None,
        sign_with: Ed25519PrivateKey | None = None,
        label: str = "stall",
        score: float = 0.91,
        **overrides: Any,
    ) -> Package:
        n = next(_counter)
        hit_id = hit_id or f"hit-{self.device_id}-{n}"
        ts = ts or T0 + dt.timedelta(minutes=n)
        files = files if files is not None else files_for(f"{self.device_id}-{n}", size)
        seq = sequence if sequence is not None else self.seq + 1
        stills = []
        if "still-1-first_seen.jpg" in files:
            stills = [
                Still(
                    moment="first_seen",
                    frame_utc=utc_ms(ts - dt.timedelta(seconds=300)),
                    frame_index=1,
                    raw="still-1-first_seen.jpg",
                    annotated=None,
                    box=(1.0, 2.0, 30.0, 40.0),
                ),
                Still(
                    moment="confirmed",
                    frame_utc=utc_ms(ts),
                    frame_index=600,
                    raw="still-3-confirmed.jpg",
                    annotated=None,
                    box=(1.0, 2.0, 30.0, 40.0),
                ),
            ]
        fields: dict[str, Any] = dict(
            package_id=f"{self.device_id}-{seq:08d}"
            if kind != "public_copy"
            else f"{self.device_id}-pub-{n}",
            kind=kind,
            created_at=utc_ms(ts),
            site=SiteRef(id="sh-bs-01", name="宝山区 示范路段", timezone="Asia/Shanghai"),
            camera=CameraRef(id=camera_id, name="友谊路 东口", location=None),
            zone=ZoneRef(
                id=zone_id, kind="shop_frontage", name=None, polygon=[(0.1, 0.5), (0.9, 0.5), (0.9, 1.0)]
            ),
            shop_id=shop_id,
            violation=violation,
            rule=None,
            event=event_info(
                hit_id=hit_id,
                event=event,
                ts=utc_ms(ts),
                first_seen=utc_ms(ts - dt.timedelta(seconds=300)),
                confirmed_at=utc_ms(ts) if event != "opened" else None,
                cleared_at=utc_ms(ts) if event == "cleared" else None,
                box=(1.0, 2.0, 30.0, 40.0),
                label=label,
                score=score,
            ),
            stills=stills,
            model=None,
            derived_from=derived_from,
        )
        fields.update(overrides)
        unsigned = make_manifest(
            sequence=seq,
            prev_hash=prev if prev is not None else self.prev,
            device_id=self.device_id,
            files=files,
            **fields,
        )
        manifest = sign_manifest(unsigned, sign_with or self.key)
        pkg = Package(manifest, manifest.to_json_bytes(), files)
        if advance and kind != "public_copy":
            self.seq = seq
            self.prev = pkg.hash
        self.history.append(pkg)
        return pkg

    def post(self, client: TestClient, pkg: Package, key: str | None = None) -> Any:
        idem = key or f"{self.device_id}:{pkg.manifest.sequence}:{pkg.manifest.package_id}"
        return client.post(
            "/api/v1/hits", files=pkg.multipart(), headers={**self.headers, "Idempotency-Key": idem}
        )


def new_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def pub_b64(key: Ed25519PrivateKey) -> bytes:
    return public_key_b64(key.public_key()).encode()
