"""What the checks of an export found (:class:`ExportReport`), and the lines ``nce evidence verify``
prints for it."""

from __future__ import annotations

from dataclasses import dataclass, field

from nce.manifest import Manifest
from nce.transparency import SignedCheckpoint


@dataclass
class PackageResult:
    folder: str
    manifest: Manifest | None = None
    manifest_hash: str | None = None
    files_checked: int = 0
    leaf_index: int | None = None
    chain: str = ""


@dataclass
class ExportReport:
    path: str
    problems: list[str] = field(default_factory=list)
    packages: list[PackageResult] = field(default_factory=list)
    checkpoint: SignedCheckpoint | None = None
    service_key_fingerprint: str | None = None
    pinned: bool = False
    devices: dict[str, str] = field(default_factory=dict)  # device_id -> key fingerprint
    ledger_seq: int | None = None

    def verified(self) -> tuple[SignedCheckpoint, list[tuple[PackageResult, Manifest]]] | None:
        """The signed checkpoint and every package with its manifest, when no problem was found;
        ``None`` otherwise (where the checkpoint or a manifest could not be read, a problem says why)."""
        read = [(p, p.manifest) for p in self.packages if p.manifest is not None]
        if self.problems or self.checkpoint is None or len(read) < len(self.packages):
            return None
        return self.checkpoint, read

    @property
    def ok(self) -> bool:
        return self.verified() is not None

    @property
    def manifests(self) -> list[Manifest]:
        return [p.manifest for p in self.packages if p.manifest is not None]


def report_lines(report: ExportReport) -> list[str]:
    """What ``nce evidence verify`` prints for an export."""
    verified = report.verified()
    if verified is None:
        n = len(report.packages)
        return [*report.problems, f"FAILED: {len(report.problems)} problem(s) in the export ({n} package(s))"]
    cp, packages = verified
    lines = []
    for p, m in packages:
        lines.append(
            f"OK {p.folder}: {m.kind}, device {m.device_id} seq {m.sequence} ({p.chain}), "
            f"{p.files_checked} file(s) re-hashed, signed by the enrolled key sha256 "
            f"{report.devices[m.device_id][:16]}…, log index {p.leaf_index} of {cp.checkpoint.tree_size} leaves"
        )
    pin = (
        "pinned"
        if report.pinned
        else "NOT pinned: compare it with the published fingerprint, or pass --service-key FINGERPRINT"
    )
    lines.append(
        f"OK: {len(report.packages)} package(s) from {len(report.devices)} device(s) verified from the export "
        f"alone; checkpoint of log {cp.checkpoint.log!r} ({cp.checkpoint.tree_size} leaves, {cp.checkpoint.time}) "
        f"signed by service key sha256 {report.service_key_fingerprint} ({pin}); "
        f"its ledger head is this export's entry (seq {report.ledger_seq}) and lists exactly these files"
    )
    return lines
