"""What the edge can produce the service can store: every contract field is bounded, and each one
that lands in a column fits it.

The contracts are walked through their JSON Schemas (what pydantic enforces shows there as
``maxLength``, ``minimum``, ``maximum``, ``enum``), the columns through SQLAlchemy's metadata.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import Integer, String
from sqlalchemy.orm import InstrumentedAttribute

import service.schemas
from detector.config import SiteConfig
from nce import bounds
from nce.heartbeat import Heartbeat
from nce.hits import HitEvent
from nce.manifest import Manifest
from service.app import create_app
from service.models import (
    Case,
    Device,
    EvidenceFile,
    HitEventRow,
    IdempotencyKey,
    LedgerEntry,
    Shop,
    User,
)
from service.models_fleet import CameraHealthRow
from service.schemas.common import Input
from service.settings import Settings
from tests.security.schema_walk import leaves
from tests.support.servers import service_key_file

INT32 = (-(2**31), 2**31 - 1)


def bounds_of(model: type[BaseModel]) -> dict[str, list[dict[str, Any]]]:
    schema = model.model_json_schema(mode="validation")
    out: dict[str, list[dict[str, Any]]] = {}
    for path, leaf in leaves(schema, schema.get("$defs", {})):
        out.setdefault(path, []).append(leaf)
    return out


def input_models() -> list[type[BaseModel]]:
    """Every request body the service takes: the Input subclasses of service.schemas.*."""
    found: set[type[BaseModel]] = set()
    for info in pkgutil.iter_modules(service.schemas.__path__):
        module = importlib.import_module(f"service.schemas.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Input) and value is not Input:
                found.add(value)
    return sorted(found, key=lambda m: m.__name__)


CONTRACTS: list[type[BaseModel]] = [HitEvent, Manifest, Heartbeat, *input_models()]


def problems_of_leaf(path: str, leaf: dict[str, Any]) -> list[str]:
    kind = leaf.get("type")
    if "enum" in leaf or "const" in leaf:
        return []
    if kind == "string":
        if leaf.get("format") == "date-time" or "maxLength" in leaf:
            return []
        return [f"{path}: a string without maxLength"]
    if kind == "integer":  # those stored in a column are held to its range below
        lo, hi = leaf.get("minimum"), leaf.get("maximum")
        if lo is None or hi is None or lo < -bounds.JSON_INT_MAX or hi > bounds.JSON_INT_MAX:
            return [f"{path}: an integer not within ±(2**53 - 1) (minimum {lo}, maximum {hi})"]
        return []
    if kind in ("number", "boolean"):
        return []
    return [f"{path}: {kind or leaf} is not a bounded scalar"]


@pytest.mark.parametrize("model", CONTRACTS, ids=[m.__name__ for m in CONTRACTS])
def test_every_field_of_every_contract_is_bounded(model: type[BaseModel]):
    problems = [
        p for path, ls in bounds_of(model).items() for leaf in ls for p in problems_of_leaf(path, leaf)
    ]
    assert not problems, "\n".join(problems)


def test_every_request_parameter_is_bounded(tmp_path: Path):
    """Path, query and header parameters of the API, from its OpenAPI document."""
    settings = Settings(
        db_url=f"sqlite:///{tmp_path}/x.sqlite3",
        evidence_dir=tmp_path / "ev",
        secret_key="bounds-test-secret-0123456789",
        service_key_file=service_key_file(tmp_path),
        accept_changed_settings=True,  # the tests share one database (service.replica_settings)
        migrate_on_start=False,
        sweep_interval_s=0,
    )
    doc = create_app(settings).openapi()
    problems = []
    for route, methods in doc["paths"].items():
        for method, op in methods.items():
            for param in op.get("parameters", []):
                schema = param["schema"]
                for _, leaf in leaves(schema, doc.get("components", {}).get("schemas", {})):
                    problems += problems_of_leaf(f"{method.upper()} {route} {param['name']}", leaf)
    assert not problems, "\n".join(problems)


# (contract, field path, the columns it is stored in)
STORED: list[tuple[type[BaseModel], str, list[InstrumentedAttribute[Any]]]] = [
    (HitEvent, "hit_id", [HitEventRow.hit_id]),
    (HitEvent, "event", [HitEventRow.event]),
    (HitEvent, "site_id", []),  # not stored from an event
    (HitEvent, "camera_id", [HitEventRow.camera_id]),
    (HitEvent, "zone_id", [HitEventRow.zone_id]),
    (HitEvent, "shop_id", [HitEventRow.shop_id]),
    (HitEvent, "violation", [HitEventRow.violation]),
    (Manifest, "package_id", [HitEventRow.package_id]),
    (Manifest, "device_id", [Device.device_id, HitEventRow.device_id]),
    (Manifest, "sequence", [HitEventRow.seq, Device.last_seq]),
    (Manifest, "site.id", [Case.site_id]),
    (Manifest, "camera.id", [HitEventRow.camera_id, Case.camera_id]),
    (Manifest, "zone.id", [HitEventRow.zone_id, Case.zone_id]),
    (Manifest, "shop_id", [HitEventRow.shop_id, Case.shop_id]),
    (Manifest, "violation", [HitEventRow.violation, Case.violation]),
    (Manifest, "event.hit_id", [HitEventRow.hit_id]),
    (Manifest, "event.event", [HitEventRow.event]),
    (Manifest, "kind", [HitEventRow.event]),  # a public copy's event is "public_copy"
    (Manifest, "files[].name", [EvidenceFile.name]),
    (Manifest, "files[].role", [EvidenceFile.role]),
    (Manifest, "files[].sha256", [EvidenceFile.sha256]),
    (Manifest, "files[].size", [EvidenceFile.size]),
    (Manifest, "files[].mime", [EvidenceFile.mime]),
    (SiteConfig, "site.id", [Case.site_id]),
    (SiteConfig, "cameras[].id", [Case.camera_id, HitEventRow.camera_id]),
    (SiteConfig, "cameras[].zones[].id", [Case.zone_id, HitEventRow.zone_id]),
    (SiteConfig, "cameras[].zones[].shop_id", [Case.shop_id, HitEventRow.shop_id, Shop.shop_id]),
    (SiteConfig, "device.id", [Device.device_id]),
    (SiteConfig, "rules[].violation", [Case.violation]),
    (SiteConfig, "shops[].id", [Shop.shop_id]),
    (SiteConfig, "shops[].name", [Shop.name]),
    (SiteConfig, "shops[].code", [Shop.code]),
    (SiteConfig, "shops[].license_no", [Shop.license_no]),
    (SiteConfig, "shops[].address", [Shop.address]),
    (SiteConfig, "shops[].contact", [Shop.contact]),
    (service.schemas.shops.ShopCreate, "shop_id", [Shop.shop_id]),
    *[
        (model, field, [getattr(Shop, field)])
        for model in (service.schemas.shops.ShopCreate, service.schemas.shops.ShopUpdate)
        for field in ("name", "code", "license_no", "address", "contact")
    ],
    (service.schemas.auth.LoginIn, "username", [User.username, Case.reviewed_by]),
    (service.schemas.cases.ReviewIn, "violation", [Case.violation]),
    (service.schemas.cases.ReviewIn, "reason", [Case.review_reason]),
    (Heartbeat, "cameras[].id", [CameraHealthRow.camera_id]),
    (Heartbeat, "cameras[].state", [CameraHealthRow.state]),
    (Heartbeat, "cameras[].reconnects", [CameraHealthRow.reconnects]),
]

# columns the service fills itself (counters, states, hashes it computes, keys)
SERVER_MADE = {
    "hit_events": {"id", "manifest_hash", "case_id", "chain_gap", "ts", "received_at", "manifest"}
    | {"clock_offset_ms"},  # the device's measured clock offset (service.fleet)
    "cases": {
        "id",
        "status",
        "original_violation",
        "sightings",
        "hit_count",
        "flags",
        "reviewed_at",
        "notice_issued_at",
        "notice_deadline",
        "cleared_at",
        "last_seen_after_deadline",
        "exported_at",
        "created_at",
        "updated_at",
        "first_seen",
        "last_seen",
    },
    "evidence_files": {"id", "event_id"},
    "shops": {"created_at", "updated_at"},
}


def _limits(leaf: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
    """(max string length, min int, max int) of a leaf."""
    if "enum" in leaf or "const" in leaf:
        values = leaf.get("enum", [leaf.get("const")])
        if all(isinstance(v, str) for v in values):
            return max(len(v) for v in values), None, None
        return None, min(values), max(values)
    return leaf.get("maxLength"), leaf.get("minimum"), leaf.get("maximum")


@pytest.mark.parametrize(
    ("model", "path", "columns"), STORED, ids=[f"{m.__name__}.{p}" for m, p, _ in STORED]
)
def test_each_stored_field_fits_its_columns(model, path, columns):
    found = bounds_of(model)
    assert path in found, f"{model.__name__} has no field {path} (fields: {sorted(found)})"
    for leaf in found[path]:
        longest, least, most = _limits(leaf)
        for col in columns:
            ctype = col.property.columns[0].type
            where = f"{model.__name__}.{path} -> {col}"
            if isinstance(ctype, String) and ctype.length is not None:
                assert longest is not None and longest <= ctype.length, f"{where}: {longest} > {ctype.length}"
            elif isinstance(ctype, Integer):
                assert least is not None and most is not None, f"{where}: unbounded integer"
                assert INT32[0] <= least and most <= INT32[1], f"{where}: {least}..{most} exceeds Integer"


def test_every_column_fed_by_a_contract_is_in_the_table():
    """So the table above cannot miss a column: each one of these tables is either fed by a
    contract field listed there or filled by the service itself."""
    fed = {(c.property.columns[0].table.name, c.key) for _, _, cols in STORED for c in cols}
    for model in (HitEventRow, Case, EvidenceFile, Shop):
        table = model.__table__
        for column in table.columns:
            if column.name in SERVER_MADE[table.name]:
                continue
            assert (table.name, column.name) in fed, (
                f"{table.name}.{column.name}: fed by which contract field?"
            )


def test_what_the_service_builds_from_an_id_fits_too():
    """Principals (``device:<id>``, ``user:<name>``, ``client:<name>``) go into the ledger's actor and
    the Idempotency-Key's principal; the key itself into its column."""
    longest_actor = len("client:") + bounds.ID_MAX
    assert longest_actor <= LedgerEntry.actor.property.columns[0].type.length  # type: ignore[attr-defined]
    assert longest_actor <= IdempotencyKey.principal.property.columns[0].type.length  # type: ignore[attr-defined]
    assert IdempotencyKey.key.property.columns[0].type.length >= bounds.IDEMPOTENCY_KEY_MAX  # type: ignore[attr-defined]


# the bound types themselves: (type, value, accepted)
TYPE_CASES: list[tuple[str, Any, Any, bool]] = [
    ("Id at 64", bounds.Id, "a" * 64, True),
    ("Id at 65", bounds.Id, "a" * 65, False),
    ("Id empty", bounds.Id, "", False),
    ("Id NUL", bounds.Id, "a\x00", False),
    ("Id slash", bounds.Id, "a/b", False),
    ("Id leading dot", bounds.Id, ".a", False),
    ("HitId at 128", bounds.HitId, "h" * 128, True),
    ("HitId at 129", bounds.HitId, "h" * 129, False),
    ("Name at 200", bounds.Name, "名" * 200, True),
    ("Name at 201", bounds.Name, "名" * 201, False),
    ("Name newline", bounds.Name, "a\nb", False),
    ("Name C1 control", bounds.Name, "a\x85b", False),
    ("Name lone surrogate", bounds.Name, "a\ud800", False),
    ("Text newline and tab", bounds.Text, "line 1\n\tline 2", True),
    ("Text NUL", bounds.Text, "a\x00", False),
    ("Text at 2000", bounds.Text, "x" * 2000, True),
    ("Text at 2001", bounds.Text, "x" * 2001, False),
    ("Mime plain", bounds.Mime, "image/jpeg", True),
    ("Mime with parameter", bounds.Mime, "text/plain; charset=utf-8", True),
    ("Mime quoted parameter", bounds.Mime, 'video/mp4; codecs="avc1.64001f"', True),
    ("Mime CR LF in parameter", bounds.Mime, 'image/jpeg; x="a\r\nX-Evil: 1"', False),
    ("Mime without subtype", bounds.Mime, "image", False),
    ("Mime at 101", bounds.Mime, "image/" + "x" * 95, False),
    ("Int32 max", bounds.Int32, 2**31 - 1, True),
    ("Int32 max + 1", bounds.Int32, 2**31, False),
    ("Int32 min - 1", bounds.Int32, -(2**31) - 1, False),
    ("Count negative", bounds.Count, -1, False),
    ("UtcTime naive", bounds.UtcTime, "2026-11-26T08:00:00", False),
    ("UtcTime ok", bounds.UtcTime, "2026-11-26T08:00:00+08:00", True),
    ("UtcTime year 1 with offset", bounds.UtcTime, "0001-01-01T00:00:00+05:00", False),
    ("UtcTime year 9999 with offset", bounds.UtcTime, "9999-12-31T23:59:59-05:00", False),
    ("UtcTime 1900 in UTC", bounds.UtcTime, "1900-01-01T00:00:00Z", True),
    ("UtcTime before 1900 in UTC", bounds.UtcTime, "1900-01-01T04:00:00+05:00", False),
    ("TimeInRange naive", bounds.TimeInRange, "2026-11-26T08:00:00", True),
    ("TimeInRange year 9999", bounds.TimeInRange, "9999-12-31T00:00:00", False),
]


@pytest.mark.parametrize(("kind", "value", "ok"), [c[1:] for c in TYPE_CASES], ids=[c[0] for c in TYPE_CASES])
def test_bound_types(kind, value, ok):
    adapter = TypeAdapter(kind)
    if ok:
        adapter.validate_python(value)
    else:
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


def test_an_aware_time_comes_back_in_utc():
    t = TypeAdapter(bounds.UtcTime).validate_python("2026-11-26T08:00:00+08:00")
    assert t.isoformat() == "2026-11-26T00:00:00+00:00"


# capped_id: (full length, kept as is)
@pytest.mark.parametrize("length", [1, 127, 128, 129, 176, 1000])
def test_capped_id_is_within_the_bound_and_keeps_ids_that_fit(length):
    full = ("20261126T080000123Z-" + "c" * 2000)[:length]
    capped = bounds.capped_id(full)
    assert len(capped) <= bounds.HIT_ID_MAX
    TypeAdapter(bounds.HitId).validate_python(capped)
    if length <= bounds.HIT_ID_MAX:
        assert capped == full
    else:
        assert capped.startswith(full[:100]) and capped != bounds.capped_id(full[:-1] + "d")
