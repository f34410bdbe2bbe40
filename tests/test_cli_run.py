"""``nce run`` as a user runs it: a subprocess with a site config, files and an unreachable camera."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import pipelines as pf
from tests.support.cli import nce
from tests.support.servers import free_port

pytestmark = pytest.mark.timeout(120)


def read_hits(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def t(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("cli_run")
    return pf.model(d / "colour.onnx"), pf.scene_video(d / "scene.mp4")


def test_until_eof_writes_one_confirmed_hit_per_violation(tmp_path: Path, assets: tuple[Path, Path]) -> None:
    model, video = assets
    config = pf.site_config(tmp_path / "site.yaml", model, [pf.camera("cam-a", str(video))])
    done = nce("run", "--config", str(config), "--until-eof", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    hits = read_hits(tmp_path / "out" / "hits.jsonl")
    for violation, dwell, appears, leaves in (
        ("out_of_shop_trading", 1.5, pf.STALL_IN, pf.STALL_OUT),
        ("illegal_ad", 2.0, pf.BANNER_IN, pf.BANNER_OUT),
    ):
        mine = [h for h in hits if h["violation"] == violation]
        kinds = [h["event"] for h in mine]
        assert kinds.count("opened") == kinds.count("confirmed") == kinds.count("cleared") == 1, kinds
        assert kinds[0] == "opened" and kinds[1] == "confirmed" and kinds[-1] == "cleared"
        opened, confirmed, cleared = (
            next(h for h in mine if h["event"] == k) for k in kinds[:2] + kinds[-1:]
        )
        assert len({h["hit_id"] for h in mine}) == 1
        assert abs((t(confirmed["ts"]) - t(opened["ts"])).total_seconds() - dwell) <= pf.SAMPLE_S + 1e-6
        present = (t(cleared["ts"]) - t(opened["ts"])).total_seconds()
        assert abs(present - (leaves - appears + 1.0)) <= pf.SAMPLE_S + 1e-6  # + grace 1.0 s
        assert opened["ts"].endswith("Z") and len(opened["ts"]) == len("2026-11-26T08:00:00.123Z")
        assert set(opened) >= {"event", "hit_id", "camera_id", "zone_id", "shop_id", "violation", "track_id"}
        assert set(opened) >= {"label", "score", "box", "ts", "first_seen"}
    stall_open = next(h for h in hits if h["violation"] == "out_of_shop_trading")
    banner_open = next(h for h in hits if h["violation"] == "illegal_ad")
    gap = (t(banner_open["ts"]) - t(stall_open["ts"])).total_seconds()
    assert abs(gap - (pf.BANNER_IN - pf.STALL_IN)) <= pf.SAMPLE_S + 1e-6
    assert "done:" in done.stderr and "cam-a eof" in done.stderr


def test_bad_config_gives_the_config_check_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: {id: s, name: s}\nmodel: {path: m.onnx}\ncameras: []\nrules: []\nextra: 1\n")
    run = nce("run", "--config", str(bad), cwd=tmp_path)
    check = nce("config", "check", str(bad), cwd=tmp_path)
    assert run.returncode == check.returncode == 2
    assert run.stderr == check.stderr
    assert "cameras" in run.stderr and "extra" in run.stderr


def test_unreachable_camera_is_retried_while_others_run_and_sigterm_stops_cleanly(
    tmp_path: Path, assets: tuple[Path, Path]
) -> None:
    model, video = assets
    dead = f"rtsp://127.0.0.1:{free_port()}/nothing"
    cams = [pf.camera("cam-file", str(video)), pf.camera("cam-dead", dead)]
    config = pf.site_config(tmp_path / "site.yaml", model, cams)
    port = free_port()
    out = tmp_path / "out"
    args = ["run", "--config", str(config), "--out", str(out), "--metrics-port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "nce", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        # the file plays in real time: the stall confirms 2.5 s into it
        deadline = time.monotonic() + 30
        while not any(h["event"] == "confirmed" for h in read_hits(out / "hits.jsonl")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no confirmed hit from the file camera"
            time.sleep(0.2)
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert 'nce_stream_up{camera="cam-dead"} 0.0' in text
    assert 'nce_stream_up{camera="cam-file"} 1.0' in text
    reconnects = next(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith('nce_reconnects_total{camera="cam-dead"}')
    )
    assert reconnects >= 1
    assert "camera cam-dead" in stderr and "down: cannot open stream" in stderr
    assert stderr.count("cam-dead (rtsp://127.0.0.1") == 1, "a state change is logged once, not per retry"
    assert "SIGTERM: stopping" in stderr
    # the summary says the dead camera never connected, and why (not only "stopped (N reconnects)")
    assert re.search(
        r"cam-dead stopped \(\d+ reconnects; never connected: cannot open stream rtsp://", stderr
    )
    assert re.search(r"cam-file (stopped|eof)[,;\n]", stderr), stderr[-2000:]
    hits = read_hits(out / "hits.jsonl")
    assert all(h["camera_id"] == "cam-file" for h in hits)
    # the stall was still there at SIGTERM: its open hit is flushed as a last still_present
    assert hits[-1]["event"] == "still_present" and hits[-1]["violation"] == "out_of_shop_trading"
