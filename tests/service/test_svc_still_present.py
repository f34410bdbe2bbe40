"""A violation still there after the notice's deadline, end to end: the edge's real packager freezes
signed still_present packages, the real outbox and relay deliver them over HTTP to this service, and
the one made (and delivered) after the deadline is the evidence on which the deadline sweeper
escalates the case, its stills attached as the "after" evidence (case detail, evidence download,
export)."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from detector.delivery import OutboxSink
from detector.delivery.outbox import Outbox
from detector.delivery.outbox_items import OutboxItem
from detector.delivery.relay import Relay
from detector.delivery.transport import HttpTransport, Outcome
from detector.detections import Detections
from detector.events import Frame, HitEvent, RingSnapshot
from detector.sinks import evidence_packager
from nce.manifest import MANIFEST_NAME, load_public_key, parse_manifest, verify_package_dir
from service.crud.case_actions import sweep_deadlines
from service.crud.identities import add_device
from tests.support.evidence_sim import Camera, make_config
from tests.support.servers import serving

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed"),
]

UPDATE_S = 20.0  # the rule's still_present events
PACKAGE_S = 50.0  # evidence.still_present_package_s: packages at confirm + 60 s and + 120 s
DEADLINE_AFTER_CONFIRM_S = 110.0  # between the two


class Edge:
    """The edge's sinks in the pipeline's order (packager, then outbox) on a synthetic camera
    whose clock reads now, and a relay that delivers the outbox to the service."""

    def __init__(self, tmp: Path, base_url: str, token: str) -> None:
        config = make_config(
            tmp, min_dwell_s=3.0, clip_pre_s=1.0, clip_post_s=1.0, still_present_package_s=PACKAGE_S
        )
        self.packager = evidence_packager(config, tmp / "edge")
        self.outbox = Outbox(tmp / "outbox.sqlite")
        self.sink = OutboxSink(self.outbox, "edge-01", self.packager.evidence_dir)
        self.packager.listener = self.sink
        self.transport = HttpTransport(base_url, token)
        self.answers: list[dict[str, Any]] = []  # the service's answers to the packages, in order
        self.relay = Relay(self.outbox, self._send)
        # media time starts at 100 s: the first frames are ten seconds old
        self.cam = Camera(self, t0=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=110))

    def on_event(self, event: HitEvent, frame: Frame, detections: Detections, ring: RingSnapshot) -> None:
        self.packager.on_event(event, frame, detections, ring)
        self.sink.on_event(event, frame, detections, ring)

    def on_sample(self, frame: Frame, ring: RingSnapshot) -> None:
        self.packager.on_sample(frame, ring)
        self.sink.on_sample(frame, ring)

    def _send(self, item: OutboxItem) -> Outcome:
        outcome = self.transport.send(item)
        if outcome.kind == "delivered" and item.kind == "package":
            self.answers.append(outcome.response or {})
        return outcome

    def deliver(self) -> list[dict[str, Any]]:
        """Send everything queued; the service's answers to the packages among it."""
        start = len(self.answers)
        assert self.relay.drain(30.0), self.outbox.status()
        assert self.outbox.status().poisoned == 0, self.outbox.items("poisoned")
        return self.answers[start:]

    def close(self) -> None:
        self.packager.close()
        self.sink.close()
        self.transport.close()


def test_stall_still_there_after_the_deadline_escalates_with_signed_after_stills(api, tmp_path):
    keys = tmp_path / "keys"
    make_config(tmp_path)  # writes the device key pair
    with api.session() as s:
        token = add_device(
            s, device_id="edge-01", public_key=(keys / "edge-01.pub").read_bytes(), actor="test"
        )
    op = api.user("operator")
    with serving(api.client.app) as base:
        edge = Edge(tmp_path, base, token)
        cam = edge.cam
        try:
            # a stall appears and confirms after 3 s: the violation package files a draft case
            cam.run(2.0)
            cam.object_on = True
            first = cam.frame()
            cam.event("opened", first, first)
            cam.run(2.8)
            confirm = cam.frame()
            cam.event("confirmed", confirm, first)
            wait = time.monotonic() + 30
            while edge.packager.awaiting_package("hit-1") and time.monotonic() < wait:
                time.sleep(0.02)  # ffmpeg finishes the clip (wall time)
                edge.on_sample(confirm, cam.ring)
            [filed] = edge.deliver()
            case_id = filed["case_id"]
            assert (filed["case_status"], filed["merged"]) == ("draft", False)

            # reviewed, and a notice: correct within DEADLINE_AFTER_CONFIRM_S of the confirmation
            api.client.post(
                f"/api/v1/cases/{case_id}/review", json={"decision": "confirm"}, headers=op
            ).raise_for_status()
            deadline = confirm.utc + dt.timedelta(seconds=DEADLINE_AFTER_CONFIRM_S)
            api.client.post(
                f"/api/v1/cases/{case_id}/notice", json={"deadline": deadline.isoformat()}, headers=op
            ).raise_for_status()

            # the stall stays: a still_present event every 20 s, a signed package at most every 50 s
            def stay(seconds: float) -> None:
                for _ in range(round(seconds / UPDATE_S)):
                    cam.run(UPDATE_S - 0.2)
                    cam.event("still_present", cam.frame(), first)

            stay(80.0)  # events at +20 … +80 s; a package at +60 s, before the deadline
            [before] = edge.deliver()
            assert (before["case_id"], before["case_status"]) == (case_id, "notice_issued")
            stay(40.0)  # +100 s (before the deadline, plain) and +120 s: past it, packaged
            while dt.datetime.now(dt.UTC) <= deadline:  # delivered after the deadline, by the server's clock
                time.sleep(0.05)
            [after] = edge.deliver()
            assert (after["case_id"], after["case_status"], after["merged"]) == (
                case_id,
                "notice_issued",
                True,
            )
            with api.session() as s:  # the sweeper, on the server's clock, settles the deadline
                assert sweep_deadlines(s) == [(case_id, "escalated")]
        finally:
            edge.close()

    # on the edge: violation, still_present (before), still_present (after), one chain
    written = [p.name for p in edge.packager.written]
    assert written == [
        "edge-01-00000001-violation",
        "edge-01-00000002-still_present",
        "edge-01-00000003-still_present",
    ]
    after_dir = edge.packager.written[-1]
    after_manifest = parse_manifest((after_dir / MANIFEST_NAME).read_bytes())
    assert dt.datetime.fromisoformat(after_manifest.event.ts.replace("Z", "+00:00")) > deadline

    detail = api.client.get(f"/api/v1/cases/{case_id}", headers=op).json()
    assert detail["case"]["status"] == "escalated"
    packages = [h for h in detail["hits"] if h["signed"]]
    assert [(h["event"], h["package_id"], h["after_deadline"]) for h in packages] == [
        ("confirmed", written[0], False),
        ("still_present", written[1], False),
        ("still_present", written[2], True),
    ]
    # the hit's unsigned events since the case exists (the still_present ones not packaged; the
    # opened event came before the case) are sightings only: no files
    plain = [h for h in detail["hits"] if not h["signed"]]
    assert [h["event"] for h in plain] == ["still_present"] * 4
    assert [h["after_deadline"] for h in plain] == [False] * 4 and not any(h["files"] for h in plain)
    # the "after" stills: the signed still_present package's raw and annotated still and crop,
    # downloadable byte for byte as the edge froze them
    after_files = {f["name"]: f for f in packages[-1]["files"]}
    assert set(after_files) == {
        "manifest.json",
        "still-1-later.jpg",
        "still-1-later.annotated.jpg",
        "crop.jpg",
    }
    for name in ("still-1-later.jpg", "still-1-later.annotated.jpg", "crop.jpg"):
        got = api.client.get(after_files[name]["url"], headers=op)
        assert got.status_code == 200 and got.content == (after_dir / name).read_bytes()
    ingested, escalated = detail["ledger"][-2:]
    assert (ingested["action"], ingested["payload"]["event"]) == ("hit_ingested", "still_present")
    assert (escalated["action"], escalated["actor"]) == ("case_escalated", "system:deadline")
    seen_after = dt.datetime.fromisoformat(escalated["payload"]["seen_after_deadline"].replace("Z", "+00:00"))
    assert seen_after > deadline

    # the export holds the before (violation) and after (still_present) packages, each verifying
    # offline against the device's key, and the case JSON says which is which
    r = api.client.get(f"/api/v1/cases/{case_id}/export", headers=api.case_system())
    assert r.status_code == 200
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    case_json = json.loads(zf.read("case.json"))
    assert [h["after_deadline"] for h in case_json["hits"] if h["signed"]] == [False, False, True]
    out = tmp_path / "export"
    zf.extractall(out)
    pub = load_public_key(keys / "edge-01.pub")
    # export folders are <device_id>-<sequence> (the edge's package_id adds the kind)
    folders = [name.rsplit("-", 1)[0] for name in written]
    for name in folders:
        assert verify_package_dir(out / "packages" / name, pub).problems == [], name
    assert (out / "packages" / folders[2] / "still-1-later.jpg").read_bytes() == (
        after_dir / "still-1-later.jpg"
    ).read_bytes()
