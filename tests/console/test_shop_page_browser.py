"""The shop page in real Chromium with a phone's viewport, against a real uvicorn server: a shop
scans its QR link, sees its notice with the approved blurred stills, uploads a correction photo and
submits a statement (a wrong file refused on the page); an operator sees both on the case page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from service.public_copies import approve_public_stills, make_public_stills
from tests.support.chromium import OUT, needs_chromium, signed_in
from tests.support.console import OPERATOR, World, served_world
from tests.support.images import jpeg
from tests.support.shop_page import link, notice

pytestmark = needs_chromium
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
    "user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36",
}


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, template_db: Path, password_hash: str
) -> Iterator[tuple[World, str]]:
    with served_world(
        tmp_path_factory.mktemp("shop-browser"), template_db, password_hash, seeded=True
    ) as site:
        yield site


def test_scan_see_evidence_upload_a_photo_state_and_the_operator_sees_both(
    browser: Browser, site: tuple[World, str], tmp_path: Path
) -> None:
    w, url = site
    case_id = notice(w)
    with w.session() as s:
        stills = make_public_stills(s, store=w.state.store, case_id=case_id, actor="user:op1")
        approve_public_stills(s, case_id=case_id, actor="user:op1")
    token = link(w)
    good, bad = tmp_path / "整改.jpg", tmp_path / "notes.jpg"
    good.write_bytes(jpeg(1024, 768, seed=31))
    bad.write_bytes(b"<html>not a photo</html>")
    OUT.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(base_url=url, **PHONE)
    errors: list[str] = []
    try:
        pg = context.new_page()
        pg.set_default_timeout(15_000)
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.goto(f"/s/{token}")
        assert pg.locator("#shop-name").inner_text() == "老王水果店"
        notice_box = pg.locator(f"#case-{case_id}")
        assert "未核实" in notice_box.inner_text() and "整改期限" in notice_box.inner_text()
        imgs = notice_box.locator(".stills img")
        assert imgs.count() == len(stills)
        pg.wait_for_function(
            "() => [...document.querySelectorAll('.stills img')].every(i => i.complete && i.naturalWidth > 0)"
        )
        # the page fits the phone: nothing wider than the viewport
        assert pg.evaluate("document.documentElement.scrollWidth") <= 390
        pg.screenshot(path=str(OUT / "shop-page-phone.png"), full_page=True)
        # a wrong file: refused on the page, in Chinese
        notice_box.locator("input[type=file]").set_input_files(str(bad))
        notice_box.locator(".photo-form button").click()
        pg.wait_for_selector("#shop-error")
        assert "未保存" in pg.locator("#shop-error").inner_text()
        box = pg.locator(f"#case-{case_id}")
        box.locator("input[type=file]").set_input_files(str(good))
        box.locator(".photo-form button").click()
        pg.wait_for_selector("#shop-done")
        assert "整改照片已上传" in pg.locator("#shop-done").inner_text()
        box = pg.locator(f"#case-{case_id}")
        box.locator("textarea[name=text]").fill("已于今日整改，货物已全部搬回店内。")
        box.locator(".statement-form button").click()
        pg.wait_for_selector("#shop-done")
        assert "陈述申辩已提交" in pg.locator("#shop-done").inner_text()
        sent = pg.locator(f"#case-{case_id} .sent").inner_text()
        assert "已于今日整改" in sent and pg.locator(f"#case-{case_id} .sent img.thumb").count() == 1
        pg.screenshot(path=str(OUT / "shop-page-sent.png"), full_page=True)
    finally:
        context.close()
    assert not errors, errors
    with signed_in(browser, url, OPERATOR) as op:
        op.goto(f"/cases/{case_id}")
        side = op.locator("#shop-side")
        assert "已于今日整改，货物已全部搬回店内。" in side.inner_text()
        assert side.locator('li[data-kind="photo"] img').count() == 1
        op.wait_for_function(
            "() => [...document.querySelectorAll('#shop-side img')].every(i => i.complete && i.naturalWidth > 0)"
        )
        assert op.locator('#ledger tr[data-action="shop_responded"]').count() == 1
        assert op.locator('#ledger tr[data-action="correction_uploaded"]').count() == 1
        op.screenshot(path=str(OUT / "shop-page-case.png"), full_page=True)


def test_an_old_link_shows_the_not_found_page_on_the_phone(browser: Browser, site: tuple[World, str]) -> None:
    _, url = site
    context = browser.new_context(base_url=url, **PHONE)
    try:
        pg = context.new_page()
        response = pg.goto("/s/" + "A" * 43)
        assert response is not None and response.status == 404
        assert "此链接无效或已更换" in pg.locator("main").inner_text()
    finally:
        context.close()
