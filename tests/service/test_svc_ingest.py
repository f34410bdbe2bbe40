"""Ingest of signed packages: filing, merging, idempotency, chain checks."""

from __future__ import annotations

import datetime as dt

from nce.manifest import DerivedFrom
from tests.support.devices import T0, files_for, new_key


def test_first_package_files_a_draft_case_with_party_and_basis(api):
    api.client.post(
        "/api/v1/shops",
        json={
            "shop_id": "S-0001",
            "name": "好又多水果店",
            "code": "310113-0001",
            "license_no": "91310113MA1G000001",
        },
        headers=api.user("supervisor"),
    ).raise_for_status()
    dev = api.device("edge-01")
    pkg = dev.package()
    r = dev.post(api.client, pkg)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body == {
        "hit_id": pkg.manifest.event.hit_id,
        "case_id": 1,
        "case_status": "draft",
        "merged": False,
        "chain_gap": False,
    }
    assert api.state.store.count() == 6  # five files and the manifest, content-addressed
    assert api.state.store.staged_count() == 0
    detail = api.client.get("/api/v1/cases/1", headers=api.user("operator")).json()
    assert detail["case"]["status"] == "draft"
    assert detail["party"]["name"] == "好又多水果店"
    assert detail["legal_basis"]["verified"] is False
    assert detail["shop_history"] == {"prior_cases": [], "first_offence": True}
    [hit] = detail["hits"]
    assert hit["seq"] == 1 and hit["signed"] is True
    names = {f["name"] for f in hit["files"]}
    assert names == set(pkg.files) | {"manifest.json"}
    assert [e["action"] for e in detail["ledger"]] == ["hit_ingested"]
    # the evidence is served by content address, byte for byte
    clip = next(f for f in hit["files"] if f["name"] == "clip.mp4")
    got = api.client.get(clip["url"], headers=api.user("operator"))
    assert got.status_code == 200 and got.content == pkg.files["clip.mp4"][2]
    assert got.headers["content-type"] == "video/mp4"
    metrics = api.client.get("/metrics").text
    assert 'nce_ingest_total{kind="package",result="created"} 1.0' in metrics
    assert 'nce_cases{status="draft"} 1.0' in metrics


def test_idempotency_same_key_same_payload_is_200_same_body(api):
    dev = api.device()
    pkg = dev.package()
    first = dev.post(api.client, pkg, key="k-1")
    again = dev.post(api.client, pkg, key="k-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert api.count("hit_events") == 1 and api.count("cases") == 1


def test_idempotency_same_key_other_payload_is_422(api):
    dev = api.device()
    assert dev.post(api.client, dev.package(), key="k-1").status_code == 201
    other = dev.post(api.client, dev.package(), key="k-1")
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["detail"]
    assert api.count("hit_events") == 1


def test_same_shop_and_violation_merges_into_the_open_case(api):
    a, b = api.device(), api.device()
    r1 = a.post(api.client, a.package(shop_id="S-7"))
    r2 = b.post(api.client, b.package(shop_id="S-7", camera_id="cam-09"))
    r3 = a.post(api.client, a.package(shop_id="S-7", violation="piled_goods"))
    assert r2.json()["merged"] is True and r2.json()["case_id"] == r1.json()["case_id"]
    assert r3.json()["merged"] is False and r3.json()["case_id"] != r1.json()["case_id"]
    case = api.client.get(f"/api/v1/cases/{r1.json()['case_id']}", headers=api.user("operator")).json()[
        "case"
    ]
    assert case["hit_count"] == 2 and case["sightings"] == 2


def test_without_shop_camera_and_zone_decide_the_merge(api):
    dev = api.device()
    r1 = dev.post(api.client, dev.package(shop_id=None, violation="street_vending", zone_id="z-walk"))
    r2 = dev.post(api.client, dev.package(shop_id=None, violation="street_vending", zone_id="z-walk"))
    r3 = dev.post(api.client, dev.package(shop_id=None, violation="street_vending", zone_id="z-road"))
    assert r2.json()["case_id"] == r1.json()["case_id"] and r2.json()["merged"]
    assert r3.json()["case_id"] != r1.json()["case_id"]


def test_a_dismissed_case_is_not_reopened_by_a_new_hit(api):
    dev = api.device()
    c1 = dev.post(api.client, dev.package()).json()["case_id"]
    op = api.user("operator")
    api.client.post(
        f"/api/v1/cases/{c1}/review", json={"decision": "dismiss", "reason": "shadow"}, headers=op
    )
    c2 = dev.post(api.client, dev.package()).json()
    assert c2["case_id"] != c1 and c2["case_status"] == "draft"


def test_chain_gap_is_accepted_and_flagged(api):
    dev = api.device()
    dev.post(api.client, dev.package()).raise_for_status()
    dev.seq += 2  # two manifests lost on the way
    r = dev.post(api.client, dev.package())
    assert r.status_code == 201 and r.json()["chain_gap"] is True
    case = api.client.get(f"/api/v1/cases/{r.json()['case_id']}", headers=api.user("operator")).json()
    assert "chain_gap" in case["case"]["flags"]
    assert [h["chain_gap"] for h in case["hits"]] == [False, True]


def test_replayed_manifest_with_another_key_is_refused(api):
    dev = api.device()
    pkg = dev.package()
    dev.post(api.client, pkg, key="a").raise_for_status()
    r = dev.post(api.client, pkg, key="b")
    assert r.status_code == 422 and "replayed" in r.json()["detail"]


def test_reordered_manifest_is_refused(api):
    dev = api.device()
    p1, p2 = dev.package(), dev.package()
    dev.post(api.client, p2).raise_for_status()  # seq 2 first: a gap, flagged
    r = dev.post(api.client, p1)
    assert r.status_code == 422 and "out of order" in r.json()["detail"]
    assert api.count("hit_events") == 1


def test_broken_link_is_refused(api):
    dev = api.device()
    dev.post(api.client, dev.package()).raise_for_status()
    r = dev.post(api.client, dev.package(prev="ab" * 32))
    assert r.status_code == 422 and "chain break" in r.json()["detail"]


def test_signature_by_another_key_is_401(api):
    dev = api.device()
    r = dev.post(api.client, dev.package(sign_with=new_key()))
    assert r.status_code == 401 and "signature" in r.json()["detail"]
    assert api.count("hit_events") == 0 and api.stored_files() == 0


def test_a_device_may_not_submit_another_devices_manifest(api):
    a, b = api.device(), api.device()
    pkg = a.package()
    r = b.post(api.client, pkg)
    assert r.status_code == 403


def test_public_copy_joins_the_original_case_and_cleared_package_is_kept(api):
    dev = api.device()
    pkg = dev.package()
    case_id = dev.post(api.client, pkg).json()["case_id"]
    pub = dev.package(
        kind="public_copy",
        hit_id=pkg.manifest.event.hit_id,
        files={"still-3-confirmed.jpg": files_for("pub")["still-3-confirmed.jpg"]},
        derived_from=DerivedFrom(package_id=pkg.manifest.package_id, manifest_hash=pkg.hash, method="blur"),
        stills=[],
    )
    r = dev.post(api.client, pub)
    assert r.status_code == 201, r.text
    assert r.json()["case_id"] == case_id
    cleared = dev.package(
        hit_id=pkg.manifest.event.hit_id,
        kind="cleared",
        event="cleared",
        files={"still-1-first_seen.jpg": files_for("empty")["still-1-first_seen.jpg"]},
        stills=[],
    )
    r = dev.post(api.client, cleared)
    assert r.status_code == 201 and r.json()["case_id"] == case_id
    case = api.client.get(f"/api/v1/cases/{case_id}", headers=api.user("operator")).json()
    assert [h["event"] for h in case["hits"]] == ["confirmed", "public_copy", "cleared"]
    assert case["case"]["cleared_at"] is not None


def test_plain_events_update_the_hits_case(api):
    dev = api.device()
    pkg = dev.package(ts=T0)
    case_id = dev.post(api.client, pkg).json()["case_id"]
    ev = {
        "event": "still_present",
        "hit_id": pkg.manifest.event.hit_id,
        "site_id": "sh-bs-01",
        "camera_id": "cam-01",
        "zone_id": "z-front-1",
        "shop_id": "S-0001",
        "violation": "out_of_shop_trading",
        "track_id": 7,
        "label": "stall",
        "score": 0.9,
        "box": [1, 2, 3, 4],
        "ts": "2026-11-26T12:00:00.000Z",
        "first_seen": "2026-11-26T08:00:00.000Z",
        "last_seen": "2026-11-26T12:00:00.000Z",
        "dwell_s": 14400.0,
        "sightings": 900,
    }
    h = {**dev.headers, "Idempotency-Key": "ev-1"}
    r = api.client.post("/api/v1/hits/events", json=ev, headers=h)
    assert r.status_code == 201 and r.json()["case_id"] == case_id
    assert api.client.post("/api/v1/hits/events", json=ev, headers=h).status_code == 200
    orphan = {**ev, "hit_id": "never-confirmed", "event": "opened"}
    r = api.client.post(
        "/api/v1/hits/events", json=orphan, headers={**dev.headers, "Idempotency-Key": "ev-2"}
    )
    assert r.status_code == 201 and r.json()["case_id"] is None
    bad = api.client.post(
        "/api/v1/hits/events", json={**ev, "extra": 1}, headers={**dev.headers, "Idempotency-Key": "ev-3"}
    )
    assert bad.status_code == 422
    case = api.client.get(f"/api/v1/cases/{case_id}", headers=api.user("operator")).json()["case"]
    assert case["last_seen"].startswith("2026-11-26T12:00:00")
    assert api.count("cases") == 1


def test_times_come_back_in_utc(api):
    dev = api.device()
    ts = T0 + dt.timedelta(hours=3)
    case_id = dev.post(api.client, dev.package(ts=ts)).json()["case_id"]
    case = api.client.get(f"/api/v1/cases/{case_id}", headers=api.user("operator")).json()["case"]
    assert dt.datetime.fromisoformat(case["last_seen"].replace("Z", "+00:00")) == ts


def test_a_device_disabled_while_its_package_is_stored_is_refused(api, monkeypatch):
    # the enrolled key comes with the token's row; under the device's row lock, the row is
    # read again: a device disabled meanwhile (a stolen box) has nothing filed
    from sqlalchemy import func, select

    from service.crud.identities import set_device_enabled
    from service.models import HitEventRow

    dev = api.device("edge-09")
    put_all = api.state.store.put_all

    def put_then_disable(items, known_sha256=None):
        out = put_all(items, known_sha256)
        with api.state.sessions() as s:
            assert set_device_enabled(s, device_id="edge-09", enabled=False, actor="test")
        return out

    monkeypatch.setattr(api.state.store, "put_all", put_then_disable)
    r = dev.post(api.client, dev.package())
    assert r.status_code == 401 and "not enrolled" in r.json()["detail"]
    with api.state.sessions() as s:
        assert s.scalar(select(func.count()).select_from(HitEventRow)) == 0
    monkeypatch.undo()
    assert dev.post(api.client, dev.package()).status_code == 401  # and at the token from now on


def test_every_response_is_counted_by_route_template_and_status(api):
    dev = api.device("edge-10")
    assert dev.post(api.client, dev.package()).status_code == 201
    assert api.client.get("/api/v1/cases/999", headers=api.user("operator")).status_code == 404
    assert api.client.get("/no/such/path").status_code == 404
    too_big = b"x" * (api.state.settings.max_body_bytes + 1)
    assert api.client.post("/api/v1/hits/events", content=too_big).status_code == 413  # BodyLimit's own
    metrics = api.client.get("/metrics").text
    for line in (
        'nce_http_requests_total{method="POST",route="/api/v1/hits",status="201"} 1.0',
        'nce_http_requests_total{method="GET",route="/api/v1/cases/{case_id}",status="404"} 1.0',
        'nce_http_requests_total{method="GET",route="unmatched",status="404"} 1.0',
        'nce_http_requests_total{method="POST",route="unmatched",status="413"} 1.0',
    ):
        assert line in metrics, line


def test_at_most_ingest_slots_packages_are_checked_and_stored_at_once(api, monkeypatch):
    # the bodies are read side by side; the check, the store and the commit of at most
    # settings.ingest_slots at once (here 1, then 3): each put_all is held long enough to overlap
    import threading
    import time

    import anyio

    put_all = api.state.store.put_all
    running, most = 0, 0
    count = threading.Lock()

    def slow_put(items, known_sha256=None):
        nonlocal running, most
        with count:
            running += 1
            most = max(most, running)
        time.sleep(0.2)
        with count:
            running -= 1
        return put_all(items, known_sha256)

    monkeypatch.setattr(api.state.store, "put_all", slow_put)
    devices = [api.device(f"edge-s{i}") for i in range(3)]
    answers: list = []
    for slots in (1, 3):
        api.state.ingest_slots = anyio.Semaphore(slots)
        most = 0
        posts = [
            threading.Thread(target=lambda d=d: answers.append(d.post(api.client, d.package())))
            for d in devices
        ]
        answers.clear()
        for t in posts:
            t.start()
        for t in posts:
            t.join()
        assert [a.status_code for a in answers] == [201] * 3
        assert most == slots if slots == 1 else most > 1, (slots, most)
