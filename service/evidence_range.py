"""Byte ranges of an evidence download (RFC 9110 ``Range: bytes=…``), and what a store answers.

A download asks the store once (:meth:`service.evidence_store.EvidenceStore.open`) with the range as
the client wrote it (:class:`Wanted`, before anyone knows the object's size), and the store answers
with the bytes and the size in one go (:class:`Opened`): an object store does it in one ``GET`` with
a ``Range`` header, whose answer carries the size (``Content-Range``), not a ``HEAD`` and a ``GET``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


class RangeNotSatisfiable(Exception):
    """No byte of the asked range exists (416): ``size`` is the object's, for ``bytes */SIZE``."""

    def __init__(self, size: int) -> None:
        super().__init__(f"no byte of the range is in the object's {size} bytes")
        self.size = size


@dataclass(frozen=True)
class Wanted:
    """One range as asked: ``first-last`` (``last`` None: to the end) or, ``first`` None, the last
    ``last`` bytes."""

    first: int | None
    last: int | None

    @classmethod
    def of(cls, header: str | None) -> Wanted | None:
        """The range one ``Range`` header asks; None: send the whole (no header, several ranges, one
        that is not understood or ``A-B`` with B < A: RFC 9110 lets a server ignore those)."""
        m = _RANGE.match(header) if header is not None else None
        if m is None or (not m[1] and not m[2]):
            return None
        if not m[1]:
            return cls(None, int(m[2]))
        if m[2] and int(m[2]) < int(m[1]):
            return None
        return cls(int(m[1]), int(m[2]) if m[2] else None)

    def header(self) -> str:
        """As a ``Range`` header again (an object store's ``GET`` takes it as it is)."""
        return f"bytes={'' if self.first is None else self.first}-{'' if self.last is None else self.last}"

    def within(self, size: int) -> tuple[int, int]:
        """The inclusive bytes it asks of ``size`` bytes; RangeNotSatisfiable when there are none."""
        if self.first is None:
            if self.last == 0 or size == 0:
                raise RangeNotSatisfiable(size)
            return max(size - (self.last or 0), 0), size - 1
        if self.first >= size:
            raise RangeNotSatisfiable(size)
        return self.first, size - 1 if self.last is None else min(self.last, size - 1)


@dataclass(frozen=True)
class Opened:
    """An object being read: its whole ``size``, the bytes ``start..end`` (inclusive) that
    ``chunks`` yields, and whether that is a part (206) or the whole (200)."""

    size: int
    start: int
    end: int
    partial: bool
    chunks: Iterator[bytes]

    @classmethod
    def from_answer(cls, length: int, content_range: str | None, chunks: Iterator[bytes]) -> Opened:
        """From an HTTP answer's ``Content-Length`` and ``Content-Range`` (None: the whole)."""
        m = _CONTENT_RANGE.match(content_range or "")
        if m is None:
            return cls(length, 0, length - 1, False, chunks)
        return cls(int(m[3]), int(m[1]), int(m[2]), True, chunks)
