"""The content-addressed evidence store: ``ROOT/ab/cd/abcd…`` by SHA-256, never a client's name.

Writing is two-phase: :meth:`EvidenceStore.stage` writes bytes to ``ROOT/tmp/<random>`` and
:meth:`Staged.sync` fsyncs them; :meth:`Staged.publish` moves them into place with one ``os.replace``, only after
every check of the request passed; :meth:`Staged.discard` removes what a rejected request staged.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from service.errors import NotFound, Unavailable

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class StoreError(Unavailable):
    """The evidence store cannot write or read (503: the client retries)."""


def _fsync_path(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_sha256(value: str) -> bool:
    return bool(_SHA256.match(value))


@dataclass
class Staged:
    """Files written to temporary names, waiting for :meth:`publish` or :meth:`discard`."""

    store: EvidenceStore
    items: list[tuple[Path, str]] = field(default_factory=list)
    created: list[Path] = field(default_factory=list)

    def sync(self) -> None:
        """fsync every staged file. Done for all files after all were written, so that the first
        fsync's journal commit carries the others' data too (one disk flush, not one per file)."""
        for tmp, _ in self.items:
            _fsync_path(tmp, os.O_RDONLY)

    def publish(self) -> None:
        """Move every staged file into place (atomic per file); remember which ones are new.
        The files must have been :meth:`sync`-ed; the folders are fsynced after the renames."""
        dirs: set[Path] = set()
        for tmp, digest in self.items:
            final = self.store.path_for(digest)
            if final.exists():
                tmp.unlink(missing_ok=True)
                continue
            if not final.parent.is_dir():
                final.parent.mkdir(parents=True, exist_ok=True)
                dirs.update({final.parent.parent, self.store.root})
            os.replace(tmp, final)
            self.created.append(final)
            dirs.add(final.parent)
        self.items.clear()
        for d in dirs:  # make the renames durable before the database commit names the files
            _fsync_path(d, os.O_RDONLY)

    def discard(self) -> None:
        for tmp, _ in self.items:
            tmp.unlink(missing_ok=True)
        self.items.clear()

    def unpublish(self) -> None:
        """Undo :meth:`publish` for files this request created (its transaction failed)."""
        for path in self.created:
            path.unlink(missing_ok=True)
        self.created.clear()


class EvidenceStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        try:
            self.tmp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the evidence store at {root}: {exc}") from exc

    def path_for(self, digest: str) -> Path:
        if not is_sha256(digest):
            raise NotFound("not a sha256 (64 lowercase hex digits)")
        return self.root / digest[:2] / digest[2:4] / digest

    def stage(self, staged: Staged, data: bytes) -> str:
        """Write ``data`` under a temporary name; return its SHA-256."""
        digest = hashlib.sha256(data).hexdigest()
        tmp = self.tmp / f"{secrets.token_hex(16)}.part"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot write evidence: {exc}") from exc
        staged.items.append((tmp, digest))
        return digest

    def existing_path(self, digest: str) -> Path:
        """Where the file of ``digest`` is; NotFound when it is not in the store."""
        path = self.path_for(digest)
        if not path.is_file():
            raise NotFound(f"evidence {digest} is missing from the store")
        return path

    def exists(self, digest: str) -> bool:
        return self.path_for(digest).is_file()

    def read(self, digest: str) -> bytes:
        path = self.path_for(digest)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"evidence {digest} is not in the store") from exc

    def count(self) -> int:
        """Files in place (tests: nothing stored from a rejected request)."""
        return sum(1 for p in self.root.glob("??/??/*") if p.is_file())

    def staged_count(self) -> int:
        return sum(1 for _ in self.tmp.iterdir())
