"""The toolchain's progress bar: label, bar, done/total and time left, on stderr (so that ``--json``
output on stdout stays clean)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def progress_bar(label: str, *, console: Console | None = None, quiet: bool = False) -> Progress:
    """A bar labelled ``label`` on ``console`` (stderr when not given); ``quiet``: shows nothing."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        disable=quiet,
    )
