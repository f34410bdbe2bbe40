"""CPU seconds spent by processes, read from /proc (Linux): what a benchmark step cost in CPU,
which stays meaningful on a shared machine where wall-clock rates do not."""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def stat_cpu_s(stat: str) -> float:
    """User + system CPU seconds in one ``/proc/…/stat`` line (a process's or a thread's)."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15 of stat)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads), 0.0 if it is gone."""
    try:
        return stat_cpu_s(Path(f"/proc/{pid}/stat").read_text())
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


def command_cpu(name: str) -> dict[int, float]:
    """{pid: CPU seconds} of every live process whose command name is ``name`` (e.g. ``postgres``)."""
    out: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == name:
                out[int(entry.name)] = process_cpu_s(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return out


def command_cpu_s(name: str) -> float:
    """CPU seconds of every live process whose command name is ``name``."""
    return sum(command_cpu(name).values())


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds the processes of ``after`` spent since ``before`` (one that started in between counts
    whole; one that ended in between is not seen: an undercount, never a negative)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
