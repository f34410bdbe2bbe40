"""Reading a site config file within limits, before anything is built from it.

A site config is a few kilobytes of YAML nested a handful of levels (``cameras[0].zones[1].polygon``
is 7). What comes to :func:`read_site_yaml` may be anything: a 50 MB log passed by mistake, YAML
nested 100,000 deep (PyYAML's composer recurses once per level and would die of ``RecursionError``),
or a few lines of anchors and aliases that expand to a billion values when validated. So:

- the size is checked on the file's ``stat`` before a byte is read (and the read stops one byte
  past the limit in case the file grows);
- the depth and the number of values (counting what each alias repeats) are checked event by event
  as the composer takes them from PyYAML's parser, so that a file over a limit stops at the first
  event past it, without recursion and without building anything.

Each limit broken is one :class:`~detector.errors.ConfigProblem` naming the file, what was found and
the limit. Text that is not UTF-8 and YAML that does not parse are left to the caller, which
translates them (``UnicodeDecodeError``, ``yaml.YAMLError``) as for any other file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    Event,
    ScalarEvent,
)

from detector.errors import ConfigError, ConfigProblem

MAX_CONFIG_BYTES = 1 << 20
"""The largest site config file read (1 MiB; the full reference config is about 10 KiB)."""

MAX_CONFIG_DEPTH = 32
"""The deepest nesting of mappings and sequences (a site config needs 7)."""

MAX_CONFIG_VALUES = 500_000
"""The most values (scalars, mappings, sequences), counting every repetition an alias makes: about
what 1 MiB of YAML can hold without aliases."""


class _LimitExceeded(Exception):
    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        self.message = where + message


@dataclass
class _Open:
    """A mapping or sequence being read: values in it so far, depth of its deepest child."""

    anchor: str | None
    values: int = 0
    height: int = 0


@dataclass
class _Budget:
    """Depth and value count of the document so far, with the size of every anchored node."""

    max_depth: int
    max_values: int
    open: list[_Open] = field(default_factory=list)
    values: int = 0
    anchored: dict[str, tuple[int, int]] = field(default_factory=dict)  # anchor -> (values, height)

    def take(self, event: Event) -> None:
        if isinstance(event, DocumentStartEvent):
            self.open = [_Open(anchor=None)]  # the document itself: its node is at depth 0
            self.values = 0
            self.anchored.clear()
        elif isinstance(event, AliasEvent):
            values, height = self.anchored.get(str(event.anchor), (1, 0))  # unknown: the composer says so
            self._add(values, height, event)
        elif isinstance(event, ScalarEvent):
            self._add(1, 0, event)
            if event.anchor is not None:
                self.anchored[event.anchor] = (1, 0)
        elif isinstance(event, CollectionStartEvent):
            depth = len(self.open)
            if depth > self.max_depth:
                raise _LimitExceeded(
                    f"mappings and sequences nested more than {self.max_depth} deep; "
                    f"a site config may nest at most {self.max_depth}",
                    event.start_mark,
                )
            self.open.append(_Open(anchor=event.anchor))
        elif isinstance(event, CollectionEndEvent) and len(self.open) > 1:
            done = self.open.pop()
            values, height = done.values + 1, done.height + 1
            if done.anchor is not None:
                self.anchored[done.anchor] = (values, height)
            self._add(values, height, event, counted=done.values)

    def _add(self, values: int, height: int, event: Event, *, counted: int = 0) -> None:
        """Count a finished node of ``values`` values and ``height`` levels into the open parent
        (``counted`` of them were counted already, as they arrived)."""
        parent = self.open[-1]
        parent.values += values
        parent.height = max(parent.height, height)
        if len(self.open) - 1 + height > self.max_depth:  # an alias of a deep node, placed deep
            raise _LimitExceeded(
                f"mappings and sequences nested more than {self.max_depth} deep (through an alias); "
                f"a site config may nest at most {self.max_depth}",
                event.start_mark,
            )
        self.values += values - counted
        if self.values > self.max_values:
            raise _LimitExceeded(
                f"more than {self.max_values} values (an alias counts as often as it repeats); "
                f"a site config may hold at most {self.max_values}",
                event.start_mark,
            )


class _LimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, checking every event against a :class:`_Budget` as the composer takes
    it, before the composer acts on it (and before it recurses one level deeper)."""

    budget: _Budget

    def get_event(self) -> Any:
        event = super().get_event()  # type: ignore[no-untyped-call]
        self.budget.take(event)
        return event


def read_site_yaml(
    path: Path,
    *,
    max_bytes: int = MAX_CONFIG_BYTES,
    max_depth: int = MAX_CONFIG_DEPTH,
    max_values: int = MAX_CONFIG_VALUES,
) -> Any:
    """The YAML document in ``path`` (a file that exists), read within the limits.

    Raises :class:`ConfigError` (one problem) for a limit broken; lets ``UnicodeDecodeError``,
    ``yaml.YAMLError`` and ``OSError`` through for the caller to translate.
    """
    file = str(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise ConfigError(
            [ConfigProblem(file, "", f"{size} bytes, a site config may be at most {max_bytes}")]
        )
    with path.open("rb") as f:
        raw = f.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ConfigError(
            [
                ConfigProblem(
                    file, "", f"more than {max_bytes} bytes, a site config may be at most {max_bytes}"
                )
            ]
        )
    # newlines as Path.read_text reads them (universal newlines), so marks name the same lines
    text = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8").read()
    loader = _LimitedLoader(text)
    loader.budget = _Budget(max_depth=max_depth, max_values=max_values)
    try:
        return loader.get_single_data()
    except _LimitExceeded as exc:
        raise ConfigError([ConfigProblem(file, "", exc.message)]) from None
    finally:
        loader.dispose()
