"""benchmarks.bench_scaleout's CPU accounting: what each role spent in the measuring window, with a
replica killed and restarted mid-run and device processes that exited (seen only in the children's
rusage), the service-side ceiling, and the verdict on it."""

from __future__ import annotations

import os

import pytest

from benchmarks.bench_scaleout import _ceiling, _cpu_spent, verdict_lines


def snap(replicas: list[float], devices: list[float], children: float, **other: float) -> dict[str, object]:
    return {
        "replicas": replicas,
        "postgres": {1: other.get("postgres", 0.0)},
        "seaweedfs": {},
        "balancer": other.get("balancer", 0.0),
        "devices": devices,
        "children": children,
    }


@pytest.mark.parametrize(
    ("before", "after", "killed", "want"),
    [
        # no kill: replicas' and PostgreSQL's growth; devices = their whole lives (reaped) less their
        # CPU when the window opened
        (
            snap([1.0, 1.0], [0.5, 0.5], 0.0, postgres=2.0, balancer=3.0),
            snap([2.0, 1.5], [0.0, 0.0], 1.6, postgres=2.4, balancer=3.2),
            0.0,
            {"replicas": 1.5, "postgres": 0.4, "seaweedfs": 0.0, "balancer": 0.2, "devices": 0.6},
        ),
        # replica 0 killed at 1.8 s of CPU (0.8 s in the window) and restarted (0.3 s since): its
        # whole life (1.8 s) was reaped with the devices' and is not theirs
        (
            snap([1.0, 1.0], [0.5, 0.5], 0.0),
            snap([0.3, 1.5], [0.0, 0.0], 1.8 + 1.6),
            1.8,
            {"replicas": 0.8 + 0.3 + 0.5, "postgres": 0.0, "seaweedfs": 0.0, "balancer": 0.0, "devices": 0.6},
        ),
    ],
)
def test_cpu_by_role_over_the_window(
    before: dict[str, object], after: dict[str, object], killed: float, want: dict[str, float]
) -> None:
    got = _cpu_spent(before, after, killed)
    assert got == pytest.approx(want)


def test_the_service_ceiling_leaves_out_the_devices_and_the_balancer() -> None:
    cpu = {"replicas": 2.0, "postgres": 0.4, "seaweedfs": 0.1, "balancer": 5.0, "devices": 9.0}
    # 100 packages for 2.5 CPU seconds on the service's side: 40 a CPU second
    assert _ceiling(cpu, 100) == round((os.cpu_count() or 1) * 40, 1)
    assert _ceiling({k: 0.0 for k in cpu}, 100) is None


@pytest.mark.parametrize(("ceiling", "verdict"), [(80.0, "met"), (71.9, "NOT met"), (None, None)])
def test_the_ceiling_verdict_at_32_devices(ceiling: float | None, verdict: str | None) -> None:
    row = {"store": "local", "replicas": 3, "devices": 32, "killed": False, "hits_per_s": 30.0,
           "service_ceiling_hits_per_s": ceiling}  # fmt: skip
    lines = [v for v in verdict_lines([row]) if "service-side ceiling" in v]
    if verdict is None:
        assert lines == []
    else:
        assert lines == [
            f"local, 32 devices: service-side ceiling (the edges' CPU elsewhere) >= 2 x 36 hits/s "
            f"({ceiling} hits/s at best): {verdict}"
        ]
