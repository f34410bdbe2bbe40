"""The root of NCE's exception trees.

::

    NceError                      every error NCE raises on purpose; the CLI prints it as one line
    ├── detector.errors.DetectorError   the edge side (config, model, sources, evidence, outbox)
    └── service.errors.ServiceError     the case service

Each side translates third-party errors into its own tree at one place (``raise ... from exc``).
"""

from __future__ import annotations


class NceError(Exception):
    """Base class of every error NCE raises on purpose.

    ``str(error)`` is one line that a person can act on: what was expected and what arrived.
    """

    exit_code: int = 2
