"""Edges that run only released models (``model.release_pubkey``): ``nce config check`` and ``nce run``
accept a release folder signed by the named key and refuse (exit 2, one line naming the release) one
whose signature does not verify against it or whose model is not the signed one."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from nce.release import MODEL_FILE, RELEASE_FILE
from tests.support import pipelines as pf
from tests.support.cli import nce
from tests.support.onnx_models import colour_patch_model
from tests.support.releases import release_keys

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(a release folder of the colour model signed by keys/release.key, the scene video, keys dir)."""
    from modeling.release import write_release

    d = tmp_path_factory.mktemp("release_edge")
    key, _ = release_keys(d / "keys")
    release_keys(d / "keys", "other")
    card = d / "card.md"
    card.write_text("# colour patches\n", encoding="utf-8")
    out = d / "colour-v1"
    write_release(model=pf.model(d / "colour.onnx"), card=card, key_file=key, out=out, release_id="colour-v1")
    return out, pf.scene_video(d / "scene.mp4"), d / "keys"


def _site(tmp_path: Path, assets: tuple[Path, Path, Path], pubkey: str = "release.pub") -> tuple[Path, Path]:
    release, video, keys = assets
    folder = tmp_path / "site"
    shutil.copytree(release, folder / "models" / "colour-v1")
    shutil.copytree(keys, folder / "keys")
    config = pf.site_config(folder / "site.yaml", Path("x"), [pf.camera("cam-a", str(video))])
    doc = yaml.safe_load(config.read_text(encoding="utf-8"))
    doc["model"].update({"path": "models/colour-v1", "release_pubkey": f"keys/{pubkey}"})
    config.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return config, folder / "models" / "colour-v1"


def test_a_good_release_is_checked_and_run(tmp_path: Path, assets: tuple[Path, Path, Path]) -> None:
    config, _ = _site(tmp_path, assets)
    check = nce("config", "check", str(config), cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "file model.path: release colour-v1 verified (release key sha256" in check.stdout
    assert "3 classes: stall, banner, garbage" in check.stdout
    run = nce("run", "--config", str(config), "--until-eof", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    hits = [json.loads(line) for line in (tmp_path / "out" / "hits.jsonl").read_text().splitlines()]
    assert {h["violation"] for h in hits if h["event"] == "confirmed"} == {
        "out_of_shop_trading",
        "illegal_ad",
    }


def _append_model(release: Path) -> None:
    with open(release / MODEL_FILE, "ab") as fh:
        fh.write(b"\0")


def _swap_model(release: Path) -> None:
    colour_patch_model(release / MODEL_FILE, names=pf.NAMES, colours={0: "green", 1: "red", 2: "blue"})


def _edit_record(release: Path) -> None:
    data = json.loads((release / RELEASE_FILE).read_text())
    data["record"]["classes"] = ["stall", "banner"]
    (release / RELEASE_FILE).write_text(json.dumps(data))


def _no_record(release: Path) -> None:
    (release / RELEASE_FILE).unlink()


BAD: list[tuple[str, Callable[[Path], None] | None, str, str]] = [
    ("model changed", _append_model, "release.pub", "release colour-v1: model.onnx sha256"),
    ("model swapped", _swap_model, "release.pub", "release colour-v1: model.onnx sha256"),
    ("record edited", _edit_record, "release.pub", "release colour-v1: signature invalid"),
    ("another key", None, "other.pub", "release colour-v1: signed by another key"),
    ("no record", _no_record, "release.pub", "release.json: cannot read the release record"),
]


@pytest.mark.parametrize(("what", "spoil", "pubkey", "message"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_release_is_refused_by_check_and_run(
    tmp_path: Path,
    assets: tuple[Path, Path, Path],
    what: str,
    spoil: Callable[[Path], None] | None,
    pubkey: str,
    message: str,
) -> None:
    config, release = _site(tmp_path, assets, pubkey)
    if spoil is not None:
        spoil(release)
    check = nce("config", "check", str(config), cwd=tmp_path)
    assert check.returncode == 2
    problem = [line for line in check.stderr.splitlines() if "model.path" in line]
    assert len(problem) == 1 and message in problem[0] and "refused" in problem[0], check.stderr
    run = nce("run", "--config", str(config), "--until-eof", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(release) in lines[0], run.stderr
    assert not (tmp_path / "out" / "hits.jsonl").exists()
