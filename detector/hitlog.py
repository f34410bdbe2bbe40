"""The hits file: an :class:`~detector.events.EventSink` that appends ``DIR/hits.jsonl``.

One line per hit event, ``HitEvent.model_dump_json()``, written and flushed as it comes (a crash
loses at most the line being written); the file is fsynced at close.
"""

from __future__ import annotations

import os
from pathlib import Path

from detector.detections import Detections
from detector.errors import DetectorError
from detector.events import EventSink, Frame, HitEvent, RingSnapshot

HITS_FILE = "hits.jsonl"


class HitLog(EventSink):
    """Appends hit events to ``out_dir/hits.jsonl``."""

    def __init__(self, out_dir: str | Path) -> None:
        self.path = Path(out_dir) / HITS_FILE
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise DetectorError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        self.lines = 0

    def on_event(self, event: HitEvent, frame: Frame, detections: Detections, ring: RingSnapshot) -> None:
        self._file.write(event.model_dump_json() + "\n")
        self._file.flush()
        self.lines += 1

    def on_sample(self, frame: Frame, ring: RingSnapshot) -> None:
        return None

    def close(self) -> None:
        if self._file.closed:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
