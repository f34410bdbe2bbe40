"""The ``nce`` command as a user runs it: ``python -m nce ARGS`` in a subprocess, output captured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def nce(
    *args: str, cwd: Path = ROOT, timeout: float = 150, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``nce ARGS`` in ``cwd`` (default: the repository) with ``env`` added to ours; unbuffered,
    so that a test that reads its output sees each line when it is written."""
    return subprocess.run(
        [sys.executable, "-m", "nce", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
