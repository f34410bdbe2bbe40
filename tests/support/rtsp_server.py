#!/usr/bin/python3
"""A real RTSP server on loopback for tests and benchmarks: GStreamer's gst-rtsp-server, run by
Debian's python3 (GStreamer's Python bindings live there; :mod:`tests.support.rtsp` starts it).

It serves H.264 or H.265 over RTSP, either

- ``videotestsrc`` (SMPTE bars by default: one pure red bar at x 5/7..6/7, y 0..2/3), encoded live
  (the tests), or
- ``--file`` (with ``--codec h264|h265``): an MP4 or Matroska file with one H.264 / H.265 video
  stream at real time, not re-encoded (``filesrc ! qtdemux|matroskademux ! h26xparse !
  rtph26xpay``), so the server costs little CPU beside the cameras under test; the loop is in the
  file (tests/support/streams.py, benchmarks/bench_scaling.py).

Prints ``PORT <n>`` on stdout once it listens, then runs until SIGTERM/SIGINT.

    /usr/bin/python3 tests/support/rtsp_server.py --port 0 --path /cam --width 320 --height 240 --fps 10
    /usr/bin/python3 tests/support/rtsp_server.py --file var/bench/vtest-h264.mp4 --path /vtest
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def launch_line(args: argparse.Namespace) -> str:
    if args.file:
        location = args.file.replace('"', '\\"')
        demux = "matroskademux" if args.file.endswith((".mkv", ".webm")) else "qtdemux"
        c = "h265" if args.codec in ("h265", "hevc") else "h264"
        return (
            f'( filesrc location="{location}" ! {demux} ! {c}parse config-interval=-1 '
            f"! rtp{c}pay name=pay0 pt=96 config-interval=1 )"
        )
    return (
        f"( videotestsrc pattern={args.pattern} is-live=true "
        f"! video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1 "
        f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.fps} "
        f"! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0, help="0: pick a free port")
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--file", help="serve this MP4 (one H.264 video stream) instead of a test pattern")
    parser.add_argument("--codec", default="h264", help="the file's video: h264 or h265")
    parser.add_argument("--pattern", default="smpte")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=int, default=10)
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args))
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print("could not attach the RTSP server", file=sys.stderr)
        return 1
    print(f"PORT {server.get_bound_port()}", flush=True)

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
