"""Camera sources: one reader thread per camera (RTSP or a video file).

A :class:`CameraReader` (:mod:`detector.video.reader`) reads continuously and keeps

- the newest frame only (:meth:`~CameraReader.latest`), never a growing queue (only the frames due
  as a sample or for the ring are converted to BGR);
- a ring buffer of the last ``ring_s`` seconds (at most ``ring_fps`` frames a second and
  ``ring_max_mb`` of pictures) for pre-roll evidence (:meth:`~CameraReader.ring`); a PyAV camera
  whose packets feed the evidence packager (``on_packet``) keeps ``packet_camera_ring_s`` (0: none),
  its clips being remuxed packets and its stills samples;
- one pending *sample* at the camera's ``detect_fps`` (:meth:`~CameraReader.take_sample`). Live
  streams replace an untaken sample with a newer one; a file read with ``lossless=True`` (``nce run
  --until-eof``) waits until its sample is taken, so every sample is inferred and the run is
  deterministic and as fast as the model allows.

H.264 and H.265 sources are demuxed with PyAV (:mod:`detector.video.pyav_source`): every packet
goes to the optional ``on_packet`` callback (the contract: :mod:`detector.video.packets`), and the
decoder decodes only what the sampler needs (the camera's *decode mode*: key frames only when one
comes at least every ``1 / detect_fps`` s, +10 %, so no sample is lost, else non-reference frames skipped, else all; logged once and
exported as ``nce_decode_mode``). A source PyAV cannot open (or whose video is not H.264/H.265) is
read through OpenCV as before, every frame decoded (:mod:`detector.video.opencv_source`), and the
log says so in one line.

Frames are stamped with UTC wall time and a monotonic time. For files both follow the media
position (``utc = start + position``), so a file read faster than real time keeps its own timeline;
``start`` is when reading begins for a file played in real time, and that moment minus the file's
duration for one read as fast as possible (``nce run --until-eof``): its last frame is "now", so no
frame, and no package, is dated after it was received.

RTSP is read over TCP, with open and read timeouts. A failed open, a failed read or a stall (no
frame within ``stall_s``) closes the stream and reconnects with exponential backoff (capped, with
jitter); reconnects are counted and every state change is logged once. Nothing is ever synthesised:
no black frames while a stream is down. A file that cannot be read is reported and its reader ends;
the other cameras go on.
"""

from __future__ import annotations

from detector.video.common import FINAL_STATES, DecodeMode, ReaderOptions, StreamState, redact
from detector.video.opencv_source import capture_options
from detector.video.reader import CameraReader

__all__ = [
    "FINAL_STATES",
    "CameraReader",
    "DecodeMode",
    "ReaderOptions",
    "StreamState",
    "capture_options",
    "redact",
]
