"""detector.config's public surface: ``__all__`` is exactly what the package exports, sorted."""

from __future__ import annotations

import re
import types

import detector.config as config

# Every name imported from detector.config somewhere in NCE (and its tests and benchmarks) today.
USED = [
    "DEFAULT_CONF",
    "Camera",
    "Exemption",
    "Mqtt",
    "Rule",
    "SiteConfig",
    "TimeWindow",
    "Violation",
    "Zone",
    "config_warnings",
    "load_site_config",
    "parse_site_config",
]


def isort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: SCREAMING_SNAKE_CASE, then CamelCase, then the rest."""
    if re.fullmatch(r"[A-Z0-9_]+", name):
        return 0, name
    return (1, name) if name[:1].isupper() else (2, name)


def test_all_is_what_the_package_exports() -> None:
    exported = sorted(
        name
        for name, value in vars(config).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    )
    assert sorted(config.__all__) == exported


def test_all_is_sorted_without_duplicates() -> None:
    assert config.__all__ == sorted(config.__all__, key=isort_key)
    assert len(set(config.__all__)) == len(config.__all__)


def test_names_used_today_still_import() -> None:
    missing = [name for name in USED if name not in config.__all__ or not hasattr(config, name)]
    assert not missing
