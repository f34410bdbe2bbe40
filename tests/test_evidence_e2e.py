"""``nce run --out`` with a device key, end to end: the real pipeline (a real ONNX model on a
scripted video) freezes signed packages that ``nce evidence verify --chain`` accepts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support import pipelines as pf
from tests.support.cli import nce

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed"),
]


def _run(tmp_path: Path, video: Path) -> tuple[Path, str]:
    """``nce run --until-eof --out out`` with a new device key over ``video``; the evidence folder and
    what ``nce evidence verify --chain`` said of it (it passed)."""
    model = pf.model(tmp_path / "colour.onnx")
    done = nce("keys", "generate", "--out", "keys", "--device-id", "edge-t", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    extra = {
        "device": {"id": "edge-t", "key_file": "keys/edge-t.key"},
        "evidence": {"clip_pre_s": 1.0, "clip_post_s": 1.0},
    }
    config = pf.site_config(tmp_path / "site.yaml", model, [pf.camera("cam-a", str(video))], extra=extra)
    done = nce("run", "--config", str(config), "--until-eof", "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = nce("evidence", "verify", "out/evidence", "--chain", "--pubkey", "keys/edge-t.pub", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    return tmp_path / "out" / "evidence", done.stdout


def test_run_writes_verifiable_packages(tmp_path: Path) -> None:
    evidence, verified = _run(tmp_path, pf.scene_video(tmp_path / "scene.mp4"))
    packages = sorted(p.name for p in evidence.iterdir() if not p.name.startswith("."))
    kinds = sorted(name.rsplit("-", 1)[1] for name in packages)
    assert kinds == ["cleared", "cleared", "violation", "violation"], packages
    assert "OK: 4 package(s), chain continuous" in verified and "the given public key" in verified
    violations = [
        json.loads((evidence / p / "manifest.json").read_bytes()) for p in packages if p.endswith("violation")
    ]
    for m in violations:
        assert [s["moment"] for s in m["stills"]] == ["first_seen", "between", "confirmed"]
        assert m["model"]["name"] == "colour.onnx" and m["model"]["classes"] == ["stall", "banner", "garbage"]
        assert any(f["role"] == "clip" for f in m["files"])
        assert m["detections"] and m["track"]
    ad = next(m for m in violations if m["violation"] == "illegal_ad")
    assert ad["ocr"] is not None


def test_a_pyav_camera_packs_its_own_bitstream_as_the_clip(tmp_path: Path) -> None:
    """An H.264 camera (a key frame a second, B-frames) goes through the PyAV source, whose packets
    feed the packager's ring: the clip is the camera's bitstream remuxed, not a re-encode."""
    import subprocess

    import av

    scene = pf.scene_video(tmp_path / "scene.mp4")
    video = tmp_path / "camera.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(scene), "-c:v", "libx264", "-preset", "veryfast",
         "-g", "10", "-bf", "2", "-pix_fmt", "yuv420p", str(video)],
        check=True,
    )  # fmt: skip
    evidence, _ = _run(tmp_path, video)
    with av.open(str(video)) as src:
        source_packets = {bytes(p) for p in src.demux(video=0) if p.size}
    violations = [p for p in evidence.iterdir() if p.name.endswith("violation")]
    assert violations
    for folder in violations:
        m = json.loads((folder / "manifest.json").read_bytes())
        assert m["clip"]["source"] == "camera_bitstream" and m["clip"]["codec"] == "h264", m.get("clip")
        with av.open(str(folder / m["clip"]["file"])) as clip:
            packets = [bytes(p) for p in clip.demux(video=0) if p.size]
        assert packets and all(p in source_packets for p in packets)  # the camera's bytes, unchanged
