"""The console in real Chromium (Debian's, driven by Playwright) against a real uvicorn server.

The world is seeded through the real ingest API with signed packages (JPEG stills, an H.264 clip).
Screenshots of the queue, a case and the dashboard go to ``test-output/console/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.support.chromium import CHROMIUM, OUT, signed_in
from tests.support.console import OPERATOR, World, served_world

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
)


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, template_db: Path, password_hash: str
) -> Iterator[tuple[World, str]]:
    with served_world(tmp_path_factory.mktemp("browser"), template_db, password_hash, seeded=True) as site:
        yield site


@pytest.fixture
def page(browser: Browser, site: tuple[World, str]) -> Iterator[Page]:
    """A signed-in page (through the sign-in form, where ``/`` sends one) in a fresh browser context."""
    with signed_in(browser, site[1], OPERATOR, start="/") as pg:
        yield pg


def shot(pg: Page, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(OUT / name), full_page=True)


def test_open_newest_draft_see_evidence_and_confirm(page: Page, site: tuple[World, str]) -> None:
    world, _url = site
    pg = page
    newest = world.cases["newest"]
    rows = pg.locator("tr.row")
    assert rows.first.get_attribute("data-case") == str(newest)
    assert pg.locator("h1").inner_text() == "待审队列"
    pg.wait_for_function(
        "() => [...document.querySelectorAll('td.thumb img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    shot(pg, "queue.png")

    rows.first.locator("a.case-link").click()
    pg.wait_for_url(re.compile(rf"/cases/{newest}"))
    # the stills: annotated first, all loaded from the evidence endpoint with the session cookie
    imgs = pg.locator("img.still-img")
    assert imgs.count() == 3
    pg.wait_for_function(
        "() => [...document.querySelectorAll('img.still-img')].every(i => i.complete && i.naturalWidth === 640)"
    )
    annotated = imgs.first.get_attribute("src")
    assert annotated == imgs.first.get_attribute("data-annotated")
    assert pg.locator("svg.zone polygon").first.is_visible()
    pg.click("#toggle-raw")
    assert imgs.first.get_attribute("src") == imgs.first.get_attribute("data-raw") != annotated
    pg.wait_for_function(
        "() => [...document.querySelectorAll('img.still-img')].every(i => i.complete && i.naturalWidth === 640)"
    )
    # a still at full size, Esc closes it
    imgs.nth(1).click()
    assert pg.locator("#lightbox").is_visible()
    pg.wait_for_function("() => document.querySelector('#lightbox img').naturalWidth === 640")
    assert pg.locator("#lightbox img").get_attribute("src") == imgs.nth(1).get_attribute("data-raw")
    pg.keyboard.press("Escape")
    assert not pg.locator("#lightbox").is_visible()
    pg.uncheck("#toggle-zone")
    assert not pg.locator("svg.zone polygon").first.is_visible()
    pg.check("#toggle-zone")
    pg.click("#toggle-raw")

    # the clip plays (H.264 MP4 from the evidence store)
    pg.evaluate("document.getElementById('clip').play()")
    pg.wait_for_function(
        "() => { const v = document.getElementById('clip'); return v.readyState >= 2 && v.currentTime > 0.5; }"
    )
    state = pg.evaluate(
        "(() => { const v = document.getElementById('clip'); v.pause(); return [v.error, v.duration, v.videoWidth]; })()"
    )
    assert state[0] is None and 2.5 < state[1] < 3.5 and state[2] == 640
    assert "老王水果店" in pg.locator("#party").inner_text()
    assert "未核实" in pg.locator("#legal").inner_text()
    shot(pg, "case.png")

    # C confirms and moves on to the next draft; the case's status and ledger show it
    pg.keyboard.press("c")
    pg.wait_for_selector("#flash")
    assert f"已确认案件 #{newest}" in pg.locator("#flash").inner_text()
    assert f"/cases/{newest}" not in pg.url and "queue=status%3Ddraft" in pg.url
    pg.goto(f"/cases/{newest}")
    assert pg.locator("#case-status").get_attribute("data-status") == "confirmed"
    assert pg.locator("#case-status").inner_text() == "已确认"
    entry = pg.locator('#ledger tr[data-action="case_reviewed"]')
    assert entry.count() == 1
    assert f"user:{OPERATOR}" in entry.inner_text() and "人工审核" in entry.inner_text()
    assert pg.locator("#notice-form").is_visible()


def test_dismiss_with_a_reason(page: Page, site: tuple[World, str]) -> None:
    world, _url = site
    pg = page
    case_id = world.cases["vending"]
    pg.goto(f"/cases/{case_id}")
    # without a reason: refused, with the reason asked for
    pg.click("#dismiss-btn")
    assert "驳回必须填写理由" in pg.locator("#form-error").inner_text()
    assert pg.locator("#case-status").get_attribute("data-status") == "draft"
    # one click on a common reason dismisses
    pg.fill("#dismiss-reason", "伞下无人经营")
    pg.get_by_role("button", name=re.compile("画面不清")).click()
    pg.wait_for_selector("#flash")
    assert f"已驳回案件 #{case_id}" in pg.locator("#flash").inner_text()
    pg.goto(f"/cases/{case_id}")
    assert pg.locator("#case-status").get_attribute("data-status") == "dismissed"
    assert "画面不清；伞下无人经营" in pg.locator("#reviewed").inner_text()
    assert "画面不清；伞下无人经营" in pg.locator('#ledger tr[data-action="case_reviewed"]').inner_text()


def test_switch_language(page: Page) -> None:
    pg = page
    pg.click("#lang-switch")
    pg.wait_for_selector("html[lang=en]")
    assert pg.locator("h1").inner_text() == "Review queue"
    pg.click("text=Dashboard")
    assert pg.locator("#chart-per-day h2").inner_text() == "Cases per day, by violation"
    assert pg.locator("#chart-per-day svg rect").count() > 0
    shot(pg, "dashboard-en.png")
    pg.click("#lang-switch")
    pg.wait_for_selector("html[lang=zh-CN]")
    assert pg.locator("#chart-per-day h2").inner_text() == "每日案件数（按违法类型）"


def test_keyboard_shortcuts(page: Page) -> None:
    pg = page
    ids = [r.get_attribute("data-case") for r in pg.locator("tr.row").all()]
    assert len(ids) >= 2, "needs two drafts"
    pg.keyboard.press("j")
    pg.keyboard.press("j")
    assert pg.locator("tr.row.sel").get_attribute("data-case") == ids[1]
    pg.keyboard.press("k")
    assert pg.locator("tr.row.sel").get_attribute("data-case") == ids[0]
    pg.keyboard.press("j")
    pg.keyboard.press("Enter")
    pg.wait_for_url(re.compile(rf"/cases/{ids[1]}"))
    pg.keyboard.press("k")
    pg.wait_for_url(re.compile(rf"/cases/{ids[0]}"))
    pg.keyboard.press("j")
    pg.wait_for_url(re.compile(rf"/cases/{ids[1]}"))
    # D arms the dismissal (digits pick a reason chip: tests/console/test_console_desk_browser.py);
    # the note is typed only once the reviewer is in the box
    pg.keyboard.press("d")
    assert pg.evaluate("document.activeElement.id") == "dismiss-form"
    pg.click("#dismiss-reason")
    pg.keyboard.type("重复上报")
    pg.keyboard.press("Enter")
    pg.wait_for_selector("#flash")
    pg.goto(f"/cases/{ids[1]}")
    assert pg.locator("#case-status").get_attribute("data-status") == "dismissed"
    assert "重复上报" in pg.locator("#reviewed").inner_text()
    # typing in a field never triggers a shortcut: C inside the notice note does nothing
    pg.goto(f"/cases/{ids[0]}")
    pg.focus("#dismiss-reason")
    pg.keyboard.press("c")
    assert pg.locator("#case-status").get_attribute("data-status") == "draft"


def test_evidence_large_still_crop_strip_and_full_resolution(page: Page, site: tuple[World, str]) -> None:
    world, _url = site
    pg = page
    pg.wait_for_function(
        "() => [...document.querySelectorAll('td.thumb img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    # the queue's thumbnail is the object's crop (not the whole 640×360 frame), cameras by name
    thumb = pg.locator(f'tr[data-case="{world.cases["ad"]}"] td.thumb img')
    assert thumb.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [246, 161]
    assert pg.locator(f'tr[data-case="{world.cases["ad"]}"] td.camera').inner_text() == "牡丹江路 菜场"
    shot(pg, "queue-crops.png")

    pg.goto(f"/cases/{world.cases['vending']}")
    pg.wait_for_function(
        "() => [...document.querySelectorAll('img.still-img, #crop-img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    width = pg.evaluate("window.innerWidth")
    main = pg.locator("#still-main img.still-img").bounding_box()
    crop = pg.locator("#crop-img").bounding_box()
    strip = pg.locator("#still-strip").bounding_box()
    assert main and crop and strip
    assert main["width"] >= 0.6 * width  # one large still: at least 60 % of the window
    assert crop["x"] > main["x"] + main["width"] and crop["y"] < main["y"] + main["height"] / 2  # beside it
    assert strip["y"] >= main["y"] + main["height"] and pg.locator("#still-strip img.still-img").count() == 2
    assert pg.locator("#detected").inner_text().startswith("遮阳伞")  # Chinese class names
    assert "遮阳伞" in pg.locator("#still-crop figcaption").inner_text()
    assert pg.locator("#camera-plan .plan-here").get_attribute("data-camera") == "cam-02"
    assert "未经法制部门审核" in pg.locator("#legal").inner_text()
    shot(pg, "case-evidence.png")

    # the lightbox fits the screen; a click on the picture shows it at full resolution
    pg.locator("#still-main a.zoom").click()
    img = pg.locator("#lightbox img")
    pg.wait_for_function("() => document.querySelector('#lightbox img').naturalWidth === 640")
    img.click()
    assert "full" in (pg.locator("#lightbox").get_attribute("class") or "")
    assert img.evaluate("i => i.getBoundingClientRect().width") == 640
    shot(pg, "case-zoom.png")
    pg.keyboard.press("Escape")
    assert not pg.locator("#lightbox").is_visible()
