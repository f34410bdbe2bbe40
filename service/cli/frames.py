"""``nce frames import --db URL --evidence-dir DIR --camera-id ID PATH…``: recorded footage into the
frame pool (cold start: label a city's cameras before their first hit).

Each PATH is a JPEG or PNG image (by its bytes) or a video file (by its suffix: .mp4, .avi, …),
sampled every ``--every`` seconds (:mod:`service.cli.video_frames`, the only OpenCV user). Each
frame is one transaction (:func:`service.crud.frames.add_frame`: the evidence store, the pool and
a ledger entry ``frame_added``); an image already in the pool is counted, not added again. A file
that cannot be read is one line on stderr; the others are still imported, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.cli.evidence_gc import add_store_options, store_from
from service.errors import Invalid, ServiceError
from service.settings import default_db_url


def register(sub: Any) -> None:
    p = sub.add_parser("frames", help="the frame pool the detector learns from")
    inner = p.add_subparsers(dest="frames_command", metavar="ACTION")
    inner.required = True
    imp = inner.add_parser(
        "import", help="add images, or a video sampled every N seconds, to the frame pool (source import)"
    )
    imp.add_argument("--db", default=None, help="database URL (default: the service's SQLite file)")
    add_store_options(imp)
    imp.add_argument(
        "--camera-id", required=True, help="the camera the footage is from (as in the site config)"
    )
    imp.add_argument("--every", type=float, default=5.0, help="seconds between frames taken from a video")
    imp.add_argument(
        "--taken-at",
        default=None,
        help="when the footage was recorded (ISO time with offset, or a date; default: now); a video's "
        "frames add their offset. Train and val are split by camera and day of this time",
    )
    imp.add_argument("paths", nargs="+", metavar="PATH", help="JPEG/PNG images or video files")
    imp.set_defaults(func=_import)


@dataclass
class _Counts:
    added: int = 0
    present: int = 0
    files: int = 0
    videos: int = 0
    failed: int = 0


def parse_when(text: str, option: str) -> dt.datetime:
    """A time with an offset, or a date (its midnight UTC)."""
    try:
        if len(text) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=dt.UTC)
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Invalid(f"{option} {text!r}: expected a date (2026-11-26) or a time with an offset") from exc
    if t.tzinfo is None:
        raise Invalid(f"{option} {text!r}: a time needs its UTC offset (e.g. 2026-11-26T08:00:00+08:00)")
    return t.astimezone(dt.UTC)


def _import(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from service.accounts import cli_actor
    from service.crud.frames import add_frame
    from service.db import make_engine, make_sessionmaker
    from service.migrate import upgrade
    from service.schemas.frames import FrameCreate

    if not args.every > 0:
        raise Invalid(f"--every must be a positive number of seconds, got {args.every}")
    try:
        FrameCreate(camera_id=args.camera_id, source="import")
    except ValueError as exc:
        raise Invalid(
            f"--camera-id {args.camera_id!r}: expected 1-64 letters, digits, '.', '_' or '-'"
        ) from exc
    taken_at = parse_when(args.taken_at, "--taken-at") if args.taken_at else None
    paths = [Path(p) for p in args.paths]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise Invalid(f"no such file: {', '.join(missing)}")
    store = store_from(args.evidence_dir, args.evidence_url, create=True)
    engine = make_engine(args.db or default_db_url())
    counts = _Counts()
    actor = cli_actor()
    console = Console(stderr=True)
    try:
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
        ) as bar:
            for path in paths:
                task = bar.add_task(path.name[:40], total=None)
                try:
                    for frame_bytes, origin, offset, expected in _frames_of(path, args.every):
                        if expected:
                            bar.update(task, total=expected)
                        data = FrameCreate(
                            camera_id=args.camera_id,
                            source="import",
                            reason="cold_start",
                            origin=origin[:255],
                            taken_at=taken_at + dt.timedelta(seconds=offset) if taken_at else None,
                        )
                        with sessions() as session:
                            _frame, created = add_frame(
                                session, store=store, image=frame_bytes, data=data, actor=actor
                            )
                        counts.added += created
                        counts.present += not created
                        bar.advance(task)
                    counts.files += 1
                    counts.videos += _is_video(path)
                except ServiceError as exc:
                    counts.failed += 1
                    bar.stop_task(task)
                    console.print(f"nce frames: error: {exc}", markup=False, highlight=False, soft_wrap=True)
                bar.update(task, total=bar.tasks[task].completed)
    finally:
        engine.dispose()
    print(
        f"frames import: {counts.added} frames added, {counts.present} already in the pool, from "
        f"{counts.files} files ({counts.videos} videos) for camera {args.camera_id}"
        + (f"; {counts.failed} files failed" if counts.failed else "")
    )
    return 1 if counts.failed else 0


def _is_video(path: Path) -> bool:
    from service.cli.video_frames import is_video

    return is_video(path)


def _frames_of(path: Path, every_s: float) -> Iterator[tuple[bytes, str, float, int]]:
    """``(JPEG/PNG bytes, origin, seconds into the file, frames expected)`` of one PATH."""
    from service.image_header import JPEG_MAGIC, PNG_MAGIC

    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if head.startswith((JPEG_MAGIC, PNG_MAGIC)):
                yield head + fh.read(), path.name, 0.0, 1
                return
    except OSError as exc:
        raise Invalid(f"{path}: cannot read it: {exc.strerror}") from exc
    if not _is_video(path):
        raise Invalid(f"{path}: not a JPEG or PNG image (by its bytes) nor a video file (.mp4, .avi, …)")
    from service.cli.video_frames import sample_video

    for t, jpeg, expected in sample_video(path, every_s):
        yield jpeg, f"{path.name}@{t:.1f}s", t, expected
