"""Delivery under faults, with real processes: the case service (``python -m nce serve``), the edge
(``python -m nce run`` on a generated video through a colour-patch ONNX model, or
``python -m nce outbox deliver`` on synthetic signed packages), kill -9, a crash of the service
between its commit and its answer, a full disk (tmpfs), tampered packages.

Each test prints its counts (attempts, kills, delivered, duplicates, lost); every one must end with
duplicates = 0 and lost = 0 (compared item by item: outbox ↔ the service's database).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from detector.delivery.outbox import Outbox
from nce.manifest import MANIFEST_NAME
from tests.support import pipelines as pf
from tests.support.delivery import (
    Broker,
    Service,
    SyntheticEdge,
    add_uplink,
    check_exactly_once,
    edge_config,
    make_device,
    nce,
)

pytestmark = pytest.mark.timeout(240)


def report(name: str, **counts: Any) -> None:
    print(f"\n[{name}] " + " ".join(f"{k}={v}" for k, v in counts.items()), flush=True)


def ingest_repeats(service: Service) -> int:
    """Requests the service answered from its idempotency store (a retry of a committed item)."""
    text = httpx.get(f"{service.url}/metrics", timeout=5).text
    return int(
        sum(
            float(m.group(1))
            for m in re.finditer(r'^nce_ingest_total\{[^}]*result="repeat"[^}]*\} (\S+)$', text, re.M)
        )
    )


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = Service(tmp_path_factory.mktemp("service")).start()
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    b = Broker()
    yield b
    b.close()


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("delivery_assets")
    return pf.model(d / "colour.onnx"), pf.scene_video(d / "scene.mp4")


class Subscriber:
    """An MQTT subscriber on the local Mosquitto, collecting JSON messages."""

    def __init__(self, broker: Broker, topic: str) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-sub-{os.getpid()}-{id(self)}")
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, json.loads(m.payload)))
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.ready.wait(10), f"no SUBACK from Mosquitto on {broker.host}:{broker.port}"

    def wait_for(self, n: int, timeout: float = 10.0) -> list[tuple[str, dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# -- (a) the full path: nce run → outbox → service, the service down for the whole first run ---------


def test_service_down_for_a_whole_run_then_every_hit_arrives_once(
    tmp_path: Path, assets: tuple[Path, Path], broker: Broker
) -> None:
    model, video = assets
    svc = Service(tmp_path / "svc")
    (tmp_path / "svc").mkdir()
    dev = make_device(tmp_path, "edge-a")
    svc.enroll(dev.id, dev.pub_file, dev.token_file)  # enrolled in the database; the service is down
    edge = tmp_path / "edge-box"
    edge.mkdir()
    cfg = pf.site_config(edge / "site.yaml", model, [pf.camera("cam-a", str(video))])
    add_uplink(cfg, dev, svc.url, drain_s=1.0)
    doc = __import__("yaml").safe_load(cfg.read_text())
    doc["mqtt"] = {"host": broker.host, "port": broker.port, "topic_prefix": f"nce-test-{os.getpid()}"}
    cfg.write_text(__import__("yaml").safe_dump(doc))
    sub = Subscriber(broker, f"nce-test-{os.getpid()}/test-site/+/hits")
    try:
        first = nce("run", "--config", str(cfg), "--until-eof", cwd=edge)
        assert first.returncode == 0, first.stderr[-3000:]
        # the wall display got its alerts although the uplink was down all along
        alerts = sub.wait_for(2)
    finally:
        sub.close()
    assert sorted(a["violation"] for _t, a in alerts) == ["illegal_ad", "out_of_shop_trading"], alerts
    topic, alert = next(m for m in alerts if m[1]["violation"] == "out_of_shop_trading")
    assert topic == f"nce-test-{os.getpid()}/test-site/cam-a/hits"
    assert alert["type"] == "hit_confirmed" and alert["violation_zh"] == "出店经营"
    assert alert["camera_id"] == "cam-a" and alert["shop_id"] == "S-1" and alert["device_id"] == "edge-a"
    assert alert["confirmed_at"].endswith("Z") and alert["dwell_s"] >= 1.5

    outbox_file = edge / "edge" / "outbox.sqlite"
    status = json.loads(nce("outbox", "status", "--config", str(cfg), "--json", cwd=edge).stdout)
    assert status["delivered"] == 0 and status["poisoned"] == 0
    left = status["pending"]
    assert left >= 6, status  # 4 packages (2 violations, 2 clearances) + opened/still_present events
    attempts_first = sum(i.attempts for i in Outbox(outbox_file).items())

    svc.start()
    try:
        second = nce("run", "--config", str(cfg), "--until-eof", cwd=edge)
        assert second.returncode == 0, second.stderr[-3000:]
        assert "pending from earlier runs" in second.stderr
        counts = check_exactly_once(svc, dev.id, outbox_file)
        rows = svc.rows(dev.id)
    finally:
        svc.stop()
    report(
        "service down, then up",
        first_run_pending=left,
        first_run_attempts=attempts_first,
        **counts,
    )
    assert counts["pending"] == 0 and counts["poisoned"] == 0
    assert counts["duplicates"] == 0 and counts["lost"] == 0 and counts["unexpected"] == 0
    assert counts["service_packages"] == 8 and counts["in_order"] == 1  # 4 per run, chain order
    assert counts["delivered"] == counts["items"] == 2 * left
    # the first run's items went first: its packages (seq 1-4) before any of the second run's
    seqs = [r["seq"] for r in rows if r["seq"] is not None]
    assert seqs == list(range(1, 9)) and not any(r["chain_gap"] for r in rows)
    # every package filed into a case; a confirmation travels as its signed package only, and the
    # events that came while a package waited for its clip were held until it was queued: none of
    # them reached the service before its case existed
    assert all(r["case_id"] is not None for r in rows if r["seq"] is not None)
    assert not any(r["event"] == "confirmed" and r["seq"] is None for r in rows)
    assert all(r["case_id"] is not None for r in rows if r["event"] == "still_present")
    # the outbox knows every package delivered: the quota may prune them now
    packages = [p for p in (edge / "edge" / "evidence").iterdir() if not p.name.startswith(".")]
    box = Outbox(outbox_file)
    assert len(packages) == 8 and all(box.is_delivered(p) for p in packages)
    box.close()


# -- (b) kill -9 of the edge's relay at random points, 20 times ---------------------------------------


def test_kill_9_the_edge_20_times_during_delivery(tmp_path: Path, service: Service) -> None:
    rng = random.Random(6)
    dev = make_device(tmp_path, "edge-b")
    service.enroll(dev.id, dev.pub_file, dev.token_file)
    cfg = edge_config(tmp_path, dev, service.url, drain_s=0)
    outbox_file = tmp_path / "edge" / "outbox.sqlite"
    synth = SyntheticEdge(dev, tmp_path / "edge", outbox_file)
    kills = attempts = mid_delivery = 0
    while kills < 20 and attempts < 40:  # a round whose queue emptied before the kill is repeated
        synth.hits(8)  # 24 more items each round: there is work when the kill comes
        before = Outbox(outbox_file).status()
        proc = subprocess.Popen(
            [sys.executable, "-m", "nce", "outbox", "deliver", "--config", str(cfg), "--timeout", "60"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        attempts += 1
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()  # "delivering N pending item(s)": the relay runs
        assert line.startswith("delivering"), line
        time.sleep(rng.uniform(0.0, 0.15))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        kills += proc.returncode == -signal.SIGKILL
        after = Outbox(outbox_file).status()
        mid_delivery += after.delivered > before.delivered and after.pending > 0
    final = nce("outbox", "deliver", "--config", str(cfg), "--timeout", "60", cwd=tmp_path)
    attempts += 1
    assert final.returncode == 0, final.stderr[-3000:]
    counts = check_exactly_once(service, dev.id, outbox_file)
    report(
        "kill -9 the edge",
        attempts=attempts,
        kills=kills,
        killed_mid_delivery=mid_delivery,
        service_repeats=ingest_repeats(service),
        **counts,
    )
    assert kills == 20
    assert mid_delivery >= 10, "most kills should land while items were being delivered"
    n = synth.sequence  # packages made (8 per round)
    assert counts["items"] == synth.items == 3 * n
    assert counts["delivered"] == counts["items"] and counts["pending"] == counts["poisoned"] == 0
    assert counts["duplicates"] == 0 and counts["lost"] == 0 and counts["unexpected"] == 0
    assert counts["service_packages"] == n and counts["in_order"] == 1
    rows = service.rows(dev.id)
    assert [r["seq"] for r in rows if r["seq"] is not None] == list(range(1, n + 1))
    assert not any(r["chain_gap"] for r in rows)
    # one case per shop and violation: every package joined it exactly once
    case_ids = {r["case_id"] for r in rows if r["seq"] is not None}
    assert len(case_ids) == 1
    hit_count = service.scalar("SELECT hit_count FROM cases WHERE id = ?", case_ids.pop())
    assert hit_count == n


def test_kill_9_nce_run_while_it_packages_and_delivers(
    tmp_path: Path, service: Service, assets: tuple[Path, Path]
) -> None:
    """The whole edge process killed at random moments: packages that were on disk but not queued
    yet are found on the next start; every package on disk reaches the service once, in order."""
    model, video = assets
    rng = random.Random(9)
    dev = make_device(tmp_path, "edge-r")
    service.enroll(dev.id, dev.pub_file, dev.token_file)
    cfg = pf.site_config(tmp_path / "site.yaml", model, [pf.camera("cam-a", str(video))])
    add_uplink(cfg, dev, service.url, drain_s=2.0)
    kills = runs = 0
    while kills < 4 and runs < 12:  # a run may end before its kill comes: then one more
        runs += 1
        proc = subprocess.Popen(
            [sys.executable, "-m", "nce", "run", "--config", str(cfg), "--until-eof"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert proc.stderr is not None
        for raw in proc.stderr:  # kill once the camera runs: mid-hit, mid-package or mid-delivery
            if b"running 1 camera" in raw:
                break
        time.sleep(rng.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        kills += proc.returncode == -signal.SIGKILL
    final = nce("run", "--config", str(cfg), "--until-eof", cwd=tmp_path)
    assert final.returncode == 0, final.stderr[-3000:]
    outbox_file = tmp_path / "edge" / "outbox.sqlite"
    counts = check_exactly_once(service, dev.id, outbox_file)
    on_disk = sorted(p.name for p in (tmp_path / "edge" / "evidence").iterdir() if not p.name.startswith("."))
    rows = service.rows(dev.id)
    ingested = [r["package_id"] for r in rows if r["seq"] is not None]
    report("kill -9 nce run", runs=runs + 1, kills=kills, packages_on_disk=len(on_disk), **counts)
    assert kills == 4
    assert counts["pending"] == 0 and counts["poisoned"] == 0
    assert counts["duplicates"] == 0 and counts["lost"] == 0 and counts["unexpected"] == 0
    assert sorted(ingested) == on_disk and len(on_disk) >= 4  # the last run alone writes 4
    assert [r["seq"] for r in rows if r["seq"] is not None] == list(range(1, len(on_disk) + 1))
    assert not any(r["chain_gap"] for r in rows)


# -- (c) kill -9 of the service between its commit and its answer -------------------------------------


def test_service_dies_between_commit_and_answer(tmp_path: Path) -> None:
    svc = Service(tmp_path / "svc")
    (tmp_path / "svc").mkdir()
    dev = make_device(tmp_path, "edge-c")
    svc.enroll(dev.id, dev.pub_file, dev.token_file)
    cfg = edge_config(tmp_path, dev, svc.url, drain_s=0)
    outbox_file = tmp_path / "edge" / "outbox.sqlite"
    synth = SyntheticEdge(dev, tmp_path / "edge", outbox_file)
    synth.hits(2)  # opened, package, still_present × 2
    svc.start(crash_after_commit=True)
    deliver = subprocess.Popen(
        [sys.executable, "-m", "nce", "outbox", "deliver", "--config", str(cfg), "--timeout", "90"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    crashes = 0
    try:
        # crash 1: after committing the first event; crash 2: after committing the first package
        # (the restarted service answers the event's retry from its store without a new commit)
        for _ in range(2):
            assert svc.proc is not None
            assert svc.proc.wait(60) == 9, "the service should die right after its commit"
            crashes += 1
            svc.start(crash_after_commit=True)
        assert svc.proc is not None
        assert svc.proc.wait(60) == 9  # crash 3: the second event after the package
        crashes += 1
        svc.start()
        _out, err = deliver.communicate(timeout=90)
        assert deliver.returncode == 0, err.decode()[-3000:]
        counts = check_exactly_once(svc, dev.id, outbox_file)
        repeats = ingest_repeats(svc)
    finally:
        deliver.kill()
        svc.stop()
    box = Outbox(outbox_file)
    items = box.items()
    box.close()
    report(
        "service crash after commit",
        service_crashes=crashes,
        service_starts=svc.starts,
        attempts=sum(i.attempts for i in items) + len(items),
        repeats_on_last_start=repeats,
        **counts,
    )
    assert counts["delivered"] == counts["items"] == 6
    assert counts["duplicates"] == 0 and counts["lost"] == 0 and counts["unexpected"] == 0
    # the first three items each needed a retry after the crash, answered from the stored result
    assert [i.attempts >= 1 for i in items[:3]] == [True, True, True]
    assert all(i.status == "delivered" for i in items)
    assert svc.scalar("SELECT COUNT(*) FROM idempotency_keys") == 6
    assert svc.scalar("SELECT COUNT(*) FROM cases") == 1
    assert svc.scalar("SELECT hit_count FROM cases") == 2


# -- (d) a full disk on the edge ---------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full-disk test mounts a 2 MiB tmpfs: needs root and mount(8)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.mark.optional("needs root and mount(8)", "mount -t tmpfs is not permitted here")  # privileges
def test_full_disk_stops_packaging_with_an_alarm_and_resumes(
    tmp_path: Path, small_disk: Path, service: Service
) -> None:
    from detector.delivery import DeliveryMetrics, OutboxSink
    from detector.delivery.relay import Relay
    from detector.delivery.transport import HttpTransport
    from detector.events import EventSink
    from detector.sinks import evidence_packager
    from nce.manifest import parse_manifest, verify_chain, verify_package_dir
    from tests.support.evidence_sim import Camera, make_config, violation_then_cleared

    config = make_config(tmp_path, min_dwell_s=2.0, clip_pre_s=1.0, clip_post_s=1.0, clip_fps=2.0)
    assert config.device is not None
    dev_id = config.device.id
    dev_pub = tmp_path / "keys" / f"{dev_id}.pub"
    token = tmp_path / "keys" / f"{dev_id}.token"
    service.enroll(dev_id, dev_pub, token)
    outbox = Outbox(small_disk / "outbox.sqlite")
    packager = evidence_packager(config, small_disk, delivered=outbox)
    sink = OutboxSink(outbox, dev_id, packager.evidence_dir)
    packager.listener = sink

    class Both:
        def on_event(self, *a: Any) -> None:
            packager.on_event(*a)
            sink.on_event(*a)

        def on_sample(self, *a: Any) -> None:
            packager.on_sample(*a)
            sink.on_sample(*a)

        def close(self) -> None:
            packager.close()

    both: EventSink = Both()
    cam = Camera(both)
    m = packager.metrics

    def alarm() -> float:
        return float(m.registry.get_sample_value("nce_evidence_disk_full") or 0.0)

    def skipped() -> float:
        return float(
            m.registry.get_sample_value("nce_evidence_skipped_total", {"reason": "disk_full"}) or 0.0
        )

    violation_then_cleared(cam, dwell_s=2.0, hit_id="hit-1")
    assert [p.name for p in packager.written] == [
        f"{dev_id}-00000001-violation",
        f"{dev_id}-00000002-cleared",
    ]
    assert alarm() == 0.0

    filler = small_disk / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    for chunk in (65536, 4096, 512):  # fill the disk to the last block
        try:
            while True:
                os.write(fd, b"\0" * chunk)
        except OSError:
            pass
    os.close(fd)
    violation_then_cleared(cam, dwell_s=2.0, hit_id="hit-2")
    assert alarm() == 1.0 and skipped() >= 1
    assert len(packager.written) == 2  # packaging stopped
    on_disk = sorted(p for p in packager.evidence_dir.iterdir() if not p.name.startswith("."))
    assert [p.name for p in on_disk] == [p.name for p in packager.written]  # no half-written package
    for p in on_disk:
        assert verify_package_dir(p).ok, verify_package_dir(p).problems
    assert not any((packager.evidence_dir / ".tmp").iterdir())

    filler.unlink()  # space returns
    violation_then_cleared(cam, dwell_s=2.0, hit_id="hit-3")
    both.close()
    assert alarm() == 0.0
    names = [p.name for p in packager.written]
    assert names[2:] == [f"{dev_id}-00000003-violation", f"{dev_id}-00000004-cleared"]
    manifests = [parse_manifest((p / MANIFEST_NAME).read_bytes()) for p in packager.written]
    assert verify_chain(manifests, from_genesis=True) == []

    transport = HttpTransport(service.url, token.read_text().strip(), timeout_s=5)
    metrics = DeliveryMetrics()
    relay = Relay(outbox, transport.send)
    for _ in range(200):
        if relay.step() is None and outbox.head() is None:
            break
    metrics.refresh(outbox)
    st = outbox.status()
    transport.close()
    counts = check_exactly_once(service, dev_id, small_disk / "outbox.sqlite")
    outbox.close()
    report(
        "full disk",
        packages_written=len(packager.written),
        skipped_disk_full=int(skipped()),
        queue_errors=int(sink.metrics.queue_errors._value.get()),
        **counts,
    )
    assert st.pending == 0 and st.poisoned == 0
    assert counts["service_packages"] == 4 and counts["duplicates"] == 0 and counts["lost"] == 0
    # hit 2's events (no package: the disk was full) waited in memory and were queued afterwards
    assert counts["items"] == counts["delivered"] == 9 and counts["service_events"] == 5
    assert not any(r["chain_gap"] for r in service.rows(dev_id))


# -- (e) a tampered package is poisoned and set aside; the ones behind it go on -----------------------


def test_tampered_packages_are_poisoned_and_do_not_block(tmp_path: Path, service: Service) -> None:
    dev = make_device(tmp_path, "edge-e")
    service.enroll(dev.id, dev.pub_file, dev.token_file)
    cfg = edge_config(tmp_path, dev, service.url, drain_s=0)
    outbox_file = tmp_path / "edge" / "outbox.sqlite"
    synth = SyntheticEdge(dev, tmp_path / "edge", outbox_file)
    synth.hits(4)
    still = synth.packages[1] / "still-1-first_seen.jpg"  # package 2: one byte of a still
    data = bytearray(still.read_bytes())
    data[-1] ^= 0xFF
    still.write_bytes(bytes(data))
    manifest = synth.packages[2] / MANIFEST_NAME  # package 3: a manifest field edited
    manifest.write_bytes(manifest.read_bytes().replace(b'"score":0.91', b'"score":0.99'))
    # a refused token is the box's problem, not the items': nothing is poisoned, all waits
    token = dev.token_file.read_text()
    dev.token_file.write_text("not-the-token\n")
    done = nce("outbox", "deliver", "--config", str(cfg), "--timeout", "1.5", cwd=tmp_path)
    assert done.returncode == 3, done.stderr[-3000:]
    box = Outbox(outbox_file)
    st, head = box.status(), box.head()
    box.close()
    assert (st.pending, st.delivered, st.poisoned) == (12, 0, 0)
    assert head is not None and "credentials refused" in (head.last_error or "")
    dev.token_file.write_text(token)
    done = nce("outbox", "deliver", "--config", str(cfg), "--timeout", "60", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    box = Outbox(outbox_file)
    poisoned = box.items("poisoned")
    box.close()
    counts = check_exactly_once(service, dev.id, outbox_file)
    report("tampered packages", **counts)
    assert [(i.kind, i.payload["sequence"]) for i in poisoned] == [("package", 2), ("package", 3)]
    assert "HTTP 422" in (poisoned[0].last_error or "") and "still-1-first_seen.jpg" in (
        poisoned[0].last_error or ""
    )
    assert "HTTP 401" in (poisoned[1].last_error or "") and "signature" in (poisoned[1].last_error or "")
    assert counts["delivered"] == counts["items"] - 2 and counts["pending"] == 0
    assert counts["duplicates"] == 0 and counts["lost"] == 0 and counts["unexpected"] == 0
    rows = service.rows(dev.id)
    assert [(r["seq"], r["chain_gap"]) for r in rows if r["seq"] is not None] == [(1, 0), (4, 1)]
    shown = nce("outbox", "status", "--config", str(cfg), cwd=tmp_path).stdout
    assert "poisoned:  2" in shown and "still-1-first_seen.jpg" in shown
