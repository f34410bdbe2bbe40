"""What a 1080p camera keeps in memory on the new path, part by part, in one process:

    python -m benchmarks.memory_camera

- the FFmpeg decoder of the city stream (H.264 1080p, one thread, as a reader opens it): RSS per
  decoder over four decoders, each 200 packets in, one BGR sample kept (6.2 MB, as a reader's newest
  sample / the pipeline's last frame) — printed with and without that picture;
- the packet ring of the clip pre-roll (clip_pre_s 5 + 2 s) on this stream: its bytes;
- ONNX Runtime's activations for the shipped model on 1080p frames: RSS after batches of 1, 2, 4
  and 8 run whole (``cpu_batch`` 0) and one image at a time (``cpu_batch`` 1, the default).

Writes results/memory-camera.json.
"""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path
from typing import Any

import av

from benchmarks.common import RESULTS, ROOT
from detector.native_memory import return_large_blocks
from detector.video.packets import EncodedPacket
from detector.video.ring import PacketRing
from tests.support.streams import city_stream


def rss_mb() -> float:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def decoders(video: Path, n: int = 4) -> dict[str, float]:
    base = rss_mb()
    containers = [av.open(str(video)) for _ in range(n)]
    for c in containers:
        cc = c.streams.video[0].codec_context
        cc.thread_type, cc.thread_count = "SLICE", 1
    demuxers = [c.demux(c.streams.video[0]) for c in containers]
    kept: list[Any] = [None] * n
    for i in range(200):
        for k in range(n):
            for frame in next(demuxers[k]).decode():
                if i % 25 == 0:
                    kept[k] = frame.to_ndarray(format="bgr24")
    with_bgr = (rss_mb() - base) / n
    kept = [None] * n
    without = (rss_mb() - base) / n
    for c in containers:
        c.close()
    return {"decoder_with_one_bgr_mb": with_bgr, "decoder_mb": without}


def _size(ring: PacketRing) -> float:
    return sum(len(p.data) for p in ring.snapshot().packets) / 1e6


def activations(video: Path) -> dict[str, dict[int, float]]:
    from detector.yolo import YoloDetector

    with av.open(str(video)) as c:
        img = next(iter(c.decode(video=0))).to_ndarray(format="bgr24")
    out: dict[str, dict[int, float]] = {}
    for cpu_batch in (1, 0):
        det = YoloDetector(ROOT / "models" / "street-v1.onnx", cpu_batch=cpu_batch)
        det.detect([img])
        base = rss_mb()
        out[f"cpu_batch {cpu_batch}"] = {}
        for n in (1, 2, 4, 8):
            det.detect([img] * n)
            out[f"cpu_batch {cpu_batch}"][n] = rss_mb() - base
        if cpu_batch == 1:  # the model's CPU an image (letterbox, session, decoding its output)
            t = cpu_s()
            for _ in range(4):
                det.detect([img] * 4)
            out["cpu_ms_per_image"] = {1: (cpu_s() - t) / 16 * 1000}
        del det
    return out


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    return_large_blocks()
    video = city_stream("h264")
    result = {
        **decoders(video),
        "packet_ring_mb_7s": _size_of(video),
        "activations_mb_over_batch_1": activations(video),
        "load_average": os.getloadavg(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "memory-camera.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def _size_of(video: Path) -> float:
    ring = PacketRing("cam", 7.0)
    with av.open(str(video)) as c:
        s = c.streams.video[0]
        tb = s.time_base
        for p in c.demux(s):
            if p.size and p.pts is not None:
                ring.push(EncodedPacket(bytes(p), p.pts, p.dts, tb, bool(p.is_keyframe), float(p.pts * tb)))  # type: ignore[arg-type]
    return _size(ring)


if __name__ == "__main__":
    main()


def memory_notes() -> str:
    """The RESULTS.md sentences on what a camera keeps (from results/memory-camera.json)."""
    path = RESULTS / "memory-camera.json"
    if not path.is_file():
        return ""
    m = json.loads(path.read_text())
    acts = m["activations_mb_over_batch_1"]
    whole, one = acts["cpu_batch 0"], acts["cpu_batch 1"]
    return (
        " What a camera keeps (`python -m benchmarks.memory_camera`, one process, RSS): its FFmpeg decoder "
        f"(1080p H.264, one thread) {m['decoder_mb']:.0f} MB, {m['decoder_with_one_bgr_mb']:.0f} MB with its "
        "newest BGR sample (6.2 MB; the pipeline's last frame is the same picture, a second one exists while "
        f"the next sample is converted), the packet ring of the clip pre-roll (7 s) {m['packet_ring_mb_7s']:.1f} MB; "
        f"ONNX Runtime's activations over a batch of 1: batch 8 run whole +{whole['8']:.0f} MB "
        f"(~{whole['8'] / 7:.0f} MB a camera up to max_batch, what the earlier slope included), one image at a "
        f"time (`cpu_batch` 1) +{one['8']:.0f} MB."
    )
