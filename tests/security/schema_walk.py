"""Walking a JSON Schema to its scalars (for the bounds test and the fuzz test)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def leaves(
    schema: dict[str, Any], defs: dict[str, Any], path: str = ""
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(path, schema)`` of every scalar in a JSON Schema; ``files[].mime``, ``box[0]``; a union
    gives one leaf per branch (``null`` left out)."""
    if "$ref" in schema:
        yield from leaves(defs[schema["$ref"].split("/")[-1]], defs, path)
        return
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            for branch in schema[key]:
                yield from leaves(branch, defs, path)
            return
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        for name, sub in schema["properties"].items():
            yield from leaves(sub, defs, f"{path}.{name}" if path else name)
    elif kind == "object":
        yield path, schema  # a free-form object: no contract has one
    elif kind == "array":
        for i, sub in enumerate(schema.get("prefixItems", [])):
            yield from leaves(sub, defs, f"{path}[{i}]")
        if "items" in schema:
            yield from leaves(schema["items"], defs, f"{path}[]")
    elif kind != "null":
        yield path, schema
