"""What one run of the edge pipeline did: counts, times and events, and the line ``nce run`` ends with."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class RunSummary:
    elapsed_s: float = 0.0
    samples: int = 0
    inferred: int = 0
    gate_skipped: int = 0
    paused: int = 0  # samples of cameras paused by remote settings
    batches: int = 0
    largest_batch: int = 0
    busy_s: float = 0.0  # the loop's own time: gating, letterboxing, decoding, tracking, rules, sinks
    model_s: float = 0.0  # time in session.run (in the inference thread when overlapping)
    events: Counter[str] = field(default_factory=Counter)
    cameras: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        events = ", ".join(f"{k} {v}" for k, v in sorted(self.events.items())) or "none"
        cams = ", ".join(f"{k} {v}" for k, v in self.cameras.items())
        return (
            f"{self.elapsed_s:.1f} s: {self.samples} samples, {self.inferred} inferred in {self.batches} "
            f"batches (largest {self.largest_batch}), {self.gate_skipped} skipped by the gate, "
            f"{self.busy_s:.1f} s busy; "
            f"events: {events}; cameras: {cams}"
        )
