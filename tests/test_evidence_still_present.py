"""``still_present`` evidence packages: a confirmed hit that stays gets a signed, chained package of a
later still at most every ``evidence.still_present_package_s`` (the "after" evidence past a notice's
deadline). The real pipeline (a real ONNX model on a scripted video), the real packager, outbox
and quota; nothing mocked."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from detector.delivery import OutboxSink
from detector.delivery.outbox import Outbox
from detector.detections import Detections
from detector.events import Frame, HitEvent, RingSnapshot
from detector.evidence import EvidencePackager
from detector.sinks import evidence_packager
from nce.manifest import MANIFEST_NAME, load_public_key, parse_manifest, verify_package_dir
from tests.support import pipelines as pf
from tests.support.cli import nce
from tests.support.evidence_sim import Camera, make_config, mark_delivered
from tests.support.videos import Patch, write_video

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed"),
]

EVERY_S = 2.9  # still_present events come every 0.6 s of media time here: packages 3.0 s apart


def _t(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _manifests(evidence: Path) -> list[dict[str, Any]]:
    folders = sorted(p for p in evidence.iterdir() if not p.name.startswith("."))
    return [json.loads((p / MANIFEST_NAME).read_bytes()) for p in folders]


def test_run_packages_still_present_at_the_configured_rate(tmp_path: Path) -> None:
    # a stall stands in the shop frontage from 1 s to 13 s of a 15 s video, played in real time (a
    # confirmed hit's package waits for ffmpeg to finish its clip, which a replay as fast as the
    # model allows would overtake in this short a video)
    model = pf.model(tmp_path / "colour.onnx")
    video = write_video(
        tmp_path / "long.mp4", [Patch("red", (40, 130, 100, 200), 1.0, 13.0)], duration_s=15.0
    )
    done = nce("keys", "generate", "--out", "keys", "--device-id", "edge-t", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rule = {**pf.RULES[0], "update_interval_s": 0.5}
    extra = {
        "device": {"id": "edge-t", "key_file": "keys/edge-t.key"},
        "evidence": {"clip_pre_s": 1.0, "clip_post_s": 1.0, "still_present_package_s": EVERY_S},
    }
    config = pf.site_config(
        tmp_path / "site.yaml", model, [pf.camera("cam-a", str(video))], rules=[rule], extra=extra
    )
    done = nce("run", "--config", str(config), "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    events = [json.loads(line) for line in (out / "hits.jsonl").read_text().splitlines()]
    confirmed = next(e for e in events if e["event"] == "confirmed")
    present = [
        _t(e["ts"]) for e in events if e["event"] == "still_present" and e["hit_id"] == confirmed["hit_id"]
    ]

    manifests = _manifests(out / "evidence")
    names = [m["package_id"].rsplit("-", 1)[1] for m in manifests]
    later = [m for m in manifests if m["event"]["event"] == "still_present"]
    assert len(later) >= 3 and names == ["violation"] + ["still_present"] * len(later) + ["cleared"], names
    # the rate: each package is made on the first still_present event EVERY_S after the previous
    # package (the violation package first), and none is missing after the last (50 ms for jitter
    # between the frames' media and wall times)
    packaged = [_t(m["event"]["ts"]) for m in later]
    assert set(packaged) <= set(present)
    bases = [_t(confirmed["ts"]), *packaged]
    for base, nxt in zip(bases, [*packaged, None], strict=True):
        if nxt is not None:
            assert (nxt - base).total_seconds() >= EVERY_S - 0.05, (base, nxt)
        due = [t for t in present if base < t and (nxt is None or t < nxt)]
        assert all((t - base).total_seconds() < EVERY_S + 0.05 for t in due), (base, nxt, due)
    for m in later:
        assert m["kind"] == "violation" and m["event"]["confirmed_at"] == confirmed["ts"]
        assert m["event"]["cleared_at"] is None and m["signature"] is not None
        assert [s["moment"] for s in m["stills"]] == ["later"]
        assert m["stills"][0]["frame_utc"] == m["event"]["ts"] and m["stills"][0]["box"] is not None
        assert sorted(f["role"] for f in m["files"]) == ["crop", "still_annotated", "still_raw"]  # no clip
        assert m["detections"] and m["track"] and m["model"]["name"] == "colour.onnx"
    # one device chain: sequences 1..n, each naming the previous manifest; verified with the
    # enrolled key, one package and the whole folder
    assert [m["sequence"] for m in manifests] == list(range(1, len(manifests) + 1))
    one = out / "evidence" / later[0]["package_id"]
    report = verify_package_dir(one, load_public_key(tmp_path / "keys" / "edge-t.pub"))
    assert report.problems == []
    done = nce(
        "evidence", "verify", str(one.relative_to(tmp_path)), "--pubkey", "keys/edge-t.pub", cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    done = nce("evidence", "verify", "out/evidence", "--chain", "--pubkey", "keys/edge-t.pub", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"OK: {len(manifests)} package(s), chain continuous" in done.stdout


class _Sinks:
    """The pipeline's sink order: the packager, then the outbox sink."""

    def __init__(self, *sinks: Any) -> None:
        self.sinks = sinks

    def on_event(self, event: HitEvent, frame: Frame, detections: Detections, ring: RingSnapshot) -> None:
        for s in self.sinks:
            s.on_event(event, frame, detections, ring)

    def on_sample(self, frame: Frame, ring: RingSnapshot) -> None:
        for s in self.sinks:
            s.on_sample(frame, ring)

    def close(self) -> None:
        for s in self.sinks:
            s.close()


def _stay(cam: Camera, first: Frame, seconds: float, every_s: float, hit_id: str = "hit-1") -> None:
    """The object stays ``seconds`` more; a still_present event every ``every_s``."""
    for _ in range(round(seconds / every_s)):
        cam.run(every_s - 0.2)
        cam.event("still_present", cam.frame(), first, hit_id)


def _first(cam: Camera, packager: EvidencePackager, hit_id: str = "hit-1") -> Frame:
    """Opened, confirmed after 3 s and its violation package written; returns the first-seen frame."""
    cam.run(2.0)
    cam.object_on = True
    first = cam.frame()
    cam.event("opened", first, first, hit_id)
    cam.run(2.8)
    confirm = cam.frame()
    cam.event("confirmed", confirm, first, hit_id)
    # the package waits for ffmpeg to finish the clip (wall time, which this camera does not take)
    deadline = time.monotonic() + 30
    while packager.awaiting_package(hit_id) and time.monotonic() < deadline:
        time.sleep(0.02)
        cam.sink.on_sample(confirm, cam.ring)
    assert not packager.awaiting_package(hit_id)
    cam.run(1.0)
    return first


def test_still_present_packages_go_through_the_outbox_once(tmp_path: Path) -> None:
    packager = evidence_packager(
        make_config(tmp_path, min_dwell_s=3.0, clip_pre_s=1.0, clip_post_s=1.0, still_present_package_s=5.0),
        tmp_path / "out",
    )
    box = Outbox(tmp_path / "outbox.sqlite")
    sink = OutboxSink(box, "edge-01", packager.evidence_dir)
    packager.listener = sink
    sinks = _Sinks(packager, sink)
    cam = Camera(sinks)
    first = _first(cam, packager)
    _stay(cam, first, 12.0, 2.0)  # still_present 3, 5, 7, 9, 11 and 13 s after the confirmation
    sinks.close()
    items = [(i.kind, i.event) for i in Outbox(tmp_path / "outbox.sqlite").items()]
    # packages at +5 and +11 s; each is the still_present event it was made on (not sent twice);
    # the others go as plain events, in order
    assert items == [
        ("event", "opened"),
        ("package", "confirmed"),
        ("event", "still_present"),
        ("package", "still_present"),
        ("event", "still_present"),
        ("event", "still_present"),
        ("package", "still_present"),
        ("event", "still_present"),
    ], items
    assert packager.metrics.packages.labels(kind="still_present")._value.get() == 2


def test_zero_turns_still_present_packages_off(tmp_path: Path) -> None:
    packager = evidence_packager(
        make_config(tmp_path, min_dwell_s=3.0, clip_pre_s=1.0, clip_post_s=1.0, still_present_package_s=0),
        tmp_path / "out",
    )
    cam = Camera(packager)
    _stay(cam, _first(cam, packager), 10.0, 2.0)
    packager.close()
    names = sorted(p.name for p in packager.evidence_dir.iterdir() if not p.name.startswith("."))
    assert names == ["edge-01-00000001-violation"]


def _bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir())


def test_still_present_packages_count_against_the_quota(tmp_path: Path) -> None:
    settings: dict[str, Any] = {"clip_pre_s": 1.0, "clip_post_s": 1.0, "still_present_package_s": 2.0}
    # the same scene without a quota: how big its violation and still_present packages are
    probe = evidence_packager(make_config(tmp_path, min_dwell_s=3.0, **settings), tmp_path / "probe")
    cam = Camera(probe)
    _stay(cam, _first(cam, probe), 2.0, 2.0)
    probe.close()
    violation, later = (_bytes(p) for p in probe.written)
    # room for both packages' files, not for the packager's 64 KiB reserve on top of the second
    quota = violation + later + 48 * 1024
    config = make_config(tmp_path, min_dwell_s=3.0, quota_bytes=quota, **settings)
    box = Outbox(tmp_path / "outbox.sqlite")
    packager = evidence_packager(config, tmp_path / "out", delivered=box)
    cam = Camera(packager)
    first = _first(cam, packager)
    _stay(cam, first, 2.0, 2.0)  # the still_present package does not fit: undelivered evidence stays
    assert packager.metrics.skipped.labels(reason="quota")._value.get() == 1
    assert packager.metrics.quota_exceeded._value.get() == 1
    assert [p.name for p in packager.written] == ["edge-01-00000001-violation"]
    mark_delivered(box, packager.evidence_dir / "edge-01-00000001-violation")
    _stay(cam, first, 2.0, 2.0)  # delivered: pruned to make room for the next one
    packager.close()
    names = sorted(p.name for p in packager.evidence_dir.iterdir() if not p.name.startswith("."))
    assert names == ["edge-01-00000002-still_present"]
    assert packager.metrics.pruned._value.get() == 1
    assert packager.metrics.quota_exceeded._value.get() == 0
    assert packager.quota.used_bytes() <= quota
    m = parse_manifest((packager.evidence_dir / names[0] / MANIFEST_NAME).read_bytes())
    assert (m.sequence, m.event.event) == (2, "still_present")
