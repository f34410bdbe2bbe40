"""Writing files durably, and a package's files on their way into its folder.

- :func:`write_bytes_synced` (a new file, fsync'd), :func:`write_atomic` (replace a file: temporary
  sibling, fsync, rename, fsync the folder), :func:`fsync_dir`;
- :class:`PackageFile` (bytes in memory, or a file already written, such as the clip, to be moved
  in): :func:`write_files` writes or moves each into the package folder, fsyncs it and hashes it
  into the manifest's :class:`~nce.manifest.FileEntry`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from detector.errors import EvidenceError
from nce.hashing import sha256_file
from nce.manifest import FileEntry, FileRole


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_synced(path: Path, data: bytes) -> None:
    """Write a new file and fsync it (the package's files are durable before the manifest is)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: write a temporary sibling, fsync, rename, fsync the folder."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


@dataclass(frozen=True)
class PackageFile:
    """One file of a package: its bytes (``data``) or a file to move in (``path``)."""

    name: str
    role: FileRole
    mime: str
    data: bytes | None = None
    path: Path | None = None

    def __post_init__(self) -> None:
        if (self.data is None) == (self.path is None):
            raise EvidenceError(f"package file {self.name}: give its bytes or its path, exactly one")

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
        elif f.path is None:
            raise EvidenceError(f"package file {f.name}: neither bytes nor a file to move in")
        else:
            os.replace(f.path, target)
            fsync_file(target)
            digest, size = sha256_file(target), target.stat().st_size
        entries.append(FileEntry(name=f.name, role=f.role, sha256=digest, size=size, mime=f.mime))
    return entries
