"""Reading a site config file: YAML → validated :class:`SiteConfig`, every problem reported.

Every problem comes back in one :class:`ConfigError` as ``FILE: cameras[0].zones[1].polygon: why``:
field problems from pydantic, and the cross-section problems of the rest of the file with them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from detector.config.near_miss import did_you_mean
from detector.config.paths import resolve_paths
from detector.config.site import SiteConfig, cross_check
from detector.config.yaml_file import read_site_yaml
from detector.errors import ConfigError, ConfigProblem


def format_loc(loc: Iterable[int | str]) -> str:
    """``("cameras", 0, "zones", 1, "polygon")`` → ``cameras[0].zones[1].polygon``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _pydantic_problems(file: str, exc: ValidationError) -> list[ConfigProblem]:
    problems = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "extra_forbidden":
            msg = "unknown key (not part of the site config)" + did_you_mean(SiteConfig, loc)
        elif not err["type"].startswith("value_error"):
            msg = f"{msg}, got {err.get('input')!r}"
        problems.append(ConfigProblem(file, format_loc(loc), msg))
    return problems


def parse_site_config(data: Any, file: str = "<config>", *, base_dir: Path | None = None) -> SiteConfig:
    """Validate already-parsed YAML/JSON data; raise :class:`ConfigError` with every problem.
    Relative paths are resolved against ``base_dir`` (default: the working directory)."""
    if not isinstance(data, dict):
        raise ConfigError(
            [ConfigProblem(file, "", f"expected a mapping at the top level, got {type(data).__name__}")]
        )
    try:
        config = SiteConfig.model_validate(data)
    except ValidationError as exc:
        problems = _pydantic_problems(file, exc)
        raise ConfigError(problems + _cross_check_the_rest(data, exc, file, problems)) from None
    problems = cross_check(config, file)
    if problems:
        raise ConfigError(problems)
    return resolve_paths(config, Path.cwd() if base_dir is None else base_dir)


def _cross_check_the_rest(
    data: dict[str, Any], exc: ValidationError, file: str, known: list[ConfigProblem]
) -> list[ConfigProblem]:
    """The cross-section problems of a file that also has field problems, so one run lists them all.

    The keys that failed are dropped (their defaults stand in) and the rest is validated again, a few
    rounds at most; list items are never dropped, so every path still points into the file as written.
    Where no valid remainder comes out (a required key failed), only the field problems are reported.
    """
    trial: Any = copy.deepcopy(data)
    for _ in range(4):
        for err in exc.errors():
            loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
            if not loc or not isinstance(loc[-1], str):
                return []
            parent = trial
            for part in loc[:-1]:
                try:
                    parent = parent[part]
                except (KeyError, IndexError, TypeError):
                    return []
            if not isinstance(parent, dict) or loc[-1] not in parent:
                return []
            del parent[loc[-1]]
        try:
            config = SiteConfig.model_validate(trial)
        except ValidationError as again:
            exc = again
            continue
        seen = {(p.path, p.message) for p in known}
        return [p for p in cross_check(config, file) if (p.path, p.message) not in seen]
    return []


def load_site_config(path: str | Path) -> SiteConfig:
    """Read and validate a site config file; its relative paths are relative to its folder."""
    file = str(path)
    p = Path(path)
    if not p.is_file():
        raise ConfigError([ConfigProblem(file, "", "no such file")])
    try:
        data = read_site_yaml(p)
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigProblem(file, "", f"not UTF-8 text ({exc.reason})")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigProblem(file, "", f"not valid YAML: {where}{problem}")]) from None
    return parse_site_config(data, file, base_dir=p.parent)
