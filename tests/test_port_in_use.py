"""``nce serve`` and ``nce demo`` check their port before migrating or rendering anything."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from nce.ports import PortInUse, check_port_free
from tests.support.cli import nce


@pytest.fixture
def taken() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_port_in_use_is_one_line_before_any_work(tmp_path: Path, taken: int, command: str) -> None:
    db = tmp_path / "nce.sqlite3"
    extra = ["--db", f"sqlite:///{db}", "--demo"] if command == "serve" else ["--dir", str(tmp_path / "d")]
    res = nce(command, "--port", str(taken), *extra, timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip() == (
        f"nce {command}: error: port {taken} is in use; pass --port (another port, or 0 for any free one)"
    )
    assert not db.exists() and not (tmp_path / "d").exists()  # nothing migrated, nothing rendered


def test_a_free_port_and_port_zero_pass(taken: int) -> None:
    check_port_free("127.0.0.1", 0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = int(s.getsockname()[1])
    check_port_free("127.0.0.1", free)
    with pytest.raises(PortInUse, match=f"port {taken} is in use"):
        check_port_free("127.0.0.1", taken)
