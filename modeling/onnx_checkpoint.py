"""A trainable PyTorch checkpoint rebuilt from a shipped ONNX detector (the ``train`` extra).

NCE ships ONNX only, yet a site fine-tunes the shipped model on its own footage
(``nce model train --model models/street-v1.onnx``). Ultralytics' exporter fuses every
convolution with its batch norm, so the ONNX file holds ``conv.weight`` and ``conv.bias`` where the
trainable model has a convolution without bias followed by a batch norm. This module rebuilds the
architecture named in the model's metadata, copies every weight by name, and gives each batch norm
the statistics it would have had: the per-channel mean and variance of its convolution's output on
real training images, with scale and shift chosen so that the eval-mode output is exactly the fused
one (``bn(y) = sqrt(var+eps) * (y-mean) / sqrt(var+eps) + bias + mean = y + bias``). Training then
starts from the shipped model's outputs *and* from batch statistics that match the data, instead of
an identity norm whose first training batches would throw the model off.

Torch, Ultralytics and onnx are imported inside the functions: the runtime never imports them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from detector.errors import DataError, ModelError
from detector.yolo import YoloDetector
from modeling.evaluation import IMAGE_SUFFIXES


class CheckpointReport(BaseModel):
    """What :func:`checkpoint_from_onnx` rebuilt and how closely it matches the ONNX model."""

    onnx: str
    checkpoint: str
    arch: str
    names: dict[int, str]
    imgsz: int
    tensors: int
    calibration_images: int
    max_abs_diff: float


def arch_of(metadata: dict[str, str]) -> str:
    """The architecture yaml named in Ultralytics' export metadata ("Ultralytics YOLO11n model …")."""
    found = re.search(r"\b(YOLO[\w.-]*?)\s+model\b", metadata.get("description", ""))
    if not found:
        raise ModelError(
            "the ONNX metadata names no architecture (expected a description such as "
            f"'Ultralytics YOLO11n model trained on …', got {metadata.get('description')!r}); pass --arch"
        )
    return found.group(1).lower() + ".yaml"


def calibration_images(folders: Sequence[str | os.PathLike[str]], limit: int) -> list[Path]:
    """Up to ``limit`` images of dataset folders, spread evenly over them (sorted, deterministic)."""
    files: list[Path] = []
    for folder in folders:
        root = Path(folder)
        if not root.is_dir():
            raise DataError(f"calibration images: {root} is not a folder")
        files += sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"calibration images: no images under {', '.join(map(str, folders))}")
    step = max(1, len(files) // limit)
    return files[::step][:limit]


def _batches(detector: YoloDetector, paths: Sequence[Path], batch: int) -> Iterator[npt.NDArray[np.float32]]:
    """Square letterboxed input tensors, exactly as the runtime makes them (copies, not its buffer)."""
    for start in range(0, len(paths), batch):
        frames = []
        for path in paths[start : start + batch]:
            image = cv2.imread(str(path))
            if image is None:
                raise DataError(f"calibration images: cannot read {path}")
            frames.append(image)
        yield detector.preprocess(frames)[0].copy()


def checkpoint_from_onnx(
    onnx_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    images: Sequence[str | os.PathLike[str]],
    *,
    arch: str | None = None,
    n_images: int = 64,
    batch: int = 8,
) -> CheckpointReport:
    """Write an Ultralytics checkpoint at ``out`` equivalent to the ONNX detector at ``onnx_path``;
    batch-norm statistics are measured on up to ``n_images`` images under the ``images`` folders."""
    import onnx
    import torch
    from onnx import numpy_helper
    from ultralytics.nn.modules.conv import Conv
    from ultralytics.nn.tasks import DetectionModel

    detector = YoloDetector(Path(onnx_path), providers=["CPUExecutionProvider"], rect=False)
    info = detector.info
    proto = onnx.load(str(onnx_path))
    arch = arch or arch_of(info.metadata)
    imgsz = info.imgsz[0]
    weights = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    # the exporter stores identical tensors once (biases still at their initial value, say) and
    # gives the others as Identity nodes of it: follow those names to the stored tensor
    alias = {
        n.output[0]: n.input[0] for n in proto.graph.node if n.op_type == "Identity" and n.input[0] in weights
    }

    model = DetectionModel(arch, nc=len(info.names), verbose=False)
    model.names = dict(info.names)
    model.eval()
    used: set[str] = set()

    def take(name: str, like: torch.Tensor) -> torch.Tensor:
        stored = name if name in weights else alias.get(name, name)
        if stored not in weights:
            raise ModelError(f"{onnx_path}: no tensor {name!r} for {arch} (is it that architecture?)")
        value = torch.from_numpy(np.array(weights[stored], dtype=np.float32))
        if tuple(value.shape) != tuple(like.shape):
            raise ModelError(
                f"{onnx_path}: {name} has shape {tuple(value.shape)}, {arch} expects {tuple(like.shape)}"
            )
        used.add(stored)
        return value

    fused: dict[str, Any] = {}
    with torch.no_grad():
        for prefix, module in model.named_modules():
            if isinstance(module, Conv) and hasattr(module, "bn"):
                module.conv.weight.copy_(take(f"{prefix}.conv.weight", module.conv.weight))
                bias = take(f"{prefix}.conv.bias", module.bn.bias)
                bn = module.bn
                # identity first (exactly the fused output), statistics after calibration
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0)
                bn.weight.fill_(float(np.sqrt(1.0 + bn.eps)))
                bn.bias.copy_(bias)
                fused[prefix] = module
        covered = {f"{p}.{k}" for p in fused for k in ("conv.weight", "bn.weight", "bn.bias")}
        for name, param in model.named_parameters():
            if name not in covered:
                param.copy_(take(name, param))
        for name, buf in model.named_buffers():
            if name in weights:
                buf.copy_(take(name, buf))

    paths = calibration_images(images, n_images)
    sums: dict[str, torch.Tensor] = {}
    squares: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}

    def hook(prefix: str) -> Any:
        def record(_: Any, __: Any, output: torch.Tensor) -> None:
            y = output.detach().double()
            sums[prefix] = sums.get(prefix, 0) + y.sum(dim=(0, 2, 3))
            squares[prefix] = squares.get(prefix, 0) + (y * y).sum(dim=(0, 2, 3))
            counts[prefix] = counts.get(prefix, 0) + y.numel() // y.shape[1]

        return record

    handles = [m.conv.register_forward_hook(hook(p)) for p, m in fused.items()]
    with torch.no_grad():
        for x in _batches(detector, paths, batch):
            model(torch.from_numpy(x))
    for h in handles:
        h.remove()
    with torch.no_grad():
        for prefix, module in fused.items():
            bn = module.bn
            mean = sums[prefix] / counts[prefix]
            var = (squares[prefix] / counts[prefix] - mean * mean).clamp_min(1e-6)
            bn.running_mean.copy_(mean.float())
            bn.running_var.copy_(var.float())
            bn.weight.copy_(torch.sqrt(var + bn.eps).float())
            bn.bias.add_(mean.float())

    # the rebuilt model must compute what the ONNX model computes
    x = next(_batches(detector, paths[:2], 2))
    with torch.no_grad():
        ours = model(torch.from_numpy(x))
    ours_np = (ours[0] if isinstance(ours, (list, tuple)) else ours).numpy()
    theirs = detector.infer(x)
    diff = float(np.abs(ours_np - theirs).max())
    if diff > 1e-2 * max(1.0, float(np.abs(theirs).max())):
        raise ModelError(f"{onnx_path}: the rebuilt {arch} differs from the ONNX model by {diff:.3g}")
    unused = sorted(set(weights) - used)
    if any(name.endswith(".weight") for name in unused):
        raise ModelError(f"{onnx_path}: weights not placed in {arch}: {', '.join(unused[:5])}")

    dest = Path(out)
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model": model,
            "train_args": {"imgsz": imgsz, "task": "detect"},
            "epoch": -1,
            "date": info.metadata.get("date"),
            "version": info.metadata.get("version"),
            "from_onnx": str(onnx_path),
        },
        dest,
    )
    return CheckpointReport(
        onnx=str(onnx_path),
        checkpoint=str(dest),
        arch=arch,
        names=dict(info.names),
        imgsz=imgsz,
        tensors=len(used),
        calibration_images=len(paths),
        max_abs_diff=diff,
    )
