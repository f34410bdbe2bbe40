"""The frame pool: frame create (internal), labels in, public views of a frame, its labels and a page.

Boxes are ``[x1, y1, x2, y2]`` in the frame's pixels. What a client may send about labels is
:class:`LabelsIn` (classes and boxes, checked against the frame in :mod:`service.crud.frames`);
``negative`` boxes (a dismissed false detection: the frame shows no such object there) are only ever
made by a review.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from nce.bounds import INT32_MAX, Id, Label
from nce.vocabulary import MODEL_CLASSES
from service.schemas.common import Input, Output

FrameSource = Literal["sample", "import", "case"]
LabelHow = Literal["label", "review_confirm", "review_dismiss", "review_revert"]
FrameStatus = Literal["unlabelled", "partial", "labelled"]
CameraId = Id

MAX_BOXES = 256  # boxes on one frame (a street scene has tens)
MAX_DETECTIONS = 300  # the model's detections kept with a frame


class BoxIn(Input):
    label: str = Field(
        min_length=1,
        max_length=32,
        description="one of the model's classes",
        json_schema_extra={"enum": list(MODEL_CLASSES)},
    )
    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 in the frame's pixels")


class LabelsIn(Input):
    boxes: list[BoxIn] = Field(
        max_length=MAX_BOXES, description="every object of the model's classes on the frame ([]: none)"
    )
    complete: bool = Field(
        description="true: every object on the frame is boxed (exported as is); false: some may be missing"
    )


class FrameDetection(Input):
    """One of the model's detections on a frame, pre-filled as an editable box."""

    label: Label
    score: float | None = Field(default=None, ge=0, le=1)
    box: tuple[float, float, float, float]


class FrameCreate(Input):
    """A frame to add to the pool (the image comes separately; its size is read from it)."""

    camera_id: CameraId
    source: FrameSource
    reason: str | None = Field(default=None, max_length=64)
    origin: str | None = Field(default=None, max_length=255)
    detections: list[FrameDetection] = Field(default_factory=list, max_length=MAX_DETECTIONS)
    taken_at: dt.datetime | None = Field(default=None, description="default: now")
    case_id: int | None = Field(default=None, ge=1, le=INT32_MAX)
    event_id: int | None = Field(default=None, ge=1, le=INT32_MAX)
    package_id: str | None = Field(default=None, max_length=128)


class BoxPublic(Output):
    label: str
    box: tuple[float, float, float, float]
    negative: bool = Field(
        default=False, description="a hard negative: a dismissed false detection, not an object"
    )


class DetectionPublic(Output):
    label: str
    score: float | None = None
    box: tuple[float, float, float, float]


class FrameLabelPublic(Output):
    id: int
    boxes: list[BoxPublic]
    complete: bool
    how: LabelHow
    labelled_by: str
    case_id: int | None
    created_at: dt.datetime


class FramePublic(Output):
    frame_id: int
    camera_id: str
    source: FrameSource
    reason: str | None
    origin: str | None
    sha256: str
    mime: str
    width: int
    height: int
    detections: list[DetectionPublic] = Field(description="the model's detections on it, if any")
    labels: list[BoxPublic] | None = Field(description="the latest labels; null when never labelled")
    status: FrameStatus
    complete: bool | None = Field(description="the latest labels cover every object; null: unlabelled")
    labelled_how: LabelHow | None
    labelled_by: str | None
    labelled_at: dt.datetime | None
    case_id: int | None
    package_id: str | None
    taken_at: dt.datetime
    created_at: dt.datetime
    image_url: str


class FrameDetail(FramePublic):
    history: list[FrameLabelPublic] = Field(description="every labelling, oldest first; the last counts")


class FramesPage(Output):
    items: list[FramePublic]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")
