"""The content-addressed evidence store: objects named by their SHA-256 (``ab/cd/abcd…``), never by a
client's name. :class:`EvidenceStore` is the interface; :class:`LocalEvidenceStore` (a folder, the
embedded default) and :class:`service.evidence_s3.S3EvidenceStore` (any S3-compatible object store)
implement it; :func:`open_store` picks one from the settings.

Writers :meth:`~EvidenceStore.put_all` their files BEFORE their database transaction: an upload is
idempotent (the same bytes make the same object) and durable when it returns, so the ledger lock
never waits on storage and a failed commit leaves nothing to undo. What no row names is swept later
(``nce admin gc-evidence``, :mod:`service.evidence_gc`), never before a grace period.
"""

from __future__ import annotations

import abc
import datetime as dt
import hashlib
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from service.errors import NotFound, Unavailable
from service.evidence_range import Opened, Wanted

if TYPE_CHECKING:
    from service.settings import Settings

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
CHUNK_BYTES = 1024 * 1024  # what a download streams at a time


class StoreError(Unavailable):
    """The evidence store cannot write or read (503: the client retries)."""


def is_sha256(value: str) -> bool:
    return bool(_SHA256.match(value))


def check_digest(digest: str) -> str:
    if not is_sha256(digest):
        raise NotFound("not a sha256 (64 lowercase hex digits)")
    return digest


def object_name(digest: str) -> str:
    """``ab/cd/abcd…``: where an object lives under the store's root or prefix."""
    check_digest(digest)
    return f"{digest[:2]}/{digest[2:4]}/{digest}"


@dataclass(frozen=True)
class StoredObject:
    """One object as a listing shows it (what :mod:`service.evidence_gc` decides on)."""

    sha256: str
    size: int
    modified: dt.datetime  # UTC, aware


class EvidenceStore(abc.ABC):
    """What the service needs of an evidence store. Every method may raise :class:`StoreError`
    (the storage failed: 503); reads raise :class:`~service.errors.NotFound` for a missing object."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the store is (a folder, ``s3://bucket/prefix``): for messages."""

    @abc.abstractmethod
    def check(self) -> None:
        """Refuse to start (StoreError, one line) when the store cannot be reached or written."""

    @abc.abstractmethod
    def put_all(self, items: Sequence[bytes], known_sha256: Sequence[str] | None = None) -> list[str]:
        """Store every item (idempotent: an object already there keeps its bytes, and its upload
        time is renewed, so that the garbage collection's grace period counts from this upload);
        return their SHA-256s. When it returns, every object is durable. Called before the
        transaction that names them. ``known_sha256``: the items' SHA-256s (hex), only from a caller
        that has just hashed these very bytes (not hashed again)."""

    def put(self, data: bytes) -> str:
        return self.put_all([data])[0]

    @abc.abstractmethod
    def exists(self, digest: str) -> bool: ...

    @abc.abstractmethod
    def stat(self, digest: str) -> StoredObject:
        """The object's size and last upload time; NotFound when it is not stored."""

    def size(self, digest: str) -> int:
        return self.stat(digest).size

    @abc.abstractmethod
    def stream(self, digest: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes ``start..end`` (inclusive; ``None``: to the end) in chunks, never the whole
        object in memory. NotFound is raised by this call, before the first chunk."""

    def open(self, digest: str, wanted: Wanted | None = None) -> Opened:
        """The object (NotFound), or the part ``wanted`` of it (RangeNotSatisfiable), with its size:
        what a download sends. An object store overrides it to ask once."""
        size = self.size(digest)
        if wanted is None:
            return Opened(size, 0, size - 1, False, self.stream(digest))
        start, end = wanted.within(size)
        return Opened(size, start, end, True, self.stream(digest, start, end))

    def read(self, digest: str, start: int = 0, end: int | None = None) -> bytes:
        """The bytes ``start..end`` (inclusive) at once: small objects and headers only."""
        return b"".join(self.stream(digest, start, end))

    def local_path(self, digest: str) -> Path | None:
        """The object's file when the store is a local folder (served with sendfile), else None."""
        return None

    @abc.abstractmethod
    def objects(self) -> Iterator[StoredObject]:
        """Every stored object (for the garbage collection)."""

    @abc.abstractmethod
    def delete(self, digest: str) -> None:
        """Remove an object (gone already: nothing happens)."""

    def count(self) -> int:
        """Objects stored (tests: nothing stored from a rejected request)."""
        return sum(1 for _ in self.objects())

    def staged_count(self) -> int:
        """Uploads under way or left by a crash (a local folder's temporary files)."""
        return 0


def item_digests(items: Sequence[bytes], known_sha256: Sequence[str] | None) -> list[str]:
    """The items' SHA-256s: computed here, or ``known_sha256`` when the caller has just computed
    them from these very bytes (the ingest, whose manifest check hashed every file)."""
    if known_sha256 is None:
        return [hashlib.sha256(data).hexdigest() for data in items]
    if len(known_sha256) != len(items):
        raise ValueError(f"{len(known_sha256)} digests for {len(items)} items")
    for digest in known_sha256:
        if not is_sha256(digest):
            raise ValueError(f"not a sha256 (64 lowercase hex digits): {digest!r}")
    return list(known_sha256)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_path(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalEvidenceStore(EvidenceStore):
    """``ROOT/ab/cd/abcd…``. A put writes ``ROOT/tmp/<random>``, flushes it (``fdatasync``), renames
    it into place (one ``os.replace``) and fsyncs the folders: durable before the database commit
    names it. The order matters: a name is never durable before its bytes are."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        try:
            self.tmp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the evidence store at {root}: {exc}") from exc

    def describe(self) -> str:
        return str(self.root)

    def check(self) -> None:
        if not os.access(self.tmp, os.W_OK):
            raise StoreError(f"evidence store {self.root}: not writable")

    def path_for(self, digest: str) -> Path:
        return self.root / object_name(digest)

    def put_all(self, items: Sequence[bytes], known_sha256: Sequence[str] | None = None) -> list[str]:
        digests = item_digests(items, known_sha256)
        written: list[tuple[int, Path, Path]] = []  # (open descriptor, temporary file, final path)
        try:
            for data, digest in zip(items, digests, strict=True):
                final = self.path_for(digest)
                if any(f == final for _, _, f in written):
                    continue
                if final.is_file():  # content-addressed: the same bytes are there already
                    os.utime(final)  # a new upload: the grace period starts again
                    continue
                tmp = self.tmp / f"{secrets.token_hex(16)}.part"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
                written.append((fd, tmp, final))
                _write_all(fd, data)
            # flushed after all were written (the first flush's journal commit carries the others),
            # through the descriptor that wrote them (no second open). fdatasync: the data and what
            # reading it back needs (the size, the blocks), not the times: all that a later read
            # of the object relies on
            for fd, _, _ in written:
                os.fdatasync(fd)
            dirs: set[Path] = set()
            for _, tmp, final in written:
                if not final.parent.is_dir():
                    final.parent.mkdir(parents=True, exist_ok=True)
                    dirs.update({final.parent.parent, self.root})
                os.replace(tmp, final)
                dirs.add(final.parent)
            for d in dirs:  # the renames are durable before the database commit names the files
                _fsync_path(d, os.O_RDONLY)
        except OSError as exc:
            for _, tmp, _ in written:
                tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot write evidence: {exc}") from exc
        finally:
            for fd, _, _ in written:
                os.close(fd)
        return digests

    def existing_path(self, digest: str) -> Path:
        """Where the file of ``digest`` is; NotFound when it is not in the store."""
        path = self.path_for(digest)
        if not path.is_file():
            raise NotFound(f"evidence {digest} is missing from the store")
        return path

    def local_path(self, digest: str) -> Path | None:
        return self.existing_path(digest)

    def exists(self, digest: str) -> bool:
        return self.path_for(digest).is_file()

    def stat(self, digest: str) -> StoredObject:
        st = self.existing_path(digest).stat()
        return StoredObject(digest, st.st_size, dt.datetime.fromtimestamp(st.st_mtime, dt.UTC))

    def stream(self, digest: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        try:
            fh = open(self.path_for(digest), "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError as exc:
            raise NotFound(f"evidence {digest} is not in the store") from exc
        except OSError as exc:
            raise StoreError(f"cannot read evidence {digest}: {exc}") from exc
        return _chunks(fh, start, end)

    def objects(self) -> Iterator[StoredObject]:
        for p in self.root.glob("??/??/*"):
            if is_sha256(p.name):
                st = p.stat()
                yield StoredObject(p.name, st.st_size, dt.datetime.fromtimestamp(st.st_mtime, dt.UTC))

    def delete(self, digest: str) -> None:
        self.path_for(digest).unlink(missing_ok=True)

    def staged_count(self) -> int:
        return sum(1 for _ in self.tmp.iterdir())

    def stale_uploads(self, older_than: dt.datetime) -> list[Path]:
        """Temporary files of puts a crash interrupted (the garbage collection removes them)."""
        return [
            p for p in self.tmp.iterdir() if dt.datetime.fromtimestamp(p.stat().st_mtime, dt.UTC) < older_than
        ]


def _chunks(f: BinaryIO, start: int, end: int | None) -> Iterator[bytes]:
    with f:
        f.seek(start)
        left = None if end is None else end - start + 1
        while left is None or left > 0:
            chunk = f.read(CHUNK_BYTES if left is None else min(CHUNK_BYTES, left))
            if not chunk:
                return
            if left is not None:
                left -= len(chunk)
            yield chunk


def open_store(settings: Settings) -> EvidenceStore:
    """The store the settings name: ``evidence_url`` (``s3://bucket/prefix``) or ``evidence_dir``.
    Not checked here: :meth:`EvidenceStore.check` does that when the service starts."""
    if settings.evidence_url:
        from service.evidence_s3 import S3EvidenceStore

        return S3EvidenceStore.from_url(settings.evidence_url, endpoint=settings.s3_endpoint)
    return LocalEvidenceStore(settings.evidence_dir)
