"""Rollout end to end: ``nce serve`` and two ``nce run`` edge processes. A release assigned as a
canary reaches its one camera on the edge that trusts its key and is refused (bad signature) by the
edge that does not; a release that floods detections is rolled back by the edge by itself, and the
service shows each device's state and why, with ledger entries."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import pipelines as pf
from tests.support.bad_models import flooding_model
from tests.support.cli import nce
from tests.support.delivery import Service, add_uplink, make_device
from tests.support.onnx_models import colour_patch_model
from tests.support.releases import make_release, release_keys
from tests.support.videos import Patch, write_video

pytestmark = pytest.mark.timeout(240)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def edge_config(root: Path, name: str, service: Service, model: Path, video: Path, pubkey: Path) -> Path:
    device = make_device(root, name)
    service.enroll(name, device.pub_file, device.token_file)
    cams = [pf.camera(c, str(video), recheck_s=0.2) for c in ("cam-01", "cam-02")]
    folder = root / name
    folder.mkdir()
    cfg = add_uplink(pf.site_config(folder / "site.yaml", model, cams), device, service.url)
    doc: dict[str, Any] = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    doc["rollout"] = {"enabled": True, "release_pubkey": str(pubkey), "poll_s": 0.5}
    cfg.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return cfg


def models_by_camera(evidence: Path) -> dict[str, set[str]]:
    """The model sha256 each camera's evidence packages name."""
    out: dict[str, set[str]] = {}
    for path in evidence.rglob("manifest.json"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("model"):
            out.setdefault(doc["camera"]["id"], set()).add(doc["model"]["sha256"])
    return out


def test_canary_refusal_and_automatic_roll_back(tmp_path: Path) -> None:
    key, pub = release_keys(tmp_path / "keys")
    _, untrusted = release_keys(tmp_path / "keys", "other")
    site_model = pf.model(tmp_path / "colour.onnx")
    # a stall at 1-5 s (before any swap) and again at 12-18 s (on the canary's model on cam-01)
    scene = [*pf.SCENE, Patch("red", (40, 130, 100, 200), 12.0, 18.0)]
    video = write_video(tmp_path / "long.mp4", scene, duration_s=60.0)
    v2 = colour_patch_model(tmp_path / "v2.onnx", names=pf.NAMES, colours=pf.COLOURS, score=0.85)
    good, signed = make_release(tmp_path, key, model=v2, release_id="colour-v2")
    flood_model = flooding_model(site_model, tmp_path / "flood.onnx")
    flood, _ = make_release(tmp_path, key, model=flood_model, release_id="flood-v3", out=tmp_path / "flood")
    service = Service(tmp_path / "svc")
    service.start(NCE_RELEASE_PUBKEYS=str(pub))
    edges: list[subprocess.Popen[bytes]] = []
    try:
        for folder in (good, flood):
            done = nce("admin", "add-model", "--db", service.db_url, "--evidence-dir", str(service.evidence_dir),
                       "--pubkey", str(pub), str(folder))  # fmt: skip
            assert done.returncode == 0, done.stderr
        cfg_a = edge_config(tmp_path, "edge-a", service, site_model, video, pub)
        cfg_b = edge_config(tmp_path, "edge-b", service, site_model, video, untrusted)
        done = nce("admin", "assign-model", "--db", service.db_url, "--release", "colour-v2",
                   "--devices", "edge-a,edge-b", "--canary-cameras", "cam-01")  # fmt: skip
        assert done.returncode == 0, done.stderr

        def state(device: str) -> tuple[str | None, str | None]:
            row = service.scalar(
                "SELECT state || '|' || COALESCE(why, '') FROM device_rollouts WHERE device_id = ?", device
            )
            s, why = str(row).split("|", 1)
            return s, why or None

        for cfg in (cfg_a, cfg_b):
            log = (cfg.parent / "run.log").open("wb")
            edges.append(
                subprocess.Popen(
                    [sys.executable, "-m", "nce", "run", "--config", str(cfg), "--duration", "60"],
                    cwd=cfg.parent,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        wait_for("edge-a running colour-v2", lambda: state("edge-a")[0] == "running")
        wait_for("edge-b refusing colour-v2", lambda: state("edge-b")[0] == "refused")
        assert "signed by another key" in (state("edge-b")[1] or "")
        evidence = cfg_a.parent / "edge" / "evidence"
        v2_sha = signed.record.model_sha256
        wait_for(
            "a cam-01 package made by colour-v2",
            lambda: v2_sha in models_by_camera(evidence).get("cam-01", set()),
        )
        wait_for(
            "a cam-02 package of the second stall",
            lambda: len(models_by_camera(evidence).get("cam-02", set())) > 0,
        )
        done = nce(
            "admin", "assign-model", "--db", service.db_url, "--release", "flood-v3", "--devices", "edge-a"
        )
        assert done.returncode == 0, done.stderr
        wait_for("edge-a rolling flood-v3 back", lambda: state("edge-a")[0] == "rolled_back")
        assert (state("edge-a")[1] or "").startswith("detection flood:"), state("edge-a")
    finally:
        for proc in edges:
            proc.terminate()
        for proc in edges:
            proc.wait(30)
        service.stop()
    log_a = (cfg_a.parent / "run.log").read_text(encoding="utf-8", errors="replace")
    assert "model release colour-v2 runs on canary cameras cam-01\n" in log_a
    assert "model release flood-v3 rolled back: detection flood" in log_a
    log_b = (cfg_b.parent / "run.log").read_text(encoding="utf-8", errors="replace")
    assert "runs on canary" not in log_b and "model release colour-v2 refused" in log_b
    actions = [
        service.scalar("SELECT COUNT(*) FROM ledger WHERE action = ?", a)
        for a in ("model_assigned", "model_refused", "model_rolled_back")
    ]
    assert actions == [3, 1, 1]
    assert all(p.returncode == 0 for p in edges), [p.returncode for p in edges]
    # the canary's model made cam-01's evidence, never cam-02's (the site model, or the flood for a moment)
    seen = models_by_camera(evidence)
    assert v2_sha in seen["cam-01"] and v2_sha not in seen["cam-02"], seen
