"""A package's pictures: each still raw (never drawn on) and annotated (camera, local time,
violation and moment in Chinese, the zone, the object's box), and the crop of the object."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detector.config import Zone
from detector.events import Frame, HitEvent
from detector.evidence.files import PackageFile
from detector.evidence.render import (
    CLASS_ZH,
    MOMENT_ZH,
    VIOLATION_ZH,
    Annotation,
    annotate,
    crop_box,
    encode_jpeg,
)
from nce.manifest import Still, StillMoment, utc_ms

Image8 = npt.NDArray[np.uint8]
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class StillRenderer:
    """Renders stills and crops for one site: its camera names (camera id → name) and time zone, a
    CJK font file (None: none on disk, the labels are burned in English) and the JPEG quality."""

    camera_names: Mapping[str, str]
    tz: dt.tzinfo
    font: str | None
    jpeg_quality: int

    def note(
        self, moment: StillMoment, frame: Frame, box: Box | None, hit_event: HitEvent, zone: Zone
    ) -> Annotation:
        """What is burned into a still: in Chinese (violation, moment and class names as the console
        words them), or in English with the camera's id when there is no CJK font."""
        violation, label = str(hit_event.violation), str(hit_event.label)
        if self.font is None:
            camera, moment_text = frame.camera_id, moment.replace("_", " ")
            violation_text, label_text = violation.replace("_", " "), label.replace("_", " ")
        else:
            camera = f"{self.camera_names.get(frame.camera_id, frame.camera_id)} ({frame.camera_id})"
            moment_text = MOMENT_ZH[moment]
            violation_text = VIOLATION_ZH.get(violation, violation)
            label_text = CLASS_ZH.get(label, label)
        return Annotation(
            camera=camera,
            time_text=self.time_text(frame.utc),
            caption=f"{violation_text}{' - ' if self.font is None else ' · '}{moment_text}",
            polygon01=zone.polygon,
            box=box,
            label=f"{violation_text} {label_text} {hit_event.score:.2f}" if box is not None else None,
        )

    def time_text(self, t: dt.datetime) -> str:
        """``t`` in the site's local time, to the millisecond, with its UTC offset."""
        local = t.astimezone(self.tz)
        return (
            local.strftime("%Y-%m-%d %H:%M:%S.") + f"{local.microsecond // 1000:03d} {local.strftime('%z')}"
        )

    def still(
        self, n: int, moment: StillMoment, frame: Frame, box: Box | None, hit_event: HitEvent, zone: Zone
    ) -> tuple[Still, list[PackageFile]]:
        """Still number ``n``: its manifest entry and its two files (raw and annotated JPEG)."""
        q = self.jpeg_quality
        raw_name = f"still-{n}-{moment}.jpg"
        ann_name = f"still-{n}-{moment}.annotated.jpg"
        note = self.note(moment, frame, box, hit_event, zone)
        files = [
            PackageFile(raw_name, "still_raw", "image/jpeg", encode_jpeg(frame.image, q)),
            PackageFile(
                ann_name,
                "still_annotated",
                "image/jpeg",
                encode_jpeg(annotate(frame.image, note, self.font), q),
            ),
        ]
        still = Still(
            moment=moment,
            frame_utc=utc_ms(frame.utc),
            frame_index=frame.index,
            raw=raw_name,
            annotated=ann_name,
            box=box,
        )
        return still, files

    def crop(self, image: Image8, box: Box) -> tuple[Image8, PackageFile]:
        """The object cut out of ``image`` (for OCR) and as ``crop.jpg``."""
        crop = crop_box(image, box)
        return crop, PackageFile("crop.jpg", "crop", "image/jpeg", encode_jpeg(crop, self.jpeg_quality))
