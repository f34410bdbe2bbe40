"""Reading a manifest: JSON → a validated :class:`~nce.manifest.Manifest` in normal form, and the
manifest's JSON Schema."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from nce.manifest._canonical import canonical_json
from nce.manifest._errors import ManifestError
from nce.manifest._model import SCHEMA_VERSION, Manifest


def manifest_json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`Manifest` (written to docs/evidence-manifest.schema.json)."""
    schema = Manifest.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://nce.example/schemas/evidence-manifest-v1.json"
    return schema


def manifest_schema_text() -> str:
    """The exact text of docs/evidence-manifest.schema.json (``nce evidence schema`` prints it)."""
    return json.dumps(manifest_json_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def parse_manifest(data: bytes | str | Mapping[str, Any]) -> Manifest:
    """Parse and validate a manifest (bytes, text or a parsed JSON object), in normal form only.

    Raises :class:`ManifestError` with every validation problem on one line.
    """
    if isinstance(data, bytes | str):
        try:
            raw = json.loads(data)
        except ValueError as exc:  # not JSON, not UTF-8, or an integer of more than 4300 digits
            raise ManifestError(f"manifest is not valid JSON: {exc}") from exc
        except RecursionError as exc:  # the decoder recurses once per level: thousands of levels end here
            raise ManifestError("manifest is not valid JSON: nested too deeply") from exc
    else:
        raw = data
    if not isinstance(raw, dict):
        raise ManifestError(f"manifest must be a JSON object, got {type(raw).__name__}")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ManifestError(
            f"unsupported manifest schema_version {version!r} (this NCE reads {SCHEMA_VERSION})"
        )
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "manifest"
            problems.append(f"{loc}: {err['msg']}")
        raise ManifestError("manifest is invalid: " + "; ".join(problems)) from exc
    dumped = manifest.model_dump(mode="json")
    if canonical_json(dumped) != canonical_json(raw):
        where = ", ".join(_differences(dumped, raw)[:5]) or "?"
        raise ManifestError(
            f"manifest is not in normal form at {where} (a field is missing or holds a value of another type)"
        )
    return manifest


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Paths where two JSON values differ (for the normal-form error)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b)):
            sub = f"{path}.{k}" if path else k
            out += [sub] if (k in a) != (k in b) else _differences(a[k], b[k], sub)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _differences(x, y, f"{path}.{i}")
        ]
    if type(a) is not type(b) and not (isinstance(a, int | float) and isinstance(b, int | float)):
        return [path or "manifest"]
    return [] if canonical_json(a) == canonical_json(b) else [path or "manifest"]
