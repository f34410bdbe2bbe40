"""The review desk in real Chromium: a fresh reviewer works through 22 demo-like drafts with the
keyboard alone (C, or D and a digit for a reason chip, Enter; a typed note only after clicking into the
box; Esc cancels), each decision moving on to the next draft of the same search; then every recorded
status and reason is checked against the intended one. Then a bulk dismissal picked with X.
Screenshots go to ``test-output/console/``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page

from service import ledger
from service.console.messages import translate
from service.models import Case, LedgerEntry
from tests.console import test_console_browser as chromium
from tests.support.console import SPECS, Spec, World, deliver, make_world, seed
from tests.support.servers import serving

CHROMIUM, shot = chromium.CHROMIUM, chromium.shot
signed_in = chromium.page
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Chromium not found at {CHROMIUM}")

DESK_DRAFTS = 22
VIOLATIONS = ("street_vending", "piled_goods", "illegal_ad", "exposed_garbage")
LABELS = {
    "street_vending": "umbrella",
    "piled_goods": "stall",
    "illegal_ad": "banner",
    "exposed_garbage": "garbage",
}
CHIPS = ["false_detection", "not_violation", "permitted_hours", "self_corrected", "unclear"]


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, template_db: Path, password_hash: str
) -> Iterator[tuple[World, str]]:
    world = make_world(tmp_path_factory.mktemp("desk"), template_db, password_hash)
    with serving(world.app) as url:
        with httpx.Client(base_url=url, timeout=60) as client:
            seed(world, client, list(SPECS))
            for i in range(DESK_DRAFTS):  # each its own camera and zone: its own case
                v = VIOLATIONS[i % len(VIOLATIONS)]
                spec = Spec(v, f"desk-{i:02d}", None, 45 + i, zone_kind="sidewalk", label=LABELS[v])
                world.cases[f"desk-{i:02d}"] = int(
                    deliver(client, world.device, spec, tag=f"desk-{i}")["case_id"]
                )
        yield world, url


@dataclass
class Intent:
    status: str
    reason: str | None


def chip_text(code: str) -> str:
    return translate("zh-CN", f"reason.{code}")


def current_case(pg: Page) -> int:
    m = re.search(r"/cases/(\d+)", pg.url)
    assert m, pg.url
    return int(m.group(1))


def test_twenty_drafts_by_keyboard_alone_without_a_wrong_record(
    signed_in: Page, site: tuple[World, str]
) -> None:
    world, _url = site
    pg = signed_in
    desk_ids = {world.cases[f"desk-{i:02d}"] for i in range(DESK_DRAFTS)}
    # the queue searched to this street's cameras: the desk must never leave it
    pg.goto("/?status=draft&q=desk-")
    assert {int(r.get_attribute("data-case") or 0) for r in pg.locator("tr.row").all()} == desk_ids
    pg.keyboard.press("j")
    pg.keyboard.press("Enter")
    pg.wait_for_url(re.compile(r"/cases/\d+\?queue=status%3Ddraft%26q%3Ddesk-"))
    intents: dict[int, Intent] = {}
    for n in range(DESK_DRAFTS):
        case_id = current_case(pg)
        assert case_id in desk_ids and case_id not in intents, (n, case_id)
        assert pg.locator("#case-status").get_attribute("data-status") == "draft"
        pg.keyboard.press("5")  # a digit before D does nothing
        plan = n % 5
        if plan in (0, 3):  # C confirms
            pg.keyboard.press("c")
            intents[case_id] = Intent("confirmed", None)
        elif plan == 1:  # D, a chip, Enter: the chip's text is the reason
            code = CHIPS[n % len(CHIPS)]
            pg.keyboard.press("d")
            assert pg.locator("#dismiss-form.armed").count() == 1
            pg.keyboard.press(str(CHIPS.index(code) + 1))
            assert pg.locator('button.chip[aria-pressed="true"]').get_attribute("value") == code
            assert pg.locator("#dismiss-reason").input_value() == ""
            if n == 1:
                shot(pg, "desk-armed.png")
            pg.keyboard.press("Enter")
            intents[case_id] = Intent("dismissed", chip_text(code))
        elif plan == 2:  # D, a chip, then into the box (Tab) for a note, Enter
            code = CHIPS[(n + 2) % len(CHIPS)]
            pg.keyboard.press("d")
            pg.keyboard.press(str(CHIPS.index(code) + 1))
            pg.keyboard.press("2")  # another digit changes the pick, never the text
            code = CHIPS[1]
            while pg.evaluate("document.activeElement.id") != "dismiss-reason":
                pg.keyboard.press("Tab")
            pg.keyboard.type("门口 3 号")
            pg.keyboard.press("Enter")
            intents[case_id] = Intent("dismissed", f"{chip_text(code)}；门口 3 号")
        else:  # D, a chip, Esc cancels; then C confirms
            pg.keyboard.press("d")
            pg.keyboard.press("1")
            pg.keyboard.press("Escape")
            assert pg.locator("#dismiss-form.armed").count() == 0
            assert pg.locator('button.chip[aria-pressed="true"]').count() == 0
            pg.keyboard.press("Enter")  # not armed: nothing
            pg.keyboard.press("c")
            intents[case_id] = Intent("confirmed", None)
        if n < DESK_DRAFTS - 1:
            pg.wait_for_function(f"() => !location.pathname.endsWith('/cases/{case_id}')")
            assert f"#{case_id}" in pg.locator("#flash").inner_text()
            assert "queue=status%3Ddraft%26q%3Ddesk-" in pg.url
        else:  # the last one: the page stays, saying the queue is done
            pg.wait_for_selector("#flash")
            assert "队列中已没有待审核案件" in pg.locator("#flash").inner_text()
    shot(pg, "desk-done.png")
    assert set(intents) == desk_ids
    with world.session() as s:
        for case_id, want in intents.items():
            case = s.get(Case, case_id)
            assert case is not None
            assert (case.status, case.review_reason) == (want.status, want.reason), case_id
            assert case.review_reason is None or not re.fullmatch(r"\d+", case.review_reason)
            reviews = s.query(LedgerEntry).filter_by(case_id=case_id, action="case_reviewed").all()
            assert len(reviews) == 1, case_id  # one decision each, never a double submit
            assert reviews[0].payload["reason"] == want.reason
            assert reviews[0].payload.get("false_detection", False) == (want.reason or "").startswith("误检")
        assert ledger.verify(s).ok
    # nothing else was touched
    assert {c for c, i in intents.items() if i.status == "confirmed"} | {
        c for c, i in intents.items() if i.status == "dismissed"
    } == desk_ids


def test_search_and_bulk_dismiss_by_keyboard(signed_in: Page, site: tuple[World, str]) -> None:
    world, _url = site
    pg = signed_in
    pg.fill("#queue-search", "友谊路")  # an address: the shops S-0001 and S-0002
    pg.keyboard.press("Enter")
    pg.wait_for_url(re.compile(r"q=%E5%8F%8B%E8%B0%8A%E8%B7%AF"))
    rows = pg.locator("tr.row")
    ids = [int(r.get_attribute("data-case") or 0) for r in rows.all()]
    assert ids and set(ids) <= {world.cases[k] for k in ("prior", "ad", "newest")}
    drafts = [i for i in ids if i in (world.cases["ad"], world.cases["newest"])]
    pg.locator("body").click(position={"x": 5, "y": 5})
    for _ in drafts:
        pg.keyboard.press("j")
        pg.keyboard.press("x")
    assert pg.locator("input.pick:checked").count() == len(drafts)
    assert pg.locator("#bulk-count").inner_text() == f"已选 {len(drafts)} 件"
    pg.select_option("#bulk-reason", "not_violation")
    pg.click("#bulk-btn")
    pg.wait_for_selector("#bulk-question")
    assert pg.locator("#bulk-question").inner_text() == f"确认驳回以下 {len(drafts)} 件案件？"
    shot(pg, "desk-bulk-confirm.png")
    pg.keyboard.press("Enter")  # the confirm button has the focus
    pg.wait_for_selector("#flash")
    assert f"已批量驳回 {len(drafts)} 件" in pg.locator("#flash").inner_text()
    assert "q=%E5%8F%8B%E8%B0%8A%E8%B7%AF" in pg.url  # back to the same search
    with world.session() as s:
        for i in drafts:
            case = s.get(Case, i)
            assert case is not None and (case.status, case.review_reason) == (
                "dismissed",
                chip_text("not_violation"),
            )
