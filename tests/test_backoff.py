"""The one retry-wait definition (nce.backoff) and its three callers' settings."""

from __future__ import annotations

import random

import pytest

from detector.delivery.relay import DEFAULT_BACKOFF
from detector.video.common import ReaderOptions
from nce.backoff import Backoff
from nce.errors import NceError
from service.outbox.worker import Policy


@pytest.mark.parametrize(
    ("base_s", "cap_s", "n", "step"),
    [
        (1.0, 60.0, 1, 1.0),
        (1.0, 60.0, 2, 2.0),
        (1.0, 60.0, 3, 4.0),
        (1.0, 60.0, 6, 32.0),
        (1.0, 60.0, 7, 60.0),  # 64 capped
        (1.0, 60.0, 0, 1.0),  # below 1 counts as the first failure
        (1.0, 60.0, -5, 1.0),
        (2.0, 900.0, 9, 512.0),
        (2.0, 900.0, 10, 900.0),
        (1.0, 30.0, 10_000, 30.0),  # days of failures: no overflow, still the cap
        (1.0, 1e12, 10_000, 2.0**30),  # the exponent stops at 30
        (0.0, 0.0, 5, 0.0),  # tests that retry at once
        (5.0, 2.0, 1, 2.0),  # a cap under the first wait wins
    ],
)
def test_the_step_doubles_up_to_its_cap(base_s: float, cap_s: float, n: int, step: float) -> None:
    assert Backoff(base_s=base_s, cap_s=cap_s).step(n) == step


@pytest.mark.parametrize(
    ("jitter", "below_only", "low", "high"),
    [
        (0.0, False, 1.0, 1.0),
        (0.3, False, 0.7, 1.3),  # the edge relay
        (0.25, False, 0.75, 1.25),  # a camera reader
        (0.5, True, 0.5, 1.0),  # the service's outbox worker
        (1.0, False, 0.0, 2.0),
    ],
)
def test_the_jitter_stays_in_its_band_and_spreads(
    jitter: float, below_only: bool, low: float, high: float
) -> None:
    b = Backoff(base_s=1.0, cap_s=60.0, jitter=jitter, below_only=below_only)
    waits = [b.delay(4, random.Random(seed)) for seed in range(200)]
    assert all(8.0 * low <= w <= 8.0 * high for w in waits)
    assert (len(set(waits)) > 1) == (jitter > 0)
    if jitter:  # both ends of the band are reached, not a narrower one
        assert min(waits) < 8.0 * (low + 0.1 * jitter) and max(waits) > 8.0 * (high - 0.1 * jitter)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_s": -1.0, "cap_s": 1.0}, "must be >= 0 s"),
        ({"base_s": 1.0, "cap_s": -1.0}, "must be >= 0 s"),
        ({"base_s": 1.0, "cap_s": 1.0, "jitter": 1.5}, "between 0 and 1, got 1.5"),
        ({"base_s": 1.0, "cap_s": 1.0, "jitter": -0.1}, "between 0 and 1"),
    ],
)
def test_impossible_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(NceError, match=message):
        Backoff(**kwargs)  # type: ignore[arg-type]


def test_each_caller_keeps_its_settings() -> None:
    """The relay: 1 s to 60 s ± 30 %; a reader: 1 s to 30 s ± 25 %; the worker: 2 s to 900 s, half
    to all of the step — the same numbers as before the three copies became one."""
    assert Backoff(base_s=1.0, cap_s=60.0, jitter=0.3) == DEFAULT_BACKOFF
    options = ReaderOptions()
    for n in (1, 2, 5, 6, 12):
        old_reader = min(30.0, 1.0 * 2.0 ** (n - 1)) * random.Random(n).uniform(0.75, 1.25)
        assert options.backoff(n, random.Random(n)) == pytest.approx(old_reader)
        step = min(900.0, 2.0 * float(1 << (n - 1)))
        old_worker = step / 2 + random.Random(n).uniform(0, step / 2)
        assert Policy().backoff.delay(n, random.Random(n)) == pytest.approx(old_worker)


def test_a_reader_down_for_days_still_gets_a_wait() -> None:
    """2.0 ** 1024 overflows: a camera that had failed ~1,000 times in a row (8 h at a 30 s cap)
    crashed its reader thread computing the next wait."""
    assert 22.5 <= ReaderOptions().backoff(5000, random.Random(0)) <= 37.5
