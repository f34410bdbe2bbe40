"""Delivered markers of earlier versions, adopted by the outbox.

Before the outbox owned "delivered" alone, the relay also left an empty file
``<evidence>/.state/delivered/<package_id>`` after a package's 2xx, and the evidence quota read it.
On start the outbox sink hands every such marker whose package is still on disk to the outbox
(:meth:`~detector.delivery.outbox.Outbox.remember_delivered`) and removes the markers, so a package
an old version delivered (its outbox row perhaps long forgotten) stays prunable and is never queued
again.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from detector.delivery.outbox import Outbox
from detector.evidence.store import STATE_DIR
from nce.manifest import is_safe_name

log = logging.getLogger(__name__)

LEGACY_DELIVERED_DIR = "delivered"


def adopt_delivered_markers(outbox: Outbox, evidence_dir: Path) -> int:
    """Move the legacy delivered markers under ``evidence_dir`` into ``outbox``; returns how many
    packages the outbox learnt of. Markers are removed only once the outbox holds them."""
    folder = evidence_dir / STATE_DIR / LEGACY_DELIVERED_DIR
    if not folder.is_dir():
        return 0
    learnt = 0
    for marker in sorted(folder.iterdir()):
        package = evidence_dir / marker.name
        on_disk = is_safe_name(marker.name) and package.is_dir()
        if on_disk and outbox.remember_delivered(package, marker.stat().st_mtime):
            learnt += 1
        marker.unlink()
    try:
        os.rmdir(folder)
    except OSError as exc:
        log.warning("outbox: cannot remove %s: %s", folder, exc.strerror)
    if learnt:
        log.info("outbox: adopted %d delivered marker(s) of an earlier version", learnt)
    return learnt
