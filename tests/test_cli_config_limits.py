"""Site config files over the size, depth or value limits: every command that loads a site config
(``nce config check``, ``nce run``, ``nce outbox``) ends at once with one line naming the file, what
it found and the limit, exit 2, through the real ``nce`` command on real files."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from detector.config.yaml_file import MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH, MAX_CONFIG_VALUES

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "configs" / "site.example.yaml"


def nce(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nce", *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def _text(text: str) -> Callable[[Path], None]:
    return lambda path: path.write_text(text, encoding="utf-8")


def _padded(total: int) -> Callable[[Path], None]:
    """The example config, padded with a comment to exactly ``total`` bytes."""

    def write(path: Path) -> None:
        body = EXAMPLE.read_bytes() + b"\n# "
        path.write_bytes(body + b"x" * (total - len(body) - 1) + b"\n")
        assert path.stat().st_size == total

    return write


def _fifty_megabytes(path: Path) -> None:
    line = b"- {id: cam, source: rtsp://10.0.0.1/stream, detect_fps: 1}\n"
    with path.open("wb") as f:
        f.write(b"cameras:\n")
        for _ in range(50 * 2**20 // len(line) + 1):
            f.write(line)
    assert path.stat().st_size > 50 * 2**20


def _alias_bomb(path: Path) -> None:
    """Ten anchors, each a list of ten aliases of the one before: 10**10 values once expanded."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _deep_through_alias(path: Path) -> None:
    """Each alone within the depth limit: a 20-deep anchor, used 20 levels down."""
    half = 20
    path.write_text(
        f"a: &deep {'[' * half}1{']' * half}\nb: {'[' * (half - 1)}*deep{']' * (half - 1)}\n",
        encoding="utf-8",
    )


DEEP = f"mappings and sequences nested more than {MAX_CONFIG_DEPTH} deep; a site config may nest at most {MAX_CONFIG_DEPTH}"

# (id, write the file, the one line expected after "FILE: ")
OVER_A_LIMIT: list[tuple[str, Callable[[Path], None], str]] = [
    (
        "flow-100k-deep",
        _text("[" * 100_000 + "]" * 100_000),
        f"line 1, column {MAX_CONFIG_DEPTH + 1}: {DEEP}",
    ),
    (
        "block-sequences-100k-deep",
        _text("- " * 100_000 + "x\n"),
        f"line 1, column {2 * MAX_CONFIG_DEPTH + 1}: {DEEP}",
    ),
    (
        "block-mappings-300-deep",
        _text("".join("  " * i + f"k{i}:\n" for i in range(300))),
        f"line {MAX_CONFIG_DEPTH + 1}, column {2 * MAX_CONFIG_DEPTH + 1}: {DEEP}",
    ),
    (
        "one-level-too-deep",
        _text("extra: " + "[" * MAX_CONFIG_DEPTH + "]" * MAX_CONFIG_DEPTH + "\n"),
        f"line 1, column {8 + MAX_CONFIG_DEPTH - 1}: {DEEP}",
    ),
    (
        "deep-through-an-alias",
        _deep_through_alias,
        f"line 2, column {19 + 4}: mappings and sequences nested more than {MAX_CONFIG_DEPTH} deep "
        f"(through an alias); a site config may nest at most {MAX_CONFIG_DEPTH}",
    ),
    ("fifty-megabytes", _fifty_megabytes, f"bytes, a site config may be at most {MAX_CONFIG_BYTES}"),
    (
        "one-byte-over",
        _padded(MAX_CONFIG_BYTES + 1),
        f"{MAX_CONFIG_BYTES + 1} bytes, a site config may be at most {MAX_CONFIG_BYTES}",
    ),
    (
        "alias-bomb",
        _alias_bomb,
        f"more than {MAX_CONFIG_VALUES} values (an alias counts as often as it repeats); "
        f"a site config may hold at most {MAX_CONFIG_VALUES}",
    ),
]


@pytest.mark.parametrize(
    ("write", "expected"), [(w, e) for _, w, e in OVER_A_LIMIT], ids=[i for i, _, _ in OVER_A_LIMIT]
)
def test_config_check_over_a_limit_is_one_line(
    tmp_path: Path, write: Callable[[Path], None], expected: str
) -> None:
    f = tmp_path / "site.yaml"
    write(f)
    res = nce("config", "check", str(f))
    assert res.returncode == 2
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr[-2000:]
    assert lines[0].startswith(f"{f}: ") and lines[0].endswith(expected), lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        ("run", "--config"),
        ("outbox", "status", "--config"),
        ("outbox", "deliver", "--config"),
    ],
    ids=["run", "outbox-status", "outbox-deliver"],
)
@pytest.mark.parametrize(
    ("write", "expected"),
    [
        (_text("[" * 100_000 + "]" * 100_000), DEEP),
        (_padded(MAX_CONFIG_BYTES + 1), f"a site config may be at most {MAX_CONFIG_BYTES}"),
        (_alias_bomb, f"a site config may hold at most {MAX_CONFIG_VALUES}"),
    ],
    ids=["deep", "big", "alias-bomb"],
)
def test_every_command_that_loads_a_site_config_has_the_limits(
    tmp_path: Path, argv: tuple[str, ...], write: Callable[[Path], None], expected: str
) -> None:
    f = tmp_path / "site.yaml"
    write(f)
    res = nce(*argv, str(f))
    assert res.returncode == 2
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and str(f) in lines[0] and lines[0].endswith(expected), res.stderr[-2000:]
    if argv[0] == "run":  # the same line as `nce config check`
        assert res.stderr == nce("config", "check", str(f)).stderr


@pytest.mark.parametrize(
    ("write", "expected"),
    [
        (_padded(MAX_CONFIG_BYTES), "OK — site"),  # exactly at the size limit
        # exactly at the depth limit: loads, then the unknown key is the one problem (with its count)
        (_text("extra: " + "[" * (MAX_CONFIG_DEPTH - 1) + "]" * (MAX_CONFIG_DEPTH - 1) + "\n"), "extra"),
    ],
    ids=["at-the-size-limit", "at-the-depth-limit"],
)
def test_within_the_limits_a_config_loads_as_before(
    tmp_path: Path, write: Callable[[Path], None], expected: str
) -> None:
    f = tmp_path / "site.yaml"
    write(f)
    res = nce("config", "check", str(f))
    assert expected in res.stdout + res.stderr
    assert "a site config may" not in res.stderr and "Traceback" not in res.stderr


def test_a_config_with_anchors_and_aliases_loads(tmp_path: Path) -> None:
    """Aliases within the limits are YAML as usual: a second camera at the first one's location."""
    text = EXAMPLE.read_text(encoding="utf-8").replace("    location: {lat", "    location: &here {lat")
    second = "  - {id: cam-02, name: 友谊路 西口, source: rtsp://127.0.0.1:8554/cam-02, location: *here}\n"
    text = text.replace("\nrules:", second + "\nrules:")
    f = tmp_path / "site.yaml"
    f.write_text(text, encoding="utf-8")
    res = nce("config", "check", "--no-files", str(f))
    assert res.returncode == 0, res.stderr
    assert "2 camera(s), 2 zone(s)" in res.stdout
