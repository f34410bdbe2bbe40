"""The words both sides share, each defined once (ARCHITECTURE.md §2).

- :data:`Violation`: the violations NCE decides; :data:`VIOLATIONS` is the same list as a tuple.
- :data:`EventKind`: the events of a hit's life; :data:`EVENT_KINDS` is the same list as a tuple.
- :data:`ModelClass`: the classes of the project's own detector, in the shipped model's class-id order;
  :data:`MODEL_CLASSES` is the same list as a tuple. Labels in the frame pool and the datasets the
  service exports use exactly these (the edge's ``DETECTOR_CLASSES`` adds ``person``, which only some
  models have).
- :data:`SampleReason`: why the edge picked a frame to learn from (a *sample* package);
  :data:`SAMPLE_REASONS` is the same list as a tuple.

Each is a ``Literal`` type (so that mypy checks every use and pydantic validates it); each tuple is
derived from its type, never written out a second time. The manifest model, the hit-event contract,
the site config, the service's schemas and the console all import them from here.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = [
    "EVENT_KINDS",
    "MODEL_CLASSES",
    "SAMPLE_REASONS",
    "VIOLATIONS",
    "EventKind",
    "ModelClass",
    "SampleReason",
    "Violation",
]

Violation = Literal["out_of_shop_trading", "street_vending", "piled_goods", "illegal_ad", "exposed_garbage"]
VIOLATIONS: Final[tuple[Violation, ...]] = get_args(Violation)

EventKind = Literal["opened", "confirmed", "still_present", "cleared"]
EVENT_KINDS: Final[tuple[EventKind, ...]] = get_args(EventKind)

ModelClass = Literal["stall", "goods", "umbrella", "banner", "ad_board", "poster", "garbage"]
MODEL_CLASSES: Final[tuple[ModelClass, ...]] = get_args(ModelClass)
SampleReason = Literal["low_confidence", "near_miss", "periodic"]
SAMPLE_REASONS: Final[tuple[SampleReason, ...]] = get_args(SampleReason)
