"""``python tests/support/crash_after_commit.py serve …``: the ``nce`` command with one fault injected, for
tests/test_delivery_faults.py: the process dies (exit 9, as under kill -9) right after an ingest
commits and before its answer is sent, so that the edge's retry must get the stored answer.

The product has no such switch: this registers a hook in ``service.crud.ingest.AFTER_COMMIT``.
"""

from __future__ import annotations

import os
import sys

from nce.cli import main
from service.crud import ingest

CRASH_EXIT = 9


def _die() -> None:
    os._exit(CRASH_EXIT)


if __name__ == "__main__":
    ingest.AFTER_COMMIT.append(_die)
    sys.exit(main())
