"""The edge's rollback rules (detector.health_watch), table-driven: errors, detection and hit floods,
the previous release over the same hours of day."""

from __future__ import annotations

import datetime as dt

import pytest

from detector.health_watch import HealthRules, HealthWatch, Tally, judge

RULES = HealthRules(min_errors=3, max_error_rate=0.02, min_frames=20, max_detections_per_frame=40.0,
                    min_hours=0.25, max_ratio=3.0, rate_floor=60.0, hit_floor=2.0)  # fmt: skip


def tally(frames: int = 0, errors: int = 0, detections: int = 0, hits: int = 0, hours: float = 0.0) -> Tally:
    return Tally(frames=frames, errors=errors, detections=detections, hits=hits, seconds=hours * 3600)


@pytest.mark.parametrize(
    ("before", "after", "reason"),
    [
        # healthy: same rates as before
        (tally(1000, 0, 600, 4, 1.0), tally(500, 0, 300, 2, 0.5), None),
        # errors: judged at once, no baseline needed
        (None, tally(10, 3, 5), "inference errors: 3 of 13 frames"),
        (None, tally(10, 2, 5), None),  # fewer than min_errors
        (None, tally(1000, 3, 5), None),  # 3 of 1003 is under 2 %
        (None, tally(100, 5, 5), "inference errors: 5 of 105 frames"),
        # a flood per frame: no baseline needed, but min_frames
        (None, tally(20, 0, 1000), "detection flood: 50.0 detections per frame (limit 40)"),
        (None, tally(19, 0, 1000), None),
        (None, tally(20, 0, 800), None),  # exactly 40 per frame is not above the limit
        # a flood per camera-hour against the previous release
        (
            tally(1000, 0, 300, 2, 1.0),
            tally(500, 0, 1000, 1, 0.5),
            "detection flood: 2000 detections per camera-hour against 300 before",
        ),
        (tally(1000, 0, 300, 2, 1.0), tally(500, 0, 450, 1, 0.5), None),  # 900 is 3x, not above
        # a quiet street: the previous rate is floored at rate_floor
        (tally(1000, 0, 1, 0, 1.0), tally(500, 0, 60, 0, 0.5), None),
        (
            tally(1000, 0, 1, 0, 1.0),
            tally(500, 0, 91, 0, 0.5),
            "detection flood: 182 detections per camera-hour against 60 before",
        ),
        # not enough hours on either side: no ratio judged
        (tally(1000, 0, 300, 2, 0.2), tally(500, 0, 1000, 1, 0.5), None),
        (tally(1000, 0, 300, 2, 1.0), tally(50, 0, 1000, 1, 0.1), None),
        (None, tally(500, 0, 1000, 50, 0.5), None),
        # hits
        (
            tally(1000, 0, 300, 10, 1.0),
            tally(500, 0, 150, 16, 0.5),
            "hit flood: 32.0 hits per camera-hour against 10.0 before",
        ),
        (tally(1000, 0, 300, 10, 1.0), tally(500, 0, 150, 15, 0.5), None),
        (
            tally(1000, 0, 300, 0, 1.0),
            tally(500, 0, 150, 4, 0.5),
            "hit flood: 8.0 hits per camera-hour against 2.0 before",
        ),
    ],
)
def test_judge(before: Tally | None, after: Tally, reason: str | None) -> None:
    assert judge(RULES, before, after) == reason


def at(hour: int, second: int) -> dt.datetime:
    return dt.datetime(2026, 12, 1, hour, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=second)


def test_the_previous_release_is_compared_over_the_same_hours() -> None:
    """Busy at 10:00, quiet at 03:00: a new model seen at 03:00 only is compared with the old model's
    03:00, not its busy day; with too few of those hours it falls back to all of them."""
    watch = HealthWatch(RULES)
    for s in range(0, 3600, 10):  # the old model: 1 detection per frame at 03:00, 20 at 10:00
        watch.frame("v1", "cam-01", at(3, s), 1)
    for s in range(0, 3600, 10):
        watch.frame("v1", "cam-01", at(10, s), 20)
    for s in range(0, 1800, 10):  # the new model at 03:00 the next night: 10 per frame
        watch.frame("v2", "cam-01", at(3, s) + dt.timedelta(days=1), 10)
    reason = watch.verdict("v2", "v1")
    # 1800 detections over 1850 s (the day's gap counts as max_gap_s), against 360 over 3590 s + 60
    assert reason == "detection flood: 3503 detections per camera-hour against 361 before"
    assert watch.verdict("v2", "v1", cameras={"cam-01"}) == reason
    assert watch.verdict("v2", "v1", cameras={"cam-02"}) is None, "no frames of the new model there"


def test_camera_time_caps_gaps_and_errors_count_per_release() -> None:
    watch = HealthWatch(RULES)
    watch.frame("v1", "cam-01", at(3, 0), 0)
    watch.frame("v1", "cam-01", at(3, 30), 0)
    watch.frame("v1", "cam-01", at(3, 3000), 0)  # a 49-minute gap (stream down) counts as 60 s
    assert watch.total("v1").seconds == 90.0
    for _ in range(3):
        watch.error("v2", "cam-01", at(3, 3001))
    assert watch.verdict("v1", None) is None
    assert watch.verdict("v2", "v1") == "inference errors: 3 of 3 frames"
