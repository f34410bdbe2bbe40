"""Execution provider entries of ``model.providers``: a provider's name alone, or a TensorRT or CUDA
provider with its typed options, handed to ONNX Runtime as its provider options.

::

    providers:
      - name: TensorrtExecutionProvider
        fp16: true                      # trt_fp16_enable
        engine_cache: var/trt-engines   # trt_engine_cache_enable + trt_engine_cache_path (config-relative)
        max_workspace_size: 4294967296  # trt_max_workspace_size, bytes
      - name: CUDAExecutionProvider
        cudnn_conv_algo_search: HEURISTIC
      - CPUExecutionProvider
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from detector.config.base import ConfigModel

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"


class TensorrtProvider(ConfigModel):
    """ONNX Runtime's TensorRT execution provider and its options."""

    name: Literal["TensorrtExecutionProvider"] = Field(
        title="Provider", description="TensorrtExecutionProvider", examples=[TENSORRT]
    )
    device_id: int = Field(0, ge=0, le=63, title="GPU", description="CUDA device index (device_id)")
    fp16: bool = Field(False, title="FP16", description="let TensorRT build fp16 kernels (trt_fp16_enable)")
    engine_cache: Path | None = Field(
        None,
        title="Engine cache folder",
        description=(
            "keep built TensorRT engines in this folder (trt_engine_cache_enable, trt_engine_cache_path; "
            "relative to the config's folder): the first start builds them (minutes), later starts load them; "
            "null: build at every start"
        ),
    )
    max_workspace_size: int | None = Field(
        None,
        ge=1 << 20,
        le=1 << 40,
        title="Workspace size",
        description="bytes TensorRT may use for its tactics (trt_max_workspace_size); null: its default",
    )

    def options(self) -> dict[str, str]:
        out = {"device_id": str(self.device_id), "trt_fp16_enable": str(self.fp16)}
        if self.engine_cache is not None:
            out |= {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(self.engine_cache)}
        if self.max_workspace_size is not None:
            out["trt_max_workspace_size"] = str(self.max_workspace_size)
        return out


class CudaProvider(ConfigModel):
    """ONNX Runtime's CUDA execution provider and its options."""

    name: Literal["CUDAExecutionProvider"] = Field(
        title="Provider", description="CUDAExecutionProvider", examples=[CUDA]
    )
    device_id: int = Field(0, ge=0, le=63, title="GPU", description="CUDA device index (device_id)")
    cudnn_conv_algo_search: Literal["EXHAUSTIVE", "HEURISTIC", "DEFAULT"] = Field(
        "EXHAUSTIVE",
        title="cuDNN convolution search",
        description="how cuDNN picks convolution algorithms (ONNX Runtime's default: EXHAUSTIVE)",
    )

    def options(self) -> dict[str, str]:
        return {"device_id": str(self.device_id), "cudnn_conv_algo_search": self.cudnn_conv_algo_search}


_TAGS = {TENSORRT: "tensorrt", CUDA: "cuda"}


def _tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "name"
    if isinstance(value, dict):
        return _TAGS.get(str(value.get("name")))
    if isinstance(value, TensorrtProvider | CudaProvider):
        return _TAGS[value.name]
    return None


ProviderEntry = Annotated[
    Annotated[str, Tag("name")]
    | Annotated[TensorrtProvider, Tag("tensorrt")]
    | Annotated[CudaProvider, Tag("cuda")],
    Discriminator(
        _tag,
        custom_error_type="provider_entry",
        custom_error_message=(
            "expected a provider name, or {name: TensorrtExecutionProvider, …} / "
            "{name: CUDAExecutionProvider, …} with options"
        ),
    ),
]


def provider_names(entries: Sequence[str | TensorrtProvider | CudaProvider]) -> list[str]:
    return [e if isinstance(e, str) else e.name for e in entries]


def ort_providers(
    entries: Sequence[str | TensorrtProvider | CudaProvider],
) -> list[str | tuple[str, dict[str, str]]]:
    return [e if isinstance(e, str) else (e.name, e.options()) for e in entries]


def resolve_provider_paths(
    entries: Sequence[str | TensorrtProvider | CudaProvider], at: Callable[[Path], Path]
) -> list[str | TensorrtProvider | CudaProvider]:
    """The entries with a TensorRT engine cache folder made absolute by ``at``."""
    return [
        e.model_copy(update={"engine_cache": at(e.engine_cache)})
        if isinstance(e, TensorrtProvider) and e.engine_cache is not None
        else e
        for e in entries
    ]


def cpu_only() -> list[str | TensorrtProvider | CudaProvider]:
    """The default: ONNX Runtime's CPU provider alone."""
    return ["CPUExecutionProvider"]
