"""Write ``data/old_ledger.json``: every table of a database filled by the service as it was BEFORE the
ledger recorded case state (commit 16a481a): a corrected confirm with a notice settled as corrected,
an export, a dismissal, merged hits, plain events that escalate, a chain gap, a public copy, a package
without a case, shop renames and a deletion.

It uses only what both the old and the new service have (the HTTP API, the test factories), so it is
run against the old code::

    git archive 16a481a | tar -x -C /tmp/nce-old
    cd /tmp/nce-old && PYTHONPATH=$PWD python <this checkout>/tests/security/old_ledger_make.py OUT.json

``tests/security/test_ledger_state.py`` loads the rows into a fresh database (SQLite and PostgreSQL)
and checks that verification finds no difference in them (no false alarm on old rows), that it says
what it cannot check, and that it still finds a difference made afterwards.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from nce.manifest import DerivedFrom
from service.app import create_app
from service.crud.case_actions import sweep_deadlines
from service.crud.identities import add_client, add_device
from service.models import AuthSession, Base, User
from service.security import new_token, token_hash
from service.settings import Settings
from tests.support.devices import DeviceHandle, files_for, new_key, pub_b64


def _user(state: Any, role: str, name: str) -> dict[str, str]:
    token = new_token("user")
    with state.sessions() as s:
        user = User(username=name, role=role, password_hash="$argon2id$not-a-real-hash")
        s.add(user)
        s.flush()
        s.add(
            AuthSession(
                user_id=user.id,
                token_hash=token_hash(token),
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
            )
        )
        s.commit()
    return {"Authorization": f"Bearer {token}"}


def _event(pkg: Any, event: str, ts: dt.datetime) -> dict[str, Any]:
    m = pkg.manifest
    t = ts.isoformat().replace("+00:00", "Z")
    return {
        "event": event,
        "hit_id": m.event.hit_id,
        "site_id": m.site.id,
        "camera_id": m.camera.id,
        "zone_id": m.zone.id,
        "shop_id": m.shop_id,
        "violation": m.violation,
        "track_id": 7,
        "label": "stall",
        "score": 0.9,
        "box": [1, 2, 3, 4],
        "ts": t,
        "first_seen": m.event.first_seen,
        "last_seen": t,
        "dwell_s": 600.0,
        "sightings": 10,
    }


def fill(client: TestClient, state: Any) -> None:
    now = dt.datetime.now(dt.UTC)
    sup, op = _user(state, "supervisor", "sup1"), _user(state, "operator", "op1")
    key = new_key()
    with state.sessions() as s:
        # identity changes became ledger entries (with an actor) after 16a481a; this file runs on both
        who = {"actor": "test"} if "actor" in inspect.signature(add_device).parameters else {}
        dev = DeviceHandle(
            "edge-old", key, add_device(s, device_id="edge-old", public_key=pub_b64(key), **who)
        )
        ecase = {"Authorization": f"Bearer {add_client(s, name='ecase', **who)}"}

    def ok(r: Any) -> Any:
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    def post(pkg: Any) -> Any:
        return ok(dev.post(client, pkg))

    for shop_id, name in (("S-0001", "老王水果店"), ("S-0002", "好运便利店"), ("S-0003", "将要注销")):
        ok(
            client.post(
                "/api/v1/shops", json={"shop_id": shop_id, "name": name, "code": shop_id}, headers=sup
            )
        )
    ok(client.patch("/api/v1/shops/S-0002", json={"name": "好运便利店（新）"}, headers=sup))
    ok(client.delete("/api/v1/shops/S-0003", headers=sup))

    # A: confirmed with a corrected violation, a notice, cleared after it, corrected at the deadline
    a_pkg = dev.package(shop_id="S-0001", ts=now - dt.timedelta(hours=2))
    a = post(a_pkg)["case_id"]
    review = {"decision": "confirm", "violation": "street_vending", "reason": "占道"}
    ok(client.post(f"/api/v1/cases/{a}/review", json=review, headers=op))
    deadline = now + dt.timedelta(hours=1)
    ok(
        client.post(
            f"/api/v1/cases/{a}/notice", json={"deadline": deadline.isoformat(), "note": "整改"}, headers=op
        )
    )
    cleared = dev.package(
        hit_id=a_pkg.manifest.event.hit_id, kind="cleared", event="cleared", shop_id="S-0001",
        ts=dt.datetime.now(dt.UTC),  # after the notice, before its deadline: corrected by the sweeper
        files={"still-1-first_seen.jpg": files_for("a-clear")["still-1-first_seen.jpg"]}, stills=[],
    )  # fmt: skip
    post(cleared)
    with state.sessions() as s:
        assert sweep_deadlines(s, now=deadline + dt.timedelta(minutes=1)) == [(a, "corrected")]

    # B: confirmed, a public copy, exported by the case system
    b_pkg = dev.package(shop_id="S-0002")
    b = post(b_pkg)["case_id"]
    ok(client.post(f"/api/v1/cases/{b}/review", json={"decision": "confirm"}, headers=sup))
    pub = dev.package(
        kind="public_copy", hit_id=b_pkg.manifest.event.hit_id, shop_id="S-0002",
        files={"still-3-confirmed.jpg": files_for("b-pub")["still-3-confirmed.jpg"]},
        derived_from=DerivedFrom(package_id=b_pkg.manifest.package_id, manifest_hash=b_pkg.hash, method="blur"),
        stills=[],
    )  # fmt: skip
    post(pub)
    assert client.get(f"/api/v1/cases/{b}/export", headers=ecase).status_code == 200

    # C: no shop, dismissed
    c = post(dev.package(shop_id=None, zone_id="z-side-1", violation="street_vending"))["case_id"]
    ok(client.post(f"/api/v1/cases/{c}/review", json={"decision": "dismiss", "reason": "误检"}, headers=op))

    # D: two hits merged, plain events, a notice, a sighting after the deadline escalates, exported
    d_pkg = dev.package(shop_id="S-0001", violation="piled_goods", ts=now - dt.timedelta(hours=1))
    d = post(d_pkg)["case_id"]
    assert post(dev.package(shop_id="S-0001", violation="piled_goods"))["merged"] is True
    for i, ev in enumerate(("still_present", "still_present")):
        body = _event(d_pkg, ev, now - dt.timedelta(minutes=30 - i))
        ok(
            client.post(
                "/api/v1/hits/events", json=body, headers={**dev.headers, "Idempotency-Key": f"d-{i}"}
            )
        )
    ok(client.post(f"/api/v1/cases/{d}/review", json={"decision": "confirm"}, headers=sup))
    # the deadline is decided on the server's clock only, from signed evidence dated and received
    # after it (the code this file first ran on took an event's own time: a later time escalated)
    d_deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    ok(client.post(f"/api/v1/cases/{d}/notice", json={"deadline": d_deadline.isoformat()}, headers=sup))
    time.sleep(max(0.0, (d_deadline - dt.datetime.now(dt.UTC)).total_seconds()) + 0.2)
    late = dev.package(
        hit_id=d_pkg.manifest.event.hit_id, event="still_present", shop_id="S-0001", violation="piled_goods",
        ts=dt.datetime.now(dt.UTC),
    )  # fmt: skip
    post(late)
    with state.sessions() as s:
        assert sweep_deadlines(s) == [(d, "escalated")]
    assert client.get(f"/api/v1/cases/{d}/export", headers=sup).status_code == 200

    # E: a draft after a chain gap; F: an opened package that has no case
    post(dev.package(shop_id="S-0002", violation="illegal_ad", sequence=dev.seq + 3))
    assert post(dev.package(shop_id="S-0002", event="opened", violation="exposed_garbage"))["case_id"] is None


def dump(state: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with state.engine.connect() as conn:
        for table in [*Base.metadata.sorted_tables]:
            rows = conn.execute(text(f"SELECT * FROM {table.name}")).mappings().all()
            out[table.name] = [{k: v for k, v in r.items()} for r in rows]
    return out


def main(path: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            db_url=f"sqlite:///{tmp}/old.sqlite3", evidence_dir=Path(tmp) / "evidence",
            secret_key="old-ledger-secret-0123456789", sweep_interval_s=0,
        )  # fmt: skip
        app = create_app(settings)
        state = app.state.nce
        with TestClient(app) as client:
            fill(client, state)
        data = dump(state)
        with state.engine.connect() as conn:
            rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    data = {"made_by": "tests/security/old_ledger_make.py on commit 16a481a", "revision": rev, "tables": data}
    Path(path).write_text(
        json.dumps(data, ensure_ascii=False, indent=1, default=str) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main(sys.argv[1])
