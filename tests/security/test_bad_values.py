"""Every value that used to be a 500 is now a 4xx that names the field, on SQLite and on
PostgreSQL, and a refused upload stores nothing.

Each row of the table was a 500 on PostgreSQL (most on SQLite too), or was stored and broke a later
request (the MIME type with CR/LF); the edge relay retried such a 500 for ever. Values, not imports
from ``nce.bounds``, so that the table means the same against any version of the code.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from nce.manifest import sha256_hex
from tests.support.devices import DeviceHandle, files_for
from tests.support.manifests import plain_event, sign_raw

NUL = "\x00"
TABLES = ("hit_events", "evidence_files", "cases", "idempotency_keys", "ledger")


def cursor(before: object) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": before}).encode()).decode().rstrip("=")


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    role: str = "admin"
    json: Any = None
    content: bytes | None = None
    params: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    parts: Callable[[DeviceHandle], list[Any]] | None = None  # a package upload by the device


def package(edit: Callable[[dict[str, Any]], None], files: Any = None) -> Callable[[DeviceHandle], list[Any]]:
    def build(dev: DeviceHandle) -> list[Any]:
        pkg = dev.package(advance=False, files=files)
        doc = json.loads(pkg.manifest_bytes)
        edit(doc)
        parts = pkg.multipart()
        parts[0] = ("manifest", ("manifest.json", sign_raw(dev.key, doc), "application/json"))
        return parts

    return build


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return edit


def _crlf_mime(doc: dict[str, Any]) -> None:
    for f in doc["files"]:
        if f["name"] == "crop.jpg":
            f["mime"] = 'image/jpeg; x="a\r\nX-Evil: 1"'


def _deep_json_file() -> dict[str, tuple[str, str, bytes]]:
    files = files_for("deep")
    files["notes.json"] = ("other", "application/json", b"[" * 100_000 + b"]" * 100_000)
    return files


def _five_thousand_digits(dev: DeviceHandle) -> list[Any]:
    pkg = dev.package(advance=False)
    parts = pkg.multipart()
    raw = pkg.manifest_bytes.replace(b'"sequence":1', b'"sequence":' + b"9" * 5000)
    parts[0] = ("manifest", ("manifest.json", raw, "application/json"))
    return parts


LONG_ID = "c" * 65
HIT_ID_148 = "20261126T080000123Z-" + "c" * 50 + "-" + "z" * 50 + "-out_of_shop_trading-3fa2c1"

# (id, request, expected status, words the answer must hold: the field)
CASES: list[tuple[str, Req, int, str]] = [
    ("cursor-beyond-int64", Req("GET", "/api/v1/cases", params={"cursor": cursor(10**30)}), 422, "cursor"),
    ("cursor-beyond-int32", Req("GET", "/api/v1/cases", params={"cursor": cursor(2**40)}), 422, "cursor"),
    ("cursor-negative", Req("GET", "/api/v1/cases", params={"cursor": cursor(-(2**70))}), 422, "cursor"),
    (
        "since-year-1",
        Req("GET", "/api/v1/cases", params={"since": "0001-01-01T00:00:00+05:00"}),
        422,
        "since",
    ),
    (
        "until-year-9999",
        Req("GET", "/api/v1/cases", params={"until": "9999-12-31T23:59:59-05:00"}),
        422,
        "until",
    ),
    (
        "notice-deadline-year-9999",
        Req("POST", "/api/v1/cases/1/notice", json={"deadline": "9999-12-31T23:59:59-05:00"}),
        422,
        "deadline",
    ),
    (
        "notice-deadline-year-1",
        Req("POST", "/api/v1/cases/1/notice", json={"deadline": "0001-01-01T00:00:00+05:00"}),
        422,
        "deadline",
    ),
    ("shop-name-null", Req("PATCH", "/api/v1/shops/S-0001", json={"name": None}), 422, "name"),
    ("shop-path-nul", Req("GET", "/api/v1/shops/S%001"), 422, "shop_id"),
    ("cases-camera-nul", Req("GET", "/api/v1/cases", params={"camera_id": f"cam{NUL}"}), 422, "camera_id"),
    (
        "shop-name-nul",
        Req("POST", "/api/v1/shops", json={"shop_id": "S-0009", "name": f"a{NUL}b"}),
        422,
        "name",
    ),
    (
        "shop-name-lone-surrogate",
        Req(
            "POST",
            "/api/v1/shops",
            content=b'{"shop_id": "S-0009", "name": "a\\ud800"}',
            headers={"Content-Type": "application/json"},
        ),
        422,
        "name",
    ),
    (
        "login-username-nul",
        Req("POST", "/api/v1/auth/login", role="anonymous", json={"username": f"a{NUL}", "password": "x"}),
        422,
        "username",
    ),
    (
        "event-camera-nul",
        Req("POST", "/api/v1/hits/events", role="device", json=plain_event(camera_id=f"cam{NUL}")),
        422,
        "camera_id",
    ),
    (
        "event-ts-year-9999",
        Req(
            "POST", "/api/v1/hits/events", role="device", json=plain_event(ts="9999-12-31T23:59:59.999-05:00")
        ),
        422,
        "ts",
    ),
    (
        "event-first-seen-year-1",
        Req(
            "POST",
            "/api/v1/hits/events",
            role="device",
            json=plain_event(first_seen="0001-01-01T00:00:00+05:00"),
        ),
        422,
        "first_seen",
    ),
    (
        "event-sightings-beyond-int32",
        Req("POST", "/api/v1/hits/events", role="device", json=plain_event(sightings=2**70)),
        422,
        "sightings",
    ),
    (
        "event-dwell-infinite",
        Req(
            "POST",
            "/api/v1/hits/events",
            role="device",
            content=json.dumps(plain_event(dwell_s=float("inf"))).encode(),
            headers={"Content-Type": "application/json"},
        ),
        422,
        "dwell_s",
    ),
    (
        "manifest-hit-id-148",
        Req("POST", "/api/v1/hits", role="device", parts=package(_set("event.hit_id", HIT_ID_148))),
        422,
        "event.hit_id",
    ),
    (
        "manifest-camera-id-65",
        Req("POST", "/api/v1/hits", role="device", parts=package(_set("camera.id", LONG_ID))),
        422,
        "camera.id",
    ),
    (
        "manifest-zone-id-nul",
        Req("POST", "/api/v1/hits", role="device", parts=package(_set("zone.id", f"z{NUL}"))),
        422,
        "zone.id",
    ),
    (
        "manifest-sequence-beyond-int32",
        Req("POST", "/api/v1/hits", role="device", parts=package(_set("sequence", 2**40))),
        422,
        "sequence",
    ),
    (
        "manifest-5000-digit-integer",
        Req("POST", "/api/v1/hits", role="device", parts=_five_thousand_digits),
        422,
        "manifest",
    ),
    (
        "manifest-event-ts-year-9999",
        Req(
            "POST", "/api/v1/hits", role="device", parts=package(_set("event.ts", "9999-12-31T23:59:59.999Z"))
        ),
        422,
        "event.ts",
    ),
    (
        "manifest-mime-crlf",
        Req("POST", "/api/v1/hits", role="device", parts=package(_crlf_mime)),
        422,
        "mime",
    ),
    (
        "json-file-nested-100k-deep",
        Req("POST", "/api/v1/hits", role="device", parts=package(lambda d: None, files=_deep_json_file())),
        415,
        "notes.json",
    ),
]


def _deep_manifest(dev: DeviceHandle) -> list[Any]:
    parts = dev.package(advance=False).multipart()
    parts[0] = ("manifest", ("manifest.json", b"[" * 100_000 + b"]" * 100_000, "application/json"))
    return parts


# hostile values that were already refused before that: they stay refused (not regressions)
STILL_REFUSED: list[tuple[str, Req, int, str]] = [
    (
        "manifest-nested-100k-deep",
        Req("POST", "/api/v1/hits", role="device", parts=_deep_manifest),
        422,
        "nested",
    ),
    (  # 200 KB: past the JSON routes' body limit before anything parses it
        "body-nested-100k-deep",
        Req(
            "POST",
            "/api/v1/cases/1/review",
            content=b"[" * 100_000 + b"]" * 100_000,
            headers={"Content-Type": "application/json"},
        ),
        413,
        "larger than",
    ),
    (  # within the body limit, nested past the JSON decoder's depth
        "body-nested-16k-deep",
        Req(
            "POST",
            "/api/v1/cases/1/review",
            content=b"[" * 16_000 + b"]" * 16_000,
            headers={"Content-Type": "application/json"},
        ),
        400,
        "parsing the body",
    ),
    (
        "body-5000-digit-integer",
        Req(
            "POST",
            "/api/v1/cases/1/review",
            content=b'{"decision": "confirm", "reason": ' + b"9" * 5000 + b"}",
            headers={"Content-Type": "application/json"},
        ),
        400,
        "parsing the body",
    ),
    ("query-5000-digit-integer", Req("GET", "/api/v1/cases", params={"limit": "9" * 5000}), 422, "limit"),
    ("path-5000-digit-integer", Req("GET", "/api/v1/cases/" + "9" * 5000), 422, "case_id"),
]


@pytest.mark.parametrize(
    ("req", "status", "words"),
    [c[1:] for c in CASES + STILL_REFUSED],
    ids=[c[0] for c in CASES + STILL_REFUSED],
)
def test_named_bad_value_is_a_4xx_naming_the_field(api, req: Req, status: int, words: str):
    api.client.post(
        "/api/v1/shops", json={"shop_id": "S-0001", "name": "好又多"}, headers=api.headers("admin")
    ).raise_for_status()
    dev = api.device()
    headers = dev.headers if req.role == "device" else api.headers(req.role)
    headers = {**headers, "Idempotency-Key": "bad-1", **(req.headers or {})}
    before = {t: api.count(t) for t in TABLES}
    kwargs: dict[str, Any] = {"params": req.params, "headers": headers}
    if req.parts is not None:
        kwargs["files"] = req.parts(dev)
    elif req.content is not None:
        kwargs["content"] = req.content
    elif req.json is not None or req.method in ("POST", "PATCH"):
        kwargs["json"] = req.json
    r = api.client.request(req.method, req.path, **kwargs)
    assert r.status_code == status, r.text[:500]
    assert words in r.text, r.text[:500]
    assert {t: api.count(t) for t in TABLES} == before, "a refused request stored something"
    assert api.stored_files() == 0
    # and the device can still deliver its next package
    assert dev.post(api.client, dev.package()).status_code == 201


def test_a_mime_stored_before_types_were_checked_is_served_as_bytes(api):
    """A row from before (MIME with CR/LF) no longer breaks the download: plain bytes, no injected header."""
    dev = api.device()
    pkg = dev.package()
    assert dev.post(api.client, pkg).status_code == 201
    data = pkg.files["crop.jpg"][2]
    sha = sha256_hex(data)
    with api.state.engine.begin() as conn:
        conn.execute(
            text("UPDATE evidence_files SET mime = :m WHERE sha256 = :s"),
            {"m": 'image/jpeg; x="a\r\nX-Evil: 1"', "s": sha},
        )
    r = api.client.get(f"/api/v1/evidence/{sha}", headers=api.headers("admin"))
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-type"] == "application/octet-stream"
    assert "x-evil" not in r.headers
