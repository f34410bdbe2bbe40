"""Who may do what: a table of endpoint x role -> status, and object ownership."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from tests.support.images import jpeg

ROLES = ["anonymous", "device", "operator", "supervisor", "admin", "case_system"]


@dataclass(frozen=True)
class Upload:
    """A multipart body: an image part and form fields."""

    image: bytes
    fields: dict[str, str]


PEOPLE = {
    "anonymous": 401,
    "device": 403,
    "operator": 200,
    "supervisor": 200,
    "admin": 200,
    "case_system": 403,
}
FUTURE = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()

# (method, path, json body or Upload, {role: expected status}); {case} is a confirmed case, {draft} a
# draft, {frame} a frame in the pool
MATRIX: list[tuple[str, str, object, dict[str, int]]] = [
    (
        "GET",
        "/api/v1/cases",
        None,
        {
            "anonymous": 401,
            "device": 403,
            "operator": 200,
            "supervisor": 200,
            "admin": 200,
            "case_system": 200,
        },
    ),
    (
        "GET",
        "/api/v1/cases/{case}",
        None,
        {
            "anonymous": 401,
            "device": 403,
            "operator": 200,
            "supervisor": 200,
            "admin": 200,
            "case_system": 200,
        },
    ),
    (
        "GET",
        "/api/v1/cases/{draft}",
        None,
        {
            "anonymous": 401,
            "device": 403,
            "operator": 200,
            "supervisor": 200,
            "admin": 200,
            "case_system": 404,
        },
    ),
    (
        "POST",
        "/api/v1/cases/{draft}/review",
        {"decision": "confirm"},
        {
            "anonymous": 401,
            "device": 403,
            "operator": 200,
            "supervisor": 200,
            "admin": 200,
            "case_system": 403,
        },
    ),
    (
        "POST",
        "/api/v1/cases/{case}/notice",
        {"deadline": FUTURE},
        {
            "anonymous": 401,
            "device": 403,
            "operator": 200,
            "supervisor": 200,
            "admin": 200,
            "case_system": 403,
        },
    ),
    (
        "GET",
        "/api/v1/cases/{case}/export",
        None,
        {
            "anonymous": 401,
            "device": 403,
            "operator": 403,
            "supervisor": 200,
            "admin": 200,
            "case_system": 200,
        },
    ),
    (
        "GET",
        "/api/v1/evidence/{case_file}",
        None,
        {
            "anonymous": 401,
            "device": 403,
            "operator": 200,
            "supervisor": 200,
            "admin": 200,
            "case_system": 200,
        },
    ),
    (
        "GET",
        "/api/v1/evidence/{draft_file}",
        None,
        {
            "anonymous": 401,
            "device": 403,
            "operator": 200,
            "supervisor": 200,
            "admin": 200,
            "case_system": 404,
        },
    ),
    (
        "GET",
        "/api/v1/shops",
        None,
        {
            "anonymous": 401,
            "device": 403,
            "operator": 200,
            "supervisor": 200,
            "admin": 200,
            "case_system": 403,
        },
    ),
    (
        "POST",
        "/api/v1/shops",
        {"shop_id": "S-NEW", "name": "新店"},
        {
            "anonymous": 401,
            "device": 403,
            "operator": 403,
            "supervisor": 201,
            "admin": 201,
            "case_system": 403,
        },
    ),
    (
        "PATCH",
        "/api/v1/shops/S-0001",
        {"contact": "021-1"},
        {
            "anonymous": 401,
            "device": 403,
            "operator": 403,
            "supervisor": 200,
            "admin": 200,
            "case_system": 403,
        },
    ),
    (
        "DELETE",
        "/api/v1/shops/S-0001",
        None,
        {
            "anonymous": 401,
            "device": 403,
            "operator": 403,
            "supervisor": 204,
            "admin": 204,
            "case_system": 403,
        },
    ),
    (
        "GET",
        "/api/v1/ledger/verify",
        None,
        {
            "anonymous": 401,
            "device": 403,
            "operator": 403,
            "supervisor": 200,
            "admin": 200,
            "case_system": 403,
        },
    ),
    (
        "GET",
        "/api/v1/auth/me",
        None,
        {
            "anonymous": 401,
            "device": 200,
            "operator": 200,
            "supervisor": 200,
            "admin": 200,
            "case_system": 200,
        },
    ),
    (
        "POST",
        "/api/v1/hits/events",
        {"event": "opened"},
        {
            "anonymous": 401,
            "device": 422,
            "operator": 403,
            "supervisor": 403,
            "admin": 403,
            "case_system": 403,
        },
    ),
    (
        "POST",
        "/api/v1/transparency/checkpoint",
        None,
        {
            "anonymous": 401,
            "device": 403,
            "operator": 403,
            "supervisor": 201,
            "admin": 201,
            "case_system": 403,
        },
    ),
    ("GET", "/api/v1/frames", None, PEOPLE),
    ("GET", "/api/v1/frames?status=unlabelled", None, PEOPLE),
    ("GET", "/api/v1/frames/{frame}", None, PEOPLE),
    ("GET", "/api/v1/frames/{frame}/image", None, PEOPLE),
    (
        "PUT",
        "/api/v1/frames/{frame}/labels",
        {"boxes": [{"label": "stall", "box": [1, 1, 20, 20]}], "complete": True},
        PEOPLE,
    ),
    (
        "POST",
        "/api/v1/frames",
        Upload(jpeg(64, 48, seed=2), {"camera_id": "cam-02"}),
        {**PEOPLE, "operator": 403, "supervisor": 201, "admin": 201},
    ),
    ("GET", "/api/v1/rollouts", None, PEOPLE),
    (
        "GET",
        "/api/v1/devices/me/assignment",
        None,
        {**dict.fromkeys(ROLES, 403), "anonymous": 401, "device": 200},
    ),
    ("GET", "/api/v1/transparency/key", None, dict.fromkeys(ROLES, 200)),
    ("GET", "/api/v1/transparency/consistency?first=1&second=2", None, dict.fromkeys(ROLES, 200)),
    # signed by the SMS gateway, not by a token: no role gets in (403 here: no receipt secret configured)
    (
        "POST",
        "/api/v1/notifications/receipts",
        {"message_id": "m", "status": "delivered"},
        dict.fromkeys(ROLES, 403),
    ),
    ("GET", "/healthz", None, dict.fromkeys(ROLES, 200)),
    ("GET", "/metrics", None, dict.fromkeys(ROLES, 200)),
]


def build_world(api):
    """A confirmed case and a draft case (different shops), and a registered shop."""
    sup = api.user("supervisor")
    api.client.post(
        "/api/v1/shops", json={"shop_id": "S-0001", "name": "好又多"}, headers=sup
    ).raise_for_status()
    dev = api.device()
    confirmed = dev.post(api.client, dev.package(shop_id="S-0001")).json()["case_id"]
    draft = dev.post(api.client, dev.package(shop_id="S-0002")).json()["case_id"]
    api.client.post(
        f"/api/v1/cases/{confirmed}/review", json={"decision": "confirm"}, headers=sup
    ).raise_for_status()
    files = {}
    for key, case_id in (("case_file", confirmed), ("draft_file", draft)):
        hit = api.client.get(f"/api/v1/cases/{case_id}", headers=sup).json()["hits"][0]
        files[key] = hit["files"][1]["sha256"]
    frame = api.client.post(
        "/api/v1/frames",
        files={"image": ("f.jpg", jpeg(64, 48, seed=1), "image/jpeg")},
        data={"camera_id": "cam-01"},
        headers=sup,
    )
    frame.raise_for_status()
    return {"case": confirmed, "draft": draft, **files, "frame": frame.json()["frame_id"]}


@pytest.fixture
def world(api):
    return build_world(api)


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX]
)
def test_role_matrix(api, method, path, body, expected):
    """Each role in turn; a request that changed something gets a fresh world for the next role."""
    world = build_world(api)
    got = {}
    for role in ROLES:
        headers = api.headers(role)
        headers = {**headers, "Idempotency-Key": "m-1"}
        if isinstance(body, Upload):
            files = {"image": ("f.jpg", body.image, "image/jpeg")}
            r = api.client.request(
                method, path.format(**world), files=files, data=body.fields, headers=headers
            )
        else:
            r = api.client.request(method, path.format(**world), json=body, headers=headers)
        got[role] = r.status_code
        if method != "GET" and r.status_code < 300:
            api.reset()
            world = build_world(api)
    assert got == expected


def test_case_system_lists_only_confirmed_cases(api, world):
    listed = api.client.get("/api/v1/cases", headers=api.case_system()).json()["items"]
    assert [c["id"] for c in listed] == [world["case"]]
    drafts = api.client.get("/api/v1/cases?status=draft", headers=api.case_system()).json()["items"]
    assert drafts == []
    everything = api.client.get("/api/v1/cases", headers=api.user("operator")).json()["items"]
    assert {c["id"] for c in everything} == {world["case"], world["draft"]}


def test_session_cookie_and_bearer_login(api):
    from tests.support.service_api import PASSWORD

    api.user("operator", username="alice")
    r = api.client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert "nce_session" in r.cookies
    # the cookie alone signs in (the test client keeps it)
    assert api.client.get("/api/v1/auth/me").json()["name"] == "alice"
    # and so does the bearer token, in a fresh client without cookies
    api.client.cookies.clear()
    assert api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # a forged cookie is refused
    api.client.cookies.set("nce_session", token + ".0000")
    assert api.client.get("/api/v1/auth/me").status_code == 401
    api.client.cookies.clear()
    assert (
        api.client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code
        == 204
    )
    assert api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    bad = api.client.post("/api/v1/auth/login", json={"username": "alice", "password": "wrong password"})
    assert bad.status_code == 401 and bad.json()["detail"] == "wrong username or password"
    nobody = api.client.post("/api/v1/auth/login", json={"username": "nobody", "password": "wrong password"})
    assert nobody.status_code == 401


def test_tokens_are_stored_hashed(api):
    dev = api.device()
    with api.state.engine.connect() as conn:
        from sqlalchemy import text

        stored = conn.execute(text("SELECT token_hash FROM devices")).scalar_one()
    assert dev.token not in stored and len(stored) == 64
