"""``nce model train --dataset``'s preparation, without torch: the mix of a real frame-pool export
(``nce dataset export`` of a SQLite service) with replay sets (absolute folders, what came from
where), the checks that refuse a wrong set, the default replay set made once and reused, and the
command's argument errors (one line, exit code 2). The training itself: tests/test_finetune_train.py."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml

from detector.errors import DataError
from modeling.finetune import NO_REPLAY_WARNING, REPLAY_MARKER, default_replay, mix, prepare
from nce.cli import main
from nce.vocabulary import MODEL_CLASSES
from tests.support.frame_pool import labelled_export, sqlite_service
from tests.support.images import jpeg


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real export: 8 imported frames on 2 cameras x 2 days labelled complete (2 negatives), plus
    the stills of a confirmed and a dismissed review case (--include-partial)."""
    root = tmp_path_factory.mktemp("pool")
    with sqlite_service(root / "svc") as api:
        labelled_export(api, root / "export")
    return root / "export"


def fake_set(root: Path, train: list[str], val: list[str], names: object = None) -> Path:
    """A small YOLO set: one image a label text ('' = a negative)."""
    for split, labels in (("train", train), ("val", val)):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i, text in enumerate(labels):
            (root / "images" / split / f"{i}.jpg").write_bytes(jpeg(64, 48, seed=i))
            (root / "labels" / split / f"{i}.txt").write_text(text)
    doc = {"path": ".", "train": "images/train", "val": "images/val", "nc": 7}
    doc["names"] = dict(enumerate(MODEL_CLASSES)) if names is None else names
    (root / "data.yaml").write_text(yaml.safe_dump(doc))
    return root


def rows(export: Path) -> list[dict]:
    return [json.loads(line) for line in (export / "provenance.jsonl").read_text().splitlines()]


def test_the_mix_trains_and_validates_on_every_set_by_absolute_folder(export: Path, tmp_path: Path) -> None:
    replay = fake_set(
        tmp_path / "synth", ["0 0.5 0.5 0.2 0.2\n6 0.1 0.1 0.1 0.1\n", ""], ["3 0.5 0.5 0.1 0.1\n"]
    )
    out = tmp_path / "runs" / "ft"
    summary = mix(export, [replay], out)
    doc = yaml.safe_load((out / "data.yaml").read_text())
    assert doc["train"] == [str(export.resolve() / "images/train"), str(replay.resolve() / "images/train")]
    assert doc["val"] == [str(export.resolve() / "images/val"), str(replay.resolve() / "images/val")]
    assert "path" not in doc and doc["names"] == dict(enumerate(MODEL_CLASSES))
    assert all(Path(p).is_absolute() and Path(p).is_dir() for p in doc["train"] + doc["val"])
    assert summary.replay == "given" and summary.warnings == []
    assert json.loads((out / "sources.json").read_text()) == summary.model_dump(mode="json")

    city, synth = summary.sources
    assert (city.kind, synth.kind) == ("city_export", "synthetic_replay")
    for split in ("train", "val"):
        mine = [r for r in rows(export) if r["split"] == split]
        counts = getattr(city, split)
        assert counts.images == len(mine) == len(list((export / "images" / split).iterdir()))
        assert counts.negatives == sum(1 for r in mine if r["boxes"] == 0)
        assert counts.how == dict(Counter(r["how"] for r in mine))
        assert counts.cameras == dict(Counter(r["camera_id"] for r in mine))
        assert sum(counts.boxes.values()) == sum(r["boxes"] for r in mine)
    assert city.train.images + city.val.images == 12
    assert Counter(r["how"] for r in rows(export)) == {"label": 8, "review_confirm": 2, "review_dismiss": 2}
    assert (synth.train.images, synth.train.negatives, synth.val.images) == (2, 1, 1)
    assert (synth.train.boxes["stall"], synth.train.boxes["garbage"], synth.val.boxes["banner"]) == (1, 1, 1)
    assert summary.totals("train") == (city.train.images + 2, city.train.images)


@pytest.mark.parametrize(
    ("names", "words"),
    [
        (dict(enumerate(reversed(MODEL_CLASSES))), "['garbage', 'poster'"),
        ({0: "car", 1: "person"}, "['car', 'person']"),
        (list(MODEL_CLASSES[:6]), "['stall', 'goods', 'umbrella', 'banner', 'ad_board', 'poster']"),
        (None, "[]"),
    ],
)
def test_a_set_with_other_classes_is_refused_naming_both(tmp_path: Path, names: object, words: str) -> None:
    bad = fake_set(tmp_path / "bad", ["0 0.5 0.5 0.1 0.1\n"], [""], names=names)
    if names is None:
        doc = yaml.safe_load((bad / "data.yaml").read_text())
        del doc["names"]
        (bad / "data.yaml").write_text(yaml.safe_dump(doc))
    good = fake_set(tmp_path / "good", ["0 0.5 0.5 0.1 0.1\n"], [""])
    for dataset, replay, flag in ((bad, [good], "--dataset"), (good, [bad], "--replay")):
        with pytest.raises(DataError) as exc:
            mix(dataset, replay, tmp_path / "out")
        text = str(exc.value)
        assert text.startswith(f"{flag} {bad / 'data.yaml'}: classes {words}") and "\n" not in text
        assert f"are not the model's {list(MODEL_CLASSES)}" in text


def test_bad_sets_are_refused_on_one_line(tmp_path: Path) -> None:
    good = fake_set(tmp_path / "good", ["1 0.5 0.5 0.1 0.1\n"], [""])
    empty = fake_set(tmp_path / "empty", [], [""])
    bad_label = fake_set(tmp_path / "bad-label", ["7 0.5 0.5 0.1 0.1\n"], [""])
    not_yaml = tmp_path / "not-yaml"
    not_yaml.mkdir()
    (not_yaml / "data.yaml").write_text("names: [unclosed\n")
    for dataset, replay, words in (
        (empty, [good], "--dataset " + str(empty.resolve()) + ": no training images in it"),
        (tmp_path / "nowhere", [good], f"--dataset {tmp_path / 'nowhere'}: no data.yaml there"),
        (not_yaml, [good], f"--dataset {not_yaml / 'data.yaml'}: not YAML"),
        (bad_label, [good], f"{bad_label.resolve() / 'labels/train/0.txt'}:1: expected `class cx cy w h`"),
        (good, [good], f"--replay {good}: that is the --dataset itself"),
        (good, [tmp_path / "nowhere"], "--replay"),
    ):
        with pytest.raises(DataError) as exc:
            mix(dataset, replay, tmp_path / "out")
        assert str(exc.value).startswith(words) and "\n" not in str(exc.value), str(exc.value)


def test_an_export_without_val_is_judged_on_the_replay_val_and_needs_one(tmp_path: Path) -> None:
    city = fake_set(tmp_path / "city", ["0 0.5 0.5 0.1 0.1\n", ""], [])
    replay = fake_set(tmp_path / "synth", [""], ["2 0.5 0.5 0.1 0.1\n"])
    summary = mix(city, [replay], tmp_path / "out")
    assert summary.val == [str(replay.resolve() / "images/val")]
    assert summary.warnings == [
        "the export has no val images (all its camera-days fell in train): the kept epoch is "
        "chosen on the synthetic replay's val alone"
    ]
    assert summary.sources[0].notes == [
        "no provenance.jsonl: not an `nce dataset export`; how/cameras unknown",
        "no val images of its own",
    ]
    with pytest.raises(DataError, match=r"no val images .* and no replay set to validate on"):
        mix(city, [], tmp_path / "out2")


def test_no_replay_is_explicit_and_warned(export: Path, tmp_path: Path) -> None:
    summary = prepare(export, [], runs=tmp_path / "runs", name="alone", no_replay=True)
    assert summary.replay == "none" and summary.warnings == [NO_REPLAY_WARNING]
    assert [s.kind for s in summary.sources] == ["city_export"]
    assert yaml.safe_load(Path(summary.data_yaml).read_text())["train"] == [
        str(export.resolve() / "images/train")
    ]
    assert not list((tmp_path / "runs").glob("replay-*"))
    with pytest.raises(DataError, match="--no-replay and --replay exclude each other"):
        prepare(export, [tmp_path], runs=tmp_path / "runs", name="x", no_replay=True)


def test_the_default_replay_set_is_made_once_and_reused(export: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    first = prepare(export, [], runs=runs, name="a", replay_n=3, replay_seed=5)
    folder = runs / "replay-synth-n3-seed5"
    assert first.replay == "synthesized" and first.warnings == []
    assert first.sources[1].folder == str(folder.resolve())
    assert first.sources[1].synth is not None and (
        first.sources[1].synth["n"],
        first.sources[1].synth["seed"],
    ) == (3, 5)
    assert (first.sources[1].train.images, first.sources[1].val.images) == (3, 0)  # too few for a val split
    assert first.sources[1].notes == ["no val images of its own"]
    assert first.val == [str(export.resolve() / "images/val")]  # never its train images
    assert not folder.with_name(folder.name + ".partial").exists()
    assert yaml.safe_load((folder / "data.yaml").read_text())["path"] == str(folder.resolve())
    stamp = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    second = prepare(export, [], runs=runs, name="b", replay_n=3, replay_seed=5)
    assert second.replay == "cached" and second.sources[1] == first.sources[1]
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == stamp
    # a damaged set is not trained on silently
    next((folder / "labels").rglob("*.txt")).write_text("0 0.5 0.5 0.9 0.9\n")
    with pytest.raises(
        DataError, match=f"replay set {folder}: its files no longer match its {REPLAY_MARKER}"
    ):
        default_replay(runs, 3, 5)
    shutil.rmtree(folder)
    folder.mkdir()
    with pytest.raises(DataError, match=r"exists without replay\.json"):
        default_replay(runs, 3, 5)
    with pytest.raises(DataError, match="--replay-n must be at least 1, got 0"):
        default_replay(runs, 0, 5)


def test_the_command_refuses_bad_arguments_on_one_line(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    synth = fake_set(tmp_path / "synth", [""], [""])
    base = ["model", "train", "--out", str(tmp_path / "runs")]
    for args, words in (
        (["--dataset", str(export), "--data", "x.yaml"], "--data and --dataset exclude each other"),
        (["--dataset", str(export), "--resume", "last.pt"], "--dataset and --resume exclude each other"),
        (["--replay", str(synth)], "--replay goes with --dataset EXPORT_DIR"),
        (["--data", "x.yaml", "--no-replay"], "--no-replay goes with --dataset EXPORT_DIR"),
        (
            ["--dataset", str(export), "--replay", str(synth), "--no-replay"],
            "--no-replay and --replay exclude",
        ),
        (["--dataset", str(tmp_path / "missing")], f"--dataset {tmp_path / 'missing'}: no data.yaml there"),
        (["--dataset", str(export), "--replay-n", "0"], "--replay-n must be at least 1, got 0"),
        ([], "--data or --dataset is required"),
        (["--data", "x.yaml", "--replay-n", "10"], "--replay-n goes with --dataset EXPORT_DIR"),
        (
            ["--dataset", str(export), "--replay", str(synth), "--replay-seed", "3"],
            "make the default replay set",
        ),
        (["--dataset", str(export), "--no-replay", "--replay-n", "10"], "not with --replay or --no-replay"),
    ):
        assert main([*base, *args]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("nce model: error: ") and words in err and "\n" not in err, err
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("*.pt"))
