"""Score-threshold proposals, the computation (no database): where operators keep dismissing low-scored
detections as false, a higher least score would have spared them the work.

A *review* (:class:`Review`) is one reviewed case: its camera, the detector class and score of the
object that decided it (the case's first signed package, ``event.label`` / ``event.score``), whether
it was confirmed or dismissed as a **false detection** (误检, the ``false_detection`` flag), and the
least score the edge applied then (``max(model.conf, rule.min_score)`` from that manifest). A
dismissal as 非违规 (``not_violation``: the object is real, the conduct is not a violation) says
nothing about the detector and is not a review here.

Per camera and class, with at least :attr:`ThresholdRules.min_reviewed` reviews in the window, the
proposal is the **lowest** threshold ``t`` on the grid (multiples of :attr:`ThresholdRules.step`,
strictly above the current one) such that dropping every detection scored below ``t`` would have
removed at least :attr:`ThresholdRules.min_removed` of the false detections and lost at most
:attr:`ThresholdRules.max_lost` of the confirmed cases. No such ``t``: no proposal.

A proposal only ever **raises** a threshold: the service never sees what the edge did not send, so it
cannot tell what a lower one would have added.
"""

from __future__ import annotations

import datetime as dt
import math
import shlex
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from service.settings import Settings

SCALE = 10_000  # scores and thresholds compared in 1/10000 (no float drift on the grid)


@dataclass(frozen=True)
class ThresholdRules:
    """When reviews make a proposal (the service's ``threshold_*`` settings)."""

    min_reviewed: int = 20
    min_removed: float = 0.5
    max_lost: float = 0.05
    step: float = 0.05
    days: int = 30

    @classmethod
    def of(cls, settings: Settings) -> ThresholdRules:
        return cls(
            min_reviewed=settings.threshold_min_reviewed,
            min_removed=settings.threshold_min_removed,
            max_lost=settings.threshold_max_lost,
            step=settings.threshold_step,
            days=settings.threshold_days,
        )


@dataclass(frozen=True)
class Review:
    """One reviewed case: confirmed, or dismissed as a false detection."""

    case_id: int
    camera_id: str
    label: str
    score: float
    confirmed: bool
    at: dt.datetime  # the case's first sighting (the window is over these)
    violation: str
    current: float | None  # the least score the edge applied (None: the manifest did not say)


@dataclass(frozen=True)
class Proposal:
    camera_id: str
    label: str
    current: float | None
    proposed: float
    confirmed: int
    false: int
    removed: int  # false detections scored below the proposal
    lost: int  # confirmed cases scored below the proposal
    violations: tuple[str, ...]
    confirmed_scores: tuple[float, ...]
    false_scores: tuple[float, ...]


def _units(x: float) -> int:
    return round(x * SCALE)


def grid(current: float | None, step: float) -> list[float]:
    """The thresholds to try: multiples of ``step`` up to 1, strictly above ``current``."""
    unit = _units(step)
    if unit <= 0:
        return []
    floor = _units(current) if current is not None else 0
    return [k * unit / SCALE for k in range(1, SCALE // unit + 1) if k * unit > floor]


def best(
    confirmed: Sequence[float], false: Sequence[float], current: float | None, rules: ThresholdRules
) -> tuple[float, int, int] | None:
    """``(threshold, removed, lost)``: the lowest grid threshold that meets the rules, or None."""
    if not false:
        return None
    need = math.ceil(rules.min_removed * len(false) - 1e-9)
    allowed = math.floor(rules.max_lost * len(confirmed) + 1e-9)
    for t in grid(current, rules.step):
        cut = _units(t)
        lost = sum(_units(s) < cut for s in confirmed)
        if lost > allowed:
            return None  # higher thresholds lose at least as many
        removed = sum(_units(s) < cut for s in false)
        if removed >= max(need, 1):
            return t, removed, lost
    return None


def propose(reviews: Iterable[Review], rules: ThresholdRules, *, now: dt.datetime) -> list[Proposal]:
    """Proposals per camera and class from the reviews of the last ``rules.days`` days, by camera."""
    since = now - dt.timedelta(days=rules.days)
    groups: dict[tuple[str, str], list[Review]] = defaultdict(list)
    for r in reviews:
        if since <= r.at <= now:
            groups[(r.camera_id, r.label)].append(r)
    out: list[Proposal] = []
    for (camera_id, label), rs in sorted(groups.items()):
        if len(rs) < rules.min_reviewed:
            continue
        latest = max(rs, key=lambda r: (r.at, r.case_id))
        confirmed = sorted(r.score for r in rs if r.confirmed)
        false = sorted(r.score for r in rs if not r.confirmed)
        found = best(confirmed, false, latest.current, rules)
        if found is None:
            continue
        t, removed, lost = found
        out.append(
            Proposal(
                camera_id=camera_id,
                label=label,
                current=latest.current,
                proposed=t,
                confirmed=len(confirmed),
                false=len(false),
                removed=removed,
                lost=lost,
                violations=tuple(sorted({r.violation for r in rs})),
                confirmed_scores=tuple(confirmed),
                false_scores=tuple(false),
            )
        )
    return out


def effect_line(p: Proposal) -> str:
    """The expected effect in English (the console words it in its own catalogue)."""
    return (
        f"would have removed {p.removed} of {p.false} false detections "
        f"and lost {p.lost} of {p.confirmed} confirmed"
    )


def _num(x: float) -> str:
    return f"{x:.4f}".rstrip("0").rstrip(".") if x else "0"


def rule_thresholds(proposals: Iterable[Proposal]) -> dict[str, dict[str, tuple[float, list[str]]]]:
    """camera → violation → (least score for that rule, the classes it comes from): the site config's
    knob is ``rules[].min_score``, one per rule, so each rule takes its strictest class's proposal."""
    out: dict[str, dict[str, tuple[float, list[str]]]] = defaultdict(dict)
    for p in proposals:
        for v in p.violations:
            t, labels = out[p.camera_id].get(v, (0.0, []))
            out[p.camera_id][v] = (max(t, p.proposed), sorted({*labels, p.label}))
    return dict(out)


def yaml_lines(proposals: Sequence[Proposal]) -> str:
    """The proposals as YAML to paste: per camera, a list of ``{violation, min_score}``, each the new
    ``min_score`` of the rule with that violation in the site config of the box that runs the camera.
    Parses as a YAML list (``[]`` when there is nothing to propose)."""
    head = [
        "# score-threshold proposals: set min_score of the rule with this violation (rules[].min_score)",
        "# in the site config of the box that runs the camera. It applies to every class of the rule and",
        "# every camera of that box: each rule takes its strictest class's proposal.",
    ]
    per_camera = rule_thresholds(proposals)
    if not per_camera:
        return "\n".join([*head, "# nothing to propose", "[]"]) + "\n"
    lines = list(head)
    for camera_id in sorted(per_camera):
        for violation, (t, labels) in sorted(per_camera[camera_id].items()):
            lines += [
                f"# camera {camera_id}, classes {', '.join(labels)}",
                f"- violation: {violation}",
                f"  min_score: {_num(t)}",
            ]
    return "\n".join(lines) + "\n"


def camera_setting_lines(proposals: Iterable[Proposal], devices: Mapping[str, str]) -> str:
    """The proposals as ``nce admin camera-settings`` commands (the remote per-camera ``min_score``),
    one per camera. A camera's ``min_score`` drops its detections of every class below it, so each
    camera takes its strictest class's proposal. ``devices``: camera → the device whose hit events
    name it (``DEVICE`` to fill in when unknown); ``URL`` is the service's database. Empty when there
    is nothing to propose."""
    strictest: dict[str, tuple[float, list[str]]] = {}
    for p in proposals:
        t, labels = strictest.get(p.camera_id, (0.0, []))
        strictest[p.camera_id] = (max(t, p.proposed), sorted({*labels, p.label}))
    lines: list[str] = []
    for camera_id, (t, labels) in sorted(strictest.items()):
        device = shlex.quote(devices.get(camera_id, "DEVICE"))
        lines += [
            f"# camera {camera_id}, classes {', '.join(labels)}",
            f"nce admin camera-settings --db URL --device {device} --camera {shlex.quote(camera_id)} "
            f"--min-score {_num(t)}",
        ]
    return "\n".join(lines) + "\n" if lines else ""


__all__ = [
    "Proposal",
    "Review",
    "ThresholdRules",
    "best",
    "camera_setting_lines",
    "effect_line",
    "grid",
    "propose",
    "rule_thresholds",
    "yaml_lines",
]
