"""The real-parts rule (tests.support.real_parts): under CI=true a skip is a failure unless the test
declares it optional with a reason its skip message contains. Each case runs a tiny test file in a
pytest of its own (pytester), with and without CI."""

from __future__ import annotations

import pytest

CASES: list[tuple[str, str, str, str]] = [
    # (id, test file, outcome on a workstation, outcome under CI: failed or errors, never passed)
    ("passes", "def test_it():\n    assert True\n", "passed", "passed"),
    (
        "skip-in-test",
        "import pytest\n\ndef test_it():\n    pytest.skip('PostgreSQL not reachable')\n",
        "skipped",
        "failed",
    ),
    (
        "skipif-mark",
        "import pytest\n\n@pytest.mark.skipif(True, reason='run make data')\ndef test_it():\n    pass\n",
        "skipped",
        "errors",  # skipif is decided at setup: a failure there is an error
    ),
    (
        "skip-in-fixture",
        "import pytest\n\n@pytest.fixture\ndef pg():\n    pytest.skip('no PostgreSQL')\n\n"
        "def test_it(pg):\n    pass\n",
        "skipped",
        "errors",
    ),
    (
        "importorskip",
        "import pytest\n\ndef test_it():\n    pytest.importorskip('no_such_module_nce')\n",
        "skipped",
        "failed",
    ),
    (
        "optional-matching",
        "import pytest\n\n@pytest.mark.optional('needs a CUDA GPU')\n"
        "def test_it():\n    pytest.skip('needs a CUDA GPU: none here')\n",
        "skipped",
        "skipped",
    ),
    (
        "optional-other-reason",
        "import pytest\n\n@pytest.mark.optional('needs a CUDA GPU')\n"
        "def test_it():\n    pytest.skip('Chromium not found')\n",
        "skipped",
        "failed",
    ),
    (
        "optional-module-mark",
        "import pytest\n\npytestmark = [pytest.mark.optional('a', 'needs root'), "
        "pytest.mark.skipif(True, reason='needs root and mount(8)')]\n\ndef test_it():\n    pass\n",
        "skipped",
        "skipped",
    ),
    (
        "xfail-stays-xfail",
        "import pytest\n\n@pytest.mark.xfail(reason='known')\ndef test_it():\n    assert False\n",
        "xfailed",
        "xfailed",
    ),
    (
        "module-level-skip",
        "import pytest\n\npytest.skip('gst missing', allow_module_level=True)\n\ndef test_it():\n    pass\n",
        "skipped",
        "errors",
    ),
]


@pytest.mark.parametrize("ci", [False, True], ids=["workstation", "CI"])
@pytest.mark.parametrize(("source", "local", "under_ci"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_skips_of_real_parts_fail_only_under_ci(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    local: str,
    under_ci: str,
    ci: bool,
) -> None:
    if ci:
        monkeypatch.setenv("CI", "true")
    else:
        monkeypatch.delenv("CI", raising=False)
    pytester.makeconftest('pytest_plugins = ["tests.support.real_parts"]\n')
    pytester.makepyfile(test_case=source)
    result = pytester.runpytest("-p", "no:cacheprovider")
    outcomes = {k: v for k, v in result.parseoutcomes().items() if k not in ("warnings", "warning")}
    want = under_ci if ci else local
    assert outcomes == {want: 1} or (want == "errors" and outcomes == {"error": 1}), result.stdout.str()
    red = result.ret in (pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.INTERRUPTED)
    assert red is (want in ("failed", "errors")), result.ret  # the run goes red, or it does not
    if ci and want in ("failed", "errors"):
        result.stdout.fnmatch_lines(["*CI=true*"])


@pytest.mark.parametrize(
    ("value", "ci"), [("true", True), ("1", True), ("TRUE", True), ("", False), ("false", False)]
)
def test_what_counts_as_ci(monkeypatch: pytest.MonkeyPatch, value: str, ci: bool) -> None:
    from tests.support.real_parts import under_ci

    monkeypatch.setenv("CI", value)
    assert under_ci() is ci
