"""Where a camera's video is decoded: NVDEC through FFmpeg's CUDA device (PyAV's ``HWAccel``), or
the CPU. Chosen once per camera when its reader is made (``nce run``'s start), from the camera's
``decode.hwaccel``:

- ``none``: the CPU (the default; today's path);
- ``cuda``: NVDEC; when FFmpeg cannot open the CUDA device, a :class:`SourceError` line and no start;
- ``auto``: NVDEC when the device opens, else the CPU; the log says which and why.

Whether the device opens is tried once per device and process (``HWAccel.create`` for the H.264
decoder): ``hwdevices_available()`` lists the device types FFmpeg was built with (``cuda`` is in
PyAV's wheel), not the devices this machine has. Decoded frames are downloaded to host memory
(``is_hw_owned`` off), so the rest of the reader is the same on both.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

from detector.config.camera import DecodeSettings
from detector.errors import SourceError

log = logging.getLogger("detector.sources")


@functools.cache
def cuda_decode_problem(device: int) -> str | None:
    """None when FFmpeg in PyAV opens CUDA device ``device`` for H.264 decoding, else why not."""
    import av
    from av.codec.hwaccel import HWAccel, hwdevices_available

    built = hwdevices_available()
    if "cuda" not in built:
        return f"the FFmpeg in PyAV {av.__version__} was built without CUDA (it has: {', '.join(built) or 'none'})"
    try:
        HWAccel("cuda", device=str(device), allow_software_fallback=False).create(av.Codec("h264", "r"))
    except (av.FFmpegError, NotImplementedError, OSError, ValueError) as exc:
        return f"FFmpeg cannot open CUDA device {device} for decoding (no NVIDIA GPU or driver here? {exc})"
    return None


@dataclass(frozen=True)
class DecodeChoice:
    """The decoder a camera uses: ``hwaccel`` ``cuda`` (NVDEC on ``device``) or ``none`` (the CPU)."""

    hwaccel: str = "none"
    device: int = 0

    @property
    def on_gpu(self) -> bool:
        return self.hwaccel == "cuda"

    def accel(self) -> Any:
        """PyAV's ``HWAccel`` for :func:`av.open`, or None for the CPU."""
        if not self.on_gpu:
            return None
        from av.codec.hwaccel import HWAccel

        return HWAccel("cuda", device=str(self.device), allow_software_fallback=False)


CPU = DecodeChoice()


def choose_decode(camera_id: str, settings: DecodeSettings) -> DecodeChoice:
    """The camera's decoder from its ``decode`` settings (see the module docstring)."""
    if settings.hwaccel == "none":
        return CPU
    why = cuda_decode_problem(settings.device)
    if why is None:
        log.info("camera %s: decoding on NVDEC (CUDA device %d)", camera_id, settings.device)
        return DecodeChoice("cuda", settings.device)
    if settings.hwaccel == "cuda":
        raise SourceError(
            f"camera {camera_id}: decode.hwaccel is cuda but {why}; set decode.hwaccel to auto or none"
        )
    log.info("camera %s: decode.hwaccel auto: decoding on the CPU: %s", camera_id, why)
    return CPU
