"""A package's files on their way into its folder: :class:`PackageFile` (bytes in memory, or a
file already written, such as the clip, to be moved in), each written and fsync'd there and hashed
into the manifest's :class:`~nce.manifest.FileEntry`."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from detector.evidence.render import write_bytes_synced
from nce.manifest import FileEntry, FileRole


@dataclass(frozen=True)
class PackageFile:
    """One file of a package: its bytes (``data``) or a file to move in (``path``)."""

    name: str
    role: FileRole
    mime: str
    data: bytes | None = None
    path: Path | None = None

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        return self.path.stat().st_size if self.path is not None else 0


def write_files(folder: Path, files: Sequence[PackageFile]) -> list[FileEntry]:
    """Put ``files`` into ``folder`` (written or moved, fsync'd) and describe them for the manifest."""
    entries: list[FileEntry] = []
    for f in files:
        target = folder / f.name
        if f.data is not None:
            write_bytes_synced(target, f.data)
            digest, size = hashlib.sha256(f.data).hexdigest(), len(f.data)
        else:
            assert f.path is not None
            os.replace(f.path, target)
            with target.open("rb") as fh:
                digest, size = hash_fd(fh.fileno())
                os.fsync(fh.fileno())
        entries.append(FileEntry(name=f.name, role=f.role, sha256=digest, size=size, mime=f.mime))
    return entries


def hash_fd(fd: int) -> tuple[str, int]:
    """Hex SHA-256 and size of an open file, read from its current position to the end."""
    h = hashlib.sha256()
    size = 0
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size
