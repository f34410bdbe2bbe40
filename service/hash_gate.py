"""The hash gate: at most a few password checks (Argon2id) at once, with a bounded queue and wait.

An Argon2id check takes 64 MiB and about a CPU for 0.1 s. Run in the request thread pool without a
bound, 120 parallel sign-ins filled the pool and the memory and kept every other request (even
``/healthz``) waiting for 20 s. Here a sign-in waits as a coroutine (no thread held) for one of
``slots`` slots; only a check holding a slot runs in a worker thread. At most ``queue`` sign-ins
wait; one more, or a wait longer than ``wait_s``, is refused with :class:`~service.errors.Busy`
(503, ``Retry-After``).

The gauges ``nce_login_hash_active`` / ``nce_login_hash_peak`` / ``nce_login_hash_waiting`` show
it working (the peak never exceeds ``slots``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import TypeVar

from fastapi.concurrency import run_in_threadpool

from service.errors import Busy
from service.metrics import Metrics

T = TypeVar("T")


class HashGate:
    def __init__(self, *, slots: int, queue: int, wait_s: float, metrics: Metrics) -> None:
        self.slots = slots
        self.queue = queue
        self.wait_s = wait_s
        self._metrics = metrics
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sem = asyncio.Semaphore(slots)
        self.active = 0
        self.waiting = 0
        self.peak = 0

    def _semaphore(self) -> asyncio.Semaphore:
        # a semaphore belongs to one event loop; an app served by a new loop (tests) gets a new one
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._sem, self.active, self.waiting = loop, asyncio.Semaphore(self.slots), 0, 0
        return self._sem

    def _busy(self, why: str) -> Busy:
        self._metrics.logins.labels("busy").inc()
        return Busy(f"too many sign-ins at once ({why}); retry", retry_after=max(1, math.ceil(self.wait_s)))

    async def run(self, check: Callable[[], T]) -> T:
        """``check()`` in a worker thread once a slot is free."""
        sem = self._semaphore()
        if sem.locked() and self.waiting >= self.queue:
            raise self._busy(f"{self.waiting} waiting")
        self.waiting += 1
        self._metrics.login_hash_waiting.set(self.waiting)
        try:
            await asyncio.wait_for(sem.acquire(), self.wait_s)
        except TimeoutError:
            raise self._busy(f"no password check free within {self.wait_s:g} s") from None
        finally:
            self.waiting -= 1
            self._metrics.login_hash_waiting.set(self.waiting)
        self.active += 1
        self.peak = max(self.peak, self.active)
        self._metrics.login_hash_active.set(self.active)
        self._metrics.login_hash_peak.set(self.peak)
        try:
            return await run_in_threadpool(check)
        finally:
            self.active -= 1
            self._metrics.login_hash_active.set(self.active)
            sem.release()
