"""The packages' import boundaries, read from the source with ``ast`` (every ``import``, at any depth,
and ``importlib.import_module`` / ``__import__`` with a literal name).

- ``detector/`` (the edge box) never imports the toolchain, the demo or the service side: not
  ``modeling``, ``demo``, ``service``, FastAPI, SQLAlchemy, Starlette, Uvicorn or Alembic.
- ``service/`` never imports numpy, OpenCV or Pillow (:data:`SERVICE_IMAGING_ALLOWED` names the one
  module that may: the video branch of ``nce frames import``), nor the edge box, the toolchain or the
  demo.
- ``nce/`` (the command and the contracts) imports neither side nor any heavy library; the command
  names its sub-command modules as strings in ``COMMAND_MODULES`` and imports one when it runs.
- ``modeling/`` (the toolchain) may import ``detector`` and ``nce``, never the service or the demo.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from nce.cli import COMMAND_MODULES

ROOT = Path(__file__).resolve().parents[1]

SERVICE_IMAGING_ALLOWED: frozenset[str] = frozenset({"service/cli/video_frames.py"})
"""service/ modules (paths from the repository root) allowed numpy/OpenCV/Pillow: only the video
decoding of ``nce frames import`` (OpenCV imported inside its function; the server never imports it)."""

SERVER_LIBRARIES = {"fastapi", "sqlalchemy", "starlette", "uvicorn", "alembic"}
IMAGING_LIBRARIES = {"numpy", "cv2", "PIL"}

FORBIDDEN: dict[str, set[str]] = {
    "detector": {"modeling", "demo", "service"} | SERVER_LIBRARIES,
    "service": {"detector", "modeling", "demo"} | IMAGING_LIBRARIES,
    "nce": {"detector", "service", "modeling", "demo", "onnxruntime", "torch", "ultralytics"}
    | SERVER_LIBRARIES
    | IMAGING_LIBRARIES,
    "modeling": {"service", "demo"} | SERVER_LIBRARIES,
}


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module name ``source`` imports (absolute, relative ones resolved against ``module``)."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                prefix = ".".join(parts[: len(parts) - (node.level - 1)])
                name = f"{prefix}.{node.module}" if node.module else prefix
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in {"import_module", "__import__"} and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return found


def _top(name: str) -> str:
    return name.split(".")[0]


def violations(root: Path, package: str, allowed_files: frozenset[str] = frozenset()) -> list[str]:
    """``FILE imports NAME`` for every import of ``package`` (a folder under ``root``) that it must not make."""
    bad = []
    for path in sorted((root / package).rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel in allowed_files:
            continue
        names = imported_modules(
            path.read_text(encoding="utf-8"), _module_name(root, path), is_package=path.name == "__init__.py"
        )
        bad += [f"{rel} imports {n}" for n in sorted(names) if _top(n) in FORBIDDEN[package]]
    return bad


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("import modeling", "detector.x", {"modeling"}),
        ("import numpy as np, cv2", "service.x", {"numpy", "cv2"}),
        ("from modeling.synth import CLASSES", "detector.x", {"modeling.synth", "modeling.synth.CLASSES"}),
        ("def f():\n    from fastapi import APIRouter\n", "detector.x", {"fastapi", "fastapi.APIRouter"}),
        ("from . import run", "detector.cli.config", {"detector.cli", "detector.cli.run"}),
        ("from ..evidence import x", "detector.cli.run", {"detector.evidence", "detector.evidence.x"}),
        ("from . import yolo", "detector.pipeline", {"detector", "detector.yolo"}),
        (
            "import importlib\nimportlib.import_module('service.app')",
            "detector.x",
            {"importlib", "service.app"},
        ),
        ("__import__('sqlalchemy')", "detector.x", {"sqlalchemy"}),
        ("if TYPE_CHECKING:\n    from service.db import X\n", "detector.x", {"service.db", "service.db.X"}),
    ],
)
def test_the_import_finder_sees_every_form(source: str, module: str, expected: set[str]) -> None:
    assert imported_modules(source, module) == expected


@pytest.mark.parametrize(
    ("package", "allowed"),
    [
        ("detector", frozenset()),
        ("service", SERVICE_IMAGING_ALLOWED),
        ("nce", frozenset()),
        ("modeling", frozenset()),
    ],
)
def test_package_imports_stay_on_their_side(package: str, allowed: frozenset[str]) -> None:
    assert (ROOT / package / "__init__.py").is_file()
    assert violations(ROOT, package, allowed) == []


@pytest.mark.parametrize(
    ("package", "file", "source", "allowed", "expected"),
    [
        (
            "detector",
            "cli/x.py",
            "def f() -> None:\n    from modeling.training import train\n",
            frozenset(),
            [
                "detector/cli/x.py imports modeling.training",
                "detector/cli/x.py imports modeling.training.train",
            ],
        ),
        (
            "detector",
            "x.py",
            "import sqlalchemy.orm\n",
            frozenset(),
            ["detector/x.py imports sqlalchemy.orm"],
        ),
        ("service", "sniff.py", "import numpy as np\n", frozenset(), ["service/sniff.py imports numpy"]),
        ("service", "sniff.py", "import numpy as np\n", frozenset({"service/sniff.py"}), []),
        ("modeling", "x.py", "import detector.yolo\nimport nce.manifest\n", frozenset(), []),
        (
            "nce",
            "x.py",
            "from detector import config\n",
            frozenset(),
            ["nce/x.py imports detector", "nce/x.py imports detector.config"],
        ),
    ],
)
def test_a_forbidden_import_is_reported(
    tmp_path: Path, package: str, file: str, source: str, allowed: frozenset[str], expected: list[str]
) -> None:
    """The walk over a package's files reports what it must (and only that), allow-list included."""
    path = tmp_path / package / file
    path.parent.mkdir(parents=True)
    path.write_text(source, encoding="utf-8")
    assert violations(tmp_path, package, allowed) == expected


def test_command_modules_live_where_their_side_does() -> None:
    """Every sub-command module exists, and each lives in the package of the side it serves."""
    home = {
        "demo": "demo",
        "data": "modeling",
        "model": "modeling",
        "serve": "service",
        "db": "service",
        "admin": "service",
        "ledger": "service",
        "frames": "service",
        "dataset": "service",
    }
    for command, module in COMMAND_MODULES.items():
        assert _top(module) == home.get(command, "detector"), (command, module)
        path = ROOT / Path(*module.split(".")).with_suffix(".py")
        assert path.is_file(), (command, module)
        assert "def register(" in path.read_text(encoding="utf-8"), module


# -- size and runtime checks of the product code ---------------------------------------------------

PRODUCT_PACKAGES = ("nce", "detector", "service", "modeling", "demo")
MAX_MODULE_LINES = 450
"""A module over this is split by what it owns (STYLE.md) before it grows further."""


def long_modules(root: Path, packages: tuple[str, ...], limit: int = MAX_MODULE_LINES) -> list[str]:
    """``FILE: N lines`` for every ``.py`` file under ``packages`` longer than ``limit`` lines."""
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            n = len(path.read_text(encoding="utf-8").splitlines())
            if n > limit:
                found.append(f"{path.relative_to(root).as_posix()}: {n} lines")
    return found


def asserts(root: Path, packages: tuple[str, ...]) -> list[str]:
    """``FILE:LINE`` of every ``assert`` statement under ``packages`` (gone under ``python -O``: a
    runtime check raises an error of its side's tree instead)."""
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            rel = path.relative_to(root).as_posix()
            found += [f"{rel}:{n.lineno}" for n in ast.walk(tree) if isinstance(n, ast.Assert)]
    return found


def test_every_product_package_is_walked() -> None:
    assert all((ROOT / p / "__init__.py").is_file() for p in PRODUCT_PACKAGES)


def test_no_product_module_is_over_the_limit() -> None:
    assert long_modules(ROOT, PRODUCT_PACKAGES) == []


def test_product_code_has_no_assert() -> None:
    assert asserts(ROOT, PRODUCT_PACKAGES) == []


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (MAX_MODULE_LINES, []),
        (MAX_MODULE_LINES + 1, [f"nce/sub/long.py: {MAX_MODULE_LINES + 1} lines"]),
    ],
)
def test_a_long_module_is_reported(tmp_path: Path, lines: int, expected: list[str]) -> None:
    path = tmp_path / "nce" / "sub" / "long.py"
    path.parent.mkdir(parents=True)
    path.write_text("x = 1\n" * lines, encoding="utf-8")
    assert long_modules(tmp_path, ("nce",)) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("assert x is not None\n", ["detector/x.py:1"]),
        ("def f(x: int) -> None:\n    if x:\n        assert x > 0, 'positive'\n", ["detector/x.py:3"]),
        ("# assert x\ntext = 'assert x'\n", []),
        ("self.assertEqual(a, b)\n", []),
    ],
)
def test_an_assert_is_reported(tmp_path: Path, source: str, expected: list[str]) -> None:
    path = tmp_path / "detector" / "x.py"
    path.parent.mkdir(parents=True)
    path.write_text(source, encoding="utf-8")
    assert asserts(tmp_path, ("detector",)) == expected
