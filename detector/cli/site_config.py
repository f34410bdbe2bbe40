"""Loading the site config for a command, or printing why it does not load.

``nce config check`` and ``nce run`` report a config that does not load the same way, through
:func:`load_or_report`: every problem on its own line on stderr (``FILE: path: why``), then
``FILE: N problem(s)``. A problem with the file as a whole (no such file, too big, nested too deep,
not YAML) is the only problem there is, and is printed as that one line.
"""

from __future__ import annotations

import sys
from pathlib import Path

from detector.config import SiteConfig, load_site_config
from detector.errors import ConfigError

CONFIG_PROBLEMS_EXIT = 2
"""The exit code of a command whose site config does not load."""


def load_or_report(file: str | Path) -> SiteConfig | None:
    """The site config in ``file``, or None after printing its problems to stderr."""
    try:
        return load_site_config(file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        whole_file = len(exc.problems) == 1 and not exc.problems[0].path
        if not whole_file:
            print(f"{file}: {len(exc.problems)} problem(s)", file=sys.stderr)
        return None
