"""An export report says OK only when it holds what its OK lines name: the signed checkpoint and every
package's manifest. A report in any other state fails closed, even with no problem listed."""

from __future__ import annotations

import pytest

from nce.export_verify import ExportReport, PackageResult, report_lines


@pytest.mark.parametrize(
    "report",
    [
        ExportReport(path="x.zip"),
        ExportReport(path="x.zip", packages=[PackageResult(folder="packages/a")]),
        ExportReport(path="x.zip", problems=["packages/a: missing file still_1.jpg"]),
    ],
    ids=["no checkpoint", "a package without its manifest", "a problem"],
)
def test_an_incomplete_report_is_not_ok(report: ExportReport) -> None:
    assert not report.ok
    assert report.verified() is None
    lines = report_lines(report)
    assert lines[-1].startswith(f"FAILED: {len(report.problems)} problem(s) in the export")
    assert not any(line.startswith("OK") for line in lines)
