"""A device cannot reuse a ``package_id``: the second package is refused (422) and nothing of it is
stored; the device's chain stays where it was."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from nce.manifest import DerivedFrom
from tests.security.sec_service import Service
from tests.support.devices import DeviceHandle, Package, files_for


def _later_violation(dev: DeviceHandle, first: Package) -> Package:
    return dev.package(package_id=first.manifest.package_id, advance=False, shop_id="S-other")


def _cleared(dev: DeviceHandle, first: Package) -> Package:
    return dev.package(
        package_id=first.manifest.package_id,
        advance=False,
        kind="cleared",
        event="cleared",
        hit_id=first.manifest.event.hit_id,
        files={"still-1-first_seen.jpg": files_for("empty")["still-1-first_seen.jpg"]},
        stills=[],
    )


def _public_copy(dev: DeviceHandle, first: Package) -> Package:
    return dev.package(
        package_id=first.manifest.package_id,
        kind="public_copy",
        hit_id=first.manifest.event.hit_id,
        files={"still-3-confirmed.jpg": files_for("pub")["still-3-confirmed.jpg"]},
        stills=[],
        derived_from=DerivedFrom(
            package_id=first.manifest.package_id, manifest_hash=first.hash, method="faces blurred"
        ),
    )


@pytest.mark.parametrize(
    "reuse",
    [
        pytest.param(_later_violation, id="by-the-next-violation-package"),
        pytest.param(_cleared, id="by-a-cleared-package"),
        pytest.param(_public_copy, id="by-a-public-copy"),
    ],
)
def test_a_reused_package_id_is_refused_and_stores_nothing(
    case_svc: Service, reuse: Callable[[DeviceHandle, Package], Package]
) -> None:
    dev = case_svc.device()
    first = dev.package()
    assert case_svc.post(dev, first).status_code == 201
    before = case_svc.stored()
    r = case_svc.post(dev, reuse(dev, first))
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "\n" not in detail and detail.startswith("package_id: "), detail
    assert f"{first.manifest.package_id} was used before by this device" in detail, detail
    assert case_svc.stored() == before
    # the chain did not move: the next sequence, with a new id, is taken as the next link
    nxt = case_svc.post(dev, dev.package())
    assert nxt.status_code == 201 and nxt.json()["chain_gap"] is False, nxt.text


def test_another_device_may_use_the_same_package_id(case_svc: Service) -> None:
    """Package ids are per device (the edge names them ``<device>-<sequence>-<kind>``)."""
    a, b = case_svc.device(), case_svc.device()
    first = a.package()
    assert case_svc.post(a, first).status_code == 201
    assert case_svc.post(b, b.package(package_id=first.manifest.package_id)).status_code == 201


def test_a_database_holding_a_reused_package_id_is_not_migrated_silently(tmp_path: Path) -> None:
    """Rows from before the rule: the migration that makes package ids unique names them and stops."""
    from sqlalchemy import text

    from service.db import DatabaseError, make_engine
    from service.migrate import current, upgrade

    engine = make_engine(f"sqlite:///{tmp_path}/old.sqlite3")
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO devices (device_id, public_key, token_hash, enabled, created_at) VALUES ('edge-9', 'k', 't', 1, '2026-11-26 08:00:00')"
            )
        )
        for seq in (1, 2):
            conn.execute(
                text(
                    "INSERT INTO hit_events (device_id, hit_id, event, seq, package_id, violation, camera_id, "
                    "zone_id, ts, chain_gap, received_at) VALUES ('edge-9', 'h', 'confirmed', :seq, 'edge-9-p', "
                    "'piled_goods', 'c', 'z', '2026-11-26 08:00:00', 0, '2026-11-26 08:00:00')"
                ),
                {"seq": seq},
            )
    with pytest.raises(DatabaseError, match=r"edge-9 edge-9-p \(2x\)"):
        upgrade(engine)
    assert current(engine) == "0001"
    engine.dispose()
