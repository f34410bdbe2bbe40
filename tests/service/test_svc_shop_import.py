"""``nce admin import-shops``: a site config, a shops YAML or a CSV into the shop registry, idempotent,
each change a ledger entry, a bad row named and nothing half-imported."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from nce.cli import main as nce_main
from service.models import LedgerEntry, Shop
from tests.support.service_api import Api

ROOT = Path(__file__).resolve().parents[2]

SITE = ROOT / "configs" / "site.example.yaml"


def _shops(api: Api) -> dict[str, Shop]:
    with api.session() as s:
        return {shop.shop_id: shop for shop in s.execute(select(Shop)).scalars()}


def _actions(api: Api) -> list[str]:
    with api.session() as s:
        return [e.action for e in s.execute(select(LedgerEntry).order_by(LedgerEntry.seq)).scalars()]


def _import(api: Api, file: Path, *extra: str) -> int:
    return nce_main(["admin", "import-shops", "--db", api.url, *extra, str(file)])


def test_the_site_config_shops_import_once_then_nothing_changes(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _import(api, SITE) == 0
    assert "1 shop(s): 1 created, 0 updated, 0 unchanged" in capsys.readouterr().out
    shop = _shops(api)["S-0001"]
    assert (shop.name, shop.code, shop.license_no) == ("好又多水果店", "310113-0001", "91310113MA1G000001")
    assert _actions(api).count("shop_created") == 1
    assert _import(api, SITE, "--json") == 0
    assert capsys.readouterr().out.strip() == '{"created": [], "updated": [], "unchanged": ["S-0001"]}'
    assert _actions(api).count("shop_created") == 1 and "shop_updated" not in _actions(api)


def test_a_csv_creates_and_updates_only_what_differs(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _import(api, SITE) == 0
    csv = tmp_path / "shops.csv"
    csv.write_text(
        "id,name,code,contact\n"
        "S-0001,好又多水果店,310113-0001,\n"  # contact cleared; license_no/address not columns: kept
        "S-0002,老王五金,310113-0002,13800000000\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    assert _import(api, csv) == 0
    out = capsys.readouterr().out
    assert "2 shop(s): 1 created, 1 updated, 0 unchanged" in out and "created: S-0002" in out
    shops = _shops(api)
    assert shops["S-0001"].contact is None and shops["S-0001"].license_no == "91310113MA1G000001"
    assert shops["S-0002"].contact == "13800000000"
    with api.session() as s:
        update = s.execute(select(LedgerEntry).where(LedgerEntry.action == "shop_updated")).scalar_one()
    assert update.payload["contact"] is None and update.payload["shop_id"] == "S-0001"
    assert update.actor.startswith("admin-cli:")


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "shops.yaml",
            "- {id: S-1, name: A}\n- {id: S-2}\n",
            "shops[1] (S-2): name: required field is missing",
        ),
        ("shops.yaml", "- {id: S-1, name: A, phone: x}\n", "shops[0] (S-1): phone: unknown field"),
        ("shops.yaml", "- {id: S-1, name: A}\n- {id: S-1, name: B}\n", "shop S-1 again (first at"),
        ("shops.yaml", "shops:\n  - S-1\n", "shops[0]: expected a mapping"),
        ("shops.yaml", "site: {id: x}\n", "expected a list of shops"),
        ("shops.yaml", "[a, b\n", "not valid YAML"),
        ("shops.yaml", "[]\n", "no shops in the file"),
        ("shops.csv", "id,name\nS-1,A\nS-2\n", "line 3: 1 cell(s), the header has 2"),
        ("shops.csv", "id,code\nS-1,1\n", "the CSV header must name shop_id (or id) and name"),
        ("shops.csv", "id,name\nS-1,\n", "line 2 (S-1): name:"),
        ("missing.yaml", None, "missing.yaml: no such file"),
    ],
)
def test_a_bad_file_or_row_is_one_line_and_nothing_is_imported(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str | None, expected: str
) -> None:
    file = tmp_path / name
    if text is not None:
        file.write_text(text, encoding="utf-8")
    assert _import(api, file) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err
    assert err[0].startswith("nce admin: error:") and "Traceback" not in err[0]
    assert _shops(api) == {} and "shop_created" not in _actions(api)


def test_several_bad_rows_are_each_named(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "shops.yaml"
    file.write_text("- {id: S-1, name: A}\n- {id: S-2}\n- {id: S-3, name: ''}\n", encoding="utf-8")
    assert _import(api, file) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].endswith("shops[1] (S-2): name: required field is missing")
    assert "shops[2] (S-3): name:" in err[1]
    assert "2 bad rows" in err[2] and "nothing imported" in err[2]
    assert _shops(api) == {}


def test_a_database_error_midway_leaves_nothing(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.crud.shops import add_shop as real

    calls = 0

    def add_then_fail(session, **kw):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("disk full")
        return real(session, **kw)

    monkeypatch.setattr("service.shop_import.add_shop", add_then_fail)
    file = tmp_path / "shops.yaml"
    file.write_text("- {id: S-1, name: A}\n- {id: S-2, name: B}\n", encoding="utf-8")
    assert _import(api, file) == 70
    assert _shops(api) == {} and "shop_created" not in _actions(api)
