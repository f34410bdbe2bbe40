"""The sample package in the manifest contract: what it holds, what it may not, and that every
manifest written before it existed still parses in normal form with the same hash and signature."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nce.manifest import (
    ManifestError,
    NearMiss,
    generate_private_key,
    manifest_hash,
    manifest_json_schema,
    parse_manifest,
    sign_manifest,
    verify_signature,
)
from tests.support.manifests import SAMPLE_FILES, make_manifest, sample_fields, sample_info

ROOT = Path(__file__).resolve().parents[1]
OLD = ROOT / "tests" / "security" / "data" / "old_ledger.json"


def sample_json(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = make_manifest(files=SAMPLE_FILES, **sample_fields()).model_dump(mode="json")
    for path, value in changes.items():
        target = data
        keys = path.split("__")
        for k in keys[:-1]:
            target = target[k]
        target[keys[-1]] = value
    return data


def test_a_signed_sample_round_trips_and_verifies() -> None:
    key = generate_private_key()
    signed = sign_manifest(make_manifest(files=SAMPLE_FILES, **sample_fields()), key)
    raw = signed.to_json_bytes()
    back = parse_manifest(raw)
    assert back == signed and back.kind == "sample" and back.sample is not None
    assert back.sample.detections[back.sample.picked[0]].label == "stall"
    verify_signature(back, key.public_key())
    assert json.loads(raw)["sample"]["reason"] == "low_confidence"


def test_a_hit_package_has_no_sample_member_at_all() -> None:
    data = make_manifest().model_dump(mode="json")
    assert "sample" not in data
    with pytest.raises(ManifestError, match="not in normal form at sample"):
        parse_manifest({**data, "sample": None})


def test_every_manifest_written_before_samples_still_parses_with_its_hash() -> None:
    """Manifests stored by an earlier NCE (tests/security/data/old_ledger.json): same normal form,
    same hash, so their signatures and chains hold."""
    rows = json.loads(OLD.read_text(encoding="utf-8"))["tables"]["hit_events"]
    old = [(json.loads(r["manifest"]), r["manifest_hash"]) for r in rows if r["manifest"]]
    assert len(old) >= 5 and {m["kind"] for m, _ in old} >= {"violation", "cleared", "public_copy"}
    for raw, want in old:
        assert "sample" not in raw
        assert manifest_hash(parse_manifest(raw)) == want


BAD: list[tuple[dict[str, Any], str]] = [
    ({"event": make_manifest().model_dump(mode="json")["event"]}, "evidence of no hit: event must be empty"),
    ({"violation": "street_vending"}, "violation must be empty"),
    ({"zone": make_manifest().model_dump(mode="json")["zone"]}, "zone must be empty"),
    ({"shop_id": "S-1"}, "shop_id must be empty"),
    ({"detections": [{"label": "stall", "score": 0.9, "box": [1, 2, 3, 4], "track_id": None}]}, "detections must be empty"),
    ({"sample": None}, "a sample package needs its sample block"),
    ({"sample__frame": "other.jpg"}, "sample.frame: 'other.jpg' is not among files"),
    ({"sample__frame": "../frame.jpg"}, "sample.frame"),
    ({"sample__picked": [2]}, "sample.picked: [2] are not indexes of sample.detections"),
    ({"sample__reason": "near_miss"}, "sample.near_miss is set exactly when sample.reason is near_miss"),
    ({"sample__reason": "sometimes"}, "sample.reason"),
    ({"sample__width": 0}, "sample.width"),
    ({"sample__extra": 1}, "sample.extra"),
    ({"kind": "violation"}, "sample is set exactly when kind is sample"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "why"), BAD)
def test_bad_sample_manifests_are_refused_naming_the_field(changes: dict[str, Any], why: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(sample_json(**changes))
    assert why in str(info.value)


def test_a_hit_package_without_its_hit_is_refused() -> None:
    data = make_manifest().model_dump(mode="json")
    data["event"] = None
    with pytest.raises(ManifestError, match="a violation package needs event"):
        parse_manifest(data)


def test_a_near_miss_names_its_rule() -> None:
    near = NearMiss(zone_id="z1", violation="street_vending", why="dwell")
    m = make_manifest(files=SAMPLE_FILES, **sample_fields(reason="near_miss", near_miss=near))
    assert parse_manifest(m.to_json_bytes()).sample == sample_info(reason="near_miss", near_miss=near)


def test_the_schema_documents_the_sample_block() -> None:
    schema = manifest_json_schema()
    assert "sample" in schema["properties"] and "sample" not in schema["required"]
    assert set(schema["$defs"]["SampleInfo"]["properties"]) == {
        "reason", "frame", "frame_utc", "frame_index", "width", "height", "score_floor", "detections",
        "picked", "near_miss",
    }  # fmt: skip
    kinds = schema["properties"]["kind"]["enum"]
    assert kinds == ["violation", "cleared", "public_copy", "sample"]
