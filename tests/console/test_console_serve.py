"""``nce serve`` (the real CLI, as ``nce demo`` runs it) serves the console, and the console renders
whatever the database holds: packages without annotated stills, with undecodable stills, without a shop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from conftest import Client, sign_in
from svc_factory import service_key_file
from svc_server import free_port


def test_nce_serve_serves_the_console(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "NCE_SECRET_KEY": "serve-test-secret-0123456789",
        "NCE_SERVICE_KEY_FILE": str(service_key_file(tmp_path)),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "nce", "serve", "--port", str(port), "--db", f"sqlite:///{tmp_path}/nce.sqlite3",
         "--evidence-dir", str(tmp_path / "ev")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"{base}/", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(proc.communicate()[0]) from None
                time.sleep(0.2)
        assert r.status_code == 303 and r.headers["location"] == "/login?next=%2F"
        login = httpx.get(f"{base}/login")
        assert login.status_code == 200 and "值班员登录" in login.text
        assert "samesite=strict" in login.headers["set-cookie"].lower()
        for asset, kind in (("console.css", "text/css"), ("console.js", "javascript")):
            a = httpx.get(f"{base}/static/{asset}")
            assert a.status_code == 200 and kind in a.headers["content-type"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


def test_packages_without_annotated_or_decodable_stills_render(world: Client) -> None:
    """The service tests' own factory: stills are JPEG magic plus filler, no annotated copies."""
    w, client = world
    pkg = w.device.package(shop_id=None, camera_id="cam-09", violation="piled_goods")
    r = w.device.post(client, pkg)
    assert r.status_code == 201, r.text
    case_id = r.json()["case_id"]
    sign_in(client)
    html = client.get(f"/cases/{case_id}").text
    assert "未关联商户" in html and "无商户，无记录" in html
    assert html.count('class="still-img"') == 2  # the manifest's two stills
    for raw, annotated in re.findall(r'data-raw="([^"]+)" data-annotated="([^"]+)"', html):
        assert raw == annotated
    assert client.get("/?status=all").status_code == 200
    assert client.get("/dashboard").status_code == 200
