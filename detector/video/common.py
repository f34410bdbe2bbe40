"""What every camera source shares: stream states, reader options, redaction, image checks."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from detector.config.camera import DecodeSettings
from nce.backoff import Backoff

_USERINFO = re.compile(r"(?<=://)[^/@]*@")


class StreamState(StrEnum):
    connecting = "connecting"
    up = "up"
    down = "down"  # failed; retrying with backoff
    eof = "eof"  # a file reached its end
    failed = "failed"  # a file that cannot be read; not retried
    stopped = "stopped"


FINAL_STATES = frozenset({StreamState.eof, StreamState.failed, StreamState.stopped})


class DecodeMode(StrEnum):
    """Which frames a camera's PyAV decoder decodes (``opencv``: the fallback, every frame)."""

    keyframes = "keyframes"  # skip_frame NONKEY: key frames come often enough for detect_fps
    nonref = "nonref"  # skip_frame NONREF: the stream has frames nothing refers to (B-frames)
    # no B-frames: each GOP decoded from its key frame up to the last frame a sample needs, the rest
    # of the GOP skipped (skip_frame NONKEY until the next key frame; every packet is still demuxed)
    gop_partial = "gop_partial"
    all = "all"
    opencv = "opencv"


@dataclass(frozen=True, kw_only=True)
class ReaderOptions:
    """How a reader buffers, times out and retries."""

    ring_s: float = 10.0
    ring_fps: float = 5.0
    ring_max_mb: float = 256.0  # per camera: 1080p BGR is 6.2 MB a frame (8 s at 5 fps)
    # the decoded ring of a PyAV camera whose packets feed the evidence packager (``on_packet``): its
    # clips are remuxed from the packet ring and its stills are samples, so decoded frames are kept
    # only as the fallback clip's pre-roll; 0 keeps none (1080p BGR: 6.2 MB a frame)
    packet_camera_ring_s: float = 0.0
    open_timeout_s: float = 10.0
    stall_s: float = 10.0
    backoff_initial_s: float = 1.0
    backoff_cap_s: float = 30.0
    jitter: float = 0.25
    max_corrupt_in_a_row: int = 25
    # the first frame OpenCV decodes after joining a live H.264 stream has wrong colours (seen with
    # gst-rtsp-server and FFmpeg 7; through PyAV too, decoding from the first key frame): drop this
    # many after each (re)connect
    settle_frames: int = 1
    # bytes FFmpeg reads from a live stream to learn its format before the first frame (its default,
    # 5 MB, makes every RTSP open take ~3 s, and OpenCV opens one stream at a time: 16 cameras took
    # 48 s to start). A stream whose format this much does not reveal is reopened with the default.
    probe_bytes: int = 32768
    # decode only key frames when they come at least every (1 + keyframe_tolerance) / detect_fps
    # seconds (the tolerance absorbs time-stamp jitter): a camera is never sampled below detect_fps
    # to save decoding (key frames every 2 s at detect_fps 1: non-reference frames skipped, or all decoded)
    keyframe_tolerance: float = 0.10
    # FFmpeg decoder threads per camera: each thread keeps its own picture buffers (1080p: ~3 MB a
    # frame) and cameras already decode in parallel, one reader thread each; 0: FFmpeg's choice
    decode_threads: int = 1
    use_pyav: bool = True  # False: every camera through OpenCV, every frame decoded (the old path)
    decode: DecodeSettings = field(default_factory=DecodeSettings)  # the camera's: NVDEC or the CPU

    def backoff(self, failures: int, rng: random.Random) -> float:
        """Delay before reconnect number ``failures`` (1, 2, …): doubling, capped, ± jitter."""
        steps = Backoff(base_s=self.backoff_initial_s, cap_s=self.backoff_cap_s, jitter=self.jitter)
        return steps.delay(failures, rng)


def redact(source: str) -> str:
    """``rtsp://user:pass@host/x`` → ``rtsp://***@host/x`` (for logs)."""
    return _USERINFO.sub("***@", source)


def valid_image(image: Any) -> bool:
    return (
        isinstance(image, np.ndarray)
        and image.dtype == np.uint8
        and image.ndim == 3
        and image.shape[2] == 3
        and image.shape[0] > 0
        and image.shape[1] > 0
    )
