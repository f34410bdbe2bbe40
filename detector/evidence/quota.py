"""The evidence disk quota: the edge never fills its disk, and never loses undelivered evidence.

Above ``quota_bytes`` the oldest packages *already delivered* are deleted (oldest by the time their
manifest was written). An undelivered package is never deleted: when what is left is still over the
quota, packaging stops (:meth:`EvidenceQuota.ensure_room` returns ``False``) and the gauge
``nce_evidence_quota_exceeded`` is 1 until space returns.

Delivered markers (the outbox's side of the contract): a package counts as delivered when the
empty file ``<evidence>/.state/delivered/<package_id>`` exists — :func:`mark_delivered` creates it
(after a 2xx from the service) — or when the ``is_delivered`` callable given to
:class:`EvidenceQuota` says so (e.g. ``Outbox.is_delivered``, which reads the outbox database).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge

from detector.evidence.files import fsync_dir
from detector.evidence.store import STATE_DIR
from nce.manifest import MANIFEST_NAME, is_safe_name

log = logging.getLogger(__name__)

DELIVERED_DIR = "delivered"


def delivered_marker(evidence_dir: Path, package_id: str) -> Path:
    if not is_safe_name(package_id):
        raise ValueError(f"not a package id: {package_id!r}")
    return evidence_dir / STATE_DIR / DELIVERED_DIR / package_id


def mark_delivered(evidence_dir: str | Path, package_id: str) -> Path:
    """Record that ``package_id`` reached the service (durably: file and folder fsynced)."""
    marker = delivered_marker(Path(evidence_dir), package_id)
    marker.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(marker.parent)
    return marker


def is_marked_delivered(evidence_dir: str | Path, package_id: str) -> bool:
    return delivered_marker(Path(evidence_dir), package_id).exists()


@dataclass(frozen=True)
class PackageUsage:
    package_id: str
    path: Path
    bytes: int
    mtime: float


class EvidenceMetrics:
    """Evidence gauges and counters (in the pipeline's registry when one is given)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.registry = r
        self.quota_exceeded = Gauge(
            "nce_evidence_quota_exceeded",
            "1 while undelivered evidence alone is over the quota: packaging has stopped",
            registry=r,
        )
        self.bytes_used = Gauge("nce_evidence_bytes", "Bytes under the evidence folder", registry=r)
        self.packages = Counter("nce_evidence_packages", "Evidence packages written", ["kind"], registry=r)
        self.disk_full = Gauge(
            "nce_evidence_disk_full",
            "1 after a package failed for lack of disk space, until the next one is written",
            registry=r,
        )
        self.pruned = Counter("nce_evidence_pruned", "Delivered packages deleted by the quota", registry=r)
        self.skipped = Counter(
            "nce_evidence_skipped", "Packages not written (quota, errors)", ["reason"], registry=r
        )


def _folder_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


class EvidenceQuota:
    """Keeps ``evidence_dir`` under ``quota_bytes`` by pruning delivered packages only."""

    def __init__(
        self,
        evidence_dir: Path,
        quota_bytes: int | None,
        *,
        is_delivered: Callable[[Path], bool] | None = None,
        metrics: EvidenceMetrics | None = None,
    ) -> None:
        self.root = evidence_dir
        self.quota_bytes = quota_bytes
        self._is_delivered_extra = is_delivered
        self.metrics = metrics if metrics is not None else EvidenceMetrics()
        self._usage: dict[str, PackageUsage] | None = None
        self._other_bytes = 0

    def is_delivered(self, package: Path) -> bool:
        if is_marked_delivered(self.root, package.name):
            return True
        return bool(self._is_delivered_extra is not None and self._is_delivered_extra(package))

    def scan(self) -> list[PackageUsage]:
        """Every package folder with its size, oldest first."""
        usage: dict[str, PackageUsage] = {}
        other = 0
        for p in self.root.iterdir():
            if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST_NAME).exists():
                usage[p.name] = PackageUsage(p.name, p, _folder_bytes(p), (p / MANIFEST_NAME).stat().st_mtime)
            elif p.is_dir():
                other += _folder_bytes(p)
            else:
                other += p.stat().st_size
        self._usage, self._other_bytes = usage, other
        return sorted(usage.values(), key=lambda u: (u.mtime, u.package_id))

    def used_bytes(self) -> int:
        if self._usage is None:
            self.scan()
        assert self._usage is not None
        return self._other_bytes + sum(u.bytes for u in self._usage.values())

    def added(self, package: Path) -> None:
        """Account for a package just written (without rescanning the folder)."""
        if self._usage is None:
            self.scan()
        assert self._usage is not None
        self._usage[package.name] = PackageUsage(
            package.name, package, _folder_bytes(package), os.path.getmtime(package)
        )
        self.metrics.bytes_used.set(self.used_bytes())

    def prune(self, need_bytes: int = 0) -> list[str]:
        """Delete the oldest delivered packages until ``need_bytes`` more fit under the quota.
        Returns the deleted package ids."""
        if self.quota_bytes is None:
            return []
        packages = self.scan()
        used = self.used_bytes()
        deleted: list[str] = []
        for u in packages:
            if used + need_bytes <= self.quota_bytes:
                break
            if not self.is_delivered(u.path):
                continue
            try:
                shutil.rmtree(u.path)
            except OSError as exc:
                log.error("cannot delete delivered package %s: %s", u.path, exc)
                continue
            delivered_marker(self.root, u.package_id).unlink(missing_ok=True)
            assert self._usage is not None
            self._usage.pop(u.package_id, None)
            used -= u.bytes
            deleted.append(u.package_id)
            self.metrics.pruned.inc()
            log.info("evidence quota: deleted delivered package %s (%d bytes)", u.package_id, u.bytes)
        self.metrics.bytes_used.set(used)
        return deleted

    def ensure_room(self, need_bytes: int) -> bool:
        """Whether ``need_bytes`` more may be written; prunes delivered packages to make room.
        ``False`` (and the alarm gauge set) when only undelivered evidence is left over the quota."""
        if self.quota_bytes is None:
            return True
        if self.used_bytes() + need_bytes > self.quota_bytes:
            self.prune(need_bytes)
        ok = self.used_bytes() + need_bytes <= self.quota_bytes
        self.metrics.quota_exceeded.set(0 if ok else 1)
        if not ok:
            log.error(
                "evidence quota exceeded: %d bytes used of %d, all undelivered: packaging stops",
                self.used_bytes(),
                self.quota_bytes,
            )
        return ok
