"""The OpenCV source (the fallback where PyAV cannot open a source): every frame decoded through
OpenCV's FFmpeg backend, only the frames due as a sample or for the ring converted to BGR."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2

from detector.video.common import StreamState, redact, valid_image

if TYPE_CHECKING:
    from detector.video.reader import CameraReader

log = logging.getLogger("detector.sources")

_CAPTURE_OPTIONS = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_USER_CAPTURE_OPTIONS = os.environ.get(_CAPTURE_OPTIONS, "")
# OpenCV reads its FFmpeg options from the environment when a capture opens (and opens one at a time
# anyway): set them and open under one lock, so each reader opens with its own options
_OPEN_LOCK = threading.Lock()


def capture_options(probe_bytes: int) -> str:
    """FFmpeg options for a live stream: RTSP over TCP and a short probe, unless the operator's own
    ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` (``key;value|key;value``) already sets them."""
    options = [o for o in _USER_CAPTURE_OPTIONS.split("|") if o]
    keys = {o.split(";", 1)[0] for o in options}
    if "rtsp_transport" not in keys:
        options.append("rtsp_transport;tcp")
    if probe_bytes > 0 and "probesize" not in keys:
        options.append(f"probesize;{probe_bytes}")
    return "|".join(options)


def open_opencv(reader: CameraReader) -> tuple[Any, str]:
    """An opened ``cv2.VideoCapture``, or None and why not."""
    opts = reader.options
    if reader.is_live:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(opts.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(opts.stall_s * 1000),
        ]
        short = reader._short_probe
        with _OPEN_LOCK:
            os.environ[_CAPTURE_OPTIONS] = capture_options(opts.probe_bytes if short else 0)
            cap = cv2.VideoCapture(reader.source, cv2.CAP_FFMPEG, params)
        if not cap.isOpened() and opts.probe_bytes > 0:
            # the stream may be down, or its format may need a longer look than the short probe:
            # tries alternate between the two until one opens (and that one is kept)
            reader._short_probe = not short
    else:
        if not Path(reader.source).is_file():
            return None, f"no such file {reader.source}"
        cap = cv2.VideoCapture(reader.source, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        kind = "stream" if reader.is_live else "video file"
        return None, f"cannot open {kind} {redact(reader.source)}"
    return cap, ""


def read_opencv(reader: CameraReader, cap: Any) -> tuple[str, str, int]:
    """Read until the stream fails, the file ends, or stop: (outcome, why, frames delivered).

    Every frame is decoded (``grab``), but only the frames that are due as a sample or for the
    ring are converted to BGR (``retrieve``): the conversion is a good part of the cost of a
    1080p frame, and at 25 fps with 2 samples a second most frames are never looked at.
    """
    opts = reader.options
    fps = cap.get(cv2.CAP_PROP_FPS)
    fps = fps if fps and 1.0 <= fps <= 240.0 else 25.0
    frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    start_wall = time.monotonic()
    start_utc = dt.datetime.now(dt.UTC)
    if not reader.is_live and not reader.realtime and frame_count > 0:
        # read faster than real time, the file's timeline ends when reading starts: every frame is
        # dated before the package that shows it is written and received, never in the future
        start_utc -= dt.timedelta(seconds=frame_count / fps)
    last_media = -1.0
    delivered = 0
    bad_in_a_row = 0
    stalled = f"stalled: no frame for {opts.stall_s:g} s"
    settling = opts.settle_frames
    while not reader._stop.is_set():
        asked = time.monotonic()
        ok = cap.grab()
        if reader.is_live and time.monotonic() - asked >= 0.95 * opts.stall_s:
            # the read timed out; FFmpeg may still hand back a frame its decoder held: stale
            return "failed", stalled, delivered
        if not ok:
            if reader.is_live:
                return "failed", "the stream ended or could not be read", delivered
            position = int(cap.get(cv2.CAP_PROP_POS_FRAMES) or 0)
            if position + 1 < frame_count and bad_in_a_row < opts.max_corrupt_in_a_row:
                bad_in_a_row += 1
                if reader.read_errors == 0:
                    log.warning("camera %s: unreadable frame at %d: skipped", reader.camera_id, position)
                reader._count_error()
                continue  # a corrupt frame inside the file: skip it
            if delivered == 0:
                return "failed", "no frame could be decoded (not a video OpenCV can read?)", 0
            return "eof", "", delivered
        if reader.is_live:
            if settling > 0:
                settling -= 1
                continue
            mono, utc = time.monotonic(), dt.datetime.now(dt.UTC)
        else:
            media = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if not media > last_media:
                media = last_media + 1.0 / fps if last_media >= 0 else 0.0
            last_media = media
            if reader.realtime and reader._stop.wait(max(0.0, start_wall + media - time.monotonic())):
                return "stopped", "", delivered
            mono, utc = media, start_utc + dt.timedelta(seconds=media)
        reader._count_frame()
        reader._last_frame_wall = time.monotonic()
        if not reader._wanted(mono):
            continue
        ok, image = cap.retrieve()
        if not ok or not valid_image(image):
            bad_in_a_row += 1
            reader._count_error()
            if bad_in_a_row > opts.max_corrupt_in_a_row:
                return "failed", "the decoder returns no usable frames", delivered
            continue
        bad_in_a_row = 0
        delivered += 1
        if reader.state != StreamState.up:
            reader._set_state(StreamState.up)
        # index: the frame's number among all frames this reader decoded (for a file: its
        # position, unless frames were unreadable)
        reader._publish_image(reader.frames_decoded - 1, image, utc, mono)
    return "stopped", "", delivered
