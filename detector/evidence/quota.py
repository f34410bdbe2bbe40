"""The evidence disk quota: the edge never fills its disk, and never loses undelivered evidence.

Above ``quota_bytes`` the oldest packages *already delivered* are deleted (oldest by the time their
manifest was written). An undelivered package is never deleted: when what is left is still over the
quota, packaging stops (:meth:`EvidenceQuota.ensure_room` returns ``False``) and the gauge
``nce_evidence_quota_exceeded`` is 1 until space returns.

Which packages are delivered is not the quota's to say: it asks the one owner of that, the outbox
(:class:`DeliveredPackages`, e.g. :class:`~detector.delivery.outbox.Outbox`). Without one
(``nce run --out``: nothing is delivered) nothing is ever pruned.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from detector.errors import DetectorError
from nce.manifest import MANIFEST_NAME

log = logging.getLogger(__name__)


class DeliveredPackages(Protocol):
    """The quota's one question to the outbox: does the service have this package?"""

    def is_delivered(self, package_dir: Path) -> bool: ...


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
        delivered: DeliveredPackages | None = None,
        metrics: EvidenceMetrics | None = None,
    ) -> None:
        self.root = evidence_dir
        self.quota_bytes = quota_bytes
        self.delivered = delivered
        self.metrics = metrics if metrics is not None else EvidenceMetrics()
        self._usage: dict[str, PackageUsage] | None = None
        self._other_bytes = 0

    def is_delivered(self, package: Path) -> bool:
        """Whether the outbox says the service has ``package`` (no outbox, or no answer: no)."""
        if self.delivered is None:
            return False
        try:
            return self.delivered.is_delivered(package)
        except DetectorError as exc:  # e.g. the outbox closed at shutdown: keep the package
            log.warning("evidence quota: cannot tell whether %s was delivered: %s", package.name, exc)
            return False

    def _measure(self) -> tuple[dict[str, PackageUsage], int]:
        usage: dict[str, PackageUsage] = {}
        other = 0
        for p in self.root.iterdir():
            if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST_NAME).exists():
                usage[p.name] = PackageUsage(p.name, p, _folder_bytes(p), (p / MANIFEST_NAME).stat().st_mtime)
            elif p.is_dir():
                other += _folder_bytes(p)
            else:
                other += p.stat().st_size
        return usage, other

    def _packages(self) -> dict[str, PackageUsage]:
        """The packages as last measured (measured now if never)."""
        if self._usage is None:
            self._usage, self._other_bytes = self._measure()
        return self._usage

    def scan(self) -> list[PackageUsage]:
        """Every package folder with its size, oldest first."""
        self._usage, self._other_bytes = self._measure()
        return sorted(self._usage.values(), key=lambda u: (u.mtime, u.package_id))

    def used_bytes(self) -> int:
        packages = self._packages()
        return self._other_bytes + sum(u.bytes for u in packages.values())

    def added(self, package: Path) -> None:
        """Account for a package just written (without rescanning the folder)."""
        self._packages()[package.name] = PackageUsage(
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
            self._packages().pop(u.package_id, None)
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
