"""Sample packages end to end, with real processes: ``nce run`` (a generated video through a
colour-patch ONNX model, learning on, a mask) → signed sample packages in the device's chain → the
outbox → the case service (``python -m nce serve``), which stores them, logs them and files no case.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from nce.manifest import MANIFEST_NAME, parse_manifest, verify_package_dir
from tests.support import pipelines as pf
from tests.support.delivery import Service, add_uplink, check_exactly_once, make_device, nce

pytestmark = pytest.mark.timeout(240)

STALL_MASK = {"classes": ["stall"], "polygon": [[0.0, 0.4], [0.4, 0.4], [0.4, 1.0], [0.0, 1.0]]}


def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


def test_sample_packages_reach_the_service_and_file_no_case(tmp_path: Path) -> None:
    model, video = pf.model(tmp_path / "colour.onnx"), pf.scene_video(tmp_path / "scene.mp4")
    (tmp_path / "svc").mkdir()
    svc = Service(tmp_path / "svc")
    dev = make_device(tmp_path, "edge-l")
    svc.enroll(dev.id, dev.pub_file, dev.token_file)
    edge = tmp_path / "edge-box"
    edge.mkdir()
    camera = pf.camera("cam-a", str(video), masks=[STALL_MASK])
    # periodic: one per minute slot (the first inferred frame: 1, or 2 if the run crosses a minute);
    # dwell near misses come from none of this scene's hits (both confirm)
    learning = {"enabled": True, "periodic_every_s": 60, "min_gap_s": 0}
    cfg = pf.site_config(edge / "site.yaml", model, [camera], extra={"learning": learning})
    add_uplink(cfg, dev, svc.url, drain_s=20.0)
    svc.start()
    try:
        done = nce("run", "--config", str(cfg), "--until-eof", cwd=edge)
        assert done.returncode == 0, done.stderr[-3000:]
        counts = check_exactly_once(svc, dev.id, edge / "edge" / "outbox.sqlite")
        rows = svc.rows(dev.id)
        verified = nce("ledger", "verify", "--db", svc.db_url, "--json", cwd=tmp_path)
    finally:
        svc.stop()
    assert counts["pending"] == counts["poisoned"] == counts["duplicates"] == counts["lost"] == 0, counts
    assert counts["unexpected"] == 0 and counts["in_order"] == 1, counts

    samples = [r for r in rows if r["event"] == "sample"]
    packages = [r for r in rows if r["seq"] is not None]
    assert 1 <= len(samples) <= 2, rows
    # the chain holds every package, samples among them, without a gap
    assert [r["seq"] for r in packages] == list(range(1, len(packages) + 1))
    assert not any(r["chain_gap"] for r in rows)
    # a sample is stored and files no case; the masked stall made no hit, the banner its one case
    assert all(r["case_id"] is None and r["hit_id"] == r["package_id"] for r in samples)
    assert all(r["case_id"] is not None for r in packages if r["event"] != "sample")
    assert query(svc.db, "SELECT violation FROM cases") == [("illegal_ad",)]
    # stored: the row's manifest, its files by content address, its log leaf and its ledger entry
    for r in samples:
        (manifest_json,) = query(
            svc.db, "SELECT manifest FROM hit_events WHERE package_id = ?", r["package_id"]
        )[0]
        manifest = parse_manifest(manifest_json)
        assert manifest.kind == "sample" and manifest.sample is not None
        assert manifest.sample.reason == "periodic" and manifest.event is None and manifest.zone is None
        assert (manifest.sample.width, manifest.sample.height) == (320, 240)
        assert all(d.label != "stall" for d in manifest.sample.detections), "masked: never in a sample"
        files = dict(
            query(
                svc.db,
                "SELECT f.name, f.sha256 FROM evidence_files f JOIN hit_events e ON e.id = f.event_id "
                "WHERE e.package_id = ?",
                r["package_id"],
            )
        )
        assert set(files) == {"frame.jpg", MANIFEST_NAME}
        for sha in files.values():
            assert (svc.root / "store" / sha[:2] / sha[2:4] / sha).is_file()
        entries = query(svc.db, "SELECT case_id, payload FROM ledger WHERE action = 'sample_ingested'")
        payloads = [json.loads(p) for _c, p in entries]
        assert any(p["package_id"] == r["package_id"] and p["reason"] == "periodic" for p in payloads)
        assert all(c is None for c, _p in entries)
    leaves = query(svc.db, "SELECT count(*) FROM transparency_leaves")[0][0]
    assert leaves == len(packages)
    # the ledger replays into the tables, sample packages included
    assert verified.returncode == 0, verified.stdout + verified.stderr
    result = json.loads(verified.stdout)
    assert result["ok"] is True and result["packages"] == len(packages), result

    # on the edge: every package verifies offline against the device key, chain checked
    evidence = edge / "edge" / "evidence"
    ok = nce("evidence", "verify", str(evidence), "--pubkey", str(dev.pub_file), "--chain", cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    sample_dirs = sorted(p for p in evidence.iterdir() if p.name.endswith("-sample"))
    assert len(sample_dirs) == len(samples)
    report = verify_package_dir(sample_dirs[0])
    assert report.ok and report.manifest is not None and report.manifest.sample is not None
    assert (sample_dirs[0] / "frame.jpg").read_bytes()[:3] == b"\xff\xd8\xff"


def test_the_demo_config_turns_learning_on() -> None:
    """`nce demo` writes its site config with learning on (the example shows it off)."""
    from demo.run import learning_section

    section = learning_section()
    assert section["enabled"] is True
    doc = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / "site.example.yaml").read_text())
    assert doc["learning"]["enabled"] is False
