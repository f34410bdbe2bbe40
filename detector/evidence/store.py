"""Writing packages durably, and the device's hash-chain state.

Layout under the evidence folder (``<out>/evidence``)::

    <package_id>/                 a finished package: its files + manifest.json
    .tmp/                         packages and clips being written (removed on start)
    .state/chain-<device>.json    the chain state: last sequence and last manifest hash
    .state/delivered/<package_id> delivered markers (see quota.py)

A package is written into ``.tmp/<package_id>/`` (every file fsynced, manifest last), the folder is
fsynced and renamed into place, the evidence folder is fsynced, and only then is the chain state
replaced (write, fsync, rename, fsync). A crash between the rename and the state update is caught
on start by :meth:`ChainStore.load`, which also looks at the packages on disk, so a sequence number
is never used twice.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

from detector.errors import EvidenceError
from detector.evidence.files import fsync_dir, write_atomic
from nce.manifest import (
    MANIFEST_NAME,
    ChainState,
    Manifest,
    ManifestError,
    manifest_hash,
    parse_manifest,
)

log = logging.getLogger(__name__)

TMP_DIR = ".tmp"
STATE_DIR = ".state"


def package_sequence(package_id: str, device_id: str) -> int | None:
    """The sequence number in a package id ``<device>-<seq>-<kind>``, if it is this device's."""
    m = re.fullmatch(re.escape(device_id) + r"-(\d{8,})-[a-z_]+", package_id)
    return int(m.group(1)) if m else None


class ChainStore:
    """The evidence folder of one device: chain state and package writing."""

    def __init__(self, evidence_dir: Path, device_id: str) -> None:
        self.root = evidence_dir
        self.device_id = device_id
        self.tmp = evidence_dir / TMP_DIR
        self.state_dir = evidence_dir / STATE_DIR
        self.state_file = self.state_dir / f"chain-{device_id}.json"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.state_dir.mkdir(exist_ok=True)
            if self.tmp.exists():
                shutil.rmtree(self.tmp)  # half-written packages and clips of a crashed run
            self.tmp.mkdir()
        except OSError as exc:
            raise EvidenceError(f"{self.root}: cannot prepare the evidence folder: {exc}") from exc
        self.state = self.load()

    def load(self) -> ChainState:
        state = ChainState(self.device_id)
        if self.state_file.exists():
            try:
                state = ChainState.from_json(self.state_file.read_bytes())
            except ManifestError as exc:
                raise EvidenceError(f"{self.state_file}: {exc}") from exc
            if state.device_id != self.device_id:
                raise EvidenceError(
                    f"{self.state_file}: chain state of device {state.device_id!r}, not {self.device_id!r}"
                )
        # a package renamed into place whose state update was lost
        newest: tuple[int, Path] | None = None
        for p in self.root.iterdir():
            seq = package_sequence(p.name, self.device_id)
            if seq is not None and seq > state.last_sequence and (newest is None or seq > newest[0]):
                newest = (seq, p)
        if newest is not None:
            try:
                m = parse_manifest((newest[1] / MANIFEST_NAME).read_bytes())
            except (OSError, ManifestError) as exc:
                raise EvidenceError(
                    f"{newest[1]}: cannot recover the chain from this package: {exc}"
                ) from exc
            log.warning("chain state behind the packages on disk: resuming after %s", m.package_id)
            state.last_sequence, state.last_hash = m.sequence, manifest_hash(m)
            write_atomic(self.state_file, state.to_json())
        return state

    def new_tmp(self, package_id: str) -> Path:
        folder = self.tmp / package_id
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
        return folder

    def commit(self, folder: Path, manifest: Manifest, manifest_bytes: bytes) -> Path:
        """Write the manifest into the temporary ``folder`` (its files already fsynced), move the
        folder into place and advance the chain state. Returns the package's final folder."""
        if (
            manifest.sequence != self.state.last_sequence + 1
            or manifest.prev_manifest_hash != self.state.last_hash
        ):
            raise EvidenceError(
                f"package {manifest.package_id}: seq {manifest.sequence} does not follow the chain state "
                f"(last seq {self.state.last_sequence})"
            )
        final = self.root / manifest.package_id
        try:
            with (folder / MANIFEST_NAME).open("wb") as f:
                f.write(manifest_bytes)
                f.flush()
                os.fsync(f.fileno())
            fsync_dir(folder)
            if final.exists():
                raise EvidenceError(f"{final}: a package with this id exists already")
            os.rename(folder, final)
            fsync_dir(self.root)
            self.state.advance(manifest)
            write_atomic(self.state_file, self.state.to_json())
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise EvidenceError(f"{final}: cannot write the package: {exc}") from exc
        return final
