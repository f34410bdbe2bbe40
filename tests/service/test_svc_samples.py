"""Ingest of sample packages (frames the edge picked to learn from): verified, chained, stored and
logged like every package, recorded as ``sample_ingested``, never a case."""

from __future__ import annotations

from sqlalchemy import select

from nce.manifest import NearMiss, sign_manifest
from service.models import Case, EvidenceFile, HitEventRow, LedgerEntry, LogLeafRow
from tests.support.devices import DeviceHandle, Package, new_key
from tests.support.images import jpeg
from tests.support.manifests import SAMPLE_FILES, make_manifest, sample_fields


def sample(dev: DeviceHandle, *, sign_with=None, **changes) -> Package:
    """The device's next package in its chain: a sample (``changes``: of its sample block)."""
    seq = dev.seq + 1
    unsigned = make_manifest(
        sequence=seq, prev_hash=dev.prev, device_id=dev.device_id, files=SAMPLE_FILES,
        package_id=f"{dev.device_id}-{seq:08d}-sample", **sample_fields(**changes),
    )  # fmt: skip
    signed = sign_manifest(unsigned, sign_with or dev.key)
    pkg = Package(signed, signed.to_json_bytes(), SAMPLE_FILES)
    dev.seq, dev.prev = seq, pkg.hash
    return pkg


def test_a_sample_is_stored_and_files_no_case(api):
    dev = api.device("edge-01")
    pkg = sample(dev)
    r = dev.post(api.client, pkg)
    assert r.status_code == 201, r.text
    assert r.json() == {
        "hit_id": pkg.manifest.package_id,
        "case_id": None,
        "case_status": None,
        "merged": False,
        "chain_gap": False,
    }
    with api.session() as s:
        assert s.execute(select(Case)).scalars().all() == []
        row = s.execute(select(HitEventRow)).scalar_one()
        assert (row.event, row.seq, row.case_id, row.hit_id) == ("sample", 1, None, pkg.manifest.package_id)
        assert (row.violation, row.zone_id, row.camera_id) == ("", "", "cam-01")
        assert row.manifest is not None and row.manifest["sample"]["reason"] == "low_confidence"
        files = {f.name: f.sha256 for f in s.execute(select(EvidenceFile)).scalars()}
        assert set(files) == {"frame.jpg", "manifest.json"}
        entry = s.execute(select(LedgerEntry).where(LedgerEntry.action != "device_enrolled")).scalar_one()
        assert (entry.action, entry.case_id, entry.actor) == ("sample_ingested", None, "device:edge-01")
        assert entry.payload["package_id"] == pkg.manifest.package_id
        assert entry.payload["reason"] == "low_confidence" and entry.payload["manifest_hash"] == pkg.hash
        assert entry.payload["files"] == {"frame.jpg": files["frame.jpg"]}
        assert s.execute(select(LogLeafRow.manifest_hash)).scalar_one() == pkg.hash
    assert api.state.store.read(files["frame.jpg"]) == SAMPLE_FILES["frame.jpg"][2]
    assert api.client.get("/api/v1/cases", headers=api.user("operator")).json()["items"] == []
    verify = api.client.get("/api/v1/ledger/verify", headers=api.user("admin")).json()
    assert verify["ok"] is True, verify


def test_samples_and_hits_share_the_devices_chain(api):
    dev = api.device("edge-01")
    first = dev.post(api.client, sample(dev))
    hit = dev.package()
    second = dev.post(api.client, hit)
    near = NearMiss(zone_id="z-front-1", violation="out_of_shop_trading", why="score")
    third = dev.post(api.client, sample(dev, reason="near_miss", near_miss=near, picked=[1]))
    assert [r.status_code for r in (first, second, third)] == [201, 201, 201]
    assert second.json()["case_id"] == 1 and not second.json()["chain_gap"]
    assert third.json()["case_id"] is None and not third.json()["chain_gap"]
    with api.session() as s:
        rows = s.execute(select(HitEventRow.seq, HitEventRow.event).order_by(HitEventRow.id)).all()
        assert [tuple(r) for r in rows] == [(1, "sample"), (2, "confirmed"), (3, "sample")]
        case = s.execute(select(Case)).scalar_one()
        assert case.hit_count == 1
    verify = api.client.get("/api/v1/ledger/verify", headers=api.user("admin")).json()
    assert verify["ok"] is True, verify


def test_a_repeated_sample_answers_the_first_answer_and_a_replay_is_refused(api):
    dev = api.device("edge-01")
    pkg = sample(dev)
    first = dev.post(api.client, pkg, key="s-1")
    again = dev.post(api.client, pkg, key="s-1")
    assert (first.status_code, again.status_code) == (201, 200) and again.json() == first.json()
    replay = dev.post(api.client, pkg, key="s-2")
    assert replay.status_code == 422 and "replayed" in replay.json()["detail"]


def test_a_sample_signed_by_another_key_is_refused_and_nothing_stored(api):
    dev = api.device("edge-01")
    r = dev.post(api.client, sample(dev, sign_with=new_key()))
    assert r.status_code == 401
    with api.session() as s:
        assert s.execute(select(HitEventRow)).scalars().all() == []
        assert [e.action for e in s.execute(select(LedgerEntry)).scalars()] == ["device_enrolled"]
    assert api.state.store.count() == 0


def test_a_sample_frame_joins_the_frame_pool_with_its_detections(api):
    dev = api.device("edge-01")
    image = jpeg(1920, 1080, seed=3)
    files = {"frame.jpg": ("still_raw", "image/jpeg", image)}
    seq = dev.seq + 1
    unsigned = make_manifest(
        sequence=seq, prev_hash=dev.prev, device_id=dev.device_id, files=files,
        package_id=f"{dev.device_id}-{seq:08d}-sample", **sample_fields(),
    )  # fmt: skip
    signed = sign_manifest(unsigned, dev.key)
    pkg = Package(signed, signed.to_json_bytes(), files)
    dev.seq, dev.prev = seq, pkg.hash
    assert dev.post(api.client, pkg).status_code == 201
    op = api.user("operator")
    items = api.client.get("/api/v1/frames", params={"status": "unlabelled"}, headers=op).json()["items"]
    assert len(items) == 1
    frame = items[0]
    assert (frame["source"], frame["reason"], frame["camera_id"]) == ("sample", "low_confidence", "cam-01")
    assert (frame["width"], frame["height"], frame["labels"]) == (1920, 1080, None)
    assert [d["label"] for d in frame["detections"]] == [d.label for d in signed.sample.detections]
    assert api.client.get(f"/api/v1/frames/{frame['frame_id']}/image", headers=op).content == image
    with api.session() as s:
        entry = s.execute(select(LedgerEntry).where(LedgerEntry.action != "device_enrolled")).scalar_one()
        assert entry.payload["frame_id"] == frame["frame_id"]
    # the same frame sent again in a later sample is not a second pool entry
    seq = dev.seq + 1
    again = sign_manifest(
        make_manifest(
            sequence=seq, prev_hash=dev.prev, device_id=dev.device_id, files=files,
            package_id=f"{dev.device_id}-{seq:08d}-sample", **sample_fields(),
        ),
        dev.key,
    )  # fmt: skip
    assert dev.post(api.client, Package(again, again.to_json_bytes(), files)).status_code == 201
    assert len(api.client.get("/api/v1/frames", headers=op).json()["items"]) == 1
    assert api.client.get("/api/v1/ledger/verify", headers=api.user("admin")).json()["ok"] is True
