"""Cameras: where each stream comes from, how often it is sampled, and its zones."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from detector.config.base import ConfigModel, Id
from detector.config.masks import Mask
from detector.config.zones import Zone
from nce.bounds import Address, Name


class Location(ConfigModel):
    """Where a camera stands (WGS-84); evidence packages carry it."""

    lat: float = Field(ge=-90, le=90, title="Latitude", description="degrees north", examples=[31.4045])
    lon: float = Field(ge=-180, le=180, title="Longitude", description="degrees east", examples=[121.4890])
    address: Address | None = Field(
        None,
        title="Address",
        description="a street address for people",
        examples=["宝山区 友谊路 100 号 对面"],
    )


class DecodeSettings(ConfigModel):
    """Where the camera's video is decoded (the PyAV path; OpenCV always decodes on the CPU)."""

    hwaccel: Literal["none", "cuda", "auto"] = Field(
        "none",
        title="Hardware decoding",
        description=(
            "cuda: NVDEC through FFmpeg's CUDA device, refused at start when it cannot be opened; auto: NVDEC "
            "when it opens, else the CPU (the log and nce_decode_hwaccel say which); none: the CPU"
        ),
    )
    device: int = Field(0, ge=0, le=63, title="GPU", description="CUDA device index for cuda/auto")


class Camera(ConfigModel):
    """One camera: its stream, its sampling rate and the zones drawn on its frame."""

    id: Id = Field(
        title="Camera id", description="unique; hits, topics and cases name it", examples=["cam-01"]
    )
    name: Name = Field(title="Name", description="a name for people", examples=["友谊路 东口"])
    source: str = Field(
        title="Source",
        description="rtsp:// URL or a video file path",
        examples=["rtsp://127.0.0.1:8554/cam-01"],
    )
    location: Location | None = Field(None, title="Location", description="where the camera stands")
    detect_fps: float = Field(
        2.0,
        gt=0.0,
        le=30.0,
        title="Detection rate",
        description="frames per second sampled for detection (1-5 is plenty for things that stay)",
    )
    recheck_s: float = Field(
        10.0,
        gt=0.0,
        title="Re-check interval",
        description="re-infer at least this often even when the change gate sees nothing",
    )
    enabled: bool = Field(True, title="Enabled", description="false: kept in the config but not run")
    min_score: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        title="Least score",
        description="this camera's detections scored below this are dropped before the tracker (remote setting)",
    )
    decode: DecodeSettings = Field(
        default_factory=DecodeSettings, title="Decoding", description="where the video is decoded"
    )
    zones: list[Zone] = Field(
        default_factory=list, title="Zones", description="the zones on this camera's frame"
    )
    masks: list[Mask] = Field(
        default_factory=list,
        title="Masks",
        description="places where detections of some classes are dropped before the rules (learned masks)",
    )
