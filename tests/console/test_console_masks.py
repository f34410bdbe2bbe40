"""The console's two dismissal reasons (误检: hard negatives, may propose a mask; 非违规: a plain
dismissal) and the learned-masks page (屏蔽区, ``/masks``): over HTTP (roles, CSRF, a reason to
reject, filters) and in real Chromium against a real uvicorn server (the still with the proposed
polygon and the dismissed boxes in SVG, A accepts, R + Enter rejects, the YAML download). A
screenshot goes to ``test-output/console/masks.png``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, Page
from sqlalchemy import select

from detector.config.masks import Mask
from service import ledger
from service.crud.masks import recompute
from service.masks import MaskRules
from service.models import FrameLabel, LedgerEntry, MaskProposal
from tests.support.chromium import OUT, needs_chromium, signed_in
from tests.support.console import PASSWORD, Client, World, csrf_of, served_world, sign_in
from tests.support.masks import dismissal

PLACE = (300.0, 200.0, 360.0, 300.0)


def post_form(client: Any, url: str, data: dict[str, str], page: str = "/masks", **kw: Any) -> Any:
    token = csrf_of(client.get(page, **kw).text)
    return client.post(url, data={"csrf": token, **data}, follow_redirects=False, **kw)


def proposals(w: World, n: int = 1) -> list[int]:
    """``n`` proposals of cam-05 (ad_board; three dismissed cases each, at places far apart)."""
    for k in range(n):
        x = 40.0 + 200 * k
        for case_id in (100 * k + 1, 100 * k + 2, 100 * k + 3):
            dismissal(w.state, case_id=case_id, box=(x, 200.0, x + 60, 300.0))
    with w.session() as s:
        return recompute(s, MaskRules()).created


def status_of(w: World, proposal_id: int) -> str:
    with w.session() as s:
        row = s.get(MaskProposal, proposal_id)
        assert row is not None
        return row.status


# --- the two dismissal reasons ---------------------------------------------------------------------


def test_false_detection_and_not_a_violation_are_two_reasons(world: Client) -> None:
    w, client = world
    sign_in(client)
    page = client.get(f"/cases/{w.cases['ad']}").text
    chips = re.findall(r'name="reason_code" value="([a-z_]+)"[^>]*data-key="(\d)">\d · ([^<]+)<', page)
    assert chips[:2] == [
        ("false_detection", "1", "误检：画面中无此目标"),
        ("not_violation", "2", "非违规：目标属实但不违规"),
    ]
    r = post_form(client, f"/cases/{w.cases['ad']}/review", {"decision": "dismiss", "reason_code": "not_violation",
                                                             "reason": "节日活动"}, page="/")  # fmt: skip
    assert r.status_code == 303
    r = post_form(client, f"/cases/{w.cases['newest']}/review", {"decision": "dismiss", "reason_code": "false_detection"},
                  page="/")  # fmt: skip
    assert r.status_code == 303
    with w.session() as s:
        hard = s.execute(select(FrameLabel.case_id).where(FrameLabel.how == "review_dismiss")).scalars().all()
        reviews = {
            e.case_id: e.payload
            for e in s.execute(select(LedgerEntry).where(LedgerEntry.action == "case_reviewed")).scalars()
        }
        assert ledger.verify(s).ok
    assert set(hard) == {w.cases["newest"]} and len(hard) == 3  # its three raw stills, none of the other
    assert reviews[w.cases["newest"]]["false_detection"] is True
    assert reviews[w.cases["newest"]]["reason"] == "误检：画面中无此目标"
    assert "false_detection" not in reviews[w.cases["ad"]]
    assert reviews[w.cases["ad"]]["reason"] == "非违规：目标属实但不违规；节日活动"
    en = client.get(f"/cases/{w.cases['ad']}?lang=en").text
    assert "Not a violation: the object is real; 节日活动" in en


def test_the_reason_recorded_before_the_split_is_still_named(world: Client) -> None:
    w, client = world
    sign_in(client)
    case_id = w.cases["ad"]
    assert post_form(client, f"/cases/{case_id}/review", {"decision": "dismiss", "reason": "非违规/误检"},
                     page="/").status_code == 303  # fmt: skip
    en = client.get(f"/cases/{case_id}?lang=en").text
    assert "Reason: Not a violation / false detection" in en and 'title="非违规/误检"' in en
    assert 'value="false_detection"' in client.get(f"/cases/{w.cases['newest']}").text
    assert "reason_legacy" not in client.get(f"/cases/{w.cases['newest']}").text  # never offered again


# --- the page over HTTP ----------------------------------------------------------------------------


def test_operators_see_proposals_but_cannot_decide(world: Client) -> None:
    w, client = world
    (pid,) = proposals(w)
    sign_in(client)
    r = client.get("/masks")
    assert r.status_code == 200
    assert '<a href="/masks" id="nav-masks" class="on">屏蔽区</a>' in r.text
    assert f'id="mask-{pid}"' in r.text and "#1</a> <a" in r.text and "3 起案件" in r.text
    assert 'href="/api/v1/masks.yaml?camera_id=cam-05"' in r.text
    assert "accept-btn" not in r.text and "reject-btn" not in r.text
    assert "只有主管可以采纳或驳回屏蔽区。" in r.text
    assert re.search(r'<polygon class="proposed" points="[0-9., ]+"', r.text)
    assert len(re.findall(r'<rect class="dismissed"', r.text)) == 3
    assert re.search(r'<img src="/api/v1/frames/\d+/image"', r.text)
    refused = post_form(client, f"/masks/{pid}/accept", {})
    assert refused.status_code == 403 and "只有主管可以采纳或驳回屏蔽区" in refused.text
    refused = post_form(client, f"/masks/{pid}/reject", {"reason": "不对"})
    assert refused.status_code == 403
    assert status_of(w, pid) == "proposed"
    # the YAML download with the console's cookie
    text = client.get("/api/v1/masks.yaml?camera_id=cam-05").text
    assert yaml.safe_load(text) == []
    en = client.get("/masks?lang=en")
    assert "Learned masks" in en.text and "Only a supervisor may accept or reject a mask." in en.text


def test_a_supervisor_accepts_and_rejects_with_a_reason(world: Client, password_hash: str) -> None:
    w, client = world
    first, second = proposals(w, 2)
    w.user("supervisor", "sup1", password_hash)
    sign_in(client, "sup1", PASSWORD)
    page = client.get("/masks").text
    assert page.count("accept-btn") == 2 and page.count('name="reason" class="reject-reason"') == 2
    # CSRF as every form
    r = client.post(f"/masks/{first}/accept", data={"csrf": "forged"}, follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text and status_of(w, first) == "proposed"
    # a rejection needs a reason: the page again, with the message
    r = post_form(client, f"/masks/{second}/reject?status=proposed", {"reason": "   "})
    assert r.status_code == 422 and "驳回必须填写理由。" in r.text and status_of(w, second) == "proposed"
    r = post_form(client, f"/masks/{first}/accept?status=proposed", {})
    assert (
        r.status_code == 303 and r.headers["location"] == f"/masks?status=proposed&done=accepted&id={first}"
    )
    assert f"已采纳屏蔽区建议 #{first}。" in client.get(r.headers["location"]).text
    r = post_form(client, f"/masks/{second}/reject", {"reason": "真实广告牌，需要执法"})
    assert r.status_code == 303 and status_of(w, second) == "rejected"
    again = post_form(client, f"/masks/{first}/reject", {"reason": "x"})
    assert again.status_code == 409 and f"屏蔽区建议 #{first} 已被处理" in again.text
    missing = post_form(client, "/masks/9999/accept", {})
    assert missing.status_code == 404
    done = client.get("/masks?status=rejected").text
    assert "真实广告牌，需要执法" in done and "user:sup1" in done and "accept-btn" not in done
    with w.session() as s:
        actions = [e.action for e in s.execute(select(LedgerEntry).order_by(LedgerEntry.seq)).scalars()]
        assert ledger.verify(s).ok
    assert actions[-2:] == ["mask_accepted", "mask_rejected"]
    masks = [
        Mask.model_validate(m) for m in yaml.safe_load(client.get("/api/v1/masks.yaml?camera_id=cam-05").text)
    ]
    assert [m.classes for m in masks] == [["ad_board"]]


@pytest.mark.parametrize(
    ("query", "shown"),
    [("status=deleted", "status=deleted"), ("camera=../etc", "camera='../etc'")],
)
def test_a_bad_filter_is_one_line(world: Client, query: str, shown: str) -> None:
    _w, client = world
    sign_in(client)
    r = client.get(f"/masks?{query}")
    assert r.status_code == 422 and f"筛选条件无效：{shown}" in r.text.replace("&#39;", "'")


# --- in Chromium ----------------------------------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path, template_db: Path, password_hash: str) -> Iterator[tuple[World, str]]:
    with served_world(tmp_path / "svc", template_db, password_hash, users=[("supervisor", "sup1")]) as site:
        yield site


@pytest.fixture
def page(browser: Browser, site: tuple[World, str]) -> Iterator[Page]:
    """A supervisor signed in through the sign-in form; no JavaScript errors allowed."""
    with signed_in(browser, site[1], "sup1", accept_downloads=True) as pg:
        yield pg


@needs_chromium
def test_the_mask_page_in_chromium(page: Page, site: tuple[World, str]) -> None:
    world, url = site
    first, second = proposals(world, 2)
    pg = page
    pg.click("#nav-masks")
    pg.wait_for_url(re.compile(r"/masks$"))
    card = pg.locator(f"#mask-{first}")
    img = card.locator("img")
    img.wait_for()
    pg.wait_for_function(f"() => document.querySelector('#mask-{first} img').naturalWidth === 640")
    # the overlay lies on the picture and the polygon covers the dismissed feet
    pic, svg = card.locator(".mask-pic img").bounding_box(), card.locator("svg.mask-overlay").bounding_box()
    assert pic and svg and abs(pic["width"] - svg["width"]) < 1 and abs(pic["height"] - svg["height"]) < 1
    poly = card.locator("polygon.proposed").bounding_box()
    feet = [c.bounding_box() for c in card.locator("circle.foot").all()]
    assert poly and len(feet) == 3
    for f in feet:
        assert f is not None
        cx, cy = f["x"] + f["width"] / 2, f["y"] + f["height"] / 2
        assert poly["x"] <= cx <= poly["x"] + poly["width"] and poly["y"] <= cy <= poly["y"] + poly["height"]
    OUT.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(OUT / "masks.png"), full_page=True)
    # the newest proposal is first and selected: J moves to the other one, A accepts it
    ids = [a.get_attribute("data-id") for a in pg.locator("article.mask").all()]
    assert ids == [str(second), str(first)]
    assert pg.locator("article.mask.sel").get_attribute("data-id") == str(second)
    pg.keyboard.press("j")
    assert pg.locator("article.mask.sel").get_attribute("data-id") == str(first)
    pg.keyboard.press("a")
    pg.wait_for_selector("#masks-flash")
    assert pg.locator("#masks-flash").inner_text() == f"已采纳屏蔽区建议 #{first}。"
    assert status_of(world, first) == "accepted"
    # R writes the reason, Enter rejects
    pg.keyboard.press("r")
    pg.keyboard.type("真实广告牌")
    pg.keyboard.press("Enter")
    pg.wait_for_function(
        f"() => (document.getElementById('masks-flash') || {{}}).textContent === '已驳回屏蔽区建议 #{second}。'"
    )
    assert status_of(world, second) == "rejected"
    assert pg.locator("#masks-empty").is_visible()
    # the accepted mask, downloaded as YAML from the accepted tab
    pg.click("#mask-tabs a[data-status=accepted]")
    with pg.expect_download() as got:
        pg.click("a.yaml")
    text = Path(got.value.path()).read_text(encoding="utf-8")
    (mask,) = [Mask.model_validate(m) for m in yaml.safe_load(text)]
    with world.session() as s:
        row = s.get(MaskProposal, first)
        assert row is not None and [list(p) for p in mask.polygon] == row.polygon
    assert httpx.get(f"{url}/api/v1/masks.yaml?camera_id=cam-05").status_code == 401  # not without signing in
