"""Public copies: the Haar cascades (plates; faces as the benchmark baseline), blurring, the copy's manifest naming the original's hash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector.errors import EvidenceError
from detector.evidence.publish import (
    FACE_CASCADES,
    PLATE_CASCADES,
    blur_regions,
    cascade_path,
    detect,
    privacy_boxes,
    publish_copy,
)
from detector.sinks import evidence_packager
from nce.cli import main
from nce.manifest import MANIFEST_NAME, generate_private_key, verify_chain, verify_package_dir
from tests.support.evidence_sim import Camera, make_config, violation_then_cleared
from tests.support.manifests import make_package

ROOT = Path(__file__).resolve().parents[1]
MESSI = ROOT / "data/opencv-doc/usr/share/doc/opencv-doc/examples/data/messi5.jpg"
needs_messi = pytest.mark.skipif(not MESSI.is_file(), reason="OpenCV sample data missing (make data)")


@pytest.mark.parametrize("name", [*FACE_CASCADES, *PLATE_CASCADES])
def test_cascades_come_with_opencv(name: str) -> None:
    assert cascade_path(name).is_file()
    flat = np.full((120, 160), 128, np.uint8)
    assert detect(name, flat) == []


def test_missing_cascade_names_what_is_needed() -> None:
    with pytest.raises(EvidenceError, match=r"'no_such_thing' not found .*opencv-python-headless 4\.x"):
        cascade_path("no_such_thing")


def test_no_faces_or_plates_in_noise() -> None:
    rng = np.random.default_rng(3)
    assert privacy_boxes(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)) == ([], [])


@needs_messi
def test_finds_a_real_face() -> None:
    gray = cv2.cvtColor(cv2.imread(str(MESSI)), cv2.COLOR_BGR2GRAY)
    faces = detect("frontalface_default", gray, min_neighbors=4)
    assert len(faces) == 1
    x, y, w, _h = faces[0]
    assert abs(x - 227) <= 6 and abs(y - 94) <= 6 and 30 <= w <= 45


def test_blur_regions() -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (100, 120, 3), dtype=np.uint8)
    out = blur_regions(img, [(40, 30, 20, 20)], grow=0.25)
    assert np.array_equal(out[:, :30], img[:, :30]) and np.array_equal(out[:, 70:], img[:, 70:])
    region = (slice(30, 50), slice(40, 60))
    assert out[region].std() < img[region].std() / 3


@needs_messi
def test_publish_blurs_face_and_names_original(tmp_path: Path) -> None:
    messi = MESSI.read_bytes()
    small = bytes(cv2.imencode(".jpg", np.full((48, 64, 3), 100, np.uint8))[1].tobytes())
    files = {
        "still-1-first_seen.jpg": ("still_raw", "image/jpeg", small),
        "still-1-first_seen.annotated.jpg": ("still_annotated", "image/jpeg", small),
        "still-2-between.jpg": ("still_raw", "image/jpeg", messi),
        "still-3-confirmed.jpg": ("still_raw", "image/jpeg", small),
    }
    key = generate_private_key()
    folder, original = make_package(tmp_path / "ev", key, files=files)
    result = publish_copy(folder, tmp_path / "public", key=key)
    report = verify_package_dir(result.folder, key.public_key())
    assert report.ok, report.problems
    m = report.manifest
    assert m is not None and m.kind == "public_copy" and m.derived_from is not None
    assert m.derived_from.package_id == original.package_id
    assert m.derived_from.manifest_hash == verify_package_dir(folder).manifest_hash
    assert "blurred" in m.derived_from.method and result.faces >= 1 and result.images == 4
    before = np.asarray(cv2.imread(str(folder / "still-2-between.jpg")), dtype=int)
    after = np.asarray(cv2.imread(str(result.folder / "still-2-between.jpg")), dtype=int)
    face = (slice(94, 131), slice(227, 264))
    assert np.abs(after[face] - before[face]).mean() > 10  # the face is gone …
    assert np.abs(after[:60, :150] - before[:60, :150]).mean() < 3  # … the rest is as it was
    # public copies stay out of the device's chain
    assert verify_chain([original, m]) == []
    with pytest.raises(EvidenceError, match="exists already"):
        publish_copy(folder, tmp_path / "public")


def test_publish_refuses_tampered_original(tmp_path: Path) -> None:
    folder, _ = make_package(tmp_path / "ev", generate_private_key())
    (folder / "crop.jpg").write_bytes(b"\xff\xd8\xff\xe0changed")
    with pytest.raises(EvidenceError, match=r"does not verify: .*crop\.jpg"):
        publish_copy(folder, tmp_path / "public")
    assert not (tmp_path / "public").exists() or not any((tmp_path / "public").iterdir())


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_publish_cli_with_clip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    packager = evidence_packager(make_config(tmp_path, min_dwell_s=3.0), tmp_path / "out")
    cam = Camera(packager, hw=(96, 128))
    violation_then_cleared(cam, dwell_s=3.0, clear=False)
    cam.run(5.0)
    packager.close()
    (src,) = [p for p in (tmp_path / "out" / "evidence").iterdir() if not p.name.startswith(".")]
    assert main(["evidence", "publish", str(src), "--out", str(tmp_path / "pub")]) == 0
    out = capsys.readouterr().out
    assert "public copy:" in out and "review every public copy" in out
    copy = tmp_path / "pub" / f"{src.name}-public"
    assert main(["evidence", "verify", str(copy)]) == 0
    assert "unsigned public copy" in capsys.readouterr().out
    manifest = json.loads((copy / MANIFEST_NAME).read_bytes())
    assert manifest["signature"] is None and {f["name"] for f in manifest["files"]} >= {
        "clip.mp4",
        "crop.jpg",
    }
    cap = cv2.VideoCapture(str(copy / "clip.mp4"))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) >= 50
    cap.release()
