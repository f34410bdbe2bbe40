"""Weight-space blending of a fine-tune with the model it started from, so the loop does not forget.

A fine-tune on a few hundred city frames moves the shipped detector towards the city and away from
everything else it knew; replaying synthetic frames slows that down but does not stop it (the
learning benchmark lost 0.03-0.06 mAP50 on the original validation set with 300 replayed frames).
Averaging the weights of the fine-tuned and the shipped model (Wortsman et al., "Robust fine-tuning
of zero-shot models", CVPR 2022: WiSE-FT) keeps most of what the fine-tune learnt and most of what
the shipped model knew, at no training cost: ``blended = alpha * tuned + (1 - alpha) * base``.

Both models are ONNX files exported by Ultralytics from the same architecture, so every initializer
(the convolutions with their batch norms folded in) has the same name and shape in both; folding is
per channel, so a blend of folded weights is again a model of the same architecture. ``alpha`` is
chosen on the fine-tune's own validation sets (:func:`choose_alpha`): the largest city-val mAP50 among
the alphas whose replay-val mAP50 stays within ``max_loss`` of the shipped model's.

``onnx`` is imported inside the functions (the ``train`` extra); the runtime never imports it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from detector.errors import DataError, ModelError

if TYPE_CHECKING:
    from modeling.finetune import FinetuneResult

ALPHAS: tuple[float, ...] = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
MAX_LOSS = 0.02  # replay-val mAP50 a blend may lose against the base model (the allowance)
BLEND_KEY = "nce_blend"  # ONNX metadata: {"alpha", "base_sha256", "tuned_sha256"}
FLOAT_TYPES = (1, 10, 11)  # onnx.TensorProto FLOAT, FLOAT16, DOUBLE


class Candidate(BaseModel):
    alpha: float
    city_val_map50: float | None = Field(None, description="None: the fine-tune has no city val images")
    replay_val_map50: float | None = Field(None, description="None: the fine-tune replayed nothing")


class BlendResult(BaseModel):
    """What :func:`blend_onnx` wrote and (``chosen_by`` auto) what it was chosen from."""

    out: str
    base: str
    base_sha256: str
    tuned: str
    tuned_sha256: str
    alpha: float
    chosen_by: Literal["auto", "given"]
    max_loss: float | None = None
    reference: Candidate | None = Field(None, description="the base model itself (alpha 0) on the same sets")
    candidates: list[Candidate] = Field(default_factory=list)
    note: str = ""


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load(path: Path, what: str) -> Any:
    import onnx

    if not path.is_file():
        raise ModelError(f"{what} {path}: no such file")
    try:
        return onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError, ValidationError, OSError…: one message
        raise ModelError(f"{what} {path}: not an ONNX model ({exc.__class__.__name__})") from exc


def _names(model: Any) -> str | None:
    return next((p.value for p in model.metadata_props if p.key == "names"), None)


def blend_onnx(base: Path, tuned: Path, alpha: float, out: Path) -> None:
    """Write ``alpha * tuned + (1 - alpha) * base`` (float initializers; the graph and the metadata
    are the tuned model's, plus ``nce_blend``). Refuses two models that are not the same architecture."""
    from onnx import numpy_helper

    if not 0.0 <= alpha <= 1.0:
        raise DataError(f"--blend alpha must be in [0, 1], got {alpha}")
    b, t = _load(base, "base model"), _load(tuned, "fine-tuned model")
    if _names(b) != _names(t):
        raise ModelError(f"base model {base} has classes {_names(b)}, the fine-tuned model {_names(t)}")
    base_init = {i.name: i for i in b.graph.initializer}
    tuned_names = {i.name for i in t.graph.initializer}
    if set(base_init) != tuned_names or len(b.graph.node) != len(t.graph.node):
        missing = sorted(set(base_init) ^ tuned_names)[:3]
        raise ModelError(
            f"base model {base} and fine-tuned model {tuned} are not the same architecture "
            f"({len(b.graph.node)} and {len(t.graph.node)} nodes; weights only in one: {missing or 'none'})"
        )
    for init in t.graph.initializer:
        if init.data_type not in FLOAT_TYPES:
            continue
        w1 = numpy_helper.to_array(init)
        w0 = numpy_helper.to_array(base_init[init.name])
        if w0.shape != w1.shape:
            raise ModelError(
                f"weight {init.name}: shape {tuple(w0.shape)} in {base}, {tuple(w1.shape)} in {tuned}"
            )
        mixed = alpha * w1.astype("float64") + (1.0 - alpha) * w0.astype("float64")
        init.CopyFrom(numpy_helper.from_array(mixed.astype(w1.dtype), init.name))
    meta = {p.key: p for p in t.metadata_props}
    doc = {"alpha": alpha, "base_sha256": sha256_of(base), "tuned_sha256": sha256_of(tuned)}
    if BLEND_KEY in meta:
        meta[BLEND_KEY].value = json.dumps(doc)
    else:
        t.metadata_props.add(key=BLEND_KEY, value=json.dumps(doc))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    import onnx

    onnx.save(t, str(tmp))
    os.replace(tmp, out)


def _map50(model: Path, folders: Sequence[Path]) -> float | None:
    """mAP50 over the val splits of ``folders`` together (None when there are no images)."""
    from modeling.evaluation import compute_metrics, infer_dataset

    scored = [f for f in folders if any((f / "images" / "val").glob("*"))]
    if not scored:
        return None
    runs = [infer_dataset(model, f, split="val") for f in scored]
    _, means = compute_metrics([r for run in runs for r in run.results], runs[0].names)
    return means["map50"]


def pick(reference: Candidate, candidates: Sequence[Candidate], max_loss: float) -> tuple[float, str]:
    """The rule of :func:`choose_alpha` (alpha, note): the best city val among the candidates whose
    replay val is at least the reference's minus ``max_loss`` (ties: the larger alpha); none: the
    best replay val, with a note saying so."""
    if not candidates:
        raise DataError("no blend to choose from")
    floor = (reference.replay_val_map50 or 0.0) - max_loss
    kept = [c for c in candidates if c.replay_val_map50 is not None and c.replay_val_map50 >= floor]
    if kept:
        return max(kept, key=lambda c: (c.city_val_map50 or 0.0, c.alpha)).alpha, ""
    best = max(candidates, key=lambda c: (c.replay_val_map50 or 0.0, c.alpha))
    return (
        best.alpha,
        f"no alpha kept the replay val within {max_loss} of the base model's: kept the one that lost least",
    )


def choose_alpha(
    base: Path,
    tuned: Path,
    city_val: Sequence[Path],
    replay_val: Sequence[Path],
    out: Path,
    alphas: Sequence[float] = ALPHAS,
    max_loss: float = MAX_LOSS,
) -> BlendResult:
    """Try each alpha on the fine-tune's val sets and write the chosen blend to ``out``: the best
    city-val mAP50 among the alphas that lose at most ``max_loss`` replay-val mAP50 against the base
    model (ties: the larger alpha). None within the guard: the alpha that keeps most of the replay
    val. No replay val: nothing guards forgetting, so alpha 1 (the fine-tune as trained)."""
    if not alphas or any(not 0.0 < a <= 1.0 for a in alphas):
        raise DataError(f"blend alphas must be in (0, 1], got {list(alphas)}")
    ref = Candidate(
        alpha=0.0, city_val_map50=_map50(base, city_val), replay_val_map50=_map50(base, replay_val)
    )
    result = BlendResult(out=str(out), base=str(base), base_sha256=sha256_of(base), tuned=str(tuned),
                         tuned_sha256=sha256_of(tuned), alpha=1.0, chosen_by="auto", max_loss=max_loss,
                         reference=ref)  # fmt: skip
    if ref.replay_val_map50 is None:
        blend_onnx(base, tuned, 1.0, out)
        result.note = (
            "no replay val set: nothing guards what the base model knew, the fine-tune is kept as trained"
        )
        result.candidates = [Candidate(alpha=1.0, city_val_map50=_map50(out, city_val))]
        return result
    trial = out.with_name(out.stem + ".trial.onnx")
    try:
        for a in sorted(alphas, reverse=True):
            blend_onnx(base, tuned, a, trial)
            result.candidates.append(
                Candidate(
                    alpha=a,
                    city_val_map50=_map50(trial, city_val),
                    replay_val_map50=_map50(trial, replay_val),
                )
            )
    finally:
        trial.unlink(missing_ok=True)
    best, result.note = pick(ref, result.candidates, max_loss)
    result.alpha = best
    blend_onnx(base, tuned, best, out)
    return result


def parse_blend(value: str) -> float | Literal["auto", "off"]:
    """``--blend``: auto, off or an alpha in (0, 1]."""
    if value in ("auto", "off"):
        return value  # type: ignore[return-value]
    try:
        alpha = float(value)
    except ValueError:
        raise DataError(f"--blend takes auto, off or an alpha in (0, 1], got {value!r}") from None
    if not 0.0 < alpha <= 1.0:
        raise DataError(f"--blend alpha must be in (0, 1], got {alpha}")
    return alpha


def finetune_of(weights: Path) -> FinetuneResult | None:
    """The fine-tune that made ``weights`` (its run's ``finetune.json``), or None."""
    from modeling.finetune import FinetuneResult

    record = weights.resolve().parent.parent / "finetune.json"
    if not record.is_file():
        return None
    return FinetuneResult.model_validate_json(record.read_text(encoding="utf-8"))


def check_export_target(weights: Path, out: Path, mode: float | Literal["auto", "off"]) -> None:
    """Refuse an export that would overwrite the model the fine-tune started from before blending
    with it (both would be lost: the export replaces it, the blend then finds no base)."""
    run = None if mode == "off" else finetune_of(weights)
    if run is not None and Path(run.base_model).resolve() == out.resolve():
        raise DataError(
            f"--out {out} is the model the fine-tune started from, which the blend needs: export to another file"
        )


def blend_finetune(
    weights: Path, exported: Path, mode: float | Literal["auto", "off"], max_loss: float = MAX_LOSS
) -> BlendResult | None:
    """After ``nce model export`` of a fine-tune's weights: keep the export as ``NAME.unblended.onnx``
    and write the blend with the model the fine-tune started from in its place. ``weights`` not from
    ``nce model train --dataset`` (no ``finetune.json`` in its run): nothing to blend with (None;
    an alpha given explicitly is an error)."""
    if mode == "off":
        return None
    run = finetune_of(weights)
    if run is None:
        if mode == "auto":
            return None
        raise DataError(
            f"--blend {mode}: {weights} is not from `nce model train --dataset` (no finetune.json)"
        )
    base = Path(run.base_model)
    if base.suffix.lower() != ".onnx":
        if mode == "auto":
            return None
        raise DataError(f"--blend {mode}: the fine-tune started from {base}, not an ONNX model to blend with")
    tuned = exported.with_name(exported.stem + ".unblended.onnx")
    os.replace(exported, tuned)
    if mode == "auto":
        city = [Path(s.folder) for s in run.mix.sources if s.kind == "city_export"]
        replay = [Path(s.folder) for s in run.mix.sources if s.kind == "synthetic_replay"]
        return choose_alpha(base, tuned, city, replay, exported, max_loss=max_loss)
    blend_onnx(base, tuned, mode, exported)
    return BlendResult(out=str(exported), base=str(base), base_sha256=sha256_of(base), tuned=str(tuned),
                       tuned_sha256=sha256_of(tuned), alpha=mode, chosen_by="given")  # fmt: skip
