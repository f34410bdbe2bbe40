"""``nce config check``: a near-miss key gets "did you mean"; a camera with an unknown key still has
its zones checked against the shop list (every problem in one run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from detector.config import SiteConfig
from detector.config.near_miss import did_you_mean, keys_at
from tests.support.cli import nce

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "configs" / "site.example.yaml"


def _example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize(
    ("loc", "hint"),
    [
        (("cameras", 0, "detect_fsp"), "; did you mean `detect_fps`?"),
        (("model", "ioux"), "; did you mean `iou`?"),
        (("cameras", 0, "zones", 1, "shopid"), "; did you mean `shop_id`?"),
        (("cameras", 0, "zones", 0, "exemptions", 0, "form"), "; did you mean `from`?"),  # an alias
        (("uplink", "token_fle"), "; did you mean `token_file`?"),  # an optional section
        (("rules", 0, "min_dwell"), "; did you mean `min_dwell_s`?"),
        (("cameras", 0, "colour"), ""),  # nothing close
        (("site", 0), ""),
    ],
)
def test_did_you_mean(loc: tuple[int | str, ...], hint: str) -> None:
    assert did_you_mean(SiteConfig, loc) == hint


def test_keys_at_follows_lists_and_optionals() -> None:
    assert "detect_fps" in keys_at(SiteConfig, ("cameras", 3, "x"))
    assert "token_file" in keys_at(SiteConfig, ("uplink", "x"))
    assert keys_at(SiteConfig, ("site", "id", "x")) == []


def test_a_broken_camera_still_has_its_zones_checked(tmp_path: Path) -> None:
    data = _example()
    data["cameras"][0]["detect_fsp"] = 2
    data["cameras"][0]["zones"][0]["shop_id"] = "S-9999"
    f = tmp_path / "site.yaml"
    f.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    res = nce("config", "check", "--no-files", str(f))
    assert res.returncode == 2
    assert res.stderr.splitlines() == [
        f"{f}: cameras[0].detect_fsp: unknown key (not part of the site config); did you mean `detect_fps`?",
        f"{f}: cameras[0].zones[0].shop_id: unknown shop 'S-9999' (shops: S-0001)",
        f"{f}: 2 problem(s)",
    ]
