"""Every ``nce`` sub-command, at any depth, has a description line, and every option's help shows
its default where it has one; the README links only to files in the repository."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from nce.cli import _build_parser, shows_default

ROOT = Path(__file__).resolve().parents[1]


def _commands(
    parser: argparse.ArgumentParser, path: str = "nce"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{path} {name}", sub
                yield from _commands(sub, f"{path} {name}")


COMMANDS = dict(_commands(_build_parser(None)))


def test_the_walk_sees_the_commands() -> None:
    assert {"nce serve", "nce admin import-shops", "nce config check", "nce camera snapshot"} <= set(COMMANDS)
    assert len(COMMANDS) > 40


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_a_description_and_shows_its_defaults(command: str) -> None:
    parser = COMMANDS[command]
    assert parser.description and parser.description.strip(), f"{command}: no description"
    text = " ".join(parser.format_help().split())
    for action in parser._actions:
        if not shows_default(action):
            continue
        formatter = parser._get_formatter()
        shown = formatter._expand_help(action) if action.help else ""
        assert "default" in shown, f"{command} {action.option_strings[0]}: the help does not show the default"
        assert " ".join(shown.split()) in text


def test_an_option_without_help_still_shows_its_default() -> None:
    help_text = " ".join(COMMANDS["nce serve"].format_help().split())
    assert "--port PORT (default: 8000)" in help_text
    assert "--host HOST (default: 127.0.0.1)" in help_text
    # a default of 0 is a default (not a flag's False)
    assert "--seed SEED (default: 0)" in " ".join(COMMANDS["nce data synth"].format_help().split())


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)[^)]*\)|<(https?://[^>]+)>|^\[[^\]]+\]:\s*(\S+)", re.MULTILINE)


@pytest.mark.parametrize(
    "doc", ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
)
def test_docs_link_only_inside_the_repository(doc: str) -> None:
    """A relative link resolves to a file or folder of the repository (never ../ out of it); web
    addresses are allowed (they are not files), absolute file paths are not."""
    path = ROOT / doc
    bad = []
    for match in LINK.finditer(path.read_text(encoding="utf-8")):
        target = next(g for g in match.groups() if g)
        if re.match(r"^(https?|mailto):", target) or target.startswith("#"):
            continue
        file = (path.parent / target.split("#", 1)[0]).resolve()
        if (
            target.startswith("/")
            or target.startswith("file:")
            or not file.is_relative_to(ROOT)
            or not file.exists()
        ):
            bad.append(target)
    # a path written as code that leaves the repository (`../shared/…`) is a link a reader cannot follow
    bad += re.findall(r"`((?:\.\./|/work/|/shared/)[^`]*)`", path.read_text(encoding="utf-8"))
    assert bad == [], f"{doc}: links outside the repository or to nothing: {bad}"
