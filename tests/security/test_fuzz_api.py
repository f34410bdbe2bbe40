"""The whole API under fuzzing, on SQLite and on PostgreSQL, for every role: never a 5xx.

Two parts:

- schemathesis generates requests from the OpenAPI document (more examples for the write routes);
- hand-written Hypothesis strategies feed nasty values (huge integers, times near
  year 1 and 9999, control characters and lone surrogates, deep nesting, strings at and over every
  bound of ``nce.bounds``, non-finite numbers, wrong types) into one slot of an otherwise valid
  request: each path, query and header parameter, each field of each JSON body and each field of a
  signed evidence manifest. The operations and their slots come from the OpenAPI document, so a new
  route is fuzzed without being listed here.

(Hypothesis is driven directly: schemathesis' pytest plugin does not run on this pytest.)
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nce import bounds
from nce.manifest import (
    Manifest,
    ManifestError,
)
from tests.security.schema_walk import leaves
from tests.service.test_svc_roles import ROLES, build_world
from tests.support.devices import DeviceHandle
from tests.support.manifests import sign_raw
from tests.support.service_api import PASSWORD

READ_EXAMPLES = 4  # per operation and role, from the schema: the machine has two cores
WRITE_EXAMPLES = 12
NASTY_EXAMPLES = 30  # per operation: one nasty value in one slot, every role
PLACEHOLDER = "@@nasty@@"
FUTURE = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()


def _settings(n: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )


# --- the schema-driven part ---------------------------------------------------------------------


def test_schemathesis_finds_no_server_error_for_any_role(api):
    build_world(api)
    headers = {role: api.headers(role) for role in ROLES}
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        examples = READ_EXAMPLES if operation.method.upper() == "GET" else WRITE_EXAMPLES

        @given(case=operation.as_strategy())
        @_settings(examples)
        def run(case: Any) -> None:
            nonlocal calls
            for role in ROLES:
                h = dict(headers[role])
                if not (case.headers or {}).get("Idempotency-Key"):
                    h["Idempotency-Key"] = uuid.uuid4().hex  # a fresh one: a repeat would answer early
                response = case.call(headers=h)
                calls += 1
                if response.status_code >= 500:
                    failures.append(
                        f"{role}: {case.method} {case.formatted_path} -> {response.status_code}: "
                        f"{response.text[:200]}"
                    )

        run()
    print(f"\n{calls} schema fuzz calls")
    assert not failures, "\n".join(failures[:20])


# --- the nasty values ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Nasty:
    """One bad value: ``raw`` as it appears in a JSON text, ``text`` in a URL or header."""

    raw: str
    text: str

    @staticmethod
    def of(value: Any) -> Nasty:
        raw = json.dumps(value, ensure_ascii=True)
        return Nasty(raw, value if isinstance(value, str) else raw)


CONTROLS = ["\x00", "\r\n", "\n", "\t", "\x1b", "\x7f", "\x85", "\ud800", "\udfff", "\u2028", "\ufeff"]
BOUNDS = [
    bounds.ID_MAX,
    bounds.HIT_ID_MAX,
    bounds.LABEL_MAX,
    bounds.NAME_MAX,
    bounds.CODE_MAX,
    bounds.ADDRESS_MAX,
    bounds.CONTACT_MAX,
    bounds.MIME_MAX,
    bounds.TEXT_MAX,
    bounds.IDEMPOTENCY_KEY_MAX,
    bounds.CURSOR_MAX,
    255,
]
LENGTHS = sorted({n + d for n in BOUNDS for d in (0, 1)} | {100_000})
INTS = [2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63, -(2**63) - 1, 10**30, 0, -1]
TIMES = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999-12:00",
    "9999-12-31T23:59:59Z",
    "1899-12-31T23:59:59Z",
    "3000-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "10000-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-11-26T08:00:00",
    "2026-11-26T08:00:00.000Z",
]


def _deep(n: int, kind: str) -> Nasty:
    raw = "[" * n + "]" * n if kind == "list" else '{"a":' * n + "1" + "}" * n
    return Nasty(raw, raw[:2000])


nasty_values = st.one_of(
    st.sampled_from(INTS).map(Nasty.of),
    st.integers(min_value=-(2**70), max_value=2**70).map(Nasty.of),
    st.just(Nasty("9" * 5000, "9" * 5000)),
    st.just(Nasty("-" + "9" * 5000, "-" + "9" * 5000)),
    st.sampled_from(TIMES).map(Nasty.of),
    st.datetimes(
        min_value=dt.datetime(1, 1, 2),
        max_value=dt.datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [dt.UTC, dt.timezone(dt.timedelta(hours=14)), dt.timezone(-dt.timedelta(hours=12))]
        ),
    ).map(lambda t: Nasty.of(t.isoformat())),
    st.builds(
        lambda a, c, b: Nasty.of(a + c + b),
        st.text("aZ9-", max_size=3),
        st.sampled_from(CONTROLS),
        st.text("aZ9", max_size=3),
    ),
    st.builds(
        lambda n, c: Nasty.of(c * n), st.sampled_from(LENGTHS), st.sampled_from(["a", "Z", "9", "-", "名"])
    ),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e308", "1e999", "-0.0"]).map(lambda r: Nasty(r, r)),
    st.sampled_from([(900, "list"), (900, "dict"), (100_000, "list"), (100_000, "dict")]).map(
        lambda a: _deep(*a)
    ),
    st.sampled_from([None, True, [], {}, "", " ", "..", "../../etc/passwd", 'image/jpeg; x="\r\nX: 1"']).map(
        Nasty.of
    ),
)


# --- operations and their slots, from the OpenAPI document -----------------------------------


@dataclass
class Operation:
    method: str
    path: str
    params: list[tuple[str, str]]  # (in, name)
    body: str | None  # "json", "multipart" or None
    body_paths: list[str] = field(default_factory=list)
    open_to_all: bool = False  # no credentials asked: one call, not one per role

    def slots(self) -> list[tuple[str, str]]:
        out = list(self.params)
        out += [("body", p) for p in self.body_paths]
        if self.body == "json":
            out.append(("body", ""))  # the whole body
        return out


def operations(doc: dict[str, Any], manifest_paths: list[str]) -> list[Operation]:
    defs = doc.get("components", {}).get("schemas", {})
    ops = []
    for path, methods in sorted(doc["paths"].items()):
        for method, op in sorted(methods.items()):
            params = [(p["in"], p["name"]) for p in op.get("parameters", []) if p["in"] != "cookie"]
            content = op.get("requestBody", {}).get("content", {})
            found = Operation(method.upper(), path, params, None, open_to_all="security" not in op)
            if "application/json" in content:
                found.body = "json"
                found.body_paths = sorted(
                    {p for p, _ in leaves(content["application/json"]["schema"], defs) if p}
                )
            elif "multipart/form-data" in content:
                found.body, found.body_paths = "multipart", manifest_paths
            ops.append(found)
    return ops


def set_path(doc: Any, path: str, value: Any) -> Any:
    """``doc`` with ``value`` at ``path`` (``a.b[].c``, ``box[0]``; a missing container is made)."""
    if not path:
        return value
    parts = path.replace("[]", ".0").replace("[", ".").replace("]", "").split(".")
    root = doc
    node = root
    for here, nxt in zip(parts, [*parts[1:], None], strict=True):
        key: Any = int(here) if isinstance(node, list) else here
        if nxt is None:
            if isinstance(node, list):
                while len(node) <= key:
                    node.append(None)
            node[key] = value
            break
        child = (
            node[key]
            if (isinstance(node, list) and key < len(node)) or (isinstance(node, dict) and key in node)
            else None
        )
        if not isinstance(child, dict | list):
            child = [] if nxt.isdigit() else {}
            if isinstance(node, list):
                while len(node) <= key:
                    node.append(None)
            node[key] = child
        node = child
    return root


# --- a valid request per operation ------------------------------------------------------------


def baseline_body(op: Operation, world: dict[str, Any]) -> Any:
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/api/v1/auth/login"): {"username": world["username"], "password": PASSWORD},
        ("POST", "/api/v1/hits/events"): {
            "event": "still_present",
            "hit_id": world["hit_id"],
            "site_id": "sh-bs-01",
            "camera_id": "cam-01",
            "zone_id": "z-front-1",
            "shop_id": "S-0001",
            "violation": "out_of_shop_trading",
            "track_id": 7,
            "label": "stall",
            "score": 0.9,
            "box": [1.0, 2.0, 30.0, 40.0],
            "ts": "2026-11-26T12:00:00.000Z",
            "first_seen": "2026-11-26T08:00:00.000Z",
            "last_seen": "2026-11-26T12:00:00.000Z",
            "dwell_s": 60.0,
            "sightings": 9,
        },
        ("POST", "/api/v1/cases/{case_id}/review"): {"decision": "confirm", "reason": "seen"},
        ("POST", "/api/v1/cases/{case_id}/notice"): {"deadline": FUTURE, "note": "please"},
        ("POST", "/api/v1/shops"): {"shop_id": "S-0100", "name": "新店", "code": "c-1"},
        ("PATCH", "/api/v1/shops/{shop_id}"): {"name": "改名", "address": "路 1 号"},
    }
    return json.loads(json.dumps(bodies.get((op.method, op.path), {})))


def baseline_params(world: dict[str, Any]) -> dict[str, str]:
    return {
        "case_id": str(world["draft"]),
        "sha256": world["case_file"],
        "shop_id": "S-0001",
        "status": "draft",
        "violation": "out_of_shop_trading",
        "camera_id": "cam-01",
        "limit": "10",
        "offset": "0",
        "since": "2026-01-01T00:00:00Z",
        "until": "2027-01-01T00:00:00Z",
    }


def json_text(doc: Any, path: str, nasty: Nasty) -> bytes:
    text = json.dumps(set_path(doc, path, PLACEHOLDER), ensure_ascii=False)
    return text.replace(json.dumps(PLACEHOLDER), nasty.raw).encode("utf-8", "surrogatepass")


def manifest_bytes(dev: DeviceHandle, doc: dict[str, Any], path: str, nasty: Nasty) -> bytes:
    """The manifest with the nasty value, signed when it can be (so that it gets past the
    signature check to the checks and the database behind it)."""
    try:
        value = json.loads(nasty.raw)
        return sign_raw(dev.key, set_path(doc, path, value))
    except (ValueError, TypeError, RecursionError, ManifestError):  # not JSON, or not canonical JSON
        return json_text(doc, path, nasty)


def query_string(params: dict[str, str]) -> str:
    return "&".join(
        f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}" for k, v in params.items()
    )


def test_nasty_values_in_every_slot_never_give_a_server_error(api):
    world = build_world(api)
    admin = api.user("admin", username="admin-fuzz")
    world |= {"username": "admin-fuzz", "hit_id": "hit-fuzz-1"}
    role_headers = {role: api.headers(role) for role in ROLES if role != "device"}
    role_headers["admin"] = admin
    doc = api.client.app.openapi()
    schema = Manifest.model_json_schema(mode="validation")
    manifest_paths = sorted({p for p, _ in leaves(schema, schema.get("$defs", {})) if p})
    client = TestClient(api.client.app, raise_server_exceptions=False)  # a server error is a 500 here
    failures: list[str] = []
    calls = refused = 0

    for op in operations(doc, manifest_paths):
        slots = op.slots()
        if not slots:
            continue

        @given(slot=st.sampled_from(slots), nasty=nasty_values)
        @_settings(NASTY_EXAMPLES)
        def run(op: Operation, slot: tuple[str, str], nasty: Nasty) -> None:
            nonlocal calls, refused
            where, name = slot
            params = baseline_params(world)
            path_values = {n: params.get(n, "x") for i, n in op.params if i == "path"}
            query = {n: params[n] for i, n in op.params if i == "query" and n in params}
            headers: dict[str, str] = {}
            if where == "path":
                path_values[name] = nasty.text
            elif where == "query":
                query[name] = nasty.text
            elif where == "header":
                headers[name] = nasty.text
            url = op.path.format(
                **{k: quote(v.encode("utf-8", "surrogatepass"), safe="") for k, v in path_values.items()}
            )
            if query:
                url += "?" + query_string(query)
            dev = api.device()
            pkg = dev.package(advance=False) if op.body == "multipart" else None
            for role in ["anonymous"] if op.open_to_all else ROLES:
                h = {
                    **(dev.headers if role == "device" else role_headers[role]),
                    "Idempotency-Key": uuid.uuid4().hex,
                }
                h.update(headers)
                kwargs: dict[str, Any] = {}
                if op.body == "json":
                    body = baseline_body(op, world)
                    kwargs["content"] = (
                        json_text(body, name, nasty) if where == "body" else json.dumps(body).encode()
                    )
                    h["Content-Type"] = "application/json"
                elif pkg is not None:
                    mdoc = json.loads(pkg.manifest_bytes)
                    raw = manifest_bytes(dev, mdoc, name, nasty) if where == "body" else pkg.manifest_bytes
                    parts = pkg.multipart()
                    parts[0] = ("manifest", ("manifest.json", raw, "application/json"))
                    kwargs["files"] = parts
                try:
                    response = client.request(op.method, url, headers=h, **kwargs)
                except (httpx.InvalidURL, httpx.LocalProtocolError, UnicodeEncodeError, ValueError):
                    refused += 1
                    continue  # the client itself refuses to send it (a header with CR LF, say)
                calls += 1
                if response.status_code >= 500:
                    failures.append(
                        f"{role}: {op.method} {op.path} {where}:{name}={nasty.raw[:80]!r} -> "
                        f"{response.status_code}: {response.text[:200]}"
                    )

        run(op)
    print(f"\n{calls} nasty calls ({refused} not sent: the HTTP client refused them)")
    assert not failures, "\n".join(failures[:20])
