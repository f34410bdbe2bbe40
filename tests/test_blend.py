"""Weight-space blending of a fine-tune with its base model (modeling/blend.py): the arithmetic on the
shipped model's real weights, the refusals, the choosing rule, and the choice run through ONNX Runtime
on a real synthetic set; ``nce model export``'s step after a fine-tune (without Ultralytics: the
export is stood in for by a copy)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from detector.errors import DataError, ModelError
from modeling.blend import (
    ALPHAS,
    BLEND_KEY,
    MAX_LOSS,
    Candidate,
    blend_finetune,
    blend_onnx,
    check_export_target,
    choose_alpha,
    parse_blend,
    pick,
    sha256_of,
)
from modeling.finetune import FinetuneResult, MixSummary, Source, SplitCounts
from modeling.synth.backgrounds import DEFAULT_DATA_DIR
from tests.support.releases import scaled_scores_copy

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "street-v1.onnx"
needs_data = pytest.mark.skipif(
    not (DEFAULT_DATA_DIR / "vtest.avi").is_file(), reason="OpenCV sample data missing: run `make data`"
)


def weights(path: Path) -> dict[str, np.ndarray]:
    return {
        i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer if i.data_type == 1
    }


def shifted_copy(dst: Path, delta: float = 0.01, score_bias: float | None = None) -> Path:
    """The shipped model with every float weight moved by ``delta`` (same architecture), or with the
    class-score biases of the detect head set to ``score_bias`` (a fine-tune that forgot everything)."""
    model = onnx.load(str(SHIPPED))
    for init in model.graph.initializer:
        if init.data_type != 1:
            continue
        w = numpy_helper.to_array(init)
        if score_bias is None:
            w = w + np.float32(delta)
        elif ".cv3." in init.name and init.name.endswith(".2.bias"):
            w = np.full_like(w, score_bias)
        init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(model, str(dst))
    return dst


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
def test_a_blend_is_the_weighted_mean_of_the_two_models(tmp_path: Path, alpha: float) -> None:
    tuned = shifted_copy(tmp_path / "tuned.onnx", delta=0.01)
    blend_onnx(SHIPPED, tuned, alpha, tmp_path / "out.onnx")
    base_w, tuned_w, out_w = weights(SHIPPED), weights(tuned), weights(tmp_path / "out.onnx")
    assert set(out_w) == set(base_w) and len(out_w) > 100
    for name in list(out_w)[:: max(1, len(out_w) // 12)]:
        expect = alpha * tuned_w[name].astype(np.float64) + (1 - alpha) * base_w[name].astype(np.float64)
        np.testing.assert_allclose(out_w[name], expect.astype(np.float32), rtol=0, atol=1e-7)
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "out.onnx")).metadata_props}
    assert json.loads(meta[BLEND_KEY]) == {
        "alpha": alpha,
        "base_sha256": sha256_of(SHIPPED),
        "tuned_sha256": sha256_of(tuned),
    }
    assert meta["names"] == {p.key: p.value for p in onnx.load(str(SHIPPED)).metadata_props}["names"]
    assert not list(tmp_path.glob("*.part"))


def test_blending_refuses_what_is_not_the_same_model(tmp_path: Path) -> None:
    other_arch = scaled_scores_copy(SHIPPED, tmp_path / "extra-node.onnx", {0: 0.5})
    with pytest.raises(ModelError, match=r"not the same architecture.*nce_test_scale"):
        blend_onnx(SHIPPED, other_arch, 0.5, tmp_path / "out.onnx")
    renamed = onnx.load(str(SHIPPED))
    for p in renamed.metadata_props:
        if p.key == "names":
            p.value = p.value.replace("stall", "cart")
    onnx.save(renamed, str(tmp_path / "renamed.onnx"))
    with pytest.raises(ModelError, match=r"has classes .*stall.*cart"):
        blend_onnx(SHIPPED, tmp_path / "renamed.onnx", 0.5, tmp_path / "out.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf at all \x00\xff" * 10)
    with pytest.raises(ModelError, match=r"junk\.onnx: not an ONNX model"):
        blend_onnx(SHIPPED, tmp_path / "junk.onnx", 0.5, tmp_path / "out.onnx")
    with pytest.raises(ModelError, match=r"missing\.onnx: no such file"):
        blend_onnx(SHIPPED, tmp_path / "missing.onnx", 0.5, tmp_path / "out.onnx")
    with pytest.raises(DataError, match=r"alpha must be in \[0, 1\], got 1.5"):
        blend_onnx(SHIPPED, SHIPPED, 1.5, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("auto", "auto"), ("off", "off"), ("0.7", 0.7), ("1", 1.0), ("0", None), ("1.2", None), ("half", None)],
)
def test_parse_blend(value: str, expected: object) -> None:
    if expected is None:
        with pytest.raises(DataError, match="--blend"):
            parse_blend(value)
    else:
        assert parse_blend(value) == expected


REF = Candidate(alpha=0.0, city_val_map50=0.40, replay_val_map50=0.80)


@pytest.mark.parametrize(
    ("rows", "alpha", "noted"),
    [
        # (alpha, city val, replay val): the best city val within 0.80 - 0.02 wins
        ([(1.0, 0.60, 0.70), (0.7, 0.55, 0.79), (0.5, 0.50, 0.80)], 0.7, False),
        ([(1.0, 0.60, 0.78), (0.7, 0.55, 0.79)], 1.0, False),  # exactly at the floor counts
        ([(1.0, 0.50, 0.80), (0.7, 0.50, 0.80)], 1.0, False),  # a tie: the larger alpha
        ([(1.0, 0.60, 0.60), (0.7, 0.55, 0.70), (0.5, 0.50, 0.75)], 0.5, True),  # none within: least lost
    ],
)
def test_the_choosing_rule(rows: list[tuple[float, float, float]], alpha: float, noted: bool) -> None:
    cands = [Candidate(alpha=a, city_val_map50=c, replay_val_map50=r) for a, c, r in rows]
    chosen, note = pick(REF, cands, 0.02)
    assert chosen == alpha and bool(note) is noted


@pytest.fixture(scope="module")
def val_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from modeling.synth.dataset import synth_dataset

    out = tmp_path_factory.mktemp("blend") / "set"
    synth_dataset(out, 8, seed=21, val_fraction=0.5, negatives=0.0)
    return out


@needs_data
def test_choosing_on_real_inference(tmp_path: Path, val_set: Path) -> None:
    """A fine-tune identical to its base: every alpha scores the same, the largest is kept. A fine-tune
    whose class scores are gone: only the blend nearest the base model still detects, and is kept."""
    same = choose_alpha(SHIPPED, SHIPPED, [val_set], [val_set], tmp_path / "same.onnx")
    assert same.reference is not None and same.reference.replay_val_map50 is not None
    assert [c.alpha for c in same.candidates] == sorted(ALPHAS, reverse=True)
    assert {c.replay_val_map50 for c in same.candidates} == {same.reference.replay_val_map50}
    assert same.alpha == 1.0 and same.note == "" and same.chosen_by == "auto"
    assert weights(tmp_path / "same.onnx").keys() == weights(SHIPPED).keys()
    assert not list(tmp_path.glob("*.trial.onnx"))

    forgot = shifted_copy(tmp_path / "forgot.onnx", score_bias=-30.0)
    res = choose_alpha(SHIPPED, forgot, [val_set], [val_set], tmp_path / "out.onnx", alphas=(1.0, 0.5, 0.1))
    by_alpha = {c.alpha: c.replay_val_map50 or 0.0 for c in res.candidates}
    assert by_alpha[1.0] == 0.0 < by_alpha[0.1]
    assert res.reference is not None and (res.alpha, res.note) == pick(
        res.reference, res.candidates, MAX_LOSS
    )
    assert res.alpha == 0.1  # the only blend that still detects anything
    assert (
        json.loads({p.key: p.value for p in onnx.load(str(tmp_path / "out.onnx")).metadata_props}[BLEND_KEY])[
            "alpha"
        ]
        == res.alpha
    )

    no_replay = choose_alpha(SHIPPED, forgot, [val_set], [], tmp_path / "kept.onnx")
    assert no_replay.alpha == 1.0 and "nothing guards" in no_replay.note


def fake_run(tmp_path: Path, city: Path, replay: Path, base: Path) -> Path:
    """A fine-tune's run folder as `nce model train --dataset` leaves it (finetune.json) and its weights."""
    run = tmp_path / "runs" / "city"
    (run / "weights").mkdir(parents=True)
    (run / "weights" / "best.pt").write_bytes(b"stands in for the weights")
    counts = SplitCounts(images=4)
    mix = MixSummary(
        data_yaml=str(run / "data.yaml"), sources_json=str(run / "sources.json"), train=[], val=[],
        replay="given", sources=[Source(kind="city_export", folder=str(city), train=counts, val=counts),
                                 Source(kind="synthetic_replay", folder=str(replay), train=counts, val=counts)],
    )  # fmt: skip
    res = FinetuneResult(weights=str(run / "weights" / "best.pt"), last="", run_dir=str(run), epochs=1, imgsz=480,
                         seed=0, seconds=1.0, versions={}, mix=mix, base_model=str(base))  # fmt: skip
    (run / "finetune.json").write_text(res.model_dump_json(), encoding="utf-8")
    return run / "weights" / "best.pt"


@needs_data
def test_export_after_a_fine_tune_keeps_the_unblended_model(tmp_path: Path, val_set: Path) -> None:
    best = fake_run(tmp_path, val_set, val_set, SHIPPED)
    exported = shifted_copy(tmp_path / "city.onnx", delta=0.001)
    tuned_sha = sha256_of(exported)
    res = blend_finetune(best, exported, 0.6)
    assert res is not None and res.alpha == 0.6 and res.chosen_by == "given"
    assert sha256_of(tmp_path / "city.unblended.onnx") == tuned_sha == res.tuned_sha256
    assert (
        json.loads({p.key: p.value for p in onnx.load(str(exported)).metadata_props}[BLEND_KEY])["alpha"]
        == 0.6
    )

    shifted_copy(exported, delta=0.001)
    auto = blend_finetune(best, exported, "auto")
    assert auto is not None and auto.chosen_by == "auto" and len(auto.candidates) == len(ALPHAS)
    assert blend_finetune(best, exported, "off") is None


def test_export_of_weights_that_are_not_a_fine_tune(tmp_path: Path) -> None:
    plain = tmp_path / "runs" / "street" / "weights" / "best.pt"
    plain.parent.mkdir(parents=True)
    plain.write_bytes(b"x")
    exported = tmp_path / "street.onnx"
    shutil.copy(SHIPPED, exported)
    assert blend_finetune(plain, exported, "auto") is None and exported.is_file()
    with pytest.raises(DataError, match="not from `nce model train --dataset`"):
        blend_finetune(plain, exported, 0.5)
    from_pt = fake_run(tmp_path / "pt", tmp_path, tmp_path, tmp_path / "yolo11n.pt")
    assert blend_finetune(from_pt, exported, "auto") is None
    with pytest.raises(DataError, match="not an ONNX model to blend with"):
        blend_finetune(from_pt, exported, 0.5)


def test_an_export_may_not_overwrite_the_model_the_blend_needs(tmp_path: Path, val_set: Path) -> None:
    base = tmp_path / "models" / "street-v1.onnx"
    base.parent.mkdir()
    shutil.copy(SHIPPED, base)
    best = fake_run(tmp_path, val_set, val_set, base)
    with pytest.raises(DataError, match="is the model the fine-tune started from"):
        check_export_target(best, base, "auto")
    with pytest.raises(DataError, match="is the model the fine-tune started from"):
        check_export_target(best, tmp_path / "models" / ".." / "models" / "street-v1.onnx", 0.5)
    check_export_target(best, base, "off")  # not blending: the user's file to replace
    check_export_target(best, tmp_path / "city.onnx", "auto")
