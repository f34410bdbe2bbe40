"""The labelling page (标注, ``/label``): roles, filters and counts over HTTP; and in real Chromium
(Debian's, driven by Playwright) against a real uvicorn server: the model's detections pre-filled,
a box drawn with the mouse, classed by key, saved with Enter through the frames API, the next frame
opened; Delete, 0 (no objects), S (skip), and the API's 422 in one line. A screenshot goes to
``test-output/console/label.png``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
from playwright.sync_api import Browser, Page

from nce.vocabulary import MODEL_CLASSES
from service.console.messages import CATALOGUE
from service.crud.frames import add_frame, frame_detail
from service.schemas.frames import FrameCreate, FrameDetail, FrameSource, LabelHow
from tests.support.chromium import OUT, needs_chromium, signed_in
from tests.support.console import OPERATOR, Client, World, served_world, sign_in, street
from tests.support.labelling import DETECTIONS, pool_frames

STATIC = Path(__file__).resolve().parents[2] / "service" / "console" / "static"


def detail(w: World, frame_id: int) -> FrameDetail:
    with w.session() as s:
        return frame_detail(s, frame_id=frame_id)


# --- over HTTP ------------------------------------------------------------------------------------


def test_an_operator_gets_the_page_with_the_pool_and_no_counts(world: Client) -> None:
    w, client = world
    pool_frames(w.state, 3)
    sign_in(client)
    r = client.get("/label")
    assert r.status_code == 200
    assert '<a href="/label" id="nav-label" class="on">标注</a>' in r.text
    assert re.search(r'data-status="unlabelled"[^>]*>未标注<b>3</b>', r.text)
    assert '<option value="cam-07"' in r.text
    assert 'id="labeller-counts"' not in r.text  # an operator does not see the others' counts
    assert "/static/label.js" in r.text
    en = client.get("/label?lang=en")
    assert en.status_code == 200 and "Unlabelled<b>3</b>" in en.text and "Save and next (Enter)" in en.text


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("status=deleted", "status=deleted"),
        ("status=unlabelled&camera=../etc", "camera='../etc'"),
        ("camera=" + "c" * 70, "camera='" + "c" * 64),
    ],
)
def test_a_bad_filter_is_one_line_and_the_default_pool(world: Client, query: str, shown: str) -> None:
    _w, client = world
    sign_in(client)
    r = client.get(f"/label?{query}")
    assert r.status_code == 422
    assert f'<p class="error">筛选条件无效：{shown}' in r.text.replace("&#39;", "'")
    assert 'class="tab on" data-status="unlabelled"' in r.text


def test_devices_and_case_systems_are_refused_anonymous_is_sent_to_sign_in(world: Client) -> None:
    w, client = world
    for headers in (w.device.headers, {"Authorization": f"Bearer {w.case_system_token()}"}):
        r = client.get("/label", headers=headers, follow_redirects=False)
        assert r.status_code == 403
        assert "不能使用审核台" in r.text
    r = client.get("/label", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Flabel"


def test_supervisors_see_frames_per_labeller_reviews_not_counted(world: Client, password_hash: str) -> None:
    w, client = world
    ids = pool_frames(w.state, 3)
    sign_in(client)  # the operator saves through the API with the console's session cookie
    for frame_id, boxes in ((ids[0], []), (ids[1], [{"label": "stall", "box": [1, 2, 30, 40]}])):
        r = client.put(f"/api/v1/frames/{frame_id}/labels", json={"boxes": boxes, "complete": True})
        assert r.status_code == 200, r.text
    r = client.put(f"/api/v1/frames/{ids[0]}/labels", json={"boxes": [], "complete": False})
    assert r.status_code == 200  # a second labelling of the same frame
    # the world's confirmed case labelled its stills by review: not a labeller's work
    assert w.count("frame_labels") > 3
    supervisor = w.user("supervisor", "sup1", password_hash)
    page = client.get("/label", headers={"Authorization": f"Bearer {supervisor}"})
    assert page.status_code == 200
    rows = re.findall(
        r'<tr data-labeller="([^"]+)"><td>[^<]+</td><td class="num frames">(\d+)</td><td class="num">(\d+)</td>'
        r'<td class="num">(\d+)</td>',
        page.text,
    )
    assert rows == [("user:op1", "2", "3", "3")]
    assert "各标注员工作量" in page.text


def test_every_word_the_script_shows_is_in_the_catalogue() -> None:
    script = (STATIC / "label.js").read_text(encoding="utf-8")
    # every key literal (not the prefixes: "labelhow." + how)
    used = set(re.findall(r'"((?:labeljs|labelhow|class)\.[a-z_.]*[a-z_])"', script))
    used |= {f"labeljs.source.{s}" for s in get_args(FrameSource)}
    used |= {f"labelhow.{h}" for h in get_args(LabelHow)}
    assert {"labeljs.saved", "labeljs.error", "labeljs.prefill.labels"} <= used
    assert sorted(used - set(CATALOGUE)) == []
    # the classes the page offers are all worded
    assert sorted(f"class.{c}" for c in MODEL_CLASSES if f"class.{c}" not in CATALOGUE) == []


# --- in Chromium ----------------------------------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path, template_db: Path, password_hash: str) -> Iterator[tuple[World, str]]:
    with served_world(tmp_path / "svc", template_db, password_hash) as site:
        yield site


@pytest.fixture
def page(browser: Browser, site: tuple[World, str]) -> Iterator[Page]:
    """Signed in through the sign-in form, in a fresh context; no JavaScript errors allowed."""
    with signed_in(browser, site[1], OPERATOR) as pg:
        yield pg


def open_frame(pg: Page, frame_id: int) -> None:
    pg.wait_for_selector(f"#labeller[data-state=ready][data-frame='{frame_id}']")


def boxes_on_page(pg: Page) -> list[str]:
    return [g.get_attribute("data-label") or "" for g in pg.locator("#overlay g.box").all()]


def screen(pg: Page, x: float, y: float, width: int = 640, height: int = 360) -> tuple[float, float]:
    """A point of the frame (its pixels) on the screen."""
    r: Any = pg.locator("#overlay").bounding_box()
    return r["x"] + x * r["width"] / width, r["y"] + y * r["height"] / height


def drag(pg: Page, a: tuple[float, float], b: tuple[float, float]) -> None:
    pg.mouse.move(*screen(pg, *a))
    pg.mouse.down()
    for k in range(1, 6):  # a real drag: several moves
        pg.mouse.move(*screen(pg, a[0] + (b[0] - a[0]) * k / 5, a[1] + (b[1] - a[1]) * k / 5))
    pg.mouse.up()


@needs_chromium
def test_draw_class_and_save_with_enter_then_the_next_frame(page: Page, site: tuple[World, str]) -> None:
    world, _url = site
    ids = pool_frames(world.state, 3)
    pg = page
    pg.goto("/label")
    open_frame(pg, ids[-1])  # the newest first
    pg.wait_for_function("() => document.getElementById('frame-img').naturalWidth === 640")
    assert boxes_on_page(pg) == ["stall", "goods"]  # the model's detections, pre-filled
    assert "已载入模型检测结果" in pg.locator("#prefill-note").inner_text()
    assert pg.locator("#history-list").inner_text() == "尚无标注记录"

    drag(pg, (20, 20), (100, 90))  # on empty space: a new box of the next class (1: stall)
    assert boxes_on_page(pg) == ["stall", "goods", "stall"]
    assert pg.locator("#overlay g.box.sel").get_attribute("data-i") == "2"
    pg.keyboard.press("2")  # the selected box becomes goods
    assert boxes_on_page(pg) == ["stall", "goods", "goods"]
    # move the pre-filled goods box by dragging it, resize the stall by its corner
    drag(pg, (460, 260), (470, 250))
    pg.click("#overlay g.box[data-i='0'] rect.body", position={"x": 5, "y": 5})
    drag(pg, (300, 320), (320, 340))
    OUT.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(OUT / "label.png"), full_page=True)

    pg.keyboard.press("Enter")
    open_frame(pg, ids[-2])
    assert "已保存帧" in pg.locator("#label-flash").inner_text()
    saved = detail(world, ids[-1])
    assert (saved.status, saved.complete, saved.labelled_how) == ("labelled", True, "label")
    assert saved.labelled_by == f"user:{OPERATOR}"
    got = sorted((b.label, tuple(round(v) for v in b.box)) for b in saved.labels or [])
    assert len(got) == 3
    stall, goods_moved, goods_new = (
        next(g for g in got if g[0] == "stall"),
        next(g for g in got if g[0] == "goods" and g[1][0] > 400),
        next(g for g in got if g[0] == "goods" and g[1][0] < 400),
    )
    near = lambda a, b: all(abs(x - y) <= 2 for x, y in zip(a, b, strict=True))  # noqa: E731
    assert near(goods_new[1], (20, 20, 100, 90)), goods_new
    assert near(goods_moved[1], (430, 220, 510, 290)), goods_moved
    assert near(stall[1], (120, 200, 320, 340)), stall
    assert [h.how for h in saved.history] == ["label"]


@needs_chromium
def test_delete_negative_skip_and_the_history(page: Page, site: tuple[World, str]) -> None:
    world, _url = site
    ids = pool_frames(world.state, 3)
    pg = page
    pg.goto("/label")
    open_frame(pg, ids[2])
    pg.click("#overlay g.box[data-i='0'] rect.body", position={"x": 5, "y": 5})  # select the stall
    pg.keyboard.press("Delete")
    assert boxes_on_page(pg) == ["goods"]
    pg.keyboard.press("Enter")
    open_frame(pg, ids[1])
    pg.keyboard.press("0")  # no objects: a clean negative
    open_frame(pg, ids[0])
    assert pg.locator("#label-flash").inner_text() == f"已保存帧 #{ids[1]}：无目标"
    pg.keyboard.press("s")
    pg.wait_for_selector("#labeller[data-state=empty]")
    assert pg.locator("#label-empty").is_visible()

    first, second, third = (detail(world, i) for i in ids)
    assert [(b.label, b.box) for b in third.labels or []] == [("goods", tuple(DETECTIONS[1]["box"]))]
    assert (second.labels, second.complete, second.status) == ([], True, "labelled")
    assert (first.status, first.labels) == ("unlabelled", None)  # skipped: untouched

    # the labelled pool: the newest first, its labels pre-filled, its history with the one that counts
    pg.goto("/label?status=labelled")
    open_frame(pg, ids[2])
    assert boxes_on_page(pg) == ["goods"]
    assert "已载入最近一次标注" in pg.locator("#prefill-note").inner_text()
    row = pg.locator("#history-list li.current")
    assert f"user:{OPERATOR} · 人工标注 · 1 个框 · 当前有效" in row.inner_text()
    pg.keyboard.press("n")  # N: also no objects; a second labelling, the last one counts
    open_frame(pg, ids[1])
    assert [h.how for h in detail(world, ids[2]).history] == ["label", "label"]
    assert detail(world, ids[2]).labels == []


@needs_chromium
def test_the_apis_refusal_is_one_line_naming_the_box(page: Page, site: tuple[World, str]) -> None:
    world, _url = site
    twice = [DETECTIONS[0], DETECTIONS[0]]  # the model reported the same box twice
    with world.session() as s:
        frame, _ = add_frame(
            s,
            store=world.state.store,
            image=street("twice"),
            data=FrameCreate(camera_id="cam-08", source="sample", reason="periodic", detections=twice),
            actor="device:edge-01",
        )
        frame_id = frame.id
    pg = page
    pg.goto("/label?camera=cam-08")
    open_frame(pg, frame_id)
    pg.keyboard.press("Enter")
    error = pg.locator("#label-error")
    error.wait_for(state="visible")
    assert error.inner_text() == "未保存：boxes[1]: the same as boxes[0]"
    assert pg.locator("#overlay g.box.sel").get_attribute("data-i") == "1"  # the box it names
    assert detail(world, frame_id).status == "unlabelled"
    pg.keyboard.press("Backspace")
    pg.keyboard.press("Enter")
    pg.wait_for_selector("#labeller[data-state=empty]")
    assert pg.locator("#label-error").is_hidden()
    assert [b.label for b in detail(world, frame_id).labels or []] == ["stall"]
