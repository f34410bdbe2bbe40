"""Per-device chain continuity: :func:`verify_chain` and the packager's :class:`ChainState`."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass

from nce.manifest._canonical import canonical_json
from nce.manifest._errors import ManifestError
from nce.manifest._model import GENESIS_HASH, Manifest
from nce.manifest._signing import manifest_hash
from nce.manifest._verify import Problem


def verify_chain(manifests: Iterable[Manifest], *, from_genesis: bool = False) -> list[Problem]:
    """Check per-device continuity: sequence numbers without gaps or repeats and each
    ``prev_manifest_hash`` equal to the previous manifest's hash. Public copies are skipped.

    With ``from_genesis`` each device's chain must start at sequence 1 with :data:`GENESIS_HASH`.
    """
    problems: list[Problem] = []
    by_device: dict[str, list[Manifest]] = {}
    for m in manifests:
        if m.kind != "public_copy":
            by_device.setdefault(m.device_id, []).append(m)
    for device, chain in sorted(by_device.items()):
        chain.sort(key=lambda m: m.sequence)
        first = chain[0]
        if from_genesis and (first.sequence != 1 or first.prev_manifest_hash != GENESIS_HASH):
            problems.append(
                Problem(
                    "chain_start",
                    f"device {device}: chain starts at seq {first.sequence}, not at 1 from genesis",
                    sequence=first.sequence,
                )
            )
        if first.sequence == 1 and first.prev_manifest_hash != GENESIS_HASH:
            problems.append(
                Problem("chain_break", f"device {device}: seq 1 does not start from genesis", sequence=1)
            )
        for prev, cur in itertools.pairwise(chain):
            if cur.sequence == prev.sequence:
                problems.append(
                    Problem(
                        "chain_duplicate",
                        f"device {device}: duplicate seq {cur.sequence} "
                        f"({prev.package_id}, {cur.package_id})",
                        sequence=cur.sequence,
                    )
                )
                continue
            if cur.sequence != prev.sequence + 1:
                missing = (
                    f"{prev.sequence + 1}"
                    if cur.sequence == prev.sequence + 2
                    else f"{prev.sequence + 1}..{cur.sequence - 1}"
                )
                problems.append(
                    Problem(
                        "chain_gap",
                        f"device {device}: chain gap at seq {missing} (before {cur.package_id})",
                        sequence=prev.sequence + 1,
                    )
                )
            elif cur.prev_manifest_hash != manifest_hash(prev):
                problems.append(
                    Problem(
                        "chain_break",
                        f"device {device}: seq {cur.sequence} prev_manifest_hash does not match "
                        f"the hash of seq {prev.sequence}",
                        sequence=cur.sequence,
                    )
                )
    return problems


@dataclass
class ChainState:
    """A device's chain position (the packager persists it): the last sequence number and hash."""

    device_id: str
    last_sequence: int = 0
    last_hash: str = GENESIS_HASH

    def to_json(self) -> bytes:
        return canonical_json(
            {"device_id": self.device_id, "last_sequence": self.last_sequence, "last_hash": self.last_hash}
        )

    @classmethod
    def from_json(cls, data: bytes) -> ChainState:
        try:
            obj = json.loads(data)
            return cls(str(obj["device_id"]), int(obj["last_sequence"]), str(obj["last_hash"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ManifestError(f"chain state is unreadable: {exc}") from exc

    def advance(self, manifest: Manifest) -> None:
        self.last_sequence = manifest.sequence
        self.last_hash = manifest_hash(manifest)
