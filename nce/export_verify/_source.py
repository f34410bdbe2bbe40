"""Reading a case export the same way from its zip or its extracted folder.

:func:`open_export` gives an :class:`ExportSource`: the member names (duplicates and names that
leave the export's folder set aside for the checks to report), each member's bytes, and its SHA-256
and size, streamed and remembered so that each file is read once. A symbolic link in a folder is
never followed.
"""

from __future__ import annotations

import hashlib
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO

from nce.case_export import CHECKPOINT
from nce.errors import NceError

CHUNK = 1 << 20


class ExportUnreadable(NceError):
    """The path is not a case export at all (no zip, no folder, or not one of ours)."""


def is_export(path: Path) -> bool:
    """A zip file, or a folder holding ``transparency/checkpoint.json``."""
    if path.is_file():
        return zipfile.is_zipfile(path)
    return (path / CHECKPOINT).is_file()


class ExportSource(ABC):
    """The members of an export: ``names`` (sorted, each once), ``duplicates`` (names a zip holds
    more than once) and ``unsafe`` (absolute names, ``..`` or backslashes)."""

    def __init__(self, path: Path, names: list[str], duplicates: list[str]) -> None:
        self.path = path
        self.names = sorted(set(names))
        self.duplicates = duplicates
        self.unsafe = [n for n in self.names if _leaves_folder(n)]
        self._set = set(self.names)
        self._digests: dict[str, tuple[str, int]] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._set

    def read(self, name: str) -> bytes:
        with self._open(name) as f:
            return f.read()

    def digest(self, name: str) -> tuple[str, int]:
        """SHA-256 and size of a member (streamed; remembered, so each file is read once)."""
        if name not in self._digests:
            h = hashlib.sha256()
            size = 0
            for chunk in self._chunks(name):
                h.update(chunk)
                size += len(chunk)
            self._digests[name] = (h.hexdigest(), size)
        return self._digests[name]

    def _chunks(self, name: str) -> Iterator[bytes]:
        with self._open(name) as f:
            yield from iter(lambda: f.read(CHUNK), b"")

    @abstractmethod
    def _open(self, name: str) -> IO[bytes]: ...

    @abstractmethod
    def close(self) -> None:
        """Release what the source holds open."""


class _ZipSource(ExportSource):
    def __init__(self, path: Path) -> None:
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ExportUnreadable(f"{path}: not a zip file: {exc}") from exc
        seen: set[str] = set()
        names: list[str] = []
        duplicates: list[str] = []
        for info in self._zip.infolist():
            if info.is_dir():
                continue
            if info.filename in seen:
                duplicates.append(info.filename)
            seen.add(info.filename)
            names.append(info.filename)
        super().__init__(path, names, duplicates)

    def _open(self, name: str) -> IO[bytes]:
        return self._zip.open(name)

    def close(self) -> None:
        self._zip.close()


class _FolderSource(ExportSource):
    def __init__(self, path: Path) -> None:
        names = [p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file() or p.is_symlink()]
        super().__init__(path, names, [])

    def _open(self, name: str) -> IO[bytes]:
        p = self.path / name
        if p.is_symlink():
            raise ExportUnreadable(f"{name}: a symbolic link, not a file")
        return p.open("rb")

    def close(self) -> None:
        """Nothing to release: each member is opened and closed as it is read."""


def open_export(path: Path) -> ExportSource:
    """The export at ``path``: a zip file or a folder; :class:`ExportUnreadable` when neither."""
    if path.is_file():
        return _ZipSource(path)
    if path.is_dir():
        return _FolderSource(path)
    raise ExportUnreadable(f"{path}: no such file or folder")


def _leaves_folder(name: str) -> bool:
    pure = PurePosixPath(name)
    return pure.is_absolute() or ".." in pure.parts or "\\" in name
