"""One owner per vocabulary: ``Violation`` and ``EventKind`` are written out in nce/vocabulary.py only.

Every other module imports them. The scan below finds a second copy anywhere in the product code (a
``Literal[...]``, a tuple, list or set display, or an Enum class body holding the words), so that the
copies cannot drift apart again; it is shown to find the one real definition, so it can fail.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import pytest

from nce.vocabulary import EVENT_KINDS, VIOLATIONS, EventKind, Violation

ROOT = Path(__file__).resolve().parents[1]
OWNER = ROOT / "nce" / "vocabulary.py"
PRODUCT = ("nce", "detector", "service", "benchmarks")


def _strings(nodes: list[ast.expr]) -> frozenset[str]:
    return frozenset(n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str))


def _word_lists(tree: ast.AST) -> list[tuple[int, frozenset[str]]]:
    """(line, strings) of every literal collection of strings: ``Literal[...]`` arguments, tuple /
    list / set displays, and the string values assigned in a class body (an Enum)."""
    found: list[tuple[int, frozenset[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            name = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", "")
            if name == "Literal":
                args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
                found.append((node.lineno, _strings(args)))
        elif isinstance(node, ast.Tuple | ast.List | ast.Set):
            found.append((node.lineno, _strings(node.elts)))
        elif isinstance(node, ast.ClassDef):
            values = [s.value for s in node.body if isinstance(s, ast.Assign | ast.AnnAssign) and s.value]
            found.append((node.lineno, _strings(values)))
    return found


def copies_in(source: str, name: str) -> list[str]:
    """Where ``source`` writes out the violations (two or more of them) or all the event kinds."""
    out: list[str] = []
    for line, words in sorted(set(_word_lists(ast.parse(source, filename=name))), key=lambda f: f[0]):
        if len(words & set(VIOLATIONS)) >= 2:
            out.append(f"{name}:{line}: violations {sorted(words & set(VIOLATIONS))}")
        elif words >= set(EVENT_KINDS):
            out.append(f"{name}:{line}: event kinds {sorted(words)}")
    return out


def copies_of_the_vocabulary(path: Path) -> list[str]:
    return copies_in(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))


def test_the_tuples_are_the_types() -> None:
    assert get_args(Violation) == VIOLATIONS
    assert get_args(EventKind) == EVENT_KINDS
    assert len(set(VIOLATIONS)) == len(VIOLATIONS) == 5
    assert len(set(EVENT_KINDS)) == len(EVENT_KINDS) == 4


def test_the_scan_finds_the_one_definition() -> None:
    """The scan is not blind: it reports the owner's own lists (and nothing else there)."""
    found = copies_of_the_vocabulary(OWNER)
    assert [f.split(": ", 1)[1].split(" ", 1)[0] for f in found] == ["violations", "event"], found


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ('V = Literal["street_vending", "piled_goods"]', True),
        ('V = typing.Literal["illegal_ad", "exposed_garbage", "other"]', True),
        ('KINDS = ("opened", "confirmed", "still_present", "cleared")', True),
        ('VIOLATIONS = ["out_of_shop_trading", "street_vending"]', True),
        ('class V(StrEnum):\n    a = "illegal_ad"\n    b = "piled_goods"', True),
        ('SIGHTING = frozenset({"opened", "confirmed", "still_present"})', False),  # a subset, not a copy
        ('PackageName = Literal["violation", "still_present", "cleared"]', False),
        ('COLOURS = {"illegal_ad": "#fff", "piled_goods": "#000"}', False),  # a mapping keyed by them
        ('rule = Rule(violation="illegal_ad")', False),
    ],
)
def test_the_scan_table(source: str, caught: bool) -> None:
    assert bool(copies_in(source, "probe.py")) is caught, source


def test_no_second_definition_in_the_product_code() -> None:
    files = sorted(p for top in PRODUCT for p in (ROOT / top).rglob("*.py") if p != OWNER)
    assert len(files) > 50, "the scan found too few files to mean anything"
    copies = [c for f in files for c in copies_of_the_vocabulary(f)]
    assert not copies, "import Violation / VIOLATIONS / EventKind / EVENT_KINDS from nce.vocabulary:\n" + (
        "\n".join(copies)
    )
