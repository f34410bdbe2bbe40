"""Retry waits: doubling from a first wait up to a cap, with jitter — the one definition.

Three loops wait between tries with it, each with its own settings:

- the edge relay (:mod:`detector.delivery.relay`): ``uplink.retry_base_s`` / ``retry_max_s``,
  ± 30 % jitter;
- a camera reader reconnecting (:class:`detector.video.common.ReaderOptions`): ``backoff_initial_s``
  / ``backoff_cap_s``, ± ``jitter``;
- the service's outbox worker (:mod:`service.outbox.worker`): ``outbound_backoff_base_s`` /
  ``outbound_backoff_max_s``, jitter that only shortens the wait (between half of it and all of it),
  so messages that failed together come back apart but never later than the cap.

The wait after failure ``n`` (1, 2, …) is ``step = min(cap_s, base_s · 2^(n-1))`` times a random
factor drawn uniformly from ``[1 - jitter, 1 + jitter]`` (``[1 - jitter, 1]`` when ``below_only``).
The exponent stops growing at 30, so a loop that has failed for days neither overflows nor waits
longer than the cap.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from nce.errors import NceError

MAX_DOUBLINGS = 30


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """How long to wait after the ``n``-th failure in a row."""

    base_s: float
    cap_s: float
    jitter: float = 0.0  # the random part, as a fraction of the step
    below_only: bool = False  # True: the jitter only shortens the step

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.cap_s < 0:
            raise NceError(f"backoff waits must be >= 0 s, got base_s={self.base_s}, cap_s={self.cap_s}")
        if not 0.0 <= self.jitter <= 1.0:
            raise NceError(f"backoff jitter must be between 0 and 1, got {self.jitter}")

    def step(self, n: int) -> float:
        """The wait after failure ``n`` without jitter (``n`` below 1 counts as 1)."""
        return float(min(self.cap_s, self.base_s * 2.0 ** min(max(n - 1, 0), MAX_DOUBLINGS)))

    def delay(self, n: int, rng: random.Random) -> float:
        """The wait after failure ``n``, jittered with ``rng``."""
        high = 1.0 if self.below_only else 1.0 + self.jitter
        return self.step(n) * rng.uniform(1.0 - self.jitter, high)
