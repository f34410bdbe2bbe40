"""The evidence packager on synthetic frames: package contents, clip, Chinese labels, chain, quota."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector.delivery.outbox import Outbox
from detector.errors import EvidenceError
from detector.evidence import EvidencePackager, EvidenceQuota
from detector.evidence.render import Annotation, annotate, find_cjk_font
from detector.sinks import evidence_packager
from nce.manifest import (
    MANIFEST_NAME,
    generate_private_key,
    load_public_key,
    manifest_hash,
    parse_manifest,
    verify_chain,
    verify_package_dir,
)
from tests.support.evidence_sim import BOX, Camera, make_config, mark_delivered, violation_then_cleared
from tests.support.manifests import make_package

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def _ffprobe(path: Path) -> dict[str, str]:
    out = subprocess.run(
        [
            "ffprobe", "-v", "error", "-select_streams", "v:0",
            "-show_entries", "stream=codec_name,pix_fmt,width,height:format=duration,format_name",
            "-of", "json", str(path),
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    data = json.loads(out.stdout)
    return {**data["streams"][0], **data["format"]}


def _imread(path: Path) -> np.ndarray:
    img: np.ndarray | None = cv2.imread(str(path))
    assert img is not None, path
    return img


def _packages(out: Path) -> list[Path]:
    return sorted(p for p in (out / "evidence").iterdir() if not p.name.startswith("."))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, EvidencePackager]:
    """One hit: 10 s of street, an object for 20 s (confirmed), then cleared."""
    tmp = tmp_path_factory.mktemp("evidence")
    config = make_config(tmp)
    packager = evidence_packager(config, tmp / "out")
    violation_then_cleared(Camera(packager))
    packager.close()
    return tmp, packager


def test_violation_package_contents(scenario: tuple[Path, EvidencePackager]) -> None:
    tmp, _ = scenario
    packages = _packages(tmp / "out")
    assert [p.name for p in packages] == ["edge-01-00000001-violation", "edge-01-00000002-cleared"]
    folder = packages[0]
    report = verify_package_dir(folder, load_public_key(tmp / "keys" / "edge-01.pub"))
    assert report.ok, report.problems
    m = report.manifest
    assert m is not None
    assert (m.kind, m.device_id, m.sequence, m.violation, m.shop_id) == (
        "violation", "edge-01", 1, "out_of_shop_trading", "shop-001"
    )  # fmt: skip
    assert m.camera.name == "张江路东口" and m.camera.location is not None
    assert m.rule is not None and m.rule.min_dwell_s == 20.0 and m.rule.active_hours == "07:00-20:00"
    assert [s.moment for s in m.stills] == ["first_seen", "between", "confirmed"]
    roles = sorted(f.role for f in m.files)
    assert roles == ["clip", "crop", *["still_annotated"] * 3, *["still_raw"] * 3]
    # two stills further apart than min_dwell_s, the middle one in between
    times = [dt.datetime.fromisoformat(s.frame_utc.replace("Z", "+00:00")) for s in m.stills]
    assert (times[2] - times[0]).total_seconds() >= 20.0
    assert times[0] < times[1] < times[2]
    assert m.event.first_seen == m.stills[0].frame_utc and m.event.confirmed_at == m.stills[2].frame_utc
    assert len(m.track) >= 2 and m.detections[0].track_id == 7
    assert m.notes == ["model: not known to the packager"]
    # manifest.json is the canonical form: its file hash is the manifest hash
    import hashlib

    assert hashlib.sha256((folder / MANIFEST_NAME).read_bytes()).hexdigest() == manifest_hash(m)


def test_raw_stills_are_not_drawn_on(scenario: tuple[Path, EvidencePackager]) -> None:
    tmp, _ = scenario
    folder = _packages(tmp / "out")[0]
    raw = _imread(folder / "still-3-confirmed.jpg")
    ann = _imread(folder / "still-3-confirmed.annotated.jpg")
    assert raw.shape == ann.shape == (240, 320, 3)
    x1, y1, x2, y2 = (int(v) for v in BOX)
    # the raw still shows the object's own colour (quality >= 90: close to the frame)
    assert np.abs(raw[y1 + 5 : y2 - 5, x1 + 5 : x2 - 5].astype(int) - (30, 30, 220)).mean() < 8
    # the annotated copy has the red box on the object's edge; the raw one has the frame there
    assert np.abs(ann.astype(int) - raw.astype(int)).mean() > 2
    crop = _imread(folder / "crop.jpg")
    assert crop.shape[0] >= (y2 - y1) and crop.shape[1] >= (x2 - x1)


def test_clip_plays(scenario: tuple[Path, EvidencePackager]) -> None:
    tmp, _ = scenario
    folder = _packages(tmp / "out")[0]
    probe = _ffprobe(folder / "clip.mp4")
    assert probe["codec_name"] == "h264" and probe["pix_fmt"] == "yuv420p"
    assert "mp4" in probe["format_name"]
    assert float(probe["duration"]) >= 10.0  # 5 s before first seen to 5 s after
    data = (folder / "clip.mp4").read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # +faststart: playable while downloading


def test_cleared_package_and_chain(scenario: tuple[Path, EvidencePackager]) -> None:
    tmp, _ = scenario
    violation, cleared = _packages(tmp / "out")
    rv, rc = verify_package_dir(violation), verify_package_dir(cleared)
    assert rc.ok, rc.problems
    assert rc.manifest is not None and rv.manifest is not None
    assert rc.manifest.kind == "cleared" and [s.moment for s in rc.manifest.stills] == ["cleared"]
    assert rc.manifest.event.cleared_at is not None
    assert rc.manifest.prev_manifest_hash == manifest_hash(rv.manifest)
    assert verify_chain([rv.manifest, rc.manifest], from_genesis=True) == []
    state = json.loads((tmp / "out" / "evidence" / ".state" / "chain-edge-01.json").read_bytes())
    assert state == {"device_id": "edge-01", "last_sequence": 2, "last_hash": manifest_hash(rc.manifest)}
    assert not list((tmp / "out" / "evidence" / ".tmp").iterdir())  # no clip or half package left


def test_chain_continues_across_runs_and_recovers(tmp_path: Path) -> None:
    config = make_config(tmp_path, min_dwell_s=4.0, clip_pre_s=1.0, clip_post_s=1.0)
    out = tmp_path / "out"
    p1 = evidence_packager(config, out)
    violation_then_cleared(Camera(p1), dwell_s=4.0)
    p1.close()
    # a crash after a package was renamed into place but before the state was updated
    state = out / "evidence" / ".state" / "chain-edge-01.json"
    state.unlink()
    p2 = evidence_packager(config, out)
    violation_then_cleared(Camera(p2), dwell_s=4.0, hit_id="hit-2", clear=False)
    p2.close()
    manifests = [parse_manifest((p / MANIFEST_NAME).read_bytes()) for p in _packages(out)]
    assert [m.sequence for m in manifests] == [1, 2, 3]
    assert verify_chain(manifests, from_genesis=True) == []


def test_unconfirmed_hit_leaves_nothing(tmp_path: Path) -> None:
    packager = evidence_packager(make_config(tmp_path), tmp_path / "out")
    cam = Camera(packager)
    cam.run(6.0)
    cam.object_on = True
    first = cam.frame()
    cam.event("opened", first, first)
    cam.run(3.0)
    cam.object_on = False
    last = cam.run(3.0)
    cam.event("cleared", last, first)
    packager.close()
    assert _packages(tmp_path / "out") == []
    assert not list((tmp_path / "out" / "evidence" / ".tmp").iterdir())


def test_short_dwell_waits_for_post_roll(tmp_path: Path) -> None:
    # confirmed 2 s after first seen: the package is frozen only once the clip has 5 s after
    packager = evidence_packager(make_config(tmp_path, min_dwell_s=2.0, clip_codec="vp9"), tmp_path / "out")
    cam = Camera(packager)
    violation_then_cleared(cam, dwell_s=2.0, clear=False)
    assert _packages(tmp_path / "out") == []
    assert packager.awaiting_package("hit-1") and not packager.awaiting_package("other")
    cam.run(4.0)
    packager.close()  # frozen once ffmpeg is done: on a later sample, at the latest at close
    assert not packager.awaiting_package("hit-1")
    (folder,) = _packages(tmp_path / "out")
    probe = _ffprobe(folder / "clip.webm")
    assert probe["codec_name"] == "vp9" and float(probe["duration"]) >= 10.0
    m = parse_manifest((folder / MANIFEST_NAME).read_bytes())
    assert not any(n.startswith("clip") for n in m.notes), m.notes


@pytest.mark.parametrize(
    ("key_file", "match"),
    [
        (None, r"no device section \(set device\.id and device\.key_file"),
        # where it looked, and the enrolled key (never "make a new one": a new key is not enrolled)
        (
            "/nonexistent/edge-01.key",
            r"device\.key_file: no key at /nonexistent/edge-01\.key .*enrolled for edge-01",
        ),
    ],
)
def test_refuses_to_start_without_key(tmp_path: Path, key_file: str | None, match: str) -> None:
    config = make_config(tmp_path)
    assert config.device is not None
    device = None if key_file is None else config.device.model_copy(update={"key_file": Path(key_file)})
    with pytest.raises(EvidenceError, match=match):
        evidence_packager(config.model_copy(update={"device": device}), tmp_path / "out")


def test_ocr_note_without_extra(tmp_path: Path) -> None:
    packager = evidence_packager(
        make_config(tmp_path, violation="illegal_ad", min_dwell_s=3.0), tmp_path / "out"
    )
    cam = Camera(packager)
    cam.violation = "illegal_ad"
    violation_then_cleared(cam, dwell_s=3.0, clear=False)
    cam.run(4.0)
    packager.close()
    (folder,) = _packages(tmp_path / "out")
    m = parse_manifest((folder / MANIFEST_NAME).read_bytes())
    assert m.ocr is not None
    import importlib.util

    if (
        importlib.util.find_spec("rapidocr") is None
        and importlib.util.find_spec("rapidocr_onnxruntime") is None
    ):
        assert m.ocr.engine is None and "ocr extra" in (m.ocr.note or "")
    else:
        assert m.ocr.engine is not None and m.ocr.engine.startswith("rapidocr")


# ---------------------------------------------------------------------------------------------
# Chinese labels


def test_chinese_label_renders() -> None:
    font = find_cjk_font()
    img = np.full((240, 320, 3), 90, np.uint8)

    def draw(caption: str, label: str | None) -> np.ndarray:
        note = Annotation("摄像头", "", caption, [(0.1, 0.5), (0.9, 0.5), (0.9, 0.9)], BOX, label)
        return annotate(img, note, font)

    with_text, without = draw("出店经营", "占道设摊 stall"), draw("", None)
    # glyph pixels where the label is: above the box
    x1, y1 = int(BOX[0]), int(BOX[1])
    region = (slice(max(0, y1 - 30), y1), slice(x1, x1 + 150))
    assert np.abs(with_text[region].astype(int) - without[region].astype(int)).sum() > 0
    label_px = with_text[region]
    assert (label_px.max(axis=2) > 200).sum() > 30  # white glyph strokes on the red label
    # real glyphs, not one "missing character" box for every character
    a, b = draw("出店经营", "出店经营"), draw("暴露垃圾", "暴露垃圾")
    assert np.abs(a.astype(int) - b.astype(int)).sum() > 1000


# ---------------------------------------------------------------------------------------------
# quota


def test_quota_never_prunes_undelivered(tmp_path: Path) -> None:
    key = generate_private_key()
    root = tmp_path / "evidence"
    folders = []
    for seq in range(1, 6):
        folder, _ = make_package(root, key, sequence=seq)
        os.utime(folder / MANIFEST_NAME, (1000 + seq, 1000 + seq))
        folders.append(folder)
    size = sum(f.stat().st_size for f in folders[0].iterdir())
    box = Outbox(tmp_path / "outbox.sqlite")
    for f in (folders[1], folders[3]):
        mark_delivered(box, f)
    quota = EvidenceQuota(root, quota_bytes=size * 5 + 100, delivered=box)
    # room for one more package: the oldest delivered one (seq 2) goes, seq 1 (undelivered) stays
    assert quota.ensure_room(size)
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == [
        folders[i].name for i in (0, 2, 3, 4)
    ]
    # room for much more: seq 4 goes too, then only undelivered ones are left → packaging stops
    assert not quota.ensure_room(size * 3)
    assert quota.metrics.quota_exceeded._value.get() == 1
    left = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))
    assert left == [folders[i].name for i in (0, 2, 4)]
    assert quota.metrics.pruned._value.get() == 2
    # delivered later: space returns
    mark_delivered(box, folders[0])
    assert quota.ensure_room(size)
    assert quota.metrics.quota_exceeded._value.get() == 0


def test_quota_stops_packaging(tmp_path: Path) -> None:
    packager = evidence_packager(make_config(tmp_path, quota_bytes=1000), tmp_path / "out")
    cam = Camera(packager)
    violation_then_cleared(cam, dwell_s=3.0, clear=False)
    cam.run(4.0)
    packager.close()
    assert _packages(tmp_path / "out") == []
    assert packager.metrics.skipped.labels(reason="quota")._value.get() == 1
    assert packager.metrics.quota_exceeded._value.get() == 1


def test_key_file_mode(tmp_path: Path) -> None:
    make_config(tmp_path)
    assert stat.S_IMODE((tmp_path / "keys" / "edge-01.key").stat().st_mode) == 0o600


def test_clip_from_sparse_samples(tmp_path: Path) -> None:
    # a static scene: the change gate lets a sample through only every 5 s; the ring buffer (10 s)
    # still gives the clip every frame
    packager = evidence_packager(make_config(tmp_path, min_dwell_s=12.0), tmp_path / "out")
    cam = Camera(packager)
    cam.run(10.0, sample_every=25)
    cam.object_on = True
    first = cam.frame()
    cam.event("opened", first, first)
    cam.run(12.0, sample_every=25)
    confirm = cam.frame()
    cam.event("confirmed", confirm, first)
    packager.close()
    (folder,) = _packages(tmp_path / "out")
    assert float(_ffprobe(folder / "clip.mp4")["duration"]) >= 10.0
    cap = cv2.VideoCapture(str(folder / "clip.mp4"))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img[5:15].astype(int))
    cap.release()
    # the moving bar moves in every frame: no frame was held for lack of samples
    assert all(np.abs(a - b).mean() > 1 for a, b in itertools.pairwise(frames))
