"""Evidence packages from a camera that hands on its packets: the clip is the camera's bitstream
(remuxed, not re-encoded), H.265 gets an H.264 preview the manifest names, both verify, the H.264
clip plays and seeks in real Chromium."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from starlette.staticfiles import StaticFiles

from detector.detections import Detections
from detector.events import Frame, HitEvent
from detector.evidence import EvidencePackager
from detector.evidence.encoded_clip import EncodedClipWriter
from detector.metrics import PipelineMetrics
from detector.sinks import evidence_packager
from detector.video.ring import PacketRing
from nce.cli import main
from nce.manifest import MANIFEST_NAME, ManifestError, load_public_key, parse_manifest, verify_package_dir
from tests.support.chromium import launched, needs_chromium
from tests.support.encoded import EncodedCamera, demux, make_media
from tests.support.evidence_sim import T0, make_config
from tests.support.servers import serving

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
BOX = (300.0, 250.0, 420.0, 480.0)
PRE_S, POST_S, DWELL_S = 3.0, 5.0, 4.0


def _event(kind: str, frame: Frame, first: Frame) -> HitEvent:
    return HitEvent(
        event=kind,  # type: ignore[arg-type]
        hit_id="hit-1",
        site_id="sh-test",
        camera_id="cam-01",
        zone_id="z1",
        shop_id="shop-001",
        violation="out_of_shop_trading",
        track_id=7,
        label="stall",
        score=0.9,
        box=BOX,
        ts=frame.utc,
        first_seen=first.utc,
        last_seen=frame.utc,
        dwell_s=round(frame.mono - first.mono, 3),
        sightings=int((frame.mono - first.mono) * 2) + 1,
    )


def _detections() -> Detections:
    return Detections(
        xyxy=np.array([BOX], dtype=np.float32),
        confidence=np.array([0.9], dtype=np.float32),
        class_id=np.array([0], dtype=np.int64),
        tracker_id=np.array([7], dtype=np.int64),
    )


def _package(tmp: Path, codec: str) -> tuple[Path, EncodedCamera, EvidencePackager]:
    """6 s of street, an object from there (opened), confirmed 4 s later, cleared at 14 s."""
    config = make_config(tmp, min_dwell_s=DWELL_S, clip_pre_s=PRE_S, clip_post_s=POST_S)
    packager = evidence_packager(config, tmp / "out")
    metrics = PipelineMetrics()
    media = make_media(tmp, codec)
    source: list[EncodedCamera] = []  # the source's stream_info, as the ring reads it
    ring = packager.open_packet_ring("cam-01", lambda: source[0].info, metrics.preroll_bytes.labels("cam-01"))
    assert ring.keep_s == PRE_S + 2.0 and packager.packet_rings == {"cam-01": ring}
    cam = EncodedCamera(packager, media, ring, t0=T0)
    source.append(cam)
    cam.run(6.0)
    first = cam.run(0.1)
    packager.on_event(_event("opened", first, first), first, _detections(), lambda: [])
    confirm = cam.run(DWELL_S)
    packager.on_event(_event("confirmed", confirm, first), confirm, _detections(), lambda: [])
    last = cam.run(4.0)
    packager.on_event(_event("cleared", last, first), last, Detections.empty(), lambda: [])
    packager.close()
    assert metrics.value("nce_preroll_bytes", {"camera": "cam-01"}) == ring.bytes > 0
    folders = sorted(p for p in (tmp / "out" / "evidence").iterdir() if not p.name.startswith("."))
    return folders[0], cam, packager


@pytest.fixture(scope="module")
def h264(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, EncodedCamera, EvidencePackager]:
    return _package(tmp_path_factory.mktemp("h264"), "h264")


@pytest.fixture(scope="module")
def hevc(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, EncodedCamera, EvidencePackager]:
    return _package(tmp_path_factory.mktemp("hevc"), "hevc")


def _check_clip(folder: Path, cam: EncodedCamera) -> None:
    info, packets = demux(folder / "clip.mp4")
    # pre-roll from the key frame before first seen - 3 s (first seen at 6.0 s: the key frame at
    # 0 s), through first seen + 5 s: the camera's own packets, byte for byte
    end = cam.packets[0].wall_time + 6.0 + POST_S
    source = [p for p in cam.packets if p.wall_time <= end + 1e-6]
    assert [p.data for p in packets] == [p.data for p in source]
    assert packets[0].is_keyframe and packets[0].dts == packets[0].pts == 0  # rebased
    assert info.codec == cam.info.codec
    raw = (folder / "clip.mp4").read_bytes()
    assert raw.find(b"moov") < raw.find(b"mdat")
    with av.open(str(folder / "clip.mp4")) as c:
        assert c.duration / 1e6 == pytest.approx(len(source) / 10.0, abs=1e-3)


def test_h264_package_holds_the_camera_bitstream(h264: tuple[Path, EncodedCamera, EvidencePackager]) -> None:
    folder, cam, _ = h264
    _check_clip(folder, cam)
    manifest = parse_manifest((folder / MANIFEST_NAME).read_bytes())
    assert manifest.clip is not None
    assert (manifest.clip.file, manifest.clip.codec, manifest.clip.source) == (
        "clip.mp4",
        "h264",
        "camera_bitstream",
    )
    assert manifest.clip.preview is None  # a browser plays H.264 itself
    assert sorted(f.role for f in manifest.files if f.role.startswith("clip")) == ["clip"]
    assert not [n for n in manifest.notes if n.startswith("clip")], manifest.notes
    assert [s.moment for s in manifest.stills] == ["first_seen", "between", "confirmed"]
    # the first-seen still was decoded from the clip's packets (its pixels were not kept)
    first = cv2.imread(str(folder / (manifest.stills[0].raw or "")))
    assert manifest.stills[0].frame_index == 60
    assert cv2.PSNR(first, cam.frames[60]) > 35.0  # the same frame (a JPEG of it)
    assert cv2.PSNR(first, cam.frames[75]) < cv2.PSNR(first, cam.frames[60]) - 3.0
    assert verify_package_dir(folder, load_public_key(folder.parents[2] / "keys" / "edge-01.pub")).ok


def test_hevc_package_keeps_the_original_and_an_h264_preview(
    hevc: tuple[Path, EncodedCamera, EvidencePackager], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, cam, _ = hevc
    _check_clip(folder, cam)
    manifest = parse_manifest((folder / MANIFEST_NAME).read_bytes())
    clip = manifest.clip
    assert clip is not None and (clip.file, clip.codec, clip.preview) == (
        "clip.mp4",
        "hevc",
        "clip.preview.mp4",
    )
    roles = {f.name: f.role for f in manifest.files}
    assert roles["clip.mp4"] == "clip" and roles["clip.preview.mp4"] == "clip_preview"
    with av.open(str(folder / "clip.mp4")) as c:
        assert c.streams.video[0].codec_context.codec_tag == "hvc1"
    with av.open(str(folder / "clip.preview.mp4")) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.duration / 1e6 == pytest.approx(11.1, abs=0.15)
    pub = folder.parents[2] / "keys" / "edge-01.pub"
    assert verify_package_dir(folder, load_public_key(pub)).ok
    assert main(["evidence", "verify", str(folder), "--pubkey", str(pub)]) == 0
    capsys.readouterr()


def test_a_changed_preview_fails_verification(
    hevc: tuple[Path, EncodedCamera, EvidencePackager], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _, _ = hevc
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy)
    data = bytearray((copy / "clip.preview.mp4").read_bytes())
    data[-100] ^= 0xFF
    (copy / "clip.preview.mp4").write_bytes(bytes(data))
    report = verify_package_dir(copy)
    assert not report.ok and any("clip.preview.mp4" in str(p) for p in report.problems)
    assert main(["evidence", "verify", str(copy)]) != 0
    capsys.readouterr()


def test_a_ring_without_packets_falls_back_to_encoding(tmp_path: Path) -> None:
    """A camera whose packet ring holds nothing yet (the stream has just come up): the clip is
    encoded from decoded frames as before, and the first-seen still is the frame itself."""
    config = make_config(tmp_path, min_dwell_s=DWELL_S, clip_pre_s=1.0, clip_post_s=1.0)
    packager = evidence_packager(config, tmp_path / "out")
    packager.attach_packets("cam-01", PacketRing("cam-01", 3.0))
    cam = EncodedCamera(packager, make_media(tmp_path, "h264", seconds=8.0), lambda p: None, t0=T0)
    cam.run(2.0)
    first = cam.run(0.1)
    packager.on_event(_event("opened", first, first), first, _detections(), lambda: list(cam.recent))
    confirm = cam.run(DWELL_S)
    packager.on_event(_event("confirmed", confirm, first), confirm, _detections(), lambda: list(cam.recent))
    cam.run(1.5)
    packager.close()
    (folder,) = [p for p in (tmp_path / "out" / "evidence").iterdir() if not p.name.startswith(".")]
    manifest = parse_manifest((folder / MANIFEST_NAME).read_bytes())
    assert manifest.clip is None and manifest.file("clip.mp4") is not None
    assert any("no decodable packets" in n for n in manifest.notes), manifest.notes
    with av.open(str(folder / "clip.mp4")) as c:
        assert c.streams.video[0].codec_context.name == "h264"
    first_still = cv2.imread(str(folder / (manifest.stills[0].raw or "")))
    assert cv2.PSNR(first_still, cam.frames[20]) > 35.0


def test_a_clip_cut_among_b_frames_keeps_what_they_refer_to(tmp_path: Path) -> None:
    info, packets = demux(make_media(tmp_path, "h264", 12.0, bframes=3))
    ring = PacketRing("cam-01", 30.0, stream_info=lambda: info)
    for p in packets:
        ring(p)
    t0 = packets[0].wall_time
    clip = EncodedClipWriter(tmp_path / "clip.mp4", ring, start_mono=1.0, end_mono=7.25, mono_offset=t0)
    clip.finish(7.25)
    path = clip.wait()
    shown = sorted(p.wall_time - t0 for p in clip.packets)
    assert shown[0] == 0.0 and max(t for t in shown if t <= 7.25 + 1e-6) >= 7.2 and shown[-1] > 7.25
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == len(clip.packets)  # every packet kept decodes
    assert clip.duration_s == pytest.approx(len(clip.packets) / 10.0, abs=1e-3)


def test_a_clip_ends_where_the_stream_restarted(tmp_path: Path) -> None:
    info, packets = demux(make_media(tmp_path, "h264", 12.0))
    ring = PacketRing("cam-01", 30.0, stream_info=lambda: info)
    for p in packets[:60]:
        ring(p)
    t0 = packets[0].wall_time
    clip = EncodedClipWriter(tmp_path / "clip.mp4", ring, start_mono=1.0, end_mono=9.0, mono_offset=t0)
    clip.pull()
    assert not clip.finished and len(clip.packets) == 60
    for p in packets[:10]:  # a reconnect: the same stream, from its start again
        ring(replace(p, wall_time=p.wall_time + 6.0))
    clip.pull()
    assert clip.finished and any("stream changed" in n for n in clip.notes)
    clip.wait()
    assert len(clip.packets) == 60 and clip.duration_s == pytest.approx(6.0, abs=1e-3)


def _set(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda m: m["clip"].__setitem__(key, value)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (_set("preview", None), "clip previews"),  # a preview listed that the clip block does not name
        (_set("preview", "crop.jpg"), "clip.preview"),
        (_set("file", "crop.jpg"), "clip.file"),
        (_set("file", "nothing.mp4"), "clip.file"),
        (_set("source", "made_up"), "source"),
        (lambda m: m.pop("clip"), "clip previews"),
    ],
)
def test_manifest_clip_block_is_checked(
    hevc: tuple[Path, EncodedCamera, EvidencePackager], change: Callable[[dict[str, Any]], None], match: str
) -> None:
    folder, _, _ = hevc
    data = json.loads((folder / MANIFEST_NAME).read_bytes())
    change(data)
    with pytest.raises(ManifestError, match=match):
        parse_manifest(json.dumps(data).encode())


@needs_chromium
def test_h264_clip_plays_and_seeks_in_chromium(h264: tuple[Path, EncodedCamera, EvidencePackager]) -> None:
    folder, _, _ = h264
    page_html = """<!doctype html><link rel=icon href="data:,"><video id=v src="clip.mp4" muted preload=auto></video>"""
    (folder.parent / "play.html").write_text(page_html)
    shutil.copy(folder / "clip.mp4", folder.parent / "clip.mp4")
    with serving(StaticFiles(directory=folder.parent)) as url, launched() as browser:
        page = browser.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{url}/play.html")
        page.wait_for_function("document.getElementById('v').readyState >= 2")
        state = page.evaluate(
            "(() => { const v = document.getElementById('v'); return [v.duration, v.videoWidth, v.error] })()"
        )
        assert state[0] == pytest.approx(11.1, abs=0.05) and state[1] == 768 and state[2] is None
        page.evaluate("document.getElementById('v').currentTime = 8.5")
        page.wait_for_function(
            "(() => { const v = document.getElementById('v'); return !v.seeking && v.readyState >= 2 })()"
        )
        assert page.evaluate("document.getElementById('v').currentTime") == pytest.approx(8.5, abs=0.11)
        page.close()
