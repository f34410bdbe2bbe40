"""benchmarks.cpu_time reads CPU seconds from /proc: a busy loop shows in this process's figure, a
process that is gone reads 0, and the running PostgreSQL's processes add up to more than nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from benchmarks.cpu_time import command_cpu_s, process_cpu_s, spent


def test_a_busy_loop_shows_in_the_process_cpu() -> None:
    before = process_cpu_s(os.getpid())
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    assert process_cpu_s(os.getpid()) - before >= 0.2


def test_a_process_that_is_gone_reads_zero_and_postgres_is_counted() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process_cpu_s(child.pid) == 0.0
    assert command_cpu_s("postgres") > 0.0, "the machine's PostgreSQL (127.0.0.1:5432) should be running"
    assert command_cpu_s("no-such-command-nce") == 0.0


def test_spent_counts_new_processes_whole_and_never_goes_negative() -> None:
    assert spent({1: 5.0, 2: 3.0}, {1: 6.5, 3: 0.25}) == 1.75  # 2 ended: not seen; 3 is new
