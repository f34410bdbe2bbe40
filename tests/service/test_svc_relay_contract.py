"""The wire contract with the edge: the relay's HTTP transport (detector.delivery.transport) against this service."""

from __future__ import annotations

import time
from pathlib import Path

from detector.delivery.outbox_items import OutboxItem
from detector.delivery.transport import HttpTransport
from tests.support.manifests import plain_event
from tests.support.servers import serving


def _item(dev, seq: int, package_dir: Path | None, kind: str, payload: dict) -> OutboxItem:
    return OutboxItem(
        seq=seq,
        device_id=dev.device_id,
        kind=kind,  # type: ignore[arg-type]
        hit_id=payload.get("hit_id", "h"),
        event=payload.get("event", "confirmed"),
        payload=payload,
        package_dir=package_dir,
        created_at=time.time(),
        status="pending",  # type: ignore[arg-type]
        attempts=0,
        next_attempt_at=0.0,
        last_error=None,
    )


def test_relay_delivers_packages_and_events_exactly_once(api, tmp_path):
    dev = api.device()
    pkg = dev.package()
    folder = tmp_path / pkg.manifest.package_id
    folder.mkdir()
    (folder / "manifest.json").write_bytes(pkg.manifest_bytes)
    for name, (_role, _mime, data) in pkg.files.items():
        (folder / name).write_bytes(data)
    event = plain_event(hit_id=pkg.manifest.event.hit_id, dwell_s=14400.0, sightings=900)
    with serving(api.client.app) as base:
        transport = HttpTransport(base, dev.token)
        try:
            first = transport.send(_item(dev, 1, folder, "package", {}))
            again = transport.send(_item(dev, 1, folder, "package", {}))  # a retry after a lost answer
            ev = transport.send(_item(dev, 2, None, "event", event))
            (folder / "crop.jpg").write_bytes(b"\xff\xd8\xff tampered")  # poisoned: never accepted
            tampered = transport.send(_item(dev, 3, folder, "package", {}))
        finally:
            transport.close()
    assert (first.kind, again.kind, ev.kind) == ("delivered", "delivered", "delivered"), (first, again, ev)
    assert first.response == again.response and first.response["case_status"] == "draft"
    assert ev.response["case_id"] == first.response["case_id"]
    assert tampered.kind == "poisoned" and "crop.jpg" in tampered.detail
    assert api.count("hit_events") == 2 and api.count("cases") == 1
