"""Real Chromium for the console's browser tests: Debian's /usr/bin/chromium (``NCE_CHROMIUM`` to
point elsewhere) driven by Playwright, one browser per test module (the ``browser`` fixture in
tests/console/conftest.py); screenshots go to test-output/console/."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = os.environ.get("NCE_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUT = Path(__file__).resolve().parents[2] / "test-output" / "console"

needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
)


@contextmanager
def launched() -> Iterator[Browser]:
    """A headless Chromium, closed afterwards."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def signed_in(
    browser: Browser, url: str, username: str, *, start: str = "/login", **options: Any
) -> Iterator[Page]:
    """A page of a fresh context (1400x900, zh-CN, Asia/Shanghai unless ``options`` say otherwise),
    signed in as ``username`` through the sign-in form (from ``start``, which must lead to it); on a
    clean exit, no JavaScript error may have happened on it."""
    from tests.support.console import PASSWORD

    defaults: dict[str, Any] = {
        "viewport": {"width": 1400, "height": 900},
        "base_url": url,
        "locale": "zh-CN",
        "timezone_id": "Asia/Shanghai",
    }
    context = browser.new_context(**{**defaults, **options})
    try:
        pg = context.new_page()
        pg.set_default_timeout(15_000)
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.goto(start)
        assert "/login" in pg.url, pg.url
        pg.fill("input[name=username]", username)
        pg.fill("input[name=password]", PASSWORD)
        pg.click("#login-form button[type=submit]")
        pg.wait_for_url(re.compile(r"/(\?.*)?$"))
        yield pg
    finally:
        context.close()
    assert not errors, f"JavaScript errors: {errors}"
