"""Files generated from the site-config models, so that they cannot drift from the code.

- ``docs/site-config.schema.json``: the JSON Schema of :class:`SiteConfig` (titles, descriptions,
  defaults, examples); ``nce config schema`` prints it.
- ``configs/site.full.yaml``: every key, each under its description as a comment. Required keys and
  optional sections show the field's example; every other key shows its default.

``python -m detector.config.generate`` writes both (under ``--root``, default the working directory);
with ``--check`` it writes nothing and exits 1 when a committed file differs from what it would write.
"""

from __future__ import annotations

import argparse
import datetime as dt
import enum
import json
import re
import sys
import textwrap
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from detector.config.site import SiteConfig

SCHEMA_FILE = Path("docs") / "site-config.schema.json"
REFERENCE_FILE = Path("configs") / "site.full.yaml"
_WIDTH = 100

_HEADER = """\
# Every key the site config accepts. GENERATED from the models in detector/config/ by
# `python -m detector.config.generate`: edit the models, not this file. The keys of
# site.example.yaml are the contract (never renamed); the others are NCE's optional additions.
# Required keys and optional sections show an example; every other key shows its default.

"""


def site_config_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`SiteConfig` (written to docs/site-config.schema.json)."""
    schema = SiteConfig.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://nce.example/schemas/site-config.json"
    return schema


def schema_text() -> str:
    """The exact text of docs/site-config.schema.json (``nce config schema`` prints it)."""
    return json.dumps(site_config_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def reference_yaml() -> str:
    """The exact text of configs/site.full.yaml."""
    sections = [_model_lines(SiteConfig, name, field, 0) for name, field in SiteConfig.model_fields.items()]
    return _HEADER + "\n".join("\n".join(lines) + "\n" for lines in sections)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model class of ``Model`` or ``Model | None``, else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        models = [m for a in get_args(annotation) if (m := _model_of(a)) is not None]
        if len(models) == 1:
            return models[0]
    return None


def _default(field: FieldInfo) -> Any:
    return field.get_default(call_default_factory=True)


def _model_lines(owner: type[BaseModel], name: str, field: FieldInfo, indent: int) -> list[str]:
    """The comment and the ``key: value`` line(s) of one field of ``owner``, at ``indent``."""
    if not field.description:
        raise ValueError(f"{owner.__name__}.{name} has no description")
    key = field.alias or name
    section = _model_of(field.annotation)
    item = _model_of(get_args(field.annotation)[0]) if get_origin(field.annotation) is list else None
    if section is not None:
        note = " (optional section; default: null)" if field.default is None else ""
        body = _fields(section, indent + 2)
    elif item is not None:  # one example item: "- " before its first key, its comments by the dash
        note = "" if field.is_required() else f" (default: {_flow(_default(field))})"
        lines = _fields(item, indent + 4)
        first = next(i for i, line in enumerate(lines) if not line.lstrip().startswith("#"))
        dash = " " * (indent + 2)
        body = [dash + line.lstrip() for line in lines[:first]]
        body += [dash + "- " + lines[first].lstrip(), *lines[first + 1 :]]
    elif (
        field.examples and isinstance(ex := field.examples[0], list) and any(isinstance(v, dict) for v in ex)
    ):
        note = f" (default: {_flow(_default(field))})"  # a list of names and mappings: block style
        body = []
        for entry in ex:  # in order; a mapping's keys under its dash
            lines = (
                [f"{k}: {_flow(v)}" for k, v in entry.items()] if isinstance(entry, dict) else [_flow(entry)]
            )
            body += [" " * (indent + 2) + "- " + lines[0], *(" " * (indent + 4) + x for x in lines[1:])]
    else:
        value, note = _shown(owner, name, field)
        return [*_comment(field.description + note, indent), " " * indent + f"{key}: {_flow(value)}"]
    if field.is_required():
        note = " (required)"
    return [*_comment(field.description + note, indent), " " * indent + f"{key}:", *body]


def _fields(model: type[BaseModel], indent: int) -> list[str]:
    return [line for n, f in model.model_fields.items() for line in _model_lines(model, n, f, indent)]


def _shown(owner: type[BaseModel], name: str, field: FieldInfo) -> tuple[Any, str]:
    """The value a scalar key shows (its example, else its default) and the note on it."""
    if field.examples:
        value = field.examples[0]
        if field.is_required():
            return value, " (required)"
        default = _flow(_default(field))
        return value, "" if _flow(value) == default else f" (default: {default})"
    if field.is_required():
        raise ValueError(f"{owner.__name__}.{name} is required but has no example")
    return _default(field), ""


def _comment(text: str, indent: int) -> list[str]:
    pad = " " * indent + "# "
    return textwrap.wrap(
        text, width=_WIDTH, initial_indent=pad, subsequent_indent=pad, break_on_hyphens=False
    )


_QUOTE = re.compile(r"^[\d\s:.+-]*$")  # times, phone numbers, codes: quoted for every YAML reader


def _flow(value: Any) -> str:
    """One value in YAML flow style."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.time):
        return json.dumps(value.strftime("%H:%M"))
    if isinstance(value, enum.Enum):
        return _flow(value.value)
    if isinstance(value, Path):
        return _flow(str(value))
    if isinstance(value, str):
        plain = not _QUOTE.match(value) and yaml.safe_load(f"k: {value}") == {"k": value}
        return value if plain else json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    raise TypeError(f"no YAML form for {value!r}")


def generated_files() -> dict[Path, str]:
    """Each generated file (relative to the repository root) and its exact text."""
    return {SCHEMA_FILE: schema_text(), REFERENCE_FILE: reference_yaml()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m detector.config.generate",
        description="write docs/site-config.schema.json and configs/site.full.yaml from the models",
    )
    parser.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for rel, text in generated_files().items():
        path = args.root / rel
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        stale.append(rel)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if args.check and stale:
        for rel in stale:
            print(f"{rel}: stale; run python -m detector.config.generate", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
