"""What `nce model train` refuses before it imports the `train` extra, and the pieces of the ONNX →
checkpoint rebuild that need no torch (the rebuild itself runs in `make test-train`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.errors import DataError, ModelError
from modeling.onnx_checkpoint import arch_of, calibration_images
from modeling.training import train, train_folders
from nce.cli import main


def _dataset(root: Path, train: object = "images/train") -> Path:
    (root / "images" / "train").mkdir(parents=True)
    (root / "images" / "extra").mkdir(parents=True)
    (root / "images" / "train" / "a.jpg").write_bytes(b"x")
    path = root / "data.yaml"
    path.write_text(f"path: .\ntrain: {train}\nval: images/train\nnames: {{0: stall}}\n")
    return path


@pytest.mark.parametrize(
    ("description", "arch"),
    [
        ("Ultralytics YOLO11n model trained on /data/synth-v2/data.yaml", "yolo11n.yaml"),
        ("Ultralytics YOLO11s model trained on data.yaml", "yolo11s.yaml"),
        ("Ultralytics YOLOv8n model trained on coco.yaml", "yolov8n.yaml"),
    ],
)
def test_arch_from_export_metadata(description: str, arch: str) -> None:
    assert arch_of({"description": description}) == arch


@pytest.mark.parametrize("metadata", [{}, {"description": "a detector"}, {"description": "YOLO"}])
def test_arch_missing_says_what_was_expected(metadata: dict[str, str]) -> None:
    with pytest.raises(ModelError, match=r"names no architecture.*--arch"):
        arch_of(metadata)


def test_train_folders_single_and_list(tmp_path: Path) -> None:
    one = _dataset(tmp_path / "one")
    assert train_folders(one) == [(tmp_path / "one" / "images" / "train").resolve()]
    two = _dataset(tmp_path / "two", "[images/train, images/extra]")
    assert [f.name for f in train_folders(two)] == ["train", "extra"]


def test_train_folders_missing_folder_named(tmp_path: Path) -> None:
    path = _dataset(tmp_path, "[images/train, images/nowhere]")
    with pytest.raises(DataError, match=r"train folder.*nowhere"):
        train_folders(path)


def test_calibration_images_spread_and_errors(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(10):
        (folder / f"{i:02d}.jpg").write_bytes(b"x")
    (folder / "notes.txt").write_text("not an image")
    picked = calibration_images([folder], 3)
    assert [p.name for p in picked] == ["00.jpg", "03.jpg", "06.jpg"]
    with pytest.raises(DataError, match="not a folder"):
        calibration_images([tmp_path / "missing"], 3)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no images under"):
        calibration_images([empty], 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "--epochs must be at least 1, got 0"),
        ({"imgsz": 100}, "--imgsz must be a multiple of 32"),
        ({"freeze": 23}, "--freeze must be 0..22"),
        ({"freeze": -1}, "--freeze must be 0..22"),
        ({"model": "missing.onnx"}, "--model missing.onnx: no such weights file"),
        ({"model": "missing.pt"}, "--model missing.pt: no such weights file"),
    ],
)
def test_train_refuses_bad_arguments(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    data = _dataset(tmp_path)
    args: dict[str, object] = {"epochs": 1, "imgsz": 64, **kwargs}
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        train(data, **args)  # type: ignore[arg-type]


def test_cli_bad_data_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["model", "train", "--data", str(tmp_path / "nope.yaml"), "--model", "x.onnx"])
    err = capsys.readouterr().err
    assert code != 0 and "no such file" in err and "Traceback" not in err
