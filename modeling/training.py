"""Training and ONNX export of NCE's own detector (the ``train`` extra: Ultralytics + PyTorch).

Torch and Ultralytics are imported only inside these functions: the runtime path never imports
them. Everything runs offline: the model is built from its yaml (no pretrained weights), AMP is off
(its check downloads a model), plots are off (they download a font), and Ultralytics' settings are
switched to no sync.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from detector.errors import DataError
from modeling.blend import BlendResult

log = logging.getLogger(__name__)


class TrainResult(BaseModel):
    weights: str
    last: str
    run_dir: str
    epochs: int
    imgsz: int
    seed: int
    seconds: float
    versions: dict[str, str]


class ExportResult(BaseModel):
    onnx: str
    imgsz: int
    opset: int
    names: dict[int, str]
    bytes: int
    blend: BlendResult | None = None  # set by `nce model export` for a fine-tune's weights


def _offline() -> Any:
    """Import ultralytics with downloads and telemetry off; a clear error when the extra is missing."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "True")
    try:
        import ultralytics
        from ultralytics.utils import SETTINGS
    except ImportError as exc:
        raise DataError(
            "training needs the `train` extra (ultralytics, torch): run `make test-train` or "
            "`python3 -m venv .venv-train && .venv-train/bin/pip install -e '.[train]'`"
        ) from exc
    with contextlib.suppress(Exception):  # settings keys differ between versions; YOLO_OFFLINE still applies
        SETTINGS.update(
            {
                "sync": False,
                "clearml": False,
                "comet": False,
                "dvc": False,
                "mlflow": False,
                "raytune": False,
                "tensorboard": False,
                "wandb": False,
            }
        )
    return ultralytics


def cpu_threads(threads: int | None) -> int:
    """Use ``threads`` (default: every core) for CPU training. Ultralytics resets torch to one core
    fewer than the machine has when it picks the CPU device, which on a 2-core edge box or CI
    machine halves the speed; its device selection reads the module constant patched here."""
    n = threads or os.cpu_count() or 1
    if n < 1:
        raise DataError(f"--threads must be at least 1, got {n}")
    from ultralytics.utils import torch_utils

    torch_utils.NUM_THREADS = n  # type: ignore[attr-defined]
    return n


def versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for mod in ("ultralytics", "torch", "torchvision", "onnx", "onnxruntime", "numpy", "cv2"):
        try:
            m = __import__(mod)
            out[mod] = str(getattr(m, "__version__", "?"))
        except ImportError:
            continue
    return out


def check_data_yaml(data: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(data)
    if not path.is_file():
        raise DataError(f"--data {path}: no such file (make one with `nce data synth`)")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DataError(f"--data {path}: not YAML: {exc}") from exc
    if not isinstance(doc, dict) or "names" not in doc or "train" not in doc:
        raise DataError(f"--data {path}: needs `train` and `names` keys (YOLO data.yaml)")
    return doc


def train_folders(data: str | os.PathLike[str]) -> list[Path]:
    """The training image folders a YOLO ``data.yaml`` names (``train``: one path or a list, relative
    to ``path``, which is relative to the yaml's folder)."""
    doc = check_data_yaml(data)
    base = Path(data).resolve().parent
    root = base / str(doc.get("path") or ".")
    entries = doc["train"] if isinstance(doc["train"], list) else [doc["train"]]
    folders = [root / str(e) for e in entries]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        raise DataError(f"--data {data}: train folder(s) not found: {', '.join(missing)}")
    return folders


def train(
    data: str | os.PathLike[str],
    epochs: int,
    imgsz: int,
    model: str = "yolo11n.yaml",
    seed: int = 0,
    out: str | os.PathLike[str] = "runs/train",
    name: str = "street",
    batch: int = 16,
    workers: int = 2,
    device: str = "cpu",
    cache: bool = True,
    patience: int = 100,
    threads: int | None = None,
    arch: str | None = None,
    warmup_epochs: float | None = None,
    freeze: int | None = None,
    on_epoch: Callable[[int, int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train a detector on a YOLO ``data.yaml``: from scratch (``model`` an architecture yaml), or
    fine-tune Ultralytics weights (``.pt``) or an exported NCE model (``.onnx``, e.g. the shipped
    ``models/street-v1.onnx``: its weights are rebuilt into a checkpoint first, see
    :mod:`modeling.onnx_checkpoint`). ``on_epoch(epoch, epochs, metrics)`` is called after each
    epoch's validation (metrics: Ultralytics' ``metrics/mAP50(B)`` and the like), and once more with
    ``epoch = epochs + 1`` after the final validation of the kept weights. ``freeze`` keeps the first
    modules as they are, weights and batch-norm statistics (Ultralytics' ``freeze``)."""
    folders = train_folders(data)
    if epochs < 1:
        raise DataError(f"--epochs must be at least 1, got {epochs}")
    if imgsz < 32 or imgsz % 32:
        raise DataError(f"--imgsz must be a multiple of 32 and at least 32, got {imgsz}")
    if freeze is not None and not 0 <= freeze <= 22:
        raise DataError(
            f"--freeze must be 0..22 (modules of the YOLO11 graph; its backbone is 10), got {freeze}"
        )
    if model.endswith((".pt", ".onnx")) and not Path(model).is_file():
        raise DataError(f"--model {model}: no such weights file (offline: use an architecture yaml)")
    _offline()
    from ultralytics import YOLO

    cpu_threads(threads)
    t0 = time.monotonic()
    if model.endswith(".onnx"):
        from modeling.onnx_checkpoint import checkpoint_from_onnx

        rebuilt = checkpoint_from_onnx(
            model, Path(out).resolve() / f"{name}.from-onnx.pt", folders, arch=arch
        )
        log.info(
            "rebuilt %s from %s (%d tensors, batch norms measured on %d images, max |diff| %.2g)",
            rebuilt.arch, model, rebuilt.tensors, rebuilt.calibration_images, rebuilt.max_abs_diff,
        )  # fmt: skip
        model = rebuilt.checkpoint
    yolo = YOLO(model)
    if on_epoch is not None:
        report = on_epoch

        def _epoch_end(trainer: Any) -> None:
            metrics = {str(k): float(v) for k, v in (getattr(trainer, "metrics", None) or {}).items()}
            report(int(trainer.epoch) + 1, int(trainer.epochs), metrics)

        yolo.add_callback("on_fit_epoch_end", _epoch_end)
    yolo.train(
        data=str(Path(data).resolve()),
        epochs=epochs,
        imgsz=imgsz,
        batch=batch,
        workers=workers,
        device=device,
        seed=seed,
        deterministic=True,
        amp=False,
        plots=False,
        pretrained=model.endswith(".pt"),
        cache=cache,
        patience=patience,
        **({} if warmup_epochs is None else {"warmup_epochs": warmup_epochs}),
        **({} if not freeze else {"freeze": freeze}),
        project=str(Path(out).resolve()),
        name=name,
        exist_ok=True,
        verbose=True,
    )
    run_dir = Path(out).resolve() / name
    best = run_dir / "weights" / "best.pt"
    last = run_dir / "weights" / "last.pt"
    if not best.is_file():
        best = last
    return TrainResult(
        weights=str(best),
        last=str(last),
        run_dir=str(run_dir),
        epochs=epochs,
        imgsz=imgsz,
        seed=seed,
        seconds=round(time.monotonic() - t0, 1),
        versions=versions(),
    )


def resume(
    last: str | os.PathLike[str],
    epochs: int | None = None,
    workers: int | None = None,
    threads: int | None = None,
) -> TrainResult:
    """Continue an interrupted run from its ``last.pt``; ``epochs`` changes the run's total length
    (the learning-rate schedule and the final no-mosaic epochs follow the new total)."""
    path = Path(last)
    if not path.is_file():
        raise DataError(f"--resume {path}: no such checkpoint")
    _offline()
    import torch
    from ultralytics import YOLO

    cpu_threads(threads)
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    args = ckpt.get("train_args") or {}
    done = int(ckpt.get("epoch", -1)) + 1
    if epochs is not None:
        if epochs <= done:
            raise DataError(f"--epochs {epochs}: the run has already done {done} epochs")
        args["epochs"] = epochs
        ckpt["train_args"] = args
        torch.save(ckpt, path)
    t0 = time.monotonic()
    overrides: dict[str, Any] = {"resume": str(path)}
    if workers is not None:
        overrides["workers"] = workers
    YOLO(str(path)).train(**overrides)
    run_dir = path.parent.parent
    best = run_dir / "weights" / "best.pt"
    return TrainResult(
        weights=str(best if best.is_file() else path),
        last=str(path),
        run_dir=str(run_dir),
        epochs=int(args.get("epochs", 0)),
        imgsz=int(args.get("imgsz", 0)),
        seed=int(args.get("seed", 0)),
        seconds=round(time.monotonic() - t0, 1),
        versions=versions(),
    )


def export(
    weights: str | os.PathLike[str],
    out: str | os.PathLike[str],
    imgsz: int = 640,
    opset: int = 17,
    dynamic: bool = True,
    half: bool = False,
) -> ExportResult:
    """Export trained weights to ONNX at ``out`` (class names in the ONNX metadata)."""
    w = Path(weights)
    if not w.is_file():
        raise DataError(f"--weights {w}: no such file")
    if not 12 <= opset <= 20:
        raise DataError(f"--opset must be 12..20, got {opset}")
    _offline()
    from ultralytics import YOLO

    yolo = YOLO(str(w))
    produced = yolo.export(
        format="onnx", imgsz=imgsz, opset=opset, dynamic=dynamic, simplify=False, half=half, device="cpu"
    )
    dest = Path(out)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(produced), dest)
    names = {int(k): str(v) for k, v in yolo.names.items()}
    return ExportResult(onnx=str(dest), imgsz=imgsz, opset=opset, names=names, bytes=dest.stat().st_size)
