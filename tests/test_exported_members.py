"""The public packages' ``__all__`` (as httpx tests its own): every package of nce, detector and
service whose ``__init__.py`` defines ``__all__`` lists exactly the public names it holds, without
duplicates, in ruff's isort-style order (RUF022: CONSTANTS, then Classes, then functions; natural
sort within each).

"Public" is every name in the package's namespace that does not start with ``_`` (``__version__``
excepted), other than its sub-modules and ``from __future__`` features: a name imported only for
the package's own use is imported under a private name, or not in ``__init__.py`` at all.
"""

from __future__ import annotations
import __future__

import ast
import importlib
import re
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOPS = ("nce", "detector", "service")
DUNDER_EXPORTS = {"__version__"}


def packages_with_all() -> list[str]:
    """Dotted names of the packages whose ``__init__.py`` assigns ``__all__`` (read, not imported)."""
    found = []
    for top in TOPS:
        for init in sorted((ROOT / top).rglob("__init__.py")):
            tree = ast.parse(init.read_text(encoding="utf-8"))
            targets = [t for n in tree.body if isinstance(n, ast.Assign | ast.AnnAssign) for t in _targets(n)]
            if "__all__" in targets:
                found.append(".".join(init.parent.relative_to(ROOT).parts))
    return found


def _targets(node: ast.Assign | ast.AnnAssign) -> list[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return [t.id for t in targets if isinstance(t, ast.Name)]


def public_names(module: types.ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if (not name.startswith("_") or name in DUNDER_EXPORTS)
        and not isinstance(value, types.ModuleType | __future__._Feature)
    }


def isort_key(name: str) -> tuple[int, list[tuple[int, int, str]]]:
    """RUF022's order: SCREAMING_SNAKE_CASE, then CamelCase, then the rest; natural sort within."""
    category = 0 if len(name) > 1 and name.isupper() else 1 if name[:1].isupper() else 2
    natural = [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name) if t]
    return category, natural


def export_problems(module: types.ModuleType) -> list[str]:
    """What is wrong with ``module.__all__``: nothing, when it is sorted and complete."""
    exported = list(getattr(module, "__all__", []))
    problems = []
    if duplicates := sorted({n for n in exported if exported.count(n) > 1}):
        problems.append(f"listed twice: {duplicates}")
    if missing := sorted(public_names(module) - set(exported)):
        problems.append(
            f"public but not in __all__ (list them, or import them under a private name): {missing}"
        )
    if absent := sorted(n for n in set(exported) if not hasattr(module, n)):
        problems.append(f"in __all__ but not in the package: {absent}")
    if exported != sorted(exported, key=isort_key):
        problems.append(f"not in isort-style order; expected {sorted(exported, key=isort_key)}")
    return problems


PACKAGES = packages_with_all()


def test_the_public_packages_are_found() -> None:
    assert {"nce", "nce.manifest", "detector.evidence", "service.console"} <= set(PACKAGES), PACKAGES


@pytest.mark.parametrize("name", PACKAGES)
def test_exports_sorted_and_complete(name: str) -> None:
    assert export_problems(importlib.import_module(name)) == []


def _module(source: str) -> types.ModuleType:
    module = types.ModuleType("probe")
    exec(compile(source, "probe", "exec"), module.__dict__)
    return module


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("from os.path import join\n__all__ = ['join']", None),
        ("from __future__ import annotations\nimport os\nX = 1\n__all__ = ['X']", None),  # module, feature
        ("__version__ = '1'\n__all__ = ['__version__']", None),
        ("from os.path import join, split\n__all__ = ['join']", "public but not in __all__"),
        ("from os.path import join\n__all__ = ['join', 'split']", "not in the package"),
        ("from os.path import join\n__all__ = ['join', 'join']", "listed twice"),
        ("A = 1\nB = 2\n__all__ = ['B', 'A']", "not in isort-style order"),
        ("from os.path import join\nKEY = 1\n__all__ = ['join', 'KEY']", "not in isort-style order"),
        ("class C: ...\nKEY = 1\n__all__ = ['C', 'KEY']", "not in isort-style order"),
        ("class C: ...\nK = 1\n__all__ = ['C', 'K']", None),  # one capital letter is CamelCase to ruff
        ("a2 = a10 = 1\n__all__ = ['a10', 'a2']", "not in isort-style order"),  # natural sort
    ],
)
def test_the_check_itself(source: str, problem: str | None) -> None:
    problems = export_problems(_module(source))
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0], problems
