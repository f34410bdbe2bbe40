"""The detection model section: which ONNX file, which execution providers, which thresholds."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from detector.config.base import ConfigModel
from detector.config.providers import ProviderEntry, cpu_only, ort_providers, provider_names
from nce.zones import MASK_CLASSES

# The detector classes of the project's own model (ARCHITECTURE.md §2); rules map them to violations.
# The shipped model's classes are nce.vocabulary.MODEL_CLASSES (the service labels frames with them).
DETECTOR_CLASSES: tuple[str, ...] = MASK_CLASSES  # the model's classes and "person" (nce.zones)

# The detection threshold `nce run` applies unless a site sets `model.conf`; `nce detect` and
# `nce model fpcheck` default to it too (Ultralytics' predict default, 0.25, is what the library class
# and the precision/recall columns of `nce model eval` use, for comparison with Ultralytics).
DEFAULT_CONF = 0.35


class ModelSettings(ConfigModel):
    """The detector: one ONNX Runtime session shared by all cameras, frames batched."""

    path: Path = Field(
        title="Model file",
        description=(
            "an Ultralytics detect export (.onnx): YOLOv8/11 layout or end-to-end; with release_pubkey, "
            "a release folder (nce model release: model.onnx, card.md, release.json)"
        ),
        examples=["models/street-v1.onnx"],
    )
    release_pubkey: Path | None = Field(
        None,
        title="Release public key",
        description=(
            "run only models released with this key (Ed25519 public key file): path is then a release "
            "folder whose signature must verify and whose model.onnx must be the signed one; "
            "null: path is the model file, unchecked"
        ),
    )
    providers: list[ProviderEntry] = Field(
        default_factory=cpu_only,
        min_length=1,
        title="Execution providers",
        description=(
            "ONNX Runtime execution providers in order of preference, e.g. "
            "[TensorrtExecutionProvider, CUDAExecutionProvider]; each must be in use (see allow_fallback); "
            "an entry may be {name: TensorrtExecutionProvider, fp16, engine_cache, max_workspace_size, "
            "device_id} or {name: CUDAExecutionProvider, device_id, cudnn_conv_algo_search} (docs/deploy.md)"
        ),
        examples=[
            [
                {
                    "name": "TensorrtExecutionProvider",
                    "device_id": 0,
                    "fp16": False,
                    "engine_cache": None,
                    "max_workspace_size": None,
                },
                {"name": "CUDAExecutionProvider", "device_id": 0, "cudnn_conv_algo_search": "EXHAUSTIVE"},
                "CPUExecutionProvider",
            ]
        ],
    )
    conf: float = Field(
        DEFAULT_CONF,
        gt=0.0,
        le=1.0,
        title="Score threshold",
        description="detection score threshold (the product's default: 0.35)",
    )
    iou: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        title="NMS IoU",
        description="IoU above which non-maximum suppression merges boxes",
    )
    allow_fallback: bool = Field(
        False,
        title="Allow provider fallback",
        description="warn instead of failing when a provider asked for is not in use",
    )
    intra_op_threads: int = Field(
        0, ge=0, title="Intra-op threads", description="ONNX Runtime intra-op threads (0: its default)"
    )
    inter_op_threads: int = Field(
        0, ge=0, title="Inter-op threads", description="ONNX Runtime inter-op threads (0: its default)"
    )
    max_batch: int = Field(
        8, ge=1, le=64, title="Largest batch", description="most frames in one inference batch"
    )
    rect: bool | None = Field(
        None,
        title="Rectangular letterbox",
        description=(
            "letterbox each batch to the smallest stride multiple that holds its frames (Ultralytics' "
            "rect; 768x576 at 384 → 288x384) instead of the square imgsz; null: on for a dynamic-shape "
            "export, off for a static one (true there is an error)"
        ),
    )

    def provider_names(self) -> list[str]:
        """The providers' names, in order."""
        return provider_names(self.providers)

    def ort_providers(self) -> list[str | tuple[str, dict[str, str]]]:
        """The providers as ONNX Runtime takes them: a name, or (name, its provider options)."""
        return ort_providers(self.providers)
