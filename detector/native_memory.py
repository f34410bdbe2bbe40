"""Freed large blocks go back to the operating system.

glibc's malloc serves a block of at least its *mmap threshold* (128 KiB at start) with its own
mapping, returned to the system when freed, but raises the threshold to the size of each such block
freed (up to 32 MiB). After the first 1080p BGR picture (6.2 MB) is freed, every later one comes from
the allocating thread's arena, and each reader thread's arena keeps the freed pictures as resident
memory: about 10 MB a camera measured (detector.video; benchmarks/bench_scaling.py, ``scaling-1080p``).
:func:`return_large_blocks` fixes the threshold (which also stops its rise) once per process, before
the readers start. A no-op where the C library has no ``mallopt`` (not glibc).
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger("detector.memory")

_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
_applied: int | None = None


def return_large_blocks(threshold: int = 1 << 20) -> bool:
    """Serve (and free back to the system) every block of ``threshold`` bytes or more by its own
    mapping; whether the C library took it (False: not glibc, nothing changed)."""
    global _applied
    if _applied == threshold:
        return True
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if mallopt(_M_MMAP_THRESHOLD, threshold) != 1:
        return False
    _applied = threshold
    log.debug("malloc: blocks of %d bytes or more are mapped and returned when freed", threshold)
    return True
