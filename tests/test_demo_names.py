"""The demo shows names, not ids: its camera has a name and a place for people, and the scenario's
shops are in the service's registry (each a ledger entry) before the edge delivers a package."""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy import select

from detector.config import parse_site_config
from modeling.synth.scenario import site_config
from nce.cli import main as nce_main
from service.db import make_engine, make_sessionmaker
from service.models import LedgerEntry, Shop


def test_the_scenario_camera_has_a_name_and_an_address() -> None:
    config = parse_site_config(site_config("scenario.mp4", "model.onnx"), "site.yaml")
    camera = config.cameras[0]
    assert camera.name == "友谊路 校园路口" and camera.location is not None
    assert camera.location.address and camera.location.lat and camera.location.lon


def test_the_scenarios_shops_import_as_the_demo_imports_them(tmp_path: Path) -> None:
    """``nce demo`` runs ``nce admin import-shops`` on the scenario's site config (tests/test_demo.py
    checks the party on the demo's cases); here the registry and its ledger entries."""
    site = tmp_path / "site.yaml"
    site.write_text(
        yaml.safe_dump(site_config("scenario.mp4", "model.onnx"), allow_unicode=True), encoding="utf-8"
    )
    db = f"sqlite:///{tmp_path / 'nce.sqlite3'}"
    assert nce_main(["admin", "import-shops", "--db", db, str(site)]) == 0
    engine = make_engine(db)
    with make_sessionmaker(engine)() as session:
        shop = session.get(Shop, "S-0001")
        assert shop is not None and shop.name == "好又多水果店" and shop.address == "宝山区 友谊路 100 号"
        actions = [
            (a, who.split(":")[0])
            for a, who in session.execute(select(LedgerEntry.action, LedgerEntry.actor))
        ]
        assert actions == [("shop_created", "admin-cli")]
    engine.dispose()
