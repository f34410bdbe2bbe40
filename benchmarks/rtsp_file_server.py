#!/usr/bin/python3
"""An RTSP server on loopback that serves an H.264 MP4 at real time, looped: gst-rtsp-server, run by
Debian's python3 (like tests/rtsp_server.py, which serves a test pattern).

No re-encoding: ``filesrc ! qtdemux ! h264parse ! rtph264pay``, so the server costs little CPU beside
the cameras under test. Every client gets its own media (not shared), starting at the file's start.
The loop is in the file: benchmarks/bench_scaling.py writes vtest.avi encoded once and then
stream-copied end to end several times (``ffmpeg -stream_loop``), longer than any run. Prints
``PORT <n>`` on stdout once it listens; runs until SIGTERM.

    /usr/bin/python3 benchmarks/rtsp_file_server.py --file var/bench/vtest-h264.mp4 --path /vtest
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", required=True, help="an MP4 with one H.264 video stream")
    parser.add_argument("--port", type=int, default=0, help="0: pick a free port")
    parser.add_argument("--path", default="/vtest")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    location = args.file.replace('"', '\\"')
    factory.set_launch(
        f'( filesrc location="{location}" ! qtdemux ! h264parse config-interval=-1 '
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
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
