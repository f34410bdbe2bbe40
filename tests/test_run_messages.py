"""What ``nce run`` says about a run that would keep nothing, a camera that never opened, and where
its metrics listen."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import pipelines as pf
from tests.support.cli import nce


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pf.model(tmp_path_factory.mktemp("run_messages") / "colour.onnx")


@pytest.mark.parametrize(
    ("extra", "warned", "metrics_at"),
    [
        ((), True, None),
        (("--out", "out"), False, None),
        (("--metrics-port", "0"), True, "metrics on http://127.0.0.1:"),
        (("--metrics-port", "0", "--metrics-host", "0.0.0.0"), True, "metrics on http://0.0.0.0:"),
    ],
    ids=["nowhere", "out", "metrics-loopback", "metrics-all"],
)
def test_run_messages(
    tmp_path: Path, model: Path, extra: tuple[str, ...], warned: bool, metrics_at: str | None
) -> None:
    config = pf.site_config(tmp_path / "site.yaml", model, [pf.camera("cam-x", "missing.mp4")])
    done = nce("run", "--config", str(config), "--until-eof", *extra, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    nowhere = "no --out and no uplink in "
    assert (nowhere in done.stderr) is warned
    if warned:
        assert (
            "hits are only logged, nothing is kept or delivered (pass --out DIR, or add an uplink"
            in done.stderr
        )
    if metrics_at is not None:
        assert metrics_at in done.stderr
    # the camera that never opened says so in the summary, and why
    assert f"cam-x failed (never opened: no such file {tmp_path / 'missing.mp4'})" in done.stderr
