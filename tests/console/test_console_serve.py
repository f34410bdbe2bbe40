"""``nce serve`` (the real CLI, as ``nce demo`` runs it) serves the console, and the console renders
whatever the database holds: packages without annotated stills, with undecodable stills, without a shop."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.support.console import Client, sign_in
from tests.support.servers import NceServe


def test_nce_serve_serves_the_console(tmp_path: Path) -> None:
    db, log = f"sqlite:///{tmp_path}/nce.sqlite3", tmp_path / "serve.log"
    with NceServe(db_url=db, evidence_dir=tmp_path / "ev", log=log) as serve:
        base = serve.url
        r = httpx.get(f"{base}/", timeout=2)
        assert r.status_code == 303 and r.headers["location"] == "/login?next=%2F"
        login = httpx.get(f"{base}/login")
        assert login.status_code == 200 and "值班员登录" in login.text
        assert "samesite=strict" in login.headers["set-cookie"].lower()
        for asset, kind in (("console.css", "text/css"), ("console.js", "javascript")):
            a = httpx.get(f"{base}/static/{asset}")
            assert a.status_code == 200 and kind in a.headers["content-type"]


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
