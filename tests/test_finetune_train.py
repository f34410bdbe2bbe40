"""The learning loop, tiny, as ``make test-train`` runs it: a frame pool (a SQLite service, frames
imported and labelled, two review decisions) -> ``nce dataset export`` -> ``nce model train --dataset
EXPORT --replay SYNTH`` from the shipped ``models/street-v1.onnx`` for 1 epoch at 64 px."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from modeling.finetune import FINETUNE_FREEZE
from modeling.synth.backgrounds import DEFAULT_DATA_DIR
from nce.cli import main
from tests.support.frame_pool import labelled_export, sqlite_service

pytestmark = [
    pytest.mark.train,
    pytest.mark.optional("needs the train extra"),  # its own venv: make test-train
    pytest.mark.skipif(not (DEFAULT_DATA_DIR / "vtest.avi").is_file(), reason="run `make data` first"),
]


def test_fine_tune_on_an_exported_pool_with_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("ultralytics", reason="needs the train extra (make test-train)")
    os.environ["YOLO_OFFLINE"] = "1"
    export = tmp_path / "export"
    with sqlite_service(tmp_path / "svc") as api:
        assert labelled_export(api, export) == 8
    synth = tmp_path / "synth"
    assert (
        main(["data", "synth", "--out", str(synth), "--n", "4", "--seed", "1", "--size", "64x64", "--json"])
        == 0
    )
    capsys.readouterr()
    runs = tmp_path / "runs"
    args = [
        "model",
        "train",
        "--dataset",
        str(export),
        "--replay",
        str(synth),
        "--epochs",
        "1",
        "--imgsz",
        "64",
    ]
    args += ["--batch", "4", "--workers", "0", "--model", "models/street-v1.onnx", "--out", str(runs)]
    assert main([*args, "--name", "city", "--json"]) == 0
    out = capsys.readouterr()
    res = json.loads(out.out[out.out.rfind("\n{") + 1 :])
    assert Path(res["weights"]).is_file() and Path(res["last"]).is_file()
    assert (runs / "city.from-onnx.pt").is_file()  # fine-tuned from the shipped model, rebuilt
    assert "metrics/mAP50(B)" in res["final_val"] and "epoch 1/1 val mAP50" in out.err

    mix = res["mix"]
    assert mix["replay"] == "given" and mix["warnings"] == []
    city, replay = mix["sources"]
    provenance = [json.loads(line) for line in (export / "provenance.jsonl").read_text().splitlines()]
    for split in ("train", "val"):
        mine = [r for r in provenance if r["split"] == split]
        assert city[split]["images"] == len(mine) > 0
        assert city[split]["negatives"] == sum(1 for r in mine if r["boxes"] == 0)
        assert sum(city[split]["how"].values()) == len(mine)
    assert city["train"]["images"] + city["val"]["images"] == 12  # 8 labelled + 4 review stills
    assert (replay["kind"], replay["train"]["images"], replay["val"]["images"]) == ("synthetic_replay", 3, 1)
    run_dir = Path(res["run_dir"])
    assert run_dir == runs / "city"
    data = yaml.safe_load((run_dir / "data.yaml").read_text())
    assert data["train"] == [str(export / "images/train"), str(synth / "images/train")]
    assert json.loads((run_dir / "sources.json").read_text()) == mix
    assert json.loads((run_dir / "finetune.json").read_text()) == res
    # Ultralytics read the mixed folders: its run arguments name the mix's data.yaml
    run_args = yaml.safe_load((run_dir / "args.yaml").read_text())
    assert run_args["data"] == str(run_dir / "data.yaml")
    assert (run_args["freeze"] or 0) == FINETUNE_FREEZE, "the loop's default freeze"
    assert Path(res["base_model"]) == Path("models/street-v1.onnx").resolve()

    # the loop's next step: the export blends with the shipped model unless told not to
    onnx_out = tmp_path / "city.onnx"
    assert main(["model", "export", "--weights", res["weights"], "--out", str(onnx_out), "--imgsz", "64",
                 "--json"]) == 0  # fmt: skip
    out = capsys.readouterr()
    exported = json.loads(out.out[out.out.rfind("\n{") + 1 :] if "\n{" in out.out else out.out)
    blend = exported["blend"]
    assert blend["chosen_by"] == "auto" and blend["alpha"] in [c["alpha"] for c in blend["candidates"]]
    assert blend["reference"]["replay_val_map50"] is not None
    assert Path(blend["tuned"]) == tmp_path / "city.unblended.onnx" and Path(blend["tuned"]).is_file()
    from detector.yolo import YoloDetector

    assert (
        YoloDetector(onnx_out, providers=["CPUExecutionProvider"]).info.names
        == YoloDetector(Path(blend["tuned"]), providers=["CPUExecutionProvider"]).info.names
    )
    assert main(["model", "export", "--weights", res["weights"], "--out", str(tmp_path / "plain.onnx"),
                 "--imgsz", "64", "--blend", "off", "--json"]) == 0  # fmt: skip
    out = capsys.readouterr()
    assert json.loads(out.out[out.out.rfind("\n{") + 1 :] if "\n{" in out.out else out.out)["blend"] is None
    assert not (tmp_path / "plain.unblended.onnx").exists()
