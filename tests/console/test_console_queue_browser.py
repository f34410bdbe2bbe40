"""The queue's 现场送达 filter in real Chromium: notices whose shop has no mobile number (the case
flag ``notice_in_person``) are picked from the other cases with one choice in the filter bar; the
choice stays through the status tabs, the next page's link and a case opened from the queue."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from service.crud.case_actions import review_case
from service.models import Case, Shop
from service.schemas.cases import ReviewIn
from tests.support.chromium import CHROMIUM, signed_in
from tests.support.console import OPERATOR, World, served_world
from tests.support.shop_page import SUPERVISOR, notice

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
)


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, template_db: Path, password_hash: str
) -> Iterator[tuple[World, str]]:
    """'prior' (S-0001, no phone on file) noticed: in person; 'ad' (S-0002, a mobile) noticed: SMS."""
    with served_world(tmp_path_factory.mktemp("queue"), template_db, password_hash, seeded=True) as (w, url):
        with w.session() as s:
            shop = s.get(Shop, "S-0002")
            assert shop is not None
            shop.contact = "店长 13800138000"
            s.commit()
            review_case(
                s, principal=SUPERVISOR, case_id=w.cases["ad"], data=ReviewIn(decision="confirm"),
                legal=w.state.legal, store=w.state.store,
            )  # fmt: skip
        notice(w, "prior")
        notice(w, "ad")
        yield w, url


@pytest.fixture
def page(browser: Browser, site: tuple[World, str]) -> Iterator[Page]:
    with signed_in(browser, site[1], OPERATOR, start="/") as pg:
        yield pg


def shown(pg: Page) -> list[int]:
    return [int(r.get_attribute("data-case") or 0) for r in pg.locator("tr.row").all()]


def test_the_in_person_filter_picks_the_notices_to_hand_over(page: Page, site: tuple[World, str]) -> None:
    w, _url = site
    pg = page
    pg.goto("/?status=all")
    everything = shown(pg)
    assert {w.cases["prior"], w.cases["ad"]} <= set(everything) and len(everything) > 2
    assert pg.locator("#queue-delivery option:checked").inner_text() == "不限"
    pg.select_option("#queue-delivery", label="现场送达")
    with pg.expect_navigation():
        pg.click("form.filters button[type=submit]")
    assert "delivery=in_person" in pg.url
    assert shown(pg) == [w.cases["prior"]]  # the SMS notice and the cases without one are left out
    assert pg.locator("#queue-delivery option:checked").inner_text() == "现场送达"
    # the status tabs keep the filter: the notice's status tab shows it, the drafts' shows none
    with w.session() as s:
        case = s.get(Case, w.cases["prior"])
        assert case is not None and "notice_in_person" in case.flags
        status = case.status
    pg.click(f'nav.tabs a[data-status="{status}"]')
    assert "delivery=in_person" in pg.url and shown(pg) == [w.cases["prior"]]
    pg.click('nav.tabs a[data-status="draft"]')
    assert "delivery=in_person" in pg.url and shown(pg) == []
    # a case opened from the filtered queue keeps it (its links back carry it)
    pg.goto("/?status=all&delivery=in_person")
    pg.click(f'tr.row[data-case="{w.cases["prior"]}"] a.case-link')
    pg.wait_for_url(re.compile(rf"/cases/{w.cases['prior']}"))
    assert "delivery%3Din_person" in pg.url
    assert "无手机号：告知书需现场送达" in pg.content()
