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
from detector.evidence.render import MOMENT_ZH, VIOLATION_ZH, Annotation, annotate, crop_box, encode_jpeg
from nce.manifest import Still, StillMoment, utc_ms

Image8 = npt.NDArray[np.uint8]
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class StillRenderer:
    """Renders stills and crops for one site: its camera names (camera id → name) and time zone, a
    CJK font file and the JPEG quality."""

    camera_names: Mapping[str, str]
    tz: dt.tzinfo
    font: str
    jpeg_quality: int

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
        violation = VIOLATION_ZH.get(str(hit_event.violation), str(hit_event.violation))
        note = Annotation(
            camera=f"{self.camera_names.get(frame.camera_id, frame.camera_id)} ({frame.camera_id})",
            time_text=self.time_text(frame.utc),
            caption=f"{violation} · {MOMENT_ZH[moment]}",
            polygon01=zone.polygon,
            box=box,
            label=f"{violation} {hit_event.label} {hit_event.score:.2f}" if box is not None else None,
        )
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
