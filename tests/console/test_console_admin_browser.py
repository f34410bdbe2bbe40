"""Supervisors' and admins' pages in real Chromium against a real uvicorn server: the audit log (a
filter, the chain status), the export button (the download verifies offline; its 证据清单.html opens
from the extracted zip with every still loaded, and prints to PDF), reviews per operator on the
dashboard, and user management (add a person, reset a password shown once). Screenshots go to
``test-output/console/`` (audit.png, case-export.png, evidence-list.png, dashboard-throughput.png,
users.png)."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from nce.export_verify import verify_export
from tests.support.chromium import CHROMIUM, OUT
from tests.support.console import PASSWORD, World, served_world

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Chromium not found at {CHROMIUM}")


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, template_db: Path, password_hash: str
) -> Iterator[tuple[World, str]]:
    with served_world(
        tmp_path_factory.mktemp("admin-browser"),
        template_db,
        password_hash,
        users=[("supervisor", "sup1"), ("admin", "admin1")],
        seeded=True,
    ) as site:
        yield site


def signed_in(browser: Browser, url: str, username: str) -> Page:
    context = browser.new_context(
        viewport={"width": 1400, "height": 900}, base_url=url, locale="zh-CN", timezone_id="Asia/Shanghai",
        accept_downloads=True,
    )  # fmt: skip
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    pg.goto("/login")
    pg.fill("input[name=username]", username)
    pg.fill("input[name=password]", PASSWORD)
    pg.click("#login-form button[type=submit]")
    pg.wait_for_url(re.compile(r"/(\?.*)?$"))
    return pg


def shot(pg: Page, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(OUT / name), full_page=True)


def test_supervisor_audits_exports_and_sees_throughput(
    browser: Browser, site: tuple[World, str], tmp_path: Path
) -> None:
    world, url = site
    pg = signed_in(browser, url, "sup1")
    # review one case through the page, so the dashboard has an operator's row
    pg.goto(f"/cases/{world.cases['ad']}")
    pg.click("#confirm-btn")
    pg.wait_for_selector("#flash")
    pg.click("#nav-audit")
    pg.wait_for_selector("#chain-status[data-ok='1']")
    pg.select_option("#audit-filters select[name=action]", "case_reviewed")
    pg.click("#audit-filters button[type=submit]")
    pg.wait_for_url(re.compile(r"action=case_reviewed"))
    actions = pg.locator("#audit-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.action)")
    assert actions and set(actions) == {"case_reviewed"}
    shot(pg, "audit.png")

    case_id = world.cases["ad"]
    pg.goto(f"/cases/{case_id}")
    shot(pg, "case-export.png")
    with pg.expect_download() as info:
        pg.click("#export-btn")
    path = tmp_path / "case.zip"
    info.value.save_as(path)
    report = verify_export(path)
    assert report.problems == [] and report.packages
    folder = tmp_path / "x"
    with zipfile.ZipFile(path) as zf:
        zf.extractall(folder)
    listing = pg.context.new_page()
    listing.goto((folder / "证据清单.html").as_uri())
    widths = listing.locator("img").evaluate_all("imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
    assert widths and all(w > 0 for w in widths), widths  # every still loads from the zip itself
    assert "案件 #" in listing.locator("h1").inner_text()
    listing.screenshot(path=str(OUT / "evidence-list.png"), full_page=True)
    listing.pdf(path=str(tmp_path / "list.pdf"), format="A4")
    assert (tmp_path / "list.pdf").read_bytes().startswith(b"%PDF")

    pg.goto("/dashboard")
    row = pg.locator("#throughput tr[data-actor='user:sup1']")
    assert row.locator("td.week").inner_text() == "1" and row.locator("td.confirmed").inner_text() == "1"
    pg.locator("#throughput").scroll_into_view_if_needed()
    shot(pg, "dashboard-throughput.png")
    pg.context.close()


def test_admin_adds_a_person_and_resets_a_password(browser: Browser, site: tuple[World, str]) -> None:
    _world, url = site
    pg = signed_in(browser, url, "admin1")
    pg.click("#nav-users")
    pg.fill("#add-user-form input[name=username]", "newop")
    pg.select_option("#add-user-form select[name=role]", "operator")
    pg.fill("#add-user-form input[name=password]", PASSWORD)
    pg.fill("#add-user-form input[name=repeat]", PASSWORD)
    pg.click("#add-user-btn")
    pg.wait_for_selector("#flash")
    assert pg.locator("tr[data-user='newop']").count() == 1
    pg.click("tr[data-user='newop'] button[data-act='reset']")
    temporary = pg.locator("#temporary-password").inner_text()
    assert len(temporary) >= 16
    shot(pg, "users.png")
    pg.goto("/admin/users")
    assert temporary not in pg.content()  # shown once
    pg.context.close()
