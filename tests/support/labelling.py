"""Frames for the labelling page's tests: street pictures (the console's) put into the pool through
:func:`service.crud.frames.add_frame`, with the model's detections as an edge sample carries them."""

from __future__ import annotations

from typing import Any

from service.crud.frames import add_frame
from service.schemas.frames import FrameCreate
from service.state import AppState
from tests.support.console import street

# the model's detections on each pooled frame: one stall, one goods box
DETECTIONS: list[dict[str, Any]] = [
    {"label": "stall", "score": 0.62, "box": [120.0, 200.0, 300.0, 320.0]},
    {"label": "goods", "score": 0.41, "box": [420.0, 230.0, 500.0, 300.0]},
]


def pool_frames(state: AppState, n: int, *, camera_id: str = "cam-07", tag: str = "pool") -> list[int]:
    """Add ``n`` frames of ``camera_id`` (distinct images) with :data:`DETECTIONS`; their ids, oldest
    first (the page opens the newest first)."""
    ids = []
    for i in range(n):
        data = FrameCreate(
            camera_id=camera_id, source="sample", reason="low_confidence", detections=DETECTIONS
        )
        with state.sessions() as s:
            frame, created = add_frame(
                s,
                store=state.store,
                image=street(f"{tag}-{i}", shift=i * 3),
                data=data,
                actor="device:edge-01",
            )
            assert created
            ids.append(frame.id)
    return ids
