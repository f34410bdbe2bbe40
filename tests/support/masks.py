"""Learned masks in tests: false-detection dismissals put straight into the frame pool (a real JPEG
frame of the camera and a ``review_dismiss`` labelling with the box as a hard negative, as a review
writes it), at a chosen place and time."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence

from sqlalchemy import select

from service import ledger
from service.crud.frames import add_frame, normal_box, write_label
from service.models import FrameLabel
from service.schemas.frames import FrameCreate
from service.state import AppState
from tests.support.console import street

_tags = itertools.count()


def dismissal(
    state: AppState,
    *,
    case_id: int,
    box: Sequence[float],
    camera_id: str = "cam-05",
    label: str = "ad_board",
    at: dt.datetime | None = None,
) -> int:
    """A dismissal of ``case_id`` as a false detection of ``label`` at ``box`` (pixels of a 640x360
    street still of ``camera_id``), dated ``at`` (default now); the frame's id."""
    with state.sessions() as s:
        frame, created = add_frame(
            s,
            store=state.store,
            image=street(f"mask-{next(_tags)}"),
            data=FrameCreate(camera_id=camera_id, source="sample", reason="periodic"),
            actor="device:edge-01",
        )
        assert created
        frame_id = frame.id
    with state.sessions() as s:
        ledger.lock_head(s)
        frame = s.get(type(frame), frame_id)
        assert frame is not None
        row = write_label(
            s, frame, boxes=[normal_box(label, box, True)], complete=False, how="review_dismiss",
            actor="user:rev", case_id=case_id,
        )  # fmt: skip
        if at is not None:
            row.created_at = at
        s.commit()
    return frame_id


def label_times(state: AppState) -> list[dt.datetime]:
    with state.sessions() as s:
        return list(s.execute(select(FrameLabel.created_at).order_by(FrameLabel.id)).scalars())
