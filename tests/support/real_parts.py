"""Real parts must not silently skip under CI (a pytest plugin; tests/conftest.py loads it).

NCE's tests run against real parts: PostgreSQL, Chromium, ffmpeg, GStreamer's RTSP server, the
OpenCV sample footage (``make data``), the shipped model, the dev and ocr extras. Where one is
missing, its tests skip on a workstation, saying what to install; under CI (``CI=true``) every such
skip is a failure, so that ``make test`` cannot go green without them.

A skip that is legitimate anywhere, CI included (the test needs hardware, privileges or an install
that the CI run does not have), is declared on the test: ``@pytest.mark.optional("reason")``. Only
skips whose message contains one of the marker's reasons stay skips; any other skip of that test
fails under CI like the rest. A module-level ``pytest.skip`` (which skips before any marker is
seen) is a collection error under CI: use ``pytestmark = pytest.mark.skipif(...)`` instead.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

MARKER = "optional"
CI_VALUES = {"1", "true", "yes"}


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in CI_VALUES


def skip_message(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])  # (path, line, "Skipped: why")
    return str(longrepr)


def allowed_reasons(item: pytest.Item) -> list[str]:
    return [str(reason) for mark in item.iter_markers(MARKER) for reason in mark.args]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*reasons): the test may skip even under CI, with a message containing one of the "
        "reasons (hardware, privileges or an install the CI run does not have)",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if not report.skipped or hasattr(report, "wasxfail") or not under_ci():
        return report
    message = skip_message(report)
    if any(reason in message for reason in allowed_reasons(item)):
        return report
    report.outcome = "failed"
    report.longrepr = (
        f"a real part is missing under CI (CI=true), and this test may not skip: {message}\n"
        f"(install it; a skip that is legitimate anywhere is declared with @pytest.mark.{MARKER}(reason))"
    )
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if report.skipped and under_ci():
        report.outcome = "failed"
        report.longrepr = (
            f"a module-level skip under CI (CI=true): {skip_message(report)}\n"
            "(a real part is missing; skip with pytestmark = pytest.mark.skipif(...) so that each test reports)"
        )
    return report
